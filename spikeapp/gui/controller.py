"""The GUI's single owner of the session: edits, selection, undo, training, saving."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PyQt6.QtCore import QObject, QTimer, pyqtSignal

from spikeapp import params as param_table
from spikeapp.errors import SpikeappError
from spikeapp.session import Session
from spikeapp.session import commands as cmd
from spikeapp.session.state import UNASSIGNED, UNRESOLVED, distinct_ids
from spikeapp.session.storage import save_session
from spikeapp.workflow.sorting import TrainingOutput, output_change, snapshot_training, train_and_predict

log = logging.getLogger(__name__)

AUTOSAVE_MS = 30_000


class Controller(QObject):
    """Holds the session, its history and the selection; every edit goes through here."""

    session_changed = pyqtSignal()          # a new session, or an edit
    selection_changed = pyqtSignal()
    group_changed = pyqtSignal()
    message = pyqtSignal(str)               # status line
    error = pyqtSignal(str)                 # shown in a message box and the log

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session: Session | None = None
        self.history: cmd.History | None = None
        self.path: Path | None = None
        self.group: int = 0
        self.selection = np.zeros(0, dtype=np.int64)
        self.selected_units: list[int] = []
        self.network: dict[str, Any] = param_table.defaults("network")
        self.training: dict[str, Any] = param_table.defaults("training")
        self.dirty = False
        self.revision = 0  # grows with every edit: views key their caches on it
        self._samples: dict = {}
        self.outputs: dict[int, TrainingOutput] = {}  # group -> last training (queue, preview)
        self._members: dict[int, NDArray] = {}
        self._members_key: tuple | None = None
        self._autosave = QTimer(self)
        self._autosave.setSingleShot(True)
        self._autosave.timeout.connect(self.autosave)

    # -- session ---------------------------------------------------------------------------------
    def members(self) -> dict[int, NDArray]:
        """Spikes of each unit of the current group (unassigned and unresolved included), cached
        until the next edit: the views and plots share one pass over the spikes."""
        from spikeapp.session.display import unit_members

        key = (self.revision, self.group)
        if self._members_key != key:
            self._members = unit_members(self.session.spikes_of_group(self.group),
                                         self.session.assignment)
            self._members_key = key
            self._samples = {}
        return self._members

    def display_sample(self, per_unit: int, hidden: set) -> NDArray:
        """The bounded sample the views draw, cached until the next edit (a selection alone
        does not change it)."""
        from spikeapp.session.display import display_sample

        members = self.members()
        key = (per_unit, frozenset(hidden))
        if key not in self._samples:
            self._samples[key] = display_sample(
                {u: spikes for u, spikes in members.items() if u not in hidden}, per_unit)
        return self._samples[key]

    def visible_spikes(self, hidden: set) -> NDArray:
        """Spikes of the current group whose unit is not hidden, in order."""
        spikes = self.session.spikes_of_group(self.group)
        if not hidden or not hidden & set(self.members()):
            return spikes
        mask = np.ones(self.session.n_spikes, dtype=bool)
        for unit in hidden & set(self.members()):
            mask[self.members()[unit]] = False
        return spikes[mask[spikes]]

    def set_session(self, session: Session, path: Path | None = None) -> None:
        self.revision += 1
        self.session = session
        self.outputs = {}
        self.history = cmd.History(session)
        self.path = path
        self.dirty = False
        groups = session.groups
        self.group = int(groups[0]) if len(groups) else 0
        self.selection = np.zeros(0, dtype=np.int64)
        self.selected_units = []
        self.session_changed.emit()
        self.group_changed.emit()
        self.selection_changed.emit()

    def set_group(self, group: int) -> None:
        if self.session is None or group == self.group:
            return
        self.group = int(group)
        self.selection = np.zeros(0, dtype=np.int64)
        self.selected_units = []
        self.group_changed.emit()
        self.selection_changed.emit()

    def units(self) -> list:
        """Units of the current group, in creation order (keys 1-9 follow this order)."""
        if self.session is None:
            return []
        return sorted(self.session.units_of_group(self.group), key=lambda u: u.id)

    # -- selection (not on the undo stack) --------------------------------------------------------
    def select(self, spikes: NDArray) -> None:
        spikes = np.asarray(spikes, dtype=np.int64)
        if len(spikes) > 1 and not np.all(spikes[1:] > spikes[:-1]):
            spikes = np.unique(spikes)
        self.selection = spikes
        self.selection_changed.emit()
        self.message.emit(f"{len(self.selection)} spike(s) selected")

    def select_units(self, unit_ids: list[int]) -> None:
        self.selected_units = list(unit_ids)
        self.selection_changed.emit()

    # -- edits -------------------------------------------------------------------------------------
    def do(self, make_change) -> bool:
        """Run a command; errors go to the user, the session stays as it was."""
        if self.session is None:
            return False
        try:
            change = make_change(self.session)
        except SpikeappError as problem:
            self.error.emit(str(problem))
            return False
        change.selection_before = self.selection.copy()  # restored by undo; not session state
        self.history.do(change)
        self._edited(change.description)
        return True

    def edited_elsewhere(self, description: str) -> None:
        """The history was changed outside ``do`` (seed labels applied in one step, say):
        caches are renewed, views redrawn, autosave scheduled, as after any edit."""
        self._edited(description)

    def _edited(self, description: str) -> None:
        self.revision += 1
        self.dirty = True
        self.session_changed.emit()
        self.message.emit(description)
        self._autosave.start(AUTOSAVE_MS)

    def keyed_units(self) -> list:
        """The units keys 1-9 label as, in order (a unit named noise has key 0)."""
        return [u for u in self.units() if u.quality != "noise" or u.name != "noise"]

    def key_of(self, unit_id: int) -> str:
        for number, unit in enumerate(self.keyed_units(), start=1):
            if unit.id == unit_id:
                return str(number) if number <= 9 else ""
        unit = self.session.units.get(unit_id) if self.session else None
        return "0" if unit is not None and unit.name == "noise" else ""

    def label_key(self, number: int) -> None:
        """Keys 1-9: label the selection as the group's unit N (N = count + 1 makes a new one)."""
        units = self.keyed_units()
        if number <= len(units):
            unit_id = units[number - 1].id
            self.do(lambda s: cmd.label(s, self.selection, unit_id))
        elif number == len(units) + 1:
            self.label_new_unit()
        else:
            self.error.emit(f"there is no unit {number} on this channel yet: press "
                            f"{len(units) + 1} or N for a new unit")

    def label_new_unit(self) -> None:
        self.do(lambda s: cmd.label_new_unit(s, self.selection))

    def label_noise(self) -> None:
        noise = self.session.unit_by_name(self.group, "noise") if self.session else None
        if noise is None:
            self.do(lambda s: cmd.label_new_unit(s, self.selection, name="noise", quality="noise"))
        else:
            self.do(lambda s: cmd.label(s, self.selection, noise.id))

    def unlabel(self) -> None:
        self.do(lambda s: cmd.unlabel(s, self.selection))

    def split(self) -> None:
        self.do(lambda s: cmd.split(s, self.selection))

    def merge(self) -> None:
        self.do(lambda s: cmd.merge(s, self.selected_units))

    def delete_units(self) -> None:
        for unit_id in list(self.selected_units):
            self.do(lambda s, u=unit_id: cmd.delete_unit(s, u))
        self.selected_units = []

    def edit_unit(self, unit_id: int, **changes: str) -> None:
        self.do(lambda s: cmd.edit_unit(s, unit_id, **changes))

    def undo(self) -> None:
        if self.history is None:
            return
        change = self.history.undo()
        if change is None:
            self.message.emit("nothing to undo")
            return
        self.selection = getattr(change, "selection_before", self.selection)
        self._edited(f"undone: {change.description}")
        self.selection_changed.emit()

    def redo(self) -> None:
        if self.history is None:
            return
        change = self.history.redo()
        if change is None:
            self.message.emit("nothing to redo")
            return
        self._edited(f"redone: {change.description}")

    def import_onto(self, sorting):
        """Lay an imported sorting onto this session's detections: one undoable step."""
        from spikeapp.workflow.importing import import_onto

        report = import_onto(self.session, self.history, sorting)
        self._edited(f"imported {report.units} unit(s) from {sorting.source}")
        return report

    # -- training ----------------------------------------------------------------------------------
    def training_job(self):
        """A job factory for the worker: the inputs are copied now, on the GUI thread."""
        if self.session is None:
            raise SpikeappError("open a recording first")
        data = snapshot_training(self.session, self.group)
        network, training = dict(self.network), dict(self.training)
        return lambda token: train_and_predict(data, network, training,
                                               training["min_confidence"], token)

    def apply_training(self, output: TrainingOutput, units: set[int] | None = None) -> None:
        """Recolour every spike of the trained group (or only those predicted into ``units``):
        one undoable step."""
        if self.session is None:
            return
        missing = set(distinct_ids(output.assigned).tolist()) - set(self.session.units) - {
            UNASSIGNED, UNRESOLVED}
        if missing:
            self.error.emit("units were deleted while the network trained: its predictions "
                            "were discarded; train again")
            return
        if self.do(lambda s: output_change(s, output, units)):
            self.message.emit(f"network applied to channel {output.group} "
                              f"({len(output.spikes)} spikes)")

    # -- saving ------------------------------------------------------------------------------------
    def save(self, path: Path | None = None) -> bool:
        target = Path(path) if path is not None else self.path
        if self.session is None or target is None:
            return False
        try:
            save_session(self.session, target)
        except SpikeappError as problem:
            self.error.emit(str(problem))
            return False
        self.path = target
        self.dirty = False
        self.autosave_path().unlink(missing_ok=True)
        self.message.emit(f"saved {target}")
        return True

    def autosave_path(self) -> Path:
        if self.path is not None:
            return self.path.with_name(self.path.name + ".autosave")
        folder = Path.home() / ".local" / "share" / "spikeapp"
        return folder / "untitled.spikeapp.autosave"

    def autosave(self) -> None:
        if self.session is None or not self.dirty:
            return
        target = self.autosave_path()
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            save_session(self.session, target)
        except (SpikeappError, OSError) as problem:
            log.warning("autosave failed: %s", problem)
