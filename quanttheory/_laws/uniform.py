"""The uniform law on [-a, a] (the seed's running example)."""

from __future__ import annotations

import math

import numpy as np

from .._core.checks import check_positive_scalar, check_representable
from .._core.distribution import Distribution

__all__ = ["Uniform"]


# ---------------------------------------------------------------------------
# Uniform
# ---------------------------------------------------------------------------
class Uniform(Distribution):
    r"""Uniform law on :math:`[-a, a]`, the seed's :math:`X_U`.

    .. math::

        f(x) = \frac{1}{2a}\,\mathbb{1}[|x| \le a], \qquad
        \operatorname{Var} X = \frac{a^2}{3}, \qquad \kappa = 1.8

    Parameters
    ----------
    a : float
        Half-width, ``> 0``.

    Notes
    -----
    The density jumps at :math:`\pm a`, so the MSE is not twice differentiable
    in the step where a decision threshold crosses :math:`\pm a`; the engine
    then returns one-sided second derivatives.

    References
    ----------
    .. [1] M. Shkolnik et al., "Robust Quantization: One Model to Rule Them
       All", NeurIPS 2020, arXiv:2002.07686, Lemma 2.

    Examples
    --------
    >>> import quanttheory as qt
    >>> u = qt.Uniform(1.0)
    >>> u.variance, u.kurtosis
    (0.3333333333333333, 1.8)
    >>> u.pdf([0.0, 2.0]).tolist()
    [0.5, 0.0]
    """

    name = "uniform"
    _symmetric = True

    def __init__(self, a: float = 1.0):
        self.a = check_positive_scalar("Uniform", "a", a)
        self._scale = self.a
        self._breakpoints = np.array([-self.a, self.a])
        self._jumps = np.array([0.5 / self.a, -0.5 / self.a])

    def __repr__(self):
        return f"Uniform(a={self.a!r})"

    def _key(self):
        return ("a", self.a)

    def _standardized(self):
        return (self if self.a == 1.0 else Uniform(1.0)), self.a

    @classmethod
    def with_variance(cls, variance: float) -> Uniform:
        """The member with the given variance, :math:`a = \\sqrt{3 v}`.

        Parameters
        ----------
        variance : float
            The variance :math:`\\sigma^2`, ``> 0``.

        Returns
        -------
        Uniform
            The law with ``a = sqrt(3 * variance)``.
        """
        v = check_positive_scalar("Uniform.with_variance", "variance", variance)
        return cls(math.sqrt(3.0 * v))

    mean = 0.0

    @property
    def variance(self) -> float:
        """Variance :math:`a^2/3`.

        Raises :class:`~quanttheory.InvalidArgument` where :math:`a^2/3` is
        not a normal float64 (:math:`a` above about 2.3e154 or below
        2.6e-154); ``std`` and every MSE function still work there, in the
        law's scaled coordinates.
        """
        a = self.a
        value = a * a / 3.0 if a < 1e150 else a * (a / 3.0)
        return check_representable(
            "Uniform.variance",
            f"a**2/3 for a={a!r}",
            value,
            positive=True,
            hint="use std, or a law of another scale",
        )

    kurtosis = 1.8

    def _pdf(self, x):
        return np.where(np.abs(x) <= self.a, 0.5 / self.a, 0.0)

    def _dpdf(self, x):
        return np.zeros_like(x)

    def _cdf(self, x):
        return np.clip((x + self.a) / (2.0 * self.a), 0.0, 1.0)

    def _sf(self, x):
        return np.clip((self.a - x) / (2.0 * self.a), 0.0, 1.0)

    def _upper_tail(self, tau):
        a = self.a
        tau = np.asarray(tau, dtype=np.float64)
        d = np.clip(a - tau, 0.0, 2.0 * a)  # length of [tau, a] inside the support
        s = d / (2.0 * a)
        t1 = d * d / (4.0 * a)
        t2 = d**3 / (6.0 * a)
        # below the support every point is in the tail: shift by tau+a < 0
        # below the support every point is in the tail:
        # E[X - tau] = -tau and E[(X - tau)^2] = a^2/3 + tau^2.
        below = tau < -a
        t1 = np.where(below, -tau, t1)
        t2 = np.where(below, a * a / 3.0 + tau * tau, t2)
        return s, t1, t2

    def _sample(self, n, rng):
        return rng.uniform(-self.a, self.a, size=n)

    # -- series hooks (quanttheory._laws.series) ---------------------------
    def _pdf_derivatives(self, x, kmax: int):
        """f and zero derivatives (the jumps at +-a are breakpoints)."""
        out = np.zeros((kmax + 1, *np.shape(x)))
        out[0] = self._pdf(x)
        return out

    def _derivative_l1(self, k: int) -> float:
        return 1.0 if k == 0 else 0.0

    def _derivative_moment_l1(self, k: int, p: int) -> float:
        r""":math:`\int|x^p f| = a^p/(p+1)`; zero for :math:`k \ge 1`."""
        return self.a**p / (p + 1.0) if k == 0 else 0.0
