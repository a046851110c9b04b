"""The gradebook queries of the grader (nbgrader's ``Gradebook``, opened per query)."""

from __future__ import annotations

from nbgrader.api import Gradebook

from .config import COURSE_ID
from .results import TestScore


def submission_scores(db_url: str, student: str,
                      assignment: str) -> tuple[float, float, tuple[TestScore, ...]]:
    """Score, max score and per-grade_id rows of a graded submission."""
    with Gradebook(db_url, COURSE_ID) as gb:
        submission = gb.find_submission(assignment, student)
        tests = []
        for notebook in sorted(submission.notebooks, key=lambda n: n.name):
            for grade in sorted(notebook.grades, key=lambda g: g.name):
                pending = grade.auto_score is None and grade.manual_score is None
                tests.append(TestScore(grade.name, None if pending else float(grade.score),
                                       float(grade.max_score)))
        return float(submission.score), float(submission.max_score), tuple(tests)


def max_scores(db_url: str, assignments: list[str]) -> dict[str, float]:
    """The maximum score of each assignment, as the gradebook records it."""
    with Gradebook(db_url, COURSE_ID) as gb:
        return {a: float(gb.find_assignment(a).max_score) for a in assignments}


def add_students(db_url: str, students: list[str]) -> None:
    """Create every student up front.

    Two workers grading one student's two assignments would otherwise both insert the
    student, and one would fail on the unique key.
    """
    with Gradebook(db_url, COURSE_ID) as gb:
        for student in students:
            gb.update_or_create_student(student)
