r"""Uniform quantizers: level sets and the vectorised quantizer.

A scheme is a level set :math:`\{(k + o)\Delta : k_{\min} \le k \le k_{\max}\}`
with an offset :math:`o \in \{0, \tfrac12\}`. Every function here takes the
scheme by name and converts between step, levels and clipping level only
through :class:`Scheme`, so that no two conventions get mixed up.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .checks import (
    as_array,
    check_positive_array,
    check_positive_scalar,
    is_torch,
    show,
    torch_to_numpy,
)
from .errors import InvalidArgument
from .parallel import TILE, pool, workers
from .scheme import Scheme, get_scheme

__all__ = [
    "LEVELS_MAX_BITS",
    "batch_layout",
    "clipping_level",
    "from_rows",
    "levels",
    "quantize",
    "quantize_unchecked",
    "to_rows",
]

#: Largest bit-width of :func:`levels`, which returns every one of the
#: :math:`2^M` levels (at 24 bits 16.8 million floats, 128 MiB).
LEVELS_MAX_BITS = 24

#: The largest finite bfloat16, :math:`(2 - 2^{-7})\,2^{127}`.
_BF16_MAX = float((2.0 - 2.0**-7) * 2.0**127)


def _check_range(func: str, step, dd, s: Scheme, dtype_name: str, lo, hi) -> None:
    """Refuse a step (``dd``, in the arithmetic's dtype) that is not a normal
    number of the dtype, or whose outermost levels are beyond its range."""
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        dd = np.asarray(dd, dtype=np.float64)
        top = dd * float(max(abs(s.top), abs(s.bottom)))
    if not (np.all(dd >= lo) and np.all(top <= hi)):
        raise InvalidArgument(
            f"{func}: step={show(step)} is not representable in {dtype_name} with "
            f"{s.n_levels} levels: the step must be a normal number and the "
            f"outermost level at most the largest finite value (normal range "
            f"{lo:.3g} .. {hi:.3g})"
            + ("" if dtype_name == "float64" else "; pass x as a wider float type")
        )


def levels(step, bits, scheme="paper") -> np.ndarray:
    r"""All reconstruction levels of a uniform quantizer, ascending.

    .. math::

        \mathcal{L} = \{(k + o)\,\Delta : k_{\min} \le k \le k_{\max}\}

    with, for :math:`M` bits and :math:`K = 2^{M-1}`,

    ============= ============================ =====================
    scheme        :math:`k` range               :math:`o`
    ============= ============================ =====================
    ``paper``     :math:`-K \dots K`            0 (seed Eq. (5))
    ``midrise``   :math:`-K \dots K-1`          1/2
    ``signed``    :math:`-K \dots K-1`          0 (int hardware)
    ``symmetric`` :math:`-(K-1) \dots K-1`      0 (narrow range)
    ============= ============================ =====================

    Parameters
    ----------
    step : float
        Quantization step :math:`\Delta > 0`.
    bits : int
        Bit-width :math:`M \ge 1` (``>= 2`` for ``'symmetric'``).
    scheme : {'paper', 'midrise', 'signed', 'symmetric'}
        Level set.

    Returns
    -------
    ndarray
        The levels, float64, ascending.

    Raises
    ------
    InvalidArgument
        If ``step`` is not positive and finite, ``bits`` is not a valid
        integer (at most ``LEVELS_MAX_BITS`` = 24 here: every level is
        returned), ``scheme`` is unknown, or a level is beyond float64's
        range (the step must be a normal float64 and the outermost level
        at most 1.8e308).

    See Also
    --------
    quantize, clipping_level

    References
    ----------
    .. [1] M. Shkolnik et al., "Robust Quantization: One Model to Rule Them
       All", NeurIPS 2020, arXiv:2002.07686, supplementary Eq. (5).

    Examples
    --------
    >>> import quanttheory as qt
    >>> qt.levels(0.5, 2, "paper").tolist()
    [-1.0, -0.5, 0.0, 0.5, 1.0]
    >>> qt.levels(0.5, 2, "midrise").tolist()
    [-0.75, -0.25, 0.25, 0.75]
    """
    s = get_scheme("levels", scheme, bits)
    if s.bits > LEVELS_MAX_BITS:
        raise InvalidArgument(
            f"levels: bits={s.bits} would return {s.n_levels} levels; at most "
            f"{LEVELS_MAX_BITS} bits (use clipping_level for the outermost level)"
        )
    d = check_positive_scalar("levels", "step", step)
    _check_range("levels", step, d, s, "float64", _F64.smallest_normal, _F64.max)
    return s.indices() * d


_F64 = np.finfo(np.float64)


def clipping_level(step, bits, scheme="paper"):
    r"""Largest reconstruction level :math:`\tau_+ = (k_{\max} + o)\Delta`.

    Inputs above :math:`\tau_+` are clipped to it. For ``'paper'`` this is the
    seed's :math:`\tau = 2^{M-1}\Delta`. For ``'midrise'`` the ACIQ/OCTAV clip
    value is :math:`\alpha = \tau_+ + \Delta/2 = 2^{M-1}\Delta`.

    Parameters
    ----------
    step : float or array_like
        Quantization step :math:`\Delta > 0`; arrays broadcast.
    bits : int
        Bit-width.
    scheme : {'paper', 'midrise', 'signed', 'symmetric'}
        Level set.

    Returns
    -------
    float or ndarray
        :math:`\tau_+`, a float for scalar ``step``.

    Raises
    ------
    InvalidArgument
        For an invalid step, ``bits`` or ``scheme``, or a step whose
        outermost levels are beyond float64's range (the step must be a
        normal float64 and the levels at most 1.8e308).

    See Also
    --------
    levels

    Examples
    --------
    >>> import quanttheory as qt
    >>> qt.clipping_level(0.25, 3)
    1.0
    >>> qt.clipping_level(0.25, 3, "midrise")
    0.875
    """
    s = get_scheme("clipping_level", scheme, bits)
    d = check_positive_array("clipping_level", "step", step)
    _check_range(
        "clipping_level", step, d, s, "float64", _F64.smallest_normal, _F64.max
    )
    out = s.top * d
    return float(out) if out.ndim == 0 else out


def quantize(x, step, bits, scheme="paper", *, axis=None, group_size=None):
    r"""Quantize ``x`` to the nearest level of a uniform level set.

    .. math::

        Q_\Delta(x) = \Delta\left(\operatorname{clamp}\left(
        \left\lfloor \frac{x}{\Delta} - o \right\rceil,
        k_{\min}, k_{\max}\right) + o\right)

    where :math:`\lfloor\cdot\rceil` rounds half to even, as ``torch.round``
    and ``numpy.rint`` do. Because clamping the rounded index picks the
    nearest level of the clamped set, :math:`Q_\Delta(x)` is the nearest
    element of :func:`levels` for every ``x``. The quantizer is idempotent:
    ``quantize(quantize(x)) == quantize(x)`` exactly.

    Parameters
    ----------
    x : array_like or torch.Tensor
        Input values, any shape. Floating input keeps its dtype (the
        arithmetic runs in that dtype, as in a fake-quantization kernel);
        integer input is converted to float64. A torch tensor gives a torch
        tensor of the same dtype on the same device (see Notes). A masked
        array gives a masked array with the same mask (masked entries are
        not read).
    step : float or array_like
        Quantization step :math:`\Delta > 0`. An array broadcasts against
        ``x`` (numpy rules), or, with ``axis``, is one step per slice.
    bits : int
        Bit-width :math:`M \ge 1` (``>= 2`` for ``'symmetric'``).
    scheme : {'paper', 'midrise', 'signed', 'symmetric'}
        Level set, see :func:`levels`.
    axis : int, optional
        With ``axis=k``, ``step`` is 1-D of length ``x.shape[k]`` and its
        ``i``-th step quantizes the slice ``i`` along axis ``k`` (a
        per-channel step, as ``ch_axis`` in torch's per-channel fake
        quantization).
    group_size : int, optional
        One step per contiguous group of ``group_size`` values of the last
        axis (torchao's ``PerGroup``): ``step`` broadcasts to the batch shape
        of ``Empirical(x, axis=axis, group_size=group_size)``, e.g.
        ``(R, C // g)`` for an ``(R, C)`` matrix; with ``axis`` the groups
        are cut within each channel, batch ``(x.shape[axis], rest // g)``.
        Such steps come from :func:`optimal_step` on that
        :class:`Empirical`.

    Returns
    -------
    ndarray, numpy.ma.MaskedArray or torch.Tensor
        Same shape as ``x`` (broadcast with ``step``), same floating dtype;
        the type of ``x`` for a tensor or a masked array.

    Raises
    ------
    InvalidArgument
        For a non-positive or non-finite step, invalid ``bits`` or ``scheme``,
        NaN in ``x`` (NaN has no nearest level), a ragged ``x``, a ``step``
        that does not broadcast against ``x`` (or, with ``axis``, is not 1-D
        of the length of that axis), or a step that ``x``'s dtype cannot
        represent.

    See Also
    --------
    levels, mse

    Notes
    -----
    Infinite inputs are clipped to the outermost level, which is their
    nearest level.

    Torch tensors are read detached, on the CPU, and the result is a new
    tensor (it does not require grad; :func:`quanttheory.torch.fake_quantize`
    has the straight-through gradient) of ``x``'s dtype on ``x``'s device.
    float16 runs in float16 arithmetic. bfloat16, which numpy lacks, runs in
    float32 arithmetic with the step rounded to bfloat16, and the result is
    rounded to bfloat16.

    Cost: five elementwise operations. An array of at least :math:`2^{20}`
    contiguous elements with a single step is processed in cache-sized
    tiles on one thread per core (bit-identical to the one-shot route), at
    about 1.3 times the time of :func:`numpy.copy` of the same array.

    References
    ----------
    .. [1] M. Shkolnik et al., "Robust Quantization: One Model to Rule Them
       All", NeurIPS 2020, arXiv:2002.07686, supplementary Eq. (5).

    Examples
    --------
    >>> import numpy as np
    >>> import quanttheory as qt
    >>> qt.quantize(np.array([-3.0, -0.26, 0.25, 0.75, 3.0]), 0.5, 2).tolist()
    [-1.0, -0.5, 0.0, 1.0, 1.0]
    >>> qt.quantize([0.1, 2.0], 0.5, 2, scheme="midrise").tolist()
    [0.25, 0.75]
    >>> w = np.array([[0.3, 0.3], [0.3, 0.3]])
    >>> qt.quantize(w, [0.25, 1.0], 4, axis=0).tolist()   # one step per row
    [[0.25, 0.25], [0.0, 0.0]]
    >>> v = np.array([[0.3, 0.3, 0.3, 0.3]])
    >>> qt.quantize(v, [[0.25, 1.0]], 4, group_size=2).tolist()  # per group of 2
    [[0.25, 0.25, 0.0, 0.0]]
    """
    func = "quantize"
    s = get_scheme(func, scheme, bits)
    d = check_positive_array(func, "step", step)
    tensor = x if is_torch(x) else None
    mask = None
    if tensor is not None:
        try:
            arr = torch_to_numpy(x, keep_half=True)
        except (TypeError, RuntimeError) as err:
            raise InvalidArgument(
                f"{func}: x={show(x)} cannot be read as numbers ({err})"
            ) from None
    else:
        arr = as_array(func, "x", x, keep_mask=True)
        if isinstance(arr, np.ma.MaskedArray):
            mask = np.ma.getmaskarray(arr)
            arr = np.ma.getdata(arr)
            if mask.any():
                arr = np.where(mask, arr.dtype.type(0), arr)
    if not np.issubdtype(arr.dtype, np.floating):
        if arr.dtype == object or not (
            np.issubdtype(arr.dtype, np.integer) or arr.dtype == np.bool_
        ):
            raise InvalidArgument(
                f"quantize: x has dtype {arr.dtype}; pass real numbers"
            )
        arr = arr.astype(np.float64)
    shape = arr.shape
    layout = None
    if group_size is not None:
        layout = batch_layout(func, shape, axis, group_size)
        try:
            d = np.broadcast_to(d, layout[2]).reshape(-1, 1)
        except ValueError:
            raise InvalidArgument(
                f"{func}: step of shape {d.shape} does not broadcast against the "
                f"batch shape {layout[2]} of x of shape {shape} with axis={axis}, "
                f"group_size={group_size} (one step per group)"
            ) from None
        arr = to_rows(arr, layout[0], layout[1])
    else:
        d = _step_shape(func, arr, d, axis)
    tiled = _tiled(arr, d)
    if not tiled and np.isnan(arr).any():
        raise InvalidArgument("quantize: x contains NaN, which has no nearest level")
    dtype = arr.dtype
    info = np.finfo(dtype)
    bf16 = tensor is not None and str(tensor.dtype) == "torch.bfloat16"
    with np.errstate(over="ignore", under="ignore"):
        dd = d.astype(dtype)
    hi = float(info.max)
    name = str(dtype)
    if bf16:  # the step as bfloat16 holds it, in float32
        dd = torch_to_numpy(tensor.new_tensor(dd)).astype(dtype)
        hi, name = _BF16_MAX, "bfloat16"
    _check_range(func, step, dd, s, name, float(info.smallest_normal), hi)
    if max(-s.kmin, s.kmax) > hi:  # float16 from 17 bits on
        raise InvalidArgument(
            f"{func}: bits={s.bits} needs level indices up to {max(-s.kmin, s.kmax)}, "
            f"beyond {name}'s largest value {hi:.6g}; pass x as a wider float type"
        )
    if tiled:
        q, saw_nan = _quantize_tiled(arr, dd, s)
        if saw_nan:
            raise InvalidArgument(
                "quantize: x contains NaN, which has no nearest level"
            )
    else:
        q = quantize_unchecked(arr, dd, s)
    if layout is not None:
        q = from_rows(q, shape, layout[0], layout[1])
    if tensor is not None:
        return tensor.new_tensor(q)
    if mask is not None:
        return np.ma.MaskedArray(q, mask=np.broadcast_to(mask, q.shape))
    return q


def _step_shape(func: str, arr: np.ndarray, d: np.ndarray, axis) -> np.ndarray:
    """``d`` shaped to broadcast against ``arr`` (per slice of ``axis``)."""
    if axis is None:
        try:
            np.broadcast_shapes(arr.shape, d.shape)
        except ValueError:
            raise InvalidArgument(
                f"{func}: step of shape {d.shape} does not broadcast against x "
                f"of shape {arr.shape}; pass axis=k for one step per slice along "
                "axis k"
            ) from None
        return d
    if isinstance(axis, bool | np.bool_) or not isinstance(axis, numbers.Integral):
        raise InvalidArgument(f"{func}: axis={show(axis)} must be an integer or None")
    axis = int(axis)
    if not -arr.ndim <= axis < arr.ndim:
        raise InvalidArgument(
            f"{func}: axis={axis} is out of range for x of shape {arr.shape}"
        )
    k = axis % arr.ndim
    if d.ndim != 1 or d.size != arr.shape[k]:
        raise InvalidArgument(
            f"{func}: with axis={axis}, step must be 1-D of length "
            f"x.shape[{axis}] = {arr.shape[k]}; got step of shape {d.shape}"
        )
    shape = [1] * arr.ndim
    shape[k] = d.size
    return d.reshape(shape)


# ---------------------------------------------------------------------------
# batched layout: one row per channel (axis) or per group (group_size)
# ---------------------------------------------------------------------------
def batch_layout(func: str, shape: tuple, axis, group_size):
    """``(axis, group_size, batch_shape, n)`` of the batched layout, checked.

    ``axis=k``: one row per index along ``k`` (torch's ``ch_axis``), holding
    the rest of the array in C order. ``group_size=g``: the last axis cut into
    contiguous groups of ``g`` (torchao's ``PerGroup(g)``), the other axes
    kept: ``(R, C)`` gives the batch ``(R, C/g)``. Both: each channel's
    values (C order) cut into groups of ``g``, batch ``(C_k, rest/g)``.
    ``n`` is the number of samples per row. Returns ``axis`` normalised
    (non-negative) or None.

    Examples
    --------
    >>> batch_layout("f", (4, 256), None, 128)
    (None, 128, (4, 2), 128)
    >>> batch_layout("f", (4, 3, 2), 1, None)
    (1, None, (3,), 8)
    """
    ndim = len(shape)
    if axis is not None:
        if isinstance(axis, bool | np.bool_) or not isinstance(axis, numbers.Integral):
            raise InvalidArgument(
                f"{func}: axis={show(axis)} must be an integer or None"
            )
        if ndim == 0 or not -ndim <= int(axis) < ndim:
            raise InvalidArgument(
                f"{func}: axis={int(axis)} is out of range for samples of shape {shape}"
            )
        axis = int(axis) % ndim
    if group_size is not None:
        if isinstance(group_size, bool | np.bool_) or not isinstance(
            group_size, numbers.Integral
        ):
            raise InvalidArgument(
                f"{func}: group_size={show(group_size)} must be a positive integer "
                "or None"
            )
        group_size = int(group_size)
        if group_size <= 0:
            raise InvalidArgument(
                f"{func}: group_size={group_size} must be a positive integer"
            )
        if ndim == 0:
            raise InvalidArgument(
                f"{func}: group_size needs samples of at least one dimension"
            )
    size = math.prod(shape)
    if axis is None and group_size is None:
        return None, None, (), size
    if axis is not None:
        c = shape[axis]
        rest = size // c if c else math.prod(shape[:axis] + shape[axis + 1 :])
        if group_size is None:
            return axis, None, (c,), rest
        if rest % group_size:
            raise InvalidArgument(
                f"{func}: group_size={group_size} does not divide the {rest} values "
                f"of each channel along axis={axis} (samples of shape {shape})"
            )
        return axis, group_size, (c, rest // group_size), group_size
    last = shape[-1]
    if last % group_size:
        raise InvalidArgument(
            f"{func}: group_size={group_size} does not divide the last axis, of "
            f"length {last} (samples of shape {shape})"
        )
    return None, group_size, (*tuple(shape[:-1]), last // group_size), group_size


def to_rows(arr: np.ndarray, axis, group_size) -> np.ndarray:
    """``arr`` as the ``(B, n)`` matrix of :func:`batch_layout` (a view where
    it can be); ``axis`` and ``group_size`` already checked."""
    if axis is not None:
        arr = np.moveaxis(arr, axis, 0)
        arr = arr.reshape(arr.shape[0], -1)
    if group_size is None:
        return arr.reshape(arr.shape[0], -1)
    return arr.reshape(-1, group_size)


def from_rows(rows: np.ndarray, shape: tuple, axis, group_size) -> np.ndarray:
    """The inverse of :func:`to_rows`: ``rows`` back in an array of ``shape``."""
    if axis is None:
        return rows.reshape(shape)
    moved = (shape[axis], *tuple(shape[:axis]), *tuple(shape[axis + 1 :]))
    return np.moveaxis(rows.reshape(moved), 0, axis)


#: Arrays at least this large (contiguous, one step) are quantized in
#: cache-sized tiles on one thread per core.
_TILED_MIN = 1 << 20


def _tiled(arr: np.ndarray, step) -> bool:
    """Whether :func:`_quantize_tiled` applies (same output shape)."""
    return (
        arr.size >= _TILED_MIN
        and np.size(step) == 1
        and np.ndim(step) <= arr.ndim
        and arr.flags.c_contiguous
    )


def _quantize_tiled(arr: np.ndarray, step, s: Scheme):
    """:func:`quantize_unchecked` in tiles of ``TILE`` elements, one
    contiguous part per worker thread (numpy releases the GIL), so every
    intermediate stays in cache. Returns ``(q, saw_nan)``; the values are
    bit-identical to the untiled route (same operations, same dtype)."""
    flat = arr.reshape(-1)
    out = np.empty_like(flat)
    n = flat.size
    nt = workers()
    cuts = [n * i // nt for i in range(nt + 1)]

    def part(a: int, b: int) -> bool:
        nan = False
        for t in range(a, b, TILE):
            e = min(t + TILE, b)
            q = _quantize_into(flat[t:e], step, s, out[t:e])
            nan |= bool(np.isnan(q.max()))  # NaN propagates through max
        return nan

    if nt == 1:
        saw = part(0, n)
    else:
        saw = any(list(pool().map(part, cuts[:-1], cuts[1:])))
    return out.reshape(arr.shape), saw


def quantize_unchecked(arr: np.ndarray, step, s: Scheme) -> np.ndarray:
    """Quantize without validation; ``arr`` and ``step`` share a float dtype."""
    if _tiled(arr, step):
        return _quantize_tiled(arr, step, s)[0]
    dtype = arr.dtype
    q = np.empty(np.broadcast_shapes(arr.shape, np.shape(step)), dtype=dtype)
    return _quantize_into(arr, step, s, q)


def _quantize_into(arr: np.ndarray, step, s: Scheme, q: np.ndarray) -> np.ndarray:
    """The quantizer's arithmetic, written into ``q``."""
    dtype = q.dtype
    with np.errstate(over="ignore", invalid="ignore"):
        np.divide(arr, step, out=q)
        if s.offset:
            q -= dtype.type(s.offset)
        np.rint(q, out=q)
        np.clip(q, s.kmin, s.kmax, out=q)
        if s.offset:
            q += dtype.type(s.offset)
        q *= step
    return q
