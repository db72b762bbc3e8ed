"""Edits of a session as commands: each validates, then applies completely or not at all, and
returns a :class:`Change` that holds only what changed (before and after), for undo."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from spikeapp.errors import NotYet, SpikeappError
from spikeapp.session.state import (
    ACCEPTED,
    HUMAN,
    LABELLED,
    NETWORK,
    NONE,
    PER_SPIKE,
    QUALITIES,
    UNASSIGNED,
    UNRESOLVED,
    Session,
    Unit,
    among,
    as_span,
    distinct_ids,
)

_FIELDS = PER_SPIKE


PACK_FROM = 1024   # old values of this many spikes or more are kept packed when they allow
# Of 64 values taken evenly, how many must be the same for a pass over all to look for packing:
# where a sixteenth differ, 48 or more agree unless the 64 are very unlucky (P < 1e-7); then
# the values are kept whole, which is only memory.
PROBE_AGREES = 48


@dataclass(frozen=True)
class Mostly:
    """Old values that are one value but at a few positions (before a first training, nearly
    every spike is unassigned, unconfident, assigned by nobody): kept as that value and the
    exceptions, not copied whole (250 MB at ten million spikes, in the undo history and the
    journal)."""

    length: int
    value: Any
    positions: NDArray[np.int64]
    values: NDArray

    @property
    def nbytes(self) -> int:
        return int(self.positions.nbytes + self.values.nbytes)

    def write(self, target: NDArray, where: NDArray[np.int64] | slice) -> None:
        """Put these values at ``where`` of ``target``."""
        target[where] = self.value
        if isinstance(where, slice):
            target[where.start + self.positions] = self.values
        else:
            target[where[self.positions]] = self.values

    def expand(self) -> NDArray:
        whole = np.full(self.length, self.value, dtype=self.values.dtype)
        whole[self.positions] = self.values
        return whole


def packed(values: NDArray, is_copy: bool) -> NDArray | Mostly:
    """``values`` as they are (copied unless ``is_copy``), or packed when all but a sixteenth
    are one value (the most common of 64 taken evenly), or, integers, in the smallest type that
    holds them (unit ids: 16 bits rather than 64)."""
    n = len(values)
    if n >= PACK_FROM:
        probe = values[np.linspace(0, n - 1, 64).astype(np.int64)]
        kinds, counts = np.unique(probe, return_counts=True)
        if counts.max() >= PROBE_AGREES:   # else surely not packable: no pass over all values
            common = kinds[np.argmax(counts)]
            nan = values.dtype.kind == "f" and bool(np.isnan(common))
            differs = ~np.isnan(values) if nan else values != common
            if np.count_nonzero(differs) <= n // 16:
                positions = np.flatnonzero(differs)
                return Mostly(n, common, positions, values[positions])
        narrow = narrowed(values)
        if narrow is not None:
            return narrow
    return values if is_copy else np.array(values)


def narrowed(values: NDArray) -> NDArray | None:
    """A copy of integer ``values`` in a smaller type that holds every one of them, or None.
    The old unit ids of a recolour (the last network's, ten million of them) take 20 MB of the
    undo history rather than 80, and new memory costs more than the copy: a process touching
    pages it never used waits on the system for each (here, 180 ms for 80 MB)."""
    if values.dtype.kind != "i" or values.dtype.itemsize <= 2:
        return None
    low, high = int(values.min()), int(values.max())
    for kind in (np.int8, np.int16):
        limits = np.iinfo(kind)
        if limits.min <= low and high <= limits.max:
            return values.astype(kind)
    return None


@dataclass
class Change:
    """Differences made by one command (or a group of them)."""

    description: str
    spikes: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    before: dict[str, NDArray] = field(default_factory=dict)
    after: dict[str, NDArray] = field(default_factory=dict)
    units_before: dict[int, Unit | None] = field(default_factory=dict)
    units_after: dict[int, Unit | None] = field(default_factory=dict)
    counters_before: tuple[int, int] = (0, 0)
    counters_after: tuple[int, int] = (0, 0)
    networks_before: dict[int, bytes | None] = field(default_factory=dict)
    networks_after: dict[int, bytes | None] = field(default_factory=dict)
    # Which of ``spikes`` the change writes forward (None: all). Set where a run of consecutive
    # spikes is written with a few left alone (the labelled ones, by a prediction): the run
    # stays a slice (copies, not gathers: ten million spikes) and ``before`` holds the run
    # whole, so undo restores it whole.
    only: NDArray[np.bool_] | None = None
    _span: Any = field(default=None, init=False, repr=False, compare=False)
    _skipped: Any = field(default=None, init=False, repr=False, compare=False)

    @property
    def where(self) -> NDArray[np.int64] | slice:
        """``spikes`` as a slice when they are one run (found once: changes never change)."""
        if self._span is None:
            self._span = as_span(self.spikes)
        return self._span

    @property
    def nbytes(self) -> int:
        """Memory its arrays hold (what the undo history keeps)."""
        return int(self.spikes.nbytes) + (0 if self.only is None else self.only.nbytes) + sum(
            v.nbytes if isinstance(v, Mostly) else np.asarray(v).nbytes
            for side in (self.before, self.after) for v in side.values())

    def apply(self, session: Session, forward: bool = True) -> None:
        values = self.after if forward else self.before
        where = self.where
        for name in _FIELDS:
            if name not in values:
                continue
            if forward and self.only is not None:
                # Written whole, the few skipped spikes put back: two copies beat a masked one
                # (which runs element by element).
                if self._skipped is None:
                    self._skipped = self.spikes[~self.only]
                target = getattr(session, name)
                kept = target[self._skipped]
                target[where] = values[name]
                target[self._skipped] = kept
            elif isinstance(values[name], Mostly):
                values[name].write(getattr(session, name), where)
            else:
                getattr(session, name)[where] = values[name]
        for unit_id, unit in (self.units_after if forward else self.units_before).items():
            if unit is None:
                session.units.pop(unit_id, None)
            else:
                session.units[unit_id] = unit
        if self.counters_before != self.counters_after:
            # Only a change that moves the counters sets them: a part of a compound change
            # made before an earlier part was applied holds stale ones (a split's move set
            # the next unit id back, and the next new unit took the split one's id).
            session.next_unit_id, session.network_versions = (
                self.counters_after if forward else self.counters_before)
        for group, blob in (self.networks_after if forward else self.networks_before).items():
            if blob is None:
                session.networks.pop(group, None)
            else:
                session.networks[group] = blob


@dataclass
class DetectionChange(Change):
    """Spikes added to the detection (found by template matching): the detection and every
    per-spike array are swapped whole. Spike indexes differ on either side; the history is
    linear, so a change made before this one is only ever applied on the old detection and a
    change made after it on the new one."""

    detection_before: Any = None
    detection_after: Any = None
    state_before: dict[str, NDArray] = field(default_factory=dict)
    state_after: dict[str, NDArray] = field(default_factory=dict)
    added: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return super().nbytes + sum(v.nbytes for side in (self.state_before, self.state_after)
                                    for v in side.values())

    def apply(self, session: Session, forward: bool = True) -> None:
        session.detection = self.detection_after if forward else self.detection_before
        session.__dict__.pop("_group_cache", None)
        for name, values in (self.state_after if forward else self.state_before).items():
            setattr(session, name, values.copy())
        super().apply(session, forward)


def grow_detection(session: Session, description: str, detection: Any,
                   state: dict[str, NDArray], added: NDArray[np.int64]) -> DetectionChange:
    """The change to ``detection`` (the old spikes and ``added`` ones) with the per-spike
    ``state`` arrays (every name of the session's per-spike state, sized to it)."""
    missing = set(_FIELDS) - set(state)
    if missing or any(len(state[name]) != detection.n_spikes for name in _FIELDS):
        raise SpikeappError("a grown detection needs every per-spike array, sized to it")
    counters = (session.next_unit_id, session.network_versions)
    return DetectionChange(
        description, counters_before=counters, counters_after=counters,
        detection_before=session.detection, detection_after=detection,
        state_before={name: getattr(session, name).copy() for name in _FIELDS},
        state_after={name: np.asarray(state[name]).copy() for name in _FIELDS},
        added=np.asarray(added, dtype=np.int64))


def _spike_change(session: Session, description: str, spikes: NDArray,
                  where: NDArray[np.int64] | slice | None = None, **after: NDArray) -> Change:
    spikes = np.asarray(spikes, dtype=np.int64)
    if "source" in after and "assigned_at" not in after:
        # Provenance: when a person, a network or an import assigned the spike (NaN: nobody).
        after["assigned_at"] = np.where(np.asarray(after["source"]) != NONE, time.time(), np.nan)
    if where is None:
        where = as_span(spikes)
    # A slice is a view, to copy (or pack); an index array's result is a copy already.
    before = {name: packed(getattr(session, name)[where], not isinstance(where, slice))
              for name in after}
    counters = (session.next_unit_id, session.network_versions)
    change = Change(description, spikes, before, {k: np.asarray(v) for k, v in after.items()},
                    counters_before=counters, counters_after=counters)
    change._span = where
    return change


def _check_spikes(session: Session, spikes: NDArray) -> NDArray[np.int64]:
    spikes = np.unique(np.asarray(spikes, dtype=np.int64))
    if len(spikes) == 0:
        raise NotYet("no spikes selected")
    if spikes[0] < 0 or spikes[-1] >= session.n_spikes:
        raise SpikeappError("the selection holds spikes that do not exist")
    return spikes


def _check_unit(session: Session, unit_id: int) -> Unit:
    if unit_id not in session.units:
        raise SpikeappError(f"unit {unit_id} does not exist")
    return session.units[unit_id]


def _check_one_group(session: Session, spikes: NDArray, unit: Unit | None = None) -> int:
    groups = np.unique(session.detection.channels[spikes])
    if len(groups) != 1:
        raise SpikeappError("the selection spans several channels or groups; sorting is per "
                            "channel or group")
    if unit is not None and groups[0] != unit.group:
        raise SpikeappError(f"unit '{unit.name}' belongs to channel {unit.group}, the spikes to "
                            f"channel {groups[0]}")
    return int(groups[0])


def label(session: Session, spikes: NDArray, unit_id: int, source: int = HUMAN) -> Change:
    """A person (or, with ``source`` IMPORTED, another sorting) says these spikes belong to
    ``unit_id``."""
    spikes = _check_spikes(session, spikes)
    unit = _check_unit(session, unit_id)
    _check_one_group(session, spikes, unit)
    n = len(spikes)
    return _spike_change(session, f"label {n} spike(s) as {unit.name}", spikes,
                         assignment=np.full(n, unit_id), source=np.full(n, source, np.int8),
                         confidence=np.ones(n, np.float32), network_version=np.full(n, -1))


def create_unit(session: Session, group: int, name: str | None = None,
                quality: str = "unsorted") -> tuple[Change, int]:
    """A new, empty unit; returns the change and the new unit's id."""
    if group not in session.detection.group_ids:
        raise SpikeappError(f"channel or group {group} has no spikes")
    counters = (session.next_unit_id, session.network_versions)
    unit = session.new_unit(group, name, quality)
    session.units.pop(unit.id)
    session.next_unit_id = counters[0]
    change = Change(f"new unit {unit.name}", units_before={unit.id: None},
                    units_after={unit.id: unit}, counters_before=counters,
                    counters_after=(counters[0] + 1, counters[1]))
    return change, unit.id


def label_new_unit(session: Session, spikes: NDArray, name: str | None = None,
                   quality: str = "unsorted", source: int = HUMAN) -> Change:
    """Label spikes as a new unit (also: split a selection off into its own unit)."""
    spikes = _check_spikes(session, spikes)
    group = _check_one_group(session, spikes)
    created, unit_id = create_unit(session, group, name, quality)
    created.apply(session)
    try:
        labelled = label(session, spikes, unit_id, source)
    finally:
        created.apply(session, forward=False)
    return combine(f"{len(spikes)} spike(s) to a new unit, '{created.units_after[unit_id].name}'",
                   [created, labelled])


def split(session: Session, spikes: NDArray) -> Change:
    """Move the selected spikes to a new unit, keeping who assigned them."""
    spikes = _check_spikes(session, spikes)
    group = _check_one_group(session, spikes)
    # Spikes of no unit stay where they are (a lasso takes some): a split moves assignments
    # and keeps who made them, and nobody assigned those.
    spikes = spikes[session.assignment[spikes] != UNASSIGNED]
    if len(spikes) == 0:
        raise SpikeappError("the selection holds no spike of a unit: split moves spikes of a "
                            "unit to a new one (label unassigned spikes instead)")
    created, unit_id = create_unit(session, group)
    # The move is made with the new unit in place (in_sequence), so that its counters are
    # those after the creation: built before it, the move set the next unit id back and the
    # next new unit took the split one's id (issue 30).
    created, moved = in_sequence(session, [
        lambda s: created,
        lambda s: _spike_change(s, "split", spikes, assignment=np.full(len(spikes), unit_id))])
    return combine(f"split {len(spikes)} spike(s) into {created.units_after[unit_id].name}",
                   [created, moved])


def merge(session: Session, unit_ids: list[int]) -> Change:
    """Merge units into the first one."""
    units = [_check_unit(session, u) for u in unit_ids]
    if len(units) < 2:
        raise NotYet("select at least two units to merge")
    if len({u.group for u in units}) != 1:
        raise SpikeappError("units of different channels cannot be merged")
    target = units[0]
    spikes = np.nonzero(among(session.assignment, unit_ids[1:]))[0]
    change = _spike_change(session, "merge", spikes, assignment=np.full(len(spikes), target.id))
    change.description = f"merge {', '.join(u.name for u in units)} into {target.name}"
    change.units_before = {u.id: u for u in units[1:]}
    change.units_after = {u.id: None for u in units[1:]}
    return change


def delete_unit(session: Session, unit_id: int) -> Change:
    """Remove a unit; its spikes become unassigned."""
    unit = _check_unit(session, unit_id)
    spikes = np.nonzero(session.assignment == unit_id)[0]
    n = len(spikes)
    change = _spike_change(session, f"delete {unit.name}", spikes,
                           assignment=np.full(n, UNASSIGNED), source=np.full(n, NONE, np.int8),
                           confidence=np.zeros(n, np.float32), network_version=np.full(n, -1))
    change.units_before, change.units_after = {unit_id: unit}, {unit_id: None}
    return change


def unlabel(session: Session, spikes: NDArray) -> Change:
    """Forget assignments of the selected spikes."""
    spikes = _check_spikes(session, spikes)
    n = len(spikes)
    return _spike_change(session, f"clear {n} spike(s)", spikes,
                         assignment=np.full(n, UNASSIGNED), source=np.full(n, NONE, np.int8),
                         confidence=np.zeros(n, np.float32), network_version=np.full(n, -1))


def edit_unit(session: Session, unit_id: int, **changes: str) -> Change:
    """Rename, recolour, set the quality label or the notes of a unit."""
    unit = _check_unit(session, unit_id)
    allowed = {"name", "colour", "quality", "notes"}
    if set(changes) - allowed:
        raise SpikeappError(f"a unit's {', '.join(sorted(set(changes) - allowed))} cannot be edited")
    if "quality" in changes and changes["quality"] not in QUALITIES:
        raise SpikeappError(f"quality must be one of {', '.join(QUALITIES)}")
    if "name" in changes:
        name = str(changes["name"]).strip()
        if not name:
            raise SpikeappError("a unit needs a name")
        other = session.unit_by_name(unit.group, name)
        if other is not None and other.id != unit_id:
            raise SpikeappError(f"channel {unit.group} already has a unit named '{name}'")
        changes["name"] = name
    counters = (session.next_unit_id, session.network_versions)
    return Change(f"edit {unit.name}", units_before={unit_id: unit},
                  units_after={unit_id: unit.with_(**changes)}, counters_before=counters,
                  counters_after=counters)


def apply_predictions(session: Session, group: int, spikes: NDArray, unit_ids: NDArray,
                      confidence: NDArray, network: bytes | None = None,
                      classes: NDArray | None = None,
                      where: NDArray[np.int64] | slice | None = None) -> Change:
    """Give the network's units to spikes that no person labelled (one undoable step).

    ``unit_ids`` may hold UNRESOLVED for spikes below the confidence threshold. ``classes``:
    the units the network can name (its outputs), checked instead of every spike's. ``where``:
    ``as_span(spikes)`` where the caller has it already (a training output finds it on its
    job's thread).
    """
    spikes = np.asarray(spikes, dtype=np.int64)
    unit_ids = np.asarray(unit_ids, dtype=np.int64)
    confidence = np.asarray(confidence, dtype=np.float32)
    where = as_span(spikes) if where is None else where
    source = session.source[where]
    free = ~among(source, LABELLED)
    yielding = session.yielding_units(group)
    if yielding:   # accepted cores that gave way take the network's units like other spikes
        free |= (source == ACCEPTED) & among(session.assignment[where], yielding)
    only = None
    if isinstance(where, slice):
        # One run of spikes (a channel's whole recording) stays one: the labelled ones are
        # skipped by a mask rather than cut out (ten million gathers and scatters per field).
        only = None if free.all() else free
    else:
        spikes, unit_ids, confidence = spikes[free], unit_ids[free], confidence[free]
        where = spikes
    named = distinct_ids(unit_ids) if classes is None else np.asarray(classes)
    unknown = set(named.tolist()) - set(session.units) - {UNRESOLVED}
    if unknown:
        raise SpikeappError(f"the prediction names units that no longer exist: {sorted(unknown)}")
    version = session.network_versions + 1
    # The same source, version and time for every spike: one value each, not one per spike (a
    # million-spike prediction keeps 17 MB less in the undo history and the journal).
    change = _spike_change(session, f"apply network #{version} to channel {group}", spikes,
                           where, assignment=unit_ids, source=np.int8(NETWORK),
                           confidence=confidence,
                           network_version=np.asarray(version, session.network_version.dtype))
    change.only = only
    change.counters_after = (session.next_unit_id, version)
    if network is not None:
        change.networks_before = {group: session.networks.get(group)}
        change.networks_after = {group: network}
    return change


def reassign_predicted(session: Session, spikes: NDArray, unit_ids: NDArray,
                       description: str) -> Change:
    """Move spikes the network assigned to other units (or to UNRESOLVED) without retraining,
    as a new minimum confidence does: who assigned them and their confidence stay; labels are
    never touched."""
    spikes = np.asarray(spikes, dtype=np.int64)
    unit_ids = np.asarray(unit_ids, dtype=np.int64)
    keep = (session.source[spikes] == NETWORK) & (session.assignment[spikes] != unit_ids)
    spikes, unit_ids = spikes[keep], unit_ids[keep]
    unknown = set(distinct_ids(unit_ids).tolist()) - set(session.units) - {UNRESOLVED}
    if unknown:
        raise SpikeappError(f"the prediction names units that no longer exist: {sorted(unknown)}")
    change = _spike_change(session, description, spikes, assignment=unit_ids)
    return change


def step(session: Session, change: Change, forward: bool) -> None:
    """Undo (``forward`` False) or redo ``change`` as a user does: the counters stay where
    they are when the change would set them back. An id (or a network version) once given is
    never given again, even after the change that made it is undone: an output, a proposal or
    a journal record kept from before the undo still names it, and must never mean another
    unit. (Building and taking back a change, as :func:`in_sequence` does, restores them
    exactly: nothing was given.)"""
    ids, versions = session.next_unit_id, session.network_versions
    change.apply(session, forward)
    session.next_unit_id = max(ids, session.next_unit_id)
    session.network_versions = max(versions, session.network_versions)


def in_sequence(session: Session, makers: Iterable[Callable[[Session], Change]]
                ) -> list[Change]:
    """Changes that build on one another (each maker sees the ones before it applied: new unit
    ids and names), with the session left as it was, whatever a maker raises. ``combine``
    makes them one undo step."""
    changes: list[Change] = []
    try:
        for make in makers:
            change = make(session)
            change.apply(session)
            changes.append(change)
    finally:
        for change in reversed(changes):
            change.apply(session, forward=False)
    return changes


def combine(description: str, changes: list[Change]) -> Change:
    """One undo step made of several changes applied in order."""
    return _Compound(description, changes=changes)


@dataclass
class _Compound(Change):
    changes: list[Change] = field(default_factory=list)

    @property
    def nbytes(self) -> int:
        return sum(change.nbytes for change in self.changes)

    def apply(self, session: Session, forward: bool = True) -> None:
        for change in (self.changes if forward else reversed(self.changes)):
            change.apply(session, forward)


class History:
    """Undo and redo stacks of changes, bounded."""

    def __init__(self, session: Session, limit: int = 500, limit_bytes: int = 1 << 30) -> None:
        self.session = session
        self.limit = limit
        self.limit_bytes = limit_bytes   # oldest steps go first past this (the last one stays)
        self._undo: list[Change] = []
        self._redo: list[Change] = []

    def do(self, change: Change) -> Change:
        change.apply(self.session)
        self._undo.append(change)
        del self._undo[:-self.limit]
        self._redo.clear()
        held = [c.nbytes for c in self._undo]
        total = sum(held)
        drop = 0
        while total > self.limit_bytes and drop < len(held) - 1:
            total -= held[drop]
            drop += 1
        del self._undo[:drop]
        return change

    def undo(self) -> Change | None:
        if not self._undo:
            return None
        change = self._undo.pop()
        step(self.session, change, forward=False)
        self._redo.append(change)
        return change

    def redo(self) -> Change | None:
        if not self._redo:
            return None
        change = self._redo.pop()
        step(self.session, change, forward=True)
        self._undo.append(change)
        return change

    def retract(self, forward: bool, done: bool = False) -> None:
        """Take back the step just made (``do`` when ``done``, else a redo when ``forward``,
        an undo otherwise), as if it had not been: the stacks and the session as before."""
        if done:   # nothing was given: the counters go back too
            self._undo.pop().apply(self.session, forward=False)
        elif forward:   # (a refused command has cleared the redo stack: it stays so)
            change = self._undo.pop()
            step(self.session, change, forward=False)
            self._redo.append(change)
        else:
            change = self._redo.pop()
            step(self.session, change, forward=True)
            self._undo.append(change)

    @property
    def next_undo(self) -> Change | None:
        """The change undo would revert (None when there is none)."""
        return self._undo[-1] if self._undo else None

    @property
    def next_redo(self) -> Change | None:
        return self._redo[-1] if self._redo else None

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    @property
    def undo_text(self) -> str:
        return self._undo[-1].description if self._undo else ""

    @property
    def redo_text(self) -> str:
        return self._redo[-1].description if self._redo else ""
