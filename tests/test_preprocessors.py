"""autograder.preprocessors.OneCommitSaveAutoGrades against nbgrader's SaveAutoGrades.

Both save the same notebook's scores into a throwaway SQLite gradebook; the rows must be
the same, written in one commit, and a save that fails half-way must leave no row.
"""

from __future__ import annotations

import contextlib

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.preprocessors import SaveAutoGrades
from nbgrader.utils import compute_checksum
from sqlalchemy import event
from sqlalchemy.engine import Engine

from autograder import patches
from autograder.preprocessors import OneCommitSaveAutoGrades

ASSIGNMENT, NOTEBOOK = "a1", "nb"
# grade_id -> (points, outputs of the graded cell)
TESTS = {
    "test_passes": (2.0, []),
    "test_fails": (3.0, [new_output("error", ename="AssertionError", evalue="no",
                                    traceback=[])]),
    "test_partial": (4.0, [new_output("execute_result", data={"text/plain": "1.5"},
                                      execution_count=1)]),
}


def _test_cell(grade_id: str, points: float, outputs: list):
    cell = new_code_cell("assert True", outputs=outputs, execution_count=1)
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True,
                                 "points": points, "grade_id": grade_id,
                                 "schema_version": 3}
    return cell


def _answer_cell():
    """An answer cell left as released (its checksum unchanged): "No response."."""
    cell = new_code_cell("# YOUR CODE HERE")
    cell.metadata["nbgrader"] = {"grade": False, "solution": True, "locked": False,
                                 "grade_id": "answer", "schema_version": 3}
    cell.metadata["nbgrader"]["checksum"] = compute_checksum(cell)
    return cell


def _notebook(extra_grade_id: str | None = None):
    cells = [_answer_cell(), *(_test_cell(g, p, o) for g, (p, o) in TESTS.items())]
    if extra_grade_id:
        cells.append(_test_cell(extra_grade_id, 1.0, []))
    return nbformat.from_dict(new_notebook(cells=cells))


@pytest.fixture
def db_url(tmp_path):
    patches.install()
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    with Gradebook(url) as gb:
        gb.add_assignment(ASSIGNMENT)
        gb.add_notebook(NOTEBOOK, ASSIGNMENT)
        for grade_id, (points, _) in TESTS.items():
            gb.add_grade_cell(grade_id, NOTEBOOK, ASSIGNMENT, max_score=points,
                              cell_type="code")
        gb.add_solution_cell("answer", NOTEBOOK, ASSIGNMENT)
        for student in ("nbgrader", "ours"):
            gb.add_student(student)
            gb.add_submission(ASSIGNMENT, student)
    return url


def _save(preprocessor, db_url: str, student: str, nb) -> None:
    resources = {"nbgrader": {"notebook": NOTEBOOK, "assignment": ASSIGNMENT,
                              "student": student, "db_url": db_url}}
    preprocessor.preprocess(nb, resources)


def _rows(db_url: str, student: str) -> dict:
    with Gradebook(db_url) as gb:
        grades = {grade_id: (gb.find_grade(grade_id, NOTEBOOK, ASSIGNMENT, student).auto_score,
                             gb.find_grade(grade_id, NOTEBOOK, ASSIGNMENT, student)
                             .needs_manual_grade)
                  for grade_id in TESTS}
        comment = gb.find_comment("answer", NOTEBOOK, ASSIGNMENT, student).auto_comment
        return {"grades": grades, "comment": comment}


@contextlib.contextmanager
def _writing_commits():
    """The commits that wrote something, on any engine, while the block runs.

    (nbgrader also commits after each read of the course: those write nothing.)
    """
    commits, wrote = [], set()

    def before_execute(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            wrote.add(id(conn))

    def on_commit(conn):
        if id(conn) in wrote:
            wrote.discard(id(conn))
            commits.append(conn)

    event.listen(Engine, "before_cursor_execute", before_execute)
    event.listen(Engine, "commit", on_commit)
    try:
        yield commits
    finally:
        event.remove(Engine, "before_cursor_execute", before_execute)
        event.remove(Engine, "commit", on_commit)


def test_the_same_rows_as_nbgraders_save_in_one_commit(db_url):
    """The grades and comments saved are nbgrader's, and they are committed once."""
    with _writing_commits() as theirs:
        _save(SaveAutoGrades(), db_url, "nbgrader", _notebook())
    with _writing_commits() as ours:
        _save(OneCommitSaveAutoGrades(), db_url, "ours", _notebook())
    expected = _rows(db_url, "nbgrader")
    assert expected["grades"] == {"test_passes": (2.0, False), "test_fails": (0.0, False),
                                  "test_partial": (1.5, False)}
    assert expected["comment"] == "No response."
    assert _rows(db_url, "ours") == expected
    assert len(theirs) == len(TESTS) + 1 and len(ours) == 1  # + 1: the answer's comment


def test_a_save_that_fails_half_way_leaves_no_score(db_url):
    """An unknown grade cell after the known ones: nbgrader's error, and no row written."""
    with pytest.raises(MissingEntry):
        _save(OneCommitSaveAutoGrades(), db_url, "ours", _notebook("not_in_the_gradebook"))
    rows = _rows(db_url, "ours")
    assert all(score is None for score, _ in rows["grades"].values())
    assert rows["comment"] is None
