"""Tests of the reference library kl_helpers.

Independent sources: pure-Python ``math.log`` sums, scipy (``special.rel_entr``,
``stats.entropy`` and the published values of scipy/stats/tests/test_entropy.py), seeded
Monte Carlo estimates with a 4-standard-error tolerance, numerical integration, and
Hypothesis property tests of the defining inequalities.
"""

from __future__ import annotations

import doctest
import inspect
import math
import warnings
from decimal import Decimal, localcontext

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_max_ulp
from scipy import integrate, special, stats

import kl_helpers
from kl_helpers import (
    SUM_ATOL,
    bernoulli_kl,
    cross_entropy,
    diag_gaussian_kl_to_standard_normal,
    divergences,
    entropy,
    gaussian_kl,
    kl_divergence,
    kl_from_logits,
    log_softmax,
    mvn_kl,
    pointwise_terms,
    softmax,
    validate_distribution,
)

# Any RuntimeWarning (log of 0, 0 * inf, overflow) from the library is a bug
pytestmark = pytest.mark.filterwarnings("error")

PROPERTY_SETTINGS = settings(max_examples=100, deadline=None, derandomize=True)

# The seed document's example (course notes, section 1)
P_SEED = [0.4, 0.3, 0.2, 0.1]
Q_SEED = [0.3, 0.3, 0.3, 0.1]

MC_SAMPLES = 200_000


def python_kl(p, q):
    """D(p || q) from the definition with math.log: an implementation independent of numpy."""
    return sum(pi * math.log(pi / qi) for pi, qi in zip(p, q, strict=True) if pi > 0)


def assert_within_standard_errors(samples, expected, n_se=4.0):
    """Assert a Monte Carlo mean is within ``n_se`` standard errors of ``expected``."""
    samples = np.asarray(samples)
    estimate = samples.mean()
    standard_error = samples.std(ddof=1) / math.sqrt(samples.size)
    assert standard_error > 0
    assert abs(estimate - expected) < n_se * standard_error, (estimate, expected, standard_error)


# ---------------------------------------------------------------------------------------
# Hypothesis strategies
# ---------------------------------------------------------------------------------------

# Exact zeros exercise the 0 log 0 and p > 0 = q conventions; weights spanning 12 orders
# of magnitude give probabilities down to ~1e-13
_weights = st.one_of(st.just(0.0), st.floats(min_value=1e-6, max_value=1e6))


def _normalised(weights) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    return w / w.sum()


def _weight_lists(k: int):
    return st.lists(_weights, min_size=k, max_size=k).filter(lambda w: sum(w) > 0)


@st.composite
def distribution_pairs(draw, max_size: int = 10):
    k = draw(st.integers(min_value=1, max_value=max_size))
    return _normalised(draw(_weight_lists(k))), _normalised(draw(_weight_lists(k)))


@st.composite
def distribution_batches(draw, max_rows: int = 6, max_size: int = 8):
    k = draw(st.integers(min_value=1, max_value=max_size))
    n = draw(st.integers(min_value=1, max_value=max_rows))
    rows = st.lists(_weight_lists(k), min_size=n, max_size=n)
    p = np.stack([_normalised(w) for w in draw(rows)])
    q = np.stack([_normalised(w) for w in draw(rows)])
    return p, q


# ---------------------------------------------------------------------------------------
# Package surface
# ---------------------------------------------------------------------------------------

PUBLIC_FUNCTIONS = [
    validate_distribution,
    kl_divergence,
    pointwise_terms,
    entropy,
    cross_entropy,
    log_softmax,
    softmax,
    kl_from_logits,
    gaussian_kl,
    mvn_kl,
    bernoulli_kl,
    diag_gaussian_kl_to_standard_normal,
]


def test_package_reexports_the_public_api():
    """Every name in __all__ exists, and every public function is listed."""
    for name in kl_helpers.__all__:
        assert hasattr(kl_helpers, name), name
    assert {f.__name__ for f in PUBLIC_FUNCTIONS} | {"SUM_ATOL"} == set(kl_helpers.__all__)
    assert kl_helpers.__doc__


@pytest.mark.parametrize("function", PUBLIC_FUNCTIONS, ids=lambda f: f.__name__)
def test_public_functions_document_formula_args_and_raises(function):
    """Each docstring has Args, Returns and Raises sections, and names ValueError."""
    doc = inspect.getdoc(function)
    assert doc is not None
    for section in ("Args:", "Returns:", "Raises:"):
        assert section in doc, (function.__name__, section)
    assert "ValueError" in doc


def test_sum_tolerance_constant():
    """SUM_ATOL is the documented default tolerance of 1e-6."""
    assert SUM_ATOL == 1e-6
    assert inspect.signature(kl_divergence).parameters["atol"].default == SUM_ATOL


# ---------------------------------------------------------------------------------------
# validate_distribution
# ---------------------------------------------------------------------------------------


def test_validate_returns_float64_without_renormalising():
    """Valid input comes back as float64 with identical values."""
    out = validate_distribution([0, 1], "p")
    assert out.dtype == np.float64
    assert out.tolist() == [0.0, 1.0]
    almost = [0.5, 0.5 + 0.9 * SUM_ATOL]
    assert validate_distribution(almost, "p").tolist() == almost


def test_validate_returns_a_copy():
    """Mutating the result does not touch the caller's array."""
    x = np.array([0.25, 0.75])
    out = validate_distribution(x, "p")
    out[0] = 99.0
    assert x[0] == 0.25


def test_validate_accepts_batches_along_any_axis():
    """Every slice along axis must be a distribution."""
    batch = np.array([[0.2, 0.8], [0.5, 0.5], [1.0, 0.0]])
    assert validate_distribution(batch, "p").shape == (3, 2)
    assert validate_distribution(batch.T, "p", axis=0).shape == (2, 3)
    with pytest.raises(
        ValueError, match=r"p sums to 1\.7 along axis -1 \(batch entry at index 0\)"
    ):
        validate_distribution(batch.T, "p")


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ([], r"q is empty"),
        (np.zeros((2, 0)), r"q is empty"),
        ([0.5, np.nan, 0.5], r"q contains NaN at index 1"),
        ([np.inf, 0.0], r"q has an infinite entry inf at index 0"),
        ([0.5, 1.5, -np.inf], r"q has an infinite entry -inf at index 2"),
        ([0.5, 0.6, -0.1], r"q has a negative entry -0\.1 at index 2; probabilities must be >= 0"),
        ([[0.5, 0.5], [1.1, -0.1]], r"q has a negative entry -0\.1 at index \(1, 1\)"),
        ([-0.5, 1.5, -0.0, -1.0], r"q has a negative entry -0\.5 at index 0 \(2 negative entries"),
        (
            [0.4, 0.4, 0.4],
            r"q sums to 1\.2 along axis -1, not 1 \(tolerance 1e-06\); KL divergence needs "
            r"normalised distributions, this function never renormalises",
        ),
        ([1, 2, 3], r"q sums to 6 along axis -1, not 1"),
        ([0.5, 0.5 + 2 * SUM_ATOL], r"q sums to 1\.000002 along axis -1, not 1"),
        ("abc", r"q must contain real numbers, got an array of dtype <U3"),
        (["0.5", "0.5"], r"q must contain real numbers"),
        (None, r"q must contain real numbers, got None"),
        ([0.5, None], r"q must contain real numbers, got None \(NoneType\) at index 1"),
        ([0.5, "0.5"], r"q must contain real numbers"),
        ([[0.5, 0.5], [1.0]], r"q must be an array of real numbers"),
        ([0.5 + 0j, 0.5], r"q must contain real numbers, got an array of dtype complex128"),
        (0.5, r"q is a 0-d scalar \(0\.5\), not a distribution"),
        (1.0, r"q is a 0-d scalar \(1\.0\), not a distribution"),
    ],
)
def test_validate_rejects_with_a_message_naming_the_argument(bad, message):
    """Each invalid input gives a ValueError naming the argument and the problem."""
    with pytest.raises(ValueError, match=message):
        validate_distribution(bad, "q")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"axis": 1}, r"axis 1 is out of range for p, which has 1 dimension"),
        ({"axis": 0.5}, r"axis must be an integer"),
        ({"atol": -1e-3}, r"atol must be a finite number >= 0"),
        ({"atol": float("nan")}, r"atol must be a finite number >= 0"),
    ],
)
def test_validate_rejects_bad_axis_and_atol(kwargs, message):
    """Invalid keyword arguments are ValueErrors too, naming the keyword."""
    with pytest.raises(ValueError, match=message):
        validate_distribution([0.5, 0.5], "p", **kwargs)


def test_validate_atol_is_respected():
    """A looser tolerance accepts what the default rejects; atol=0 demands an exact sum."""
    slightly_off = [0.5, 0.501]
    with pytest.raises(ValueError, match="p sums to 1.001"):
        validate_distribution(slightly_off, "p")
    assert validate_distribution(slightly_off, "p", atol=1e-2).shape == (2,)
    with pytest.raises(ValueError, match="tolerance 0"):
        validate_distribution([0.1, 0.2, 0.7 + 1e-15], "p", atol=0.0)


# ---------------------------------------------------------------------------------------
# kl_divergence and pointwise_terms: reference values
# ---------------------------------------------------------------------------------------


def test_seed_example_values():
    """The seed document's P, Q: 0.0339798 nats (not 0.0915), 0.0490225 bits, KL(Q||P)."""
    kl_pq = kl_divergence(P_SEED, Q_SEED)
    assert kl_pq == pytest.approx(0.0339798, rel=1e-5, abs=0)
    assert kl_pq == pytest.approx(python_kl(P_SEED, Q_SEED), rel=1e-12, abs=0)
    assert kl_divergence(P_SEED, Q_SEED, base=2) == pytest.approx(0.0490225, rel=1e-5, abs=0)
    assert kl_divergence(P_SEED, Q_SEED, base=2) == pytest.approx(
        python_kl(P_SEED, Q_SEED) / math.log(2), rel=1e-12, abs=0
    )
    kl_qp = kl_divergence(Q_SEED, P_SEED)
    assert kl_qp == pytest.approx(0.0353349, rel=1e-5, abs=0)
    assert kl_qp == pytest.approx(python_kl(Q_SEED, P_SEED), rel=1e-12, abs=0)
    assert kl_pq != pytest.approx(0.0915, abs=1e-3)


def test_seed_example_to_six_significant_digits():
    """KL(P||Q) = 0.0339798 to relative 1e-6 (the course notes' stated precision)."""
    assert kl_divergence(P_SEED, Q_SEED) == pytest.approx(0.03397980735907956, rel=1e-6, abs=0)
    assert round(float(kl_divergence(P_SEED, Q_SEED)), 7) == 0.0339798


def test_seed_example_pointwise_terms_include_a_negative_term():
    """Terms [0.11507, 0, -0.08109, 0]: individual terms can be negative."""
    terms = pointwise_terms(P_SEED, Q_SEED)
    expected = [p * math.log(p / q) for p, q in zip(P_SEED, Q_SEED, strict=True)]
    assert_allclose(terms, expected, rtol=1e-14, atol=1e-17)
    assert_allclose(terms, [0.11507, 0.0, -0.08109, 0.0], atol=5e-6)
    assert terms[2] < 0
    assert terms.sum() == pytest.approx(kl_divergence(P_SEED, Q_SEED), rel=1e-15, abs=0)


def test_kl_is_asymmetric_on_a_concrete_pair():
    """KL(P||Q) and KL(Q||P) differ for the seed pair."""
    assert abs(kl_divergence(P_SEED, Q_SEED) - kl_divergence(Q_SEED, P_SEED)) > 1e-3


def test_scipy_published_kl_values():
    """scipy test_entropy.py: entropy([.5,.5],[.9,.1]) = 0.5108256237659907 nats, 0.7369... bits."""
    # scipy 1.17's own rel_entr sum gives ...906: one ulp from the published value
    assert kl_divergence([0.5, 0.5], [0.9, 0.1]) == pytest.approx(
        0.5108256237659907, rel=1e-15, abs=0
    )
    assert kl_divergence([0.5, 0.5], [0.9, 0.1], base=2) == pytest.approx(
        0.7369655941662062, rel=1e-15, abs=0
    )


def test_return_types_and_shapes():
    """1-D inputs give np.float64; batches give the broadcast shape without axis."""
    value = kl_divergence(P_SEED, Q_SEED)
    assert isinstance(value, np.float64)
    assert isinstance(value, float)
    p = np.tile(P_SEED, (5, 1))
    assert kl_divergence(p, Q_SEED).shape == (5,)
    assert kl_divergence(p[:, None, :], np.tile(Q_SEED, (3, 1))).shape == (5, 3)
    assert pointwise_terms(p[:, None, :], np.tile(Q_SEED, (3, 1))).shape == (5, 3, 4)
    assert kl_divergence(p.T, np.array(Q_SEED)[:, None], axis=0).shape == (5,)


def test_zero_conventions():
    """0 log(0/q) = 0 for q >= 0 (also q = 0); p > 0 where q = 0 gives +inf."""
    assert kl_divergence([0.0, 1.0], [0.0, 1.0]) == 0.0
    assert kl_divergence([0.0, 1.0], [0.5, 0.5]) == pytest.approx(math.log(2), rel=1e-15, abs=0)
    assert kl_divergence([0.5, 0.5], [1.0, 0.0]) == math.inf
    assert pointwise_terms([0.5, 0.5], [1.0, 0.0]).tolist() == [
        pytest.approx(0.5 * math.log(0.5), rel=1e-12, abs=0),
        math.inf,
    ]
    assert pointwise_terms([0.0, 1.0], [0.0, 1.0]).tolist() == [0.0, 0.0]


def test_rare_events_under_q_dominate():
    """P=[.5,.5], Q=[1-eps, eps]: 2.76, 6.21, 13.12, inf for eps = 1e-3, 1e-6, 1e-12, 0."""
    values = [kl_divergence([0.5, 0.5], [1 - eps, eps]) for eps in (1e-3, 1e-6, 1e-12, 0.0)]
    assert_allclose(values[:3], [2.76, 6.21, 13.12], atol=5e-3)
    assert values[3] == math.inf


def test_ratio_overflow_stays_finite():
    """A ratio p/q that overflows float64 still gives the finite, correct divergence."""
    p, q = [0.5, 0.5], [1.0, 5e-324]
    with np.errstate(over="ignore"):
        assert np.isinf(0.5 * np.log(0.5 / 5e-324))  # the naive formula fails here
    expected = 0.5 * math.log(0.5) + 0.5 * (math.log(0.5) - math.log(5e-324))
    assert kl_divergence(p, q) == pytest.approx(expected, rel=1e-14, abs=0)


def test_pointwise_scipy_overflow_case():
    """rel_entr(4, 2.22e-308) = 2839.139983229607 (scipy's published overflow case)."""
    value = pointwise_terms(4.0, 2.22e-308, require_normalized=False)
    assert value == 2839.139983229607
    assert value == special.rel_entr(4, 2.22e-308)
    assert isinstance(value, np.float64)


def test_pointwise_unnormalised_still_validates():
    """require_normalized=False skips only the sum check."""
    assert_allclose(
        pointwise_terms([1.0, 2.0, 3.0], [3.0, 2.0, 1.0], require_normalized=False),
        special.rel_entr([1.0, 2.0, 3.0], [3.0, 2.0, 1.0]),
        rtol=1e-15,
    )
    with pytest.raises(ValueError, match=r"p has a negative entry -1\.0"):
        pointwise_terms([-1.0, 2.0], [1.0, 1.0], require_normalized=False)
    with pytest.raises(ValueError, match="q contains NaN"):
        pointwise_terms([1.0, 2.0], [np.nan, 1.0], require_normalized=False)
    with pytest.raises(ValueError, match="p is empty"):
        pointwise_terms([], [], require_normalized=False)
    with pytest.raises(ValueError, match="different numbers of outcomes"):
        pointwise_terms([1.0, 2.0], [1.0, 2.0, 3.0], require_normalized=False)
    with pytest.raises(ValueError, match=r"p is a 0-d scalar"):
        pointwise_terms(1.0, 1.0)


def test_pointwise_base():
    """base=2 divides every term by ln 2."""
    assert_allclose(
        pointwise_terms(P_SEED, Q_SEED, base=2),
        pointwise_terms(P_SEED, Q_SEED) / math.log(2),
        rtol=1e-15,
    )


def test_kl_never_renormalises():
    """scipy.stats.entropy normalises [1,2,3] vs [3,2,1] (0.3662); kl_divergence refuses."""
    assert stats.entropy([1, 2, 3], [3, 2, 1]) == pytest.approx(0.3662, abs=1e-4)
    with pytest.raises(ValueError, match=r"p sums to 6 along axis -1, not 1"):
        kl_divergence([1, 2, 3], [3, 2, 1])


@pytest.mark.parametrize(
    ("p", "q", "message"),
    [
        ([0.5, 0.5], [1 / 3] * 3, r"p has 2 \(shape \(2,\)\), q has 3 \(shape \(3,\)\)"),
        (
            [1 / 3] * 3,
            [1.0],
            r"p has 3 \(shape \(3,\)\), q has 1 \(shape \(1,\)\).*never broadcast",
        ),
        (
            np.full((2, 3), 1 / 3),
            np.full((4, 3), 1 / 3),
            r"p with shape \(2, 3\) and q with shape \(4, 3\) cannot be broadcast together",
        ),
        ([0.5, 0.5], [[0.5, 0.5]] * 2, None),
        ([0.5, 0.5], [0.5, 0.7], r"q sums to 1\.2"),
        ([0.5, -0.5, 1.0], [0.5, 0.5, 0.0], r"p has a negative entry -0\.5 at index 1"),
    ],
)
def test_kl_shape_and_value_errors(p, q, message):
    """Mismatched outcome axes and non-broadcastable batches are rejected, naming shapes."""
    if message is None:  # control case: plain batch broadcasting is fine
        assert kl_divergence(p, q).shape == (2,)
        return
    with pytest.raises(ValueError, match=message):
        kl_divergence(p, q)


def test_kl_rejects_a_nonnegative_axis_that_means_different_dimensions():
    """axis=0 on shapes (2,) and (2, 3) would compare the wrong dimensions."""
    with pytest.raises(ValueError, match=r"axis=0 points at different dimensions of p"):
        kl_divergence([0.5, 0.5], np.full((2, 3), 0.5), axis=0)


@pytest.mark.parametrize("base", [0, -2, 1, 1.0, float("nan"), float("inf"), "2", True])
def test_kl_rejects_invalid_base(base):
    """base must be a finite positive number other than 1."""
    with pytest.raises(ValueError, match=r"base must be a finite number > 0 and != 1"):
        kl_divergence(P_SEED, Q_SEED, base=base)


@pytest.mark.parametrize("base", [2, 10, math.e, 0.5, np.float64(3.0)])
def test_kl_base_conversion_on_seed(base):
    """KL in base b is KL in nats divided by ln b."""
    assert kl_divergence(P_SEED, Q_SEED, base=base) == pytest.approx(
        python_kl(P_SEED, Q_SEED) / math.log(base), rel=1e-12, abs=0
    )


def test_kl_rejects_scalars_and_non_numbers_naming_the_argument():
    """Errors from kl_divergence name p or q."""
    with pytest.raises(ValueError, match=r"q is a 0-d scalar"):
        kl_divergence([1.0], 1.0)
    with pytest.raises(ValueError, match=r"p must contain real numbers"):
        kl_divergence(["a", "b"], [0.5, 0.5])
    with pytest.raises(ValueError, match=r"q contains NaN at index 0"):
        kl_divergence([0.5, 0.5], [np.nan, 0.5])


# ---------------------------------------------------------------------------------------
# Agreement with scipy on random distributions
# ---------------------------------------------------------------------------------------


def _random_distributions(rng, shape, zero_fraction):
    x = rng.dirichlet(np.ones(shape[-1]), size=shape[:-1])
    x[rng.random(shape) < zero_fraction] = 0.0
    x[..., 0] += 1e-3  # keep every row non-zero before renormalising
    return x / x.sum(axis=-1, keepdims=True)


def test_pointwise_terms_match_rel_entr_to_ulps():
    """Every term equals scipy.special.rel_entr within 2 ulp, zeros and infinities included."""
    rng = np.random.default_rng(20240501)
    p = _random_distributions(rng, (300, 20), zero_fraction=0.2)
    q = _random_distributions(rng, (300, 20), zero_fraction=0.1)
    reference = special.rel_entr(p, q)
    assert np.isinf(reference).any() and (reference == 0).any()  # both conventions exercised
    assert_array_max_ulp(pointwise_terms(p, q), reference, maxulp=2)
    finite = np.isfinite(reference).all(axis=-1)
    assert_allclose(kl_divergence(p, q)[finite], reference.sum(axis=-1)[finite], rtol=1e-13)
    assert np.all(kl_divergence(p, q)[~finite] == np.inf)


def test_pointwise_terms_match_rel_entr_when_p_and_q_are_close():
    """Near-equal p and q keep full accuracy (scipy's log1p branch)."""
    rng = np.random.default_rng(7)
    p = _random_distributions(rng, (200, 10), zero_fraction=0.0)
    q = p * (1 + 1e-9 * rng.standard_normal(p.shape))
    q /= q.sum(axis=-1, keepdims=True)
    assert_array_max_ulp(pointwise_terms(p, q), special.rel_entr(p, q), maxulp=2)


def test_pointwise_terms_match_rel_entr_across_magnitudes():
    """Tiny and huge ratios (subnormal, overflowing) agree with rel_entr too."""
    x = np.array([4.0, 1e-300, 1e-310, 1.0, 0.7, 1e-20, 3.0])
    y = np.array([2.22e-308, 1e-5, 1.0, 1e-320, 0.69, 1e-300, 0.0])
    assert_array_max_ulp(
        pointwise_terms(x, y, require_normalized=False), special.rel_entr(x, y), maxulp=2
    )


def test_entropy_and_kl_match_scipy_stats_on_normalised_inputs():
    """On already normalised inputs scipy.stats.entropy's normalisation is a no-op."""
    rng = np.random.default_rng(11)
    p = _random_distributions(rng, (50, 8), zero_fraction=0.2)
    q = _random_distributions(rng, (50, 8), zero_fraction=0.0)
    assert_allclose(entropy(p), stats.entropy(p, axis=-1), rtol=1e-13)
    assert_allclose(entropy(p, base=2), stats.entropy(p, base=2, axis=-1), rtol=1e-13)
    assert_allclose(kl_divergence(p, q), stats.entropy(p, q, axis=-1), rtol=1e-12, atol=1e-15)
    assert_allclose(kl_divergence(p.T, q.T, axis=0), stats.entropy(p.T, q.T), rtol=1e-12)


# ---------------------------------------------------------------------------------------
# entropy and cross_entropy
# ---------------------------------------------------------------------------------------


def test_entropy_scipy_published_values():
    """scipy: entropy([0,1,2]) = 0.63651416829481278 after normalising; ones(16)/16 = 4 bits."""
    assert entropy(np.array([0, 1, 2]) / 3) == pytest.approx(0.63651416829481278, rel=1e-15, abs=0)
    assert entropy(np.ones(16) / 16, base=2) == pytest.approx(4.0, rel=1e-15, abs=0)
    with pytest.raises(ValueError, match=r"p sums to 3 along axis -1, not 1"):
        entropy([0, 1, 2])


def test_entropy_edge_values():
    """A point mass has entropy exactly 0 (not -0.0); uniform on k outcomes has ln k."""
    value = entropy([1.0, 0.0, 0.0])
    assert value == 0.0 and math.copysign(1.0, value) == 1.0
    assert entropy(np.full(7, 1 / 7)) == pytest.approx(math.log(7), rel=1e-14, abs=0)
    assert entropy([[1.0, 0.0], [0.5, 0.5]]).tolist() == [
        0.0,
        pytest.approx(math.log(2), rel=1e-12, abs=0),
    ]


def test_entropy_errors():
    """entropy names p, and validates base."""
    with pytest.raises(ValueError, match=r"p has a negative entry"):
        entropy([1.5, -0.5])
    with pytest.raises(ValueError, match=r"base must be"):
        entropy([0.5, 0.5], base=1)


def test_cross_entropy_values():
    """H(p, q) = -sum p log q, checked against math.log; +inf when p > 0 = q."""
    expected = -sum(p * math.log(q) for p, q in zip(P_SEED, Q_SEED, strict=True))
    assert cross_entropy(P_SEED, Q_SEED) == pytest.approx(expected, rel=1e-14, abs=0)
    assert cross_entropy(P_SEED, Q_SEED, base=2) == pytest.approx(
        expected / math.log(2), rel=1e-12, abs=0
    )
    assert cross_entropy([0.5, 0.5], [1.0, 0.0]) == math.inf
    assert cross_entropy([1.0, 0.0], [1.0, 0.0]) == 0.0
    assert cross_entropy([0.0, 1.0], [0.5, 0.5]) == pytest.approx(math.log(2), rel=1e-12, abs=0)


def test_cross_entropy_errors_name_the_argument():
    """Shape and validity errors as in kl_divergence."""
    with pytest.raises(ValueError, match=r"q sums to 0\.9"):
        cross_entropy([0.5, 0.5], [0.4, 0.5])
    with pytest.raises(ValueError, match=r"different numbers of outcomes"):
        cross_entropy([0.5, 0.5], [1 / 3] * 3)


# ---------------------------------------------------------------------------------------
# Large inputs: cache-sized blocks, and checks, terms and sums in one pass
# ---------------------------------------------------------------------------------------

BLOCK = divergences._BLOCK
ONE_BLOCK = 10 * BLOCK  # patched in as the block size, it makes every test input one block


def _hard_pair(rng, n, q_zeros=True):
    """``p, q`` on ``n`` outcomes exercising every branch, with special entries at block edges.

    Zeros in p, and in q unless ``q_zeros`` is false (then the divergence is finite);
    nearly equal entries (log1p branch); ratios that overflow or are subnormal (log p -
    log q branch). The entries on both sides of every block boundary are special ones.
    """
    p, q = rng.random(n), rng.random(n)
    p[rng.random(n) < 0.1] = 0.0
    if q_zeros:
        q[rng.random(n) < 0.05] = 0.0
    near = (rng.random(n) < 0.2) & (p > 0)
    q[near] = p[near] * (1 + 1e-9 * rng.standard_normal(near.sum()))
    overflow, subnormal = rng.random(n) < 0.01, rng.random(n) < 0.01
    q[overflow] = 1e-310
    p[subnormal] = 1e-310
    edges = np.array([i for b in range(BLOCK, n, BLOCK) for i in (b - 1, b)], dtype=int)
    for offset, (p_value, q_value) in enumerate([(0.0, 0.5), (1e-310, 0.5), (0.5, 1e-310)]):
        p[edges[offset::3]], q[edges[offset::3]] = p_value, q_value
    if q_zeros and edges.size:
        p[edges[-1]], q[edges[-1]] = 0.5, 0.0  # +inf at the last edge
    return p / p.sum(), q / q.sum()


def _all_results(p, q):
    return (pointwise_terms(p, q), kl_divergence(p, q), entropy(p), cross_entropy(p, q))


@pytest.mark.parametrize("n", [BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK, 3 * BLOCK + 5])
@pytest.mark.parametrize("q_zeros", [False, True], ids=["finite", "with_inf"])
def test_blocks_give_the_one_block_results_bit_for_bit(monkeypatch, n, q_zeros):
    """Around block boundaries, blocked terms and sums equal one-block ones exactly."""
    p, q = _hard_pair(np.random.default_rng(n), n, q_zeros)
    blocked = _all_results(p, q)
    monkeypatch.setattr(divergences, "_BLOCK", ONE_BLOCK)
    one_block = _all_results(p, q)
    assert np.array_equal(blocked[0], one_block[0])
    for value, expected in zip(blocked[1:], one_block[1:], strict=True):
        assert value == expected
    assert np.isinf(blocked[1]) == q_zeros
    assert np.isinf(blocked[0]).any() == q_zeros


@pytest.mark.parametrize("n", [BLOCK + 1, 3 * BLOCK + 5, 1_000_003])
def test_sums_in_blocks_equal_numpys_sum_of_all_terms(n):
    """kl_divergence is the clipped np.sum of pointwise_terms, bit for bit, for any length."""
    p, q = _hard_pair(np.random.default_rng(1), n, q_zeros=False)
    terms = pointwise_terms(p, q)
    assert kl_divergence(p, q) == max(terms.sum(), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        neg_entropy_terms = np.where(p > 0, p * np.log(p), 0.0)
        cross_terms = np.where(p > 0, p * np.log(q), 0.0)
    assert entropy(p) == 0.0 - neg_entropy_terms.sum()
    assert cross_entropy(p, q) == 0.0 - cross_terms.sum()


@pytest.mark.parametrize(
    "shape",
    [(40_000, 3), (100, 1000), (3, BLOCK + 7), (2, 3, 20_000), (BLOCK + 1, 1)],
    ids=str,
)
def test_batches_in_blocks_match_one_block_and_numpy(monkeypatch, shape):
    """Batch axes: short rows share a block, long rows span several; sums match exactly."""
    rng = np.random.default_rng(sum(shape))
    size = math.prod(shape)
    p, q = (x.reshape(shape) for x in _hard_pair(rng, size, q_zeros=False))
    p[..., 0] += 1e-3  # no row of zeros
    p, q = p / p.sum(axis=-1, keepdims=True), q / q.sum(axis=-1, keepdims=True)
    blocked = _all_results(p, q)
    assert blocked[1].shape == shape[:-1]
    assert np.array_equal(blocked[1], np.maximum(blocked[0].sum(axis=-1), 0.0))
    monkeypatch.setattr(divergences, "_BLOCK", ONE_BLOCK)
    for value, expected in zip(blocked, _all_results(p, q), strict=True):
        assert np.array_equal(value, expected)


def test_large_inputs_agree_with_scipy_to_ulps():
    """On several blocks with every branch, terms are rel_entr's within 2 ulp; sums agree."""
    p, q = _hard_pair(np.random.default_rng(5), 3 * BLOCK + 5, q_zeros=False)
    reference = special.rel_entr(p, q)
    assert_array_max_ulp(pointwise_terms(p, q), reference, maxulp=2)
    assert kl_divergence(p, q) == pytest.approx(reference.sum(), rel=1e-13, abs=0)
    assert entropy(p) == pytest.approx(special.entr(p).sum(), rel=1e-13, abs=0)
    assert cross_entropy(p, q) == pytest.approx(-special.xlogy(p, q).sum(), rel=1e-13, abs=0)


def test_broadcast_and_transposed_large_inputs_match_contiguous_ones():
    """Broadcasting and axis=0 take the general path and give the same numbers."""
    rng = np.random.default_rng(9)
    k = BLOCK + 3
    p = rng.dirichlet(np.ones(k), size=(2, 1))
    q = rng.dirichlet(np.ones(k), size=3)
    expected = kl_divergence(*(np.ascontiguousarray(a) for a in np.broadcast_arrays(p, q)))
    assert np.array_equal(kl_divergence(p, q), expected)
    assert np.array_equal(
        pointwise_terms(p, q), pointwise_terms(*(np.array(a) for a in np.broadcast_arrays(p, q)))
    )
    assert_allclose(kl_divergence(q.T, q[::-1].T, axis=0), kl_divergence(q, q[::-1]), rtol=1e-13)
    assert_allclose(entropy(q.T, axis=0), entropy(q), rtol=1e-13)


def test_large_read_only_inputs_are_read_not_written():
    """The one-pass path computes from the caller's arrays without writing to them."""
    p, q = _hard_pair(np.random.default_rng(2), 2 * BLOCK + 1)
    saved = p.copy(), q.copy()
    p.flags.writeable = q.flags.writeable = False
    _all_results(p, q)
    assert np.array_equal(p, saved[0]) and np.array_equal(q, saved[1])


BAD_ENTRIES = [
    ("p", np.nan, r"^p contains NaN at index {i}$"),
    ("q", np.inf, r"^q has an infinite entry inf at index {i}$"),
    ("q", -np.inf, r"^q has an infinite entry -inf at index {i}$"),
    ("p", -1e-3, r"^p has a negative entry -0\.001 at index {i}; "),
    ("q", 0.3, r"^q sums to 1\.3 along axis -1, not 1 "),
]


@pytest.mark.parametrize(
    ("function", "where", "value", "message"),
    [
        pytest.param(function, *bad, id=f"{function.__name__}-{bad[0]}-{bad[1]}")
        for function in (kl_divergence, pointwise_terms, entropy, cross_entropy)
        for bad in BAD_ENTRIES
        if not (function is entropy and bad[0] == "q")
    ],
)
def test_one_pass_rejects_with_the_checks_messages(function, where, value, message):
    """A bad entry in a late block gets the same ValueError as from validate_distribution."""
    p, q = _hard_pair(np.random.default_rng(3), 3 * BLOCK + 5, q_zeros=False)
    i = 3 * BLOCK + 2
    bad = p if where == "p" else q
    bad[i] = value if not np.isfinite(value) or value < 0 else bad[i] + value
    with pytest.raises(ValueError, match=message.format(i=i)) as raised:
        function(p) if function is entropy else function(p, q)
    with pytest.raises(ValueError) as direct:
        validate_distribution(bad, where)
    assert str(raised.value) == str(direct.value)


def test_one_pass_names_the_first_problem_of_p_before_q():
    """With both p and q invalid, p's problem is reported, as by the checks one by one."""
    p, q = _hard_pair(np.random.default_rng(4), 2 * BLOCK, q_zeros=False)
    p[-1], q[0] = -0.5, np.nan
    with pytest.raises(ValueError, match=rf"^p has a negative entry -0\.5 at index {p.size - 1}"):
        kl_divergence(p, q)
    with pytest.raises(ValueError, match=r"^p has a negative entry"):
        cross_entropy(p, [["a"] * q.size])


def test_one_pass_rejects_a_bad_row_in_a_batch():
    """A batch row that does not sum to 1, in the last block, is named by its index."""
    p = np.full((3 * BLOCK // 10 + 1, 10), 0.1)
    q = p.copy()
    q[-1, -1] = 0.2
    last_row = rf"\(batch entry at index {q.shape[0] - 1}\)"
    with pytest.raises(ValueError, match=rf"^q sums to 1\.1 along axis -1 {last_row}"):
        kl_divergence(p, q)
    p[-1, 3] = np.inf
    where = rf"at index \({p.shape[0] - 1}, 3\)"
    with pytest.raises(ValueError, match=rf"^p has an infinite entry inf {where}$"):
        pointwise_terms(p, q, require_normalized=False)


def test_unnormalised_large_inputs_still_reject_inf():
    """require_normalized=False on many blocks: +inf found by the sum's finite check."""
    x = np.ones(3 * BLOCK)
    y = np.ones(3 * BLOCK)
    assert np.array_equal(pointwise_terms(x, y, require_normalized=False), np.zeros(x.size))
    y[-1] = np.inf
    with pytest.raises(ValueError, match=rf"^q has an infinite entry inf at index {y.size - 1}$"):
        pointwise_terms(x, y, require_normalized=False)


def test_negative_zero_probabilities_give_positive_zero_terms():
    """p = -0.0 is a valid 0: its term prints as 0.0, not -0.0, as with rel_entr."""
    terms = pointwise_terms([-0.0, 1.0], [0.5, 0.5])
    assert not np.signbit(terms[0]) and terms[0] == special.rel_entr(-0.0, 0.5) == 0.0
    assert not np.signbit(pointwise_terms([-0.0, 1.0], [0.0, 1.0])).any()


def test_fast_checks_do_not_warn_on_inf_minus_inf():
    """+inf and -inf together (NaN sum) give the usual error, not a RuntimeWarning."""
    with pytest.raises(ValueError, match=r"^p has an infinite entry inf at index 0$"):
        validate_distribution([np.inf, -np.inf], "p")
    with pytest.raises(ValueError, match=r"^q has an infinite entry inf at index 0$"):
        kl_divergence([0.5, 0.5], [np.inf, -np.inf])


# ---------------------------------------------------------------------------------------
# Properties (Hypothesis)
# ---------------------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(distribution_pairs())
def test_property_kl_nonnegative_and_pinsker(pair):
    """Gibbs: KL >= 0; Pinsker: KL >= 1/2 ||p - q||_1^2, so KL > 0 whenever p != q."""
    p, q = pair
    kl_pq = kl_divergence(p, q)
    l1 = np.abs(p - q).sum()
    assert kl_pq >= 0.0
    assert kl_pq >= 0.5 * l1**2 - 1e-12
    if l1 > 1e-5:
        assert kl_pq > 0.0


@PROPERTY_SETTINGS
@given(distribution_pairs())
def test_property_kl_of_a_distribution_with_itself_is_zero(pair):
    """KL(p || p) = 0 exactly, also with zeros in p."""
    p, _ = pair
    assert kl_divergence(p, p) == 0.0
    assert np.all(pointwise_terms(p, p) == 0.0)


@PROPERTY_SETTINGS
@given(distribution_pairs())
def test_property_chain_rule(pair):
    """H(p, q) = H(p) + KL(p || q)."""
    p, q = pair
    kl_pq = kl_divergence(p, q)
    if np.isinf(kl_pq):
        assert cross_entropy(p, q) == math.inf
    else:
        assert cross_entropy(p, q) == pytest.approx(entropy(p) + kl_pq, rel=1e-9, abs=1e-12)
    assert 0.0 <= entropy(p) <= math.log(p.size) + 1e-12


@PROPERTY_SETTINGS
@given(distribution_pairs())
def test_property_base_conversion(pair):
    """KL in bits = KL in nats / ln 2; in hartleys = KL in nats / ln 10."""
    p, q = pair
    nats = kl_divergence(p, q)
    assert kl_divergence(p, q, base=2) == pytest.approx(nats / math.log(2), rel=1e-12, abs=0)
    assert kl_divergence(p, q, base=10) == pytest.approx(nats / math.log(10), rel=1e-12, abs=0)
    assert entropy(p, base=2) == pytest.approx(entropy(p) / math.log(2), rel=1e-12, abs=1e-300)


@PROPERTY_SETTINGS
@given(distribution_batches())
def test_property_batches_match_rows_and_axis_zero(batch):
    """KL of an (n, k) batch equals the per-row values; axis=0 on the transpose agrees."""
    p, q = batch
    rows = np.array([kl_divergence(p_row, q_row) for p_row, q_row in zip(p, q, strict=True)])
    batched = kl_divergence(p, q)
    assert batched.shape == (p.shape[0],)
    assert_allclose(batched, rows, rtol=1e-12, atol=1e-15)
    assert_allclose(kl_divergence(p.T, q.T, axis=0), rows, rtol=1e-12, atol=1e-15)
    assert_allclose(entropy(p.T, axis=0), entropy(p), rtol=1e-12, atol=1e-15)


@PROPERTY_SETTINGS
@given(distribution_pairs())
def test_property_agrees_with_python_definition(pair):
    """kl_divergence equals the math.log definition (finite cases) or is inf."""
    p, q = pair
    if np.any((p > 0) & (q == 0)):
        assert kl_divergence(p, q) == math.inf
    else:
        assert kl_divergence(p, q) == pytest.approx(python_kl(p, q), rel=1e-9, abs=1e-14)


# ---------------------------------------------------------------------------------------
# log_softmax, softmax, kl_from_logits
# ---------------------------------------------------------------------------------------


def test_softmax_matches_scipy_and_sums_to_one():
    """softmax/log_softmax agree with scipy.special and are normalised."""
    rng = np.random.default_rng(3)
    logits = 5 * rng.standard_normal((4, 6))
    assert_allclose(softmax(logits), special.softmax(logits, axis=-1), rtol=1e-13)
    # scipy's log_softmax loses ~1e-16 absolute (1e-9 relative) on log-probabilities near 0
    assert_allclose(
        log_softmax(logits), special.log_softmax(logits, axis=-1), rtol=1e-13, atol=1e-15
    )
    assert_allclose(softmax(logits).sum(axis=-1), 1.0, rtol=1e-14)
    assert_allclose(softmax(logits, axis=0).sum(axis=0), 1.0, rtol=1e-14)


def test_log_softmax_is_accurate_near_zero():
    """Against 50-digit decimal arithmetic, also for the largest logit (log-prob ~ -2e-7)."""
    rng = np.random.default_rng(3)
    logits = 5 * rng.standard_normal((4, 6))
    exact = []
    with localcontext() as context:
        context.prec = 50
        for row in logits:
            digits = [Decimal(float(x)) for x in row]
            log_normaliser = sum((x.exp() for x in digits), Decimal(0)).ln()
            exact.append([float(x - log_normaliser) for x in digits])
    assert_allclose(log_softmax(logits), exact, rtol=1e-14)
    assert np.abs(log_softmax(logits)).min() < 1e-6  # a near-zero entry is exercised


def test_log_softmax_extreme_logits():
    """[1000, 0, -1000] gives [0, -1000, -2000], not NaN; -inf logits mean probability 0."""
    assert log_softmax([1000.0, 0.0, -1000.0]).tolist() == [0.0, -1000.0, -2000.0]
    assert softmax([-np.inf, 0.0, 0.0]).tolist() == [0.0, 0.5, 0.5]


@pytest.mark.parametrize(
    ("logits", "message"),
    [
        ([0.0, np.nan], r"logits contains NaN at index 1"),
        ([], r"logits is empty"),
        ([0.0, np.inf], r"logits has an infinite entry inf at index 1; only -inf is allowed"),
        ([-np.inf, -np.inf], r"logits is -inf for every outcome along axis -1"),
        (2.0, r"logits is 0-d"),
        (["a"], r"logits must contain real numbers"),
    ],
)
@pytest.mark.parametrize("function", [log_softmax, softmax], ids=lambda f: f.__name__)
def test_log_softmax_errors(function, logits, message):
    """Invalid logits raise ValueError naming logits."""
    with pytest.raises(ValueError, match=message):
        function(logits)


def test_kl_from_logits_equals_kl_of_softmaxes():
    """On moderate logits the logit route and the probability route agree."""
    rng = np.random.default_rng(5)
    a = 3 * rng.standard_normal((20, 7))
    b = 3 * rng.standard_normal((20, 7))
    expected = kl_divergence(softmax(a), softmax(b))
    assert_allclose(kl_from_logits(a, b), expected, rtol=1e-10, atol=1e-14)
    assert_allclose(kl_from_logits(a.T, b.T, axis=0), expected, rtol=1e-10, atol=1e-14)
    assert_allclose(kl_from_logits(a, b, base=2), expected / math.log(2), rtol=1e-10)
    assert isinstance(kl_from_logits(a[0], b[0]), np.float64)


def test_kl_from_logits_is_stable_on_extreme_logits():
    """[1000, 0, -1000] vs uniform gives ln 3 with no warning; the naive route gives NaN."""
    logits_p = np.array([1000.0, 0.0, -1000.0])
    logits_q = np.zeros(3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = kl_from_logits(logits_p, logits_q)
    assert value == pytest.approx(math.log(3), rel=1e-15, abs=0)

    # What the stable version avoids: exp(1000) = inf, inf / inf = NaN
    with np.errstate(all="ignore"):
        naive_p = np.exp(logits_p) / np.exp(logits_p).sum()
        naive_q = np.exp(logits_q) / np.exp(logits_q).sum()
        naive = np.sum(naive_p * np.log(naive_p / naive_q))
    assert np.isnan(naive)


def test_kl_from_logits_infinite_logit_conventions():
    """exp(lp) = 0 contributes 0 even where lq = -inf; lp finite with lq = -inf gives inf."""
    assert kl_from_logits([0.0, -np.inf], [0.0, -np.inf]) == 0.0
    assert kl_from_logits([0.0, -np.inf], [0.0, 0.0]) == pytest.approx(
        math.log(2), rel=1e-12, abs=0
    )
    assert kl_from_logits([0.0, 0.0], [0.0, -np.inf]) == math.inf
    batch = kl_from_logits([[1000.0, 0.0, -np.inf]], [[0.0, 0.0, -np.inf], [0.0, 0.0, 0.0]])
    assert_allclose(batch, [math.log(2), math.log(3)], rtol=1e-15)


def test_kl_from_logits_errors_name_the_argument():
    """Errors name logits_p or logits_q, mismatched outcome axes and bad base."""
    with pytest.raises(ValueError, match=r"logits_q contains NaN"):
        kl_from_logits([0.0, 1.0], [0.0, np.nan])
    with pytest.raises(ValueError, match=r"logits_p has an infinite entry inf"):
        kl_from_logits([np.inf, 1.0], [0.0, 1.0])
    with pytest.raises(ValueError, match=r"logits_p has 2 \(shape \(2,\)\), logits_q has 3"):
        kl_from_logits([0.0, 1.0], [0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match=r"cannot be broadcast together"):
        kl_from_logits(np.zeros((2, 3)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match=r"base must be"):
        kl_from_logits([0.0, 1.0], [1.0, 0.0], base=-1)


def test_kl_from_logits_is_never_negative_for_nearly_equal_inputs():
    """Cancelling terms may round to -2e-16; the result is clipped to the true sign."""
    value = kl_from_logits([0.0, 0.0, 0.0], [0.0, 0.0, 1.183486446873471e-08])
    assert 0.0 <= value < 1e-15
    p = softmax([0.0, 0.0, 0.0])
    q = softmax([0.0, 0.0, 1.183486446873471e-08])
    assert 0.0 <= kl_divergence(p, q) < 1e-15


@PROPERTY_SETTINGS
@given(
    st.integers(min_value=1, max_value=8).flatmap(
        lambda k: st.tuples(
            st.lists(st.floats(-30, 30), min_size=k, max_size=k),
            st.lists(st.floats(-30, 30), min_size=k, max_size=k),
        )
    )
)
def test_property_kl_from_logits(logit_pair):
    """kl_from_logits >= 0 and equals kl_divergence of the softmaxes."""
    a, b = (np.array(x) for x in logit_pair)
    value = kl_from_logits(a, b)
    assert value >= 0.0
    assert value == pytest.approx(kl_divergence(softmax(a), softmax(b)), rel=1e-8, abs=1e-12)


# ---------------------------------------------------------------------------------------
# Closed forms: Gaussian
# ---------------------------------------------------------------------------------------


def test_gaussian_kl_reference_value():
    """KL(N(0, 1) || N(1, 2^2)) = ln 2 + 1/4 - 1/2 = 0.4431471805599453 (sigma = 2)."""
    assert gaussian_kl(0.0, 1.0, 1.0, 2.0) == pytest.approx(0.4431471805599453, rel=1e-15, abs=0)
    assert gaussian_kl(0.0, 1.0, 1.0, 2.0) == pytest.approx(math.log(2) - 0.25, rel=1e-15, abs=0)
    assert gaussian_kl(3.0, 0.7, 3.0, 0.7) == 0.0
    assert isinstance(gaussian_kl(0.0, 1.0, 1.0, 2.0), np.float64)


def test_gaussian_kl_matches_monte_carlo():
    """Mean of log p(x) - log q(x) over x ~ p is within 4 standard errors."""
    rng = np.random.default_rng(2024)
    for mu_p, sigma_p, mu_q, sigma_q in [(0.0, 1.0, 1.0, 2.0), (-1.5, 0.5, 0.3, 1.2)]:
        x = rng.normal(mu_p, sigma_p, MC_SAMPLES)
        log_ratio = stats.norm.logpdf(x, mu_p, sigma_p) - stats.norm.logpdf(x, mu_q, sigma_q)
        assert_within_standard_errors(log_ratio, gaussian_kl(mu_p, sigma_p, mu_q, sigma_q))


@pytest.mark.parametrize(
    ("mu_p", "sigma_p", "mu_q", "sigma_q"),
    [(0.0, 1.0, 1.0, 2.0), (2.0, 3.0, -1.0, 0.8), (0.0, 0.1, 0.0, 10.0)],
)
def test_gaussian_kl_matches_quadrature(mu_p, sigma_p, mu_q, sigma_q):
    """Integral of p(x) (log p(x) - log q(x)) with scipy.integrate.quad."""

    def integrand(x):
        log_p = stats.norm.logpdf(x, mu_p, sigma_p)
        return math.exp(log_p) * (log_p - stats.norm.logpdf(x, mu_q, sigma_q))

    lo, hi = mu_p - 40 * sigma_p, mu_p + 40 * sigma_p
    value, _ = integrate.quad(integrand, lo, hi, points=[mu_p], limit=200)
    assert gaussian_kl(mu_p, sigma_p, mu_q, sigma_q) == pytest.approx(value, rel=1e-8, abs=0)


def test_gaussian_kl_broadcasts():
    """Array arguments broadcast; each entry equals the scalar result."""
    mu_q = np.array([[0.0], [1.0]])
    sigma_q = np.array([0.5, 1.0, 2.0])
    out = gaussian_kl(0.0, 1.0, mu_q, sigma_q)
    assert out.shape == (2, 3)
    assert out[1, 2] == pytest.approx(0.4431471805599453, rel=1e-15, abs=0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0.0, 0.0, 0.0, 1.0), r"sigma_p must be > 0 \(a standard deviation\), got 0\.0"),
        ((0.0, 1.0, 0.0, -2.0), r"sigma_q must be > 0 \(a standard deviation\), got -2\.0"),
        ((0.0, 1.0, 0.0, [1.0, np.nan]), r"sigma_q contains NaN at index 1"),
        ((np.nan, 1.0, 0.0, 1.0), r"mu_p contains NaN"),
        ((0.0, 1.0, np.inf, 1.0), r"mu_q has an infinite entry inf"),
        ((0.0, np.inf, 0.0, 1.0), r"sigma_p has an infinite entry inf"),
        (("0", 1.0, 0.0, 1.0), r"mu_p must contain real numbers"),
        (([0.0, 1.0], 1.0, [0.0, 1.0, 2.0], 1.0), r"mu_p \(2,\).*mu_q \(3,\)"),
    ],
)
def test_gaussian_kl_errors(args, message):
    """Invalid parameters raise ValueError naming the argument."""
    with pytest.raises(ValueError, match=message):
        gaussian_kl(*args)


# ---------------------------------------------------------------------------------------
# Closed forms: multivariate normal
# ---------------------------------------------------------------------------------------

MVN_CASES = {
    "2d": (
        np.array([0.5, -1.0]),
        np.array([[2.0, 0.6], [0.6, 1.0]]),
        np.array([0.0, 0.3]),
        np.array([[1.0, -0.4], [-0.4, 1.5]]),
    ),
    "3d": (
        np.array([1.0, 0.0, -0.5]),
        np.array([[1.5, 0.3, -0.2], [0.3, 0.8, 0.1], [-0.2, 0.1, 1.2]]),
        np.array([0.0, 0.5, 0.0]),
        np.array([[2.0, -0.5, 0.4], [-0.5, 1.0, 0.2], [0.4, 0.2, 0.9]]),
    ),
}


@pytest.mark.parametrize("case", sorted(MVN_CASES))
def test_mvn_kl_matches_monte_carlo(case):
    """Non-diagonal 2-D and 3-D covariances against a seeded Monte Carlo estimate."""
    mu_p, cov_p, mu_q, cov_q = MVN_CASES[case]
    rng = np.random.default_rng(99)
    x = rng.multivariate_normal(mu_p, cov_p, size=MC_SAMPLES)
    log_ratio = stats.multivariate_normal(mu_p, cov_p).logpdf(x) - stats.multivariate_normal(
        mu_q, cov_q
    ).logpdf(x)
    assert_within_standard_errors(log_ratio, mvn_kl(mu_p, cov_p, mu_q, cov_q))


@pytest.mark.parametrize("case", sorted(MVN_CASES))
def test_mvn_kl_matches_the_formula_with_explicit_inverses(case):
    """The Cholesky route equals the textbook formula evaluated with inv and det."""
    mu_p, cov_p, mu_q, cov_q = MVN_CASES[case]
    inv_q = np.linalg.inv(cov_q)
    gap = mu_q - mu_p
    expected = 0.5 * (
        np.trace(inv_q @ cov_p)
        + gap @ inv_q @ gap
        - mu_p.size
        + math.log(np.linalg.det(cov_q) / np.linalg.det(cov_p))
    )
    assert mvn_kl(mu_p, cov_p, mu_q, cov_q) == pytest.approx(expected, rel=1e-12, abs=0)
    assert mvn_kl(mu_p, cov_p, mu_p, cov_p) == pytest.approx(0.0, abs=1e-12)


def test_mvn_kl_reduces_to_gaussian_kl():
    """1-D: mvn_kl with variances equals gaussian_kl with standard deviations."""
    assert mvn_kl([0.0], [[1.0]], [1.0], [[4.0]]) == pytest.approx(
        0.4431471805599453, rel=1e-15, abs=0
    )
    assert mvn_kl([2.0], [[9.0]], [-1.0], [[0.64]]) == pytest.approx(
        gaussian_kl(2.0, 3.0, -1.0, 0.8), rel=1e-14, abs=0
    )


def test_mvn_kl_diagonal_is_a_sum_of_univariate_kls():
    """Independent coordinates: the divergence adds up."""
    mu_p, sd_p = np.array([0.0, 1.0, -2.0]), np.array([1.0, 0.5, 2.0])
    mu_q, sd_q = np.array([0.5, 0.0, -1.0]), np.array([2.0, 0.7, 1.0])
    expected = gaussian_kl(mu_p, sd_p, mu_q, sd_q).sum()
    assert mvn_kl(mu_p, np.diag(sd_p**2), mu_q, np.diag(sd_q**2)) == pytest.approx(
        expected, rel=1e-14, abs=0
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cov_p": [[1.0, 0.5], [0.0, 1.0]]}, r"cov_p is not symmetric"),
        ({"cov_q": [[1.0, 2.0], [2.0, 1.0]]}, r"cov_q is not positive definite"),
        ({"cov_q": [[1.0, 1.0], [1.0, 1.0]]}, r"cov_q is not positive definite"),
        ({"cov_p": np.eye(3)}, r"cov_p must have shape \(2, 2\)"),
        ({"cov_q": [1.0, 1.0]}, r"cov_q must have shape \(2, 2\)"),
        ({"mu_q": [0.0, 0.0, 0.0]}, r"mu_p and mu_q must have the same length"),
        ({"mu_p": [[0.0, 0.0]]}, r"mu_p must be a 1-D mean vector"),
        ({"mu_p": []}, r"mu_p is empty"),
        ({"cov_p": [[1.0, np.nan], [np.nan, 1.0]]}, r"cov_p contains NaN"),
        ({"mu_q": [0.0, np.inf]}, r"mu_q has an infinite entry"),
    ],
)
def test_mvn_kl_errors(kwargs, message):
    """Invalid means and covariances raise ValueError naming the argument."""
    args = {"mu_p": [0.0, 0.0], "cov_p": np.eye(2), "mu_q": [1.0, 0.0], "cov_q": np.eye(2)}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        mvn_kl(**args)


# ---------------------------------------------------------------------------------------
# Closed forms: Bernoulli
# ---------------------------------------------------------------------------------------


def test_bernoulli_kl_reference_value():
    """KL(Bern(0.3) || Bern(0.6)) = 0.183787."""
    assert bernoulli_kl(0.3, 0.6) == pytest.approx(0.183787, rel=1e-5, abs=0)
    assert isinstance(bernoulli_kl(0.3, 0.6), np.float64)


def test_bernoulli_kl_matches_exact_enumeration():
    """Sum over x in {0, 1} of p(x) log(p(x)/q(x)), with math.log, on a grid."""
    grid = [0.0, 0.01, 0.3, 0.5, 0.77, 0.999, 1.0]
    for p in grid:
        for q in grid[1:-1]:
            expected = python_kl([1 - p, p], [1 - q, q])
            assert bernoulli_kl(p, q) == pytest.approx(expected, rel=1e-12, abs=1e-15), (p, q)
            assert bernoulli_kl(p, q) == pytest.approx(
                kl_divergence([1 - p, p], [1 - q, q]), rel=1e-12, abs=0
            )


def test_bernoulli_kl_edge_cases():
    """0 log 0 = 0 and infinities where q excludes an outcome p allows."""
    assert bernoulli_kl(0.0, 0.0) == 0.0
    assert bernoulli_kl(1.0, 1.0) == 0.0
    assert bernoulli_kl(0.0, 0.5) == pytest.approx(math.log(2), rel=1e-12, abs=0)
    assert bernoulli_kl(0.5, 1.0) == math.inf
    assert bernoulli_kl(0.5, 0.0) == math.inf
    assert bernoulli_kl(1.0, 0.0) == math.inf
    out = bernoulli_kl([0.3, 0.1], 0.6)
    assert out.shape == (2,) and out[0] == pytest.approx(0.18378689738681217, rel=1e-12, abs=0)


@pytest.mark.parametrize(
    ("p", "q", "message"),
    [
        (1.5, 0.5, r"p must be a probability in \[0, 1\], got 1\.5"),
        (0.5, -0.1, r"q must be a probability in \[0, 1\], got -0\.1"),
        (0.5, [0.2, 1.2], r"q must be a probability in \[0, 1\], got 1\.2 at index 1"),
        (np.nan, 0.5, r"p contains NaN"),
        ([0.1, 0.2], [0.1, 0.2, 0.3], r"cannot be broadcast together: p \(2,\), q \(3,\)"),
        (None, 0.5, r"p must contain real numbers"),
    ],
)
def test_bernoulli_kl_errors(p, q, message):
    """Out-of-range and malformed probabilities raise ValueError naming the argument."""
    with pytest.raises(ValueError, match=message):
        bernoulli_kl(p, q)


# ---------------------------------------------------------------------------------------
# Closed forms: the VAE term
# ---------------------------------------------------------------------------------------


def test_vae_term_equals_mvn_kl_with_diagonal_covariance():
    """KL(N(mu, diag exp(log_var)) || N(0, I)) two ways, plus a sum of univariate KLs."""
    mu = np.array([0.5, -1.0, 2.0, 0.0])
    log_var = np.array([0.0, -1.0, 0.7, -3.0])
    value = diag_gaussian_kl_to_standard_normal(mu, log_var)
    assert isinstance(value, np.float64)
    expected = mvn_kl(mu, np.diag(np.exp(log_var)), np.zeros(4), np.eye(4))
    assert value == pytest.approx(expected, rel=1e-13, abs=0)
    assert value == pytest.approx(
        gaussian_kl(mu, np.exp(log_var / 2), 0.0, 1.0).sum(), rel=1e-13, abs=0
    )
    textbook = -0.5 * np.sum(1 + log_var - mu**2 - np.exp(log_var))
    assert value == pytest.approx(textbook, rel=1e-13, abs=0)


def test_vae_term_matches_monte_carlo():
    """Seeded Monte Carlo estimate of E_q[log q(z) - log N(z; 0, I)]."""
    rng = np.random.default_rng(17)
    mu = np.array([0.3, -0.8, 1.1])
    log_var = np.array([-0.5, 0.4, -1.2])
    sd = np.exp(log_var / 2)
    z = mu + sd * rng.standard_normal((MC_SAMPLES, 3))
    log_ratio = (stats.norm.logpdf(z, mu, sd) - stats.norm.logpdf(z)).sum(axis=1)
    assert_within_standard_errors(log_ratio, diag_gaussian_kl_to_standard_normal(mu, log_var))


def test_vae_term_batches_and_axis():
    """A batch of encoder outputs gives one KL per row; axis=0 works on the transpose."""
    rng = np.random.default_rng(8)
    mu = rng.standard_normal((5, 3))
    log_var = rng.standard_normal((5, 3))
    rows = [diag_gaussian_kl_to_standard_normal(m, v) for m, v in zip(mu, log_var, strict=True)]
    assert_allclose(diag_gaussian_kl_to_standard_normal(mu, log_var), rows, rtol=1e-14)
    assert_allclose(diag_gaussian_kl_to_standard_normal(mu.T, log_var.T, axis=0), rows, rtol=1e-14)
    assert diag_gaussian_kl_to_standard_normal(np.zeros(3), np.zeros(3)) == 0.0


def test_vae_term_keeps_precision_near_the_prior():
    """With log_var ~ 1e-9 the expm1 form keeps the ~lv^2/2 result that 1 + lv - exp(lv) loses."""
    log_var = np.array([1e-9])
    assert diag_gaussian_kl_to_standard_normal([0.0], log_var) == pytest.approx(
        0.25e-18, rel=1e-6, abs=0
    )


@pytest.mark.parametrize(
    ("mu", "log_var", "message"),
    [
        ([0.0, np.nan], [0.0, 0.0], r"mu contains NaN at index 1"),
        ([0.0, 0.0], [0.0, np.inf], r"log_var has an infinite entry inf at index 1"),
        (
            [0.0, 0.0],
            [0.0, 0.0, 0.0],
            r"mu and log_var have different numbers of latent dimensions",
        ),
        (0.0, 0.0, r"mu is 0-d"),
        ([0.0], 0.0, r"log_var is 0-d"),
        ([], [], r"mu is empty"),
    ],
)
def test_vae_term_errors(mu, log_var, message):
    """Invalid encoder outputs raise ValueError naming the argument."""
    with pytest.raises(ValueError, match=message):
        diag_gaussian_kl_to_standard_normal(mu, log_var)


def test_package_docstring_example_runs():
    """The example in kl_helpers' module docstring is correct (doctest)."""
    result = doctest.testmod(kl_helpers)
    assert result.attempted >= 1
    assert result.failed == 0


TOPIC_FUNCTIONS = [
    getattr(module, name)
    for module in (kl_helpers.monte_carlo, kl_helpers.fitting, kl_helpers.rl,
                   kl_helpers.applications, kl_helpers.interactive)
    for name in module.__all__
    if inspect.isfunction(getattr(module, name))
]


@pytest.mark.parametrize("function", TOPIC_FUNCTIONS,
                         ids=lambda f: f"{f.__module__}.{f.__name__}")
def test_topic_functions_document_args_returns_and_raises(function):
    """The topic submodules follow the core's docstring conventions."""
    doc = inspect.getdoc(function)
    assert doc is not None
    for section in ("Args:", "Returns:", "Raises:"):
        assert section in doc, (function.__name__, section)


def test_submodules_are_reachable_from_the_package():
    """`kl_helpers.rl` and friends work after a plain `import kl_helpers`."""
    for module in kl_helpers.SUBMODULES:
        for name in getattr(module, "__all__", []):
            assert hasattr(module, name), (module.__name__, name)
    assert kl_helpers.check is kl_helpers.selfcheck.check
