"""Per-unit quality metrics, recomputed after every edit."""

from spikeapp.metrics.units import UnitMetrics, correlogram, firing_rate, isi_histogram, unit_metrics

__all__ = ["UnitMetrics", "correlogram", "firing_rate", "isi_histogram", "unit_metrics"]
