"""The kernel template ("zygote"): one preloaded process per grading worker, in the sandbox.

Usage (by ``autograder.sandbox.zygote_argv``):
``python -m autograder.inside.zygote '["numpy", ...]' SOCKET``

It imports the modules listed (the kernel machinery and the course libraries: see
``autograder.policy.PRELOAD``), does their first-use work once
(``autograder.inside.warm_up``), freezes what it holds out of the garbage collector's
reach (``gc.freeze``: kernels collect only their own objects), prints
``{"ready": true, "warm_up_failures": [...]}``, then serves kernel requests on the Unix
socket ``SOCKET`` (root only: mode 0600): one JSON request per connection, answered
with the forked child's pid. It never runs student code itself. Each child, before any
student code runs:

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

The host side (start it, ask it for a kernel) is ``autograder.zygote``.
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import re
import shutil
import signal
import socket
import sys
from pathlib import Path

from .kernel import become, copy_font_cache, set_limits

_CLONE_NEWNS = 0x00020000
_CLONE_NEWIPC = 0x08000000
_MS_NOSUID, _MS_NODEV, _MS_REC, _MS_PRIVATE = 0x2, 0x4, 0x4000, 0x40000
_INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


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
        os.dup2(devnull, fd)  # also closes the zygote's pipes in this child
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


def read_line(conn: socket.socket) -> bytes:
    """One newline-ended message from ``conn`` (what came before its end, if it ends first).

    The zygote's protocol on both sides: one JSON request, one JSON reply, per connection.
    """
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def main(argv: list[str]) -> None:
    """Preload, then fork one kernel per request received on the socket ``argv[1]``."""
    preload, socket_path = json.loads(argv[0]), argv[1]
    os.environ["MPLBACKEND"] = _INLINE_BACKEND  # what ipykernel sets, before matplotlib
    for name in preload:
        __import__(name)
    # first-use work of the libraries (matplotlib's first figure), done once for all kernels
    from .warm_up import run_all
    warm_up_failures = run_all()
    # the preloaded libraries' objects go to the collector's permanent generation: a
    # kernel's garbage collections then skip them, instead of walking (and, by writing
    # their headers, copying page by page) hundreds of thousands of inherited objects;
    # objects the kernel creates are collected as usual (about 5% of a notebook's CPU)
    gc.collect()
    gc.freeze()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # forked kernels are reaped at once
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_mask = os.umask(0o177)  # the socket is born root-only: no kernel may connect
    server.bind(socket_path)
    os.umask(old_mask)
    server.listen()
    sys.stdout.buffer.write(json.dumps({"ready": True,
                                        "warm_up_failures": warm_up_failures}).encode() + b"\n")
    sys.stdout.buffer.flush()
    while True:
        conn, _ = server.accept()
        with conn:
            request = json.loads(read_line(conn))
            pid = os.fork()
            if pid == 0:
                try:
                    server.close()  # the student's kernel must not hold the zygote's socket
                    conn.close()
                    _become_kernel(request)
                except BaseException:
                    if request.get("debug"):
                        import traceback
                        traceback.print_exc()
                finally:
                    os._exit(71)
            conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")


if __name__ == "__main__":
    main(sys.argv[1:])
