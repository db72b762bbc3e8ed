"""Waveforms accumulated chunk by chunk, in memory or spilled to a memory-mapped file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
from numpy.typing import NDArray


class WaveformStore:
    """Append (n, channels, samples) float32 blocks; ``finish`` returns them as one array.

    With a ``directory`` the blocks are written to a raw file there and returned memory-mapped,
    so that memory does not grow with the length of the recording.
    """

    def __init__(self, n_channels: int, n_samples: int, directory: str | Path | None = None,
                 file: str | Path | None = None, count: int = 0) -> None:
        """``file`` appends to that raw file, which already holds ``count`` waveforms (a
        detection journal); it is kept when the job ends early."""
        self._shape = (n_channels, n_samples)
        self._blocks: list[NDArray[np.float32]] = []
        self._count = count
        self._file = None
        self._path: Path | None = None
        self._keep = file is not None
        if file is not None:
            self._path = Path(file)
            self._file = open(self._path, "ab")
        elif directory is not None:
            Path(directory).mkdir(parents=True, exist_ok=True)
            handle, name = tempfile.mkstemp(prefix="waveforms-", suffix=".f32", dir=directory)
            self._file = os.fdopen(handle, "wb")
            self._path = Path(name)

    def append(self, block: NDArray[np.float32]) -> None:
        block = np.ascontiguousarray(block, dtype=np.float32)
        self._count += len(block)
        if self._file is not None:
            self._file.write(block.tobytes())
        else:
            self._blocks.append(block)

    def sync(self) -> None:
        """Make what was appended durable (before a journal records it)."""
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())

    @property
    def count(self) -> int:
        return self._count

    def rows(self, indexes: NDArray[np.int64]) -> NDArray[np.float32]:
        """Some waveforms, in the order of ``indexes``, read without loading the rest."""
        if self._path is None:
            data = np.concatenate(self._blocks) if self._blocks else np.zeros((0,) + self._shape)
            return np.asarray(data[indexes], dtype=np.float32)
        # One sequential pass of plain reads: a memory map would leave every page it touched
        # resident, and evenly spread rows touch nearly all of them.
        indexes = np.asarray(indexes, dtype=np.int64)
        order = np.argsort(indexes, kind="stable")
        wanted = indexes[order]
        out = np.empty((len(indexes),) + self._shape, dtype=np.float32)
        for begin, block in self.batches(50_000):
            low, high = np.searchsorted(wanted, [begin, begin + len(block)])
            out[order[low:high]] = block[wanted[low:high] - begin]
        return out

    def batches(self, size: int):
        """Yield ``(first_row, block)`` over everything appended, reading the spill file by
        plain reads (no mapping, so memory stays bounded)."""
        if self._path is None:
            data = np.concatenate(self._blocks) if self._blocks else np.zeros((0,) + self._shape)
            for begin in range(0, len(data), size):
                yield begin, data[begin:begin + size]
            return
        if self._file is not None:
            self._file.flush()
        row_bytes = 4 * self._shape[0] * self._shape[1]
        for begin in range(0, self._count, size):
            count = min(size, self._count - begin)
            block = np.fromfile(self._path, dtype=np.float32, count=count * self._shape[0]
                                * self._shape[1], offset=begin * row_bytes)
            yield begin, block.reshape((count,) + self._shape)

    def finish(self) -> NDArray[np.float32]:
        if self._file is None:
            if not self._blocks:
                return np.zeros((0,) + self._shape, dtype=np.float32)
            return np.concatenate(self._blocks)
        self._file.close()
        self._file = None
        if self._count == 0:
            if not self._keep:
                self._path.unlink(missing_ok=True)
            return np.zeros((0,) + self._shape, dtype=np.float32)
        return np.memmap(self._path, dtype=np.float32, mode="r",
                         shape=(self._count,) + self._shape)

    def close_on_error(self) -> None:
        """Remove the spill file when the job ended before :meth:`finish`."""
        if self._file is not None:
            self._file.close()
            self._file = None
            if self._path is not None and not self._keep:
                self._path.unlink(missing_ok=True)
