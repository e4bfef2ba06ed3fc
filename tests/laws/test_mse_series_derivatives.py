"""The Euler-Maclaurin series of the step derivatives D', D''
(quanttheory._laws.series.series_derivatives) and its use by
``mse_derivative`` and ``optimal_step``.

Independent checks of the same two quantities:

* against the cell sum (``_exact_cells``, the Leibniz rule over cells with
  Gauss-Legendre per half-cell), a different algorithm, for every family,
  scheme and bit-width 1 to 16 at steps from 1/8 to 8 times the optimum;
* against 25-digit values from mpmath's numerical differentiation of the
  closed-form per-cell MSE (script below; it shares no formula with either
  route), including two 17-bit cases;
* for the uniform law, against exact rational arithmetic;
* the remainder bounds against the truncation errors that they bound.

Plus scale invariance (Hypothesis), the one-sided D'' at the uniform law's
kinks, a custom family with the hooks, and ``optimal_step`` against
correctly rounded optima.

Tolerances. D' vanishes at the optimum, so it is compared on the scale of
the terms that every route adds up, not relative to itself:

    S1 = step / 6 + 2 |K+| T1+ + 2 |K-| T1-,
    S2 = max(|D''|, 1/6 + 2 K+^2 P+ + 2 K-^2 P-),

the additive model's D' and D'' summed in absolute value (tail moments
T1, tail probabilities P, outer levels K step). At the optimum
S1 ~ step D'' (the granular step/6 balances the tails), so an error e in D'
moves the zero of D' by about e / S1 relative.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import quanttheory as qt
from quanttheory._core.scheme import get_scheme
from quanttheory._laws import series as ms
from quanttheory._laws.cells import exact_cells as _exact_cells
from quanttheory._laws.routes import SERIES_DERIVATIVES_MIN_BITS

from .test_mse_series import AsymmetricLaplaceWithHooks

EPS = float(np.finfo(np.float64).eps)
MAKE = {"gaussian": qt.Gaussian, "laplace": qt.Laplace, "uniform": qt.Uniform}

# Series vs cell sum: the cell sum adds 2^M + 2 per-level terms weighted by
# |k + o| <= 2^(M-1), and rounds at about 2^M eps of the scale (measured over
# the grid below: at most 0.5 x 2^M eps for the Gaussian and Laplace laws,
# 4.4 x 2^M eps for the uniform law's D'', whose breakpoint positions a/step
# carry 2^M ulps on both routes). 16 x 2^M eps leaves a factor 3.6.
ROUTES_ULPS = 16.0


def scales(dist, scheme, steps, d2=None):
    """S1 and S2 of the module docstring (closed forms, no series)."""
    steps = np.asarray(steps, dtype=np.float64)
    su, t1u, _ = dist._upper_tail(scheme.top * steps)
    fl, t1l, _ = dist._lower_tail(scheme.bottom * steps)
    s1 = steps / 6.0 + 2.0 * abs(scheme.top) * t1u + 2.0 * abs(scheme.bottom) * t1l
    s2 = 1.0 / 6.0 + 2.0 * scheme.top**2 * su + 2.0 * scheme.bottom**2 * fl
    if d2 is not None:
        s2 = np.maximum(s2, np.abs(d2))
    return s1, s2


def _series(dist, steps, scheme, bits, order=2, **kw):
    return ms.series_derivatives(
        dist, np.asarray(steps, float), get_scheme("t", scheme, bits), order, **kw
    )


def _cells(dist, steps, scheme, bits, side=1):
    return _exact_cells(
        dist, np.asarray(steps, float), get_scheme("t", scheme, bits), 2, side=side
    )


# ---------------------------------------------------------------------------
# against the cell sum
# ---------------------------------------------------------------------------
FAMILIES = [
    pytest.param(qt.Gaussian(1.0), id="gaussian1"),
    pytest.param(qt.Gaussian(0.37), id="gaussian0.37"),
    pytest.param(qt.Laplace(1.0), id="laplace1"),
    pytest.param(qt.Laplace(2.2), id="laplace2.2"),
    pytest.param(qt.Uniform(1.0), id="uniform1"),
    pytest.param(qt.Uniform(0.6), id="uniform0.6"),
]


@pytest.mark.parametrize("scheme", qt.SCHEMES)
@pytest.mark.parametrize("dist", FAMILIES)
def test_series_derivatives_match_cell_sum(dist, scheme):
    used_any = 0
    for bits in range(1 if scheme != "symmetric" else 2, 17):
        s = get_scheme("t", scheme, bits)
        opt = qt.optimal_step(dist, bits, scheme=scheme)
        # the cell sum costs O(2^M) per step: fewer steps at high bit-widths
        n = 9 if bits <= 10 else (5 if bits <= 12 else 3)
        steps = opt * np.geomspace(1 / 8, 8, n) * (1 + 1e-3 / math.pi)
        (d1, d2), order = _series(dist, steps, scheme, bits)
        used = order > 0
        if not used.any():
            continue
        used_any += used.sum()
        ref = _cells(dist, steps[used], scheme, bits)
        s1, s2 = scales(dist, s, steps[used], ref[2])
        # tolerance: ROUTES_ULPS (module constants), on the scales S1, S2
        tol = ROUTES_ULPS * 2.0**bits * EPS
        assert np.all(np.abs(d1[used] - ref[1]) <= tol * s1), bits
        assert np.all(np.abs(d2[used] - ref[2]) <= tol * s2), bits
        # the public function: the series where used (D' alone may use it at
        # more steps than D' with D''), the cell sum elsewhere and at one or
        # two bits
        for k in (1, 2):
            vals, order_k = _series(dist, steps, scheme, bits, order=k)
            on = (order_k > 0) & (bits >= SERIES_DERIVATIVES_MIN_BITS)
            got = np.asarray(qt.mse_derivative(dist, steps, bits, k, scheme=scheme))
            np.testing.assert_array_equal(got[on], vals[k - 1][on])
            if not on.all():
                rest = _exact_cells(dist, steps[~on], s, k)[k]
                np.testing.assert_array_equal(got[~on], rest)
    assert used_any > 0


@pytest.mark.parametrize("dist", FAMILIES)
def test_series_covers_the_fine_steps(dist):
    # 8 bits, 1/8 .. 8 times the optimum (the benchmark's range): all on the
    # series, with a small order
    steps = qt.optimal_step(dist, 8, scheme="signed") * np.geomspace(1 / 8, 8, 101)
    _, order = _series(dist, steps, "signed", 8)
    assert np.all(order > 0)
    assert np.all(order <= 24)


def test_uniform_needs_two_terms():
    # f piecewise constant: both bounds vanish at N = 2
    _, order = _series(qt.Uniform(1.0), np.geomspace(1e-4, 0.4, 50), "paper", 3)
    assert np.all(order == 2)


# ---------------------------------------------------------------------------
# against mpmath
# ---------------------------------------------------------------------------
# Generated by this script (mpmath 1.3; every value agrees with a 90-digit
# run to 1e-58 or better; the 17-bit cases ran at 50 digits):
#
#   from mpmath import mp, mpf, erf, exp, sqrt, pi, inf
#
#   def moments(family, p, x):
#       ... # as in the generator quoted in tests/laws/test_mse_series.py
#
#   def levels(scheme, bits):
#       ... # as there
#
#   def mse(family, p, scheme, bits, d):
#       k0, k1, o = levels(scheme, bits)
#       total = mpf(0); lo = moments(family, p, -inf)
#       for k in range(k0, k1 + 1):
#           c = (k + o) * d
#           hi_x = inf if k == k1 else (k + o + mpf(1) / 2) * d
#           hi = moments(family, p, hi_x)
#           total += ((hi[2] - lo[2]) - 2 * c * (hi[1] - lo[1])
#                     + c * c * (hi[0] - lo[0]))
#           lo = hi
#       return total
#
#   def derivatives(family, p, scheme, bits, step, dps=60):
#       with mp.workdps(dps):
#           f = lambda d: mse(family, p, scheme, bits, d)
#           return mp.diff(f, mpf(step), 1), mp.diff(f, mpf(step), 2)
#
#   for case in MPMATH_CASES:
#       d1, d2 = derivatives(*case[:5]); print(mp.nstr(d1, 25), mp.nstr(d2, 25))
#
# mp.diff differentiates numerically at extended precision; the cases avoid
# the uniform law's kinks (where D'' jumps).
MPMATH_CASES = [
    # family, scale, scheme, bits, step, D', D''
    ("gaussian", 0.7, "signed", 7, 0.042, "0.004086104033535590884426474",
     "1.291162668414971568511147"),
    ("gaussian", 1.0, "midrise", 9, 0.013, "-0.1176680611088837662490973",
     "117.057593006906950928369"),
    # the optimum: D' ~ 5e-19, on the scale S1 ~ 0.01
    ("gaussian", 1.0, "signed", 8, 0.03076557854276877,
     "4.73490397987558985373379e-19", "3.017316496791290990353852"),
    ("gaussian", 1.0, "symmetric", 11, 0.0047, "0.0001817149302364426178528148",
     "3.355832859207817684814744"),
    ("gaussian", 1.0, "signed", 2, 0.9, "-0.1100525577319478343557099",
     "0.8624420878258347820592992"),
    ("laplace", 1.3, "paper", 7, 0.11, "-0.7216201977625821496711959",
     "36.59783486727278793241374"),
    ("laplace", 0.4, "signed", 9, 0.011, "-0.1797345621452696140670642",
     "116.1413019337583400694764"),
    ("laplace", 1.0, "midrise", 10, 0.0093, "-8.787816831977880487821923",
     "4495.933188476190086352923"),
    ("laplace", 1.0, "paper", 3, 1.7, "0.2323440265596960613433499",
     "0.1301683010288963686917175"),
    ("uniform", 2.0, "signed", 9, 0.0131, "0.001867556249999946625295344",
     "-100.1576250000019086272562"),
    ("uniform", 0.5, "midrise", 5, 0.037, "0.009233999999999998417266056",
     "0.8640000000000180035986119"),
    ("uniform", 1.0, "paper", 4, 0.1, "-0.2999999999999998556710068",
     "25.99999999999999433786257"),
]  # fmt: skip


def mpmath_tolerance(dist, step):
    """16 ulps of the scale, times 1 + |e|/step for a breakpoint e.

    The series adds a few terms of the size of the scale (a few ulps); the
    position e/step - o of a breakpoint inside the clipping range is rounded
    to |e|/step ulps of a cell, which moves its Bernoulli terms by that
    much (the uniform law at a = 2, step = 0.0131: 153 ulps; measured
    error 5e-14 of S1 there, below 1e-15 elsewhere).
    """
    bps = np.abs(np.asarray(dist._breakpoints, dtype=np.float64))
    reach = float(bps.max()) / step if bps.size else 0.0
    return 16.0 * EPS * (1.0 + reach)


@pytest.mark.parametrize(
    ("family", "p", "scheme", "bits", "step", "e1", "e2"),
    [pytest.param(*c, id=f"{c[0]}{c[1]}-{c[2]}-{c[3]}bit") for c in MPMATH_CASES],
)
def test_derivatives_against_mpmath(family, p, scheme, bits, step, e1, e2):
    dist = MAKE[family](p)
    s = get_scheme("t", scheme, bits)
    s1, s2 = scales(dist, s, [step], [float(e2)])
    tol = mpmath_tolerance(dist, step)
    got1 = qt.mse_derivative(dist, step, bits, 1, scheme=scheme)
    got2 = qt.mse_derivative(dist, step, bits, 2, scheme=scheme)
    assert abs(got1 - float(e1)) <= tol * s1[0]
    assert abs(got2 - float(e2)) <= tol * s2[0]


def test_mpmath_cases_exercise_both_routes():
    orders = [
        int(_series(MAKE[f](p), [step], scheme, bits)[1][0])
        for f, p, scheme, bits, step, *_ in MPMATH_CASES
    ]
    assert orders.count(0) == 1  # the coarse 2-bit Gaussian: cell sum
    assert max(orders) >= 30  # the coarse Laplace case needs many terms


# Above 16 bits mse_derivative returned the additive model's derivatives
# before the series (off by 6.5e-13 for this Laplace case); same script, 50
# digits (131072 cells)
MPMATH_17_BITS = [
    ("gaussian", 1.0, "paper", 17, 7.3e-05, "-0.0436158134734903479503328",
     "14751.76661337202126814294"),
    ("laplace", 1.0, "signed", 17, 0.00021, "-0.1381778270596249516674819",
     "9058.013389939577934107274"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("family", "p", "scheme", "bits", "step", "e1", "e2"),
    [pytest.param(*c, id=f"{c[0]}-17bit") for c in MPMATH_17_BITS],
)
def test_exact_derivatives_above_16_bits(family, p, scheme, bits, step, e1, e2):
    dist = MAKE[family](p)
    _, order = _series(dist, [step], scheme, bits)
    assert order[0] > 0
    s1, s2 = scales(dist, get_scheme("t", scheme, bits), [step], [float(e2)])
    tol = mpmath_tolerance(dist, step)
    got1 = qt.mse_derivative(dist, step, bits, 1, scheme=scheme)
    got2 = qt.mse_derivative(dist, step, bits, 2, scheme=scheme)
    assert abs(got1 - float(e1)) <= tol * s1[0]
    assert abs(got2 - float(e2)) <= tol * s2[0]
    if family == "laplace":  # the additive model misses the kink's terms
        add = qt.mse_derivative(dist, step, bits, 1, scheme=scheme, model="additive")
        assert abs(add - float(e1)) > 100 * tol * s1[0]


# ---------------------------------------------------------------------------
# the remainder bounds
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("case", "orders"),
    [
        (8, range(1, 36, 3)),  # Laplace(1), paper, 3 bits, 1.7: slow series
        (4, range(1, 31, 3)),  # Gaussian, signed, 2 bits, 0.9: asymptotic
        (5, range(1, 16)),  # Laplace(1.3), paper, 7 bits
        (0, range(1, 16)),  # Gaussian(0.7), signed, 7 bits
        (10, range(1, 6)),  # uniform: exact from N = 2 on
    ],
)
def test_truncation_error_within_the_bound_against_mpmath(case, orders):
    f, p, scheme, bits, step, e1, e2 = MPMATH_CASES[case]
    dist = MAKE[f](p)
    s1, s2 = scales(dist, get_scheme("t", scheme, bits), [step], [float(e2)])
    slack = mpmath_tolerance(dist, step)  # rounding, as above
    for n in orders:
        (d1, d2), _ = _series(dist, [step], scheme, bits, fixed_order=n)
        b1, b2 = ms.derivative_remainder_bounds(dist, np.array([step]), n)
        assert abs(d1[0] - float(e1)) <= b1[0] + slack * s1[0], n
        assert abs(d2[0] - float(e2)) <= b2[0] + slack * s2[0], n


BOUND_CASES = [
    (qt.Gaussian(1.0), "paper", 3, 0.5),
    (qt.Gaussian(1.0), "midrise", 4, 0.3),
    (qt.Gaussian(2.0), "signed", 1, 1.5),
    (qt.Laplace(1.0), "paper", 3, 0.5),
    (qt.Laplace(1.0), "signed", 1, 1.0),  # tau+ = 0 sits on the kink
    (qt.Laplace(0.5), "symmetric", 2, 0.9),
]


@pytest.mark.parametrize(("dist", "scheme", "bits", "step"), BOUND_CASES)
def test_truncation_at_n_and_n_plus_2_within_the_bounds(dist, scheme, bits, step):
    # |S_N - D| <= R_N for every N, hence |S_N - S_N+2| <= R_N + R_N+2
    s1, s2 = scales(dist, get_scheme("t", scheme, bits), [step])
    for n in range(1, 30):
        (a1, a2), _ = _series(dist, [step], scheme, bits, fixed_order=n)
        (c1, c2), _ = _series(dist, [step], scheme, bits, fixed_order=n + 2)
        r = ms.derivative_remainder_bounds(dist, np.array([step]), n)
        r2 = ms.derivative_remainder_bounds(dist, np.array([step]), n + 2)
        # 16 ulps of the scales for rounding
        assert abs(a1[0] - c1[0]) <= r[0][0] + r2[0][0] + 16 * EPS * s1[0], n
        assert abs(a2[0] - c2[0]) <= r[1][0] + r2[1][0] + 16 * EPS * s2[0], n


def test_chosen_order_meets_the_tolerance():
    # the Gaussian (no breakpoints): the scale of the tolerance is the sum of
    # the magnitudes of the tail terms and of the j = 1 terms, which can be
    # written down here
    g = qt.Gaussian(1.0)
    s = get_scheme("t", "midrise", 6)
    steps = np.geomspace(1e-3, 0.3, 30)
    _, order = _series(g, steps, "midrise", 6)
    assert np.all(order > 0)
    su, t1u, _ = g._upper_tail(s.top * steps)
    fl, t1l, _ = g._lower_tail(s.bottom * steps)
    tp, tm = s.top * steps, s.bottom * steps
    fp, fm = g._pdf(tp), g._pdf(tm)
    gap = np.abs(tp * fp) + np.abs(tm * fm) + 2 * (1 - su - fl)
    s1 = 2 * abs(s.top) * t1u + 2 * abs(s.bottom) * t1l + steps / 12 * gap
    for d, n, sc in zip(steps, order, s1, strict=True):
        b1, _ = ms.derivative_remainder_bounds(g, np.array([d]), int(n))
        assert b1[0] <= ms.TRUNCATION_RTOL * sc * (1 + 1e-12)


def test_bernoulli_table_matches_the_standard_recurrence():
    # the tangent-number table against sum_k binom(m+1, k) B_k = 0
    b = [Fraction(1)]
    for m in range(1, 61):
        b.append(-sum(math.comb(m + 1, k) * b[k] for k in range(m)) / (m + 1))
    assert ms._bernoulli_numbers(60) == tuple(b)
    assert ms._bernoulli_numbers(7) == tuple(b[:8])


def test_bounds_vanish_for_the_uniform_law():
    b1, b2 = ms.derivative_remainder_bounds(qt.Uniform(0.3), np.array([0.01]), 2)
    assert b1[0] == 0.0
    assert b2[0] == 0.0
    b1, b2 = ms.derivative_remainder_bounds(qt.Uniform(0.3), np.array([0.01]), 1)
    assert b1[0] > 0.0
    assert b2[0] > 0.0


# ---------------------------------------------------------------------------
# the uniform law in exact arithmetic
# ---------------------------------------------------------------------------
def uniform_exact(a, step, scheme, bits):
    """Exact D', D'' of U[-a, a] at a float step, in rational arithmetic.

    The MSE is a sum over cells of ((B - c)^3 - (A - c)^3) / (6a), with
    c = m step the level and [A, B] the cell clipped to [-a, a]; each end is
    either +-a (fixed) or a threshold (m +- 1/2) step. Differentiating,
    D' = sum [(B - c)^2 (B' - m) - (A - c)^2 (A' - m)] / (2a) and
    D'' = sum [(B - c)(B' - m)^2 - (A - c)(A' - m)^2] / a. A cell inside
    [-a, a] contributes step^2/(8a) and step/(4a); only the cells at +-a
    and the outer ones need the general form. Valid off the kinks.
    """
    s = get_scheme("t", scheme, bits)
    a, d, off = Fraction(a), Fraction(step), Fraction(s.offset)
    half = Fraction(1, 2)
    # indices of the cells whose thresholds are both inside [-a, a]
    k_lo = max(s.kmin + 1, math.ceil(-a / d - off + half))
    k_hi = min(s.kmax - 1, math.floor(a / d - off - half))
    full = max(0, k_hi - k_lo + 1)
    d1 = full * d * d / (8 * a)
    d2 = full * d / (4 * a)
    edge = {s.kmin, s.kmin + 1, s.kmax - 1, s.kmax, k_lo - 1, k_hi + 1}
    for k in sorted(edge):
        if not s.kmin <= k <= s.kmax or (full and k_lo <= k <= k_hi):
            continue
        m = k + off
        ends = []
        for sign, is_outer in ((-1, k == s.kmin), (1, k == s.kmax)):
            t = None if is_outer else m + sign * half  # threshold / step
            if t is None or (t * d < -a if sign < 0 else t * d > a):
                ends.append((sign * a, Fraction(0)))  # clipped at -+a
            else:
                ends.append((t * d, t))
        (lo, lo_m), (hi, hi_m) = ends
        if hi <= lo:
            continue  # the cell misses [-a, a]
        c = m * d
        d1 += ((hi - c) ** 2 * (hi_m - m) - (lo - c) ** 2 * (lo_m - m)) / (2 * a)
        d2 += ((hi - c) * (hi_m - m) ** 2 - (lo - c) * (lo_m - m) ** 2) / a
    return d1, d2


@pytest.mark.parametrize("scheme", qt.SCHEMES)
@pytest.mark.parametrize("bits", [2, 5, 8, 12, 14])
def test_uniform_against_exact_arithmetic(scheme, bits):
    # The uniform law is ill-conditioned at high bit-widths: with j the
    # outermost level holding mass, D'' = 2 j^2 (a - j step)/a + j step/(2a)
    # and |step D'''| <= 2 j^3 step / a ~ 2 (a/step)^2, so the rounding of
    # a quantity like j step or a/step moves D'' by that many ulps (and D'
    # by step |D''| <= 2 j^2 step^2 / a ulps). Every float route does such
    # roundings; the tolerance is 16 ulps of those sensitivities plus the
    # scales (measured: at most 2.4 ulps of them).
    a = 0.6
    dist = qt.Uniform(a)
    s = get_scheme("t", scheme, bits)
    steps = 2 * a / 2**bits * np.geomspace(1 / 8, 8, 13) * (1 + 1e-3 / math.pi)
    (d1, d2), order = _series(dist, steps, scheme, bits)
    assert np.all(order == 2)
    k = max(abs(s.top), abs(s.bottom))
    for i, x in enumerate(steps):
        e1, e2 = uniform_exact(a, x, scheme, bits)
        s1, s2 = scales(dist, s, [x], [float(e2)])
        j = min(k, a / x + 1.0)
        assert abs(d1[i] - float(e1)) <= 16 * EPS * (s1[0] + 2 * j * j * x * x / a), x
        assert abs(d2[i] - float(e2)) <= 16 * EPS * (s2[0] + 2 * j**3 * x / a), x


def d2_branch(a, step, j):
    """D'' of U[-a, a], scheme paper, with level j the outermost holding
    mass (tests/laws/test_derivatives.py)."""
    return 2 * j * j * (a - j * step) / a + j * step / (2 * a)


@pytest.mark.parametrize("bits", [1, 2, 3, 4, 8, 12])
def test_uniform_one_sided_second_derivative_at_kinks(bits):
    # a threshold (j + 1/2) step on a = 1: D'' jumps from branch j + 1 (left)
    # to branch j (right); D' is continuous
    a = 1.0
    k = 2 ** (bits - 1)
    js = sorted({k - 1, k // 2, max(k // 4, 1) - 1, 0} - {-1})
    steps = np.array([2 * a / (2 * j + 1) for j in js])
    u = qt.Uniform(a)
    (l1, left), o_l = _series(u, steps, "paper", bits, side=-1)
    (r1, right), o_r = _series(u, steps, "paper", bits, side=1)
    assert np.all(o_l == 2)
    assert np.all(o_r == 2)
    for i, j in enumerate(js):
        # closed forms in floats: 1e-12 of the jump (2j + 1)
        assert left[i] == pytest.approx(d2_branch(a, steps[i], j + 1), abs=1e-12 * k)
        assert right[i] == pytest.approx(d2_branch(a, steps[i], j), abs=1e-12 * k)
    # D' has no jump: both sides give the same value
    np.testing.assert_array_equal(l1, r1)
    # the cell route agrees on each side, and the public function is the
    # series (the cell sum at one or two bits)
    for side, ref in ((-1, left), (1, right)):
        got = qt.mse_derivative(u, steps, bits, 2, side=side)
        cells = _cells(u, steps, "paper", bits, side=side)[2]
        np.testing.assert_allclose(ref, cells, rtol=0, atol=1e-12 * k)
        want = ref if bits >= SERIES_DERIVATIVES_MIN_BITS else cells
        np.testing.assert_array_equal(got, want)


def test_outer_level_on_a_breakpoint_keeps_the_cell_sum():
    # step = a / K puts the top level on a: D'' is left to the cell sum
    # (D' is not, it has no one-sided issue)
    u = qt.Uniform(1.0)
    _, order = _series(u, [1.0 / 8], "paper", 4)
    assert order[0] == 0
    _, order = _series(u, [1.0 / 8], "paper", 4, order=1)
    assert order[0] == 2


# ---------------------------------------------------------------------------
# optimal_step against correctly rounded optima
# ---------------------------------------------------------------------------
# Roots of D' from the per-cell closed form of D' = -2 sum (k+o) A1_k with
# A1_k = [-phi]_cell - c_k [Phi]_cell in mpmath at 45 digits (a secant step
# between two candidate floats, where D' is linear to 1e-30):
GAUSSIAN_OPTIMA = [
    ("paper", 15, "0.0003490493327664041460606097"),
    ("paper", 16, "0.0001812209496134977061865655"),
    ("symmetric", 16, "0.0001812261900294585567014449"),
    ("signed", 14, "0.0006704518282867847250397667"),
]


@pytest.mark.parametrize(("scheme", "bits", "root"), GAUSSIAN_OPTIMA)
def test_gaussian_optimum_is_correctly_rounded(scheme, bits, root):
    # D' is exact to a few ulps of S1 ~ step D'' near the optimum, so the zero
    # is within a few ulps of the step; 1e-15 is 4.5 ulps (the cell-sum
    # derivatives put it up to 2.5e-14 off at these bit-widths)
    got = qt.optimal_step(qt.Gaussian(1.0), bits, scheme=scheme)
    assert got == pytest.approx(float(root), rel=1e-15, abs=0)


@pytest.mark.parametrize("bits", [7, 8, 10, 12, 14])
def test_uniform_optimum_is_a_zero_of_the_exact_derivative(bits):
    # the signed scheme: the optimum is a zero of D' (not Lemma 3's kink). In
    # exact arithmetic D'(x) vanishes there up to the conditioning of the
    # uniform law (test_uniform_against_exact_arithmetic), 16 ulps of
    # step^2 |D''| ~ 2 K^2 step^2 / a with K = 2^(M-1), the top level index
    x = qt.optimal_step(qt.Uniform(1.0), bits, scheme="signed")
    d1, d2 = uniform_exact(1.0, x, "signed", bits)
    k = 2 ** (bits - 1)
    assert d2 > 0
    assert abs(float(d1)) <= 16 * EPS * (x / 6 + 2 * k * k * x * x)


# ---------------------------------------------------------------------------
# a custom family with the hooks
# ---------------------------------------------------------------------------
class AsymmetricLaplaceWithMoments(AsymmetricLaplaceWithHooks):
    def _derivative_moment_l1(self, k, p):
        # int |x^p f^(k)| <= sum over sides of b^(-k) int_0^inf (|m| + t)^p
        # e^(-t/b) dt / (bl + br), with |x| <= |m| + |x - m|
        m = abs(self.m)
        total = 0.0
        for b in (self.bl, self.br):
            if p == 1:
                mom = m * b + b * b
            else:
                mom = m * m * b + 2 * m * b * b + 2 * b**3
            total += mom * b ** (-k)
        return total / (self.bl + self.br)


@pytest.mark.parametrize("scheme", qt.SCHEMES)
@pytest.mark.parametrize("bits", [2, 4, 7, 10])
def test_custom_family_with_moment_hooks(scheme, bits):
    dist = AsymmetricLaplaceWithMoments()
    s = get_scheme("t", scheme, bits)
    steps = 8.0 / 2**bits * np.geomspace(1 / 8, 8, 17)
    (d1, d2), order = _series(dist, steps, scheme, bits)
    used = order > 0
    assert used.sum() >= 7
    ref = _cells(dist, steps[used], scheme, bits)
    s1, s2 = scales(dist, s, steps[used], ref[2])
    tol = ROUTES_ULPS * 2.0**bits * EPS  # as for the named families
    assert np.all(np.abs(d1[used] - ref[1]) <= tol * s1)
    assert np.all(np.abs(d2[used] - ref[2]) <= tol * s2)
    if bits >= SERIES_DERIVATIVES_MIN_BITS:
        got = np.asarray(qt.mse_derivative(dist, steps, bits, 2, scheme=scheme))
        np.testing.assert_array_equal(got[used], d2[used])


def test_custom_family_without_moment_hooks_keeps_the_cell_sum():
    dist = AsymmetricLaplaceWithHooks()  # MSE hooks only
    assert _series(dist, [0.1], "paper", 4) is None
    assert ms.derivative_remainder_bounds(dist, np.array([0.1]), 3) is None
    got = qt.mse_derivative(dist, 0.1, 4, 2)
    assert got == _cells(dist, [0.1], "paper", 4)[2][0]


# ---------------------------------------------------------------------------
# properties
# ---------------------------------------------------------------------------
@given(
    family=st.sampled_from(["gaussian", "laplace", "uniform"]),
    c=st.floats(1e-3, 1e3),
    bits=st.integers(4, 16),
    scheme=st.sampled_from(qt.SCHEMES),
    ratio=st.floats(0.25, 4.0),
)
def test_scale_invariance(family, c, bits, scheme, ratio):
    # D'(cX, c step) = c D'(X, step) and D''(cX, c step) = D''(X, step)
    x, cx = MAKE[family](1.0), MAKE[family](c)
    step = ratio * 8.0 * x.std / 2**bits
    (a1, a2), o1 = _series(x, [step], scheme, bits)
    (b1, b2), o2 = _series(cx, [c * step], scheme, bits)
    assume(o1[0] > 0 and o2[0] > 0)
    # both standardise to the unit member, at steps that differ by the
    # rounding of c * step / c (2 ulps), which moves D' by 2 eps step D''
    # and D'' by 2 eps step D'''; |step D'''| <= 2^M D'' scale for these laws
    # (the uniform law's a/step), so 8 x 2^M eps of the scales
    s1, s2 = scales(x, get_scheme("t", scheme, bits), [step], [a2[0]])
    tol = 8.0 * 2.0**bits * EPS
    assert abs(b1[0] - c * a1[0]) <= tol * c * s1[0]
    assert abs(b2[0] - a2[0]) <= tol * s2[0]
    got = qt.mse_derivative(cx, c * step, bits, 1, scheme=scheme)
    assert abs(got - c * a1[0]) <= tol * c * s1[0]


@pytest.mark.parametrize("step", [10.0, 1e3, 1e8])
def test_cells_much_wider_than_the_law(step):
    # all the mass in the zero cell: the MSE is a^2/3 and D' = D'' = 0. The
    # granular term step/6 cancels against the breakpoint terms, so the
    # series returns 0 to a few ulps of the scale S1 ~ step/6, as every route
    # that adds those terms would
    u = qt.Uniform(1.0)
    s = get_scheme("t", "paper", 4)
    (d1, d2), order = _series(u, [step], "paper", 4)
    assert order[0] == 2
    s1, s2 = scales(u, s, [step])
    assert abs(d1[0]) <= 4 * EPS * s1[0]
    assert abs(d2[0]) <= 4 * EPS * s2[0]
    # while the Gaussian's series diverges there: the cell sum
    _, order = _series(qt.Gaussian(1.0), [step], "paper", 4)
    assert order[0] == 0
