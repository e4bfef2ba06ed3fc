r"""The two O(N) passes of the exact engine, compiled where numba is installed.

* :func:`histogram`: per-bin weighted count, sum and sum of squares, the
  sums centred at each bin's midpoint (no :math:`S_2 - 2cS_1 + c^2n`
  cancellation later), bins cut on the float's bits (bit shifts only);
* :func:`gather`: the samples (and weights) of the marked bins.

Both run in one loop over the tile with numba (the optional extra
``quanttheory[fast]``) and in a few vectorised numpy passes otherwise. The
two paths give **bit-identical** results: every per-bin sum is accumulated
sequentially in sample order in float64 into one accumulator per part of
the data (not per tile), from the
same float64 operations (no fast-math, no fused multiply-add), the numpy
path with ``np.add.at``, which adds element by element in order. Set the
environment variable ``QUANTTHEORY_NO_NUMBA=1`` (or :data:`USE_NUMBA` to
False) to force the numpy path.

Complexity: :math:`O(n)` per tile of :math:`n` samples, :math:`O(\text{bins})`
memory (numpy path: a few tile-sized temporaries).
"""

from __future__ import annotations

import os

import numpy as np

__all__ = ["HAVE_NUMBA", "USE_NUMBA", "bin_index", "gather", "histogram"]

try:  # pragma: no cover - depends on the environment
    if os.environ.get("QUANTTHEORY_NO_NUMBA"):
        raise ImportError("disabled by QUANTTHEORY_NO_NUMBA")
    import numba as _nb
except ImportError:  # pragma: no cover - depends on the environment
    _nb = None

#: numba is importable (and not disabled by ``QUANTTHEORY_NO_NUMBA``).
HAVE_NUMBA = _nb is not None

#: Use the compiled loops (tests set it to False to run the numpy path).
USE_NUMBA = HAVE_NUMBA


def bin_index(bits: np.ndarray, shift: int, kfloor: int, half: int) -> np.ndarray:
    """Bin of each sample from its float bits (``bits``: the int view).

    Magnitude bins ``(|bits| >> shift) - kfloor`` (clipped at 0), positive
    values at ``half + k``, negative ones mirrored at ``half - 1 - k``."""
    mask = np.array(np.iinfo(bits.dtype).max, bits.dtype)
    k = ((bits & mask) >> shift).astype(np.intp)
    k -= kfloor
    np.clip(k, 0, None, out=k)
    return np.where(bits < 0, half - 1 - k, half + k)


def _np_histogram(x, bits, w, shift, kfloor, half, mid, acc):
    k = bin_index(bits, shift, kfloor, half)
    dx = x.astype(np.float64)
    dx -= mid[k]
    # np.add.at adds unbuffered, element by element in sample order: the
    # same float64 sums as the compiled loop
    np.add.at(acc[:, 0], k, 1.0 if w is None else w)
    if w is not None:
        dx *= w
        np.add.at(acc[:, 1], k, dx)
        dx *= x.astype(np.float64) - mid[k]
    else:
        np.add.at(acc[:, 1], k, dx)
        dx *= dx
    np.add.at(acc[:, 2], k, dx)


def _np_gather(x, bits, w, shift, kfloor, half, mark):
    sel = mark[bin_index(bits, shift, kfloor, half)]
    return x[sel], (None if w is None else w[sel])


if _nb is not None:  # pragma: no branch
    # one (bins, 3) accumulator: a bin's three sums share a cache line
    @_nb.njit(cache=True, nogil=True, inline="always")
    def _nb_bin(b, am, shift, kfloor, half):  # pragma: no cover
        # the bin of one sample from its float bits, as bin_index
        k = np.intp((b & am) >> shift) - kfloor
        if k < 0:
            k = 0
        return half - 1 - k if b < 0 else half + k

    @_nb.njit(cache=True, nogil=True)
    def _nb_hist(x, bits, am, shift, kfloor, half, mid, acc):  # pragma: no cover
        for i in range(x.size):
            j = _nb_bin(bits[i], am, shift, kfloor, half)
            d = np.float64(x[i]) - mid[j]
            acc[j, 0] += 1.0
            acc[j, 1] += d
            acc[j, 2] += d * d

    @_nb.njit(cache=True, nogil=True)
    def _nb_hist_w(x, bits, am, w, shift, kfloor, half, mid, acc):  # pragma: no cover
        for i in range(x.size):
            j = _nb_bin(bits[i], am, shift, kfloor, half)
            d = np.float64(x[i]) - mid[j]
            wd = w[i] * d
            acc[j, 0] += w[i]
            acc[j, 1] += wd
            acc[j, 2] += wd * d

    @_nb.njit(cache=True, nogil=True)
    def _nb_count(bits, am, shift, kfloor, half, mark):  # pragma: no cover
        m = 0
        for i in range(bits.size):
            j = _nb_bin(bits[i], am, shift, kfloor, half)
            if mark[j]:
                m += 1
        return m

    @_nb.njit(cache=True, nogil=True)
    def _nb_gather(x, bits, am, shift, kfloor, half, mark, out):  # pragma: no cover
        m = 0
        for i in range(x.size):
            j = _nb_bin(bits[i], am, shift, kfloor, half)
            if mark[j]:
                out[m] = i
                m += 1
        return m


def _am(bits):
    return bits.dtype.type(np.iinfo(bits.dtype).max)


def histogram(x, w, shift: int, kfloor: int, half: int, mid: np.ndarray, acc):
    """Add one tile's per-bin ``(count, sum (x - mid), sum (x - mid)^2)``
    (weighted by ``w`` if given) to ``acc`` (float64, ``(bins, 3)``), in
    sample order. :math:`O(n)`, no tile-sized temporary with numba."""
    bits = x.view(np.int32 if x.dtype == np.float32 else np.int64)
    if not (USE_NUMBA and HAVE_NUMBA):
        _np_histogram(x, bits, w, shift, kfloor, half, mid, acc)
    elif w is None:
        _nb_hist(x, bits, _am(bits), shift, kfloor, half, mid, acc)
    else:
        _nb_hist_w(x, bits, _am(bits), w, shift, kfloor, half, mid, acc)


def gather(x, w, shift: int, kfloor: int, half: int, mark: np.ndarray):
    """The samples of one tile (and their weights) whose bin is marked, in
    sample order. :math:`O(n)`; with numba a counting pass first, so that
    the only allocation is the output."""
    bits = x.view(np.int32 if x.dtype == np.float32 else np.int64)
    if not (USE_NUMBA and HAVE_NUMBA):
        return _np_gather(x, bits, w, shift, kfloor, half, mark)
    am = _am(bits)
    idx = np.empty(_nb_count(bits, am, shift, kfloor, half, mark), dtype=np.intp)
    _nb_gather(x, bits, am, shift, kfloor, half, mark, idx)
    return x[idx], (None if w is None else w[idx])
