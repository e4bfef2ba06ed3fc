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
    r""":math:`\bar D''(\Delta)` of ``dist`` (an Empirical) at step ``d``."""
    # W_j: samples within an eighth of a step of threshold j (j + o + 1/2 in
    # units of the step); Delta f(b_j) ~ 4 W_j / N. A narrow window keeps the
    # kernel's O(w^2 f'') bias small: it does not cancel in the difference
    # of the two large sums below (a one-step window costs ~8 % at 4 bits).
    counts = np.zeros(s.kmax - s.kmin)
    ksq = 0.0
    for xs in iter_chunks(dist.samples):
        k = level_index(xs, d, s)
        ksq += float(dot(k, k))
        t = xs / d - s.offset - 0.5
        j = np.rint(t)
        near = (np.abs(t - j) < 0.125) & (j >= s.kmin) & (j <= s.kmax - 1)
        counts += np.bincount((j[near] - s.kmin).astype(np.intp), minlength=counts.size)
    m = np.arange(s.kmin, s.kmax, dtype=np.float64) + s.offset + 0.5
    return 2.0 * (ksq - 4.0 * float(dot(m * m, counts))) / dist.n
