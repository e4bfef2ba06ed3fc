"""Adding a family means writing only its formulas.

A logistic law written here with closed-form formulas (and nothing else) must
agree with the generic scipy route, ``from_scipy(scipy.stats.logistic(...))``,
which shares none of these formulas: two independent routes to one quantity.
"""

import math

import numpy as np
import pytest
import scipy.stats as st
from scipy import special

import quanttheory as qt


class Logistic(qt.Distribution):
    r"""Logistic law with scale s: f(x) = e^{-x/s} / (s (1 + e^{-x/s})^2)."""

    name = "logistic"
    _symmetric = True
    mean = 0.0
    kurtosis = 4.2  # excess 6/5

    def __init__(self, s=1.0):
        self.s = float(s)
        self._scale = self.s

    @property
    def variance(self):
        return (math.pi * self.s) ** 2 / 3.0

    def _pdf(self, x):
        z = np.abs(x) / self.s
        e = np.exp(-z)
        return e / (self.s * (1.0 + e) ** 2)

    def _cdf(self, x):
        return special.expit(x / self.s)

    def _sf(self, x):
        return special.expit(-x / self.s)

    def _upper_tail(self, tau):
        # For z = tau/s >= 0, with polylogarithms of -e^{-z}:
        #   P[X > tau]          = S = 1/(1+e^z)
        #   E[(X-tau); X>tau]   = s * log(1 + e^{-z})
        #   E[(X-tau)^2; X>tau] = -2 s^2 Li2(-e^{-z})
        # For z < 0 use E[X - tau] = -tau and E[(X-tau)^2] = var + tau^2
        # minus the lower tail at tau (= upper tail at -tau by symmetry).
        tau = np.asarray(tau, dtype=float)
        z = np.abs(tau) / self.s
        e = np.exp(-z)
        sf = special.expit(-z)
        t1 = self.s * np.log1p(e)
        t2 = -2.0 * self.s**2 * _li2_neg(e)
        pos = tau >= 0
        return (
            np.where(pos, sf, 1.0 - sf),
            np.where(pos, t1, -tau + t1),
            np.where(pos, t2, self.variance + tau * tau - t2),
        )

    def _sample(self, n, rng):
        return rng.logistic(0.0, self.s, size=n)


def _li2_neg(e):
    """Li2(-e) for 0 <= e <= 1 by its alternating series (all terms shrink)."""
    e = np.asarray(e, dtype=float)
    k = np.arange(1, 80).reshape((-1,) + (1,) * e.ndim)
    return np.sum((-1.0) ** k * e[None, ...] ** k / k**2, axis=0)


@pytest.mark.parametrize("scheme", qt.SCHEMES)
@pytest.mark.parametrize("bits", [2, 4, 8])
def test_formula_only_family_matches_generic_scipy_route(scheme, bits):
    mine = Logistic(0.7)
    generic = qt.from_scipy(st.logistic(scale=0.7))
    d0 = qt.optimal_step(generic, bits, scheme=scheme)
    steps = d0 * np.array([0.25, 0.8, 1.0, 1.25, 4.0])
    # two independent exact routes (closed-form tails + GL vs. knot table +
    # GL on scipy's pdf); both claim <= 1e-10 relative error, so 1e-9 allows
    # the sum of their errors with margin.
    np.testing.assert_allclose(
        qt.mse(mine, steps, bits, scheme=scheme),
        qt.mse(generic, steps, bits, scheme=scheme),
        rtol=1e-9,
    )
    # and the optimiser finds the same step through either route
    # (rtol: Newton converges to ~1e-15; D is flat at the optimum so the
    # argmin is sensitive to the 1e-12-level differences of D' between routes)
    assert qt.optimal_step(mine, bits, scheme=scheme) == pytest.approx(d0, rel=1e-7)


def test_formula_only_family_has_the_public_api():
    lg = Logistic(1.0)
    assert lg.std == pytest.approx(math.pi / math.sqrt(3.0), rel=1e-15)  # closed form
    assert lg.cdf(0.0) == 0.5  # symmetric law, exact in double
    x = lg.sample(1000, rng=1)
    assert x.shape == (1000,)
