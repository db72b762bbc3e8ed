"""Classifiers behind one interface, to compare honestly: the CNN, the paper's MLP, LDA and
PCA + k-nearest neighbours (scikit-learn)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from spikeapp.errors import SpikeappError
from spikeapp.tasks import CancelToken, Job, Progress
from spikeapp.training.trainer import TrainedClassifier, train_classifier

CLASSIFIERS = ("cnn", "mlp", "lda", "knn")


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
                 training: dict[str, Any] | None = None) -> None:
        self.name = kind
        self.kind = kind
        self.network = network
        self.training = training
        self.trained: TrainedClassifier | None = None

    def fit(self, waveforms, labels, unlabelled=None, cancel=None):
        names = [str(c) for c in range(int(labels.max()) + 1)]
        self.trained = yield from train_classifier(waveforms, labels, names, kind=self.kind,
                                                   network=self.network, training=self.training,
                                                   unlabelled=unlabelled, cancel=cancel)

    def predict_proba(self, waveforms):
        return self.trained.predict(waveforms).probabilities


class LdaClassifier(Classifier):
    """Linear discriminant analysis with Ledoit-Wolf shrinkage (stable with few labels)."""

    name = "lda"

    def fit(self, waveforms, labels, unlabelled=None, cancel=None):
        from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

        if len(labels) <= len(np.unique(labels)):
            raise SpikeappError("LDA needs more labelled spikes than units (it estimates the "
                                "noise covariance from them): label at least 2 per unit")
        self.model = LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto")
        self.model.fit(_flat(waveforms), labels)
        yield Progress(1, 1, "fitted", "fit")

    def predict_proba(self, waveforms):
        return self.model.predict_proba(_flat(waveforms)).astype(np.float32)


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


def _flat(waveforms: NDArray) -> NDArray:
    return np.asarray(waveforms, dtype=np.float32).reshape(len(waveforms), -1)


def make_classifier(name: str, network: dict[str, Any] | None = None,
                    training: dict[str, Any] | None = None) -> Classifier:
    """A fresh classifier by name (one of :data:`CLASSIFIERS`)."""
    if name in ("cnn", "mlp"):
        return NetworkClassifier(name, network, training)
    if name == "lda":
        return LdaClassifier()
    if name == "knn":
        return KnnClassifier()
    raise ValueError(f"unknown classifier '{name}'; known: {', '.join(CLASSIFIERS)}")
