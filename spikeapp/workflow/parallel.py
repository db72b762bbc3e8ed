"""Channel groups trained and predicted side by side, in worker processes.

Groups are independent: each trains on its own labels and predicts its own spikes. A
``concurrent.futures.ProcessPoolExecutor`` (start method "spawn": no forked torch or Qt state)
runs one group per worker; each worker caps its torch and BLAS threads so that workers x
threads never exceeds the cores this process may use (torch's thread pools spin when
oversubscribed: two processes each taking every core ran 20x slower). A worker receives only
its group's snapshot (waveforms, labels, parameters, seed) and sends back the network as
checkpoint bytes and the predictions as arrays; the parent rebuilds the
:class:`~spikeapp.workflow.sorting.TrainingOutput` the serial path makes.

Results depend on the torch thread count: the CPU kernels split their sums by thread, the
weights differ in the last bits after a step and drift apart over a training (on the 32-channel
probe of benchmarks/scale_out.py, 2 threads against 1: 8 of 16,504 spikes in another unit,
confidences up to 0.15 apart). So both paths train every group with the same per-group count,
:attr:`WorkerPlan.threads`. With an
explicit thread count the plan keeps it and takes fewer workers instead, so that one and many
workers give identical networks and predictions.

Many recordings, or a cluster, go through Dask instead (:mod:`spikeapp.workflow.batch`): its
tasks send and receive the same :class:`Portable` outputs.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue as queue_
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from spikeapp.errors import SpikeappError
from spikeapp.tasks import Cancelled, CancelToken, Job, Progress
from spikeapp.workflow.sorting import TrainingInput, TrainingOutput, train_and_predict

if TYPE_CHECKING:
    from spikeapp.workflow.workspace import TrainingJob

log = logging.getLogger(__name__)

START_METHOD = "spawn"
POLL_S = 0.1            # how often the parent looks at its workers' messages and futures
POOL_RETRIES = 1        # a pool whose worker died runs its stopped groups again this often


def available_cores() -> int:
    """The cores this process may run on (its affinity, not the machine's count)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class WorkerPlan:
    """How many groups train at once (``workers``; 1: one after another in this process) and
    how many torch threads each group trains with (the same on either path)."""

    workers: int
    threads: int

    @property
    def parallel(self) -> bool:
        return self.workers > 1


def default_workers() -> int:
    """All cores but one, at least one."""
    return max(1, available_cores() - 1)


def plan_workers(groups: int, workers: int = 0, threads: int = 0, reserve: int = 0,
                 cores: int | None = None) -> WorkerPlan:
    """Workers and threads per group such that workers x threads <= the cores left after
    ``reserve`` (a core kept for the window).

    ``workers`` 0: :func:`default_workers`; never more than the groups. ``threads`` 0: the
    cores shared evenly among the workers; a given thread count is kept (results depend on it)
    and the workers are fewer when needed.
    """
    cores = cores if cores is not None else available_cores()
    usable = max(1, cores - reserve)
    wanted = workers if workers > 0 else max(1, cores - 1)
    count = max(1, min(wanted, groups, usable))
    if threads > 0:
        count = max(1, min(count, usable // threads))
        return WorkerPlan(count, threads)
    return WorkerPlan(count, max(1, usable // count))


@dataclass(frozen=True)
class GroupFailure:
    """A group whose training failed: the message for the user, the traceback, and whether it
    is a user error (a :class:`SpikeappError`) rather than a bug."""

    group: int
    message: str
    details: str = ""
    user_error: bool = True


@dataclass
class GroupTrainings:
    """What :func:`train_groups` returns: the outputs in the order of the jobs given, and the
    groups that failed (the others finished all the same)."""

    outputs: list[TrainingOutput] = field(default_factory=list)
    failures: list[GroupFailure] = field(default_factory=list)
    plan: WorkerPlan | None = None
    worker_threads: dict[int, int] = field(default_factory=dict)  # group -> torch threads used


def train_groups(jobs: list[TrainingJob], plan: WorkerPlan, cancel: CancelToken | None = None
                 ) -> Job[GroupTrainings]:
    """Train and predict every job's group: in worker processes when ``plan`` is parallel,
    else one after another here. Progress names the groups; a cancel stops every group.
    Every group trains with ``plan.threads`` torch threads."""
    if not jobs:
        return GroupTrainings(plan=plan)
    if not plan.parallel or len(jobs) == 1:
        return (yield from _train_here(jobs, plan, cancel))
    return (yield from _train_in_pool(jobs, plan, cancel))


PREDICT_SHARE = 0.1     # of a group's progress bar: training takes the rest


def _share(progress: Progress) -> float:
    """A group's progress through training then prediction, in [0, 1] (each of the two
    counts its own steps from 0)."""
    if progress.unit == "predict":
        return 1.0 - PREDICT_SHARE + PREDICT_SHARE * progress.fraction
    return (1.0 - PREDICT_SHARE) * progress.fraction


def _training_params(job: TrainingJob, plan: WorkerPlan) -> dict[str, Any]:
    return dict(job.training, threads=plan.threads)


def failure_of(group: int, error: BaseException) -> GroupFailure:
    """A failure as the user sees it, named by its channel group (group -1: a whole
    recording's, whose error names its file); a worker's traceback travels as the error's
    cause."""
    import traceback

    cause = error.__cause__
    details = str(cause) if cause is not None and type(cause).__name__ == "_RemoteTraceback" \
        else "".join(traceback.format_exception(error))
    user_error = isinstance(error, SpikeappError)
    text = str(error) if user_error else f"{type(error).__name__}: {error}"
    prefix = f"channel {group}" if group >= 0 else ""
    if prefix and not text.startswith(prefix):
        text = f"{prefix}: {text}"
    return GroupFailure(group, text, details, user_error)


def _train_here(jobs: list[TrainingJob], plan: WorkerPlan, cancel: CancelToken | None
                ) -> Job[GroupTrainings]:
    """The serial path: this process, one group after another."""
    from spikeapp.training.device import torch_threads

    result = GroupTrainings(plan=plan)
    for k, job in enumerate(jobs):
        work = train_and_predict(job.data, job.network, _training_params(job, plan),
                                 job.training["min_confidence"], cancel)
        try:
            while True:
                try:
                    progress = next(work)
                except StopIteration as stop:
                    result.outputs.append(stop.value)
                    result.worker_threads[job.group] = torch_threads()
                    break
                yield Progress(k + _share(progress), len(jobs),
                               f"channel {job.group}: {progress.message}", progress.unit,
                               progress.extra)
        except (Cancelled, KeyboardInterrupt):
            raise
        except Exception as error:  # noqa: BLE001 - reported with its group; the others go on
            failure = failure_of(job.group, error)
            log.warning("%s", failure.message)
            result.failures.append(failure)
    return result


# -- the pool ------------------------------------------------------------------------------------

@dataclass
class Portable:
    """A group's output as it crosses back from a worker: the network as checkpoint bytes,
    the rest plain arrays and values."""

    group: int
    network: bytes
    assigned: NDArray[np.int64]
    confidence: NDArray[np.float32]
    probabilities: NDArray[np.float32] | None
    candidates: list[NDArray[np.int64]]
    history: list[dict[str, float]]
    train_seconds: float
    calibration: dict[str, Any]
    pseudo_labelled: int
    threads: int


def _train_in_pool(jobs: list[TrainingJob], plan: WorkerPlan, cancel: CancelToken | None
                   ) -> Job[GroupTrainings]:
    """The groups in worker processes. A worker that dies (killed for its memory, say) breaks
    its pool and stops the groups running in it: those run again, once, in a new pool."""
    context = multiprocessing.get_context(START_METHOD)
    messages = context.Queue()
    stop = context.Event()
    slots = context.Value("i", 0)   # each worker takes the next: its GPU where there are several
    result = GroupTrainings(plan=plan)
    by_group = {job.group: job for job in jobs}
    done_of: dict[int, float] = {job.group: 0.0 for job in jobs}
    latest: dict[int, str] = {job.group: "waiting for a worker" for job in jobs}
    arrived: dict[int, Portable] = {}
    followed = jobs[0].group   # the group whose loss curve the progress carries
    # A pool that breaks stops every group in it, not only the one that killed its worker:
    # each stopped group runs again in a pool of its own, so that the others go through.
    batches: list[tuple[list[TrainingJob], int]] = [(list(jobs), 0)]   # (jobs, attempt)
    try:
        while batches:
            todo, attempt = batches.pop(0)
            stopped: list[int] = []   # groups whose worker died under them
            pool = ProcessPoolExecutor(min(plan.workers, len(todo)), mp_context=context,
                                       initializer=_start_worker,
                                       initargs=(messages, stop, plan.threads, slots))
            try:
                futures: dict[Future, int] = {
                    pool.submit(_train_in_worker, job.data, job.network,
                                _training_params(job, plan), job.training["min_confidence"]):
                    job.group for job in todo}
                pending = set(futures)
                yield Progress(sum(done_of.values()), len(jobs), (
                    f"training {len(todo)} channel groups in {plan.workers} worker processes, "
                    f"{plan.threads} thread(s) each") if not attempt else (
                    f"a worker process stopped: channel(s) {', '.join(str(j.group) for j in todo)} "
                    "again in new worker processes"), "group")
                while pending:
                    if cancel is not None and cancel.cancelled:
                        raise Cancelled()
                    finished, pending = wait(pending, timeout=POLL_S,
                                             return_when=FIRST_COMPLETED)
                    extras: list[dict[str, Any]] = []   # each epoch of the followed curve
                    for group, progress in _drain(messages):
                        done_of[group] = min(_share(progress), 0.99)
                        latest[group] = progress.message
                        if group == followed and progress.extra:
                            extras.append(progress.extra)
                    for future in finished:
                        group = futures[future]
                        try:
                            arrived[group] = future.result()
                            latest[group], done_of[group] = "done", 1.0
                        except Cancelled:
                            raise
                        except BrokenProcessPool:
                            latest[group], done_of[group] = "waiting for a worker", 0.0
                            stopped.append(group)
                        except Exception as error:  # noqa: BLE001 - reported; the others go on
                            latest[group], done_of[group] = "failed", 1.0
                            result.failures.append(failure_of(group, error))
                            log.warning("%s", result.failures[-1].message)
                    running = [f"channel {g}: {latest[g]}" for g in by_group
                               if latest[g] not in ("waiting for a worker", "done", "failed")]
                    message = "; ".join(running) or f"{len(arrived)} of {len(jobs)} groups done"
                    for extra in extras or [{}]:
                        yield Progress(sum(done_of.values()), len(jobs), message, "group", extra)
            except BaseException:
                stop.set()   # running workers stop at their next step instead of finishing
                raise
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
            if stopped:
                log.warning("a worker process stopped under channel(s) %s", stopped)
            for group in stopped:
                if attempt < POOL_RETRIES:
                    batches.append(([by_group[group]], attempt + 1))
                else:
                    latest[group], done_of[group] = "failed", 1.0
                    result.failures.append(GroupFailure(
                        group, f"channel {group}: its worker process stopped, "
                        f"{attempt + 1} times (out of memory? try fewer --workers)", "", False))
    finally:
        stop.set()
        messages.close()
        messages.join_thread()
    for job in jobs:
        if job.group in arrived:
            result.outputs.append(rebuild(arrived[job.group], job.data.spikes,
                                          job.data.unit_ids))
            result.worker_threads[job.group] = arrived[job.group].threads
    result.failures.sort(key=lambda f: [j.group for j in jobs].index(f.group))
    return result


def portable(output: TrainingOutput) -> Portable:
    """A group's output as it crosses to another process (the network as checkpoint bytes)."""
    from spikeapp.training.device import torch_threads

    trained = output.trained
    return Portable(output.group, output.network, output.assigned, output.confidence,
                    output.probabilities, output.candidates, trained.history,
                    trained.train_seconds, trained.calibration, trained.pseudo_labelled,
                    torch_threads())


def _drain(messages) -> list[tuple[int, Progress]]:
    out = []
    while True:
        try:
            out.append(messages.get_nowait())
        except queue_.Empty:
            return out


def rebuild(arrived: Portable, spikes: NDArray[np.int64], unit_ids: NDArray[np.int64]
            ) -> TrainingOutput:
    """The output the serial path would have made, its network loaded from the bytes."""
    from spikeapp.training.checkpoint import load_checkpoint

    trained = load_checkpoint(arrived.network, name=f"channel {arrived.group}")
    trained.history = arrived.history
    trained.train_seconds = arrived.train_seconds
    trained.calibration = arrived.calibration
    trained.pseudo_labelled = arrived.pseudo_labelled
    return TrainingOutput(arrived.group, trained, arrived.network, spikes,
                          arrived.assigned, arrived.confidence, arrived.probabilities,
                          unit_ids, arrived.candidates)


# -- in the worker process -------------------------------------------------------------------------

_messages = None
_stop = None


class _StopToken(CancelToken):
    """The parent's stop event, as the CancelToken the training checks."""

    def __init__(self, event) -> None:
        self._event = event


def _start_worker(messages, stop, threads: int, slots) -> None:
    """Each worker's first act: its thread caps (torch's and the BLAS libraries'), its lines
    to the parent, and its GPU: with several, worker k trains on GPU k mod their count (every
    worker on the first one left the others idle)."""
    global _messages, _stop
    _messages, _stop = messages, stop
    # A worker never waits at its exit for progress the parent no longer reads.
    messages.cancel_join_thread()
    from threadpoolctl import threadpool_limits

    from spikeapp.training.device import cap_threads, use_gpu_of_slot

    threadpool_limits(threads)
    cap_threads(threads)
    with slots.get_lock():
        slot = slots.value
        slots.value += 1
    use_gpu_of_slot(slot)


def _train_in_worker(data: TrainingInput, network: dict[str, Any], training: dict[str, Any],
                     min_confidence: float) -> Portable:
    """One group, trained and predicted in a worker; progress goes to the parent as it comes."""
    token = _StopToken(_stop)
    work = train_and_predict(data, network, training, min_confidence, token)
    last = 0.0
    while True:
        if token.cancelled:
            work.close()
            raise Cancelled()
        try:
            progress = next(work)
        except StopIteration as stop:
            output: TrainingOutput = stop.value
            break
        now = time.monotonic()
        if progress.extra or now - last >= POLL_S:
            last = now
            _messages.put((data.group, progress))
    return portable(output)
