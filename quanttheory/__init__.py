"""quanttheory: the analytical theory of uniform quantization, proven numerically.

Exact MSE(X, step) for the uniform, Gaussian, Laplace and any scipy.stats law
and for real tensors, its analytic step derivatives, the global optimal step,
the second-order sensitivity of the KURE paper's Lemma 1, and Monte Carlo
checks of all of it against a vectorised quantizer.
"""

from ._distributions import (
    Distribution,
    Empirical,
    Gaussian,
    Laplace,
    Uniform,
    from_scipy,
)
from ._montecarlo import MonteCarloResult, monte_carlo_mse
from ._mse import mse, mse_derivative
from ._optimal import optimal_step
from ._quantizer import SCHEMES, clipping_level, levels, quantize
from ._sensitivity import sensitivity, sqnr_db
from ._validation import MODELS, InvalidArgument, QuantTheoryError

__version__ = "0.1.0"

__all__ = [
    "MODELS",
    "SCHEMES",
    "Distribution",
    "Empirical",
    "Gaussian",
    "InvalidArgument",
    "Laplace",
    "MonteCarloResult",
    "QuantTheoryError",
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
]
