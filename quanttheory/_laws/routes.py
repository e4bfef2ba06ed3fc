"""The exact MSE of a law and its derivatives: the cheapest exact route per step.

The Euler-Maclaurin series (:mod:`.series`) wherever the family has series
hooks and the remainder bound allows; for the MSE of the coarse steps it
leaves, Poisson summation over the level lattice (:mod:`.lattice`) where its
bounds allow; the cell sum (:mod:`.cells`) up to 16 bits at the other steps;
above 16 bits the order-3 expansion (:func:`.additive.euler_maclaurin`) for
the value and the additive model for the derivatives. Inputs are validated
by the caller.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .._core.distribution import Distribution
from .._core.errors import InvalidArgument
from .._core.scheme import Scheme
from .additive import additive, euler_maclaurin, singular_points
from .cells import exact_cells
from .lattice import lattice_mse
from .series import series_derivatives, series_mse

__all__ = [
    "EXACT_CELL_SUM_MAX_BITS",
    "SERIES_DERIVATIVES_MIN_BITS",
    "curve",
    "exact_derivatives",
    "exact_mse",
]

#: Largest bit-width for which ``model="exact"`` sums every cell.
EXACT_CELL_SUM_MAX_BITS = 16

#: Smallest bit-width at which the step derivatives use the series. At one
#: or two bits (at most five levels) the cell sum costs no more, and its
#: per-level arithmetic (differences such as a - j step, exact by Sterbenz's
#: lemma) keeps relative accuracy where the uniform law's D'' crosses zero,
#: which the series, a sum of terms of size one, cannot.
SERIES_DERIVATIVES_MIN_BITS = 3


#: Largest number of levels the mass-limited cell sum may visit per step.
MASS_CELLS_MAX = 4096


def mass_radius(dist: Distribution) -> float | None:
    """A radius ``R`` about the law's centre beyond which both tails hold
    exactly zero mass in float64 (``P[X > c + R] == P[X < c - R] == 0``), or
    None if there is none within 2**20 scales (heavy tails)."""
    c, r = dist._centre, dist._scale
    for _ in range(21):
        up = dist._upper_tail(np.array([c + r]))
        lo = dist._lower_tail(np.array([c - r]))
        if all(float(v[0]) == 0.0 for v in (*up, *lo)):
            return abs(c) + r
        r *= 2.0
    return None


def mass_cells(dist: Distribution, d: np.ndarray, s: Scheme, order: int, side: int):
    """The cell sum over only the levels the law's mass reaches.

    Above :data:`EXACT_CELL_SUM_MAX_BITS` the full cell sum is too long, but
    a coarse step meets only a few levels before the law's mass ends. With
    ``R`` from :func:`mass_radius`, the levels beyond ``R`` (plus one) carry
    no mass, so dropping them changes nothing: the truncated level set's tail
    terms are exactly 0 and D, D', D'' are those of the full cell sum.
    Returns ``(values, done)``: ``values`` is ``[D, D', ...]`` up to
    ``order`` where ``done``; steps that would need more than
    :data:`MASS_CELLS_MAX` levels, and laws with unbounded mass, are left
    (``done`` False) for the expansion routes.
    """
    out = [np.full(d.shape, np.nan) for _ in range(order + 1)]
    done = np.zeros(d.shape, dtype=bool)
    radius = mass_radius(dist)
    if radius is None or not d.size:
        return out, done
    with np.errstate(over="ignore", divide="ignore"):
        reach = np.ceil(radius / d + abs(s.offset)) + 1.0
    need = np.minimum(reach, float(max(abs(s.kmin), abs(s.kmax))))
    ok = need <= MASS_CELLS_MAX / 2
    # one truncated level set per power-of-two bucket of the levels needed
    bucket = np.where(ok, 2.0 ** np.ceil(np.log2(np.maximum(need, 1.0))), 0.0)
    for b in np.unique(bucket[ok]):
        sel = bucket == b
        k = int(b)
        sub = dataclasses.replace(s, kmin=max(s.kmin, -k), kmax=min(s.kmax, k))
        vals = exact_cells(dist, d[sel], sub, order, side=side)
        for o, v in zip(out, vals, strict=True):
            o[sel] = v
        done[sel] = True
    return out, done


def exact_mse(dist: Distribution, d: np.ndarray, s: Scheme) -> np.ndarray:
    """The exact MSE (no derivatives) by the cheapest exact route per step.

    Poisson summation (:func:`lattice_mse`) for the coarse steps where the
    family has the hook and the clipping and truncation bounds allow; the
    Euler-Maclaurin series of :mod:`quanttheory._laws.series` wherever the
    family has series hooks and the series' remainder bound is below
    ``TRUNCATION_RTOL`` of the MSE at some order up to ``N_MAX``; the other
    steps take the cell sum (bits <= 16) or the order-3 expansion
    :func:`euler_maclaurin` (above 16 bits).
    """
    out = np.empty_like(d)
    rest = np.ones(d.shape, dtype=bool)
    # the coarse steps first: O(1) per step where the lattice certifies them,
    # while the series would try every order up to N_MAX there in vain
    coarse = lattice_mse(dist, d, s)
    if coarse is not None:
        value, ok = coarse
        out[ok] = value[ok]
        rest = ~ok
    if rest.any():
        res = series_mse(dist, d[rest], s)
        if res is not None:
            idx = np.flatnonzero(rest)
            value, order = res
            done = order > 0
            out[idx[done]] = value[done]
            rest[idx[done]] = False
    if rest.any():
        if s.bits <= EXACT_CELL_SUM_MAX_BITS:
            out[rest] = exact_cells(dist, d[rest], s, 0)[0]
        else:
            idx = np.flatnonzero(rest)
            vals, done = mass_cells(dist, d[idx], s, 0, 1)
            out[idx[done]] = vals[0][done]
            rest[idx[done]] = False
            if rest.any():
                out[rest] = euler_maclaurin(dist, d[rest], s)
    return out


def exact_derivatives(
    dist: Distribution, d: np.ndarray, s: Scheme, order: int, side: int = 1
) -> list:
    """``[None, D', (D'')]`` of the exact MSE by the cheapest route per step.

    The Euler-Maclaurin series of the derivatives
    (:func:`quanttheory._laws.series.series_derivatives`) from 3 bits on
    (:data:`SERIES_DERIVATIVES_MIN_BITS`) wherever the family has the hooks
    and the remainder bounds allow; the other steps take the cell sum (bits
    <= 16) or, above 16 bits, the additive model's derivatives. The value
    itself is not computed (None).
    """
    res = None
    if s.bits >= SERIES_DERIVATIVES_MIN_BITS:
        res = series_derivatives(dist, d, s, order, side=side)
    if res is None:
        vals = [np.empty_like(d) for _ in range(order)]
        rest = np.ones(d.shape, dtype=bool)
    else:
        vals, n = res
        rest = n == 0
    if rest.any():
        if s.bits <= EXACT_CELL_SUM_MAX_BITS:
            other = exact_cells(dist, d[rest], s, order, side=side)
        else:
            idx = np.flatnonzero(rest)
            other, done = mass_cells(dist, d[idx], s, order, side)
            if not done.all():
                _refuse_rough(dist, s)
                far = additive(dist, d[idx[~done]], s, order, side)
                for o, f in zip(other, far, strict=True):
                    o[~done] = f
        for v, o in zip(vals, other[1:], strict=True):
            v[rest] = o
    return [None, *vals]


def _refuse_rough(dist: Distribution, s: Scheme) -> None:
    r"""Above 16 bits the derivatives are the additive model's, which a density
    that is not smooth at a point (an infinite density at an edge) breaks by
    far more than its usual :math:`O(\Delta^2)`: refuse rather than answer."""
    points = singular_points(dist)
    if points:
        where = ", ".join(f"{p:.12g}" for p in points)
        raise InvalidArgument(
            f"bits={s.bits}: the step derivatives (and so the optimal step) of "
            f"{dist!r} are exact only up to {EXACT_CELL_SUM_MAX_BITS} bits; its "
            f"density is not smooth at x = {where}, where the additive model "
            "used above that is not accurate"
        )


def curve(
    dist: Distribution, d: np.ndarray, s: Scheme, model: str, order: int, side: int
):
    """``[D, D', ...]`` up to ``order`` at the 1-D steps ``d`` (validated).

    On the exact route ``D`` is None when ``order >= 1`` (the derivatives do
    not need it).
    """
    if model == "additive":
        return additive(dist, d, s, order, side)
    if order == 0:
        return [exact_mse(dist, d, s)]
    return exact_derivatives(dist, d, s, order, side)
