"""`spikeapp benchmark` on the Quiroga Difficult2 sets and `spikeapp sort` on the demo."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from spikeapp.cli import main
from spikeapp.session.storage import load_session
from spikeapp.workflow.sorting import accuracy_against_truth


def test_benchmark_records_and_cnn_at_least_lda(shared_data, tmp_path, capsys):
    files = sorted((shared_data / "quiroga2004_difficult2_spikes_keshtkaran").glob("*.mat"))
    out = tmp_path / "bench.json"
    code = main(["benchmark", "--waveforms", *map(str, files), "--labels-per-unit", "20",
                 "--repeats", "1", "--classifiers", "cnn,lda", "--json", str(out), "-q"])
    assert code == 0
    table = capsys.readouterr().out
    assert "accuracy" in table and "cnn" in table and "below lda" in table
    records = json.loads(out.read_text())
    assert {tuple(sorted(r)) for r in records} == {
        ("accuracy", "classifier", "file", "labels_per_unit", "repeat", "train_seconds")}
    for file in {r["file"] for r in records}:
        cnn = next(r for r in records if r["file"] == file and r["classifier"] == "cnn")
        lda = next(r for r in records if r["file"] == file and r["classifier"] == "lda")
        assert cnn["accuracy"] >= 0.99
        assert cnn["accuracy"] >= lda["accuracy"] - 0.002


def test_summary_counts_draws_below_the_baseline():
    from spikeapp.training.benchmark import BenchmarkRecord, summary_table

    records = [BenchmarkRecord("f.mat", name, 20, repeat, accuracy, 1.0)
               for repeat, (cnn, lda) in enumerate([(0.99, 0.98), (0.97, 0.98), (0.98, 0.98)])
               for name, accuracy in (("cnn", cnn), ("lda", lda))]
    rows = {line.split()[1]: line for line in summary_table(records).splitlines()[1:]}
    assert rows["cnn"].split()[-1] == "1/3"           # a tie is not below
    assert "/" not in rows["lda"]
    assert "below" not in summary_table([r for r in records if r.classifier == "cnn"])


def test_benchmark_rejects_bad_waveform_files(tmp_path, capsys):
    bad = tmp_path / "w.npz"
    np.savez(bad, waveforms=np.zeros((3, 64)))
    assert main(["benchmark", "--waveforms", str(bad), "-q"]) == 2
    assert "labels" in capsys.readouterr().err


def test_benchmark_says_lda_needs_two_labels_per_unit(tmp_path, capsys):
    rng = np.random.default_rng(0)
    waves = np.concatenate([rng.normal(0, 1, (20, 32)), rng.normal(3, 1, (20, 32))])
    data = tmp_path / "w.npz"
    np.savez(data, waveforms=waves, labels=np.repeat([1, 2], 20))
    assert main(["benchmark", "--waveforms", str(data), "--labels-per-unit", "1",
                 "--repeats", "1", "--classifiers", "lda", "-q"]) == 2
    assert "at least 2 per unit" in capsys.readouterr().err


@pytest.fixture(scope="module")
def sorted_demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sort")
    assert main(["demo", "--out", str(folder / "demo.nwb")]) == 0
    assert main(["sort", str(folder / "demo.nwb"), "--labels", str(folder / "demo.seeds.csv"),
                 "--out", str(folder / "out"), "-q", "--recover"]) == 0
    return folder


def test_sort_reaches_095_on_every_sortable_demo_unit(sorted_demo):
    session = load_session(sorted_demo / "out" / "session.spikeapp")
    with open(sorted_demo / "demo.truth.csv") as handle:
        rows = list(csv.DictReader(handle))
    times = np.array([float(r["time_s"]) for r in rows])
    channels = np.array([int(r["channel"]) for r in rows])
    units = np.array([r["unit"] for r in rows])
    with open(sorted_demo / "demo.seeds.csv") as handle:
        seeded = [r["unit"] for r in csv.DictReader(handle)]
    scores = accuracy_against_truth(session, times, channels, units)
    for name, score in scores.items():
        if name != "mua":  # the demo's unit below the detection threshold
            assert score.accuracy >= 0.95, (name, score)
            # The seed labels are left out of the score and counted apart.
            labelled = seeded.count(name)
            assert labelled > 0 and score.labelled == labelled
            assert score.tp + score.fn == (units == name).sum() - labelled


def test_accuracy_against_truth_leaves_labelled_spikes_out():
    from spikeapp.session import commands as cmd
    from spikeapp.session.state import Session
    from tests.session.test_selection_and_commands import small_session

    session: Session = small_session()
    times = session.detection.times_s
    history = cmd.History(session)
    history.do(cmd.label_new_unit(session, np.arange(0, 4), name="a"))
    # The network put 4..9 in "a"; 8 and 9 are really another unit's.
    history.do(cmd.apply_predictions(session, 0, np.arange(4, 10),
                                     np.full(6, session.unit_by_name(0, "a").id),
                                     np.ones(6, np.float32), b"net"))
    truth_times = times[np.r_[0:8, 10]]
    scores = accuracy_against_truth(session, truth_times, np.zeros(9, int), np.full(9, "a"))
    score = scores["a"]
    # Labelled 0-3 left out: tp 4-7, fp 8-9, fn the true spike at 10.
    assert (score.tp, score.fp, score.fn, score.labelled) == (4, 2, 1, 4)
    assert score.accuracy == pytest.approx(4 / 7)


def test_sort_outputs(sorted_demo):
    out = sorted_demo / "out"
    with open(out / "spiketrains.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["unit", "channel", "time_s", "confidence", "labelled_by",
                            "network_version", "labelled_at"]
    # --recover: the units' templates found spikes the threshold missed (the demo's overlaps).
    assert {r["labelled_by"] for r in rows} == {"human", "network", "template"}
    assert {r["unit"] for r in rows} == {"A", "B", "C", "D", "E", "F"}
    assert all(0 <= float(r["confidence"]) <= 1 for r in rows)
    assert (out / "network_channel0.pt").exists() and (out / "network_channel1.pt").exists()
    session = load_session(out / "session.spikeapp")
    assert set(session.networks) == {0, 1}


def test_sort_reports_unmatched_seeds_and_bad_csv(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "d.nwb"), "--duration", "5"]) == 0
    seeds = tmp_path / "s.csv"
    seeds.write_text("time_s,channel,unit\n1.0,0,x\nabc,0,y\n")
    code = main(["sort", str(tmp_path / "d.nwb"), "--labels", str(seeds), "--out",
                 str(tmp_path / "o"), "-q"])
    err = capsys.readouterr().err
    assert code == 2 and "line 3" in err and "s.csv" in err
    seeds.write_text("time_s,channel,unit\n0.0001,0,x\n0.0002,1,y\n")
    code = main(["sort", str(tmp_path / "d.nwb"), "--labels", str(seeds), "--out",
                 str(tmp_path / "o"), "-q"])
    captured = capsys.readouterr()
    assert code == 2 and "no spike within 1 ms" in captured.out


def test_sort_answers_the_queue_from_the_truth(sorted_demo, tmp_path, capsys):
    folder = sorted_demo
    code = main(["sort", str(folder / "demo.nwb"), "--labels", str(folder / "demo.seeds.csv"),
                 "--truth", str(folder / "demo.truth.csv"), "--active", "10", "--group", "0",
                 "--out", str(tmp_path / "active"), "-q", "--pseudo-labels", "0"])
    out = capsys.readouterr().out
    assert code == 0
    assert "channel 0: 10 queue answer(s): A " in out
    # The summary says per channel how it was trained (here: labels only).
    assert "channel 0: trained in " in out and "labels only (no self-training)" in out
    from spikeapp.session.storage import load_session

    session = load_session(tmp_path / "active" / "session.spikeapp")
    labels = int((session.source == 1).sum())
    assert labels == 60 + 10  # 20 seeds for each of A, B, C, then ten answers


def test_active_needs_a_truth(sorted_demo, tmp_path, capsys):
    code = main(["sort", str(sorted_demo / "demo.nwb"), "--labels",
                 str(sorted_demo / "demo.seeds.csv"), "--active", "5", "--out",
                 str(tmp_path / "x"), "-q"])
    assert code == 2 and "--truth" in capsys.readouterr().err
