"""Student kernels forked from a preloaded template process inside the sandbox.

Starting a kernel costs about 2.5 s of CPU before a student's first line does any
work: a new Python, ipykernel, and the imports of numpy, scipy and matplotlib that
every course notebook begins with. On a machine that grades as fast as its cores
allow, that was a third of the CPU time per notebook.

A *zygote* is one long-lived process per grading worker, started in a bubblewrap
sandbox (no network, read-only system, see ``autograder.sandbox``). It imports those
modules once, never runs student code, and on request forks a child that becomes the
student's kernel. Each child, before any student code runs:

* takes a private mount and IPC namespace: an emptied ``/tmp`` (the course's own
  folders mounted under it excepted), a fresh ``/dev/shm`` of its own and no SysV IPC
  objects: nothing a previous student wrote is left;
* works in the slot's working folder, which the grading worker empties and fills
  with this student's files only;
* sets the same rlimits as a freshly started sandboxed kernel (memory, processes,
  file size, no core dumps), draws a fresh seed for numpy's global random state
  (Python's ``random`` reseeds itself after a fork), and drops root for the slot's
  sandbox uid, which also drops every capability;
* then runs ``ipykernel`` exactly as ``python -m ipykernel_launcher -f FILE`` does.

The zygote runs as root inside the sandbox: a student's kernel (another uid) cannot
signal, trace or change it, and the worker kills every process of that uid after
each notebook. The zygote is used only when grading as root; otherwise each kernel
gets its own sandbox (``autograder.sandbox_kernel``), as before.

The host side is :class:`Zygote` (start, fork a kernel, kill a student's processes)
and :class:`ZygoteProvisioner`, the jupyter_client kernel provisioner that asks the
worker's zygote for a kernel instead of starting a process.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .sandbox_kernel import become, copy_font_cache, set_limits

#: Modules the zygote imports before any fork: the kernel machinery and the libraries
#: the course notebooks import in their first cell (never pyplot: its backend must be
#: chosen inside the kernel, after ipykernel has set up inline figures).
PRELOAD = (
    "ipykernel.kernelapp", "ipykernel.ipkernel", "IPython", "zmq", "numpy", "scipy",
    "scipy.special", "scipy.stats", "scipy.integrate", "scipy.optimize", "matplotlib",
    "matplotlib.figure", "matplotlib.colors", "kl_helpers",
)

#: The provisioner name that kernelspecs use (registered as an entry point in pyproject)
PROVISIONER_NAME = "kl-zygote"

_CLONE_NEWNS = 0x00020000
_CLONE_NEWIPC = 0x08000000
_MS_NOSUID, _MS_NODEV, _MS_REC, _MS_PRIVATE = 0x2, 0x4, 0x4000, 0x40000
_INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


class ZygoteError(RuntimeError):
    """The zygote could not be started or could not fork a kernel."""


# -- inside the sandbox ----------------------------------------------------------------
def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _fresh_tmpfs(libc, target: str) -> None:
    if os.path.isdir(target):
        _check(libc.mount(b"tmpfs", target.encode(), b"tmpfs", _MS_NOSUID | _MS_NODEV,
                          b"mode=1777"), f"mount tmpfs on {target}")


def _mount_points() -> set[str]:
    """Mount points of this process (``/proc/self/mountinfo``, octal escapes decoded)."""
    points = set()
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            raw = line.split()[4]  # space, tab, newline and backslash come as \ooo
            points.add(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), raw))
    return points


def _clear_tmp() -> None:
    """Empty ``/tmp`` in the forked child, sparing the mounts under it.

    Runs as root, after every process of the previous student was killed: what they
    left in ``/tmp`` is gone before this student's code runs.
    """
    clear_folder("/tmp", {m for m in _mount_points() if m.startswith("/tmp/")})


def clear_folder(root: str, mounts: set[str]) -> None:
    """Delete everything under ``root`` except ``mounts`` and the folders leading to them.

    Symbolic links are removed, never followed.
    """
    on_the_way = {str(parent) for m in mounts for parent in Path(m).parents}

    def clear(folder: str) -> None:
        for entry in os.scandir(folder):
            if entry.path in mounts:
                continue
            if entry.path in on_the_way and entry.is_dir(follow_symlinks=False):
                clear(entry.path)
            elif entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)

    clear(root)


def _become_kernel(request: dict) -> None:
    """In the forked child: isolate, limit, drop root, run ipykernel. Never returns."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the zygote ignores it; kernels must not
    os.setsid()
    libc = _libc()
    _check(libc.unshare(_CLONE_NEWNS | _CLONE_NEWIPC), "unshare")
    # keep the mounts below to this child (the zygote's mounts are shared otherwise)
    _check(libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None), "make / private")
    # /tmp is emptied, not replaced: the course's own folders may be mounted under it
    # (a checkout in /tmp), and a new tmpfs would hide them
    _clear_tmp()
    _fresh_tmpfs(libc, "/dev/shm")

    connection_file = "/tmp/kernel-connection.json"
    with open(connection_file, "w") as fh:
        fh.write(request["connection"])
    kernel_files = [connection_file, *copy_font_cache(request.get("font_cache") or "")]
    os.chdir(request["cwd"])
    set_limits(request)
    become(int(request["uid"]), kernel_files)

    if "numpy.random" in sys.modules:
        # the global RandomState was seeded once, in the zygote: every kernel would
        # otherwise draw the same "random" numbers
        sys.modules["numpy.random"].seed()
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1) if request.get("debug") else (0, 1, 2):
        os.dup2(devnull, fd)  # also closes the zygote's request pipes in this child
    os.close(devnull)
    # what ``python -m ipykernel_launcher`` started in this folder would see
    sys.argv = ["ipykernel_launcher", "-f", connection_file]
    sys.path[0] = request["cwd"]
    from ipykernel.kernelapp import IPKernelApp

    try:
        IPKernelApp.launch_instance(argv=["-f", connection_file])
    except BaseException:
        if request.get("debug"):
            import traceback
            traceback.print_exc()
    finally:
        os._exit(0)


def zygote_main() -> None:
    """The zygote's loop: one JSON request per line on stdin, one reply per line."""
    os.environ["MPLBACKEND"] = _INLINE_BACKEND  # what ipykernel sets, before matplotlib
    for name in PRELOAD:
        __import__(name)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # forked kernels are reaped at once
    requests, replies = sys.stdin.buffer, sys.stdout.buffer
    replies.write(b'{"ready": true}\n')
    replies.flush()
    for line in requests:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            try:
                _become_kernel(request)
            except BaseException:
                if request.get("debug"):
                    import traceback
                    traceback.print_exc()
            finally:
                os._exit(71)
        replies.write(json.dumps({"pid": pid}).encode() + b"\n")
        replies.flush()


# -- on the host (the grading worker) ----------------------------------------------------
@dataclass
class KernelRequest:
    """What a forked kernel needs: see ``_become_kernel``."""

    uid: int
    cwd: str
    memory_bytes: int
    max_file_bytes: int
    nproc_limit: int
    font_cache: str = ""
    debug: bool = False  # keep the kernel's stderr and print why a fork failed


class Zygote:
    """A zygote process in its sandbox, owned by one grading worker."""

    def __init__(self, argv: list[str], start_timeout: float = 120) -> None:
        self._process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL)
        ready = self._read_reply(start_timeout)
        if not ready.get("ready"):
            self.close()
            raise ZygoteError(f"the kernel template did not start: {ready}")
        self.pid = self._find_zygote()

    def _read_reply(self, timeout: float) -> dict:
        import selectors

        with selectors.DefaultSelector() as selector:
            selector.register(self._process.stdout, selectors.EVENT_READ)
            if not selector.select(timeout):
                raise ZygoteError("the kernel template did not answer in time")
        line = self._process.stdout.readline()
        if not line:
            raise ZygoteError("the kernel template exited")
        return json.loads(line)

    def _find_zygote(self) -> int:
        """Host pid of the Python zygote (bwrap runs it as the child of its init)."""
        import psutil

        for proc in psutil.Process(self._process.pid).children(recursive=True):
            try:
                # bwrap's own processes carry the same words in their argv
                if proc.cmdline()[:3] == [sys.executable, "-m", "autograder.zygote"]:
                    return proc.pid
            except psutil.Error:
                continue
        raise ZygoteError("the kernel template process cannot be found")

    def alive(self) -> bool:
        """Both bwrap and the zygote inside it are running."""
        import psutil

        if self._process.poll() is not None:
            return False
        try:
            return psutil.Process(self.pid).status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    def fork_kernel(self, request: KernelRequest, connection: str) -> int:
        """Fork a kernel for ``request``; return its pid on this host."""
        import psutil

        payload = {**request.__dict__, "connection": connection}
        self._process.stdin.write(json.dumps(payload).encode() + b"\n")
        self._process.stdin.flush()
        inner = int(self._read_reply(30)["pid"])
        # the zygote knows its child's pid in the sandbox's pid namespace only
        for _ in range(100):
            for child in psutil.Process(self.pid).children():
                if _innermost_pid(child.pid) == inner:
                    return child.pid
            time.sleep(0.01)
        raise ZygoteError("the forked kernel exited at once")

    def own_pids(self) -> set[int]:
        """bwrap's processes and the zygote: what killing a student's processes spares."""
        import psutil

        pids = {self._process.pid, self.pid}
        try:
            pids.update(p.pid for p in psutil.Process(self.pid).parents())
        except psutil.Error:
            pass
        return pids

    def close(self) -> None:
        try:
            self._process.kill()
        except OSError:
            pass
        self._process.wait()


def _innermost_pid(host_pid: int) -> int | None:
    try:
        with open(f"/proc/{host_pid}/status") as fh:
            for line in fh:
                if line.startswith("NSpid:"):
                    return int(line.split()[-1])
    except OSError:
        return None
    return None


class ForkedKernel:
    """The ``subprocess.Popen`` subset jupyter_client uses, for a kernel forked elsewhere."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int) -> None:
        import psutil

        self.pid = pid
        self.returncode: int | None = None
        try:
            self._proc = psutil.Process(pid)
        except psutil.NoSuchProcess:
            self._proc = None
            self.returncode = -1

    def poll(self) -> int | None:
        import psutil

        if self.returncode is None:
            try:
                gone = self._proc.status() == psutil.STATUS_ZOMBIE
            except psutil.NoSuchProcess:
                gone = True
            if gone:
                self.returncode = -1  # reaped by the zygote: the real status is not ours
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout)
            time.sleep(0.02)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            try:
                self._proc.send_signal(signum)
            except Exception:  # gone in between
                pass

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


#: Set by the grading worker before each notebook: its zygote and the kernel request
CURRENT: dict = {"zygote": None, "request": None}


def _provisioner_base():
    from jupyter_client.provisioning import LocalProvisioner

    return LocalProvisioner


class ZygoteProvisioner(_provisioner_base()):
    """Kernel provisioner: the kernel is forked by the worker's zygote, not started."""

    async def launch_kernel(self, cmd, **kwargs):
        zygote, request = CURRENT["zygote"], CURRENT["request"]
        if zygote is None or request is None:
            raise ZygoteError("no kernel template is set up in this process")
        connection = Path(self.parent.connection_file).read_text()
        self.process = ForkedKernel(zygote.fork_kernel(request, connection))
        self.pid, self.pgid = self.process.pid, None
        self.cwd = request.cwd
        return self.connection_info


if __name__ == "__main__":
    zygote_main()
