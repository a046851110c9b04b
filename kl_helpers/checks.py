"""Checks used by the course's test cells on what a student hands in.

``assert_own_work`` makes sure an exercise function computes its answer itself
instead of calling the course's reference (``kl_helpers``) or a library routine
the exercise rules out (``scipy.special.rel_entr``, say). It inspects the
function's compiled code, so an alias such as ``from kl_helpers import
kl_divergence as k`` in another cell is caught as well.
"""

from __future__ import annotations

import functools
import types

__all__ = ["DelegationError", "RemoteCallable", "assert_own_work", "delegated_calls"]

_REFERENCE_PACKAGE = "kl_helpers"


class DelegationError(AssertionError):
    """The function hands the exercise to a routine it was asked to write itself.

    An AssertionError, so that a test cell that raises it fails like any failed test.
    """


class RemoteCallable:
    """A student function that runs elsewhere (the grader's proxy for a kernel function).

    Its ``delegated_calls(forbidden)`` performs the check where the function lives.
    """

    def delegated_calls(self, forbidden: tuple[str, ...]) -> list[str]:
        raise NotImplementedError


def _code_objects(code: types.CodeType):
    """``code`` and every function, lambda or comprehension compiled inside it."""
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_objects(const)


def _origin(obj) -> str:
    """``module.qualname`` of a function, class or module, or '' when unknown."""
    if isinstance(obj, types.ModuleType):
        return obj.__name__
    module = getattr(obj, "__module__", None) or ""
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", "")
    return f"{module}.{name}" if module else ""


def delegated_calls(func, forbidden: tuple[str, ...] = ()) -> list[str]:
    """Names of forbidden routines ``func`` refers to (empty when it does its own work).

    The student's own helper functions that ``func`` uses (through a global, a closure
    or a default argument, also inside ``functools.partial``) are checked in the same
    way, so a call hidden one helper deeper is found too.

    Args:
        func: the student's function.
        forbidden: attribute or global names the exercise rules out, e.g. ``("rel_entr",)``.
            Anything from the ``kl_helpers`` package is always forbidden.

    Returns:
        list of str: a readable description of each forbidden reference, sorted.
    """
    found: set[str] = set()
    _scan(func, tuple(forbidden), found, seen=set(), via="")
    return sorted(found)


# how many of the student's helpers deep the check follows calls
_MAX_HELPER_DEPTH = 10


def _is_reference(obj) -> bool:
    origin = _origin(obj)
    return origin == _REFERENCE_PACKAGE or origin.startswith(_REFERENCE_PACKAGE + ".")


def _scan(func, forbidden: tuple[str, ...], found: set[str], seen: set[int], via: str) -> None:
    """Add to ``found`` what ``func`` (reached through ``via``) refers to that is forbidden."""
    while isinstance(func, functools.partial):
        func = func.func
    if not isinstance(func, types.FunctionType):
        if _is_reference(func):
            found.add(f"{via}it is the course's reference {_origin(func)}")
        return
    if id(func) in seen or len(seen) > _MAX_HELPER_DEPTH * 10:
        return
    seen.add(id(func))
    if _is_reference(func):
        found.add(f"{via}it is the course's reference {_origin(func)}")
        return
    # globals the closure captured count as much as the module's own
    cells = dict(zip(func.__code__.co_freevars,
                     (c.cell_contents for c in func.__closure__ or ()), strict=True))
    defaults = [*(func.__defaults__ or ()), *(func.__kwdefaults__ or {}).values()]
    helpers = []
    for code in _code_objects(func.__code__):
        for name in code.co_names + code.co_freevars:
            if name in forbidden:
                found.add(f"{via}it uses {name}")
            if name == _REFERENCE_PACKAGE or name.startswith(_REFERENCE_PACKAGE + "."):
                found.add(f"{via}it imports the course's reference package {name}")
            target = cells.get(name, func.__globals__.get(name))
            if target is None:
                continue
            if _is_reference(target):
                found.add(f"{via}it calls the course's reference {_origin(target)} "
                          f"(as '{name}')")
            elif _student_helper(target, func):
                helpers.append((name, target))
        # __import__("kl_helpers") and friends name the package in a string
        for const in code.co_consts:
            if isinstance(const, str) and _REFERENCE_PACKAGE in const:
                found.add(f"{via}it names the course's reference package in {const!r}")
    for value in defaults:
        if _is_reference(value):
            found.add(f"{via}a default argument is the course's reference {_origin(value)}")
        elif _student_helper(value, func):
            helpers.append(("a default argument", value))
    if via.count("through ") < _MAX_HELPER_DEPTH:
        for name, helper in helpers:
            label = name if name.startswith("a default") else f"'{name}'"
            _scan(helper, forbidden, found, seen, f"{via}through {label}, ")


def _student_helper(obj, func) -> bool:
    """A function (or partial) written where ``func`` was, i.e. more of the student's code."""
    while isinstance(obj, functools.partial):
        if _is_reference(obj.func):
            return True
        obj = obj.func
    return isinstance(obj, types.FunctionType) and obj.__module__ == func.__module__


def assert_own_work(func, *, forbidden: tuple[str, ...] = ()) -> None:
    """Fail with a plain explanation when ``func`` delegates its exercise.

    Raises:
        DelegationError: ``func`` is or calls something from ``kl_helpers`` or a name
            in ``forbidden``.
    """
    if isinstance(func, RemoteCallable):
        problems = func.delegated_calls(tuple(forbidden))
    else:
        problems = delegated_calls(func, forbidden)
    if problems:
        name = getattr(func, "__name__", "your function")
        raise DelegationError(
            f"{name} must compute the answer itself, but {'; '.join(problems)}. "
            "This exercise earns no credit for calling a ready-made implementation: "
            "write the computation with numpy.")

