"""Command line: ``python -m autograder {release,grade,report,sample-class,demo} ...``."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from .config import REPO_ROOT
from .policy import DEFAULT_CELL_TIMEOUT, DEFAULT_NOTEBOOK_TIMEOUT, SandboxLimits

_MIB = 1024**2
_DEFAULT_LIMITS = SandboxLimits()


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value} must be positive")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m autograder",
        description="Release, grade and report on the KL divergence course (a layer over "
                    "nbgrader).")
    sub = parser.add_subparsers(dest="command", required=True)

    release = sub.add_parser("release", help="regenerate the student release from solutions/")
    release.add_argument("--out", type=Path, default=None,
                         help="where to write the release (default: notebooks/)")

    grade = sub.add_parser("grade", help="autograde a folder of submissions")
    grade.add_argument("submissions", type=Path,
                       help="folder laid out as <student_id>/<assignment>/<notebook>.ipynb")
    grade.add_argument("--out", type=Path, required=True,
                       help="folder for grades.csv, tests.csv, feedback/ and nbgrader's work")
    grade.add_argument("--assignment", action="append", dest="assignments",
                       help="grade only this assignment (repeatable; default: all)")
    grade.add_argument("--cell-timeout", type=_positive_int, default=DEFAULT_CELL_TIMEOUT,
                       help=f"seconds per cell (default {DEFAULT_CELL_TIMEOUT})")
    grade.add_argument("--notebook-timeout", type=_positive_int,
                       default=DEFAULT_NOTEBOOK_TIMEOUT,
                       help=f"seconds per notebook (default {DEFAULT_NOTEBOOK_TIMEOUT})")
    grade.add_argument("--db", default=None,
                       help="gradebook URL (default: SQLite in OUT/nbgrader/gradebook.db)")
    grade.add_argument("--workers", type=_positive_int, default=os.cpu_count() or 1,
                       help="submissions graded in parallel (default: number of cores)")
    grade.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                       help="grade on a Dask distributed cluster instead of local processes")
    grade.add_argument("--unsafe", action="store_true",
                       help="run student code WITHOUT the bubblewrap sandbox (trusted "
                            "notebooks only)")
    grade.add_argument("--fresh-kernels", action="store_true",
                       help="start every kernel afresh in its own sandbox instead of forking "
                            "it from a preloaded template (the template is used as root only)")
    grade.add_argument("--memory-mb", type=_positive_int,
                       default=_DEFAULT_LIMITS.memory_bytes // _MIB,
                       help="address space of a student kernel, in MiB (default "
                            f"{_DEFAULT_LIMITS.memory_bytes // _MIB})")
    grade.add_argument("--max-processes", type=_positive_int,
                       default=_DEFAULT_LIMITS.max_processes,
                       help="processes a student kernel may run (default "
                            f"{_DEFAULT_LIMITS.max_processes})")
    grade.add_argument("--max-file-mb", type=_positive_int,
                       default=_DEFAULT_LIMITS.max_file_bytes // _MIB,
                       help="largest file a student kernel may write, in MiB (default "
                            f"{_DEFAULT_LIMITS.max_file_bytes // _MIB})")
    grade.add_argument("--course", type=Path, default=None,
                       help="folder whose solutions/ the submissions are graded against "
                            "(default: this checkout)")

    def run_folder(parser_of_run):
        parser_of_run.add_argument("out", type=Path, help="the --out folder of a `grade` run")
        parser_of_run.add_argument("--db", default=None,
                                   help="the gradebook URL, if the run used --db (a server)")

    export = sub.add_parser("export", help="rewrite grades.csv and tests.csv from the "
                                           "gradebook (manual grades included)")
    run_folder(export)
    feedback = sub.add_parser("feedback", help="render the feedback pages again (manual "
                                               "grades and comments included)")
    run_folder(feedback)
    feedback.add_argument("--assignment", action="append", dest="assignments",
                          help="only this assignment (repeatable; default: all)")
    formgrader = sub.add_parser("formgrader", help="grade the written answers of a run in "
                                                   "nbgrader's formgrader (JupyterLab)")
    run_folder(formgrader)
    formgrader.add_argument("--ip", default="127.0.0.1", help="address to listen on")
    formgrader.add_argument("--port", type=int, default=8888, help="port (default 8888)")
    formgrader.add_argument("--token", default=None,
                            help="the server's login token (default: a random one, printed)")

    student_repo = sub.add_parser("student-repo", help="a git repository of the student "
                                                       "release only (for nbgitpuller links)")
    student_repo.add_argument("dest", type=Path, help="new folder, or one written before")

    course = sub.add_parser("hub-course", help="lay out the course in an instructor's home "
                                               "on a JupyterHub (hub/install.sh runs it)")
    course.add_argument("dest", type=Path, help="the course folder, e.g. /home/NAME/course")
    course.add_argument("--owner", required=True, help="the instructor's system account")
    course.add_argument("--source", type=Path, required=True, help="the solutions/ folder")
    course.add_argument("--release", type=Path, required=True, help="the notebooks/ folder")

    report = sub.add_parser("report", help="write a class report from a grading run")
    report.add_argument("out", type=Path, help="the --out folder of a `grade` run")

    sample = sub.add_parser("sample-class", help="write the synthetic sample class")
    sample.add_argument("dest", type=Path, help="new or empty folder to write it to")

    demo = sub.add_parser("demo", help="release, grade the sample class, print the scores")
    demo.add_argument("--out", type=Path, default=REPO_ROOT / "demo_out",
                      help="output folder (default: demo_out/)")
    return parser


class ProgressBar:
    """A tqdm bar on stderr that also names each finished submission."""

    def __init__(self) -> None:
        self.bar = None

    def __call__(self, result, total: int) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=total, unit="notebook", desc="grading", file=sys.stderr)
        self.bar.set_postfix_str(f"{result.student_id}: {result.status}")
        self.bar.update(1)
        if self.bar.n >= total:
            self.bar.close()


UNSAFE_BANNER = ("WARNING: student code ran WITHOUT a sandbox (--unsafe): it could read "
                 "the solutions and the gradebook.")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # first: the speed-ups must be in place before nbgrader and jsonschema are imported
    from . import patches

    patches.install()
    # imported late so that --help answers without loading nbgrader
    from .grading import GradingError, GradingOptions, grade_class
    from .policy import SandboxPolicy
    from .release import ReleaseError, build_release
    from .report import ReportError, write_report
    from .results import format_table
    from .sample_class import SampleClassError, build_sample_class
    from .sandbox import sandbox_problem

    try:
        if args.command == "release":
            dest = build_release(args.out)
            print(f"release written to {dest}")
        elif args.command == "report":
            print(f"report written to {write_report(args.out)}")
        elif args.command == "sample-class":
            print(f"sample class written to {build_sample_class(args.dest)}")
        elif args.command == "grade":
            sandbox = SandboxPolicy(
                enabled=not args.unsafe, kernel_template=not args.fresh_kernels,
                limits=SandboxLimits(memory_bytes=args.memory_mb * _MIB,
                                     max_processes=args.max_processes,
                                     max_file_bytes=args.max_file_mb * _MIB))
            options = GradingOptions(
                cell_timeout=args.cell_timeout, notebook_timeout=args.notebook_timeout,
                db_url=args.db, workers=args.workers, sandbox=sandbox,
                scheduler=args.scheduler,
                course=args.course.resolve() if args.course else REPO_ROOT)
            if args.unsafe:
                print(UNSAFE_BANNER, file=sys.stderr)
            results = grade_class(args.submissions, args.out, assignments=args.assignments,
                                  options=options, progress=ProgressBar())
            print(format_table(results))
            if args.unsafe:
                print(UNSAFE_BANNER)
            print(f"\nwrote {args.out / 'grades.csv'}, {args.out / 'tests.csv'} and "
                  f"{args.out / 'feedback'}/")
        elif args.command in ("export", "feedback", "formgrader"):
            from .handback import GradedRun, export_grades, regenerate_feedback

            run = GradedRun.load(args.out, db_url=args.db)
            if args.command == "export":
                export_grades(run)
                print(f"rewrote {run.out / 'grades.csv'} and {run.out / 'tests.csv'} from the "
                      "gradebook; `python -m autograder report` updates lms_grades.csv")
            elif args.command == "feedback":
                pages = regenerate_feedback(run, args.assignments)
                print(f"rendered {pages} feedback pages again in {run.out / 'feedback'}")
            else:
                return _formgrader(run, args)
        elif args.command == "student-repo":
            from .release import write_student_repo

            print(f"student release committed in {write_student_repo(args.dest)}")
        elif args.command == "hub-course":
            from .handback import write_hub_course

            config = write_hub_course(args.dest, args.owner, args.source, args.release)
            print(f"course laid out in {args.dest.resolve()}; settings in {config}")
        elif args.command == "demo":
            print("1/3 building the student release in notebooks/ ...", flush=True)
            build_release()
            sample = args.out / "sample_class"
            print(f"2/3 writing the sample class to {sample} ...", flush=True)
            build_sample_class(sample, replace=True)
            problem = sandbox_problem()
            if problem:
                # the sample class is the course's own synthetic code, safe to run as is
                print(f"WARNING: grading the sample class without a sandbox: {problem}")
            grades = args.out / "grades"
            if grades.exists():
                # a demo's earlier grades: the course may have changed since, and a
                # gradebook of the old notebooks cannot take the new ones (see release.py)
                print(f"    (replacing the earlier demo's grades in {grades})", flush=True)
                shutil.rmtree(grades)
            print("3/3 grading the sample class ...", flush=True)
            results = grade_class(sample, grades, progress=ProgressBar(),
                                  options=GradingOptions(
                                      sandbox=SandboxPolicy(enabled=problem is None)))
            print()
            print(format_table(results))
            report = write_report(args.out / "grades")
            print(f"\nCSV files and feedback: {args.out / 'grades'}\nclass report: {report}")
    except (GradingError, ReleaseError, ReportError, SampleClassError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _formgrader(run, args) -> int:
    """Start JupyterLab in the run's folder, with formgrader on the run (never returns)."""
    from .handback import write_formgrader_config

    write_formgrader_config(run)
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--ip={args.ip}",
               f"--port={args.port}", "--port-retries=0", f"--ServerApp.root_dir={run.out}"]
    if args.token is not None:
        command.append(f"--IdentityProvider.token={args.token}")
    if os.geteuid() == 0:
        command.append("--allow-root")
    print(f"formgrader on {run.out}: open http://{args.ip}:{args.port}/formgrader "
          "(Manual Grading), then `python -m autograder export` and `feedback`", flush=True)
    os.chdir(run.out)  # nbgrader reads OUT/nbgrader_config.py from the server's folder
    os.execv(sys.executable, command)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
