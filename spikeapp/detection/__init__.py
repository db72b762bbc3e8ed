"""Filtering, noise estimation, threshold crossing and alignment, chunked numpy/scipy."""

from spikeapp.detection.pipeline import DetectionResult, detect, parse_groups

__all__ = ["DetectionResult", "detect", "parse_groups"]
