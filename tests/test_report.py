"""`python -m autograder report`: class report, item analysis and LMS export."""

from __future__ import annotations

import csv
import json
import shutil

import pytest
from conftest import ASSIGNMENTS

from autograder.__main__ import main
from autograder.report import ReportError, item_analysis, write_report


@pytest.fixture(scope="module")
def report_dir(graded_class, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    for name in ("grades.csv", "tests.csv", "run.json"):
        shutil.copy(graded_class["out"] / name, out / name)
    assert main(["report", str(out)]) == 0
    return out


def test_report_files_are_written(report_dir):
    for name in ("report.html", "report_scores.png", "report_items.png", "lms_grades.csv"):
        assert (report_dir / name).stat().st_size > 0, name
    text = (report_dir / "report.html").read_text()
    for section in ("Statuses", "Scores", "Item analysis", "Submissions that need a look"):
        assert section in text
    assert "--unsafe" not in text


def test_lms_csv_has_one_row_per_student_and_a_column_per_assignment(report_dir, graded_class):
    with open(report_dir / "lms_grades.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["student_id", *ASSIGNMENTS]
    students = sorted({r["student_id"] for r in graded_class["grades"]})
    assert [r[0] for r in rows[1:]] == students
    expected = {(r["student_id"], r["assignment"]): r["score"] for r in graded_class["grades"]}
    for row in rows[1:]:
        for assignment, score in zip(ASSIGNMENTS, row[1:], strict=True):
            assert score == expected[row[0], assignment]


def test_item_analysis_counts_full_marks_among_graded_submissions():
    tests = [
        {"student_id": s, "assignment": "a", "grade_id": "t1", "score": sc, "max_score": "2"}
        for s, sc in (("ann", "2"), ("bob", "0"), ("cy", "1"), ("dee", "2"))
    ] + [{"student_id": "ann", "assignment": "a", "grade_id": "manual", "score": "",
          "max_score": "2"}]
    graded = {("ann", "a"), ("bob", "a"), ("cy", "a")}  # dee's submission was not graded
    assert item_analysis(tests, graded) == {"a": {"t1": pytest.approx(1 / 3, abs=0)}}


def test_unsafe_runs_are_flagged(report_dir, tmp_path):
    for name in ("grades.csv", "tests.csv"):
        shutil.copy(report_dir / name, tmp_path / name)
    (tmp_path / "run.json").write_text(json.dumps({"unsafe": True}))
    assert "graded with --unsafe" in write_report(tmp_path).read_text()


def test_missing_results_are_a_clear_error(tmp_path):
    with pytest.raises(ReportError, match="grades.csv is missing"):
        write_report(tmp_path)
    (tmp_path / "grades.csv").write_text("name,score\n")
    with pytest.raises(ReportError, match="has columns"):
        write_report(tmp_path)
