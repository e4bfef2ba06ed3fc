"""Arguments (issue 11, section 4): every bad one raises InvalidArgument that
names the function, the argument and its value; nothing raw escapes.

Before this section these raised TypeError (rng), OverflowError (bits of
2**70 or 1e20, in all nine public functions), ValueError (a step that does
not broadcast, ragged lists), MemoryError or ran for minutes (22 to 32 bits
on Empirical data), TypeError (a bfloat16 tensor), or silently accepted
``copy="no"`` and ignored the mask of a masked array.
"""

from __future__ import annotations

import re
import time

import numpy as np
import pytest
from registry import direct_mse

import quanttheory as qt
from quanttheory._core.checks import EMPIRICAL_MAX_BITS, MAX_BITS

G = qt.Gaussian()
U = qt.Uniform(1.0)


def raises(call, func, arg, shown):
    """``call()`` raises InvalidArgument starting ``<func>:``, naming ``arg``
    and showing ``shown``."""
    with pytest.raises(qt.InvalidArgument) as info:
        call()
    msg = str(info.value)
    assert msg.split(":", 1)[0].lower().endswith(func.lower()), msg
    assert re.search(rf"\b{re.escape(arg)}\b", msg), msg
    assert shown in msg, msg
    return msg


# ---------------------------------------------------------------------------
# rng
# ---------------------------------------------------------------------------

BAD_RNG = [("x", "'x'"), (1.5, "1.5"), (-1, "-1"), (True, "True"), ([1.5], "1.5")]


@pytest.mark.parametrize(("rng", "shown"), BAD_RNG)
def test_rng_that_is_no_seed_nor_generator(rng, shown):
    raises(lambda: G.sample(3, rng=rng), "sample", "rng", shown)
    raises(lambda: qt.Empirical([1.0, 2.0]).sample(3, rng=rng), "sample", "rng", shown)
    raises(
        lambda: qt.monte_carlo_mse(G, 0.3, 4, n=10, rng=rng),
        "monte_carlo_mse",
        "rng",
        shown,
    )


def test_good_rngs_are_accepted():
    # the same stream as numpy's own default_rng for every accepted form
    want = np.random.default_rng(7).normal(size=3)
    for rng in (7, np.int64(7), np.random.default_rng(7), np.random.SeedSequence(7)):
        assert np.array_equal(G.sample(3, rng=rng), want)
    assert G.sample(2, rng=None).shape == (2,)


# ---------------------------------------------------------------------------
# bits
# ---------------------------------------------------------------------------

PUBLIC = {
    "mse": lambda b: qt.mse(G, 0.3, b),
    "mse_derivative": lambda b: qt.mse_derivative(G, 0.3, b),
    "optimal_step": lambda b: qt.optimal_step(G, b),
    "sensitivity": lambda b: qt.sensitivity(G, b, 0.001),
    "sqnr_db": lambda b: qt.sqnr_db(G, 0.3, b),
    "levels": lambda b: qt.levels(0.3, b),
    "clipping_level": lambda b: qt.clipping_level(0.3, b),
    "quantize": lambda b: qt.quantize([0.1], 0.3, b),
    "monte_carlo_mse": lambda b: qt.monte_carlo_mse(G, 0.3, b, n=10),
}


@pytest.mark.parametrize("func", sorted(PUBLIC))
@pytest.mark.parametrize(
    ("bits", "shown"),
    [(2**70, "1180591620717411303424"), (1e20, "1e+20"), (65, "65"), (np.inf, "inf")],
)
def test_huge_bits_are_refused_everywhere(func, bits, shown):
    # before: OverflowError ("too many digits in integer") in all nine
    msg = raises(lambda: PUBLIC[func](bits), func, "bits", shown)
    if bits != np.inf:
        assert f"to {MAX_BITS}" in msg


def test_sixty_four_bits_work():
    # the largest accepted bit-width; 0 is a level, so 0 < MSE <= E[X^2] = 1
    assert 0 < qt.mse(G, 1e-15, MAX_BITS) <= 1.0
    assert qt.optimal_step(G, MAX_BITS) > 0


def test_bits_above_the_empirical_limit_are_refused_fast():
    # before: 22 bits on 1,000 samples took 115 s and 17 GB, 32 bits a
    # MemoryError; now a documented limit, checked before any work
    x = np.random.default_rng(0).normal(size=1000)
    for bits in (EMPIRICAL_MAX_BITS + 1, 22, 32):
        t0 = time.perf_counter()
        raises(lambda b=bits: qt.optimal_step(x, b), "optimal_step", "bits", str(bits))
        raises(
            lambda b=bits: qt.sensitivity(qt.Empirical(x), b, 0.001),
            "optimal_step",
            "bits",
            str(bits),
        )
        assert time.perf_counter() - t0 < 5.0  # refused up front, not computed
    assert EMPIRICAL_MAX_BITS == 16


def test_the_empirical_mse_takes_any_bit_width():
    # the MSE on data costs O(N) per step at any bit-width: brute force at 40
    # bits (registry.direct_mse, float64 on 200 samples: 1e-12 relative)
    x = np.random.default_rng(1).normal(size=200)
    step = 1e-10
    assert qt.mse(x, step, 40) == pytest.approx(direct_mse(x, step, 40, "paper"), 1e-12)


def test_levels_are_bounded():
    # levels returns every level: at most 24 bits (2**24 + 1 floats)
    raises(lambda: qt.levels(0.3, 25), "levels", "bits", "25")
    assert qt.levels(2.0**-20, 24).size == 2**24 + 1


# ---------------------------------------------------------------------------
# shapes, ragged lists, masks, copy
# ---------------------------------------------------------------------------


def test_a_step_that_does_not_broadcast():
    # before: numpy's raw "shape mismatch" ValueError
    raises(
        lambda: qt.quantize(np.ones((3, 4)), np.full(3, 0.1), 4),
        "quantize",
        "step",
        "(3,)",
    )


RAGGED = [[1.0, 2.0], [3.0]]


@pytest.mark.parametrize(
    ("call", "func", "arg"),
    [
        (lambda: qt.Empirical(RAGGED), "Empirical", "samples"),
        (lambda: qt.quantize(RAGGED, 0.1, 4), "quantize", "x"),
        (lambda: qt.mse(G, RAGGED, 4), "mse", "step"),
        (lambda: qt.levels(RAGGED, 4), "levels", "step"),
        (lambda: qt.clipping_level(RAGGED, 4), "clipping_level", "step"),
        (lambda: qt.sensitivity(G, 4, RAGGED), "sensitivity", "eps"),
        (lambda: qt.optimal_step(RAGGED, 4), "optimal_step", "dist"),
        (lambda: qt.sqnr_db(RAGGED, 0.1, 4), "sqnr_db", "dist"),
        (lambda: G.pdf(RAGGED), "pdf", "x"),
        (lambda: G.cdf(RAGGED), "cdf", "x"),
    ],
)
def test_ragged_nested_lists(call, func, arg):
    # before: numpy's raw "inhomogeneous shape" ValueError
    msg = raises(call, func, arg, "[[1.0, 2.0], [3.0]]")
    assert "ragged" in msg


def test_copy_must_be_a_bool():
    # before: "no" was taken as true
    raises(lambda: qt.Empirical([1.0, 2.0], copy="no"), "Empirical", "copy", "'no'")
    raises(lambda: qt.Empirical([1.0, 2.0], copy=None), "Empirical", "copy", "None")
    x = np.array([1.0, 2.0])
    assert qt.Empirical(x, copy=False).samples is not None


def test_masked_samples_use_only_the_unmasked_values():
    # decision: the mask is honoured (before: the masked 1e9 was used)
    x = np.ma.masked_array([1.0, -2.0, 1e9, np.nan], mask=[0, 0, 1, 1])
    e = qt.Empirical(x)
    assert (e.n, e.min, e.max) == (2, -2.0, 1.0)
    plain = np.array([1.0, -2.0])
    assert qt.optimal_step(x, 2) == qt.optimal_step(plain, 2)
    # brute force on the unmasked values; float64 on two samples: 1e-15
    assert qt.mse(x, 0.7, 2) == pytest.approx(direct_mse(plain, 0.7, 2, "paper"), 1e-15)
    raises(
        lambda: qt.Empirical(np.ma.masked_array([1.0], mask=[1])),
        "Empirical",
        "samples",
        "empty",
    )


def test_masked_arguments_other_than_data_are_refused():
    # a masked step or eps has no value to use where it is masked
    step = np.ma.masked_array([0.1, 0.2], mask=[0, 1])
    raises(lambda: qt.mse(G, step, 4), "mse", "step", "masked")
    raises(lambda: qt.sensitivity(G, 4, step), "sensitivity", "eps", "masked")
    # a mask with nothing masked is plain data
    assert qt.mse(G, np.ma.masked_array([0.3]), 4) == qt.mse(G, [0.3], 4)


def test_masked_quantize_keeps_the_mask():
    # masked entries are not read (NaN there is fine) and stay masked; the
    # others are the nearest levels of step 0.25 (exact binary fractions)
    x = np.ma.masked_array([0.1, 0.26, np.nan, 5.0], mask=[0, 0, 1, 0])
    q = qt.quantize(x, 0.25, 3)
    assert isinstance(q, np.ma.MaskedArray)
    assert q.mask.tolist() == [False, False, True, False]
    assert q.compressed().tolist() == [0.0, 0.25, 1.0]


def test_not_a_distribution():
    raises(lambda: qt.mse(3.0, 0.1, 4), "mse", "dist", "3.0")
    raises(lambda: qt.optimal_step("gauss", 4), "optimal_step", "dist", "'gauss'")
    raises(lambda: qt.optimal_step([], 4), "optimal_step", "dist", "empty")
    raises(lambda: qt.mse([1.0, np.nan], 0.1, 4), "mse", "dist", "nan")
