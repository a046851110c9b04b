"""Every solution notebook runs top to bottom and passes all of its tests, hidden ones too."""

from __future__ import annotations

import time

import nbformat
import pytest
from conftest import ASSIGNMENTS, SOLUTIONS, is_test_cell, nbgrader_meta, notebook_path
from nbclient import NotebookClient


def execute(path, *, allow_errors: bool):
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=allow_errors,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    return nb


@pytest.fixture(scope="module", params=ASSIGNMENTS)
def executed_solution(request):
    path = notebook_path(SOLUTIONS, request.param)
    start = time.perf_counter()
    nb = execute(path, allow_errors=False)  # any error in any cell fails here
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
