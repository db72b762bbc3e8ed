"""Hand labels as CSV: ``time_s,channel,unit`` (unit is any name)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from spikeapp.errors import SpikeappError


@dataclass(frozen=True)
class Seeds:
    times_s: NDArray[np.float64]
    channels: NDArray[np.int64]
    units: NDArray[np.str_]


def read_seeds(path: str | Path) -> Seeds:
    """Read and check a seed-label CSV; errors name the file and the line."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = {"time_s", "channel", "unit"} - set(reader.fieldnames or [])
            if missing:
                raise SpikeappError(f"{path}: the seed labels need the columns time_s,channel,unit"
                                    f" (missing: {', '.join(sorted(missing))})")
            times, channels, units = [], [], []
            for line, row in enumerate(reader, start=2):
                try:
                    time_s = float(row["time_s"])
                    channel = int(row["channel"])
                except (TypeError, ValueError):
                    raise SpikeappError(f"{path}, line {line}: time_s must be a number and channel"
                                        f" an integer; got {row['time_s']!r}, {row['channel']!r}"
                                        ) from None
                unit = (row["unit"] or "").strip()
                if not unit or not np.isfinite(time_s) or channel < 0:
                    raise SpikeappError(f"{path}, line {line}: needs a finite time, a channel >= 0"
                                        " and a unit name")
                times.append(time_s)
                channels.append(channel)
                units.append(unit)
    except OSError as error:
        raise SpikeappError(f"{path}: cannot read the seed labels: {error.strerror}") from error
    except UnicodeDecodeError:
        raise SpikeappError(f"{path}: not a text CSV file") from None
    if not times:
        raise SpikeappError(f"{path}: holds no seed labels")
    return Seeds(np.asarray(times), np.asarray(channels, dtype=np.int64),
                 np.asarray(units, dtype=str))


def write_seeds(path: str | Path, times_s, channels, units) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["time_s", "channel", "unit"])
        for t, c, u in zip(times_s, channels, units):
            writer.writerow([f"{t:.6f}", int(c), u])
