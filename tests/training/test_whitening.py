"""Noise whitening (estimated from residuals, applied inside the networks), the augmentation's
sub-sample jitter and prediction averaged over the sampling phase."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from spikeapp.nets import SpikeCNN
from spikeapp.tasks import run_job
from spikeapp.training.augment import fractional_shift, shift_all
from spikeapp.training.checkpoint import checkpoint_bytes, load_checkpoint
from spikeapp.training.trainer import train_classifier
from spikeapp.training.whitening import noise_whitening

from .test_training import FAST, toy_waveforms


def correlated_noise(n, channels=2, samples=48, seed=0):
    """Noise correlated along time (AR(1), rho 0.9) and between channels (0.7), unequal
    channel powers: what band-passed background activity on a tetrode looks like."""
    rng = np.random.default_rng(seed)
    white = rng.normal(size=(n, channels, samples))
    ar = np.zeros_like(white)
    for t in range(samples):
        ar[:, :, t] = white[:, :, t] + (0.9 * ar[:, :, t - 1] if t else 0.0)
    mixing = np.linalg.cholesky(np.array([[1.0, 0.7], [0.7, 1.0]]))[:channels, :channels]
    return np.einsum("dc,ncs->nds", mixing * [[1.0], [2.0]][:channels], ar)


def test_whitening_makes_correlated_noise_white():
    spatial, temporal = noise_whitening(correlated_noise(4000))
    fresh = correlated_noise(4000, seed=1)
    whitened = spatial @ fresh @ temporal.T
    covariance = np.cov(whitened.reshape(len(fresh), -1), rowvar=False)
    before = np.cov(fresh.reshape(len(fresh), -1), rowvar=False)
    # Correlations between neighbouring samples drop from 0.9 to about 0.
    assert abs(np.corrcoef(fresh[:, 0, 10], fresh[:, 0, 11])[0, 1]) > 0.8
    assert abs(np.corrcoef(whitened[:, 0, 10], whitened[:, 0, 11])[0, 1]) < 0.1
    assert abs(np.corrcoef(whitened[:, 0, 10], whitened[:, 1, 10])[0, 1]) < 0.1
    # Off the edges, every sample's variance is close to 1.
    middle = np.diag(covariance).reshape(2, -1)[:, 8:-8]
    assert np.allclose(middle, 1.0, atol=0.25), middle
    assert np.diag(before).max() > 10


def test_whitening_with_too_little_noise_is_the_identity():
    spatial, temporal = noise_whitening(np.zeros((5, 2, 16)))     # units of one label each
    assert np.array_equal(spatial, np.eye(2)) and np.array_equal(temporal, np.eye(16))
    spatial, temporal = noise_whitening(correlated_noise(1, samples=16))
    assert np.array_equal(temporal, np.eye(16))


def test_network_applies_its_whitening_and_stores_it():
    net = SpikeCNN(2, 48, 3).eval()
    x = torch.as_tensor(correlated_noise(6), dtype=torch.float32)
    assert torch.equal(net.whitening(x), x)            # identity until set
    spatial, temporal = noise_whitening(correlated_noise(500))
    net.whitening.set(torch.as_tensor(spatial), torch.as_tensor(temporal))
    expected = torch.as_tensor(spatial) @ x @ torch.as_tensor(temporal).T
    assert torch.allclose(net.whitening(x), expected, atol=1e-5)
    assert {"whitening.spatial", "whitening.temporal"} <= set(net.state_dict())


def test_trainer_whitens_unless_told_not_to_and_checkpoints_keep_it():
    x, y = toy_waveforms(channels=2)
    whitened = run_job(train_classifier(x, y, ["a", "b", "c"], training=dict(FAST, epochs=20)))
    plain = run_job(train_classifier(x, y, ["a", "b", "c"], training=dict(FAST, whiten=False)))
    assert not torch.equal(whitened.model.whitening.temporal, torch.eye(64))
    assert torch.equal(plain.model.whitening.temporal, torch.eye(64))
    assert (whitened.predict(x).labels == y).mean() > 0.95
    loaded = load_checkpoint(checkpoint_bytes(whitened))
    assert torch.equal(loaded.model.whitening.temporal, whitened.model.whitening.temporal)


def test_networks_saved_before_whitening_still_load():
    """A format-1 network (no whitening buffers) loads with identity whitening and predicts as
    it did: sessions saved by earlier versions keep their network."""
    x, y = toy_waveforms()
    trained = run_job(train_classifier(x, y, ["a", "b", "c"], training=dict(FAST, whiten=False)))
    payload = torch.load(io.BytesIO(checkpoint_bytes(trained)), weights_only=True)
    payload["format_version"] = 1
    payload["state_dict"] = {k: v for k, v in payload["state_dict"].items()
                             if not k.startswith("whitening.")}
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    loaded = load_checkpoint(buffer.getvalue())
    np.testing.assert_allclose(loaded.predict(x).probabilities, trained.predict(x).probabilities,
                               atol=1e-5)


@pytest.mark.parametrize("shift", [0.0, 1.0, -2.0, 0.5, -0.25])
def test_fractional_shift_interpolates_between_samples(shift):
    t = torch.arange(32, dtype=torch.float32)
    ramp = t[None, None, :].repeat(1, 2, 1)                # value = sample index
    moved = fractional_shift(ramp, torch.tensor([shift]))
    # Away from the held edges, a ramp shifted later by s reads (index - s) everywhere.
    assert torch.allclose(moved[0, :, 4:-4], ramp[0, :, 4:-4] - shift, atol=1e-5)


@pytest.mark.parametrize("shift", [0.0, 0.5, -0.5, 0.25, -1.75, 3.0])
def test_one_shift_for_all_is_the_per_waveform_shift(shift):
    x = torch.randn(5, 2, 32)
    np.testing.assert_allclose(shift_all(x, shift), fractional_shift(x, torch.full((5,), shift)),
                               atol=1e-6)


def test_network_input_has_unit_size_whatever_the_recording_units():
    """Waveforms in microvolts or in volts: once scaled and whitened, what the network sees has
    SD about 1 (the size its initial weights expect)."""
    x, y = toy_waveforms(channels=2)
    for factor in (1e-6, 1.0, 100.0):
        trained = run_job(train_classifier(x * factor, y, ["a", "b", "c"], training=FAST))
        scaled = torch.as_tensor(x * factor) / torch.as_tensor(trained.scale)[None, :, None]
        seen = trained.model.whitening(scaled)
        assert 0.7 < float(seen.std()) < 1.3, (factor, float(seen.std()))


def test_prediction_averages_the_network_over_the_sampling_phase():
    """With phase_average, a spike's logits are the mean of the network's outputs on it shifted
    by -jitter, 0 and +jitter samples; without it (or without jitter), one pass."""
    x, y = toy_waveforms(channels=2)
    trained = run_job(train_classifier(x, y, ["a", "b", "c"], training=dict(FAST, jitter=0.5)))
    assert trained.phase_shifts() == (-0.5, 0.0, 0.5)
    scaled = torch.as_tensor(x) / torch.as_tensor(trained.scale)[None, :, None]
    trained.model.eval()
    with torch.no_grad():
        expected = sum(trained.model(fractional_shift(scaled, torch.full((len(x),), s)))
                       for s in (-0.5, 0.0, 0.5)) / 3
        single = trained.model(scaled)
    np.testing.assert_allclose(trained.logits(x), expected.numpy(), atol=1e-4)
    assert not np.allclose(trained.logits(x), single.numpy(), atol=1e-4)
    original = trained.training_params
    trained.training_params = dict(original, phase_average=False)
    np.testing.assert_allclose(trained.logits(x), single.numpy(), atol=1e-5)
    for params in ({"jitter": 0.0}, {"augment": False}):
        trained.training_params = dict(original, **params)
        assert trained.phase_shifts() == (0.0,)


def test_networks_saved_before_phase_averaging_predict_as_they_did():
    """A network whose parameters predate phase_average predicts in one pass, as when it was
    saved; one saved with it keeps it."""
    x, y = toy_waveforms()
    trained = run_job(train_classifier(x, y, ["a", "b", "c"], training=FAST))
    loaded = load_checkpoint(checkpoint_bytes(trained))
    assert loaded.phase_shifts() == trained.phase_shifts() == (-0.5, 0.0, 0.5)
    payload = torch.load(io.BytesIO(checkpoint_bytes(trained)), weights_only=True)
    del payload["training_params"]["phase_average"]
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    assert load_checkpoint(buffer.getvalue()).phase_shifts() == (0.0,)
