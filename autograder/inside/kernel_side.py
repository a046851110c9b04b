"""The kernel's half of the trusted tests: it answers the grader's requests.

The grader (``autograder.trusted``) sends this file's source, after ``codec.py``'s, with
its first request of each notebook; both are executed in one private namespace of the
kernel (``__kl_grader``), not in the notebook's globals, so the student's code never
appears to call them and they never appear as the student's code. Each request is one
call (``call``, ``own_work``, ``emit_value``) whose answer is one display message of
type ``RESULT_MIME`` carrying encoded data.
"""

if __name__ != "__kl_grader__":  # in the kernel, codec.py ran first in this namespace
    from autograder.inside.codec import decode, encode

import json as _json

RESULT_MIME = "application/vnd.kl-course.result+json"

SLOT = {}  # the notebook's namespace and the own-work checks, set once by install()


def install(user_ns, checks_source):
    checks = {"__name__": "__kl_grader_checks__"}
    exec(compile(checks_source, "<kl-grader: own-work checks>", "exec"), checks)
    SLOT.update(user_ns=user_ns, checks=checks)


def emit(outcome):
    from IPython.display import display
    display({RESULT_MIME: outcome}, raw=True)


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
        emit({"value": encode(value, references=True)})
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
        outcome = {"value": encode(value, references=True)}
    except Exception as exc:
        outcome = {"raised": describe(exc)}
    outcome["delegations"] = [] if watch is None else list(watch.found)
    emit(outcome)


def own_work(name, forbidden):
    emit_value(SLOT["checks"]["delegations"](SLOT["user_ns"][name], tuple(forbidden)))
