"""Feature scatter: PCA pairs or amplitude vs time. Ctrl+drag: lasso; Shift+drag: rectangle.
Selections act on every spike of the channel, not only the drawn ones."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from spikeapp.session.display import selected_among, spike_colours
from spikeapp.session.selection import inside_polygon

PER_UNIT = 2000
AXES = ["PC1", "PC2", "PC3", "PC4", "PC5", "amplitude", "time"]


class _LassoBox(pg.ViewBox):
    polygon = pyqtSignal(object)

    def __init__(self) -> None:
        super().__init__()
        self._path = pg.PlotCurveItem(pen=pg.mkPen("y", width=2))
        self._points: list[tuple[float, float]] = []
        self._rect_start = None

    def mouseDragEvent(self, ev, axis=None):  # noqa: N802 - Qt naming
        modifiers = ev.modifiers()
        lasso = modifiers & Qt.KeyboardModifier.ControlModifier
        rectangle = modifiers & Qt.KeyboardModifier.ShiftModifier
        if ev.button() != Qt.MouseButton.LeftButton or not (lasso or rectangle):
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        point = self.mapSceneToView(ev.scenePos())
        if ev.isStart():
            self._points = []
            self._rect_start = (point.x(), point.y())
            self.addItem(self._path)
        if lasso:
            self._points.append((point.x(), point.y()))
        else:
            x0, y0 = self._rect_start
            self._points = [(x0, y0), (point.x(), y0), (point.x(), point.y()), (x0, point.y())]
        closed = self._points + self._points[:1]
        self._path.setData([p[0] for p in closed], [p[1] for p in closed])
        if ev.isFinish():
            self.removeItem(self._path)
            if len(self._points) >= 3:
                self.polygon.emit(np.asarray(self._points))


class FeatureView(QWidget):
    def __init__(self, controller) -> None:
        super().__init__()
        self.controller = controller
        self.hidden_units: set[int] = set()
        self.x_axis = QComboBox()
        self.y_axis = QComboBox()
        self.x_axis.addItems(AXES)
        self.y_axis.addItems(AXES)
        self.y_axis.setCurrentIndex(1)
        self._box = _LassoBox()
        self.plot = pg.PlotWidget(viewBox=self._box)
        self._items: list = []
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Features  x"))
        bar.addWidget(self.x_axis)
        bar.addWidget(QLabel("y"))
        bar.addWidget(self.y_axis)
        hint = QLabel("Ctrl+drag lasso, Shift+drag box")
        hint.setMinimumWidth(10)
        bar.addWidget(hint)
        bar.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.plot)
        self.x_axis.currentIndexChanged.connect(self.refresh)
        self.y_axis.currentIndexChanged.connect(self.refresh)
        self._box.polygon.connect(self.select_polygon)

    def values(self, axis: str, spikes: np.ndarray) -> np.ndarray:
        d = self.controller.session.detection
        if axis == "amplitude":
            return d.amplitudes[spikes]
        if axis == "time":
            return d.times_s[spikes]
        return d.features[spikes, int(axis[2:]) - 1]

    def _visible(self) -> np.ndarray:
        return self.controller.visible_spikes(self.hidden_units)

    def refresh(self) -> None:
        session = self.controller.session
        for item in self._items:
            self.plot.removeItem(item)
        self._items = []
        if session is None:
            return
        visible = self._visible()
        sample = self.controller.display_sample(visible, PER_UNIT, self.hidden_units)
        x_name, y_name = self.x_axis.currentText(), self.y_axis.currentText()
        x, y = self.values(x_name, sample), self.values(y_name, sample)
        colours = spike_colours(session, sample)
        # One item per colour (unit x confidence level): uniform brushes draw fast.
        keys = colours[:, 0].astype(np.int64) << 16 | colours[:, 1].astype(np.int64) << 8 \
            | colours[:, 2]
        order = np.argsort(keys, kind="stable")
        bounds = np.flatnonzero(np.diff(keys[order])) + 1
        for rows in np.split(order, bounds):
            if len(rows):
                item = pg.ScatterPlotItem(x[rows], y[rows], size=4, pen=None,
                                          brush=pg.mkBrush(*colours[rows[0]]))
                self._add(item)
        human = session.source[sample] == 1
        if human.any():
            self._add(pg.ScatterPlotItem(x[human], y[human], size=8, pen=pg.mkPen("w", width=1.5),
                                         brush=None))
        chosen = selected_among(self.controller.selection, visible, session.n_spikes)
        chosen = chosen[:: max(1, len(chosen) // 2000)]
        self._add(pg.ScatterPlotItem(self.values(x_name, chosen), self.values(y_name, chosen),
                                     size=7, pen=pg.mkPen("w"), brush=None))
        self.plot.setLabel("bottom", x_name)
        self.plot.setLabel("left", y_name)

    def _add(self, item) -> None:
        self.plot.addItem(item)
        self._items.append(item)

    def select_polygon(self, polygon: np.ndarray) -> None:
        if self.controller.session is None:
            return
        visible = self._visible()
        x = self.values(self.x_axis.currentText(), visible)
        y = self.values(self.y_axis.currentText(), visible)
        self.controller.select(visible[inside_polygon(x, y, polygon)])
