"""File > Export from the window: every format and the report; a bad place is a message."""

from __future__ import annotations

import copy

from spikeapp.export import FORMATS


def test_export_every_format_and_the_report(window, sorted_session, tmp_path, qtbot):
    window.controller.set_session(copy.deepcopy(sorted_session))
    texts = [a.text() for a in window.all_actions]
    for fmt in FORMATS:
        assert any(t.startswith(f"{fmt.upper()}:") for t in texts)
    targets = {"csv": "s.csv", "nwb": "s.nwb", "nix": "s.nix", "phy": "phy", "mat": "mat",
               "report": "report.html"}
    for fmt, name in targets.items():
        window._guarded(lambda f=fmt, n=name: window.files.export_to(
            f, str(tmp_path / n), {"species": "Mus musculus", "age": "P60D"}))
        # written on a worker thread (the report here: Qt draws its figures)
        qtbot.waitUntil(lambda: not window.exporter.running, timeout=30_000)
        assert (tmp_path / name).exists(), fmt
        qtbot.waitUntil(lambda n=name: str(tmp_path / n) in window.status_text.text(),
                        timeout=5_000)
    report = (tmp_path / "report.html").read_text()
    for unit in sorted_session.units.values():
        assert f">{unit.name}<" in report
    assert not hasattr(window, "last_error")


def test_export_to_a_missing_folder_shows_a_message_and_the_window_lives(window, sorted_session,
                                                                        tmp_path, qtbot):
    window.controller.set_session(copy.deepcopy(sorted_session))
    window._guarded(lambda: window.files.export_to("nwb", str(tmp_path / "no" / "s.nwb")))
    qtbot.waitUntil(lambda: "does not exist" in getattr(window, "last_error", ""),
                    timeout=30_000)
    assert window.isVisible()


def test_import_onto_the_open_recording_is_one_undo_step(window, sorted_session, demo_detection,
                                                         tmp_path, qtbot):
    from spikeapp.export import export
    from spikeapp.session import Session

    export(sorted_session, "phy", tmp_path / "phy")
    window.controller.set_session(Session(copy.deepcopy(demo_detection)))
    window._guarded(lambda: window.files.import_sorting(str(tmp_path / "phy" / "params.py")))
    qtbot.waitUntil(lambda: not window.importer.running, timeout=60_000)
    session = window.controller.session
    assert len(session.units) == len(sorted_session.units)
    assert "spike(s) labelled" in window.status_text.text()
    window.controller.undo()
    assert not session.units and (session.assignment == -1).all()


def test_an_export_writes_the_sorting_as_it_was_when_asked(window, sorted_session, tmp_path,
                                                           qtbot):
    """Edits made while an export is written are not in it (the sorting is copied first)."""
    from spikeapp.export import export
    from spikeapp.io.sortings import read_sorting

    window.controller.set_session(copy.deepcopy(sorted_session))
    window.files.export_to("csv", str(tmp_path / "s.csv"))
    victim = min(window.controller.session.units)
    window.controller.workspace.delete_units([victim])   # while it is being written
    qtbot.waitUntil(lambda: not window.exporter.running, timeout=30_000)
    export(sorted_session, "csv", tmp_path / "before.csv")
    written = read_sorting(tmp_path / "s.csv")
    before = read_sorting(tmp_path / "before.csv")
    assert len(written.times_s) == len(before.times_s)
    assert list(written.units) == list(before.units)
