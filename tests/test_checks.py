"""kl_helpers.checks: a student function that delegates its exercise is caught."""

from __future__ import annotations

import functools

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


def _reference_helper(p, q):
    return reference_kl(p, q)


def via_helper(p, q):
    return _reference_helper(p, q)


def via_two_helpers(p, q):
    return via_helper(p, q)


_partial_reference = functools.partial(reference_kl)


def via_partial(p, q):
    return _partial_reference(p, q)


def via_default(p, q, _kl=reference_kl):
    return _kl(p, q)


def via_keyword_default(p, q, *, _kl=_reference_helper):
    return _kl(p, q)


def _own_helper(p, q):
    p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
    return p[p > 0] * np.log(p[p > 0] / q[p > 0])


def own_kl_with_helper(p, q):
    return float(np.sum(_own_helper(p, q)))


def recursive_own(p, q, depth=0):
    return own_kl(p, q) if depth else recursive_own(p, q, depth + 1)


def test_own_implementation_passes():
    assert delegated_calls(own_kl, ("rel_entr",)) == []
    assert_own_work(own_kl, forbidden=("rel_entr",))


def test_own_helpers_and_recursion_pass():
    """A student's own helper functions, and recursion, are not delegation."""
    for func in (own_kl_with_helper, recursive_own):
        assert delegated_calls(func, ("rel_entr",)) == []


@pytest.mark.parametrize("func", [reference_kl, via_alias, via_module, via_lambda,
                                  make_closure(), imports_inside, imports_module_inside,
                                  dunder_import, via_helper, via_two_helpers, via_partial,
                                  via_default, via_keyword_default])
def test_reference_delegation_is_caught(func):
    with pytest.raises(DelegationError, match="course's reference"):
        assert_own_work(func)


def test_a_call_hidden_in_a_helper_names_the_helper():
    """The message says which helper leads to the reference, in words."""
    [problem] = delegated_calls(via_two_helpers)
    assert problem == ("through 'via_helper', through '_reference_helper', it calls the "
                       "course's reference kl_helpers.divergences.kl_divergence "
                       "(as 'reference_kl')")
    [problem] = delegated_calls(via_default)
    assert problem.startswith("a default argument is the course's reference")


def test_forbidden_routine_in_a_helper_is_caught():
    """A routine the exercise forbids is found one helper deeper too."""
    def helper(p, q):
        return special.rel_entr(p, q)

    def uses_helper(p, q):
        return float(np.sum(helper(p, q)))

    assert delegated_calls(uses_helper, ("rel_entr",)) == ["through 'helper', it uses rel_entr"]


def test_forbidden_library_routine_is_caught():
    with pytest.raises(DelegationError, match="uses rel_entr") as info:
        assert_own_work(via_rel_entr, forbidden=("rel_entr",))
    assert "via_rel_entr must compute the answer itself" in str(info.value)
    assert delegated_calls(via_rel_entr) == []  # allowed unless the exercise forbids it


def test_delegation_error_fails_a_test_cell_like_an_assertion():
    assert issubclass(DelegationError, AssertionError)
