"""NWB through pynwb: the electrodes of the sorted channel groups and a units table with spike
times, electrodes, mean waveforms, quality, confidence and label counts; the source recording's
reference and the detection parameters go into the file's notes. Meant to pass nwbinspector."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from spikeapp import __version__
from spikeapp.atomic import atomic_file
from spikeapp.export.common import ARBITRARY, mean_waveform, signal_unit, unit_trains
from spikeapp.session import Session

SUBJECT_FIELDS = ("subject_id", "species", "sex", "age", "description", "strain", "genotype")
SESSION_FIELDS = ("session_start_time", "experimenter", "institution", "lab",
                  "experiment_description", "session_id")


def source_metadata(path: str) -> dict:
    """Subject and session metadata of a source NWB recording (empty for other formats or an
    unreadable file: the export then says the subject is unknown)."""
    from pynwb import NWBHDF5IO

    if not str(path).endswith(".nwb") or not Path(path).is_file():
        return {}
    try:
        with NWBHDF5IO(str(path), "r") as io:
            source = io.read()
            meta = {name: getattr(source, name, None) for name in SESSION_FIELDS}
            if source.subject is not None:
                meta["subject"] = {name: getattr(source.subject, name, None)
                                   for name in SUBJECT_FIELDS}
    except Exception:  # noqa: BLE001 - metadata are a courtesy; the sorting is what matters
        return {}
    return {k: v for k, v in meta.items() if v is not None}


def write_nwb(session: Session, path: str | Path, subject: dict | None = None
              ) -> tuple[int, list[str]]:
    """Write the units to an NWB file; returns the number of units and the subject fields
    DANDI requires that nobody gave (species, age). The subject and session
    metadata are copied from the source recording when it is NWB; ``subject`` (subject_id,
    species, sex, age...) adds to or replaces them."""
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.file import Subject
    from pynwb.misc import Units

    d = session.detection
    reference = {k: v for k, v in session.recording.items() if k != "groups"}
    meta = source_metadata(str(reference.get("path", "")))
    subject_fields = {"subject_id": "unknown", "sex": "U",
                      "description": "not recorded in spikeapp: edit before sharing"}
    subject_fields.update(meta.pop("subject", {}))
    subject_fields.update({k: v for k, v in (subject or {}).items() if v})
    meta.setdefault("session_start_time", datetime.now(timezone.utc).replace(microsecond=0))
    meta.setdefault("experiment_description", "extracellular recording sorted into single units")
    nwb = NWBFile(
        session_description="spike sorting made with spikeapp (a 1D-CNN trained on hand labels)",
        identifier=str(uuid.uuid4()), subject=Subject(**subject_fields), **meta,
        source_script=f"spikeapp {__version__}", source_script_file_name="spikeapp",
        keywords=["spike sorting", "single units", "spikeapp"],
        notes=json.dumps({"recording": reference, "detection": d.params,
                          "sampling_rate_hz": d.sampling_rate, "t_start_s": d.t_start},
                         default=str))
    device = nwb.create_device(name="recording_device",
                               description=f"the device of {reference.get('path', 'the recording')}")
    electrode_of = {}
    for group in d.group_ids:
        group = int(group)
        electrode_group = nwb.create_electrode_group(
            name=f"group_{group}", description=f"channels sorted together as group {group}",
            location="unknown", device=device)
        for channel in d.group_members(group):
            nwb.add_electrode(group=electrode_group, location="unknown")
            electrode_of[(group, int(channel))] = len(electrode_of)
    trains = unit_trains(session)
    columns = [("unit_name", "the unit's name in spikeapp"),
               ("quality", "good, mua, noise or unsorted, as the person curating set it"),
               ("channel_group", "the channel group the unit was sorted on"),
               ("mean_confidence", "mean of the network's confidence (1 for hand labels)"),
               ("n_human_labels", "spikes labelled by a person"),
               ("n_imported_labels", "spikes labelled by an imported sorting"),
               ("network_versions", "versions of the network whose predictions the unit holds"),
               ("last_assigned", "when a spike was last assigned to the unit (ISO 8601, UTC)"),
               ("notes", "the person's notes")]
    # NWB's waveform unit is volts, unless the table says otherwise: a recording without a gain
    # (signal unit "a.u.") keeps its values unscaled and says they are in arbitrary units.
    unit = signal_unit(session)
    in_volts = unit == "µV"
    nwb.units = Units(name="units", description="units sorted with spikeapp",
                      resolution=1.0 / d.sampling_rate, waveform_rate=d.sampling_rate,
                      waveform_unit="volts" if in_volts else unit)
    for name, description in columns:
        nwb.add_unit_column(name=name, description=description)
    shapes = {mean_waveform(session, t.spikes[:1]).shape for t in trains}
    with_means = len(shapes) == 1  # NWB needs one shape for every unit's mean waveform
    if with_means and not in_volts:
        what = " (arbitrary units: the recording's values unscaled, as it gave no gain)" \
            if unit == ARBITRARY else ""
        nwb.units.add_column(name="waveform_mean", description="the spike waveform mean for each "
                             f"unit (samples x electrodes) in {unit}{what}")
    for train in trains:
        annotations = train.annotations
        extra = {}
        if with_means:
            # samples x channels, in volts as NWB expects (unscaled when not a voltage)
            extra["waveform_mean"] = mean_waveform(session, train.spikes).T * (
                1e-6 if in_volts else 1.0)
        nwb.add_unit(spike_times=train.times_s.astype(np.float64),
                     electrodes=[electrode_of[(int(train.unit.group), int(c))]
                                 for c in train.channels],
                     obs_intervals=[[d.t_start, d.t_start + d.n_samples / d.sampling_rate]],
                     **{name: annotations[name] for name, _ in columns}, **extra)
    with atomic_file(path) as temporary:
        with NWBHDF5IO(str(temporary), "w") as io:
            io.write(nwb)
    missing = [k for k in ("species", "age") if not subject_fields.get(k)]
    return len(trains), missing
