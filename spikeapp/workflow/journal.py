"""The edit journal: every command appended and synced beside the session as it happens, so a
crash or a kill loses at most the edit in flight.

A journal is a folder in the data directory (``journals/<id>/``), one per open session:

- ``manifest.json`` names the base: the saved session file that holds the detection and the
  state the journal starts from, or, for a session never saved, ``detection.spikeapp`` (a copy
  of the detection written once) and a checkpoint of the state;
- ``state-<seq>.spikeapp``: a checkpoint of the sorting state after record ``seq``; it names the
  detection by fingerprint instead of copying its waveforms, so it costs what the state costs;
- ``journal-<seq>.bin``: the records after that checkpoint. Each record is framed (a magic, the
  length, a CRC32) around an uncompressed ``npz`` payload: the command's differences as arrays
  and its metadata as JSON. A torn last record (the write a kill interrupted) is dropped.

Everything is written by one background thread, in order; the caller's thread only queues
immutable records and snapshots. Opening replays the records after the last checkpoint through
a fresh undo history, so undo works on the recovered edits too.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import re
import shutil
import socket
import struct
import threading
import time
import uuid
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from spikeapp.atomic import atomic_write, sync_folder
from spikeapp.errors import SpikeappError
from spikeapp.session import commands as cmd
from spikeapp.session.state import Session, Unit
from spikeapp.session.storage import (
    detection_fingerprint,
    load_session,
    save_session,
)

log = logging.getLogger(__name__)

MAGIC = b"SPKJ"
_HEADER = struct.Struct("<4sQI")   # magic, payload length, crc32 of the payload
MANIFEST = "manifest.json"
MANIFEST_COPY = "manifest-copy.json"   # a second copy: a damaged manifest loses no journal
DETECTION_COPY = "detection.spikeapp"
CHECKPOINT_EVERY = 200             # records between two checkpoints
CHECKPOINT_BYTES = 256 * 2**20     # or when the journal file grows past this,
CHECKPOINT_STATES = 4              # or past this many copies of the state, if more (a copy of
                                   # the state is made on the GUI thread: 250 MB at 10M spikes)
_LIVE: set[str] = set()            # journal folders open in this process (not crashed)


def default_data_dir() -> Path:
    """Where journals and the log live: $SPIKEAPP_DATA, else ~/.local/share/spikeapp."""
    configured = os.environ.get("SPIKEAPP_DATA")
    return Path(configured) if configured else Path.home() / ".local" / "share" / "spikeapp"


# -- records ---------------------------------------------------------------------------------------
def _encode_change(change: cmd.Change, prefix: str, arrays: dict[str, np.ndarray]) -> dict:
    if isinstance(change, cmd._Compound):
        return {"description": change.description,
                "parts": [_encode_change(part, f"{prefix}{k}.", arrays)
                          for k, part in enumerate(change.changes)]}
    arrays[f"{prefix}spikes"] = np.asarray(change.spikes, np.int64)
    if change.only is not None:
        arrays[f"{prefix}only"] = np.asarray(change.only, np.bool_)
    packed = {}
    for side, values in (("before", change.before), ("after", change.after)):
        for name, value in values.items():
            if isinstance(value, cmd.Mostly):
                packed[f"{side}.{name}"] = value.length
                arrays[f"{prefix}{side}.{name}.value"] = np.asarray([value.value],
                                                                    value.values.dtype)
                arrays[f"{prefix}{side}.{name}.positions"] = value.positions
                arrays[f"{prefix}{side}.{name}.values"] = value.values
            else:
                arrays[f"{prefix}{side}.{name}"] = np.asarray(value)
    networks = {}
    for side, blobs in (("before", change.networks_before), ("after", change.networks_after)):
        networks[side] = {}
        for group, blob in blobs.items():
            networks[side][str(group)] = blob is not None
            if blob is not None:
                arrays[f"{prefix}net.{side}.{group}"] = np.frombuffer(blob, np.uint8)

    def units(side: dict[int, Unit | None]) -> dict:
        return {str(k): (asdict(u) if u is not None else None) for k, u in side.items()}

    return {"description": change.description, "fields": {
        "before": sorted(change.before), "after": sorted(change.after)},
        "units_before": units(change.units_before), "units_after": units(change.units_after),
        "counters_before": list(change.counters_before),
        "counters_after": list(change.counters_after), "networks": networks,
        "packed": packed}


def _decode_change(meta: dict, prefix: str, arrays: dict[str, np.ndarray]) -> cmd.Change:
    if "parts" in meta:
        return cmd.combine(meta["description"], [
            _decode_change(part, f"{prefix}{k}.", arrays) for k, part in enumerate(meta["parts"])])

    def units(side: dict) -> dict[int, Unit | None]:
        return {int(k): (Unit(**u) if u is not None else None) for k, u in side.items()}

    networks: dict[str, dict[int, bytes | None]] = {"before": {}, "after": {}}
    for side in networks:
        for group, present in meta["networks"][side].items():
            networks[side][int(group)] = (arrays[f"{prefix}net.{side}.{group}"].tobytes()
                                          if present else None)
    packed = meta.get("packed", {})

    def values(side: str, name: str) -> np.ndarray | cmd.Mostly:
        key = f"{prefix}{side}.{name}"
        if f"{side}.{name}" in packed:
            return cmd.Mostly(packed[f"{side}.{name}"], arrays[f"{key}.value"][0],
                              arrays[f"{key}.positions"], arrays[f"{key}.values"])
        return arrays[key]

    return cmd.Change(
        meta["description"], arrays[f"{prefix}spikes"],
        {n: values("before", n) for n in meta["fields"]["before"]},
        {n: values("after", n) for n in meta["fields"]["after"]},
        units(meta["units_before"]), units(meta["units_after"]),
        tuple(meta["counters_before"]), tuple(meta["counters_after"]),
        networks["before"], networks["after"], only=arrays.get(f"{prefix}only"))


def encode_record(seq: int, op: str, change: cmd.Change | None = None,
                  data: dict[str, Any] | None = None) -> list[bytes | memoryview]:
    """One framed record, as the pieces to write in order: ``op`` is do, undo, redo (with the
    change) or meta (with ``data``). The payload is a JSON header (the record's metadata and
    its arrays' dtypes and shapes) followed by the arrays' raw bytes, which are never copied:
    the CRC and the file write read them in place, without holding the interpreter (the window
    keeps drawing while a million-spike change is journalled)."""
    arrays: dict[str, np.ndarray] = {}
    meta: dict[str, Any] = {"seq": seq, "op": op, "time": time.time(), "data": data or {}}
    if change is not None:
        meta["change"] = _encode_change(change, "c.", arrays)
        meta["target"] = getattr(change, "journal_seq", seq)
    contiguous = {name: np.ascontiguousarray(a) for name, a in arrays.items()}
    meta["arrays"] = [[name, a.dtype.str, list(a.shape)] for name, a in contiguous.items()]
    head = json.dumps(meta).encode()
    pieces: list[bytes | memoryview] = [struct.pack("<I", len(head)), head]
    pieces += [memoryview(a).cast("B") for a in contiguous.values() if a.size]
    crc, length = 0, 0
    for piece in pieces:
        crc = zlib.crc32(piece, crc)
        length += len(piece)
    return [_HEADER.pack(MAGIC, length, crc), *pieces]


def _decode_payload(payload: bytes) -> tuple[dict, dict[str, np.ndarray]]:
    (size,) = struct.unpack_from("<I", payload, 0)
    meta = json.loads(payload[4:4 + size])
    arrays, offset = {}, 4 + size
    for name, dtype, shape in meta.pop("arrays"):
        kind = np.dtype(dtype)
        count = int(np.prod(shape)) if shape else 1
        arrays[name] = np.frombuffer(payload, kind, count, offset).reshape(shape)
        offset += count * kind.itemsize
    return meta, arrays


def read_records(path: Path) -> tuple[list[tuple[dict, dict[str, np.ndarray]]], bool]:
    """The whole records of a journal file, in order, and whether a torn or damaged tail was
    dropped (the record a kill interrupted)."""
    records, length = _read_whole(path)
    return records, path.exists() and length < path.stat().st_size


def lost_after_damage(path: Path) -> tuple[int, int]:
    """What a damaged journal file loses: the bytes after its last whole record, and how many
    whole records stand after the damage (edits that cannot be replayed, since each builds on
    the ones before it; 0 where only the last record was torn by a kill)."""
    try:
        blob = path.read_bytes()
    except OSError:
        return 0, 0
    _records, length = _read_whole(path)
    later, offset = 0, blob.find(MAGIC, length + 1)
    while offset >= 0 and len(blob) - offset >= _HEADER.size:
        magic, size, crc = _HEADER.unpack_from(blob, offset)
        payload = blob[offset + _HEADER.size: offset + _HEADER.size + size]
        if len(payload) == size and zlib.crc32(payload) == crc:
            later += 1
            offset = blob.find(MAGIC, offset + _HEADER.size + size)
        else:
            offset = blob.find(MAGIC, offset + 1)
    return len(blob) - length, later


def drop_torn_tail(path: Path) -> None:
    """Cut a journal file back to its whole records, so that records appended after a crash
    are not hidden behind the torn one."""
    _records, length = _read_whole(path)
    if path.exists() and length < path.stat().st_size:
        with open(path, "r+b") as stream:
            stream.truncate(length)
            os.fsync(stream.fileno())


def _read_whole(path: Path) -> tuple[list[tuple[dict, dict[str, np.ndarray]]], int]:
    records: list[tuple[dict, dict[str, np.ndarray]]] = []
    try:
        blob = path.read_bytes()
    except FileNotFoundError:
        return records, 0
    offset = 0
    while len(blob) - offset >= _HEADER.size:
        magic, length, crc = _HEADER.unpack_from(blob, offset)
        payload = blob[offset + _HEADER.size: offset + _HEADER.size + length]
        if magic != MAGIC or len(payload) != length or zlib.crc32(payload) != crc:
            break
        records.append(_decode_payload(payload))
        offset += _HEADER.size + length
    return records, offset


def decode_change(meta: dict, arrays: dict[str, np.ndarray]) -> cmd.Change:
    change = _decode_change(meta["change"], "c.", arrays)
    change.journal_seq = meta.get("target", meta["seq"])
    return change


# -- the journal -----------------------------------------------------------------------------------
def snapshot_state(session: Session) -> Session:
    """A copy of the sorting state sharing the (immutable) detection: what a checkpoint or a
    background save writes while the user goes on editing. Copies ~25 bytes per spike."""
    return Session(session.detection, recording=json.loads(json.dumps(session.recording)),
                   assignment=session.assignment.copy(), source=session.source.copy(),
                   confidence=session.confidence.copy(),
                   network_version=session.network_version.copy(),
                   assigned_at=session.assigned_at.copy(), units=dict(session.units),
                   next_unit_id=session.next_unit_id, networks=dict(session.networks),
                   network_versions=session.network_versions,
                   training_params=json.loads(json.dumps(session.training_params)))


@dataclass
class _Item:
    kind: str                       # record, checkpoint, detection, stop
    payload: Any = None
    done: threading.Event = field(default_factory=threading.Event)


class Journal:
    """An open journal: :meth:`append` queues a record, a background thread writes and syncs it.

    Errors of the writer (a full disk, a folder removed) are kept in :attr:`error`; the
    Workspace reports them and goes on (the user can still save).
    """

    def __init__(self, folder: Path, manifest: dict[str, Any], seq: int = 0) -> None:
        self.folder = folder
        self.manifest = manifest
        self.seq = seq
        self.error: str | None = None
        self._since_checkpoint = 0
        self._bytes = 0
        self.state_bytes = 0   # what a checkpoint copies
        self._queue: queue.Queue[_Item] = queue.Queue()
        self._stream = None
        self._unsynced = False
        self._detection = None   # a new journal's detection, until its fingerprint is known
        self.token = str(manifest.setdefault("token", uuid.uuid4().hex[:12]))
        self._thread = threading.Thread(target=self._run, name="spikeapp-journal", daemon=True)
        _LIVE.add(str(folder))
        self._thread.start()

    # -- creating and opening ------------------------------------------------------------------
    @classmethod
    def start(cls, data_dir: Path, session: Session, session_path: Path | None,
              name: str, copy_detection: bool = False) -> Journal:
        """A new journal for ``session`` as it is now: based on its saved file when it has one
        (nothing is copied), else on a copy of its detection and a checkpoint of its state,
        both written in the background. ``copy_detection``: copied even where the session has
        a file (its detection grew since: found spikes)."""
        key = (uuid.uuid5(uuid.NAMESPACE_URL, str(Path(session_path).resolve())).hex
               if session_path is not None else uuid.uuid4().hex)
        folder = Path(data_dir) / "journals" / key
        if folder.exists():
            remove_journal(folder)   # a finished journal of the same file
        folder.mkdir(parents=True, exist_ok=True)
        sync_folder(folder.parent)   # the journal's folder itself survives a power cut,
        sync_folder(folder.parent.parent)   # and journals/ in the data folder
        manifest = {"version": 1, "pid": os.getpid(), "host": socket.gethostname(),
                    "session_path": str(Path(session_path).resolve()) if session_path else None,
                    "name": name, "recording": session.recording, "created": time.time(),
                    # Worked out on the writer thread (hashing the spike times takes 25 ms a
                    # million spikes; the first edit must not wait for it).
                    "detection": {"fingerprint": None,
                                  "file": str(Path(session_path).resolve())
                                  if session_path and not copy_detection else None},
                    "checkpoint": None, "journal": "journal-00000000.bin",
                    # Begun by spikes added to the detection: its first checkpoint holds them,
                    # and every edit before them (recovered even with no record after it).
                    "grown": bool(copy_detection)}
        journal = cls(folder, manifest)
        journal._detection = session.detection
        journal.state_bytes = 25 * session.n_spikes
        if session_path is None or copy_detection:
            # The detection never changes in place: the writer copies it as it is.
            journal._queue.put(_Item("detection", (
                session.detection, json.loads(json.dumps(session.recording)))))
            journal._queue.put(_Item("checkpoint", (0, snapshot_state(session))))
        else:
            journal._queue.put(_Item("manifest"))
        return journal

    def append(self, op: str, change: cmd.Change | None = None,
               data: dict[str, Any] | None = None) -> int:
        """Queue one record (the change is not copied: changes are never modified)."""
        self.seq += 1
        self._since_checkpoint += 1
        if change is not None and op == "do":
            # Which change an undo or redo record names: this journal's token and the seq.
            # The seq alone is not enough: a change made before a save (the journal before
            # this one, counting from 1 too) may be undone after it, and replay took it for
            # this journal's change of the same number.
            change.journal_seq = f"{self.token}:{self.seq}"
        self._queue.put(_Item("record", (self.seq, op, change, data)))
        return self.seq

    def checkpoint(self, session: Session) -> None:
        """Queue a checkpoint of the state as it is after the last queued record."""
        self._since_checkpoint = 0
        self._queue.put(_Item("checkpoint", (self.seq, snapshot_state(session))))

    def announce(self) -> None:
        """Queue the manifest (with this process's id): the journal is live again."""
        self._queue.put(_Item("manifest"))

    def wants_checkpoint(self) -> bool:
        return self._since_checkpoint >= CHECKPOINT_EVERY or self._bytes >= max(
            CHECKPOINT_BYTES, CHECKPOINT_STATES * self.state_bytes)

    def flush(self, timeout: float = 60.0) -> bool:
        """Wait until everything queued is on disk."""
        item = _Item("flush")
        self._queue.put(item)
        return item.done.wait(timeout)

    def close(self, remove: bool) -> None:
        """Write what is queued and stop; ``remove`` deletes the journal (the session was saved
        or its edits discarded on purpose)."""
        item = _Item("stop")
        self._queue.put(item)
        self._thread.join(120)
        _LIVE.discard(str(self.folder))
        if remove:
            remove_journal(self.folder)

    # -- the writer thread -------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item.kind == "stop":
                    self._sync()
                    self._close_stream()
                    return
                if item.kind == "flush":
                    self._sync()
                elif self.error is None:
                    self._write(item)
            except (OSError, SpikeappError) as error:
                self.error = f"the edit journal in {self.folder} cannot be written: {error}"
                log.error(self.error)
            finally:
                item.done.set()

    def _write(self, item: _Item) -> None:
        if item.kind == "record":
            seq, op, change, data = item.payload
            pieces = encode_record(seq, op, change, data)
            if self._stream is None:
                self._write_manifest()
                self._stream = open(self.folder / self.manifest["journal"], "ab",  # noqa: SIM115
                                    buffering=0)
                # Its name made durable with it: a power cut took a new journal file, and every
                # record synced into it, until the next checkpoint's manifest synced the folder.
                sync_folder(self.folder)
            for piece in pieces:
                view = memoryview(piece)
                while len(view):   # a raw write may take part of it
                    view = view[self._stream.write(view):]
            self._bytes += sum(len(piece) for piece in pieces)
            self._unsynced = True
            if self._queue.empty():   # group commit: one sync for a burst of edits
                self._sync()
        elif item.kind == "detection":   # streamed to the file: nothing held twice in memory
            detection, recording = item.payload
            save_session(Session(detection, recording=recording), self.folder / DETECTION_COPY,
                         compress=False)
        elif item.kind == "checkpoint":
            seq, state = item.payload
            name = f"state-{seq:08d}.spikeapp"
            save_session(state, self.folder / name,
                         detection_ref=self._fingerprint())
            self._close_stream()
            self.manifest.update(checkpoint=name, checkpoint_seq=seq,
                                 journal=f"journal-{seq:08d}.bin")
            # Empty, even when it exists: the checkpoint holds everything up to seq, and a torn
            # record a crash left there must not sit before the records that follow.
            self._stream = open(self.folder / self.manifest["journal"], "wb",  # noqa: SIM115
                                buffering=0)
            self._write_manifest()
            self._bytes = 0
            keep = {name, self.manifest["journal"], MANIFEST, MANIFEST_COPY, DETECTION_COPY}
            for old in self.folder.iterdir():
                if old.name not in keep and not old.name.startswith("."):
                    old.unlink(missing_ok=True)
        elif item.kind == "manifest":
            self._write_manifest()

    def _fingerprint(self) -> str:
        reference = self.manifest["detection"]
        if reference["fingerprint"] is None:
            reference["fingerprint"] = detection_fingerprint(self._detection)
            self._detection = None
        return reference["fingerprint"]

    def _write_manifest(self) -> None:
        self._fingerprint()
        self.manifest["updated"] = time.time()
        self.manifest.pop("check", None)
        body = json.dumps(self.manifest, indent=1, sort_keys=True)
        # A checksum of the rest: a bit flipped on disk that still reads as JSON is caught, and
        # the other copy is taken.
        text = json.dumps(dict(self.manifest, check=zlib.crc32(body.encode())), indent=1,
                          sort_keys=True).encode()
        atomic_write(self.folder / MANIFEST, text)
        atomic_write(self.folder / MANIFEST_COPY, text)

    def _sync(self) -> None:
        if self._stream is not None and self._unsynced:
            os.fsync(self._stream.fileno())
        self._unsynced = False

    def _close_stream(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None


# -- finding and replaying crashed journals ----------------------------------------------------------
@dataclass
class Crashed:
    """A journal left by a session that did not close: what recovery would bring back."""

    folder: Path
    manifest: dict[str, Any]
    edits: int
    modified: float

    @property
    def session_path(self) -> Path | None:
        path = self.manifest.get("session_path")
        return Path(path) if path else None

    @property
    def name(self) -> str:
        return str(self.manifest.get("name") or self.folder.name)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_NAME = {"journal": re.compile(r"journal-\d{8}\.bin"),
         "checkpoint": re.compile(r"state-\d{8}\.spikeapp")}


def manifest_problem(manifest: Any) -> str | None:
    """Why a manifest read from disk cannot be trusted (None: it can): damaged files must give
    a message, never a KeyError deep in recovery."""
    if not isinstance(manifest, dict):
        return "it is not an object"
    if not isinstance(manifest.get("journal"), str) or not _NAME["journal"].fullmatch(
            manifest["journal"]):
        return "it names no journal file"
    checkpoint = manifest.get("checkpoint")
    if checkpoint is not None and (not isinstance(checkpoint, str)
                                   or not _NAME["checkpoint"].fullmatch(checkpoint)):
        return "it names a checkpoint that is not one"
    detection = manifest.get("detection")
    if not isinstance(detection, dict) or not isinstance(detection.get("fingerprint"), str) or \
            not isinstance(detection.get("file"), (str, type(None))):
        return "its detection reference is damaged"
    for key, kind in (("checkpoint_seq", int), ("pid", int)):
        if manifest.get(key) is not None and (not isinstance(manifest[key], kind)
                                              or isinstance(manifest[key], bool)):
            return f"its {key} is not a number"
    for key in ("session_path", "name", "host"):
        if manifest.get(key) is not None and not isinstance(manifest[key], str):
            return f"its {key} is not text"
    return None


def read_manifest(folder: Path) -> dict | None:
    """A journal folder's manifest: the first of its two copies that reads and can be trusted
    (None when neither does)."""
    for name in (MANIFEST, MANIFEST_COPY):
        try:
            manifest = json.loads((folder / name).read_text())
        except (OSError, ValueError):
            continue
        if manifest_problem(manifest) is None and _checked(manifest):
            return manifest
    return None


def _checked(manifest: dict) -> bool:
    """Whether a manifest's checksum (where it has one: older ones do not) matches the rest."""
    if "check" not in manifest:
        return True
    rest = {k: v for k, v in manifest.items() if k != "check"}
    return manifest["check"] == zlib.crc32(json.dumps(rest, indent=1, sort_keys=True).encode())


def crashed_journals(data_dir: Path) -> list[Crashed]:
    """Journals with edits whose process is gone (a crash, a kill, a power cut), newest first.
    A journal of a spikeapp still running (here or in another process) is not one."""
    found = []
    for left in (Path(data_dir) / "journals").glob(f"{REMOVED}*"):
        shutil.rmtree(left, ignore_errors=True)   # removed, all but the deleting
    folders = {p.parent for name in (MANIFEST, MANIFEST_COPY)
               for p in (Path(data_dir) / "journals").glob(f"*/{name}")
               if not p.parent.name.startswith(".")}
    for folder in sorted(folders):
        if str(folder) in _LIVE:
            continue
        manifest = read_manifest(folder)
        if manifest is None:
            log.error("%s: a journal whose manifest is damaged (both copies): its edits cannot "
                      "be recovered", folder)
            continue
        pid, host = manifest.get("pid"), manifest.get("host")
        if isinstance(pid, int) and host == socket.gethostname() and pid != os.getpid() \
                and _alive(pid):
            continue
        log_file = folder / manifest["journal"]
        records, _torn = read_records(log_file)
        # A journal begun on a grown copy of the detection (template matching found spikes)
        # holds an edit, and the edits before it, even before any record. A journal file with
        # bytes but no whole record was damaged at its start: there were edits.
        grown = bool(manifest.get("grown"))
        damaged = not records and log_file.exists() and log_file.stat().st_size > 0
        if not records and not manifest.get("checkpoint_seq") and not grown and not damaged:
            continue   # nothing was edited after the last save: nothing to recover
        stamp = max((folder / n).stat().st_mtime for n in (MANIFEST, MANIFEST_COPY)
                    if (folder / n).exists())
        found.append(Crashed(folder, manifest, len(records) + int(
            manifest.get("checkpoint_seq") or 0) + int(grown), stamp))
    return sorted(found, key=lambda c: -c.modified)


def crashed_journal_of(data_dir: Path, session_path: Path) -> Crashed | None:
    target = str(Path(session_path).resolve())
    for crashed in crashed_journals(data_dir):
        if crashed.manifest.get("session_path") == target:
            return crashed
    return None


def replay(crashed: Crashed) -> tuple[Session, cmd.History, int, bool]:
    """The session a crashed journal holds: its base, then every whole record, through a new
    history. Returns the session, the history, the last record's seq and whether a torn record
    was dropped. A base that is gone or changed gives a clear error."""
    manifest = crashed.manifest
    reference = manifest["detection"]
    base_file = Path(reference["file"]) if reference.get("file") else None
    copy = crashed.folder / DETECTION_COPY
    holder = copy if copy.exists() else base_file
    if holder is None or not holder.exists():
        if base_file is None:
            raise SpikeappError(f"cannot recover {crashed.name}: its journal is incomplete (the "
                                "copy of the detection it starts from is missing)")
        raise SpikeappError(f"cannot recover {crashed.name}: its session file {base_file} is "
                            "gone")
    base = load_session(holder)
    if detection_fingerprint(base.detection) != reference["fingerprint"]:
        raise SpikeappError(f"cannot recover {crashed.name}: {holder} was replaced by another "
                            "session since the edits were made")
    if manifest.get("checkpoint"):
        session = load_session(crashed.folder / manifest["checkpoint"], base.detection)
    else:
        session = base
    history = cmd.History(session)
    seq = int(manifest.get("checkpoint_seq") or 0)
    records, torn = read_records(crashed.folder / manifest["journal"])
    for meta, arrays in records:
        if meta["seq"] <= seq:
            continue
        seq = meta["seq"]
        apply_record(session, history, meta, arrays)
    return session, history, seq, torn


def apply_record(session: Session, history: cmd.History, meta: dict,
                 arrays: dict[str, np.ndarray]) -> None:
    """Replay one record; an undo or redo whose change is no longer on the stacks (it was made
    before the last checkpoint) is applied from the record itself."""
    op = meta["op"]
    if op == "meta":
        data = meta["data"]
        if "recording" in data:
            session.recording = data["recording"]
        if "training_params" in data:
            session.training_params = data["training_params"]
        return
    change = decode_change(meta, arrays)
    if op == "do":
        history.do(change)
    elif op == "undo":
        top = history.next_undo
        if top is not None and getattr(top, "journal_seq", None) == change.journal_seq:
            history.undo()
        else:
            cmd.step(session, change, forward=False)
    elif op == "redo":
        top = history.next_redo
        if top is not None and getattr(top, "journal_seq", None) == change.journal_seq:
            history.redo()
        else:
            cmd.step(session, change, forward=True)


def discard(crashed: Crashed) -> None:
    """The user chose not to recover: the journal goes."""
    remove_journal(crashed.folder)


REMOVED = ".removed-"   # a journal on its way out: renamed first, then deleted


def remove_journal(folder: Path) -> None:
    """Remove a journal folder all at once for a power cut: renamed out of the journals' way
    and the rename made durable, then deleted. Deleted file by file, a power cut could leave
    part of it (its old checkpoint without the records after it, say), recovered as edits
    that were saved or discarded; and a new journal of the same file, in a folder of the same
    name, could mix with what was left of the old one."""
    folder = Path(folder)
    if not folder.exists():
        return
    gone = folder.with_name(f"{REMOVED}{folder.name}-{uuid.uuid4().hex[:8]}")
    try:
        os.replace(folder, gone)
        sync_folder(folder.parent)
    except OSError:
        gone = folder
    shutil.rmtree(gone, ignore_errors=True)
