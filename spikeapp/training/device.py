"""Where torch runs, and how many CPU threads it may take."""

from __future__ import annotations

import logging
import os

import torch

log = logging.getLogger(__name__)


def cap_threads(threads: int = 0) -> int:
    """Limit torch's CPU threads; 0 means all cores but one, so the interface keeps a core."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    count = threads or max(1, (cores or 1) - 1)
    torch.set_num_threads(count)
    return count


def torch_threads() -> int:
    """The CPU threads torch uses now in this process."""
    return torch.get_num_threads()


def choose_device(requested: str = "auto") -> torch.device:
    """CUDA, then Apple MPS, then CPU; an unavailable request falls back to CPU with a log."""
    if requested in ("auto", "cuda") and torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if requested in ("auto", "mps") and mps is not None and mps.is_available():
        return torch.device("mps")
    if requested not in ("auto", "cpu"):
        log.warning("%s is not available here; training on the CPU", requested)
    return torch.device("cpu")


def gpu_of_slot(slot: int, gpus: int) -> int | None:
    """The GPU a pool's worker number ``slot`` trains on: the GPUs shared in turn; None with
    fewer than two (torch's default device is the only one there is)."""
    return slot % gpus if gpus > 1 else None


def use_gpu_of_slot(slot: int) -> int | None:
    """Make :func:`gpu_of_slot` this process's CUDA device (training's "cuda" and "auto" then
    mean it); returns it, None where there are fewer than two GPUs."""
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    index = gpu_of_slot(slot, gpus)
    if index is not None:
        torch.cuda.set_device(index)
        log.info("worker %d trains on cuda:%d of %d", slot, index, gpus)
    return index


def check_torch() -> str:
    """A convolution runs (for ``spikeapp --self-test``); says where training would run."""
    x = torch.randn(8, 1, 32)
    y = torch.nn.Conv1d(1, 2, 3)(x)
    if tuple(y.shape) != (8, 2, 30):
        raise RuntimeError(f"a convolution gave the shape {tuple(y.shape)}")
    return f"torch {torch.__version__}, training on {choose_device('auto')}"
