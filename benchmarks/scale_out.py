"""Scale-out: ``spikeapp sort`` of a 32-channel probe in eight groups of four, one group after
another (``--workers 1``) against all local cores (``--workers N``), wall time and peak memory.

    python benchmarks/scale_out.py                # 60 s of recording, N = the cores here
    python benchmarks/scale_out.py --threads 0    # against one worker on every core
    python benchmarks/scale_out.py --seconds 180 --workers 8

The recording is generated (benchmarks/gtsim.py's probe: 32 sites, 30 kHz, three units near
every group of four sites), written as int16 raw binary; every unit gets 20 seed labels on its
best channel, so every group trains. Each run is its own process tree; its peak memory is the
largest sum of the resident memory of the sort and its worker processes, sampled every 0.1 s.

Identity: results depend on the torch thread count, so by default both runs train every group
with one thread (``--threads 1``, what N workers on N cores take) and the spike trains (the
unit of every spike, by channel and time) and the whole CSV, confidences included, must be
equal: the run fails otherwise. ``--threads 0`` lets each run take its own threads (one worker
then takes every core, today's default serial run): the speedup a user sees over that, with the
count of spikes whose unit differs (trainings at different thread counts drift apart).

Executors: only ``local`` (worker processes on this machine) for now. A Dask executor
(``distributed.LocalCluster`` / ``dask_jobqueue.SLURMCluster``, mapping the same per-group
function as the local pool, spikeapp.workflow.parallel) is where ``--executor dask`` will go.

The last line: ``speedup X`` (wall time of one worker over N workers).
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
EXECUTORS = ("local",)              # "dask" comes later (see the docstring)


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


def write_case(folder: Path, seconds: float, labels: int) -> tuple[Path, Path]:
    """The recording (int16 raw binary) and its seed labels: ``labels`` per unit."""
    started = time.perf_counter()
    sim = simulate(probe_case(seconds), seed=0)
    raw = folder / "probe32.raw"
    np.clip(np.round(sim.data / GAIN), -32768, 32767).astype(np.int16).tofile(raw)
    rng = np.random.default_rng(1)
    seeds = folder / "seeds.csv"
    with open(seeds, "w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["time_s", "channel", "unit"])
        for unit in np.unique(sim.truth_units):
            times = sim.truth_times_s[sim.truth_units == unit]
            for t in np.sort(rng.choice(times, min(labels, len(times)), replace=False)):
                out.writerow([f"{t:.6f}", int(sim.best_channel[unit]), f"u{unit}"])
    print(f"generated {seconds:g} s x 32 channels, {len(sim.truth_times_s)} true spikes of "
          f"{len(np.unique(sim.truth_units))} units in {time.perf_counter() - started:.0f} s "
          f"({raw.stat().st_size / 2**20:.0f} MiB)", flush=True)
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


def run_sort(raw: Path, seeds: Path, out: Path, workers: int, threads: int | None
             ) -> tuple[float, float, str]:
    """One ``spikeapp sort``: wall seconds, peak MB of its process tree, its output."""
    command = [sys.executable, "-m", "spikeapp", "sort", str(raw), "--format", "binary",
               "--dtype", "int16", "--n-channels", "32", "--sampling-rate", str(FS),
               "--gain", str(GAIN), "--labels", str(seeds), "--out", str(out), "-q",
               "--workers", str(workers)]
    for group in GROUPS:
        command += ["--group", group]
    if threads:
        command += ["--threads", str(threads)]
    started = time.perf_counter()
    # This checkout's spikeapp, in the sort and in the workers it spawns.
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(Path(__file__).resolve().parents[1])] + os.environ.get("PYTHONPATH", "").split(
            os.pathsep)).rstrip(os.pathsep))
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env)
    peak = [0.0]

    def sample() -> None:
        while process.poll() is None:
            peak[0] = max(peak[0], _tree_rss_mb(process.pid))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = process.communicate()
    seconds = time.perf_counter() - started
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"spikeapp sort --workers {workers} failed ({process.returncode}):\n"
                         f"{stderr[-2000:]}")
    return seconds, peak[0], stdout


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
                        help="torch threads per group in both runs (default 1, what N workers on "
                        "N cores take; 0: each run its own, one worker then takes every core)")
    parser.add_argument("--labels", type=int, default=20, help="seed labels per unit")
    parser.add_argument("--executor", choices=EXECUTORS, default="local")
    parser.add_argument("--workdir", default=None, help="where to write the recording")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    workers = args.workers or cores
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        folder = Path(tmp)
        raw, seeds = write_case(folder, args.seconds, args.labels)
        results = {}
        for count in (1, workers):
            seconds, peak, stdout = run_sort(raw, seeds, folder / f"w{count}", count,
                                             args.threads or None)
            summary = [line for line in stdout.splitlines() if "spikes sorted" in line]
            results[count] = (seconds, peak, spike_trains(folder / f"w{count}"))
            print(f"--workers {count:<3} {seconds:7.1f} s  peak {peak:7.0f} MB  "
                  f"({summary[0].split(' in ')[0] if summary else '?'})", flush=True)
        (t1, _, (trains1, conf1, rows1)), (tn, _, (trains_n, conf_n, rows_n)) = (
            results[1], results[workers])
        same = trains1 == trains_n
        moved = sum(trains1.get(k) != trains_n.get(k) for k in set(trains1) | set(trains_n))
        drift = max((abs(conf1[k] - conf_n[k]) for k in set(conf1) & set(conf_n)), default=0.0)
        print(f"{cores} cores, {len(GROUPS)} groups of 4 channels, threads per group: "
              f"{args.threads or 'each run its own'}")
        print(f"spike trains identical: {same} ({len(trains1)} spikes, {moved} in another unit "
              f"or missing); largest confidence difference {drift:.4f}")
        if args.threads:
            strip = [{k: v for k, v in r.items() if k != "labelled_at"} for r in rows1]
            same_csv = strip == [{k: v for k, v in r.items() if k != "labelled_at"}
                                 for r in rows_n]
            print(f"whole CSV identical at --threads {args.threads}: {same_csv}")
            same = same and same_csv
        if not same:
            print("NOT IDENTICAL" + ("" if args.threads else " (expected: the runs train with "
                                     "different thread counts)"))
        print(f"speedup {t1 / tn:.2f}")
        if args.threads and not same:
            sys.exit(1)


if __name__ == "__main__":
    main()
