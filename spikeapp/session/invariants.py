"""What every sorting state must satisfy, whatever command made it.

:func:`problems` lists the breaches (empty: the state is sound). The tests check it after every
command (a stateful property test drives every user command through the Workspace); the
Workspace checks it after every edit where ``SPIKEAPP_CHECKS=1`` (debug runs and the test
suite), and a save checks what it wrote before the journal, the only other copy, is removed.

The rules:

- per-spike arrays are as long as the detection;
- an assigned spike's unit exists and belongs to the spike's channel group;
- unit ids are below ``next_unit_id`` (ids are never reused: the next one is above every id in
  use; the stateful test also checks it stays above every id *ever* used);
- who assigned a spike agrees with what it holds: nobody -> unassigned, confidence 0, no
  network version, no time; a label (hand, import, accepted core) -> confidence 1, no network
  version; the network -> a version it had, a confidence in [0, 1]; unresolved -> the network;
  anyone -> a time;
- units: ids match their keys, groups exist, names are unique within a group, qualities known;
- networks are kept for groups that exist; the version counter is above every spike's.
"""

from __future__ import annotations

import os

import numpy as np

from spikeapp.errors import SpikeappError
from spikeapp.session.state import (
    ACCEPTED,
    HUMAN,
    IMPORTED,
    LABELLED,
    NETWORK,
    NONE,
    PER_SPIKE,
    QUALITIES,
    UNASSIGNED,
    UNRESOLVED,
    Session,
    among,
)

_FIELDS = PER_SPIKE


class InvariantError(SpikeappError):
    """A sorting state that breaks an invariant: a bug, never the user's doing."""


def checks_enabled() -> bool:
    """Whether every edit is checked (``SPIKEAPP_CHECKS=1``: debug runs and the tests)."""
    return os.environ.get("SPIKEAPP_CHECKS", "") not in ("", "0")


def counters_problems(session: Session) -> list[str]:
    """The cheap part (no pass over spikes): unit ids against the counter."""
    found = []
    if session.units and max(session.units) >= session.next_unit_id:
        found.append(f"next unit id {session.next_unit_id} is not above the units' ids "
                     f"{sorted(session.units)[-3:]}")
    for key, unit in session.units.items():
        if key != unit.id:
            found.append(f"unit {unit.id} is kept under id {key}")
    return found


def problems(session: Session) -> list[str]:
    """Every invariant the state breaks, in words (empty when sound)."""
    found = counters_problems(session)
    d = session.detection
    n = d.n_spikes
    lengths = [f"{name} holds {len(getattr(session, name))} values for {n} spikes"
               for name in _FIELDS if len(getattr(session, name)) != n]
    if lengths:   # nothing else can be checked spike by spike
        return found + lengths
    groups = set(np.asarray(d.group_ids).tolist())
    names: dict[tuple[int, str], int] = {}
    for unit in session.units.values():
        if unit.group not in groups:
            found.append(f"unit {unit.id} belongs to group {unit.group}, which has no spikes")
        if unit.quality not in QUALITIES:
            found.append(f"unit {unit.id} has the quality {unit.quality!r}")
        if (unit.group, unit.name) in names:
            found.append(f"units {names[(unit.group, unit.name)]} and {unit.id} are both "
                         f"'{unit.name}' on group {unit.group}")
        names[(unit.group, unit.name)] = unit.id
    for group in session.networks:
        if group not in groups:
            found.append(f"a network is kept for group {group}, which has no spikes")

    assignment, source = session.assignment, session.source
    confidence, version = session.confidence, session.network_version
    assigned_at = session.assigned_at
    if n == 0:
        return found
    # Unit of each assigned spike, and its group, by a table over ids.
    bad_codes = (assignment < UNRESOLVED)
    if bad_codes.any():
        found.append(f"{int(bad_codes.sum())} spike(s) hold unknown assignment codes")
    top = max(int(assignment.max()), max(session.units, default=-1)) + 1
    group_of = np.full(max(top, 1), np.iinfo(np.int64).min, dtype=np.int64)
    for unit in session.units.values():
        if 0 <= unit.id < len(group_of):
            group_of[unit.id] = unit.group
    assigned = np.flatnonzero(assignment >= 0)
    unit_group = group_of[assignment[assigned]]
    missing = unit_group == np.iinfo(np.int64).min
    if missing.any():
        ids = sorted(set(assignment[assigned[missing]].tolist()))
        found.append(f"{int(missing.sum())} spike(s) belong to units {ids[:5]} that do not exist")
    elsewhere = ~missing & (unit_group != d.channels[assigned])
    if elsewhere.any():
        first = assigned[elsewhere][0]
        found.append(f"{int(elsewhere.sum())} spike(s) belong to a unit of another group (spike "
                     f"{first} of group {d.channels[first]} in unit {assignment[first]} of group "
                     f"{group_of[assignment[first]]})")
    known = among(source, (NONE, HUMAN, NETWORK, IMPORTED, ACCEPTED))
    if not known.all():
        found.append(f"{int((~known).sum())} spike(s) have an unknown source")
    nobody = source == NONE
    if (nobody != (assignment == UNASSIGNED)).any():
        found.append(f"{int((nobody != (assignment == UNASSIGNED)).sum())} spike(s) are "
                     "unassigned with a source, or assigned by nobody")
    if (nobody & ((confidence != 0) | (version != -1))).any():
        found.append("spikes assigned by nobody hold a confidence or a network version")
    if (nobody != np.isnan(assigned_at)).any():
        found.append(f"{int((nobody != np.isnan(assigned_at)).sum())} spike(s) have a time of "
                     "assignment that disagrees with who assigned them")
    labelled = among(source, LABELLED)
    if (labelled & ((confidence != 1) | (version != -1))).any():
        found.append(f"{int((labelled & ((confidence != 1) | (version != -1))).sum())} "
                     "labelled spike(s) hold a confidence below 1 or a network version")
    if ((assignment == UNRESOLVED) & (source != NETWORK)).any():
        found.append("unresolved spikes that the network did not leave so")
    network = source == NETWORK
    if network.any():
        v = version[network]
        c = confidence[network]
        if (v < 0).any() or (v > session.network_versions).any():
            found.append(f"spikes of the network hold versions {int(v.min())}..{int(v.max())} "
                         f"outside 0..{session.network_versions}")
        if not ((c >= 0) & (c <= 1)).all():
            found.append("spikes of the network hold confidences outside [0, 1]")
    return found


def check(session: Session, context: str = "") -> None:
    """Raise :class:`InvariantError` naming every breach (and ``context``: the command)."""
    found = problems(session)
    if found:
        where = f" after {context}" if context else ""
        raise InvariantError(f"internal error: the sorting state is inconsistent{where}: "
                             + "; ".join(found))


def states_equal(a: Session, b: Session) -> list[str]:
    """Where two sorting states of the same spikes differ (empty: the same). The detection is
    compared by its spikes, not its waveforms."""
    found = []
    if a.n_spikes != b.n_spikes:
        return [f"{a.n_spikes} spikes against {b.n_spikes}"]
    if not np.array_equal(a.detection.samples, b.detection.samples) or \
            not np.array_equal(a.detection.channels, b.detection.channels):
        found.append("the detections differ")
    for name in _FIELDS:
        x, y = getattr(a, name), getattr(b, name)
        if not np.array_equal(x, y, equal_nan=x.dtype.kind == "f"):
            found.append(f"{name} differs at {int(np.sum(~_same(x, y)))} spike(s)")
    if a.units != b.units:
        ids = sorted(k for k in set(a.units) | set(b.units) if a.units.get(k) != b.units.get(k))
        found.append(f"units {ids[:5]} differ")
    for name in ("next_unit_id", "network_versions"):
        if getattr(a, name) != getattr(b, name):
            found.append(f"{name} {getattr(a, name)} against {getattr(b, name)}")
    if a.networks != b.networks:
        found.append(f"networks differ (groups {sorted(a.networks)} and {sorted(b.networks)})")
    return found


def _same(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    if x.dtype.kind == "f":
        return (x == y) | (np.isnan(x) & np.isnan(y))
    return x == y
