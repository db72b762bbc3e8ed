"""Shift+T trains the demo's two channels side by side in worker processes: progress names
both, each group's predictions apply as its own undo step, and the result is the one the
window's one-after-another path gives at the same threads."""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import Qt

from spikeapp.session.state import NETWORK
from spikeapp.workflow import parallel


def test_shift_t_trains_the_groups_in_workers_as_one_after_another_does(window, qtbot,
                                                                        monkeypatch):
    window.files.open_demo()
    qtbot.waitUntil(lambda: window.controller.session is not None, timeout=60_000)
    window.files.label_demo_seeds()
    c = window.controller
    # The two paths compared, not the template matching that follows either (tested apart).
    # Long enough that both workers report at once, even on a loaded machine (10 epochs were
    # over before the second worker started when the machine was busy).
    c.training.update(epochs=40, samples_per_epoch=256, threads=1, match_templates=False)
    session = c.session
    labelled = session.assignment.copy()
    messages = []
    window.trainer.progress.connect(lambda p: messages.append(p.message))

    # Three cores, one kept for the window: two workers of one thread each (the automatic
    # count, whatever an earlier test stored in the settings).
    monkeypatch.setattr(parallel, "available_cores", lambda: 3)
    window.train_workers = 0
    qtbot.keyClick(window, Qt.Key.Key_T, Qt.KeyboardModifier.ShiftModifier)
    assert window.busy()
    qtbot.waitUntil(lambda: not window.busy(), timeout=300_000)
    assert "2 channel(s) trained in 2 processes" in window.training.status.text()
    assert any("channel 0:" in m and "channel 1:" in m for m in messages), messages[-5:]
    assert set(c.outputs) == {0, 1}
    # The curves follow the first group, every epoch of it.
    assert window.training._history == c.outputs[0].trained.history
    for group in (0, 1):
        spikes = session.spikes_of_group(group)
        assert (session.source[spikes] == NETWORK).sum() > 500, group
    pooled = session.assignment.copy()
    pooled_confidence = session.confidence.copy()

    # Each group was one undo step.
    c.undo()
    assert (session.source[session.spikes_of_group(0)] == NETWORK).sum() > 500
    c.undo()
    np.testing.assert_array_equal(session.assignment, labelled)

    # The same groups one after another in the window's own process.
    window.train_workers = 1
    messages.clear()
    qtbot.keyClick(window, Qt.Key.Key_T, Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: not window.busy(), timeout=300_000)
    assert not any("processes" in m for m in messages)
    # The status names every channel trained, not the last one only (channel 0 is shown)
    assert "2 channels trained one after another" in window.status_text.text()
    assert "channel(s) 0, 1" in window.training.status.text()
    np.testing.assert_array_equal(session.assignment, pooled)
    np.testing.assert_array_equal(session.confidence, pooled_confidence)
