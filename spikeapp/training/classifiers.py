"""Classifiers behind one interface, to compare honestly: the CNN, the paper's MLP, LDA and
PCA + k-nearest neighbours (scikit-learn), each with the labels only (``lda``) or self-trained on
the unlabelled spikes as well (``lda+self``), so that every comparison is like for like."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from spikeapp.errors import SpikeappError
from spikeapp.tasks import CancelToken, Job, Progress
from spikeapp.training.trainer import TrainedClassifier, train_classifier

CLASSIFIERS = ("cnn", "mlp", "lda", "knn")
SELF = "+self"   # suffix: self-trained on the unlabelled spikes
# Self-training of the scikit-learn classifiers, as the networks' teacher does it: two rounds,
# up to 1000 pseudo-labels per unit at confidence >= 0.9.
_SELF_ROUNDS, _SELF_PER_CLASS, _SELF_LEAST = 2, 1000, 0.9


class Classifier:
    """``fit`` is a job (yields Progress); ``predict_proba`` gives (n, classes)."""

    name = ""

    def fit(self, waveforms: NDArray, labels: NDArray[np.int64], unlabelled: NDArray | None = None,
            cancel: CancelToken | None = None) -> Job[None]:
        raise NotImplementedError

    def predict_proba(self, waveforms: NDArray) -> NDArray[np.float32]:
        raise NotImplementedError

    def predict(self, waveforms: NDArray) -> NDArray[np.int64]:
        return self.predict_proba(waveforms).argmax(axis=1)


class NetworkClassifier(Classifier):
    """The 1D-CNN (``kind="cnn"``) or the paper's MLP (``kind="mlp"``)."""

    def __init__(self, kind: str = "cnn", network: dict[str, Any] | None = None,
                 training: dict[str, Any] | None = None, self_training: bool = True) -> None:
        self.name = kind + (SELF if self_training else "")
        self.kind = kind
        self.network = network
        self.training = dict(training or {})
        if not self_training:
            self.training["pseudo_labels"] = 0
        self.self_training = self_training
        self.trained: TrainedClassifier | None = None

    def fit(self, waveforms, labels, unlabelled=None, cancel=None):
        names = [str(c) for c in range(int(labels.max()) + 1)]
        self.trained = yield from train_classifier(
            waveforms, labels, names, kind=self.kind, network=self.network,
            training=self.training, unlabelled=unlabelled if self.self_training else None,
            cancel=cancel)

    def predict_proba(self, waveforms):
        return self.trained.predict(waveforms).probabilities


class LdaClassifier(Classifier):
    """Shrinkage linear discriminant analysis, as the network's teacher fits it (Ledoit-Wolf
    shrinkage from 10 labels per unit, a strong fixed one below: :func:`teacher.shrinkage_lda`),
    so that ``lda+self`` is the teacher alone, the baseline the network must beat."""

    name = "lda"

    def fit(self, waveforms, labels, unlabelled=None, cancel=None):
        from spikeapp.training.teacher import shrinkage_lda

        if len(labels) <= len(np.unique(labels)):
            raise SpikeappError("LDA needs more labelled spikes than units (it estimates the "
                                "noise covariance from them): label at least 2 per unit")
        self.model = shrinkage_lda(_flat(waveforms), labels)
        yield Progress(1, 1, "fitted", "fit")

    def predict_proba(self, waveforms):
        return self.model.predict_proba(_flat(waveforms)).astype(np.float32)

    def predict(self, waveforms):
        return self.model.classes_[self.predict_proba(waveforms).argmax(axis=1)]

    def classes(self) -> NDArray[np.int64]:
        return self.model.classes_


class KnnClassifier(Classifier):
    """PCA (fitted on every spike, labelled or not) then k-nearest neighbours."""

    name = "knn"

    def __init__(self, n_components: int = 10, neighbours: int = 5) -> None:
        self.n_components = n_components
        self.neighbours = neighbours

    def fit(self, waveforms, labels, unlabelled=None, cancel=None):
        from sklearn.decomposition import PCA
        from sklearn.neighbors import KNeighborsClassifier

        pool = _flat(waveforms if unlabelled is None else np.concatenate([waveforms, unlabelled]))
        self.pca = PCA(n_components=min(self.n_components, pool.shape[1], len(pool))).fit(pool)
        k = max(1, min(self.neighbours, int(np.bincount(labels)[np.unique(labels)].min())))
        self.knn = KNeighborsClassifier(n_neighbors=k).fit(self.pca.transform(_flat(waveforms)),
                                                           labels)
        yield Progress(1, 1, "fitted", "fit")

    def predict_proba(self, waveforms):
        return self.knn.predict_proba(self.pca.transform(_flat(waveforms))).astype(np.float32)

    def predict(self, waveforms):
        return self.knn.classes_[self.predict_proba(waveforms).argmax(axis=1)]

    def classes(self) -> NDArray[np.int64]:
        return self.knn.classes_


class SelfTrained(Classifier):
    """A scikit-learn classifier refitted on its own most confident predictions on the
    unlabelled spikes (labels plus pseudo-labels, twice)."""

    def __init__(self, inner: Classifier) -> None:
        self.inner = inner
        self.name = inner.name + SELF

    def fit(self, waveforms, labels, unlabelled=None, cancel=None):
        from spikeapp.training.teacher import most_confident

        yield from self.inner.fit(waveforms, labels, unlabelled)
        if unlabelled is None or len(unlabelled) == 0:
            return
        for _ in range(_SELF_ROUNDS):
            if cancel is not None:
                cancel.raise_if_cancelled()
            rows, columns = most_confident(self.inner.predict_proba(unlabelled), _SELF_PER_CLASS,
                                           _SELF_LEAST)
            classes = self.inner.classes()[columns]
            yield from self.inner.fit(np.concatenate([waveforms, unlabelled[rows]]),
                                      np.concatenate([labels, classes]), unlabelled)

    def predict_proba(self, waveforms):
        return self.inner.predict_proba(waveforms)

    def predict(self, waveforms):
        return self.inner.predict(waveforms)


def _flat(waveforms: NDArray) -> NDArray:
    return np.asarray(waveforms, dtype=np.float32).reshape(len(waveforms), -1)


def make_classifier(name: str, network: dict[str, Any] | None = None,
                    training: dict[str, Any] | None = None) -> Classifier:
    """A fresh classifier by name: one of :data:`CLASSIFIERS`, with the labels only, or with
    ``+self`` appended, self-trained on the unlabelled spikes too."""
    base, self_training = (name[:-len(SELF)], True) if name.endswith(SELF) else (name, False)
    if base in ("cnn", "mlp"):
        return NetworkClassifier(base, network, training, self_training)
    if base == "lda":
        inner: Classifier = LdaClassifier()
    elif base == "knn":
        inner = KnnClassifier()
    else:
        raise ValueError(f"unknown classifier '{name}'; known: "
                         f"{', '.join(known_classifiers())}")
    return SelfTrained(inner) if self_training else inner


def known_classifiers() -> list[str]:
    """Every classifier name ``make_classifier`` takes."""
    return [c + suffix for c in CLASSIFIERS for suffix in ("", SELF)]
