"""The grading policy in one place: what student code may use, and how much of it.

- ``SandboxLimits``: the resources of one student kernel;
- ``SandboxPolicy``: whether kernels are sandboxed, forked from a preloaded template,
  and with which limits (``python -m autograder grade`` sets it from its flags);
- ``COURSE_LIBRARIES``: the libraries of the course. Each is importable in the sandbox,
  usable by a test through a name the notebook imported (``np``, ``stats``), and, when
  listed with ``preload=True``, imported once by the kernel template before any fork;
- the default timeouts and the first sandbox uid.

See the README, "Adding a library to the course".
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Seconds one cell may run before nbgrader interrupts it
DEFAULT_CELL_TIMEOUT = 30

#: Seconds one whole notebook may take (kernel start included) before it is killed
DEFAULT_NOTEBOOK_TIMEOUT = 300

#: First uid used for sandboxed kernels when grading as root; worker slot i uses BASE + i
SANDBOX_UID_BASE = 61000


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits of one student kernel (see ``setrlimit(2)``)."""

    memory_bytes: int = 3 * 1024**3  # RLIMIT_AS: numpy + scipy + matplotlib need ~1 GiB
    max_processes: int = 64  # RLIMIT_NPROC: stops fork bombs
    max_file_bytes: int = 64 * 1024**2  # RLIMIT_FSIZE: no file larger than this

    def __post_init__(self) -> None:
        for name in ("memory_bytes", "max_processes", "max_file_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"sandbox limit {name} must be a positive whole number, "
                                 f"not {value!r}")


@dataclass(frozen=True)
class SandboxPolicy:
    """How student kernels run.

    ``enabled=False`` runs student code without a sandbox (``--unsafe``: trusted
    notebooks only). ``kernel_template`` forks each kernel from a preloaded template
    process when grading as root (``autograder.zygote``); without root, or with
    ``kernel_template=False`` (``--fresh-kernels``), every kernel starts afresh in a
    sandbox of its own.
    """

    enabled: bool = True
    kernel_template: bool = True
    limits: SandboxLimits = field(default_factory=SandboxLimits)


@dataclass(frozen=True)
class CourseLibrary:
    """A library students may import: its top-level module and what the grader does with it."""

    module: str
    #: modules the kernel template imports before it forks (a notebook's first cell)
    preload: tuple[str, ...] = ()


#: The libraries of the course (the standard-library modules below are always usable).
#: ``kl_helpers`` is the course's own; never pyplot in ``preload``: its backend must be
#: chosen inside the kernel, after ipykernel has set up inline figures.
COURSE_LIBRARIES = (
    CourseLibrary("numpy", ("numpy",)),
    CourseLibrary("scipy", ("scipy", "scipy.special", "scipy.stats", "scipy.integrate",
                            "scipy.optimize")),
    CourseLibrary("matplotlib", ("matplotlib", "matplotlib.figure", "matplotlib.colors")),
    CourseLibrary("kl_helpers", ("kl_helpers",)),
    # the sliders (kl_helpers.interactive); not preloaded: only three cells of the course
    # build widgets, and in a graded kernel they draw nothing that is graded
    CourseLibrary("ipywidgets"),
)

#: Standard-library modules a test may use through a name the notebook imported
STANDARD_MODULES = ("math", "cmath", "statistics", "random", "fractions", "decimal",
                    "itertools", "functools", "collections", "operator", "json", "re")

#: Packages a test may use through a name the notebook imported (``np``, ``math``). Only
#: these are imported by the grader: a module name chosen by the student could otherwise
#: run the student's own files inside the grader (its working folder is on ``sys.path``).
ALLOWED_MODULE_ROOTS = frozenset({*STANDARD_MODULES,
                                  *(library.module for library in COURSE_LIBRARIES)})

#: The kernel machinery the template imports before the course libraries
#: (``ipykernel.debugger`` pulls in debugpy: 70 ms of every kernel's start-up otherwise)
KERNEL_PRELOAD = ("ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.debugger", "IPython",
                  "zmq")

#: Everything the kernel template imports before any fork, in order
PRELOAD = (*KERNEL_PRELOAD, *(name for library in COURSE_LIBRARIES for name in library.preload))

#: System folders the sandbox mounts read-only (besides Python and its virtualenv)
SYSTEM_FOLDERS = ("/usr", "/lib", "/lib32", "/lib64", "/bin", "/sbin", "/etc")

#: The course's own packages, mounted read-only wherever they are installed (the
#: virtualenv's site-packages holds everything else students may import)
MOUNTED_PACKAGES = ("kl_helpers", "autograder")
