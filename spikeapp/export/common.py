"""What every export needs: the units' spike trains with their metadata, and atomic writing of
files and folders (an export never leaves a half-written file or touches an existing one until
the new one is complete)."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from spikeapp import __version__
from spikeapp.errors import SpikeappError
from spikeapp.session.state import HUMAN, IMPORTED, NETWORK, Session, Unit

LABELLED_BY = {HUMAN: "human", NETWORK: "network", IMPORTED: "imported"}
MEAN_OF = 5000  # spikes a mean waveform is computed from, at most


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
            _iso(session.assigned_at[spikes])))
    return trains


def _iso(times: NDArray[np.float64]) -> str:
    from datetime import datetime, timezone

    if not np.isfinite(times).any():
        return ""
    return datetime.fromtimestamp(float(np.nanmax(times)), tz=timezone.utc).isoformat(
        timespec="seconds")


def labelled_by(session: Session, spikes: NDArray[np.int64]) -> NDArray[np.str_]:
    names = np.full(len(spikes), "none", dtype=object)
    for code, name in LABELLED_BY.items():
        names[session.source[spikes] == code] = name
    return names


def group_waveforms(session: Session, spikes: NDArray[np.int64]) -> NDArray[np.float32]:
    """Waveforms (spikes x channels x samples, µV) on the channels of the spikes' group only
    (detections pad smaller groups to the widest)."""
    d = session.detection
    width = len(d.group_members(int(d.channels[spikes[0]]))) if len(spikes) else 0
    return np.asarray(d.waveforms[spikes][:, :width], dtype=np.float32)


def mean_waveform(session: Session, spikes: NDArray[np.int64]) -> NDArray[np.float32]:
    """Mean waveform (channels x samples, µV) from at most MEAN_OF spikes spread over time."""
    return group_waveforms(session, spikes[:: max(1, -(-len(spikes) // MEAN_OF))]).mean(axis=0)


def duration_s(session: Session) -> tuple[float, float]:
    d = session.detection
    return d.t_start, d.t_start + d.n_samples / d.sampling_rate


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _check_folder(path: Path) -> Path:
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise SpikeappError(f"{path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise SpikeappError(f"{path}: cannot write in {folder} (permission denied)")
    return folder


@contextlib.contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block ends without an error, the file
    is synced and renamed over ``path``; otherwise it is removed and ``path`` is untouched."""
    path = Path(path)
    folder = _check_folder(path)
    # The suffix stays last (writers such as pynwb check it).
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{path.suffix}",
                                         dir=folder)
    os.close(handle)
    os.unlink(temporary)  # writers that refuse an existing file get a fresh name
    temporary = Path(temporary)
    try:
        yield temporary
        with open(temporary, "rb+") as stream:
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o666 & ~_umask())  # as any new file, not private like a temp file
        os.replace(temporary, path)
    except OSError as error:
        raise SpikeappError(f"{path}: cannot write: {error.strerror or error}") from error
    finally:
        temporary.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_folder(path: str | Path) -> Iterator[Path]:
    """Like atomic_file for a folder: filled beside ``path``, then swapped in; an existing
    folder is replaced only once the new one is complete."""
    path = Path(path)
    folder = _check_folder(path)
    if path.exists() and not path.is_dir():
        raise SpikeappError(f"{path}: exists and is not a folder")
    temporary = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder))
    old = None
    try:
        yield temporary
        os.chmod(temporary, 0o777 & ~_umask())
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
        os.replace(temporary, path)
    except OSError as error:
        if old is not None and not path.exists():
            os.replace(old, path)  # put the previous export back
            old = None
        raise SpikeappError(f"{path}: cannot write: {error.strerror or error}") from error
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
