"""Sortings made elsewhere, brought into a session: their units become units, their spikes
labels the network learns from (marked "imported", not "human"), so an online or automatic
sorting can be reviewed and refined."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from spikeapp.errors import SpikeappError
from spikeapp.io.seeds import Seeds
from spikeapp.io.sortings import ImportedSorting
from spikeapp.session import Session
from spikeapp.session import commands as cmd
from spikeapp.session.state import IMPORTED
from spikeapp.workflow.sorting import apply_seeds

N_PCA = 5


@dataclass
class ImportReport:
    units: int = 0
    labelled: int = 0
    unmatched: int = 0
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = f"{self.units} unit(s), {self.labelled} spike(s) labelled"
        if self.unmatched:
            text += f"; {self.unmatched} spike(s) matched no detected spike within 1 ms"
        return "; ".join([text, *self.notes])


def session_from_sorting(sorting: ImportedSorting) -> tuple[Session, ImportReport]:
    """A session whose detections are the sorting's spikes (it must have waveforms): one channel
    group per electrode, the sorting's units as imported labels."""
    from spikeapp.detection import DetectionResult
    from spikeapp.features.pca import fit_pcas, project

    if sorting.waveforms is None:
        raise SpikeappError(f"{sorting.source}: the sorting has spike times but no waveforms; "
                            "open its recording first, then import the sorting onto it")
    if sorting.n_spikes == 0:
        raise SpikeappError(f"{sorting.source}: the sorting holds no spikes")
    fs = sorting.sampling_rate if sorting.sampling_rate > 0 else 30_000.0
    waves = np.asarray(sorting.waveforms, dtype=np.float32)
    widths = [len(e.channel_ids) for e in sorting.electrode_list]
    # Groups are named by their channel when each electrode is one channel (as detections
    # are), by their position otherwise (tetrodes).
    group_ids = np.arange(len(widths), dtype=np.int64)
    if max(widths) == 1:
        group_ids = np.array([e.channel_ids[0] for e in sorting.electrode_list], np.int64)
    electrodes = sorting.electrodes
    channel_ids = np.array([c for e in sorting.electrode_list for c in e.channel_ids], np.int64)
    group_channels = np.full((len(widths), max(widths)), -1, np.int64)
    for g, e in enumerate(sorting.electrode_list):
        group_channels[g, :len(e.channel_ids)] = e.channel_ids
    # Amplitude: the extremum on the spike's largest channel; its noise from the waveforms'
    # first samples (before the spike), as median(|x|) / 0.6745.
    n = len(waves)
    peak_rows = np.abs(waves).max(axis=2).argmax(axis=1)
    on_peak = waves[np.arange(n), peak_rows]
    amplitudes = on_peak[np.arange(n), np.abs(on_peak).argmax(axis=1)].astype(np.float32)
    peak_channels = group_channels[electrodes, peak_rows]
    lead = max(1, min(sorting.pre_samples or waves.shape[2] // 4, waves.shape[2]) // 2)
    noise = np.ones(len(channel_ids))
    for g, e in enumerate(sorting.electrode_list):
        rows = electrodes == g
        for k, channel in enumerate(e.channel_ids):
            values = np.abs(waves[rows, k, :lead])
            if values.size:
                noise[np.flatnonzero(channel_ids == channel)[0]] = max(
                    float(np.median(values)) / 0.6745, 1e-6)
    pcas = fit_pcas({g: waves[electrodes == g][:: max(1, int((electrodes == g).sum()) // 20_000)]
                     for g in range(len(widths))}, N_PCA)
    features = project([(0, waves)], electrodes, pcas, N_PCA)
    t_start = min(sorting.t_start, float(sorting.times_s.min()))
    t_stop = max(sorting.t_stop, float(sorting.times_s.max()))
    detection = DetectionResult(
        samples=np.round((sorting.times_s - t_start) * fs).astype(np.int64),
        times_s=sorting.times_s.astype(np.float64), channels=group_ids[electrodes],
        peak_channels=peak_channels, amplitudes=amplitudes, waveforms=waves, features=features,
        noise_uv=noise, channel_ids=channel_ids, group_ids=group_ids,
        group_channels=group_channels, sampling_rate=fs, t_start=t_start,
        n_samples=int(np.ceil((t_stop - t_start) * fs)) + 1,
        params={"pre_samples": int(sorting.pre_samples), "imported_from": sorting.source,
                "electrodes": [e.name for e in sorting.electrode_list],
                # A tetrode file's name (Neuralynx TT1.ntt) names its group in the window.
                "group_names": {str(int(g)): str(e.name) for g, e in
                                zip(group_ids, sorting.electrode_list)
                                if len(e.channel_ids) > 1 and e.name},
                "freq_min": 300.0, "freq_max": 3000.0, "filter_order": 3, "threshold": 5.0,
                # Waveforms the file gives in no voltage (Plexon's raw units, a NIX export of a
                # recording without a gain) are drawn and exported as arbitrary units.
                "signal_unit": "µV" if str(sorting.waveform_units).lower() in ("uv", "µv")
                else "a.u."},
        recording_path=sorting.source)
    session = Session(detection, recording={"path": sorting.source, "imported": True})
    history = cmd.History(session)
    report = _label(session, history, sorting, [e.channel_ids[0] for e in sorting.electrode_list])
    report.notes = list(sorting.notes) + report.notes
    return session, report


def import_onto(session: Session, history: cmd.History, sorting: ImportedSorting
                ) -> ImportReport:
    """Lay a sorting onto the session's detections (one undo step): each of its spikes labels
    the detected spike nearest in time on its channel, within 1 ms."""
    known = set(session.detection.channel_ids.tolist())
    first_channels = [e.channel_ids[0] for e in sorting.electrode_list]
    missing = sorted({c for c in first_channels if c not in known})
    if len(missing) == len(first_channels):
        raise SpikeappError(f"{sorting.source}: its channels {missing[:8]} are not among the "
                            f"recording's {sorted(known)[:8]}")
    report = _label(session, history, sorting, first_channels)
    report.notes = list(sorting.notes) + report.notes
    return report


def _label(session: Session, history: cmd.History, sorting: ImportedSorting,
           first_channels: list[int]) -> ImportReport:
    named = np.flatnonzero(sorting.units != "")
    channels = np.asarray(first_channels, np.int64)[sorting.electrodes[named]]
    seeds = Seeds(sorting.times_s[named], channels, np.asarray(sorting.units[named], dtype=str))
    before = set(session.units)
    seed_report = apply_seeds(session, history, seeds, source=IMPORTED,
                              description=f"import {len(named)} spike(s) of "
                              f"{len(sorting.unit_names())} unit(s)",
                              qualities=sorting.qualities)
    return ImportReport(units=len(set(session.units) - before), labelled=seed_report.matched,
                        unmatched=len(seed_report.unmatched))
