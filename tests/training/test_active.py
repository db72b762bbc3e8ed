"""The label-next queue: uncertain first, spread out; the simulated user."""

from __future__ import annotations

import numpy as np

from spikeapp.training.active import rank_queue, simulate, uncovered_clusters


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


def _three_clusters(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    truth = np.repeat([0, 1, 2], 200)
    centres = np.array([[0, 0], [6, 0], [0, 6]], float)
    return centres[truth] + rng.normal(size=(600, 2)), truth


def test_queue_first_asks_for_a_typical_spike_of_a_cluster_no_label_covers():
    rng = np.random.default_rng(2)
    features, truth = _three_clusters(rng)
    # Labels sit at the centres of clusters 0 and 1; cluster 2 has none. The network is sure
    # everywhere (cluster 2 swallowed by unit 0), so no margin would point at it.
    labelled = np.array([np.argmin(np.linalg.norm(features - c, axis=1))
                         for c in ([0, 0], [6, 0])])
    probabilities = np.zeros((600, 2))
    probabilities[truth != 1, 0] = 0.99
    probabilities[truth == 1, 1] = 0.99
    probabilities[probabilities == 0] = 0.01
    candidates = np.setdiff1d(np.arange(600), labelled)
    queue = rank_queue(probabilities, features, candidates, size=3, labelled=labelled)
    assert truth[queue[0]] == 2
    assert np.linalg.norm(features[queue[0]] - [0, 6]) < 1.0  # typical, not an edge spike
    assert len(set(queue)) == 3

    # With a label in every cluster, the queue goes back to the network's doubts.
    covered = np.append(labelled, np.argmin(np.linalg.norm(features - [0, 6], axis=1)))
    guesses = probabilities.copy()
    guesses[truth == 2] = [0.01, 0.99]
    assert len(uncovered_clusters(features, np.setdiff1d(np.arange(600), covered), covered,
                                  guesses=guesses.argmax(axis=1))) == 0


def test_a_cluster_the_network_gives_to_another_unit_than_its_label_is_queued():
    rng = np.random.default_rng(3)
    features, truth = _three_clusters(rng)
    labelled = np.array([np.argmin(np.linalg.norm(features - c, axis=1))
                         for c in ([0, 0], [6, 0], [0, 6])])
    guesses = truth.copy()
    # The network learned cluster 2's label from an odd feature: it calls the rest unit 0.
    guesses[(truth == 2) & ~np.isin(np.arange(600), labelled)] = 0
    candidates = np.setdiff1d(np.arange(600), labelled)
    picks = uncovered_clusters(features, candidates, labelled, guesses=guesses)
    assert len(picks) == 1 and truth[picks[0]] == 2


def test_the_first_question_is_the_unlabelled_spike_with_the_smallest_margin():
    from types import SimpleNamespace

    from spikeapp.session.state import HUMAN
    from spikeapp.workflow.review import first_question

    probabilities = np.array([[0.9, 0.1], [0.52, 0.48], [0.5, 0.5], [0.7, 0.3]], np.float32)
    output = SimpleNamespace(spikes=np.array([10, 11, 12, 13]), probabilities=probabilities)
    session = SimpleNamespace(source=np.zeros(20, np.int8))
    assert first_question(session, output) == 12
    session.source[12] = HUMAN           # labelled: the next least sure
    assert first_question(session, output) == 11
    session.source[[10, 11, 13]] = HUMAN
    assert first_question(session, output) is None


def test_accepted_cores_give_way_once_a_unit_has_enough_hand_labels():
    """``start`` (accepted proposals' cores, some labelled wrongly) trains until a class has
    ``give_way`` labels of the person's own; then its cores leave the training and are scored
    like any other spike, while the label count still includes them."""
    rng = np.random.default_rng(4)
    truth = np.repeat([0, 1], 150)
    where = truth[:, None] * 3 + rng.normal(size=(300, 2))
    cores = np.r_[np.arange(0, 20), np.arange(150, 170)]
    classes = truth[cores].copy()
    classes[:3] = 1   # a core that took three spikes of the other unit
    seen = []

    def fit(labelled, answers):
        seen.append(set(labelled.tolist()))
        means = np.stack([where[labelled[answers == c]].mean(axis=0) for c in (0, 1)])
        distance = ((where[:, None, :] - means[None]) ** 2).sum(axis=2)
        scores = np.exp(-distance)
        return scores / scores.sum(axis=1, keepdims=True)

    run = simulate(truth, where, fit, "random", np.random.default_rng(0), batch=2, target=1.01,
                   budget=len(cores) + 12, start=(cores, classes), give_way=3)
    assert seen[0] == set(cores.tolist())          # the cores alone to start
    assert not seen[-1] & set(cores.tolist())      # both units past 3 hand labels: cores gone
    assert run.rounds[0].labels == len(cores) and run.rounds[-1].labels == len(cores) + 12
    kept = simulate(truth, where, fit, "random", np.random.default_rng(0), batch=2,
                    target=1.01, budget=len(cores) + 12, start=(cores, classes))
    assert set(cores.tolist()) <= seen[-1]         # without give_way they stay
    assert [r.labels for r in kept.rounds] == [r.labels for r in run.rounds]


def test_the_benchmark_scores_queue_and_random_on_the_same_spikes_none_labels(monkeypatch):
    """benchmarks/active_learning.py: each strategy was scored on the spikes it left
    unlabelled, so the queue, asking for the hardest spikes, took them out of its own test.
    Both must be scored on one held-out set that neither labels, drawn from the seed alone."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "active_learning.py"
    spec = importlib.util.spec_from_file_location("active_learning_benchmark", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)

    rng = np.random.default_rng(4)
    features, truth = _three_clusters(rng)
    labelled_by = {}

    def cheap_fit(_waveforms, _threads, _calibration):
        calls = []

        def fit_predict(labelled, classes):
            calls.append(np.asarray(labelled).copy())
            means = np.stack([features[labelled[classes == c]].mean(axis=0) for c in range(3)])
            distance = ((features[:, None, :] - means[None]) ** 2).sum(axis=2)
            scores = np.exp(-distance / 4)
            return scores / scores.sum(axis=1, keepdims=True)

        labelled_by[len(labelled_by)] = calls
        return fit_predict

    monkeypatch.setattr(bench, "make_fit_predict", cheap_fit)
    args = {"batch": 3, "target": 1.01, "budget": 15, "components": 2, "start": None}
    runs = {}
    for strategy in ("queue", "random"):
        _name, _seed, _strategy, run, _s = bench.run_one(
            ("set", features, truth, features, 11, strategy, args))
        runs[strategy] = run
    queue, random = runs["queue"], runs["random"]
    assert queue.scored is not None and random.scored is not None
    np.testing.assert_array_equal(queue.scored, random.scored)
    assert len(queue.scored) >= 0.25 * len(truth)
    for calls in labelled_by.values():     # no strategy labelled a spike of the test
        assert not np.isin(np.concatenate(calls), queue.scored).any()
    # Each round's accuracy is on those spikes.
    from spikeapp.training.active import simulate

    test = queue.scored
    seen = []

    def fit(labelled, classes):
        means = np.stack([features[labelled[classes == c]].mean(axis=0) for c in range(3)])
        distance = ((features[:, None, :] - means[None]) ** 2).sum(axis=2)
        probabilities = np.exp(-distance / 4)
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        seen.append(float((probabilities[test].argmax(axis=1) == truth[test]).mean()))
        return probabilities

    run = simulate(truth, features, fit, "queue", np.random.default_rng(11), target=1.01,
                   budget=12, test=test)
    assert [r.accuracy for r in run.rounds] == seen
