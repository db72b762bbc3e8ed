"""Spike trains as CSV: one row per sorted spike."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from spikeapp.session import Session
from spikeapp.session.storage import atomic_write


def write_spiketrains_csv(session: Session, path: str | Path) -> int:
    """``unit,channel,time_s,confidence`` for every spike in a unit; returns the row count.

    ``channel`` is the channel the spike is largest on (the channel itself when each channel
    is sorted alone). Human labels have confidence 1.
    """
    d = session.detection
    rows = np.nonzero(session.assignment >= 0)[0]
    rows = rows[np.lexsort((d.times_s[rows], session.assignment[rows]))]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["unit", "channel", "time_s", "confidence"])
    for i in rows:
        writer.writerow([session.units[int(session.assignment[i])].name, int(d.peak_channels[i]),
                         f"{d.times_s[i]:.6f}", f"{session.confidence[i]:.4f}"])
    atomic_write(path, buffer.getvalue().encode())
    return len(rows)
