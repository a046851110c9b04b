"""Self-check exercises of notebooks 01-03 (``gaussian_kl_numeric``; 02's terms, bases and
Monte Carlo estimates; 03's Gaussian fits).

Registered with `kl_helpers.selfcheck` when that module is imported (its last lines
import this one); ``check(func)`` then finds them by the function's name.

What each exercise recognises besides a right answer (every message shows the inputs
tried, the expected and the received value):

* ``gaussian_kl_numeric(mu_p, sigma_p, mu_q, sigma_q)`` (01): direction swapped, sigma
  used as a variance (or squared), bits, the sign, the weight p(x) forgotten, an
  integration window too narrow (mu_p +- k sigma_p for k = 3..6, a fixed interval, a
  window around q), quad stepping over a narrow p, NaN or inf from ``np.log`` of an
  underflowed density, an integral that is close but not accurate enough;
* ``kl_terms(p, q)`` (02): NaN from 0 log 0, +inf where p_i = q_i = 0, a finite value
  where q_i = 0 < p_i, the sum returned instead of the terms, arguments swapped, log base
  2 or 10, the sign, the weights p_i forgotten or taken from q, cross-entropy terms;
* ``kl_in_base(p, q, base=None)`` (02): ``base`` ignored, multiplied by ln(base), divided
  by the base or by log2/log10 of it, bits when ``base`` is None, log2 terms then divided
  by ln(base), arguments swapped, the sign, NaN from 0 log 0, no +inf;
* ``mc_kl_estimate(p, q, n_samples, seed)`` and ``running_kl_estimate`` (02): the
  prescribed draws replaced (seed ignored, another generator or sampling routine,
  something drawn first; recognised statistically and, for ``np.random.seed`` /
  ``RandomState``, exactly), sampling from q, uniform draws (``p=`` left out), log base
  2 or 10, log(q/p), log-ratios weighted by p again, the sum instead of the mean, the
  exact divergence instead of an estimate, no +inf; for the running estimate also the
  wrong divisor (n, or j + 2), the running sums, an entry one draw late;
* ``kl_gaussian_fit_forward(mu, sigma)`` and ``kl_gaussian_fit_reverse`` (03): the
  directions swapped, sigma taken for the variance (or squared), the mixture weights left
  out of log p, the cross-entropy instead of the divergence, bits, the sign, a sum or a
  mean of the integrand instead of its integral, NaN or inf from ``np.log`` of a density
  that underflowed on the grid;
* ``fit_forward(mu0, sigma0)`` and ``fit_reverse`` (03): a minimum of the other
  objective, the variance or log sigma returned instead of sigma, a start at
  (mu0, sigma0) instead of (mu0, log sigma0) or another start, another local minimum.

No case uses a graded test's inputs. The notebooks prescribe how the Monte Carlo draws are
made (a new ``np.random.default_rng(seed)``, then one ``rng.choice(len(p),
size=n_samples, p=p)``), so those checks compare draw for draw, as the graded tests
``ex3_same_draws`` and ``ex3_running_same_draws`` do; any code that makes the same draws
passes (a loop of single draws, ``p`` as a list, ``math.log`` ...). Tolerances are the
graded tests': 1e-9 relative for the exact formulas and the draws, 1e-6 nats for the
integrals, 2e-3 for the fitted parameters.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy import special

from . import divergences, fitting, monte_carlo
from .closed_forms import gaussian_kl
from .selfcheck import (
    _LN2,
    _LN10,
    _SIGN,
    _SWAPPED,
    Case,
    Exercise,
    _arr,
    _register,
    _rel_entr,
    register_graded,
)

# ---------------------------------------------------------------------------------------
# Notebook 01: gaussian_kl_numeric
# ---------------------------------------------------------------------------------------

#: How close a numerical integral must be: the graded tests' 1e-6 nats
_INTEGRAL_ATOL = 1e-6

_UNDERFLOW_DENSITY = (
    "far in the tails a density underflows to exactly 0.0, and np.log(0.0) = -inf turns the "
    "integrand into 0 * -inf or -inf + inf, i.e. nan (or +inf where only q has underflowed). "
    "Take log p and log q from stats.norm.logpdf, which stays finite, and form "
    "p(x) = exp(log p(x)); never take np.log of a pdf")


def _window_kl(mu_p, sigma_p, mu_q, sigma_q, lower, upper, weighted=True) -> float:
    """The integral of p(x) (log p(x) - log q(x)) over [lower, upper], in closed form.

    With z = (x - mu_p) / sigma_p the log-ratio is A + B z + C z^2, so the integral needs
    only the truncated moments of N(0, 1). ``weighted=False`` integrates the log-ratio
    alone (the weight p(x) forgotten). It stands for a student's quad over a window that
    is too small, as quad itself would compute it but in microseconds.
    """
    gap = mu_p - mu_q
    a = math.log(sigma_q / sigma_p) + gap * gap / (2.0 * sigma_q**2)
    b = sigma_p * gap / sigma_q**2
    c = -0.5 + sigma_p**2 / (2.0 * sigma_q**2)
    alpha, beta = (lower - mu_p) / sigma_p, (upper - mu_p) / sigma_p
    if not weighted:  # the integral of A + B z + C z^2 dx, dx = sigma_p dz
        return sigma_p * (a * (beta - alpha) + b * (beta**2 - alpha**2) / 2.0
                          + c * (beta**3 - alpha**3) / 3.0)
    phi_a, phi_b = math.exp(-0.5 * alpha**2), math.exp(-0.5 * beta**2)
    phi_a, phi_b = phi_a / math.sqrt(2 * math.pi), phi_b / math.sqrt(2 * math.pi)
    mass = float(special.ndtr(beta) - special.ndtr(alpha))
    first = phi_a - phi_b
    second = mass + alpha * phi_a - beta * phi_b
    return a * mass + b * first + c * second


def _narrow_window(k: float):
    def integral(mu_p, sigma_p, mu_q, sigma_q):
        return _window_kl(mu_p, sigma_p, mu_q, sigma_q, mu_p - k * sigma_p, mu_p + k * sigma_p)
    return (f"your integration window is too narrow: over mu_p +/- {k:g} sigma_p the tails of "
            "p are cut off, and where q is narrower than p they still carry part of the "
            "divergence. Integrate over mu_p - 40 sigma_p to mu_p + 40 sigma_p", integral)


def _gaussian_kl(*args) -> float:
    return float(gaussian_kl(*args))


def _close_but_not_accurate(expected: float):
    def explain(received: np.ndarray) -> str:
        gap = abs(float(received) - expected)
        if np.isfinite(received).all() and gap < 1e-3 * max(1.0, abs(expected)):
            return (f"your value is off by {gap:.1e} nats, more than the 1e-6 the tests allow "
                    "but too little for a wrong formula: the integral is not accurate enough. "
                    "Integrate with integrate.quad over the whole window mu_p +/- 40 sigma_p "
                    "(a coarse grid or a narrower window loses this much)")
        return ""
    return explain


def _narrow_p_missed(expected: float):
    def explain(received: np.ndarray) -> str:
        if np.isfinite(received).all() and abs(float(received)) < 1e-3 < expected:
            return ("your integral is about 0: p is a narrow bump (sigma_p = 0.004), and quad "
                    "stepped over it without noticing. That happens on (-inf, inf), on a fixed "
                    "interval such as [-50, 50], or on a window around q. Integrate over "
                    "mu_p +/- 40 sigma_p, which tells quad where p's mass is")
        return _close_but_not_accurate(expected)(received)
    return explain


def _gaussian_kl_numeric_exercise() -> Exercise:
    typical = (0.5, 1.5, -1.0, 2.5)
    wide_p = (1.0, 4.0, 0.0, 0.6)  # p much wider than q: the tails of p matter
    narrow_p = (-3.5, 0.004, 1.0, 1.5)  # a narrow bump away from 0
    return Exercise(
        name="gaussian_kl_numeric",
        reference=_gaussian_kl,
        arg_names=("mu_p", "sigma_p", "mu_q", "sigma_q"),
        default_features=(),
        rtol=0.0,
        atol=_INTEGRAL_ATOL,
        variants=(
            ("your function computes D(q || p) instead of D(p || q): the two Gaussians are used "
             "the wrong way round. p = N(mu_p, sigma_p^2) weights the integrand and its log "
             "comes first: p(x) (log p(x) - log q(x))",
             lambda mp, sp, mq, sq: _gaussian_kl(mq, sq, mp, sp)),
            ("your function treats sigma as a variance: it uses sqrt(sigma) as the standard "
             "deviation. sigma_p and sigma_q are standard deviations, and scale= takes "
             "exactly that: stats.norm.logpdf(x, loc=mu, scale=sigma)",
             lambda mp, sp, mq, sq: _gaussian_kl(mp, math.sqrt(sp), mq, math.sqrt(sq))),
            ("your function squares sigma: it uses sigma^2, the variance, where the standard "
             "deviation belongs. scale= takes the standard deviation sigma itself",
             lambda mp, sp, mq, sq: _gaussian_kl(mp, sp**2, mq, sq**2)),
            ("your result is in bits (log base 2), not in nats: log-densities from "
             "stats.norm.logpdf are natural logs; do not divide by ln 2",
             lambda *a: _gaussian_kl(*a) / _LN2),
            ("your result has the wrong sign: the integrand is p(x) (log p(x) - log q(x)), "
             "not p(x) (log q(x) - log p(x))", lambda *a: -_gaussian_kl(*a)),
            ("your integrand forgets the weight p(x): it integrates log p(x) - log q(x) "
             "alone. Multiply by p(x) = exp(log p(x))",
             lambda mp, sp, mq, sq: _window_kl(mp, sp, mq, sq, mp - 40 * sp, mp + 40 * sp,
                                               weighted=False)),
            *(_narrow_window(k) for k in (3, 4, 5, 6)),
            ("your integral runs over a fixed interval, [-10, 10], that misses part of p's "
             "mass. Use a window that follows p: mu_p - 40 sigma_p to mu_p + 40 sigma_p",
             lambda mp, sp, mq, sq: _window_kl(mp, sp, mq, sq, -10.0, 10.0)),
            ("your integration window follows q (mu_q +/- 40 sigma_q), but the integrand is "
             "weighted by p: centre the window on p, mu_p +/- 40 sigma_p",
             lambda mp, sp, mq, sq: _window_kl(mp, sp, mq, sq, mq - 40 * sq, mq + 40 * sq)),
        ),
        cases=(
            Case("two Gaussians of different means and widths", "core", typical,
                 hints={"nan": _UNDERFLOW_DENSITY, "inf": _UNDERFLOW_DENSITY},
                 explain=_close_but_not_accurate(_gaussian_kl(*typical))),
            Case("p four times wider than q (the tails of p matter)", "core", wide_p,
                 hints={"nan": _UNDERFLOW_DENSITY, "inf": _UNDERFLOW_DENSITY},
                 explain=_close_but_not_accurate(_gaussian_kl(*wide_p))),
            Case("a narrow p = N(-3.5, 0.004^2) away from 0", "core", narrow_p,
                 hints={"nan": _UNDERFLOW_DENSITY, "inf": _UNDERFLOW_DENSITY},
                 explain=_narrow_p_missed(_gaussian_kl(*narrow_p))),
        ),
    )


# ---------------------------------------------------------------------------------------
# Notebook 02, Exercise 1: kl_terms
# ---------------------------------------------------------------------------------------

def _epsilon_added(expected) -> object:
    """Explain a value a hair away from the answer: an epsilon added to avoid log 0."""
    expected = np.asarray(expected, dtype=float)

    def explain(received: np.ndarray) -> str:
        finite = np.isfinite(expected)
        if not np.array_equal(finite, np.isfinite(received)):
            return ""
        gap = np.abs(received[finite] - expected[finite])
        if gap.size and np.all(gap <= 1e-6 * np.maximum(1.0, np.abs(expected[finite]))):
            return ("your value is off only in its 9th or 10th significant digit, which is what "
                    "a small epsilon added to p or q (to avoid log 0 or a division by 0) does. "
                    "Leave the probabilities as they are and treat p_i = 0 and q_i = 0 "
                    "explicitly (a boolean mask)")
        return ""
    return explain


_TERMS_NAN = ("an outcome with p_i = 0 gave nan: 0 * log(0) is 0 * -inf = nan in floating "
              "point, but by convention it contributes exactly 0.0. Fill the result with "
              "zeros and compute p_i log(p_i / q_i) only where p_i > 0 (a boolean mask)")


def _terms_explain_zero_p(p, q):
    """Name an inf at an outcome with p_i = q_i = 0 (the mask used q, or no mask at all)."""
    p, q = _arr(p), _arr(q)

    def explain(received: np.ndarray) -> str:
        both_zero = (p == 0) & (q == 0)
        if np.isinf(received[both_zero]).any():
            return ("an outcome with p_i = q_i = 0 gave inf, but an outcome with p_i = 0 "
                    "contributes 0 whatever q_i is: decide by p_i > 0 first, and give +inf "
                    "only where p_i > 0 = q_i")
        return ""
    return explain


def _kl_terms_exercise() -> Exercise:
    zero_p = (np.array([0.0, 0.45, 0.0, 0.55]), np.array([0.3, 0.25, 0.0, 0.45]))
    return Exercise(
        name="kl_terms",
        reference=lambda p, q: divergences.pointwise_terms(p, q),
        arg_names=("p", "q"),
        default_features=(),
        variants=(
            ("your terms are q_i log(q_i / p_i), the terms of D(Q || P): the arguments are used "
             "the wrong way round. Each term is p_i log(p_i / q_i): p weights it and sits on "
             "top of the ratio", lambda p, q: _rel_entr(q, p)),
            ("your terms are in bits (log base 2), not in nats: use the natural logarithm "
             "np.log (or math.log), not np.log2", lambda p, q: _rel_entr(p, q) / _LN2),
            ("your terms use log base 10: use the natural logarithm np.log, not np.log10",
             lambda p, q: _rel_entr(p, q) / _LN10),
            ("your terms have the wrong sign: they are p_i log(q_i / p_i) where the formula "
             "has p_i log(p_i / q_i)", lambda p, q: -_rel_entr(p, q)),
            ("your terms forget the weights: they are log(p_i / q_i) instead of "
             "p_i log(p_i / q_i)", lambda p, q: np.log(_arr(p) / _arr(q))),
            ("your terms are weighted by q_i: q_i log(p_i / q_i) instead of p_i log(p_i / q_i)",
             lambda p, q: -_rel_entr(q, p)),
            ("your terms are the cross-entropy terms -p_i log q_i, not the divergence's: use "
             "log(p_i / q_i) = log p_i - log q_i, not -log q_i",
             lambda p, q: np.where(_arr(p) > 0, -_arr(p) * np.log(_arr(q)), 0.0)),
        ),
        cases=(
            Case("a typical pair of distributions (Python lists)", "core",
                 ([0.5, 0.1, 0.4], [0.2, 0.6, 0.2]),
                 explain=_epsilon_added(divergences.pointwise_terms([0.5, 0.1, 0.4],
                                                                    [0.2, 0.6, 0.2])),
                 hints={"shape": ("return one contribution per outcome (an array as long as "
                                  "p), not their sum")}),
            Case("outcomes with p_i = 0 (one of them with q_i = 0 too)", "core", zero_p,
                 hints={"nan": _TERMS_NAN},
                 explain=_terms_explain_zero_p(*zero_p)),
            Case("q_i = 0 where p_i > 0 (that term is +inf)", "core",
                 (np.array([0.65, 0.25, 0.1]), np.array([0.0, 0.7, 0.3])),
                 hints={"finite": ("where q_i = 0 < p_i the term must be +inf (np.inf): Q "
                                   "calls impossible an outcome that P allows. A finite value "
                                   "usually means q was clipped by a small epsilon or the "
                                   "outcome was skipped"),
                        "nan": ("where q_i = 0 < p_i the term must be +inf, not nan: set it "
                                "to np.inf explicitly (p_i log(p_i / 0) = +inf)")}),
        ),
    )


# ---------------------------------------------------------------------------------------
# Notebook 02, Exercise 2: kl_in_base
# ---------------------------------------------------------------------------------------


def _nats(p, q) -> float:
    return float(np.sum(_rel_entr(p, q)))


def _kl_in_base_reference(p, q, base=None):
    return divergences.kl_divergence(p, q, base=base)


def _in_base(nats: float, base) -> float:
    return nats if base is None else nats / math.log(base)


def _kl_in_base_exercise() -> Exercise:
    pair = ([0.25, 0.6, 0.15], [0.5, 0.2, 0.3])
    base_given = {
        "on_error": "your function must accept a keyword argument `base`",
    }
    base_variants = (
        ("your function ignores `base`: it returned nats where `base` asks for other units. "
         "Divide the result in nats by ln(base)", lambda p, q, base=None: _nats(p, q)),
        ("you multiplied by ln(base) instead of dividing by it: the result in base b is the "
         "result in nats divided by ln(b)",
         lambda p, q, base=None: _nats(p, q) * math.log(base)),
        ("you divided by the base itself instead of by its natural log ln(base)",
         lambda p, q, base=None: _nats(p, q) / base),
        ("you divided by log2(base) instead of ln(base): the nats come from the natural "
         "log, so the conversion factor is ln(base) = np.log(base)",
         lambda p, q, base=None: _nats(p, q) / math.log2(base)),
        ("you divided by log10(base) instead of ln(base): the nats come from the natural "
         "log, so the conversion factor is ln(base) = np.log(base)",
         lambda p, q, base=None: _nats(p, q) / math.log10(base)),
        ("your terms use log base 2 and you then divided by ln(base) as well: compute the "
         "divergence in nats with np.log, then divide once by ln(base)",
         lambda p, q, base=None: _nats(p, q) / _LN2 / math.log(base)),
    )
    return Exercise(
        name="kl_in_base",
        reference=_kl_in_base_reference,
        arg_names=("p", "q", "base"),
        default_features=(),
        variants=(
            (_SWAPPED, lambda p, q, base=None: _in_base(_nats(q, p), base)),
            (_SIGN, lambda p, q, base=None: -_in_base(_nats(p, q), base)),
            ("your terms use log base 10: compute nats with np.log, then divide by ln(base) "
             "only when a base is given", lambda p, q, base=None: _in_base(_nats(p, q) / _LN10,
                                                                           base)),
        ),
        cases=(
            Case("no base given (the answer is in nats)", "core", pair,
                 explain=_epsilon_added(_kl_in_base_reference(*pair)),
                 variants=(("your function returns bits when `base` is None: base=None means "
                            "the natural logarithm, i.e. nats",
                            lambda p, q: _nats(p, q) / _LN2),)),
            Case("base=2 (the answer is in bits)", "core", pair, {"base": 2},
                 variants=base_variants, **base_given),
            Case("base=5", "core", pair, {"base": 5}, variants=base_variants, **base_given),
            Case("outcomes with p_i = 0 (one of them with q_i = 0 too), in nats", "core",
                 (np.array([0.0, 0.3, 0.0, 0.7]), np.array([0.2, 0.4, 0.0, 0.4])),
                 hints={"nan": ("an outcome with p_i = 0 gave nan (0 * log 0): it must "
                                "contribute exactly 0; your kl_terms of Exercise 1 already "
                                "handles this"),
                        "inf": ("you returned +inf because some q_i = 0, but there p_i = 0 "
                                "too: such an outcome contributes 0")}),
            Case("q_i = 0 where p_i > 0, in bits (the answer is +inf)", "core",
                 (np.array([0.5, 0.2, 0.3]), np.array([0.6, 0.4, 0.0])), {"base": 2},
                 hints={"finite": ("q_i = 0 < p_i must give +inf in any base. A finite answer "
                                   "usually means q was clipped by a small epsilon or the "
                                   "outcome was skipped"),
                        "nan": "q_i = 0 < p_i must give +inf, not nan"}, **base_given),
        ),
    )


# ---------------------------------------------------------------------------------------
# Notebook 02, Exercise 3: mc_kl_estimate and running_kl_estimate
# ---------------------------------------------------------------------------------------

_RECIPE = ("rng = np.random.default_rng(seed), then nothing drawn before "
           "rng.choice(len(p), size=n_samples, p=p)")


def _recipe_draws(p, n_samples, seed, *, weights=None) -> np.ndarray:
    """The prescribed draws (``weights`` replaces p as the sampling distribution)."""
    rng = np.random.default_rng(seed)
    return rng.choice(len(p), size=n_samples, p=_arr(p) if weights is None else _arr(weights))


def _log_ratios(p, q, outcomes, log=np.log) -> np.ndarray:
    p, q = _arr(p), _arr(q)
    with np.errstate(divide="ignore", invalid="ignore"):
        return log(p[outcomes]) - log(q[outcomes])


def _legacy_draws(p, n_samples, seed) -> np.ndarray:
    # what np.random.seed(seed) followed by np.random.choice(...) draws, without touching
    # numpy's global state
    return np.random.RandomState(seed).choice(len(p), size=n_samples, p=_arr(p))


def _uniform_draws(p, n_samples, seed) -> np.ndarray:
    return np.random.default_rng(seed).choice(len(p), size=n_samples)


def _estimate_variants(reduce) -> tuple:
    """The wrong draws and wrong log-ratios shared by both estimators.

    ``reduce(log_ratios)`` turns the log-ratios of the draws into the exercise's result:
    their mean, or their running means.
    """
    def recipe(p, q, n, seed, log=np.log, weights=None):
        return reduce(_log_ratios(p, q, _recipe_draws(p, n, seed, weights=weights), log))

    return (
        ("you sampled the outcomes from q instead of p: D(P || Q) is an average over draws "
         "from P, so pass p=p to rng.choice",
         lambda p, q, n, seed: recipe(p, q, n, seed, weights=q)),
        ("you sampled from q and averaged log(q / p): that estimates D(Q || P). Draw from p "
         "and average log p(x) - log q(x)",
         lambda p, q, n, seed: reduce(-_log_ratios(p, q, _recipe_draws(p, n, seed,
                                                                       weights=q)))),
        ("you drew the outcomes uniformly: rng.choice(len(p), size=n_samples) without p=p "
         "draws every outcome equally often. Pass p=p",
         lambda p, q, n, seed: reduce(_log_ratios(p, q, _uniform_draws(p, n, seed)))),
        ("you drew with the legacy np.random.seed(seed) and np.random.choice (or "
         "np.random.RandomState), which make other draws than the prescribed recipe: use "
         + _RECIPE,
         lambda p, q, n, seed: reduce(_log_ratios(p, q, _legacy_draws(p, n, seed)))),
        ("your log-ratios are in bits (log base 2), not in nats: use np.log (or math.log), "
         "not np.log2", lambda p, q, n, seed: recipe(p, q, n, seed, log=np.log2)),
        ("your log-ratios use log base 10: use the natural logarithm np.log, not np.log10",
         lambda p, q, n, seed: recipe(p, q, n, seed, log=np.log10)),
        ("you averaged log(q / p) instead of log(p / q): each drawn outcome contributes "
         "log p(x) - log q(x)", lambda p, q, n, seed: -recipe(p, q, n, seed)),
        ("you weighted each drawn log-ratio by p(x) again: the draws from p already do the "
         "weighting, so average the plain log-ratios log p(x) - log q(x)",
         lambda p, q, n, seed: reduce(
             _arr(p)[_recipe_draws(p, n, seed)]
             * _log_ratios(p, q, _recipe_draws(p, n, seed)))),
    )


def _mean(values: np.ndarray) -> float:
    return float(np.mean(values))


def _running(values: np.ndarray) -> np.ndarray:
    return np.cumsum(values) / np.arange(1, values.size + 1)


def _within(received: float, center: float, spread: float, n: int) -> bool:
    """Whether ``received`` is within 4 standard errors of ``center``."""
    return bool(np.isfinite(received)) and abs(received - center) <= 4.0 * spread / math.sqrt(n)


def _other_draws(p, q, n_samples):
    """Explain an estimate that averages log-ratios of other draws than the recipe's.

    Its value is random, so it is recognised statistically: within 4 standard errors of
    D(P || Q) (sampling from p, but not with the recipe) or of -D(Q || P) (sampling from q).
    A correct estimator lands outside only once in about 16000 runs.
    """
    exact = float(divergences.kl_divergence(p, q))
    spread = monte_carlo.log_ratio_std(p, q)
    if all(qi > 0 for qi in q) and all(pi > 0 for pi in p):
        reverse = -float(divergences.kl_divergence(q, p))
        reverse_spread = monte_carlo.log_ratio_std(q, p)
    else:
        reverse = reverse_spread = math.nan

    def explain(received: np.ndarray) -> str:
        value = float(np.ravel(received)[-1])
        if _within(value, exact, spread, n_samples):
            return ("your estimate is a plausible average of log p(x) - log q(x) over draws "
                    "from p, but not over the prescribed draws: the seed is ignored or used "
                    "differently, another generator or sampling routine makes the draws, or "
                    "something is drawn first. Use exactly " + _RECIPE + " (the tests "
                    "ex3_same_draws and ex3_running_same_draws compare draw for draw)")
        if math.isfinite(reverse) and _within(value, reverse, reverse_spread, n_samples):
            return ("your estimate is close to E_q[log p(x) - log q(x)] = -D(Q || P): you "
                    "sampled the outcomes from q instead of p. Draw with p=p")
        return ""
    return explain


def _running_steps(p, q, n_samples):
    """Explain running estimates that add one log-ratio per step but of other draws."""
    p_arr, q_arr = _arr(p), _arr(q)
    with np.errstate(divide="ignore"):
        allowed = (np.log(p_arr) - np.log(q_arr))[p_arr > 0]
    statistical = _other_draws(p, q, n_samples)

    def explain(received: np.ndarray) -> str:
        if received.shape != (n_samples,) or not np.isfinite(received).all():
            return ""
        steps = np.diff(received * np.arange(1, n_samples + 1), prepend=0.0)
        gaps = np.min(np.abs(steps[:, None] - allowed[None, :]), axis=1)
        if np.all(gaps < 1e-8):
            return ("each of your entries adds one log-ratio log(p_i / q_i) and divides by "
                    "the number of draws, as it should, but the draws are not the prescribed "
                    "ones: the seed is ignored or used differently, another generator or "
                    "sampling routine makes them, or something is drawn first. Use exactly "
                    + _RECIPE)
        return statistical(received)
    return explain


_MC_INF = {
    "finite": ("a drawn outcome with q_i = 0 < p_i has log-ratio +inf, so the estimate must be "
               "+inf: do not add a small epsilon to q or skip that outcome"),
    "nan": ("a drawn outcome with q_i = 0 < p_i must make the estimate +inf, not nan: its "
            "log-ratio is log p_i - log 0 = +inf"),
}
_MC_ZERO_P = {
    "nan": ("your estimate is nan for a p with zeros. Outcomes with p_i = 0 are never drawn "
            "from p, so they cannot give 0 * log 0 unless you sample from another "
            "distribution or average over every outcome: draw from p and average the "
            "log-ratios of the drawn outcomes only"),
    "inf": ("your estimate is infinite for a p with zeros, although every drawn outcome has "
            "p_i > 0 and q_i > 0: draw from p (p=p) and average only the drawn outcomes' "
            "log-ratios"),
}


def _mc_reference(p, q, n_samples, seed) -> float:
    return monte_carlo.mc_kl_estimate(p, q, n_samples, seed).estimate


def _mc_kl_estimate_exercise() -> Exercise:
    typical = ([0.15, 0.5, 0.35], [0.4, 0.4, 0.2], 5000, 11)
    zeros = ([0.0, 0.6, 0.0, 0.4], [0.1, 0.3, 0.2, 0.4], 300, 17)
    return Exercise(
        name="mc_kl_estimate",
        reference=_mc_reference,
        arg_names=("p", "q", "n_samples", "seed"),
        default_features=(),
        variants=(
            *_estimate_variants(_mean),
            ("you returned the sum of the log-ratios, not their mean: divide by n_samples",
             lambda p, q, n, seed: float(np.sum(_log_ratios(p, q, _recipe_draws(p, n, seed))))),
            ("you returned the exact divergence sum_i p_i log(p_i / q_i), not the Monte "
             "Carlo estimate: average the log-ratios of the n_samples drawn outcomes",
             lambda p, q, n, seed: _nats(p, q)),
        ),
        cases=(
            Case("a typical pair, 5000 draws", "core", typical,
                 explain=_other_draws(*typical[:2], typical[2])),
            Case("zeros in p (those outcomes are never drawn)", "core", zeros,
                 hints=_MC_ZERO_P, explain=_other_draws(*zeros[:2], zeros[2])),
            Case("q_i = 0 for an outcome p draws often (the answer is +inf)", "core",
                 ([0.45, 0.55], [0.0, 1.0], 60, 13), hints=_MC_INF),
        ),
    )


def _running_kl_estimate_exercise() -> Exercise:
    typical = ([0.15, 0.5, 0.35], [0.4, 0.4, 0.2], 10, 11)
    zeros = ([0.0, 0.6, 0.0, 0.4], [0.1, 0.3, 0.2, 0.4], 8, 17)

    def recipe_ratios(p, q, n, seed):
        return _log_ratios(p, q, _recipe_draws(p, n, seed))

    return Exercise(
        name="running_kl_estimate",
        reference=lambda p, q, n_samples, seed: monte_carlo.running_mean_estimate(
            p, q, n_samples, seed),
        arg_names=("p", "q", "n_samples", "seed"),
        default_features=(),
        variants=(
            *_estimate_variants(_running),
            ("you divided every cumulative sum by n_samples: entry j is the mean of the first "
             "j + 1 log-ratios, so divide by 1, 2, ..., n_samples (np.arange(1, n + 1))",
             lambda p, q, n, seed: np.cumsum(recipe_ratios(p, q, n, seed)) / n),
            ("you divided the cumulative sums by 2, 3, ..., n_samples + 1: entry j (0-based) "
             "averages j + 1 log-ratios, so divide by np.arange(1, n_samples + 1)",
             lambda p, q, n, seed: np.cumsum(recipe_ratios(p, q, n, seed)) / np.arange(2, n + 2)),
            ("you returned the running sums, not the running means: divide the cumulative sum "
             "by 1, 2, ..., n_samples", lambda p, q, n, seed: np.cumsum(recipe_ratios(p, q, n,
                                                                                      seed))),
            ("your entries are one draw late: entry j must be the mean of the first j + 1 "
             "log-ratios (entry 0 is the first log-ratio itself), not of the first j",
             lambda p, q, n, seed: np.concatenate(([0.0], _running(recipe_ratios(p, q, n - 1,
                                                                                 seed))))),
        ),
        cases=(
            Case("a typical pair, 10 draws", "core", typical,
                 hints={"shape": ("return one running estimate per draw: an array of length "
                                  "n_samples whose entry j averages the first j + 1 "
                                  "log-ratios")},
                 explain=_running_steps(*typical[:3])),
            Case("zeros in p (those outcomes are never drawn), 8 draws", "core", zeros,
                 hints=_MC_ZERO_P, explain=_running_steps(*zeros[:3])),
            Case("q_i = 0 for an outcome p draws (entries are +inf from the first such draw "
                 "on)", "core", ([0.45, 0.55], [0.0, 1.0], 6, 13),
                 hints={**_MC_INF, "value": (
                     "your entries turn +inf at another draw than expected: they must be the "
                     "finite running means up to the first drawn outcome with q_i = 0 < p_i, "
                     "and +inf from that draw on. With other draws than the prescribed ones "
                     "(" + _RECIPE + ") that happens elsewhere")}),
        ),
    )


# ---------------------------------------------------------------------------------------
# Notebook 03, Exercise 2: the forward and reverse objectives on the two-mode mixture
# ---------------------------------------------------------------------------------------

#: p = 0.5 N(-3, 1) + 0.5 N(3, 1): the notebook's WEIGHTS, MEANS, SIGMAS
_MIXTURE = ([0.5, 0.5], [-3.0, 3.0], [1.0, 1.0])
#: The step of the notebook's X_GRID = np.linspace(-30, 30, 6001), and its length
_GRID_STEP, _GRID_LENGTH = 0.01, 60.0


def _forward(mu, sigma) -> float:
    return float(fitting.forward_kl_gaussian_fit(mu, sigma, *_MIXTURE))


def _reverse(mu, sigma) -> float:
    return float(fitting.reverse_kl_gaussian_fit(mu, sigma, *_MIXTURE))


@functools.cache
def _mixture_entropy() -> float:
    """H(p) of the mixture: its cross-entropy with q = N(0, 1) minus D(p || q).

    The cross-entropy -E_p[log N(x; 0, 1)] = ln sqrt(2 pi) + E_p[x^2] / 2 is a closed form.
    """
    second_moment = float(np.dot(_MIXTURE[0], np.square(_MIXTURE[1]) + np.square(_MIXTURE[2])))
    cross_entropy = 0.5 * math.log(2 * math.pi) + second_moment / 2.0
    return cross_entropy - _forward(0.0, 1.0)


_OBJECTIVE_UNDERFLOW = (
    "on the grid a Gaussian's density underflows to exactly 0.0 (from about 38 standard "
    "deviations on), and np.log of it is -inf, which makes the integrand inf or nan. Take "
    "log q from stats.norm.logpdf (or the formula) and log p with special.logsumexp of "
    "np.log(WEIGHTS) plus the components' log-densities, never np.log of a pdf")


def _objective_variants(objective, other, other_text: str, cross_entropy_text: str,
                        entropy_shift, weights_forgotten) -> tuple:
    """The mistakes shared by the two objectives; ``objective`` is the right one.

    ``weights_forgotten(value)`` is what leaving log WEIGHTS out of log p makes of the
    right value: log p grows by ln 2, and in the forward objective the weight exp(log p)
    doubles too.
    """
    return (
        (other_text, other),
        ("your function treats sigma as a variance: it uses sqrt(sigma) as the standard "
         "deviation. sigma is the standard deviation of q: "
         "stats.norm.logpdf(x, loc=mu, scale=sigma)",
         lambda mu, sigma: objective(mu, math.sqrt(sigma))),
        ("your function squares sigma: it uses the variance sigma^2 where the standard "
         "deviation sigma belongs (scale= takes the standard deviation)",
         lambda mu, sigma: objective(mu, sigma**2)),
        ("your log p leaves out the mixture weights: it is logsumexp of the components' "
         "log-densities alone, log p(x) + ln 2. Add np.log(WEIGHTS) to each component's "
         "log-density inside the logsumexp",
         lambda mu, sigma: weights_forgotten(objective(mu, sigma))),
        (cross_entropy_text, lambda mu, sigma: objective(mu, sigma) + entropy_shift(sigma)),
        ("your result is in bits (log base 2), not in nats: use natural logs throughout",
         lambda mu, sigma: objective(mu, sigma) / _LN2),
        ("your result has the wrong sign: the integrand is the weighting density times "
         "(its own log minus the other log), not the other way round",
         lambda mu, sigma: -objective(mu, sigma)),
        ("you summed the integrand without the grid step: np.sum(f) is about the integral "
         "divided by dx = 0.01. Integrate with np.trapezoid(f, X_GRID)",
         lambda mu, sigma: objective(mu, sigma) / _GRID_STEP),
        ("you averaged the integrand (np.mean) instead of integrating it: that divides the "
         "integral by the grid's length, 60. Integrate with np.trapezoid(f, X_GRID)",
         lambda mu, sigma: objective(mu, sigma) / (_GRID_LENGTH + _GRID_STEP)),
    )


def _objective_cases(narrow: tuple) -> tuple[Case, ...]:
    hints = {"nan": _OBJECTIVE_UNDERFLOW, "inf": _OBJECTIVE_UNDERFLOW}
    return (
        Case("a candidate q = N(-1.5, 0.8^2) between the modes", "core", (-1.5, 0.8),
             hints=hints),
        Case("a wide candidate q = N(2, 2.5^2)", "core", (2.0, 2.5), hints=hints),
        Case(f"a narrow candidate q = N({narrow[0]:g}, {narrow[1]:g}^2)", "core", narrow,
             hints=hints),
    )


def _kl_gaussian_fit_forward_exercise() -> Exercise:
    return Exercise(
        name="kl_gaussian_fit_forward",
        reference=_forward,
        arg_names=("mu", "sigma"),
        default_features=(),
        rtol=0.0,
        atol=_INTEGRAL_ATOL,
        variants=_objective_variants(
            _forward, _reverse,
            "your function computes the reverse KL D(q || p), not the forward D(p || q): the "
            "forward objective weights by the mixture p, p(x) (log p(x) - log q(x)). Are "
            "your two functions swapped?",
            "your function computes the cross-entropy -integral p log q, not the divergence: "
            "add the integral of p log p (the integrand is p (log p - log q))",
            lambda sigma: _mixture_entropy(), lambda value: 2.0 * (value + _LN2)),
        cases=_objective_cases((4.0, 0.4)),
    )


def _kl_gaussian_fit_reverse_exercise() -> Exercise:
    return Exercise(
        name="kl_gaussian_fit_reverse",
        reference=_reverse,
        arg_names=("mu", "sigma"),
        default_features=(),
        rtol=0.0,
        atol=_INTEGRAL_ATOL,
        variants=_objective_variants(
            _reverse, _forward,
            "your function computes the forward KL D(p || q), not the reverse D(q || p): the "
            "reverse objective weights by the candidate q, q(x) (log q(x) - log p(x)). Are "
            "your two functions swapped?",
            "your function computes the cross-entropy -integral q log p, not the divergence: "
            "add the integral of q log q (the integrand is q (log q - log p))",
            lambda sigma: 0.5 * math.log(2 * math.pi * math.e * sigma**2),
            lambda value: value - _LN2),
        cases=_objective_cases((-3.5, 0.4)),
    )


# ---------------------------------------------------------------------------------------
# Notebook 03, Exercise 3: the fits
# ---------------------------------------------------------------------------------------

#: The graded tests' tolerance on mu and sigma
_FIT_ATOL = 2e-3
#: The local minima of the reverse KL for this mixture (section 4 of notebook 03, checked
#: against fitting.fit_gaussian_reverse in the tests), and the forward KL's only minimum
_REVERSE_MINIMA = {
    "the mode at +2.98": (2.9843, 1.0234),
    "the mode at -2.98": (-2.9843, 1.0234),
    "the centred minimum": (0.0, 2.7438),
}
_FORWARD_MINIMUM = (0.0, math.sqrt(10.0))


@functools.cache
def _fit_reverse(mu0: float, sigma0: float) -> tuple[float, float]:
    """The reference reverse fit from a start, kept: BFGS takes 10-40 ms."""
    return tuple(float(v) for v in fitting.fit_gaussian_reverse(mu0, sigma0, *_MIXTURE))


def _fit_forward(mu0: float, sigma0: float) -> tuple[float, float]:
    return tuple(float(v) for v in fitting.fit_gaussian_forward(*_MIXTURE))


def _near(received: np.ndarray, point) -> bool:
    return received.shape == (2,) and bool(np.all(np.abs(received - np.asarray(point))
                                                  < 5 * _FIT_ATOL))


def _fit_variants(fit) -> tuple:
    return (
        ("you returned the variance sigma^2 instead of the standard deviation sigma (or "
         "your objective of Exercise 2 treats sigma as a variance): return "
         "[mu, np.exp(log_sigma)]",
         lambda mu0, sigma0: [fit(mu0, sigma0)[0], fit(mu0, sigma0)[1] ** 2]),
        ("you returned log sigma, the optimiser's second coordinate, instead of sigma: "
         "convert back with np.exp at the end",
         lambda mu0, sigma0: [fit(mu0, sigma0)[0], math.log(fit(mu0, sigma0)[1])]),
    )


def _fit_forward_explain(received: np.ndarray) -> str:
    for name, point in _REVERSE_MINIMA.items():
        if _near(received, point):
            return (f"your fit_forward ended at {name} of the REVERSE KL, "
                    f"({point[0]:g}, {point[1]:g}): it minimises kl_gaussian_fit_reverse, or "
                    "your two Exercise 2 functions are swapped. The forward KL's only minimum "
                    "is the moment match [0, sqrt(10)]")
    return ""


def _fit_reverse_explain(expected_name: str):
    def explain(received: np.ndarray) -> str:
        if _near(received, _FORWARD_MINIMUM):
            return ("your fit_reverse reached [0, sqrt(10)], the minimum of the FORWARD KL: "
                    "it minimises kl_gaussian_fit_forward, or your two Exercise 2 functions "
                    "are swapped")
        for name, point in _REVERSE_MINIMA.items():
            if name != expected_name and _near(received, point):
                return (f"your fit ended at {name} ({point[0]:g}, {point[1]:g}), another "
                        "local minimum of the reverse KL than the one default BFGS reaches "
                        f"from this start ({expected_name}). Start the optimiser at "
                        "(mu0, np.log(sigma0)): starting at (mu0, sigma0) means "
                        "sigma = exp(sigma0); use the given start, not a fixed one; and call "
                        "optimize.minimize with only the objective and the start (default "
                        "method and settings)")
        return ""
    return explain


_FIT_HINTS = {
    "value": ("no known misconception matches this value. The fit minimises your Exercise 2 "
              "objective, so run check(kl_gaussian_fit_forward) and "
              "check(kl_gaussian_fit_reverse) first; then check that the optimiser works on "
              "theta = (mu, log sigma) and returns [mu, sigma]"),
    "shape": "return the list [mu, sigma] of the two fitted parameters",
}


def _fit_forward_exercise() -> Exercise:
    return Exercise(
        name="fit_forward",
        reference=_fit_forward,
        arg_names=("mu0", "sigma0"),
        default_features=(),
        rtol=0.0,
        atol=_FIT_ATOL,
        variants=_fit_variants(_fit_forward),
        cases=(
            Case("a narrow start on the right, (2.5, 0.8)", "core", (2.5, 0.8),
                 hints=_FIT_HINTS, explain=_fit_forward_explain),
        ),
    )


def _fit_reverse_exercise() -> Exercise:
    return Exercise(
        name="fit_reverse",
        reference=_fit_reverse,
        arg_names=("mu0", "sigma0"),
        default_features=(),
        rtol=0.0,
        atol=_FIT_ATOL,
        variants=_fit_variants(_fit_reverse),
        cases=(
            Case("a narrow start on the right, (1.8, 0.6)", "core", (1.8, 0.6),
                 hints=_FIT_HINTS, explain=_fit_reverse_explain("the mode at +2.98")),
            Case("a narrow start on the left, (-1.2, 0.6)", "core", (-1.2, 0.6),
                 hints=_FIT_HINTS, explain=_fit_reverse_explain("the mode at -2.98")),
        ),
    )


for _make in (_gaussian_kl_numeric_exercise, _kl_terms_exercise, _kl_in_base_exercise,
              _mc_kl_estimate_exercise, _running_kl_estimate_exercise,
              _kl_gaussian_fit_forward_exercise, _kl_gaussian_fit_reverse_exercise,
              _fit_forward_exercise, _fit_reverse_exercise):
    _register(_make())

# the keyword arguments are exactly those of each notebook's check cell: check(func)
register_graded("01_definition", "gaussian_kl_numeric")
for _function in ("kl_terms", "kl_in_base", "mc_kl_estimate", "running_kl_estimate"):
    register_graded("02_terms", _function)
for _function in ("kl_gaussian_fit_forward", "kl_gaussian_fit_reverse", "fit_forward",
                  "fit_reverse"):
    register_graded("03_insights", _function)
