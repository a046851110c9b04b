"""Grade a class: every ``<student>/<assignment>/<notebook>.ipynb`` of a submissions folder.

The submissions folder is laid out like nbgrader's ``submitted/`` and is graded
where it is (never copied into the repository). Each (student, assignment)
ends in exactly one status:

``graded``   nbgrader ran every cell; the score is what the tests gave
``timeout``  a cell hit the per-cell limit (the score counts the cells that
             finished), or the kernel ignored the interrupt or the whole
             notebook hit its deadline (score 0)
``invalid``  the file is not a notebook nbgrader can grade (broken JSON, not
             nbformat 4, test cells nbgrader refuses): score 0
``error``    grading failed for another reason, e.g. the kernel died: score 0
``missing``  the student has no notebook for the assignment: score 0

A broken submission never stops the others.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import html
import json
import multiprocessing
import os
import shutil
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook

from .config import (
    COURSE_ID,
    DEFAULT_CELL_TIMEOUT,
    DEFAULT_NOTEBOOK_TIMEOUT,
    REPO_ROOT,
    CoursePaths,
    ensure_venv_on_path,
    list_assignments,
    sqlite_url,
)
from .release import generate_assignments
from .sandbox import sandbox_problem
from .worker import init_worker, safe_grade_submission, warm_up

STATUSES = ("graded", "invalid", "timeout", "error", "missing")
#: the statuses of a submission nbgrader graded: it has scores in the gradebook
SCORED_STATUSES = ("graded", "timeout")
GRADES_COLUMNS = ("student_id", "assignment", "score", "max_score", "status")
TESTS_COLUMNS = ("student_id", "assignment", "grade_id", "score", "max_score")


class GradingError(RuntimeError):
    """The class cannot be graded at all (bad folder, broken course source)."""


@dataclass
class TestScore:
    grade_id: str
    score: float | None  # None: a manually graded item nobody has graded yet
    max_score: float


@dataclass
class AssignmentResult:
    student_id: str
    assignment: str
    status: str
    score: float
    max_score: float
    message: str = ""
    tests: list[TestScore] = field(default_factory=list)


@dataclass(frozen=True)
class GradingOptions:
    """How a class is graded (see ``python -m autograder grade --help``)."""

    cell_timeout: int = DEFAULT_CELL_TIMEOUT
    notebook_timeout: int = DEFAULT_NOTEBOOK_TIMEOUT
    db_url: str | None = None
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    # run student code without the bubblewrap sandbox (only for trusted notebooks)
    unsafe: bool = False
    # address of a Dask distributed scheduler (tcp://host:port); None: local process pool
    scheduler: str | None = None
    # the folder holding solutions/ (the source graded against); None: this checkout
    course: Path | None = None


def list_students(submissions: Path) -> list[str]:
    """Student ids: the visible sub-folders of the submissions folder."""
    return sorted(d.name for d in submissions.iterdir()
                  if d.is_dir() and not d.name.startswith("."))


def source_notebooks(paths: CoursePaths, assignment: str) -> list[str]:
    """Notebook names (without ``.ipynb``) of one assignment in the source."""
    return sorted(p.stem for p in (paths.source / assignment).glob("*.ipynb"))


def check_submitted_notebook(path: Path) -> str | None:
    """Return why ``path`` cannot be graded, or None when nbgrader may try it."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return "the file is not UTF-8 text"
    if not text.strip():
        return "the file is empty"
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        return f"the file is not valid JSON ({exc.msg} at line {exc.lineno})"
    if not isinstance(raw, dict) or "cells" not in raw:
        return "the file is JSON but not a Jupyter notebook (no 'cells')"
    if raw.get("nbformat") != 4:
        return f"the notebook format is {raw.get('nbformat')!r}, not 4"
    try:
        nbformat.validate(nbformat.reads(text, as_version=4))
    except Exception as exc:  # nbformat raises several types for malformed notebooks
        return f"the notebook does not follow the nbformat schema ({type(exc).__name__})"
    return None


def _gradebook_scores(db_url: str, student: str, assignment: str) -> tuple[float, float,
                                                                         list[TestScore]]:
    """Score, max score and per-grade_id rows of a graded submission."""
    with Gradebook(db_url, COURSE_ID) as gb:
        submission = gb.find_submission(assignment, student)
        tests = []
        for notebook in sorted(submission.notebooks, key=lambda n: n.name):
            for grade in sorted(notebook.grades, key=lambda g: g.name):
                pending = grade.auto_score is None and grade.manual_score is None
                tests.append(TestScore(grade.name, None if pending else float(grade.score),
                                       float(grade.max_score)))
        return float(submission.score), float(submission.max_score), tests


def _assignment_max_score(db_url: str, assignment: str) -> float:
    with Gradebook(db_url, COURSE_ID) as gb:
        return float(gb.find_assignment(assignment).max_score)


def _had_cell_timeout(autograded_dir: Path) -> bool:
    for path in autograded_dir.glob("*.ipynb"):
        notebook = json.loads(path.read_text(encoding="utf-8"))
        for cell in notebook.get("cells", []):
            for output in cell.get("outputs", []):
                if output.get("output_type") != "error":
                    continue
                # a test cell reports a timeout of the student's function in its message
                if output.get("ename") in ("CellTimeoutError", "TimeoutError") or (
                        "CellTimeoutError" in str(output.get("evalue", ""))):
                    return True
    return False


# What nbgrader's log says when it gives up, and what that means for the student.
# Checked in order: the first pattern found decides status and message.
FAILURE_PATTERNS = (
    ("DeadKernelError", "error",
     "the Python kernel died while running the notebook (sys.exit, os._exit, a crash "
     "or too much memory)"),
    ("UnresponsiveKernelError", "timeout", "the kernel stopped responding"),
    ("CellTimeoutError", "timeout", "a cell ran out of time"),
    ("Inconsistent checksums", "invalid",
     "a test or read-only cell was changed in a way nbgrader cannot repair"),
    ("SchemaMismatchError", "invalid",
     "the nbgrader metadata of a cell was edited (schema version)"),
    ("SchemaTooOld", "invalid", "the nbgrader metadata of a cell was edited (schema version)"),
    ("SchemaTooNew", "invalid", "the nbgrader metadata of a cell was edited (schema version)"),
    ("ValidationError", "invalid", "the nbgrader metadata of a cell is not valid"),
)


def classify_failure(log: str) -> tuple[str, str]:
    """Status and plain-words reason for a submission nbgrader failed to grade."""
    for pattern, status, message in FAILURE_PATTERNS:
        if pattern in log:
            return status, message
    detail = _last_line(log)
    return "error", f"nbgrader could not grade the notebook ({detail})" if detail else (
        "nbgrader could not grade the notebook")


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def precheck(paths: CoursePaths, student: str, assignment: str, notebooks: list[str],
             max_score: float) -> AssignmentResult | None:
    """The result of a submission nbgrader need not run (missing or invalid), else None."""
    submitted = paths.submitted / student / assignment
    present = [nb for nb in notebooks if (submitted / f"{nb}.ipynb").is_file()]
    if not present:
        expected = ", ".join(f"{nb}.ipynb" for nb in notebooks)
        return AssignmentResult(student, assignment, "missing", 0.0, max_score,
                                f"no {expected} in {student}/{assignment}/")
    for nb in present:
        problem = check_submitted_notebook(submitted / f"{nb}.ipynb")
        if problem:
            return AssignmentResult(student, assignment, "invalid", 0.0, max_score,
                                    f"{nb}.ipynb: {problem}")
    return None


def interpret(paths: CoursePaths, student: str, assignment: str, outcome: dict,
              options: GradingOptions, db_url: str, max_score: float) -> AssignmentResult:
    """Turn a worker's outcome and the gradebook into the submission's result."""
    # nbgrader's own log of this submission, for the instructor who wants the details
    logs = paths.work / "logs"
    logs.mkdir(exist_ok=True)
    (logs / f"{student}--{assignment}.log").write_text(
        outcome.get("autograde_log", "") + "\n" + outcome.get("autograde_error", ""))
    if outcome.get("deadline_hit"):
        return AssignmentResult(student, assignment, "timeout", 0.0, max_score,
                                f"the notebook ran longer than {options.notebook_timeout} s")
    if not outcome["autograde_success"]:
        log = outcome.get("autograde_log", "") + "\n" + outcome.get("autograde_error", "")
        status, message = classify_failure(log)
        return AssignmentResult(student, assignment, status, 0.0, max_score, message)

    score, total, tests = _gradebook_scores(db_url, student, assignment)
    status, message = "graded", ""
    pending = sum(t.max_score for t in tests if t.score is None)
    if pending:
        message = f"{pending:g} points await manual grading"
    if _had_cell_timeout(paths.work / "autograded" / student / assignment):
        status = "timeout"
        message = f"a cell ran longer than {options.cell_timeout} s and was interrupted" + (
            f"; {message}" if message else "")
    if outcome.get("feedback_success") is False:
        message = (message + "; " if message else "") + "feedback could not be generated"
    return AssignmentResult(student, assignment, status, score, total, message, tests)


def _write_status_feedback(out: Path, result: AssignmentResult) -> None:
    """Feedback for a submission nbgrader never graded: say what went wrong."""
    folder = out / "feedback" / result.student_id / result.assignment
    folder.mkdir(parents=True, exist_ok=True)
    body = (f"<h1>{html.escape(result.assignment)}: not graded ({result.status})</h1>"
            f"<p>{html.escape(result.message)}</p>"
            f"<p>Score: {result.score:g} / {result.max_score:g}. Fix the problem and "
            "submit again, or ask your instructor.</p>")
    (folder / "status.html").write_text(f"<!doctype html><meta charset='utf-8'>{body}\n")


def _copy_feedback(paths: CoursePaths, out: Path, result: AssignmentResult) -> None:
    source = paths.work / "feedback" / result.student_id / result.assignment
    dest = out / "feedback" / result.student_id / result.assignment
    if dest.exists():
        shutil.rmtree(dest)
    if result.status not in SCORED_STATUSES:
        _write_status_feedback(out, result)
    elif source.is_dir() and any(source.glob("*.html")):
        shutil.copytree(source, dest)
    elif "feedback could not be generated" not in result.message:
        result.message = (result.message + "; " if result.message else "") + (
            "feedback could not be generated")


def write_csvs(out: Path, results: Iterable[AssignmentResult]) -> None:
    """Write ``grades.csv`` and ``tests.csv`` (columns: GRADES_COLUMNS, TESTS_COLUMNS).

    A manually graded item nobody has graded yet has an empty score in tests.csv.
    """
    results = list(results)
    with open(out / "grades.csv", "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(GRADES_COLUMNS)
        for r in results:
            writer.writerow([r.student_id, r.assignment, f"{r.score:g}", f"{r.max_score:g}",
                             r.status])
    with open(out / "tests.csv", "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(TESTS_COLUMNS)
        for r in results:
            for t in r.tests:
                score = "" if t.score is None else f"{t.score:g}"
                writer.writerow([r.student_id, r.assignment, t.grade_id, score,
                                 f"{t.max_score:g}"])


def grade_class(submissions: Path, out: Path, *, assignments: list[str] | None = None,
                options: GradingOptions | None = None,
                progress=None) -> list[AssignmentResult]:
    """Grade every student in ``submissions`` on every assignment; write CSVs and feedback.

    ``out`` receives ``grades.csv``, ``tests.csv``, ``feedback/<student>/<assignment>/``
    and nbgrader's working folder ``nbgrader/`` (gradebook, autograded notebooks).
    Submissions are graded by ``options.workers`` processes in parallel, each student
    kernel in a bubblewrap sandbox unless ``options.unsafe``. ``progress(result, total)``
    is called with each result as it is finished.
    """
    options = options or GradingOptions()
    submissions = Path(submissions).resolve()
    if not submissions.is_dir():
        raise GradingError(f"submissions folder {submissions} does not exist or is not a folder")
    out = Path(out).resolve()
    if out == submissions or submissions in out.parents:
        raise GradingError("the output folder must not be inside the submissions folder")
    if options.workers < 1:
        raise GradingError(f"workers must be at least 1, not {options.workers}")
    if not options.unsafe:
        problem = sandbox_problem()
        if problem:
            raise GradingError(f"cannot sandbox student code: {problem}. Install bubblewrap, "
                               "or pass --unsafe to run student code without a sandbox")
    students = list_students(submissions)
    if not students:
        raise GradingError(f"no student folders in {submissions}")
    out.mkdir(parents=True, exist_ok=True)
    ensure_venv_on_path()
    with _exclusive(out):
        return _grade_class(submissions, out, students, assignments, options, progress)


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


def _grade_class(submissions: Path, out: Path, students: list[str],
                 assignments: list[str] | None, options: GradingOptions,
                 progress) -> list[AssignmentResult]:
    work = out / "nbgrader"
    paths = CoursePaths.for_repo(work, release=work / "release", submitted=submissions,
                                 repo=options.course or REPO_ROOT)
    if not paths.source.is_dir():
        raise GradingError(f"no solutions/ folder in the course folder {paths.source.parent}")
    db_url = options.db_url or sqlite_url(work)
    work.mkdir(parents=True, exist_ok=True)
    # the local pool starts now: its processes import nbgrader while this one generates
    jobs = len(students) * len(assignments or list_assignments(paths.source))
    pool = None if options.scheduler else start_pool(min(options.workers, max(jobs, 1)))
    try:
        return _grade_with(pool, paths, db_url, out, students, assignments, options, progress)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)


def _grade_with(pool: ProcessPoolExecutor | None, paths: CoursePaths, db_url: str, out: Path,
                students: list[str], assignments: list[str] | None, options: GradingOptions,
                progress) -> list[AssignmentResult]:
    assignments = generate_assignments(paths, assignments, db_url=db_url,
                                       cell_timeout=options.cell_timeout)
    max_scores = {a: _assignment_max_score(db_url, a) for a in assignments}
    # create every student up front: two workers grading one student's two assignments
    # would otherwise both insert the student, and one would fail on the unique key
    with Gradebook(db_url, COURSE_ID) as gb:
        for student in students:
            gb.update_or_create_student(student)

    results: dict[tuple[str, str], AssignmentResult] = {}
    tasks = []
    for student in students:
        for assignment in assignments:
            early = precheck(paths, student, assignment, source_notebooks(paths, assignment),
                             max_scores[assignment])
            if early is not None:
                results[student, assignment] = early
            else:
                tasks.append(_task(paths, student, assignment, options, db_url))

    def finish(result: AssignmentResult) -> None:
        results[result.student_id, result.assignment] = result
        if progress:
            progress(result, len(students) * len(assignments))

    for result in results.copy().values():
        finish(result)
    runner = (run_tasks_on_dask(tasks, options.scheduler) if options.scheduler
              else run_tasks(tasks, options.workers, pool=pool))
    for task, outcome in runner:
        finish(interpret(paths, task["student"], task["assignment"], outcome, options, db_url,
                         max_scores[task["assignment"]]))
    # after the runner: the local pool's workers have finished their feedback by now
    ordered = [results[s, a] for s in students for a in assignments]
    for result in ordered:
        _copy_feedback(paths, out, result)
    write_csvs(out, ordered)
    # what the report needs to know about how these grades were produced
    run = {"unsafe": options.unsafe, "workers": options.workers,
           "scheduler": options.scheduler,
           "cell_timeout": options.cell_timeout, "notebook_timeout": options.notebook_timeout,
           "assignments": assignments, "students": len(students),
           # where the run's pieces are, for export, feedback and formgrader afterwards
           "submissions": str(paths.submitted), "source": str(paths.source),
           "external_db": options.db_url is not None}
    (out / "run.json").write_text(json.dumps(run, indent=1) + "\n")
    return ordered


def run_tasks_on_dask(tasks: list[dict], scheduler: str):
    """Yield ``(task, outcome)`` as the workers of a Dask cluster grade the tasks.

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
        raise GradingError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from exc
    with client:
        # pure=False: a re-grade must run again, not reuse a cached result
        futures = {client.submit(safe_grade_submission, task, pure=False): task
                   for task in tasks}
        for future in dask_completed(futures):
            task = futures[future]
            try:
                yield task, future.result()
            except Exception as exc:  # a lost worker fails this task, not the class
                yield task, {"autograde_success": False, "deadline_hit": False,
                             "autograde_log": "",
                             "autograde_error": f"the Dask worker failed: {exc}"}


def _task(paths: CoursePaths, student: str, assignment: str, options: GradingOptions,
          db_url: str) -> dict:
    return {
        "source": str(paths.source), "release": str(paths.release), "work": str(paths.work),
        "submitted": str(paths.submitted), "db_url": db_url, "student": student,
        "assignment": assignment, "cell_timeout": options.cell_timeout,
        "notebook_timeout": options.notebook_timeout, "sandbox": not options.unsafe,
        # a Dask worker outlives the run, so only the local pool may finish it later
        "feedback_in_background": options.scheduler is None,
    }


def start_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` grading processes, started at once.

    Each process imports nbgrader and what grading needs (about 2 s of CPU) as soon
    as it starts, so the caller can overlap that with its own work.
    """
    context = multiprocessing.get_context("spawn")
    slots = context.Queue()
    for slot in range(workers):
        slots.put(slot)
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context,
                               initializer=init_worker, initargs=(slots,))
    for _ in range(workers):
        # the pool starts a process per submitted task while none is idle
        pool.submit(warm_up)
    return pool


def run_tasks(tasks: list[dict], workers: int, pool: ProcessPoolExecutor | None = None):
    """Yield ``(task, outcome)`` as a pool of ``workers`` processes grades the tasks.

    ``pool`` (from :func:`start_pool`) is used first when given, and shut down here.
    A worker process that dies (it should not: student code runs in its kernel)
    fails only the task it was running; the pool is rebuilt for the rest.
    """
    pending = list(tasks)
    if not pending and pool is not None:
        pool.shutdown(cancel_futures=True)
    while pending:
        pool = pool or start_pool(min(workers, len(pending)))
        with pool:
            futures = {pool.submit(safe_grade_submission, task): task for task in pending}
            pending = []
            broken = False
            for future in as_completed(futures):
                task = futures[future]
                try:
                    yield task, future.result()
                except BrokenProcessPool:
                    if broken:
                        pending.append(task)  # not its fault: retry in a fresh pool
                    else:
                        broken = True
                        yield task, {"autograde_success": False, "deadline_hit": False,
                                     "autograde_log": "",
                                     "autograde_error": "the grading worker process died"}
        pool = None


def format_table(results: Iterable[AssignmentResult]) -> str:
    """A plain-text table of results, for the terminal."""
    rows = [("student", "assignment", "score", "status", "note")]
    for r in results:
        rows.append((r.student_id, r.assignment, f"{r.score:g}/{r.max_score:g}", r.status,
                     r.message[:70]))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)

