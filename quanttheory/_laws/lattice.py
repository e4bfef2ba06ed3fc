r"""The exact MSE of coarse steps by Poisson summation over the level lattice.

Where the Euler-Maclaurin series (:mod:`.series`) stops converging, the cell
is about as wide as the law and the sawtooth's Fourier series converges
instead. For the infinite lattice of levels :math:`(k+o)\Delta`,
:math:`k\in\mathbb Z`, the error :math:`e_\infty(x)` has

.. math::

    e_\infty(x)^2 = \Delta^2\Big(\frac1{12} + \sum_{k\ge1}
    \frac{(-1)^k}{\pi^2k^2}\cos\big(2\pi k(x/\Delta - o)\big)\Big),

so with :math:`\varphi_X` the characteristic function (Poisson summation)

.. math::

    D_\infty(\Delta) = E[e_\infty(X)^2] = \frac{\Delta^2}{12}
    + \frac{\Delta^2}{\pi^2}\sum_{k\ge1}\frac{(-1)^k}{k^2}
    \operatorname{Re}\big(e^{-2\pi iko}\varphi_X(2\pi k/\Delta)\big),

which for a law with a smooth density converges the faster the coarser the
step. The quantizer saturates beyond its outer levels :math:`\tau_\pm`; for
:math:`x > \tau_+ + \Delta/2` its error :math:`x - \tau_+` is at least
:math:`|e_\infty(x)|`, hence the rigorous bracket

.. math::

    0 \le D(\Delta) - D_\infty(\Delta) \le T_2^+(\tau_+) + T_2^-(\tau_-),

with the closed-form tail moments of the family. A step takes this route
when that bracket plus the family's bound of the truncated Fourier series
is below :data:`~quanttheory._laws.series.TRUNCATION_RTOL` of the result,
and the sum of the magnitudes of the terms is at most
:data:`~quanttheory._laws.series.MAX_CANCELLATION` times it: the value is
then exact up to rounding, at :math:`O(1)` array operations per step and
none per cell.

Family hook (on the unit-scale member, as for the series):
``_lattice_mse(step, offset, top, bottom)`` returns ``(value, magnitude,
bound)``: :math:`D_\infty`, the sum of the absolute values of the terms
that make it, and an upper bound of :math:`|D - D_\infty|`: the truncation
of the Fourier series (0 for a closed form) plus an upper bound of
:math:`T_2^+(\tau_+) + T_2^-(\tau_-)` at the outer levels
:math:`\tau_+ = ` ``top`` :math:`\Delta`, :math:`\tau_- =` ``bottom``
:math:`\Delta` (a cheap bound, so that the fine steps that the series
takes cost no tail moments here).
:class:`~quanttheory.Gaussian` sums the Fourier series
(:math:`\varphi(\omega) = e^{-\sigma^2\omega^2/2}`);
:class:`~quanttheory.Laplace` has it in closed form (the geometric sum of
its exponential cells).

Examples
--------
>>> import numpy as np
>>> import quanttheory as qt
>>> from quanttheory._core.scheme import get_scheme
>>> from quanttheory._laws.lattice import lattice_mse
>>> value, ok = lattice_mse(qt.Gaussian(), np.array([0.03, 1.5]),
...                         get_scheme("mse", "paper", 8))
>>> ok.tolist()  # the fine step is the Euler-Maclaurin series' job
[False, True]
>>> bool(value[1] == qt.mse(qt.Gaussian(), 1.5, 8))
True
"""

from __future__ import annotations

import numpy as np

from .._core.distribution import Distribution
from .._core.scheme import Scheme
from .series import MAX_CANCELLATION, TRUNCATION_RTOL

__all__ = ["lattice_mse"]


def lattice_mse(dist: Distribution, step: np.ndarray, scheme: Scheme):
    r"""The exact MSE by Poisson summation, where its bounds allow.

    Parameters
    ----------
    dist : Distribution
        A family with the hook ``_lattice_mse`` (on its standardised member).
    step : ndarray, shape (S,)
        Positive finite steps.
    scheme : Scheme
        The level set (offset 0 or 1/2).

    Returns
    -------
    value : ndarray, shape (S,)
        The MSE where ``ok``, NaN elsewhere.
    ok : ndarray of bool, shape (S,)
        The steps this route certifies (module docstring).

    ``None`` instead of the pair for a family without the hook.
    """
    if dist._is_empirical:
        return None
    std = dist._standardized()
    unit, scale = (dist, 1.0) if std is None else (std[0], float(std[1]))
    hook = getattr(unit, "_lattice_mse", None)
    if not callable(hook):
        return None
    dd = np.asarray(step, dtype=np.float64) / scale
    with np.errstate(all="ignore"):
        value, magnitude, bound = hook(
            dd, float(scheme.offset), float(scheme.top), float(scheme.bottom)
        )
        ok = (
            np.isfinite(value)
            & (value > 0)
            & (bound <= TRUNCATION_RTOL * value)
            & (magnitude <= MAX_CANCELLATION * value)
        )
        out = np.where(ok, value * (scale * scale), np.nan)
    return out, ok
