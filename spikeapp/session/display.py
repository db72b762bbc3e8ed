"""What the views draw, prepared without Qt: bounded samples per unit, colours per spike."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping

import numpy as np
from numpy.typing import NDArray

from spikeapp.session.state import (
    PALETTE,
    UNASSIGNED,
    UNRESOLVED,
    Session,
    as_span,
    distinct_ids,
    in_sorted,
)

UNASSIGNED_COLOUR = "#9a9a9a"
UNRESOLVED_COLOUR = "#5a5a5a"
FEW_UNITS = 8       # up to this many units (unassigned included), members are found unit by unit


class Members(Mapping):
    """The spikes of each unit among a group's spikes, found when first asked for.

    The unit of every spike is read once, as small codes; counts and which units are present
    come from that at once, a unit's spike list only when something needs it (the selection of
    that unit, its plots), so a recolour of ten million spikes does not build ten lists of
    millions. Safe to read from a worker thread (the metrics job does)."""

    def __init__(self, spikes: NDArray[np.int64], codes: NDArray, low: int,
                 counts: dict[int, int]) -> None:
        self._spikes = spikes
        self._span = isinstance(as_span(spikes, ordered=True), slice)
        self._codes = codes                          # per spike: its unit id less ``low``
        self._low = low
        self._counts = {u: n for u, n in counts.items() if n}   # unit id -> spikes, if any
        self._present = sorted(self._counts)
        self._lists: dict[int, NDArray[np.int64]] = {}
        self._lock = threading.Lock()

    def __getitem__(self, unit: int) -> NDArray[np.int64]:
        unit = int(unit)
        if unit not in self._counts:
            raise KeyError(unit)
        with self._lock:
            found = self._lists.get(unit)
            if found is None:
                rows = np.flatnonzero(self._codes == unit - self._low)
                found = rows + int(self._spikes[0]) if self._span else self._spikes[rows]
                self._lists[unit] = found
            return found

    def __iter__(self) -> Iterator[int]:
        return iter(self._present)

    def __len__(self) -> int:
        return len(self._present)

    def __contains__(self, unit: object) -> bool:
        return unit in self._counts

    def count(self, unit: int) -> int:
        """Spikes of ``unit`` (0 when it has none here), without listing them."""
        return self._counts.get(int(unit), 0)

    def sample(self, unit: int, per_unit: int) -> NDArray[np.int64]:
        """At most ``per_unit`` spikes of ``unit``, spread evenly over the recording: a unit with
        more is sampled from a strided subset of the group's spikes (a small share of the
        work of listing it), then evenly among those."""
        count = self.count(unit)
        if count <= per_unit:
            return self[unit] if count else np.zeros(0, dtype=np.int64)
        # Read without the lock (a dict's get is atomic): a worker listing another unit (the
        # metrics job, millions of spikes) holds it for tens of milliseconds.
        listed = self._lists.get(int(unit))
        if listed is None:
            step = max(1, count // (2 * per_unit))
            rows = np.flatnonzero(self._codes[::step] == int(unit) - self._low) * step
            listed = rows + int(self._spikes[0]) if self._span else self._spikes[rows]
        if len(listed) > per_unit:
            listed = listed[np.linspace(0, len(listed) - 1, per_unit).astype(np.int64)]
        return listed


def unit_members(spikes: NDArray[np.int64], assignment: NDArray[np.int64],
                 ids: Iterable[int] | None = None) -> Mapping[int, NDArray[np.int64]]:
    """The spikes of each unit among ``spikes`` (sorted and distinct, as a group's are), the
    unassigned and unresolved included under their ids, as :class:`Members` (lists made when
    asked for). ``ids``: the ids the
    spikes can hold (the session's units, unassigned, unresolved), which spares a pass to find
    the smallest and largest; checked by the counts adding up."""
    if len(spikes) == 0:
        return {}
    units = assignment[as_span(spikes, ordered=True)]   # one run: a view, not a gather
    possible = sorted({int(i) for i in ids}) if ids is not None else []
    if possible and len(possible) <= FEW_UNITS and -2**15 <= possible[0] \
            and possible[-1] < 2**15:
        codes = units.astype(np.int16)
        # A comparison per unit: at ten million spikes, cheaper than a count over all.
        counts = {i: int(np.count_nonzero(codes == i)) for i in possible}
        if sum(counts.values()) == len(units):
            return Members(spikes, codes, 0, counts)
    low, high = int(units.min()), int(units.max())
    if high - low >= 2**15:   # ids far apart: the ids themselves (a copy: a snapshot) as codes
        return Members(spikes, units.astype(np.int64), 0,
                       {int(u): int(np.count_nonzero(units == u)) for u in distinct_ids(units)})
    codes = (units - low).astype(np.int8 if high - low < 2**7 else np.int16)
    if high - low < FEW_UNITS:
        counts = {code: int(np.count_nonzero(codes == code)) for code in range(high - low + 1)}
    else:
        counts = dict(enumerate(np.bincount(codes).tolist()))
    return Members(spikes, codes, low, {code + low: n for code, n in counts.items()})


def count_of(members: Mapping[int, NDArray[np.int64]], unit: int) -> int:
    """Spikes of ``unit`` in ``members`` (any mapping), listing none where it can."""
    if isinstance(members, Members):
        return members.count(unit)
    return len(members.get(unit, ()))


def sample_of(members: Mapping[int, NDArray[np.int64]], unit: int, per_unit: int
              ) -> NDArray[np.int64]:
    """At most ``per_unit`` spikes of ``unit``, evenly over time (none when it has none)."""
    if isinstance(members, Members):
        return members.sample(unit, per_unit)
    spikes = members.get(unit, np.zeros(0, dtype=np.int64))
    if len(spikes) > per_unit:
        spikes = spikes[np.linspace(0, len(spikes) - 1, per_unit).astype(np.int64)]
    return spikes


def display_sample(members: Mapping[int, NDArray[np.int64]], per_unit: int,
                   hidden: Iterable[int] = ()) -> NDArray[np.int64]:
    """At most ``per_unit`` spikes of each unit not ``hidden``, chosen evenly over time, sorted;
    the views draw these, while every operation acts on all spikes."""
    hidden = set(hidden)
    chosen = [sample_of(members, unit, per_unit) for unit in members if unit not in hidden]
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)


def selected_among(selection: NDArray[np.int64], spikes: NDArray[np.int64], n_spikes: int
                   ) -> NDArray[np.int64]:
    """The selected spikes among ``spikes`` (both sorted and distinct): a range of the
    selection when ``spikes`` are one run, else by a mask (linear, unlike a set intersection)."""
    if len(spikes) == 0 or len(selection) == 0:
        return np.zeros(0, dtype=np.int64)
    if isinstance(as_span(spikes, ordered=True), slice):
        begin, end = np.searchsorted(selection, [spikes[0], spikes[-1] + 1])
        return np.asarray(selection[begin:end], dtype=np.int64)
    mask = np.zeros(n_spikes, dtype=bool)
    mask[selection] = True
    return spikes[mask[spikes]]


def proposal_colour(index: int) -> str:
    """A proposed unit's colour: a palette colour, paled with grey (not yet a unit)."""
    colour = np.array(hex_to_rgb(PALETTE[(index + 3) % len(PALETTE)]), dtype=float)
    pale = 0.55 * colour + 0.45 * np.array(hex_to_rgb(UNASSIGNED_COLOUR), dtype=float)
    return "#" + "".join(f"{int(round(c)):02x}" for c in pale)


def tint_proposals(rgba: NDArray[np.uint8], spikes: NDArray[np.int64], session: Session,
                   proposals: list[tuple[int, NDArray[np.int64]]]) -> NDArray[np.uint8]:
    """The unassigned ``spikes`` (sorted) of proposed units (index, members, sorted) drawn in
    their proposal's colour instead of grey: a binary search of the spikes drawn in each
    proposal, not a pass over its members (millions)."""
    if not proposals or not len(spikes):
        return rgba
    free = session.assignment[spikes] == UNASSIGNED
    for index, members in proposals:
        rgba[free & in_sorted(spikes, members), :3] = hex_to_rgb(proposal_colour(index))
    return rgba


def hex_to_rgb(colour: str) -> tuple[int, int, int]:
    colour = colour.lstrip("#")
    return int(colour[0:2], 16), int(colour[2:4], 16), int(colour[4:6], 16)


def spike_colours(session: Session, spikes: NDArray[np.int64], levels: int | None = None
                  ) -> NDArray[np.uint8]:
    """RGBA per spike: the unit's colour, confidence as saturation (blended with grey).
    ``levels`` rounds confidence to that many steps, so a view draws a few colours per unit."""
    rgba = np.zeros((len(spikes), 4), dtype=np.uint8)
    rgba[:, 3] = 255
    units = session.assignment[spikes]
    grey = np.array(hex_to_rgb(UNASSIGNED_COLOUR), dtype=float)
    rgba[units == UNASSIGNED, :3] = grey
    rgba[units == UNRESOLVED, :3] = hex_to_rgb(UNRESOLVED_COLOUR)
    for unit_id in set(np.unique(units[units >= 0]).tolist()):
        rows = units == unit_id
        colour = np.array(hex_to_rgb(session.units[int(unit_id)].colour), dtype=float)
        confidence = np.clip(session.confidence[spikes[rows]], 0, 1)[:, None]
        if levels:
            confidence = np.ceil(confidence * levels) / levels
        saturation = 0.25 + 0.75 * confidence
        rgba[rows, :3] = np.round(saturation * colour + (1 - saturation) * grey)
    return rgba
