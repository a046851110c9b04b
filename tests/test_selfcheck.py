"""Tests for kl_helpers.selfcheck: each misconception is fed in and named in the message."""

from __future__ import annotations

import inspect
import json
import math
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest

from kl_helpers import divergences
from kl_helpers.checks import RemoteCallable
from kl_helpers.selfcheck import EXERCISES, CheckResult, SelfCheckFailed, check

REPO = Path(__file__).resolve().parents[1]
_P, _Q = [0.6, 0.25, 0.15], [0.2, 0.5, 0.3]  # the check's "typical pair" case
# the exercises of this module, whose references are kl_helpers.divergences' routines (the
# other notebooks' exercises have test modules of their own)
DIVERGENCE_EXERCISES = sorted(name for name, exercise in EXERCISES.items()
                              if getattr(divergences, name, None) is exercise.reference)


def named(name):
    """Decorator: give a test implementation the exercise's function name."""
    def rename(func):
        func.__name__ = func.__qualname__ = name
        return func
    return rename


def failure(func, **options) -> str:
    with pytest.raises(SelfCheckFailed) as info:
        check(func, **options)
    assert isinstance(info.value, AssertionError)
    assert not info.value.result
    return str(info.value)


def assert_shows_case(message, call, expected, received):
    """The message shows the inputs tried, the expected and the received value."""
    assert f"tried:    {call}" in message
    assert f"expected: {expected}" in message
    assert f"received: {received}" in message


# -- correct implementations pass ---------------------------------------------------------


@named("kl_divergence")
def good_kl(p, q):  # the notebook 01 model answer
    p = np.asarray(p, dtype=float)
    q = np.asarray(q, dtype=float)
    support = p > 0
    if np.any(q[support] == 0):
        return math.inf
    with np.errstate(invalid="ignore"):  # the negative-entry case of features="all"
        return float(np.sum(p[support] * (np.log(p[support]) - np.log(q[support]))))


def test_a_correct_implementation_passes(capsys):
    result = check(good_kl)
    assert isinstance(result, CheckResult) and result and result.passed
    assert len(result.cases) == 4  # core (2) + zeros (2) for notebook 01
    out = capsys.readouterr().out
    assert "kl_divergence passed all 4 self-check cases" in out
    assert "<CheckResult kl_divergence: 4 of 4 cases passed>" == repr(result)


@pytest.mark.parametrize("name", DIVERGENCE_EXERCISES)
def test_the_reference_passes_every_feature(name, capsys):
    reference = EXERCISES[name].reference
    assert reference is getattr(divergences, name)
    result = check(reference, features="all")
    assert result.passed
    assert set(result.features) == set(EXERCISES[name].features)


@pytest.mark.parametrize("name", DIVERGENCE_EXERCISES)
def test_a_check_makes_few_calls(name, capsys):
    calls = []
    reference = EXERCISES[name].reference

    def counting(*args, **kwargs):
        calls.append(args)
        return reference(*args, **kwargs)

    check(counting, exercise=name, features="all")
    assert 1 <= len(calls) <= 12


# -- one test per misconception: kl_divergence ----------------------------------------------


def test_swapped_arguments():
    @named("kl_divergence")
    def swapped(p, q):
        return good_kl(q, p)

    message = failure(swapped)
    assert "computes D(Q || P) instead of D(P || Q)" in message
    assert_shows_case(message, "kl_divergence([0.6, 0.25, 0.15], [0.2, 0.5, 0.3])",
                      repr(float(divergences.kl_divergence([0.6, 0.25, 0.15],
                                                           [0.2, 0.5, 0.3]))),
                      repr(good_kl([0.2, 0.5, 0.3], [0.6, 0.25, 0.15])))
    # later cases with the same mistake point back to the first explanation
    assert "the same mistake as in 1." in message


def test_log_base_2_instead_of_e():
    @named("kl_divergence")
    def bits(p, q):
        return good_kl(p, q) / math.log(2)

    message = failure(bits)
    assert "in bits (log base 2), not in nats" in message
    assert "np.log2" in message
    assert_shows_case(message, "kl_divergence([0.6, 0.25, 0.15], [0.2, 0.5, 0.3])",
                      "0.38190850097688755", repr(good_kl(_P, _Q) / math.log(2)))


def test_zero_times_log_zero_gives_nan():
    @named("kl_divergence")
    def naive(p, q):
        p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
        with np.errstate(all="ignore"):
            return float(np.sum(p * np.log(p / q)))

    message = failure(naive)
    assert "1 of 4 self-check cases" in message
    assert "an outcome with p_i = 0 gave NaN" in message
    assert "0 * log(0)" in message
    assert_shows_case(message, "kl_divergence([0.7, 0.0, 0.0, 0.3], [0.4, 0.2, 0.0, 0.4])",
                      repr(float(divergences.kl_divergence([0.7, 0, 0, 0.3],
                                                           [0.4, 0.2, 0, 0.4]))), "nan")


def test_q_zero_below_p_not_giving_inf_epsilon():
    @named("kl_divergence")
    def clipped(p, q):
        p, q = np.asarray(p, dtype=float), np.clip(np.asarray(q, dtype=float), 1e-12, None)
        support = p > 0
        return float(np.sum(p[support] * np.log(p[support] / q[support])))

    message = failure(clipped)
    assert "q_i = 0 < p_i must give +inf" in message
    assert "clipped by a small epsilon" in message
    assert_shows_case(message, "kl_divergence([0.5, 0.3, 0.2], [0.6, 0.4, 0.0])", "inf",
                      repr(clipped([0.5, 0.3, 0.2], [0.6, 0.4, 0.0])))


def test_q_zero_below_p_skipped():
    @named("kl_divergence")
    def skipping(p, q):
        p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
        keep = (p > 0) & (q > 0)
        return float(np.sum(p[keep] * np.log(p[keep] / q[keep])))

    message = failure(skipping)
    assert "skips the outcomes where q_i = 0" in message
    assert "received: inf" not in message
    assert "expected: inf" in message


def test_inf_whenever_q_has_a_zero():
    @named("kl_divergence")
    def any_zero(p, q):
        if 0 in list(q):
            return math.inf
        return good_kl(p, q)

    message = failure(any_zero)
    assert "only q_i = 0 < p_i makes the divergence infinite" in message
    assert "received: inf" in message


def test_wrong_sign():
    @named("kl_divergence")
    def negative(p, q):
        return -good_kl(p, q)

    message = failure(negative)
    assert "wrong sign" in message and "log(q / p)" in message
    assert f"received: {-good_kl(_P, _Q)!r}" in message


def test_unnormalised_input_accepted_silently():
    @named("kl_divergence")
    def no_validation(p, q, base=None, axis=-1):
        return divergences.pointwise_terms(p, q, axis=axis, require_normalized=False,
                                           base=base).sum(axis=axis)

    message = failure(no_validation, features=("validation",))
    assert "accepted an input that does not sum to 1 without complaint" in message
    assert "must raise ValueError" in message
    assert "tried:    kl_divergence([0.3, 0.5, 0.4], [0.2, 0.5, 0.3])" in message
    assert "expected: ValueError raised" in message
    assert "(no exception)" in message


def test_unnormalised_input_renormalised_silently():
    @named("kl_divergence")
    def renormalising(p, q):
        p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
        if p.shape != q.shape or (p < 0).any():
            raise ValueError("bad input")
        return good_kl(p / p.sum(), q / q.sum())

    message = failure(renormalising, features=("zeros", "validation"))
    assert "1 of 7 self-check cases" in message
    assert "renormalised an input that does not sum to 1" in message
    assert "expected: ValueError raised" in message


def test_negative_entry_and_mismatched_shapes_accepted():
    @named("kl_divergence")
    def lax(p, q):
        p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
        if abs(p.sum() - 1) > 1e-6:
            raise ValueError("p does not sum to 1")
        n = min(p.size, q.size)
        with np.errstate(all="ignore"):
            return float(np.nansum(p[:n] * np.log(p[:n] / q[:n])))

    message = failure(lax, features=("validation",))
    assert "accepted a negative probability" in message
    assert "accepted two inputs with different numbers of outcomes" in message


def test_wrong_exception_type():
    @named("kl_divergence")
    def index_error(p, q):
        p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
        if abs(p.sum() - 1) > 1e-6 or (p < 0).any():
            raise ValueError("p is not a distribution")
        return float(sum(p[i] * math.log(p[i] / q[i]) for i in range(q.size)))

    message = failure(index_error, features=("validation",))
    assert "raised IndexError, but the exercise asks for ValueError" in message
    assert "received: IndexError: index 2 is out of bounds" in message


def test_scalar_instead_of_one_value_per_row():
    @named("kl_divergence")
    def flat(p, q, axis=-1):
        return good_kl(np.ravel(p), np.ravel(q))

    message = failure(flat, features=("axis",))
    assert "one number for the whole batch" in message
    assert "tried:    kl_divergence([[0.6, 0.25, 0.15], [0.1, 0.2, 0.7]]" in message
    assert re.search(r"expected: \[0\.38\d+, 0\.20\d+\]", message)


def test_axis_argument_ignored():
    @named("kl_divergence")
    def last_axis_only(p, q, axis=-1):
        return divergences.pointwise_terms(p, q, require_normalized=False).sum(axis=-1)

    message = failure(last_axis_only, features=("axis",))
    assert "ignore the `axis` argument" in message
    assert "axis=0)" in message
    assert "shape (3,), the expected one (2,)" in message


def test_missing_axis_parameter():
    message = failure(good_kl, features=("axis",))
    assert "has no `axis` parameter, which this exercise requires" in message
    assert "unexpected keyword argument 'axis'" in message  # the student's own error


def test_base_ignored():
    @named("kl_divergence")
    def nats_only(p, q, base=None):
        return good_kl(p, q)

    message = failure(nats_only, features=("base",))
    assert "ignores `base`" in message and "ln(base)" in message
    assert "tried:    kl_divergence([0.6, 0.25, 0.15], [0.2, 0.5, 0.3], base=2)" in message


def test_base_multiplied_instead_of_divided():
    @named("kl_divergence")
    def times(p, q, base=None):
        return good_kl(p, q) * (math.log(base) if base else 1.0)

    message = failure(times, features=("base",))
    assert "multiplied by ln(base) instead of dividing" in message


def test_no_known_misconception_still_shows_the_values():
    @named("kl_divergence")
    def off_by_one(p, q):
        return good_kl(p, q) + 1.0

    message = failure(off_by_one)
    assert "no known misconception matches" in message
    assert_shows_case(message, "kl_divergence([0.6, 0.25, 0.15], [0.2, 0.5, 0.3])",
                      "0.38190850097688755", repr(good_kl(_P, _Q) + 1.0))


# -- other exercises ------------------------------------------------------------------------


def test_nan_from_large_logits():
    @named("kl_from_logits")
    def naive_softmax(logits_p, logits_q):
        with np.errstate(all="ignore"):
            p = np.exp(logits_p) / np.sum(np.exp(logits_p))
            q = np.exp(logits_q) / np.sum(np.exp(logits_q))
            return float(np.sum(p * np.log(p / q)))

    message = failure(naive_softmax)
    assert "large logits gave NaN" in message
    assert "Subtract the largest logit" in message
    assert_shows_case(message, "kl_from_logits([900.0, 0.0, -900.0], [0.0, 0.0, 0.0])",
                      repr(math.log(3.0)), "nan")


def test_inf_from_underflowing_softmax():
    @named("kl_from_logits")
    def log_of_softmax(logits_p, logits_q):
        def softmax(z):
            e = np.exp(np.asarray(z, dtype=float) - np.max(z))
            return e / e.sum()
        p, q = softmax(logits_p), softmax(logits_q)
        with np.errstate(all="ignore"):
            return float(np.sum(np.where(p > 0, p * np.log(p / q), 0.0)))

    message = failure(log_of_softmax)
    assert "1 of 4 self-check cases" in message
    assert "softmax(q) exactly 0" in message and "logsumexp" in message


def test_logits_swapped():
    @named("kl_from_logits")
    def swapped(logits_p, logits_q):
        return divergences.kl_from_logits(logits_q, logits_p)

    message = failure(swapped)
    assert "computes D(Q || P) instead of D(P || Q)" in message


def test_entropy_sign_lost():
    @named("entropy")
    def entropy(p):
        p = np.asarray(p, dtype=float)
        return float(np.sum(p[p > 0] * np.log(p[p > 0])))

    message = failure(entropy)
    assert "H(p) = -sum_i p_i log p_i is never negative" in message


def test_cross_entropy_computes_the_divergence():
    @named("cross_entropy")
    def cross_entropy(p, q):
        return good_kl(p, q)

    message = failure(cross_entropy)
    assert "computes the KL divergence D(P || Q), not the cross-entropy" in message


# -- stubs, student errors and odd results --------------------------------------------------


def test_stub_is_not_implemented_yet():
    calls = []

    @named("kl_divergence")
    def stub(p, q):
        calls.append(1)
        raise NotImplementedError()

    message = failure(stub)
    assert "kl_divergence is not implemented yet" in message
    assert "raise NotImplementedError()" in message
    assert len(calls) == 1  # one call is enough to tell


def test_student_exception_is_reported_with_its_message():
    @named("kl_divergence")
    def grumpy(p, q):
        raise ValueError("p and q look odd to me")

    message = failure(grumpy)
    assert "received: ValueError: p and q look odd to me" in message
    assert "raised an exception on a valid input" in message


@pytest.mark.parametrize("value, shown", [
    ("0.38", "'0.38'"), (None, "None"), (True, "True"), ({"kl": 0.38}, "a dict object")])
def test_a_result_that_is_not_a_number(value, shown):
    @named("kl_divergence")
    def odd(p, q):
        return value

    message = failure(odd)
    assert f"your function returned {shown}, not a number" in message


def test_an_object_that_equals_everything_fails_clearly():
    class Anything(float):
        def __eq__(self, other):
            return True

        def __ne__(self, other):
            return False

        __hash__ = float.__hash__

        def __float__(self):
            return float("nan")

    @named("kl_divergence")
    def cheat(p, q):
        return Anything(0.0)

    message = failure(cheat)
    assert "your function returned a Anything object, not a number" in message


def test_a_length_one_array_is_not_a_number():
    @named("kl_divergence")
    def boxed(p, q):
        return np.array([good_kl(p, q)])

    message = failure(boxed)
    assert "shape (1,), the expected one ()" in message


def test_raise_on_failure_false_prints_and_returns_a_falsy_result(capsys):
    @named("kl_divergence")
    def bits(p, q):
        return good_kl(p, q) / math.log(2)

    result = check(bits, raise_on_failure=False)
    assert not result and len(result.failures) == 2
    assert "log base 2" in capsys.readouterr().out


def test_unknown_exercise_or_feature():
    with pytest.raises(ValueError, match="no self-check for 'my_kl'"):
        check(named("my_kl")(lambda p, q: 0.0))
    with pytest.raises(ValueError, match="no self-check for 'nope'"):
        check(good_kl, exercise="nope")
    with pytest.raises(ValueError, match="unknown feature"):
        check(good_kl, features=("zeros", "speed"))


def test_inputs_are_not_shared_with_the_student():
    @named("kl_divergence")
    def vandal(p, q):
        value = good_kl(p, q)
        np.asarray(p)[...] = 0.0  # edits its argument in place
        return value

    assert check(vandal, features=("zeros",))
    assert check(good_kl)  # the cases are unchanged


# -- what the messages never show -----------------------------------------------------------


def _hidden_lists_of_notebook_01() -> list[str]:
    nb = nbformat.read(REPO / "solutions/01_definition/01_definition.ipynb", as_version=4)
    hidden = []
    for cell in nb.cells:
        for block in re.findall(r"BEGIN HIDDEN TESTS(.*?)END HIDDEN TESTS", cell.source, re.S):
            hidden += re.findall(r"\[[-0-9., ]+\]", block)
            hidden += re.findall(r"default_rng\((\d+)\)", block)
    return hidden


def test_messages_never_show_hidden_test_inputs_or_reference_code():
    hidden = _hidden_lists_of_notebook_01()
    assert "[0.0, 0.2, 0.0, 0.8]" in hidden and "1951" in hidden

    def wrongs():
        yield named("kl_divergence")(lambda p, q: good_kl(q, p))
        yield named("kl_divergence")(lambda p, q: good_kl(p, q) / math.log(2))
        yield named("kl_divergence")(lambda p, q: -good_kl(p, q))
        yield named("kl_divergence")(lambda p, q: float("nan"))
        yield named("kl_divergence")(lambda p, q: 1.0)

    for wrong in wrongs():
        message = failure(wrong, features="all")
        for secret in hidden:
            assert secret not in message
        assert "def " not in message and "_relative_entropy" not in message


# -- through the grader's proxy -------------------------------------------------------------


class FakeRemote(RemoteCallable):
    """The grader's RemoteFunction without a kernel: the real kernel side, the same codec."""

    def __init__(self, func, name: str) -> None:
        from autograder import trusted
        from kl_helpers import checks

        self._trusted = trusted
        notebook: dict = {}
        exec(trusted.kernel_preamble(), notebook)  # installs the kernel side as the grader does
        self._kernel = notebook["__kl_grader"]
        self._kernel["install"]({name: func}, inspect.getsource(checks))
        self.__name__, self.calls = name, 0

    def __call__(self, *args, **kwargs):
        trusted = self._trusted
        self.calls += 1
        payload = json.dumps(trusted.encode([list(args), kwargs]))
        reply = self._kernel["answer"]({"id": 1, "op": "call",
                                        "args": [self.__name__, payload, None]})
        outcome = json.loads(json.dumps(reply["outcome"]))  # as jupyter carries it
        result = trusted._outcome_value(outcome, f"{self.__name__}(...)")
        if isinstance(result, trusted.Reference):
            raise trusted.StudentCodeError(f"{self.__name__} returned a {result.kind}")
        return result


def test_through_the_proxy_a_correct_function_passes(capsys):
    # .tolist(): the kernel codec sends np.float64(inf) as "np.float64(inf)", which the
    # grader rejects (reported to the lead); plain floats go through
    remote = FakeRemote(lambda *a, **k: np.asarray(divergences.kl_divergence(*a, **k)).tolist(),
                        "kl_divergence")
    assert check(remote, features="all")
    assert remote.calls <= 12


def test_through_the_proxy_mistakes_are_explained():
    swapped = FakeRemote(lambda p, q: good_kl(q, p), "kl_divergence")
    assert "computes D(Q || P) instead of D(P || Q)" in failure(swapped)

    def stub(p, q):
        raise NotImplementedError()

    assert "not implemented yet" in failure(FakeRemote(stub, "kl_divergence"))

    def grumpy(p, q):
        raise ValueError("p and q look odd to me")

    message = failure(FakeRemote(grumpy, "kl_divergence"))
    # the proxy's "kl_divergence(...) raised ValueError:" prefix is not repeated
    assert "received: ValueError: p and q look odd to me" in message

    assert "returned '0.38', not a number" in failure(
        FakeRemote(lambda p, q: "0.38", "kl_divergence"))

    class Opaque:
        pass

    message = failure(FakeRemote(lambda p, q: Opaque(), "kl_divergence"))
    assert "received: TypeError: a Opaque cannot be checked" in message
    assert "returned an object that is not a number" in message


def test_through_the_proxy_a_validating_function_passes_validation(capsys):
    remote = FakeRemote(divergences.entropy, "entropy")
    assert check(remote, features=("validation",))


def test_diagnose_names_the_mistake_without_printing(capsys):
    """diagnose() runs the graded function's self-check quietly and returns its verdict."""
    from kl_helpers.selfcheck import diagnose

    @named("kl_divergence")
    def swapped(p, q):
        return divergences.kl_divergence(q, p)

    verdict = diagnose(swapped, "01_definition")
    assert verdict is not None and not verdict
    assert "D(Q || P) instead of D(P || Q)" in verdict.message
    assert diagnose(divergences.kl_divergence, "01_definition")
    assert diagnose(swapped, "no_such_assignment") is None
    assert capsys.readouterr().out == ""


def test_graded_checks_name_known_exercises():
    """register_graded refuses a function without a self-check exercise."""
    from kl_helpers.selfcheck import register_graded

    with pytest.raises(ValueError, match="no self-check exercise"):
        register_graded("01_definition", "no_such_function")


def test_every_graded_function_of_the_course_has_a_self_check():
    """Each function a solution cell defines is registered for the grader and checked in a cell."""
    from kl_helpers.selfcheck import GRADED_CHECKS

    missing = []
    for path in sorted((REPO / "solutions").glob("*/*.ipynb")):
        assignment = path.parent.name
        nb = nbformat.read(path, as_version=4)
        checked = " ".join(c.source for c in nb.cells if c.cell_type == "code"
                           and not c.metadata.get("nbgrader", {}).get("grade"))
        for cell in nb.cells:
            if cell.cell_type != "code" or not cell.metadata.get("nbgrader", {}).get("solution"):
                continue
            for name in re.findall(r"^def (\w+)", cell.source, re.MULTILINE):
                if (assignment, name) not in GRADED_CHECKS:
                    missing.append(f"{assignment}/{name}: not registered")
                if not re.search(rf"\bcheck\(\s*{name}\b", checked):
                    missing.append(f"{assignment}/{name}: no check({name}...) cell")
    assert not missing, missing
