"""The bundled sample class: synthetic students that exercise every grading outcome.

Each student is built from the student release: the solution cells are filled
in from ``solutions/`` (what a perfect student writes), then a student's own
answers replace some of them. Answers are keyed by the name a solution cell
defines (``kl_divergence``, ``kl_hand``), so they survive edits to prose and ids.

Students (each hands in every assignment; a mistake shows where an assignment has
room for it, see ``MISTAKES``):

``full_marks``      every solution filled in
``swapped_pq``      computes D(Q||P) instead of D(P||Q)
``log2_units``      uses log base 2 (bits) where the exercises ask for nats
``zeros_unhandled`` evaluates 0*log(0) as NaN
``blank``           hands in the release unchanged
``broken_json``     a notebook file cut off in the middle (invalid JSON)
``no_submission``   a folder without the notebook
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import nbformat

from .config import REPO_ROOT, list_assignments
from .release import build_release


class SampleClassError(RuntimeError):
    """The sample class cannot be written (destination not empty, source changed)."""


_DEFINES = re.compile(r"^(?:def\s+(\w+)\s*\(|(\w+)\s*=)", re.MULTILINE)

# notebook 02's mc_kl_estimate up to the draws, as the exercise prescribes them
_MC_DRAWS_02 = (
    "def mc_kl_estimate(p, q, n_samples, seed):\n"
    "    p = np.asarray(p, dtype=float)\n"
    "    q = np.asarray(q, dtype=float)\n"
    "    rng = np.random.default_rng(seed)\n"
    "    outcomes = rng.choice(len(p), size=n_samples, p=p)\n"
)
_VALIDATION_04 = (
    "    p = np.asarray(p, dtype=float)\n"
    "    q = np.asarray(q, dtype=float)\n"
    "    if p.shape != q.shape:\n"
    "        raise ValueError(f'p and q have different shapes {p.shape} and {q.shape}')\n"
    "    if np.any(p < 0) or np.any(q < 0):\n"
    "        raise ValueError('p and q must not have negative entries')\n"
    "    if np.any(np.abs(np.sum(p, axis=axis) - 1) > 1e-6) or np.any(\n"
    "            np.abs(np.sum(q, axis=axis) - 1) > 1e-6):\n"
    "        raise ValueError('p and q must sum to 1 along axis')\n"
)
def _validated_kl_04(body: str) -> str:
    """A notebook-04 ``kl_divergence`` that validates its input, then runs ``body``.

    ``body`` sets ``result`` (nats, reduced along ``axis``); the rest converts the units
    and the return type as a correct answer would.
    """
    return ("def kl_divergence(p, q, base=None, axis=-1):\n" + _VALIDATION_04 + body
            + "    if base is not None:\n"
            "        result = result / np.log(base)\n"
            "    return float(result) if result.ndim == 0 else result\n")


_LOG_SOFTMAX_04 = (
    "    def my_log_softmax(z):\n"
    "        z = np.asarray(z, dtype=float)\n"
    "        z = z - np.max(z, axis=-1, keepdims=True)\n"
    "        return z - np.log(np.sum(np.exp(z), axis=-1, keepdims=True))\n"
    "    log_p, log_q = my_log_softmax(logits_p), my_log_softmax(logits_q)\n"
)

# What the typical mistakes look like in code, per assignment and defined name.
MISTAKES: dict[str, dict[str, dict[str, str]]] = {
    "01_definition": {
        "swapped_pq": {
            "kl_hand": (
                "# I summed Q(i) * log(Q(i) / P(i)) by mistake\n"
                "kl_hand = 0.5 * np.log(0.5 / 0.7) + 0.25 * np.log(0.25 / 0.2)"
                " + 0.25 * np.log(0.25 / 0.1)\n"
            ),
            "kl_divergence": (
                "def kl_divergence(p, q):\n"
                "    p = np.asarray(p, dtype=float)\n"
                "    q = np.asarray(q, dtype=float)\n"
                "    # weights by q and divides by p: this is D(Q||P)\n"
                "    if np.any((q > 0) & (p == 0)):\n"
                "        return float('inf')\n"
                "    mask = q > 0\n"
                "    return float(np.sum(q[mask] * np.log(q[mask] / p[mask])))\n"
            ),
        },
        "log2_units": {
            "kl_hand": (
                "kl_hand = 0.7 * np.log2(0.7 / 0.5) + 0.2 * np.log2(0.2 / 0.25)"
                " + 0.1 * np.log2(0.1 / 0.25)\n"
            ),
            "kl_divergence": (
                "def kl_divergence(p, q):\n"
                "    p = np.asarray(p, dtype=float)\n"
                "    q = np.asarray(q, dtype=float)\n"
                "    if np.any((p > 0) & (q == 0)):\n"
                "        return float('inf')\n"
                "    mask = p > 0\n"
                "    return float(np.sum(p[mask] * np.log2(p[mask] / q[mask])))\n"
            ),
        },
        "zeros_unhandled": {
            "kl_divergence": (
                "def kl_divergence(p, q):\n"
                "    p = np.asarray(p, dtype=float)\n"
                "    q = np.asarray(q, dtype=float)\n"
                "    return float(np.sum(p * np.log(p / q)))\n"
            ),
        },
    },
    "02_terms": {
        "swapped_pq": {
            "kl_terms": (
                "def kl_terms(p, q):\n"
                "    p = np.asarray(p, dtype=float)\n"
                "    q = np.asarray(q, dtype=float)\n"
                "    # weights by q and divides by p: these are the terms of D(Q||P)\n"
                "    terms = np.zeros(p.shape)\n"
                "    terms[(q > 0) & (p == 0)] = np.inf\n"
                "    both = (p > 0) & (q > 0)\n"
                "    terms[both] = q[both] * np.log(q[both] / p[both])\n"
                "    return terms\n"
            ),
            "kl_in_base": (
                "def kl_in_base(p, q, base=None):\n"
                "    p = np.asarray(p, dtype=float)\n"
                "    q = np.asarray(q, dtype=float)\n"
                "    mask = q > 0\n"
                "    if np.any(p[mask] == 0):\n"
                "        return math.inf\n"
                "    nats = float(np.sum(q[mask] * np.log(q[mask] / p[mask])))\n"
                "    return nats if base is None else nats / math.log(base)\n"
            ),
        },
        "log2_units": {
            "kl_terms": (
                "def kl_terms(p, q):\n"
                "    p = np.asarray(p, dtype=float)\n"
                "    q = np.asarray(q, dtype=float)\n"
                "    terms = np.zeros(p.shape)\n"
                "    terms[(p > 0) & (q == 0)] = np.inf\n"
                "    both = (p > 0) & (q > 0)\n"
                "    terms[both] = p[both] * np.log2(p[both] / q[both])\n"
                "    return terms\n"
            ),
            "mc_kl_estimate": (
                _MC_DRAWS_02 +
                "    with np.errstate(divide='ignore'):\n"
                "        return float(np.mean(np.log2(p[outcomes]) - np.log2(q[outcomes])))\n"
            ),
        },
        "zeros_unhandled": {
            "kl_terms": (
                "def kl_terms(p, q):\n"
                "    p = np.asarray(p, dtype=float)\n"
                "    q = np.asarray(q, dtype=float)\n"
                "    return p * np.log(p / q)\n"
            ),
            "mc_kl_estimate": (
                _MC_DRAWS_02 +
                "    # 'protects' against log(0) with an epsilon: q = 0 no longer gives +inf\n"
                "    eps = 1e-12\n"
                "    return float(np.mean(np.log(p[outcomes] + eps)"
                " - np.log(q[outcomes] + eps)))\n"
            ),
        },
    },
    "04_implementation": {
        "swapped_pq": {
            "kl_divergence": _validated_kl_04(
                "    # weights by q and divides by p: this is D(Q||P)\n"
                "    with np.errstate(divide='ignore', invalid='ignore'):\n"
                "        terms = np.where(q > 0, q * (np.log(q) - np.log(p)), 0.0)\n"
                "    result = np.sum(terms, axis=axis)\n"),
            "kl_from_logits": (
                "def kl_from_logits(logits_p, logits_q):\n" + _LOG_SOFTMAX_04 +
                "    # D(Q||P) by mistake\n"
                "    result = np.sum(np.exp(log_q) * (log_q - log_p), axis=-1)\n"
                "    return float(result) if result.ndim == 0 else result\n"
            ),
        },
        "log2_units": {
            "kl_divergence": _validated_kl_04(
                "    with np.errstate(divide='ignore', invalid='ignore'):\n"
                "        terms = np.where(p > 0, p * (np.log2(p) - np.log2(q)), 0.0)\n"
                "    result = np.sum(terms, axis=axis)\n"),
            "entropy": (
                "def entropy(p, base=None):\n"
                "    p = np.asarray(p, dtype=float)\n"
                "    p = p[p > 0]\n"
                "    value = -float(np.sum(p * np.log2(p)))\n"
                "    return value if base is None else value / math.log(base)\n"
            ),
        },
        "zeros_unhandled": {
            "kl_divergence": _validated_kl_04(
                "    # 0 * log(0 / q) evaluates to nan here\n"
                "    result = np.sum(p * np.log(p / q), axis=axis)\n"),
            "entropy": (
                "def entropy(p, base=None):\n"
                "    p = np.asarray(p, dtype=float)\n"
                "    value = -float(np.sum(p * np.log(p)))\n"
                "    return value if base is None else value / math.log(base)\n"
            ),
        },
    },
    "05_rl": {
        "swapped_pq": {
            "ppo_kl_penalty": (
                "def ppo_kl_penalty(pi_old, pi_new, actions, advantages, beta):\n"
                "    pi_old = np.asarray(pi_old, dtype=float)\n"
                "    pi_new = np.asarray(pi_new, dtype=float)\n"
                "    rows = np.arange(pi_old.shape[0])\n"
                "    ratio = pi_new[rows, actions] / pi_old[rows, actions]\n"
                "    # KL(pi_new || pi_old): the new policy first, by mistake\n"
                "    kl = np.sum(pi_new * np.log(pi_new / pi_old), axis=1)\n"
                "    return float(np.mean(ratio * np.asarray(advantages) - beta * kl))\n"
            ),
        },
    },
    "06_applications": {
        "swapped_pq": {
            "distillation_loss": (
                "def distillation_loss(student_logits, teacher_logits, labels, temperature,\n"
                "                      alpha):\n"
                "    def log_softmax(z):\n"
                "        z = np.asarray(z, dtype=float)\n"
                "        z = z - z.max(axis=-1, keepdims=True)\n"
                "        return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))\n"
                "    t = float(temperature)\n"
                "    log_s = log_softmax(np.asarray(student_logits) / t)\n"
                "    log_t = log_softmax(np.asarray(teacher_logits) / t)\n"
                "    # KL(student || teacher): the student first, by mistake\n"
                "    soft = np.sum(np.exp(log_s) * (log_s - log_t), axis=-1)\n"
                "    hard = -log_softmax(student_logits)[np.arange(len(labels)), labels]\n"
                "    return float(np.mean(alpha * t**2 * soft + (1 - alpha) * hard))\n"
            ),
        },
    },
    "07_quiz": {
        "swapped_pq": {
            # the source quiz's own answer to its symmetry question
            "answer_q2": 'answer_q2 = "B"\n',
        },
        "log2_units": {
            "answer_q5": (
                "P_q5 = np.array([0.5, 0.25, 0.25])\n"
                "Q_q5 = np.array([0.25, 0.25, 0.5])\n"
                "answer_q5 = float(np.sum(P_q5 * np.log(P_q5 / Q_q5)))  # nats, not bits\n"
            ),
        },
    },
}

FULL, BLANK, BROKEN, MISSING = "full_marks", "blank", "broken_json", "no_submission"
MISTAKE_STUDENTS = sorted({student for by_student in MISTAKES.values() for student in by_student})


def defined_names(source: str) -> set[str]:
    """Top-level names a code cell defines with ``def`` or assignment."""
    return {a or b for a, b in _DEFINES.findall(source)}


def strip_solution_markers(source: str) -> str:
    """The model answer of a solution cell, without nbgrader's delimiter lines."""
    keep = [line for line in source.splitlines()
            if "BEGIN SOLUTION" not in line and "END SOLUTION" not in line]
    return "\n".join(keep)


def _is_solution(cell) -> bool:
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("solution"))


def fill_release(release_nb, source_nb, answers: dict[str, str] | None = None):
    """Copy ``release_nb`` with solution cells answered.

    Solution cells take the model answer from ``source_nb`` (matched by grade_id);
    a code cell that defines a name in ``answers`` takes that answer instead.
    """
    answers = answers or {}
    models = {c.metadata.nbgrader["grade_id"]: c.source for c in source_nb.cells
              if _is_solution(c)}
    filled = nbformat.from_dict(release_nb)
    used = set()
    for cell in filled.cells:
        if not _is_solution(cell):
            continue
        model = strip_solution_markers(models[cell.metadata.nbgrader["grade_id"]])
        cell.source = model
        if cell.cell_type == "code":
            for name in defined_names(model) & answers.keys():
                cell.source = answers[name]
                used.add(name)
    unused = answers.keys() - used
    if unused:
        raise SampleClassError(
            f"no solution cell defines {sorted(unused)}: update MISTAKES in {__name__}")
    return filled


def build_sample_class(dest: Path, *, replace: bool = False, repo: Path = REPO_ROOT) -> Path:
    """Write the sample class to ``dest`` as ``<student>/<assignment>/<notebook>.ipynb``.

    ``dest`` must be new or empty unless ``replace`` is true (then it is deleted first).
    """
    dest = Path(dest).resolve()
    if dest.exists() and any(dest.iterdir()):
        if not replace:
            raise SampleClassError(f"{dest} is not empty; choose a new folder")
        shutil.rmtree(dest)
    with tempfile.TemporaryDirectory(prefix="kl-sample-") as tmp:
        release = build_release(Path(tmp) / "release", repo=repo)
        for assignment in list_assignments(repo / "solutions"):
            name = f"{assignment}.ipynb"
            release_nb = nbformat.read(release / assignment / name, as_version=4)
            source_nb = nbformat.read(repo / "solutions" / assignment / name, as_version=4)
            students = {FULL: fill_release(release_nb, source_nb), BLANK: release_nb}
            # a student with a typical mistake hands in every assignment: the mistake where
            # the assignment gives room for it, the model answers elsewhere
            for student in MISTAKE_STUDENTS:
                answers = MISTAKES.get(assignment, {}).get(student, {})
                students[student] = fill_release(release_nb, source_nb, answers)
            for student, notebook in students.items():
                folder = dest / student / assignment
                folder.mkdir(parents=True, exist_ok=True)
                nbformat.write(notebook, folder / name)
            broken = nbformat.writes(students[FULL])
            (dest / BROKEN / assignment).mkdir(parents=True, exist_ok=True)
            (dest / BROKEN / assignment / name).write_text(broken[: len(broken) // 2])
            # a student who handed in notes but not the notebook
            (dest / MISSING / assignment).mkdir(parents=True, exist_ok=True)
            (dest / MISSING / assignment / "notes.txt").write_text("I ran out of time.\n")
    return dest
