"""Argument checks shared by every module of kl_helpers (private: not part of the API).

Each check raises ``ValueError`` whose message names the argument and the problem, and
returns the checked value in the form the caller computes with (a float, an int, a new
float64 array). The public face of the distribution check is
`kl_helpers.divergences.validate_distribution`.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

# ---------------------------------------------------------------------------------------
# Locating the offending entry of an array
# ---------------------------------------------------------------------------------------


def _format_index(index: tuple[int, ...]) -> str:
    # A 1-D index reads better as "2" than as "(2,)"
    return str(index[0]) if len(index) == 1 else str(index)


def first_offender(arr: np.ndarray, mask: np.ndarray) -> tuple[str, float]:
    """``(" at index i", value)`` for the first True entry of ``mask`` ("" for a 0-d array)."""
    index = tuple(int(i) for i in np.argwhere(mask)[0])
    location = f" at index {_format_index(index)}" if index else ""
    return location, float(arr[index])


def reject_where(arr: np.ndarray, name: str, bad: np.ndarray, requirement: str) -> None:
    """Reject ``arr`` if ``bad`` (a mask of its shape) has a True entry.

    Raises:
        ValueError: "{name} must be {requirement}, got {value} at index i", for the first
            True entry of ``bad``.
    """
    if bad.any():
        location, value = first_offender(arr, bad)
        raise ValueError(f"{name} must be {requirement}, got {value!r}{location}")


# ---------------------------------------------------------------------------------------
# Scalars
# ---------------------------------------------------------------------------------------


def _is_integer(x) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def real_scalar(x, name: str, *, low=None, high=None, low_open=False, high_open=False) -> float:
    """``x`` as a float: a finite real number (not a bool) within the optional bounds.

    Raises:
        ValueError: "{name} must be a finite number" followed by the bounds ("> 0",
            "in [0, 1]") when ``x`` is not a finite real number or breaks a one-sided
            bound; "{name} must lie in [low, high]" when it is outside a two-sided one.
    """
    if low is not None and high is not None:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        requirement = f" in {interval}"
    elif low is not None:
        requirement = f" {'>' if low_open else '>='} {low:g}"
    elif high is not None:
        requirement = f" {'<' if high_open else '<='} {high:g}"
    else:
        requirement = ""
    if isinstance(x, bool) or not isinstance(x, numbers.Real) or not math.isfinite(x):
        raise ValueError(f"{name} must be a finite number{requirement}, got {x!r}")
    value = float(x)
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        if low is not None and high is not None:
            raise ValueError(f"{name} must lie in {interval}, got {value!r}")
        raise ValueError(f"{name} must be a finite number{requirement}, got {value!r}")
    return value


def positive_scalar(x, name: str) -> float:
    """``x`` as a float, a finite number > 0; else ValueError (see `real_scalar`)."""
    return real_scalar(x, name, low=0.0, low_open=True)


def nonnegative_scalar(x, name: str) -> float:
    """``x`` as a float, a finite number >= 0; else ValueError (see `real_scalar`)."""
    return real_scalar(x, name, low=0.0)


def unit_fraction(x, name: str) -> float:
    """``x`` as a float strictly between 0 and 1 (a clip range, a shrink factor).

    Raises:
        ValueError: "{name} must lie in (0, 1)", or "must be a finite number in (0, 1)"
            for a non-number.
    """
    return real_scalar(x, name, low=0.0, high=1.0, low_open=True, high_open=True)


def integer_at_least(x, name: str, minimum: int, reason: str = "") -> int:
    """``x`` as an int: an integer (not a bool, not a float) >= ``minimum``.

    Raises:
        ValueError: "{name} must be an integer >= {minimum}{reason}, got {x!r}".
    """
    if not _is_integer(x) or x < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}{reason}, got {x!r}")
    return int(x)


def random_seed(x, name: str = "seed") -> int:
    """``x`` as an int >= 0, the seed of a new ``np.random.default_rng``.

    Raises:
        ValueError: "{name} must be a non-negative integer ...", also for bools, floats,
            None and Generator objects.
    """
    if not _is_integer(x) or x < 0:
        raise ValueError(
            f"{name} must be a non-negative integer (it is passed to np.random.default_rng, "
            f"so that the same seed gives the same draws), got {x!r}"
        )
    return int(x)


def log_of_base(base) -> float | None:
    """``ln(base)``, the factor that turns nats into units of ``base``; None for None (nats).

    Raises:
        ValueError: "base must be a finite number > 0 and != 1 (or None for nats)".
    """
    if base is None:
        return None
    if (
        isinstance(base, bool)
        or not isinstance(base, numbers.Real)
        or not math.isfinite(base)
        or base <= 0
        or base == 1
    ):
        raise ValueError(
            f"base must be a finite number > 0 and != 1 (or None for nats), got {base!r}"
        )
    return math.log(base)


# ---------------------------------------------------------------------------------------
# Arrays of numbers
# ---------------------------------------------------------------------------------------


def as_float64(x, name: str, *, copy: bool) -> np.ndarray:
    """``x`` as a float64 array: new, or ``x`` itself if it is one already and not ``copy``.

    The conversion that starts `float_array`, without its checks of the values.

    Raises:
        ValueError: naming ``name``, if ``x`` is not numeric (strings, None, ragged
            lists, complex numbers).
    """
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as exc:  # ragged nested lists fail here
        raise ValueError(f"{name} must be an array of real numbers; numpy says: {exc}") from exc
    if arr.dtype.kind not in "biufO":
        raise ValueError(
            f"{name} must contain real numbers, got an array of dtype {arr.dtype} "
            f"(from {type(x).__name__})"
        )
    if arr.dtype.kind == "O":
        # numpy would turn None into NaN and "0.5" into 0.5; neither is a number here
        for index, value in np.ndenumerate(arr):
            if not isinstance(value, numbers.Real):
                location = f" at index {_format_index(index)}" if index else ""
                raise ValueError(
                    f"{name} must contain real numbers, got {value!r} "
                    f"({type(value).__name__}){location}"
                )
    return np.array(arr, dtype=np.float64, copy=True if copy else None)


def _reject_empty_nan_inf(arr: np.ndarray, name: str, allow_neg_inf: bool = False) -> None:
    """The entry checks of `float_array`, in the order its Raises section lists them."""
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape}); it needs at least one entry")
    nan = np.isnan(arr)
    if nan.any():
        location, _ = first_offender(arr, nan)
        raise ValueError(f"{name} contains NaN{location}")
    infinite = np.isposinf(arr) if allow_neg_inf else np.isinf(arr)
    if infinite.any():
        location, value = first_offender(arr, infinite)
        hint = "; only -inf is allowed (it means probability 0)" if allow_neg_inf else ""
        raise ValueError(f"{name} has an infinite entry {value}{location}{hint}")


def _reject_negative(arr: np.ndarray, name: str) -> None:
    """The check of `nonnegative_array` that follows those of `float_array`."""
    negative = arr < 0
    if negative.any():
        location, value = first_offender(arr, negative)
        n_negative = int(negative.sum())
        extra = f" ({n_negative} negative entries in total)" if n_negative > 1 else ""
        raise ValueError(
            f"{name} has a negative entry {value!r}{location}{extra}; probabilities must be >= 0"
        )


def float_array(x, name: str, *, allow_neg_inf: bool = False) -> np.ndarray:
    """``x`` as a new float64 array of finite real numbers, with at least one entry.

    Every array argument of the package passes through here first.

    Raises:
        ValueError: naming ``name``, if ``x`` is not numeric (strings, None, ragged
            lists, complex numbers), is empty, contains NaN, or contains +-inf (-inf is
            allowed when ``allow_neg_inf`` is true, as for logits).
    """
    arr = as_float64(x, name, copy=True)
    _reject_empty_nan_inf(arr, name, allow_neg_inf)
    return arr


def nonnegative_array(x, name: str, *, copy: bool = True) -> np.ndarray:
    """`float_array` whose entries are all >= 0 (a finite measure).

    With ``copy=False`` a float64 array comes back as itself, for callers that only
    read it.

    Raises:
        ValueError: as `float_array`, or "{name} has a negative entry ..." with the first
            one's value and index and how many there are.
    """
    arr = as_float64(x, name, copy=copy)
    # Two passes recognise valid input: the minimum is NaN if an entry is NaN, and < 0 if
    # one is negative or -inf; a +inf entry makes the sum +inf. Only invalid input goes
    # through the entry-by-entry checks, which name its first problem.
    with np.errstate(all="ignore"):  # a sum may overflow; the checks below decide
        valid = arr.size > 0 and arr.min() >= 0 and np.isfinite(arr.sum())
    if not valid:
        _reject_empty_nan_inf(arr, name)
        _reject_negative(arr, name)
    return arr


def positive_array(x, name: str, *, what: str = "a standard deviation") -> np.ndarray:
    """`float_array` whose entries are all > 0.

    Raises:
        ValueError: as `float_array`, or "{name} must be > 0 ({what}), got ..." naming the
            first offending entry.
    """
    arr = float_array(x, name)
    reject_where(arr, name, ~(arr > 0), f"> 0 ({what})")
    return arr


def probability_array(x, name: str) -> np.ndarray:
    """`float_array` whose entries all lie in [0, 1] (each entry one probability).

    Raises:
        ValueError: as `float_array`, or "{name} must be a probability in [0, 1], got ...".
    """
    arr = float_array(x, name)
    reject_where(arr, name, (arr < 0) | (arr > 1), "a probability in [0, 1]")
    return arr


# ---------------------------------------------------------------------------------------
# Distributions
# ---------------------------------------------------------------------------------------


def _format_sum(total: float) -> str:
    text = f"{total:.15g}"
    # Keep "sums to 1, not 1" from happening when atol is tiny
    return text if text != "1" else repr(total)


def distribution(x, name: str, *, axis: int = -1, atol: float, copy: bool = True) -> np.ndarray:
    """`nonnegative_array` of at least one dimension summing to 1 within ``atol`` along ``axis``.

    The implementation of `kl_helpers.divergences.validate_distribution`; nothing is
    ever renormalised. With ``copy=False`` a float64 array comes back as itself, for
    callers that only read it.

    Raises:
        ValueError: as `nonnegative_array`; "{name} is a 0-d scalar"; "{name} sums to s
            along axis a ..., not 1"; for an invalid ``axis`` (see `normalize_axis`) or an
            ``atol`` that is not a finite number >= 0.
    """
    atol = nonnegative_scalar(atol, "atol")
    arr = as_float64(x, name, copy=copy)
    if arr.size > 0 and arr.ndim > 0 and _is_integer(axis) and -arr.ndim <= axis < arr.ndim:
        # Two passes recognise valid input: the minimum (NaN if an entry is NaN, < 0 if
        # one is negative or -inf) and the sums that the sum check needs anyway (a +inf
        # entry makes its sum +inf, which fails the check). Only invalid input goes
        # through the checks one by one below, which name its first problem.
        with np.errstate(all="ignore"):  # inf - inf in a sum; the checks below decide
            if arr.min() >= 0 and np.all(np.abs(arr.sum(axis=axis) - 1.0) <= atol):
                return arr
    _reject_empty_nan_inf(arr, name)
    _reject_negative(arr, name)
    if arr.ndim == 0:
        raise ValueError(
            f"{name} is a 0-d scalar ({float(arr)!r}), not a distribution; "
            "pass a 1-D array of probabilities (one per outcome)"
        )
    outcome_axis = normalize_axis(axis, arr.ndim, name)
    sums = arr.sum(axis=outcome_axis)
    off = ~(np.abs(sums - 1.0) <= atol)
    if off.any():
        if sums.ndim == 0:
            where, total = "", float(sums)
        else:
            location, total = first_offender(sums, off)
            where = f" (batch entry{location})"
        raise ValueError(
            f"{name} sums to {_format_sum(total)} along axis {axis}{where}, not 1 "
            f"(tolerance {atol:g}); KL divergence needs normalised distributions, "
            "this function never renormalises"
        )
    return arr


def distribution_pair(p, q, *, axis: int = -1, atol: float, q_atol: float | None = None,
                      require_normalized: bool = True, vectors: bool = False,
                      copy: bool = True):
    """``(p, q)`` checked one after the other, then against each other (`check_pair`).

    Each is a `distribution` (``q`` with ``q_atol`` when given, else ``atol``), or only a
    `nonnegative_array` when ``require_normalized`` is false; with ``vectors`` each must
    also be 1-D. ``copy=False`` passes float64 arrays through uncopied, for callers that
    only read them.

    Raises:
        ValueError: as `distribution` (or `nonnegative_array`), `one_dimensional` and
            `check_pair`, naming ``p`` or ``q``.
    """
    checked = []
    for x, name, tol in ((p, "p", atol), (q, "q", atol if q_atol is None else q_atol)):
        if require_normalized:
            arr = distribution(x, name, axis=axis, atol=tol, copy=copy)
        else:
            arr = nonnegative_array(x, name, copy=copy)
        checked.append(one_dimensional(arr, name) if vectors else arr)
    p_arr, q_arr = checked
    check_pair(p_arr, q_arr, axis, ("p", "q"))
    return p_arr, q_arr


# ---------------------------------------------------------------------------------------
# Axes and shapes
# ---------------------------------------------------------------------------------------


def normalize_axis(axis, ndim: int, name: str) -> int:
    """``axis`` as an index in ``0 .. ndim-1`` of the array called ``name``.

    Raises:
        ValueError: if ``axis`` is not an integer, the array is 0-d, or ``axis`` is out
            of range for it.
    """
    if not _is_integer(axis):
        raise ValueError(f"axis must be an integer, got {axis!r}")
    if ndim == 0:
        raise ValueError(f"{name} is 0-d (a scalar), so it has no axis {axis}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis {axis} is out of range for {name}, which has {ndim} dimension(s)")
    return int(axis) % ndim


def one_dimensional(arr: np.ndarray, name: str,
                    what: str = "one probability per outcome") -> np.ndarray:
    """``arr`` itself, if it is 1-D.

    Raises:
        ValueError: "{name} must be 1-D ({what}), got shape (...)".
    """
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D ({what}), got shape {arr.shape}")
    return arr


def check_shape(arr: np.ndarray, name: str, shape: tuple[int, ...], why: str = "") -> None:
    """Require ``arr.shape == shape``.

    Raises:
        ValueError: "{name} must have shape {shape}{why}, got shape (...)".
    """
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}{why}, got shape {arr.shape}")


def index_array(x, name: str, count: int, *, shape: tuple[int, ...] | None = None,
                why: str = "") -> np.ndarray:
    """``x`` as a new int64 array of indices into ``count`` items (actions, states, classes).

    Integer arrays and arrays of whole floating-point numbers (``[0, 2]``, ``[1.0]``) are
    accepted; booleans, strings and fractions are not. With ``shape``, the array must have
    that shape (``why`` says why, as for ``check_shape``); without it, it must have at
    least one entry.

    Raises:
        ValueError: "{name} must be integer indices, got dtype ...", "{name} must have
            shape ...", "{name} must have at least one entry", "{name} must be whole
            numbers (indices), got 0.5 at index i" or "{name} must be integers in
            0 .. {count - 1}, got 7 at index i".
    """
    arr = np.asarray(x)
    if arr.dtype.kind not in "iuf":  # "b" (booleans) is not among them
        raise ValueError(f"{name} must be integer indices, got dtype {arr.dtype}")
    if shape is not None:
        check_shape(arr, name, shape, why)
    elif arr.size == 0:
        raise ValueError(f"{name} must have at least one entry")
    if arr.dtype.kind == "f":
        reject_where(arr, name, ~(np.isfinite(arr) & (arr == np.round(arr))),
                     "whole numbers (indices)")
    indices = arr.astype(np.int64)
    outside = (indices < 0) | (indices >= count)
    if outside.any():
        location, value = first_offender(indices, outside)
        raise ValueError(f"{name} must be integers in 0 .. {count - 1}, "
                         f"got {int(value)}{location}")
    return indices


def same_shape(arrays: dict[str, np.ndarray]) -> None:
    """Require every array of ``{name: array}`` to have the same shape (no broadcasting).

    Raises:
        ValueError: "a has shape (2,), b has (3,); they must have the same shape".
    """
    shapes = [(name, np.shape(a)) for name, a in arrays.items()]
    if len({shape for _, shape in shapes}) > 1:
        (first, first_shape), *rest = shapes
        others = "".join(f", {name} has {shape}" for name, shape in rest)
        raise ValueError(
            f"{first} has shape {first_shape}{others}; they must have the same shape"
        )


def broadcast_shape(arrays: dict[str, np.ndarray]) -> tuple[int, ...]:
    """The shape that the arrays of ``{name: array}`` broadcast to.

    Raises:
        ValueError: "shapes cannot be broadcast together: a (2,), b (3,)".
    """
    try:
        return np.broadcast_shapes(*(a.shape for a in arrays.values()))
    except ValueError as exc:
        shapes = ", ".join(f"{name} {a.shape}" for name, a in arrays.items())
        raise ValueError(f"shapes cannot be broadcast together: {shapes}") from exc


def check_pair(a: np.ndarray, b: np.ndarray, axis: int, names: tuple[str, str],
               what: str = "outcomes") -> None:
    """Require two arrays to describe the same ``what`` along ``axis`` and to broadcast.

    The outcome axis is compared before broadcasting: a size-1 outcome axis would
    otherwise broadcast against ``k`` outcomes and silently compare different things.
    0-d inputs (allowed only for elementwise use) broadcast like ordinary scalars.

    Raises:
        ValueError: naming both arrays and their shapes, if ``axis`` points at different
            dimensions of the two, their sizes along it differ, or they do not broadcast.
    """
    name_a, name_b = names
    if a.ndim > 0 and b.ndim > 0:
        axis_a = normalize_axis(axis, a.ndim, name_a)
        axis_b = normalize_axis(axis, b.ndim, name_b)
        if axis_a - a.ndim != axis_b - b.ndim:
            raise ValueError(
                f"axis={axis} points at different dimensions of {name_a} (shape {a.shape}) "
                f"and {name_b} (shape {b.shape}) after broadcasting; use a negative axis "
                "or give both the same number of dimensions"
            )
        if a.shape[axis_a] != b.shape[axis_b]:
            raise ValueError(
                f"{name_a} and {name_b} have different numbers of {what} along axis "
                f"{axis}: {name_a} has {a.shape[axis_a]} (shape {a.shape}), {name_b} has "
                f"{b.shape[axis_b]} (shape {b.shape}); the axis of {what} must match "
                "exactly, it is never broadcast"
            )
    try:
        np.broadcast_shapes(a.shape, b.shape)
    except ValueError as exc:
        raise ValueError(
            f"{name_a} with shape {a.shape} and {name_b} with shape {b.shape} cannot be "
            "broadcast together"
        ) from exc
