"""Self-checks that explain a failure: ``check(kl_divergence)`` in a student's notebook.

``check(func)`` calls the student's function on a few cases chosen to expose the usual
mistakes, compares each answer with the course's reference, and when an answer is wrong
says which misconception it matches: arguments swapped, log base 2 instead of e, the
sign flipped, ``0 * log 0`` giving NaN, a finite value where ``q_i = 0 < p_i`` makes the
divergence infinite, unnormalised input accepted silently, the ``axis`` ignored, NaN from
large logits... Every failure shows the inputs tried, the expected and the received value.

The cases are the check's own (none of them is a graded test's input), and the message
never shows the reference's code.

Usage::

    check(kl_divergence)                       # notebook 01: D(p || q), no base/axis
    check(kl_divergence, features="all")       # notebook 04: also base, axis, ValueError
    check(kl_divergence, features=("zeros", "axis"))
    check(my_function, exercise="kl_from_logits")

On success ``check`` prints a one-line report and returns a truthy `CheckResult`. On
failure it raises `SelfCheckFailed`, an ``AssertionError`` whose message is the
explanation, so a test cell can simply call it; with ``raise_on_failure=False`` it prints
the explanation and returns a falsy `CheckResult` instead.

The student's function may be a plain Python function or the grader's proxy for a
function in the student's kernel (``autograder.trusted.RemoteFunction``): arguments are
plain lists, float arrays and numbers, every result is converted with
``np.asarray(..., dtype=float)`` before it is compared, and exceptions are recognised
by their builtin type. A check makes at most 12 calls.

Exercises, picked by the function's ``__name__`` (or ``exercise=``), with the cases
always checked and the optional features (the default set in brackets):

* ``kl_divergence(p, q)``: a typical pair, D(p || p) = 0; features [zeros], base, axis,
  validation;
* ``kl_from_logits(logits_p, logits_q)``: typical logits, a constant shift, large logits,
  an underflowing softmax; features base, axis, validation;
* ``entropy(p)``: a typical distribution; features [zeros], base, axis, validation;
* ``cross_entropy(p, q)``: a typical pair; features [zeros], base, axis, validation.

What each feature checks:

* ``zeros``: ``0 * log 0 = 0`` (never NaN) and ``p_i > 0 = q_i`` gives ``+inf``;
* ``base``: a keyword ``base=2`` gives bits;
* ``axis``: 2-D input gives one value per row, and ``axis=0`` is honoured;
* ``validation``: ``ValueError`` for unnormalised input, a negative entry (logits: none)
  and inputs with different numbers of outcomes.

``features="all"`` selects every feature of the exercise; new exercises are added to
`EXERCISES`. The other notebooks' exercises live in `kl_helpers.selfcheck_foundations`
(01-03) and `kl_helpers.selfcheck_applications` (05, 06), which register themselves when
this module is imported. An exercise may set its own tolerance (``Exercise.rtol``/``atol``:
integrals, fits), and a case may name a mistake from the value received
(``Case.explain``: an estimate drawn with other random numbers).
"""

from __future__ import annotations

import contextlib
import io
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.special import logsumexp

from . import divergences

__all__ = ["EXERCISES", "GRADED_CHECKS", "CaseResult", "CheckResult", "Exercise", "SelfCheckFailed",
           "check", "diagnose", "register_graded"]

_LN2 = math.log(2.0)
_LN10 = math.log(10.0)
# Relative and absolute tolerance of a match, as strict as the graded tests
_RTOL, _ATOL = 1e-9, 1e-12


class SelfCheckFailed(AssertionError):
    """The student's function gave a wrong answer on a self-check case.

    An ``AssertionError``, so a test cell that calls `check` fails like any failed test.
    ``str(error)`` is the whole explanation; ``error.result`` is the `CheckResult`.
    """

    def __init__(self, result: CheckResult) -> None:
        super().__init__(result.message)
        self.result = result


# ---------------------------------------------------------------------------------------
# Raw formulas for the wrong implementations (no validation: they model student code)
# ---------------------------------------------------------------------------------------


def _arr(x) -> np.ndarray:
    return np.asarray(x, dtype=float)


def _rel_entr(p, q) -> np.ndarray:
    """Elementwise p log(p/q) with 0 log 0 = 0 and p > 0 = q giving inf."""
    p, q = np.broadcast_arrays(_arr(p), _arr(q))
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(np.where(p > 0, p, 1.0)) - np.log(q)), 0.0)
    return np.where((p > 0) & (q <= 0), np.inf, terms)


def _raw_kl(p, q, axis=-1) -> np.ndarray:
    return _rel_entr(p, q).sum(axis=axis)


def _raw_cross_entropy(p, q, axis=-1) -> np.ndarray:
    p, q = np.broadcast_arrays(_arr(p), _arr(q))
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.where(p > 0, p * np.log(q), 0.0).sum(axis=axis)


def _raw_entropy(p, axis=-1) -> np.ndarray:
    return -_rel_entr(p, 1.0).sum(axis=axis)


def _log_softmax(z, axis=-1) -> np.ndarray:
    z = _arr(z)
    return z - logsumexp(z, axis=axis, keepdims=True)


def _raw_kl_logits(zp, zq, axis=-1) -> np.ndarray:
    lp, lq = _log_softmax(zp, axis), _log_softmax(zq, axis)
    with np.errstate(invalid="ignore"):
        return np.where(np.exp(lp) > 0, np.exp(lp) * (lp - lq), 0.0).sum(axis=axis)


# ---------------------------------------------------------------------------------------
# The table: exercises, their cases and the misconceptions each case can reveal
# ---------------------------------------------------------------------------------------

#: A wrong implementation: (explanation in plain words, what it returns for the case's
#: arguments). The function gets the positional arguments and the keyword arguments.
Variant = tuple[str, Callable[..., object]]

_SWAPPED = ("your function computes D(Q || P) instead of D(P || Q): the arguments are used "
            "the wrong way round. In sum_i p_i log(p_i / q_i) the first argument p weights the "
            "terms and sits on top of the ratio")
_LOG2 = ("your result is in bits (log base 2), not in nats: use the natural logarithm np.log, "
         "not np.log2")
_LOG10 = "your result uses log base 10: use the natural logarithm np.log, not np.log10"
_SIGN = ("your result has the wrong sign: it is log(q / p) where the formula has log(p / q) "
         "(or a minus sign too many)")


@dataclass(frozen=True)
class Case:
    """One call of the student's function and what it should give.

    ``args``/``kwargs`` are plain lists, numbers or float arrays (JSON-friendly, so the
    grader's proxy can send them). ``raises`` names the exception expected instead of a
    value. ``variants`` are the case's own wrong implementations, tried before the
    exercise's; ``explain(received)`` names a mistake that no single wrong value stands for
    (an estimate drawn with other random numbers, say) and returns "" when it has nothing to
    say; ``hints`` explain a NaN, an inf, a finite value or a wrong shape that neither
    recognises, and ``on_error`` an exception raised on valid input.
    """

    name: str
    feature: str
    args: tuple
    kwargs: dict = field(default_factory=dict)
    raises: type[Exception] | None = None
    variants: tuple[Variant, ...] = ()
    hints: dict = field(default_factory=dict)
    on_error: str = ""
    explain: Callable[[np.ndarray], str] | None = None


@dataclass(frozen=True)
class Exercise:
    """A self-checked exercise: its reference, argument names, cases and features.

    ``rtol``/``atol``: how close an answer must be to the reference (and to a wrong
    implementation, to be named after it). The default is as strict as the graded tests of
    exact formulas; numerical integrals and fits use their graded tests' tolerances.
    """

    name: str
    reference: Callable
    arg_names: tuple[str, ...]
    cases: tuple[Case, ...]
    default_features: tuple[str, ...]
    variants: tuple[Variant, ...] = ()
    rtol: float = _RTOL
    atol: float = _ATOL

    @property
    def features(self) -> tuple[str, ...]:
        found = []
        for case in self.cases:
            if case.feature != "core" and case.feature not in found:
                found.append(case.feature)
        return tuple(found)


_P = [0.6, 0.25, 0.15]
_Q = [0.2, 0.5, 0.3]
_P2 = [[0.6, 0.25, 0.15], [0.1, 0.2, 0.7]]
_Q2 = [[0.2, 0.5, 0.3], [0.3, 0.3, 0.4]]

def _axis_variants(row_values: Callable[..., np.ndarray]) -> tuple[Variant, ...]:
    return (
        ("your function returned one number for the whole batch (it summed over every entry) "
         "instead of one value per distribution: sum along `axis` only",
         lambda *a, **k: np.sum(row_values(*a))),
        ("your function averaged the per-row values into one number instead of returning one "
         "value per distribution", lambda *a, **k: np.mean(row_values(*a))),
    )


_AXIS_HINTS = {
    "shape": ("your result does not have one value per distribution: with 2-D input the "
              "outcomes run along `axis` (the last one by default), so sum along that axis "
              "only; the result has the input's shape without that axis"),
}
_AXIS0_HINTS = {
    "shape": ("your function seems to ignore the `axis` argument: with axis=0 the outcomes run "
              "down the columns, so the result has one value per column"),
    "value": ("your function seems to ignore the `axis` argument: with axis=0 the outcomes run "
              "down the columns"),
}
_SHAPE_ERROR = ("your function fails on 2-D input: a batch of distributions, one per row, "
                "must give one value per row (work along `axis`)")
_NOT_NORMALISED = ("your function accepted an input that does not sum to 1 without complaint. "
                   "It must raise ValueError (naming the argument) instead of returning a "
                   "number")
_RENORMALISED = ("your function renormalised an input that does not sum to 1 (divided by its "
                 "sum) silently. The exercise asks for a ValueError instead: silent "
                 "renormalising hides bugs in the caller")
_NEGATIVE = ("your function accepted a negative probability without complaint: it must raise "
             "ValueError naming the argument and the negative entry")
_MISMATCH = ("your function accepted two inputs with different numbers of outcomes: it must "
             "raise ValueError saying the shapes differ")


def _pair_batch_and_validation_cases(raw, renormalised=()) -> tuple[Case, ...]:
    """The "axis" and "validation" cases shared by the exercises on a pair (p, q).

    ``raw(p, q)`` is the exercise's formula along the last axis, without validation;
    ``renormalised`` lists the variants that divide p by its sum instead of refusing it.
    """
    return (
        Case("a batch: 2 distributions, one per row", "axis",
             (np.array(_P2), np.array(_Q2)),
             variants=_axis_variants(lambda p, q: raw(p, q)),
             hints=_AXIS_HINTS, on_error=_SHAPE_ERROR),
        Case("a batch along axis=0: 2 distributions, one per column", "axis",
             (np.array(_P2).T, np.array(_Q2).T), {"axis": 0},
             hints=_AXIS0_HINTS, on_error=_SHAPE_ERROR),
        Case("p does not sum to 1 (expect ValueError)", "validation",
             (np.array([0.3, 0.5, 0.4]), np.array(_Q)), raises=ValueError,
             variants=renormalised, hints={"value": _NOT_NORMALISED}),
        Case("p has a negative entry (expect ValueError)", "validation",
             (np.array([0.7, -0.1, 0.4]), np.array(_Q)), raises=ValueError,
             hints={"value": _NEGATIVE}),
        Case("p and q have different numbers of outcomes (expect ValueError)",
             "validation", (np.array([0.5, 0.5]), np.array(_Q)), raises=ValueError,
             hints={"value": _MISMATCH}),
    )


def _kl_exercise() -> Exercise:
    return Exercise(
        name="kl_divergence",
        reference=divergences.kl_divergence,
        arg_names=("p", "q"),
        default_features=("zeros",),
        variants=(
            (_SWAPPED, lambda p, q, axis=-1, **k: _raw_kl(q, p, axis)),
            (_LOG2, lambda p, q, axis=-1, **k: _raw_kl(p, q, axis) / _LN2),
            (_LOG10, lambda p, q, axis=-1, **k: _raw_kl(p, q, axis) / _LN10),
            (_SIGN, lambda p, q, axis=-1, **k: -_raw_kl(p, q, axis)),
            ("your function computes D(Q || P) in bits: the arguments are swapped and the log "
             "is base 2", lambda p, q, axis=-1, **k: _raw_kl(q, p, axis) / _LN2),
            ("your function weights the log-ratio by q instead of p: it computes "
             "sum_i q_i log(p_i / q_i)", lambda p, q, axis=-1, **k: -_raw_kl(q, p, axis)),
            ("your function computes the cross-entropy -sum_i p_i log q_i, not the "
             "divergence: subtract the entropy, i.e. use log(p_i / q_i), not -log q_i",
             lambda p, q, axis=-1, **k: _raw_cross_entropy(p, q, axis)),
            ("your function forgets the weights p_i: it sums log(p_i / q_i) instead of "
             "p_i log(p_i / q_i)",
             lambda p, q, **k: np.sum(np.log(_arr(p) / _arr(q)), axis=-1)),
        ),
        cases=(
            Case("a typical pair of distributions", "core", (_P, _Q)),
            Case("identical distributions (the answer is 0)", "core",
                 (np.array([0.5, 0.3, 0.2]), np.array([0.5, 0.3, 0.2]))),
            Case("outcomes with p_i = 0 (one of them with q_i = 0 too)", "zeros",
                 (np.array([0.7, 0.0, 0.0, 0.3]), np.array([0.4, 0.2, 0.0, 0.4])),
                 hints={
                     "nan": ("an outcome with p_i = 0 gave NaN. In floating point 0 * log(0) "
                             "is 0 * -inf = nan, but by convention such an outcome contributes "
                             "exactly 0. Keep only the outcomes with p_i > 0 (a boolean mask) "
                             "before taking logs"),
                     "inf": ("you returned +inf because some q_i = 0, but there p_i = 0 too: "
                             "an outcome with p_i = 0 contributes 0 whatever q_i is; only "
                             "q_i = 0 < p_i makes the divergence infinite"),
                 }),
            Case("q_i = 0 where p_i > 0 (the answer is +inf)", "zeros",
                 (np.array([0.5, 0.3, 0.2]), np.array([0.6, 0.4, 0.0])),
                 variants=(
                     ("your function skips the outcomes where q_i = 0, but where p_i > 0 such "
                      "an outcome makes D(P || Q) = +inf: Q calls impossible something that P "
                      "allows", lambda p, q, **k: _raw_kl(_arr(p)[:2], _arr(q)[:2])),
                 ),
                 hints={
                     "finite": ("q_i = 0 < p_i must give +inf: Q calls impossible an outcome "
                                "that P allows. A finite answer usually means q was clipped "
                                "by a small epsilon or the outcome was skipped"),
                     "nan": ("q_i = 0 < p_i gave NaN, but it must give +inf (p_i log(p_i / 0) "
                             "= +inf); check for this case before combining terms"),
                 }),
            Case("base=2 (the answer is in bits)", "base", (_P, _Q), {"base": 2},
                 variants=(
                     ("your function ignores `base`: it returned nats where base=2 asks for "
                      "bits. Divide the result in nats by ln(base)",
                      lambda p, q, base=2: _raw_kl(p, q)),
                     ("you multiplied by ln(base) instead of dividing by it: the result in "
                      "base b is the result in nats divided by ln(b)",
                      lambda p, q, base=2: _raw_kl(p, q) * math.log(base)),
                     ("you divided by the base itself instead of by ln(base)",
                      lambda p, q, base=2: _raw_kl(p, q) / base),
                 ),
                 on_error="your function must accept a keyword argument `base`"),
            *_pair_batch_and_validation_cases(
                _raw_kl,
                renormalised=((_RENORMALISED,
                               lambda p, q, **k: _raw_kl(_arr(p) / np.sum(p), q)),)),
        ),
    )


def _entropy_exercise() -> Exercise:
    return Exercise(
        name="entropy",
        reference=divergences.entropy,
        arg_names=("p",),
        default_features=("zeros",),
        variants=(
            (_LOG2.replace("your result", "your entropy"), lambda p, **k: _raw_entropy(p) / _LN2),
            (_LOG10, lambda p, **k: _raw_entropy(p) / _LN10),
            ("your entropy has the wrong sign: H(p) = -sum_i p_i log p_i is never negative "
             "(you lost the minus sign)", lambda p, **k: -_raw_entropy(p)),
            ("your function forgets the weights p_i: it sums -log p_i instead of "
             "-p_i log p_i", lambda p, **k: -np.sum(np.log(_arr(p)), axis=-1)),
        ),
        cases=(
            Case("a typical distribution", "core", (_P,)),
            Case("an outcome with p_i = 0", "zeros", (np.array([0.5, 0.0, 0.5]),),
                 hints={"nan": ("an outcome with p_i = 0 gave NaN: 0 * log 0 is nan in "
                                "floating point, but it counts as 0 (the limit of t log t)")}),
            Case("base=2 (the answer is in bits)", "base", (_P,), {"base": 2},
                 variants=(("your function ignores `base`: divide the result in nats by "
                            "ln(base)", lambda p, base=2: _raw_entropy(p)),),
                 on_error="your function must accept a keyword argument `base`"),
            Case("a batch: 2 distributions, one per row", "axis", (np.array(_P2),),
                 variants=_axis_variants(lambda p: _raw_entropy(p)),
                 hints=_AXIS_HINTS, on_error=_SHAPE_ERROR),
            Case("a batch along axis=0: 2 distributions, one per column", "axis",
                 (np.array(_P2).T,), {"axis": 0}, hints=_AXIS0_HINTS, on_error=_SHAPE_ERROR),
            Case("p does not sum to 1 (expect ValueError)", "validation",
                 (np.array([0.3, 0.5, 0.4]),), raises=ValueError,
                 variants=((_RENORMALISED, lambda p, **k: _raw_entropy(_arr(p) / np.sum(p))),),
                 hints={"value": _NOT_NORMALISED}),
            Case("p has a negative entry (expect ValueError)", "validation",
                 (np.array([0.7, -0.1, 0.4]),), raises=ValueError, hints={"value": _NEGATIVE}),
        ),
    )


def _cross_entropy_exercise() -> Exercise:
    return Exercise(
        name="cross_entropy",
        reference=divergences.cross_entropy,
        arg_names=("p", "q"),
        default_features=("zeros",),
        variants=(
            ("your function computes H(Q, P) instead of H(P, Q): the arguments are used the "
             "wrong way round (p weights the terms, log is taken of q)",
             lambda p, q, **k: _raw_cross_entropy(q, p)),
            (_LOG2, lambda p, q, **k: _raw_cross_entropy(p, q) / _LN2),
            (_LOG10, lambda p, q, **k: _raw_cross_entropy(p, q) / _LN10),
            ("your result has the wrong sign: H(p, q) = -sum_i p_i log q_i (you lost the "
             "minus sign)", lambda p, q, **k: -_raw_cross_entropy(p, q)),
            ("your function computes the KL divergence D(P || Q), not the cross-entropy: "
             "H(p, q) = H(p) + D(p || q)", lambda p, q, **k: _raw_kl(p, q)),
        ),
        cases=(
            Case("a typical pair of distributions", "core", (_P, _Q)),
            Case("outcomes with p_i = 0 (one of them with q_i = 0 too)", "zeros",
                 (np.array([0.7, 0.0, 0.0, 0.3]), np.array([0.4, 0.2, 0.0, 0.4])),
                 hints={"nan": ("an outcome with p_i = 0 gave NaN (0 * log 0); it must "
                                "contribute exactly 0: use only the outcomes with p_i > 0"),
                        "inf": ("you returned +inf because some q_i = 0, but there p_i = 0 "
                                "too, and such an outcome contributes 0")}),
            Case("q_i = 0 where p_i > 0 (the answer is +inf)", "zeros",
                 (np.array([0.5, 0.3, 0.2]), np.array([0.6, 0.4, 0.0])),
                 hints={"finite": ("q_i = 0 < p_i must give +inf (-p_i log 0 = +inf); a "
                                   "finite answer usually means q was clipped or the outcome "
                                   "skipped")}),
            Case("base=2 (the answer is in bits)", "base", (_P, _Q), {"base": 2},
                 variants=(("your function ignores `base`: divide the result in nats by "
                            "ln(base)", lambda p, q, base=2: _raw_cross_entropy(p, q)),),
                 on_error="your function must accept a keyword argument `base`"),
            *_pair_batch_and_validation_cases(_raw_cross_entropy),
        ),
    )


_OVERFLOW = ("large logits gave NaN: exp(z) overflows to inf for z above about 709, and "
             "inf / inf is nan. Subtract the largest logit before exponentiating, and work "
             "with log-softmax values z_i - logsumexp(z) instead of log(softmax(z))")
_UNDERFLOW = ("a very negative logit made softmax(q) exactly 0, so log(q_i) = -inf and your "
              "result became infinite, although every softmax probability is positive. Use "
              "log-softmax values z_i - logsumexp(z), which stay finite, instead of "
              "log(softmax(z))")


def _kl_logits_exercise() -> Exercise:
    return Exercise(
        name="kl_from_logits",
        reference=divergences.kl_from_logits,
        arg_names=("logits_p", "logits_q"),
        default_features=(),
        variants=(
            (_SWAPPED, lambda zp, zq, **k: _raw_kl_logits(zq, zp)),
            (_LOG2, lambda zp, zq, **k: _raw_kl_logits(zp, zq) / _LN2),
            (_LOG10, lambda zp, zq, **k: _raw_kl_logits(zp, zq) / _LN10),
            (_SIGN, lambda zp, zq, **k: -_raw_kl_logits(zp, zq)),
            ("your function treats the logits as probabilities: apply softmax first, "
             "p = softmax(logits_p), q = softmax(logits_q)",
             lambda zp, zq, **k: _raw_kl(zp, zq)),
        ),
        cases=(
            Case("typical logits", "core", ([2.0, 0.5, -1.0], [0.0, 1.0, 0.5])),
            Case("logits that differ by a constant (same softmax, the answer is 0)", "core",
                 (np.array([1.0, 2.0, 3.0]), np.array([11.0, 12.0, 13.0]))),
            Case("large logits (softmax must not overflow)", "core",
                 (np.array([900.0, 0.0, -900.0]), np.array([0.0, 0.0, 0.0])),
                 hints={"nan": _OVERFLOW, "inf": _OVERFLOW}),
            Case("a very negative logit in q (softmax(q) underflows to 0)", "core",
                 (np.array([0.0, 0.0, 0.0]), np.array([0.0, -800.0, 0.0])),
                 hints={"inf": _UNDERFLOW, "nan": _UNDERFLOW}),
            Case("base=2 (the answer is in bits)", "base",
                 ([2.0, 0.5, -1.0], [0.0, 1.0, 0.5]), {"base": 2},
                 variants=(("your function ignores `base`: divide the result in nats by "
                            "ln(base)", lambda zp, zq, base=2: _raw_kl_logits(zp, zq)),),
                 on_error="your function must accept a keyword argument `base`"),
            Case("a batch: 2 rows of logits", "axis",
                 (np.array([[2.0, 0.5, -1.0], [0.0, 0.0, 3.0]]),
                  np.array([[0.0, 1.0, 0.5], [1.0, -1.0, 0.0]])),
                 variants=_axis_variants(lambda zp, zq: _raw_kl_logits(zp, zq)),
                 hints={"shape": _AXIS_HINTS["shape"] + " (softmax along that axis too)"},
                 on_error=_SHAPE_ERROR),
            Case("a batch along axis=0: 2 columns of logits", "axis",
                 (np.array([[2.0, 0.5, -1.0], [0.0, 0.0, 3.0]]).T,
                  np.array([[0.0, 1.0, 0.5], [1.0, -1.0, 0.0]]).T), {"axis": 0},
                 hints=_AXIS0_HINTS, on_error=_SHAPE_ERROR),
            Case("logits_p and logits_q have different numbers of outcomes "
                 "(expect ValueError)", "validation",
                 (np.array([1.0, 2.0]), np.array([0.0, 1.0, 0.5])), raises=ValueError,
                 hints={"value": _MISMATCH}),
        ),
    )


#: The self-checked exercises, by the name of the function students write
EXERCISES: dict[str, Exercise] = {}


def _register(exercise: Exercise) -> None:
    EXERCISES[exercise.name] = exercise


# ---------------------------------------------------------------------------------------
# Running a check
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseResult:
    """What one case gave: the call as text, expected and received (as text), a diagnosis."""

    name: str
    call: str
    passed: bool
    expected: str = ""
    received: str = ""
    diagnosis: str = ""
    not_implemented: bool = False


@dataclass(frozen=True, repr=False)
class CheckResult:
    """The outcome of `check`: truthy when every case passed; ``message`` explains it."""

    function: str
    exercise: str
    features: tuple[str, ...]
    cases: tuple[CaseResult, ...]

    @property
    def passed(self) -> bool:
        return all(case.passed for case in self.cases)

    @property
    def failures(self) -> tuple[CaseResult, ...]:
        return tuple(case for case in self.cases if not case.passed)

    def __bool__(self) -> bool:
        return self.passed

    @property
    def message(self) -> str:
        name = self.function
        if self.passed:
            what = ", ".join(("core", *self.features))
            return (f"{name} passed all {len(self.cases)} self-check cases ({what}). Well "
                    "done! The graded tests try more inputs, so run them too.")
        failures = self.failures
        if failures[0].not_implemented:
            return (f"{name} is not implemented yet: it raised NotImplementedError. Replace "
                    "`raise NotImplementedError()` with your code, run the cell, then run "
                    "this check again.")
        lines = [f"{name} failed {len(failures)} of {len(self.cases)} self-check cases "
                 "(start with the first: fixing it often fixes the others; then run this "
                 "check again)."]
        seen: dict[str, int] = {}
        for number, case in enumerate(failures, 1):
            cause = case.diagnosis
            if cause in seen:
                cause = f"the same mistake as in {seen[cause]}."
            else:
                seen[cause] = number
            lines += ["", f"{number}. {case.name}", f"   tried:    {case.call}",
                      f"   expected: {case.expected}", f"   received: {case.received}",
                      f"   likely cause: {cause}"]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        passed = len(self.cases) - len(self.failures)
        return f"<CheckResult {self.function}: {passed} of {len(self.cases)} cases passed>"


def _format_value(value) -> str:
    arr = np.asarray(value)
    if arr.dtype.kind == "f" and arr.ndim == 0:
        return repr(float(arr))
    if arr.dtype.kind == "f":
        return repr(arr.tolist())
    if isinstance(value, np.ndarray):
        # as a student would type it (numpy's repr says "array(...)", not "np.array(...)")
        return f"np.array({value.tolist()!r})"
    return repr(value)


def _short_repr(value) -> str:
    try:
        text = repr(value)
    except Exception:  # a student object whose repr fails
        text = f"<{type(value).__name__} object>"
    return text if len(text) <= 80 else text[:77] + "..."


def _format_call(name: str, case: Case) -> str:
    parts = [_format_value(a) for a in case.args]
    parts += [f"{key}={value!r}" for key, value in case.kwargs.items()]
    return f"{name}({', '.join(parts)})"


def _fresh(value):
    """A copy of a case argument, so that a function that edits its input harms nothing."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, list):
        return [_fresh(v) for v in value]
    return value


def _as_number_array(result) -> np.ndarray | str:
    """The student's result as a float array, or a sentence saying why it is not one."""
    plain = type(result) in (float, int, list, tuple) or isinstance(result, np.ndarray) or (
        isinstance(result, np.generic) and not isinstance(result, np.bool_))
    if not plain:
        shown = repr(result) if isinstance(result, str | bytes | bool) or result is None else (
            f"a {type(result).__name__} object")
        return (f"your function returned {shown}, not a number: return a float "
                "(or a numpy array of floats)")
    try:
        arr = np.asarray(result, dtype=float)
    except (TypeError, ValueError) as exc:
        return (f"your function returned a {type(result).__name__}, which is not a number "
                f"(numpy says: {exc})")
    return np.array(arr)  # a new array: nothing the student returned is kept


def _same(received: np.ndarray, expected: np.ndarray, exercise: Exercise | None = None) -> bool:
    if received.shape != expected.shape:
        return False
    rtol, atol = (_RTOL, _ATOL) if exercise is None else (exercise.rtol, exercise.atol)
    return bool(np.all(np.isclose(received, expected, rtol=rtol, atol=atol)))


_REMOTE_PREFIX = re.compile(r"^\w+\(\.\.\.\) raised \w+: ")


def _exception_text(exc: BaseException) -> str:
    # the grader's proxy prefixes "name(...) raised ValueError: "; keep the student's words
    text = _REMOTE_PREFIX.sub("", str(exc)).strip()
    if len(text) > 300:
        text = text[:300] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _diagnose(case: Case, exercise: Exercise, received: np.ndarray, expected: np.ndarray,
              confirmed: set[str]) -> str:
    """The likely misconception behind ``received``, in plain words.

    A wrong implementation matches when it gives the received value. One that gives NaN
    or inf here only counts if it already explained a finite value of an earlier case
    (many mistakes give inf on the same input); otherwise the case's hints explain
    the NaN, the inf or the finite value.
    """
    for text, variant in case.variants + exercise.variants:
        try:
            with np.errstate(all="ignore"):
                candidate = np.asarray(variant(*case.args, **case.kwargs), dtype=float)
        except Exception:  # a variant that makes no sense for this input
            continue
        if np.isnan(candidate).any() or _same(candidate, expected, exercise):
            # a NaN says nothing about which mistake made it (the hints explain NaN), and a
            # mistake that gives the right answer on this case cannot be told apart
            continue
        if not np.isfinite(candidate).all() and text + "." not in confirmed:
            continue
        if _same(received, candidate, exercise):
            return text + "."
    if case.explain is not None and received.shape == expected.shape:
        with np.errstate(all="ignore"):
            explained = case.explain(received)
        if explained:
            return explained + "."
    hints = case.hints
    if received.shape != expected.shape:
        hint = hints.get("shape", "")
        return (f"your result has shape {received.shape}, the expected one {expected.shape}"
                + (f": {hint}." if hint else "."))
    if case.raises is not None:
        return hints.get("value", f"the exercise asks for {case.raises.__name__} here") + "."
    if np.isnan(received).any() and not np.isnan(expected).any():
        return hints.get("nan", "your result contains NaN: look for 0 * log(0), the log of a "
                                "negative number, or inf - inf") + "."
    if np.isposinf(expected).any() and not np.isposinf(received[np.isposinf(expected)]).all():
        return hints.get("finite", "the answer is +inf here and yours is not") + "."
    if np.isinf(received).any() and not np.isinf(expected).any():
        return hints.get("inf", "your result is infinite where the answer is finite") + "."
    if "value" in hints:
        return hints["value"] + "."
    return ("no known misconception matches this value. Compare your code step by step with "
            "the formula, on this input, by hand.")


def _run_case(func, name: str, exercise: Exercise, case: Case,
              confirmed: set[str]) -> CaseResult:
    call = _format_call(name, case)
    fail = {"name": case.name, "call": call, "passed": False}
    try:
        raw = func(*[_fresh(a) for a in case.args], **case.kwargs)
    except NotImplementedError:
        return CaseResult(**fail, expected="a value", received="NotImplementedError",
                          diagnosis="not implemented yet.", not_implemented=True)
    except Exception as exc:
        if case.raises is not None and isinstance(exc, case.raises):
            return CaseResult(case.name, call, True)
        if case.raises is not None:
            return CaseResult(**fail, expected=f"{case.raises.__name__} raised",
                              received=_exception_text(exc),
                              diagnosis=(f"your function raised {type(exc).__name__}, but the "
                                         f"exercise asks for {case.raises.__name__} here."))
        expected = _format_value(exercise.reference(*case.args, **case.kwargs))
        keyword = re.search(r"unexpected keyword argument '(\w+)'", str(exc))
        if "cannot be checked; return numbers or arrays" in str(exc):
            # the grader's proxy could not send back what the function returned
            why = ("your function returned an object that is not a number: return a float "
                   "(or a numpy array of floats).")
        elif keyword:
            why = (f"your function has no `{keyword.group(1)}` parameter, which this exercise "
                   "requires.")
        else:
            why = "your function raised an exception on a valid input" + (
                f" ({case.on_error})." if case.on_error else ".")
        return CaseResult(**fail, expected=expected, received=_exception_text(exc),
                          diagnosis=why)
    received = _as_number_array(raw)
    if case.raises is not None:
        shown = _short_repr(raw) if isinstance(received, str) else _format_value(received)
        if isinstance(received, np.ndarray):
            why = _diagnose(case, exercise, received, np.full(received.shape, np.nan),
                            confirmed)
        else:
            why = case.hints.get("value", "") + "."
        return CaseResult(**fail, expected=f"{case.raises.__name__} raised",
                          received=f"{shown} (no exception)", diagnosis=why)
    expected = np.asarray(exercise.reference(*case.args, **case.kwargs), dtype=float)
    if isinstance(received, str):
        return CaseResult(**fail, expected=_format_value(expected),
                          received=_short_repr(raw), diagnosis=received + ".")
    if _same(received, expected, exercise):
        return CaseResult(case.name, call, True)
    return CaseResult(**fail, expected=_format_value(expected),
                      received=_format_value(received),
                      diagnosis=_diagnose(case, exercise, received, expected, confirmed))


def check(func, *, exercise: str | None = None, features: str | Sequence[str] | None = None,
          raise_on_failure: bool = True) -> CheckResult:
    """Check a student's function on a few telling cases and explain any failure.

    Args:
        func: the student's function (a plain function, or the grader's proxy for one).
        exercise: which exercise ``func`` solves, a key of `EXERCISES`; by default the
            function's ``__name__``.
        features: what the exercise requires beyond the core cases: a sequence of
            feature names (``"zeros"``, ``"base"``, ``"axis"``, ``"validation"``), ``"all"``
            for every feature of the exercise, or None for the exercise's default (the
            notebook 01 version of ``kl_divergence``: ``("zeros",)``).
        raise_on_failure: raise `SelfCheckFailed` when a case fails (the default); if
            False, print the explanation and return a falsy `CheckResult`.

    Returns:
        `CheckResult`: truthy when every case passed. A one-line report is printed.

    Raises:
        SelfCheckFailed: an ``AssertionError`` whose message names the failing cases,
            the inputs tried, the expected and received values and the likely
            misconception (or says the function is not implemented yet).
        ValueError: for an unknown ``exercise`` or feature.
    """
    __tracebackhide__ = True  # IPython and pytest show the message, not this function's code
    key = exercise if exercise is not None else getattr(func, "__name__", None)
    if key not in EXERCISES:
        raise ValueError(f"no self-check for {key!r}; pass exercise= one of {sorted(EXERCISES)}")
    spec = EXERCISES[key]
    if features is None:
        chosen = spec.default_features
    elif isinstance(features, str) and features == "all":
        chosen = spec.features
    else:
        chosen = (features,) if isinstance(features, str) else tuple(features)
        unknown = [f for f in chosen if f not in spec.features]
        if unknown:
            raise ValueError(f"unknown feature(s) {unknown} for {key}; choose from "
                             f"{list(spec.features)} or 'all'")
    name = getattr(func, "__name__", None) or key
    results: list[CaseResult] = []
    confirmed: set[str] = set()  # misconceptions already seen in a finite value
    for case in spec.cases:
        if case.feature != "core" and case.feature not in chosen:
            continue
        outcome = _run_case(func, name, spec, case, confirmed)
        results.append(outcome)
        confirmed.add(outcome.diagnosis)
        if outcome.not_implemented:
            break  # a stub: one message is enough
    result = CheckResult(name, key, tuple(chosen), tuple(results))
    if result.passed or not raise_on_failure:
        print(result.message)
        return result
    raise SelfCheckFailed(result)


# ---------------------------------------------------------------------------------------
# The self-check of each graded function, for the grader
# ---------------------------------------------------------------------------------------

#: ``(assignment, function name) -> check()'s keyword arguments``: the self-check of each
#: graded function, as the notebook's own check cell runs it. When a graded test of that
#: function fails, the grader runs `diagnose` so that the feedback names the mistake in
#: the self-check's words (``autograder.trusted``).
GRADED_CHECKS: dict[tuple[str, str], dict] = {}


def register_graded(assignment: str, function: str, **check_kwargs) -> None:
    """Record that ``function`` of ``assignment`` is self-checked with ``check_kwargs``."""
    exercise = check_kwargs.get("exercise", function)
    if exercise not in EXERCISES:
        raise ValueError(f"no self-check exercise {exercise!r} for {assignment}/{function}")
    GRADED_CHECKS[(assignment, function)] = dict(check_kwargs)


def diagnose(func, assignment: str) -> CheckResult | None:
    """The self-check's verdict on ``func`` as graded in ``assignment``, printing nothing.

    Returns None when the function has no registered self-check; otherwise the
    `CheckResult` (falsy, with its ``message``, when a case failed). Like `check`, it
    only uses the check's own inputs, never a graded test's.
    """
    name = getattr(func, "__name__", None)
    kwargs = GRADED_CHECKS.get((assignment, name))
    if kwargs is None:
        return None
    with contextlib.redirect_stdout(io.StringIO()):
        return check(func, raise_on_failure=False, **kwargs)


for _make in (_kl_exercise, _kl_logits_exercise, _entropy_exercise, _cross_entropy_exercise):
    _register(_make())

register_graded("01_definition", "kl_divergence", features=("zeros",))
register_graded("04_implementation", "kl_divergence", features="all")
register_graded("04_implementation", "kl_from_logits")
register_graded("04_implementation", "entropy", features=("zeros", "base"))
register_graded("04_implementation", "cross_entropy", features=("zeros", "base"))

# the other notebooks' exercises register themselves (they import the machinery above)
from . import selfcheck_applications, selfcheck_foundations  # noqa: E402, F401
