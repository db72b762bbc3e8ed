"""Many recordings sorted on Dask (``spikeapp sort A B --scheduler`` / a LocalCluster): the
same spike trains as one recording at a time here, a broken recording reported while the
others finish, a worker that dies mid-training survived, and a SLURM job that asks for what
the sort needs."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

from spikeapp.cli import main

distributed = pytest.importorskip("distributed")

QUICK = ["--epochs", "10", "--samples-per-epoch", "256", "--threads", "1", "-q"]


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    """Two short demo recordings, each with its seed labels and truth beside it."""
    folder = tmp_path_factory.mktemp("many")
    for seed in (1, 2):
        assert main(["demo", "--out", str(folder / f"day{seed}.nwb"), "--seed", str(seed),
                     "--duration", "8"]) == 0
    return folder


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes of one thread, as `dask worker --nthreads 1` would start."""
    import logging

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0",
                                  silence_logs=logging.ERROR) as local:
        yield local


def rows(path: Path) -> list[dict]:
    """The spike trains, without the wall-clock time of each labelling."""
    with open(path) as handle:
        return [{k: v for k, v in r.items() if k != "labelled_at"} for r in csv.DictReader(handle)]


def sort(*args) -> int:
    return main(["sort", *map(str, args), *QUICK])


@pytest.mark.slow
def test_many_recordings_on_dask_give_what_one_at_a_time_here_gives(recordings, cluster,
                                                                    tmp_path, capsys):
    out = tmp_path / "batch"
    code = sort(recordings / "day*.nwb", "--labels", recordings / "{name}.seeds.csv",
                "--truth", recordings / "{name}.truth.csv", "--out", out,
                "--scheduler", cluster.scheduler_address)
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "== day1" in printed and "== day2" in printed and "accuracy against the truth" in printed
    with open(out / "summary.csv") as handle:
        summary = {r["recording"]: r for r in csv.DictReader(handle)}
    assert {name: r["status"] for name, r in summary.items()} == {"day1": "sorted",
                                                                   "day2": "sorted"}
    for name in ("day1", "day2"):
        here = tmp_path / f"here-{name}"
        assert sort(recordings / f"{name}.nwb", "--labels", recordings / f"{name}.seeds.csv",
                    "--out", here, "--workers", "1") == 0
        assert rows(out / name / "spiketrains.csv") == rows(here / "spiketrains.csv"), name
        assert sorted(p.name for p in (out / name).iterdir()) == sorted(
            p.name for p in here.iterdir())
        assert int(summary[name]["spikes"]) == len(rows(here / "spiketrains.csv"))


@pytest.mark.slow
def test_a_broken_recording_is_reported_and_the_others_finish(recordings, cluster, tmp_path,
                                                              capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("day1", "broken"):
        (folder / f"{name}.seeds.csv").write_bytes((recordings / "day1.seeds.csv").read_bytes())
    (folder / "day1.nwb").symlink_to(recordings / "day1.nwb")
    (folder / "broken.nwb").write_bytes(b"not an NWB file at all")
    out = tmp_path / "batch"
    code = sort(folder / "*.nwb", "--labels", folder / "{name}.seeds.csv", "--out", out,
                "--scheduler", cluster.scheduler_address)
    captured = capsys.readouterr()
    assert code == 2, captured     # a user error: the file, not spikeapp
    with open(out / "summary.csv") as handle:
        summary = {r["recording"]: r for r in csv.DictReader(handle)}
    assert summary["day1"]["status"] == "sorted"
    assert summary["broken"]["status"] == "failed"
    assert "broken.nwb" in summary["broken"]["error"]
    assert "broken.nwb" in captured.err and "Traceback" not in captured.err
    assert (out / "day1" / "spiketrains.csv").is_file()
    assert not (out / "broken").exists()   # nothing half-written in its place
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


@pytest.mark.slow
def test_many_recordings_sorted_with_an_earlier_sessions_networks(recordings, cluster, tmp_path,
                                                                  capsys):
    earlier = tmp_path / "earlier"
    assert sort(recordings / "day1.nwb", "--labels", recordings / "day1.seeds.csv", "--out",
                earlier, "--workers", "1") == 0
    capsys.readouterr()
    out = tmp_path / "later"
    code = main(["sort", str(recordings / "day*.nwb"), "--networks", str(earlier), "--out",
                 str(out), "--scheduler", cluster.scheduler_address])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "day2: " in printed and "spikes detected; sorted by the earlier networks" in printed
    for name in ("day1", "day2"):
        assert (out / name / "drift.csv").is_file() and (out / name / "spiketrains.csv").is_file()
        assert sorted(p.name for p in (out / name).glob("network_channel*.pt")) == sorted(
            p.name for p in earlier.glob("network_channel*.pt"))
        assert len(rows(out / name / "spiketrains.csv")) > 100


class DieOnce(distributed.WorkerPlugin):
    """Kills the worker process the first time a training starts on it, as the out-of-memory
    killer would (once: a marker file remembers)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def transition(self, key, start, finish, **kwargs) -> None:
        if str(key).startswith("train-") and finish == "executing" and \
                not os.path.exists(self.marker):
            Path(self.marker).touch()
            os._exit(1)


@pytest.mark.slow
def test_a_worker_that_dies_mid_training_is_replaced_and_the_sort_finishes(recordings,
                                                                           tmp_path, capsys):
    import logging

    marker = tmp_path / "died"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0", silence_logs=logging.CRITICAL) as local, \
            distributed.Client(local) as client:
        client.register_plugin(DieOnce(str(marker)))
        code = sort(recordings / "day1.nwb", "--labels", recordings / "day1.seeds.csv",
                    "--out", tmp_path / "dask", "--scheduler", local.scheduler_address)
    assert code == 0, capsys.readouterr()
    assert marker.exists()      # a worker did die
    assert sort(recordings / "day1.nwb", "--labels", recordings / "day1.seeds.csv",
                "--out", tmp_path / "here", "--workers", "1") == 0
    assert rows(tmp_path / "dask" / "spiketrains.csv") == rows(tmp_path / "here" /
                                                               "spiketrains.csv")


def test_several_recordings_need_a_labels_file_each(recordings, tmp_path, capsys):
    code = main(["sort", str(recordings / "day1.nwb"), str(recordings / "day2.nwb"),
                 "--labels", str(recordings / "day1.seeds.csv"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "{name}" in err and "each recording needs its own file" in err
    code = main(["sort", str(recordings / "nothing*.nwb"), "--labels", "x", "--out",
                 str(tmp_path / "o")])
    assert code == 2 and "nothing*.nwb: no recording matches" in capsys.readouterr().err
    code = main(["sort", str(recordings / "day1.nwb"), "--labels", "x.csv", "--out",
                 str(tmp_path / "o"), "--cluster", "slurm", "--cluster-option", "queue"])
    assert code == 2 and "KEY=VALUE" in capsys.readouterr().err


def test_recording_names_are_unique_folders():
    from spikeapp.workflow.batch import recording_names

    assert recording_names(["a/x.nwb", "b/x.nwb", "c/y.nix", "d/folder"]) == [
        "a_x", "b_x", "y", "folder"]


def test_a_slurm_job_asks_for_the_cores_and_settings_given():
    pytest.importorskip("dask_jobqueue")
    from spikeapp.workflow.batch import slurm_cluster

    cluster = slurm_cluster(4, {"queue": "short", "walltime": "02:00:00", "account": "lab"})
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    assert "#SBATCH -p short" in script and "#SBATCH -A lab" in script
    assert "#SBATCH --cpus-per-task=4" in script and "#SBATCH -t 02:00:00" in script
    assert "--nthreads 1" in script   # one training at a time, on the job's four cores


@pytest.fixture
def slurm_here(tmp_path, monkeypatch):
    """Stand-ins for SLURM's sbatch and scancel on PATH: sbatch runs the job script dask-jobqueue
    wrote, here, in a session of its own, and answers as SLURM does; scancel ends that session.
    Everything else (the job script, the worker it starts, its way back to the scheduler) is
    dask-jobqueue's and distributed's own."""
    bin_dir = tmp_path / "slurm-bin"
    bin_dir.mkdir()
    jobs = tmp_path / "slurm-jobs"
    jobs.mkdir()
    (bin_dir / "sbatch").write_text(
        "#!/bin/sh\n"
        f'cp "$1" "{jobs}/$(basename "$1")"\n'
        # the copy: dask-jobqueue deletes its file once sbatch returns, as SLURM allows
        f'setsid sh "{jobs}/$(basename "$1")" > "{jobs}/$(basename "$1").log" 2>&1 '
        '< /dev/null &\n'
        'echo "Submitted batch job $!"\n')
    (bin_dir / "scancel").write_text(
        "#!/bin/sh\nfor job in \"$@\"; do kill -TERM -- \"-$job\" 2>/dev/null; done\nexit 0\n")
    for tool in ("sbatch", "scancel"):
        (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return jobs


@pytest.mark.slow
def test_many_recordings_on_slurm_jobs_give_what_one_at_a_time_here_gives(recordings, tmp_path,
                                                                          capsys, slurm_here):
    """`--cluster slurm`: dask-jobqueue submits two jobs (here run by a stand-in sbatch), their
    workers sort both recordings, and the spike trains are those of a sort here."""
    pytest.importorskip("dask_jobqueue")
    out = tmp_path / "slurm"
    code = sort(recordings / "day*.nwb", "--labels", recordings / "{name}.seeds.csv",
                "--out", out, "--cluster", "slurm", "--workers", "2",
                "--cluster-option", "walltime=00:10:00")
    printed = capsys.readouterr()
    scripts = sorted(p for p in slurm_here.iterdir() if p.suffix != ".log")
    logs = "\n".join(p.read_text() for p in slurm_here.glob("*.log"))
    assert code == 0, (printed, logs)
    assert len(scripts) == 2, scripts          # two jobs, one worker each
    assert "#SBATCH -t 00:10:00" in scripts[0].read_text()
    for name in ("day1", "day2"):
        here = tmp_path / f"here-{name}"
        assert sort(recordings / f"{name}.nwb", "--labels", recordings / f"{name}.seeds.csv",
                    "--out", here, "--workers", "1") == 0
        assert rows(out / name / "spiketrains.csv") == rows(here / "spiketrains.csv"), name
