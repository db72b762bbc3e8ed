"""Command line: ``spikeapp [--demo] | gui | info | detect | demo | sort | benchmark``.

Errors meant for the user print one line naming the file and the problem and exit with 2.
"""

from __future__ import annotations

import argparse
import logging
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

    return open_recording(args.recording, **_reader_options(args))


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
    if info.units:
        lines.append(f"Sorted units in the file: {len(info.units)}")
        lines.append(f"  {'name':<24} {'channel':<16} {'spikes':>8}")
        for unit in info.units[:60]:
            lines.append(f"  {unit.name[:24]:<24} {unit.channel[:16]:<16} {unit.n_spikes:>8}")
        if len(info.units) > 60:
            lines.append(f"  ... and {len(info.units) - 60} more")
    else:
        lines.append("Sorted units in the file: none")
    return "\n".join(lines)


def cmd_detect(args: argparse.Namespace) -> int:
    import numpy as np

    from spikeapp.detection import detect, parse_groups
    from spikeapp.tasks import run_with_progress_bar

    out = Path(args.out)
    _check_writable(out)
    with _open(args) as recording:
        groups = parse_groups(args.group, recording.channel_ids)
        result = run_with_progress_bar(
            detect(recording, param_table.from_namespace(args, "detection"), groups),
            f"detect {Path(args.recording).name}", enabled=not args.quiet)
    result.save(out)
    print(f"{result.n_spikes} spikes in {result.n_samples / result.sampling_rate:.1f} s -> {out}")
    for group, count in zip(*np.unique(result.channels, return_counts=True)):
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
                     "default: each channel alone")
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
    gui.set_defaults(func=cmd_gui)

    for register in _EXTRA_COMMANDS:
        register(sub)
    return parser


# Commands defined in other modules register here (keeps this module small).
_EXTRA_COMMANDS: list[Callable[[Any], None]] = []


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s: %(message)s")
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
