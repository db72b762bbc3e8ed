"""Networks of an earlier session sort a later recording of the same electrodes, with the drift
of each unit reported; nothing is labelled again."""

from __future__ import annotations

import numpy as np
import pytest

from spikeapp.detection import detect
from spikeapp.errors import SpikeappError
from spikeapp.io.base import ArrayRecording
from spikeapp.io.demo import make_demo
from spikeapp.io.seeds import Seeds
from spikeapp.session import Session
from spikeapp.tasks import run_job
from spikeapp.workflow.sorting import accuracy_against_truth, trainable_groups
from spikeapp.workflow.workspace import Workspace

FAST = {"epochs": 12, "samples_per_epoch": 512, "pseudo_labels": 0, "threads": 1}


def sorted_demo(seed: int, duration_s: float = 20) -> Session:
    """A demo recording sorted from 20 true labels per unit, its networks kept (quick
    training): the earlier session whose networks are carried."""
    demo = make_demo(seed=seed, duration_s=duration_s)
    ws = Workspace(journal=False)
    ws.set_session(Session(run_job(detect(demo.recording()))), name=f"day {seed}")
    rng = np.random.default_rng(0)
    rows = np.concatenate([rng.choice(np.flatnonzero(demo.truth_units == u), 20, replace=False)
                           for u in np.unique(demo.truth_units) if u != "mua"])
    ws.apply_seeds(Seeds(demo.truth_times_s[rows], demo.truth_channels[rows],
                         demo.truth_units[rows]))
    ws.set_params("training", **FAST)
    for group in trainable_groups(ws.session):
        ws.apply(run_job(ws.training_job(group).run()))
    return ws.session


@pytest.fixture(scope="module")
def earlier():
    return sorted_demo(seed=0)


def later_workspace(data: np.ndarray, fs: float) -> Workspace:
    ws = Workspace(journal=False)
    ws.set_session(Session(run_job(detect(ArrayRecording(data, fs)))), name="day 2")
    return ws


def test_a_later_recording_is_sorted_by_the_earlier_networks_under_the_same_units(earlier):
    later = make_demo(seed=1, duration_s=20)       # the same neurons, another day
    ws = later_workspace(later.data, later.sampling_rate)
    carried = run_job(ws.carry_job(earlier, "day 1")())
    ws.apply_carried(carried)
    session = ws.session
    assert {u.name for u in session.units.values()} == {u.name for u in earlier.units.values()}
    assert set(session.networks) == set(earlier.networks)
    scores = accuracy_against_truth(session, later.truth_times_s, later.truth_channels,
                                    later.truth_units)
    sorted_units = {name: s for name, s in scores.items() if name != "mua"}
    assert np.mean([s.accuracy for s in sorted_units.values()]) > 0.85
    for drift in carried.drift:                      # nothing moved
        assert abs(drift.shift_pct) < 10 and not drift.moved, drift
    assert set(ws.outputs) == set(earlier.networks)  # the queue (L) works at once
    ws.undo()                                        # one step
    assert not ws.session.units and (ws.session.assignment == -1).all()


def test_a_unit_that_grew_is_reported_as_moved(earlier):
    later = make_demo(seed=2, duration_s=20)
    ws = later_workspace(later.data * 1.5, later.sampling_rate)
    carried = run_job(ws.carry_job(earlier, "day 1")())
    shifts = [d.shift_pct for d in carried.drift if d.spikes_now > 20]
    assert shifts and all(30 < s < 70 for s in shifts), shifts
    assert all(d.moved for d in carried.drift if d.spikes_now > 20)
    assert any("MOVED" in line for line in carried.report())


def test_networks_need_a_fresh_recording_and_matching_channels(earlier):
    later = make_demo(seed=1, duration_s=5)
    ws = later_workspace(later.data[:, :1], later.sampling_rate)   # only the first wire
    carried = run_job(ws.carry_job(earlier, "day 1")())
    assert any("no group with its channels" in line for line in carried.skipped)
    ws.apply_carried(carried)
    with pytest.raises(SpikeappError, match="no units yet"):
        ws.apply_carried(carried)
    empty = Session(earlier.detection)
    with pytest.raises(SpikeappError, match="no trained networks"):
        ws.carry_job(empty, "nothing")
