"""Every export read back by the tool it is meant for: same units, same spikes, same times."""

from __future__ import annotations

import csv
import errno

import numpy as np
import pytest

from spikeapp.errors import SpikeappError
from spikeapp.export import export
from spikeapp.export.common import unit_trains


def expected(session):
    """unit name -> (group, times in s, sample indexes), as the session holds them."""
    return {(t.unit.group, t.unit.name): t for t in unit_trains(session)}


def test_csv_reads_back_every_spike_with_who_labelled_it(sorted_session, tmp_path):
    path = tmp_path / "trains.csv"
    export(sorted_session, "csv", path)
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["unit", "channel", "time_s", "confidence", "labelled_by",
                            "network_version", "labelled_at"]
    trains = {t.unit.name: t for t in unit_trains(sorted_session)}
    assert len(rows) == sum(len(t.spikes) for t in trains.values())
    for name, train in trains.items():
        mine = [r for r in rows if r["unit"] == name]
        assert np.array_equal(np.array([float(r["time_s"]) for r in mine]),
                              np.round(train.times_s, 9))
        assert sum(r["labelled_by"] == "human" for r in mine) == train.n_human == 20
    assert {r["labelled_by"] for r in rows} == {"human", "network"}
    network = [r for r in rows if r["labelled_by"] == "network"]
    assert {r["network_version"] for r in network} <= {"1", "2"} and all(
        r["labelled_at"].startswith("20") for r in rows)
    assert all(r["network_version"] == "" for r in rows if r["labelled_by"] == "human")


def test_nix_reads_back_with_neo(sorted_session, tmp_path):
    from neo.io import NixIO

    path = tmp_path / "sorting.nix"
    export(sorted_session, "nix", path, waveforms=True)
    with NixIO(str(path), mode="ro") as io:
        blocks = io.read_all_blocks()
    want = expected(sorted_session)
    got = {}
    for block in blocks:
        for train in block.segments[0].spiketrains:
            got[(train.annotations["channel_group"], train.name)] = train
        assert len(block.groups) == len(block.segments[0].spiketrains)
    assert set(got) == set(want)
    for key, train in got.items():
        assert np.array_equal(train.times.rescale("s").magnitude, want[key].times_s)
        assert train.annotations["quality"] == want[key].unit.quality
        assert train.annotations["n_human_labels"] == want[key].n_human
        assert train.waveforms.shape[0] == len(want[key].spikes)
    first = min(sorted_session.units)
    unit = sorted_session.units[first]
    assert got[(unit.group, unit.name)].annotations["notes"] == "clean, isolated"


def test_nwb_reads_back_with_pynwb_and_passes_nwbinspector(sorted_session, tmp_path):
    from nwbinspector import Importance, inspect_nwbfile
    from pynwb import NWBHDF5IO

    path = tmp_path / "sorting.nwb"
    # The demo has no subject: the person exporting says who it was (DANDI requires it).
    export(sorted_session, "nwb", path,
           subject={"subject_id": "demo-1", "species": "Mus musculus", "age": "P90D"})
    want = expected(sorted_session)
    with NWBHDF5IO(str(path), "r") as io:
        units = io.read().units.to_dataframe()
        assert len(units) == len(want)
        for _, row in units.iterrows():
            train = want[(row["channel_group"], row["unit_name"])]
            assert np.array_equal(np.asarray(row["spike_times"]), train.times_s)
            assert row["quality"] == train.unit.quality
            assert row["n_human_labels"] == train.n_human
            assert np.asarray(row["waveform_mean"]).shape[1] == len(train.channels)
    messages = list(inspect_nwbfile(nwbfile_path=str(path)))
    serious = [m for m in messages if m.importance in (Importance.CRITICAL, Importance.ERROR)]
    assert not serious, [m.message for m in serious]


def test_phy_folder_loads_in_phylib(sorted_session, tmp_path):
    from phylib.io.model import load_model

    folder = tmp_path / "phy"
    export(sorted_session, "phy", folder)
    model = load_model(folder / "params.py")
    want = {t.unit.id: t for t in unit_trains(sorted_session)}
    assert set(model.cluster_ids.tolist()) == set(want)
    fs = sorted_session.detection.sampling_rate
    for unit_id, train in want.items():
        mine = model.spike_clusters == unit_id
        assert np.array_equal(model.spike_samples[mine], train.samples)
        assert np.allclose(model.spike_times[mine], train.samples / fs)
    groups = model.metadata["group"]
    first = min(sorted_session.units)
    assert groups[first] == "good"
    assert model.metadata["spikeapp_name"][first] == sorted_session.units[first].name
    model.close()


def test_wave_clus_files_load_in_scipy(sorted_session, tmp_path):
    import scipy.io

    folder = tmp_path / "mat"
    export(sorted_session, "mat", folder)
    session, d = sorted_session, sorted_session.detection
    for group in session.groups:
        data = scipy.io.loadmat(folder / f"times_demo recording_ch{int(group)}.mat")
        classes, times_ms = data["cluster_class"][:, 0], data["cluster_class"][:, 1]
        spikes = session.spikes_of_group(int(group))
        assert len(classes) == len(spikes) == data["spikes"].shape[0]
        assert np.allclose(times_ms / 1000 + d.t_start, d.times_s[spikes], atol=1e-12)
        units = sorted(session.units_of_group(int(group)), key=lambda u: u.id)
        for number, unit in enumerate(units, start=1):
            assert np.array_equal(classes == number, session.assignment[spikes] == unit.id)
        assert np.array_equal(classes == 0, session.assignment[spikes] < 0)


def test_failed_export_leaves_the_existing_file_and_folder_untouched(sorted_session, tmp_path,
                                                                     monkeypatch):
    target = tmp_path / "phy"
    export(sorted_session, "phy", target)
    before = {p.name: p.read_bytes() for p in target.iterdir()}

    def full_disk(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "save", full_disk)
    with pytest.raises(SpikeappError, match="No space left"):
        export(sorted_session, "phy", target)
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["phy"]  # no temporary left behind


def test_export_to_a_missing_or_read_only_folder_is_a_clear_error(sorted_session, tmp_path):
    with pytest.raises(SpikeappError, match="does not exist"):
        export(sorted_session, "nwb", tmp_path / "nowhere" / "x.nwb")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if not __import__("os").access(locked, __import__("os").W_OK):  # root can write anyway
            with pytest.raises(SpikeappError, match="cannot write"):
                export(sorted_session, "nix", locked / "x.nix")
    finally:
        locked.chmod(0o700)
