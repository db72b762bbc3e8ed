"""Detection of long recordings resumes after a cancel or a crash, and a finished one is reused:
the result is the same as one uninterrupted detection."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spikeapp.detection import detect
from spikeapp.errors import SpikeappError
from spikeapp.io import open_recording
from spikeapp.tasks import Cancelled, CancelToken

PARAMS = {"chunk_s": 1.0}


@pytest.fixture
def raw_demo(demo, tmp_path):
    path = tmp_path / "demo recording.f32"
    np.asarray(demo.data[: int(demo.sampling_rate * 20)], dtype=np.float32).tofile(path)
    return {"path": path, "format": "binary", "dtype": "float32",
            "n_channels": demo.data.shape[1], "sampling_rate": demo.sampling_rate}


def detect_file(options, journal=None, cancel=None, messages=None):
    options = dict(options)
    with open_recording(options.pop("path"), **options) as recording:
        job = detect(recording, PARAMS, cancel=cancel, journal_dir=journal)
        try:
            while True:
                progress = next(job)
                if messages is not None:
                    messages.append(progress.message)
                # Cancel half-way through the chunks (after noise estimation).
                if cancel is not None and sum(m.endswith(" spikes") for m in messages) == 9:
                    cancel.cancel()
        except StopIteration as done:
            return done.value


def same(a, b) -> None:
    np.testing.assert_array_equal(a.samples, b.samples)
    np.testing.assert_array_equal(a.channels, b.channels)
    np.testing.assert_array_equal(np.asarray(a.waveforms), np.asarray(b.waveforms))
    np.testing.assert_allclose(np.abs(a.features), np.abs(b.features), rtol=1e-4, atol=1e-3)


def test_cancelled_detection_resumes_and_equals_an_uninterrupted_one(raw_demo, tmp_path):
    whole = detect_file(raw_demo)
    journal = tmp_path / "journal"
    with pytest.raises(Cancelled):
        detect_file(raw_demo, journal, CancelToken(), [])
    state = json.loads((journal / "state.json").read_text())
    assert 0 < state["next_start"] < whole.n_samples and not state["complete"]
    messages = []
    resumed = detect_file(raw_demo, journal, messages=messages)
    assert any(m.startswith("resuming at") for m in messages)
    same(resumed, whole)
    assert isinstance(resumed.waveforms, np.memmap)  # kept on disk, in the journal


def test_a_crash_after_the_last_commit_is_cut_back(raw_demo, tmp_path):
    whole = detect_file(raw_demo)
    journal = tmp_path / "journal"
    with pytest.raises(Cancelled):
        detect_file(raw_demo, journal, CancelToken(), [])
    # A crash while appending: data beyond what the state counts.
    for name in ("samples", "groups", "waveforms"):
        with open(journal / f"{name}.bin", "ab") as handle:
            handle.write(b"\x07" * 1000)
    same(detect_file(raw_demo, journal), whole)


def test_a_finished_detection_is_reused_and_other_parameters_start_over(raw_demo, tmp_path):
    journal = tmp_path / "journal"
    first = detect_file(raw_demo, journal)
    messages = []
    again = detect_file(raw_demo, journal, messages=messages)
    assert "finished earlier: reusing it" in messages
    same(again, first)
    other = dict(raw_demo)
    other["sampling_rate"] = raw_demo["sampling_rate"] * 2  # another recording, in effect
    messages = []
    detect_file(other, journal, messages=messages)
    assert not any("resuming" in m or "reusing" in m for m in messages)


def test_a_journal_needs_a_folder_of_its_own(raw_demo, tmp_path):
    folder = tmp_path / "papers"
    folder.mkdir()
    (folder / "thesis.pdf").write_bytes(b"%PDF")
    with pytest.raises(SpikeappError, match="folder of its own"):
        detect_file(raw_demo, folder)
    assert (folder / "thesis.pdf").exists()
