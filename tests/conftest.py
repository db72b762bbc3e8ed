"""Shared fixtures: the ../shared recordings (skipped when absent) and the demo."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

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
