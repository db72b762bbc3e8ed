"""Interaction latency with 1,000,000 spikes in a real (offscreen) window.

    QT_QPA_PLATFORM=offscreen python benchmarks/gui.py [--spikes 1000000]
    QT_QPA_PLATFORM=offscreen python benchmarks/gui.py --spikes 10000000 --rounds 3
    QT_QPA_PLATFORM=offscreen python benchmarks/gui.py --spikes 10000000 --groups 96

The synthetic session (one channel, four units; with --groups, the spikes spread over that many
channels of four units each, as a 96-channel array's, and the window shows the first) is made
and saved by another process; the
window opens the file as File > Open does (the waveforms stay on disk, memory-mapped): that
time is "open the saved session" (target < 10 s at 10M). The window's process memory comes
last (target < 4 GB at 10M): its own, the mapped waveforms' pages in memory (the system drops
them when it needs the room), the peak of both and the peak of its own (sampled every 20 ms).

Times, each including the redraw of every view: selecting a unit in the table, a lasso in the
feature view (applied to all spikes), recolouring after training (applying a network's
predictions to all spikes), recolouring again over those (a retrain's network, which moves 5 %
of the spikes), undo (of each). Target < 100 ms each. Each is taken with the window idle (every
background job done: those the last one started, and the proposed units worked out as the
recording opened), and is the time until the window answers again; the unit plots of big units
are worked out off the GUI thread and arrive later: ": plots drawn" is the time until they show.
Saving: the GUI thread's share of a save (copying the state; target < 200 ms) and the time until
the file is written on the worker thread. Stalls (``--stalls``): the longest the GUI thread went
without serving its event loop (a 5 ms timer's longest gap) while the first training runs and is
applied, while L finds the first question (and how long until it shows), and while ten answers
trigger the automatic retrain, which runs, is previewed and applied; and, in a fresh process,
while the window loads the modules it loads ahead as it opens. Each figure is the median (and
worst) of --rounds rounds after one round of warm-up. Baseline for the ratio: the same operation
with 100,000 spikes (a ratio near 1 means the cost does not grow with the count, because views
draw a bounded sample).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def synthetic_session(n: int, units: int = 4, seed: int = 0, groups: int = 1):
    """``n`` spikes of ``units`` units on each of ``groups`` single channels (spikes spread
    evenly over them, at random), 20 labels per unit."""
    from spikeapp.detection import DetectionResult
    from spikeapp.session import Session
    from spikeapp.session import commands as cmd

    rng = np.random.default_rng(seed)
    truth = rng.integers(0, units, n)
    t = np.arange(64)
    shapes = np.stack([-(80 + 30 * u) * np.exp(-0.5 * ((t - 20) / (2 + u)) ** 2)
                       for u in range(units)]).astype(np.float32)
    waveforms = np.empty((n, 1, 64), np.float32)
    for start in range(0, n, 1_000_000):   # a million at a time: 10M in float64 is 5 GB
        part = truth[start:start + 1_000_000]
        waveforms[start:start + len(part), 0] = shapes[part] + rng.normal(
            0, 10, (len(part), 64)).astype(np.float32)
    features = np.stack([shapes[truth, 20] + rng.normal(0, 10, n),
                         truth * 50 + rng.normal(0, 10, n)] + [rng.normal(0, 5, n)] * 3,
                        axis=1).astype(np.float32)
    times = np.sort(rng.uniform(0, 3600, n))
    channels = rng.integers(0, groups, n) if groups > 1 else np.zeros(n, np.int64)
    detection = DetectionResult(
        samples=(times * 30000).astype(np.int64), times_s=times, channels=channels,
        peak_channels=channels.copy(), amplitudes=waveforms[:, 0, 20].copy(),
        waveforms=waveforms, features=features, noise_uv=np.full(groups, 10.0),
        channel_ids=np.arange(groups), group_ids=np.arange(groups),
        group_channels=np.arange(groups)[:, None],
        sampling_rate=30000.0, t_start=0.0, n_samples=3600 * 30000,
        params={"pre_samples": 20, "freq_min": 300.0, "freq_max": 3000.0, "filter_order": 3,
                "threshold": 5.0})
    session = Session(detection)
    history = cmd.History(session)
    for group in range(groups):
        for u in range(units):
            history.do(cmd.label_new_unit(
                session, np.nonzero((truth == u) & (channels == group))[0][:20], name=f"u{u}"))
    return session, truth


def write_session(n: int, path: str, groups: int = 1) -> None:
    """The synthetic session saved to ``path`` and its truth beside it (in a process of its own:
    making it holds everything in memory, opening it must not)."""
    from spikeapp.session.storage import save_session

    session, truth = synthetic_session(n, groups=groups)
    save_session(session, path)
    np.save(path + ".truth.npy", truth)


class OwnPeak:
    """The largest own (anonymous) resident memory of this process while it runs, read every
    20 ms on a thread of its own (the kernel keeps a peak only of both kinds together)."""

    def __init__(self) -> None:
        import threading

        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.wait(0.02):
            self.peak_mb = max(self.peak_mb, memory_mb()[0])

    def start(self) -> OwnPeak:
        self._thread.start()
        return self

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak_mb


def memory_mb() -> tuple[float, float, float]:
    """This process's resident memory now (MB): its own (anonymous), the pages of mapped files
    in memory (the waveforms: the system drops them when it needs the room), and the peak of
    both together."""
    with open("/proc/self/status") as handle:
        fields = dict(line.split(":", 1) for line in handle if ":" in line)
    return tuple(int(fields[key].split()[0]) / 1024 for key in ("RssAnon", "RssFile", "VmHWM"))


def measure(n: int, rounds: int, groups: int = 1) -> dict[str, list[float]]:
    import multiprocessing
    import tempfile
    from pathlib import Path

    from PyQt6.QtWidgets import QApplication

    from spikeapp.gui.main_window import MainWindow
    from spikeapp.workflow.sorting import TrainingOutput

    folder = Path(tempfile.mkdtemp(prefix="spikeapp-gui-bench-"))
    os.environ["SPIKEAPP_DATA"] = str(folder / "data")   # the journal goes there
    path = folder / "synthetic.spikeapp"
    maker = multiprocessing.get_context("spawn").Process(target=write_session,
                                                         args=(n, str(path), groups))
    maker.start()
    maker.join()
    if maker.exitcode != 0:
        raise SystemExit(f"making the {n:,}-spike session failed ({maker.exitcode})")
    truth = np.load(str(path) + ".truth.npy")
    watch = OwnPeak().start()
    app = QApplication.instance() or QApplication([])
    window = MainWindow()
    window.files.confirm_discard = lambda: True
    window.files.ask_locate = lambda _missing: None
    window.resize(1400, 900)
    window.show()
    app.processEvents()
    started = time.perf_counter()
    window.files.open_session(str(path))   # as File > Open does, waveforms mapped
    app.processEvents()
    opened_ms = 1000 * (time.perf_counter() - started)
    if window.controller.session is None or window.controller.session.n_spikes != n:
        raise SystemExit(f"{path} did not open")
    c = window.controller
    units = [u.id for u in c.units()]
    results: dict[str, list[float]] = {}

    from spikeapp.gui.workers import JobRunner

    runners = window.findChildren(JobRunner)

    def idle() -> None:
        """Until the background work is done (the proposed units the window works out as a
        recording opens, unit metrics, unit plots, the journal's writing): a person does not
        act ten times a second, and a measure taken while another job holds the interpreter
        (the proposals of ten million spikes take a minute) would count that job."""
        while window.units.pending.isActive() or any(r.running for r in runners):
            app.processEvents()
            time.sleep(0.005)
        c.workspace.flush()

    paints = PaintCounter()
    app.installEventFilter(paints)

    def drawn() -> None:
        """Until the views have redrawn (the event loop's deferred redraw) and painted: the
        paint events come an iteration or two later, so until two pass with none."""
        quiet = 0
        while quiet < 2 or window._redraw.isActive() or window._stale:
            before = paints.count
            app.processEvents()
            quiet = quiet + 1 if paints.count == before else 0

    def timed(name, action):
        idle()
        started = time.perf_counter()
        action()
        drawn()
        results.setdefault(name, []).append(1000 * (time.perf_counter() - started))
        if name.startswith("save"):
            return
        if window.unit_plots._runner.running:   # big units' plots: worked out in the background
            while window.unit_plots._runner.running:
                app.processEvents()
                time.sleep(0.001)
            drawn()
        results.setdefault(name + ": plots drawn", []).append(
            1000 * (time.perf_counter() - started))

    spikes = c.session.spikes_of_group(c.group)   # the channel shown (the first)
    output = TrainingOutput(c.group, None, b"", spikes, np.asarray(units)[truth[spikes]],
                            np.full(len(spikes), 0.97, np.float32), unit_ids=np.asarray(units))
    moved = np.random.default_rng(1).random(len(spikes)) < 0.05
    retrained = TrainingOutput(c.group, None, b"", spikes,
                               np.where(moved, np.roll(output.assigned, 1), output.assigned),
                               np.full(len(spikes), 0.95, np.float32), unit_ids=np.asarray(units))
    angles = np.linspace(0, 2 * np.pi, 30)
    polygon = np.stack([-110 + 15 * np.cos(angles), 50 + 15 * np.sin(angles)], axis=1)
    # Round 0 warms caches up (fonts, first paint) and is not counted.
    for round_ in range(rounds + 1):
        timed("recolour after training", lambda: c.apply_training(output))
        timed("select a unit", lambda r=round_: c.select_units([units[1 + r % 2]]))
        timed("lasso (all spikes)", lambda: window.features.select_polygon(polygon))
        selected = float(len(c.selection))
        # A retrain: its network moves 5 % of the spikes (the old ids have no one value to pack)
        timed("recolour over the last network", lambda: c.apply_training(retrained))
        timed("undo", c.undo)
        timed("undo", c.undo)
        started = time.perf_counter()
        timed("save: GUI thread", lambda: window.files.save_in_background(folder / "s.spikeapp"))
        while window.saver.running:
            app.processEvents()
            time.sleep(0.005)
        results.setdefault("save: until written", []).append(
            1000 * (time.perf_counter() - started))
        if round_ == 0:
            results = {}
    results["lasso selected"] = [selected]
    results["open the saved session"] = [opened_ms]
    own, mapped, peak = memory_mb()
    results["memory now: own, MB"], results["memory now: mapped files, MB"] = [own], [mapped]
    results["memory peak: both, MB"] = [peak]
    results["memory peak: own, MB"] = [watch.stop()]
    window.close()
    import shutil

    shutil.rmtree(folder, ignore_errors=True)
    return results


def PaintCounter():   # noqa: N802 - a QObject class made where Qt is loaded
    from PyQt6.QtCore import QEvent, QObject

    class Counter(QObject):
        """Counts the paint events of every widget (installed on the application)."""

        count = 0

        def eventFilter(self, _obj, event):  # noqa: N802 - Qt naming
            if event.type() == QEvent.Type.Paint:
                self.count += 1
            return False

    return Counter()


class StallMeter:
    """The longest gap between ticks of a 5 ms timer on the GUI thread: how long the window
    could not answer."""

    def __init__(self) -> None:
        from PyQt6.QtCore import QTimer

        self.timer = QTimer()
        self.timer.setInterval(5)
        self.timer.timeout.connect(self._tick)
        self.longest = 0.0
        self._last = 0.0

    def _tick(self) -> None:
        now = time.perf_counter()
        self.longest = max(self.longest, now - self._last)
        self._last = now

    def __enter__(self) -> StallMeter:
        self.longest, self._last = 0.0, time.perf_counter()
        self.timer.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.timer.stop()
        self._tick()


def opening_stall(results) -> None:
    """In a fresh process (nothing loaded yet): the longest GUI-thread stall from the window's
    first paint until the modules it loads ahead (torch, scikit-learn, torch._dynamo) are in,
    and how long that takes; put in ``results`` (a queue)."""
    from PyQt6.QtWidgets import QApplication

    from spikeapp.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    window = MainWindow()
    window.resize(1400, 900)
    window.show()
    app.processEvents()
    with StallMeter() as meter:
        started = time.perf_counter()
        while window.warm_up.is_alive():
            app.processEvents()
            time.sleep(0.002)
        loaded = time.perf_counter() - started
    results.put({"opening: modules loaded ahead after": 1000 * loaded,
                 "opening: longest stall meanwhile": 1000 * meter.longest})
    window.close()


def measure_opening() -> dict[str, float]:
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    process = context.Process(target=opening_stall, args=(results,))
    process.start()
    out = results.get(timeout=600)
    process.join()
    return out


def measure_stalls(n: int) -> dict[str, float]:
    """Longest GUI-thread stalls (ms) during a real training and its apply, L, and the
    automatic retrain after ten answers from the queue."""
    import tempfile
    from pathlib import Path

    from PyQt6.QtWidgets import QApplication

    from spikeapp.gui.main_window import MainWindow

    folder = Path(tempfile.mkdtemp(prefix="spikeapp-gui-stalls-"))
    os.environ["SPIKEAPP_DATA"] = str(folder / "data")
    app = QApplication.instance() or QApplication([])
    window = MainWindow()
    window.files.confirm_discard = lambda: True
    window.ask_preview = lambda summary, stale=False: "all"
    window.resize(1400, 900)
    window.show()
    session, truth = synthetic_session(n)
    window.warm_up.join()   # the modules the window loads as it opens
    window.controller.set_session(session)
    c = window.controller

    def settle(condition, limit_s: float = 1800) -> float:
        started = time.perf_counter()
        while not condition():
            app.processEvents()
            time.sleep(0.002)
            if time.perf_counter() - started > limit_s:
                raise TimeoutError("the window did not settle")
        return time.perf_counter() - started

    settle(lambda: not window.busy())
    out: dict[str, float] = {}
    with StallMeter() as meter:
        window.sort.train()
        out["training: wall s"] = settle(lambda: not window.busy() and c.session.source.max() > 1)
    out["training and its apply: longest stall"] = 1000 * meter.longest
    with StallMeter() as meter:
        started = time.perf_counter()
        window.sort.start_queue()
        settle(lambda: window.queue.current is not None)
        out["L: first question after"] = 1000 * (time.perf_counter() - started)
        settle(lambda: not window.queuer.running)   # the ranked queue, from its worker
        out["L: ranked queue after"] = 1000 * (time.perf_counter() - started)
    out["L: longest stall"] = 1000 * meter.longest
    units = [u.id for u in c.units()]
    with StallMeter() as meter:
        for _ in range(window.queue.auto.value()):
            settle(lambda: window.queue.current is not None or not window.queuer.running, 600)
            spike = window.queue.current
            if spike is None:
                raise RuntimeError("the queue ran out before the automatic retrain")
            c.select(np.array([spike]))
            c.label_key(units.index(units[int(truth[spike])]) + 1)   # the person's key
            app.processEvents()
        settle(lambda: window.trainer.running)
        out["retrain: wall s"] = settle(lambda: not window.busy())
    out["automatic retrain and its apply: longest stall"] = 1000 * meter.longest
    window.close()
    import shutil

    shutil.rmtree(folder, ignore_errors=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spikes", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--groups", type=int, default=1,
                        help="spread the spikes over this many channels (a 96-channel array: "
                        "96); the window shows, trains and recolours the first")
    parser.add_argument("--stalls", action="store_true",
                        help="also train, run L and the automatic retrain (minutes at 1M)")
    args = parser.parse_args()
    small = measure(100_000, args.rounds)
    large = measure(args.spikes, args.rounds, args.groups)
    print(f"median (worst) of {args.rounds} rounds; {args.spikes:,} spikes on {args.groups} "
          "channel(s), the first shown (100,000: on one)")
    for name, values in large.items():
        if name == "lasso selected":
            print(f"lasso selected {int(values[0])} of {args.spikes:,} spikes")
            continue
        if name.startswith("memory"):
            print(f"{name:<26} {values[0]:8.0f} at {args.spikes:,} spikes; {small[name][0]:6.0f} "
                  "after the 100,000 (the window's process; the session was made in another)")
            continue
        value, base = float(np.median(values)), float(np.median(small[name]))
        print(f"{name:<26} {value:6.1f} ms ({max(values):6.1f}) at {args.spikes:,} spikes; "
              f"{base:6.1f} ms at 100,000; ratio {value / base:.2f}")
    if args.stalls:
        for name, value in measure_opening().items():
            print(f"{name:<48} {value:8.1f} ms (a fresh process)")
        for name, value in measure_stalls(args.spikes).items():
            unit = "s" if name.endswith("wall s") else "ms"
            print(f"{name:<48} {value:8.1f} {unit} at {args.spikes:,} spikes")


if __name__ == "__main__":
    main()
