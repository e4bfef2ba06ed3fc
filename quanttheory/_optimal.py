r"""The globally optimal quantization step :math:`\tilde\Delta`.

Parametric laws
    A geometric grid over the clipping level locates every basin of
    :math:`D(\Delta)` (heavy tails can have several stationary points); each
    of the best basins is then refined by a safeguarded Newton iteration on
    the analytic derivatives :math:`D'`, :math:`D''` to machine precision,
    and the lowest minimum wins. For laws with series hooks the grid is the
    exact MSE's Euler-Maclaurin series and the derivatives are their series
    (:mod:`quanttheory._mse_series`), :math:`O(1)` in the number of levels;
    otherwise the grid is the cell sum up to 4 bits and the additive model
    above, and the derivatives are the cell sums.

Empirical data
    :math:`D(\Delta)=\frac1N\sum_i (x_i-(k_i+o)\Delta)^2` is continuous and
    piecewise quadratic in :math:`\Delta`: between kinks the level indices
    :math:`k_i` are fixed and :math:`D=(C-2B\Delta+A\Delta^2)/N` with
    :math:`A=\sum (k_i+o)^2`, :math:`B=\sum (k_i+o)x_i`. After sorting once,
    prefix sums give each evaluation in :math:`O(2^M\log N)`. Grid, then the
    monotone fixed point :math:`\Delta\leftarrow B/A` (each step the closed-form
    minimum of the current piece), then an exact sweep over every kink in a
    bracket around the best basin, which visits every piece there and takes
    the closed-form minimum of each.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy import optimize

from ._distributions import Distribution, _check_distribution
from ._mse import _additive, _empirical, _evaluate, _exact_cells
from ._mse_series import series_mse
from ._quantizer import Scheme, get_scheme
from ._streaming import piece_minima
from ._validation import InvalidArgument, check_model

__all__ = ["optimal_step"]

_GRID = 96
# Newton steps longer than this (relative) get the second-order correction.
_QUADRATIC_STEP = 1e-9
# A grid minimum less than this (relative) below both neighbours is a flat
# plateau with rounding noise, not a basin.
_FLAT_RTOL = 1e-12
# Break-point budget of the exact empirical sweep (memory ~ 40 bytes each).
_SWEEP_MAX = 4_000_000


def optimal_step(dist, bits, *, scheme="paper", model="exact") -> float:
    r"""The global minimiser :math:`\tilde\Delta` of the MSE over the step.

    .. math::

        \tilde\Delta = \operatorname*{arg\,min}_{\Delta>0}
        \mathrm{MSE}(X, \Delta)

    For :class:`Uniform` with ``scheme="paper"`` this is Lemma 3's valid root
    :math:`2a/(2^M+1)` (the other root, :math:`2a/(2^M-1)`, puts the clipping
    level :math:`2^{M-1}\Delta` beyond :math:`a`, outside the domain of
    Lemma 2). For ``"midrise"`` it is :math:`2a/2^M` and for
    ``"symmetric"`` :math:`2a/(2^M-1)`: the cells then tile the support.

    Parameters
    ----------
    dist : Distribution
    bits : int
    scheme : {'paper', 'midrise', 'signed', 'symmetric'}
    model : {'exact', 'additive'}
        Minimise the true MSE or the additive-noise model.

    Returns
    -------
    float
        :math:`\tilde\Delta`.

    Raises
    ------
    InvalidArgument
        For invalid arguments, or :class:`Empirical` data that are all zero
        (every step, or none, is optimal).

    Notes
    -----
    Complexity. Parametric: a 96-point vectorised grid, then a safeguarded
    Newton iteration on :math:`D'` and :math:`D''`, started at the vertex of
    the parabola through the grid's minimum, with each step corrected by a
    secant estimate of :math:`D'''` (third order): typically 4-6 derivative
    evaluations.
    For :class:`Gaussian`, :class:`Laplace`, :class:`Uniform` and custom
    families with series hooks the grid and the derivatives are the
    Euler-Maclaurin series of :mod:`quanttheory._mse_series`, exact to
    rounding at :math:`O(N)` operations per call whatever the bit-width: a
    cold call takes a few milliseconds at 2 to 16 bits (it took 6 ms to
    0.6 s on the cell sums); steps the series cannot take (coarse steps at
    low bit-widths) and :func:`from_scipy` laws use :math:`O(2^M)` cell sums
    (the additive model for the grid above 4 bits). Results are cached per
    (family, parameters, bits, scheme, model), and a named family's search is
    shared by all its members (scale invariance). Empirical:
    :math:`O(N\log N)` for the sort (once per :class:`Empirical` object),
    :math:`O(2^M\log N)` per evaluation, and :math:`O(P\log P)` for the sweep
    over the :math:`P \le 4\cdot10^6` kinks in the final bracket. Above
    :math:`2^{21}` samples, and for memory-mapped or Dask data, the exact
    optimum comes from two streaming passes instead
    (:mod:`quanttheory._streaming`): :math:`O(N)` for a histogram of counts
    and sums over the bulk (the outliers kept exactly),
    :math:`O(2^M)` per scored step, and :math:`O(P\log P)` for the
    :math:`P` samples that a threshold can cross inside the final bracket,
    gathered in the second pass. Both passes run on one thread per core.
    Data with many repeated values (already quantized weights, constant
    data), whose MSE is a sawtooth on the scale of the value grid, are
    sorted instead (in memory, also when memory-mapped).

    Where several steps reach the same minimum (e.g. constant data), the
    largest of those found is returned (the search covers steps up to twice
    the one that clips nothing).

    See Also
    --------
    mse, sensitivity

    References
    ----------
    .. [1] M. Shkolnik et al., "Robust Quantization: One Model to Rule Them
       All", NeurIPS 2020, arXiv:2002.07686, Lemma 3.
    .. [2] J. Max, "Quantizing for minimum distortion", IRE Trans. Inf.
       Theory 6(1), 1960, doi:10.1109/TIT.1960.1057548.

    Examples
    --------
    >>> import quanttheory as qt
    >>> round(qt.optimal_step(qt.Uniform(1.0), 4) * 17 / 2, 12)   # 2a/(2^M+1)
    1.0
    >>> round(qt.optimal_step(qt.Gaussian(), 3, scheme="midrise"), 4)  # Max 1960
    0.586
    """
    dist = _check_distribution("optimal_step", dist)
    s = get_scheme("optimal_step", scheme, bits)
    model = check_model("optimal_step", model)
    if dist._is_empirical:
        return _empirical_optimal(dist, s, model)
    std = dist._standardized()
    if std is not None:
        # scale invariance: the optimum of cX is c times the optimum of X, so
        # one cached search serves every member of a named family
        unit, scale = std
        return scale * _cached_parametric(unit, s.name, s.bits, model)
    if dist._key() is None:  # pragma: no cover - every parametric family has one
        return _parametric_optimal(dist, s, model)
    return _cached_parametric(dist, s.name, s.bits, model)


@functools.lru_cache(maxsize=4096)
def _cached_parametric(dist, scheme: str, bits: int, model: str) -> float:
    return _parametric_optimal(dist, get_scheme("optimal_step", scheme, bits), model)


def _value(dist, d, s: Scheme, model: str, order: int = 0):
    return _evaluate("optimal_step", dist, d, s.bits, s.name, model, order)


def _parametric_optimal(dist: Distribution, s: Scheme, model: str) -> float:
    scale = dist._scale
    top = max(abs(s.top), abs(s.bottom))
    # Coarse grid over the clipping level, 1e-3 to 64 scales, extended while
    # the best point sits at an end. The exact model where it is cheap: the
    # series of the MSE (O(1) per step, any bit-width) for laws with series
    # hooks, the cell sum with coarse quadrature up to 4 bits (at most 17
    # levels). Otherwise the additive model (O(1) per step) locates the
    # basins and the exact model refines them.
    coarse_model = model
    lo_c, hi_c = 1e-3 * scale, 64.0 * scale
    probe = _additive(dist, np.geomspace(1e-3, 1e3, 13) * scale / top, s, 0)[0]
    if np.ptp(probe) <= 1e-13 * np.max(probe):
        raise InvalidArgument(
            f"optimal_step: for {dist!r} with scheme {s.name!r} and bits={s.bits} "
            "the MSE does not depend on the step (all the mass is on one side "
            "of the only level it can reach), so no optimal step exists"
        )
    for _ in range(40):
        d = np.geomspace(lo_c, hi_c, _GRID) / top
        v, coarse_model = _grid_values(dist, d, s, model)
        i = int(np.argmin(v))
        if i == len(d) - 1:
            lo_c, hi_c = hi_c / 4.0, hi_c * 64.0
            continue
        if i == 0:
            lo_c, hi_c = lo_c / 64.0, lo_c * 4.0
            continue
        break
    else:  # pragma: no cover - a finite-variance law always has a basin
        raise InvalidArgument(
            f"optimal_step: no minimum found for {dist!r}; is its variance finite?"
        )
    # basins deeper than the grid values' rounding: a plateau (the uniform
    # law's MSE is constant once one cell holds all the mass) carries ulp
    # noise that would otherwise show up as spurious local minima
    minima = _local_minima(v)
    deep = [
        j for j in minima if min(v[j - 1], v[j + 1]) - v[j] > _FLAT_RTOL * abs(v[j])
    ]
    basins = (deep or minima)[:3]
    best = (math.inf, math.nan)
    for j in basins:
        a, b = d[max(j - 1, 0)], d[min(j + 1, len(d) - 1)]
        x = _newton(
            dist, s, model, a, b, _vertex(d, v, j), exact_bracket=coarse_model == model
        )
        if len(basins) == 1:
            return float(x)
        fx = float(_value(dist, np.array([x]), s, model)[0][0])
        if fx < best[0] or (fx == best[0] and x > best[1]):
            best = (fx, x)
    return float(best[1])


def _grid_values(dist: Distribution, d: np.ndarray, s: Scheme, model: str):
    """The MSE on the coarse grid, and the model it is of.

    Exact where it is cheap: the series of
    :func:`quanttheory._mse_series.series_mse` (O(1) per step, any
    bit-width) where its bound allows, and up to 4 bits (at most 17 levels)
    the cell sum with coarse quadrature at the other steps. Above 4 bits a
    grid that the series does not cover entirely, and every grid of a law
    without series hooks, uses the additive model (O(1) per step) instead.
    """
    if model == "additive":
        return _additive(dist, d, s, 0)[0], "additive"
    res = series_mse(dist, d, s)
    if res is None:
        v, rest = np.empty_like(d), np.ones(d.shape, dtype=bool)
    else:
        v, n = res
        rest = n == 0
    if rest.any():
        if s.bits > 4:
            return _additive(dist, d, s, 0)[0], "additive"
        v[rest] = _exact_cells(dist, d[rest], s, 0, coarse=True)[0]
    return v, model


def _vertex(d: np.ndarray, v: np.ndarray, j: int) -> float:
    """Start of the refinement: the vertex of the parabola through the grid
    minimum ``j`` and its neighbours, in log-step (the grid is geometric).

    With ``v[j]`` not above its neighbours the vertex lies between them; a
    start within ~0.1 % instead of the grid's 12 % saves Newton iterations.
    """
    if j <= 0 or j >= len(d) - 1:
        return float(d[j])
    vm, v0, vp = float(v[j - 1]), float(v[j]), float(v[j + 1])
    curv = vp - 2.0 * v0 + vm
    if not curv > 0.0:
        return float(d[j])
    h = math.log(d[j + 1] / d[j])
    return float(d[j] * math.exp(-0.5 * h * (vp - vm) / curv))


def _local_minima(v: np.ndarray) -> list[int]:
    """Interior strict-from-the-left local minima of a grid, best first.

    Ends are excluded (the caller widens the grid when the global minimum
    sits at an end), and so are flat plateaus such as :math:`D\to E[X^2]`
    for vanishing steps.
    """
    i = np.arange(1, len(v) - 1)
    keep = (v[i] < v[i - 1]) & (v[i] <= v[i + 1])
    idx = i[keep]
    return [int(j) for j in idx[np.argsort(v[idx], kind="stable")]]


def _newton(dist, s, model, a, b, x0, exact_bracket) -> float:
    """Safeguarded Newton on the analytic D' (with D''), to machine precision.

    Keeps a bracket ``[a, b]`` with ``D'(a) < 0 < D'(b)``; a Newton step that
    leaves it is replaced by bisection. Steps longer than
    ``_QUADRATIC_STEP`` take the nearer root of the local quadratic model
    ``D' + D'' h + D''' h^2 / 2`` instead, with D''' the secant of the last
    two D'' (at first from the end of the bracket across the root).
    When the bracket comes from another model's grid it is first widened
    until D' changes sign. Falls back to bounded Brent on D itself if no sign
    change exists (a minimum at a kink).
    """

    def g(x, order=1):
        r = _value(dist, np.array([x]), s, model, order)
        return float(r[1][0]), (float(r[2][0]) if order == 2 else None)

    x = min(max(x0, a), b)
    # D' and D'' at both ends and at the start, in one vectorised call
    r = _value(dist, np.array([a, b, x]), s, model, 2)
    ga, gb = float(r[1][0]), float(r[1][1])
    start = (float(r[1][2]), float(r[2][2]))
    ends = ((a, ga, float(r[2][0])), (b, gb, float(r[2][1])))
    if not exact_bracket:
        for _ in range(60):
            if ga < 0:
                break
            a /= 1.25
            ga = g(a)[0]
        for _ in range(60):
            if gb > 0:
                break
            b *= 1.25
            gb = g(b)[0]
    if not (ga < 0 < gb):
        res = optimize.minimize_scalar(
            lambda x: float(_value(dist, np.array([x]), s, model)[0][0]),
            bounds=(a, b),
            method="bounded",
            options={"xatol": 1e-13 * x0},
        )
        return float(res.x)
    # the previous point (x, D', D''): at first the end of the original
    # bracket on the other side of the root
    prev = (ends[1] if start[0] < 0 else ends[0]) if exact_bracket else None
    for _ in range(100):
        gx, hx = start if start is not None else g(x, 2)
        start = None
        if gx == 0.0:
            return x
        if gx < 0:
            a = x
        else:
            b = x
        nx = x - gx / hx if hx > 0 else 0.5 * (a + b)
        if hx > 0 and prev is not None and abs(nx - x) > _QUADRATIC_STEP * x:
            # D''' from the last two D'' (a secant); the step is the nearer
            # root of D' + D'' h + D''' h^2 / 2: third order where D' is
            # smooth, exact on a piece where D' is quadratic (the uniform
            # law). Below the threshold the correction is under rounding.
            t = (hx - prev[2]) / (x - prev[0])
            disc = hx * hx - 2.0 * t * gx
            if disc >= 0.0:
                nx = x - 2.0 * gx / (hx + math.sqrt(disc))
        prev = (x, gx, hx)
        if hx > 0 and abs(nx - x) <= 4.0 * np.finfo(float).eps * x and a <= nx <= b:
            return nx  # the Newton step is below rounding: converged
        if not (a < nx < b):
            nx = 0.5 * (a + b)
        if b - a <= 4e-16 * b:
            return nx
        x = nx
    return x  # pragma: no cover


# ---------------------------------------------------------------------------
# Empirical data
# ---------------------------------------------------------------------------
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
        bnd = 0.5 * (idx[:-1] + idx[1:])  # thresholds in step units
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


def _exact_empirical(dist, d: np.ndarray, s: Scheme) -> np.ndarray:
    return _empirical(dist, np.asarray(d, dtype=np.float64), s, 0, "exact", 1)[0]


#: Above this many samples (or for memory-mapped / Dask data) the exact
#: empirical optimum uses the streaming two-pass method of
#: :mod:`quanttheory._streaming` instead of a full sort.
_STREAM_MIN = 1 << 21


def _empirical_optimal(dist, s: Scheme, model: str) -> float:
    from ._streaming import is_dask, search_top, streaming_optimal

    if dist.max == dist.min == 0.0:
        raise InvalidArgument(
            "optimal_step: the empirical samples are all zero; the MSE does not "
            "depend on the step (or has no minimiser), so no optimal step exists"
        )
    big = dist.n > _STREAM_MIN or isinstance(dist.samples, np.memmap)
    if model == "exact" and (big or is_dask(dist.samples)):
        step = streaming_optimal(dist.samples, s, dist.n, dist.min, dist.max)
        if step is not None:
            return step
        # the streaming route could not vouch for its answer (many repeated
        # values): the sort below is exact for any data
    xs = dist.sorted
    d_hi = search_top(s, float(xs[0]), float(xs[-1]))
    n_grid = 256 if s.bits <= 10 else 64
    grid = np.geomspace(d_hi * 2.0**-12, d_hi, n_grid)
    if model == "additive":
        vals = _empirical(dist, grid, s, 0, "additive", 1)[0]
        best = (math.inf, math.nan)
        for j in _local_minima(vals)[:4]:
            a, b = grid[max(j - 1, 0)], grid[min(j + 1, n_grid - 1)]
            res = optimize.minimize_scalar(
                lambda x: float(
                    _empirical(dist, np.array([x]), s, 0, "additive", 1)[0][0]
                ),
                bounds=(a, b),
                method="bounded",
                options={"xatol": 1e-13 * grid[j]},
            )
            for x in (float(res.x), float(grid[j])):
                fx = float(_empirical(dist, np.array([x]), s, 0, "additive", 1)[0][0])
                if fx < best[0]:
                    best = (fx, x)
        return best[1]
    pre = _Prefix(xs)
    vals = pre.value(grid, s)
    if np.ptp(vals) <= 1e-13 * np.max(vals):
        raise InvalidArgument(
            f"optimal_step: for these samples with scheme {s.name!r} and "
            f"bits={s.bits} the MSE does not depend on the step, so no optimal "
            "step exists"
        )
    # 1. every kink of D over the whole search range, if there are few enough:
    #    then the sweep visits every quadratic piece and the result is the
    #    exact global minimiser.
    if _count_kinks(xs, s, grid[0], grid[-1]) <= _SWEEP_MAX:
        cands = _sweep(pre, s, grid[0], grid[-1])
    else:
        # 2. otherwise: the best basins of the grid, each refined by the
        #    monotone fixed point and then swept exactly over the four grid
        #    intervals around it (shrunk around the fixed point if that
        #    bracket holds more than _SWEEP_MAX kinks).
        basins = _local_minima(vals)[:4] or [int(np.argmin(vals))]
        cands = []
        for j in basins:
            d0 = _fixed_point(pre, s, grid[j])
            lo = min(grid[max(j - 2, 0)], d0)
            hi = max(grid[min(j + 2, n_grid - 1)], d0)
            cands.append([d0])
            cands.append(_sweep(pre, s, lo, hi, centre=d0))
        cands = np.concatenate(cands)
    cands = np.unique(cands)
    cvals = _exact_empirical(dist, cands, s)
    best = np.flatnonzero(cvals == cvals.min())
    return float(cands[best[-1]])


def _count_kinks(xs: np.ndarray, s: Scheme, da: float, db: float) -> int:
    """Number of (sample, threshold) crossings for steps in [da, db]."""
    idx = s.indices()
    bnd = 0.5 * (idx[:-1] + idx[1:])
    lo_i = np.searchsorted(xs, np.minimum(bnd * da, bnd * db), side="left")
    hi_i = np.searchsorted(xs, np.maximum(bnd * da, bnd * db), side="right")
    return int((hi_i - lo_i)[bnd != 0].sum())


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
    idx = s.indices()
    bnd = 0.5 * (idx[:-1] + idx[1:])
    if centre is None:
        centre = math.sqrt(da * db)
    while True:
        lo_i = np.searchsorted(xs, np.minimum(bnd * da, bnd * db), side="left")
        hi_i = np.searchsorted(xs, np.maximum(bnd * da, bnd * db), side="right")
        total = int((hi_i - lo_i)[bnd != 0].sum())
        if total <= _SWEEP_MAX:
            break
        da = centre * (da / centre) ** 0.5
        db = centre * (db / centre) ** 0.5
    # state at da, then every piece of the bracket
    a0, b0 = pre.ab(np.array([da]), s)
    c0 = float(pre.s2[-1])
    return np.asarray(
        piece_minima(xs, s, da, db, float(a0[0]), float(b0[0]), c0, pre.n)
    )
