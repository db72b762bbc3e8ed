"""Session files keep the waveforms on disk: stored, not deflated, and mapped when opened."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from spikeapp.errors import SpikeappError
from spikeapp.session import commands as cmd
from spikeapp.session.state import HUMAN, NETWORK, UNASSIGNED
from spikeapp.session.storage import MAPPED, load_session, save_session
from spikeapp.workflow.journal import _decode_payload, decode_change, encode_record
from tests.session.test_selection_and_commands import small_session


def test_waveforms_open_memory_mapped_and_the_file_can_be_saved_over(tmp_path):
    session = small_session(400)
    path = tmp_path / "a.spikeapp"
    save_session(session, path)
    with zipfile.ZipFile(path) as zf:
        assert zf.getinfo(MAPPED).compress_type == zipfile.ZIP_STORED
        assert zf.getinfo("state/assignment.npy").compress_type == zipfile.ZIP_DEFLATED
    loaded = load_session(path)
    waveforms = loaded.detection.waveforms
    assert isinstance(waveforms, np.memmap) and not waveforms.flags.writeable
    assert np.array_equal(waveforms, session.detection.waveforms)
    assert not isinstance(loaded.detection.features, np.memmap)   # small: read
    # Edit and save over the mapped file (as Ctrl+S does): the open session keeps working and
    # the file holds the edit.
    cmd.History(loaded).do(cmd.label_new_unit(loaded, np.arange(5), name="x"))
    save_session(loaded, path)
    assert np.array_equal(loaded.detection.waveforms, session.detection.waveforms)
    again = load_session(path)
    assert [u.name for u in again.units.values()] == ["x"]
    assert np.array_equal(again.detection.waveforms, session.detection.waveforms)


def test_arrays_are_written_in_pieces_as_numpy_would_write_them(tmp_path, monkeypatch):
    """Arrays go to the file in pieces without copies; strided and empty ones too, and what
    comes back is what numpy's own writer makes."""
    import io

    from spikeapp.session import storage

    monkeypatch.setattr(storage, "WRITE_PIECE", 1000)   # many pieces, one cut inside a value
    session = small_session(400)
    session.confidence = np.linspace(0, 1, 800, dtype=np.float32)[::2]   # not contiguous
    session.detection.features = np.zeros((400, 0), np.float32)           # empty
    path = tmp_path / "a.spikeapp"
    save_session(session, path)
    loaded = load_session(path)
    assert np.array_equal(loaded.confidence, session.confidence)
    assert np.array_equal(loaded.detection.waveforms, session.detection.waveforms)
    assert loaded.detection.features.shape == (400, 0)
    expected = io.BytesIO()
    np.lib.format.write_array(expected, session.detection.waveforms)
    with zipfile.ZipFile(path) as zf:
        assert zf.read(MAPPED) == expected.getvalue()


def rewritten(path, target, deflate: bool = False, cut=lambda name, data: data):
    """A copy of the session file ``path``: every member deflated (as files were written
    before), or as stored with ``cut`` applied to each member's bytes."""
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(
            target, "w", zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED) as out:
        for info in source.infolist():
            data = cut(info.filename, source.read(info.filename))
            out.writestr(info.filename if deflate else info, data)
    return target


def test_files_with_deflated_waveforms_still_open(tmp_path):
    """Sessions written before the waveforms were stored as they are."""
    session = small_session(100)
    path = tmp_path / "new.spikeapp"
    save_session(session, path)
    old = rewritten(path, tmp_path / "old.spikeapp", deflate=True)
    loaded = load_session(old)
    assert not isinstance(loaded.detection.waveforms, np.memmap)
    assert np.array_equal(loaded.detection.waveforms, session.detection.waveforms)


def test_a_short_stored_waveform_member_is_a_damaged_file(tmp_path):
    session = small_session(100)
    path = tmp_path / "a.spikeapp"
    save_session(session, path)
    damaged = rewritten(path, tmp_path / "damaged.spikeapp",
                        cut=lambda name, data: data[:-400] if name == MAPPED else data)
    with pytest.raises(SpikeappError, match="damaged.spikeapp"):
        load_session(damaged)


def test_a_prediction_keeps_one_source_and_version_and_undoes_exactly():
    from spikeapp.session.state import NETWORK

    session = small_session(400)
    history = cmd.History(session)
    unit = cmd.label_new_unit(session, np.arange(3), name="a")
    history.do(unit)
    before = {name: getattr(session, name).copy() for name in
              ("assignment", "source", "confidence", "network_version", "assigned_at")}
    group_spikes = np.flatnonzero(session.detection.channels == 0)
    uid = next(iter(session.units))
    change = cmd.apply_predictions(session, 0, group_spikes, np.full(len(group_spikes), uid),
                                   np.full(len(group_spikes), 0.8, np.float32))
    assert change.after["source"].shape == () and change.after["network_version"].shape == ()
    assert change.after["assigned_at"].shape == ()
    history.do(change)
    open_ = group_spikes[3:]    # the three labels stay
    assert (session.source[open_] == NETWORK).all() and (session.assignment[open_] == uid).all()
    assert (session.network_version[open_] == 1).all()
    history.undo()
    for name, values in before.items():
        assert np.array_equal(getattr(session, name), values, equal_nan=True), name


def test_the_undo_history_keeps_its_memory_bounded_but_always_the_last_step():
    session = small_session(400)
    history = cmd.History(session, limit_bytes=2000)
    for k in range(6):
        history.do(cmd.label_new_unit(session, np.arange(20 * k, 20 * k + 20), name=f"u{k}"))
    kept = len(history._undo)
    assert 1 <= kept < 6
    assert sum(c.nbytes for c in history._undo) <= 2000 or kept == 1
    while history.undo():
        pass
    assert len(session.units) == 6 - kept   # the oldest steps can no longer be undone
    huge = cmd.History(session, limit_bytes=1)
    huge.do(cmd.label_new_unit(session, np.arange(300, 320), name="big"))
    assert huge.can_undo


def test_a_change_over_one_run_of_spikes_acts_as_one_over_an_index_array():
    """Runs of consecutive spikes are read and written as slices: the same result, and the
    saved old values are copies, not views that the change would overwrite."""
    from spikeapp.session.commands import as_span

    assert as_span(np.arange(5000, 7000)) == slice(5000, 7000)
    scattered = np.r_[np.arange(5000, 6000), np.arange(6001, 7001)]
    assert as_span(scattered) is scattered
    for spikes in (np.arange(100, 3100), np.r_[np.arange(100, 1600), np.arange(1601, 3101)]):
        session = small_session(4000)
        session.detection.channels[:] = 0
        history = cmd.History(session)
        history.do(cmd.label_new_unit(session, spikes[:5], name="a"))
        uid = next(iter(session.units))
        before = session.assignment.copy()
        change = cmd.apply_predictions(session, 0, spikes, np.full(len(spikes), uid),
                                       np.full(len(spikes), 0.9, np.float32))
        source_before, at_before = session.source.copy(), session.assigned_at.copy()
        history.do(change)
        assert (session.assignment[spikes] == uid).all()
        old = change.before["assignment"]
        # Nearly all unassigned before: kept as that value and the labelled exceptions.
        assert isinstance(old, cmd.Mostly) and old.value == UNASSIGNED
        # A run keeps its labelled spikes (skipped by the mask), an index array leaves them out.
        run = isinstance(change.where, slice)
        assert len(old.positions) == (5 if run else 0)
        assert np.array_equal(old.expand(), before[spikes if run else spikes[5:]])
        # The labelled spikes inside the run keep who labelled them; the rest are the network's.
        assert (session.source[spikes[:5]] == HUMAN).all()
        assert (session.source[spikes[5:]] == NETWORK).all()
        assert (change.only is not None) == isinstance(change.where, slice)
        history.undo()
        assert np.array_equal(session.assignment, before)
        assert np.array_equal(session.source, source_before)
        # As the journal writes and reads it back, the change acts the same.
        pieces = encode_record(1, "do", change)
        payload = b"".join(bytes(piece) for piece in pieces[1:])
        replayed = decode_change(*_decode_payload(payload))
        replayed.apply(session)
        assert (session.source[spikes[:5]] == HUMAN).all()
        assert (session.assignment[spikes] == uid).all()
        replayed.apply(session, forward=False)   # packed old values, NaN times among them
        assert np.array_equal(session.assignment, before)
        assert np.array_equal(session.source, source_before)
        assert np.array_equal(session.assigned_at, at_before, equal_nan=True)


def test_a_detections_fingerprint_is_its_content_and_is_kept_with_it():
    """The journal and the session files name a detection by its fingerprint: the same content
    gives the same one (another object, as a reopened file is), other spike times another;
    worked out once per detection (it never changes in place)."""
    import dataclasses

    from spikeapp.session.storage import detection_fingerprint

    detection = small_session(3000).detection
    first = detection_fingerprint(detection)
    assert detection._fingerprint == first and detection_fingerprint(detection) == first
    assert detection_fingerprint(dataclasses.replace(detection)) == first
    moved = dataclasses.replace(detection, samples=detection.samples + 1)
    assert detection_fingerprint(moved) != first
