"""Gaussian and Laplace closed forms against hand formulas and the engine.

Numeric tolerance 1e-12 relative: the engine's exact route agrees with
40-digit mpmath to better than 1e-14 for these laws at the sampled steps
(measured in development: at most 9e-15 Gaussian, 5e-16 Laplace), and the
closed forms are evaluated with mpmath at 40 digits (``_helpers.DPS``), so
the float64 cancellation in them plays no role.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy

import quanttheory as qt
from quanttheory import symbolic

from ._helpers import evaluate, rel_err

S = symbolic.symbols()
D, M, b, sigma = S.Delta, S.M, S.b, S.sigma
K = 2 ** (M - 1)
RTOL = 1e-12
SCHEMES = ("paper", "midrise", "signed", "symmetric")


def _bits(scheme: str, top: int) -> range:
    return range(2 if scheme == "symmetric" else 1, top + 1)


def _steps(scale: float, bits: int) -> np.ndarray:
    # from far below to far above the optimum (about 4 scale / 2^M)
    return np.geomspace(1e-3, 8.0, 7) * scale * 4.0 / 2**bits


# ---------------------------------------------------------------------------
# symbolic identities (hand derivations in the comments)
# ---------------------------------------------------------------------------
def test_laplace_additive_paper():
    # int_tau^oo (x - tau)^2 e^{-x/b}/(2b) dx = b^2 e^{-tau/b},
    # P[X > tau] = e^{-tau/b}/2
    tau = K * D
    expected = 2 * b**2 * sympy.exp(-tau / b) + D**2 / 12 * (1 - sympy.exp(-tau / b))
    assert sympy.simplify(symbolic.laplace_additive_mse() - expected) == 0


def test_gaussian_additive_paper():
    # E[(X-tau)^2; X>tau] = (s^2+tau^2)/2 erfc(z) - s tau e^{-z^2}/sqrt(2 pi),
    # z = tau/(s sqrt 2) (ACIQ's Gaussian clipping term), P[|X|<=tau] = erf(z)
    tau = K * D
    z = tau / (sigma * sympy.sqrt(2))
    expected = (
        (sigma**2 + tau**2) * sympy.erfc(z)
        - sympy.sqrt(2 / sympy.pi) * sigma * tau * sympy.exp(-(z**2))
        + D**2 / 12 * sympy.erf(z)
    )
    diff = (symbolic.gaussian_additive_mse() - expected).rewrite(sympy.erf)
    assert sympy.simplify(diff) == 0


def test_laplace_exact_paper_and_midrise():
    # hand, w = D/(2b): the half line with levels 0..n D gives
    # b^2 - (b D/2) csch(w) (1 - e^{-n D/b}); with levels D/2..(n-1/2) D it
    # gives b^2 + D^2/8 - (b D/2) coth(w) + (b D/2)(1 + coth w) e^{-n D/b}.
    w = D / (2 * b)
    p = sympy.exp(-K * D / b)
    paper = 2 * b**2 - b * D * sympy.csch(w) * (1 - p)
    midrise = (
        2 * b**2 + D**2 / 4 - b * D * sympy.coth(w) + b * D * (1 + sympy.coth(w)) * p
    )
    for scheme, expected in (("paper", paper), ("midrise", midrise)):
        diff = (symbolic.laplace_exact_mse(scheme) - expected).rewrite(sympy.exp)
        assert sympy.simplify(diff) == 0, scheme


def test_laplace_exact_tends_to_the_second_moment():
    # D -> 0 with M fixed: nothing is quantized, MSE -> E[X^2] = 2 b^2. At
    # D = 1e-9 b the MSE is 2 b^2 (1 - O(1e-9)); evaluating needs the
    # 40-digit mpmath route, the closed form cancels ~9 digits here.
    for scheme in SCHEMES:
        got = evaluate(symbolic.laplace_exact_mse(scheme), (b, D, M), (1.0, 1e-9, 3))
        assert abs(got - 2.0) <= 1e-7, scheme


def test_gaussian_exact_one_bit_midrise_is_max_1960():
    # 1-bit midrise: levels +-D/2, MSE = s^2 - sqrt(2/pi) s D + D^2/4
    e = symbolic.gaussian_exact_mse(1, "midrise")
    expected = sigma**2 - sympy.sqrt(2 / sympy.pi) * sigma * D + D**2 / 4
    assert sympy.simplify(e - expected) == 0


def test_invalid_arguments():
    with pytest.raises(qt.InvalidArgument, match="scheme"):
        symbolic.laplace_exact_mse("nearest")
    with pytest.raises(qt.InvalidArgument, match="scheme"):
        symbolic.gaussian_additive_mse("nearest")
    with pytest.raises(qt.InvalidArgument, match="bits"):
        symbolic.gaussian_exact_mse(1, "symmetric")
    with pytest.raises(qt.InvalidArgument, match="bits"):
        symbolic.gaussian_exact_mse(0)


# ---------------------------------------------------------------------------
# against the engine
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("scheme", SCHEMES)
def test_laplace_exact_matches_the_engine(scheme):
    expr = symbolic.laplace_exact_mse(scheme)
    for bits in _bits(scheme, 8):
        for b_val in (0.5, 2.0):
            law = qt.Laplace(b_val)
            for d in _steps(b_val, bits):
                ref = qt.mse(law, d, bits, scheme=scheme)
                got = evaluate(expr, (b, D, M), (b_val, d, bits))
                assert rel_err(got, ref) <= RTOL, (bits, b_val, d, got, ref)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_laplace_additive_matches_the_engine(scheme):
    expr = symbolic.laplace_additive_mse(scheme)
    for bits in _bits(scheme, 8):
        law = qt.Laplace(1.5)
        for d in _steps(1.5, bits):
            ref = qt.mse(law, d, bits, scheme=scheme, model="additive")
            got = evaluate(expr, (b, D, M), (1.5, d, bits))
            assert rel_err(got, ref) <= RTOL, (bits, d, got, ref)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_gaussian_additive_matches_the_engine(scheme):
    expr = symbolic.gaussian_additive_mse(scheme)
    for bits in _bits(scheme, 8):
        law = qt.Gaussian(0.8)
        for d in _steps(0.8, bits):
            ref = qt.mse(law, d, bits, scheme=scheme, model="additive")
            got = evaluate(expr, (sigma, D, M), (0.8, d, bits))
            assert rel_err(got, ref) <= RTOL, (bits, d, got, ref)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_gaussian_exact_matches_the_engine(scheme):
    for bits in _bits(scheme, 4):
        expr = symbolic.gaussian_exact_mse(bits, scheme)
        assert expr.free_symbols == {sigma, D}
        for s_val in (0.5, 2.0):
            law = qt.Gaussian(s_val)
            for d in _steps(s_val, bits):
                ref = qt.mse(law, d, bits, scheme=scheme)
                got = evaluate(expr, (sigma, D), (s_val, d))
                assert rel_err(got, ref) <= RTOL, (bits, s_val, d, got, ref)


def test_gaussian_exact_optimum_is_the_engines():
    # 2-bit midrise Max quantizer: the exact optimum from the closed form
    expr = symbolic.gaussian_exact_mse(2, "midrise").subs(sigma, 1)
    step = sympy.nsolve(sympy.diff(expr, D), D, 1.0, prec=30)
    ref = qt.optimal_step(qt.Gaussian(1.0), 2, scheme="midrise")
    # optimal_step refines to machine precision: 1e-12 relative
    assert rel_err(ref, float(step)) <= RTOL
