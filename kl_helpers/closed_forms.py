"""Closed-form KL divergences between common parametric families, in nats.

Divide a result by ``math.log(2)`` for bits. Argument checks are the package's shared
ones, so errors are ``ValueError`` messages that name the argument.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import solve_triangular

from ._validation import (
    broadcast_shape,
    check_pair,
    check_shape,
    float_array,
    positive_array,
    probability_array,
)
from .divergences import _relative_entropy

__all__ = [
    "gaussian_kl",
    "mvn_kl",
    "bernoulli_kl",
    "diag_gaussian_kl_to_standard_normal",
]

# Relative tolerance for calling a covariance matrix symmetric: far above the rounding
# of products like A @ A.T, far below any deliberate asymmetry
_SYMMETRY_RTOL = 1e-10


def gaussian_kl(mu_p, sigma_p, mu_q, sigma_q):
    """KL divergence between univariate normals, ``D(N(mu_p, sigma_p^2) || N(mu_q, sigma_q^2))``.

    **sigma_p and sigma_q are STANDARD DEVIATIONS, NOT VARIANCES.** Passing a variance
    gives a wrong answer without any error (e.g. ``N(1, 4)`` in "mean, variance"
    notation is ``mu=1, sigma=2`` here).

    ``D = ln(sigma_q / sigma_p) + (sigma_p^2 + (mu_p - mu_q)^2) / (2 sigma_q^2) - 1/2``,
    e.g. ``gaussian_kl(0, 1, 1, 2) = ln 2 + 2/8 - 1/2 = 0.4431471805599453``.

    Args:
        mu_p, sigma_p, mu_q, sigma_q: finite real array-likes that broadcast together
            (scalars for a single pair); ``sigma > 0``.

    Returns:
        ``np.float64`` for scalar inputs, otherwise an array of the broadcast shape; nats.

    Raises:
        ValueError: naming the argument, if any input is non-numeric, empty, NaN or
            infinite, if a sigma is <= 0, or if the shapes do not broadcast.
    """
    args = {
        "mu_p": float_array(mu_p, "mu_p"),
        "sigma_p": positive_array(sigma_p, "sigma_p"),
        "mu_q": float_array(mu_q, "mu_q"),
        "sigma_q": positive_array(sigma_q, "sigma_q"),
    }
    broadcast_shape(args)
    # Ratios, not squares of sigmas, so that tiny or huge scales do not over/underflow
    scale_ratio = args["sigma_p"] / args["sigma_q"]
    mean_gap = (args["mu_p"] - args["mu_q"]) / args["sigma_q"]
    return 0.5 * (scale_ratio**2 + mean_gap**2 - 1.0) - np.log(scale_ratio)


def _mean_vector(x, name: str) -> np.ndarray:
    mean = float_array(x, name)
    if mean.ndim != 1:
        raise ValueError(f"{name} must be a 1-D mean vector of shape (k,), got shape {mean.shape}")
    return mean


def _cholesky_of_covariance(x, name: str, k: int) -> np.ndarray:
    """Lower Cholesky factor of a (k, k) symmetric positive-definite matrix, checked."""
    cov = float_array(x, name)
    check_shape(cov, name, (k, k), " to match the mean vectors")
    asymmetry = np.max(np.abs(cov - cov.T))
    if asymmetry > _SYMMETRY_RTOL * np.max(np.abs(cov)):
        raise ValueError(
            f"{name} is not symmetric (max |{name} - {name}.T| = {asymmetry:.3g}); "
            "a covariance matrix must be symmetric"
        )
    try:
        chol = np.linalg.cholesky(cov)
    except np.linalg.LinAlgError as exc:
        raise ValueError(
            f"{name} is not positive definite (its Cholesky factorisation fails); "
            "a Gaussian's covariance matrix must be"
        ) from exc
    return chol


def mvn_kl(mu_p, cov_p, mu_q, cov_q):
    """KL divergence between multivariate normals, ``D(N(mu_p, cov_p) || N(mu_q, cov_q))``.

    ``D = 1/2 [tr(cov_q^-1 cov_p) + d^T cov_q^-1 d - k + ln(det cov_q / det cov_p)]`` with
    ``d = mu_q - mu_p`` and ``k`` the dimension. Here ``cov`` are covariance matrices
    (variances on the diagonal), unlike `gaussian_kl`'s standard deviations.

    No matrix is inverted: with Cholesky factors ``cov = L L^T``,
    ``tr(cov_q^-1 cov_p) = ||L_q^-1 L_p||_F^2``, ``d^T cov_q^-1 d = ||L_q^-1 d||^2``
    (triangular solves, non-negative by construction) and
    ``ln det cov = 2 sum_i ln L_ii``.

    Args:
        mu_p, mu_q: mean vectors of shape ``(k,)``.
        cov_p, cov_q: symmetric positive-definite covariance matrices of shape ``(k, k)``.

    Returns:
        ``np.float64``, in nats.

    Raises:
        ValueError: naming the argument, if an input is non-numeric, empty, NaN or
            infinite; if a mean is not 1-D, the means differ in length or a covariance
            is not ``(k, k)``; if a covariance is not symmetric (relative tolerance
            1e-10) or not positive definite.
    """
    mean_p = _mean_vector(mu_p, "mu_p")
    mean_q = _mean_vector(mu_q, "mu_q")
    k = mean_p.shape[0]
    if mean_q.shape != (k,):
        raise ValueError(
            f"mu_p and mu_q must have the same length, got shapes {mean_p.shape} and {mean_q.shape}"
        )
    chol_p = _cholesky_of_covariance(cov_p, "cov_p", k)
    chol_q = _cholesky_of_covariance(cov_q, "cov_q", k)
    whitened_chol_p = solve_triangular(chol_q, chol_p, lower=True)
    whitened_gap = solve_triangular(chol_q, mean_q - mean_p, lower=True)
    log_det_ratio = 2.0 * (np.sum(np.log(np.diag(chol_q))) - np.sum(np.log(np.diag(chol_p))))
    return 0.5 * (np.sum(whitened_chol_p**2) + np.sum(whitened_gap**2) - k + log_det_ratio)


def bernoulli_kl(p, q):
    """KL divergence between Bernoulli distributions, ``D(Bern(p) || Bern(q))``.

    ``D = p ln(p / q) + (1 - p) ln((1 - p) / (1 - q))`` with ``0 ln(0 / x) = 0``, so
    ``bernoulli_kl(0, q) = -ln(1 - q)``; it is +inf when ``q`` is 0 or 1 and ``p`` puts
    mass on the outcome ``q`` excludes (e.g. ``bernoulli_kl(0.5, 1) = inf``).
    Example: ``bernoulli_kl(0.3, 0.6) = 0.1837868973868122``.

    Args:
        p, q: success probabilities in ``[0, 1]``; array-likes that broadcast together.

    Returns:
        ``np.float64`` for scalar inputs, otherwise an array of the broadcast shape; nats.

    Raises:
        ValueError: naming the argument, if it is non-numeric, empty, NaN, or outside
            ``[0, 1]``, or if the shapes do not broadcast.
    """
    p_arr = probability_array(p, "p")
    q_arr = probability_array(q, "q")
    broadcast_shape({"p": p_arr, "q": q_arr})
    # A Bernoulli is the two-outcome distribution [p, 1 - p]: reuse the discrete kernel
    kl = _relative_entropy(p_arr, q_arr) + _relative_entropy(1.0 - p_arr, 1.0 - q_arr)
    return kl[()] if kl.ndim == 0 else kl


def diag_gaussian_kl_to_standard_normal(mu, log_var, axis: int = -1):
    """VAE regulariser ``D(N(mu, diag(sigma^2)) || N(0, I))`` from means and log-variances.

    ``D = -1/2 sum_j (1 + log sigma_j^2 - mu_j^2 - sigma_j^2)``, summed over the latent
    dimensions along ``axis`` (Kingma & Welling, "Auto-Encoding Variational Bayes",
    ICLR 2014, Appendix B). ``log_var`` is the natural log of the VARIANCE
    ``sigma^2``, as VAE encoders output it, not of the standard deviation.

    Args:
        mu: finite means of shape ``(..., d, ...)``, the ``d`` latent dimensions along
            ``axis``.
        log_var: finite log-variances, broadcastable with ``mu``; the latent axis must
            have the same size.
        axis: the latent axis to sum over.

    Returns:
        ``np.float64`` for 1-D inputs; otherwise an array of the broadcast shape
        without ``axis``; nats.

    Raises:
        ValueError: naming the argument, if it is non-numeric, 0-d, empty, NaN or
            infinite; if the latent axis sizes differ or the shapes do not broadcast.
    """
    mean = float_array(mu, "mu")
    log_variance = float_array(log_var, "log_var")
    if mean.ndim == 0 or log_variance.ndim == 0:
        name = "mu" if mean.ndim == 0 else "log_var"
        raise ValueError(f"{name} is 0-d; pass one entry per latent dimension along axis {axis}")
    check_pair(mean, log_variance, axis, ("mu", "log_var"), what="latent dimensions")
    # sigma^2 - 1 - log sigma^2 as expm1(lv) - lv: no cancellation against the 1 when
    # sigma^2 is close to 1, which is where a trained VAE's posterior often sits
    per_dimension = 0.5 * (mean**2 + np.expm1(log_variance) - log_variance)
    return per_dimension.sum(axis=axis)
