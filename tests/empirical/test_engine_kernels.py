"""The compiled passes of :mod:`quanttheory._empirical.kernels` (numba, the
optional ``fast`` extra) against their pure-numpy fallback: bit-identical
per-bin sums and gathered samples, so the optimum cannot depend on whether
numba is installed. The fallback is the reference: ``np.bincount`` adds
sequentially in sample order, as the compiled loop does."""

from __future__ import annotations

import numpy as np
import pytest

import quanttheory as qt
from quanttheory._core.scheme import get_scheme
from quanttheory._empirical import bound, kernels

# these tests are about the 1-D engine (tests/empirical/conftest.py)
pytestmark = pytest.mark.usefixtures("one_d_engine")


needs_numba = pytest.mark.skipif(not kernels.HAVE_NUMBA, reason="numba not installed")


def _data(dtype, n=50_000, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_t(3, n)
    x[:6] = [0.0, -0.0, 1e-30, -1e-30, 1e4, -3e3]  # zeros, tiny and far values
    return x.astype(dtype)


def _both(monkeypatch, fn):
    monkeypatch.setattr(kernels, "USE_NUMBA", False)
    ref = fn()
    monkeypatch.setattr(kernels, "USE_NUMBA", True)
    return ref, fn()


@needs_numba
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weighted", [False, True])
def test_histogram_and_gather_bit_identical(monkeypatch, dtype, weighted):
    x = _data(dtype)
    w = np.random.default_rng(1).uniform(0, 2, x.size) if weighted else None
    s = get_scheme("test", "midrise", 4)
    lo, hi = float(x.min()), float(x.max())

    def hist():
        bins, at, keep = bound.histogram_atoms(x, w, lo, hi, s, x.size)
        return bins, at, keep

    (b0, a0, k0), (_, a1, k1) = _both(monkeypatch, hist)
    np.testing.assert_array_equal(k0, k1)
    for name in ("a", "c", "n", "s1", "s2"):
        # bit for bit: the same float64 operations in the same order
        np.testing.assert_array_equal(getattr(a0, name), getattr(a1, name))
    mark = np.zeros(b0.size, dtype=bool)
    mark[::3] = True

    def gat():
        return bound._gather(x, w, b0, mark)

    (x0, w0), (x1, w1) = _both(monkeypatch, gat)
    np.testing.assert_array_equal(x0, x1)
    assert x0.size > 0
    if weighted:
        np.testing.assert_array_equal(w0, w1)


@needs_numba
def test_optimum_identical_with_and_without_numba(monkeypatch):
    x = _data(np.float32, 200_000, seed=3)
    monkeypatch.setattr(bound, "SORT_MAX", 0)
    for bits, scheme in [(2, "signed"), (4, "paper"), (8, "midrise")]:

        def run(bits=bits, scheme=scheme):
            return qt.optimal_step(qt.Empirical(x), bits, scheme=scheme)

        a, b = _both(monkeypatch, run)
        assert a == b  # identical sums, identical search


def test_bin_index_of_signed_zero_and_tiny_values():
    # -0.0 goes to the negative floor bin, +0.0 to the positive one; values
    # below the floor share it (k clipped at 0)
    x = np.array([0.0, -0.0, 1e-30, -1e-30], dtype=np.float32)
    k = kernels.bin_index(x.view(np.int32), 16, 10_000, 50)
    assert k.tolist() == [50, 49, 50, 49]
