"""Unit metrics and the plots' histograms against direct computations."""

import numpy as np

from spikeapp.metrics import correlogram, firing_rate, isi_histogram


def test_correlogram_counts_every_pair_within_the_window():
    rng = np.random.default_rng(1)
    a = np.sort(rng.uniform(0, 5, 400))
    b = np.sort(rng.uniform(0, 5, 300))
    counts, edges = correlogram(a, b, window_ms=20, bin_ms=1)
    lags = (b[None, :] - a[:, None]).ravel() * 1000
    lags = lags[(lags >= -20) & (lags <= 20)]
    assert np.array_equal(counts, np.histogram(lags, edges)[0])


def test_autocorrelogram_leaves_out_the_zero_lag_and_is_symmetric():
    rng = np.random.default_rng(2)
    a = np.sort(rng.uniform(0, 5, 500))
    counts, edges = correlogram(a, a, window_ms=10, bin_ms=1)
    lags = (a[None, :] - a[:, None]).ravel() * 1000
    lags = lags[(lags != 0) & (np.abs(lags) <= 10)]
    assert counts.sum() == len(lags)
    assert np.array_equal(counts, counts[::-1])


def test_correlogram_of_empty_trains_is_zero():
    counts, _ = correlogram(np.zeros(0), np.array([1.0]))
    assert counts.sum() == 0


def test_isi_histogram_and_firing_rate():
    times = np.array([0.0, 0.001, 0.003, 0.010, 1.5, 3.9])
    counts, edges = isi_histogram(times, max_ms=10, bin_ms=1)
    assert counts.sum() == 3  # 1, 2 and 7 ms; the longer intervals fall outside
    assert counts[1] == 1 and counts[2] == 1 and counts[7] == 1
    rate, edges = firing_rate(times, 0.0, 4.0, bin_s=2.0)
    assert np.allclose(edges, [0, 2, 4])
    assert np.allclose(rate, [5 / 2, 1 / 2])
