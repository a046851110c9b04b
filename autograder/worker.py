"""Grade one job: nbgrader's autograde and feedback, the student's kernel in the sandbox.

A :class:`GradingWorker` lives in one worker process (of the local pool or of a Dask
worker) and grades one job after another. It owns the process's sandbox uid slot and,
when grading as root, its kernel template (``autograder.zygote``). A watchdog thread
kills the kernel when the whole notebook exceeds its deadline, so a submission that
hangs costs at most that deadline.

:meth:`GradingWorker.grade` returns the submission's one ``AssignmentResult``: the
status is decided here (``job.decide``) from what this worker observed, and the
feedback pages are written before it returns.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import psutil

from .gradebook import submission_scores
from .job import Execution, GradingJob, Observations, decide
from .policy import SANDBOX_UID_BASE, SandboxPolicy
from .release import nbgrader_api
from .results import AssignmentResult
from .sandbox import (
    KERNEL_NAME,
    KernelJob,
    copy_student_files,
    give_to,
    matplotlib_font_cache,
    nproc_limit,
    prepare_job,
    write_kernelspec,
    zygote_argv,
)
from .zygote import KernelRequest, Zygote

_SLOT_PREFIX = "kl-slot-"


class GradingWorker:
    """Grades jobs one at a time; ``slot`` gives its kernels a uid of their own."""

    def __init__(self, slot: int, *, sandbox: SandboxPolicy | None = None) -> None:
        """``sandbox``: the policy of the jobs to come, if known (see :meth:`warm_up`)."""
        self.slot = slot
        self.sandbox = sandbox
        self._zygote: Zygote | None = None
        self._slot_dir: Path | None = None

    @property
    def uid(self) -> int:
        return SANDBOX_UID_BASE + self.slot

    def warm_up(self) -> None:
        """Import now what grading a first notebook would import later, start the template.

        Run first in each local pool process, before its first job: the imports are done
        already there (its fork server ran ``import_grading_code``), so this mostly starts
        the kernel template.
        """
        import_grading_code()
        matplotlib_font_cache()
        if self.sandbox is not None and self._uses_template(self.sandbox):
            try:
                self._running_zygote()
            except Exception:  # noqa: S110 -- the first job starts it again and says why
                pass

    def grade(self, job: GradingJob) -> AssignmentResult:
        """Autograde ``job``, decide its status, write its feedback; never raises."""
        start = time.perf_counter()
        job_dir = job.paths.work / "jobs" / f"{job.student}--{job.assignment}"
        shutil.rmtree(job_dir, ignore_errors=True)
        job_dir.mkdir(parents=True)
        # a Unix socket path must stay under ~100 bytes, whatever the --out folder is
        ipc_dir = Path(tempfile.mkdtemp(prefix="kl-ipc-", dir="/tmp"))
        try:
            result = self._grade(job, job_dir, ipc_dir)
        except Exception as exc:  # the grader's own failure: say so, and go on
            self.kill_kernels()
            result = AssignmentResult.not_graded(
                job.student, job.assignment, "error",
                f"the grader failed on this submission ({type(exc).__name__}: {exc}); "
                "grade it again", job.max_score)
        finally:
            shutil.rmtree(ipc_dir, ignore_errors=True)
            shutil.rmtree(job_dir, ignore_errors=True)
        return replace(result, seconds=time.perf_counter() - start)

    def _grade(self, job: GradingJob, job_dir: Path, ipc_dir: Path) -> AssignmentResult:
        record_dir = job_dir / "record"
        record_dir.mkdir()
        # the watchdog below kills the kernel then: explaining failed tests stops before
        explain_until = time.time() + job.notebook_timeout
        settings = {
            "TrustedTestExecute": {"record_dir": str(record_dir),
                                   "explain_until": explain_until},
            # the worker kills every process of the kernel afterwards: waiting for a
            # graceful exit (atexit hooks of student code) only cost 0.1 s per notebook
            "Execute": {"shutdown_kernel": "immediate"},
            "KernelManager": {"client_class": "autograder.trusted.PromptKernelClient"},
            # validate each converted notebook once, after the last preprocessor, not after
            # each of the ~18 (an invalid result is refused all the same): 20 ms a notebook
            "Exporter": {"optimistic_validation": True},
        }
        if job.sandbox.enabled:
            for section, values in self._sandbox_settings(job, job_dir, ipc_dir).items():
                settings.setdefault(section, {}).update(values)
        api = nbgrader_api(job.paths, db_url=job.db_url, cell_timeout=job.cell_timeout,
                           extra=settings)

        deadline_hit = threading.Event()

        def on_deadline() -> None:
            deadline_hit.set()
            self.kill_kernels(spare_template=True)

        watchdog = threading.Timer(job.notebook_timeout, on_deadline)
        watchdog.daemon = True
        watchdog.start()
        try:
            autograded = api.autograde(job.assignment, job.student, force=True, create=True)
        finally:
            watchdog.cancel()
            # a kernel that outlived nbgrader must not keep running; the template may
            self.kill_kernels(spare_template=True)
        observed = Observations(
            autograded=bool(autograded["success"]) and not deadline_hit.is_set(),
            deadline_hit=deadline_hit.is_set(),
            executions=tuple(Execution.load(path)
                             for path in sorted(record_dir.glob("*.json"))),
            nbgrader_log=f"{autograded.get('log') or ''}\n{autograded.get('error') or ''}")
        _write_log(job, observed.nbgrader_log)
        if not observed.autograded or observed.ended_by:
            status, message = decide(observed, job)
            return AssignmentResult.not_graded(job.student, job.assignment, status, message,
                                               job.max_score)
        score, max_score, tests = submission_scores(job.db_url, job.student, job.assignment)
        feedback = bool(api.generate_feedback(job.assignment, job.student,
                                              force=True)["success"])
        pending = sum(t.max_score for t in tests if t.score is None)
        status, message = decide(observed, job, pending_points=pending, feedback=feedback)
        return AssignmentResult(job.student, job.assignment, status, score, max_score,
                                message, tests, feedback)

    # -- the sandbox ---------------------------------------------------------------------
    def _sandbox_settings(self, job: GradingJob, job_dir: Path, ipc_dir: Path) -> dict:
        """Prepare the kernel's folders and kernelspec; return the nbgrader settings."""
        kernel_dir = job_dir / "kernels"
        runtime_dir = job_dir / "runtime"
        if self._uses_template(job.sandbox):
            ipc_dir = self._template_kernelspec(job, kernel_dir)
            runtime_dir.mkdir(parents=True, exist_ok=True)
        else:
            kernel_job = KernelJob(notebook_dir=job.autograded_dir, private_dir=job_dir / "cwd",
                                   ipc_dir=ipc_dir, runtime_dir=runtime_dir, uid=self.uid,
                                   font_cache=matplotlib_font_cache())
            prepare_job(kernel_job, job.submitted_dir, job.sandbox.limits, kernel_dir)
        return {
            "Execute": {"kernel_name": KERNEL_NAME},  # TrustedTestExecute inherits it
            "TrustedTestExecute": {"kernel_dirs": [str(kernel_dir)]},
            # the kernel has no network: talk over Unix sockets in a folder it can reach
            "KernelManager": {"transport": "ipc", "ip": str(ipc_dir / "kernel"),
                              "connection_file": str(runtime_dir / "connection.json")},
        }

    @staticmethod
    def _uses_template(sandbox: SandboxPolicy) -> bool:
        """Fork kernels from a template: only when grading as root (see ``autograder.zygote``)."""
        return (sandbox.enabled and sandbox.kernel_template and os.geteuid() == 0
                and Path("/var/tmp").is_dir())

    def _template_kernelspec(self, job: GradingJob, kernel_dir: Path) -> Path:
        """A kernelspec that forks this student's kernel from the template; its ipc folder."""
        zygote = self._running_zygote()
        cwd, ipc = self._slot_dir / "cwd", self._slot_dir / "ipc"
        # the previous student's processes are dead (killed after each notebook): now
        # nothing of theirs is left in the folders this student's kernel can write
        _empty(cwd)
        _empty(ipc)
        copy_student_files(job.submitted_dir, cwd, self.uid)
        give_to(ipc, self.uid)
        limits = job.sandbox.limits
        request = KernelRequest(
            uid=self.uid, cwd=str(cwd), memory_bytes=limits.memory_bytes,
            max_file_bytes=limits.max_file_bytes, nproc_limit=nproc_limit(limits),
            font_cache=str(matplotlib_font_cache() or ""))
        write_kernelspec(kernel_dir, {
            # never run: the provisioner forks the kernel from the template instead
            "argv": ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "metadata": {"kernel_provisioner": zygote.provisioner_config(request)},
        })
        return ipc

    def _running_zygote(self) -> Zygote:
        """This worker's template, started (or restarted, if it died) when needed."""
        if self._zygote is not None and self._zygote.alive():
            return self._zygote
        if self._zygote is not None:
            self._zygote.close()
        if self._slot_dir is None:
            _remove_stale_slots()
            # not under /tmp: each kernel mounts a /tmp of its own over it; short, for sockets
            self._slot_dir = Path(tempfile.mkdtemp(prefix=f"{_SLOT_PREFIX}{os.getpid()}-",
                                                   dir="/var/tmp"))
            self._slot_dir.chmod(0o711)  # the kernel's uid must pass through to its folders
            atexit.register(self.close)
        socket_path = self._slot_dir / "zygote.sock"
        socket_path.unlink(missing_ok=True)
        self._zygote = Zygote(zygote_argv(self._slot_dir, socket_path, matplotlib_font_cache()),
                              socket_path)
        for failure in self._zygote.warm_up_failures:  # kernels start slower, grades are intact
            print(f"kernel template: warm-up failed: {failure}", file=sys.stderr)
        return self._zygote

    def kill_kernels(self, *, spare_template: bool = False) -> None:
        """Kill every process this worker started: kernels, bwrap and their children.

        With ``spare_template``, this worker's kernel template and its sandbox live on.
        """
        spared = self._zygote.own_pids() if (spare_template and self._zygote) else set()
        victims = [child for child in psutil.Process().children(recursive=True)
                   if child.pid not in spared]
        for victim in victims:
            try:
                victim.kill()
            except psutil.NoSuchProcess:
                pass
        # dead before the next student's files go where these processes could write
        psutil.wait_procs(victims, timeout=5)

    def close(self) -> None:
        """Stop the template and remove the slot folder (idempotent)."""
        if self._zygote is not None:
            self._zygote.close()
            self._zygote = None
        if self._slot_dir is not None:
            shutil.rmtree(self._slot_dir, ignore_errors=True)
            self._slot_dir = None


def import_grading_code() -> None:
    """Import what grading a first notebook would otherwise import in the middle of it.

    Called by the local pool's fork server before it forks the workers
    (``autograder.worker_preload``), and by each worker's ``warm_up`` (then at no cost).
    """
    import nbclient  # noqa: F401 -- runs the kernel
    from nbconvert.exporters import HTMLExporter  # noqa: F401 -- feedback pages

    from . import feedback, trusted  # noqa: F401 -- trusted imports numpy and kl_helpers


def _write_log(job: GradingJob, log: str) -> None:
    """nbgrader's own log of this submission, for the instructor who wants the details."""
    logs = job.paths.work / "logs"
    logs.mkdir(exist_ok=True)
    (logs / f"{job.student}--{job.assignment}.log").write_text(log)


def _remove_stale_slots() -> None:
    """Remove slot folders of grading workers that died without cleaning up (SIGKILL)."""
    for folder in Path("/var/tmp").glob(f"{_SLOT_PREFIX}*-*"):
        owner = folder.name[len(_SLOT_PREFIX):].split("-")[0]
        if owner.isdigit() and not psutil.pid_exists(int(owner)):
            shutil.rmtree(folder, ignore_errors=True)


def _empty(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
