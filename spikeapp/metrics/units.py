"""Spike count, labels, firing rate, SNR, ISI violations, confidence; ISI and correlograms."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from spikeapp.session.state import LABELLED, Session, among

ISI_VIOLATION_S = 0.0015


@dataclass(frozen=True)
class UnitMetrics:
    unit_id: int
    n_spikes: int
    n_labels: int          # labelled by a person or imported from another sorting
    rate_hz: float
    snr: float
    isi_violations_pct: float
    mean_confidence: float


def unit_metrics(session: Session, unit_id: int, members: NDArray | None = None) -> UnitMetrics:
    """Metrics of one unit over all its spikes (``members``, its spikes in time order, when the
    caller has them already)."""
    d = session.detection
    if members is None:
        members = np.flatnonzero(session.assignment == unit_id)
    duration = max(d.n_samples / d.sampling_rate, 1e-9)
    if len(members) == 0:
        return UnitMetrics(unit_id, 0, 0, 0.0, 0.0, 0.0, 0.0)
    times = d.times_s[members]  # detections are in time order, and so are members
    violations = isi_violations_pct(times)
    mean_wave = np.asarray(d.waveforms[members[:: max(1, len(members) // 2000)]]).mean(axis=0)
    channel_rows = np.argmax(np.abs(mean_wave).max(axis=1))
    members_channel = d.group_members(int(d.channels[members[0]]))
    noise_index = np.nonzero(d.channel_ids == members_channel[channel_rows])[0]
    noise = float(d.noise_uv[noise_index[0]]) if len(noise_index) else 1.0
    snr = float(np.abs(mean_wave[channel_rows]).max() / noise) if noise > 0 else 0.0
    return UnitMetrics(unit_id, len(members), int(among(session.source[members], LABELLED).sum()),
                       len(members) / duration, snr, violations,
                       float(session.confidence[members].mean()))


def isi_violations_pct(times_s: NDArray) -> float:
    """Percent of inter-spike intervals shorter than the refractory period (1.5 ms)."""
    isi = np.diff(_sorted(times_s))
    return 100.0 * float((isi < ISI_VIOLATION_S).mean()) if len(isi) else 0.0


def isi_histogram(times_s: NDArray, max_ms: float = 50.0, bin_ms: float = 0.5
                  ) -> tuple[NDArray, NDArray]:
    """Counts of inter-spike intervals up to ``max_ms`` and the bin edges in ms."""
    edges = np.arange(0, max_ms + bin_ms, bin_ms)
    isi = np.diff(_sorted(times_s)) * 1000
    # bins and range, not the edges: numpy's equal-width path needs no sort
    return np.histogram(isi, len(edges) - 1, (edges[0], edges[-1]))[0], edges


def correlogram(times_a: NDArray, times_b: NDArray, window_ms: float = 50.0, bin_ms: float = 1.0,
                max_reference: int = 5_000) -> tuple[NDArray, NDArray]:
    """Cross-correlogram of b relative to a (auto-correlogram when a is b, zero lag removed).

    At most ``max_reference`` spikes of a (evenly spread) serve as references, which bounds
    the cost for units of hundreds of thousands of spikes; the shape is unchanged.
    """
    edges = np.arange(-window_ms, window_ms + bin_ms, bin_ms)
    a = _sorted(times_a) * 1000
    if len(a) > max_reference:
        a = a[np.linspace(0, len(a) - 1, max_reference).astype(np.int64)]
    b = _sorted(times_b) * 1000
    counts = np.zeros(len(edges) - 1, dtype=np.int64)
    if len(a) == 0 or len(b) == 0:
        return counts, edges
    low = np.searchsorted(b, a - window_ms)
    high = np.searchsorted(b, a + window_ms)
    # Every (reference, neighbour) pair at once: neighbour k of reference i is b[low[i] + k].
    per_reference = high - low
    starts = np.cumsum(per_reference) - per_reference
    reference = np.repeat(np.arange(len(a)), per_reference)
    neighbour = low[reference] + np.arange(len(reference)) - starts[reference]
    lags = b[neighbour] - a[reference]
    if times_a is times_b:
        lags = lags[lags != 0]
    counts += np.histogram(lags, len(edges) - 1, (edges[0], edges[-1]))[0]
    return counts, edges


def firing_rate(times_s: NDArray, start_s: float, stop_s: float, bin_s: float = 2.0
                ) -> tuple[NDArray, NDArray]:
    """Firing rate (Hz) in bins of ``bin_s`` from ``start_s`` to ``stop_s``, and the bin edges."""
    edges = np.linspace(start_s, stop_s, max(2, int((stop_s - start_s) // bin_s) + 1))
    counts = np.diff(np.searchsorted(_sorted(times_s), edges))
    return counts / np.diff(edges), edges


def _sorted(times: NDArray) -> NDArray:
    """``times`` in increasing order (a linear check first: they usually already are)."""
    times = np.asarray(times)
    if len(times) > 1 and not np.all(times[1:] >= times[:-1]):
        return np.sort(times)
    return times
