"""Filter + detect throughput and peak memory, against SpikeInterface, in one run.

    python benchmarks/detection.py                 # 10 and 60 minutes, 32 ch, 30 kHz
    python benchmarks/detection.py --minutes 1,6   # quicker

A generated 32-channel, 30 kHz int16 recording (noise plus spikes) is written to a raw binary
file per length. Each measurement runs in its own process, which reports its wall time and peak
resident memory. SpikeInterface (``pip install -e .[bench]``) runs ``bandpass_filter`` +
``detect_peaks(method="by_channel")`` with the same band, threshold and cores; it is measured on
the shortest length only. Baseline: SpikeInterface; ratio > 1 means spikeapp is faster.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

FS = 30_000
CHANNELS = 32


def write_recording(path: Path, minutes: float, seed: int = 0) -> None:
    """Noise (SD 20 uV in 0.195 uV steps) with spikes of 3 units per channel, 10 s at a time."""
    rng = np.random.default_rng(seed)
    template = -np.exp(-0.5 * ((np.arange(60) - 15) / 3.0) ** 2) + 0.4 * np.exp(
        -0.5 * ((np.arange(60) - 26) / 6.0) ** 2)
    block = 10 * FS
    with open(path, "wb") as handle:
        for _ in range(int(minutes * 60 * FS / block)):
            data = rng.normal(0, 20 / 0.195, (block, CHANNELS)).astype(np.float32)
            for channel in range(CHANNELS):
                for amplitude in (150, 220, 300):
                    times = rng.choice(block - 100, 100, replace=False)
                    index = times[:, None] + np.arange(60)
                    data[index, channel] += amplitude / 0.195 * template
            handle.write(np.clip(data, -32768, 32767).astype(np.int16).tobytes())


# The start of every measured child: its imports and its own peak memory.
PEAK_MB = """
import json, sys, time

def peak_mb():
    # VmHWM: this process's own peak (ru_maxrss would include the parent's, kept across exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
"""

SPIKEAPP_CHILD = PEAK_MB + """from spikeapp.io import open_recording
from spikeapp.detection import detect
from spikeapp.tasks import run_job
path, out = sys.argv[1], sys.argv[2]
start = time.perf_counter()
with open_recording(path, dtype="int16", n_channels=32, sampling_rate=30000.0, gain=0.195) as rec:
    result = run_job(detect(rec, {"chunk_s": 5.0}, waveform_dir=out))
print(json.dumps({"seconds": time.perf_counter() - start, "spikes": int(result.n_spikes),
                  "peak_mb": peak_mb()}))
"""

SPIKEINTERFACE_CHILD = PEAK_MB + """import spikeinterface.core as si
from spikeinterface.preprocessing import bandpass_filter
from spikeinterface.sortingcomponents.peak_detection import detect_peaks
path, cores = sys.argv[1], int(sys.argv[2])
start = time.perf_counter()
rec = si.BinaryRecordingExtractor(path, sampling_frequency=30000.0, dtype="int16",
                                  num_channels=32, gain_to_uV=0.195, offset_to_uV=0.0)
rec = bandpass_filter(rec, freq_min=300.0, freq_max=3000.0)
peaks = detect_peaks(rec, method="by_channel",
                     method_kwargs=dict(peak_sign="neg", detect_threshold=5.0, exclude_sweep_ms=1.0),
                     job_kwargs=dict(n_jobs=cores, chunk_duration="5s", progress_bar=False))
print(json.dumps({"seconds": time.perf_counter() - start, "spikes": int(len(peaks)),
                  "peak_mb": peak_mb()}))
"""


def write_timed(path: Path, minutes: float) -> None:
    """Write the generated recording and say how big it is and how long it took."""
    started = time.perf_counter()
    write_recording(path, minutes)
    print(f"wrote {minutes:g} min ({path.stat().st_size / 2**30:.2f} GiB) in "
          f"{time.perf_counter() - started:.0f} s", flush=True)


def measure(code: str, *args: str) -> dict:
    """Run ``code`` in its own process; its last line of output is a JSON record."""
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr else "failed"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", default="10,60", help="lengths to measure (default 10,60)")
    parser.add_argument("--workdir", default=None, help="where to write the recordings")
    parser.add_argument("--no-spikeinterface", action="store_true")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    lengths = [float(m) for m in args.minutes.split(",")]
    print(f"# {CHANNELS} channels, {FS} Hz, {cores} cores; band 300-3000 Hz, threshold 5, neg")
    with tempfile.TemporaryDirectory(dir=args.workdir) as work:
        rows = []
        for minutes in lengths:
            path = Path(work) / f"rec_{minutes:g}min.raw"
            write_timed(path, minutes)
            ours = measure(SPIKEAPP_CHILD, str(path), str(Path(work) / f"wf{minutes:g}"))
            theirs = {}
            if not args.no_spikeinterface and minutes == min(lengths):
                theirs = measure(SPIKEINTERFACE_CHILD, str(path), str(cores))
            rows.append((minutes, ours, theirs))
            path.unlink()
            _report(minutes, ours, theirs)
        if len(rows) > 1 and all("peak_mb" in r[1] for r in rows):
            print(f"peak memory {rows[-1][0]:g} min / {rows[0][0]:g} min: "
                  f"{rows[-1][1]['peak_mb'] / rows[0][1]['peak_mb']:.2f}")


def _report(minutes: float, ours: dict, theirs: dict) -> None:
    seconds = minutes * 60
    if "error" in ours:
        print(f"{minutes:g} min: spikeapp failed: {ours['error']}")
        return
    print(f"{minutes:g} min: spikeapp {ours['seconds']:.1f} s = {seconds / ours['seconds']:.0f}x "
          f"real time, peak {ours['peak_mb']:.0f} MB, {ours['spikes']} spikes", flush=True)
    if theirs and "error" not in theirs:
        print(f"{minutes:g} min: SpikeInterface {theirs['seconds']:.1f} s = "
              f"{seconds / theirs['seconds']:.0f}x real time, peak {theirs['peak_mb']:.0f} MB, "
              f"{theirs['spikes']} peaks")
        print(f"speed ratio spikeapp / SpikeInterface: {theirs['seconds'] / ours['seconds']:.2f}")
    elif theirs:
        print(f"SpikeInterface failed: {theirs['error']}")


if __name__ == "__main__":
    main()
