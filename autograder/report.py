"""Class report from a grading run: ``python -m autograder report OUT_DIR``.

Reads ``grades.csv``, ``tests.csv`` and ``run.json`` written by ``grade`` (and updated
by ``export`` after grading by hand) and writes

* ``report.html``: statuses, score statistics, item analysis per assignment (written
  answers nobody has graded yet shown as *awaiting grading*), and every student with a
  link to each of their feedback pages;
* ``report_<assignment>.png``: one small figure per assignment: a heat map of students by
  graded behaviours (share of the points earned; grey: awaiting grading) beside the
  histogram of scores (whole numbers of students);
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
import numpy as np  # noqa: E402
from matplotlib.colors import LinearSegmentedColormap  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from .results import GRADES_COLUMNS, SCORED_STATUSES, STATUSES, TESTS_COLUMNS  # noqa: E402

# share of the points earned: red (none) through yellow to green (all)
_EARNED = LinearSegmentedColormap.from_list("earned", ["#d73027", "#fee08b", "#1a9850"])
_AWAITING = "#bdbdbd"
# more students than this: the heat map drops its row labels (the table has them)
_LABELLED_ROWS = 40


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


def _items_in_order(tests: list[dict], assignment: str, source: Path | None = None) -> list[str]:
    """The assignment's grade_ids, in notebook order when the source notebooks are at hand."""
    listed = list(dict.fromkeys(r["grade_id"] for r in tests if r["assignment"] == assignment))
    order: list[str] = []
    for path in sorted((source / assignment).glob("*.ipynb")) if source else ():
        try:
            cells = json.loads(path.read_text()).get("cells", [])
        except (OSError, ValueError):
            return listed
        order += [c.get("metadata", {}).get("nbgrader", {}).get("grade_id") for c in cells]
    position = {grade_id: i for i, grade_id in enumerate(order) if grade_id}
    return sorted(listed, key=lambda g: position.get(g, len(position)))


def _plot_assignment(assignment: str, items: list[str], grades: list[dict], tests: list[dict],
                     graded: set[tuple[str, str]], path: Path) -> None:
    """Heat map (students x ``items``, the behaviours) and score histogram of one assignment."""
    students = sorted(s for s, a in graded if a == assignment)
    earned = np.full((len(students), len(items)), np.nan)
    awaiting = np.zeros(earned.shape, dtype=bool)
    row_of = {s: i for i, s in enumerate(students)}
    col_of = {g: j for j, g in enumerate(items)}
    for r in tests:
        if r["assignment"] != assignment or r["student_id"] not in row_of:
            continue
        i, j = row_of[r["student_id"]], col_of[r["grade_id"]]
        if r["score"] == "":
            awaiting[i, j] = True
        else:
            earned[i, j] = float(r["score"]) / max(float(r["max_score"]), 1e-12)
    rows = [r for r in grades if r["assignment"] == assignment]
    max_score = max(float(r["max_score"]) for r in rows)
    scores = [float(r["score"]) for r in rows if (r["student_id"], assignment) in graded]

    height = 2.6 + 0.18 * min(len(students), _LABELLED_ROWS)
    fig, (ax_map, ax_hist) = plt.subplots(
        1, 2, figsize=(10, height), gridspec_kw={"width_ratios": [3, 2]})
    ax_map.imshow(earned, cmap=_EARNED, vmin=0, vmax=1,
                  aspect="auto", interpolation="nearest")
    if awaiting.any():
        ax_map.imshow(np.where(awaiting, 1.0, np.nan), cmap=LinearSegmentedColormap.from_list(
            "awaiting", [_AWAITING, _AWAITING]), aspect="auto", interpolation="nearest")
    ax_map.set_xticks(range(len(items)), items, rotation=60, ha="right", fontsize=7)
    if len(students) <= _LABELLED_ROWS:
        ax_map.set_yticks(range(len(students)), students, fontsize=7)
    else:
        ax_map.set_yticks([])
    ax_map.set_xlabel("graded behaviour (grade_id)")
    ax_map.set_ylabel(f"student ({len(students)} graded)")
    ax_map.set_title("share of each behaviour's points earned")
    fig.legend(handles=[Patch(color=_EARNED(1.0), label="all points"),
                        Patch(color=_EARNED(0.5), label="half of them"),
                        Patch(color=_EARNED(0.0), label="none"),
                        Patch(color=_AWAITING, label="awaiting grading")],
               loc="lower left", ncol=4, fontsize=8, frameon=False)
    ax_hist.hist(scores, bins=min(20, max(int(max_score), 1)), range=(0, max_score),
                 color="tab:blue", edgecolor="white")
    ax_hist.yaxis.set_major_locator(MaxNLocator(integer=True))  # whole students
    ax_hist.set_xlabel(f"score (out of {max_score:g})")
    ax_hist.set_ylabel("students")
    ax_hist.set_title(f"scores of {len(scores)} graded submissions")
    fig.suptitle(assignment, fontweight="bold")
    fig.tight_layout(rect=(0, 0.05, 1, 1))  # room for the legend below
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _feedback_links(out: Path, student: str, assignment: str) -> str:
    pages = sorted((out / "feedback" / student / assignment).glob("*.html"))
    return " ".join(f"<a href='{html.escape(p.relative_to(out).as_posix())}'>"
                    f"{html.escape(assignment)}</a>" for p in pages)


class _Raw(str):
    """Table cell content that is already HTML (a link)."""


def _html_table(header: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(
        f"<td>{c if isinstance(c, _Raw) else html.escape(str(c))}</td>" for c in row)
        + "</tr>" for row in rows)
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
              if r["status"] in SCORED_STATUSES}
    items = item_analysis(tests, graded)

    assignments = sorted({r["assignment"] for r in grades})
    source = Path(run["source"]) if run.get("source") else None
    order = {a: _items_in_order(tests, a, source) for a in assignments}
    for stale in out.glob("report_*.png"):
        stale.unlink()  # figures of an earlier report, perhaps of other assignments
    figures = {}
    for assignment in assignments:
        if any(a == assignment for _, a in graded):
            figures[assignment] = f"report_{assignment}.png"
            _plot_assignment(assignment, order[assignment], grades, tests, graded,
                             out / figures[assignment])
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
              _html_table(["assignment", "graded", "mean", "median", "max"], stat_rows)]
    awaiting = Counter((r["assignment"], r["grade_id"]) for r in tests
                       if r["score"] == "" and (r["student_id"], r["assignment"]) in graded)
    if items or awaiting:
        item_rows = []
        for assignment in assignments:
            for grade_id in order[assignment]:
                rate = items.get(assignment, {}).get(grade_id)
                waiting = awaiting.get((assignment, grade_id), 0)
                cell = "" if rate is None else f"{100 * rate:.0f}%"
                if waiting:
                    cell += (" (" if cell else "") + f"awaiting grading: {waiting}" + (
                        ")" if rate is not None else "")
                if rate is not None or waiting:
                    item_rows.append([assignment, grade_id, cell])
        parts += ["<h2>Item analysis</h2><p>Share of graded submissions that earned all "
                  "points of each behaviour: low rates show what the class gets wrong. Written "
                  "answers nobody has graded yet are <em>awaiting grading</em>, not failed.</p>",
                  _html_table(["assignment", "grade_id", "passed"], item_rows)]
    for assignment, figure in figures.items():
        parts.append(f"<h3>{html.escape(assignment)}</h3><img src='{figure}' "
                     f"alt='{html.escape(assignment)}: heat map of students by behaviours, "
                     "and score histogram'>")
    students = sorted({r["student_id"] for r in grades})
    student_rows = []
    for student in students:
        links = " ".join(_feedback_links(out, student, a) for a in assignments).strip()
        student_rows.append([student, _Raw(links or "no feedback page")])
    parts += ["<h2>Students</h2><p>Each student's feedback pages (what the student is "
              "given back).</p>", _html_table(["student", "feedback"], student_rows)]
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
