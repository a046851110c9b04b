"""Shared fixtures: the repository layout and one graded sample class per test session."""

from __future__ import annotations

import csv
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest

from autograder.config import ensure_venv_on_path, list_assignments

REPO = Path(__file__).resolve().parents[1]
SOLUTIONS = REPO / "solutions"
NOTEBOOKS = REPO / "notebooks"
ASSIGNMENTS = list_assignments(SOLUTIONS)

# Extra hostile students graded with the sample class: what each one's kl_divergence is
HOSTILE_ANSWERS = {
    # returns an object that claims to equal (and be close to) anything
    "equals_everything": (
        "class _Anything(float):\n"
        "    def __eq__(self, other): return True\n"
        "    def __ne__(self, other): return False\n"
        "    def __lt__(self, other): return True\n"
        "    def __le__(self, other): return True\n"
        "    def __gt__(self, other): return True\n"
        "    def __ge__(self, other): return True\n"
        "    def __sub__(self, other): return 0.0\n"
        "    def __rsub__(self, other): return 0.0\n"
        "    def __abs__(self): return 0.0\n"
        "    def __float__(self): return float('nan')\n"
        "def kl_divergence(p, q):\n"
        "    return _Anything()\n"
    ),
    # an honest mistake, not a timeout: the function raises the built-in TimeoutError
    "raises_timeout_error": (
        "def kl_divergence(p, q):\n"
        "    raise TimeoutError('gave up waiting for the answer')\n"
    ),
}


def notebook_path(folder: Path, assignment: str) -> Path:
    return folder / assignment / f"{assignment}.ipynb"


def read_notebook(path: Path):
    return nbformat.read(path, as_version=4)


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def is_test_cell(cell) -> bool:
    meta = nbgrader_meta(cell)
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_serving(url, server: subprocess.Popen, log: Path, what: str,
                       timeout: float = 120) -> None:
    """Return once ``url`` (a URL or a ``urllib`` request) answers.

    Fails with the end of the server's ``log`` if the server exits first, and says so if
    it stays silent for ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        assert server.poll() is None, f"{what} exited:\n{log.read_text()[-3000:]}"
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            assert time.monotonic() < deadline, f"{what} did not answer within {timeout:.0f} s"
            time.sleep(0.5)


def ensure_debian_package(package: str, find: Callable[[], Path | None]) -> Path:
    """What ``find()`` locates, after ``apt-get install package`` when it is missing.

    Installing needs root. Without root, a missing package skips the test (saying why),
    except in CI, where ``.ci/run`` installs it and its absence is a failure.
    """
    found = find()
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=False, timeout=300)
        subprocess.run(["apt-get", "install", "-y", "-qq", package], env=env, check=False,
                       timeout=900)
        found = find()
        assert found is not None, f"apt-get could not install {package} (see its output)"
    if found is None:
        assert not os.environ.get("CI"), f"{package} is missing in CI: .ci/run installs it"
        pytest.skip(f"the Debian package {package} is not installed and we are not root, so "
                    f"it cannot be installed: apt-get install {package}")
    return found


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="session", autouse=True)
def _venv_on_path():
    ensure_venv_on_path()


@pytest.fixture(scope="session")
def graded_class(tmp_path_factory):
    """The sample class plus hostile students, graded once through the CLI."""
    from autograder.__main__ import main
    from autograder.sample_class import build_sample_class, fill_release

    root = tmp_path_factory.mktemp("graded")
    submissions = build_sample_class(root / "submissions")
    for assignment in ASSIGNMENTS:
        release_nb = read_notebook(notebook_path(NOTEBOOKS, assignment))
        source_nb = read_notebook(notebook_path(SOLUTIONS, assignment))
        for student, answer in HOSTILE_ANSWERS.items():
            if "kl_divergence" not in answer or assignment != "01_definition":
                continue
            filled = fill_release(release_nb, source_nb, {"kl_divergence": answer})
            target = notebook_path(submissions / student, assignment)
            target.parent.mkdir(parents=True)
            nbformat.write(filled, target)
    out = root / "out"
    assert main(["grade", str(submissions), "--out", str(out)]) == 0
    return {"submissions": submissions, "out": out,
            "grades": read_csv(out / "grades.csv"), "tests": read_csv(out / "tests.csv")}


# -- markers (pyproject.toml describes them; `make test-fast` runs `-m unit`) -----------------
# One line per test module: the markers every test of it gets. A test that uses one of
# FIXTURE_MARKERS' fixtures (directly or through another fixture) gets that marker as well,
# and a test with any marker but `unit` is not `unit`. A module missing here fails collection.
MODULE_MARKERS: dict[str, tuple[str, ...]] = {
    "test_applications.py": ("unit",),  # kl_helpers.applications vs scipy, loops, quadrature
    "test_binder.py": ("binder", "notebooks"),  # venv from environment.yml, postBuild, release
    "test_browser.py": ("browser", "notebooks"),  # JupyterLab in Chromium: run all, Validate
    "test_checks.py": ("unit",),  # kl_helpers.checks: delegation found by identity
    "test_dask.py": ("dask",),  # graded_class's submissions graded again on a LocalCluster
    "test_environment.py": ("unit",),  # pins: pyproject, environment.yml, constraints.txt
    "test_feedback.py": ("unit",),  # the feedback exporter on an in-memory notebook, no kernel
    "test_fitting.py": ("unit",),  # kl_helpers.fitting vs quad and seeded Monte Carlo
    "test_grading.py": ("unit",),  # the CLI's error paths; the round trip uses graded_class
    "test_habits.py": ("unit",),  # the pre-commit hooks; nbstripout leaves solutions/ as is
    "test_handback.py": ("unit",),  # formgrader on graded_class's run; one error path
    "test_honest.py": ("grading", "notebooks"),  # honest class graded, and run in kernels
    "test_hostile.py": ("grading",),  # hostile submissions graded in the sandbox
    "test_interactive.py": ("unit",),  # kl_helpers.interactive vs quad; sliders redraw
    "test_job.py": ("unit",),  # autograder.job: what a worker observed becomes a status
    "test_hub.py": ("hub", "browser", "grading", "notebooks"),  # hub/install.sh, round trip
    "test_kl_helpers.py": ("unit",),  # kl_helpers vs scipy, loops, Hypothesis properties
    "test_monte_carlo.py": ("unit",),  # kl_helpers.monte_carlo vs loops and exact values
    "test_own_work_rules.py": ("unit",),  # parses the solution notebooks' cells, runs none
    "test_patches.py": ("unit",),  # autograder.patches: in-process and `python -c` checks
    "test_policy.py": ("grading",),  # policy checks, and its limits seen by a graded kernel
    "test_preprocessors.py": ("unit",),  # one-commit SaveAutoGrades vs nbgrader's, in SQLite
    "test_postgres.py": ("postgres", "grading"),  # a throwaway PostgreSQL gradebook
    "test_regrade.py": ("grading",),  # grades twice, and after a SIGKILLed grader
    "test_release.py": ("notebooks",),  # nbgrader generate_assignment into a fresh release
    "test_report.py": ("unit",),  # the report of graded_class's run; item analysis, errors
    "test_rl.py": ("unit",),  # kl_helpers.rl vs loops, finite differences, Monte Carlo
    "test_runners.py": ("unit",),  # the local pool with fake workers that grade instantly
    "test_selfcheck.py": ("unit",),  # kl_helpers.selfcheck, through an in-process proxy
    "test_selfcheck_applications.py": ("unit",),  # 05 and 06's self-checks, misconceptions
    "test_selfcheck_foundations.py": ("unit",),  # 01-03's self-checks, misconceptions
    "test_solutions.py": ("notebooks",),  # every solution notebook executed with nbclient
    "test_trusted.py": ("unit",),  # the trusted-test data path, no kernel
    "test_validation.py": ("unit",),  # kl_helpers._validation, the shared argument checks
    "test_zygote.py": ("grading",),  # kernels forked from a template, graded as root
}
FIXTURE_MARKERS = {"graded_class": "grading"}


def pytest_collection_modifyitems(config, items):
    """Mark every test from MODULE_MARKERS and FIXTURE_MARKERS; refuse unlisted modules."""
    tests = Path(__file__).resolve().parent
    unlisted = set()
    for item in items:
        path = Path(item.path).resolve()
        if path.parent != tests:
            continue
        if path.name not in MODULE_MARKERS:
            unlisted.add(path.name)
            continue
        fixtures = getattr(item, "fixturenames", ())
        names = set(MODULE_MARKERS[path.name])
        names |= {mark for fixture, mark in FIXTURE_MARKERS.items() if fixture in fixtures}
        if names != {"unit"}:
            names.discard("unit")
        for name in sorted(names):
            item.add_marker(name)
    if unlisted:
        raise pytest.UsageError(
            f"test module(s) {', '.join(sorted(unlisted))} not classified: add one line each "
            f"to MODULE_MARKERS in tests/conftest.py with its markers (unit, notebooks, "
            f"grading, browser, postgres, dask, hub, binder: see pyproject.toml)")
