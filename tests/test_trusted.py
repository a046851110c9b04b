"""The data path between trusted tests and the student's kernel (no kernel needed here)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from autograder.policy import ALLOWED_MODULE_ROOTS
from autograder.trusted import (
    RemoteNamespace,
    StudentCodeError,
    TrustedTestExecute,
    _outcome_value,
    decode,
    encode,
    kernel_preamble,
)


def _kernel_side():
    """The kernel side as the grader installs it: its preamble run in a fresh namespace."""
    notebook: dict = {}
    exec(kernel_preamble(), notebook)
    return notebook["__kl_grader"]


def test_the_preamble_installs_the_same_codec_the_grader_uses():
    """One codec on both sides: the kernel's copy is compiled from the grader's module."""
    from autograder.inside import codec

    kernel = _kernel_side()
    for name in ("encode", "decode"):
        assert kernel[name].__code__.co_filename == "<kl-grader: codec>"
        assert kernel[name].__code__.co_code == getattr(codec, name).__code__.co_code


@pytest.mark.parametrize("value", [
    0.5, -3, True, None, "text", float("inf"), [1.0, [2.0, float("-inf")]],
    np.array([[0.1, 0.2], [0.3, 0.4]]), np.float64(0.25), {"a": 1.0},
])
def test_round_trip_through_both_codecs(value):
    kernel = _kernel_side()
    # trusted -> kernel
    received = kernel["decode"](encode(value))
    # kernel -> trusted
    back = decode(kernel["encode"](received))
    if isinstance(value, np.ndarray):
        assert isinstance(back, np.ndarray) and back.dtype == value.dtype
        np.testing.assert_array_equal(back, value)
    elif isinstance(value, float) and math.isinf(value):
        assert back == value
    else:
        assert back == (value.item() if isinstance(value, np.generic) else value)


def test_nan_survives_as_a_plain_float():
    back = decode(_kernel_side()["encode"](float("nan")))
    assert type(back) is float and math.isnan(back)


@pytest.mark.parametrize("value", [np.float64("inf"), np.float64("-inf"), np.float32("inf"),
                                   np.float64("nan")])
def test_numpy_non_finite_scalars_come_back_as_plain_floats(value):
    # np.sum(...) returns np.float64(inf) when q_i = 0 < p_i: a correct answer
    back = decode(json.loads(json.dumps(_kernel_side()["encode"](value))))
    assert type(back) is float
    assert (math.isnan(back) and math.isnan(value)) or back == float(value)
    assert type(decode(encode(value))) is float


@pytest.mark.parametrize("forged", [
    {"__float__": "1e308*10"}, {"__ndarray__": [1], "dtype": "object"}, {"x": 1},
])
def test_forged_data_is_refused(forged):
    with pytest.raises(StudentCodeError):
        decode(forged)


def test_an_object_claiming_equality_cannot_come_back():
    class Anything(float):
        def __eq__(self, other):
            return True

    encoded = _kernel_side()["encode"](Anything(1.0))
    back = decode(json.loads(json.dumps(encoded)))  # as jupyter's messages carry it
    assert type(back) is float and back != 2.0


def test_only_allowed_modules_are_imported_for_the_tests():
    runner = TrustedTestExecute.__new__(TrustedTestExecute)
    runner.references = {}
    runner.remote = lambda code, what: {"value": {"__module__": "autograded.eve.hw.evil"}}
    with pytest.raises(StudentCodeError, match="cannot use the module"):
        runner.fetch("np")
    assert "numpy" in ALLOWED_MODULE_ROOTS and "os" not in ALLOWED_MODULE_ROOTS


class _FakeRunner:
    """Stands in for the kernel: records which names the test cell fetched."""

    def __init__(self):
        self.fetched = []

    def fetch(self, name):
        self.fetched.append(name)
        if name == "student_square":
            return lambda x: x * x
        raise NameError(f"name {name!r} is not defined in your notebook")


def test_nested_scopes_in_a_test_cell_see_the_students_names():
    runner = _FakeRunner()
    namespace = RemoteNamespace(runner)
    cell = ("squares = [float(student_square(i)) for i in range(4)]\n"
            "later = lambda: student_square(5)\n"
            "def helper():\n"
            "    return student_square(6)\n"
            "total: float = sum(squares) + later() + helper() + abs(-1)\n")
    exec(compile(cell, "<test>", "exec"), namespace)
    assert namespace["squares"] == [0.0, 1.0, 4.0, 9.0]
    assert namespace["total"] == 14.0 + 25 + 36 + 1
    # fetched once, and builtins such as sum and abs never come from the notebook
    assert runner.fetched == ["student_square"]


def test_an_unknown_name_in_a_test_cell_is_a_name_error():
    with pytest.raises(NameError, match="not defined in your notebook"):
        exec("value = [missing_function(i) for i in range(2)]", RemoteNamespace(_FakeRunner()))


class InvalidDistributionError(ValueError):
    """A student's own exception class."""


def _kernel_with(functions: dict):
    """The kernel side with ``functions`` as the notebook's namespace; outcomes captured."""
    import inspect

    from kl_helpers import checks

    kernel = _kernel_side()
    kernel["install"](functions, inspect.getsource(checks))
    outcomes: list = []
    kernel["emit"] = outcomes.append
    return kernel, outcomes


def test_a_students_exception_subclass_is_caught_as_its_builtin_base():
    """``except ValueError`` in a test catches the student's ValueError subclass."""
    def kl_divergence(p, q):
        raise InvalidDistributionError("p has a negative entry")

    kernel, outcomes = _kernel_with({"kl_divergence": kl_divergence})
    kernel["call"]("kl_divergence", json.dumps(encode([[[-1.0, 2.0], [0.5, 0.5]], {}])), None)
    outcome = json.loads(json.dumps(outcomes.pop()))
    with pytest.raises(ValueError, match="raised InvalidDistributionError: p has a negative"):
        _outcome_value(outcome, "kl_divergence(...)")


@pytest.mark.parametrize("raised, expected", [
    (KeyError("k"), KeyError), (ZeroDivisionError(), ArithmeticError),
    (StopIteration(), Exception), (UnicodeDecodeError("utf-8", b"", 0, 1, "x"), ValueError),
])
def test_the_nearest_constructible_builtin_is_raised(raised, expected):
    def student():
        raise raised

    kernel, outcomes = _kernel_with({"student": student})
    kernel["call"]("student", json.dumps(encode([[], {}])), None)
    with pytest.raises(expected) as info:
        _outcome_value(json.loads(json.dumps(outcomes.pop())), "student(...)")
    assert not isinstance(info.value, StopIteration)  # it would end a loop in the test silently


def test_a_watched_call_reports_the_reference_it_ran():
    """Calls built from strings are seen when the watched function runs in the kernel."""
    import importlib

    def kl_divergence(p, q):
        return importlib.import_module("kl_" + "helpers").kl_divergence(p, q)

    kernel, outcomes = _kernel_with({"kl_divergence": kl_divergence})
    payload = json.dumps(encode([[[0.5, 0.5], [0.9, 0.1]], {}]))
    kernel["call"]("kl_divergence", payload, None)  # not watched: no assert_own_work yet
    assert outcomes.pop()["delegations"] == []
    kernel["call"]("kl_divergence", payload, ("scipy.special.rel_entr",))
    outcome = outcomes.pop()
    assert outcome["value"] == pytest.approx(0.5108256238)
    assert outcome["delegations"] == [
        "while the tests ran, your function 'kl_divergence' called the course's reference "
        "kl_helpers.divergences.kl_divergence"]
