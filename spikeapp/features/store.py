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

    def __init__(self, n_channels: int, n_samples: int, directory: str | Path | None = None
                 ) -> None:
        self._shape = (n_channels, n_samples)
        self._blocks: list[NDArray[np.float32]] = []
        self._count = 0
        self._file = None
        self._path: Path | None = None
        if directory is not None:
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

    def batches(self, size: int):
        """Yield ``(first_row, block)`` over everything appended, reading the spill file by
        plain reads (no mapping, so memory stays bounded)."""
        if self._path is None:
            data = np.concatenate(self._blocks) if self._blocks else np.zeros((0,) + self._shape)
            for begin in range(0, len(data), size):
                yield begin, data[begin:begin + size]
            return
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
            self._path.unlink(missing_ok=True)
            return np.zeros((0,) + self._shape, dtype=np.float32)
        return np.memmap(self._path, dtype=np.float32, mode="r",
                         shape=(self._count,) + self._shape)

    def close_on_error(self) -> None:
        """Remove the spill file when the job ended before :meth:`finish`."""
        if self._file is not None:
            self._file.close()
            self._file = None
            if self._path is not None:
                self._path.unlink(missing_ok=True)


class EvenSample:
    """At most ``capacity`` rows spread evenly over everything offered, kept in memory.

    Rows are kept one in ``stride``; when the buffer fills, every other row is dropped and the
    stride doubles, so the sample always covers the whole recording evenly. Kept rows are
    copied into one compact buffer, so the blocks they came from are not held alive.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._buffer: NDArray | None = None
        self._size = 0
        self._stride = 1
        self._seen = 0

    def offer(self, rows: NDArray) -> None:
        if self._buffer is None:
            self._buffer = np.empty((self.capacity,) + rows.shape[1:], dtype=rows.dtype)
        while len(rows):
            first = (-self._seen) % self._stride
            chosen = rows[first::self._stride]
            room = self.capacity - self._size
            if len(chosen) <= room:
                self._buffer[self._size:self._size + len(chosen)] = chosen
                self._size += len(chosen)
                self._seen += len(rows)
                return
            self._buffer[self._size:] = chosen[:room]
            consumed = first + room * self._stride
            self._seen += consumed
            rows = rows[consumed:]
            kept = self._buffer[::2].copy()
            self._buffer[:len(kept)] = kept
            self._size = len(kept)
            self._stride *= 2

    def rows(self) -> NDArray:
        if self._buffer is None:
            return np.zeros((0,))
        return self._buffer[:self._size].copy()
