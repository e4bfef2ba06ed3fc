r"""Primitives of the sorted route (:mod:`.sorted`, the additive model): the
step range a search needs, the kink count and the sweep over quadratic
pieces."""

from __future__ import annotations

import numpy as np

from .._core.scheme import Scheme

__all__ = ["count_kinks", "piece_minima", "search_top"]


def search_top(s: Scheme, lo: float, hi: float) -> float:
    """The largest step a search needs: twice the smallest step at which the
    outermost levels reach the data's ends ``lo`` and ``hi`` (nothing is
    clipped), or, if no level lies on the data's side, twice the step that
    puts the farthest level at the largest magnitude."""
    reach = []
    if s.top > 0 and hi > 0:
        reach.append(hi / s.top)
    if s.bottom < 0 and lo < 0:
        reach.append(lo / s.bottom)
    if reach:
        return 2.0 * max(reach)
    return 2.0 * max(abs(lo), abs(hi)) / max(abs(s.top), abs(s.bottom))


def count_kinks(xs: np.ndarray, s: Scheme, da: float, db: float) -> int:
    """Number of (sample, threshold) crossings for steps in [da, db]."""
    bnd = s.thresholds()
    lo_i = np.searchsorted(xs, np.minimum(bnd * da, bnd * db), side="left")
    hi_i = np.searchsorted(xs, np.maximum(bnd * da, bnd * db), side="right")
    return int((hi_i - lo_i)[bnd != 0].sum())


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
    thr = s.thresholds()
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
