r"""Symbolic derivations of the KURE lemmas and their neighbours (sympy).

Every result is derived by sympy from its integrals at the first call (and
cached), never typed in; each function returns sympy expressions in the
shared :func:`symbols` (:math:`a, \Delta > 0`, :math:`M` a positive integer,
:math:`\varepsilon` real), or a small frozen dataclass holding expressions,
their domains and a statement in words. Render any of them with
``sympy.latex``.

Importing this module imports sympy; ``import quanttheory`` alone does not.

Uniform law (the seed's Lemmas 1-3)
    :func:`uniform_mse`, :func:`uniform_exact_mse`,
    :func:`uniform_optimal_steps`, :func:`uniform_curvature`,
    :func:`uniform_sensitivity`.
Lemma 1 for any expression
    :func:`second_order_expansion`.
Gaussian and Laplace laws
    :func:`gaussian_additive_mse`, :func:`gaussian_exact_mse`,
    :func:`laplace_additive_mse`, :func:`laplace_exact_mse`.

References
----------
.. [1] M. Shkolnik et al., "Robust Quantization: One Model to Rule Them All",
   NeurIPS 2020, arXiv:2002.07686, supplementary material, Lemmas 1-3.

Examples
--------
>>> import sympy
>>> from quanttheory import symbolic
>>> sympy.latex(symbolic.uniform_optimal_steps().minimiser.step)
'\\frac{2 a}{2^{M} + 1}'
"""

from ._families import (
    gaussian_additive_mse,
    gaussian_exact_mse,
    laplace_additive_mse,
    laplace_exact_mse,
)
from ._symbols import Step, Symbols, symbols
from ._taylor import SecondOrderExpansion, second_order_expansion
from ._uniform import (
    StationaryPoint,
    UniformCurvature,
    UniformExactMSE,
    UniformMSE,
    UniformOptimalSteps,
    UniformSensitivity,
    uniform_curvature,
    uniform_exact_mse,
    uniform_mse,
    uniform_optimal_steps,
    uniform_sensitivity,
)

__all__ = [
    "SecondOrderExpansion",
    "StationaryPoint",
    "Step",
    "Symbols",
    "UniformCurvature",
    "UniformExactMSE",
    "UniformMSE",
    "UniformOptimalSteps",
    "UniformSensitivity",
    "gaussian_additive_mse",
    "gaussian_exact_mse",
    "laplace_additive_mse",
    "laplace_exact_mse",
    "second_order_expansion",
    "symbols",
    "uniform_curvature",
    "uniform_exact_mse",
    "uniform_mse",
    "uniform_optimal_steps",
    "uniform_sensitivity",
]
