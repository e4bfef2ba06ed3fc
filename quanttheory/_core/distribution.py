r"""The :class:`Distribution` base class and its hook defaults.

A family is a subclass that writes only its formulas (the scipy.stats
``_pdf_formula`` pattern):

* ``_pdf``, ``_cdf``, ``_sf`` and, where known, ``_dpdf`` (the derivative of
  the density at smooth points);
* ``_upper_tail(tau)`` returning the tail moments
  :math:`\left(P[X>\tau],\ E[(X-\tau);X>\tau],\ E[(X-\tau)^2;X>\tau]\right)`
  and ``_lower_tail(tau)`` returning
  :math:`\left(P[X<\tau],\ E[(\tau-X);X<\tau],\ E[(\tau-X)^2;X<\tau]\right)`,
  each in a form without catastrophic cancellation (symmetric families get
  the lower tail for free);
* ``_breakpoints`` and ``_jumps``: where the density is not smooth, and by how
  much it jumps there, so that per-cell Gauss-Legendre never straddles a kink;
* ``_scale``: the length on which the density varies, which sets the panel
  width of the quadrature, and ``_centre``, a point between the tails;
* the moments and ``_sample``;
* optionally the series hooks ``_pdf_derivatives``, ``_derivative_l1`` and
  ``_derivative_moment_l1`` (:mod:`quanttheory._laws.series`), and
  ``_key`` / ``_standardized`` for caching and scale invariance.

The engines (:mod:`quanttheory._laws`) need nothing else.
"""

from __future__ import annotations

import math

import numpy as np

from .checks import (
    as_array,
    as_float_result,
    check_positive_int,
    check_representable,
    check_rng,
    show,
)
from .errors import InvalidArgument

__all__ = ["Distribution", "as_float_array", "check_distribution"]


class Distribution:
    r"""Base class of every distribution that the engine accepts.

    Subclasses write formulas only; this class validates input and exposes the
    public API (``pdf``, ``cdf``, ``sf``, the moments and ``sample``).

    A new family defines ``name``, ``mean``, ``variance``, ``kurtosis``,
    ``_scale``, ``_pdf``, ``_cdf``, ``_sf``, ``_upper_tail`` (and
    ``_lower_tail`` unless ``_symmetric = True``), ``_sample``, and
    optionally ``_dpdf``, ``_breakpoints`` and ``_jumps``; see the module
    docstring of ``quanttheory._core.distribution`` and
    ``tests/laws/test_custom_family.py`` for a complete example.

    Examples
    --------
    >>> import quanttheory as qt
    >>> g = qt.Gaussian(1.0)
    >>> isinstance(g, qt.Distribution)
    True
    >>> round(g.sf(1.0), 6), round(g.pdf(0.0), 6)
    (0.158655, 0.398942)
    >>> g.sample(3, rng=0).shape
    (3,)
    """

    #: Short family name used in tables and reprs.
    name: str = "distribution"
    _breakpoints: np.ndarray = np.empty(0)
    _jumps: np.ndarray = np.empty(0)
    _symmetric: bool = False
    _is_empirical: bool = False
    _scale: float = 1.0
    #: a central point (median) separating "left" from "right" tails
    _centre: float = 0.0

    # -- public API ---------------------------------------------------------
    def pdf(self, x):
        """Probability density at ``x``.

        Parameters
        ----------
        x : array_like
            Real points, any shape; NaN is rejected.

        Returns
        -------
        float or ndarray
            The density at ``x``: a float for scalar input, else a float64
            array of the shape of ``x``.

        Raises
        ------
        InvalidArgument
            For NaN or non-numeric ``x``, or a density beyond float64's range
            (a law of scale below about 1e-308).
        """
        func = f"{self.name}.pdf"
        arr = as_float_array(func, x)
        unit, c = self._coordinates()
        with np.errstate(all="ignore"):
            out = self._pdf(arr) if unit is self else unit._pdf(arr / c) / c
        return as_float_result(check_representable(func, "the density", out))

    def cdf(self, x):
        """Cumulative distribution function :math:`P[X \\le x]`.

        Parameters
        ----------
        x : array_like
            Real points, any shape; NaN is rejected.

        Returns
        -------
        float or ndarray
            :math:`P[X \\le x]`: a float for scalar input, else a float64
            array of the shape of ``x``.
        """
        func = f"{self.name}.cdf"
        arr = as_float_array(func, x)
        unit, c = self._coordinates()
        with np.errstate(all="ignore"):
            out = self._cdf(arr) if unit is self else unit._cdf(arr / c)
        return as_float_result(check_representable(func, "the cdf", out))

    def sf(self, x):
        """Survival function :math:`P[X > x]`, accurate in the upper tail.

        Parameters
        ----------
        x : array_like
            Real points, any shape; NaN is rejected.

        Returns
        -------
        float or ndarray
            :math:`P[X > x]`: a float for scalar input, else a float64 array
            of the shape of ``x``.
        """
        func = f"{self.name}.sf"
        arr = as_float_array(func, x)
        unit, c = self._coordinates()
        with np.errstate(all="ignore"):
            out = self._sf(arr) if unit is self else unit._sf(arr / c)
        return as_float_result(check_representable(func, "the sf", out))

    @property
    def std(self) -> float:
        """Standard deviation.

        For a scale family it comes from the unit member, so it is a float
        whenever the scale is, also where the variance is not.
        """
        std = self._standardized()
        if std is not None and std[0] is not self:
            unit, c = std
            return check_representable(
                f"{self.name}.std", "the standard deviation", c * unit.std
            )
        return math.sqrt(self.variance)

    @property
    def second_moment(self) -> float:
        """:math:`E[X^2]`, the signal power used for SQNR.

        Raises :class:`InvalidArgument` where it is not a normal float64
        (the law's scale beyond about 1e154 or below 1e-154).
        """
        func = f"{self.name}.second_moment"
        std = self._standardized()
        if std is not None and std[0] is not self:
            unit, c = std
            value = unit.second_moment * c * c
        else:
            value = self.variance + self.mean * self.mean
        return check_representable(func, "E[X^2]", value, positive=True)

    def sample(self, n, rng=None) -> np.ndarray:
        """Draw ``n`` independent samples.

        Parameters
        ----------
        n : int
            Number of samples, ``>= 1``.
        rng : None, int or numpy.random.Generator
            Seed or generator, passed to :func:`numpy.random.default_rng`.
            Global random state is never touched.

        Returns
        -------
        ndarray
            Float64 array of shape ``(n,)``.

        Raises
        ------
        InvalidArgument
            For an ``n`` that is not a positive integer (or does not fit in
            memory), an ``rng`` that is not a seed or a generator, or draws
            beyond float64's range (a law of scale near 1e308).
        """
        func = f"{self.name}.sample"
        n = check_positive_int(func, "n", n)
        if n > _MAX_DRAWS:
            raise InvalidArgument(f"{func}: n={n} is more than 2**62 samples")
        gen = check_rng(func, rng)
        unit, c = self._coordinates()
        try:
            with np.errstate(over="ignore", invalid="ignore"):
                x = self._sample(n, gen) if unit is self else unit._sample(n, gen) * c
        except MemoryError:
            raise InvalidArgument(
                f"{func}: n={n} samples do not fit in memory"
            ) from None
        return check_representable(
            func, f"a draw of {self!r}", x, hint="use a law of smaller scale"
        )

    def _coordinates(self):
        """``(unit, c)`` with ``self`` equal in law to ``c * unit``: the unit
        member for a scale family whose scale lies beyond ``2**±100`` (where
        its own formulas could overflow), else ``(self, 1.0)``, so that the
        densities of ordinary laws keep their own formulas bit for bit."""
        std = self._standardized()
        if std is not None and not (2.0**-100 <= std[1] <= 2.0**100):
            return std[0], float(std[1])
        return self, 1.0

    # -- hooks with defaults -----------------------------------------------
    _dpdf = None  # derivative of the density; None means "not known"

    def _lower_tail(self, tau):
        if not self._symmetric:
            raise NotImplementedError(
                f"{type(self).__name__} must define _lower_tail(tau), or set "
                "_symmetric = True for a law symmetric about 0"
            )
        return self._upper_tail(-tau)

    def _key(self):
        """Hashable identity of the standardised family (for caches)."""
        return None

    def _standardized(self):
        """``(unit member, scale)`` for a scale family, else None."""
        return None

    def __eq__(self, other):
        if self is other:
            return True
        return (
            type(self) is type(other)
            and self._key() is not None
            and self._key() == other._key()
        )

    def __hash__(self):
        return hash((type(self).__name__, self._key()))


#: The most draws :meth:`Distribution.sample` accepts.
_MAX_DRAWS = 1 << 62


def as_float_array(func: str, x) -> np.ndarray:
    """``x`` as a float64 array of real numbers (no NaN) or raise."""
    arr = as_array(func, "x", x)
    if arr.dtype.kind not in "iuf":
        raise InvalidArgument(f"{func}: x={show(x)} must be real numbers")
    arr = arr.astype(np.float64, copy=False)
    if np.isnan(arr).any():
        raise InvalidArgument(f"{func}: x={show(x)} contains NaN")
    return arr


def check_distribution(func: str, dist) -> Distribution:
    """``dist`` if it is a :class:`Distribution`, else :class:`InvalidArgument`."""
    if not isinstance(dist, Distribution):
        raise InvalidArgument(
            f"{func}: dist={show(dist)} is not a quanttheory distribution; use "
            "Uniform, Gaussian, Laplace, from_scipy(...) or Empirical(...)"
        )
    return dist
