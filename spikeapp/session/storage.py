"""Session files: a zip of arrays and JSON, with a schema version, written atomically."""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import time
import zipfile
from dataclasses import asdict
from pathlib import Path
from typing import BinaryIO

import numpy as np

from spikeapp import __version__
from spikeapp.atomic import atomic_file
from spikeapp.detection import DetectionResult
from spikeapp.errors import SpikeappError
from spikeapp.session.state import PER_SPIKE, Session, Unit

SCHEMA_VERSION = 1
SUFFIX = ".spikeapp"
_DETECTION_ARRAYS = ("samples", "times_s", "channels", "peak_channels", "amplitudes",
                     "waveforms", "features", "noise_uv", "channel_ids", "group_ids",
                     "group_channels", "origin")
_OPTIONAL_DETECTION = {"origin"}  # files written before template matching lack it
_STATE_ARRAYS = PER_SPIKE
_OPTIONAL_STATE = {"assigned_at"}  # files written before provenance times lack it


def detection_fingerprint(detection: DetectionResult) -> str:
    """A content fingerprint of a detection (its spike times, groups, shapes and a sample of its
    waveforms): a state file that references a detection names it by this. Cheap even at
    millions of spikes: the waveforms are sampled, everything else is hashed whole, in place
    (a copy of ten million spike times held the interpreter for 100 ms, and the journal's
    thread makes one after every save). Kept with the detection, which never changes in
    place."""
    known = getattr(detection, "_fingerprint", None)
    if known is not None:
        return known
    digest = hashlib.blake2b(digest_size=16)
    d = detection
    step = max(1, d.n_spikes // 4096)
    for array in (d.samples, d.channels, d.group_ids, d.group_channels, d.channel_ids,
                  d.waveforms[::step], d.features[::step]):
        array = np.ascontiguousarray(array)
        digest.update(str((array.dtype.str, array.shape)).encode())
        digest.update(memoryview(array).cast("B") if array.size else b"")
    digest.update(repr((float(d.sampling_rate), float(d.t_start), int(d.n_samples),
                        tuple(np.shape(d.waveforms)))).encode())
    detection._fingerprint = digest.hexdigest()
    return detection._fingerprint


MAPPED = "detection/waveforms.npy"   # stored as is, not deflated: opened memory-mapped
LARGE = 1 << 30                      # members this big get zip64 headers from the start
WRITE_PIECE = 4 << 20                # bytes of an array handed to the zip file at a time


def session_bytes(session: Session, detection_ref: str | None = None,
                  compress: bool = True) -> bytes:
    """The session file's content. With ``detection_ref`` (the detection's fingerprint) the
    detection's arrays are left out and the file names the detection instead: the journal's
    checkpoints are written so, and cost no more than the sorting state itself. ``compress``
    False stores the arrays as they are (the journal's copy of a detection: written at the
    first edit, it must not keep the edits waiting)."""
    buffer = io.BytesIO()
    write_session(buffer, session, detection_ref, compress)
    return buffer.getvalue()


def write_session(stream: BinaryIO, session: Session, detection_ref: str | None = None,
                  compress: bool = True) -> None:
    """The session file written into ``stream`` as it goes (nothing held twice in memory).
    The waveforms, the bulk of a detection, are stored, not deflated, so that opening the file
    maps them instead of reading them (noisy float32 deflates by a few per cent anyway)."""
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(stream, "w", compression=method, compresslevel=1) as zf:
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
        if detection_ref is not None:
            meta["detection_ref"] = detection_ref
        zf.writestr("meta.json", json.dumps(meta, indent=1))
        for name in _DETECTION_ARRAYS if detection_ref is None else ():
            path = f"detection/{name}.npy"
            _write_array(zf, path, np.asarray(getattr(d, name)),
                         zipfile.ZIP_STORED if path == MAPPED else method)
        for name in _STATE_ARRAYS:
            _write_array(zf, f"state/{name}.npy", getattr(session, name), method)
        for group, blob in session.networks.items():
            zf.writestr(f"networks/{group}.pt", blob)


def _write_array(zf: zipfile.ZipFile, name: str, array: np.ndarray, method: int) -> None:
    """One .npy member, its bytes handed over in pieces of WRITE_PIECE without copies: numpy's
    own writer copies 64 MB at a time while holding the interpreter, and a save or the journal
    writing the detection then froze the window a tenth of a second at a time."""
    info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
    info.compress_type = method
    info.external_attr = 0o644 << 16
    array = np.ascontiguousarray(array)
    if array.dtype.hasobject:
        raise SpikeappError(f"{name}: an array of Python objects cannot be saved")
    with zf.open(info, "w", force_zip64=array.nbytes >= LARGE) as out:
        _write_header(out, array)
        flat = array.reshape(-1).view(np.uint8)
        for start in range(0, len(flat), WRITE_PIECE):
            out.write(memoryview(flat[start:start + WRITE_PIECE]))


def _write_header(out: BinaryIO, array: np.ndarray) -> None:
    header = np.lib.format.header_data_from_array_1_0(array)
    try:
        np.lib.format.write_array_header_1_0(out, header)
    except ValueError:   # a header longer than format 1.0 allows
        np.lib.format.write_array_header_2_0(out, header)


def save_session(session: Session, path: str | Path, detection_ref: str | None = None,
                 compress: bool = True, verify: bool = False) -> None:
    """The session written to ``path`` as it goes, atomically (see :func:`write_session`).

    ``verify``: the file written is read back and compared with ``session`` before it takes
    the place of the previous one; a file that does not open, or opens as another state, is
    refused (SpikeappError), the previous file left as it was. A user's save does this: the
    journal, the only other copy of the edits, is removed once the save is done."""
    with atomic_file(path) as temporary:
        with open(temporary, "wb") as stream:
            write_session(stream, session, detection_ref, compress)
        if verify:
            check_written(temporary, session, Path(path))


def check_written(written: Path, session: Session, target: Path | None = None) -> None:
    """Raise SpikeappError unless the file ``written`` opens as ``session``'s state."""
    from spikeapp.session.invariants import states_equal

    name = target or written
    try:
        back = load_session(written, session.detection if _references(written) else None)
    except SpikeappError as problem:
        reason = str(problem).replace(str(written), "the file written")
        raise SpikeappError(f"{name}: not saved, the file written would not open ({reason}); "
                            "the previous file and the unsaved edits are kept") from problem
    differences = states_equal(back, session)
    if back.recording != json.loads(json.dumps(session.recording)):
        differences.append("the recording's reference differs")
    if differences:
        raise SpikeappError(f"{name}: not saved, the file written reads back as another state "
                            f"({'; '.join(differences[:3])}); the previous file and the unsaved "
                            "edits are kept")


def _references(path: Path) -> bool:
    with zipfile.ZipFile(path) as zf:
        return "detection_ref" in json.loads(zf.read("meta.json"))


def load_session(path: str | Path, detection: DetectionResult | None = None) -> Session:
    """Open a session file; a corrupt or newer file gives a clear message and is left as is.

    Everything read is checked (types, shapes, lengths, unit references) before a Session is
    built, so a damaged file never opens half-working. A file that references its detection by
    fingerprint (a journal checkpoint) needs that ``detection``.
    """
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as zf:
            meta = json.loads(zf.read("meta.json"))
            if not isinstance(meta, dict):
                raise _Damaged("meta.json is not an object")
            version = meta.get("schema_version")
            if not isinstance(version, int) or version > SCHEMA_VERSION:
                raise SpikeappError(
                    f"{path}: written by a newer spikeapp ({meta.get('spikeapp_version', '?')}, "
                    f"session format {version}); this one ({__version__}) reads up to format "
                    f"{SCHEMA_VERSION}")
            names = set(zf.namelist())
            reference = meta.get("detection_ref")
            if reference is not None:
                if detection is None or detection_fingerprint(detection) != reference:
                    raise SpikeappError(f"{path}: holds the sorting of a detection ({reference}) "
                                        "that is not the one given")
                arrays = {n: getattr(detection, n) for n in _DETECTION_ARRAYS}
            else:
                arrays = {n: _read_array(zf, f"detection/{n}.npy", path)
                          for n in _DETECTION_ARRAYS
                          if n not in _OPTIONAL_DETECTION or f"detection/{n}.npy" in names}
            state = {n: _read_array(zf, f"state/{n}.npy") for n in _STATE_ARRAYS
                     if n not in _OPTIONAL_STATE or f"state/{n}.npy" in names}
            networks = {int(g): zf.read(f"networks/{g}.pt") for g in meta.get("networks", [])}
        return _build(meta, arrays, state, networks)
    except SpikeappError:
        raise
    except FileNotFoundError:
        raise SpikeappError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SpikeappError(f"{path}: is a folder, not a session file") from None
    except PermissionError:
        raise SpikeappError(f"{path}: cannot read it (permission denied)") from None
    except MemoryError:
        raise SpikeappError(f"{path}: damaged session (it asks for more memory than there "
                            "is)") from None
    except (_Damaged, zipfile.BadZipFile, zipfile.LargeZipFile, KeyError, ValueError, OSError,
            EOFError, TypeError, AttributeError, IndexError, OverflowError, RuntimeError,
            NotImplementedError, UnicodeDecodeError) as error:
        # zlib.error is a subclass of Exception only; it is caught through the zip reader as
        # BadZipFile or here by name below.
        raise SpikeappError(f"{path}: not a readable spikeapp session (damaged or not a session "
                            f"file: {error})") from error
    except Exception as error:  # noqa: BLE001 - zlib.error and friends: still a damaged file
        if type(error).__module__ in ("zlib", "zipfile", "numpy", "json"):
            raise SpikeappError(f"{path}: not a readable spikeapp session (damaged: "
                                f"{error})") from error
        raise


class _Damaged(ValueError):
    pass


def _build(meta: dict, arrays: dict, state: dict, networks: dict) -> Session:
    """A Session from what a file holds, after checking that it fits together."""
    def number(key: str, kind=float):
        value = meta.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
            raise _Damaged(f"{key} is not a number")
        return kind(value)

    for name, kind in (("samples", "iu"), ("channels", "iu"), ("peak_channels", "iu"),
                       ("channel_ids", "iu"), ("group_ids", "iu"), ("group_channels", "iu"),
                       ("times_s", "f"), ("amplitudes", "f"), ("waveforms", "f"),
                       ("features", "f"), ("noise_uv", "f")):
        if arrays[name].dtype.kind not in kind:
            raise _Damaged(f"detection/{name} has the wrong type ({arrays[name].dtype})")
    for name, kind in (("assignment", "iu"), ("source", "iu"), ("confidence", "f"),
                       ("network_version", "iu"), ("assigned_at", "f")):
        if name in state and state[name].dtype.kind not in kind:
            raise _Damaged(f"state/{name} has the wrong type ({state[name].dtype})")
    if "origin" in arrays and arrays["origin"].dtype.kind not in "iu":
        raise _Damaged(f"detection/origin has the wrong type ({arrays['origin'].dtype})")
    n = len(arrays["samples"])
    one_d = ("samples", "times_s", "channels", "peak_channels", "amplitudes") + (
        ("origin",) if "origin" in arrays else ())
    if any(arrays[k].ndim != 1 or len(arrays[k]) != n for k in one_d) or \
            arrays["waveforms"].ndim != 3 or len(arrays["waveforms"]) != n or \
            arrays["features"].ndim != 2 or len(arrays["features"]) != n or \
            any(state[k].ndim != 1 or len(state[k]) != n for k in state):
        raise _Damaged("array lengths disagree")
    groups = arrays["group_ids"]
    if arrays["group_channels"].ndim != 2 or len(arrays["group_channels"]) != len(groups):
        raise _Damaged("channel groups disagree")
    if n and not np.isin(arrays["channels"], groups).all():
        raise _Damaged("spikes name channel groups that do not exist")
    if not isinstance(meta.get("units"), list):
        raise _Damaged("units are missing")
    units = {}
    for entry in meta["units"]:
        if not isinstance(entry, dict):
            raise _Damaged("a unit is not an object")
        unit = Unit(**entry)
        if not isinstance(unit.id, int) or not isinstance(unit.name, str) or \
                not isinstance(unit.group, int) or not isinstance(unit.colour, str):
            raise _Damaged(f"unit {entry!r} has fields of the wrong type")
        units[unit.id] = unit
    assignment = state["assignment"].astype(np.int64)
    referenced = set(np.unique(assignment[assignment >= 0]).tolist())
    if referenced - set(units):
        raise _Damaged(f"spikes belong to units {sorted(referenced - set(units))[:5]} that the "
                       "file does not describe")
    if (assignment < -2).any():
        raise _Damaged("unknown assignment codes")
    for key in ("recording", "detection_params", "training_params"):
        if not isinstance(meta.get(key, {}), dict):
            raise _Damaged(f"{key} is not an object")
    detection = DetectionResult(**arrays, sampling_rate=number("sampling_rate"),
                                t_start=number("t_start"), n_samples=number("n_samples", int),
                                params=meta["detection_params"],
                                recording_path=str(meta.get("recording_path", "")))
    if detection.sampling_rate <= 0:
        raise _Damaged("the sampling rate is not positive")
    next_unit_id = number("next_unit_id", int)
    if units and next_unit_id <= max(units):
        raise _Damaged("the next unit id is already taken")
    return Session(detection=detection, recording=meta.get("recording", {}),
                   assignment=assignment, source=state["source"].astype(np.int8),
                   confidence=state["confidence"].astype(np.float32),
                   network_version=state["network_version"].astype(np.int32),
                   assigned_at=(state["assigned_at"].astype(np.float64) if "assigned_at" in state
                                else None), units=units,
                   next_unit_id=next_unit_id, networks=networks,
                   network_versions=int(meta.get("network_versions", 0)),
                   training_params=meta.get("training_params", {}))


def _read_array(zf: zipfile.ZipFile, name: str, path: Path | None = None) -> np.ndarray:
    """An array of the file: the waveforms memory-mapped where they are stored as they are
    (they stay on disk; pages are read as views need them), everything else read."""
    info = zf.getinfo(name)
    if name == MAPPED and path is not None and info.compress_type == zipfile.ZIP_STORED \
            and os.name != "nt":   # Windows cannot replace a mapped file: save would fail
        return _map_array(path, info)
    return np.load(io.BytesIO(zf.read(name)), allow_pickle=False)


def _map_array(path: Path, info: zipfile.ZipInfo) -> np.ndarray:
    """A stored .npy member of the zip at ``path``, mapped read-only."""
    with open(path, "rb") as stream:
        stream.seek(info.header_offset)
        header = stream.read(30)
        if len(header) != 30 or header[:4] != b"PK\x03\x04":
            raise _Damaged(f"{info.filename}: no local header where the directory says")
        name_length, extra_length = struct.unpack("<HH", header[26:30])
        start = info.header_offset + 30 + name_length + extra_length
        stream.seek(start)
        version = np.lib.format.read_magic(stream)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
            np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(stream)
        offset = stream.tell()
    if dtype.hasobject:
        raise _Damaged(f"{info.filename}: holds Python objects")
    count = int(np.prod(shape, dtype=np.int64))
    if offset - start + count * dtype.itemsize > info.file_size:
        raise _Damaged(f"{info.filename}: shorter than its shape {shape}")
    if count == 0:
        return np.zeros(shape, dtype)
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape,
                     order="F" if fortran else "C")
