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
    """Streams, segments and units of a parsed rawio. A segment's duration is that of its
    signals (the selected stream, else the longest), not neo's segment span, which also covers
    the events and spikes (a Neuralynx Events.nev may span a whole day of 16 s of signal)."""
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
    durations, notes = [], []
    for segment in range(n_segments):
        span = float(rawio.segment_t_stop(0, segment) - rawio.segment_t_start(0, segment))
        signal = _signal_duration(rawio, streams, segment, selected)
        durations.append(span if signal is None else signal)
        if signal is not None and span > signal * 1.01 + 1.0:
            notes.append(f"segment {segment}: {signal:.3f} s of signal; the file's events or "
                         f"spikes span {span:.3f} s")
    units_found, seen = [], {}
    for index, spike_channel in enumerate(header["spike_channels"]):
        unit = _unit_info(rawio, index, spike_channel, n_segments)
        key = (unit.channel, unit.unit, unit.n_spikes)
        if key in seen and unit.n_spikes and np.array_equal(
                rawio.get_spike_timestamps(0, 0, seen[key], None, None),
                rawio.get_spike_timestamps(0, 0, index, None, None)):
            continue  # Neuralynx lists a tetrode's unit once per channel, as sortings.py reads
        seen.setdefault(key, index)
        units_found.append(unit)
    selected_name = streams[selected].name if selected is not None and streams else None
    return RecordingInfo(path, type(rawio).__name__.removesuffix("RawIO"), tuple(streams),
                         n_segments, tuple(durations), tuple(units_found), selected_name,
                         channel_names, tuple(notes))


def _signal_duration(rawio: Any, streams: list[StreamInfo], segment: int,
                     selected: int | None) -> float | None:
    """Seconds of signal in ``segment``: the selected stream's, else the longest stream's;
    None where the file has no continuous signal."""
    indexes = [selected] if selected is not None else range(len(streams))
    lengths = [int(rawio.get_signal_size(0, segment, i)) / streams[i].sampling_rate
               for i in indexes if streams[i].n_channels and streams[i].sampling_rate > 0]
    return max(lengths) if lengths else None


def _unit_info(rawio: Any, index: int, spike_channel: Any, n_segments: int) -> UnitInfo:
    """A spike channel as ``spikeapp import`` reads it (spikeapp.io.sortings): its channel or
    electrode, and its name there ("ch5 u2"), unit 0 being unsorted; ``label`` keeps the
    file's own name for it (Plexon's "sig001"), or neo's other identifier."""
    from spikeapp.io.sortings import UNSORTED_CODE, _electrode_and_unit

    name, ident = str(spike_channel["name"]), str(spike_channel["id"])
    electrode, code = _electrode_and_unit(name, ident)
    channel = f"ch{electrode}" if electrode.isdigit() else electrode
    unsorted = code == UNSORTED_CODE
    # The other of neo's two strings, where one of them encodes the channel and unit.
    if _electrode_and_unit("", ident) != ("", ident):
        label = name
    elif _electrode_and_unit(name, "") != (name, ""):
        label = ident
    else:
        label = ""
    label = "" if label == code else label
    count = int(rawio.spike_count(0, 0, index)) if n_segments else 0
    return UnitInfo("unsorted" if unsorted else f"{channel} u{code}", channel, count,
                    label=label, unit=code, unsorted=unsorted)
