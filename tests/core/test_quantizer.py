"""The level sets and the vectorised quantizer against hand-written examples.

Expected values are written out by hand from the design table of level sets
(``K = 2**(bits - 1)``):

========== ============================ ======
scheme     k range                      offset
========== ============================ ======
paper      -K .. K                       0
midrise    -K .. K-1                     1/2
signed     -K .. K-1                     0
symmetric  -(K-1) .. K-1                 0
========== ============================ ======

Steps are powers of two where exact equality is asserted, so every level is an
exact double and the comparisons carry no rounding at all. Randomised
properties (nearest level, idempotence, dtypes) live in
``tests/api/test_properties.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
from registry import SCHEMES, min_bits, scheme_table

import quanttheory as qt

# ---------------------------------------------------------------------------
# levels
# ---------------------------------------------------------------------------

# Hand-written level sets, step 0.5 (levels are exact binary fractions).
LEVELS_BY_HAND = [
    ("paper", 1, [-0.5, 0.0, 0.5]),
    ("paper", 2, [-1.0, -0.5, 0.0, 0.5, 1.0]),
    ("midrise", 1, [-0.25, 0.25]),
    ("midrise", 2, [-0.75, -0.25, 0.25, 0.75]),
    ("signed", 1, [-0.5, 0.0]),
    ("signed", 2, [-1.0, -0.5, 0.0, 0.5]),
    ("symmetric", 2, [-0.5, 0.0, 0.5]),
    ("symmetric", 3, [-1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5]),
]


@pytest.mark.parametrize(("scheme", "bits", "expected"), LEVELS_BY_HAND)
def test_levels_by_hand(scheme, bits, expected):
    got = qt.levels(0.5, bits, scheme)
    # step 0.5 and small k: every level is an exact double, so equality is exact
    assert got.dtype == np.float64
    assert got.tolist() == expected


@pytest.mark.parametrize(
    ("scheme", "bits"),
    [(s, b) for s in SCHEMES for b in (1, 2, 3, 5, 8, 12) if b >= min_bits(s)],
)
def test_levels_count_spacing_and_range(scheme, bits):
    step = 0.375  # 3/8: k * step is exact for |k| < 2**50
    got = qt.levels(step, bits, scheme)
    kmin, kmax, off = scheme_table(scheme, bits)
    n_expected = {
        "paper": 2**bits + 1,
        "midrise": 2**bits,
        "signed": 2**bits,
        "symmetric": 2**bits - 1,
    }[scheme]
    assert got.size == n_expected == kmax - kmin + 1
    # exact: (k + o) * 3/8 is a short binary fraction
    assert np.array_equal(got, (np.arange(kmin, kmax + 1) + off) * step)
    # ascending with the exact spacing step (differences of exact doubles)
    assert np.all(np.diff(got) == step)
    has_zero = scheme != "midrise"
    assert (0.0 in got) is has_zero
    if scheme != "signed":
        # symmetric about 0, exactly
        assert np.array_equal(got, -got[::-1])


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("bits", [2, 4, 8])
def test_clipping_level_is_largest_level(scheme, bits):
    step = 0.25
    top = {
        "paper": 2 ** (bits - 1),
        "midrise": 2 ** (bits - 1) - 0.5,
        "signed": 2 ** (bits - 1) - 1,
        "symmetric": 2 ** (bits - 1) - 1,
    }[scheme]
    c = qt.clipping_level(step, bits, scheme)
    # power-of-two step times a small (half-)integer: exact
    assert isinstance(c, float)
    assert c == top * step == qt.levels(step, bits, scheme)[-1]


def test_clipping_level_vectorised_over_step():
    steps = np.array([[0.25, 0.5], [1.0, 2.0]])
    got = qt.clipping_level(steps, 3, "paper")
    assert got.shape == (2, 2)
    # 4 * power of two: exact
    assert np.array_equal(got, 4.0 * steps)


# ---------------------------------------------------------------------------
# quantize: examples
# ---------------------------------------------------------------------------


def test_quantize_paper_examples_with_clipping():
    x = np.array([-3.0, -1.2, -0.26, 0.0, 0.24, 0.25, 0.75, 0.9, 3.0])
    # 2-bit 'paper', step 0.5: levels -1, -0.5, 0, 0.5, 1; inputs beyond +-1
    # clip; 0.25 and 0.75 are ties (index 0.5 -> 0 and 1.5 -> 2, half to even)
    expected = [-1.0, -1.0, -0.5, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0]
    assert qt.quantize(x, 0.5, 2).tolist() == expected  # exact doubles


@pytest.mark.parametrize(
    ("scheme", "x", "expected"),
    [
        # ties on x / step = j + 1/2 go to the even index j or j + 1
        ("paper", [0.5, 1.5, 2.5, 3.5, -0.5, -1.5, -2.5], [0, 2, 2, 4, 0, -2, -2]),
        # midrise levels (k + 1/2): ties at integer x; x - 1/2 is rounded
        # half to even, so 1 -> index 0 (level 0.5), 2 -> 2 (2.5), 3 -> 2 (2.5)
        ("midrise", [1.0, 2.0, 3.0, -1.0, -2.0], [0.5, 2.5, 2.5, -1.5, -1.5]),
        ("signed", [0.5, 1.5, -0.5, -1.5, -2.5], [0, 2, 0, -2, -2]),
        ("symmetric", [0.5, 1.5, -2.5, 2.5], [0, 2, -2, 2]),
    ],
)
def test_quantize_rounds_ties_half_to_even(scheme, x, expected):
    got = qt.quantize(np.array(x), 1.0, 4, scheme)
    # step 1, 4 bits: no clipping here; levels are small integers, exact
    assert got.tolist() == [float(v) for v in expected]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_quantize_infinite_input_goes_to_outermost_level(scheme):
    lv = qt.levels(0.5, 3, scheme)
    got = qt.quantize(np.array([np.inf, -np.inf]), 0.5, 3, scheme)
    # the nearest level of +-inf is the outermost one; exact doubles
    assert got.tolist() == [lv[-1], lv[0]]


def test_quantize_step_broadcasts_per_channel():
    x = np.array([[0.3, 0.3, 0.3], [-0.9, -0.9, -0.9]])
    steps = np.array([0.25, 0.5, 1.0])  # one step per column
    got = qt.quantize(x, steps, 2)
    # by hand: 0.3 -> 0.25 / 0.5 / 0.0; -0.9 -> -0.5 (clipped at -2*0.25),
    # -1.0, -1.0
    expected = [[0.25, 0.5, 0.0], [-0.5, -1.0, -1.0]]
    assert got.shape == (2, 3)
    assert got.tolist() == expected  # power-of-two steps: exact


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_quantize_keeps_float_dtype_and_shape(dtype):
    x = np.linspace(-2, 2, 24, dtype=dtype).reshape(2, 3, 4)
    got = qt.quantize(x, 0.25, 3)
    assert got.dtype == dtype
    assert got.shape == (2, 3, 4)


def test_quantize_integer_and_bool_input_become_float64():
    got = qt.quantize(np.array([1, 2, 7], dtype=np.int32), 2.0, 2)
    assert got.dtype == np.float64
    # 1 -> tie at index 0.5 -> 0; 2 -> 2; 7 -> clipped at 2 * 2 = 4; exact
    assert got.tolist() == [0.0, 2.0, 4.0]
    got_b = qt.quantize(np.array([True, False]), 1.0, 2)
    assert got_b.dtype == np.float64
    assert got_b.tolist() == [1.0, 0.0]


def test_quantize_empty_and_zero_dim():
    assert qt.quantize(np.empty((0, 3)), 1.0, 4).shape == (0, 3)
    got = qt.quantize(0.7, 0.5, 4)
    assert np.shape(got) == ()
    assert float(got) == 0.5  # 0.7 / 0.5 = 1.4 -> 1; exact


def test_quantize_matches_levels_exactly_float64():
    # every output of a float64 quantization is bit-identical to an entry of
    # levels(): both are (k + o) * step in float64
    step = 0.1  # not a power of two on purpose
    x = np.linspace(-1.0, 1.0, 2001)
    for scheme in SCHEMES:
        got = qt.quantize(x, step, 3, scheme)
        assert np.isin(got, qt.levels(step, 3, scheme)).all(), scheme


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("scheme", ["paper", "midrise", "signed", "symmetric"])
def test_tiled_threaded_route_is_bit_identical(dtype, scheme, monkeypatch):
    # large contiguous arrays with one step are quantized tile by tile on a
    # thread per core: the same operations in the same dtype, so the result
    # must equal the one-shot route bit for bit (infinities included)
    import quanttheory._core.quantizer as quantizer

    rng = np.random.default_rng(7)
    x = (3 * rng.standard_normal((1200, 1000))).astype(dtype)
    x[0, :2] = np.inf, -np.inf
    monkeypatch.setattr(quantizer, "_TILED_MIN", 1 << 10)
    tiled = qt.quantize(x, 0.37, 4, scheme)
    assert quantizer._tiled(x, 0.37)
    monkeypatch.setattr(quantizer, "_TILED_MIN", 1 << 40)
    plain = qt.quantize(x, 0.37, 4, scheme)
    assert tiled.dtype == plain.dtype == x.dtype
    assert tiled.shape == plain.shape == x.shape
    np.testing.assert_array_equal(tiled, plain)


def test_tiled_route_rejects_nan_and_keeps_broadcast_shape(monkeypatch):
    import quanttheory._core.quantizer as quantizer

    monkeypatch.setattr(quantizer, "_TILED_MIN", 1 << 10)
    x = np.linspace(-2, 2, 50_000, dtype=np.float32)
    x[-1] = np.nan  # in the last tile of the last thread
    with pytest.raises(qt.InvalidArgument, match="quantize: x contains NaN"):
        qt.quantize(x, 0.5, 3)
    x[-1] = 1.0
    # a (1, 1) step broadcasts x to (1, N): that case keeps the plain route
    assert qt.quantize(x, np.array([[0.5]]), 3).shape == (1, x.size)
