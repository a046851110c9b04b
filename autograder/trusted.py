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
import importlib
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

from kl_helpers.checks import RemoteCallable

RESULT_MIME = "application/vnd.kl-course.result+json"

#: Packages a test may use through a name the notebook imported (``np``, ``math``). Only
#: these are imported here: a module name chosen by the student could otherwise run
#: the student's own files inside the grader (its working folder is on ``sys.path``).
ALLOWED_MODULE_ROOTS = frozenset({
    "numpy", "scipy", "math", "cmath", "statistics", "random", "fractions", "decimal",
    "itertools", "functools", "collections", "operator", "json", "re", "kl_helpers",
    "matplotlib",
})

# Runs in the student's kernel: encode a value as JSON-safe data, tagging what JSON lacks
_KERNEL_CODEC = r'''
def __kl_encode(value, depth=0):
    import math as _m, types as _t
    if depth > 20:
        raise ValueError("value nested too deeply")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, _t.ModuleType):
        return {"__module__": value.__name__}
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        # float(): repr(np.float64('inf')) is 'np.float64(inf)', not 'inf'
        return value if _m.isfinite(value) else {"__float__": repr(float(value))}
    try:
        import numpy as _np
    except ImportError:
        _np = None
    if _np is not None and isinstance(value, _np.ndarray):
        if value.dtype.kind not in "biuf":
            raise TypeError(f"array of dtype {value.dtype} cannot be compared")
        return {"__ndarray__": __kl_encode(value.tolist(), depth + 1), "dtype": str(value.dtype)}
    if _np is not None and isinstance(value, _np.generic):
        return __kl_encode(value.item(), depth + 1)
    if isinstance(value, (list, tuple)):
        return [__kl_encode(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {"__dict__": [[__kl_encode(k, depth + 1), __kl_encode(v, depth + 1)]
                             for k, v in value.items()]}
    if callable(value):
        return {"__callable__": getattr(value, "__name__", "function")}
    raise TypeError(f"a {type(value).__name__} cannot be checked; return numbers or arrays")

def __kl_decode(data):
    import numpy as _np
    if isinstance(data, list):
        return [__kl_decode(v) for v in data]
    if isinstance(data, dict):
        if "__float__" in data:
            return float(data["__float__"])
        if "__ndarray__" in data:
            return _np.asarray(__kl_decode(data["__ndarray__"]), dtype=data["dtype"])
        if "__dict__" in data:
            return {__kl_decode(k): __kl_decode(v) for k, v in data["__dict__"]}
    return data

def __kl_emit(value):
    from IPython.display import display
    display({"@MIME@": __kl_encode(value)}, raw=True)
'''.replace("@MIME@", RESULT_MIME)


class StudentCodeError(RuntimeError):
    """The student's kernel could not answer (no result, unknown name, bad value)."""


class _Reference:
    """A module or function the kernel named instead of sending a value."""

    def __init__(self, kind: str, name: str) -> None:
        self.kind, self.name = kind, name


def encode(value, depth: int = 0):
    """Encode ``value`` (test data) for the kernel, mirroring ``__kl_encode``."""
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
    """A student's function living in the kernel; calls return decoded plain data."""

    def __init__(self, runner: TrustedTestExecute, name: str) -> None:
        self._runner = runner
        self.__name__ = name

    def __call__(self, *args, **kwargs):
        payload = json.dumps(encode([list(args), kwargs]))
        code = (f"__kl_args, __kl_kwargs = __kl_decode(__import__('json').loads({payload!r}))\n"
                f"__kl_emit({self.__name__}(*__kl_args, **__kl_kwargs))")
        result = self._runner.remote(code, what=f"{self.__name__}(...)")
        if isinstance(result, _Reference):
            raise StudentCodeError(f"{self.__name__} returned a {result.kind}, not a value")
        return result

    def delegated_calls(self, forbidden: tuple[str, ...]) -> list[str]:
        key = (self.__name__, tuple(forbidden))
        if key not in self._runner.delegation_checks:
            code = ("from kl_helpers.checks import delegated_calls as __kl_delegated\n"
                    f"__kl_emit(__kl_delegated({self.__name__}, {tuple(forbidden)!r}))")
            found = self._runner.remote(code, what="the delegation check")
            self._runner.delegation_checks[key] = [str(item) for item in found]
        return self._runner.delegation_checks[key]

    def __repr__(self) -> str:
        return f"<student function {self.__name__}>"


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
        """Run ``code`` in the kernel and return the decoded value it emitted."""
        # the codec is sent with the first probe; a student who deletes it only loses
        probe = nbformat.v4.new_code_cell(code if self._codec_sent else _KERNEL_CODEC + code)
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
        return decode(results[-1]["data"][RESULT_MIME])

    def fetch(self, name: str):
        """The value of a global of the student's kernel, as trusted data."""
        if name in self.references:
            return self.references[name]
        try:
            data = self.remote(f"__kl_emit({name})", what=f"the name {name!r}")
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
    kind = getattr(builtins, ename, None)
    message = f"{what} raised {ename}: {evalue}" if evalue else f"{what} raised {ename}"
    if isinstance(kind, type) and issubclass(kind, Exception) and kind is not StopIteration:
        try:
            return kind(message)
        except Exception:  # some builtins want other arguments
            pass
    return StudentCodeError(message)
