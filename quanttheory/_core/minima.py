"""1-D local-minimum search on grids, and the guard for a flat MSE."""

from __future__ import annotations

import numpy as np

from .errors import InvalidArgument

__all__ = ["basins", "local_minima", "require_step_dependence"]


def local_minima(v: np.ndarray) -> list[int]:
    """Interior strict-from-the-left local minima of a grid, best first.

    Ends are excluded (the caller widens the grid when the global minimum
    sits at an end), and so are flat plateaus such as :math:`D\to E[X^2]`
    for vanishing steps.
    """
    i = np.arange(1, len(v) - 1)
    keep = (v[i] < v[i - 1]) & (v[i] <= v[i + 1])
    idx = i[keep]
    return [int(j) for j in idx[np.argsort(v[idx], kind="stable")]]


def basins(v: np.ndarray, count: int) -> list[int]:
    """The ``count`` best interior local minima of a grid, best first; the
    grid's minimum if there is none (a monotone grid)."""
    return local_minima(v)[:count] or [int(np.argmin(v))]


def require_step_dependence(values, floor: float, subject: str, s, why: str = ""):
    """Refuse a search whose grid of MSE values is flat to rounding.

    ``values`` vary by at most ``1e-13 * floor`` over the whole search range
    only when the MSE does not depend on the step (all mass at zero, or on
    one side of the only reachable level); there is then no optimal step.
    ``subject`` names the data (``"for Gaussian(...)"``), ``s`` is the
    :class:`~.scheme.Scheme`.
    """
    if np.ptp(values) <= 1e-13 * floor:
        raise InvalidArgument(
            f"optimal_step: {subject} with scheme {s.name!r} and bits={s.bits} "
            f"the MSE does not depend on the step{why}, so no optimal step exists"
        )
