"""Active learning: which spike a person should label next, and how many labels that saves.

The queue ranks unlabelled spikes by how unsure the network is (the margin between its two most
probable units, small = unsure), weighted by how crowded their neighbourhood is (so outliers and
overlapping spikes, unsure but rare, do not crowd out the boundary between two units), and spreads
the picks over feature space and time, so a batch is not twenty copies of one ambiguous spike:
among the most uncertain spikes, each pick is the one farthest from those already picked,
weighted by its usefulness.

Before any of that, the queue looks for what the labels do not cover: the spikes are clustered
(a Gaussian mixture in feature space, its size chosen by BIC) and a cluster that holds no
labelled spike near its centre gets its most typical spike queued first. A person labels one
spike from each cluster they see; when the one they labelled was an overlap or an outlier, the
network can swallow a whole unit with full confidence, where no margin shows it.

``simulate`` answers the queue from a ground truth, as a person would, to measure how many labels
the queue saves over labelling at random (benchmarks/active_learning.py, ``spikeapp sort
--active``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from spikeapp.training.mixture import bic_mixture, mahalanobis

MIN_SHARE = 0.02        # an uncovered cluster is queued when it holds this share of spikes
COVERED_DISTANCE = 2.8  # a labelled spike within this Mahalanobis distance covers a cluster
MAX_SAMPLE = 3000       # spikes the clustering is fitted on
MAX_CLUSTERS = 12
POOL_FACTOR = 10  # the queue is chosen among this many times its size of the most unsure spikes
DENSITY_NEIGHBOURS = 10


def rank_queue(probabilities: NDArray, coordinates: NDArray, candidates: NDArray[np.int64],
               size: int = 20, labelled: NDArray[np.int64] | None = None,
               features: NDArray | None = None, seed: int = 0, explain: bool = False
               ) -> NDArray[np.int64] | tuple[NDArray[np.int64], int]:
    """Up to ``size`` spike indexes (into ``probabilities`` rows) from ``candidates`` (sorted,
    distinct): first
    the typical spikes of clusters no label covers, then the most uncertain, spread out.

    ``coordinates`` (spikes x d) place the spikes for spreading: for example the first PCA
    features and the time, in comparable units (they are standardised here). ``features``
    (spikes x f, default ``coordinates``) are clustered to find what the ``labelled`` spikes
    do not cover; without ``labelled`` that step is skipped. With ``explain``, also how many
    of the picks (the first ones) are typical spikes of uncovered clusters.
    """
    candidates = np.asarray(candidates, dtype=np.int64)
    if len(candidates) == 0 or size <= 0:
        return (np.zeros(0, dtype=np.int64), 0) if explain else np.zeros(0, dtype=np.int64)
    first = np.zeros(0, dtype=np.int64)
    if labelled is not None and len(labelled):
        guesses = np.asarray(probabilities).argmax(axis=1)
        first = uncovered_clusters(coordinates if features is None else features, candidates,
                                   np.asarray(labelled, dtype=np.int64), seed, guesses)[:size]
    # Candidates are sorted and distinct (a mask's indexes) and ``first`` is a handful: a
    # mask keeps them in order (setdiff1d sorted a million of them again, holding the GIL for
    # 150 ms of the GUI thread's time while the queue was ranked on a worker).
    rest = _uncertain(probabilities, coordinates,
                      candidates[~np.isin(candidates, first)] if len(first) else candidates,
                      size - len(first))
    picks = np.concatenate([first, rest])
    return (picks, len(first)) if explain else picks


def uncovered_clusters(features: NDArray, candidates: NDArray[np.int64],
                       labelled: NDArray[np.int64], seed: int = 0,
                       guesses: NDArray[np.int64] | None = None) -> NDArray[np.int64]:
    """For each cluster of spikes (a BIC-sized Gaussian mixture on ``features``) that holds at
    least MIN_SHARE of them and has no labelled spike near its centre, the candidate that is
    most typical of it; the largest cluster first. With the network's ``guesses`` (a unit per
    spike, labelled ones included), a cluster also counts as uncovered when the network puts
    most of it in a unit that none of the labelled spikes near its centre is guessed as."""
    features = np.asarray(features, dtype=np.float64)
    if len(candidates) < 10:
        return np.zeros(0, dtype=np.int64)
    rng = np.random.default_rng(seed)
    pool = np.concatenate([candidates, labelled])
    sample = pool if len(pool) <= MAX_SAMPLE else rng.choice(pool, MAX_SAMPLE, replace=False)
    centre, spread = features[sample].mean(axis=0), features[sample].std(axis=0)
    spread = np.where(spread > 0, spread, 1.0)
    points = (features[sample] - centre) / spread
    best = bic_mixture(points, min(MAX_CLUSTERS, len(sample) // 20), seed, reg_covar=1e-3)
    if best is None:
        return np.zeros(0, dtype=np.int64)
    z_labelled = (features[labelled] - centre) / spread
    z_candidates = (features[candidates] - centre) / spread
    near = np.stack([mahalanobis(z_labelled, best.means_[k], best.precisions_[k])
                     for k in range(best.n_components)], axis=1) <= COVERED_DISTANCE
    owner = best.predict(z_candidates)
    picks = []
    for k in np.argsort(-best.weights_):
        members = np.flatnonzero(owner == k)
        if best.weights_[k] < MIN_SHARE or len(members) == 0:
            continue
        if guesses is not None and near[:, k].any():
            # Covered, unless the network puts most of the cluster in a unit none of the
            # labels near its centre belong to (it learned an outlier's odd part, say).
            majority = np.bincount(guesses[candidates[members]]).argmax()
            if majority in guesses[labelled[near[:, k]]]:
                continue
        elif near[:, k].any():
            continue
        typical = members[np.argmin(mahalanobis(z_candidates[members], best.means_[k],
                                                 best.precisions_[k]))]
        picks.append(candidates[typical])
    return np.asarray(picks, dtype=np.int64)


def _uncertain(probabilities: NDArray, coordinates: NDArray, candidates: NDArray[np.int64],
               size: int) -> NDArray[np.int64]:
    """The most uncertain spikes, weighted by density and spread out."""
    if len(candidates) == 0 or size <= 0:
        return np.zeros(0, dtype=np.int64)
    p = np.asarray(probabilities, dtype=np.float64)[candidates]
    top2 = np.sort(p, axis=1)[:, -2:] if p.shape[1] > 1 else np.hstack([np.zeros_like(p), p])
    margin = top2[:, 1] - top2[:, 0]
    pool = np.argsort(margin, kind="stable")[: max(size, POOL_FACTOR * size)]
    everything = np.asarray(coordinates, dtype=np.float64)[candidates]
    centre, spread = everything.mean(axis=0), everything.std(axis=0)
    spread = np.where(spread > 0, spread, 1.0)
    points = (everything[pool] - centre) / spread
    # Information density: an uncertain spike in a crowd (where a unit's boundary runs) teaches
    # more than a lone outlier or an overlap of two spikes, which are uncertain too.
    crowd = (everything[:: max(1, len(everything) // 5000)] - centre) / spread
    gaps = np.linalg.norm(points[:, None, :] - crowd[None, :, :], axis=2)
    k = min(DENSITY_NEIGHBOURS, gaps.shape[1])
    density = 1.0 / (1e-3 + np.partition(gaps, k - 1, axis=1)[:, :k].mean(axis=1))
    uncertainty = (1.0 - margin[pool] + 1e-3) * density / density.max()
    # Units share the picks: each pick's unit (the network's guess) weighs on the next ones, so
    # a batch does not all go to one boundary while another unit has one label.
    guess = p[pool].argmax(axis=1)
    taken = np.zeros(p.shape[1])
    chosen = [int(np.argmax(uncertainty))]  # the most useful spike of all
    taken[guess[chosen[0]]] += 1
    distance = np.linalg.norm(points - points[chosen[0]], axis=1)
    while len(chosen) < min(size, len(pool)):
        score = distance * uncertainty / (1.0 + taken[guess])
        score[chosen] = -1.0
        best = int(np.argmax(score))
        if score[best] <= 0:
            break
        chosen.append(best)
        taken[guess[best]] += 1
        distance = np.minimum(distance, np.linalg.norm(points - points[best], axis=1))
    return candidates[pool[chosen]]


@dataclass
class Round:
    labels: int          # labels used for this round's training
    accuracy: float      # on every spike not labelled


@dataclass
class Simulation:
    strategy: str
    rounds: list[Round] = field(default_factory=list)
    reached_at: int | None = None   # labels needed to reach the target; None: not within budget
    scored: NDArray[np.int64] | None = None   # the spikes its accuracy is on (``test``)

    @property
    def labels_needed(self) -> int:
        """Labels to reach the target, or the budget used when it was not reached."""
        return self.reached_at if self.reached_at is not None else self.rounds[-1].labels


TEST_SHARE = 0.3   # of each unit's spikes, held out from labelling and scored on


def held_out_test(truth: NDArray[np.int64], seed: int, exclude: NDArray[np.int64] | None = None,
                  share: float = TEST_SHARE) -> NDArray[np.int64]:
    """The spikes every strategy of a comparison is scored on, and none labels: ``share`` of
    each unit's spikes, drawn from ``seed`` alone (never from the strategy), none of ``exclude``
    (spikes given as labels from the start: accepted proposals' cores)."""
    truth = np.asarray(truth, dtype=np.int64)
    rng = np.random.default_rng([int(seed), 7919])
    allowed = np.ones(len(truth), dtype=bool)
    if exclude is not None:
        allowed[np.asarray(exclude, dtype=np.int64)] = False
    picks = []
    for c in np.unique(truth):
        members = np.flatnonzero((truth == c) & allowed)
        take = int(round(share * np.count_nonzero(truth == c)))
        take = min(take, max(0, len(members) - 2))   # a unit keeps spikes to label
        picks.append(rng.choice(members, take, replace=False))
    return np.sort(np.concatenate(picks)) if picks else np.zeros(0, np.int64)


def simulate(truth: NDArray[np.int64], coordinates: NDArray,
             fit_predict: Callable[[NDArray[np.int64], NDArray[np.int64]], NDArray],
             strategy: str, rng: np.random.Generator, start_per_unit: int = 1, batch: int = 3,
             target: float = 0.99, budget: int = 60, features: NDArray | None = None,
             start: tuple[NDArray[np.int64], NDArray[np.int64]] | None = None,
             give_way: int | None = None, test: NDArray[np.int64] | None = None
             ) -> Simulation:
    """Label, train, measure, repeat: a person answering the queue (``strategy="queue"``) or
    labelling spikes picked at random (``"random"``), with the ground truth as their answers.

    ``fit_predict(labelled_indexes, their_classes)`` trains and returns class probabilities for
    every spike. The same first labels (``start_per_unit`` per unit) start both strategies
    when ``rng`` is seeded the same. ``features`` are what the queue clusters to find what the
    labels do not cover (default ``coordinates``). ``start`` (spikes, their classes) replaces
    those first labels: accepted proposals' cores, say, whose classes may be wrong for some
    spikes; the budget and the rounds' label counts include them. ``give_way``: a class's
    ``start`` spikes leave the training (and are scored like any other spike) once it has this
    many labels of the person's own, as the app's accepted cores do.

    ``test``: spikes nobody labels, the same for every strategy, which every round is scored
    on. Without it a round is scored on the spikes its own strategy left unlabelled, and a
    queue that asks for the hardest spikes takes them out of its own test: the strategies are
    then not compared on the same spikes.
    """
    truth = np.asarray(truth, dtype=np.int64)
    classes = np.unique(truth)
    answers = truth.copy()
    held = np.zeros(len(truth), dtype=bool)
    if test is not None:
        test = np.unique(np.asarray(test, dtype=np.int64))
        held[test] = True
    if start is not None:
        cores = np.asarray(start[0], dtype=np.int64)
        if held[cores].any():
            raise ValueError("the start labels and the test share spikes")
        answers[cores] = start[1]
        hand = np.zeros(0, dtype=np.int64)
    else:
        cores = np.zeros(0, dtype=np.int64)
        hand = np.concatenate([rng.choice(np.flatnonzero((truth == c) & ~held), start_per_unit,
                                          replace=False) for c in classes])
    result = Simulation(strategy, scored=test)
    while True:
        active = cores
        if give_way is not None and len(cores):
            counts = np.bincount(answers[hand], minlength=int(answers.max()) + 1)
            active = cores[counts[answers[cores]] < give_way]
        labelled = np.concatenate([active, hand])   # in the order given (training draws by row)
        probabilities = fit_predict(labelled, answers[labelled])
        rest = np.setdiff1d(np.arange(len(truth)), labelled)
        scored = rest if test is None else test
        accuracy = float((classes[probabilities[scored].argmax(axis=1)] == truth[scored]).mean())
        used = len(hand) + len(cores)   # cores that gave way were still given
        result.rounds.append(Round(used, accuracy))
        if accuracy >= target:
            result.reached_at = used
            return result
        if used >= budget or len(rest) == 0:
            return result
        pool = np.setdiff1d(rest, cores)   # a person labels spikes not already given
        pool = pool[~held[pool]]           # nor the test's
        take = min(batch, budget - used, len(pool))
        if take == 0:
            return result
        if strategy == "queue":
            picks = rank_queue(probabilities, coordinates, pool, take, labelled=labelled,
                               features=features)
        else:
            picks = rng.choice(pool, take, replace=False)
        hand = np.concatenate([hand, picks])
