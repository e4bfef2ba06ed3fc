"""The centred Gaussian law, with tail moments accurate to a few ulps."""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from .._core.checks import check_positive_scalar, check_representable
from .._core.distribution import Distribution
from .._core.floats import DEKKER, quotient_residual

__all__ = ["Gaussian"]

_SQRT_HALF_PI = math.sqrt(math.pi / 2.0)

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)

# ---------------------------------------------------------------------------
# Gaussian tail moments, accurate to a few ulps for every threshold
# ---------------------------------------------------------------------------
# 30-point Gauss-Legendre rule on [0, 10] with the normal density folded into
# the weights: _GL_WEIGHTS[i] = w_i * phi(u_i) at the stored (rounded) node
# u_i = _GL_NODES[i], each value correctly rounded from 60-digit mpmath.
# Generated (and re-checked in tests/laws/test_gaussian_tails.py) by
#
#     from mpmath import mp, mpf
#     with mp.workdps(60):
#         for i in range(1, 31):            # Newton on P_30 from Tricomi's guess
#             x = mp.cos(mp.pi * (i - mpf(1) / 4) / (30 + mpf(1) / 2))
#             ...                           # until |dx| < 1e-55
#             u = float(5 * (1 + x))        # the node, rounded once
#             w = 10 / ((1 - x * x) * dP30(x) ** 2)
#             weight = float(w * mp.npdf(mpf(u)))
#
# (nodes in increasing order).
_GL_NODES = np.array(
    """
    0.015532579626752299 0.08165938360126394 0.19989067515846243
    0.36899976285362834 0.5871973210397365 0.852171188086158
    1.161112839475869 1.510747526033421 1.8973690850537857
    2.3168792592899004 2.764831152309554 3.2364763723456096
    3.726815369160551 4.230650431957082 4.7426407872234115
    5.2573592127765885 5.769349568042918 6.27318463083945
    6.763523627654391 7.235168847690446 7.683120740710099
    8.102630914946214 8.489252473966578 8.83888716052413
    9.147828811913842 9.412802678960263 9.631000237146372
    9.800109324841538 9.918340616398735 9.984467420373248
    """.split(),
    dtype=np.float64,
)

_GL_WEIGHTS = np.array(
    """
    0.015892327210241624 0.03671266590380983 0.056281478822925446
    0.0722995860058347 0.08126001444170232 0.07976361361592064
    0.06706565571953502 0.046996932839779106 0.02662699689971871
    0.011837710154689415 0.004020769021963793 0.0010215198534841176
    0.00019147827665418944 2.635594069720917e-05 2.6784311986114506e-06
    2.0426014472614025e-07 1.2012566396125692e-08 5.659120140545474e-10
    2.2405828616510938e-11 7.890311673068018e-13 2.6340401007613513e-14
    8.928270307925787e-16 3.299427283985343e-17 1.427003605825435e-18
    7.727040207963015e-20 5.563119168962689e-21 5.584153188258115e-22
    8.012270022845502e-23 1.6022638114649377e-23 3.5803092397585385e-24
    """.split(),
    dtype=np.float64,
)

# column k holds w_i phi(u_i) u_i^k, k = 0..3
_GL_MATRIX = np.stack([_GL_WEIGHTS * _GL_NODES**k for k in range(4)], axis=1)

# log(sqrt(2 pi)) as an unevaluated sum hi + lo (60-digit mpmath)
_LN_SQRT_2PI_HI = 0.9189385332046728

_LN_SQRT_2PI_LO = -3.8782941580672414e-17

# below this z the quadrature, from it on the continued fraction (both reach
# ~1e-19 relative at the switch, see _gaussian_tail_moments)
_TAIL_QUAD_MAX = 5.0

_TAIL_CF_TERMS = 32

_TAIL_CHUNK = 4096  # rows of the (rows, 30) exponential table per block

_FLOAT_MAX = float(np.finfo(np.float64).max)

# Fourier terms of the lattice hook: at Delta = 6 sigma (beyond, the terms
# cancel by more than MAX_CANCELLATION) the 13th is e^-93 of the first
_LATTICE_TERMS = 12

_MOMENT_HINT = "use std, or a law of another scale"


def _exp_half_square(z, e, c: float = 0.0):
    r"""Accurate :math:`e^{-(z+e)^2/2 - c}` as ``g * (1 + lo)``.

    The product :math:`z^2 = s + s_e` is split exactly (Dekker's square, as
    in :func:`two_product`) and the rounding error of :math:`-s/2 - c` is
    recovered by Knuth's TwoSum (Knuth, TAOCP vol. 2, 4.2.2), so that

    .. math::

        e^{-(z+e)^2/2 - c} = e^{x}\,(1 + \ell) + O(\ell^2), \qquad
        x = \mathrm{fl}(-s/2 - c), \quad
        \ell = (-s/2 - c - x) - s_e/2 - z e .

    ``g = exp(x)`` is then as accurate as :func:`numpy.exp` (about one ulp):
    rounding :math:`z^2` alone would cost :math:`z^2/2` ulps (about 700 at
    z = 37), because :math:`e^{-z^2/2}` has condition number :math:`z^2`.

    Parameters
    ----------
    z : ndarray
        Arguments, ``|z| <= 40`` (beyond, the result underflows anyway).
    e : ndarray or float
        First-order correction to ``z`` (see :func:`quotient_residual`).
    c : float
        A constant subtracted in the exponent (``0`` or the high part of
        :math:`\log\sqrt{2\pi}`).

    Returns
    -------
    g : ndarray
        :math:`e^{x}`.
    lo : ndarray
        The relative correction :math:`\ell` (of order ``z**2 * eps``).
    """
    cz = DEKKER * z
    zh = cz - (cz - z)
    zl = z - zh
    sq = z * z
    sq_err = ((zh * zh - sq) + 2.0 * zh * zl) + zl * zl
    a = -0.5 * sq
    if c:
        x = a - c
        bv = x - a
        lo = (a - (x - bv)) + (-c - bv)  # TwoSum: a - c = x + lo exactly
    else:
        x, lo = a, 0.0
    return np.exp(x), lo - (0.5 * sq_err + z * e)


def _gaussian_tail_moments(z, e):
    r"""Upper tail moments of :math:`\mathcal N(0,1)` at ``z + e``.

    Returns :math:`T_k(z) = E[(Z-z)^k; Z>z] = \int_z^\infty (t-z)^k
    \varphi(t)\,dt` for k = 0, 1, 2, where ``z`` is a float64 array and ``e``
    a tiny correction (the rounding error of ``z``, see
    :func:`quotient_residual`) applied to first order. Every route sums
    positive terms only, so the relative error is a few ulps for every
    ``z`` up to the underflow of :math:`\varphi` (|z| ~ 38); see
    ``tests/laws/test_gaussian_tails.py`` for the measured bound.

    Write :math:`T_k = \varphi(z)\,k!\,J_k(z)` with

    .. math::

        J_k(z) = \frac{1}{k!}\int_0^\infty u^k e^{-zu-u^2/2}\,du ,

    i.e. :math:`T_k/k! = I_k` are the repeated integrals of the normal
    tail, :math:`I_k(z) = 2^{k/2-1}\,\mathrm{i}^k\operatorname{erfc}(z/\sqrt2)`
    (Abramowitz & Stegun 7.2.1-7.2.5). They satisfy
    :math:`I_{k-2} = z I_{k-1} + k I_k` (A&S 7.2.5, with
    :math:`I_{-1}=\varphi`), and :math:`J_k' = -(k+1)J_{k+1}`.

    * ``z <= 0``: :math:`T_0 = Q(z)` (``ndtr``, at least 1/2),
      :math:`T_1 = \varphi + |z|Q`, :math:`T_2 = (1+z^2)Q + |z|\varphi`:
      the upward recurrence, every term positive.
    * ``0 < z < 5``: :math:`e^{z^2/2}T_k = \int_0^{10} u^k e^{-zu}
      \varphi(u)\,du` by a 30-point Gauss-Legendre rule with positive
      weights (the integrand is entire; rule error < 2e-19 relative
      for z < 5, truncation at 10 below 1e-21).
    * ``z >= 5``: the downward recurrence, which is the stable direction for
      z > 0: the ratios :math:`r_k = I_k/I_{k-1}` obey
      :math:`r_{k-1} = 1/(z + k\,r_k)`, so :math:`R(z) = Q/\varphi = r_0`
      is the Laplace continued fraction of the Mills ratio
      :math:`1/(z+1/(z+2/(z+3/\cdots)))` (A&S 26.2.14; Gautschi, SIAM Rev.
      9, 1967, on the minimal solution). Started 32 terms down at the fixed
      point :math:`r = 2/(z+\sqrt{z^2+4(N+1)})` of the tail, its truncation
      error is < 1e-19 for z >= 5; each step contracts the rounding errors.
      Then :math:`T_0=\varphi r_0`, :math:`T_1=\varphi r_0 r_1`,
      :math:`T_2=2\varphi r_0 r_1 r_2`.

    For z > 0, :math:`\varphi(z)` comes from :func:`_exp_half_square`
    (exact :math:`z^2`; rounding it would cost :math:`z^2/2` ulps, ~700 at
    z = 37), with :math:`1/\sqrt{2\pi}` folded into the quadrature weights
    or, on the continued-fraction route, into the exponent as a
    double-double :math:`\log\sqrt{2\pi}`. The correction ``e`` enters
    through :math:`J_k' = -(k+1)J_{k+1}` and :math:`\varphi' = -z\varphi`.

    Parameters
    ----------
    z : ndarray
        Standardised thresholds (any shape; NaN propagates).
    e : ndarray or float
        First-order correction to ``z`` (``0`` when ``z`` is exact).

    Returns
    -------
    tuple of ndarray
        ``(T0, T1, T2)``, each of the shape of ``z``.
    """
    z = np.asarray(z, dtype=np.float64)
    shape = z.shape
    z = z.ravel()
    e = np.broadcast_to(np.asarray(e, dtype=np.float64), shape).ravel()
    out = [np.empty(z.shape) for _ in range(3)]
    neg = np.flatnonzero(z <= 0.0)
    mid = np.flatnonzero((z > 0.0) & (z < _TAIL_QUAD_MAX))
    far = np.flatnonzero(z >= _TAIL_QUAD_MAX)
    if neg.size + mid.size + far.size < z.size:  # NaN thresholds
        for o in out:
            o[np.isnan(z)] = np.nan
    with np.errstate(over="ignore", under="ignore"):
        if neg.size:
            zn, en = z[neg], e[neg]
            # phi's relative error z^2/2 ulps costs at most 0.1 ulp here
            # (phi <= T1 * 0.22 / z^2 is a minor term), so no splitting
            zc = np.maximum(zn, -40.0)  # zc * phi -> 0 at z = -inf
            ph = np.exp(-0.5 * zc * zc) * _INV_SQRT_2PI
            q = special.ndtr(-zn)
            t1 = ph - zn * q
            t2 = (1.0 + zn * zn) * q - zc * ph
            # T0' = -phi, T1' = -T0, T2' = -2 T1
            out[0][neg] = q - en * ph
            out[1][neg] = t1 - en * q
            out[2][neg] = t2 - 2.0 * en * np.minimum(t1, _FLOAT_MAX)  # inf at -inf

        for start in range(0, mid.size, _TAIL_CHUNK):
            idx = mid[start : start + _TAIL_CHUNK]
            zm, em = z[idx], e[idx]
            g, lo = _exp_half_square(zm, em)
            # s[:, k] = sum_i w_i phi(u_i) u_i^k exp(-z u_i) = k! J_k(z)/sqrt(2 pi)
            s = np.exp(np.multiply.outer(zm, -_GL_NODES)) @ _GL_MATRIX
            for k in range(3):
                # d/dz s_k = -s_{k+1}
                out[k][idx] = g * s[:, k] + g * (lo * s[:, k] - em * s[:, k + 1])

        if far.size:
            zf, ef = z[far], e[far]
            n = _TAIL_CF_TERMS
            r = 2.0 / (zf + np.sqrt(zf * zf + 4.0 * (n + 1)))  # 0 at z = inf
            for k in range(n, 3, -1):
                np.multiply(r, k, out=r)
                np.add(r, zf, out=r)
                np.divide(1.0, r, out=r)
            r3 = r
            r2 = 1.0 / (zf + 3.0 * r3)
            r1 = 1.0 / (zf + 2.0 * r2)
            d0 = zf + r1  # r0 = 1/d0
            g, lo = _exp_half_square(np.minimum(zf, 40.0), ef, _LN_SQRT_2PI_HI)
            lo -= _LN_SQRT_2PI_LO
            # relative first-order corrections: J_k' / J_k = -(k+1) r_{k+1}
            out[0][far] = (g + g * (lo - ef * r1)) / d0
            out[1][far] = (g + g * (lo - 2.0 * ef * r2)) * r1 / d0
            out[2][far] = (g + g * (lo - 3.0 * ef * r3)) * (2.0 * r1 * r2) / d0
    return tuple(o.reshape(shape) for o in out)


# ---------------------------------------------------------------------------
# Gaussian
# ---------------------------------------------------------------------------
class Gaussian(Distribution):
    r"""Centred Gaussian law :math:`\mathcal{N}(0, \sigma^2)`.

    .. math::

        f(x) = \frac{1}{\sigma\sqrt{2\pi}} e^{-x^2/(2\sigma^2)}, \qquad
        \kappa = 3

    Tail moments (``_gaussian_tail_moments`` in this module) keep a few
    ulps of relative accuracy for every threshold up to the underflow of the
    density: with :math:`z=\tau/\sigma`,
    :math:`E[(X-\tau)^k;X>\tau] = \sigma^k\,k!\,\varphi(z)\,J_k(z)`,
    :math:`J_k(z)=\frac{1}{k!}\int_0^\infty u^k e^{-zu-u^2/2}du`
    (repeated integrals of the normal tail), evaluated by sums of positive
    terms only: the upward recurrence for :math:`z\le 0`, a Gauss-Legendre
    rule for :math:`0<z<5` and the continued fraction of the Mills ratio
    :math:`R(z)=J_0(z)` beyond.

    Parameters
    ----------
    sigma : float
        Standard deviation, ``> 0``.

    Examples
    --------
    >>> import quanttheory as qt
    >>> g = qt.Gaussian(2.0)
    >>> g.variance, g.kurtosis
    (4.0, 3.0)
    >>> round(g.cdf(0.0), 12)
    0.5
    """

    name = "gaussian"
    _symmetric = True
    mean = 0.0
    kurtosis = 3.0

    def __init__(self, sigma: float = 1.0):
        self.sigma = check_positive_scalar("Gaussian", "sigma", sigma)
        self._scale = self.sigma

    def __repr__(self):
        return f"Gaussian(sigma={self.sigma!r})"

    def _key(self):
        return ("sigma", self.sigma)

    def _standardized(self):
        return (self if self.sigma == 1.0 else Gaussian(1.0)), self.sigma

    @classmethod
    def with_variance(cls, variance: float) -> Gaussian:
        """The member with the given variance.

        Parameters
        ----------
        variance : float
            The variance :math:`\\sigma^2`, ``> 0``.

        Returns
        -------
        Gaussian
            The law with ``sigma = sqrt(variance)``.
        """
        v = check_positive_scalar("Gaussian.with_variance", "variance", variance)
        return cls(math.sqrt(v))

    @property
    def variance(self) -> float:
        """Variance :math:`\\sigma^2`.

        Raises :class:`~quanttheory.InvalidArgument` where :math:`\\sigma^2`
        is not a normal float64 (:math:`\\sigma` above about 1.3e154 or below
        1.5e-154); ``std`` and every MSE function still work there, in the
        law's scaled coordinates.
        """
        return check_representable(
            "Gaussian.variance",
            f"sigma**2 for sigma={self.sigma!r}",
            self.sigma * self.sigma,
            positive=True,
            hint=_MOMENT_HINT,
        )

    def _pdf(self, x):
        z = x / self.sigma
        return np.exp(-0.5 * z * z) * (_INV_SQRT_2PI / self.sigma)

    def _dpdf(self, x):
        z = x / self.sigma
        return -z * np.exp(-0.5 * z * z) * (_INV_SQRT_2PI / self.sigma**2)

    def _cdf(self, x):
        return special.ndtr(x / self.sigma)

    def _sf(self, x):
        return special.ndtr(-x / self.sigma)

    def _upper_tail(self, tau):
        s = self.sigma
        tau = np.asarray(tau, dtype=np.float64)
        with np.errstate(over="ignore", under="ignore"):
            z = tau / s
        t0, t1, t2 = _gaussian_tail_moments(z, quotient_residual(tau, s, z))
        return t0, t1 * s, t2 * (s * s)

    def _sample(self, n, rng):
        return rng.normal(0.0, self.sigma, size=n)

    # -- series hooks (quanttheory._laws.series) ---------------------------
    def _pdf_derivatives(self, x, kmax: int):
        r""":math:`f^{(k)}(x) = (-1)^k He_k(z)\varphi(z)/\sigma^{k+1}`.

        By the recurrence :math:`He_{k+1} = z He_k - k He_{k-1}` applied to
        :math:`f^{(k)}` directly, so that no :math:`He_k` overflows where
        :math:`\varphi` underflows.
        """
        s = self.sigma
        z = x / s
        out = np.empty((kmax + 1, *np.shape(x)))
        out[0] = self._pdf(x)
        if kmax >= 1:
            out[1] = -z / s * out[0]
        for k in range(1, kmax):
            out[k + 1] = -(z * out[k] + k / s * out[k - 1]) / s
        return out

    def _derivative_l1(self, k: int) -> float:
        r""":math:`\int|f^{(k)}| \le \sqrt{k!}/\sigma^k` (Cauchy-Schwarz on
        :math:`He_k`, :math:`\int He_k^2\varphi = k!`)."""
        return math.exp(0.5 * math.lgamma(k + 1.0) - k * math.log(self.sigma))

    def _derivative_moment_l1(self, k: int, p: int) -> float:
        r""":math:`\int|x^p f^{(k)}| \le \sigma^{p-k}\sqrt{E[z^{2p}He_k(z)^2]}`.

        Cauchy-Schwarz as in :meth:`_derivative_l1`, with
        :math:`zHe_k = He_{k+1}+kHe_{k-1}` and
        :math:`z^2He_k = He_{k+2}+(2k+1)He_k+k(k-1)He_{k-2}`, so that
        :math:`E[z^2He_k^2] = k!\,(2k+1)` and
        :math:`E[z^4He_k^2] = 3\,k!\,(2k^2+2k+1)`.
        """
        c = (2.0 * k + 1.0) if p == 1 else 3.0 * (2.0 * k * k + 2.0 * k + 1.0)
        return math.exp(
            0.5 * (math.lgamma(k + 1.0) + math.log(c)) + (p - k) * math.log(self.sigma)
        )

    # -- lattice hook (quanttheory._laws.lattice) --------------------------
    def _lattice_mse(self, d, offset: float, top: float, bottom: float):
        r"""The infinite lattice's MSE by its Fourier series (Poisson).

        .. math::

            D_\infty = \frac{\Delta^2}{12} + \frac{\Delta^2}{\pi^2}
            \sum_{k=1}^{K} \frac{(-1)^k\cos(2\pi ko)}{k^2}
            e^{-2\pi^2k^2\sigma^2/\Delta^2},

        :math:`K` = :data:`_LATTICE_TERMS`, summed from the smallest term.
        The rest of the series is below
        :math:`\frac{\Delta^2}{\pi^2(K+1)^2}q^{(K+1)^2}/(1-q^{2K+3})`,
        :math:`q = e^{-2\pi^2\sigma^2/\Delta^2}`. The clipping is bounded
        by :math:`T_2^+(\tau) \le \sigma^2\varphi(z)(2/z^3 + 3/z^5)`,
        :math:`z = \tau/\sigma > 0`, from
        :math:`T_2^+ = \sigma^2((1+z^2)Q(z) - z\varphi(z))` and
        :math:`Q(z) \le \varphi(z)(1/z - 1/z^3 + 3/z^5)` (A&S 26.2.12).
        Returns ``(value, magnitude, bound)`` (see
        :mod:`quanttheory._laws.lattice`).
        """
        d = np.asarray(d, dtype=np.float64)
        s = self.sigma
        r = 2.0 * math.pi**2 * s * s / (d * d)
        g = d * d / math.pi**2
        acc = np.zeros(d.shape)
        mag = np.zeros(d.shape)
        for k in range(_LATTICE_TERMS, 0, -1):
            c = (-1.0) ** k * math.cos(2.0 * math.pi * k * offset) / (k * k)
            t = g * (c * np.exp(-r * (k * k)))
            acc += t
            mag += np.abs(t)
        k1 = _LATTICE_TERMS + 1.0
        bound = g / (k1 * k1) * np.exp(-r * k1 * k1) / -np.expm1(-r * (2.0 * k1 + 1.0))
        for z in (top * d / s, -bottom * d / s):
            with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
                zc = np.minimum(z, 40.0)
                tail = (
                    (s * s * _INV_SQRT_2PI)
                    * np.exp(-0.5 * zc * zc)
                    * (2.0 / zc**3 + 3.0 / zc**5)
                )
            bound = bound + np.where(z > 0, tail, np.inf)
        base = d * d / 12.0
        return base + acc, base + mag, bound
