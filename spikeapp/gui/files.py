"""The File menu's work, composed into the main window: opening recordings and sessions,
recovery after a crash, a moved recording, recent files, saving (in the background) and
exporting. Every way of replacing the open session asks first when it has unsaved edits."""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path

import numpy as np
from PyQt6.QtCore import QSettings
from PyQt6.QtWidgets import QFileDialog, QMessageBox

from spikeapp.errors import NotYet, RecordingError, SpikeappError
from spikeapp.gui.dialogs import OpenOptionsDialog, SubjectDialog
from spikeapp.session import Session
from spikeapp.tasks import Progress

log = logging.getLogger(__name__)


def _age(seconds_since_epoch: float) -> str:
    minutes = (time.time() - seconds_since_epoch) / 60
    return f"{minutes:.0f} minutes ago" if minutes < 120 else f"{minutes / 60:.0f} hours ago"


class FileActions:
    """The File menu: the window's views, runners and status line are reached through
    ``window``; the session itself only through the controller's Workspace."""

    def __init__(self, window) -> None:
        self.window = window
        self.controller = window.controller
        self.workspace = window.controller.workspace
        self._pending = None
        self._sort_demo_after_detection = False

    def _status(self, text: str) -> None:
        self.window.status_text.setText(text)

    def _note(self, text: str) -> None:
        self._status(text)
        self.window.log.appendPlainText(text)

    # -- asking ------------------------------------------------------------------------------------
    def confirm_discard(self) -> bool:
        """Before anything replaces or closes a session with unsaved edits: Save, Discard or
        Cancel. True when the window may go on (saved, or discarded on purpose)."""
        if not self.workspace.modified:
            return True
        answer = QMessageBox.question(
            self.window, "spikeapp", f"{self.workspace.name or 'The session'} has unsaved "
            "edits. Save them first?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Save)
        if answer == QMessageBox.StandardButton.Save:
            return self.save_now()
        return answer == QMessageBox.StandardButton.Discard

    def ask_recovery(self, crashed) -> bool:
        """Whether to recover the edits a crash left (tests replace this)."""
        answer = QMessageBox.question(
            self.window, "spikeapp", f"spikeapp did not close cleanly: {crashed.edits} edit(s) "
            f"of {crashed.name} were kept (last {_age(crashed.modified)}). Recover them?")
        return answer == QMessageBox.StandardButton.Yes

    def ask_locate(self, missing: str) -> str | None:
        """The recording's new place, or None (tests replace this)."""
        box = QMessageBox(QMessageBox.Icon.Warning, "spikeapp",
                          f"The session's recording is not at {missing} any more. The sorting "
                          "opens without its traces.", parent=self.window)
        locate = box.addButton("Locate recording...", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Go on without it", QMessageBox.ButtonRole.RejectRole)
        box.exec()
        if box.clickedButton() is not locate:
            return None
        path, _ = QFileDialog.getOpenFileName(self.window, f"Where is {Path(missing).name}?")
        return path or None

    # -- where file dialogs start ----------------------------------------------------------------------
    def start_in(self, name: str = "") -> str:
        """The folder the last file dialog chose (kept between runs; the home folder at
        first), with ``name`` in it: file dialogs started in the working folder every time."""
        folder = QSettings("spikeapp", "spikeapp").value("last_folder", "") or str(Path.home())
        if not Path(folder).is_dir():
            folder = str(Path.home())
        return str(Path(folder) / name) if name else folder

    def chose(self, path: str) -> None:
        """Remember the folder of a path a file dialog gave."""
        chosen = Path(path)
        QSettings("spikeapp", "spikeapp").setValue(
            "last_folder", str(chosen if chosen.is_dir() else chosen.parent))

    def session_name(self) -> str:
        """Where Save offers to put a new session: beside its recording, named after it
        (``session.spikeapp`` in the working folder was offered for every recording)."""
        session = self.workspace.session
        source = str(session.recording.get("path", "")) if session is not None else ""
        if source and not source.startswith("<"):
            recording = Path(source)
            folder = recording if recording.is_dir() else recording.parent
            if folder.is_dir() and os.access(folder, os.W_OK):
                return str(folder / f"{recording.stem or recording.name}.spikeapp")
            return self.start_in(f"{recording.stem or recording.name}.spikeapp")
        return self.start_in("demo.spikeapp" if source == "<demo>" else "session.spikeapp")

    # -- opening -------------------------------------------------------------------------------------
    def open_dialog(self, folder: bool = False) -> None:
        if folder:
            path = QFileDialog.getExistingDirectory(self.window, "Open a recording folder",
                                                    self.start_in())
        else:
            path, _ = QFileDialog.getOpenFileName(self.window, "Open a recording or a session",
                                                  self.start_in())
        if path:
            self.chose(path)
            self.open_path(path, ask_options=True)

    def open_path(self, path: str, ask_options: bool = False) -> None:
        if path.endswith(".spikeapp"):
            self.open_session(path)
            return
        if not self.confirm_discard():
            return
        if not ask_options:
            self.open_recording_path(path)
            return
        dialog = OpenOptionsDialog(path, self.window, *self._file_groups(path))
        # After an error the dialog comes back with what was typed, to be put right (it was
        # gone, and every field had to be typed again).
        while self.ask_options(dialog):
            try:
                reader, detection = dialog.reader.values(), dialog.detection.values()
            except SpikeappError as problem:   # a field out of bounds
                self.window.show_problem(problem)
                continue
            if self.open_recording_path(path, reader, detection, dialog.group_specs()):
                return

    def ask_options(self, dialog) -> bool:
        """Show the open dialog: True when the user chose Open (tests replace this)."""
        return bool(dialog.exec())

    @staticmethod
    def _file_groups(path: str) -> tuple[list[list[int]] | None, list[str] | None]:
        """The channel groups a file declares, for the open dialog (none when it cannot be
        opened with its defaults: the dialog's reader fields are then for that)."""
        from spikeapp.io import open_recording

        try:
            with open_recording(path) as recording:
                return recording.file_groups, recording.file_group_names
        except Exception:  # noqa: BLE001 - only a hint: opening proper reports the problem
            return None, None

    def open_recording_path(self, path: str, reader: dict | None = None,
                            detection: dict | None = None, groups: list[str] | None = None
                            ) -> bool:
        """Open and detect (in the background); False when the recording could not be opened
        with these options (said in the window)."""
        from spikeapp.detection import parse_groups
        from spikeapp.io import open_recording

        try:
            recording = open_recording(path, **(reader or {}))
            channel_groups = parse_groups(groups, recording.channel_ids, recording.file_groups)
        except RecordingError as problem:
            if "no continuous signal" in problem.problem:
                # Sorted spikes without the signal (a Plexon or Spike2 file of units): what
                # File > Import sorting opens.
                try:
                    self.import_sorting(path)
                except SpikeappError as nothing:
                    self.window.show_error(f"{path}: holds no continuous signal to detect "
                                           f"spikes in, nor a sorting to import ({nothing})")
                return True
            self.window.show_problem(problem)
            return False
        except SpikeappError as problem:
            self.window.show_problem(problem)
            return False
        self._remember(path)
        self._start_detection(recording, detection or {}, channel_groups,
                              dict(reader or {}, path=str(Path(path).resolve()),
                                   groups=groups or []))
        return True

    def open_demo(self, sort: bool = False) -> None:
        from spikeapp.io.demo import make_demo

        if not self.confirm_discard():
            return
        self.window.demo = make_demo()
        self._sort_demo_after_detection = sort
        self._start_detection(self.window.demo.recording(), {}, None, {"path": "<demo>"})

    def _start_detection(self, recording, detection: dict, groups, reference: dict) -> None:
        from spikeapp.detection import detect

        w = self.window
        if w.detector.running or w.trainer.running:
            w.show_note("wait for the running job to finish, or cancel it (Esc)")
            return
        self._pending = (recording, reference)
        self._status(f"detecting spikes in {reference['path']}...")
        journal = self._journal_for(recording, detection, groups)
        w.detector.start(lambda token: detect(recording, detection, groups, cancel=token,
                                              journal_dir=journal))

    @staticmethod
    def _journal_for(recording, detection: dict, groups) -> Path | None:
        """Detections of files keep their progress (and waveforms) in the cache: a cancelled
        detection resumes, a finished one opens at once next time. The five most recent are
        kept."""
        from spikeapp import params as param_table
        from spikeapp.detection.journal import cache_folder, fingerprint

        if not Path(recording.path).exists():
            return None  # the demo, generated in memory
        resolved = param_table.resolve("detection", detection)
        layout = [list(g) for g in groups] if groups else [[int(c)] for c in recording.channel_ids]
        folder = cache_folder(fingerprint(recording, resolved, layout))
        siblings = sorted((p for p in folder.parent.glob("*") if p.is_dir() and p != folder),
                          key=lambda p: p.stat().st_mtime, reverse=True) \
            if folder.parent.is_dir() else []
        for old in siblings[4:]:
            shutil.rmtree(old, ignore_errors=True)
        return folder

    def detect_progress(self, progress) -> None:
        self.window.busy_bar.setValue(round(100 * progress.fraction))
        self._status(f"detection: {progress.message}")

    def detected(self, result) -> None:
        w = self.window
        recording, reference = self._pending
        w.recording = recording
        w.trace.set_recording(recording)
        # Said before the session opens: the proposals it starts replace this line when they
        # are ready (and leave any line said after it alone).
        self._note(f"{Path(str(reference['path'])).name}: {result.n_spikes} spikes detected in "
                   f"{result.n_samples / result.sampling_rate:.1f} s")
        self.controller.set_session(Session(result, recording=reference))
        w.setWindowTitle(f"spikeapp - {reference['path']}")
        note = recording.segment_note() if hasattr(recording, "segment_note") else ""
        if note:   # kept in sight: the title says which segment, the log says how to change it
            self._note(f"{result.n_spikes} spikes detected. {note}")
            w.setWindowTitle(f"spikeapp - {reference['path']} (segment {recording.segment} of "
                             f"{recording.n_segments})")
        if w.demo is not None and self._sort_demo_after_detection:
            self._sort_demo_after_detection = False
            self.label_demo_seeds()
            w.sort.train_all()

    def label_demo_seeds(self) -> None:
        """Label 20 true spikes per unit of the demo, as a person would (for --screenshot)."""
        from spikeapp.io.seeds import Seeds

        demo = self.window.demo
        rng = np.random.default_rng(0)
        rows = np.concatenate([rng.choice(np.nonzero(demo.truth_units == u)[0], 20, replace=False)
                               for u in np.unique(demo.truth_units) if u != "mua"])
        seeds = Seeds(demo.truth_times_s[rows], demo.truth_channels[rows], demo.truth_units[rows])
        self.workspace.apply_seeds(seeds, description="20 seed labels per demo unit")

    def offer_recovery(self) -> bool:
        """At start-up: edits a crash left (of any session) are offered, newest first."""
        for crashed in self.workspace.crashed():
            if self.ask_recovery(crashed):
                self.recover(crashed)
                return True
            self.workspace.discard_crashed(crashed)
        return False

    def recover(self, crashed) -> None:
        try:
            edits = self.workspace.recover(crashed)
        except SpikeappError as problem:
            self.window.show_problem(problem)
            return
        self._after_open(crashed.name)
        self._note(f"recovered {edits} edit(s) of {crashed.name}; save to keep them")

    def open_session(self, path: str) -> None:
        if not self.confirm_discard():
            return
        for crashed in self.workspace.crashed(path):
            if self.ask_recovery(crashed):
                self.recover(crashed)
                return
            self.workspace.discard_crashed(crashed)
        try:
            self.workspace.open(path)
        except SpikeappError as problem:
            self.window.show_problem(problem)
            return
        self._remember(path)
        self._after_open(path)

    def _after_open(self, title: str) -> None:
        """A session was opened: its recording (asked for when it moved), its kept networks."""
        from spikeapp.io import open_recording, reader_options

        w = self.window
        # The previous recording's signal never stays under the new session's spikes.
        w.recording = None
        w.trace.set_recording(None)
        w.setWindowTitle(f"spikeapp - {title}")
        missing = self.workspace.recording_missing()
        if missing is not None:
            located = self.ask_locate(missing)
            if located:
                try:
                    self.workspace.locate_recording(located)
                except SpikeappError as problem:
                    w.show_problem(problem)
            else:
                self._note(f"the recording {missing} is not there: the traces are not shown "
                           "(File > Locate recording... points the session at it)")
        reference = self.workspace.session.recording
        source = str(reference.get("path", ""))
        if reference.get("imported"):
            # Its spikes and waveforms came from a sorting file: there is no signal to show.
            self._note(f"{Path(source).name}: a sorting imported with its waveforms; no "
                       "signal to show in the trace")
        elif source and not source.startswith("<") and Path(source).exists():
            try:
                w.recording = open_recording(source, **reader_options(reference))
            except SpikeappError as problem:
                w.log.appendPlainText(f"trace unavailable: {problem}")
        w.trace.set_recording(w.recording)
        w.sort.restore_networks()

    def close_session(self) -> None:
        """File > Close: the window as it started, nothing open (unsaved edits asked about
        first). Refused while a job works on the session: it would land on nothing."""
        w = self.window
        if self.workspace.session is None:
            return
        busy = [name for name, runner in (
            ("detection", w.detector), ("training", w.trainer), ("a save", w.saver),
            ("an export", w.exporter), ("template matching", w.matcher),
            ("applying networks", w.carrier), ("the assessment", w.assessor),
            ("a restore", w.restorer)) if runner.running]
        if busy:
            raise NotYet(f"wait for {busy[0]} to finish (or cancel it with Esc), then close")
        if not self.confirm_discard():
            return
        w.sort.drop_waiting_trainings()
        for runner in (w.proposer, w.queuer):
            runner.cancel()
            runner.wait()
        name = self.workspace.name
        self.workspace.close_session()
        w.recording = None
        w.trace.set_recording(None)
        w.setWindowTitle("spikeapp")
        self._note(f"closed {name}" if name else "closed")

    def locate_recording(self) -> None:
        """File > Locate recording...: point the open session at its moved recording."""
        if self.workspace.session is None:
            raise NotYet("open a session first")
        path, _ = QFileDialog.getOpenFileName(self.window, "Where is the session's recording?",
                                              self.start_in())
        if path:
            self.chose(path)
            self.workspace.locate_recording(path)
            self._after_open(self.workspace.name)

    def _remember(self, path: str) -> None:
        settings = QSettings("spikeapp", "spikeapp")
        recent = [p for p in (settings.value("recent", []) or []) if p != path]
        settings.setValue("recent", [path] + recent[:9])
        self.refresh_recent()

    def refresh_recent(self) -> None:
        menu = self.window.recent_menu
        menu.clear()
        for path in QSettings("spikeapp", "spikeapp").value("recent", []) or []:
            action = menu.addAction(path)
            action.triggered.connect(lambda _c=False, p=path: self.open_path(p, ask_options=True))

    # -- networks of an earlier session ------------------------------------------------------------
    def apply_networks_from(self, path: str | None = None) -> None:
        """Sort this recording with the networks of an earlier session of the same electrodes
        (no new labels), in the background; the drift of each unit goes to the log."""
        from spikeapp.session.storage import load_session

        if self.workspace.session is None:
            raise NotYet("open the later recording first, then apply the earlier "
                         "session's networks to it")
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self.window, "The earlier session",
                                                  self.start_in(),
                                                  "spikeapp sessions (*.spikeapp)")
            if not path:
                return
            self.chose(path)
        if self.window.carrier.running:
            raise NotYet("networks are being applied already")
        earlier = load_session(path)
        job = self.workspace.carry_job(earlier, Path(path).name)
        self._status(f"running the networks of {Path(path).name} on this recording...")
        self.window.carrier.start(job)

    def networks_carried(self, carried) -> None:
        self.workspace.apply_carried(carried)
        for line in carried.report():
            self.window.log.appendPlainText(line)
        moved = sum(d.moved for d in carried.drift)
        self._note(f"networks of {carried.source} applied to {len(carried.outputs)} channel(s), "
                   f"{len(carried.units)} unit(s); {moved} moved since then (the log says how "
                   "much): L asks where the network is unsure; Ctrl+Z takes it all back")

    # -- saving ---------------------------------------------------------------------------------------
    def save(self) -> None:
        if self.workspace.path is None:
            self.save_as()
        else:
            self.save_in_background()

    def save_as(self) -> None:
        if self.workspace.session is None:
            raise NotYet("nothing to save: open a recording first")
        path, _ = QFileDialog.getSaveFileName(self.window, "Save the session",
                                              self.session_name(),
                                              "spikeapp sessions (*.spikeapp)")
        if path:
            self.chose(path)
            self.save_in_background(Path(path if path.endswith(".spikeapp")
                                         else path + ".spikeapp"))

    def save_in_background(self, path: Path | None = None) -> None:
        """The state is copied now (milliseconds); the file is written on a worker thread."""
        if self.workspace.session is None:
            raise NotYet("nothing to save: open a recording first")
        if self.window.saver.running:
            raise NotYet("a save is being written already")
        job = self.workspace.save_job(path)
        self._status(f"saving {path or self.workspace.path}...")
        self.window.saver.start(lambda _token: job)

    def saved(self, result) -> None:
        self.workspace.saved(result)
        self._remember(str(result.path))
        self.window.setWindowTitle(f"spikeapp - {result.path}")

    def save_now(self) -> bool:
        """Save on this thread (before closing): True when the session is on disk."""
        if self.workspace.path is None:
            path, _ = QFileDialog.getSaveFileName(self.window, "Save the session",
                                                  self.session_name(),
                                                  "spikeapp sessions (*.spikeapp)")
            if not path:
                return False
            self.chose(path)
            self.workspace.path = Path(path if path.endswith(".spikeapp") else path + ".spikeapp")
        return self.controller.save()

    # -- importing and exporting -----------------------------------------------------------------------
    def import_dialog(self) -> None:
        """File > Import sorting: a file, a phy folder's params.py, or a spikeapp export."""
        path, _ = QFileDialog.getOpenFileName(
            self.window, "Import a sorting (a recording file with units, phy params.py, spikeapp "
            "CSV or NIX)", self.start_in())
        if path:
            self.chose(path)
            self.import_sorting(path)

    def ask_import(self, path: str, can_lay_onto: bool) -> tuple[str, bool] | None:
        """How to import the sorting in ``path``: ("onto", ...) the open recording's detections
        or ("new", ...) a session of its own spikes, and whether spikes the acquisition system
        left unsorted (Plexon's unit 0) become a unit; None: cancelled (tests replace this)."""
        from PyQt6.QtWidgets import QCheckBox

        text = (f"Import the sorting in {Path(path).name}:\n\nonto the open recording, its "
                "units labelling the detected spikes they match (one undo step), or as a "
                "session of its own spikes and waveforms?" if can_lay_onto else
                f"Open the sorting in {Path(path).name} as a session of its own spikes and "
                "waveforms (it holds no continuous signal to detect spikes in)?")
        box = QMessageBox(QMessageBox.Icon.Question, "spikeapp", text, parent=self.window)
        onto = box.addButton("Onto the open recording",
                             QMessageBox.ButtonRole.AcceptRole) if can_lay_onto else None
        new = box.addButton("As a new session" if can_lay_onto else "Import",
                            QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        keep = QCheckBox("keep spikes the acquisition system left unsorted as a unit")
        box.setCheckBox(keep)
        box.exec()
        if box.clickedButton() is onto and onto is not None:
            return "onto", keep.isChecked()
        if box.clickedButton() is new:
            return "new", keep.isChecked()
        return None

    def import_sorting(self, path: str, unsorted_as_unit: bool | None = None,
                       onto: bool | None = None) -> None:
        """Onto the open recording's detections (one undo step), or a new session made of the
        sorting's own spikes and waveforms: the user is asked which (and about unsorted
        spikes) unless the arguments say."""
        from spikeapp.io.sortings import read_sorting
        from spikeapp.workflow.importing import session_from_sorting

        session = self.workspace.session
        can_lay_onto = session is not None and not session.recording.get("imported")
        if onto is None or unsorted_as_unit is None:
            answer = self.ask_import(path, can_lay_onto)
            if answer is None:
                return
            onto = answer[0] == "onto" if onto is None else onto
            unsorted_as_unit = answer[1] if unsorted_as_unit is None else unsorted_as_unit
        onto = bool(onto and can_lay_onto)
        if not onto and not self.confirm_discard():
            return
        w = self.window
        if w.importer.running or w.detector.running:
            raise NotYet("wait for the file being opened to finish, or cancel it (Esc)")
        keep = bool(unsorted_as_unit)

        def job(cancel=None):
            # On a worker thread: reading a big sorting (and building its session) froze the
            # window for seconds (7.6 s for a 2.4 MB Plexon file).
            yield Progress(0, 2, f"reading {Path(path).name}", "import")
            sorting = read_sorting(path, unsorted_as_unit=keep)
            if onto:
                return sorting, None
            yield Progress(1, 2, "building its session", "import")
            return sorting, session_from_sorting(sorting)

        self._importing = (path, onto, self.workspace.session)
        self._status(f"importing {Path(path).name}...")
        w.importer.start(job)

    def imported(self, result) -> None:
        """An import read on the worker thread: laid onto the open recording (one undo step),
        or opened as a session of its own."""
        path, onto, session_then = self._importing
        sorting, made = result
        if onto:
            if self.workspace.session is not session_then:
                raise NotYet(f"{Path(path).name}: another session was opened meanwhile; "
                             "import it again")
            report = self.workspace.import_onto(sorting)
        else:
            session, report = made
            self.window.recording = None
            self.window.trace.set_recording(None)
            self.controller.set_session(session)
            self.window.setWindowTitle(f"spikeapp - {path} (imported)")
        self._note(f"{Path(path).name}: {report.summary()}")

    def export_as(self, fmt: str) -> None:
        """File > Export: ask where (and, for NWB, who the subject was), then export."""
        from spikeapp.export import SUFFIX

        if self.workspace.session is None:
            raise NotYet("nothing to export: open a recording first")
        stem = Path(str(self.workspace.path or self.workspace.session.recording.get(
            "path", "") or "sorting")).stem.strip("<>") or "sorting"
        if fmt in ("phy", "mat"):
            path, _ = QFileDialog.getSaveFileName(
                self.window, f"Export ({fmt}): name of the folder to create",
                self.start_in(f"{stem}_{fmt}"))
        else:
            path, _ = QFileDialog.getSaveFileName(
                self.window, f"Export ({fmt})", self.start_in(stem + SUFFIX.get(fmt, ".html")),
                f"{fmt.upper()} (*{SUFFIX.get(fmt, '.html')})")
        if not path:
            return
        self.chose(path)
        subject = None
        if fmt == "nwb":
            dialog = SubjectDialog(self.window)
            if not dialog.exec():
                return
            subject = dialog.values()
        self.export_to(fmt, path, subject)

    def export_to(self, fmt: str, path: str, subject: dict | None = None) -> None:
        """Export on a worker thread (the sorting as it is now; a message says where it went
        when it is written). The HTML report draws its figures with Qt, so it is written here,
        under a busy cursor."""
        from PyQt6.QtCore import Qt
        from PyQt6.QtWidgets import QApplication

        from spikeapp.gui.report import write_report

        if fmt != "report":
            if self.window.exporter.running:
                raise NotYet("an export is being written already; wait for it to finish")
            job = self.workspace.export_job(fmt, path, subject)
            self._status(f"exporting {fmt.upper()} to {path}...")
            self.window.exporter.start(lambda _token: job)
            return
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            summary = f"report of {write_report(self.workspace.session, path)} units -> {path}"
        finally:
            QApplication.restoreOverrideCursor()
        self._note(summary)

    def exported(self, summary: str) -> None:
        self._note(summary)
