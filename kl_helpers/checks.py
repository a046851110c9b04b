"""Checks used by the course's test cells on what a student hands in.

``assert_own_work(func, forbidden=(...))`` makes sure an exercise function computes its
answer itself instead of handing it to a routine the exercise rules out: anything from
the course's reference package ``kl_helpers``, and the library routines the exercise
names by their full dotted names (``"scipy.special.rel_entr"``).

The verdict goes by **identity, never by spelling**. A name in the student's code counts
only when the object it denotes *is* a forbidden routine, whatever it is called:
``from scipy.special import rel_entr as r`` is caught, while the student's own function
called ``entropy``, a local array called ``cross_entropy``, a method
``stats.norm.entropy``, recursion, docstrings and strings are never evidence.

Two complementary ways to find delegation:

* **Reading the code** (``delegations``): the function's compiled code is followed
  name by name, as Python would look the names up: globals, closure cells, default
  arguments, ``functools.partial``, imports inside the function, attribute chains on
  modules (``sp.rel_entr``) and containers the code reaches (``TOOLS[0]``). The
  student's own functions and classes (defined in the same namespace) are followed to
  any depth. This finds a forbidden routine even when it is a NumPy ufunc
  (``rel_entr``, ``kl_div``), which leaves no trace when it runs.
* **Watching the call** (``CallWatch``): the grader runs each test call of a student
  function under ``sys.settrace`` and records every Python-level forbidden routine that
  the student's own code called directly, including routines reached through strings
  (``getattr(module, "kl_" + "divergence")``, ``importlib``), which no reading of the
  code can resolve. Calls that an allowed library routine makes internally are not
  the student's and are ignored.

The module uses the standard library only: the grader also runs a private copy of it
inside the student's kernel (see ``autograder.trusted``), where the student's functions
live.
"""

from __future__ import annotations

import builtins
import dis
import functools
import importlib
import inspect
import sys
import types

__all__ = ["CallWatch", "DelegationError", "RemoteCallable", "assert_own_work", "delegations",
           "resolve_forbidden"]

#: Everything from this package is forbidden in every exercise
REFERENCE_PACKAGE = "kl_helpers"

# how many of the student's own functions deep the reading follows calls
_MAX_DEPTH = 10


class DelegationError(AssertionError):
    """The function hands the exercise to a routine it was asked not to use.

    An AssertionError, so that a test cell that raises it fails like any failed test.
    """


class RemoteCallable:
    """A student function that runs elsewhere (the grader's proxy for a kernel function).

    ``own_work_problems(forbidden)`` performs the check where the function lives and
    keeps watching the function's later calls in the same test.
    """

    def own_work_problems(self, forbidden: tuple[str, ...]) -> list[str]:
        raise NotImplementedError


def resolve_forbidden(names) -> dict[int, tuple[object, str]]:
    """``id(obj) -> (obj, full name)`` for each full dotted name in ``names``.

    Args:
        names: iterable of str such as ``"scipy.special.rel_entr"``.

    Raises:
        ValueError: a name that is not a full dotted name of an importable object.
    """
    resolved = {}
    for name in names:
        obj = _import_dotted(name)
        resolved[id(obj)] = (obj, name)
    return resolved


def _import_dotted(name: str):
    parts = str(name).split(".")
    if len(parts) < 2 or not all(part.isidentifier() for part in parts):
        raise ValueError(f"forbidden routine {name!r} must be a full dotted name such as "
                         "'scipy.special.rel_entr'")
    for split in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        try:
            for attribute in parts[split:]:
                obj = getattr(obj, attribute)
        except AttributeError:
            break
        return obj
    raise ValueError(f"forbidden routine {name!r} does not exist")


def _in_reference_package(module) -> bool:
    """True when ``module`` (a module's name) is the reference package or one of its modules."""
    return isinstance(module, str) and (module == REFERENCE_PACKAGE
                                        or module.startswith(REFERENCE_PACKAGE + "."))


def is_reference(obj) -> bool:
    """True when ``obj`` is a function or class of the course's reference package."""
    if isinstance(obj, types.ModuleType) or not callable(obj):
        return False
    return _in_reference_package(getattr(obj, "__module__", None))


def _full_name(obj) -> str:
    module = getattr(obj, "__module__", None) or ""
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or repr(obj)
    return f"{module}.{name}" if module else str(name)


_MISSING = object()


class _Reader:
    """Follows a student's function through its code (see the module docstring)."""

    def __init__(self, home: dict, forbidden: dict[int, tuple[object, str]]) -> None:
        self.home = home  # the student's namespace: what is defined there is theirs
        self.forbidden = forbidden
        self.found: dict[str, None] = {}  # ordered set of problem descriptions
        self.seen: set[int] = set()

    # -- what an object is -------------------------------------------------------------
    def _verdict(self, obj) -> str | None:
        """The full name of the forbidden routine ``obj`` is, or None."""
        entry = self.forbidden.get(id(obj))
        if entry is not None and entry[0] is obj:
            return entry[1]
        if is_reference(obj):
            return f"the course's reference {_full_name(obj)}"
        return None

    def _is_students(self, obj) -> bool:
        if isinstance(obj, types.FunctionType):
            return obj.__globals__ is self.home
        if isinstance(obj, type):
            return obj.__module__ == self.home.get("__name__")
        return False

    # -- following objects ----------------------------------------------------------------
    def visit(self, obj, spelled: str, via: tuple[str, ...], depth: int = 0) -> None:
        """Record ``obj`` if forbidden; follow it if it is more of the student's code."""
        if depth > 3:
            return
        verdict = self._verdict(obj)
        if verdict is not None:
            self._record(verdict, spelled, via)
            return
        if isinstance(obj, functools.partial):
            self.visit(obj.func, spelled, via, depth + 1)
            for value in (*obj.args, *obj.keywords.values()):
                self.visit(value, spelled, via, depth + 1)
        elif isinstance(obj, types.MethodType | staticmethod | classmethod):
            self.visit(obj.__func__, spelled, via, depth + 1)
        elif isinstance(obj, list | tuple | set | frozenset):
            for value in list(obj)[:100]:
                self.visit(value, spelled, via, depth + 1)
        elif isinstance(obj, dict):
            for value in list(obj.values())[:100]:
                self.visit(value, spelled, via, depth + 1)
        elif self._is_students(obj):
            if isinstance(obj, type):
                self._read_class(obj, via)
            else:
                self.read(obj, via + (spelled,))
        elif self._is_students(type(obj)):
            # an instance of the student's class: its class and its own attributes
            self._read_class(type(obj), via)
            try:
                attributes = dict(object.__getattribute__(obj, "__dict__"))
            except (AttributeError, TypeError):
                attributes = {}
            for name, value in attributes.items():
                self.visit(value, f"{spelled}.{name}", via, depth + 1)

    def _read_class(self, cls: type, via: tuple[str, ...]) -> None:
        for klass in cls.__mro__:
            if not self._is_students(klass) or id(klass) in self.seen:
                continue
            self.seen.add(id(klass))
            for name, value in vars(klass).items():
                if not name.startswith("__") or name in ("__init__", "__call__", "__new__"):
                    self.visit(value, f"{klass.__name__}.{name}", via)

    def _record(self, verdict: str, spelled: str, via: tuple[str, ...]) -> None:
        route = "".join(f"through your function '{step}', " for step in via[1:])
        how = spelled if spelled.startswith("a default") else f"as '{spelled}'"
        self.found[f"{route}it calls {verdict} ({how})"] = None

    def read(self, func: types.FunctionType, via: tuple[str, ...]) -> None:
        """Follow every name in ``func``'s code (and the code nested in it)."""
        if id(func) in self.seen or len(via) > _MAX_DEPTH:
            return
        self.seen.add(id(func))
        cells = {}
        for name, cell in zip(func.__code__.co_freevars, func.__closure__ or (), strict=True):
            try:
                cells[name] = cell.cell_contents
            except ValueError:  # an empty cell: the variable is not bound yet
                pass
        for value in (*(func.__defaults__ or ()), *(func.__kwdefaults__ or {}).values()):
            self.visit(value, "a default argument", via)
        self._read_code(func.__code__, func.__globals__, cells, via)

    def _read_code(self, code: types.CodeType, globals_: dict, cells: dict,
                   via: tuple[str, ...]) -> None:
        """One pass over ``code``: a tiny evaluator that tracks only objects it can name.

        ``cells`` maps the free variables the code may load to known objects: the
        function's closure, or for nested code (lambdas, comprehensions, inner functions)
        the outer locals the outer code bound to a known object. Any other local, whatever
        its name, is unknown and never evidence.
        """
        local_objects: dict[str, tuple[object, str]] = {}
        current: tuple[object, str] | None = None  # the object the last instruction pushed
        importing: tuple[object, str] | None = None  # the module an import statement loads
        last_const = _MISSING
        for instruction in dis.get_instructions(code):
            op, arg = instruction.opname, instruction.argval
            pushed: tuple[object, str] | None = None
            if op == "LOAD_GLOBAL":
                value = globals_.get(arg, _MISSING)
                if value is _MISSING:
                    value = getattr(builtins, arg, _MISSING)
                pushed = (value, arg) if value is not _MISSING else None
            elif op in ("LOAD_DEREF", "LOAD_CLASSDEREF"):
                pushed = local_objects.get(arg) or ((cells[arg], arg) if arg in cells else None)
            elif op in ("LOAD_FAST", "LOAD_FAST_CHECK", "LOAD_FAST_AND_CLEAR"):
                pushed = local_objects.get(arg)
            elif op in ("LOAD_ATTR", "LOAD_METHOD") and current is not None:
                pushed = _attribute(current, arg)
            elif op == "IMPORT_NAME":
                importing = _imported(arg, None if last_const is _MISSING else last_const)
                pushed = importing
            elif op == "IMPORT_FROM" and importing is not None:
                pushed = _attribute(importing, arg, submodule=True)
            elif op in ("STORE_FAST", "STORE_DEREF"):
                if current is not None:
                    local_objects[arg] = (current[0], arg)  # spelled as the code names it
                else:
                    local_objects.pop(arg, None)  # rebound to something unknown: forget it
            last_const = arg if op == "LOAD_CONST" else _MISSING
            if pushed is not None and not isinstance(pushed[0], types.ModuleType):
                self.visit(pushed[0], pushed[1], via)
            current = pushed
        inner_cells = {**cells, **{name: value[0] for name, value in local_objects.items()}}
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                self._read_code(const, globals_, inner_cells, via)


def _attribute(owner: tuple[object, str], name: str, submodule: bool = False):
    """``owner.name`` when it can be looked up without running the student's code."""
    obj, spelled = owner
    try:
        if isinstance(obj, types.ModuleType):
            try:
                value = getattr(obj, name)
            except AttributeError:
                if not submodule:
                    return None
                value = importlib.import_module(f"{obj.__name__}.{name}")
        else:
            # no properties or __getattr__ of anybody's objects are run
            value = inspect.getattr_static(obj, name)
            if isinstance(value, staticmethod | classmethod):
                value = value.__func__
    except Exception:
        return None
    return (value, f"{spelled}.{name}")


def _imported(module_name: str, fromlist):
    """The object an ``import`` statement puts on the stack (absolute imports only)."""
    if not isinstance(module_name, str) or not module_name:
        return None
    try:
        module = sys.modules.get(module_name) or importlib.import_module(module_name)
    except Exception:
        return None
    if fromlist is None:
        # ``import a.b`` binds ``a`` (``import a.b as c`` then takes ``.b`` by IMPORT_FROM)
        top = module_name.split(".")[0]
        return (sys.modules.get(top, module), top)
    return (module, module_name)


def delegations(func, forbidden=()) -> list[str]:
    """What ``func`` calls that its exercise forbids, found by reading its code.

    Args:
        func: the student's function (a ``functools.partial`` or bound method works too).
        forbidden: full dotted names of the library routines the exercise rules out,
            e.g. ``("scipy.special.rel_entr",)``. Anything from ``kl_helpers`` is always
            forbidden.

    Returns:
        list of str: one readable description per forbidden routine reached, e.g.
        ``"through your function '_compute', it calls scipy.special.rel_entr (as 'r')"``;
        empty when the function does its own work.
    """
    target = func
    while isinstance(target, functools.partial | types.MethodType):
        target = target.func if isinstance(target, functools.partial) else target.__func__
    home = getattr(target, "__globals__", None)
    reader = _Reader(home if isinstance(home, dict) else {}, resolve_forbidden(forbidden))
    # the function is the student's by construction (its own globals are the home), so
    # visiting it reads its code; a partial's bound arguments are visited too
    reader.visit(func, getattr(target, "__name__", "your function"), ())
    return list(reader.found)


class CallWatch:
    """Records forbidden routines that the student's own code calls while it runs.

    Use as ``with CallWatch(forbidden, home) as watch: func(...)``; afterwards
    ``watch.found`` lists one description per forbidden routine called, e.g.
    ``"while the tests ran, your function '_compute' called the course's reference
    kl_helpers.divergences.kl_divergence"``.

    Args:
        forbidden: full dotted names, as for ``delegations``; ``kl_helpers`` always counts.
        home: the student's namespace (their functions' ``__globals__``): only calls made
            directly by code defined there count, never the internal calls of an allowed
            library routine.

    Only Python functions can be watched (``sys.settrace`` sees no C calls); NumPy
    ufuncs such as ``rel_entr`` are found by ``delegations`` instead.
    """

    def __init__(self, forbidden, home: dict) -> None:
        self.home = home
        self.found: dict[str, None] = {}
        self._targets: dict[types.CodeType, str] = {}
        self._wrappers: set[types.CodeType] = set()
        for obj, name in resolve_forbidden(forbidden).values():
            while isinstance(obj, functools.partial):
                obj = obj.func
            layers = []  # the routine and the functions its decorators wrapped, outermost first
            while isinstance(obj, types.FunctionType):
                layers.append(obj)
                obj = getattr(obj, "__wrapped__", None)
            if layers:
                # decorators share their wrapper code: the innermost code is the routine
                self._targets[layers[-1].__code__] = name
                self._wrappers.update(layer.__code__ for layer in layers[:-1])
        self._names: dict[types.CodeType, str | None] = {}
        self._previous = None

    def _forbidden_name(self, code: types.CodeType, module_globals: dict) -> str | None:
        """How a call of ``code`` is reported, or None when calling it is allowed."""
        name = self._targets.get(code)
        if name is not None:
            return name
        module = module_globals.get("__name__")
        if not _in_reference_package(module) or code is _WATCH_EXIT:
            return None  # allowed, or the watch itself, leaving
        qualname = getattr(code, "co_qualname", code.co_name)
        return f"the course's reference {module}.{qualname}"

    def __enter__(self) -> CallWatch:
        settrace = sys.settrace
        if not isinstance(settrace, types.BuiltinFunctionType):
            raise DelegationError("sys.settrace was replaced in the notebook, so the grader "
                                  "cannot watch which routines your functions call")
        self._previous = sys.gettrace()
        settrace(self._trace)
        return self

    def __exit__(self, *exc_info) -> None:
        sys.settrace(self._previous)

    def _trace(self, frame, event, arg):
        if event != "call":
            return None
        code = frame.f_code
        # called for every Python call the function makes (a quad integrand: thousands),
        # so what a code object is gets worked out once per watch
        try:
            name = self._names[code]
        except KeyError:
            name = self._names[code] = self._forbidden_name(code, frame.f_globals)
        if name is None:
            return None
        caller = frame.f_back
        while caller is not None and caller.f_code in self._wrappers:
            caller = caller.f_back
        if caller is not None and caller.f_globals is self.home:
            where = caller.f_code.co_name
            self.found[f"while the tests ran, your function '{where}' called {name}"] = None
        return None


_WATCH_EXIT = CallWatch.__exit__.__code__


def delegation_message(name: str, problems) -> str:
    """The feedback a delegating function gets: what it reached, and through what."""
    return (f"{name} must compute the answer itself, but {'; '.join(problems)}. This "
            "exercise does not allow that routine (see its 'Not allowed' line), so these "
            "tests give no credit for it: write the computation yourself.")


def assert_own_work(func, *, forbidden=()) -> None:
    """Fail with a plain explanation when ``func`` delegates its exercise.

    Args:
        func: the student's function (or the grader's proxy of it).
        forbidden: full dotted names of the library routines the exercise forbids, as its
            text lists them; anything from ``kl_helpers`` is always forbidden.

    Raises:
        DelegationError: ``func`` reaches a forbidden routine (see ``delegations``).
        ValueError: a name in ``forbidden`` is not a full dotted name of a routine.
    """
    forbidden = tuple(forbidden)
    if isinstance(func, RemoteCallable):
        problems = func.own_work_problems(forbidden)
    else:
        problems = delegations(func, forbidden)  # a typo in ``forbidden`` raises ValueError
    if problems:
        raise DelegationError(delegation_message(getattr(func, "__name__", "your function"),
                                                 problems))
