"""Analytic step derivatives against finite differences and closed forms.

Finite differences (FD) of the engine's own ``mse`` check ``mse_derivative``
(order 1) and FDs of the analytic first derivative check order 2. The
tolerance is derived from the FD step ``h``:

* truncation, O(h^2): a central difference F(h) = D' + c h^2 + O(h^4), so
  F(h) - F(h/2) = (3/4) c h^2 is three times the truncation error of F(h/2),
  the value we compare with. ``|F(h) - F(h/2)|`` is therefore a measured
  truncation bound with a factor-3 margin (over the registry the observed
  ratio error/|F(h) - F(h/2)| is 0.33 to 0.36, as the expansion predicts);
* rounding, O(eps/h): the engine's values carry rounding noise; measured as
  the residual of a quadratic fit over 41 steps within 1e-9 relative, it is
  at most 180 eps E[X^2] for D and 70 eps (K+1) sigma for D' over the
  registry (K = largest |level index|). We allow ``NOISE_ULPS = 1000`` of
  those scales; the FD error is then at most noise/h.

Kinks are avoided: for the uniform law D'' jumps where a decision threshold
crosses +-a (exact model) or where the outermost level crosses +-a
(additive model); a stencil never straddles one. The one-sided values at
those kinks are tested separately against closed forms.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from registry import BY_ID, FAMILY_IDS, SCHEMES, law, min_bits, scheme_table, top_index

import quanttheory as qt

EPS = np.finfo(np.float64).eps
NOISE_ULPS = 1000.0
# FD step relative to the step: truncation ~1e-6, rounding ~1e-13 * 1024
H_REL = 2.0**-10
BITS = (1, 2, 4, 8)


def uniform_kinks(a, scheme, bits, model):
    """Steps at which D'' of U[-a, a] jumps (exact) or D' jumps (additive).

    exact: a decision threshold (j + o + 1/2) step sits on +-a, for
    kmin <= j < kmax; additive: the outermost level (kmax + o) step or
    (kmin + o) step sits on +-a.
    """
    kmin, kmax, off = scheme_table(scheme, bits)
    if model == "exact":
        m = np.arange(kmin, kmax, dtype=float) + off + 0.5
    else:
        m = np.array([kmin + off, kmax + off])
    m = np.abs(m[m != 0])
    return a / m


def fd_steps(family_id, scheme, bits, model):
    """Clipping level at 0.7, 2.3 and 5.1 standard deviations, moved off any
    kink of the uniform law by at least 8 FD steps."""
    fam = BY_ID[family_id]
    top = top_index(scheme, bits)
    steps = [fam.std * m / top for m in (0.7, 2.3, 5.1)]
    if not fam.has_jumps:
        return steps
    kinks = uniform_kinks(1.0, scheme, bits, model)
    out = []
    for x in steps:
        while kinks.size and np.min(np.abs(kinks - x)) < 8 * H_REL * x:
            x *= 1.0 + 16 * H_REL
        out.append(x)
    return out


def central(values, x, h_rel):
    """Central differences with steps h and h/2 from values at
    ``[x - h, x + h, x - h/2, x + h/2]`` (the actual spacings, not nominal)."""
    pts = x * np.array([1 - h_rel, 1 + h_rel, 1 - h_rel / 2, 1 + h_rel / 2])
    f1 = (values[1] - values[0]) / (pts[1] - pts[0])
    f2 = (values[3] - values[2]) / (pts[3] - pts[2])
    return pts, f1, f2


CASES = [(f, s, m) for f in FAMILY_IDS for s in SCHEMES for m in qt.MODELS]


@pytest.mark.parametrize(("family_id", "scheme", "model"), CASES)
def test_first_derivative_matches_finite_differences(family_id, scheme, model):
    fam = BY_ID[family_id]
    d = law(family_id)
    for bits in BITS:
        if bits < min_bits(scheme):
            continue
        for x in fd_steps(family_id, scheme, bits, model):
            pts = x * np.array([1 - H_REL, 1 + H_REL, 1 - H_REL / 2, 1 + H_REL / 2])
            vals = qt.mse(d, pts, bits, scheme=scheme, model=model)
            _, f1, f2 = central(vals, x, H_REL)
            got = qt.mse_derivative(d, x, bits, 1, scheme=scheme, model=model)
            h = x * H_REL / 2
            noise = NOISE_ULPS * EPS * max(np.max(np.abs(vals)), fam.second_moment)
            # truncation (measured, 3x margin) + rounding noise / h
            tol = abs(f1 - f2) + noise / h
            assert abs(got - f2) <= tol, (bits, x, got, f2, tol)


@pytest.mark.parametrize(("family_id", "scheme", "model"), CASES)
def test_second_derivative_matches_finite_differences(family_id, scheme, model):
    fam = BY_ID[family_id]
    d = law(family_id)
    for bits in BITS:
        if bits < min_bits(scheme):
            continue
        k = top_index(scheme, bits)
        for x in fd_steps(family_id, scheme, bits, model):
            pts = x * np.array([1 - H_REL, 1 + H_REL, 1 - H_REL / 2, 1 + H_REL / 2])
            d1 = qt.mse_derivative(d, pts, bits, 1, scheme=scheme, model=model)
            _, f1, f2 = central(d1, x, H_REL)
            got = qt.mse_derivative(d, x, bits, 2, scheme=scheme, model=model)
            h = x * H_REL / 2
            noise = (
                NOISE_ULPS
                * EPS
                * max(np.max(np.abs(d1)), (k + 1) * math.sqrt(fam.second_moment))
            )
            # truncation (measured, 3x margin) + rounding noise / h
            tol = abs(f1 - f2) + noise / h
            assert abs(got - f2) <= tol, (bits, x, got, f2, tol)


# ---------------------------------------------------------------------------
# Uniform law, scheme 'paper': closed forms of D' and D''
# ---------------------------------------------------------------------------
#
# Exact MSE of U[-a, a] (tests/api/test_properties.py: uniform_paper_mse, checked
# against mpmath.quad per cell): with j the outermost level holding mass,
#     D_j(step) = (a - j step)^3 / (3a) + j step^3 / (12a),
#     D_j'      = -j (a - j step)^2 / a + j step^2 / (4a),
#     D_j''     = 2 j^2 (a - j step) / a + j step / (2a),
#     D_j'''    = -2 j^3 / a + j / (2a),
# valid for 2a/(2j+1) <= step <= 2a/(2j-1) (j < K) and step <= 2a/(2K-1)
# for j = K = 2^(M-1). For j = K these are Lemma 2 and its derivatives
# (2^M step^3/(24a) = K step^3/(12a); 2 4^(M-1) = 2 K^2).
# The additive model equals D_K while K step <= a and step^2/12 beyond.


def d1_branch(a, step, j):
    return -j * (a - j * step) ** 2 / a + j * step**2 / (4 * a)


def d2_branch(a, step, j):
    return 2 * j * j * (a - j * step) / a + j * step / (2 * a)


def d3_branch(a, j):
    return -2 * j**3 / a + j / (2 * a)


@given(a=st.floats(1e-2, 1e2), bits=st.integers(1, 12), u=st.floats(0.01, 0.99))
def test_uniform_lemma2_derivatives(a, bits, u):
    k = 2 ** (bits - 1)
    step = u * a / k  # inside Lemma 2's domain, away from every kink
    for model in qt.MODELS:
        g1 = qt.mse_derivative(qt.Uniform(a), step, bits, 1, model=model)
        g2 = qt.mse_derivative(qt.Uniform(a), step, bits, 2, model=model)
        # D' is a difference of two terms of size T; both sides are double
        # computations of it: 1e-11 T absolute (a cell sum of 2^M + 2
        # terms, each with a few ulps, for the engine)
        terms = k * (a - k * step) ** 2 / a + k * step**2 / (4 * a)
        assert abs(g1 - d1_branch(a, step, k)) <= 1e-11 * terms, model
        # D'' is a sum of positive terms in closed form, but the engine's
        # route cancels: its error is ~ eps * a/step relative (module notes of
        # quanttheory._mse), <= 2^12 eps ~ 1e-12 here; 1e-10 leaves margin
        assert g2 == pytest.approx(d2_branch(a, step, k), rel=1e-10), model


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
def test_uniform_paper_no_kink_where_top_level_leaves_support(bits):
    # At step = a/K the top level K step reaches a. The exact MSE does not
    # change formula there: the top cell's error integral
    # int_{(K-1/2) step}^{a} (x - K step)^2 dx / (2a) is one polynomial on
    # both sides of K step = a (see the branch table above). So both
    # one-sided D'' equal Lemma 2's 2 4^(M-1) (a - tau)/a + 2^M step/(4a)
    # at tau = a, i.e. 2^M step / (4a) = 1/2.
    a = 1.0
    k = 2 ** (bits - 1)
    step = a / k
    expected = 2 * 4 ** (bits - 1) * (a - k * step) / a + 2**bits * step / (4 * a)
    assert expected == 0.5  # exact arithmetic on powers of two
    u = qt.Uniform(a)
    for side in (-1, 1):
        got = qt.mse_derivative(u, step, bits, 2, side=side)
        # analytic vs closed form, both double: 1e-11 relative
        assert got == pytest.approx(expected, rel=1e-11), side
    # and a one-sided FD of the analytic D' on each side agrees: the
    # function is smooth through tau = a. FD error: h |D'''| / 2 with
    # |D'''| <= 2K^3/a, plus rounding of D' (~1e3 eps K / h).
    h = step * 2.0**-20
    d1 = qt.mse_derivative(u, np.array([step - h, step, step + h]), bits, 1)
    tol = h * abs(d3_branch(a, k)) + NOISE_ULPS * EPS * (k + 1) / h
    assert abs((d1[1] - d1[0]) / h - expected) <= tol
    assert abs((d1[2] - d1[1]) / h - expected) <= tol


@pytest.mark.parametrize("bits", [1, 2, 3, 4, 8])
def test_uniform_paper_one_sided_second_derivative_at_kink(bits):
    # The first real kink of the exact MSE: the threshold (K - 1/2) step
    # reaches a, at step = 2a/(2K - 1). Left: branch j = K (Lemma 2); right:
    # branch j = K - 1. With a - K step = -step/2 and a - (K-1) step = step/2:
    #     left  D'' = 2K^2 (-1/(2K-1)) + K/(2K-1) = -K,
    #     right D'' = 2(K-1)^2/(2K-1) + (K-1)/(2K-1) = K - 1.
    a = 1.0
    k = 2 ** (bits - 1)
    step = 2 * a / (2 * k - 1)
    left = d2_branch(a, step, k)
    right = d2_branch(a, step, k - 1)
    assert left == pytest.approx(-k, rel=1e-14)  # the algebra above, in floats
    assert right == pytest.approx(k - 1, rel=1e-14, abs=1e-14)
    u = qt.Uniform(a)
    got_left = qt.mse_derivative(u, step, bits, 2, side=-1)
    got_right = qt.mse_derivative(u, step, bits, 2, side=+1)
    # The engine takes the one-sided limit at a relative offset 2^-40 of the
    # step (module notes of quanttheory._mse), which moves D'' by
    # |D'''| step 2^-40 <= (2K^3/a) step 2^-40 (2.3e-10 relative at M = 8);
    # twice that plus 1e-11 relative for rounding.
    slack = 2 * abs(d3_branch(a, k)) * step * 2.0**-40 + 1e-11 * k
    assert abs(got_left - left) <= slack
    assert abs(got_right - right) <= slack
    # one-sided FD of the engine's own MSE on each side (independent of the
    # analytic derivatives): second differences on one side of the kink,
    # error ~ h |D'''| + rounding 4 * 1e3 eps E[X^2] / h^2
    h = step * 2.0**-12
    vals_l = qt.mse(u, step - np.array([0.0, h, 2 * h]), bits)
    vals_r = qt.mse(u, step + np.array([0.0, h, 2 * h]), bits)
    fd_l = (vals_l[0] - 2 * vals_l[1] + vals_l[2]) / h**2
    fd_r = (vals_r[0] - 2 * vals_r[1] + vals_r[2]) / h**2
    tol = 2 * h * abs(d3_branch(a, k)) + 4 * NOISE_ULPS * EPS * (a * a / 3) / h**2
    assert abs(fd_l - left) <= tol
    assert abs(fd_r - right) <= tol


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
def test_uniform_paper_additive_one_sided_at_clipping_kink(bits):
    # The additive model switches formula where tau = K step = a: left of it
    # Lemma 2 (D = (a - tau)^3/(3a) + K step^3/(12a)), right of it only the
    # granular term D = step^2/12 (no tails, P = 1). At step = a/K:
    #     D'  left = K step^2/(4a) = step/4,   right = step/6,
    #     D'' left = K step/(2a)   = 1/2,      right = 1/6.
    # mse_derivative documents ``side`` as "where the derivative jumps,
    # return the right (+1) or left (-1) limit".
    a = 1.0
    k = 2 ** (bits - 1)
    step = a / k
    u = qt.Uniform(a)
    # powers of two and thirds; analytic vs closed form: 1e-12 relative
    for order, left, right in ((1, step / 4, step / 6), (2, 0.5, 1.0 / 6.0)):
        got_left = qt.mse_derivative(u, step, bits, order, model="additive", side=-1)
        got_right = qt.mse_derivative(u, step, bits, order, model="additive", side=1)
        assert got_left == pytest.approx(left, rel=1e-12), ("left", order)
        assert got_right == pytest.approx(right, rel=1e-12), ("right", order)


def test_vectorised_derivatives_match_scalar_calls():
    d = law("gaussian")
    steps = np.array([[0.1, 0.3], [0.7, 1.9]])
    for order in (1, 2):
        arr = qt.mse_derivative(d, steps, 4, order)
        assert arr.shape == (2, 2)
        scal = [qt.mse_derivative(d, float(s), 4, order) for s in steps.ravel()]
        # the same cell sums, batched differently: 1e-13 relative
        assert arr.ravel() == pytest.approx(scal, rel=1e-13)
