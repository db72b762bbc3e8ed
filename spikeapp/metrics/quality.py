"""Cluster-quality metrics that curators sort by, and similarity between units of one group.

- Isolation distance and L-ratio (Schmitzer-Torbert et al., Neuroscience 2005), in the group's
  PCA features (``DetectionResult.features``): how far the unit's cluster lies from every other
  spike detected on its channel group, in the unit's own Mahalanobis metric.
- Presence ratio: the share of the recording's time bins in which the unit fired at all (a unit
  lost to drift halfway through scores about 0.5).
- Amplitude cutoff (Hill et al., J Neurosci 2011): the share of the unit's spikes estimated to be
  missing under the detection threshold, from how its amplitude distribution is cut off on the
  low side (mirror of the upper tail), at most 0.5.
- Template similarity: cosine similarity of two units' mean waveforms on their group's channels;
  each unit's most similar unit suggests a merge to look at.

At a million spikes these are computed on samples: at most ``MAX_OWN`` spikes of the unit for its
centre and covariance, at most ``MAX_OTHERS`` of the other spikes (their counts scaled back), and
at most ``MAX_MEAN`` spikes for a mean waveform, spread over the recording.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import gaussian_filter1d
from scipy.special import gammaincc

MAX_OWN = 5000
MAX_OTHERS = 10000
MAX_MEAN = 2000
MAX_AMPLITUDES = 50000
PRESENCE_BIN_S = 60.0       # as SpikeInterface; shorter recordings get 10 bins
LEAST_FOR_AMPLITUDES = 100  # fewer spikes: no amplitude cutoff


@dataclass(frozen=True)
class UnitQuality:
    unit_id: int
    isolation_distance: float   # NaN: fewer other spikes than the unit has, or too few spikes
    l_ratio: float              # NaN: too few spikes for a covariance
    presence_ratio: float
    amplitude_cutoff: float     # NaN: fewer than LEAST_FOR_AMPLITUDES spikes
    most_similar: int | None    # another unit of the same group, or None
    similarity: float           # to ``most_similar`` (NaN without one)


def _spread(indexes: NDArray[np.int64], at_most: int) -> NDArray[np.int64]:
    """At most ``at_most`` of ``indexes``, evenly spread (they are in time order)."""
    if len(indexes) <= at_most:
        return indexes
    return indexes[np.linspace(0, len(indexes) - 1, at_most).astype(np.int64)]


def isolation(features: NDArray, own: NDArray[np.int64], others: NDArray[np.int64],
              n_others: int | None = None) -> tuple[float, float]:
    """Isolation distance and L-ratio of the spikes ``own`` against ``others`` (row indexes into
    ``features``). ``others`` may be a sample of ``n_others`` other spikes; counts are scaled
    back to all of them."""
    dims = features.shape[1]
    n_others = len(others) if n_others is None else n_others
    if len(own) < dims + 2:
        return math.nan, math.nan
    sample = np.asarray(features[_spread(own, MAX_OWN)], dtype=np.float64)
    centre = sample.mean(axis=0)
    inverse = np.linalg.pinv(np.cov(sample, rowvar=False).reshape(dims, dims))
    picked = _spread(others, MAX_OTHERS)
    if len(picked) == 0 or n_others == 0:
        return math.nan, 0.0
    share = len(picked) / n_others                  # each picked spike stands for 1/share
    offset = np.asarray(features[picked], dtype=np.float64) - centre
    d2 = ((offset @ inverse) * offset).sum(axis=1)
    l_ratio = float(gammaincc(dims / 2, d2 / 2).sum() / share / len(own))  # chi-square tail
    if n_others < len(own):
        return math.nan, l_ratio
    nth = min(len(d2), max(1, math.ceil(len(own) * share)))
    return float(np.partition(d2, nth - 1)[nth - 1]), l_ratio


def presence_ratio(times_s: NDArray, start_s: float, stop_s: float) -> float:
    """Share of time bins (60 s, or a tenth of a shorter recording) holding at least one spike;
    ``times_s`` in time order, as a unit's spikes are."""
    duration = max(stop_s - start_s, 1e-9)
    bin_s = min(PRESENCE_BIN_S, duration / 10)
    bins = max(1, int(round(duration / bin_s)))
    edges = np.linspace(start_s, stop_s, bins + 1)
    edges[-1] = np.inf  # a spike on the last sample belongs to the last bin
    counts = np.diff(np.searchsorted(times_s, edges))   # spikes per bin
    return float((counts > 0).mean())


def amplitude_cutoff(amplitudes: NDArray) -> float:
    """Estimated share of missing spikes (0-0.5): the smoothed amplitude density at the lowest
    amplitude is found again above the mode, and the mass beyond that point stands for the
    missing tail."""
    a = np.abs(np.asarray(amplitudes[_spread(np.arange(len(amplitudes)), MAX_AMPLITUDES)],
                          dtype=np.float64))
    if len(a) < LEAST_FOR_AMPLITUDES:
        return math.nan
    bins = int(np.clip(len(a) // 10, 20, 200))
    density, edges = np.histogram(a, bins, density=True)
    density = gaussian_filter1d(density, 2.0)
    mode = int(np.argmax(density))
    mirror = mode + int(np.argmin(np.abs(density[mode:] - density[0])))
    missing = float(density[mirror:].sum() * (edges[1] - edges[0]))
    return min(missing, 0.5)


def templates(waveforms: NDArray, members: dict[int, NDArray[np.int64]]) -> dict[int, NDArray]:
    """Each unit's mean waveform (channels x samples) from at most ``MAX_MEAN`` spikes."""
    return {u: np.asarray(waveforms[_spread(m, MAX_MEAN)], dtype=np.float64).mean(axis=0)
            for u, m in members.items() if len(m)}


def similarity(a: NDArray, b: NDArray) -> float:
    """How alike two mean waveforms are in shape *and* size: their dot product over the larger
    one's squared norm, the cosine of their angle times the ratio of their norms. 1: the same
    waveform; a unit twice the other's size with the same shape: 0.5; unrelated: about 0.

    The cosine alone is blind to size, and every spike is a trough of about the same shape: it
    said about 0.93 for nearly every pair, units whose troughs differ two-fold included, and
    the question "might these be one neuron" needs both."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    larger = max(float(a @ a), float(b @ b))
    return float(a @ b / larger) if larger > 0 else math.nan


def unit_quality(session, members: dict[int, NDArray[np.int64]]) -> dict[int, UnitQuality]:
    """Quality of every unit in ``members`` (spike indexes in time order per unit id), each
    against the other spikes of its channel group and the other units of that group."""
    d = session.detection
    start = d.t_start
    stop = d.t_start + d.n_samples / d.sampling_rate
    by_group: dict[int, list[int]] = {}
    for unit_id, spikes in members.items():
        if len(spikes):
            group = int(d.channels[spikes[0]])
            by_group.setdefault(group, []).append(unit_id)
    means = templates(d.waveforms, members)
    owner = np.full(d.n_spikes, -1, dtype=np.int64) if len(members) else None
    for unit_id, spikes in members.items():
        owner[spikes] = unit_id
    out = {}
    for group, units in by_group.items():
        everyone = np.flatnonzero(d.channels == group)
        # one evenly spread pool of the group's spikes serves every unit's "others"
        pool = _spread(everyone, 2 * MAX_OTHERS)
        for unit_id in units:
            own = members[unit_id]
            others = pool[owner[pool] != unit_id]
            distance, l_ratio = isolation(d.features, own, others, len(everyone) - len(own))
            peers = [(similarity(means[unit_id], means[v]), v) for v in units if v != unit_id]
            best = max(peers, key=lambda p: -math.inf if math.isnan(p[0]) else p[0],
                       default=(math.nan, None))
            out[unit_id] = UnitQuality(
                unit_id, distance, l_ratio, presence_ratio(d.times_s[own], start, stop),
                amplitude_cutoff(d.amplitudes[own]), best[1], best[0])
    return out
