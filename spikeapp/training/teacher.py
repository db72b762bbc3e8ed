"""Pseudo-labels from shrinkage LDA self-trained on the unlabelled spikes, alone or agreed with
the network's first fit.

Shrinkage LDA is the right simple model of spikes in noise (one mean per unit, one shared noise
covariance) and fits in milliseconds; self-trained on its own most confident predictions it
often comes close to what the spikes allow. Often, not always: with a few labels on a noisy
recording it can settle on a wrong boundary with the weight of thousands of unlabelled spikes
behind it, and a network taught by it learns its errors (Difficult2 at noise 0.15, 5 labels per
unit: LDA 82 %, the network it taught 81 %). A network teaching itself fails the other way: it
keeps its own first mistakes (noise 0.10, 2 labels per unit: 97.5 % where LDA's teaching gave
99.9 %). The default (:func:`agreed_pseudo_labels`) takes as pseudo-labels only the spikes on
which the two, learning differently, name the same unit and are both sure. On the tuning sets
of benchmarks/training_choice.py (stand-in at noise 0.20, 2 to 20 labels per unit, 3 draws
each) its mean was above both teachers' at every label count (5 per unit: 95.4 % against
94.7 % for the network teaching itself and 79.7 % for the LDA teacher).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

FEW_PER_CLASS = 10      # a fit with a class smaller than this takes FEW_SHRINKAGE
FEW_SHRINKAGE = 0.8     # both chosen on the suite's tuning seeds (below)


def shrinkage_lda(x: NDArray, labels: NDArray[np.int64]):
    """Shrinkage LDA fitted on ``x`` (spikes x features). Where every class has FEW_PER_CLASS
    examples or more, Ledoit-Wolf chooses the shrinkage (scikit-learn's "auto"); with fewer,
    it is FEW_SHRINKAGE. "auto" scales each class by its own sample deviation, which from two
    or three spikes is noise. On the suite's tuning seeds (101 and 102, 12 recordings, 4 label
    draws), the self-trained teacher sorted, with "auto" / with 0.8 from the start:
    2 labels per unit 44.2 % (1 % on its worst draw) / 62.1 %; 3: 63.8 / 66.3; 5: 68.2 /
    69.8; 10: 72.7 / 73.1; 16 (what 20 labels per unit leave to train on): 74.6 / 74.8. At
    16 the mean gained 0.2 points but hybrid_microwire_difficult2 lost 0.7 and 1.5, so from
    10 examples per class on, "auto" decides as before. 0.5 and 1.0 did no better than 0.8."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    counts = np.unique(labels, return_counts=True)[1]
    shrinkage = "auto" if counts.min() >= FEW_PER_CLASS else FEW_SHRINKAGE
    return LinearDiscriminantAnalysis(solver="lsqr", shrinkage=shrinkage).fit(x, labels)


def can_teach(labels: NDArray[np.int64]) -> bool:
    """LDA estimates a noise covariance from the labels: it needs more labels than units."""
    return len(np.unique(labels)) >= 2 and len(labels) > len(np.unique(labels))


def lda_pseudo_labels(waveforms: NDArray, labels: NDArray[np.int64], unlabelled: NDArray,
                      per_class: int, least: float, rounds: int = 2
                      ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Rows of ``unlabelled`` and their classes: up to ``per_class`` of the most confident
    predictions per class with probability >= ``least``, after ``rounds`` of self-training
    (each round refits on the labels and the previous round's pseudo-labels)."""
    x = _flat(waveforms)
    pool = _flat(unlabelled)
    rows = np.zeros(0, dtype=np.int64)
    classes = np.zeros(0, dtype=np.int64)
    for _ in range(max(1, rounds)):
        model = shrinkage_lda(np.concatenate([x, pool[rows]]), np.concatenate([labels, classes]))
        probabilities = model.predict_proba(pool)
        columns = model.classes_
        rows, classes = most_confident(probabilities, per_class, least)
        classes = columns[classes].astype(np.int64)
    return rows, classes


def self_trained_probabilities(waveforms: NDArray, labels: NDArray[np.int64], pool: NDArray,
                               n_classes: int, per_class: int, least: float, rounds: int = 2
                               ) -> NDArray[np.float64]:
    """Class probabilities (pool x n_classes; a class with no label gets 0) of the teacher as
    it stands after ``rounds`` of self-training on ``pool``."""
    rows, classes = lda_pseudo_labels(waveforms, labels, pool, per_class, least, rounds)
    flat = _flat(pool)
    model = shrinkage_lda(np.concatenate([_flat(waveforms), flat[rows]]),
                          np.concatenate([labels, classes]))
    out = np.zeros((len(pool), n_classes))
    out[:, model.classes_.astype(np.int64)] = model.predict_proba(flat)
    return out


def agreed_pseudo_labels(first: NDArray, second: NDArray, per_class: int, least: float
                         ) -> tuple[NDArray[np.int64], NDArray[np.int64], int]:
    """Rows where two teachers' class probabilities (pool x classes each) name the same class,
    each with probability >= ``least``: up to ``per_class`` per class, the surest (product of
    the two) first, their classes, and how many rows the two agreed on in all. Two teachers
    that learn differently (a network and a linear model) rarely make the same mistake on the
    same spike, so what they agree on is right far more often than what either says alone."""
    a, b = first.argmax(axis=1), second.argmax(axis=1)
    sure = (a == b) & (first.max(axis=1) >= least) & (second.max(axis=1) >= least)
    joint = np.where(sure[:, None], first * second, 0.0)
    rows, classes = most_confident(joint, per_class, 0.0)
    keep = sure[rows]
    return rows[keep], classes[keep], int(sure.sum())


def linear_model(waveforms: NDArray, labels: NDArray[np.int64], n_classes: int
                 ) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Shrinkage LDA fitted on ``waveforms`` and class indexes ``labels``, as weights
    (n_classes x features) and biases whose softmax is its class probabilities (a class with
    no example gets none). Kept with the network: its vote joins the network's
    (:func:`linear_probabilities`)."""
    x = _flat(waveforms)
    model = shrinkage_lda(x, labels)
    weights = np.zeros((n_classes, x.shape[1]), dtype=np.float64)
    bias = np.full(n_classes, -1e9, dtype=np.float64)
    present = model.classes_.astype(np.int64)
    if len(present) == 2:   # one discriminant: sigmoid(d) = softmax([0, d])
        weights[present[1]], bias[present[1]] = model.coef_[0], model.intercept_[0]
        bias[present[0]] = 0.0
    else:
        weights[present], bias[present] = model.coef_, model.intercept_
    return weights.astype(np.float32), bias.astype(np.float32)


def linear_probabilities(weights: NDArray, bias: NDArray, waveforms: NDArray
                         ) -> NDArray[np.float32]:
    """Class probabilities of a :func:`linear_model` for (n, channels, samples) waveforms."""
    from scipy.special import softmax

    scores = _flat(waveforms) @ np.asarray(weights, np.float64).T + np.asarray(bias, np.float64)
    return softmax(scores, axis=1).astype(np.float32)


def most_confident(probabilities: NDArray, per_class: int, least: float
                   ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Up to ``per_class`` rows per predicted class with top probability >= least, the most
    confident first; their predicted column."""
    predicted = probabilities.argmax(axis=1)
    confidence = probabilities.max(axis=1)
    chosen = []
    for column in range(probabilities.shape[1]):
        mine = np.flatnonzero((predicted == column) & (confidence >= least))
        chosen.append(mine[np.argsort(-confidence[mine], kind="stable")][:per_class])
    rows = np.concatenate(chosen).astype(np.int64)
    return rows, predicted[rows].astype(np.int64)


def _flat(waveforms: NDArray) -> NDArray[np.float64]:
    flat = np.asarray(waveforms, dtype=np.float64).reshape(len(waveforms), -1)
    # A broken waveform (NaN, infinite) must not poison the teacher; training reports it.
    # Looked for first: nan_to_num copies and masks every value of a pool of a hundred
    # thousand spikes, holding the interpreter (the window stalled 160 ms on it).
    finite = np.isfinite(flat)
    return flat if finite.all() else np.where(finite, flat, 0.0)
