"""A per-unit report as one self-contained HTML file: the metrics table, then for each unit its
waveforms (a sample and the mean), ISI histogram, autocorrelogram and amplitude over time,
rendered with pyqtgraph offscreen (PNG images inlined)."""

from __future__ import annotations

import base64
import html
import os
from datetime import datetime
from pathlib import Path

import numpy as np

from spikeapp import __version__
from spikeapp.session import Session

WAVEFORMS_DRAWN = 100


def _app():
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PyQt6.QtWidgets import QApplication

    return QApplication.instance() or QApplication(["spikeapp-report"])


def _png(widget) -> str:
    from PyQt6.QtCore import QBuffer, QIODevice

    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    widget.grab().save(buffer, "PNG")
    return base64.b64encode(bytes(buffer.data())).decode()


def _unit_figure(session: Session, unit, members: np.ndarray):
    import pyqtgraph as pg

    from spikeapp.export.common import group_waveforms
    from spikeapp.metrics import correlogram, isi_histogram
    from spikeapp.session.display import hex_to_rgb

    d = session.detection
    colour = hex_to_rgb(unit.colour)
    figure = pg.GraphicsLayoutWidget()
    figure.setBackground("w")
    figure.resize(1100, 260)
    waves = figure.addPlot(title=f"waveforms ({session.detection.signal_unit})")
    shown = group_waveforms(session, members[:: max(1, len(members) // WAVEFORMS_DRAWN)])
    samples = shown.shape[2]
    for channel in range(shown.shape[1]):
        x = channel * (samples + 4) + np.arange(samples)
        connect = np.ones((len(shown), samples), bool)
        connect[:, -1] = False
        waves.plot(np.tile(x, len(shown)), shown[:, channel].ravel(), connect=connect.ravel(),
                   pen=pg.mkPen((*colour, 50)))
        mean = group_waveforms(session, members[:: max(1, len(members) // 5000)]).mean(axis=0)
        waves.plot(x, mean[channel], pen=pg.mkPen("k", width=2))
    times = d.times_s[members]
    counts, edges = isi_histogram(times)
    isi = figure.addPlot(title="ISI (ms)")
    isi.plot(edges, counts, stepMode="center", fillLevel=0, brush=(*colour, 160))
    isi.addLine(x=1.5, pen=pg.mkPen("r", style=pg.QtCore.Qt.PenStyle.DashLine))
    counts, edges = correlogram(times, times)
    acg = figure.addPlot(title="autocorrelogram (ms)")
    acg.plot(edges, counts, stepMode="center", fillLevel=0, brush=(*colour, 160))
    amplitude = figure.addPlot(title=f"amplitude ({session.detection.signal_unit}) over time (s)")
    step = max(1, len(members) // 3000)
    amplitude.plot(times[::step], d.amplitudes[members[::step]], pen=None, symbol="o",
                   symbolSize=3, symbolPen=None, symbolBrush=(*colour, 180))
    return figure


def _quality_cells(session: Session, q) -> str:
    """Isolation distance, L-ratio, presence ratio, amplitude cutoff and the most similar unit
    (empty where undefined)."""
    if q is None:
        return "<td></td>" * 5

    def number(value: float, digits: int) -> str:
        return f"<td>{value:.{digits}f}</td>" if value == value else "<td></td>"   # NaN: empty

    similar = (f"{html.escape(session.units[q.most_similar].name)} ({q.similarity:.2f})"
               if q.most_similar in session.units else "")
    return (number(q.isolation_distance, 1) + number(q.l_ratio, 3) + number(q.presence_ratio, 2)
            + number(q.amplitude_cutoff, 3) + f"<td>{similar}</td>")


def write_report(session: Session, path: str | Path) -> int:
    """Write the report; returns the number of units in it."""
    from spikeapp.atomic import atomic_file
    from spikeapp.export.common import unit_trains
    from spikeapp.metrics import unit_metrics
    from spikeapp.metrics.quality import unit_quality

    _app()
    trains = unit_trains(session)
    quality = unit_quality(session, {t.unit.id: t.spikes for t in trains})
    rows, sections = [], []
    source = html.escape(str(session.recording.get("path", "")))
    for train in trains:
        unit, m = train.unit, unit_metrics(session, train.unit.id, train.spikes)
        name = html.escape(unit.name)
        rows.append(
            f"<tr><td style='background:{unit.colour}'></td><td>{name}</td><td>{unit.group}</td>"
            f"<td>{m.n_spikes}</td><td>{train.n_human}</td><td>{m.rate_hz:.2f}</td>"
            f"<td>{m.snr:.1f}</td><td>{m.isi_violations_pct:.2f}</td>"
            f"<td>{m.mean_confidence:.3f}</td>{_quality_cells(session, quality.get(unit.id))}"
            f"<td>{html.escape(unit.quality)}</td><td>{html.escape(unit.notes)}</td></tr>")
        figure = _unit_figure(session, unit, train.spikes)
        sections.append(f"<h2 id='unit{unit.id}'>{name} <small>(channel group {unit.group}, "
                        f"{m.n_spikes} spikes, {html.escape(unit.quality)})</small></h2>"
                        f"<img alt='plots of {name}' src='data:image/png;base64,{_png(figure)}'>")
        figure.deleteLater()
    header = ("<tr><th></th><th>unit</th><th>group</th><th>spikes</th><th>hand labels</th>"
              "<th>rate (Hz)</th><th>SNR</th><th>ISI &lt; 1.5 ms (%)</th><th>confidence</th>"
              "<th>isolation distance</th><th>L-ratio</th><th>presence ratio</th>"
              "<th>amplitude cutoff</th><th>most similar</th>"
              "<th>quality</th><th>notes</th></tr>")
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>spikeapp report: {source}</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}} img{{max-width:100%}}</style>
</head><body><h1>Sorted units</h1>
<p>Recording: {source}<br>Made with spikeapp {__version__} on
{datetime.now().strftime('%Y-%m-%d %H:%M')}.</p>
<table>{header}{''.join(rows)}</table>
{''.join(sections)}
</body></html>
"""
    with atomic_file(path) as temporary:
        temporary.write_text(page, encoding="utf-8")
    return len(trains)
