"""Run the test cells outside the student's kernel, so that tampering there cannot pass them.

nbgrader normally executes test cells in the same Python process as the
student's code, where ``builtins.abs = lambda x: 0``, a patched ``numpy.isclose``
or a replaced ``kl_helpers.kl_divergence`` makes every assertion pass.
``TrustedTestExecute`` executes the student's cells in the (sandboxed) kernel as
usual, but runs each test cell here, in the grading process, with its own
untouched builtins, numpy and ``kl_helpers``. A name the test uses that it did not
define itself is looked up in the student's kernel:

* a module is imported afresh here (the student's ``np`` becomes our ``numpy``);
* a function becomes a ``RemoteFunction``: calling it runs the student's function
  in the kernel on JSON-encoded arguments and returns a JSON-decoded result, so
  only plain numbers, strings, lists and arrays ever come back;
* any other value is fetched as JSON in the same way.

The hidden tests' source is never sent to the student's kernel either.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import importlib
import inspect
import io
import json
import math
import traceback
from queue import Empty

import nbformat
import numpy as np
from jupyter_core.utils import ensure_async
from nbclient.exceptions import CellTimeoutError
from nbgrader.preprocessors import Execute

from kl_helpers import checks
from kl_helpers.checks import DelegationError, RemoteCallable, delegation_message

RESULT_MIME = "application/vnd.kl-course.result+json"

#: Packages a test may use through a name the notebook imported (``np``, ``math``). Only
#: these are imported here: a module name chosen by the student could otherwise run
#: the student's own files inside the grader (its working folder is on ``sys.path``).
ALLOWED_MODULE_ROOTS = frozenset({
    "numpy", "scipy", "math", "cmath", "statistics", "random", "fractions", "decimal",
    "itertools", "functools", "collections", "operator", "json", "re", "kl_helpers",
    "matplotlib",
})

# The kernel side of the trusted tests. It runs in the student's kernel, in a private
# namespace of its own (not the notebook's globals), so the student's code never
# appears to call it and it never appears as the student's code.
_KERNEL_SIDE = r"""
import json as _json
import math as _math
import types as _types

SLOT = {}  # the notebook's namespace and the own-work checks, set once by install()


def install(user_ns, checks_source):
    checks = {"__name__": "__kl_grader_checks__"}
    exec(compile(checks_source, "<kl-grader: own-work checks>", "exec"), checks)
    SLOT.update(user_ns=user_ns, checks=checks)


def encode(value, depth=0):
    if depth > 20:
        raise ValueError("value nested too deeply")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, _types.ModuleType):
        return {"__module__": value.__name__}
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        # float(): repr(np.float64('inf')) is 'np.float64(inf)', not 'inf'
        return value if _math.isfinite(value) else {"__float__": repr(float(value))}
    try:
        import numpy as _np
    except ImportError:
        _np = None
    if _np is not None and isinstance(value, _np.ndarray):
        if value.dtype.kind not in "biuf":
            raise TypeError(f"array of dtype {value.dtype} cannot be compared")
        return {"__ndarray__": encode(value.tolist(), depth + 1), "dtype": str(value.dtype)}
    if _np is not None and isinstance(value, _np.generic):
        return encode(value.item(), depth + 1)
    if isinstance(value, (list, tuple)):
        return [encode(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {"__dict__": [[encode(k, depth + 1), encode(v, depth + 1)]
                             for k, v in value.items()]}
    if callable(value):
        return {"__callable__": getattr(value, "__name__", "function")}
    raise TypeError(f"a {type(value).__name__} cannot be checked; return numbers or arrays")


def decode(data):
    import numpy as _np
    if isinstance(data, list):
        return [decode(v) for v in data]
    if isinstance(data, dict):
        if "__float__" in data:
            return float(data["__float__"])
        if "__ndarray__" in data:
            return _np.asarray(decode(data["__ndarray__"]), dtype=data["dtype"])
        if "__dict__" in data:
            return {decode(k): decode(v) for k, v in data["__dict__"]}
    return data


def emit(outcome):
    from IPython.display import display
    display({"@MIME@": outcome}, raw=True)


def describe(exc):
    # the student's class name and message, and the built-in classes it derives from,
    # so that the tests can catch a subclass of ValueError as a ValueError
    try:
        message = str(exc)[:2000]
    except Exception:
        message = ""
    kind = type(exc)
    return {"type": kind.__name__, "message": message,
            "builtins": [c.__name__ for c in kind.__mro__ if c.__module__ == "builtins"]}


def emit_value(value):
    try:
        emit({"value": encode(value)})
    except Exception as exc:
        emit({"raised": describe(exc)})


def call(name, payload, forbidden):
    # one test call of a student function; with ``forbidden``, watched for delegation
    func = SLOT["user_ns"][name]
    args, kwargs = decode(_json.loads(payload))
    # the student's code is what was defined where the function was (the notebook)
    home = getattr(func, "__globals__", SLOT["user_ns"])
    watch = None if forbidden is None else SLOT["checks"]["CallWatch"](forbidden, home)
    try:
        if watch is None:
            value = func(*args, **kwargs)
        else:
            with watch:
                value = func(*args, **kwargs)
        outcome = {"value": encode(value)}
    except Exception as exc:
        outcome = {"raised": describe(exc)}
    outcome["delegations"] = [] if watch is None else list(watch.found)
    emit(outcome)


def own_work(name, forbidden):
    emit_value(SLOT["checks"]["delegations"](SLOT["user_ns"][name], tuple(forbidden)))
""".replace("@MIME@", RESULT_MIME)


@functools.cache
def _install_code() -> str:
    """The first probe's preamble: the kernel side, installed in a private namespace.

    The same text for every notebook a worker grades, so it is built once per process.
    """
    checks_source = inspect.getsource(checks)
    return (f"__kl_grader = {{'__name__': '__kl_grader__'}}\n"
            f"exec(compile({_KERNEL_SIDE!r}, '<kl-grader>', 'exec'), __kl_grader)\n"
            f"__kl_grader['install'](globals(), {checks_source!r})\n")


class StudentCodeError(RuntimeError):
    """The student's kernel could not answer (no result, unknown name, bad value)."""


class _Reference:
    """A module or function the kernel named instead of sending a value."""

    def __init__(self, kind: str, name: str) -> None:
        self.kind, self.name = kind, name


def encode(value, depth: int = 0):
    """Encode ``value`` (test data) for the kernel, as the kernel side's ``encode`` does."""
    if depth > 20:
        raise ValueError("value nested too deeply")
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"__float__": repr(float(value))}
    if isinstance(value, np.ndarray):
        return {"__ndarray__": encode(value.tolist(), depth + 1), "dtype": str(value.dtype)}
    if isinstance(value, np.generic):
        return encode(value.item(), depth + 1)
    if isinstance(value, list | tuple):
        return [encode(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {"__dict__": [[encode(k, depth + 1), encode(v, depth + 1)]
                             for k, v in value.items()]}
    raise TypeError(f"cannot send a {type(value).__name__} to the student's kernel")


def decode(data):
    """Plain Python/numpy data from what the kernel sent: never a student object."""
    if data is None or isinstance(data, bool | str):
        return data
    if isinstance(data, int | float):
        return data
    if isinstance(data, list):
        return [decode(v) for v in data]
    if isinstance(data, dict):
        if "__float__" in data:
            text = str(data["__float__"])
            if text not in ("inf", "-inf", "nan"):
                raise StudentCodeError(f"unexpected float {text!r}")
            return float(text)
        if "__ndarray__" in data:
            dtype = np.dtype(str(data["dtype"]))
            if dtype.kind not in "biuf":
                raise StudentCodeError(f"unexpected dtype {dtype}")
            return np.asarray(decode(data["__ndarray__"]), dtype=dtype)
        if "__dict__" in data:
            return {_hashable(decode(k)): decode(v) for k, v in data["__dict__"]}
        if "__module__" in data:
            return _Reference("module", str(data["__module__"]))
        if "__callable__" in data:
            return _Reference("callable", str(data["__callable__"]))
    raise StudentCodeError(f"the kernel sent data of an unexpected shape: {str(data)[:80]}")


def _hashable(key):
    return tuple(key) if isinstance(key, list) else key


class RemoteFunction(RemoteCallable):
    """A student's function living in the kernel; calls return decoded plain data.

    After ``assert_own_work`` has checked it in a test cell, its next call in that cell
    is watched in the kernel (``kl_helpers.checks.CallWatch``): calling a forbidden
    routine while the test runs fails the call with a ``DelegationError``.
    """

    def __init__(self, runner: TrustedTestExecute, name: str) -> None:
        self._runner = runner
        self.__name__ = name

    def __call__(self, *args, **kwargs):
        payload = json.dumps(encode([list(args), kwargs]))
        # the first call after the check is watched: tracing every call would slow the
        # grading of call-heavy answers (quad over a Python integrand) by half
        forbidden = self._runner.watched.pop(self.__name__, None)
        what = f"{self.__name__}(...)"
        outcome = self._runner.remote(
            f"__kl_grader['call']({self.__name__!r}, {payload!r}, {forbidden!r})", what=what)
        if outcome.get("delegations"):
            raise DelegationError(delegation_message(
                self.__name__, [str(item) for item in outcome["delegations"]]))
        result = _outcome_value(outcome, what)
        if isinstance(result, _Reference):
            raise StudentCodeError(f"{self.__name__} returned a {result.kind}, not a value")
        return result

    def own_work_problems(self, forbidden: tuple[str, ...]) -> list[str]:
        forbidden = tuple(forbidden)
        key = (self.__name__, forbidden)
        if key not in self._runner.delegation_checks:
            outcome = self._runner.remote(
                f"__kl_grader['own_work']({self.__name__!r}, {forbidden!r})",
                what="the own-work check")
            found = _outcome_value(outcome, "the own-work check")
            self._runner.delegation_checks[key] = [str(item) for item in found]
        watched = self._runner.watched.get(self.__name__, ())
        self._runner.watched[self.__name__] = tuple(dict.fromkeys((*watched, *forbidden)))
        return self._runner.delegation_checks[key]

    def __repr__(self) -> str:
        return f"<student function {self.__name__}>"


def _outcome_value(outcome, what: str):
    """The decoded value of a kernel outcome, or the student's exception raised here."""
    if not isinstance(outcome, dict):
        raise StudentCodeError(f"the kernel sent an unexpected answer for {what}")
    if "raised" in outcome:
        raise _raised_here(outcome["raised"], what)
    if "value" not in outcome:
        raise StudentCodeError(f"the kernel sent no value for {what}")
    return decode(outcome["value"])


class RemoteNamespace(dict):
    """The test cell's globals: its own names here, any other name fetched from the kernel.

    A dict (not a separate locals mapping), so that comprehensions, lambdas and functions
    inside a test cell, which look names up in the globals, see the student's names too.
    """

    def __init__(self, runner: TrustedTestExecute) -> None:
        super().__init__(__builtins__=builtins, __name__="__main__")
        self._runner = runner

    def __missing__(self, name):
        if hasattr(builtins, name) or name.startswith("__"):
            # a trusted builtin, or Python's own bookkeeping (__annotations__, say)
            raise KeyError(name)
        value = self._runner.fetch(name)
        self[name] = value  # one kernel round trip per name and test cell
        return value


#: Seconds an interrupted cell has to stop before the kernel counts as unresponsive
INTERRUPT_GRACE = 1.0


class TrustedTestExecute(Execute):
    """nbgrader's ``Execute``, with test cells run in the grading process (see module doc).

    It also gives up on a kernel that ignores the interrupt sent at a cell's timeout
    (a loop that catches KeyboardInterrupt): nbgrader would otherwise wait out the
    timeout again on every later cell, queued behind the loop.
    """

    async def _async_handle_timeout(self, timeout, cell=None):
        self.log.error("Timeout waiting for execute reply (%is); interrupting", timeout)
        await ensure_async(self.km.interrupt_kernel())
        try:
            # an interrupted cell replies at once (KeyboardInterrupt); drain that reply
            await ensure_async(self.kc.shell_channel.get_msg(timeout=INTERRUPT_GRACE))
        except Empty:
            raise CellTimeoutError.error_from_timeout_and_cell(
                "Cell execution timed out and the kernel ignored the interrupt", timeout,
                cell) from None
        return {"content": {**self.error_on_timeout, "status": "error"}}

    def preprocess(self, nb, resources=None, km=None):
        # per notebook: functions and modules already looked up, delegation verdicts,
        # and whether the kernel has the codec yet (each saves a kernel round trip)
        self.references: dict = {}
        self.delegation_checks: dict = {}
        self.watched: dict = {}  # per test cell: student function -> forbidden routines
        self._codec_sent = False
        return super().preprocess(nb, resources, km=km)

    def preprocess_cell(self, cell, resources, index):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.get("cell_type") == "code" and meta.get("grade") and not meta.get("solution"):
            self._check_assign_resources(resources)
            self._index, self._test_cell = index, cell
            self._run_test_here(cell)
            return cell, self.resources
        return super().preprocess_cell(cell, resources, index)

    # -- talking to the student's kernel ---------------------------------------------
    def remote(self, code: str, *, what: str):
        """Run ``code`` in the kernel and return the JSON outcome it emitted."""
        # the kernel side is sent with the first probe; a student who deletes it only loses
        probe = nbformat.v4.new_code_cell(code if self._codec_sent else _install_code() + code)
        self._codec_sent = True
        probe.metadata = {}
        try:
            self.execute_cell(probe, self._index, store_history=False)
        finally:
            # nbclient stores the executed cell at its index: put the test cell back
            self.nb.cells[self._index] = self._test_cell
        results = [o for o in probe.outputs if o.get("output_type") == "display_data"
                   and RESULT_MIME in o.get("data", {})]
        errors = [o for o in probe.outputs if o.get("output_type") == "error"]
        if errors:
            error = errors[-1]
            raise _student_exception(error.get("ename", "Error"), error.get("evalue", ""),
                                     what)
        if not results:
            raise StudentCodeError(f"the notebook gave no result for {what}")
        return results[-1]["data"][RESULT_MIME]

    def fetch(self, name: str):
        """The value of a global of the student's kernel, as trusted data."""
        if name in self.references:
            return self.references[name]
        try:
            data = _outcome_value(self.remote(f"__kl_grader['emit_value']({name})",
                                              what=f"the name {name!r}"), f"the name {name!r}")
        except NameError:
            raise NameError(f"name {name!r} is not defined in your notebook") from None
        if isinstance(data, _Reference) and data.kind == "module":
            if data.name.split(".")[0] not in ALLOWED_MODULE_ROOTS:
                raise StudentCodeError(f"the tests cannot use the module {data.name!r} that "
                                       f"your notebook calls {name!r}")
            try:
                self.references[name] = importlib.import_module(data.name)
            except ImportError:
                raise StudentCodeError(f"cannot use the module {data.name!r}") from None
            return self.references[name]
        if isinstance(data, _Reference):
            self.references[name] = RemoteFunction(self, name)
            return self.references[name]
        return data  # a value: fetched again by the next test, in case a call changed it

    # -- running the test ------------------------------------------------------------
    def _run_test_here(self, cell) -> None:
        grade_id = cell["metadata"]["nbgrader"].get("grade_id", "test")
        self.watched = {}
        namespace = RemoteNamespace(self)
        stdout = io.StringIO()
        cell.outputs = []
        try:
            code = compile(cell.source, f"<test {grade_id}>", "exec")
            with contextlib.redirect_stdout(stdout):
                exec(code, namespace)
            error = None
        except Exception as exc:  # a failed test is an error output, as in the kernel
            error = exc
        if stdout.getvalue():
            cell.outputs.append(nbformat.v4.new_output(
                "stream", name="stdout", text=stdout.getvalue()))
        if error is not None:
            lines = traceback.format_exception_only(type(error), error)
            cell.outputs.append(nbformat.v4.new_output(
                "error", ename=type(error).__name__, evalue=str(error),
                traceback=[line.rstrip("\n") for line in lines]))


def _student_exception(ename: str, evalue: str, what: str) -> Exception:
    """Re-raise a kernel exception here: a builtin type when it is one, so tests can catch it."""
    return _raised_here({"type": ename, "message": evalue, "builtins": [ename]}, what)


def _raised_here(info: dict, what: str) -> Exception:
    """The exception to raise in the test for one the student's code raised in the kernel.

    It is the nearest built-in class in the student's exception's MRO, so a student's
    ``class InvalidDistributionError(ValueError)`` satisfies ``except ValueError`` and
    ``pytest.raises(ValueError)`` as it does in the student's own kernel; the message
    keeps the student's class name and text.
    """
    ename, evalue = str(info.get("type", "Error")), str(info.get("message", ""))
    message = f"{what} raised {ename}: {evalue}" if evalue else f"{what} raised {ename}"
    for name in info.get("builtins") or ():
        kind = getattr(builtins, str(name), None)
        if (isinstance(kind, type) and issubclass(kind, Exception)
                and kind not in (StopIteration, StopAsyncIteration)):
            try:
                return kind(message)
            except Exception:  # some builtins want other arguments: try the next class
                continue
    return StudentCodeError(message)
