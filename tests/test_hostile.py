"""Hostile or careless submissions: each ends in its own status, nothing leaks, others unharmed.

One class of such submissions is graded once (sandboxed, two workers) and each test
asserts on one student's row.
"""

from __future__ import annotations

import copy
import socket
import textwrap
import threading

import nbformat
import pytest
from conftest import NOTEBOOKS, SOLUTIONS, is_test_cell, nbgrader_meta, notebook_path, read_csv

from autograder.grading import GradingOptions, grade_class
from autograder.sample_class import fill_release
from autograder.sandbox import sandbox_problem

ASSIGNMENT = "01_definition"

#: A loop that catches the interrupt sent at the cell timeout and goes on
TRAPS_INTERRUPTS = ("import time\n"
                    "while True:\n"
                    "    try:\n"
                    "        time.sleep(0.05)\n"
                    "    except KeyboardInterrupt:\n"
                    "        pass\n")

pytestmark = pytest.mark.skipif(sandbox_problem() is not None,
                                reason=f"no sandbox here: {sandbox_problem()}")


class ConnectionRecorder:
    """A TCP server on 127.0.0.1 that counts the connections it receives."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.connections = 0
        self.server.settimeout(0.5)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.server.close()


def _answers(port: int) -> dict[str, dict[str, str]]:
    """Student -> {defined name -> code} for the hostile students built from answers."""
    solution_path = notebook_path(SOLUTIONS, ASSIGNMENT)
    copy_solution = (
        "import json\n"
        "def kl_divergence(p, q):\n"
        "    return 0.0\n"
        "try:\n"
        f"    _cells = json.load(open({str(solution_path)!r}))['cells']\n"
        "    for _cell in _cells:\n"
        "        _src = ''.join(_cell['source'])\n"
        "        if _src.startswith('def kl_divergence'):\n"
        "            exec(_src)\n"
        "except OSError as exc:\n"
        "    print('could not read the solutions:', exc)\n"
    )
    phone_home = (
        "import socket\n"
        "def kl_divergence(p, q):\n"
        "    return 0.0\n"
        "try:\n"
        f"    socket.create_connection(('127.0.0.1', {port}), timeout=2).close()\n"
        "except OSError as exc:\n"
        "    print('no network:', exc)\n"
    )
    return {
        "reads_solutions": {"kl_divergence": copy_solution},
        "phones_home": {"kl_divergence": phone_home},
        "memory_bomb": {"kl_divergence": "blob = bytearray(64 * 1024**3)\n"},
        "fork_bomb": {"kl_divergence": (
            "import os\n"
            "children = 0\n"
            "try:\n"
            "    while True:\n"
            "        if os.fork() == 0:\n"
            "            import time\n"
            "            time.sleep(600)\n"
            "        children += 1\n"
            "except OSError as exc:\n"
            "    print('fork refused after', children, 'children:', exc)\n")},
        "swallows_interrupt": {"kl_divergence": TRAPS_INTERRUPTS},
        "hard_exit": {"kl_divergence": "import os\nos._exit(3)\n"},
        "segfault": {"kl_divergence": "import ctypes\nctypes.string_at(0)\n"},
        "soft_exit": {"kl_divergence": "import sys\nsys.exit('bye')\n"},
        "floods_output": {"kl_divergence": "print('x' * 100_000_000)\n"},
        # a wrong answer plus every patch that would make in-kernel tests pass
        "monkeypatches": {"kl_divergence": (
            "import builtins, math\n"
            "import numpy as np\n"
            "import kl_helpers, kl_helpers.checks\n"
            "def kl_divergence(p, q):\n"
            "    return 0.0\n"
            "builtins.abs = lambda x: 0\n"
            "builtins.float = lambda x=0.0: 0.0\n"
            "math.isclose = lambda *args, **kwargs: True\n"
            "math.isfinite = lambda x: True\n"
            "np.isclose = lambda *args, **kwargs: True\n"
            "np.isposinf = lambda x: True\n"
            "kl_helpers.kl_divergence = lambda p, q, **kwargs: 0.0\n"
            "kl_helpers.checks.assert_own_work = lambda *args, **kwargs: None\n")},
        # a correct-looking function that hands the work to the reference
        "delegates": {"kl_divergence": (
            "def kl_divergence(p, q):\n"
            "    import kl_helpers\n"
            "    return float(kl_helpers.kl_divergence(p, q))\n")},
        # the same, hidden one helper deeper
        "delegates_via_helper": {"kl_divergence": (
            "from kl_helpers import kl_divergence as _ready_made\n"
            "def _compute(p, q):\n"
            "    return float(_ready_made(p, q))\n"
            "def kl_divergence(p, q):\n"
            "    return _compute(p, q)\n")},
        # the same, with the reference's name built from strings: no reading of the code
        # finds it, the grader sees the call when the test runs it
        "delegates_via_strings": {"kl_divergence": (
            "import importlib\n"
            "def kl_divergence(p, q):\n"
            "    library = importlib.import_module('kl_' + 'helpers')\n"
            "    return float(getattr(library, 'kl_' + 'divergence')(p, q))\n")},
    }


def _stalls_the_self_check(stall: str) -> str:
    """The sample class's swapped kl_divergence, stalled by ``stall`` when the self-check's
    first input comes a second time: the notebook's own check cell gets its (wrong) answer,
    and so does every graded test; the grader's self-check, which explains the failures
    after the last cell, stalls."""
    from autograder.sample_class import MISTAKES
    from kl_helpers.selfcheck import EXERCISES

    first = [float(x) for x in EXERCISES["kl_divergence"].cases[0].args[0]]
    swapped = MISTAKES[ASSIGNMENT]["swapped_pq"]["kl_divergence"]
    head = "def kl_divergence(p, q):\n"
    assert swapped.startswith(head)
    return ("_first_input_seen = []\n" + head
            + f"    if [float(x) for x in np.ravel(p)] == {first!r}:\n"
            "        _first_input_seen.append(True)\n"
            "    if len(_first_input_seen) > 1:\n" + stall + swapped[len(head):])


def _misbehaves_in_one_test(action: str) -> str:
    """A correct kl_divergence of the student's own that does ``action`` when a test calls it
    with the running example (no cell of the notebook does): the misbehaviour happens in
    the grader's call, not in a cell."""
    return ("import numpy as np\n"
            "def kl_divergence(p, q):\n"
            "    p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)\n"
            "    if p.tolist() == [0.4, 0.3, 0.2, 0.1]:\n" + action +
            "    with np.errstate(divide='ignore', invalid='ignore'):\n"
            "        terms = np.where(p > 0, p * np.log(p / q), 0.0)\n"
            "    return float(terms.sum())\n")


IN_A_TESTS_CALL = {
    "call_loops": {"kl_divergence": _misbehaves_in_one_test(
        "        while True:\n"
        "            pass\n")},
    "call_traps_interrupt": {"kl_divergence": _misbehaves_in_one_test(
        textwrap.indent(TRAPS_INTERRUPTS, " " * 8))},
    "call_hard_exit": {"kl_divergence": _misbehaves_in_one_test(
        "        import os\n"
        "        os._exit(3)\n")},
    "call_soft_exit": {"kl_divergence": _misbehaves_in_one_test(
        "        import sys\n"
        "        sys.exit('bye')\n")},
    "call_floods_output": {"kl_divergence": _misbehaves_in_one_test(
        "        print('x' * 20_000_000)\n")},
    "call_draws": {"kl_divergence": _misbehaves_in_one_test(
        "        import matplotlib.pyplot as plt\n"
        "        plt.plot([0, 1], [1, 0])\n")},
}


# the same wrong answer three times: plain, then stalling the self-check that explains it
SELF_CHECK_STALLS = {
    "swapped_plain": {"kl_divergence": _stalls_the_self_check("        pass\n")},
    "swapped_sleeps_in_check": {"kl_divergence": _stalls_the_self_check(
        "        import time\n"
        "        time.sleep(600)\n")},
    "swapped_traps_check": {"kl_divergence": _stalls_the_self_check(
        textwrap.indent(TRAPS_INTERRUPTS, " " * 8))},
}


def _full(release_nb, source_nb):
    return fill_release(release_nb, source_nb)


def _edited(release_nb, source_nb, edit):
    nb = _full(release_nb, source_nb)
    edit(nb)
    return nb


def _test_cells(nb):
    return [c for c in nb.cells if is_test_cell(c)]


def _delete_tests(nb):
    nb.cells = [c for c in nb.cells if not is_test_cell(c)]


def _neuter_tests(nb):
    # keep the metadata, replace the checks by nothing (on a blank answer)
    for cell in _test_cells(nb):
        cell.source = '"""Check nothing."""\npass'


def _inflate_points(nb):
    for cell in _test_cells(nb):
        nbgrader_meta(cell)["points"] = 100


def _duplicate_tests(nb):
    cells = []
    for cell in nb.cells:
        cells.append(cell)
        if is_test_cell(cell):
            twin = copy.deepcopy(cell)
            twin["id"] = cell["id"] + "-again"
            cells.append(twin)
    nb.cells = cells


def _rename_ids(nb):
    for index, cell in enumerate(nb.cells):
        cell["id"] = f"renamed-{index}"


def _tests_to_markdown(nb):
    for cell in _test_cells(nb):
        cell["cell_type"] = "markdown"
        cell.pop("outputs", None)
        cell.pop("execution_count", None)


@pytest.fixture(scope="module")
def hostile_class(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    submissions = root / "submissions"
    release_nb = nbformat.read(notebook_path(NOTEBOOKS, ASSIGNMENT), as_version=4)
    source_nb = nbformat.read(notebook_path(SOLUTIONS, ASSIGNMENT), as_version=4)
    recorder = ConnectionRecorder()
    notebooks = {"full_marks": _full(release_nb, source_nb)}
    for student, answers in {**_answers(recorder.port), **SELF_CHECK_STALLS,
                             **IN_A_TESTS_CALL}.items():
        notebooks[student] = fill_release(release_nb, source_nb, answers)
    notebooks["deleted_tests"] = _edited(release_nb, source_nb, _delete_tests)
    notebooks["duplicated_tests"] = _edited(release_nb, source_nb, _duplicate_tests)
    notebooks["renamed_ids"] = _edited(release_nb, source_nb, _rename_ids)
    notebooks["inflated_points"] = _edited(release_nb, source_nb, _inflate_points)
    blank = copy.deepcopy(release_nb)
    _neuter_tests(blank)
    notebooks["neutered_tests"] = blank
    notebooks["tests_to_markdown"] = _edited(release_nb, source_nb, _tests_to_markdown)
    empty = copy.deepcopy(release_nb)
    empty.cells = []
    notebooks["empty_notebook"] = empty
    for student, nb in notebooks.items():
        path = notebook_path(submissions / student, ASSIGNMENT)
        path.parent.mkdir(parents=True)
        nbformat.write(nb, path)
    out = root / "out"
    try:
        results = grade_class(submissions, out, assignments=[ASSIGNMENT], options=GradingOptions(
            cell_timeout=10, notebook_timeout=90, workers=2))
    finally:
        recorder.close()
    return {"results": {r.student_id: r for r in results}, "out": out,
            "tests": read_csv(out / "tests.csv"), "connections": recorder.connections}


def _autograded_max():
    nb = nbformat.read(notebook_path(SOLUTIONS, ASSIGNMENT), as_version=4)
    return sum(float(nbgrader_meta(c)["points"]) for c in nb.cells if is_test_cell(c))


def _ex2_scores(hostile, student):
    return [float(r["score"]) for r in hostile["tests"]
            if r["student_id"] == student and r["grade_id"].startswith("ex2_")]


def test_a_correct_submission_is_unharmed_by_the_others(hostile_class):
    result = hostile_class["results"]["full_marks"]
    assert result.status == "graded"
    assert result.score == _autograded_max()


def test_solutions_are_not_visible_to_student_code(hostile_class):
    result = hostile_class["results"]["reads_solutions"]
    assert result.status == "graded"
    scores = _ex2_scores(hostile_class, "reads_solutions")
    assert scores and all(s == 0 for s in scores), "the student copied the model solution"


def test_no_network_from_student_code(hostile_class):
    assert hostile_class["results"]["phones_home"].status == "graded"
    assert hostile_class["connections"] == 0


def test_monkeypatching_the_kernel_does_not_pass_tests(hostile_class):
    result = hostile_class["results"]["monkeypatches"]
    assert result.status == "graded"
    scores = _ex2_scores(hostile_class, "monkeypatches")
    assert len(scores) == 6 and all(s == 0 for s in scores), scores


@pytest.mark.parametrize("student", ["delegates", "delegates_via_helper",
                                     "delegates_via_strings"])
def test_delegating_to_the_reference_earns_nothing(hostile_class, student):
    scores = _ex2_scores(hostile_class, student)
    assert len(scores) == 6 and all(s == 0 for s in scores), scores
    feedback = next((hostile_class["out"] / "feedback" / student).rglob("*.html")).read_text()
    assert "must compute the answer itself" in feedback
    # the message names the routine reached (and, for a call seen at run time, from where)
    assert "kl_helpers.divergences.kl_divergence" in feedback
    if student == "delegates_via_strings":
        assert "your function &#39;kl_divergence&#39; called" in feedback


def test_memory_bomb_is_contained(hostile_class):
    result = hostile_class["results"]["memory_bomb"]
    assert result.status == "graded"  # MemoryError in one cell, the rest still graded
    assert 0 < result.score < _autograded_max()


def test_fork_bomb_is_contained(hostile_class):
    result = hostile_class["results"]["fork_bomb"]
    assert result.status in ("graded", "timeout", "error")
    assert result.score < _autograded_max()


def test_loop_that_swallows_interrupts_times_out(hostile_class):
    result = hostile_class["results"]["swallows_interrupt"]
    assert (result.status, result.score) == ("timeout", 0.0)


def test_a_self_check_that_stalls_costs_nothing_but_its_explanation(hostile_class):
    """Explaining a failure never changes a grade: a check that sleeps, or loops through
    interrupts, leaves the status and every score as the same mistake gets without it."""
    control = hostile_class["results"]["swapped_plain"]
    assert control.status == "graded" and 0 < control.score < _autograded_max()
    page = notebook_path(hostile_class["out"] / "feedback" / "swapped_plain", ASSIGNMENT)
    assert "The self-check for kl_divergence found:" in page.with_suffix(".html").read_text()
    for student in ("swapped_sleeps_in_check", "swapped_traps_check"):
        result = hostile_class["results"][student]
        assert (result.status, result.score) == ("graded", control.score), student
        assert _ex2_scores(hostile_class, student) == _ex2_scores(hostile_class,
                                                                  "swapped_plain")
        page = notebook_path(hostile_class["out"] / "feedback" / student, ASSIGNMENT)
        text = page.with_suffix(".html").read_text()
        assert "Test &#39;ex2_running_example_value&#39; failed." in text
        assert "The self-check for" not in text, student


@pytest.mark.parametrize("student", ["hard_exit", "segfault"])
def test_a_dying_kernel_is_an_error(hostile_class, student):
    result = hostile_class["results"][student]
    assert (result.status, result.score) == ("error", 0.0)
    assert "kernel died" in result.message


def test_soft_exit_only_fails_its_cell(hostile_class):
    result = hostile_class["results"]["soft_exit"]
    assert result.status == "graded"
    assert 0 < result.score < _autograded_max()


def test_huge_output_is_graded(hostile_class):
    result = hostile_class["results"]["floods_output"]
    assert result.status == "graded"
    feedback = next((hostile_class["out"] / "feedback" / "floods_output").rglob("*.html"))
    assert feedback.stat().st_size < 20_000_000


@pytest.mark.parametrize("student", ["deleted_tests", "duplicated_tests", "renamed_ids",
                                     "inflated_points"])
def test_edited_test_cells_are_restored(hostile_class, student):
    result = hostile_class["results"][student]
    assert result.status == "graded"
    assert result.score == _autograded_max()
    assert result.max_score == hostile_class["results"]["full_marks"].max_score


def test_neutered_tests_earn_nothing(hostile_class):
    result = hostile_class["results"]["neutered_tests"]
    assert (result.status, result.score) == ("graded", 0.0)


def test_tests_turned_into_markdown_earn_nothing_free(hostile_class):
    result = hostile_class["results"]["tests_to_markdown"]
    assert result.status in ("graded", "invalid")
    if result.status == "graded":
        # the tests came back as code and ran against the (correct) answers
        assert result.score == _autograded_max()


def test_empty_notebook_scores_zero(hostile_class):
    result = hostile_class["results"]["empty_notebook"]
    assert (result.status, result.score) == ("graded", 0.0)


#: the tests that call kl_divergence with the running example (where it misbehaves)
RUNNING_EXAMPLE_TESTS = {"ex2_running_example_value", "ex2_direction"}


def _failed_tests(result) -> set[str]:
    return {test.grade_id for test in result.tests
            if test.score is not None and test.score < test.max_score}  # None: by hand


def test_a_call_that_loops_in_a_test_is_interrupted_and_only_that_test_fails(hostile_class):
    """The test's call is interrupted at the cell timeout, as a cell is; the notebook's
    status says so, and every other test still runs in the same kernel and counts."""
    result = hostile_class["results"]["call_loops"]
    assert result.status == "timeout"
    assert _failed_tests(result) == RUNNING_EXAMPLE_TESTS


def test_a_call_that_ignores_the_interrupt_ends_the_notebook(hostile_class):
    result = hostile_class["results"]["call_traps_interrupt"]
    assert (result.status, result.score) == ("timeout", 0.0)


def test_a_kernel_that_dies_in_a_tests_call_is_an_error(hostile_class):
    result = hostile_class["results"]["call_hard_exit"]
    assert (result.status, result.score) == ("error", 0.0)
    assert "kernel died" in result.message


def test_sys_exit_in_a_tests_call_fails_only_that_test(hostile_class):
    result = hostile_class["results"]["call_soft_exit"]
    assert result.status == "graded"
    assert _failed_tests(result) == RUNNING_EXAMPLE_TESTS


@pytest.mark.parametrize("student", ["call_floods_output", "call_draws"])
def test_printing_or_drawing_in_a_tests_call_costs_nothing(hostile_class, student):
    """Output made while a test calls a correct function is not an answer: full marks."""
    result = hostile_class["results"][student]
    assert (result.status, result.score) == ("graded", _autograded_max())
