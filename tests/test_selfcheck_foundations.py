"""The self-checks of notebooks 01-03 (kl_helpers.selfcheck_foundations).

Correct answers pass however they are written: the model answers, the honest class's three
styles and more implementations written here unlike either (np.vectorize, a grid instead
of quad, quad instead of the grid, single draws in a loop...). Each catalogued mistake,
written as a student would write it, fails with a message that names it and shows the
input, the expected and the received value. No case reuses a graded test's input.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import io
import math
import re
import warnings

import nbformat
import numpy as np
import pytest
from conftest import SOLUTIONS, is_test_cell, notebook_path
from honest import STYLES, load_answers
from scipy import integrate, optimize, special, stats

from kl_helpers import fitting, selfcheck_foundations
from kl_helpers.selfcheck import EXERCISES, GRADED_CHECKS, SelfCheckFailed, check, diagnose

FOUNDATIONS = {
    "01_definition": ("gaussian_kl_numeric",),
    "02_terms": ("kl_terms", "kl_in_base", "mc_kl_estimate", "running_kl_estimate"),
    "03_insights": ("kl_gaussian_fit_forward", "kl_gaussian_fit_reverse", "fit_forward",
                    "fit_reverse"),
}
EXERCISE_NAMES = [name for names in FOUNDATIONS.values() for name in names]
ASSIGNMENT_OF = {name: assignment for assignment, names in FOUNDATIONS.items()
                 for name in names}
# the cells a function's answer needs, in order, by grade_id (03's objectives need the grid,
# 03's fits the objectives, 02's later answers may call kl_terms)
ANSWER_CELLS = {
    "01_definition": ("ex3_gaussian_kl_numeric",),
    "02_terms": ("ex1_kl_terms", "ex2_kl_in_base", "ex3_mc_kl_estimate",
                 "ex3_running_kl_estimate"),
    "03_insights": ("ex2_kl_objectives", "ex3_fits"),
}


def failure(func, **options) -> str:
    with pytest.raises(SelfCheckFailed) as info:
        check(func, **options)
    return str(info.value)


def named(name):
    """Decorator: give a test implementation the exercise's function name."""
    def rename(func):
        func.__name__ = func.__qualname__ = name
        return func
    return rename


# -- the notebooks' own namespaces ------------------------------------------------------------


def _source_notebook(assignment: str):
    return nbformat.read(notebook_path(SOLUTIONS, assignment), as_version=4)


@functools.cache
def _setup_sources(assignment: str) -> tuple[str, ...]:
    """The locked code cells a student's answers run after: setup, and 03's grid."""
    nb = _source_notebook(assignment)
    wanted = {"setup", "ex2-setup"}
    return tuple(cell.source for cell in nb.cells if cell.get("id") in wanted)


def _namespace(assignment: str, answers: dict[str, str]) -> dict:
    """A notebook's setup cells, then the answer cells of ``ANSWER_CELLS``, run in order."""
    namespace: dict = {}
    with contextlib.redirect_stdout(io.StringIO()):
        for source in _setup_sources(assignment):
            exec(source, namespace)
        for grade_id in ANSWER_CELLS[assignment]:
            exec(answers[grade_id], namespace)
    return namespace


@functools.cache
def model_answers(assignment: str) -> dict:
    nb = _source_notebook(assignment)
    answers = {cell.metadata["nbgrader"]["grade_id"]: cell.source for cell in nb.cells
               if cell.metadata.get("nbgrader", {}).get("solution")
               and cell.cell_type == "code"}
    return _namespace(assignment, answers)


@functools.cache
def honest_answers(style: str, assignment: str) -> dict:
    return _namespace(assignment, load_answers(style, assignment))


def notebook_globals(assignment: str) -> dict:
    """What a student's cell sees besides their own code: the imports and the grid."""
    return dict(model_answers(assignment))


# -- correct answers pass -----------------------------------------------------------------------


@pytest.mark.parametrize("name", EXERCISE_NAMES)
def test_the_reference_passes(name, capsys):
    result = check(EXERCISES[name].reference, exercise=name)
    assert result.passed
    assert "passed all" in capsys.readouterr().out


@pytest.mark.parametrize("name", EXERCISE_NAMES)
def test_the_model_answer_passes(name, capsys):
    func = model_answers(ASSIGNMENT_OF[name])[name]
    assert check(func)


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("name", EXERCISE_NAMES)
def test_the_honest_class_passes(name, style, capsys):
    """The honest students' answers (tests/honest_class) pass the self-check too."""
    func = honest_answers(style, ASSIGNMENT_OF[name])[name]
    assert check(func)


def _other_correct_answers() -> dict[str, list]:
    """Correct implementations written unlike the model answers and the honest class."""
    g01 = notebook_globals("01_definition")
    stats_, integrate_ = g01["stats"], g01["integrate"]
    g03 = notebook_globals("03_insights")
    grid, weights, means, sigmas = g03["X_GRID"], g03["WEIGHTS"], g03["MEANS"], g03["SIGMAS"]
    found: dict[str, list] = {name: [] for name in EXERCISE_NAMES}

    def add(func):
        found[func.__name__].append(func)
        return func

    # 01: quad over an np.vectorize'd formula; a fine grid and Simpson's rule; two halves
    @add
    def gaussian_kl_numeric(mu_p, sigma_p, mu_q, sigma_q):
        @np.vectorize
        def integrand(x):
            log_p = -0.5 * ((x - mu_p) / sigma_p) ** 2 - math.log(sigma_p * math.sqrt(2 * math.pi))
            log_q = -0.5 * ((x - mu_q) / sigma_q) ** 2 - math.log(sigma_q * math.sqrt(2 * math.pi))
            return math.exp(log_p) * (log_p - log_q)
        return integrate_.quad(integrand, mu_p - 40 * sigma_p, mu_p + 40 * sigma_p)[0]

    @named("gaussian_kl_numeric")
    def on_a_grid(mu_p, sigma_p, mu_q, sigma_q):
        x = np.linspace(mu_p - 40 * sigma_p, mu_p + 40 * sigma_p, 40_001)
        log_p = stats_.norm.logpdf(x, mu_p, sigma_p)
        log_q = stats_.norm.logpdf(x, mu_q, sigma_q)
        return float(integrate_.simpson(np.exp(log_p) * (log_p - log_q), x=x))

    @named("gaussian_kl_numeric")
    def two_halves(mu_p, sigma_p, mu_q, sigma_q):
        def f(x):
            log_p = stats_.norm.logpdf(x, mu_p, sigma_p)
            return np.exp(log_p) * (log_p - stats_.norm.logpdf(x, mu_q, sigma_q))
        left = integrate_.quad(f, mu_p - 40 * sigma_p, mu_p)[0]
        return left + integrate_.quad(f, mu_p, mu_p + 40 * sigma_p)[0]

    add(on_a_grid)
    add(two_halves)

    # 02: xlogy; np.vectorize; math.log(x, base); draws one at a time; a table of log-ratios
    @add
    def kl_terms(p, q):
        p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
        return special.xlogy(p, p) - special.xlogy(p, q)

    @named("kl_terms")
    @np.vectorize
    def vectorised_terms(p_i, q_i):
        if p_i == 0:
            return 0.0
        return math.inf if q_i == 0 else p_i * math.log(p_i / q_i)

    add(vectorised_terms)

    @add
    def kl_in_base(p, q, base=None):
        total = 0.0
        for p_i, q_i in zip(p, q, strict=True):
            if p_i > 0:
                if q_i == 0:
                    return math.inf
                total += p_i * (math.log(p_i / q_i) if base is None else math.log(p_i / q_i, base))
        return total

    @add
    def mc_kl_estimate(p, q, n_samples, seed):
        rng = np.random.default_rng(seed)
        with np.errstate(divide="ignore", invalid="ignore"):
            table = np.log(np.asarray(p) / np.asarray(q))  # never read where p_i = 0
        draws = [rng.choice(len(p), p=p) for _ in range(n_samples)]  # the same stream
        return float(np.mean(table[draws]))

    @add
    def running_kl_estimate(p, q, n_samples, seed):
        # entry j re-draws the first j + 1 samples: the same values, the same stream
        return np.array([mc_kl_estimate(p, q, j + 1, seed) for j in range(n_samples)])

    # 03: quad instead of the grid, with logaddexp; the fits with an explicit BFGS and arrays
    def log_mixture(x):
        logs = [math.log(w) + stats_.norm.logpdf(x, m, s)
                for w, m, s in zip(weights, means, sigmas, strict=True)]
        return np.logaddexp(*logs)

    @add
    def kl_gaussian_fit_forward(mu, sigma):
        def f(x):
            log_p = log_mixture(x)
            return math.exp(log_p) * (log_p - stats_.norm.logpdf(x, mu, sigma))
        return integrate_.quad(f, grid[0], grid[-1], points=[-3.0, 3.0, mu], limit=200)[0]

    @add
    def kl_gaussian_fit_reverse(mu, sigma):
        # the trapezoid rule written out, on the log-density formula
        log_q = -0.5 * ((grid - mu) / sigma) ** 2 - np.log(sigma) - 0.5 * np.log(2 * np.pi)
        f = np.exp(log_q) * (log_q - log_mixture(grid))
        return float(np.sum(np.diff(grid) * (f[1:] + f[:-1]) / 2))

    objectives = model_answers("03_insights")

    @add
    def fit_forward(mu0, sigma0):
        result = optimize.minimize(
            fun=lambda theta: objectives["kl_gaussian_fit_forward"](theta[0], np.exp(theta[1])),
            x0=np.array([mu0, np.log(sigma0)]))
        return np.array([result.x[0], np.exp(result.x[1])])

    @add
    def fit_reverse(mu0, sigma0):
        def objective(theta):
            mu, log_sigma = theta
            return objectives["kl_gaussian_fit_reverse"](mu, math.exp(log_sigma))
        mu, log_sigma = optimize.minimize(objective, (mu0, math.log(sigma0)), method="BFGS").x
        return (mu, math.exp(log_sigma))

    return found


OTHER_CORRECT = [(name, func) for name, funcs in _other_correct_answers().items()
                 for func in funcs]


@pytest.mark.parametrize("name, func", OTHER_CORRECT,
                         ids=[f"{name}-{i}" for i, (name, _) in enumerate(OTHER_CORRECT)])
def test_correct_answers_written_differently_pass(name, func, capsys):
    assert func.__name__ == name
    assert check(func)


# -- one test per misconception ---------------------------------------------------------------


def _wrong_answers() -> list[tuple[str, str, object]]:
    """(exercise, words the message must contain, a wrong answer as a student writes it)."""
    g = notebook_globals("03_insights")
    stats_, integrate_ = g["stats"], g["integrate"]
    grid, weights, means, sigmas = g["X_GRID"], g["WEIGHTS"], g["MEANS"], g["SIGMAS"]
    wrong: list[tuple[str, str, object]] = []

    def case(words):
        def add(func):
            wrong.append((func.__name__, words, func))
            return func
        return add

    # ---- 01 gaussian_kl_numeric: quad, with one thing wrong each time
    def quad_kl(mu_p, sigma_p, mu_q, sigma_q, *, scale=lambda s: s, window=None,
                weighted=True, log=None):
        def integrand(x):
            log_p = stats_.norm.logpdf(x, mu_p, scale(sigma_p))
            log_q = stats_.norm.logpdf(x, mu_q, scale(sigma_q))
            if log is not None:  # the log of the density, not the log-density
                with np.errstate(all="ignore"):
                    log_p = log(stats_.norm.pdf(x, mu_p, scale(sigma_p)))
                    log_q = log(stats_.norm.pdf(x, mu_q, scale(sigma_q)))
            return (np.exp(log_p) if weighted else 1.0) * (log_p - log_q)
        lower, upper = window or (mu_p - 40 * sigma_p, mu_p + 40 * sigma_p)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # quad's IntegrationWarning: part of the mistake
            return integrate_.quad(integrand, lower, upper)[0]

    @case("computes D(q || p) instead of D(p || q)")
    def gaussian_kl_numeric(mu_p, sigma_p, mu_q, sigma_q):
        return quad_kl(mu_q, sigma_q, mu_p, sigma_p)

    @case("treats sigma as a variance")
    def gaussian_kl_numeric(mu_p, sigma_p, mu_q, sigma_q):  # noqa: F811
        return quad_kl(mu_p, sigma_p, mu_q, sigma_q, scale=np.sqrt)

    @case("squares sigma")
    def gaussian_kl_numeric(mu_p, sigma_p, mu_q, sigma_q):  # noqa: F811
        return quad_kl(mu_p, sigma_p, mu_q, sigma_q, scale=np.square)

    @case("in bits (log base 2)")
    def gaussian_kl_numeric(*args):  # noqa: F811
        return quad_kl(*args) / math.log(2)

    @case("wrong sign")
    def gaussian_kl_numeric(*args):  # noqa: F811
        return -quad_kl(*args)

    @case("forgets the weight p(x)")
    def gaussian_kl_numeric(*args):  # noqa: F811
        return quad_kl(*args, weighted=False)

    @case("over mu_p +/- 5 sigma_p the tails of p are cut off")
    def gaussian_kl_numeric(mu_p, sigma_p, mu_q, sigma_q):  # noqa: F811
        return quad_kl(mu_p, sigma_p, mu_q, sigma_q,
                       window=(mu_p - 5 * sigma_p, mu_p + 5 * sigma_p))

    for k in (4, 6):
        wrong.append(("gaussian_kl_numeric", f"over mu_p +/- {k} sigma_p the tails",
                      named("gaussian_kl_numeric")(
                          lambda mp, sp, mq, sq, k=k: quad_kl(mp, sp, mq, sq,
                                                              window=(mp - k * sp, mp + k * sp)))))

    @case("your integration window follows q")
    def gaussian_kl_numeric(mu_p, sigma_p, mu_q, sigma_q):  # noqa: F811
        return quad_kl(mu_p, sigma_p, mu_q, sigma_q,
                       window=(mu_q - 40 * sigma_q, mu_q + 40 * sigma_q))

    @case("over mu_p +/- 3 sigma_p the tails of p are cut off")
    def gaussian_kl_numeric(mu_p, sigma_p, mu_q, sigma_q):  # noqa: F811
        return quad_kl(mu_p, sigma_p, mu_q, sigma_q,
                       window=(mu_p - 3 * sigma_p, mu_p + 3 * sigma_p))

    @case("a fixed interval, [-10, 10]")
    def gaussian_kl_numeric(*args):  # noqa: F811
        return quad_kl(*args, window=(-10.0, 10.0))

    @case("quad stepped over it")
    def gaussian_kl_numeric(*args):  # noqa: F811
        return quad_kl(*args, window=(-np.inf, np.inf))

    @case("np.log(0.0) = -inf")
    def gaussian_kl_numeric(*args):  # noqa: F811
        return quad_kl(*args, log=np.log)

    @case("the integral is not accurate enough")
    def gaussian_kl_numeric(mu_p, sigma_p, mu_q, sigma_q):  # noqa: F811
        # "5.5 standard deviations hold all the mass": nearly, not to 1e-6
        return quad_kl(mu_p, sigma_p, mu_q, sigma_q,
                       window=(mu_p - 5.5 * sigma_p, mu_p + 5.5 * sigma_p))

    # ---- 02 kl_terms
    def rel(p, q):
        p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
        with np.errstate(all="ignore"):
            return np.where(p > 0, p * (np.log(p) - np.log(q)), 0.0)

    @case("0 * log(0) is 0 * -inf = nan")
    def kl_terms(p, q):  # noqa: F811
        p, q = np.asarray(p), np.asarray(q)
        with np.errstate(all="ignore"):
            return p * np.log(p / q)

    @case("an outcome with p_i = q_i = 0 gave inf")
    def kl_terms(p, q):  # noqa: F811
        p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
        with np.errstate(all="ignore"):
            return np.where(q == 0, np.inf, np.where(p > 0, p * np.log(p / q), 0.0))

    @case("q was clipped by a small epsilon")
    def kl_terms(p, q):  # noqa: F811
        return rel(p, np.maximum(np.asarray(q, dtype=float), 1e-12))

    @case("not their sum")
    def kl_terms(p, q):  # noqa: F811
        return float(np.sum(rel(p, q)))

    @case("the terms of D(Q || P)")
    def kl_terms(p, q):  # noqa: F811
        return rel(q, p)

    @case("in bits (log base 2)")
    def kl_terms(p, q):  # noqa: F811
        return rel(p, q) / np.log(2)

    @case("log base 10")
    def kl_terms(p, q):  # noqa: F811
        return rel(p, q) / np.log(10)

    @case("wrong sign")
    def kl_terms(p, q):  # noqa: F811
        return -rel(p, q)

    @case("forget the weights")
    def kl_terms(p, q):  # noqa: F811
        return np.log(np.asarray(p) / np.asarray(q))

    @case("weighted by q_i")
    def kl_terms(p, q):  # noqa: F811
        return np.asarray(q) * np.log(np.asarray(p) / np.asarray(q))

    @case("cross-entropy terms")
    def kl_terms(p, q):  # noqa: F811
        p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
        with np.errstate(all="ignore"):
            return np.where(p > 0, -p * np.log(q), 0.0)

    # ---- 02 kl_in_base
    def nats(p, q):
        return float(np.sum(rel(p, q)))

    @case("ignores `base`")
    def kl_in_base(p, q, base=None):  # noqa: F811
        return nats(p, q)

    @case("multiplied by ln(base) instead of dividing")
    def kl_in_base(p, q, base=None):  # noqa: F811
        return nats(p, q) if base is None else nats(p, q) * math.log(base)

    @case("divided by the base itself")
    def kl_in_base(p, q, base=None):  # noqa: F811
        return nats(p, q) if base is None else nats(p, q) / base

    @case("divided by log2(base)")
    def kl_in_base(p, q, base=None):  # noqa: F811
        return nats(p, q) if base is None else nats(p, q) / np.log2(base)

    @case("divided by log10(base)")
    def kl_in_base(p, q, base=None):  # noqa: F811
        return nats(p, q) if base is None else nats(p, q) / np.log10(base)

    @case("a small epsilon added to p or q")
    def kl_in_base(p, q, base=None):  # noqa: F811
        value = nats(p, np.asarray(q, dtype=float) + 1e-10)
        return value if base is None else value / math.log(base)

    @case("returns bits when `base` is None")
    def kl_in_base(p, q, base=2):  # noqa: F811
        return nats(p, q) / math.log(base)

    @case("log base 2 and you then divided by ln(base)")
    def kl_in_base(p, q, base=None):  # noqa: F811
        bits = nats(p, q) / math.log(2)
        return bits if base is None else bits / math.log(base)

    @case("the arguments are used the wrong way round")
    def kl_in_base(p, q, base=None):  # noqa: F811
        return nats(q, p) if base is None else nats(q, p) / math.log(base)

    @case("wrong sign")
    def kl_in_base(p, q, base=None):  # noqa: F811
        return -nats(p, q) if base is None else -nats(p, q) / math.log(base)

    @case("terms use log base 10")
    def kl_in_base(p, q, base=None):  # noqa: F811
        value = nats(p, q) / math.log(10)
        return value if base is None else value / math.log(base)

    @case("an outcome with p_i = 0 gave nan")
    def kl_in_base(p, q, base=None):  # noqa: F811
        p, q = np.asarray(p), np.asarray(q)
        with np.errstate(all="ignore"):
            value = float(np.sum(p * np.log(p / q)))
        return value if base is None else value / math.log(base)

    @case("q_i = 0 < p_i must give +inf in any base")
    def kl_in_base(p, q, base=None):  # noqa: F811
        q = np.asarray(q, dtype=float)
        value = nats(p, np.where(q == 0, 1e-10, q))  # "avoid log(0)"
        return value if base is None else value / math.log(base)

    # ---- 02 mc_kl_estimate: the recipe, with one thing changed each time
    def log_ratios(p, q, draws, log=np.log):
        p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            return log(p[draws]) - log(q[draws])

    def recipe(p, n, seed, weights=None):
        return np.random.default_rng(seed).choice(len(p), size=n,
                                                  p=p if weights is None else weights)

    @case("sampled the outcomes from q instead of p")
    def mc_kl_estimate(p, q, n_samples, seed):  # noqa: F811
        return float(np.mean(log_ratios(p, q, recipe(p, n_samples, seed, weights=q))))

    @case("that estimates D(Q || P)")
    def mc_kl_estimate(p, q, n_samples, seed):  # noqa: F811
        return float(np.mean(log_ratios(q, p, recipe(q, n_samples, seed))))

    notebook_rng = np.random.default_rng(20240502)  # the setup cell's generator

    @case("the seed is ignored or used differently")
    def mc_kl_estimate(p, q, n_samples, seed):  # noqa: F811
        draws = notebook_rng.choice(len(p), size=n_samples, p=p)  # seed not used
        return float(np.mean(log_ratios(p, q, draws)))

    @case("the seed is ignored or used differently")
    def mc_kl_estimate(p, q, n_samples, seed):  # noqa: F811
        rng = np.random.default_rng(seed)
        rng.random()  # a draw before the recipe's
        return float(np.mean(log_ratios(p, q, rng.choice(len(p), size=n_samples, p=p))))

    @case("another generator or sampling routine")
    def mc_kl_estimate(p, q, n_samples, seed):  # noqa: F811
        counts = np.random.default_rng(seed).multinomial(n_samples, p)
        table = log_ratios(p, q, np.flatnonzero(counts))
        return float(np.dot(counts[counts > 0], table) / n_samples)

    @case("legacy np.random.seed(seed) and np.random.choice")
    def mc_kl_estimate(p, q, n_samples, seed):  # noqa: F811
        state = np.random.get_state()
        np.random.seed(seed)
        draws = np.random.choice(len(p), n_samples, p=p)
        np.random.set_state(state)  # leave numpy's global generator as other tests expect
        return float(np.mean(log_ratios(p, q, draws)))

    @case("drew the outcomes uniformly")
    def mc_kl_estimate(p, q, n_samples, seed):  # noqa: F811
        draws = np.random.default_rng(seed).choice(len(p), size=n_samples)
        return float(np.mean(log_ratios(p, q, draws)))

    @case("log-ratios are in bits")
    def mc_kl_estimate(p, q, n_samples, seed):  # noqa: F811
        return float(np.mean(log_ratios(p, q, recipe(p, n_samples, seed), log=np.log2)))

    @case("log-ratios use log base 10")
    def mc_kl_estimate(p, q, n_samples, seed):  # noqa: F811
        return float(np.mean(log_ratios(p, q, recipe(p, n_samples, seed), log=np.log10)))

    @case("averaged log(q / p) instead of log(p / q)")
    def mc_kl_estimate(p, q, n_samples, seed):  # noqa: F811
        return float(np.mean(-log_ratios(p, q, recipe(p, n_samples, seed))))

    @case("weighted each drawn log-ratio by p(x) again")
    def mc_kl_estimate(p, q, n_samples, seed):  # noqa: F811
        draws = recipe(p, n_samples, seed)
        return float(np.mean(np.asarray(p)[draws] * log_ratios(p, q, draws)))

    @case("the sum of the log-ratios, not their mean")
    def mc_kl_estimate(p, q, n_samples, seed):  # noqa: F811
        return float(np.sum(log_ratios(p, q, recipe(p, n_samples, seed))))

    @case("the exact divergence")
    def mc_kl_estimate(p, q, n_samples, seed):  # noqa: F811
        return nats(p, q)

    @case("do not add a small epsilon to q")
    def mc_kl_estimate(p, q, n_samples, seed):  # noqa: F811
        q = np.asarray(q, dtype=float) + 1e-9
        return float(np.mean(log_ratios(p, q, recipe(p, n_samples, seed))))

    # ---- 02 running_kl_estimate
    def running(values):
        return np.cumsum(values) / np.arange(1, len(values) + 1)

    @case("divided every cumulative sum by n_samples")
    def running_kl_estimate(p, q, n_samples, seed):  # noqa: F811
        return np.cumsum(log_ratios(p, q, recipe(p, n_samples, seed))) / n_samples

    @case("divided the cumulative sums by 2, 3, ..., n_samples + 1")
    def running_kl_estimate(p, q, n_samples, seed):  # noqa: F811
        return (np.cumsum(log_ratios(p, q, recipe(p, n_samples, seed)))
                / np.arange(2, n_samples + 2))

    @case("the running sums, not the running means")
    def running_kl_estimate(p, q, n_samples, seed):  # noqa: F811
        return np.cumsum(log_ratios(p, q, recipe(p, n_samples, seed)))

    @case("one draw late")
    def running_kl_estimate(p, q, n_samples, seed):  # noqa: F811
        values = log_ratios(p, q, recipe(p, n_samples, seed))
        return np.array([0.0] + [values[:j].mean() for j in range(1, n_samples)])

    @case("sampled the outcomes from q instead of p")
    def running_kl_estimate(p, q, n_samples, seed):  # noqa: F811
        return running(log_ratios(p, q, recipe(p, n_samples, seed, weights=q)))

    @case("each of your entries adds one log-ratio")
    def running_kl_estimate(p, q, n_samples, seed):  # noqa: F811
        draws = np.random.default_rng().choice(len(p), size=n_samples, p=p)  # no seed
        return running(log_ratios(p, q, draws))

    @case("legacy np.random.seed(seed) and np.random.choice")
    def running_kl_estimate(p, q, n_samples, seed):  # noqa: F811
        draws = np.random.RandomState(seed).choice(len(p), n_samples, p=p)
        return running(log_ratios(p, q, draws))

    @case("log-ratios are in bits")
    def running_kl_estimate(p, q, n_samples, seed):  # noqa: F811
        return running(log_ratios(p, q, recipe(p, n_samples, seed), log=np.log2))

    @case("return one running estimate per draw")
    def running_kl_estimate(p, q, n_samples, seed):  # noqa: F811
        return float(np.mean(log_ratios(p, q, recipe(p, n_samples, seed))))

    # ---- 03 the objectives: the model answer with one thing wrong each time
    log_of_weights = np.log(weights)

    def objective(mu, sigma, *, forward, scale=lambda s: s, log_weights=log_of_weights,
                  log_pdf=None, integrate_with=np.trapezoid, log=np.log):
        log_p = special.logsumexp(log_weights[:, None] + stats_.norm.logpdf(
            grid[None, :], means[:, None], sigmas[:, None]), axis=0)
        log_q = stats_.norm.logpdf(grid, mu, scale(sigma))
        if log_pdf is not None:
            with np.errstate(divide="ignore"):
                log_q = np.log(stats_.norm.pdf(grid, mu, scale(sigma)))
        # the log-ratio in the base of ``log``: log_b x = ln x * log_b e
        with np.errstate(invalid="ignore"):
            if forward:
                return float(integrate_with(np.exp(log_p) * (log_p - log_q) * log(np.e), grid))
            return float(integrate_with(np.exp(log_q) * (log_q - log_p) * log(np.e), grid))

    for direction, flag in (("forward", True), ("reverse", False)):
        name = f"kl_gaussian_fit_{direction}"
        other = "reverse" if flag else "forward"

        def make(words, flag=flag, name=name, **options):
            func = named(name)(lambda mu, sigma: objective(mu, sigma, forward=flag, **options))
            wrong.append((name, words, func))

        wrong.append((name, f"computes the {other} KL",
                      named(name)(lambda mu, sigma, flag=flag: objective(mu, sigma,
                                                                         forward=not flag))))
        make("treats sigma as a variance", scale=np.sqrt)
        make("squares sigma", scale=np.square)
        make("leaves out the mixture weights", log_weights=np.zeros(2))
        make("in bits (log base 2)", log=np.log2)
        make("without the grid step", integrate_with=lambda f, x: np.sum(f))
        make("averaged the integrand (np.mean)", integrate_with=lambda f, x: np.mean(f))
        make("np.log of it is -inf", log_pdf=True)

    @case("computes the cross-entropy -integral p log q")
    def kl_gaussian_fit_forward(mu, sigma):  # noqa: F811
        log_p = special.logsumexp(np.log(weights)[:, None] + stats_.norm.logpdf(
            grid[None, :], means[:, None], sigmas[:, None]), axis=0)
        return float(np.trapezoid(-np.exp(log_p) * stats_.norm.logpdf(grid, mu, sigma), grid))

    @case("computes the cross-entropy -integral q log p")
    def kl_gaussian_fit_reverse(mu, sigma):  # noqa: F811
        log_p = special.logsumexp(np.log(weights)[:, None] + stats_.norm.logpdf(
            grid[None, :], means[:, None], sigmas[:, None]), axis=0)
        return float(np.trapezoid(-stats_.norm.pdf(grid, mu, sigma) * log_p, grid))

    @case("wrong sign")
    def kl_gaussian_fit_reverse(mu, sigma):  # noqa: F811
        return -objective(mu, sigma, forward=False)

    # ---- 03 the fits: BFGS from the start, with one thing wrong each time
    good = model_answers("03_insights")

    def bfgs(which, mu0, sigma0, *, start=math.log):
        func = good[f"kl_gaussian_fit_{which}"]
        result = optimize.minimize(lambda t: func(t[0], np.exp(t[1])), [mu0, start(sigma0)])
        return [float(result.x[0]), float(np.exp(result.x[1]))]

    @case("ended at the mode at +2.98 of the REVERSE KL")
    def fit_forward(mu0, sigma0):  # noqa: F811
        return bfgs("reverse", mu0, sigma0)

    @case("returned the variance sigma^2")
    def fit_forward(mu0, sigma0):  # noqa: F811
        mu, sigma = bfgs("forward", mu0, sigma0)
        return [mu, sigma**2]

    @case("returned log sigma")
    def fit_forward(mu0, sigma0):  # noqa: F811
        mu, sigma = bfgs("forward", mu0, sigma0)
        return [mu, math.log(sigma)]

    @case("not a number")
    def fit_forward(mu0, sigma0):  # noqa: F811
        return optimize.minimize(lambda t: good["kl_gaussian_fit_forward"](t[0], np.exp(t[1])),
                                 [mu0, math.log(sigma0)])

    @case("the minimum of the FORWARD KL")
    def fit_reverse(mu0, sigma0):  # noqa: F811
        return bfgs("forward", mu0, sigma0)

    @case("returned the variance sigma^2")
    def fit_reverse(mu0, sigma0):  # noqa: F811
        mu, sigma = bfgs("reverse", mu0, sigma0)
        return [mu, sigma**2]

    @case("returned log sigma")
    def fit_reverse(mu0, sigma0):  # noqa: F811
        mu, sigma = bfgs("reverse", mu0, sigma0)
        return [mu, math.log(sigma)]

    @case("starting at (mu0, sigma0) means sigma = exp(sigma0)")
    def fit_reverse(mu0, sigma0):  # noqa: F811
        return bfgs("reverse", mu0, sigma0, start=lambda s: s)

    @case("use the given start, not a fixed one")
    def fit_reverse(mu0, sigma0):  # noqa: F811
        return bfgs("reverse", 1.0, 1.0)

    return wrong


WRONG = _wrong_answers()


@pytest.mark.parametrize("name, words, func", WRONG,
                         ids=[f"{name}: {words}" for name, words, _ in WRONG])
def test_each_misconception_is_named(name, words, func):
    assert func.__name__ == name
    with np.errstate(all="ignore"):
        message = failure(func)
    assert words in message, message
    # the message shows the case: the call, the expected and the received values
    assert f"tried:    {name}(" in message
    assert "expected: " in message and "received: " in message and "likely cause: " in message
    assert "no known misconception" not in message.split("likely cause: ")[1].split("\n")[0]


def test_every_variant_is_exercised_by_a_wrong_answer():
    """Each catalogued mistake is named by at least one test above (a mistake shared by two
    exercises, such as mc_kl_estimate's and running_kl_estimate's draws, by one of them)."""
    words_used = [words for _, words, _ in WRONG]
    for name in EXERCISE_NAMES:
        spec = EXERCISES[name]
        texts = [text for text, _ in spec.variants]
        texts += [text for case in spec.cases for text, _ in case.variants]
        for text in texts:
            assert any(words in text for words in words_used), (
                f"{name}: no test feeds the mistake {text[:70]!r}")


# -- what a check does and never does --------------------------------------------------------


def test_a_stub_is_not_implemented_yet():
    @named("mc_kl_estimate")
    def stub(p, q, n_samples, seed):
        raise NotImplementedError()

    assert "not implemented yet" in failure(stub)


@pytest.mark.parametrize("name", EXERCISE_NAMES)
def test_a_check_makes_few_calls(name, capsys):
    calls = []
    reference = EXERCISES[name].reference

    def counting(*args, **kwargs):
        calls.append(args)
        return reference(*args, **kwargs)

    check(counting, exercise=name)
    assert 1 <= len(calls) <= 6


def _graded_literals(assignment: str) -> set[tuple]:
    """Every tuple or list of numbers written in the assignment's test cells, hidden or not,
    and the numbers of every call in them."""
    found: set[tuple] = set()
    for cell in _source_notebook(assignment).cells:
        if not is_test_cell(cell):
            continue
        for node in ast.walk(ast.parse(cell.source)):
            items = None
            if isinstance(node, ast.Tuple | ast.List):
                items = node.elts
            elif isinstance(node, ast.Call):
                items = node.args
            if not items:
                continue
            try:
                values = tuple(float(ast.literal_eval(item)) for item in items)
            except (ValueError, TypeError, SyntaxError):
                continue
            found.add(values)
    return found


def _as_numbers(value) -> tuple | None:
    try:
        return tuple(float(v) for v in np.ravel(np.asarray(value, dtype=float)))
    except (TypeError, ValueError):
        return None


@pytest.mark.parametrize("name", EXERCISE_NAMES)
def test_no_case_uses_a_graded_input(name):
    graded = _graded_literals(ASSIGNMENT_OF[name])
    assert graded  # the parser found the tests' numbers
    for case in EXERCISES[name].cases:
        scalars = all(np.ndim(arg) == 0 for arg in case.args)
        pieces = [case.args] if scalars else [arg for arg in case.args if np.ndim(arg) > 0]
        for piece in pieces:
            assert _as_numbers(piece) not in graded, f"{name}: {case.name} uses {piece}"


def test_known_hidden_inputs_are_recognised_by_that_test():
    graded = _graded_literals("02_terms")
    assert (0.0, 0.2, 0.0, 0.8) in graded and (0.6, 0.3, 0.1) in graded  # hidden lists
    assert (-2.0, 0.7) in _graded_literals("03_insights")  # a hidden start of fit_reverse
    assert (-6.0, 0.02, 0.0, 1.0) in _graded_literals("01_definition")


def test_messages_never_show_hidden_test_inputs():
    hidden = set()
    for assignment in FOUNDATIONS:
        for cell in _source_notebook(assignment).cells:
            for block in re.findall(r"BEGIN HIDDEN TESTS(.*?)END HIDDEN TESTS", cell.source,
                                    re.S):
                hidden |= set(re.findall(r"[\[(][-0-9. ]+,[-0-9., ]+[\])]", block))
    hidden -= {"(0.0, 1.0, 0.0, 1.0)"}  # p == q: a hidden case, but not one of the messages'
    for name, _, func in WRONG:
        with np.errstate(all="ignore"):
            message = failure(func)
        for secret in hidden:
            assert secret not in message, (name, secret)


@pytest.mark.parametrize("name", EXERCISE_NAMES)
def test_each_function_is_registered_for_its_notebook(name):
    """The grader finds each function's self-check under its assignment (plain check(func))."""
    assert GRADED_CHECKS[(ASSIGNMENT_OF[name], name)] == {}


# every function of notebooks 01-03 has a check cell; every exercise of 01-04 has a hint
NOTEBOOKS_WITH_CHECK_CELLS = tuple(FOUNDATIONS)
NOTEBOOKS_WITH_HINTS = (*FOUNDATIONS, "04_implementation")


@pytest.mark.parametrize("assignment", NOTEBOOKS_WITH_CHECK_CELLS)
def test_graded_checks_match_the_notebooks_check_cells(assignment):
    """Each function has a check cell, and register_graded records exactly its arguments."""
    calls = {}
    for cell in _source_notebook(assignment).cells:
        if cell.cell_type != "code" or is_test_cell(cell):
            continue
        assert "nbgrader" not in cell.metadata or not cell.metadata["nbgrader"].get("grade")
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "check":
                calls[node.args[0].id] = {k.arg: ast.literal_eval(k.value)
                                          for k in node.keywords}
    for name in FOUNDATIONS[assignment]:
        assert name in calls, f"{assignment}: no check({name}) cell"
    for name, kwargs in calls.items():
        assert GRADED_CHECKS[(assignment, name)] == kwargs


@pytest.mark.parametrize("assignment", NOTEBOOKS_WITH_HINTS)
def test_every_exercise_has_a_folded_hint(assignment):
    """Each ``### Exercise`` section holds a hint, folded (``<details>``, not open), whose
    markdown renders (a blank line after the summary)."""
    exercises, current = [], None
    for cell in _source_notebook(assignment).cells:
        if cell.cell_type == "markdown" and re.match(r"#{2,3} ", cell.source):
            current = None
            if cell.source.startswith("### Exercise"):
                current = [cell.source.splitlines()[0], ""]
                exercises.append(current)
        if current is not None and cell.cell_type == "markdown":
            current[1] += cell.source + "\n"
    assert exercises
    for title, text in exercises:
        assert "<details><summary>Hint</summary>\n\n" in text, f"{title}: no folded hint"
        assert "<details open" not in text
        assert text.count("<details>") == text.count("</details>")


def test_diagnose_runs_the_check_quietly_for_the_grader(capsys):
    wrong = next(func for name, words, func in WRONG
                 if name == "kl_in_base" and "ignores" in words)
    verdict = diagnose(wrong, "02_terms")
    assert verdict is not None and not verdict and "ignores `base`" in verdict.message
    assert diagnose(model_answers("02_terms")["kl_in_base"], "02_terms")
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("name", EXERCISE_NAMES)
def test_through_the_grader_proxy(name, capsys):
    """At grading time the check calls the student's function in the kernel through the
    grader's proxy (arguments and results cross as plain data): right answers still pass,
    and a mistake is still named."""
    from test_selfcheck import FakeRemote

    remote = FakeRemote(model_answers(ASSIGNMENT_OF[name])[name], name)
    assert check(remote)
    wrong = next(func for exercise, _, func in WRONG if exercise == name)
    words = next(words for exercise, words, _ in WRONG if exercise == name)
    with np.errstate(all="ignore"):
        assert words in failure(FakeRemote(wrong, name))


def test_the_reverse_kl_minima_named_in_messages_are_the_reference_fits():
    for start, point in (((1.8, 0.6), "the mode at +2.98"), ((-1.2, 0.6), "the mode at -2.98"),
                         ((-0.4, 4.0), "the centred minimum")):
        fitted = fitting.fit_gaussian_reverse(*start, *selfcheck_foundations._MIXTURE)
        assert np.allclose(fitted, selfcheck_foundations._REVERSE_MINIMA[point], atol=1e-4)


def test_the_window_integral_matches_quad():
    """The closed form that stands for a too narrow window agrees with quad itself."""
    args = (1.0, 4.0, 0.0, 0.6)

    def integrand(x):
        log_p = stats.norm.logpdf(x, args[0], args[1])
        return np.exp(log_p) * (log_p - stats.norm.logpdf(x, args[2], args[3]))

    for lower, upper in ((-11.0, 13.0), (-10.0, 10.0), (-159.0, 161.0)):
        expected = integrate.quad(integrand, lower, upper)[0]
        assert math.isclose(selfcheck_foundations._window_kl(*args, lower, upper), expected,
                            rel_tol=1e-9, abs_tol=1e-9)


def test_inputs_are_not_shared_with_the_student(capsys):
    @named("kl_terms")
    def vandal(p, q):
        terms = model_answers("02_terms")["kl_terms"](p, q)
        if isinstance(p, np.ndarray):
            p[:] = 0.0  # edits the caller's array
        return terms

    assert check(vandal)
    assert check(vandal)  # the cases are unchanged
