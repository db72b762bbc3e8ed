"""Scale-out: ``spikeapp sort`` of a 32-channel probe in eight groups of four, one group after
another (``--workers 1``), on all local cores (``--workers N``), and through a Dask scheduler
with two workers that this script starts as separate processes (``dask scheduler``, ``dask
worker``; ``spikeapp sort --scheduler``): wall time and peak memory of each.

    python benchmarks/scale_out.py                # 60 s of recording, N = the cores here
    python benchmarks/scale_out.py --threads 0    # against one worker on every core
    python benchmarks/scale_out.py --seconds 1800 --workers 8
    python benchmarks/scale_out.py --dask-workers 0   # no Dask run

The recording is generated (benchmarks/gtsim.py's probe: 32 sites, 30 kHz, three units near
every group of four sites), written as int16 raw binary; every unit gets 20 seed labels on its
best channel, so every group trains. Each run is its own process tree; its peak memory is the
largest sum of the resident memory of the sort and its worker processes (for Dask: the sort,
the scheduler and the workers), sampled every 0.1 s.

Identity: results depend on the torch thread count, so by default every run trains every group
with one thread (``--threads 1``, what N workers on N cores take) and the spike trains (the
unit of every spike, by channel and time) and the whole CSV, confidences included, must be
equal: the run fails otherwise. ``--threads 0`` lets each run take its own threads (one worker
then takes every core, today's default serial run): the speedup a user sees over that, with the
count of spikes whose unit differs (trainings at different thread counts drift apart).

The last line: ``speedup X`` (wall time of one worker over N local workers).
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gtsim import CaseSpec, UnitSpec, _probe_sites, _shape, simulate  # noqa: E402

FS = 30000.0
GAIN = 0.01                         # the simulated signal is in noise SDs; int16 steps of 0.01
GROUPS = [f"{4 * g}-{4 * g + 3}" for g in range(8)]


def probe_case(seconds: float, seed: int = 0) -> CaseSpec:
    """Three units near every group of four sites (rows 2g and 2g+1 of the 16 x 2 probe)."""
    rng = np.random.default_rng(seed)
    units = []
    for group in range(8):
        for _ in range(3):
            position = (rng.uniform(-5, 27), rng.uniform(40 * group, 40 * group + 20),
                        rng.uniform(12, 28))
            units.append(UnitSpec(rng.uniform(6, 12), rng.uniform(4, 10), _shape(rng), position))
    groups = tuple(tuple(range(4 * g, 4 * g + 4)) for g in range(8))
    return CaseSpec("scale_out_probe32", "probe", FS, seconds, tuple(units), _probe_sites(),
                    groups, background=60)


SEGMENT_S = 300.0   # generated this much at a time (the simulator holds a segment in memory)


def write_case(folder: Path, seconds: float, labels: int) -> tuple[Path, Path]:
    """The recording (int16 raw binary) and its seed labels: ``labels`` per unit. Generated in
    segments of at most SEGMENT_S seconds, each its own draw (spike times, background) of the
    same units, written one after the other: 30 minutes of 32 channels in float64 would not fit
    in memory at once."""
    started = time.perf_counter()
    raw = folder / "probe32.raw"
    times, units, best = [], [], None
    count = max(1, int(np.ceil(seconds / SEGMENT_S)))
    with open(raw, "wb") as handle:
        for k in range(count):
            length = min(SEGMENT_S, seconds - k * SEGMENT_S) if count > 1 else seconds
            sim = simulate(probe_case(length), seed=k)
            np.clip(np.round(sim.data / GAIN), -32768, 32767).astype(np.int16).tofile(handle)
            times.append(sim.truth_times_s + k * SEGMENT_S)
            units.append(sim.truth_units)
            best = sim.best_channel if best is None else best
            del sim
    truth_times, truth_units = np.concatenate(times), np.concatenate(units)
    rng = np.random.default_rng(1)
    seeds = folder / "seeds.csv"
    with open(seeds, "w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["time_s", "channel", "unit"])
        for unit in np.unique(truth_units):
            chosen = truth_times[truth_units == unit]
            for t in np.sort(rng.choice(chosen, min(labels, len(chosen)), replace=False)):
                out.writerow([f"{t:.6f}", int(best[unit]), f"u{unit}"])
    print(f"generated {seconds:g} s x 32 channels in {count} segment(s), {len(truth_times)} "
          f"true spikes of {len(np.unique(truth_units))} units in "
          f"{time.perf_counter() - started:.0f} s ({raw.stat().st_size / 2**20:.0f} MiB)",
          flush=True)
    return raw, seeds


def _tree_rss_mb(root: int) -> float:
    """Resident memory of ``root`` and all its descendants (from /proc)."""
    parent_of, rss = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as handle:
                fields = dict(line.split(":", 1) for line in handle if ":" in line)
        except OSError:
            continue
        pid = int(entry)
        parent_of[pid] = int(fields.get("PPid", "0").strip() or 0)
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0] or 0) if "VmRSS" in fields else 0
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, parent in parent_of.items() if parent in tree} - tree
        grew = bool(more)
        tree |= more
    return sum(rss.get(pid, 0) for pid in tree) / 1024


def _checkout_env() -> dict[str, str]:
    """This checkout's spikeapp, in the sort and in every process it or we start."""
    return dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(Path(__file__).resolve().parents[1])] + os.environ.get("PYTHONPATH", "").split(
            os.pathsep)).rstrip(os.pathsep))


def run_sort(raw: Path, seeds: Path, out: Path, workers: int, threads: int | None,
             scheduler: str | None = None, others: tuple[int, ...] = ()
             ) -> tuple[float, float, str]:
    """One ``spikeapp sort``: wall seconds, peak MB of its process tree (and of ``others``, the
    Dask scheduler and workers), its output."""
    command = [sys.executable, "-m", "spikeapp", "sort", str(raw), "--format", "binary",
               "--dtype", "int16", "--n-channels", "32", "--sampling-rate", str(FS),
               "--gain", str(GAIN), "--labels", str(seeds), "--out", str(out), "-q"]
    command += ["--scheduler", scheduler] if scheduler else ["--workers", str(workers)]
    for group in GROUPS:
        command += ["--group", group]
    if threads:
        command += ["--threads", str(threads)]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=_checkout_env())
    peak = [0.0]

    def sample() -> None:
        while process.poll() is None:
            peak[0] = max(peak[0], sum(_tree_rss_mb(pid) for pid in (process.pid, *others)))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = process.communicate()
    seconds = time.perf_counter() - started
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"spikeapp sort {'on Dask' if scheduler else f'--workers {workers}'} "
                         f"failed ({process.returncode}):\n{stderr[-2000:]}")
    return seconds, peak[0], stdout


class DaskProcesses:
    """``dask scheduler`` and ``workers`` x ``dask worker --nthreads 1``, each its own process,
    as a lab would start them on its machines."""

    def __init__(self, folder: Path, workers: int) -> None:
        self.file = folder / "scheduler.json"
        env = _checkout_env()
        quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        self.scheduler = subprocess.Popen(
            [sys.executable, "-m", "dask", "scheduler", "--scheduler-file", str(self.file),
             "--port", "0", "--dashboard-address", ":0"], **quiet)
        deadline = time.monotonic() + 60
        while not self.file.exists():
            if time.monotonic() > deadline or self.scheduler.poll() is not None:
                self.close()
                raise SystemExit("dask scheduler did not start")
            time.sleep(0.2)
        time.sleep(0.5)   # the file is written before it is complete on slow disks
        self.workers = [subprocess.Popen(
            [sys.executable, "-m", "dask", "worker", "--scheduler-file", str(self.file),
             "--nthreads", "1", "--nworkers", "1", "--dashboard-address", ":0"], **quiet)
            for _ in range(workers)]
        import json

        from distributed import Client

        self.address = json.loads(self.file.read_text())["address"]
        with Client(self.address, timeout="60s") as client:
            client.wait_for_workers(workers, timeout=120)

    @property
    def pids(self) -> tuple[int, ...]:
        return tuple(p.pid for p in [self.scheduler, *self.workers])

    def close(self) -> None:
        for process in [*getattr(self, "workers", []), self.scheduler]:
            process.terminate()
        for process in [*getattr(self, "workers", []), self.scheduler]:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def spike_trains(folder: Path) -> tuple[dict[tuple[str, str], str], dict[tuple[str, str], float],
                                        list[dict]]:
    """Per spike (channel, time): its unit and its confidence; and the CSV's rows."""
    with open(folder / "spiketrains.csv") as handle:
        rows = list(csv.DictReader(handle))
    units = {(r["channel"], r["time_s"]): r["unit"] for r in rows}
    confidence = {(r["channel"], r["time_s"]): float(r["confidence"]) for r in rows}
    return units, confidence, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="recording length")
    parser.add_argument("--workers", type=int, default=0,
                        help="the parallel run's workers (default: every core here)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads per group in every run (default 1, what N workers on "
                        "N cores take; 0: each run its own, one worker then takes every core)")
    parser.add_argument("--labels", type=int, default=20, help="seed labels per unit")
    parser.add_argument("--dask-workers", type=int, default=2,
                        help="dask worker processes of the Dask run (0: no Dask run)")
    parser.add_argument("--workdir", default=None, help="where to write the recording")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    workers = args.workers or cores
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        folder = Path(tmp)
        raw, seeds = write_case(folder, args.seconds, args.labels)
        results = {}
        runs = [(f"--workers {count}", count) for count in dict.fromkeys((1, workers))]
        if args.dask_workers:
            runs.append((f"dask, {args.dask_workers} workers", 0))
        for name, count in runs:
            dask = DaskProcesses(folder, args.dask_workers) if not count else None
            try:
                seconds, peak, stdout = run_sort(
                    raw, seeds, folder / f"run{len(results)}", count, args.threads or None,
                    dask.address if dask else None, dask.pids if dask else ())
            finally:
                if dask is not None:
                    dask.close()
            summary = [line for line in stdout.splitlines() if "spikes sorted" in line]
            results[name] = (seconds, peak, spike_trains(folder / f"run{len(results)}"))
            print(f"{name:<18} {seconds:7.1f} s  peak {peak:7.0f} MB  "
                  f"({summary[0].split(' in ')[0] if summary else '?'})", flush=True)
        first = runs[0][0]
        t1, _, (trains1, conf1, rows1) = results[first]
        same = True
        for name, _ in runs[1:]:
            _, _, (trains_n, conf_n, rows_n) = results[name]
            equal = trains1 == trains_n
            moved = sum(trains1.get(k) != trains_n.get(k) for k in set(trains1) | set(trains_n))
            drift = max((abs(conf1[k] - conf_n[k]) for k in set(conf1) & set(conf_n)),
                        default=0.0)
            print(f"{name} against {first}: spike trains identical: {equal} ({len(trains1)} "
                  f"spikes, {moved} in another unit or missing); largest confidence difference "
                  f"{drift:.4f}")
            if args.threads:
                strip = [{k: v for k, v in r.items() if k != "labelled_at"} for r in rows1]
                same_csv = strip == [{k: v for k, v in r.items() if k != "labelled_at"}
                                     for r in rows_n]
                print(f"  whole CSV identical at --threads {args.threads}: {same_csv}")
                equal = equal and same_csv
            same = same and equal
        print(f"{cores} cores, {len(GROUPS)} groups of 4 channels, threads per group: "
              f"{args.threads or 'each run its own'}")
        if not same:
            print("NOT IDENTICAL" + ("" if args.threads else " (expected: the runs train with "
                                     "different thread counts)"))
        tn = results[runs[1][0]][0] if len(runs) > 1 and runs[1][1] else t1
        print(f"speedup {t1 / tn:.2f}")
        if args.threads and not same:
            sys.exit(1)


if __name__ == "__main__":
    main()
