"""Faults while working: training that diverges, a GPU that fails, cancelling at any moment,
closing the window while work runs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PyQt6.QtCore import Qt

from spikeapp.errors import SpikeappError
from spikeapp.tasks import Cancelled, CancelToken, run_job
from spikeapp.training import trainer
from spikeapp.training.trainer import train_classifier
from tests.training.test_training import FAST, toy_waveforms


def test_a_diverging_run_stops_with_a_message():
    x, y = toy_waveforms()
    x[5, 0, 10] = np.inf  # one broken waveform among the labels: the loss becomes NaN
    with pytest.raises(SpikeappError, match="diverged"):
        run_job(train_classifier(x, y, ["a", "b", "c"], training=dict(FAST, augment=False)))


def test_a_failing_gpu_falls_back_to_the_cpu_with_a_message(monkeypatch):
    """The accelerator fails as soon as it is used (this torch has no CUDA: the same path as a
    GPU out of memory); training starts again on the CPU and says so."""
    monkeypatch.setattr(trainer, "choose_device", lambda _requested: torch.device("cuda"))
    x, y = toy_waveforms()
    messages = []
    job = train_classifier(x, y, ["a", "b", "c"], training=FAST)
    try:
        while True:
            messages.append(next(job).message)
    except StopIteration as done:
        trained = done.value
    assert any("training again on the CPU" in m for m in messages), messages[:3]
    assert next(trained.model.parameters()).device.type == "cpu"
    assert (trained.predict(x).labels == y).mean() > 0.9


@pytest.mark.parametrize("after", [0, 1, 5])
def test_cancel_at_any_point_of_training_and_prediction(sorted_session, after):
    from spikeapp.workflow.sorting import snapshot_training, train_and_predict

    before = sorted_session.assignment.copy()
    token = CancelToken()
    job = train_and_predict(snapshot_training(sorted_session, 0), None,
                            dict(FAST, pseudo_labels=200), 0.0, token)
    with pytest.raises(Cancelled):
        for step, _progress in enumerate(job):
            if step == after:
                token.cancel()
    assert np.array_equal(sorted_session.assignment, before)


@pytest.mark.parametrize("what", ["training", "detection"])
def test_closing_the_window_while_work_runs_cancels_it_cleanly(window, qtbot, what):
    window.files.open_demo()
    if what == "training":
        qtbot.waitUntil(lambda: window.controller.session is not None, timeout=60_000)
        window.files.label_demo_seeds()
        window.controller.training.update(epochs=500, patience=500)
        before = window.controller.session.assignment.copy()
        window.sort.train()
        qtbot.waitUntil(lambda: len(window.training._history) >= 1, timeout=60_000)
    else:
        qtbot.waitUntil(lambda: window.detector.running, timeout=10_000)
    runner = window.trainer if what == "training" else window.detector
    session = window.controller.session
    thread = runner._thread
    assert thread is not None and thread.isRunning()
    window.close()
    assert not window.detector.running and not window.trainer.running
    assert thread.isFinished()  # joined, not left dangling
    if what == "training":
        assert np.array_equal(session.assignment, before)


def test_escape_cancels_training_right_after_it_starts(window, qtbot):
    window.files.open_demo()
    qtbot.waitUntil(lambda: window.controller.session is not None, timeout=60_000)
    window.files.label_demo_seeds()
    before = window.controller.session.assignment.copy()
    window.sort.train()
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not window.busy(), timeout=60_000)
    assert np.array_equal(window.controller.session.assignment, before)
