"""Files of resources/ (icons, the desktop entry) wherever spikeapp runs from: a checkout, an
installed wheel (they go to <prefix>/share/spikeapp) or a frozen application."""

from __future__ import annotations

import sys
from pathlib import Path


def resource(relative: str) -> Path | None:
    candidates = []
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        candidates.append(Path(frozen) / "resources")
    candidates.append(Path(__file__).resolve().parents[2] / "resources")   # a checkout
    candidates.append(Path(sys.prefix) / "share" / "spikeapp")              # a wheel
    for folder in candidates:
        path = folder / relative
        if path.exists():
            return path
    return None


def app_icon():
    from PyQt6.QtGui import QIcon

    icon = QIcon()
    for size in (16, 24, 32, 48, 64, 128, 256, 512):
        path = resource(f"icons/spikeapp-{size}.png")
        if path is not None:
            icon.addFile(str(path))
    return icon
