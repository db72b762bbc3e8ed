"""`spikeapp gui --demo --screenshot PNG`: the window renders sorted units without a screen."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
from PyQt6.QtGui import QImage

from spikeapp.session.state import PALETTE


def test_demo_screenshot_shows_sorted_units(tmp_path, qapp):
    shot = tmp_path / "window.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path))
    result = subprocess.run([sys.executable, "-m", "spikeapp", "gui", "--demo", "--screenshot",
                             str(shot)], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    image = QImage(str(shot)).convertToFormat(QImage.Format.Format_RGBA8888)
    assert image.width() >= 1000 and image.height() >= 700
    pixels = np.frombuffer(image.constBits().asstring(image.sizeInBytes()), dtype=np.uint8)
    pixels = pixels.reshape(image.height(), image.width(), 4)[..., :3].astype(int)
    shown = [colour for colour in PALETTE[:3]
             if (np.abs(pixels - [int(colour[i:i + 2], 16) for i in (1, 3, 5)]).sum(axis=2)
                 < 30).sum() > 200]
    assert len(shown) == 3, f"unit colours on screen: {shown}"
