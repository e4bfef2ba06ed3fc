r"""The batched empirical engine: one distribution per row of a matrix.

A batched :class:`~.empirical.Empirical` (``axis=`` per channel,
``group_size=`` per group) holds its samples as a ``(B, n)`` matrix, one row
per distribution, and optional non-negative weights of the same shape. Every
function here works on all rows at once: array operations over the whole
matrix (in blocks of rows, to bound memory), never a Python loop over rows.

Weighted MSE of a row at step :math:`\Delta`,

.. math::

    D(\Delta) = \frac{\sum_i w_i\,(x_i - Q_\Delta(x_i))^2}{\sum_i w_i}
    = \frac{C - 2B\Delta + A\Delta^2}{W},

with :math:`A=\sum w_i (k_i+o)^2`, :math:`B=\sum w_i (k_i+o)x_i`,
:math:`C=\sum w_i x_i^2`, :math:`W=\sum w_i` and the level indices
:math:`k_i` fixed between kinks (a sample on a decision threshold,
:math:`\Delta = x_i/t_j`). :math:`D` is continuous and piecewise quadratic.

Exact optimum (:func:`batched_optimal`)
    1. Sort each row (``np.sort(axis=-1)``, weights along) and take
       sequential prefix sums of :math:`w`, :math:`wx`, :math:`wx^2`:
       :math:`O(n\log n)` per row.
    2. Bracket: on a geometric grid per row, :math:`D` at each grid step
       from the prefix sums (one :func:`numpy.searchsorted` per threshold on
       order-preserving integer keys of the rows for float32 values, a
       vectorised binary search otherwise: :math:`O(2^M\log n)` per step)
       gives an upper bound :math:`U` on the minimum (also each grid
       piece's quadratic at its own stationary point: the nearest levels do
       at least as well). On each grid interval :math:`[a, b]` the samples
       that no threshold crosses keep their level, and the exact minimum of
       their quadratic over :math:`[a,b]`, plus for every sample inside a
       single threshold window the squared gap to its two possible levels,
       is a lower bound :math:`L` of :math:`D` on the interval. Every
       interval with :math:`L > U` (beyond a rounding margin) is discarded;
       the hull of the rest is subdivided again while it shrinks and holds
       more than 1024 kinks. The range starts at
       :math:`[\Delta_{hi}2^{-4}, \Delta_{hi}]`, :math:`\Delta_{hi}` twice
       the smallest step that clips nothing; it is extended down by
       :math:`2^{-24}` for rows whose lower bound on :math:`(0, \Delta_{lo}]`
       (the samples beyond the outermost thresholds) does not exclude it,
       and up by :math:`2^4` for rows whose lower bound on
       :math:`[\Delta_{hi}, \infty)` (the samples in the cells next to 0)
       does not: the search covers every step :math:`\Delta > 0`. Rows
       with at most :data:`_FULL_KINKS` kinks (samples times nonzero
       thresholds; e.g. groups of 128 at 4 bits) skip this step: the sweep
       covers every step :math:`(0, \infty)` from the state at :math:`0^+`.
    3. Sweep (:func:`.batched_kernels.sweep_rows`, numba or a bit-identical
       numpy path): the kinks of each threshold are one sorted run of the
       sorted row; the runs are merged per row (fixed order: value, then
       threshold, then place in the run), :math:`A` and :math:`B` are
       updated sequentially, and each piece's closed-form stationary point
       :math:`B/A`, clamped to the piece, is a candidate.
       :math:`O(P\log T)` for the :math:`P` kinks and :math:`T` thresholds.
    4. The best candidates of each row that rounding of the running sums
       cannot separate (16, more where all 16 are that close, up to
       1024) are rescored exactly, :math:`\frac1W\sum_i w_i(x_i-Q(x_i))^2` summed
       directly over the row (:math:`O(n)` each), and the least wins; equal
       values go to the larger step. The winner is then :func:`snap`-ped:
       its piece's :math:`B/A` summed directly along the sorted row, so the
       float depends only on the row and the piece.

Each row's result depends only on that row (its grid is relative to its
own range, and every sum runs along the row), so a row gives the same float
whichever batch it is in (tested bit for bit).
"""

from __future__ import annotations

import numpy as np

from .._core.errors import InvalidArgument
from .._core.scheme import Scheme, level_index
from .batched_kernels import KEEP, sweep_rows

__all__ = [
    "batched_optimal",
    "batched_values",
    "canonical_step",
    "count_below",
    "row_ranges",
    "smoothed_curvature_rows",
]

_EPS = float(np.finfo(np.float64).eps)

#: Octaves below the top of the search range that the first grid covers.
_OCTAVES = 4
#: Grid points per octave of the first grid, and points of each refinement.
_PER_OCTAVE = 2
_REFINE = 8
#: Refinement rounds at most (each shrinks the bracket or stops).
_ROUNDS = 8
#: A bracket with at most this many kinks is swept (else refined again);
#: for long rows (``n > 512``) already at a quarter of it (measured: a
#: refinement round costs more than a long sweep on short rows only).
_SWEEP_KINKS = 1024
#: A refinement that leaves more than this fraction of the bracket (in log)
#: is the last.
_SHRINK = 0.8
#: Candidates kept at most per row where many are near the best.
_KEEP_MOST = 1024
#: Rows with at most this many kinks (samples x nonzero thresholds) are
#: swept whole, without a bracket.
_FULL_KINKS = 1 << 12
#: Elements of the largest temporary of a block of rows.
_BLOCK = 1 << 22

# Same one-sided rule as the 1-D MSE (quanttheory._empirical.values).
_SIDE_EPS = 2.0**-48


# ---------------------------------------------------------------------------
# primitives
# ---------------------------------------------------------------------------
def count_below(xs: np.ndarray, q: np.ndarray, keys=None) -> np.ndarray:
    r"""Per row, how many of the sorted ``xs[r]`` are ``< q[r, ...]``.

    ``xs`` is ``(B, n)`` sorted along rows, ``q`` is ``(B, ...)``. With
    ``keys`` (:func:`row_keys`, for rows of float32 values) one
    :func:`numpy.searchsorted` on the rows' keys, :math:`O(\log(Bn))` per
    query in C; else a branchless binary search over all queries at once,
    :math:`\lceil\log_2(n+1)\rceil` vectorised gathers.

    Examples
    --------
    >>> xs = np.array([[0.0, 1.0, 2.0], [5.0, 6.0, 7.0]])
    >>> q = np.array([[1.5, 9.0], [5.0, 6.5]])
    >>> count_below(xs, q).tolist(), count_below(xs, q, row_keys(xs)).tolist()
    ([[2, 3], [0, 2]], [[2, 3], [0, 2]])
    """
    b, n = xs.shape
    base = (np.arange(b, dtype=np.int64) * n).reshape((b,) + (1,) * (q.ndim - 1))
    if keys is not None:
        qk = _query_keys(q) | (np.arange(b, dtype=np.int64) << 32).reshape(base.shape)
        return np.searchsorted(keys, qk) - base
    flat = xs.reshape(-1)
    pos = np.zeros(q.shape, dtype=np.int64)
    step = 1 << max(n.bit_length() - 1, 0)
    while step and n:
        cand = pos + step
        idx = np.minimum(cand, n) - 1 + base
        ok = (cand <= n) & (flat[idx] < q)
        pos = np.where(ok, cand, pos)
        step >>= 1
    return pos


def _key32(f: np.ndarray) -> np.ndarray:
    """Order-preserving key in ``[0, 2**32)`` of float32 values (-0.0 taken
    as +0.0), as int64."""
    b = np.ascontiguousarray(f + np.float32(0.0)).view(np.int32)
    k = b ^ ((b >> 31) & np.int32(0x7FFFFFFF))
    return k.astype(np.int64) + (1 << 31)


def _query_keys(q: np.ndarray) -> np.ndarray:
    """Key of the smallest float32 ``>= q``: for float32 data ``x < q`` iff
    ``key(x) < key(ceil32(q))``."""
    with np.errstate(over="ignore"):
        f = q.astype(np.float32)
    low = f.astype(np.float64) < q
    f = np.where(low, np.nextafter(f, np.float32(np.inf)), f)
    return _key32(f)


def row_keys(xs: np.ndarray):
    """``(row << 32) | key(x)`` of sorted rows whose values are all float32
    numbers (None otherwise): one globally sorted int64 array."""
    with np.errstate(over="ignore", under="ignore"):
        f = xs.astype(np.float32)
    if xs.shape[0] >= 1 << 31 or not np.array_equal(f, xs):
        return None
    rows = (np.arange(xs.shape[0], dtype=np.int64) << 32)[:, None]
    return (_key32(f) | rows).reshape(-1)


def row_ranges(xs: np.ndarray, ws) -> tuple[np.ndarray, np.ndarray]:
    """``(lo, hi)`` per row over the samples of positive weight."""
    if ws is None:
        return xs.min(axis=1), xs.max(axis=1)
    pos = ws > 0
    lo = np.where(pos, xs, np.inf).min(axis=1)
    hi = np.where(pos, xs, -np.inf).max(axis=1)
    return lo, hi


def _search_top(s: Scheme, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Vectorised :func:`quanttheory._empirical.sweep.search_top`."""
    reach = np.full(lo.shape, -np.inf)
    if s.top > 0:
        reach = np.where(hi > 0, np.maximum(reach, hi / s.top), reach)
    if s.bottom < 0:
        reach = np.where(lo < 0, np.maximum(reach, lo / s.bottom), reach)
    far = np.maximum(np.abs(lo), np.abs(hi)) / max(abs(s.top), abs(s.bottom))
    return 2.0 * np.where(reach > -np.inf, reach, far)


# ---------------------------------------------------------------------------
# direct (exact) values
# ---------------------------------------------------------------------------
def batched_values(xs, ws, d: np.ndarray, s: Scheme, order: int, side: int = 1):
    """``[D, D', D'']`` up to ``order`` per row at steps ``d`` of shape ``(B, m)``.

    Summed directly over each row (``np.sum(axis=-1)``, pairwise),
    :math:`O(n)` per row and step: :math:`D = \\sum w e^2/W`,
    :math:`D' = -2\\sum w k e/W`, :math:`D'' = 2\\sum w k^2/W` with
    :math:`e = x - k\\Delta` and :math:`k` the level index (taken at the
    step moved by :math:`2^{-48}` towards ``side`` for the derivatives, as
    the 1-D engine does). Zero weights are absent samples.

    Examples
    --------
    >>> from quanttheory._core.scheme import get_scheme
    >>> xs = np.array([[0.1, 0.4], [1.0, 1.0]])
    >>> s = get_scheme("t", "paper", 2)
    >>> batched_values(xs, None, np.array([[0.5], [1.0]]), s, 0)[0]
    array([[0.01],
           [0.  ]])
    """
    b = xs.shape[0]
    out = [np.empty(d.shape) for _ in range(order + 1)]
    if b == 0:
        return out
    wsum = xs.shape[1] if ws is None else ws.sum(axis=1)
    rows = max(1, _BLOCK // max(xs.shape[1], 1))
    for r0 in range(0, b, rows):
        r1 = min(b, r0 + rows)
        x = xs[r0:r1]
        w = None if ws is None else ws[r0:r1]
        tot = wsum if ws is None else wsum[r0:r1]
        for j in range(d.shape[1]):  # steps per row (usually one)
            dj = d[r0:r1, j : j + 1]
            dq = dj * (1.0 + side * _SIDE_EPS) if order >= 1 else dj
            k = level_index(x, dq, s)
            err = x - k * dj
            terms = [err * err, k * err, k * k][: order + 1]
            for i, t in enumerate(terms):
                if w is not None:
                    t = t * w
                v = t.sum(axis=1) / tot
                out[i][r0:r1, j] = (1.0, -2.0, 2.0)[i] * v
    return out


# ---------------------------------------------------------------------------
# the exact optimum
# ---------------------------------------------------------------------------
class _Rows:
    """Sorted rows with sequential prefix sums of w, w x and w x^2.

    ``ri`` are the rows in use (all, or a subset made by :func:`_subset`
    without copying the arrays); ``w`` and ``c`` (total weight and
    :math:`\\sum w x^2`) and every query are per row in use.
    """

    def __init__(self, xs: np.ndarray, ws, prefix: bool = True):
        if ws is not None:
            o = np.argsort(xs, axis=1, kind="stable")
            xs = np.take_along_axis(xs, o, axis=1)
            ws = np.take_along_axis(ws, o, axis=1)
        else:
            xs = np.sort(xs, axis=1)
        self.xs, self.ws = xs, ws
        b, n = xs.shape
        self.n = n
        self.ri = np.arange(b, dtype=np.int64)
        wx = xs if ws is None else ws * xs
        if not prefix:  # what the whole sweep and snap read only
            self.keys = None
            self.w = np.full(b, float(n)) if ws is None else ws.sum(axis=1)
            self.c = (wx * xs).sum(axis=1)
            return
        z = np.zeros((b, 1))
        self.p1 = np.concatenate([z, np.cumsum(wx, axis=1)], axis=1)
        self.p2 = np.concatenate([z, np.cumsum(wx * xs, axis=1)], axis=1)
        if ws is None:
            self.p0 = None
            self.w = np.full(b, float(n))
        else:
            self.p0 = np.concatenate([z, np.cumsum(ws, axis=1)], axis=1)
            self.w = self.p0[:, -1].copy()
        self.c = self.p2[:, -1].copy()
        self.keys = row_keys(xs)

    def _base(self, ndim: int, width: int):
        return (self.ri * width).reshape((-1,) + (1,) * (ndim - 1))

    def below(self, q):
        """:func:`count_below` on the rows in use."""
        base = self._base(q.ndim, self.n)
        if self.keys is not None:
            rid = (self.ri << 32).reshape(base.shape)
            return np.searchsorted(self.keys, _query_keys(q) | rid) - base
        n = self.n
        flat = self.xs.reshape(-1)
        pos = np.zeros(q.shape, dtype=np.int64)
        step = 1 << max(n.bit_length() - 1, 0)
        while step and n:
            cand = pos + step
            ok = (cand <= n) & (flat[np.minimum(cand, n) - 1 + base] < q)
            pos = np.where(ok, cand, pos)
            step >>= 1
        return pos

    def take(self, p, pos):
        """``p[r, pos[r, ...]]`` (``p`` None: the count ``pos`` itself)."""
        if p is None:
            return pos.astype(np.float64)
        return p.reshape(-1)[pos + self._base(pos.ndim, self.n + 1)]

    def sums(self, start, end):
        """``(S0, S1, S2)`` over ``[start, end)`` (empty where end < start)."""
        end = np.maximum(end, start)
        return tuple(
            self.take(p, end) - self.take(p, start) for p in (self.p0, self.p1, self.p2)
        )


def _at(rows: _Rows, s: Scheme, d: np.ndarray):
    """Threshold positions at steps ``d`` (B, ...) and the prefix sums there:
    ``pos`` and ``[P0, P1, P2]``, each of shape ``(..., T)``."""
    pos = rows.below(d[..., None] * s.thresholds())
    return pos, [rows.take(p, pos) for p in (rows.p0, rows.p1, rows.p2)]


def _totals(rows: _Rows, ndim: int):
    """``[W, S1, C]`` of the rows in use, shaped to broadcast over ``ndim``."""
    shape = (-1,) + (1,) * (ndim - 1)
    s1 = rows.p1.reshape(-1)[rows.ri * (rows.n + 1) + rows.n]
    return [v.reshape(shape) for v in (rows.w, s1, rows.c)]


def _cell_ab(rows: _Rows, s: Scheme, pre):
    """``A, B`` from the prefix sums ``pre`` at the thresholds (..., T)."""
    idx = s.indices()
    tot = _totals(rows, pre[0].ndim)
    out = []
    for p, tt, c in ((pre[0], tot[0], idx * idx), (pre[1], tot[1], idx)):
        zero = np.zeros((*p.shape[:-1], 1))
        ext = np.concatenate([zero, p, zero + tt], axis=-1)
        out.append((np.diff(ext, axis=-1) * c).sum(-1))
    return out


def _cells(rows: _Rows, s: Scheme, d: np.ndarray):
    """Threshold positions ``(..., T)`` at steps ``d`` (B, m) and ``A, B`` there."""
    pos, pre = _at(rows, s, d)
    a, bb = _cell_ab(rows, s, pre)
    return pos, a, bb


def _prefix_value(rows: _Rows, a, bb, d):
    c = rows.c.reshape((-1,) + (1,) * (d.ndim - 1))
    w = rows.w.reshape(c.shape)
    return (c - 2.0 * bb * d + a * d * d) / w


def _margin(rows: _Rows, a, bb, d, n_terms: int):
    """A bound on the rounding of a prefix-sum value (relative to its terms)."""
    c = rows.c.reshape((-1,) + (1,) * (d.ndim - 1))
    w = rows.w.reshape(c.shape)
    scale = (c + 2.0 * np.abs(bb) * d + a * d * d) / w
    return 8.0 * (rows.n + 2 * n_terms + 8) * _EPS * scale


def _interval_bounds(rows: _Rows, s: Scheme, g: np.ndarray, pos, pre):
    r"""Lower bound of D on each interval ``[g_m, g_{m+1}]`` (B, G).

    The samples outside every threshold window ``[t_j a, t_j b]`` keep their
    level on the interval: the minimum of their exact quadratic over
    ``[a, b]``. A sample inside window ``j`` only (the windows beside it do
    not overlap it) sits on level :math:`c_j` or :math:`c_{j+1}`, so its
    error is at least the gap :math:`eta_j` between the window and the
    nearer of the two level segments :math:`c_j[a,b]`, :math:`c_{j+1}[a,b]`
    (0 where windows overlap). The sum of both bounds D from below.
    ``pos`` and ``pre`` are the positions and prefix sums at the grid's
    thresholds (:func:`_at`), shared with the grid's values.
    """
    t = s.thresholds()
    idx = s.indices()
    up = t > 0

    def window(v):  # (start, end) of each threshold's window, per interval
        va, vb = v[:, :-1, :], v[:, 1:, :]
        return np.where(up, va, vb), np.where(up, vb, va)

    lo_i, hi_i = window(pos)
    shape = (*lo_i.shape[:-1], 1)
    # fixed cell j: from the end of window j-1 to the start of window j
    start_i = np.concatenate([np.zeros(shape, np.int64), hi_i], axis=-1)
    end_i = np.concatenate([lo_i, np.full(shape, rows.n, np.int64)], axis=-1)
    empty = end_i < start_i
    tot = _totals(rows, 3)
    sums = []
    cnt = None
    for k, v in enumerate(pre):
        lo_v, hi_v = window(v)
        if k == 0:
            cnt = hi_v - lo_v
        z = np.zeros(shape)
        start = np.concatenate([z, hi_v], axis=-1)
        end = np.concatenate([lo_v, z + tot[k]], axis=-1)
        sums.append(np.where(empty, 0.0, end - start))
    af = (sums[0] * (idx * idx)).sum(-1)
    bf = (sums[1] * idx).sum(-1)
    cf = sums[2].sum(-1)
    a, b = g[:, :-1], g[:, 1:]
    w = rows.w[:, None]
    # the crossing samples: gap between window j and levels c_j, c_{j+1}.
    # On a geometric grid b = rho a, so the gap is a * f_j(rho), with f of
    # shape (B, T); the windows' overlap depends on rho alone too
    rho = (g[:, 1] / g[:, 0])[:, None]
    one = np.ones_like(rho)
    wlo = np.minimum(t * one, t * rho)
    whi = np.maximum(t * one, t * rho)
    q1 = np.maximum(idx[:-1] * one, idx[:-1] * rho)
    p2 = np.minimum(idx[1:] * one, idx[1:] * rho)
    f = np.maximum(np.minimum(wlo - q1, p2 - whi), 0.0)
    alone = np.broadcast_to(t != 0, f.shape).copy()
    if t.size > 1:
        sep = whi[:, :-1] < wlo[:, 1:]  # windows j and j+1 apart
        alone[:, :-1] &= sep
        alone[:, 1:] &= sep
    f2 = np.where(alone, f * f, 0.0)[:, None, :]
    cross = (np.maximum(cnt, 0.0) * f2).sum(-1) * (a * a) / w
    with np.errstate(divide="ignore", invalid="ignore"):
        st = np.where(af > 0, bf / af, b)
    st = np.clip(st, a, b)

    def q(x):
        return (cf - 2.0 * bf * x + af * x * x) / w

    lb = np.minimum(np.minimum(q(a), q(b)), q(st)) + cross
    return lb, af, bf


def t_nonzero(s: Scheme) -> np.ndarray:
    """Mask of the thresholds that are not 0 (0 is crossed by no sample)."""
    return s.thresholds() != 0


def _floor_bound(rows: _Rows, s: Scheme, lo: np.ndarray) -> np.ndarray:
    """Lower bound of D on ``(0, lo]``: the samples beyond the outermost
    thresholds at ``lo`` (all of a sign that has no threshold) stay on the
    outermost levels for every smaller step."""
    t = s.thresholds()
    idx = s.indices()
    zero = np.zeros((lo.size, 1))
    top = t.max() * lo if t.max() > 0 else 0.0 * lo
    bottom = t.min() * lo if t.min() < 0 else 0.0 * lo
    p_top = rows.below(top[:, None] + zero)[:, 0]
    p_bot = rows.below(bottom[:, None] + zero)[:, 0]
    s0, s1, s2 = rows.sums(p_top, np.full_like(p_top, rows.n))
    r0, r1, r2 = rows.sums(np.zeros_like(p_bot), p_bot)
    af = s0 * idx[-1] ** 2 + r0 * idx[0] ** 2
    bf = s1 * idx[-1] + r1 * idx[0]
    cf = s2 + r2
    with np.errstate(divide="ignore", invalid="ignore"):
        st = np.clip(np.where(af > 0, bf / af, lo), 0.0, lo)
    w = rows.w

    def q(x):
        return (cf - 2.0 * bf * x + af * x * x) / w

    return np.minimum(np.minimum(q(0.0 * lo), q(lo)), q(st))


def _ceiling_bound(rows: _Rows, s: Scheme, hi: np.ndarray) -> np.ndarray:
    """Lower bound of D on ``[hi, inf)``: the samples inside the cells next
    to 0 at ``hi`` stay there for every larger step."""
    t = s.thresholds()
    idx = s.indices()
    jn = int((t < 0).sum())  # cell jn: the first above every negative threshold
    jp = int((t <= 0).sum())  # t[jp]: the smallest positive threshold
    zero = np.zeros((hi.size, 1))
    start = (
        rows.below((t[jn - 1] * hi)[:, None] + zero)[:, 0]
        if jn > 0
        else np.zeros(hi.size, np.int64)
    )
    end = (
        rows.below((t[jp] * hi)[:, None] + zero)[:, 0]
        if jp < t.size
        else np.full(hi.size, rows.n, np.int64)
    )
    if jp > jn:  # a threshold at 0 (midrise): two cells
        mid = rows.below(zero)[:, 0]
        parts = [(start, mid, idx[jn]), (mid, end, idx[jn + 1])]
    else:
        parts = [(start, end, idx[jn])]
    af = np.zeros(hi.size)
    bf = np.zeros(hi.size)
    cf = np.zeros(hi.size)
    for a, b, c in parts:  # one or two cells
        s0, s1, s2 = rows.sums(a, b)
        af += s0 * c * c
        bf += s1 * c
        cf += s2
    with np.errstate(divide="ignore", invalid="ignore"):
        st = np.maximum(np.where(af > 0, bf / af, hi), hi)
    return (cf - 2.0 * bf * st + af * st * st) / rows.w


def _bracket(rows: _Rows, s: Scheme, lo, hi, points: int, ub):
    """One grid over ``[lo, hi]`` per row: the hull of the intervals that may
    hold the minimum, the updated upper bound and the grid's values."""
    u = np.linspace(0.0, 1.0, points + 1)
    with np.errstate(divide="ignore", over="ignore"):
        g = lo[:, None] * (hi / lo)[:, None] ** u
    g[:, 0], g[:, -1] = lo, hi
    pos, pre = _at(rows, s, g)
    a, bb = _cell_ab(rows, s, pre)
    vals = _prefix_value(rows, a, bb, g)
    err = _margin(rows, a, bb, g, s.n_levels)
    # each grid piece's quadratic at its own stationary point B/A bounds D
    # there from above (the nearest levels do at least as well)
    with np.errstate(divide="ignore", invalid="ignore"):
        st = np.where(a > 0, bb / a, g)
    piece = _prefix_value(rows, a, bb, st)
    best = np.minimum(vals, np.where(st > 0, piece, np.inf)).min(axis=1)
    ub = np.minimum(ub, best + 2.0 * err.max(axis=1))
    lb, _af, _bf = _interval_bounds(rows, s, g, pos, pre)
    lerr = np.maximum(err[:, :-1], err[:, 1:])
    keep = lb - lerr <= ub[:, None]
    # the interval of the grid's best point always stays (guards rounding)
    j = np.argmin(vals, axis=1)
    r = np.arange(g.shape[0])
    keep[r, np.minimum(j, points - 1)] = True
    keep[r, np.maximum(j - 1, 0)] = True
    first = np.argmax(keep, axis=1)
    last = points - 1 - np.argmax(keep[:, ::-1], axis=1)
    kinks = np.abs(pos[r, last + 1] - pos[r, first])[:, t_nonzero(s)].sum(axis=1)
    return g[r, first], g[r, last + 1], ub, vals, kinks


def _deltas(s: Scheme):
    """Per threshold: the change of ``A`` and of ``B / x`` when a sample of
    weight 1 crosses it as the step grows (it moves one level inwards)."""
    t = s.thresholds()
    idx = s.indices()
    lo_c, hi_c = idx[:-1], idx[1:]
    sgn = np.where(t > 0, 1.0, -1.0)
    return t, sgn * (lo_c * lo_c - hi_c * hi_c), sgn * (lo_c - hi_c)


def _run(rows: _Rows, s: Scheme, lo_w, hi_w, a, b, a0, b0):
    """:func:`.batched_kernels.sweep_rows` on the rows in use: the best
    candidates per row and whether rounding cannot separate each from the
    best (``(B, KEEP)`` each)."""
    t, da, db = _deltas(s)
    lo_w = np.where(t != 0, lo_w, 0)
    hi_w = np.where(t != 0, np.maximum(hi_w, lo_w), 0)
    kinks = (hi_w - lo_w).sum(axis=1)
    f = 8.0 * (rows.n + kinks + 8.0) * _EPS
    xs = rows.xs[rows.ri]
    ws = None if rows.ws is None else rows.ws[rows.ri]
    args = [lo_w, hi_w, a, b, a0, b0, rows.c, rows.w, f]
    cand, cv, _ce = sweep_rows(xs, ws, t, da, db, *args)
    keep = KEEP
    # rows where every kept piece is near the best (rounding cannot rank
    # them: tiny minima at many bits): keep more, up to every piece
    full = np.flatnonzero(np.isfinite(cv[:, -1]) & (kinks + 1 > keep))
    while full.size and keep < _KEEP_MOST:
        keep *= 8
        sub = [v[full] for v in args]
        c2, v2, _e = sweep_rows(
            xs[full], None if ws is None else ws[full], t, da, db, *sub, keep=keep
        )
        pad = keep - cand.shape[1]
        cand = np.concatenate([cand, np.zeros((cand.shape[0], pad))], axis=1)
        cv = np.concatenate([cv, np.full((cv.shape[0], pad), np.inf)], axis=1)
        cand[full], cv[full] = c2, v2
        full = full[np.isfinite(v2[:, -1]) & (kinks[full] + 1 > keep)]
    near = np.isfinite(cv)
    near[:, 0] = True
    return cand, near, cv


def _sweep(rows: _Rows, s: Scheme, a: np.ndarray, b: np.ndarray):
    """Every kink in ``[a, b]`` per row, swept (:func:`_run`)."""
    t = s.thresholds()
    pa, aa, ba = _cells(rows, s, a[:, None])
    pa, aa, ba = pa[:, 0], aa[:, 0], ba[:, 0]
    pb = rows.below(b[:, None] * t)
    lo_w = np.where(t > 0, pa, pb)
    hi_w = np.where(t > 0, pb, pa)
    return _run(rows, s, lo_w, hi_w, a, b, aa, ba)


def _sweep_all(rows: _Rows, s: Scheme):
    """Every kink of every row, over every step ``(0, inf)`` (no bracket):
    the state at ``0+`` is every positive sample on the top level, every
    negative one on the bottom level and 0 on the level of ``x = 0``."""
    t = s.thresholds()
    idx = s.indices()
    xs = rows.xs[rows.ri]
    ineg = (xs < 0).sum(axis=1)
    ipos = (xs <= 0).sum(axis=1)
    n = rows.n
    lo_w = np.where(t > 0, ipos[:, None], 0)
    hi_w = np.where(t > 0, n, ineg[:, None])
    k0 = np.where(xs > 0, idx[-1], np.where(xs < 0, idx[0], idx[int((t <= 0).sum())]))
    wk = k0 if rows.ws is None else rows.ws[rows.ri] * k0
    a0 = (wk * k0).sum(axis=1)
    b0 = (wk * xs).sum(axis=1)
    nb = xs.shape[0]
    return _run(rows, s, lo_w, hi_w, np.zeros(nb), np.full(nb, np.inf), a0, b0)


def snap(rows: _Rows, s: Scheme, d: np.ndarray) -> np.ndarray:
    r"""The canonical float of the piece of D that holds each step ``d`` (B,).

    The stationary point :math:`B/A` of the piece, with
    :math:`A=\sum_i w_i k_i^2` and :math:`B=\sum_i w_i k_i x_i` summed
    along the sorted row (``np.sum``, pairwise) at the level indices of
    ``d``, clamped to the piece's kinks next to ``d``. It depends
    only on the row and the piece, not on how the piece was found, so every
    route that finds the same piece returns the same float. A ``d`` on a
    kink is its own piece's end: it is kept where the stationary points lie
    beyond it on both sides.
    """
    t = s.thresholds()
    nz = t != 0
    dd = d[:, None]
    t_pos = rows.below(dd * t)
    pos = t_pos
    # A and B of the piece summed directly along the (sorted) row: exact to
    # rounding, and the same float for the same piece
    k = level_index(rows.xs, dd, s)
    wk = k if rows.ws is None else rows.ws * k
    a = (wk * k).sum(axis=1)
    bb = (wk * rows.xs).sum(axis=1)
    n = rows.n
    r = np.arange(d.size)[:, None]
    # the kinks next to d: per threshold the samples on either side of t d
    # (t = 0 has none: masked below)
    with np.errstate(divide="ignore", invalid="ignore"):
        below = rows.xs[r, np.clip(pos - 1, 0, n - 1)] / t
        above = rows.xs[r, np.clip(pos, 0, n - 1)] / t
    has_lo = pos > 0
    has_hi = pos < n
    # positive t: x < t d is a kink below d iff x/t ... order flips for t < 0
    k_lo_pos = np.where(has_lo, below, -np.inf)
    k_hi_pos = np.where(has_hi, above, np.inf)
    kl = np.where(t > 0, k_lo_pos, np.where(has_hi, above, -np.inf))
    kh = np.where(t > 0, k_hi_pos, np.where(has_lo, below, np.inf))
    kl = np.where(nz & (kl <= dd), kl, -np.inf).max(axis=1)
    kh = np.where(nz & (kh >= dd), kh, np.inf).min(axis=1)
    kl = np.maximum(kl, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        st = np.where(a > 0, bb / a, d)
    out = np.clip(st, kl, kh)
    out = np.where(np.isfinite(out) & (out > 0), out, d)
    # data (nearly) on the level grid: the minimum is (nearly) 0, and the
    # rounding of B/A (a few ulps) is then all of the MSE; take the best of
    # the floats within _POLISH ulps (cost: only for such rows)
    err = rows.xs - k * out[:, None]
    ww = 1.0 if rows.ws is None else rows.ws
    tiny = (ww * err * err).sum(axis=1) <= 2.0**-60 * (ww * rows.xs * rows.xs).sum(
        axis=1
    )
    if tiny.any():
        i = np.flatnonzero(tiny)
        c = [out[i]]
        up, down = out[i], out[i]
        for _ in range(_POLISH):
            up = np.nextafter(up, np.inf)
            down = np.nextafter(down, 0.0)
            c += [up, down]
        c = np.stack(c, axis=1)
        ws = None if rows.ws is None else rows.ws[i]
        vals = batched_values(rows.xs[i], ws, c, s, 0)[0]
        j = np.argmin(vals, axis=1)  # the first: B/A itself where it ties
        out[i] = c[np.arange(i.size), j]
    return out


#: Floats on each side of B/A tried where the minimum is (nearly) 0.
_POLISH = 4


class _Lite:
    """The parts of :class:`_Rows` that :func:`snap` reads, for one row
    (no prefix sums, no keys)."""

    def __init__(self, x: np.ndarray, w):
        x = np.asarray(x, dtype=np.float64).reshape(1, -1)
        if w is not None:
            w = np.asarray(w, dtype=np.float64).reshape(1, -1)
            o = np.argsort(x, axis=1, kind="stable")
            x, w = np.take_along_axis(x, o, axis=1), np.take_along_axis(w, o, axis=1)
        else:
            x = np.sort(x, axis=1)
        self.xs, self.ws, self.n = x, w, x.shape[1]

    def below(self, q):
        return count_below(self.xs, q)


def canonical_step(x, w, s: Scheme, d: float) -> float:
    r""":func:`snap` for one distribution: the canonical float of the piece of
    the MSE of the samples ``x`` (weights ``w`` or None; data as the engine
    sees them, i.e. already divided by ``2**_exponent``) that holds ``d``.

    The batched route returns exactly this float for the same piece, so a
    1-D route that finishes with ``canonical_step`` on its optimum agrees
    with the batched one bit for bit. :math:`O(n\log n)` (a sort).

    Examples
    --------
    >>> from quanttheory._core.scheme import get_scheme
    >>> x = np.linspace(-1.0, 1.0, 10001)
    >>> s = get_scheme("t", "paper", 4)
    >>> d = batched_optimal(x[None, :], None, s)[0]
    >>> canonical_step(x, None, s, d) == float(d)
    True
    """
    return float(snap(_Lite(x, w), s, np.array([float(d)]))[0])


def _optimal_block(xs, ws, s: Scheme, offset: int):
    t = s.thresholds()
    whole = xs.shape[1] * int((t != 0).sum()) <= _FULL_KINKS
    rows = _Rows(xs, ws, prefix=not whole)
    lo_x, hi_x = row_ranges(rows.xs, rows.ws)
    zero = (lo_x == 0.0) & (hi_x == 0.0)
    if zero.any():
        i = int(np.flatnonzero(zero)[0]) + offset
        raise InvalidArgument(
            f"optimal_step: group {i} of the batch (flat index) has samples that "
            f"are all zero ({int(zero.sum())} such groups in this block); the MSE "
            "does not depend on the step there (or has no minimiser), so no "
            "optimal step exists"
        )
    nb = xs.shape[0]
    if whole:
        # short rows: every kink, no bracket (cheaper than the bounds)
        cand, near, cv = _sweep_all(rows, s)
        flat = ~np.isfinite(cv[:, 0])  # every piece has A = 0: D is constant
        if flat.any():
            i = int(np.flatnonzero(flat)[0]) + offset
            raise InvalidArgument(
                f"optimal_step: for group {i} of the batch (flat index) with "
                f"scheme {s.name!r} and bits={s.bits} the MSE does not depend "
                "on the step, so no optimal step exists"
            )
        return _finish(rows, s, cand, near, cv, offset)
    top = _search_top(s, lo_x, hi_x)
    lo = top * 2.0**-_OCTAVES
    hi = top.copy()
    ub = np.full(nb, np.inf)
    todo = np.ones(nb, dtype=bool)
    a = np.empty(nb)
    b = np.empty(nb)
    first = True
    for _ in range(80):  # extensions of the range (rare)
        sub = np.flatnonzero(todo)
        if sub.size == 0:
            break
        r = _subset(rows, sub)
        octaves = np.log2(hi[sub] / lo[sub])
        pts = int(_PER_OCTAVE * np.ceil(octaves.max()))
        aa, bb, u, vals, _f = _bracket(r, s, lo[sub], hi[sub], pts, ub[sub])
        if first:
            first = False
            flat = np.ptp(vals, axis=1) <= 1e-13 * vals.max(axis=1)
            if flat.any():
                i = int(sub[np.flatnonzero(flat)[0]]) + offset
                raise InvalidArgument(
                    f"optimal_step: for group {i} of the batch (flat index) with "
                    f"scheme {s.name!r} and bits={s.bits} the MSE does not depend "
                    "on the step, so no optimal step exists"
                )
        ub[sub] = u
        a[sub], b[sub] = aa, bb
        # is (0, lo] or [hi, inf) not excluded? Then search there too (rare:
        # a bulk of zeros at one bit; few distinct values)
        tol = 64.0 * _EPS
        floor = _floor_bound(r, s, lo[sub])
        ceil = _ceiling_bound(r, s, hi[sub])
        down = (floor * (1 - tol) <= u) & (lo[sub] > 2.0**-1000 * top[sub])
        up = (ceil * (1 - tol) <= u) & (hi[sub] < 2.0**60 * top[sub])
        lo[sub[down]] *= 2.0**-24
        hi[sub[up]] *= 2.0**4
        todo[:] = False
        todo[sub[down | up]] = True
    # refine the brackets that still hold many kinks, while they shrink
    sweep_kinks = _SWEEP_KINKS if rows.n <= 512 else _SWEEP_KINKS // 4
    kinks = np.full(nb, np.iinfo(np.int64).max)
    active = np.ones(nb, dtype=bool)
    for _ in range(_ROUNDS):
        sub = np.flatnonzero(active)
        if sub.size == 0:
            break
        r = rows if sub.size == nb else _subset(rows, sub)
        aa, bb, u, _v, kk = _bracket(r, s, a[sub], b[sub], _REFINE, ub[sub])
        shrunk = np.log(bb / aa) <= _SHRINK * np.log(b[sub] / a[sub])
        a[sub], b[sub], ub[sub], kinks[sub] = aa, bb, u, kk
        active[:] = False
        active[sub[shrunk & (kk > sweep_kinks)]] = True
    cand, near, cv = _sweep(rows, s, a, b)
    return _finish(rows, s, cand, near, cv, offset)


def _finish(rows, s, cand, near, cv, offset):
    """Rescore the candidates that rounding cannot rank, then :func:`snap`."""
    pick = cand[:, 0].copy()
    amb = np.flatnonzero(near[:, 1:].any(axis=1))
    if amb.size:  # rows whose best pieces rounding cannot rank: rescore
        sub = np.where(near[amb], cand[amb], cand[amb, :1])
        ws = None if rows.ws is None else rows.ws[amb]
        vals = batched_values(rows.xs[amb], ws, sub, s, 0)[0]
        vals = np.where(near[amb], vals, np.inf)
        # least value; among equal values the largest step
        best = vals.min(axis=1, keepdims=True)
        pick[amb] = np.where(vals == best, sub, -np.inf).max(axis=1)
    return snap(rows, s, pick)


def _subset(rows: _Rows, sub: np.ndarray) -> _Rows:
    """The rows ``sub`` (indices into the rows in use), sharing the arrays."""
    r = _Rows.__new__(_Rows)
    r.__dict__.update(rows.__dict__)
    r.ri = rows.ri[sub]
    r.w, r.c = rows.w[sub], rows.c[sub]
    return r


def batched_optimal(xs: np.ndarray, ws, s: Scheme) -> np.ndarray:
    """The exact optimal step of every row of ``xs`` (B, n), float64.

    ``ws`` is None or non-negative weights of the same shape (every row with
    a positive total). Rows are processed in blocks of about ``2**22``
    elements of the largest temporary (no loop over single rows). See the
    module notes for the method.

    Raises
    ------
    InvalidArgument
        For a row whose weighted samples are all zero, or whose MSE does not
        depend on the step; the message names the row (flat index).

    Examples
    --------
    >>> from quanttheory._core.scheme import get_scheme
    >>> x = np.linspace(-1.0, 1.0, 10001)
    >>> d = batched_optimal(np.stack([x, 2 * x]), None, get_scheme("t", "paper", 4))
    >>> (d * 17 / 2).round(3).tolist()   # Lemma 3: 2a/(2^M+1)
    [1.0, 2.0]
    """
    xs = np.asarray(xs, dtype=np.float64)
    ws = None if ws is None else np.asarray(ws, dtype=np.float64)
    nb, n = xs.shape
    out = np.empty(nb)
    per = max(1, _BLOCK // max(n, (_PER_OCTAVE * _OCTAVES + 1) * s.n_levels, 1))
    for r0 in range(0, nb, per):  # blocks of rows, bounded memory
        r1 = min(nb, r0 + per)
        out[r0:r1] = _optimal_block(xs[r0:r1], None if ws is None else ws[r0:r1], s, r0)
    return out


# ---------------------------------------------------------------------------
# smoothed curvature (Lemma 1 on data), per row
# ---------------------------------------------------------------------------
def smoothed_curvature_rows(xs, ws, d: np.ndarray, s: Scheme) -> np.ndarray:
    """:func:`quanttheory.smoothed_curvature` of every row at its step ``d`` (B,).

    The weighted form of the 1-D estimate:
    :math:`\\frac2W[\\sum w(k+o)^2 - 4\\sum_b m_b^2 W_b]`, with :math:`W_b`
    the weight within :math:`\\Delta/8` of threshold :math:`b`.

    Examples
    --------
    >>> from quanttheory._core.scheme import get_scheme
    >>> x = np.random.default_rng(0).uniform(-1, 1, (2, 200_000))
    >>> s = get_scheme("t", "paper", 4)
    >>> c = smoothed_curvature_rows(x, None, np.full(2, 2 / 17), s)
    >>> bool(np.all(abs(c - 8.0) < 0.5))
    True
    """
    dd = d[:, None]
    k = level_index(xs, dd, s)
    with np.errstate(over="ignore", invalid="ignore"):
        t = xs / dd - s.offset - 0.5
        j = np.rint(t)
        near = (np.abs(t - j) < 0.125) & (j >= s.kmin) & (j <= s.kmax - 1)
    m = np.where(near, j + s.offset + 0.5, 0.0)
    w = 1.0 if ws is None else ws
    tot = xs.shape[1] if ws is None else ws.sum(axis=1)
    ksq = (w * k * k).sum(axis=1)
    nsq = (w * m * m).sum(axis=1)
    return 2.0 * (ksq - 4.0 * nsq) / tot
