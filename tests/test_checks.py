"""kl_helpers.checks: delegation is found by identity, never by the spelling of a name.

Each honest function below is correct work that an earlier, name-based check accused of
delegating (issue: honest students never lose a point); each delegating one hands the
exercise to a forbidden routine under some disguise and must still be caught.
"""

from __future__ import annotations

import functools
import importlib
import math

import numpy as np
import pytest
from scipy import special, stats

import kl_helpers
from kl_helpers import checks
from kl_helpers import kl_divergence as reference_kl
from kl_helpers.checks import (
    CallWatch,
    DelegationError,
    assert_own_work,
    delegations,
    resolve_forbidden,
)

FORBIDDEN = ("scipy.special.rel_entr", "scipy.special.kl_div", "scipy.stats.entropy")
P, Q = [0.4, 0.3, 0.2, 0.1], [0.3, 0.3, 0.3, 0.1]


# -- honest work ------------------------------------------------------------------------------
def own_kl(p, q):
    """D(p || q) in nats; nothing from kl_helpers is used (this docstring names it on purpose)."""
    p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
    mask = p > 0
    return float(np.sum(p[mask] * np.log(p[mask] / q[mask])))


def entropy(p, base=None):
    """An own helper sharing the reference's name, calling itself for another base."""
    if base is not None:
        return entropy(p) / math.log(base)
    return -sum(x * math.log(x) for x in p if x > 0)


def cross_entropy(p, q):
    return entropy(p) + own_kl(p, q)


def mixture_logpdf(x):
    return -0.5 * x * x


def kl_from_logits(logits_p, logits_q):
    return 0.0


def uses_own_names(x):
    return mixture_logpdf(x) + kl_from_logits([0.0], [0.0]) + cross_entropy([1.0], [1.0])


def gaussian_entropy_by_attribute(sigma):
    # scipy.stats.norm.entropy is a method of a distribution, not scipy.stats.entropy
    return float(stats.norm.entropy(scale=sigma))


def comprehension_local(p, q):
    cross_entropy = np.array([1.0, 2.0])  # a local array named like a reference routine
    return [value * 2 for value in cross_entropy] + [own_kl(p, q)]


def string_mentions():
    note = "computed without kl_helpers or scipy.special.rel_entr"
    return len(note)


def uses_allowed_xlogy(p, q):
    p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
    return float(np.sum(special.xlogy(p, p) - special.xlogy(p, q)))


def recursive_own(p, q, depth=0):
    return own_kl(p, q) if depth else recursive_own(p, q, depth + 1)


class InvalidDistributionError(ValueError):
    pass


def validating_kl(p, q):
    if min(p) < 0:
        raise InvalidDistributionError("p has a negative entry")
    return own_kl(p, q)


HONEST = [own_kl, entropy, cross_entropy, uses_own_names, gaussian_entropy_by_attribute,
          comprehension_local, string_mentions, uses_allowed_xlogy, recursive_own,
          validating_kl]


@pytest.mark.parametrize("func", HONEST, ids=lambda f: f.__name__)
def test_honest_work_is_never_evidence(func):
    assert delegations(func, FORBIDDEN) == []
    assert_own_work(func, forbidden=FORBIDDEN)


# -- delegation in disguise -------------------------------------------------------------------
def via_alias(p, q):
    return reference_kl(p, q)


def via_package(p, q):
    return kl_helpers.kl_divergence(p, q)


def via_lambda(p, q):
    inner = lambda: reference_kl(p, q)  # noqa: E731 -- hiding the call in a nested function
    return inner()


def imports_inside(p, q):
    from kl_helpers import kl_divergence as k

    return k(p, q)


def imports_module_inside(p, q):
    import kl_helpers as kh

    return kh.kl_divergence(p, q)


def imports_submodule_inside(p, q):
    import scipy.special

    return float(np.sum(scipy.special.rel_entr(p, q)))


def imports_submodule_as(p, q):
    import scipy.special as sp

    return float(np.sum(sp.rel_entr(p, q)))


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
_partial_rel_entr = functools.partial(special.rel_entr)


def via_partial(p, q):
    return _partial_reference(p, q)


def via_partial_ufunc(p, q):
    return float(np.sum(_partial_rel_entr(p, q)))


def via_default(p, q, _kl=reference_kl):
    return _kl(p, q)


def via_keyword_default(p, q, *, _kl=_reference_helper):
    return _kl(p, q)


def via_rel_entr(p, q):
    return float(np.sum(special.rel_entr(p, q)))


def via_renamed_ufunc(p, q):
    return float(np.sum(my_own_terms(p, q)))


my_own_terms = special.rel_entr  # an innocent-looking name for a forbidden routine
TOOLS = {"terms": special.kl_div}


def via_container(p, q):
    return float(np.sum(TOOLS["terms"](p, q)))


def via_stats_entropy(p, q):
    return float(stats.entropy(p, q))


class Solver:
    def run(self, p, q):
        return reference_kl(p, q)


SOLVER = Solver()


def via_method(p, q):
    return SOLVER.run(p, q)


DELEGATING = [reference_kl, via_alias, via_package, via_lambda, make_closure(), imports_inside,
              imports_module_inside, imports_submodule_inside, imports_submodule_as, via_helper,
              via_two_helpers, via_partial, via_partial_ufunc, via_default, via_keyword_default,
              via_rel_entr, via_renamed_ufunc, via_container, via_stats_entropy, via_method]


@pytest.mark.parametrize("func", DELEGATING, ids=lambda f: f.__name__)
def test_delegation_in_disguise_is_caught(func):
    with pytest.raises(DelegationError, match="must compute the answer itself"):
        assert_own_work(func, forbidden=FORBIDDEN)


def test_the_message_names_the_routine_and_the_route():
    """The message says which routine was reached, under what name, through which helper."""
    assert delegations(via_two_helpers) == [
        "through your function 'via_helper', through your function '_reference_helper', it calls "
        "the course's reference kl_helpers.divergences.kl_divergence (as 'reference_kl')"]
    assert delegations(via_renamed_ufunc, FORBIDDEN) == [
        "it calls scipy.special.rel_entr (as 'my_own_terms')"]
    assert delegations(imports_submodule_as, FORBIDDEN) == [
        "it calls scipy.special.rel_entr (as 'sp.rel_entr')"]
    [problem] = delegations(via_default)
    assert problem.endswith("(a default argument)")


def test_library_routines_are_allowed_unless_the_exercise_forbids_them():
    assert delegations(via_rel_entr) == []
    assert delegations(via_rel_entr, ("scipy.special.kl_div",)) == []
    assert delegations(via_rel_entr, ("scipy.special.rel_entr",)) != []


def test_a_forbidden_name_must_be_a_real_dotted_name():
    with pytest.raises(ValueError, match="full dotted name"):
        assert_own_work(own_kl, forbidden=("rel_entr",))
    with pytest.raises(ValueError, match="does not exist"):
        resolve_forbidden(("scipy.special.no_such_routine",))
    assert [name for _, name in resolve_forbidden(FORBIDDEN).values()] == list(FORBIDDEN)


# -- watching the call ------------------------------------------------------------------------
def via_strings(p, q):
    module = importlib.import_module("kl_" + "helpers")
    return getattr(module, "kl_" + "divergence")(p, q)


def via_dunder_import(p, q):
    return __import__("kl_helpers").kl_divergence(p, q)


def via_string_helper(p, q):
    return via_strings(p, q)


@pytest.mark.parametrize("func", [via_strings, via_dunder_import, via_string_helper],
                         ids=lambda f: f.__name__)
def test_calls_built_from_strings_are_seen_when_the_function_runs(func):
    """Reading the code cannot resolve strings; watching the call sees the reference run."""
    assert delegations(func, FORBIDDEN) == []
    expected = reference_kl(P, Q)
    with CallWatch(FORBIDDEN, globals()) as watch:
        value = func(P, Q)
    assert value == pytest.approx(expected)
    [found] = watch.found
    assert found.endswith("called the course's reference kl_helpers.divergences.kl_divergence")
    assert "'via_strings'" in found or "'via_dunder_import'" in found


def test_a_forbidden_python_routine_is_seen_through_its_decorator():
    """scipy.stats.entropy is wrapped by a decorator shared with other routines."""
    with CallWatch(FORBIDDEN, globals()) as watch:
        via_stats_entropy(P, Q)
    assert list(watch.found) == [
        "while the tests ran, your function 'via_stats_entropy' called scipy.stats.entropy"]


def test_calls_made_inside_allowed_library_routines_are_not_the_students():
    """Only direct calls from the student's code count: scipy's internals are its own."""
    samples = np.random.default_rng(0).normal(size=50)

    def honest(p, q):
        stats.differential_entropy(samples)  # decorated like scipy.stats.entropy
        return uses_allowed_xlogy(p, q) + own_kl(p, q)

    with CallWatch(("scipy.stats.entropy", "scipy.special.logsumexp"), globals()) as watch:
        honest(P, Q)
        stats.norm.logpdf(0.5)
    assert list(watch.found) == []


def test_the_watch_refuses_a_replaced_settrace(monkeypatch):
    import sys

    monkeypatch.setattr(sys, "settrace", lambda func: None)
    with pytest.raises(DelegationError, match="settrace was replaced"):
        with CallWatch(FORBIDDEN, globals()):
            pass


def test_the_checks_module_runs_from_its_source_alone():
    """The grader runs a private copy of the module in the kernel, from its source text."""
    import inspect

    namespace = {"__name__": "private_copy"}
    exec(compile(inspect.getsource(checks), "<copy>", "exec"), namespace)
    assert namespace["delegations"](via_rel_entr, FORBIDDEN) == [
        "it calls scipy.special.rel_entr (as 'special.rel_entr')"]
    assert namespace["delegations"](own_kl, FORBIDDEN) == []


def test_delegation_error_fails_a_test_cell_like_an_assertion():
    assert issubclass(DelegationError, AssertionError)
