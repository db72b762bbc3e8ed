"""How good are the labels? Cross-validated precision and recall per unit on the hand labels, and
a learning curve (accuracy against labels per unit) that says whether more labels still help.

Stratified k-fold over the labelled spikes: each fold's labels are predicted by a network trained
on the other folds (self-training off: the estimate is about what the labels themselves teach).
The learning curve trains on growing fractions of each training part and scores the same held-out
fold, so every point is measured on the same spikes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from spikeapp.errors import SpikeappError
from spikeapp.tasks import CancelToken, Job, Progress
from spikeapp.training.trainer import train_classifier

FRACTIONS = (0.25, 0.5, 1.0)
PLATEAU = 0.005  # accuracy gained from the last doubling below which more labels stop helping


@dataclass
class Assessment:
    unit_ids: list[int]
    precision: list[float]
    recall: list[float]
    support: list[int]                          # hand labels per unit
    curve: list[tuple[float, float]] = field(default_factory=list)  # (labels per unit, accuracy)

    @property
    def verdict(self) -> str:
        if len(self.curve) < 2:
            return ""
        (n0, a0), (n1, a1) = self.curve[-2], self.curve[-1]
        gain = a1 - a0
        if gain < PLATEAU:
            return (f"more labels have stopped helping: {n0:.0f} -> {n1:.0f} labels per unit "
                    f"gained {100 * gain:+.1f} points")
        return (f"more labels still help: {n0:.0f} -> {n1:.0f} labels per unit gained "
                f"{100 * gain:+.1f} points")


def assess_labels(waveforms: NDArray, classes: NDArray[np.int64], unit_ids: list[int],
                  folds: int = 3, network: dict[str, Any] | None = None,
                  training: dict[str, Any] | None = None, seed: int = 0,
                  cancel: CancelToken | None = None) -> Job[Assessment]:
    classes = np.asarray(classes, dtype=np.int64)
    counts = np.bincount(classes, minlength=len(unit_ids))
    if (counts < folds).any():
        raise SpikeappError(f"cross-validation needs at least {folds} labels of every unit")
    rng = np.random.default_rng(seed)
    fold_of = np.zeros(len(classes), dtype=np.int64)
    for c in range(len(unit_ids)):
        members = rng.permutation(np.flatnonzero(classes == c))
        fold_of[members] = np.arange(len(members)) % folds
    options = dict(training or {}, pseudo_labels=0, seed=seed)
    predicted = np.full(len(classes), -1, dtype=np.int64)
    correct = {f: [] for f in FRACTIONS}
    sizes = {f: [] for f in FRACTIONS}
    total = folds * len(FRACTIONS)
    done = 0
    names = [str(u) for u in unit_ids]
    for fold in range(folds):
        test = np.flatnonzero(fold_of == fold)
        train = np.flatnonzero(fold_of != fold)
        for fraction in FRACTIONS:
            chosen = np.concatenate([
                rng.permutation(train[classes[train] == c])[
                    : max(2, int(round(fraction * (classes[train] == c).sum())))]
                for c in range(len(unit_ids))])
            trained = yield from _quiet(train_classifier(waveforms[chosen], classes[chosen], names,
                                                         network=network, training=options,
                                                         cancel=cancel))
            guess = trained.predict(waveforms[test]).labels
            correct[fraction].append(float((guess == classes[test]).mean()))
            sizes[fraction].append(len(chosen) / len(unit_ids))
            if fraction == FRACTIONS[-1]:
                predicted[test] = guess
            done += 1
            yield Progress(done, total, f"fold {fold + 1} of {folds}, {fraction:.0%} of the "
                           "labels", "fit")
    precision, recall = [], []
    for c in range(len(unit_ids)):
        said = predicted == c
        precision.append(float((classes[said] == c).mean()) if said.any() else 0.0)
        recall.append(float((predicted[classes == c] == c).mean()))
    curve = [(float(np.mean(sizes[f])), float(np.mean(correct[f]))) for f in FRACTIONS]
    return Assessment(list(unit_ids), precision, recall, counts.tolist(), curve)


def _quiet(job: Job):
    """Run a training job inside another, passing cancellation but not its epoch progress."""
    while True:
        try:
            next(job)
        except StopIteration as stop:
            return stop.value
        yield from ()
