"""What every export needs: the units' spike trains with their metadata, and atomic writing of
files and folders (an export never leaves a half-written file or touches an existing one until
the new one is complete)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
from numpy.typing import NDArray

from spikeapp import __version__
from spikeapp.session.state import ACCEPTED, HUMAN, IMPORTED, NETWORK, Session, Unit

LABELLED_BY = {HUMAN: "human", NETWORK: "network", IMPORTED: "imported",
               ACCEPTED: "accepted proposal"}
MEAN_OF = 5000  # spikes a mean waveform is computed from, at most
ARBITRARY = "a.u."  # the signal unit of a recording without a gain to a voltage


@dataclass
class UnitTrain:
    """One unit's spikes (indexes into the detections, in time order) and its metadata."""

    unit: Unit
    spikes: NDArray[np.int64]
    times_s: NDArray[np.float64]
    samples: NDArray[np.int64]
    channels: NDArray[np.int64]           # channel ids of the unit's group
    n_human: int
    n_imported: int
    mean_confidence: float
    network_versions: list[int]
    last_assigned: str = ""               # ISO 8601 (UTC) of the latest assignment

    @property
    def annotations(self) -> dict[str, object]:
        """Plain values (str, int, float) every format can store."""
        return {"unit_id": int(self.unit.id), "unit_name": self.unit.name,
                "channel_group": int(self.unit.group),
                "channels": ",".join(str(c) for c in self.channels),
                "quality": self.unit.quality, "notes": self.unit.notes,
                "n_spikes": len(self.spikes), "n_human_labels": self.n_human,
                "n_imported_labels": self.n_imported,
                "mean_confidence": round(self.mean_confidence, 6),
                "network_versions": ",".join(str(v) for v in self.network_versions),
                "last_assigned": self.last_assigned,
                "sorted_with": f"spikeapp {__version__}"}


def unit_trains(session: Session) -> list[UnitTrain]:
    """Every unit of the session (noise units included: their quality says so), by group and
    id; empty units are left out."""
    d = session.detection
    trains = []
    for unit in sorted(session.units.values(), key=lambda u: (u.group, u.id)):
        spikes = np.flatnonzero(session.assignment == unit.id)
        if len(spikes) == 0:
            continue
        spikes = spikes[np.argsort(d.samples[spikes], kind="stable")]
        source = session.source[spikes]
        versions = session.network_version[spikes]
        trains.append(UnitTrain(
            unit, spikes, d.times_s[spikes], d.samples[spikes],
            np.asarray(d.group_members(unit.group), dtype=np.int64),
            int((source == HUMAN).sum()), int((source == IMPORTED).sum()),
            float(session.confidence[spikes].mean()),
            sorted(set(versions[(source == NETWORK) & (versions >= 0)].tolist())),
            iso_time(np.fmax.reduce(session.assigned_at[spikes]))))
    return trains


def iso_time(epoch: float) -> str:
    """Epoch seconds as ISO 8601 in UTC; empty for NaN (an assignment of unknown time)."""
    if not np.isfinite(epoch):
        return ""
    return datetime.fromtimestamp(float(epoch), tz=timezone.utc).isoformat(timespec="seconds")


def labelled_by(session: Session, spikes: NDArray[np.int64]) -> NDArray[np.str_]:
    """Who put each spike in its unit: human, network, imported, or template (a spike the
    threshold missed, found by its unit's template and kept as a prediction)."""
    names = np.full(len(spikes), "none", dtype=object)
    for code, name in LABELLED_BY.items():
        names[session.source[spikes] == code] = name
    names[(session.source[spikes] == NETWORK) & (session.detection.origin[spikes] == 1)] = \
        "template"
    return names


def signal_unit(session: Session) -> str:
    """The unit of the waveforms: "µV", or ARBITRARY ("a.u.") where the recording gave no gain
    to a voltage; exports must then neither scale the values nor call them volts."""
    return session.detection.signal_unit


def group_waveforms(session: Session, spikes: NDArray[np.int64]) -> NDArray[np.float32]:
    """Waveforms (spikes x channels x samples, in ``signal_unit``) on the channels of the
    spikes' group only (detections pad smaller groups to the widest)."""
    d = session.detection
    width = len(d.group_members(int(d.channels[spikes[0]]))) if len(spikes) else 0
    return np.asarray(d.waveforms[spikes][:, :width], dtype=np.float32)


def mean_waveform(session: Session, spikes: NDArray[np.int64]) -> NDArray[np.float32]:
    """Mean waveform (channels x samples, in ``signal_unit``) from at most MEAN_OF spikes spread
    over time."""
    return group_waveforms(session, spikes[:: max(1, -(-len(spikes) // MEAN_OF))]).mean(axis=0)


def duration_s(session: Session) -> tuple[float, float]:
    d = session.detection
    return d.t_start, d.t_start + d.n_samples / d.sampling_rate
