"""Training and prediction on a GPU against the CPU of the same machine, in one run.

    python benchmarks/accelerator.py [--waveforms FILE.mat] [--spikes 1000000] [--repeats 3]

Two shapes of problem: one channel (the Quiroga Difficult2 noise 0.10 waveforms, 3 units) and a
tetrode (4 channels: the same units' mean shapes at a different gain on each channel, with real
residual noise from the same file). Per device: training time with 20 labels per unit and
self-training on the rest (the app's defaults), accuracy on the spikes nobody labelled, and
prediction throughput on ``--spikes`` spikes (averaged over the sampling phase, as the app
predicts). The CPU uses all its cores (torch's threads: all but one). A network trained on the
GPU is saved and loaded back on the CPU, and must predict the same units there.

Baseline for the ratios: the CPU of the same machine. The first CUDA training (start-up of the
CUDA context and kernels) is reported apart and left out of the medians. Where no GPU is present
only the CPU rows are printed. Last line: ``speedup train X predict Y`` (CPU / GPU seconds,
medians over repeats and shapes; ``n/a`` without a GPU).
"""

from __future__ import annotations

import argparse
import statistics
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch

from spikeapp.io.waveform_sets import load_waveform_set
from spikeapp.tasks import run_job
from spikeapp.training.checkpoint import checkpoint_bytes, load_checkpoint
from spikeapp.training.trainer import train_classifier

DIFFICULT2 = (Path(__file__).resolve().parents[2] / "shared/data/quiroga2004_difficult2_spikes_"
              "keshtkaran/spikes_C_Difficult2_noise01.mat")
LABELS_PER_UNIT = 20


def tetrode(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Four channels: each unit's mean at its own gain per channel, plus a residual (spike minus
    its unit's mean) of another random spike on each channel: real noise, independent channels."""
    means = np.stack([x[y == c].mean(axis=0) for c in range(y.max() + 1)])
    residuals = x - means[y]
    gains = rng.uniform(0.3, 1.0, size=(y.max() + 1, 4))
    noise = residuals[rng.integers(0, len(x), size=(len(x), 4))]
    return (gains[y][:, :, None] * means[y][:, None, :] + noise).astype(np.float32)


def seconds_of(call) -> tuple[float, object]:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    started = time.perf_counter()
    value = call()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - started, value


def run_device(device: str, x: np.ndarray, y: np.ndarray, many: np.ndarray, repeats: int,
               warm_up: bool) -> dict:
    rng = np.random.default_rng(0)
    names = [str(c + 1) for c in range(y.max() + 1)]
    train_s, predict_s, accuracy, network = [], [], [], None
    if warm_up:
        train = np.concatenate([rng.choice(np.nonzero(y == c)[0], LABELS_PER_UNIT, replace=False)
                                for c in range(len(names))])
        first, _ = seconds_of(lambda: run_job(train_classifier(
            x[train], y[train], names, unlabelled=x, training={"device": device, "seed": 99})))
        print(f"  {device}: first training (with start-up) {first:.2f} s")
    for repeat in range(repeats):
        train = np.concatenate([rng.choice(np.nonzero(y == c)[0], LABELS_PER_UNIT, replace=False)
                                for c in range(len(names))])
        rest = np.setdiff1d(np.arange(len(y)), train)
        seconds, network = seconds_of(partial(run_job, train_classifier(
            x[train], y[train], names, unlabelled=x[rest],
            training={"device": device, "seed": repeat})))
        train_s.append(seconds)
        accuracy.append(100 * float((network.predict(x[rest]).labels == y[rest]).mean()))
        network.predict(many[:50_000])  # warm-up of this network's kernels
        seconds, _ = seconds_of(partial(network.predict, many))
        predict_s.append(seconds)
        print(f"  {device} seed {repeat}: train {train_s[-1]:.2f} s, accuracy "
              f"{accuracy[-1]:.2f} %, predict {len(many):,} spikes {predict_s[-1]:.2f} s "
              f"({len(many) / predict_s[-1]:,.0f} spikes/s)")
    return {"train": statistics.median(train_s), "predict": statistics.median(predict_s),
            "accuracy": statistics.mean(accuracy), "network": network}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waveforms", type=Path, default=DIFFICULT2)
    parser.add_argument("--spikes", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    x1, y = load_waveform_set(args.waveforms)
    y = y - y.min()
    cuda = torch.cuda.is_available()
    devices = ["cpu", "cuda"] if cuda else ["cpu"]
    print(f"# {args.waveforms.name}: {len(x1)} spikes, {y.max() + 1} units; torch "
          f"{torch.__version__}; CPU threads {torch.get_num_threads()}; "
          f"GPU {torch.cuda.get_device_name(0) if cuda else 'none'}")
    shapes = {"one channel": x1[:, None, :].astype(np.float32),
              "tetrode": tetrode(x1, y, np.random.default_rng(1))}
    ratios_train, ratios_predict = [], []
    for shape, x in shapes.items():
        many = np.tile(x, (max(1, args.spikes // len(x)) + 1, 1, 1))[:args.spikes]
        print(f"{shape}: {x.shape[1]} channel(s) x {x.shape[2]} samples")
        rows = {d: run_device(d, x, y, many, args.repeats, warm_up=d != "cpu") for d in devices}
        for device, row in rows.items():
            print(f"{shape:12s} {device:5s} train {row['train']:6.2f} s  predict "
                  f"{len(many) / row['predict']:>12,.0f} spikes/s  accuracy {row['accuracy']:.2f} %")
        if cuda:
            gpu = rows["cuda"]["network"]
            on_gpu = gpu.predict(x).labels
            on_cpu = load_checkpoint(checkpoint_bytes(gpu)).predict(x).labels
            agree = 100 * float((on_gpu == on_cpu).mean())
            print(f"{shape:12s} a network trained on the GPU, loaded on the CPU: same unit for "
                  f"{agree:.3f} % of spikes")
            ratios_train.append(rows["cpu"]["train"] / rows["cuda"]["train"])
            ratios_predict.append(rows["cpu"]["predict"] / rows["cuda"]["predict"])
            print(f"{shape:12s} speedup (CPU / GPU): train {ratios_train[-1]:.2f}x, predict "
                  f"{ratios_predict[-1]:.2f}x")
    if cuda:
        print(f"speedup train {statistics.median(ratios_train):.2f} predict "
              f"{statistics.median(ratios_predict):.2f}")
    else:
        print("speedup train n/a predict n/a (no GPU here)")


if __name__ == "__main__":
    main()
