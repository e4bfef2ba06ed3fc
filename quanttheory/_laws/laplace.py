"""The centred Laplace law."""

from __future__ import annotations

import math

import numpy as np

from .._core.checks import check_positive_scalar, check_representable
from .._core.distribution import Distribution

__all__ = ["Laplace"]


# ---------------------------------------------------------------------------
# Laplace
# ---------------------------------------------------------------------------
class Laplace(Distribution):
    r"""Centred Laplace law with scale :math:`b`.

    .. math::

        f(x) = \frac{1}{2b} e^{-|x|/b}, \qquad \operatorname{Var} X = 2b^2,
        \qquad \kappa = 6

    For :math:`\tau \ge 0` the tail moments are exact exponentials:
    :math:`E[(X-\tau)^2;X>\tau] = b^2 e^{-\tau/b}`.

    Parameters
    ----------
    b : float
        Scale, ``> 0`` (the standard deviation is :math:`\sqrt2\,b`).

    Examples
    --------
    >>> import quanttheory as qt
    >>> lap = qt.Laplace(1.0)
    >>> lap.variance, lap.kurtosis
    (2.0, 6.0)
    """

    name = "laplace"
    _symmetric = True
    mean = 0.0
    kurtosis = 6.0

    def __init__(self, b: float = 1.0):
        self.b = check_positive_scalar("Laplace", "b", b)
        self._scale = self.b
        self._breakpoints = np.array([0.0])
        self._jumps = np.array([0.0])

    def __repr__(self):
        return f"Laplace(b={self.b!r})"

    def _key(self):
        return ("b", self.b)

    def _standardized(self):
        return (self if self.b == 1.0 else Laplace(1.0)), self.b

    @classmethod
    def with_variance(cls, variance: float) -> Laplace:
        """The member with the given variance, :math:`b = \\sqrt{v/2}`.

        Parameters
        ----------
        variance : float
            The variance :math:`\\sigma^2`, ``> 0``.

        Returns
        -------
        Laplace
            The law with ``b = sqrt(variance / 2)``.
        """
        v = check_positive_scalar("Laplace.with_variance", "variance", variance)
        return cls(math.sqrt(0.5 * v))

    @property
    def variance(self) -> float:
        """Variance :math:`2 b^2`.

        Raises :class:`~quanttheory.InvalidArgument` where :math:`2b^2` is
        not a normal float64 (:math:`b` above about 9.5e153 or below
        1.1e-154); ``std`` and every MSE function still work there, in the
        law's scaled coordinates.
        """
        return check_representable(
            "Laplace.variance",
            f"2*b**2 for b={self.b!r}",
            2.0 * (self.b * self.b),
            positive=True,
            hint="use std, or a law of another scale",
        )

    def _pdf(self, x):
        return np.exp(-np.abs(x) / self.b) * (0.5 / self.b)

    def _dpdf(self, x):
        return -np.sign(x) * np.exp(-np.abs(x) / self.b) * (0.5 / self.b**2)

    def _cdf(self, x):
        e = 0.5 * np.exp(-np.abs(x) / self.b)
        return np.where(x < 0, e, 1.0 - e)

    def _sf(self, x):
        return self._cdf(-x)

    def _upper_tail(self, tau):
        b = self.b
        tau = np.asarray(tau, dtype=np.float64)
        e = np.exp(-np.abs(tau) / b)
        pos = tau >= 0
        sf = np.where(pos, 0.5 * e, 1.0 - 0.5 * e)
        # tau < 0: E[X - tau] = -tau and E[(X-tau)^2] = 2b^2 + tau^2, minus the
        # (small, positive) lower-tail parts; no cancellation since -tau > 0.
        t1 = np.where(pos, 0.5 * b * e, -tau + 0.5 * b * e)
        t2 = np.where(pos, b * b * e, 2.0 * b * b + tau * tau - b * b * e)
        return sf, t1, t2

    def _sample(self, n, rng):
        return rng.laplace(0.0, self.b, size=n)

    # -- series hooks (quanttheory._laws.series) ---------------------------
    def _pdf_derivatives(self, x, kmax: int):
        r""":math:`f^{(k)}(x) = (-\operatorname{sgn}(x)/b)^k f(x)`, :math:`x \ne 0`."""
        f = self._pdf(x)
        r = -np.where(x > 0, 1.0, -1.0) / self.b
        out = np.empty((kmax + 1, *np.shape(x)))
        out[0] = f
        for k in range(kmax):
            out[k + 1] = out[k] * r
        return out

    def _derivative_l1(self, k: int) -> float:
        r""":math:`\int|f^{(k)}| = b^{-k}` off the kink (the jump terms carry it)."""
        return self.b ** (-k)

    def _derivative_moment_l1(self, k: int, p: int) -> float:
        r""":math:`\int|x^p f^{(k)}| = b^{-k}E|X|^p` (:math:`E|X|=b`,
        :math:`EX^2=2b^2`)."""
        return (1.0 if p == 1 else 2.0) * self.b ** (p - k)

    # -- lattice hook (quanttheory._laws.lattice) --------------------------
    def _lattice_mse(self, d, offset: float, top: float, bottom: float):
        r"""The infinite lattice's MSE in closed form.

        The cells of levels :math:`(k+o)\Delta` carry the geometric weights
        :math:`e^{-|k+o|\Delta/b}`; summed (equivalently, the Fourier series
        with :math:`\varphi(\omega) = 1/(1+b^2\omega^2)` in closed form),
        with :math:`y = \Delta/(2b)`,

        .. math::

            o = 0:\ D_\infty = 2b^2\,\frac{\sinh y - y}{\sinh y}, \qquad
            o = \tfrac12:\ D_\infty = b^2\,
            \frac{(y^2+2)\sinh y - 2y\cosh y}{\sinh y}.

        The numerators are the positive series
        :math:`\sum_{m\ge1} y^{2m+1}/(2m+1)!` and
        :math:`\sum_{m\ge1} 2m(2m-1)\,y^{2m+1}/(2m+1)!` below
        :math:`y = 2` (nothing cancels), and the closed forms in
        :math:`e^{-y}` beyond. The clipping is bounded by the exact tail
        moments :math:`T_2^\pm = b^2e^{-|\tau_\pm|/b}`. Returns ``(value,
        magnitude, bound)``; NaN for another offset.
        """
        d = np.asarray(d, dtype=np.float64)
        b = self.b
        y = d / (2.0 * b)
        small = y < 2.0
        ys = np.where(small, y, 0.0)
        num = np.zeros(d.shape)
        term = ys.copy()  # y^(2m+1) / (2m+1)!, m = 0
        for m in range(1, 26):  # y < 2: the 26th term is below 1e-40
            term = term * ys * ys / ((2 * m) * (2 * m + 1))
            num += term if offset == 0.0 else 2 * m * (2 * m - 1) * term
        sh = np.sinh(ys)
        with np.errstate(all="ignore"):
            e1 = np.exp(-y)
            e2 = -np.expm1(-2.0 * y)  # 1 - e^-2y
            ratio = 2.0 * y * e1 / e2  # y / sinh y
            ycoth = y * (1.0 + e1 * e1) / e2  # y coth y
            if offset == 0.0:
                small_v = 2.0 * b * b * num / sh
                big_v = 2.0 * b * b * (1.0 - ratio)
                big_m = 2.0 * b * b * (1.0 + ratio)
            elif offset == 0.5:
                small_v = b * b * num / sh
                big_v = b * b * (y * y + 2.0 - 2.0 * ycoth)
                big_m = b * b * (y * y + 2.0 + 2.0 * ycoth)
            else:
                nan = np.full(d.shape, np.nan)
                return nan, nan, nan
        value = np.where(small, small_v, big_v)
        magnitude = np.where(small, small_v, big_m)
        # clipping: T2 = b^2 e^(-tau/b) beyond an outer level tau >= 0
        bound = np.zeros(d.shape)
        for t in (top * d, -bottom * d):
            bound = bound + np.where(t >= 0, b * b * np.exp(-t / b), np.inf)
        return value, magnitude, bound
