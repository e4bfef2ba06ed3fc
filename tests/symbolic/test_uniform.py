"""Lemmas 1-3 for the uniform law: symbolic identities and the numeric engine.

Expected expressions below are transcribed from the seed (the KURE paper's
supplementary material, arXiv:2002.07686, Eqs. (12)-(15)) or derived by hand
in the comments; the library derives its own from the integrals, and the
tests assert ``sympy.simplify(derived - expected) == 0``.

Numeric tolerances: the engine's uniform route integrates polynomials with
Gauss-Legendre, exact up to float64 rounding; its relative error against
these closed forms (evaluated with 40-digit mpmath) was at most 5e-16 for the
MSE and 2e-14 for the curvature in development, so 1e-12 leaves > 50x room.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy
from hypothesis import given
from hypothesis import strategies as st

import quanttheory as qt
from quanttheory import symbolic

from ._helpers import evaluate, rel_err

S = symbolic.symbols()
a, D, M, eps, n = S.a, S.Delta, S.M, S.epsilon, S.n
K = 2 ** (M - 1)
RTOL = 1e-12
BITS = range(1, 9)
HALF_WIDTHS = (0.3, 1.0, 2.5)


def _zero(expr) -> bool:
    return sympy.simplify(expr) == 0


# ---------------------------------------------------------------------------
# Lemma 2: symbolic identities
# ---------------------------------------------------------------------------
def test_lemma2_equals_the_seed_formula():
    # seed Eq. (12): (a - 2^(M-1) D)^3/(3a) + 2^M D^3/(24a)
    paper = (a - K * D) ** 3 / (3 * a) + 2**M * D**3 / (24 * a)
    assert _zero(symbolic.uniform_mse().expr - paper)


def test_lemma2_derivation_steps_are_the_seed_equations():
    res = symbolic.uniform_mse()
    steps = {st_.label: st_.expr for st_ in res.steps}
    tau = S.tau
    assert _zero(steps["E[(x - tau)^2 | x > tau]"] - (a - tau) ** 2 / 3)  # Eq. (7)
    assert _zero(steps["P[x > tau]"] - (a - tau) / (2 * a))  # Eq. (8)
    assert _zero(steps["E[e^2 | |x| <= tau]"] - D**2 / 12)  # Eq. (10)
    assert _zero(steps["P[|x| <= tau]"] - tau / a)  # Eq. (11)
    assert _zero(res.in_tau - ((a - tau) ** 3 / (3 * a) + tau / a * D**2 / 12))
    assert _zero(res.tau - K * D)


def test_lemma2_domain_is_wider_than_the_seed_states():
    res = symbolic.uniform_mse()
    assert _zero(res.seed_domain.end - a / K)
    assert _zero(res.domain.end - 2 * a / (2**M - 1))
    assert res.domain.left_open
    assert not res.domain.right_open
    assert _zero(res.exact_cell_sum - res.expr)
    assert "2a/(2^M - 1)" in res.text or "2*a/(2**M - 1)" in res.text


def test_exact_branches():
    ex = symbolic.uniform_exact_mse()
    # hand: zero cell D^3/(24a), 2(n-1) full cells D^3/(24a) each, and
    # 2 int_{-D/2}^{a-nD} t^2/(2a) dt = ((a-nD)^3 + D^3/8)/(3a)
    assert _zero(ex.branch - ((a - n * D) ** 3 / (3 * a) + n * D**3 / (12 * a)))
    assert _zero(ex.full_cells - (2 * n - 1))
    assert _zero(ex.branch_upper - 2 * a / (2 * n - 1))
    assert _zero(ex.branch_lower - 2 * a / (2 * n + 1))
    assert _zero(ex.lemma2 - symbolic.uniform_mse().expr)
    k1 = K - 1
    assert _zero(ex.next_branch - ((a - k1 * D) ** 3 / (3 * a) + k1 * D**3 / (12 * a)))
    assert _zero(ex.next_domain.start - 2 * a / (2**M - 1))
    assert _zero(ex.next_domain.end - 2 * a / (2**M - 3))
    assert ex.beyond_range == a**2 / 3
    assert ex.beyond_domain == sympy.Interval(2 * a, sympy.oo)
    # the n = 0 value of the branch formula is the beyond-range value
    assert _zero(ex.branch.subs(n, 0) - ex.beyond_range)


def test_exact_branches_join_with_zero_slope():
    ex = symbolic.uniform_exact_mse()
    d1 = sympy.diff(ex.branch, D)
    # derivative factors as n ((2n+1) D - 2a)(2a - (2n-1) D) / (4a)
    expected = n * ((2 * n + 1) * D - 2 * a) * (2 * a - (2 * n - 1) * D) / (4 * a)
    assert _zero(ex.branch_derivative - expected)
    kink = ex.branch_upper  # 2a/(2n-1): end of branch n, start of n - 1
    assert _zero(ex.branch.subs(D, kink) - ex.branch.subs(n, n - 1).subs(D, kink))
    assert _zero(d1.subs(D, kink))
    assert _zero(d1.subs(n, n - 1).subs(D, kink))
    # the curvature jumps from -n to n - 1 there
    d2 = sympy.diff(ex.branch, D, 2)
    assert _zero(d2.subs(D, kink) + n)
    assert _zero(d2.subs(n, n - 1).subs(D, kink) - (n - 1))


def test_piecewise_for_given_bits():
    pw = symbolic.uniform_exact_mse().piecewise(2)
    assert isinstance(pw, sympy.Piecewise)
    assert len(pw.args) == 3  # n = 2, n = 1, beyond range
    assert pw.subs({a: 1, D: 3}) == sympy.Rational(1, 3)
    with pytest.raises(qt.InvalidArgument, match="bits"):
        symbolic.uniform_exact_mse().piecewise(0)


# ---------------------------------------------------------------------------
# Lemma 2 against the engine
# ---------------------------------------------------------------------------
def _steps(a_val: float, bits: int) -> np.ndarray:
    k = 2 ** (bits - 1)
    special = [2 * a_val / (2 * k + 1), a_val / k, 2 * a_val / (2 * k - 1)]
    if k > 1:
        special += [2 * a_val / (2 * k - 3), a_val / (k - 1)]
    special += [2 * a_val, 3 * a_val]
    grid = np.geomspace(1e-3 * a_val / k, 4 * a_val, 25)
    return np.concatenate([grid, special])


@pytest.mark.parametrize("bits", BITS)
@pytest.mark.parametrize("a_val", HALF_WIDTHS)
def test_closed_form_matches_the_engine_for_every_step(bits, a_val):
    ex = symbolic.uniform_exact_mse()
    pw = ex.piecewise(bits)
    u = qt.Uniform(a_val)
    for d in _steps(a_val, bits):
        ref = qt.mse(u, d, bits)
        got = evaluate(ex.closed_form, (a, D, M), (a_val, d, bits))
        assert rel_err(got, ref) <= RTOL, (d, got, ref)
        got_pw = evaluate(pw, (a, D), (a_val, d))
        assert rel_err(got_pw, ref) <= RTOL, (d, got_pw, ref)


@pytest.mark.parametrize("bits", BITS)
def test_lemma2_is_exact_beyond_the_seed_domain(bits):
    """a/K < D <= 2a/(2K-1): the top level is beyond a, the cubic still exact.

    The engine's additive model (which clamps the probabilities of Eq. (6))
    is *not* exact there: it gives D^2/12.
    """
    lemma2 = symbolic.uniform_mse().expr
    k = 2 ** (bits - 1)
    u = qt.Uniform(1.0)
    kink = 2.0 / (2 * k - 1)
    for d in np.linspace(1.0 / k, kink, 7)[1:]:
        ref = qt.mse(u, d, bits)
        got = evaluate(lemma2, (a, D, M), (1.0, d, bits))
        assert rel_err(got, ref) <= RTOL
        additive = qt.mse(u, d, bits, model="additive")
        assert rel_err(additive, d * d / 12) <= RTOL
        if d < kink:  # at the kink itself the exact MSE is D^2/12 as well
            assert rel_err(additive, ref) > 1e-4
    # ... and the cubic fails just beyond the kink (next branch instead)
    ex = symbolic.uniform_exact_mse()
    if bits >= 2:
        d = 0.5 * (2.0 / (2 * k - 1) + 2.0 / (2 * k - 3))  # inside the next branch
        ref = qt.mse(u, d, bits)
        assert rel_err(evaluate(lemma2, (a, D, M), (1.0, d, bits)), ref) > 1e-6
        assert rel_err(evaluate(ex.next_branch, (a, D, M), (1.0, d, bits)), ref) <= RTOL


@given(
    bits=st.integers(1, 10),
    a_val=st.floats(1e-3, 1e3),
    ratio=st.floats(1e-3, 5.0),
)
def test_closed_form_matches_the_engine_hypothesis(bits, a_val, ratio):
    d = ratio * a_val
    ref = qt.mse(qt.Uniform(a_val), d, bits)
    got = evaluate(
        symbolic.uniform_exact_mse().closed_form, (a, D, M), (a_val, d, bits)
    )
    assert rel_err(got, ref) <= RTOL


@pytest.mark.parametrize("bits", BITS)
def test_branch_derivatives_match_the_engine(bits):
    ex = symbolic.uniform_exact_mse()
    d1 = sympy.diff(ex.branch, D)
    d2 = sympy.diff(ex.branch, D, 2)
    k = 2 ** (bits - 1)
    u = qt.Uniform(1.0)
    for j in range(k, max(k - 3, 0), -1):  # Lemma 2 branch and two more
        lo = 0.0 if j == k else 2.0 / (2 * j + 1)
        hi = 2.0 / (2 * j - 1)
        for d in np.linspace(lo, hi, 6)[1:-1]:
            ref1 = qt.mse_derivative(u, d, bits)
            ref2 = qt.mse_derivative(u, d, bits, order=2)
            got1 = evaluate(d1, (a, D, n), (1.0, d, j))
            got2 = evaluate(d2, (a, D, n), (1.0, d, j))
            # D' and D'' cross zero inside the branches: absolute tolerance
            # on the scale of D'' at the optimum (2^(M-1)) and of D' (~ D'' D).
            assert abs(got1 - ref1) <= RTOL * k * max(d, 1e-3)
            assert abs(got2 - ref2) <= RTOL * k


# ---------------------------------------------------------------------------
# Lemma 3
# ---------------------------------------------------------------------------
def test_both_roots_and_their_classification():
    opt = symbolic.uniform_optimal_steps()
    mini, spur = opt.roots
    assert opt.minimiser is mini
    assert opt.spurious is spur
    # seed Eq. (15): D = 2a/(2^M +- 1)
    assert _zero(mini.step - 2 * a / (2**M + 1))
    assert _zero(spur.step - 2 * a / (2**M - 1))
    assert mini.kind == "minimum"
    assert spur.kind == "maximum"
    # hand: D'' = 2K^2 (a - K D)/a + K D/(2a); a - K D = +-D/2 at the roots
    assert _zero(mini.second_derivative - K)
    assert _zero(spur.second_derivative + K)
    assert (mini.in_seed_domain, mini.in_exact_domain, mini.on_domain_edge) == (
        True,
        True,
        False,
    )
    assert (spur.in_seed_domain, spur.in_exact_domain, spur.on_domain_edge) == (
        False,
        True,
        True,
    )
    assert mini.mse_is_granular
    assert _zero(mini.mse - mini.step**2 / 12)
    assert "MAXIMUM" in spur.text
    assert "spurious" in opt.text


def test_approximation_error_and_excess():
    opt = symbolic.uniform_optimal_steps()
    assert _zero(opt.approximation - 2 * a / 2**M)
    # (2a/2^M)/(2a/(2^M+1)) - 1 = 1/2^M
    assert _zero(opt.relative_error - 2**-M)
    # (2a/(2^M+1))/(2a/2^M) - 1 = -1/(2^M+1)
    assert _zero(opt.relative_error_vs_approximation + 1 / (2**M + 1))
    # hand: MSE(2a/2^M) = a^2/(3 4^M), MSE(opt) = a^2/(3 (2^M+1)^2)
    assert _zero(opt.mse_at_approximation - a**2 / (3 * 4**M))
    assert _zero(opt.mse_excess_relative - (2 ** (M + 1) + 1) / 4**M)


def test_derivative_is_the_seed_eq14():
    opt = symbolic.uniform_optimal_steps()
    # seed Eq. (14): (2^(M-3) D^2 - 2^(M-1) (a - 2^(M-1) D)^2) / a
    eq14 = (2 ** (M - 3) * D**2 - K * (a - K * D) ** 2) / a
    assert _zero(opt.derivative - eq14)


@pytest.mark.parametrize("bits", BITS)
def test_roots_against_the_engine(bits):
    opt = symbolic.uniform_optimal_steps()
    curv = symbolic.uniform_curvature()
    u = qt.Uniform(1.5)
    args = (a, M)
    best = evaluate(opt.minimiser.step, args, (1.5, bits))
    assert rel_err(qt.optimal_step(u, bits), best) <= RTOL
    assert rel_err(qt.mse(u, best, bits), best**2 / 12) <= RTOL
    assert rel_err(qt.mse_derivative(u, best, bits, order=2), 2.0 ** (bits - 1)) <= RTOL
    # the spurious root: zero slope, curvature jumps from -K (left) to K-1
    spur = evaluate(opt.spurious.step, args, (1.5, bits))
    assert abs(qt.mse_derivative(u, spur, bits)) <= 1e-15 * 2**bits
    left = qt.mse_derivative(u, spur, bits, order=2, side=-1)
    right = qt.mse_derivative(u, spur, bits, order=2, side=1)
    # the engine takes one-sided limits by moving the step 2^-40 relative,
    # which shifts D'' by |D'''| * 2^-40 * D ~ 4^M * 2^-40: 1e-9 relative.
    assert left == pytest.approx(
        evaluate(curv.at_kink_left, args, (1.5, bits)), rel=1e-9
    )
    k_right = evaluate(curv.at_kink_right, args, (1.5, bits))
    assert right == pytest.approx(k_right, rel=1e-9, abs=1e-9)
    # MSE excess of 2a/2^M
    approx = evaluate(opt.approximation, args, (1.5, bits))
    excess = qt.mse(u, approx, bits) / qt.mse(u, best, bits) - 1.0
    assert rel_err(excess, evaluate(opt.mse_excess_relative, (M,), (bits,))) <= 1e-10


# ---------------------------------------------------------------------------
# curvature and sensitivity
# ---------------------------------------------------------------------------
def test_curvature_closed_forms():
    c = symbolic.uniform_curvature()
    assert _zero(c.expr - (2 * K**2 * (a - K * D) / a + K * D / (2 * a)))
    assert _zero(c.at_optimum - K)
    assert c.at_approximation == sympy.Rational(1, 2)
    assert _zero(c.at_kink_left + K)
    assert _zero(c.at_kink_right - (K - 1))
    # D''' = -2K^3/a + K/(2a) = -K (4^M - 1)/(2a)
    assert _zero(c.third_derivative + K * (4**M - 1) / (2 * a))
    assert c.domain == symbolic.uniform_mse().domain


@pytest.mark.parametrize("bits", BITS)
def test_curvature_against_the_engine(bits):
    c = symbolic.uniform_curvature()
    u = qt.Uniform(0.7)
    for d in np.linspace(0.0, 1.4 / (2**bits - 1), 9)[1:-1]:
        ref = qt.mse_derivative(u, d, bits, order=2)
        got = evaluate(c.expr, (a, D, M), (0.7, d, bits))
        assert abs(got - ref) <= RTOL * 2**bits
    d = 1.4 / 2**bits
    assert qt.mse_derivative(u, d, bits, order=2) == pytest.approx(0.5, rel=RTOL)


def test_sensitivity_closed_forms():
    sens = symbolic.uniform_sensitivity()
    assert _zero(sens.step - 2 * a / (2**M + 1))
    assert _zero(sens.curvature - K)
    assert _zero(sens.gamma - 2 ** (M - 2) * eps**2)
    # 2a/(2^M-1) - 2a/(2^M+1) = 4a/(4^M-1)
    assert _zero(sens.radius - 4 * a / (4**M - 1))
    assert _zero(sens.cubic_term + K * (4**M - 1) * eps**3 / (12 * a))
    assert _zero(sens.exact_change - (sens.gamma + sens.cubic_term))
    assert _zero(sens.relative_miss + (4**M - 1) * eps / (6 * a))
    assert _zero(sens.next_radius - (2 * a / (2**M - 3) - 2 * a / (2**M + 1)))
    assert sens.expansion.stationary is True
    # at the edge of the radius Lemma 1 overstates the change threefold
    edge = sens.gamma.subs(eps, sens.radius) / sens.exact_change.subs(eps, sens.radius)
    assert _zero(edge - 3)


# the Taylor value is compared with sympy's over the whole cubic branch,
# beyond its 10 % validity radius on purpose (the warning is tested in
# tests/api/test_sensitivity.py)
@pytest.mark.filterwarnings("ignore::quanttheory.TaylorRangeWarning")
@pytest.mark.parametrize("bits", BITS)
def test_sensitivity_against_the_engine(bits):
    sens = symbolic.uniform_sensitivity()
    a_val = 1.3
    u = qt.Uniform(a_val)
    radius = evaluate(sens.radius, (a, M), (a_val, bits))
    step = evaluate(sens.step, (a, M), (a_val, bits))
    base = qt.mse(u, step, bits)
    # the cubic holds on -step < eps <= radius; the left side is bounded by
    # the step itself, the right side by the kink
    for e in (-0.9 * step, -0.3 * step, 0.25 * radius, 0.7 * radius, radius):
        taylor = qt.sensitivity(u, bits, e)
        assert rel_err(taylor, evaluate(sens.gamma, (M, eps), (bits, e))) <= RTOL
        exact = qt.sensitivity(u, bits, e, taylor=False)
        want = evaluate(sens.exact_change, (a, M, eps), (a_val, bits, e))
        # the engine differences two MSEs: float64 rounding of each, 1e-15
        # relative, lands on their difference.
        assert abs(exact - want) <= RTOL * want + 4e-16 * base
    # beyond the radius the next branch gives the change
    if bits >= 2:
        nxt = evaluate(sens.next_radius, (a, M), (a_val, bits))
        for e in np.linspace(radius, nxt, 5)[1:]:
            exact = qt.sensitivity(u, bits, e, taylor=False)
            want = evaluate(
                sens.exact_change_next_branch, (a, M, eps), (a_val, bits, e)
            )
            assert abs(exact - want) <= RTOL * want + 4e-16 * base


def test_findings_table():
    """The numbers quoted in the verify report, M = 2..8, a = 1."""
    opt = symbolic.uniform_optimal_steps()
    curv = symbolic.uniform_curvature()
    sens = symbolic.uniform_sensitivity()
    for bits in range(2, 9):
        subs = {a: 1, M: bits}
        k = 2 ** (bits - 1)
        assert opt.minimiser.step.subs(subs) == sympy.Rational(2, 2**bits + 1)
        assert opt.spurious.step.subs(subs) == sympy.Rational(2, 2**bits - 1)
        assert curv.at_optimum.subs(subs) == k
        assert curv.at_kink_left.subs(subs) == -k
        assert curv.at_kink_right.subs(subs) == k - 1
        assert sens.radius.subs(subs) == sympy.Rational(4, 4**bits - 1)
        assert math.isclose(float(opt.relative_error.subs(subs)), 2.0**-bits)
