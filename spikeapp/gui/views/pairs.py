"""Channel pairs: every pair of a channel group's channels at once, the grid tetrode users cut
clusters in (MClust's and phy's feature grids). Each cell is one channel's peak (or valley, or
energy) against another's; Ctrl+drag lassoes in any cell (Shift+drag: a rectangle) and selects
every spike of the channel group inside it; a double-click opens the pair in the feature view."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from spikeapp.gui.views.features import CHANNEL_FEATURES, SELECTED_DRAWN, LassoBox, draw_layers
from spikeapp.gui.views.layers import PointsItem
from spikeapp.session.display import selected_among

PER_UNIT = 600      # spikes drawn per unit in each cell (a cell is small; an octrode has 28)


class _Cell:
    def __init__(self, grid: pg.GraphicsLayoutWidget, row: int, column: int,
                 axes: tuple[str, str], rows: tuple[int, int]) -> None:
        self.box = LassoBox()
        self.plot = grid.addPlot(row=row, col=column, viewBox=self.box)
        self.plot.setTitle(f"{axes[1]}  vs  {axes[0]}", size="8pt")
        # No axes: a grid of many small cells has no room for tick labels (MClust shows none
        # either); the values are in the feature view, a double-click away.
        for side in ("left", "bottom"):
            self.plot.hideAxis(side)
        self.plot.setMinimumSize(60, 60)
        self.plot.hideButtons()
        self.axes, self.rows = axes, rows
        self.layers: list[PointsItem] = []
        self.chosen = PointsItem(size=4)
        self.plot.addItem(self.chosen)


class ChannelPairs(QWidget):
    """``features``: the feature view whose axes (and values) the cells share."""

    opened = pyqtSignal()   # a cell was double-clicked: its pair is in the feature view now

    def __init__(self, controller, features) -> None:
        super().__init__()
        self.controller = controller
        self.features = features
        self.kind = QComboBox()
        self.kind.addItems(CHANNEL_FEATURES)
        self.kind.setToolTip("what each channel's axis shows: the value at the spike's "
                             "alignment (peak), its other extreme (valley) or its RMS (energy)")
        self.note = QLabel()
        # However long its text, the note never widens the panel (it squeezed the waveforms).
        self.note.setWordWrap(True)
        self.note.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.grid = pg.GraphicsLayoutWidget()
        self.grid.setToolTip("Ctrl+drag: lasso; Shift+drag: rectangle (on every spike); "
                             "double-click: this pair in the feature view")
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Channel pairs:"))
        bar.addWidget(self.kind)
        bar.addWidget(self.note, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.grid)
        self.cells: list[_Cell] = []
        self._layout_key = None
        self.kind.currentIndexChanged.connect(lambda _i: self.refresh())
        self.grid.scene().sigMouseClicked.connect(self._clicked)

    def _build(self) -> None:
        """One cell per pair of the group's channels (none for a single channel)."""
        session = self.controller.session
        members = (session.detection.group_members(self.controller.group)
                   if session is not None else [])
        key = (id(session.detection) if session is not None else None, self.controller.group,
               self.kind.currentText())
        if key == self._layout_key:
            return
        self._layout_key = key
        self.grid.clear()
        self.cells = []
        if len(members) < 2:
            self.note.setText("a single channel: pairs need a channel group (a tetrode)"
                              if session is not None else "")
            return
        pairs = list(combinations(range(len(members)), 2))
        # As square as the panel allows: as many columns as its width holds at its height.
        shape = max(self.grid.width(), 1) / max(self.grid.height(), 1)
        columns = max(1, min(len(pairs), int(round(np.sqrt(len(pairs) * shape)))))
        kind = self.kind.currentText()
        for index, (first, second) in enumerate(pairs):
            axes = self.features.channel_axes(first, second, kind)
            cell = _Cell(self.grid, index // columns, index % columns, axes, (first, second))
            cell.box.polygon.connect(lambda polygon, a=axes: self.features.select_polygon(
                polygon, axes=a))
            self.cells.append(cell)
        self.note.setText(f"{len(pairs)} pairs of {len(members)} channels")

    def refresh(self) -> None:
        """Redraw every cell (after an edit, a channel or a visibility change)."""
        if not self.isVisible():
            self._stale = True
            return
        self._stale = False
        self._build()
        session = self.controller.session
        if session is None or not self.cells:
            return
        sample = self.controller.display_sample(PER_UNIT, self.features.hidden_units)
        colours = self.features.colours_of(sample)
        for cell in self.cells:
            x = self.features.values(cell.axes[0], sample)
            y = self.features.values(cell.axes[1], sample)
            groups = draw_layers(cell.plot, cell.layers, x, y, colours, size=3)
            cell.chosen.setZValue(len(groups) + 1)
        self.show_selection()

    _stale = True

    def showEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().showEvent(event)
        if self._stale:
            self.refresh()

    def show_selection(self) -> None:
        session = self.controller.session
        if session is None or not self.cells or not self.isVisible():
            return
        chosen = selected_among(self.controller.selection,
                                self.controller.visible_spikes(self.features.hidden_units),
                                session.n_spikes)
        chosen = chosen[:: max(1, -(-len(chosen) // SELECTED_DRAWN))]
        for cell in self.cells:
            cell.chosen.setData(self.features.values(cell.axes[0], chosen),
                                self.features.values(cell.axes[1], chosen), (255, 255, 255))

    def open_pair(self, index: int) -> None:
        """Show cell ``index``'s pair in the feature view (to cut there, at full size)."""
        cell = self.cells[index]
        self.features.show_channel_pair(*cell.rows, self.kind.currentText())
        self.opened.emit()

    def _clicked(self, event) -> None:
        if not event.double():
            return
        for index, cell in enumerate(self.cells):
            if cell.plot.sceneBoundingRect().contains(event.scenePos()):
                self.open_pair(index)
                return
