"""A full disk (here a file-size limit, which fails writes as a full disk does): saving and
journalling give one clear message, the previous file and every edit in memory stay, and the
session saves (and journals again) once there is space. Run in a child process: the limit is
the process's."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

CHILD = textwrap.dedent("""
    import json, resource, signal, sys
    from pathlib import Path
    import numpy as np
    sys.path.insert(0, {root!r})
    from spikeapp.errors import SpikeappError
    from spikeapp.session import Session
    from spikeapp.session.invariants import states_equal
    from spikeapp.session.storage import load_session
    from spikeapp.workflow.workspace import Workspace
    from tests.workflow.test_state_machine import machine_detection

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # writes past the limit fail with EFBIG
    folder = Path({folder!r})
    path = folder / "session.spikeapp"
    told = []
    ws = Workspace(folder / "data")
    ws.subscribe(lambda event, text: told.append(text) if event == "problem" else None)
    ws.set_session(Session(machine_detection(), recording={{"path": "<disk>"}}))
    spikes = ws.session.spikes_of_group(0)
    ws.label_new_unit(spikes[:4])
    ws.save(path)
    before = path.read_bytes()
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, hard))      # the disk is full
    refused = ""
    try:
        ws.label_new_unit(spikes[4:8])
        for k in range(20):                                     # edits the journal cannot hold
            ws.label(spikes[10 + k: 11 + k], 0)
        ws.flush()
        ws.save(path)
    except SpikeappError as problem:
        refused = str(problem)
    edited = ws.session.assignment.copy()
    result = {{"refused": refused, "told": told, "kept_file": path.read_bytes() == before,
              "modified": ws.modified, "units": sorted(ws.session.units),
              "journal_off": ws.journal_folder is None}}
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))     # space is back
    ws.save(path)
    result["saved"] = states_equal(load_session(path), ws.session) == [] and not ws.modified
    ws.label(spikes[35:36], 0)
    result["journal_again"] = ws.journal_folder is not None
    result["same_edits"] = bool(np.array_equal(load_session(path).assignment, edited))
    ws.close(discard=True)
    print(json.dumps(result))
""")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file-size limits")
def test_a_full_disk_says_so_once_keeps_everything_and_saves_when_space_is_back(tmp_path):
    root = str(Path(__file__).resolve().parents[2])
    done = subprocess.run([sys.executable, "-c", CHILD.format(root=root, folder=str(tmp_path))],
                          capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, SPIKEAPP_CHECKS="1"))
    assert done.returncode == 0, done.stderr[-3000:]
    import json

    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["refused"].startswith(str(tmp_path / "session.spikeapp")), result
    assert "File too large" in result["refused"] or "No space" in result["refused"], result
    assert len(result["told"]) == 1 and "kept in memory" in result["told"][0], result
    assert result["kept_file"] and result["modified"] and result["units"] == [0, 1]
    assert result["journal_off"]
    assert result["saved"] and result["journal_again"] and result["same_edits"]
