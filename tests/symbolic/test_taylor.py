"""Lemma 1 for any expression: the second-order expansion in the step."""

from __future__ import annotations

import pytest
import sympy

from quanttheory import symbolic

S = symbolic.symbols()
a, D, M, eps = S.a, S.Delta, S.M, S.epsilon


def test_polynomial_expansion_is_exact():
    expr = (D - 1) ** 2 + D**3
    t = symbolic.second_order_expansion(expr, D, sympy.Integer(1))
    assert (t.value, t.slope, t.curvature) == (1, 3, 8)
    assert t.stationary is False
    assert "does not vanish" in t.text
    assert sympy.expand(t.taylor - (1 + 3 * eps + 4 * eps**2)) == 0
    assert t.gamma == 4 * eps**2
    assert t.remainder == eps**3
    assert sympy.expand(t.exact_change - (expr.subs(D, 1 + eps) - 1)) == 0


def test_first_order_term_vanishes_at_lemma3_optimum():
    lemma2 = symbolic.uniform_mse().expr
    step = symbolic.uniform_optimal_steps().minimiser.step
    t = symbolic.second_order_expansion(lemma2, D, step)
    assert t.stationary is True
    assert t.slope == 0
    assert "vanishes" in t.text
    # D'' at the optimum is 2^(M-1); Gamma = 2^(M-2) eps^2
    assert sympy.simplify(t.curvature - 2 ** (M - 1)) == 0
    assert sympy.simplify(t.gamma - 2 ** (M - 2) * eps**2) == 0
    # Lemma 2 is cubic: the remainder is exactly D'''/6 eps^3
    third = sympy.diff(lemma2, D, 3)
    assert sympy.simplify(t.remainder - third * eps**3 / 6) == 0


def test_first_order_term_survives_at_the_approximation():
    lemma2 = symbolic.uniform_mse().expr
    approx = symbolic.uniform_optimal_steps().approximation
    t = symbolic.second_order_expansion(lemma2, D, approx)
    assert t.stationary is False
    # hand: D'(a/K) = K (a/K)^2/(4a) = a/(4K) = a/2^(M+1) > 0
    assert sympy.simplify(t.slope - a / 2 ** (M + 1)) == 0


def test_non_polynomial_expression_keeps_the_remainder_unexpanded():
    x = sympy.exp(-D) + D**2
    t = symbolic.second_order_expansion(x, D, sympy.Integer(0))
    assert t.slope == -1
    assert t.curvature == 3
    series = sympy.series(t.remainder, eps, 0, 4).removeO()
    assert sympy.simplify(series + eps**3 / 6) == 0


def test_custom_symbols_and_missing_point():
    x, h = sympy.symbols("x h", real=True)
    t = symbolic.second_order_expansion(x**2, x, sympy.Integer(2), h)
    assert t.taylor == 4 + 4 * h + h**2
    with pytest.raises(ValueError, match="point"):
        symbolic.second_order_expansion(x**2, x)
