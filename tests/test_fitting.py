"""Tests of kl_helpers.fitting (one Gaussian fitted to a Gaussian mixture).

Independent sources: scipy.stats.norm densities and scipy.integrate.quad, seeded Monte
Carlo estimates with a 4-standard-error tolerance, the closed form gaussian_kl when the
mixture has a single component, the mixture's mean and variance from samples, the stationarity
of a quad objective, and the ln 2 limit for widely separated modes.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from kl_helpers.closed_forms import gaussian_kl
from kl_helpers.fitting import (
    fit_gaussian_forward,
    fit_gaussian_reverse,
    forward_kl_gaussian_fit,
    mixture_logpdf,
    reverse_kl_gaussian_fit,
)

W, M, S = [0.5, 0.5], [-3.0, 3.0], [1.0, 1.0]
UNEQUAL = ([0.2, 0.5, 0.3], [-2.0, 0.5, 4.0], [0.5, 1.5, 0.8])


def _mix_pdf(x, weights, means, sigmas):
    return sum(w * stats.norm.pdf(x, m, s) for w, m, s in zip(weights, means, sigmas, strict=True))


def _quad_forward(mu, sigma, weights, means, sigmas):
    def f(x):
        p = _mix_pdf(x, weights, means, sigmas)
        return 0.0 if p == 0 else p * (math.log(p) - stats.norm.logpdf(x, mu, sigma))
    lo = min(m - 14 * s for m, s in zip(means, sigmas, strict=True))
    hi = max(m + 14 * s for m, s in zip(means, sigmas, strict=True))
    return integrate.quad(f, lo, hi, points=list(means), limit=400, epsabs=1e-12)[0]


def _quad_reverse(mu, sigma, weights, means, sigmas):
    def f(x):
        p = _mix_pdf(x, weights, means, sigmas)
        if p == 0:
            return 0.0
        return stats.norm.pdf(x, mu, sigma) * (stats.norm.logpdf(x, mu, sigma) - math.log(p))
    return integrate.quad(f, mu - 14 * sigma, mu + 14 * sigma, points=[mu], limit=400,
                          epsabs=1e-12)[0]


def test_mixture_logpdf_matches_scipy_and_survives_tails():
    x = np.linspace(-8, 8, 41)
    np.testing.assert_allclose(mixture_logpdf(x, *UNEQUAL), np.log(_mix_pdf(x, *UNEQUAL)),
                               rtol=1e-12)
    far = mixture_logpdf(60.0, W, M, S)  # every density underflows to 0 here
    assert _mix_pdf(60.0, W, M, S) == 0.0
    assert math.isclose(far, math.log(0.5) + stats.norm.logpdf(60.0, 3.0, 1.0), rel_tol=1e-12)
    assert isinstance(mixture_logpdf(0.0, W, M, S), np.floating)
    assert mixture_logpdf(np.zeros((2, 3)), W, M, S).shape == (2, 3)


def test_mixture_logpdf_integrates_to_one():
    total = integrate.quad(lambda x: math.exp(mixture_logpdf(x, *UNEQUAL)), -20, 20,
                           points=[-2, 0.5, 4])[0]
    assert math.isclose(total, 1.0, abs_tol=1e-10)


@pytest.mark.parametrize("mu, sigma", [(0.0, math.sqrt(10)), (3.0, 1.0), (-1.0, 0.3),
                                       (5.0, 2.0), (0.5, 6.0)])
def test_both_directions_match_quad(mu, sigma):
    for mixture in ((W, M, S), UNEQUAL):
        assert math.isclose(forward_kl_gaussian_fit(mu, sigma, *mixture),
                            _quad_forward(mu, sigma, *mixture), abs_tol=1e-9)
        assert math.isclose(reverse_kl_gaussian_fit(mu, sigma, *mixture),
                            _quad_reverse(mu, sigma, *mixture), abs_tol=1e-9)


def test_one_component_gives_the_closed_form():
    for mu, sigma in [(0.0, 1.0), (1.0, 2.0), (-2.0, 0.5)]:
        fwd = forward_kl_gaussian_fit(mu, sigma, [1.0], [0.7], [1.3])
        rev = reverse_kl_gaussian_fit(mu, sigma, [1.0], [0.7], [1.3])
        assert math.isclose(fwd, gaussian_kl(0.7, 1.3, mu, sigma), abs_tol=1e-10)
        assert math.isclose(rev, gaussian_kl(mu, sigma, 0.7, 1.3), abs_tol=1e-10)


def test_monte_carlo_agrees_within_four_standard_errors():
    rng = np.random.default_rng(20240503)
    n = 200_000
    # forward: x ~ p (component first, then the Gaussian)
    comp = rng.choice(2, size=n, p=W)
    x = rng.normal(np.array(M)[comp], np.array(S)[comp])
    terms = mixture_logpdf(x, W, M, S) - stats.norm.logpdf(x, 1.0, 2.0)
    se = terms.std(ddof=1) / math.sqrt(n)
    assert abs(terms.mean() - forward_kl_gaussian_fit(1.0, 2.0, W, M, S)) < 4 * se
    # reverse: x ~ q
    x = rng.normal(1.0, 2.0, size=n)
    terms = stats.norm.logpdf(x, 1.0, 2.0) - mixture_logpdf(x, W, M, S)
    se = terms.std(ddof=1) / math.sqrt(n)
    assert abs(terms.mean() - reverse_kl_gaussian_fit(1.0, 2.0, W, M, S)) < 4 * se


def test_broadcasting_over_candidates():
    mus = np.array([[-1.0], [0.0], [2.0]])
    sigmas = np.array([0.5, 1.0, 3.0, 4.0])
    fwd = forward_kl_gaussian_fit(mus, sigmas, W, M, S)
    rev = reverse_kl_gaussian_fit(mus, sigmas, W, M, S)
    assert fwd.shape == rev.shape == (3, 4)
    assert math.isclose(fwd[2, 1], forward_kl_gaussian_fit(2.0, 1.0, W, M, S))
    assert math.isclose(rev[0, 3], reverse_kl_gaussian_fit(-1.0, 4.0, W, M, S))


def test_forward_fit_is_moment_matching():
    np.testing.assert_allclose(fit_gaussian_forward(W, M, S), [0.0, math.sqrt(10.0)], atol=1e-15)
    # against sample moments of seeded draws (4 standard errors) ...
    rng = np.random.default_rng(7)
    w, m, s = (np.array(a) for a in UNEQUAL)
    comp = rng.choice(3, size=400_000, p=w)
    x = rng.normal(m[comp], s[comp])
    mu_fit, sigma_fit = fit_gaussian_forward(*UNEQUAL)
    assert abs(x.mean() - mu_fit) < 4 * x.std() / math.sqrt(x.size)
    assert abs(x.std() - sigma_fit) < 0.01
    # ... and it is a stationary minimum of the quad objective: central differences vanish
    # and every neighbour on a small cross is higher
    here = _quad_forward(mu_fit, sigma_fit, *UNEQUAL)
    h = 1e-3
    for d_mu, d_sigma in [(h, 0.0), (0.0, h)]:
        plus = _quad_forward(mu_fit + d_mu, sigma_fit + d_sigma, *UNEQUAL)
        minus = _quad_forward(mu_fit - d_mu, sigma_fit - d_sigma, *UNEQUAL)
        assert plus > here and minus > here
        assert abs(plus - minus) / (2 * h) < 1e-6


def test_reverse_fit_depends_on_the_start():
    right = fit_gaussian_reverse(2.0, 1.0, W, M, S)
    left = fit_gaussian_reverse(-2.5, 1.0, W, M, S)
    centre = fit_gaussian_reverse(0.5, 3.0, W, M, S)
    np.testing.assert_allclose(right, [2.984306, 1.023369], atol=1e-5)
    np.testing.assert_allclose(left, [-right[0], right[1]], atol=1e-7)
    np.testing.assert_allclose(centre, [0.0, 2.743769], atol=1e-5)
    kl_mode = reverse_kl_gaussian_fit(*right, W, M, S)
    kl_centre = reverse_kl_gaussian_fit(*centre, W, M, S)
    assert math.isclose(kl_mode, 0.688769, abs_tol=1e-6)
    assert kl_mode < kl_centre  # the centred solution is a local, not global, minimum
    # both are local minima of the quad objective: no nearby candidate does better
    for mu, sigma in (right, centre):
        here = _quad_reverse(mu, sigma, W, M, S)
        for dmu, dsig in [(0.02, 0), (-0.02, 0), (0, 0.02), (0, -0.02)]:
            assert _quad_reverse(mu + dmu, sigma + dsig, W, M, S) > here


def test_reverse_fit_reports_its_path_to_a_callback():
    """The callback sees every BFGS iterate in (mu, log sigma); the last one is the result."""
    path = []
    fitted = fit_gaussian_reverse(1.0, 1.0, W, M, S,
                                  callback=lambda theta: path.append(theta.copy()))
    assert len(path) > 3 and all(theta.shape == (2,) for theta in path)
    np.testing.assert_allclose([path[-1][0], math.exp(path[-1][1])], fitted, rtol=0, atol=1e-12)
    assert max(math.exp(theta[1]) for theta in path) > 2.0  # from (1, 1) it widens first
    np.testing.assert_array_equal(fitted, fit_gaussian_reverse(1.0, 1.0, W, M, S))


def test_reverse_kl_tends_to_ln2_for_separated_modes():
    gaps = []
    for half_gap in (3.0, 5.0, 10.0):
        mu, sigma = fit_gaussian_reverse(half_gap - 0.5, 1.0, W, [-half_gap, half_gap], S)
        gaps.append(reverse_kl_gaussian_fit(mu, sigma, W, [-half_gap, half_gap], S) - math.log(2))
    assert gaps[0] < 0 and abs(gaps[2]) < 1e-12
    assert abs(gaps[0]) > abs(gaps[1]) > abs(gaps[2])


@pytest.mark.parametrize("kwargs, match", [
    ({"weights": [0.5, 0.6]}, "weights sums to"),
    ({"weights": [1.5, -0.5]}, "weights has a negative entry"),
    ({"means": [0.0, float("nan")]}, "means contains NaN"),
    ({"means": [0.0]}, "same length"),
    ({"sigmas": [1.0, 0.0]}, "sigmas must be > 0"),
    ({"weights": [[0.5, 0.5]]}, "weights must be 1-D"),
    ({"means": "ab"}, "means must contain real numbers"),
])
def test_mixture_errors(kwargs, match):
    mixture = {"weights": W, "means": M, "sigmas": S, **kwargs}
    for call in (lambda: mixture_logpdf(0.0, **mixture),
                 lambda: forward_kl_gaussian_fit(0.0, 1.0, **mixture),
                 lambda: reverse_kl_gaussian_fit(0.0, 1.0, **mixture),
                 lambda: fit_gaussian_forward(**mixture),
                 lambda: fit_gaussian_reverse(1.0, 1.0, **mixture)):
        with pytest.raises(ValueError, match=match):
            call()


def test_candidate_and_option_errors():
    with pytest.raises(ValueError, match="x has an infinite entry"):
        mixture_logpdf([0.0, math.inf], W, M, S)
    for fn in (forward_kl_gaussian_fit, reverse_kl_gaussian_fit):
        with pytest.raises(ValueError, match="sigma must be > 0"):
            fn(0.0, -1.0, W, M, S)
        with pytest.raises(ValueError, match="mu contains NaN"):
            fn(math.nan, 1.0, W, M, S)
        with pytest.raises(ValueError, match="cannot be broadcast"):
            fn([0.0, 1.0], [1.0, 2.0, 3.0], W, M, S)
        with pytest.raises(ValueError, match="points_per_sigma"):
            fn(0.0, 1.0, W, M, S, points_per_sigma=2)
    with pytest.raises(ValueError, match="mu0 must be a scalar"):
        fit_gaussian_reverse([1.0, 2.0], 1.0, W, M, S)
    with pytest.raises(ValueError, match="sigma0 must be > 0"):
        fit_gaussian_reverse(1.0, 0.0, W, M, S)
    with pytest.raises(ValueError, match="gtol"):
        fit_gaussian_reverse(1.0, 1.0, W, M, S, gtol=0.0)
    with pytest.raises(ValueError, match="points_per_sigma"):
        fit_gaussian_reverse(1.0, 1.0, W, M, S, points_per_sigma=True)


@pytest.mark.parametrize("sigma", [1e3, 1e8])
def test_reverse_kl_of_a_very_wide_candidate_stays_bounded_and_accurate(sigma):
    """A candidate far wider than the components: a capped grid, still 1e-6 accurate."""
    from scipy import integrate, stats

    from kl_helpers.fitting import _MAX_GRID_POINTS, mixture_logpdf, reverse_kl_gaussian_fit

    mix = ([0.5, 0.5], [-3.0, 3.0], [1.0, 1.0])
    value = float(reverse_kl_gaussian_fit(0.0, sigma, *mix))
    # -H(q) - E_q[log p], with E_q[log p] by quad in z = x / sigma
    expected_log_p = integrate.quad(
        lambda z: stats.norm.pdf(z) * float(mixture_logpdf(sigma * z, *mix)), -12, 12,
        points=[-3 / sigma, 0.0, 3 / sigma], limit=500, epsabs=0, epsrel=1e-13)[0]
    expected = -(math.log(sigma) + 0.5 * math.log(2 * math.pi) + 0.5) - expected_log_p
    assert math.isclose(value, expected, rel_tol=1e-6)
    assert _MAX_GRID_POINTS * 8 < 20e6  # each grid array stays below 20 MB


def test_a_start_far_narrower_than_the_mixture_still_converges():
    """From sigma0 = 0.01 the optimiser explores huge sigmas; it must not run out of memory."""
    from kl_helpers.fitting import fit_gaussian_reverse

    mu, sigma = fit_gaussian_reverse(0.0, 0.01, [0.5, 0.5], [-3.0, 3.0], [1.0, 1.0])
    assert abs(mu) < 1e-9 and abs(sigma - 2.7438) < 1e-3  # the centred local minimum
