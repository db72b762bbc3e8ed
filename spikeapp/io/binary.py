"""Raw binary (memory-mapped) and MATLAB recordings."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from spikeapp.errors import ParameterError, RecordingError
from spikeapp.io.base import ArrayRecording, Recording, RecordingInfo, StreamInfo, select_channels

log = logging.getLogger(__name__)

BINARY_DTYPES = ("int16", "uint16", "int32", "float32", "float64", "int8", "uint8")


class BinaryRecording(Recording):
    """Interleaved samples (frame = one sample of every channel) after an optional header."""

    def __init__(self, path: Path, *, sampling_rate: float | None, n_channels: int | None,
                 dtype: str | None, header_bytes: int = 0, gain_uv: float = 1.0,
                 channels: str | list[int] | None = None) -> None:
        self.path = str(path)
        self.format_name = "binary"
        missing = [what for what, value in (
            ("its sampling rate (sampling_rate, --sampling-rate)", sampling_rate),
            ("its channel count (n_channels, --n-channels)", n_channels),
            ("its sample type (dtype, --dtype)", dtype)) if value is None]
        if missing:
            # Said for both places a user gives them: the open dialog's reader fields and the
            # command line's flags (the window quoted flags it has no place for).
            raise ParameterError(f"{path}: a raw binary file does not say {', '.join(missing)}: "
                                 "give them in the open dialog's Reader fields, or as the flags "
                                 "named (header_bytes and gain too, when they apply)")
        if dtype not in BINARY_DTYPES:
            raise ParameterError(f"--dtype must be one of {', '.join(BINARY_DTYPES)}; got {dtype}")
        if sampling_rate <= 0 or n_channels <= 0 or header_bytes < 0:
            raise ParameterError(f"{path}: sampling rate and channel count must be positive and "
                                 "the header size not negative")
        itemsize = np.dtype(dtype).itemsize
        try:
            size = path.stat().st_size
        except OSError as error:
            raise RecordingError(path, f"cannot read the file: {error.strerror}") from error
        payload = size - header_bytes
        frame = itemsize * n_channels
        if payload < frame:
            raise RecordingError(path, f"the file ({size} bytes) holds no whole sample frame after "
                                 f"a {header_bytes}-byte header")
        if payload % frame:
            raise RecordingError(
                path, f"{payload} bytes after the {header_bytes}-byte header are not a whole "
                f"number of {n_channels}-channel {dtype} frames ({frame} bytes each): check "
                "the sample type, channel count and header size (dtype, n_channels, "
                "header_bytes in the open dialog; --dtype, --n-channels, --header-bytes)")
        try:
            self._data = np.memmap(path, dtype=dtype, mode="r", offset=header_bytes,
                                   shape=(payload // frame, n_channels))
        except OSError as error:
            raise RecordingError(path, f"cannot map the file: {error.strerror or error}") from error
        self._file = path
        self._dtype = np.dtype(dtype)
        self.may_hold_nan = self._dtype.kind == "f"
        self._header = header_bytes
        self._gain = np.float32(gain_uv)
        self.signal_unit = "µV" if gain_uv != 1 else "a.u."
        self.sampling_rate = float(sampling_rate)
        self.n_samples = int(self._data.shape[0])
        self.channel_ids = select_channels(self.path, n_channels, channels)
        self.channel_names = [f"ch{i}" for i in self.channel_ids]

    def _read_raw(self, start: int, stop: int, positions: NDArray[np.int64]
                  ) -> NDArray[np.float32]:
        # Plain reads rather than the map: mapped pages would stay resident as the whole file
        # is scanned, and memory would seem to grow with the length of the recording.
        width = self._data.shape[1]
        frames = np.fromfile(self._file, dtype=self._dtype, count=(stop - start) * width,
                             offset=self._header + start * width * self._dtype.itemsize)
        frames = frames.reshape(-1, width)
        block = frames[:, self.channel_ids[positions]].astype(np.float32)
        if self._gain != 1:
            block *= self._gain
        return block

    def info(self) -> RecordingInfo:
        stream = StreamInfo("binary", self._data.shape[1], self.sampling_rate, self.n_samples,
                            "uV" if self._gain != 1 else "raw units")
        return RecordingInfo(self.path, "binary", (stream,), 1, (self.duration_s,),
                             selected_stream="binary", channel_names=tuple(self.channel_names))

    def close(self) -> None:
        data = getattr(self, "_data", None)
        if data is not None and getattr(data, "_mmap", None) is not None:
            data._mmap.close()


def open_mat(path: Path, *, sampling_rate: float | None = None, gain_uv: float = 1.0,
             channels: str | list[int] | None = None, variable: str | None = None) -> Recording:
    """A MATLAB recording: the Wave_clus simulator layout or a plain numeric matrix.

    Wave_clus files hold ``data`` and ``samplingInterval`` (ms); the CBP excerpts hold ``data``
    and ``dt`` (s). Any other file needs one numeric matrix (or ``variable``) and a rate.
    v7.3 files (HDF5) are sliced lazily through h5py; older ones are small enough to load.
    """
    import scipy.io

    try:
        contents = scipy.io.loadmat(str(path))
        lazy = None
    except NotImplementedError:  # MATLAB v7.3: HDF5
        contents, lazy = _open_mat73(path)
    except MemoryError:
        raise RecordingError(path, "not a readable MATLAB file: its header asks for more "
                             "memory than there is (damaged?)") from None
    except Exception as error:  # noqa: BLE001 - scipy raises many kinds on damaged files
        raise RecordingError(path, f"not a readable MATLAB file: {error}") from error
    arrays = {k: v for k, v in contents.items() if not k.startswith("__")}
    name = variable or ("data" if "data" in arrays else None)
    if name is None:
        numeric = [k for k, v in arrays.items() if getattr(v, "ndim", 0) in (1, 2)
                   and np.issubdtype(getattr(v, "dtype", np.dtype(object)), np.number)
                   and max(getattr(v, "shape", (0,))) > 1000]
        if len(numeric) != 1:
            raise RecordingError(path, "cannot tell which variable is the signal "
                                 f"(candidates: {', '.join(numeric) or 'none'}); name it with "
                                 "--variable")
        name = numeric[0]
    if name not in arrays:
        raise RecordingError(path, f"has no variable '{name}'; it has {', '.join(arrays)}")
    data = arrays[name]
    try:
        rate = sampling_rate or _mat_rate(arrays)
    except (ValueError, TypeError, IndexError, ZeroDivisionError, OverflowError):
        raise RecordingError(path, "its sampling interval or rate is not a usable number; "
                             "give the rate with --sampling-rate") from None
    if rate is not None and not (np.isfinite(rate) and rate > 0):
        raise RecordingError(path, f"its sampling rate ({rate}) is not a positive number; give "
                             "it with --sampling-rate")
    if rate is None:
        raise ParameterError(f"{path}: the file does not give a sampling rate (no "
                             "'samplingInterval' nor 'dt'); give it with --sampling-rate")
    if data.ndim == 1:
        data = data[:, None] if lazy is None else data
    if getattr(data, "ndim", 0) != 2 or not np.issubdtype(data.dtype, np.number) or \
            np.issubdtype(data.dtype, np.complexfloating) or min(data.shape) == 0:
        raise RecordingError(path, f"variable '{name}' is not a non-empty real numeric matrix")
    # Time runs along the longer axis.
    if data.shape[0] < data.shape[1]:
        data = data.T if isinstance(data, np.ndarray) else _Transposed(data)
    return ArrayRecording(data, rate, path=str(path), format_name="MATLAB", gain_uv=gain_uv,
                          channels=channels)


def _mat_rate(arrays: dict) -> float | None:
    if "samplingInterval" in arrays:  # Wave_clus simulator: milliseconds
        return 1000.0 / float(np.asarray(arrays["samplingInterval"]).ravel()[0])
    if "dt" in arrays:
        return 1.0 / float(np.asarray(arrays["dt"]).ravel()[0])
    for key in ("sr", "fs", "sampling_rate", "samplingRate", "Fs"):
        if key in arrays:
            return float(np.asarray(arrays[key]).ravel()[0])
    return None


def _open_mat73(path: Path) -> tuple[dict, object]:
    import h5py

    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise RecordingError(path, f"not a readable MATLAB file: {error}") from error
    contents: dict = {}
    for key, value in handle.items():
        if isinstance(value, h5py.Dataset):
            contents[key] = value if value.size > 16 else value[()]
    return contents, handle


class _Transposed:
    """A lazy transpose of an h5py dataset, sliced along its rows."""

    def __init__(self, dataset: object) -> None:
        self._dataset = dataset
        self.shape = tuple(reversed(dataset.shape))
        self.ndim = 2
        self.dtype = dataset.dtype

    def __getitem__(self, rows: slice) -> NDArray:
        return np.asarray(self._dataset[:, rows]).T
