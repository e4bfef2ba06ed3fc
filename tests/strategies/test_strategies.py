"""``quanttheory.strategies``: the strategies themselves, and the package's own
properties stated through them (as a user would write them)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import quanttheory as qt
from quanttheory import strategies as qst

# each example runs optimal_step or a few MSE evaluations: keep them small
FAST = settings(max_examples=25, deadline=None)


@FAST
@given(qst.bit_widths(2, 6))
def test_bit_widths_in_range(bits):
    assert 2 <= bits <= 6


@FAST
@given(qst.schemes(exclude=["paper"]))
def test_schemes_are_valid_and_exclusion_works(scheme):
    assert scheme in qt.SCHEMES
    assert scheme != "paper"


@FAST
@given(qst.distributions(min_variance=0.5, max_variance=2.0))
def test_distributions_have_variance_in_range(dist):
    assert isinstance(dist, qt.Distribution)
    # variance drawn log-uniformly in [0.5, 2]; the families' variances are
    # closed forms of their scale, rounding only
    assert 0.5 * (1 - 1e-12) <= dist.variance <= 2.0 * (1 + 1e-12)


@FAST
@given(qst.tensors(qt.Laplace(1.0), shape=(3, 5), dtype=np.float32))
def test_tensors_shape_dtype(x):
    assert x.shape == (3, 5)
    assert x.dtype == np.float32
    assert np.isfinite(x).all()


def test_bad_strategy_arguments_raise():
    with pytest.raises(qt.InvalidArgument, match="bit_widths"):
        qst.bit_widths(3, 2)
    with pytest.raises(qt.InvalidArgument, match="schemes"):
        qst.schemes(exclude=qt.SCHEMES)
    with pytest.raises(qt.InvalidArgument, match="distributions"):
        qst.distributions(min_variance=-1.0)
    with pytest.raises(qt.InvalidArgument, match="steps"):
        qst.steps(qt.Gaussian(), 4, min_ratio=2.0, max_ratio=1.0)


# --- the theory's invariants, stated with the user-facing strategies --------


@FAST
@given(
    dist=qst.distributions(["uniform", "gaussian", "laplace"]),
    bits=qst.bit_widths(1, 6),
    scheme=qst.schemes(exclude=["symmetric"]),
    data=st.data(),
)
def test_optimal_step_beats_every_drawn_step(dist, bits, scheme, data):
    d0 = qt.optimal_step(dist, bits, scheme=scheme)
    step = data.draw(qst.steps(dist, bits, scheme))
    # exact MSE at the global minimiser is <= anywhere; 1e-12 relative slack
    # for the two evaluations' rounding
    best = qt.mse(dist, d0, bits, scheme=scheme)
    assert best <= qt.mse(dist, step, bits, scheme=scheme) * (1 + 1e-12)


@FAST
@given(
    x=qst.tensors(shape=(64,), dtype=np.float64),
    bits=qst.bit_widths(1, 8),
    scheme=qst.schemes(exclude=["symmetric"]),
    ratio=st.floats(0.05, 20.0),
)
def test_quantizer_idempotent_and_empirical_mse_is_the_mean(x, bits, scheme, ratio):
    step = ratio * (float(np.std(x)) + 1e-3)
    q = qt.quantize(x, step, bits, scheme)
    np.testing.assert_array_equal(qt.quantize(q, step, bits, scheme), q)  # exact
    direct = float(np.mean((x - q) ** 2))
    # both sum the same float64 squares; pairwise vs dot order: 1e-12 relative
    got = qt.mse(qt.Empirical(x), step, bits, scheme=scheme)
    assert got == pytest.approx(direct, rel=1e-12, abs=1e-300)


def users_step_finder(x: np.ndarray, bits: int) -> float:
    """A user's calibrator: golden-section search of the empirical MSE."""
    from scipy import optimize

    top = 2 ** (bits - 1)
    hi = float(np.max(np.abs(x))) / top * 1.5
    res = optimize.minimize_scalar(
        lambda s: float(np.mean((x - qt.quantize(x, s, bits, "signed")) ** 2)),
        bounds=(hi / 50, hi),
        method="bounded",
    )
    return float(res.x)


@FAST
@given(
    x=qst.tensors(qt.Gaussian(1.0), shape=(2000,), dtype=np.float64),
    bits=qst.bit_widths(2, 6),
)
def test_a_users_calibrator_against_the_exact_optimum(x, bits):
    # The how-to's pattern: a user's step is never better than optimal_step,
    # and we measure how much worse it is.
    emp = qt.Empirical(x)
    exact = qt.mse(
        emp, qt.optimal_step(emp, bits, scheme="signed"), bits, scheme="signed"
    )
    mine = qt.mse(emp, users_step_finder(x, bits), bits, scheme="signed")
    assert exact <= mine * (1 + 1e-12)  # global minimiser; rounding slack
    # a local bounded search lands within a few percent on Gaussian data
    assert mine <= exact * 1.10
