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
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from registry import law, lemma2, uniform_paper_mse

import quanttheory as qt

EPS = np.finfo(np.float64).eps


def lemma3(a, bits):
    return 2 * a / (2**bits + 1)


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
    eps = np.array([-0.1, -1e-3, 1e-6, 1e-3, 0.1]) * s
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
    g = qt.sensitivity(u, bits, [-0.01, 0.01])
    # the same analytic D'' from both sides; one-sided evaluation at a
    # relative offset 2^-40 moves it by < 1e-12 relative
    assert g[0] == pytest.approx(g[1], rel=1e-10)


def test_vectorised_eps_keeps_shape_and_matches_scalar_calls():
    u = qt.Uniform(1.0)
    eps = np.array([[-0.02, -0.001, 0.0], [0.001, 0.01, 0.03]])
    for taylor in (True, False):
        got = qt.sensitivity(u, 4, eps, taylor=taylor)
        assert isinstance(got, np.ndarray)
        assert got.shape == (2, 3)
        scalar = [qt.sensitivity(u, 4, float(e), taylor=taylor) for e in eps.ravel()]
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
