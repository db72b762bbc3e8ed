"""Networks that classify spike waveforms (batch x channels x samples) into units.

``paper``: the published form of the 1D-CNN (Brain Sci. 2020, 10(11):835, section 2.1): two
blocks of one-dimensional convolution, ReLU and max-pooling, a fully connected layer and a
softmax output. The paper's summary available to us (docs/paper.md) does not list the layer
sizes; they come from the parameter table.

``robust``: what makes it hold with few labels: batch normalisation after each convolution,
channels that double with depth, the feature maps flattened (they keep where along the spike
each feature lies), and dropout before the classifier. The channels of a group (a tetrode) are
input channels.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class SpikeCNN(nn.Module):
    """One-dimensional CNN over waveforms of shape (batch, in_channels, n_samples)."""

    def __init__(self, in_channels: int, n_samples: int, n_classes: int, *,
                 architecture: str = "robust", conv_layers: int = 3, conv_channels: int = 32,
                 kernel_size: int = 5, hidden_units: int = 64, dropout: float = 0.2) -> None:
        super().__init__()
        self.architecture = architecture
        robust = architecture == "robust"
        depth = conv_layers if robust else 2
        blocks: list[nn.Module] = []
        channels, length = in_channels, n_samples
        for index in range(depth):
            out = conv_channels * (2 ** index if robust else 1)
            blocks.append(nn.Conv1d(channels, out, kernel_size, padding=kernel_size // 2))
            if robust:
                blocks.append(nn.BatchNorm1d(out))
            blocks.append(nn.ReLU())
            if length >= 4:
                blocks.append(nn.MaxPool1d(2))
                length //= 2
            channels = out
        self.features = nn.Sequential(*blocks)
        if robust:
            # Flattened feature maps keep where along the spike each feature is; global pooling
            # would discard the alignment the detector already gives.
            flat = channels * length
            self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(flat, hidden_units),
                                            nn.ReLU(), nn.Dropout(dropout),
                                            nn.Linear(hidden_units, n_classes))
        else:
            flat = channels * length
            self.classifier = nn.Sequential(nn.Linear(flat, hidden_units), nn.ReLU(),
                                            nn.Linear(hidden_units, n_classes))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The representation the classifier sees (used for out-of-distribution scores)."""
        return self.features(x).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.embed(x))


class SpikeMLP(nn.Module):
    """The multilayer perceptron the paper compares against: flattened waveform, two hidden
    layers."""

    def __init__(self, in_channels: int, n_samples: int, n_classes: int, *,
                 hidden_units: int = 64, **_: Any) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(in_channels * n_samples, 2 * hidden_units),
                                 nn.ReLU(), nn.Linear(2 * hidden_units, hidden_units), nn.ReLU(),
                                 nn.Linear(hidden_units, n_classes))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.net[:-1](x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def build_network(kind: str, in_channels: int, n_samples: int, n_classes: int,
                  network_params: dict[str, Any]) -> nn.Module:
    """``kind`` "cnn" (architecture from the params) or "mlp"."""
    if kind == "mlp":
        return SpikeMLP(in_channels, n_samples, n_classes,
                        hidden_units=network_params["hidden_units"])
    return SpikeCNN(in_channels, n_samples, n_classes,
                    architecture=network_params["architecture"],
                    conv_layers=network_params["conv_layers"],
                    conv_channels=network_params["conv_channels"],
                    kernel_size=network_params["kernel_size"],
                    hidden_units=network_params["hidden_units"],
                    dropout=network_params["dropout"])
