"""Spike trains out."""
