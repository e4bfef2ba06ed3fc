r"""The globally optimal step of a law.

A geometric grid over the clipping level locates every basin of
:math:`D(\Delta)` (heavy tails can have several stationary points); each of
the best basins is then refined by a safeguarded Newton iteration on the
analytic derivatives :math:`D'`, :math:`D''` to machine precision, and the
lowest minimum wins. For laws with series hooks the grid is the exact MSE's
Euler-Maclaurin series and the derivatives are their series
(:mod:`.series`), :math:`O(1)` in the number of levels; otherwise the grid is
the cell sum up to 4 bits and the additive model above, and the derivatives
are the cell sums. One search per standardised family member is cached:
the optimum of :math:`cX` is :math:`c` times the optimum of :math:`X`.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy import optimize

from .._core.checks import check_no_nan
from .._core.distribution import Distribution
from .._core.errors import InvalidArgument
from .._core.minima import local_minima, require_step_dependence
from .._core.scheme import Scheme, get_scheme
from .additive import additive
from .cells import exact_cells
from .routes import curve
from .series import series_mse

__all__ = ["law_optimal"]

_GRID = 96

# Newton steps longer than this (relative) get the second-order correction.
_QUADRATIC_STEP = 1e-9

# A grid minimum less than this (relative) below both neighbours is a flat
# plateau with rounding noise, not a basin.
_FLAT_RTOL = 1e-12


def law_optimal(dist: Distribution, s: Scheme, model: str) -> float:
    """The optimal step of a law (arguments validated), cached per family."""
    std = dist._standardized()
    if std is not None:
        # scale invariance: the optimum of cX is c times the optimum of X, so
        # one cached search serves every member of a named family
        unit, scale = std
        return scale * _cached_parametric(unit, s.name, s.bits, model)
    if dist._key() is None:
        return _parametric_optimal(dist, s, model)
    return _cached_parametric(dist, s.name, s.bits, model)


@functools.lru_cache(maxsize=4096)
def _cached_parametric(dist, scheme: str, bits: int, model: str) -> float:
    return _parametric_optimal(dist, get_scheme("optimal_step", scheme, bits), model)


def _value(dist, d, s: Scheme, model: str, order: int = 0):
    """``[D, D', ...]`` at the steps ``d``, without re-validating anything."""
    try:
        res = curve(dist, d, s, model, order, 1)
    except InvalidArgument as err:  # a route that refuses this law
        raise InvalidArgument(f"optimal_step: {err}") from None
    return [
        None if r is None else check_no_nan("optimal_step", "the MSE", r) for r in res
    ]


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
    probe = additive(dist, np.geomspace(1e-3, 1e3, 13) * scale / top, s, 0)[0]
    require_step_dependence(
        probe,
        np.max(probe),
        f"for {dist!r}",
        s,
        " (all the mass is on one side of the only level it can reach)",
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
    else:
        raise InvalidArgument(
            f"optimal_step: no minimum found for {dist!r}; is its variance finite?"
        )
    # basins deeper than the grid values' rounding: a plateau (the uniform
    # law's MSE is constant once one cell holds all the mass) carries ulp
    # noise that would otherwise show up as spurious local minima
    minima = local_minima(v)
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
    :func:`quanttheory._laws.series.series_mse` (O(1) per step, any
    bit-width) where its bound allows, and up to 4 bits (at most 17 levels)
    the cell sum with coarse quadrature at the other steps. Above 4 bits a
    grid that the series does not cover entirely, and every grid of a law
    without series hooks, uses the additive model (O(1) per step) instead.
    """
    if model == "additive":
        return additive(dist, d, s, 0)[0], "additive"
    res = series_mse(dist, d, s)
    if res is None:
        v, rest = np.empty_like(d), np.ones(d.shape, dtype=bool)
    else:
        v, n = res
        rest = n == 0
    if rest.any():
        if s.bits > 4:
            return additive(dist, d, s, 0)[0], "additive"
        v[rest] = exact_cells(dist, d[rest], s, 0, coarse=True)[0]
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


def _newton(dist, s, model, a, b, x0, exact_bracket) -> float:
    """Safeguarded Newton on the analytic D' (with D''), to machine precision.

    Keeps a bracket ``[a, b]`` with ``D'(a) < 0 < D'(b)``; a Newton step that
    leaves it is replaced by bisection. Steps longer than
    ``_QUADRATIC_STEP`` take the nearer root of the local quadratic model
    ``D' + D'' h + D''' h^2 / 2`` instead, with D''' the secant of the last
    two D'' (at first from the end of the bracket across the root).
    When the bracket comes from another model's grid it is first widened
    until D' changes sign. Where D' has the same sign at both ends of an
    exact bracket but not at the start (D' is not monotone where a threshold
    crosses a point of infinite density), the half with the sign change is
    kept. Falls back to bounded Brent on D itself if no sign change exists
    (a minimum at a kink).
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
    narrowed = False
    if not (ga < 0 < gb) and exact_bracket:
        # D' may change sign inside without doing so across the bracket: it
        # is continuous but not monotone where a threshold crosses a point
        # of infinite density (beta(0.5, 0.5) at its edges). Keep the half
        # with the sign change, if there is one.
        narrowed = True
        gx = start[0]
        if ga < 0 < gx:
            b, gb = x, gx
        elif gx < 0 < gb:
            a, ga = x, gx
        if ga < 0 < gb:
            x = 0.5 * (a + b)
            start = None
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
    prev = None
    if exact_bracket and not narrowed:
        prev = ends[1] if start[0] < 0 else ends[0]
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
