"""Monte Carlo estimate of the quantization MSE with a vectorised quantizer."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import numpy as np
from scipy import special

from ._core.checks import check_positive_int, check_positive_scalar
from ._core.distribution import check_distribution
from ._core.errors import InvalidArgument
from ._core.quantizer import quantize_unchecked
from ._core.scheme import get_scheme

__all__ = ["MonteCarloResult", "monte_carlo_mse"]


@dataclass(frozen=True)
class MonteCarloResult:
    r"""A Monte Carlo estimate of :math:`E[(X-Q(X))^2]`.

    Returned by :func:`monte_carlo_mse`; the constructor parameters are also
    the attributes.

    Parameters
    ----------
    mean : float
        Sample mean of the squared error.
    stderr : float
        Standard error of the mean, :math:`s/\sqrt n`.
    n : int
        Number of samples.
    std : float
        Sample standard deviation of the squared error.

    Examples
    --------
    >>> import quanttheory as qt
    >>> r = qt.monte_carlo_mse(qt.Gaussian(), 0.3, 4, n=100_000, rng=1)
    >>> r.n, bool(abs(r.mean - qt.mse(qt.Gaussian(), 0.3, 4)) < 5 * r.stderr)
    (100000, True)
    """

    mean: float
    stderr: float
    n: int
    std: float

    def ci(self, level: float = 0.95) -> tuple[float, float]:
        r"""Normal-approximation confidence interval :math:`m \pm z\,s/\sqrt n`.

        Parameters
        ----------
        level : float
            Confidence level in (0, 1).

        Returns
        -------
        tuple of float
            ``(low, high)``, the interval's ends.

        Notes
        -----
        The squared error of a heavy-tailed law has a heavy tail itself (its
        variance needs a finite 4th moment of X); then the interval is
        optimistic, and for Student-t with 3 degrees of freedom it is not
        valid at all.

        Examples
        --------
        >>> from quanttheory import MonteCarloResult
        >>> lo, hi = MonteCarloResult(mean=1.0, stderr=0.1, n=100, std=1.0).ci(0.95)
        >>> round(lo, 6), round(hi, 6)     # 1 -/+ 1.959964 * 0.1
        (0.804004, 1.195996)
        """
        if not (0.0 < level < 1.0):
            raise InvalidArgument(
                f"MonteCarloResult.ci: level={level!r} must lie in (0, 1)"
            )
        z = float(special.ndtri(0.5 + level / 2.0))
        return (self.mean - z * self.stderr, self.mean + z * self.stderr)


def monte_carlo_mse(
    dist,
    step,
    bits,
    *,
    scheme="paper",
    n=1_000_000,
    rng=None,
    chunk=1 << 20,
    progress=False,
) -> MonteCarloResult:
    r"""Estimate the MSE by sampling and quantizing.

    .. math::

        \widehat{\mathrm{MSE}} = \frac1n\sum_{i=1}^n (X_i - Q_\Delta(X_i))^2,
        \qquad X_i \sim \text{dist}

    Samples are drawn and quantized in chunks, and the running mean and sum
    of squared deviations are merged with Chan's parallel formula, so memory
    is bounded by ``chunk`` whatever ``n`` is (``n = 10**9`` works).

    Parameters
    ----------
    dist : Distribution
        The law of :math:`X` (it provides the sampler).
    step : float
        Quantization step :math:`\Delta > 0`.
    bits : int
        Bit-width :math:`M \ge 1`.
    scheme : {'paper', 'midrise', 'signed', 'symmetric'}
        Level set (see :data:`quanttheory.SCHEMES`).
    n : int
        Number of samples.
    rng : None, int or numpy.random.Generator
        Seed or generator (:func:`numpy.random.default_rng`); global state is
        never used.
    chunk : int
        Samples per chunk.
    progress : bool
        Print a progress line to standard error.

    Returns
    -------
    MonteCarloResult
        The sample mean of the squared error, its standard error, the
        sample count and the standard deviation.

    See Also
    --------
    mse

    Examples
    --------
    >>> import quanttheory as qt
    >>> r = qt.monte_carlo_mse(qt.Uniform(1.0), 2 / 17, 4, n=200_000, rng=0)
    >>> abs(r.mean - (2 / 17) ** 2 / 12) < 4 * r.stderr
    True
    """
    dist = check_distribution("monte_carlo_mse", dist)
    s = get_scheme("monte_carlo_mse", scheme, bits)
    d = check_positive_scalar("monte_carlo_mse", "step", step)
    n = check_positive_int("monte_carlo_mse", "n", n, minimum=2)
    chunk = check_positive_int("monte_carlo_mse", "chunk", chunk)
    gen = np.random.default_rng(rng)
    count = 0
    mean = 0.0
    m2 = 0.0
    step = np.float64(d)
    done_pct = -1
    while count < n:
        k = min(chunk, n - count)
        x = dist._sample(k, gen)
        e = x - quantize_unchecked(x, step, s)
        e *= e
        cm = float(e.mean())
        cm2 = float(((e - cm) ** 2).sum())
        tot = count + k
        delta = cm - mean
        mean += delta * k / tot
        m2 += cm2 + delta * delta * count * k / tot
        count = tot
        if progress:
            pct = int(100 * count / n)
            if pct != done_pct:
                done_pct = pct
                print(
                    f"\rmonte_carlo_mse: {pct:3d}% ({count}/{n})",
                    end="",
                    file=sys.stderr,
                    flush=True,
                )
    if progress:
        print(file=sys.stderr)
    std = math.sqrt(m2 / (n - 1))
    return MonteCarloResult(mean=mean, stderr=std / math.sqrt(n), n=n, std=std)
