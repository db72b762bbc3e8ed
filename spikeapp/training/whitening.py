"""The noise-whitening map the networks start with, estimated from the recording's own noise.

Extracellular noise is mostly other neurons' spikes, band-passed: strongly correlated from one
sample to the next and, on a tetrode, from one channel to the next. Where two units' mean
waveforms differ along a direction the noise hardly fills, that difference is worth far more
than its size says; LDA knows this through its covariance, a network trained on a few labels does
not. Whitening the input first (Pouzat et al. 2002 whiten spike waveforms for the same reason)
gives it that knowledge. On Difficult2 stand-ins at noise 0.20 with 100 labels per unit
(benchmarks/noisier_sets.py) the CNN went from 94.8 % against LDA's 97.2 % to 98.1 % against
96.0 % (with the sub-sample jitter that replaced +-2 samples).

The covariance is separable, channels x time (a Kronecker product), so a group of many channels
costs channels^2 + samples^2 numbers and not (channels x samples)^2, and it is shrunk
(Ledoit-Wolf) towards a scaled identity: with a few labelled spikes the map stays close to a
plain rescaling, and it sharpens as residuals (labelled and pseudo-labelled spikes minus their
unit's mean) accumulate.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def noise_whitening(residuals: NDArray, waveforms: NDArray | None = None
                    ) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Spatial (channels x channels) and temporal (samples x samples) whitening matrices
    (symmetric, "ZCA": whitened waveforms still look like waveforms) for residuals of shape
    (n, channels, samples); identities when there are too few residuals to say anything.

    With ``waveforms``, the temporal matrix is rescaled so that they have unit SD once whitened:
    the network sees inputs of the size it was initialised for, whatever the recording's SNR."""
    residuals = np.asarray(residuals, dtype=np.float64)
    _, channels, samples = residuals.shape
    spatial, temporal = np.eye(channels), np.eye(samples)
    # Residuals from a unit with one label are all zero: they carry no noise. A broken waveform
    # (NaN, infinite) says nothing about it either; training itself reports it.
    peak = np.abs(residuals).reshape(len(residuals), -1).max(axis=1, initial=0.0)
    residuals = residuals[np.isfinite(peak) & (peak > 0)]
    if len(residuals) < 2:
        return spatial.astype(np.float32), temporal.astype(np.float32)
    if channels > 1:
        spatial = _inverse_sqrt(_shrunk(residuals.transpose(0, 2, 1).reshape(-1, channels)))
        residuals = spatial @ residuals
    temporal = _inverse_sqrt(_shrunk(residuals.reshape(-1, samples)))
    if waveforms is not None and len(waveforms):
        waveforms = np.asarray(waveforms, dtype=np.float64)
        waveforms = waveforms[np.isfinite(waveforms).reshape(len(waveforms), -1).all(axis=1)]
        sd = float((spatial @ waveforms @ temporal.T).std()) if len(waveforms) else 0.0
        if sd > 0:
            temporal /= sd
    return spatial.astype(np.float32), temporal.astype(np.float32)


def _shrunk(rows: NDArray[np.float64]) -> NDArray[np.float64]:
    from sklearn.covariance import LedoitWolf

    # Residuals are centred per unit already.
    return LedoitWolf(assume_centered=True).fit(rows).covariance_


def _inverse_sqrt(covariance: NDArray[np.float64]) -> NDArray[np.float64]:
    values, vectors = np.linalg.eigh(covariance)
    values = np.maximum(values, 1e-6 * max(values.max(), 1e-12))
    return (vectors / np.sqrt(values)) @ vectors.T
