"""Session files: a zip of arrays and JSON, with a schema version, written atomically."""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from dataclasses import asdict
from pathlib import Path

import numpy as np

from spikeapp import __version__
from spikeapp.detection import DetectionResult
from spikeapp.errors import SpikeappError
from spikeapp.session.state import Session, Unit

SCHEMA_VERSION = 1
SUFFIX = ".spikeapp"
_DETECTION_ARRAYS = ("samples", "times_s", "channels", "peak_channels", "amplitudes",
                     "waveforms", "features", "noise_uv", "channel_ids", "group_ids",
                     "group_channels")
_STATE_ARRAYS = ("assignment", "source", "confidence", "network_version")


def session_bytes(session: Session) -> bytes:
    """The session file's content."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        d = session.detection
        meta = {
            "schema_version": SCHEMA_VERSION, "spikeapp_version": __version__,
            "recording": session.recording, "detection_params": d.params,
            "sampling_rate": d.sampling_rate, "t_start": d.t_start, "n_samples": d.n_samples,
            "recording_path": d.recording_path, "next_unit_id": session.next_unit_id,
            "network_versions": session.network_versions,
            "training_params": session.training_params,
            "units": [asdict(u) for u in session.units.values()],
            "networks": sorted(str(g) for g in session.networks),
        }
        zf.writestr("meta.json", json.dumps(meta, indent=1))
        for name in _DETECTION_ARRAYS:
            _write_array(zf, f"detection/{name}.npy", np.asarray(getattr(d, name)))
        for name in _STATE_ARRAYS:
            _write_array(zf, f"state/{name}.npy", getattr(session, name))
        for group, blob in session.networks.items():
            zf.writestr(f"networks/{group}.pt", blob)
    return buffer.getvalue()


def _write_array(zf: zipfile.ZipFile, name: str, array: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    zf.writestr(name, buffer.getvalue())


def atomic_write(path: str | Path, data: bytes) -> None:
    """Write to a temporary file beside ``path``, fsync, then rename over it."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise SpikeappError(f"{path}: the folder {folder} does not exist")
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as error:
        raise SpikeappError(f"{path}: cannot write there: {error.strerror}") from error
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(temporary, 0o666 & ~mask)  # as any new file, not private like a temp file
        os.replace(temporary, path)
        directory = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    except OSError as error:
        raise SpikeappError(f"{path}: cannot write: {error.strerror or error}") from error
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def save_session(session: Session, path: str | Path) -> None:
    atomic_write(path, session_bytes(session))


def load_session(path: str | Path) -> Session:
    """Open a session file; a corrupt or newer file gives a clear message and is left as is."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as zf:
            meta = json.loads(zf.read("meta.json"))
            version = meta.get("schema_version")
            if not isinstance(version, int) or version > SCHEMA_VERSION:
                raise SpikeappError(
                    f"{path}: written by a newer spikeapp ({meta.get('spikeapp_version', '?')}, "
                    f"session format {version}); this one ({__version__}) reads up to format "
                    f"{SCHEMA_VERSION}")
            arrays = {n: _read_array(zf, f"detection/{n}.npy") for n in _DETECTION_ARRAYS}
            state = {n: _read_array(zf, f"state/{n}.npy") for n in _STATE_ARRAYS}
            networks = {int(g): zf.read(f"networks/{g}.pt") for g in meta.get("networks", [])}
    except SpikeappError:
        raise
    except FileNotFoundError:
        raise SpikeappError(f"{path}: no such file") from None
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, json.JSONDecodeError,
            EOFError, TypeError, AttributeError) as error:
        raise SpikeappError(f"{path}: not a readable spikeapp session (damaged or not a session "
                            f"file: {error})") from error
    detection = DetectionResult(**arrays, sampling_rate=float(meta["sampling_rate"]),
                                t_start=float(meta["t_start"]), n_samples=int(meta["n_samples"]),
                                params=meta["detection_params"],
                                recording_path=meta.get("recording_path", ""))
    n = detection.n_spikes
    if any(len(state[k]) != n for k in state) or len(detection.times_s) != n:
        raise SpikeappError(f"{path}: damaged session (array lengths disagree)")
    units = {int(u["id"]): Unit(**u) for u in meta["units"]}
    return Session(detection=detection, recording=meta.get("recording", {}),
                   assignment=state["assignment"].astype(np.int64), source=state["source"],
                   confidence=state["confidence"], network_version=state["network_version"],
                   units=units, next_unit_id=int(meta["next_unit_id"]), networks=networks,
                   network_versions=int(meta.get("network_versions", 0)),
                   training_params=meta.get("training_params", {}))


def _read_array(zf: zipfile.ZipFile, name: str) -> np.ndarray:
    return np.load(io.BytesIO(zf.read(name)), allow_pickle=False)
