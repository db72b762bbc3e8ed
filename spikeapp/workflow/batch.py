"""``spikeapp sort`` from start to end, Qt-free: one recording here, or many on Dask.

A sort has three stages, each a plain function of picklable values so that any executor can
run it:

1. :func:`prepare`: open the recording, detect, lay the hand labels (or the accepted
   proposals, or an earlier session's networks) on the spikes. Returns a :class:`Prepared`:
   the workspace and the groups that have labels to train on.
2. the training of each group (:meth:`Prepared.job` snapshots one; ``parallel.train_groups``
   runs them here, :func:`train_on_worker` on a Dask worker).
3. :func:`finish`: apply the networks' predictions, match templates if asked, and write the
   spike trains, the session and the networks, atomically.

:func:`sort_on_dask` maps these stages over many recordings on a ``distributed`` cluster (a
``LocalCluster``, an existing scheduler or a SLURM cluster from dask-jobqueue): detection per
recording, training per recording and group, the writing per recording. The data stays on the
workers (a group's training receives that group's snapshot only); the client only submits. A
task that raises is retried (``RETRIES``); a recording whose task still fails is reported
with the error and the others finish. A group that fails for a reason the user can act on (too
few labels, a unit deleted) is reported at once, without retries: it would fail again.
"""

from __future__ import annotations

import csv
import glob
import io
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from spikeapp.atomic import atomic_folder, atomic_write
from spikeapp.errors import SpikeappError
from spikeapp.tasks import run_with_progress_bar
from spikeapp.workflow.parallel import GroupFailure, Portable, failure_of, portable, rebuild
from spikeapp.workflow.sorting import TrainingOutput
from spikeapp.workflow.workspace import TrainingJob, Workspace

log = logging.getLogger(__name__)

RETRIES = 2             # a failed Dask task runs again this many times before it is reported
NAME_FIELD = "{name}"   # in --labels and --truth: the recording's name (its file name, no suffix)


@dataclass(frozen=True)
class SortSpec:
    """Everything one recording's sort needs, as plain values (it travels to Dask workers)."""

    recording: str
    reader: dict[str, Any]
    groups: tuple[str, ...]
    detection: dict[str, Any]
    network: dict[str, Any]
    training: dict[str, Any]
    labels: str | None = None
    propose: bool = False
    networks: str | None = None
    truth: str | None = None
    recover_score: float | None = None     # template matching after training, at this score
    name: str = ""


@dataclass
class Prepared:
    """A recording detected and labelled, ready to train: the workspace, the groups to train,
    the lines to print and the files that go with the results (drift, carried networks)."""

    spec: SortSpec
    workspace: Workspace
    targets: list[int]
    lines: list[str] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)

    def job(self, group: int, threads: int) -> TrainingJob:
        """One group's training snapshot, trained with ``threads`` torch threads (results
        depend on the count: every executor passes the same)."""
        if self.workspace.training.get("threads") != threads:
            self.workspace.set_params("training", threads=threads)
        return self.workspace.training_job(group)

    def check(self) -> None:
        """Raise when nothing can be trained (after the caller has shown :attr:`lines`)."""
        if not self.targets and not self.spec.networks:
            said = f" ({self.lines[0]})" if self.lines else ""
            raise SpikeappError(f"{self.spec.labels or self.spec.recording}: no channel has "
                                f"labels of two units or more{said}")


@dataclass
class SortResult:
    """What a finished sort wrote and prints."""

    name: str
    folder: str
    spikes: int
    units: int
    seconds: float
    lines: list[str]
    failures: list[GroupFailure]


# -- the stages ------------------------------------------------------------------------------------

def earlier_session(source: str):
    """The session whose networks are carried: a .spikeapp file, or a sort's output folder."""
    from spikeapp.session.storage import load_session

    path = Path(source)
    if path.is_dir():
        path = path / "session.spikeapp"
    if not path.is_file():
        raise SpikeappError(f"{source}: no session there (give a .spikeapp file, or the folder "
                            "an earlier 'spikeapp sort' wrote)")
    return load_session(path)


def open_spec_recording(spec: SortSpec, note: Callable[[str], None] | None = None):
    from spikeapp.io import open_recording

    recording = open_recording(spec.recording, **spec.reader)
    if recording.n_segments > 1 and note is not None:   # one of several sweeps: say which
        note(recording.segment_note().replace("Reader > segment when opening", "--segment"))
    return recording


def prepare(spec: SortSpec, quiet: bool = True, note: Callable[[str], None] | None = None
            ) -> Prepared:
    """Detect, then label: hand labels, accepted proposals or an earlier session's networks."""
    from spikeapp.detection import detect, parse_groups
    from spikeapp.io.seeds import read_seeds
    from spikeapp.session import Session
    from spikeapp.workflow.sorting import group_of_channel, trainable_groups

    earlier = earlier_session(spec.networks) if spec.networks else None
    seeds = read_seeds(spec.labels) if spec.labels else None
    with open_spec_recording(spec, note) as recording:
        groups = parse_groups(list(spec.groups) or None, recording.channel_ids,
                              recording.file_groups)
        detection = run_with_progress_bar(detect(recording, spec.detection, groups), "detect",
                                          enabled=not quiet)
    session = Session(detection, recording=dict(spec.reader,
                                                 path=str(Path(spec.recording).resolve()),
                                                 groups=list(spec.groups)),
                      training_params={"network": spec.network, "training": spec.training})
    workspace = Workspace(journal=False)   # a headless run is run again, not recovered
    workspace.set_session(session, name=spec.recording)
    prepared = Prepared(spec, workspace, [])
    lines = prepared.lines
    if spec.propose:
        found = run_with_progress_bar(workspace.propose_job()(), "propose", enabled=not quiet)
        workspace.proposed(found)
        labelled = set() if seeds is None else {
            group_of_channel(session, int(c)) for c in set(seeds.channels.tolist())}
        accepted = workspace.accept_all_proposals(skip=labelled)
        lines.append(f"{accepted} proposed unit(s) accepted on {len(found) - len(labelled)} "
                     f"channel(s); their core spikes are the labels")
    if seeds is not None:
        report = workspace.apply_seeds(seeds)
        lines.append(f"{report.matched} of {len(seeds.times_s)} seed labels matched a detected "
                     "spike")
        for time_s, channel, unit in report.unmatched[:20]:
            lines.append(f"  no spike within 1 ms of seed {time_s:.4f} s, channel {channel}, "
                         f"unit {unit}")
        if len(report.unmatched) > 20:
            lines.append(f"  ... and {len(report.unmatched) - 20} more")
    if earlier is not None:
        _carry(prepared, earlier, quiet)
        return prepared
    prepared.targets = trainable_groups(session)
    return prepared


def _carry(prepared: Prepared, earlier, quiet: bool) -> None:
    """Apply the earlier session's networks; the drift per unit, printed and as drift.csv."""
    workspace, source = prepared.workspace, prepared.spec.networks
    carried = run_with_progress_bar(workspace.carry_job(earlier, str(source))(), "carry",
                                    enabled=not quiet)
    workspace.apply_carried(carried)
    prepared.lines.append(f"networks of {source} applied to {len(carried.outputs)} channel "
                          f"group(s), {len(carried.units)} unit(s); drift since then:")
    prepared.lines += [f"  {line}" for line in carried.report()]
    table = io.StringIO()
    writer = csv.writer(table)
    writer.writerow(["channel", "unit", "spikes_then", "spikes_now", "amplitude_then",
                     "amplitude_now", "amplitude_shift_pct", "novel_share", "moved"])
    for d in carried.drift:
        writer.writerow([d.group, d.name, d.spikes_then, d.spikes_now, f"{d.amplitude_then:.3f}",
                         f"{d.amplitude_now:.3f}", f"{d.shift_pct:.2f}", f"{d.novel_share:.4f}",
                         int(d.moved)])
    prepared.files["drift.csv"] = table.getvalue().encode()
    for output in carried.outputs:
        prepared.files[f"network_channel{output.group}.pt"] = output.network


def finish(prepared: Prepared, outputs: Sequence[TrainingOutput], folder: Path,
           failures: Sequence[GroupFailure] = (), threads: int | None = None,
           started: float | None = None, quiet: bool = True,
           answer: Callable[[Workspace, TrainingOutput], TrainingOutput] | None = None,
           whole_folder: bool = False) -> SortResult:
    """Apply the trained groups' predictions (``answer`` may retrain each, as --active does),
    match templates when the spec asks, and write spiketrains.csv, session.spikeapp and the
    networks into ``folder``: file by file, or the whole folder at once (``whole_folder``:
    it appears only complete)."""
    from spikeapp.export.spiketrains import write_spiketrains_csv

    started = time.perf_counter() if started is None else started
    workspace, spec = prepared.workspace, prepared.spec
    if threads is not None and workspace.training.get("threads") != threads:
        workspace.set_params("training", threads=threads)
    files = dict(prepared.files)
    lines = []
    for output in outputs:
        workspace.apply(output)
        if answer is not None:
            output = answer(workspace, output)
        files[f"network_channel{output.group}.pt"] = output.network
        lines.append(training_line(output))
    if spec.recover_score is not None:
        lines.append(_recover(workspace, spec, quiet))
    session = workspace.session

    def write(target: Path) -> int:
        for name, data in files.items():
            atomic_write(target / name, data)
        count = write_spiketrains_csv(session, target / "spiketrains.csv")
        workspace.save(target / "session.spikeapp")
        return count

    if whole_folder:
        with atomic_folder(folder) as temporary:
            count = write(temporary)
    else:
        folder.mkdir(parents=True, exist_ok=True)
        count = write(folder)
    seconds = time.perf_counter() - started
    lines.append(f"{count} spikes sorted in {seconds:.1f} s -> {folder}")
    lines += unit_lines(session)
    if spec.truth:
        lines += accuracy_lines(session, spec.truth)
    return SortResult(spec.name or Path(spec.recording).stem, str(folder), count,
                      len(session.units), seconds, lines, list(failures))


def _recover(workspace: Workspace, spec: SortSpec, quiet: bool) -> str:
    """Template matching (workflow.recovery) on the sorted session; the line that says what
    it found."""
    from spikeapp.workflow.recovery import find_missed, with_found_spikes

    with open_spec_recording(spec) as recording:
        found = run_with_progress_bar(find_missed(workspace.session, recording,
                                                  spec.recover_score),
                                      "recover", enabled=not quiet)
    grown, rows = with_found_spikes(workspace.session, found)
    names = {u.id: u.name for u in grown.units.values()}
    per_unit: dict[str, int] = {}
    for unit in grown.assignment[rows]:
        name = names.get(int(unit), "?")
        per_unit[name] = per_unit.get(name, 0) + 1
    workspace.set_session(grown, name=spec.recording)
    text = ", ".join(f"{name} {count}" for name, count in sorted(per_unit.items()))
    return (f"{len(rows)} spike(s) found by template matching" + (f" ({text})" if text else "")
            + f"; mean confidence {float(np.mean(grown.confidence[rows])) if len(rows) else 0:.2f}")


def training_line(output: TrainingOutput) -> str:
    """How a group was trained: its time, and who taught the network and why."""
    trained = output.trained
    why = trained.choice.get("why", "")
    return (f"channel {output.group}: trained in {trained.train_seconds:.1f} s"
            + (f"; {why}" if why else ""))


def unit_lines(session) -> list[str]:
    from spikeapp.workflow.sorting import human_label_count

    lines = [f"  {'channel':>7}  {'unit':<16} {'spikes':>7} {'labels':>7} {'confidence':>10}"]
    for unit in sorted(session.units.values(), key=lambda u: (u.group, u.name)):
        members = session.assignment == unit.id
        conf = float(np.mean(session.confidence[members])) if members.any() else 0.0
        lines.append(f"  {unit.group:>7}  {unit.name[:16]:<16} {int(members.sum()):>7} "
                     f"{human_label_count(session, unit.id):>7} {conf:>10.3f}")
    return lines


def accuracy_lines(session, truth_path: str) -> list[str]:
    from spikeapp.io.seeds import read_seeds
    from spikeapp.workflow.sorting import accuracy_against_truth

    truth = read_seeds(truth_path)
    scores = accuracy_against_truth(session, truth.times_s, truth.channels, truth.units)
    lines = ["accuracy against the truth on the spikes nobody labelled, tp / (tp + fn + fp), "
             "0.4 ms (labelled spikes are left out of both sides):",
             f"  {'unit':<16} {'accuracy':>8} {'tp':>7} {'fn':>7} {'fp':>7} {'labelled':>8}"]
    for name, score in scores.items():
        lines.append(f"  {name:<16} {score.accuracy:>8.4f} {score.tp:>7} {score.fn:>7} "
                     f"{score.fp:>7} {score.labelled:>8}")
    return lines


# -- many recordings -------------------------------------------------------------------------------

def expand_recordings(paths: Sequence[str]) -> list[str]:
    """The recordings named: paths as given, and glob patterns (quoted, so the shell left them)
    expanded in order; a pattern that matches nothing is an error."""
    found: list[str] = []
    for path in paths:
        if any(c in path for c in "*?[") and not Path(path).exists():
            matches = sorted(glob.glob(path))
            if not matches:
                raise SpikeappError(f"{path}: no recording matches this pattern")
            found += matches
        else:
            found.append(path)
    return list(dict.fromkeys(found))


def recording_names(paths: Sequence[str]) -> list[str]:
    """A folder name per recording: its file name without the suffix, made unique by its
    parent folders where two share one."""
    stems = [Path(p).stem if Path(p).suffix else Path(p).name for p in paths]
    names = [name if stems.count(name) == 1 else
             "_".join(Path(path).resolve().parts[-2:-1] + (name,))
             for path, name in zip(paths, stems)]
    names = [name if names.count(name) == 1 else f"{name}_{k}" for k, name in enumerate(names)]
    return names


def per_recording(pattern: str | None, name: str, count: int, option: str) -> str | None:
    """A --labels or --truth pattern for one recording: ``{name}`` replaced by its name.
    Several recordings need the field (each has its own spike times)."""
    if pattern is None:
        return None
    if NAME_FIELD not in pattern:
        if count > 1:
            raise SpikeappError(f"{option} {pattern}: each recording needs its own file; write "
                                f"the recording's name as {NAME_FIELD}, e.g. {option} "
                                f"'labels/{NAME_FIELD}.csv'")
        return pattern
    path = pattern.replace(NAME_FIELD, name)
    if not Path(path).is_file():
        raise SpikeappError(f"{path}: no such file ({option} for the recording {name})")
    return path


def _pick(prepared: Prepared, group: int, threads: int) -> TrainingJob:
    return prepared.job(group, threads)


def _targets(prepared: Prepared) -> tuple[list[int], int]:
    """The groups to train and the spikes detected (what the client needs to go on)."""
    prepared.check()
    return list(prepared.targets), prepared.workspace.session.n_spikes


def train_on_worker(job: TrainingJob, threads: int) -> Portable | GroupFailure:
    """One group trained and predicted on a Dask worker, its BLAS and torch threads capped. A
    user error comes back as a failure (retrying would fail again); anything else raises, and
    Dask retries it."""
    from threadpoolctl import threadpool_limits

    from spikeapp.tasks import run_job

    with threadpool_limits(threads):
        try:
            output = run_job(job.run())
        except SpikeappError as error:
            return failure_of(job.group, error)
    return portable(output)


def finish_on_worker(prepared: Prepared, results: list[Portable], failures: list[GroupFailure],
                     folder: str, threads: int, started: float, whole_folder: bool
                     ) -> SortResult:
    # The spikes and unit ids each group trained on, as its snapshot had them (nothing has
    # changed the prepared session since), without copying its waveforms again.
    session = prepared.workspace.session
    outputs = [rebuild(result, session.spikes_of_group(result.group),
                       np.unique(session.human_labels(result.group)[1])) for result in results]
    result = finish(prepared, outputs, Path(folder), failures, threads, started,
                    whole_folder=whole_folder)
    result.lines[:0] = prepared.lines
    return result


@dataclass
class BatchResult:
    """Every recording's result, or why it failed."""

    results: list[SortResult] = field(default_factory=list)
    failed: dict[str, GroupFailure] = field(default_factory=dict)   # name -> why

    def summary_csv(self) -> bytes:
        table = io.StringIO()
        writer = csv.writer(table)
        writer.writerow(["recording", "status", "spikes", "units", "seconds", "folder", "error"])
        for result in self.results:
            problems = "; ".join(f.message for f in result.failures)
            writer.writerow([result.name, "sorted" if not problems else "partly sorted",
                             result.spikes, result.units, f"{result.seconds:.1f}", result.folder,
                             problems])
        for name, failure in self.failed.items():
            writer.writerow([name, "failed", "", "", "", "", failure.message])
        return table.getvalue().encode()


def sort_on_dask(client, specs: Sequence[SortSpec], out: Path, threads: int,
                 separate_folders: bool,
                 report: Callable[[SortResult | GroupFailure], None] | None = None,
                 retries: int = RETRIES, progress: Callable[[str], None] | None = None
                 ) -> BatchResult:
    """Sort every spec on the cluster behind ``client``. Each recording's results go to
    ``out/NAME`` (``separate_folders``) or to ``out`` itself; ``report`` receives each
    recording's result, or its failure (group -1: the recording itself), as it comes;
    ``progress`` a line as each recording is detected."""
    report = report or (lambda _: None)
    progress = progress or (lambda _: None)
    from distributed import as_completed

    started = time.perf_counter()
    batch = BatchResult()
    folders = {spec.name: str(out / spec.name) if separate_folders else str(out)
               for spec in specs}
    prepared = {spec.name: client.submit(prepare, spec, key=f"prepare-{spec.name}",
                                         retries=retries) for spec in specs}
    role: dict[Any, tuple[str, str, int]] = {}
    pending_groups: dict[str, set[int]] = {}
    trained: dict[str, list[Portable]] = {}
    failures: dict[str, list[GroupFailure]] = {}
    waiting = as_completed()

    def finish_later(name: str) -> None:
        done = client.submit(finish_on_worker, prepared[name],
                             sorted(trained[name], key=lambda p: p.group), failures[name],
                             folders[name], threads, started, separate_folders,
                             key=f"finish-{name}", retries=retries)
        role[done] = ("finish", name, -1)
        waiting.add(done)

    for name, future in prepared.items():
        targets = client.submit(_targets, future, key=f"targets-{name}")
        role[targets] = ("targets", name, -1)
        waiting.add(targets)
    for future in waiting:
        kind, name, group = role.pop(future)
        try:
            value = future.result()
        except Exception as error:  # noqa: BLE001 - this recording is reported; the others go on
            if kind == "train":
                failures[name].append(failure_of(group, error))
                value = None
            else:
                batch.failed[name] = failure_of(-1, error)
                report(batch.failed[name])
                continue
        if kind == "targets":
            groups, spikes = value
            pending_groups[name] = set(groups)
            trained[name], failures[name] = [], []
            progress(f"{name}: {spikes:,} spikes detected; "
                     + (f"training {len(groups)} channel group(s)" if groups else
                        "sorted by the earlier networks"))
            if not groups:   # --networks: nothing to train
                finish_later(name)
            for group in groups:
                job = client.submit(_pick, prepared[name], group, threads,
                                    key=f"job-{name}-{group}")
                train = client.submit(train_on_worker, job, threads, retries=retries,
                                      key=f"train-{name}-{group}")
                role[train] = ("train", name, group)
                waiting.add(train)
        elif kind == "train":
            pending_groups[name].discard(group)
            if isinstance(value, GroupFailure):
                failures[name].append(value)
            elif value is not None:
                trained[name].append(value)
            if not pending_groups[name]:
                finish_later(name)
        else:
            batch.results.append(value)
            report(value)
            prepared[name].release()
    order = {spec.name: k for k, spec in enumerate(specs)}
    batch.results.sort(key=lambda r: order.get(r.name, 0))
    return batch


def client_for(scheduler: str | None, cluster: str, workers: int, threads: int,
               options: dict[str, Any] | None = None):
    """A ``distributed.Client``: on an existing scheduler, on a SLURM cluster of ``workers``
    jobs (dask-jobqueue; ``options`` are SLURMCluster's keyword arguments, e.g. queue, account,
    walltime, memory), or on a LocalCluster of ``workers`` processes of ``threads`` cores."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as error:
        raise SpikeappError("sorting on Dask needs the cluster extra: pip install "
                            "'spikeapp[cluster]'") from error
    if scheduler:
        try:
            return Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as error:
            raise SpikeappError(f"--scheduler {scheduler}: cannot reach the Dask scheduler "
                                f"({error})") from error
    if cluster == "slurm":
        made = slurm_cluster(threads, options or {})
        made.scale(jobs=workers)
        return Client(made)
    local = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                         dashboard_address=":0", silence_logs=logging.ERROR)
    return Client(local)


def slurm_cluster(threads: int, options: dict[str, Any]):
    """A dask-jobqueue SLURMCluster (nothing is submitted until it is scaled): one worker
    process per job, ``threads`` cores each; ``options`` as SLURMCluster takes them (queue,
    account, walltime, memory, job_extra_directives...), over the dask config's jobqueue.slurm
    section."""
    try:
        from dask_jobqueue import SLURMCluster
    except ImportError as error:
        raise SpikeappError("--cluster slurm needs dask-jobqueue: pip install "
                            "'spikeapp[cluster]'") from error
    # One task at a time per job (--nthreads 1), with the job's cores for its torch threads.
    settings = {"cores": 1, "processes": 1, "job_cpu": threads, "memory": f"{4 * threads} GiB"}
    settings.update(options)
    try:
        return SLURMCluster(**settings)
    except (TypeError, ValueError) as error:
        raise SpikeappError(f"--cluster slurm: {error}") from error


def with_name(spec: SortSpec, name: str, count: int) -> SortSpec:
    """The spec of one of ``count`` recordings: its name, and its own labels and truth."""
    return replace(spec, name=name,
                   labels=per_recording(spec.labels, name, count, "--labels"),
                   truth=per_recording(spec.truth, name, count, "--truth"))
