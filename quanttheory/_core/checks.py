"""Errors and argument checks shared by every public function.

Every check raises :class:`InvalidArgument` with a message that echoes the
call, ``"mse: step=-0.1 must be a positive finite number"``, so that a user
who passes a wrong value sees the function, the argument and the value.
Checks never use ``assert``: asserts vanish under ``python -O``.
"""

from __future__ import annotations

import math
import numbers
import operator

import numpy as np

from .errors import InvalidArgument, QuantTheoryError

__all__ = [
    "EMPIRICAL_MAX_BITS",
    "MAX_BITS",
    "MODELS",
    "as_array",
    "as_float_result",
    "check_bits",
    "check_choice",
    "check_finite_array",
    "check_model",
    "check_no_nan",
    "check_positive_array",
    "check_positive_int",
    "check_positive_scalar",
    "check_representable",
    "check_rng",
    "check_samples",
    "check_side",
    "is_torch",
    "non_finite_message",
    "sample_dtype",
    "show",
    "torch_to_numpy",
]

MODELS = ("exact", "additive")

#: Largest bit-width that any function accepts: every integer format up to
#: int64. Above 53 bits the level indices ``k + o`` round to float64 (the
#: level sets stay exact up to that rounding).
MAX_BITS = 64

#: Largest bit-width of :func:`~quanttheory.optimal_step` (and of
#: :func:`~quanttheory.sensitivity` without ``step``) on
#: :class:`~quanttheory.Empirical` data, and of the CLI's ``--bits`` for
#: tensors. The exact empirical optimum scores every one of the
#: :math:`2^M` thresholds at each step of its grids: at 16 bits on 1,000
#: samples it takes about 6 s and 0.6 GB, and each further bit doubles both
#: (22 bits took 115 s and 17 GB). The MSE and its derivatives on data cost
#: :math:`O(N)` per step at any bit-width and take up to :data:`MAX_BITS`.
EMPIRICAL_MAX_BITS = 16


def show(value) -> str:
    """Short repr of a value for an error message (never raises).

    Examples
    --------
    >>> show(np.arange(10.0))
    'array(shape=(10,), dtype=float64)'
    >>> show([[1, 2], [3]])
    '[[1, 2], [3]]'
    """
    if is_torch(value):
        return f"tensor(shape={tuple(value.shape)}, dtype={value.dtype})"
    arr = None
    if not isinstance(value, str | bytes):
        try:
            arr = np.asarray(value)
        except Exception:  # ragged, or an object numpy cannot read
            arr = None
    if arr is not None and arr.ndim > 0:
        if arr.size > 6:
            return f"array(shape={arr.shape}, dtype={arr.dtype})"
        return repr(arr.tolist())
    text = repr(value.item() if isinstance(value, np.generic) else value)
    return text if len(text) <= 80 else text[:77] + "..."


def is_torch(x) -> bool:
    """True for a torch tensor (or Parameter), without importing torch."""
    return type(x).__module__.startswith("torch") and hasattr(x, "detach")


def torch_to_numpy(x, *, keep_half: bool = False) -> np.ndarray:
    """A torch tensor as a numpy array: detached, on the CPU.

    bfloat16 (which numpy lacks) becomes float32; float16 also becomes
    float32 unless ``keep_half``. A CPU tensor of another dtype shares its
    memory with the result.
    """
    t = x.detach()
    name = str(t.dtype)
    if name == "torch.bfloat16" or (name == "torch.float16" and not keep_half):
        t = t.float()
    return t.cpu().numpy()


def as_array(func: str, name: str, value, *, keep_mask: bool = False) -> np.ndarray:
    """``value`` as a numpy array, not cast, or :class:`InvalidArgument`.

    Torch tensors (a Parameter that requires grad, any device, bfloat16)
    are converted with :func:`torch_to_numpy`; a ragged nested sequence is
    refused. A masked array is returned as it is with ``keep_mask``;
    otherwise its mask must be empty (an entry that is masked out has no
    value to use), and its data are returned.

    Examples
    --------
    >>> as_array("f", "x", [1, 2]).tolist()
    [1, 2]
    >>> as_array("f", "x", [[1.0, 2.0], [3.0]])
    Traceback (most recent call last):
    ...
    quanttheory._core.errors.InvalidArgument: f: x=[[1.0, 2.0], [3.0]] is a ragged ...
    """
    if is_torch(value):
        try:
            return torch_to_numpy(value)
        except (TypeError, RuntimeError) as err:
            raise InvalidArgument(
                f"{func}: {name}={show(value)} cannot be read as numbers ({err})"
            ) from None
    if isinstance(value, np.ma.MaskedArray):
        if keep_mask:
            return value
        if np.ma.getmaskarray(value).any():
            raise InvalidArgument(
                f"{func}: {name} is a masked array with "
                f"{int(np.ma.count_masked(value))} masked entries, which have no "
                "value; pass plain numbers (e.g. x.compressed() or x.filled(v))"
            )
        return np.ma.getdata(value)
    if isinstance(value, np.ndarray):
        return value
    try:
        return np.asarray(value)
    except ValueError:
        raise InvalidArgument(
            f"{func}: {name}={show(value)} is a ragged nested sequence (rows of "
            "different lengths); pass a rectangular array"
        ) from None
    except (TypeError, RuntimeError, OverflowError):
        raise InvalidArgument(
            f"{func}: {name}={show(value)} must be real numbers"
        ) from None


def check_bits(func: str, bits, minimum: int = 1, maximum: int = MAX_BITS) -> int:
    """Return ``bits`` as an ``int`` in ``minimum..maximum`` or raise.

    Integral floats (``4.0``) are accepted; booleans, fractions, NaN, inf and
    anything above ``maximum`` (:data:`MAX_BITS` by default) are refused.

    Examples
    --------
    >>> check_bits("f", 4.0)
    4
    >>> check_bits("f", 2**70)
    Traceback (most recent call last):
    ...
    quanttheory._core.errors.InvalidArgument: f: bits=1180591620717411303424 must ...
    """
    rule = f"must be an integer >= {minimum}"
    top = f"must be an integer from {minimum} to {maximum}"
    if isinstance(bits, bool | np.bool_):
        raise InvalidArgument(f"{func}: bits={bits!r} {rule}")
    if not isinstance(bits, numbers.Integral):
        if not (
            isinstance(bits, numbers.Real)
            and math.isfinite(bits)
            and float(bits).is_integer()
        ):
            raise InvalidArgument(f"{func}: bits={show(bits)} {rule}")
        if float(bits) > maximum:
            raise InvalidArgument(f"{func}: bits={show(bits)} {top}")
        bits = int(bits)
    bits = operator.index(bits)
    if bits < minimum:
        raise InvalidArgument(f"{func}: bits={bits} {rule}")
    if bits > maximum:
        raise InvalidArgument(f"{func}: bits={bits} {top}")
    return bits


def check_rng(func: str, rng) -> np.random.Generator:
    """The generator for ``rng``: None, a non-negative integer seed (or a
    sequence of them), a SeedSequence, a BitGenerator or a Generator.

    Global random state is never touched. Anything else, booleans and
    negative seeds included, raises :class:`InvalidArgument`.

    Examples
    --------
    >>> check_rng("f", 0).integers(10) == np.random.default_rng(0).integers(10)
    np.True_
    >>> check_rng("f", "seed")
    Traceback (most recent call last):
    ...
    quanttheory._core.errors.InvalidArgument: f: rng='seed' must be None, a ...
    """
    if isinstance(rng, np.random.Generator):
        return rng
    ok = not isinstance(rng, bool | np.bool_ | str | bytes | float | np.floating)
    if ok:
        try:
            return np.random.default_rng(rng)
        except (TypeError, ValueError, OverflowError):
            pass
    raise InvalidArgument(
        f"{func}: rng={show(rng)} must be None, a non-negative integer seed or "
        "a numpy.random.Generator"
    )


def check_representable(
    func: str, what: str, value, *, positive: bool = False, hint: str | None = None
):
    """``value`` if it is a finite float64 (array), else :class:`InvalidArgument`.

    With ``positive`` the quantity is known to be positive (a variance, an
    MSE that is not exactly zero): a value below the smallest normal
    float64 (2.2e-308), which has lost precision or rounded to 0, is
    refused too. ``hint`` ends the message (by default: how the MSE
    scales, so that the caller can rescale).

    Examples
    --------
    >>> check_representable("f", "the variance", 4.0)
    4.0
    >>> check_representable("f", "the variance", float("inf"))
    Traceback (most recent call last):
    ...
    quanttheory._core.errors.InvalidArgument: f: the variance overflows float64 ...
    """
    hint = _SCALE_HINT if hint is None else hint
    arr = np.asarray(value)
    if np.isnan(arr).any():
        raise QuantTheoryError(
            f"{func}: {what} evaluated to NaN; this is a bug in quanttheory, "
            "please report it with the call that produced it"
        )
    if not np.isfinite(arr).all():
        raise InvalidArgument(
            f"{func}: {what} overflows float64 (above {_FMAX:.4g}); {hint}"
        )
    if positive and (np.abs(arr) < _FMIN).any():
        raise InvalidArgument(
            f"{func}: {what} underflows float64 (below {_FMIN:.4g}, where it "
            f"loses precision); {hint}"
        )
    return value


_SCALE_HINT = (
    "rescale the data or the law (the MSE of cX at step c*step is c**2 times "
    "that of X at step, and its optimal step c times)"
)

_FMAX = float(np.finfo(np.float64).max)

_FMIN = float(np.finfo(np.float64).smallest_normal)


def _as_real(func: str, name: str, value, what: str) -> np.ndarray:
    """``value`` as a float64 array of reals (ints, floats; not bool, str,
    complex or object), or :class:`InvalidArgument` saying ``what``."""
    if isinstance(value, int) and not isinstance(value, bool):
        try:  # a Python int beyond int64 is still a number
            value = float(value)
        except OverflowError:
            raise InvalidArgument(
                f"{func}: {name}={show(value)} is beyond float64's range"
            ) from None
    arr = as_array(func, name, value)
    if arr.dtype.kind not in "iuf":
        raise InvalidArgument(f"{func}: {name}={show(value)} must be {what}")
    return arr.astype(np.float64, copy=False)


def check_positive_array(func: str, name: str, value) -> np.ndarray:
    """Return ``value`` as a float64 array of positive finite numbers."""
    arr = _as_real(func, name, value, "a positive finite number")
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
    arr = _as_real(func, name, value, "a finite real number")
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
    are refused. A torch tensor is read through :func:`torch_to_numpy`
    (bfloat16 and float16 as float32). A masked array contributes only its
    unmasked values (flattened): masked entries are left out, not used.

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
        ``samples`` as an array, in its own dtype and shape (1-D for a
        masked array).
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
    >>> sample_dtype("f", "x", np.ma.masked_array([1.0, 9.0], [0, 1]))[0].tolist()
    [1.0]
    """
    arr = as_array(func, name, samples, keep_mask=True)
    if isinstance(arr, np.ma.MaskedArray):
        arr = arr.compressed()
    if arr.dtype.kind not in "iuf":
        raise InvalidArgument(f"{func}: {name}={show(samples)} must be real numbers")
    dtype = arr.dtype if arr.dtype.kind == "f" else np.dtype(np.float64)
    if dtype.itemsize < 4:
        dtype = np.dtype(np.float32)
    elif dtype.itemsize > 8:  # long double: the engines run in float64
        dtype = np.dtype(np.float64)
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
