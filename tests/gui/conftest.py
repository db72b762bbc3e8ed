"""GUI tests run offscreen; every test must leave no thread running."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # autosave and settings stay in the test folder
    from PyQt6.QtCore import QSettings

    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path))
    from spikeapp.gui.main_window import MainWindow

    main = MainWindow()
    main.resize(1400, 900)
    qtbot.addWidget(main)
    main.show()
    yield main
    main.close()
    assert not main.detector.running and not main.trainer.running
