"""Training panel: progress bar, live loss and accuracy curves, cancel."""

from __future__ import annotations

import pyqtgraph as pg
from PyQt6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget


class TrainingPanel(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.progress = QProgressBar()
        self.status = QLabel("Label spikes of two units or more, then press T to train.")
        self.cancel = QPushButton("Cancel")
        self.cancel.setEnabled(False)
        self.curves = pg.PlotWidget(title="loss (white), training / validation accuracy")
        self.curves.addLegend()
        self.loss = self.curves.plot(pen="w", name="loss")
        self.train_acc = self.curves.plot(pen="c", name="train acc")
        self.val_acc = self.curves.plot(pen="g", name="val acc")
        top = QHBoxLayout()
        top.addWidget(self.progress, 1)
        top.addWidget(self.cancel)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.status)
        layout.addWidget(self.curves, 1)
        self._history: list[dict] = []

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

    def _plot(self) -> None:
        x = list(range(1, len(self._history) + 1))
        self.loss.setData(x, [h.get("loss", 0) for h in self._history])
        self.train_acc.setData(x, [h.get("train_accuracy", 0) for h in self._history])
        self.val_acc.setData(x, [h.get("val_accuracy", 0) for h in self._history])
