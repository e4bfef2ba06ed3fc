r"""Exact empirical optimum for large and out-of-core data, in two passes.

The empirical MSE :math:`D(\Delta)=\frac1N\sum_i (x_i-Q_\Delta(x_i))^2` is a
sum over samples, so everything needed is a sum of per-chunk sufficient
statistics: the same code runs on an in-memory array, a memory-mapped one
(tile by tile) and a Dask array (a map-reduce over its blocks). In-memory and
memory-mapped data are cut into one contiguous part per usable core, each
walked in cache-sized tiles of :data:`TILE` samples in their own dtype
(float32 stays float32) on a thread of its own; the parts are combined in a
fixed order, so the result does not depend on thread timing.

On every piece of :math:`D` (no sample crosses a threshold) the sample
levels :math:`k_i` are fixed and

.. math::

    N D(\Delta) = C - 2 B \Delta + A \Delta^2,\qquad
    A=\sum_i k_i^2,\; B=\sum_i k_i x_i,\; C=\sum_i x_i^2 ,

where :math:`C` does not depend on the step: comparing steps needs only
:math:`A` and :math:`B`.

0. **Range**: :math:`N`, min and max (done by :class:`Empirical`).
1. **Histogram** (one pass): :math:`B_h` equal bins; per bin the count
   :math:`n_b` and the sum :math:`s_b=\sum x`. For any step, a bin that no
   decision threshold crosses adds exactly :math:`k_b^2 n_b` to :math:`A` and
   :math:`k_b s_b` to :math:`B`. Grids of steps are scored on these sums
   (bins that hold a threshold are split as if uniform), in
   :math:`O(2^M)` per step from prefix sums; they locate the basins of the
   minimum.
2. **Gather** (one pass): the samples in the bins that a decision threshold
   sweeps while the step moves through a narrow bracket around each basin.
   Every other bin keeps its level throughout the bracket, so :math:`A` and
   :math:`B` are exact sums of bin statistics plus the gathered samples.
   Sorting only the gathered samples, an exact sweep visits every quadratic
   piece of :math:`D` in the bracket and takes each piece's closed-form
   minimum :math:`B/A`; the best candidates are rescored exactly. If the
   best lies on an end of its bracket, the bracket moves there and pass 2
   runs again.

Complexity: two passes over the data, :math:`O(N)`; :math:`O(G\cdot 2^M)`
for the grids of :math:`G` steps; :math:`O(P\log P)` for the :math:`P`
gathered samples. Memory: the bins (:math:`2B_h` floats) plus one tile per
thread plus the gathered samples, independent of :math:`N`.
"""

from __future__ import annotations

import math

import numpy as np

from .._core.floats import dot
from .._core.minima import basins, require_step_dependence
from .._core.parallel import is_dask, map_reduce
from .._core.scheme import Scheme, level_index
from .sweep import piece_minima, search_top

__all__ = ["BINS", "streaming_optimal"]

#: Histogram bins.
BINS = 1 << 16


class _Hist:
    """Per-bin count and sum of the samples (pass 1), and the outliers.

    ``bins`` equal bins of width ``w`` on ``[lo, hi)`` sit at array positions
    1 to ``bins``. With ``overflow=True`` the samples outside the range (the
    outliers) are not binned but kept, sorted, in ``over`` (float64) with
    prefix sums, so that everything about them is exact; positions 0 and
    ``bins + 1`` stand for them and hold zeros. With ``overflow=False`` the
    range must hold every sample.
    """

    def __init__(self, x, lo: float, hi: float, bins: int = BINS, overflow=False):
        self.lo = lo
        self.w = (hi - lo) / bins if hi > lo else 1.0
        self.bins = bins
        self.size = bins + 2
        self._clip = (0, bins + 1) if overflow else (1, bins)
        self.centre = lo + (np.arange(-1, bins + 1) + 0.5) * self.w
        # float32 arithmetic would overflow near float32's largest values
        self._wide = max(abs(lo), abs(hi), hi - lo) > 1e37
        size, top = self.size, bins + 1

        def one(c):
            u = self.position(c)
            idx = u.astype(np.intp)
            cnt = np.bincount(idx, minlength=size)
            out = [cnt, np.bincount(idx, weights=c, minlength=size), []]
            if cnt[0] or cnt[top]:
                # u < 1 exactly when idx == 0, u >= top exactly when idx == top
                out[2].append(c[(u < 1) | (u >= top)])
            return out

        def comb(p, q):
            p[0] += q[0]
            p[1] += q[1]
            p[2] += q[2]
            return p

        cnt, s1, over = map_reduce(x, one, comb)
        cnt[[0, -1]] = 0
        s1[[0, -1]] = 0.0
        self.n = cnt.astype(np.float64)
        self.s1 = s1
        ld = np.longdouble
        self.over = np.sort(np.concatenate([np.empty(0), *over]).astype(np.float64))
        cover = np.cumsum(self.over, dtype=ld)
        self.cover = np.concatenate([[0.0], cover]).astype(np.float64)
        self.total = float(self.n.sum()) + self.over.size
        self.cn = np.concatenate([[0.0], np.cumsum(self.n, dtype=ld)]).astype(float)
        self.cs1 = np.concatenate([[0.0], np.cumsum(self.s1, dtype=ld)]).astype(float)

    def position(self, c: np.ndarray) -> np.ndarray:
        """Bin coordinate of each sample of a float32/64 tile (its integer
        part is the array position of the sample's bin).

        The arithmetic is in the tile's dtype and identical in both passes,
        so a sample lands in the same bin each time; a sample may sit up to
        a few ulps outside its bin's edges, which the one-bin margin of the
        active set absorbs.
        """
        if self._wide:
            c = c.astype(np.float64)
        t = c.dtype.type
        u = c - t(self.lo - self.w)
        u *= t(1.0 / self.w)
        np.clip(u, *self._clip, out=u)
        return u

    def bin_of(self, v):
        u = (np.asarray(v, dtype=np.float64) - self.lo) / self.w + 1.0
        return np.clip(np.floor(u), 0, self.size - 1).astype(np.intp)

    def _below(self, t: np.ndarray):
        """Count and sum of the samples below ``t`` (a bin that holds ``t`` is
        split as if its samples were spread uniformly around the bin's mean;
        the outliers are exact), and the count of the split bin."""
        u = (t - self.lo) / self.w + 1.0
        b = np.clip(np.floor(u), 1, self.bins).astype(np.intp)
        frac = np.clip(u - b, 0.0, 1.0)
        nb = self.n[b]
        p0 = self.cn[b] + frac * nb
        p1 = self.cs1[b] + frac * (self.s1[b] + nb * (frac - 1.0) * 0.5 * self.w)
        if self.over.size:
            j = np.searchsorted(self.over, t)
            p0 = p0 + j
            p1 = p1 + self.cover[j]
        return p0, p1, np.where((u >= 1.0) & (u < self.bins + 1.0), nb, 0.0)

    def approx_value(self, d: np.ndarray, s: Scheme):
        r""":math:`N D(\Delta) - C = A\Delta^2 - 2B\Delta` for each step from
        the histogram alone, and a bound on its error.

        Every bin that no threshold crosses is exact. In a bin of width
        :math:`w` that holds a threshold, moving a sample across the
        threshold changes its squared error by at most :math:`2\Delta w`
        (the two errors are equal on the threshold, their slopes differ by
        :math:`2\Delta`), so the error is at most
        :math:`2\Delta w\sum n_b` over those bins.
        """
        d = np.asarray(d, dtype=np.float64)
        # blocks of steps: O(block * 2^M) memory, whatever the bit-width
        block = max(1, (1 << 20) // s.indices().size)
        if d.size > block:
            parts = [
                self.approx_value(d[i : i + block], s) for i in range(0, d.size, block)
            ]
            return tuple(np.concatenate(p) for p in zip(*parts, strict=True))
        idx = s.indices()
        thr = s.thresholds()
        dd = d[:, None]
        p0, p1, nb = self._below(thr[None, :] * dd)  # (G, L-1)
        g = dd.shape[0]

        def per_cell(p, total):
            edge = [np.zeros((g, 1)), p, np.full((g, 1), total)]
            return np.diff(np.concatenate(edge, axis=1), axis=1)

        c0 = per_cell(p0, self.total)
        c1 = per_cell(p1, self.cs1[-1] + self.cover[-1])
        a = (c0 * (idx * idx)).sum(1)
        b = (c1 * idx).sum(1)
        d1 = dd[:, 0]
        err = 2.0 * d1 * self.w * nb.sum(1)
        return a * d1 * d1 - 2.0 * b * d1, err

    def power(self) -> float:
        r"""A lower bound of :math:`C=\sum x^2` (Cauchy-Schwarz per bin)."""
        nz = self.n > 0
        return float((self.s1[nz] ** 2 / self.n[nz]).sum() + dot(self.over, self.over))


def streaming_optimal(samples, s: Scheme, n: int, lo: float, hi: float):
    """Exact minimiser of the empirical MSE by the two-pass method.

    ``n``, ``lo``, ``hi`` are the sample count and range (pass 0, done by
    :class:`Empirical` at construction). Returns None where the method
    cannot vouch for its answer, and the caller then sorts the data: when a
    block subsample shows many repeated values (already quantized weights,
    constant data: the MSE is then a sawtooth in the step on the scale of
    the value grid, which the histogram cannot resolve), when a bracket
    cannot be shrunk below :data:`_ACTIVE_MAX` samples, or when the
    minimum is still on a bracket's end after :data:`_MAX_MOVES` moves.
    """
    d_hi = search_top(s, lo, hi)
    sub = _subsample(samples, n)
    if sub.size and np.count_nonzero(np.diff(sub) == 0) > _REPEATS * sub.size:
        return None
    hist = _histogram(samples, sub, lo, hi)
    grid = np.geomspace(d_hi * 2.0**-12, d_hi, 128)
    vals, _ = hist.approx_value(grid, s)
    floor = max(hist.power(), np.max(np.abs(vals)))
    require_step_dependence(vals, floor, "for these samples", s)
    found = [
        _refine(hist, s, grid[max(j - 2, 0)], grid[min(j + 2, grid.size - 1)])
        for j in basins(vals, 3)
    ]
    found = _plausible(found)
    brackets = [_bracket(hist, s, c) for c, _, _ in found]
    if None in brackets:
        return None
    return _exact_in_brackets(samples, s, hist, brackets)


def _histogram(samples, sub: np.ndarray, lo: float, hi: float) -> _Hist:
    """Pass 1. Equal bins over [min, max] are too coarse for heavy tails, so
    the bins cover the bulk (the 0.1 % and 99.9 % quantiles of a block
    subsample, twice as far from the median) and the few samples beyond
    are kept exactly. Should the subsample mislead and the outliers be too
    many, the pass is redone over [min, max]."""
    a, b = _core_range(sub, lo, hi)
    if a > lo or b < hi:
        hist = _Hist(samples, a, b, overflow=True)
        if hist.over.size <= _OVERFLOW_MAX:
            return hist
    return _Hist(samples, lo, hi)


def _subsample(samples, n: int) -> np.ndarray:
    """Sorted float64 sample of 64 evenly spaced blocks of 1024 values (all
    values if there are few); empty below 4096 values."""
    blocks, size = 64, 1024
    if n < 4096:
        return np.empty(0)
    flat = samples.ravel() if is_dask(samples) else samples.reshape(-1)
    if n <= 4 * blocks * size:
        parts = [flat]
    else:
        starts = [(n - size) * i // (blocks - 1) for i in range(blocks)]
        parts = [flat[a : a + size] for a in starts]
    if is_dask(samples):
        import dask

        parts = dask.compute(*parts)
    sub = np.concatenate([np.asarray(p, dtype=np.float64).ravel() for p in parts])
    sub.sort()
    return sub


def _core_range(sub: np.ndarray, lo: float, hi: float) -> tuple[float, float]:
    """The range the bins should cover (see :func:`_histogram`)."""
    if sub.size < 4096:
        return lo, hi
    q0, med, q1 = np.quantile(sub, [1e-3, 0.5, 1.0 - 1e-3])
    a = min(0.0, med - 2.0 * (med - q0))
    b = max(0.0, med + 2.0 * (q1 - med))
    a, b = max(lo, a), min(hi, b)
    if (b - a) * _REBIN >= hi - lo:
        return lo, hi  # no gain: plain bins over [min, max]
    return a, b


def _plausible(found):
    """Drop the basins that cannot hold the global minimum: those whose
    value less its error bound exceeds another's value plus its bound."""
    ceiling = min(v + e for _, v, e in found)
    return [f for f in found if f[1] - f[2] <= ceiling]


def _refine(hist: _Hist, s: Scheme, lo_d: float, hi_d: float):
    """Minimum of the histogram's value on [lo_d, hi_d] by three nested grids
    of 32 steps: ``(step, value, error bound)``."""
    for _ in range(3):
        fine = np.geomspace(lo_d, hi_d, 32)
        v, e = hist.approx_value(fine, s)
        i = int(np.argmin(v))
        lo_d, hi_d = fine[max(i - 2, 0)], fine[min(i + 2, fine.size - 1)]
    return fine[i], v[i], e[i]


def _bracket(
    hist: _Hist, s: Scheme, centre: float, r: float | None = None
) -> tuple[float, float]:
    """The widest bracket around ``centre`` (at most :data:`_BRACKET`
    relative) whose thresholds sweep at most ``_ACTIVE_MAX`` samples (counted
    on the histogram)."""
    thr = s.thresholds()
    cum = hist.cn
    r = _BRACKET if r is None else r
    while True:
        da, db = centre * (1 - r), centre * (1 + r)
        a, b = np.minimum(thr * da, thr * db), np.maximum(thr * da, thr * db)
        ba, bb = hist.bin_of(a), hist.bin_of(b)
        swept = float(
            (cum[np.minimum(bb + 2, hist.size)] - cum[np.maximum(ba - 1, 0)]).sum()
        )
        if swept <= _ACTIVE_MAX:
            return da, db
        if r < 1e-9:
            return None  # a spike of equal values: leave it to the sort
        r /= 2.0


#: Half-width of a bracket, relative. The histogram's minimiser is within
#: 1e-4 of the exact one on 1e7 Gaussian, Laplace and t3 samples at 2-8 bits
#: (7e-5 at most); a minimum found on a bracket's end moves the bracket.
_BRACKET = 4e-4

#: Bin only the bulk when it is this many times narrower than [min, max].
_REBIN = 4.0

#: Above this fraction of repeated values in the subsample the data go to
#: the sort (continuous float32 data repeat well under 1 %).
_REPEATS = 0.05

#: Outliers kept in pass 1 at most (else bins over [min, max]).
_OVERFLOW_MAX = 1 << 20

#: Samples that the exact sweep may gather (memory ~ 40 bytes each).
_ACTIVE_MAX = 1 << 20

#: Passes 2 at most: each moves a bracket whose best point is an end to that
#: end, twice as wide as before.
_MAX_MOVES = 12


def _gather(samples, s: Scheme, hist: _Hist, brackets):
    """Pass 2: the sorted samples of every bin some threshold sweeps in some
    bracket (plus one bin of margin), and the mask of the other bins."""
    # a threshold at 0 (midrise) never moves, but its bin holds two levels,
    # so it is gathered too
    thr = s.thresholds()
    active = np.zeros(hist.size, dtype=bool)
    for da, db in brackets:
        a, b = np.minimum(thr * da, thr * db), np.maximum(thr * da, thr * db)
        ba, bb = hist.bin_of(a), hist.bin_of(b)
        for x0, x1 in zip(
            np.maximum(ba - 1, 0), np.minimum(bb + 1, hist.size - 1), strict=True
        ):
            active[x0 : x1 + 1] = True

    active[[0, -1]] = False  # the outliers are kept already

    def pick(c):
        return [c[active.take(hist.position(c).astype(np.intp))]]

    parts = map_reduce(samples, pick, lambda p, q: p + q)
    xa = np.concatenate([*parts, hist.over]).astype(np.float64)
    xa.sort()
    fixed = ~active
    fixed[[0, -1]] = False
    return xa, fixed


def _exact_in_brackets(samples, s: Scheme, hist: _Hist, brackets):
    """The exact minimiser over the brackets, moving a bracket whose minimum
    is on an end; None if that is still so after :data:`_MAX_MOVES`."""
    seen: set[tuple[float, float]] = set()
    best = None
    for move in range(_MAX_MOVES):
        todo = [br for br in brackets if br not in seen]
        if not todo:
            break
        seen.update(todo)
        xa, fixed = _gather(samples, s, hist, todo)
        for da, db in todo:
            # the fixed bins keep their level over the whole bracket
            af, bf = _level_sums(hist, fixed, s, math.sqrt(da * db))
            cands = np.unique(_sweep_active(xa, s, af, bf, da, db, hist.total))
            vals = _exact_value(xa, s, af, bf, cands)
            # lowest exact MSE; among equal values the largest step
            i = np.lexsort((-cands, vals))[0]
            if best is None or (vals[i], -cands[i]) < (best[0], -best[1]):
                best = (vals[i], float(cands[i]))
        if any(da < best[1] < db for da, db in seen):
            return best[1]  # inside a bracket swept exactly
        # the minimum over the bracket is on its end: the true one may lie
        # beyond; centre a wider bracket there and gather again
        nxt = _bracket(hist, s, best[1], _BRACKET * 2.0 ** (move + 1))
        if nxt is None:
            return None
        brackets = [nxt]
    return None


def _level_sums(hist: _Hist, fixed: np.ndarray, s: Scheme, d: float):
    """A and B of the fixed bins (their level is the same all over a bracket)."""
    n, s1, m = hist.n[fixed], hist.s1[fixed], hist.centre[fixed]
    k = np.clip(np.rint(m / d - s.offset), s.kmin, s.kmax) + s.offset
    ld = np.longdouble
    a = (n.astype(ld) * k.astype(ld) ** 2).sum()
    b = (k.astype(ld) * s1.astype(ld)).sum()
    return a, b


def _exact_value(xa, s: Scheme, af, bf, cands) -> np.ndarray:
    r"""Exact :math:`A\Delta^2-2B\Delta` (i.e. :math:`N D - C`) at each
    candidate of one bracket: the fixed bins' sums ``af``, ``bf`` plus the
    gathered samples ``xa``.

    The samples' sums are taken once, in long double, at the first
    candidate; each other candidate adds only the few samples whose level
    differs there (integers times float64: exact products), so no
    candidate's value carries more rounding than one long-double sum.
    """
    ld = np.longdouble
    out = np.empty(cands.size, dtype=ld)
    k0 = level_index(xa, cands[0], s)
    a0 = af + ld(dot(k0, k0))  # integers below 2**53: exact
    b0 = bf + (k0.astype(ld) * xa).sum()
    for i, d in enumerate(cands):
        a, b = a0, b0
        if i:
            k = level_index(xa, d, s)
            ch = np.flatnonzero(k != k0)
            if ch.size:
                kc, k0c = k[ch], k0[ch]
                a = a + ld(dot(kc, kc) - dot(k0c, k0c))
                b = b + ((kc - k0c).astype(ld) * xa[ch]).sum()
        dl = ld(d)
        out[i] = a * dl * dl - 2 * b * dl
    return out


def _sweep_active(xa, s: Scheme, af, bf, da: float, db: float, n: float):
    """Piece minima on [da, db]: fixed bins' sums plus the gathered samples."""
    ld = np.longdouble
    k0 = level_index(xa, da, s)
    a0 = float(af + dot(k0, k0))  # quarter-integers below 2**53: exact
    b0 = float(bf + ld(dot(k0, xa)))
    # C is the same for every step: 0 here, since the values only rank
    return piece_minima(xa, s, da, db, a0, b0, 0.0, n)
