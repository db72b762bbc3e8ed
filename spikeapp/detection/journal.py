"""Detection progress kept on disk, so that a cancelled, interrupted or crashed detection of a
long recording resumes where it stopped, and a finished one is reused without detecting again.

A journal is a folder: one raw file per spike field and one for the waveforms, appended chunk
by chunk, and ``state.json`` naming how many spikes and samples are done. The state is written
(atomically) only after the data it counts are on disk, so after any crash the files hold at
least what the state says; the excess is cut off on resume.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from spikeapp.atomic import atomic_write
from spikeapp.errors import SpikeappError

FIELDS = {"samples": np.int64, "offsets": np.float64, "groups": np.int64, "peaks": np.int64,
          "amps": np.float32}
VERSION = 1


def fingerprint(recording, params: dict[str, Any], groups: list[list[int]]) -> dict[str, Any]:
    """What must match for a journal to belong to this detection."""
    path = Path(recording.path)
    stat = path.stat() if path.exists() else None
    return {"version": VERSION, "path": str(path.resolve()) if stat else str(path),
            "size": stat.st_size if stat and path.is_file() else None,
            "mtime": stat.st_mtime if stat else None,
            "n_samples": int(recording.n_samples), "sampling_rate": float(recording.sampling_rate),
            "channel_ids": [int(c) for c in recording.channel_ids],
            "params": {k: v for k, v in params.items()}, "groups": groups}


def cache_folder(print_: dict[str, Any]) -> Path:
    """Where the desktop app keeps the journal of a detection (one folder per recording and
    parameters)."""
    key = hashlib.sha1(json.dumps(print_, sort_keys=True, default=str).encode()).hexdigest()[:16]
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "spikeapp" / "detections" / f"{Path(str(print_['path'])).name}-{key}"


class Journal:
    def __init__(self, folder: str | Path, print_: dict[str, Any],
                 wave_shape: tuple[int, int]) -> None:
        self.folder = Path(folder)
        self.print = json.loads(json.dumps(print_, default=str))  # as it reads back
        self.wave_shape = wave_shape
        self.state: dict[str, Any] | None = None
        self._files: dict[str, Any] = {}

    # -- opening ------------------------------------------------------------------------------
    def open(self) -> dict[str, Any] | None:
        """The saved state when the folder holds a journal of this same detection (its data cut
        back to what the state counts); otherwise a fresh, empty journal and None."""
        state_path = self.folder / "state.json"
        try:
            state = json.loads(state_path.read_text())
            if state.get("fingerprint") != self.print:
                state = None
        except (OSError, ValueError):
            state = None
        if state is not None:
            try:
                self._cut_back(int(state["count"]))
            except (OSError, ValueError, KeyError):
                state = None
        if state is None:
            self._reset()
        self.state = state
        return state

    def _reset(self) -> None:
        if self.folder.exists():
            ours = {f"{name}.bin" for name in [*FIELDS, "waveforms"]} | {"state.json",
                                                                         "state.json.tmp"}
            strangers = [p.name for p in self.folder.iterdir() if p.name not in ours]
            if strangers:
                raise SpikeappError(f"{self.folder}: holds other files ({strangers[0]}...); a "
                                    "detection journal needs a folder of its own")
            shutil.rmtree(self.folder)
        try:
            self.folder.mkdir(parents=True)
            for name in [*FIELDS, "waveforms"]:
                self._path(name).touch()
        except OSError as error:
            raise SpikeappError(f"{self.folder}: cannot keep detection progress there: "
                                f"{error.strerror or error}") from error

    def _path(self, name: str) -> Path:
        return self.folder / f"{name}.bin"

    def _row_bytes(self, name: str) -> int:
        if name == "waveforms":
            return 4 * self.wave_shape[0] * self.wave_shape[1]
        return np.dtype(FIELDS[name]).itemsize

    def _cut_back(self, count: int) -> None:
        for name in [*FIELDS, "waveforms"]:
            path = self._path(name)
            size = count * self._row_bytes(name)
            if path.stat().st_size < size:
                raise ValueError(f"{path.name} is shorter than the state says")
            with open(path, "r+b") as handle:
                handle.truncate(size)

    # -- writing ------------------------------------------------------------------------------
    def append(self, chunk: dict[str, NDArray]) -> None:
        """One chunk's spike fields (its waveforms go to ``waveforms.bin`` through the
        detector's WaveformStore)."""
        for name, dtype in FIELDS.items():
            self._file(name).write(np.ascontiguousarray(chunk[name], dtype=dtype).tobytes())

    def _file(self, name: str):
        if name not in self._files:
            self._files[name] = open(self._path(name), "ab")
        return self._files[name]

    def commit(self, count: int, next_start: int, last_peak: NDArray, noise: NDArray,
               complete: bool = False) -> None:
        """Make everything appended durable, then record it."""
        for handle in self._files.values():
            handle.flush()
            os.fsync(handle.fileno())
        state = {"fingerprint": self.print, "count": int(count), "next_start": int(next_start),
                 "last_peak": [int(v) for v in last_peak], "noise": [float(v) for v in noise],
                 "complete": complete}
        atomic_write(self.folder / "state.json", json.dumps(state).encode())
        self.state = state

    def close(self) -> None:
        for handle in self._files.values():
            handle.close()
        self._files = {}

    # -- reading ------------------------------------------------------------------------------
    def found(self) -> dict[str, list[NDArray]]:
        """Every spike field recorded so far, as one-element lists (the detector's layout)."""
        count = int(self.state["count"]) if self.state else 0
        if count == 0:
            return {name: [] for name in FIELDS}
        return {name: [np.fromfile(self._path(name), dtype=dtype, count=count)]
                for name, dtype in FIELDS.items()}
