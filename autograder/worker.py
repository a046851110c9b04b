"""Grade one student's assignment inside a worker process of the grading pool.

The worker runs nbgrader (trusted code) and starts the student's kernel, in the
bubblewrap sandbox unless the instructor chose ``--unsafe``. A watchdog thread
kills the kernel when the whole notebook exceeds its deadline, so a submission
that hangs costs at most that deadline.
"""

from __future__ import annotations

import atexit
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
from . import zygote as zygotes
from .config import CoursePaths
from .release import nbgrader_api
from .sandbox import (
    KERNEL_NAME,
    SANDBOX_UID_BASE,
    KernelJob,
    SandboxLimits,
    copy_student_files,
    give_to,
    matplotlib_font_cache,
    nproc_limit,
    prepare_job,
    write_kernelspec,
    zygote_argv,
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


def warm_up() -> None:
    """Import now what grading a first notebook would import later (see ``start_pool``).

    The pool runs this first in each new process, while the grader generates the
    assignments, so those imports use a core that would otherwise wait.
    """
    import nbclient  # noqa: F401 -- runs the kernel
    from nbconvert.exporters import HTMLExporter  # noqa: F401 -- feedback pages

    from . import feedback, trusted  # noqa: F401 -- trusted imports numpy and kl_helpers
    matplotlib_font_cache()


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


def _kill_kernels(*, spare_zygote: bool = False) -> None:
    """Kill every process this worker started: kernels, bwrap and their children.

    With ``spare_zygote``, this worker's kernel template and its sandbox live on.
    """
    zygote = _ZYGOTE.get("zygote")
    spared = zygote.own_pids() if (spare_zygote and zygote is not None) else set()
    victims = [child for child in psutil.Process().children(recursive=True)
               if child.pid not in spared]
    for victim in victims:
        try:
            victim.kill()
        except psutil.NoSuchProcess:
            pass
    # dead before the next student's files go where these processes could write
    psutil.wait_procs(victims, timeout=5)


# This worker's kernel template (autograder.zygote) and its slot folder, made on first use
_ZYGOTE: dict = {}


def use_zygote() -> bool:
    """Fork kernels from a template: when grading as root (see ``autograder.zygote``).

    ``KL_GRADER_ZYGOTE=0`` turns it off: every kernel then starts in a sandbox of its own.
    """
    return os.geteuid() == 0 and os.environ.get("KL_GRADER_ZYGOTE", "1") != "0" \
        and Path("/var/tmp").is_dir()


def _zygote():
    """This worker's zygote, started (or restarted, if it died) when needed."""
    zygote = _ZYGOTE.get("zygote")
    if zygote is not None and zygote.alive():
        return zygote
    if zygote is not None:
        zygote.close()
    if "slot_dir" not in _ZYGOTE:
        _remove_stale_slots()
        # not under /tmp: each kernel mounts a /tmp of its own over it; short, for sockets
        _ZYGOTE["slot_dir"] = Path(tempfile.mkdtemp(prefix=f"{_SLOT_PREFIX}{os.getpid()}-",
                                                    dir="/var/tmp"))
        _ZYGOTE["slot_dir"].chmod(0o711)  # the kernel's uid must pass through to its folders
        atexit.register(_close_zygote)
    _ZYGOTE["zygote"] = zygotes.Zygote(zygote_argv(_ZYGOTE["slot_dir"],
                                                   matplotlib_font_cache()))
    return _ZYGOTE["zygote"]


_SLOT_PREFIX = "kl-slot-"


def _remove_stale_slots() -> None:
    """Remove slot folders of grading workers that died without cleaning up (SIGKILL)."""
    for folder in Path("/var/tmp").glob(f"{_SLOT_PREFIX}*-*"):
        owner = folder.name[len(_SLOT_PREFIX):].split("-")[0]
        if owner.isdigit() and not psutil.pid_exists(int(owner)):
            shutil.rmtree(folder, ignore_errors=True)


def _close_zygote() -> None:
    zygote = _ZYGOTE.pop("zygote", None)
    if zygote is not None:
        zygote.close()
    shutil.rmtree(_ZYGOTE.pop("slot_dir", ""), ignore_errors=True)


def _empty(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)


def _sandbox_config(task: dict, job_dir: Path, ipc_dir: Path) -> dict:
    """Prepare the sandbox folders and return the extra nbgrader/jupyter settings."""
    student_dir = Path(task["submitted"]) / task["student"] / task["assignment"]
    limits = SandboxLimits(**task.get("limits", {}))
    uid = SANDBOX_UID_BASE + _slot()
    if use_zygote():
        return _zygote_config(student_dir, job_dir, limits, uid)
    notebook_dir = Path(task["work"]) / "autograded" / task["student"] / task["assignment"]
    job = KernelJob(notebook_dir=notebook_dir, private_dir=job_dir / "cwd",
                    ipc_dir=ipc_dir, runtime_dir=job_dir / "runtime",
                    uid=uid, font_cache=matplotlib_font_cache())
    prepare_job(job, student_dir, limits, job_dir / "jupyter")
    return _kernel_settings(job_dir / "jupyter", job.ipc_dir, job.runtime_dir)


def _kernel_settings(jupyter_dir: Path, ipc_dir: Path, runtime_dir: Path) -> dict:
    """nbgrader/jupyter settings for the sandbox kernelspec written into ``jupyter_dir``."""
    os.environ["JUPYTER_PATH"] = str(jupyter_dir)  # where jupyter_client finds the spec
    return {
        "Execute": {"kernel_name": KERNEL_NAME},  # TrustedTestExecute inherits it
        # the kernel has no network: talk over Unix sockets in a folder it can reach
        "KernelManager": {"transport": "ipc", "ip": str(ipc_dir / "kernel"),
                          "connection_file": str(runtime_dir / "connection.json")},
    }


def _zygote_config(student_dir: Path, job_dir: Path, limits: SandboxLimits, uid: int) -> dict:
    """Settings for a kernel forked by this worker's zygote, in its slot folder."""
    zygote = _zygote()
    slot = _ZYGOTE["slot_dir"]
    cwd, ipc = slot / "cwd", slot / "ipc"
    # the previous student's processes are dead (killed after each notebook): now
    # nothing of theirs is left in the folders this student's kernel can write
    _empty(cwd)
    _empty(ipc)
    copy_student_files(student_dir, cwd, uid)
    give_to(ipc, uid)
    font_cache = matplotlib_font_cache()
    zygotes.CURRENT.update(zygote=zygote, request=zygotes.KernelRequest(
        uid=uid, cwd=str(cwd), memory_bytes=limits.memory_bytes,
        max_file_bytes=limits.max_file_bytes, nproc_limit=nproc_limit(limits),
        font_cache=str(font_cache or "")))
    runtime = job_dir / "runtime"
    runtime.mkdir(parents=True, exist_ok=True)
    write_kernelspec(job_dir / "jupyter", {
        # never run: the provisioner forks the kernel from the zygote instead
        "argv": ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "metadata": {"kernel_provisioner": {"provisioner_name": zygotes.PROVISIONER_NAME}},
    })
    return _kernel_settings(job_dir / "jupyter", ipc, runtime)


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
        _kill_kernels(spare_zygote=True)

    watchdog = threading.Timer(task["notebook_timeout"], on_deadline)
    watchdog.daemon = True
    watchdog.start()
    try:
        autograded = api.autograde(task["assignment"], task["student"], force=True, create=True)
    finally:
        watchdog.cancel()
        # a kernel that outlived nbgrader must not keep running; the template may
        _kill_kernels(spare_zygote=True)
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
