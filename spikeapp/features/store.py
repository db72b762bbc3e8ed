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

    def finish(self) -> NDArray[np.float32]:
        if self._file is None:
            if not self._blocks:
                return np.zeros((0,) + self._shape, dtype=np.float32)
            return np.concatenate(self._blocks)
        self._file.close()
        self._file = None
        if self._count == 0:
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
