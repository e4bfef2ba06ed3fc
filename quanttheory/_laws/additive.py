r"""The additive-noise model of the seed's Lemma 2, and the order-3
Euler-Maclaurin expansion built on it."""

from __future__ import annotations

import numpy as np

from .._core.distribution import Distribution
from .._core.scheme import Scheme
from .cells import dpdf_or_fd, pdf_at_threshold

__all__ = ["additive", "euler_maclaurin"]


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
        up = dpdf_or_fd(dist, np.nextafter(bps, np.inf))
        dn = dpdf_or_fd(dist, np.nextafter(bps, -np.inf))
        jd = (up - dn)[None, :]
        inside = (e > (s.bottom * dd)) & (e < (s.top * dd))
        corr = corr + np.where(inside, -g1 * jf + g2 * jd, 0.0).sum(-1)
    return base + corr
