"""A corpus of broken inputs made from the real recordings and by hand: truncated and empty
files of every format, wrong extensions, NaN and inf samples, absurd parameters, odd paths,
corrupt and future-version sessions, malformed seed CSVs. Every case: a clear message naming
the file, exit code 2, no traceback, no file changed; in the window, a message and no crash."""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

from spikeapp.cli import main
from tests.session.test_selection_and_commands import small_session

# One file per format the app reads (relative to ../shared/data); folders are copied whole.
FORMAT_FILES = [
    "neo_ephy_testing_data/spike2/File_spike2_3.smr",
    "neo_ephy_testing_data/intan/intan_fps_test_231117_052500/info.rhd",
    "axon_ndr_example/example.abf",
    "neo_ephy_testing_data/blackrock/blackrock_2_1/l101210-001.ns2",
    "neo_ephy_testing_data/plexon/File_plexon_3.plx",
    "neo_ephy_testing_data/nwb/ecephys_tutorial_v2.5.0.nwb",
    "quiroga2004_cbp_5s/C_Easy1_noise015_5sec.mat",
    "human_microwire_neuralynx_nwbpipeline/GA1-RAH1.ncs",
]


def digest(path: Path) -> str:
    if path.is_dir():
        return "".join(digest(p) for p in sorted(path.iterdir()))
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "absent"


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_refused(capsys, path: Path, *extra, command: str = "detect", may_read: bool = False):
    """The CLI refuses ``path`` with one clear line (or, with ``may_read``, reads what is there:
    neo reads the whole records of a cut file); the file is unchanged."""
    before = digest(path)
    args = [command, path, *extra]
    if command == "detect":
        args += ["--out", path.parent / "out.npz", "-q"]
    code, _, err = run(capsys, *args)
    assert "Traceback" not in err, err
    assert "internal error" not in err, err
    if not (may_read and code == 0):
        assert code == 2, (path, err)
        assert path.name in err, err
        assert len(err.strip().splitlines()) <= 3, err
    assert digest(path) == before
    return code


@pytest.fixture(scope="module")
def corpus(shared_data, tmp_path_factory):
    """(path, extra arguments, may_read) for every broken input made from a real file."""
    folder = tmp_path_factory.mktemp("corpus")
    cases = []
    for relative in FORMAT_FILES:
        source = shared_data / relative
        data = source.read_bytes()
        name = source.name
        for label, content in (("empty", b""), ("head", data[:100]),
                               ("third", data[: len(data) // 3])):
            target = folder / label / name
            target.parent.mkdir(exist_ok=True)
            target.write_bytes(content)
            cases.append((target, [], label == "third"))
        # Another format's bytes under this extension.
        imposter = folder / "imposter" / name
        imposter.parent.mkdir(exist_ok=True)
        other = FORMAT_FILES[(FORMAT_FILES.index(relative) + 1) % len(FORMAT_FILES)]
        imposter.write_bytes((shared_data / other).read_bytes()[:200_000])
        cases.append((imposter, [], False))
    return cases


def test_truncated_empty_and_mislabelled_files_of_every_format(corpus, capsys):
    refused = 0
    for path, extra, may_read in corpus:
        code = assert_refused(capsys, path, *extra, may_read=may_read)
        refused += code == 2
    assert refused >= len(corpus) - len(FORMAT_FILES)  # only the cut-in-thirds may still read


def test_raw_binary_with_wrong_or_absurd_parameters(tmp_path, capsys):
    raw = tmp_path / "signal.raw"
    (np.random.default_rng(0).normal(size=(20_000, 4)) * 100).astype(np.int16).tofile(raw)
    base = ["--format", "binary", "--dtype", "int16"]
    for extra, words in (
            (["--n-channels", "3", "--sampling-rate", "30000"], "whole number"),
            (["--n-channels", "4", "--sampling-rate", "0"], "sampling_rate"),
            (["--n-channels", "4", "--sampling-rate", "nan"], "sampling"),
            (["--n-channels", "4"], "--sampling-rate"),
            (["--n-channels", "0", "--sampling-rate", "30000"], "n_channels"),
            (["--n-channels", "4", "--sampling-rate", "30000", "--header-bytes", "10000000"],
             "header"),
            (["--n-channels", "4", "--sampling-rate", "30000", "--channels", "7"], "channel"),
            (["--n-channels", "100000000", "--sampling-rate", "30000"], "")):
        code, _, err = run(capsys, "detect", raw, *base, *extra, "--out", tmp_path / "o.npz",
                           "-q")
        assert code == 2 and "Traceback" not in err, (extra, err)
        assert words.lower() in err.lower(), (extra, err)


def test_nan_and_inf_samples_are_named(tmp_path, capsys):
    for bad in (np.nan, np.inf, -np.inf):
        path = tmp_path / f"bad_{bad}.f32"
        values = np.zeros((40_000, 2), dtype=np.float32)
        values[30_000, 1] = bad
        values.tofile(path)
        code, _, err = run(capsys, "detect", path, "--format", "binary", "--dtype", "float32",
                           "--n-channels", "2", "--sampling-rate", "30000", "--out",
                           tmp_path / "o.npz", "-q")
        assert code == 2 and path.name in err and "Traceback" not in err
        assert ("NaN" in err or "inf" in err.lower()), err


def test_paths_with_spaces_and_non_ascii_characters_work(shared_data, tmp_path, capsys):
    folder = tmp_path / "données de l'été" / "réseau 1"
    folder.mkdir(parents=True)
    target = folder / "enregistrement à 15 kHz.raw"
    target.write_bytes((shared_data / "tridesclous_locust/locust_trial_01.raw").read_bytes())
    code, out, err = run(capsys, "detect", target, "--dtype", "int16", "--n-channels", "4",
                         "--sampling-rate", "15000", "--out", folder / "détections.npz", "-q")
    assert code == 0, err
    assert (folder / "détections.npz").exists()
    code, _, err = run(capsys, "info", folder / "absent ü.raw")
    assert code == 2 and "absent ü.raw" in err


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root reads files whatever their permissions")
def test_unreadable_file(tmp_path, capsys):
    path = tmp_path / "locked.nwb"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    path.chmod(0)
    try:
        code, _, err = run(capsys, "info", path)
        assert code == 2 and "locked.nwb" in err and "Traceback" not in err
    finally:
        path.chmod(0o600)


def session_variants(tmp_path):
    from spikeapp.session.storage import session_bytes

    data = session_bytes(small_session())
    source = zipfile.ZipFile(io.BytesIO(data))

    def rewrite(name: str, content: bytes) -> bytes:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as zf:
            for member in source.namelist():
                zf.writestr(member, content if member == name else source.read(member))
        return out.getvalue()

    meta = json.loads(source.read("meta.json"))
    future = dict(meta, schema_version=99, spikeapp_version="9.0")
    variants = {
        "empty.spikeapp": (b"", "not a readable spikeapp session"),
        "cut.spikeapp": (data[: len(data) // 2], "not a readable spikeapp session"),
        "future.spikeapp": (rewrite("meta.json", json.dumps(future).encode()), "newer spikeapp"),
        "badjson.spikeapp": (rewrite("meta.json", b"{not json"), "not a readable"),
        "text.spikeapp": (b"hello, I am not a session", "not a readable"),
    }
    for name, (content, _) in variants.items():
        (tmp_path / name).write_bytes(content)
    return {tmp_path / name: words for name, (_, words) in variants.items()}


def test_corrupt_and_future_sessions_on_the_command_line(tmp_path, capsys):
    for path, words in session_variants(tmp_path).items():
        before = digest(path)
        code, _, err = run(capsys, "export", path, "--format", "csv", "--out", tmp_path / "x.csv")
        assert code == 2 and path.name in err and words in err and "Traceback" not in err
        assert digest(path) == before
        assert not (tmp_path / "x.csv").exists()


def test_corrupt_and_future_sessions_in_the_window(window, tmp_path):
    for path, words in session_variants(tmp_path).items():
        window.last_error = ""
        window.files.open_session(str(path))
        assert path.name in window.last_error and words in window.last_error
        assert window.controller.session is None
        assert window.isVisible()


def test_broken_recordings_in_the_window(window, qtbot, corpus):
    for path, _, may_read in corpus:
        if may_read:
            continue
        window.last_error = ""
        window.files.open_recording_path(str(path))
        # Refused at once, or when detection fails on the worker thread.
        qtbot.waitUntil(lambda: bool(window.last_error) or not window.detector.running,
                        timeout=30_000)
        qtbot.waitUntil(lambda: bool(window.last_error), timeout=5_000)
        assert path.name in window.last_error
        assert window.isVisible()


@pytest.mark.parametrize("text,words", [
    ("", "empty"),
    ("time,chan,unit\n1,0,a\n", "time_s"),
    ("time_s,channel,unit\nabc,0,a\n", "line 2"),
    ("time_s,channel,unit\n1.0,zero,a\n", "line 2"),
    ("time_s,channel,unit\n1.0,0,\n", "line 2"),
    ("time_s,channel,unit\nnan,0,a\n", "line 2"),
    ("time_s,channel,unit\n1.0,0\n", "line 2"),
    ("\x00\x01\x02binary", ""),
])
def test_malformed_seed_csv(tmp_path, capsys, demo_detection, text, words):
    seeds = tmp_path / "seeds.csv"
    seeds.write_text(text, encoding="latin-1")
    recording = tmp_path / "demo.nwb"
    if not recording.exists():
        assert run(capsys, "demo", "--out", recording, "--duration", "2")[0] == 0
    code, _, err = run(capsys, "sort", recording, "--labels", seeds, "--out", tmp_path / "o")
    assert code == 2 and "seeds.csv" in err and "Traceback" not in err, err
    assert words in err, err
