"""Every solution notebook runs top to bottom and passes all of its tests, hidden ones too."""

from __future__ import annotations

import re
import time

import nbformat
import pytest
from conftest import (
    ASSIGNMENTS,
    SOLUTIONS,
    is_test_cell,
    nbgrader_meta,
    notebook_path,
    read_notebook,
)
from nbclient import NotebookClient
from quoted_number_cells import fact_blocks, with_fact_cells

# Teaching cells keep at most this many asserts per notebook (each one a lesson a student
# reads); the checks that keep quoted numbers in sync live in tests/quoted_numbers/
MAX_TEACHING_ASSERTS = 5


def execute(path, *, allow_errors: bool, assignment: str | None = None):
    """Run the notebook at ``path``; with ``assignment``, its quoted-number checks too."""
    nb = nbformat.read(path, as_version=4)
    if assignment is not None:
        nb = with_fact_cells(nb, assignment)
    client = NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=allow_errors,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    return nb


@pytest.fixture(scope="module", params=ASSIGNMENTS)
def executed_solution(request):
    path = notebook_path(SOLUTIONS, request.param)
    start = time.perf_counter()
    # any error in any cell, or in a quoted-number check between them, fails here
    nb = execute(path, allow_errors=False, assignment=request.param)
    return request.param, nb, time.perf_counter() - start


def test_solution_executes_without_error(executed_solution):
    assignment, nb, seconds = executed_solution
    errors = [c.get("id") for c in nb.cells if c.cell_type == "code"
              and any(o.output_type == "error" for o in c.outputs)]
    assert errors == [], f"{assignment}: cells with errors {errors}"


def test_solution_passes_every_test_cell(executed_solution):
    assignment, nb, _ = executed_solution
    tests = [c for c in nb.cells if is_test_cell(c)]
    assert tests
    # the source keeps hidden tests, so this runs them as well
    assert any("BEGIN HIDDEN TESTS" in c.source for c in tests), f"{assignment}: no hidden tests"
    for cell in tests:
        assert cell.execution_count is not None, f"{nbgrader_meta(cell)['grade_id']} did not run"


def test_solution_figures_are_rendered(executed_solution):
    assignment, nb, _ = executed_solution
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if "image/png" in o.get("data", {})]
    assert images, f"{assignment} shows no figure"


def test_quoted_number_checks_ran(executed_solution):
    """Every block of the notebook's quoted-number file ran as a cell, without error."""
    assignment, nb, _ = executed_solution
    ran = [c for c in nb.cells if "fact_line" in c.metadata]
    assert len(ran) == len(fact_blocks(assignment))
    assert all(c.execution_count is not None for c in ran)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_teaching_cells_keep_few_asserts(assignment):
    """At most MAX_TEACHING_ASSERTS assert statements in cells that are not exercises."""
    nb = read_notebook(notebook_path(SOLUTIONS, assignment))
    counts = {}
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        if cell.cell_type != "code" or meta.get("grade") or meta.get("solution"):
            continue
        found = len(re.findall(r"^\s*assert\b", cell.source, re.M))
        if found:
            counts[cell.get("id")] = found
    assert sum(counts.values()) <= MAX_TEACHING_ASSERTS, (
        f"{assignment}: {sum(counts.values())} asserts in teaching cells {counts}; move the "
        f"number-keeping ones to tests/quoted_numbers/{assignment}.py")


def test_quoted_number_blocks_go_after_their_cell(tmp_path, monkeypatch):
    """A block becomes a cell right after the cell it names; an unknown id is an error."""
    import quoted_number_cells

    monkeypatch.setattr(quoted_number_cells, "FACTS", tmp_path)
    (tmp_path / "demo.py").write_text('"""demo"""\n\n# %% after b\nassert x == 2\n\n'
                                      "# %% after a\nassert x == 1\n")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1", id="a"),
                                         nbformat.v4.new_code_cell("x = 2", id="b")])
    cells = with_fact_cells(nb, "demo").cells
    assert [c.source for c in cells] == ["x = 1", "assert x == 1", "x = 2", "assert x == 2"]
    (tmp_path / "demo.py").write_text("# %% after nowhere\nassert True\n")
    with pytest.raises(ValueError, match="line 1: no cell with id 'nowhere'"):
        with_fact_cells(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("")]), "demo")
    (tmp_path / "demo.py").write_text("# %% after a\n\n# %% after b\nassert True\n")
    with pytest.raises(ValueError, match="block after 'a' is empty"):
        fact_blocks("demo")


# What the course's source documents are called internally ("seeds"), as a student would
# meet it; a random seed ("seed 2024", "about 95% of seeds", "seed=3") is fine
SOURCE_CALLED_SEED = re.compile(
    r"\bseed's\b|(?<!\w)\(seed\)|\bthe seeds\b"
    r"|\bseeds?[ -](page|wiki|documents?|sheets?|posts?|sources?|table|claims?|text|quiz"
    r"|examples?|authors?)\b|\bseed (says|said|claims|writes|wrote|prints|gives)\b",
    re.I)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_student_text_never_calls_a_source_seed(assignment):
    """No markdown, comment or string a student reads calls a source document a "seed"."""
    nb = read_notebook(notebook_path(SOLUTIONS, assignment))
    found = [(cell.get("id"), match.group(0)) for cell in nb.cells
             for match in SOURCE_CALLED_SEED.finditer(cell.source)]
    assert found == [], f"{assignment}: {found}"


# "notebook 03, section 4", "05, sections 5 and 6", "04 §5": a pointer to another notebook
CROSS_REFERENCE = re.compile(
    r"\b(?:[Nn]otebook )?(0[1-7]),? (?:§ ?|sections? )(\d+)((?:(?:,| and| or|–|-) ?\d+)*)")


def _numbered_sections(nb) -> dict[str, str]:
    return {match.group(1): match.group(2) for cell in nb.cells if cell.cell_type == "markdown"
            for match in re.finditer(r"^## (\d+)\. (.*)$", cell.source, re.M)}


def test_cross_references_name_existing_sections():
    """Every "notebook NN, section M" in the course points to a numbered section that exists."""
    notebooks = {assignment: read_notebook(notebook_path(SOLUTIONS, assignment))
                 for assignment in ASSIGNMENTS}
    sections = {assignment[:2]: _numbered_sections(nb) for assignment, nb in notebooks.items()}
    broken = []
    for assignment, nb in notebooks.items():
        for cell in nb.cells:
            for match in CROSS_REFERENCE.finditer(cell.source):
                numbers = [match.group(2), *re.findall(r"\d+", match.group(3))]
                broken += [(assignment, cell.get("id"), match.group(0)) for number in numbers
                           if number not in sections.get(match.group(1), {})]
    assert sections["03"] and broken == [], broken


MYTHS_BOX = "<details><summary><b>Myths and corrections</b></summary>"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_one_folded_myths_box_and_quick_checks(assignment):
    """One folded Myths-and-corrections box; 01-06 also ask 2+ quick checks, answers folded."""
    nb = read_notebook(notebook_path(SOLUTIONS, assignment))
    markdown = [cell.source for cell in nb.cells if cell.cell_type == "markdown"]
    boxes = [text for text in markdown if MYTHS_BOX in text]
    assert len(boxes) == 1, f"{assignment}: {len(boxes)} Myths and corrections boxes"
    assert boxes[0].count("<details") == boxes[0].count("</details>")
    if assignment != "07_quiz":  # the quiz is all questions already
        answers = sum(text.count("<details><summary>Answer</summary>") for text in markdown)
        assert answers >= 2, f"{assignment}: {answers} quick checks with a folded answer"
    assert not any("<details open" in text for text in markdown)
