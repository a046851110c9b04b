"""The student release is generated from solutions/, in sync, deterministic and leak-free."""

from __future__ import annotations

import filecmp
import re

import pytest
from conftest import (
    ASSIGNMENTS,
    NOTEBOOKS,
    SOLUTIONS,
    is_test_cell,
    nbgrader_meta,
    notebook_path,
    read_notebook,
)

from autograder.release import build_release


def _tree(folder):
    return sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def fresh_release(tmp_path_factory):
    return build_release(tmp_path_factory.mktemp("release") / "notebooks")


def test_there_are_assignments():
    assert "01_definition" in ASSIGNMENTS


def test_committed_release_matches_a_fresh_build(fresh_release):
    assert _tree(fresh_release) == _tree(NOTEBOOKS), "run `make release` and commit notebooks/"
    for rel in _tree(fresh_release):
        assert filecmp.cmp(fresh_release / rel, NOTEBOOKS / rel, shallow=False), (
            f"notebooks/{rel} differs from a fresh build: run `make release` and commit it")


def test_release_is_deterministic(fresh_release, tmp_path):
    again = build_release(tmp_path / "again")
    for rel in _tree(fresh_release):
        assert (again / rel).read_bytes() == (fresh_release / rel).read_bytes()


def test_release_into_other_folder_leaves_its_other_files(tmp_path):
    keep = tmp_path / "mine" / "keep.txt"
    keep.parent.mkdir()
    keep.write_text("not the course's")
    build_release(tmp_path)
    assert keep.read_text() == "not the course's"


def _split_regions(source: str) -> tuple[list[str], list[str]]:
    """Meaningful lines inside and outside the solution or hidden-test delimiters."""
    inside_lines, outside_lines, inside = [], [], False
    for line in source.splitlines():
        if re.search(r"BEGIN (SOLUTION|HIDDEN TESTS)", line):
            inside = True
        elif re.search(r"END (SOLUTION|HIDDEN TESTS)", line):
            inside = False
        elif len(line.strip()) > 12 and not line.strip().startswith("#"):
            (inside_lines if inside else outside_lines).append(line.strip())
    return inside_lines, outside_lines


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_leaks_no_solution_or_hidden_test(assignment):
    text = notebook_path(NOTEBOOKS, assignment).read_text()
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in text
    release = read_notebook(notebook_path(NOTEBOOKS, assignment))
    release_lines = {line.strip() for c in release.cells for line in c.source.splitlines()}
    source = read_notebook(notebook_path(SOLUTIONS, assignment))
    inside, outside = [], set()
    for cell in source.cells:
        cell_inside, cell_outside = _split_regions(cell.source)
        inside += cell_inside
        outside.update(cell_outside)
    # a line that is also visible elsewhere in the source (an import, say) is no secret
    secret = [line for line in inside if line not in outside]
    assert len(secret) > 10, "the source notebook has too few solution or hidden-test lines"
    leaked = [line for line in secret if line in release_lines]
    assert not leaked, f"solution/hidden-test lines found in the release: {leaked[:5]}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_source_is_stored_without_outputs(assignment):
    for cell in read_notebook(notebook_path(SOLUTIONS, assignment)).cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {cell.get('id')} has outputs: strip them"
            assert cell.execution_count is None, f"cell {cell.get('id')} has an execution count"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_source_follows_the_grading_conventions(assignment):
    nb = read_notebook(notebook_path(SOLUTIONS, assignment))
    grade_ids = [nbgrader_meta(c)["grade_id"] for c in nb.cells if nbgrader_meta(c)]
    assert len(grade_ids) == len(set(grade_ids)), "grade_ids must be unique"
    tests = [c for c in nb.cells if is_test_cell(c)]
    assert tests, "an assignment needs autograded tests"
    for cell in tests:
        meta = nbgrader_meta(cell)
        assert meta.get("points", 0) > 0, f"{meta['grade_id']} has no points"
        first = cell.source.lstrip().splitlines()[0]
        assert first.startswith('"""') and first.rstrip().endswith('"""') and len(first) > 8, (
            f"{meta['grade_id']} must open with a one-line docstring")
        # plain values only: an object that claims to equal everything must not pass
        assert any(convert in cell.source for convert in ("float(", "dtype=float", "str(")), (
            f"{meta['grade_id']} must convert the student's result to float (or str)")
    manual = [c for c in nb.cells if c.cell_type == "markdown" and nbgrader_meta(c).get("grade")]
    assert manual, "each assignment has at least one manually graded written answer"
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown").lower()
    for heading in ("learning goals", "summary", "evaluation criteria"):
        assert heading in text, f"the notebook has no '{heading}'"


def test_changed_cells_over_graded_submissions_is_a_clear_error(tmp_path):
    """A source whose graded cells changed after its gradebook took submissions is refused
    with a sentence that says so and how to go on, not with nbgrader's traceback."""
    import nbformat
    from nbgrader.api import Gradebook

    from autograder.config import CoursePaths, sqlite_url
    from autograder.release import ReleaseError, generate_assignments

    assignment = ASSIGNMENTS[0]
    source = tmp_path / "solutions"
    (source / assignment).mkdir(parents=True)
    notebook = source / assignment / f"{assignment}.ipynb"
    nb = read_notebook(notebook_path(SOLUTIONS, assignment))
    nb.cells = [cell for cell in nb.cells if not is_test_cell(cell)] + \
        [cell for cell in nb.cells if is_test_cell(cell)][:1]
    nbformat.write(nb, notebook)
    paths = CoursePaths(source=source, release=tmp_path / "release", work=tmp_path / "work")
    paths.work.mkdir()
    generate_assignments(paths, [assignment])
    with Gradebook(sqlite_url(paths.work)) as gradebook:
        gradebook.add_student("someone")
        gradebook.add_submission(assignment, "someone")
    # the instructor adds a graded test cell afterwards
    nb.cells.append(next(cell for cell in read_notebook(notebook_path(SOLUTIONS, assignment)).cells
                         if is_test_cell(cell) and nbgrader_meta(cell)["grade_id"]
                         != nbgrader_meta(nb.cells[-1])["grade_id"]))
    nbformat.write(nb, notebook)
    with pytest.raises(ReleaseError) as error:
        generate_assignments(paths, [assignment])
    message = str(error.value)
    assert message.startswith(f"{assignment} now has other graded cells than when the gradebook")
    assert "Grade into a new output folder" in message and "Traceback" not in message
