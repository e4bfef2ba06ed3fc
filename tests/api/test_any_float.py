"""Every public function, given any floats, returns finite values or raises
InvalidArgument (issue 11: "a value or InvalidArgument, never a crash or a
NaN").

The numeric arguments are drawn from all of float64: NaN, +-inf, 0 and -0,
subnormals, 1e+-300, the largest float, negatives and ordinary values. The
property is what the package promises, not a value: every call either raises
:class:`quanttheory.InvalidArgument` or returns finite numbers. Any other
exception, a RuntimeWarning (warnings are errors here), a NaN or an
infinity fails, except the one documented infinity: ``sqnr_db`` is ``+inf``
where the MSE is exactly 0 (data on the level grid), which is checked.

Warnings of the package's own classes (:class:`quanttheory.QuantTheoryWarning`:
heavy tails in Monte Carlo, a step error beyond Lemma 1's radius) are
documented results, not failures, and are ignored.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import quanttheory as qt

SPECIAL = [
    0.0,
    -0.0,
    5e-324,
    -5e-324,
    2.2250738585072014e-308,
    1e-300,
    1e-150,
    1e-8,
    0.3,
    1.0,
    3.0,
    1e8,
    1e150,
    1e300,
    1.7e308,
    -1.0,
    -1e300,
    math.nan,
    math.inf,
    -math.inf,
]

#: any float64, with the special values drawn often
any_float = st.one_of(st.sampled_from(SPECIAL), st.floats(), st.floats(1e-6, 1e6))
steps = st.one_of(any_float, st.lists(any_float, min_size=1, max_size=3))
#: bit-widths: the valid range (kept small where the cost is O(2^M)), the
#: edges, and any float
bits_ = st.one_of(
    st.integers(1, 12),
    st.sampled_from([0, -1, 17, 24, 25, 53, 64, 65, 2**70, 1e20, 4.0]),
    any_float,
)
schemes = st.sampled_from(qt.SCHEMES)
models = st.sampled_from(qt.MODELS)
families = st.sampled_from(["uniform", "gaussian", "laplace", "empirical"])
#: few examples per test keep the file under ~30 s
SETTINGS = settings(
    max_examples=int(__import__("os").environ.get("ANYN", 60)),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def call(f, *args, **kwargs):
    """``f(*args, **kwargs)``, or None if it raised InvalidArgument.

    Every other exception propagates (and fails the test); so do warnings,
    except the package's own documented ones.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", qt.QuantTheoryWarning)
        try:
            return f(*args, **kwargs)
        except qt.InvalidArgument:
            return None


def assert_finite(value, what):
    arr = np.asarray(value, dtype=np.float64)
    assert np.all(np.isfinite(arr)), (what, value)


@st.composite
def distributions(draw):
    """A distribution of any family at any parameter, or None where the
    constructor (correctly) refused the parameter."""
    family = draw(families)
    if family == "empirical":
        data = draw(st.lists(any_float, min_size=1, max_size=6))
        return call(qt.Empirical, data)
    make = {"uniform": qt.Uniform, "gaussian": qt.Gaussian, "laplace": qt.Laplace}
    return call(make[family], draw(any_float))


# ---------------------------------------------------------------------------
# constructors and the Distribution API
# ---------------------------------------------------------------------------


@SETTINGS
@given(dist=distributions(), x=steps, n=st.integers(1, 20), seed=st.integers(0, 9))
def test_distribution_methods(dist, x, n, seed):
    if dist is None:
        return
    for method in ("pdf", "cdf", "sf"):
        out = call(getattr(dist, method), x)
        if out is not None:
            assert_finite(out, method)
            if method != "pdf":
                assert np.all((np.asarray(out) >= 0) & (np.asarray(out) <= 1))
    out = call(dist.sample, n, rng=seed)
    if out is not None:
        assert_finite(out, "sample")
        assert out.shape == (n,)
    for prop in ("mean", "std", "variance", "second_moment"):
        value = call(getattr, dist, prop)
        if value is not None:
            assert_finite(value, prop)


# ---------------------------------------------------------------------------
# the MSE functions
# ---------------------------------------------------------------------------


@SETTINGS
@given(dist=distributions(), step=steps, bits=bits_, scheme=schemes, model=models)
def test_mse(dist, step, bits, scheme, model):
    if dist is None:
        return
    out = call(qt.mse, dist, step, bits, scheme=scheme, model=model)
    if out is not None:
        assert_finite(out, "mse")
        assert np.all(np.asarray(out) >= 0)


@SETTINGS
@given(
    dist=distributions(),
    step=steps,
    bits=bits_,
    order=st.one_of(st.sampled_from([1, 2]), any_float),
    scheme=schemes,
    model=models,
)
def test_mse_derivative(dist, step, bits, order, scheme, model):
    if dist is None:
        return
    out = call(qt.mse_derivative, dist, step, bits, order, scheme=scheme, model=model)
    if out is not None:
        assert_finite(out, "mse_derivative")


@SETTINGS
@given(dist=distributions(), bits=bits_, scheme=schemes, model=models)
def test_optimal_step(dist, bits, scheme, model):
    if dist is None:
        return
    out = call(qt.optimal_step, dist, bits, scheme=scheme, model=model)
    if out is not None:
        assert_finite(out, "optimal_step")
        assert out > 0


@SETTINGS
@given(
    dist=distributions(),
    bits=bits_,
    eps=steps,
    step=st.one_of(st.none(), any_float),
    taylor=st.booleans(),
    scheme=schemes,
)
def test_sensitivity(dist, bits, eps, step, taylor, scheme):
    if dist is None:
        return
    out = call(qt.sensitivity, dist, bits, eps, step=step, taylor=taylor, scheme=scheme)
    if out is not None:
        assert_finite(out, "sensitivity")


@SETTINGS
@given(dist=distributions(), step=steps, bits=bits_, scheme=schemes, model=models)
def test_sqnr_db(dist, step, bits, scheme, model):
    if dist is None:
        return
    out = call(qt.sqnr_db, dist, step, bits, scheme=scheme, model=model)
    if out is None:
        return
    arr = np.asarray(out, dtype=np.float64)
    assert not np.isnan(arr).any(), out
    if np.isinf(arr).any():
        # documented: +inf exactly where the MSE is 0 (data on the grid)
        assert dist._is_empirical, out
        assert np.all(arr[np.isinf(arr)] > 0), out
        mse = np.asarray(qt.mse(dist, step, bits, scheme=scheme, model=model))
        assert np.all(np.broadcast_to(mse, arr.shape)[np.isinf(arr)] == 0.0)


@SETTINGS
@given(
    dist=distributions(),
    step=any_float,
    bits=bits_,
    scheme=schemes,
    seed=st.integers(0, 9),
)
def test_monte_carlo_mse(dist, step, bits, scheme, seed):
    if dist is None:
        return
    out = call(qt.monte_carlo_mse, dist, step, bits, scheme=scheme, n=50, rng=seed)
    if out is not None:
        assert_finite([out.mean, out.stderr, out.std], "monte_carlo_mse")


# ---------------------------------------------------------------------------
# the quantizer
# ---------------------------------------------------------------------------


@SETTINGS
@given(step=steps, bits=bits_, scheme=schemes)
def test_levels_and_clipping_level(step, bits, scheme):
    out = call(qt.levels, step, bits, scheme)
    if out is not None:
        assert_finite(out, "levels")
        assert np.all(np.diff(out) > 0)  # distinct, ascending
    out = call(qt.clipping_level, step, bits, scheme)
    if out is not None:
        assert_finite(out, "clipping_level")


@SETTINGS
@given(
    x=st.lists(any_float, min_size=0, max_size=6),
    step=steps,
    bits=bits_,
    scheme=schemes,
    dtype=st.sampled_from([np.float16, np.float32, np.float64]),
)
def test_quantize(x, step, bits, scheme, dtype):
    with np.errstate(over="ignore"):  # the test's own cast, not the call
        arr = np.array(x, dtype=np.float64).astype(dtype)
    out = call(qt.quantize, arr, step, bits, scheme)
    if out is not None:
        assert_finite(out, "quantize")
        assert out.dtype == dtype
