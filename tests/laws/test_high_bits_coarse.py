"""Coarse steps above 16 bits: the mass-limited cell sum (``_laws.routes``).

Above 16 bits the steps that neither the lattice nor the series certifies
used to take the order-3 expansion and the additive model, which are wrong
for a step comparable to the law's scale (``mse(Gaussian(), 50, 17)`` gave
208 instead of 1). A coarse step meets only a few levels before the mass
ends, so the exact cell sum over those levels is cheap. Expected values are
40-digit mpmath sums over the cells written here, sharing no code with the
engine.
"""

from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest

import quanttheory as qt

mp.mp.dps = 40


def _gauss_cells(step: float, offset: float, kmin: int, kmax: int):
    """(D, D') of N(0, 1) for levels (k + offset) * step, kmin <= k <= kmax,
    by mpmath: D = sum_k int_cell (x - c_k)^2 phi, D' = -2 sum_k (k + o)
    int_cell (x - c_k) phi (the Leibniz rule; boundary terms cancel)."""
    d = mp.mpf(step)
    phi = mp.npdf
    lo_k, hi_k = max(kmin, -40), min(kmax, 40)  # beyond 40 cells: no mass
    D = mp.mpf(0)
    D1 = mp.mpf(0)
    for k in range(lo_k, hi_k + 1):
        c = (k + offset) * d
        a = -mp.inf if k == kmin else c - d / 2
        b = mp.inf if k == kmax else c + d / 2
        D += mp.quad(lambda x, c=c: (x - c) ** 2 * phi(x), [a, c, b])
        D1 += -2 * (k + offset) * mp.quad(lambda x, c=c: (x - c) * phi(x), [a, c, b])
    return float(D), float(D1)


SCHEMES = {"paper": (0.0, 0), "midrise": (0.5, -1), "signed": (0.0, -1)}


@pytest.mark.parametrize("bits", [17, 20, 24])
@pytest.mark.parametrize("scheme", sorted(SCHEMES))
@pytest.mark.parametrize("step", [0.7, 3.0, 50.0])
def test_coarse_steps_above_16_bits_are_exact(bits, scheme, step):
    off, top_shift = SCHEMES[scheme]
    half = 1 << (bits - 1)
    kmin, kmax = -half, half + top_shift
    D, D1 = _gauss_cells(step, off, kmin, kmax)
    got = qt.mse(qt.Gaussian(), step, bits, scheme=scheme)
    assert got == pytest.approx(D, rel=1e-12)  # cell sum vs mpmath: rounding only
    g1 = qt.mse_derivative(qt.Gaussian(), step, bits, scheme=scheme)
    # D' vanishes where the step is far past the mass: compare on the scale
    # of the terms, E[X^2] / step (= 1 / step here)
    assert g1 == pytest.approx(D1, rel=1e-10, abs=1e-13 / step)


def test_no_longer_depends_on_bits_once_the_outer_levels_are_beyond_the_mass():
    steps = np.array([0.5, 2.0, 40.0])
    for law in (qt.Gaussian(1.3), qt.Laplace(0.7), qt.Uniform(2.0)):
        ref = qt.mse(law, steps, 12)  # outer level >= 1024 steps: no mass there
        for bits in (17, 24, 32):
            # the 12-bit cell sum is the engine's mpmath-tested route; the
            # two level sets differ only where there is no mass
            np.testing.assert_allclose(qt.mse(law, steps, bits), ref, rtol=1e-13)
