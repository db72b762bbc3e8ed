"""spikeapp: semi-supervised spike sorting with a one-dimensional CNN.

Importing this package imports neither Qt nor torch.
"""

__version__ = "0.1.0"
