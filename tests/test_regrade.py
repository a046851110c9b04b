"""Re-grading: idempotent, keeps manual grades, and recovers from a grader killed midway."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import psutil
import pytest
from conftest import ASSIGNMENTS, read_csv
from nbgrader.api import Gradebook

from autograder.__main__ import main
from autograder.config import COURSE_ID, sqlite_url
from autograder.policy import SANDBOX_UID_BASE

STUDENTS = ("full_marks", "blank", "swapped_pq", "broken_json")
# two assignments are enough to re-grade a student's several notebooks; all would be slow
REGRADED = ASSIGNMENTS[:2]
ONLY_REGRADED = [arg for assignment in REGRADED for arg in ("--assignment", assignment)]


@pytest.fixture()
def small_class(graded_class, tmp_path):
    submissions = tmp_path / "submissions"
    for student in STUDENTS:
        for assignment in REGRADED:
            shutil.copytree(graded_class["submissions"] / student / assignment,
                            submissions / student / assignment)
    return submissions


def _rows(out):
    return sorted(tuple(r.values()) for r in read_csv(out / "grades.csv")), sorted(
        tuple(r.values()) for r in read_csv(out / "tests.csv"))


def _manual_ids(out, assignment):
    with Gradebook(sqlite_url(out / "nbgrader"), COURSE_ID) as gb:
        notebook = gb.find_submission(assignment, "full_marks").notebooks[0]
        return [g.name for g in notebook.grades if g.auto_score is None]


def test_regrading_is_idempotent_and_keeps_manual_grades(small_class, tmp_path):
    out = tmp_path / "out"
    assert main(["grade", str(small_class), "--out", str(out), *ONLY_REGRADED]) == 0
    first = _rows(out)
    assignment = ASSIGNMENTS[0]
    manual = _manual_ids(out, assignment)
    assert manual, "the assignment has a manually graded item"
    # what formgrader does when the instructor types a score
    with Gradebook(sqlite_url(out / "nbgrader"), COURSE_ID) as gb:
        for grade_id in manual:
            grade = gb.find_grade(grade_id, assignment, assignment, "full_marks")
            grade.manual_score = grade.max_score
        gb.db.commit()
    assert main(["grade", str(small_class), "--out", str(out), *ONLY_REGRADED]) == 0
    grades, tests = _rows(out)
    manual_rows = [r for r in tests if r[0] == "full_marks" and r[2] in manual]
    assert manual_rows and all(r[3] == r[4] for r in manual_rows), "manual grade lost"
    # apart from the manual scores, the second run gives exactly the first run's results
    assert [r for r in tests if r not in manual_rows] == [
        r for r in first[1] if not (r[0] == "full_marks" and r[2] in manual)]
    # the assignment whose manual items were graded now has every point
    full = [r for r in grades if r[0] == "full_marks" and r[1] == assignment]
    assert len(full) == 1 and float(full[0][2]) == float(full[0][3])


def _sandbox_processes():
    procs = []
    for proc in psutil.process_iter(["uids"]):
        try:
            if SANDBOX_UID_BASE <= proc.info["uids"].real < SANDBOX_UID_BASE + 60_000:
                procs.append(proc)
        except (psutil.NoSuchProcess, TypeError):
            continue
    return procs


@pytest.mark.skipif(os.geteuid() != 0, reason="sandbox uids are used only when grading as root")
def test_sigkill_midway_then_rerun_grades_everything_once(small_class, tmp_path):
    out = tmp_path / "out"
    grader = subprocess.Popen(
        [sys.executable, "-m", "autograder", "grade", str(small_class), "--out", str(out),
         "--workers", "1", *ONLY_REGRADED], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    # wait until a student kernel is running, then kill the grader without warning
    while time.monotonic() < deadline and not _sandbox_processes():
        time.sleep(0.2)
    assert _sandbox_processes(), "no student kernel started"
    os.kill(grader.pid, signal.SIGKILL)
    grader.wait()
    # the pool worker and its sandboxed kernel must not outlive the grader
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _sandbox_processes():
        time.sleep(0.5)
    assert not _sandbox_processes(), "orphaned student kernels after SIGKILL"

    assert main(["grade", str(small_class), "--out", str(out), *ONLY_REGRADED]) == 0
    clean = tmp_path / "clean"
    assert main(["grade", str(small_class), "--out", str(clean), *ONLY_REGRADED]) == 0
    grades, tests = _rows(out)
    assert len(grades) == len(STUDENTS) * len(REGRADED)
    assert (grades, tests) == _rows(clean)
