"""Status decisions: what the worker observed becomes one status and one plain message."""

from __future__ import annotations

from pathlib import Path

import pytest

from autograder.config import CoursePaths
from autograder.job import (
    INTERRUPT_IGNORED,
    KERNEL_DIED,
    Execution,
    GradingJob,
    Observations,
    decide,
)
from autograder.results import AssignmentResult

JOB = GradingJob("ada", "01_definition", CoursePaths(Path("/s"), Path("/r"), Path("/w")),
                 "sqlite://", max_score=14.0, cell_timeout=10, notebook_timeout=90)


def test_a_clean_run_is_graded_without_a_note():
    """Autograded, nothing interrupted, feedback written: graded, no message."""
    assert decide(Observations(autograded=True, executions=(Execution(),)), JOB) == (
        "graded", "")


def test_interrupted_cells_make_a_timeout_that_keeps_its_scores():
    """A cell interrupted at the cell timeout: status timeout, message names the limit."""
    status, message = decide(Observations(True, executions=(Execution(cell_timeouts=2),)), JOB)
    assert status == "timeout"
    assert message == "a cell ran longer than 10 s and was interrupted"


def test_the_notes_of_a_graded_run_are_joined():
    """Pending written answers and missing feedback are both said."""
    status, message = decide(Observations(True), JOB, pending_points=2, feedback=False)
    assert status == "graded"
    assert message == "2 points await manual grading; feedback could not be generated"


def test_the_deadline_comes_first():
    """The whole-notebook deadline wins over what the dying kernel left behind."""
    observed = Observations(False, deadline_hit=True,
                            executions=(Execution(ended_by=KERNEL_DIED),))
    assert decide(observed, JOB) == ("timeout", "the notebook ran longer than 90 s")


def test_a_dead_kernel_is_an_error():
    """sys.exit, os._exit or a crash in the kernel: error, whatever nbgrader logged."""
    observed = Observations(False, executions=(Execution(ended_by=KERNEL_DIED),),
                            nbgrader_log="CellTimeoutError somewhere in the text")
    status, message = decide(observed, JOB)
    assert status == "error" and "kernel died" in message


def test_a_kernel_that_ignores_the_interrupt_is_a_timeout():
    """A loop that swallows KeyboardInterrupt: timeout, score 0."""
    observed = Observations(False, executions=(Execution(1, ended_by=INTERRUPT_IGNORED),))
    status, message = decide(observed, JOB)
    assert status == "timeout" and "stopped responding" in message


def test_log_text_alone_never_makes_a_timeout():
    """A student's own TimeoutError in nbgrader's log is not a timeout: no fact says so."""
    observed = Observations(True, executions=(Execution(),),
                            nbgrader_log="TimeoutError: my own timeout\nCellTimeoutError")
    assert decide(observed, JOB)[0] == "graded"


@pytest.mark.parametrize("log, status, words", [
    ("[AutogradeApp] ERROR | Inconsistent checksums for cell ex1", "invalid",
     "changed in a way nbgrader cannot repair"),
    ("SchemaTooOld: notebook metadata", "invalid", "schema version"),
    ("jsonschema ValidationError: 'points' is not a number", "invalid", "not valid"),
    ("Traceback ...\nOSError: disk full", "error",
     "nbgrader could not grade the notebook (OSError: disk full)"),
    ("", "error", "nbgrader could not grade the notebook"),
])
def test_a_notebook_nbgrader_refused_is_named(log, status, words):
    """nbgrader refused to run the notebook: its log says why, in order of the table."""
    found, message = decide(Observations(False, nbgrader_log=log), JOB)
    assert found == status and words in message


def test_the_execution_record_round_trips(tmp_path):
    """What the executor saves is what the worker loads."""
    record = Execution(cell_timeouts=3, ended_by=INTERRUPT_IGNORED)
    record.save(tmp_path / "nb.json")
    assert Execution.load(tmp_path / "nb.json") == record


def test_results_refuse_an_unknown_status():
    """A typo in a status is a bug of the grader, caught where the result is built."""
    with pytest.raises(ValueError, match="unknown status 'grated'"):
        AssignmentResult("ada", "01", "grated", 0.0, 1.0)
    with pytest.raises(ValueError):
        AssignmentResult.not_graded("ada", "01", "graded", "no", 1.0)
