"""Spike trains as CSV: one row per sorted spike."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from spikeapp.atomic import atomic_write
from spikeapp.export.common import iso_time, labelled_by
from spikeapp.session import Session

CSV_COLUMNS = ["unit", "channel", "time_s", "confidence", "labelled_by", "network_version",
               "labelled_at"]


def write_spiketrains_csv(session: Session, path: str | Path) -> int:
    """``unit,channel,time_s,confidence,labelled_by`` for every spike in a unit, by unit then
    time; returns the row count.

    ``channel`` is the channel the spike is largest on (the channel itself when each channel
    is sorted alone). Human labels have confidence 1; ``labelled_by`` is human, network,
    imported or template (found by its unit's template under the threshold, ``sort
    --recover``); ``network_version`` which network (empty for a person's label);
    ``labelled_at`` when (ISO 8601, UTC; empty when unknown). Times have 9 decimals: the sample
    times of any rate up to 1 MHz read back exactly.
    """
    d = session.detection
    rows = np.nonzero(session.assignment >= 0)[0]
    rows = rows[np.lexsort((d.times_s[rows], session.assignment[rows]))]
    by = labelled_by(session, rows)
    names = {unit_id: unit.name for unit_id, unit in session.units.items()}
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for i, who in zip(rows, by):
        version = int(session.network_version[i])
        when = session.assigned_at[i]
        writer.writerow([names[int(session.assignment[i])], int(d.peak_channels[i]),
                         f"{d.times_s[i]:.9f}", f"{session.confidence[i]:.4f}", who,
                         version if who == "network" and version >= 0 else "",
                         iso_time(when)])
    atomic_write(path, buffer.getvalue().encode())
    return len(rows)
