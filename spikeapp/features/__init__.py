"""Waveform storage, PCA features and amplitudes."""
