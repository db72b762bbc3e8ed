"""Selections on all spikes, commands and undo (property-based)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spikeapp.detection import DetectionResult
from spikeapp.session import Session
from spikeapp.session import commands as cmd
from spikeapp.session.selection import crossing_segment, inside_polygon


def test_inside_polygon():
    square = np.array([[0, 0], [1, 0], [1, 1], [0, 1]])
    x = np.array([0.5, 1.5, 0.1, -0.1])
    y = np.array([0.5, 0.5, 0.9, 0.5])
    assert inside_polygon(x, y, square).tolist() == [True, False, True, False]


@pytest.mark.parametrize("grid", [False, True])
def test_inside_polygon_agrees_with_testing_every_edge(grid, monkeypatch):
    """The banded test (each point against the edges at its height) and, with ``grid``, the
    grid of cells that decides most points at once (used from 50,000 candidates: here from
    any number) against the plain even-odd rule over every edge, on random polygons,
    self-crossing ones and points on vertices' heights and on cell borders included."""
    from spikeapp.session import selection

    if grid:
        monkeypatch.setattr(selection, "GRID_FROM", 0)
    rng = np.random.default_rng(0)
    for _ in range(200):
        k = int(rng.integers(3, 12))
        polygon = rng.integers(-5, 6, (k, 2)).astype(float) if rng.random() < 0.5 else \
            rng.normal(size=(k, 2))
        x, y = rng.normal(size=(2, 500)) * 3
        x[:50], y[:50] = np.round(x[:50]), np.round(y[:50])   # on the grid of the vertices
        low, high = polygon.min(axis=0), polygon.max(axis=0)
        cells = rng.integers(0, selection.GRID + 1, (2, 50)) / selection.GRID
        x[50:100], y[50:100] = low[:, None] + cells * (high - low)[:, None]   # cell borders
        plain = np.zeros(len(x), dtype=bool)
        px, py = polygon[:, 0], polygon[:, 1]
        for x1, y1, x2, y2 in zip(px, py, np.roll(px, 1), np.roll(py, 1)):
            crosses = (y1 > y) != (y2 > y)
            with np.errstate(divide="ignore", invalid="ignore"):
                at = (x2 - x1) * (y - y1) / (y2 - y1) + x1
            plain ^= crosses & (x < at)
        assert np.array_equal(inside_polygon(x, y, polygon), plain)


def test_crossing_segment_is_a_polyline_intersection():
    waves = np.array([[0, -10, 0, 0], [0, -3, 0, 0], [0, 0, -10, 0]], dtype=float)
    assert crossing_segment(waves, (0.5, -5), (1.5, -5)).tolist() == [True, False, True]
    assert crossing_segment(waves, (1, -20), (1, -5)).tolist() == [True, False, False]


def small_session(n: int = 40) -> Session:
    rng = np.random.default_rng(0)
    channels = np.repeat([0, 1], n // 2)
    detection = DetectionResult(
        samples=np.arange(n) * 100, times_s=np.arange(n) / 100.0, channels=channels,
        peak_channels=channels, amplitudes=rng.normal(size=n).astype(np.float32),
        waveforms=rng.normal(size=(n, 1, 16)).astype(np.float32),
        features=rng.normal(size=(n, 5)).astype(np.float32), noise_uv=np.ones(2),
        channel_ids=np.array([0, 1]), group_ids=np.array([0, 1]),
        group_channels=np.array([[0], [1]]), sampling_rate=10_000.0, t_start=0.0,
        n_samples=n * 100, params={"pre_samples": 5})
    return Session(detection)


def snapshot(session: Session):
    return (session.assignment.copy(), session.source.copy(), session.confidence.copy(),
            dict(session.units), dict(session.networks))


def same(a, b) -> bool:
    """The same sorting (the counters aside: undo leaves them where they were, ids are never
    given twice)."""
    return (all(np.array_equal(x, y) for x, y in zip(a[:3], b[:3])) and a[3:] == b[3:])


operations = st.lists(st.tuples(st.sampled_from(["label", "new", "split", "merge", "delete",
                                                 "rename", "unlabel", "predict"]),
                                st.integers(0, 1), st.lists(st.integers(0, 19), min_size=1,
                                                            max_size=6)),
                      min_size=1, max_size=25)


@settings(max_examples=60, deadline=None)
@given(operations)
def test_undo_everything_gives_back_the_start(ops):
    session = small_session()
    history = cmd.History(session)
    start = snapshot(session)
    done = 0
    for name, group, picks in ops:
        spikes = np.array(picks) + 20 * group
        units = [u.id for u in session.units_of_group(group)]
        try:
            if name == "label" and units:
                change = cmd.label(session, spikes, units[0])
            elif name == "new":
                change = cmd.label_new_unit(session, spikes)
            elif name == "split":
                change = cmd.split(session, spikes)
            elif name == "merge" and len(units) >= 2:
                change = cmd.merge(session, units[:2])
            elif name == "delete" and units:
                change = cmd.delete_unit(session, units[-1])
            elif name == "rename" and units:
                change = cmd.edit_unit(session, units[0], name=f"n{done}", quality="good")
            elif name == "unlabel":
                change = cmd.unlabel(session, spikes)
            elif name == "predict" and units:
                everyone = session.spikes_of_group(group)
                change = cmd.apply_predictions(session, group, everyone,
                                               np.full(len(everyone), units[0]),
                                               np.full(len(everyone), 0.9), b"net")
            else:
                continue
        except cmd.SpikeappError:
            continue
        history.do(change)
        done += 1
    middle = snapshot(session)
    while history.undo():
        pass
    assert same(snapshot(session), start)
    while history.redo():
        pass
    assert same(snapshot(session), middle)


def test_predictions_never_overwrite_human_labels():
    session = small_session()
    history = cmd.History(session)
    history.do(cmd.label_new_unit(session, np.arange(5), name="a"))
    history.do(cmd.label_new_unit(session, np.arange(5, 10), name="b"))
    a = session.unit_by_name(0, "a").id
    b = session.unit_by_name(0, "b").id
    everyone = session.spikes_of_group(0)
    history.do(cmd.apply_predictions(session, 0, everyone, np.full(len(everyone), b),
                                     np.full(len(everyone), 0.8)))
    assert (session.assignment[:5] == a).all()
    assert (session.assignment[10:20] == b).all()
    assert session.network_versions == 1
    history.undo()
    # The version stays given: a later network is #2, never a second #1.
    assert session.network_versions == 1 and (session.assignment[10:20] == -1).all()


def test_session_file_round_trip_and_damaged_files(tmp_path):
    import pytest

    from spikeapp.errors import SpikeappError
    from spikeapp.session.storage import load_session, save_session

    session = small_session()
    history = cmd.History(session)
    history.do(cmd.label_new_unit(session, np.arange(3), name="x"))
    path = tmp_path / "a.spikeapp"
    save_session(session, path)
    loaded = load_session(path)
    assert same(snapshot(loaded), snapshot(session))
    data = path.read_bytes()
    cut = data[: len(data) // 2]
    (tmp_path / "cut.spikeapp").write_bytes(cut)
    with pytest.raises(SpikeappError, match="cut.spikeapp"):
        load_session(tmp_path / "cut.spikeapp")
    assert (tmp_path / "cut.spikeapp").read_bytes() == cut  # left untouched by the failed open


def test_min_max_decimation_keeps_the_whole_envelope():
    import pytest

    pytest.importorskip("pyqtgraph")
    from spikeapp.gui.views.trace import min_max_decimate

    x = np.arange(4801) / 24000
    y = np.sin(np.arange(4801) / 7.0)
    y[-3] = 5.0
    dx, dy = min_max_decimate(x, y, 4000)
    assert len(dy) <= 4000 and dy.max() == 5.0 and dx[-1] >= x[-60]


def test_changes_in_sequence_build_on_each_other_and_leave_the_session_as_it_was():
    import pytest

    from spikeapp.errors import SpikeappError

    session = small_session()
    before = (session.assignment.copy(), dict(session.units), session.next_unit_id)
    changes = cmd.in_sequence(session, [lambda s: cmd.label_new_unit(s, [0, 1]),
                                        lambda s: cmd.label_new_unit(s, [2, 3])])
    np.testing.assert_array_equal(session.assignment, before[0])   # built, not applied
    assert dict(session.units) == before[1] and session.next_unit_id == before[2]
    both = cmd.combine("two units", changes)
    both.apply(session)                      # the second saw the first: two distinct units
    assert len(session.units) == len(before[1]) + 2
    assert session.assignment[0] != session.assignment[2]
    both.apply(session, forward=False)
    with pytest.raises(SpikeappError):
        cmd.in_sequence(session, [lambda s: cmd.label_new_unit(s, [0, 1]),
                                  lambda s: cmd.label(s, [2], 999)])     # no unit 999
    np.testing.assert_array_equal(session.assignment, before[0])
    assert dict(session.units) == before[1] and session.next_unit_id == before[2]


def test_a_recolour_keeps_the_old_unit_ids_narrow_and_undo_restores_them_exactly():
    """Retraining recolours spikes the last network assigned (no single value to pack): their
    old unit ids go into the undo history in 8 or 16 bits, not 64, and come back exactly, also
    through the journal's records."""
    from spikeapp.workflow.journal import _decode_payload, decode_change, encode_record

    session = small_session(4000)
    session.detection.channels[:] = 0
    history = cmd.History(session)
    ids = []
    for _ in range(3):
        made, unit_id = cmd.create_unit(session, 0)
        history.do(made)
        ids.append(unit_id)
    rng = np.random.default_rng(2)
    spikes = np.arange(4000)
    history.do(cmd.apply_predictions(session, 0, spikes, np.asarray(ids)[rng.integers(0, 3, 4000)],
                                     rng.random(4000).astype(np.float32)))
    first = session.assignment.copy()
    change = cmd.apply_predictions(session, 0, spikes, np.asarray(ids)[rng.integers(0, 3, 4000)],
                                   rng.random(4000).astype(np.float32))
    assert change.before["assignment"].dtype == np.int8
    history.do(change)
    history.undo()
    assert np.array_equal(session.assignment, first) and session.assignment.dtype == np.int64
    payload = b"".join(bytes(piece) for piece in encode_record(1, "do", change)[1:])
    replayed = decode_change(*_decode_payload(payload))
    replayed.apply(session)
    replayed.apply(session, forward=False)
    assert np.array_equal(session.assignment, first)
    # ids past 16 bits stay as they are
    wide = np.full(5000, 70_000, np.int64)
    wide[::7] = -1
    assert cmd.narrowed(wide) is None
    assert cmd.narrowed(np.full(5000, 300, np.int64)).dtype == np.int16


@given(st.lists(st.integers(-3, 6), max_size=60), st.sets(st.integers(-3, 6), max_size=5))
def test_among_agrees_with_isin(values, codes):
    from spikeapp.session.state import among

    values = np.asarray(values, dtype=np.int8)
    assert np.array_equal(among(values, codes), np.isin(values, sorted(codes)))
