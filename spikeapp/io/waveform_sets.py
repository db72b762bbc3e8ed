"""Labelled waveform sets for benchmarks: ``.mat`` (``spikes`` + ``spikes_labels`` or
``spike_class``) and ``.npz`` (``waveforms`` + ``labels``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from spikeapp.errors import RecordingError


def load_waveform_set(path: str | Path) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """Waveforms (n x samples, or n x channels x samples) and labels; labels <= 0 (overlapping
    or unknown spikes) are left out."""
    path = Path(path)
    if not path.exists():
        raise RecordingError(path, "no such file")
    try:
        if path.suffix.lower() == ".mat":
            import scipy.io

            contents = scipy.io.loadmat(str(path))
            waveforms = contents.get("spikes")
            labels = contents.get("spikes_labels", contents.get("spike_class"))
            names = "'spikes' and 'spikes_labels' (or 'spike_class')"
        elif path.suffix.lower() == ".npz":
            with np.load(path, allow_pickle=False) as contents:
                waveforms = contents["waveforms"] if "waveforms" in contents else None
                labels = contents["labels"] if "labels" in contents else None
            names = "'waveforms' and 'labels'"
        else:
            raise RecordingError(path, "a waveform set is a .mat or .npz file")
    except (ValueError, OSError, TypeError, KeyError) as error:
        raise RecordingError(path, f"cannot read the file: {error}") from error
    if waveforms is None or labels is None:
        raise RecordingError(path, f"a waveform set needs the variables {names}")
    waveforms = np.asarray(waveforms, dtype=np.float32)
    labels = np.asarray(labels).ravel()
    if waveforms.ndim not in (2, 3) or len(waveforms) != len(labels):
        raise RecordingError(path, f"{len(labels)} labels for waveforms of shape {waveforms.shape}")
    if not np.isfinite(waveforms).all():
        raise RecordingError(path, "the waveforms hold NaN or infinite values")
    keep = labels > 0
    return waveforms[keep], labels[keep].astype(np.int64)
