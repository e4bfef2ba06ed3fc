"""Quadrature rules."""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["gauss_legendre"]


@functools.cache
def gauss_legendre(n: int):
    """Gauss-Legendre nodes and weights on [0, 1]."""
    x, w = np.polynomial.legendre.leggauss(n)
    return 0.5 * (x + 1.0), 0.5 * w
