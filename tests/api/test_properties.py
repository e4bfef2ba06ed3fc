"""Properties that hold for every family, scheme and bit-width.

Expected values come from invariants (scale equivariance, nested level sets,
pointwise bounds on the squared error), from the seed's Lemma 2 / Lemma 3 in
closed form, from a closed form of the uniform law's exact MSE at *every*
step (derived in ``registry.uniform_paper_mse``, checked here against
``mpmath.quad`` per cell), and
from brute-force nearest-level search. Nothing is taken from the code under
test. Families and typical parameters come from ``tests/registry.py``.
"""

from __future__ import annotations

import math

import hypothesis.extra.numpy as hnp
import mpmath
import numpy as np
import pytest
from hypothesis import given, note
from hypothesis import strategies as st
from registry import (
    BY_ID,
    CLOSED_FORM,
    FAMILY_IDS,
    SCHEMES,
    VIA_SCIPY,
    ZERO_LEVEL_SCHEMES,
    law,
    lemma2,
    min_bits,
    scheme_table,
    top_index,
    typical_steps,
    uniform_paper_mse,
)

import quanttheory as qt

EPS = np.finfo(np.float64).eps


@st.composite
def scheme_and_bits(draw, max_bits=8, schemes=SCHEMES):
    scheme = draw(st.sampled_from(schemes))
    bits = draw(st.integers(min_bits(scheme), max_bits))
    return scheme, bits


def valid_scheme_bits(bits_list, schemes=SCHEMES):
    return [(s, b) for s in schemes for b in bits_list if b >= min_bits(s)]


# ===========================================================================
# quantize
# ===========================================================================

DTYPES = (np.float16, np.float32, np.float64)
_WIDTH = {np.float16: 16, np.float32: 32, np.float64: 64}


def dtype_levels(step, bits, scheme, dtype):
    """The level set as the quantizer computes it: ``(k + o) * step`` in
    ``dtype`` arithmetic (the documented "arithmetic runs in that dtype")."""
    kmin, kmax, off = scheme_table(scheme, bits)
    idx = (np.arange(kmin, kmax + 1, dtype=np.float64) + off).astype(dtype)
    return idx * dtype(step)


@st.composite
def quantize_cases(draw):
    dtype = draw(st.sampled_from(DTYPES))
    scheme, bits = draw(scheme_and_bits())
    # a step that is a normal number of every dtype (float16: 6e-5 .. 65504)
    step = draw(st.floats(2.0**-8, 2.0**8))
    # |x| <= 1e300 keeps the float64 distance arithmetic below from
    # overflowing; +-inf is still drawn (and checked separately)
    big = 1e300 if dtype is np.float64 else float(np.finfo(dtype).max)
    elements = st.floats(-big, big, width=_WIDTH[dtype]) | st.sampled_from(
        [-np.inf, np.inf]
    )
    x = draw(
        hnp.arrays(dtype, hnp.array_shapes(max_dims=3, max_side=6), elements=elements)
    )
    return dtype, scheme, bits, step, x


@given(quantize_cases())
def test_quantize_output_is_nearest_level(case):
    dtype, scheme, bits, step, x = case
    q = qt.quantize(x, step, bits, scheme)
    assert q.dtype == dtype
    assert q.shape == x.shape
    lv = dtype_levels(step, bits, scheme, dtype)
    # exact membership: every output is one of the dtype's levels
    assert np.isin(q, lv).all()
    if dtype is np.float64:
        # float64 levels are exactly the public levels()
        assert np.isin(q, qt.levels(step, bits, scheme)).all()
    x64 = x.astype(np.float64).ravel()
    q64 = q.astype(np.float64).ravel()
    inf = np.isinf(x64)
    # +-inf goes to the outermost level on its side (exact)
    assert np.all(q64[inf & (x64 > 0)] == lv[-1])
    assert np.all(q64[inf & (x64 < 0)] == lv[0])
    xf, qf = x64[~inf], q64[~inf]
    best = np.min(np.abs(xf[:, None] - lv.astype(np.float64)[None, :]), axis=1)
    # Nearest up to rounding: x/step is rounded once in `dtype` (unit roundoff
    # u), so a point within |x| u of a decision threshold may go to either
    # neighbour, costing at most 2 |x| u of extra distance; the float64
    # distances add a few ulps. Exact ties may go either way.
    u = np.finfo(dtype).eps / 2.0
    tol = 4.0 * u * np.maximum(np.abs(xf), np.abs(qf))
    assert np.all(np.abs(xf - qf) <= best + tol)


@given(quantize_cases())
def test_quantize_is_idempotent_bit_for_bit(case):
    _, scheme, bits, step, x = case
    q = qt.quantize(x, step, bits, scheme)
    q2 = qt.quantize(q, step, bits, scheme)
    assert q2.dtype == q.dtype
    assert q2.tobytes() == q.tobytes()  # bit-for-bit, signed zeros included


@given(
    dtype=st.sampled_from(DTYPES),
    sb=scheme_and_bits(),
    exponent=st.integers(-6, 6),
    data=st.data(),
)
def test_quantize_rounds_exact_ties_half_to_even(dtype, sb, exponent, data):
    scheme, bits = sb
    kmin, kmax, off = scheme_table(scheme, bits)  # always >= 2 levels
    # tie halfway between levels (j + o) and (j + 1 + o): index j + 1/2 after
    # removing the offset; power-of-two step and small j make it exact in
    # every dtype
    j = data.draw(st.integers(kmin, kmax - 1), label="j")
    step = 2.0**exponent
    x = np.array([(j + off + 0.5) * step], dtype=dtype)
    assert float(x[0]) == (j + off + 0.5) * step  # the tie is representable
    even = j if j % 2 == 0 else j + 1
    got = qt.quantize(x, step, bits, scheme)
    # exact: power-of-two step times a small half-integer
    assert float(got[0]) == (even + off) * step


# ===========================================================================
# MSE: scale equivariance
# ===========================================================================

# c values: powers of two (exact scaling) and awkward decimals, over six
# decades; a finite set keeps the number of from_scipy laws (each builds a
# knot table once) small.
SCALES = (2.0**-10, 1e-3, 0.37, 3.1, 2.0**7, 1e3)


@given(
    family_id=st.sampled_from(FAMILY_IDS),
    c=st.sampled_from(SCALES),
    sb=scheme_and_bits(),
    factor=st.floats(0.2, 5.0),
    model=st.sampled_from(qt.MODELS),
)
def test_mse_scale_equivariance(family_id, c, sb, factor, model):
    scheme, bits = sb
    fam = BY_ID[family_id]
    step = factor * typical_steps(fam, scheme, bits)[1]
    base = qt.mse(law(family_id), step, bits, scheme=scheme, model=model)
    scaled = qt.mse(law(family_id, c), c * step, bits, scheme=scheme, model=model)
    # MSE(cX, c step) = c^2 MSE(X, step) exactly; the engine's quadrature and
    # knots are laid out in units of the law's scale, so both sides run the
    # same arithmetic on scaled numbers and differ by rounding only (observed
    # <= 4e-15 relative over the registry; 1e-12 leaves a wide margin).
    assert scaled == pytest.approx(c * c * base, rel=1e-12, abs=0.0)


# ===========================================================================
# MSE: bounds, limits and monotonicity
# ===========================================================================


@given(
    family_id=st.sampled_from(FAMILY_IDS),
    sb=scheme_and_bits(max_bits=10, schemes=ZERO_LEVEL_SCHEMES),
    log10_step=st.floats(-6.0, 8.0),
)
def test_mse_sandwich_when_zero_is_a_level(family_id, sb, log10_step):
    # When 0 is a level, the nearest level is never farther than 0, so
    # (x - Q(x))^2 <= x^2 pointwise, with equality for |x| <= step/2 (the
    # zero cell). Hence, at every step,
    #     E[X^2] - E[X^2; |X| > step/2] <= MSE <= E[X^2],
    # with E[X^2] and the tail from closed forms (registry).
    scheme, bits = sb
    fam = BY_ID[family_id]
    step = 10.0**log10_step * fam.std
    m = qt.mse(law(family_id), step, bits, scheme=scheme)
    note(f"mse={m!r}")
    assert math.isfinite(m)
    assert m >= 0.0
    ex2 = fam.second_moment
    # 1e-12 relative: the engine's rounding in a sum of <= 2^10 + 2 positive
    # cell terms, a few ulps each (plus the closed-form tail's rounding)
    slack = 1e-12 * ex2
    assert m <= ex2 + slack
    assert m >= ex2 - fam.x2_tail_bound(step / 2.0) - slack


@pytest.mark.parametrize("family_id", FAMILY_IDS)
def test_mse_tends_to_second_moment_for_huge_steps(family_id):
    fam = BY_ID[family_id]
    step = 1e8 * fam.std
    # same sandwich as above: the gap is at most E[X^2; |X| > step/2], which
    # is 0 to double precision for light tails and ~ (6 sqrt3 / pi)/(5e7)
    # ~ 7e-8 for t3 (closed form in the registry); 1e-12 covers rounding.
    gap = fam.x2_tail_bound(step / 2.0) + 1e-12 * fam.second_moment
    for scheme in ZERO_LEVEL_SCHEMES:
        m = qt.mse(law(family_id), step, 4, scheme=scheme)
        assert abs(m - fam.second_moment) <= gap, (scheme, m)


@given(
    family_id=st.sampled_from(FAMILY_IDS),
    sb=scheme_and_bits(max_bits=12),
    log10_tau=st.floats(-12.0, -4.0),
)
def test_mse_tends_to_second_moment_for_tiny_steps(family_id, sb, log10_tau):
    # Every level lies in [-tau, tau], tau = clipping level, so
    # |(x - Q)^2 - x^2| = |Q^2 - 2xQ| <= tau^2 + 2|x| tau and, by
    # Cauchy-Schwarz, |MSE - E[X^2]| <= tau^2 + 2 tau sqrt(E[X^2]).
    scheme, bits = sb
    fam = BY_ID[family_id]
    tau = 10.0**log10_tau * fam.std
    step = tau / top_index(scheme, bits)
    m = qt.mse(law(family_id), step, bits, scheme=scheme)
    ex2 = fam.second_moment
    bound = tau * tau + 2.0 * tau * math.sqrt(ex2)
    # plus 1e-12 relative for rounding (see the sandwich test)
    assert abs(m - ex2) <= bound + 1e-12 * ex2


@given(
    family_id=st.sampled_from(FAMILY_IDS),
    sb=scheme_and_bits(max_bits=7),
    factor=st.floats(0.05, 20.0),
)
def test_mse_decreases_with_bits_at_fixed_step(family_id, sb, factor):
    # levels(step, M) is a subset of levels(step, M + 1) for every scheme,
    # and the nearest point of a superset is at least as near: the MSE can
    # only go down. 1e-12 relative: rounding (both near E[X^2] at big steps).
    scheme, bits = sb
    fam = BY_ID[family_id]
    step = factor * typical_steps(fam, scheme, bits)[1]
    d = law(family_id)
    lo_bits = qt.mse(d, step, bits, scheme=scheme)
    hi_bits = qt.mse(d, step, bits + 1, scheme=scheme)
    assert hi_bits <= lo_bits * (1.0 + 1e-12)


@given(
    family_id=st.sampled_from(FAMILY_IDS),
    bits=st.integers(2, 8),
    factor=st.floats(0.05, 20.0),
)
def test_mse_nested_schemes(family_id, bits, factor):
    # at the same step and bits: symmetric (-(K-1)..K-1) is a subset of
    # signed (-K..K-1), a subset of paper (-K..K); fewer levels, larger MSE.
    # 1e-12 relative: rounding.
    fam = BY_ID[family_id]
    step = factor * typical_steps(fam, "paper", bits)[1]
    d = law(family_id)
    m_paper = qt.mse(d, step, bits, scheme="paper")
    m_signed = qt.mse(d, step, bits, scheme="signed")
    m_sym = qt.mse(d, step, bits, scheme="symmetric")
    assert m_paper <= m_signed * (1.0 + 1e-12)
    assert m_signed <= m_sym * (1.0 + 1e-12)


# ===========================================================================
# Uniform law, scheme 'paper': Lemma 2, and a closed form at every step
# ===========================================================================


@pytest.mark.parametrize(
    ("bits", "step"),
    [
        (1, 0.3),
        (1, 1.5),
        (1, 2.5),
        (2, 0.2),
        (2, 0.45),
        (2, 0.55),
        (2, 0.9),
        (3, 0.1),
        (3, 0.27),
        (3, 0.4),
        (3, 1.1),
    ],
)
def test_uniform_closed_form_against_quadrature(bits, step):
    # brute force: every cell [lo, hi] of the level set intersected with the
    # support, integrated with mpmath.quad at 30 digits; independent of the
    # closed form (registry.uniform_paper_mse) and of the engine
    a = 1.0
    k = 2 ** (bits - 1)
    with mpmath.workdps(30):
        lv = [mpmath.mpf(i) * mpmath.mpf(step) for i in range(-k, k + 1)]
        total = mpmath.mpf(0)
        for i, c in enumerate(lv):
            lo = -mpmath.inf if i == 0 else (lv[i - 1] + c) / 2
            hi = mpmath.inf if i == len(lv) - 1 else (lv[i + 1] + c) / 2
            lo, hi = max(lo, -a), min(hi, a)
            if hi > lo:
                total += mpmath.quad(lambda x, c=c: (x - c) ** 2 / (2 * a), [lo, hi])
        total = float(total)
    # closed form in double vs 30-digit quadrature: a few ulps of cancellation
    # in (a - j step)^3 at most
    assert uniform_paper_mse(a, step, bits) == pytest.approx(total, rel=1e-13)
    # and the engine: quadrature vs engine in double, 1e-12 relative
    got = qt.mse(qt.Uniform(a), step, bits)
    assert got == pytest.approx(total, rel=1e-12)


@given(
    a=st.floats(1e-3, 1e3),
    bits=st.integers(1, 12),
    u=st.floats(1e-3, 1.0),
)
def test_uniform_paper_additive_equals_exact_equals_lemma2(a, bits, u):
    # Lemma 2's domain: 2^(M-1) step <= a
    step = u * a / 2 ** (bits - 1)
    expected = lemma2(a, step, bits)
    d = qt.Uniform(a)
    # closed form vs engine, both double precision; the engine sums
    # 2^M + 2 positive cell terms (relative error ~ a few ulps each), the
    # closed form cancels at most a few ulps in (a - tau)^3 relative to D
    exact = qt.mse(d, step, bits, model="exact")
    additive = qt.mse(d, step, bits, model="additive")
    assert exact == pytest.approx(expected, rel=1e-12)
    assert additive == pytest.approx(expected, rel=1e-12)


@given(
    a=st.floats(1e-2, 1e2),
    bits=st.integers(1, 10),
    log_ratio=st.floats(-3.0, 1.5),
)
def test_uniform_paper_exact_mse_at_every_step(a, bits, log_ratio):
    # all branches, including steps beyond Lemma 2's domain
    step = 10.0**log_ratio * a / 2 ** (bits - 1)
    expected = uniform_paper_mse(a, step, bits)
    got = qt.mse(qt.Uniform(a), step, bits)
    # closed form vs engine, both double (see the Lemma 2 test); near a
    # switch point the two branches agree to rounding, so either j is fine
    assert got == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("bits", range(1, 9))
@pytest.mark.parametrize("a", [0.01, 1.0, 37.0])
def test_uniform_optimal_step_is_lemma3(a, bits):
    # Lemma 3: 2a/(2^M + 1) (the valid root). It is the global minimiser of
    # the exact MSE too: on the branch j < K (see uniform_paper_mse),
    # D'(step) = (j/a)((j + 1/2) step - a)(a - (j - 1/2) step) >= 0.
    got = qt.optimal_step(qt.Uniform(a), bits)
    expected = 2 * a / (2**bits + 1)
    # Brent's method on the analytic D' to rtol 4 eps; D'' = 2^(M-1) > 0 at
    # the root, so the root is well conditioned: 1e-12 relative
    assert got == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("bits", range(1, 9))
def test_uniform_optimal_step_other_schemes(bits):
    # the optimal_step docstring: midrise 2a/2^M and symmetric 2a/(2^M - 1)
    # (the cells tile the support, MSE = step^2/12)
    a = 1.0
    d = qt.Uniform(a)
    mid = qt.optimal_step(d, bits, scheme="midrise")
    # Brent to ~4 eps relative, then rounding: 1e-12
    assert mid == pytest.approx(2 * a / 2**bits, rel=1e-12)
    if bits >= 2:
        sym = qt.optimal_step(d, bits, scheme="symmetric")
        assert sym == pytest.approx(2 * a / (2**bits - 1), rel=1e-12)


# ===========================================================================
# optimal_step is at or below a dense grid of steps
# ===========================================================================


def check_optimal_below_grid(family_id, scheme, bits, n_global, n_local):
    fam = BY_ID[family_id]
    d = law(family_id)
    opt = qt.optimal_step(d, bits, scheme=scheme)
    top = top_index(scheme, bits)
    # global: clipping level from 0.01 to 40 standard deviations; local:
    # +-3 % around the optimum
    grid = np.concatenate(
        [
            np.geomspace(1e-2 * fam.std / top, 40.0 * fam.std / top, n_global),
            opt * (1.0 + np.linspace(-0.03, 0.03, n_local)),
        ]
    )
    vals = qt.mse(d, grid, bits, scheme=scheme)
    at_opt = qt.mse(d, opt, bits, scheme=scheme)
    i = int(np.argmin(vals))
    msg = f"opt={opt!r} D={at_opt!r}; best grid step {grid[i]!r} D={vals[i]!r}"
    # D(opt) <= D(grid) up to the engine's evaluation noise (a sum of
    # <= 2^8 + 2 positive cell terms, a few ulps each): 1e-13 relative. A
    # wrong basin or an unconverged refinement shows up as >= 1e-9.
    assert at_opt <= vals.min() * (1.0 + 1e-13), msg


@pytest.mark.parametrize(("scheme", "bits"), valid_scheme_bits(range(1, 9)))
@pytest.mark.parametrize("family_id", [f.id for f in CLOSED_FORM])
def test_optimal_step_below_dense_grid_closed_form(family_id, scheme, bits):
    check_optimal_below_grid(family_id, scheme, bits, n_global=300, n_local=61)


@pytest.mark.slow
@given(
    family_id=st.sampled_from([f.id for f in VIA_SCIPY]),
    sb=scheme_and_bits(max_bits=8),
)
def test_optimal_step_below_dense_grid_scipy(family_id, sb):
    # from_scipy laws cost ~10x more per evaluation: Hypothesis samples the
    # (family, scheme, bits) cube (dev: a dozen examples, ~5 s; ci: 150)
    scheme, bits = sb
    check_optimal_below_grid(family_id, scheme, bits, n_global=150, n_local=41)


# ===========================================================================
# Empirical: scale equivariance
# ===========================================================================


@given(
    family_id=st.sampled_from(FAMILY_IDS),
    seed=st.integers(0, 2**32 - 1),
    exponent=st.integers(-20, 20),
    sb=scheme_and_bits(),
    factor=st.floats(0.2, 5.0),
)
def test_empirical_scale_equivariance_power_of_two(
    family_id, seed, exponent, sb, factor
):
    scheme, bits = sb
    fam = BY_ID[family_id]
    x = fam.sampler(np.random.default_rng(seed), 500)
    c = 2.0**exponent
    step = factor * typical_steps(fam, scheme, bits)[1]
    base = qt.mse(qt.Empirical(x), step, bits, scheme=scheme)
    scaled = qt.mse(qt.Empirical(c * x), c * step, bits, scheme=scheme)
    # c a power of two: c x, c step and x/step are exact, so every error is
    # scaled exactly and the sums run on exactly scaled numbers: equality
    assert scaled == c * c * base


@given(
    family_id=st.sampled_from(FAMILY_IDS),
    seed=st.integers(0, 2**32 - 1),
    c=st.floats(1e-3, 1e3),
    sb=scheme_and_bits(),
    factor=st.floats(0.2, 5.0),
)
def test_empirical_scale_equivariance(family_id, seed, c, sb, factor):
    scheme, bits = sb
    fam = BY_ID[family_id]
    x = fam.sampler(np.random.default_rng(seed), 500)
    step = factor * typical_steps(fam, scheme, bits)[1]
    base = qt.mse(qt.Empirical(x), step, bits, scheme=scheme)
    scaled = qt.mse(qt.Empirical(c * x), c * step, bits, scheme=scheme)
    # (c x)/(c step) differs from x/step by an ulp or two; a sample that
    # flips cell by it sits on a decision threshold, where the error is
    # continuous, so each term moves by O(eps) relative: 1e-12 covers 500
    # terms; abs term for data that happen to sit on the grid (MSE ~ 0)
    assert scaled == pytest.approx(
        c * c * base, rel=1e-12, abs=1e-14 * c * c * float(np.mean(x * x))
    )
