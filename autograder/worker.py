"""Grade one student's assignment inside a worker process of the grading pool.

The worker runs nbgrader (trusted code) and starts the student's kernel, in the
bubblewrap sandbox unless the instructor chose ``--unsafe``. A watchdog thread
kills the kernel when the whole notebook exceeds its deadline, so a submission
that hangs costs at most that deadline.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import tempfile
import threading
import time
import warnings
from pathlib import Path

import psutil
from sqlalchemy.exc import SAWarning

from . import schema_cache
from .config import CoursePaths
from .release import nbgrader_api
from .sandbox import (
    KERNEL_NAME,
    SANDBOX_UID_BASE,
    KernelJob,
    SandboxLimits,
    matplotlib_font_cache,
    prepare_job,
)

# nbgrader 0.9.6 makes SQLAlchemy warn about session state on every autograde: harmless
# noise that would bury the progress bar
warnings.filterwarnings("ignore", category=SAWarning)
schema_cache.install()

# Set once per pool process by ``init_worker``: which sandbox uid this process owns.
# A Dask worker process never runs init_worker: it takes a slot from its pid instead.
_SLOT: dict[str, int | None] = {"index": None}

# Pool slots are small numbers; pid-derived slots for Dask workers start above them
_PID_SLOT_OFFSET = 1000


def init_worker(slots) -> None:
    """Pool initializer: take a slot number so concurrent kernels get distinct uids.

    Also tie the worker's life to the grader's: a grader killed with SIGKILL cannot
    stop its pool, and an orphaned worker would go on running student code.
    """
    _SLOT["index"] = slots.get()
    _die_with_parent()


def _die_with_parent() -> None:
    parent = os.getppid()
    try:
        # Linux: the kernel sends SIGTERM when the parent dies (PR_SET_PDEATHSIG = 1)
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: the watcher below still notices, within a second

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        _kill_kernels()
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()
    signal.signal(signal.SIGTERM, lambda *_: (_kill_kernels(), os._exit(1)))


def _slot() -> int:
    if _SLOT["index"] is None:
        _SLOT["index"] = _PID_SLOT_OFFSET + os.getpid() % 50_000
    return _SLOT["index"]


def _kill_kernels() -> None:
    """Kill every process this worker started (the kernel, bwrap and their children)."""
    for child in psutil.Process().children(recursive=True):
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass


def _sandbox_config(task: dict, job_dir: Path, ipc_dir: Path) -> dict:
    """Prepare the sandbox folders and return the extra nbgrader/jupyter settings."""
    student_dir = Path(task["submitted"]) / task["student"] / task["assignment"]
    notebook_dir = Path(task["work"]) / "autograded" / task["student"] / task["assignment"]
    job = KernelJob(notebook_dir=notebook_dir, private_dir=job_dir / "cwd",
                    ipc_dir=ipc_dir, runtime_dir=job_dir / "runtime",
                    uid=SANDBOX_UID_BASE + _slot(), font_cache=matplotlib_font_cache())
    limits = SandboxLimits(**task.get("limits", {}))
    prepare_job(job, student_dir, limits, job_dir / "jupyter")
    os.environ["JUPYTER_PATH"] = str(job_dir / "jupyter")
    return {
        "Execute": {"kernel_name": KERNEL_NAME},  # TrustedTestExecute inherits it
        # the kernel has no network: talk over Unix sockets in a folder it can reach
        "KernelManager": {"transport": "ipc", "ip": str(job.ipc_dir / "kernel"),
                          "connection_file": str(job.runtime_dir / "connection.json")},
    }


def grade_submission(task: dict) -> dict:
    """Autograde and generate feedback for ``task["student"]``/``task["assignment"]``.

    Returns a dict with ``autograde_success``, ``autograde_log``, ``autograde_error``,
    ``deadline_hit`` and, after a successful autograde, ``feedback_success``.
    """
    paths = CoursePaths(source=Path(task["source"]), release=Path(task["release"]),
                        work=Path(task["work"]), submitted=Path(task["submitted"]))
    job_dir = Path(task["work"]) / "jobs" / f"{task['student']}--{task['assignment']}"
    shutil.rmtree(job_dir, ignore_errors=True)
    job_dir.mkdir(parents=True)
    # a Unix socket path must stay under ~100 bytes, whatever the --out folder is
    ipc_dir = Path(tempfile.mkdtemp(prefix="kl-ipc-", dir="/tmp"))
    try:
        return _grade(task, paths, job_dir, ipc_dir)
    finally:
        shutil.rmtree(ipc_dir, ignore_errors=True)
        shutil.rmtree(job_dir, ignore_errors=True)


def _grade(task: dict, paths: CoursePaths, job_dir: Path, ipc_dir: Path) -> dict:
    extra = _sandbox_config(task, job_dir, ipc_dir) if task["sandbox"] else {}
    api = nbgrader_api(paths, db_url=task["db_url"], cell_timeout=task["cell_timeout"],
                       extra=extra)

    deadline_hit = threading.Event()

    def on_deadline() -> None:
        deadline_hit.set()
        _kill_kernels()

    watchdog = threading.Timer(task["notebook_timeout"], on_deadline)
    watchdog.daemon = True
    watchdog.start()
    try:
        autograded = api.autograde(task["assignment"], task["student"], force=True, create=True)
    finally:
        watchdog.cancel()
        _kill_kernels()  # a kernel that outlived nbgrader must not keep running
    result = {
        "autograde_success": bool(autograded["success"]) and not deadline_hit.is_set(),
        "autograde_error": autograded.get("error") or "",
        "autograde_log": autograded.get("log") or "",
        "deadline_hit": deadline_hit.is_set(),
    }
    if result["autograde_success"]:
        if task.get("feedback_in_background"):
            # rendered while this process waits on the next student's kernel; the pool's
            # processes exit only after such threads end (they are not daemons)
            threading.Thread(target=api.generate_feedback, name="feedback",
                             args=(task["assignment"], task["student"]),
                             kwargs={"force": True}).start()
        else:
            feedback = api.generate_feedback(task["assignment"], task["student"], force=True)
            result["feedback_success"] = bool(feedback["success"])
    return result


def safe_grade_submission(task: dict) -> dict:
    """``grade_submission`` that reports any exception instead of raising it."""
    try:
        return grade_submission(task)
    except Exception as exc:  # one broken submission must never stop the pool
        _kill_kernels()
        return {"autograde_success": False, "deadline_hit": False, "autograde_log": "",
                "autograde_error": f"{type(exc).__name__}: {exc}"}
