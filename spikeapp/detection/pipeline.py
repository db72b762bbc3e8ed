"""Detection of a whole recording, chunk by chunk, as a job that yields Progress."""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from spikeapp import params as param_table
from spikeapp.detection import threshold as th
from spikeapp.detection.filtering import BandPass, filter_window, filtered_chunks
from spikeapp.detection.journal import FIELDS, Journal, fingerprint
from spikeapp.errors import ParameterError, RecordingError
from spikeapp.features.pca import BATCH, FIT_SAMPLE, fit_pcas, project
from spikeapp.features.store import WaveformStore
from spikeapp.io.base import Recording, parse_index_list
from spikeapp.tasks import Cancelled, CancelToken, Job, Progress

log = logging.getLogger(__name__)

_NOISE_WINDOW_S = 0.5
_COMMIT_S = 5.0  # seconds of work between two journal commits


@dataclass
class DetectionResult:
    """Detected spikes of a recording.

    ``channels`` holds, per spike, the id of its channel group: the channel id itself when
    each channel is sorted alone, the group number when channels are grouped (``group_ids``
    and ``group_channels`` map groups to channel ids, padded with -1).
    """

    samples: NDArray[np.int64]
    times_s: NDArray[np.float64]
    channels: NDArray[np.int64]
    peak_channels: NDArray[np.int64]
    amplitudes: NDArray[np.float32]
    waveforms: NDArray[np.float32]
    features: NDArray[np.float32]
    noise_uv: NDArray[np.float64]
    channel_ids: NDArray[np.int64]
    group_ids: NDArray[np.int64]
    group_channels: NDArray[np.int64]
    sampling_rate: float
    t_start: float
    n_samples: int
    params: dict[str, Any] = field(default_factory=dict)
    recording_path: str = ""
    # Per spike: 0 crossed the threshold, 1 found by a sorted unit's template (workflow.recovery).
    origin: NDArray[np.int8] | None = None

    def __post_init__(self) -> None:
        if self.origin is None:
            self.origin = np.zeros(len(self.samples), dtype=np.int8)

    @property
    def n_spikes(self) -> int:
        return len(self.samples)

    @property
    def signal_unit(self) -> str:
        """"µV", or "a.u." where the recording gave no gain to a voltage (older sessions: µV)."""
        return str(self.params.get("signal_unit", "µV"))

    @property
    def pre_samples(self) -> int:
        return int(self.params.get("pre_samples", 0))

    def channel_name(self, channel_id: int) -> str:
        """A channel as the file names it, else "ch N"."""
        names = self.params.get("channel_names") or {}
        return str(names.get(str(int(channel_id))) or f"ch {int(channel_id)}")

    def group_label(self, group_id: int) -> str:
        """A channel group for people: its channel's name when it is one channel (GA1-RAH1),
        else "group N: " and its channels' names."""
        members = self.group_members(group_id)
        if len(members) == 1:
            name = self.channel_name(int(members[0]))
            return name if name == f"ch {int(members[0])}" else f"{name} (ch {int(members[0])})"
        # The group as the file names it (an NWB electrode group, a Neuralynx tetrode file).
        name = (self.params.get("group_names") or {}).get(str(int(group_id)))
        return (f"{name or f'group {int(group_id)}'}: "
                f"{', '.join(self.channel_name(c) for c in members)}")

    def group_members(self, group_id: int) -> NDArray[np.int64]:
        """Channel ids of one group."""
        row = self.group_channels[int(np.nonzero(self.group_ids == group_id)[0][0])]
        return row[row >= 0]

    def save(self, path: str | Path) -> None:
        """Write an ``.npz`` (waveforms included; no pickles)."""
        arrays = {name: getattr(self, name) for name in _ARRAY_FIELDS}
        arrays["waveforms"] = np.asarray(self.waveforms)
        np.savez(path, **arrays, sampling_rate=self.sampling_rate, t_start=self.t_start,
                 n_samples=self.n_samples, params=json.dumps(self.params),
                 recording_path=self.recording_path)

    @classmethod
    def load(cls, path: str | Path) -> DetectionResult:
        with np.load(path, allow_pickle=False) as data:
            values = {name: data[name] for name in _ARRAY_FIELDS if name in data.files}
            return cls(**values, waveforms=data["waveforms"],
                       sampling_rate=float(data["sampling_rate"]), t_start=float(data["t_start"]),
                       n_samples=int(data["n_samples"]), params=json.loads(str(data["params"])),
                       recording_path=str(data["recording_path"]))


_ARRAY_FIELDS = ("samples", "times_s", "channels", "peak_channels", "amplitudes", "features",
                 "noise_uv", "channel_ids", "group_ids", "group_channels", "origin")


def parse_groups(specs: list[str] | None, channel_ids: NDArray[np.int64],
                 file_groups: list[list[int]] | None = None) -> list[list[int]] | None:
    """Channel groups from ``--group 0-3 --group 4-7`` (channel ids); without any, the groups
    the file declares (``file_groups``: NWB electrode groups); ``single``: each channel alone,
    whatever the file says. None: each channel alone."""
    if specs and [s.strip().lower() for s in specs] == ["single"]:
        return None
    if not specs:
        return [list(g) for g in file_groups] if file_groups else None
    groups = []
    for spec in specs:
        members = parse_index_list(spec)
        missing = sorted(set(members) - set(channel_ids.tolist()))
        if missing:
            raise ParameterError(f"group '{spec}' names channel(s) {missing} that are not among "
                                 f"the recording's selected channels {channel_ids.tolist()}")
        groups.append(members)
    flat = [c for g in groups for c in g]
    if len(flat) != len(set(flat)):
        raise ParameterError("a channel belongs to two groups")
    return groups


def detect(recording: Recording, params: dict[str, Any] | None = None,
           groups: list[list[int]] | None = None, waveform_dir: str | Path | None = None,
           cancel: CancelToken | None = None, journal_dir: str | Path | None = None
           ) -> Job[DetectionResult]:
    """Filter, estimate noise, detect, align and extract waveforms of a whole recording.

    Parameters
    ----------
    recording
        Any opened recording; it is read in chunks of ``chunk_s`` seconds.
    params
        Detection parameters (see :mod:`spikeapp.params`, group "detection").
    groups
        Channel ids per group (tetrodes); None sorts each channel alone.
    waveform_dir
        Where to keep waveforms on disk (memory-mapped) for long recordings; None keeps them in
        memory.
    cancel
        Checked between chunks.
    journal_dir
        Keep progress in this folder (see :mod:`spikeapp.detection.journal`): a cancelled or
        interrupted detection resumes from its last whole chunk, a finished one is reused; the
        waveforms stay there, memory-mapped.
    """
    p = param_table.resolve("detection", params)
    fs = recording.sampling_rate
    band = BandPass.design(fs, p["freq_min"], p["freq_max"], p["filter_order"])
    pre = max(1, round(p["pre_ms"] * fs / 1000))
    post = max(1, round(p["post_ms"] * fs / 1000))
    align = round(p["align_window_ms"] * fs / 1000)
    dead = round(p["dead_time_ms"] * fs / 1000)
    if recording.n_samples < max(10 * (pre + post), int(0.05 * fs)):
        raise RecordingError(recording.path, f"too short to detect spikes in "
                             f"({recording.n_samples} samples, {recording.n_samples / fs:.3f} s); "
                             "is the file complete?")
    sign = th.polarity_sign(p["polarity"])
    ids = recording.channel_ids
    position_of = {int(c): i for i, c in enumerate(ids)}
    if groups is None:
        groups = [[int(c)] for c in ids]
        group_ids = ids.copy()
    else:
        group_ids = np.arange(len(groups), dtype=np.int64)
    group_positions = [np.asarray([position_of[c] for c in g]) for g in groups]
    width = max(len(g) for g in groups)
    group_channels = np.full((len(groups), width), -1, dtype=np.int64)
    for row, members in enumerate(groups):
        group_channels[row, :len(members)] = members

    journal = None
    state = None
    if journal_dir is not None:
        journal = Journal(journal_dir, fingerprint(recording, p, [list(g) for g in groups]),
                          (width, pre + post))
        state = journal.open()
    if state is not None:
        noise = np.asarray(state["noise"], dtype=np.float64)
        done = state["next_start"] / fs
        yield Progress(done, recording.duration_s, "finished earlier: reusing it"
                       if state["complete"] else f"resuming at {done:.1f} s", "s")
    else:
        noise = yield from _estimate_noise(recording, band, p["noise_s"], cancel)
    thresholds = p["threshold"] * noise
    if np.any(noise <= 0):
        flat = [recording.channel_names[i] for i in np.nonzero(noise <= 0)[0]]
        log.warning("%s: channel(s) %s are flat (zero noise); nothing is detected there",
                    recording.path, ", ".join(flat))
        thresholds = np.where(noise > 0, thresholds, np.inf)

    chunk = max(1, round(p["chunk_s"] * fs))
    extra = align + pre + post + 4
    if journal is not None:
        store = WaveformStore(width, pre + post, file=journal.folder / "waveforms.bin",
                              count=int(state["count"]) if state else 0)
        found = journal.found()
    else:
        store = WaveformStore(width, pre + post, waveform_dir)
        found = {k: [] for k in FIELDS}
    last_peak = (np.asarray(state["last_peak"], dtype=np.int64) if state
                 else np.full(len(groups), -(1 << 62), dtype=np.int64))
    first = int(state["next_start"]) if state else 0
    total_s = recording.duration_s
    next_commit = time.monotonic() + _COMMIT_S

    def commit(next_start: int, complete: bool = False) -> None:
        store.sync()
        journal.commit(store.count, next_start, last_peak, noise, complete)

    try:
        try:
            for start, stop, filtered, offset in filtered_chunks(
                    recording.read, recording.n_samples, band, chunk, extra, first=first):
                if cancel is not None:
                    cancel.raise_if_cancelled()
                window_start = start - offset
                chunk_hits = []
                for g, positions in enumerate(group_positions):
                    hits = _detect_group(filtered[positions], thresholds[positions], sign,
                                         offset, offset + stop - start, window_start, align,
                                         dead, int(last_peak[g]), pre, post,
                                         recording.n_samples, p["interpolate"])
                    if hits is None:
                        continue
                    last_peak[g] = hits[0][-1]
                    chunk_hits.append((g, hits))
                collected = _collect(chunk_hits, width, store, found)
                if journal is not None:
                    if collected is not None:
                        journal.append(collected)
                    first = stop
                    if time.monotonic() >= next_commit:
                        commit(stop)
                        next_commit = time.monotonic() + _COMMIT_S
                n_found = sum(len(s) for s in found["samples"])
                yield Progress(stop / fs, total_s, f"{n_found} spikes", "s")
        except Cancelled:
            if journal is not None:
                commit(first)  # the next run resumes after the last whole chunk
            raise
        group_index = (np.concatenate(found["groups"]).astype(np.int64) if found["groups"]
                       else np.zeros(0, np.int64))
        found["groups"] = [group_index]  # the chunks' pieces are not kept twice
        picks = {g: _even_rows(np.flatnonzero(group_index == g), FIT_SAMPLE)
                 for g in range(len(groups))}
        everything = np.concatenate(list(picks.values())) if picks else np.zeros(0, np.int64)
        rows = store.rows(everything)  # one pass over the stored waveforms
        bounds = np.cumsum([0] + [len(v) for v in picks.values()])
        pcas = fit_pcas({g: rows[bounds[i]:bounds[i + 1]] for i, g in enumerate(picks)},
                        p["n_pca"])
        features = project(store.batches(BATCH), group_index, pcas, p["n_pca"])
        if journal is not None:
            commit(recording.n_samples, complete=True)
        waveforms = store.finish()
    finally:
        store.close_on_error()
        if journal is not None:
            journal.close()
    return _assemble(recording, found, waveforms, features, group_ids, group_channels, noise,
                     p, pre, post)


def _even_rows(rows: NDArray[np.int64], at_most: int) -> NDArray[np.int64]:
    """At most ``at_most`` of ``rows``, spread evenly (the PCA's fitting sample)."""
    if len(rows) <= at_most:
        return rows
    return rows[np.linspace(0, len(rows) - 1, at_most).astype(np.int64)]


def _estimate_noise(recording: Recording, band: BandPass, noise_s: float,
                    cancel: CancelToken | None) -> Job[NDArray[np.float64]]:
    """Noise per channel from windows spread evenly over the recording."""
    fs = recording.sampling_rate
    window = max(1, min(recording.n_samples, round(_NOISE_WINDOW_S * fs)))
    count = max(1, min(math.ceil(noise_s / _NOISE_WINDOW_S), recording.n_samples // window))
    starts = np.linspace(0, recording.n_samples - window, count).astype(np.int64)
    pieces = []
    for i, start in enumerate(starts):
        if cancel is not None:
            cancel.raise_if_cancelled()
        filtered, _ = filter_window(recording.read, recording.n_samples, band, int(start),
                                    int(start) + window)
        pieces.append(np.abs(filtered).astype(np.float32))
        yield Progress(i + 1, len(starts), "estimating noise", "window")
    return th.noise_level(np.concatenate(pieces, axis=1)).astype(np.float64)


def _detect_group(x: NDArray, thresholds: NDArray, sign: float, core_begin: int, core_end: int,
                  window_start: int, align: int, dead: int, last_peak: int, pre: int, post: int,
                  n_samples: int, interpolate: bool):
    """Spikes of one channel group in one chunk's core; None when there are none."""
    score = th.spike_score(x, thresholds, sign)
    group_score = score.max(axis=0)
    starts = th.crossings(group_score, core_begin, core_end)
    peaks = th.align_to_extremum(group_score, starts, align)
    if sign == 0 and len(peaks) > 1:   # both polarities: a spike's phases are one spike
        rows = np.argmax(score[:, peaks], axis=0)
        signs = np.sign(x[rows, peaks])
        peaks = th.one_per_event(peaks, group_score[peaks], signs, post, dead)
    peaks, _ = th.apply_dead_time(peaks + window_start, dead, last_peak)
    if len(peaks) == 0:
        return None
    new_last = int(peaks[-1])
    valid = (peaks - pre >= 0) & (peaks + post <= n_samples)
    local = peaks[valid] - window_start
    if len(local) == 0:
        return np.asarray([new_last]), None
    peak_row = np.argmax(score[:, local], axis=0)
    offsets = np.zeros(len(local))
    if interpolate:
        for row in np.unique(peak_row):
            members = peak_row == row
            offsets[members] = th.parabolic_offset(score[row], local[members])
        positions = local[:, None] + offsets[:, None] + np.arange(-pre, post)[None, :]
        waves = th.cubic_sample(x, positions)
    else:
        waves = x[:, local[:, None] + np.arange(-pre, post)[None, :]]
    waves = np.transpose(waves, (1, 0, 2)).astype(np.float32)
    amplitudes = waves[np.arange(len(local)), peak_row, pre]
    return np.asarray([new_last]), (local + window_start, offsets, peak_row, waves, amplitudes)


def _collect(chunk_hits: list, width: int, store: WaveformStore, found: dict[str, list]
             ) -> dict[str, NDArray] | None:
    """Append one chunk's spikes of all groups, in time order; returns the chunk's fields."""
    parts = [(g, h[1]) for g, h in chunk_hits if h[1] is not None]
    if not parts:
        return None
    samples = np.concatenate([h[0] for _, h in parts])
    group = np.concatenate([np.full(len(h[0]), g) for g, h in parts])
    order = np.lexsort((group, samples))
    waves = np.zeros((len(samples), width, parts[0][1][3].shape[2]), dtype=np.float32)
    row = 0
    for _, h in parts:
        waves[row:row + len(h[0]), :h[3].shape[1]] = h[3]
        row += len(h[0])
    chunk = {"samples": samples[order],
             "offsets": np.concatenate([h[1] for _, h in parts])[order],
             "groups": group[order],
             "peaks": np.concatenate([h[2] for _, h in parts])[order],
             "amps": np.concatenate([h[4] for _, h in parts])[order]}
    for name, values in chunk.items():
        found[name].append(values)
    store.append(waves[order])
    return chunk


def _assemble(recording: Recording, found: dict[str, list], waveforms: NDArray,
              features: NDArray, group_ids: NDArray, group_channels: NDArray, noise: NDArray, p: dict,
              pre: int, post: int) -> DetectionResult:
    def joined(key: str, dtype: type) -> NDArray:
        # Consumes the chunk lists as it goes: they and the joined arrays never coexist whole.
        parts = found.pop(key)
        out = np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype)
        parts.clear()
        return out

    samples = joined("samples", np.int64)
    group_index = joined("groups", np.int64)
    peak_row = joined("peaks", np.int64)
    fs = recording.sampling_rate
    times = recording.t_start + (samples + joined("offsets", np.float64)) / fs
    peak_channels = group_channels[group_index, peak_row] if len(samples) else samples
    names = list(getattr(recording, "channel_names", []) or [])
    # Groups the file declares keep its names for them (NWB's "tetrode0").
    declared = {tuple(g): str(n) for g, n in zip(getattr(recording, "file_groups", None) or [],
                                                 getattr(recording, "file_group_names", None)
                                                 or []) if len(g) > 1}
    group_names = {str(int(gid)): declared[tuple(int(c) for c in members[members >= 0])]
                   for gid, members in zip(group_ids, group_channels)
                   if tuple(int(c) for c in members[members >= 0]) in declared}
    params = dict(p, pre_samples=pre, post_samples=post, sampling_rate=fs,
                  group_names=group_names,
                  signal_unit=getattr(recording, "signal_unit", "µV"),
                  # as the file names them (GA1-RAH1), for the window's channel box and exports
                  channel_names={str(int(c)): str(n) for c, n in zip(recording.channel_ids,
                                                                     names)}
                  if len(names) == len(recording.channel_ids) else {})
    return DetectionResult(
        samples=samples, times_s=times, channels=group_ids[group_index],
        peak_channels=peak_channels, amplitudes=joined("amps", np.float32), waveforms=waveforms,
        features=features, noise_uv=noise, channel_ids=recording.channel_ids.copy(),
        group_ids=group_ids, group_channels=group_channels, sampling_rate=fs,
        t_start=recording.t_start, n_samples=recording.n_samples, params=params,
        recording_path=recording.path)
