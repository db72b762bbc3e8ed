"""Long recordings: detection wall time and peak memory for 10, 30 and 60 minutes of a generated
32-channel, 30 kHz recording, as raw binary and as NWB, and how responsive the window stays
while it detects the longest one.

    python benchmarks/scale.py                       # 10,30,60 min; binary and nwb; window
    python benchmarks/scale.py --minutes 2,6 --formats binary --no-gui    # quicker

Each detection runs in its own process (peak resident memory is per process) with a detection
journal, as the app runs it (waveforms on disk). Baseline for the ratios: the shortest length;
memory that stays flat as the length grows gives a peak ratio near 1. What does grow is the spike
table held for the views (time, channel, amplitude, features: about 60 bytes a spike), printed
as well.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from detection import CHANNELS, FS, PEAK_MB, measure, write_timed  # noqa: E402

READER = {"binary": {"format": "binary", "dtype": "int16", "n_channels": CHANNELS,
                     "sampling_rate": float(FS), "gain": 0.195},
          "nwb": {}}

CHILD = PEAK_MB + """from spikeapp.io import open_recording
from spikeapp.detection import detect
from spikeapp.tasks import run_job
path, journal, options = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
start = time.perf_counter()
with open_recording(path, **options) as rec:
    result = run_job(detect(rec, {"chunk_s": 5.0}, journal_dir=journal))
print(json.dumps({"seconds": time.perf_counter() - start, "spikes": int(result.n_spikes),
                  "peak_mb": peak_mb()}))
"""

GUI_CHILD = """
import json, os, sys, time
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from PyQt6.QtCore import QTimer
from PyQt6.QtWidgets import QApplication
app = QApplication([])
from spikeapp.gui.main_window import MainWindow
path, options = sys.argv[1], json.loads(sys.argv[2])
window = MainWindow(); window.resize(1400, 900); window.show()
gaps, last = [], [time.perf_counter()]
def tick():
    now = time.perf_counter(); gaps.append(now - last[0]); last[0] = now
timer = QTimer(); timer.timeout.connect(tick); timer.start(10)
start = time.perf_counter()
window.files.open_recording_path(path, options)
while window.controller.session is None and time.perf_counter() - start < 3600:
    app.processEvents()
    time.sleep(0.002)
    if getattr(window, "last_error", ""):
        break
seconds = time.perf_counter() - start
timer.stop()
gaps = sorted(gaps)
print(json.dumps({"seconds": seconds, "ticks": len(gaps),
                  "worst_ms": 1000 * gaps[-1] if gaps else None,
                  "p99_ms": 1000 * gaps[int(0.99 * (len(gaps) - 1))] if gaps else None,
                  "spikes": window.controller.session.n_spikes if window.controller.session else 0,
                  "error": getattr(window, "last_error", "")}))
window.close()
"""


def write_nwb(raw: Path, path: Path) -> None:
    """The same samples in an NWB ElectricalSeries (int16, 0.195 µV steps), written chunk by
    chunk."""
    from datetime import datetime, timezone

    from hdmf.backends.hdf5.h5_utils import H5DataIO
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.ecephys import ElectricalSeries

    nwb = NWBFile(session_description="spikeapp scale benchmark", identifier=path.stem,
                  session_start_time=datetime.now(timezone.utc))
    device = nwb.create_device(name="probe")
    group = nwb.create_electrode_group(name="shank", description="generated", location="none",
                                       device=device)
    for _ in range(CHANNELS):
        nwb.add_electrode(group=group, location="none")
    region = nwb.create_electrode_table_region(list(range(CHANNELS)), "all")
    frames = np.memmap(raw, dtype=np.int16, mode="r").reshape(-1, CHANNELS)
    # h5py copies from the memory map one chunk at a time; chunks of one second, all channels.
    data = H5DataIO(data=frames, chunks=(FS, CHANNELS))
    nwb.add_acquisition(ElectricalSeries(name="ElectricalSeries", data=data, electrodes=region,
                                         rate=float(FS), conversion=0.195e-6))
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", default="10,30,60")
    parser.add_argument("--formats", default="binary,nwb")
    parser.add_argument("--workdir", default=None, help="where to write the recordings")
    parser.add_argument("--no-gui", action="store_true", help="skip the window measurement")
    args = parser.parse_args()
    lengths = [float(m) for m in args.minutes.split(",")]
    formats = [f for f in args.formats.split(",") if f]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"# {CHANNELS} channels, {FS} Hz int16, {cores} cores; detection with a journal")
    with tempfile.TemporaryDirectory(dir=args.workdir) as work:
        results: dict[str, list[tuple[float, dict]]] = {f: [] for f in formats}
        for minutes in lengths:
            raw = Path(work) / f"rec_{minutes:g}min.raw"
            write_timed(raw, minutes)
            for fmt in formats:
                path = raw
                if fmt == "nwb":
                    path = raw.with_suffix(".nwb")
                    t0 = time.perf_counter()
                    write_nwb(raw, path)
                    print(f"  as NWB in {time.perf_counter() - t0:.0f} s", flush=True)
                out = measure(CHILD, str(path), str(Path(work) / f"journal_{fmt}_{minutes:g}"),
                          json.dumps(READER[fmt]))
                results[fmt].append((minutes, out))
                report(fmt, minutes, out)
                if fmt == "nwb":
                    path.unlink()
            if not args.no_gui and minutes == max(lengths):
                gui = measure(GUI_CHILD, str(raw), json.dumps(READER["binary"]))
                if "error" in gui and gui["error"] and "seconds" not in gui:
                    print(f"window: failed: {gui['error']}")
                else:
                    print(f"window, {minutes:g} min binary: detected {gui['spikes']} spikes in "
                          f"{gui['seconds']:.0f} s while the event loop ticked {gui['ticks']} "
                          f"times; longest stall {gui['worst_ms']:.0f} ms, 99th percentile "
                          f"{gui['p99_ms']:.0f} ms", flush=True)
            raw.unlink()
            for journal in Path(work).glob("journal_*"):
                shutil.rmtree(journal, ignore_errors=True)
        for fmt, rows in results.items():
            good = [(m, r) for m, r in rows if "peak_mb" in r]
            if len(good) > 1:
                (m0, r0), (m1, r1) = good[0], good[-1]
                table = (r1["spikes"] - r0["spikes"]) * 60 / 2**20
                print(f"{fmt}: peak memory {m1:g} min / {m0:g} min = "
                      f"{r1['peak_mb'] / r0['peak_mb']:.2f} ({r1['peak_mb'] - r0['peak_mb']:.0f} MB "
                      f"more, of which about {table:.0f} MB is the larger spike table)")


def report(fmt: str, minutes: float, out: dict) -> None:
    if "error" in out:
        print(f"{fmt} {minutes:g} min: failed: {out['error']}", flush=True)
        return
    print(f"{fmt} {minutes:g} min: {out['seconds']:.1f} s = {minutes * 60 / out['seconds']:.0f}x "
          f"real time, peak {out['peak_mb']:.0f} MB, {out['spikes']} spikes", flush=True)


if __name__ == "__main__":
    main()
