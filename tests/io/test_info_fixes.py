"""``spikeapp info`` on real files says what ``spikeapp import`` then finds: unit 0 is unsorted,
a unit's channel is its channel, and a segment lasts as long as its signal."""

from __future__ import annotations

import numpy as np
import pytest

from spikeapp.cli import format_info
from spikeapp.io.open import describe
from spikeapp.io.sortings import read_sorting

PLEXON = "neo_ephy_testing_data/plexon/File_plexon_1.plx"
BLACKROCK = "neo_ephy_testing_data/blackrock/FileSpec2.3001.nev"


def _rows(text: str) -> list[list[str]]:
    """The unit table of format_info, one list of words per unit."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:2] == ["name", "channel"])
    return [line.split() for line in lines[start + 1:] if line.startswith("  ")]


@pytest.mark.parametrize("relative", [PLEXON, BLACKROCK])
def test_info_calls_unit_0_unsorted_as_import_does(shared_data, relative):
    path = shared_data / relative
    info = describe(path)
    sorting = read_sorting(path)
    assert sorting.unit_names() == []   # import: every spike in unit 0, none in a unit
    text = format_info(info)
    assert "Sorted units in the file: 4" not in text
    assert "Sorted units in the file: none" in text
    assert f"unsorted spikes (unit 0) on 4 channel(s): {sorting.n_spikes} spikes" in text
    assert len(info.units) == 4 and all(u.unsorted and u.unit == "0" for u in info.units)
    assert sum(u.n_spikes for u in info.units) == sorting.n_spikes == int((sorting.units == "").sum())


def test_info_puts_plexon_and_blackrock_channels_in_the_channel_column(shared_data):
    blackrock = describe(shared_data / BLACKROCK)
    rows = _rows(format_info(blackrock))
    assert [row[1] for row in rows] == ["ch1", "ch3", "ch5", "ch7"]       # channel column
    assert [int(row[-1]) for row in rows] == [u.n_spikes for u in blackrock.units]
    assert [u.channel for u in blackrock.units] == ["ch1", "ch3", "ch5", "ch7"]
    assert all("#" not in u.name and "#" not in u.channel for u in blackrock.units)
    plexon = describe(shared_data / PLEXON)
    assert [(u.channel, u.label) for u in plexon.units] == [
        ("ch1", "sig01"), ("ch2", "sig02"), ("ch3", "sig03"), ("ch4", "sig04")]


def test_info_on_sorted_plexon_units_names_them_as_import_does(shared_data):
    path = shared_data / "plexon_sigtool_samples/explore1.plx"
    info = describe(path)
    assert not any(u.unsorted for u in info.units)
    assert [u.name for u in info.units] == read_sorting(path).unit_names()
    assert "Sorted units in the file: 4" in format_info(info)


def test_neuralynx_segment_lasts_as_long_as_its_signal(shared_data):
    info = describe(shared_data / "human_microwire_neuralynx_nwbpipeline")
    stream = info.streams[0]
    assert stream.n_samples / stream.sampling_rate == pytest.approx(16.0)
    assert info.segment_durations_s == pytest.approx((16.0,))
    text = format_info(info)
    assert "Segments  1 (16.000 s)" in text and "1619.170 s)" not in text
    assert any("1619.170 s" in note for note in info.notes)  # what the events span is still said


def test_neuralynx_tetrode_units_are_listed_once_as_import_reads_them(shared_data):
    path = shared_data / "neo_ephy_testing_data/neuralynx/Cheetah_v5.6.3/original_data"
    info = describe(path)
    sorting = read_sorting(path)
    assert [u.channel for u in info.units] == ["TT1", "TT2"]
    assert sum(u.n_spikes for u in info.units) == sorting.n_spikes
    assert np.array_equal(np.bincount(sorting.electrodes), [u.n_spikes for u in info.units])
