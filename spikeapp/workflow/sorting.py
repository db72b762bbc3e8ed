"""The sorting workflow shared by the CLI and the GUI: seed labels in, a network trained per
channel or group, predictions applied as undoable changes."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import NDArray

from spikeapp.detection.peeler import gap_to_nearest
from spikeapp.errors import NotYet, SpikeappError
from spikeapp.io.seeds import Seeds
from spikeapp.session import HUMAN, UNRESOLVED, Session
from spikeapp.session import commands as cmd
from spikeapp.session.state import LABELLED, among
from spikeapp.tasks import CancelToken, Job, Progress

log = logging.getLogger(__name__)

SEED_TOLERANCE_S = 0.001


@dataclass
class SeedReport:
    matched: int = 0
    unmatched: list[tuple[float, int, str]] = field(default_factory=list)
    groups: list[int] = field(default_factory=list)


def group_of_channel(session: Session, channel: int) -> int | None:
    """The channel group holding ``channel`` (the channel itself when sorted alone)."""
    d = session.detection
    for group, members in zip(d.group_ids, d.group_channels):
        if channel in members[members >= 0]:
            return int(group)
    return None


def match_seeds(session: Session, seeds: Seeds, tolerance_s: float = SEED_TOLERANCE_S
                ) -> tuple[NDArray[np.int64], SeedReport]:
    """For each seed, the nearest detected spike of its channel (group) within the tolerance,
    or -1 (vectorised per group: imports of whole sortings go through here too)."""
    d = session.detection
    found = np.full(len(seeds.times_s), -1, dtype=np.int64)
    report = SeedReport()
    seed_channels = np.asarray(seeds.channels, dtype=np.int64)
    seed_times = np.asarray(seeds.times_s, dtype=np.float64)
    for channel in np.unique(seed_channels):
        rows = np.flatnonzero(seed_channels == channel)
        group = group_of_channel(session, int(channel))
        spikes = session.spikes_of_group(group) if group is not None else np.zeros(0, np.int64)
        if len(spikes) == 0:
            continue
        times = d.times_s[spikes]                       # in time order
        right = np.clip(np.searchsorted(times, seed_times[rows]), 1, max(1, len(times) - 1))
        left = right - 1
        if len(times) == 1:
            right = left = np.zeros(len(rows), np.int64)
        nearest = np.where(np.abs(times[left] - seed_times[rows])
                           <= np.abs(times[right] - seed_times[rows]), left, right)
        close = np.abs(times[nearest] - seed_times[rows]) <= tolerance_s
        found[rows[close]] = spikes[nearest[close]]
    for row in np.flatnonzero(found < 0):
        report.unmatched.append((float(seed_times[row]), int(seed_channels[row]),
                                 str(seeds.units[row])))
    report.matched = int((found >= 0).sum())
    return found, report


def seeds_change(session: Session, seeds: Seeds, source: int = HUMAN,
                 description: str | None = None, qualities: dict[str, str] | None = None
                 ) -> tuple[cmd.Change | None, SeedReport]:
    """The one undoable change that labels the spikes the seeds point at, creating units by
    name per group (None when no seed matched). ``source`` IMPORTED marks labels that come from
    another sorting; ``qualities`` gives new units their quality by name. The session is left
    as it was: the caller applies the change (through a history or a Workspace)."""
    spikes, report = match_seeds(session, seeds)
    units = np.asarray(seeds.units)

    def label_as(name: str, members: NDArray[np.int64], group: int):
        def make(s: Session) -> cmd.Change:
            unit = s.unit_by_name(group, name)
            if unit is not None:
                return cmd.label(s, members, unit.id, source)
            quality = (qualities or {}).get(name) or ("noise" if name == "noise" else "unsorted")
            return cmd.label_new_unit(s, members, name=name, quality=quality, source=source)
        return make

    makers = []
    for name in np.unique(units):
        rows = np.nonzero((units == name) & (spikes >= 0))[0]
        by_group: dict[int, list[int]] = {}
        for row in rows:
            by_group.setdefault(int(session.detection.channels[spikes[row]]), []).append(row)
        makers += [label_as(str(name), spikes[members], group)
                   for group, members in by_group.items()]
    changes = cmd.in_sequence(session, makers)
    report.groups = sorted({int(session.detection.channels[s]) for s in spikes[spikes >= 0]})
    if not changes:
        return None, report
    return cmd.combine(description or f"{report.matched} seed label(s)", changes), report


def apply_seeds(session: Session, history: cmd.History, seeds: Seeds, source: int = HUMAN,
                description: str | None = None, qualities: dict[str, str] | None = None
                ) -> SeedReport:
    """:func:`seeds_change` applied through ``history`` (one undo step)."""
    change, report = seeds_change(session, seeds, source, description, qualities)
    if change is not None:
        history.do(change)
    return report


def trainable_groups(session: Session) -> list[int]:
    """Groups with human labels of at least two units."""
    groups = []
    for group in session.groups:
        _, units = session.human_labels(int(group))
        if len(np.unique(units)) >= 2:
            groups.append(int(group))
    return groups


@dataclass(frozen=True)
class TrainingInput:
    """A frozen snapshot of what training one group needs: the labels copied, so the user may
    go on editing while a background job trains. The waveforms are read from the detection
    (which never changes) when the job first needs them, on the job's thread: at a million
    spikes that copy is 256 MB, too long for the GUI thread."""

    group: int
    classes: NDArray[np.int64]
    unit_ids: NDArray[np.int64]
    spikes: NDArray[np.int64]
    human: NDArray[np.bool_]
    position: NDArray[np.int64]           # the labelled spikes' rows among ``spikes``
    width: int                            # channels of the group
    source: Any = field(repr=False, compare=False)   # the detection's waveforms

    @cached_property
    def waveforms(self) -> NDArray[np.float32]:
        return np.array(self.source[cmd.as_span(self.spikes, ordered=True)][:, :self.width],
                        dtype=np.float32)

    @property
    def labelled(self) -> NDArray[np.float32]:
        return self.waveforms[self.position]

    def __getstate__(self) -> dict:
        """Sent to another process with its group's waveforms only, not the detection's."""
        state = dict(self.__dict__)
        state["waveforms"] = self.waveforms
        state["source"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)


@dataclass
class TrainingOutput:
    group: int
    trained: Any
    network: bytes
    spikes: NDArray[np.int64]
    assigned: NDArray[np.int64]
    confidence: NDArray[np.float32]
    probabilities: NDArray[np.float32] | None = None   # spikes x units (columns: unit_ids)
    unit_ids: NDArray[np.int64] | None = None
    candidates: list[NDArray[np.int64]] = field(default_factory=list)  # proposed new units

    # ``spikes`` as a slice when they are one run (a channel's whole recording): found where the
    # output is made (a job's thread), so the apply on the GUI thread need not read them all.
    where: NDArray[np.int64] | slice = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.where = cmd.as_span(self.spikes)


def snapshot_training(session: Session, group: int) -> TrainingInput:
    """Copy the human labels of one group (its waveforms are read when the job needs them)."""
    spikes = session.spikes_of_group(group)
    human = session.taught(group)
    position = np.flatnonzero(human)
    units = session.assignment[spikes[position]]
    unit_ids = np.unique(units)
    if len(unit_ids) < 2:
        raise NotYet(f"channel {group}: label spikes of at least two units before "
                     "training")
    width = len(session.detection.group_members(group))
    return TrainingInput(group, np.searchsorted(unit_ids, units), unit_ids, spikes, human,
                         position, width, session.detection.waveforms)


FEW_LABELS = 3   # a unit with fewer hand labels than this is learnt from almost nothing


def few_labels_note(data: TrainingInput, names: dict[int, str]) -> str:
    """What to tell before training when a unit has fewer than FEW_LABELS hand labels (a
    newcomer trained a unit of one labelled spike, an artefact's, with only a library's
    warning on the console); "" when every unit has enough. ``names``: unit id -> name."""
    counts = np.bincount(data.classes, minlength=len(data.unit_ids))
    few = [(names.get(int(u), str(u)), int(n)) for u, n in zip(data.unit_ids, counts)
           if n < FEW_LABELS]
    if not few:
        return ""
    listed = ", ".join(f"'{name}' has {n} hand label{'s' if n != 1 else ''}" for name, n in few)
    return (f"channel {data.group}: {listed}: the sort learns {'it' if len(few) == 1 else 'them'} "
            f"from almost nothing; label {FEW_LABELS + 2} or more spikes per unit for a sort "
            "you can trust")


def train_and_predict(data: TrainingInput, network: dict[str, Any] | None = None,
                      training: dict[str, Any] | None = None, min_confidence: float = 0.0,
                      cancel: CancelToken | None = None) -> Job[TrainingOutput]:
    """Train on the snapshot's labels (self-training on the rest), then predict every spike."""
    from spikeapp.training.checkpoint import checkpoint_bytes
    from spikeapp.training.trainer import train_classifier

    trained = yield from train_classifier(
        data.labelled, data.classes, [str(u) for u in data.unit_ids], network=network,
        training=training, unlabelled=data.waveforms[~data.human], cancel=cancel)
    return (yield from predict_output(trained, checkpoint_bytes(trained), data, min_confidence,
                                      cancel))


def predict_with(network: bytes, data: TrainingInput, min_confidence: float = 0.0,
                 cancel: CancelToken | None = None) -> Job[TrainingOutput]:
    """The output of a network kept with the session (no training): after reopening a session,
    the label-next queue, the retrain preview and candidate units need it."""
    from spikeapp.training.checkpoint import load_checkpoint

    trained = load_checkpoint(network, name=f"channel {data.group}")
    names = [str(u) for u in data.unit_ids]
    if list(trained.class_names) != names:
        raise SpikeappError(f"channel {data.group}: its network was trained on units "
                            f"{list(trained.class_names)}, the labels now name {names}; train "
                            "again")
    return (yield from predict_output(trained, network, data, min_confidence, cancel))


PREDICT_CHUNK = 50_000  # spikes predicted between two checks of cancel


def predict_output(trained: Any, network: bytes, data: TrainingInput, min_confidence: float,
                   cancel: CancelToken | None = None) -> Job[TrainingOutput]:
    """Predict every spike of the snapshot in chunks, then look for candidate new units; a
    cancel stops it between chunks and before the candidate search."""
    from spikeapp.training.novelty import candidate_units

    n = len(data.spikes)
    parts = []
    for start in range(0, max(n, 1), PREDICT_CHUNK):
        if cancel is not None:
            cancel.raise_if_cancelled()
        yield Progress(start, max(n, 1), f"predicting {n} spikes", "predict")
        parts.append(trained.predict(data.waveforms[start:start + PREDICT_CHUNK],
                                     min_confidence))
    labels = np.concatenate([p.labels for p in parts])
    confidence = np.concatenate([p.confidence for p in parts])
    probabilities = np.concatenate([p.probabilities for p in parts])
    if cancel is not None:
        cancel.raise_if_cancelled()
    yield Progress(n, max(n, 1), "looking for candidate new units", "predict")
    assigned = np.where(labels >= 0, data.unit_ids[np.maximum(labels, 0)], UNRESOLVED)
    # The labelled rows in spike order, which is the order of data.classes.
    found = candidate_units(trained, data.waveforms, np.flatnonzero(data.human), data.classes,
                            cancel=cancel)
    if cancel is not None:
        cancel.raise_if_cancelled()
    return TrainingOutput(data.group, trained, network, data.spikes, assigned, confidence,
                          probabilities, data.unit_ids, [data.spikes[c.rows] for c in found])


def output_change(session: Session, output: TrainingOutput, units: set[int] | None = None
                  ) -> cmd.Change:
    """The undoable change applying a training output (human labels are never overwritten).
    ``units``: apply only the predictions into these units (the rest keep their unit)."""
    if units is None:
        return cmd.apply_predictions(session, output.group, output.spikes, output.assigned,
                                     output.confidence, output.network, output.unit_ids,
                                     where=output.where)
    keep = np.isin(output.assigned, list(units))
    return cmd.apply_predictions(session, output.group, output.spikes[keep],
                                 output.assigned[keep], output.confidence[keep], output.network)


@dataclass(frozen=True)
class TruthScore:
    """One true unit against the sorted unit of its name, on the spikes nobody labelled:
    SpikeInterface's accuracy tp / (tp + fn + fp). ``labelled``: true spikes left out because a
    person labelled a spike there (what the network learnt from is not its result)."""

    accuracy: float
    tp: int
    fn: int
    fp: int
    labelled: int


def accuracy_against_truth(session: Session, truth_times: NDArray, truth_channels: NDArray,
                           truth_units: NDArray, tolerance_s: float = 0.0004
                           ) -> dict[str, TruthScore]:
    """Per true unit, the sorted unit of the same name in its channel's group, spikes matched
    in time within ``tolerance_s``; labelled spikes, and the true spikes they fall on, are left
    out of both sides and counted apart."""
    d = session.detection
    scores = {}
    labelled_spike = among(session.source, LABELLED)
    for name in np.unique(truth_units):
        rows = truth_units == name
        channel = int(truth_channels[rows][0])
        group = group_of_channel(session, channel)
        unit = session.unit_by_name(group, str(name)) if group is not None else None
        true_times = np.sort(truth_times[rows])
        taught = (np.sort(d.times_s[labelled_spike & (d.channels == group)])
                  if group is not None else np.zeros(0))
        near_label = gap_to_nearest(true_times, taught) <= tolerance_s
        kept_truth = true_times[~near_label]
        sorted_times = (np.sort(d.times_s[(session.assignment == unit.id) & ~labelled_spike])
                        if unit is not None else np.zeros(0))
        tp = _count_matches(kept_truth, sorted_times, tolerance_s)
        fn = len(kept_truth) - tp
        fp = len(sorted_times) - tp
        scores[str(name)] = TruthScore(tp / max(1, tp + fn + fp), tp, fn, fp,
                                       int(near_label.sum()))
    return scores


def _count_matches(a: NDArray, b: NDArray, tolerance: float) -> int:
    """Greedy one-to-one matching of two sorted time lists within ``tolerance``."""
    i = j = matched = 0
    while i < len(a) and j < len(b):
        if abs(a[i] - b[j]) <= tolerance:
            matched += 1
            i += 1
            j += 1
        elif a[i] < b[j]:
            i += 1
        else:
            j += 1
    return matched


def human_label_count(session: Session, unit_id: int) -> int:
    return int(((session.assignment == unit_id) & (session.source == HUMAN)).sum())
