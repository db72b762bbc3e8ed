"""A scatter layer of small square dots of one colour, drawn in one QPainter.drawPoints call.

pyqtgraph's ScatterPlotItem works out a style key per point in Python, which costs tens of
milliseconds for the few thousand points a feature view draws; a cluster view recolours them after
every edit. These layers hold no per-point styles: one item per colour.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QRectF, Qt
from PyQt6.QtGui import QColor, QPen


class PointsItem(pg.GraphicsObject):
    def __init__(self, size: float = 4.0) -> None:
        super().__init__()
        self._size = size
        self._pen = QPen()
        self._polygon = pg.functions.create_qpolygonf(0)
        self._x = np.zeros(0)
        self._y = np.zeros(0)
        self._rect = QRectF()
        # Repainted from a pixmap while other items change (a selection drawn over the spikes).
        self.setCacheMode(pg.GraphicsObject.CacheMode.DeviceCoordinateCache)

    def setData(self, x, y, colour, size: float | None = None) -> None:  # noqa: N802 - pg naming
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        keep = np.isfinite(x) & np.isfinite(y)
        if not keep.all():
            x, y = x[keep], y[keep]
        if len(x) == 0 and len(self._x) == 0:
            return  # empty stays empty: no repaint, no change of the view's range
        self.prepareGeometryChange()
        self._x, self._y = x, y
        if size is not None:
            self._size = size
        pen = QPen(QColor(*colour))
        pen.setWidthF(self._size)
        pen.setCosmetic(True)  # width in pixels, whatever the zoom
        pen.setCapStyle(Qt.PenCapStyle.SquareCap)  # 10x faster to draw than round dots
        self._pen = pen
        self._polygon = pg.functions.create_qpolygonf(len(x))
        if len(x):
            memory = pg.functions.ndarray_from_qpolygonf(self._polygon)
            memory[:, 0] = x
            memory[:, 1] = y
            self._rect = QRectF(x.min(), y.min(), x.max() - x.min(), y.max() - y.min())
        else:
            self._rect = QRectF()
        self.informViewBoundsChanged()
        self.update()

    def __len__(self) -> int:
        return len(self._x)

    def data(self) -> tuple[np.ndarray, np.ndarray]:  # noqa: D401 - getter
        return self._x, self._y

    def dataBounds(self, ax, frac=1.0, orthoRange=None):  # noqa: N802 - pg naming
        values = self._x if ax == 0 else self._y
        if len(values) == 0:
            return (None, None)
        if frac >= 1.0:
            return (float(values.min()), float(values.max()))
        return tuple(float(v) for v in np.percentile(values, [50 * (1 - frac), 50 * (1 + frac)]))

    def pixelPadding(self) -> float:  # noqa: N802 - pg naming
        return self._size

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt naming
        if self._rect.isNull() and len(self._x) == 0:
            return QRectF()
        # Pad by the dot radius in data units so the edge dots are repainted whole.
        px = self.pixelLength(pg.Point(1, 0)) or 0.0
        py = self.pixelLength(pg.Point(0, 1)) or 0.0
        pad_x, pad_y = px * self._size, py * self._size
        return self._rect.adjusted(-pad_x, -pad_y, pad_x, pad_y)

    def viewTransformChanged(self) -> None:  # noqa: N802 - pg naming
        self.prepareGeometryChange()

    def paint(self, painter, *_args) -> None:
        if len(self._x) == 0:
            return
        painter.setRenderHint(painter.RenderHint.Antialiasing, False)
        painter.setPen(self._pen)
        painter.drawPoints(self._polygon)


class CurvePool:
    """Curve items of one plot, reused from one redraw to the next (adding and removing items
    costs more than drawing them). ``begin()``, then ``draw()`` per curve, then ``end()``."""

    def __init__(self, plot, z: float = 0.0) -> None:
        self._plot = plot
        self._z = z
        self._items: list[pg.PlotCurveItem] = []
        self._used = 0

    def begin(self) -> None:
        self._used = 0

    def draw(self, x, y, pen, connect="all", **options) -> pg.PlotCurveItem:
        if self._used == len(self._items):
            item = pg.PlotCurveItem()
            item.setZValue(self._z)
            self._plot.addItem(item)
            self._items.append(item)
        item = self._items[self._used]
        self._used += 1
        settings = {"fillLevel": None, "brush": None, "stepMode": None}
        settings.update(options)  # a reused item keeps no option from its last curve
        item.setData(x, y, pen=pen, connect=connect, **settings)
        item.setVisible(True)
        return item

    def end(self) -> None:
        for item in self._items[self._used:]:
            if item.isVisible():
                # Empty data with the last curve's step mode would raise (x must be one
                # longer than y): the options go with it.
                item.setData([], [], stepMode=None, fillLevel=None, brush=None)
                item.setVisible(False)
