"""PCA features of spike waveforms, fitted per channel group."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

_FIT_SAMPLE = 20_000
_BATCH = 50_000


def pca_features(waveforms: NDArray[np.float32], group_index: NDArray[np.int64],
                 n_components: int, seed: int = 0) -> NDArray[np.float32]:
    """First ``n_components`` principal components of each spike, PCA fitted per group.

    The fit uses at most 20,000 spikes per group (drawn with ``seed``); every spike is then
    projected, in batches, so memory stays bounded for memory-mapped waveforms.
    """
    from sklearn.decomposition import PCA

    features = np.zeros((len(waveforms), n_components), dtype=np.float32)
    rng = np.random.default_rng(seed)
    for group in np.unique(group_index):
        members = np.nonzero(group_index == group)[0]
        if len(members) < 2:
            continue
        fit_rows = np.sort(rng.choice(members, min(len(members), _FIT_SAMPLE), replace=False))
        fit_data = np.asarray(waveforms[fit_rows]).reshape(len(fit_rows), -1)
        k = min(n_components, fit_data.shape[0], fit_data.shape[1])
        pca = PCA(n_components=k, random_state=seed).fit(fit_data)
        for begin in range(0, len(members), _BATCH):
            rows = members[begin:begin + _BATCH]
            block = np.asarray(waveforms[rows]).reshape(len(rows), -1)
            features[rows, :k] = pca.transform(block)
    return features
