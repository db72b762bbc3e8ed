"""Dialogs generated from the parameter table, and the shortcut help."""

from __future__ import annotations

from typing import Any

from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from spikeapp import params as param_table
from spikeapp.gui.workers import after_loading


class ParamForm(QGroupBox):
    """One editor per parameter of a group: spin boxes, check boxes, combo boxes, text."""

    def __init__(self, group: str, title: str) -> None:
        super().__init__(title)
        self.group = group
        self.editors: dict[str, QWidget] = {}
        form = QFormLayout(self)
        for p in param_table.params_in(group):
            editor = self._editor(p)
            editor.setToolTip(p.help)
            self.editors[p.name] = editor
            label = p.name.replace("_", " ") + (f" [{p.unit}]" if p.unit else "")
            form.addRow(label, editor)

    @staticmethod
    def _editor(p: param_table.Param) -> QWidget:
        if p.kind == "bool":
            box = QCheckBox()
            box.setChecked(bool(p.default))
            return box
        if p.kind == "choice":
            combo = QComboBox()
            if p.default is None:
                combo.addItem("")
            combo.addItems(p.choices)
            combo.setCurrentText(p.default or "")
            return combo
        if p.kind in ("int", "float") and p.default is not None:
            spin = QSpinBox() if p.kind == "int" else QDoubleSpinBox()
            low = p.low if p.low is not None else -1e9
            high = p.high if p.high is not None else 1e9
            if p.kind == "int":
                spin.setRange(int(max(low, -2**31 + 1)), int(min(high, 2**31 - 1)))
            else:
                spin.setDecimals(4)
                spin.setRange(low, high)
            spin.setValue(p.default)
            return spin
        line = QLineEdit("" if p.default is None else str(p.default))
        line.setPlaceholderText("(automatic)")
        return line

    def set_values(self, values: dict[str, Any]) -> None:
        """Show ``values`` (those of a session) in the editors."""
        for name, value in values.items():
            editor = self.editors.get(name)
            if editor is None:
                continue
            if isinstance(editor, QCheckBox):
                editor.setChecked(bool(value))
            elif isinstance(editor, QComboBox):
                editor.setCurrentText("" if value is None else str(value))
            elif isinstance(editor, (QSpinBox, QDoubleSpinBox)):
                editor.setValue(value)
            else:
                editor.setText("" if value is None else str(value))

    def values(self) -> dict[str, Any]:
        """The edited values, validated; blank optional fields are left out."""
        values: dict[str, Any] = {}
        for name, editor in self.editors.items():
            if isinstance(editor, QCheckBox):
                value: Any = editor.isChecked()
            elif isinstance(editor, QComboBox):
                value = editor.currentText() or None
            elif isinstance(editor, (QSpinBox, QDoubleSpinBox)):
                value = editor.value()
            else:
                value = editor.text().strip() or None
            if value is not None:
                values[name] = value
        return param_table.resolve(self.group, values)


def _scrolled_form(dialog: QDialog, parts: list) -> None:
    """Lay ``parts`` (widgets or layouts) out in a scroll area above OK and Cancel."""
    inner = QWidget()
    layout = QVBoxLayout(inner)
    for part in parts:
        if isinstance(part, QWidget):
            layout.addWidget(part)
        else:
            layout.addLayout(part)
    scroll = QScrollArea()
    scroll.setWidget(inner)
    scroll.setWidgetResizable(True)
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                               | QDialogButtonBox.StandardButton.Cancel)
    buttons.accepted.connect(dialog.accept)
    buttons.rejected.connect(dialog.reject)
    outer = QVBoxLayout(dialog)
    outer.addWidget(scroll)
    outer.addWidget(buttons)


class SettingsDialog(QDialog):
    """The network and training parameters of the session, and where training runs."""

    def __init__(self, network: dict[str, Any], training: dict[str, Any],
                 parent: QWidget | None = None, workers: int = 0) -> None:
        after_loading()   # torch: never loaded on two threads at once
        from spikeapp.training.device import choose_device
        from spikeapp.workflow.parallel import available_cores

        super().__init__(parent)
        self.setWindowTitle("Network and training settings")
        self.network = ParamForm("network", "Network")
        self.training = ParamForm("training", "Training")
        self.network.set_values(network)
        self.training.set_values(training)
        device = choose_device(str(training.get("device", "auto")))
        self.device = QLabel(f"training runs on: {device.type.upper()}"
                             + ("" if device.type != "cpu" else
                                (f" ({training['threads']} threads)" if training.get("threads")
                                 else " (all cores but one)")))
        # This machine's, not the session's: how many channel groups Shift+T trains at once.
        self.workers = QSpinBox()
        self.workers.setRange(0, max(1, available_cores()))
        self.workers.setSpecialValueText("automatic (the cores less one)")
        self.workers.setValue(workers)
        self.workers.setToolTip("channel groups Shift+T trains at once, each in its own process; "
                                "1: one after another")
        machine = QFormLayout()
        machine.addRow("groups trained at once (Shift+T)", self.workers)
        _scrolled_form(self, [self.device, machine, self.network, self.training])
        self.resize(560, 720)


class OpenOptionsDialog(QDialog):
    """Reader options (stream, channels, raw-binary parameters), channel groups, detection."""

    def __init__(self, path: str, parent: QWidget | None = None,
                 file_groups: list[list[int]] | None = None,
                 group_names: list[str] | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Open {path}")
        self.reader = ParamForm("reader", "Reader (blank: automatic)")
        self.detection = ParamForm("detection", "Detection")
        self.groups = QLineEdit()
        self.groups.setPlaceholderText("each channel alone; or tetrodes: 0-3; 4-7")
        grouping = QFormLayout()
        grouping.addRow("channel groups", self.groups)
        if file_groups:
            # The file's own groups (NWB electrode groups), shown and editable: 'single' sorts
            # each channel alone.
            self.groups.setText("; ".join(",".join(str(c) for c in g) for g in file_groups))
            named = [f"{n}: {','.join(str(c) for c in g)}" for n, g in
                     zip(group_names or [], file_groups) if len(g) > 1]
            note = QLabel("from the file: " + "; ".join(named) + " (type 'single' for each "
                          "channel alone)")
            note.setWordWrap(True)
            grouping.addRow("", note)
        _scrolled_form(self, [self.reader, grouping, self.detection])
        self.resize(520, 700)

    def group_specs(self) -> list[str]:
        return [g.strip() for g in self.groups.text().split(";") if g.strip()]


class _EscapeCloses(QDialog):
    """A dialog that Esc closes although the main window's Esc (cancel the running job) is an
    application-wide shortcut, which took the key first."""

    def event(self, event) -> bool:
        from PyQt6.QtCore import QEvent, Qt

        if event.type() == QEvent.Type.ShortcutOverride and event.key() == Qt.Key.Key_Escape:
            event.accept()   # the key comes to this dialog as a key press: reject() closes it
            return True
        return super().event(event)


def shortcut_help(actions, parent=None) -> QDialog:
    """F1: every action and its shortcut, in a window that fits the screen (the list scrolls),
    closes with Esc or its button, and belongs to the main window (it kept the app alive after
    Ctrl+Q when it had no parent)."""
    from PyQt6.QtGui import QGuiApplication
    from PyQt6.QtWidgets import QScrollArea

    dialog = _EscapeCloses(parent)
    dialog.setWindowTitle("spikeapp shortcuts")
    rows = "".join(f"<tr><td><b>{a.shortcut().toString()}</b></td><td>{a.text().replace('&', '')}"
                   f"</td></tr>" for a in actions if not a.shortcut().isEmpty())
    label = QLabel(f"<table cellpadding=3>{rows}</table><p>Feature view: Ctrl+drag lasso, "
                   "Shift+drag rectangle. Waveforms: Ctrl+drag a segment the waveforms must "
                   "cross. Trace: click a marker.</p>")
    label.setWordWrap(True)
    scroll = QScrollArea()
    scroll.setWidget(label)
    scroll.setWidgetResizable(True)
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    buttons.rejected.connect(dialog.reject)
    layout = QVBoxLayout(dialog)
    layout.addWidget(scroll)
    layout.addWidget(buttons)
    screen = (parent.screen() if parent is not None else None) or QGuiApplication.primaryScreen()
    room = screen.availableGeometry() if screen is not None else None
    width = label.sizeHint().width() + 40
    height = label.sizeHint().height() + 80
    if room is not None:
        width, height = min(width, int(0.9 * room.width())), min(height, int(0.8 * room.height()))
    dialog.resize(width, height)
    return dialog


class SubjectDialog(QDialog):
    """Who was recorded, for an NWB export (DANDI asks for species and age); empty fields are
    taken from the source recording when it is NWB."""

    FIELDS = (("subject_id", "subject id", ""), ("species", "species", "e.g. Macaca mulatta"),
              ("sex", "sex", "M, F, U or O"), ("age", "age", "ISO 8601, e.g. P4Y or P90D"))

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("NWB export: subject")
        form = QFormLayout(self)
        self.editors: dict[str, QLineEdit] = {}
        for name, label, hint in self.FIELDS:
            editor = QLineEdit()
            editor.setPlaceholderText(hint)
            self.editors[name] = editor
            form.addRow(label, editor)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def values(self) -> dict[str, str]:
        return {name: editor.text().strip() for name, editor in self.editors.items()
                if editor.text().strip()}


class PreviewDialog(QDialog):
    """What a retrain would change, before it is applied: spikes moving between units and each
    unit's ISI violations now and after. Apply all, apply to the checked units, or discard."""

    def __init__(self, session, preview, parent=None, stale: bool = False) -> None:
        from PyQt6.QtCore import Qt
        from PyQt6.QtWidgets import (
            QListWidget,
            QListWidgetItem,
            QPushButton,
            QTableWidget,
            QTableWidgetItem,
        )

        from spikeapp.workflow.review import unit_label

        super().__init__(parent)
        self.setWindowTitle("Apply the new predictions?")
        self.choice: str | set[int] | None = None
        layout = QVBoxLayout(self)
        if stale:
            note = QLabel("The labels of this channel changed while the network trained: it "
                          "learnt from the earlier labels. Apply anyway, or discard and train "
                          "again.")
            note.setWordWrap(True)
            layout.addWidget(note)
        layout.addWidget(QLabel(f"{preview.moved} spike(s) would change unit:"))
        moves = QTableWidget(len(preview.moves), 3)
        moves.setHorizontalHeaderLabels(["from", "to", "spikes"])
        for row, (source, target, count) in enumerate(preview.moves):
            for column, text in enumerate((unit_label(session, source),
                                           unit_label(session, target), str(count))):
                moves.setItem(row, column, QTableWidgetItem(text))
        moves.resizeColumnsToContents()
        # Every row shows (up to a screenful): a cut-off list hid where spikes would go.
        rows = sum(moves.rowHeight(r) for r in range(moves.rowCount()))
        moves.setMinimumHeight(min(420, rows + moves.horizontalHeader().height() + 6))
        layout.addWidget(moves)
        layout.addWidget(QLabel("Units (check those to apply; ISI < 1.5 ms, now -> after):"))
        self.units = QListWidget()
        for unit, (now, after) in preview.violations.items():
            count_now, count_after = preview.counts[unit]
            item = QListWidgetItem(f"{unit_label(session, unit)}: {count_now} -> {count_after} "
                                   f"spikes, violations {now:.2f}% -> {after:.2f}%")
            item.setData(Qt.ItemDataRole.UserRole, unit)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked)
            self.units.addItem(item)
        layout.addWidget(self.units)
        buttons = QDialogButtonBox()
        apply_all = QPushButton("Apply all")
        apply_some = QPushButton("Apply to checked units")
        discard = QPushButton("Discard")
        for button in (apply_all, apply_some, discard):
            buttons.addButton(button, QDialogButtonBox.ButtonRole.ActionRole)
        apply_all.clicked.connect(lambda: self._done("all"))
        apply_some.clicked.connect(lambda: self._done(self.checked()))
        discard.clicked.connect(lambda: self._done(None))
        layout.addWidget(buttons)

    def checked(self) -> set[int]:
        from PyQt6.QtCore import Qt

        return {int(self.units.item(i).data(Qt.ItemDataRole.UserRole))
                for i in range(self.units.count())
                if self.units.item(i).checkState() == Qt.CheckState.Checked}

    def _done(self, choice) -> None:
        self.choice = choice
        self.accept()


class AssessmentDialog(QDialog):
    """Cross-validated precision and recall per unit on the hand labels, and the learning curve
    with its verdict (do more labels still help?)."""

    def __init__(self, session, assessment, parent=None) -> None:
        import pyqtgraph as pg
        from PyQt6.QtWidgets import QTableWidget, QTableWidgetItem

        super().__init__(parent)
        self.setWindowTitle("How good are the labels?")
        self.setModal(False)
        layout = QVBoxLayout(self)
        table = QTableWidget(len(assessment.unit_ids), 4)
        table.setHorizontalHeaderLabels(["unit", "labels", "precision", "recall"])
        for row, unit in enumerate(assessment.unit_ids):
            name = session.units[unit].name if unit in session.units else str(unit)
            for column, text in enumerate((name, str(assessment.support[row]),
                                           f"{assessment.precision[row]:.3f}",
                                           f"{assessment.recall[row]:.3f}")):
                table.setItem(row, column, QTableWidgetItem(text))
        table.resizeColumnsToContents()
        layout.addWidget(QLabel("Cross-validated on the hand labels (each predicted by a network "
                                "trained on the others):"))
        layout.addWidget(table)
        curve = pg.PlotWidget(title="learning curve")
        curve.setLabel("bottom", "labels per unit")
        curve.setLabel("left", "held-out accuracy")
        sizes, accuracy = zip(*assessment.curve)
        curve.plot(sizes, accuracy, pen=pg.mkPen("g", width=2), symbol="o", symbolBrush="g")
        curve.setMinimumHeight(200)
        layout.addWidget(curve)
        self.verdict = QLabel(assessment.verdict)
        self.verdict.setWordWrap(True)
        layout.addWidget(self.verdict)
        self.resize(520, 520)
