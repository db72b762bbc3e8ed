"""Open any supported recording from its path, recognising the format."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from spikeapp.errors import ParameterError, RecordingError
from spikeapp.io.base import Recording
from spikeapp.io.binary import BinaryRecording, open_mat
from spikeapp.io.neo_reader import NeoRecording, neo_candidates, neo_format_names, open_rawio
from spikeapp.io.nwb_reader import NwbRecording

log = logging.getLogger(__name__)

FORMATS = ("nwb", "binary", "mat", "<any neo format: Neuralynx, Plexon, Blackrock, Spike2, "
           "Intan, OpenEphys, SpikeGLX, Axon, ...>")
_BINARY_SUFFIXES = {".raw", ".bin", ".dat"}


def open_recording(path: str | os.PathLike, *, format: str | None = None,
                   stream: str | int | None = None, channels: str | list[int] | None = None,
                   segment: int = 0, sampling_rate: float | None = None,
                   n_channels: int | None = None, dtype: str | None = None,
                   header_bytes: int = 0, gain: float = 1.0,
                   variable: str | None = None) -> Recording:
    """Open a recording as a :class:`Recording`, reading nothing but its header.

    The format is recognised from the path (file or folder) unless ``format`` forces it.
    Raw binary needs ``sampling_rate``, ``n_channels`` and ``dtype``; ``gain`` converts its
    samples (and MATLAB ones) to microvolts. Raises RecordingError or ParameterError with a
    message naming the file and the problem.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise RecordingError(path, "no such file or folder")
    if not os.access(path, os.R_OK):
        raise RecordingError(path, "permission denied: the file cannot be read")
    if path.is_file() and path.stat().st_size == 0:
        raise RecordingError(path, "the file is empty (0 bytes)")
    kind = (format or _guess_kind(path, sampling_rate, n_channels, dtype)).strip()
    lowered = kind.lower()
    if lowered == "nwb":
        return NwbRecording(path, stream=stream, channels=channels)
    if lowered in ("binary", "raw"):
        return BinaryRecording(path, sampling_rate=sampling_rate, n_channels=n_channels,
                               dtype=dtype, header_bytes=header_bytes, gain_uv=gain,
                               channels=channels)
    if lowered in ("mat", "matlab"):
        return open_mat(path, sampling_rate=sampling_rate, gain_uv=gain, channels=channels,
                        variable=variable)
    return _open_neo(path, kind, stream=stream, channels=channels, segment=segment)


READER_OPTIONS = ("format", "stream", "channels", "segment", "sampling_rate", "n_channels",
                  "dtype", "header_bytes", "gain", "variable")


def reader_options(recording: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of :func:`open_recording` among what a session keeps of its
    recording (which also holds its path, its channel groups, whether it was imported...)."""
    return {k: v for k, v in recording.items() if k in READER_OPTIONS}


def _guess_kind(path: Path, sampling_rate: float | None, n_channels: int | None,
                dtype: str | None) -> str:
    suffix = path.suffix.lower()
    if path.is_file():
        if suffix == ".nwb":
            return "nwb"
        if suffix == ".mat":
            return "mat"
        if suffix in _BINARY_SUFFIXES and (n_channels is not None or dtype is not None):
            return "binary"
    return "neo"


def _open_neo(path: Path, kind: str, **options: Any) -> Recording:
    names = neo_format_names()
    if kind != "neo":
        matched = {n.lower(): cls for n, cls in names.items()}.get(kind.lower())
        if matched is None:
            raise ParameterError(f"{path}: unknown format '{kind}'; known: nwb, binary, mat, "
                                 f"{', '.join(sorted(names))}")
        rawio = open_rawio(path, matched)
        return NeoRecording(path, rawio, **options)
    candidates = [c for c in neo_candidates(path) if c.__name__ != "RawBinarySignalRawIO"]
    hint = ""
    if path.suffix.lower() in _BINARY_SUFFIXES:
        hint = ("; for raw binary give its sample type, channel count and sampling rate (the "
                "open dialog's Reader fields dtype, n_channels, sampling_rate; or --dtype, "
                "--n-channels, --sampling-rate and --format binary)")
    if not candidates:
        raise RecordingError(path, "not a recognised recording format (extension "
                             f"'{path.suffix or 'none'}'){hint}")
    failures = []
    for candidate in candidates:
        try:
            rawio = open_rawio(path, candidate)
        except RecordingError as error:
            failures.append(error.problem)
            continue
        if len(candidates) > 1:
            log.info("%s: read as %s (other candidates: %s; force one with --format)", path,
                     candidate.__name__.removesuffix("RawIO"),
                     ", ".join(c.__name__.removesuffix("RawIO") for c in candidates
                               if c is not candidate))
        return NeoRecording(path, rawio, **options)
    if len(failures) == 1:
        raise RecordingError(path, failures[0] + hint)
    raise RecordingError(path, "no reader could open it; tried: " + "; ".join(failures) + hint)


def describe(path: str | os.PathLike, **options: Any):
    """RecordingInfo of a file, including files with sorted units but no continuous signal."""
    from spikeapp.io.neo_reader import describe_rawio

    try:
        with open_recording(path, **options) as recording:
            return recording.info()
    except RecordingError as error:
        if "no continuous signal" not in error.problem:
            raise
    # Files with sorted units only (Plexon, Blackrock .nev): describe the rawio itself.
    path = Path(path)
    fmt = options.get("format")
    names = neo_format_names()
    classes = [names[fmt]] if fmt in names else neo_candidates(path)
    rawio = open_rawio(path, classes[0])
    return describe_rawio(str(path), rawio)
