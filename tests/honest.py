"""The honest class: correct submissions written unlike the model answers.

Each student (a *style*) hands in every assignment. Their answers live in
``tests/honest_class/<style>/<assignment>.py``, one section per solution cell of the
release, headed by a line ``# %% <grade_id>`` naming that cell::

    # %% ex2_kl_divergence
    def kl_divergence(p, q):
        ...

Written answers (markdown cells graded by hand) are filled with a placeholder text:
they earn no automatic points either way. Every solution *code* cell must have a
section, so that nothing of the model answers leaks into an honest submission.

Command line, for whoever writes or checks these answers::

    .venv/bin/python tests/honest.py try STYLE ASSIGNMENT   # visible tests, in a kernel
    .venv/bin/python tests/honest.py grade STYLE ASSIGNMENT  # the grader, hidden tests too
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
HONEST = REPO / "tests" / "honest_class"
STYLES = ("loops_math", "library", "own_helpers")
_SECTION = re.compile(r"^# %% (\w+)[ \t]*$", re.MULTILINE)
WRITTEN_ANSWER = "(A written answer; graded by a person.)"


class HonestClassError(RuntimeError):
    """An answers file does not fit the release (unknown or missing cells)."""


def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def load_answers(style: str, assignment: str) -> dict[str, str]:
    """grade_id -> cell source, from ``honest_class/<style>/<assignment>.py``."""
    path = HONEST / style / f"{assignment}.py"
    text = path.read_text()
    parts = _SECTION.split(text)
    answers = {}
    for grade_id, body in zip(parts[1::2], parts[2::2], strict=True):
        if grade_id in answers:
            raise HonestClassError(f"{path}: two sections for {grade_id}")
        answers[grade_id] = body.strip("\n") + "\n"
    return answers


def fill(release_nb, answers: dict[str, str], *, where: str = "answers"):
    """A copy of ``release_nb`` with every solution cell answered from ``answers``."""
    filled = nbformat.from_dict(release_nb)
    code_ids = set()
    for cell in filled.cells:
        meta = _meta(cell)
        if not meta.get("solution"):
            continue
        if cell.cell_type == "markdown":
            cell.source = WRITTEN_ANSWER
            continue
        code_ids.add(meta["grade_id"])
        if meta["grade_id"] in answers:
            cell.source = answers[meta["grade_id"]]
    missing, unknown = code_ids - answers.keys(), answers.keys() - code_ids
    if missing or unknown:
        raise HonestClassError(f"{where}: missing sections {sorted(missing)}, "
                               f"unknown sections {sorted(unknown)}")
    return filled


def honest_notebook(style: str, assignment: str, release: Path = REPO / "notebooks"):
    release_nb = nbformat.read(release / assignment / f"{assignment}.ipynb", as_version=4)
    return fill(release_nb, load_answers(style, assignment),
                where=f"{style}/{assignment}.py")


def run_in_kernel(nb, cwd: Path, timeout: int = 120):
    """Execute ``nb`` as a student would (tests in the kernel); return it executed.

    Safe to call from a worker thread: nbclient runs on an event loop of the calling
    thread's own (jupyter_core's), which is closed afterwards: a loop left open keeps
    its sockets open until the garbage collector complains.
    """
    from jupyter_core.utils import ensure_event_loop
    from nbclient import NotebookClient

    try:
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                                resources={"metadata": {"path": str(cwd)}})
        client.execute()
    finally:
        ensure_event_loop().close()  # the loop nbclient used (the next call makes a new one)
    return nb


def cell_errors(nb) -> dict[str, str]:
    """grade_id -> 'Ename: message' of every nbgrader cell that raised."""
    errors = {}
    for cell in nb.cells:
        grade_id = _meta(cell).get("grade_id")
        if cell.cell_type != "code" or not grade_id:
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                errors[grade_id] = f"{output['ename']}: {output['evalue']}"
    return errors


def _try(style: str, assignment: str) -> int:
    nb = honest_notebook(style, assignment)
    with tempfile.TemporaryDirectory() as tmp:
        run_in_kernel(nb, Path(tmp))
    errors = cell_errors(nb)
    for cell in nb.cells:
        meta = _meta(cell)
        if cell.cell_type != "code" or not meta.get("grade_id"):
            continue
        kind = "test" if meta.get("grade") else "answer" if meta.get("solution") else "cell"
        status = "FAIL" if meta["grade_id"] in errors else "ok"
        print(f"{status:4}  {kind:6}  {meta['grade_id']}")
        if meta["grade_id"] in errors:
            print("        " + errors[meta["grade_id"]][:2000].replace("\n", "\n        "))
    return 1 if errors else 0


def _grade(style: str, assignment: str) -> int:
    import csv

    from autograder.__main__ import main

    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "subs" / style / assignment / f"{assignment}.ipynb"
        target.parent.mkdir(parents=True)
        nbformat.write(honest_notebook(style, assignment), target)
        out = Path(tmp) / "out"
        main(["grade", str(Path(tmp) / "subs"), "--out", str(out), "--assignment", assignment,
              "--workers", "1"])
        failed = 0
        with open(out / "tests.csv", newline="") as fh:
            for row in csv.DictReader(fh):
                if row["score"] == "":
                    continue  # graded by hand
                lost = float(row["score"]) < float(row["max_score"])
                failed += lost
                print(f"{'LOST' if lost else 'ok':4}  {row['grade_id']}  "
                      f"{row['score']}/{row['max_score']}")
        for page in (out / "feedback").rglob("*.html"):
            print(f"feedback page: {page} (deleted when this command ends)")
        return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("try", "grade"))
    parser.add_argument("style", choices=STYLES)
    parser.add_argument("assignment")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    from autograder.config import ensure_venv_on_path

    ensure_venv_on_path()
    return (_try if args.action == "try" else _grade)(args.style, args.assignment)


if __name__ == "__main__":
    sys.exit(main())
