"""Per-unit quality metrics, recomputed after every edit."""

from spikeapp.metrics.units import UnitMetrics, correlogram, isi_histogram, unit_metrics

__all__ = ["UnitMetrics", "correlogram", "isi_histogram", "unit_metrics"]
