"""Extreme scales (issue 11, section 3): a value or InvalidArgument, never a
crash, an overflow or a NaN.

Expected values come from closed forms evaluated in mpmath (40 digits):

* the Gaussian MSE of any level set in closed form per cell,
  :math:`\\int_a^b (x-c)^2\\varphi = [(1+c^2)\\Phi(x) - (x-2c)\\varphi(x)]_a^b`,
  and its step derivatives by mpmath's differentiation of that closed form;
* one wide cell: once every threshold is beyond the law's mass, a level at 0
  gives :math:`D = E[X^2]` and ``'midrise'`` :math:`D = E[(|X| - \\Delta/2)^2]`;
* the seed's Lemma 3, :math:`\\tilde\\Delta = 2a/(2^M+1)` for the uniform law;
* brute-force nearest-level search on data (``registry.direct_mse``, with the
  data and steps scaled by exact powers of two).
"""

from __future__ import annotations

import itertools
import math

import mpmath
import numpy as np
import pytest
from registry import direct_mse, scheme_table

import quanttheory as qt

G = qt.Gaussian

#: E|Z| and E[Z^2] of the standard normal, and of the uniform and Laplace laws
ABS_MOMENT = {"gaussian": math.sqrt(2 / math.pi), "uniform": 0.5, "laplace": 1.0}
SECOND_MOMENT = {"gaussian": 1.0, "uniform": 1 / 3, "laplace": 2.0}
UNIT = {"gaussian": qt.Gaussian(), "uniform": qt.Uniform(1.0), "laplace": qt.Laplace()}


def gauss_mse_mp(step, bits, scheme="paper"):
    """Exact MSE of N(0, 1) at ``step`` (an mpf), closed form per cell."""
    kmin, kmax, off = scheme_table(scheme, bits)
    levels = [(k + off) * step for k in range(kmin, kmax + 1)]
    cuts = [-mpmath.inf] + [(a + b) / 2 for a, b in itertools.pairwise(levels)]
    cuts.append(mpmath.inf)

    def prim(x, c):
        if mpmath.isinf(x):
            return (1 + c * c) * (1 if x > 0 else 0)
        return (1 + c * c) * mpmath.ncdf(x) - (x - 2 * c) * mpmath.npdf(x)

    return sum(
        prim(b, c) - prim(a, c) for a, b, c in zip(cuts, cuts[1:], levels, strict=False)
    )


def gauss_mp(step, bits, scheme="paper", order=0):
    """D, D' or D'' of N(0, 1) at a float step, 40 digits."""
    with mpmath.workdps(40):
        f = lambda t: gauss_mse_mp(t, bits, scheme)  # noqa: E731
        s = mpmath.mpf(step)
        return float(f(s) if order == 0 else mpmath.diff(f, s, order))


# ---------------------------------------------------------------------------
# huge steps: one wide cell, in closed form
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("family", sorted(UNIT))
@pytest.mark.parametrize("step", [1e20, 1e100, 1e300, 1.7e308])
@pytest.mark.parametrize("scheme", ["paper", "signed", "symmetric"])
def test_huge_step_with_a_zero_level_is_the_second_moment(family, step, scheme):
    # before: "NaN ... bug" at 1e300 and OverflowError at 1.7e308. All the
    # mass lies in the zero cell, so D = E[X^2], D' = D'' = 0 (the mass beyond
    # step/2 >= 5e19 is below float64's smallest number); rounding: 2 ulps
    law = UNIT[family]
    assert qt.mse(law, step, 4, scheme=scheme) == pytest.approx(
        SECOND_MOMENT[family], rel=4e-16
    )
    for order in (1, 2):
        assert qt.mse_derivative(law, step, 4, order, scheme=scheme) == 0.0


@pytest.mark.parametrize("family", sorted(UNIT))
@pytest.mark.parametrize("step", [1e20, 1e100, 1e150])
def test_huge_midrise_step_is_the_distance_to_the_two_inner_levels(family, step):
    # levels +-step/2 catch everything: D = E[(|X| - step/2)^2]
    # = (step/2 - E|X|)^2 + E[X^2] - E|X|^2, D' = step/2 - E|X|, D'' = 1/2
    law = UNIT[family]
    m1, m2 = ABS_MOMENT[family], SECOND_MOMENT[family]
    with mpmath.workdps(40):
        half = mpmath.mpf(step) / 2
        want = float((half - m1) ** 2 + m2 - mpmath.mpf(m1) ** 2)
        want1 = float(half - m1)
    # closed form vs engine closed form: 2 ulps of rounding
    assert qt.mse(law, step, 4, scheme="midrise") == pytest.approx(want, rel=4e-16)
    assert qt.mse_derivative(law, step, 4, scheme="midrise") == pytest.approx(
        want1, rel=4e-16
    )
    assert qt.mse_derivative(law, step, 4, 2, scheme="midrise") == 0.5


def test_huge_midrise_mse_beyond_float64_is_refused():
    # D = step^2/4 = 2.5e599 cannot be represented: InvalidArgument, no inf
    with pytest.raises(qt.InvalidArgument, match=r"mse: the MSE at step=1e\+300"):
        qt.mse(G(), 1e300, 4, scheme="midrise")
    # its derivative step/2 = 5e299 can
    assert qt.mse_derivative(G(), 1e300, 4, scheme="midrise") == pytest.approx(
        5e299,
        rel=4e-16,  # 2 ulps
    )


@pytest.mark.parametrize("scheme", ["paper", "midrise"])
def test_the_closed_form_agrees_with_the_engine_below_its_threshold(scheme):
    # 1e19 is just below 2**64: the engine's regular route. The closed forms
    # hold there too (the mass beyond step/2 underflows); 2 ulps of rounding
    step = 1e19
    if scheme == "paper":
        want = 1.0
    else:
        with mpmath.workdps(40):
            m1 = mpmath.sqrt(2 / mpmath.pi)
            want = float((mpmath.mpf(step) / 2 - m1) ** 2 + 1 - m1 * m1)
    assert qt.mse(G(), step, 4, scheme=scheme) == pytest.approx(want, rel=4e-16)


@pytest.mark.parametrize("bits", [17, 24, 64])
def test_wide_cells_above_sixteen_bits(bits):
    # before: 833 (the additive model's step^2/12) at step 100 and 17 bits.
    # step 200 puts the first threshold 100 sigma out: D = E[X^2] = 1,
    # D' = D'' = 0; midrise D = (100 - E|X|)^2 + 1 - E|X|^2 (2 ulps)
    assert qt.mse(G(), 200.0, bits) == pytest.approx(1.0, rel=4e-16)
    assert qt.mse_derivative(G(), 200.0, bits) == 0.0
    assert qt.mse_derivative(G(), 200.0, bits, 2) == 0.0
    m1 = math.sqrt(2 / math.pi)
    want = (100.0 - m1) ** 2 + 1 - m1 * m1
    assert qt.mse(G(), 200.0, bits, scheme="midrise") == pytest.approx(want, 4e-16)
    # U[-1, 1] from step 2 on: D = 1/3
    assert qt.mse(qt.Uniform(1.0), 3e8, bits) == pytest.approx(1 / 3, rel=4e-16)


def test_additive_model_at_a_huge_step_is_the_granular_noise():
    # additive model, no clipping: D = step^2/12, D' = step/6, D'' = 1/6
    assert qt.mse(G(), 1e150, 4, model="additive") == pytest.approx(
        1e300 / 12,
        rel=4e-16,  # 2 ulps
    )
    assert qt.mse_derivative(G(), 1e300, 4, model="additive") == pytest.approx(
        1e300 / 6, rel=4e-16
    )
    with pytest.raises(qt.InvalidArgument, match="above the range of float64"):
        qt.mse(G(), 1e300, 4, model="additive")


def test_a_law_whose_tails_reach_beyond_is_refused_at_huge_steps():
    import scipy.stats

    t3 = qt.from_scipy(scipy.stats.t(3))
    with pytest.raises(qt.InvalidArgument, match=r"mse: step=1e\+30 .*tails"):
        qt.mse(t3, 1e30, 4)


# ---------------------------------------------------------------------------
# laws of extreme scale: scaled coordinates
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("c", [1e-300, 1e-150, 1e150, 1e300])
def test_sqnr_is_scale_free(c):
    # before: OverflowError at 1e200, silent NaN at 1e-300. The SQNR of cX at
    # step c*0.3 is that of X at 0.3: 10 log10(1 / D(0.3)), D in mpmath
    want = 10 * math.log10(1 / gauss_mp(0.3, 4))
    # MSE accurate to 2e-14 (mse docstring): 1e-12 dB absolute is ample
    assert qt.sqnr_db(G(c), c * 0.3, 4) == pytest.approx(want, abs=1e-12)


@pytest.mark.parametrize("c", [1e-150, 1e-100, 1e100, 1e150])
def test_mse_and_derivatives_scale(c):
    # D(cX, cs) = c^2 D(X, s), D' = c D'(X, s), D'' = D''(X, s); expected
    # from the mpmath closed form at scale 1. The mse docstring bounds the
    # Gaussian at 2e-14; mpmath's numerical derivatives at 40 digits are
    # good to >= 25, so 1e-12 relative leaves room for the rescaling
    s = 0.3
    assert qt.mse(G(c), c * s, 4) == pytest.approx(c * c * gauss_mp(s, 4), rel=1e-12)
    d1 = qt.mse_derivative(G(c), c * s, 4)
    assert d1 == pytest.approx(c * gauss_mp(s, 4, order=1), rel=1e-12)
    d2 = qt.mse_derivative(G(c), c * s, 4, 2)
    assert d2 == pytest.approx(gauss_mp(s, 4, order=2), rel=1e-12)


@pytest.mark.parametrize(("c", "word"), [(1e200, "above"), (1e-300, "below")])
def test_an_mse_beyond_float64_is_refused(c, word):
    # before: OverflowError (1e200) and 0.0 (1e-300); D = c^2 * 0.0093...
    with pytest.raises(qt.InvalidArgument, match=rf"mse: the MSE .* {word} the range"):
        qt.mse(G(c), c * 0.3, 4)


def test_variance_beyond_float64_raises_and_std_still_works():
    # decision: a moment that float64 cannot hold raises (never inf)
    with pytest.raises(qt.InvalidArgument, match=r"Gaussian.variance: .*1e\+200"):
        G(1e200).variance
    with pytest.raises(qt.InvalidArgument, match=r"second_moment"):
        G(1e200).second_moment
    with pytest.raises(qt.InvalidArgument, match=r"Uniform.variance"):
        qt.Uniform(1e300).variance
    with pytest.raises(qt.InvalidArgument, match=r"Laplace.variance"):
        qt.Laplace(1e-200).variance
    assert G(1e200).std == 1e200
    # sqrt(3) * a / 3 and sqrt(2) * b in closed form; 2 ulps of rounding
    assert qt.Uniform(1e300).std == pytest.approx(1e300 / math.sqrt(3), rel=4e-16)
    assert qt.Laplace(1e-200).std == pytest.approx(1e-200 * math.sqrt(2), rel=4e-16)


@pytest.mark.parametrize("a", [1e-300, 1.0, 1e300, 1.7e308])
@pytest.mark.parametrize("bits", [1, 4, 8])
def test_optimal_step_of_the_uniform_law_at_any_scale(a, bits):
    # Lemma 3: 2a/(2^M + 1) (scheme 'paper'); 1e-12 relative is the
    # optimum's tested accuracy at scale 1 (tests/api/test_properties.py)
    assert qt.optimal_step(qt.Uniform(a), bits) == pytest.approx(
        a * (2 / (2**bits + 1)), rel=1e-12
    )


@pytest.mark.parametrize("c", [5e-324, 1e-310])
def test_an_optimal_step_below_the_normal_range_is_refused(c):
    # before: 0.0 for 5e-324. The optimum 0.3 c is not a normal float64
    with pytest.raises(qt.InvalidArgument, match=r"optimal_step: .*below float64"):
        qt.optimal_step(G(c), 4)


def test_an_optimal_step_above_float64_is_refused():
    # one bit, 'paper': the optimum is 1.2 sigma or so (Max 1960: 1.224
    # for 'midrise' at 1 bit is 2 E|X| = 1.6), above 1.8e308 for sigma 1.7e308
    with pytest.raises(qt.InvalidArgument, match=r"optimal_step: .*above float64"):
        qt.optimal_step(G(1.7e308), 1, scheme="midrise")


def test_densities_and_draws_of_extreme_laws():
    # cdf of U[-a, a] at 0 is 1/2 at any scale (before: NaN for 1.7e308)
    assert qt.Uniform(1.7e308).cdf(0.0) == 0.5
    assert qt.Uniform(1.7e308).sf(8.5e307) == 0.25
    # the density 1/(sigma sqrt(2 pi)) = 8e322 at sigma = 5e-324 overflows
    with pytest.raises(qt.InvalidArgument, match=r"gaussian.pdf: the density"):
        G(5e-324).pdf(0.0)
    # uniform draws stay in [-a, a] at a = 1.7e308 (before: inf/NaN draws)
    x = qt.Uniform(1.7e308).sample(100, rng=0)
    assert np.all(np.abs(x) <= 1.7e308)
    with pytest.raises(qt.InvalidArgument, match=r"sample: a draw"):
        G(1.7e308).sample(100, rng=0)


def test_levels_beyond_float64_are_refused():
    # before: +-inf levels, silently
    with pytest.raises(qt.InvalidArgument, match=r"levels: step=1.7e\+308"):
        qt.levels(1.7e308, 4)
    with pytest.raises(qt.InvalidArgument, match=r"clipping_level: step=1.7e\+308"):
        qt.clipping_level(1.7e308, 4)
    with pytest.raises(qt.InvalidArgument, match=r"clipping_level: step=5e-324"):
        qt.clipping_level(5e-324, 4, "midrise")  # 7.5 * 5e-324 rounds
    # at the edge: 1 * 1.7e308 is representable
    assert qt.levels(1.7e308, 1).tolist() == [-1.7e308, 0.0, 1.7e308]


# ---------------------------------------------------------------------------
# data of extreme magnitude
# ---------------------------------------------------------------------------


def test_moments_of_huge_samples():
    # before: mean NaN (the sum overflowed)
    e = qt.Empirical([1.7e308, 1.7e308])
    assert e.mean == 1.7e308
    assert e.std == 0.0
    assert e.variance == 0.0
    with pytest.raises(qt.InvalidArgument, match=r"Empirical.second_moment"):
        e.second_moment
    # two points +-a: mean 0, std a, kurtosis 1 (closed forms, exact here)
    f = qt.Empirical([1.5e308, -1.5e308])
    assert (f.mean, f.std, f.kurtosis) == (0.0, 1.5e308, 1.0)
    with pytest.raises(qt.InvalidArgument, match=r"Empirical.variance"):
        f.variance


@pytest.mark.parametrize("e", [-1000, -600, 500, 900])
@pytest.mark.parametrize("scheme", ["paper", "midrise"])
def test_data_of_any_magnitude(e, scheme):
    # data and step scaled by 2**e: the MSE by 4**e, D' by 2**e, D'' not at
    # all; brute force at scale 1 (registry.direct_mse); rounding 1e-13
    x = np.random.default_rng(5).laplace(size=300)
    step = 0.31
    want = direct_mse(x, step, 4, scheme)
    emp = qt.Empirical(np.ldexp(x, e))
    sq = 10 * math.log10(np.mean(x * x) / want)
    assert qt.sqnr_db(emp, math.ldexp(step, e), 4, scheme=scheme) == pytest.approx(
        sq, abs=1e-11
    )
    if abs(e) <= 500:  # 4**e times it is a normal float64
        got = qt.mse(emp, math.ldexp(step, e), 4, scheme=scheme)
        assert got == pytest.approx(math.ldexp(want, 2 * e), rel=1e-13)
    else:
        with pytest.raises(qt.InvalidArgument, match="the range of float64"):
            qt.mse(emp, math.ldexp(step, e), 4, scheme=scheme)
    # the optimal step scales exactly (powers of two are exact): an invariant
    base = qt.optimal_step(qt.Empirical(x), 4, scheme=scheme)
    assert qt.optimal_step(emp, 4, scheme=scheme) == math.ldexp(base, e)


def test_sqnr_of_all_zero_samples_is_undefined():
    # decision: E[X^2] = 0 and the MSE 0 (or step^2/4): InvalidArgument
    for scheme in ("paper", "midrise"):
        with pytest.raises(qt.InvalidArgument, match=r"sqnr_db: dist=.*all zero"):
            qt.sqnr_db(qt.Empirical(np.zeros(5)), 0.1, 4, scheme=scheme)


def test_sqnr_of_data_on_the_grid_is_inf():
    # documented: MSE exactly 0 -> +inf dB
    assert qt.sqnr_db(qt.Empirical([0.5, -1.0, 0.25]), 0.25, 4) == math.inf


def test_empirical_huge_steps_are_exact():
    # every sample in the zero cell: D = mean(x^2); midrise: the levels
    # +-step/2: D = mean((|x| - step/2)^2); brute force in plain floats
    x = np.array([-2.0, 0.5, 3.0])
    assert qt.mse(qt.Empirical(x), 1e300, 4) == pytest.approx(
        np.mean(x * x),
        rel=4e-16,  # 2 ulps
    )
    got = qt.mse(qt.Empirical(x), 1e100, 4, scheme="midrise")
    want = float(np.mean((np.abs(x) - 5e99) ** 2))
    assert got == pytest.approx(want, rel=4e-16)
