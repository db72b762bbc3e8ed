"""The Workspace without Qt: edits, undo, the journal and recovery after a crash, saving while
editing, staleness of trainings, networks kept with the session."""

from __future__ import annotations

import numpy as np
import pytest

from spikeapp.detection import DetectionResult
from spikeapp.errors import SpikeappError
from spikeapp.session import Session
from spikeapp.session.state import HUMAN, NETWORK
from spikeapp.session.storage import load_session
from spikeapp.workflow import journal
from spikeapp.workflow.workspace import Workspace


def small_detection(n: int = 600, seed: int = 0) -> DetectionResult:
    """Two channels; on each, two units of clearly different shapes."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, 32)
    shapes = [-np.exp(-((t - 0.3) / 0.05) ** 2) * 80, -np.exp(-((t - 0.3) / 0.1) ** 2) * 40
              + np.exp(-((t - 0.6) / 0.1) ** 2) * 30]
    truth = rng.integers(0, 2, n)
    waveforms = np.stack([shapes[u] for u in truth])[:, None, :] + rng.normal(0, 4, (n, 1, 32))
    channels = np.arange(n) % 2
    samples = np.arange(n) * 300
    return DetectionResult(
        samples=samples, times_s=samples / 30_000.0, channels=channels, peak_channels=channels,
        amplitudes=waveforms.min(axis=(1, 2)).astype(np.float32),
        waveforms=waveforms.astype(np.float32),
        features=waveforms[:, 0, ::6].astype(np.float32), noise_uv=np.ones(2),
        channel_ids=np.array([0, 1]), group_ids=np.array([0, 1]),
        group_channels=np.array([[0], [1]]), sampling_rate=30_000.0, t_start=0.0,
        n_samples=n * 300, params={"pre_samples": 10}), truth


@pytest.fixture
def data_dir(tmp_path):
    return tmp_path / "data"


@pytest.fixture
def detection():
    return small_detection()


def crash(ws: Workspace) -> None:
    """What a kill leaves: everything queued is written, nothing is closed or removed."""
    ws.flush()
    ws._journal.close(remove=False)
    ws._journal = None


def state(session: Session):
    return (session.assignment.copy(), session.source.copy(),
            {u.id: (u.name, u.quality) for u in session.units.values()}, session.next_unit_id)


def same(a, b) -> bool:
    return np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2:] == b[2:]


def test_an_untitled_session_is_recovered_after_a_crash_with_its_undo_history(data_dir,
                                                                              detection):
    d, _truth = detection
    ws = Workspace(data_dir)
    ws.set_session(Session(d, recording={"path": "<demo>"}), name="demo")
    assert ws.crashed() == [] and ws.journal_folder is None   # nothing edited: no journal
    ws.label_new_unit(np.array([0, 2, 4]))
    unit = max(ws.session.units)
    ws.label(np.array([6, 8]), unit)
    ws.label_new_unit(np.array([1, 3]))
    ws.undo()
    ws.edit_unit(unit, quality="good")
    expected = state(ws.session)
    crash(ws)

    again = Workspace(data_dir)
    found = again.crashed()
    assert len(found) == 1 and found[0].name == "demo" and found[0].edits == 5
    assert again.recover(found[0]) == 5
    assert same(state(again.session), expected)
    assert again.modified and again.path is None
    assert again.undo().description.startswith("edit")          # the recovered edits undo
    assert again.session.units[unit].quality == "unsorted"
    assert again.crashed() == []                                 # it is live again, not crashed
    again.close(discard=True)
    assert Workspace(data_dir).crashed() == []


def test_a_torn_last_record_is_dropped_and_the_rest_recovered(data_dir, detection):
    d, _ = detection
    ws = Workspace(data_dir)
    ws.set_session(Session(d), name="x")
    ws.label_new_unit(np.array([0, 2]))
    expected = state(ws.session)
    ws.label_new_unit(np.array([4, 6]))
    crash(ws)
    folder = journal.crashed_journals(data_dir)[0].folder
    log = next(folder.glob("journal-*.bin"))
    blob = log.read_bytes()
    # Cut the last record in half, as a kill during its write would.
    records, torn = journal.read_records(log)
    assert len(records) == 2 and not torn
    last = blob.rfind(journal.MAGIC)
    log.write_bytes(blob[: last + (len(blob) - last) // 2])
    again = Workspace(data_dir)
    again.recover(again.crashed()[0])
    assert same(state(again.session), expected)


def test_checkpoints_keep_the_journal_short_and_replay_the_same_state(data_dir, detection,
                                                                    monkeypatch):
    monkeypatch.setattr(journal, "CHECKPOINT_EVERY", 4)
    d, _ = detection
    ws = Workspace(data_dir)
    ws.set_session(Session(d), name="x")
    ws.label_new_unit(np.array([0]))
    unit = max(ws.session.units)
    for k in range(1, 15):
        ws.label(np.array([2 * k]), unit)
        if k % 5 == 0:
            ws.undo()
            ws.redo()
            ws.undo()
    expected = state(ws.session)
    crash(ws)
    folder = journal.crashed_journals(data_dir)[0].folder
    assert len(list(folder.glob("state-*.spikeapp"))) == 1
    assert len(journal.read_records(next(folder.glob("journal-*.bin")))[0]) < 5
    again = Workspace(data_dir)
    again.recover(again.crashed()[0])
    assert same(state(again.session), expected)


def test_a_saved_session_with_later_edits_is_recovered_under_its_real_name(data_dir, detection,
                                                                         tmp_path):
    d, _ = detection
    path = tmp_path / "work.spikeapp"
    ws = Workspace(data_dir)
    ws.set_session(Session(d), name="x")
    ws.label_new_unit(np.array([0, 2]))
    ws.save(path)
    assert not ws.modified and ws.journal_folder is None and ws.crashed() == []
    ws.label_new_unit(np.array([1, 3]))
    assert ws.modified
    expected = state(ws.session)
    crash(ws)

    again = Workspace(data_dir)
    assert again.crashed(tmp_path / "elsewhere.spikeapp") == []
    found = again.crashed(path)
    assert len(found) == 1
    again.recover(found[0])
    assert again.path == path.resolve() and again.modified
    assert same(state(again.session), expected)
    again.save()
    assert same(state(load_session(path)), expected)
    assert again.crashed() == []


def test_edits_made_while_a_save_is_written_are_kept(data_dir, detection, tmp_path):
    d, _ = detection
    path = tmp_path / "work.spikeapp"
    ws = Workspace(data_dir)
    ws.set_session(Session(d), name="x")
    ws.label_new_unit(np.array([0, 2]))
    job = ws.save_job(path)
    before_save = state(ws.session)
    ws.label_new_unit(np.array([1, 3]))       # the user goes on while the file is written
    expected = state(ws.session)
    from spikeapp.tasks import run_job

    ws.saved(run_job(job))
    assert same(state(load_session(path)), before_save)
    assert ws.modified                         # the later edit is not in the file
    crash(ws)
    again = Workspace(data_dir)
    again.recover(again.crashed(path)[0])
    assert same(state(again.session), expected)


def test_parameters_are_checked_and_kept_with_the_session(data_dir, detection, tmp_path):
    d, _ = detection
    ws = Workspace(data_dir)
    ws.set_session(Session(d), name="x")
    ws.set_params("training", epochs=7, min_confidence=0.6)
    with pytest.raises(SpikeappError):
        ws.set_params("training", epochs=-1)
    ws.save(tmp_path / "a.spikeapp")
    again = Workspace(data_dir)
    again.open(tmp_path / "a.spikeapp")
    assert again.training["epochs"] == 7 and again.training["min_confidence"] == 0.6


def test_a_moved_recording_is_reported_and_located(data_dir, detection, tmp_path):
    d, _ = detection
    ws = Workspace(data_dir)
    ws.set_session(Session(d, recording={"path": str(tmp_path / "gone.nwb")}), name="x")
    assert ws.recording_missing() == str(tmp_path / "gone.nwb")
    with pytest.raises(SpikeappError):
        ws.locate_recording(tmp_path / "still-gone.nwb")
    assert ws.recording_missing() is not None


def test_delete_units_is_one_step_and_commands_errors_change_nothing(data_dir, detection):
    d, _ = detection
    ws = Workspace(data_dir)
    ws.set_session(Session(d), name="x")
    ws.label_new_unit(np.array([0, 2]))
    ws.label_new_unit(np.array([4, 6]))
    a, b = sorted(ws.session.units)
    before = state(ws.session)
    with pytest.raises(SpikeappError):
        ws.label(np.array([1, 2]), a)          # spikes of two channels
    assert same(state(ws.session), before)
    ws.delete_units([a, b])
    assert not ws.session.units
    ws.undo()
    assert same(state(ws.session), before)
    ws.close(discard=True)


@pytest.mark.filterwarnings("ignore")
def test_training_is_offered_stale_and_networks_come_back_without_training(data_dir,
                                                                          detection, tmp_path):
    d, truth = detection
    ws = Workspace(data_dir, journal=False)
    ws.set_session(Session(d), name="x")
    ws.set_params("training", epochs=8, threads=1)
    spikes = ws.session.spikes_of_group(0)
    for unit in (0, 1):
        ws.label_new_unit(spikes[truth[spikes] == unit][:10], name=f"u{unit}")
    job = ws.training_job(0)
    ws.label(spikes[truth[spikes] == 0][10:12], ws.session.unit_by_name(0, "u0").id)
    from spikeapp.tasks import run_job

    output = run_job(job.run())
    offer = ws.offer(output, job)
    assert offer.stale and offer.needs_review and not offer.invalid
    ws.apply(offer.output)
    assert (ws.session.source[spikes] == NETWORK).any()
    assert (ws.session.source[spikes] == HUMAN).sum() == 22
    # A new minimum confidence acts at once, on the stored probabilities, as one undo step.
    applied = ws.session.assignment.copy()
    sure = output.probabilities.max(axis=1)
    threshold = float(np.quantile(sure, 0.3))
    moved, unresolved = ws.set_min_confidence(threshold)
    predicted = ws.session.source[output.spikes] == NETWORK
    assert unresolved == int((predicted & (sure < threshold)).sum()) > 0
    assert moved == unresolved
    assert (ws.session.assignment[output.spikes[predicted & (sure < threshold)]] == -2).all()
    assert ws.training["min_confidence"] == threshold
    ws.undo()
    np.testing.assert_array_equal(ws.session.assignment, applied)
    ws.set_params("training", min_confidence=0.0)
    ws.save(tmp_path / "trained.spikeapp")

    again = Workspace(data_dir, journal=False)
    again.open(tmp_path / "trained.spikeapp")
    assert again.outputs == {}
    outputs = run_job(again.restore_job()())
    assert again.restored(outputs, again.revision) == 1
    restored = again.outputs[0]
    np.testing.assert_array_equal(restored.assigned, output.assigned)
    np.testing.assert_allclose(restored.confidence, output.confidence, atol=1e-5)
    # A retrain on fresh labels is not stale, and its preview says what would move.
    job = again.training_job(0)
    offer = again.offer(run_job(job.run()), job)
    assert not offer.stale and offer.preview is not None


def test_recovered_edits_survive_a_second_crash_even_after_a_torn_record(data_dir, detection,
                                                                       tmp_path):
    d, _ = detection
    path = tmp_path / "work.spikeapp"
    ws = Workspace(data_dir)
    ws.set_session(Session(d), name="x")
    ws.save(path)
    ws.label_new_unit(np.array([0, 2]))
    ws.label_new_unit(np.array([4, 6]))
    crash(ws)
    log = next(journal.crashed_journals(data_dir)[0].folder.glob("journal-*.bin"))
    blob = log.read_bytes()
    log.write_bytes(blob[: blob.rfind(journal.MAGIC) + 20])     # the second edit torn
    for _life in range(3):
        again = Workspace(data_dir)
        again.recover(again.crashed(path)[0])
        expected_units = len(again.session.units) + 1
        again.label_new_unit(np.array([8 + 2 * _life]))
        expected = state(again.session)
        crash(again)
    last = Workspace(data_dir)
    last.recover(last.crashed(path)[0])
    assert same(state(last.session), expected) and len(last.session.units) == expected_units


def proposed(data_dir, detection) -> tuple[Workspace, np.ndarray]:
    """A workspace on the small detection, its proposals found; and the truth."""
    from spikeapp.tasks import run_job

    d, truth = detection
    ws = Workspace(data_dir, journal=False)
    ws.set_session(Session(d), name="x")
    ws.proposed(run_job(ws.propose_job()()))
    return ws, truth


def test_proposals_of_well_separated_units_are_pure_and_accepted_in_one_step(data_dir,
                                                                           detection):
    ws, truth = proposed(data_dir, detection)
    assert sorted(ws.proposals) == [0, 1]
    for proposals in ws.proposals.values():
        assert len(proposals) == 2
        for proposal in proposals:
            assert len(set(truth[proposal.core].tolist())) == 1       # pure cores
            assert len(proposal.core) == 50
    assert ws.accept_all_proposals(only={1}) == 2
    assert {u.group for u in ws.session.units.values()} == {1}
    ws.undo()
    assert not ws.session.units


def test_proposals_come_out_the_same_in_chunks_of_any_size(demo_detection, monkeypatch):
    """The mixture's posteriors are worked out a chunk at a time (gigabytes at once at ten
    million spikes): any chunk size gives the same proposals and cores."""
    from spikeapp.workflow import proposals

    session = Session(demo_detection)
    whole = proposals.propose_group(session, 0)
    monkeypatch.setattr(proposals, "CHUNK", 997)   # many chunks, the last one short
    pieces = proposals.propose_group(session, 0)
    assert len(whole) >= 2 and len(pieces) == len(whole)
    for a, b in zip(whole, pieces):
        assert np.array_equal(a.members, b.members) and np.array_equal(a.core, b.core)


def test_proposals_are_merged_split_and_accepted_one_by_one_before_anyone_labels(data_dir,
                                                                                 detection):
    ws, truth = proposed(data_dir, detection)
    a, b = ws.proposals[0]
    # merged: one proposal of both units' spikes, its core re-chosen among them
    assert ws.merge_proposals(0, [0, 1]) == 0
    (both,) = ws.proposals[0]
    assert set(both.members) == set(a.members) | set(b.members)
    assert len(both.core) == 50 and set(both.core) <= set(both.members)
    # split back along the truth: each part is pure again, with a core of its own
    first, second = ws.split_proposal(0, both.members[truth[both.members] == truth[a.core[0]]])
    parts = ws.proposals[0]
    for part in (parts[first], parts[second]):
        assert len(set(truth[part.members].tolist())) == 1
        assert len(set(truth[part.core].tolist())) == 1
    with pytest.raises(SpikeappError, match="several proposed units"):
        ws.split_proposal(0, np.array([int(parts[0].core[0]), int(parts[1].core[0])]))
    # accepting one closes it (the other stays open); undo opens it again
    assert ws.accept_proposals(0, [second]) == 1
    assert ws.open_proposals(0) == [first]
    assert ws.accept_all_proposals(only={0}) == 1            # only the open one
    assert len(ws.session.units) == 2
    ws.undo()
    ws.undo()
    assert ws.open_proposals(0) == [first, second] and not ws.session.units


def test_spikes_found_by_template_are_one_undo_step_and_survive_a_crash(data_dir, demo,
                                                                        sorted_session,
                                                                        tmp_path):
    """Template matching grows the detection: undo takes the found spikes away again, the
    edits before it still undo on the old spike indexes, and a crash after it recovers them."""
    import copy

    from spikeapp.tasks import run_job
    from spikeapp.workflow.recovery import FROM_TEMPLATE

    ws = Workspace(data_dir)
    path = tmp_path / "sorted.spikeapp"
    ws.set_session(copy.deepcopy(sorted_session), path=path, name=str(path))
    ws.save(path)
    n = ws.session.n_spikes
    unit = min(ws.session.units)
    ws.label(np.array([n - 1]), unit)                       # an edit on the old indexes
    before = state(ws.session)
    job, revision = ws.find_missed_job(demo.recording(), min_score=5.0)
    found = run_job(job(None))
    assert len(found.samples) > 0
    change = ws.add_found(found, revision)
    grown = ws.session
    assert grown.n_spikes == n + len(found.samples)
    added = change.added
    assert (grown.detection.origin[added] == FROM_TEMPLATE).all()
    assert np.array_equal(grown.assignment[added], found.unit_ids)
    assert (grown.source[added] == NETWORK).all()
    assert np.all(np.diff(grown.detection.samples) >= 0)     # still in time order
    ws.label(added[:1], unit)                               # an edit on the new indexes
    after = state(ws.session)
    crash(ws)

    again = Workspace(data_dir)
    (crashed,) = again.crashed()
    assert crashed.session_path == path.resolve()
    again.recover(crashed)
    assert again.session.n_spikes == n + len(found.samples)
    assert same(state(again.session), after)
    again.close(discard=True)

    ws = Workspace(data_dir, journal=False)
    ws.set_session(copy.deepcopy(sorted_session), name="y")
    ws.label(np.array([n - 1]), unit)
    job, revision = ws.find_missed_job(demo.recording(), min_score=5.0)
    ws.add_found(run_job(job(None)), revision)
    ws.undo()
    assert ws.session.n_spikes == n and same(state(ws.session), before)
    ws.undo()                                               # the edit before it, old indexes
    assert ws.session.assignment[n - 1] == sorted_session.assignment[n - 1]
    ws.redo()
    ws.redo()
    assert ws.session.n_spikes == n + len(found.samples)
    with pytest.raises(SpikeappError, match="changed while"):
        job, revision = ws.find_missed_job(demo.recording())
        ws.label(np.array([0]), unit)
        ws.add_found(run_job(job(None)), revision)


def test_the_retrain_preview_counts_every_move_between_units(sorted_session):
    from collections import Counter

    from spikeapp.session.state import LABELLED
    from spikeapp.workflow.review import preview
    from spikeapp.workflow.sorting import TrainingOutput

    session = sorted_session
    group = int(session.groups[0])
    spikes = session.spikes_of_group(group)
    units = sorted(u.id for u in session.units_of_group(group))
    rng = np.random.default_rng(3)
    assigned = np.asarray(units)[rng.integers(0, len(units), len(spikes))]
    output = TrainingOutput(group, None, b"", spikes, assigned,
                            np.ones(len(spikes), np.float32))
    summary = preview(session, output)
    open_ = ~np.isin(session.source[spikes], LABELLED)
    now, after = session.assignment[spikes][open_], assigned[open_]
    expected = Counter((int(a), int(b)) for a, b in zip(now, after) if a != b)
    assert {(a, b): n for a, b, n in summary.moves} == dict(expected)
    assert [n for _, _, n in summary.moves] == sorted(expected.values(), reverse=True)


def test_pairs_are_counted_alike_for_small_and_far_apart_unit_ids():
    """Unassigned (-1), unresolved and proposal ids are negative; ids far apart take the
    other path (the codes would not fit a bincount)."""
    from collections import Counter

    from spikeapp.workflow.review import count_pairs

    rng = np.random.default_rng(0)
    for ids in ([-2, -1, 0, 1, 2, 7], [-1000, -1, 3, 5000]):
        a, b = rng.choice(ids, 5000), rng.choice(ids, 5000)
        assert count_pairs(a, b) == dict(Counter(zip(a.tolist(), b.tolist())))
    assert count_pairs(np.zeros(0, int), np.zeros(0, int)) == {}


def test_accepted_cores_give_way_to_hand_labels(data_dir, detection):
    """Accepted cores are labels (kind "accepted") until their unit has ``cores_give_way``
    labels of a person's own; then training leaves them out and the network's predictions
    reach them, as any other spike; the other unit's cores stay labels. Undo brings them
    back."""
    from spikeapp.session.state import ACCEPTED, NETWORK
    from spikeapp.workflow.sorting import TrainingOutput, snapshot_training

    ws, truth = proposed(data_dir, detection)
    ws.set_params("training", cores_give_way=3)
    assert ws.accept_all_proposals(only={0}) == 2
    session = ws.session
    a, b = sorted(u.id for u in session.units.values())
    cores = {u: np.flatnonzero(session.assignment == u) for u in (a, b)}
    assert all((session.source[c] == ACCEPTED).all() for c in cores.values())
    group = session.spikes_of_group(0)
    assert session.taught(0).sum() == 100 and not session.yielding_units(0)
    own = [s for s in group if truth[s] == truth[cores[a][0]] and s not in cores[a]][:3]
    ws.label(np.array(own[:2]), a)
    assert not session.yielding_units(0)            # two hand labels: the cores still teach
    ws.label(np.array(own[2:3]), a)
    assert session.yielding_units(0) == {a}
    data = snapshot_training(session, 0)
    taught = set(group[data.human].tolist())
    assert not taught & set(cores[a].tolist()) and set(cores[b].tolist()) <= taught
    assert set(own) <= taught and len(data.labelled) == 3 + 50
    # The network's output names every spike of the group; its units reach A's cores only.
    guess = np.where(np.isin(group, cores[a]), b, a)
    output = TrainingOutput(0, None, b"net", group, guess, np.full(len(group), 0.9, np.float32),
                            unit_ids=np.array([a, b]))
    ws.apply(output)
    assert (session.assignment[cores[a]] == b).all()
    assert (session.source[cores[a]] == NETWORK).all()
    assert (session.source[cores[b]] == ACCEPTED).all() and (session.assignment[cores[b]] == b).all()
    assert (session.assignment[own] == a).all()     # hand labels are never overwritten
    ws.undo()
    assert (session.source[cores[a]] == ACCEPTED).all() and (session.assignment[cores[a]] == a).all()


@pytest.mark.parametrize("assigned_share", [0.0, 0.02, 0.5, 0.98, 1.0])
def test_unassigned_counts_of_proposals_match_a_count_of_every_member(detection,
                                                                       assigned_share):
    """The table's counts of a proposal's spikes no unit holds: looked up from the fewer side
    where nearly all or nearly none are assigned, counted member by member otherwise; the same
    either way, and what selecting the proposal's row selects."""
    from spikeapp.session.state import UNASSIGNED
    from spikeapp.workflow.proposals import Proposal, unassigned_counts, unassigned_of

    session = Session(detection[0])
    rng = np.random.default_rng(1)
    spikes = session.spikes_of_group(0)
    owner = rng.integers(0, 4, len(spikes))
    proposals = [Proposal(0, spikes[owner == k], spikes[owner == k][:5]) for k in range(3)]
    taken = spikes[rng.random(len(spikes)) < assigned_share]
    session.assignment[taken] = 7
    expected = [int(np.count_nonzero(session.assignment[p.members] == UNASSIGNED))
                for p in proposals]
    assert unassigned_counts(session, proposals) == expected
    assert [len(unassigned_of(session, p)) for p in proposals] == expected
