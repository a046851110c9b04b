"""The typed boundary of the grading worker: a job goes in, a result comes out.

:class:`GradingJob` is everything a worker needs to grade one student's assignment
(frozen, picklable: it crosses to a pool process or a Dask worker as it is).
:class:`Observations` is what the worker saw while nbgrader ran: facts recorded as
they happened (the deadline fired, the executor interrupted a cell, the kernel died),
never text searched afterwards. :func:`decide` turns them, with the gradebook's scores,
into the status and message of the submission's ``AssignmentResult``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .config import CoursePaths
from .policy import SandboxPolicy

#: The executor's names for how an execution ended early (see ``TrustedTestExecute``)
KERNEL_DIED = "kernel_died"
INTERRUPT_IGNORED = "interrupt_ignored"

#: nbgrader refuses a notebook before running it when its metadata was broken; its log
#: is then the only account of why (checked in order, first match decides)
REFUSALS = (
    ("Inconsistent checksums", "a test or read-only cell was changed in a way nbgrader "
                               "cannot repair"),
    ("SchemaMismatchError", "the nbgrader metadata of a cell was edited (schema version)"),
    ("SchemaTooOld", "the nbgrader metadata of a cell was edited (schema version)"),
    ("SchemaTooNew", "the nbgrader metadata of a cell was edited (schema version)"),
    ("ValidationError", "the nbgrader metadata of a cell is not valid"),
)


@dataclass(frozen=True)
class GradingJob:
    """One student's assignment to grade, and how."""

    student: str
    assignment: str
    paths: CoursePaths  # source, release, work (nbgrader's folder), submitted
    db_url: str
    max_score: float
    cell_timeout: int
    notebook_timeout: int
    sandbox: SandboxPolicy = field(default_factory=SandboxPolicy)

    @property
    def key(self) -> tuple[str, str]:
        return self.student, self.assignment

    @property
    def submitted_dir(self) -> Path:
        return self.paths.submitted / self.student / self.assignment

    @property
    def autograded_dir(self) -> Path:
        return self.paths.work / "autograded" / self.student / self.assignment

    @property
    def feedback_dir(self) -> Path:
        return self.paths.work / "feedback" / self.student / self.assignment


@dataclass(frozen=True)
class Execution:
    """What the executor recorded about one notebook (``TrustedTestExecute``)."""

    cell_timeouts: int = 0  # cells (or test calls) interrupted at the cell timeout
    ended_by: str | None = None  # KERNEL_DIED, INTERRUPT_IGNORED or None

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)))

    @classmethod
    def load(cls, path: Path) -> Execution:
        return cls(**json.loads(path.read_text()))


@dataclass(frozen=True)
class Observations:
    """What the worker saw while nbgrader autograded one submission."""

    autograded: bool  # nbgrader's autograde reported success
    deadline_hit: bool = False  # the whole-notebook watchdog fired
    executions: tuple[Execution, ...] = ()  # one per notebook the executor ran
    nbgrader_log: str = ""  # nbgrader's log and error, when it failed

    @property
    def cell_timeouts(self) -> int:
        return sum(e.cell_timeouts for e in self.executions)

    @property
    def ended_by(self) -> str | None:
        return next((e.ended_by for e in self.executions if e.ended_by), None)


def decide(observed: Observations, job: GradingJob, *, pending_points: float = 0.0,
           feedback: bool = True) -> tuple[str, str]:
    """The status and message of a submission, from what was observed while grading it.

    ``pending_points`` are the points of written answers nobody has graded yet;
    ``feedback`` says whether the feedback pages were written.
    """
    if observed.deadline_hit:
        return "timeout", f"the notebook ran longer than {job.notebook_timeout} s"
    if observed.ended_by == KERNEL_DIED:
        return "error", ("the Python kernel died while running the notebook (sys.exit, "
                         "os._exit, a crash or too much memory)")
    if observed.ended_by == INTERRUPT_IGNORED:
        return "timeout", (f"a cell ran longer than {job.cell_timeout} s and the kernel "
                           "stopped responding")
    if not observed.autograded:
        return _refused(observed.nbgrader_log)
    notes = []
    status = "graded"
    if observed.cell_timeouts:
        status = "timeout"
        notes.append(f"a cell ran longer than {job.cell_timeout} s and was interrupted")
    if pending_points:
        notes.append(f"{pending_points:g} points await manual grading")
    if not feedback:
        notes.append("feedback could not be generated")
    return status, "; ".join(notes)


def _refused(log: str) -> tuple[str, str]:
    """Status and plain-words reason for a notebook nbgrader refused to run."""
    for pattern, message in REFUSALS:
        if pattern in log:
            return "invalid", message
    lines = [line.strip() for line in log.strip().splitlines() if line.strip()]
    detail = lines[-1][:300] if lines else ""
    return "error", (f"nbgrader could not grade the notebook ({detail})" if detail
                     else "nbgrader could not grade the notebook")
