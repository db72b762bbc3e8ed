"""Crash drill: the real window, labelling every 2 s, killed with SIGKILL at random moments.

    python benchmarks/crash_drill.py [--kills 20] [--minutes 3] [--interval 2.0] [--seed 0]

A child process runs the app offscreen on a saved session of the demo (detected once here). It
labels one spike per edit through the window's own action (select the spike, press the key of
unit 1), and prints each edit once the action returned. The parent kills it with SIGKILL after a
random time, starts it again, and the child recovers the crash's edits as a user would (the
window offers them on opening the session; the drill answers yes) and prints how many spikes are
labelled. ``lost`` for one kill is the edits the window had made less those that came back.
Baseline: a session saved only by hand loses every edit since the last save. Last line:
``lost_edits X``, the worst over all kills (target: X <= 1, the edit in flight).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHILD = r"""
import os, sys
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
import numpy as np
from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtWidgets import QApplication
from spikeapp.gui.main_window import MainWindow

path, interval = sys.argv[1], float(sys.argv[2])
app = QApplication([])
window = MainWindow()
window.files.ask_recovery = lambda crashed: True      # the user recovers the crash's edits
window.files.ask_locate = lambda missing: None
window.show()
window.files.open_session(path)
c = window.controller
print("labelled", int((c.session.source == 1).sum()), flush=True)
order = np.random.default_rng(0).permutation(c.session.spikes_of_group(0))
action = next(a for a in window.all_actions if a.shortcut().toString() == "1")

def edit():
    free = order[c.session.source[order] == 0]
    c.select(free[:1])
    action.trigger()                                   # label as unit 1, as key 1 does
    print("edit", int(free[0]), flush=True)

timer = QTimer()
timer.timeout.connect(edit)
timer.start(int(interval * 1000))
app.exec()
"""


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between edits")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    folder = Path(tempfile.mkdtemp(prefix="spikeapp-drill-"))
    path = make_session(folder)
    env = dict(os.environ, SPIKEAPP_DATA=str(folder / "data"), HOME=str(folder),
               QT_QPA_PLATFORM="offscreen",
               PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    expected, worst, kills, lost_total, alive, edits = 0, 0, 0, 0, 0.0, 0
    started = time.monotonic()
    print(f"{'kill':>4} {'alive s':>7} {'edits':>5} {'expected':>8} {'recovered':>9} {'lost':>4}")
    while kills < args.kills or time.monotonic() - started < 60 * args.minutes:
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(path), str(args.interval)],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                 env=env)
        first = child.stdout.readline().split()
        if not first or first[0] != "labelled":
            child.kill()
            raise SystemExit(f"the app did not open the session: {first}")
        recovered = int(first[1])
        if kills:
            lost = expected - recovered
            worst, lost_total = max(worst, lost), lost_total + max(lost, 0)
            print(f"{kills:>4} {alive:>7.1f} {edits:>5} {expected:>8} {recovered:>9} {lost:>4}",
                  flush=True)
        expected = recovered
        alive = float(rng.uniform(0.3, 4.0) * args.interval)
        time.sleep(alive)
        os.kill(child.pid, signal.SIGKILL)
        out, _ = child.communicate()
        edits = sum(1 for line in out.splitlines() if line.startswith("edit"))
        expected += edits
        kills += 1
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path), "3600"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    recovered = int(child.stdout.readline().split()[1])
    child.kill()
    child.wait()
    lost = expected - recovered
    worst, lost_total = max(worst, lost), lost_total + max(lost, 0)
    print(f"{kills:>4} {alive:>7.1f} {edits:>5} {expected:>8} {recovered:>9} {lost:>4}")
    print(f"{kills} kills over {(time.monotonic() - started) / 60:.1f} min, {expected} edits "
          f"kept in all, {lost_total} lost; baseline (saving by hand, never saved here): "
          f"{expected} lost")
    print(f"lost_edits {worst}")


if __name__ == "__main__":
    main()
