"""Noise estimation, threshold crossings, alignment to the extremum and dead time."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

_MAD_TO_SD = 0.6745


def noise_level(filtered: NDArray) -> NDArray[np.float64]:
    """Robust noise per channel (rows): median(|x|) / 0.6745 (Quiroga et al. 2004)."""
    return np.median(np.abs(filtered), axis=-1) / _MAD_TO_SD


def polarity_sign(polarity: str) -> float:
    """+1 for positive spikes, -1 for negative ones, 0 for both (use the absolute value)."""
    return {"negative": -1.0, "positive": 1.0, "both": 0.0}[polarity]


def spike_score(filtered: NDArray, thresholds: NDArray, sign: float) -> NDArray[np.float64]:
    """Signal in units of threshold, oriented so that spikes are positive (channels x samples)."""
    scaled = filtered / thresholds[:, None]
    return np.abs(scaled) if sign == 0 else sign * scaled


def crossings(score: NDArray, begin: int, end: int) -> NDArray[np.int64]:
    """Indexes ``i`` in ``[begin, end)`` where ``score`` rises above 1 (``score[i-1] <= 1``)."""
    begin = max(begin, 1)
    if end <= begin:
        return np.zeros(0, dtype=np.int64)
    above = score[begin - 1:end] > 1.0
    return np.nonzero(above[1:] & ~above[:-1])[0].astype(np.int64) + begin


def align_to_extremum(score: NDArray, starts: NDArray[np.int64], window: int) -> NDArray[np.int64]:
    """For each crossing, the index of the largest score within ``window`` samples after it."""
    if len(starts) == 0:
        return starts
    offsets = np.arange(window + 1)
    index = np.minimum(starts[:, None] + offsets[None, :], len(score) - 1)
    return starts + np.argmax(score[index], axis=1)


def one_per_event(peaks: NDArray[np.int64], height: NDArray, signs: NDArray, window: int,
                  dead: int = 0) -> NDArray[np.int64]:
    """With both polarities: the phases of one spike, each crossing the threshold on its own
    (a trough, the rebound, a second trough: three detections within 2.2 ms), are one event.
    Consecutive peaks of opposite sign less than ``window`` samples apart are chained into an
    event, of which the peak of the largest ``height`` is kept. Peaks of the same sign stay
    apart (two spikes of one polarity) unless within the ``dead`` time (noise crossing one
    phase twice)."""
    if len(peaks) < 2:
        return peaks
    kept = []
    best = 0
    for i in range(1, len(peaks)):
        gap = peaks[i] - peaks[i - 1]
        if gap <= dead or (signs[i] != signs[i - 1] and gap < window):
            if height[i] > height[best]:
                best = i
            continue
        kept.append(best)
        best = i
    kept.append(best)
    return peaks[np.asarray(kept, dtype=np.int64)]


def apply_dead_time(peaks: NDArray[np.int64], dead: int, last_peak: int
                    ) -> tuple[NDArray[np.int64], int]:
    """Keep peaks more than ``dead`` samples after the previous kept one.

    ``peaks`` are global sample indexes in increasing order; ``last_peak`` is the last kept
    peak of earlier chunks. Returns the kept peaks and the new last peak.
    """
    kept = []
    for peak in peaks.tolist():
        if peak - last_peak > dead:
            kept.append(peak)
            last_peak = peak
    return np.asarray(kept, dtype=np.int64), last_peak


def parabolic_offset(values: NDArray, at: NDArray[np.int64]) -> NDArray[np.float64]:
    """Sub-sample offset in [-0.5, 0.5] of the vertex of the parabola through three samples."""
    inside = (at >= 1) & (at <= len(values) - 2)
    offset = np.zeros(len(at))
    if not inside.any():
        return offset
    left, mid, right = (values[at[inside] + k] for k in (-1, 0, 1))
    curvature = left - 2 * mid + right
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = np.where(curvature != 0, 0.5 * (left - right) / curvature, 0.0)
    offset[inside] = np.clip(delta, -0.5, 0.5)
    return offset


def cubic_sample(signal_rows: NDArray, positions: NDArray[np.float64]) -> NDArray[np.float64]:
    """Values of each row at fractional ``positions`` by Keys cubic convolution (a = -0.5).

    ``signal_rows`` is channels x samples; ``positions`` any shape. Returns
    (channels,) + positions.shape.
    """
    base = np.floor(positions).astype(np.int64)
    frac = positions - base
    last = signal_rows.shape[-1] - 1
    result = np.zeros((signal_rows.shape[0],) + positions.shape)
    for k in (-1, 0, 1, 2):
        distance = np.abs(frac - k)
        weight = np.where(
            distance <= 1, 1.5 * distance**3 - 2.5 * distance**2 + 1,
            np.where(distance < 2, -0.5 * distance**3 + 2.5 * distance**2 - 4 * distance + 2, 0.0))
        result += weight * signal_rows[:, np.clip(base + k, 0, last)]
    return result
