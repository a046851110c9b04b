"""Grade a class: every ``<student>/<assignment>/<notebook>.ipynb`` of a submissions folder.

The orchestration of one run, and only that: check the request, generate the
assignments, turn every (student, assignment) into a ``GradingJob`` or an early result
(``intake``), let a runner grade the jobs (``runners``: local pool or Dask; the
decisions are the worker's), then write what came back (``results``, ``feedback``).
The submissions folder is laid out like nbgrader's ``submitted/`` and is graded where
it is (never copied into the repository). A broken submission never stops the others.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import feedback, gradebook, patches
from .config import REPO_ROOT, CoursePaths, ensure_venv_on_path, list_assignments, sqlite_url
from .intake import list_students, precheck
from .job import GradingJob
from .policy import DEFAULT_CELL_TIMEOUT, DEFAULT_NOTEBOOK_TIMEOUT, SandboxPolicy
from .release import generate_assignments
from .results import AssignmentResult, write_csvs
from .runners import LocalPool, RunnerError, grading_worker, run_on_dask
from .sandbox import sandbox_problem


class GradingError(RuntimeError):
    """The class cannot be graded at all (bad folder, broken course source)."""


@dataclass(frozen=True)
class GradingOptions:
    """How a class is graded (see ``python -m autograder grade --help``)."""

    cell_timeout: int = DEFAULT_CELL_TIMEOUT
    notebook_timeout: int = DEFAULT_NOTEBOOK_TIMEOUT
    db_url: str | None = None
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    # how student kernels run: sandboxed (or not: --unsafe), forked from a template, limits
    sandbox: SandboxPolicy = field(default_factory=SandboxPolicy)
    # address of a Dask distributed scheduler (tcp://host:port); None: local process pool
    scheduler: str | None = None
    # the folder holding solutions/ (the source graded against)
    course: Path = REPO_ROOT

    def __post_init__(self) -> None:
        for name in ("cell_timeout", "notebook_timeout", "workers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise GradingError(f"{name} must be a whole number of at least 1, not {value!r}")


Progress = Callable[[AssignmentResult, int], None]


def grade_class(submissions: Path, out: Path, *, assignments: list[str] | None = None,
                options: GradingOptions | None = None,
                progress: Progress | None = None) -> list[AssignmentResult]:
    """Grade every student in ``submissions`` on every assignment; write CSVs and feedback.

    ``out`` receives ``grades.csv``, ``tests.csv``, ``feedback/<student>/<assignment>/``,
    ``run.json`` and nbgrader's working folder ``nbgrader/`` (gradebook, autograded
    notebooks). Submissions are graded by ``options.workers`` processes in parallel, each
    student kernel in a bubblewrap sandbox unless the policy says otherwise.
    ``progress(result, total)`` is called with each result as it is finished.
    """
    patches.install()
    options = options or GradingOptions()
    submissions = Path(submissions).resolve()
    if not submissions.is_dir():
        raise GradingError(f"submissions folder {submissions} does not exist or is not a folder")
    out = Path(out).resolve()
    if out == submissions or submissions in out.parents:
        raise GradingError("the output folder must not be inside the submissions folder")
    if options.sandbox.enabled:
        problem = sandbox_problem()
        if problem:
            raise GradingError(f"cannot sandbox student code: {problem}. Install bubblewrap, "
                               "or pass --unsafe to run student code without a sandbox")
    students = list_students(submissions)
    if not students:
        raise GradingError(f"no student folders in {submissions}")
    work = out / "nbgrader"
    paths = CoursePaths.for_repo(work, release=work / "release", submitted=submissions,
                                 repo=options.course)
    if not paths.source.is_dir():
        raise GradingError(f"no solutions/ folder in the course folder {paths.source.parent}")
    work.mkdir(parents=True, exist_ok=True)
    ensure_venv_on_path()
    with _exclusive(out):
        return _grade(paths, out, students, assignments, options, progress)


@contextlib.contextmanager
def _exclusive(out: Path):
    """Hold a lock on ``out``: two runs writing one gradebook would corrupt each other."""
    with open(out / ".grading.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise GradingError(f"another grading run is using {out}; wait for it to "
                               "finish or choose another --out") from None
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _grade(paths: CoursePaths, out: Path, students: list[str], assignments: list[str] | None,
           options: GradingOptions, progress: Progress | None) -> list[AssignmentResult]:
    db_url = options.db_url or sqlite_url(paths.work)
    assignments = assignments or list_assignments(paths.source)
    # the local pool's fork server starts now: it imports nbgrader while this one generates
    pool = None if options.scheduler else LocalPool(
        min(options.workers, max(len(students) * len(assignments), 1)),
        functools.partial(grading_worker, sandbox=options.sandbox))
    try:
        assignments = generate_assignments(paths, assignments, db_url=db_url,
                                           cell_timeout=options.cell_timeout)
        max_scores = gradebook.max_scores(db_url, assignments)
        gradebook.add_students(db_url, students)
        total = len(students) * len(assignments)
        results: dict[tuple[str, str], AssignmentResult] = {}

        def finish(result: AssignmentResult) -> None:
            results[result.student_id, result.assignment] = result
            if progress:
                progress(result, total)

        jobs = []
        for student in students:
            for assignment in assignments:
                early = precheck(paths, student, assignment, max_scores[assignment])
                if early is not None:
                    finish(early)
                else:
                    jobs.append(GradingJob(student, assignment, paths, db_url,
                                           max_scores[assignment], options.cell_timeout,
                                           options.notebook_timeout, options.sandbox))
        try:
            for result in (pool.run(jobs) if pool else run_on_dask(jobs, options.scheduler)):
                finish(result)
        except RunnerError as exc:
            raise GradingError(str(exc)) from exc
    finally:
        if pool is not None:
            pool.close()
    ordered = [results[s, a] for s in students for a in assignments]
    for result in ordered:
        feedback.publish(result, paths.work / "feedback", out)
    write_csvs(out, ordered)
    _write_run(out, paths, options, assignments, len(students))
    return ordered


def _write_run(out: Path, paths: CoursePaths, options: GradingOptions,
               assignments: list[str], students: int) -> None:
    """``run.json``: how these grades were produced, and where the run's pieces are.

    The report reads the first part; ``export``, ``feedback`` and ``formgrader`` the second.
    """
    run = {"unsafe": not options.sandbox.enabled, "workers": options.workers,
           "scheduler": options.scheduler, "kernel_template": options.sandbox.kernel_template,
           "limits": {"memory_bytes": options.sandbox.limits.memory_bytes,
                      "max_processes": options.sandbox.limits.max_processes,
                      "max_file_bytes": options.sandbox.limits.max_file_bytes},
           "cell_timeout": options.cell_timeout, "notebook_timeout": options.notebook_timeout,
           "assignments": assignments, "students": students,
           "submissions": str(paths.submitted), "source": str(paths.source),
           "external_db": options.db_url is not None}
    (out / "run.json").write_text(json.dumps(run, indent=1) + "\n")
