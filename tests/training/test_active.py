"""The label-next queue: uncertain first, spread out; the simulated user."""

from __future__ import annotations

import numpy as np

from spikeapp.training.active import rank_queue, simulate


def test_queue_prefers_crowded_uncertainty_and_spreads_its_picks():
    rng = np.random.default_rng(0)
    n = 400
    where = rng.normal(size=(n, 2))
    p1 = np.full(n, 0.99)
    # Two tight knots of ambiguous spikes far apart (two unit boundaries), the rest confident,
    # and one lone spike that is the most ambiguous of all (an overlap, say).
    knot_a, knot_b = np.arange(0, 30), np.arange(30, 60)
    where[knot_a] = [3, 3] + 0.05 * rng.normal(size=(30, 2))
    where[knot_b] = [-3, -3] + 0.05 * rng.normal(size=(30, 2))
    p1[knot_a] = 0.51
    p1[knot_b] = 0.52
    lone = 100
    where[lone] = [9, -9]
    p1[lone] = 0.50
    probabilities = np.stack([p1, 1 - p1], axis=1)
    queue = rank_queue(probabilities, where, np.arange(n), size=4)
    assert queue[0] in knot_a or queue[0] in knot_b  # not the lone outlier
    first, other = (knot_a, knot_b) if queue[0] in knot_a else (knot_b, knot_a)
    assert queue[1] in other or queue[1] == lone  # the second pick goes far away
    assert set(queue) & set(other)
    assert len(set(queue)) == 4
    rest = rank_queue(probabilities, where, np.setdiff1d(np.arange(n), first), size=3)
    assert not set(rest) & set(first)


def test_simulated_user_stops_at_the_target_and_both_strategies_share_the_start():
    rng = np.random.default_rng(1)
    truth = np.repeat([0, 1, 2], 100)
    where = truth[:, None] + 0.3 * rng.normal(size=(300, 2))
    centres = np.array([[0, 0], [1, 1], [2, 2]], float)

    def nearest_centre(labelled, classes):
        means = np.stack([where[labelled[classes == c]].mean(axis=0) if (classes == c).any()
                          else centres[c] for c in range(3)])
        distance = ((where[:, None, :] - means[None]) ** 2).sum(axis=2)
        scores = np.exp(-distance)
        return scores / scores.sum(axis=1, keepdims=True)

    runs = {s: simulate(truth, where, nearest_centre, s, np.random.default_rng(3), target=0.9,
                        budget=30) for s in ("queue", "random")}
    for run in runs.values():
        assert run.rounds[0].labels == 3
        assert [r.labels for r in run.rounds] == sorted(r.labels for r in run.rounds)
        assert run.labels_needed <= 30
        if run.reached_at is not None:
            assert run.rounds[-1].accuracy >= 0.9
