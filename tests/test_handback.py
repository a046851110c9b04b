"""Grading by hand without a hub: formgrader on a grading run, then export and feedback again.

The sample class's run is copied (so that the other tests keep their gradebook), the
instructor starts ``python -m autograder formgrader OUT`` and scores the show-your-work
cell of one student through formgrader's own API (what its Manual Grading page sends);
``export``, ``report`` and ``feedback`` then carry that score.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.request

import pytest
from conftest import free_port, read_csv, wait_until_serving

from autograder.__main__ import main
from autograder.grading import GradingError
from autograder.handback import GradedRun

ASSIGNMENT, STUDENT, WRITTEN = "01_definition", "full_marks", "ex1_show_work"
TOKEN = "kl-handback-test"


@pytest.fixture(scope="module")
def run_copy(graded_class, tmp_path_factory):
    out = tmp_path_factory.mktemp("handback") / "out"
    shutil.copytree(graded_class["out"], out, ignore=shutil.ignore_patterns(".grading.lock"))
    return out


def _row(rows, **match):
    [row] = [r for r in rows if all(r[k] == v for k, v in match.items())]
    return row


def _api(url: str, method: str = "GET", body: dict | None = None):
    request = urllib.request.Request(
        url, method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"token {TOKEN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@contextlib.contextmanager
def formgrader(out):
    port = free_port()
    log = open(out.parent / "formgrader.log", "w")  # noqa: SIM115 -- closed below
    server = subprocess.Popen(
        [sys.executable, "-m", "autograder", "formgrader", str(out), "--port", str(port),
         "--token", TOKEN], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        status = urllib.request.Request(f"{base}/formgrader/api/status",
                                        headers={"Authorization": f"token {TOKEN}"})
        wait_until_serving(status, server, out.parent / "formgrader.log", "formgrader")
        yield base
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()


def test_export_of_an_untouched_run_reproduces_its_csvs(run_copy, graded_class):
    assert main(["export", str(run_copy)]) == 0
    assert read_csv(run_copy / "grades.csv") == graded_class["grades"]
    assert read_csv(run_copy / "tests.csv") == graded_class["tests"]


def test_a_score_entered_in_formgrader_reaches_every_export(run_copy):
    before = float(_row(read_csv(run_copy / "grades.csv"), student_id=STUDENT,
                        assignment=ASSIGNMENT)["score"])
    assert _row(read_csv(run_copy / "tests.csv"), student_id=STUDENT, assignment=ASSIGNMENT,
                grade_id=WRITTEN)["score"] == ""  # awaiting manual grading
    with formgrader(run_copy) as base:
        notebooks = _api(f"{base}/formgrader/api/submitted_notebooks/{ASSIGNMENT}/{ASSIGNMENT}")
        [submission] = [n for n in notebooks if n["student"] == STUDENT]
        grades = _api(f"{base}/formgrader/api/grades?submission_id={submission['id']}")
        [written] = [g for g in grades if g["name"] == WRITTEN]
        assert written["needs_manual_grade"] and written["max_score"] == 2
        saved = _api(f"{base}/formgrader/api/grade/{written['id']}", "PUT",
                     {"manual_score": 1.5, "extra_credit": None})
        assert saved["manual_score"] == 1.5
    assert main(["export", str(run_copy)]) == 0
    tests = read_csv(run_copy / "tests.csv")
    written_row = _row(tests, student_id=STUDENT, assignment=ASSIGNMENT, grade_id=WRITTEN)
    assert written_row["score"] == "1.5"
    grades = read_csv(run_copy / "grades.csv")
    assert float(_row(grades, student_id=STUDENT, assignment=ASSIGNMENT)["score"]) == before + 1.5
    assert main(["report", str(run_copy)]) == 0
    lms = _row(read_csv(run_copy / "lms_grades.csv"), student_id=STUDENT)
    assert float(lms[ASSIGNMENT]) == before + 1.5
    # the feedback page, rendered again, shows the manual score and still no hidden test
    assert main(["feedback", str(run_copy), "--assignment", ASSIGNMENT]) == 0
    page = next((run_copy / "feedback" / STUDENT / ASSIGNMENT).glob("*.html")).read_text()
    assert "1.5 / 2.0" in page or "1.5 / 2" in page
    assert "BEGIN HIDDEN TESTS" not in page and "HIDDEN" not in page


def test_a_folder_without_a_run_is_a_clear_error(tmp_path, capsys):
    assert main(["export", str(tmp_path)]) == 2
    assert "holds no grading run" in capsys.readouterr().err
    with pytest.raises(GradingError, match="no readable run.json"):
        GradedRun.load(tmp_path)
