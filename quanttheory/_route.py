"""Validate once, then route to the law engines or the empirical ones.

Every public function of layer 3 (:mod:`._mse`, :mod:`._optimal`,
:mod:`._sensitivity`) checks its arguments here, then calls :func:`curve`,
which assumes valid input: the refinement loops of the engines call their
own layer directly and never re-validate.
"""

from __future__ import annotations

import numpy as np

from ._core.checks import check_model, check_no_nan, check_positive_array
from ._core.distribution import Distribution, check_distribution
from ._core.scheme import Scheme, get_scheme
from ._empirical import values as empirical_values
from ._laws import routes as law_routes

__all__ = ["curve", "evaluate", "validate"]


def validate(func: str, dist, bits, scheme, model) -> tuple[Distribution, Scheme, str]:
    """The checked ``(dist, scheme, model)`` of a public call."""
    dist = check_distribution(func, dist)
    s = get_scheme(func, scheme, bits)
    return dist, s, check_model(func, model)


def curve(
    dist: Distribution, d: np.ndarray, s: Scheme, model: str, order: int, side: int = 1
):
    """``[D, D', ...]`` up to ``order`` at the 1-D steps ``d``; no checks."""
    if dist._is_empirical:
        return empirical_values.curve(dist, d, s, order, model, side)
    return law_routes.curve(dist, d, s, model, order, side)


def evaluate(func: str, dist, step, bits, scheme, model, order: int, side: int = 1):
    """Validate, route, return ``[D, D', ...]`` as arrays of the shape of ``step``.

    On the exact route of a law ``D`` is None when ``order >= 1``.
    """
    dist, s, model = validate(func, dist, bits, scheme, model)
    d = check_positive_array(func, "step", step)
    res = curve(dist, d.ravel(), s, model, order, side)
    return [
        None if r is None else check_no_nan(func, "the result", r).reshape(d.shape)
        for r in res
    ]
