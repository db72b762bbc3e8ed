"""What the views draw, prepared without Qt: bounded samples per unit, colours per spike."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from spikeapp.session.state import (
    PALETTE,
    UNASSIGNED,
    UNRESOLVED,
    Session,
    as_span,
    distinct_ids,
)

UNASSIGNED_COLOUR = "#9a9a9a"
UNRESOLVED_COLOUR = "#5a5a5a"
FEW_UNITS = 8       # up to this many units (unassigned included), members are found unit by unit


def unit_members(spikes: NDArray[np.int64], assignment: NDArray[np.int64]
                 ) -> dict[int, NDArray[np.int64]]:
    """The spikes of each unit among ``spikes`` (sorted and distinct, as a group's are), the
    unassigned and unresolved included under their ids; one pass over a small set of unit ids."""
    if len(spikes) == 0:
        return {}
    where = as_span(spikes, ordered=True)   # one run: read a view, not a gather
    span = isinstance(where, slice)
    start = int(spikes[0])
    units = assignment[where]
    low, high = int(units.min()), int(units.max())
    if high - low < 2**15:
        codes = (units - low).astype(np.int16) if low or units.dtype != np.int16 else units
        present = [code for code in range(high - low + 1)] if high - low < FEW_UNITS else \
            np.flatnonzero(np.bincount(codes)).tolist()
        if len(present) <= FEW_UNITS:
            # A pass per unit: at ten million spikes, a handful of comparisons beat a sort.
            members = {}
            for code in present:
                rows = np.flatnonzero(codes == code)
                if len(rows):
                    members[code + low] = rows + start if span else spikes[rows]
            return members
        # One stable radix sort of 16-bit ids (linear) instead of one pass per unit.
        counts = np.bincount(codes)
        parts = np.split(spikes[np.argsort(codes, kind="stable")], np.cumsum(counts)[:-1])
        return {code + low: part for code, part in enumerate(parts) if len(part)}
    return {int(unit): spikes[units == unit] for unit in distinct_ids(units)}


def display_sample(members: dict[int, NDArray[np.int64]], per_unit: int) -> NDArray[np.int64]:
    """At most ``per_unit`` spikes of each unit, chosen evenly over time, sorted; the views draw
    these, while every operation acts on all spikes."""
    chosen = []
    for spikes in members.values():
        if len(spikes) > per_unit:
            spikes = spikes[np.linspace(0, len(spikes) - 1, per_unit).astype(np.int64)]
        chosen.append(spikes)
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
    """The unassigned ``spikes`` of proposed units (index, unassigned members) drawn in their
    proposal's colour instead of grey."""
    if not proposals or not len(spikes):
        return rgba
    owner = np.full(session.n_spikes, -1, dtype=np.int32)
    for index, members in proposals:
        owner[members] = index
    which = owner[spikes]
    rows = (which >= 0) & (session.assignment[spikes] == UNASSIGNED)
    for index, _ in proposals:
        rgba[rows & (which == index), :3] = hex_to_rgb(proposal_colour(index))
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
