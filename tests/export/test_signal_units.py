"""Exports say what unit their waveform amplitudes are in: µV (NWB: volts) where the recording
gave a gain, arbitrary units ("a.u.", values unscaled) where it did not."""

from __future__ import annotations

import numpy as np
import pytest

from spikeapp.export import export
from spikeapp.export.common import mean_waveform, unit_trains


@pytest.fixture
def arbitrary(sorted_session, monkeypatch):
    """The sorted demo as if its recording had no gain (raw int16 without --gain)."""
    monkeypatch.setitem(sorted_session.detection.params, "signal_unit", "a.u.")
    assert sorted_session.detection.signal_unit == "a.u."
    return sorted_session


def _nwb_units(session, path):
    from pynwb import NWBHDF5IO

    export(session, "nwb", path,
           subject={"subject_id": "demo-1", "species": "Mus musculus", "age": "P90D"})
    with NWBHDF5IO(str(path), "r") as io:
        units = io.read().units
        return (units.waveform_unit, units["waveform_mean"].description,
                units.to_dataframe())


def test_nwb_waveforms_in_arbitrary_units_are_not_called_volts(arbitrary, tmp_path):
    from nwbinspector import Importance, inspect_nwbfile

    path = tmp_path / "au.nwb"
    unit, description, table = _nwb_units(arbitrary, path)
    assert unit == "a.u."
    assert "arbitrary" in description and "volt" not in description.lower()
    for train, (_, row) in zip(unit_trains(arbitrary), table.iterrows()):
        # unscaled: the values the session shows, not multiplied by 1e-6
        assert np.allclose(np.asarray(row["waveform_mean"]),
                           mean_waveform(arbitrary, train.spikes).T)
    serious = [m for m in inspect_nwbfile(nwbfile_path=str(path))
               if m.importance in (Importance.CRITICAL, Importance.ERROR)]
    assert not serious, [m.message for m in serious]


def test_nwb_waveforms_in_microvolts_stay_volts(sorted_session, tmp_path):
    assert sorted_session.detection.signal_unit == "µV"
    unit, _, table = _nwb_units(sorted_session, tmp_path / "uv.nwb")
    assert unit == "volts"
    train = unit_trains(sorted_session)[0]
    assert np.allclose(np.asarray(table.iloc[0]["waveform_mean"]),
                       mean_waveform(sorted_session, train.spikes).T * 1e-6)


@pytest.mark.parametrize("unit", ["a.u.", "µV"])
def test_nix_waveforms_carry_the_signal_unit(sorted_session, monkeypatch, tmp_path, unit):
    import quantities as pq
    from neo.io import NixIO

    monkeypatch.setitem(sorted_session.detection.params, "signal_unit", unit)
    path = tmp_path / "sorting.nix"
    export(sorted_session, "nix", path, waveforms=True)
    with NixIO(str(path), mode="ro") as io:
        trains = [t for b in io.read_all_blocks() for t in b.segments[0].spiketrains]
    want = pq.dimensionless if unit == "a.u." else pq.uV
    assert trains and all(t.waveforms.units == want for t in trains)
    assert all(t.annotations["waveform_unit"] == unit for t in trains)


@pytest.mark.parametrize("unit", ["a.u.", "µV"])
def test_wave_clus_and_phy_say_the_signal_unit(sorted_session, monkeypatch, tmp_path, unit):
    import scipy.io
    from phylib.io.model import load_model

    monkeypatch.setitem(sorted_session.detection.params, "signal_unit", unit)
    export(sorted_session, "mat", tmp_path / "mat")
    for path in (tmp_path / "mat").iterdir():
        assert str(scipy.io.loadmat(path)["spikes_unit"][0]) == unit
    export(sorted_session, "phy", tmp_path / "phy")
    model = load_model(tmp_path / "phy" / "params.py")
    assert model.waveform_unit == unit
    model.close()


def test_a_nix_export_in_arbitrary_units_imports_again_as_arbitrary_units(arbitrary, tmp_path):
    """The NIX export of a recording without a gain wrote dimensionless waveforms, and the
    import rescaled them to µV (a ValueError); a session of a sorting in raw units says a.u."""
    from spikeapp.io.sortings import read_sorting
    from spikeapp.workflow.importing import session_from_sorting

    path = tmp_path / "au.nix"
    export(arbitrary, "nix", path, waveforms=True)
    sorting = read_sorting(path)
    assert sorting.waveform_units == "a.u." and sorting.waveforms is not None
    session, _ = session_from_sorting(sorting)
    assert session.detection.signal_unit == "a.u."


def test_a_plexon_sorting_in_raw_units_opens_as_arbitrary_units(shared_data):
    from spikeapp.io.sortings import read_sorting
    from spikeapp.workflow.importing import session_from_sorting

    sorting = read_sorting(shared_data / "neo_ephy_testing_data/plexon/File_plexon_1.plx",
                           unsorted_as_unit=True)
    session, _ = session_from_sorting(sorting)
    expected = "µV" if str(sorting.waveform_units).lower() in ("uv", "µv") else "a.u."
    assert session.detection.signal_unit == expected == "a.u."
