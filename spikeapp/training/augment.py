"""Augmentation that mimics what recordings do to a unit's spikes."""

from __future__ import annotations

import math

import torch
from torch.nn import functional


class Augmenter:
    """Adds recording noise, jitter, amplitude changes and overlapping spikes to a batch.

    ``residuals`` are labelled waveforms minus their unit's mean: samples of the recording's
    own noise (background activity included), with its true spectrum and channel correlations.
    ``bank``/``bank_labels`` are the training waveforms, used to overlap another unit's spike.
    """

    def __init__(self, residuals: torch.Tensor, bank: torch.Tensor, bank_labels: torch.Tensor,
                 generator: torch.Generator, *, noise: float = 0.6, jitter: float = 0.5,
                 scale: float = 0.12, overlap_probability: float = 0.15) -> None:
        self.residuals = residuals
        self.bank = bank
        self.bank_labels = bank_labels
        self.generator = generator
        self.noise = noise
        self.jitter = jitter
        self.scale = scale
        self.overlap_probability = overlap_probability

    def _uniform(self, n: int, low: float, high: float, device: torch.device) -> torch.Tensor:
        return (low + (high - low) * torch.rand(n, generator=self.generator)).to(device)

    def __call__(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        n, _, length = x.shape
        device = x.device
        out = x * self._uniform(n, 1 - self.scale, 1 + self.scale, device)[:, None, None]
        if self.jitter > 0:
            # Sub-sample shifts: where a spike's peak falls between two samples.
            out = fractional_shift(out, self._uniform(n, -self.jitter, self.jitter, device))
        if len(self.residuals) > 1 and self.noise > 0:
            picks = torch.randint(len(self.residuals), (n,), generator=self.generator)
            weight = self._uniform(n, 0.0, self.noise, device)[:, None, None]
            out = out + weight * self.residuals[picks.to(self.residuals.device)].to(device)
        if self.overlap_probability > 0 and len(self.bank) > 1:
            out = self._overlap(out, labels)
        return out

    def _overlap(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        n, _, length = x.shape
        chosen = torch.rand(n, generator=self.generator) < self.overlap_probability
        rows = torch.nonzero(chosen).flatten()
        if len(rows) == 0:
            return x
        others = torch.randint(len(self.bank), (len(rows),), generator=self.generator)
        different = self.bank_labels[others].cpu() != labels[rows].cpu()
        rows, others = rows[different], others[different]
        if len(rows) == 0:
            return x
        low = max(4, length // 8)
        magnitude = torch.randint(low, max(low + 1, length // 2), (len(rows),),
                                  generator=self.generator)
        sign = torch.where(torch.rand(len(rows), generator=self.generator) < 0.5, -1, 1)
        shifted = _shift(self.bank[others].to(x.device), (magnitude * sign).to(x.device),
                         fill_zero=True)
        weight = self._uniform(len(rows), 0.3, 0.9, x.device)[:, None, None]
        x = x.clone()
        x[rows.to(x.device)] += weight * shifted
        return x


def fractional_shift(x: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """Shift each waveform later by its own, possibly fractional, number of samples: linear
    interpolation between the two nearest whole shifts (edges held)."""
    whole = torch.floor(shifts)
    part = (shifts - whole)[:, None, None]
    whole = whole.long()
    return (1 - part) * _shift(x, whole) + part * _shift(x, whole + 1)


def shift_all(x: torch.Tensor, shift: float) -> torch.Tensor:
    """Every waveform shifted later by the same, possibly fractional, number of samples: what
    :func:`fractional_shift` does for one shift, by slicing (5x faster than its gathers)."""
    whole = math.floor(shift)
    part = shift - whole
    pad, length = abs(whole) + 1, x.shape[-1]
    padded = functional.pad(x, (pad, pad), mode="replicate")

    def later(k: int) -> torch.Tensor:
        return padded[..., pad - k:pad - k + length]

    return later(whole) if part == 0 else (1 - part) * later(whole) + part * later(whole + 1)


def _shift(x: torch.Tensor, shifts: torch.Tensor, fill_zero: bool = False) -> torch.Tensor:
    """Shift each waveform along time by its own number of samples (edges held or zeroed)."""
    length = x.shape[-1]
    index = torch.arange(length, device=x.device)[None, :] - shifts[:, None]
    outside = (index < 0) | (index >= length)
    index = index.clamp(0, length - 1)
    gathered = torch.gather(x, 2, index[:, None, :].expand(-1, x.shape[1], -1))
    if fill_zero:
        gathered = gathered.masked_fill(outside[:, None, :], 0.0)
    return gathered
