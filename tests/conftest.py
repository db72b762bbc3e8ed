"""Shared fixtures: the ../shared recordings (skipped when absent) and the demo."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Every edit made through a Workspace in the tests is checked against the state's invariants
# (spikeapp.session.invariants): a command that breaks one fails the test that made it.
os.environ.setdefault("SPIKEAPP_CHECKS", "1")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real recordings; tests using it skip where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent")
    return SHARED_DATA


@pytest.fixture(scope="session")
def demo():
    """The 60-second demo recording with its ground truth (seed 0)."""
    from spikeapp.io.demo import make_demo

    return make_demo(seed=0)


@pytest.fixture(scope="session")
def demo_detection(demo):
    """Default detection on the demo."""
    from spikeapp.detection import detect
    from spikeapp.tasks import run_job

    return run_job(detect(demo.recording()))

import numpy as np  # noqa: E402 - after the Qt platform is set

from spikeapp.io.seeds import Seeds  # noqa: E402
from spikeapp.session import Session  # noqa: E402
from spikeapp.session import commands as cmd  # noqa: E402
from spikeapp.session.state import UNRESOLVED  # noqa: E402
from spikeapp.workflow.sorting import apply_seeds  # noqa: E402


@pytest.fixture(scope="session")
def sorted_session(demo, demo_detection):
    """The demo sorted: 20 hand labels per unit (from the ground truth), the other spikes
    assigned as a network would (their true unit, UNRESOLVED where none matches), one unit
    curated as good with a note."""
    session = Session(demo_detection, recording={"path": "/data/demo recording.nwb"})
    history = cmd.History(session)
    rng = np.random.default_rng(0)
    rows = np.concatenate([rng.choice(np.flatnonzero(demo.truth_units == u), 20, replace=False)
                           for u in np.unique(demo.truth_units) if u != "mua"])
    apply_seeds(session, history, Seeds(demo.truth_times_s[rows], demo.truth_channels[rows],
                                        demo.truth_units[rows]))
    d = session.detection
    assigned = np.full(session.n_spikes, UNRESOLVED)  # what matches no true unit
    for i in range(session.n_spikes):
        near = np.flatnonzero((demo.truth_channels == d.channels[i])
                              & (np.abs(demo.truth_times_s - d.times_s[i]) < 0.0004))
        if len(near):
            unit = session.unit_by_name(int(d.channels[i]), str(demo.truth_units[near[0]]))
            assigned[i] = unit.id if unit is not None else UNRESOLVED
    for group in session.groups:
        spikes = session.spikes_of_group(int(group))
        history.do(cmd.apply_predictions(session, int(group), spikes, assigned[spikes],
                                         rng.uniform(0.5, 1.0, len(spikes)).astype(np.float32)))
    first = min(session.units)
    history.do(cmd.edit_unit(session, first, quality="good", notes="clean, isolated"))
    return session


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    """The main window, offscreen, with its settings and autosaves in the test folder; it must
    leave no thread running."""
    monkeypatch.setenv("HOME", str(tmp_path))  # autosave and settings stay in the test folder
    from PyQt6.QtCore import QSettings

    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path))
    from spikeapp.gui.main_window import MainWindow

    main = MainWindow()
    # A test's unsaved edits go without a question (tests of the question replace this).
    main.files.confirm_discard = lambda: True
    # File > Import asks how; tests that do not say lay a sorting onto an open recording, as
    # before the question (tests of the question replace this).
    main.files.ask_import = lambda path, can_lay_onto: ("onto" if can_lay_onto else "new",
                                                        False)
    main.resize(1400, 900)
    qtbot.addWidget(main)
    main.show()
    yield main
    main.files.confirm_discard = lambda: True
    main.close()
    assert not main.detector.running and not main.trainer.running
