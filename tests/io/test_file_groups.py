"""Channel groups from the file: a tetrode written to NWB with its electrode group sorts as a
group with no options (it opened as four single channels: every neuron up to four times)."""

from __future__ import annotations

import numpy as np
import pytest

from spikeapp.detection import parse_groups
from spikeapp.io import open_recording
from spikeapp.io.writers import write_recording


@pytest.fixture(scope="module")
def tetrode_nwb(tmp_path_factory, demo):
    """The demo's two channels and two scaled copies as a tetrode (electrode group
    'tetrode0'), and a fifth channel, a single electrode of its own."""
    d = demo.data[: int(8 * demo.sampling_rate)]
    data = np.stack([d[:, 0], d[:, 1], 0.8 * d[:, 0], 0.8 * d[:, 1], d[:, 1]], axis=1)
    path = tmp_path_factory.mktemp("groups") / "tetrode.nwb"
    write_recording(path, data.astype(np.float32), demo.sampling_rate,
                    ["tt0a", "tt0b", "tt0c", "tt0d", "ref"], groups={"tetrode0": [0, 1, 2, 3]})
    return path


def test_nwb_electrode_groups_are_the_default_groups(tetrode_nwb):
    with open_recording(tetrode_nwb) as recording:
        assert recording.file_groups == [[0, 1, 2, 3], [4]]
        assert recording.file_group_names[0] == "tetrode0"
        assert parse_groups(None, recording.channel_ids, recording.file_groups) == [
            [0, 1, 2, 3], [4]]
        assert parse_groups(["single"], recording.channel_ids, recording.file_groups) is None
        assert parse_groups(["0-1"], recording.channel_ids, recording.file_groups) == [[0, 1]]


def test_spikeapp_detect_sorts_by_the_files_groups_with_no_options(tetrode_nwb, tmp_path):
    from spikeapp.cli import main
    from spikeapp.detection.pipeline import DetectionResult

    out = tmp_path / "d.npz"
    assert main(["detect", str(tetrode_nwb), "--out", str(out), "--quiet"]) == 0
    group_channels = DetectionResult.load(out).group_channels
    assert [list(row[row >= 0]) for row in group_channels] == [[0, 1, 2, 3], [4]]


def test_a_single_electrode_per_channel_is_no_group(demo, tmp_path):
    path = tmp_path / "two.nwb"
    write_recording(path, demo.data[: int(2 * demo.sampling_rate)], demo.sampling_rate,
                    ["0", "1"])
    with open_recording(path) as recording:
        assert recording.file_groups is None
