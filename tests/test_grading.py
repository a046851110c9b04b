"""The grading round trip through `python -m autograder grade` on the sample class."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from bs4 import BeautifulSoup
from conftest import (
    ASSIGNMENTS,
    SOLUTIONS,
    is_test_cell,
    nbgrader_meta,
    notebook_path,
    read_notebook,
)

from autograder.__main__ import main
from autograder.intake import check_submitted_notebook
from autograder.results import GRADES_COLUMNS, STATUSES, TESTS_COLUMNS
from autograder.sample_class import MISTAKES
from kl_helpers.selfcheck import GRADED_CHECKS, diagnose

EX2 = {"ex2_running_example_value", "ex2_direction", "ex2_matches_reference", "ex2_zero_in_p",
       "ex2_zero_in_q", "ex2_identical"}
EX3 = {"ex3_standard_case", "ex3_matches_closed_form", "ex3_asymmetry"}
WRONG_NUMBER = {"ex1_kl_hand_value", "ex2_running_example_value", "ex2_direction",
                "ex2_matches_reference"}
# Which tests each typical mistake must fail, and which it must still pass
EXPECTED_LOSSES = {
    "swapped_pq": WRONG_NUMBER,
    "log2_units": WRONG_NUMBER,
    "zeros_unhandled": {"ex2_zero_in_p"},
    "equals_everything": EX2,
}
EXPECTED_KEPT = {
    "swapped_pq": EX3 | {"ex2_identical"},
    "log2_units": EX3 | {"ex2_identical", "ex2_zero_in_q"},
    "zeros_unhandled": EX3 | (WRONG_NUMBER - {"ex2_zero_in_p"}),
    "equals_everything": EX3 | {"ex1_kl_hand_value"},
}


def _grade_row(graded, student, assignment):
    rows = [r for r in graded["grades"] if r["student_id"] == student
            and r["assignment"] == assignment]
    assert len(rows) == 1, f"expected one row for {student}/{assignment}, got {rows}"
    return rows[0]


def _autograded_ids(assignment):
    nb = read_notebook(notebook_path(SOLUTIONS, assignment))
    return {nbgrader_meta(c)["grade_id"]: float(nbgrader_meta(c)["points"])
            for c in nb.cells if is_test_cell(c)}


def _test_scores(graded, student, assignment):
    return {r["grade_id"]: r for r in graded["tests"]
            if r["student_id"] == student and r["assignment"] == assignment}


def test_csv_columns_are_exact(graded_class):
    out = graded_class["out"]
    assert (out / "grades.csv").read_text().splitlines()[0] == ",".join(GRADES_COLUMNS)
    assert (out / "tests.csv").read_text().splitlines()[0] == ",".join(TESTS_COLUMNS)


def test_one_row_per_student_and_assignment(graded_class):
    students = {d.name for d in graded_class["submissions"].iterdir()}
    pairs = {(r["student_id"], r["assignment"]) for r in graded_class["grades"]}
    assert pairs == {(s, a) for s in students for a in ASSIGNMENTS}
    assert {r["status"] for r in graded_class["grades"]} <= set(STATUSES)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_gets_full_autograded_marks(graded_class, assignment):
    assert _grade_row(graded_class, "full_marks", assignment)["status"] == "graded"
    scores = _test_scores(graded_class, "full_marks", assignment)
    for grade_id, points in _autograded_ids(assignment).items():
        assert float(scores[grade_id]["score"]) == points, grade_id


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_blank_release_scores_zero(graded_class, assignment):
    row = _grade_row(graded_class, "blank", assignment)
    assert row["status"] == "graded" and float(row["score"]) == 0.0
    scores = _test_scores(graded_class, "blank", assignment)
    for grade_id in _autograded_ids(assignment):
        assert float(scores[grade_id]["score"]) == 0.0, f"free points in {grade_id}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_manual_items_are_pending_not_zero(graded_class, assignment):
    nb = read_notebook(notebook_path(SOLUTIONS, assignment))
    manual = [nbgrader_meta(c)["grade_id"] for c in nb.cells
              if nbgrader_meta(c).get("grade") and nbgrader_meta(c).get("solution")]
    scores = _test_scores(graded_class, "full_marks", assignment)
    for grade_id in manual:
        assert scores[grade_id]["score"] == "", f"{grade_id} should await a manual grade"


@pytest.mark.parametrize("student,status", [("broken_json", "invalid"),
                                            ("no_submission", "missing")])
def test_broken_submissions_get_their_status(graded_class, student, status):
    for assignment in ASSIGNMENTS:
        row = _grade_row(graded_class, student, assignment)
        assert (row["status"], float(row["score"])) == (status, 0.0)
        assert float(row["max_score"]) > 0
        status_page = graded_class["out"] / "feedback" / student / assignment / "status.html"
        assert status in status_page.read_text()


def test_a_students_own_timeout_error_is_not_a_timeout(graded_class):
    """A function raising the built-in TimeoutError fails its tests, but was not cut off."""
    row = _grade_row(graded_class, "raises_timeout_error", "01_definition")
    assert row["status"] == "graded"
    scores = _test_scores(graded_class, "raises_timeout_error", "01_definition")
    assert all(float(scores[g]["score"]) == 0 for g in EX2)


@pytest.mark.parametrize("student", ["swapped_pq", "log2_units", "zeros_unhandled",
                                     "equals_everything"])
def test_typical_mistakes_lose_the_right_points(graded_class, student):
    row = _grade_row(graded_class, student, "01_definition")
    assert row["status"] == "graded"
    full = float(_grade_row(graded_class, "full_marks", "01_definition")["score"])
    assert 0 < float(row["score"]) < full
    scores = _test_scores(graded_class, student, "01_definition")
    lost = {g for g in _autograded_ids("01_definition") if float(scores[g]["score"]) == 0}
    expected = EXPECTED_LOSSES[student]
    assert expected <= lost, f"{student} should fail {expected - lost}"
    wrongly_lost = lost & EXPECTED_KEPT[student]
    assert not wrongly_lost, f"{student} wrongly failed {wrongly_lost}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_feedback_shows_no_hidden_tests(graded_class, assignment):
    source = read_notebook(notebook_path(SOLUTIONS, assignment))
    hidden = []
    for cell in source.cells:
        inside = False
        for line in cell.source.splitlines():
            if "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "END HIDDEN TESTS" in line:
                inside = False
            elif inside and len(line.strip()) > 15:
                hidden.append(line.strip())
    assert hidden
    for student in ("full_marks", "blank", "swapped_pq"):
        pages = list((graded_class["out"] / "feedback" / student / assignment).glob("*.html"))
        assert pages, f"no feedback for {student}"
        text = pages[0].read_text()
        assert "HIDDEN TESTS" not in text
        leaked = [line for line in hidden if line in text]
        assert not leaked, f"feedback of {student} shows hidden test lines {leaked[:3]}"


# Every typical mistake of the sample class in a function that has a self-check
CHECKED_MISTAKES = sorted(
    (assignment, student, name)
    for assignment, by_student in MISTAKES.items()
    for student, answers in by_student.items()
    for name in answers if (assignment, name) in GRADED_CHECKS)


def _feedback_text(graded, student, assignment) -> str:
    page = notebook_path(graded["out"] / "feedback" / student, assignment).with_suffix(".html")
    return BeautifulSoup(page.read_text(), "html.parser").get_text()


@pytest.mark.parametrize("assignment, student, name", CHECKED_MISTAKES)
def test_feedback_names_the_mistake_in_the_self_checks_words(graded_class, assignment,
                                                             student, name):
    """A failed test of a self-checked function ends with what ``check(name)`` would say."""
    notebook: dict = {"np": np, "math": math}
    exec(MISTAKES[assignment][student][name], notebook)
    with np.errstate(all="ignore"):  # the mistakes divide by zero, as students' code does
        verdict = diagnose(notebook[name], assignment)
    assert verdict is not None and not verdict, f"the self-check misses {student}'s {name}"
    text = _feedback_text(graded_class, student, assignment)
    assert f"The self-check for {name} found: {verdict.message}" in text


@pytest.mark.parametrize("assignment", sorted({a for a, _ in GRADED_CHECKS}))
def test_feedback_of_passing_work_has_no_self_check_text(graded_class, assignment):
    for student in ("full_marks", "blank"):  # all tests pass; stubs are not implemented
        assert "The self-check for" not in _feedback_text(graded_class, student, assignment)


def test_missing_submissions_folder_is_a_clear_error(tmp_path, capsys):
    assert main(["grade", str(tmp_path / "nope"), "--out", str(tmp_path / "out")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_empty_submissions_folder_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "subs").mkdir()
    assert main(["grade", str(tmp_path / "subs"), "--out", str(tmp_path / "out")]) == 2
    assert "no student folders" in capsys.readouterr().err


@pytest.mark.parametrize("content,reason", [
    ("", "empty"), ('{"cells": [', "not valid JSON"), ("[1, 2]", "not a Jupyter notebook"),
    (json.dumps({"cells": [], "nbformat": 3}), "not 4"),
])
def test_unreadable_notebooks_are_named(tmp_path, content, reason):
    path = tmp_path / "nb.ipynb"
    path.write_text(content)
    assert reason in check_submitted_notebook(path)


def test_two_runs_on_one_output_folder_are_refused(graded_class, tmp_path, capsys):
    import fcntl

    out = tmp_path / "out"
    out.mkdir()
    with open(out / ".grading.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # as a run in progress holds it
        code = main(["grade", str(graded_class["submissions"]), "--out", str(out)])
    assert code == 2
    assert "another grading run is using" in capsys.readouterr().err
