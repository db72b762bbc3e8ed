"""Every recording in ../shared/data with a continuous signal, checked against SOURCES.md."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io

from spikeapp.io import open_recording

# path, reader options, channels, rate (Hz), samples (segment 0)
CASES = [
    ("human_microwire_neuralynx_nwbpipeline", {}, 3, 32000.0, 512000),
    ("neo_ephy_testing_data/neuralynx/Cheetah_v5.5.1/original_data", {}, 2, 32000.0, None),
    ("neo_ephy_testing_data/neuralynx/Cheetah_v5.7.4/original_data", {}, 5, 32000.0, None),
    ("neo_ephy_testing_data/spike2/File_spike2_3.smr", {}, 1, 25000.0, 523446),
    ("neo_ephy_testing_data/spike2/File_spike2_1.smr", {}, 1, 200.803, 45688),
    ("neo_ephy_testing_data/openephys/OpenEphys_SampleData_1", {}, 2, 40000.0, 423936),
    ("neo_ephy_testing_data/intan/intan_fps_test_231117_052500/info.rhd", {}, 64, 30000.0, 24320),
    ("neo_ephy_testing_data/spikeglx/TEST_20210920_0_g0", {}, 384, 30000.0, 1000),
    ("axon_ndr_example/example.abf", {}, 1, 10000.0, 40000),
    ("neo_ephy_testing_data/blackrock/blackrock_2_1/l101210-001.ns2", {}, 6, 1000.0, 3640),
    ("neo_ephy_testing_data/plexon/File_plexon_3.plx", {}, 1, 1000.0, 600806),
    ("neo_ephy_testing_data/nwb/ecephys_tutorial_v2.5.0.nwb", {}, 4, 20000.0, 50),
    ("tridesclous_locust/locust_trial_01.raw",
     {"dtype": "int16", "sampling_rate": 15000.0, "n_channels": 4}, 4, 15000.0, 431548),
    ("tridesclous_purkinje_cell_attached/purkinje_cell_attached.raw",
     {"dtype": "float32", "sampling_rate": 15000.0, "n_channels": 1}, 1, 15000.0, 850500),
    ("quiroga2004_cbp_5s/C_Easy1_noise015_5sec.mat", {}, 1, 10000.0, 50000),
    ("harris2000_cbp_5s/harris_d533101_5sec.mat", {}, 4, 10000.0, 50000),
]


@pytest.mark.parametrize("relative, options, channels, rate, samples", CASES,
                         ids=[c[0].split("/")[-1] for c in CASES])
def test_reads_channel_count_rate_and_length(shared_data, relative, options, channels, rate,
                                             samples):
    with open_recording(shared_data / relative, **options) as recording:
        assert recording.n_channels == channels
        assert recording.sampling_rate == pytest.approx(rate, rel=1e-5)
        if samples is not None:
            assert recording.n_samples == samples
        block = recording.read(0, 1000)
        assert block.shape == (min(1000, recording.n_samples), channels)
        assert block.dtype == np.float32
        assert np.isfinite(block).all()


def _plain_neuralynx(path) -> np.ndarray:
    """First record's samples from the Neuralynx text exports (timestamp, ch, fs, n, samples)."""
    first = path.read_text().splitlines()[0].split()
    return np.asarray(first[4:4 + 512], dtype=float)


def test_neuralynx_values_match_the_text_export_in_microvolts(shared_data):
    base = shared_data / "neo_ephy_testing_data/neuralynx"
    with open_recording(base / "Cheetah_v5.7.4/original_data") as recording:
        values = recording.read(0, 512)
        csc1 = recording.channel_names.index("CSC1")
        # ADBitVolts 0.000000030517578125 V, InputInverted True (file header).
        expected = -_plain_neuralynx(base / "Cheetah_v5.7.4/plain_data/CSC1.txt") * 0.030517578125
        np.testing.assert_allclose(values[:, csc1], expected, rtol=1e-5, atol=1e-4)
    with open_recording(base / "Cheetah_v5.5.1/original_data") as recording:
        tet = recording.channel_names.index("Tet3a")
        expected = _plain_neuralynx(base / "Cheetah_v5.5.1/plain_data/Tet3a.txt") * 0.0305185
        np.testing.assert_allclose(recording.read(0, 512)[:, tet], expected, rtol=1e-5, atol=1e-3)


def test_blackrock_values_match_the_text_export(shared_data):
    path = shared_data / "neo_ephy_testing_data/blackrock/blackrock_2_1/l101210-001.ns2"
    with open_recording(path) as recording:
        assert recording.channel_names[0] == "ainp9"
        assert recording.read(0, 3)[:, 0] == pytest.approx([20905.17773438, 19074.06835938,
                                                            16785.1796875], rel=1e-6)


def test_binary_and_mat_values_match_the_files(shared_data):
    raw = shared_data / "tridesclous_locust/locust_trial_01.raw"
    expected = np.fromfile(raw, dtype="int16").reshape(-1, 4)
    with open_recording(raw, dtype="int16", sampling_rate=15000.0, n_channels=4,
                        channels="1-2") as recording:
        assert recording.channel_ids.tolist() == [1, 2]
        np.testing.assert_array_equal(recording.read(1000, 1010), expected[1000:1010, 1:3])
    mat = shared_data / "harris2000_cbp_5s/harris_d533101_5sec.mat"
    contents = scipy.io.loadmat(mat)
    with open_recording(mat) as recording:
        np.testing.assert_array_equal(recording.read(5, 8), contents["data"][:, 5:8].T)


def test_multisegment_and_stream_choice(shared_data):
    axon = shared_data / "axon_ndr_example/example.abf"
    with open_recording(axon, segment=27) as recording:
        assert recording.n_samples == 40000
        assert recording.t_start > 100
    intan = shared_data / "neo_ephy_testing_data/intan/intan_fps_test_231117_052500/info.rhd"
    with open_recording(intan, stream="RHD2000 auxiliary input channel") as recording:
        assert recording.n_channels == 6 and recording.sampling_rate == 7500.0
