"""Where a grading worker's time goes: grade N submissions in this process, profiled.

    python benchmarks/profile_worker.py [--copies 6] [--assignment 01_definition] [--top 40]

Builds ``--copies`` full-marks submissions (or a sample ``--student``'s mistakes),
generates the assignment, then grades them one after another with one ``GradingWorker``
in this process (sandboxed as ``grade`` does) under cProfile. Prints the wall time per
notebook and the functions with the most cumulative time in the grading process (the
kernel's own CPU is not in it).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import resource
import tempfile
import time
from pathlib import Path

import nbformat

from autograder import gradebook, patches
from autograder.config import REPO_ROOT, CoursePaths, ensure_venv_on_path, sqlite_url
from autograder.job import GradingJob
from autograder.policy import SandboxPolicy
from autograder.release import generate_assignments
from autograder.sample_class import MISTAKES, fill_release
from autograder.sandbox import sandbox_problem
from autograder.worker import GradingWorker


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _machine_busy() -> float:
    """CPU seconds all cores spent busy since boot (``/proc/stat``)."""
    with open("/proc/stat") as fh:
        fields = [int(v) for v in fh.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq = fields[:7]
    # steal and guest time are not this machine's work (guest is counted in user too)
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=6)
    parser.add_argument("--assignment", default="01_definition")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--filter", action="append",
                        help="only functions whose file:line(name) matches this regex")
    parser.add_argument("--callers", help="also print who calls the functions matching "
                                          "this regex")
    parser.add_argument("--fresh-kernels", action="store_true",
                        help="no kernel template: every kernel starts in a sandbox of its own")
    parser.add_argument("--unsafe", action="store_true", help="no sandbox at all")
    parser.add_argument("--student", choices=sorted({s for by in MISTAKES.values() for s in by}),
                        help="grade this sample student's mistakes instead of full marks")
    parser.add_argument("--no-profile", action="store_true",
                        help="time only (cProfile slows the grading process down)")
    args = parser.parse_args()
    patches.install(worker=True)  # as a grading worker process does
    ensure_venv_on_path()
    policy = SandboxPolicy(enabled=not args.unsafe and sandbox_problem() is None,
                           kernel_template=not args.fresh_kernels)
    with tempfile.TemporaryDirectory(prefix="kl-profile-") as tmp:
        root = Path(tmp)
        name = args.assignment
        release = nbformat.read(REPO_ROOT / "notebooks" / name / f"{name}.ipynb", 4)
        source = nbformat.read(REPO_ROOT / "solutions" / name / f"{name}.ipynb", 4)
        students = [f"s{i:02d}" for i in range(args.copies)]
        for student in students:
            path = root / "submitted" / student / name / f"{name}.ipynb"
            path.parent.mkdir(parents=True)
            answers = MISTAKES.get(name, {}).get(args.student, {}) if args.student else {}
            nbformat.write(fill_release(release, source, answers), path)
        work = root / "work"
        paths = CoursePaths.for_repo(work, release=work / "release",
                                     submitted=root / "submitted")
        db_url = sqlite_url(work)
        work.mkdir()
        generate_assignments(paths, [name], db_url=db_url)
        max_score = gradebook.max_scores(db_url, [name])[name]
        gradebook.add_students(db_url, students)
        worker = GradingWorker(slot=0)
        worker.warm_up()
        jobs = [GradingJob(s, name, paths, db_url, max_score, 30, 300, policy)
                for s in students]
        worker.grade(jobs[0])  # the first one starts the template: not profiled
        profiler = cProfile.Profile()
        cpu_start, busy_start = _own_cpu(), _machine_busy()
        start = time.perf_counter()
        if not args.no_profile:
            profiler.enable()
        for job in jobs[1:]:
            result = worker.grade(job)
            assert result.status == "graded", result
        profiler.disable()
        count = len(jobs) - 1
        seconds = (time.perf_counter() - start) / count
        own = (_own_cpu() - cpu_start) / count
        busy = (_machine_busy() - busy_start) / count
        worker.close()
    print(f"{seconds:.2f} s per notebook (wall, one worker, {count} notebooks); CPU per notebook: "
          f"{own:.2f} s in this process, {busy:.2f} s on the whole machine (kernel included)")
    if args.no_profile:
        return
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative").print_stats(*(args.filter or []), args.top)
    stats.sort_stats("tottime").print_stats(args.top)
    if args.callers:
        stats.sort_stats("cumulative").print_callers(args.callers)


if __name__ == "__main__":
    main()
