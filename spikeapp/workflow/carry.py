"""Networks carried to a later session of the same electrodes: no new labels.

A lab records the same electrodes day after day. The networks trained on an earlier session
sort a new recording's spikes as they are (each channel group matched by its channels), under
the earlier session's units (same ids, names, colours). What moved since is reported per unit:

- amplitude shift: the median peak amplitude of the unit's spikes now against then (percent);
- novel share: the share of the unit's spikes now further from its earlier mean waveform than
  99 % of its earlier spikes were (a unit that drifted, or another neuron taken for it);

and per group, the share of spikes unlike every earlier unit (further than each unit's 99th
percentile: new neurons, or noise). The outputs are kept as trainings' outputs, so the
label-next queue works at once where the network is unsure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from spikeapp.errors import SpikeappError
from spikeapp.session import Session
from spikeapp.session.state import LABELLED, UNRESOLVED, Unit, among
from spikeapp.tasks import CancelToken, Job, Progress
from spikeapp.workflow.sorting import PREDICT_CHUNK, TrainingOutput

TEMPLATE_SPIKES = 2000      # spikes (at most) a unit's earlier mean waveform is taken from
NOVEL_PERCENTILE = 99.0     # distance from the earlier mean beyond which a spike is novel
DRIFT_AMPLITUDE_PCT = 20.0  # a unit whose amplitude moved more than this is flagged
DRIFT_NOVEL_SHARE = 0.10    # ... or whose spikes are novel more often than this


@dataclass(frozen=True)
class UnitDrift:
    unit_id: int
    name: str
    group: int
    spikes_then: int
    spikes_now: int
    amplitude_then: float      # median |peak amplitude|, in the recording's unit
    amplitude_now: float
    shift_pct: float           # (now - then) / then, percent; NaN when a side has no spikes
    novel_share: float         # NaN without spikes now

    @property
    def moved(self) -> bool:
        return bool(abs(self.shift_pct) > DRIFT_AMPLITUDE_PCT
                    or self.novel_share > DRIFT_NOVEL_SHARE)


@dataclass
class Carried:
    """What carrying the networks gives, before it is applied."""

    source: str
    outputs: list[TrainingOutput] = field(default_factory=list)
    units: dict[int, Unit] = field(default_factory=dict)
    drift: list[UnitDrift] = field(default_factory=list)
    unlike_every_unit: dict[int, float] = field(default_factory=dict)   # group -> share
    skipped: list[str] = field(default_factory=list)

    def report(self) -> list[str]:
        """Lines for a person: one per unit, the groups' novel shares, what was skipped."""
        lines = []
        for d in self.drift:
            flag = "  MOVED: review (L asks where the network is unsure)" if d.moved else ""
            shift = "n/a" if not np.isfinite(d.shift_pct) else f"{d.shift_pct:+.1f} %"
            novel = "n/a" if not np.isfinite(d.novel_share) else f"{100 * d.novel_share:.1f} %"
            lines.append(f"channel {d.group} {d.name}: {d.spikes_then} -> {d.spikes_now} spikes, "
                         f"amplitude {d.amplitude_then:.1f} -> {d.amplitude_now:.1f} ({shift}), "
                         f"novel {novel}{flag}")
        for group, share in sorted(self.unlike_every_unit.items()):
            lines.append(f"channel {group}: {100 * share:.1f} % of the spikes are unlike every "
                         "earlier unit")
        lines += self.skipped
        return lines


def matching_groups(earlier: Session, now: Session) -> dict[int, int]:
    """Earlier group -> group of ``now`` with the same channels."""
    def channels(session: Session) -> dict[frozenset, int]:
        d = session.detection
        return {frozenset(int(c) for c in d.group_members(int(g))): int(g) for g in d.group_ids}

    later = channels(now)
    return {g: later[c] for c, g in channels(earlier).items() if c in later}


def _template_distance(waveforms: NDArray, template: NDArray) -> NDArray[np.float64]:
    """Root-mean-square distance of each waveform from a mean waveform."""
    diff = np.asarray(waveforms, dtype=np.float64).reshape(len(waveforms), -1) - template.ravel()
    return np.sqrt((diff ** 2).mean(axis=1))


def carry_job(earlier: Session, now: Session, source: str, min_confidence: float = 0.0
              ) -> Callable[[CancelToken | None], Job[Carried]]:
    """The earlier session's networks run on ``now``'s spikes, as a job (the detection never
    changes, so the job reads it in place; nothing is applied)."""
    from spikeapp.training.checkpoint import load_checkpoint

    if not earlier.networks:
        raise SpikeappError(f"{source}: the session has no trained networks to carry")
    pairs = matching_groups(earlier, now)

    def job(cancel: CancelToken | None = None) -> Job[Carried]:
        carried = Carried(source)
        d_then, d_now = earlier.detection, now.detection
        for k, (group_then, blob) in enumerate(sorted(earlier.networks.items())):
            if group_then not in pairs:
                carried.skipped.append(f"channel {group_then} of {source}: no group with its "
                                       "channels here; not sorted")
                continue
            group = pairs[group_then]
            trained = load_checkpoint(blob, name=f"channel {group_then} of {source}")
            ids = np.array([int(name) for name in trained.class_names], dtype=np.int64)
            width = trained.input_shape[0]
            spikes = now.spikes_of_group(group)
            waveforms = np.asarray(d_now.waveforms[spikes])[:, :width]
            parts = []
            for start in range(0, max(len(spikes), 1), PREDICT_CHUNK):
                if cancel is not None:
                    cancel.raise_if_cancelled()
                yield Progress(k, len(earlier.networks), f"channel {group}: predicting "
                               f"{len(spikes)} spikes with the earlier network", "carry")
                parts.append(trained.predict(waveforms[start:start + PREDICT_CHUNK],
                                             min_confidence))
            labels = np.concatenate([p.labels for p in parts]) if parts else np.zeros(0, int)
            assigned = np.where(labels >= 0, ids[np.maximum(labels, 0)], UNRESOLVED)
            output = TrainingOutput(
                group, trained, blob, spikes, assigned,
                np.concatenate([p.confidence for p in parts]).astype(np.float32),
                np.concatenate([p.probabilities for p in parts]).astype(np.float32), ids)
            carried.outputs.append(output)
            novel_everywhere = np.ones(len(spikes), dtype=bool)
            for unit_id in ids:
                unit = earlier.units.get(int(unit_id))
                if unit is None:
                    continue
                carried.units[int(unit_id)] = unit.with_(group=group)
                then = np.flatnonzero(earlier.assignment == unit_id)
                then = then[np.linspace(0, len(then) - 1, min(len(then), TEMPLATE_SPIKES)
                                        ).astype(np.int64)] if len(then) else then
                mine = assigned == unit_id
                amplitude_then = (float(np.median(np.abs(d_then.amplitudes[then])))
                                  if len(then) else np.nan)
                amplitude_now = (float(np.median(np.abs(d_now.amplitudes[spikes[mine]])))
                                 if mine.any() else np.nan)
                novel = np.nan
                if len(then) >= 5:
                    earlier_waves = np.asarray(d_then.waveforms[then])[:, :width]
                    template = earlier_waves.mean(axis=0)
                    limit = np.percentile(_template_distance(earlier_waves, template),
                                          NOVEL_PERCENTILE)
                    distance = _template_distance(waveforms, template)
                    novel_everywhere &= distance > limit
                    if mine.any():
                        novel = float((distance[mine] > limit).mean())
                shift = (100 * (amplitude_now - amplitude_then) / amplitude_then
                         if amplitude_then and np.isfinite(amplitude_then)
                         and np.isfinite(amplitude_now) else np.nan)
                carried.drift.append(UnitDrift(
                    int(unit_id), unit.name, group, int((earlier.assignment == unit_id).sum()),
                    int(mine.sum()), amplitude_then, amplitude_now, shift, novel))
            carried.unlike_every_unit[group] = float(novel_everywhere.mean()) if len(spikes) \
                else 0.0
        if not carried.outputs:
            raise SpikeappError(f"{source}: none of its channel groups is in this recording")
        return carried

    return job


def units_change(session: Session, units: dict[int, Unit], description: str):
    """The earlier session's units made here with the same ids (the networks name them)."""
    from spikeapp.session import commands as cmd

    if session.units:
        raise SpikeappError("networks from an earlier session are applied to a recording with "
                            "no units yet (open or detect it again)")
    if among(session.source, LABELLED).any():
        raise SpikeappError("this recording has labels already: apply earlier networks to a "
                            "fresh detection")
    counters = (session.next_unit_id, session.network_versions)
    after = (max([session.next_unit_id - 1, *units]) + 1, session.network_versions)
    return cmd.Change(description, units_before={u: None for u in units},
                      units_after=dict(units), counters_before=counters, counters_after=after)
