"""A unit nobody labelled is proposed as a candidate new unit after training."""

from __future__ import annotations

import numpy as np

from spikeapp.io.seeds import Seeds
from spikeapp.session import Session
from spikeapp.session import commands as cmd
from spikeapp.tasks import run_job
from spikeapp.workflow.sorting import apply_seeds, snapshot_training, train_and_predict


def test_an_unlabelled_unit_is_proposed(demo, demo_detection):
    session = Session(demo_detection)
    rng = np.random.default_rng(0)
    # Label A and B on channel 0; C (the largest spikes there) is left for the network to find.
    rows = np.concatenate([rng.choice(np.flatnonzero(demo.truth_units == u), 20, replace=False)
                           for u in ("A", "B")])
    apply_seeds(session, cmd.History(session), Seeds(demo.truth_times_s[rows],
                                                     demo.truth_channels[rows],
                                                     demo.truth_units[rows]))
    output = run_job(train_and_predict(snapshot_training(session, 0),
                                       training={"threads": 2, "pseudo_labels": 0}))
    d = session.detection
    on_c = np.array([np.abs(demo.truth_times_s[(demo.truth_units == "C")] - t).min() < 0.0004
                     for t in d.times_s[session.spikes_of_group(0)]])
    c_spikes = set(session.spikes_of_group(0)[on_c].tolist())
    assert output.candidates, "no candidate unit proposed"
    best = max(output.candidates, key=lambda spikes: len(c_spikes & set(spikes.tolist())))
    purity = len(c_spikes & set(best.tolist())) / len(best)
    coverage = len(c_spikes & set(best.tolist())) / len(c_spikes)
    # C is sharp (0.08 ms trough): aligned to whole samples it forms two clusters by sampling
    # phase, proposed as one unit.
    assert purity > 0.8 and coverage > 0.8, (purity, coverage, [len(c) for c in output.candidates])


def test_clusters_of_one_shape_shifted_by_half_a_sample_are_one_unit():
    """Two clusters whose means differ by a sub-sample shift merge; a different shape does not."""
    from spikeapp.nets import SpikeCNN
    from spikeapp.training.novelty import _merge_shifted
    from spikeapp.training.trainer import TrainedClassifier

    rng = np.random.default_rng(0)
    t = np.arange(48, dtype=float)

    def unit(centre, width, n):
        shape = -np.exp(-0.5 * ((t - centre) / width) ** 2)
        return shape + rng.normal(0, 0.05, (n, 48))

    waves = np.concatenate([unit(20, 1.0, 60), unit(20.5, 1.0, 60), unit(20, 3.0, 60),
                            unit(30, 2.0, 20)])[:, None, :].astype(np.float32)
    trained = TrainedClassifier(model=SpikeCNN(1, 48, 2).eval(), kind="cnn",
                                class_names=["x", "y"], scale=np.ones(1, np.float32),
                                input_shape=(1, 48), network_params={}, training_params={})
    labelled = np.arange(180, 200)
    clusters = [np.arange(0, 60), np.arange(60, 120), np.arange(120, 180)]
    merged = _merge_shifted(clusters, trained, waves, labelled, np.zeros(20, np.int64))
    assert sorted(len(c) for c in merged) == [60, 120]
    assert set(np.concatenate([c for c in merged if len(c) == 120])) == set(range(120))
