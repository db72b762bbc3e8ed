"""Errors meant for the user: a clear message naming the file and the problem."""

from __future__ import annotations

from pathlib import Path


class SpikeappError(Exception):
    """An error whose message is shown to the user as is (CLI exit code 2, GUI message box)."""


class NotYet(SpikeappError):
    """An action that cannot run yet (nothing selected, nothing open, a job running): the message
    says what to do first. The window shows it as a note in the status line, not as an error."""


class RecordingError(SpikeappError):
    """A recording cannot be found, recognised or read."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class ParameterError(SpikeappError):
    """A parameter is missing, of the wrong type or out of bounds."""
