"""The empirical MSE and its one-sided step derivatives, O(N) per step, in chunks."""

from __future__ import annotations

import numpy as np

from .._core.floats import dot
from .._core.parallel import iter_chunks
from .._core.scheme import Scheme, level_index

__all__ = ["curve", "exact_values"]

# Empirical data: the level assignment for a one-sided derivative is taken at
# the step moved by 2**-48 ~ 3.6e-15 relative (16 ulps), which moves a sample
# that sits on a threshold to the side the threshold leaves it on. The value
# of the derivative is then evaluated at the unmoved step.
_SIDE_EPS = 2.0**-48


def curve(
    dist, d: np.ndarray, s: Scheme, order: int, model: str, side: int, shift: int = 0
):
    """Empirical MSE and one-sided derivatives, O(N) per step, in chunks.

    With ``shift`` the samples are divided by ``2**shift`` (exactly) and
    ``d`` are steps in those coordinates; so are the results (the MSE of the
    data is ``4**shift`` times the value returned, ``D'`` ``2**shift``
    times).
    """
    n = dist.n
    out = [np.zeros_like(d) for _ in range(order + 1)]
    acc = np.zeros((d.size, order + 1))
    cnt = np.zeros((d.size, 2))
    for xs in iter_chunks(dist.samples):
        if shift:
            xs = np.ldexp(xs, -shift)
        for j, dj in enumerate(d):
            if model == "exact":
                dq = dj * (1.0 + side * _SIDE_EPS) if order >= 1 else dj
                # level index from the (possibly moved) step, value at dj
                k = level_index(xs, dq, s)
                err = xs - k * dj
                acc[j, 0] += dot(err, err)
                if order >= 1:
                    acc[j, 1] += -2.0 * dot(k, err)
                if order >= 2:
                    acc[j, 2] += 2.0 * dot(k, k)
            else:
                tp, tm = s.top * dj, s.bottom * dj
                up = xs[xs > tp] - tp
                lo = tm - xs[xs < tm]
                acc[j, 0] += dot(up, up) + dot(lo, lo)
                if order >= 1:
                    acc[j, 1] += -2.0 * s.top * up.sum() + 2.0 * s.bottom * lo.sum()
                if order >= 2:
                    acc[j, 2] += 2.0 * s.top**2 * up.size + 2.0 * s.bottom**2 * lo.size
                cnt[j, 0] += up.size + lo.size
    for j, dj in enumerate(d):
        if model == "exact":
            for i in range(order + 1):
                out[i][j] = acc[j, i] / n
        else:
            p = 1.0 - cnt[j, 0] / n
            out[0][j] = acc[j, 0] / n + dj * dj / 12.0 * p
            if order >= 1:
                out[1][j] = acc[j, 1] / n + dj / 6.0 * p
            if order >= 2:
                out[2][j] = acc[j, 2] / n + p / 6.0
    return out


def exact_values(dist, d, s: Scheme) -> np.ndarray:
    """The exact empirical MSE at the steps ``d`` (1-D)."""
    return curve(dist, np.asarray(d, dtype=np.float64), s, 0, "exact", 1)[0]
