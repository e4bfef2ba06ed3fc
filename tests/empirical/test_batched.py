"""Batched Empirical (per channel ``axis=``, per group ``group_size=``), issue 12.

Expected optima come from the independent brute force of
``tests/empirical/brute_force.py`` (exact rational arithmetic, no package
code); expected layouts, moments and quantized values from plain numpy
slicing of the input.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import quanttheory as qt
from quanttheory import InvalidArgument
from quanttheory._sensitivity import smoothed_curvature

from .brute_force import exact_mse, optimum, rounding_excess

SCHEMES = ("paper", "midrise", "signed", "symmetric")

# Relative excess MSE allowed over the exact optimum (the target).
EXCESS = 1e-12


def schemes_bits():
    return st.sampled_from(SCHEMES).flatmap(
        lambda s: st.tuples(st.just(s), st.integers(2 if s == "symmetric" else 1, 6))
    )


@st.composite
def matrices(draw, max_rows=3, max_cols=10):
    """Small matrices with repeated values, zeros, mixed signs and outliers."""
    rows = draw(st.integers(1, max_rows))
    cols = draw(st.integers(2, max_cols))
    pool = draw(
        st.lists(
            st.one_of(
                st.floats(-3, 3, allow_nan=False, width=32),
                st.sampled_from([0.0, 1e-3, -1e-3, 40.0, -25.0]),
            ),
            min_size=1,
            max_size=6,
        )
    )
    idx = draw(
        st.lists(
            st.integers(0, len(pool) - 1), min_size=rows * cols, max_size=rows * cols
        )
    )
    x = np.array([pool[i] for i in idx], dtype=np.float64).reshape(rows, cols)
    # every row needs a nonzero value (an all-zero row has no optimal step)
    x[:, 0] = np.where(np.any(x != 0, axis=1), x[:, 0], 0.5)
    return x


def _relative_excess(x, step, bits, scheme, weights=None):
    """``(optimum, excess)``: the MSE at ``step`` above the exact minimum,
    less what rounding costs. Besides rounding the exact minimiser to its
    float64 neighbours, the closed form ``B/A`` rounds too: a step a few
    ulps off costs up to ``(k x eps)^2``, which matters only where the
    minimum is exactly 0 (data on the grid), hence an absolute
    ``16 eps^2 E[x^2]``."""
    r = optimum(x, bits, scheme, weights)
    got = exact_mse(x, float(step), bits, scheme, weights)
    w = np.ones(np.shape(x)) if weights is None else np.asarray(weights)
    power = Fraction(float((w * np.square(x)).sum() / w.sum()))
    slack = rounding_excess(x, r, bits, scheme, weights)
    slack += 16 * Fraction(np.finfo(np.float64).eps) ** 2 * power
    return r, got - r.mse - slack


# -- layout -------------------------------------------------------------------
def test_batch_shapes_and_per_group_moments_match_slices():
    x = np.arange(2 * 3 * 8, dtype=np.float64).reshape(2, 3, 8) ** 1.5
    e = qt.Empirical(x, axis=1)
    assert e.batch_shape == (3,)
    assert e.n == 16
    np.testing.assert_array_equal(e.min, x.min(axis=(0, 2)))
    g = qt.Empirical(x, group_size=4)
    assert g.batch_shape == (2, 3, 2)
    assert g.n == 4
    want = x.reshape(2, 3, 2, 4).mean(axis=-1)
    # mean: one float64 sum over 4 values and a division, as numpy's
    np.testing.assert_allclose(g.mean, want, rtol=1e-15)
    np.testing.assert_allclose(
        g.variance, x.reshape(2, 3, 2, 4).var(axis=-1), rtol=1e-13
    )
    both = qt.Empirical(x, axis=1, group_size=8)
    assert both.batch_shape == (3, 2)
    # channel 1, second group: C-order values of x[:, 1, :], cut in groups of 8
    np.testing.assert_array_equal(both.max[1, 1], x[:, 1, :].reshape(-1)[8:].max())
    assert qt.Empirical(x).batch_shape == ()


def test_unbatched_is_unchanged():
    x = np.random.default_rng(0).standard_normal(1000)
    e = qt.Empirical(x)
    assert e._rows is None
    assert e._weights is None
    assert e.batch_shape == ()
    assert isinstance(qt.optimal_step(e, 4), float)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"axis": 2}, "axis=2 is out of range"),
        ({"axis": -3}, "axis=-3 is out of range"),
        ({"axis": 1.0}, "axis=1.0 must be an integer"),
        ({"axis": True}, "axis=True must be an integer"),
        ({"group_size": 0}, "group_size=0 must be a positive integer"),
        ({"group_size": -4}, "group_size=-4 must be a positive integer"),
        ({"group_size": 2.0}, "group_size=2.0 must be a positive integer"),
        ({"group_size": 3}, "group_size=3 does not divide the last axis"),
        ({"axis": 0, "group_size": 5}, "does not divide the 8 values"),
    ],
)
def test_bad_layout_is_refused(kwargs, match):
    with pytest.raises(InvalidArgument, match=match):
        qt.Empirical(np.ones((4, 8)), **kwargs)


@pytest.mark.parametrize(
    ("shape", "kwargs"), [((3, 0), {"axis": 0}), ((0, 4), {"axis": 0})]
)
def test_empty_group_is_refused(shape, kwargs):
    with pytest.raises(InvalidArgument, match="empty group"):
        qt.Empirical(np.ones(shape), **kwargs)


def test_non_finite_samples_are_refused():
    x = np.ones((2, 4))
    x[1, 2] = np.nan
    with pytest.raises(InvalidArgument, match="non-finite"):
        qt.Empirical(x, axis=0)


def test_all_zero_group_documented_result():
    x = np.random.default_rng(1).standard_normal((3, 16))
    x[1] = 0.0
    e = qt.Empirical(x, axis=0)
    # optimal_step: refused, naming the group
    with pytest.raises(InvalidArgument, match=r"group 1 .* all zero"):
        qt.optimal_step(e, 4)
    # the MSE is defined: 0 with a level at 0, (step/2)^2 for midrise
    m = qt.mse(e, 0.25, 4)
    assert m[1] == 0.0
    assert qt.mse(e, 0.25, 4, scheme="midrise")[1] == 0.125**2
    with pytest.raises(InvalidArgument, match="all zero"):
        qt.sqnr_db(e, 0.25, 4)


# -- exact optimum ------------------------------------------------------------
@given(matrices(), schemes_bits())
def test_batched_optimum_is_exact(x, sb):
    scheme, bits = sb
    e = qt.Empirical(x, axis=0)
    try:
        steps = qt.optimal_step(e, bits, scheme=scheme)
    except InvalidArgument:
        # only where a row's MSE does not depend on the step
        assert any(not optimum(row, bits, scheme).depends_on_step for row in x)
        return
    assert steps.shape == (x.shape[0],)
    for row, d in zip(x, steps, strict=True):
        r, over = _relative_excess(row, d, bits, scheme)
        assert over <= EXCESS * r.mse, (row.tolist(), d, float(r.mse))


@given(matrices(max_rows=2, max_cols=8), schemes_bits(), st.data())
def test_weighted_batched_optimum_is_exact(x, sb, data):
    scheme, bits = sb
    w = np.array(
        data.draw(
            st.lists(
                st.sampled_from([0.0, 0.5, 1.0, 3.0, 1e-3]),
                min_size=x.size,
                max_size=x.size,
            )
        )
    ).reshape(x.shape)
    w[:, 0] = np.maximum(w[:, 0], 1.0)  # every row keeps its nonzero sample
    e = qt.Empirical(x, axis=0, weights=w)
    try:
        steps = qt.optimal_step(e, bits, scheme=scheme)
    except InvalidArgument:
        assert any(
            not optimum(row, bits, scheme, wr).depends_on_step
            or all(v == 0 for v, ww in zip(row, wr, strict=True) if ww > 0)
            for row, wr in zip(x, w, strict=True)
        )
        return
    for row, wr, d in zip(x, w, steps, strict=True):
        r, over = _relative_excess(row, d, bits, scheme, wr)
        assert over <= EXCESS * r.mse, (row.tolist(), wr.tolist(), d)


@pytest.mark.parametrize(
    ("x", "bits", "scheme"),
    [
        # the cases: repeated values, a zero bulk at one bit
        (
            np.random.default_rng(1).choice(
                np.random.default_rng(1).standard_normal(7), 37
            ),
            6,
            "midrise",
        ),
        (np.r_[np.zeros(5000), 0.5, -0.25, 1.0], 1, "midrise"),
        (np.r_[np.full(20, 1e-3), 1e30], 4, "paper"),
        (np.array([3.0, 3.0, 3.0]), 4, "signed"),
    ],
)
def test_hard_cases_are_exact(x, bits, scheme):
    d = qt.optimal_step(qt.Empirical(x[None, :], axis=0), bits, scheme=scheme)[0]
    r = optimum(x, bits, scheme)
    got = exact_mse(x, float(d), bits, scheme)
    assert _relative_excess(x, d, bits, scheme)[1] <= EXCESS * r.mse
    assert got >= r.mse


@given(
    st.integers(0, 2**32 - 1),
    st.sampled_from(SCHEMES),
    st.sampled_from([2, 3, 4, 8]),
    st.sampled_from([16, 128, 1000]),
)
def test_rows_equal_single_row_results_bit_for_bit(seed, scheme, bits, n):
    """A row's step does not depend on the other rows of its batch."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_t(4, size=(5, n)) * rng.uniform(0.01, 10, (5, 1))).astype(
        np.float32
    )
    steps = qt.optimal_step(qt.Empirical(x, axis=0), bits, scheme=scheme)
    perm = rng.permutation(5)
    shuffled = qt.optimal_step(qt.Empirical(x[perm], axis=0), bits, scheme=scheme)
    np.testing.assert_array_equal(shuffled, steps[perm])
    for i in range(5):
        one = qt.optimal_step(qt.Empirical(x[i : i + 1], axis=0), bits, scheme=scheme)
        assert one[0] == steps[i]


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("bits", [2, 4, 8])
def test_batched_optimum_matches_one_d_engine(scheme, bits):
    """Against the 1-D route on each row: the same MSE to 1e-12 (either way)."""
    x = np.random.default_rng(bits).standard_t(5, size=(6, 2000)).astype(np.float32)
    e = qt.Empirical(x, axis=0)
    steps = qt.optimal_step(e, bits, scheme=scheme)
    for row, d in zip(x, steps, strict=True):
        one = qt.Empirical(row)
        d1 = qt.optimal_step(one, bits, scheme=scheme)
        m, m1 = qt.mse(one, [d, d1], bits, scheme=scheme)
        assert abs(m - m1) <= EXCESS * m1


def test_sixteen_bits_matches_one_d_engine():
    x = np.random.default_rng(5).standard_normal((2, 40))
    steps = qt.optimal_step(qt.Empirical(x, axis=0), 16)
    for row, d in zip(x, steps, strict=True):
        d1 = qt.optimal_step(row, 16)
        m, m1 = qt.mse(row, [d, d1], 16)
        # at 16 bits the errors x - k d are ~1e-5 |x|: the rounding of k d
        # (eps |x| per sample) is a relative noise of the MSE of about
        # 4 eps sum|x||e| / sum e^2 (~1e-11 here), far above EXCESS; two
        # steps an ulp apart in the same piece differ by that noise only
        k = np.clip(np.rint(row / d1), -(2**15), 2**15 - 1)
        e = row - k * d1
        noise = 4 * np.finfo(float).eps * np.sum(np.abs(row * e)) / np.sum(e * e)
        assert m <= m1 * (1 + EXCESS + noise)


# -- values per group -----------------------------------------------------------
@pytest.mark.parametrize("scheme", SCHEMES)
def test_values_match_per_slice_routes(scheme):
    x = np.random.default_rng(2).laplace(size=(4, 512))
    e = qt.Empirical(x, group_size=128)
    steps = np.random.default_rng(3).uniform(0.1, 0.5, e.batch_shape)
    groups = x.reshape(4, 4, 128)
    # same sums in another order (pairwise against chunked): 1e-13 relative
    for fn, kw in (
        (qt.mse, {}),
        (qt.mse_derivative, {}),
        (qt.mse_derivative, {"order": 2}),
        (qt.sqnr_db, {}),
    ):
        got = fn(e, steps, 4, scheme=scheme, **kw)
        assert got.shape == e.batch_shape
        want = np.array(
            [
                [
                    fn(groups[i, j], steps[i, j], 4, scheme=scheme, **kw)
                    for j in range(4)
                ]
                for i in range(4)
            ]
        )
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-300)
    # a scalar step broadcasts to every group
    np.testing.assert_array_equal(
        qt.mse(e, 0.3, 4, scheme=scheme),
        qt.mse(e, np.full(e.batch_shape, 0.3), 4, scheme=scheme),
    )


def test_batched_sensitivity_matches_per_slice():
    x = np.random.default_rng(4).standard_normal((3, 4000))
    e = qt.Empirical(x, axis=0)
    d = qt.optimal_step(e, 4)
    got = qt.sensitivity(e, 4, 0.01, taylor=False)
    want = [qt.sensitivity(qt.Empirical(r), 4, 0.01, taylor=False) for r in x]
    # |D(d+eps) - D(d)|: a difference of two sums, 1e-10 relative
    np.testing.assert_allclose(got, want, rtol=1e-10)
    want_t = [
        smoothed_curvature(qt.Empirical(r), di, 4) * 0.01**2 / 2
        for r, di in zip(x, d, strict=True)
    ]
    np.testing.assert_allclose(qt.sensitivity(e, 4, 0.01), want_t, rtol=1e-12)


def test_step_of_wrong_shape_is_refused():
    e = qt.Empirical(np.ones((4, 8)), group_size=4)
    with pytest.raises(InvalidArgument, match="does not broadcast to the batch shape"):
        qt.mse(e, np.ones(3), 4)
    with pytest.raises(InvalidArgument, match="model='additive' is not available"):
        qt.mse(e, 0.5, 4, model="additive")


def test_extreme_magnitudes_are_scaled_exactly():
    base = np.random.default_rng(6).standard_normal((2, 200))
    for c in (2.0**-600, 2.0**600):
        big = qt.optimal_step(qt.Empirical(base * c, axis=0), 4)
        unit = qt.optimal_step(qt.Empirical(base, axis=0), 4)
        np.testing.assert_array_equal(big, unit * c)  # powers of two: exact


# -- quantize per group ---------------------------------------------------------
def test_quantize_group_size_matches_slices():
    x = np.random.default_rng(7).standard_normal((3, 12)).astype(np.float32)
    steps = np.random.default_rng(8).uniform(0.1, 1.0, (3, 3))
    q = qt.quantize(x, steps, 3, "signed", group_size=4)
    assert q.dtype == np.float32
    assert q.shape == x.shape
    for i in range(3):
        for j in range(3):
            part = x[i, 4 * j : 4 * j + 4]
            np.testing.assert_array_equal(
                q[i, 4 * j : 4 * j + 4], qt.quantize(part, steps[i, j], 3, "signed")
            )
    # with axis: groups within each column
    qa = qt.quantize(
        x,
        steps[:, :1].T.repeat(12, 0)[:, :1] * np.ones((12, 1)),
        3,
        axis=1,
        group_size=3,
    )
    assert qa.shape == x.shape
    with pytest.raises(InvalidArgument, match="does not broadcast against the batch"):
        qt.quantize(x, np.ones(5), 3, group_size=4)
    with pytest.raises(InvalidArgument, match="does not divide"):
        qt.quantize(x, 0.5, 3, group_size=5)


def test_quantize_with_optimal_group_steps_reaches_the_optimal_mse():
    x = np.random.default_rng(9).standard_normal((2, 256))
    e = qt.Empirical(x, group_size=64)
    d = qt.optimal_step(e, 4)
    q = qt.quantize(x, d, 4, group_size=64)
    per = ((x - q) ** 2).reshape(2, 4, 64).mean(axis=-1)
    # the same squared errors summed in another order: 1e-13 relative
    np.testing.assert_allclose(per, qt.mse(e, d, 4), rtol=1e-13)
    assert math.isfinite(float(Fraction(1)))


# -- compiled sweep and numpy fallback: bit for bit -------------------------------
def _both_paths(fn):
    from quanttheory._empirical import batched_kernels as bk

    if not bk.HAVE_NUMBA:
        pytest.skip("numba not installed: only the numpy path exists")
    saved = bk.USE_NUMBA
    try:
        bk.USE_NUMBA = True
        compiled = fn()
        bk.USE_NUMBA = False
        fallback = fn()
    finally:
        bk.USE_NUMBA = saved
    return compiled, fallback


@pytest.mark.parametrize("n", [7, 128, 700])  # whole sweep, both, bracket
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize(
    ("scheme", "bits"), [("signed", 4), ("midrise", 3), ("paper", 1), ("symmetric", 8)]
)
def test_numba_and_numpy_sweeps_are_bit_identical(n, weighted, scheme, bits):
    rng = np.random.default_rng(n + bits)
    x = rng.standard_t(4, size=(6, n))
    x[0, : n // 2] = 0.0  # a zero bulk
    x[1] = rng.choice(rng.standard_normal(5), n)  # repeated values
    x[2, 0] = 1e6  # an outlier
    x = x.astype(np.float32)
    w = rng.exponential(size=x.shape) if weighted else None
    if weighted:
        w[3, : n // 3] = 0.0  # zero weights: absent samples

    def steps():
        e = qt.Empirical(x, axis=0, weights=w)
        return np.asarray(qt.optimal_step(e, bits, scheme=scheme))

    compiled, fallback = _both_paths(steps)
    # bit for bit: the same kinks, order, sums and ranking on both paths
    assert np.array_equal(compiled, fallback)
