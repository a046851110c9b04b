"""How long each solution notebook takes to execute top to bottom (target: <= 10 s each,
<= 60 s for the whole course on the course's 2-core reference machine).

    python benchmarks/solution_times.py

Runs the notebooks one after another with nbclient, as a student's "Restart & Run All"
would (kernel start included), and prints one line per notebook and the total.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from traitlets.config import Config

from autograder.config import REPO_ROOT, ensure_venv_on_path, list_assignments

PER_NOTEBOOK_TARGET = 10.0
TOTAL_TARGET = 60.0


def solution_client(nb, path: Path, sockets: str) -> NotebookClient:
    """A client that runs ``nb`` (read from ``path``) in a kernel listening in ``sockets``.

    Unix sockets, as the grader's kernels use (and no warning about plain TCP).
    """
    config = Config()
    config.KernelManager.transport = "ipc"
    config.KernelManager.ip = str(Path(sockets) / "kernel")
    return NotebookClient(nb, timeout=300, kernel_name="python3", config=config,
                          resources={"metadata": {"path": str(path.parent)}})


def execute_seconds(path: Path) -> float:
    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory(prefix="kl-solution-", dir="/tmp") as sockets:
        start = time.perf_counter()
        solution_client(nb, path, sockets).execute()
        return time.perf_counter() - start


def main() -> None:
    ensure_venv_on_path()
    solutions = REPO_ROOT / "solutions"
    total = 0.0
    for assignment in list_assignments(solutions):
        seconds = execute_seconds(solutions / assignment / f"{assignment}.ipynb")
        total += seconds
        verdict = "ok" if seconds <= PER_NOTEBOOK_TARGET else "OVER"
        print(f"{assignment:20s} {seconds:6.1f} s  "
              f"({verdict}, target <= {PER_NOTEBOOK_TARGET:g} s)")
    verdict = "ok" if total <= TOTAL_TARGET else "OVER"
    print(f"{'total':20s} {total:6.1f} s  ({verdict}, target <= {TOTAL_TARGET:g} s)")


if __name__ == "__main__":
    main()
