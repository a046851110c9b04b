"""Honest students never lose a point, and the kernel and the grader agree on visible tests.

The honest class (``tests/honest_class``, see ``tests/honest.py``) hands in correct answers
to every auto-graded exercise of all seven assignments, written independently of the model
answers in three styles: plain loops and ``math``; vectorised numpy with the library routines
each exercise allows; own helpers, own exception classes and names that collide with the
course library's. Graded end to end by ``python -m autograder grade`` (sandboxed), each
earns every automatic point, and its feedback accuses nobody.

The same submissions run as a student runs them (tests in the student's own kernel) pass
their visible tests, and a visible test that fails in the student's kernel for the sample
class's typical mistakes fails in the grader as well.
"""

from __future__ import annotations

import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest
from conftest import ASSIGNMENTS, notebook_path, read_csv
from honest import STYLES, cell_errors, honest_notebook, run_in_kernel

from autograder.__main__ import main
from autograder.sample_class import MISTAKE_STUDENTS, MISTAKES

STUDENTS = {f"honest_{style}": style for style in STYLES}
ACCUSATION = "must compute the answer itself"


def _execute_all(notebooks: dict) -> dict:
    """key -> executed notebook, two kernels at a time (as a class of students would)."""
    def run(item):
        key, nb = item
        with tempfile.TemporaryDirectory() as tmp:
            return key, run_in_kernel(nb, Path(tmp))

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(run, notebooks.items()))


@pytest.fixture(scope="module")
def honest_class(tmp_path_factory):
    """The honest class graded once through the CLI, and run once in plain kernels."""
    root = tmp_path_factory.mktemp("honest")
    submissions = root / "submissions"
    notebooks = {}
    for student, style in STUDENTS.items():
        for assignment in ASSIGNMENTS:
            nb = honest_notebook(style, assignment)
            target = notebook_path(submissions / student, assignment)
            target.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, target)
            notebooks[student, assignment] = nb
    out = root / "out"
    assert main(["grade", str(submissions), "--out", str(out)]) == 0
    return {"out": out, "grades": read_csv(out / "grades.csv"),
            "tests": read_csv(out / "tests.csv"), "in_kernel": _execute_all(notebooks)}


@pytest.mark.parametrize("student", STUDENTS)
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_honest_work_earns_every_automatic_point(honest_class, student, assignment):
    [row] = [r for r in honest_class["grades"]
             if r["student_id"] == student and r["assignment"] == assignment]
    assert row["status"] == "graded", row
    lost = {r["grade_id"]: f"{r['score']}/{r['max_score']}" for r in honest_class["tests"]
            if r["student_id"] == student and r["assignment"] == assignment
            and r["score"] != "" and float(r["score"]) < float(r["max_score"])}
    assert lost == {}, f"{student} lost points on correct work in {assignment}: {lost}"


@pytest.mark.parametrize("student", STUDENTS)
def test_honest_feedback_accuses_nobody(honest_class, student):
    pages = list((honest_class["out"] / "feedback" / student).rglob("*.html"))
    assert len(pages) == len(ASSIGNMENTS)
    for page in pages:
        assert ACCUSATION not in page.read_text(), page


@pytest.mark.parametrize("student", STUDENTS)
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_honest_work_passes_the_visible_tests_in_the_students_kernel(honest_class, student,
                                                                      assignment):
    errors = cell_errors(honest_class["in_kernel"][student, assignment])
    assert errors == {}, f"{student}/{assignment} fails in its own kernel: {errors}"


@pytest.fixture(scope="module")
def mistakes_in_kernel(graded_class):
    """The sample class's typical mistakes, run as the students ran them."""
    notebooks = {}
    for student in MISTAKE_STUDENTS:
        for assignment in ASSIGNMENTS:
            if MISTAKES.get(assignment, {}).get(student):
                path = notebook_path(graded_class["submissions"] / student, assignment)
                notebooks[student, assignment] = nbformat.read(path, as_version=4)
    return _execute_all(notebooks)


def test_a_visible_failure_in_the_kernel_is_a_failure_in_the_grader(graded_class,
                                                                     mistakes_in_kernel):
    """The reverse direction: the grader never passes what the student's kernel failed."""
    failed_somewhere = 0
    for (student, assignment), nb in mistakes_in_kernel.items():
        scores = {r["grade_id"]: r for r in graded_class["tests"]
                  if r["student_id"] == student and r["assignment"] == assignment}
        for grade_id in cell_errors(nb):
            if grade_id in scores:  # a test cell (not an answer cell) failed
                failed_somewhere += 1
                row = scores[grade_id]
                assert float(row["score"]) < float(row["max_score"]), (
                    f"{student}/{assignment}: {grade_id} fails in the kernel, passes in the grader")
    # every mistake of 01_definition shows in a visible test (the quiz's only at grading)
    assert failed_somewhere >= len(MISTAKE_STUDENTS), "the mistakes should fail visible tests"
