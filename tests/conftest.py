"""Shared fixtures: the repository layout and one graded sample class per test session."""

from __future__ import annotations

import csv
from pathlib import Path

import nbformat
import pytest

from autograder.config import ensure_venv_on_path, list_assignments

REPO = Path(__file__).resolve().parents[1]
SOLUTIONS = REPO / "solutions"
NOTEBOOKS = REPO / "notebooks"
ASSIGNMENTS = list_assignments(SOLUTIONS)

# Extra hostile students graded with the sample class: what each one's kl_divergence is
HOSTILE_ANSWERS = {
    # returns an object that claims to equal (and be close to) anything
    "equals_everything": (
        "class _Anything(float):\n"
        "    def __eq__(self, other): return True\n"
        "    def __ne__(self, other): return False\n"
        "    def __lt__(self, other): return True\n"
        "    def __le__(self, other): return True\n"
        "    def __gt__(self, other): return True\n"
        "    def __ge__(self, other): return True\n"
        "    def __sub__(self, other): return 0.0\n"
        "    def __rsub__(self, other): return 0.0\n"
        "    def __abs__(self): return 0.0\n"
        "    def __float__(self): return float('nan')\n"
        "def kl_divergence(p, q):\n"
        "    return _Anything()\n"
    ),
}


def notebook_path(folder: Path, assignment: str) -> Path:
    return folder / assignment / f"{assignment}.ipynb"


def read_notebook(path: Path):
    return nbformat.read(path, as_version=4)


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def is_test_cell(cell) -> bool:
    meta = nbgrader_meta(cell)
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="session", autouse=True)
def _venv_on_path():
    ensure_venv_on_path()


@pytest.fixture(scope="session")
def graded_class(tmp_path_factory):
    """The sample class plus hostile students, graded once through the CLI."""
    from autograder.__main__ import main
    from autograder.sample_class import build_sample_class, fill_release

    root = tmp_path_factory.mktemp("graded")
    submissions = build_sample_class(root / "submissions")
    for assignment in ASSIGNMENTS:
        release_nb = read_notebook(notebook_path(NOTEBOOKS, assignment))
        source_nb = read_notebook(notebook_path(SOLUTIONS, assignment))
        for student, answer in HOSTILE_ANSWERS.items():
            if "kl_divergence" not in answer or assignment != "01_definition":
                continue
            filled = fill_release(release_nb, source_nb, {"kl_divergence": answer})
            target = notebook_path(submissions / student, assignment)
            target.parent.mkdir(parents=True)
            nbformat.write(filled, target)
    out = root / "out"
    assert main(["grade", str(submissions), "--out", str(out)]) == 0
    return {"submissions": submissions, "out": out,
            "grades": read_csv(out / "grades.csv"), "tests": read_csv(out / "tests.csv")}
