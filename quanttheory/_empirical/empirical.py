"""The empirical law of a finite array."""

from __future__ import annotations

import math

import numpy as np

from .._core.checks import (
    check_representable,
    non_finite_message,
    sample_dtype,
    show,
)
from .._core.distribution import Distribution
from .._core.errors import InvalidArgument
from .._core.parallel import is_dask, iter_chunks, map_reduce, range_stats

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
    copy : bool
        Copy in-memory input (default). ``copy=False`` keeps a reference (the
        caller must then not modify the array; a CPU tensor shares its
        memory).

    Raises
    ------
    InvalidArgument
        If ``samples`` is empty, ragged, not real, or contains NaN or
        infinity, or ``copy`` is not a bool.

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
    """

    name = "empirical"
    _is_empirical = True

    def __init__(self, samples, *, copy: bool = True):
        self._load("Empirical", "samples", samples, copy)

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
        """Sample mean (float64)."""
        return float(_ldexp(self._moments()[0], self._exponent))

    @property
    def variance(self) -> float:
        """Population variance (divisor N).

        Raises :class:`InvalidArgument` where it is beyond float64's normal
        range (``std`` is a float there).
        """
        v = self._moments()[1]
        return float(
            check_representable(
                "Empirical.variance",
                "the variance",
                _ldexp(v, 2 * self._exponent),
                positive=v > 0,
                hint="use std, or rescale the samples",
            )
        )

    @property
    def std(self) -> float:
        """Population standard deviation (divisor N)."""
        return float(_ldexp(math.sqrt(self._moments()[1]), self._exponent))

    @property
    def second_moment(self) -> float:
        """:math:`E[X^2]` of the samples, the signal power used for SQNR.

        Raises :class:`InvalidArgument` where it is beyond float64's normal
        range.
        """
        p = self._unit_power()
        return float(
            check_representable(
                "Empirical.second_moment",
                "E[X^2]",
                _ldexp(p, 2 * self._exponent),
                positive=p > 0,
                hint="rescale the samples",
            )
        )

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
        return v if v > 0 else 1.0

    def _scaled(self) -> Empirical:
        """The samples divided by ``2**_exponent`` (itself if that is 1)."""
        if not self._exponent:
            return self
        if self._scaled_copy is None:
            data = self.samples
            if not is_dask(data):
                data = np.asarray(data, dtype=np.float64)
            self._scaled_copy = Empirical(np.ldexp(data, -self._exponent), copy=False)
        return self._scaled_copy

    def __repr__(self):
        return f"Empirical(n={self.n}, mean={self.mean:.6g}, std={self.std:.6g})"

    @property
    def kurtosis(self) -> float:
        """Kurtosis :math:`m_4/\\sigma^4` (not excess; 3 for a Gaussian).

        Raises
        ------
        InvalidArgument
            If the samples are constant (variance 0).
        """
        v = self._moments()[1]
        if v == 0:
            raise InvalidArgument(
                "Empirical.kurtosis: the samples are constant (variance 0), "
                "so the kurtosis is undefined"
            )
        return self._m4 / (v * v)

    @property
    def sorted(self) -> np.ndarray:
        """The samples as float64, sorted ascending (computed once, cached)."""
        if self._sorted is None:
            self._sorted = np.sort(np.concatenate(list(iter_chunks(self.samples))))
        return self._sorted

    def _in_memory(self) -> np.ndarray:
        return np.asarray(
            self.samples.compute() if is_dask(self.samples) else self.samples
        )

    def _pdf(self, x):
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
        return np.searchsorted(self.sorted, x, side="right") / self.n

    def _sf(self, x):
        return 1.0 - self._cdf(x)

    def _sample(self, n, rng):
        idx = rng.integers(0, self.n, size=n)
        if is_dask(self.samples):
            return np.asarray(self.samples[np.sort(idx)].compute(), dtype=np.float64)
        return np.asarray(self.samples[idx], dtype=np.float64)


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
