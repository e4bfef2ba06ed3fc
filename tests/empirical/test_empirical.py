r"""The empirical law of a finite array against plain-numpy evaluations.

For data :math:`x_1..x_N` the exact MSE is :math:`\frac1N\sum_i
(x_i - Q(x_i))^2`, a continuous, piecewise quadratic function of the step:
between kinks (a sample on a decision threshold) the level indices
:math:`k_i + o` are fixed and

    D = (C - 2 B step + A step^2)/N,  A = sum (k_i + o)^2,  B = sum (k_i + o) x_i,

so D' = -2/N sum (k_i + o)(x_i - (k_i + o) step) and D'' = 2A/N. Expected
values come from a brute-force nearest-level search over every level
(``registry.reference_quantize``) or from a plain-numpy quantizer written
from the design table (``registry.direct_mse``), never from the engine.
Data are drawn with numpy samplers from the registry (not with
``Distribution.sample``).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from registry import (
    BY_ID,
    FINITE_FOURTH,
    SCHEMES,
    direct_mse,
    law,
    min_bits,
    reference_quantize,
    scheme_table,
    top_index,
    typical_steps,
)

import quanttheory as qt

EPS = np.finfo(np.float64).eps
N = 10_000


def data(family_id, n=N, seed=20240601):
    return BY_ID[family_id].sampler(np.random.default_rng(seed), n)


def sum_rtol(n):
    """Relative error bound of a sum of n positive doubles: n eps (worst case,
    any summation order); two such sums differ by at most 2 n eps."""
    return 2 * n * EPS


def threshold_distance(x, step, bits, scheme):
    """Smallest |x_i/step - (j + o + 1/2)| over samples and thresholds, in
    units of the step (how far the step is from a kink, relatively)."""
    kmin, kmax, off = scheme_table(scheme, bits)
    thr = np.arange(kmin, kmax, dtype=float) + off + 0.5
    return float(np.min(np.abs((x / step)[:, None] - thr[None, :])))


SCHEME_BITS = [(s, b) for s in SCHEMES for b in (1, 2, 3, 4, 8) if b >= min_bits(s)]


@pytest.mark.parametrize(("scheme", "bits"), SCHEME_BITS)
@pytest.mark.parametrize("family_id", ["gaussian", "laplace", "t3", "skewnorm4"])
def test_exact_mse_is_mean_squared_quantization_error(family_id, scheme, bits):
    x = data(family_id)
    e = qt.Empirical(x)
    steps = typical_steps(BY_ID[family_id], scheme, bits)
    got = qt.mse(e, steps, bits, scheme=scheme)
    for g, step in zip(got, steps, strict=True):
        expected = np.mean((x - qt.quantize(x, step, bits, scheme)) ** 2)
        # the same N squared errors summed in different orders (np.dot in
        # chunks vs np.mean's pairwise sum): at most 2 N eps relative
        assert g == pytest.approx(expected, rel=sum_rtol(N), abs=0.0)
        # and the quantizer-free numpy evaluation from the design table
        assert g == pytest.approx(direct_mse(x, step, bits, scheme), rel=sum_rtol(N))


@pytest.mark.parametrize(("scheme", "bits"), SCHEME_BITS)
def test_derivatives_between_kinks(scheme, bits):
    x = data("gaussian", n=2_000)
    e = qt.Empirical(x)
    step = typical_steps(BY_ID["gaussian"], scheme, bits)[1] * 1.0137
    # the step must be off every kink for "between kinks" to hold; with
    # 2000 samples the nearest one is ~1e-4 step away
    assert threshold_distance(x, step, bits, scheme) > 1e-9
    _, idx = reference_quantize(x, step, bits, scheme)  # brute-force argmin
    a = np.sum(idx * idx)  # an exact (quarter-)integer sum in float64
    expected_d2 = 2.0 * a / x.size
    resid = x - idx * step
    terms = idx * resid
    expected_d1 = -2.0 * np.sum(terms) / x.size
    for side in (1, -1):
        d2 = qt.mse_derivative(e, step, bits, 2, scheme=scheme, side=side)
        # A is exact and one division rounds: 2 eps relative
        assert d2 == pytest.approx(expected_d2, rel=2 * EPS)
        d1 = qt.mse_derivative(e, step, bits, 1, scheme=scheme, side=side)
        # a sum of N signed terms in two orders: N eps sum|terms| / N, x2
        assert abs(d1 - expected_d1) <= 2 * EPS * np.sum(np.abs(terms))


@pytest.mark.parametrize(
    ("scheme", "bits"), [("paper", 2), ("midrise", 3), ("signed", 4)]
)
def test_mse_is_exactly_quadratic_between_kinks(scheme, bits):
    # finite differences of the engine's MSE, inside one quadratic piece,
    # reproduce D' and D'' up to rounding alone (no truncation error)
    x = data("laplace", n=1_000)
    e = qt.Empirical(x)
    step = typical_steps(BY_ID["laplace"], scheme, bits)[1] * 0.9871
    gap = threshold_distance(x, step, bits, scheme)
    h = 0.25 * gap * step / max(1.0, top_index(scheme, bits))  # stay in the piece
    vals = qt.mse(e, np.array([step - h, step, step + h]), bits, scheme=scheme)
    d1 = qt.mse_derivative(e, step, bits, 1, scheme=scheme)
    d2 = qt.mse_derivative(e, step, bits, 2, scheme=scheme)
    # rounding only: each value has <= 2 N eps relative error (N positive
    # terms), divided by h (first) or h^2 (second)
    noise = sum_rtol(x.size) * np.max(vals)
    assert abs((vals[2] - vals[0]) / (2 * h) - d1) <= noise / h
    assert abs((vals[2] - 2 * vals[1] + vals[0]) / h**2 - d2) <= 4 * noise / h**2


@pytest.mark.parametrize(
    ("scheme", "bits"), [("paper", 2), ("midrise", 2), ("signed", 3)]
)
def test_one_sided_derivatives_at_a_kink(scheme, bits):
    # put a sample exactly on a decision threshold: step = x_i / (j + o + 1/2)
    x = data("gaussian", n=500)
    _, kmax, off = scheme_table(scheme, bits)
    m = kmax - 1 + off + 0.5  # the outermost positive threshold
    xi = float(np.max(x))
    step = xi / m
    e = qt.Empirical(x)
    # one-sided limits by brute force: indices just right / left of the step
    # (relative offset 1e-9, far below the next kink, far above rounding)
    for side in (1, -1):
        probe = step * (1 + side * 1e-9)
        assert threshold_distance(x, probe, bits, scheme) > 0  # off the kink
        _, idx = reference_quantize(x, probe, bits, scheme)
        expected_d2 = 2.0 * np.sum(idx * idx) / x.size
        got = qt.mse_derivative(e, step, bits, 2, scheme=scheme, side=side)
        # exact integer sum, one rounding: 2 eps relative
        assert got == pytest.approx(expected_d2, rel=2 * EPS), side
        terms = idx * (x - idx * step)
        expected_d1 = -2.0 * np.sum(terms) / x.size
        got1 = qt.mse_derivative(e, step, bits, 1, scheme=scheme, side=side)
        # the sample on the threshold contributes (k + o)(x_i - (k + o) step)
        # with x_i - (k + o) step = +-step/2 up to rounding: 2 N eps sum|terms|
        assert abs(got1 - expected_d1) <= 2 * x.size * EPS * np.sum(np.abs(terms)), side
    # the jump of D'' is 2/N ((k_hi + o)^2 - (k_lo + o)^2) for that one sample
    jump = qt.mse_derivative(
        e, step, bits, 2, scheme=scheme, side=-1
    ) - qt.mse_derivative(e, step, bits, 2, scheme=scheme, side=1)
    k_hi, k_lo = kmax + off, kmax - 1 + off
    assert jump == pytest.approx(2.0 * (k_hi**2 - k_lo**2) / x.size, rel=1e-12)


# ---------------------------------------------------------------------------
# optimal_step on data
# ---------------------------------------------------------------------------

OPT_CASES = [
    (f, s, b)
    for f in ("gaussian", "laplace", "t3")
    for s in SCHEMES
    for b in (2, 3, 4, 8)
]


@pytest.mark.parametrize(("family_id", "scheme", "bits"), OPT_CASES)
def test_optimal_step_below_dense_grid(family_id, scheme, bits):
    x = data(family_id)
    opt = qt.optimal_step(qt.Empirical(x), bits, scheme=scheme)
    top = top_index(scheme, bits)
    xmax = float(np.max(np.abs(x)))
    grid = np.concatenate(
        [
            # clipping level from 1e-3 to 2 times the largest |x|
            np.geomspace(1e-3 * xmax / top, 2.0 * xmax / top, 600),
            # +-2 % around the optimum, where the pieces are short
            opt * (1.0 + np.linspace(-0.02, 0.02, 201)),
        ]
    )
    vals = direct_mse(x, grid, bits, scheme)
    at_opt = direct_mse(x, opt, bits, scheme)
    # same numpy evaluation on both sides: N positive terms, <= 2 N eps
    assert at_opt <= vals.min() * (1.0 + sum_rtol(N)), (opt, grid[np.argmin(vals)])


def brute_force_global_minimum(x, bits, scheme):
    """Global minimum of the piecewise quadratic D over all steps > 0.

    Enumerate every kink step |x_i| / |j + o + 1/2|; on each piece between
    consecutive kinks the indices are those at the piece's midpoint
    (brute-force argmin), and the piece's minimum is at B/A clipped to the
    piece. Beyond the last kink one more piece to infinity.
    """
    kmin, kmax, off = scheme_table(scheme, bits)
    thr = np.arange(kmin, kmax, dtype=float) + off + 0.5
    kinks = np.abs(x)[:, None] / np.abs(thr[thr != 0])[None, :]
    kinks = np.unique(kinks[kinks > 0])
    edges = np.concatenate([[kinks[0] / 4], kinks, [kinks[-1] * 4]])
    best = (math.inf, math.nan)
    c = float(np.dot(x, x))
    for lo, hi in itertools.pairwise(edges):
        _, idx = reference_quantize(x, 0.5 * (lo + hi), bits, scheme)
        a = float(np.dot(idx, idx))
        b = float(np.dot(idx, x))
        d = min(max(b / a, lo), hi) if a > 0 else hi
        val = (c - 2 * b * d + a * d * d) / x.size
        if val < best[0]:
            best = (val, d)
    return best


@pytest.mark.parametrize(
    ("family_id", "scheme", "bits"),
    [
        ("gaussian", "paper", 2),
        ("laplace", "midrise", 2),
        ("t3", "signed", 3),
        ("skewnorm4", "paper", 3),
        ("uniform", "symmetric", 3),
        ("t3", "paper", 4),
    ],
)
def test_optimal_step_is_global_minimum_of_small_data(family_id, scheme, bits):
    x = data(family_id, n=150)
    opt = qt.optimal_step(qt.Empirical(x), bits, scheme=scheme)
    best_val, best_step = brute_force_global_minimum(x, bits, scheme)
    got = direct_mse(x, opt, bits, scheme)
    # the closed-form piece minimum (C - 2B d + A d^2)/N cancels: its
    # absolute error is ~ N eps C / N; plus the direct sum's 2 N eps
    tol = 4 * x.size * EPS * float(np.mean(x * x))
    assert got <= best_val + tol, (opt, best_step)
    assert got >= best_val - tol, (opt, best_step)  # nothing beats the minimum


# ---------------------------------------------------------------------------
# additive model on data
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scheme", "bits"), [("paper", 2), ("midrise", 3), ("signed", 4), ("symmetric", 4)]
)
def test_additive_model_on_data(scheme, bits):
    x = data("t3", n=5_000)
    kmin, kmax, off = scheme_table(scheme, bits)
    for step in typical_steps(BY_ID["t3"], scheme, bits):
        tp, tm = (kmax + off) * step, (kmin + off) * step
        up, lo = x[x > tp] - tp, tm - x[x < tm]
        inside = 1.0 - (up.size + lo.size) / x.size
        expected = (np.sum(up**2) + np.sum(lo**2)) / x.size + step**2 / 12 * inside
        got = qt.mse(qt.Empirical(x), step, bits, scheme=scheme, model="additive")
        # sums of positive terms in different orders: 2 N eps relative
        assert got == pytest.approx(expected, rel=sum_rtol(x.size))


# ---------------------------------------------------------------------------
# a large sample approaches the parametric law
# ---------------------------------------------------------------------------

CONSISTENCY = [
    (f.id, s, b) for f in FINITE_FOURTH for s, b in (("paper", 2), ("midrise", 4))
]
# 10 cases; two-sided normal tail beyond 5 standard errors is 5.7e-7 per
# case, < 1e-5 family-wise (Bonferroni). Needs Var[(X - Q)^2] < inf, i.e. a
# finite fourth moment: t3 is excluded (see tests/api/test_montecarlo.py).
K_SE = 5.0


@pytest.mark.parametrize(("family_id", "scheme", "bits"), CONSISTENCY)
def test_large_sample_mse_approaches_parametric(family_id, scheme, bits):
    x = data(family_id, n=200_000, seed=7)
    step = typical_steps(BY_ID[family_id], scheme, bits)[1]
    emp = qt.mse(qt.Empirical(x), step, bits, scheme=scheme)
    par = qt.mse(law(family_id), step, bits, scheme=scheme)
    # the empirical MSE is the mean of N iid squared errors with mean `par`;
    # its standard error comes from the same errors (plain numpy)
    err2 = (x - reference_like(x, step, bits, scheme)) ** 2
    se = float(np.std(err2, ddof=1)) / math.sqrt(x.size)
    assert abs(emp - par) <= K_SE * se


def reference_like(x, step, bits, scheme):
    """The design-table quantizer in numpy (memory-light for big arrays)."""
    kmin, kmax, off = scheme_table(scheme, bits)
    return (np.clip(np.rint(x / step - off), kmin, kmax) + off) * step


@pytest.mark.parametrize(
    ("family_id", "bits"),
    [("gaussian", 2), ("gaussian", 4), ("laplace", 4), ("uniform", 4)],
)
def test_large_sample_optimal_step_approaches_parametric(family_id, bits):
    x = data(family_id, n=200_000, seed=11)
    emp = qt.optimal_step(qt.Empirical(x), bits)
    par = qt.optimal_step(law(family_id), bits)
    # measured spread of emp/par - 1 over 20 seeds at N = 2e5: std 0.08 %
    # (uniform) to 0.74 % (Laplace, 4 bits), bias < 0.11 %; 4 % is > 5 std
    assert emp == pytest.approx(par, rel=0.04)


# ---------------------------------------------------------------------------
# moments and edge cases
# ---------------------------------------------------------------------------


def test_empirical_moments_are_population_moments():
    x = np.array([[-1.0, 0.0], [0.5, 3.0]])
    e = qt.Empirical(x)
    flat = x.ravel()
    assert e.n == 4
    # float64 sums of four short binary fractions: exact
    assert e.mean == np.mean(flat)
    assert e.variance == np.mean((flat - flat.mean()) ** 2)
    c = flat - flat.mean()
    # fourth moment over variance squared: a few roundings, 1e-14
    assert e.kurtosis == pytest.approx(np.mean(c**4) / np.mean(c**2) ** 2, rel=1e-14)
    assert e.second_moment == pytest.approx(np.mean(flat**2), rel=1e-15)


def test_empirical_copies_its_input():
    x = np.array([0.1, 0.2, 0.3])
    e = qt.Empirical(x)
    before = qt.mse(e, 0.1, 2)
    x[:] = 100.0
    # mutating the caller's array must not change the law: exact equality
    assert qt.mse(e, 0.1, 2) == before


def test_optimal_step_of_all_zero_data_raises():
    with pytest.raises(qt.InvalidArgument, match=r"optimal_step: .*all zero"):
        qt.optimal_step(qt.Empirical(np.zeros(10)), 4)
