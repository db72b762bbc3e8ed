"""Gaussian mixtures sized by BIC, and Mahalanobis distances to their components: shared by the
label-next queue (clusters no label covers) and candidate new units."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def bic_mixture(points: NDArray, max_components: int, seed: int = 0, reg_covar: float = 1e-6,
                criterion: str = "bic"):
    """The full-covariance Gaussian mixture of 1..``max_components`` components with the lowest
    BIC (or ``criterion`` "aic") (the search stops once it has risen twice running: more
    components only split the clusters found); None when ``max_components`` < 1."""
    from sklearn.mixture import GaussianMixture

    best, best_bic = None, np.inf
    for k in range(1, max_components + 1):
        mixture = GaussianMixture(k, covariance_type="full", random_state=seed,
                                  reg_covar=reg_covar).fit(points)
        bic = mixture.bic(points) if criterion == "bic" else mixture.aic(points)
        if bic < best_bic:
            best, best_bic = mixture, bic
        elif k >= best.n_components + 2:
            break
    return best


def mahalanobis(points: NDArray, mean: NDArray, precision: NDArray) -> NDArray:
    """Distance of each row of ``points`` from ``mean`` under the ``precision`` matrix."""
    centred = points - mean
    return np.sqrt(np.einsum("ij,jk,ik->i", centred, precision, centred))
