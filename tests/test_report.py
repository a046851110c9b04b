"""`python -m autograder report`: class report, item analysis and LMS export."""

from __future__ import annotations

import csv
import json
import shutil
from collections import Counter

import pytest
from conftest import ASSIGNMENTS

from autograder.__main__ import main
from autograder.report import ReportError, item_analysis, write_report


@pytest.fixture(scope="module")
def report_dir(graded_class, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    for name in ("grades.csv", "tests.csv", "run.json"):
        shutil.copy(graded_class["out"] / name, out / name)
    shutil.copytree(graded_class["out"] / "feedback", out / "feedback")
    assert main(["report", str(out)]) == 0
    return out


def test_report_files_are_written(report_dir):
    for name in ("report.html", "lms_grades.csv",
                 *(f"report_{assignment}.png" for assignment in ASSIGNMENTS)):
        assert (report_dir / name).stat().st_size > 0, name
    text = (report_dir / "report.html").read_text()
    for section in ("Statuses", "Scores", "Item analysis", "Submissions that need a look",
                    "Students"):
        assert section in text
    assert "--unsafe" not in text


def test_each_assignment_has_one_small_figure(report_dir):
    """One readable figure per assignment, not one endless column of bars."""
    from matplotlib.image import imread

    for assignment in ASSIGNMENTS:
        height, width = imread(report_dir / f"report_{assignment}.png").shape[:2]
        assert 300 < height <= 1200 and 600 < width <= 1200, (assignment, height, width)


def test_written_answers_not_yet_graded_are_awaiting_not_failed(report_dir, graded_class):
    text = (report_dir / "report.html").read_text()
    graded = {(r["student_id"], r["assignment"]) for r in graded_class["grades"]
              if r["status"] in ("graded", "timeout")}
    pending = Counter((r["assignment"], r["grade_id"]) for r in graded_class["tests"]
                      if r["score"] == "" and (r["student_id"], r["assignment"]) in graded)
    assert pending
    for (assignment, grade_id), count in pending.items():
        row = text.split(f"<td>{assignment}</td><td>{grade_id}</td>", 1)[1].split("</tr>")[0]
        # a rate counts only the answers already scored (a blank answer scores 0 at once)
        assert f"awaiting grading: {count}" in row, (assignment, grade_id, row)


def test_every_student_links_to_their_feedback_pages(report_dir):
    text = (report_dir / "report.html").read_text()
    students = text.split("<h2>Students</h2>", 1)[1]
    for page in (report_dir / "feedback").rglob("*.html"):
        link = page.relative_to(report_dir).as_posix()
        assert f"href='{link}'" in students, link


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
