"""PCA features of spike waveforms, fitted per channel group."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
from numpy.typing import NDArray

FIT_SAMPLE = 20_000
BATCH = 50_000


def fit_pcas(samples: Mapping[int, NDArray], n_components: int, seed: int = 0) -> dict:
    """One PCA per group, fitted on that group's waveform sample (rows: flattened waveforms)."""
    from sklearn.decomposition import PCA

    fitted = {}
    for group, rows in samples.items():
        if len(rows) < 2:
            continue
        rows = np.asarray(rows).reshape(len(rows), -1)
        k = min(n_components, rows.shape[0], rows.shape[1])
        fitted[group] = PCA(n_components=k, random_state=seed).fit(rows)
    return fitted


def project(batches: Iterable[tuple[int, NDArray]], group_index: NDArray[np.int64],
            pcas: Mapping[int, object], n_components: int) -> NDArray[np.float32]:
    """Features of every spike, from ``(first_row, waveforms)`` batches in spike order."""
    features = np.zeros((len(group_index), n_components), dtype=np.float32)
    for begin, block in batches:
        groups = group_index[begin:begin + len(block)]
        flat = block.reshape(len(block), -1)
        for group, pca in pcas.items():
            members = np.nonzero(groups == group)[0]
            if len(members):
                values = pca.transform(flat[members])
                features[begin + members, :values.shape[1]] = values
    return features
