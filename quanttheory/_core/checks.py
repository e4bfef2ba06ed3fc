"""Errors and argument checks shared by every public function.

Every check raises :class:`InvalidArgument` with a message that echoes the
call, ``"mse: step=-0.1 must be a positive finite number"``, so that a user
who passes a wrong value sees the function, the argument and the value.
Checks never use ``assert``: asserts vanish under ``python -O``.
"""

from __future__ import annotations

import numbers
import operator

import numpy as np

from .errors import InvalidArgument, QuantTheoryError

__all__ = [
    "MODELS",
    "as_float_result",
    "check_bits",
    "check_choice",
    "check_finite_array",
    "check_model",
    "check_no_nan",
    "check_positive_array",
    "check_positive_int",
    "check_positive_scalar",
    "check_samples",
    "check_side",
    "non_finite_message",
    "sample_dtype",
    "show",
]

MODELS = ("exact", "additive")


def show(value) -> str:
    """Short repr of a value for an error message."""
    arr = np.asarray(value) if not isinstance(value, str) else None
    if arr is not None and arr.ndim > 0:
        if arr.size > 6:
            return f"array(shape={arr.shape}, dtype={arr.dtype})"
        return repr(arr.tolist())
    return repr(value.item() if isinstance(value, np.generic) else value)


def check_bits(func: str, bits, minimum: int = 1) -> int:
    """Return ``bits`` as an ``int`` >= ``minimum`` or raise."""
    if isinstance(bits, bool | np.bool_):
        raise InvalidArgument(f"{func}: bits={bits!r} must be an integer >= {minimum}")
    if not isinstance(bits, numbers.Integral):
        if isinstance(bits, numbers.Real) and float(bits).is_integer():
            bits = int(bits)
        else:
            raise InvalidArgument(
                f"{func}: bits={show(bits)} must be an integer >= {minimum}"
            )
    bits = operator.index(bits)
    if bits < minimum:
        raise InvalidArgument(f"{func}: bits={bits} must be an integer >= {minimum}")
    return bits


def _numeric_kind(value) -> bool:
    """True for real numbers and arrays of them (not str, bool or object)."""
    kind = np.asarray(value).dtype.kind
    return kind in "iuf"


def check_positive_array(func: str, name: str, value) -> np.ndarray:
    """Return ``value`` as a float64 array of positive finite numbers."""
    if not _numeric_kind(value):
        raise InvalidArgument(
            f"{func}: {name}={show(value)} must be a positive finite number"
        )
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidArgument(
            f"{func}: {name}={show(value)} must be a positive finite number"
        ) from None
    if arr.size == 0:
        raise InvalidArgument(f"{func}: {name} is empty; pass at least one value")
    bad = ~(np.isfinite(arr) & (arr > 0))
    if bad.any():
        first = arr[bad].flat[0] if arr.ndim else arr[()]
        what = "number" if arr.ndim == 0 else f"array (first bad value {first!r})"
        shown = show(value)
        raise InvalidArgument(
            f"{func}: {name}={shown} must be a positive finite {what}"
        )
    return arr


def check_positive_scalar(func: str, name: str, value) -> float:
    """Return ``value`` as a positive finite ``float`` or raise."""
    arr = check_positive_array(func, name, value)
    if arr.ndim != 0:
        raise InvalidArgument(f"{func}: {name}={show(value)} must be a scalar")
    return float(arr)


def check_finite_array(func: str, name: str, value) -> np.ndarray:
    """Return ``value`` as a float64 array of finite numbers or raise."""
    if not _numeric_kind(value):
        raise InvalidArgument(
            f"{func}: {name}={show(value)} must be a finite real number"
        )
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidArgument(
            f"{func}: {name}={show(value)} must be a finite real number"
        ) from None
    if not np.isfinite(arr).all():
        raise InvalidArgument(
            f"{func}: {name}={show(value)} must be finite (no NaN or inf)"
        )
    return arr


def check_choice(func: str, name: str, value, choices) -> str:
    """Return ``value`` if it is one of ``choices`` or raise."""
    if not isinstance(value, str) or value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise InvalidArgument(
            f"{func}: {name}={show(value)} is not one of {{{options}}}"
        )
    return value


def check_model(func: str, model) -> str:
    return check_choice(func, "model", model, MODELS)


def check_side(func: str, side) -> int:
    """Return the side of a one-sided derivative as +1 or -1."""
    if side in (1, "+", "right") and not isinstance(side, bool):
        return 1
    if side in (-1, "-", "left") and not isinstance(side, bool):
        return -1
    raise InvalidArgument(f"{func}: side={show(side)} must be +1 (right) or -1 (left)")


def check_positive_int(func: str, name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool | np.bool_):
        raise InvalidArgument(
            f"{func}: {name}={value!r} must be an integer >= {minimum}"
        )
    if not isinstance(value, numbers.Integral):
        if isinstance(value, numbers.Real) and float(value).is_integer():
            value = int(value)
        else:
            raise InvalidArgument(
                f"{func}: {name}={show(value)} must be an integer >= {minimum}"
            )
    value = operator.index(value)
    if value < minimum:
        raise InvalidArgument(f"{func}: {name}={value} must be an integer >= {minimum}")
    return value


def as_float_result(arr: np.ndarray):
    """Python float for 0-d input, ndarray otherwise (scipy's ``res[()]``)."""
    arr = np.asarray(arr)
    if arr.ndim == 0:
        return float(arr)
    return arr


def check_no_nan(func: str, what: str, arr: np.ndarray) -> np.ndarray:
    """Raise instead of returning a silent NaN (an internal failure)."""
    if np.isnan(arr).any():
        raise QuantTheoryError(
            f"{func}: {what} evaluated to NaN; this is a bug in quanttheory, "
            "please report it with the call that produced it"
        )
    return arr


def sample_dtype(func: str, name: str, samples) -> tuple[np.ndarray, np.dtype]:
    """``samples`` as an array (not copied, not cast) and its engine dtype.

    The engine dtype keeps float32 and float64, makes float16 float32 and
    integers float64. Booleans, complex numbers, objects and ragged lists
    are refused.

    Parameters
    ----------
    func : str
        The public function, for the message.
    name : str
        The argument, for the message.
    samples : array_like
        The data.

    Returns
    -------
    arr : ndarray
        ``samples`` as an array, in its own dtype and shape.
    dtype : numpy.dtype
        float32 or float64.

    Raises
    ------
    InvalidArgument
        If ``samples`` are not real numbers.

    Examples
    --------
    >>> sample_dtype("f", "x", [[1, 2], [3, 4]])[1]
    dtype('float64')
    >>> sample_dtype("f", "x", np.ones(3, np.float16))[1]
    dtype('float32')
    """
    arr = samples if isinstance(samples, np.ndarray) else None
    if arr is None:
        try:
            arr = np.asarray(samples)
        except (TypeError, ValueError, RuntimeError):
            arr = None
    if arr is None or arr.dtype.kind not in "iuf":
        raise InvalidArgument(f"{func}: {name}={show(samples)} must be real numbers")
    dtype = arr.dtype if arr.dtype.kind == "f" else np.dtype(np.float64)
    if dtype.itemsize < 4:
        dtype = np.dtype(np.float32)
    return arr, dtype


def check_samples(func: str, name: str, samples) -> np.ndarray:
    """Validated samples: real (:func:`sample_dtype`), not empty, all finite.

    Parameters
    ----------
    func : str
        The public function, for the message.
    name : str
        The argument, for the message.
    samples : array_like
        The data.

    Returns
    -------
    ndarray
        1-D, float32 or float64, finite, at least one value.

    Raises
    ------
    InvalidArgument
        If ``samples`` are not real, empty, or not all finite.

    Examples
    --------
    >>> check_samples("f", "x", [0.5, -1.0]).tolist()
    [0.5, -1.0]
    >>> check_samples("f", "x", [1.0, float("nan")])
    Traceback (most recent call last):
    ...
    quanttheory._core.errors.InvalidArgument: f: x contains 1 non-finite value(s) ...
    """
    arr, dtype = sample_dtype(func, name, samples)
    arr = (arr if arr.dtype == dtype else arr.astype(dtype)).reshape(-1)
    if arr.size == 0:
        raise InvalidArgument(f"{func}: {name} is empty; pass at least one value")
    bad = ~np.isfinite(arr)
    if bad.any():
        raise InvalidArgument(
            non_finite_message(func, name, int(bad.sum()), arr[bad][0])
        )
    return arr


def non_finite_message(func: str, name: str, count: int, first) -> str:
    """The message for ``count`` non-finite samples, the first being ``first``."""
    return (
        f"{func}: {name} contains {count} non-finite value(s) "
        f"(first: {float(first)!r}); remove NaN/inf before analysis"
    )
