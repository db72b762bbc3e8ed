"""What a power cut keeps is what was synced: a file's content by fsync of the file, its name
(created or renamed) by fsync of its folder. The syncs of a real labelling run through the
Workspace are recorded, and every journal record synced must have its file's name synced too
(a new journal file's name was synced only at the next checkpoint: a power cut before it lost
every record written into it, though each was synced)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from spikeapp.session import Session
from spikeapp.workflow.workspace import Workspace
from tests.workflow.test_state_machine import machine_detection


@pytest.fixture
def synced(monkeypatch):
    """Every fsync of the process: (kind, path, the folder's entries when a folder)."""
    events = []
    real = os.fsync

    def fsync(fd):
        path = os.readlink(f"/proc/self/fd/{fd}")
        real(fd)
        if os.path.isdir(path):
            events.append(("folder", path, set(os.listdir(path))))
        else:
            events.append(("file", path, None))

    monkeypatch.setattr(os, "fsync", fsync)
    return events


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc to name descriptors")
@pytest.mark.parametrize("saved", [False, True])
def test_every_synced_journal_record_has_a_durable_name(tmp_path, synced, saved):
    ws = Workspace(tmp_path / "data")
    ws.set_session(Session(machine_detection(), recording={"path": "<power>"}))
    if saved:
        ws.label_new_unit(ws.session.spikes_of_group(0)[:3])
        ws.save(tmp_path / "s.spikeapp")
    synced.clear()
    rng = np.random.default_rng(0)
    for k in range(6):
        ws.label_new_unit(rng.choice(ws.session.spikes_of_group(k % 3), 2, replace=False))
        ws.flush()
    folder = str(ws.journal_folder)
    records = [i for i, (kind, path, _) in enumerate(synced)
               if kind == "file" and os.path.basename(path).startswith("journal-")]
    assert records, "no journal record was synced"
    for i in records:
        name = os.path.basename(synced[i][1])
        # the folder's entries synced with this journal file in them, by the time its records
        # are synced (before or after the record's own fsync, within the same write)
        named = [j for j, (kind, path, entries) in enumerate(synced)
                 if kind == "folder" and path == folder and name in entries]
        assert named and named[0] <= i + 1, f"{name} synced before its name was"
    parents = [e for kind, path, e in synced if kind == "folder"
               and path == os.path.dirname(folder)]
    assert any(os.path.basename(folder) in e for e in parents), \
        "the journal's own folder was never made durable in journals/"
    ws.close(discard=True)
