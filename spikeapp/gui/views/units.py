"""The unit table: metrics recomputed after every edit, sortable, visibility check boxes."""

from __future__ import annotations

import logging
from datetime import date, datetime

import numpy as np
from PyQt6.QtCore import QItemSelectionModel, QSettings, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QAction, QColor
from PyQt6.QtWidgets import QAbstractItemView, QMenu, QTableWidget, QTableWidgetItem

from spikeapp.gui.workers import JobRunner
from spikeapp.metrics import unit_metrics
from spikeapp.metrics.quality import unit_quality
from spikeapp.session.display import UNRESOLVED_COLOUR, count_of, proposal_colour
from spikeapp.session.state import (
    ACCEPTED,
    HUMAN,
    IMPORTED,
    NETWORK,
    UNRESOLVED,
    distinct_ids,
)
from spikeapp.tasks import Progress

# What a curator sets comes first (quality, notes), then the metrics they sort by; the header's
# context menu hides and shows columns, remembered between sessions.
COLUMNS = ["", "unit", "spikes", "labels", "quality", "notes", "confidence", "SNR", "ISI<1.5ms %",
           "rate Hz", "isolation", "L-ratio", "presence", "amp. cutoff", "most similar",
           "assigned by"]
TIPS = {
    "labels": "spikes labelled by hand or imported",
    "confidence": "mean confidence of the network's assignments",
    "SNR": "peak of the mean waveform over the channel's noise",
    "ISI<1.5ms %": "inter-spike intervals shorter than 1.5 ms (refractory violations)",
    "isolation": "isolation distance in the group's PCA features (Schmitzer-Torbert 2005): "
                 "higher is better isolated; empty when the group has fewer other spikes",
    "L-ratio": "L-ratio in the group's PCA features: contamination by other spikes, lower is "
               "better",
    "presence": "share of the recording's time bins (60 s) with spikes: below 0.9, lost to "
                "drift or silent for a while",
    "amp. cutoff": "estimated share of the unit's spikes missed under the threshold (at most "
                   "0.5)",
    "most similar": "the unit of the same group with the most similar mean waveform (cosine): "
                    "above about 0.95, look at merging; double-click to show the pair",
    "assigned by": "who assigned the spikes and when",
}
EDITABLE = {1: "name", 5: "notes"}
log = logging.getLogger(__name__)
METRICS_AFTER_MS = 150   # the metrics job starts this long after the table is refreshed
MOST_SIMILAR = COLUMNS.index("most similar")
DEFAULT_HIDDEN = ("assigned by",)
COMPUTED = [COLUMNS.index(name) for name in (
    "labels", "confidence", "SNR", "ISI<1.5ms %", "rate Hz", "isolation", "L-ratio", "presence",
    "amp. cutoff", "most similar", "assigned by")]       # filled in by a worker thread
TEXTUAL = {COLUMNS.index("most similar"), COLUMNS.index("assigned by")}
PROPOSED = -1000   # a proposal's row carries PROPOSED - its index as its id


def proposal_index(row_id: int) -> int | None:
    return PROPOSED - row_id if row_id <= PROPOSED else None


def provenance(session, members) -> str:
    """Who assigned a unit's spikes and when: "20 hand, 690 network #3 (14:05)"."""
    if len(members) == 0:
        return ""
    source = session.source[members]
    parts = []
    for code, name in ((HUMAN, "hand"), (IMPORTED, "imported"), (ACCEPTED, "accepted")):
        count = int((source == code).sum())
        if count:
            parts.append(f"{count} {name}")
    found = session.detection.origin[members] == 1
    if found.any():
        parts.append(f"{int(found.sum())} found by template")
    network = source == NETWORK
    if network.any():
        versions = distinct_ids(session.network_version[members[network]]).tolist()
        parts.append(f"{int(network.sum())} network #" + ",".join(str(v) for v in versions))
    when = session.assigned_at[members]
    latest = np.fmax.reduce(when) if len(when) else np.nan  # NaN only when all are NaN
    if np.isfinite(latest):
        latest = datetime.fromtimestamp(float(latest))
        parts[-1] += f" ({latest:%H:%M})" if latest.date() == date.today() \
            else f" ({latest:%Y-%m-%d})"
    return ", ".join(parts)


class _Number(QTableWidgetItem):
    def __lt__(self, other) -> bool:  # numeric sort
        try:
            return float(self.text()) < float(other.text())
        except ValueError:
            return super().__lt__(other)


def unit_figures(session, members: dict[int, np.ndarray]
                 ) -> dict[int, tuple[list[str], int | None]]:
    """Per unit: the texts of the ``COMPUTED`` columns and its most similar unit (Qt-free: runs
    on a worker thread, on a copy of the sorting)."""
    quality = unit_quality(session, {u: m for u, m in members.items() if len(m)})
    out = {}
    for unit_id, spikes in members.items():
        m = unit_metrics(session, unit_id, spikes)
        q = quality.get(unit_id)
        similar = (f"{session.units[q.most_similar].name} ({q.similarity:.2f})"
                   if q is not None and q.most_similar in session.units else "")

        def number(value: float, digits: int) -> str:
            return "" if not np.isfinite(value) else f"{value:.{digits}f}"

        texts = [str(m.n_labels), f"{m.mean_confidence:.3f}", f"{m.snr:.1f}",
                 f"{m.isi_violations_pct:.2f}", f"{m.rate_hz:.2f}",
                 number(q.isolation_distance if q else np.nan, 1),
                 number(q.l_ratio if q else np.nan, 3),
                 number(q.presence_ratio if q else np.nan, 2),
                 number(q.amplitude_cutoff if q else np.nan, 3), similar,
                 provenance(session, spikes)]
        out[unit_id] = (texts, q.most_similar if q is not None else None)
    return out


class UnitTable(QTableWidget):
    visibility_changed = pyqtSignal(set)
    metrics_ready = pyqtSignal()        # the metrics of the state shown are filled in

    def __init__(self, controller) -> None:
        super().__init__(0, len(COLUMNS))
        self.controller = controller
        self.hidden: set[int] = set()
        self.most_similar: dict[int, int] = {}   # unit id -> its most similar unit's
        self._figures: dict[int, list[str]] = {}   # unit id -> its last computed column texts
        self._want = self._have = None             # (revision, group, units) keys
        self._metrics = JobRunner(self)
        self._metrics.finished.connect(self._metrics_ready)
        self._metrics.failed.connect(lambda message, _details: log.warning(
            "unit metrics failed: %s", message))
        self._metrics.cancelled.connect(self._compute)
        # The metrics start once the views have painted the edit: a job started at once
        # competed with the paint for the interpreter (at ten million spikes, 100 ms and more of
        # the edit's time); edits in quick succession start one job.
        self.pending = QTimer(self)
        self.pending.setSingleShot(True)
        self.pending.setInterval(METRICS_AFTER_MS)
        self.pending.timeout.connect(self._compute)
        self._filling = False
        self.setHorizontalHeaderLabels(COLUMNS)
        for column, name in enumerate(COLUMNS):
            if name in TIPS:
                self.horizontalHeaderItem(column).setToolTip(TIPS[name])
        header = self.horizontalHeader()
        header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header.customContextMenuRequested.connect(self._column_menu)
        hidden = QSettings("spikeapp", "spikeapp").value("units/hidden_columns", list(DEFAULT_HIDDEN))
        for name in hidden if isinstance(hidden, list) else [hidden]:
            if name in COLUMNS:
                self.setColumnHidden(COLUMNS.index(name), True)
        self.cellDoubleClicked.connect(self._double_clicked)
        self.setSortingEnabled(True)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked)
        self.verticalHeader().setVisible(False)
        self._unresolved_chosen = False
        self.itemSelectionChanged.connect(self._selection)
        self.itemChanged.connect(self._changed)

    def refresh(self) -> None:
        """Rows at once (name, spike count, quality, notes); the metrics are computed on a
        worker thread and filled in when ready (at a million spikes
        they take longer than an interaction may). Until then a row shows its unit's last
        figures."""
        session = self.controller.session
        self._filling = True
        self.setSortingEnabled(False)
        units = self.controller.units()
        self.setRowCount(len(units))
        members = self.controller.members()
        for row, unit in enumerate(units):
            visible = QTableWidgetItem()
            visible.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled
                             | Qt.ItemFlag.ItemIsSelectable)
            visible.setCheckState(Qt.CheckState.Unchecked if unit.id in self.hidden
                                  else Qt.CheckState.Checked)
            visible.setBackground(QColor(unit.colour))
            last = self._figures.get(unit.id, [""] * len(COMPUTED))
            cells = [visible, QTableWidgetItem(unit.name),
                     _Number(str(count_of(members, unit.id))), None,
                     QTableWidgetItem(unit.quality), QTableWidgetItem(unit.notes)]
            cells += [None] * (len(COLUMNS) - len(cells))
            for column, text in zip(COMPUTED, last):
                cells[column] = _Number(text) if column not in TEXTUAL else QTableWidgetItem(text)
            for column, item in enumerate(cells):
                if column and column not in EDITABLE:
                    item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                item.setData(Qt.ItemDataRole.UserRole, unit.id)
                self.setItem(row, column, item)
        self._unresolved_row(session)
        self._proposal_rows(session)
        self.setSortingEnabled(True)
        self.resizeColumnsToContents()
        self.show_selected_units()
        self._filling = False
        self._want = (self.controller.revision, self.controller.group, len(units))
        self.pending.start()

    def _compute(self) -> None:
        """Start the metrics job for the state wanted (one at a time: a newer edit waits for
        the running job, whose result is then dropped)."""
        session = self.controller.session
        if session is None or self._metrics.running or self._want == self._have:
            return
        from spikeapp.session import Session

        key = self._want
        # The arrays as they are, not copies (25 MB at a million spikes): an edit made while
        # the job reads them changes the revision, and a result for another revision is dropped.
        snapshot = Session(session.detection, assignment=session.assignment,
                           source=session.source, confidence=session.confidence,
                           network_version=session.network_version,
                           assigned_at=session.assigned_at, units=dict(session.units))
        every = self.controller.members()    # each unit's list is made on the job's thread
        ids = [u.id for u in self.controller.units()]

        def job(_token):
            yield Progress(0, 1, "unit metrics", "metrics")
            members = {u: every.get(u, np.zeros(0, np.int64)) for u in ids}
            return key, unit_figures(snapshot, members)

        self._metrics.start(job)

    def stop(self) -> None:
        """Before the window closes: the metrics job is cancelled and its thread joined."""
        self.pending.stop()
        self._want = self._have
        self._metrics.wait()

    def _metrics_ready(self, result) -> None:
        key, figures = result
        if key != self._want:
            self._compute()   # an edit came meanwhile: compute again
            return
        self._have = key
        self._figures.update({u: texts for u, (texts, _) in figures.items()})
        self.most_similar = {u: other for u, (_, other) in figures.items() if other is not None}
        self._filling = True
        self.setSortingEnabled(False)
        for row in range(self.rowCount()):
            unit_id = self.item(row, 0).data(Qt.ItemDataRole.UserRole)
            if unit_id not in figures:
                continue
            for column, text in zip(COMPUTED, figures[unit_id][0]):
                self.item(row, column).setText(text)
        self.setSortingEnabled(True)
        self.resizeColumnsToContents()
        self._filling = False
        self.metrics_ready.emit()

    def _unresolved_row(self, session) -> None:
        """The spikes the network was not sure enough of, as a row: selecting it selects them,
        to review and label with the unit keys."""
        spikes = self.controller.members().get(UNRESOLVED, np.zeros(0, np.int64))
        if session is None or not len(spikes):
            return
        row = self.rowCount()
        self.setRowCount(row + 1)
        marker = QTableWidgetItem()
        marker.setBackground(QColor(UNRESOLVED_COLOUR))
        confidence = float(np.mean(session.confidence[spikes]))
        cells = [marker, QTableWidgetItem("(unresolved)"), _Number(str(len(spikes))),
                 _Number("0"), QTableWidgetItem(""), QTableWidgetItem("below min confidence"),
                 _Number(f"{confidence:.3f}")]
        cells += [_Number("") for _ in range(len(COLUMNS) - len(cells) - 1)]
        cells.append(QTableWidgetItem("network"))
        for column, item in enumerate(cells):
            item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
            item.setData(Qt.ItemDataRole.UserRole, UNRESOLVED)
            self.setItem(row, column, item)

    def _proposal_rows(self, session) -> None:
        """The channel's proposed units, still open, as rows: select one or more, then P accepts
        them (their most typical spikes become labels) and M merges them; Shift+X splits the
        selected spikes off one."""
        if session is None:
            return
        for index, count in self.controller.open_proposals():
            row = self.rowCount()
            self.setRowCount(row + 1)
            marker = QTableWidgetItem()
            marker.setBackground(QColor(proposal_colour(index)))
            cells = [marker, QTableWidgetItem(f"proposed {index + 1}"), _Number(str(count)),
                     _Number("0"), QTableWidgetItem("proposed"),
                     QTableWidgetItem("P accepts it as a unit")]
            cells += [_Number("") for _ in range(len(COLUMNS) - len(cells) - 1)]
            cells.append(QTableWidgetItem("clustering"))
            for column, item in enumerate(cells):
                item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
                item.setForeground(QColor("#707070"))
                item.setData(Qt.ItemDataRole.UserRole, PROPOSED - index)
                self.setItem(row, column, item)

    def _column_menu(self, position) -> None:
        """Check boxes to hide and show columns (kept for the next session)."""
        menu = QMenu(self)
        for column, name in enumerate(COLUMNS):
            if column < 2:
                continue   # the colour box and the name stay
            action = QAction(name, menu, checkable=True)
            action.setChecked(not self.isColumnHidden(column))
            action.toggled.connect(lambda shown, c=column: self.show_column(c, shown))
            menu.addAction(action)
        menu.popup(self.horizontalHeader().mapToGlobal(position))

    def show_column(self, column: int, shown: bool) -> None:
        self.setColumnHidden(column, not shown)
        QSettings("spikeapp", "spikeapp").setValue("units/hidden_columns",
                             [n for c, n in enumerate(COLUMNS) if self.isColumnHidden(c)])

    def _double_clicked(self, row: int, column: int) -> None:
        """On 'most similar': select the unit and that one, to compare them (cross-correlogram,
        similarity) before merging."""
        if column != MOST_SIMILAR or self.controller.session is None:
            return
        unit_id = self.item(row, 0).data(Qt.ItemDataRole.UserRole)
        other = self.most_similar.get(unit_id)
        if other in self.controller.session.units:
            self.controller.select_units([unit_id, other])

    def show_selected_units(self) -> None:
        """Highlight the rows of the controller's selected units and no others. Qt keeps a
        selection by row: after an edit the rows hold other units (a merge removes one), and
        the table highlighted units that were gone."""
        wanted = set(self.controller.selected_units)
        proposals = set(self.controller.selected_proposals)
        filling, self._filling = self._filling, True
        try:
            model = self.selectionModel()
            model.clearSelection()
            flags = (QItemSelectionModel.SelectionFlag.Select
                     | QItemSelectionModel.SelectionFlag.Rows)
            for row in range(self.rowCount()):
                item = self.item(row, 0)
                row_id = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
                if row_id is None:
                    continue
                if row_id in wanted or proposal_index(row_id) in proposals or (
                        row_id == UNRESOLVED and self._unresolved_chosen):
                    model.select(self.model().index(row, 0), flags)
        finally:
            self._filling = filling

    def _selection(self) -> None:
        if self._filling:
            return
        rows = {index.row() for index in self.selectedIndexes()}
        ids = [self.item(r, 0).data(Qt.ItemDataRole.UserRole) for r in sorted(rows)]
        proposals = [proposal_index(u) for u in ids if proposal_index(u) is not None]
        self._unresolved_chosen = UNRESOLVED in ids
        self.controller.selected_proposals = proposals
        if proposals:
            self.controller.select_proposals(proposals)
        elif UNRESOLVED in ids:
            self.controller.select(self.controller.members().get(UNRESOLVED,
                                                                 np.zeros(0, np.int64)))
        self.controller.select_units([u for u in ids if u != UNRESOLVED
                                      and proposal_index(u) is None])

    def _changed(self, item: QTableWidgetItem) -> None:
        if self._filling:
            return
        unit_id = item.data(Qt.ItemDataRole.UserRole)
        if item.column() == 0:
            if item.checkState() == Qt.CheckState.Checked:
                self.hidden.discard(unit_id)
            else:
                self.hidden.add(unit_id)
            self.visibility_changed.emit(set(self.hidden))
        elif item.column() in EDITABLE:
            current = getattr(self.controller.session.units[unit_id], EDITABLE[item.column()])
            if item.text() != current:
                self.controller.edit_unit(unit_id, **{EDITABLE[item.column()]: item.text()})
