"""Start an IPython kernel inside the sandbox: set limits, drop root, exec ipykernel.

Usage (by the kernelspec that ``autograder.sandbox`` writes):
``python -m autograder.inside.kernel '{"uid": ..., "memory_bytes": ...}' CONNECTION_FILE``
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import sys


def main(argv: list[str]) -> None:
    settings = json.loads(argv[0])
    connection_file = argv[1]
    uid = int(settings["uid"])
    drop_root = os.geteuid() == 0 and os.getuid() == 0 and _real_root()

    # the connection file is readable by root only: hand the kernel its own copy
    private_connection = "/tmp/kernel-connection.json"
    shutil.copyfile(connection_file, private_connection)
    kernel_files = [private_connection, *copy_font_cache(settings.get("font_cache") or "")]
    set_limits(settings)
    if drop_root:
        become(uid, kernel_files)
    # ipykernel's start-up banner would land in the grader's terminal for every student
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.execv(sys.executable, [sys.executable, "-m", "ipykernel_launcher", "-f",
                              private_connection])


def copy_font_cache(font_cache: str) -> list[str]:
    """Copy matplotlib's font list into ``/tmp/matplotlib``; return the paths made there.

    Without it, a kernel in its fresh ``/tmp`` would rebuild the list (over a second).
    """
    mpl_dir = "/tmp/matplotlib"
    os.makedirs(mpl_dir, exist_ok=True)
    if font_cache and os.path.isdir(font_cache):
        for name in os.listdir(font_cache):
            if name.startswith("fontlist") and name.endswith(".json"):
                shutil.copyfile(os.path.join(font_cache, name), os.path.join(mpl_dir, name))
    return [mpl_dir, *(os.path.join(mpl_dir, name) for name in os.listdir(mpl_dir))]


def set_limits(settings: dict) -> None:
    """The kernel's rlimits: address space, file size, no core dumps, processes."""
    resource.setrlimit(resource.RLIMIT_AS, (settings["memory_bytes"],) * 2)
    resource.setrlimit(resource.RLIMIT_FSIZE, (settings["max_file_bytes"],) * 2)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # RLIMIT_NPROC counts all processes of the real uid (computed by the caller)
    resource.setrlimit(resource.RLIMIT_NPROC, (settings["nproc_limit"],) * 2)


def become(uid: int, own_files: list[str]) -> None:
    """Give ``own_files`` to ``uid``, then switch from root to ``uid`` (all capabilities go)."""
    for path in own_files:
        os.chown(path, uid, uid)
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    if os.getuid() != uid or os.geteuid() != uid:
        os._exit(70)


def _real_root() -> bool:
    """True outside a user namespace: then root may switch to any uid."""
    try:
        with open("/proc/self/uid_map") as fh:
            first = fh.read().split()
    except OSError:
        return False
    # "0 0 4294967295" is the initial namespace; a user namespace maps a narrower range
    return first[:3] == ["0", "0", "4294967295"]


if __name__ == "__main__":
    main(sys.argv[1:])
