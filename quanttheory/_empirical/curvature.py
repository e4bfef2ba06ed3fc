r"""The curvature of the empirical MSE smoothed over one step (Lemma 1 on data).

See :func:`quanttheory._sensitivity.smoothed_curvature` for the formula.
"""

from __future__ import annotations

import numpy as np

from .._core.floats import dot
from .._core.parallel import iter_chunks
from .._core.scheme import Scheme, level_index

__all__ = ["smoothed_curvature"]


def smoothed_curvature(dist, d: float, s: Scheme) -> float:
    r""":math:`\bar D''(\Delta)` of ``dist`` (an Empirical) at step ``d``.

    :math:`O(N)` at any bit-width: the threshold counts are summed per
    sample, with no array over the :math:`2^M` thresholds. Scale-free: it
    runs on the samples divided by ``2**dist._exponent``, at the step
    divided by the same.
    """
    # W_j: samples within an eighth of a step of threshold j (j + o + 1/2 in
    # units of the step); Delta f(b_j) ~ 4 W_j / N. A narrow window keeps the
    # kernel's O(w^2 f'') bias small: it does not cancel in the difference
    # of the two large sums below (a one-step window costs ~8 % at 4 bits).
    # sum_j m_j^2 W_j is summed over the samples in a window, each adding
    # the m_j^2 of its threshold.
    shift = dist._exponent
    with np.errstate(over="ignore", under="ignore"):
        d = float(np.ldexp(d, -shift)) if shift else d
    # a step beyond float64 in the scaled coordinates: the nearest float is
    # as good (every sample is then on one side of every threshold)
    d = min(max(d, 2.0**-1022), 2.0**1023)
    ksq = 0.0
    near_sq = 0.0
    for xs in iter_chunks(dist.samples):
        if shift:
            xs = np.ldexp(xs, -shift)
        k = level_index(xs, d, s)
        ksq += float(dot(k, k))
        # beyond the range t is inf and t - j NaN: never near a threshold
        with np.errstate(over="ignore", invalid="ignore"):
            t = xs / d - s.offset - 0.5
            j = np.rint(t)
            near = (np.abs(t - j) < 0.125) & (j >= s.kmin) & (j <= s.kmax - 1)
        m = j[near] + s.offset + 0.5
        near_sq += float(dot(m, m))
    return 2.0 * (ksq - 4.0 * near_sq) / dist.n
