"""Intake: who submitted what, and which submissions nbgrader need not run at all."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat

from .config import CoursePaths
from .results import AssignmentResult


def list_students(submissions: Path) -> list[str]:
    """Student ids: the visible sub-folders of the submissions folder."""
    return sorted(d.name for d in submissions.iterdir()
                  if d.is_dir() and not d.name.startswith("."))


def source_notebooks(paths: CoursePaths, assignment: str) -> list[str]:
    """Notebook names (without ``.ipynb``) of one assignment in the source."""
    return sorted(p.stem for p in (paths.source / assignment).glob("*.ipynb"))


def check_submitted_notebook(path: Path) -> str | None:
    """Return why ``path`` cannot be graded, or None when nbgrader may try it."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return "the file is not UTF-8 text"
    if not text.strip():
        return "the file is empty"
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        return f"the file is not valid JSON ({exc.msg} at line {exc.lineno})"
    if not isinstance(raw, dict) or "cells" not in raw:
        return "the file is JSON but not a Jupyter notebook (no 'cells')"
    if raw.get("nbformat") != 4:
        return f"the notebook format is {raw.get('nbformat')!r}, not 4"
    try:
        nbformat.validate(nbformat.reads(text, as_version=4))
    except Exception as exc:  # nbformat raises several types for malformed notebooks
        return f"the notebook does not follow the nbformat schema ({type(exc).__name__})"
    return None


def precheck(paths: CoursePaths, student: str, assignment: str,
             max_score: float) -> AssignmentResult | None:
    """The result of a submission nbgrader need not run (missing or invalid), else None."""
    notebooks = source_notebooks(paths, assignment)
    submitted = paths.submitted / student / assignment
    present = [nb for nb in notebooks if (submitted / f"{nb}.ipynb").is_file()]
    if not present:
        expected = ", ".join(f"{nb}.ipynb" for nb in notebooks)
        return AssignmentResult.not_graded(student, assignment, "missing",
                                           f"no {expected} in {student}/{assignment}/",
                                           max_score)
    for nb in present:
        problem = check_submitted_notebook(submitted / f"{nb}.ipynb")
        if problem:
            return AssignmentResult.not_graded(student, assignment, "invalid",
                                               f"{nb}.ipynb: {problem}", max_score)
    return None
