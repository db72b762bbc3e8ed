"""One authoritative sorting state: per-spike unit, who assigned it, and unit metadata.

Unit ids are never reused (phy's rule), so anything keyed by unit id never goes stale.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from spikeapp.detection import DetectionResult

UNASSIGNED = -1   # no unit yet
UNRESOLVED = -2   # the network was not confident enough
NONE, HUMAN, NETWORK, IMPORTED, ACCEPTED = 0, 1, 2, 3, 4   # who made an assignment
# ACCEPTED: the core of a proposed unit a person accepted (one key for many spikes)
LABELLED = (HUMAN, IMPORTED, ACCEPTED)   # what the network learns from and never overwrites
OWN = (HUMAN, IMPORTED)   # labels of a person's own (or another sorting's), spike by spike

QUALITIES = ("unsorted", "good", "mua", "noise")
# The per-spike arrays of a sorting state, one value per detected spike.
PER_SPIKE = ("assignment", "source", "confidence", "network_version", "assigned_at")
PALETTE = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6",
           "#bfef45", "#469990", "#9a6324", "#800000", "#808000", "#000075", "#fabed4",
           "#ffd8b1", "#aaffc3", "#dcbeff", "#ffe119")


@dataclass(frozen=True)
class Unit:
    """Metadata of one unit; immutable (edits replace it, which keeps undo simple)."""

    id: int
    name: str
    group: int
    colour: str
    quality: str = "unsorted"
    notes: str = ""

    def with_(self, **changes: Any) -> Unit:
        return replace(self, **changes)


@dataclass
class Session:
    """Detections of a recording and their sorting."""

    detection: DetectionResult
    recording: dict[str, Any] = field(default_factory=dict)   # path and reader options
    assignment: NDArray[np.int64] | None = None
    source: NDArray[np.int8] | None = None
    confidence: NDArray[np.float32] | None = None
    network_version: NDArray[np.int32] | None = None
    assigned_at: NDArray[np.float64] | None = None   # epoch seconds of the assignment; NaN: none
    units: dict[int, Unit] = field(default_factory=dict)
    next_unit_id: int = 0
    networks: dict[int, bytes] = field(default_factory=dict)   # group -> checkpoint
    network_versions: int = 0
    training_params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = self.detection.n_spikes
        if self.assignment is None:
            self.assignment = np.full(n, UNASSIGNED, dtype=np.int64)
        if self.source is None:
            self.source = np.zeros(n, dtype=np.int8)
        if self.confidence is None:
            self.confidence = np.zeros(n, dtype=np.float32)
        if self.network_version is None:
            self.network_version = np.full(n, -1, dtype=np.int32)
        if self.assigned_at is None:
            self.assigned_at = np.full(n, np.nan, dtype=np.float64)

    @property
    def n_spikes(self) -> int:
        return self.detection.n_spikes

    @property
    def groups(self) -> NDArray[np.int64]:
        return self.detection.group_ids

    def spikes_of_group(self, group: int) -> NDArray[np.int64]:
        """Spike indexes of a channel group (cached: detections never change)."""
        cache = self.__dict__.setdefault("_group_cache", {})
        if group not in cache:
            cache[group] = np.nonzero(self.detection.channels == group)[0]
        return cache[group]

    def units_of_group(self, group: int) -> list[Unit]:
        return [u for u in self.units.values() if u.group == group]

    def unit_by_name(self, group: int, name: str) -> Unit | None:
        for unit in self.units.values():
            if unit.group == group and unit.name == name:
                return unit
        return None

    def new_unit(self, group: int, name: str | None = None, quality: str = "unsorted") -> Unit:
        """Create a unit with a fresh id (ids are never reused)."""
        unit_id = self.next_unit_id
        self.next_unit_id += 1
        unit = Unit(unit_id, name or self._free_name(group), int(group),
                    PALETTE[unit_id % len(PALETTE)], quality)
        self.units[unit_id] = unit
        return unit

    def _free_name(self, group: int) -> str:
        """"unit N" for the group's Nth unit (noise aside), as key N labels it; the next free
        number when a unit of that name exists."""
        taken = {u.name for u in self.units_of_group(group)}
        number = sum(1 for u in self.units_of_group(group) if u.name != "noise") + 1
        while f"unit {number}" in taken:
            number += 1
        return f"unit {number}"

    def human_labels(self, group: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Spike indexes of a group labelled by a person (or imported from another sorting, or
        accepted as a proposal's core), and their unit ids: what the network learns from."""
        spikes = self.spikes_of_group(group)
        human = spikes[self.taught(group)]
        return human, self.assignment[human]

    def cores_give_way(self) -> int:
        """Labels of a person's own from which a unit's accepted cores leave the training (0:
        never): the training parameter kept with the session, else its default."""
        from spikeapp.params import param

        stored = self.training_params.get("training")
        value = stored.get("cores_give_way") if isinstance(stored, dict) else None
        return int(value if value is not None else param("cores_give_way").default)

    def yielding_units(self, group: int) -> set[int]:
        """Units of a group whose accepted cores gave way: they have enough labels of a
        person's own for the network to learn from those alone (a proposal's core holds the
        errors of the clustering that made it; spike by spike labels do not)."""
        need = self.cores_give_way()
        spikes = self.spikes_of_group(group)
        if need <= 0 or not (self.source[as_span(spikes, ordered=True)] == ACCEPTED).any():
            return set()
        own = spikes[among(self.source[as_span(spikes, ordered=True)], OWN)]
        ids, counts = np.unique(self.assignment[own], return_counts=True)
        return {int(u) for u, k in zip(ids, counts) if k >= need}

    def taught(self, group: int) -> NDArray[np.bool_]:
        """Per spike of the group: a label the network learns from (the cores of yielding
        units left out)."""
        spikes = self.spikes_of_group(group)
        source = self.source[as_span(spikes, ordered=True)]
        taught = among(source, LABELLED)
        yielding = self.yielding_units(group)
        if yielding:
            taught &= ~((source == ACCEPTED)
                        & among(self.assignment[as_span(spikes, ordered=True)], yielding))
        return taught


def among(values: NDArray, codes) -> NDArray[np.bool_]:
    """Per value, whether it is one of a few ``codes`` (sources, unit ids): a comparison per
    code. np.isin sorts the values when they are not all one (35 ms at ten million sources,
    4 ms this way)."""
    codes = [int(c) for c in codes]
    if not codes:
        return np.zeros(np.shape(values), dtype=bool)
    if len(codes) > 16:
        return np.isin(values, codes)
    found = values == codes[0]
    for code in codes[1:]:
        found |= values == code
    return found


def in_sorted(values: NDArray, sorted_values: NDArray) -> NDArray[np.bool_]:
    """Per value, whether it is in ``sorted_values`` (sorted): a binary search per value, not
    a pass over the sorted ones (a proposal's millions of members, for the few thousand
    spikes drawn)."""
    values = np.asarray(values)
    if len(sorted_values) == 0:
        return np.zeros(values.shape, dtype=bool)
    at = np.minimum(np.searchsorted(sorted_values, values), len(sorted_values) - 1)
    return sorted_values[at] == values


def as_span(spikes: NDArray[np.int64], ordered: bool = False) -> NDArray[np.int64] | slice:
    """``spikes`` as a slice when they are one run of consecutive indexes (a single channel's
    whole recording: reading and writing a slice copies memory, an index array gathers and
    scatters), else as they are. ``ordered``: they are known to be sorted and distinct (a
    group's spikes, a selection), so the ends alone tell."""
    n = len(spikes)
    if n > 1024 and spikes[-1] - spikes[0] == n - 1 and spikes[0] >= 0 and (
            ordered or bool(np.all(np.diff(spikes) == 1))):
        return slice(int(spikes[0]), int(spikes[-1]) + 1)
    return spikes


def distinct_ids(values: NDArray[np.integer]) -> NDArray[np.int64]:
    """The distinct unit ids in ``values``, sorted: a count per id (linear) rather than a sort
    when the ids are small, as unit ids are."""
    values = np.asarray(values, dtype=np.int64)
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64)
    low, high = int(values.min()), int(values.max())
    if high - low > 1_000_000:
        return np.unique(values)
    return np.flatnonzero(np.bincount(values - low)) + low
