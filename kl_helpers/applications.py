"""KL divergence at work in machine learning: distillation, variational inference, coding.

Three applications, each with the quantities a notebook needs to check its numbers:

* knowledge distillation (Hinton, Vinyals & Dean 2015, arXiv:1503.02531): the loss
  ``alpha T^2 KL(softmax(z_t / T) || softmax(z_s / T)) + (1 - alpha) CE(y, softmax(z_s))``
  and the gradient of its soft term with respect to the student's logits;
* variational inference on a conjugate Gaussian model, ``z ~ N(m0, s0^2)`` and
  ``x_i | z ~ N(z, sigma^2)`` independently: the exact posterior, the exact log evidence
  ``log p(x)`` and the evidence lower bound ``ELBO(q) = log p(x) - KL(q || p(z | x))`` of a
  Gaussian ``q = N(m, s^2)``;
* coding: code lengths in bits (ideal ``-log2 q``, Shannon ``ceil(-log2 q)``, Huffman) and
  the average length of a code under the true distribution, ``H(p, q) = H(p) + KL(p || q)``
  bits for the ideal code built for ``q``.

The VAE regulariser is `kl_helpers.closed_forms.diag_gaussian_kl_to_standard_normal`. Results
are in nats unless the name says bits. Invalid input raises ``ValueError`` naming the argument.
"""

from __future__ import annotations

import heapq
import math

import numpy as np

from ._validation import (
    broadcast_shape,
    check_shape,
    float_array,
    index_array,
    one_dimensional,
    positive_array,
    positive_scalar,
    real_scalar,
    reject_where,
    same_shape,
)
from .divergences import kl_from_logits, log_softmax, softmax, validate_distribution

__all__ = [
    "distillation_loss",
    "distillation_soft_gradient",
    "gaussian_posterior",
    "log_evidence",
    "elbo",
    "ideal_code_lengths_bits",
    "shannon_code_lengths",
    "huffman_code_lengths",
    "expected_code_length_bits",
]


# ---------------------------------------------------------------------------------------
# Argument checks
# ---------------------------------------------------------------------------------------


def _logit_batch(x, name: str) -> np.ndarray:
    arr = float_array(x, name)
    if arr.ndim not in (1, 2):
        raise ValueError(
            f"{name} must have shape (k,) or (n, k) (classes along the last axis), "
            f"got shape {arr.shape}"
        )
    if arr.shape[-1] < 2:
        raise ValueError(f"{name} needs at least 2 classes along its last axis, got {arr.shape}")
    return arr


def _logit_pair(student_logits, teacher_logits) -> tuple[np.ndarray, np.ndarray]:
    """``(z_s, z_t)``: two `_logit_batch` arrays of the same shape."""
    z_s = _logit_batch(student_logits, "student_logits")
    z_t = _logit_batch(teacher_logits, "teacher_logits")
    same_shape({"student_logits": z_s, "teacher_logits": z_t})
    return z_s, z_t


def _labels(labels, n_classes: int, batch_shape: tuple[int, ...]) -> np.ndarray:
    return index_array(labels, "labels", n_classes, shape=batch_shape,
                       why=" (one class index per row of the logits)")


def _observations(x) -> np.ndarray:
    arr = float_array(x, "x")
    if arr.ndim > 1:
        raise ValueError(
            f"x must be a scalar or a 1-D array of observations, got shape {arr.shape}"
        )
    return arr.reshape(-1)


# ---------------------------------------------------------------------------------------
# Knowledge distillation
# ---------------------------------------------------------------------------------------


def distillation_loss(student_logits, teacher_logits, labels, temperature, alpha):
    """Hinton et al.'s distillation loss, averaged over the batch, in nats.

    ``L = alpha T^2 KL(p_t || q_s) + (1 - alpha) CE(y, softmax(z_s))`` with the softened
    distributions ``p_t = softmax(z_t / T)`` (teacher) and ``q_s = softmax(z_s / T)``
    (student), and the hard-label cross-entropy ``CE = -log softmax(z_s)[y]`` at
    temperature 1. The ``T^2`` keeps the soft term's gradient comparable across
    temperatures (see `distillation_soft_gradient`). Hinton, Vinyals & Dean, "Distilling
    the Knowledge in a Neural Network", arXiv:1503.02531, section 2.

    Args:
        student_logits: logits ``z_s``, shape ``(k,)`` for one example or ``(n, k)``.
        teacher_logits: logits ``z_t``, the same shape as ``student_logits``.
        labels: integer class index in ``[0, k)``: a scalar for 1-D logits, else shape ``(n,)``.
        temperature: ``T > 0``.
        alpha: weight of the soft term, in ``[0, 1]``.

    Returns:
        ``float``: the loss averaged over the ``n`` examples, in nats.

    Raises:
        ValueError: naming the argument, if the logits are non-numeric, NaN, infinite,
            not 1-D or 2-D, have fewer than 2 classes, or differ in shape; if labels are not
            integers of the batch shape inside ``[0, k)``; if ``temperature`` is not a
            finite number > 0 or ``alpha`` is not in ``[0, 1]``.
    """
    z_s, z_t = _logit_pair(student_logits, teacher_logits)
    y = _labels(labels, z_s.shape[-1], z_s.shape[:-1])
    t = positive_scalar(temperature, "temperature")
    a = real_scalar(alpha, "alpha", low=0.0, high=1.0)
    soft = kl_from_logits(z_t / t, z_s / t)  # KL(teacher || student), per example
    log_q = log_softmax(z_s)
    hard = -np.take_along_axis(log_q, y[..., None], axis=-1)[..., 0]
    return float(np.mean(a * t**2 * soft + (1.0 - a) * hard))


def distillation_soft_gradient(student_logits, teacher_logits, temperature, *, t_squared=True):
    """Gradient of the soft term with respect to the student's logits, per example.

    For ``S = KL(softmax(z_t / T) || softmax(z_s / T))``, ``dS/dz_s = (q_s - p_t) / T``
    with ``q_s = softmax(z_s / T)``, ``p_t = softmax(z_t / T)``. With ``t_squared`` (the
    loss's ``T^2 S``) the gradient is ``T (q_s - p_t)``. For zero-mean logits and large
    ``T``, ``q_s - p_t ~ (z_s - z_t) / (k T)``: without the ``T^2`` the gradient shrinks
    like ``1 / T^2``, with it it tends to ``(z_s - z_t) / k``.

    Args:
        student_logits: ``z_s``, shape ``(k,)`` or ``(n, k)``.
        teacher_logits: ``z_t``, the same shape.
        temperature: ``T > 0``.
        t_squared: multiply the soft term by ``T^2`` (as the distillation loss does).

    Returns:
        float64 array of the logits' shape: row ``i`` is the gradient of example ``i``'s
        soft term with respect to its own student logits (nats per unit of logit).

    Raises:
        ValueError: as `distillation_loss` for the logits and ``temperature``.
    """
    z_s, z_t = _logit_pair(student_logits, teacher_logits)
    t = positive_scalar(temperature, "temperature")
    gap = softmax(z_s / t) - softmax(z_t / t)
    return gap * t if t_squared else gap / t


# ---------------------------------------------------------------------------------------
# Variational inference on a conjugate Gaussian model
# ---------------------------------------------------------------------------------------


def _model(x, noise_sd, prior_mean, prior_sd):
    return (
        _observations(x),
        positive_scalar(noise_sd, "noise_sd"),
        real_scalar(prior_mean, "prior_mean"),
        positive_scalar(prior_sd, "prior_sd"),
    )


def gaussian_posterior(x, noise_sd, prior_mean=0.0, prior_sd=1.0):
    """Exact posterior ``p(z | x) = N(mean, sd^2)`` of the conjugate Gaussian model.

    Model: ``z ~ N(prior_mean, prior_sd^2)``, then ``x_1, ..., x_n | z ~ N(z, noise_sd^2)``
    independently. Precisions add: ``1 / sd^2 = 1 / prior_sd^2 + n / noise_sd^2`` and
    ``mean = sd^2 (prior_mean / prior_sd^2 + sum_i x_i / noise_sd^2)``.

    Args:
        x: one observation (scalar) or a 1-D array of ``n`` observations.
        noise_sd: standard deviation (not variance) of each observation given ``z``, > 0.
        prior_mean: mean of the prior on ``z``.
        prior_sd: standard deviation of the prior, > 0.

    Returns:
        ``(mean, sd)``: two floats, the posterior mean and STANDARD DEVIATION.

    Raises:
        ValueError: naming the argument, if ``x`` is non-numeric, empty, NaN, infinite or
            more than 1-D, or a scale is not a finite number > 0, or ``prior_mean`` is not
            finite.
    """
    obs, noise, m0, s0 = _model(x, noise_sd, prior_mean, prior_sd)
    precision = 1.0 / s0**2 + obs.size / noise**2
    variance = 1.0 / precision
    mean = variance * (m0 / s0**2 + obs.sum() / noise**2)
    return float(mean), float(math.sqrt(variance))


def _log_joint(z, obs, noise, m0, s0):
    """``log p(x | z) + log p(z)`` for scalar ``z`` (Gaussian log-densities)."""
    log_lik = -0.5 * np.sum(((obs - z) / noise) ** 2) - obs.size * math.log(
        math.sqrt(2 * math.pi) * noise
    )
    log_prior = -0.5 * ((z - m0) / s0) ** 2 - math.log(math.sqrt(2 * math.pi) * s0)
    return log_lik + log_prior


def log_evidence(x, noise_sd, prior_mean=0.0, prior_sd=1.0):
    """Exact log marginal likelihood ``log p(x)`` of the conjugate Gaussian model, in nats.

    Bayes' rule holds at every ``z``: ``log p(x) = log p(x | z) + log p(z) - log p(z | x)``;
    it is evaluated at the posterior mean. (Equivalently ``x ~ N(prior_mean 1,
    noise_sd^2 I + prior_sd^2 1 1^T)``, a multivariate normal, which the tests use.)

    Args:
        x, noise_sd, prior_mean, prior_sd: as in `gaussian_posterior`.

    Returns:
        ``float``: ``log p(x)`` in nats (a log-density, so it can be positive).

    Raises:
        ValueError: as `gaussian_posterior`.
    """
    obs, noise, m0, s0 = _model(x, noise_sd, prior_mean, prior_sd)
    mean, sd = gaussian_posterior(obs, noise, m0, s0)
    log_post_at_mean = -math.log(math.sqrt(2 * math.pi) * sd)
    return float(_log_joint(mean, obs, noise, m0, s0) - log_post_at_mean)


def elbo(q_mean, q_sd, x, noise_sd, prior_mean=0.0, prior_sd=1.0):
    """Evidence lower bound of ``q = N(q_mean, q_sd^2)`` for the conjugate model, in nats.

    ``ELBO(q) = E_q[log p(x | z)] + E_q[log p(z)] + H(q)`` in closed form, with
    ``E_q[(x_i - z)^2] = (x_i - q_mean)^2 + q_sd^2`` and ``H(q) = ln(q_sd sqrt(2 pi e))``.
    It equals ``log p(x) - KL(q || p(z | x)) <= log p(x)``, with equality iff ``q`` is the
    posterior.

    Args:
        q_mean: mean(s) of ``q``; a scalar or an array (e.g. a grid).
        q_sd: standard deviation(s) of ``q`` (not variances), > 0; broadcast with
            ``q_mean``.
        x, noise_sd, prior_mean, prior_sd: as in `gaussian_posterior`.

    Returns:
        ``np.float64`` for scalar ``q_mean`` and ``q_sd``, otherwise an array of their
        broadcast shape; nats.

    Raises:
        ValueError: naming the argument, as `gaussian_posterior`, or if ``q_mean`` is
            non-numeric, NaN or infinite, ``q_sd`` is not > 0, or the two do not broadcast.
    """
    obs, noise, m0, s0 = _model(x, noise_sd, prior_mean, prior_sd)
    m = float_array(q_mean, "q_mean")
    s = positive_array(q_sd, "q_sd")
    broadcast_shape({"q_mean": m, "q_sd": s})
    m, s = np.broadcast_arrays(m, s)
    n = obs.size
    # sum_i (x_i - m)^2 = sum_i (x_i - xbar)^2 + n (xbar - m)^2: no loop over observations
    xbar = obs.mean()
    scatter = np.sum((obs - xbar) ** 2)
    expected_sq = scatter + n * ((xbar - m) ** 2 + s**2)
    expected_log_lik = -0.5 * expected_sq / noise**2 - n * math.log(math.sqrt(2 * math.pi) * noise)
    expected_log_prior = -0.5 * ((m - m0) ** 2 + s**2) / s0**2 - math.log(
        math.sqrt(2 * math.pi) * s0
    )
    entropy_q = np.log(s) + 0.5 * math.log(2 * math.pi * math.e)
    result = expected_log_lik + expected_log_prior + entropy_q
    return result[()] if result.ndim == 0 else result


# ---------------------------------------------------------------------------------------
# Coding: code lengths in bits
# ---------------------------------------------------------------------------------------


def ideal_code_lengths_bits(q):
    """Ideal code lengths ``-log2 q(x)`` in bits, of the best code for ``q`` (non-integer).

    A code with these lengths has average length ``H(q)`` under ``q``; used for data from
    ``p`` its average length is ``H(p, q) = H(p) + KL(p || q)`` bits. ``q(x) = 0`` gives
    ``+inf`` (the code has no word for ``x``).

    Args:
        q: distribution of shape ``(k,)``.

    Returns:
        float64 array of shape ``(k,)``, in bits.

    Raises:
        ValueError: as `validate_distribution` (naming ``q``), or if ``q`` is not 1-D.
    """
    arr = one_dimensional(validate_distribution(q, "q"), "q", "one probability per symbol")
    with np.errstate(divide="ignore"):
        return 0.0 - np.log2(arr)


def shannon_code_lengths(q):
    """Shannon code lengths ``ceil(-log2 q(x))``: whole bits, a prefix code exists (Kraft).

    Used for data from ``p``, the average length ``L`` satisfies
    ``H(p) + KL(p || q) <= L < H(p) + KL(p || q) + 1`` bits (Cover & Thomas, *Elements of
    Information Theory*, 2nd ed., Theorem 5.4.3). A relative slack of ``1e-12`` keeps
    rounding from turning an exact ``-log2 0.25 = 2`` into 3.

    Args:
        q: distribution of shape ``(k,)``.

    Returns:
        float64 array of shape ``(k,)``: whole numbers of bits (``+inf`` where ``q = 0``).

    Raises:
        ValueError: as `ideal_code_lengths_bits`.
    """
    ideal = ideal_code_lengths_bits(q)
    finite = np.isfinite(ideal)
    lengths = np.full(ideal.shape, np.inf)
    lengths[finite] = np.ceil(ideal[finite] - 1e-12 * np.maximum(ideal[finite], 1.0)) + 0.0
    return lengths


def huffman_code_lengths(q):
    """Code word lengths (bits) of a Huffman code for ``q``: the optimal prefix code.

    Repeatedly merges the two least probable nodes; every symbol below a merge gets one
    more bit. Ties are broken by the order of creation (symbols first, by index), so the
    result is deterministic. Its average length under ``q`` satisfies
    ``H(q) <= L < H(q) + 1`` (Cover & Thomas, section 5.8). One symbol needs 0 bits.

    Args:
        q: distribution of shape ``(k,)`` (zeros allowed: they get the longest words).

    Returns:
        int64 array of shape ``(k,)``, in bits; for ``k >= 2``, ``sum 2^-length = 1``.

    Raises:
        ValueError: as `ideal_code_lengths_bits`.
    """
    arr = one_dimensional(validate_distribution(q, "q"), "q", "one probability per symbol")
    lengths = np.zeros(arr.size, dtype=np.int64)
    heap = [(float(prob), order, [order]) for order, prob in enumerate(arr)]
    heapq.heapify(heap)
    order = arr.size
    while len(heap) > 1:
        prob_a, _, symbols_a = heapq.heappop(heap)
        prob_b, _, symbols_b = heapq.heappop(heap)
        merged = symbols_a + symbols_b
        lengths[merged] += 1
        heapq.heappush(heap, (prob_a + prob_b, order, merged))
        order += 1
    return lengths


def expected_code_length_bits(p, code_lengths):
    """Average code length ``L = sum_x p(x) length(x)`` in bits, for symbols drawn from ``p``.

    With ``code_lengths = ideal_code_lengths_bits(q)`` this is the cross-entropy
    ``H(p, q) = H(p) + KL(p || q)`` in bits. Symbols with ``p(x) = 0`` contribute 0 even
    when their length is ``+inf``; ``p(x) > 0`` with an infinite length gives ``+inf``.

    Args:
        p: the true distribution, shape ``(k,)``.
        code_lengths: non-negative lengths in bits, shape ``(k,)`` (``+inf`` allowed).

    Returns:
        ``float``, bits per symbol.

    Raises:
        ValueError: naming the argument, if ``p`` is not a 1-D distribution, if
            ``code_lengths`` is non-numeric, NaN, negative or -inf, or if the shapes differ.
    """
    prob = one_dimensional(validate_distribution(p, "p"), "p", "one probability per symbol")
    raw = np.asarray(code_lengths)
    if raw.dtype.kind not in "biuf" or raw.dtype.kind == "b":
        raise ValueError(f"code_lengths must be real numbers of bits, got dtype {raw.dtype}")
    lengths = raw.astype(np.float64)
    reject_where(lengths, "code_lengths", np.isnan(lengths) | (lengths < 0),
                 ">= 0 bits (+inf allowed)")
    check_shape(lengths, "code_lengths", prob.shape, " (the shape of p)")
    used = prob > 0
    return float(np.sum(prob[used] * lengths[used]))
