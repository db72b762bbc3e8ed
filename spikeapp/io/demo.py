"""A seeded demo recording with known ground truth.

Two independent microwire-like channels at 24 kHz, three well-isolated units each plus a small
multi-unit-like unit below the detection threshold on channel 1. Units fire as Poisson processes
with a refractory period; background noise is 1/f-coloured with a floor of tiny far-away spikes;
a few spikes of neighbouring units overlap in time. Ground-truth times are the times of each
spike's extremum.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from spikeapp.errors import SpikeappError
from spikeapp.io.base import ArrayRecording

DEMO_RATE = 24_000.0
NOISE_UV = 12.0          # SD of the background noise after band-pass filtering, roughly
_TEMPLATE_MS = 3.0
_PEAK_AT = 24            # template sample of the extremum (1 ms at 24 kHz)


@dataclass(frozen=True)
class DemoUnit:
    name: str
    channel: int
    rate_hz: float
    amplitude_uv: float   # depth of the negative peak
    shape: tuple[float, float, float, float]  # trough width, repolarisation delay, width, ratio


UNITS = (
    DemoUnit("A", 0, 12.0, 130.0, (0.10, 0.30, 0.25, 0.45)),
    DemoUnit("B", 0, 8.0, 115.0, (0.16, 0.45, 0.40, 0.25)),
    DemoUnit("C", 0, 5.0, 180.0, (0.08, 0.22, 0.15, 0.70)),
    DemoUnit("D", 1, 8.0, 140.0, (0.12, 0.38, 0.35, 0.20)),
    DemoUnit("E", 1, 6.0, 160.0, (0.09, 0.26, 0.20, 0.55)),
    DemoUnit("F", 1, 9.0, 120.0, (0.20, 0.55, 0.50, 0.35)),
    DemoUnit("mua", 1, 8.0, 30.0, (0.25, 0.60, 0.50, 0.50)),
)


BELOW_THRESHOLD = "mua"  # the small unit: background for the others, not sortable


@dataclass
class DemoRecording:
    """Signal in microvolts (samples x channels) and its ground truth."""

    data: NDArray[np.float32]
    sampling_rate: float
    truth_times_s: NDArray[np.float64]
    truth_channels: NDArray[np.int64]
    truth_units: NDArray[np.str_]
    templates: dict[str, NDArray[np.float64]]

    def recording(self) -> ArrayRecording:
        return ArrayRecording(self.data, self.sampling_rate, path="<demo>", format_name="demo",
                              channel_names=[f"wire{i}" for i in range(self.data.shape[1])])


def unit_template(unit: DemoUnit, fs: float = DEMO_RATE) -> NDArray[np.float64]:
    """Extracellular action potential: a sharp trough, then a slower positive repolarisation."""
    t = (np.arange(round(_TEMPLATE_MS * fs / 1000)) - _PEAK_AT) / fs * 1000  # ms
    trough_w, delay, rep_w, ratio = unit.shape
    wave = (-np.exp(-0.5 * (t / trough_w) ** 2)
            + ratio * np.exp(-0.5 * ((t - delay) / rep_w) ** 2)
            + 0.12 * np.exp(-0.5 * ((t + 0.25) / 0.12) ** 2))
    wave /= -wave[_PEAK_AT]
    return unit.amplitude_uv * wave


def _spike_train(rng: np.random.Generator, rate: float, duration: float,
                 refractory: float = 0.0025) -> NDArray[np.float64]:
    """Poisson train with an absolute refractory period."""
    intervals = refractory + rng.exponential(1.0 / rate - refractory, int(rate * duration * 2) + 20)
    times = np.cumsum(intervals)
    return times[times < duration - 0.01]


def _coloured_noise(rng: np.random.Generator, n: int, channels: int) -> NDArray[np.float64]:
    """1/f^0.6 noise per channel, unit SD."""
    spectrum = rng.normal(size=(channels, n // 2 + 1)) + 1j * rng.normal(size=(channels, n // 2 + 1))
    freqs = np.fft.rfftfreq(n, 1.0 / DEMO_RATE)
    freqs[0] = freqs[1]
    noise = np.fft.irfft(spectrum / freqs**0.3, n=n, axis=-1)
    return (noise / noise.std(axis=-1, keepdims=True)).T


def make_demo(seed: int = 0, duration_s: float = 60.0) -> DemoRecording:
    """Generate the demo recording (deterministic for a given seed)."""
    if not 0.5 <= duration_s <= 3600:
        raise SpikeappError(f"the demo lasts 0.5 to 3600 s, not {duration_s:g}")
    rng = np.random.default_rng(seed)
    fs = DEMO_RATE
    n = int(duration_s * fs)
    n_channels = 1 + max(u.channel for u in UNITS)
    data = 20.0 * _coloured_noise(rng, n, n_channels)
    # A floor of small spikes from far-away neurons (Quiroga et al. 2004's background).
    for channel in range(n_channels):
        for _ in range(12):
            far = DemoUnit("bg", channel, 0, rng.uniform(5, 18),
                           (rng.uniform(0.08, 0.2), rng.uniform(0.2, 0.5), rng.uniform(0.15, 0.5),
                            rng.uniform(0.2, 0.6)))
            _add_spikes(data, unit_template(far), _spike_train(rng, rng.uniform(5, 20),
                                                               duration_s), channel, fs)
    times, channels, names, templates = [], [], [], {}
    for unit in UNITS:
        template = unit_template(unit)
        templates[unit.name] = template
        train = _spike_train(rng, unit.rate_hz, duration_s)
        if unit.name in ("B", "E"):
            # Overlaps: some spikes 1.1-2 ms after a spike of the channel's first unit, so that
            # the two waveforms overlap but both can still be detected after the dead time.
            partner = times[channels.index(unit.channel)] if unit.channel in channels else None
            if partner is not None:
                k = min(15, len(partner) // 4)
                extra = rng.choice(partner, k, replace=False) + rng.uniform(1.1e-3, 2e-3, k)
                train = np.sort(np.concatenate([train, extra]))
                train = train[np.concatenate([[True], np.diff(train) > 0.0025])]
        _add_spikes(data, template, train, unit.channel, fs)
        times.append(train)
        channels.append(unit.channel)
        names.append(unit.name)
    order_times = np.concatenate(times)
    order = np.argsort(order_times, kind="stable")
    return DemoRecording(
        data=data.astype(np.float32), sampling_rate=fs, truth_times_s=order_times[order],
        truth_channels=np.concatenate([np.full(len(t), c) for t, c in zip(times, channels)])[order],
        truth_units=np.concatenate([np.full(len(t), u) for t, u in zip(times, names)])[order],
        templates=templates)


def _add_spikes(data: NDArray, template: NDArray, times: NDArray, channel: int, fs: float) -> None:
    starts = np.round(times * fs).astype(np.int64) - _PEAK_AT
    starts = starts[(starts >= 0) & (starts + len(template) < data.shape[0])]
    index = starts[:, None] + np.arange(len(template))[None, :]
    np.add.at(data[:, channel], index.ravel(), np.tile(template, len(starts)))


def write_truth(demo: DemoRecording, path: Path, per_unit: int | None = None,
                seed: int = 0) -> None:
    """CSV ``time_s,channel,unit``: every true spike, or ``per_unit`` drawn at random per unit."""
    rows = np.arange(len(demo.truth_times_s))
    if per_unit is not None:
        # Seeds stand for a person's labels: only units whose spikes cross the threshold.
        visible = [u.name for u in UNITS if u.name != BELOW_THRESHOLD]
        rng = np.random.default_rng(seed)
        rows = np.sort(np.concatenate([
            rng.choice(np.nonzero(demo.truth_units == u)[0],
                       min(per_unit, int((demo.truth_units == u).sum())), replace=False)
            for u in visible]))
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["time_s", "channel", "unit"])
        for i in rows:
            writer.writerow([f"{demo.truth_times_s[i]:.6f}", int(demo.truth_channels[i]),
                             demo.truth_units[i]])


def sidecar_paths(path: Path) -> tuple[Path, Path]:
    """``FILE.truth.csv`` and ``FILE.seeds.csv`` beside ``FILE.nwb``."""
    stem = path.with_suffix("")
    return stem.with_name(stem.name + ".truth.csv"), stem.with_name(stem.name + ".seeds.csv")
