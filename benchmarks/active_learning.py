"""Labels needed to reach 99% accuracy when a person answers the label-next queue, against
labelling spikes picked at random, on the Quiroga Difficult2 waveform sets and the demo
recording; and the calibration of the network's confidence before and after temperature scaling.

    python benchmarks/active_learning.py            # 10 seeds, every data set
    python benchmarks/active_learning.py --quick    # 3 seeds, Difficult2 noise 0.10 and the demo
    python benchmarks/active_learning.py --suite [--quick]   # the suite's hard cases

``--suite``: the ground-truth suite's single channels and tetrodes (benchmarks/gtsim.py,
reporting seed 1; ``--tuning``: tuning seed 101), detected as the app detects, each detection
matched to its true unit (units with fewer than 20 detections left out). A case is *hard* when
the network with 20 random labels per unit stays at least 3 points below its all-labels ceiling
(shrinkage LDA on every detected true spike, 5-fold); only hard cases are run, and Difficult2 at
noise 0.10 (hard or not). The target is then the ceiling less 1 point, the budget 10 labels per
unit (``--per-unit-budget``; runs that miss it count it, and how many reached is printed), a
round adds one label per unit (two with ``--quick``: 2 seeds, the first 6 cases), and the
accuracy at 5 and 10 labels per unit is reported per strategy. ``label_ratio`` and the mean
difference at 10 labels per unit are over the hard cases only.

Both strategies start from the same labels (one per unit), train the product's CNN
(self-training included), measure accuracy on every spike not labelled, and add one label a
round (``--batch``) until 99% or the budget. Baseline: random labelling. The last line is
``label_ratio X``: labels with the queue divided by labels at random (mean over data sets and
seeds); the target is at most 0.5. With ``--suite`` the accuracy at 5 and 10 labels per unit is
printed beside that of ``lda+self`` (shrinkage LDA self-trained on the unlabelled spikes, from
as many random labels, on the same held-out spikes): the baseline the network must beat.
Calibration is measured apart, on networks trained on 20
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
PROPOSED: dict[str, list[np.ndarray]] = {}   # filled by suite_sets
MIN_CORE = 5            # a proposal with fewer of its core spikes on true spikes is not accepted
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


def suite_sets(quick: bool, tuning: bool, only: str | None = None
               ) -> list[tuple[str, np.ndarray, np.ndarray, float]]:
    """The suite's single-channel and tetrode recordings as (name, detected true spikes'
    waveforms, their true units, the all-labels ceiling); each recording's proposals (the
    app's, on its whole detection) are kept in PROPOSED[name]: per proposal, its core spikes
    that are detected true spikes, as rows of those waveforms."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from groundtruth import match_group
    from gtsim import REPORTING_SEEDS, TUNING_SEEDS, simulate, suite_cases

    from spikeapp.detection import detect
    from spikeapp.io.base import ArrayRecording
    from spikeapp.session import Session
    from spikeapp.tasks import run_job
    from spikeapp.workflow.proposals import propose_group

    seed = (TUNING_SEEDS if tuning else REPORTING_SEEDS)[0]
    out = []
    for case in suite_cases(seed):
        if case.kind == "probe":
            continue   # sorted in 8 groups: the other cases cover one group each
        if only and not any(part in case.name for part in only.split(",")):
            continue
        sim = simulate(case, seed)
        groups = [list(case.groups[0])] if case.groups else None
        detection = run_job(detect(ArrayRecording(sim.data, case.fs, path=case.name), {},
                                   groups))
        session = Session(detection)
        group = int(detection.group_ids[0])
        truth = match_group(sim, session, group, detection.group_members(group))
        units, counts = np.unique(truth.true_unit[truth.true_unit >= 0], return_counts=True)
        keep_units = units[counts >= 20]
        rows = np.flatnonzero(np.isin(truth.true_unit, keep_units))
        if len(keep_units) < 2:
            continue
        width = len(detection.group_members(group))
        waveforms = np.asarray(detection.waveforms[truth.spikes[rows]])[:, :width]
        _, classes = np.unique(truth.true_unit[rows], return_inverse=True)
        name = f"{case.name} seed {seed}"
        row_of = {int(spike): k for k, spike in enumerate(truth.spikes[rows])}
        PROPOSED[name] = [np.array([row_of[int(s)] for s in p.core if int(s) in row_of],
                                   dtype=np.int64) for p in propose_group(session, group)]
        out.append((name, waveforms, classes, ceiling_of(waveforms, classes)))
        if quick and len(out) >= 6:
            break
    return out


def ceiling_of(waveforms: np.ndarray, classes: np.ndarray) -> float:
    """What the spikes allow: shrinkage LDA trained on every true label, 5-fold cross-validated
    (as the suite's ceiling)."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    x = waveforms.reshape(len(waveforms), -1)
    guess = cross_val_predict(LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto"), x,
                              classes, cv=StratifiedKFold(5, shuffle=True, random_state=0))
    return float((guess == classes).mean())


def twenty_label_accuracy(job: tuple) -> tuple[str, float]:
    """The network with 20 random labels per unit (which cases are hard)."""
    from spikeapp.training.benchmark import draw_labels

    name, waveforms, truth, seed = job
    labelled = draw_labels(truth, 20, np.random.default_rng([seed, 20]))
    probabilities = make_fit_predict(waveforms, 1, [])(labelled, truth[labelled])
    rest = np.setdiff1d(np.arange(len(truth)), labelled)
    return name, float((probabilities[rest].argmax(axis=1) == truth[rest]).mean())


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
    from spikeapp.training.active import held_out_test, simulate

    name, waveforms, truth, features, seed, strategy, args = job   # args: this set's settings
    started = time.perf_counter()
    fit_predict = make_fit_predict(waveforms, 1, [])
    # "proposals K": the accepted proposals' cores start (leaving the training of a unit with K
    # hand labels; 0: never), then random labels (as "random").
    proposals = strategy.startswith("proposals")
    start = args["start"] if proposals else None
    budget = args["budget"] + (len(start[0]) if start is not None else 0)
    # Every strategy of a set is scored on the same spikes, which none labels (each was scored
    # on its own unlabelled spikes: the queue took its hardest out of its own test).
    cores = args.get("start")
    test = held_out_test(truth, seed, cores[0] if cores is not None else None)
    # Spread over the first 3 components; clusters sought in the 5 the app keeps per spike.
    run = simulate(truth, features[:, :3], fit_predict,
                   "random" if proposals else strategy,
                   np.random.default_rng(seed), batch=args["batch"], target=args["target"],
                   budget=budget, features=features[:, :args["components"]], start=start,
                   give_way=(int(strategy.split()[1]) or None) if proposals else None,
                   test=test)
    return name, seed, strategy, run, time.perf_counter() - started


def lda_self_one(job: tuple) -> tuple[str, int, dict[int, float]]:
    """The baseline to beat: shrinkage LDA self-trained on the unlabelled spikes (``lda+self``,
    the network's teacher alone), from 5 and 10 random labels per unit, scored on the same
    held-out spikes as the strategies."""
    from spikeapp.tasks import run_job
    from spikeapp.training.active import held_out_test
    from spikeapp.training.classifiers import make_classifier

    name, waveforms, truth, seed, cores = job
    test = held_out_test(truth, seed, cores)
    free = np.setdiff1d(np.arange(len(truth)), test)
    out = {}
    for per_unit in (5, 10):
        rng = np.random.default_rng([seed, per_unit, 11])
        rows = np.concatenate([rng.choice(free[truth[free] == c],
                                          min(per_unit, int((truth[free] == c).sum())),
                                          replace=False) for c in np.unique(truth)])
        rest = np.setdiff1d(np.arange(len(truth)), rows)
        classifier = make_classifier("lda+self")
        run_job(classifier.fit(waveforms[rows], truth[rows], unlabelled=waveforms[rest]))
        out[per_unit] = float((classifier.predict(waveforms[test]) == truth[test]).mean())
    return name, seed, out


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


def accepted(cores: list[np.ndarray], truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What a person accepting every proposal gives the network: each core (its spikes that
    are true spikes, at least MIN_CORE) labelled as the unit most of it belongs to, its other
    spikes wrongly so (a person who merges over-split proposals, one key each)."""
    rows, classes = [], []
    for core in cores:
        if len(core) < MIN_CORE:
            continue
        rows.append(core)
        classes.append(np.full(len(core), np.bincount(truth[core]).argmax()))
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(rows), np.concatenate(classes)


def proposal_savings(jobs: list[tuple], settings: dict, workers: int, context, started: float
                     ) -> None:
    """Hand labels per unit to reach 99 % of the ceiling, from the accepted proposals and from
    one label per unit; random labels added in both."""
    hand: dict[str, dict[str, list[float]]] = {}
    reached: dict[str, dict[str, int]] = {}
    # accuracy with at most 0, 2, 6, 10 and 20 hand labels per unit (the last round within)
    budgets = (0, 2, 6, 10, 20)
    accuracy: dict[str, dict[str, dict[int, list[float]]]] = {}
    first: dict[str, list[float]] = {}
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        for name, seed, strategy, run, seconds in pool.map(run_one, jobs):
            units = settings[name]["budget"] // 20
            free = len(settings[name]["start"][0]) if strategy != "random" else 0
            hand.setdefault(name, {}).setdefault(strategy, []).append(
                (run.labels_needed - free) / units)
            reached.setdefault(name, {}).setdefault(strategy, 0)
            reached[name][strategy] += run.reached_at is not None
            if strategy != "random":
                first.setdefault(name, []).append(run.rounds[0].accuracy)
            for per_unit in budgets:
                within = [r.accuracy for r in run.rounds if r.labels - free <= per_unit * units]
                if within:   # a run that stopped at the target keeps its accuracy beyond it
                    accuracy.setdefault(name, {}).setdefault(strategy, {}).setdefault(
                        per_unit, []).append(within[-1])
            trace = " ".join(f"{r.labels - free}:{100 * r.accuracy:.2f}" for r in run.rounds)
            print(f"{name} seed {seed} {strategy:<9} "
                  f"{'reached' if run.reached_at else 'NOT reached'} at "
                  f"{run.labels_needed - free} hand labels  [{trace}]  {seconds:.0f} s",
                  flush=True)
    strategies = ["random"] + sorted({s for by in hand.values() for s in by} - {"random"},
                                     key=lambda s: int(s.split()[1]))
    means: dict[str, list[float]] = {s: [] for s in strategies}

    def called(strategy: str) -> str:
        if strategy == "random":
            return "without proposals"
        k = int(strategy.split()[1])
        return f"with proposals ({f'cores give way at {k}' if k else 'cores kept'})"

    for name in hand:
        s = settings[name]
        cores = len(s["start"][0])
        line = [f"{name}: ceiling {100 * s['ceiling']:.2f} %, target {100 * s['target']:.2f} %; "
                f"accepted proposals alone {100 * np.mean(first[name]):.2f} % ({cores} core "
                "spikes); hand labels per unit:"]
        for strategy in strategies:
            values = hand[name][strategy]
            means[strategy].append(np.mean(values))
            line.append(f"{called(strategy)} {np.mean(values):.1f} ({reached[name][strategy]} "
                        f"of {len(values)} reached)")
        print(" ".join(line[:1]) + " " + ", ".join(line[1:]), flush=True)
        for strategy in strategies:
            got = accuracy.get(name, {}).get(strategy, {})
            print(f"  accuracy {called(strategy)} at "
                  + ", ".join(f"{b}: {100 * np.mean(got[b]):.2f} %" for b in budgets if b in got)
                  + " hand labels per unit")
    for strategy in strategies:
        means_at = {b: [np.mean(by[strategy][b]) for by in accuracy.values()
                        if b in by.get(strategy, {})] for b in budgets}
        print(f"mean accuracy {called(strategy)}: "
              + ", ".join(f"{b}: {100 * np.mean(v):.2f} %" for b, v in means_at.items() if v)
              + " hand labels per unit")
    print(f"wall time {time.perf_counter() - started:.0f} s")
    print("hand labels per unit to 99 % of the all-labels ceiling (budget 20, runs that miss "
          "count 20): " + ", ".join(f"{called(s)} {np.mean(means[s]):.1f}" for s in strategies))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 seeds, two data sets")
    parser.add_argument("--suite", action="store_true",
                        help="the ground-truth suite's hard cases instead (issue 18)")
    parser.add_argument("--tuning", action="store_true", help="with --suite: the tuning seed")
    parser.add_argument("--sets", default=None,
                        help="only the data sets whose name holds one of these (comma-separated)")
    parser.add_argument("--proposals", action="store_true",
                        help="with --suite: every case, random labels from the accepted "
                        "proposals against from one label per unit (issue 17)")
    parser.add_argument("--give-way", default=None, metavar="K[,K...]",
                        help="with --proposals: a unit's accepted cores leave the training once "
                        "it has K hand labels (0: never); several values compared in one run "
                        "(default: the app's, training parameter cores_give_way)")
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--target", type=float, default=0.99)
    parser.add_argument("--batch", type=int, default=1, help="labels added per round")
    parser.add_argument("--budget", type=int, default=None,
                        help="labels at most (default 60; 30 with --quick)")
    parser.add_argument("--per-unit-budget", type=int, default=10,
                        help="with --suite: labels per unit at most (labels needed are capped "
                        "at it)")
    parser.add_argument("--components", type=int, default=5, choices=range(1, 6),
                        help="principal components the queue seeks clusters in")
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0))
                        if hasattr(os, "sched_getaffinity") else 1,
                        help="runs at once, one process and one torch thread each")
    args = parser.parse_args()
    # --suite --quick: 2 seeds (with 3 it ran 14 min on 2 cores; the target is 10)
    seeds = args.seeds or ((2 if args.suite else 3) if args.quick else 10)
    if args.give_way is None:
        from spikeapp.params import defaults

        args.give_way = [int(defaults("training")["cores_give_way"])]
    else:
        args.give_way = [int(k) for k in str(args.give_way).split(",")]
    args.budget = args.budget or (30 if args.quick else 60)
    context = multiprocessing.get_context("spawn")  # torch and fork do not mix
    started = time.perf_counter()
    strategies = ("random", "queue")
    hard_names: set[str] = set()
    if args.suite and args.proposals:
        suite = suite_sets(args.quick, args.tuning, args.sets)
        sets = [(name, w, t) for name, w, t, _ in suite]
        step = 2 if args.quick else 1
        settings = {name: {"batch": step * (int(t.max()) + 1), "target": 0.99 * ceiling,
                           "budget": 20 * (int(t.max()) + 1), "components": args.components,
                           "start": accepted(PROPOSED[name], t), "ceiling": ceiling}
                    for name, w, t, ceiling in suite}
        strategies = ("random",) + tuple(f"proposals {k}" for k in args.give_way)
    elif args.suite:
        suite = suite_sets(args.quick, args.tuning, args.sets)
        with ProcessPoolExecutor(args.workers, mp_context=context) as pool:
            twenty = dict(pool.map(twenty_label_accuracy,
                                   [(name, w, t, 0) for name, w, t, _ in suite]))
        print("# 20 random labels per unit against the all-labels ceiling (hard: >= 3 points "
              "below)")
        hard = []
        for name, waveforms, truth, ceiling in suite:
            gap = 100 * (ceiling - twenty[name])
            print(f"{name}: {truth.max() + 1} units, {len(truth)} spikes, 20 labels "
                  f"{100 * twenty[name]:.2f} %, ceiling {100 * ceiling:.2f} %, gap {gap:.1f}"
                  f"{'  (hard)' if gap >= 3 else ''}", flush=True)
            if gap >= 3:
                hard.append((name, waveforms, truth, ceiling))
        hard_names = {name for name, _, _, _ in hard}
        if SHARED.is_dir() and (not args.sets or "Difficult2" in args.sets):
            # Difficult2 at noise 0.10 always runs (hard or not): the classic recording.
            name, waveforms, truth = quiroga_sets(True)[0]
            hard.append((name, waveforms, truth, ceiling_of(waveforms, truth)))
            print(f"{name}: {truth.max() + 1} units, {len(truth)} spikes, ceiling "
                  f"{100 * hard[-1][3]:.2f} % (run whether hard or not)", flush=True)
        sets = [(name, w, t) for name, w, t, _ in hard]
        step = 2 if args.quick else 1
        settings = {name: {"units": int(t.max()) + 1, "batch": step * (int(t.max()) + 1),
                           "target": ceiling - 0.01,
                           "budget": args.per_unit_budget * (int(t.max()) + 1),
                           "components": args.components}
                    for name, w, t, ceiling in hard}
    else:
        sets = quiroga_sets(args.quick) if SHARED.is_dir() else []
        sets.append(demo_set())
        if args.sets:
            sets = [s for s in sets if any(part in s[0] for part in args.sets.split(","))]
        settings = {name: {"batch": args.batch, "target": args.target, "budget": args.budget,
                           "components": args.components} for name, _, _ in sets}
    plan = ("99 % of the ceiling, budget 20 hand labels per unit, "
            f"{'two labels' if args.quick else 'one label'} per unit a round; accepted proposals "
            "against one label per unit to start" if args.proposals else
            f"the ceiling less 1 point, budget {args.per_unit_budget} labels per unit, "
            f"{'two labels' if args.quick else 'one label'} per unit a round"
            if args.suite else f"target {args.target:.0%}, {args.batch} label(s) a round, "
            f"budget {args.budget} labels")
    print(f"# {plan}, {seeds} seeds, {args.workers} worker(s) of one thread; baseline: random "
          "labelling", flush=True)
    features = {name: coordinates(waveforms) for name, waveforms, _ in sets}
    jobs = [(name, waveforms, truth, features[name], seed, strategy, settings[name])
            for name, waveforms, truth in sets for seed in range(seeds)
            for strategy in strategies]
    if args.proposals:
        return proposal_savings(jobs, settings, args.workers, context, started)
    needed: dict[str, dict[str, list[int]]] = {name: {"random": [], "queue": []}
                                               for name, _, _ in sets}
    at_budget: dict[str, dict[str, dict[int, list[float]]]] = {
        name: {"random": {5: [], 10: []}, "queue": {5: [], 10: []}} for name, _, _ in sets}
    reached = {name: {"random": 0, "queue": 0} for name, _, _ in sets}
    with ProcessPoolExecutor(args.workers, mp_context=context) as pool:
        for name, seed, strategy, run, seconds in pool.map(run_one, jobs):
            needed[name][strategy].append(run.labels_needed)
            reached[name][strategy] += run.reached_at is not None
            units = settings[name]["units"] if args.suite else 0
            for per_unit in (5, 10):
                upto = [r.accuracy for r in run.rounds if r.labels <= per_unit * units]
                if units and upto:
                    # a run that stopped at the target keeps its accuracy beyond it
                    at_budget[name][strategy][per_unit].append(upto[-1])
            trace = " ".join(f"{r.labels}:{100 * r.accuracy:.2f}" for r in run.rounds)
            print(f"{name} seed {seed} {strategy:<6} "
                  f"{'reached' if run.reached_at else 'NOT reached'} at "
                  f"{run.labels_needed} labels  [{trace}]  {seconds:.0f} s", flush=True)
        baseline: dict[str, dict[int, list[float]]] = {name: {5: [], 10: []}
                                                       for name, _, _ in sets}
        if args.suite:
            for name, _, got in pool.map(lda_self_one, [
                    (name, waveforms, truth, seed,
                     settings[name]["start"][0] if settings[name].get("start") is not None
                     else None)
                    for name, waveforms, truth in sets for seed in range(seeds)]):
                for per_unit, accuracy in got.items():
                    baseline[name][per_unit].append(accuracy)
        eces = [] if args.suite else list(pool.map(
            calibrate_one, [(waveforms, truth, seed) for _, waveforms, truth in sets
                            for seed in range(seeds)]))
    ratios, gains = [], []
    for name, counts in needed.items():
        queue, random = np.mean(counts["queue"]), np.mean(counts["random"])
        if not args.suite or name in hard_names:   # the ratio is over the hard cases
            ratios.append(queue / random)
        target = settings[name]["target"]
        print(f"{name}: labels to {100 * target:.2f} %: queue {queue:.1f} +- "
              f"{np.std(counts['queue']):.1f} ({reached[name]['queue']} of "
              f"{len(counts['queue'])} reached), random {random:.1f} +- "
              f"{np.std(counts['random']):.1f} ({reached[name]['random']} of "
              f"{len(counts['random'])} reached; budget {settings[name]['budget']}, runs "
              f"that miss count it); ratio {queue / random:.2f}"
              f"{'' if not args.suite or name in hard_names else ' (not a hard case)'}",
              flush=True)
        if args.suite:
            for per_unit in (5, 10):
                q = 100 * np.mean(at_budget[name]["queue"][per_unit])
                r = 100 * np.mean(at_budget[name]["random"][per_unit])
                lda = 100 * np.mean(baseline[name][per_unit])
                print(f"  at {per_unit} labels per unit: queue {q:.2f} %, random {r:.2f} %, "
                      f"difference {q - r:+.2f} points; lda+self (random labels) {lda:.2f} %")
                if per_unit == 10 and name in hard_names:
                    gains.append(q - r)
    if eces:
        before, after = np.mean([e[0] for e in eces]), np.mean([e[1] for e in eces])
        print(f"expected calibration error on unlabelled spikes, {CALIBRATION_LABELS} labels "
              f"per unit: {before:.4f} before temperature scaling, {after:.4f} after "
              f"({len(eces)} trained networks)")
    if gains:
        print(f"queue - random at 10 labels per unit, mean over the {len(gains)} hard cases: "
              f"{np.mean(gains):+.2f} points")
    print(f"wall time {time.perf_counter() - started:.0f} s")
    print(f"label_ratio {np.mean(ratios):.2f}" if ratios else "label_ratio n/a (no hard case)")


if __name__ == "__main__":
    sys.exit(main())
