"""Weighted Empirical (issue 12, section 3): sum w (x - Q(x))^2 / sum w.

Expected values: the independent brute force of ``brute_force.py`` (exact
rationals) for the MSE and the optimum; numpy's ``np.average`` for the
moments; repetition (an integer weight is a multiplicity) and removal (a
zero weight is an absent sample) for the invariants.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import quanttheory as qt
from quanttheory import InvalidArgument

from .brute_force import exact_mse, optimum

SCHEMES = ("paper", "midrise", "signed", "symmetric")


@st.composite
def weighted(draw):
    n = draw(st.integers(2, 9))
    x = np.array(
        draw(
            st.lists(
                st.floats(-4, 4, allow_nan=False, width=32).filter(lambda v: v != 0),
                min_size=n,
                max_size=n,
            )
        )
    )
    w = np.array(
        draw(
            st.lists(
                st.sampled_from([0.0, 0.25, 1.0, 2.0, 7.0]), min_size=n, max_size=n
            )
        )
    )
    w[0] = max(w[0], 1.0)
    return x, w


def test_weighted_moments_match_numpy_average():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(500)
    w = rng.exponential(size=500)
    e = qt.Empirical(x, weights=w)
    mean = np.average(x, weights=w)
    var = np.average((x - mean) ** 2, weights=w)
    m4 = np.average((x - mean) ** 4, weights=w)
    # the same weighted sums in another order: 1e-13 relative
    assert e.mean == pytest.approx(mean, rel=1e-13)
    assert e.variance == pytest.approx(var, rel=1e-13)
    assert e.kurtosis == pytest.approx(m4 / var**2, rel=1e-12)
    assert e.second_moment == pytest.approx(np.average(x * x, weights=w), rel=1e-13)


def test_zero_weights_are_absent_samples():
    rng = np.random.default_rng(1)
    x = rng.laplace(size=300)
    w = (rng.uniform(size=300) > 0.3).astype(float)
    e = qt.Empirical(x, weights=w)
    kept = qt.Empirical(x[w > 0])
    assert e.n == kept.n
    assert e.min == kept.min
    assert e.max == kept.max
    assert e.mean == pytest.approx(kept.mean, rel=1e-14)
    for scheme in SCHEMES:
        d = qt.optimal_step(e, 3, scheme=scheme)
        d0 = qt.optimal_step(kept, 3, scheme=scheme)
        m, m0 = qt.mse(kept, [d, d0], 3, scheme=scheme)
        assert abs(m - m0) <= 1e-12 * m0  # the same optimum (issue's 1e-12)
        # the weighted MSE is the MSE of the kept samples (sums reordered)
        assert qt.mse(e, d0, 3, scheme=scheme) == pytest.approx(m0, rel=1e-13)


def test_integer_weights_are_multiplicities():
    rng = np.random.default_rng(2)
    x = rng.standard_normal(200)
    w = rng.integers(1, 5, size=200).astype(float)
    e = qt.Empirical(x, weights=w)
    rep = qt.Empirical(np.repeat(x, w.astype(int)))
    d = qt.optimal_step(e, 4)
    d0 = qt.optimal_step(rep, 4)
    m, m0 = qt.mse(rep, [d, d0], 4)
    assert abs(m - m0) <= 1e-12 * m0
    assert qt.mse(e, 0.3, 4) == pytest.approx(qt.mse(rep, 0.3, 4), rel=1e-13)


@given(weighted(), st.sampled_from(SCHEMES), st.integers(1, 6))
def test_weighted_mse_and_optimum_against_brute_force(xw, scheme, bits):
    x, w = xw
    if scheme == "symmetric" and bits == 1:
        bits = 2
    e = qt.Empirical(x, weights=w)
    step = 0.37
    exact = exact_mse(x, step, bits, scheme, w)
    # the sum of a handful of float64 squares: 1e-14 relative
    assert qt.mse(e, step, bits, scheme=scheme) == pytest.approx(
        float(exact), rel=1e-14, abs=1e-300
    )
    r = optimum(x, bits, scheme, w)
    if not r.depends_on_step:
        with pytest.raises(InvalidArgument):
            qt.optimal_step(e, bits, scheme=scheme)
        return
    d = qt.optimal_step(e, bits, scheme=scheme)
    got = exact_mse(x, d, bits, scheme, w)
    # 1e-12 relative (the target), plus a few ulps of the step where
    # the minimum is exactly 0 (data on the grid)
    power = Fraction(float(np.average(x * x, weights=w)))
    assert got - r.mse <= Fraction(1e-12) * r.mse + 64 * Fraction(2.0**-52) ** 2 * power


@pytest.mark.parametrize(
    ("weights", "match"),
    [
        (np.ones(3), "shape"),
        (-np.ones(4), "non-negative"),
        (np.array([1.0, np.nan, 1.0, 1.0]), "non-negative"),
        (np.array([1.0, np.inf, 1.0, 1.0]), "non-negative"),
        (np.zeros(4), "all zero"),
        (np.array([True, False, True, True]), "real non-negative"),
        (["a", "b", "c", "d"], "real non-negative"),
    ],
)
def test_bad_weights_are_refused(weights, match):
    with pytest.raises(InvalidArgument, match=match):
        qt.Empirical(np.arange(1.0, 5.0), weights=weights)


def test_all_zero_weights_of_a_group_are_refused():
    w = np.ones((3, 4))
    w[2] = 0.0
    with pytest.raises(InvalidArgument, match=r"group \(2,\)"):
        qt.Empirical(np.ones((3, 4)), axis=0, weights=w)


def test_weighted_batch_equals_weighted_rows():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 300))
    w = rng.exponential(size=(4, 300))
    e = qt.Empirical(x, axis=0, weights=w)
    steps = qt.optimal_step(e, 4)
    for i in range(4):
        one = qt.Empirical(x[i], weights=w[i])
        d = qt.optimal_step(one, 4)
        m, m0 = qt.mse(one, [steps[i], d], 4)
        assert abs(m - m0) <= 1e-12 * m0
    np.testing.assert_allclose(
        e.mean, [np.average(x[i], weights=w[i]) for i in range(4)], rtol=1e-13
    )


def test_weights_far_apart_keep_the_far_sample_share():
    # x = [0, 1], w = [1, 3.45e-221], 1-bit midrise (levels +-d/2): by hand,
    # D(d) = ((d/2)^2 + w (1 - d/2)^2) / (1 + w), evaluated exactly with
    # Fractions; at d = 6.9e-221 the far sample's share w (1 - d/2)^2 = 3.45e-221
    # dominates. The small-step floor once evaluated it at 2**-256 instead
    # (1.9e-155, 1e66 times too large).
    w = 3.45e-221
    e = qt.Empirical(np.array([0.0, 1.0]), weights=np.array([1.0, w]))
    for d in (6.9e-221, 1e-250, 1e-100):
        fd, fw = Fraction(d), Fraction(w)
        want = ((fd / 2) ** 2 + fw * (1 - fd / 2) ** 2) / (1 + fw)
        got = qt.mse(e, d, 1, scheme="midrise")
        # one rounding of each product and sum: a few ulps of the result
        assert abs(Fraction(float(got)) - want) <= 8 * 2.0**-52 * want, (d, got)
