"""Labels needed to reach 99% accuracy when a person answers the label-next queue, against
labelling spikes picked at random, on the Quiroga Difficult2 waveform sets and the demo
recording; and the calibration of the network's confidence before and after temperature scaling.

    python benchmarks/active_learning.py            # 10 seeds, every data set
    python benchmarks/active_learning.py --quick    # 3 seeds, Difficult2 noise 0.10 and the demo

Both strategies start from the same labels (one per unit), train the product's CNN
(self-training included), measure accuracy on every spike not labelled, and add one label a
round (``--batch``) until 99% or the budget. Baseline: random labelling. The last line is
``label_ratio X``: labels with the queue divided by labels at random (mean over data sets and
seeds); the target is at most 0.5. Calibration is measured apart, on networks trained on 20
random labels per unit (few labels leave none to hold out for the temperature). Runs go to
worker processes of one torch thread each: these small networks train faster side by side than
with two threads each.
"""

from __future__ import annotations

import argparse
import glob
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

CALIBRATION_LABELS = 20
ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def quiroga_sets(quick: bool) -> list[tuple[str, np.ndarray, np.ndarray]]:
    from spikeapp.training.benchmark import load_waveform_set

    files = sorted(glob.glob(str(SHARED / "quiroga2004_difficult2_spikes_keshtkaran" / "*.mat")))
    if quick:
        files = [f for f in files if "noise01" in f][:1]
    sets = []
    for file in files:
        waveforms, labels = load_waveform_set(file)
        _, classes = np.unique(labels, return_inverse=True)
        sets.append((Path(file).stem, waveforms, classes))
    return sets


def demo_set() -> tuple[str, np.ndarray, np.ndarray]:
    """The demo's channel 0 detections that match a true unit (the 'mua' background and
    unmatched detections left out), with their true units as classes."""
    from spikeapp.detection import detect
    from spikeapp.io.demo import make_demo
    from spikeapp.tasks import run_job

    demo = make_demo(seed=0)
    result = run_job(detect(demo.recording()))
    on0 = np.flatnonzero(result.channels == 0)
    names = np.full(len(on0), "", dtype=object)
    truth = demo.truth_channels == 0
    for row, spike in enumerate(on0):
        gaps = np.abs(demo.truth_times_s[truth] - result.times_s[spike])
        if gaps.min() < 0.0004:
            names[row] = demo.truth_units[truth][np.argmin(gaps)]
    keep = (names != "") & (names != "mua")
    _, classes = np.unique(names[keep].astype(str), return_inverse=True)
    return "demo channel 0", np.asarray(result.waveforms[on0[keep]]), classes


def coordinates(waveforms: np.ndarray, components: int = 5) -> np.ndarray:
    """The first principal components of the waveforms (the app's detection keeps 5)."""
    from sklearn.decomposition import PCA

    flat = waveforms.reshape(len(waveforms), -1)
    return PCA(n_components=components, random_state=0).fit_transform(flat)


def make_fit_predict(waveforms: np.ndarray, threads: int, calibration: list):
    from spikeapp.tasks import run_job
    from spikeapp.training.trainer import _softmax, train_classifier

    def fit_predict(labelled: np.ndarray, classes: np.ndarray) -> np.ndarray:
        names = [str(c) for c in range(int(classes.max()) + 1)]
        _, dense = np.unique(classes, return_inverse=True)
        present = np.unique(classes)
        rest = np.setdiff1d(np.arange(len(waveforms)), labelled)
        trained = run_job(train_classifier(waveforms[labelled], dense, [names[c] for c in present],
                                           training={"threads": threads, "seed": 0},
                                           unlabelled=waveforms[rest]))
        logits = trained.logits(waveforms)
        probabilities = np.zeros((len(waveforms), len(names)), dtype=np.float32)
        probabilities[:, present] = _softmax(logits / trained.temperature)
        calibration.append((logits, trained.temperature, present, labelled))
        return probabilities

    return fit_predict


def run_one(job: tuple) -> tuple:
    """One strategy on one data set from one seed (a worker process, one torch thread)."""
    from spikeapp.training.active import simulate

    name, waveforms, truth, features, seed, strategy, args = job
    started = time.perf_counter()
    fit_predict = make_fit_predict(waveforms, 1, [])
    # Spread over the first 3 components; clusters sought in the 5 the app keeps per spike.
    run = simulate(truth, features[:, :3], fit_predict, strategy, np.random.default_rng(seed),
                   batch=args["batch"], target=args["target"], budget=args["budget"],
                   features=features[:, :args["components"]])
    return name, seed, strategy, run, time.perf_counter() - started


def calibrate_one(job: tuple) -> tuple[float, float, int]:
    """Expected calibration error on every unlabelled spike, before and after temperature
    scaling, for the network trained on CALIBRATION_LABELS random labels per unit (enough for
    held-out labels to fit the temperature on)."""
    from spikeapp.training.benchmark import draw_labels
    from spikeapp.training.calibration import expected_calibration_error

    waveforms, truth, seed = job
    calibration: list = []
    labelled = draw_labels(truth, CALIBRATION_LABELS, np.random.default_rng([seed, 7]))
    make_fit_predict(waveforms, 1, calibration)(labelled, truth[labelled])
    logits, temperature, present, _ = calibration[-1]
    rest = np.setdiff1d(np.arange(len(truth)), labelled)
    dense = np.searchsorted(present, truth[rest])
    return (expected_calibration_error(logits[rest], dense),
            expected_calibration_error(logits[rest], dense, temperature), len(rest))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 seeds, two data sets")
    parser.add_argument("--sets", default=None,
                        help="only the data sets whose name holds one of these (comma-separated)")
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--target", type=float, default=0.99)
    parser.add_argument("--batch", type=int, default=1, help="labels added per round")
    parser.add_argument("--budget", type=int, default=None,
                        help="labels at most (default 60; 30 with --quick)")
    parser.add_argument("--components", type=int, default=5, choices=range(1, 6),
                        help="principal components the queue seeks clusters in")
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0))
                        if hasattr(os, "sched_getaffinity") else 1,
                        help="runs at once, one process and one torch thread each")
    args = parser.parse_args()
    seeds = args.seeds or (3 if args.quick else 10)
    args.budget = args.budget or (30 if args.quick else 60)
    sets = quiroga_sets(args.quick) if SHARED.is_dir() else []
    sets.append(demo_set())
    if args.sets:
        sets = [s for s in sets if any(part in s[0] for part in args.sets.split(","))]
    print(f"# target {args.target:.0%}, {args.batch} label(s) a round, budget {args.budget} "
          f"labels, {seeds} seeds, {args.workers} worker(s) of one thread; "
          "baseline: random labelling", flush=True)
    started = time.perf_counter()
    settings = {"batch": args.batch, "target": args.target, "budget": args.budget,
                "components": args.components}
    features = {name: coordinates(waveforms) for name, waveforms, _ in sets}
    jobs = [(name, waveforms, truth, features[name], seed, strategy, settings)
            for name, waveforms, truth in sets for seed in range(seeds)
            for strategy in ("random", "queue")]
    needed: dict[str, dict[str, list[int]]] = {name: {"random": [], "queue": []}
                                               for name, _, _ in sets}
    context = multiprocessing.get_context("spawn")  # torch and fork do not mix
    with ProcessPoolExecutor(args.workers, mp_context=context) as pool:
        for name, seed, strategy, run, seconds in pool.map(run_one, jobs):
            needed[name][strategy].append(run.labels_needed)
            trace = " ".join(f"{r.labels}:{100 * r.accuracy:.2f}" for r in run.rounds)
            print(f"{name} seed {seed} {strategy:<6} "
                  f"{'reached' if run.reached_at else 'NOT reached'} at "
                  f"{run.labels_needed} labels  [{trace}]  {seconds:.0f} s", flush=True)
        eces = list(pool.map(calibrate_one, [(waveforms, truth, seed) for _, waveforms, truth
                                             in sets for seed in range(seeds)]))
    ratios = []
    for name, counts in needed.items():
        queue, random = np.mean(counts["queue"]), np.mean(counts["random"])
        ratios.append(queue / random)
        print(f"{name}: labels to {args.target:.0%}: queue {queue:.1f} +- "
              f"{np.std(counts['queue']):.1f}, random {random:.1f} +- "
              f"{np.std(counts['random']):.1f}; ratio {queue / random:.2f}", flush=True)
    before, after = np.mean([e[0] for e in eces]), np.mean([e[1] for e in eces])
    print(f"expected calibration error on unlabelled spikes, {CALIBRATION_LABELS} labels per "
          f"unit: {before:.4f} before temperature scaling, {after:.4f} after "
          f"({len(eces)} trained networks)")
    print(f"wall time {time.perf_counter() - started:.0f} s")
    print(f"label_ratio {np.mean(ratios):.2f}")


if __name__ == "__main__":
    sys.exit(main())
