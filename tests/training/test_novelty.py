"""A unit nobody labelled is proposed as a candidate new unit after training."""

from __future__ import annotations

import numpy as np

from spikeapp.io.seeds import Seeds
from spikeapp.session import Session
from spikeapp.session import commands as cmd
from spikeapp.sorting import apply_seeds, snapshot_training, train_and_predict
from spikeapp.tasks import run_job


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
    assert purity > 0.8 and coverage > 0.5, (purity, coverage, [len(c) for c in output.candidates])
