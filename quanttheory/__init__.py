"""quanttheory: the analytical theory of uniform quantization, proven numerically.

Exact MSE(X, step) for the uniform, Gaussian, Laplace and any scipy.stats law
and for real tensors, its analytic step derivatives, the global optimal step,
the second-order sensitivity of the KURE paper's Lemma 1, and Monte Carlo
checks of all of it against a vectorised quantizer.
"""

from ._core.checks import MODELS
from ._core.distribution import Distribution
from ._core.errors import (
    HeavyTailWarning,
    InvalidArgument,
    QuantTheoryError,
    QuantTheoryWarning,
    TaylorRangeWarning,
)
from ._core.quantizer import clipping_level, levels, quantize
from ._core.scheme import SCHEMES
from ._empirical.empirical import Empirical
from ._laws.gaussian import Gaussian
from ._laws.laplace import Laplace
from ._laws.scipy_law import from_scipy
from ._laws.uniform import Uniform
from ._montecarlo import MonteCarloResult, monte_carlo_mse
from ._mse import mse, mse_derivative
from ._optimal import optimal_step
from ._sensitivity import sensitivity, sqnr_db, taylor_radius

__version__ = "0.1.0"

__all__ = [
    "MODELS",
    "SCHEMES",
    "Distribution",
    "Empirical",
    "Gaussian",
    "HeavyTailWarning",
    "InvalidArgument",
    "Laplace",
    "MonteCarloResult",
    "QuantTheoryError",
    "QuantTheoryWarning",
    "TaylorRangeWarning",
    "Uniform",
    "__version__",
    "clipping_level",
    "from_scipy",
    "levels",
    "monte_carlo_mse",
    "mse",
    "mse_derivative",
    "optimal_step",
    "quantize",
    "sensitivity",
    "sqnr_db",
    "taylor_radius",
]
