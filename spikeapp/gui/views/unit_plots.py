"""ISI histogram, auto-/cross-correlograms and amplitude and firing rate over time of the
selected units (up to three; the first unit when none is selected)."""

from __future__ import annotations

import logging

import numpy as np
import pyqtgraph as pg

from spikeapp.gui.views.layers import CurvePool, PointsItem
from spikeapp.gui.views.units import PROPOSED  # a proposal's stand-in id: PROPOSED - index
from spikeapp.gui.workers import JobRunner
from spikeapp.metrics import correlogram, firing_rate, isi_histogram
from spikeapp.metrics.quality import similarity, templates
from spikeapp.session.display import count_of, hex_to_rgb, proposal_colour
from spikeapp.session.state import Unit
from spikeapp.tasks import Progress

AMPLITUDE_POINTS = 1500  # per unit
MAX_UNITS = 3            # units plotted together
TITLE_SIZES = ("11pt", "9pt", "8pt")   # a title's font, smaller where it does not fit
LEFT_AXIS_PX = 48       # room for ticks such as "-150" or "20000"
PLAIN_TITLES = ("ISI (ms)", "correlogram (ms)", "amplitude over time (s)",
                "firing rate (Hz) over time (s)")   # with no unit shown
ASYNC_FROM = 200_000     # spikes shown from which the plots are worked out off the GUI thread

log = logging.getLogger(__name__)


class UnitPlots(pg.GraphicsLayoutWidget):
    def __init__(self, controller) -> None:
        super().__init__()
        self.controller = controller
        self.isi = self.addPlot(title=PLAIN_TITLES[0])
        self.nextRow()
        self.ccg = self.addPlot(title=PLAIN_TITLES[1])
        self.nextRow()
        self.amplitude = self.addPlot(title=PLAIN_TITLES[2])
        self.nextRow()
        self.rate = self.addPlot(title=PLAIN_TITLES[3])
        self._pools = {plot: CurvePool(plot) for plot in (self.isi, self.ccg, self.rate)}
        for plot in (self.isi, self.ccg, self.amplitude, self.rate):
            for side in ("bottom", "left"):
                plot.getAxis(side).enableAutoSIPrefix(False)   # no "(x0.001)" on seconds
            # A fixed width: ticks of a new range would resize the axis, lay the view out again
            # and paint it twice more.
            plot.getAxis("left").setWidth(LEFT_AXIS_PX)
        self._amplitudes = [PointsItem(size=3) for _ in range(MAX_UNITS)]
        for item in self._amplitudes:
            self.amplitude.addItem(item)
        self._titles: dict = {}   # plot -> (title, the room it was fitted to)
        self._drawn = None  # what is on screen: (revision, group, units)
        self._want = None   # what a background job is working out (the same key)
        self._inputs = None
        self._runner = JobRunner(self)
        self._runner.finished.connect(self._ready)
        self._runner.cancelled.connect(self._start)
        self._runner.failed.connect(lambda message, _details: log.warning(
            "unit plots failed: %s", message))

    def units_shown(self) -> list[int]:
        session = self.controller.session
        if session is None:
            return []
        units = [u for u in self.controller.selected_units if u in session.units][:MAX_UNITS]
        return units or [u.id for u in self.controller.units()][:1]

    def proposals_shown(self) -> list[int]:
        """The selected proposed units (indexes), when no unit is selected."""
        if self.controller.session is None or self.controller.selected_units:
            return []
        return list(self.controller.selected_proposals)[:MAX_UNITS]

    def refresh(self) -> None:
        """Redraw, unless neither the session nor the units shown changed (a spike selection
        alone leaves these plots as they are). Units of many spikes are worked out off the GUI
        thread (ISI, correlogram and rate of millions of spikes take a few hundred ms) and drawn
        when ready; a few are drawn at once."""
        proposals = self.proposals_shown()
        units = [] if proposals else self.units_shown()
        key = (self.controller.revision, self.controller.group, tuple(units),
               tuple(proposals))
        if key in (self._drawn, self._want):
            return
        session = self.controller.session
        if session is None or not (units or proposals):
            self._want = None
            self._show(key, None)
            return
        if proposals:
            # A proposed unit before it is accepted: its ISI and rate say whether it is one
            # neuron (it had no plots until it was a unit).
            shown = {PROPOSED - i: Unit(PROPOSED - i, f"proposed {i + 1}", self.controller.group,
                                        proposal_colour(i)) for i in proposals}
            members = {PROPOSED - i: self.controller.proposal(i).members for i in proposals}
            inputs = (session.detection, shown, members)
            if sum(len(m) for m in members.values()) < ASYNC_FROM:
                self._want = None
                self._show(key, plot_figures(*inputs))
                return
            self._want, self._inputs = key, inputs
            self._start()
            return
        # The units' spike lists are made where the figures are (the job's thread, for big ones).
        members = self.controller.members()
        inputs = (session.detection, {u: session.units[u] for u in units}, members)
        if sum(count_of(members, u) for u in units) < ASYNC_FROM:
            self._want = None
            self._show(key, plot_figures(*inputs))
            return
        self._want, self._inputs = key, inputs
        self._start()

    def _start(self) -> None:
        if self._runner.running or self._want is None:
            return   # the running job's result is dropped and the wanted one started then
        key, inputs = self._want, self._inputs

        def job(_token):
            yield Progress(0, 1, "unit plots", "plots")
            return key, plot_figures(*inputs)

        self._runner.start(job)

    def _ready(self, result) -> None:
        key, figures = result
        if key != self._want:
            self._start()
            return
        self._want = self._inputs = None
        self._show(key, figures)

    def stop(self) -> None:
        """Before the window closes: a running job is cancelled and its thread joined."""
        self._want = None
        self._runner.wait()

    def _show(self, key, figures: dict | None) -> None:
        self._drawn = key
        for pool in self._pools.values():
            pool.begin()
        for item in self._amplitudes:
            item.setData([], [], (0, 0, 0))
        if figures is not None:
            self._draw(figures)
        else:   # nothing shown (closed, or no unit yet): no title names a unit gone
            for plot, text in zip((self.isi, self.ccg, self.amplitude, self.rate), PLAIN_TITLES):
                self._title(plot, text)
        for pool in self._pools.values():
            pool.end()
        if self.isVisible():   # ranges fitted before the paint, not during it (one paint, not two)
            self.scene().prepareForPaint()

    def _title(self, plot: pg.PlotItem, text: str) -> None:
        """Set a plot's title where it changed (a new title lays the whole view out again), in
        a smaller font where it is wider than the panel, cut at the panel's edge where even that
        is too wide: left to ask for its width, a long title pushed the plots' right side out
        of view."""
        # The title sits over the plot's data area (the left axis column is not its own).
        room = round(min(plot.vb.width(), self.width() - LEFT_AXIS_PX - 16))
        if self._titles.get(plot) == (text, room):
            return
        self._titles[plot] = (text, room)
        label = plot.titleLabel
        for size in TITLE_SIZES:
            plot.setTitle(text, size=size)
            if label.item.boundingRect().width() <= room:
                break
        label.setMinimumWidth(0)
        label.setFlag(label.GraphicsItemFlag.ItemClipsChildrenToShape)

    def _draw(self, figures: dict) -> None:
        for k, (colour, unit) in enumerate(zip(figures["colours"], figures["units"])):
            counts, edges = unit["isi"]
            self._pools[self.isi].draw(edges, counts, pg.mkPen(colour), stepMode="center",
                                       fillLevel=0, brush=(*colour, 120))
            self._amplitudes[k].setData(*unit["amplitude"], (*colour, 200))
            rate, edges = unit["rate"]
            self._pools[self.rate].draw(edges, rate, pg.mkPen(colour, width=2), stepMode="center")
        names = figures["names"]
        self._title(self.isi, f"ISI of {names} (ms)")
        self._title(self.amplitude,
                    f"amplitude ({figures['signal_unit']}) of {names} over time (s)")
        self._title(self.rate, f"firing rate (Hz) of {names} over time (s)")
        counts, edges = figures["correlogram"]
        colour = figures["correlogram_colour"]
        self._pools[self.ccg].draw(edges, counts, pg.mkPen(colour), stepMode="center",
                                   fillLevel=0, brush=(*colour, 120))
        self._title(self.ccg, figures["correlogram_title"])


def plot_figures(detection, units: dict, members: dict) -> dict:
    """What the plots draw for ``units`` (id -> Unit, in order) and their ``members``, without
    Qt (run on a worker thread for big units): per unit its ISI histogram, amplitude points
    and firing rate; the first unit's autocorrelogram, or the first two's cross-correlogram
    with their waveform similarity."""
    d = detection
    ids = list(units)
    members = {u: members.get(u, np.zeros(0, dtype=np.int64)) for u in ids}
    times = {u: d.times_s[members[u]] for u in ids}
    start = d.t_start
    stop = d.t_start + d.n_samples / d.sampling_rate
    per_unit = []
    for unit_id in ids:
        shown = members[unit_id][:: max(1, len(members[unit_id]) // AMPLITUDE_POINTS)]
        per_unit.append({"isi": isi_histogram(times[unit_id]),
                         "amplitude": (d.times_s[shown], d.amplitudes[shown]),
                         "rate": firing_rate(times[unit_id], start, stop)})
    a = ids[0]
    b = ids[1] if len(ids) > 1 else ids[0]
    title = (f"autocorrelogram of {units[a].name} (ms)" if a == b else
             f"{units[a].name} x {units[b].name} (ms)" + _similarity(d, units, members, a, b))
    return {"units": per_unit, "colours": [hex_to_rgb(units[u].colour) for u in ids],
            "names": ", ".join(units[u].name for u in ids), "signal_unit": d.signal_unit,
            "correlogram": correlogram(times[a], times[a] if a == b else times[b]),
            "correlogram_title": title, "correlogram_colour": hex_to_rgb(units[b].colour)}


def _similarity(detection, units: dict, members: dict, a: int, b: int) -> str:
    """", waveform similarity 0.97" for two units of one group (nothing across groups: their
    waveforms are on different channels)."""
    if units[a].group != units[b].group or not (len(members[a]) and len(members[b])):
        return ""
    means = templates(detection.waveforms, {a: members[a], b: members[b]})
    return f", waveform similarity {similarity(means[a], means[b]):.2f}"
