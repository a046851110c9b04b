"""What grading produces: the statuses, the result of one submission, and its tables.

Each (student, assignment) ends in exactly one status:

``graded``   nbgrader ran every cell; the score is what the tests gave
``timeout``  a cell hit the per-cell limit (the score counts the cells that
             finished), or the kernel ignored the interrupt or the whole
             notebook hit its deadline (score 0)
``invalid``  the file is not a notebook nbgrader can grade (broken JSON, not
             nbformat 4, test cells nbgrader refuses): score 0
``error``    grading failed for another reason, e.g. the kernel died: score 0
``missing``  the student has no notebook for the assignment: score 0

This module is light on purpose (no nbgrader, no pool): the report imports it.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

STATUSES = ("graded", "invalid", "timeout", "error", "missing")
#: the statuses of a submission nbgrader graded: it has scores in the gradebook
SCORED_STATUSES = ("graded", "timeout")
GRADES_COLUMNS = ("student_id", "assignment", "score", "max_score", "status")
TESTS_COLUMNS = ("student_id", "assignment", "grade_id", "score", "max_score")


class ResultsError(RuntimeError):
    """A results table cannot be read."""


@dataclass(frozen=True)
class TestScore:
    grade_id: str
    score: float | None  # None: a manually graded item nobody has graded yet
    max_score: float


@dataclass(frozen=True)
class AssignmentResult:
    """The one outcome of grading one student's assignment."""

    student_id: str
    assignment: str
    status: str
    score: float
    max_score: float
    message: str = ""
    tests: tuple[TestScore, ...] = ()
    #: nbgrader's feedback pages were written (only a scored submission has them)
    feedback: bool = False
    #: seconds the worker spent on it (0 when it never reached a worker)
    seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}; expected one of {STATUSES}")

    @classmethod
    def not_graded(cls, student_id: str, assignment: str, status: str, message: str,
                   max_score: float) -> AssignmentResult:
        """A submission nbgrader did not (or could not) grade: score 0."""
        if status == "graded":
            raise ValueError("a submission that was not graded cannot be 'graded'")
        return cls(student_id, assignment, status, 0.0, max_score, message)


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


def read_grades(out: Path) -> list[AssignmentResult]:
    """The results of ``out/grades.csv`` (without per-test scores)."""
    try:
        with open(out / "grades.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
    except OSError:
        raise ResultsError(f"{out}/grades.csv is missing: grade again") from None
    return [AssignmentResult(r["student_id"], r["assignment"], r["status"], float(r["score"]),
                             float(r["max_score"])) for r in rows]


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
