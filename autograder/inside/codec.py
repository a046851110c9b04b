"""The one wire format between the trusted tests (host) and the student's kernel.

Both sides use this module: the grader imports it, and the kernel receives its source
(see ``autograder.trusted.kernel_preamble``), so the two ends cannot drift apart. Only
plain data crosses: ``None``, booleans, strings, integers, floats (non-finite ones as
``{"__float__": "inf"}``), lists, dicts (as key/value pairs) and numeric numpy arrays.
The kernel may also name a module or a function it holds (``Reference``): it never
sends the object itself.

:func:`decode` is strict: anything else raises ``CodecError``, so a student's object
can never come back to the tests as something that claims to equal everything.
"""

from __future__ import annotations

import math

MAX_DEPTH = 20
_NUMERIC_KINDS = "biuf"
_NON_FINITE = ("inf", "-inf", "nan")


class CodecError(ValueError):
    """The data does not have a shape this format allows."""


class Reference:
    """A module or function the kernel named instead of sending it (``kind``, ``name``)."""

    def __init__(self, kind: str, name: str) -> None:
        self.kind, self.name = kind, name

    def __repr__(self) -> str:
        return f"Reference({self.kind!r}, {self.name!r})"


def encode(value, depth: int = 0, *, references: bool = False):
    """``value`` as JSON-ready data; with ``references``, modules and functions by name.

    Raises:
        TypeError: the value is of a type the tests cannot compare.
        ValueError: it is nested more than ``MAX_DEPTH`` levels deep.
    """
    import types

    import numpy as np

    if depth > MAX_DEPTH:
        raise ValueError("value nested too deeply")
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        # float(): repr(np.float64('inf')) is 'np.float64(inf)', not 'inf'
        return float(value) if math.isfinite(value) else {"__float__": repr(float(value))}
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in _NUMERIC_KINDS:
            raise TypeError(f"array of dtype {value.dtype} cannot be compared")
        return {"__ndarray__": encode(value.tolist(), depth + 1), "dtype": str(value.dtype)}
    if isinstance(value, np.generic):
        return encode(value.item(), depth + 1, references=references)
    if isinstance(value, list | tuple):
        return [encode(v, depth + 1, references=references) for v in value]
    if isinstance(value, dict):
        return {"__dict__": [[encode(k, depth + 1, references=references),
                              encode(v, depth + 1, references=references)]
                             for k, v in value.items()]}
    if references and isinstance(value, types.ModuleType):
        return {"__module__": value.__name__}
    if references and callable(value):
        return {"__callable__": str(getattr(value, "__name__", "function"))}
    raise TypeError(f"a {type(value).__name__} cannot be checked; return numbers or arrays")


def decode(data):
    """Plain Python/numpy data (or a ``Reference``) from encoded ``data``; never an object.

    Raises:
        CodecError: ``data`` has a shape :func:`encode` never produces.
    """
    import numpy as np

    if data is None or isinstance(data, bool | str | int | float):
        return data
    if isinstance(data, list):
        return [decode(v) for v in data]
    if isinstance(data, dict):
        if "__float__" in data:
            text = str(data["__float__"])
            if text not in _NON_FINITE:
                raise CodecError(f"unexpected float {text!r}")
            return float(text)
        if "__ndarray__" in data:
            dtype = np.dtype(str(data["dtype"]))
            if dtype.kind not in _NUMERIC_KINDS:
                raise CodecError(f"unexpected dtype {dtype}")
            return np.asarray(decode(data["__ndarray__"]), dtype=dtype)
        if "__dict__" in data:
            return {_hashable(decode(k)): decode(v) for k, v in data["__dict__"]}
        if "__module__" in data:
            return Reference("module", str(data["__module__"]))
        if "__callable__" in data:
            return Reference("callable", str(data["__callable__"]))
    raise CodecError(f"data of an unexpected shape: {str(data)[:80]}")


def _hashable(key):
    return tuple(key) if isinstance(key, list) else key
