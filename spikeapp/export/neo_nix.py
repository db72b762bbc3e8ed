"""NIX through neo: one Block per channel group, one SpikeTrain per unit (with a neo Group per
unit), annotated with the unit's metadata; readable by neo's NixIO and so by Elephant."""

from __future__ import annotations

from pathlib import Path

from spikeapp.atomic import atomic_file
from spikeapp.export.common import duration_s, group_waveforms, signal_unit, unit_trains
from spikeapp.session import Session


def write_nix(session: Session, path: str | Path, waveforms: bool = False) -> int:
    """Write the units to a NIX file; ``waveforms`` stores every spike's waveform too, in µV, or
    dimensionless where the recording gave no gain (annotation ``waveform_unit``: "a.u.").
    Returns the number of spike trains."""
    import neo
    import quantities as pq
    from neo.io import NixIO

    d = session.detection
    unit = signal_unit(session)
    wave_unit = pq.uV if unit == "µV" else pq.dimensionless
    t_start, t_stop = duration_s(session)
    blocks = {}
    for train in unit_trains(session):
        group = int(train.unit.group)
        if group not in blocks:
            block = neo.Block(name=f"channel group {group}",
                              description="spike trains sorted with spikeapp",
                              file_origin=str(session.recording.get("path", "")))
            block.annotate(channel_group=group,
                           channels=",".join(str(c) for c in d.group_members(group)))
            block.segments.append(neo.Segment(name="recording"))
            blocks[group] = block
        block = blocks[group]
        options = {}
        if waveforms:
            # neo's layout: (spikes, channels, samples)
            options = {"waveforms": group_waveforms(session, train.spikes) * wave_unit,
                       "left_sweep": d.pre_samples / d.sampling_rate * pq.s}
        spiketrain = neo.SpikeTrain(train.times_s * pq.s, t_start=t_start * pq.s,
                                    t_stop=max(t_stop, float(train.times_s[-1])) * pq.s,
                                    sampling_rate=d.sampling_rate * pq.Hz, name=train.unit.name,
                                    **options)
        spiketrain.annotate(**train.annotations)
        if waveforms:
            spiketrain.annotate(waveform_unit=unit)
        block.segments[0].spiketrains.append(spiketrain)
        unit_group = neo.Group(name=train.unit.name, allowed_types=[neo.SpikeTrain])
        unit_group.annotate(**train.annotations)
        unit_group.add(spiketrain)
        block.groups.append(unit_group)
    with atomic_file(path) as temporary:
        with NixIO(str(temporary), mode="ow") as io:
            io.write_all_blocks(list(blocks.values()))
    return sum(len(b.segments[0].spiketrains) for b in blocks.values())
