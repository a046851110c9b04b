"""Build the student release ``notebooks/`` from the instructor source ``solutions/``.

nbgrader's ``generate_assignment`` does the work (solutions replaced by stubs,
hidden tests removed, checksums added); this module only points it at the right
folders and uses a throw-away gradebook, so a release never touches a grading run.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory

from . import patches
from .config import REPO_ROOT, CoursePaths, ensure_venv_on_path, list_assignments, nbgrader_config


class ReleaseError(RuntimeError):
    """nbgrader could not generate an assignment; the message carries its log."""


def nbgrader_api(paths: CoursePaths, **config_kwargs) -> NbGraderAPI:
    """An ``NbGraderAPI`` bound to ``paths`` (see :func:`config.nbgrader_config`)."""
    patches.install()
    ensure_venv_on_path()
    config = nbgrader_config(paths, **config_kwargs)
    coursedir = CourseDirectory(config=config)
    return NbGraderAPI(coursedir=coursedir, config=config)


def generate_assignments(paths: CoursePaths, assignments: list[str] | None = None,
                         **config_kwargs) -> list[str]:
    """Run ``generate_assignment`` for each assignment into ``paths.release``.

    This also records the assignments (cells, points, checksums) in the gradebook
    of ``paths``, which autograding needs. Returns the assignment ids.
    """
    api = nbgrader_api(paths, **config_kwargs)
    assignments = assignments or list_assignments(paths.source)
    if not assignments:
        raise ReleaseError(f"no assignments found in {paths.source}")
    for assignment in assignments:
        result = api.generate_assignment(assignment, force=True, create=True)
        if not result["success"]:
            raise ReleaseError(generation_failure(assignment, result, paths))
    return assignments


# nbgrader's words when a gradebook holds submissions of a notebook whose cells changed
_CELLS_CHANGED = "Cannot add or remove cells for notebook"


def generation_failure(assignment: str, result: dict, paths: CoursePaths) -> str:
    """What to tell the user when nbgrader's ``generate_assignment`` failed.

    A changed source graded into a folder that already holds grades of the old one gets a
    sentence naming the problem and the two ways out; anything else carries nbgrader's log.
    """
    log = f"{result.get('error', '')}\n{result.get('log', '')}"
    if _CELLS_CHANGED in log:
        return (f"{assignment} now has other graded cells than when the gradebook in "
                f"{paths.work} recorded its submissions, so nbgrader cannot grade into it "
                f"again. Grade into a new output folder (the earlier grades stay where they "
                f"are), or restore solutions/{assignment} as it was for those grades.")
    return f"nbgrader could not generate {assignment}:\n{log}"


def build_release(dest: Path | None = None, *, repo: Path = REPO_ROOT) -> Path:
    """Regenerate the student release of every assignment into ``dest``.

    ``dest`` defaults to the repository's ``notebooks/``; there, folders of
    assignments that no longer exist in ``solutions/`` are removed so that the
    release mirrors the source exactly (elsewhere nothing but the generated
    assignments is touched). Running this twice gives identical files.
    """
    repo_release = (repo / "notebooks").resolve()
    dest = Path(dest or repo_release).resolve()
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kl-release-") as work:
        paths = CoursePaths.for_repo(Path(work), release=dest, repo=repo)
        assignments = generate_assignments(paths)
    if dest != repo_release:
        return dest
    for stale in dest.iterdir():
        if stale.is_dir() and stale.name not in assignments:
            shutil.rmtree(stale)
    return dest


STUDENT_README = """\
# KL divergence, from its definition to its use in reinforcement learning

The student notebooks of the course, one folder per assignment in `notebooks/`. Work in
them where they are: a later nbgitpuller link brings new material without overwriting
your edits. Check your work with the Validate button; submit as your instructor says.
"""


def write_student_repo(dest: Path, *, repo: Path = REPO_ROOT) -> Path:
    """A git repository holding only the student release, for nbgitpuller links.

    nbgitpuller clones a repository into every student's home, so the one it is pointed
    at must not carry ``solutions/``. ``dest`` gets ``notebooks/`` (built afresh from the
    source) and a short README, committed on the branch ``main``; run again after a
    change to the course, it commits the new release on top (nothing when unchanged).

    Raises:
        ReleaseError: ``dest`` exists and is not such a repository, or git fails.
    """
    dest = Path(dest).resolve()
    if dest.exists() and any(dest.iterdir()) and not (dest / ".git").is_dir():
        raise ReleaseError(f"{dest} exists and is not a git repository: choose a new folder")

    def git(*args: str) -> None:
        done = subprocess.run(["git", "-C", str(dest), *args], capture_output=True, text=True)
        if done.returncode:
            raise ReleaseError(f"git {' '.join(args)} failed in {dest}: {done.stderr.strip()}")

    dest.mkdir(parents=True, exist_ok=True)
    if not (dest / ".git").is_dir():
        git("init", "--quiet", "--initial-branch=main")
    build_release(dest / "notebooks", repo=repo)
    (dest / "README.md").write_text(STUDENT_README)
    git("add", "--all")
    if subprocess.run(["git", "-C", str(dest), "diff", "--cached", "--quiet"]).returncode:
        git("-c", "user.name=KL course", "-c", "user.email=kl-course@localhost",
            "commit", "--quiet", "-m", "The student release of the course")
    return dest
