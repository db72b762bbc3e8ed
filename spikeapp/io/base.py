"""The recording interface every reader implements: chunked reads in microvolts."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from spikeapp.errors import ParameterError, RecordingError

log = logging.getLogger(__name__)

_TO_MICROVOLTS = {"uv": 1.0, "µv": 1.0, "μv": 1.0, "microvolt": 1.0, "microvolts": 1.0,
                  "mv": 1e3, "millivolt": 1e3, "millivolts": 1e3, "v": 1e6, "volt": 1e6,
                  "volts": 1e6, "nv": 1e-3}


def microvolts_per_unit(units: str) -> float | None:
    """Factor from ``units`` to microvolts, or None when the units are not a voltage."""
    return _TO_MICROVOLTS.get(units.strip().lower())


@dataclass(frozen=True)
class StreamInfo:
    """One stream of same-rate signals in a file."""

    name: str
    n_channels: int
    sampling_rate: float
    n_samples: int
    units: str = ""


@dataclass(frozen=True)
class UnitInfo:
    """One unit of spikes in the file (e.g. Plexon, Blackrock online sorting): ``name`` as
    ``spikeapp import`` names it, the ``channel`` (or electrode) it is on, and, where the file
    has them, its own ``label`` and ``unit`` number. Unit 0 is ``unsorted`` (Plexon,
    Blackrock, Neuralynx and Spike2): spikes crossing the threshold that nobody sorted."""

    name: str
    channel: str
    n_spikes: int
    label: str = ""
    unit: str = ""
    unsorted: bool = False


@dataclass(frozen=True)
class RecordingInfo:
    """What ``spikeapp info`` prints about a file."""

    path: str
    format_name: str
    streams: tuple[StreamInfo, ...]
    n_segments: int
    segment_durations_s: tuple[float, ...]
    units: tuple[UnitInfo, ...] = ()
    selected_stream: str | None = None
    channel_names: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)


class Recording(ABC):
    """A continuous multi-channel recording read in chunks, in microvolts.

    Subclasses fill the attributes below in their constructor and implement
    :meth:`_read_raw`. ``channel_ids`` are the indexes of the selected channels within their
    stream: they name channels everywhere (detections, seeds, exports) so that a selection of
    channels does not renumber them.
    """

    path: str
    format_name: str
    sampling_rate: float
    n_samples: int
    t_start: float = 0.0
    channel_ids: NDArray[np.int64]
    channel_names: list[str]
    may_hold_nan: bool = True  # False where samples are integers: skips a check per chunk
    signal_unit: str = "µV"    # "a.u." where the file gives no gain to a voltage
    segment: int = 0           # which segment (sweep, recording block) of the file is read
    # Channel groups the file declares (NWB electrode groups: tetrodes, stereotrodes), as
    # channel ids covering every selected channel; None where it declares none that matter.
    file_groups: list[list[int]] | None = None
    file_group_names: list[str] | None = None
    n_segments: int = 1

    def segment_note(self) -> str:
        """What a user must be told when only one of several segments is read ("" otherwise)."""
        if self.n_segments <= 1:
            return ""
        return (f"{Path(self.path).name}: segment {self.segment} of {self.n_segments} (0-"
                f"{self.n_segments - 1}) read; the others are not. Choose another under Reader > "
                "segment when opening.")

    @property
    def n_channels(self) -> int:
        return len(self.channel_ids)

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.sampling_rate

    def read(self, start: int, stop: int, channels: NDArray[np.int64] | None = None
             ) -> NDArray[np.float32]:
        """Samples ``[start, stop)`` of the selected channels (positions, not ids) in uV.

        Returns an array of shape (stop - start, n_channels), float32. Raises RecordingError
        when the file is short or holds NaN or infinite samples.
        """
        start = max(0, int(start))
        stop = min(self.n_samples, int(stop))
        positions = np.arange(self.n_channels) if channels is None else np.asarray(channels)
        if stop <= start:
            return np.zeros((0, len(positions)), dtype=np.float32)
        try:
            data = self._read_raw(start, stop, positions)
        except RecordingError:
            raise
        except (OSError, ValueError, IndexError, KeyError, EOFError) as error:
            raise RecordingError(self.path, f"cannot read samples {start}-{stop}: {error}") from error
        if data.shape != (stop - start, len(positions)):
            raise RecordingError(
                self.path, f"the file is shorter than its header says (asked samples {start}-{stop},"
                f" got {data.shape[0]}): it may be truncated")
        if self.may_hold_nan and not np.isfinite(data).all():
            bad = int(np.argwhere(~np.isfinite(data))[0][0]) + start
            raise RecordingError(
                self.path, f"NaN or infinite sample at {bad / self.sampling_rate:.6f} s "
                f"(sample {bad}); spikeapp cannot filter a signal with gaps of NaN")
        return data

    @abstractmethod
    def _read_raw(self, start: int, stop: int, positions: NDArray[np.int64]
                  ) -> NDArray[np.float32]:
        """Samples in uV, float32, shape (stop - start, len(positions))."""

    @abstractmethod
    def info(self) -> RecordingInfo:
        """Description of the file for ``spikeapp info``."""

    def close(self) -> None:
        """Release file handles."""

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def parse_index_list(text: str | None, n_available: int | None = None) -> list[int] | None:
    """Parse ``"0,3-5"`` into ``[0, 3, 4, 5]``; None for None or empty text."""
    if text is None or str(text).strip() == "":
        return None
    indexes: list[int] = []
    for part in str(text).split(","):
        part = part.strip()
        try:
            if "-" in part:
                low, high = (int(x) for x in part.split("-", 1))
                if high < low:
                    raise ValueError
                indexes.extend(range(low, high + 1))
            else:
                indexes.append(int(part))
        except ValueError:
            raise ParameterError(f"cannot read channel list '{text}': use a form like 0,3-5") from None
    if any(i < 0 for i in indexes):
        raise ParameterError(f"channel list '{text}' has a negative index")
    if len(set(indexes)) != len(indexes):
        raise ParameterError(f"channel list '{text}' names a channel twice")
    if n_available is not None and max(indexes) >= n_available:
        raise ParameterError(
            f"channel list '{text}' names channel {max(indexes)}, but there are only "
            f"{n_available} channels (0-{n_available - 1})")
    return indexes


def select_channels(path: str, n_available: int, channels: str | list[int] | None
                    ) -> NDArray[np.int64]:
    """Channel ids chosen by the user (all by default), checked against what the file has."""
    if n_available == 0:
        raise RecordingError(path, "the file holds no continuous signal channel")
    if isinstance(channels, str) or channels is None:
        chosen = parse_index_list(channels, n_available)
    else:
        chosen = list(channels)
        if chosen and max(chosen) >= n_available:
            raise ParameterError(f"channel {max(chosen)} does not exist: {path} has "
                                 f"{n_available} channels")
    return np.arange(n_available, dtype=np.int64) if chosen is None else np.asarray(chosen,
                                                                                    dtype=np.int64)


class ArrayRecording(Recording):
    """A recording held in memory (the demo generator, MATLAB v5 files, tests)."""

    def __init__(self, data: NDArray, sampling_rate: float, *, path: str = "<memory>",
                 format_name: str = "array", gain_uv: float = 1.0,
                 channels: str | list[int] | None = None, t_start: float = 0.0,
                 channel_names: list[str] | None = None) -> None:
        if data.ndim != 2:
            raise RecordingError(path, f"expected a 2-D signal (samples x channels), got shape "
                                 f"{data.shape}")
        if sampling_rate <= 0 or not np.isfinite(sampling_rate):
            raise RecordingError(path, f"invalid sampling rate {sampling_rate}")
        self._data = data
        self._gain = float(gain_uv)
        self.path = path
        self.format_name = format_name
        self.sampling_rate = float(sampling_rate)
        self.n_samples = data.shape[0]
        self.t_start = t_start
        self.channel_ids = select_channels(path, data.shape[1], channels)
        all_names = channel_names or [f"ch{i}" for i in range(data.shape[1])]
        self.channel_names = [all_names[i] for i in self.channel_ids]

    def _read_raw(self, start: int, stop: int, positions: NDArray[np.int64]
                  ) -> NDArray[np.float32]:
        block = np.asarray(self._data[start:stop][:, self.channel_ids[positions]],
                           dtype=np.float32)
        if self._gain != 1.0:
            block *= np.float32(self._gain)
        return block

    def info(self) -> RecordingInfo:
        stream = StreamInfo("signal", self._data.shape[1], self.sampling_rate, self.n_samples, "uV")
        return RecordingInfo(self.path, self.format_name, (stream,), 1, (self.duration_s,),
                             selected_stream="signal", channel_names=tuple(self.channel_names))
