"""Every quanttheory call that the benchmarks time, in one place.

After an engine change, re-run ``python -m benchmarks`` (or one section,
``python -m benchmarks --only a``); if a public signature changed, this is
the only file to edit. Baselines come from :mod:`quanttheory.baselines`;
the reference optimum of section (a) comes from :mod:`benchmarks._truth`,
which shares no code with the engine.
"""

from __future__ import annotations

import numpy as np

import quanttheory as qt

SCHEME = "signed"


def optimal_step_empirical(x, bits: int, scheme: str = SCHEME) -> float:
    """(a) The exact optimal step of a raw array: Empirical (copy, moments,
    sort) and the search are both timed, as a user would call it."""
    return qt.optimal_step(qt.Empirical(x), bits, scheme=scheme)


def empirical_mse(x, step: float, bits: int, scheme: str = SCHEME) -> float:
    """(a) cross-check only: quanttheory's own empirical MSE (not timed)."""
    return qt.mse(qt.Empirical(x), step, bits, scheme=scheme)


def gaussian_optimal_step(bits: int, scheme: str = SCHEME) -> float:
    """(b), (c), (d) set-up: the optimal step of N(0, 1) (not timed)."""
    return qt.optimal_step(qt.Gaussian(), bits, scheme=scheme)


def gaussian_mse(steps, bits: int, scheme: str = SCHEME):
    """(b) The analytic exact MSE of N(0, 1), vectorised over steps."""
    return qt.mse(qt.Gaussian(), steps, bits, scheme=scheme)


def quantize(x, step: float, bits: int, scheme: str = SCHEME):
    """(c) The vectorised quantizer (fake quantization in x's dtype)."""
    return qt.quantize(x, step, bits, scheme)


def monte_carlo(step: float, bits: int, n: int, *, progress=False, rng=0):
    """(d) Monte Carlo MSE of N(0, 1): sampling and quantizing in chunks."""
    return qt.monte_carlo_mse(
        qt.Gaussian(), step, bits, scheme=SCHEME, n=n, rng=rng, progress=progress
    )


def analyze_available() -> bool:
    """(e) Whether ``quanttheory.torch.analyze`` can be imported."""
    try:
        from quanttheory.torch import analyze  # noqa: F401
    except ImportError:
        return False
    return True


def analyze(path, bits: int, scheme: str = SCHEME, **kwargs):
    """(e) Per-layer analysis of a checkpoint file with the exact engine
    (``kwargs``: ``per_channel=True``, ``group_size=``)."""
    from quanttheory.torch import analyze as _analyze

    return _analyze(path, bits=bits, scheme=scheme, **kwargs)


# -- issue 11, section 9 (benchmarks/law_routes.py) ---------------------------
_FAMILIES = {"gaussian": qt.Gaussian, "laplace": qt.Laplace, "uniform": qt.Uniform}


def scipy_law(rv):
    """A ``from_scipy`` law (builds its knot table)."""
    return qt.from_scipy(rv)


def scipy_optimal_step(rv, bits: int, scheme: str = "paper") -> float:
    """Cold ``optimal_step(from_scipy(rv), bits)``: wrapping plus search."""
    return qt.optimal_step(qt.from_scipy(rv), bits, scheme=scheme)


def family_optimal_step(family: str, bits: int, scheme: str) -> float:
    """The optimum of a named family's unit member (not timed)."""
    return qt.optimal_step(_FAMILIES[family](), bits, scheme=scheme)


def family_mse(family: str, steps, bits: int, scheme: str):
    """The exact MSE of a named family's unit member, vectorised."""
    return qt.mse(_FAMILIES[family](), steps, bits, scheme=scheme)


def family_cell_sum(family: str, steps, bits: int, scheme: str):
    """The former route of coarse steps: the cell sum over every level."""
    from quanttheory._core.scheme import get_scheme
    from quanttheory._laws.cells import exact_cells

    s = get_scheme("benchmark", scheme, bits)
    return exact_cells(_FAMILIES[family](), np.asarray(steps, float), s, 0)[0]
