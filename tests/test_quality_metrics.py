"""Curation metrics against their definitions: isolation distance, L-ratio, presence ratio,
amplitude cutoff and template similarity."""

import math

import numpy as np
import pytest

from spikeapp.metrics import quality
from spikeapp.metrics.quality import amplitude_cutoff, isolation, presence_ratio, similarity, unit_quality


def clusters(distance: float, n_own=1000, n_others=3000, dims=5, seed=0):
    rng = np.random.default_rng(seed)
    own = rng.normal(size=(n_own, dims))
    others = rng.normal(size=(n_others, dims))
    others[:, 0] += distance
    features = np.concatenate([own, others]).astype(np.float32)
    return features, np.arange(n_own), np.arange(n_own, n_own + n_others)


def test_isolation_distance_and_l_ratio_follow_the_distance_between_clusters():
    near = isolation(*clusters(1.0))
    far = isolation(*clusters(8.0))
    assert far[0] > 10 * near[0]
    assert far[1] < 0.01 < near[1]


def test_l_ratio_of_spikes_from_the_same_distribution_is_half_their_count_ratio():
    # chi2.sf of a chi-square variable is uniform: the mean term is 1/2
    _, l_ratio = isolation(*clusters(0.0, n_own=2000, n_others=4000))
    assert l_ratio == pytest.approx(0.5 * 4000 / 2000, rel=0.05)


def test_isolation_distance_is_the_nth_closest_other_spike():
    features, own, others = clusters(2.0)
    distance, _ = isolation(features, own, others)
    centre = features[own].mean(axis=0)
    inverse = np.linalg.inv(np.cov(features[own].astype(np.float64), rowvar=False))
    offset = features[others] - centre
    d2 = np.sort(np.einsum("ij,jk,ik->i", offset, inverse, offset))
    assert distance == pytest.approx(d2[len(own) - 1], rel=1e-4)
    # fewer other spikes than the unit has: undefined
    assert math.isnan(isolation(features, others, own)[0])


def test_sampled_metrics_agree_with_the_whole(monkeypatch):
    features, own, others = clusters(2.0, n_own=1000, n_others=30000)
    whole = isolation(features, own, others)
    monkeypatch.setattr(quality, "MAX_OTHERS", 5000)
    sampled = isolation(features, own, others)
    assert sampled[0] == pytest.approx(whole[0], rel=0.1)
    assert sampled[1] == pytest.approx(whole[1], rel=0.1)


def test_presence_ratio_counts_the_time_bins_with_spikes():
    rng = np.random.default_rng(0)
    assert presence_ratio(np.sort(rng.uniform(0, 600, 5000)), 0, 600) == 1.0
    assert presence_ratio(np.sort(rng.uniform(0, 300, 5000)), 0, 600) == pytest.approx(0.5)
    assert presence_ratio(np.zeros(0), 0, 60) == 0.0
    assert presence_ratio(np.array([60.0]), 0, 60) == pytest.approx(0.1)  # the last sample


def test_amplitude_cutoff_sees_a_distribution_cut_at_the_threshold():
    rng = np.random.default_rng(0)
    amplitudes = rng.normal(100, 15, 20000)
    assert amplitude_cutoff(amplitudes) < 0.02
    assert amplitude_cutoff(amplitudes[amplitudes > 100]) > 0.35
    assert amplitude_cutoff(amplitudes[amplitudes > 85]) == pytest.approx(0.16, abs=0.06)
    assert math.isnan(amplitude_cutoff(amplitudes[:50]))


def test_similarity_of_templates():
    t = np.sin(np.linspace(0, 6, 64))[None, :]
    assert similarity(t, t) == pytest.approx(1.0)
    # Size counts: the same shape at three times the size is not the same unit (the cosine
    # said 1.0, and about 0.93 for nearly every pair of real units).
    assert similarity(t, 3 * t) == pytest.approx(1 / 3)
    assert similarity(2 * t, t) == pytest.approx(0.5)
    assert similarity(t, -t) == pytest.approx(-1.0)
    assert similarity(t, 0 * t) == 0.0 and math.isnan(similarity(0 * t, 0 * t))


def test_every_unit_of_the_sorted_demo_has_its_metrics_and_a_neighbour_of_its_group(
        sorted_session):
    session = sorted_session
    members = {u: np.flatnonzero(session.assignment == u) for u in session.units}
    table = unit_quality(session, members)
    assert set(table) == {u for u, m in members.items() if len(m)}
    for unit_id, q in table.items():
        assert q.isolation_distance > 0 and q.l_ratio >= 0
        assert 0.5 < q.presence_ratio <= 1.0
        assert 0.0 <= q.amplitude_cutoff <= 0.5
        group = session.units[unit_id].group
        peers = [u for u in table if u != unit_id and session.units[u].group == group]
        if peers:
            assert session.units[q.most_similar].group == group
            assert q.similarity == max(similarity(*[quality.templates(
                session.detection.waveforms, {0: members[a]})[0] for a in (unit_id, v)])
                for v in peers)
        else:
            assert q.most_similar is None
