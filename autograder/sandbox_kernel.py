"""Start an IPython kernel inside the sandbox: set limits, drop root, exec ipykernel.

Usage (by the kernelspec that ``autograder.sandbox`` writes):
``python -m autograder.sandbox_kernel '{"uid": ..., "memory_bytes": ...}' CONNECTION_FILE``
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

    # matplotlib's font list, so that the kernel need not rebuild it in its fresh /tmp
    mpl_dir = "/tmp/matplotlib"
    os.makedirs(mpl_dir, exist_ok=True)
    if settings.get("font_cache"):
        for name in os.listdir(settings["font_cache"]):
            if name.startswith("fontlist") and name.endswith(".json"):
                shutil.copyfile(os.path.join(settings["font_cache"], name),
                                os.path.join(mpl_dir, name))

    resource.setrlimit(resource.RLIMIT_AS, (settings["memory_bytes"],) * 2)
    resource.setrlimit(resource.RLIMIT_FSIZE, (settings["max_file_bytes"],) * 2)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # RLIMIT_NPROC counts all processes of the real uid (computed by the caller)
    resource.setrlimit(resource.RLIMIT_NPROC, (settings["nproc_limit"],) * 2)
    if drop_root:
        os.chown(private_connection, uid, uid)
        for path in [mpl_dir, *(os.path.join(mpl_dir, n) for n in os.listdir(mpl_dir))]:
            os.chown(path, uid, uid)
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    # ipykernel's start-up banner would land in the grader's terminal for every student
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.execv(sys.executable, [sys.executable, "-m", "ipykernel_launcher", "-f",
                              private_connection])


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
