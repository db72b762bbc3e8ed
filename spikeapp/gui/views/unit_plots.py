"""ISI histogram, auto-/cross-correlograms and amplitude and firing rate over time of the
selected units (up to three; the first unit when none is selected)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from spikeapp.gui.views.layers import CurvePool, PointsItem
from spikeapp.metrics import correlogram, firing_rate, isi_histogram
from spikeapp.metrics.quality import similarity, templates
from spikeapp.session.display import hex_to_rgb

AMPLITUDE_POINTS = 1500  # per unit
MAX_UNITS = 3            # units plotted together


class UnitPlots(pg.GraphicsLayoutWidget):
    def __init__(self, controller) -> None:
        super().__init__()
        self.controller = controller
        self.isi = self.addPlot(title="ISI (ms)")
        self.nextRow()
        self.ccg = self.addPlot(title="correlogram (ms)")
        self.nextRow()
        self.amplitude = self.addPlot(title="amplitude over time (s)")
        self.nextRow()
        self.rate = self.addPlot(title="firing rate (Hz) over time (s)")
        self._pools = {plot: CurvePool(plot) for plot in (self.isi, self.ccg, self.rate)}
        for plot in (self.isi, self.ccg, self.amplitude, self.rate):
            for side in ("bottom", "left"):
                plot.getAxis(side).enableAutoSIPrefix(False)   # no "(x0.001)" on seconds
        self._amplitudes = [PointsItem(size=3) for _ in range(MAX_UNITS)]
        for item in self._amplitudes:
            self.amplitude.addItem(item)
        self._drawn = None  # what is on screen: (revision, group, units)

    def units_shown(self) -> list[int]:
        session = self.controller.session
        if session is None:
            return []
        units = [u for u in self.controller.selected_units if u in session.units][:MAX_UNITS]
        return units or [u.id for u in self.controller.units()][:1]

    def refresh(self) -> None:
        """Redraw, unless neither the session nor the units shown changed (a spike selection
        alone leaves these plots as they are)."""
        units = self.units_shown()
        key = (self.controller.revision, self.controller.group, tuple(units))
        if key == self._drawn:
            return
        self._drawn = key
        for pool in self._pools.values():
            pool.begin()
        for item in self._amplitudes:
            item.setData([], [], (0, 0, 0))
        session = self.controller.session
        if session is not None and units:
            self._draw(session, units)
        for pool in self._pools.values():
            pool.end()

    def _draw(self, session, units: list[int]) -> None:
        d = session.detection
        members = {u: self.controller.members().get(u, np.zeros(0, dtype=np.int64)) for u in units}
        times = {u: d.times_s[members[u]] for u in units}
        start = d.t_start
        stop = d.t_start + d.n_samples / d.sampling_rate
        for unit_id in units:
            colour = hex_to_rgb(session.units[unit_id].colour)
            counts, edges = isi_histogram(times[unit_id])
            self._pools[self.isi].draw(edges, counts, pg.mkPen(colour), stepMode="center",
                                       fillLevel=0, brush=(*colour, 120))
            shown = members[unit_id][:: max(1, len(members[unit_id]) // AMPLITUDE_POINTS)]
            self._amplitudes[units.index(unit_id)].setData(d.times_s[shown], d.amplitudes[shown],
                                                           (*colour, 200))
            rate, edges = firing_rate(times[unit_id], start, stop)
            self._pools[self.rate].draw(edges, rate, pg.mkPen(colour, width=2), stepMode="center")
        names = ", ".join(session.units[u].name for u in units)
        self.isi.setTitle(f"ISI of {names} (ms)")
        self.amplitude.setTitle(f"amplitude ({d.signal_unit}) of {names} over time (s)")
        self.rate.setTitle(f"firing rate (Hz) of {names} over time (s)")
        a = units[0]
        b = units[1] if len(units) > 1 else units[0]
        counts, edges = correlogram(times[a], times[a] if a == b else times[b])
        colour = hex_to_rgb(session.units[b].colour)
        self._pools[self.ccg].draw(edges, counts, pg.mkPen(colour), stepMode="center",
                                   fillLevel=0, brush=(*colour, 120))
        self.ccg.setTitle(f"autocorrelogram of {session.units[a].name} (ms)" if a == b else
                          f"{session.units[a].name} x {session.units[b].name} (ms)"
                          + self._similarity(session, members, a, b))

    @staticmethod
    def _similarity(session, members: dict, a: int, b: int) -> str:
        """", waveform similarity 0.97" for two units of one group (nothing across groups: their
        waveforms are on different channels)."""
        if session.units[a].group != session.units[b].group or not (len(members[a])
                                                                     and len(members[b])):
            return ""
        means = templates(session.detection.waveforms, {a: members[a], b: members[b]})
        return f", waveform similarity {similarity(means[a], means[b]):.2f}"
