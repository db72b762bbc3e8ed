"""Temperature scaling (Guo et al. 2017) and expected calibration error."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax


def fit_temperature(logits: NDArray, labels: NDArray[np.int64]) -> float:
    """The temperature T minimising the negative log-likelihood of softmax(logits / T).

    T is kept within [0.2, 5]: on a small, perfectly separated validation set the likelihood
    keeps improving as T falls to 0, which would claim certainty the labels cannot support.
    """
    if len(labels) == 0:
        return 1.0

    def nll(log_t: float) -> float:
        scaled = log_softmax(logits / np.exp(log_t), axis=1)
        return -float(scaled[np.arange(len(labels)), labels].mean())

    result = minimize_scalar(nll, bounds=(np.log(0.2), np.log(5.0)), method="bounded")
    return float(np.exp(result.x))


def expected_calibration_error(logits: NDArray, labels: NDArray[np.int64], temperature: float = 1.0,
                               bins: int = 10) -> float:
    """Weighted mean gap between confidence and accuracy over confidence bins."""
    probabilities = softmax(logits / temperature, axis=1)
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0, 1, bins + 1)
    error = 0.0
    for low, high in zip(edges[:-1], edges[1:]):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            error += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(error)


def reliability(logits: NDArray, labels: NDArray[np.int64], temperature: float = 1.0,
                bins: int = 10) -> list[tuple[float, float, int]]:
    """Per confidence bin with spikes: (mean confidence, accuracy, count) - the points of a
    reliability diagram; on the diagonal, 90% confidence means 90% correct."""
    probabilities = softmax(logits / temperature, axis=1)
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0, 1, bins + 1)
    points = []
    for low, high in zip(edges[:-1], edges[1:]):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            points.append((float(confidence[inside].mean()), float(correct[inside].mean()),
                           int(inside.sum())))
    return points
