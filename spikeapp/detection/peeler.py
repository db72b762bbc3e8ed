"""Spikes a threshold misses, found by the sorted units' templates: match, subtract, search again.

A threshold at 5 x the noise finds a unit whose trough is 5 x the noise half the time, and one
at 3 x almost never; inside an overlap it finds one of two spikes. Once units are sorted, their
templates find the rest, as the peelers of tridesclous, Kilosort and SpyKING CIRCUS do:

1. the band-passed signal of a group, less every detected spike of a sorted unit (its template
   scaled by a least-squares amplitude), is the residual;
2. each template slides along the residual; where it explains the residual with an amplitude
   of 0.5-1.5 x its own, removes at least half the share of the window's energy that a spike of
   its size in this noise would, and scores beyond ``min_score`` robust SDs of that template's
   scores along the chunk (so the noise's own colour and its small far-away spikes set the
   bar, as the noise's SD sets the threshold), the best template there is a spike;
3. found spikes are subtracted and the residual is searched again (``passes`` times).

Spikes within ``exclusion`` of a detection already there are not new. The job is chunked like
detection, so its memory does not grow with the recording.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import signal

from spikeapp.detection.filtering import BandPass, filtered_chunks
from spikeapp.io.base import Recording
from spikeapp.tasks import CancelToken, Job, Progress

AMPLITUDE_RANGE = (0.5, 1.5)
EXPLAINED = 0.5


@dataclass(frozen=True)
class GroupTemplates:
    """What the peeler needs of one group: its channel positions in the recording, the sorted
    units' templates (units x channels x samples, the extremum at sample ``pre``) and the group's
    detections with their unit's row in ``templates`` (-1: no template, not subtracted)."""

    group: int
    positions: NDArray[np.int64]
    unit_ids: NDArray[np.int64]
    templates: NDArray[np.float32]
    detected_samples: NDArray[np.int64]
    detected_rows: NDArray[np.int64]


@dataclass
class Found:
    """Spikes found by template matching, in time order per group."""

    samples: NDArray[np.int64]
    groups: NDArray[np.int64]
    unit_ids: NDArray[np.int64]
    amplitudes: NDArray[np.float32]      # fitted scale of the template
    scores: NDArray[np.float32]          # match score in robust SDs
    waveforms: NDArray[np.float32]       # band-passed signal, not the residual


def find_missed_spikes(recording: Recording, groups: list[GroupTemplates], band: BandPass,
                       pre: int, post: int, width: int, chunk_s: float = 10.0,
                       min_score: float = 8.0, passes: int = 3, exclusion: int | None = None,
                       cancel: CancelToken | None = None) -> Job[Found]:
    """Match, subtract and search again, chunk by chunk; waveforms cut like detection's
    (``pre`` + ``post`` samples, padded to ``width`` channels)."""
    fs = recording.sampling_rate
    length = pre + post
    exclusion = exclusion if exclusion is not None else max(1, round(0.0003 * fs))
    chunk = max(4 * length, round(chunk_s * fs))
    parts: dict[str, list] = {k: [] for k in ("samples", "groups", "unit_ids", "amplitudes",
                                               "scores", "waveforms")}
    for start, stop, filtered, offset in filtered_chunks(recording.read, recording.n_samples,
                                                         band, chunk, 2 * length):
        if cancel is not None:
            cancel.raise_if_cancelled()
        window_start = start - offset
        for g in groups:
            if len(g.templates) == 0:
                continue
            x = filtered[g.positions].astype(np.float64)
            found = _peel(x, g, window_start, offset, offset + stop - start, pre, min_score,
                          passes, exclusion)
            if not len(found[0]):
                continue
            local, rows, scale, score = found
            cut = np.zeros((len(local), width, length), dtype=np.float32)
            index = local[:, None] - pre + np.arange(length)[None, :]
            cut[:, :len(g.positions)] = x[:, index].transpose(1, 0, 2)
            parts["samples"].append(local + window_start)
            parts["groups"].append(np.full(len(local), g.group))
            parts["unit_ids"].append(g.unit_ids[rows])
            parts["amplitudes"].append(scale.astype(np.float32))
            parts["scores"].append(score.astype(np.float32))
            parts["waveforms"].append(cut)
        yield Progress(stop / fs, recording.duration_s,
                       f"{sum(len(s) for s in parts['samples'])} spikes found", "s")
    if not parts["samples"]:
        return Found(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64),
                     np.zeros(0, np.float32), np.zeros(0, np.float32),
                     np.zeros((0, width, length), np.float32))
    joined = {k: np.concatenate(v) for k, v in parts.items()}
    order = np.lexsort((joined["samples"], joined["groups"]))
    return Found(**{k: v[order] for k, v in joined.items()})


def _peel(x: NDArray[np.float64], g: GroupTemplates, window_start: int, core_begin: int,
          core_end: int, pre: int, min_score: float, passes: int, exclusion: int
          ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray, NDArray]:
    """Spikes found in one group's filtered window (channels x samples): local positions of
    their extremum, template rows, fitted scales, scores."""
    templates = g.templates.astype(np.float64)
    length = templates.shape[2]
    energy = np.einsum("kcl,kcl->k", templates, templates)
    residual = x.copy()
    local = g.detected_samples - window_start
    inside = (local - pre >= 0) & (local - pre + length <= x.shape[1])
    taken = [local[inside]]
    for at, row in zip(local[inside], g.detected_rows[inside]):
        if row >= 0:
            _subtract(residual, templates[row], energy[row], at - pre)
    spread = None
    # A true spike explains most of its window's energy beyond the noise's: the share of the
    # window's energy the scaled template removes must reach EXPLAINED x what a spike of the
    # template's own size in this noise would remove. Far-away neurons' spikes of another shape
    # match a template's score but not its share.
    noise_energy = length * float(np.sum((np.median(np.abs(x), axis=1) / 0.6745) ** 2))
    expected = energy / (energy + noise_energy)
    found_at, found_row, found_scale, found_score = [], [], [], []
    for _ in range(passes):
        match = _correlate(residual, templates)                     # units x starts
        if spread is None:
            # The bar: robust SD of each template's scores along this window's residual.
            spread = np.median(np.abs(match), axis=1) / 0.6745 + 1e-12
        scale = match / energy[:, None]
        score = match / spread[:, None]
        window_energy = _sliding_energy(residual, length)
        explained = match * scale / np.maximum(window_energy[None, :], 1e-12)
        ok = ((score >= min_score) & (scale >= AMPLITUDE_RANGE[0])
              & (scale <= AMPLITUDE_RANGE[1]) & (explained >= EXPLAINED * expected[:, None]))
        gain = np.where(ok, match * scale, 0.0)                      # energy removed
        best = gain.argmax(axis=0)
        best_gain = gain[best, np.arange(gain.shape[1])]
        peaks, _ = signal.find_peaks(best_gain, height=1e-12, distance=max(1, length // 2))
        centres = peaks + pre
        keep = (centres >= core_begin) & (centres < core_end)
        keep &= gap_to_nearest(centres, np.sort(np.concatenate(taken))) > exclusion
        peaks = peaks[keep]
        if not len(peaks):
            break
        for peak in peaks:
            row = best[peak]
            fitted = _subtract(residual, templates[row], energy[row], peak)
            found_at.append(peak + pre)
            found_row.append(row)
            found_scale.append(fitted)
            found_score.append(score[row, peak])
        taken.append(peaks + pre)
    return (np.asarray(found_at, dtype=np.int64), np.asarray(found_row, dtype=np.int64),
            np.asarray(found_scale), np.asarray(found_score))


def gap_to_nearest(values: NDArray, sorted_others: NDArray) -> NDArray:
    """For each value, the distance to the nearest of ``sorted_others`` (inf when empty)."""
    if len(sorted_others) == 0:
        return np.full(len(values), np.inf)
    right = np.clip(np.searchsorted(sorted_others, values), 0, len(sorted_others) - 1)
    left = np.clip(right - 1, 0, len(sorted_others) - 1)
    return np.minimum(np.abs(sorted_others[right] - values), np.abs(sorted_others[left] - values))


def _correlate(residual: NDArray[np.float64], templates: NDArray[np.float64]
               ) -> NDArray[np.float64]:
    """Per template and window start, the sum over channels of residual x template."""
    out = None
    for c in range(residual.shape[0]):
        # Correlation with every template at once: convolution with the reversed templates.
        part = signal.oaconvolve(residual[c][None, :], templates[:, c, ::-1], mode="valid",
                                 axes=1)
        out = part if out is None else out + part
    return out


def _sliding_energy(residual: NDArray[np.float64], length: int) -> NDArray[np.float64]:
    """Per window start: the residual's energy over ``length`` samples, all channels."""
    power = np.concatenate([[0.0], np.cumsum(np.sum(residual ** 2, axis=0))])
    return power[length:] - power[:-length]


def _subtract(residual: NDArray[np.float64], template: NDArray[np.float64], energy: float,
              begin: int) -> float:
    """Subtract the template at ``begin`` scaled by its least-squares amplitude (clipped to the
    accepted range); the scale."""
    length = template.shape[1]
    if begin < 0 or begin + length > residual.shape[1] or energy <= 0:
        return 0.0
    window = residual[:, begin:begin + length]
    scale = float(np.clip(np.sum(window * template) / energy, *AMPLITUDE_RANGE))
    window -= scale * template
    return scale
