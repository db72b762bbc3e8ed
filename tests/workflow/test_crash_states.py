"""Every state a power cut could leave during a labelling run with saves and checkpoints
reopens as a state the run went through, with every synced edit (benchmarks/crash_states.py,
here on a shorter run)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import crash_states  # noqa: E402


def test_every_crash_state_reopens_with_every_synced_edit(tmp_path):
    trace, states, _ = crash_states.run(tmp_path / "run", edits=16, seed=0)
    kinds = {event.kind for event in trace.events}
    assert kinds == {"fsync-file", "fsync-folder", "replace", "remove"}
    outcome = crash_states.check(trace, states, mixes=1, seed=0)
    assert outcome.checked == 3 * len(trace.events) > 150
    assert outcome.inconsistent == 0, outcome.lost + outcome.phantom + outcome.crashes
    assert outcome.errors == []


def test_the_harness_sees_edits_a_journal_never_synced(tmp_path, monkeypatch):
    """A journal that skips its fsync loses synced-looking edits in a power cut: counted."""
    from spikeapp.workflow import journal

    monkeypatch.setattr(journal.Journal, "_sync", lambda self: None)
    trace, states, _ = crash_states.run(tmp_path / "run", edits=8, seed=0)
    outcome = crash_states.check(trace, states, mixes=0, seed=0)
    assert outcome.lost
