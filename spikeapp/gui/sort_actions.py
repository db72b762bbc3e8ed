"""The Sort menu's work, composed into the main window: training one channel or every channel
(in worker processes), applying or previewing what a training offers, proposed units, template
matching, the networks kept with a session, assessing the labels, candidate new units and the
label-next queue. Each long step runs on a job runner; its result comes back here."""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import QTimer

from spikeapp.errors import NotYet, SpikeappError
from spikeapp.gui.dialogs import AssessmentDialog
from spikeapp.gui.workers import after_loading


class SortActions:
    """The Sort menu: the window's runners, panels and status line are reached through
    ``window``; the session only through the controller's Workspace."""

    def __init__(self, window) -> None:
        self.window = window
        self.controller = window.controller
        self.workspace = window.controller.workspace
        self._train_queue: list[int] = []    # groups to train one after another
        self._run: list[tuple[int, bool]] = []   # of this run of them: (group, applied)
        self._training_job = None
        self._group_jobs: dict = {}          # Shift+T's jobs, by group
        self._proposing = None               # (session, detection epoch) being clustered
        self._match_revision = None
        self._restore_revision = None
        self._queue_output = None
        self._assessment = None              # the dialog shown (kept alive)
        self._candidate = -1                 # the candidate new unit shown last
        self._proposal_status = ""           # the status line about proposals, as last set
        self._status_when_proposing = ""
        self.controller.group_changed.connect(self._proposals_on_this_channel)

    @property
    def trainings_waiting(self) -> bool:
        """Groups wait to be trained one after another."""
        return bool(self._train_queue)

    def drop_waiting_trainings(self) -> None:
        """A job failed or was cancelled, or the window closes: the waiting groups are not
        trained."""
        self._train_queue.clear()

    def train(self) -> None:
        self._train_queue, self._run = [self.controller.group], []
        self._train_next()

    def train_all(self) -> None:
        """Every group with labels: side by side in worker processes when the cores allow
        (one kept for the window), else one after another."""
        from spikeapp.workflow.parallel import plan_workers
        from spikeapp.workflow.sorting import trainable_groups

        groups = trainable_groups(self.controller.session)
        if not groups:
            raise NotYet("label spikes of two units or more on a channel first")
        plan = plan_workers(len(groups), self.window.train_workers,
                            self.workspace.training["threads"], reserve=1)
        if not plan.parallel:
            self._train_queue, self._run = groups, []
            self._train_next()
            return
        if self.window.trainer.running or self._train_queue:
            return
        from spikeapp.workflow.parallel import train_groups

        jobs = [self.controller.training_job(group) for group in groups]
        self._stop_matching()
        for job in jobs:
            self._note_few_labels(job.data)
        self._group_jobs = {job.group: job for job in jobs}
        self.window.training.started()
        self.window.training.status.setText(f"training channels {', '.join(map(str, groups))} in "
                                            f"{plan.workers} processes...")
        self.window.bottom_tabs.setCurrentWidget(self.window.training)
        self.window.trainer.start(lambda cancel: train_groups(jobs, plan, cancel))

    def _trained_groups(self, result) -> None:
        """Groups trained side by side: each offered and applied in turn (a retrain's preview
        asks first), each failure shown with its group's name."""
        jobs, self._group_jobs = self._group_jobs, {}
        applied = []
        for output in result.outputs:
            if self.review_output(self.workspace.offer(output, jobs[output.group])):
                applied.append(output)
            if output.trained.choice.get("why"):
                self.window.log.appendPlainText(
                    f"channel {output.group}: {output.trained.choice['why']}")
            if output.candidates:
                self.window.log.appendPlainText(
                    f"channel {output.group}: {len(output.candidates)} candidate new unit(s) "
                    "unlike every labelled unit; press U to see them")
        for failure in result.failures:
            self.window.show_error(failure.message, failure.details)
        if result.outputs:
            self.window.training.show_calibration(result.outputs[0].trained.calibration)
        names = ", ".join(str(o.group) for o in applied) or "none"
        failed = "".join(f"; channel {f.group} failed" for f in result.failures)
        self.window.training.stopped(f"{len(result.outputs)} channel(s) trained in "
                                     f"{result.plan.workers} processes; predictions applied to "
                                     f"channel(s) {names} (Ctrl+Z reverts each){failed}",
                                     complete=not result.failures)
        current = [o for o in applied if o.group == self.controller.group]
        if current and self.window.queue.output is not None:
            self._fill_queue(current[0])
        if applied:
            self.match_after_training()

    def _train_next(self) -> None:
        if not self._train_queue or self.window.trainer.running:
            return
        group = self._train_queue[0]
        try:
            job = self.controller.training_job(group)
        except SpikeappError as problem:
            self._train_queue.clear()
            self.window.show_problem(problem)
            return
        self._stop_matching()
        self._note_few_labels(job.data)
        self._training_job = job
        self.window.training.started()
        self.window.bottom_tabs.setCurrentWidget(self.window.training)
        self.window.trainer.start(job.run)

    def trained(self, output) -> None:
        from spikeapp.workflow.parallel import GroupTrainings

        if isinstance(output, GroupTrainings):
            self._trained_groups(output)
            return
        self._train_queue = self._train_queue[1:]
        offer = self.workspace.offer(output, self._training_job)
        self.window.training.show_calibration(output.trained.calibration)
        why = output.trained.choice.get("why", "")
        summary = (f"channel {output.group}: trained in {output.trained.train_seconds:.1f} s, "
                   f"{len(output.trained.history)} epochs" + (f"; {why}" if why else ""))
        applied = self.review_output(offer)
        outcome = ("; predictions applied (Ctrl+Z reverts them)" if applied
                   else "; predictions discarded")
        self.window.training.stopped(summary + outcome, complete=True)
        self.window.status_text.setText(summary + outcome)
        self.window.log.appendPlainText(summary + outcome)
        self._run.append((output.group, applied))
        if not self._train_queue and len(self._run) > 1:   # the last of several: all of them
            done = [str(group) for group, yes in self._run if yes]
            whole = (f"{len(self._run)} channels trained one after another; predictions "
                     f"applied to channel(s) {', '.join(done) or 'none'} (Ctrl+Z reverts each)")
            self.window.training.stopped(whole, complete=True)
            self.window.status_text.setText(whole)
        if not self._train_queue and any(yes for _, yes in self._run):
            self.match_after_training()
        here = output.group == self.controller.group
        if applied and self.window.queue.output is not None and here:
            self._fill_queue(output)  # a new queue from the new network
        if output.candidates:
            sizes = ", ".join(str(len(c)) for c in output.candidates)
            note = (f"channel {output.group}: {len(output.candidates)} candidate new unit(s) "
                    f"({sizes} spikes) unlike every labelled unit; press U to see them")
            self.window.log.appendPlainText(note)
            self.window.status_text.setText(note)
        self._train_next()

    def review_output(self, offer) -> bool:
        """Apply a training offer; when it would move spikes the network had already assigned
        (a retrain), or when the labels changed while it trained, show what would change first.
        Returns whether it was applied."""
        if offer.invalid:
            self.window.show_error(offer.invalid)
            return False
        if not offer.needs_review:
            self.controller.apply_training(offer.output)
            return True
        choice = self.window.ask_preview(offer.preview, offer.stale)
        if choice is None:
            self.window.status_text.setText("the new predictions were discarded")
            return False
        self.controller.apply_training(offer.output, None if choice == "all" else set(choice))
        return True

    def propose_units(self) -> None:
        """Cluster every channel in the background: a starting point before any label."""
        if self.workspace.session is None:
            return
        self.window.proposer.cancel()
        self.window.proposer.wait()
        self._proposing = (self.workspace.session, self.workspace.detection_epoch)
        self._status_when_proposing = self.window.status_text.text()
        self.window.proposer.start(self.workspace.propose_job())

    def proposals_ready(self, found) -> None:
        session, epoch = self._proposing or (None, -1)
        if session is not self.workspace.session or epoch != self.workspace.detection_epoch:
            return   # another session was opened meanwhile, or its detection grew
        # The status line says it only if nothing newer was said meanwhile (a training's
        # result, template matching's finds): the log keeps it either way.
        shown = self.window.status_text.text()
        self.workspace.proposed(found)
        self._proposal_status = self._proposals_text()
        self.window.status_text.setText(self._proposal_status
                                        if shown == self._status_when_proposing else shown)
        self.window.log.appendPlainText(self._proposal_status)

    def _proposals_text(self) -> str:
        """What the proposals are, here and on the other channels."""
        found = self.workspace.proposals
        # Only those still open: a session sorted already (its units accepted from these, or
        # labelled) has none left to accept.
        open_ = {group: len(self.workspace.open_proposals(group)) for group in found}
        here = open_.get(self.controller.group, 0)
        total = sum(open_.values())
        channels = sum(1 for count in open_.values() if count)
        if not total:
            return ("every proposed unit is sorted already (its typical spikes have units): T "
                    "trains again, L asks about the doubtful spikes" if any(found.values()) else
                    "no units proposed (the clustering found no separate clusters): label "
                    "spikes with the keys 1-9, then T trains")
        return (f"{total} proposed unit(s) on {channels} channel(s), {here} on this one: P "
                "makes them units (their most typical spikes become labels), then T trains")

    def _proposals_on_this_channel(self) -> None:
        """Another channel shown: the proposals' status line, if it is still the one shown,
        counts this channel's (it kept the first channel's '0 on this one' next to the rows of
        two proposals)."""
        if self._proposal_status and self.window.status_text.text() == self._proposal_status \
                and self.workspace.session is not None:
            self._proposal_status = self._proposals_text()
            self.window.status_text.setText(self._proposal_status)

    def accept_proposals(self) -> None:
        group = self.controller.group
        open_ = self.workspace.open_proposals(group) if self.workspace.proposals.get(
            group) else []
        if not open_:
            raise NotYet("no proposed units on this channel (they are found after "
                         "detection; the clustering may still be running)")
        chosen = [i for i in self.controller.selected_proposals if i in open_]
        made = (self.workspace.accept_proposals(group, chosen) if chosen
                else self.workspace.accept_all_proposals(only={group}))
        self.window.status_text.setText(f"{made} proposed unit(s) accepted on channel {group}; T "
                                        "trains the network on them, Ctrl+Z takes them back")

    def _note_few_labels(self, data) -> None:
        from spikeapp.workflow.sorting import few_labels_note

        session = self.workspace.session
        note = few_labels_note(data, {u.id: u.name for u in session.units.values()})
        if note:
            self.window.show_note(note)

    def _stop_matching(self) -> None:
        """A training starts: template matching still searching gives way. Its finds would
        change the detection under the training, whose predictions would then be refused;
        it runs again once the training is applied."""
        if self.window.matcher.running:
            self.window.matcher.cancel()   # never waited for here: the window keeps answering
            self.window.log.appendPlainText("template matching stopped for the training; it "
                                            "searches again once the training is applied")

    def match_after_training(self) -> None:
        """Template matching once a training's predictions are applied (the default; the
        training setting match_templates turns it off): the window sorts as spikeapp sort
        does. Where it cannot run now, the log says why and Shift+F runs it later."""
        if not self.workspace.training.get("match_templates", True):
            return
        if self.window.recording is None:
            self.window.log.appendPlainText(
                "template matching skipped: it reads the recording, which is not attached")
            return
        try:
            self.find_missed()
        except SpikeappError as problem:
            self.window.log.appendPlainText(f"template matching not run: {problem}")

    def find_missed(self) -> None:
        """Template matching in the background: the sorted units' templates search the
        recording for their spikes under the threshold and inside overlaps."""
        if self.window.recording is None:
            raise SpikeappError("template matching reads the recording: open it, or locate it "
                                "(File > Locate recording)")
        if self.window.matcher.running or self.window.trainer.running or self.window.saver.running:
            raise NotYet("wait for the running job (training, saving or matching) to finish")
        job, revision = self.workspace.find_missed_job(self.window.recording)
        self._match_revision = revision
        self.window.status_text.setText("template matching: the units' templates search the "
                                        "recording...")
        self.window.matcher.start(job)

    def found_missed(self, found) -> None:
        if self.window.trainer.running or self._train_queue:
            # Finished before it saw the cancel: its finds would change the detection under
            # the training. The search after the training finds them again.
            self.window.log.appendPlainText("template matching's finds dropped: a training is "
                                            "running; it searches again after it")
            return
        change = self.workspace.add_found(found, self._match_revision)
        if change is None:
            nothing = "template matching found no spikes the threshold missed"
            self.window.status_text.setText(nothing)
            self.window.log.appendPlainText(nothing)
            return
        session = self.workspace.session
        counts: dict[str, int] = {}
        for unit in session.assignment[change.added]:
            name = session.units[int(unit)].name if int(unit) in session.units else "?"
            counts[name] = counts.get(name, 0) + 1
        text = ", ".join(f"{name} {count}" for name, count in sorted(counts.items()))
        message = (f"{len(change.added)} spike(s) found by template matching ({text}): "
                   "predictions marked 'found by template'; Ctrl+Z takes them back")
        self.window.status_text.setText(message)
        self.window.log.appendPlainText(message)

    def restore_networks(self) -> None:
        """Run the networks kept with the session again on its spikes (no training), so that
        the queue, the preview and candidate units work at once. Started on the event loop's
        next turn: told of found spikes in the middle of their edit, a restore started at once
        took the revision before it and had its outputs refused (after every training, now
        that template matching follows it, L then asked to train first)."""
        QTimer.singleShot(0, lambda: self._restore_now(quiet=False))

    def outputs_again(self) -> None:
        """Spikes were found or taken away: the kept networks run again on the detection as
        it is now (the outputs were of the old one), quietly: the status line and the training
        panel keep what the training and the matching said."""
        QTimer.singleShot(0, lambda: self._restore_now(quiet=True))

    def _restore_now(self, quiet: bool) -> None:
        if self.workspace.session is None or not self.workspace.session.networks:
            return
        self._restore_quiet = quiet
        # One still running was started on an older state (before found spikes were undone,
        # another session opened): its outputs would be refused, so it gives way.
        self.window.restorer.cancel()
        self.window.restorer.wait()
        job, revision = self.workspace.restore_job(), self.workspace.revision
        self._restore_revision = revision
        if not quiet:
            self.window.status_text.setText("running the networks kept with the session...")
        self.window.restorer.start(job)

    _restore_quiet = False

    def restored(self, outputs) -> None:
        kept = self.workspace.restored(outputs, self._restore_revision)
        if kept and self._restore_quiet:
            self.window.log.appendPlainText(f"the networks of {kept} channel(s) ran again on "
                                            "the spikes as they are now")
        elif kept:
            text = (f"the kept networks of {kept} channel(s) are ready: the queue (L) and "
                    "candidate units (U) work without training")
            self.window.status_text.setText(text)
            # The panel too (it asked for labels as if nothing were sorted yet)
            self.window.training.stopped(text + "; T trains again")

    def assess_labels(self) -> None:
        """Cross-validate the current channel's hand labels in the background."""
        after_loading()   # torch: never loaded on two threads at once
        from spikeapp.training.assess import assess_labels
        from spikeapp.workflow.sorting import snapshot_training

        if self.controller.session is None:
            raise NotYet("open a recording first")
        if self.window.assessor.running:
            raise NotYet("the labels are being assessed already")
        data = snapshot_training(self.controller.session, self.controller.group)
        network, training = dict(self.controller.network), dict(self.controller.training)
        self.window.status_text.setText("assessing the labels (cross-validation)...")
        self.window.assessor.start(lambda token: assess_labels(
            data.labelled, data.classes, [int(u) for u in data.unit_ids], network=network,
            training=training, cancel=token))

    def assessed(self, assessment) -> None:
        self._assessment = AssessmentDialog(self.controller.session, assessment, self.window)
        self._assessment.show()
        self.window.log.appendPlainText("labels assessed: " + assessment.verdict)
        self.window.status_text.setText(assessment.verdict)

    def next_candidate(self) -> None:
        """Select the spikes of the next candidate new unit of this channel (cycling)."""
        output = self.controller.outputs.get(self.controller.group)
        candidates = output.candidates if output is not None else []
        if not candidates:
            raise NotYet("no candidate new unit on this channel (they are looked for "
                         "after each training)")
        self._candidate = (self._candidate + 1) % len(candidates)
        self.controller.select(candidates[self._candidate])
        self.window.status_text.setText(
            f"candidate {self._candidate + 1} of {len(candidates)}: "
            f"{len(candidates[self._candidate])} spikes selected; N makes them a unit")

    def start_queue(self) -> None:
        output = self.controller.outputs.get(self.controller.group)
        if output is None or self.controller.session is None:
            raise NotYet("train this channel first (T): the queue comes from the network's "
                         "predictions")
        self.window.bottom_tabs.setCurrentWidget(self.window.queue)
        # The panel shows first, the question on the next turn of the event loop: done in one
        # turn, the panel's and the views' repaint and the question's search froze the window
        # 85-115 ms (a million spikes).
        QTimer.singleShot(0, lambda: self._ask_first(output))

    def _ask_first(self, output) -> None:
        """The least sure spike at once; the clustered queue follows from the worker."""
        session = self.controller.session
        if session is None or self.controller.outputs.get(output.group) is not output:
            return   # another recording, or a new training, came meanwhile
        if self.window.queue.current is None or self.window.queue.output is not output:
            from spikeapp.workflow.review import first_question

            first = first_question(session, output)
            if first is not None:
                self.window.queue.fill(output, np.array([first]), 0)
        self._fill_queue(output)

    def _fill_queue(self, output) -> None:
        """The clustering behind the queue runs on a worker; the window stays responsive."""
        if self.window.queuer.running:
            return
        self._queue_output = output
        self.window.status_text.setText("choosing the spikes to ask about...")
        self.window.queuer.start(self.window.queue.job(output))

    def queue_ready(self, ranked) -> None:
        spikes, uncovered = ranked
        output = self._queue_output
        if self.controller.outputs.get(output.group) is not output:
            return   # another training or session since: its queue is no longer wanted
        # The ranked queue replaces the first question asked while it was chosen (a typical
        # spike of a cluster no label covers is worth more than the least sure spike).
        if self.window.queue.fill(output, spikes, uncovered):
            self.window.status_text.setText("label next: press the unit's key, S skips")
        else:
            self.window.status_text.setText("no unlabelled spikes left to ask about")

    def training_cancelled(self) -> None:
        self._train_queue.clear()
        self.window.training.stopped("training cancelled; the session is unchanged")
