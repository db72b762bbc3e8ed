"""The label-next panel: after training, the spikes the network was least sure about, spread over
the recording, one at a time. The spike is drawn over the means of its two candidate units with
the filtered trace around it; it is selected, so a key (1-9, N, 0) labels it and the next one
follows at once; S skips. Training can start again by itself after a number of new labels."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

from spikeapp.session.display import hex_to_rgb, sample_of
from spikeapp.session.state import LABELLED

QUEUE_SIZE = 20
SNIPPET_S = 0.01  # trace shown each side of the spike


class QueuePanel(QWidget):
    retrain = pyqtSignal()

    def __init__(self, controller, recording) -> None:
        super().__init__()
        self.controller = controller
        self._recording = recording          # callable: the open recording or None
        self.output = None
        self.queue: list[int] = []
        self.uncovered: set[int] = set()   # queued as typical of a cluster no label covers
        self.labelled_since_training = 0
        self.info = QLabel("Train a channel (T), then press L: the spikes the network is least "
                           "sure about come here one by one.")
        self.info.setWordWrap(True)
        self.auto = QSpinBox()
        self.auto.setRange(0, 500)
        self.auto.setValue(10)
        self.auto.setToolTip("train again by itself after this many labels from the queue "
                             "(0: never)")
        self.waveform = pg.PlotWidget(title="spike over the two candidate units")
        self.snippet = pg.PlotWidget(title="trace around it")
        self.snippet.setLabel("bottom", "ms")
        side = QVBoxLayout()
        side.addWidget(self.info, 1)
        row = QHBoxLayout()
        row.addWidget(QLabel("retrain after"))
        row.addWidget(self.auto)
        row.addWidget(QLabel("labels"))
        side.addLayout(row)
        left = QWidget()
        left.setLayout(side)
        left.setFixedWidth(280)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(left)
        layout.addWidget(self.waveform, 1)
        layout.addWidget(self.snippet, 1)

    # -- the queue ----------------------------------------------------------------------------
    def job(self, output):
        """The job that chooses the queue's spikes (run on a worker: it clusters)."""
        from spikeapp.workflow.review import label_next_job

        return label_next_job(self.controller.session, output, QUEUE_SIZE)

    def fill(self, output, spikes, uncovered: int | set[int]) -> int:
        """Show the queue the job chose for ``output``; returns its length. ``uncovered``: how
        many of the first spikes typify clusters no label covers, or those spikes."""
        if output is not self.output:   # a new network: count answers again from here
            self.labelled_since_training = 0
        self.output = output
        session = self.controller.session
        # Spikes labelled while the job ran leave the queue at once.
        self.queue = [int(s) for s in spikes if session.source[int(s)] not in LABELLED]
        typical = uncovered if isinstance(uncovered, set) else {int(s) for s in
                                                                 spikes[:uncovered]}
        self.uncovered = typical & set(self.queue)
        self.show_current()
        return len(self.queue)

    @property
    def current(self) -> int | None:
        return self.queue[0] if self.queue else None

    def skip(self) -> None:
        if self.queue:
            self.queue.pop(0)
            self.show_current()

    def clear(self) -> None:
        """The detection changed (spikes found or taken away): the queued indexes mean
        nothing now."""
        self.queue = []
        self.show_current()

    def session_changed(self) -> None:
        """After an edit: labelled queue spikes leave the queue; the next is shown."""
        session = self.controller.session
        if session is None or not self.queue:
            return
        done = [s for s in self.queue if s < session.n_spikes and session.source[s] in LABELLED]
        if not done:
            return
        self.queue = [s for s in self.queue if s not in done]
        self.labelled_since_training += len(done)
        if self.auto.value() and self.labelled_since_training >= self.auto.value():
            self.labelled_since_training = 0
            self.retrain.emit()
        self.show_current()

    def show_current(self) -> None:
        self.waveform.clear()
        self.snippet.clear()
        spike = self.current
        if spike is None:
            self.info.setText("The queue is empty: train again (T), then L for a new one.")
            return
        from spikeapp.workflow.review import candidate_units, unit_label

        session = self.controller.session
        first, second, p1, p2 = candidate_units(self.output, spike)

        def named(unit: int) -> str:
            key = self.controller.key_of(unit)
            return unit_label(session, unit) + (f" (key {key})" if key else "")

        if spike in self.uncovered:
            why = (f"typical of a cluster no label covers (the network calls it {named(first)}, "
                   f"{100 * p1:.0f}%)")
        else:
            why = f"{named(first)} {100 * p1:.0f}% or {named(second)} {100 * p2:.0f}%"
        self.info.setText(
            f"{len(self.queue)} spike(s) to go. This one, at "
            f"{session.detection.times_s[spike]:.4f} s: {why}.\nPress its unit's key, N for a "
            "new unit, 0 for noise; S skips.")
        self._draw_waveforms(session, spike, (first, second))
        self._draw_snippet(session, spike)
        self.controller.select([spike])

    def _draw_waveforms(self, session, spike: int, units) -> None:
        waves = session.detection.waveforms
        width = len(session.detection.group_members(int(session.detection.channels[spike])))
        samples = waves.shape[2]
        members = self.controller.members()
        for unit in units:
            # The mean of 2000 at most, spread over the recording (no list of all its spikes).
            spikes = sample_of(members, unit, 2000)
            if not len(spikes) or unit not in session.units:
                continue
            mean = np.asarray(waves[spikes])[:, :width].mean(0)
            colour = hex_to_rgb(session.units[unit].colour)
            for channel in range(width):
                x = channel * (samples + 4) + np.arange(samples)
                self.waveform.plot(x, mean[channel], pen=pg.mkPen(colour, width=3))
        shown = np.asarray(waves[spike])[:width]
        for channel in range(width):
            x = channel * (samples + 4) + np.arange(samples)
            self.waveform.plot(x, shown[channel], pen=pg.mkPen("w", width=2))

    def _draw_snippet(self, session, spike: int) -> None:
        recording = self._recording()
        if recording is None:
            self.snippet.setTitle("trace around it (no recording attached)")
            return
        from spikeapp.detection.filtering import BandPass, filter_window

        d = session.detection
        fs = d.sampling_rate
        centre = int(d.samples[spike])
        half = int(SNIPPET_S * fs)
        start, stop = max(0, centre - half), min(d.n_samples, centre + half)
        members = d.group_members(int(d.channels[spike]))
        positions = np.flatnonzero(np.isin(d.channel_ids, members))
        band = BandPass.design(fs, d.params["freq_min"], d.params["freq_max"],
                               d.params["filter_order"])
        filtered, _ = filter_window(lambda a, b: recording.read(a, b, positions), d.n_samples,
                                    band, start, stop)
        t = (np.arange(start, stop) - centre) / fs * 1000
        for row in range(len(positions)):
            self.snippet.plot(t, filtered[row] - 4 * row * d.noise_uv[positions[row]] * 5,
                              pen=pg.mkPen((200, 200, 200)))
        self.snippet.addLine(x=0, pen=pg.mkPen("y", style=Qt.PenStyle.DashLine))
        self.snippet.setTitle("trace around it (filtered)")
