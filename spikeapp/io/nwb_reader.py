"""NWB ElectricalSeries through pynwb (neo 0.14.6's NWBIO fails on files pynwb writes).

The series' data stay in the HDF5 file and are sliced per chunk.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from spikeapp.errors import ParameterError, RecordingError
from spikeapp.io.base import Recording, RecordingInfo, StreamInfo, UnitInfo, select_channels

log = logging.getLogger(__name__)


def _electrical_series(nwbfile: Any) -> dict[str, Any]:
    from pynwb.ecephys import ElectricalSeries

    found = {}
    for obj in nwbfile.objects.values():
        if isinstance(obj, ElectricalSeries):
            found[obj.name] = obj
    return found


class NwbRecording(Recording):
    """One ElectricalSeries of an NWB file, in microvolts."""

    def __init__(self, path: Path, *, stream: str | int | None = None,
                 channels: str | list[int] | None = None) -> None:
        from pynwb import NWBHDF5IO

        self.path = str(path)
        self.format_name = "NWB"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self._io = NWBHDF5IO(str(path), mode="r", load_namespaces=True)
                self._nwb = self._io.read()
        except Exception as error:  # noqa: BLE001 - h5py/hdmf raise many kinds on bad files
            raise RecordingError(path, f"not a readable NWB file: {error}") from error
        self._series_by_name = _electrical_series(self._nwb)
        if not self._series_by_name:
            self.close()
            raise RecordingError(path, "the NWB file holds no ElectricalSeries")
        names = sorted(self._series_by_name)
        if stream is None:
            # The raw signal is the one with the highest rate; LFP series come lower.
            chosen = max(names, key=lambda n: (self._rate(self._series_by_name[n]),
                                               self._series_by_name[n].data.shape[0]))
        elif str(stream) in names:
            chosen = str(stream)
        elif str(stream).isdigit() and int(stream) < len(names):
            chosen = names[int(stream)]
        else:
            self.close()
            raise ParameterError(f"{path} has no ElectricalSeries '{stream}'; it has "
                                 f"{', '.join(names)}")
        self._stream_name = chosen
        series = self._series_by_name[chosen]
        self._data = series.data
        shape = self._data.shape
        n_columns = shape[1] if len(shape) > 1 else 1
        self.channel_ids = select_channels(self.path, n_columns, channels)
        self.sampling_rate = self._rate(series)
        self.n_samples = int(shape[0])
        self.t_start = float(series.starting_time or 0.0) if series.timestamps is None else float(
            series.timestamps[0])
        conversion = float(series.conversion) * 1e6  # NWB data are in volts after conversion
        per_channel = np.ones(n_columns)
        if getattr(series, "channel_conversion", None) is not None:
            per_channel = np.asarray(series.channel_conversion[:], dtype=float)
        self._scale = (conversion * per_channel[self.channel_ids]).astype(np.float32)
        self._offset_uv = np.float32(float(getattr(series, "offset", 0.0) or 0.0) * 1e6)
        try:
            table = series.electrodes.table
            rows = series.electrodes.data[:]
            labels = [str(table["label"][r]) if "label" in table.colnames else str(r) for r in rows]
        except Exception:  # noqa: BLE001 - electrode table is optional metadata
            labels = [str(i) for i in range(n_columns)]
        self.channel_names = [labels[i] if i < len(labels) else str(i) for i in self.channel_ids]
        try:
            names = [str(table["group_name"][r]) if "group_name" in table.colnames
                     else str(table["group"][r].name) for r in rows]
        except Exception:  # noqa: BLE001 - electrode groups are optional metadata
            names = []
        self.file_groups, self.file_group_names = groups_from_names(
            [names[i] if i < len(names) else "" for i in self.channel_ids], self.channel_ids)

    @staticmethod
    def _rate(series: Any) -> float:
        if series.rate is not None:
            return float(series.rate)
        timestamps = np.asarray(series.timestamps[: min(1000, len(series.timestamps))])
        if len(timestamps) < 2:
            return 0.0
        return float(1.0 / np.median(np.diff(timestamps)))

    def _read_raw(self, start: int, stop: int, positions: NDArray[np.int64]
                  ) -> NDArray[np.float32]:
        ids = self.channel_ids[positions]
        block = np.asarray(self._data[start:stop], dtype=np.float32)
        if block.ndim == 1:
            block = block[:, None]
        block = block[:, ids]
        return block * self._scale[positions] + self._offset_uv

    def info(self) -> RecordingInfo:
        streams = []
        for name in sorted(self._series_by_name):
            series = self._series_by_name[name]
            shape = series.data.shape
            streams.append(StreamInfo(name, shape[1] if len(shape) > 1 else 1, self._rate(series),
                                      int(shape[0]), "V"))
        units = []
        if self._nwb.units is not None:
            table = self._nwb.units
            for row in range(len(table)):
                name = str(table.id[row])
                units.append(UnitInfo(name, "", len(table.get_unit_spike_times(row))))
        return RecordingInfo(self.path, "NWB", tuple(streams), 1, (self.duration_s,),
                             tuple(units), self._stream_name, tuple(self.channel_names))

    def close(self) -> None:
        io = getattr(self, "_io", None)
        if io is not None:
            io.close()
            self._io = None


MAX_GROUP = 8   # channels a group is sorted whole up to (tetrodes, stereotrodes, octrodes)


def groups_from_names(names: list[str], channel_ids) -> tuple[list[list[int]] | None,
                                                               list[str] | None]:
    """Channel groups from each channel's group name in the file: channels of a group of 2 to
    MAX_GROUP channels are sorted together, every other channel alone (a larger shank would
    want neighbourhoods, which are not made yet). None when no group is sorted whole."""
    order: dict[str, list[int]] = {}
    for name, channel in zip(names, channel_ids):
        order.setdefault(name or f"channel {int(channel)}", []).append(int(channel))
    groups, labels = [], []
    for name, members in order.items():
        if 2 <= len(members) <= MAX_GROUP and not name.startswith("channel "):
            groups.append(members)
            labels.append(name)
        else:
            groups += [[c] for c in members]
            labels += [f"{name} ch {c}" for c in members]
    if all(len(g) == 1 for g in groups):
        return None, None
    return groups, labels
