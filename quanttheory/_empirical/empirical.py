"""The empirical law of a finite array."""

from __future__ import annotations

import math

import numpy as np

from .._core.checks import non_finite_message, sample_dtype
from .._core.distribution import Distribution
from .._core.errors import InvalidArgument
from .._core.parallel import is_dask, iter_chunks, moment_stats, range_stats, sum_stats

__all__ = ["Empirical"]


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
    samples : array_like, numpy.memmap or dask.array.Array
        Finite real numbers, any shape (flattened). An in-memory array is
        copied in its own floating dtype (float32 stays float32; integers and
        float16 become float64/float32), so later changes to it do not leak
        in. A :class:`numpy.memmap` or a Dask array is kept as it is and read
        chunk by chunk, so data larger than memory works.
    copy : bool
        Copy in-memory input (default). ``copy=False`` keeps a reference (the
        caller must then not modify the array).

    Raises
    ------
    InvalidArgument
        If ``samples`` is empty or contains NaN or infinity.

    Notes
    -----
    Construction costs the copy and one pass for ``n``, ``min`` and ``max``
    (all that :func:`optimal_step` and :func:`mse` need). The moments are
    those of the empirical law (population moments, divisor :math:`N`),
    computed in float64 in chunks on first use and cached. ``pdf`` is a histogram
    estimate (Freedman-Diaconis bins) for plotting; the engine never uses it.

    Examples
    --------
    >>> import numpy as np
    >>> import quanttheory as qt
    >>> e = qt.Empirical(np.array([[-1.0, 0.0], [0.0, 1.0]]))
    >>> e.n, e.variance, e.kurtosis
    (4, 0.5, 2.0)
    """

    name = "empirical"
    _is_empirical = True

    def __init__(self, samples, *, copy: bool = True):
        if is_dask(samples):
            if samples.dtype.kind not in "iuf":
                raise InvalidArgument(
                    f"Empirical: samples has dtype {samples.dtype}; pass real numbers"
                )
            x = src = samples.ravel()
            copy_to = None
        else:
            arr, dtype = sample_dtype("Empirical", "samples", samples)
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
            raise InvalidArgument(
                "Empirical: samples is empty; pass at least one value"
            )
        if bad:
            first = next(
                c[~np.isfinite(c)] for c in iter_chunks(x) if not np.isfinite(c).all()
            )
            raise InvalidArgument(
                non_finite_message("Empirical", "samples", bad, first[0])
            )
        self.samples = x
        self.n = int(n)
        self.min, self.max = lo, hi
        self._stats = None
        self._sorted = None

    def _moments(self):
        """``(mean, variance, m4)``: one float64 pass, on first use only.

        The optimal step and the MSE need only ``n``, ``min`` and ``max``, so
        constructing an ``Empirical`` costs a copy and one range pass.
        """
        if self._stats is None:
            mean = sum_stats(self.samples) / self.n
            d1, d2, d4 = moment_stats(self.samples, mean)
            # one correction step of the mean (exact-sum refinement)
            m = float(mean + d1 / self.n)
            c = m - mean
            var = float(max(d2 / self.n - c * c, 0.0))
            self._stats = (m, var, float(d4 / self.n))
        return self._stats

    @property
    def mean(self) -> float:
        """Sample mean (float64)."""
        return self._moments()[0]

    @property
    def variance(self) -> float:
        """Population variance (divisor N)."""
        return self._moments()[1]

    @property
    def _m4(self) -> float:
        return self._moments()[2]

    @property
    def _scale(self) -> float:
        v = self.variance
        return math.sqrt(v) if v > 0 else 1.0

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
        if self.variance == 0:
            raise InvalidArgument(
                "Empirical.kurtosis: the samples are constant (variance 0), "
                "so the kurtosis is undefined"
            )
        return self._m4 / self.variance**2

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
        data = self._in_memory()
        edges = np.histogram_bin_edges(data, bins="fd")
        if edges.size < 2 or edges[-1] == edges[0]:
            return np.where(x == data[0], np.inf, 0.0)
        dens, edges = np.histogram(data, bins=edges, density=True)
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
