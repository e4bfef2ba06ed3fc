"""Shared helpers of the symbolic tests: mpmath evaluation of sympy results."""

from __future__ import annotations

import functools

import mpmath
import sympy

#: Working precision of every symbolic evaluation. The closed forms contain
#: differences such as 2 b^2 - b Delta csch(Delta/(2b)) or sums of erf over
#: neighbouring cells that cancel catastrophically in float64 when the step is
#: small; 40 digits leave > 20 digits after the worst cancellation exercised.
DPS = 40


def evaluate(expr, symbols, values) -> float:
    """``expr`` at ``symbols = values``, through ``lambdify(modules='mpmath')``.

    mpmath (not numpy) because float64 cancellation would spoil the 1e-12
    comparisons against the numeric engine (see :data:`DPS`). Floats are
    converted exactly (``mpf(float)`` keeps every bit), integers stay
    integers so that ``2**(M - 1)`` is exact.
    """
    f = _compile(expr, tuple(symbols))
    args = [v if isinstance(v, int) else mpmath.mpf(v) for v in values]
    with mpmath.workdps(DPS):
        return float(f(*args))


@functools.lru_cache(maxsize=256)
def _compile(expr, symbols):
    return sympy.lambdify(symbols, expr, modules="mpmath")


def rel_err(value: float, reference: float) -> float:
    return abs(value - reference) / abs(reference)
