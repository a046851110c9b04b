"""Where grading jobs run: a local pool of worker processes, or a Dask cluster.

Both take ``GradingJob`` objects and yield one ``AssignmentResult`` per job as it is
finished; neither decides anything about a submission. A worker process that dies (it
should not: student code runs in its kernel, not in the worker) fails only the job it
was running, with status ``error``, and is replaced for the jobs that remain.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from multiprocessing import forkserver
from multiprocessing.connection import Connection, wait

from .job import GradingJob
from .results import AssignmentResult

#: What a dead worker process's job gets as its message
WORKER_DIED = "the grading worker process died while grading this submission; grade it again"

#: Worker processes in a row that may die before they are ready, before the run gives up
MAX_START_FAILURES = 3

# Pool slots are small numbers; slots of Dask worker processes (from their pid) start above
_PID_SLOT_OFFSET = 1000


class RunnerError(RuntimeError):
    """The jobs cannot be run at all (e.g. the Dask scheduler cannot be reached)."""


def grading_worker(slot: int, sandbox=None):
    """A ``GradingWorker`` for ``slot`` (imported here: the pool's processes import it)."""
    from .worker import GradingWorker

    return GradingWorker(slot, sandbox=sandbox)


def serve(slot: int, conn: Connection, make_worker: Callable = grading_worker) -> None:
    """A pool process: grade each job received on ``conn``; ``None`` ends it.

    ``make_worker(slot)`` gives an object with ``warm_up()``, ``grade(job)``,
    ``kill_kernels()`` and ``close()`` (a ``GradingWorker``).
    """
    from . import patches

    patches.install(worker=True)
    worker = make_worker(slot)
    _die_with_parent(worker)
    try:
        worker.warm_up()
        conn.send(None)  # ready for a first job
        while (job := conn.recv()) is not None:
            conn.send(worker.grade(job))
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        pass  # the grader has gone (or stopped early, e.g. on an error): stop
    finally:
        worker.close()
    # a clean end (an unexpected error has left above, with its traceback): the kernels and
    # the template are gone and every result is sent, so the interpreter's teardown of
    # nbgrader, numpy and the rest (a few tenths of a second the grader would wait for)
    # is skipped
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _die_with_parent(worker) -> None:
    """Tie the process's life to the grader's: a grader killed with SIGKILL cannot stop
    its pool, and an orphaned worker would go on running student code."""
    parent = os.getppid()
    try:
        # Linux: the kernel sends SIGTERM when the parent dies (PR_SET_PDEATHSIG = 1)
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: the watcher below still notices, within a second

    def stop(*_) -> None:
        worker.kill_kernels()
        worker.close()
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        stop()

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()
    signal.signal(signal.SIGTERM, stop)


#: What the fork server imports before it forks the workers (see ``worker_preload``)
PRELOAD = ["autograder.worker_preload"]


class LocalPool:
    """``workers`` grading processes, forked by a fork server that imports meanwhile.

    The processes come from ``multiprocessing``'s fork server, a fresh single-threaded
    process (never a fork of the caller, whose threads and state are not the workers'
    business) that imports the grading code once (``PRELOAD``) while the caller works;
    every worker is a fork of it. The first ``run`` starts the workers. ``make_worker``
    must be importable by name; the default builds a ``GradingWorker``.
    """

    def __init__(self, workers: int, make_worker: Callable = grading_worker) -> None:
        self._context = multiprocessing.get_context("forkserver")
        # only the first pool of a process starts the server: later ones reuse it
        self._context.set_forkserver_preload(PRELOAD)
        forkserver.ensure_running()  # it imports while the caller generates the assignments
        self._make_worker = make_worker
        self._workers = workers
        self._procs: dict[int, tuple[multiprocessing.Process, Connection]] = {}

    def _start(self, slot: int) -> None:
        ours, theirs = self._context.Pipe()
        process = self._context.Process(target=serve, args=(slot, theirs, self._make_worker),
                                        name=f"grading-worker-{slot}", daemon=True)
        process.start()
        theirs.close()
        self._procs[slot] = (process, ours)

    def run(self, jobs: Iterable[GradingJob]) -> Iterator[AssignmentResult]:
        """Yield the result of every job, in the order they finish."""
        waiting = list(jobs)
        for slot in range(self._workers):
            if slot not in self._procs:
                self._start(slot)
        # the slots still working, and each one's job (None: starting up, or idle)
        assigned: dict[int, GradingJob | None] = dict.fromkeys(self._procs)
        started: set[int] = set()  # slots whose current process has said it is ready
        start_failures = 0
        while assigned:
            watched = {}
            for slot in assigned:
                process, conn = self._procs[slot]
                watched[conn] = watched[process.sentinel] = slot
            for ready in wait(list(watched)):
                slot = watched[ready]
                if slot not in assigned:
                    continue  # stopped earlier in this round
                process, conn = self._procs[slot]
                message = _receive(conn)
                if message is _NOTHING and process.is_alive():
                    continue
                if message is _NOTHING or message is _DEAD:
                    job = assigned.pop(slot)
                    if job is not None:
                        yield AssignmentResult.not_graded(job.student, job.assignment,
                                                          "error", WORKER_DIED, job.max_score)
                    conn.close()
                    if slot not in started:
                        start_failures += 1
                        if start_failures >= MAX_START_FAILURES:
                            raise RunnerError(
                                f"{start_failures} grading worker processes in a row died while "
                                f"starting (the last with exit code {process.exitcode}); "
                                "see the messages above. A script that calls grade_class "
                                "must do so under `if __name__ == \"__main__\":`")
                    started.discard(slot)
                    if waiting:
                        self._start(slot)
                        assigned[slot] = None
                    continue
                if slot not in started:
                    started.add(slot)
                    start_failures = 0
                if message is not None:
                    yield message
                job = waiting.pop(0) if waiting else None
                try:
                    conn.send(job)
                except OSError:  # it died after its last answer: the job goes to another
                    if job is not None:
                        waiting.insert(0, job)
                    assigned[slot] = None
                    continue
                if job is None:
                    del assigned[slot]
                else:
                    assigned[slot] = job

    def close(self) -> None:
        """Stop every process (their kernels go with them)."""
        for _, conn in self._procs.values():
            try:
                conn.send(None)
            except OSError:
                pass
            conn.close()
        for process, _ in self._procs.values():
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()
                process.join()
        self._procs.clear()


_DEAD, _NOTHING = object(), object()


def _receive(conn: Connection):
    """The next message on ``conn``; ``_NOTHING`` if none waits, ``_DEAD`` at its end."""
    try:
        return conn.recv() if conn.poll() else _NOTHING
    except (EOFError, OSError):
        return _DEAD


# -- Dask ---------------------------------------------------------------------------------
PLUGIN_NAME = "kl-grader"


def _dask_plugin():
    from distributed.diagnostics.plugin import WorkerPlugin

    class GraderPlugin(WorkerPlugin):
        """Gives each Dask worker process one ``GradingWorker``, closed with the worker."""

        def setup(self, worker) -> None:
            from . import patches

            patches.install(worker=True)
            self.grader = grading_worker(_PID_SLOT_OFFSET + os.getpid() % 50_000)

        def teardown(self, worker) -> None:
            self.grader.close()

    return GraderPlugin()


def grade_on_dask_worker(job: GradingJob) -> AssignmentResult:
    """The task each Dask worker runs: its ``GradingWorker`` grades ``job``."""
    from distributed import get_worker

    return get_worker().plugins[PLUGIN_NAME].grader.grade(job)


def run_on_dask(jobs: Iterable[GradingJob], scheduler: str) -> Iterator[AssignmentResult]:
    """Yield the result of every job as the workers of a Dask cluster grade them.

    Every worker must see the same paths (a shared file system) and have the course
    installed; give each worker process one thread (``--nthreads 1``): a worker grades
    one notebook at a time, as in the local pool.
    """
    # imported here: distributed is slow to import and only this path needs it
    from distributed import Client
    from distributed import as_completed as dask_completed

    try:
        client = Client(scheduler, timeout="10s")
    except OSError as exc:
        raise RunnerError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from exc
    with client:
        client.register_plugin(_dask_plugin(), name=PLUGIN_NAME)
        # pure=False: a re-grade must run again, not reuse a cached result
        futures = {client.submit(grade_on_dask_worker, job, pure=False): job for job in jobs}
        for future in dask_completed(futures):
            job = futures[future]
            try:
                yield future.result()
            except Exception as exc:  # a lost worker fails this job, not the class
                yield AssignmentResult.not_graded(job.student, job.assignment, "error",
                                                  f"the Dask worker failed: {exc}",
                                                  job.max_score)
