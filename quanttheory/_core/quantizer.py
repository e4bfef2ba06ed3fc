r"""Uniform quantizers: level sets and the vectorised quantizer.

A scheme is a level set :math:`\{(k + o)\Delta : k_{\min} \le k \le k_{\max}\}`
with an offset :math:`o \in \{0, \tfrac12\}`. Every function here takes the
scheme by name and converts between step, levels and clipping level only
through :class:`Scheme`, so that no two conventions get mixed up.
"""

from __future__ import annotations

import numpy as np

from .checks import check_positive_array, check_positive_scalar, show
from .errors import InvalidArgument
from .parallel import TILE, pool, workers
from .scheme import Scheme, get_scheme

__all__ = ["clipping_level", "levels", "quantize", "quantize_unchecked"]


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
        integer, or ``scheme`` is unknown.

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
    d = check_positive_scalar("levels", "step", step)
    return s.indices() * d


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
    out = s.top * d
    return float(out) if out.ndim == 0 else out


def quantize(x, step, bits, scheme="paper"):
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
    x : array_like
        Input values, any shape. Floating input keeps its dtype (the
        arithmetic runs in that dtype, as in a fake-quantization kernel);
        integer input is converted to float64.
    step : float or array_like
        Quantization step :math:`\Delta > 0`. An array broadcasts against
        ``x`` (for example one step per channel).
    bits : int
        Bit-width :math:`M \ge 1` (``>= 2`` for ``'symmetric'``).
    scheme : {'paper', 'midrise', 'signed', 'symmetric'}
        Level set, see :func:`levels`.

    Returns
    -------
    ndarray
        Same shape as ``x`` (broadcast with ``step``), same floating dtype.

    Raises
    ------
    InvalidArgument
        For a non-positive or non-finite step, invalid ``bits`` or ``scheme``,
        or NaN in ``x`` (NaN has no nearest level).

    See Also
    --------
    levels, mse

    Notes
    -----
    Infinite inputs are clipped to the outermost level, which is their
    nearest level.

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
    """
    s = get_scheme("quantize", scheme, bits)
    d = check_positive_array("quantize", "step", step)
    arr = np.asarray(x)
    if not np.issubdtype(arr.dtype, np.floating):
        if arr.dtype == object or not (
            np.issubdtype(arr.dtype, np.integer) or arr.dtype == np.bool_
        ):
            raise InvalidArgument(
                f"quantize: x has dtype {arr.dtype}; pass real numbers"
            )
        arr = arr.astype(np.float64)
    tiled = _tiled(arr, d)
    if not tiled and np.isnan(arr).any():
        raise InvalidArgument("quantize: x contains NaN, which has no nearest level")
    dtype = arr.dtype
    info = np.finfo(dtype)
    with np.errstate(over="ignore", under="ignore"):
        dd = d.astype(dtype)
        top = dd * dtype.type(max(abs(s.top), abs(s.bottom)))
    if not (np.all(dd >= info.smallest_normal) and np.all(np.isfinite(top))):
        raise InvalidArgument(
            f"quantize: step={show(step)} is not representable in x's dtype "
            f"{dtype} with {s.n_levels} levels (normal range "
            f"{info.smallest_normal:.3g} .. {info.max:.3g}); pass x as a wider "
            "float type"
        )
    if tiled:
        q, saw_nan = _quantize_tiled(arr, dd, s)
        if saw_nan:
            raise InvalidArgument(
                "quantize: x contains NaN, which has no nearest level"
            )
        return q
    return quantize_unchecked(arr, dd, s)


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
