"""After training: the label-next queue answered with keys, automatic retraining, the preview
of a retrain applied to some units only (one undo), and the calibration plot."""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import Qt

from spikeapp.session.state import HUMAN, NETWORK


def train_and_wait(window, qtbot):
    window.sort.train()
    qtbot.waitUntil(lambda: not window.busy(), timeout=120_000)


def test_queue_retrain_preview(window, qtbot):
    window.files.open_demo()
    qtbot.waitUntil(lambda: window.controller.session is not None, timeout=60_000)
    window.files.label_demo_seeds()
    c = window.controller
    c.training.update(pseudo_labels=0)  # quicker, and leaves more doubt for the queue
    train_and_wait(window, qtbot)
    session = c.session
    assert (session.source == NETWORK).any()
    assert window.training.reliability.listDataItems()  # the reliability diagram is drawn

    qtbot.keyClick(window, Qt.Key.Key_L)
    # The first question is there at once (the least sure spike: on the event loop's next
    # turn, after the panel shows), before the clustering that ranks the queue has finished.
    assert window.bottom_tabs.currentWidget() is window.queue
    qtbot.waitUntil(lambda: window.queue.current is not None, timeout=1_000)
    asked = window.queue.current
    from spikeapp.workflow.review import first_question

    assert asked is not None and asked == first_question(session, c.outputs[c.group])
    assert window.queue.labelled_since_training == 0
    qtbot.waitUntil(lambda: not window.queuer.running and window.queue.current is not None,
                    timeout=30_000)
    queue = window.queue
    assert len(queue.queue) > 5 and window.bottom_tabs.currentWidget() is queue
    first = queue.current
    assert list(c.selection) == [first]
    assert session.source[first] != HUMAN
    assert "key" in queue.info.text()
    key = c.key_of(c.outputs[c.group].assigned[np.searchsorted(c.outputs[c.group].spikes,
                                                                first)])
    queue.auto.setValue(0)  # no automatic retraining in this part
    qtbot.keyClick(window, getattr(Qt.Key, f"Key_{key}"))
    assert session.source[first] == HUMAN
    assert queue.current != first and queue.labelled_since_training == 1
    # A queue from the same network (the ranked one replacing the first question asked at
    # once) keeps the count of answers towards the automatic retrain; a new network resets it.
    output = c.outputs[c.group]
    queue.fill(output, np.array(queue.queue), 0)
    assert queue.labelled_since_training == 1
    import copy

    queue.fill(copy.copy(output), np.array(queue.queue), 0)
    assert queue.labelled_since_training == 0
    queue.fill(output, np.array(queue.queue), 0)
    queue.labelled_since_training = 1
    second = queue.current
    qtbot.keyClick(window, Qt.Key.Key_S)
    assert queue.current != second and session.source[second] != HUMAN

    # Retrain: the preview is asked; apply the moves into one unit only.
    seen, chosen = [], set()

    def choose(summary, stale=False):
        seen.append(summary)
        targets = [target for _, target, _ in summary.moves if target in session.units]
        chosen.update(targets[:1])
        return set(chosen)

    window.ask_preview = choose
    before = session.assignment.copy()
    train_and_wait(window, qtbot)
    assert len(seen) == 1 and seen[0].moved > 0  # a retrain moves some uncertain spikes
    changed = np.flatnonzero(session.assignment != before)
    assert len(changed) and set(session.assignment[changed].tolist()) == chosen
    assert len(queue.queue) > 0  # a fresh queue from the new network
    c.undo()
    np.testing.assert_array_equal(session.assignment, before)


def test_assess_the_labels_in_the_background(window, qtbot):
    window.files.open_demo()
    qtbot.waitUntil(lambda: window.controller.session is not None, timeout=60_000)
    window.files.label_demo_seeds()
    window.controller.training.update(epochs=10, samples_per_epoch=256)
    qtbot.keyClick(window, Qt.Key.Key_A)
    assert window.assessor.running
    qtbot.waitUntil(lambda: not window.assessor.running, timeout=180_000)
    dialog = window.sort._assessment
    assert dialog.isVisible() and "labels per unit" in dialog.verdict.text()
    assert "labels assessed" in window.log.toPlainText()


def test_queue_first_asks_for_a_unit_nobody_labelled(window, qtbot, tmp_path):
    """Label two of channel 0's three units: the queue's first spike is a typical spike of the
    third, and the panel says why."""
    from spikeapp.io.seeds import Seeds
    window.files.open_demo()
    qtbot.waitUntil(lambda: window.controller.session is not None, timeout=60_000)
    demo, c = window.demo, window.controller
    on0 = (demo.truth_channels == 0) & (demo.truth_units != "mua")
    units, counts = np.unique(demo.truth_units[on0], return_counts=True)
    left_out = units[np.argmax(counts)]
    rng = np.random.default_rng(0)
    rows = np.concatenate([rng.choice(np.flatnonzero(on0 & (demo.truth_units == u)), 20,
                                      replace=False) for u in units if u != left_out])
    c.workspace.apply_seeds(Seeds(demo.truth_times_s[rows], demo.truth_channels[rows],
                                  demo.truth_units[rows]))
    c.training.update(pseudo_labels=0)
    train_and_wait(window, qtbot)
    qtbot.keyClick(window, Qt.Key.Key_L)
    qtbot.waitUntil(lambda: not window.queuer.running and window.queue.current is not None,
                    timeout=30_000)
    queue = window.queue
    first = queue.current
    assert first in queue.uncovered
    assert "no label covers" in queue.info.text()
    gaps = np.abs(demo.truth_times_s[on0] - c.session.detection.times_s[first])
    assert gaps.min() < 0.0004 and demo.truth_units[on0][np.argmin(gaps)] == left_out
    window.grab().save(str(tmp_path / "queue.png"))
