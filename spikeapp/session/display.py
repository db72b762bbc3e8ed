"""What the views draw, prepared without Qt: bounded samples per unit, colours per spike."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from spikeapp.session.state import UNASSIGNED, UNRESOLVED, Session

UNASSIGNED_COLOUR = "#9a9a9a"
UNRESOLVED_COLOUR = "#5a5a5a"


def display_sample(spikes: NDArray[np.int64], assignment: NDArray[np.int64], per_unit: int,
                   unit_ids: list[int] | None = None) -> NDArray[np.int64]:
    """At most ``per_unit`` spikes of each unit (and of the unassigned), chosen evenly; the
    views draw these, while every operation acts on all spikes. ``unit_ids`` (the session's
    units) avoids a sort of every spike's unit."""
    chosen = []
    units = assignment[spikes]
    candidates = (np.unique(units) if unit_ids is None
                  else list(unit_ids) + [UNASSIGNED, UNRESOLVED])
    for unit in candidates:
        members = spikes[units == unit]
        if len(members) == 0:
            continue
        if len(members) > per_unit:
            members = members[np.linspace(0, len(members) - 1, per_unit).astype(np.int64)]
        chosen.append(members)
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)


def selected_among(selection: NDArray[np.int64], spikes: NDArray[np.int64], n_spikes: int
                   ) -> NDArray[np.int64]:
    """The selected spikes among ``spikes``, by a mask (linear, unlike a set intersection)."""
    mask = np.zeros(n_spikes, dtype=bool)
    mask[selection] = True
    return spikes[mask[spikes]]


def hex_to_rgb(colour: str) -> tuple[int, int, int]:
    colour = colour.lstrip("#")
    return int(colour[0:2], 16), int(colour[2:4], 16), int(colour[4:6], 16)


def spike_colours(session: Session, spikes: NDArray[np.int64]) -> NDArray[np.uint8]:
    """RGBA per spike: the unit's colour, confidence as saturation (blended with grey)."""
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
        saturation = 0.25 + 0.75 * confidence
        rgba[rows, :3] = np.round(saturation * colour + (1 - saturation) * grey)
    return rgba
