r"""Exact empirical optimum for large and out-of-core data, in three passes.

The empirical MSE :math:`D(\Delta)=\frac1N\sum_i (x_i-Q_\Delta(x_i))^2` is a
sum over samples; everything we need is a sum of per-chunk sufficient
statistics, so the same code runs on an in-memory array, a memory-mapped one
(chunk by chunk) and a Dask array (a map-reduce over its blocks).

1. **Range** (one pass): :math:`N`, min, max, and a check for NaN/inf.
2. **Histogram of centred moments** (one pass): :math:`B` equal bins; per bin
   the count :math:`n_b`, :math:`\sum (x-m_b)` and :math:`\sum (x-m_b)^2`
   about the bin centre :math:`m_b`. For any step, the samples of a bin that
   no decision threshold crosses contribute exactly
   :math:`n_b(m_b-c)^2 + 2(m_b-c)\sum(x-m_b) + \sum(x-m_b)^2` to the cell of
   level :math:`c`, with no cancellation (:math:`|m_b-c|\le\Delta/2+w`). A
   coarse and a fine grid of steps, scored on this histogram (bins assigned
   whole to the level of their centre; relative error about
   :math:`2^M (w/\Delta)(w/\sigma)`), locate the basin of the minimum.
3. **Gather** (one pass): the samples in the bins that a decision threshold
   sweeps while the step moves through a narrow bracket around the basin.
   Every other bin keeps its level throughout the bracket, so
   :math:`A=\sum k_i^2`, :math:`B=\sum k_i x_i` and :math:`C=\sum x_i^2` are
   exact sums of bin statistics plus the gathered samples. Sorting only the
   gathered samples, an exact sweep visits every quadratic piece of
   :math:`D` in the bracket and takes each piece's closed-form minimum
   :math:`B/A`; the best candidates are rescored exactly.

Complexity: three passes over the data, :math:`O(N)`; :math:`O(G\cdot B)`
for the grids; :math:`O(P\log P)` for the :math:`P` gathered samples.
Memory: the bins (:math:`3B` floats) plus one chunk plus the gathered
samples, independent of :math:`N`.
"""

from __future__ import annotations

import math

import numpy as np

from ._quantizer import Scheme
from ._validation import InvalidArgument

__all__ = ["iter_chunks", "streaming_optimal"]

#: Elements per chunk of a streaming pass.
CHUNK = 1 << 20
#: Histogram bins.
BINS = 1 << 16


def _dot(a, b) -> float:
    """Inner product of two 1-D float arrays without BLAS.

    ``np.dot`` hands even short vectors to a threaded BLAS, whose thread
    wake-up costs milliseconds per call on small machines; ``einsum`` runs
    in the calling thread (pairwise-free but plain float64 accumulation,
    which is what the callers need).
    """
    return float(np.einsum("i,i->", a, b))


def is_dask(x) -> bool:
    """True for a Dask array (without importing dask)."""
    return type(x).__module__.startswith("dask.") and hasattr(x, "chunks")


def iter_chunks(x, size: int = CHUNK):
    """Yield float64 numpy chunks of the flattened samples ``x``."""
    if is_dask(x):
        for blk in x.ravel().to_delayed().ravel():
            yield np.asarray(blk.compute(), dtype=np.float64).ravel()
        return
    flat = x.reshape(-1)
    for start in range(0, flat.size, size):
        yield np.asarray(flat[start : start + size], dtype=np.float64)


def _map_reduce(x, func, combine):
    """``combine`` of ``func(chunk)`` over all chunks; Dask blocks in parallel."""
    if is_dask(x):
        import dask

        parts = [dask.delayed(func)(b) for b in x.ravel().to_delayed().ravel()]
        results = dask.compute(*parts)
    else:
        results = [func(c) for c in iter_chunks(x)]
    out = results[0]
    for r in results[1:]:
        out = combine(out, r)
    return out


def range_stats(x):
    """``(n, min, max, n_nonfinite)`` of the samples, one pass."""

    def one(c):
        c = np.asarray(c, dtype=np.float64).ravel()
        fin = np.isfinite(c)
        bad = int(c.size - np.count_nonzero(fin))
        if bad:
            c = c[fin]
        if c.size == 0:
            return (0, math.inf, -math.inf, bad)
        return (int(fin.size - bad), float(c.min()), float(c.max()), bad)

    def comb(p, q):
        return (p[0] + q[0], min(p[1], q[1]), max(p[2], q[2]), p[3] + q[3])

    return _map_reduce(x, one, comb)


def moment_stats(x, mean: float):
    """``(sum (x-mean), sum (x-mean)^2, sum (x-mean)^4)``, one pass."""

    def one(c):
        d = np.asarray(c, dtype=np.float64).ravel() - mean
        d2 = d * d
        return np.array([d.sum(), d2.sum(), (d2 * d2).sum()])

    return _map_reduce(x, one, lambda p, q: p + q)


def sum_stats(x):
    def one(c):
        return float(np.asarray(c, dtype=np.float64).sum())

    return _map_reduce(x, one, lambda p, q: p + q)


class _Hist:
    """Per-bin count and centred first and second moments."""

    def __init__(self, x, lo: float, hi: float, bins: int = BINS):
        self.lo = lo
        self.w = (hi - lo) / bins if hi > lo else 1.0
        self.bins = bins
        self.centre = lo + (np.arange(bins) + 0.5) * self.w
        inv = 1.0 / self.w

        def one(c):
            c = np.asarray(c, dtype=np.float64).ravel()
            u = (c - lo) * inv
            idx = np.minimum(u.astype(np.intp), bins - 1)
            t = (u - idx - 0.5) * self.w  # x - centre, without cancellation
            n = np.bincount(idx, minlength=bins).astype(np.float64)
            s1 = np.bincount(idx, weights=t, minlength=bins)
            s2 = np.bincount(idx, weights=t * t, minlength=bins)
            return np.stack([n, s1, s2])

        st = _map_reduce(x, one, lambda p, q: p + q)
        self.n, self.s1, self.s2 = st[0], st[1], st[2]
        self.total = float(self.n.sum())

    def bin_of(self, v):
        u = (np.asarray(v, dtype=np.float64) - self.lo) / self.w
        return np.clip(np.floor(u), 0, self.bins - 1).astype(np.intp)

    def approx_value(self, d: np.ndarray, s: Scheme) -> np.ndarray:
        """D for each step from the histogram alone.

        Bins are assigned whole to the level of their centre (exact for every
        bin that no threshold crosses, thanks to the centred moments); each
        bin that holds a threshold is then corrected by splitting its count
        at the threshold as if uniform within the bin. The error is second
        order in the bin width plus the sampling roughness of the data.
        """
        n, s1, s2, m = self.n, self.s1, self.s2, self.centre
        nz = n > 0
        n, s1, s2, m = n[nz], s1[nz], s2[nz], m[nz]
        out = np.empty(d.size)
        step = max(1, (1 << 20) // max(m.size, 1))
        for i in range(0, d.size, step):
            dd = d[i : i + step, None]
            k = np.clip(np.rint(m[None, :] / dd - s.offset), s.kmin, s.kmax)
            e = m[None, :] - (k + s.offset) * dd
            out[i : i + step] = (n * e * e + 2 * e * s1 + s2).sum(1)
        # threshold bins: uniform-within-bin split, minus the whole-bin value
        thr = _thresholds(s)
        t = thr[None, :] * d[:, None]  # (G, T)
        b = np.floor((t - self.lo) / self.w).astype(np.intp)
        inside = (b >= 0) & (b < self.bins)
        b = np.clip(b, 0, self.bins - 1)
        cnt = np.where(inside, self.n[b], 0.0)
        left = self.lo + b * self.w
        right = left + self.w
        mid = left + 0.5 * self.w
        dd = d[:, None]
        kc = np.clip(np.rint(mid / dd - s.offset), s.kmin, s.kmax) + s.offset
        c_lo = t - 0.5 * dd
        c_hi = t + 0.5 * dd
        c_mid = kc * dd

        def integral(p, q, c):  # int_p^q (x - c)^2 dx
            return ((q - c) ** 3 - (p - c) ** 3) / 3.0

        split = integral(left, t, c_lo) + integral(t, right, c_hi)
        whole = integral(left, right, c_mid)
        out += (cnt / self.w * (split - whole)).sum(1)
        return out / self.total


def _thresholds(s: Scheme) -> np.ndarray:
    idx = s.indices()
    return 0.5 * (idx[:-1] + idx[1:])


def streaming_optimal(samples, s: Scheme, n: int, lo: float, hi: float) -> float:
    """Exact global minimiser of the empirical MSE by the three-pass method.

    ``n``, ``lo``, ``hi`` are the sample count and range (pass 1, done by
    :class:`Empirical` at construction).
    """
    from ._optimal import _local_minima

    m = max(abs(lo), abs(hi))
    reach = []
    if s.top > 0 and hi > 0:
        reach.append(hi / s.top)
    if s.bottom < 0 and lo < 0:
        reach.append(lo / s.bottom)
    d_hi = 2.0 * (max(reach) if reach else m / max(abs(s.top), abs(s.bottom)))
    hist = _Hist(samples, lo, hi)
    grid = np.geomspace(d_hi * 2.0**-12, d_hi, 128)
    vals = hist.approx_value(grid, s)
    if np.ptp(vals) <= 1e-13 * np.max(vals):
        raise InvalidArgument(
            f"optimal_step: for these samples with scheme {s.name!r} and "
            f"bits={s.bits} the MSE does not depend on the step, so no optimal "
            "step exists"
        )
    basins = _local_minima(vals)[:3] or [int(np.argmin(vals))]
    brackets = []
    for j in basins:
        lo_d, hi_d = grid[max(j - 2, 0)], grid[min(j + 2, grid.size - 1)]
        centre = grid[j]
        for _ in range(2):  # two refinements of 32 points each
            fine = np.geomspace(lo_d, hi_d, 32)
            i = int(np.argmin(hist.approx_value(fine, s)))
            centre = fine[i]
            lo_d, hi_d = fine[max(i - 2, 0)], fine[min(i + 2, fine.size - 1)]
        brackets.append(_bracket(hist, s, centre))
    return _exact_in_brackets(samples, s, hist, brackets)


def _bracket(hist: _Hist, s: Scheme, centre: float) -> tuple[float, float]:
    """The widest bracket around ``centre`` (at most +-0.5 %) whose thresholds
    sweep at most ``_ACTIVE_MAX`` samples (counted on the histogram)."""
    thr = _thresholds(s)
    thr = thr[thr != 0]
    cum = np.concatenate([[0.0], np.cumsum(hist.n)])
    r = 0.005
    while True:
        da, db = centre * (1 - r), centre * (1 + r)
        a, b = np.minimum(thr * da, thr * db), np.maximum(thr * da, thr * db)
        ba, bb = hist.bin_of(a), hist.bin_of(b)
        swept = float(
            (cum[np.minimum(bb + 2, hist.bins)] - cum[np.maximum(ba - 1, 0)]).sum()
        )
        if swept <= _ACTIVE_MAX or r < 1e-9:
            return da, db
        r /= 2.0


#: Samples that the exact sweep may gather (memory ~ 40 bytes each).
_ACTIVE_MAX = 1 << 20


def _exact_in_brackets(samples, s: Scheme, hist: _Hist, brackets) -> float:
    thr = _thresholds(s)
    thr = thr[thr != 0]  # a threshold at 0 never moves
    # bins swept by a threshold for some step in some bracket are "active"
    active = np.zeros(hist.bins, dtype=bool)
    ivals = []
    for da, db in brackets:
        a, b = np.minimum(thr * da, thr * db), np.maximum(thr * da, thr * db)
        ivals.append((a, b))
        ba, bb = hist.bin_of(a), hist.bin_of(b)
        # one bin of margin on each side for floating-point bin assignment
        for x0, x1 in zip(
            np.maximum(ba - 1, 0), np.minimum(bb + 1, hist.bins - 1), strict=True
        ):
            active[x0 : x1 + 1] = True
    lo, inv, nb = hist.lo, 1.0 / hist.w, hist.bins

    def pick(c):
        c = np.asarray(c, dtype=np.float64).ravel()
        idx = np.minimum(((c - lo) * inv).astype(np.intp), nb - 1)
        return c[active[idx]]

    parts = _map_reduce(samples, lambda c: [pick(c)], lambda p, q: p + q)
    xa = np.sort(np.concatenate(parts))
    fixed = ~active
    cands = []
    for da, db in brackets:
        cands.extend(_sweep_active(xa, s, hist, fixed, da, db))
    cands = np.unique(np.asarray(cands))
    vals = _exact_value(xa, s, hist, fixed, cands)
    # lowest exact MSE; among equal values the largest step
    return float(cands[np.lexsort((-cands, vals))[0]])


def _fixed_sums(hist: _Hist, fixed: np.ndarray, s: Scheme, d: float):
    """A, B, C of the fixed bins (their level is the same all over a bracket)."""
    n, s1, s2, m = hist.n[fixed], hist.s1[fixed], hist.s2[fixed], hist.centre[fixed]
    k = np.clip(np.rint(m / d - s.offset), s.kmin, s.kmax) + s.offset
    ld = np.longdouble
    a = (n.astype(ld) * k.astype(ld) ** 2).sum()
    b = (k.astype(ld) * (n.astype(ld) * m + s1)).sum()
    c = (n.astype(ld) * m.astype(ld) ** 2 + 2 * m.astype(ld) * s1 + s2).sum()
    return a, b, c


def _exact_value(xa, s: Scheme, hist: _Hist, fixed, cands) -> np.ndarray:
    """Exact D at each candidate: centred bin sums plus the gathered samples."""
    from ._quantizer import _level_index

    n, s1, s2, m = hist.n[fixed], hist.s1[fixed], hist.s2[fixed], hist.centre[fixed]
    out = np.empty(cands.size)
    for i, d in enumerate(cands):
        k = np.clip(np.rint(m / d - s.offset), s.kmin, s.kmax) + s.offset
        e = m - k * d
        tot = float((n * e * e + 2 * e * s1 + s2).sum())
        if xa.size:
            r = xa - _level_index(xa, d, s) * d
            tot += float(_dot(r, r))
        out[i] = tot / hist.total
    return out


def piece_minima(xa, s: Scheme, da, db, a0, b0, c0, n: float, keep: int = 8):
    r"""Closed-form minima of the quadratic pieces of D on ``[da, db]``.

    ``xa`` are the sorted samples whose level can change in the bracket;
    ``a0, b0, c0`` are :math:`A=\sum k^2`, :math:`B=\sum kx`,
    :math:`C=\sum x^2` over *all* samples at ``da``. Each kink (a sample on a
    threshold, :math:`x = m\Delta`) moves one sample one level towards zero,
    which updates A and B; on each piece :math:`D=(C-2B\Delta+A\Delta^2)/N`
    is minimised at :math:`B/A` clipped to the piece. Returns the ``keep``
    best piece minimisers (to be rescored exactly).
    """
    idx = s.indices()
    thr = 0.5 * (idx[:-1] + idx[1:])
    xs, js = [], []
    for j in np.flatnonzero(thr != 0):
        lo_v, hi_v = sorted((thr[j] * da, thr[j] * db))
        i0, i1 = np.searchsorted(xa, [lo_v, hi_v], side="left")
        if i1 > i0:
            xs.append(xa[i0:i1])
            js.append(np.full(i1 - i0, j))
    if xs:
        xb = np.concatenate(xs)
        jb = np.concatenate(js)
        mb = thr[jb]
        brk = xb / mb
        ok = (brk > da) & (brk < db)
        xb, jb, mb, brk = xb[ok], jb[ok], mb[ok], brk[ok]
        o = np.argsort(brk, kind="stable")
        xb, jb, mb, brk = xb[o], jb[o], mb[o], brk[o]
        # positive side: idx[j+1] -> idx[j]; negative side: idx[j] -> idx[j+1]
        klo = idx[jb]
        khi = idx[jb + 1]
        sgn = np.where(mb > 0, 1.0, -1.0)
        d_a = sgn * (klo * klo - khi * khi)  # quarter-integers: exact
        d_b = sgn * xb * (klo - khi)
    else:
        brk, d_a, d_b = np.empty(0), np.empty(0), np.empty(0)
    a = np.concatenate([[a0], a0 + np.cumsum(d_a)])
    b = np.concatenate([[b0], b0 + np.cumsum(d_b)])
    left = np.concatenate([[da], brk])
    right = np.concatenate([brk, [db]])
    with np.errstate(divide="ignore", invalid="ignore"):
        dstar = np.where(a > 0, b / a, right)
    dstar = np.clip(dstar, left, right)
    # ranking only (candidates are rescored exactly): float64 loses about
    # 4^M ulps to cancellation here, far below the gaps that matter
    val = (c0 - 2 * b * dstar + a * dstar * dstar) / n
    o = np.argsort(val, kind="stable")[:keep]
    return list(dstar[o])


def _sweep_active(xa, s: Scheme, hist: _Hist, fixed, da: float, db: float):
    """Piece minima on [da, db]: fixed bins plus the gathered samples."""
    from ._quantizer import _level_index

    a0, b0, c0 = _fixed_sums(hist, fixed, s, math.sqrt(da * db))
    ld = np.longdouble
    k0 = _level_index(xa, da, s)
    a0 = float(a0 + _dot(k0, k0))  # quarter-integers below 2**53: exact
    b0 = float(b0 + ld(_dot(k0, xa)))
    c0 = float(c0 + ld(_dot(xa, xa)))
    return piece_minima(xa, s, da, db, a0, b0, c0, hist.total)
