r"""The kink sweep of the batched exact optimum, compiled where numba is installed.

:func:`sweep_rows` walks, for every row of a sorted ``(B, n)`` matrix, every
kink of the piecewise-quadratic MSE inside the row's bracket ``[a, b]`` in
increasing order, keeps the running :math:`A=\sum w k^2` and
:math:`B=\sum w k x` of each piece and scores each piece's clamped
stationary point :math:`B/A`; it returns the best :data:`KEEP` of them per
row and which of them rounding cannot separate from the best.

The kinks of threshold :math:`t_j` are the samples of its window
``[lo_j, hi_j)`` (sorted rows: ascending for :math:`t_j>0`, descending for
:math:`t_j<0`), already sorted by :math:`x/t_j`. The order of all kinks is
fixed: by value, then by threshold, then by place in the threshold's run.

* With numba (the optional extra ``quanttheory[fast]``): one loop per row,
  a binary heap merges the sorted runs, :math:`O(P\log T)` for :math:`P`
  kinks and :math:`T` thresholds, :math:`O(T)` memory.
* Otherwise: in blocks of rows, every run laid out in a padded matrix,
  one stable ``argsort`` per row (timsort: it merges the sorted runs) and
  a sequential ``cumsum`` of the updates along the row; :math:`O(P\log T)`
  too, with :math:`O(\text{block})` temporaries.

The two paths give **bit-identical** results: the same kinks in the same
order, the running sums accumulated sequentially from the same start by the
same float64 operations (no fast-math, no fused multiply-add), each piece
scored by the same expression, and the same ranking (value, then piece
order). Set ``QUANTTHEORY_NO_NUMBA=1`` (or :data:`USE_NUMBA` to False) to
force the numpy path.
"""

from __future__ import annotations

import numpy as np

# the one guarded numba import (and QUANTTHEORY_NO_NUMBA) of the package
from .kernels import HAVE_NUMBA, _nb

__all__ = ["HAVE_NUMBA", "KEEP", "USE_NUMBA", "sweep_rows"]

#: Use the compiled loop (tests set it to False to run the numpy path).
USE_NUMBA = HAVE_NUMBA

#: Candidates kept per row (best first).
KEEP = 16

#: Up to this many thresholds the compiled loop finds the next kink by a
#: scan of the runs' heads (else a heap).
_SCAN = 32

#: Elements of the largest temporary of a block of rows (numpy path).
_BLOCK = 1 << 21


def _score(a, bb, left, right, c, w, f):
    """Value and rounding margin of each piece's clamped stationary point
    (numpy; the same operations as the compiled loop)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        st = np.where(a > 0, bb / a, right)
        st = np.minimum(np.maximum(st, left), right)
        v = (c - 2.0 * bb * st + a * st * st) / w
        e = f * (c + 2.0 * np.abs(bb) * st + a * st * st) / w
        ok = np.isfinite(v) & (st > 0) & np.isfinite(st)
    return st, np.where(ok, v, np.inf), e


def _np_sweep(xs, ws, t, da, db, lo_w, hi_w, a, b, a0, b0, c, w, f, keep):
    nb, n = xs.shape
    nt = t.size
    cand = np.zeros((nb, keep))
    vals = np.full((nb, keep), np.inf)
    errs = np.zeros((nb, keep))
    lens = np.maximum(hi_w - lo_w, 0)
    width = max(int(lens.max(initial=0)), 1)
    rows = max(1, _BLOCK // (nt * width))
    ar = np.arange(width)
    up = t > 0
    for r0 in range(0, nb, rows):
        r1 = min(nb, r0 + rows)
        m = r1 - r0
        lo, hi, ln = lo_w[r0:r1], hi_w[r0:r1], lens[r0:r1]
        # run of threshold j: ascending from lo (t > 0), descending from hi-1
        first = np.where(up, lo, hi - 1)[:, :, None]
        step = np.where(up, 1, -1)[None, :, None]
        ii = np.clip(first + step * ar, 0, n - 1)
        valid = ar[None, None, :] < ln[:, :, None]
        rr = np.arange(r0, r1)[:, None, None]
        x = xs[rr, ii]
        wx = x if ws is None else ws[rr, ii]
        with np.errstate(divide="ignore", invalid="ignore"):
            kink = np.minimum(
                np.maximum(x / t[None, :, None], a[r0:r1, None, None]),
                b[r0:r1, None, None],
            )
        kink = np.where(valid, kink, np.inf).reshape(m, -1)
        if ws is None:
            dA = np.where(valid, np.broadcast_to(da[None, :, None], x.shape), 0.0)
            dB = np.where(valid, x * db[None, :, None], 0.0)
        else:
            dA = np.where(valid, wx * da[None, :, None], 0.0)
            dB = np.where(valid, (wx * x) * db[None, :, None], 0.0)
        o = np.argsort(kink, axis=1, kind="stable")
        kink = np.take_along_axis(kink, o, axis=1)
        ma = np.empty((m, kink.shape[1] + 1))
        mb = np.empty_like(ma)
        ma[:, 0], mb[:, 0] = a0[r0:r1], b0[r0:r1]
        ma[:, 1:] = np.take_along_axis(dA.reshape(m, -1), o, axis=1)
        mb[:, 1:] = np.take_along_axis(dB.reshape(m, -1), o, axis=1)
        np.cumsum(ma, axis=1, out=ma)
        np.cumsum(mb, axis=1, out=mb)
        left = np.concatenate([a[r0:r1, None], kink], axis=1)
        right = np.concatenate([kink, b[r0:r1, None]], axis=1)
        total = ln.sum(axis=1)
        # the last piece ends at b (padding after it: not a piece)
        right[np.arange(m), total] = b[r0:r1]
        st, v, e = _score(
            ma, mb, left, right, c[r0:r1, None], w[r0:r1, None], f[r0:r1, None]
        )
        v[np.arange(ma.shape[1])[None, :] > total[:, None]] = np.inf
        o = np.argsort(v, axis=1, kind="stable")[:, :keep]
        k = o.shape[1]
        cv = np.take_along_axis(v, o, axis=1)
        ce = np.where(np.isfinite(cv), np.take_along_axis(e, o, axis=1), 0.0)
        # near the best only (the others as the compiled loop leaves them)
        fin = np.isfinite(cv) & (cv - ce <= cv[:, :1] + ce[:, :1])
        fin[:, 0] = np.isfinite(cv[:, 0])
        cand[r0:r1, :k] = np.where(fin, np.take_along_axis(st, o, axis=1), 0.0)
        vals[r0:r1, :k] = np.where(fin, cv, np.inf)
        errs[r0:r1, :k] = np.where(fin, ce, 0.0)
    return cand, vals, errs


if _nb is not None:  # pragma: no branch

    @_nb.njit(cache=True, nogil=True, inline="always")
    def _less(hk, hj, p, q):  # pragma: no cover
        return hk[p] < hk[q] or (hk[p] == hk[q] and hj[p] < hj[q])

    @_nb.njit(cache=True, nogil=True)
    def _sift(hk, hj, hp, size, i):  # pragma: no cover
        while True:
            lc = 2 * i + 1
            if lc >= size:
                return
            m = lc
            rc = lc + 1
            if rc < size and _less(hk, hj, rc, lc):
                m = rc
            if _less(hk, hj, m, i):
                hk[i], hk[m] = hk[m], hk[i]
                hj[i], hj[m] = hj[m], hj[i]
                hp[i], hp[m] = hp[m], hp[i]
                i = m
            else:
                return

    @_nb.njit(cache=True, nogil=True)
    def _insert(cand, vals, errs, r, st, v, e):  # pragma: no cover
        keep = cand.shape[1]
        if not (v < vals[r, keep - 1]):
            return
        p = keep - 1
        while p > 0 and v < vals[r, p - 1]:
            cand[r, p] = cand[r, p - 1]
            vals[r, p] = vals[r, p - 1]
            errs[r, p] = errs[r, p - 1]
            p -= 1
        cand[r, p] = st
        vals[r, p] = v
        errs[r, p] = e

    @_nb.njit(cache=True, nogil=True)
    def _select(bs, bv, be, m, cand, vals, errs, r):  # pragma: no cover
        # the best piece (first of the least values), then the top KEEP of
        # the pieces that may rank among those near it, near ones only
        i0 = 0
        for i in range(1, m):
            if bv[i] < bv[i0]:
                i0 = i
        v0 = bv[i0]
        if not (v0 < np.inf):
            return
        e0 = be[i0]
        emx = 0.0
        for i in range(m):
            if bv[i] - be[i] <= v0 + e0 and be[i] > emx:
                emx = be[i]
        thr = v0 + e0 + emx
        keep = cand.shape[1]
        cnt = 0
        for i in range(m):
            if bv[i] <= thr:
                cnt += 1
        if cnt <= keep:
            for i in range(m):
                if bv[i] <= thr:
                    _insert(cand, vals, errs, r, bs[i], bv[i], be[i])
        else:  # many: a stable sort of them (value, then piece order)
            sel = np.empty(cnt, dtype=np.int64)
            q = 0
            for i in range(m):
                if bv[i] <= thr:
                    sel[q] = i
                    q += 1
            o = np.argsort(bv[sel], kind="mergesort")
            for p in range(keep):
                i = sel[o[p]]
                cand[r, p] = bs[i]
                vals[r, p] = bv[i]
                errs[r, p] = be[i]
        for p in range(keep):
            near = vals[r, p] < np.inf and (
                p == 0 or vals[r, p] - errs[r, p] <= vals[r, 0] + errs[r, 0]
            )
            if not near:
                cand[r, p] = 0.0
                vals[r, p] = np.inf
                errs[r, p] = 0.0

    @_nb.njit(cache=True, nogil=True)
    def _piece(aa, bb, left, right, c, w, f):  # pragma: no cover
        if aa > 0:
            st = bb / aa
        else:
            st = right
        st = min(max(st, left), right)
        v = (c - 2.0 * bb * st + aa * st * st) / w
        e = f * (c + 2.0 * abs(bb) * st + aa * st * st) / w
        if not (np.isfinite(v) and st > 0 and np.isfinite(st)):
            v = np.inf
        return st, v, e

    @_nb.njit(cache=True, nogil=True, inline="always")
    def _nb_most(lo_w, hi_w):  # pragma: no cover
        # the most pieces of any row: one plus its kinks
        most = 1
        for r in range(lo_w.shape[0]):
            m = 1
            for j in range(lo_w.shape[1]):
                m += max(hi_w[r, j] - lo_w[r, j], 0)
            most = max(most, m)
        return most

    @_nb.njit(cache=True, nogil=True)
    def _nb_sweep_scan(
        xs, ws, weighted, t, da, db, lo_w, hi_w, a, b, a0, b0, c, w, f, cand, vals, errs
    ):  # pragma: no cover
        # few thresholds: every kink computed first (one loop per run), the
        # next kink by a scan of the runs' heads, then every piece scored
        nb = xs.shape[0]
        nt = t.size
        hk = np.empty(nt)
        hp = np.empty(nt, dtype=np.int64)
        he = np.empty(nt, dtype=np.int64)
        most = _nb_most(lo_w, hi_w)
        kv = np.empty(most)
        ki = np.empty(most, dtype=np.int64)
        pa = np.empty(most)
        pb = np.empty(most)
        pl = np.empty(most)
        pr = np.empty(most)
        bs = np.empty(most)
        bv = np.empty(most)
        be = np.empty(most)
        for r in range(nb):
            lo = a[r]
            hi = b[r]
            # the kinks of each run, in run order, at kv[start_j:end_j]
            q = 0
            for j in range(nt):
                hk[j] = np.inf
                ln = hi_w[r, j] - lo_w[r, j]
                if ln <= 0:
                    continue
                tj = t[j]
                if tj > 0:
                    for u in range(ln):
                        i = lo_w[r, j] + u
                        kv[q + u] = min(max(xs[r, i] / tj, lo), hi)
                        ki[q + u] = i
                else:
                    for u in range(ln):
                        i = hi_w[r, j] - 1 - u
                        kv[q + u] = min(max(xs[r, i] / tj, lo), hi)
                        ki[q + u] = i
                hk[j] = kv[q]
                hp[j] = q
                he[j] = q + ln
                q += ln
            aa = a0[r]
            bb = b0[r]
            left = lo
            m = 0
            while True:
                j = 0
                kink = hk[0]
                for u in range(1, nt):
                    if hk[u] < kink:
                        kink = hk[u]
                        j = u
                if kink == np.inf:  # every run spent (kinks are finite)
                    break
                pa[m] = aa
                pb[m] = bb
                pl[m] = left
                pr[m] = kink
                m += 1
                p = hp[j]
                i = ki[p]
                x = xs[r, i]
                if weighted:
                    wi = ws[r, i]
                    aa += wi * da[j]
                    bb += (wi * x) * db[j]
                else:
                    aa += da[j]
                    bb += x * db[j]
                left = kink
                p += 1
                hp[j] = p
                hk[j] = kv[p] if p < he[j] else np.inf
            pa[m] = aa
            pb[m] = bb
            pl[m] = left
            pr[m] = hi
            m += 1
            cr, wr, fr = c[r], w[r], f[r]
            for u in range(m):
                bs[u], bv[u], be[u] = _piece(pa[u], pb[u], pl[u], pr[u], cr, wr, fr)
            _select(bs, bv, be, m, cand, vals, errs, r)

    @_nb.njit(cache=True, nogil=True)
    def _nb_sweep(
        xs, ws, weighted, t, da, db, lo_w, hi_w, a, b, a0, b0, c, w, f, cand, vals, errs
    ):  # pragma: no cover
        nb = xs.shape[0]
        nt = t.size
        hk = np.empty(nt)
        hj = np.empty(nt, dtype=np.int64)
        hp = np.empty(nt, dtype=np.int64)
        most = _nb_most(lo_w, hi_w)
        bs = np.empty(most)
        bv = np.empty(most)
        be = np.empty(most)
        for r in range(nb):
            lo = a[r]
            hi = b[r]
            size = 0
            for j in range(nt):
                if hi_w[r, j] > lo_w[r, j]:
                    i = lo_w[r, j] if t[j] > 0 else hi_w[r, j] - 1
                    hk[size] = min(max(xs[r, i] / t[j], lo), hi)
                    hj[size] = j
                    hp[size] = i
                    size += 1
            for i in range(size // 2 - 1, -1, -1):
                _sift(hk, hj, hp, size, i)
            aa = a0[r]
            bb = b0[r]
            left = lo
            cr, wr, fr = c[r], w[r], f[r]
            m = 0
            while size > 0:
                kink = hk[0]
                j = hj[0]
                i = hp[0]
                bs[m], bv[m], be[m] = _piece(aa, bb, left, kink, cr, wr, fr)
                m += 1
                x = xs[r, i]
                if weighted:
                    wi = ws[r, i]
                    aa += wi * da[j]
                    bb += (wi * x) * db[j]
                else:
                    aa += da[j]
                    bb += x * db[j]
                left = kink
                # next sample of run j
                if t[j] > 0:
                    i += 1
                    more = i < hi_w[r, j]
                else:
                    i -= 1
                    more = i >= lo_w[r, j]
                if more:
                    hk[0] = min(max(xs[r, i] / t[j], lo), hi)
                    hp[0] = i
                else:
                    size -= 1
                    hk[0], hj[0], hp[0] = hk[size], hj[size], hp[size]
                _sift(hk, hj, hp, size, 0)
            bs[m], bv[m], be[m] = _piece(aa, bb, left, hi, cr, wr, fr)
            m += 1
            _select(bs, bv, be, m, cand, vals, errs, r)


def sweep_rows(xs, ws, t, da, db, lo_w, hi_w, a, b, a0, b0, c, w, f, keep=KEEP):
    r"""The best :data:`KEEP` pieces of every row in its bracket ``[a, b]``.

    Parameters
    ----------
    xs, ws : ndarray
        ``(B, n)`` rows sorted ascending (float64) and their weights (None:
        all 1).
    t, da, db : ndarray
        The thresholds (step units) and, per threshold, the change of
        :math:`A` and of :math:`B/x` when a sample of weight 1 crosses it
        as the step grows.
    lo_w, hi_w : ndarray
        ``(B, T)`` int64: the samples ``[lo, hi)`` of each threshold's
        window (its kinks in ``[a, b]``; empty for ``t = 0``).
    a, b, a0, b0, c, w, f : ndarray
        Per row: the bracket, :math:`A` and :math:`B` at ``a``,
        :math:`C=\sum wx^2`, :math:`W=\sum w` and the rounding factor of a
        piece's value.
    keep : int, optional
        Candidates kept per row (:data:`KEEP`).

    Returns
    -------
    tuple of ndarray
        ``(B, keep)`` steps, values and rounding margins of the best
        ``keep`` pieces (by value, then by piece order) that rounding cannot
        separate from the best (the others: step 0, value ``inf``).

    Notes
    -----
    :math:`O(P\log T)` for the :math:`P` kinks of the brackets (numba: a
    heap merge per row; numpy: a stable sort per row of the padded runs).

    Examples
    --------
    Levels ``-1, 0, 1`` (thresholds ``-1/2, 1/2``), samples ``-1, 1/2, 1``:
    at ``0+`` every sample is on an outer level (:math:`A=3`,
    :math:`B=5/2`) and the first piece, ``(0, 1]``, holds the minimum:
    :math:`B/A = 5/6`, :math:`D = (9/4 - 25/12)/3 = 1/18`.

    >>> xs = np.array([[-1.0, 0.5, 1.0]])
    >>> t = np.array([-0.5, 0.5])
    >>> da, db = np.array([-1.0, -1.0]), np.array([1.0, -1.0])
    >>> lo_w, hi_w = np.array([[0, 1]]), np.array([[1, 3]])
    >>> one = np.ones(1)
    >>> st, v, e = sweep_rows(xs, None, t, da, db, lo_w, hi_w, 0 * one,
    ...                       np.inf * one, 3 * one, 2.5 * one, 2.25 * one,
    ...                       3 * one, 1e-13 * one)
    >>> float(st[0, 0]), round(float(v[0, 0]), 12)
    (0.8333333333333334, 0.055555555556)
    """
    nb = xs.shape[0]
    lo_w = np.ascontiguousarray(lo_w, dtype=np.int64)
    hi_w = np.ascontiguousarray(hi_w, dtype=np.int64)
    args = [np.ascontiguousarray(v, dtype=np.float64) for v in (a, b, a0, b0, c, w, f)]
    if nb == 0:
        z = np.zeros((0, keep))
        return z, z.copy(), z.copy()
    if not (USE_NUMBA and HAVE_NUMBA):
        return _np_sweep(xs, ws, t, da, db, lo_w, hi_w, *args, keep)
    cand = np.zeros((nb, keep))
    vals = np.full((nb, keep), np.inf)
    errs = np.zeros((nb, keep))
    wt = xs if ws is None else np.ascontiguousarray(ws, dtype=np.float64)
    kern = _nb_sweep_scan if t.size <= _SCAN else _nb_sweep
    kern(
        np.ascontiguousarray(xs, dtype=np.float64),
        wt,
        ws is not None,
        np.ascontiguousarray(t, dtype=np.float64),
        np.ascontiguousarray(da, dtype=np.float64),
        np.ascontiguousarray(db, dtype=np.float64),
        lo_w,
        hi_w,
        *args,
        cand,
        vals,
        errs,
    )
    return cand, vals, errs
