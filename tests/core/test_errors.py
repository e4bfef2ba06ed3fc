"""Bad input raises InvalidArgument with a message that echoes the call;
valid input never yields NaN, even at extreme steps and bit-widths.

Message contract (STYLE.md, "Errors"): ``"<function>: <argument>=<value> ..."``
as in ``mse: step=-0.1 must be a positive finite number``. Each case below
lists the function name the message must start with, the argument it must
name, and a fragment of the offending value it must show.
"""

from __future__ import annotations

import math
import re

import mpmath
import numpy as np
import pytest
import scipy.stats
from registry import (
    BY_ID,
    FAMILY_IDS,
    SCHEMES,
    ZERO_LEVEL_SCHEMES,
    law,
    uniform_paper_mse,
)

import quanttheory as qt

U = qt.Uniform(1.0)
NAN, INF = float("nan"), float("inf")


def _short(a) -> str:
    """A stable, short rendering of an argument for test ids (no addresses)."""
    dist = getattr(a, "dist", None)
    if dist is not None and hasattr(a, "args"):  # frozen scipy law
        return f"{dist.name}{tuple(a.args)}"
    text = repr(a)
    return type(a).__name__ if " at 0x" in text else text


def bad(func, arg, shown, *args, **kwargs):
    """A case: ``qt.<func>(*args, **kwargs)`` must raise InvalidArgument with
    a message starting ``<func>:`` that names ``arg`` and shows ``shown``."""
    target = qt
    for part in func.split("."):
        target = getattr(target, part)
    shown_args = [_short(a) for a in args]
    rendered = ", ".join(shown_args + [f"{k}={_short(v)}" for k, v in kwargs.items()])
    return pytest.param(
        lambda: target(*args, **kwargs), func, arg, shown, id=f"{func}({rendered})"
    )


BAD_STEP = [
    (-0.1, "-0.1"),
    (0.0, "0.0"),
    (NAN, "nan"),
    (INF, "inf"),
    (-INF, "-inf"),
    ("abc", "'abc'"),
    (None, "None"),
    (1j, "1j"),
    ([0.1, -1.0], "-1.0"),
]
CASES = []
for v, shown in BAD_STEP:
    CASES += [
        bad("mse", "step", shown, U, v, 4),
        bad("mse_derivative", "step", shown, U, v, 4),
        bad("quantize", "step", shown, [0.1], v, 4),
        bad("levels", "step", shown, v, 4),
        bad("clipping_level", "step", shown, v, 4),
        bad("sqnr_db", "step", shown, U, v, 4),
    ]
    if not isinstance(v, list):  # scalar-only arguments
        CASES.append(bad("monte_carlo_mse", "step", shown, U, v, 4, n=10))
    if not isinstance(v, list) and v is not None:  # step=None: use the optimum
        CASES.append(bad("sensitivity", "step", shown, U, 4, 0.01, step=v))

BAD_BITS = [(0, "0"), (-1, "-1"), (2.5, "2.5"), ("4", "'4'"), (None, "None")]
for v, shown in BAD_BITS:
    CASES += [
        bad("mse", "bits", shown, U, 0.1, v),
        bad("levels", "bits", shown, 0.1, v),
        bad("quantize", "bits", shown, [0.1], 0.1, v),
        bad("optimal_step", "bits", shown, U, v),
        bad("sensitivity", "bits", shown, U, v, 0.01),
        bad("monte_carlo_mse", "bits", shown, U, 0.1, v, n=10),
    ]

CASES += [
    bad("mse", "step", "empty", U, [], 4),
    # a string is not a number, even if numpy can parse it (one
    # representative: every function shares the validator of `step`)
    bad("mse", "step", "'0.5'", U, "0.5", 4),
    # bool is not a bit-width (one representative, shared validator)
    bad("mse", "bits", "True", U, 0.1, True),
    # 'symmetric' needs two levels besides 0
    bad("mse", "bits", "1", U, 0.1, 1, scheme="symmetric"),
    bad("levels", "bits", "1", 0.1, 1, "symmetric"),
    bad("optimal_step", "bits", "1", U, 1, scheme="symmetric"),
    # scheme and model
    bad("mse", "scheme", "'nope'", U, 0.1, 4, scheme="nope"),
    bad("mse", "scheme", "'PAPER'", U, 0.1, 4, scheme="PAPER"),
    bad("mse", "scheme", "None", U, 0.1, 4, scheme=None),
    bad("quantize", "scheme", "'x'", [0.1], 0.1, 4, "x"),
    bad("mse", "model", "'approx'", U, 0.1, 4, model="approx"),
    bad("optimal_step", "model", "'Exact'", U, 4, model="Exact"),
    bad("sensitivity", "model", "1", U, 4, 0.1, model=1),
    # distribution parameters
    bad("Uniform", "a", "0", 0),
    bad("Uniform", "a", "-2.0", -2.0),
    bad("Gaussian", "sigma", "-1", -1),
    bad("Gaussian", "sigma", "inf", INF),
    bad("Laplace", "b", "nan", NAN),
    bad("Gaussian.with_variance", "variance", "-1.0", -1.0),
    # Empirical data
    bad("Empirical", "samples", "empty", []),
    bad("Empirical", "samples", "nan", [1.0, NAN]),
    bad("Empirical", "samples", "inf", [INF]),
    bad("Empirical", "samples", "'a'", ["a", "b"]),
    # quantize input
    bad("quantize", "x", "NaN", [0.1, NAN], 0.1, 4),
    bad("quantize", "x", "<U3", "abc", 0.1, 4),
    bad("quantize", "x", "complex", [1 + 1j], 0.1, 4),
    # sensitivity eps
    bad("sensitivity", "eps", "nan", U, 4, NAN),
    bad("sensitivity", "eps", "inf", U, 4, INF),
    bad("sensitivity", "eps", "-inf", U, 4, [0.01, -INF]),
    bad("sensitivity", "eps", "-1.0", U, 4, -1.0, taylor=False),
    bad("sensitivity", "eps", "-0.2", U, 4, [0.01, -0.2], step=0.2, taylor=False),
    # from_scipy
    bad("from_scipy", "rv", "object", object()),
    bad("from_scipy", "rv", "norm_gen", scipy.stats.norm),  # not frozen
    bad("from_scipy", "rv", "rv_discrete", scipy.stats.poisson(3)),
    bad("from_scipy", "rv", "inf", scipy.stats.t(2)),  # infinite variance
    bad("from_scipy", "rv", "cauchy", scipy.stats.cauchy()),
    bad("from_scipy", "breakpoints", "nan", scipy.stats.norm(), breakpoints=[NAN]),
    # not a distribution
    bad("mse", "dist", "'gauss'", "gauss", 0.1, 4),
    bad("mse", "dist", "rv_continuous_frozen", scipy.stats.norm(), 0.1, 4),
    # mse_derivative order and side
    bad("mse_derivative", "order", "3", U, 0.1, 4, order=3),
    bad("mse_derivative", "order", "0", U, 0.1, 4, order=0),
    bad("mse_derivative", "order", "1.5", U, 0.1, 4, order=1.5),
    bad("mse_derivative", "side", "0", U, 0.1, 4, side=0),
    bad("mse_derivative", "side", "2", U, 0.1, 4, side=2),
    bad("mse_derivative", "side", "True", U, 0.1, 4, side=True),
    # monte_carlo_mse sizes
    bad("monte_carlo_mse", "n", "0", U, 0.1, 4, n=0),
    bad("monte_carlo_mse", "n", "1", U, 0.1, 4, n=1),
    bad("monte_carlo_mse", "n", "2.5", U, 0.1, 4, n=2.5),
    bad("monte_carlo_mse", "chunk", "0", U, 0.1, 4, n=10, chunk=0),
]


def test_sample_size_is_checked():
    with pytest.raises(qt.InvalidArgument, match=r"sample: n=0 must be"):
        qt.Gaussian().sample(0)


@pytest.mark.parametrize(("call", "func", "arg", "value"), CASES)
def test_invalid_argument(call, func, arg, value):
    with pytest.raises(qt.InvalidArgument) as info:
        call()
    err = info.value
    assert isinstance(err, ValueError)
    assert isinstance(err, qt.QuantTheoryError)
    msg = str(err)
    head = msg.split(":", 1)[0]
    assert head == func or head.endswith("." + func), msg  # names the function
    assert re.search(rf"\b{re.escape(arg)}\b", msg), msg  # names the argument
    assert value in msg, msg  # shows the value


def test_numpy_integer_bits_are_accepted():
    # the other side of the bits check: numpy integers are integers. Expected
    # value: the closed form of U[-1, 1], 'paper' (registry); engine vs
    # closed form in double, 1e-12 relative (see tests/api/test_properties.py)
    got = qt.mse(U, 0.1, np.int64(4))
    assert got == pytest.approx(uniform_paper_mse(1.0, 0.1, 4), rel=1e-12)


# ---------------------------------------------------------------------------
# valid input never gives NaN (nor warnings: filterwarnings = error)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("family_id", FAMILY_IDS)
@pytest.mark.parametrize("scheme", SCHEMES)
def test_extreme_steps_give_finite_results(family_id, scheme):
    d = law(family_id)
    fam = BY_ID[family_id]
    steps = np.array([1e-8, 1e8]) * fam.std
    m = qt.mse(d, steps, 4, scheme=scheme)
    assert np.all(np.isfinite(m))
    assert np.all(m >= 0)
    for order in (1, 2):
        assert np.all(np.isfinite(qt.mse_derivative(d, steps, 4, order, scheme=scheme)))
    ma = qt.mse(d, steps, 4, scheme=scheme, model="additive")
    assert np.all(np.isfinite(ma))
    # step 1e-8 sigma: every level within 8e-8 sigma of 0, so MSE = E[X^2] up
    # to tau^2 + 2 tau sqrt(E[X^2]) (Cauchy-Schwarz), plus 1e-12 rounding
    tau = 8e-8 * fam.std
    bound = tau * tau + 2 * tau * math.sqrt(fam.second_moment) + 1e-12
    assert abs(m[0] - fam.second_moment) <= bound


@pytest.mark.parametrize("family_id", FAMILY_IDS)
@pytest.mark.parametrize("step", [1e-3, 3e-5, 1e-6])
def test_sixteen_bits(family_id, step):
    # the largest cell-sum case: 65 537 levels; tau = 32768 step is 33, 0.98
    # and 0.033 standard deviations
    d = law(family_id)
    fam = BY_ID[family_id]
    m = qt.mse(d, step * fam.std, 16)
    assert math.isfinite(m)
    # 0 is a level: MSE <= E[X^2] (see tests/api/test_properties.py), 1e-12 rounding
    assert 0 < m <= fam.second_moment * (1 + 1e-12)
    # closed forms where we have them; 1e-10 is the accuracy the mse
    # docstring states for bits <= 16 against 40-digit references
    if family_id == "uniform":
        expected = uniform_paper_mse(1.0, step * fam.std, 16)
        assert m == pytest.approx(expected, rel=1e-10)
    elif family_id == "gaussian":
        assert m == pytest.approx(gaussian_mse_many_levels(step, 16), rel=1e-10)


def gaussian_mse_many_levels(step, bits):
    """Exact MSE of N(0,1), scheme 'paper', for a fine grid, 40 digits.

    Tails in closed form, E[(X - t)^2; X > t] = (1 + t^2) Q(t) - t phi(t),
    plus the granular term step^2/12 P[|X| <= tau]. For a density analytic
    in a strip, the periodic (Poisson) corrections to the granular term are
    O(exp(-2 pi^2 / step^2)) = 0 here, and the Euler-Maclaurin boundary term
    -7 step^4/2880 (f'(tau) - f'(-tau)) = 7 step^4 tau phi(tau)/1440 is
    below 1e-20 relative for the steps used (step <= 1e-3), so this is the
    exact MSE to double precision.
    """
    with mpmath.workdps(40):
        s = mpmath.mpf(step)
        tau = 2 ** (bits - 1) * s
        q = mpmath.ncdf(-tau)
        phi = mpmath.npdf(tau)
        tail = (1 + tau**2) * q - tau * phi
        em = 7 * s**4 * tau * phi / 1440
        return float(2 * tail + s**2 / 12 * (1 - 2 * q) + em)


@pytest.mark.parametrize(
    ("bits", "step"), [(17, 1e-4), (20, 1e-5), (20, 2e-5), (24, 1e-6)]
)
def test_euler_maclaurin_route_gaussian(bits, step):
    got = qt.mse(qt.Gaussian(), step, bits)
    # 40-digit closed form vs the engine's Euler-Maclaurin route; the
    # docstring states O((step/sigma)^4) relative error, < 1e-16 here; 1e-12
    # allows for rounding in the engine's tail formulas
    assert got == pytest.approx(gaussian_mse_many_levels(step, bits), rel=1e-12)
    for order in (1, 2):
        assert math.isfinite(qt.mse_derivative(qt.Gaussian(), step, bits, order))


@pytest.mark.parametrize(
    ("bits", "step"),
    [
        (20, 1e-7),  # tau = 0.052 a: Lemma 2's domain, no jump inside
        (20, 3e-6),  # tau = 1.57 a: both jumps of the density inside
        (24, 1.3e-7),  # tau = 1.09 a: jumps inside, just
    ],
)
def test_euler_maclaurin_route_uniform(bits, step):
    got = qt.mse(qt.Uniform(1.0), step, bits)
    # closed form at every step (registry.uniform_paper_mse), including the
    # branches where the density's jumps sit between levels; engine vs
    # closed form in double: 1e-10 relative
    assert got == pytest.approx(uniform_paper_mse(1.0, step, bits), rel=1e-10)
    assert math.isfinite(qt.mse_derivative(qt.Uniform(1.0), step, bits, 2))


@pytest.mark.parametrize("scheme", ZERO_LEVEL_SCHEMES)
def test_optimal_step_and_sensitivity_finite_at_12_bits(scheme):
    d = law("laplace")
    s = qt.optimal_step(d, 12, scheme=scheme)
    assert math.isfinite(s)
    assert s > 0
    g = qt.sensitivity(d, 12, [-1e-3 * s, 1e-3 * s])
    assert np.all(np.isfinite(g))
    assert np.all(g > 0)  # a minimum: the MSE grows on both sides


def test_optimal_step_and_sensitivity_finite_at_16_bits():
    # 16 bits, the largest bit-width here: 65 537 levels
    d = law("laplace")
    s = qt.optimal_step(d, 16)
    assert math.isfinite(s)
    assert s > 0
    g = qt.sensitivity(d, 16, [-1e-3 * s, 1e-3 * s])
    assert np.all(np.isfinite(g))
    assert np.all(g > 0)


def test_quantize_float16_with_step_outside_float16_range_is_not_nan():
    # step 1e-8 underflows to 0 in float16 and 1e6 overflows to inf; the
    # result must still be a level (or an InvalidArgument), never NaN, and
    # no RuntimeWarning may leak (filterwarnings = error)
    x = np.array([0.0, 0.5, -2.0], dtype=np.float16)
    for step in (1e-8, 1e6):
        try:
            q = qt.quantize(x, step, 4)
        except qt.InvalidArgument:
            continue
        assert not np.isnan(q).any(), (step, q)


def test_from_scipy_law_with_support_edge_constructs_cleanly():
    # an asymmetric law on (0, inf): evaluating the density at the support
    # edge must not leak scipy's RuntimeWarning (filterwarnings = error)
    d = qt.from_scipy(scipy.stats.lognorm(0.5))
    m = qt.mse(d, 0.2, 4)
    # E[X^2] = exp(2 s^2) = e^0.5 for lognorm(s); 0 is a level: MSE <= E[X^2]
    assert 0 < m <= math.exp(0.5)
