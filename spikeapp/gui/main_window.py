"""The main window (first version: shows the detected demo; labelling and training follow)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtWidgets import QLabel, QMainWindow, QVBoxLayout, QWidget


class MainWindow(QMainWindow):
    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("spikeapp")
        central = QWidget()
        layout = QVBoxLayout(central)
        self._status = QLabel("Open a recording with 'spikeapp gui RECORDING' or 'spikeapp --demo'.")
        self._plot = pg.PlotWidget(title="waveforms")
        layout.addWidget(self._status)
        layout.addWidget(self._plot)
        self.setCentralWidget(central)

    def busy(self) -> bool:
        return False

    def open_demo(self) -> None:
        from spikeapp.detection import detect
        from spikeapp.io.demo import make_demo
        from spikeapp.tasks import run_job

        result = run_job(detect(make_demo().recording()))
        self._show(result, "demo")

    def open_recording_path(self, path: str) -> None:
        from spikeapp.detection import detect
        from spikeapp.io import open_recording
        from spikeapp.tasks import run_job

        with open_recording(path) as recording:
            self._show(run_job(detect(recording)), path)

    def _show(self, result, name: str) -> None:
        waves = result.waveforms[:500, 0]
        x = np.tile(np.arange(waves.shape[1]), len(waves))
        connect = np.ones(waves.size, dtype=bool)
        connect[waves.shape[1] - 1::waves.shape[1]] = False
        self._plot.plot(x, waves.ravel(), connect=connect, pen=pg.mkPen((80, 160, 255, 60)))
        self._status.setText(f"{name}: {result.n_spikes} spikes detected. Labelling and training "
                             "are not in this version yet: use 'spikeapp sort'.")
