"""The main window: open a recording, label spikes, train in the background, review units."""

from __future__ import annotations

import logging
import sys
import time
import traceback

from PyQt6.QtCore import QSettings, Qt, QTimer
from PyQt6.QtGui import QAction, QKeySequence
from PyQt6.QtWidgets import (
    QColorDialog,
    QComboBox,
    QDockWidget,
    QDoubleSpinBox,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QSplitter,
    QTabWidget,
    QToolBar,
)

from spikeapp.errors import NotYet, SpikeappError
from spikeapp.export import FORMATS
from spikeapp.gui.controller import Controller
from spikeapp.gui.dialogs import PreviewDialog, shortcut_help
from spikeapp.gui.files import FileActions
from spikeapp.gui.sort_actions import SortActions
from spikeapp.gui.views.features import FeatureView
from spikeapp.gui.views.pairs import ChannelPairs
from spikeapp.gui.views.queue import QueuePanel
from spikeapp.gui.views.trace import TraceView
from spikeapp.gui.views.training import TrainingPanel
from spikeapp.gui.views.unit_plots import UnitPlots
from spikeapp.gui.views.units import UnitTable
from spikeapp.gui.views.waveforms import WaveformView
from spikeapp.gui.workers import JobRunner, leave_the_window_a_core, load_ahead
from spikeapp.session.state import QUALITIES

log = logging.getLogger(__name__)

SWITCH_INTERVAL_S = 0.001   # how soon a thread waiting for the interpreter gets it


# Loaded on a thread as the window opens (see workers.load_ahead): torch's and scikit-learn's
# set-up holds the interpreter lock, and done later by a training or the queue's clustering on
# its worker thread it froze the window for as long; torch._dynamo, last, is what torch's
# optimisers load at their first use (1.2 s: the first training froze the window 100-170 ms at a
# time).
HEAVY_MODULES = ("spikeapp.training.trainer", "spikeapp.training.teacher",
                 "sklearn.mixture", "sklearn.discriminant_analysis", "sklearn.covariance",
                 "spikeapp.workflow.review", "spikeapp.workflow.proposals", "torch._dynamo")


def _stored_workers() -> int:
    """Shift+T's worker processes as last set on this machine (0: automatic)."""
    try:
        return max(0, int(QSettings("spikeapp", "spikeapp").value("train_workers", 0) or 0))
    except (TypeError, ValueError):
        return 0


class MainWindow(QMainWindow):
    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("spikeapp")
        self.setAcceptDrops(True)
        self.controller = Controller(self)
        self.workspace = self.controller.workspace
        self.files = FileActions(self)
        self.sort = SortActions(self)
        self.detector = JobRunner(self, waits=False)   # neither it nor the saver loads torch
        self.trainer = JobRunner(self)
        self.assessor = JobRunner(self)
        self.saver = JobRunner(self, waits=False)
        self.restorer = JobRunner(self)
        self.queuer = JobRunner(self)
        self.proposer = JobRunner(self)
        self.exporter = JobRunner(self)
        self.matcher = JobRunner(self)
        self.carrier = JobRunner(self)
        self.importer = JobRunner(self, waits=False)   # a sorting read from a file
        self.recording = None
        self.demo = None
        leave_the_window_a_core()
        # The GUI thread gets the interpreter back within 1 ms of asking (5 by default): a
        # repaint calls back into Python many times, and each call waited up to 5 ms behind a
        # busy job thread (L at 1M spikes: longest stall 81-149 ms over six runs, 92-95 with
        # 1 ms).
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        self.warm_up = load_ahead(HEAVY_MODULES)
        # Shift+T's worker processes (0: as many as the cores allow); this machine's setting
        self.train_workers = _stored_workers()
        self._stale: set[str] = set()
        self._redraw = QTimer(self)
        self._redraw.setSingleShot(True)
        self._redraw.setInterval(0)
        self._redraw.timeout.connect(self._flush)
        self._build_views()
        self._build_actions()
        self._connect()
        self._initial_layout = self.saveState()   # View > Reset layout puts the docks back

    # -- construction ------------------------------------------------------------------------------
    def _build_views(self) -> None:
        c = self.controller
        self.waveforms = WaveformView(c)
        self.features = FeatureView(c)
        self.trace = TraceView(c)
        self.units = UnitTable(c)
        self.unit_plots = UnitPlots(c)
        self.training = TrainingPanel()
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        centre = QSplitter(Qt.Orientation.Vertical)
        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(self.waveforms)
        # The feature view, and beside it every channel pair of a group at once (tetrodes).
        self.pairs = ChannelPairs(c, self.features)
        self.feature_tabs = QTabWidget()
        self.feature_tabs.addTab(self.features, "Features")
        self.feature_tabs.addTab(self.pairs, "Channel pairs")
        self.pairs.opened.connect(lambda: self.feature_tabs.setCurrentWidget(self.features))
        top.addWidget(self.feature_tabs)
        top.setStretchFactor(0, 1)
        top.setStretchFactor(1, 1)
        self._top_splitter = top
        centre.addWidget(top)
        centre.addWidget(self.trace)
        centre.setSizes([650, 220])
        self.setCentralWidget(centre)
        units = self._dock("Units", self.units, Qt.DockWidgetArea.LeftDockWidgetArea)
        plots = self._dock("Unit plots", self.unit_plots, Qt.DockWidgetArea.RightDockWidgetArea)
        tabs = QTabWidget()
        self.queue = QueuePanel(c, lambda: self.recording)
        tabs.addTab(self.training, "Training")
        tabs.addTab(self.queue, "Label next")
        tabs.addTab(self.log, "Log")
        self.bottom_tabs = tabs
        bottom = self._dock("Training and log", tabs, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.resizeDocks([units, plots], [430, 330], Qt.Orientation.Horizontal)
        self.resizeDocks([bottom], [200], Qt.Orientation.Vertical)
        self.channel = QComboBox()
        self.channel.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        # Wide enough for any entry from the start: a box that grows later overlaps the
        # toolbar's next widget, one that does not cuts its text.
        self.channel.setMinimumWidth(
            self.channel.fontMetrics().horizontalAdvance("0000  (00000000 spikes)") + 40)
        self.channel.setToolTip("channel or channel group shown (its spike count)")
        self.confidence = QDoubleSpinBox()
        self.confidence.setRange(0.0, 1.0)
        self.confidence.setSingleStep(0.05)
        self.confidence.setToolTip("spikes predicted below this confidence go to 'unresolved' "
                                   "(at once, one undo step)")
        self._confidence_timer = QTimer(self)
        self._confidence_timer.setSingleShot(True)
        self._confidence_timer.setInterval(300)   # one step for a spin through several values
        self.status_text = QLabel("Open a recording (Ctrl+O), or the demo (Ctrl+D).")
        self.busy_bar = QProgressBar()
        self.busy_bar.setMaximumWidth(200)
        self.busy_bar.hide()
        self.statusBar().addWidget(self.status_text, 1)
        self.statusBar().addPermanentWidget(self.busy_bar)

    def _dock(self, title: str, widget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        self.docks = getattr(self, "docks", []) + [dock]
        dock.setObjectName(title)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _action(self, text: str, shortcut: str | QKeySequence.StandardKey, slot, menu) -> QAction:
        action = QAction(text, self)
        action.setShortcut(QKeySequence(shortcut))
        action.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
        action.triggered.connect(lambda _checked=False: self._guarded(slot))
        menu.addAction(action)
        self.addAction(action)
        self.all_actions.append(action)
        return action

    def _build_actions(self) -> None:
        self.all_actions: list[QAction] = []
        bar = self.menuBar()
        file, edit, sort, view = (bar.addMenu(n) for n in ("&File", "&Edit", "&Sort", "&View"))
        a = self._action
        f = self.files
        a("&Open recording or session...", "Ctrl+O", f.open_dialog, file)
        a("Open recording &folder...", "Ctrl+Shift+O", lambda: f.open_dialog(folder=True), file)
        a("Open the &demo recording", "Ctrl+D", f.open_demo, file)
        self.recent_menu = file.addMenu("Recent files")
        a("&Save session", "Ctrl+S", f.save, file)
        a("Save session &as...", "Ctrl+Shift+S", f.save_as, file)
        a("&Import a sorting...", "Ctrl+I", f.import_dialog, file)
        a("&Close", "Ctrl+W", f.close_session, file)
        a("&Locate recording...", "", f.locate_recording, file)
        a("Apply &networks from an earlier session...", "", f.apply_networks_from, file)
        export = file.addMenu("&Export")
        keys = {"csv": "Ctrl+E", "nwb": "Ctrl+Shift+E", "nix": "Ctrl+Alt+E", "phy": "Ctrl+Alt+P",
                "mat": "Ctrl+Alt+M"}
        for fmt, text in FORMATS.items():
            a(f"{fmt.upper()}: {text}...", keys[fmt], lambda x=fmt: f.export_as(x), export)
        a("Unit &report (HTML)...", "Ctrl+R", lambda: f.export_as("report"), export)
        a("&Quit", "Ctrl+Q", self.close, file)
        c = self.controller
        a("&Undo", "Ctrl+Z", c.undo, edit)
        a("&Redo", "Ctrl+Shift+Z", c.redo, edit)
        for n in range(1, 10):
            a(f"Label selection as unit {n}", str(n), lambda n=n: c.label_key(n), sort)
        a("Label selection as a &new unit", "N", c.label_new_unit, sort)
        a("Label selection as noise", "0", c.label_noise, sort)
        a("Clear labels of the selection", "Backspace", c.unlabel, sort)
        a("Split selection into a new unit", "X", c.split, sort)
        a("&Merge selected units (or selected proposed units)", "M", c.merge, sort)
        a("Split the selected spikes off their proposed unit", "Shift+X", c.split_proposal, sort)
        a("&Delete selected units", "Delete", c.delete_units, sort)
        a("Rename unit (edit its cell)", "F2", self.rename_unit, sort)
        a("Recolour unit", "C", self.recolour_unit, sort)
        a("Cycle quality (unsorted/good/mua/noise)", "Q", self.cycle_quality, sort)
        a("&Train this channel", "T", self.sort.train, sort)
        a("Label next: the spikes the network is least sure of", "L", self.sort.start_queue, sort)
        a("Skip the spike the queue shows", "S", self.queue.skip, sort)
        a("Select the next candidate new unit (then N makes it a unit)", "U",
          self.sort.next_candidate, sort)
        a("Assess the labels: cross-validated precision, recall, learning curve", "A",
          self.sort.assess_labels, sort)
        a("Train every channel with labels", "Shift+T", self.sort.train_all, sort)
        a("Find the spikes the threshold missed, with the units' templates", "Shift+F",
          self.sort.find_missed, sort)
        a("Accept the selected &proposed units, or all of this channel's (their core spikes "
          "become labels)", "P", self.sort.accept_proposals, sort)
        a("Cancel the running job", "Esc", self.cancel_jobs, sort)
        a("Network and training &settings...", "Ctrl+,", self.edit_settings, sort)
        a("Next channel", "PgDown", lambda: self.step_channel(1), view)
        a("Previous channel", "PgUp", lambda: self.step_channel(-1), view)
        a("Waveform &density", "D", lambda: self.waveforms.set_density(
            not self.waveforms.density), view)
        a("Select all spikes of the channel", "Ctrl+A", self.select_all, view)
        a("&Reset the layout (every panel back in its place)", "", self.reset_layout, view)
        a("Keyboard shortcuts", "F1", self.show_help, view)
        tools = QToolBar("Sorting")
        tools.setObjectName("sorting")
        tools.addWidget(QLabel(" Channel "))
        tools.addWidget(self.channel)
        tools.addWidget(QLabel("  min confidence "))
        tools.addWidget(self.confidence)
        self.addToolBar(tools)
        f.refresh_recent()

    def _connect(self) -> None:
        c = self.controller
        c.session_changed.connect(lambda: self._schedule("data"))
        c.selection_changed.connect(lambda: self._schedule("selection"))
        c.group_changed.connect(lambda: self._schedule("data"))
        c.proposals_changed.connect(lambda: self._schedule("data"))
        c.detection_changed.connect(self.sort.outputs_again)
        c.detection_changed.connect(self.sort.propose_units)
        self.matcher.finished.connect(lambda found: self._guarded(
            lambda: self.sort.found_missed(found)))
        c.detection_changed.connect(self.queue.clear)
        self.matcher.failed.connect(self.show_error)
        self.carrier.finished.connect(lambda carried: self._guarded(
            lambda: self.files.networks_carried(carried)))
        self.carrier.failed.connect(self.show_error)
        self.carrier.progress.connect(lambda p: self.status_text.setText(p.message))
        self.matcher.progress.connect(
            lambda p: self.status_text.setText(f"template matching: {p.message}"))
        self.matcher.cancelled.connect(lambda: self.status_text.setText(
            "template matching cancelled; nothing changed"))
        c.message.connect(self.status_text.setText)
        c.error.connect(self.show_error)
        c.note.connect(self.show_note)
        self.channel.currentIndexChanged.connect(self._channel_chosen)
        self.confidence.valueChanged.connect(lambda _v: self._confidence_timer.start())
        self._confidence_timer.timeout.connect(lambda: self._guarded(
            lambda: c.set_min_confidence(float(self.confidence.value()))))
        c.opened.connect(self._show_parameters)
        self.units.visibility_changed.connect(self._visibility)
        for runner in (self.detector, self.trainer, self.assessor, self.restorer):
            runner.failed.connect(self._job_failed)
        self.queuer.failed.connect(self.show_error)
        self.proposer.failed.connect(self.show_error)
        self.proposer.finished.connect(self.sort.proposals_ready)
        c.opened.connect(self.sort.propose_units)
        self.queuer.finished.connect(self.sort.queue_ready)
        for runner in (self.detector, self.trainer, self.assessor, self.saver, self.restorer,
                       self.queuer, self.proposer, self.exporter, self.matcher, self.carrier,
                       self.importer):
            runner.running_changed.connect(lambda _r: self._busy_changed())
        self.detector.progress.connect(self.files.detect_progress)
        self.detector.finished.connect(self.files.detected)
        self.saver.finished.connect(self.files.saved)
        self.exporter.finished.connect(self.files.exported)
        self.importer.finished.connect(lambda result: self._guarded(
            lambda: self.files.imported(result)))
        self.importer.failed.connect(self.show_error)
        self.importer.progress.connect(lambda p: self.status_text.setText(p.message))
        self.exporter.failed.connect(self.show_error)
        self.saver.failed.connect(self._save_failed)
        self.restorer.finished.connect(self.sort.restored)
        self.restorer.cancelled.connect(lambda: self.status_text.setText(
            "the kept networks were not run again; train (T) to use the queue"))
        self.detector.cancelled.connect(lambda: self.status_text.setText(
            "detection cancelled; open the same recording with the same options to resume it"))
        self.trainer.progress.connect(self.training.update)
        self.trainer.progress.connect(
            lambda p: self.busy_bar.setValue(round(100 * p.fraction)) if p.total else None)
        self.trainer.finished.connect(self.sort.trained)
        self.assessor.progress.connect(
            lambda p: self.status_text.setText(f"assessing the labels: {p.message}"))
        self.assessor.finished.connect(self.sort.assessed)
        self.assessor.cancelled.connect(lambda: self.status_text.setText("assessment cancelled"))
        c.session_changed.connect(self.queue.session_changed)
        self.queue.retrain.connect(lambda: self._guarded(self.sort.train))
        self.trainer.cancelled.connect(self.sort.training_cancelled)
        self.training.cancel.clicked.connect(self.trainer.cancel)

    # -- errors never kill the window ---------------------------------------------------------------
    def _guarded(self, slot) -> None:
        try:
            slot()
        except SpikeappError as problem:
            self.show_problem(problem)
        except Exception as problem:  # noqa: BLE001 - a bug must not close the window
            self.report_exception(problem, traceback.format_exc())

    def report_exception(self, problem: BaseException, details: str) -> None:
        """An unexpected error anywhere in the window (the error hook sends them here): one
        line for the user with the traceback on demand, an entry in the log file, and every
        view redrawn from the state so nothing stays stale."""
        log.error("unexpected error: %s\n%s", problem, details)
        self.show_error(f"something went wrong ({type(problem).__name__}: {problem}); the "
                        "session is unchanged", details)
        self._schedule("data")

    def show_problem(self, problem: SpikeappError) -> None:
        """A refused action: what to do first (NotYet) as a note, anything else as an error."""
        if isinstance(problem, NotYet):
            self.show_note(str(problem))
        else:
            self.show_error(str(problem))

    def show_note(self, text: str) -> None:
        """Advice, not a failure (nothing selected, a job still running): the status line and
        the log say it; no message box, nothing called an error."""
        self.log.appendPlainText(f"note: {text}")
        self.status_text.setText(text)
        self.last_note = text

    def show_error(self, text: str, details: str = "") -> None:
        self.log.appendPlainText(f"error: {text}" + (f"\n{details}" if details else ""))
        self.status_text.setText(f"error: {text}")
        self.last_error = text
        now = time.monotonic()
        if text == self._last_box[0] and now - self._last_box[1] < 2.0:
            return   # the same error again at once (a redraw failing): once is enough
        self._last_box = (text, now)
        box = QMessageBox(QMessageBox.Icon.Warning, "spikeapp", text, parent=self)
        if details:
            box.setDetailedText(details)
        box.setModal(False)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.show()

    _last_box: tuple[str, float] = ("", 0.0)

    def _show_parameters(self) -> None:
        """Another session: its stored parameters show (without acting on them)."""
        self.confidence.blockSignals(True)
        self.confidence.setValue(float(self.workspace.training["min_confidence"]))
        self.confidence.blockSignals(False)

    def _save_failed(self, message: str, details: str) -> None:
        self.workspace.save_failed()
        self.show_error(f"the session was not saved: {message}", details)

    def _job_failed(self, message: str, details: str) -> None:
        self.training.stopped(f"stopped: {message}")
        self.sort.drop_waiting_trainings()
        self.show_error(message, details)

    # -- opening --------------------------------------------------------------------------------------
    def showEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().showEvent(event)
        width = max(200, self._top_splitter.width())
        self._top_splitter.setSizes([width // 2, width - width // 2])

    def busy(self) -> bool:
        return (self.detector.running or self.trainer.running or self.assessor.running
                or self.saver.running or self.restorer.running or self.queuer.running
                or self.proposer.running or self.matcher.running or self.carrier.running
                or self.importer.running or self.sort.trainings_waiting)

    def _busy_changed(self) -> None:
        shown = self.detector.running or self.trainer.running
        if shown and not self.busy_bar.isVisible():
            self.busy_bar.setValue(0)   # never the last job's 100 %
        self.busy_bar.setVisible(shown)

    # -- settings and jobs --------------------------------------------------------------------------
    def ask_preview(self, summary, stale: bool = False):
        """"all", a set of unit ids, or None (discard); tests replace this."""
        dialog = PreviewDialog(self.controller.session, summary, self, stale=stale)
        dialog.exec()
        return dialog.choice

    def edit_settings(self) -> None:
        """The network and training parameters as a form (the table the CLI flags come from),
        kept with the session; the device training runs on is shown."""
        from spikeapp.gui.dialogs import SettingsDialog

        dialog = SettingsDialog(self.workspace.network, self.workspace.training, self,
                                self.train_workers)
        if self.ask_settings(dialog):
            self.workspace.set_params("network", **dialog.network.values())
            self.workspace.set_params("training", **dialog.training.values())
            self.train_workers = dialog.workers.value()
            QSettings("spikeapp", "spikeapp").setValue("train_workers", self.train_workers)
            self._show_parameters()
            self.status_text.setText("settings kept with the session; they apply from the next "
                                     "training")

    def ask_settings(self, dialog) -> bool:
        """Show the settings; True when accepted (tests replace this)."""
        return bool(dialog.exec())

    def cancel_jobs(self) -> None:
        self.sort.drop_waiting_trainings()
        for runner in (self.detector, self.trainer, self.assessor, self.restorer, self.queuer,
                       self.proposer, self.matcher, self.carrier, self.importer):
            runner.cancel()

    def rename_unit(self) -> None:
        if self.controller.selected_units:
            for row in range(self.units.rowCount()):
                item = self.units.item(row, 1)
                if item.data(Qt.ItemDataRole.UserRole) == self.controller.selected_units[0]:
                    self.units.editItem(item)

    def recolour_unit(self) -> None:
        for unit_id in self.controller.selected_units[:1]:
            colour = QColorDialog.getColor(parent=self)
            if colour.isValid():
                self.controller.edit_unit(unit_id, colour=colour.name())

    def cycle_quality(self) -> None:
        for unit_id in self.controller.selected_units:
            unit = self.controller.session.units[unit_id]
            following = QUALITIES[(QUALITIES.index(unit.quality) + 1) % len(QUALITIES)]
            self.controller.edit_unit(unit_id, quality=following)

    def select_all(self) -> None:
        if self.controller.session is not None:
            self.controller.select(self.controller.session.spikes_of_group(self.controller.group))

    def step_channel(self, step: int) -> None:
        count = self.channel.count()
        if count:
            self.channel.setCurrentIndex((self.channel.currentIndex() + step) % count)

    def reset_layout(self) -> None:
        """Every dock back where the window put it at start, shown and docked (a closed or
        floated panel had no way back but a restart)."""
        for dock in self.docks:
            dock.setFloating(False)
            dock.show()
        self.restoreState(self._initial_layout)

    def show_help(self) -> None:
        self._help = shortcut_help(self.all_actions, self)
        self._help.show()

    # -- refreshing views -------------------------------------------------------------------------------
    def _channel_chosen(self, index: int) -> None:
        if index >= 0 and not self._filling_channels:
            self.controller.set_group(int(self.channel.itemData(index)))

    _filling_channels = False

    def _schedule(self, what: str) -> None:
        """Redraw once control returns to the event loop: an edit that also moves the selection
        (undo, say) draws once, and a selection alone redraws only what depends on it."""
        self._stale.add(what)
        self._redraw.start()

    def _flush(self) -> None:
        stale, self._stale = self._stale, set()
        if "data" in stale:
            self.refresh()
        elif "selection" in stale:
            self.refresh_selection()

    def refresh(self) -> None:
        """Redraw everything: after an edit, a new session or another channel."""
        session = self.controller.session
        self._filling_channels = True
        self.channel.clear()
        if session is None:   # closed (File > Close): every view empty, as at start
            self._filling_channels = False
            for view in (self.units, self.waveforms, self.features, self.pairs, self.unit_plots,
                         self.trace):
                view.refresh()
            return
        for group in session.groups:
            count = len(session.spikes_of_group(int(group)))
            label = session.detection.group_label(int(group))
            self.channel.addItem(f"{label}  ({count} spikes)", int(group))
        self.channel.setCurrentIndex(self.channel.findData(self.controller.group))
        self._filling_channels = False
        self.units.refresh()
        self.waveforms.refresh()
        self.features.refresh()
        self.pairs.refresh()
        self.unit_plots.refresh()
        self.trace.refresh()
        self._settle_ranges()

    def refresh_selection(self) -> None:
        """Redraw what depends on the selection only."""
        if self.controller.session is None:
            return
        self.waveforms.show_selection()
        self.features.show_selection()
        self.pairs.show_selection()
        self.units.show_selected_units()   # a selection made elsewhere (most similar, a merge)
        self.unit_plots.refresh()  # redraws only when the selected units changed
        self.trace.follow_selection()
        self._settle_ranges()

    def _settle_ranges(self) -> None:
        """Fit the plots' auto ranges to their new data now, before they paint. pyqtgraph does
        it as a paint begins, and the axes it moves then ask for a second paint of the whole
        view (two paints per edit: 30-50 ms more per interaction at a million spikes)."""
        for view in (self.waveforms, self.features.plot, self.trace):   # unit plots: their own
            if view.isVisible():
                view.scene().prepareForPaint()

    def _visibility(self, hidden: set) -> None:
        self.waveforms.hidden_units = hidden
        self.features.hidden_units = hidden
        self.waveforms.refresh()
        self.features.refresh()
        self.pairs.refresh()

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt naming
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt naming
        urls = event.mimeData().urls()
        if urls:
            self._guarded(lambda: self.files.open_path(urls[0].toLocalFile(), ask_options=True))

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        if not self.files.confirm_discard():
            event.ignore()
            return
        self.sort.drop_waiting_trainings()
        for runner in (self.detector, self.trainer, self.assessor, self.restorer, self.queuer,
                       self.proposer, self.matcher, self.carrier, self.importer):
            runner.wait()
        self.units.stop()
        self.unit_plots.stop()
        self.saver.join()   # a save or an export being written finishes (it is not cancelled)
        self.exporter.join()
        self.workspace.close(discard=True)
        super().closeEvent(event)
