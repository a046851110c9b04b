"""Run each student kernel inside a bubblewrap (``bwrap``) sandbox.

nbgrader itself runs in the trusted grading process; only the Jupyter kernel,
which executes the student's code, is sandboxed. The kernel sees:

* read-only: the system folders, the Python installation, the virtualenv and the
  course's own packages (``autograder.policy``: ``SYSTEM_FOLDERS``, ``MOUNTED_PACKAGES``);
* read-write: a private ``/tmp`` (tmpfs) and a private working folder mounted where
  nbgrader expects the notebook's folder, holding copies of the student's own
  non-notebook files;
* nothing else: not ``solutions/``, not the gradebook, not the autograded notebook
  (it carries the hidden tests), not other students' files, and no network (it
  talks to nbgrader over Unix sockets in a folder of its own).

Limits: address space, number of processes and file size (rlimits, set by
``autograder.inside.kernel`` before it drops root; ``autograder.policy.SandboxLimits``),
a per-cell timeout (nbgrader) and a whole-notebook deadline (the grading worker).

When grading as root, kernels are instead forked from a preloaded template that
lives in one such sandbox per worker (:func:`zygote_argv`, ``autograder.zygote``).
The kernelspec either starts the sandbox (:func:`kernel_argv`) or names the template's
provisioner; nbgrader finds it through ``TrustedTestExecute.kernel_dirs``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from .policy import MOUNTED_PACKAGES, PRELOAD, SYSTEM_FOLDERS, SandboxLimits

KERNEL_NAME = "kl-sandbox"


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create a sandbox on this machine."""


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


# Run in a trial sandbox: Python starts and finds the course package. Finding is enough:
# importing it would import scipy too, a second of CPU at the start of every grading run.
_CAN_FIND_COURSE_PACKAGE = (
    "import importlib.util, sys\n"
    "sys.exit(0 if importlib.util.find_spec('kl_helpers') else 'kl_helpers is not visible')")


def sandbox_problem() -> str | None:
    """Why sandboxed grading cannot run here, or None when it can."""
    bwrap = bwrap_path()
    if bwrap is None:
        return "bubblewrap (bwrap) is not installed; on Debian/Ubuntu: apt-get install bubblewrap"
    argv = [bwrap, *_namespace_args(), *_mount_args(readonly_paths()), "--proc", "/proc",
            "--dev", "/dev",
            "--", sys.executable, "-c", _CAN_FIND_COURSE_PACKAGE]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap failed to start: {exc}"
    if done.returncode != 0:
        return f"bubblewrap cannot create a sandbox here: {done.stderr.strip()[:300]}"
    return None


def _namespace_args() -> list[str]:
    args = ["--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
            "--unshare-cgroup-try", "--die-with-parent", "--new-session"]
    if os.geteuid() != 0:
        # without root, only a user namespace lets bwrap create the others
        args.insert(0, "--unshare-user")
    else:
        # bwrap drops every capability of root; the launcher needs these three to hand
        # itself a connection file and switch to the sandbox uid (which clears them all)
        args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_CHOWN"]
    return args


def _package_dir(name: str) -> Path:
    """Folder of package ``name``, found without importing it (kl_helpers imports scipy)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SandboxUnavailable(f"the package {name!r} cannot be found by this Python")
    return Path(list(spec.submodule_search_locations)[0]).resolve()


def matplotlib_font_cache() -> Path | None:
    """The folder holding matplotlib's font list, built here if missing (trusted side)."""
    try:
        import matplotlib
        import matplotlib.font_manager  # noqa: F401 -- builds the font list when missing
    except ImportError:
        return None
    cache = Path(matplotlib.get_cachedir())
    return cache if any(cache.glob("fontlist*.json")) else None


def readonly_paths() -> list[Path]:
    """Folders the kernel may read: system, Python, virtualenv, course packages."""
    candidates = [Path(p) for p in SYSTEM_FOLDERS]
    candidates += [Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(),
                   Path(sys.executable).resolve().parent,
                   *(_package_dir(name) for name in MOUNTED_PACKAGES)]
    seen, paths = set(), []
    for path in candidates:
        if path.exists() and not path.is_symlink() and path not in seen:
            seen.add(path)
            paths.append(path)
        elif path.is_symlink():
            # /lib -> usr/lib on merged-/usr systems: recreate the link inside
            seen.add(path)
    return paths


def _mount_args(readonly: list[Path], writable: list[tuple[Path, Path]] = ()) -> list[str]:
    """bwrap options that mount ``readonly`` paths and ``(source, target)`` writable pairs.

    bwrap creates the missing parents of a mount point with mode 0700, which the
    unprivileged sandbox uid could not traverse: create them first with mode 0755.
    """
    targets = [*readonly, *(target for _, target in writable)]
    parents = set()
    for target in targets:
        for parent in target.parents:
            inside_mount = any(parent == t or t in parent.parents for t in targets)
            if parent != Path("/") and not inside_mount:
                parents.add(parent)
    args = []
    for parent in sorted(parents, key=lambda p: len(p.parts)):
        args += ["--perms", "0755", "--dir", str(parent)]
    for path in readonly:
        args += ["--ro-bind", str(path), str(path)]
    for link in ("/lib", "/lib32", "/lib64", "/bin", "/sbin"):
        if Path(link).is_symlink():
            args += ["--symlink", os.readlink(link), link]
    for source, target in writable:
        args += ["--bind", str(source), str(target)]
    return args


@dataclass(frozen=True)
class KernelJob:
    """Folders of one sandboxed kernel run (all absolute)."""

    notebook_dir: Path  # where nbgrader thinks the notebook runs (its cwd)
    private_dir: Path  # mounted at notebook_dir inside the sandbox
    ipc_dir: Path  # Unix sockets between nbgrader and the kernel
    runtime_dir: Path  # Jupyter runtime dir holding the connection file
    uid: int  # uid the kernel runs as when grading as root
    # matplotlib's font cache of the grader, copied into the sandbox's fresh /tmp: without
    # it every kernel would rebuild the cache, which costs more than a second
    font_cache: Path | None = None


def _required_bwrap() -> str:
    bwrap = bwrap_path()
    if bwrap is None:
        raise SandboxUnavailable("bubblewrap (bwrap) is not installed")
    return bwrap


def _environment_args() -> list[str]:
    """bwrap options giving the sandboxed process a clean, minimal environment."""
    venv_bin = str(Path(sys.executable).parent)
    return ["--clearenv",
            "--setenv", "PATH", f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",
            "--setenv", "HOME", "/tmp",
            "--setenv", "MPLCONFIGDIR", "/tmp/matplotlib",
            "--setenv", "LANG", "C.UTF-8",
            "--setenv", "PYTHONDONTWRITEBYTECODE", "1"]


def kernel_argv(job: KernelJob, limits: SandboxLimits) -> list[str]:
    """The kernel command line, to be written into a kernelspec's ``argv``."""
    bwrap = _required_bwrap()
    extra_readonly = [job.font_cache] if job.font_cache else []
    mounts = _mount_args([*readonly_paths(), job.runtime_dir, *extra_readonly],
                         [(job.private_dir, job.notebook_dir), (job.ipc_dir, job.ipc_dir)])
    # the private /tmp comes first so that job folders under /tmp are mounted on top of it
    args = [bwrap, *_namespace_args(), "--perms", "1777", "--tmpfs", "/tmp", *mounts,
            "--proc", "/proc", "--dev", "/dev",
            "--chdir", str(job.notebook_dir),
            *_environment_args(),
            "--", sys.executable, "-m", "autograder.inside.kernel",
            json.dumps({"uid": job.uid, "nproc_limit": nproc_limit(limits),
                        "font_cache": str(job.font_cache or ""), **asdict(limits)}),
            "{connection_file}"]
    return args


def count_processes_of(uid: int) -> int:
    """Processes on this machine whose real uid is ``uid``."""
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    count += 1
            except OSError:
                continue
    return count


def nproc_limit(limits: SandboxLimits) -> int:
    """RLIMIT_NPROC for a kernel: per sandbox uid as root, else on top of the user's own."""
    if os.geteuid() == 0:
        return limits.max_processes
    # a non-root grader shares its uid with the sandbox: leave room for its processes
    return count_processes_of(os.getuid()) + limits.max_processes


def zygote_argv(slot_dir: Path, socket_path: Path, font_cache: Path | None) -> list[str]:
    """Command line of a grading worker's kernel template (``autograder.inside.zygote``).

    The same sandbox as :func:`kernel_argv`, for one long-lived process that forks
    the kernels: the slot folder (working folder and sockets of the current kernel,
    and the template's own ``socket_path``) is its only writable mount besides
    ``/tmp``. It keeps CAP_SYS_ADMIN so that each forked kernel can take mount and IPC
    namespaces and a ``/dev/shm`` of its own before dropping root.
    """
    bwrap = _required_bwrap()
    extra_readonly = [font_cache] if font_cache else []
    mounts = _mount_args([*readonly_paths(), *extra_readonly], [(slot_dir, slot_dir)])
    return [bwrap, *_namespace_args(), "--cap-add", "CAP_SYS_ADMIN",
            "--perms", "1777", "--tmpfs", "/tmp", *mounts,
            "--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--dir", "/dev/shm",
            "--chdir", str(slot_dir),
            *_environment_args(),
            "--", sys.executable, "-m", "autograder.inside.zygote", json.dumps(PRELOAD),
            str(socket_path)]


def copy_student_files(submitted_dir: Path, private_dir: Path, uid: int) -> None:
    """Copy the student's own data files (never a notebook) into ``private_dir``.

    The autograded notebook holds the hidden tests, so no notebook is copied. As
    root, the copies (and ``private_dir``) are given to the sandbox ``uid``.
    """
    private_dir.mkdir(parents=True, exist_ok=True)
    if submitted_dir.is_dir():
        for item in submitted_dir.iterdir():
            if item.suffix == ".ipynb" or item.name.startswith("."):
                continue
            target = private_dir / item.name
            if item.is_dir():
                shutil.copytree(item, target, symlinks=False, dirs_exist_ok=True)
            elif item.is_file():
                shutil.copy2(item, target)
    if os.geteuid() == 0:
        give_to(private_dir, uid)


def give_to(folder: Path, uid: int) -> None:
    """chown ``folder`` and everything in it to ``uid`` (as root)."""
    for root, dirs, files in os.walk(folder):
        for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
            os.chown(name, uid, uid)


def write_kernelspec(kernel_dir: Path, spec: dict) -> None:
    """Write ``spec`` as the kernelspec ``KERNEL_NAME`` in the folder of kernels ``kernel_dir``."""
    spec_dir = kernel_dir / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "display_name": "Python 3 (sandboxed grading)",
        "language": "python",
        # signals cannot cross bwrap's pid namespace; ask the kernel over its control channel
        "interrupt_mode": "message",
        **spec,
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))


def prepare_job(job: KernelJob, submitted_dir: Path, limits: SandboxLimits,
                kernel_dir: Path) -> None:
    """Create the job's folders and a kernelspec named ``KERNEL_NAME`` in ``kernel_dir``."""
    for folder in (job.ipc_dir, job.runtime_dir):
        folder.mkdir(parents=True, exist_ok=True)
    copy_student_files(submitted_dir, job.private_dir, job.uid)
    if os.geteuid() == 0:
        give_to(job.ipc_dir, job.uid)
    write_kernelspec(kernel_dir, {"argv": kernel_argv(job, limits)})
