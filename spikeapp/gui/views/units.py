"""The unit table: metrics recomputed after every edit, sortable, visibility check boxes."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtGui import QColor
from PyQt6.QtWidgets import QAbstractItemView, QTableWidget, QTableWidgetItem

from spikeapp.metrics import unit_metrics
from spikeapp.session.display import UNRESOLVED_COLOUR
from spikeapp.session.state import HUMAN, IMPORTED, NETWORK, UNRESOLVED, distinct_ids

COLUMNS = ["", "unit", "spikes", "labels", "rate Hz", "SNR", "ISI<1.5ms %", "confidence",
           "quality", "notes", "assigned by"]
EDITABLE = {1: "name", 9: "notes"}


def provenance(session, members) -> str:
    """Who assigned a unit's spikes and when: "20 hand, 690 network #3 (14:05)"."""
    if len(members) == 0:
        return ""
    source = session.source[members]
    parts = []
    for code, name in ((HUMAN, "hand"), (IMPORTED, "imported")):
        count = int((source == code).sum())
        if count:
            parts.append(f"{count} {name}")
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


class UnitTable(QTableWidget):
    visibility_changed = pyqtSignal(set)

    def __init__(self, controller) -> None:
        super().__init__(0, len(COLUMNS))
        self.controller = controller
        self.hidden: set[int] = set()
        self._filling = False
        self.setHorizontalHeaderLabels(COLUMNS)
        self.setSortingEnabled(True)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked)
        self.verticalHeader().setVisible(False)
        self.itemSelectionChanged.connect(self._selection)
        self.itemChanged.connect(self._changed)

    def refresh(self) -> None:
        session = self.controller.session
        self._filling = True
        self.setSortingEnabled(False)
        units = self.controller.units()
        self.setRowCount(len(units))
        for row, unit in enumerate(units):
            m = unit_metrics(session, unit.id, self.controller.members().get(unit.id))
            visible = QTableWidgetItem()
            visible.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled
                             | Qt.ItemFlag.ItemIsSelectable)
            visible.setCheckState(Qt.CheckState.Unchecked if unit.id in self.hidden
                                  else Qt.CheckState.Checked)
            visible.setBackground(QColor(unit.colour))
            visible.setData(Qt.ItemDataRole.UserRole, unit.id)
            cells = [visible, QTableWidgetItem(unit.name), _Number(str(m.n_spikes)),
                     _Number(str(m.n_labels)), _Number(f"{m.rate_hz:.2f}"), _Number(f"{m.snr:.1f}"),
                     _Number(f"{m.isi_violations_pct:.2f}"), _Number(f"{m.mean_confidence:.3f}"),
                     QTableWidgetItem(unit.quality), QTableWidgetItem(unit.notes),
                     QTableWidgetItem(provenance(session, self.controller.members().get(
                         unit.id, np.zeros(0, np.int64))))]
            for column, item in enumerate(cells):
                if column and column not in EDITABLE:
                    item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                item.setData(Qt.ItemDataRole.UserRole, unit.id)
                self.setItem(row, column, item)
        self._unresolved_row(session)
        self.setSortingEnabled(True)
        self.resizeColumnsToContents()
        self._filling = False

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
                 _Number("0"), _Number(""), _Number(""), _Number(""),
                 _Number(f"{confidence:.3f}"), QTableWidgetItem(""),
                 QTableWidgetItem("below min confidence"), QTableWidgetItem("network")]
        for column, item in enumerate(cells):
            item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
            item.setData(Qt.ItemDataRole.UserRole, UNRESOLVED)
            self.setItem(row, column, item)

    def _selection(self) -> None:
        if self._filling:
            return
        rows = {index.row() for index in self.selectedIndexes()}
        ids = [self.item(r, 0).data(Qt.ItemDataRole.UserRole) for r in sorted(rows)]
        if UNRESOLVED in ids:
            self.controller.select(self.controller.members().get(UNRESOLVED,
                                                                 np.zeros(0, np.int64)))
        self.controller.select_units([u for u in ids if u != UNRESOLVED])

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
