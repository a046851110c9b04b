"""Course layout and the nbgrader configuration built from it.

The course keeps nbgrader's *source* in ``solutions/`` and its *release* in
``notebooks/``. Every other nbgrader folder (submitted, autograded, feedback) and
the gradebook live in a working directory that git ignores, so grading never
writes into the repository's tracked files.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from traitlets.config import Config

from .policy import DEFAULT_CELL_TIMEOUT

COURSE_ID = "kl-divergence"

#: The checkout that holds ``solutions/`` and ``notebooks/`` (the package is installed
#: in editable mode from it). Commands that work on another course folder take it as an
#: argument (``grade --course``, ``hub-course --source``).
REPO_ROOT = Path(__file__).resolve().parents[1]

#: The course's nbconvert templates (``kl_feedback``: nbgrader's feedback page with the
#: items named and math that renders offline, see ``autograder.feedback``)
TEMPLATES = Path(__file__).resolve().parent / "templates"
FEEDBACK_TEMPLATE = "kl_feedback"
#: Its page; not index.html.j2, which is the name of the nbgrader page it extends
FEEDBACK_TEMPLATE_FILE = "feedback.html.j2"


def nbgrader_templates() -> Path:
    """nbgrader's own templates folder, where ``kl_feedback``'s base ``feedback`` lives."""
    # found, not imported: importing nbgrader loads its server extensions
    package = Path(importlib.util.find_spec("nbgrader").origin).resolve().parent
    return package / "server_extensions" / "formgrader" / "templates"


@dataclass(frozen=True)
class CoursePaths:
    """Absolute folders nbgrader works with for one run.

    ``work`` is nbgrader's ``CourseDirectory.root``: the relative folders
    (autograded, feedback) and the SQLite gradebook are created under it.
    """

    source: Path
    release: Path
    work: Path
    submitted: Path | None = None

    @classmethod
    def for_repo(cls, work: Path, *, release: Path | None = None,
                 submitted: Path | None = None, repo: Path = REPO_ROOT) -> CoursePaths:
        return cls(
            source=(repo / "solutions").resolve(),
            release=(release or repo / "notebooks").resolve(),
            work=Path(work).resolve(),
            submitted=Path(submitted).resolve() if submitted else None,
        )


def sqlite_url(work: Path) -> str:
    """The default gradebook: one SQLite file in the working directory.

    Parallel workers write to it; SQLite serialises writers with a lock, and the
    ``timeout`` lets a writer wait for it (60 s) instead of failing after 5 s.
    """
    return f"sqlite:///{Path(work).resolve() / 'gradebook.db'}?timeout=60"


def nbgrader_config(paths: CoursePaths, *, db_url: str | None = None,
                    cell_timeout: int = DEFAULT_CELL_TIMEOUT,
                    extra: dict | None = None) -> Config:
    """Build the traitlets ``Config`` every nbgrader call of the course uses.

    nbgrader accepts absolute step folders (``os.path.join`` keeps them), which
    is what lets a submissions folder anywhere on disk be graded in place.
    ``extra`` maps configurable class names to settings merged on top, e.g.
    ``{"Execute": {"kernel_name": "kl-sandbox"}}``.
    """
    c = Config()
    c.CourseDirectory.course_id = COURSE_ID
    c.CourseDirectory.root = str(paths.work)
    c.CourseDirectory.source_directory = str(paths.source)
    c.CourseDirectory.release_directory = str(paths.release)
    if paths.submitted is not None:
        c.CourseDirectory.submitted_directory = str(paths.submitted)
    c.CourseDirectory.db_url = db_url or sqlite_url(paths.work)
    apply_grading_policy(c, cell_timeout=cell_timeout)
    for section, settings in (extra or {}).items():
        for key, value in settings.items():
            c[section][key] = value
    return c


def apply_grading_policy(c: Config, *, cell_timeout: int = DEFAULT_CELL_TIMEOUT) -> None:
    """Settings shared by the CLI and by the instructor's ``nbgrader_config.py``."""
    # also reaches TrustedTestExecute: traitlets applies a class's config to subclasses
    c.Execute.timeout = cell_timeout
    # a test cell a student deleted comes back from the source before grading
    c.OverwriteCells.add_missing_cells = True
    c.RestoringOverwriteCells.add_missing_cells = True
    # release notebooks must not carry the instructor's outputs or cell state
    c.ClearOutput.enabled = True
    # nbgrader's sanitising steps, with an OverwriteCells that survives deleted cells
    c.Autograde.sanitize_preprocessors = [
        "nbgrader.preprocessors.ClearOutput",
        "nbgrader.preprocessors.DeduplicateIds",
        "nbgrader.preprocessors.OverwriteKernelspec",
        "autograder.preprocessors.RestoringOverwriteCells",
        "nbgrader.preprocessors.CheckCellMetadata",
    ]
    # nbgrader's pipeline plus a cap on the size of each output (LimitOutput counts lines)
    c.Autograde.autograde_preprocessors = [
        # test cells run in the grading process, out of reach of the student's code
        "autograder.trusted.TrustedTestExecute",
        "nbgrader.preprocessors.IgnorePattern",
        "nbconvert.preprocessors.ClearMetadataPreprocessor",
        "nbgrader.preprocessors.LimitOutput",
        "autograder.preprocessors.TruncateLargeOutputs",
        "autograder.preprocessors.OneCommitSaveAutoGrades",
        "nbgrader.preprocessors.AssignLatePenalties",
        "nbgrader.preprocessors.CheckCellMetadata",
    ]
    # the same pages as nbgrader's HTMLExporter, rendered at a fraction of the CPU cost,
    # with the summary's items named and the math in MathML (no CDN)
    c.GenerateFeedback.exporter_class = "autograder.feedback.FeedbackExporter"
    c.FeedbackExporter.template_name = FEEDBACK_TEMPLATE
    c.FeedbackExporter.template_file = FEEDBACK_TEMPLATE_FILE
    c.FeedbackExporter.extra_template_basedirs = [str(TEMPLATES), str(nbgrader_templates())]
    # feedback must not show hidden tests (nbgrader issue #917) nor their tracebacks
    c.GenerateFeedback.preprocessors = [
        "nbgrader.preprocessors.GetGrades",
        "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
        "nbgrader.preprocessors.ClearHiddenTests",
        "autograder.preprocessors.HideTestTracebacks",
    ]


def ensure_venv_on_path() -> None:
    """Put this interpreter's ``bin`` first on PATH.

    nbgrader runs ``alembic`` from PATH when it creates a gradebook (unless
    ``autograder.patches`` answered in-process), and starts kernels with ``python``
    from PATH; calling ``.venv/bin/python -m autograder`` without an activated venv
    would otherwise fail or use another Python.
    """
    bin_dir = str(Path(sys.executable).parent)
    parts = os.environ.get("PATH", "").split(os.pathsep)
    if not parts or parts[0] != bin_dir:
        os.environ["PATH"] = os.pathsep.join([bin_dir, *[p for p in parts if p != bin_dir]])


def list_assignments(source: Path) -> list[str]:
    """Assignment ids: the folders of ``source`` holding a notebook of the same name."""
    return sorted(
        d.name for d in Path(source).iterdir()
        if d.is_dir() and (d / f"{d.name}.ipynb").is_file()
    )
