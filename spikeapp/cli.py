"""Command line: ``spikeapp [--demo] | gui | info | detect | demo | sort | benchmark``.

Errors meant for the user print one line naming the file and the problem and exit with 2.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from spikeapp import __version__
from spikeapp import params as param_table
from spikeapp.errors import SpikeappError

log = logging.getLogger("spikeapp")

EXIT_USER_ERROR = 2


def _reader_options(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments of :func:`spikeapp.io.open_recording` from the reader flags."""
    return param_table.from_namespace(args, "reader")


def _open(args: argparse.Namespace):
    from spikeapp.io import open_recording

    recording = open_recording(args.recording, **_reader_options(args))
    if recording.n_segments > 1:   # one of several sweeps: say so, and how to read another
        print(recording.segment_note().replace("Reader > segment when opening", "--segment"),
              file=sys.stderr)
    return recording


def cmd_info(args: argparse.Namespace) -> int:
    from spikeapp.io.open import describe

    info = describe(args.recording, **_reader_options(args))
    print(format_info(info))
    return 0


def format_info(info) -> str:
    """A readable table of a RecordingInfo."""
    lines = [f"File      {info.path}", f"Format    {info.format_name}"]
    durations = ", ".join(f"{d:.3f} s" for d in info.segment_durations_s[:8])
    more = " ..." if len(info.segment_durations_s) > 8 else ""
    lines.append(f"Segments  {info.n_segments} ({durations}{more})")
    if info.streams:
        lines.append("Streams")
        header = f"  {'#':>2}  {'name':<34} {'channels':>8} {'rate (Hz)':>11} {'samples':>11} " \
                 f"{'duration (s)':>12}  units"
        lines.append(header)
        for i, s in enumerate(info.streams):
            mark = "*" if s.name == info.selected_stream else " "
            duration = s.n_samples / s.sampling_rate if s.sampling_rate else 0.0
            lines.append(f"{mark} {i:>2}  {s.name[:34]:<34} {s.n_channels:>8} "
                         f"{s.sampling_rate:>11.6g} {s.n_samples:>11} {duration:>12.3f}  {s.units}")
        if info.selected_stream is not None:
            lines.append("  (* the stream spikeapp reads by default; choose another with --stream)")
    else:
        lines.append("Streams   none (no continuous signal)")
    if info.channel_names:
        names = ", ".join(f"{i}:{n}" for i, n in enumerate(info.channel_names[:32]))
        extra = f" ... ({len(info.channel_names)} in all)" if len(info.channel_names) > 32 else ""
        lines.append(f"Channels  {names}{extra}")
    # Unit 0 holds the spikes nobody sorted (Plexon, Blackrock...): 'spikeapp import' leaves them
    # without a unit, so they are not counted as sorted units here either.
    unsorted = [u for u in info.units if u.unsorted]
    line = f"Sorted units in the file: {len(info.units) - len(unsorted) or 'none'}"
    if unsorted:
        line += (f"; unsorted spikes (unit 0) on {len(unsorted)} channel(s): "
                 f"{sum(u.n_spikes for u in unsorted)} spikes ('spikeapp import' leaves them "
                 "without a unit unless --unsorted-as-unit)")
    lines.append(line)
    if info.units:
        lines.append(f"  {'name':<24} {'channel':<16} {'label in the file':<20} {'unit':>6} "
                     f"{'spikes':>8}")
        for unit in info.units[:60]:
            lines.append(f"  {unit.name[:24]:<24} {unit.channel[:16]:<16} {unit.label[:20]:<20} "
                         f"{unit.unit[:6]:>6} {unit.n_spikes:>8}")
        if len(info.units) > 60:
            lines.append(f"  ... and {len(info.units) - 60} more")
    lines.extend(f"Note      {note}" for note in info.notes)
    return "\n".join(lines)


def cmd_detect(args: argparse.Namespace) -> int:
    import numpy as np

    from spikeapp.detection import detect, parse_groups
    from spikeapp.tasks import run_with_progress_bar

    out = Path(args.out)
    _check_writable(out)
    # Progress is kept beside the output: an interrupted run (Ctrl+C, a crash, a power cut)
    # resumes from where it stopped when the same command runs again.
    journal = out.with_name(out.name + ".partial")
    with _open(args) as recording:
        groups = parse_groups(args.group, recording.channel_ids, recording.file_groups)
        try:
            result = run_with_progress_bar(
                detect(recording, param_table.from_namespace(args, "detection"), groups,
                       journal_dir=journal),
                f"detect {Path(args.recording).name}", enabled=not args.quiet)
        except KeyboardInterrupt:
            print(f"spikeapp: interrupted; run the same command again to resume (progress is "
                  f"in {journal})", file=sys.stderr)
            return 130
    result.save(out)
    summary = (f"{result.n_spikes} spikes in {result.n_samples / result.sampling_rate:.1f} s "
               f"-> {out}")
    counts = list(zip(*np.unique(result.channels, return_counts=True)))
    del result  # its waveforms are mapped from the journal, removed now
    shutil.rmtree(journal, ignore_errors=True)
    print(summary)
    for group, count in counts:
        print(f"  channel{' group' if args.group else ''} {group}: {count} spikes")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from spikeapp.io.demo import make_demo, sidecar_paths, write_truth
    from spikeapp.io.writers import write_recording

    out = Path(args.out)
    demo = make_demo(seed=args.seed, duration_s=args.duration)
    write_recording(out, demo.data, demo.sampling_rate,
                    [f"wire{i}" for i in range(demo.data.shape[1])],
                    description=f"spikeapp demo recording, seed {args.seed}")
    truth, seeds = sidecar_paths(out)
    write_truth(demo, truth)
    write_truth(demo, seeds, per_unit=20, seed=args.seed)
    print(f"demo recording -> {out}\nground truth   -> {truth}\nseed labels    -> {seeds}")
    return 0


def cmd_gui(args: argparse.Namespace) -> int:
    from spikeapp.gui.app import run_gui

    return run_gui(recording=getattr(args, "recording", None), demo=args.demo,
                   screenshot=getattr(args, "screenshot", None))


def _training_options(args: argparse.Namespace) -> dict[str, Any]:
    """Training parameters from the flags; headless runs use every core unless told."""
    import os

    options = param_table.from_namespace(args, "training")
    if getattr(args, "threads", None) is None:
        options["threads"] = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
            else (os.cpu_count() or 1)
    return options


def cmd_sort(args: argparse.Namespace) -> int:
    import time
    from dataclasses import replace

    from spikeapp.workflow.batch import SortSpec, expand_recordings, recording_names, with_name

    started = time.perf_counter()
    if args.workers is not None and args.workers < 1:
        raise SpikeappError(f"--workers {args.workers}: give 1 or more")
    if args.active and not args.truth:
        raise SpikeappError("--active answers the label-next queue from a ground truth: give "
                            "--truth TRUTH.csv")
    if args.networks and (args.labels or args.propose or args.active):
        raise SpikeappError("--networks sorts with the earlier session's networks alone: label "
                            "and train again in the window afterwards, not with --labels, "
                            "--propose or --active")
    if not args.labels and not args.propose and not args.networks:
        raise SpikeappError("give hand labels (--labels SEEDS.csv), --propose to sort from the "
                            "proposed units alone, or --networks SESSION to sort with an "
                            "earlier session's networks")
    recordings = expand_recordings(args.recording)
    on_dask = len(recordings) > 1 or bool(args.scheduler) or args.cluster is not None
    if on_dask and args.active:
        raise SpikeappError("--active answers the queue of one recording, here: give one "
                            "recording and no --scheduler or --cluster")
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SpikeappError(f"{out}: cannot create the output folder: {error.strerror}") from error
    spec = SortSpec("", _reader_options(args), tuple(args.group or ()),
                    param_table.from_namespace(args, "detection"),
                    param_table.from_namespace(args, "network"), _training_options(args),
                    labels=args.labels, propose=args.propose, networks=args.networks,
                    truth=args.truth, recover_score=args.recover_score if args.recover else None)
    specs = [with_name(replace(spec, recording=path), name, len(recordings))
             for path, name in zip(recordings, recording_names(recordings))]
    if on_dask:
        return _sort_on_dask(specs, args, out)
    return _sort_here(specs[0], args, out, started)


def _exit_code(failures) -> int:
    if not failures:
        return 0
    return EXIT_USER_ERROR if all(f.user_error for f in failures) else 1


def _sort_here(spec, args: argparse.Namespace, out: Path, started: float) -> int:
    """One recording in this process; its groups in ``--workers`` processes."""
    from spikeapp.io.seeds import read_seeds
    from spikeapp.workflow.batch import finish, prepare

    prepared = prepare(spec, quiet=args.quiet, note=lambda text: print(text, file=sys.stderr))
    for line in prepared.lines:
        print(line)
    prepared.check()
    failures: list = []
    outputs = _train_groups(prepared, args, failures)
    answer = None
    if args.active:
        truth = read_seeds(args.truth)

        def answer(workspace, output):
            return _answer_queue(workspace, output, truth, args.active, args.quiet)

    result = finish(prepared, outputs, out, failures, started=started, quiet=args.quiet,
                    answer=answer)
    for line in result.lines:
        print(line)
    for failure in failures:
        print(f"spikeapp: error: {failure.message}", file=sys.stderr)
    return _exit_code(failures)


def _train_groups(prepared, args: argparse.Namespace, failures: list) -> list:
    """Each group's training output, trained in ``--workers`` processes at once (or one after
    another here); the groups that fail join ``failures``. Every group trains with the plan's
    thread count, on either path (results depend on it)."""
    from spikeapp.tasks import run_with_progress_bar
    from spikeapp.workflow.parallel import plan_workers, train_groups

    if not prepared.targets:
        return []
    given = param_table.from_namespace(args, "training").get("threads", 0)
    plan = plan_workers(len(prepared.targets), args.workers or 0, given)
    jobs = [prepared.job(group, plan.threads) for group in prepared.targets]
    outputs = []
    batches = [jobs] if plan.parallel else [[job] for job in jobs]
    for batch in batches:
        title = (f"train {len(jobs)} channel groups in {plan.workers} processes"
                 if plan.parallel else f"train channel {batch[0].group}")
        trained = run_with_progress_bar(train_groups(batch, plan), title,
                                        enabled=not args.quiet)
        failures += trained.failures
        outputs += trained.outputs
    return outputs


def _cluster_options(pairs: list[str] | None) -> dict[str, Any]:
    """--cluster-option KEY=VALUE pairs, numbers as numbers."""
    options: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise SpikeappError(f"--cluster-option {pair}: write KEY=VALUE, e.g. queue=short")
        for kind in (int, float):
            try:
                options[key.strip()] = kind(value)
                break
            except ValueError:
                continue
        else:
            options[key.strip()] = value
    return options


def _sort_on_dask(specs, args: argparse.Namespace, out: Path) -> int:
    """Every recording's detection, trainings and writing as Dask tasks; one folder per
    recording (when there are several) and summary.csv."""
    from dataclasses import replace

    from spikeapp.atomic import atomic_write
    from spikeapp.workflow.batch import client_for, sort_on_dask
    from spikeapp.workflow.parallel import GroupFailure, plan_workers

    if not args.verbose:   # distributed logs every worker's start and stop at INFO
        logging.getLogger("distributed").setLevel(logging.WARNING)
    given = param_table.from_namespace(args, "training").get("threads", 0)
    if args.scheduler:   # the cluster's workers are its own: one thread a task unless told
        workers, threads = 0, given or 1
    else:
        plan = plan_workers(10**6, args.workers or 0, given)
        workers, threads = plan.workers, plan.threads
    specs = [replace(spec, training=dict(spec.training, threads=threads)) for spec in specs]
    separate = len(specs) > 1
    client = client_for(args.scheduler, args.cluster or "local", workers, threads,
                        _cluster_options(args.cluster_option))
    where = args.scheduler or f"{args.cluster or 'local'} cluster of {workers} worker(s)"
    print(f"sorting {len(specs)} recording(s) on Dask ({where}), {threads} thread(s) per task")

    def report(item) -> None:
        if isinstance(item, GroupFailure):
            print(f"spikeapp: error: {item.message}", file=sys.stderr)
            return
        print(f"== {item.name}" if separate else "", *item.lines, sep="\n")
        for failure in item.failures:
            print(f"spikeapp: error: {item.name}: {failure.message}", file=sys.stderr)

    try:
        batch = sort_on_dask(client, specs, out, threads, separate, report,
                             progress=None if args.quiet else print)
    finally:
        cluster = getattr(client, "cluster", None)
        client.close()
        if cluster is not None and not args.scheduler:
            cluster.close()
    if separate:
        atomic_write(out / "summary.csv", batch.summary_csv())
        print(f"{len(batch.results)} of {len(specs)} recording(s) sorted -> {out} "
              "(summary.csv)")
    failures = list(batch.failed.values()) + [f for r in batch.results for f in r.failures]
    return _exit_code(failures)


def _answer_queue(workspace, output, truth, answers: int, quiet: bool):
    """Play a person answering the label-next queue from the ground truth: ten answers, retrain,
    again, until ``answers`` labels are given; prints the accuracy after each round."""
    import numpy as np

    from spikeapp.io.seeds import Seeds
    from spikeapp.tasks import run_with_progress_bar
    from spikeapp.workflow.review import label_next
    from spikeapp.workflow.sorting import accuracy_against_truth

    session = workspace.session
    d = session.detection
    group = output.group
    members = d.group_members(group)
    mine = np.isin(truth.channels, members)
    given = 0
    while given < answers:
        queue = label_next(session, output, min(10, answers - given))
        if len(queue) == 0:
            break
        times, channels, units = [], [], []
        for spike in queue:
            gaps = np.abs(truth.times_s[mine] - d.times_s[spike])
            nearest = int(np.argmin(gaps)) if len(gaps) else -1
            # The truth names the unit; a detection no true spike explains is noise.
            unit = str(truth.units[mine][nearest]) if nearest >= 0 and gaps[nearest] < 0.0004 \
                else "noise"
            times.append(d.times_s[spike])
            channels.append(int(d.peak_channels[spike]))
            units.append(unit)
        workspace.apply_seeds(Seeds(np.array(times), np.array(channels), np.array(units)))
        given += len(queue)
        output = run_with_progress_bar(workspace.training_job(group).run(),
                                       f"retrain channel {group}", enabled=not quiet)
        workspace.apply(output)
        scores = accuracy_against_truth(session, truth.times_s[mine], truth.channels[mine],
                                        truth.units[mine])
        text = ", ".join(f"{name} {score.accuracy:.3f}" for name, score in scores.items())
        print(f"channel {group}: {given} queue answer(s): {text}")
    return output


def cmd_benchmark(args: argparse.Namespace) -> int:
    import json

    from spikeapp.tasks import run_with_progress_bar
    from spikeapp.training.benchmark import records_as_dicts, run_benchmark, summary_table
    from spikeapp.training.classifiers import known_classifiers

    classifiers = [c.strip() for c in args.classifiers.split(",") if c.strip()]
    unknown = sorted(set(classifiers) - set(known_classifiers()))
    if unknown:
        raise SpikeappError(f"unknown classifier(s) {', '.join(unknown)}; known: "
                            f"{', '.join(known_classifiers())}")
    try:
        per_unit = [int(x) for x in args.labels_per_unit.split(",")]
    except ValueError:
        raise SpikeappError("--labels-per-unit takes integers, e.g. 5,10,20") from None
    if args.json:
        _check_writable(Path(args.json))
    training = _training_options(args)
    records = run_with_progress_bar(
        run_benchmark(args.waveforms, per_unit, args.repeats, classifiers, training["seed"],
                      training, param_table.from_namespace(args, "network")), "benchmark",
        enabled=not args.quiet)
    print(summary_table(records))
    if args.json:
        from spikeapp.atomic import atomic_write

        atomic_write(args.json, json.dumps(records_as_dicts(records), indent=1).encode())
        print(f"records -> {args.json}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from spikeapp.export import export
    from spikeapp.session.storage import load_session

    session = load_session(args.session)
    subject = {"subject_id": args.subject_id, "species": args.species, "sex": args.sex,
               "age": args.age}
    print(export(session, args.format, args.out, waveforms=args.waveforms, subject=subject))
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from spikeapp.io.sortings import read_sorting
    from spikeapp.workflow.importing import session_from_sorting
    from spikeapp.workflow.workspace import Workspace

    out = Path(args.out)
    _check_writable(out)
    sorting = read_sorting(args.sorting, unsorted_as_unit=args.unsorted_as_unit)
    if args.recording:
        from spikeapp.detection import detect
        from spikeapp.session import Session
        from spikeapp.tasks import run_with_progress_bar

        options = _reader_options(args)
        with _open(args) as recording:
            detection = run_with_progress_bar(
                detect(recording, param_table.from_namespace(args, "detection")), "detect",
                enabled=not args.quiet)
        session = Session(detection, recording=dict(options,
                                                    path=str(Path(args.recording).resolve())))
        workspace = Workspace(journal=False)
        workspace.set_session(session, name=args.recording)
        report = workspace.import_onto(sorting)
    else:
        session, report = session_from_sorting(sorting)
        workspace = Workspace(journal=False)
        workspace.set_session(session, name=args.sorting)
    workspace.save(out)
    print(f"{args.sorting}: {report.summary()}\nsession -> {out}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from spikeapp.gui.report import write_report
    from spikeapp.session.storage import load_session

    session = load_session(args.session)
    print(f"{write_report(session, args.out)} units -> {args.out}")
    return 0


def _check_writable(path: Path) -> None:
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise SpikeappError(f"{path}: the folder {folder} does not exist")


def _add_recording(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recording", help="file or folder of the recording")
    param_table.add_arguments(parser, ["reader"])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spikeapp", description="Semi-supervised spike sorting with a 1D-CNN. Without a "
        "command, opens the desktop app.")
    parser.add_argument("--version", action="version", version=f"spikeapp {__version__}")
    parser.add_argument("--demo", action="store_true", help="open the app on the demo recording")
    parser.add_argument("--self-test", action="store_true",
                        help="check this installation end to end (torch, neo, detection, "
                        "training, the window) and exit")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    info = sub.add_parser("info", help="describe a recording: streams, channels, units")
    _add_recording(info)
    info.set_defaults(func=cmd_info)

    det = sub.add_parser("detect", help="filter and detect spikes; write an .npz")
    _add_recording(det)
    det.add_argument("--group", action="append", metavar="CHANNELS",
                     help="a channel group sorted together, e.g. 0-3 (repeat for more groups); "
                     "default: the groups the file declares (NWB electrode groups), else each "
                     "channel alone; 'single': each channel alone")
    det.add_argument("--out", required=True, help="output .npz file")
    det.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    param_table.add_arguments(det, ["detection"])
    det.set_defaults(func=cmd_detect)

    demo = sub.add_parser("demo", help="write the demo recording with its ground truth")
    demo.add_argument("--out", required=True, help="FILE.nwb or FILE.nix")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.add_argument("--duration", type=float, default=60.0, help="seconds (default 60)")
    demo.set_defaults(func=cmd_demo)

    gui = sub.add_parser("gui", help="open the desktop app, optionally on a recording")
    gui.add_argument("recording", nargs="?", help="file or folder to open")
    gui.add_argument("--screenshot", metavar="PNG", help="render the window to PNG and exit")
    gui.add_argument("--demo", action="store_true", default=argparse.SUPPRESS,
                     help="open the demo recording (with --screenshot: sorted from 20 labels "
                     "per unit)")
    gui.set_defaults(func=cmd_gui)

    sort = sub.add_parser("sort", help="sort whole recordings from a few labelled spikes")
    sort.add_argument("recording", nargs="+",
                      help="file or folder of the recording; several (or a quoted glob) are "
                           "sorted on Dask, each into its own folder under --out")
    param_table.add_arguments(sort, ["reader"])
    sort.add_argument("--active", type=int, default=0, metavar="N",
                      help="then answer N label-next questions from --truth, as a person would, "
                      "retraining after every ten (for benchmarking the queue)")
    sort.add_argument("--propose", action="store_true",
                      help="start from the proposed units of every channel (a Gaussian mixture "
                           "sized by AIC): their core spikes become labels. With --labels, "
                           "channels that have hand labels keep only those")
    sort.add_argument("--networks", metavar="SESSION",
                      help="sort with the networks of an earlier session of the same electrodes "
                           "(its .spikeapp file, or the folder an earlier sort wrote): no new "
                           "labels; prints each unit's drift and writes drift.csv")
    sort.add_argument("--labels", metavar="SEEDS.csv",
                      help="hand labels: columns time_s,channel,unit. With several recordings, "
                           "a file per recording: write its name as {name}, e.g. "
                           "'labels/{name}.csv'")
    sort.add_argument("--group", action="append", metavar="CHANNELS",
                      help="a channel group sorted together, e.g. 0-3 (repeatable); default: "
                      "the groups the file declares (NWB electrode groups), else each channel "
                      "alone; 'single': each channel alone")
    sort.add_argument("--out", required=True, metavar="DIR", help="output folder")
    sort.add_argument("--truth", metavar="TRUTH.csv",
                      help="ground truth (time_s,channel,unit) to report accuracy against "
                           "({name} as in --labels)")
    sort.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sort.add_argument("--workers", type=int, metavar="N",
                      help="channel groups trained at once, each in its own process, the cores "
                           "shared among them (default: all cores but one; 1: one after "
                           "another in this process); on Dask, the local cluster's processes "
                           "or the SLURM jobs. Results depend on the threads per group: "
                           "give --threads too for the same results with any N")
    sort.add_argument("--recover", action=argparse.BooleanOptionalAction, default=True,
                      help="after training, the sorted units' templates search the signal for "
                           "spikes the threshold missed (under it, inside overlaps); they join "
                           "their unit as predictions, marked as found by template (on by "
                           "default; --no-recover turns it off)")
    sort.add_argument("--recover-score", type=float, default=8.0, metavar="Z",
                      help="least template match, in robust SDs of that template's scores "
                           "along the signal (default 8; at 5 most spikes found in recordings "
                           "full of far-away neurons are theirs)")
    sort.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                      help="run the tasks on this running Dask scheduler's workers (they must "
                           "reach the recordings and --out at the same paths)")
    sort.add_argument("--cluster", choices=["local", "slurm"],
                      help="run the tasks on Dask: a local cluster of --workers processes "
                           "(the default with several recordings), or SLURM jobs of --threads "
                           "cores each (dask-jobqueue; --workers jobs)")
    sort.add_argument("--cluster-option", action="append", metavar="KEY=VALUE",
                      help="a setting of the SLURM cluster, as dask-jobqueue's SLURMCluster "
                           "takes it: queue=short, account=lab, walltime=02:00:00, "
                           "memory='16 GiB' (repeatable)")
    param_table.add_arguments(sort, ["detection", "network", "training"])
    sort.set_defaults(func=cmd_sort)

    from spikeapp.export import FORMATS

    exp = sub.add_parser("export", help="write a session's spike trains for other tools",
                         formatter_class=argparse.RawDescriptionHelpFormatter,
                         description="formats:\n" + "\n".join(
                             f"  {name:<5} {text}" for name, text in FORMATS.items()))
    exp.add_argument("session", help="a .spikeapp session file")
    exp.add_argument("--format", required=True, choices=list(FORMATS))
    exp.add_argument("--out", required=True,
                     help="output file (nix, nwb, csv) or folder (phy, mat)")
    exp.add_argument("--waveforms", action="store_true",
                     help="nix: store every spike's waveform too")
    for option, text in (("subject-id", "NWB subject id"),
                         ("species", "NWB subject species, e.g. 'Macaca mulatta'"),
                         ("sex", "NWB subject sex: M, F, U or O"),
                         ("age", "NWB subject age, ISO 8601, e.g. P90D")):
        exp.add_argument(f"--{option}", help=text)
    exp.set_defaults(func=cmd_export)

    imp = sub.add_parser("import", help="a sorting made elsewhere, as a session to review",
                         description="Units stored in a recording file (Plexon, Blackrock, "
                         "Neuralynx, Spike2...), a phy/Kilosort folder, or a spikeapp CSV or NIX "
                         "export become units of a session, their spikes labels the network "
                         "learns from. With --recording, the sorting is laid onto that "
                         "recording's detected spikes (needed when it has no waveforms).")
    imp.add_argument("sorting", help="file or folder of the sorting")
    imp.add_argument("--out", required=True, help="the session file to write (.spikeapp)")
    imp.add_argument("--recording", help="the recording the sorting was made from")
    imp.add_argument("--unsorted-as-unit", action="store_true",
                     help="keep unit 0 (unsorted in acquisition systems) as a unit")
    imp.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    param_table.add_arguments(imp, ["reader", "detection"])
    imp.set_defaults(func=cmd_import)

    report = sub.add_parser("report", help="a per-unit HTML report of a session")
    report.add_argument("session", help="a .spikeapp session file")
    report.add_argument("--out", required=True, help="output .html file")
    report.set_defaults(func=cmd_report)

    bench = sub.add_parser("benchmark", help="the paper's comparison on labelled waveform sets")
    bench.add_argument("--waveforms", nargs="+", required=True, metavar="FILE",
                       help=".mat (spikes + spikes_labels/spike_class) or .npz (waveforms + labels)")
    bench.add_argument("--labels-per-unit", default="5,10,20,50,100")
    bench.add_argument("--repeats", type=int, default=10)
    bench.add_argument("--classifiers", default="cnn,cnn+self,mlp,mlp+self,lda,lda+self,knn,knn+self",
                       help="each with the labels only, or with +self: self-trained on the "
                            "unlabelled spikes too (every comparison like for like)")
    bench.add_argument("--json", metavar="OUT", help="write every run as JSON records")
    bench.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    param_table.add_arguments(bench, ["network", "training"])
    bench.set_defaults(func=cmd_benchmark)

    for register in _EXTRA_COMMANDS:
        register(sub)
    return parser


# Commands defined in other modules register here (keeps this module small).
_EXTRA_COMMANDS: list[Callable[[Any], None]] = []


def _opens_a_file(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """``spikeapp FILE`` as ``spikeapp gui FILE``: a first word that is no command but names
    a file or folder (or looks like one) opens it in the window."""
    commands = {name for action in parser._subparsers._group_actions
                for name in getattr(action, "choices", {}) or {}} if parser._subparsers else set()
    for k, word in enumerate(argv):
        if word.startswith("-"):
            continue
        if word not in commands and (Path(word).exists() or "." in word or "/" in word):
            return argv[:k] + ["gui"] + argv[k:]
        break
    return argv


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(_opens_a_file(parser, argv))
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s: %(message)s")
    if args.self_test:
        from spikeapp.selftest import run_self_test

        return run_self_test()
    func = getattr(args, "func", None) or cmd_gui
    try:
        return func(args)
    except SpikeappError as error:
        print(f"spikeapp: error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("spikeapp: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - last line of defence: no traceback for users
        if args.debug:
            raise
        print(f"spikeapp: internal error: {type(error).__name__}: {error}\n"
              "(this is a bug in spikeapp; run again with --debug for the details)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
