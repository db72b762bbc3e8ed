"""Cross-validated precision and recall per unit, and the learning curve."""

from __future__ import annotations

import pytest

from spikeapp.errors import SpikeappError
from spikeapp.tasks import run_job
from spikeapp.training.assess import assess_labels
from tests.training.test_training import FAST, toy_waveforms


def test_separable_units_score_high_and_the_curve_grows_with_labels():
    x, y = toy_waveforms(n_per_class=30)
    result = run_job(assess_labels(x, y, [10, 11, 12], training=FAST))
    assert result.support == [30, 30, 30]
    assert min(result.precision) > 0.9 and min(result.recall) > 0.9
    sizes = [n for n, _ in result.curve]
    assert sizes == sorted(sizes) and sizes[-1] == pytest.approx(20, abs=1)
    assert "labels per unit" in result.verdict


def test_too_few_labels_is_a_clear_error():
    x, y = toy_waveforms(n_per_class=2)
    with pytest.raises(SpikeappError, match="at least 3 labels"):
        run_job(assess_labels(x, y, [0, 1, 2], training=FAST))
