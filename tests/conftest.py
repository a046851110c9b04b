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
