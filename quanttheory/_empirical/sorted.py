r"""The exact empirical optimum by one sort and a sweep over every kink.

:math:`D(\Delta)=\frac1N\sum_i (x_i-(k_i+o)\Delta)^2` is continuous and
piecewise quadratic in :math:`\Delta`: between kinks the level indices
:math:`k_i` are fixed and :math:`D=(C-2B\Delta+A\Delta^2)/N` with
:math:`A=\sum (k_i+o)^2`, :math:`B=\sum (k_i+o)x_i`. After sorting once,
prefix sums give each evaluation in :math:`O(2^M\log N)`. Grid, then the
monotone fixed point :math:`\Delta\leftarrow B/A` (each step the
closed-form minimum of the current piece), then an exact sweep over every
kink in a bracket around the best basin, which visits every piece there and
takes the closed-form minimum of each.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize

from .._core.minima import basins, require_step_dependence
from .._core.scheme import Scheme
from .sweep import count_kinks, piece_minima, search_top
from .values import curve, exact_values

__all__ = ["sorted_optimal"]

# Break-point budget of the exact empirical sweep (memory ~ 40 bytes each).
_SWEEP_MAX = 4_000_000


class _Prefix:
    """Sorted samples with extended-precision prefix sums of x and x^2."""

    def __init__(self, xs: np.ndarray):
        self.xs = xs
        self.n = xs.size
        ld = np.longdouble
        self.s1 = np.concatenate([[ld(0)], np.cumsum(xs, dtype=ld)])
        self.s2 = np.concatenate([[ld(0)], np.cumsum(xs.astype(ld) ** 2)])

    def ab(self, d: np.ndarray, s: Scheme):
        """A = sum k^2 and B = sum k x per step (k = level index + offset).

        Ties on a threshold are assigned to the upper cell here; this only
        guides the search (the final value is recomputed exactly).
        """
        idx = s.indices()
        bnd = s.thresholds()
        pos = np.searchsorted(self.xs, bnd[None, :] * d[:, None], side="left")
        edges = np.concatenate(
            [np.zeros((d.size, 1), int), pos, np.full((d.size, 1), self.n)], axis=1
        )
        cnt = np.diff(edges, axis=1).astype(np.longdouble)
        s1 = self.s1[edges[:, 1:]] - self.s1[edges[:, :-1]]
        a = (cnt * idx.astype(np.longdouble) ** 2).sum(1)
        b = (s1 * idx.astype(np.longdouble)).sum(1)
        return a, b

    def value(self, d: np.ndarray, s: Scheme) -> np.ndarray:
        a, b = self.ab(d, s)
        dl = d.astype(np.longdouble)
        return ((self.s2[-1] - 2 * b * dl + a * dl * dl) / self.n).astype(np.float64)


def sorted_optimal(dist, s: Scheme, model: str) -> float:
    """The exact global minimiser of the empirical MSE (or of its additive
    model), from one sort of the samples."""
    xs = dist.sorted
    d_hi = search_top(s, float(xs[0]), float(xs[-1]))
    n_grid = 256 if s.bits <= 10 else 64
    grid = np.geomspace(d_hi * 2.0**-12, d_hi, n_grid)
    if model == "additive":
        return _additive_optimal(dist, s, grid)
    pre = _Prefix(xs)
    vals = pre.value(grid, s)
    require_step_dependence(vals, np.max(vals), "for these samples", s)
    # 1. every kink of D over the whole search range, if there are few enough:
    #    then the sweep visits every quadratic piece and the result is the
    #    exact global minimiser.
    if count_kinks(xs, s, grid[0], grid[-1]) <= _SWEEP_MAX:
        cands = _sweep(pre, s, grid[0], grid[-1])
    else:
        # 2. otherwise: the best basins of the grid, each refined by the
        #    monotone fixed point and then swept exactly over the four grid
        #    intervals around it (shrunk around the fixed point if that
        #    bracket holds more than _SWEEP_MAX kinks).
        cands = []
        for j in basins(vals, 4):
            d0 = _fixed_point(pre, s, grid[j])
            lo = min(grid[max(j - 2, 0)], d0)
            hi = max(grid[min(j + 2, n_grid - 1)], d0)
            cands.append([d0])
            cands.append(_sweep(pre, s, lo, hi, centre=d0))
        cands = np.concatenate(cands)
    cands = np.unique(cands)
    cvals = exact_values(dist, cands, s)
    best = np.flatnonzero(cvals == cvals.min())
    return float(cands[best[-1]])


def _additive_optimal(dist, s: Scheme, grid: np.ndarray) -> float:
    """Minimiser of the additive model on samples: its best grid basins, each
    refined by bounded Brent."""

    def value(x):
        return float(curve(dist, np.array([x]), s, 0, "additive", 1)[0][0])

    vals = curve(dist, grid, s, 0, "additive", 1)[0]
    best = (math.inf, math.nan)
    for j in basins(vals, 4):
        a, b = grid[max(j - 1, 0)], grid[min(j + 1, grid.size - 1)]
        res = optimize.minimize_scalar(
            value, bounds=(a, b), method="bounded", options={"xatol": 1e-13 * grid[j]}
        )
        for x in (float(res.x), float(grid[j])):
            fx = value(x)
            if fx < best[0]:
                best = (fx, x)
    return best[1]


def _fixed_point(pre: _Prefix, s: Scheme, d0: float) -> float:
    """Monotone descent: each step jumps to the minimum of the current piece."""
    d = float(d0)
    v = float(pre.value(np.array([d]), s)[0])
    for _ in range(200):
        a, b = pre.ab(np.array([d]), s)
        if a[0] <= 0:
            break
        nd = float(b[0] / a[0])
        if not (nd > 0) or nd == d:
            break
        nv = float(pre.value(np.array([nd]), s)[0])
        if nv > v:
            break
        d, v = nd, nv
    return d


def _sweep(
    pre: _Prefix, s: Scheme, da: float, db: float, centre: float | None = None
) -> np.ndarray:
    """Closed-form minimum of every quadratic piece of D on [da, db].

    Returns the best few piece minimisers (candidates for exact scoring).
    The kinks are the steps where a sample sits on a threshold,
    ``x_i = m_b * step``. The bracket shrinks around ``centre`` (default its
    geometric centre) until it holds at most ``_SWEEP_MAX`` kinks.
    """
    xs = pre.xs
    if centre is None:
        centre = math.sqrt(da * db)
    while count_kinks(xs, s, da, db) > _SWEEP_MAX:
        da = centre * (da / centre) ** 0.5
        db = centre * (db / centre) ** 0.5
    # state at da, then every piece of the bracket
    a0, b0 = pre.ab(np.array([da]), s)
    c0 = float(pre.s2[-1])
    return np.asarray(
        piece_minima(xs, s, da, db, float(a0[0]), float(b0[0]), c0, pre.n)
    )
