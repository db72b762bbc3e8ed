"""Wave_clus results: ``times_<name>_ch<group>.mat`` per channel group, with ``cluster_class``
(class, time in ms; class 0 = not assigned, as in Wave_clus) and ``spikes`` (one waveform per
row; the channels of a group side by side; their unit, µV or a.u. where the recording gave no
gain, in ``spikes_unit``), so Wave_clus and MATLAB scripts read them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io

from spikeapp.atomic import atomic_folder
from spikeapp.export.common import group_waveforms, signal_unit
from spikeapp.session import Session


def write_wave_clus(session: Session, folder: str | Path) -> list[str]:
    """Write one file per channel group that has units into ``folder``; returns the names."""
    d = session.detection
    stem = Path(str(session.recording.get("path", "") or "recording")).stem.strip("<>") or "rec"
    written = []
    with atomic_folder(folder) as temporary:
        for group in d.group_ids:
            group = int(group)
            units = sorted(session.units_of_group(group), key=lambda u: u.id)
            if not units:
                continue
            spikes = session.spikes_of_group(group)
            classes = np.zeros(len(spikes), dtype=np.float64)
            for number, unit in enumerate(units, start=1):
                classes[session.assignment[spikes] == unit.id] = number
            times_ms = (d.times_s[spikes] - d.t_start) * 1000.0
            waves = group_waveforms(session, spikes).astype(np.float64)
            name = f"times_{stem}_ch{group}.mat"
            scipy.io.savemat(temporary / name, {
                "cluster_class": np.column_stack([classes, times_ms]),
                "spikes": waves.reshape(len(spikes), -1),
                "spikes_unit": signal_unit(session),
                "cluster_names": np.array([u.name for u in units], dtype=object),
                "cluster_quality": np.array([u.quality for u in units], dtype=object),
                "confidence": session.confidence[spikes].astype(np.float64),
                "sr": float(d.sampling_rate),
                "channels": np.asarray(d.group_members(group), dtype=np.float64),
            }, do_compression=True)
            written.append(name)
    return written
