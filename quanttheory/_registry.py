"""One registry of families and typical parameters (scipy's ``_distr_params``).

The test-suite, the hypothesis strategies and ``quanttheory verify`` all draw
their families from here, so a family added once is tested everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from ._core.checks import check_choice
from ._core.distribution import Distribution
from ._laws.gaussian import Gaussian
from ._laws.laplace import Laplace
from ._laws.scipy_law import from_scipy
from ._laws.uniform import Uniform

__all__ = ["FAMILIES", "Family", "family", "unit_variance"]


@dataclass(frozen=True)
class Family:
    """A family: how to build a member from one scale parameter."""

    name: str
    make: Callable[[float], Distribution]
    #: variance of the member built with scale 1
    unit_scale_variance: float
    #: Pearson kurtosis (inf where the 4th moment diverges)
    kurtosis: float

    def with_variance(self, variance: float = 1.0) -> Distribution:
        """The member of the family with the given variance."""
        return self.make(math.sqrt(variance / self.unit_scale_variance))


def _t3(scale: float) -> Distribution:
    import scipy.stats as st

    return from_scipy(st.t(3, scale=scale))


FAMILIES: dict[str, Family] = {
    "uniform": Family("uniform", Uniform, 1.0 / 3.0, 1.8),
    "gaussian": Family("gaussian", Gaussian, 1.0, 3.0),
    "laplace": Family("laplace", Laplace, 2.0, 6.0),
    "t3": Family("t3", _t3, 3.0, math.inf),
}


def family(name: str) -> Family:
    """Look up a registered family by name."""
    return FAMILIES[check_choice("family", "name", name, tuple(FAMILIES))]


def unit_variance(name: str) -> Distribution:
    """The unit-variance member of a registered family (cached for t3)."""
    return _unit_variance_cached(name)


_CACHE: dict[str, Distribution] = {}


def _unit_variance_cached(name: str) -> Distribution:
    if name not in _CACHE:
        _CACHE[name] = family(name).with_variance(1.0)
    return _CACHE[name]
