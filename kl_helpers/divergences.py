"""Discrete KL divergence, entropy and cross-entropy, with strict input checks.

All results are in nats unless ``base`` is given (``base=2`` gives bits). Inputs are never
renormalised: a vector that does not sum to 1 is rejected with a ``ValueError`` that names
the argument, because silently dividing by the sum hides bugs that a course should expose.

Conventions (Cover & Thomas, *Elements of Information Theory*, 2nd ed., section 2.3):

* ``0 * log(0 / q) = 0`` for every ``q >= 0``: outcomes impossible under ``p`` contribute 0;
* ``p * log(p / 0) = +inf`` for ``p > 0``: ``D(p || q)`` is infinite when ``q`` rules out
  an outcome that ``p`` allows.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from ._validation import (
    check_pair,
    distribution,
    distribution_pair,
    float_array,
    log_of_base,
    normalize_axis,
)

__all__ = [
    "SUM_ATOL",
    "validate_distribution",
    "kl_divergence",
    "pointwise_terms",
    "entropy",
    "cross_entropy",
    "log_softmax",
    "softmax",
    "kl_from_logits",
]

SUM_ATOL = 1e-6
"""Absolute tolerance on ``|sum - 1|`` along ``axis`` for an array to count as a distribution.

Loose enough for probabilities typed with a few decimals or produced by float32 code,
tight enough to catch unnormalised counts, weights or forgotten divisions.
"""

# Smallest positive normal float64 (C's DBL_MIN); below it a ratio p/q has lost precision
_DBL_MIN = np.finfo(np.float64).tiny


def validate_distribution(x, name: str, *, axis: int = -1, atol: float = SUM_ATOL) -> np.ndarray:
    """Check that ``x`` holds probability distributions along ``axis`` and return it as float64.

    A distribution is a finite, non-negative vector whose entries sum to 1:
    ``x[i] >= 0`` and ``|sum_i x[i] - 1| <= atol``. With more than one dimension, every
    slice along ``axis`` must be a distribution (a batch). Nothing is ever renormalised.

    Args:
        x: array-like of shape ``(..., k, ...)`` with the ``k`` outcomes along ``axis``.
        name: the argument's name, used in error messages (e.g. ``"p"``).
        axis: the outcome axis.
        atol: absolute tolerance on each sum (default `SUM_ATOL`).

    Returns:
        A new float64 ``np.ndarray`` with the same shape and values as ``x``.

    Raises:
        ValueError: naming ``name`` and the problem, if ``x`` is not numeric (strings,
            None, ragged lists, complex), is 0-d (a scalar is not a distribution), is
            empty, contains NaN or +-inf, has a negative entry (with its index and value),
            does not sum to 1 within ``atol`` along ``axis``, or if ``axis`` is out of
            range or ``atol`` is not a finite number >= 0.
    """
    return distribution(x, name, axis=axis, atol=atol)


# ---------------------------------------------------------------------------------------
# Units and sums
# ---------------------------------------------------------------------------------------


def _in_base(value, log_base: float | None):
    return value if log_base is None else value / log_base


def _sum_divergence(terms: np.ndarray, axis: int, log_base: float | None):
    """Sum per-outcome terms into a divergence, clipped at 0.

    Gibbs' inequality makes every divergence >= 0, but the positive and negative terms of
    nearly equal distributions cancel, and rounding can leave about -1e-16; clipping
    moves such results towards the true value and lets callers rely on ``>= 0``.
    """
    return _in_base(np.maximum(terms.sum(axis=axis), 0.0), log_base)


# ---------------------------------------------------------------------------------------
# The one elementwise kernel: relative entropy p * log(p / q)
# ---------------------------------------------------------------------------------------


def _relative_entropy(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Elementwise ``p * log(p / q)`` in nats for validated ``p, q >= 0``, broadcast.

    Follows ``scipy.special.rel_entr`` branch by branch so the two agree to about 1 ulp,
    and every branch avoids a different numerical trap:

    * ``0.5 < p/q < 2``: ``p * log1p((p - q) / q)``; ``p - q`` is exact there (Sterbenz
      lemma) so nearly equal ``p, q`` keep full relative accuracy, where
      ``log p - log q`` would cancel catastrophically;
    * ratio a normal, finite float: ``p * log(p / q)``, one rounding in the ratio;
    * ratio overflows, underflows or is subnormal: ``p * (log p - log q)``, which stays
      finite and accurate where ``p / q`` would be ``inf`` or 0.
    """
    p, q = np.broadcast_arrays(p, q)
    terms = np.zeros(p.shape)  # p == 0 contributes 0 whatever q is
    terms[(p > 0) & (q == 0)] = np.inf
    both = (p > 0) & (q > 0)
    x, y = p[both], q[both]
    with np.errstate(over="ignore", under="ignore"):
        ratio = x / y
    close = (ratio > 0.5) & (ratio < 2)
    representable = (ratio > _DBL_MIN) & (ratio < np.inf) & ~close
    values = x * (np.log(x) - np.log(y))
    values[close] = x[close] * np.log1p((x[close] - y[close]) / y[close])
    values[representable] = x[representable] * np.log(ratio[representable])
    terms[both] = values
    return terms


# ---------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------


def pointwise_terms(
    p,
    q,
    *,
    base: float | None = None,
    axis: int = -1,
    require_normalized: bool = True,
    atol: float = SUM_ATOL,
) -> np.ndarray:
    """Per-outcome contributions ``p(x) * log(p(x) / q(x))`` to ``D(p || q)``.

    Individual terms can be negative (wherever ``q(x) > p(x)``); only their sum is >= 0.
    ``0 * log(0 / q) = 0`` for any ``q >= 0``, and ``p > 0`` where ``q = 0`` gives +inf.
    Values agree with ``scipy.special.rel_entr`` to about 1 ulp, including where
    ``p / q`` overflows (e.g. ``p = 4, q = 2.22e-308`` gives 2839.139983229607).

    Args:
        p, q: array-likes of shape ``(..., k, ...)``, outcomes along ``axis``; they
            broadcast against each other, but the outcome axis must have the same size.
        base: logarithm base of the result; None gives nats, 2 gives bits.
        axis: the outcome axis (used for the sum check and the shape check).
        require_normalized: if False, skip only the sum-to-1 check, which turns this into
            an elementwise relative entropy of non-negative arrays (0-d inputs allowed).
        atol: tolerance of the sum check, see `SUM_ATOL`.

    Returns:
        float64 array with the broadcast shape of ``p`` and ``q`` (an ``np.float64`` scalar
        for 0-d inputs), in nats or in units of ``log(base)``.

    Raises:
        ValueError: as `validate_distribution` (naming ``p`` or ``q``), when the outcome
            axis sizes differ or the shapes do not broadcast (naming both shapes), or for
            an invalid ``base`` (<= 0, 1, NaN, inf).
    """
    log_base = log_of_base(base)
    p_arr, q_arr = distribution_pair(
        p, q, axis=axis, atol=atol, require_normalized=require_normalized
    )
    terms = _in_base(_relative_entropy(p_arr, q_arr), log_base)
    return terms[()] if terms.ndim == 0 else terms


def kl_divergence(p, q, *, base: float | None = None, axis: int = -1, atol: float = SUM_ATOL):
    """Kullback-Leibler divergence ``D(p || q) = sum_x p(x) * log(p(x) / q(x))``.

    Measures the expected extra code length (nats, or bits with ``base=2``) paid for
    coding samples of ``p`` with a code optimised for ``q``. ``D(p || q) >= 0`` with
    equality iff ``p == q`` (Gibbs' inequality); it is not symmetric. It is +inf when ``q``
    gives probability 0 to an outcome that ``p`` allows, and outcomes with ``p(x) = 0``
    contribute 0. Computed as the sum of `pointwise_terms`, clipped at 0: for nearly equal
    ``p`` and ``q`` the terms cancel and rounding could otherwise leave about -1e-16.

    Args:
        p, q: distributions of shape ``(..., k, ...)``, the ``k`` outcomes along ``axis``.
            Leading/trailing batch dimensions broadcast (numpy rules); the outcome axis
            sizes must be equal.
        base: logarithm base; None gives nats, 2 gives bits, 10 gives hartleys.
        axis: the outcome axis.
        atol: tolerance on ``|sum - 1|``, see `SUM_ATOL`.

    Returns:
        ``np.float64`` for 1-D inputs; otherwise an array with the broadcast shape of
        ``p`` and ``q`` without ``axis``.

    Raises:
        ValueError: as `validate_distribution` (naming ``p`` or ``q``: non-numeric, 0-d,
            empty, NaN, inf, negative entry, sum not 1), when the outcome axis sizes
            differ or the shapes do not broadcast (naming both shapes), or for an
            invalid ``base`` (<= 0, 1, NaN, inf).
    """
    log_base = log_of_base(base)
    return _sum_divergence(pointwise_terms(p, q, axis=axis, atol=atol), axis, log_base)


def entropy(p, *, base: float | None = None, axis: int = -1, atol: float = SUM_ATOL):
    """Shannon entropy ``H(p) = -sum_x p(x) * log p(x)``, with ``0 * log 0 = 0``.

    Unlike ``scipy.stats.entropy`` it does not normalise ``p``: ``[0, 1, 2]`` is rejected,
    ``[0, 1/3, 2/3]`` gives 0.6365141682948128 nats.

    Args:
        p: distribution(s) of shape ``(..., k, ...)``, outcomes along ``axis``.
        base: logarithm base; None gives nats, 2 gives bits.
        axis: the outcome axis.
        atol: tolerance on ``|sum - 1|``, see `SUM_ATOL`.

    Returns:
        ``np.float64`` (>= 0) for 1-D ``p``; otherwise an array of ``p``'s shape
        without ``axis``.

    Raises:
        ValueError: as `validate_distribution` (naming ``p``), or for an invalid ``base``.
    """
    log_base = log_of_base(base)
    p_arr = validate_distribution(p, "p", axis=axis, atol=atol)
    # p log p is the relative entropy of p to the constant 1; "0.0 -" keeps H = 0 from
    # printing as -0.0
    return _in_base(0.0 - _relative_entropy(p_arr, 1.0).sum(axis=axis), log_base)


def cross_entropy(p, q, *, base: float | None = None, axis: int = -1, atol: float = SUM_ATOL):
    """Cross-entropy ``H(p, q) = -sum_x p(x) * log q(x)``.

    Satisfies ``H(p, q) = H(p) + D(p || q)``, so it is minimised over ``q`` at ``q = p``.
    Outcomes with ``p(x) = 0`` contribute 0; ``p(x) > 0`` where ``q(x) = 0`` gives +inf.

    Args:
        p, q: distributions of shape ``(..., k, ...)``, outcomes along ``axis``;
            broadcasting as in `kl_divergence`.
        base: logarithm base; None gives nats, 2 gives bits.
        axis: the outcome axis.
        atol: tolerance on ``|sum - 1|``, see `SUM_ATOL`.

    Returns:
        ``np.float64`` for 1-D inputs; otherwise an array of the broadcast shape
        without ``axis``.

    Raises:
        ValueError: as `kl_divergence`.
    """
    log_base = log_of_base(base)
    p_arr, q_arr = distribution_pair(p, q, axis=axis, atol=atol)
    p_arr, q_arr = np.broadcast_arrays(p_arr, q_arr)
    # log 0 = -inf is wanted (p > 0 there gives +inf); 0 * -inf = NaN where p == 0 is
    # masked to 0 by the where
    with np.errstate(divide="ignore", invalid="ignore"):
        weighted = np.where(p_arr > 0, p_arr * np.log(q_arr), 0.0)
    return _in_base(0.0 - weighted.sum(axis=axis), log_base)


def _log_softmax(logits, name: str, axis: int) -> np.ndarray:
    arr = float_array(logits, name, allow_neg_inf=True)
    outcome_axis = normalize_axis(axis, arr.ndim, name)
    all_neg_inf = np.all(np.isneginf(arr), axis=outcome_axis)
    if all_neg_inf.any():
        raise ValueError(
            f"{name} is -inf for every outcome along axis {axis}; softmax is undefined "
            "when every outcome has probability 0"
        )
    # Shifting by the maximum keeps exp from overflowing, and makes the largest entry's
    # log-probability -log(1 + small), computed without cancellation
    shifted = arr - np.max(arr, axis=outcome_axis, keepdims=True)
    return shifted - logsumexp(shifted, axis=outcome_axis, keepdims=True)


def log_softmax(logits, axis: int = -1) -> np.ndarray:
    """Log-probabilities ``log_softmax(z)_i = z_i - log(sum_j exp(z_j))``, computed stably.

    Subtracts the maximum along ``axis`` and then ``scipy.special.logsumexp``, so nothing
    overflows: logits like ``[1000, 0, -1000]`` give ``[0, -1000, -2000]``, not NaN.

    Args:
        logits: real array-like of shape ``(..., k, ...)``, the ``k`` outcomes along
            ``axis``. ``-inf`` is allowed and means probability 0.
        axis: the outcome axis.

    Returns:
        float64 array of the same shape; ``exp`` of it sums to 1 along ``axis``.

    Raises:
        ValueError: naming ``logits``, if it is non-numeric, 0-d, empty, contains NaN
            or +inf, or is -inf for every outcome of a slice; or if ``axis`` is invalid.
    """
    return _log_softmax(logits, "logits", axis)


def softmax(logits, axis: int = -1) -> np.ndarray:
    """Probabilities ``softmax(z)_i = exp(z_i) / sum_j exp(z_j)`` as ``exp(log_softmax(z))``.

    Args:
        logits: real array-like of shape ``(..., k, ...)``; ``-inf`` means probability 0.
        axis: the outcome axis.

    Returns:
        float64 array of the same shape, non-negative and summing to 1 along ``axis``.

    Raises:
        ValueError: as `log_softmax`.
    """
    return np.exp(_log_softmax(logits, "logits", axis))


def kl_from_logits(logits_p, logits_q, *, base: float | None = None, axis: int = -1):
    """``D(softmax(logits_p) || softmax(logits_q))`` computed from log-probabilities only.

    With ``lp = log_softmax(logits_p)`` and ``lq = log_softmax(logits_q)``:
    ``D = sum_x exp(lp(x)) * (lp(x) - lq(x))``. Never forming ``p / q`` or ``log(softmax)``
    keeps it finite and NaN-free for extreme logits: ``[1000, 0, -1000]`` against
    ``[0, 0, 0]`` gives ln 3. Outcomes with ``exp(lp) == 0`` contribute 0 (even where
    ``lq = -inf``); ``lp`` finite where ``lq = -inf`` gives +inf. Like `kl_divergence`,
    the sum is clipped at 0 against rounding.

    Args:
        logits_p, logits_q: real array-likes of shape ``(..., k, ...)``, outcomes along
            ``axis``; batch dimensions broadcast, the outcome axis sizes must be equal.
        base: logarithm base; None gives nats, 2 gives bits.
        axis: the outcome axis.

    Returns:
        ``np.float64`` for 1-D inputs; otherwise an array of the broadcast shape
        without ``axis``.

    Raises:
        ValueError: as `log_softmax` (naming ``logits_p`` or ``logits_q``), when the
            outcome axis sizes differ or the shapes do not broadcast, or for an invalid
            ``base``.
    """
    log_base = log_of_base(base)
    log_p = _log_softmax(logits_p, "logits_p", axis)
    log_q = _log_softmax(logits_q, "logits_q", axis)
    check_pair(log_p, log_q, axis, ("logits_p", "logits_q"))
    p = np.exp(log_p)
    # -inf - (-inf) and 0 * -inf give NaN only where p == 0, which is masked to 0 below
    with np.errstate(invalid="ignore"):
        terms = np.where(p > 0, p * (log_p - log_q), 0.0)
    return _sum_divergence(terms, axis, log_base)
