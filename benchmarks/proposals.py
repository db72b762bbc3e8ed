"""Sorting with no hand labels at all, from the proposed units, on the ground-truth suite.

    python benchmarks/proposals.py [--quick] [--tuning] [--cases NAMES] [--peers SORTERS]

Per recording of the suite (benchmarks/gtsim.py; reporting seeds unless --tuning):
- ``proposals``: each proposed unit's spikes as a unit (the Gaussian mixture alone);
- ``+network``: ``spikeapp sort --propose``: every proposal's core spikes become labels, the
  network trains on them (self-training on the rest) and sorts every spike;
- with ``--peers``: SpikeInterface's own sorters on the same recording (bench extra).
Accuracy is SpikeInterface's (tp / (tp + fn + fp), 0.4 ms, units matched one to one), the mean
over the true units, as for the peers. ``units`` is how many units were proposed against how
many are true. The last line: the means over the recordings run.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from groundtruth import TOLERANCE_S, run_peer  # noqa: E402
from gtsim import REPORTING_SEEDS, TUNING_SEEDS, Simulated, simulate, suite_cases  # noqa: E402

from spikeapp.detection import detect  # noqa: E402
from spikeapp.io.base import ArrayRecording  # noqa: E402
from spikeapp.session import Session  # noqa: E402
from spikeapp.tasks import run_job  # noqa: E402
from spikeapp.workflow.workspace import Workspace  # noqa: E402


def si_accuracy(sim: Simulated, times: list[np.ndarray], names: list[str]) -> float:
    """SpikeInterface's mean accuracy of a sorting given as spike times per unit."""
    import spikeinterface.comparison as sc
    import spikeinterface.core as si

    fs = sim.case.fs
    truth = si.NumpySorting.from_samples_and_labels(
        [np.round(sim.truth_times_s * fs).astype(np.int64)], [sim.truth_units], fs)
    if times:
        samples = np.concatenate([np.round(t * fs).astype(np.int64) for t in times])
        labels = np.concatenate([np.full(len(t), n) for t, n in zip(times, names)])
        order = np.argsort(samples, kind="stable")
        sorting = si.NumpySorting.from_samples_and_labels([samples[order]], [labels[order]], fs)
    else:
        return 0.0
    comparison = sc.compare_sorter_to_ground_truth(truth, sorting,
                                                   delta_time=TOLERANCE_S * 1000)
    return float(comparison.get_performance()["accuracy"].mean())


def run(sim: Simulated, training: dict, peers: list[str], train: bool = True) -> dict:
    case = sim.case
    recording = ArrayRecording(sim.data, case.fs, path=f"<{case.name}>")
    groups = [list(g) for g in case.groups] if case.groups and case.kind == "probe" else (
        [list(case.groups[0])] if case.groups else None)
    detection = run_job(detect(recording, {}, groups))
    d = detection
    workspace = Workspace(journal=False)
    workspace.set_session(Session(detection), name=case.name)
    workspace.set_params("training", **training)
    started = time.perf_counter()
    found = run_job(workspace.propose_job()())
    workspace.proposed(found)
    propose_s = time.perf_counter() - started
    proposals = [(g, k, p) for g, ps in found.items() for k, p in enumerate(ps)]
    alone = si_accuracy(sim, [d.times_s[p.members] for _, _, p in proposals],
                        [f"{g}:{k}" for g, k, _ in proposals])
    workspace.accept_all_proposals()
    started = time.perf_counter()
    for group in sorted(found):
        if len(found[group]) >= 2 and train:
            workspace.apply(run_job(workspace.training_job(group).run()))
    train_s = time.perf_counter() - started
    session = workspace.session
    units = sorted(session.units.values(), key=lambda u: u.id)
    networked = si_accuracy(sim, [d.times_s[session.assignment == u.id] for u in units],
                            [f"{u.group}:{u.name}" for u in units])
    record = {"case": case.name, "seed": sim.seed, "true_units": len(case.units),
              "proposed": len(proposals), "proposals": alone, "network": networked,
              "propose_s": propose_s, "train_s": train_s}
    for sorter in peers:
        record[sorter] = run_peer(sim, sorter)
    return record


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", help="comma-separated case names (default: all)")
    parser.add_argument("--tuning", action="store_true", help="the tuning seeds")
    parser.add_argument("--quick", action="store_true", help="one seed per case")
    parser.add_argument("--peers", default="", help="e.g. spykingcircus2,tridesclous2")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--no-network", action="store_true",
                        help="score the proposals alone (quicker: no training)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a constant of spikeapp.workflow.proposals, e.g. CRITERION=aic "
                             "(for tuning, on --tuning seeds only)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("TQDM_DISABLE", "1")
    seeds = TUNING_SEEDS if args.tuning else REPORTING_SEEDS
    if args.quick:
        seeds = seeds[:1]
    cases = suite_cases(seeds[0])   # the names; each seed draws its own neurons
    drawn = {seed: {c.name: c for c in suite_cases(seed)} for seed in seeds}
    if args.cases:
        cases = [c for c in cases if any(w in c.name for w in args.cases.split(","))]
    peers = [p for p in args.peers.split(",") if p]
    training = {"threads": args.threads or len(os.sched_getaffinity(0))}
    from spikeapp.workflow import proposals as constants

    for item in args.set:
        name, _, value = item.partition("=")
        kind = type(getattr(constants, name))
        setattr(constants, name, kind(value))
    records = []
    print(f"{'case':<30} {'seed':>4} {'units':>9} {'proposals':>9} {'+network':>8} "
          + " ".join(f"{p:>14}" for p in peers) + f" {'propose s':>9} {'train s':>7}")
    for case in cases:
        for seed in seeds:
            record = run(simulate(drawn[seed][case.name], seed), training, peers, not args.no_network)
            records.append(record)
            print(f"{case.name:<30} {seed:>4} {record['proposed']:>4}/{record['true_units']:<4} "
                  f"{record['proposals']:>9.3f} {record['network']:>8.3f} "
                  + " ".join(f"{record[p]:>14.3f}" for p in peers)
                  + f" {record['propose_s']:>9.1f} {record['train_s']:>7.1f}", flush=True)
    means = {key: float(np.nanmean([r[key] for r in records]))
             for key in ("proposals", "network", *peers)}
    print(f"zero labels, {len(records)} recordings ({'tuning' if args.tuning else 'reporting'} "
          "seeds): mean accuracy " + ", ".join(f"{k} {v:.3f}" for k, v in means.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
