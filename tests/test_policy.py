"""The grading policy: its limits reach every student kernel, its libraries every notebook."""

from __future__ import annotations

import ast
import json
import os
import sys

import nbformat
import pytest
from conftest import NOTEBOOKS, SOLUTIONS, notebook_path

from autograder.__main__ import main
from autograder.policy import (
    ALLOWED_MODULE_ROOTS,
    COURSE_LIBRARIES,
    PRELOAD,
    SandboxLimits,
)
from autograder.sample_class import fill_release
from autograder.sandbox import sandbox_problem

ASSIGNMENT = "01_definition"

# the student's answer prints the limits its kernel runs under, then answers correctly
REPORT_LIMITS = (
    "import resource\n"
    "print('LIMITS', resource.getrlimit(resource.RLIMIT_AS)[0],\n"
    "      resource.getrlimit(resource.RLIMIT_NPROC)[0],\n"
    "      resource.getrlimit(resource.RLIMIT_FSIZE)[0])\n"
    "import math\n"
    "def kl_divergence(p, q):\n"
    "    return sum(pi * math.log(pi / qi) for pi, qi in zip(p, q) if pi > 0)\n"
)


def _notebook_imports() -> set[str]:
    """Top-level modules imported anywhere in the course's notebooks."""
    roots = set()
    for assignment_dir in sorted(SOLUTIONS.iterdir()):
        for path in assignment_dir.glob("*.ipynb"):
            for cell in nbformat.read(path, as_version=4).cells:
                if cell.cell_type != "code":
                    continue
                source = "\n".join(line for line in cell.source.splitlines()
                                   if not line.lstrip().startswith(("%", "!")))
                for node in ast.walk(ast.parse(source)):
                    if isinstance(node, ast.Import):
                        roots.update(alias.name.split(".")[0] for alias in node.names)
                    elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                        roots.add(node.module.split(".")[0])
    return roots


def test_every_library_a_notebook_imports_is_a_course_library_or_standard():
    """A notebook importing a library the policy does not list would break its tests."""
    third_party = {root for root in _notebook_imports() if root not in sys.stdlib_module_names}
    assert third_party <= ALLOWED_MODULE_ROOTS, third_party - ALLOWED_MODULE_ROOTS
    assert {library.module for library in COURSE_LIBRARIES} <= ALLOWED_MODULE_ROOTS


def test_the_template_preloads_each_course_library_before_any_fork():
    """The kernel machinery first, then every library's preload list; never pyplot."""
    assert PRELOAD[:2] == ("ipykernel.kernelapp", "ipykernel.ipkernel")
    for library in COURSE_LIBRARIES:
        assert set(library.preload) <= set(PRELOAD)
    assert not any("pyplot" in name for name in PRELOAD)


@pytest.mark.parametrize("field", ["memory_bytes", "max_processes", "max_file_bytes"])
@pytest.mark.parametrize("bad", [0, -5, 2.5, True, "64"])
def test_a_bad_limit_is_refused_by_name(field, bad):
    """A limit that is not a positive whole number is refused, naming the limit."""
    with pytest.raises(ValueError, match=field):
        SandboxLimits(**{field: bad})


@pytest.mark.skipif(sandbox_problem() is not None, reason="needs bubblewrap")
@pytest.mark.parametrize("fresh", [False, True], ids=["template", "fresh-kernel"])
def test_the_grade_flags_set_the_limits_of_the_kernel(tmp_path, fresh):
    """--memory-mb, --max-processes and --max-file-mb reach the kernel; run.json says so."""
    release_nb = nbformat.read(notebook_path(NOTEBOOKS, ASSIGNMENT), as_version=4)
    source_nb = nbformat.read(notebook_path(SOLUTIONS, ASSIGNMENT), as_version=4)
    path = notebook_path(tmp_path / "subs" / "ada", ASSIGNMENT)
    path.parent.mkdir(parents=True)
    nbformat.write(fill_release(release_nb, source_nb, {"kl_divergence": REPORT_LIMITS}), path)
    out = tmp_path / "out"
    argv = ["grade", str(tmp_path / "subs"), "--out", str(out), "--assignment", ASSIGNMENT,
            "--workers", "1", "--memory-mb", "2500", "--max-processes", "48",
            "--max-file-mb", "8"]
    assert main(argv + (["--fresh-kernels"] if fresh else [])) == 0

    autograded = nbformat.read(notebook_path(out / "nbgrader" / "autograded" / "ada",
                                             ASSIGNMENT), as_version=4)
    printed = "".join(o.get("text", "") for c in autograded.cells
                      for o in c.get("outputs", []) if o.get("output_type") == "stream")
    [line] = [line for line in printed.splitlines() if line.startswith("LIMITS")]
    memory, processes, file_size = (int(word) for word in line.split()[1:])
    assert memory == 2500 * 1024**2 and file_size == 8 * 1024**2
    # without root the sandbox shares the grader's uid: its processes count on top
    assert processes == 48 if os.geteuid() == 0 else processes >= 48
    run = json.loads((out / "run.json").read_text())
    assert run["limits"] == {"memory_bytes": 2500 * 1024**2, "max_processes": 48,
                             "max_file_bytes": 8 * 1024**2}
    assert run["kernel_template"] is (not fresh)
