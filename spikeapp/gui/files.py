"""Opening recordings and sessions, recovery of autosaved work, recent files, saving and
exporting: the main window's File menu."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
from PyQt6.QtCore import QSettings
from PyQt6.QtWidgets import QFileDialog, QMessageBox

from spikeapp.errors import SpikeappError
from spikeapp.gui.dialogs import OpenOptionsDialog, SubjectDialog
from spikeapp.session import Session

log = logging.getLogger(__name__)


def _age(path: Path) -> str:
    import time

    minutes = (time.time() - path.stat().st_mtime) / 60
    return f"{minutes:.0f} minutes ago" if minutes < 120 else f"{minutes / 60:.0f} hours ago"


class FileActions:
    """The File menu's work, mixed into MainWindow (it uses the window's controller, views,
    detector and status line)."""

    def open_dialog(self, folder: bool = False) -> None:
        if folder:
            path = QFileDialog.getExistingDirectory(self, "Open a recording folder")
        else:
            path, _ = QFileDialog.getOpenFileName(self, "Open a recording or a session")
        if path:
            self.open_path(path, ask_options=True)

    def open_path(self, path: str, ask_options: bool = False) -> None:
        if path.endswith(".spikeapp"):
            self.open_session(path)
            return
        reader, detection, groups = {}, {}, []
        if ask_options:
            dialog = OpenOptionsDialog(path, self)
            if not dialog.exec():
                return
            reader, detection = dialog.reader.values(), dialog.detection.values()
            groups = dialog.group_specs()
        self.open_recording_path(path, reader, detection, groups)

    def open_recording_path(self, path: str, reader: dict | None = None,
                            detection: dict | None = None, groups: list[str] | None = None
                            ) -> None:
        from spikeapp.detection import parse_groups
        from spikeapp.io import open_recording

        try:
            recording = open_recording(path, **(reader or {}))
            channel_groups = parse_groups(groups, recording.channel_ids)
        except SpikeappError as problem:
            self.show_error(str(problem))
            return
        self._remember(path)
        self._start_detection(recording, detection or {}, channel_groups,
                              dict(reader or {}, path=str(Path(path).resolve()),
                                   groups=groups or []))

    def open_demo(self, sort: bool = False) -> None:
        from spikeapp.io.demo import make_demo

        self.demo = make_demo()
        self._sort_demo_after_detection = sort
        self._start_detection(self.demo.recording(), {}, None, {"path": "<demo>"})

    def _start_detection(self, recording, detection: dict, groups, reference: dict) -> None:
        from spikeapp.detection import detect

        if self.detector.running or self.trainer.running:
            self.show_error("wait for the running job to finish, or cancel it (Esc)")
            return
        self._pending = (recording, reference)
        self.status_text.setText(f"detecting spikes in {reference['path']}...")
        journal = self._journal_for(recording, detection, groups)
        self.detector.start(lambda token: detect(recording, detection, groups, cancel=token,
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

    def _detect_progress(self, progress) -> None:
        self.busy_bar.setValue(round(100 * progress.fraction))
        self.status_text.setText(f"detection: {progress.message}")

    def _detected(self, result) -> None:
        recording, reference = self._pending
        self.recording = recording
        self.trace.set_recording(recording)
        self.controller.set_session(Session(result, recording=reference))
        self.setWindowTitle(f"spikeapp - {reference['path']}")
        self.status_text.setText(f"{result.n_spikes} spikes detected in "
                                 f"{result.n_samples / result.sampling_rate:.1f} s")
        if self.demo is not None and getattr(self, "_sort_demo_after_detection", False):
            self._sort_demo_after_detection = False
            self._label_demo_seeds()
            self.train_all()

    def _label_demo_seeds(self) -> None:
        """Label 20 true spikes per unit of the demo, as a person would (for --screenshot)."""
        from spikeapp.io.seeds import Seeds
        from spikeapp.workflow.sorting import apply_seeds

        demo = self.demo
        rng = np.random.default_rng(0)
        rows = np.concatenate([rng.choice(np.nonzero(demo.truth_units == u)[0], 20, replace=False)
                               for u in np.unique(demo.truth_units) if u != "mua"])
        seeds = Seeds(demo.truth_times_s[rows], demo.truth_channels[rows], demo.truth_units[rows])
        apply_seeds(self.controller.session, self.controller.history, seeds)
        self.controller.edited_elsewhere("20 seed labels per demo unit")

    def ask_recovery(self, autosave: Path) -> bool:
        """Ask whether to recover unsaved work (tests replace this)."""
        answer = QMessageBox.question(
            self, "spikeapp", f"Unsaved work was found in {autosave} (autosaved "
            f"{_age(autosave)}). Recover it?")
        return answer == QMessageBox.StandardButton.Yes

    def offer_untitled_recovery(self) -> bool:
        """At start-up: an autosave of an unsaved session means spikeapp did not close cleanly."""
        autosave = self.controller.autosave_path()
        if autosave.exists() and self.ask_recovery(autosave):
            self.open_session(str(autosave), recovered=True)
            return True
        return False

    def open_session(self, path: str, recovered: bool = False) -> None:
        from spikeapp.io import open_recording
        from spikeapp.session.storage import load_session

        autosave = Path(path).with_name(Path(path).name + ".autosave")
        if not recovered and autosave.exists() and \
                autosave.stat().st_mtime > Path(path).stat().st_mtime and \
                self.ask_recovery(autosave):
            self.open_session(str(autosave), recovered=True)
            self.controller.path = Path(path)
            self.controller.dirty = True
            self.status_text.setText(f"recovered unsaved work of {path}; save to keep it")
            return
        try:
            session = load_session(path)
        except SpikeappError as problem:
            self.show_error(str(problem))
            return
        self.recording = None
        reference = dict(session.recording)
        source = reference.pop("path", "")
        reference.pop("groups", None)
        if source and source != "<demo>" and Path(source).exists():
            try:
                self.recording = open_recording(source, **reference)
            except SpikeappError as problem:
                self.log.appendPlainText(f"trace unavailable: {problem}")
        self.trace.set_recording(self.recording)
        if not recovered:
            self._remember(path)
        self.controller.set_session(session, None if recovered else Path(path))
        self.setWindowTitle(f"spikeapp - {path}")

    def _remember(self, path: str) -> None:
        settings = QSettings("spikeapp", "spikeapp")
        recent = [p for p in (settings.value("recent", []) or []) if p != path]
        settings.setValue("recent", [path] + recent[:9])
        self._refresh_recent()

    def _refresh_recent(self) -> None:
        self.recent_menu.clear()
        for path in QSettings("spikeapp", "spikeapp").value("recent", []) or []:
            action = self.recent_menu.addAction(path)
            action.triggered.connect(lambda _c=False, p=path: self.open_path(p, ask_options=True))

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt naming
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt naming
        urls = event.mimeData().urls()
        if urls:
            self.open_path(urls[0].toLocalFile(), ask_options=True)

    # -- saving ---------------------------------------------------------------------------------------
    def save(self) -> None:
        if self.controller.path is None:
            self.save_as()
        else:
            self.controller.save()

    def save_as(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the session", "session.spikeapp",
                                              "spikeapp sessions (*.spikeapp)")
        if path:
            self.controller.save(Path(path if path.endswith(".spikeapp") else path + ".spikeapp"))

    def import_dialog(self) -> None:
        """File > Import sorting: a file, a phy folder's params.py, or a spikeapp export."""
        path, _ = QFileDialog.getOpenFileName(
            self, "Import a sorting (a recording file with units, phy params.py, spikeapp CSV or "
            "NIX)")
        if path:
            self.import_sorting(path)

    def import_sorting(self, path: str, unsorted_as_unit: bool = False) -> None:
        """Onto the open recording's detections (one undo step) when one is open; otherwise a new
        session made of the sorting's own spikes and waveforms."""
        from spikeapp.io.sortings import read_sorting
        from spikeapp.workflow.importing import session_from_sorting

        sorting = read_sorting(path, unsorted_as_unit=unsorted_as_unit)
        session = self.controller.session
        if session is not None and not session.recording.get("imported"):
            report = self.controller.import_onto(sorting)
        else:
            if not self.confirm_discard():
                return
            session, report = session_from_sorting(sorting)
            self.recording = None
            self.trace.set_recording(None)
            self.controller.set_session(session)
            self.setWindowTitle(f"spikeapp - {path} (imported)")
        summary = f"{Path(path).name}: {report.summary()}"
        self.status_text.setText(summary)
        self.log.appendPlainText(summary)

    def confirm_discard(self) -> bool:
        """Before replacing an edited, unsaved session (tests replace this)."""
        if self.controller.session is None or not self.controller.dirty:
            return True
        answer = QMessageBox.question(self, "spikeapp", "The open session has unsaved edits "
                                      "(they stay in its autosave). Replace it?")
        return answer == QMessageBox.StandardButton.Yes

    def export_as(self, fmt: str) -> None:
        """File > Export: ask where (and, for NWB, who the subject was), then export."""
        from spikeapp.export import SUFFIX

        if self.controller.session is None:
            raise SpikeappError("nothing to export: open a recording first")
        stem = Path(str(self.controller.path or self.controller.session.recording.get(
            "path", "") or "sorting")).stem.strip("<>") or "sorting"
        if fmt in ("phy", "mat"):
            path, _ = QFileDialog.getSaveFileName(
                self, f"Export ({fmt}): name of the folder to create", f"{stem}_{fmt}")
        else:
            path, _ = QFileDialog.getSaveFileName(
                self, f"Export ({fmt})", stem + SUFFIX.get(fmt, ".html"),
                f"{fmt.upper()} (*{SUFFIX.get(fmt, '.html')})")
        if not path:
            return
        subject = None
        if fmt == "nwb":
            dialog = SubjectDialog(self)
            if not dialog.exec():
                return
            subject = dialog.values()
        self.export_to(fmt, path, subject)

    def export_to(self, fmt: str, path: str, subject: dict | None = None) -> None:
        """Export (``fmt`` "report" writes the HTML report); a message says where it went."""
        from PyQt6.QtCore import Qt
        from PyQt6.QtWidgets import QApplication

        from spikeapp.export import export
        from spikeapp.gui.report import write_report

        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            if fmt == "report":
                summary = f"report of {write_report(self.controller.session, path)} units -> {path}"
            else:
                summary = export(self.controller.session, fmt, path, subject=subject)
        finally:
            QApplication.restoreOverrideCursor()
        self.status_text.setText(summary)
        self.log.appendPlainText(summary)
