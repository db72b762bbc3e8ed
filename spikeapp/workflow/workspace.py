"""The application core, Qt-free: one Workspace owns the open session, its undo history, its
parameters, each group's last training (networks included), saving and the edit journal. The
window's controller and the command line both drive it; a method reads like a user action.

Observers subscribe with :meth:`Workspace.subscribe` and are told ``("session", text)`` when a
session is opened or replaced, ``("edit", text)`` after every edit, undo and redo, ``("saved",
path)`` and ``("problem", text)`` (a journal that cannot be written, say).
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from spikeapp import params as param_table
from spikeapp.errors import NotYet, SpikeappError
from spikeapp.session import Session, invariants
from spikeapp.session import commands as cmd
from spikeapp.session.state import ACCEPTED, HUMAN, NETWORK, UNASSIGNED, UNRESOLVED, distinct_ids
from spikeapp.session.storage import save_session
from spikeapp.tasks import CancelToken, Job, Progress, run_job
from spikeapp.workflow import journal as journal_
from spikeapp.workflow.journal import Crashed, Journal, default_data_dir, snapshot_state
from spikeapp.workflow.sorting import (
    SeedReport,
    TrainingInput,
    TrainingOutput,
    output_change,
    predict_with,
    seeds_change,
    snapshot_training,
    train_and_predict,
)

log = logging.getLogger(__name__)

Listener = Callable[[str, str], None]


@dataclass(frozen=True)
class TrainingJob:
    """A training of one group from a snapshot taken at ``revision`` of that group's labels."""

    group: int
    revision: int
    data: TrainingInput
    network: dict[str, Any]
    training: dict[str, Any]
    epoch: int = 0      # the Workspace's detection_epoch when the snapshot was taken

    def run(self, cancel: CancelToken | None = None) -> Job[TrainingOutput]:
        return train_and_predict(self.data, self.network, self.training,
                                 self.training["min_confidence"], cancel)


@dataclass
class Offer:
    """A finished training, offered before it changes anything.

    ``stale``: the group's labels changed while it trained (it learnt from an older state);
    ``moves``: spikes the network had already assigned that it would move (a retrain);
    ``invalid``: why it cannot be applied at all (its units were deleted meanwhile).
    """

    output: TrainingOutput
    stale: bool
    preview: Any = None          # review.Preview of a retrain, None for a first training
    invalid: str = ""

    @property
    def needs_review(self) -> bool:
        return self.stale or (self.preview is not None and self.preview.moved > 0)


@dataclass(frozen=True)
class SaveResult:
    path: Path
    revision: int
    seconds: float


class Workspace:
    """The open session and everything that acts on it."""

    def __init__(self, data_dir: Path | None = None, journal: bool = True) -> None:
        self.data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
        self.journal_enabled = journal
        self._journal_wanted = journal   # journal_enabled goes off when the disk fails it
        self._dead_journal: Journal | None = None   # stopped by an error; removed at a save
        self.session: Session | None = None
        self.history: cmd.History | None = None
        self.path: Path | None = None            # the session file it belongs to
        self.name = ""
        self.revision = 0                         # grows with every edit
        self.saved_revision = 0
        self.network: dict[str, Any] = param_table.defaults("network")
        self.training: dict[str, Any] = param_table.defaults("training")
        self.outputs: dict[int, TrainingOutput] = {}     # group -> last training
        self.proposals: dict[int, list] = {}             # group -> proposed units
        # Grows when spikes are added to the detection or taken away (template matching and
        # its undo): results computed on spike indexes of another epoch are refused.
        self.detection_epoch = 0
        self._detection_revision = 0
        self._group_revision: dict[int, int] = {}        # group -> revision of its last edit
        self._journal: Journal | None = None
        self._listeners: list[Listener] = []
        self._pending_save: list[tuple[str, cmd.Change | None, dict | None]] | None = None

    # -- observers -------------------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def _tell(self, event: str, text: str = "") -> None:
        for listener in list(self._listeners):
            listener(event, text)

    @property
    def modified(self) -> bool:
        return self.session is not None and self.revision != self.saved_revision

    # -- opening and closing ----------------------------------------------------------------------
    def set_session(self, session: Session, path: Path | None = None, name: str = "",
                    history: cmd.History | None = None, modified: bool = False) -> None:
        """Make ``session`` the open one (the caller asked before discarding edits)."""
        self.close(discard=True)
        self.session = session
        self.history = history or cmd.History(session)
        self.path = Path(path) if path is not None else None
        self.name = name or (str(path) if path else str(session.recording.get("path", "")))
        self.revision += 1
        self.saved_revision = self.revision - (1 if modified else 0)
        self.outputs = {}
        self.proposals = {}
        self._group_revision = {}
        stored = session.training_params
        for kind in ("network", "training"):
            values = stored.get(kind) if isinstance(stored.get(kind), dict) else {}
            try:
                setattr(self, kind, param_table.resolve(kind, values))
            except SpikeappError as problem:
                log.warning("%s: stored %s parameters ignored: %s", self.name, kind, problem)
                setattr(self, kind, param_table.defaults(kind))
        self._tell("session", self.name)

    def open(self, path: str | Path) -> None:
        """Open a session file (a crashed journal of it is :meth:`recover`'s business)."""
        from spikeapp.session.storage import load_session

        session = load_session(path)
        self.set_session(session, Path(path))

    def crashed(self, path: str | Path | None = None) -> list[Crashed]:
        """Edits left by a spikeapp that did not close: of the session file ``path``, or all."""
        if not self.journal_enabled:
            return []
        if path is not None:
            found = journal_.crashed_journal_of(self.data_dir, Path(path))
            return [found] if found is not None else []
        return journal_.crashed_journals(self.data_dir)

    def recover(self, crashed: Crashed) -> int:
        """Open what a crashed journal holds: marked modified, under its real name, with its
        edits on the undo stack; the journal goes on from there. Returns the edits replayed."""
        session, history, seq, torn = journal_.replay(crashed)
        log_file = crashed.folder / crashed.manifest["journal"]
        lost_bytes, later = journal_.lost_after_damage(log_file) if torn else (0, 0)
        if later:   # kept aside for whoever looks into it; the journal goes on without it
            shutil.copyfile(log_file, crashed.folder / f".damaged-{log_file.name}")
        self.set_session(session, crashed.session_path, crashed.name, history, modified=True)
        journal_.drop_torn_tail(log_file)
        manifest = dict(crashed.manifest, pid=os.getpid())
        self._journal = Journal(crashed.folder, manifest, seq)
        self._journal.announce()
        if later:
            self._tell("problem", f"{self.name}: the edit journal was damaged on disk: the "
                       f"edits up to the damage are recovered, the {later + 1} edit(s) from "
                       "there on are lost")
        elif torn:
            log.warning("%s: the last edit was cut short by the crash and is lost", self.name)
        return seq

    def discard_crashed(self, crashed: Crashed) -> None:
        journal_.discard(crashed)

    def close(self, discard: bool = True) -> None:
        """Close the session. ``discard`` False keeps the journal (the edits stay recoverable);
        the window passes True once the user saved or chose to discard."""
        if self._journal is not None:
            self._journal.close(remove=discard)
            self._journal = None
        self.session = None
        self.history = None
        self.outputs = {}

    def close_session(self) -> None:
        """File > Close: nothing is open afterwards (the window asked before discarding
        edits); the journal of its edits goes, as after a save or a discard."""
        self.close(discard=True)
        self.path, self.name = None, ""
        self.revision += 1
        self.saved_revision = self.revision
        self.proposals, self._group_revision = {}, {}
        self.network = param_table.defaults("network")
        self.training = param_table.defaults("training")
        self._tell("session", "")

    def recording_missing(self) -> str | None:
        """The recording's path when the session names one that is not there."""
        if self.session is None:
            return None
        source = str(self.session.recording.get("path", ""))
        if not source or source.startswith("<") or self.session.recording.get("imported"):
            return None
        return None if Path(source).exists() else source

    def locate_recording(self, path: str | Path) -> None:
        """Point the session at its recording's new place (checked: it must open, with the
        sampling rate and channels the spikes were detected in)."""
        from spikeapp.io import open_recording, reader_options

        session = self._open_session()
        if session.recording.get("imported"):
            raise SpikeappError("this session was made from an imported sorting's waveforms: it "
                                "has no recording to locate")
        recording = open_recording(str(path), **reader_options(session.recording))
        try:
            d = session.detection
            if abs(recording.sampling_rate - d.sampling_rate) > 1e-6 * d.sampling_rate:
                raise SpikeappError(f"{path}: sampled at {recording.sampling_rate:g} Hz, the "
                                    f"session's spikes at {d.sampling_rate:g} Hz")
            missing = sorted(set(d.channel_ids.tolist()) - set(
                np.asarray(recording.channel_ids).tolist()))
            if missing:
                raise SpikeappError(f"{path}: lacks the session's channels {missing[:8]}")
        finally:
            close = getattr(recording, "close", None)
            if close is not None:
                close()
        self._ensure_journal()
        session.recording = dict(session.recording, path=str(Path(path).resolve()))
        self._record("meta", data={"recording": session.recording})
        self._edited(f"recording located at {path}", set())

    # -- parameters ---------------------------------------------------------------------------------
    def set_params(self, kind: str, **values: Any) -> None:
        """Change network or training parameters (checked against the parameter table); they
        are kept in the session."""
        resolved = param_table.resolve(kind, dict(getattr(self, kind), **values))
        setattr(self, kind, resolved)
        if self.session is not None:
            self._ensure_journal()
            self.session.training_params = {"network": dict(self.network),
                                            "training": dict(self.training)}
            self._record("meta", data={"training_params": self.session.training_params})

    # -- edits ------------------------------------------------------------------------------------
    def _open_session(self) -> Session:
        if self.session is None:
            raise NotYet("open a recording first")
        return self.session

    def edit(self, make_change: Callable[[Session], cmd.Change]) -> cmd.Change:
        """Build a command on the session and apply it as one undo step (a SpikeappError from
        the command leaves everything as it was)."""
        return self.commit(make_change(self._open_session()))

    def commit(self, change: cmd.Change) -> cmd.Change:
        """Apply a change made elsewhere (seed labels, an import) as one undo step."""
        self._open_session()
        self._ensure_journal()
        self.history.do(change)
        self._verify(change, forward=True, done=True)
        if isinstance(change, cmd.DetectionChange):
            self._detection_changed()
        else:
            self._record("do", change)
        self._edited(change.description, _groups_of(self.session, change))
        return change

    def _detection_changed(self) -> None:
        """Spikes were added to the detection (or taken away by undo): spike indexes changed.
        The journal starts again on the session as it is now, with a copy of its detection
        (the saved file holds the other one); trainings' outputs and proposals, indexed by
        spike, are dropped (run the kept networks again to have outputs)."""
        if self._journal is not None:
            self._journal.close(remove=True)
            self._journal = None
        if self.journal_enabled:
            try:
                self._journal = Journal.start(self.data_dir, self.session, self.path, self.name,
                                              copy_detection=True)
            except (OSError, SpikeappError) as problem:
                self.journal_enabled = False
                self._tell("problem", f"edits cannot be journalled ({problem}); save often")
        self.outputs = {}
        self.proposals = {}
        self.detection_epoch += 1
        self._detection_revision = self.revision + 1   # _edited comes next and counts it
        self._tell("detection", f"{self.session.n_spikes} spikes")

    # -- networks of an earlier session ------------------------------------------------------------
    def carry_job(self, earlier: Session, source: str):
        """The networks of an earlier session of the same electrodes run on this session's
        spikes, with a drift report, as a job (see :mod:`spikeapp.workflow.carry`); nothing
        changes until :meth:`apply_carried`."""
        from spikeapp.workflow.carry import carry_job

        return carry_job(earlier, self._open_session(), source, self.training["min_confidence"])

    def apply_carried(self, carried) -> cmd.Change:
        """The earlier units (same ids, names and colours) and their networks' predictions, in
        one undo step; the outputs are kept, so the label-next queue works at once."""
        from spikeapp.workflow.carry import units_change

        session = self._open_session()
        makers = [lambda s: units_change(s, carried.units, f"units of {carried.source}")]
        makers += [lambda s, o=o: output_change(s, o) for o in carried.outputs]
        changes = cmd.in_sequence(session, makers)
        change = self.commit(cmd.combine(f"networks of {carried.source} applied", changes))
        for output in carried.outputs:
            self.outputs[output.group] = output
        return change

    # -- template matching -------------------------------------------------------------------------
    def find_missed_job(self, recording, min_score: float = 8.0):
        """Template matching (:mod:`spikeapp.workflow.recovery`) as a job on a copy of the
        sorting as it is now: the sorted units' templates find the spikes the threshold
        missed. Returns the job and the revision it started from (see :meth:`add_found`)."""
        from spikeapp.workflow.recovery import find_missed

        snapshot = snapshot_state(self._open_session())
        if not snapshot.units:
            raise NotYet("no units to take templates from: label spikes or train first")

        def job(cancel: CancelToken | None = None):
            return (yield from find_missed(snapshot, recording, min_score, cancel))

        return job, self.revision

    def add_found(self, found, revision: int) -> cmd.Change | None:
        """The spikes a template-matching job found join the detection as predictions of their
        unit, marked as found by template, in one undo step (None when none were found)."""
        from spikeapp.workflow.recovery import found_spikes_change

        session = self._open_session()
        if revision != self.revision:
            raise NotYet("the sorting changed while the templates searched: their finds are "
                         "dropped; Shift+F (or the next training) searches again")
        if self._pending_save is not None:
            raise NotYet("a save is being written; find the missed spikes again when it is "
                         "done (Shift+F)")
        if not len(found.samples):
            return None
        return self.commit(found_spikes_change(session, found))

    def undo(self) -> cmd.Change | None:
        return self._step(forward=False)

    def redo(self) -> cmd.Change | None:
        return self._step(forward=True)

    def _step(self, forward: bool) -> cmd.Change | None:
        """Undo or redo one step (None when there is none), journalled as such."""
        if self.history is None or not (self.history.can_redo if forward
                                        else self.history.can_undo):
            return None
        self._ensure_journal()
        change = self.history.redo() if forward else self.history.undo()
        self._verify(change, forward)
        if isinstance(change, cmd.DetectionChange):
            self._detection_changed()
        else:
            self._record("redo" if forward else "undo", change)
        self._edited(f"{'redone' if forward else 'undone'}: {change.description}",
                     _groups_of(self.session, change))
        return change

    def _verify(self, change: cmd.Change, forward: bool, done: bool = False) -> None:
        """After a change is applied and before it is journalled: the counters always (cheap),
        every invariant of :mod:`spikeapp.session.invariants` where ``SPIKEAPP_CHECKS=1``. A
        breach takes the change back (the state stays as it was, nothing is journalled) and
        raises: a bug must not reach the journal or a saved file."""
        found = invariants.counters_problems(self.session)
        if not found and invariants.checks_enabled():
            found = invariants.problems(self.session)
        if not found:
            return
        self.history.retract(forward, done)
        log.error("%s: refused, it would break the sorting state: %s", change.description,
                  "; ".join(found))
        raise invariants.InvariantError(
            f"internal error: '{change.description}' would leave the sorting inconsistent "
            f"({'; '.join(found[:3])}); it was not made. Please report this.")

    def _edited(self, description: str, groups: Iterable[int]) -> None:
        self.revision += 1
        for group in groups:
            self._group_revision[int(group)] = self.revision
        self._tell("edit", description)

    # The user's actions, each one undo step.
    def label(self, spikes: NDArray, unit_id: int) -> cmd.Change:
        return self.edit(lambda s: cmd.label(s, spikes, unit_id))

    def label_new_unit(self, spikes: NDArray, name: str | None = None) -> cmd.Change:
        return self.edit(lambda s: cmd.label_new_unit(s, spikes, name=name))

    def label_noise(self, spikes: NDArray, group: int) -> cmd.Change:
        session = self._open_session()
        noise = session.unit_by_name(group, "noise")
        if noise is None:
            return self.edit(lambda s: cmd.label_new_unit(s, spikes, name="noise",
                                                          quality="noise"))
        return self.label(spikes, noise.id)

    def unlabel(self, spikes: NDArray) -> cmd.Change:
        return self.edit(lambda s: cmd.unlabel(s, spikes))

    def split(self, spikes: NDArray) -> cmd.Change:
        return self.edit(lambda s: cmd.split(s, spikes))

    def merge(self, unit_ids: list[int]) -> cmd.Change:
        return self.edit(lambda s: cmd.merge(s, unit_ids))

    def delete_units(self, unit_ids: list[int]) -> cmd.Change:
        session = self._open_session()
        if not unit_ids:
            raise NotYet("no unit selected")
        changes = cmd.in_sequence(session, [lambda s, u=u: cmd.delete_unit(s, u)
                                            for u in unit_ids])
        names = ", ".join(c.description.removeprefix("delete ") for c in changes)
        return self.commit(changes[0] if len(changes) == 1 else
                           cmd.combine(f"delete {names}", changes))

    def edit_unit(self, unit_id: int, **changes: str) -> cmd.Change:
        return self.edit(lambda s: cmd.edit_unit(s, unit_id, **changes))

    def apply_seeds(self, seeds, source: int = HUMAN, description: str | None = None,
                    qualities: dict[str, str] | None = None) -> SeedReport:
        """Label the spikes a seed list points at (one undo step)."""
        change, report = seeds_change(self._open_session(), seeds, source, description,
                                      qualities)
        if change is not None:
            self.commit(change)
        return report

    def import_onto(self, sorting):
        """Lay an imported sorting onto this session's detections: one undo step."""
        from spikeapp.workflow.importing import import_onto

        return import_onto(self._open_session(), SimpleNamespace(do=self.commit), sorting)

    # -- proposed units ------------------------------------------------------------------------
    def propose_job(self, seed: int = 0):
        """Proposed units for every group, as a job (see :mod:`spikeapp.workflow.proposals`)."""
        from spikeapp.workflow.proposals import propose_job

        return propose_job(self._open_session(), seed)

    def proposed(self, found: dict) -> None:
        """Keep the proposals a job found (derived from the detection: not an edit)."""
        self.proposals = dict(found)
        self._tell("proposals", f"{sum(len(v) for v in found.values())} proposed unit(s)")

    def open_proposals(self, group: int) -> list[int]:
        """Indexes of the group's proposals still open (most of their core unassigned): the
        ones to show and accept. Accepting closes one, undoing that opens it again."""
        from spikeapp.workflow.proposals import is_open

        session = self._open_session()
        return [i for i, p in enumerate(self.proposals.get(group, [])) if is_open(session, p)]

    def _proposal_indexes(self, group: int, indexes: Iterable[int]) -> list[int]:
        proposals = self.proposals.get(group, [])
        chosen = sorted(set(int(i) for i in indexes))
        if not chosen or not all(0 <= i < len(proposals) for i in chosen):
            raise SpikeappError(f"channel {group} has no such proposed unit")
        return chosen

    def merge_proposals(self, group: int, indexes: Iterable[int]) -> int:
        """Proposals of one group as one, before accepting (not an edit of the sorting: nothing
        to undo). Returns the merged proposal's index."""
        from spikeapp.workflow.proposals import merge

        chosen = self._proposal_indexes(group, indexes)
        if len(chosen) < 2:
            raise NotYet("select two proposed units or more to merge them")
        proposals = self.proposals[group]
        joined = merge(self._open_session(), [proposals[i] for i in chosen])
        kept = [p for i, p in enumerate(proposals) if i not in chosen]
        self.proposals[group] = [joined] + kept
        self._tell("proposals", f"{len(chosen)} proposed units of channel {group} merged")
        return 0

    def split_proposal(self, group: int, spikes: NDArray[np.int64]) -> tuple[int, int]:
        """The selected ``spikes`` of the one open proposal they fall in become a proposal of
        their own. Returns the indexes of the two parts."""
        from spikeapp.workflow.proposals import split

        proposals = self.proposals.get(group, [])
        hit = [i for i in self.open_proposals(group)
               if np.isin(spikes, proposals[i].members).any()]
        if len(hit) != 1:
            raise NotYet("select spikes of one proposed unit to split it" if not hit else
                         "the selection spans several proposed units: select spikes of "
                         "one to split it")
        first, second = split(self._open_session(), proposals[hit[0]], spikes)
        proposals[hit[0]] = first
        proposals.append(second)
        self._tell("proposals", f"a proposed unit of channel {group} split in two")
        return hit[0], len(proposals) - 1

    def accept_proposals(self, group: int, indexes: Iterable[int]) -> int:
        """The chosen proposals of a group accepted, each a new unit labelled with its core, in
        one undo step; returns how many units that made."""
        chosen = self._proposal_indexes(group, indexes)
        proposals = self.proposals[group]
        return self._accept([proposals[i].core for i in chosen if i in
                             self.open_proposals(group)])

    def accept_all_proposals(self, skip: set[int] | None = None,
                             only: set[int] | None = None) -> int:
        """Every open proposal of every group (but ``skip``; of ``only`` those groups when
        given) accepted, in one undo step; returns how many units that made."""
        cores = [self.proposals[group][i].core for group in sorted(self.proposals)
                 if group not in (skip or set()) and (only is None or group in only)
                 for i in self.open_proposals(group)]
        return self._accept(cores)

    def _accept(self, cores: list[NDArray[np.int64]]) -> int:
        changes = cmd.in_sequence(self._open_session(),
                                  [lambda s, c=c: cmd.label_new_unit(s, c, source=ACCEPTED)
                                   for c in cores])
        if changes:
            self.commit(cmd.combine(f"accept {len(changes)} proposed unit(s)", changes))
        return len(changes)

    # -- training ------------------------------------------------------------------------------------
    def training_job(self, group: int) -> TrainingJob:
        """Snapshot one group's labels and waveforms now; the job may run on any thread."""
        data = snapshot_training(self._open_session(), group)
        return TrainingJob(group, self._group_revision.get(group, 0), data, dict(self.network),
                           dict(self.training), self.detection_epoch)

    def offer(self, output: TrainingOutput, job: TrainingJob) -> Offer:
        """A finished training, kept as the group's last one (the queue, candidates and the
        preview use it) and offered: nothing changes until :meth:`apply`."""
        from spikeapp.workflow.review import preview

        session = self._open_session()
        if job.epoch != self.detection_epoch:
            return Offer(output, True, invalid="spikes were added to the detection or taken "
                         "away while the network trained (template matching): its "
                         "predictions were discarded; train again")
        if _names_deleted_units(session, output):
            return Offer(output, True, invalid="units were deleted while the network trained: "
                         "its predictions were discarded; train again")
        self.outputs[output.group] = output
        stale = self._group_revision.get(output.group, 0) != job.revision
        spikes = session.spikes_of_group(output.group)
        retrain = bool((session.source[spikes] == NETWORK).any())
        return Offer(output, stale, preview(session, output) if retrain or stale else None)

    def apply(self, output: TrainingOutput, units: set[int] | None = None) -> cmd.Change:
        """Recolour the trained group's spikes (or only those predicted into ``units``) and keep
        its network with the session: one undo step. Labels are never overwritten."""
        session = self._open_session()
        if _names_deleted_units(session, output):
            raise SpikeappError("units were deleted while the network trained: its predictions "
                                "were discarded; train again")
        if not _fits_detection(session, output):
            raise SpikeappError("spikes were added to the detection or taken away since the "
                                "network predicted (template matching, or its undo): train "
                                "again")
        change = self.edit(lambda s: output_change(s, output, units))
        self.outputs[output.group] = output
        return change

    def set_min_confidence(self, value: float) -> tuple[int, int]:
        """A new minimum confidence, acting at once on every group whose applied network's
        probabilities are at hand: spikes below it become unresolved, those above it get back
        their most probable unit (one undo step). Returns the spikes moved and the spikes
        unresolved in those groups."""
        self.set_params("training", min_confidence=float(value))
        session = self._open_session()
        changes, unresolved = [], 0
        for group, output in sorted(self.outputs.items()):
            if output.probabilities is None or session.networks.get(group) != output.network:
                continue
            best = output.unit_ids[output.probabilities.argmax(axis=1)]
            sure = output.probabilities.max(axis=1) >= value
            target = np.where(sure, best, UNRESOLVED)
            change = cmd.reassign_predicted(session, output.spikes, target,
                                            f"min confidence {value:.2f} on channel {group}")
            predicted = session.source[output.spikes] == NETWORK
            unresolved += int((predicted & ~sure).sum())
            if len(change.spikes):
                changes.append(change)   # groups apart: the changes do not build on each other
        moved = sum(len(c.spikes) for c in changes)
        if changes:
            self.commit(changes[0] if len(changes) == 1 else cmd.combine(
                f"min confidence {value:.2f}: {moved} spikes moved", changes))
        return moved, unresolved

    def restore_job(self) -> Callable[[CancelToken | None], Job[list[TrainingOutput]]]:
        """The networks kept with the session, run again on its spikes (no training), so that
        after reopening the queue, the preview and candidate units work at once."""
        session = self._open_session()
        inputs = []
        for group, blob in sorted(session.networks.items()):
            try:
                inputs.append((blob, snapshot_training(session, group)))
            except SpikeappError:
                continue   # its labels were removed since: the network no longer applies
        min_confidence = self.training["min_confidence"]

        def job(cancel: CancelToken | None = None) -> Job[list[TrainingOutput]]:
            outputs = []
            for k, (blob, data) in enumerate(inputs):
                yield Progress(k, len(inputs), f"channel {data.group}: its kept network",
                               "restore")
                try:
                    outputs.append((yield from predict_with(blob, data, min_confidence,
                                                            cancel)))
                except SpikeappError as problem:
                    log.warning("%s", problem)
            return outputs

        return job

    def restored(self, outputs: list[TrainingOutput], revision: int) -> int:
        """Keep restored outputs of groups not trained or edited since ``revision``."""
        kept = 0
        if revision < self._detection_revision:
            return 0   # run on the spikes of another detection (found spikes added or undone)
        for output in outputs:
            if output.group not in self.outputs and \
                    self._group_revision.get(output.group, 0) <= revision:
                self.outputs[output.group] = output
                kept += 1
        return kept

    # -- saving ----------------------------------------------------------------------------------------
    def _stamp(self, session: Session) -> None:
        session.training_params = {"network": dict(self.network), "training": dict(self.training)}

    def save(self, path: str | Path | None = None) -> SaveResult:
        """Save now, on this thread (the command line's way)."""
        result = run_job(self.save_job(path))
        self.saved(result)
        return result

    def save_job(self, path: str | Path | None = None) -> Job[SaveResult]:
        """A save as a job: the state is copied now (a few ms per 100,000 spikes), the file is
        written wherever the job runs; call :meth:`saved` with its result."""
        target = Path(path) if path is not None else self.path
        if target is None:
            raise NotYet("choose where to save the session first")
        snapshot = snapshot_state(self._open_session())
        self._stamp(snapshot)
        revision = self.revision
        self._pending_save = []

        def job() -> Job[SaveResult]:
            started = time.perf_counter()
            yield Progress(0, 1, f"saving {target}", "save")
            found = invariants.problems(snapshot)
            if found:
                log.error("%s: the state to save breaks invariants: %s", target, "; ".join(found))
                if invariants.checks_enabled():
                    raise invariants.InvariantError(
                        f"{target}: not saved, the sorting state is inconsistent "
                        f"({'; '.join(found[:3])}); the unsaved edits are kept in the journal")
            # Read back before it replaces the previous file, and before the journal (removed
            # by saved()) is the only other copy to go.
            save_session(snapshot, target, verify=True)
            return SaveResult(target, revision, time.perf_counter() - started)

        return job()

    def export_job(self, fmt: str, path: str | Path, subject: dict | None = None,
                   waveforms: bool = False) -> Job[str]:
        """An export (:func:`spikeapp.export.export`) as a job: the sorting is copied now, the
        files are written wherever the job runs, and edits made meanwhile are not in them.
        Returns the export's one-line summary."""
        from spikeapp.export import check_export, export

        check_export(self._open_session(), fmt, path)
        snapshot = snapshot_state(self._open_session())

        def job() -> Job[str]:
            yield Progress(0, 1, f"exporting {fmt.upper()} to {path}", "export")
            return export(snapshot, fmt, path, waveforms=waveforms, subject=subject)

        return job()

    def saved(self, result: SaveResult) -> None:
        """A save finished: the file is the new base of the journal; edits made while it was
        written go into the new journal."""
        pending, self._pending_save = self._pending_save or [], None
        if self.session is None:
            return
        self.path = result.path
        self.name = str(result.path)
        self.saved_revision = result.revision
        if self._journal is not None:
            self._journal.close(remove=True)
            self._journal = None
        if self._dead_journal is not None:   # the save holds everything it held
            journal_.remove_journal(self._dead_journal.folder)
            self._dead_journal = None
        self.journal_enabled = self._journal_wanted
        if pending:
            self._ensure_journal()
        for op, change, data in pending:
            self._record(op, change, data)
        self._tell("saved", str(result.path))

    def save_failed(self) -> None:
        """A save job failed or was cancelled: the journal goes on as before."""
        self._pending_save = None

    def write_session(self, path: str | Path) -> None:
        """Write the session to ``path`` without making it the session's file (an export)."""
        snapshot = snapshot_state(self._open_session())
        self._stamp(snapshot)
        save_session(snapshot, path)

    # -- the journal ------------------------------------------------------------------------------------
    def _ensure_journal(self) -> None:
        """Start the journal at the first edit after opening or saving, before the edit
        touches the session (its base is the state without it)."""
        if not self.journal_enabled or self.session is None or self._journal is not None:
            return
        try:
            self._journal = Journal.start(self.data_dir, self.session, self.path, self.name)
        except (OSError, SpikeappError) as problem:
            self.journal_enabled = False
            self._tell("problem", f"edits cannot be journalled ({problem}); save often")

    def _record(self, op: str, change: cmd.Change | None = None, data: dict | None = None
                ) -> None:
        if self._pending_save is not None:
            self._pending_save.append((op, change, data))
        if self._journal is None:
            return
        self._journal.append(op, change, data)
        if self._journal.wants_checkpoint():
            self._journal.checkpoint(self.session)
        self._check_journal()

    def _check_journal(self) -> None:
        """A journal its writer could not write (a full disk): said once, and stopped."""
        if self._journal is not None and self._journal.error:
            # Said once; the journal stops (what it holds is still a whole prefix of the edits,
            # recoverable after a crash) and the edits stay in memory. A save that succeeds
            # (space is back, or another disk) removes it and journals again from there.
            dead, self._journal = self._journal, None
            self.journal_enabled = False
            self._dead_journal = dead
            dead.close(remove=False)
            self._tell("problem", f"{dead.error}. Your edits are kept in memory: save the "
                       "session (where there is space) to keep them; the journal starts again "
                       "after the save")

    def flush(self) -> None:
        """Wait until every edit is on disk (tests, and before the window closes)."""
        if self._journal is not None:
            self._journal.flush()
            self._check_journal()

    @property
    def journal_folder(self) -> Path | None:
        return self._journal.folder if self._journal is not None else None


def _names_deleted_units(session: Session, output: TrainingOutput) -> bool:
    """Whether the output can name units deleted since its training began (its classes, or
    the units it assigned when it does not say)."""
    named = output.unit_ids if output.unit_ids is not None else distinct_ids(output.assigned)
    return bool(set(np.asarray(named).tolist()) - set(session.units) - {UNASSIGNED, UNRESOLVED})


def _fits_detection(session: Session, output: TrainingOutput) -> bool:
    """Whether the output's spikes are its group's spikes now (not those of a detection that
    grew or shrank since: the same indexes would name other spikes)."""
    spikes = session.spikes_of_group(output.group)
    if len(spikes) != len(output.spikes):
        return False
    if len(spikes) == 0:
        return True
    if isinstance(output.where, slice):   # one run: its ends tell
        return int(spikes[0]) == output.where.start and int(spikes[-1]) == output.where.stop - 1
    return bool(np.array_equal(spikes, output.spikes))


def _groups_of(session: Session, change: cmd.Change) -> set[int]:
    """The channel groups a change touches (staleness of trainings is tracked per group)."""
    if isinstance(change, cmd.DetectionChange):
        return set(distinct_ids(change.detection_after.channels[change.added]).tolist())
    parts = getattr(change, "changes", None)
    if parts is not None:
        return set().union(*(_groups_of(session, part) for part in parts)) if parts else set()
    if len(session.groups) == 1:
        groups = {int(session.groups[0])} if len(change.spikes) else set()
    else:
        groups = set(distinct_ids(session.detection.channels[change.where]).tolist())
    for side in (change.units_before, change.units_after):
        groups |= {u.group for u in side.values() if u is not None}
    return groups | set(change.networks_after)
