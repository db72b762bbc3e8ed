"""Feature scatter: PCA pairs or amplitude vs time. Ctrl+drag: lasso; Shift+drag: rectangle.
Selections act on every spike of the channel, not only the drawn ones."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from spikeapp.gui.views.layers import PointsItem
from spikeapp.session.commands import as_span
from spikeapp.session.display import selected_among, spike_colours, tint_proposals
from spikeapp.session.selection import points_inside
from spikeapp.session.state import HUMAN

PER_UNIT = 2000           # spikes drawn per unit
SELECTED_DRAWN = 2000     # selected spikes drawn at most
CONFIDENCE_LEVELS = 4     # saturation steps drawn
AXES = ["PC1", "PC2", "PC3", "PC4", "PC5", "amplitude", "time"]
CHANNEL_FEATURES = ("peak", "valley", "energy")   # per channel of a group, as axes


def draw_layers(plot, layers: list[PointsItem], x: np.ndarray, y: np.ndarray,
                colours: np.ndarray, size: float = 4) -> list[np.ndarray]:
    """Draw points in ``layers`` (made as needed on ``plot``), one layer per colour (unit x
    confidence level), largest first, so small units stay visible on top of big ones; the rows
    of each layer drawn."""
    keys = colours[:, 0].astype(np.int64) << 16 | colours[:, 1].astype(np.int64) << 8 \
        | colours[:, 2]
    order = np.argsort(keys, kind="stable")
    groups = [rows for rows in np.split(order, np.flatnonzero(np.diff(keys[order])) + 1)
              if len(rows)]
    groups.sort(key=len, reverse=True)
    while len(layers) < len(groups):
        layer = PointsItem(size=size)
        plot.addItem(layer)
        layers.append(layer)
    for z, layer in enumerate(layers):
        if z < len(groups):
            rows = groups[z]
            layer.setData(x[rows], y[rows], tuple(colours[rows[0], :3]))
            layer.setZValue(z)
        else:
            layer.setData([], [], (0, 0, 0))
    return groups


class LassoBox(pg.ViewBox):
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
        self._box = LassoBox()
        self.plot = pg.PlotWidget(viewBox=self._box)
        self._layers: list[PointsItem] = []
        # Human labels: outlined; the selection: white, drawn over everything.
        self._human = pg.ScatterPlotItem(size=8, pen=pg.mkPen("w", width=1.5), brush=None)
        self._chosen = PointsItem(size=6)
        self.plot.addItem(self._human)
        self.plot.addItem(self._chosen)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Features  x"))
        bar.addWidget(self.x_axis)
        bar.addWidget(QLabel("y"))
        bar.addWidget(self.y_axis)
        self.plot.setToolTip("Ctrl+drag: lasso; Shift+drag: rectangle (on every spike)")
        bar.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.plot)
        self.x_axis.currentIndexChanged.connect(self.refresh)
        self.y_axis.currentIndexChanged.connect(self.refresh)
        self._box.polygon.connect(self.select_polygon)
        self._columns_of = None            # the detection the kept feature columns are of
        self._columns: dict[int, np.ndarray] = {}
        # "peak <channel>" (valley, energy) -> (that feature, the channel's row in the waveforms)
        self._peak_rows: dict[str, tuple[str, int]] = {}

    def values(self, axis: str, spikes: np.ndarray) -> np.ndarray:
        """One axis's values of ``spikes`` (sorted and distinct: a run of them is read as a
        view, ten million spikes without a gather)."""
        d = self.controller.session.detection
        where = as_span(spikes, ordered=True)
        if axis == "amplitude":
            return d.amplitudes[where]
        if axis == "time":
            return d.times_s[where]
        if axis in self._peak_rows:
            # A grouped channel's peak, valley or energy: channel i against channel j, the
            # views tetrode users cut clusters in (MClust, Offline Sorter, phy's grid).
            kind, row = self._peak_rows[axis]
            if kind == "peak":   # the value at the spike's alignment sample
                return np.asarray(d.waveforms[where, row, d.pre_samples], dtype=np.float32)
            waves = np.asarray(d.waveforms[where, row, :], dtype=np.float32)
            if kind == "valley":   # the waveform's other extreme (the peak's opposite sign)
                peak = waves[:, d.pre_samples]
                return np.where(peak < 0, waves.max(axis=1), waves.min(axis=1))
            return np.sqrt((waves ** 2).mean(axis=1))   # energy: the RMS over the waveform
        component = int(axis[2:]) - 1
        if component >= d.features.shape[1]:
            return np.zeros(len(spikes), dtype=np.float32)   # fewer components were kept
        return self._column(d, component)[where]

    def _column(self, detection, component: int) -> np.ndarray:
        """One component of every spike, contiguous, kept while the detection is the same: a
        column of the (spikes x components) matrix is strided, and reading it for a lasso over
        ten million spikes cost more than the lasso itself."""
        if self._columns_of is not detection:
            self._columns_of, self._columns = detection, {}
        if component not in self._columns:
            self._columns = {k: v for k, v in self._columns.items() if k in self._wanted()}
            self._columns[component] = np.ascontiguousarray(detection.features[:, component])
        return self._columns[component]

    def _offer_channel_axes(self, session) -> None:
        """On a channel group (a tetrode), each channel's peak is an axis too; the choices
        follow the group shown, and an axis of another group's channel falls back to PC1/PC2."""
        d = session.detection
        members = d.group_members(self.controller.group)
        rows = {f"{kind} {d.channel_name(int(c))}": (kind, k) for kind in CHANNEL_FEATURES
                for k, c in enumerate(members)} if len(members) > 1 else {}
        if rows == self._peak_rows:
            return
        self._peak_rows = rows
        names = AXES + list(rows)
        for box, fallback in ((self.x_axis, 0), (self.y_axis, 1)):
            current = box.currentText()
            box.blockSignals(True)
            box.clear()
            box.addItems(names)
            box.setCurrentIndex(names.index(current) if current in names else fallback)
            box.blockSignals(False)

    def show_channel_pair(self, first: int, second: int, kind: str = "peak") -> None:
        """``kind`` (peak, valley, energy) on the group's ``first`` channel (row) against its
        ``second``."""
        x_name, y_name = self.channel_axes(first, second, kind)
        self.x_axis.setCurrentText(x_name)
        self.y_axis.setCurrentText(y_name)

    def channel_axes(self, first: int, second: int, kind: str = "peak") -> tuple[str, str]:
        """The axis names of ``kind`` on the group's ``first`` and ``second`` channels (rows)."""
        if self.controller.session is not None:
            self._offer_channel_axes(self.controller.session)
        names = {value: name for name, value in self._peak_rows.items()}
        return names[(kind, first)], names[(kind, second)]

    def _wanted(self) -> set[int]:
        """The components the two axes show now (the others' columns are let go)."""
        return {int(name[2:]) - 1 for name in (self.x_axis.currentText(),
                                               self.y_axis.currentText()) if name.startswith("PC")}

    def _visible(self) -> np.ndarray:
        return self.controller.visible_spikes(self.hidden_units)

    def refresh(self) -> None:
        """Redraw the spikes (after an edit, a visibility or an axis change) and the selection."""
        session = self.controller.session
        if session is None:
            for layer in self._layers:
                layer.setData([], [], (0, 0, 0))
            self._human.setData([], [])
            self._chosen.setData([], [], (255, 255, 255))
            return
        self._offer_channel_axes(session)
        sample = self.controller.display_sample(PER_UNIT, self.hidden_units)
        x_name, y_name = self.x_axis.currentText(), self.y_axis.currentText()
        x, y = self.values(x_name, sample), self.values(y_name, sample)
        colours = self.colours_of(sample)
        groups = draw_layers(self.plot, self._layers, x, y, colours)
        human = session.source[sample] == HUMAN  # imported labels are not outlined
        self._human.setData(x[human], y[human])
        self._human.setZValue(len(groups) + 1)
        self._chosen.setZValue(len(groups) + 2)
        self.plot.setLabel("bottom", x_name)
        self.plot.setLabel("left", y_name)
        self.show_selection()

    def colours_of(self, sample: np.ndarray) -> np.ndarray:
        """Each spike's colour as drawn: its unit's, saturated by its confidence, proposals
        tinted (the channel-pair grid draws with the same)."""
        session = self.controller.session
        return tint_proposals(spike_colours(session, sample, levels=CONFIDENCE_LEVELS), sample,
                              session, [(i, self.controller.proposal(i).members)
                                        for i, _ in self.controller.open_proposals()])

    def show_selection(self) -> None:
        """Redraw only the selected spikes (white, on top): a selection leaves the rest alone."""
        session = self.controller.session
        if session is None:
            return
        chosen = selected_among(self.controller.selection, self._visible(), session.n_spikes)
        chosen = chosen[:: max(1, -(-len(chosen) // SELECTED_DRAWN))]
        self._chosen.setData(self.values(self.x_axis.currentText(), chosen),
                             self.values(self.y_axis.currentText(), chosen), (255, 255, 255))

    def select_polygon(self, polygon: np.ndarray, axes: tuple[str, str] | None = None) -> None:
        """Select every visible spike of the channel inside ``polygon``, drawn on the two axes
        shown (or on ``axes``: a cell of the channel-pair grid)."""
        if self.controller.session is None:
            return
        x_name, y_name = axes or (self.x_axis.currentText(), self.y_axis.currentText())
        visible = self._visible()
        x = self.values(x_name, visible)
        y = self.values(y_name, visible)
        inside = points_inside(x, y, polygon)
        where = as_span(visible, ordered=True)
        self.controller.select(inside + where.start if isinstance(where, slice) else
                               visible[inside])
