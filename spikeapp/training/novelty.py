"""Candidate new units: spikes unlike every labelled unit, found in the network's own embedding.

Each labelled unit is a Gaussian in the embedding (its mean and a shared, shrunk covariance, as
in LDA). A spike's novelty is its Mahalanobis distance to the nearest unit; the labelled spikes'
own distances set what is ordinary. Spikes far beyond that are gathered, clustered (a Gaussian
mixture on their embedding, its size chosen by BIC) and every cluster large enough is proposed as
a unit the person has not labelled yet.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray

from spikeapp.tasks import CancelToken
from spikeapp.training.augment import fractional_shift
from spikeapp.training.mixture import bic_mixture, mahalanobis
from spikeapp.training.trainer import TrainedClassifier, _as_3d, _residuals

MIN_SPIKES = 20          # a proposed unit has at least this many spikes
MAX_CLUSTERS = 5
MERGE_DISTANCE = 4.0     # noise SDs, whitened: below it two clusters' shapes are one unit's


@dataclass
class Candidate:
    rows: NDArray[np.int64]     # indexes into the waveforms given
    novelty: float              # median distance of its spikes, in units of the ordinary limit


def embed(trained: TrainedClassifier, waveforms: NDArray, batch: int = 2048) -> NDArray:
    waveforms = _as_3d(waveforms)
    model = trained.model
    device = next(model.parameters()).device
    scale = torch.as_tensor(trained.scale)[None, :, None]
    model.eval()
    out = []
    with torch.inference_mode():
        for begin in range(0, len(waveforms), batch):
            block = torch.as_tensor(np.asarray(waveforms[begin:begin + batch], np.float32)) / scale
            out.append(model.embed(block.to(device)).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 1), np.float32)


def novelty_scores(embedded: NDArray, labelled: NDArray[np.int64], classes: NDArray[np.int64]
                   ) -> tuple[NDArray, float]:
    """Distance of every spike to the nearest labelled unit, and the ordinary limit (the 99th
    percentile of the labelled spikes' own distances)."""
    from sklearn.covariance import LedoitWolf
    from sklearn.decomposition import PCA

    # A few principal directions of the labelled embedding keep the covariance estimable from
    # a few dozen labels.
    k = int(max(2, min(10, len(labelled) // 5, embedded.shape[1])))
    pca = PCA(n_components=k, random_state=0).fit(embedded[labelled])
    z = pca.transform(embedded)
    zl = z[labelled]
    means = np.stack([zl[classes == c].mean(axis=0) for c in np.unique(classes)])
    centred = zl - means[np.searchsorted(np.unique(classes), classes)]
    precision = LedoitWolf().fit(centred).precision_
    distances = np.stack([mahalanobis(z, m, precision) for m in means], axis=1)
    nearest = distances.min(axis=1)
    limit = float(np.percentile(nearest[labelled], 99)) if len(labelled) else float("inf")
    return nearest, max(limit, 1e-9)


def candidate_units(trained: TrainedClassifier, waveforms: NDArray, labelled: NDArray[np.int64],
                    classes: NDArray[np.int64], factor: float = 1.5, seed: int = 0,
                    cancel: CancelToken | None = None) -> list[Candidate]:
    """Clusters of spikes more than ``factor`` times the ordinary limit from every unit (a
    cancel stops the search after the embedding)."""
    embedded = embed(trained, waveforms)
    if cancel is not None:
        cancel.raise_if_cancelled()
    scores, limit = novelty_scores(embedded, labelled, classes)
    far = np.setdiff1d(np.flatnonzero(scores > factor * limit), labelled)
    if len(far) < MIN_SPIKES:
        return []
    from sklearn.decomposition import PCA

    points = PCA(n_components=min(3, embedded.shape[1]), random_state=seed).fit_transform(
        embedded[far])
    best = bic_mixture(points, min(MAX_CLUSTERS, len(far) // MIN_SPIKES), seed)
    labels = best.predict(points)
    clusters = _merge_shifted([far[labels == c] for c in np.unique(labels)], trained,
                              waveforms, labelled, classes)
    found = [Candidate(np.sort(rows), float(np.median(scores[rows]) / limit))
             for rows in clusters if len(rows) >= MIN_SPIKES]
    return sorted(found, key=lambda c: -len(c.rows))


def _merge_shifted(clusters: list[NDArray[np.int64]], trained: TrainedClassifier,
                   waveforms: NDArray, labelled: NDArray[np.int64], classes: NDArray[np.int64]
                   ) -> list[NDArray[np.int64]]:
    """Join clusters whose mean waveforms are the same shape up to a shift of at most one
    sample: a sharp unit aligned to whole samples falls into two clusters by where its peak lay
    between samples. Same shape: after the best shift, the means differ by less than
    MERGE_DISTANCE noise SDs in the network's whitened space (distinct units on the demo lie
    17-34 apart, the two sampling phases of one unit 1.6)."""
    if len(clusters) < 2 or len(labelled) == 0:
        return clusters
    whiten = trained.model.whitening
    device = next(whiten.buffers()).device
    scale = torch.as_tensor(trained.scale)[None, :, None]

    def white(x: NDArray | torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return whiten((torch.as_tensor(np.asarray(x, np.float32)) / scale).to(device)).cpu()

    waveforms = _as_3d(waveforms)
    noise = float(_residuals(white(waveforms[labelled]), torch.as_tensor(classes)).std())
    if not noise > 0:
        return clusters
    means = torch.as_tensor(np.stack([waveforms[rows].mean(axis=0) for rows in clusters]))
    shifts = torch.linspace(-1.0, 1.0, 9)
    # Every cluster's mean at every shift, whitened once: (clusters, shifts, channels, samples).
    moved = white(fractional_shift(means.repeat_interleave(len(shifts), dim=0),
                                   shifts.repeat(len(clusters)))).reshape(
        len(clusters), len(shifts), -1)
    centred = white(means).reshape(len(clusters), 1, -1)
    group = list(range(len(clusters)))

    def root(i: int) -> int:
        while group[i] != i:
            i = group[i]
        return i

    for i in range(len(clusters)):
        for j in range(i + 1, len(clusters)):
            distance = float((moved[j] - centred[i]).norm(dim=1).min()) / noise
            if distance < MERGE_DISTANCE:
                group[root(j)] = root(i)
    joined: dict[int, list[NDArray[np.int64]]] = {}
    for i, rows in enumerate(clusters):
        joined.setdefault(root(i), []).append(rows)
    return [np.concatenate(parts) for parts in joined.values()]
