r"""The exact MSE of a density and its step derivatives by the cell sum.

Each level :math:`c_k=(k+o)\Delta` owns two half-cells,
:math:`[c_k, c_k+h]` and :math:`[c_k-h, c_k]` with :math:`h=\Delta/2`; the
outermost half-cells are the tails. On a half-cell we integrate
:math:`t^p f(c_k+t)` in the local coordinate :math:`t=x-c_k` with
fixed-order Gauss-Legendre (panels split at the density's breakpoints). The
integrand is the *error* :math:`t^2`, never :math:`x^2`, so a cell of width
:math:`10^{-5}\sigma` still has full relative accuracy: there is no
difference of large partial moments. Tails come from each family's
closed-form tail moments.

Derivatives follow from the Leibniz rule over cells. With
:math:`A^{(1)}_k=\int_{\text{cell }k}(x-c_k)f\,dx`,

.. math::

    D'(\Delta) = -2\sum_k (k+o)\,A^{(1)}_k,

because the boundary terms of adjacent cells cancel (the error is
continuous at a decision threshold). Differentiating again gives, per level,
the values of :math:`f` at its two thresholds and
:math:`B_k=\int_{\text{cell }k}(x-c_k)f'(x)\,dx`:

.. math::

    D''(\Delta) = -2\sum_k (k+o)\left[\tfrac{h}{2}\big(f(c_k+h)-f(c_k-h)\big)
    + (k+o)\,B_k\right],

with the threshold term omitted on an infinite side and
:math:`B=-P[X>\tau_+]` (resp. :math:`-P[X<\tau_-]`) on the tails.
"""

from __future__ import annotations

import math

import numpy as np

from .._core.distribution import Distribution
from .._core.quadrature import gauss_legendre
from .._core.scheme import Scheme

__all__ = ["dpdf_or_fd", "exact_cells", "pdf_at_threshold"]

# Half-cells wider than this many scales use differences of tail moments.
_WIDE_CELL = 16.0

# Elements per vectorised block (float64): bounds the memory of one call.
_BLOCK = 1 << 21


def _rule_for(width_over_scale: float, coarse: bool = False) -> tuple[int, int]:
    """Panels per sub-interval and nodes per panel for a half-cell width.

    Panels are at most a quarter of the family's scale wide. The node count
    drops for narrow panels, where the density is a low-degree polynomial to
    machine precision: GL with n nodes is exact for degree 2n-1 and its
    error scales like (width/scale)^(2n). ``coarse`` (used only to locate the
    basin of the optimum) allows one-scale panels, at most 8, and 8 nodes.
    """
    if coarse:
        return max(1, min(8, math.ceil(width_over_scale))), 8
    panels = max(1, min(256, math.ceil(width_over_scale / 0.25)))
    pw = width_over_scale / panels
    if pw <= 0.02:
        n = 6
    elif pw <= 0.1:
        n = 10
    else:
        n = 16
    return panels, n


def _jump_arrays(dist: Distribution):
    bps = np.asarray(dist._breakpoints, dtype=np.float64)
    jumps = np.asarray(dist._jumps, dtype=np.float64)
    nz = jumps != 0
    return bps, bps[nz], jumps[nz]


def _finite_halves(
    dist: Distribution,
    c,
    h,
    direction: int,
    need_b: bool,
    coarse: bool = False,
    side: int = 1,
):
    r"""Moments of the half-cells :math:`[c, c+h]` (direction +1) or
    :math:`[c-h, c]` (direction -1).

    Parameters
    ----------
    c : ndarray, shape (S, L)
        Level positions.
    h : ndarray, shape (S,)
        Half-width, finite and positive.

    Returns
    -------
    A0, A1, A2, B1, fb : ndarray, shape (S, L)
        :math:`\int t^p f(c+t)\,dt` for p = 0, 1, 2 over the half-cell (t is
        signed, so A1 < 0 on a left half), :math:`\int t f'(c+t)\,dt`
        (including the jumps of f inside), and f at the threshold.

    Notes
    -----
    Where a threshold sits on a jump of f, the threshold value of f and
    whether the jump counts as inside are taken on the side into which the
    threshold moves when the step grows (``side=+1``) or shrinks (``-1``):
    this gives the one-sided derivatives exactly, with no perturbation.
    """
    scale = dist._scale
    if float(np.max(h)) > _WIDE_CELL * scale:
        return _halves_by_tails(dist, c, h, direction, side)
    bps, jpos, jval = _jump_arrays(dist)
    hh = h[:, None]  # (S, 1)
    if bps.size:
        r = np.clip((bps[None, None, :] - c[..., None]) * direction, 0.0, hh[..., None])
        zeros = np.zeros((*c.shape, 1))
        cuts = np.concatenate(
            [zeros, np.sort(r, axis=-1), np.broadcast_to(hh[..., None], zeros.shape)],
            axis=-1,
        )
    else:
        cuts = np.stack([np.zeros_like(c), np.broadcast_to(hh, c.shape)], axis=-1)
    lo = cuts[..., :-1]
    width = cuts[..., 1:] - lo  # (S, L, nsub)
    panels, n = _rule_for(float(np.max(h)) / scale, coarse)
    xi, wi = gauss_legendre(n)
    pw = width / panels
    # u: distance from the level, shape (S, L, nsub, panels, n)
    offs = np.arange(panels, dtype=np.float64)[:, None] + xi[None, :]
    u = lo[..., None, None] + pw[..., None, None] * offs
    w = pw[..., None, None] * wi
    x = c[..., None, None, None] + direction * u
    graded = _graded_panels(dist, c, lo, cuts[..., 1:], panels, direction)
    if graded is not None:
        # panels near a non-smooth side of a breakpoint: the law's graded
        # rule replaces Gauss-Legendre there (their weights are zeroed)
        flag, extra = graded
        w = np.where(flag[..., None], 0.0, w)
    fx = dist._pdf(x)
    if getattr(dist, "_singular_panels", None) is None:
        wf = w * fx
    else:
        # an infinite f at a dropped node, or at a zero-width panel that
        # sits on the point where the density is infinite
        with np.errstate(invalid="ignore"):
            wf = np.where(w != 0.0, w * fx, 0.0)
    wfu = wf * u
    a0 = wf.sum(axis=(-3, -2, -1))
    a1 = direction * wfu.sum(axis=(-3, -2, -1))
    a2 = (wfu * u).sum(axis=(-3, -2, -1))
    if graded is not None:
        a0, a1, a2 = a0 + extra[0], a1 + extra[1], a2 + extra[2]
    b = c + direction * hh
    fb, on, sigma = pdf_at_threshold(dist, b, side)
    b1 = None
    if need_b:
        if not _by_parts(dist):
            b1 = direction * (w * u * dist._dpdf(x)).sum(axis=(-3, -2, -1))
            if jpos.size:
                te = jpos[None, None, :] - c[..., None]  # signed offset of the jump
                ue = te * direction
                inside = (ue > 0) & (ue < hh[..., None]) & ~on
                # a jump on the threshold is inside iff the threshold moves
                # outwards from the level
                inside |= on & (sigma * direction > 0)[..., None]
                b1 = b1 + np.where(inside, te * jval, 0.0).sum(-1)
        else:
            # integration by parts: int_0^h t f'(c+t) dt = h f(c+h) - A0 (the
            # jumps inside are included automatically).
            b1 = hh * fb - a0
    return a0, a1, a2, b1, fb


def _by_parts(dist: Distribution) -> bool:
    r"""Whether :math:`B` comes from integration by parts,
    :math:`B = h f(c \pm h) - A_0` (a law without ``_dpdf``, or one whose
    density is not smooth at a point: :math:`f'` is not integrable there)."""
    return dist._dpdf is None or getattr(dist, "_singular_panels", None) is not None


def _graded_panels(dist: Distribution, c, lo, hi, panels: int, direction: int):
    r"""The panels that need the law's graded rule, and their moments.

    A law whose density is not smooth on one side of a breakpoint (an
    infinite density at a support edge, a fractional power, an essential
    singularity; see :func:`quanttheory.from_scipy`) has the hooks
    ``_singular_panels(xa, xb) -> (flag, which)`` or None, and
    ``_singular_moments(xa, xb, origin, which) -> (m0, m1, m2)``, the
    moments :math:`\int_{xa}^{xb}(x-o)^p f`. Returns None when no panel is
    flagged, else ``(flag, (A0, A1, A2))``: the mask of shape
    ``(S, L, nsub, panels)`` and the flagged panels' moments about their
    level summed per half-cell, shape ``(S, L)`` (A1 is the signed
    :math:`\int (x - c) f`, as in :func:`_finite_halves`).
    """
    hook = getattr(dist, "_singular_panels", None)
    if hook is None:
        return None
    j = np.arange(panels, dtype=np.float64)
    pw = (hi - lo) / panels
    ua = lo[..., None] + pw[..., None] * j  # (S, L, nsub, panels)
    ub = lo[..., None] + pw[..., None] * (j + 1.0)
    ub[..., -1] = hi  # the last panel ends exactly on its cut
    cc = c[..., None, None]
    xa, xb = cc + direction * ua, cc + direction * ub
    if direction < 0:
        xa, xb = xb, xa
    res = hook(xa, xb)
    if res is None or not res[0].any():
        return None
    flag, which = res
    idx = np.nonzero(flag)
    m = dist._singular_moments(xa[idx], xb[idx], c[idx[0], idx[1]], which[idx])
    extra = []
    for v in m:
        acc = np.zeros(c.shape)
        np.add.at(acc, (idx[0], idx[1]), v)
        extra.append(acc)
    return flag, tuple(extra)


def pdf_at_threshold(dist: Distribution, b, side: int, func=None):
    """f (or ``func``) at thresholds ``b``, one-sided on the density's jumps.

    ``b`` is a multiple of the step, so it moves in the direction
    ``sigma = sign(b) * side`` when the step grows (``side=+1``) or shrinks
    (``-1``). Returns ``(value, on, sigma)``: ``on[..., j]`` marks a
    threshold within 1e-11 (relative) of jump ``j``, and there the value is
    taken just beyond the jump on the side ``sigma``.
    """
    func = dist._pdf if func is None else func
    _, jpos, _ = _jump_arrays(dist)
    b = np.asarray(b, dtype=np.float64)
    f = func(b)
    sigma = np.where(b >= 0, 1.0, -1.0) * side
    if not jpos.size:
        return f, np.zeros((*b.shape, 0), dtype=bool), sigma
    e = jpos[(None,) * b.ndim]
    on = np.abs(b[..., None] - e) <= 1e-11 * np.maximum(np.abs(e), 1e-300)
    if on.any():
        beyond = np.nextafter(e, np.where(sigma[..., None] > 0, np.inf, -np.inf))
        side_val = func(np.broadcast_to(beyond, on.shape))
        f = np.where(on.any(-1), np.where(on, side_val, 0.0).sum(-1), f)
    return f, on, sigma


def _interval_moments(dist: Distribution, lo, hi, o):
    r""":math:`\int_{lo}^{hi} (x-o)^p f(x)\,dx`, p = 0, 1, 2, from tail moments.

    Three representations, chosen per interval so that the subtracted part is
    the one far from the bulk of the law (no catastrophic cancellation):
    right of the centre, upper tails at both ends; left of it, lower tails;
    straddling it, the full moments minus both outer tails.
    """
    centre = dist._centre
    su_lo, u1_lo, u2_lo = dist._upper_tail(lo)
    su_hi, u1_hi, u2_hi = dist._upper_tail(hi)
    fl_lo, l1_lo, l2_lo = dist._lower_tail(lo)
    fl_hi, l1_hi, l2_hi = dist._lower_tail(hi)

    def up(s_, u1, u2, t):  # int_t^inf (x-o)^p f, with x-o = (x-t) + (t-o)
        g = t - o
        return s_, u1 + g * s_, u2 + 2.0 * g * u1 + g * g * s_

    def low(f_, l1, l2, t):  # int_-inf^t (x-o)^p f, with x-o = (t-o) - (t-x)
        g = t - o
        return f_, g * f_ - l1, g * g * f_ - 2.0 * g * l1 + l2

    ua, ub = up(su_lo, u1_lo, u2_lo, lo), up(su_hi, u1_hi, u2_hi, hi)
    la, lb = low(fl_lo, l1_lo, l2_lo, lo), low(fl_hi, l1_hi, l2_hi, hi)
    mu = dist.mean
    full = (1.0, mu - o, dist.variance + (mu - o) ** 2)
    right = lo >= centre
    left = hi <= centre
    out = []
    for p in range(3):
        v = np.where(
            right,
            ua[p] - ub[p],
            np.where(left, lb[p] - la[p], full[p] - la[p] - ub[p]),
        )
        out.append(v)
    return out


def _halves_by_tails(dist: Distribution, c, h, direction: int, side: int = 1):
    r"""Half-cell moments from tail moments, for very wide cells.

    Beyond :data:`_WIDE_CELL` scales fixed-order panels would be too wide;
    the density then lives well inside the half-cell, and
    :func:`_interval_moments` gives the integrals without cancellation.
    """
    hh = np.broadcast_to(h[:, None], c.shape)
    far = c + direction * hh
    lo, hi = (c, far) if direction > 0 else (far, c)
    a0, a1, a2 = _interval_moments(dist, lo, hi, c)
    a0 = np.maximum(a0, 0.0)
    a2 = np.maximum(a2, 0.0)
    fb = pdf_at_threshold(dist, far, side)[0]
    b1 = hh * fb - a0
    return a0, a1, a2, b1, fb


def exact_cells(
    dist: Distribution,
    d: np.ndarray,
    s: Scheme,
    order: int,
    coarse: bool = False,
    side: int = 1,
):
    """D, D', D'' (up to ``order``) by the cell sum; ``d`` is 1-D.

    ``coarse`` (one-scale panels, for locating the optimum's basins) is
    ignored for a law whose density is not smooth at a point: there the
    coarse panels would move the basins.
    """
    if coarse:
        points = getattr(dist, "_singular_points", None)
        coarse = not (callable(points) and points())
    idx = s.indices()  # (L,)
    L = idx.size
    panels, n = _rule_for(float(np.max(d)) / (2.0 * dist._scale), coarse)
    per_step = max(1, 2 * L * panels * n * (dist._breakpoints.size + 1))
    chunk = max(1, _BLOCK // per_step)
    out = [np.empty_like(d) for _ in range(order + 1)]
    for start in range(0, d.size, chunk):
        dd = d[start : start + chunk]
        h = 0.5 * dd
        c = idx[None, :] * dd[:, None]
        # right halves of all but the top level, left halves of all but the bottom
        r0, r1, r2, rb, rf = _finite_halves(
            dist, c[:, :-1], h, +1, order >= 2, coarse, side
        )
        l0, l1, l2, lb, lf = _finite_halves(
            dist, c[:, 1:], h, -1, order >= 2, coarse, side
        )
        tau_p = c[:, -1]
        tau_m = c[:, 0]
        su, t1u, t2u = dist._upper_tail(tau_p)
        fl, t1l, t2l = dist._lower_tail(tau_m)
        sl = slice(start, start + chunk)
        # D: every term is positive; pairwise summation.
        out[0][sl] = r2.sum(-1) + l2.sum(-1) + t2u + t2l
        if order >= 1:
            kr = idx[:-1]
            kl = idx[1:]
            g = (kr * r1).sum(-1) + (kl * l1).sum(-1)
            g = g + idx[-1] * t1u - idx[0] * t1l
            out[1][sl] = -2.0 * g
        if order >= 2:
            hh = h[:, None]
            # per-level combination before the global sum keeps the error at
            # ~ eps * scale/h relative (see module docstring).
            term = np.zeros_like(c)
            if _by_parts(dist):
                # with B = h f(threshold) - A0 the threshold's f enters with
                # the factor (k + o +- 1/2), which is 0 for a threshold fixed
                # at 0 (midrise): drop it exactly, so that an infinite
                # density there (gamma(0.5)) does not make inf - inf
                with np.errstate(invalid="ignore"):
                    gr = np.where(kr + 0.5 == 0.0, 0.0, (kr + 0.5) * hh * rf)
                    gl = np.where(kl - 0.5 == 0.0, 0.0, (kl - 0.5) * hh * lf)
                term[:, :-1] += kr * (gr - kr * r0)
                term[:, 1:] += kl * (gl - kl * l0)
            else:
                term[:, :-1] += kr * (0.5 * hh * rf + kr * rb)
                term[:, 1:] += kl * (-0.5 * hh * lf + kl * lb)
            term[:, -1] += idx[-1] ** 2 * (-su)
            term[:, 0] += idx[0] ** 2 * (-fl)
            out[2][sl] = -2.0 * term.sum(-1)
    return out


def dpdf_or_fd(dist: Distribution, x):
    """Density derivative: the family's formula, else a central difference."""
    if dist._dpdf is not None:
        return dist._dpdf(x)
    hfd = 1e-4 * dist._scale
    return (dist._pdf(x + hfd) - dist._pdf(x - hfd)) / (2.0 * hfd)
