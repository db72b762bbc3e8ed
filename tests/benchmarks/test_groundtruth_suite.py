"""The ground-truth suite's simulator and scoring: what its figures rest on."""

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

# Imported plainly: an import error in the suite (or in the project's modules it uses) fails
# here instead of skipping every test of what its figures rest on.
import groundtruth  # noqa: E402
import gtsim  # noqa: E402


def _case(name: str, seconds: float = 8.0, seed: int = 101):
    case = next(c for c in gtsim.suite_cases(seed) if c.name == name)
    return replace(case, duration_s=seconds)


def test_units_have_the_snr_they_were_given_and_truth_marks_their_troughs():
    sim = gtsim.simulate(_case("single_3u_noisy"), seed=101)
    assert np.allclose(sim.snr, [u.snr for u in sim.case.units], rtol=1e-6)
    filtered = gtsim.band_pass(sim.data.astype(np.float64), sim.case.fs)[:, 0]
    assert gtsim.robust_sd(filtered[:, None])[0] == pytest.approx(1.0, rel=0.05)
    # The biggest unit's true times sit on troughs about snr deep (5 % amplitude jitter,
    # noise on top).
    big = int(np.argmax(sim.snr))
    samples = np.round(sim.truth_times_s[sim.truth_units == big] * sim.case.fs).astype(int)
    assert np.median(filtered[samples]) == pytest.approx(-sim.snr[big], rel=0.15)


def test_seeds_split_tuning_from_reporting_and_are_reproducible():
    assert not set(gtsim.TUNING_SEEDS) & set(gtsim.REPORTING_SEEDS)
    assert len(gtsim.suite_cases(1)) >= 12 and len(gtsim.REPORTING_SEEDS) >= 3
    a = gtsim.simulate(_case("tetrode_4u", 2.0, seed=1), seed=1)
    b = gtsim.simulate(_case("tetrode_4u", 2.0, seed=1), seed=1)
    assert np.array_equal(a.data, b.data) and a.data.shape[1] == 4
    # Each seed is its own set of neurons: no unit's shape, SNR or rate, no hybrid's stretch of
    # noise, is shared between a tuning seed and a reporting seed.
    drawn = {seed: gtsim.suite_cases(seed) for seed in gtsim.TUNING_SEEDS + gtsim.REPORTING_SEEDS}
    for tuning in gtsim.TUNING_SEEDS:
        for reporting in gtsim.REPORTING_SEEDS:
            for x, y in zip(drawn[tuning], drawn[reporting]):
                assert x.name == y.name and len(x.units) == len(y.units)
                for u, v in zip(x.units, y.units):
                    assert u.snr != v.snr and u.rate_hz != v.rate_hz
                    assert u.real == v.real and (u.real or u.shape != v.shape)
    hybrid = next(c for c in gtsim.suite_cases(1) if c.kind == "hybrid")
    silent = replace(hybrid, duration_s=1.0, units=(replace(hybrid.units[0], rate_hz=0.0),))
    noise = [gtsim.simulate(silent, seed).data[:, 0] for seed in (1, 101)]
    assert abs(np.corrcoef(*noise)[0, 1]) < 0.2     # other stretches of the microwires


def test_scoring_matches_detections_one_to_one_and_lda_beats_chance():
    from spikeapp.detection import detect
    from spikeapp.io.base import ArrayRecording
    from spikeapp.session import Session
    from spikeapp.tasks import run_job

    sim = gtsim.simulate(_case("single_2u_clean", 20.0), seed=101)
    detection = run_job(detect(ArrayRecording(sim.data, sim.case.fs)))
    session = Session(detection)
    truth = groundtruth.match_group(sim, session, 0, np.array([0]))
    matched = truth.true_index[truth.true_index >= 0]
    assert len(np.unique(matched)) == len(matched)          # one detection per true spike
    gaps = np.abs(detection.times_s[truth.spikes[truth.true_index >= 0]]
                  - sim.truth_times_s[matched])
    assert gaps.max() <= groundtruth.TOLERANCE_S
    labelled = [groundtruth.draw_labels(truth, 20, np.random.default_rng(0))]
    lda, lda_self, ceiling = groundtruth.lda_accuracies(session, [truth], labelled)
    assert 0.7 < lda <= 1 and 0.7 < ceiling <= 1
    assert 0.7 < lda_self <= 1     # the teacher alone, self-trained: the baseline to beat
    # Noise labels (--noise-labels): detections that are no unit's spike, labelled as the
    # group's noise unit; the LDA then has a noise class, so it can call a true spike noise.
    noise = [groundtruth.draw_noise(truth, 10, np.random.default_rng(0))]
    assert len(noise[0]) == 10 and (truth.true_unit[noise[0]] == -1).all()
    groundtruth.label_session(session, [truth], labelled, noise)
    noise_unit = session.unit_by_name(0, "noise")
    assert noise_unit.quality == "noise"
    assert (session.assignment[truth.spikes[noise[0]]] == noise_unit.id).all()
    with_noise, _, same_ceiling = groundtruth.lda_accuracies(session, [truth], labelled, noise)
    assert same_ceiling == ceiling and 0.6 < with_noise <= 1


def test_two_detections_near_one_true_spike_claim_it_once():
    from types import SimpleNamespace

    from tests.session.test_selection_and_commands import small_session

    session = small_session()
    session.detection.times_s[1] = 0.0003          # 0.3 ms after detection 0, both near truth
    sim = SimpleNamespace(channel_amplitude=np.array([[10.0, 0.0]]),
                          truth_units=np.array([0, 0]), truth_times_s=np.array([0.0001, 0.05]))
    truth = groundtruth.match_group(sim, session, 0, np.array([0]))
    # The nearer detection (0) takes the true spike; detection 1 is no true spike; 0.05 s is
    # detection 5.
    assert truth.true_index[:6].tolist() == [0, -1, -1, -1, -1, 1]
