"""Run the test cells outside the student's kernel, so that tampering there cannot pass them.

nbgrader normally executes test cells in the same Python process as the
student's code, where ``builtins.abs = lambda x: 0``, a patched ``numpy.isclose``
or a replaced ``kl_helpers.kl_divergence`` makes every assertion pass.
``TrustedTestExecute`` executes the student's cells in the (sandboxed) kernel as
usual, but runs each test cell here, in the grading process, with its own
untouched builtins, numpy and ``kl_helpers``. A name the test uses that it did not
define itself is looked up in the student's kernel:

* a module is imported afresh here (the student's ``np`` becomes our ``numpy``);
* a function becomes a ``RemoteFunction``: calling it sends JSON-encoded arguments
  over a comm to the kernel side (``autograder.inside.kernel_side``), which calls the
  student's function there, and returns the JSON-decoded result, so only plain
  numbers, strings, lists and arrays ever come back. A call has the cell timeout and
  is interrupted at it, as a cell is;
* any other value is fetched as JSON in the same way.

The hidden tests' source is never sent to the student's kernel either.

When a test fails with an ``AssertionError`` (not an own-work violation) and used a
student function that has a self-check for this assignment
(``kl_helpers.selfcheck.GRADED_CHECKS``), the failure is explained: after the notebook's
last cell, each such function's self-check runs once (``selfcheck.diagnose``) and, when
it names a mistake, its explanation is appended to the error of every failed test that
used the function, in the words the student's own ``check(...)`` cell would print. Only
failures cost anything. The checks run once every cell has run, so a function with side
effects (a global random state, say) cannot change a later test's result; and a check
that fails, raises, or outlasts its time (``DIAGNOSIS_BUDGET``) leaves the original
failure as it was and never changes the notebook's status or score.
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
import time
import traceback
import uuid
from pathlib import Path
from queue import Empty

import nbformat
import zmq
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.channels import AsyncZMQSocketChannel
from jupyter_client.connect import channel_socket_types
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_core.utils import ensure_async, run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbgrader.preprocessors import Execute
from traitlets import Float, List, Type, Unicode

from kl_helpers import checks, selfcheck
from kl_helpers.checks import DelegationError, RemoteCallable, delegation_message

from .inside import codec, kernel_side
from .inside.codec import CodecError, Reference
from .inside.kernel_side import COMM_TARGET
from .job import INTERRUPT_IGNORED, KERNEL_DIED, Execution
from .policy import ALLOWED_MODULE_ROOTS


@functools.cache
def kernel_preamble() -> str:
    """Code that installs the kernel side in a private namespace (``__kl_grader``).

    Executed as a cell before the first request of each notebook: the codec (the same
    module the grader uses), the kernel side, then the own-work checks, all from their
    source; the kernel side then takes requests over a comm. The same text for every
    notebook a worker grades, so it is built once per process.
    """
    codec_source = inspect.getsource(codec)
    side_source = inspect.getsource(kernel_side)
    checks_source = inspect.getsource(checks)
    return (f"__kl_grader = {{'__name__': '__kl_grader__'}}\n"
            f"exec(compile({codec_source!r}, '<kl-grader: codec>', 'exec'), __kl_grader)\n"
            f"exec(compile({side_source!r}, '<kl-grader>', 'exec'), __kl_grader)\n"
            f"__kl_grader['install'](globals(), {checks_source!r})\n")


class StudentCodeError(RuntimeError):
    """The student's kernel could not answer (no result, unknown name, bad value)."""


def encode(value):
    """Test data for the kernel (see ``autograder.inside.codec``)."""
    try:
        return codec.encode(value)
    except TypeError:
        raise TypeError(f"cannot send a {type(value).__name__} to the student's kernel") from None


def decode(data):
    """Plain Python/numpy data from what the kernel sent: never a student object."""
    try:
        return codec.decode(data)
    except CodecError as exc:
        raise StudentCodeError(f"the kernel sent {exc}") from None


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
            {"op": "call", "args": [self.__name__, payload, forbidden]}, what=what)
        if outcome.get("delegations"):
            raise DelegationError(delegation_message(
                self.__name__, [str(item) for item in outcome["delegations"]]))
        result = _outcome_value(outcome, what)
        if isinstance(result, Reference):
            raise StudentCodeError(f"{self.__name__} returned a {result.kind}, not a value")
        return result

    def own_work_problems(self, forbidden: tuple[str, ...]) -> list[str]:
        forbidden = tuple(forbidden)
        key = (self.__name__, forbidden)
        if key not in self._runner.delegation_checks:
            outcome = self._runner.remote(
                {"op": "own_work", "args": [self.__name__, list(forbidden)]},
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

#: Seconds the self-checks explaining one notebook's failed tests may take in all: each of
#: their calls is interrupted when it would end later, and the explaining stops there
DIAGNOSIS_BUDGET = 10.0

#: Seconds before the notebook's deadline (``explain_until``) after which no self-check
#: starts a call: what remains of the grading (the gradebook, the feedback) needs them
DEADLINE_MARGIN = 10.0

#: Words that introduce a self-check's explanation in a failed test's error
DIAGNOSIS_INTRO = "The self-check for {name} found: "


#: Milliseconds before a kernel socket tries again to reach a kernel that was not
#: listening yet (zmq's default is 100, plus up to as much again at random)
RECONNECT_MS = 5

#: Seconds to wait for the IOPub message that shows a started kernel's IOPub is connected
IOPUB_CHECK = 0.05

#: Longest single wait on a kernel socket: a message whose arrival went unsignalled is
#: found at the end of the slice it arrived in
POLL_SLICE = 0.1


class SlicedWaitChannel(AsyncZMQSocketChannel):
    """jupyter_client's asynchronous channel, whose waits cannot outlast a message.

    A message can arrive on a socket without waking the wait for it: nbclient sends on the
    shell channel while it waits there for a cell's reply (it answers the kernel's Output
    widgets), and the reply that comes in meanwhile went unnoticed until the wait's
    timeout, the whole cell timeout, although it had arrived (about one notebook in 80 of
    01_definition stalled for the 10 s timeout at its sliders cell, then went on as if
    nothing had happened). Waiting in slices of ``POLL_SLICE`` looks at the socket again
    at the end of each slice; the timeout as a whole is unchanged.
    """

    async def get_msg(self, timeout: float | None = None) -> dict:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = math.inf if deadline is None else max(0.0, deadline - time.monotonic())
            if await self.socket.poll(int(min(left, POLL_SLICE) * 1000)):
                return await self._recv()
            if left <= POLL_SLICE:
                raise Empty


class PromptKernelClient(AsyncKernelClient):
    """jupyter_client's kernel client, told sooner that a started kernel is ready.

    ``wait_for_ready`` (jupyter_client 8.10) ends by draining IOPub until it stays silent
    for 0.2 s, and gives an IOPub message 0.2 s to show up after each kernel_info reply:
    at least 0.2 s of every notebook's start-up went to waiting. Nothing needs that
    drain: nbclient only reads IOPub messages whose parent is the cell it runs. Here the
    first IOPub message after a kernel_info reply is enough, and a lost one (sent before
    the subscription was in place) is asked for again after ``IOPUB_CHECK`` seconds.
    Its shell and IOPub channels wait in slices (``SlicedWaitChannel``).

    The channels connect as soon as the kernel is launched, usually before a new kernel
    has bound its sockets (a forked kernel binds them about 40 ms after the fork). zmq
    then tries again only after its reconnect interval, 100 to 200 ms: a tenth of a
    second of every notebook went to waiting with both processes idle. Here a socket
    tries again after ``RECONNECT_MS``.
    """

    shell_channel_class = Type(SlicedWaitChannel)
    iopub_channel_class = Type(SlicedWaitChannel)

    def _create_connected_socket(self, channel: str, identity: bytes | None = None):
        """jupyter_client 8.10's socket for ``channel``, with a short reconnect interval.

        The same steps as jupyter_client's own (linger, identity, curve keys, connect);
        the interval must be set before ``connect`` to apply to its retries.
        """
        url = self._make_url(channel)
        sock = self.context.socket(channel_socket_types[channel])
        sock.linger = 1000
        sock.setsockopt(zmq.RECONNECT_IVL, RECONNECT_MS)
        if identity:
            sock.identity = identity
        if self.curve_publickey is not None:
            sock.curve_secretkey = self.curve_secretkey
            sock.curve_publickey = self.curve_publickey
            sock.curve_serverkey = self.curve_publickey
        sock.connect(url)
        return sock

    async def _prompt_wait_for_ready(self, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (float("inf") if timeout is None else timeout)
        while True:
            self.kernel_info()
            try:
                reply = await ensure_async(self.shell_channel.get_msg(timeout=1))
            except Empty:
                reply = None
            if reply is not None and reply["msg_type"] == "kernel_info_reply":
                try:
                    await ensure_async(self.iopub_channel.get_msg(timeout=IOPUB_CHECK))
                except Empty:
                    pass  # IOPub not connected yet: ask again
                else:
                    self._handle_kernel_info_reply(reply)
                    return
            if not await self._async_is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout:g} seconds")

    wait_for_ready = _prompt_wait_for_ready


class TrustedTestExecute(Execute):
    """nbgrader's ``Execute``, with test cells run in the grading process (see module doc).

    It also gives up on a kernel that ignores the interrupt sent at a cell's timeout
    (a loop that catches KeyboardInterrupt): nbgrader would otherwise wait out the
    timeout again on every later cell, queued behind the loop. With ``record_dir`` set,
    it records what happened to each notebook (``job.Execution``: cells interrupted at
    the timeout, a kernel that died or stopped responding) in ``<notebook>.json`` there.
    """

    kernel_dirs = List(Unicode(), help="folders of kernelspecs searched first (the "
                                       "grader's sandbox kernel)").tag(config=True)
    record_dir = Unicode("", help="where to record each notebook's execution "
                                  "(empty: nowhere)").tag(config=True)
    explain_until = Float(0.0, help="the notebook's deadline (time.time()): no self-check "
                                    "explains a failure within DEADLINE_MARGIN seconds of "
                                    "it (0: no deadline)").tag(config=True)

    def create_kernel_manager(self):
        km = super().create_kernel_manager()
        if self.kernel_dirs:
            km.kernel_spec_manager = KernelSpecManager(
                kernel_dirs=[*self.kernel_dirs, *km.kernel_spec_manager.kernel_dirs])
        return km

    async def _async_handle_timeout(self, timeout, cell=None):
        await self._interrupt_at_timeout(timeout, "execute reply")
        try:
            # an interrupted cell replies at once (KeyboardInterrupt); drain that reply
            await ensure_async(self.kc.shell_channel.get_msg(timeout=INTERRUPT_GRACE))
        except Empty:
            raise _interrupt_ignored(timeout, cell) from None
        return {"content": {**self.error_on_timeout, "status": "error"}}

    async def _interrupt_at_timeout(self, timeout, waiting_for: str) -> None:
        """What a cell's timeout does, for a cell or a test's call: counted, interrupted."""
        self.log.error("Timeout waiting for %s (%is); interrupting", waiting_for, timeout)
        self._cell_timeouts += 1
        await ensure_async(self.km.interrupt_kernel())

    def start_notebook(self, resources=None) -> None:
        """Forget the previous notebook: what is kept per notebook starts empty here."""
        # functions and modules already looked up, and delegation verdicts (each saves a
        # kernel round trip); the comm to the kernel side, opened by the first request
        self.references: dict = {}
        self.delegation_checks: dict = {}
        self.watched: dict = {}  # per test cell: student function -> forbidden routines
        self._channel: str | None = None
        self._requests = 0
        self._cell_timeouts = 0
        # failed tests to explain after the last cell: (error output, student functions)
        self._assignment = str((resources or {}).get("nbgrader", {}).get("assignment", ""))
        self._unexplained: list[tuple[dict, tuple[str, ...]]] = []

    def preprocess(self, nb, resources=None, km=None):
        self.start_notebook(resources)
        ended_by = None
        try:
            return super().preprocess(nb, resources, km=km)
        except DeadKernelError:
            ended_by = KERNEL_DIED
            raise
        except CellTimeoutError:
            ended_by = INTERRUPT_IGNORED
            raise
        finally:
            self._record(resources, Execution(self._cell_timeouts, ended_by))

    def _record(self, resources, execution: Execution) -> None:
        if self.record_dir:
            name = (resources or {}).get("nbgrader", {}).get("notebook", "notebook")
            execution.save(Path(self.record_dir) / f"{name}.json")

    def preprocess_cell(self, cell, resources, index):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.get("cell_type") == "code" and meta.get("grade") and not meta.get("solution"):
            self._check_assign_resources(resources)
            self._index, self._test_cell = index, cell
            self._run_test_here(cell)
            done = cell, self.resources
        else:
            done = super().preprocess_cell(cell, resources, index)
        if index == len(self.nb.cells) - 1 and self._unexplained:
            # the last cell has run, the kernel is still there: explain the failures
            self._index, self._test_cell = index, self.nb.cells[index]
            self._explain_failures()
        return done

    # -- talking to the student's kernel ---------------------------------------------
    def remote(self, request: dict, *, what: str):
        """The kernel side's outcome for ``request`` (``kernel_side.answer``), as JSON data.

        ``what`` names the request in errors. Raises ``StudentCodeError`` when the kernel
        gives no answer, and what ``_ask`` raises (timeout, dead kernel).
        """
        if self._channel is None:
            self._open_channel(what)
        self._requests += 1
        request = {**request, "id": self._requests}
        for data in reversed(run_sync(self._ask)("comm_msg", {"comm_id": self._channel,
                                                              "data": request},
                                                 self._channel)):
            if isinstance(data, dict) and data.get("id") == request["id"] and "outcome" in data:
                return data["outcome"]
        raise StudentCodeError(f"the notebook gave no result for {what}")

    def _open_channel(self, what: str) -> None:
        """Install the kernel side (one cell), then open this notebook's comm to it."""
        # a plain cell built directly: new_code_cell would check it against the notebook
        # schema (through jsonschema)
        probe = nbformat.from_dict({
            "cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
            "source": kernel_preamble()})
        try:
            self.execute_cell(probe, self._index, store_history=False)
        finally:
            # nbclient stores the executed cell at its index: put the test cell back
            self.nb.cells[self._index] = self._test_cell
        errors = [o for o in probe.outputs if o.get("output_type") == "error"]
        if errors:
            raise _student_exception(errors[-1].get("ename", "Error"),
                                     errors[-1].get("evalue", ""), what)
        channel = uuid.uuid4().hex
        answers = run_sync(self._ask)("comm_open", {"comm_id": channel,
                                                    "target_name": COMM_TARGET, "data": {}},
                                      channel)
        if not any(isinstance(data, dict) and data.get("opened") for data in answers):
            raise StudentCodeError(f"the notebook gave no result for {what}")
        self._channel = channel

    async def _ask(self, msg_type: str, content: dict, comm_id: str) -> list:
        """Send one shell message; the data of the comm messages it caused, once it is done.

        Done is the kernel's "idle" status for the message. Like a cell, it gets the cell
        timeout: then the kernel is interrupted and the notebook counts a timed-out cell; a
        kernel still busy ``INTERRUPT_GRACE`` seconds later raises ``CellTimeoutError``, as
        does a cell whose kernel ignores the interrupt, and one that died raises
        ``DeadKernelError``.
        """
        message = self.kc.session.msg(msg_type, content)
        self.kc.shell_channel.send(message)
        parent = message["header"]["msg_id"]
        timeout = self._get_timeout(self._test_cell)
        deadline = None if timeout is None else time.monotonic() + timeout
        interrupted = False
        answers: list = []
        while True:
            left = math.inf if deadline is None else deadline - time.monotonic()
            if left <= 0:  # checked before each read: a flood of output cannot outlast it
                if interrupted:
                    raise _interrupt_ignored(timeout, self._test_cell)
                await self._interrupt_at_timeout(timeout, "a test's call")
                interrupted = True
                deadline = time.monotonic() + INTERRUPT_GRACE
                continue
            try:
                reply = await ensure_async(self.kc.iopub_channel.get_msg(timeout=min(1.0, left)))
            except Empty:
                await self._async_check_alive()  # DeadKernelError, as for a cell
                continue
            if reply["parent_header"].get("msg_id") != parent:
                continue  # a late message of an earlier request, say
            kind, body = reply["msg_type"], reply["content"]
            if kind == "comm_msg" and body.get("comm_id") == comm_id:
                answers.append(body.get("data"))
            elif kind == "status" and body.get("execution_state") == "idle":
                return answers

    def fetch(self, name: str):
        """The value of a global of the student's kernel, as trusted data."""
        if name in self.references:
            return self.references[name]
        try:
            data = _outcome_value(self.remote({"op": "value", "args": [name]},
                                              what=f"the name {name!r}"), f"the name {name!r}")
        except NameError:
            raise NameError(f"name {name!r} is not defined in your notebook") from None
        if isinstance(data, Reference) and data.kind == "module":
            if data.name.split(".")[0] not in ALLOWED_MODULE_ROOTS:
                raise StudentCodeError(f"the tests cannot use the module {data.name!r} that "
                                       f"your notebook calls {name!r}")
            try:
                self.references[name] = importlib.import_module(data.name)
            except ImportError:
                raise StudentCodeError(f"cannot use the module {data.name!r}") from None
            return self.references[name]
        if isinstance(data, Reference):
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
        except (CellTimeoutError, DeadKernelError):
            raise  # no kernel left for the other cells: the notebook ends here (preprocess)
        except Exception as exc:  # a failed test is an error output, as in the kernel
            error = exc
        if stdout.getvalue():
            cell.outputs.append(nbformat.v4.new_output(
                "stream", name="stdout", text=stdout.getvalue()))
        if error is not None:
            lines = traceback.format_exception_only(type(error), error)
            output = nbformat.v4.new_output(
                "error", ename=type(error).__name__, evalue=str(error),
                traceback=[line.rstrip("\n") for line in lines])
            cell.outputs.append(output)
            if isinstance(error, AssertionError) and not isinstance(error, DelegationError):
                self._remember_failure(output, namespace)

    # -- explaining failed tests with the self-checks ----------------------------------
    def _remember_failure(self, output, namespace: dict) -> None:
        """Keep a failed test's error for `_explain_failures` if a self-check can explain it."""
        names = tuple(dict.fromkeys(
            value.__name__ for value in namespace.values()
            if isinstance(value, RemoteFunction)
            and (self._assignment, value.__name__) in selfcheck.GRADED_CHECKS))
        if names:
            self._unexplained.append((output, names))

    def _explain_failures(self) -> None:
        """Append each failed test's self-check explanations to its error, in the check's words.

        Runs after the notebook's last cell, each self-check once per notebook, all within
        ``DIAGNOSIS_BUDGET`` and ending ``DEADLINE_MARGIN`` seconds before ``explain_until``;
        an error nothing explains is left exactly as it was.
        """
        deadline = time.monotonic() + DIAGNOSIS_BUDGET
        if self.explain_until:  # the whole notebook's deadline comes first
            left = self.explain_until - DEADLINE_MARGIN - time.time()
            deadline = min(deadline, time.monotonic() + left)
        verdicts: dict[str, str | None] = {}
        kernel_lost = False
        failures, self._unexplained = self._unexplained, []
        for output, names in failures:
            found = []
            for name in names:
                if name not in verdicts:
                    verdicts[name] = None
                    if not kernel_lost:
                        try:
                            verdicts[name] = self._diagnosis(name, deadline)
                        except _StopDiagnosis as stop:
                            kernel_lost = stop.kernel_lost
                            deadline = time.monotonic()  # no more calls in this notebook
                if verdicts[name]:
                    found.append(DIAGNOSIS_INTRO.format(name=name) + verdicts[name])
            if found:
                text = "\n\n" + "\n\n".join(found)
                output["evalue"] = output.get("evalue", "") + text
                output["traceback"] = [*output.get("traceback", []), *text.split("\n")]

    def _diagnosis(self, name: str, deadline: float) -> str | None:
        """The self-check's explanation of ``name``'s mistake, or None (passed, not run...)."""
        function = self.references.get(name)
        if not isinstance(function, RemoteFunction):
            return None
        self.watched = {}  # the self-check's calls are not the graded call: never watched
        try:
            verdict = selfcheck.diagnose(_DiagnosedFunction(function, self, deadline),
                                         self._assignment)
        except Exception:  # the check itself could not run: the failure stays as it is
            self.log.debug("no self-check explanation for %s", name, exc_info=True)
            return None
        if verdict is None or verdict or any(c.not_implemented for c in verdict.cases):
            return None
        return verdict.message


class _StopDiagnosis(BaseException):
    """Ends the explaining early: the time is up, or a call was interrupted or lost the kernel.

    A ``BaseException``, so that the self-check, which records a student's exception as a
    failed case and goes on, lets it through.
    """

    def __init__(self, kernel_lost: bool = False) -> None:
        super().__init__("kernel lost" if kernel_lost else "out of time")
        self.kernel_lost = kernel_lost


class _DiagnosedFunction:
    """A student function as its self-check calls it after the tests: timed, never counted.

    Each call gets the time left of the budget as its timeout (at most the cell timeout).
    A call interrupted at that timeout is not the notebook's timeout: the executor's count
    is put back and the explaining stops; a kernel that ignores the interrupt or dies ends
    it for the whole notebook.
    """

    def __init__(self, function: RemoteFunction, runner: TrustedTestExecute,
                 deadline: float) -> None:
        self._function, self._runner, self._deadline = function, runner, deadline
        self.__name__ = function.__name__

    def __call__(self, *args, **kwargs):
        runner = self._runner
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise _StopDiagnosis()
        timeout, interrupted = runner.timeout, runner._cell_timeouts
        if timeout and timeout > 0:
            runner.timeout = max(1, min(timeout, math.ceil(left)))
        try:
            value = self._function(*args, **kwargs)
        except (CellTimeoutError, DeadKernelError):
            raise _StopDiagnosis(kernel_lost=True) from None
        except Exception:
            if runner._cell_timeouts != interrupted:
                raise _StopDiagnosis() from None
            raise
        finally:
            runner.timeout = timeout
            runner._cell_timeouts = interrupted  # the explaining never makes a timeout
        return value


def _interrupt_ignored(timeout, cell) -> CellTimeoutError:
    """The error that ends a notebook whose kernel went on past the interrupt."""
    return CellTimeoutError.error_from_timeout_and_cell(
        "Cell execution timed out and the kernel ignored the interrupt", timeout, cell)


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
