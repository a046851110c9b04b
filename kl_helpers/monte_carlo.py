"""Monte Carlo estimates of the discrete KL divergence from samples of ``p``.

The expectation form of the divergence,

    D(p || q) = E_{x ~ p}[log(p(x) / q(x))],

says that averaging the log-ratio over outcomes drawn from ``p`` estimates the divergence
without summing over every outcome. This module makes those draws reproducible, so that the
course's exercises can compare a student's estimator with this reference draw for draw.

**The sampling recipe** (every function here follows it exactly; a student who follows it
with the same ``p`` and ``seed`` makes exactly the same draws):

    rng = np.random.default_rng(seed)                 # a new generator per call
    outcomes = rng.choice(len(p), size=n_samples, p=p)  # indices 0 .. k-1, drawn from p
    log_ratios = np.log(p[outcomes]) - np.log(q[outcomes])

Results are in nats unless ``base`` is given (``base=2`` gives bits). Outcomes with
``p(x) = 0`` are never drawn, so the convention ``0 * log(0 / q) = 0`` holds by itself;
a drawn outcome with ``q(x) = 0`` has log-ratio ``+inf`` and makes the estimate ``+inf``.
A finite sample can miss such an outcome, though: Monte Carlo cannot see an infinite
divergence until it draws the outcome that causes it.

Argument checks are the package's shared ones, so errors are ``ValueError`` messages that
name the argument. ``p`` must sum to 1 within `CHOICE_ATOL`, tighter than
`kl_helpers.divergences.SUM_ATOL`, because ``Generator.choice`` rejects probabilities whose
sum is further from 1 than about 1.5e-8.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ._validation import (
    distribution_pair,
    integer_at_least,
    log_of_base,
    one_dimensional,
    random_seed,
)
from .divergences import SUM_ATOL, _in_base, kl_divergence, validate_distribution

__all__ = [
    "CHOICE_ATOL",
    "KLEstimate",
    "sample_outcomes",
    "sample_log_ratios",
    "mc_kl_estimate",
    "running_mean_estimate",
    "log_ratio_std",
]

CHOICE_ATOL = 1e-8
"""Absolute tolerance on ``|sum(p) - 1|`` for a ``p`` that is sampled from.

``numpy.random.Generator.choice`` raises when the sum is off by more than
``sqrt(float64 eps)``, about 1.49e-8; checking 1e-8 first gives a message naming ``p``.
"""


class KLEstimate(NamedTuple):
    """A Monte Carlo estimate of ``D(p || q)`` and its standard error (same unit)."""

    estimate: float
    standard_error: float


# ---------------------------------------------------------------------------------------
# Sampling
# ---------------------------------------------------------------------------------------


def _draw(p: np.ndarray, n_samples, seed) -> np.ndarray:
    """The recipe of the module docstring, after checking n_samples >= 1 and seed >= 0."""
    n_samples = integer_at_least(n_samples, "n_samples", 1)
    # do not change the recipe without changing the exercises
    rng = np.random.default_rng(random_seed(seed))
    return rng.choice(p.size, size=n_samples, p=p)


def _log_ratio_table(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``log p(x) - log q(x)`` for every outcome with ``p(x) > 0`` (+inf where q(x) = 0).

    Outcomes with ``p(x) = 0`` get 0; they are never drawn and never weighted.
    """
    table = np.zeros(p.shape)
    both = (p > 0) & (q > 0)
    table[both] = np.log(p[both]) - np.log(q[both])
    table[(p > 0) & (q == 0)] = np.inf
    return table


def sample_outcomes(p, n_samples: int, seed: int) -> np.ndarray:
    """Draw ``n_samples`` outcome indices from ``p`` with the module's recipe.

    ``np.random.default_rng(seed).choice(len(p), size=n_samples, p=p)``: outcome ``i`` is
    drawn with probability ``p[i]``, independently for each sample.

    Args:
        p: distribution of shape ``(k,)`` (entries >= 0, summing to 1 within `CHOICE_ATOL`).
        n_samples: int >= 1, the number of draws.
        seed: int >= 0, the seed of a new ``np.random.default_rng``.

    Returns:
        int64 array of shape ``(n_samples,)`` with entries in ``0 .. k-1``; outcomes with
        ``p[i] = 0`` never appear.

    Raises:
        ValueError: naming the argument, if ``p`` is not a 1-D distribution (as
            `kl_helpers.divergences.validate_distribution`, with tolerance `CHOICE_ATOL`),
            ``n_samples`` is not an integer >= 1 or ``seed`` is not an integer >= 0.
    """
    p_arr = one_dimensional(validate_distribution(p, "p", atol=CHOICE_ATOL), "p")
    return _draw(p_arr, n_samples, seed)


def sample_log_ratios(p, q, n_samples: int, seed: int, *, base: float | None = None):
    """Log-ratios ``log(p(x_i) / q(x_i))`` at ``n_samples`` outcomes ``x_i`` drawn from ``p``.

    Their mean is an unbiased estimate of ``D(p || q)`` (see `mc_kl_estimate`). Each
    entry is ``log p(x_i) - log q(x_i)``, ``+inf`` where ``q(x_i) = 0``; individual entries
    are negative wherever ``q(x_i) > p(x_i)``.

    Args:
        p: distribution of shape ``(k,)`` to sample from (sum within `CHOICE_ATOL` of 1).
        q: distribution of shape ``(k,)``.
        n_samples: int >= 1, the number of draws.
        seed: int >= 0; the draws are `sample_outcomes` ``(p, n_samples, seed)``.
        base: logarithm base; None gives nats, 2 gives bits.

    Returns:
        float64 array of shape ``(n_samples,)``, in nats or in units of ``log(base)``.

    Raises:
        ValueError: naming the argument, if ``p`` or ``q`` is not a 1-D distribution,
            their lengths differ, ``n_samples`` is not an integer >= 1, ``seed`` is not an
            integer >= 0, or ``base`` is invalid (<= 0, 1, NaN, inf).
    """
    log_base = log_of_base(base)
    p_arr, q_arr = distribution_pair(p, q, atol=CHOICE_ATOL, q_atol=SUM_ATOL, vectors=True)
    outcomes = _draw(p_arr, n_samples, seed)
    return _in_base(_log_ratio_table(p_arr, q_arr)[outcomes], log_base)


def mc_kl_estimate(p, q, n_samples: int, seed: int, *, base: float | None = None) -> KLEstimate:
    """Monte Carlo estimate of ``D(p || q) = E_{x~p}[log(p(x)/q(x))]`` with its standard error.

    ``estimate = (1/n) sum_i l_i`` and ``standard_error = s / sqrt(n)``, where
    ``l_i = log(p(x_i) / q(x_i))`` are the `sample_log_ratios` and ``s`` is their sample
    standard deviation (``ddof=1``). The estimate is unbiased; about 95% of seeds give
    an estimate within 2 standard errors of the exact divergence when ``n`` is large.
    If a drawn outcome has ``q(x_i) = 0``, both fields are ``+inf`` (an infinite estimate
    has no finite error bar).

    Args:
        p, q: distributions of shape ``(k,)``; ``p`` is sampled from (sum within
            `CHOICE_ATOL` of 1).
        n_samples: int >= 2, the number of draws.
        seed: int >= 0, the seed of the draws (see the module's recipe).
        base: logarithm base; None gives nats, 2 gives bits.

    Returns:
        `KLEstimate` ``(estimate, standard_error)`` of Python floats, in nats or in
        units of ``log(base)``.

    Raises:
        ValueError: as `sample_log_ratios`, and if ``n_samples`` < 2.
    """
    n_samples = integer_at_least(
        n_samples, "n_samples", 2, " (a standard error needs at least 2 samples)"
    )
    log_ratios = sample_log_ratios(p, q, n_samples, seed, base=base)
    if np.isposinf(log_ratios).any():
        return KLEstimate(math.inf, math.inf)
    estimate = float(log_ratios.mean())
    standard_error = float(log_ratios.std(ddof=1) / math.sqrt(n_samples))
    return KLEstimate(estimate, standard_error)


def running_mean_estimate(p, q, n_samples: int, seed: int, *, base: float | None = None):
    """Estimates of ``D(p || q)`` after 1, 2, ..., ``n_samples`` draws of the same sample.

    Entry ``j`` (0-based) is the mean of the first ``j + 1`` `sample_log_ratios`:
    ``cumsum(l)[j] / (j + 1)``. The last entry equals ``mc_kl_estimate(...).estimate``
    for the same arguments (to rounding). Once an outcome with ``q(x) = 0`` is drawn,
    every later entry is ``+inf``.

    Args:
        p, q: distributions of shape ``(k,)``; ``p`` is sampled from.
        n_samples: int >= 1, the number of draws.
        seed: int >= 0, the seed of the draws (see the module's recipe).
        base: logarithm base; None gives nats, 2 gives bits.

    Returns:
        float64 array of shape ``(n_samples,)``, in nats or in units of ``log(base)``.

    Raises:
        ValueError: as `sample_log_ratios`.
    """
    log_ratios = sample_log_ratios(p, q, n_samples, seed, base=base)
    return np.cumsum(log_ratios) / np.arange(1, log_ratios.size + 1)


def log_ratio_std(p, q, *, base: float | None = None) -> float:
    """Exact standard deviation of ``log(p(X) / q(X))`` for ``X ~ p``.

    ``sigma = sqrt(sum_x p(x) * (log(p(x) / q(x)) - D(p || q))^2)`` over the outcomes
    with ``p(x) > 0``. The standard error of a Monte Carlo estimate from ``n``
    independent draws is ``sigma / sqrt(n)``, so this gives the width of the error band
    around the exact value without sampling. Written as a sum of squared deviations
    (not ``E[l^2] - D^2``) so that it does not cancel when ``p`` is close to ``q``.

    Args:
        p, q: distributions of shape ``(k,)`` (sums within
            `kl_helpers.divergences.SUM_ATOL` of 1).
        base: logarithm base; None gives nats, 2 gives bits.

    Returns:
        float >= 0 in nats or in units of ``log(base)``; ``+inf`` when some
        ``q(x) = 0 < p(x)`` (the divergence itself is infinite).

    Raises:
        ValueError: naming the argument, if ``p`` or ``q`` is not a 1-D distribution,
            their lengths differ, or ``base`` is invalid.
    """
    log_base = log_of_base(base)
    p_arr, q_arr = distribution_pair(p, q, atol=SUM_ATOL, vectors=True)
    divergence = float(kl_divergence(p_arr, q_arr))
    if math.isinf(divergence):
        return math.inf
    support = p_arr > 0
    deviations = _log_ratio_table(p_arr, q_arr)[support] - divergence
    variance = float(np.sum(p_arr[support] * deviations**2))
    return float(_in_base(math.sqrt(variance), log_base))
