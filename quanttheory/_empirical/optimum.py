"""The exact empirical optimum: the route for the data at hand."""

from __future__ import annotations

import numpy as np

from .._core.errors import InvalidArgument
from .._core.parallel import is_dask
from .._core.scheme import Scheme
from .sorted import sorted_optimal
from .streaming import streaming_optimal

__all__ = ["STREAM_MIN", "empirical_optimal"]

#: Above this many samples (or for memory-mapped / Dask data) the exact
#: empirical optimum uses the streaming two-pass method of
#: :mod:`.streaming` instead of a full sort.
STREAM_MIN = 1 << 21


def empirical_optimal(dist, s: Scheme, model: str) -> float:
    """The optimal step of an :class:`~.empirical.Empirical` (validated).

    Data of extreme magnitude (``dist._exponent`` not 0) are searched divided
    by a power of two, exactly, and the step is scaled back: it may then be
    beyond float64's range, which the caller checks.
    """
    if dist.max == dist.min == 0.0:
        raise InvalidArgument(
            "optimal_step: the empirical samples are all zero; the MSE does not "
            "depend on the step (or has no minimiser), so no optimal step exists"
        )
    if dist._exponent:
        step = empirical_optimal(dist._scaled(), s, model)
        with np.errstate(over="ignore", under="ignore"):
            return float(np.ldexp(step, dist._exponent))
    big = dist.n > STREAM_MIN or isinstance(dist.samples, np.memmap)
    if model == "exact" and (big or is_dask(dist.samples)):
        step = streaming_optimal(dist.samples, s, dist.n, dist.min, dist.max)
        if step is not None:
            return step
        # the streaming route could not vouch for its answer (many repeated
        # values): the sort is exact for any data
    return sorted_optimal(dist, s, model)
