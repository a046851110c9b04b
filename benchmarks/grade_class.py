"""Benchmark: this grader against plain sequential ``nbgrader autograde``, in one run.

    python benchmarks/grade_class.py [--copies 8] [--workers N] [--assignment ID]

Builds a synthetic class from the sample class (each of its gradable students
copied ``--copies`` times: 5 x 8 = 40 submissions of one assignment by default,
``01_definition``: the figures stay comparable as the course grows), grades it

1. with plain ``nbgrader autograde`` (one process, one notebook after another, in a
   throw-away course folder), and
2. with ``python -m autograder grade`` (parallel workers, sandboxed kernels, tests
   run outside the kernel, feedback HTML: it does more work per notebook), and,
   when grading as root, once more with ``--fresh-kernels``: every kernel started
   afresh instead of forked from the preloaded template (``autograder.zygote``), to
   show what the parallel workers alone give,

and prints both wall-clock times and their ratio. It then measures what one
infinite-loop submission costs: the time to grade it alone minus the time to grade
one ordinary submission alone, against the per-cell timeout.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import nbformat

from autograder.config import COURSE_ID, REPO_ROOT, ensure_venv_on_path, list_assignments
from autograder.grading import GradingOptions, grade_class
from autograder.policy import SandboxPolicy
from autograder.sample_class import BROKEN, MISSING, build_sample_class, fill_release
from autograder.sandbox import sandbox_problem

LOOP_ANSWER = "import time\nwhile True:\n    try:\n        time.sleep(0.05)\n" \
              "    except KeyboardInterrupt:\n        pass\n"


def synthetic_class(dest: Path, copies: int, assignment: str) -> int:
    """Copies of every gradable sample student's ``assignment``; returns their number."""
    sample = build_sample_class(dest / "sample")
    count = 0
    for student in sorted(p.name for p in sample.iterdir()):
        if student in (BROKEN, MISSING):
            continue  # plain nbgrader cannot grade these: keep the comparison fair
        for copy in range(copies):
            shutil.copytree(sample / student / assignment,
                            dest / "class" / f"{student}_{copy:02d}" / assignment)
            count += len(list((sample / student / assignment).glob("*.ipynb")))
    return count


def plain_nbgrader(submissions: Path, work: Path, assignment: str) -> float:
    """Seconds for ``nbgrader generate_assignment`` + sequential ``nbgrader autograde``."""
    course = work / "plain_course"
    shutil.copytree(REPO_ROOT / "solutions", course / "source")
    shutil.copytree(submissions, course / "submitted")
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.course_id = {COURSE_ID!r}\n"
        "c.Execute.timeout = 30\n")
    nbgrader = [sys.executable, "-m", "nbgrader"]
    subprocess.run([*nbgrader, "generate_assignment", assignment, "--force"], cwd=course,
                   check=True, capture_output=True)
    start = time.perf_counter()
    subprocess.run([*nbgrader, "autograde", assignment, "--force"], cwd=course,
                   check=True, capture_output=True)
    return time.perf_counter() - start


def ours(submissions: Path, out: Path, options: GradingOptions,
         assignment: str = "01_definition") -> float:
    start = time.perf_counter()
    grade_class(submissions, out, assignments=[assignment], options=options)
    return time.perf_counter() - start


def single(student_nb, work: Path, name: str, options: GradingOptions) -> float:
    folder = work / name / "subs" / name / "01_definition"
    folder.mkdir(parents=True)
    nbformat.write(student_nb, folder / "01_definition.ipynb")
    return ours(work / name / "subs", work / name / "out", options)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=8)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--cell-timeout", type=int, default=10)
    parser.add_argument("--assignment", default="01_definition",
                        choices=list_assignments(REPO_ROOT / "solutions"))
    args = parser.parse_args()
    ensure_venv_on_path()
    problem = sandbox_problem()
    options = GradingOptions(cell_timeout=args.cell_timeout, workers=args.workers,
                             sandbox=SandboxPolicy(enabled=problem is None))
    if problem:
        print(f"WARNING: no sandbox ({problem}); this grader runs --unsafe")

    with tempfile.TemporaryDirectory(prefix="kl-bench-") as tmp:
        work = Path(tmp)
        n = synthetic_class(work, args.copies, args.assignment)
        print(f"synthetic class: {n} submissions of {args.assignment}, {args.workers} workers, "
              f"{os.cpu_count()} cores")
        t_plain = plain_nbgrader(work / "class", work, args.assignment)
        print(f"plain nbgrader autograde (sequential): {t_plain:7.1f} s "
              f"({t_plain / n:.2f} s per notebook)")
        t_ours = ours(work / "class", work / "ours", options, args.assignment)
        print(f"python -m autograder grade:            {t_ours:7.1f} s "
              f"({t_ours / n:.2f} s per notebook)")
        print(f"speed-up: {t_plain / t_ours:.2f}x (target >= 1.8x on 2 cores)")
        if os.geteuid() == 0 and problem is None:
            # the same grader with every kernel started afresh in its own sandbox: what
            # parallel workers alone give, without the preloaded kernel template
            fresh = replace(options, sandbox=SandboxPolicy(kernel_template=False))
            t_fresh = ours(work / "class", work / "ours_fresh", fresh, args.assignment)
            print(f"  ... with fresh kernels, no template:  {t_fresh:7.1f} s "
                  f"(speed-up {t_plain / t_fresh:.2f}x from parallel workers alone)")

        release = nbformat.read(REPO_ROOT / "notebooks/01_definition/01_definition.ipynb", 4)
        source = nbformat.read(REPO_ROOT / "solutions/01_definition/01_definition.ipynb", 4)
        one = replace(options, workers=1)
        t_normal = single(fill_release(release, source), work, "normal", one)
        t_loop = single(fill_release(release, source, {"kl_divergence": LOOP_ANSWER}), work,
                        "loop", one)
        cost = t_loop - t_normal
        print(f"one infinite-loop submission costs {cost:.1f} s more than an ordinary one "
              f"(cell timeout {args.cell_timeout} s; target <= timeout + 2 s: "
              f"{'met' if cost <= args.cell_timeout + 2 else 'NOT met'})")


if __name__ == "__main__":
    main()
