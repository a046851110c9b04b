"""Student kernels forked from a preloaded template process inside the sandbox: host side.

Starting a kernel costs about 2.5 s of CPU before a student's first line does any
work: a new Python, ipykernel, and the imports of numpy, scipy and matplotlib that
every course notebook begins with. On a machine that grades as fast as its cores
allow, that was a third of the CPU time per notebook.

A *zygote* (``autograder.inside.zygote``) is one long-lived process per grading
worker, started in a bubblewrap sandbox (no network, read-only system, see
``autograder.sandbox``). It imports those modules once, never runs student code, and on
request forks a child that isolates itself, drops root and becomes the student's
kernel. The zygote runs as root inside the sandbox: a student's kernel (another uid)
cannot signal, trace or change it, nor reach its socket, and the worker kills every
process of that uid after each notebook. It is used only when grading as root.

Here: :class:`Zygote` (start it, check it, close it; owned by the grading worker) and
:class:`ZygoteProvisioner`, the jupyter_client kernel provisioner that asks a zygote for
a kernel instead of starting a process. The provisioner gets the zygote's socket and
the kernel request from its kernelspec (``metadata.kernel_provisioner.config``).
"""

from __future__ import annotations

import json
import selectors
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil
from jupyter_client.provisioning import LocalProvisioner
from traitlets import Dict, Integer, Unicode

from .inside.zygote import read_line

#: The provisioner name that kernelspecs use (registered as an entry point in pyproject)
PROVISIONER_NAME = "kl-zygote"


class ZygoteError(RuntimeError):
    """The zygote could not be started or could not fork a kernel."""


@dataclass(frozen=True)
class KernelRequest:
    """What a forked kernel needs: see ``autograder.inside.zygote._become_kernel``."""

    uid: int
    cwd: str
    memory_bytes: int
    max_file_bytes: int
    nproc_limit: int
    font_cache: str = ""
    debug: bool = False  # keep the kernel's stderr and print why a fork failed


class Zygote:
    """A zygote process in its sandbox, owned by one grading worker.

    ``argv`` runs ``autograder.inside.zygote`` (see ``sandbox.zygote_argv``), which
    serves kernel requests on ``socket_path``.
    """

    def __init__(self, argv: list[str], socket_path: Path, start_timeout: float = 120) -> None:
        self.socket_path = socket_path
        self._process = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            ready = self._read_ready(start_timeout)
        except ZygoteError:
            self.close()
            raise
        if not ready.get("ready"):
            self.close()
            raise ZygoteError(f"the kernel template did not start: {ready}")
        #: warm-ups that failed in the template (kernels then only start slower)
        self.warm_up_failures = tuple(ready.get("warm_up_failures") or ())
        self.pid = self._find_zygote()

    def _read_ready(self, timeout: float) -> dict:
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
        for proc in psutil.Process(self._process.pid).children(recursive=True):
            try:
                # bwrap's own processes carry the same words in their argv
                if proc.cmdline()[:3] == [sys.executable, "-m", "autograder.inside.zygote"]:
                    return proc.pid
            except psutil.Error:
                continue
        raise ZygoteError("the kernel template process cannot be found")

    def alive(self) -> bool:
        """Both bwrap and the zygote inside it are running."""
        if self._process.poll() is not None:
            return False
        try:
            return psutil.Process(self.pid).status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    def provisioner_config(self, request: KernelRequest) -> dict:
        """The kernelspec's ``kernel_provisioner`` entry that forks ``request`` here."""
        return {"provisioner_name": PROVISIONER_NAME,
                "config": {"socket_path": str(self.socket_path), "zygote_pid": self.pid,
                           "request": asdict(request)}}

    def own_pids(self) -> set[int]:
        """bwrap's processes and the zygote: what killing a student's processes spares."""
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


def fork_kernel(socket_path: str, zygote_pid: int, request: dict, connection: str) -> int:
    """Ask the zygote listening on ``socket_path`` for a kernel; return its host pid."""
    payload = json.dumps({**request, "connection": connection}).encode() + b"\n"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(30)
        try:
            conn.connect(socket_path)
            conn.sendall(payload)
            reply = read_line(conn)
        except OSError as exc:
            raise ZygoteError(f"the kernel template did not answer: {exc}") from exc
    if not reply:
        raise ZygoteError("the kernel template closed the connection")
    inner = int(json.loads(reply)["pid"])
    # the zygote knows its child's pid in the sandbox's pid namespace only
    for _ in range(100):
        try:
            children = psutil.Process(zygote_pid).children()
        except psutil.NoSuchProcess:
            raise ZygoteError("the kernel template exited") from None
        for child in children:
            if _innermost_pid(child.pid) == inner:
                return child.pid
        time.sleep(0.01)
    raise ZygoteError("the forked kernel exited at once")


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
        self.pid = pid
        self.returncode: int | None = None
        try:
            self._proc = psutil.Process(pid)
        except psutil.NoSuchProcess:
            self._proc = None
            self.returncode = -1

    def poll(self) -> int | None:
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


class ZygoteProvisioner(LocalProvisioner):
    """Kernel provisioner: the kernel is forked by a zygote, not started.

    Its settings come from the kernelspec (``Zygote.provisioner_config``).
    """

    socket_path = Unicode(help="the zygote's Unix socket").tag(config=True)
    zygote_pid = Integer(help="the zygote's pid on this host").tag(config=True)
    request = Dict(help="the fields of a KernelRequest").tag(config=True)

    async def launch_kernel(self, cmd, **kwargs):
        if not self.socket_path or not self.request:
            raise ZygoteError("the kernelspec names no kernel template")
        connection = Path(self.parent.connection_file).read_text()
        pid = fork_kernel(self.socket_path, self.zygote_pid, dict(self.request), connection)
        self.process = ForkedKernel(pid)
        self.pid, self.pgid = self.process.pid, None
        self.cwd = self.request["cwd"]
        return self.connection_info
