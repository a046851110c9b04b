"""Tests of kl_helpers.applications (distillation, conjugate-Gaussian VI, code lengths).

Independent sources: central finite differences for gradients, pure-Python loops over
``math.exp``/``math.log``, ``scipy.stats.norm`` and ``scipy.stats.multivariate_normal`` for
the posterior and the evidence, ``kl_helpers.closed_forms.gaussian_kl`` for
``ELBO = log p(x) - KL(q || posterior)``, seeded Monte Carlo estimates within 4 standard
errors, numerical integration, and a brute-force search over prefix-code lengths.
"""

from __future__ import annotations

import inspect
import itertools
import math

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import integrate, stats

from kl_helpers import applications
from kl_helpers.applications import (
    distillation_loss,
    distillation_soft_gradient,
    elbo,
    expected_code_length_bits,
    gaussian_posterior,
    huffman_code_lengths,
    ideal_code_lengths_bits,
    log_evidence,
    shannon_code_lengths,
)
from kl_helpers.closed_forms import gaussian_kl

# ---------------------------------------------------------------------------------------
# Pure-Python references
# ---------------------------------------------------------------------------------------


def _softmax_loop(z, t=1.0):
    top = max(z)
    weights = [math.exp((v - top) / t) for v in z]
    total = sum(weights)
    return [w / total for w in weights]


def _distillation_loop(z_s, z_t, y, t, alpha):
    p_t = _softmax_loop(z_t, t)
    q_s = _softmax_loop(z_s, t)
    soft = sum(p * math.log(p / q) for p, q in zip(p_t, q_s, strict=True) if p > 0)
    hard = -math.log(_softmax_loop(z_s)[y])
    return alpha * t * t * soft + (1 - alpha) * hard


# ---------------------------------------------------------------------------------------
# Module hygiene
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", applications.__all__)
def test_public_functions_document_formula_args_returns_and_raises(name):
    doc = inspect.getdoc(getattr(applications, name))
    for section in ("Args:", "Returns:", "Raises:"):
        assert section in doc, f"{name} lacks {section}"


# ---------------------------------------------------------------------------------------
# Distillation
# ---------------------------------------------------------------------------------------


def test_distillation_loss_matches_a_pure_python_loop():
    rng = np.random.default_rng(11)
    for _ in range(20):
        n, k = int(rng.integers(1, 6)), int(rng.integers(2, 8))
        z_s = rng.normal(0, 3, size=(n, k))
        z_t = rng.normal(0, 3, size=(n, k))
        y = rng.integers(0, k, size=n)
        t = float(rng.choice([0.5, 1.0, 2.0, 5.0, 20.0]))
        alpha = float(rng.uniform())
        expected = np.mean([_distillation_loop(list(z_s[i]), list(z_t[i]), int(y[i]), t, alpha)
                            for i in range(n)])
        assert math.isclose(distillation_loss(z_s, z_t, y, t, alpha), expected, rel_tol=1e-10)


def test_distillation_loss_single_example_and_limits():
    z_s, z_t = [2.0, 0.5, -1.0], [1.0, 1.5, -0.5]
    value = distillation_loss(z_s, z_t, 1, 3.0, 0.4)
    assert isinstance(value, float)
    assert math.isclose(value, _distillation_loop(z_s, z_t, 1, 3.0, 0.4), rel_tol=1e-12)
    # alpha = 0 leaves the cross-entropy with the label; alpha = 1 the scaled soft term
    assert math.isclose(distillation_loss(z_s, z_t, 0, 3.0, 0.0),
                        -math.log(_softmax_loop(z_s)[0]), rel_tol=1e-12)
    assert distillation_loss(z_t, z_t, 2, 7.0, 1.0) == pytest.approx(0.0, abs=1e-15)
    # the KL runs from the teacher to the student
    p, q = _softmax_loop(z_t, 3.0), _softmax_loop(z_s, 3.0)
    forward = 9.0 * sum(a * math.log(a / b) for a, b in zip(p, q, strict=True))
    assert math.isclose(distillation_loss(z_s, z_t, 0, 3.0, 1.0), forward, rel_tol=1e-12)


def test_distillation_loss_is_stable_for_extreme_logits():
    value = distillation_loss([1000.0, 0.0, -1000.0], [0.0, 0.0, 0.0], 0, 1.0, 0.5)
    assert math.isfinite(value)
    # soft: KL(uniform || softmax([1000, 0, -1000])), the log-probabilities 0, -1000, -2000
    soft = sum(1 / 3 * (math.log(1 / 3) - lq) for lq in (0.0, -1000.0, -2000.0))
    assert math.isclose(value, 0.5 * soft + 0.5 * 0.0, rel_tol=1e-12)


def test_soft_gradient_matches_finite_differences():
    rng = np.random.default_rng(5)
    for t in (0.5, 1.0, 4.0, 30.0):
        z_s, z_t = rng.normal(0, 2, 5), rng.normal(0, 2, 5)
        for t_squared in (True, False):
            scale = t * t if t_squared else 1.0
            grad = distillation_soft_gradient(z_s, z_t, t, t_squared=t_squared)
            h = 1e-5
            numeric = np.empty(5)
            for j in range(5):
                e = np.zeros(5)
                e[j] = h
                up = _distillation_loop(list(z_s + e), list(z_t), 0, t, 1.0) / (t * t)
                down = _distillation_loop(list(z_s - e), list(z_t), 0, t, 1.0) / (t * t)
                numeric[j] = scale * (up - down) / (2 * h)
            assert_allclose(grad, numeric, rtol=1e-6, atol=1e-10)


def test_soft_gradient_scaling_with_temperature():
    z_s = np.array([1.0, -2.0, 0.5, 0.5])
    z_t = np.array([3.0, 0.0, -1.0, -2.0])
    z_s, z_t = z_s - z_s.mean(), z_t - z_t.mean()
    # with T^2: tends to (z_s - z_t) / k; without: that over T^2
    t = 1e4  # the next-order error is O(1 / T)
    assert_allclose(distillation_soft_gradient(z_s, z_t, t), (z_s - z_t) / 4, rtol=1e-3)
    assert_allclose(distillation_soft_gradient(z_s, z_t, t, t_squared=False) * t**2,
                    (z_s - z_t) / 4, rtol=1e-3)
    batch = distillation_soft_gradient(np.stack([z_s, z_t]), np.stack([z_t, z_s]), 2.0)
    assert batch.shape == (2, 4)
    assert_allclose(batch[0], -batch[1])
    assert_allclose(batch.sum(axis=-1), 0.0, atol=1e-15)  # softmax gradients sum to 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"student_logits": [[1.0, 2.0]], "teacher_logits": [1.0, 2.0]}, "same shape"),
        ({"student_logits": [1.0], "teacher_logits": [1.0]}, "at least 2 classes"),
        ({"student_logits": [[[1.0, 2.0]]], "teacher_logits": [[[1.0, 2.0]]]}, "shape"),
        ({"student_logits": [1.0, np.nan]}, "student_logits contains NaN"),
        ({"teacher_logits": [1.0, np.inf]}, "teacher_logits has an infinite entry"),
        ({"student_logits": ["a", "b"]}, "student_logits must contain real numbers"),
        ({"labels": 2}, "labels must be integers in 0 .. 1, got 2"),
        ({"labels": -1}, "labels must be integers in 0 .. 1, got -1"),
        ({"labels": [0]}, "labels must have shape"),
        ({"labels": 0.5}, "whole numbers"),
        ({"labels": True}, "labels must be integer indices"),
        ({"labels": "0"}, "labels must be integer indices"),
        ({"temperature": 0.0}, "temperature must be a finite number > 0"),
        ({"temperature": -1.0}, "temperature"),
        ({"temperature": math.inf}, "temperature"),
        ({"temperature": "2"}, "temperature"),
        ({"alpha": 1.5}, "alpha must lie in"),
        ({"alpha": -0.1}, "alpha must lie in"),
        ({"alpha": math.nan}, "alpha must be a finite"),
    ],
)
def test_distillation_loss_rejects_bad_input(kwargs, message):
    args = {"student_logits": [1.0, 2.0], "teacher_logits": [0.0, 1.0], "labels": 1,
            "temperature": 2.0, "alpha": 0.5, **kwargs}
    with pytest.raises(ValueError, match=message):
        distillation_loss(**args)


def test_distillation_loss_accepts_whole_float_labels():
    assert distillation_loss([1.0, 2.0], [0.0, 1.0], 1.0, 2.0, 0.5) == distillation_loss(
        [1.0, 2.0], [0.0, 1.0], 1, 2.0, 0.5)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (([1.0, 2.0], [1.0, 2.0, 3.0], 1.0), "same shape"),
        (([1.0, 2.0], [1.0, 2.0], 0.0), "temperature"),
        (([1.0], [1.0], 1.0), "at least 2 classes"),
        (([1.0, np.nan], [1.0, 2.0], 1.0), "student_logits contains NaN"),
    ],
)
def test_soft_gradient_rejects_bad_input(args, message):
    with pytest.raises(ValueError, match=message):
        distillation_soft_gradient(*args)


# ---------------------------------------------------------------------------------------
# Conjugate Gaussian model
# ---------------------------------------------------------------------------------------

MODELS = [
    ([1.2, 0.4, 2.0], 1.0, 0.0, 1.0),
    (0.7, 0.5, 0.0, 1.0),
    ([-3.0, 5.0], 2.0, 1.5, 0.3),
    (np.linspace(-1, 4, 9), 0.8, -2.0, 3.0),
]


@pytest.mark.parametrize(("x", "noise", "m0", "s0"), MODELS)
def test_posterior_matches_a_grid_of_bayes_rule(x, noise, m0, s0):
    mean, sd = gaussian_posterior(x, noise, m0, s0)
    obs = np.atleast_1d(np.asarray(x, dtype=float))
    grid = np.linspace(mean - 12 * sd, mean + 12 * sd, 20001)
    log_joint = stats.norm.logpdf(grid, m0, s0) + stats.norm.logpdf(
        obs[:, None], grid, noise).sum(axis=0)
    weights = np.exp(log_joint - log_joint.max())
    weights /= np.trapezoid(weights, grid)
    grid_mean = np.trapezoid(grid * weights, grid)
    grid_var = np.trapezoid((grid - grid_mean) ** 2 * weights, grid)
    assert math.isclose(mean, grid_mean, rel_tol=0, abs_tol=1e-8 * max(1, abs(mean)))
    assert math.isclose(sd, math.sqrt(grid_var), rel_tol=1e-7)


@pytest.mark.parametrize(("x", "noise", "m0", "s0"), MODELS)
def test_log_evidence_matches_scipy_multivariate_normal(x, noise, m0, s0):
    obs = np.atleast_1d(np.asarray(x, dtype=float))
    n = obs.size
    cov = noise**2 * np.eye(n) + s0**2 * np.ones((n, n))
    expected = stats.multivariate_normal(np.full(n, m0), cov).logpdf(obs)
    assert math.isclose(log_evidence(x, noise, m0, s0), float(expected), rel_tol=1e-12)


def test_log_evidence_of_one_observation_by_integration():
    value, _ = integrate.quad(lambda z: stats.norm.pdf(z) * stats.norm.pdf(0.7, z, 0.5), -12, 12)
    assert math.isclose(log_evidence(0.7, 0.5), math.log(value), rel_tol=1e-10)
    # one observation: x ~ N(0, 1 + 0.5^2)
    assert math.isclose(log_evidence(0.7, 0.5), stats.norm.logpdf(0.7, 0, math.sqrt(1.25)),
                        rel_tol=1e-13)


@pytest.mark.parametrize(("x", "noise", "m0", "s0"), MODELS)
def test_elbo_is_evidence_minus_kl_to_the_posterior(x, noise, m0, s0):
    mean, sd = gaussian_posterior(x, noise, m0, s0)
    evidence = log_evidence(x, noise, m0, s0)
    ms = np.array([mean - 2.0, mean, mean + 0.3, 0.0])
    ss = np.array([sd, sd, 2 * sd, 0.1])
    values = elbo(ms, ss, x, noise, m0, s0)
    assert values.shape == (4,)
    assert_allclose(values, evidence - gaussian_kl(ms, ss, mean, sd), rtol=1e-12, atol=1e-12)
    assert math.isclose(float(elbo(mean, sd, x, noise, m0, s0)), evidence, rel_tol=1e-13)
    assert np.all(values <= evidence + 1e-12)


def test_elbo_matches_seeded_monte_carlo():
    x, noise = np.array([1.2, 0.4, 2.0]), 1.0
    rng = np.random.default_rng(2024)
    for m, s in [(0.0, 1.0), (0.9, 0.5), (2.0, 0.2)]:
        z = rng.normal(m, s, size=200_000)
        samples = (stats.norm.logpdf(x[:, None], z, noise).sum(axis=0) + stats.norm.logpdf(z)
                   - stats.norm.logpdf(z, m, s))
        error = samples.std(ddof=1) / math.sqrt(z.size)
        assert abs(samples.mean() - elbo(m, s, x, noise)) < 4 * error + 1e-12


def test_elbo_shapes_and_scalars():
    assert isinstance(elbo(0.0, 1.0, 1.0, 1.0), np.float64)
    assert elbo(np.zeros((2, 3)), 1.0, 1.0, 1.0).shape == (2, 3)
    assert elbo(np.zeros(3), np.ones((2, 1)), 1.0, 1.0).shape == (2, 3)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: gaussian_posterior([], 1.0), "x is empty"),
        (lambda: gaussian_posterior([[1.0]], 1.0), "x must be a scalar or a 1-D"),
        (lambda: gaussian_posterior([np.nan], 1.0), "x contains NaN"),
        (lambda: gaussian_posterior(1.0, 0.0), "noise_sd must be a finite number > 0"),
        (lambda: gaussian_posterior(1.0, 1.0, prior_sd=-1.0), "prior_sd"),
        (lambda: gaussian_posterior(1.0, 1.0, prior_mean=math.inf), "prior_mean"),
        (lambda: log_evidence(1.0, True), "noise_sd"),
        (lambda: log_evidence("x", 1.0), "x must contain real numbers"),
        (lambda: elbo(0.0, 0.0, 1.0, 1.0), "q_sd must be > 0"),
        (lambda: elbo(0.0, [1.0, -1.0], 1.0, 1.0), "q_sd must be > 0"),
        (lambda: elbo(np.nan, 1.0, 1.0, 1.0), "q_mean contains NaN"),
        (lambda: elbo([0.0, 1.0], [1.0, 1.0, 1.0], 1.0, 1.0), "cannot be broadcast"),
        (lambda: elbo(0.0, 1.0, 1.0, math.nan), "noise_sd"),
    ],
)
def test_gaussian_model_rejects_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ---------------------------------------------------------------------------------------
# Code lengths
# ---------------------------------------------------------------------------------------


def _brute_force_optimal_length(q):
    """Smallest sum q_i l_i over whole lengths 1..k-1 that satisfy Kraft's inequality."""
    k = len(q)
    best = math.inf
    for lengths in itertools.product(range(1, k), repeat=k):
        if sum(2.0**-length for length in lengths) <= 1.0:
            best = min(best, sum(p * length for p, length in zip(q, lengths, strict=True)))
    return best


def test_cross_entropy_in_bits_is_entropy_plus_kl():
    p = np.array([0.5, 0.25, 0.125, 0.125])
    q = np.full(4, 0.25)
    assert expected_code_length_bits(p, ideal_code_lengths_bits(q)) == 2.0
    rng = np.random.default_rng(7)
    for _ in range(20):
        p, q = rng.dirichlet(np.ones(6)), rng.dirichlet(np.ones(6))
        entropy_bits = -sum(a * math.log2(a) for a in p)
        kl_bits = sum(a * math.log2(a / b) for a, b in zip(p, q, strict=True))
        value = expected_code_length_bits(p, ideal_code_lengths_bits(q))
        assert math.isclose(value, entropy_bits + kl_bits, rel_tol=1e-12)


def test_shannon_code_is_within_one_bit_of_cross_entropy():
    rng = np.random.default_rng(8)
    for _ in range(50):
        p, q = rng.dirichlet(np.ones(5)), rng.dirichlet(np.ones(5))
        lengths = shannon_code_lengths(q)
        assert np.all(lengths == np.round(lengths))
        assert np.sum(2.0**-lengths) <= 1.0  # Kraft: a prefix code exists
        cross = expected_code_length_bits(p, ideal_code_lengths_bits(q))
        average = expected_code_length_bits(p, lengths)
        assert cross <= average < cross + 1


def test_shannon_code_lengths_of_dyadic_and_degenerate_distributions():
    assert_allclose(shannon_code_lengths([0.5, 0.25, 0.125, 0.125, 0.0]), [1, 2, 3, 3, np.inf])
    assert shannon_code_lengths([1.0])[0] == 0.0
    assert_allclose(ideal_code_lengths_bits([0.5, 0.5, 0.0]), [1, 1, np.inf])


def test_huffman_known_examples():
    assert huffman_code_lengths([0.5, 0.25, 0.125, 0.125]).tolist() == [1, 2, 3, 3]
    # Cover & Thomas, Example 5.6.1: probabilities .25 .25 .2 .15 .15, lengths 2 2 2 3 3
    assert huffman_code_lengths([0.25, 0.25, 0.2, 0.15, 0.15]).tolist() == [2, 2, 2, 3, 3]
    assert huffman_code_lengths([1.0]).tolist() == [0]
    assert huffman_code_lengths([0.0, 1.0]).tolist() == [1, 1]


def test_huffman_is_optimal_and_complete():
    rng = np.random.default_rng(9)
    for k in (2, 3, 4, 5):
        for _ in range(8):
            q = rng.dirichlet(np.ones(k))
            lengths = huffman_code_lengths(q)
            assert lengths.dtype == np.int64
            assert math.isclose(np.sum(2.0 ** -lengths.astype(float)), 1.0)
            average = float(np.dot(q, lengths))
            assert math.isclose(average, _brute_force_optimal_length(list(q)), rel_tol=1e-12)
            entropy_bits = -sum(a * math.log2(a) for a in q)
            assert entropy_bits <= average < entropy_bits + 1


def test_expected_code_length_zero_probability_and_infinite_lengths():
    assert expected_code_length_bits([0.5, 0.5, 0.0], [1, 1, np.inf]) == 1.0
    assert expected_code_length_bits([0.5, 0.25, 0.25], [1, 2, np.inf]) == math.inf


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: ideal_code_lengths_bits([0.5, 0.6]), "q sums to"),
        (lambda: ideal_code_lengths_bits([[0.5, 0.5]]), "q must be 1-D"),
        (lambda: shannon_code_lengths([1.5, -0.5]), "q has a negative entry"),
        (lambda: huffman_code_lengths([[1.0]]), "q must be 1-D"),
        (lambda: huffman_code_lengths(0.5), "q is a 0-d scalar"),
        (lambda: expected_code_length_bits([0.5, 0.5], [1, 2, 3]), "shape of p"),
        (lambda: expected_code_length_bits([[0.5, 0.5]], [1, 1]), "p must be 1-D"),
        (lambda: expected_code_length_bits([0.5, 0.4], [1, 1]), "p sums to"),
        (lambda: expected_code_length_bits([0.5, 0.5], [1, -1]), "code_lengths must be >= 0"),
        (lambda: expected_code_length_bits([0.5, 0.5], [1, np.nan]), "code_lengths must be >= 0"),
        (lambda: expected_code_length_bits([0.5, 0.5], [1, -np.inf]), "code_lengths must be"),
        (lambda: expected_code_length_bits([0.5, 0.5], ["1", "2"]), "real numbers of bits"),
        (lambda: expected_code_length_bits([0.5, 0.5], [True, False]), "real numbers of bits"),
    ],
)
def test_code_lengths_reject_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()
