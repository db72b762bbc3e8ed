"""One file per trained network: weights, normalisation, unit mapping, parameters, versions."""

from __future__ import annotations

import io
import pickle
import struct
from pathlib import Path

import numpy as np
import torch

from spikeapp import __version__
from spikeapp.errors import SpikeappError
from spikeapp.nets import build_network
from spikeapp.training.trainer import TrainedClassifier

FORMAT = "spikeapp-network"
FORMAT_VERSION = 3
# Format 1 networks had no noise-whitening buffers: they were trained on unwhitened input, which
# identity buffers reproduce exactly. Format 3 keeps the LDA teacher whose vote joins the
# network's (format 2 networks predict alone, as they did).
READABLE_VERSIONS = (1, 2, 3)


def checkpoint_bytes(trained: TrainedClassifier) -> bytes:
    """Serialise a trained classifier (loadable with ``torch.load(weights_only=True)``)."""
    payload = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "spikeapp_version": __version__,
        "torch_version": str(torch.__version__), "kind": trained.kind,
        "class_names": list(trained.class_names), "scale": [float(s) for s in trained.scale],
        "input_shape": list(trained.input_shape), "network_params": dict(trained.network_params),
        "training_params": dict(trained.training_params), "temperature": trained.temperature,
        "choice": {str(k): v for k, v in trained.choice.items()},
        "state_dict": {k: v.detach().cpu() for k, v in trained.model.state_dict().items()},
    }
    if trained.teacher_weights is not None:
        payload.update(teacher_weights=torch.as_tensor(trained.teacher_weights),
                       teacher_bias=torch.as_tensor(trained.teacher_bias),
                       teacher_share=float(trained.teacher_share))
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def save_checkpoint(trained: TrainedClassifier, path: str | Path) -> None:
    from spikeapp.atomic import atomic_write

    atomic_write(path, checkpoint_bytes(trained))


def load_checkpoint(source: str | Path | bytes, name: str = "") -> TrainedClassifier:
    """Load a network; a file from another format version or a broken file gives a clear
    message."""
    label = name or (str(source) if not isinstance(source, bytes) else "network")
    try:
        stream = io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")
        with stream:
            payload = torch.load(stream, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError, struct.error,
            pickle.UnpicklingError) as error:
        raise SpikeappError(f"{label}: not a readable spikeapp network ({error})") from error
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise SpikeappError(f"{label}: not a spikeapp network file")
    if payload.get("format_version") not in READABLE_VERSIONS:
        raise SpikeappError(
            f"{label}: written by spikeapp {payload.get('spikeapp_version', '?')} in network "
            f"format {payload.get('format_version')}; this spikeapp ({__version__}) reads format "
            f"{FORMAT_VERSION}: retrain the network from the session's labels")
    channels, samples = payload["input_shape"]
    model = build_network(payload["kind"], channels, samples, len(payload["class_names"]),
                          payload["network_params"])
    state = dict(payload["state_dict"])
    if payload["format_version"] == 1:
        state.update({k: v for k, v in model.state_dict().items() if k.startswith("whitening.")})
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        raise SpikeappError(f"{label}: the weights do not fit the network they describe") from error
    model.eval()
    trained = TrainedClassifier(model=model, kind=payload["kind"],
                                class_names=list(payload["class_names"]),
                                scale=np.asarray(payload["scale"], dtype=np.float32),
                                input_shape=(channels, samples),
                                network_params=payload["network_params"],
                                training_params=payload["training_params"],
                                temperature=float(payload["temperature"]),
                                choice=dict(payload.get("choice") or {}))
    if "teacher_weights" in payload:
        weights = np.asarray(payload["teacher_weights"], dtype=np.float32)
        bias = np.asarray(payload["teacher_bias"], dtype=np.float32)
        if weights.shape != (len(trained.class_names), channels * samples) or \
                bias.shape != (len(trained.class_names),):
            raise SpikeappError(f"{label}: its LDA teacher does not fit the network it belongs to")
        trained.teacher_weights, trained.teacher_bias = weights, bias
        trained.teacher_share = float(payload["teacher_share"])
    return trained
