"""Benchmark: this grader against plain sequential ``nbgrader autograde``, in one run.

    python benchmarks/grade_class.py [--copies 8] [--workers N] [--assignment ID]
                                     [--loop-runs 3] [--skip-all]

Builds a synthetic class from the sample class (each of its gradable students copied
``--copies`` times: 5 x 8 = 40 students) and prints, all measured in this one run:

1. **Speed-up**: 40 submissions of ``--assignment`` (``01_definition`` by default, so
   the figures stay comparable as the course grows) graded with plain ``nbgrader
   autograde`` (one process, one notebook after another) and with this grader
   (parallel workers, sandboxed kernels, tests run outside the kernel, feedback pages:
   it does more per notebook); as root, once more with ``--fresh-kernels`` (every kernel
   started afresh instead of forked from the template), to show what the parallel
   workers alone give. Target: >= 3.5x on 2 cores.
2. **Overhead**: the notebook's own execution time (the solution's cells, tests
   included, run top to bottom in a kernel that is already started, imports included)
   against what this grader spends per notebook (wall time x workers / notebooks: the
   core-seconds each notebook costs the machine). Target: overhead <= 25% of the own time.
3. **Infinite loop**: what one submission that never ends costs more than an ordinary
   one, graded alone, over ``--loop-runs`` runs (median). Target: <= cell timeout + 2 s.
4. **The whole course**: the 40 students' seven assignments graded in one run, with
   per-assignment figures (own time, the worker's mean time per notebook, and their
   ratio), since 01 is not the slowest notebook (``--skip-all`` leaves it out).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import nbformat
from solution_times import solution_client  # this folder: the scripts run from it

from autograder.config import COURSE_ID, REPO_ROOT, ensure_venv_on_path, list_assignments
from autograder.grading import GradingOptions, grade_class
from autograder.policy import SandboxPolicy
from autograder.sample_class import BROKEN, MISSING, build_sample_class, fill_release
from autograder.sandbox import sandbox_problem

LOOP_ANSWER = "import time\nwhile True:\n    try:\n        time.sleep(0.05)\n" \
              "    except KeyboardInterrupt:\n        pass\n"
SPEED_UP_TARGET = 3.5
OVERHEAD_TARGET = 0.25


def synthetic_class(dest: Path, copies: int, assignments: list[str]) -> int:
    """Copies of every gradable sample student's ``assignments``; returns the notebooks."""
    sample = build_sample_class(dest / "sample")
    count = 0
    for student in sorted(p.name for p in sample.iterdir()):
        if student in (BROKEN, MISSING):
            continue  # plain nbgrader cannot grade these: keep the comparison fair
        for copy in range(copies):
            for assignment in assignments:
                shutil.copytree(sample / student / assignment,
                                dest / "class" / f"{student}_{copy:02d}" / assignment)
                count += len(list((sample / student / assignment).glob("*.ipynb")))
    return count


def plain_nbgrader(submissions: Path, work: Path, assignment: str) -> float:
    """Seconds for sequential ``nbgrader autograde`` (after ``generate_assignment``)."""
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


def ours(submissions: Path, out: Path, options: GradingOptions, assignments: list[str]):
    """Seconds for this grader, and its results."""
    start = time.perf_counter()
    results = grade_class(submissions, out, assignments=assignments, options=options)
    return time.perf_counter() - start, results


def own_seconds(assignment: str) -> float:
    """The solution's cells, run top to bottom in a started kernel (imports included)."""
    path = REPO_ROOT / "solutions" / assignment / f"{assignment}.ipynb"
    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory(prefix="kl-own-", dir="/tmp") as sockets:
        client = solution_client(nb, path, sockets)
        with client.setup_kernel():
            start = time.perf_counter()
            for index, cell in enumerate(nb.cells):
                client.execute_cell(cell, index)
            return time.perf_counter() - start


def single(student_nb, work: Path, name: str, options: GradingOptions) -> float:
    folder = work / name / "subs" / name / "01_definition"
    folder.mkdir(parents=True)
    nbformat.write(student_nb, folder / "01_definition.ipynb")
    return ours(work / name / "subs", work / name / "out", options, ["01_definition"])[0]


def _verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=8)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--cell-timeout", type=int, default=10)
    parser.add_argument("--loop-runs", type=int, default=3)
    parser.add_argument("--skip-all", action="store_true",
                        help="do not grade the whole course (part 4)")
    parser.add_argument("--assignment", default="01_definition",
                        choices=list_assignments(REPO_ROOT / "solutions"))
    args = parser.parse_args()
    ensure_venv_on_path()
    problem = sandbox_problem()
    options = GradingOptions(cell_timeout=args.cell_timeout, workers=args.workers,
                             sandbox=SandboxPolicy(enabled=problem is None))
    if problem:
        print(f"WARNING: no sandbox ({problem}); this grader runs --unsafe")
    name = args.assignment

    with tempfile.TemporaryDirectory(prefix="kl-bench-") as tmp:
        work = Path(tmp)
        n = synthetic_class(work / "one", args.copies, [name])
        print(f"1. synthetic class: {n} submissions of {name}, {args.workers} workers, "
              f"{os.cpu_count()} cores")
        t_plain = plain_nbgrader(work / "one" / "class", work, name)
        print(f"   plain nbgrader autograde (sequential): {t_plain:7.1f} s "
              f"({t_plain / n:.2f} s per notebook)")
        t_ours, _ = ours(work / "one" / "class", work / "ours", options, [name])
        print(f"   python -m autograder grade:            {t_ours:7.1f} s "
              f"({t_ours / n:.2f} s per notebook)")
        speed_up = t_plain / t_ours
        print(f"   speed-up: {speed_up:.2f}x (target >= {SPEED_UP_TARGET}x on 2 cores: "
              f"{_verdict(speed_up >= SPEED_UP_TARGET)})")
        if os.geteuid() == 0 and problem is None:
            # the same grader with every kernel started afresh in its own sandbox: what
            # parallel workers alone give, without the preloaded kernel template
            fresh = replace(options, sandbox=SandboxPolicy(kernel_template=False))
            t_fresh, _ = ours(work / "one" / "class", work / "ours_fresh", fresh, [name])
            print(f"   ... with fresh kernels, no template:  {t_fresh:7.1f} s "
                  f"(speed-up {t_plain / t_fresh:.2f}x from parallel workers alone)")

        own = own_seconds(name)
        cost = t_ours * args.workers / n
        overhead = cost / own - 1
        print(f"2. {name}: own execution {own:.2f} s; the grader spends {cost:.2f} core-s "
              f"per notebook: overhead {overhead:+.0%} of the own time (target <= "
              f"{OVERHEAD_TARGET:.0%}: {_verdict(overhead <= OVERHEAD_TARGET)})")

        release = nbformat.read(REPO_ROOT / "notebooks/01_definition/01_definition.ipynb", 4)
        source = nbformat.read(REPO_ROOT / "solutions/01_definition/01_definition.ipynb", 4)
        one = replace(options, workers=1)
        costs = []
        for run in range(args.loop_runs):
            t_normal = single(fill_release(release, source), work, f"normal{run}", one)
            t_loop = single(fill_release(release, source, {"kl_divergence": LOOP_ANSWER}),
                            work, f"loop{run}", one)
            costs.append(t_loop - t_normal)
        median = statistics.median(costs)
        print(f"3. one infinite-loop submission costs {median:.1f} s more than an ordinary "
              f"one (median of {', '.join(f'{c:.1f}' for c in costs)}; cell timeout "
              f"{args.cell_timeout} s; target <= timeout + 2 s: "
              f"{_verdict(median <= args.cell_timeout + 2)})")

        if not args.skip_all:
            _whole_course(work, args, options)


def _whole_course(work: Path, args, options: GradingOptions) -> None:
    assignments = list_assignments(REPO_ROOT / "solutions")
    n = synthetic_class(work / "all", args.copies, assignments)
    t_all, results = ours(work / "all" / "class", work / "ours_all", options, assignments)
    print(f"4. the whole course: {n} notebooks ({args.copies * 5} students x "
          f"{len(assignments)} assignments) in {t_all:.1f} s, "
          f"{t_all * args.workers / n:.2f} core-s per notebook")
    seconds = defaultdict(list)
    for result in results:
        seconds[result.assignment].append(result.seconds)
    print(f"   {'assignment':20s} {'own s':>7s} {'worker s':>9s} {'ratio':>6s}")
    for assignment in assignments:
        own = own_seconds(assignment)
        mean = statistics.mean(seconds[assignment])
        print(f"   {assignment:20s} {own:7.2f} {mean:9.2f} {mean / own:6.2f}")
    print("   (worker s: mean wall time of one notebook in a worker, with the other "
          "worker running beside it)")


if __name__ == "__main__":
    main()
