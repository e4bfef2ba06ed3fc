r"""The exact empirical optimum by branch and bound on step intervals.

The (weighted) empirical MSE :math:`D(\Delta)=\frac1W\sum_i w_i(x_i-q_i\Delta)^2`
(:math:`q_i` the level index plus offset of :math:`x_i`, :math:`W=\sum w_i`)
is continuous and piecewise quadratic in :math:`\Delta`: on a piece the
:math:`q_i` are fixed and :math:`W D = C - 2B\Delta + A\Delta^2`,
:math:`A=\sum w_i q_i^2`, :math:`B=\sum w_i q_i x_i`, :math:`C=\sum w_i x_i^2`.
Each sample's error is a minimum of parabolas in :math:`\Delta`, so every
kink is a concave corner: a local minimum is always a piece's stationary
point :math:`B/A` (clamped to the piece), never a kink.

The data enter only through *atoms*: disjoint value ranges :math:`[a, c]`,
sorted, each with its sufficient statistics (:math:`\sum w`,
:math:`\sum w(x-r)`, :math:`\sum w(x-r)^2` about its midpoint :math:`r`).
An atom is either one distinct sample value (:math:`a=c`, from a sort,
:func:`sorted_atoms`) or a histogram bin (:func:`histogram_atoms`: bins of
relative width :math:`2^{-m}` cut on the float's bits, so that any dynamic
range -- zeros, subnormals, :math:`\pm10^{30}` outliers, float32's largest
values -- is binned exactly, with no range to guess).

1. **Bound** (:meth:`Atoms.bounds`, :math:`O(2^M\log K)` per step interval
   for :math:`K` atoms, from long-double prefix sums). On a step interval
   :math:`I=[\Delta_1,\Delta_2]` each decision threshold :math:`t\Delta`
   sweeps the value range :math:`tI`. Atoms that no sweep touches keep
   their level over all of :math:`I`: their exact sums give a quadratic
   whose minimum over :math:`I` is closed-form. Each sample of an atom inside
   a sweep is at least its distance to the nearer level's sweep away from
   any level. The sum is a *lower bound* of :math:`\min_I D`; the same sums
   with each swept group on its better side, at one step of :math:`I`
   (where only the bins astride a threshold are grouped), give an *upper
   bound*.
2. **Prune and split**: every interval whose lower bound exceeds the best
   upper bound (plus the rounding slack of the prefix sums) is dropped -- a
   bound, not a fixed count of basins; the others are cut in 8. When the
   samples of the bins that the surviving sweeps touch are few enough, one
   more pass gathers them (:math:`O(N)`), and they become point atoms
   (:math:`O(P\log P)` for their sort, merged in by position). When the
   bins themselves limit the bounds (the intervals are as narrow as a bin,
   or the swept weight stops shrinking once no sweep spans a level
   spacing) and the gather would still hold more than
   :data:`REFINE_FRACTION` of the weight, one more histogram pass with
   :math:`2^{\text{REFINE\_STEP}}` times finer bins replaces the atoms
   instead (:math:`O(N)`; flat 8-bit basins need it). The rounds go on
   until the survivors hold few kinks.
3. **Sweep** (:func:`_sweep`, :math:`O(P\log R)` for :math:`P` kinks over
   :math:`R` thresholds): on each run of surviving intervals the kinks
   :math:`x/t` of each threshold form a sorted run; the runs are merged (a
   stable sort, which merges runs: no global argsort), and each piece's
   quadratic is carried *centred* at the run's start :math:`\Delta_0`,
   :math:`WD = E - 2F(\Delta-\Delta_0) + A(\Delta-\Delta_0)^2` with
   :math:`E` the exact error sum at :math:`\Delta_0` (no cancellation
   against :math:`C`). Each piece's closed-form stationary point
   :math:`\Delta_0 + F/A` (clamped) is a candidate, and so is each
   candidate's :math:`B/A` summed directly (:meth:`Atoms.polish`). The
   candidates are screened (:meth:`Atoms.screen`: :math:`O(K)` once plus
   :math:`O(V)` each, with a rounding bound), those the bound cannot rule
   out are rescored atom by atom (:meth:`Atoms.exact`, :math:`O(K)` each),
   and the best one's float neighbours (:data:`_ULPS` on each side) too:
   the lowest MSE wins, the largest step among equals.

Memory: one ``(bins, 3)`` accumulator per thread during a pass, the atoms
(about 110 bytes each), the bound tiles (:data:`_BLOCK` cells) and the
gathered samples; memory-mapped and Dask data are read in tiles of
:data:`_TILE` samples.
"""

from __future__ import annotations

import math

import numpy as np

from .._core.parallel import is_dask, map_reduce, pool, workers
from .._core.scheme import Scheme
from . import kernels

__all__ = ["Atoms", "exact_optimum", "histogram_atoms", "sorted_atoms"]

_LD = np.longdouble
_EPS_LD = float(np.finfo(_LD).eps)

#: (interval, threshold) cells scored per block of :meth:`Atoms.bounds`.
_BLOCK = 1 << 15

#: Exact sweep once the survivors hold at most this many kinks.
_SWEEP_KINKS = 1 << 16

#: Branch-and-bound rounds at most.
_ROUNDS = 60

#: More surviving intervals than this: sweep (or gather) what is left.
_MAX_SURVIVORS = 4096

#: Tile of the histogram and gather passes.
_TILE = 1 << 22

#: Candidates rescored exactly, at most.
_RESCORE = 64

#: Floats on each side of the best candidate scored too.
_ULPS = 4


def _clusters(d):
    """Index arrays of the steps ``d`` grouped into runs of relative width
    at most about ``2^-6`` per gap (one group per isolated step)."""
    if d.size == 0:
        return []
    o = np.argsort(d, kind="stable")
    ds = d[o]
    cut = np.flatnonzero(ds[1:] > ds[:-1] * (1 + 2.0**-6) + 1e-300) + 1
    return np.split(o, cut)


def _ratio(a, b, d):
    return b / a if a > 0 and b > 0 else d


class _Sub:
    """The atoms of a mask (the per-atom arrays only, no prefix sums)."""

    def __init__(self, at, mask):
        self.r, self.n = at.r[mask], at.n[mask]
        self.s1, self.s2 = at.s1[mask], at.s2[mask]

    def levels_at(self, d: float, s: Scheme) -> np.ndarray:
        return Atoms.levels_at(self, d, s)


class Atoms:
    """Sorted disjoint value ranges with their weighted sufficient statistics.

    ``a <= c`` are the ranges (``a == c`` marks a point atom), ``n`` the
    per-atom :math:`\\sum w`, ``s1``, ``s2`` the sums :math:`\\sum w(x-r)`,
    :math:`\\sum w(x-r)^2` about ``r`` (the midpoint by default).
    """

    def __init__(self, a, c, n, s1, s2, r=None):
        self.a = np.asarray(a, dtype=np.float64)
        self.c = np.asarray(c, dtype=np.float64)
        self.m = 0.5 * self.a + 0.5 * self.c  # no overflow near float max
        self.r = self.m if r is None else np.asarray(r, dtype=np.float64)
        self.n = np.asarray(n, dtype=np.float64)
        self.s1 = np.asarray(s1, dtype=np.float64)
        self.s2 = np.asarray(s2, dtype=np.float64)
        if r is not None and np.array_equal(self.r, self.m):
            self.r = self.m  # one array, not two
        self.point = self.a == self.c
        self.k = k = self.a.size
        # prefix sums written in place (no concatenated copies)
        self.cn = np.zeros(k + 1, dtype=_LD)
        np.cumsum(self.n, dtype=_LD, out=self.cn[1:])
        rl = self.r.astype(_LD)
        t = self.n * rl
        t += self.s1  # sum w x of each atom
        self.cs = np.zeros(k + 1, dtype=_LD)
        np.cumsum(t, out=self.cs[1:])
        t += self.s1  # n r + 2 s1: sum w x^2 = s2 + r (n r + 2 s1)
        t *= rl
        t += self.s2
        del rl
        self.cq = np.zeros(k + 1, dtype=_LD)
        np.cumsum(t, out=self.cq[1:])
        del t
        self.cb = np.zeros(k + 1, dtype=np.int64)  # bin atoms
        np.cumsum(~self.point, out=self.cb[1:])
        self.cbn = np.zeros(k + 1)
        np.cumsum(np.where(self.point, 0.0, self.n), out=self.cbn[1:])
        #: rounding slack of the prefix sums (recursive summation bound)
        self.slack = 8.0 * (self.k + 8) * _EPS_LD * float(self.cq[-1])

    @property
    def total(self):
        return self.cn[-1]

    def levels_at(self, d: float, s: Scheme) -> np.ndarray:
        """Level index (plus offset) of every atom's ``r`` at step ``d``."""
        with np.errstate(over="ignore", invalid="ignore"):
            k = np.clip(np.rint(self.r / d - s.offset), s.kmin, s.kmax)
        return k + s.offset

    def exact(self, d, s: Scheme) -> np.ndarray:
        r""":math:`W D(\Delta)` at each step, summed atom by atom from the
        centred sums (no cancellation against :math:`C`): exact to rounding
        for point atoms and unsplit bins. :math:`O(K)` per step."""
        return np.array([self._exact_at(self, dj, s) for dj in np.ravel(d)])

    def screen(self, d, s: Scheme):
        r"""``(value, err)``: :math:`W D` at each step within ``err`` (a
        rounding bound; ``err == 0``: the value of :meth:`exact`). For many
        steps in a narrow range, :math:`O(K)` once plus :math:`O(V)` per step
        for the :math:`V` atoms whose level changes in that range: the
        fixed atoms' sum is expanded about the range's first step."""
        d = np.asarray(d, dtype=np.float64)
        val, err = np.empty(d.size), np.zeros(d.size)
        for idx in _clusters(d):
            val[idx], err[idx] = self._screen_near(d[idx], s)
        return val, err

    def _screen_near(self, d, s):
        split = self._split(d, s)
        if split is None:
            return self.exact(d, s), 0.0
        fixed, var, q, d0 = split
        e = fixed.r - q * d0
        t = fixed.n * e
        t += 2.0 * fixed.s1
        t *= e
        t += fixed.s2
        base = float(np.sum(t))  # the fixed atoms' error sum at d0
        babs = float(np.sum(np.abs(t)))
        g = q * (fixed.s1 + fixed.n * e)
        s1, s1abs = float(np.sum(g)), float(np.sum(np.abs(g)))
        s2 = float(np.sum(fixed.n * q * q))
        out = np.empty(d.size)
        er = np.empty(d.size)
        # pairwise sums of K terms: within (log2 K + 8) eps of their |terms|
        eps = (self.k.bit_length() + 8) * 2.0**-52
        for i, dj in enumerate(d):
            u = dj - d0
            v = self._exact_at(var, dj, s)
            out[i] = base + u * (u * s2 - 2.0 * s1) + v
            er[i] = 4 * eps * (babs + 2 * abs(u) * s1abs + u * u * s2 + abs(v))
        return out, er

    @staticmethod
    def _exact_at(at, dj, s):
        e = at.r - at.levels_at(dj, s) * dj
        # s2 + e (2 s1 + n e) = sum w (x - q d)^2 >= 0, one per atom;
        # pairwise summation (no BLAS: it threads and is not reproducible)
        t = at.n * e
        t += 2.0 * at.s1
        t *= e
        t += at.s2
        return float(np.sum(t))

    def _split(self, d, s):
        """For steps ``d`` in a narrow range: ``(fixed, varying, q, d0)``,
        the atoms whose level is the same (``q``) over ``[min d, max d]``
        (levels are monotone in the step) and the others, or None."""
        if d.size < 4:
            return None
        d0, d1 = float(d.min()), float(d.max())
        q = self.levels_at(d0, s)
        same = q == self.levels_at(d1, s)
        if np.count_nonzero(~same) * 4 > self.k:
            return None
        return _Sub(self, same), _Sub(self, ~same), q[same], d0

    def polish(self, d, s: Scheme) -> np.ndarray:
        """:math:`B/A` of the piece holding each step ``d``, summed atom by
        atom (:math:`O(K)` each, or :math:`O(K + V)` in all for steps in a
        narrow range, as :meth:`exact`); ``d`` itself where the MSE is flat."""
        d = np.asarray(d, dtype=np.float64)
        out = np.empty(d.size)
        for idx in _clusters(d):
            out[idx] = self._polish_near(d[idx], s)
        return out

    def _polish_near(self, d, s):
        split = self._split(d, s)
        if split is None:
            return np.array([_ratio(*self._ab(self, dj, s), dj) for dj in d])
        fixed, var, q, _ = split
        af = float(np.sum(fixed.n * q * q))
        bf = float(np.sum(q * (fixed.n * fixed.r + fixed.s1)))
        out = np.empty(d.size)
        for i, dj in enumerate(d):
            a, b = self._ab(var, dj, s)
            out[i] = _ratio(af + a, bf + b, dj)
        return out

    @staticmethod
    def _ab(at, dj, s):
        q = at.levels_at(dj, s)
        return float(np.sum(at.n * q * q)), float(np.sum(q * (at.n * at.r + at.s1)))

    def _cells(self, idx, lev):
        """A and B of the cells cut at atom positions ``idx`` (G, T)."""
        g = idx.shape[0]
        edges = np.concatenate(
            [np.zeros((g, 1), np.intp), idx, np.full((g, 1), self.k, np.intp)], axis=1
        )
        lo, hi = edges[:, :-1], np.maximum(edges[:, 1:], edges[:, :-1])
        lv = lev.astype(_LD)
        a = ((self.cn[hi] - self.cn[lo]) * lv * lv).sum(1)
        b = ((self.cs[hi] - self.cs[lo]) * lv).sum(1)
        return a, b

    def bounds(self, d1, d2, s: Scheme, want_ub: bool = True):
        r"""Per interval :math:`[d_1, d_2]`: a lower bound of
        :math:`\min (WD - C)`, an upper bound of :math:`WD - C` at a step of
        the interval, the number of (point atom, threshold) crossings and
        the weight of the swept bins. :math:`O(2^M\log K)` per interval."""
        thr, lev = s.thresholds(), s.indices()
        g = d1.size
        lb, ub = np.empty(g), np.empty(g)
        kinks, bmass = np.empty(g), np.empty(g)
        blk = max(1, _BLOCK // max(thr.size, 1))
        for i in range(0, g, blk):
            sl = slice(i, i + blk)
            lb[sl], ub[sl], kinks[sl], bmass[sl] = self._bounds(
                d1[sl], d2[sl], thr, lev, want_ub
            )
        return lb, ub, kinks, bmass

    def _groups(self, d1, d2, thr):
        """Fixed cells and swept groups: ``p, e`` (G, T) with group ``j`` the
        atoms ``[p_j, e_j)`` and fixed cell ``j`` the atoms ``[e_{j-1}, p_j)``."""
        t1, t2 = thr[None, :] * d1[:, None], thr[None, :] * d2[:, None]
        u, v = np.minimum(t1, t2), np.maximum(t1, t2)
        lo = np.searchsorted(self.c, u, side="right")  # first atom with c > u
        hi = np.maximum(np.searchsorted(self.a, v, side="left"), lo)  # a >= v
        e = np.maximum.accumulate(hi, axis=1)
        g = d1.size
        eprev = np.concatenate([np.zeros((g, 1), np.intp), e[:, :-1]], axis=1)
        p = np.maximum(lo, eprev)
        return p, e, eprev

    def _bounds(self, d1, d2, thr, lev, want_ub=True):
        p, e, eprev = self._groups(d1, d2, thr)
        g = d1.size
        # fixed cells: [eprev_j, p_j) at lev[j]; the top cell [e_last, K)
        starts = np.concatenate([eprev, e[:, -1:]], axis=1)
        ends = np.concatenate([p, np.full((g, 1), self.k, np.intp)], axis=1)
        lv = lev.astype(_LD)
        af = ((self.cn[ends] - self.cn[starts]) * lv * lv).sum(1)
        bf = ((self.cs[ends] - self.cs[starts]) * lv).sum(1)
        cf = (self.cq[ends] - self.cq[starts]).sum(1)
        # swept groups [p_j, e_j) between lev[j] and lev[j+1]
        has = e > p
        ng = self.cn[e] - self.cn[p]
        first = np.minimum(p, self.k - 1)
        last = np.maximum(e - 1, 0)
        l1 = lev[:-1][None, :]
        l2 = lev[1:][None, :]
        dl_lo = self.a[first] - np.maximum(l1 * d1[:, None], l1 * d2[:, None])
        dl_hi = np.minimum(l2 * d1[:, None], l2 * d2[:, None]) - self.c[last]
        gap = np.clip(np.minimum(dl_lo, dl_hi), 0.0, None)
        lbg = np.where(has, ng * (gap * gap).astype(_LD), 0).sum(1)
        with np.errstate(divide="ignore", invalid="ignore"):
            dq = np.where(af > 0, bf / np.where(af > 0, af, 1), d2)
        dq = np.clip(dq.astype(np.float64), d1, d2)
        dql = dq.astype(_LD)
        qmin = cf - 2 * bf * dql + af * dql * dql
        total_q = self.cq[-1]
        lb = (qmin + lbg - total_q).astype(np.float64)
        ub = np.full(g, np.inf)
        if want_ub:
            # upper bound at dq: each swept group on the better of its levels
            sg = self.cs[e] - self.cs[p]
            qg = self.cq[e] - self.cq[p]
            x1 = dql[:, None] * l1.astype(_LD)
            x2 = dql[:, None] * l2.astype(_LD)
            e1 = qg - 2 * x1 * sg + x1 * x1 * ng
            e2 = qg - 2 * x2 * sg + x2 * x2 * ng
            ubg = np.where(has, np.minimum(e1, e2), 0).sum(1)
            ub = (qmin + ubg - total_q).astype(np.float64)
        nb = np.where(has, self.cb[e] - self.cb[p], 0)
        kinks = (np.where(has, e - p, 0) - nb).sum(1)
        bm = np.where(has, self.cbn[e] - self.cbn[p], 0.0).sum(1)
        return lb, ub, kinks, bm

    def swept_bins(self, d1, d2, s: Scheme) -> np.ndarray:
        """Mask of the bin atoms some threshold sweeps in some interval."""
        mark = np.zeros(self.k + 1, dtype=np.int64)
        thr = s.thresholds()
        blk = max(1, _BLOCK // max(thr.size, 1))
        for i in range(0, d1.size, blk):
            p, e, _ = self._groups(d1[i : i + blk], d2[i : i + blk], thr)
            has = e > p
            np.add.at(mark, p[has], 1)
            np.add.at(mark, e[has], -1)
        return (np.cumsum(mark)[:-1] > 0) & ~self.point


def sorted_atoms(x: np.ndarray, w: np.ndarray | None = None) -> Atoms:
    """Point atoms of the distinct values of ``x`` (weights summed, zero
    weights dropped). :math:`O(N\\log N)` for the sort."""
    x = np.asarray(x).ravel()
    if w is not None:
        w = np.asarray(w, dtype=np.float64).ravel()
        keep = w > 0
        x, w = x[keep], w[keep]
        o = np.argsort(x, kind="stable")
        x, w = x[o], w[o]
    else:
        x = np.sort(x)
    x = x.astype(np.float64, copy=False)
    if x.size == 0:
        e = np.empty(0)
        return Atoms(e, e, e, e, e)
    new = np.empty(x.size, dtype=bool)
    new[0] = True
    np.not_equal(x[1:], x[:-1], out=new[1:])
    start = np.flatnonzero(new)
    u = x[start]
    if w is None:
        n = np.diff(np.append(start, x.size)).astype(np.float64)
    else:
        n = np.add.reduceat(w, start)
    z = np.zeros(u.size)
    return Atoms(u, u, n, z, z)


# ---------------------------------------------------------------------------
# histogram atoms: bins cut on the float's bits
# ---------------------------------------------------------------------------
class _Bins:
    """Bins of relative width ``2**-m`` on the magnitude's bits, ``octaves``
    octaves below the largest magnitude (smaller magnitudes share one bin
    per sign), negative bins mirrored. Bin of a value: exact (bit shifts)."""

    def __init__(self, dtype, lo: float, hi: float, m: int, octaves: int):
        self.dtype = np.dtype(dtype)
        if self.dtype == np.float32:
            self.ity, self.mant = np.int32, 23
        else:
            self.ity, self.mant = np.int64, 52
        self.shift = self.mant - m
        self.m = m
        top = np.array(max(abs(lo), abs(hi)), dtype=self.dtype).view(self.ity)
        self.ktop = int(top) >> self.shift
        self.kfloor = max(0, self.ktop - octaves * (1 << m))
        self.half = self.ktop - self.kfloor + 1  # bins per sign
        self.size = 2 * self.half
        self.lo, self.hi = lo, hi

    def index(self, c: np.ndarray) -> np.ndarray:
        return kernels.bin_index(c.view(self.ity), self.shift, self.kfloor, self.half)

    def edges(self):
        """``(a, c)`` of every bin, exact float64 values."""
        k = np.arange(self.kfloor, self.ktop + 2, dtype=np.int64)
        bits = (k << self.shift).astype(self.ity)
        with np.errstate(over="ignore"):
            e = bits.view(self.dtype).astype(np.float64)
        e[~np.isfinite(e)] = np.inf
        e[0] = 0.0  # the floor bin reaches zero
        a_pos, c_pos = e[:-1], e[1:]
        a = np.concatenate([-c_pos[::-1], a_pos])
        c = np.concatenate([-a_pos[::-1], c_pos])
        # the outer bins end at the data's range (each side on its own)
        c[self.half :] = np.minimum(c[self.half :], max(self.hi, 0.0))
        a[: self.half] = np.maximum(a[: self.half], min(self.lo, 0.0))
        return a, c


def _tiles(x, w, func, combine, state=None):
    """``combine`` of ``func(tile, weights)`` over contiguous tiles (threads
    over parts for numpy and memory-mapped data, blocks for Dask), in a
    fixed order: the result does not depend on thread timing. With
    ``state`` (a factory), ``func(tile, weights, acc)`` adds each tile into
    one ``acc = state()`` per part instead (one accumulator per thread)."""
    if state is not None:
        fn = func

        def func(c, wt, acc=None):
            acc = state() if acc is None else acc
            fn(c, wt, acc)
            return acc

    if is_dask(x):
        if w is not None:
            raise NotImplementedError("weights with Dask data")
        return map_reduce(x, lambda c: func(c, None), combine)
    flat = x.reshape(-1)
    nn = flat.size
    nt = workers() if nn >= (1 << 20) else 1
    cuts = [nn * i // nt for i in range(nt + 1)]

    def part(a: int, b: int):
        out = None
        for st in range(a, b, _TILE):
            e = min(st + _TILE, b)
            c = np.asarray(flat[st:e])
            if c.dtype not in (np.float32, np.float64):
                c = c.astype(np.float64)
            wt = None if w is None else w[st:e]
            if state is not None:
                out = func(c, wt, out)
                continue
            r = func(c, wt)
            out = r if out is None else combine(out, r)
        return out

    if nt == 1:
        res = [part(0, nn)]
    else:
        res = list(pool().map(part, cuts[:-1], cuts[1:]))
    res = [r for r in res if r is not None]
    out = res[0]
    for r in res[1:]:
        out = combine(out, r)
    return out


def _bins_per_octave(n: int, octaves: int) -> int:
    """``m``: :math:`2^m` bins per octave, about :math:`N/16` bins in all
    (the bin count scales with N), from 16 to 2^13 per octave."""
    return int(np.clip(round(math.log2(max(n, 1) / (BIN_DIV * octaves))), 4, 13))


def histogram_atoms(x, w, lo: float, hi: float, s: Scheme, n: int, m=None):
    """One pass: per-bin weighted count, and sums about the bin's midpoint.

    Bins: :math:`2^m` per octave over ``bits + 10`` octaves below the
    largest magnitude (:func:`_bins_per_octave`). :math:`O(N)` time,
    :math:`O(\\text{bins})` memory (:mod:`.kernels`).
    """
    dtype = np.float32 if getattr(x, "dtype", None) == np.float32 else np.float64
    octaves = s.bits + 10
    if m is None:
        m = _bins_per_octave(n, octaves)
    bins = _Bins(dtype, lo, hi, m, octaves)
    size = bins.size
    a, c = bins.edges()
    mid = 0.5 * a + 0.5 * c

    def one(x_, wt, acc):
        if x_.dtype != bins.dtype:
            x_ = x_.astype(bins.dtype)
        kernels.histogram(x_, wt, bins.shift, bins.kfloor, bins.half, mid, acc)

    def comb(p, q):
        p += q
        return p

    acc = _tiles(x, w, one, comb, state=lambda: np.zeros((size, 3)))
    cnt, sx, sq = acc[:, 0], acc[:, 1], acc[:, 2]
    keep = cnt > 0
    return bins, Atoms(a[keep], c[keep], cnt[keep], sx[keep], sq[keep]), keep


def _gather(x, w, bins: _Bins, mark: np.ndarray):
    """Pass 2: the samples (and weights) of the marked bins, in order."""

    def one(c, wt):
        if c.dtype != bins.dtype:
            c = c.astype(bins.dtype)
        xs, ws = kernels.gather(c, wt, bins.shift, bins.kfloor, bins.half, mark)
        return [[xs], [ws]]

    parts = _tiles(x, w, one, lambda p, q: [p[0] + q[0], p[1] + q[1]])
    xs = np.concatenate(parts[0]) if parts[0] else np.empty(0)
    ws = None if w is None else np.concatenate(parts[1])
    return xs, ws


def _merge(atoms: Atoms, drop: np.ndarray, pts: Atoms) -> Atoms:
    r"""``atoms`` without the ``drop`` ones, plus the point atoms ``pts``
    (sorted, inside the dropped bins): a merge by insertion position,
    :math:`O(K + P\log K)`, no sort."""
    keep = ~drop
    kept = np.flatnonzero(keep)
    k, p = kept.size, pts.k
    # each point goes after the kept atoms that start at or below it
    at = np.searchsorted(atoms.a[kept], pts.a, side="right") + np.arange(p)
    is_pt = np.zeros(k + p, dtype=bool)
    is_pt[at] = True
    out = []
    for u, v in (
        (atoms.a, pts.a),
        (atoms.c, pts.c),
        (atoms.n, pts.n),
        (atoms.s1, pts.s1),
        (atoms.s2, pts.s2),
        (atoms.r, pts.r),
    ):
        w = np.empty(k + p)
        w[is_pt] = v
        w[~is_pt] = u[kept]
        out.append(w)
    return Atoms(*out)


# ---------------------------------------------------------------------------
# the search
# ---------------------------------------------------------------------------
def _kink_range(atoms: Atoms, s: Scheme):
    """The steps between which some sample crosses some threshold."""
    thr = np.abs(s.thresholds())
    thr = thr[thr > 0]
    mag = np.maximum(np.abs(atoms.a), np.abs(atoms.c))
    low = np.minimum(np.abs(atoms.a), np.abs(atoms.c))
    if thr.size == 0 or not np.any(mag > 0):
        return None
    big = float(mag.max())
    small = float(low[low > 0].min()) if np.any(low > 0) else big * 2.0**-60
    return small / thr.max(), big / thr.min()


def _split(d1, d2, parts: int = 8):
    """Cut each interval into ``parts`` geometric pieces (``[0, d]``: the
    first piece reaches down to 0)."""
    base = np.where(d1 > 0, d1, d2 * 2.0**-30)
    r = (d2 / base) ** (1.0 / parts)
    j = np.arange(parts + 1)[None, :]
    e = base[:, None] * r[:, None] ** j
    e[:, 0] = d1
    e[:, -1] = d2
    return e[:, :-1].ravel(), e[:, 1:].ravel()


def _runs(d1, d2):
    """Merge touching intervals (sorted by ``d1``) into runs."""
    o = np.argsort(d1, kind="stable")
    d1, d2 = d1[o], d2[o]
    new = np.ones(d1.size, dtype=bool)
    new[1:] = d1[1:] > d2[:-1]
    st = np.flatnonzero(new)
    ends = np.maximum.reduceat(d2, st)
    return d1[st], ends


def _sweep(atoms: Atoms, s: Scheme, d1: float, d2: float):
    """Every quadratic piece of ``WD`` on ``[d1, d2]`` (point atoms cross;
    bins must not), centred at ``d1``: ``(step, value)`` of each piece's
    clamped stationary point, the value in long double."""
    thr, lev = s.thresholds(), s.indices()
    pos = thr > 0
    d0 = d1
    # state just above d1: t > 0 is below x iff x > t d1; t < 0 iff x >= t d1
    idx = np.where(
        pos,
        np.searchsorted(atoms.m, thr * d1, side="right"),
        np.searchsorted(atoms.m, thr * d1, side="left"),
    )
    q = lev[np.searchsorted(idx, np.arange(atoms.k), side="right")]
    # the starting sums and every increment in long double: F and A are
    # multiplied by steps up to the run's width, so their rounding must be
    # far below that of E (float64 increments cost 1e-7 relative, measured)
    dl = _LD(d0)
    ql = q.astype(_LD)
    e = atoms.r - ql * dl  # error of r at d0
    ne = atoms.n * e
    te = atoms.s2 + e * (2.0 * atoms.s1 + ne)
    tf = ql * (atoms.s1 + ne)
    ta = atoms.n * ql * ql
    e0, f0, a0 = np.sum(te), np.sum(tf), np.sum(ta)
    abs0 = (float(np.sum(np.abs(te))), float(np.sum(np.abs(tf))), float(np.sum(ta)))
    nz = thr != 0
    t = thr[nz]
    j = np.flatnonzero(nz)
    lo_v = np.where(t > 0, t * d1, t * d2)
    hi_v = np.where(t > 0, t * d2, t * d1)
    i0 = np.searchsorted(atoms.m, lo_v, side="right")
    i1 = np.maximum(np.searchsorted(atoms.m, hi_v, side="left"), i0)
    ln = i1 - i0
    tot = int(ln.sum())
    if tot:
        run = np.repeat(np.arange(t.size), ln)
        off = np.arange(tot) - np.repeat(np.cumsum(ln) - ln, ln)
        ai = i0[run] + off
        tt = t[run]
        p = atoms.m[ai] / tt
        o = np.argsort(p, kind="stable")  # merges the sorted runs
        p, ai, run, tt = p[o], ai[o], run[o], tt[o]
        jj = j[run]
        # t > 0: the atom falls from lev[j+1] to lev[j]; t < 0: it rises
        up = tt < 0
        lf = np.where(up, lev[jj], lev[jj + 1]).astype(_LD)
        lt = np.where(up, lev[jj + 1], lev[jj]).astype(_LD)
        x = atoms.r[ai]
        nn = atoms.n[ai]
        ef, et = x - lf * dl, x - lt * dl
        de = nn * (et * et - ef * ef)
        df = nn * (lt * et - lf * ef)
        da = nn * (lt * lt - lf * lf)
        np.clip(p, d1, d2, out=p)  # a rounded kink stays inside the run
    else:
        p = np.empty(0)
        de = df = da = np.empty(0, dtype=_LD)
    ev = np.concatenate([[e0], e0 + np.cumsum(de, dtype=_LD)])
    fv = np.concatenate([[f0], f0 + np.cumsum(df, dtype=_LD)])
    av = np.concatenate([[a0], a0 + np.cumsum(da, dtype=_LD)])
    left = np.concatenate([[d1], p]) - d0
    right = np.concatenate([p, [d2]]) - d0
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.where(av > 0, fv / np.where(av > 0, av, 1), right)
    u = np.clip(u.astype(np.float64), left, right)
    ul = u.astype(_LD)
    val = ev - 2 * fv * ul + av * ul * ul
    # rounding bound of the running sums and of the value (recursive
    # summation in long double: E, and F times 2u, A times u^2)
    w = float(np.max(np.abs(right)))
    scale = (
        abs0[0]
        + float(np.sum(np.abs(de)))
        + 2 * w * (abs0[1] + float(np.sum(np.abs(df))))
        + w * w * (abs0[2] + float(np.sum(np.abs(da))))
    )
    err = 8.0 * _EPS_LD * (de.size + atoms.k + 16) * scale
    return d0 + u, val, err


def _top_piece(atoms: Atoms, s: Scheme, floor: float, one_piece: bool):
    """The minimiser of the piece above ``floor`` (no crossing there)."""
    ref = 1.0 if one_piece else 2.0 * floor
    a, b = atoms._cells(
        np.searchsorted(atoms.m, s.thresholds() * ref, side="right")[None, :],
        s.indices(),
    )
    a, b = float(a[0]), float(b[0])
    fl = 0.0 if one_piece else floor
    if a > 0:
        return max(b / a, fl) if b / a > 0 or one_piece else fl
    return max(fl, 1.0)  # constant: any step above


def exact_optimum(
    atoms: Atoms,
    s: Scheme,
    regather=None,
    gather_max: float = 0,
    gather_width: float = 0,
    refine=None,
):
    """The exact minimiser over all steps, or None if the MSE has none
    (it decreases to a limit at 0 or infinity). Returns ``(step, atoms)``.

    ``regather(atoms, d1, d2)`` (histogram atoms) returns the atoms with the
    bins the intervals ``[d1, d2]`` sweep replaced by their samples; it is
    called once, when those bins hold at most ``gather_max`` weight, when
    the intervals are narrower than ``2 * gather_width`` (relative: the
    bins' relative width) or when the bounds no longer shrink.
    ``refine()`` (histogram atoms; ``refine.left()`` says whether a finer
    level is left) returns ``(atoms, regather, gather_width)`` of a finer
    histogram: it is called instead of the gather when the bins limit the
    bounds and the gather would hold more than :data:`REFINE_FRACTION` of
    the weight.
    Complexity: :math:`O(2^M\\log K)` per interval and round (a few rounds of a
    few intervals for continuous data), :math:`O(N)` per refinement, then
    :math:`O(P\\log R + K)` for the sweep, :math:`O(K + V)` for the screen and
    :math:`O(K)` per candidate rescored exactly.
    """
    kr = _kink_range(atoms, s)
    if kr is None:  # no threshold moves (1-bit midrise) or all data at zero
        t = _top_piece(atoms, s, 0.0, True)
        return (_best_float(atoms, s, t) if t > 0 else None), atoms
    k_lo, k_hi = max(kr[0], 5e-324), min(kr[1], 1.7e308)
    cands = [_top_piece(atoms, s, kr[1], False)]
    octs = max(1.0, math.log2(k_hi) - math.log2(k_lo))
    g = int(min(256, max(8, 2 * octs)))
    e = np.geomspace(k_lo, k_hi, g + 1)
    d1 = np.concatenate([[0.0], e[:-1]])
    d2 = e.copy()
    d2[-1] = k_hi
    best_ub = math.inf
    last_bm = math.inf
    tmax = float(np.max(np.abs(s.thresholds())))
    for _ in range(_ROUNDS):
        lb, _, kinks, bmass = atoms.bounds(d1, d2, s, want_ub=False)
        # the upper bound where the lower bounds are least (a few intervals)
        few = np.argsort(lb, kind="stable")[:4]
        # at one step each: only the bins astride a threshold are grouped
        at = np.sqrt(d1[few] * d2[few])
        at = np.where(d1[few] > 0, at, d2[few] * 0.5)
        ub = atoms.bounds(at, at, s)[1]
        best_ub = min(best_ub, float(ub.min()))
        keep = lb <= best_ub + atoms.slack + 1e-12 * abs(best_ub)
        d1, d2, kinks, bmass = d1[keep], d2[keep], kinks[keep], bmass[keep]
        nbm = float(bmass.sum())
        if nbm == 0 and kinks.sum() <= _SWEEP_KINKS:
            break
        if nbm and regather is not None:
            union = atoms.swept_bins(d1, d2, s)
            um = float(atoms.n[union].sum())
            rel = float(np.max(d2 / np.maximum(d1, 1e-300))) - 1
            narrow = rel <= 2 * gather_width
            # the union can only shrink once no sweep spans a level spacing
            resolved = rel * tmax <= 1.0
            stalled = narrow or (resolved and um >= 0.9 * last_bm)
            # a gather of more than REFINE_FRACTION of the weight costs
            # more than one more pass
            big = um > max(gather_max, REFINE_FRACTION * float(atoms.total))
            if stalled and big and refine is not None and refine.left():
                # the bins limit the bounds: a finer histogram (one more pass);
                # the coarse atoms go first (memory)
                atoms = union = None
                atoms, regather, gather_width = refine()
                last_bm = math.inf
                continue
            if um <= gather_max or stalled or d1.size > _MAX_SURVIVORS:
                atoms = regather(atoms, union)
                regather = None
                continue
            last_bm = um
        if d1.size > _MAX_SURVIVORS:
            break
        d1, d2 = _split(d1, d2)
    if regather is not None and atoms.swept_bins(d1, d2, s).any():
        atoms = regather(atoms, atoms.swept_bins(d1, d2, s))
    steps, vals = [np.asarray(cands, dtype=np.float64)], []
    r1, r2 = _runs(d1, d2)
    err = 0.0
    for x1, x2 in zip(r1, r2, strict=True):
        st, v, er = _sweep(atoms, s, float(x1), float(x2))
        steps.append(st)
        vals.append(v)
        err = max(err, er)
    st = np.concatenate(steps[1:]) if vals else np.empty(0)
    v = np.concatenate(vals) if vals else np.empty(0, dtype=_LD)
    picks = [steps[0]]
    if v.size:
        vmin = v.min()
        # every piece the rounding of the running sums could rank first
        tol = 1e-10 * abs(float(vmin)) + 2 * err + 1e-300
        near = np.flatnonzero(v <= vmin + tol)
        if near.size > _RESCORE:
            near = near[np.argsort(v[near], kind="stable")[:_RESCORE]]
        picks.append(st[near])
    cand = np.unique(np.concatenate(picks))
    cand = cand[cand > 0]
    # each candidate's stationary point B/A again, from its own assignment
    # summed directly (the centred sweep rounds Delta0 + F/A relative to
    # the run, not to the step); the better of the two is kept by the rescore
    cand = np.unique(np.concatenate([cand, atoms.polish(cand, s)]))
    cand = cand[(cand > 0) & np.isfinite(cand)]
    # screen fast, then score exactly every candidate the screen's rounding
    # bound cannot rule out
    vals_x, err = atoms.screen(cand, s)
    live = vals_x - err <= np.min(vals_x + err)
    cand, vals_x, err = cand[live], vals_x[live], err[live]
    redo = err > 0
    vals_x[redo] = atoms.exact(cand[redo], s)
    order = np.lexsort((-cand, vals_x))
    return _best_float(atoms, s, float(cand[order[0]])), atoms


def _best_float(atoms: Atoms, s: Scheme, best: float) -> float:
    """B/A is rounded (a few ulps): the best float of the piece is one of the
    two that bracket the exact stationary point, so the best candidate's
    neighbours within :data:`_ULPS` floats are scored too (:math:`O(K)` each);
    the lowest MSE wins, the largest step among equals."""
    near = [best]
    lo = hi = best
    for _ in range(_ULPS):
        lo, hi = np.nextafter(lo, 0.0), np.nextafter(hi, np.inf)
        near += [lo, hi]
    near = np.array(near)
    near = near[(near > 0) & np.isfinite(near)]
    v = atoms.exact(near, s)
    order = np.lexsort((-near, v))
    return float(near[order[0]])


def optimum_from_samples(samples, weights, s: Scheme, n: int, lo: float, hi: float):
    """The exact optimum of in-memory, memory-mapped or Dask samples.

    Up to :data:`SORT_MAX` in-memory samples: point atoms from one sort.
    Otherwise a histogram pass, then one gather pass. Returns
    ``(step or None, atoms)``.
    """
    if (n <= SORT_MAX and not is_dask(samples)) or not _HISTOGRAM:
        data = samples.compute() if is_dask(samples) else samples
        atoms = sorted_atoms(np.asarray(data), weights)
        return exact_optimum(atoms, s)
    octaves = s.bits + 10
    m0 = _bins_per_octave(n, octaves)
    # finest histogram: about N bins per sign in all, 2^16 per octave at most
    m_max = int(np.clip(math.floor(math.log2(max(n, 1) / octaves)), m0, 16))

    def level(m):
        bins, atoms, keep = histogram_atoms(samples, weights, lo, hi, s, n, m)
        pos = np.flatnonzero(keep)

        def regather(at, drop):
            full = np.zeros(bins.size, dtype=bool)
            full[pos[drop]] = True
            xs, ws = _gather(samples, weights, bins, full)
            return _merge(at, drop, sorted_atoms(xs, ws))

        return atoms, regather, 2.0**-bins.m

    state = {"m": m0}

    def refine():
        state["m"] = min(state["m"] + REFINE_STEP, m_max)
        return level(state["m"])

    refine.left = lambda: state["m"] < m_max
    first = list(level(m0))
    gmax = float(first[0].total) * min(0.25, GATHER_MAX / max(n, 1))
    # pop: no reference to the coarse atoms stays here once refined
    return exact_optimum(first.pop(0), s, first[0], gmax, first[1], refine)


#: In-memory samples up to this many are sorted (point atoms) instead of
#: histogrammed: the measured break-even (2-core machine, float32 normal and
#: t(3), bits 2-8) lies between 2^12 and 2^14 samples.
SORT_MAX = 1 << 13

#: Gather the swept bins' samples once they are at most this many.
GATHER_MAX = 1 << 12

#: Each refinement of the histogram has ``2**REFINE_STEP`` times more bins.
REFINE_STEP = 2

#: Refine the histogram (rather than gather) when the swept bins hold more
#: than this fraction of the weight.
REFINE_FRACTION = 0.125

#: The histogram route (tests may switch it off to compare with the sort).
_HISTOGRAM = True

#: About ``N / BIN_DIV / 2`` bins per sign in all (see :func:`_bins_per_octave`).
BIN_DIV = 32
