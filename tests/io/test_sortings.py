"""Sortings made elsewhere: units in recording files (neo), phy folders, spikeapp's exports."""

from __future__ import annotations

import copy
import shutil

import numpy as np
import pytest

from spikeapp.errors import RecordingError, SpikeappError
from spikeapp.export import export
from spikeapp.io.sortings import read_sorting
from spikeapp.session import IMPORTED, Session
from spikeapp.session import commands as cmd
from spikeapp.session.storage import load_session, save_session
from spikeapp.workflow.importing import import_onto, session_from_sorting
from spikeapp.workflow.sorting import snapshot_training, trainable_groups


def neo_counts(path, **kwargs):
    """Spikes per spike channel, as neo itself reads them."""
    from spikeapp.io.neo_reader import neo_candidates, open_rawio

    for candidate in neo_candidates(path):
        try:
            rawio = open_rawio(path, candidate)
            break
        except RecordingError:
            continue
    channels = rawio.header["spike_channels"]
    return {(str(c["name"]), str(c["id"])): rawio.spike_count(0, 0, i)
            for i, c in enumerate(channels)}


def test_blackrock_utah_array_units_become_trainable_imported_labels(shared_data):
    path = shared_data / "neo_ephy_testing_data/blackrock/blackrock_2_1/l101210-001.nev"
    sorting = read_sorting(path)
    counts = neo_counts(path)
    assert sorting.n_spikes == sum(counts.values()) == 14210
    sorted_units = {f"ch{name[2:].split('#')[0]} u{name.split('#')[1]}": n
                    for (name, _), n in counts.items() if not name.endswith("#0")}
    assert {u: int((sorting.units == u).sum()) for u in sorting.unit_names()} == sorted_units
    assert sorting.waveforms.shape == (14210, 1, 48)
    session, report = session_from_sorting(sorting)
    assert report.units == len(sorted_units) and report.labelled == sum(sorted_units.values())
    assert set(np.unique(session.source[session.assignment >= 0])) == {IMPORTED}
    groups = trainable_groups(session)
    assert groups
    data = snapshot_training(session, groups[0])
    assert len(data.classes) == int(((session.assignment >= 0)
                                    & (session.detection.channels == groups[0])).sum())


def test_neuralynx_tetrodes_keep_four_channels_and_no_duplicates(shared_data, tmp_path):
    path = shared_data / "neo_ephy_testing_data/neuralynx/Cheetah_v5.6.3/original_data"
    sorting = read_sorting(path, unsorted_as_unit=True)
    assert [len(e.channel_ids) for e in sorting.electrode_list] == [4, 4]
    assert sorting.waveforms.shape[1:] == (4, 32)
    assert sorting.unit_names() == ["TT1 u0", "TT2 u0"]
    counts = neo_counts(path)
    per_tetrode = {}
    for (name, _), n in counts.items():
        per_tetrode[name.split("#")[0]] = n  # neo repeats a tetrode's spikes per channel
    assert sorting.n_spikes == sum(per_tetrode.values())
    session, _ = session_from_sorting(sorting)
    assert session.detection.waveforms.shape[1] == 4 and len(session.groups) == 2
    # Each group is named as the file names the tetrode, in the channel box and after a save.
    d = session.detection
    assert [d.group_label(int(g)).split(":")[0] for g in d.group_ids] == ["TT1", "TT2"]
    save_session(session, tmp_path / "tetrodes.spikeapp")
    again = load_session(tmp_path / "tetrodes.spikeapp").detection
    assert again.group_label(int(again.group_ids[1])).startswith("TT2: ")


def test_unit_zero_is_unsorted_unless_asked(shared_data):
    path = shared_data / "neo_ephy_testing_data/plexon/File_plexon_1.plx"
    plain = read_sorting(path)
    assert plain.unit_names() == [] and "unit 0" in plain.notes[0]
    kept = read_sorting(path, unsorted_as_unit=True)
    counts = neo_counts(path)
    assert {u: int((kept.units == u).sum()) for u in kept.unit_names()} == {
        f"ch{ident[2:].split('#')[0]} u0": n for (_, ident), n in counts.items()}


def test_spike2_wavemarks(shared_data):
    sorting = read_sorting(shared_data / "neo_ephy_testing_data/spike2/File_spike2_2.smr")
    assert sorting.n_spikes == 646 and len(sorting.unit_names()) == 4
    assert int((sorting.units == "").sum()) == 9
    session, report = session_from_sorting(sorting)
    assert report.labelled == 637 and session.detection.waveforms.shape == (646, 1, 100)


def test_a_sorting_without_waveforms_needs_its_recording(shared_data):
    sorting = read_sorting(shared_data / "plexon_sigtool_samples/explore1.plx")
    assert len(sorting.unit_names()) == 4 and sorting.waveforms is None
    with pytest.raises(SpikeappError, match="no waveforms"):
        session_from_sorting(sorting)


def test_phy_example_folder_matches_neo_phyio(shared_data):
    from neo.io import PhyIO

    folder = shared_data / "phy_data_template/template"
    sorting = read_sorting(folder)
    block = PhyIO(dirname=str(folder)).read_block()
    trains = block.segments[0].spiketrains
    assert sorting.n_spikes == sum(len(t) for t in trains) == 314
    assert len(sorting.unit_names()) == len(trains) == 62
    for train in trains:
        name = f"cluster {int(train.annotations['cluster_id'])}"
        assert np.allclose(np.sort(sorting.times_s[sorting.units == name]),
                           np.sort(train.times.rescale("s").magnitude))


@pytest.mark.parametrize("fmt,name", [("phy", "phy"), ("csv", "s.csv"), ("nix", "s.nix")])
def test_own_exports_import_back_onto_the_same_detections(sorted_session, demo_detection,
                                                          tmp_path, fmt, name):
    export(sorted_session, fmt, tmp_path / name)
    fresh = Session(copy.deepcopy(demo_detection))
    history = cmd.History(fresh)
    report = import_onto(fresh, history, read_sorting(tmp_path / name))
    assigned = sorted_session.assignment >= 0
    assert report.labelled == int(assigned.sum()) and report.unmatched == 0
    names = {u.id: u.name for u in sorted_session.units.values()}
    again = {u.id: u.name for u in fresh.units.values()}
    for spike in np.flatnonzero(assigned):
        assert again[int(fresh.assignment[spike])] == names[int(sorted_session.assignment[spike])]
    assert set(np.unique(fresh.source[assigned])) == {IMPORTED}
    history.undo()
    assert (fresh.assignment == -1).all() and not fresh.units


def test_malformed_phy_folders_are_named_errors(shared_data, tmp_path):
    folder = tmp_path / "phy"
    shutil.copytree(shared_data / "phy_data_template/template", folder)
    np.save(folder / "spike_clusters.npy", np.zeros(5, np.int32))
    with pytest.raises(RecordingError, match="spike_times.npy has 314 spikes"):
        read_sorting(folder)
    (folder / "spike_times.npy").unlink()
    with pytest.raises(RecordingError, match="spike_times.npy is missing"):
        read_sorting(folder)
    (folder / "params.py").write_text("sample_rate = (\n")
    with pytest.raises(RecordingError, match="params.py"):
        read_sorting(folder)


def test_csv_without_the_needed_columns(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(RecordingError, match="unit, channel and time_s"):
        read_sorting(path)
