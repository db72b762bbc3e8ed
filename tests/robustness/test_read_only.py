"""A session in a folder that cannot be written (a read-only disk, a write-protected card): a
save says so once, keeps the previous file and every edit, and saves elsewhere; a data folder
that cannot be written stops the journal with one message, and the edits go on in memory.

As root, permission bits are ignored: the folder is made read-only by a read-only bind mount
(skipped where mounting is not allowed); as anyone else, by its permissions."""

import contextlib
import os
import subprocess

import numpy as np
import pytest

from spikeapp.errors import SpikeappError
from spikeapp.session import Session
from spikeapp.session.invariants import states_equal
from spikeapp.session.storage import load_session
from spikeapp.workflow import journal as journal_
from spikeapp.workflow.workspace import Workspace
from tests.workflow.test_state_machine import machine_detection


@contextlib.contextmanager
def read_only(folder):
    if os.geteuid() != 0:
        mode = folder.stat().st_mode
        folder.chmod(0o555)
        try:
            yield "permission denied"
        finally:
            folder.chmod(mode)
        return
    made = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True)
    if made.returncode != 0:
        pytest.skip("a read-only folder needs a bind mount here, which is not allowed")
    try:
        if subprocess.run(["mount", "-o", "remount,ro,bind", str(folder)],
                          capture_output=True).returncode != 0:
            pytest.skip("cannot remount a folder read-only here")
        yield "the disk is read-only"
    finally:
        subprocess.run(["umount", str(folder)], capture_output=True)


def test_a_save_to_a_read_only_folder_says_so_and_keeps_the_file_and_the_edits(tmp_path):
    folder = tmp_path / "session"
    folder.mkdir()
    path = folder / "s.spikeapp"
    ws = Workspace(tmp_path / "data")
    ws.set_session(Session(machine_detection(), recording={"path": "<read-only>"}))
    ws.label_new_unit(np.arange(0, 30, 3))
    ws.save(path)
    saved = journal_.snapshot_state(ws.session)
    ws.label_new_unit(np.arange(1, 30, 3))
    edited = journal_.snapshot_state(ws.session)
    with read_only(folder) as why:
        with pytest.raises(SpikeappError) as error:
            ws.save(path)
        assert str(path) in str(error.value) and why in str(error.value)
        assert "previous file" in str(error.value)
        assert ws.modified and states_equal(ws.session, edited) == []
        assert states_equal(load_session(path), saved) == []
    ws.save(tmp_path / "elsewhere.spikeapp")
    assert states_equal(load_session(tmp_path / "elsewhere.spikeapp"), edited) == []
    ws.close()


def test_a_read_only_data_folder_stops_the_journal_with_one_message(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    told = []
    with read_only(data):
        ws = Workspace(data)
        ws.subscribe(lambda event, text: told.append((event, text)))
        ws.set_session(Session(machine_detection(), recording={"path": "<read-only>"}))
        ws.label_new_unit(np.arange(0, 30, 3))
        ws.label_new_unit(np.arange(1, 30, 3))
        problems = [text for event, text in told if event == "problem"]
        assert len(problems) == 1 and "cannot be journalled" in problems[0]
        assert len(ws.session.units) == 2 and ws.modified
        ws.save(tmp_path / "s.spikeapp")
        assert len(load_session(tmp_path / "s.spikeapp").units) == 2
        ws.close()
