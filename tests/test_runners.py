"""The local pool: every job gets one result, and a dead worker costs only its own job."""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

import pytest

from autograder.config import CoursePaths
from autograder.job import GradingJob
from autograder.results import AssignmentResult
from autograder.runners import MAX_START_FAILURES, WORKER_DIED, LocalPool, RunnerError

PATHS = CoursePaths(Path("/s"), Path("/r"), Path("/w"))


class FakeWorker:
    """Stands in for a GradingWorker: grades instantly, or kills its own process."""

    def __init__(self, start_marker: Path | None, slot: int) -> None:
        self.slot, self.start_marker = slot, start_marker

    def warm_up(self) -> None:
        # the first process to start dies during its start-up, holding no job
        if self.start_marker is not None and not self.start_marker.exists():
            self.start_marker.write_text("died once")
            os._exit(5)

    def grade(self, job: GradingJob) -> AssignmentResult:
        if job.student.startswith("kills"):
            os._exit(3)
        return AssignmentResult(job.student, job.assignment, "graded", 1.0, 1.0,
                                f"pid {os.getpid()}")

    def kill_kernels(self) -> None:
        pass

    def close(self) -> None:
        pass


class NeverStarts(FakeWorker):
    """A worker whose process always dies while it starts (a broken installation, say)."""

    def warm_up(self) -> None:
        os._exit(6)


class ReportsImports(FakeWorker):
    """A worker that says which of the grading modules its process had when it began."""

    MODULES = ("autograder.trusted", "autograder.feedback", "autograder.worker", "nbclient")

    def __init__(self, start_marker: Path | None, slot: int) -> None:
        super().__init__(start_marker, slot)
        # this test module imports none of them: only the fork server's preload can have
        self.found = [name for name in self.MODULES if name in sys.modules]

    def grade(self, job: GradingJob) -> AssignmentResult:
        return AssignmentResult(job.student, job.assignment, "graded", 1.0, 1.0,
                                ",".join(self.found))


def _jobs(*students: str) -> list[GradingJob]:
    return [GradingJob(s, "01", PATHS, "sqlite://", 1.0, 10, 60) for s in students]


def _run(make_worker, jobs, workers=2) -> dict[str, AssignmentResult]:
    pool = LocalPool(workers, make_worker)
    try:
        return {r.student_id: r for r in pool.run(jobs)}
    finally:
        pool.close()


def test_a_dead_worker_fails_only_its_own_job():
    """The job that killed its worker is an error; every other job is graded by the rest."""
    students = ["a", "b", "kills_1", "c", "d", "e", "kills_2", "f"]
    results = _run(functools.partial(FakeWorker, None), _jobs(*students))
    assert sorted(results) == sorted(students)
    for student, result in results.items():
        if student.startswith("kills"):
            assert (result.status, result.message, result.score) == ("error", WORKER_DIED, 0.0)
        else:
            assert result.status == "graded", result
    # replacement processes took over: more than the two first pids graded
    assert len({r.message for r in results.values() if r.status == "graded"}) >= 2


def test_a_worker_dying_at_start_up_loses_no_job(tmp_path):
    """A process that dies before it took a job is replaced; all jobs are graded."""
    results = _run(functools.partial(FakeWorker, tmp_path / "started"), _jobs("a", "b", "c"))
    assert {s: r.status for s, r in results.items()} == dict.fromkeys("abc", "graded")
    assert (tmp_path / "started").exists()


def test_workers_begin_with_the_grading_code_imported_once_by_the_fork_server():
    """Workers are forked from a server that imported the grading modules beforehand."""
    results = _run(functools.partial(ReportsImports, None), _jobs("a", "b", "c", "d"))
    assert {r.message for r in results.values()} == {",".join(ReportsImports.MODULES)}


def test_no_jobs_end_at_once():
    """An empty class: the pool starts, has nothing to do and stops."""
    assert _run(functools.partial(FakeWorker, None), [], workers=1) == {}


def test_workers_that_never_start_stop_the_run_with_a_clear_error():
    """Processes that die at start-up again and again end the run instead of looping."""
    with pytest.raises(RunnerError, match=f"{MAX_START_FAILURES} grading worker processes"):
        _run(functools.partial(NeverStarts, None), _jobs("a", "b"), workers=1)
