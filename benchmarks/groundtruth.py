"""The ground-truth suite: does the network sort recordings nobody tuned it on?

Every case of benchmarks/gtsim.py (single channels with 2-6 units at several noise levels,
tetrodes with 4-8 units, a 32-channel probe section sorted in groups of four, drift, bursts,
similar pairs, overlaps, hybrids of real noise and real shapes) is generated per seed, detected
with the app's default parameters, seeded with ``--labels`` hand labels per unit drawn at random
among the detected spikes of each unit (what a person can click), sorted as ``spikeapp sort``
sorts (train per group, predict every spike), and scored:

- detection: recall per unit (true spikes with a detection of their group within 0.4 ms) and
  precision per group (detections within 0.4 ms of a true spike of a unit seen there);
- ``network``: accuracy of the app's sorting on the detected true spikes nobody labelled, for
  each of ``--train-seeds`` training seeds (mean, worst and best);
- ``lda``: shrinkage LDA trained on the same labels, on the same waveforms, same spikes;
- ``lda+self``: the same LDA self-trained on the unlabelled detections (the network's teacher
  alone): the baseline the network must beat;
- ``ceiling``: shrinkage LDA trained on every detected true spike, 5-fold cross-validated;
- ``e2e``: SpikeInterface's accuracy tp / (tp + fn + fp) per unit against all its true spikes
  (labelled ones left out on both sides), mean over units, first training seed;
- with ``--peers``: SpikeInterface's built-in sorters on the same recording (bench extra);
- with ``--recover Z``: template matching after the sort (``spikeapp sort --recover``): how
  many spikes it found, the share of them that are true spikes, recall and e2e again.

Seeds: ``gtsim.TUNING_SEEDS`` may choose constants; the table and the summary are computed on
``gtsim.REPORTING_SEEDS`` only (``--tuning`` runs the tuning seeds instead, for development).

    python benchmarks/groundtruth.py [--quick] [--cases a,b] [--recover 5] [--json out.json]

The last line is the summary.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gtsim import REPORTING_SEEDS, TUNING_SEEDS, Simulated, simulate, suite_cases  # noqa: E402

from spikeapp.detection import detect  # noqa: E402
from spikeapp.io.base import ArrayRecording  # noqa: E402
from spikeapp.session import Session  # noqa: E402
from spikeapp.session.commands import History  # noqa: E402
from spikeapp.tasks import run_job  # noqa: E402

TOLERANCE_S = 0.0004
VISIBLE_SNR = 4.0     # a unit is sorted in a group where its trough reaches this x the noise


@dataclass
class GroupTruth:
    """One channel group's detections matched to the truth."""

    group: int
    units: NDArray[np.int64]            # true units seen in this group
    spikes: NDArray[np.int64]           # detections of the group
    true_unit: NDArray[np.int64]        # per detection: its true unit, -1 when none
    true_index: NDArray[np.int64]       # per detection: the row in the truth, -1 when none


@dataclass
class CaseResult:
    case: str
    kind: str
    seed: int
    n_units: int
    snr: list[float]
    recall: list[float]
    precision: float
    network: list[float] = field(default_factory=list)       # per training seed
    network_train_s: list[float] = field(default_factory=list)
    lda: float = 0.0
    lda_self: float = 0.0
    ceiling: float = 0.0
    e2e: float = 0.0
    e2e_units: list[float] = field(default_factory=list)
    peers: dict[str, float] = field(default_factory=dict)
    n_eval: int = 0
    recovered: int = 0                  # spikes found by template matching (--recover)
    recovered_true: float = 0.0         # share of them within 0.4 ms of a true spike
    curve: dict[int, tuple[float, float]] = field(default_factory=dict)  # --label-curve
    recall_recovered: list[float] = field(default_factory=list)
    e2e_recovered: float = float("nan")


def match_group(sim: Simulated, session: Session, group: int, members: NDArray[np.int64]
                ) -> GroupTruth:
    """Each detection of ``group`` to the nearest true spike of a unit seen there (one to one,
    within 0.4 ms)."""
    d = session.detection
    seen = np.flatnonzero(sim.channel_amplitude[:, members].max(axis=1) >= VISIBLE_SNR)
    spikes = session.spikes_of_group(group)
    truth_rows = np.flatnonzero(np.isin(sim.truth_units, seen))
    truth_times = sim.truth_times_s[truth_rows]
    times = d.times_s[spikes]
    true_index = np.full(len(spikes), -1, dtype=np.int64)
    if len(truth_times):
        right = np.clip(np.searchsorted(truth_times, times), 1, len(truth_times) - 1)
        left = right - 1
        nearest = np.where(np.abs(truth_times[left] - times) <= np.abs(truth_times[right] - times),
                           left, right)
        close = np.abs(truth_times[nearest] - times) <= TOLERANCE_S
        # One to one: where two detections claim one true spike, the nearer keeps it.
        gap = np.where(close, np.abs(truth_times[nearest] - times), np.inf)
        order = np.argsort(gap, kind="stable")
        taken = np.zeros(len(truth_times), dtype=bool)
        for row in order[np.isfinite(gap[order])]:
            if not taken[nearest[row]]:
                taken[nearest[row]] = True
                true_index[row] = truth_rows[nearest[row]]
    true_unit = np.where(true_index >= 0, sim.truth_units[np.maximum(true_index, 0)], -1)
    return GroupTruth(group, seen, spikes, true_unit, true_index)


def draw_labels(truth: GroupTruth, per_unit: int, rng: np.random.Generator
                ) -> NDArray[np.int64]:
    """Rows of ``truth.spikes`` a person labels: ``per_unit`` detected spikes of each unit seen
    in the group (all of a unit with fewer); units with fewer than 2 detections are left out."""
    rows = []
    for unit in truth.units:
        mine = np.flatnonzero(truth.true_unit == unit)
        if len(mine) >= 2:
            rows.append(rng.choice(mine, min(per_unit, len(mine)), replace=False))
    return np.sort(np.concatenate(rows)) if rows else np.zeros(0, np.int64)


def draw_noise(truth: GroupTruth, count: int, rng: np.random.Generator) -> NDArray[np.int64]:
    """Rows of ``truth.spikes`` a person labels as noise (key 0): ``count`` detections that are
    no spike of a unit seen in the group (far-away neurons, threshold crossings of the noise)."""
    mine = np.flatnonzero(truth.true_unit < 0)
    if count <= 0 or len(mine) < 2:
        return np.zeros(0, np.int64)
    return np.sort(rng.choice(mine, min(count, len(mine)), replace=False))


def label_session(session: Session, truths: list[GroupTruth], labelled: list[NDArray],
                  noise: list[NDArray] | None = None) -> None:
    """Label the drawn spikes as a person would (one undo step per unit, source HUMAN), and the
    drawn noise as the group's noise unit (what key 0 does in the window)."""
    from spikeapp.session import commands as cmd

    history = History(session)
    for index, (truth, rows) in enumerate(zip(truths, labelled)):
        for unit in np.unique(truth.true_unit[rows]):
            spikes = truth.spikes[rows[truth.true_unit[rows] == unit]]
            history.do(cmd.label_new_unit(session, spikes, name=f"u{unit}"))
        if noise is not None and len(noise[index]):
            history.do(cmd.label_new_unit(session, truth.spikes[noise[index]], name="noise",
                                          quality="noise"))


def sort_session(session: Session, training: dict, network: dict) -> float:
    """Train and predict every group with labels of two units or more, as ``spikeapp sort``
    does; the seconds spent."""
    from spikeapp.workflow.sorting import (
        output_change,
        snapshot_training,
        train_and_predict,
        trainable_groups,
    )

    started = time.perf_counter()
    history = History(session)
    for group in trainable_groups(session):
        output = run_job(train_and_predict(snapshot_training(session, group), network, training,
                                           training.get("min_confidence", 0.0)))
        history.do(output_change(session, output))
    return time.perf_counter() - started


def network_accuracy(session: Session, truths: list[GroupTruth], labelled: list[NDArray]
                     ) -> tuple[float, int]:
    """Share of the detected true spikes nobody labelled whose unit is their true unit."""
    right = total = 0
    for truth, rows in zip(truths, labelled):
        keep = truth.true_unit >= 0
        keep[rows] = False
        names = {u.id: u.name for u in session.units.values() if u.group == truth.group}
        assigned = session.assignment[truth.spikes[keep]]
        predicted = np.array([names.get(int(a), "") for a in assigned])
        right += int((predicted == np.array([f"u{u}" for u in truth.true_unit[keep]])).sum())
        total += int(keep.sum())
    return right / max(1, total), total


def _flat(waveforms: NDArray) -> NDArray:
    return np.asarray(waveforms, dtype=np.float64).reshape(len(waveforms), -1)


def lda_accuracies(session: Session, truths: list[GroupTruth], labelled: list[NDArray],
                   noise: list[NDArray] | None = None) -> tuple[float, float, float]:
    """Shrinkage LDA with the same labels (noise labels too, as a class of their own) on the same
    waveforms and spikes; the same self-trained on the group's other detections, as the
    network's teacher is (``lda+self``); and the ceiling: shrinkage LDA on every detected true
    spike, 5-fold cross-validated."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    from spikeapp.training.teacher import lda_pseudo_labels, shrinkage_lda

    right = total = ceil_right = ceil_total = self_right = 0
    d = session.detection
    for index, (truth, rows) in enumerate(zip(truths, labelled)):
        width = len(d.group_members(truth.group))
        matched = np.flatnonzero(truth.true_unit >= 0)
        if len(np.unique(truth.true_unit[rows])) < 2:
            continue
        x = _flat(np.asarray(d.waveforms[truth.spikes[matched]])[:, :width])
        y = truth.true_unit[matched]
        is_label = np.isin(matched, rows)
        lda = LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto")
        noisy = noise[index] if noise is not None else np.zeros(0, np.int64)
        x_noise = np.asarray(d.waveforms[truth.spikes[noisy]])[:, :width]
        lda.fit(np.concatenate([x[is_label], x_noise.reshape(len(noisy), x.shape[1])]),
                np.concatenate([y[is_label], np.full(len(noisy), -1)]))
        right += int((lda.predict(x[~is_label]) == y[~is_label]).sum())
        total += int((~is_label).sum())
        taught_x = np.concatenate([x[is_label], x_noise.reshape(len(noisy), x.shape[1])])
        taught_y = np.concatenate([y[is_label], np.full(len(noisy), -1)])
        others = np.setdiff1d(np.arange(len(truth.spikes)), np.concatenate([rows, noisy]))
        pool = _flat(np.asarray(d.waveforms[truth.spikes[others]])[:, :width])
        picked, classes = lda_pseudo_labels(taught_x, taught_y, pool, 1000, 0.9)
        alone = shrinkage_lda(np.concatenate([taught_x, pool[picked]]),
                              np.concatenate([taught_y, classes]))
        self_right += int((alone.predict(x[~is_label]) == y[~is_label]).sum())
        counts = np.bincount(y)
        ok = np.isin(y, np.flatnonzero(counts >= 5))
        if len(np.unique(y[ok])) >= 2:
            folds = StratifiedKFold(5, shuffle=True, random_state=0)
            guess = cross_val_predict(LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto"),
                                      x[ok], y[ok], cv=folds)
            # Counted on the spikes the network is scored on (the unlabelled ones).
            scored = ~is_label[ok]
            ceil_right += int((guess[scored] == y[ok][scored]).sum())
            ceil_total += int(scored.sum())
    return right / max(1, total), self_right / max(1, total), ceil_right / max(1, ceil_total)


def label_curve(session: Session, truths: list[GroupTruth], budgets: list[int], seed: int
                ) -> dict[int, tuple[float, float]]:
    """What more labels would give: per budget of labels per unit (drawn at random, as the
    hand labels are), shrinkage LDA on the labels alone and the app's LDA teacher (self-trained
    on the unlabelled detections), scored on the detected true spikes nobody labelled."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    from spikeapp.training.teacher import lda_pseudo_labels

    d = session.detection
    curve = {}
    for budget in budgets:
        rng = np.random.default_rng([seed, budget, 7])
        right = [0, 0]
        total = 0
        for truth in truths:
            rows = draw_labels(truth, budget, rng)
            if len(np.unique(truth.true_unit[rows])) < 2:
                continue
            width = len(d.group_members(truth.group))
            x = _flat(np.asarray(d.waveforms[truth.spikes])[:, :width])
            y = truth.true_unit
            scored = y >= 0
            scored[rows] = False
            rest = np.flatnonzero(~np.isin(np.arange(len(x)), rows))
            plain = LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto").fit(x[rows],
                                                                                   y[rows])
            picked, classes = lda_pseudo_labels(x[rows], y[rows], x[rest], 1000, 0.9)
            taught = LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto").fit(
                np.concatenate([x[rows], x[rest][picked]]), np.concatenate([y[rows], classes]))
            for i, model in enumerate((plain, taught)):
                right[i] += int((model.predict(x[scored]) == y[scored]).sum())
            total += int(scored.sum())
        curve[budget] = (right[0] / max(1, total), right[1] / max(1, total))
    return curve


def end_to_end(sim: Simulated, session: Session, truths: list[GroupTruth],
               labelled: list[NDArray]) -> list[float]:
    """Per true unit, in the group of its best channel: tp / (tp + fn + fp) within 0.4 ms, the
    labelled spikes left out of both the truth and the sorting."""
    from spikeapp.workflow.sorting import accuracy_against_truth

    d = session.detection
    home = {}
    for truth in truths:
        for unit in truth.units:
            members = d.group_members(truth.group)
            if sim.best_channel[unit] in members:
                home[int(unit)] = truth
    excluded = np.concatenate([truth.true_index[rows] for truth, rows in zip(truths, labelled)])
    scores = []
    for unit in range(len(sim.case.units)):
        truth = home.get(unit)
        if truth is None:
            scores.append(0.0)
            continue
        rows = np.flatnonzero(sim.truth_units == unit)
        rows = rows[~np.isin(rows, excluded)]
        channel = int(d.group_members(truth.group)[0])
        result = accuracy_against_truth(session, sim.truth_times_s[rows],
                                        np.full(len(rows), channel), np.full(len(rows), f"u{unit}"),
                                        TOLERANCE_S)
        scores.append(float(result[f"u{unit}"].accuracy))
    return scores


def _recover(sim: Simulated, recording: ArrayRecording, session: Session,
             truths: list[GroupTruth], labelled: list[NDArray], result: CaseResult,
             min_score: float) -> None:
    """Template matching after the first training seed's sort: recall and end to end again."""
    from spikeapp.workflow.recovery import find_missed, with_found_spikes

    found = run_job(find_missed(session, recording, min_score))
    grown, rows = with_found_spikes(session, found)
    d = grown.detection
    again = [match_group(sim, grown, int(g), d.group_members(int(g))) for g in d.group_ids]
    result.recovered = int(len(rows))
    true_found = sum(int(((t.true_unit >= 0) & np.isin(t.spikes, rows)).sum()) for t in again)
    result.recovered_true = true_found / max(1, len(rows))
    result.recall_recovered = _recall(sim, again)
    result.e2e_recovered = float(np.mean(end_to_end(sim, grown, truths, labelled)))


def _recall(sim: Simulated, truths: list[GroupTruth]) -> list[float]:
    """Per unit: true spikes with a detection in a group where the unit is seen."""
    recall = []
    for unit in range(len(sim.case.units)):
        found = set()
        for t in truths:
            if unit in t.units:
                found |= set(t.true_index[t.true_unit == unit].tolist())
        recall.append(len(found) / max(1, int((sim.truth_units == unit).sum())))
    return recall


def run_case(sim: Simulated, labels_per_unit: int, train_seeds: int, training: dict,
             network: dict, peers: list[str], recover: float = 0.0,
             noise_labels: int = 0, curve: list[int] | None = None) -> CaseResult:
    case = sim.case
    recording = ArrayRecording(sim.data, case.fs, path=f"<{case.name}>")
    groups = [list(g) for g in case.groups] if case.groups and case.kind == "probe" else (
        [list(case.groups[0])] if case.groups else None)
    detection = run_job(detect(recording, {}, groups))
    base = Session(detection)
    truths = [match_group(sim, base, int(g), detection.group_members(int(g)))
              for g in detection.group_ids]
    rng = np.random.default_rng([sim.seed, labels_per_unit])
    labelled = [draw_labels(t, labels_per_unit, rng) for t in truths]
    # Drawn after the unit labels, so the unit labels are the same with and without noise ones.
    noise = [draw_noise(t, noise_labels, rng) for t in truths] if noise_labels else None
    recall = _recall(sim, truths)
    detected = sum(int((t.true_unit >= 0).sum()) for t in truths)
    precision = detected / max(1, sum(len(t.spikes) for t in truths))
    result = CaseResult(case.name, case.kind, sim.seed, len(case.units),
                        [float(s) for s in sim.snr], recall, precision)
    result.lda, result.lda_self, result.ceiling = lda_accuracies(base, truths, labelled, noise)
    if curve:
        result.curve = label_curve(base, truths, curve, sim.seed)
    for train_seed in range(train_seeds):
        session = Session(detection)
        label_session(session, truths, labelled, noise)
        seconds = sort_session(session, dict(training, seed=train_seed), network)
        accuracy, result.n_eval = network_accuracy(session, truths, labelled)
        result.network.append(accuracy)
        result.network_train_s.append(seconds)
        if train_seed == 0:
            result.e2e_units = end_to_end(sim, session, truths, labelled)
            result.e2e = float(np.mean(result.e2e_units))
            if recover:
                _recover(sim, recording, session, truths, labelled, result, recover)
    for sorter in peers:
        result.peers[sorter] = run_peer(sim, sorter)
    return result


def run_peer(sim: Simulated, sorter: str) -> float:
    """Mean SpikeInterface accuracy of one of SpikeInterface's own sorters (NaN if it fails)."""
    import tempfile

    try:
        import spikeinterface.comparison as sc
        import spikeinterface.core as si
        from spikeinterface.sorters import run_sorter

        recording = si.NumpyRecording(sim.data, sim.case.fs)
        recording.set_dummy_probe_from_locations(np.asarray(sim.case.sites))
        truth = si.NumpySorting.from_samples_and_labels(
            [np.round(sim.truth_times_s * sim.case.fs).astype(np.int64)], [sim.truth_units],
            sim.case.fs)
        with tempfile.TemporaryDirectory() as folder:
            # The sorters run on a saved binary copy (they may start worker processes).
            recording = recording.save(folder=Path(folder) / "recording", verbose=False)
            sorting = run_sorter(sorter, recording, folder=Path(folder) / "out",
                                 remove_existing_folder=True, verbose=False)
            comparison = sc.compare_sorter_to_ground_truth(truth, sorting,
                                                           delta_time=TOLERANCE_S * 1000)
            return float(comparison.get_performance()["accuracy"].mean())
    except Exception as error:  # noqa: BLE001 - a peer failing must not stop the suite
        logging.getLogger(__name__).warning("%s failed on %s: %s", sorter, sim.case.name, error)
        return float("nan")


def table(results: list[CaseResult]) -> str:
    """Per case, mean over the seeds run."""
    head = (f"{'case':<30} {'units':>5} {'recall min/mean':>15} {'prec':>5} {'network':>7} "
            f"{'spread':>6} {'lda':>6} {'lda+self':>8} {'ceiling':>7} {'e2e':>6} {'train s':>7}")
    lines = [head]
    for name in dict.fromkeys(r.case for r in results):
        rows = [r for r in results if r.case == name]
        recall = np.array([r.recall for r in rows])
        spread = max(max(r.network) - min(r.network) for r in rows)
        peers = {k: np.nanmean([r.peers.get(k, np.nan) for r in rows])
                 for k in rows[0].peers}
        line = (f"{name[:30]:<30} {rows[0].n_units:>5} {recall.min():>7.2f}/{recall.mean():<7.3f}"
                f" {np.mean([r.precision for r in rows]):>5.2f}"
                f" {100 * np.mean([np.mean(r.network) for r in rows]):>7.2f}"
                f" {100 * spread:>6.2f} {100 * np.mean([r.lda for r in rows]):>6.2f}"
                f" {100 * np.mean([r.lda_self for r in rows]):>8.2f}"
                f" {100 * np.mean([r.ceiling for r in rows]):>7.2f}"
                f" {np.mean([r.e2e for r in rows]):>6.3f}"
                f" {np.mean([np.mean(r.network_train_s) for r in rows]):>7.1f}")
        line += "".join(f" {k} {v:.3f}" for k, v in peers.items())
        if rows[0].recall_recovered:
            again = np.array([r.recall_recovered for r in rows])
            line += (f" | recover: recall {again.min():.2f}/{again.mean():.3f} found "
                     f"{np.mean([r.recovered for r in rows]):.0f} "
                     f"({100 * np.mean([r.recovered_true for r in rows]):.0f} % true) e2e "
                     f"{np.mean([r.e2e_recovered for r in rows]):.3f}")
        lines.append(line)
    return "\n".join(lines)


def summary(results: list[CaseResult]) -> str:
    """One line: how many cases the network lost to LDA (draws), the gap to the ceiling, the
    worst seed spread, end to end on multichannel cases, recall of units at SNR >= 3."""
    cases = list(dict.fromkeys(r.case for r in results))
    below = sum(np.mean(r.network) < r.lda_self for r in results)
    gap = np.mean([r.ceiling - np.mean(r.network) for r in results])
    multi = [r.e2e for r in results if r.kind in ("tetrode", "probe")]
    spread = max(max(r.network) - min(r.network) for r in results)
    low_recall = sum(rec < 0.9 for r in results for rec, s in zip(r.recall, r.snr) if s >= 3)
    return (f"summary: {len(cases)} cases x {len(results) // max(1, len(cases))} seeds; network "
            f"{100 * np.mean([np.mean(r.network) for r in results]):.2f} %, lda "
            f"{100 * np.mean([r.lda for r in results]):.2f} %, lda+self "
            f"{100 * np.mean([r.lda_self for r in results]):.2f} %, ceiling "
            f"{100 * np.mean([r.ceiling for r in results]):.2f} %; network below lda+self on "
            f"{below}/{len(results)} recordings; mean gap to ceiling {100 * gap:.2f} points; "
            f"worst training-seed spread {100 * spread:.2f} points; multichannel e2e "
            f"{np.mean(multi) if multi else float('nan'):.3f}; units SNR>=3 with recall<0.9: "
            f"{low_recall}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", help="comma-separated case names (default: all)")
    parser.add_argument("--tuning", action="store_true",
                        help="run the tuning seeds (for choosing constants), not the reporting ones")
    parser.add_argument("--seeds", help="override the recording seeds (comma-separated)")
    parser.add_argument("--labels", type=int, default=20, help="hand labels per unit")
    parser.add_argument("--train-seeds", type=int, default=5, help="training seeds per recording")
    parser.add_argument("--quick", action="store_true",
                        help="one reporting seed and one training seed per case")
    parser.add_argument("--peers", default="",
                        help="SpikeInterface sorters to run too, e.g. spykingcircus2,tridesclous2")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a training or network parameter, e.g. --set whiten=false")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    parser.add_argument("--recover", type=float, default=0.0, metavar="Z",
                        help="after the first training seed, template matching at this score "
                             "(spikeapp sort --recover); recall and e2e again")
    parser.add_argument("--noise-labels", type=int, default=0, metavar="N",
                        help="the person also labels N detections per group that are no unit's "
                             "spike as noise (key 0), as a noise unit the network learns")
    parser.add_argument("--label-curve", default="", metavar="N,N,...",
                        help="also LDA and the LDA teacher with these many labels per unit "
                             "(what more labels would give), e.g. 10,20,50,100")
    parser.add_argument("--json", help="write every record here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("TQDM_DISABLE", "1")
    from spikeapp import params as table_params

    training = {"threads": args.threads or len(os.sched_getaffinity(0))}
    network = {}
    for item in args.set:
        name, _, value = item.partition("=")
        group = table_params.param(name).group
        (training if group == "training" else network)[name] = table_params.param(name).validate(
            value)
    seeds = (TUNING_SEEDS if args.tuning else REPORTING_SEEDS)
    if args.seeds:
        seeds = tuple(int(s) for s in args.seeds.split(","))
    train_seeds = args.train_seeds
    if args.quick:
        seeds, train_seeds = seeds[:1], 1
    cases = suite_cases(seeds[0])   # the names; each seed draws its own neurons
    if args.cases:
        wanted = args.cases.split(",")
        cases = [c for c in cases if any(w in c.name for w in wanted)]
    drawn = {seed: {c.name: c for c in suite_cases(seed)} for seed in seeds}
    peers = [p for p in args.peers.split(",") if p]
    results = []
    for case in cases:
        for seed in seeds:
            started = time.perf_counter()
            result = run_case(simulate(drawn[seed][case.name], seed), args.labels, train_seeds,
                              training, network, peers, args.recover, args.noise_labels,
                              [int(b) for b in args.label_curve.split(",") if b])
            results.append(result)
            print(f"{case.name} seed {seed}: network "
                  f"{' '.join(f'{100 * a:.2f}' for a in result.network)} lda {100 * result.lda:.2f}"
                  f" ceiling {100 * result.ceiling:.2f} e2e {result.e2e:.3f} recall "
                  f"{' '.join(f'{r:.2f}' for r in result.recall)} "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)
            if result.curve:
                print("  labels per unit -> lda / lda teacher: " + ", ".join(
                    f"{b}: {100 * a:.1f} / {100 * t:.1f}" for b, (a, t) in result.curve.items()),
                    flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({
            "seeds": list(seeds), "tuning": args.tuning, "labels_per_unit": args.labels,
            "training": training, "network": network,
            "results": [r.__dict__ for r in results]}, indent=1))
    print(table(results))
    print(summary(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
