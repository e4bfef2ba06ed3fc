r"""The additive-noise model of the seed's Lemma 2, and the order-3
Euler-Maclaurin expansion built on it."""

from __future__ import annotations

import math

import numpy as np

from .._core.distribution import Distribution
from .._core.scheme import Scheme
from .cells import _finite_halves, dpdf_or_fd, pdf_at_threshold

__all__ = ["ZONE_CELLS", "additive", "euler_maclaurin", "singular_points"]

#: Cells on each side of a point where the density is not smooth (an
#: infinite density at an edge, a fractional power) that the expansion
#: above 16 bits leaves to the exact cell sum. Beyond them its remainder is
#: about :math:`4\cdot10^{-4}|a(a-1)(a-2)|\,C\,\Delta^{a+1}N^{a-3}` of the
#: MSE for :math:`f \sim Ct^a` (the sixth-order term at the zone's edge, N
#: cells from the point): below 1e-17 for :math:`a \ge -0.9` at 17 to 24
#: bits with N = 4096.
ZONE_CELLS = 4096


def additive(dist: Distribution, d: np.ndarray, s: Scheme, order: int, side: int = 1):
    r"""Additive-noise model and its step derivatives.

    :math:`D_a = T_2^+(\tau_+) + T_2^-(\tau_-) + \frac{\Delta^2}{12}P`
    with :math:`\tau_\pm = K_\pm\Delta` and
    :math:`P = P[\tau_- \le X \le \tau_+]`. Where an outer level sits on a
    jump of the density, :math:`f(\tau_\pm)` and :math:`f'(\tau_\pm)` are
    taken on the side into which the level moves (one-sided derivatives).
    """
    kp, km = s.top, s.bottom
    tp, tm = kp * d, km * d
    su, t1u, t2u = dist._upper_tail(tp)
    fl, t1l, t2l = dist._lower_tail(tm)
    p = 1.0 - su - fl
    out = [t2u + t2l + d * d / 12.0 * p]
    if order >= 1:
        fp = pdf_at_threshold(dist, tp, side)[0]
        fm = pdf_at_threshold(dist, tm, side)[0]
        dp = kp * fp - km * fm
        out.append(-2.0 * kp * t1u + 2.0 * km * t1l + d / 6.0 * p + d * d / 12.0 * dp)
    if order >= 2:

        def dpdf(x):
            return dpdf_or_fd(dist, x)

        ddp = kp * kp * pdf_at_threshold(dist, tp, side, dpdf)[0]
        ddp = ddp - km * km * pdf_at_threshold(dist, tm, side, dpdf)[0]
        out.append(
            2.0 * kp * kp * su
            + 2.0 * km * km * fl
            + p / 6.0
            + d / 3.0 * dp
            + d * d / 12.0 * ddp
        )
    return out


def singular_points(dist: Distribution) -> list[float]:
    """Points where the law's density is not smooth on a side (the hook
    ``_singular_points()`` of :func:`quanttheory.from_scipy` laws; none for
    other families)."""
    hook = getattr(dist, "_singular_points", None)
    return list(hook()) if callable(hook) else []


def _one_sided_dpdf(dist: Distribution, e, side: int) -> np.ndarray:
    r""":math:`f'(e^\pm)`: the family's derivative just beyond ``e``, else a
    one-sided second-order difference (a central one would straddle a kink
    and return the mean of the two slopes)."""
    e = np.asarray(e, dtype=np.float64)
    beyond = np.nextafter(e, np.inf if side > 0 else -np.inf)
    if dist._dpdf is not None:
        return dist._dpdf(beyond)
    bps = np.asarray(dist._breakpoints, dtype=np.float64)
    h = np.full(e.shape, 1e-4 * dist._scale)
    for i, ei in enumerate(e.flat):
        gaps = np.abs(bps - ei)
        gaps = gaps[gaps > 0]
        if gaps.size:
            h.flat[i] = min(h.flat[i], 0.1 * float(gaps.min()))
    f0 = dist._pdf(beyond)
    f1 = dist._pdf(e + side * h)
    f2 = dist._pdf(e + 2.0 * side * h)
    return side * (-3.0 * f0 + 4.0 * f1 - f2) / (2.0 * h)


def euler_maclaurin(dist: Distribution, d: np.ndarray, s: Scheme):
    r"""MSE for many levels: additive model plus sawtooth boundary terms.

    With the periodic antiderivatives of :math:`g(t)=t^2-\Delta^2/12`,
    :math:`G_1(t)=t^3/3-\Delta^2t/12` and
    :math:`G_2(t)=t^4/12-\Delta^2t^2/24+7\Delta^4/2880`,

    .. math::

        \int_{\tau_-}^{\tau_+} g f = -G_2(0)\,[f']_{\tau_-}^{\tau_+}
        + \sum_e \big(-G_1(t_e)\,J_f(e) + G_2(t_e)\,J_{f'}(e)\big)
        + O(\Delta^6 \max|f'''|),

    where :math:`e` runs over the density's breakpoints inside
    :math:`(\tau_-,\tau_+)`, :math:`t_e` is the offset of :math:`e` from its
    nearest level and :math:`J` are the jumps of :math:`f` and :math:`f'`.
    """
    points = singular_points(dist)
    if points:
        return _zoned(dist, d, s, points)
    base = additive(dist, d, s, 0)[0]
    tp, tm = s.top * d, s.bottom * d
    corr = -(7.0 * d**4 / 2880.0) * (dpdf_or_fd(dist, tp) - dpdf_or_fd(dist, tm))
    bps = np.asarray(dist._breakpoints, dtype=np.float64)
    if bps.size:
        e = bps[None, :]
        dd = d[:, None]
        k = np.rint(e / dd - s.offset) + s.offset
        t = e - k * dd
        g1 = t**3 / 3.0 - dd * dd * t / 12.0
        g2 = t**4 / 12.0 - dd * dd * t * t / 24.0 + 7.0 * dd**4 / 2880.0
        jf = np.asarray(dist._jumps, dtype=np.float64)[None, :]
        up = _one_sided_dpdf(dist, bps, +1)
        dn = _one_sided_dpdf(dist, bps, -1)
        jd = (up - dn)[None, :]
        inside = (e > (s.bottom * dd)) & (e < (s.top * dd))
        corr = corr + np.where(inside, -g1 * jf + g2 * jd, 0.0).sum(-1)
    return base + corr


def _zoned(dist: Distribution, d: np.ndarray, s: Scheme, points) -> np.ndarray:
    r"""The expansion above 16 bits for a density that is not smooth at
    ``points``: the exact cell sum on :data:`ZONE_CELLS` cells either side of
    each point, the Euler-Maclaurin expansion of :func:`euler_maclaurin` on
    the segments between.

    A segment :math:`[L, R]` ends at an outer level (with its tail moment)
    or at a decision threshold, where :math:`G_1 = 0` and
    :math:`G_2 = -\Delta^4/360`:

    .. math::

        \int_L^R e^2 f = \frac{\Delta^2}{12}P[L<X<R] - \big[G_2 f'\big]_L^R
        + \sum_{e\in(L,R)}\big(-G_1(t_e)J_f(e) + G_2(t_e)J_{f'}(e)\big)
        + O(\Delta^6 f''').

    One step at a time (the zones move with the step).
    """
    out = np.empty(d.shape)
    bps = np.asarray(dist._breakpoints, dtype=np.float64)
    jf_all = np.asarray(dist._jumps, dtype=np.float64)
    pts = np.asarray(sorted(points), dtype=np.float64)
    for i, dd in enumerate(d.tolist()):
        zones = []
        for p in pts.tolist():
            kp = round(p / dd - s.offset)
            a, b = max(s.kmin, kp - ZONE_CELLS), min(s.kmax, kp + ZONE_CELLS)
            if a <= b:
                zones.append([a, b])
        zones.sort()
        merged: list[list[int]] = []
        for z in zones:
            if merged and z[0] <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], z[1])
            else:
                merged.append(z)
        total = 0.0
        nxt = s.kmin
        for a, b in merged:
            if a > nxt:
                total += _segment(dist, dd, s, nxt, a - 1, bps, jf_all, pts)
            total += _zone(dist, dd, s, a, b)
            nxt = b + 1
        if nxt <= s.kmax:
            total += _segment(dist, dd, s, nxt, s.kmax, bps, jf_all, pts)
        out[i] = total
    return out


def _zone(dist: Distribution, dd: float, s: Scheme, a: int, b: int) -> float:
    """The exact MSE of the cells of levels ``a..b`` (tails included at the
    outer levels), by the cell quadrature of :mod:`.cells`."""
    h = np.array([0.5 * dd])
    total = 0.0
    block = 1 << 14
    for start in range(a, b + 1, block):
        k = np.arange(start, min(start + block, b + 1), dtype=np.float64)
        c = ((k + s.offset) * dd)[None, :]
        right = k < s.kmax
        left = k > s.kmin
        if right.any():
            total += float(_finite_halves(dist, c[:, right], h, +1, False)[2].sum())
        if left.any():
            total += float(_finite_halves(dist, c[:, left], h, -1, False)[2].sum())
    if b == s.kmax:
        total += float(dist._upper_tail(np.array([s.top * dd]))[2][0])
    if a == s.kmin:
        total += float(dist._lower_tail(np.array([s.bottom * dd]))[2][0])
    return total


def _segment(dist, dd: float, s: Scheme, m1: int, m2: int, bps, jf_all, pts) -> float:
    """The expansion over the cells of levels ``m1..m2`` (see :func:`_zoned`)."""
    lo_level, hi_level = m1 == s.kmin, m2 == s.kmax
    lo = (m1 + s.offset - (0.0 if lo_level else 0.5)) * dd
    hi = (m2 + s.offset + (0.0 if hi_level else 0.5)) * dd
    ends = np.array([lo, hi])
    if hi <= dist._centre:
        cdf = dist._cdf(ends)
        prob = float(cdf[1] - cdf[0])
    elif lo >= dist._centre:
        sf = dist._sf(ends)
        prob = float(sf[0] - sf[1])
    else:
        prob = float(1.0 - dist._cdf(ends[:1])[0] - dist._sf(ends[1:])[0])
    total = dd * dd / 12.0 * prob
    if lo_level:
        total += float(dist._lower_tail(ends[:1])[2][0])
    if hi_level:
        total += float(dist._upper_tail(ends[1:])[2][0])
    g2_level, g2_threshold = 7.0 * dd**4 / 2880.0, -(dd**4) / 360.0
    # -[G2 f'] at both ends; f' by central differences no wider than a tenth
    # of the distance to the nearest point where the density is not smooth
    for x, g2, sign in (
        (hi, g2_level if hi_level else g2_threshold, -1.0),
        (lo, g2_level if lo_level else g2_threshold, 1.0),
    ):
        gap = float(np.min(np.abs(pts - x))) if pts.size else math.inf
        hfd = min(1e-4 * dist._scale, 0.1 * gap)
        fx = dist._pdf(np.array([x + hfd, x - hfd]))
        total += sign * g2 * float(fx[0] - fx[1]) / (2.0 * hfd)
    inside = (bps > lo) & (bps < hi)
    if inside.any():
        e = bps[inside]
        k = np.rint(e / dd - s.offset) + s.offset
        t = e - k * dd
        g1 = t**3 / 3.0 - dd * dd * t / 12.0
        g2 = t**4 / 12.0 - dd * dd * t * t / 24.0 + 7.0 * dd**4 / 2880.0
        jd = _one_sided_dpdf(dist, e, +1) - _one_sided_dpdf(dist, e, -1)
        total += float(np.sum(-g1 * jf_all[inside] + g2 * jd))
    return total
