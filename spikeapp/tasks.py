"""The contract of every long job: a generator that yields :class:`Progress` and returns a result.

Core work never touches Qt. The CLI drives a job with a terminal progress bar
(:func:`run_with_progress_bar`), the GUI from a worker thread. Cancellation happens
between yields: the driver simply stops iterating (``generator.close()``), or the job
checks a :class:`CancelToken` and raises :class:`Cancelled`.
"""

from __future__ import annotations

import threading
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Progress:
    """One step of a long job.

    Parameters
    ----------
    done, total
        Work done so far and in all, in ``unit`` (``total`` 0 when unknown).
    message
        What the job is doing now, for a status line.
    unit
        What ``done`` counts ("s" of recording, "epoch", "spike"...).
    extra
        Job-specific payload (for training: loss and accuracies).
    """

    done: float
    total: float
    message: str = ""
    unit: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def fraction(self) -> float:
        """Fraction done in [0, 1], 0 when the total is unknown."""
        if self.total <= 0:
            return 0.0
        return min(1.0, max(0.0, self.done / self.total))


Job = Generator[Progress, None, T]


class Cancelled(Exception):
    """Raised inside a job when its :class:`CancelToken` was set."""


class CancelToken:
    """A thread-safe flag a job checks between steps."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled()


def run_job(job: Job[T]) -> T:
    """Drive a job to completion without showing progress; return its result."""
    while True:
        try:
            next(job)
        except StopIteration as stop:
            return stop.value


def run_with_progress_bar(job: Job[T], description: str = "", enabled: bool = True) -> T:
    """Drive a job to completion with a tqdm bar on stderr; return its result. Where stderr is
    not a terminal (a log file, a cluster's output), one line per tenth of the way instead of
    a bar redrawn thousands of times."""
    import sys

    from tqdm import tqdm

    terminal = enabled and sys.stderr.isatty()
    bar = tqdm(total=100, desc=description, disable=not terminal, unit="%", leave=True,
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}")
    reported = -1
    try:
        while True:
            try:
                progress = next(job)
            except StopIteration as stop:
                bar.n = 100
                bar.refresh()
                if enabled and not terminal:
                    print(f"{description}: done", file=sys.stderr, flush=True)
                return stop.value
            bar.n = round(100 * progress.fraction)
            bar.set_postfix_str(progress.message, refresh=False)
            bar.refresh()
            tenth = int(10 * progress.fraction)
            if enabled and not terminal and tenth > reported:
                reported = tenth
                print(f"{description}: {10 * tenth}% {progress.message}", file=sys.stderr,
                      flush=True)
    finally:
        bar.close()
