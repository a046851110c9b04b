"""Grade one student's assignment in a child process: ``python -m autograder.worker JOB.json``.

Running each submission in its own process means a kernel that crashes, hangs
or floods memory cannot take the grading loop down with it: the parent only
waits with a deadline and then reads what this process wrote to ``result``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .config import CoursePaths
from .release import nbgrader_api


def run_job(job: dict) -> dict:
    """Autograde and generate feedback for ``job["student"]``/``job["assignment"]``."""
    paths = CoursePaths(
        source=Path(job["source"]), release=Path(job["release"]), work=Path(job["work"]),
        submitted=Path(job["submitted"]),
    )
    api = nbgrader_api(paths, db_url=job["db_url"], cell_timeout=job["cell_timeout"])
    autograded = api.autograde(job["assignment"], job["student"], force=True, create=True)
    result = {
        "autograde_success": bool(autograded["success"]),
        "autograde_error": autograded.get("error") or "",
        "autograde_log": autograded.get("log") or "",
    }
    if autograded["success"]:
        feedback = api.generate_feedback(job["assignment"], job["student"], force=True)
        result["feedback_success"] = bool(feedback["success"])
        result["feedback_error"] = feedback.get("error") or ""
    return result


def main(argv: list[str]) -> int:
    job_file = Path(argv[0])
    job = json.loads(job_file.read_text())
    try:
        result = run_job(job)
    except Exception as exc:  # reported to the parent, which decides the status
        result = {"autograde_success": False, "autograde_error": f"{type(exc).__name__}: {exc}"}
    Path(job["result"]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
