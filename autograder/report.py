"""Class report from a grading run: ``python -m autograder report OUT_DIR``.

Reads ``grades.csv``, ``tests.csv`` and ``run.json`` written by ``grade`` and writes

* ``report.html``: statuses, score statistics and item analysis per assignment;
* ``report_scores.png``: a score histogram per assignment;
* ``report_items.png``: the pass rate of every autograded behaviour (grade_id);
* ``lms_grades.csv``: one row per student, one column per assignment (scores), ready
  for a learning management system's gradebook import.
"""

from __future__ import annotations

import csv
import html
import json
import statistics
from collections import Counter, defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: the report runs on servers without a display
import matplotlib.pyplot as plt  # noqa: E402

from .grading import GRADES_COLUMNS, STATUSES, TESTS_COLUMNS  # noqa: E402


class ReportError(RuntimeError):
    """The folder holds no grading results the report can read."""


def _read(path: Path, columns: tuple[str, ...]) -> list[dict]:
    if not path.is_file():
        raise ReportError(f"{path} is missing: run `python -m autograder grade ... --out "
                          f"{path.parent}` first")
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        if tuple(reader.fieldnames or ()) != columns:
            raise ReportError(f"{path} has columns {reader.fieldnames}, expected {list(columns)}")
        return list(reader)


def item_analysis(tests: list[dict], graded: set[tuple[str, str]]) -> dict[str, dict[str, float]]:
    """Pass rate per assignment and grade_id over the submissions that were graded.

    An item passes when it earned all its points; manually graded items not yet graded
    (empty score) are left out.
    """
    passed: dict[str, Counter] = defaultdict(Counter)
    counted: dict[str, Counter] = defaultdict(Counter)
    for row in tests:
        if (row["student_id"], row["assignment"]) not in graded or row["score"] == "":
            continue
        counted[row["assignment"]][row["grade_id"]] += 1
        if float(row["score"]) >= float(row["max_score"]):
            passed[row["assignment"]][row["grade_id"]] += 1
    return {a: {g: passed[a][g] / n for g, n in sorted(counts.items())}
            for a, counts in sorted(counted.items())}


def lms_table(grades: list[dict]) -> tuple[list[str], list[list[str]]]:
    """Header and rows: one row per student, one score column per assignment."""
    assignments = sorted({r["assignment"] for r in grades})
    scores: dict[str, dict[str, str]] = defaultdict(dict)
    for r in grades:
        scores[r["student_id"]][r["assignment"]] = r["score"]
    header = ["student_id", *assignments]
    rows = [[s, *(scores[s].get(a, "") for a in assignments)] for s in sorted(scores)]
    return header, rows


def _plot_scores(grades: list[dict], path: Path) -> None:
    assignments = sorted({r["assignment"] for r in grades})
    fig, axes = plt.subplots(len(assignments), 1, figsize=(7, 2.6 * len(assignments)),
                             squeeze=False)
    for ax, assignment in zip(axes[:, 0], assignments, strict=True):
        rows = [r for r in grades if r["assignment"] == assignment]
        max_score = max(float(r["max_score"]) for r in rows)
        scores = [float(r["score"]) for r in rows if r["status"] in ("graded", "timeout")]
        ax.hist(scores, bins=min(20, max(int(max_score), 1)), range=(0, max_score),
                color="tab:blue", edgecolor="white")
        ax.set_title(f"{assignment}: scores of {len(scores)} graded submissions")
        ax.set_xlabel(f"score (out of {max_score:g})")
        ax.set_ylabel("students")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_items(items: dict[str, dict[str, float]], path: Path) -> None:
    labels = [f"{a} / {g}" for a, rates in items.items() for g in rates]
    rates = [100 * r for per in items.values() for r in per.values()]
    fig, ax = plt.subplots(figsize=(7, 0.35 * max(len(labels), 3) + 1.2))
    ax.barh(labels, rates, color="tab:green")
    ax.invert_yaxis()  # first item on top, as in the notebook
    ax.set_xlim(0, 100)
    ax.set_xlabel("students who passed (%)")
    ax.set_title("Item analysis: pass rate per graded behaviour")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _html_table(header: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def write_report(out: Path) -> Path:
    """Write the report files into ``out`` and return the path of ``report.html``."""
    out = Path(out)
    grades = _read(out / "grades.csv", GRADES_COLUMNS)
    tests = _read(out / "tests.csv", TESTS_COLUMNS)
    if not grades:
        raise ReportError(f"{out / 'grades.csv'} has no rows")
    run = json.loads((out / "run.json").read_text()) if (out / "run.json").is_file() else {}
    graded = {(r["student_id"], r["assignment"]) for r in grades
              if r["status"] in ("graded", "timeout")}
    items = item_analysis(tests, graded)

    _plot_scores(grades, out / "report_scores.png")
    if items:
        _plot_items(items, out / "report_items.png")
    header, rows = lms_table(grades)
    with open(out / "lms_grades.csv", "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)

    parts = ["<!doctype html><meta charset='utf-8'><title>Class report</title>",
             "<style>body{font-family:sans-serif;max-width:60em;margin:auto}"
             "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px}"
             ".unsafe{background:#c00;color:#fff;padding:1em;font-weight:bold}</style>",
             "<h1>Class report</h1>"]
    if run.get("unsafe"):
        parts.append("<p class='unsafe'>WARNING: this class was graded with --unsafe: student "
                     "code ran without a sandbox and could read the solutions and the "
                     "gradebook. Do not trust these scores for hostile submissions.</p>")
    assignments = sorted({r["assignment"] for r in grades})
    status_rows = []
    for assignment in assignments:
        counts = Counter(r["status"] for r in grades if r["assignment"] == assignment)
        status_rows.append([assignment, *(counts.get(s, 0) for s in STATUSES)])
    parts += ["<h2>Statuses</h2>", _html_table(["assignment", *STATUSES], status_rows)]
    stat_rows = []
    for assignment in assignments:
        scores = sorted(float(r["score"]) for r in grades
                        if r["assignment"] == assignment and (r["student_id"], assignment)
                        in graded)
        max_score = max(float(r["max_score"]) for r in grades if r["assignment"] == assignment)
        if scores:
            stat_rows.append([assignment, len(scores), f"{statistics.fmean(scores):.2f}",
                              f"{statistics.median(scores):g}", f"{max_score:g}"])
        else:
            stat_rows.append([assignment, 0, "", "", f"{max_score:g}"])
    parts += ["<h2>Scores</h2>",
              _html_table(["assignment", "graded", "mean", "median", "max"], stat_rows),
              "<img src='report_scores.png' alt='score histograms'>"]
    if items:
        item_rows = [[a, g, f"{100 * r:.0f}%"] for a, per in items.items()
                     for g, r in per.items()]
        parts += ["<h2>Item analysis</h2><p>Share of graded submissions that earned all "
                  "points of each behaviour: low rates show what the class gets wrong.</p>",
                  _html_table(["assignment", "grade_id", "passed"], item_rows),
                  "<img src='report_items.png' alt='pass rate per grade_id'>"]
    problems = [[r["student_id"], r["assignment"], r["status"]] for r in grades
                if r["status"] != "graded"]
    if problems:
        parts += ["<h2>Submissions that need a look</h2>",
                  _html_table(["student", "assignment", "status"], problems)]
    parts.append("<p>LMS import: <a href='lms_grades.csv'>lms_grades.csv</a> "
                 "(one row per student, one column per assignment).</p>")
    report = out / "report.html"
    report.write_text("\n".join(parts) + "\n")
    return report
