"""The centred Laplace law."""

from __future__ import annotations

import math

import numpy as np

from .._core.checks import check_positive_scalar
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
        """Variance :math:`2 b^2`."""
        return 2.0 * self.b**2

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
