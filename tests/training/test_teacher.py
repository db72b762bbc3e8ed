"""The LDA teacher that picks the self-training pseudo-labels, and training with it."""

import numpy as np

from spikeapp.tasks import run_job
from spikeapp.training.teacher import can_teach, lda_pseudo_labels, most_confident
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
                                       training=dict(FAST, validation_fraction=0.25, pseudo_labels=100),
                                       unlabelled=x[pool]))
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
