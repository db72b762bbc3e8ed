"""Crash drill: the real window, labelling, killed with SIGKILL at random moments of every
phase of its life, and what comes back checked spike by spike.

    python benchmarks/crash_drill.py [--kills 200] [--interval 0.5] [--seed 0]

A child process runs the app offscreen on a saved session of the demo (detected once here). It
recovers the previous crash's edits as a user would (the window offers them on opening; the
drill answers yes), prints the spikes labelled then and their units, and works in one of these
phases until it is killed:

- ``open``: killed while it opens the session and recovers the journal (a short life);
- ``edit``: one edit every ``--interval`` s through the window's own action (select a spike of
  any channel, press the key of its channel's unit 1, or of unit 2 when it is in unit 1
  already: the edits never run out); each edit is printed once the action returned;
- ``burst``: edits every 20 ms, so that kills land while records are being written;
- ``save``: edits, and a save (Ctrl+S, written in the background) every few edits.

The child prints each edit twice: ``made`` once the window's action returned, ``edit`` once
the journal says its record is synced. The parent checks identities, not counts: the (spike,
unit) pairs labelled after a restart must be exactly those labelled before with every synced
edit made on them (the edit in flight, made but not yet synced, may be there or not), and
never a label that was not made. It fails when
no edit was made at all. Prints the kills that landed in each phase, ``kills N`` and, last,
``lost_edits X`` (synced edits missing, the worst over all kills: must be 0) and
``phantom_labels 0``.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

CHILD = r"""
import os, sys
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
import numpy as np
from PyQt6.QtCore import QTimer
from PyQt6.QtWidgets import QApplication
from spikeapp.gui.main_window import MainWindow

path, phase, interval = sys.argv[1], sys.argv[2], float(sys.argv[3])
app = QApplication([])
window = MainWindow()
window.files.ask_recovery = lambda crashed: True      # the user recovers the crash's edits
window.files.ask_locate = lambda missing: None
window.show()
window.files.open_session(path)
c = window.controller
# What is labelled, spike by spike: "spike:unit" pairs (a unit keeps its id across restarts).
human = np.flatnonzero(c.session.source == 1)
print("labelled", ",".join(f"{int(s)}:{int(c.session.assignment[s])}" for s in human),
      flush=True)
# Every channel's spikes, in a random order that differs from one life to the next; an edit
# labels a spike as its channel's unit 1, or, when it is in unit 1 already, as unit 2: the
# edits never run out (they once ran out on one channel by the 58th kill).
order = np.random.default_rng(len(human)).permutation(c.session.n_spikes)
keys = {n: next(a for a in window.all_actions if a.shortcut().toString() == str(n))
        for n in (1, 2)}
count = [0]

def edit():
    spike = int(order[count[0] % len(order)])
    count[0] += 1
    c.set_group(int(c.session.detection.channels[spike]))
    units = c.keyed_units()
    key = 2 if units and c.session.assignment[spike] == units[0].id else 1
    c.select(np.array([spike]))
    keys[key].trigger()                                # as key 1 or 2 does
    if c.session.source[spike] == 1:
        unit = int(c.session.assignment[spike])
        print("made", spike, unit, flush=True)         # made, maybe not on disk yet
        window.workspace.flush()                       # its journal record synced ...
        print("edit", spike, unit, flush=True)         # ... so it must survive any kill now
        if phase == "save" and count[0] % 4 == 0 and not window.saver.running:
            window.files.save()                        # Ctrl+S, written in the background

timer = QTimer()
timer.timeout.connect(edit)
timer.start(int(1000 * (0.02 if phase == "burst" else interval)))
app.exec()
"""

PHASES = ("open", "edit", "burst", "save")


def make_session(folder: Path) -> Path:
    from spikeapp.detection import detect
    from spikeapp.io.demo import make_demo
    from spikeapp.session import Session
    from spikeapp.session.storage import save_session
    from spikeapp.tasks import run_job

    demo = make_demo(seed=0)
    path = folder / "drill.spikeapp"
    save_session(Session(run_job(detect(demo.recording())), recording={"path": "<demo>"}),
                 path)
    return path


def run_child(path: Path, phase: str, interval: float, alive: float, env: dict
              ) -> tuple[set[tuple[int, int]] | None, list[tuple[int, int]],
                         list[tuple[int, int]], bool]:
    """Start the app in ``phase``, kill it after ``alive`` s: the (spike, unit) pairs labelled
    when it had opened (None: killed before), the edits it said were on disk, the edit made
    but not yet said to be (at most one), whether it had died on its own."""
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path), phase, str(interval)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    time.sleep(alive)
    died = child.poll() is not None
    if not died:
        os.kill(child.pid, signal.SIGKILL)
    out, err = child.communicate()
    if died:
        raise SystemExit(f"the app exited on its own ({child.returncode}):\n{err[-3000:]}")
    labelled, edits, made = None, [], []
    for line in out.splitlines():
        words = line.split()
        if words and words[0] == "labelled":
            labelled = _pairs(words)
        elif words and words[0] in ("made", "edit"):
            (made if words[0] == "made" else edits).append((int(words[1]), int(words[2])))
    # The edit the kill caught between being made and being on disk: it may or may not be back.
    in_flight = made[len(edits):][:1]
    return labelled, edits, in_flight, died


def _pairs(words: list[str]) -> set[tuple[int, int]]:
    """The (spike, unit) pairs of a "labelled" line."""
    if len(words) < 2:
        return set()
    return {(int(a), int(b)) for a, b in (pair.split(":") for pair in words[1].split(","))}


def after(labelled: set[tuple[int, int]], edits: list[tuple[int, int]]
          ) -> set[tuple[int, int]]:
    """What is labelled once ``edits`` (spike, unit) are made, in order, on ``labelled``."""
    units = dict(labelled)
    for spike, unit in edits:
        units[spike] = unit
    return set(units.items())


def opened(path: Path, env: dict) -> set[tuple[int, int]]:
    """The spikes labelled when the app opens the session (recovering what a crash left); the
    app is killed as soon as it said."""
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path), "open", "3600"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    for line in child.stdout:
        words = line.split()
        if words and words[0] == "labelled":
            os.kill(child.pid, signal.SIGKILL)
            child.communicate()
            return _pairs(words)
    _out, err = child.communicate()
    raise SystemExit(f"the app did not open the session:\n{err[-3000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between edits")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    folder = Path(tempfile.mkdtemp(prefix="spikeapp-drill-"))
    path = make_session(folder)
    env = dict(os.environ, SPIKEAPP_DATA=str(folder / "data"), HOME=str(folder),
               QT_QPA_PLATFORM="offscreen",
               PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    started = time.monotonic()
    expected = opened(path, env)
    landed: Counter = Counter()
    worst, lost_total, phantoms, edits_made = 0, 0, 0, 0
    print(f"{'kill':>4} {'phase':>6} {'alive s':>7} {'edits':>5} {'expected':>8} "
          f"{'back':>5} {'lost':>4} {'phantom':>7}")
    for kill in range(1, args.kills + 1):
        phase = PHASES[kill % len(PHASES)]
        # Opening takes a few seconds here: 'open' kills land anywhere in it (and recovery).
        alive = float(rng.uniform(0.2, 4.0) if phase == "open" else rng.uniform(4.0, 9.0))
        labelled, edits, in_flight, _ = run_child(path, phase, args.interval, alive, env)
        landed[phase if labelled is not None or phase == "open" else "open"] += 1
        if labelled is not None:
            # What it opened with must be what the last run left (checked again below).
            missing, extra = expected - labelled, labelled - expected
            if missing or extra:
                worst = max(worst, len(missing))
                phantoms += len(extra)
            expected = after(labelled, edits)
            edits_made += len(edits)
        # The edit in flight (made, not yet on disk) may be back or not; nothing else may be
        # missing or added.
        with_it = after(expected, in_flight)
        back = opened(path, env)
        lost = min(len(expected - back), len(with_it - back))
        phantom = len(back - expected - with_it)
        worst, lost_total, phantoms = max(worst, lost), lost_total + lost, phantoms + phantom
        print(f"{kill:>4} {phase:>6} {alive:>7.1f} {len(edits):>5} {len(expected):>8} "
              f"{len(back):>5} {lost:>4} {phantom:>7}", flush=True)
        expected = back
    print("kills landed: " + ", ".join(f"{p} {landed[p]}" for p in PHASES))
    print(f"{(time.monotonic() - started) / 60:.1f} min, {edits_made} edits made, "
          f"{lost_total} lost in all")
    print(f"kills {args.kills}")
    print(f"phantom_labels {phantoms}")
    print(f"lost_edits {worst}")
    if edits_made == 0:
        raise SystemExit("no edit was made: the drill tested nothing")
    if worst or phantoms:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
