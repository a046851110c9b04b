"""After the automatic run: grading by hand in formgrader, exporting again, feedback again.

``python -m autograder grade SUBMISSIONS --out OUT`` leaves in ``OUT/nbgrader`` an
nbgrader course folder: the gradebook, the autograded notebooks and the feedback. The
manually graded cells (written answers) are then scored by a person in nbgrader's
formgrader, pointed at that same folder, and the results are exported and handed back:

- :func:`write_formgrader_config` writes ``OUT/nbgrader_config.py`` so that ``jupyter
  lab`` started in ``OUT`` (``python -m autograder formgrader OUT``) opens formgrader on
  this run: its Manual Grading pages list the run's submissions;
- :func:`export_grades` reads the gradebook again and rewrites ``grades.csv`` and
  ``tests.csv`` with the manual scores entered so far (``python -m autograder export``);
- :func:`regenerate_feedback` renders the feedback pages again, manual scores and
  comments included, still without hidden tests (``python -m autograder feedback``);
- :func:`write_hub_course` lays out the course in an instructor's home on a JupyterHub,
  with the nbgrader settings that tie ``nbgrader collect``, this grader's output and
  formgrader together (``python -m autograder hub-course``, run by ``hub/install.sh``).
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from . import feedback
from .config import COURSE_ID, CoursePaths, sqlite_url
from .gradebook import submission_scores
from .grading import GradingError
from .release import nbgrader_api
from .results import SCORED_STATUSES, AssignmentResult, ResultsError, read_grades, write_csvs


@dataclass(frozen=True)
class GradedRun:
    """Where one grading run's pieces are (read from its ``run.json``)."""

    out: Path
    submissions: Path
    source: Path
    db_url: str

    @property
    def paths(self) -> CoursePaths:
        work = self.out / "nbgrader"
        return CoursePaths(source=self.source, release=work / "release", work=work,
                           submitted=self.submissions)

    @classmethod
    def load(cls, out: Path, *, db_url: str | None = None) -> GradedRun:
        """The run in ``out``; ``db_url`` for a gradebook on a server (``grade --db``).

        Raises:
            GradingError: ``out`` holds no grading run, or the run's folders are gone.
        """
        out = Path(out).resolve()
        try:
            run = json.loads((out / "run.json").read_text())
        except (OSError, ValueError):
            raise GradingError(f"{out} holds no grading run (no readable run.json): run "
                               "`python -m autograder grade SUBMISSIONS --out OUT` first") from None
        if "submissions" not in run or "source" not in run:
            raise GradingError(f"{out}/run.json comes from an older grader: grade again")
        if run.get("external_db") and not db_url:
            raise GradingError(f"the run in {out} used a gradebook on a server: pass --db URL")
        graded = cls(out, Path(run["submissions"]), Path(run["source"]),
                     db_url or sqlite_url(out / "nbgrader"))
        for name, folder in (("submissions", graded.submissions), ("source", graded.source),
                             ("nbgrader work", graded.paths.work)):
            if not folder.is_dir():
                raise GradingError(f"the run's {name} folder {folder} is gone")
        return graded


def _read_results(out: Path) -> list[AssignmentResult]:
    try:
        return read_grades(out)
    except ResultsError as exc:
        raise GradingError(str(exc)) from None


def export_grades(run: GradedRun) -> list[AssignmentResult]:
    """Rewrite ``grades.csv`` and ``tests.csv`` from the gradebook, manual scores included.

    A submission the grader could not grade keeps its status and score; the others take
    their scores from the gradebook as it is now.
    """
    results = []
    for result in _read_results(run.out):
        if result.status in SCORED_STATUSES:
            score, max_score, tests = submission_scores(run.db_url, result.student_id,
                                                        result.assignment)
            result = replace(result, score=score, max_score=max_score, tests=tests)
        results.append(result)
    write_csvs(run.out, results)
    return results


def regenerate_feedback(run: GradedRun, assignments: list[str] | None = None) -> int:
    """Render the feedback of every graded submission again; return how many pages.

    The pages carry the manual scores and comments entered in formgrader since the
    run, and still no hidden tests (the same preprocessors as during grading).
    """
    api = nbgrader_api(run.paths, db_url=run.db_url)
    count = 0
    for result in _read_results(run.out):
        if result.status not in SCORED_STATUSES:
            continue
        if assignments and result.assignment not in assignments:
            continue
        done = api.generate_feedback(result.assignment, result.student_id, force=True)
        if not done["success"]:
            raise GradingError(f"feedback for {result.student_id}/{result.assignment} failed:"
                               f"\n{done.get('error') or done.get('log')}")
        feedback.publish(replace(result, feedback=True), run.paths.work / "feedback", run.out)
        count += 1
    return count


def course_config(header: str, *, root: Path, source: Path, release: Path, submitted: Path,
                  db_url: str | None = None) -> str:
    """The text of an ``nbgrader_config.py`` for one course layout, ``header`` as comments.

    The grading policy (feedback without hidden tests, the trusted test runner...) is the
    grader's own, so formgrader and ``nbgrader`` commands behave as the grader does.
    """
    lines = [*(f"# {line}" for line in header.splitlines()),
             "from autograder.config import apply_grading_policy", "",
             "c = get_config()  # noqa: F821 -- provided by nbgrader when it loads this file",
             f"c.CourseDirectory.course_id = {COURSE_ID!r}",
             f"c.CourseDirectory.root = {str(root)!r}",
             f"c.CourseDirectory.source_directory = {str(source)!r}",
             f"c.CourseDirectory.release_directory = {str(release)!r}",
             f"c.CourseDirectory.submitted_directory = {str(submitted)!r}"]
    if db_url:
        lines.append(f"c.CourseDirectory.db_url = {db_url!r}")
    return "\n".join([*lines, "apply_grading_policy(c)", ""])


def write_formgrader_config(run: GradedRun) -> Path:
    """``OUT/nbgrader_config.py``: nbgrader started in ``OUT`` works on this run."""
    paths = run.paths
    path = run.out / "nbgrader_config.py"
    path.write_text(course_config(
        "Written by `python -m autograder formgrader`: formgrader on the grading run here",
        root=paths.work, source=paths.source, release=paths.release,
        submitted=paths.submitted, db_url=run.db_url))
    return path


def write_hub_course(dest: Path, owner: str, source: Path, release: Path) -> Path:
    """Lay out the course for ``owner`` (an instructor's system account) in ``dest``.

    ``dest`` gets ``solutions/`` (from ``source``) and ``notebooks/`` (the release, from
    ``release``), and ``dest/../nbgrader_config.py`` (the instructor's home, where their
    server starts) the course settings; all of it belongs to ``owner``, and ``dest`` is
    readable by ``owner`` only. An existing ``dest`` keeps its submissions and grades;
    its source and release are replaced. Returns the path of the settings file.

    Raises:
        GradingError: ``owner`` is no system account, or a folder is missing.
    """
    try:
        account = pwd.getpwnam(owner)
    except KeyError:
        raise GradingError(f"{owner!r} is not a system account") from None
    for name, folder in (("source", source), ("release", release)):
        if not Path(folder).is_dir():
            raise GradingError(f"the {name} folder {folder} does not exist")
    dest = Path(dest).resolve()
    dest.mkdir(parents=True, exist_ok=True)
    for name, folder in (("solutions", source), ("notebooks", release)):
        shutil.rmtree(dest / name, ignore_errors=True)
        shutil.copytree(folder, dest / name,
                        ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    (dest / "submitted").mkdir(exist_ok=True)
    # nbgrader collect opens the gradebook there before the grader has run
    (dest / "graded" / "nbgrader").mkdir(parents=True, exist_ok=True)
    config = dest.parent / "nbgrader_config.py"
    config.write_text(course_config(
        f"Written by `python -m autograder hub-course` (hub/install.sh): the course {dest}.\n"
        "`nbgrader release_assignment` takes the release from notebooks/, `nbgrader collect`\n"
        "puts submissions in submitted/, the grader (`make hub-grade`) writes graded/:\n"
        "formgrader, `nbgrader export` and `nbgrader release_feedback` work on graded/nbgrader.",
        root=dest / "graded" / "nbgrader", source=dest / "solutions",
        release=dest / "notebooks", submitted=dest / "submitted"))
    for path in (config, dest, *dest.rglob("*")):
        os.chown(path, account.pw_uid, account.pw_gid, follow_symlinks=False)
    dest.chmod(0o700)
    return config

