"""Tests of kl_helpers.monte_carlo, the Monte Carlo KL estimators.

Independent sources: the sampling recipe re-implemented with pure-Python loops over
``math.log`` (same draws, so agreement to rounding), the exact divergence from
``scipy.special.rel_entr`` (seeded estimates must lie within 4 standard errors of it), the
exact standard deviation of the log-ratio as a pure-Python ``math.fsum``, and binomial
bounds on the outcome frequencies.
"""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest
from scipy import special

from kl_helpers.divergences import kl_divergence
from kl_helpers.monte_carlo import (
    CHOICE_ATOL,
    KLEstimate,
    log_ratio_std,
    mc_kl_estimate,
    running_mean_estimate,
    sample_log_ratios,
    sample_outcomes,
)

# Any RuntimeWarning (log of 0, inf - inf, overflow) from the module is a bug
pytestmark = pytest.mark.filterwarnings("error")

# The seed document's example (course notes, section 1): D(P || Q) = 0.0339798 nats
P_SEED = [0.4, 0.3, 0.2, 0.1]
Q_SEED = [0.3, 0.3, 0.3, 0.1]

N_SE = 4.0  # tolerance of the statistical tests, in standard errors


def python_log_ratios(p, q, n_samples, seed):
    """The documented recipe with the draws from numpy and everything else in pure Python."""
    outcomes = np.random.default_rng(seed).choice(len(p), size=n_samples, p=p)
    values = []
    for x in outcomes.tolist():
        values.append(math.inf if q[x] == 0 else math.log(p[x]) - math.log(q[x]))
    return values


def python_kl(p, q):
    return math.fsum(pi * math.log(pi / qi) for pi, qi in zip(p, q, strict=True) if pi > 0)


def python_log_ratio_std(p, q):
    kl = python_kl(p, q)
    return math.sqrt(
        math.fsum(pi * (math.log(pi / qi) - kl) ** 2 for pi, qi in zip(p, q, strict=True) if pi > 0)
    )


def _dirichlet_pairs(count, seed):
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(count):
        size = int(rng.integers(2, 12))
        alpha = float(rng.choice([0.5, 1.0, 5.0]))
        pairs.append((rng.dirichlet(np.full(size, alpha)), rng.dirichlet(np.full(size, alpha))))
    return pairs


# A pair with zeros in p (including p = q = 0) and a strongly asymmetric pair
P_ZEROS = [0.0, 0.5, 0.0, 0.25, 0.25]
Q_ZEROS = [0.1, 0.2, 0.0, 0.3, 0.4]
P_FAR = [0.7, 0.2, 0.1]
Q_FAR = [0.1, 0.3, 0.6]
PAIRS = [(P_SEED, Q_SEED), (P_ZEROS, Q_ZEROS), (P_FAR, Q_FAR), *_dirichlet_pairs(5, 2024)]


# ---------------------------------------------------------------------------------------
# The recipe: same draws as a pure-Python re-implementation
# ---------------------------------------------------------------------------------------


def test_sample_outcomes_is_the_documented_choice_call():
    expected = np.random.default_rng(7).choice(4, size=1000, p=P_SEED)
    np.testing.assert_array_equal(sample_outcomes(P_SEED, 1000, 7), expected)
    assert sample_outcomes(np.array(P_SEED), 1000, np.int64(7)).dtype.kind == "i"


@pytest.mark.parametrize("pair", range(len(PAIRS)))
def test_sample_log_ratios_match_a_python_loop(pair):
    p, q = (list(map(float, a)) for a in PAIRS[pair])
    values = sample_log_ratios(p, q, 2000, 11)
    expected = python_log_ratios(p, q, 2000, 11)
    assert values.shape == (2000,) and values.dtype == np.float64
    for got, want in zip(values.tolist(), expected, strict=True):
        assert math.isclose(got, want, rel_tol=1e-13, abs_tol=1e-15)


@pytest.mark.parametrize("pair", range(len(PAIRS)))
def test_mc_kl_estimate_matches_python_mean_and_stdev(pair):
    p, q = (list(map(float, a)) for a in PAIRS[pair])
    result = mc_kl_estimate(p, q, 3000, 5)
    values = python_log_ratios(p, q, 3000, 5)
    assert isinstance(result, KLEstimate)
    assert isinstance(result.estimate, float) and isinstance(result.standard_error, float)
    assert math.isclose(result.estimate, math.fsum(values) / 3000, rel_tol=1e-11, abs_tol=1e-14)
    assert math.isclose(
        result.standard_error, statistics.stdev(values) / math.sqrt(3000), rel_tol=1e-9
    )
    estimate, standard_error = result  # unpacks like a tuple
    assert (estimate, standard_error) == tuple(result)


@pytest.mark.parametrize("pair", range(len(PAIRS)))
def test_running_mean_matches_a_python_loop(pair):
    p, q = (list(map(float, a)) for a in PAIRS[pair])
    running = running_mean_estimate(p, q, 500, 3)
    total, expected = 0.0, []
    for j, value in enumerate(python_log_ratios(p, q, 500, 3)):
        total += value
        expected.append(total / (j + 1))
    assert running.shape == (500,)
    np.testing.assert_allclose(running, expected, rtol=1e-11, atol=1e-14)
    # the last entry is the full-sample estimate
    assert math.isclose(
        running[-1], mc_kl_estimate(p, q, 500, 3).estimate, rel_tol=1e-11, abs_tol=1e-14
    )


def test_same_seed_same_draws_other_seed_other_draws():
    first = sample_log_ratios(P_SEED, Q_SEED, 100, 42)
    np.testing.assert_array_equal(first, sample_log_ratios(P_SEED, Q_SEED, 100, 42))
    assert not np.array_equal(first, sample_log_ratios(P_SEED, Q_SEED, 100, 43))


def test_inputs_are_not_modified():
    p, q = np.array(P_SEED), np.array(Q_SEED)
    mc_kl_estimate(p, q, 10, 0)
    np.testing.assert_array_equal(p, P_SEED)
    np.testing.assert_array_equal(q, Q_SEED)


# ---------------------------------------------------------------------------------------
# Statistics: estimates agree with the exact divergence
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("pair", range(len(PAIRS)))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_estimate_within_4_standard_errors_of_exact_kl(pair, seed):
    p, q = PAIRS[pair]
    exact = float(special.rel_entr(p, q).sum())
    estimate, standard_error = mc_kl_estimate(p, q, 50_000, seed)
    assert standard_error > 0
    assert abs(estimate - exact) < N_SE * standard_error, (estimate, exact, standard_error)


@pytest.mark.parametrize("pair", range(len(PAIRS)))
def test_standard_error_matches_exact_sigma_over_root_n(pair):
    p, q = PAIRS[pair]
    n = 50_000
    _, standard_error = mc_kl_estimate(p, q, n, 9)
    # the sample standard deviation of 50 000 draws is within a few percent of sigma
    assert math.isclose(standard_error, log_ratio_std(p, q) / math.sqrt(n), rel_tol=0.05)


def test_outcome_frequencies_match_p():
    n = 100_000
    counts = np.bincount(sample_outcomes(P_ZEROS, n, 1), minlength=len(P_ZEROS))
    assert counts[0] == 0 and counts[2] == 0  # p = 0 is never drawn
    for count, prob in zip(counts, P_ZEROS, strict=True):
        if prob > 0:
            binomial_se = math.sqrt(n * prob * (1 - prob))
            assert abs(count - n * prob) < N_SE * binomial_se


# ---------------------------------------------------------------------------------------
# log_ratio_std
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("pair", range(len(PAIRS)))
def test_log_ratio_std_matches_python(pair):
    p, q = PAIRS[pair]
    assert math.isclose(log_ratio_std(p, q), python_log_ratio_std(p, q), rel_tol=1e-12)


def test_log_ratio_std_seed_value_and_identical_inputs():
    # sigma for the seed example, from the definition evaluated by hand:
    # log-ratios ln(4/3), 0, ln(2/3), 0 with weights 0.4, 0.3, 0.2, 0.1
    kl = 0.4 * math.log(4 / 3) + 0.2 * math.log(2 / 3)
    second_moment = 0.4 * math.log(4 / 3) ** 2 + 0.2 * math.log(2 / 3) ** 2
    assert math.isclose(log_ratio_std(P_SEED, Q_SEED), math.sqrt(second_moment - kl**2))
    assert log_ratio_std(P_SEED, P_SEED) == 0.0
    # the std agrees with the spread of a large seeded sample
    sample = sample_log_ratios(P_SEED, Q_SEED, 200_000, 4)
    assert math.isclose(sample.std(), log_ratio_std(P_SEED, Q_SEED), rel_tol=0.01)


def test_log_ratio_std_infinite_when_q_rules_out_an_outcome():
    assert log_ratio_std([0.5, 0.5], [1.0, 0.0]) == math.inf
    assert log_ratio_std([1.0, 0.0], [0.5, 0.5]) == 0.0  # a point mass: one log-ratio value


# ---------------------------------------------------------------------------------------
# Units
# ---------------------------------------------------------------------------------------


def test_bits_are_nats_over_ln2():
    ln2 = math.log(2)
    nats = mc_kl_estimate(P_FAR, Q_FAR, 1000, 8)
    bits = mc_kl_estimate(P_FAR, Q_FAR, 1000, 8, base=2)
    assert math.isclose(bits.estimate, nats.estimate / ln2, rel_tol=1e-12)
    assert math.isclose(bits.standard_error, nats.standard_error / ln2, rel_tol=1e-12)
    np.testing.assert_allclose(
        running_mean_estimate(P_FAR, Q_FAR, 50, 8, base=2),
        running_mean_estimate(P_FAR, Q_FAR, 50, 8) / ln2,
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        sample_log_ratios(P_FAR, Q_FAR, 50, 8, base=10),
        sample_log_ratios(P_FAR, Q_FAR, 50, 8) / math.log(10),
        rtol=1e-12,
    )
    assert math.isclose(log_ratio_std(P_FAR, Q_FAR, base=2), log_ratio_std(P_FAR, Q_FAR) / ln2)
    # base e is the same as nats
    assert math.isclose(
        mc_kl_estimate(P_FAR, Q_FAR, 1000, 8, base=math.e).estimate, nats.estimate, rel_tol=1e-12
    )
    # and the bit estimate is near the exact divergence in bits
    exact_bits = float(kl_divergence(P_FAR, Q_FAR, base=2))
    big = mc_kl_estimate(P_FAR, Q_FAR, 50_000, 8, base=2)
    assert abs(big.estimate - exact_bits) < N_SE * big.standard_error


# ---------------------------------------------------------------------------------------
# Zeros
# ---------------------------------------------------------------------------------------


def test_zero_in_p_is_never_drawn_so_log_ratios_stay_finite():
    values = sample_log_ratios(P_ZEROS, Q_ZEROS, 10_000, 0)
    assert np.isfinite(values).all()


def test_drawn_outcome_with_q_zero_gives_inf():
    # 100 fair draws miss outcome 1 with probability 2**-100
    assert sample_log_ratios([0.5, 0.5], [1.0, 0.0], 100, 0).max() == math.inf
    assert mc_kl_estimate([0.5, 0.5], [1.0, 0.0], 100, 0) == (math.inf, math.inf)
    running = running_mean_estimate([0.5, 0.5], [1.0, 0.0], 100, 0)
    first_inf = int(np.argmax(np.isinf(running)))
    assert np.isfinite(running[:first_inf]).all() and np.isinf(running[first_inf:]).all()


def test_rare_outcome_with_q_zero_can_be_missed():
    # D(p || q) is infinite, but a sample of 1000 almost surely misses the 1e-9 outcome:
    # the documented limitation of Monte Carlo
    p, q = [1 - 1e-9, 1e-9], [1.0, 0.0]
    assert kl_divergence(p, q) == math.inf
    estimate, _ = mc_kl_estimate(p, q, 1000, 0)
    assert math.isfinite(estimate) and abs(estimate) < 1e-8


# ---------------------------------------------------------------------------------------
# Every ValueError path
# ---------------------------------------------------------------------------------------

SAMPLING_CALLS = {
    "sample_log_ratios": lambda p, q, n, seed, **kw: sample_log_ratios(p, q, n, seed, **kw),
    "mc_kl_estimate": lambda p, q, n, seed, **kw: mc_kl_estimate(p, q, n, seed, **kw),
    "running_mean_estimate": lambda p, q, n, seed, **kw: running_mean_estimate(p, q, n, seed, **kw),
}


@pytest.mark.parametrize("call", SAMPLING_CALLS.values(), ids=SAMPLING_CALLS.keys())
@pytest.mark.parametrize(
    "p, q, match",
    [
        ([0.5, 0.6], [0.5, 0.5], r"^p sums to 1\.1"),
        ([0.5, 0.5], [0.3, 0.3], r"^q sums to 0\.6"),
        ([1.5, -0.5], [0.5, 0.5], r"^p has a negative entry -0\.5 at index 1"),
        ([0.5, 0.5], [1.5, -0.5], r"^q has a negative entry"),
        ([0.5, math.nan], [0.5, 0.5], r"^p contains NaN at index 1"),
        ([0.5, 0.5], [math.inf, 0.5], r"^q has an infinite entry"),
        (["a", "b"], [0.5, 0.5], r"^p must contain real numbers"),
        ([0.5, 0.5], None, r"^q must contain real numbers"),
        ([], [0.5, 0.5], r"^p is empty"),
        (1.0, [1.0], r"^p is a 0-d scalar"),
        ([[0.5, 0.5], [0.5, 0.5]], [0.5, 0.5], r"^p must be 1-D .* shape \(2, 2\)"),
        ([0.5, 0.5], [[0.5, 0.5]], r"^q must be 1-D .* shape \(1, 2\)"),
        ([0.5, 0.5], [0.2, 0.3, 0.5], r"^p and q have different numbers of outcomes"),
        # within SUM_ATOL (1e-6) but not within the sampling tolerance CHOICE_ATOL
        ([0.5, 0.5 + 1e-7], [0.5, 0.5], r"^p sums to 1\.0000001 .*tolerance 1e-08"),
    ],
)
def test_invalid_distributions_raise_naming_the_argument(call, p, q, match):
    with pytest.raises(ValueError, match=match):
        call(p, q, 10, 0)


@pytest.mark.parametrize("call", SAMPLING_CALLS.values(), ids=SAMPLING_CALLS.keys())
@pytest.mark.parametrize("n_samples", [0, -3, 2.0, "10", None, True, math.inf])
def test_invalid_n_samples_raises(call, n_samples):
    with pytest.raises(ValueError, match=r"^n_samples must be an integer >= "):
        call(P_SEED, Q_SEED, n_samples, 0)


def test_mc_kl_estimate_needs_two_samples():
    with pytest.raises(ValueError, match=r"^n_samples must be an integer >= 2 \(a standard"):
        mc_kl_estimate(P_SEED, Q_SEED, 1, 0)
    # one sample is fine for the samples and the running mean
    assert sample_log_ratios(P_SEED, Q_SEED, 1, 0).shape == (1,)
    assert running_mean_estimate(P_SEED, Q_SEED, 1, 0).shape == (1,)


@pytest.mark.parametrize("call", SAMPLING_CALLS.values(), ids=SAMPLING_CALLS.keys())
@pytest.mark.parametrize("seed", [-1, 1.5, None, False, "0", np.random.default_rng(0)])
def test_invalid_seed_raises(call, seed):
    with pytest.raises(ValueError, match=r"^seed must be a non-negative integer"):
        call(P_SEED, Q_SEED, 10, seed)


@pytest.mark.parametrize("call", SAMPLING_CALLS.values(), ids=SAMPLING_CALLS.keys())
@pytest.mark.parametrize("base", [1, 0, -2.0, math.nan, math.inf, True, "2"])
def test_invalid_base_raises(call, base):
    with pytest.raises(ValueError, match=r"^base must be a finite number > 0 and != 1"):
        call(P_SEED, Q_SEED, 10, 0, base=base)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"p": [0.5, 0.6]}, r"^p sums to"),
        ({"p": [0.5, -0.5, 1.0]}, r"^p has a negative entry"),
        ({"p": [[1.0]]}, r"^p must be 1-D"),
        ({"n_samples": 0}, r"^n_samples must be an integer >= 1, got 0"),
        ({"n_samples": 3.0}, r"^n_samples must be an integer >= 1"),
        ({"seed": -5}, r"^seed must be a non-negative integer"),
        ({"seed": None}, r"^seed must be a non-negative integer"),
    ],
)
def test_sample_outcomes_invalid_arguments(kwargs, match):
    arguments = {"p": P_SEED, "n_samples": 10, "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=match):
        sample_outcomes(**arguments)


@pytest.mark.parametrize(
    "p, q, kwargs, match",
    [
        ([0.5, 0.6], [0.5, 0.5], {}, r"^p sums to"),
        ([0.5, 0.5], [0.5, 0.6], {}, r"^q sums to"),
        ([[0.5, 0.5]], [0.5, 0.5], {}, r"^p must be 1-D"),
        ([0.5, 0.5], [1.0], {}, r"^p and q have different numbers of outcomes"),
        ([0.5, 0.5], [0.5, 0.5], {"base": 1.0}, r"^base must be"),
    ],
)
def test_log_ratio_std_invalid_arguments(p, q, kwargs, match):
    with pytest.raises(ValueError, match=match):
        log_ratio_std(p, q, **kwargs)


def test_log_ratio_std_accepts_the_looser_sum_tolerance():
    # no sampling, so the package's usual tolerance applies
    assert math.isfinite(log_ratio_std([0.5, 0.5 + 1e-7], [0.5, 0.5]))


def test_choice_tolerance_is_inside_numpy_limit():
    # Generator.choice accepts a sum within sqrt(eps) of 1: CHOICE_ATOL must be stricter
    assert CHOICE_ATOL < math.sqrt(np.finfo(np.float64).eps)
    p = [0.5, 0.5 + 0.9 * CHOICE_ATOL]
    assert sample_outcomes(p, 5, 0).shape == (5,)
