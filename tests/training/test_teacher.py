"""The LDA teacher that picks the self-training pseudo-labels, and training with it."""

import numpy as np

from spikeapp.tasks import run_job
from spikeapp.training.teacher import agreed_pseudo_labels, can_teach, lda_pseudo_labels, most_confident
from spikeapp.training.trainer import train_classifier
from tests.training.test_training import FAST, toy_waveforms


def test_most_confident_keeps_the_surest_per_class_above_the_floor():
    probabilities = np.array([[0.95, 0.05], [0.99, 0.01], [0.6, 0.4], [0.2, 0.8], [0.05, 0.95]])
    rows, columns = most_confident(probabilities, per_class=1, least=0.9)
    assert rows.tolist() == [1, 4] and columns.tolist() == [0, 1]
    rows, _ = most_confident(probabilities, per_class=10, least=0.9)
    assert sorted(rows.tolist()) == [0, 1, 4]  # 0.6 and 0.8 are below the floor


def test_teacher_labels_the_unlabelled_spikes_of_every_unit_correctly():
    x, y = toy_waveforms()
    labelled = np.concatenate([np.flatnonzero(y == c)[:5] for c in range(3)])
    pool = np.setdiff1d(np.arange(len(y)), labelled)
    rows, classes = lda_pseudo_labels(x[labelled], y[labelled], x[pool], per_class=40, least=0.9)
    assert set(classes.tolist()) == {0, 1, 2}
    assert np.bincount(classes).max() <= 40
    assert (classes == y[pool][rows]).mean() > 0.97
    assert not can_teach(np.array([0, 1])) and can_teach(np.array([0, 0, 1]))


def test_training_with_the_teacher_is_one_annealed_fit_and_calibrates_on_labels_it_never_chose():
    x, y = toy_waveforms()
    labelled = np.concatenate([np.flatnonzero(y == c)[:12] for c in range(3)])
    pool = np.setdiff1d(np.arange(len(y)), labelled)
    trained = run_job(train_classifier(x[labelled], y[labelled], ["a", "b", "c"],
                                       training=dict(FAST, validation_fraction=0.25, pseudo_labels=100,
                                                     teacher="lda"),
                                       unlabelled=x[pool]))
    assert trained.choice == {"teacher": "lda", "why": "pseudo-labels from the LDA teacher"}
    stages = {record["stage"] for record in trained.history}
    assert stages == {0} and len(trained.history) == max(1, FAST["epochs"] // 2)
    assert "val_accuracy" in trained.history[-1]
    assert trained.calibration["cross_fitted"] and trained.calibration["held_out"] == 9
    assert (trained.predict(x[pool]).labels == y[pool]).mean() > 0.9
    # The network's own first fit picks them when asked to: two stages.
    own = run_job(train_classifier(x[labelled], y[labelled], ["a", "b", "c"],
                                   training=dict(FAST, teacher="network", pseudo_labels=100),
                                   unlabelled=x[pool]))
    assert {record["stage"] for record in own.history} == {0, 1}


def test_broken_waveforms_reach_the_teacher_as_zeros_and_the_rest_as_they_are():
    import numpy as np

    from spikeapp.training.teacher import _flat

    waveforms = np.arange(12, dtype=np.float32).reshape(3, 2, 2)
    assert np.array_equal(_flat(waveforms), waveforms.reshape(3, 4))
    waveforms[0, 0, 0], waveforms[1, 1, 1], waveforms[2, 0, 1] = np.nan, np.inf, -np.inf
    flat = _flat(waveforms)
    assert np.isfinite(flat).all() and flat[0, 0] == flat[1, 3] == flat[2, 1] == 0
    assert flat[2, 3] == 11 and flat.dtype == np.float64


def test_agreed_pseudo_labels_are_the_spikes_both_teachers_name_and_are_sure_of():
    network = np.array([[0.95, 0.05], [0.99, 0.01], [0.97, 0.03], [0.2, 0.8], [0.02, 0.98],
                        [0.01, 0.99]])
    linear = np.array([[0.9, 0.1], [0.3, 0.7], [0.99, 0.01], [0.05, 0.95], [0.04, 0.96],
                       [0.03, 0.97]])
    rows, classes, agreed = agreed_pseudo_labels(network, linear, per_class=10, least=0.9)
    # Row 1: they disagree; row 3: the network is not sure. The surest first in each class.
    assert agreed == 4
    assert rows.tolist() == [2, 0, 5, 4] and classes.tolist() == [0, 0, 1, 1]
    rows, classes, agreed = agreed_pseudo_labels(network, linear, per_class=1, least=0.9)
    assert rows.tolist() == [2, 5] and agreed == 4


def test_the_default_teacher_is_two_fits_and_reports_what_the_teachers_agreed_on():
    x, y = toy_waveforms()
    labelled = np.concatenate([np.flatnonzero(y == c)[:5] for c in range(3)])
    pool = np.setdiff1d(np.arange(len(y)), labelled)
    trained = run_job(train_classifier(x[labelled], y[labelled], ["a", "b", "c"],
                                       training=dict(FAST, epochs=40, pseudo_labels=100),
                                       unlabelled=x[pool]))
    assert trained.choice["teacher"] == "agreement"
    assert 0 < trained.choice["agreed"] <= trained.choice["pool"] == len(pool)
    assert f"of {len(pool)} unlabelled spikes" in trained.choice["why"]
    assert {record["stage"] for record in trained.history} == {0, 1}
    assert trained.pseudo_labelled > 0 and trained.teacher_share == 0.5
    assert (trained.predict(x[pool]).labels == y[pool]).mean() > 0.9
    # The choice travels with the network.
    from spikeapp.training.checkpoint import checkpoint_bytes, load_checkpoint

    assert load_checkpoint(checkpoint_bytes(trained)).choice == trained.choice
    # One label per unit: LDA cannot estimate the noise, and the network teaches itself.
    one = np.array([np.flatnonzero(y == c)[0] for c in range(3)])
    alone = run_job(train_classifier(x[one], y[one], ["a", "b", "c"],
                                     training=dict(FAST, pseudo_labels=100), unlabelled=x[pool]))
    assert alone.choice["teacher"] == "network" and "LDA needs two" in alone.choice["why"]
