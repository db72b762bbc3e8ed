"""The command line as a user runs it: info, demo, detect, and clear errors on bad input."""

from __future__ import annotations

import csv
import shutil

import numpy as np
import pytest

from spikeapp.cli import main


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_demo_then_info_then_detect(tmp_path, capsys):
    nwb = tmp_path / "demo.nwb"
    code, out, _ = run(capsys, "demo", "--out", nwb, "--duration", "10")
    assert code == 0 and nwb.exists()
    truth = list(csv.DictReader(open(tmp_path / "demo.truth.csv")))
    seeds = list(csv.DictReader(open(tmp_path / "demo.seeds.csv")))
    assert set(truth[0]) == {"time_s", "channel", "unit"}
    per_unit = {u: sum(r["unit"] == u for r in seeds) for u in {r["unit"] for r in seeds}}
    assert min(per_unit.values()) == 20 and len(per_unit) == 6  # not the unit below threshold

    code, out, _ = run(capsys, "info", nwb)
    assert code == 0
    assert "NWB" in out and "24000" in out and "wire0" in out

    npz = tmp_path / "spikes.npz"
    code, out, _ = run(capsys, "detect", nwb, "--out", npz, "--quiet", "--threshold", "5",
                       "--channels", "1")
    assert code == 0
    with np.load(npz) as data:
        for key in ("times_s", "samples", "channels", "waveforms", "features", "params"):
            assert key in data
        assert set(data["channels"].tolist()) == {1}
        assert data["waveforms"].shape[1:] == (1, 64)
        assert '"threshold": 5.0' in str(data["params"])


def test_demo_as_nix(tmp_path, capsys):
    code, _, _ = run(capsys, "demo", "--out", tmp_path / "d.nix", "--duration", "2")
    assert code == 0
    code, out, _ = run(capsys, "info", tmp_path / "d.nix")
    assert code == 0 and "NIX" in out


def test_info_on_real_files(shared_data, capsys):
    code, out, _ = run(capsys, "info", shared_data / "neo_ephy_testing_data/plexon/File_plexon_1.plx")
    # All its spikes are in unit 0, which Plexon keeps for spikes left unsorted (as import
    # reads them); info said "Sorted units in the file: 4".
    assert code == 0 and "Plexon" in out and "Sorted units in the file: none" in out
    assert "unsorted spikes (unit 0)" in out
    code, out, _ = run(capsys, "info", shared_data / "human_microwire_neuralynx_nwbpipeline")
    assert code == 0 and "Neuralynx" in out and "GA1-RAH1" in out and "32000" in out


def test_detect_tetrode_group(shared_data, tmp_path, capsys):
    code, out, _ = run(capsys, "detect", shared_data / "tridesclous_locust/locust_trial_01.raw",
                       "--dtype", "int16", "--n-channels", "4", "--sampling-rate", "15000",
                       "--group", "0-3", "--out", tmp_path / "l.npz", "-q")
    assert code == 0
    with np.load(tmp_path / "l.npz") as data:
        assert data["waveforms"].shape[1] == 4
        assert set(data["channels"].tolist()) == {0}


def _bad_inputs(tmp_path):
    nan_file = tmp_path / "nan.f32"
    values = np.ones((30_000, 2), dtype=np.float32)
    values[20_000, 1] = np.nan
    values.tofile(nan_file)
    odd = tmp_path / "odd.raw"
    odd.write_bytes(b"\0" * 1001)
    empty = tmp_path / "empty.ncs"
    empty.write_bytes(b"")
    garbage = tmp_path / "garbage.plx"
    garbage.write_bytes(b"not a plexon file" * 100)
    text_nwb = tmp_path / "notes.nwb"
    text_nwb.write_text("hello")
    return [
        ([tmp_path / "missing.ncs"], "no such file"),
        ([tmp_path / "notes.xyz"], "no such file"),
        ([empty], "empty"),
        ([garbage], "Plexon"),
        ([text_nwb], "not a readable NWB file"),
        ([odd, "--dtype", "int16", "--n-channels", "4", "--sampling-rate", "1000"],
         "whole number"),
        ([odd], "raw binary"),
        ([odd, "--format", "binary", "--dtype", "int16"], "--sampling-rate"),
        ([nan_file, "--format", "binary", "--dtype", "float32", "--n-channels", "2",
          "--sampling-rate", "30000"], "NaN"),
        ([odd, "--format", "Blorp"], "unknown format"),
    ]


def test_bad_input_gives_one_clear_line_and_exit_code_2(tmp_path, capsys):
    (tmp_path / "notes.xyz")  # never created: a missing path with an unknown extension
    for argv, words in _bad_inputs(tmp_path):
        code, out, err = run(capsys, "detect", *argv, "--out", tmp_path / "o.npz", "-q")
        assert code == 2, (argv, err)
        assert "Traceback" not in err
        assert words in err, (argv, err)
        assert str(argv[0]) in err


def test_truncated_real_file_is_reported(shared_data, tmp_path, capsys):
    source = shared_data / "neo_ephy_testing_data/spike2/File_spike2_3.smr"
    truncated = tmp_path / "cut.smr"
    truncated.write_bytes(source.read_bytes()[:5000])
    code, _, err = run(capsys, "detect", truncated, "--out", tmp_path / "o.npz", "-q")
    assert code == 2 and "cut.smr" in err and "Traceback" not in err
    folder = tmp_path / "nlx"
    shutil.copytree(shared_data / "human_microwire_neuralynx_nwbpipeline", folder)
    ncs = folder / "GA1-RAH1.ncs"
    ncs.write_bytes(ncs.read_bytes()[:20_000 + 3])
    code, _, err = run(capsys, "info", folder)
    assert "Traceback" not in err
    assert code in (0, 2)  # neo may read the whole records it has; never a crash


def test_bad_parameters(tmp_path, capsys):
    code, _, err = run(capsys, "demo", "--out", tmp_path / "d.nwb", "--duration", "1")
    assert code == 0
    code, _, err = run(capsys, "detect", tmp_path / "d.nwb", "--out", tmp_path / "o.npz",
                       "--threshold", "-3")
    assert code == 2 and "threshold" in err
    code, _, err = run(capsys, "detect", tmp_path / "d.nwb", "--out", tmp_path / "o.npz",
                       "--channels", "0,7")
    assert code == 2 and "channel 7" in err
    code, _, err = run(capsys, "detect", tmp_path / "d.nwb", "--out", tmp_path / "no/o.npz")
    assert code == 2 and "does not exist" in err


@pytest.mark.parametrize("argv", [["--help"], ["detect", "--help"], ["info", "--help"]])
def test_help(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 0
    assert "usage" in capsys.readouterr().out


def test_export_and_report_a_saved_session(sorted_session, tmp_path, capsys):
    from spikeapp.session.storage import save_session

    path = tmp_path / "sorted.spikeapp"
    save_session(sorted_session, path)
    for fmt, out in (("csv", "t.csv"), ("nix", "t.nix"), ("phy", "phy"), ("mat", "mat")):
        code, printed, _ = run(capsys, "export", path, "--format", fmt, "--out", tmp_path / out)
        assert code == 0 and str(tmp_path / out) in printed
    code, printed, _ = run(capsys, "export", path, "--format", "nwb", "--out", tmp_path / "t.nwb")
    assert code == 0 and "species and age not given" in printed
    code, printed, _ = run(capsys, "export", path, "--format", "nwb", "--out", tmp_path / "u.nwb",
                           "--species", "Mus musculus", "--age", "P90D")
    assert code == 0 and "not given" not in printed
    code, printed, _ = run(capsys, "report", path, "--out", tmp_path / "r.html")
    assert code == 0 and (tmp_path / "r.html").stat().st_size > 10_000
    page = (tmp_path / "r.html").read_text()
    assert "<th>isolation distance</th>" in page and "<th>most similar</th>" in page
    header, first = page.split("<tr>")[1:3]
    assert header.count("<th>") == first.count("<td")   # a cell for every column


def test_export_errors_are_one_line(tmp_path, capsys):
    code, _, err = run(capsys, "export", tmp_path / "missing.spikeapp", "--format", "csv",
                       "--out", tmp_path / "x.csv")
    assert code == 2 and "missing.spikeapp" in err and "Traceback" not in err


def test_import_a_sorting_as_a_session(shared_data, tmp_path, capsys):
    from spikeapp.session.storage import load_session

    out = tmp_path / "imported.spikeapp"
    code, printed, _ = run(capsys, "import", shared_data / "neo_ephy_testing_data/spike2/"
                           "File_spike2_2.smr", "--out", out)
    assert code == 0 and "4 unit(s), 637 spike(s) labelled" in printed
    assert len(load_session(out).units) == 4
    code, _, err = run(capsys, "import", shared_data / "plexon_sigtool_samples/explore1.plx",
                       "--out", tmp_path / "x.spikeapp")
    assert code == 2 and "no waveforms" in err and not (tmp_path / "x.spikeapp").exists()


def test_progress_in_a_log_file_is_a_few_lines_not_a_redrawn_bar(capsys):
    from spikeapp.tasks import Progress, run_with_progress_bar

    def job():
        for k in range(5000):
            yield Progress(k, 5000, "chunk")
        return "done"

    assert run_with_progress_bar(job(), "detect") == "done"
    lines = capsys.readouterr().err.strip().splitlines()
    assert 2 <= len(lines) <= 12, lines[:20]
    assert lines[-1] == "detect: done"


def test_one_sweep_of_many_is_said(shared_data, tmp_path, capsys):
    abf = shared_data / "axon_ndr_example/example.abf"
    code, _, err = run(capsys, "detect", abf, "--out", tmp_path / "o.npz", "-q", "--segment", "3")
    assert code == 0 and "segment 3 of 28" in err and "--segment" in err


def test_sort_a_later_session_with_the_earlier_networks(tmp_path, capsys):
    for seed in (0, 1):
        code, _, _ = run(capsys, "demo", "--out", tmp_path / f"day{seed}.nwb", "--duration", "10",
                         "--seed", seed)
        assert code == 0
    code, _, _ = run(capsys, "sort", tmp_path / "day0.nwb", "--labels", tmp_path / "day0.seeds.csv",
                     "--out", tmp_path / "day0", "-q", "--epochs", "10", "--pseudo-labels", "0")
    assert code == 0
    code, out, _ = run(capsys, "sort", tmp_path / "day1.nwb", "--networks", tmp_path / "day0",
                       "--out", tmp_path / "day1", "-q")
    assert code == 0 and "drift since then" in out
    drift = list(csv.DictReader(open(tmp_path / "day1" / "drift.csv")))
    assert {row["unit"] for row in drift} >= {"A", "B", "C"}
    assert all(abs(float(row["amplitude_shift_pct"])) < 15 for row in drift
               if int(row["spikes_now"]) > 20)
    assert (tmp_path / "day1" / "spiketrains.csv").exists()
    code, _, err = run(capsys, "sort", tmp_path / "day1.nwb", "--networks", tmp_path / "nowhere",
                       "--out", tmp_path / "x")
    assert code == 2 and "no session there" in err


def test_spikeapp_file_opens_the_file_in_the_window(tmp_path, monkeypatch):
    """`spikeapp FILE` failed (only `spikeapp gui FILE` opened it)."""
    from spikeapp import cli

    opened = []
    monkeypatch.setattr(cli, "cmd_gui",
                        lambda args: opened.append(getattr(args, "recording", None)) or 0)
    session = tmp_path / "day 1.spikeapp"
    session.write_bytes(b"")
    assert cli.main([str(session)]) == 0
    assert cli.main(["-v", str(tmp_path)]) == 0
    assert opened == [str(session), str(tmp_path)]
    assert cli.main(["--demo"]) == 0 and opened[-1] is None
