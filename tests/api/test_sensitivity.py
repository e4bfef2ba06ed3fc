r"""Lemma 1's sensitivity :math:`\Gamma(X, \varepsilon)` and the SQNR.

Uniform law, scheme 'paper', in closed form. With K = 2^(M-1), Lemma 2's
MSE is the cubic polynomial

    D(step) = (a - K step)^3/(3a) + K step^3/(12a)      (step <= 2a/(2K-1)),

(see ``registry.uniform_paper_mse`` for why it is valid up to the threshold
(K - 1/2) step = a, beyond Lemma 2's stated domain K step <= a), so at Lemma
3's optimum s = 2a/(2K+1), where a - K s = s/2:

    D(s)    = s^2/12,
    D'(s)   = -K (s/2)^2/a + K s^2/(4a) = 0,
    D''(s)  = 2 K^2 (s/2)/a + K s/(2a) = K s (2K+1)/(2a) = K,
    D'''    = -2K^3/a + K/(2a)   (constant),

and, D being a cubic, *exactly*

    D(s + eps) - D(s) = K eps^2/2 + D''' eps^3/6      for s + eps <= 2a/(2K-1).

Lemma 1's Taylor value is Gamma = |D''| eps^2/2 = K eps^2/2. Past
step = 2a/(2K-1) the next branch, D_(K-1), takes over (D'' jumps from -K to
K-1 there); past step = a/K (tau = a) nothing happens to the exact MSE, but
the additive model switches to step^2/12.

Validity radius. On the cubic the relative error of the Taylor value is
exactly |D''' eps^3/6| / (K eps^2/2) = |D'''| |eps| / (3K), so it reaches
rtol at

    |eps| = 3 rtol K / |D'''| = 3 rtol K a / (2K^3 - K/2),
    |eps| / s = 3 rtol (2K + 1) / (2 (2K^2 - 1/2)) = 3 rtol / (2K - 1),

below the distance to the kink, 2/(2K-1) of s, for rtol < 2/3
(``cubic_radius``).

Scheme 'signed' (levels -K .. K-1) on the same law, for steps up to
a/(K - 1/2), where the outermost threshold -(K - 1/2) step reaches -a (no
threshold lies outside [-a, a] before that, so there is no kink below it):
2K - 2 whole inner cells of error step^3/12 each, the outer cell
[-a, -(K - 1/2) step] with level -K step and the outer cell
[(K - 3/2) step, a] with level (K - 1) step, so

    2a D(step) = (2K - 2) step^3/12 + (step^3/8 - (K step - a)^3)/3
                 + ((a - (K - 1) step)^3 + step^3/8)/3,

a cubic again (``signed_uniform_mse``, derivatives by hand in
``signed_uniform_derivatives``). At M = 4 its minimum lies 0.9 % of the step
below the kink a/(K - 1/2) = 2a/15 (the issue's case), where its curvature
is small and its third derivative large.
"""

from __future__ import annotations

import math
import warnings
from contextlib import nullcontext

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from registry import law, lemma2, uniform_paper_mse

import quanttheory as qt
from quanttheory._sensitivity import smoothed_curvature

EPS = np.finfo(np.float64).eps


def lemma3(a, bits):
    return 2 * a / (2**bits + 1)


def cubic_radius(bits, rtol=0.1):
    """Taylor radius on Lemma 2's cubic, relative to s (module docstring)."""
    return 3 * rtol / (2**bits - 1)


def signed_uniform_mse(a, step, bits):
    """Scheme 'signed' on U(-a, a) for step <= a/(K - 1/2) (module docstring)."""
    k = 2 ** (bits - 1)
    inner = (2 * k - 2) * step**3 / 12
    low = (step**3 / 8 - (k * step - a) ** 3) / 3
    high = ((a - (k - 1) * step) ** 3 + step**3 / 8) / 3
    return (inner + low + high) / (2 * a)


def signed_uniform_derivatives(a, step, bits):
    """D', D'' and D''' of ``signed_uniform_mse``, differentiated by hand.

    The step^3 terms add up to c3 step^3 with c3 = (2K - 2)/12 + 2/24.
    """
    k = 2 ** (bits - 1)
    c3 = (2 * k - 2) / 12 + 1 / 12
    u, v = k * step - a, a - (k - 1) * step
    d1 = 3 * c3 * step**2 - k * u**2 - (k - 1) * v**2
    d2 = 6 * c3 * step - 2 * k**2 * u + 2 * (k - 1) ** 2 * v
    d3 = 6 * c3 - 2 * k**3 - 2 * (k - 1) ** 3
    return d1 / (2 * a), d2 / (2 * a), d3 / (2 * a)


def d2_lemma2(a, step, bits):
    """Lemma 2's D'' = 2 4^(M-1) (a - tau)/a + 2^M step/(4a)."""
    tau = 2 ** (bits - 1) * step
    return 2 * 4 ** (bits - 1) * (a - tau) / a + 2**bits * step / (4 * a)


def exact_gamma_cubic(a, bits, eps):
    """|D(s + eps) - D(s)| at s = Lemma 3's optimum, as the exact cubic."""
    k = 2 ** (bits - 1)
    d3 = -2 * k**3 / a + k / (2 * a)
    return abs(k * eps**2 / 2 + d3 * eps**3 / 6)


def engine_gamma_slack(a, bits):
    """Absolute error of |MSE(s + eps) - MSE(s)| computed by the engine.

    Each MSE value carries a relative error below 1e-13 (a sum of 2^M + 2
    positive cell terms of a few ulps each; the closed-form comparison in
    test_properties.py uses 1e-12 with margin); their difference inherits
    about 2e-13 D(s) = 2e-13 s^2/12 of absolute error, cancellation included.
    """
    s = lemma3(a, bits)
    return 1e-12 * s * s / 12


@pytest.mark.parametrize("bits", range(1, 9))
@pytest.mark.parametrize("a", [0.25, 1.0, 7.0])
def test_taylor_gamma_is_lemma1_with_closed_form_curvature(a, bits):
    s = lemma3(a, bits)
    k = 2 ** (bits - 1)
    curvature = d2_lemma2(a, s, bits)
    # Lemma 2's D'' at Lemma 3's optimum simplifies to K (module docstring)
    assert curvature == pytest.approx(k, rel=1e-14)  # the algebra, in floats
    eps = np.array([-0.12, -1e-3, 1e-6, 1e-3, 0.12]) * s
    # the formula holds for any eps; 12 % of the step lies beyond the
    # validity radius from M = 2 on (cubic_radius), and the warning says so
    beyond = 0.12 > cubic_radius(bits)
    with pytest.warns(qt.TaylorRangeWarning) if beyond else nullcontext():
        got = qt.sensitivity(qt.Uniform(a), bits, eps)
    expected = abs(curvature) * eps**2 / 2
    # engine's analytic D'' (error ~ eps a/step, < 1e-12) at its optimal step
    # (Brent to ~4 eps; D''' ds moves D'' by < 1e-12 relative): 1e-10
    assert got == pytest.approx(expected, rel=1e-10)


@given(
    a=st.floats(0.1, 10.0),
    bits=st.integers(1, 8),
    frac=st.floats(1e-4, 0.9),
)
def test_exact_gamma_on_the_quadratic_side(a, bits, frac):
    # eps < 0: the step shrinks, clipping grows; the cubic D of Lemma 2 holds
    # for every step in (0, s], so Gamma is the exact cubic
    s = lemma3(a, bits)
    eps = -frac * s
    got = qt.sensitivity(qt.Uniform(a), bits, eps, taylor=False)
    expected = exact_gamma_cubic(a, bits, eps)
    # the same difference evaluated from Lemma 2 in plain Python agrees, up
    # to a few ulps of the larger Lemma 2 value (cancellation in the
    # difference), of the cubic's terms, and of (a - tau)^3 / (3a), whose
    # factor a - tau carries an absolute error eps * a (so ~ eps (a - tau)^2)
    direct = abs(lemma2(a, s + eps, bits) - lemma2(a, s, bits))
    k = 2 ** (bits - 1)
    size = (
        max(lemma2(a, s, bits), lemma2(a, s + eps, bits))
        + k * eps**2 / 2
        + (2 * k**3 / a) * abs(eps) ** 3 / 6
        + (a - k * (s + eps)) ** 2
    )
    assert direct == pytest.approx(expected, abs=16 * EPS * size)
    assert abs(got - expected) <= engine_gamma_slack(a, bits) + 1e-12 * expected


@pytest.mark.parametrize("bits", [1, 2, 3, 4, 6, 8])
def test_exact_gamma_for_positive_eps_across_tau_equals_a(bits):
    # eps > 0 can push tau = K (s + eps) past a, at eps1 = a/K - s; the exact
    # MSE keeps following the cubic there (no kink) until the real kink at
    # eps2 = 2a/(2K-1) - s. Test just below and just above eps1, and between.
    a = 1.0
    k = 2 ** (bits - 1)
    s = lemma3(a, bits)
    eps1 = a / k - s
    eps2 = 2 * a / (2 * k - 1) - s
    assert 0 < eps1 < eps2
    u = qt.Uniform(a)
    for eps in (0.5 * eps1, eps1 * (1 - 1e-6), eps1 * (1 + 1e-6), 0.5 * (eps1 + eps2)):
        got = qt.sensitivity(u, bits, eps, taylor=False)
        expected = exact_gamma_cubic(a, bits, eps)
        tol = engine_gamma_slack(a, bits) + 1e-12 * expected
        assert abs(got - expected) <= tol, eps


@pytest.mark.parametrize("bits", [1, 2, 3, 4, 6, 8])
def test_exact_gamma_both_sides_of_the_kink(bits):
    # the real kink at step = 2a/(2K-1): below it the cubic (branch K), above
    # it branch K - 1 (registry.uniform_paper_mse); D itself is continuous
    a = 1.0
    k = 2 ** (bits - 1)
    s = lemma3(a, bits)
    eps2 = 2 * a / (2 * k - 1) - s
    u = qt.Uniform(a)
    d_s = s * s / 12
    for eps in (eps2 * (1 - 1e-4), eps2 * (1 + 1e-4), eps2 * 1.2):
        expected = abs(uniform_paper_mse(a, s + eps, bits) - d_s)
        got = qt.sensitivity(u, bits, eps, taylor=False)
        # engine vs closed form, both double; the difference carries
        # ~1e-13 of each value (MSE(s + eps) ~ MSE(s) here): see
        # engine_gamma_slack, with the larger of the two values
        tol = 1e-12 * max(d_s, uniform_paper_mse(a, s + eps, bits))
        assert abs(got - expected) <= tol + 1e-12 * expected, eps
    # left of the kink that is still the cubic
    eps = eps2 * (1 - 1e-4)
    assert abs(uniform_paper_mse(a, s + eps, bits) - d_s) == pytest.approx(
        exact_gamma_cubic(a, bits, eps), rel=1e-9, abs=16 * EPS * d_s
    )


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
def test_additive_gamma_switches_at_tau_equals_a(bits):
    # the additive model is Lemma 2 while K step <= a and step^2/12 beyond
    a = 1.0
    k = 2 ** (bits - 1)
    s = lemma3(a, bits)
    eps1 = a / k - s
    u = qt.Uniform(a)
    d_s = s * s / 12
    below = eps1 * (1 - 1e-3)
    above = eps1 * (1 + 1e-3)
    got_below = qt.sensitivity(u, bits, below, model="additive", taylor=False)
    got_above = qt.sensitivity(u, bits, above, model="additive", taylor=False)
    # engine vs closed form, both double (additive: O(1) closed-form terms)
    tol = 1e-12 * d_s
    assert abs(got_below - exact_gamma_cubic(a, bits, below)) <= tol
    assert abs(got_above - abs((s + above) ** 2 / 12 - d_s)) <= tol


@pytest.mark.parametrize("bits", [2, 4])
def test_taylor_gamma_is_symmetric_at_the_optimum(bits):
    # no kink at s: the one-sided curvatures agree, Gamma(-eps) = Gamma(eps)
    u = qt.Uniform(1.0)
    # 0.001 lies within the validity radius (2 % of the step 2/17 at M = 4)
    g = qt.sensitivity(u, bits, [-0.001, 0.001])
    # the same analytic D'' from both sides; one-sided evaluation at a
    # relative offset 2^-40 moves it by < 1e-12 relative
    assert g[0] == pytest.approx(g[1], rel=1e-10)


def test_vectorised_eps_keeps_shape_and_matches_scalar_calls():
    u = qt.Uniform(1.0)
    eps = np.array([[-0.02, -0.001, 0.0], [0.001, 0.01, 0.03]])
    for taylor in (True, False):
        # the mechanics of the shape, not the accuracy: eps up to 25 % of
        # the step lies beyond the Taylor radius (tested below)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", qt.TaylorRangeWarning)
            got = qt.sensitivity(u, 4, eps, taylor=taylor)
            scalar = [
                qt.sensitivity(u, 4, float(e), taylor=taylor) for e in eps.ravel()
            ]
        assert isinstance(got, np.ndarray)
        assert got.shape == (2, 3)
        assert all(isinstance(v, float) for v in scalar)
        # identical computations, batched: 1e-13 relative
        assert got.ravel() == pytest.approx(scalar, rel=1e-13, abs=0.0)
        assert got[0, 2] == 0.0  # eps = 0 changes nothing, exactly


@given(
    a=st.floats(0.1, 10.0),
    bits=st.integers(1, 8),
    u=st.floats(0.05, 0.9),
    frac=st.floats(-0.5, 0.1),
)
def test_given_step_uses_that_expansion_point(a, bits, u, frac):
    # an arbitrary step s0 inside Lemma 2's domain (D'(s0) != 0 in general):
    # Taylor omits the first-order term, as documented; exact is the
    # difference of Lemma 2 values (both steps stay where the cubic holds)
    k = 2 ** (bits - 1)
    s0 = u * a / k
    eps = frac * s0
    d = qt.Uniform(a)
    # the value of the formula at any expansion point and step error; where
    # it is valid is the subject of the taylor_radius tests
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", qt.TaylorRangeWarning)
        taylor = qt.sensitivity(d, bits, eps, step=s0)
    # analytic D'' (error < 1e-12 relative) vs closed form: 1e-10
    assert taylor == pytest.approx(abs(d2_lemma2(a, s0, bits)) * eps**2 / 2, rel=1e-10)
    exact = qt.sensitivity(d, bits, eps, step=s0, taylor=False)
    expected = abs(lemma2(a, s0 + eps, bits) - lemma2(a, s0, bits))
    # both sides are differences of two doubles of size <= D(s0 + |eps|):
    # ~1e-13 relative each on the engine's side, 4 eps on ours
    scale = max(lemma2(a, s0, bits), lemma2(a, s0 + eps, bits))
    assert abs(exact - expected) <= 1e-12 * scale


@pytest.mark.parametrize("family_id", ["gaussian", "laplace", "logistic"])
@pytest.mark.parametrize("bits", [2, 4, 8])
def test_taylor_and_exact_gamma_agree_to_third_order(family_id, bits):
    # Gamma_exact - Gamma_taylor = D'(s) eps + D'''(xi) eps^3/6 for smooth
    # laws; at the optimum D'(s) ~ 0. D''' is bounded by the central
    # difference of the analytic D'' over [s - eps, s + eps] (checked against
    # FDs in tests/laws/test_derivatives.py), with a factor 2 for its variation.
    d = law(family_id)
    s = qt.optimal_step(d, bits)
    for rel in (-1e-3, 1e-3, 1e-2):
        eps = rel * s
        exact = qt.sensitivity(d, bits, eps, taylor=False)
        taylor = qt.sensitivity(d, bits, eps)
        d1 = qt.mse_derivative(d, s, bits, 1)
        d2 = qt.mse_derivative(d, np.array([s - abs(eps), s + abs(eps)]), bits, 2)
        d3 = abs(d2[1] - d2[0]) / (2 * abs(eps))
        m = qt.mse(d, s, bits)
        # + rounding: the exact Gamma is a difference of two MSE values
        # (~200 eps E[X^2] noise each, see tests/laws/test_derivatives.py)
        tol = abs(d1 * eps) + 2 * d3 * abs(eps) ** 3 / 6 + 1e3 * EPS * max(m, 1.0)
        assert abs(exact - taylor) <= tol, (rel, exact, taylor, tol)


# ---------------------------------------------------------------------------
# SQNR
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("bits", range(1, 9))
def test_sqnr_of_uniform_at_lemma3_optimum(bits):
    # E[X^2] = a^2/3, MSE = s^2/12 with s = 2a/(2^M + 1):
    # SQNR = 10 log10(4a^2/s^2) = 20 log10(2^M + 1)
    a = 1.5
    got = qt.sqnr_db(qt.Uniform(a), lemma3(a, bits), bits)
    # closed form vs engine: dB of a 1e-12-relative MSE: 1e-11 dB absolute
    assert got == pytest.approx(20 * math.log10(2**bits + 1), abs=1e-11)


def test_sqnr_is_infinite_for_data_on_the_grid():
    e = qt.Empirical([-0.5, 0.0, 0.25, 1.0])
    # every sample is a level (step 0.25, 4 bits): the MSE is exactly 0
    assert qt.mse(e, 0.25, 4) == 0.0
    assert qt.sqnr_db(e, 0.25, 4) == math.inf


def test_sqnr_vectorised():
    u = qt.Uniform(1.0)
    steps = np.array([0.1, 0.2])
    got = qt.sqnr_db(u, steps, 3)
    expected = [10 * math.log10((1 / 3) / lemma2(1.0, s, 3)) for s in steps]
    # both steps inside Lemma 2's domain (4 * 0.2 <= 1): 1e-11 dB
    assert got == pytest.approx(expected, abs=1e-11)


# ---------------------------------------------------------------------------
# the validity radius of the Taylor value (issue 11, section 7)
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("rtol", [0.05, 0.1, 0.2])
@pytest.mark.parametrize("bits", range(1, 9))
@pytest.mark.parametrize("a", [0.25, 1.0, 7.0])
def test_taylor_radius_on_lemma2_cubic(a, bits, rtol):
    # 3 rtol / (2^M - 1) of the step on both sides (module docstring), which
    # the search caps at half the step (M = 1, rtol = 0.2: 0.6 -> 0.5)
    s = lemma3(a, bits)
    want = min(cubic_radius(bits, rtol), 0.5)
    left, right = qt.taylor_radius(qt.Uniform(a), bits, rtol=rtol)
    # the error is exactly linear in eps on the cubic, so the engine's linear
    # interpolation is exact; what is left is its analytic D'' (1e-12) and
    # its optimal step (Brent, ~4 eps): 1e-9
    assert left / s == pytest.approx(want, rel=1e-9)
    assert right / s == pytest.approx(want, rel=1e-9)


@pytest.mark.parametrize("bits", [5, 6, 7, 8])
def test_taylor_radius_past_a_kink_against_brute_force(bits):
    # with rtol = 0.9 the cubic alone would allow 2.7/(2^M - 1) of the step,
    # beyond the kink at 2/(2^M - 1): the radius then depends on the next
    # branch. Brute force with the closed form of every branch
    # (registry.uniform_paper_mse): the first eps where the relative Taylor
    # error exceeds 0.9, bracketed on a grid and refined by Brent.
    from scipy.optimize import brentq

    a, rtol = 1.0, 0.9
    k = 2 ** (bits - 1)
    s = lemma3(a, bits)

    def rel(e):
        taylor = k * e * e / 2
        return abs(uniform_paper_mse(a, s + e, bits) - s * s / 12 - taylor) / taylor

    grid = np.linspace(0, 0.5 * s, 2001)[1:]
    errs = np.array([rel(e) for e in grid])
    j = int(np.argmax(errs > rtol))
    assert errs[j] > rtol
    assert grid[j] > 2 * a / (2**bits - 1) - s  # past the kink
    want = brentq(lambda e: rel(e) - rtol, grid[j - 1], grid[j], xtol=1e-15)
    _, right = qt.taylor_radius(qt.Uniform(a), bits, rtol=rtol)
    # the engine interpolates the error linearly across its last bracket, an
    # eighth of a grid ratio of 1.54 wide; the error's curvature there bounds
    # that at a few 1e-4 relative (measured 6e-5 at M = 6): 1e-3
    assert right == pytest.approx(want, rel=1e-3)


@pytest.mark.parametrize("bits", [2, 3, 4, 5, 6])
def test_taylor_radius_for_signed_next_to_a_kink(bits):
    # the case: scheme 'signed', optimum just below the kink
    # a/(K - 1/2); the cubic of signed_uniform_mse (module docstring) gives
    # the optimum, D'' and D''' independently of the engine
    from scipy.optimize import brentq

    a, k = 1.0, 2 ** (bits - 1)
    kink = a / (k - 0.5)
    # D' < 0 at a/K; the cubic's other stationary point, a maximum, is the
    # kink itself, so the bracket stops just short of it (the minimum lies
    # 0.9 % below it at M = 4 and closer at more bits, 0.05 % at M = 6)
    s = brentq(
        lambda d: signed_uniform_derivatives(a, d, bits)[0],
        a / k,
        kink * (1 - 1e-7),
        xtol=1e-15,
    )
    _, d2, d3 = signed_uniform_derivatives(a, s, bits)
    third = 0.3 * abs(d2) / abs(d3)  # rtol = 0.1 on the cubic, both sides
    left, right = qt.taylor_radius(qt.Uniform(a), bits, scheme="signed", step=s)
    # the linear error on the cubic again: 1e-9
    assert left == pytest.approx(third, rel=1e-9)
    assert right == pytest.approx(min(third, kink - s), rel=1e-9)
    if bits == 4:
        assert (kink - s) / s == pytest.approx(0.0088, abs=1e-4)  # 0.9 % away
        assert third / s == pytest.approx(0.001333, rel=1e-3)
        # a 5 % step error: Lemma 1 is 4.75 times too small (the exact change
        # from the cubic), and says so
        e = -0.05 * s
        exact = abs(signed_uniform_mse(a, s + e, bits) - signed_uniform_mse(a, s, bits))
        with pytest.warns(qt.TaylorRangeWarning, match="beyond the left validity"):
            taylor = qt.sensitivity(qt.Uniform(a), bits, e, scheme="signed", step=s)
        assert taylor == pytest.approx(abs(d2) * e * e / 2, rel=1e-9)
        assert exact / taylor == pytest.approx(4.75, abs=0.01)


def _gauss_paper_mse(step, bits):
    """MSE of N(0, 1), scheme 'paper', cell by cell with mpmath (30 digits).

    Per cell with level c, int (x - c)^2 phi = [I2 - 2c I1 + c^2 I0] with
    I0 = erf(x/sqrt2)/2, I1 = (1 - e^(-x^2/2))/sqrt(2 pi), I2 = I0 - x phi(x).
    """
    import mpmath as mp

    def moments(x):
        if x == mp.inf:
            return mp.mpf(1) / 2, 1 / mp.sqrt(2 * mp.pi), mp.mpf(1) / 2
        i0 = mp.erf(x / mp.sqrt(2)) / 2
        phi = mp.exp(-x * x / 2) / mp.sqrt(2 * mp.pi)
        return i0, 1 / mp.sqrt(2 * mp.pi) - phi, i0 - x * phi

    with mp.workdps(30):
        d, k = mp.mpf(step), 2 ** (bits - 1)
        total = moments(d / 2)[2]
        for j in range(1, k + 1):
            lo = moments((j - mp.mpf(1) / 2) * d)
            hi = moments((j + mp.mpf(1) / 2) * d) if j < k else moments(mp.inf)
            c = j * d
            total += (hi[2] - lo[2]) - 2 * c * (hi[1] - lo[1]) + c * c * (hi[0] - lo[0])
        return 2 * total


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_taylor_radius_of_the_gaussian_is_where_the_error_reaches_rtol(bits):
    # at the radius the exact relative Taylor error, from the mpmath MSE,
    # crosses 0.1: below at 0.99 r, above at 1.01 r. At the engine's optimum
    # D' ~ D'' * 1e-12 s, negligible against D'' eps (eps >= 1e-2 s)
    import mpmath as mp

    d = qt.Gaussian(1.0)
    s = qt.optimal_step(d, bits)
    c2 = qt.mse_derivative(d, s, bits, 2)
    base = _gauss_paper_mse(s, bits)
    for side, r in zip((-1, 1), qt.taylor_radius(d, bits), strict=True):
        for f, below in ((0.99, True), (1.01, False)):
            e = side * f * r
            taylor = c2 * e * e / 2
            err = float(abs(_gauss_paper_mse(s + e, bits) - base - mp.mpf(taylor)))
            # the radius is accurate to ~0.2 %, so +-1 % moves the error by
            # ~1e-3 either way of 0.1
            assert (err / taylor < 0.1) is below, (side, f, err / taylor)


def test_sensitivity_warns_only_beyond_the_radius():
    d = qt.Gaussian(1.0)
    s = qt.optimal_step(d, 4)
    left, right = qt.taylor_radius(d, 4)
    # inside on both sides: no warning (filterwarnings = error)
    qt.sensitivity(d, 4, [-0.9 * left, 0.9 * right])
    with pytest.warns(qt.TaylorRangeWarning, match="beyond the left validity radius"):
        qt.sensitivity(d, 4, [-1.1 * left, 0.9 * right])
    with pytest.warns(qt.TaylorRangeWarning, match="beyond the right validity radius"):
        qt.sensitivity(d, 4, 1.1 * right)
    # the exact change never warns
    qt.sensitivity(d, 4, [-0.3 * s, 0.3 * s], taylor=False)
    # a step error of half the step or more is beyond any radius
    with pytest.warns(qt.TaylorRangeWarning):
        qt.sensitivity(d, 4, 0.6 * s)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rtol": 0.0}, "taylor_radius: rtol=0.0 must lie in"),
        ({"rtol": 1.5}, "taylor_radius: rtol=1.5 must lie in"),
        ({"rtol": "0.1"}, "taylor_radius: rtol='0.1' must lie in"),
        ({"step": -1.0}, "taylor_radius: step=-1.0 must be a positive"),
        ({"scheme": "nearest"}, "taylor_radius: scheme='nearest' is not one of"),
    ],
)
def test_taylor_radius_bad_arguments(kwargs, match):
    with pytest.raises(qt.InvalidArgument, match=match):
        qt.taylor_radius(qt.Gaussian(), 4, **kwargs)


def test_empirical_warning_follows_the_exact_change():
    # samples: the Taylor value (smoothed curvature) against the exact change
    # at the step error itself. The exact change here by brute force with
    # numpy (the 'paper' quantizer from its definition); step errors whose
    # brute-force relative difference is clearly below or above 10 % must
    # give no warning or one
    x = np.random.default_rng(11).standard_normal(200_000)
    e = qt.Empirical(x)
    s = qt.optimal_step(e, 4)
    c2 = smoothed_curvature(e, s, 4)

    def brute(step):
        return float(np.mean((x - np.clip(np.rint(x / step), -8, 8) * step) ** 2))

    base, seen = brute(s), set()
    for f in (-0.2, -0.1, -0.05, -0.03, 0.03, 0.05, 0.1, 0.2):
        eps = f * s
        taylor = c2 * eps * eps / 2
        # brute-force sums of 2e5 terms: 1e-12 relative, far below the 2 %
        # margin on each side of 10 %
        rel = abs(abs(brute(s + eps) - base) - taylor) / taylor
        if rel < 0.08:
            qt.sensitivity(e, 4, eps, step=s)  # no warning
            seen.add("inside")
        elif rel > 0.12:
            with pytest.warns(qt.TaylorRangeWarning):
                qt.sensitivity(e, 4, eps, step=s)
            seen.add("beyond")
    assert seen == {"inside", "beyond"}
