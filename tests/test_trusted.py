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
    """The kernel side with ``functions`` as the notebook's namespace."""
    import inspect

    from kl_helpers import checks

    kernel = _kernel_side()
    kernel["install"](functions, inspect.getsource(checks))
    return kernel


def _ask(kernel, op: str, *args):
    """A request's outcome as the grader receives it (through JSON, as jupyter carries it)."""
    reply = kernel["answer"](json.loads(json.dumps({"id": 7, "op": op, "args": list(args)})))
    assert reply["id"] == 7
    return json.loads(json.dumps(reply["outcome"]))


def test_a_students_exception_subclass_is_caught_as_its_builtin_base():
    """``except ValueError`` in a test catches the student's ValueError subclass."""
    def kl_divergence(p, q):
        raise InvalidDistributionError("p has a negative entry")

    kernel = _kernel_with({"kl_divergence": kl_divergence})
    outcome = _ask(kernel, "call", "kl_divergence",
                   json.dumps(encode([[[-1.0, 2.0], [0.5, 0.5]], {}])), None)
    with pytest.raises(ValueError, match="raised InvalidDistributionError: p has a negative"):
        _outcome_value(outcome, "kl_divergence(...)")


@pytest.mark.parametrize("raised, expected", [
    (KeyError("k"), KeyError), (ZeroDivisionError(), ArithmeticError),
    (StopIteration(), Exception), (UnicodeDecodeError("utf-8", b"", 0, 1, "x"), ValueError),
])
def test_the_nearest_constructible_builtin_is_raised(raised, expected):
    def student():
        raise raised

    kernel = _kernel_with({"student": student})
    outcome = _ask(kernel, "call", "student", json.dumps(encode([[], {}])), None)
    with pytest.raises(expected) as info:
        _outcome_value(outcome, "student(...)")
    assert not isinstance(info.value, StopIteration)  # it would end a loop in the test silently


def test_a_watched_call_reports_the_reference_it_ran():
    """Calls built from strings are seen when the watched function runs in the kernel."""
    import importlib

    def kl_divergence(p, q):
        return importlib.import_module("kl_" + "helpers").kl_divergence(p, q)

    kernel = _kernel_with({"kl_divergence": kl_divergence})
    payload = json.dumps(encode([[[0.5, 0.5], [0.9, 0.1]], {}]))
    # not watched: no assert_own_work yet
    assert _ask(kernel, "call", "kl_divergence", payload, None)["delegations"] == []
    outcome = _ask(kernel, "call", "kl_divergence", payload, ["scipy.special.rel_entr"])
    assert outcome["value"] == pytest.approx(0.5108256238)
    assert outcome["delegations"] == [
        "while the tests ran, your function 'kl_divergence' called the course's reference "
        "kl_helpers.divergences.kl_divergence"]


def test_an_unknown_name_comes_back_as_a_name_error():
    kernel = _kernel_with({"defined": 1.5})
    assert decode(_ask(kernel, "value", "defined")["value"]) == 1.5
    with pytest.raises(NameError):
        _outcome_value(_ask(kernel, "value", "missing"), "the name 'missing'")


@pytest.mark.parametrize("stop", [SystemExit("bye"), KeyboardInterrupt()])
def test_a_call_that_exits_or_is_interrupted_is_answered(stop):
    """sys.exit() in a student's function, or the interrupt at a call's timeout, becomes
    the call's error: the kernel side still answers, and the kernel goes on."""
    def student():
        raise stop

    outcome = _ask(_kernel_with({"student": student}), "call", "student",
                   json.dumps(encode([[], {}])), None)
    with pytest.raises(StudentCodeError, match=f"raised {type(stop).__name__}"):
        _outcome_value(outcome, "student(...)")


@pytest.mark.parametrize("request_", [{"op": "delete_everything", "args": []},
                                      {"args": []}, ["call"], None])
def test_a_malformed_request_gets_an_error_outcome(request_):
    kernel = _kernel_with({})
    outcome = json.loads(json.dumps(kernel["answer"](request_)["outcome"]))
    assert set(outcome) == {"raised"}


def test_figures_drawn_in_a_call_are_closed_and_the_notebooks_are_kept():
    """A figure the student's function draws while a test calls it is not left open, where
    the notebook's next plotting cell would draw on it; figures the notebook made stay."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def draws(x):
        plt.figure()
        plt.plot([0, 1], [x, 0])
        return x

    plt.close("all")
    notebook_figure = plt.figure()
    try:
        outcome = _ask(_kernel_with({"draws": draws}), "call", "draws",
                       json.dumps(encode([[2.0], {}])), None)
        assert decode(outcome["value"]) == 2.0
        assert plt.get_fignums() == [notebook_figure.number]
    finally:
        plt.close("all")


# -- failed tests explained by the self-check (no kernel: the kernel side runs here) --------

def _swapped_kl(p, q):
    """D(Q || P): the arguments swapped, a mistake the self-check names."""
    from kl_helpers import divergences
    return float(divergences.kl_divergence(q, p))


def _correct_kl(p, q):
    from kl_helpers import divergences
    return float(divergences.kl_divergence(p, q))


class _InProcessRunner(TrustedTestExecute):
    """The executor with the kernel side running in this process; counts the calls made."""

    def __init__(self, functions: dict, assignment: str = "01_definition"):
        super().__init__()
        self.start_notebook({"nbgrader": {"assignment": assignment}})
        self.kernel = _kernel_with(functions)
        self.calls: list[str] = []

    def remote(self, request, *, what):
        self.calls.append(what)
        return _ask(self.kernel, request["op"], *request["args"])


def _test_cell(source: str, grade_id: str = "ex2_running_example_value"):
    import nbformat
    return nbformat.v4.new_code_cell(source, metadata={"nbgrader": {
        "grade": True, "solution": False, "grade_id": grade_id, "points": 1}})


SEED_TEST = ('"""Check the running example."""\n'
             'value = kl_divergence([0.4, 0.3, 0.2, 0.1], [0.3, 0.3, 0.3, 0.1])\n'
             'assert abs(value - 0.0339798) < 1e-6, f"expected 0.0339798 nats, got {value}"\n')


def _error(cell) -> dict:
    errors = [o for o in cell.outputs if o.output_type == "error"]
    assert len(errors) == 1
    return errors[0]


def test_a_failed_test_gets_the_self_checks_explanation_in_its_words():
    from kl_helpers.selfcheck import diagnose

    runner = _InProcessRunner({"kl_divergence": _swapped_kl})
    cell = _test_cell(SEED_TEST)
    runner._run_test_here(cell)
    before = _error(cell)["evalue"]
    assert before.startswith("expected 0.0339798 nats, got 0.0353")
    runner._explain_failures()
    # the self-check's verdict on the same function called directly, no proxy between
    expected = diagnose(_named(_swapped_kl, "kl_divergence"), "01_definition")
    assert expected is not None and not expected
    error = _error(cell)
    assert error["evalue"] == (before + "\n\nThe self-check for kl_divergence found: "
                               + expected.message)
    assert "D(Q || P) instead of D(P || Q)" in error["evalue"]
    assert "\n".join(error["traceback"]).endswith(expected.message)


def _named(function, name):
    def wrapper(*args, **kwargs):
        return function(*args, **kwargs)
    wrapper.__name__ = name
    return wrapper


def test_a_passing_test_costs_no_self_check():
    runner = _InProcessRunner({"kl_divergence": _correct_kl})
    cell = _test_cell(SEED_TEST)
    runner._run_test_here(cell)
    runner._explain_failures()
    assert not [o for o in cell.outputs if o.output_type == "error"]
    assert runner.calls == ["the name 'kl_divergence'", "kl_divergence(...)"]


def test_each_function_is_checked_once_per_notebook():
    runner = _InProcessRunner({"kl_divergence": _swapped_kl})
    cells = [_test_cell(SEED_TEST, "a"), _test_cell(SEED_TEST, "b")]
    for cell in cells:
        runner._run_test_here(cell)
    tests_calls = len(runner.calls)
    runner._explain_failures()
    check_calls = len(runner.calls) - tests_calls
    assert 0 < check_calls <= 12  # one self-check, however many tests failed
    texts = [_error(cell)["evalue"] for cell in cells]
    assert all("The self-check for kl_divergence found: " in t for t in texts)
    assert texts[0] == texts[1]


@pytest.mark.parametrize("source, why", [
    ('value = kl_divergence([0.5, 0.5], [0.9, 0.1])\nraise ValueError("not an assertion")\n',
     "an error that is not a failed assertion"),
    ("from kl_helpers.checks import DelegationError\n"
     "f = kl_divergence\nraise DelegationError('kl_divergence calls rel_entr')\n",
     "an own-work violation"),
    ('assert False, "kl_hand is wrong"\n', "no student function used"),
])
def test_only_failed_assertions_on_checked_functions_are_explained(source, why):
    runner = _InProcessRunner({"kl_divergence": _swapped_kl, "kl_hand": 0.1})
    cell = _test_cell(source)
    runner._run_test_here(cell)
    before = dict(_error(cell))
    calls = len(runner.calls)
    runner._explain_failures()
    assert dict(_error(cell)) == before, why
    assert len(runner.calls) == calls, why


def test_functions_without_a_self_check_here_are_not_checked():
    # kl_divergence has a self-check in 01, none in an assignment that registered none
    runner = _InProcessRunner({"kl_divergence": _swapped_kl}, assignment="99_other")
    cell = _test_cell(SEED_TEST)
    runner._run_test_here(cell)
    before = _error(cell)["evalue"]
    runner._explain_failures()
    assert _error(cell)["evalue"] == before


def test_a_function_not_implemented_for_the_check_is_not_explained():
    def kl_divergence(p, q):
        raise NotImplementedError()

    runner = _InProcessRunner({"kl_divergence": kl_divergence})
    cell = _test_cell('f = kl_divergence\nassert False, "the test failed"\n')
    runner._run_test_here(cell)
    runner._explain_failures()
    assert _error(cell)["evalue"] == "the test failed"
    assert len(runner.calls) > 1  # the check ran, and said only "not implemented"


class _SlowKernelRunner(_InProcessRunner):
    """The self-check's first call runs past its timeout, which the executor records."""

    def __init__(self, functions, *, lost: bool):
        super().__init__(functions)
        self.lost = lost
        self.timeouts_seen: list = []

    def remote(self, request, *, what):
        if request["op"] == "call" and self._explaining:
            self.timeouts_seen.append(self.timeout)
            self.calls.append(what)
            if self.lost:
                from nbclient.exceptions import DeadKernelError
                raise DeadKernelError("Kernel died")
            self._cell_timeouts += 1  # what _async_handle_timeout does
            raise StudentCodeError("the notebook gave no result for kl_divergence(...)")
        return super().remote(request, what=what)

    _explaining = False

    def _explain_failures(self):
        self._explaining = True
        super()._explain_failures()


@pytest.mark.parametrize("lost", [False, True])
def test_a_check_that_times_out_or_loses_the_kernel_leaves_the_failure_alone(lost):
    functions = {"kl_divergence": _swapped_kl}
    runner = _SlowKernelRunner(functions, lost=lost)
    cell = _test_cell(SEED_TEST)
    runner._run_test_here(cell)
    before = dict(_error(cell))
    runner._explain_failures()
    assert dict(_error(cell)) == before
    assert runner._cell_timeouts == 0  # the notebook's status is not "timeout" for this
    assert runner.timeout == 30  # the cell timeout is back
    assert runner.timeouts_seen == [10]  # the budget: 10 s, then nothing more is tried


def test_no_check_runs_once_the_budget_is_spent(monkeypatch):
    import autograder.trusted as trusted

    monkeypatch.setattr(trusted, "DIAGNOSIS_BUDGET", 0.0)
    runner = _InProcessRunner({"kl_divergence": _swapped_kl})
    cell = _test_cell(SEED_TEST)
    runner._run_test_here(cell)
    before, calls = _error(cell)["evalue"], len(runner.calls)
    runner._explain_failures()
    assert _error(cell)["evalue"] == before and len(runner.calls) == calls


def test_no_check_runs_near_the_notebooks_deadline():
    """A notebook close to its deadline is not pushed past it by explaining its failures."""
    import time

    from autograder.trusted import DEADLINE_MARGIN

    runner = _InProcessRunner({"kl_divergence": _swapped_kl})
    runner.explain_until = time.time() + DEADLINE_MARGIN - 1
    cell = _test_cell(SEED_TEST)
    runner._run_test_here(cell)
    before, calls = _error(cell)["evalue"], len(runner.calls)
    runner._explain_failures()
    assert _error(cell)["evalue"] == before and len(runner.calls) == calls
    runner.explain_until = time.time() + DEADLINE_MARGIN + 60  # far enough: explained
    cell = _test_cell(SEED_TEST)
    runner._run_test_here(cell)
    runner._explain_failures()
    assert "The self-check for kl_divergence found: " in _error(cell)["evalue"]


# -- waiting on the kernel's sockets ----------------------------------------------------------

class _LateSignalSocket:
    """A socket whose message is there all along, but whose polls say so only from the
    ``signalled_on``-th on (a wake-up lost while the same socket sent); each poll that
    says nothing lasts its whole timeout, as a real one does."""

    def __init__(self, signalled_on: int) -> None:
        self.signalled_on, self.polls = signalled_on, []

    async def poll(self, timeout_ms):
        import asyncio

        self.polls.append(timeout_ms)
        if len(self.polls) >= self.signalled_on:
            return 1
        await asyncio.sleep(timeout_ms / 1000)
        return 0


def _waiting_on(socket):
    from autograder.trusted import SlicedWaitChannel

    channel = SlicedWaitChannel.__new__(SlicedWaitChannel)  # no zmq socket, no session
    channel.socket = socket

    async def receive():
        return {"msg_type": "execute_reply"}

    channel._recv = receive
    return channel


def test_a_message_that_arrived_unsignalled_is_taken_at_the_end_of_a_slice():
    """The wait for a cell's reply does not last the cell timeout when the reply is there."""
    import asyncio
    import time

    from autograder.trusted import POLL_SLICE

    socket = _LateSignalSocket(signalled_on=3)
    start = time.monotonic()
    reply = asyncio.run(_waiting_on(socket).get_msg(timeout=10.0))
    assert reply == {"msg_type": "execute_reply"}
    assert time.monotonic() - start < 10 * POLL_SLICE
    assert len(socket.polls) == 3 and max(socket.polls) <= POLL_SLICE * 1000


def test_with_nothing_to_take_the_wait_still_ends_at_its_timeout():
    import asyncio
    import time
    from queue import Empty

    socket = _LateSignalSocket(signalled_on=10**9)
    start = time.monotonic()
    with pytest.raises(Empty):
        asyncio.run(_waiting_on(socket).get_msg(timeout=0.35))
    assert 0.3 <= time.monotonic() - start < 0.8


def test_the_graders_kernel_client_waits_in_slices_on_shell_and_iopub():
    from autograder.trusted import PromptKernelClient, SlicedWaitChannel

    client = PromptKernelClient()
    assert client.shell_channel_class is SlicedWaitChannel
    assert client.iopub_channel_class is SlicedWaitChannel


def test_a_channel_connected_before_the_kernel_listens_retries_soon(tmp_path):
    """The grader's sockets retry a kernel that was not listening yet after RECONNECT_MS."""
    import asyncio

    import zmq
    import zmq.asyncio

    from autograder.trusted import RECONNECT_MS, PromptKernelClient

    context = zmq.asyncio.Context()
    client = PromptKernelClient(context=context, transport="ipc", ip=str(tmp_path / "k"),
                                shell_port=1, iopub_port=2)
    shell = client._create_connected_socket("shell", identity=b"grader")
    kernel = context.socket(zmq.ROUTER)

    async def exchange():
        kernel.bind(client._make_url("shell"))  # the kernel listens only now
        await shell.send(b"kernel_info_request")
        assert await kernel.poll(10_000), "the message never reached the late kernel"
        return await kernel.recv_multipart()

    try:
        assert shell.getsockopt(zmq.RECONNECT_IVL) == RECONNECT_MS < 100  # zmq's default
        assert shell.identity == b"grader" and shell.linger == 1000  # as jupyter_client's
        assert asyncio.run(exchange()) == [b"grader", b"kernel_info_request"]
    finally:
        shell.close(linger=0)
        kernel.close(linger=0)
        context.term()
