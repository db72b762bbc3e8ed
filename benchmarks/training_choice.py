"""Which training to trust, per training: every part of the default sort on the same draws.

    python benchmarks/training_choice.py [--sets tuning|reporting|all] [--labels-per-unit 2,3,5,10,20]
                                         [--repeats 3] [--json OUT] [--table IN.json]

For every waveform set, label count and draw (the same labels for every part), trains:
``lda+self`` (shrinkage LDA self-trained on the unlabelled spikes: the baseline to beat),
``cnn`` (the network on the labels only), ``teacher=network`` (the network self-trained on its
own pseudo-labels), ``teacher=lda`` (the network taught by the self-trained LDA), ``vote`` (the
same, its prediction averaged with the LDA's: the default until December 2026), and the default
(``teacher=agreement``: pseudo-labels where a first fit of the network and the self-trained LDA
agree, both sure; the prediction averaged with an LDA refitted on them), and scores each on the
spikes nobody labelled. Prints per set and label count the mean accuracy of each part, the best
part, and the default's distance to it.

Sets. Tuning (may choose constants): Quiroga Difficult2 noise 0.10 (real), and stand-ins at
noise 0.15 and 0.20 built with noise seed 1. Reporting (choose nothing): Difficult2 noise 0.05
(real), stand-ins at 0.20 and 0.25 with noise seed 0 (see noisier_sets.py for how they are made).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from noisier_sets import SETS, make_noisier  # noqa: E402

from spikeapp.io.waveform_sets import load_waveform_set  # noqa: E402
from spikeapp.tasks import run_job  # noqa: E402
from spikeapp.training.benchmark import draw_labels  # noqa: E402
from spikeapp.training.classifiers import make_classifier  # noqa: E402

PARTS = {
    "lda+self": ("lda+self", {}),
    "cnn": ("cnn", {}),
    "teacher=network": ("cnn+self", {"teacher": "network"}),
    "teacher=lda": ("cnn+self", {"teacher": "lda", "teacher_share": 0.0}),
    "vote": ("cnn+self", {"teacher": "lda", "teacher_share": 0.5}),
    "default": ("cnn+self", {}),
}


def waveform_sets(which: str) -> list[tuple[str, np.ndarray, np.ndarray]]:
    base = SETS / "spikes_C_Difficult2_noise005.mat"
    donor = SETS / "spikes_C_Difficult2_noise01.mat"
    if not base.exists():
        raise SystemExit(f"needs {base} (../shared beside the checkout)")
    out = []

    def real(path: Path, name: str) -> None:
        x, y = load_waveform_set(path)
        out.append((name, x, y))

    def standin(level: float, seed: int) -> None:
        x, y, _ = make_noisier(base, donor, level, seed=seed)
        keep = y > 0
        out.append((f"standin{level:.2f}_s{seed}", x[keep], y[keep]))

    if which in ("tuning", "all"):
        real(donor, "difficult2_0.10")
        standin(0.15, 1)
        standin(0.20, 1)
    if which in ("reporting", "all"):
        real(base, "difficult2_0.05")
        standin(0.20, 0)
        standin(0.25, 0)
    return out


def run(sets, per_units, repeats, parts) -> list[dict]:
    records = []
    for name, x, raw in sets:
        units, y = np.unique(raw, return_inverse=True)
        for per_unit in per_units:
            for repeat in range(repeats):
                rng = np.random.default_rng([7, per_unit, repeat])
                train = draw_labels(y, per_unit, rng)
                test = np.setdiff1d(np.arange(len(y)), train)
                for part in parts:
                    kind, training = PARTS[part]
                    classifier = make_classifier(kind, training=dict(training, seed=repeat))
                    started = time.perf_counter()
                    run_job(classifier.fit(x[train], y[train], unlabelled=x[test]))
                    seconds = time.perf_counter() - started
                    accuracy = float((classifier.predict(x[test]) == y[test]).mean())
                    trained = getattr(classifier, "trained", None)
                    record = dict(set=name, labels_per_unit=per_unit, repeat=repeat, part=part,
                                  accuracy=accuracy, seconds=seconds,
                                  choice=getattr(trained, "choice", {}) if trained else {})
                    records.append(record)
                    print(f"{name} {per_unit}/unit #{repeat} {part}: {100 * accuracy:.2f}% "
                          f"{seconds:.1f} s {record['choice'] or ''}", flush=True)
    return records


def table(records: list[dict]) -> str:
    parts = [p for p in PARTS if any(r["part"] == p for r in records)]
    lines = [f"{'set':<18} {'l/u':>4} " + " ".join(f"{p:>15}" for p in parts)
             + f" {'best part':>15} {'default-best':>12}"]
    below = []
    for name in dict.fromkeys(r["set"] for r in records):
        for n in sorted({r["labels_per_unit"] for r in records if r["set"] == name}):
            rows = [r for r in records if r["set"] == name and r["labels_per_unit"] == n]
            mean = {p: 100 * np.mean([r["accuracy"] for r in rows if r["part"] == p])
                    for p in parts if any(r["part"] == p for r in rows)}
            others = {p: v for p, v in mean.items() if p != "default"}
            best = max(others, key=others.get)
            gap = mean.get("default", np.nan) - others[best]
            below.append(gap)
            lines.append(f"{name:<18} {n:>4} " + " ".join(
                f"{mean[p]:>15.2f}" if p in mean else f"{'':>15}" for p in parts)
                + f" {best:>15} {gap:>+12.2f}")
    gaps = np.array(below)
    lines.append(f"# default - best part: worst {np.nanmin(gaps):+.2f}, mean {np.nanmean(gaps):+.2f}"
                 f" points; more than 1 point below in {int((gaps < -1).sum())} of {len(gaps)}")
    if any(r["part"] == "lda+self" for r in records) and any(r["part"] == "default"
                                                             for r in records):
        d = np.mean([r["accuracy"] for r in records if r["part"] == "default"])
        base = np.mean([r["accuracy"] for r in records if r["part"] == "lda+self"])
        lines.append(f"# mean: default {100 * d:.2f} %, lda+self {100 * base:.2f} %")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="reporting", choices=("tuning", "reporting", "all"))
    parser.add_argument("--labels-per-unit", default="2,3,5,10,20")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--parts", default=",".join(PARTS))
    parser.add_argument("--only", help="these sets only (names, comma-separated)")
    parser.add_argument("--json", help="write the records here")
    parser.add_argument("--table", help="print the table of records written before")
    args = parser.parse_args()
    if args.table:
        print(table(json.loads(Path(args.table).read_text())))
        return
    started = time.perf_counter()
    sets = [s for s in waveform_sets(args.sets)
            if not args.only or s[0] in args.only.split(",")]
    records = run(sets, [int(v) for v in args.labels_per_unit.split(",")],
                  args.repeats, args.parts.split(","))
    if args.json:
        Path(args.json).write_text(json.dumps(records, indent=1))
    print(table(records))
    print(f"# {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
