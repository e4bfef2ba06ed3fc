"""The empirical law of a finite array."""

from __future__ import annotations

import math

import numpy as np

from .._core.checks import (
    check_representable,
    is_torch,
    non_finite_message,
    sample_dtype,
    show,
    torch_to_numpy,
)
from .._core.distribution import Distribution
from .._core.errors import InvalidArgument
from .._core.parallel import is_dask, iter_chunks, map_reduce, range_stats
from .._core.quantizer import batch_layout, to_rows

__all__ = ["Empirical", "as_empirical", "scale_exponent"]

#: Data whose largest magnitude lies outside [2**-128, 2**128) are evaluated
#: in scaled coordinates (see :func:`scale_exponent`).
_SCALE_FREE = 128


def scale_exponent(lo: float, hi: float) -> int:
    """The power of two ``e`` by which data of range ``[lo, hi]`` are divided
    before any sum of powers: 0 for ordinary data (largest magnitude in
    ``[2**-128, 2**128)``, so their sums of fourth powers stay normal floats
    and results are bit for bit those of the plain formulas), else the
    exponent that brings the largest magnitude into ``[1, 2)``. Division by
    a power of two is exact, so the scaled data carry no new rounding (a
    sample that becomes subnormal there is ``2**-1022`` below the largest,
    and so below the rounding of any sum of squares).

    Examples
    --------
    >>> scale_exponent(-3.0, 1.0), scale_exponent(0.0, 1.7e308)
    (0, 1023)
    """
    m = max(abs(lo), abs(hi))
    if m == 0.0 or 2.0**-_SCALE_FREE <= m < 2.0**_SCALE_FREE:
        return 0
    return math.frexp(m)[1] - 1


#: The most histogram bins of :meth:`Empirical.pdf`.
_PDF_BINS = 1 << 16


def _ldexp(x, e: int):
    """``x * 2**e`` without a warning (``inf`` on overflow, 0 on underflow)."""
    with np.errstate(over="ignore", under="ignore"):
        return np.ldexp(x, e)


# ---------------------------------------------------------------------------
# Empirical
# ---------------------------------------------------------------------------
class Empirical(Distribution):
    r"""The empirical law of a finite array, such as a weight tensor.

    Each sample carries probability :math:`1/N`. The MSE of the exact model is
    :math:`\frac1N\sum_i (x_i - Q_\Delta(x_i))^2`, which is continuous and
    piecewise quadratic in :math:`\Delta`.

    Parameters
    ----------
    samples : array_like, torch.Tensor, numpy.memmap or dask.array.Array
        Finite real numbers, any shape (flattened). An in-memory array is
        copied in its own floating dtype (float32 stays float32; integers and
        float16 become float64/float32), so later changes to it do not leak
        in. A torch tensor (a ``Parameter`` that requires grad, on any
        device, any floating dtype) is read detached, on the CPU, with
        bfloat16 and float16 as float32. A masked array contributes only its
        unmasked values. A :class:`numpy.memmap` or a Dask array is kept as
        it is and read chunk by chunk, so data larger than memory works.
    axis : int, optional
        The channel axis, as torch's ``ch_axis``: one distribution per index
        along it (holding the rest of the array). The result is *batched*:
        ``batch_shape == (samples.shape[axis],)``.
    group_size : int, optional
        Cut the last axis into contiguous groups of ``group_size`` values and
        keep the other axes, as torchao's ``PerGroup(g)``: an ``(R, C)``
        matrix gives a batch of shape ``(R, C // g)``. With ``axis`` as well,
        the values of each channel (C order) are cut into groups: batch
        ``(samples.shape[axis], rest // g)``.
    weights : array_like, optional
        Non-negative finite weights of the shape of ``samples``: the MSE
        becomes :math:`\sum_i w_i (x_i - Q(x_i))^2 / \sum_i w_i` and the
        moments are weighted too (importance-weighted calibration, as
        llama.cpp's importance matrix or a Hessian diagonal). A zero weight
        is an absent sample.
    copy : bool
        Copy in-memory input (default). ``copy=False`` keeps a reference (the
        caller must then not modify the array; a CPU tensor shares its
        memory).

    Attributes
    ----------
    batch_shape : tuple
        ``()`` for one distribution; else the shape of the batch, and
        :func:`optimal_step`, :func:`mse`, :func:`mse_derivative`,
        :func:`sensitivity` and :func:`sqnr_db` return arrays of that shape
        (and accept steps that broadcast to it). ``n``, ``min``, ``max`` and
        the moments are then per distribution (arrays of ``batch_shape``;
        ``n`` is the number of samples of each). A batched or weighted
        ``Empirical`` holds its data in memory (a memory map or a Dask array
        is read whole) and takes ``model='exact'`` only.

    Raises
    ------
    InvalidArgument
        If ``samples`` is empty, ragged, not real, or contains NaN or
        infinity, or ``copy`` is not a bool; an ``axis`` that is not an
        integer in range; a ``group_size`` that is not a positive integer or
        does not divide its axis; an empty group; ``weights`` of another
        shape, negative or not finite, or whose sum (of a group) is zero.

    Notes
    -----
    Construction costs the copy and one pass for ``n``, ``min`` and ``max``
    (all that :func:`optimal_step` and :func:`mse` need). The moments are
    those of the empirical law (population moments, divisor :math:`N`),
    computed in float64 in chunks on first use and cached. ``pdf`` is a histogram
    estimate (Freedman-Diaconis bins) for plotting; the engine never uses it.

    Data of any magnitude up to float64's largest are exact: where the
    largest magnitude lies outside :math:`[2^{-128}, 2^{128})` every sum is
    taken on the data divided by a power of two (exact), and the results
    are scaled back. ``mean`` and ``std`` are then always floats;
    ``variance`` and ``second_moment`` raise :class:`InvalidArgument` where
    they are beyond float64's normal range (data above about 1e154 or below
    1e-154), as do the MSE functions where the MSE is.

    Examples
    --------
    >>> import numpy as np
    >>> import quanttheory as qt
    >>> e = qt.Empirical(np.array([[-1.0, 0.0], [0.0, 1.0]]))
    >>> e.n, e.variance, e.kurtosis
    (4, 0.5, 2.0)
    >>> qt.Empirical([1.7e308, 1.7e308]).mean
    1.7e+308

    Per channel and per group (batched), and weighted:

    >>> w = np.arange(8.0).reshape(2, 4)
    >>> qt.Empirical(w, axis=0).batch_shape, qt.Empirical(w, group_size=2).batch_shape
    ((2,), (2, 2))
    >>> qt.Empirical(w, group_size=2).mean.tolist()
    [[0.5, 2.5], [4.5, 6.5]]
    >>> qt.Empirical([1.0, 2.0, 9.0], weights=[1.0, 3.0, 0.0]).mean
    1.75
    """

    name = "empirical"
    _is_empirical = True

    #: ``()`` for one distribution, else the batch's shape
    batch_shape: tuple = ()
    #: None, or float64 weights aligned with ``samples`` (flattened; for a
    #: batch, in the ``(B, n)`` row layout of ``_rows``)
    _weights = None
    _rows = None
    _wrows = None

    def __init__(
        self, samples, *, axis=None, group_size=None, weights=None, copy: bool = True
    ):
        func = "Empirical"
        if axis is None and group_size is None:
            if weights is None:
                self._load(func, "samples", samples, copy)
            else:
                self._load_weighted(func, samples, weights, copy)
            return
        self._load_batched(func, samples, axis, group_size, weights, copy)

    def _load_weighted(self, func: str, samples, weights, copy) -> None:
        """One weighted distribution: samples of zero weight are dropped."""
        arr = _in_memory_array(func, samples)
        w = _check_weights(func, weights, arr.shape)
        keep = w > 0
        if not keep.any():
            raise InvalidArgument(
                f"{func}: weights are all zero; at least one sample needs a "
                "positive weight"
            )
        flat = arr.reshape(-1)
        if not keep.all():
            flat = flat[keep.reshape(-1)]
            copy = False  # already a new array
        self._load(func, "samples", flat, copy)
        self._weights = np.ascontiguousarray(w.reshape(-1)[keep.reshape(-1)])

    def _load_batched(self, func: str, samples, axis, group_size, weights, copy):
        if not isinstance(copy, bool | np.bool_):
            raise InvalidArgument(f"{func}: copy={show(copy)} must be True or False")
        arr = _in_memory_array(func, samples)
        axis, group_size, bshape, n = batch_layout(func, arr.shape, axis, group_size)
        if n == 0 or math.prod(bshape) == 0:
            raise InvalidArgument(
                f"{func}: samples of shape {arr.shape} with axis={axis}, "
                f"group_size={group_size} give an empty group (batch shape "
                f"{bshape}, {n} samples per group); pass at least one value per group"
            )
        _, dtype = sample_dtype(func, "samples", arr)
        rows = to_rows(arr, axis, group_size)
        rows = rows.astype(dtype, copy=bool(copy) or not rows.flags.c_contiguous)
        rows = np.ascontiguousarray(rows)
        fin = np.isfinite(rows)
        if not fin.all():
            bad = rows[~fin]
            raise InvalidArgument(non_finite_message(func, "samples", bad.size, bad[0]))
        wrows = None
        if weights is not None:
            w = _check_weights(func, weights, arr.shape)
            wrows = np.ascontiguousarray(to_rows(w, axis, group_size))
            tot = wrows.sum(axis=1)
            if not (tot > 0).all():
                i = int(np.flatnonzero(~(tot > 0))[0])
                raise InvalidArgument(
                    f"{func}: the weights of group "
                    f"{tuple(int(j) for j in np.unravel_index(i, bshape))} "
                    "(and maybe others) are all zero, so the group has no sample; "
                    "give every group a positive weight"
                )
        self.samples = rows.reshape(-1)
        self._rows, self._wrows = rows, wrows
        self._weights = None if wrows is None else wrows.reshape(-1)
        self.batch_shape = tuple(int(b) for b in bshape)
        self.n = int(n)
        if wrows is None:
            lo, hi = rows.min(axis=1), rows.max(axis=1)
        else:
            pos = wrows > 0
            lo = np.where(pos, rows, np.inf).min(axis=1)
            hi = np.where(pos, rows, -np.inf).max(axis=1)
        self._lo_rows = lo.astype(np.float64)
        self._hi_rows = hi.astype(np.float64)
        self.min = self._lo_rows.reshape(bshape)
        self.max = self._hi_rows.reshape(bshape)
        self._exponent = scale_exponent(float(lo.min()), float(hi.max()))
        self._stats = None
        self._sorted = None
        self._scaled_copy = None
        self._unit = None

    @property
    def _batched(self) -> bool:
        return self._rows is not None

    def _unit_rows(self) -> np.ndarray:
        """The ``(B, n)`` rows as float64 divided by ``2**_exponent`` (cached)."""
        if self._unit is None:
            x = self._rows.astype(np.float64)
            self._unit = np.ldexp(x, -self._exponent) if self._exponent else x
        return self._unit

    def _row_moments(self):
        """Per-row ``(mean, var, m4, m1, m2pos, ppos)`` of the scaled data
        (weighted), each an array of ``B``."""
        if self._stats is None:
            if self._rows is not None:
                x, w = self._unit_rows(), self._wrows
            else:
                x = np.asarray(self.samples, dtype=np.float64)[None, :]
                if self._exponent:
                    x = np.ldexp(x, -self._exponent)
                w = self._weights[None, :]
            ww = 1.0 if w is None else w
            tot = x.shape[1] if w is None else w.sum(axis=1)
            mean = (ww * x).sum(axis=1) / tot
            d = x - mean[:, None]
            corr = (ww * d).sum(axis=1) / tot
            m = mean + corr
            d2 = d * d
            var = np.maximum((ww * d2).sum(axis=1) / tot - corr * corr, 0.0)
            pos = x > 0
            self._stats = (
                m,
                var,
                (ww * d2 * d2).sum(axis=1) / tot,
                (ww * np.abs(x)).sum(axis=1) / tot,
                (ww * np.where(pos, x * x, 0.0)).sum(axis=1) / tot,
                (ww * pos).sum(axis=1) / tot,
            )
        return self._stats

    def _shaped(self, v):
        """A per-row array as the batch's shape (a float when unbatched)."""
        if self._rows is None:
            return float(np.asarray(v).reshape(-1)[0])
        return np.asarray(v, dtype=np.float64).reshape(self.batch_shape)

    def _load(self, func: str, name: str, samples, copy) -> None:
        if not isinstance(copy, bool | np.bool_):
            raise InvalidArgument(f"{func}: copy={show(copy)} must be True or False")
        if is_dask(samples):
            if samples.dtype.kind not in "iuf":
                raise InvalidArgument(
                    f"{func}: {name} has dtype {samples.dtype}; pass real numbers"
                )
            x = src = samples.ravel()
            copy_to = None
        else:
            arr, dtype = sample_dtype(func, name, samples)
            if isinstance(arr, np.memmap) or not copy:
                x = arr.reshape(-1) if arr.dtype == dtype else arr.astype(dtype)
                x = x.reshape(-1)
                src, copy_to = x, None
            else:
                # the copy is made tile by tile inside the range pass
                src = np.ravel(arr)
                x = copy_to = np.empty(src.size, dtype=dtype)
        n, lo, hi, bad = range_stats(src, copy_to) if x.size else (0, 0.0, 0.0, 0)
        if x.size == 0:
            raise InvalidArgument(f"{func}: {name} is empty; pass at least one value")
        if bad:
            first = next(
                c[~np.isfinite(c)] for c in iter_chunks(x) if not np.isfinite(c).all()
            )
            raise InvalidArgument(non_finite_message(func, name, bad, first[0]))
        self.samples = x
        self.n = int(n)
        self.min, self.max = lo, hi
        #: data are evaluated divided by 2**_exponent (see scale_exponent)
        self._exponent = scale_exponent(lo, hi)
        self._stats = None
        self._sorted = None
        self._scaled_copy = None

    def _moments(self):
        """``(mean, variance, m4, m1, m2pos, ppos)`` of the data divided by
        ``2**_exponent``: one float64 pass, on first use only (``m1`` is
        the mean of ``|x|``, ``m2pos`` that of ``x**2`` over ``x > 0`` and
        ``ppos`` the fraction ``x > 0``).

        The optimal step and the MSE need only ``n``, ``min`` and ``max``, so
        constructing an ``Empirical`` costs a copy and one range pass.
        """
        if self._rows is not None or self._weights is not None:
            return tuple(self._shaped(v) for v in self._row_moments())
        if self._stats is None:
            e = self._exponent

            def scaled(c):
                c = c.astype(np.float64)
                return np.ldexp(c, -e) if e else c

            total = map_reduce(
                self.samples,
                lambda c: float(scaled(c).sum(dtype=np.float64)),
                lambda p, q: p + q,
            )
            mean = total / self.n

            def one(c):
                c = scaled(c)
                d = c - mean
                d2 = d * d
                pos = c > 0
                return np.array(
                    [
                        d.sum(),
                        d2.sum(),
                        (d2 * d2).sum(),
                        np.abs(c).sum(),
                        (c[pos] ** 2).sum(),
                        float(np.count_nonzero(pos)),
                    ]
                )

            d1, d2, d4, a1, p2, pc = map_reduce(self.samples, one, lambda p, q: p + q)
            n = self.n
            # one correction step of the mean (exact-sum refinement)
            m = float(mean + d1 / n)
            c = m - mean
            var = float(max(d2 / n - c * c, 0.0))
            self._stats = (m, var, float(d4 / n), a1 / n, p2 / n, pc / n)
        return self._stats

    @property
    def mean(self) -> float:
        """Sample mean (float64; weighted, and per group for a batch)."""
        m = _ldexp(self._moments()[0], self._exponent)
        return m if self._batched else float(m)

    @property
    def variance(self) -> float:
        """Population variance (divisor N).

        Raises :class:`InvalidArgument` where it is beyond float64's normal
        range (``std`` is a float there).
        """
        v = self._moments()[1]
        out = check_representable(
            "Empirical.variance",
            "the variance",
            _ldexp(v, 2 * self._exponent),
            positive=bool(np.all(v > 0)),
            hint="use std, or rescale the samples",
        )
        return out if self._batched else float(out)

    @property
    def std(self) -> float:
        """Population standard deviation (divisor N)."""
        s = _ldexp(np.sqrt(self._moments()[1]), self._exponent)
        return s if self._batched else float(s)

    @property
    def second_moment(self) -> float:
        """:math:`E[X^2]` of the samples, the signal power used for SQNR.

        Raises :class:`InvalidArgument` where it is beyond float64's normal
        range.
        """
        p = self._unit_power()
        out = check_representable(
            "Empirical.second_moment",
            "E[X^2]",
            _ldexp(p, 2 * self._exponent),
            positive=bool(np.all(p > 0)),
            hint="rescale the samples",
        )
        return out if self._batched else float(out)

    def _unit_power(self) -> float:
        """:math:`E[X^2]` of the data divided by ``2**_exponent``."""
        m, v = self._moments()[:2]
        return v + m * m

    def _coarse_stats(self):
        """``(E|X|, E[X^2], E[X^2; X>0], P[X>0])`` of the scaled data."""
        st = self._moments()
        return st[3], self._unit_power(), st[4], st[5]

    @property
    def _m4(self) -> float:
        return self._moments()[2]

    @property
    def _scale(self) -> float:
        v = self.std
        if self._batched:
            return np.where(v > 0, v, 1.0)
        return v if v > 0 else 1.0

    def _scaled(self) -> Empirical:
        """The samples divided by ``2**_exponent`` (itself if that is 1)."""
        if not self._exponent or self._batched:
            return self
        if self._weights is not None:
            if self._scaled_copy is None:
                data = np.asarray(self.samples, dtype=np.float64)
                self._scaled_copy = Empirical(
                    np.ldexp(data, -self._exponent), weights=self._weights, copy=False
                )
            return self._scaled_copy
        if self._scaled_copy is None:
            data = self.samples
            if not is_dask(data):
                data = np.asarray(data, dtype=np.float64)
            self._scaled_copy = Empirical(np.ldexp(data, -self._exponent), copy=False)
        return self._scaled_copy

    def __repr__(self):
        if self._batched:
            return f"Empirical(batch_shape={self.batch_shape}, n={self.n} per group)"
        w = "" if self._weights is None else ", weighted"
        return f"Empirical(n={self.n}, mean={self.mean:.6g}, std={self.std:.6g}{w})"

    @property
    def kurtosis(self) -> float:
        """Kurtosis :math:`m_4/\\sigma^4` (not excess; 3 for a Gaussian).

        Raises
        ------
        InvalidArgument
            If the samples are constant (variance 0).
        """
        v = self._moments()[1]
        if np.any(v == 0):
            where = ""
            if self._batched:
                i = np.argwhere(np.asarray(v) == 0)[0]
                where = f" of group {tuple(int(j) for j in i)}"
            raise InvalidArgument(
                f"Empirical.kurtosis: the samples{where} are constant (variance 0), "
                "so the kurtosis is undefined"
            )
        return self._m4 / (v * v)

    @property
    def sorted(self) -> np.ndarray:
        """The samples as float64, sorted ascending (computed once, cached).

        For a batch, the ``(B, n)`` rows, each sorted.
        """
        if self._sorted is None and self._batched:
            self._sorted = np.sort(self._rows.astype(np.float64), axis=1)
        if self._sorted is None:
            self._sorted = np.sort(np.concatenate(list(iter_chunks(self.samples))))
        return self._sorted

    def _in_memory(self) -> np.ndarray:
        return np.asarray(
            self.samples.compute() if is_dask(self.samples) else self.samples
        )

    def _whole(self, what: str) -> None:
        if self._batched or self._weights is not None:
            raise InvalidArgument(
                f"Empirical.{what}: not defined for a batched or weighted Empirical "
                f"({self!r}); build an Empirical of one group's samples"
            )

    def _pdf(self, x):
        self._whole("pdf")
        e = self._exponent
        data = self._in_memory()
        if self.min == self.max:
            if np.any(x == self.min):
                raise InvalidArgument(
                    f"Empirical.pdf: the samples are all equal to {self.min!r}, "
                    "a point mass, which has no density there"
                )
            return np.zeros_like(x)
        if e:  # in scaled coordinates: max - min would overflow
            dens = self._pdf_scaled(_ldexp(data, -e), _ldexp(x, -e))
            return _ldexp(dens, -e)
        return self._pdf_scaled(data, x)

    @staticmethod
    def _pdf_scaled(data, x):
        # Freedman-Diaconis bins as numpy counts them, at most _PDF_BINS (a
        # narrow bulk with far outliers would ask for astronomically many)
        q1, q3 = np.percentile(data, [25.0, 75.0])
        width = 2.0 * float(q3 - q1) * data.size ** (-1.0 / 3.0)
        span = float(data.max()) - float(data.min())
        with np.errstate(over="ignore"):
            want = span / width if width > 0 else 1.0
        bins = math.ceil(float(want)) if want < _PDF_BINS else _PDF_BINS
        dens, edges = np.histogram(data, bins=max(bins, 1), density=True)
        i = np.searchsorted(edges, x, side="right") - 1
        inside = (i >= 0) & (i < dens.size)
        i = np.clip(i, 0, dens.size - 1)
        # include the right edge in the last bin
        on_edge = x == edges[-1]
        return np.where(
            inside | on_edge, dens[np.where(on_edge, dens.size - 1, i)], 0.0
        )

    def _cdf(self, x):
        self._whole("cdf")
        return np.searchsorted(self.sorted, x, side="right") / self.n

    def _sf(self, x):
        return 1.0 - self._cdf(x)

    def _sample(self, n, rng):
        self._whole("sample")
        idx = rng.integers(0, self.n, size=n)
        if is_dask(self.samples):
            return np.asarray(self.samples[np.sort(idx)].compute(), dtype=np.float64)
        return np.asarray(self.samples[idx], dtype=np.float64)


def _in_memory_array(func: str, samples) -> np.ndarray:
    """``samples`` as an in-memory array of its own shape (tensors detached on
    the CPU, memory maps and Dask arrays read whole)."""
    if is_dask(samples):
        samples = samples.compute()
    if is_torch(samples):
        try:
            return torch_to_numpy(samples)
        except (TypeError, RuntimeError) as err:
            raise InvalidArgument(
                f"{func}: samples={show(samples)} cannot be read as numbers ({err})"
            ) from None
    if isinstance(samples, np.ma.MaskedArray):
        raise InvalidArgument(
            f"{func}: a masked array cannot be batched or weighted (its masked "
            "entries would change the groups); give masked entries weight 0 instead"
        )
    arr, _ = sample_dtype(func, "samples", samples)
    return np.asarray(arr)


def _check_weights(func: str, weights, shape: tuple) -> np.ndarray:
    """``weights`` as float64 of ``shape``: real, finite, non-negative."""
    if is_torch(weights):
        weights = torch_to_numpy(weights)
    try:
        w = np.asarray(weights)
    except Exception:
        w = None
    if w is None or w.dtype.kind not in "iuf" or w.dtype == np.bool_:
        raise InvalidArgument(
            f"{func}: weights={show(weights)} must be real non-negative numbers"
        )
    if w.shape != tuple(shape):
        raise InvalidArgument(
            f"{func}: weights of shape {w.shape} must have the shape of the samples, "
            f"{tuple(shape)}"
        )
    w = w.astype(np.float64)
    bad = ~(np.isfinite(w) & (w >= 0))
    if bad.any():
        raise InvalidArgument(
            f"{func}: weights must be finite and non-negative; {int(bad.sum())} are "
            f"not (first: {float(w[bad][0])!r})"
        )
    return w


def as_empirical(func: str, name: str, samples) -> Empirical:
    """``samples`` (an array, list or tensor) as an :class:`Empirical`.

    The wrapper that lets a public function take plain data where a
    distribution is expected. It keeps a reference to in-memory float data
    (no copy: it lives for the call), and its errors name ``func`` and
    ``name``.

    Parameters
    ----------
    func : str
        The public function, for the messages.
    name : str
        The argument, for the messages.
    samples : array_like, torch.Tensor, numpy.memmap or dask.array.Array
        The data, as for :class:`Empirical`.

    Returns
    -------
    Empirical
        The empirical law of ``samples``.

    Examples
    --------
    >>> as_empirical("optimal_step", "dist", [[-1.0, 0.0], [0.0, 1.0]]).n
    4
    >>> as_empirical("optimal_step", "dist", [1.0, float("nan")])
    Traceback (most recent call last):
    ...
    quanttheory._core.errors.InvalidArgument: optimal_step: dist contains 1 ...
    """
    out = Empirical.__new__(Empirical)
    out._load(func, name, samples, False)
    return out
