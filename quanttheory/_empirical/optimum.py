"""The exact empirical optimum: one branch-and-bound route for every N.

See :mod:`.bound`: point atoms from a sort for small in-memory data
(:data:`~.bound.SORT_MAX`), otherwise a histogram pass on the float's bits
and one gather pass (memory-mapped and Dask data included). The additive
model still uses the sorted grid search of :mod:`.sorted`.
"""

from __future__ import annotations

import math

import numpy as np

from .._core.errors import InvalidArgument
from .._core.scheme import Scheme
from .bound import optimum_from_samples
from .sorted import sorted_optimal

__all__ = ["empirical_optimal"]


def _flat(dist, s: Scheme, weights) -> bool:
    """Whether the MSE is exactly constant in the step: every sample (of
    positive weight) sits at level 0 for every step. A sample ``x > 0`` does
    iff the top level is 0, ``x < 0`` iff the bottom level is 0, and
    ``x == 0`` iff 0 is a level (any other sample's error is a non-constant
    quadratic on some piece, so the sum is not constant). :math:`O(N)` with
    weights (which samples count), :math:`O(1)` otherwise."""
    if s.offset:
        return False  # 0 is no level: no sample keeps a constant error
    if weights is None:
        has_pos, has_neg = dist.max > 0, dist.min < 0
    else:
        x = np.asarray(dist.samples).reshape(-1)
        w = np.asarray(weights).reshape(-1)
        has_pos, has_neg = bool(np.any(w[x > 0] > 0)), bool(np.any(w[x < 0] > 0))
    return (not has_pos or s.top == 0) and (not has_neg or s.bottom == 0)


def empirical_optimal(dist, s: Scheme, model: str, weights=None) -> float:
    """The optimal step of an :class:`~.empirical.Empirical` (validated).

    ``weights`` (default ``dist._weights`` if present): None or non-negative
    float64 weights aligned with the flattened samples; the optimum is then
    that of :math:`\\sum w_i (x_i - Q(x_i))^2 / \\sum w_i` (exact model only).

    Data of extreme magnitude (``dist._exponent`` not 0) are searched divided
    by a power of two, exactly, and the step is scaled back: it may then be
    beyond float64's range, which the caller checks.
    """
    if weights is None:
        weights = getattr(dist, "_weights", None)
    if dist.max == dist.min == 0.0:
        raise InvalidArgument(
            "optimal_step: the empirical samples are all zero; the MSE does not "
            "depend on the step (or has no minimiser), so no optimal step exists"
        )
    if dist._exponent:
        step = empirical_optimal(dist._scaled(), s, model, weights)
        with np.errstate(over="ignore", under="ignore"):
            return float(np.ldexp(step, dist._exponent))
    if model != "exact":
        return sorted_optimal(dist, s, model)
    if weights is not None:
        top = float(np.max(weights)) if np.size(weights) else 0.0
        if 0 < top < 1:
            # the optimum does not depend on the weights' scale: a power of
            # two (exact) brings the largest to [1, 2), so that tiny
            # (subnormal) weights do not flush the errors they carry to 0
            weights = np.ldexp(weights, -math.frexp(top)[1] + 1)
    step, _ = optimum_from_samples(dist.samples, weights, s, dist.n, dist.min, dist.max)
    if _flat(dist, s, weights):
        raise InvalidArgument(
            f"optimal_step: for these samples with scheme {s.name!r} and "
            f"bits={s.bits} the MSE does not depend on the step, so no optimal "
            "step exists"
        )
    if step is None:
        raise InvalidArgument(
            f"optimal_step: for these samples with scheme {s.name!r} and "
            f"bits={s.bits} the MSE has no minimiser, so no optimal step exists"
        )
    return step
