"""Channel groups trained in worker processes: the same results as one after another, a failing
group reported by name while the others finish, a cancel that stops every worker, and never
more threads than cores."""

from __future__ import annotations

import csv
import multiprocessing
import time
from dataclasses import replace

import numpy as np
import pytest

from spikeapp.cli import main
from spikeapp.io.seeds import Seeds
from spikeapp.session import Session
from spikeapp.session.storage import load_session
from spikeapp.tasks import Cancelled, CancelToken, run_job
from spikeapp.workflow.parallel import WorkerPlan, available_cores, plan_workers, train_groups
from spikeapp.workflow.workspace import Workspace

QUICK = {"epochs": 10, "samples_per_epoch": 256}


@pytest.fixture(scope="module")
def workspace():
    """A short demo (two channels, each its own group) with 15 labels per unit."""
    from spikeapp.detection import detect
    from spikeapp.io.demo import make_demo

    demo = make_demo(seed=0, duration_s=6)
    session = Session(run_job(detect(demo.recording())), recording={})
    space = Workspace(journal=False)
    space.set_session(session)
    space.set_params("training", **QUICK)
    rng = np.random.default_rng(0)
    rows = np.concatenate([rng.choice(np.flatnonzero(demo.truth_units == u), 15, replace=False)
                           for u in np.unique(demo.truth_units) if u != "mua"])
    space.apply_seeds(Seeds(demo.truth_times_s[rows], demo.truth_channels[rows],
                            demo.truth_units[rows]))
    return space


def test_the_plan_never_takes_more_threads_than_cores():
    import itertools

    for cores, groups, workers, threads, reserve in itertools.product(
            [1, 2, 3, 8, 64], [1, 2, 5, 16], [0, 1, 3, 100], [0, 1, 2, 4], [0, 1]):
        plan = plan_workers(groups, workers, threads, reserve, cores=cores)
        usable = max(1, cores - reserve)
        case = (cores, groups, workers, threads, reserve, plan)
        assert 1 <= plan.workers <= max(1, min(groups, usable)), case
        if threads:
            assert plan.threads == threads, case   # kept: results depend on it
        if threads <= usable:
            assert plan.workers * plan.threads <= usable, case
        if not threads:
            assert plan.threads == usable // plan.workers, case   # every core used
    assert plan_workers(4, 4, 0, 0, cores=16) == WorkerPlan(4, 4)
    assert plan_workers(4, 0, 3, 1, cores=8) == WorkerPlan(2, 3)


def test_workers_share_several_gpus_in_turn(monkeypatch):
    """Worker k of a pool trains on GPU k mod their count; with one GPU or none, torch's
    default stands (nothing is set)."""
    import threadpoolctl
    import torch

    from spikeapp.training import device
    from spikeapp.workflow import parallel

    assert [device.gpu_of_slot(k, 3) for k in range(7)] == [0, 1, 2, 0, 1, 2, 0]
    assert device.gpu_of_slot(5, 1) is None and device.gpu_of_slot(0, 0) is None
    chosen: list[int] = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_device", chosen.append)
    monkeypatch.setattr(parallel, "_messages", None)
    monkeypatch.setattr(parallel, "_stop", None)
    # This process is not a worker: its thread caps stay as they are.
    monkeypatch.setattr(threadpoolctl, "threadpool_limits", lambda _threads: None)
    monkeypatch.setattr(device, "cap_threads", lambda _threads: None)
    context = multiprocessing.get_context("spawn")
    messages, slots = context.Queue(), context.Value("i", 0)
    for _ in range(3):   # three workers start (a replaced one takes the next slot)
        parallel._start_worker(messages, context.Event(), 1, slots)
    assert chosen == [0, 1, 0] and slots.value == 3
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    parallel._start_worker(messages, context.Event(), 1, slots)
    assert chosen == [0, 1, 0]   # one GPU: left as it is
    messages.close()


def test_the_default_is_all_cores_but_one():
    cores = available_cores()
    assert plan_workers(1000).workers == max(1, cores - 1)


def test_two_workers_sort_as_one_process_does(tmp_path, capsys):
    """The same spike trains and networks from --workers 2 as from --workers 1, at the same
    threads per group (the demo's two channels are two groups)."""
    assert main(["demo", "--out", str(tmp_path / "d.nwb"), "--duration", "6"]) == 0
    runs = {}
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        assert main(["sort", str(tmp_path / "d.nwb"), "--labels", str(tmp_path / "d.seeds.csv"),
                     "--out", str(out), "-q", "--workers", str(workers), "--threads", "1",
                     "--epochs", "10"]) == 0
        with open(out / "spiketrains.csv") as handle:
            rows = [{k: v for k, v in r.items() if k != "labelled_at"}   # a clock time
                    for r in csv.DictReader(handle)]
        runs[workers] = (rows, load_session(out / "session.spikeapp"),
                         [(out / f"network_channel{g}.pt").read_bytes() for g in (0, 1)])
    (rows1, session1, nets1), (rows2, session2, nets2) = runs[1], runs[2]
    # template: spikes the units' templates found (template matching is on by default)
    assert len(rows1) > 100 and {"human", "network"} <= {r["labelled_by"] for r in rows1} <= {
        "human", "network", "template"}
    assert rows1 == rows2
    assert np.array_equal(session1.assignment, session2.assignment)
    assert np.array_equal(session1.confidence, session2.confidence)
    assert nets1 == nets2
    assert session1.networks == session2.networks


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failing_group_is_named_and_the_other_finishes(workspace, workers):
    jobs = [workspace.training_job(group) for group in (0, 1)]
    jobs[1] = replace(jobs[1], training=dict(jobs[1].training, epochs=0))  # out of bounds
    result = run_job(train_groups(jobs, WorkerPlan(workers, 1)))
    assert [output.group for output in result.outputs] == [0]
    assert [failure.group for failure in result.failures] == [1]
    failure = result.failures[0]
    assert failure.message.startswith("channel 1: ") and "epochs" in failure.message
    assert failure.user_error
    output = result.outputs[0]
    assert len(output.assigned) == len(jobs[0].data.spikes)
    assert output.trained.history and output.trained.calibration is not None
    # The worker's torch ran on the plan's threads: workers x threads <= cores.
    assert result.worker_threads == {0: 1}
    workspace.apply(output)   # the rebuilt output applies like a serial one
    assert (workspace.session.source[output.spikes] != 0).all()
    workspace.undo()


def _die(marker: str) -> None:
    """Unpickled in a worker: kills it (as the out-of-memory killer would), once if ``marker``
    names a file to leave behind, every time if it is empty."""
    import os
    from pathlib import Path

    if not marker or not os.path.exists(marker):
        if marker:
            Path(marker).touch()
        os._exit(1)


class DieInTheWorker:
    def __init__(self, marker: str = "") -> None:
        self.marker = marker

    def __reduce__(self):
        return _die, (self.marker,)


def run_with_messages(work) -> tuple:
    messages = []
    try:
        while True:
            messages.append(next(work).message)
    except StopIteration as done:
        return done.value, messages


def test_a_worker_that_dies_is_replaced_and_its_group_trains_again(workspace, tmp_path):
    jobs = [workspace.training_job(group) for group in (0, 1)]
    serial = run_job(train_groups(jobs, WorkerPlan(1, 1)))
    marker = tmp_path / "died"
    data = replace(jobs[1].data)
    data.__dict__["fault"] = DieInTheWorker(str(marker))   # travels with group 1, kills once
    result, messages = run_with_messages(train_groups([jobs[0], replace(jobs[1], data=data)],
                                                      WorkerPlan(2, 1)))
    assert marker.exists()
    assert any("a worker process stopped" in m for m in messages), messages
    assert not result.failures and [o.group for o in result.outputs] == [0, 1]
    for a, b in zip(serial.outputs, result.outputs):
        assert np.array_equal(a.assigned, b.assigned) and a.network == b.network
    # A group whose worker dies every time: named as such; the other finishes.
    data.__dict__["fault"] = DieInTheWorker()
    result, _ = run_with_messages(train_groups([jobs[0], replace(jobs[1], data=data)],
                                               WorkerPlan(2, 1)))
    assert [f.group for f in result.failures] == [1]
    assert "stopped, 2 times" in result.failures[0].message
    assert [o.group for o in result.outputs] == [0]
    assert multiprocessing.active_children() == []


def test_pool_outputs_equal_serial_outputs(workspace):
    """Arrays, rebuilt networks and histories: the pool's outputs are the serial path's."""
    jobs = [workspace.training_job(group) for group in (0, 1)]
    serial = run_job(train_groups(jobs, WorkerPlan(1, 1)))
    pooled = run_job(train_groups(jobs, WorkerPlan(2, 1)))
    assert not serial.failures and not pooled.failures
    for a, b in zip(serial.outputs, pooled.outputs):
        assert a.group == b.group and a.network == b.network
        assert np.array_equal(a.assigned, b.assigned) and np.array_equal(a.spikes, b.spikes)
        assert np.array_equal(a.probabilities, b.probabilities)
        assert [list(c) for c in a.candidates] == [list(c) for c in b.candidates]
        assert a.trained.history == b.trained.history
        waves = jobs[0].data.waveforms[:50] if a.group == 0 else jobs[1].data.waveforms[:50]
        assert np.array_equal(a.trained.predict(waves).probabilities,
                              b.trained.predict(waves).probabilities)


def test_progress_names_the_groups_and_a_cancel_stops_every_worker(workspace):
    jobs = [workspace.training_job(group) for group in (0, 1)]
    jobs = [replace(job, training=dict(job.training, epochs=400)) for job in jobs]
    cancel = CancelToken()
    work = train_groups(jobs, WorkerPlan(2, 1), cancel)
    messages = []
    started = None
    with pytest.raises(Cancelled):
        for progress in work:
            messages.append(progress.message)
            if "channel 0: epoch" in progress.message and "channel 1: epoch" in progress.message:
                started = started or time.monotonic()
                cancel.cancel()
    assert started is not None, messages
    assert time.monotonic() - started < 10   # 400 epochs take minutes
    assert multiprocessing.active_children() == []


def test_workers_must_be_positive(tmp_path, capsys):
    code = main(["sort", str(tmp_path / "d.nwb"), "--labels", str(tmp_path / "d.seeds.csv"),
                 "--out", str(tmp_path / "o"), "-q", "--workers", "0"])
    assert code == 2 and "--workers 0" in capsys.readouterr().err


def test_no_groups_no_work():
    assert run_job(train_groups([], WorkerPlan(4, 1))).outputs == []


def test_a_training_snapshot_reads_its_waveforms_late_and_travels_with_its_group_only():
    """The snapshot copies the labels at once (later edits do not reach it) and reads the
    waveforms when the job first needs them, off the GUI thread; sent to a worker process it
    carries its own group's waveforms, not the whole detection's."""
    import pickle

    from spikeapp.session import commands as cmd
    from spikeapp.workflow.sorting import snapshot_training
    from tests.session.test_selection_and_commands import small_session

    session = small_session(4000)
    history = cmd.History(session)
    history.do(cmd.label_new_unit(session, np.arange(0, 10), name="a"))
    history.do(cmd.label_new_unit(session, np.arange(10, 20), name="b"))
    data = snapshot_training(session, 0)
    assert "waveforms" not in data.__dict__   # nothing read yet
    history.do(cmd.unlabel(session, np.arange(0, 5)))   # an edit after the snapshot
    assert data.human.sum() == 20
    group = session.spikes_of_group(0)
    assert np.array_equal(data.waveforms, session.detection.waveforms[group][:, :1])
    assert np.array_equal(data.labelled, session.detection.waveforms[np.arange(20)][:, :1])
    sent = pickle.loads(pickle.dumps(data))
    assert sent.source is None and np.array_equal(sent.waveforms, data.waveforms)
    assert len(pickle.dumps(data)) < session.detection.waveforms.nbytes * 0.75
