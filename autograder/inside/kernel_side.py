"""The kernel's half of the trusted tests: it answers the grader's requests.

The grader (``autograder.trusted``) sends this file's source, after ``codec.py``'s, in one
cell before its first request of each notebook; both are executed in one private
namespace of the kernel (``__kl_grader``), not in the notebook's globals, so the student's
code never appears to call them and they never appear as the student's code.

``install`` registers the comm target ``COMM_TARGET``. The grader then opens one comm per
notebook and sends each request as one comm message ``{"id": ..., "op": ..., "args":
[...]}``; the answer is one comm message ``{"id": ..., "outcome": ...}`` carrying encoded
data. A comm message is handled by the kernel's message loop without IPython's
``run_cell`` (no compiling, no history, no pre/post-execute hooks), which made a test's
call of a student function about three times cheaper than executing a cell for it.
Requests:

* ``call(name, payload, forbidden)``: one test call of a student function, watched for
  delegation when ``forbidden`` is a list of routines;
* ``own_work(name, forbidden)``: the static own-work check of a function;
* ``value(name)``: a global of the notebook (a module or function only by name).
"""

if __name__ != "__kl_grader__":  # in the kernel, codec.py ran first in this namespace
    from autograder.inside.codec import decode, encode

import json as _json
import sys as _sys

COMM_TARGET = "kl_course_grader"

SLOT = {}  # the notebook's namespace and the own-work checks, set once by install()


def install(user_ns, checks_source):
    checks = {"__name__": "__kl_grader_checks__"}
    exec(compile(checks_source, "<kl-grader: own-work checks>", "exec"), checks)
    SLOT.update(user_ns=user_ns, checks=checks)
    from IPython import get_ipython

    kernel = getattr(get_ipython(), "kernel", None)
    if kernel is not None:  # in a kernel (the tests also run this side in-process)
        kernel.comm_manager.register_target(COMM_TARGET, open_channel)


def open_channel(comm, open_msg):
    comm.on_msg(lambda msg: comm.send(answer(msg["content"]["data"])))
    comm.send({"opened": True})


def answer(request):
    """The reply to one request: never raises, whatever the student's code does.

    BaseException included: the grader interrupts a call at its timeout
    (KeyboardInterrupt), and a student's ``sys.exit()`` must not end the kernel.
    """
    reply = {"id": request.get("id") if isinstance(request, dict) else None}
    try:
        reply["outcome"] = OPS[request["op"]](*request["args"])
    except BaseException as exc:
        reply["outcome"] = {"raised": describe(exc)}
    return reply


def describe(exc):
    # the student's class name and message, and the built-in classes it derives from,
    # so that the tests can catch a subclass of ValueError as a ValueError
    try:
        message = str(exc)[:2000]
    except BaseException:
        message = ""
    kind = type(exc)
    return {"type": kind.__name__, "message": message,
            "builtins": [c.__name__ for c in kind.__mro__ if c.__module__ == "builtins"]}


def encoded(value):
    try:
        return {"value": encode(value, references=True)}
    except Exception as exc:
        return {"raised": describe(exc)}


def value(name):
    try:
        found = SLOT["user_ns"][name]
    except KeyError:
        return {"raised": describe(NameError(f"name {name!r} is not defined"))}
    return encoded(found)


def call(name, payload, forbidden):
    # one test call of a student function; with ``forbidden``, watched for delegation
    func = SLOT["user_ns"][name]
    args, kwargs = decode(_json.loads(payload))
    # the student's code is what was defined where the function was (the notebook)
    home = getattr(func, "__globals__", SLOT["user_ns"])
    watch = None if forbidden is None else SLOT["checks"]["CallWatch"](tuple(forbidden), home)
    figures = _open_figures()
    try:
        if watch is None:
            result = func(*args, **kwargs)
        else:
            with watch:
                result = func(*args, **kwargs)
        outcome = encoded(result)
    except BaseException as exc:  # KeyboardInterrupt at the timeout, SystemExit, ...
        outcome = {"raised": describe(exc)}
    finally:
        _close_new_figures(figures)
    outcome["delegations"] = [] if watch is None else list(watch.found)
    return outcome


def own_work(name, forbidden):
    return encoded(SLOT["checks"]["delegations"](SLOT["user_ns"][name], tuple(forbidden)))


def _open_figures():
    pyplot = _sys.modules.get("matplotlib.pyplot")
    return None if pyplot is None else set(pyplot.get_fignums())


def _close_new_figures(before):
    # a figure drawn during a test's call is not the notebook's: executed as a cell, the
    # call's figures were shown in a discarded output and closed; here they would
    # otherwise appear under the student's next cell
    pyplot = _sys.modules.get("matplotlib.pyplot")
    if pyplot is None:
        return
    try:
        for number in set(pyplot.get_fignums()) - (before or set()):
            pyplot.close(number)
    except Exception:
        pass


OPS = {"call": call, "own_work": own_work, "value": value}
