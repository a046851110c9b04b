"""What an exercise forbids is written in its text, and the tests forbid exactly that.

Each auto-graded exercise states a **Not allowed** line listing, by full dotted name, the
routines its functions may not call; every ``assert_own_work`` in the tests uses that same
list for the functions the exercise defines. The notebooks' own (non-test) cells never put
a reference routine into the student's namespace under a bare name that a student would
naturally give an own function.
"""

from __future__ import annotations

import ast
import re
import types

import pytest
from conftest import (
    ASSIGNMENTS,
    SOLUTIONS,
    is_test_cell,
    nbgrader_meta,
    notebook_path,
    read_notebook,
)

from kl_helpers.checks import resolve_forbidden

MARK = "**Not allowed** (the tests check this):"
ALWAYS = "anything from the course library `kl_helpers`"


def exercises(nb) -> list[dict]:
    """One dict per ``### Exercise`` section: its markdown text and the functions it defines."""
    found, current = [], None
    for cell in nb.cells:
        if cell.cell_type == "markdown" and re.match(r"#{2,3} ", cell.source):
            current = None
            if cell.source.startswith("### Exercise"):
                current = {"title": cell.source.splitlines()[0], "text": "", "functions": set()}
                found.append(current)
        if current is None:
            continue
        if cell.cell_type == "markdown":
            current["text"] += "\n" + cell.source
        elif nbgrader_meta(cell).get("solution"):
            tree = ast.parse(cell.source)
            current["functions"] |= {node.name for node in tree.body
                                     if isinstance(node, ast.FunctionDef)}
    return found


def not_allowed(text: str) -> list[tuple[str, ...]]:
    """The routines each **Not allowed** line of ``text`` names (kl_helpers left implicit)."""
    lines = []
    for paragraph in text.split("\n\n"):
        flat = " ".join(paragraph.split())
        if flat.startswith(MARK):
            listed = flat[len(MARK):].split(". ")[0]
            assert ALWAYS in listed, f"the line must say that {ALWAYS} is not allowed: {flat}"
            lines.append(tuple(name for name in re.findall(r"`([\w.]+)`", listed)
                               if name != "kl_helpers"))
    return lines


def own_work_calls(nb) -> list[tuple[str, str, tuple[str, ...]]]:
    """(grade_id, function, forbidden) for every assert_own_work call in the test cells."""
    calls = []
    for cell in nb.cells:
        if not is_test_cell(cell):
            continue
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "assert_own_work":
                forbidden = ()
                for keyword in node.keywords:
                    assert keyword.arg == "forbidden"
                    forbidden = tuple(ast.literal_eval(keyword.value))
                calls.append((nbgrader_meta(cell)["grade_id"], node.args[0].id, forbidden))
    return calls


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_tests_forbid_exactly_what_the_text_lists(assignment):
    nb = read_notebook(notebook_path(SOLUTIONS, assignment))
    rules = {}
    for exercise in exercises(nb):
        lines = not_allowed(exercise["text"])
        assert len(lines) <= 1, f"{exercise['title']}: one Not allowed line, not {len(lines)}"
        for function in exercise["functions"]:
            rules[function] = (exercise["title"], lines[0] if lines else None)
    calls = own_work_calls(nb)
    for grade_id, function, forbidden in calls:
        title, listed = rules[function]
        assert listed is not None, f"{title}: its tests check own work but it has no {MARK} line"
        assert sorted(forbidden) == sorted(listed), (
            f"{grade_id}: the test forbids {sorted(forbidden)} for {function}, but {title} "
            f"lists {sorted(listed)}")
        resolve_forbidden(forbidden)  # each is a real routine
    checked = {function for _, function, _ in calls}
    for function, (title, listed) in rules.items():
        if listed is not None:
            assert function in checked, f"{title} forbids routines but no test checks {function}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_notebook_cells_import_the_library_as_modules(assignment):
    """No reference routine lands in the student's namespace under a bare name."""
    import kl_helpers

    nb = read_notebook(notebook_path(SOLUTIONS, assignment))
    for cell in nb.cells:
        if cell.cell_type != "code" or is_test_cell(cell):
            continue
        for node in ast.walk(ast.parse(cell.source)):
            if not (isinstance(node, ast.ImportFrom) and node.module
                    and node.module.split(".")[0] == "kl_helpers"):
                continue
            module = __import__(node.module, fromlist=["_"])
            for alias in node.names:
                value = getattr(module, alias.name)
                assert isinstance(value, types.ModuleType) or value is kl_helpers.check, (
                    f"{assignment}: a notebook cell imports the routine {node.module}."
                    f"{alias.name} as '{alias.asname or alias.name}'; import the module instead")
