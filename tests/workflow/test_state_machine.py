"""Every user command of the Workspace, in random order, across several channel groups (two
single channels and a tetrode), as a stateful property test (hypothesis's RuleBasedStateMachine).

After every step: the state's invariants hold (spikeapp.session.invariants), unit ids are never
given twice, and the journal on disk replays to the state in memory. Steps that check more:
undo then redo gives the same state; a save reads back as the same state, and reopening it too;
a crash (the process killed) recovers the same state from the journal.

CI runs STATEFUL_EXAMPLES x STATEFUL_STEPS steps (50 x 40 = 2,000 by default); the long run is
``python benchmarks/state_machine.py`` (the same machine, more steps).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from spikeapp.detection import DetectionResult
from spikeapp.detection.peeler import Found
from spikeapp.errors import SpikeappError
from spikeapp.io.sortings import Electrode, ImportedSorting
from spikeapp.session import Session
from spikeapp.session.invariants import InvariantError, problems, states_equal
from spikeapp.session.state import UNASSIGNED, UNRESOLVED
from spikeapp.session.storage import load_session
from spikeapp.workflow import journal
from spikeapp.workflow.proposals import Proposal
from spikeapp.workflow.sorting import TrainingOutput
from spikeapp.workflow.workspace import Workspace

EXAMPLES = int(os.environ.get("STATEFUL_EXAMPLES", "50"))
STEPS = int(os.environ.get("STATEFUL_STEPS", "40"))
WIDTH, CHANNELS = 16, 4
GROUPS = (0, 1, 2)   # 0 and 1: single channels 0 and 1; 2: a tetrode of channels 2-5
PER_GROUP = 40


def machine_detection(seed: int = 0) -> DetectionResult:
    rng = np.random.default_rng(seed)
    n = PER_GROUP * len(GROUPS)
    channels = np.tile(np.array(GROUPS), PER_GROUP)
    samples = np.arange(n, dtype=np.int64) * 200 + 100
    waveforms = rng.normal(0, 5, (n, CHANNELS, WIDTH)).astype(np.float32)
    waveforms[channels != 2, 1:] = 0   # single channels: one row, the rest padding
    waveforms[:, 0, 5] -= rng.choice([40, 80], n)
    return DetectionResult(
        samples=samples, times_s=samples / 20_000.0, channels=channels,
        peak_channels=np.where(channels == 2, 2, channels),
        amplitudes=waveforms[:, 0, 5].copy(), waveforms=waveforms,
        features=waveforms[:, 0, ::4].copy(), noise_uv=np.ones(6),
        channel_ids=np.arange(6), group_ids=np.array(GROUPS),
        group_channels=np.array([[0, -1, -1, -1], [1, -1, -1, -1], [2, 3, 4, 5]]),
        sampling_rate=20_000.0, t_start=0.0, n_samples=n * 200 + 400,
        params={"pre_samples": 5, "post_samples": 11, "freq_min": 300.0, "freq_max": 3000.0,
                "filter_order": 3, "threshold": 5.0})


_BLOB: list[bytes] = []


def network_blob() -> bytes:
    """A real (untrained) network checkpoint of the machine's waveform shape: what a training
    keeps with the session, loaded again by template matching."""
    if not _BLOB:
        from spikeapp.nets import build_network
        from spikeapp.params import defaults
        from spikeapp.training.checkpoint import checkpoint_bytes
        from spikeapp.training.trainer import TrainedClassifier

        network = defaults("network")
        model = build_network("cnn", CHANNELS, WIDTH, 2, network)
        _BLOB.append(checkpoint_bytes(TrainedClassifier(
            model, "cnn", ["0", "1"], np.ones(CHANNELS, np.float32),
            (CHANNELS, WIDTH), network, defaults("training"))))
    return _BLOB[0]


def user_error(action) -> bool:
    """Run a user action; a refusal the user would see (a SpikeappError) is a valid outcome,
    an InvariantError (the Workspace refusing a command that breaks the state) is a bug."""
    try:
        action()
    except InvariantError:
        raise
    except SpikeappError:
        return False
    return True


class WorkspaceMachine(RuleBasedStateMachine):
    @initialize()
    def start(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="spikeapp-machine-"))
        self.data_dir = self.folder / "data"
        self.path = self.folder / "session.spikeapp"
        self.ws = Workspace(self.data_dir)
        self.ws.set_session(Session(machine_detection(), recording={"path": "<machine>"}))
        self.ever: set[int] = set()
        self.outputs: list[tuple[TrainingOutput, object]] = []

    def teardown(self) -> None:
        ws = getattr(self, "ws", None)
        if ws is not None:
            ws.close(discard=True)
        shutil.rmtree(getattr(self, "folder", ""), ignore_errors=True)

    # -- drawing what a user picks ------------------------------------------------------------
    @property
    def session(self) -> Session:
        return self.ws.session

    def spikes(self, data, group: int | None = None, of_units: bool = False) -> np.ndarray:
        if group is None:
            group = data.draw(st.sampled_from(GROUPS))
        pool = self.session.spikes_of_group(group)
        if of_units:
            pool = pool[self.session.assignment[pool] != UNASSIGNED]
        if len(pool) == 0:
            return np.zeros(0, np.int64)
        rows = data.draw(st.lists(st.integers(0, len(pool) - 1), min_size=1, max_size=10))
        return pool[np.unique(rows)]

    def unit(self, data, group: int | None = None) -> int | None:
        units = sorted(u.id for u in self.session.units.values()
                       if group is None or u.group == group)
        return data.draw(st.sampled_from(units)) if units else None

    # -- the user's commands ---------------------------------------------------------------------
    @rule(data=st.data())
    def label(self, data) -> None:
        spikes = self.spikes(data)
        group = int(self.session.detection.channels[spikes[0]])
        unit = self.unit(data, group)
        if unit is not None:
            user_error(lambda: self.ws.label(spikes, unit))

    @rule(data=st.data())
    def label_new_unit(self, data) -> None:
        spikes = self.spikes(data)
        user_error(lambda: self.ws.label_new_unit(spikes))

    @rule(data=st.data())
    def split(self, data) -> None:
        spikes = self.spikes(data, of_units=data.draw(st.booleans()))
        if len(spikes):
            user_error(lambda: self.ws.split(spikes))

    @rule(data=st.data())
    def merge(self, data) -> None:
        group = data.draw(st.sampled_from(GROUPS))
        units = sorted(u.id for u in self.session.units_of_group(group))
        if len(units) >= 2:
            chosen = data.draw(st.lists(st.sampled_from(units), min_size=2, max_size=3,
                                        unique=True))
            user_error(lambda: self.ws.merge(chosen))

    @rule(data=st.data())
    def delete(self, data) -> None:
        units = sorted(self.session.units)
        if units:
            chosen = data.draw(st.lists(st.sampled_from(units), min_size=1, max_size=2,
                                        unique=True))
            user_error(lambda: self.ws.delete_units(chosen))

    @rule(data=st.data())
    def unlabel(self, data) -> None:
        spikes = self.spikes(data)
        user_error(lambda: self.ws.unlabel(spikes))

    @rule(data=st.data())
    def noise(self, data) -> None:
        group = data.draw(st.sampled_from(GROUPS))
        spikes = self.spikes(data, group)
        user_error(lambda: self.ws.label_noise(spikes, group))

    @rule(data=st.data())
    def edit_unit(self, data) -> None:
        unit = self.unit(data)
        if unit is None:
            return
        field = data.draw(st.sampled_from(["name", "quality", "notes", "colour"]))
        value = data.draw({"name": st.sampled_from(["a", "b", "unit 1", "noise", " "]),
                           "quality": st.sampled_from(["good", "mua", "noise", "unsorted"]),
                           "notes": st.text(max_size=5), "colour": st.just("#123456")}[field])
        user_error(lambda: self.ws.edit_unit(unit, **{field: value}))

    # -- proposals ------------------------------------------------------------------------------
    @rule(data=st.data())
    def propose(self, data) -> None:
        found = {}
        for group in GROUPS:
            spikes = self.session.spikes_of_group(group)
            k = data.draw(st.integers(0, 3))
            parts = np.array_split(data.draw(st.permutations(list(spikes))), max(k, 1))[:k]
            found[group] = [Proposal(group, np.sort(np.asarray(p, np.int64)),
                                     np.sort(np.asarray(p, np.int64))[::2])
                            for p in parts if len(p)]
        self.ws.proposed(found)

    @rule(data=st.data())
    def accept_proposals(self, data) -> None:
        group = data.draw(st.sampled_from(GROUPS))
        open_ = self.ws.open_proposals(group)
        if open_:
            chosen = data.draw(st.lists(st.sampled_from(open_), min_size=1, unique=True))
            user_error(lambda: self.ws.accept_proposals(group, chosen))

    @rule()
    def accept_all_proposals(self) -> None:
        user_error(lambda: self.ws.accept_all_proposals())

    @rule(data=st.data())
    def merge_proposals(self, data) -> None:
        group = data.draw(st.sampled_from(GROUPS))
        indexes = list(range(len(self.ws.proposals.get(group, []))))
        if len(indexes) >= 2:
            chosen = data.draw(st.lists(st.sampled_from(indexes), min_size=2, unique=True))
            user_error(lambda: self.ws.merge_proposals(group, chosen))

    # -- trainings (a stand-in network: random predictions of the group's units) ---------------
    @rule(data=st.data(), apply_now=st.booleans())
    def train(self, data, apply_now: bool) -> None:
        group = data.draw(st.sampled_from(GROUPS))
        try:
            job = self.ws.training_job(group)
        except SpikeappError:
            return
        spikes = job.data.spikes
        classes = job.data.unit_ids
        seed = data.draw(st.integers(0, 2**16))
        rng = np.random.default_rng(seed)
        probabilities = rng.dirichlet(np.ones(len(classes)), len(spikes)).astype(np.float32)
        best = probabilities.argmax(axis=1)
        confidence = probabilities.max(axis=1)
        assigned = np.where(confidence >= 0.4, classes[best], UNRESOLVED)
        output = TrainingOutput(group, None, network_blob(), spikes, assigned, confidence,
                                probabilities, classes)
        if apply_now:
            self._apply(output, job)
        else:
            self.outputs.append((output, job))   # finished while the user went on editing

    @precondition(lambda self: bool(self.outputs))
    @rule(data=st.data())
    def apply_late_training(self, data) -> None:
        output, job = self.outputs.pop(data.draw(st.integers(0, len(self.outputs) - 1)))
        self._apply(output, job)

    def _apply(self, output, job) -> None:
        offer = self.ws.offer(output, job)
        if not offer.invalid:
            user_error(lambda: self.ws.apply(output))

    @rule(value=st.sampled_from([0.0, 0.5, 0.7]))
    def min_confidence(self, value: float) -> None:
        user_error(lambda: self.ws.set_min_confidence(value))

    # -- template matching's found spikes -----------------------------------------------------------
    @rule(data=st.data())
    def add_found(self, data) -> None:
        units = sorted(self.session.units.values(), key=lambda u: u.id)
        if not units:
            return
        chosen = data.draw(st.lists(st.sampled_from(units), min_size=1, max_size=4))
        d = self.session.detection
        samples = np.array([data.draw(st.integers(0, d.n_samples - 1)) for _ in chosen])
        order = np.argsort(samples, kind="stable")
        rng = np.random.default_rng(len(chosen))
        found = Found(samples[order].astype(np.int64),
                      np.array([u.group for u in chosen], np.int64)[order],
                      np.array([u.id for u in chosen], np.int64)[order],
                      np.ones(len(chosen), np.float32), np.full(len(chosen), 9, np.float32),
                      rng.normal(0, 5, (len(chosen), CHANNELS, WIDTH)).astype(np.float32))
        user_error(lambda: self.ws.add_found(found, self.ws.revision))

    # -- an imported sorting laid onto the session -------------------------------------------------
    @rule(data=st.data())
    def import_onto(self, data) -> None:
        d = self.session.detection
        spikes = self.spikes(data)
        group = int(d.channels[spikes[0]])
        names = np.array([data.draw(st.sampled_from(["1", "2", "noise"])) for _ in spikes],
                         dtype=object)
        electrode = [Electrode("a", [0]), Electrode("b", [1]),
                     Electrode("tt", [2, 3, 4, 5])][group]
        sorting = ImportedSorting("other.csv", d.times_s[spikes].astype(np.float64),
                                  np.zeros(len(spikes), np.int64), names, [electrode])
        user_error(lambda: self.ws.import_onto(sorting))

    # -- history, files, crashes --------------------------------------------------------------------
    @rule()
    def undo(self) -> None:
        self.ws.undo()

    @rule()
    def redo(self) -> None:
        self.ws.redo()

    @rule()
    def undo_then_redo(self) -> None:
        if not self.ws.history.can_undo:
            return
        before = _copy(self.session)
        self.ws.undo()
        self.ws.redo()
        assert states_equal(self.session, before) == []

    @rule()
    def save(self) -> None:
        self.ws.save(self.path)
        assert not self.ws.modified
        assert states_equal(load_session(self.path), self.session) == []

    @precondition(lambda self: self.ws.path is not None and not self.ws.modified)
    @rule()
    def reopen(self) -> None:
        before = _copy(self.session)
        self.ws.open(self.path)
        assert states_equal(self.session, before) == []

    @precondition(lambda self: self.ws._journal is not None)
    @rule()
    def crash_and_recover(self) -> None:
        before = _copy(self.session)
        ws = self.ws
        ws.flush()
        ws._journal.close(remove=False)   # what a kill leaves
        ws._journal = None
        again = Workspace(self.data_dir)
        crashed = again.crashed(ws.path) if ws.path is not None else again.crashed()
        assert len(crashed) == 1, crashed
        again.recover(crashed[0])
        assert states_equal(again.session, before) == []
        self.ws = again
        self.outputs = []

    # -- after every step ----------------------------------------------------------------------------
    @invariant()
    def sound(self) -> None:
        if not hasattr(self, "ws") or self.ws.session is None:
            return
        session = self.session
        assert problems(session) == []
        self.ever |= set(session.units)
        assert session.next_unit_id > max(self.ever, default=-1), "an id was given twice"
        COUNTED[0] += 1

    @invariant()
    def journal_replays_to_the_state(self) -> None:
        if not hasattr(self, "ws") or self.ws._journal is None:
            return
        self.ws.flush()
        folder = self.ws.journal_folder
        manifest = json.loads((folder / journal.MANIFEST).read_text())
        replayed, _history, _seq, torn = journal.replay(journal.Crashed(folder, manifest, 0, 0))
        assert not torn
        assert states_equal(replayed, self.session) == []


def _copy(session: Session) -> Session:
    return journal.snapshot_state(session)


COUNTED = [0]   # steps run (invariants checked after each)


def machine_settings(examples: int) -> settings:
    return settings(
        max_examples=examples, stateful_step_count=STEPS, deadline=None,
        phases=[p for p in Phase
                if p != Phase.shrink or not os.environ.get("STATEFUL_NO_SHRINK")],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                               HealthCheck.filter_too_much], print_blob=True)


def test_every_command_keeps_the_state_sound_and_recoverable() -> None:
    """At least STATEFUL_EXAMPLES x STATEFUL_STEPS steps (hypothesis ends some runs early:
    rounds are run until that many steps were checked)."""
    target = EXAMPLES * STEPS
    COUNTED[0] = 0
    while COUNTED[0] < target:
        run_state_machine_as_test(WorkspaceMachine, settings=machine_settings(EXAMPLES))
    print(f"{COUNTED[0]} steps checked")
    assert COUNTED[0] >= target
