"""Overlaid waveforms of the visible units (a bounded sample), mean +- SD, or a density image.

Ctrl+drag draws a segment: every spike of the channel whose waveform crosses it is selected.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt, pyqtSignal

from spikeapp.gui.views.layers import CurvePool
from spikeapp.session.display import (
    UNASSIGNED_COLOUR,
    UNRESOLVED_COLOUR,
    hex_to_rgb,
    sample_of,
    selected_among,
)
from spikeapp.session.selection import crossing_segment
from spikeapp.session.state import UNASSIGNED, UNRESOLVED

PER_UNIT = 100              # waveforms drawn per unit
DENSITY_SPIKES = 50_000     # spikes the density image is made of, at most


class _SegmentBox(pg.ViewBox):
    segment = pyqtSignal(object, object)

    def __init__(self) -> None:
        super().__init__()
        self._line = pg.PlotCurveItem(pen=pg.mkPen("y", width=2))
        self._start = None

    def mouseDragEvent(self, ev, axis=None):  # noqa: N802 - Qt naming
        if ev.modifiers() & Qt.KeyboardModifier.ControlModifier and \
                ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            point = self.mapSceneToView(ev.scenePos())
            if ev.isStart():
                self._start = (point.x(), point.y())
                self.addItem(self._line)
            if self._start is not None:
                self._line.setData([self._start[0], point.x()], [self._start[1], point.y()])
            if ev.isFinish() and self._start is not None:
                self.removeItem(self._line)
                self.segment.emit(self._start, (point.x(), point.y()))
                self._start = None
        else:
            super().mouseDragEvent(ev, axis)


class WaveformView(pg.PlotWidget):
    def __init__(self, controller) -> None:
        self._box = _SegmentBox()
        super().__init__(viewBox=self._box, title="Waveforms")
        self.controller = controller
        self.setToolTip("Ctrl+drag a line: select every spike whose waveform crosses it")
        self.density = False
        self.hidden_units: set[int] = set()
        self.setLabel("left", "µV")
        self.setLabel("bottom", "sample")
        self._box.segment.connect(self.select_crossing)
        self._image = pg.ImageItem()
        self._image.setVisible(False)
        self.addItem(self._image)
        self._spikes = CurvePool(self, z=0)
        self._selected = CurvePool(self, z=10)
        self._separators: list[pg.InfiniteLine] = []
        self._layout_key = None

    def _show_channels(self, session, samples: int) -> None:
        """A group's channels side by side: each named under its segment, a line between
        them (a tetrode's waveforms were drawn end to end against "sample")."""
        channels = [int(c) for c in session.detection.group_members(self.controller.group)]
        key = (tuple(channels), samples)
        if key == self._layout_key:
            return
        self._layout_key = key
        for line in self._separators:
            self.removeItem(line)
        self._separators = []
        axis = self.getAxis("bottom")
        if len(channels) <= 1:
            axis.setTicks(None)
            self.setLabel("bottom", "sample")
            return
        width = samples + 4
        axis.setTicks([[(k * width + samples / 2, f"ch {c}") for k, c in enumerate(channels)]])
        self.setLabel("bottom", "samples, channel by channel")
        for k in range(1, len(channels)):
            line = pg.InfiniteLine(k * width - 2, angle=90,
                                   pen=pg.mkPen((150, 150, 150), width=1,
                                                style=Qt.PenStyle.DotLine))
            self.addItem(line)
            self._separators.append(line)

    def set_density(self, on: bool) -> None:
        self.density = on
        self.refresh()

    def refresh(self) -> None:
        """Redraw the units' waveforms (after an edit or a visibility change) and the selection."""
        session = self.controller.session
        self._spikes.begin()
        self._image.setVisible(False)
        visible = (self.controller.visible_spikes(self.hidden_units) if session is not None
                   else np.zeros(0, dtype=np.int64))
        if session is not None:
            self._show_channels(session, session.detection.waveforms.shape[2])
            self.setLabel("left", session.detection.signal_unit)
        elif self._layout_key is not None:   # closed: no channel of a group gone stays named
            self._layout_key = None
            for line in self._separators:
                self.removeItem(line)
            self._separators = []
            self.getAxis("bottom").setTicks(None)
            self.setLabel("bottom", "sample")
        if len(visible):
            waves = session.detection.waveforms
            if self.density:
                # An even sample of every visible spike keeps the units' proportions.
                step = max(1, -(-len(visible) // DENSITY_SPIKES))
                self._draw_density(np.asarray(waves[visible[::step]]))
            else:
                sample = self.controller.display_sample(PER_UNIT, self.hidden_units)
                units = session.assignment[sample]
                for unit in np.unique(units):
                    self._draw_overlay(self._spikes, np.asarray(waves[sample[units == unit]]),
                                       self._colour(unit), alpha=60)
        self._spikes.end()
        self.show_selection()

    def show_selection(self) -> None:
        """Redraw only what depends on the selection: the selected units' mean +- SD and the
        selected spikes (white)."""
        session = self.controller.session
        self._selected.begin()
        visible = (self.controller.visible_spikes(self.hidden_units) if session is not None
                   else np.zeros(0, dtype=np.int64))
        if len(visible):
            waves = session.detection.waveforms
            for unit_id in self.controller.selected_units:
                if unit_id in self.hidden_units:
                    continue
                # Mean and SD from 5000 at most.
                members = sample_of(self.controller.members(), unit_id, 5000)
                if len(members):
                    self._draw_mean(np.asarray(waves[members]), self._colour(unit_id))
            selected = selected_among(self.controller.selection, visible, session.n_spikes)
            if len(selected):
                chosen = selected[:: max(1, len(selected) // 100)]
                self._draw_overlay(self._selected, np.asarray(waves[chosen]), (255, 255, 255),
                                   alpha=160)
        self._selected.end()

    def _colour(self, unit: int) -> tuple[int, int, int]:
        if unit == UNASSIGNED:
            return hex_to_rgb(UNASSIGNED_COLOUR)
        if unit == UNRESOLVED:
            return hex_to_rgb(UNRESOLVED_COLOUR)
        return hex_to_rgb(self.controller.session.units[int(unit)].colour)

    @staticmethod
    def _draw_overlay(pool: CurvePool, waves: np.ndarray, colour, alpha: int) -> None:
        n, channels, samples = waves.shape
        # Channels of a group side by side, one curve item per unit (connect array).
        x = (np.arange(channels)[:, None] * (samples + 4) + np.arange(samples)[None, :]).ravel()
        y = waves.reshape(n, -1)
        connect = np.ones(y.shape, dtype=bool)
        connect[:, samples - 1::samples] = False
        pool.draw(np.tile(x, n), y.ravel(), pg.mkPen((*colour, alpha), width=1),
                  connect=connect.ravel())

    def _draw_mean(self, waves: np.ndarray, colour) -> None:
        mean, sd = waves.mean(axis=0), waves.std(axis=0)
        samples = waves.shape[2]
        for channel in range(waves.shape[1]):
            x = channel * (samples + 4) + np.arange(samples)
            self._selected.draw(x, mean[channel], pg.mkPen(colour, width=3))
            for sign in (-1, 1):
                self._selected.draw(x, mean[channel] + sign * sd[channel],
                                    pg.mkPen(colour, width=1, style=Qt.PenStyle.DashLine))

    def _draw_density(self, waves: np.ndarray) -> None:
        """Every channel of the group, side by side as the curves are (not the first only)."""
        channels = len(self.controller.session.detection.group_members(self.controller.group))
        waves = waves[:, :max(1, channels)]
        samples = waves.shape[2]
        low, high = np.percentile(waves, [0.5, 99.5])
        bins = 120
        width = samples + 4
        image = np.zeros((waves.shape[1] * width - 4, bins))
        for channel in range(waves.shape[1]):
            for sample in range(samples):
                image[channel * width + sample] = np.histogram(waves[:, channel, sample], bins,
                                                               (low, high))[0]
        self._image.setImage(np.log1p(image))
        self._image.setColorMap(pg.colormap.get("inferno"))
        self._image.setRect(0, low, image.shape[0], high - low)
        self._image.setVisible(True)

    def select_crossing(self, start, end) -> None:
        session = self.controller.session
        if session is None:
            return
        spikes = session.spikes_of_group(self.controller.group)
        spikes = spikes[~np.isin(session.assignment[spikes], list(self.hidden_units))]
        samples = session.detection.waveforms.shape[2]
        channel = int(max(0, start[0]) // (samples + 4))
        offset = channel * (samples + 4)
        waves = np.asarray(session.detection.waveforms[spikes, channel])
        hit = crossing_segment(waves, (start[0] - offset, start[1]), (end[0] - offset, end[1]))
        self.controller.select(spikes[hit])
