"""A journal damaged on disk anywhere (bits flipped, files cut short at random offsets, 1,000
tries): recovery brings back what can be trusted, the edits up to the damage and never a
state that was not one, or says what is lost; never a traceback. Before: a damaged manifest hid
the journal (its edits were silently not offered) or raised KeyError, a journal damaged at its
first record was taken for one with nothing to recover."""

from __future__ import annotations

import collections
import shutil
from pathlib import Path

import numpy as np
import pytest

from spikeapp.errors import SpikeappError
from spikeapp.session import Session
from spikeapp.session.invariants import problems, states_equal
from spikeapp.workflow import journal
from spikeapp.workflow.workspace import Workspace
from tests.workflow.test_state_machine import machine_detection

TRIES = 1000


@pytest.fixture(scope="module")
def crashed_run(tmp_path_factory):
    """A journal left by a kill after 30 edits (new units on three groups, some undone), and
    the state after each edit."""
    root = tmp_path_factory.mktemp("journal")
    ws = Workspace(root / "data")
    ws.set_session(Session(machine_detection(), recording={"path": "<damage>"}))
    states = [journal.snapshot_state(ws.session)]
    rng = np.random.default_rng(0)
    for k in range(30):
        if k % 7 == 6:
            ws.undo()
        else:
            spikes = ws.session.spikes_of_group(k % 3)
            ws.label_new_unit(rng.choice(spikes, 3, replace=False))
        states.append(journal.snapshot_state(ws.session))
    ws.flush()
    ws._journal.close(remove=False)
    ws._journal = None
    return root / "data", states


def damage(folder: Path, rng: np.random.Generator) -> tuple[str, str]:
    files = sorted(p for p in folder.iterdir() if p.is_file())
    target = files[rng.integers(len(files))]
    blob = bytearray(target.read_bytes())
    if rng.random() < 0.5 and blob:
        for _ in range(int(rng.integers(1, 4))):
            blob[rng.integers(len(blob))] ^= 1 << int(rng.integers(8))
        kind = "flipped"
    else:
        blob = blob[:int(rng.integers(len(blob) + 1))]
        kind = "cut"
    target.write_bytes(bytes(blob))
    return target.name.split("-")[0].split(".")[0], kind


def test_a_damaged_journal_recovers_what_can_be_trusted_or_says_what_is_lost(crashed_run,
                                                                             tmp_path):
    data, states = crashed_run
    rng = np.random.default_rng(1)
    outcomes: collections.Counter = collections.Counter()
    for _ in range(TRIES):
        copy = tmp_path / "data"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(data, copy)
        folder = next((copy / "journals").iterdir())
        which, kind = damage(folder, rng)
        found = journal.crashed_journals(copy)
        assert len(found) == 1, f"a journal with a {kind} {which} was not offered"
        ws = Workspace(copy)
        try:
            ws.recover(found[0])
        except SpikeappError as problem:
            assert str(problem).startswith("cannot recover") or "damaged" in str(problem) or \
                "not a readable" in str(problem), str(problem)
            outcomes[(which, kind, "said what is lost")] += 1
            continue
        assert problems(ws.session) == []
        assert any(not states_equal(ws.session, s) for s in states), \
            f"a {kind} {which} recovered a state that never was"
        outcomes[(which, kind, "recovered")] += 1
        ws.close(discard=True)
    # The manifest has two copies with checksums, the journal's records theirs: damage there
    # always leaves something to recover.
    for (which, _kind, outcome), count in outcomes.items():
        if which in ("manifest", "journal"):
            assert outcome == "recovered", (which, count)
    assert sum(outcomes.values()) == TRIES


def test_a_damaged_record_in_the_middle_says_how_many_edits_are_lost(crashed_run, tmp_path):
    data, states = crashed_run
    copy = tmp_path / "data"
    shutil.copytree(data, copy)
    folder = next((copy / "journals").iterdir())
    log = next(folder.glob("journal-*.bin"))
    records, _ = journal.read_records(log)
    blob = bytearray(log.read_bytes())
    offsets, at = [], 0
    while True:
        at = blob.find(journal.MAGIC, at)
        if at < 0:
            break
        offsets.append(at)
        at += 1
    blob[offsets[10] + 40] ^= 0xFF           # the 11th record damaged; 19 whole ones after it
    log.write_bytes(bytes(blob))
    told = []
    ws = Workspace(copy)
    ws.subscribe(lambda event, text: told.append(text) if event == "problem" else None)
    assert ws.recover(journal.crashed_journals(copy)[0]) == 10
    assert states_equal(ws.session, states[10]) == []
    assert told and "the 20 edit(s) from there on are lost" in told[0], told
    assert (folder / f".damaged-{log.name}").exists()
    ws.close(discard=True)
