"""The filtered signal around the selection or a chosen time, with thresholds and spike
markers coloured by unit. Reads only the visible window; long windows are decimated min/max."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from spikeapp.detection.filtering import BandPass, filter_window
from spikeapp.session.display import spike_colours

MAX_POINTS = 4000


def min_max_decimate(x: np.ndarray, y: np.ndarray, points: int) -> tuple[np.ndarray, np.ndarray]:
    """Keep the minimum and maximum of each of ``points // 2`` bins (the envelope stays)."""
    if len(y) <= points:
        return x, y
    width = -(-len(y) // (points // 2))  # samples per bin, rounded up: nothing is dropped
    padded = np.concatenate([y, np.full(-len(y) % width, y[-1])])
    blocks = padded.reshape(-1, width)
    xs = x[::width]
    out_x = np.repeat(xs, 2)
    out_y = np.stack([blocks.min(axis=1), blocks.max(axis=1)], axis=1).ravel()
    return out_x, out_y


class TraceView(pg.PlotWidget):
    def __init__(self, controller) -> None:
        super().__init__(title="Trace (filtered)")
        self.controller = controller
        self.recording = None
        self.window_s = 0.2
        self.centre_s = 0.0
        self.setLabel("bottom", "time (s)")
        self.getAxis("bottom").enableAutoSIPrefix(False)
        self.setLabel("left", "µV")
        self.markers = pg.ScatterPlotItem(size=8, pen=None)
        self.markers.sigClicked.connect(self._clicked)
        self.sigXRangeChanged.connect(self._ranged)
        self._drawing = False

    def set_recording(self, recording) -> None:
        """Show ``recording`` (None: none): drawn again at once, so that another recording's
        signal never stays under the spikes of the session now open."""
        self.recording = recording
        self.centre_s = 0.0
        self.refresh()

    def show_time(self, centre_s: float) -> None:
        self.centre_s = centre_s
        self.refresh()

    def follow_selection(self) -> None:
        """Centre on the first selected spike unless it is already in view."""
        session = self.controller.session
        if session is not None and len(self.controller.selection):
            t = float(session.detection.times_s[self.controller.selection[0]])
            if abs(t - self.centre_s) > 0.45 * self.window_s:
                self.centre_s = t
        self.refresh()

    def _ranged(self) -> None:
        if self._drawing:
            return
        low, high = self.viewRange()[0]
        self.centre_s, self.window_s = (low + high) / 2, max(0.002, high - low)
        self.refresh()

    def refresh(self) -> None:
        session = self.controller.session
        self._drawing = True
        try:
            self.clear()
            if session is None or self.recording is None:
                # No rows of a closed or other recording stay named on the axis.
                self.getAxis("left").setTicks(None)
                self.setLabel("left", "")
                imported = session is not None and session.recording.get("imported")
                self.setTitle("Trace (none: the spikes were imported from a file without a "
                              "signal)" if imported else "Trace (no recording attached)")
                return
            self.setTitle("Trace (filtered)")
            self._draw(session)
        finally:
            self._drawing = False

    def _draw(self, session) -> None:
        d = session.detection
        fs = d.sampling_rate
        start = max(0, int((self.centre_s - self.window_s / 2 - d.t_start) * fs))
        stop = min(d.n_samples, start + max(2, int(self.window_s * fs)))
        members = d.group_members(self.controller.group)
        positions = np.nonzero(np.isin(d.channel_ids, members))[0]
        band = BandPass.design(fs, d.params["freq_min"], d.params["freq_max"],
                               d.params["filter_order"])
        read = lambda a, b: self.recording.read(a, b, positions)  # noqa: E731
        filtered, _ = filter_window(read, d.n_samples, band, start, stop)
        t = d.t_start + np.arange(start, stop) / fs
        thresholds = d.params["threshold"] * d.noise_uv[positions]
        # Rows evenly spaced, each named on the left axis; a spike's marker sits on the row of
        # its peak channel (a tetrode's markers were all on one shared axis).
        # Spaced by the widest row's spread (spikes included), at least two thresholds: at four
        # thresholds the traces looked flat.
        spread = (np.percentile(filtered, 99.9, axis=1) - np.percentile(filtered, 0.1, axis=1)
                  if filtered.size else np.zeros(1))
        spacing = (max(2 * float(thresholds.max()), float(spread.max()))
                   if len(thresholds) else 0.0)
        unit = d.signal_unit
        offsets = -spacing * np.arange(len(positions))
        dashed = pg.QtCore.Qt.PenStyle.DashLine
        for row in range(len(positions)):
            x, y = min_max_decimate(t, filtered[row], MAX_POINTS)
            self.plot(x, y + offsets[row], pen=pg.mkPen((200, 200, 200), width=1))
            for sign in (-1, 1):
                self.addLine(y=sign * thresholds[row] + offsets[row],
                             pen=pg.mkPen((255, 80, 80), width=1, style=dashed))
        axis = self.getAxis("left")
        if len(positions) > 1:
            axis.setTicks([[(float(o), f"ch {int(d.channel_ids[i])}")
                            for o, i in zip(offsets, positions)]])
            self.setLabel("left", f"{spacing:.0f} {unit}/row")
        else:
            axis.setTicks(None)
            self.setLabel("left", unit)
        spikes = session.spikes_of_group(self.controller.group)
        spikes = spikes[(d.samples[spikes] >= start) & (d.samples[spikes] < stop)]
        row_of = {int(d.channel_ids[i]): k for k, i in enumerate(positions)}
        rows = np.array([row_of.get(int(c), 0) for c in d.peak_channels[spikes]], dtype=int)
        self.markers.setData(d.times_s[spikes],
                             d.amplitudes[spikes] + (offsets[rows] if len(rows) else 0.0),
                             brush=[pg.mkBrush(*c) for c in spike_colours(session, spikes)],
                             data=spikes)
        self.addItem(self.markers)
        self._drawing = True
        self.setXRange(t[0], t[-1], padding=0)

    def _clicked(self, _item, points, *_) -> None:
        if len(points):
            self.controller.select([int(points[0].data())])
