"""The window's adapter over the Workspace: Qt signals out, Workspace calls in. It holds what
is the window's alone (the channel shown, the selection, the views' caches); the session, its
history, trainings and saving belong to the Workspace."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PyQt6.QtCore import QObject, pyqtSignal

from spikeapp.errors import NotYet, SpikeappError
from spikeapp.session import Session
from spikeapp.session import commands as cmd
from spikeapp.session.state import UNASSIGNED, UNRESOLVED
from spikeapp.workflow.sorting import TrainingOutput
from spikeapp.workflow.workspace import TrainingJob, Workspace

log = logging.getLogger(__name__)


class Controller(QObject):
    """The selection and the channel shown; every edit goes to the Workspace."""

    session_changed = pyqtSignal()          # a new session, or an edit
    selection_changed = pyqtSignal()
    group_changed = pyqtSignal()
    opened = pyqtSignal()                   # another session (its parameters with it)
    message = pyqtSignal(str)               # status line
    error = pyqtSignal(str)                 # shown in a message box and the log
    note = pyqtSignal(str)                  # what to do first (NotYet): status line and log
    proposals_changed = pyqtSignal()        # found, merged or split (not an edit)
    detection_changed = pyqtSignal()        # spikes added (template matching) or taken away

    def __init__(self, parent: QObject | None = None, workspace: Workspace | None = None
                 ) -> None:
        super().__init__(parent)
        self.workspace = workspace or Workspace()
        self.workspace.subscribe(self._workspace_event)
        self.group: int = 0
        self.selection = np.zeros(0, dtype=np.int64)
        self.selected_units: list[int] = []
        self.selected_proposals: list[int] = []   # indexes into the group's proposals
        self._open: list = []
        self._open_key: tuple | None = None
        self._samples: dict = {}
        self._members: Mapping[int, NDArray] = {}
        self._members_key: tuple | None = None

    # -- the Workspace's state, read here by the views ------------------------------------------
    @property
    def session(self) -> Session | None:
        return self.workspace.session

    @property
    def history(self) -> cmd.History | None:
        return self.workspace.history

    @property
    def path(self) -> Path | None:
        return self.workspace.path

    @property
    def dirty(self) -> bool:
        return self.workspace.modified

    @property
    def revision(self) -> int:
        """Grows with every edit: views key their caches on it."""
        return self.workspace.revision

    @property
    def outputs(self) -> dict[int, TrainingOutput]:
        return self.workspace.outputs

    @property
    def network(self) -> dict[str, Any]:
        return self.workspace.network

    @property
    def training(self) -> dict[str, Any]:
        return self.workspace.training

    def _workspace_event(self, event: str, text: str) -> None:
        if event == "session":
            session = self.workspace.session
            groups = session.groups if session is not None else []
            self.group = int(groups[0]) if len(groups) else 0
            self.selection = np.zeros(0, dtype=np.int64)
            self.selected_units = []
            self.selected_proposals = []
            self.opened.emit()
            self.session_changed.emit()
            self.group_changed.emit()
            self.selection_changed.emit()
        elif event == "edit":
            # Units an edit removed (merged, deleted, undone) leave the selection: the table
            # highlighted them, and M then named a unit that no longer exists.
            session = self.workspace.session
            kept = [u for u in self.selected_units if session is not None and u in session.units]
            if kept != self.selected_units:
                self.selected_units = kept
                self.selection_changed.emit()
            self.session_changed.emit()
            self.message.emit(text)
        elif event == "saved":
            self.session_changed.emit()
            self.message.emit(f"saved {text}")
        elif event == "problem":
            self.error.emit(text)
        elif event == "detection":   # spike indexes changed: the selection means nothing now
            self.selection = np.zeros(0, dtype=np.int64)
            self.selected_proposals = []
            self.detection_changed.emit()
            self.selection_changed.emit()
        elif event == "proposals":
            self.selected_proposals = []
            self._open_key = None
            self.proposals_changed.emit()
            self.message.emit(text)

    # -- session ---------------------------------------------------------------------------------
    def members(self) -> Mapping[int, NDArray]:
        """Spikes of each unit of the current group (unassigned and unresolved included), cached
        until the next edit: the views and plots share one pass over the spikes, and a unit's
        list is made when first asked for (``count`` and ``sample`` need none)."""
        from spikeapp.session.display import unit_members

        if self.session is None:
            return {}
        key = (self.revision, self.group)
        if self._members_key != key:
            self._members = unit_members(self.session.spikes_of_group(self.group),
                                         self.session.assignment,
                                         [*(u.id for u in self.session.units_of_group(self.group)),
                                          UNASSIGNED, UNRESOLVED])
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
            self._samples[key] = display_sample(members, per_unit, hidden)
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
        """Open ``session`` (the window asked before discarding unsaved edits)."""
        self.workspace.set_session(session, path)

    def set_group(self, group: int) -> None:
        if self.session is None or group == self.group:
            return
        self.group = int(group)
        self.selection = np.zeros(0, dtype=np.int64)
        self.selected_units = []
        self.selected_proposals = []
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
    def _act(self, action, *args, **kwargs) -> bool:
        """Run a Workspace action; a refused one goes to the user and changes nothing."""
        if self.session is None:
            return False
        before = self.selection.copy()
        try:
            change = action(*args, **kwargs)
        except SpikeappError as problem:
            (self.note if isinstance(problem, NotYet) else self.error).emit(str(problem))
            return False
        if isinstance(change, cmd.Change):
            change.selection_before = before  # restored by undo; not session state
        return True

    def do(self, make_change) -> bool:
        """Run a command built on the session (one undo step)."""
        return self._act(self.workspace.edit, make_change)

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
            self._act(self.workspace.label, self.selection, units[number - 1].id)
        elif number == len(units) + 1:
            self.label_new_unit()
        else:
            self.note.emit(f"there is no unit {number} on this channel yet: press "
                            f"{len(units) + 1} or N for a new unit")

    def label_new_unit(self) -> None:
        self._act(self.workspace.label_new_unit, self.selection)

    def label_noise(self) -> None:
        self._act(self.workspace.label_noise, self.selection, self.group)

    def unlabel(self) -> None:
        self._act(self.workspace.unlabel, self.selection)

    def split(self) -> None:
        self._act(self.workspace.split, self.selection)

    def merge(self) -> None:
        """The selected units merged; with only proposed units selected, those proposals."""
        if len(self.selected_proposals) > 1 and not self.selected_units:
            self._act(self.workspace.merge_proposals, self.group, self.selected_proposals)
            return
        target = self.selected_units[0] if self.selected_units else None
        if self._act(self.workspace.merge, self.selected_units) and target is not None:
            self.select_units([target])   # the merged unit, as the table shows it

    def split_proposal(self) -> None:
        """The selected spikes of a proposed unit become a proposal of their own."""
        self._act(self.workspace.split_proposal, self.group, self.selection)

    # -- proposed units of the channel shown (derived, not edits) ----------------------------------
    def open_proposals(self) -> list[tuple[int, int]]:
        """(index, spikes no unit holds) of the group's open proposals, cached until the next
        edit or change of proposals (the table and the feature view both ask on every redraw)."""
        from spikeapp.workflow.proposals import unassigned_counts

        if self.session is None:
            return []
        proposals = self.workspace.proposals.get(self.group, [])
        key = (self.revision, self.group, id(proposals), len(proposals))
        if self._open_key != key:
            indexes = self.workspace.open_proposals(self.group)
            counts = unassigned_counts(self.session, [proposals[i] for i in indexes])
            self._open = list(zip(indexes, counts))
            self._open_key = key
        return self._open

    def proposal(self, index: int):
        """The current group's proposal ``index`` (its members and core)."""
        return self.workspace.proposals[self.group][index]

    def proposal_spikes(self, index: int) -> NDArray[np.int64]:
        """The spikes of an open proposal that no unit holds (what selecting its row selects)."""
        from spikeapp.workflow.proposals import unassigned_of

        return unassigned_of(self.session, self.proposal(index))

    def select_proposals(self, indexes: list[int]) -> None:
        """Select proposed units (P accepts them, M merges them) and their unassigned spikes."""
        self.selected_proposals = list(indexes)
        open_ = dict(self.open_proposals())
        chosen = [self.proposal_spikes(i) for i in indexes if i in open_]
        self.select(np.unique(np.concatenate(chosen)) if chosen else np.zeros(0, np.int64))

    def delete_units(self) -> None:
        if self._act(self.workspace.delete_units, list(self.selected_units)):
            self.selected_units = []

    def edit_unit(self, unit_id: int, **changes: str) -> None:
        self._act(self.workspace.edit_unit, unit_id, **changes)

    def undo(self) -> None:
        change = self.workspace.undo()
        if change is None:
            self.message.emit("nothing to undo")
            return
        self.selection = getattr(change, "selection_before", self.selection)
        self.selection_changed.emit()

    def redo(self) -> None:
        if self.workspace.redo() is None:
            self.message.emit("nothing to redo")

    def import_onto(self, sorting):
        """Lay an imported sorting onto this session's detections: one undoable step."""
        report = self.workspace.import_onto(sorting)
        self.message.emit(f"imported {report.units} unit(s) from {sorting.source}")
        return report

    # -- training ----------------------------------------------------------------------------------
    def training_job(self, group: int | None = None) -> TrainingJob:
        """A snapshot of a group's labels (the current channel by default), taken now."""
        return self.workspace.training_job(self.group if group is None else group)

    def apply_training(self, output: TrainingOutput, units: set[int] | None = None) -> None:
        """Recolour every spike of the trained group (or only those predicted into ``units``):
        one undoable step."""
        if self._act(self.workspace.apply, output, units):
            self.message.emit(f"network applied to channel {output.group} "
                              f"({len(output.spikes)} spikes)")

    def set_min_confidence(self, value: float) -> None:
        """Spikes the network is less sure of become unresolved at once (one undo step)."""
        if self.session is None:
            return
        try:
            moved, unresolved = self.workspace.set_min_confidence(value)
        except SpikeappError as problem:
            self.error.emit(str(problem))
            return
        if not self.outputs:
            self.message.emit(f"min confidence {value:.2f}: applies from the next training")
        else:
            self.message.emit(f"min confidence {value:.2f}: {unresolved} spike(s) unresolved, "
                              f"{moved} moved" + (" (Ctrl+Z reverts)" if moved else ""))

    # -- saving ------------------------------------------------------------------------------------
    def save(self, path: Path | None = None) -> bool:
        """Save on this thread (the File menu saves in the background instead)."""
        try:
            self.workspace.save(path)
        except SpikeappError as problem:
            self.error.emit(str(problem))
            return False
        return True
