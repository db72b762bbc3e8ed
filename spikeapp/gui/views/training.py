"""Training panel: progress bar, live loss and accuracy curves, cancel."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget


class TrainingPanel(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.progress = QProgressBar()
        self.status = QLabel("Label spikes of two units or more, then press T to train.")
        self.cancel = QPushButton("Cancel")
        self.cancel.setEnabled(False)
        self.status.setWordWrap(True)
        self.curves = pg.PlotWidget()
        self.curves.setLabel("bottom", "epoch")
        self.curves.getPlotItem().setContentsMargins(0, 0, 4, 0)
        # The key is the title, in the curves' colours: a legend inside the plot covered the
        # accuracy curves, which run along its top.
        self.curves.setTitle(" &nbsp; ".join(
            f"<span style='color:{colour}'>&#9473; {name}</span>" for colour, name in (
                ("#ffffff", "loss"), ("#00ffff", "training accuracy"),
                ("#00ff00", "validation accuracy"))), size="9pt")
        self.loss = self.curves.plot(pen=pg.mkPen("w", width=2), name="loss")
        self.train_acc = self.curves.plot(pen=pg.mkPen("c", width=2), name="training accuracy")
        self.val_acc = self.curves.plot(pen=pg.mkPen("g", width=2), name="validation accuracy")
        # Controls in a narrow column, the curves beside them at the dock's full height.
        controls = QVBoxLayout()
        row = QHBoxLayout()
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel)
        controls.addLayout(row)
        controls.addWidget(self.status, 1)
        side = QWidget()
        side.setLayout(controls)
        side.setFixedWidth(280)
        # Reliability: confidence against accuracy on the held-out labels (the diagonal is
        # perfect calibration).
        self.reliability = pg.PlotWidget(title="calibration")
        self.reliability.setLabel("bottom", "confidence")
        self.reliability.setLabel("left", "accuracy")
        self.reliability.setXRange(0, 1)
        self.reliability.setYRange(0, 1.02)
        self.reliability.setFixedWidth(260)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(side)
        layout.addWidget(self.curves, 1)
        layout.addWidget(self.reliability)
        self._history: list[dict] = []
        self._markers: list = []

    def started(self) -> None:
        self._history = []
        self.progress.setValue(0)
        self.cancel.setEnabled(True)
        self.status.setText("training...")
        self._plot()

    def update(self, progress) -> None:  # noqa: D401 - Qt naming aside, a slot
        self.progress.setValue(round(100 * progress.fraction))
        self.status.setText(progress.message)
        if progress.extra:
            self._history.append(progress.extra)
            self._plot()

    def stopped(self, text: str, complete: bool = False) -> None:
        self.cancel.setEnabled(False)
        if complete:
            self.progress.setValue(100)
        self.status.setText(text)

    def show_calibration(self, calibration: dict) -> None:
        """The reliability diagram of the held-out labels, and the calibration error before
        and after temperature scaling."""
        self.reliability.clear()
        self.reliability.plot([0, 1], [0, 1], pen=pg.mkPen((120, 120, 120),
                                                           style=Qt.PenStyle.DashLine))
        points = calibration.get("reliability") or []
        if not points:
            why = calibration.get("missing", "no held-out labels")
            self.reliability.setTitle(f"calibration: {why}", size="8pt")
            return
        confidence, accuracy, counts = (np.array(v, dtype=float) for v in zip(*points))
        sizes = 5 + 10 * np.sqrt(counts / counts.max())
        self.reliability.plot(confidence, accuracy, pen=pg.mkPen("g", width=2), symbol="o",
                              symbolSize=sizes, symbolBrush="g")
        self.reliability.setTitle(
            # Short enough for the narrow panel; ECE after scaling is cross-fitted.
            f"ECE {calibration['ece_before']:.2f}\u2192{calibration['ece_after']:.2f} "
            f"({calibration['held_out']} held out, cross-fit)", size="8pt")

    def _plot(self) -> None:
        x = list(range(1, len(self._history) + 1))
        # A dashed line where the second stage (self-training on confident predictions) begins.
        for marker in self._markers:
            self.curves.removeItem(marker)
        self._markers = []
        for index in range(1, len(self._history)):
            if self._history[index].get("stage") != self._history[index - 1].get("stage"):
                marker = pg.InfiniteLine(index + 0.5, angle=90, label="self-training",
                                         pen=pg.mkPen((150, 150, 150), style=Qt.PenStyle.DashLine),
                                         labelOpts={"position": 0.55, "color": (180, 180, 180)})
                self.curves.addItem(marker)
                self._markers.append(marker)
        self.loss.setData(x, [h.get("loss", 0) for h in self._history])
        self.train_acc.setData(x, [h.get("train_accuracy", 0) for h in self._history])
        # Epochs without held-out labels have no validation accuracy: no point, not a 0.
        validated = [(i, h["val_accuracy"]) for i, h in zip(x, self._history)
                     if "val_accuracy" in h]
        self.val_acc.setData([i for i, _ in validated], [v for _, v in validated])
