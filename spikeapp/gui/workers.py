"""Run core jobs (generators yielding Progress) on a QThread, never blocking the window.

One worker object per job, moved to its own QThread. It emits progress, finished (with the
job's result), failed (a message and the traceback) or cancelled. The GUI never reads the
worker's attributes and never waits on the thread in a processEvents loop.
"""

from __future__ import annotations

import gc
import importlib
import logging
import threading
import traceback
from collections.abc import Callable
from typing import Any

from PyQt6.QtCore import QObject, QThread, pyqtSignal, pyqtSlot

from spikeapp.errors import SpikeappError
from spikeapp.tasks import Cancelled, CancelToken, Job

log = logging.getLogger(__name__)


def job_threads() -> int:
    """Native threads (BLAS, OpenMP) background work in the window's process may use: every
    core but one. The window keeps that core: on two cores, the queue's k-means and BLAS
    threads took both and L's ranked queue came in 1.8 s instead of 1.0 (a million spikes)."""
    from spikeapp.workflow.parallel import available_cores

    return max(1, available_cores() - 1)


def leave_the_window_a_core() -> None:
    """Cap BLAS for the whole process. Called on the GUI thread: OpenBLAS ignores the count
    set from other threads once the main thread has set one (scikit-learn's own limits do)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(job_threads(), user_api="blas")


# Set while no module is being loaded ahead of time (see load_ahead).
_LOADED = threading.Event()
_LOADED.set()


def load_ahead(modules: tuple[str, ...]) -> threading.Thread:
    """Load ``modules`` on a thread of its own as the window opens, while nobody is clicking
    yet: a module's set-up (torch's 0.2 s, torch._dynamo's 1 s, which torch's optimisers load
    at their first use) holds the interpreter, and done later by a training on its job thread it
    froze the window 100-170 ms at a time. Nothing else may load torch's modules meanwhile (two
    threads loading them at once can each find the other's half-loaded, as "prims has no
    attribute view_of"): job threads and the window's own loads of them wait for
    :func:`after_loading`."""
    _LOADED.clear()

    def load() -> None:
        try:
            for name in modules:
                try:
                    importlib.import_module(name)
                except Exception:   # noqa: BLE001 - a module that fails here fails where used
                    log.exception("could not load %s ahead of time", name)
            # Their 300,000 objects (functions, classes, dicts) live as long as the process: out
            # of the garbage collector's sight, which otherwise went through them all now and
            # then, holding the interpreter 180-340 ms (the window froze as long, mid-training).
            gc.freeze()
        finally:
            _LOADED.set()

    thread = threading.Thread(target=load, name="spikeapp-warm-up", daemon=True)
    thread.start()
    return thread


def after_loading() -> None:
    """Until the modules loaded ahead of time are in (at once, mostly: it takes seconds after
    the window opens)."""
    _LOADED.wait()


def _job_limits():
    """The calling job thread's OpenMP cap (OpenMP's count is each thread's own)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(job_threads(), user_api="openmp")


class _Worker(QObject):
    progress = pyqtSignal(object)
    finished = pyqtSignal(object)
    failed = pyqtSignal(str, str)
    cancelled = pyqtSignal()

    def __init__(self, make_job: Callable[[CancelToken], Job[Any]], token: CancelToken,
                 waits: bool = True) -> None:
        super().__init__()
        self._make_job = make_job
        self._token = token
        self._waits = waits

    @pyqtSlot()
    def run(self) -> None:
        if self._waits:
            after_loading()
        with _job_limits():
            self._run()

    def _run(self) -> None:
        try:
            job = self._make_job(self._token)
            while True:
                if self._token.cancelled:
                    job.close()
                    raise Cancelled()
                try:
                    self.progress.emit(next(job))
                except StopIteration as stop:
                    if self._token.cancelled:
                        raise Cancelled() from None   # a cancelled job's result is dropped
                    self.finished.emit(stop.value)
                    return
        except Cancelled:
            self.cancelled.emit()
        except SpikeappError as error:
            self.failed.emit(str(error), "")
        except Exception as error:  # noqa: BLE001 - reported to the user, the window lives on
            self.failed.emit(f"{type(error).__name__}: {error}", traceback.format_exc())


class JobRunner(QObject):
    """Starts one background job at a time and relays its signals."""

    progress = pyqtSignal(object)
    finished = pyqtSignal(object)
    failed = pyqtSignal(str, str)
    cancelled = pyqtSignal()
    running_changed = pyqtSignal(bool)

    def __init__(self, parent: QObject | None = None, waits: bool = True) -> None:
        """``waits``: its jobs start once the modules loaded ahead of time are in (they may
        load torch); False for jobs that never touch torch (detection, saving), which start at
        once."""
        super().__init__(parent)
        self._waits = waits
        self._thread: QThread | None = None
        self._worker: _Worker | None = None
        self._token: CancelToken | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self, make_job: Callable[[CancelToken], Job[Any]]) -> bool:
        """Run ``make_job(token)`` in the background; False when a job is already running."""
        if self.running:
            return False
        self._token = CancelToken()
        self._thread = QThread()
        self._worker = _Worker(make_job, self._token, self._waits)
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.run)
        self._worker.progress.connect(self.progress)
        self._worker.finished.connect(self._on_finished)
        self._worker.failed.connect(self._on_failed)
        self._worker.cancelled.connect(self._on_cancelled)
        self._thread.start()
        self.running_changed.emit(True)
        return True

    def cancel(self) -> None:
        if self._token is not None:
            self._token.cancel()

    def join(self, msecs: int = 120_000) -> None:
        """Let the job finish (a save being written) and join the thread; its result is not
        delivered."""
        if self._thread is not None:
            self._thread.quit()
            self._thread.wait(msecs)
            self._cleanup()

    def wait(self, msecs: int = 30_000) -> None:
        """Cancel and join the thread (used when the window closes)."""
        if self._thread is not None:
            self.cancel()
            self._thread.quit()
            self._thread.wait(msecs)
            self._cleanup()

    def _cleanup(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.quit()
            thread.wait()
            thread.deleteLater()
        if self._worker is not None:
            self._worker.deleteLater()
        self._worker = None
        self._token = None
        self.running_changed.emit(False)

    def _on_finished(self, result: object) -> None:
        self._cleanup()
        self.finished.emit(result)

    def _on_failed(self, message: str, details: str) -> None:
        self._cleanup()
        self.failed.emit(message, details)

    def _on_cancelled(self) -> None:
        self._cleanup()
        self.cancelled.emit()
