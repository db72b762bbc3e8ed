"""The paper's comparison, reproducible: few labels per unit, accuracy on all other spikes."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from spikeapp.io.waveform_sets import load_waveform_set
from spikeapp.tasks import Job, Progress, run_job
from spikeapp.training.classifiers import make_classifier


@dataclass(frozen=True)
class BenchmarkRecord:
    file: str
    classifier: str
    labels_per_unit: int
    repeat: int
    accuracy: float
    train_seconds: float


def draw_labels(labels: NDArray[np.int64], per_unit: int, rng: np.random.Generator
                ) -> NDArray[np.int64]:
    """Indexes of ``per_unit`` spikes drawn at random from every unit (all of a smaller unit)."""
    chosen = [rng.choice(np.nonzero(labels == unit)[0],
                         min(per_unit, int((labels == unit).sum())), replace=False)
              for unit in np.unique(labels)]
    return np.sort(np.concatenate(chosen))


def run_benchmark(files: Iterable[str | Path], labels_per_unit: Iterable[int], repeats: int,
                  classifiers: Iterable[str], seed: int = 0,
                  training: dict[str, Any] | None = None, network: dict[str, Any] | None = None
                  ) -> Job[list[BenchmarkRecord]]:
    """Every file x labels-per-unit x repeat draws one set of labels, used by every classifier."""
    files, labels_per_unit, classifiers = list(files), list(labels_per_unit), list(classifiers)
    total = len(files) * len(labels_per_unit) * repeats * len(classifiers)
    records: list[BenchmarkRecord] = []
    for file_index, file in enumerate(files):
        waveforms, raw_labels = load_waveform_set(file)
        units, labels = np.unique(raw_labels, return_inverse=True)
        for per_unit in labels_per_unit:
            for repeat in range(repeats):
                rng = np.random.default_rng([seed, file_index, per_unit, repeat])
                train = draw_labels(labels, per_unit, rng)
                test = np.setdiff1d(np.arange(len(labels)), train)
                for name in classifiers:
                    classifier = make_classifier(name, network=network,
                                                 training=dict(training or {}, seed=seed + repeat))
                    started = time.perf_counter()
                    run_job(classifier.fit(waveforms[train], labels[train],
                                           unlabelled=waveforms[test]))
                    seconds = time.perf_counter() - started
                    accuracy = float((classifier.predict(waveforms[test]) == labels[test]).mean())
                    records.append(BenchmarkRecord(Path(file).name, name, per_unit, repeat,
                                                   accuracy, seconds))
                    yield Progress(len(records), total,
                                   f"{Path(file).name} {name} {per_unit}/unit #{repeat}: "
                                   f"{100 * accuracy:.2f}%", "run")
    return records


BASELINES = ("lda+self", "lda")   # the first of these benchmarked is the baseline to beat


def summary_table(records: list[BenchmarkRecord], baseline: str | None = None) -> str:
    """Mean +- SD accuracy and training time per file, classifier and labels per unit; with the
    baseline among the classifiers (by default the self-trained LDA, else LDA), on how many of
    the same draws each one scored below it."""
    if baseline is None:
        present = {r.classifier for r in records}
        baseline = next((b for b in BASELINES if b in present), BASELINES[0])
    base = {(r.file, r.labels_per_unit, r.repeat): r.accuracy for r in records
            if r.classifier == baseline}
    lines = [f"{'file':<36} {'classifier':<10} {'labels/unit':>11} {'accuracy %':>16} "
             f"{'train s':>12} {'runs':>5}" + (f" {'below ' + baseline:>10}" if base else "")]
    keys = sorted({(r.file, r.labels_per_unit, r.classifier) for r in records},
                  key=lambda k: (k[0], k[1], k[2]))
    for file, per_unit, name in keys:
        rows = [r for r in records if (r.file, r.labels_per_unit, r.classifier)
                == (file, per_unit, name)]
        acc = 100 * np.array([r.accuracy for r in rows])
        sec = np.array([r.train_seconds for r in rows])
        line = (f"{file[:36]:<36} {name:<10} {per_unit:>11} "
                f"{acc.mean():>8.2f} +- {acc.std():<5.2f} {sec.mean():>6.2f} +- "
                f"{sec.std():<4.2f} {len(rows):>5}")
        paired = [r for r in rows if (r.file, r.labels_per_unit, r.repeat) in base]
        if base and name != baseline and paired:
            below = sum(r.accuracy < base[(r.file, r.labels_per_unit, r.repeat)] for r in paired)
            line += f" {f'{below}/{len(paired)}':>10}"
        lines.append(line)
    return "\n".join(lines)


def records_as_dicts(records: list[BenchmarkRecord]) -> list[dict[str, Any]]:
    return [asdict(r) for r in records]
