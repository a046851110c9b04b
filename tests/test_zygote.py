"""Kernels forked from a preloaded template: each student still starts from a clean slate.

One worker grades two students in turn from the same template (``autograder.zygote``):
the first leaves files in every writable place it has, a background process, and
tries to signal the template; the second looks for all of it. Runs as root only,
where the grader uses the template.
"""

from __future__ import annotations

import os
import signal

import nbformat
import psutil
import pytest
from conftest import NOTEBOOKS, SOLUTIONS, notebook_path

from autograder.grading import GradingOptions, grade_class
from autograder.job import GradingJob
from autograder.policy import SandboxPolicy
from autograder.sample_class import fill_release
from autograder.sandbox import sandbox_problem
from autograder.worker import GradingWorker

ASSIGNMENT = "01_definition"
MARKER = "kl-zygote-trace"

pytestmark = pytest.mark.skipif(
    sandbox_problem() is not None or os.geteuid() != 0,
    reason="kernels are forked from a template only when grading as root with a sandbox")

REFERENCE_KL = (
    "import math\n"
    "def kl_divergence(p, q):\n"
    "    return sum(pi * math.log(pi / qi) for pi, qi in zip(p, q) if pi > 0)\n"
)

LEAVE_TRACES = REFERENCE_KL + f"""
import os, signal, subprocess, sys
import numpy as np
for place in ('/tmp/{MARKER}', '/dev/shm/{MARKER}', '{MARKER}'):
    with open(place, 'w') as fh:
        fh.write('left by the first student')
background = subprocess.Popen(
    [sys.executable, '-c', 'import time; time.sleep(120)  # {MARKER}'], start_new_session=True)
# the template and bwrap run as root: this kernel may signal only itself and its child
mine = {{int(tid) for tid in os.listdir('/proc/self/task')}} | {{background.pid}}
signalled = []
for pid in range(1, 50):
    if pid in mine:
        continue
    try:
        os.kill(pid, 0)
        signalled.append(pid)
    except (PermissionError, ProcessLookupError):
        pass
print('SIGNALLED', signalled)
print('RANDOM', np.random.random())
"""

LOOK_FOR_TRACES = REFERENCE_KL + f"""
import os
import numpy as np
found = [place for place in ('/tmp/{MARKER}', '/dev/shm/{MARKER}', '{MARKER}')
         if os.path.exists(place)]
for pid in os.listdir('/proc'):
    if pid.isdigit():
        try:
            with open(f'/proc/{{pid}}/cmdline', 'rb') as fh:
                if b'{MARKER}' in fh.read():
                    found.append('process ' + pid)
        except OSError:
            pass
print('FOUND', found)
print('RANDOM', np.random.random())
import gc
print('GC', gc.isenabled(), gc.get_freeze_count() > 0)
"""


def _printed(out, student: str) -> str:
    path = notebook_path(out / "nbgrader" / "autograded" / student, ASSIGNMENT)
    nb = nbformat.read(path, as_version=4)
    return "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", [])
                   if o.get("output_type") == "stream")


def _line(text: str, prefix: str) -> str:
    lines = [line for line in text.splitlines() if line.startswith(prefix)]
    assert lines, f"no line starting with {prefix!r} in:\n{text}"
    return lines[-1]


@pytest.fixture(scope="module")
def two_in_turn(tmp_path_factory):
    root = tmp_path_factory.mktemp("zygote")
    release_nb = nbformat.read(notebook_path(NOTEBOOKS, ASSIGNMENT), as_version=4)
    source_nb = nbformat.read(notebook_path(SOLUTIONS, ASSIGNMENT), as_version=4)
    # student folders are graded in sorted order; one worker grades both in turn
    for student, code in (("a_leaves_traces", LEAVE_TRACES), ("b_looks_for_traces",
                                                             LOOK_FOR_TRACES)):
        path = notebook_path(root / "submissions" / student, ASSIGNMENT)
        path.parent.mkdir(parents=True)
        nbformat.write(fill_release(release_nb, source_nb, {"kl_divergence": code}), path)
    results = grade_class(root / "submissions", root / "out", assignments=[ASSIGNMENT],
                          options=GradingOptions(cell_timeout=10, workers=1))
    return {"results": {r.student_id: r for r in results}, "out": root / "out"}


def test_both_students_are_graded(two_in_turn):
    for result in two_in_turn["results"].values():
        assert result.status == "graded", result.message


def test_nothing_of_the_previous_student_is_left(two_in_turn):
    found = _line(_printed(two_in_turn["out"], "b_looks_for_traces"), "FOUND")
    assert found == "FOUND []"


def test_the_first_student_wrote_its_traces(two_in_turn):
    # the check above means something only if the traces were really left
    text = _printed(two_in_turn["out"], "a_leaves_traces")
    assert "Traceback" not in text
    assert "SIGNALLED" in text


def test_student_code_cannot_signal_the_template(two_in_turn):
    signalled = _line(_printed(two_in_turn["out"], "a_leaves_traces"), "SIGNALLED")
    assert signalled == "SIGNALLED []"


def test_each_kernel_draws_its_own_random_numbers(two_in_turn):
    first = _line(_printed(two_in_turn["out"], "a_leaves_traces"), "RANDOM")
    second = _line(_printed(two_in_turn["out"], "b_looks_for_traces"), "RANDOM")
    assert first != second


def test_the_collector_runs_and_skips_the_templates_objects(two_in_turn):
    """The kernel collects its own garbage; what it inherited from the template is frozen."""
    assert _line(_printed(two_in_turn["out"], "b_looks_for_traces"), "GC") == "GC True True"


def test_background_processes_do_not_outlive_grading(two_in_turn):
    leftovers = []
    for proc in psutil.process_iter(["cmdline"]):
        if MARKER in " ".join(proc.info["cmdline"] or []):
            leftovers.append(proc.pid)
    assert leftovers == []


def test_a_dead_template_is_replaced():
    """The worker starts a new template when its template has died."""
    grader = GradingWorker(slot=7)
    try:
        first = grader._running_zygote()
        assert first.warm_up_failures == ()  # the first figure was drawn in the sandbox
        os.kill(first.pid, signal.SIGKILL)
        psutil.Process(first.pid).wait(timeout=10)
        second = grader._running_zygote()
        assert second is not first and second.alive()
    finally:
        grader.close()


def test_a_failed_warm_up_is_reported_not_fatal(monkeypatch):
    """A warm-up that raises is named in the result; the others still run."""
    from autograder.inside import warm_up

    ran = []

    def broken():
        raise RuntimeError("no fonts")

    monkeypatch.setattr(warm_up, "WARM_UPS", (broken, lambda: ran.append(True)))
    assert warm_up.run_all() == ["broken: RuntimeError: no fonts"]
    assert ran == [True]


def test_the_template_is_a_choice_of_the_job(tmp_path):
    """A job with kernel_template=False (``grade --fresh-kernels``) never uses the template."""
    job = GradingJob("s", "a", paths=None, db_url="", max_score=1.0, cell_timeout=1,
                     notebook_timeout=1, sandbox=SandboxPolicy(kernel_template=False))
    assert not GradingWorker._uses_template(job.sandbox)
    assert GradingWorker._uses_template(GradingJob("s", "a", None, "", 1.0, 1, 1).sandbox)
    assert not GradingWorker._uses_template(SandboxPolicy(enabled=False))


def test_fresh_kernels_are_still_available(tmp_path):
    """--fresh-kernels (and grading without root) starts each kernel afresh: same grades."""
    release_nb = nbformat.read(notebook_path(NOTEBOOKS, ASSIGNMENT), as_version=4)
    source_nb = nbformat.read(notebook_path(SOLUTIONS, ASSIGNMENT), as_version=4)
    path = notebook_path(tmp_path / "submissions" / "fresh", ASSIGNMENT)
    path.parent.mkdir(parents=True)
    nbformat.write(fill_release(release_nb, source_nb, {"kl_divergence": LOOK_FOR_TRACES}),
                   path)
    [result] = grade_class(tmp_path / "submissions", tmp_path / "out",
                           assignments=[ASSIGNMENT],
                           options=GradingOptions(cell_timeout=10, workers=1,
                                                  sandbox=SandboxPolicy(kernel_template=False)))
    assert result.status == "graded", result.message
    printed = _printed(tmp_path / "out", "fresh")
    assert _line(printed, "FOUND") == "FOUND []"
    # the student's own function is graded in a fresh kernel as in a forked one
    assert any(t.grade_id.startswith("ex2_") and t.score == t.max_score for t in result.tests)


def test_clearing_tmp_spares_only_the_mounts_and_their_folders(tmp_path):
    """A forked kernel's /tmp loses all a student left; mounted course folders stay."""
    from autograder.inside.zygote import clear_folder

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("not under the cleared folder")
    root = tmp_path / "tmp"
    mounted = root / "checkout" / ".venv"
    mounted.mkdir(parents=True)
    (mounted / "python").write_text("a mounted file")
    (root / "checkout" / "left.txt").write_text("left beside the mount")
    (root / "trace").write_text("left by a student")
    (root / "deep" / "er").mkdir(parents=True)
    (root / "deep" / "er" / "x").write_text("nested")
    (root / "link").symlink_to(outside, target_is_directory=True)
    clear_folder(str(root), {str(mounted)})
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*")) == [
        "checkout", "checkout/.venv", "checkout/.venv/python"]
    assert (outside / "keep.txt").exists()  # the link was removed, not followed
