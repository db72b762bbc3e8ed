"""Sortings made elsewhere, read in so they can be reviewed and refined: units stored in
recording files (Plexon, Blackrock, Neuralynx, Spike2... through neo), phy/Kilosort folders, and
spikeapp's own CSV and NIX exports.

A sorting with waveforms becomes a session by itself (its spikes are the detections); one without
(phy, CSV, Plexon files without waveforms) is laid onto the detections of its recording, each
spike labelling the detected spike nearest in time on its channel.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from spikeapp.errors import RecordingError

UNSORTED_CODE = "0"  # unit 0: unsorted in Plexon, Blackrock, Neuralynx and Spike2 files


@dataclass
class Electrode:
    name: str
    channel_ids: list[int]                 # channels of the electrode (one, or four for a tetrode)


@dataclass
class ImportedSorting:
    """Spikes of a sorting: time, electrode, unit name ("" for unsorted spikes) and, where the
    file has them, waveforms (spikes x channels x samples, µV)."""

    source: str
    times_s: NDArray[np.float64]
    electrodes: NDArray[np.int64]          # index into ``electrode_list``
    units: NDArray[np.object_]
    electrode_list: list[Electrode]
    waveforms: NDArray[np.float32] | None = None
    sampling_rate: float = 0.0             # of the waveforms (and the spike times' clock)
    pre_samples: int = 0                   # samples before the spike time in a waveform
    t_start: float = 0.0
    t_stop: float = 0.0
    waveform_units: str = "uV"
    qualities: dict[str, str] = field(default_factory=dict)   # unit name -> good / mua / noise
    notes: list[str] = field(default_factory=list)            # what the user should know

    @property
    def n_spikes(self) -> int:
        return len(self.times_s)

    def unit_names(self) -> list[str]:
        return sorted({str(u) for u in self.units if u}, key=_natural)


def _natural(text: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def read_sorting(path: str | Path, unsorted_as_unit: bool = False) -> ImportedSorting:
    """Read a sorting: a phy folder (params.py), a spikeapp CSV or NIX export, or any file with
    spike trains that neo reads. RecordingError names the file and the problem."""
    path = Path(path)
    if not path.exists():
        raise RecordingError(path, "no such file or folder")
    if path.is_dir() and (path / "params.py").is_file() or path.name == "params.py":
        return read_phy(path if path.is_dir() else path.parent)
    if path.suffix.lower() == ".csv":
        return read_csv_sorting(path)
    if path.suffix.lower() == ".nix":
        return read_nix_sorting(path)
    return read_neo_sorting(path, unsorted_as_unit)


# -- neo: units stored in recording files ------------------------------------------------------------
_SCALE_TO_UV = {"uv": 1.0, "µv": 1.0, "mv": 1e3, "v": 1e6, "volts": 1e6, "volt": 1e6}


def _electrode_and_unit(name: str, ident: str) -> tuple[str, str]:
    """neo's spike channel name/id: 'ch5#2' (channel 5, unit 2) or 'chTT1#40#0' (tetrode TT1,
    its channel 40, unit 0); otherwise the name is the electrode and the id the unit."""
    for text in (str(ident), str(name)):
        match = re.fullmatch(r"ch(.+?)#(?:\d+#)?(\w+)", text)
        if match:
            return match.group(1), match.group(2)
    return str(name), str(ident)


def read_neo_sorting(path: Path, unsorted_as_unit: bool = False) -> ImportedSorting:
    from spikeapp.io.neo_reader import neo_candidates, open_rawio

    candidates = neo_candidates(path)
    if not candidates:
        raise RecordingError(path, "not a format with spike trains that spikeapp knows "
                             "(phy folder, spikeapp CSV or NIX, or a file neo reads)")
    failures = []
    for candidate in candidates:  # the first may need a missing package (CED's sonpy, say)
        try:
            rawio = open_rawio(path, candidate)
            break
        except RecordingError as error:
            failures.append(error.problem)
    else:
        raise RecordingError(path, "; ".join(failures))
    spike_channels = rawio.header["spike_channels"]
    if len(spike_channels) == 0:
        raise RecordingError(path, "holds no spike trains (no sorted or thresholded units)")
    electrodes: dict[str, Electrode] = {}
    seen: dict[tuple[str, str], NDArray] = {}
    times, where, names, waves = [], [], [], []
    fs, pre, scale_unit = 0.0, 0, "uV"
    t_start = float(rawio.segment_t_start(0, 0))
    t_stop = float(rawio.segment_t_stop(0, 0))
    for index, channel in enumerate(spike_channels):
        electrode, unit = _electrode_and_unit(channel["name"], channel["id"])
        raw = rawio.get_spike_timestamps(0, 0, index, None, None)
        stamps = rawio.rescale_spike_timestamp(raw, dtype="float64")
        if (electrode, unit) in seen and np.array_equal(seen[(electrode, unit)], stamps):
            continue  # Neuralynx lists a tetrode's unit once per channel: the same spikes
        seen[(electrode, unit)] = stamps
        wave = rawio.get_spike_raw_waveforms(0, 0, index, None, None)
        if wave is not None and wave.size:
            wave = rawio.rescale_waveforms_to_float(wave, dtype="float32",
                                                    spike_channel_index=index)
            factor = _SCALE_TO_UV.get(str(channel["wf_units"]).strip().lower())
            if factor is None:
                scale_unit = str(channel["wf_units"]) or "raw units"
            else:
                wave = wave * factor
            rate = float(channel["wf_sampling_rate"])
            if rate <= 0 and len(raw) and stamps[-1] > 0:
                rate = float(raw[-1]) / float(stamps[-1])  # the spike clock
            fs = fs or rate
            pre = pre or (int(channel["wf_left_sweep"]) if channel["wf_left_sweep"] >= 0
                          else wave.shape[2] // 3)
        else:
            wave = None
        if electrode not in electrodes:
            width = wave.shape[1] if wave is not None else 1
            taken = {c for e in electrodes.values() for c in e.channel_ids}
            if width == 1 and electrode.isdigit() and int(electrode) not in taken:
                ids = [int(electrode)]   # 'ch5#1': channel 5, as the file's signals name it
            else:
                first = max(taken, default=-1) + 1
                ids = list(range(first, first + width))
            electrodes[electrode] = Electrode(electrode, ids)
        times.append(stamps)
        where.append(np.full(len(stamps), list(electrodes).index(electrode)))
        where_name = f"ch{electrode}" if electrode.isdigit() else electrode
        label = "" if unit == UNSORTED_CODE and not unsorted_as_unit else f"{where_name} u{unit}"
        names.append(np.full(len(stamps), label, dtype=object))
        waves.append(wave)
    order = np.argsort(np.concatenate(times), kind="stable")
    sorting = ImportedSorting(str(path), np.concatenate(times)[order],
                              np.concatenate(where).astype(np.int64)[order],
                              np.concatenate(names)[order], list(electrodes.values()),
                              t_start=t_start, t_stop=t_stop, sampling_rate=fs,
                              pre_samples=pre, waveform_units=scale_unit)
    if all(w is not None for w in waves):
        shapes = {w.shape[1:] for w in waves}
        if len(shapes) == 1:
            sorting.waveforms = np.concatenate(waves).astype(np.float32)[order]
        else:  # electrodes of different widths: pad to the widest
            channels = max(s[0] for s in shapes)
            samples = max(s[1] for s in shapes)
            padded = [np.pad(w, ((0, 0), (0, channels - w.shape[1]), (0, samples - w.shape[2])))
                      for w in waves]
            sorting.waveforms = np.concatenate(padded).astype(np.float32)[order]
    unsorted = int((sorting.units == "").sum())
    if unsorted:
        sorting.notes.append(f"{unsorted} spikes are in unit 0 (unsorted in the acquisition "
                             "system): imported without a unit (to keep unit 0 as a unit, "
                             "import with 'unsorted as unit')")
    if scale_unit != "uV":
        sorting.notes.append(f"waveforms are in {scale_unit}, not µV")
    return sorting


# -- phy / Kilosort folders -----------------------------------------------------------------------
def _phy_params(folder: Path) -> dict:
    params: dict = {}
    try:
        # params.py is a few assignments of literals; read them without running the file.
        import ast

        tree = ast.parse((folder / "params.py").read_text())
        for node in tree.body:
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
                params[node.targets[0].id] = ast.literal_eval(node.value)
    except (OSError, SyntaxError, ValueError) as error:
        raise RecordingError(folder / "params.py", f"cannot be read: {error}") from error
    return params


def read_phy(folder: Path) -> ImportedSorting:
    """spike_times.npy (samples) and spike_clusters.npy (or spike_templates.npy), cluster groups
    from cluster_group.tsv / cluster_info.tsv; channel of a cluster: its template's peak."""
    params = _phy_params(folder)
    fs = float(params.get("sample_rate") or 0)
    if fs <= 0:
        raise RecordingError(folder / "params.py", "has no sample_rate")

    def load(name: str, required: bool = True):
        file = folder / name
        if not file.is_file():
            if required:
                raise RecordingError(folder, f"is not a complete phy folder: {name} is missing")
            return None
        try:
            return np.load(file, allow_pickle=False)
        except (OSError, ValueError) as error:
            raise RecordingError(file, f"is not a readable numpy file: {error}") from error

    samples = np.asarray(load("spike_times.npy")).reshape(-1).astype(np.int64)
    clusters = load("spike_clusters.npy", required=False)
    if clusters is None:
        clusters = load("spike_templates.npy")
    clusters = np.asarray(clusters).reshape(-1).astype(np.int64)
    if len(clusters) != len(samples):
        raise RecordingError(folder, f"spike_times.npy has {len(samples)} spikes but the "
                             f"cluster file has {len(clusters)}")
    groups = {}
    for table in ("cluster_group.tsv", "cluster_info.tsv"):
        if (folder / table).is_file():
            with open(folder / table, newline="") as handle:
                for row in csv.DictReader(handle, delimiter="\t"):
                    value = row.get("group") or row.get("KSLabel")
                    if row.get("cluster_id") is not None and value:
                        groups.setdefault(f"cluster {int(row['cluster_id'])}", value)
    channel_map = load("channel_map.npy", required=False)
    channel_map = (np.asarray(channel_map).reshape(-1) if channel_map is not None
                   else np.arange(int(params.get("n_channels_dat") or 1)))
    peak = _cluster_peak_channels(load, clusters, len(channel_map))
    electrode_list = [Electrode(f"channel {int(c)}", [int(c)]) for c in channel_map]
    # Names: spikeapp's own phy exports keep the unit names; other folders name clusters by id.
    names_of = {}
    if (folder / "cluster_spikeapp_name.tsv").is_file():
        with open(folder / "cluster_spikeapp_name.tsv", newline="") as handle:
            names_of = {int(r["cluster_id"]): r["spikeapp_name"]
                        for r in csv.DictReader(handle, delimiter="\t")}
    groups = {names_of.get(int(k.split()[1]), k): v for k, v in groups.items()}
    names = np.array([names_of.get(int(c), f"cluster {c}") for c in clusters], dtype=object)
    noise = np.array([groups.get(n) == "noise" for n in names], dtype=bool)
    sorting = ImportedSorting(str(folder), samples / fs, peak, names, electrode_list,
                              sampling_rate=fs, t_start=0.0,
                              t_stop=float(samples.max(initial=0)) / fs,
                              qualities={k: v for k, v in groups.items()
                                         if v in ("good", "mua", "noise")})
    if noise.any():
        sorting.notes.append(f"{int(noise.sum())} spikes are in clusters marked noise")
    return sorting


def _cluster_peak_channels(load, clusters: NDArray, n_channels: int) -> NDArray[np.int64]:
    """The channel (index in channel_map) where each spike's template is largest."""
    templates = load("templates.npy", required=False)
    spike_templates = load("spike_templates.npy", required=False)
    if templates is None or spike_templates is None:
        return np.zeros(len(clusters), np.int64)
    spike_templates = np.asarray(spike_templates).reshape(-1).astype(np.int64)
    templates = np.asarray(templates)
    ind = load("template_ind.npy", required=False)
    best = np.abs(templates).max(axis=1).argmax(axis=1)   # per template, column of its peak
    if ind is not None:
        best = np.asarray(ind)[np.arange(len(best)), best]
    best = np.clip(best, 0, max(0, n_channels - 1))
    return best[np.clip(spike_templates, 0, len(best) - 1)].astype(np.int64)


# -- spikeapp's own exports -----------------------------------------------------------------------
def read_csv_sorting(path: Path) -> ImportedSorting:
    """A spikeapp CSV export (or any CSV with unit, channel and time_s columns)."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise RecordingError(path, f"cannot be read as CSV: {error}") from error
    needed = {"unit", "channel", "time_s"}
    if not rows or not needed <= set(rows[0]):
        raise RecordingError(path, "needs the columns unit, channel and time_s (a spikeapp CSV "
                             "export)")
    times = np.zeros(len(rows))
    channels = np.zeros(len(rows), np.int64)
    for index, row in enumerate(rows):
        line = index + 2  # the header is line 1
        try:
            times[index] = float(row["time_s"])
            channels[index] = int(row["channel"])
        except (TypeError, ValueError):
            raise RecordingError(path, f"line {line}: time_s must be a number and channel a "
                                 f"whole number; got {row.get('time_s')!r}, "
                                 f"{row.get('channel')!r}") from None
        if not np.isfinite(times[index]) or row.get("unit") in (None, ""):
            raise RecordingError(path, f"line {line}: needs a finite time and a unit name")
    ids = sorted(set(channels.tolist()))
    order = np.argsort(times, kind="stable")
    return ImportedSorting(str(path), times[order], np.searchsorted(ids, channels)[order],
                           np.array([r["unit"] for r in rows], dtype=object)[order],
                           [Electrode(f"channel {c}", [c]) for c in ids])


def read_nix_sorting(path: Path) -> ImportedSorting:
    """A spikeapp NIX export (or any NIX file of neo SpikeTrains): one unit per spike train;
    waveforms when the file has them."""
    import quantities as pq
    from neo.io import NixIO

    try:
        with NixIO(str(path), mode="ro") as io:
            blocks = io.read_all_blocks()
    except Exception as error:  # noqa: BLE001 - nixio raises many kinds
        raise RecordingError(path, f"cannot be read as NIX: {error}") from error
    electrodes: list[Electrode] = []
    times, where, names, waves, qualities = [], [], [], [], {}
    t_start, t_stop, fs, pre = np.inf, -np.inf, 0.0, 0
    arbitrary = False
    for block in blocks:
        for segment in block.segments:
            for train in segment.spiketrains:
                channels = [int(c) for c in str(train.annotations.get("channels", "")).split(",")
                            if c.strip().lstrip("-").isdigit()] or [len(electrodes)]
                key = f"group {train.annotations.get('channel_group', block.name)}"
                if key not in [e.name for e in electrodes]:
                    electrodes.append(Electrode(key, channels))
                name = str(train.annotations.get("unit_name", train.name or "unit"))
                times.append(train.times.rescale("s").magnitude.astype(np.float64))
                where.append(np.full(len(train), [e.name for e in electrodes].index(key)))
                names.append(np.full(len(train), name, dtype=object))
                qualities[name] = str(train.annotations.get("quality", "unsorted"))
                if train.waveforms is None or train.waveforms.size == 0:
                    waves.append(None)
                elif train.waveforms.dimensionality == pq.dimensionless.dimensionality:
                    # An export of a recording without a gain: arbitrary units, kept as they are
                    waves.append(train.waveforms.magnitude.astype(np.float32))
                    arbitrary = True
                else:
                    waves.append(train.waveforms.rescale("uV").magnitude.astype(np.float32))
                t_start = min(t_start, float(train.t_start.rescale("s")))
                t_stop = max(t_stop, float(train.t_stop.rescale("s")))
                if train.sampling_rate is not None:
                    fs = float(train.sampling_rate.rescale("Hz"))
                if train.left_sweep is not None:
                    pre = int(round(float(train.left_sweep.rescale("s")) * fs))
    if not times:
        raise RecordingError(path, "holds no spike trains")
    order = np.argsort(np.concatenate(times), kind="stable")
    sorting = ImportedSorting(str(path), np.concatenate(times)[order],
                              np.concatenate(where).astype(np.int64)[order],
                              np.concatenate(names)[order], electrodes, sampling_rate=fs,
                              pre_samples=pre, t_start=t_start, t_stop=t_stop,
                              qualities=qualities, waveform_units="a.u." if arbitrary else "uV")
    if all(w is not None for w in waves) and len({w.shape[1:] for w in waves}) == 1:
        sorting.waveforms = np.concatenate(waves)[order]
    return sorting
