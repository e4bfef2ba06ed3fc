"""Gaussian tail moments against 40-digit mpmath, and their invariances.

``Gaussian._upper_tail(tau)`` returns, for X ~ N(0, sigma^2) and
z = tau/sigma,

    T0 = P[X > tau]            = Q(z)
    T1 = E[(X - tau); X > tau] = sigma   (phi(z) - z Q(z))
    T2 = E[(X - tau)^2; X > tau] = sigma^2 ((1 + z^2) Q(z) - z phi(z))

(Q(z) = erfc(z/sqrt2)/2).  In floating point those closed forms cancel for
z > 0 (by a factor ~z^2 for T2); the implementation uses cancellation-free
routes instead (see ``quanttheory._laws.gaussian._gaussian_tail_moments``).
The expected values here are the closed forms evaluated in mpmath at 40
digits from the exact doubles tau and sigma, where the cancellation (at most
~4 digits at z = 37) is harmless; they are computed at test time (< 1 s).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mpmath import mp, mpf

import quanttheory as qt
from quanttheory._laws import gaussian as D

EPS = float(np.finfo(np.float64).eps)  # 2.22e-16
TINY = float(np.finfo(np.float64).tiny)

# Relative tolerance for the moment of order k = 0, 1, 2: 4e-16 * (k + 2),
# i.e. 3.6, 5.4 and 7.2 eps.  Reason: each route is a short chain of
# correctly-rounded or ~1-ulp operations on positive quantities, with no
# cancellation: exp (numpy, <= 1 ulp), the first-order corrections for the
# rounding of z and of z^2, one division or a 30-term positive quadrature sum,
# then one product per further moment (r1, r2, the factor 2) and, for
# sigma != 1, the products with sigma and sigma*sigma.  Measured maxima over
# the grids below: 1.9, 2.3 and 2.8 eps (k = 0, 1, 2); the tolerance leaves
# ~2x for other platforms' exp/erfc.  Before the rewrite the same grid gave
# 5.7e-14, 4.4e-13 and 3.1e-10 (z in 20..37).
RTOL = (8e-16, 1.2e-15, 1.6e-15)

SIGMAS = (1.0, 0.3, 2.7, 1000.0, 0.7071067811865476)
# z from -10 to 37 (phi(37) ~ 1e-298, T2(37) ~ 4e-303: still normal numbers),
# plus the route switches (0 and 5), tiny z, and values around them.
Z_GRID = np.unique(
    np.concatenate(
        [
            np.linspace(-10.0, 37.0, 471),
            [-1e-300, -0.0, 5e-324, 1e-300, 1e-8, 0.5, 1.0, 2.5, 3.0],
            [np.nextafter(5.0, 0.0), 5.0, np.nextafter(5.0, 6.0)],
            [8.0, 12.0, 20.0, 36.99],
        ]
    )
)


def _mp_tails(tau: float, sigma: float):
    """(T0, T1, T2) of N(0, sigma^2) at tau, closed forms at 40 digits."""
    with mp.workdps(40):
        s = mpf(sigma)
        z = mpf(tau) / s  # exact doubles in, no rounding of z
        q = mp.erfc(z / mp.sqrt(2)) / 2
        phi = mp.exp(-z * z / 2) / mp.sqrt(2 * mp.pi)
        return q, s * (phi - z * q), s * s * ((1 + z * z) * q - z * phi)


def _rel_err(got: np.ndarray, expected: list) -> np.ndarray:
    with mp.workdps(40):
        return np.array(
            [
                float(abs(mpf(float(g)) / x - 1))
                for g, x in zip(got, expected, strict=True)
            ]
        )


@pytest.mark.parametrize("sigma", SIGMAS)
def test_tail_moments_match_mpmath(sigma):
    tau = Z_GRID * sigma
    expected = [_mp_tails(float(t), sigma) for t in tau]
    got = qt.Gaussian(sigma)._upper_tail(tau)
    for k in range(3):
        exp_k = [e[k] for e in expected]
        assert min(exp_k) > TINY  # every value is a normal number
        err = _rel_err(got[k], exp_k)
        worst = int(np.argmax(err))
        assert err[worst] <= RTOL[k], (k, sigma, tau[worst], err[worst] / EPS)


@pytest.mark.parametrize("sigma", [1.0, 2.7])
def test_lower_tail_is_the_mirror_and_matches_mpmath(sigma):
    g = qt.Gaussian(sigma)
    tau = Z_GRID[::7] * sigma
    lower = g._lower_tail(tau)
    upper = g._upper_tail(-tau)
    for k in range(3):
        np.testing.assert_array_equal(lower[k], upper[k])
    # P[X < tau], E[tau - X; X < tau], E[(tau - X)^2; X < tau] in mpmath
    expected = [_mp_tails(-float(t), sigma) for t in tau]
    for k in range(3):
        assert np.all(_rel_err(lower[k], [e[k] for e in expected]) <= RTOL[k])


def test_quadrature_rule_is_reproduced_by_its_generator():
    """The stored Gauss-Legendre rule is the one its comment describes."""
    n, length = 30, 10
    nodes, weights = [], []
    with mp.workdps(60):
        for i in range(1, n + 1):
            x = mp.cos(mp.pi * (i - mpf(1) / 4) / (n + mpf(1) / 2))
            for _ in range(100):
                p0, p1 = mpf(1), x
                for j in range(2, n + 1):
                    p0, p1 = p1, ((2 * j - 1) * x * p1 - (j - 1) * p0) / j
                dp = n * (x * p1 - p0) / (x * x - 1)
                x -= p1 / dp
                if abs(p1 / dp) < mpf(10) ** -55:
                    break
            p0, p1 = mpf(1), x
            for j in range(2, n + 1):
                p0, p1 = p1, ((2 * j - 1) * x * p1 - (j - 1) * p0) / j
            dp = n * (x * p1 - p0) / (x * x - 1)
            u = float(length * (1 + x) / 2)
            w = length / ((1 - x * x) * dp * dp)
            nodes.append(u)
            weights.append(float(w * mp.npdf(mpf(u))))
        ln_sqrt_2pi = mp.log(mp.sqrt(2 * mp.pi))
        hi = float(ln_sqrt_2pi)
        lo = float(ln_sqrt_2pi - hi)
    np.testing.assert_array_equal(D._GL_NODES, nodes[::-1])
    np.testing.assert_array_equal(D._GL_WEIGHTS, weights[::-1])
    assert (D._LN_SQRT_2PI_HI, D._LN_SQRT_2PI_LO) == (hi, lo)


def test_special_values_and_shapes():
    g = qt.Gaussian(0.3)
    tau = np.array([-np.inf, -50.0, -0.0, 0.0, 50.0, np.inf, np.nan])
    t0, t1, t2 = g._upper_tail(tau)
    np.testing.assert_array_equal(t0, [1.0, 1.0, 0.5, 0.5, 0.0, 0.0, np.nan])
    assert t1[0] == np.inf
    assert t2[0] == np.inf
    assert t1[2] == t1[3] == pytest.approx(0.3 / math.sqrt(2 * math.pi), rel=1e-15)
    assert t2[2] == t2[3] == pytest.approx(0.5 * 0.09, rel=1e-15)
    np.testing.assert_array_equal(t1[4:6], 0.0)
    np.testing.assert_array_equal(t2[4:6], 0.0)
    assert np.isnan(t1[6])
    assert np.isnan(t2[6])
    out = g._upper_tail(np.full((2, 3), 0.4))
    assert all(o.shape == (2, 3) for o in out)
    assert g._upper_tail(np.empty(0))[2].shape == (0,)


def test_gaussian_exact_mse_against_the_reference_file():
    """End to end: the exact MSE of every Gaussian reference case.

    Before the tail rewrite the worst case was 2.1e-14 (paper, 10 bits); the
    cell sum and the series route now agree with the 40-digit values to
    ~6e-16.  rtol 4e-15 leaves room for summation-order differences while
    still catching a return of the cancelling formulas.
    """
    path = Path(__file__).resolve().parents[1] / "reference" / "mse_reference.json"
    cases = [
        c for c in json.loads(path.read_text())["cases"] if c["family"] == "gaussian"
    ]
    assert len(cases) > 200
    worst = 0.0
    for c in cases:
        g = qt.Gaussian(sigma=c["params"]["sigma"])
        got = qt.mse(g, float(c["step"]), c["bits"], scheme=c["scheme"])
        with mp.workdps(40):
            ref = mpf(c["mse"])
            worst = max(worst, float(abs((mpf(got) - ref) / ref)))
    assert worst <= 4e-15


# ---------------------------------------------------------------------------
# properties
# ---------------------------------------------------------------------------
thresholds = st.one_of(
    st.just(0.0),
    st.floats(-45.0, 45.0).filter(lambda t: t == 0.0 or abs(t) > 1e-200),
)
sigmas = st.floats(1e-3, 1e3)


def _normal_or_zero(*arrays):
    return all(np.all((np.abs(a) >= TINY) | (a == 0.0)) for a in arrays)


@settings(max_examples=200, deadline=None)
@given(tau=thresholds, sigma=sigmas, j=st.integers(-30, 30))
def test_power_of_two_rescaling_is_exact(tau, sigma, j):
    """N(0, (2^j sigma)^2) at 2^j tau: T0 equal, T1 and T2 times 2^j, 4^j.

    z = tau/sigma and its rounding residual are invariant under an exact
    power-of-two rescaling, so the results must scale bit for bit (where
    nothing is subnormal).
    """
    f = 2.0**j
    a = qt.Gaussian(sigma)._upper_tail(np.array([tau]))
    b = qt.Gaussian(sigma * f)._upper_tail(np.array([tau * f]))
    if _normal_or_zero(*a, *b):
        assert b[0][0] == a[0][0]
        assert b[1][0] == a[1][0] * f
        assert b[2][0] == a[2][0] * f * f


@settings(max_examples=200, deadline=None)
@given(tau=thresholds, sigma=sigmas)
def test_scale_family_consistency(tau, sigma):
    """Gaussian(sigma) at tau vs sigma^k times Gaussian(1) at fl(tau/sigma).

    The two differ only through the rounding of z = tau/sigma, which the
    sigma route corrects: |e| <= eps |z| / 2 moves T_k by the factor
    |d log T_k / dz| |e| <= (|z| + 2) eps |z| / 2, on top of a few eps each.
    """
    z = tau / sigma
    a = qt.Gaussian(sigma)._upper_tail(np.array([tau]))
    b = qt.Gaussian(1.0)._upper_tail(np.array([z]))
    if not _normal_or_zero(*a, *b) or b[2][0] < 1e-290:
        return
    rtol = EPS * (8.0 + 0.5 * abs(z) * (abs(z) + 2.0))
    np.testing.assert_allclose(a[0], b[0], rtol=rtol, atol=0)
    np.testing.assert_allclose(a[1], b[1] * sigma, rtol=rtol, atol=0)
    np.testing.assert_allclose(a[2], b[2] * sigma * sigma, rtol=rtol, atol=0)


@settings(max_examples=200, deadline=None)
@given(tau=thresholds, sigma=sigmas)
def test_upper_plus_lower_are_the_moments_about_tau(tau, sigma):
    """Shift consistency: the two tails add up to the moments of X - tau.

    P[X>t] + P[X<t] = 1,  E[X-t; X>t] - E[t-X; X<t] = E[X] - t = -t and
    E[(X-t)^2; X>t] + E[(t-X)^2; X<t] = sigma^2 + t^2, each to a few eps of
    the larger side (all terms are positive; the test's own additions round).
    """
    g = qt.Gaussian(sigma)
    u0, u1, u2 = (v[0] for v in g._upper_tail(np.array([tau])))
    l0, l1, l2 = (v[0] for v in g._lower_tail(np.array([tau])))
    assert abs((u0 + l0) - 1.0) <= 4 * EPS
    assert abs((u1 - l1) + tau) <= 8 * EPS * (u1 + l1)
    m2 = sigma * sigma + tau * tau
    assert abs((u2 + l2) - m2) <= 8 * EPS * m2
