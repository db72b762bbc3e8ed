"""ISI histogram, auto-/cross-correlograms and amplitude and firing rate over time of the
selected units."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from spikeapp.metrics import correlogram, isi_histogram
from spikeapp.session.display import hex_to_rgb


class UnitPlots(pg.GraphicsLayoutWidget):
    def __init__(self, controller) -> None:
        super().__init__()
        self.controller = controller
        self.isi = self.addPlot(title="ISI (ms)")
        self.nextRow()
        self.ccg = self.addPlot(title="correlogram (ms)")
        self.nextRow()
        self.amplitude = self.addPlot(title="amplitude (µV) over time (s)")
        self.nextRow()
        self.rate = self.addPlot(title="firing rate (Hz) over time (s)")

    def refresh(self) -> None:
        for plot in (self.isi, self.ccg, self.amplitude, self.rate):
            plot.clear()
        session = self.controller.session
        if session is None:
            return
        units = [u for u in self.controller.selected_units if u in session.units][:3]
        if not units:
            units = [u.id for u in self.controller.units()][:1]
        times = {u: session.detection.times_s[session.assignment == u] for u in units}
        for unit_id in units:
            colour = hex_to_rgb(session.units[unit_id].colour)
            counts, edges = isi_histogram(times[unit_id])
            self.isi.plot(edges, counts, stepMode="center", fillLevel=0,
                          brush=(*colour, 120), pen=pg.mkPen(colour))
            members = np.nonzero(session.assignment == unit_id)[0]
            step = max(1, len(members) // 1500)
            self.amplitude.plot(session.detection.times_s[members[::step]],
                                session.detection.amplitudes[members[::step]], pen=None,
                                symbol="o", symbolSize=3, symbolBrush=(*colour, 150),
                                symbolPen=None)
            duration = session.detection.n_samples / session.detection.sampling_rate
            bins = np.linspace(0, duration, max(2, int(duration // 2) + 1))
            rate = np.histogram(times[unit_id] - session.detection.t_start, bins)[0] / np.diff(bins)
            self.rate.plot(bins, rate, stepMode="center", pen=pg.mkPen(colour, width=2))
        if units:
            a = units[0]
            b = units[1] if len(units) > 1 else units[0]
            counts, edges = correlogram(times[a], times[a] if a == b else times[b])
            colour = hex_to_rgb(session.units[b].colour)
            self.ccg.plot(edges, counts, stepMode="center", fillLevel=0, brush=(*colour, 120))
            self.ccg.setTitle("autocorrelogram (ms)" if a == b else
                              f"{session.units[a].name} x {session.units[b].name} (ms)")
