"""`spikeapp --self-test` passes on a working installation and fails when any step is broken:
its neo step read nothing back (a wrong gain passed) and its window step checked isVisible()
right after show(), true by construction."""

from __future__ import annotations

import numpy as np
import pytest

from spikeapp.selftest import run_self_test


def _break_neo(monkeypatch):
    import spikeapp.io as io

    real = io.open_recording

    def wrong_gain(*args, **kwargs):
        recording = real(*args, **kwargs)
        read = recording.read
        recording.read = lambda *a, **k: 2 * read(*a, **k)
        return recording

    monkeypatch.setattr(io, "open_recording", wrong_gain)


def _break_window(monkeypatch):
    from PyQt6.QtGui import QColor, QPixmap

    from spikeapp.gui.main_window import MainWindow

    def blank(self, *args):
        pixmap = QPixmap(1000, 700)
        pixmap.fill(QColor("white"))
        return pixmap

    monkeypatch.setattr(MainWindow, "grab", blank)


def _break_detection(monkeypatch):
    import spikeapp.io.demo as demo_module

    real = demo_module.make_demo

    def silent(*args, **kwargs):
        demo = real(*args, **kwargs)
        demo.data[:] = np.random.default_rng(0).normal(0, 1, demo.data.shape)   # no spikes
        return demo

    monkeypatch.setattr(demo_module, "make_demo", silent)


def _break_training(monkeypatch):
    import spikeapp.workflow.sorting as sorting

    real = sorting.train_and_predict

    def shuffled(*args, **kwargs):
        output = yield from real(*args, **kwargs)
        output.assigned[:] = np.random.default_rng(0).permutation(output.assigned)
        return output

    monkeypatch.setattr(sorting, "train_and_predict", shuffled)


def _break_torch(monkeypatch):
    import spikeapp.training.device as device

    def broken():
        raise RuntimeError("torch cannot run here")

    monkeypatch.setattr(device, "check_torch", broken)


@pytest.mark.slow
def test_the_self_test_passes_here(capsys):
    assert run_self_test() == 0
    out = capsys.readouterr().out
    assert "values read back as written" in out and "frame drawn" in out


@pytest.mark.slow
@pytest.mark.parametrize("step, breaker", [
    ("recording through neo", _break_neo), ("main window", _break_window),
    ("detection", _break_detection), ("training", _break_training), ("torch", _break_torch)])
def test_the_self_test_fails_when_a_step_is_broken(step, breaker, monkeypatch, capsys):
    breaker(monkeypatch)
    assert run_self_test() == 1
    out = capsys.readouterr().out
    assert "self-test FAILED: " in out and step in out.splitlines()[-1], out
