"""The level sets: levels ``(k + offset) * step`` for ``kmin <= k <= kmax``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .checks import check_bits, check_choice

__all__ = ["SCHEMES", "Scheme", "get_scheme", "level_index"]

SCHEMES = ("paper", "midrise", "signed", "symmetric")


@dataclass(frozen=True)
class Scheme:
    """A level set in units of the step: levels are ``(k + offset) * step``.

    ``kmin <= k <= kmax``. Python ints, so 2**62 levels still index exactly.
    """

    name: str
    bits: int
    kmin: int
    kmax: int
    offset: float

    @property
    def n_levels(self) -> int:
        return self.kmax - self.kmin + 1

    @property
    def top(self) -> float:
        """Largest level in units of the step (:math:`\\tau_+/\\Delta`)."""
        return self.kmax + self.offset

    @property
    def bottom(self) -> float:
        """Smallest level in units of the step (:math:`\\tau_-/\\Delta`)."""
        return self.kmin + self.offset

    def indices(self) -> np.ndarray:
        """``k + offset`` for every level, ascending, as float64."""
        return np.arange(self.kmin, self.kmax + 1, dtype=np.float64) + self.offset

    def thresholds(self) -> np.ndarray:
        """Decision thresholds in units of the step, ascending: the midpoints
        of adjacent levels (``n_levels - 1`` of them)."""
        idx = self.indices()
        return 0.5 * (idx[:-1] + idx[1:])


def get_scheme(func: str, scheme, bits) -> Scheme:
    """Validate ``scheme`` and ``bits`` and return the level set."""
    name = check_choice(func, "scheme", scheme, SCHEMES)
    m = check_bits(func, bits, minimum=2 if name == "symmetric" else 1)
    half = 1 << (m - 1)
    if name == "paper":
        return Scheme(name, m, -half, half, 0.0)
    if name == "midrise":
        return Scheme(name, m, -half, half - 1, 0.5)
    if name == "signed":
        return Scheme(name, m, -half, half - 1, 0.0)
    return Scheme(name, m, -(half - 1), half - 1, 0.0)


def level_index(arr: np.ndarray, step, s: Scheme) -> np.ndarray:
    """``k + o`` of the nearest level for each element (float64)."""
    with np.errstate(over="ignore"):  # beyond the range: clipped below
        q = np.divide(arr, step, dtype=np.float64)
    if s.offset:
        q -= s.offset
    np.rint(q, out=q)
    np.clip(q, s.kmin, s.kmax, out=q)
    if s.offset:
        q += s.offset
    return q
