"""Recordings read through ``neo.rawio``: chunked, in physical units via neo's gains."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from spikeapp.errors import ParameterError, RecordingError
from spikeapp.io.base import (
    Recording,
    RecordingInfo,
    StreamInfo,
    UnitInfo,
    microvolts_per_unit,
    select_channels,
)

log = logging.getLogger(__name__)

# Options some readers need to open the files users actually have.
_EXTRA_KWARGS: dict[str, dict[str, Any]] = {
    "NeuralynxRawIO": {"strict_gap_mode": False},
    "BlackrockRawIO": {"nsx_to_load": "all"},
    "PlexonRawIO": {"progress_bar": False},
}


def neo_format_names() -> dict[str, type]:
    """Map of format name ("Neuralynx", "Plexon"...) to neo rawio class."""
    from neo.rawio import rawiolist

    return {cls.__name__.removesuffix("RawIO"): cls for cls in rawiolist}


def neo_candidates(path: Path) -> list[type]:
    """neo rawio classes that may read ``path``, most likely first."""
    from neo.rawio import get_rawio

    candidates = get_rawio(path, exclusive_rawio=False) or []
    return list(candidates)


def open_rawio(path: Path, rawio_class: type) -> Any:
    """Instantiate and parse a neo rawio for ``path``; RecordingError on any failure."""
    kwargs = dict(_EXTRA_KWARGS.get(rawio_class.__name__, {}))
    target = path
    if rawio_class.rawmode in ("one-dir", "multi-dir"):
        target = path if path.is_dir() else path.parent
        kwargs["dirname"] = str(target)
    else:
        if path.is_dir():
            raise RecordingError(path, f"{rawio_class.__name__.removesuffix('RawIO')} reads a "
                                 "file, not a folder: give the file's path")
        kwargs["filename"] = str(target)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rawio = rawio_class(**kwargs)
            rawio.parse_header()
    except MemoryError as error:
        raise RecordingError(path, f"the header asks for an absurd amount of memory ({error})") from error
    except Exception as error:  # noqa: BLE001 - neo raises anything on bad files; report it
        name = rawio_class.__name__.removesuffix("RawIO")
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise RecordingError(path, f"not readable as {name}: {detail}") from error
    return rawio


class NeoRecording(Recording):
    """One stream and segment of a file neo reads."""

    def __init__(self, path: Path, rawio: Any, *, stream: str | int | None = None,
                 channels: str | list[int] | None = None, segment: int = 0) -> None:
        self.path = str(path)
        self._rawio = rawio
        self.format_name = type(rawio).__name__.removesuffix("RawIO")
        streams = rawio.header["signal_streams"]
        self._stream_index = self._choose_stream(streams, stream)
        n_segments = int(rawio.header["nb_segment"][0])
        if not 0 <= segment < n_segments:
            raise ParameterError(f"{path} has {n_segments} segment(s) (0-{n_segments - 1}); "
                                 f"segment {segment} does not exist")
        self._segment = segment
        self.segment, self.n_segments = segment, n_segments
        stream_id = streams["id"][self._stream_index]
        all_channels = rawio.header["signal_channels"]
        stream_channels = all_channels[all_channels["stream_id"] == stream_id]
        self.channel_ids = select_channels(self.path, len(stream_channels), channels)
        self.channel_names = [str(stream_channels["name"][i]) for i in self.channel_ids]
        self.sampling_rate = float(stream_channels["sampling_rate"][0])
        self.n_samples = int(rawio.get_signal_size(0, segment, self._stream_index))
        self.t_start = float(rawio.get_signal_t_start(0, segment, self._stream_index))
        scale = []
        for i in self.channel_ids:
            units = str(stream_channels["units"][i])
            factor = microvolts_per_unit(units)
            if factor is None:
                log.warning("%s: channel %s has units '%s', not a voltage; values are used as is",
                            path, stream_channels["name"][i], units)
                factor = 1.0
                self.signal_unit = "a.u."
            scale.append(factor)
        self._to_uv = np.asarray(scale, dtype=np.float32)

    def _choose_stream(self, streams: NDArray, stream: str | int | None) -> int:
        names = [str(n) for n in streams["name"]]
        if len(names) == 0:
            raise RecordingError(self.path, "the file holds no continuous signal (it may hold "
                                 "only sorted spikes: see 'spikeapp info')")
        if stream is None:
            rates = [self._stream_rate(i) for i in range(len(names))]
            sizes = [self._stream_channel_count(i) for i in range(len(names))]
            best = max(range(len(names)), key=lambda i: (rates[i], sizes[i]))
            if len(names) > 1:
                log.info("%s: using stream '%s' (%d channels at %g Hz); choose another with "
                         "--stream", self.path, names[best], sizes[best], rates[best])
            return best
        if isinstance(stream, int) or str(stream).isdigit():
            index = int(stream)
            if 0 <= index < len(names):
                return index
        elif str(stream) in names:
            return names.index(str(stream))
        ids = [str(i) for i in streams["id"]]
        if str(stream) in ids:
            return ids.index(str(stream))
        listing = ", ".join(f"{i}: '{n}'" for i, n in enumerate(names))
        raise ParameterError(f"{self.path} has no stream '{stream}'; its streams are {listing}")

    def _stream_rate(self, index: int) -> float:
        channels = self._stream_channels(index)
        return float(channels["sampling_rate"][0]) if len(channels) else 0.0

    def _stream_channel_count(self, index: int) -> int:
        return len(self._stream_channels(index))

    def _stream_channels(self, index: int) -> NDArray:
        stream_id = self._rawio.header["signal_streams"]["id"][index]
        channels = self._rawio.header["signal_channels"]
        return channels[channels["stream_id"] == stream_id]

    def _read_raw(self, start: int, stop: int, positions: NDArray[np.int64]
                  ) -> NDArray[np.float32]:
        ids = self.channel_ids[positions]
        raw = self._rawio.get_analogsignal_chunk(
            block_index=0, seg_index=self._segment, i_start=start, i_stop=stop,
            stream_index=self._stream_index, channel_indexes=ids)
        data = self._rawio.rescale_signal_raw_to_float(
            raw, dtype="float32", stream_index=self._stream_index, channel_indexes=ids)
        return np.ascontiguousarray(data * self._to_uv[positions], dtype=np.float32)

    def info(self) -> RecordingInfo:
        return describe_rawio(self.path, self._rawio, self._stream_index,
                              tuple(self.channel_names))


def describe_rawio(path: str, rawio: Any, selected: int | None = None,
                   channel_names: tuple[str, ...] = ()) -> RecordingInfo:
    """Streams, segments and sorted units of a parsed rawio."""
    header = rawio.header
    n_segments = int(header["nb_segment"][0])
    streams = []
    for index, (name, stream_id) in enumerate(zip(header["signal_streams"]["name"],
                                                  header["signal_streams"]["id"])):
        channels = header["signal_channels"][header["signal_channels"]["stream_id"] == stream_id]
        rate = float(channels["sampling_rate"][0]) if len(channels) else 0.0
        size = int(rawio.get_signal_size(0, 0, index)) if len(channels) else 0
        units = str(channels["units"][0]) if len(channels) else ""
        streams.append(StreamInfo(str(name), len(channels), rate, size, units))
    durations = tuple(float(rawio.segment_t_stop(0, s) - rawio.segment_t_start(0, s))
                      for s in range(n_segments))
    units_found = []
    for index, spike_channel in enumerate(header["spike_channels"]):
        count = int(rawio.spike_count(0, 0, index)) if n_segments else 0
        units_found.append(UnitInfo(str(spike_channel["name"]), str(spike_channel["id"]), count))
    selected_name = streams[selected].name if selected is not None and streams else None
    return RecordingInfo(path, type(rawio).__name__.removesuffix("RawIO"), tuple(streams),
                         n_segments, durations, tuple(units_found), selected_name, channel_names)
