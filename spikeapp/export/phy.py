"""A phy template-gui folder: spike times and clusters, one template per unit (its mean
waveform on its group's channels), amplitudes, channel map and positions, cluster groups and
names, a subset of spike waveforms (phy shows them without the raw data), and params.py (with
``waveform_unit``: the unit of templates and waveforms, µV or a.u. where the recording gave no
gain). The raw data file is linked when the recording is a raw binary file phy can read."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from spikeapp.atomic import atomic_folder
from spikeapp.export.common import group_waveforms, mean_waveform, signal_unit, unit_trains
from spikeapp.session import Session

WAVEFORMS_PER_UNIT = 100
PHY_GROUPS = {"good": "good", "mua": "mua", "noise": "noise", "unsorted": "unsorted"}


def _tsv(path: Path, header: tuple[str, str], rows) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def write_phy(session: Session, folder: str | Path) -> int:
    """Write the phy folder; returns the number of clusters. Cluster ids are unit ids."""
    d = session.detection
    trains = unit_trains(session)
    channel_ids = np.asarray(d.channel_ids, dtype=np.int64)
    column = {int(c): i for i, c in enumerate(channel_ids)}
    n_templates = max((t.unit.id for t in trains), default=-1) + 1
    templates = np.zeros((n_templates, d.waveforms.shape[2], len(channel_ids)), np.float32)
    spikes, clusters, amplitudes = [], [], []
    for train in trains:
        mean = mean_waveform(session, train.spikes)           # group channels x samples
        rows = [column[int(c)] for c in train.channels]
        templates[train.unit.id][:, rows] = mean.T
        peak = float(np.abs(mean).max()) or 1.0
        spikes.append(train.spikes)
        clusters.append(np.full(len(train.spikes), train.unit.id, np.int32))
        amplitudes.append(np.abs(d.amplitudes[train.spikes]) / peak)  # template scaling
    spikes = np.concatenate(spikes) if spikes else np.zeros(0, np.int64)
    clusters = np.concatenate(clusters) if clusters else np.zeros(0, np.int32)
    amplitudes = np.concatenate(amplitudes) if amplitudes else np.zeros(0)
    order = np.argsort(d.samples[spikes], kind="stable")      # phy needs increasing times
    spikes, clusters, amplitudes = spikes[order], clusters[order], amplitudes[order]
    # Channel positions: groups side by side, 20 µm apart within a group.
    positions = np.zeros((len(channel_ids), 2), np.float32)
    for g, group in enumerate(d.group_ids):
        for k, channel in enumerate(d.group_members(int(group))):
            positions[column[int(channel)]] = (200.0 * g, 20.0 * k)
    # Link the raw data when phy can read them: a raw binary file whose columns are the channels.
    reference = session.recording
    source = str(reference.get("path", ""))
    raw = ""
    channel_map, n_dat, dtype, offset = np.arange(len(channel_ids)), len(channel_ids), "int16", 0
    if reference.get("n_channels") and reference.get("dtype") and Path(source).is_file() and \
            int(channel_ids.max(initial=0)) < int(reference["n_channels"]):
        raw, channel_map, n_dat = source, channel_ids, int(reference["n_channels"])
        dtype, offset = str(reference["dtype"]), int(reference.get("header_bytes") or 0)
    with atomic_folder(folder) as out:
        np.save(out / "spike_times.npy", d.samples[spikes].astype(np.uint64))
        np.save(out / "spike_clusters.npy", clusters)
        np.save(out / "spike_templates.npy", clusters)
        np.save(out / "amplitudes.npy", amplitudes.astype(np.float64))
        np.save(out / "templates.npy", templates)
        np.save(out / "channel_map.npy", channel_map.astype(np.int32))
        np.save(out / "channel_positions.npy", positions)
        np.save(out / "similar_templates.npy", _similarity(templates))
        _subset_waveforms(session, trains, spikes, column, out)
        _tsv(out / "cluster_group.tsv", ("cluster_id", "group"),
             [(t.unit.id, PHY_GROUPS.get(t.unit.quality, "unsorted")) for t in trains])
        _tsv(out / "cluster_spikeapp_name.tsv", ("cluster_id", "spikeapp_name"),
             [(t.unit.id, t.unit.name) for t in trains])
        _tsv(out / "cluster_confidence.tsv", ("cluster_id", "confidence"),
             [(t.unit.id, f"{t.mean_confidence:.4f}") for t in trains])
        _tsv(out / "cluster_human_labels.tsv", ("cluster_id", "human_labels"),
             [(t.unit.id, t.n_human) for t in trains])
        (out / "params.py").write_text(
            f"dat_path = {raw!r}\nn_channels_dat = {n_dat}\ndtype = {dtype!r}\n"
            f"offset = {offset}\nsample_rate = {float(d.sampling_rate)!r}\nhp_filtered = False\n"
            f"waveform_unit = {ascii(signal_unit(session))}\n")  # ASCII: read in any locale
    return len(trains)


def _similarity(templates: np.ndarray) -> np.ndarray:
    flat = templates.reshape(len(templates), -1)
    norms = np.linalg.norm(flat, axis=1)
    norms[norms == 0] = 1.0
    return ((flat @ flat.T) / np.outer(norms, norms)).astype(np.float32)


def _subset_waveforms(session, trains, spikes, column, out: Path) -> None:
    """phy's ``_phy_spikes_subset.*``: waveforms of some spikes per unit (samples x channels
    of the unit's group), used when the raw data are absent."""
    d = session.detection
    index_of = {int(s): i for i, s in enumerate(spikes)}
    width = max((len(t.channels) for t in trains), default=0)
    chosen, waves, channels = [], [], []
    for train in trains:
        some = train.spikes[:: max(1, -(-len(train.spikes) // WAVEFORMS_PER_UNIT))]
        w = np.zeros((len(some), d.waveforms.shape[2], width), np.float32)
        w[:, :, :len(train.channels)] = np.transpose(group_waveforms(session, some), (0, 2, 1))
        c = np.zeros((len(some), width), np.int32)
        c[:, :len(train.channels)] = [column[int(ch)] for ch in train.channels]
        chosen.extend(index_of[int(s)] for s in some)
        waves.append(w)
        channels.append(c)
    if not chosen:
        return
    order = np.argsort(chosen)
    np.save(out / "_phy_spikes_subset.spikes.npy", np.asarray(chosen, np.int64)[order])
    np.save(out / "_phy_spikes_subset.waveforms.npy", np.concatenate(waves)[order])
    np.save(out / "_phy_spikes_subset.channels.npy", np.concatenate(channels)[order])
