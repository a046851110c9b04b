"""kl_helpers.checks: a student function that delegates its exercise is caught."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

import kl_helpers
from kl_helpers import kl_divergence as reference_kl
from kl_helpers.checks import DelegationError, assert_own_work, delegated_calls


def own_kl(p, q):
    p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
    mask = p > 0
    return float(np.sum(p[mask] * np.log(p[mask] / q[mask])))


def via_alias(p, q):
    return reference_kl(p, q)


def via_module(p, q):
    return kl_helpers.kl_divergence(p, q)


def via_rel_entr(p, q):
    return float(np.sum(special.rel_entr(p, q)))


def via_lambda(p, q):
    inner = lambda: reference_kl(p, q)  # noqa: E731 -- hiding the call in a nested function
    return inner()


def imports_inside(p, q):
    from kl_helpers import kl_divergence as k

    return k(p, q)


def imports_module_inside(p, q):
    import kl_helpers as kh

    return kh.kl_divergence(p, q)


def dunder_import(p, q):
    return __import__("kl_helpers").kl_divergence(p, q)


def make_closure():
    hidden = reference_kl

    def closure_kl(p, q):
        return hidden(p, q)
    return closure_kl


def test_own_implementation_passes():
    assert delegated_calls(own_kl, ("rel_entr",)) == []
    assert_own_work(own_kl, forbidden=("rel_entr",))


@pytest.mark.parametrize("func", [reference_kl, via_alias, via_module, via_lambda,
                                  make_closure(), imports_inside, imports_module_inside,
                                  dunder_import])
def test_reference_delegation_is_caught(func):
    with pytest.raises(DelegationError, match="course's reference"):
        assert_own_work(func)


def test_forbidden_library_routine_is_caught():
    with pytest.raises(DelegationError, match="uses rel_entr") as info:
        assert_own_work(via_rel_entr, forbidden=("rel_entr",))
    assert "via_rel_entr must compute the answer itself" in str(info.value)
    assert delegated_calls(via_rel_entr) == []  # allowed unless the exercise forbids it


def test_delegation_error_fails_a_test_cell_like_an_assertion():
    assert issubclass(DelegationError, AssertionError)
