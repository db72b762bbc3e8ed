"""Networks that classify spike waveforms (batch x channels x samples) into units.

``paper``: the published form of the 1D-CNN (Brain Sci. 2020, 10(11):835, section 2.1): two
blocks of one-dimensional convolution, ReLU and max-pooling, a fully connected layer and a
softmax output. The paper's summary available to us (docs/paper.md) does not list the layer
sizes; they come from the parameter table.

Both networks (and the MLP) start with :class:`NoiseWhitening`, a fixed linear map that the
trainer sets from the recording's noise: with the noise white, the classes differ where the
noise is weak as much as where it is strong, which the network cannot learn from a few labels.

``robust``: what makes it hold with few labels: batch normalisation after each convolution,
channels that double with depth, the feature maps flattened (they keep where along the spike
each feature lies), and dropout before the classifier. The channels of a group (a tetrode) are
input channels.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class NoiseWhitening(nn.Module):
    """A fixed (untrained) map that makes the recording's noise white: across channels
    (channels x channels), then along time (samples x samples). Identity until set; stored with
    the weights as buffers."""

    def __init__(self, in_channels: int, n_samples: int) -> None:
        super().__init__()
        self.register_buffer("spatial", torch.eye(in_channels))
        self.register_buffer("temporal", torch.eye(n_samples))

    def set(self, spatial: torch.Tensor, temporal: torch.Tensor) -> None:
        self.spatial.copy_(torch.as_tensor(spatial, dtype=self.spatial.dtype))
        self.temporal.copy_(torch.as_tensor(temporal, dtype=self.temporal.dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] > 1:
            x = self.spatial @ x
        return x @ self.temporal.T


class SpikeCNN(nn.Module):
    """One-dimensional CNN over waveforms of shape (batch, in_channels, n_samples)."""

    def __init__(self, in_channels: int, n_samples: int, n_classes: int, *,
                 architecture: str = "robust", conv_layers: int = 3, conv_channels: int = 32,
                 kernel_size: int = 5, hidden_units: int = 64, dropout: float = 0.2) -> None:
        super().__init__()
        self.whitening = NoiseWhitening(in_channels, n_samples)
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
        return self.features(self.whitening(x)).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.embed(x))


class SpikeMLP(nn.Module):
    """The multilayer perceptron the paper compares against: flattened waveform, two hidden
    layers."""

    def __init__(self, in_channels: int, n_samples: int, n_classes: int, *,
                 hidden_units: int = 64, **_: Any) -> None:
        super().__init__()
        self.whitening = NoiseWhitening(in_channels, n_samples)
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(in_channels * n_samples, 2 * hidden_units),
                                 nn.ReLU(), nn.Linear(2 * hidden_units, hidden_units), nn.ReLU(),
                                 nn.Linear(hidden_units, n_classes))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.net[:-1](self.whitening(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.whitening(x))


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
