"""Discrete KL divergence, entropy and cross-entropy, with strict input checks.

All results are in nats unless ``base`` is given (``base=2`` gives bits). Inputs are never
renormalised: a vector that does not sum to 1 is rejected with a ``ValueError`` that names
the argument, because silently dividing by the sum hides bugs that a course should expose.

Conventions (Cover & Thomas, *Elements of Information Theory*, 2nd ed., section 2.3):

* ``0 * log(0 / q) = 0`` for every ``q >= 0``: outcomes impossible under ``p`` contribute 0;
* ``p * log(p / 0) = +inf`` for ``p > 0``: ``D(p || q)`` is infinite when ``q`` rules out
  an outcome that ``p`` allows.

The formulas live in the small ``_*_block`` kernels (one numerical branch per trap, see
`_relative_entropy`). Large inputs pass through them in cache-sized blocks, checked and
summed in the same pass over memory (`_one_pass`): several times faster than plain
whole-array numpy code, with bit-for-bit the same results.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from ._validation import (
    as_float64,
    check_pair,
    distribution,
    distribution_pair,
    float_array,
    log_of_base,
    nonnegative_scalar,
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
# Smallest positive float64 of all, a subnormal: 5e-324
_SMALLEST_SUBNORMAL = np.finfo(np.float64).smallest_subnormal


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


def _divergence(sums, log_base: float | None):
    """A divergence from the sums of its per-outcome terms: clipped at 0, in units of the base.

    Gibbs' inequality makes every divergence >= 0, but the positive and negative terms of
    nearly equal distributions cancel, and rounding can leave about -1e-16; clipping
    moves such results towards the true value and lets callers rely on ``>= 0``.
    """
    return _in_base(np.maximum(sums, 0.0), log_base)


# ---------------------------------------------------------------------------------------
# Elementwise kernels: the formulas, for one block of entries
# ---------------------------------------------------------------------------------------
#
# Each kernel fills ``out`` from 1-D blocks of its inputs. They divide by 0 on purpose
# (p / q where q = 0) and may see invalid input before the checks reject it, so they
# always run under np.errstate(all="ignore") (see `_blockwise` and `_one_pass`).


def _relative_entropy_block(p, q, out) -> None:
    """``out = p * log(p / q)`` for blocks with ``p, q >= 0``, as `_relative_entropy` explains."""
    # 0 where p = 0 < q, inf where q = 0 < p, NaN where p = q = 0; under- or overflows
    # where p and q are far apart
    ratio = np.divide(p, q, out=out)
    # Where the other branches apply, found before ratio is overwritten. As positions,
    # not boolean masks: numpy gathers and scatters by position several times faster, as
    # masks that mix True and False at random defeat the CPU's branch prediction
    close = np.flatnonzero((ratio > 0.5) & (ratio < 2))
    special = np.flatnonzero(~(ratio > _DBL_MIN) | (ratio == np.inf))  # 0, subnormal, NaN, inf
    # The common branch everywhere: p * log(p / q). A placeholder ratio of 1 keeps 0, inf
    # and NaN away from log, which is several times slower on them; the special entries
    # then get 0, the term where p = 0 (+0.0 even for a p of -0.0), and the rest below
    ratio[special] = 1.0
    np.log(ratio, out=out)
    out *= p
    out[special] = 0.0
    # Nearly equal p and q: x * log1p((x - y) / y), in place to save temporaries (take is
    # numpy's fastest gather, p.take(close) is p[close])
    x, y = p.take(close), q.take(close)
    term = x - y
    term /= y
    np.log1p(term, out=term)
    term *= x
    out[close] = term
    if special.size:
        far = special[np.flatnonzero(p.take(special) > 0)]  # q = 0 < p, or p/q under/overflowed
        if far.size:
            y = q.take(far)
            infinite = y == 0  # q = 0 < p: the term is +inf, no logarithm needed
            out[far[infinite]] = np.inf
            # p / q under- or overflowed: take the logs apart (rare; none where q = 0)
            finite = far[~infinite]
            if finite.size:
                x, y = p.take(finite), y[~infinite]
                out[finite] = x * (np.log(x) - np.log(y))


def _neg_entropy_block(p, out) -> None:
    """``out = p * log p`` for a block with ``p >= 0``, taking ``0 * log 0 = 0``.

    One logarithm per entry. Zeros are replaced by the smallest positive float before
    the logarithm: its log is finite (-744.4), ``0 * -744.4`` is the 0 the convention
    asks for, and every positive entry is unchanged (``max(p, 5e-324) = p``).
    """
    np.maximum(p, _SMALLEST_SUBNORMAL, out=out)
    np.log(out, out=out)
    out *= p


def _cross_entropy_block(p, q, out) -> None:
    """``out = p * log q`` for blocks with ``p, q >= 0``; 0 where ``p = 0``, whatever ``q``."""
    zero = np.flatnonzero(q == 0)
    if zero.size == 0:  # the usual case
        np.log(q, out=out)
        out *= p
        return
    # 0 * log 0 would be NaN, and log is several times slower on 0: a placeholder of 1
    # where q = 0 makes those terms p * log 1 = 0 for now, which is right where p = 0
    np.copyto(out, q)
    out[zero] = 1.0
    np.log(out, out=out)
    out *= p
    out[zero[p[zero] > 0]] = -np.inf  # p * log 0 where p > 0: the cross-entropy is +inf


# ---------------------------------------------------------------------------------------
# Running a kernel block by block
# ---------------------------------------------------------------------------------------

_BLOCK = 1 << 15
"""Entries per block (256 KiB per float64 array).

A kernel makes several passes over its arrays (ratio, comparisons, logarithm, product),
and the checks and sums make more. Done on whole arrays of 10^7 entries, every pass
streams 80 MB through main memory and every temporary is another 80 MB; done block by
block, a block and its temporaries stay in the CPU's cache and only the first pass over
it reads memory. A few hundred iterations of a Python loop (306 to 512 for 10^7
entries) cost little next to that; inputs of up to one block (the usual notebook case)
take one.
"""


def _blockwise(kernel, *arrays: np.ndarray) -> np.ndarray:
    """A new float64 array of the arrays' broadcast shape, filled by ``kernel`` in blocks.

    ``kernel(*blocks, out_block)`` gets matching 1-D blocks of at most `_BLOCK` entries of
    each broadcast array and of the result, which it fills.
    """
    arrays = np.broadcast_arrays(*arrays)
    out = np.empty(arrays[0].shape)
    # 1-D views in C order, so that kernels can pick entries by position: views for
    # C-contiguous arrays (the common case), a copy of a broadcast or transposed input
    flat = [a.ravel() for a in arrays]
    out_flat = out.reshape(-1)
    with np.errstate(all="ignore"):
        for start in range(0, out.size, _BLOCK):
            block = slice(start, start + _BLOCK)
            kernel(*(a[block] for a in flat), out_flat[block])
    return out


def _relative_entropy(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Elementwise ``p * log(p / q)`` in nats for validated ``p, q >= 0``, broadcast.

    Follows ``scipy.special.rel_entr`` branch by branch so the two agree to about 1 ulp,
    and every branch avoids a different numerical trap:

    * ``0.5 < p/q < 2``: ``p * log1p((p - q) / q)``; ``p - q`` is exact there (Sterbenz
      lemma) so nearly equal ``p, q`` keep full relative accuracy, where
      ``log p - log q`` would cancel catastrophically;
    * ratio a normal, finite float: ``p * log(p / q)``, one rounding in the ratio;
    * ratio overflows, underflows or is subnormal: ``p * (log p - log q)``, which stays
      finite and accurate where ``p / q`` would be ``inf`` or 0;
    * ``p = 0``: 0 whatever ``q`` is; ``p > 0 = q``: ``+inf``.

    Block by block (`_relative_entropy_block`), the common branch is computed for every
    entry, and the other two only where they apply, overwriting it there.
    """
    return _blockwise(_relative_entropy_block, p, q)


def _pairwise(start: int, stop: int, piece_sums):
    """``piece_sums(start, stop)``, computed on pieces of at most `_BLOCK` entries and added up.

    numpy sums ``n > 128`` contiguous numbers pairwise: the sum of the first ``m`` plus
    the sum of the rest, with ``m = n // 2`` rounded down to a multiple of 8, recursively.
    Cutting ``[start, stop)`` at the same points until the pieces fit in a block, and
    adding up their sums in the same order, gives bit for bit the total of a single
    ``np.sum`` over the whole range, without ever holding all of it.
    """
    if stop - start <= _BLOCK:
        return piece_sums(start, stop)
    middle = start + (stop - start) // 2 // 8 * 8
    return _pairwise(start, middle, piece_sums) + _pairwise(middle, stop, piece_sums)


def _one_pass(kernel, arrays: list[np.ndarray], out: np.ndarray | None):
    """Check, compute and sum C-contiguous arrays of one shape, outcomes along the last axis.

    Goes through the arrays in blocks of whole rows (pieces of a row if it is longer
    than `_BLOCK`). Each block is read from memory once and stays in cache for all the
    work on it: the minimum and the sums that the checks need, ``kernel(*blocks,
    terms)``, and the sums of the terms. The terms go to ``out`` if given, else to a
    scratch array of one block.

    Returns:
        ``(nonnegative, sums)``: whether every entry of every array is >= 0 (False for
        NaN), and the sums along the last axis of each array and then of the terms,
        stacked: shape ``(len(arrays) + 1, *batch_shape)``. Every sum is bit for bit
        ``arr.sum(axis=-1)`` (see `_pairwise`), so checks and results are exactly
        those of separate passes.
    """
    shape = arrays[0].shape
    size, k = arrays[0].size, shape[-1]
    flat = [a.reshape(-1) for a in arrays]
    terms = out.reshape(-1) if out is not None else np.empty(min(size, _BLOCK))
    nonnegative = True

    def block_sums(start, stop):
        """Sums of the rows, or the piece of a row, in [start, stop): shape (arrays + 1, rows)."""
        nonlocal nonnegative
        blocks = [a[start:stop] for a in flat]
        block_terms = terms[start:stop] if out is not None else terms[: stop - start]
        # A minimum is NaN if any entry is NaN, so NaN fails ">= 0" too
        nonnegative = nonnegative and all([block.min() >= 0 for block in blocks])
        kernel(*blocks, block_terms)
        width = min(k, stop - start)
        return np.array([x.reshape(-1, width).sum(axis=1) for x in (*blocks, block_terms)])

    # The kernel sees the data before the checks: invalid entries (NaN, negative) must
    # not warn, the caller rejects them with a ValueError afterwards
    with np.errstate(all="ignore"):
        if k <= _BLOCK:  # blocks of whole rows
            step = _BLOCK // k * k
            parts = [block_sums(start, min(start + step, size)) for start in range(0, size, step)]
        else:  # each row in pieces, added up in numpy's order
            parts = [_pairwise(start, start + k, block_sums) for start in range(0, size, k)]
    sums = np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]
    return nonnegative, sums.reshape(len(arrays) + 1, *shape[:-1])


def _one_pass_inputs(inputs, axis) -> list[np.ndarray] | None:
    """``inputs`` as float64 arrays if `_one_pass` can take them, else None.

    It can if they all have the same shape with at least one entry, are C-contiguous
    and have the outcomes along the last axis. Anything else, including an input that
    is not an array of numbers, goes the general way, whose checks raise the same error
    as always, in the same order.
    """
    try:
        arrays = [as_float64(x, "x", copy=False) for x in inputs]
        first = arrays[0]
        last_axis = first.ndim > 0 and normalize_axis(axis, first.ndim, "x") == first.ndim - 1
    except (ValueError, TypeError, OverflowError):
        return None
    if not last_axis or first.size == 0:
        return None
    if any(a.shape != first.shape or not a.flags.c_contiguous for a in arrays):
        return None
    return arrays


def _checked_terms(kernel, inputs, *, axis, atol, require_normalized=True, keep_terms=False):
    """``kernel``'s terms (with ``keep_terms``) or their sums along ``axis``, inputs checked.

    ``inputs`` is ``(p,)`` or ``(p, q)``, checked exactly as `distribution` or
    `distribution_pair` would, with the same errors (``require_normalized=False``: only
    finite and non-negative). Inputs of one shape, C-contiguous, with the outcomes along
    the last axis (the common case) are checked and computed in one pass over the data
    (`_one_pass`); the entry-by-entry checks that name a problem run only if that pass
    finds one. Anything else (broadcasting, another outcome axis, a transposed array)
    is checked first and then computed with `_blockwise`.
    """
    if require_normalized:
        atol = nonnegative_scalar(atol, "atol")  # the first check of `distribution`
    arrays = _one_pass_inputs(inputs, axis)
    if arrays is not None:
        out = np.empty(arrays[0].shape) if keep_terms else None
        nonnegative, sums = _one_pass(kernel, arrays, out)
        totals = sums[: len(arrays)]
        # Entries >= 0 rule out NaN and negatives; a +inf entry makes its sum +inf,
        # which fails both the sum check and the finite check
        if require_normalized:
            valid = nonnegative and (np.abs(totals - 1.0) <= atol).all()
        else:
            valid = nonnegative and np.isfinite(totals).all()
        if valid:
            return out if keep_terms else sums[-1]
    if len(inputs) == 2:
        arrays = distribution_pair(*inputs, axis=axis, atol=atol,
                                   require_normalized=require_normalized, copy=False)
    else:
        arrays = [distribution(inputs[0], "p", axis=axis, atol=atol, copy=False)]
    terms = _blockwise(kernel, *arrays)
    return terms if keep_terms else terms.sum(axis=axis)


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
    terms = _checked_terms(_relative_entropy_block, (p, q), axis=axis, atol=atol,
                           require_normalized=require_normalized, keep_terms=True)
    terms = _in_base(terms, log_base)
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
    # The sums of the terms p * log(p / q) of `pointwise_terms`
    sums = _checked_terms(_relative_entropy_block, (p, q), axis=axis, atol=atol)
    return _divergence(sums, log_base)


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
    sums = _checked_terms(_neg_entropy_block, (p,), axis=axis, atol=atol)  # sum p log p
    # "0.0 -" keeps H = 0 from printing as -0.0
    return _in_base(0.0 - sums, log_base)


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
    sums = _checked_terms(_cross_entropy_block, (p, q), axis=axis, atol=atol)  # sum p log q
    return _in_base(0.0 - sums, log_base)


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
    return _divergence(terms.sum(axis=axis), log_base)
