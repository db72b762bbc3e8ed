"""Reviewing what a network proposes, without Qt: the label-next queue over a group's spikes,
and the preview of a retrain (which spikes would move between which units, and what that does
to each unit's refractory-period violations)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from spikeapp.metrics.units import isi_violations_pct
from spikeapp.session.state import LABELLED, UNASSIGNED, UNRESOLVED, Session, among
from spikeapp.tasks import CancelToken, Job, Progress
from spikeapp.training.active import rank_queue
from spikeapp.workflow.sorting import TrainingOutput


def label_next(session: Session, output: TrainingOutput, size: int = 20, explain: bool = False
               ) -> NDArray[np.int64] | tuple[NDArray[np.int64], int]:
    """Spike indexes a person should label next, the most useful first: the typical spike of
    each cluster no label covers, then where the network was least sure between two units,
    spread over the feature space and the recording's time. With ``explain``, also how many of
    them (the first ones) typify clusters no label covers."""
    spikes, uncovered = _rank(session, output, ~among(session.source[output.spikes], LABELLED),
                              size)
    return (spikes, uncovered) if explain else spikes


def first_question(session: Session, output: TrainingOutput) -> int | None:
    """The unlabelled spike the network was least sure of (the smallest margin between its two
    most probable units): asked at once while the clustering behind the full queue runs. None
    when every spike is labelled or there are no probabilities."""
    if output.probabilities is None or not len(output.spikes):
        return None
    closed = among(session.source[output.spikes], LABELLED)
    if closed.all():
        return None
    p = output.probabilities
    if p.shape[1] < 2:
        return int(output.spikes[np.argmin(closed)])
    # The two largest per row, a column at a time: units are few, spikes a million (a
    # partition along rows took 0.3 s there, on the GUI thread).
    first = np.maximum(p[:, 0], p[:, 1])
    second = np.minimum(p[:, 0], p[:, 1])
    for column in range(2, p.shape[1]):
        value = p[:, column]
        second = np.maximum(second, np.minimum(first, value))
        first = np.maximum(first, value)
    margin = first - second
    margin[closed] = np.inf
    return int(output.spikes[np.argmin(margin)])


def label_next_job(session: Session, output: TrainingOutput, size: int = 20
                   ) -> Callable[[CancelToken | None], Job[tuple[NDArray[np.int64], int]]]:
    """:func:`label_next` as a job for a worker thread: which spikes are labelled is copied
    now (the detection never changes), the clustering behind the queue runs in the job."""
    open_ = ~among(session.source[output.spikes], LABELLED)

    def job(cancel: CancelToken | None = None) -> Job[tuple[NDArray[np.int64], int]]:
        yield Progress(0, 1, "choosing the spikes to ask about", "queue")
        if cancel is not None:
            cancel.raise_if_cancelled()
        ranked = _rank(session, output, open_, size)
        if cancel is not None:
            cancel.raise_if_cancelled()
        return ranked

    return job


def _rank(session: Session, output: TrainingOutput, open_: NDArray[np.bool_], size: int
          ) -> tuple[NDArray[np.int64], int]:
    if output.probabilities is None:
        return np.zeros(0, dtype=np.int64), 0
    d = session.detection
    where = np.column_stack([d.features[output.spikes, :2], d.times_s[output.spikes]])
    rows, uncovered = rank_queue(output.probabilities, where, np.flatnonzero(open_), size,
                                 labelled=np.flatnonzero(~open_),
                                 features=d.features[output.spikes, :5], explain=True)
    return output.spikes[rows], uncovered


def candidate_units(output: TrainingOutput, spike: int) -> tuple[int, int, float, float]:
    """The two most probable units of one spike of the output, and their probabilities."""
    row = int(np.searchsorted(output.spikes, spike))
    p = output.probabilities[row]
    order = np.argsort(p)[::-1]
    second = order[1] if len(order) > 1 else order[0]
    return (int(output.unit_ids[order[0]]), int(output.unit_ids[second]), float(p[order[0]]),
            float(p[second]))


@dataclass
class Preview:
    moves: list[tuple[int, int, int]]             # (from unit, to unit, spikes), largest first
    violations: dict[int, tuple[float, float]]    # unit -> ISI violations % (now, after)
    counts: dict[int, tuple[int, int]]            # unit -> spikes (now, after)

    @property
    def moved(self) -> int:
        return sum(count for _, _, count in self.moves)


def count_pairs(a: NDArray, b: NDArray) -> dict[tuple[int, int], int]:
    """How often each (a, b) pair occurs. Unit ids are a few small integers: each pair is one
    code and numpy counts the codes (a Counter over a million Python tuples held the GUI
    thread for seconds, numpy's row-wise unique for 90 ms)."""
    if len(a) == 0:
        return {}
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    low = min(int(a.min()), int(b.min()))
    span = max(int(a.max()), int(b.max())) - low + 1
    codes = (a - low) * span + (b - low)
    if span * span <= 1 << 22:
        tally = np.bincount(codes, minlength=span * span)
        present = np.flatnonzero(tally)
        counts = tally[present]
    else:
        present, counts = np.unique(codes, return_counts=True)
    return {(int(c // span + low), int(c % span + low)): int(n)
            for c, n in zip(present, counts)}


def preview(session: Session, output: TrainingOutput) -> Preview:
    """What applying ``output`` would change (labelled spikes never move)."""
    open_ = ~among(session.source[output.spikes], LABELLED)
    spikes = output.spikes[open_]
    now = session.assignment[spikes]
    after = output.assigned[open_]
    changed = now != after
    moves = count_pairs(now[changed], after[changed])
    proposed = session.assignment.copy()
    proposed[spikes] = after
    units = {u for pair in moves for u in pair if u not in (UNASSIGNED, UNRESOLVED)}
    times = session.detection.times_s
    violations, counts = {}, {}
    for unit in sorted(units):
        before_members = session.assignment == unit
        after_members = proposed == unit
        violations[unit] = (isi_violations_pct(times[before_members]),
                            isi_violations_pct(times[after_members]))
        counts[unit] = (int(before_members.sum()), int(after_members.sum()))
    ordered = sorted(((a, b, n) for (a, b), n in moves.items()), key=lambda m: -m[2])
    return Preview(ordered, violations, counts)


def unit_label(session: Session, unit: int) -> str:
    if unit == UNASSIGNED:
        return "(unassigned)"
    if unit == UNRESOLVED:
        return "(unresolved)"
    return session.units[unit].name if unit in session.units else f"unit {unit}"
