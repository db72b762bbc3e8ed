"""The ways a session was lost (issue 30), each reproduced: a split that set the next unit id
back, a session made from an imported sorting that would not reopen, a save that removed the
journal though its file would not open, found spikes and redo after a save that a crash lost."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spikeapp.errors import SpikeappError
from spikeapp.session import Session
from spikeapp.session.invariants import problems, states_equal
from spikeapp.session.storage import load_session
from spikeapp.workflow import journal
from spikeapp.workflow.workspace import Workspace
from tests.workflow.test_state_machine import machine_detection


@pytest.fixture
def ws(tmp_path):
    workspace = Workspace(tmp_path / "data")
    workspace.set_session(Session(machine_detection(), recording={"path": "<test>"}))
    yield workspace
    workspace.close(discard=True)


def replayed(ws: Workspace) -> Session:
    ws.flush()
    folder = ws.journal_folder
    manifest = json.loads((folder / journal.MANIFEST).read_text())
    return journal.replay(journal.Crashed(folder, manifest, 0, 0))[0]


def test_a_split_keeps_the_next_unit_id_and_a_later_unit_takes_a_new_one(ws, tmp_path):
    """label_new_unit on channel 0, split two of those spikes, label_new_unit on channel 1:
    three units, each on its own channel, and the file saves and reopens as it was."""
    s = ws.session
    on0, on1 = s.spikes_of_group(0), s.spikes_of_group(1)
    ws.label_new_unit(on0[:10])
    ws.split(on0[:2])
    assert s.next_unit_id == 2 and sorted(s.units) == [0, 1]
    ws.label_new_unit(on1[:10])
    assert sorted(s.units) == [0, 1, 2]
    assert {s.units[u].group for u in s.assignment[on0[:10]]} == {0}
    assert {s.units[u].group for u in s.assignment[on1[:10]]} == {1}
    assert problems(s) == []
    path = tmp_path / "split.spikeapp"
    ws.save(path)
    assert states_equal(load_session(path), s) == []


def test_undone_ids_are_never_given_again(ws):
    """A unit made, undone, and another made: a new id (an output kept from before the undo
    names the first, which must never mean another unit)."""
    spikes = ws.session.spikes_of_group(0)
    ws.label_new_unit(spikes[:3])
    ws.undo()
    ws.label_new_unit(spikes[3:6])
    assert sorted(ws.session.units) == [1]
    ws.undo()
    ws.redo()
    assert ws.session.next_unit_id == 2


def test_a_save_that_would_not_open_is_refused_and_the_journal_kept(ws, tmp_path,
                                                                   monkeypatch):
    """The only other copy of the edits (the journal) goes only once the file written is read
    back as the state; the previous file stays in place."""
    path = tmp_path / "kept.spikeapp"
    spikes = ws.session.spikes_of_group(0)
    ws.label_new_unit(spikes[:5])
    ws.save(path)
    before = path.read_bytes()
    ws.label_new_unit(spikes[5:9])
    folder = ws.journal_folder
    assert folder is not None and folder.exists()
    ws.session.next_unit_id = 1          # what the split bug did: the file would not open
    monkeypatch.setenv("SPIKEAPP_CHECKS", "0")   # a release build: the read-back refuses it
    with pytest.raises(SpikeappError, match="not saved.*would not open"):
        ws.save(path)
    assert path.read_bytes() == before
    assert folder.exists() and ws.journal_folder == folder and ws.modified
    monkeypatch.setenv("SPIKEAPP_CHECKS", "1")   # a debug build refuses before writing
    with pytest.raises(SpikeappError, match="not saved.*inconsistent"):
        ws.save(path)
    assert path.read_bytes() == before and folder.exists()
    ws.session.next_unit_id = 2
    ws.save(path)
    assert not folder.exists() and states_equal(load_session(path), ws.session) == []


def test_a_file_that_reads_back_as_another_state_is_refused(ws, tmp_path, monkeypatch):
    from spikeapp.session import storage

    path = tmp_path / "other.spikeapp"
    ws.label_new_unit(ws.session.spikes_of_group(1)[:4])
    real = storage.write_session

    def lossy(stream, session, *args, **kwargs):
        damaged = journal.snapshot_state(session)
        damaged.confidence[:] = 0.5   # a writer that loses something
        real(stream, damaged, *args, **kwargs)

    monkeypatch.setattr(storage, "write_session", lossy)
    with pytest.raises(SpikeappError, match="reads back as another state"):
        ws.save(path)
    assert not path.exists() and ws.journal_folder is not None


def test_a_redo_after_a_save_replays_the_change_it_redid(ws):
    """A change made before a save and one after it had the same number in their journals:
    undo both, redo the older, and the journal's replay redid the newer one."""
    spikes = ws.session.spikes_of_group(0)
    ws.label_new_unit(spikes[:4])                  # record 1 of the first journal
    ws.save(ws.journal_folder.parent.parent / "redo.spikeapp")
    ws.label_new_unit(spikes[4:8])                 # record 1 of the second
    ws.undo()
    ws.undo()
    ws.redo()                                      # the first unit, not the second
    assert sorted(ws.session.units) == [0]
    assert states_equal(replayed(ws), ws.session) == []


@pytest.mark.parametrize("saved", [False, True])
def test_spikes_found_by_template_survive_a_crash_before_any_other_edit(ws, tmp_path, saved):
    """Template matching restarts the journal on a copy of the grown detection; a crash right
    after it lost the found spikes (and an untitled session's earlier edits): the journal had
    no record and was taken for one with nothing to recover."""
    from spikeapp.detection.peeler import Found

    ws.label_new_unit(ws.session.spikes_of_group(0)[:3])
    if saved:
        ws.save(tmp_path / "found.spikeapp")
    rng = np.random.default_rng(0)
    found = Found(np.array([150, 4150]), np.array([0, 0]), np.array([0, 0]),
                  np.ones(2, np.float32), np.full(2, 9, np.float32),
                  rng.normal(0, 5, (2, 4, 16)).astype(np.float32))
    ws.add_found(found, ws.revision)
    grown = journal.snapshot_state(ws.session)
    ws.flush()
    ws._journal.close(remove=False)       # killed here
    ws._journal = None
    again = Workspace(ws.data_dir)
    (crashed,) = again.crashed()
    again.recover(crashed)
    assert again.session.n_spikes == grown.n_spikes
    assert states_equal(again.session, grown) == []
    again.close(discard=True)
