"""Tests of kl_helpers._validation, the argument checks every module of kl_helpers shares.

For each check: a good value passes (and comes back in the form callers compute with),
and each kind of bad value raises ``ValueError`` with a message that names the argument
and the problem.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from kl_helpers import _validation as v

# ---------------------------------------------------------------------------------------
# Locating offenders
# ---------------------------------------------------------------------------------------


def test_first_offender_gives_location_and_value():
    arr = np.array([[1.0, 2.0], [3.0, -4.0]])
    assert v.first_offender(arr, arr < 0) == (" at index (1, 1)", -4.0)
    assert v.first_offender(np.array([5.0, -1.0]), np.array([False, True])) == (
        " at index 1", -1.0)
    assert v.first_offender(np.array(-2.0), np.array(True)) == ("", -2.0)


def test_reject_where():
    arr = np.array([1.0, -0.5])
    v.reject_where(arr, "kl", np.zeros(2, dtype=bool), ">= 0")
    with pytest.raises(ValueError, match=r"^kl must be >= 0 \(a KL\), got -0\.5 at index 1$"):
        v.reject_where(arr, "kl", arr < 0, ">= 0 (a KL)")


# ---------------------------------------------------------------------------------------
# Scalars
# ---------------------------------------------------------------------------------------


def test_real_scalar_accepts_finite_reals_and_returns_float():
    for good in (0, 2, -1.5, np.float32(0.25), np.int64(3)):
        out = v.real_scalar(good, "mu")
        assert type(out) is float and out == float(good)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, True, "1", None, 1j, [1.0]])
def test_real_scalar_rejects_non_numbers(bad):
    with pytest.raises(ValueError, match=r"^mu must be a finite number, got "):
        v.real_scalar(bad, "mu")


@pytest.mark.parametrize(
    ("kwargs", "bad", "message"),
    [
        ({"low": 0.0}, -1.0, r"^x must be a finite number >= 0, got -1\.0$"),
        ({"low": 0.0, "low_open": True}, 0.0, r"^x must be a finite number > 0, got 0\.0$"),
        ({"high": 1.0}, 2.0, r"^x must be a finite number <= 1, got 2\.0$"),
        ({"high": 1.0, "high_open": True}, 1.0, r"^x must be a finite number < 1, got 1\.0$"),
        ({"low": 0.0, "high": 1.0}, 1.5, r"^x must lie in \[0, 1\], got 1\.5$"),
        ({"low": 0.0, "high": 1.0, "low_open": True}, 0.0, r"^x must lie in \(0, 1\]"),
        ({"low": 0.0, "high": 1.0}, math.nan, r"^x must be a finite number in \[0, 1\]"),
    ],
)
def test_real_scalar_bounds(kwargs, bad, message):
    with pytest.raises(ValueError, match=message):
        v.real_scalar(bad, "x", **kwargs)


def test_real_scalar_bounds_are_inclusive_unless_open():
    assert v.real_scalar(0.0, "x", low=0.0) == 0.0
    assert v.real_scalar(1, "x", low=0.0, high=1.0) == 1.0


def test_positive_scalar():
    assert v.positive_scalar(2, "temperature") == 2.0
    for bad in (0.0, -1.0, math.inf, "2", True):
        with pytest.raises(ValueError, match=r"^temperature must be a finite number > 0, got "):
            v.positive_scalar(bad, "temperature")


def test_nonnegative_scalar():
    assert v.nonnegative_scalar(0, "beta") == 0.0
    for bad in (-0.1, math.nan, None, False):
        with pytest.raises(ValueError, match=r"^beta must be a finite number >= 0, got "):
            v.nonnegative_scalar(bad, "beta")


def test_unit_fraction():
    assert v.unit_fraction(0.2, "epsilon") == 0.2
    for bad in (0.0, 1.0, -0.5, 1.5):
        with pytest.raises(ValueError, match=r"^epsilon must lie in \(0, 1\), got "):
            v.unit_fraction(bad, "epsilon")
    with pytest.raises(ValueError, match=r"^epsilon must be a finite number in \(0, 1\)"):
        v.unit_fraction("0.2", "epsilon")


def test_integer_at_least():
    out = v.integer_at_least(np.int64(4), "points_per_sigma", 4)
    assert type(out) is int and out == 4
    for bad in (3, -1, 4.0, "5", None, True, math.inf):
        with pytest.raises(ValueError, match=r"^points_per_sigma must be an integer >= 4, got "):
            v.integer_at_least(bad, "points_per_sigma", 4)
    with pytest.raises(ValueError, match=r"^n_samples must be an integer >= 2 \(why\), got 1$"):
        v.integer_at_least(1, "n_samples", 2, " (why)")


def test_random_seed():
    assert v.random_seed(0) == 0 and type(v.random_seed(np.int64(7))) is int
    for bad in (-1, 1.5, None, False, "0", np.random.default_rng(0)):
        with pytest.raises(ValueError, match=r"^seed must be a non-negative integer"):
            v.random_seed(bad)


def test_log_of_base():
    assert v.log_of_base(None) is None
    assert v.log_of_base(2) == math.log(2)
    for bad in (1, 0, -2.0, math.nan, math.inf, True, "2"):
        with pytest.raises(ValueError, match=r"^base must be a finite number > 0 and != 1"):
            v.log_of_base(bad)


# ---------------------------------------------------------------------------------------
# Arrays of numbers
# ---------------------------------------------------------------------------------------


def test_float_array_returns_a_new_float64_array():
    source = np.array([1, 2], dtype=np.int32)
    out = v.float_array(source, "x")
    assert out.dtype == np.float64 and out.tolist() == [1.0, 2.0]
    out[0] = 9.0
    assert source[0] == 1
    assert v.float_array(3, "x").shape == ()


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("abc", r"^x must contain real numbers, got an array of dtype <U3"),
        (None, r"^x must contain real numbers, got None"),
        ([0.5, None], r"^x must contain real numbers, got None \(NoneType\) at index 1"),
        ([[0.5, 0.5], [1.0]], r"^x must be an array of real numbers"),
        ([1j], r"^x must contain real numbers, got an array of dtype complex128"),
        ([], r"^x is empty \(shape \(0,\)\)"),
        ([1.0, math.nan], r"^x contains NaN at index 1$"),
        ([math.inf], r"^x has an infinite entry inf at index 0$"),
        ([0.0, -math.inf], r"^x has an infinite entry -inf at index 1$"),
    ],
)
def test_float_array_rejects(bad, message):
    with pytest.raises(ValueError, match=message):
        v.float_array(bad, "x")


def test_float_array_allow_neg_inf():
    assert v.float_array([0.0, -math.inf], "logits", allow_neg_inf=True)[1] == -math.inf
    with pytest.raises(ValueError, match=r"^logits has an infinite entry inf .*only -inf"):
        v.float_array([math.inf], "logits", allow_neg_inf=True)


def test_nonnegative_array():
    assert v.nonnegative_array([0.0, 2.0], "p").tolist() == [0.0, 2.0]
    with pytest.raises(ValueError, match=r"^p has a negative entry -1\.0 at index 1; "):
        v.nonnegative_array([0.0, -1.0], "p")
    with pytest.raises(ValueError, match=r"\(2 negative entries in total\)"):
        v.nonnegative_array([-1.0, -2.0], "p")
    with pytest.raises(ValueError, match=r"^p contains NaN"):
        v.nonnegative_array([math.nan], "p")


def test_positive_array():
    assert v.positive_array([0.5, 2.0], "sigma").tolist() == [0.5, 2.0]
    with pytest.raises(ValueError, match=r"^sigma must be > 0 \(a standard deviation\), got 0\.0"):
        v.positive_array(0.0, "sigma")
    with pytest.raises(ValueError, match=r"^ratio must be > 0 \(a ratio\), got -1\.0 at index 1"):
        v.positive_array([1.0, -1.0], "ratio", what="a ratio")
    with pytest.raises(ValueError, match=r"^sigma has an infinite entry"):
        v.positive_array([math.inf], "sigma")


def test_probability_array():
    assert v.probability_array([0.0, 1.0], "p").tolist() == [0.0, 1.0]
    for bad in (1.5, [0.5, -0.1]):
        with pytest.raises(ValueError, match=r"^p must be a probability in \[0, 1\], got "):
            v.probability_array(bad, "p")
    with pytest.raises(ValueError, match=r"^p must contain real numbers"):
        v.probability_array(None, "p")


# ---------------------------------------------------------------------------------------
# Distributions
# ---------------------------------------------------------------------------------------


def test_distribution_accepts_batches_along_axis():
    batch = np.array([[0.5, 0.2], [0.5, 0.8]])
    assert v.distribution(batch, "p", axis=0, atol=1e-6).shape == (2, 2)
    assert v.distribution([0.5, 0.5 + 1e-7], "p", atol=1e-6).shape == (2,)


@pytest.mark.parametrize(
    ("bad", "kwargs", "message"),
    [
        ([0.5, 0.6], {}, r"^p sums to 1\.1 along axis -1, not 1 \(tolerance 1e-06\)"),
        ([[0.5, 0.5], [0.5, 0.7]], {}, r"^p sums to 1\.2 along axis -1 \(batch entry at index 1\)"),
        (0.5, {}, r"^p is a 0-d scalar \(0\.5\), not a distribution"),
        ([1.5, -0.5], {}, r"^p has a negative entry -0\.5 at index 1"),
        (["a"], {}, r"^p must contain real numbers"),
        ([0.5, 0.5], {"axis": 1}, r"^axis 1 is out of range for p"),
        ([0.5, 0.5], {"atol": -1.0}, r"^atol must be a finite number >= 0"),
        ([0.5, 0.5], {"atol": math.nan}, r"^atol must be a finite number >= 0"),
    ],
)
def test_distribution_rejects(bad, kwargs, message):
    with pytest.raises(ValueError, match=message):
        v.distribution(bad, "p", **{"atol": 1e-6, **kwargs})


def test_distribution_pair():
    p_arr, q_arr = v.distribution_pair([0.5, 0.5], [[0.2, 0.8]] * 3, atol=1e-6)
    assert p_arr.shape == (2,) and q_arr.shape == (3, 2)
    # q gets its own tolerance; without normalisation only non-negativity is checked
    v.distribution_pair([0.5, 0.5], [0.5, 0.5 + 1e-7], atol=1e-8, q_atol=1e-6)
    v.distribution_pair([1.0, 2.0], [3.0, 4.0], atol=1e-6, require_normalized=False)


@pytest.mark.parametrize(
    ("p", "q", "kwargs", "message"),
    [
        ([0.5, 0.5], [0.5, 0.6], {}, r"^q sums to 1\.1"),
        ([0.5, 0.5 + 1e-7], [0.5, 0.5], {"atol": 1e-8}, r"^p sums to .*tolerance 1e-08"),
        ([0.5, 0.5], [0.2, 0.3, 0.5], {}, r"^p and q have different numbers of outcomes"),
        ([1.0, -1.0], [1.0, 1.0], {"require_normalized": False}, r"^p has a negative entry"),
        ([[0.5, 0.5]], [0.5, 0.5], {"vectors": True}, r"^p must be 1-D .*shape \(1, 2\)"),
        ([0.5, 0.5], [[0.5, 0.5]], {"vectors": True}, r"^q must be 1-D"),
    ],
)
def test_distribution_pair_rejects(p, q, kwargs, message):
    with pytest.raises(ValueError, match=message):
        v.distribution_pair(p, q, **{"atol": 1e-6, **kwargs})


# ---------------------------------------------------------------------------------------
# Axes and shapes
# ---------------------------------------------------------------------------------------


def test_normalize_axis():
    assert v.normalize_axis(-1, 3, "p") == 2 and v.normalize_axis(np.int64(1), 3, "p") == 1
    with pytest.raises(ValueError, match=r"^axis must be an integer, got 0\.5"):
        v.normalize_axis(0.5, 2, "p")
    with pytest.raises(ValueError, match=r"^axis must be an integer, got True"):
        v.normalize_axis(True, 2, "p")
    with pytest.raises(ValueError, match=r"^p is 0-d \(a scalar\), so it has no axis -1"):
        v.normalize_axis(-1, 0, "p")
    with pytest.raises(ValueError, match=r"^axis 2 is out of range for p, which has 2 dim"):
        v.normalize_axis(2, 2, "p")


def test_one_dimensional():
    arr = np.zeros(3)
    assert v.one_dimensional(arr, "p") is arr
    with pytest.raises(ValueError, match=r"^p must be 1-D \(one probability per outcome\), "
                                         r"got shape \(1, 3\)$"):
        v.one_dimensional(np.zeros((1, 3)), "p")
    with pytest.raises(ValueError, match=r"^rewards must be 1-D \(one per arm\), got shape \(\)"):
        v.one_dimensional(np.zeros(()), "rewards", "one per arm")


def test_check_shape():
    v.check_shape(np.zeros(2), "actions", (2,))
    with pytest.raises(ValueError, match=r"^actions must have shape \(3,\), got shape \(2,\)$"):
        v.check_shape(np.zeros(2), "actions", (3,))
    with pytest.raises(ValueError, match=r"^cov must have shape \(2, 2\) to match, got shape"):
        v.check_shape(np.zeros(2), "cov", (2, 2), " to match")


def test_index_array_accepts_integers_and_whole_floats():
    """Indices come back as int64, from integer lists and arrays or from whole floats."""
    for good in ([0, 2, 1], np.array([0, 2, 1], dtype=np.uint8), [0.0, 2.0, 1.0]):
        indices = v.index_array(good, "actions", 3)
        assert indices.dtype == np.int64 and indices.tolist() == [0, 2, 1]
    assert v.index_array(2, "labels", 3, shape=()).tolist() == 2


@pytest.mark.parametrize("bad, shape, message", [
    ([True, False], None, r"^actions must be integer indices, got dtype bool$"),
    (["0", "1"], None, r"^actions must be integer indices, got dtype <U1$"),
    ([], None, r"^actions must have at least one entry$"),
    ([0, 1], (3,), r"^actions must have shape \(3,\) \(one per row\), got shape \(2,\)$"),
    ([0, 0.5], None, r"^actions must be whole numbers \(indices\), got 0\.5 at index 1$"),
    ([0, np.nan], None, r"^actions must be whole numbers \(indices\), got nan at index 1$"),
    ([0, 3], None, r"^actions must be integers in 0 \.\. 2, got 3 at index 1$"),
    ([[0], [-1]], None, r"^actions must be integers in 0 \.\. 2, got -1 at index \(1, 0\)$"),
])
def test_index_array_rejects(bad, shape, message):
    with pytest.raises(ValueError, match=message):
        v.index_array(bad, "actions", 3, shape=shape, why=" (one per row)")


def test_same_shape():
    v.same_shape({"a": np.zeros(2), "b": np.ones(2), "c": [1, 2]})
    with pytest.raises(ValueError, match=r"^a has shape \(2,\), b has \(3,\); they must have the "
                                         r"same shape$"):
        v.same_shape({"a": np.zeros(2), "b": np.zeros(3)})
    # no broadcasting: (1, 2) and (2,) differ
    with pytest.raises(ValueError, match=r"c has \(2,\); they must have the same shape"):
        v.same_shape({"a": np.zeros((1, 2)), "b": np.zeros((1, 2)), "c": np.zeros(2)})


def test_broadcast_shape():
    assert v.broadcast_shape({"mu": np.zeros((2, 1)), "sigma": np.zeros(3)}) == (2, 3)
    with pytest.raises(ValueError, match=r"^shapes cannot be broadcast together: mu \(2,\), "
                                         r"sigma \(3,\)$"):
        v.broadcast_shape({"mu": np.zeros(2), "sigma": np.zeros(3)})


def test_check_pair():
    v.check_pair(np.zeros(3), np.zeros((4, 3)), -1, ("p", "q"))
    v.check_pair(np.zeros(()), np.zeros(3), -1, ("p", "q"))  # 0-d broadcasts like a scalar
    with pytest.raises(ValueError, match=r"^mu and log_var have different numbers of latent "
                                         r"dimensions along axis -1: mu has 2"):
        v.check_pair(np.zeros(2), np.zeros(3), -1, ("mu", "log_var"), what="latent dimensions")
    with pytest.raises(ValueError, match=r"^p and q have different numbers of outcomes"):
        v.check_pair(np.zeros(3), np.zeros(1), -1, ("p", "q"))  # a size-1 axis is no wildcard
    with pytest.raises(ValueError, match=r"^axis=0 points at different dimensions of p"):
        v.check_pair(np.zeros((2, 3)), np.zeros(3), 0, ("p", "q"))
    with pytest.raises(ValueError, match=r"^p with shape \(2, 3\) and q with shape \(4, 3\) "
                                         r"cannot be broadcast together"):
        v.check_pair(np.zeros((2, 3)), np.zeros((4, 3)), -1, ("p", "q"))
