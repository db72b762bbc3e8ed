"""torch modules only: the 1D-CNN of the paper, its robust variant, and the paper's MLP."""

from spikeapp.nets.cnn import SpikeCNN, SpikeMLP, build_network

__all__ = ["SpikeCNN", "SpikeMLP", "build_network"]
