r"""Distributions: the named families, any scipy.stats law, and empirical data.

A family is a subclass of :class:`Distribution` that writes only its
formulas (the scipy.stats ``_pdf_formula`` pattern):

* ``_pdf``, ``_cdf``, ``_sf`` and, where known, ``_dpdf`` (the derivative of
  the density at smooth points);
* ``_upper_tail(tau)`` returning the tail moments
  :math:`\left(P[X>\tau],\ E[(X-\tau);X>\tau],\ E[(X-\tau)^2;X>\tau]\right)`
  and ``_lower_tail(tau)`` returning
  :math:`\left(P[X<\tau],\ E[(\tau-X);X<\tau],\ E[(\tau-X)^2;X<\tau]\right)`,
  each in a form without catastrophic cancellation (symmetric families get
  the lower tail for free);
* ``_breakpoints`` and ``_jumps``: where the density is not smooth, and by how
  much it jumps there, so that per-cell Gauss-Legendre never straddles a kink;
* ``_scale``: the length on which the density varies, which sets the panel
  width of the quadrature;
* the moments and ``_sample``.

The MSE engine (:mod:`quanttheory._mse`) needs nothing else.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import integrate, special

from ._validation import (
    InvalidArgument,
    _show,
    check_positive_int,
    check_positive_scalar,
)

__all__ = ["Distribution", "Empirical", "Gaussian", "Laplace", "Uniform", "from_scipy"]

_SQRT2 = math.sqrt(2.0)
_SQRT_HALF_PI = math.sqrt(math.pi / 2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


class Distribution:
    r"""Base class of every distribution that the engine accepts.

    Subclasses write formulas only; this class validates input and exposes the
    public API (``pdf``, ``cdf``, ``sf``, the moments and ``sample``).

    A new family defines ``name``, ``mean``, ``variance``, ``kurtosis``,
    ``_scale``, ``_pdf``, ``_cdf``, ``_sf``, ``_upper_tail`` (and
    ``_lower_tail`` unless ``_symmetric = True``), ``_sample``, and
    optionally ``_dpdf``, ``_breakpoints`` and ``_jumps``; see the module
    docstring of ``quanttheory._distributions`` and
    ``tests/test_custom_family.py`` for a complete example.

    Examples
    --------
    >>> import quanttheory as qt
    >>> g = qt.Gaussian(1.0)
    >>> isinstance(g, qt.Distribution)
    True
    >>> round(g.sf(1.0), 6), round(g.pdf(0.0), 6)
    (0.158655, 0.398942)
    >>> g.sample(3, rng=0).shape
    (3,)
    """

    #: Short family name used in tables and reprs.
    name: str = "distribution"
    _breakpoints: np.ndarray = np.empty(0)
    _jumps: np.ndarray = np.empty(0)
    _symmetric: bool = False
    _is_empirical: bool = False
    _scale: float = 1.0
    #: a central point (median) separating "left" from "right" tails
    _centre: float = 0.0

    # -- public API ---------------------------------------------------------
    def pdf(self, x):
        """Probability density at ``x`` (array_like), float for scalar input."""
        return _result(self._pdf(_as_float_array(f"{self.name}.pdf", x)))

    def cdf(self, x):
        """Cumulative distribution function :math:`P[X \\le x]`."""
        return _result(self._cdf(_as_float_array(f"{self.name}.cdf", x)))

    def sf(self, x):
        """Survival function :math:`P[X > x]`, accurate in the upper tail."""
        return _result(self._sf(_as_float_array(f"{self.name}.sf", x)))

    @property
    def std(self) -> float:
        """Standard deviation."""
        return math.sqrt(self.variance)

    @property
    def second_moment(self) -> float:
        """:math:`E[X^2]`, the signal power used for SQNR."""
        return self.variance + self.mean**2

    def sample(self, n, rng=None) -> np.ndarray:
        """Draw ``n`` independent samples.

        Parameters
        ----------
        n : int
            Number of samples, ``>= 1``.
        rng : None, int or numpy.random.Generator
            Seed or generator, passed to :func:`numpy.random.default_rng`.
            Global random state is never touched.

        Returns
        -------
        ndarray
            float64 array of shape ``(n,)``.
        """
        n = check_positive_int(f"{self.name}.sample", "n", n)
        return self._sample(n, np.random.default_rng(rng))

    # -- hooks with defaults -----------------------------------------------
    _dpdf = None  # derivative of the density; None means "not known"

    def _lower_tail(self, tau):
        if not self._symmetric:  # pragma: no cover - every family defines it
            raise NotImplementedError
        return self._upper_tail(-tau)

    def _key(self):
        """Hashable identity of the standardised family (for caches)."""
        return None

    def _standardized(self):
        """``(unit member, scale)`` for a scale family, else None."""
        return None

    def __eq__(self, other):
        return (
            type(self) is type(other)
            and self._key() is not None
            and self._key() == other._key()
        )

    def __hash__(self):
        return hash((type(self).__name__, self._key()))


def _as_float_array(func: str, x) -> np.ndarray:
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidArgument(f"{func}: x={_show(x)} must be real numbers") from None
    if np.isnan(arr).any():
        raise InvalidArgument(f"{func}: x={_show(x)} contains NaN")
    return arr


def _result(arr):
    arr = np.asarray(arr)
    return float(arr) if arr.ndim == 0 else arr


# ---------------------------------------------------------------------------
# Uniform
# ---------------------------------------------------------------------------
class Uniform(Distribution):
    r"""Uniform law on :math:`[-a, a]`, the seed's :math:`X_U`.

    .. math::

        f(x) = \frac{1}{2a}\,\mathbb{1}[|x| \le a], \qquad
        \operatorname{Var} X = \frac{a^2}{3}, \qquad \kappa = 1.8

    Parameters
    ----------
    a : float
        Half-width, ``> 0``.

    Notes
    -----
    The density jumps at :math:`\pm a`, so the MSE is not twice differentiable
    in the step where a decision threshold crosses :math:`\pm a`; the engine
    then returns one-sided second derivatives.

    References
    ----------
    .. [1] M. Shkolnik et al., "Robust Quantization: One Model to Rule Them
       All", NeurIPS 2020, arXiv:2002.07686, Lemma 2.

    Examples
    --------
    >>> import quanttheory as qt
    >>> u = qt.Uniform(1.0)
    >>> u.variance, u.kurtosis
    (0.3333333333333333, 1.8)
    >>> u.pdf([0.0, 2.0]).tolist()
    [0.5, 0.0]
    """

    name = "uniform"
    _symmetric = True

    def __init__(self, a: float = 1.0):
        self.a = check_positive_scalar("Uniform", "a", a)
        self._scale = self.a
        self._breakpoints = np.array([-self.a, self.a])
        self._jumps = np.array([0.5 / self.a, -0.5 / self.a])

    def __repr__(self):
        return f"Uniform(a={self.a!r})"

    def _key(self):
        return ("a", self.a)

    def _standardized(self):
        return (self if self.a == 1.0 else Uniform(1.0)), self.a

    @classmethod
    def with_variance(cls, variance: float) -> Uniform:
        """The member with the given variance, :math:`a = \\sqrt{3 v}`."""
        v = check_positive_scalar("Uniform.with_variance", "variance", variance)
        return cls(math.sqrt(3.0 * v))

    mean = 0.0

    @property
    def variance(self) -> float:
        return self.a**2 / 3.0

    kurtosis = 1.8

    def _pdf(self, x):
        return np.where(np.abs(x) <= self.a, 0.5 / self.a, 0.0)

    def _dpdf(self, x):
        return np.zeros_like(x)

    def _cdf(self, x):
        return np.clip((x + self.a) / (2.0 * self.a), 0.0, 1.0)

    def _sf(self, x):
        return np.clip((self.a - x) / (2.0 * self.a), 0.0, 1.0)

    def _upper_tail(self, tau):
        a = self.a
        tau = np.asarray(tau, dtype=np.float64)
        d = np.clip(a - tau, 0.0, 2.0 * a)  # length of [tau, a] inside the support
        s = d / (2.0 * a)
        t1 = d * d / (4.0 * a)
        t2 = d**3 / (6.0 * a)
        # below the support every point is in the tail: shift by tau+a < 0
        # below the support every point is in the tail:
        # E[X - tau] = -tau and E[(X - tau)^2] = a^2/3 + tau^2.
        below = tau < -a
        t1 = np.where(below, -tau, t1)
        t2 = np.where(below, a * a / 3.0 + tau * tau, t2)
        return s, t1, t2

    def _sample(self, n, rng):
        return rng.uniform(-self.a, self.a, size=n)


# ---------------------------------------------------------------------------
# Gaussian tail moments, accurate to a few ulps for every threshold
# ---------------------------------------------------------------------------
# 30-point Gauss-Legendre rule on [0, 10] with the normal density folded into
# the weights: _GL_WEIGHTS[i] = w_i * phi(u_i) at the stored (rounded) node
# u_i = _GL_NODES[i], each value correctly rounded from 60-digit mpmath.
# Generated (and re-checked in tests/test_gaussian_tails.py) by
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
_DEKKER = 134217729.0  # 2**27 + 1
_FLOAT_MAX = float(np.finfo(np.float64).max)


def _two_product(a, b):
    r"""Error-free product: ``(p, err)`` with ``a*b = p + err`` exactly.

    Dekker's algorithm (T. J. Dekker, "A floating-point technique for
    extending the available precision", Numer. Math. 18, 224-242, 1971),
    without a fused multiply-add: Veltkamp's splitting
    :math:`a = a_h + a_l` into 26-bit halves (:math:`c = (2^{27}+1)a`,
    :math:`a_h = c - (c - a)`) makes every partial product exact, and

    .. math::

        p = \mathrm{fl}(ab), \qquad
        \mathrm{err} = ((a_h b_h - p) + a_h b_l + a_l b_h) + a_l b_l .

    Parameters
    ----------
    a, b : ndarray or float
        Factors, ``|a|, |b| < 1e300`` (the splitting must not overflow) and
        ``|a*b|`` well inside the normal range (no underflow of ``err``).

    Returns
    -------
    p, err : ndarray
        The rounded product and its exact rounding error.
    """
    ca = _DEKKER * a
    ah = ca - (ca - a)
    al = a - ah
    cb = _DEKKER * b
    bh = cb - (cb - b)
    bl = b - bh
    p = a * b
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


def _quotient_residual(num, den: float, q):
    r"""Rounding error of a quotient: ``e`` with ``num/den = q + e``.

    For :math:`q = \mathrm{fl}(n/d)` the remainder :math:`n - qd` is exact
    in floating point (:func:`_two_product` gives :math:`qd = p + p_e`, and
    :math:`n - p` is exact by Sterbenz's lemma), so

    .. math::

        e = \frac{(n - p) - p_e}{d}

    is the error of ``q`` to within a relative :math:`\epsilon` of its own
    (Markstein; Muller et al., *Handbook of Floating-Point Arithmetic*,
    2nd ed. 2018, sec. 4.4).

    Parameters
    ----------
    num : ndarray
        Numerators.
    den : float
        The (positive) divisor.
    q : ndarray
        ``num / den`` as computed.

    Returns
    -------
    ndarray
        ``e``; zero where ``den == 1`` (``q`` exact), where ``den`` lies
        outside ``(1e-150, 1e150)`` or where ``|q| >= 1e100`` (the splitting
        would overflow; such thresholds are far beyond the underflow of the
        Gaussian tail, where the correction is irrelevant).
    """
    if den == 1.0 or not 1e-150 < den < 1e150:
        return np.zeros_like(q)
    ok = np.abs(q) < 1e100
    qq = np.where(ok, q, 0.0)
    p, pe = _two_product(qq, den)
    return np.where(ok, ((np.where(ok, num, 0.0) - p) - pe) / den, 0.0)


def _exp_half_square(z, e, c: float = 0.0):
    r"""Accurate :math:`e^{-(z+e)^2/2 - c}` as ``g * (1 + lo)``.

    The product :math:`z^2 = s + s_e` is split exactly (Dekker's square, as
    in :func:`_two_product`) and the rounding error of :math:`-s/2 - c` is
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
        First-order correction to ``z`` (see :func:`_quotient_residual`).
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
    cz = _DEKKER * z
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
    :func:`_quotient_residual`) applied to first order. Every route sums
    positive terms only, so the relative error is a few ulps for every
    ``z`` up to the underflow of :math:`\varphi` (|z| ~ 38); see
    ``tests/test_gaussian_tails.py`` for the measured bound.

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
        """The member with the given variance."""
        v = check_positive_scalar("Gaussian.with_variance", "variance", variance)
        return cls(math.sqrt(v))

    @property
    def variance(self) -> float:
        return self.sigma**2

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
        t0, t1, t2 = _gaussian_tail_moments(z, _quotient_residual(tau, s, z))
        return t0, t1 * s, t2 * (s * s)

    def _sample(self, n, rng):
        return rng.normal(0.0, self.sigma, size=n)


# ---------------------------------------------------------------------------
# Laplace
# ---------------------------------------------------------------------------
class Laplace(Distribution):
    r"""Centred Laplace law with scale :math:`b`.

    .. math::

        f(x) = \frac{1}{2b} e^{-|x|/b}, \qquad \operatorname{Var} X = 2b^2,
        \qquad \kappa = 6

    For :math:`\tau \ge 0` the tail moments are exact exponentials:
    :math:`E[(X-\tau)^2;X>\tau] = b^2 e^{-\tau/b}`.

    Parameters
    ----------
    b : float
        Scale, ``> 0`` (the standard deviation is :math:`\sqrt2\,b`).

    Examples
    --------
    >>> import quanttheory as qt
    >>> lap = qt.Laplace(1.0)
    >>> lap.variance, lap.kurtosis
    (2.0, 6.0)
    """

    name = "laplace"
    _symmetric = True
    mean = 0.0
    kurtosis = 6.0

    def __init__(self, b: float = 1.0):
        self.b = check_positive_scalar("Laplace", "b", b)
        self._scale = self.b
        self._breakpoints = np.array([0.0])
        self._jumps = np.array([0.0])

    def __repr__(self):
        return f"Laplace(b={self.b!r})"

    def _key(self):
        return ("b", self.b)

    def _standardized(self):
        return (self if self.b == 1.0 else Laplace(1.0)), self.b

    @classmethod
    def with_variance(cls, variance: float) -> Laplace:
        """The member with the given variance, :math:`b = \\sqrt{v/2}`."""
        v = check_positive_scalar("Laplace.with_variance", "variance", variance)
        return cls(math.sqrt(0.5 * v))

    @property
    def variance(self) -> float:
        return 2.0 * self.b**2

    def _pdf(self, x):
        return np.exp(-np.abs(x) / self.b) * (0.5 / self.b)

    def _dpdf(self, x):
        return -np.sign(x) * np.exp(-np.abs(x) / self.b) * (0.5 / self.b**2)

    def _cdf(self, x):
        e = 0.5 * np.exp(-np.abs(x) / self.b)
        return np.where(x < 0, e, 1.0 - e)

    def _sf(self, x):
        return self._cdf(-x)

    def _upper_tail(self, tau):
        b = self.b
        tau = np.asarray(tau, dtype=np.float64)
        e = np.exp(-np.abs(tau) / b)
        pos = tau >= 0
        sf = np.where(pos, 0.5 * e, 1.0 - 0.5 * e)
        # tau < 0: E[X - tau] = -tau and E[(X-tau)^2] = 2b^2 + tau^2, minus the
        # (small, positive) lower-tail parts; no cancellation since -tau > 0.
        t1 = np.where(pos, 0.5 * b * e, -tau + 0.5 * b * e)
        t2 = np.where(pos, b * b * e, 2.0 * b * b + tau * tau - b * b * e)
        return sf, t1, t2

    def _sample(self, n, rng):
        return rng.laplace(0.0, self.b, size=n)


# ---------------------------------------------------------------------------
# Any scipy.stats continuous law
# ---------------------------------------------------------------------------
class _ScipyDistribution(Distribution):
    r"""A frozen continuous scipy.stats distribution (see :func:`from_scipy`)."""

    _N_KNOTS_SIDE = 240  # knots per side: sinh(240/4) ~ 5.7e25 scales
    _KNOT_STEP = 0.25

    def __init__(self, rv, breakpoints=()):
        self.rv = rv
        dist = rv.dist
        self.name = getattr(dist, "name", "scipy")
        lo, hi = (float(v) for v in rv.support())
        self._lo, self._hi = lo, hi
        mean, var = (float(v) for v in rv.stats("mv"))
        if not (math.isfinite(var) and var > 0):
            raise InvalidArgument(
                f"from_scipy: rv={_describe(rv)} has variance {var!r}; the MSE of "
                "a clipping quantizer needs a finite, positive variance"
            )
        self.mean = mean
        self.variance = var
        self._scale = math.sqrt(var)
        self._centre = float(rv.median())
        bps = [float(b) for b in np.atleast_1d(np.asarray(breakpoints, float))]
        if not all(math.isfinite(b) for b in bps):
            raise InvalidArgument(
                f"from_scipy: breakpoints={list(breakpoints)!r} must be finite"
            )
        bps += [v for v in (lo, hi) if math.isfinite(v)]
        bps = np.unique(np.asarray(bps, dtype=np.float64))
        self._breakpoints = bps
        jumps = []
        for e in bps:
            up = float(self._pdf(np.nextafter(e, np.inf) if e < hi else e))
            dn = float(self._pdf(np.nextafter(e, -np.inf) if e > lo else e))
            if e >= hi:
                up = 0.0
            if e <= lo:
                dn = 0.0
            j = up - dn
            jumps.append(j if abs(j) > 1e-9 * max(abs(up), abs(dn), 1e-300) else 0.0)
        self._jumps = np.asarray(jumps, dtype=np.float64)
        self._knots = None

    def __repr__(self):
        args = ", ".join(repr(a) for a in self.rv.args)
        kw = ", ".join(f"{k}={v!r}" for k, v in self.rv.kwds.items())
        inner = ", ".join(p for p in (args, kw) if p)
        return f"from_scipy(scipy.stats.{self.name}({inner}))"

    def _key(self):
        return (self.name, tuple(self.rv.args), tuple(sorted(self.rv.kwds.items())))

    @property
    def kurtosis(self) -> float:
        k = float(self.rv.stats("k"))
        return k + 3.0

    # scipy evaluates e.g. log(0) outside or at the edge of the support and
    # warns, although the value it returns (0 density) is right: silence
    # numpy's floating-point warnings for these calls only.
    def _pdf(self, x):
        with np.errstate(all="ignore"):
            return self.rv.pdf(x)

    def _cdf(self, x):
        with np.errstate(all="ignore"):
            return self.rv.cdf(x)

    def _sf(self, x):
        with np.errstate(all="ignore"):
            return self.rv.sf(x)

    def _sample(self, n, rng):
        return np.asarray(self.rv.rvs(size=n, random_state=rng), dtype=np.float64)

    # -- tail moments through a precomputed table of knots -------------------
    def _build_knots(self):
        """Knots over the support with cumulative tail moments at each knot.

        Knots sit at ``median + scale * sinh(j/4)``: a quarter-scale spacing in
        the body and a constant ratio e^(1/4) in the tails, where a power-law
        density varies on the scale of |x|. Upper tail moments at every knot
        come from a backward recursion over the panels between knots
        (fixed-order Gauss-Legendre, all terms positive, so no cancellation),
        started at the outermost knot with one adaptive quadrature. This runs
        once per distribution, outside the hot path.
        """
        med = float(self.rv.median())
        j = np.arange(-self._N_KNOTS_SIDE, self._N_KNOTS_SIDE + 1)
        k = med + self._scale * np.sinh(self._KNOT_STEP * j)
        k = np.concatenate([k, self._breakpoints])
        k = k[(k >= self._lo) & (k <= self._hi)]
        k = np.unique(k)
        # drop far knots where both tails are exactly zero
        sf = self._sf(k)
        cdf = self._cdf(k)
        keep = (sf > 0) | (cdf < 1) | (k <= med)
        keep &= (cdf > 0) | (sf < 1) | (k >= med)
        k = k[keep]
        n = len(k)
        left, right = k[:-1], k[1:]
        # panel moments about the left end and about the right end
        g_r = _gl_panel_moments(self._pdf, left, right, origin=left)
        g_l = _gl_panel_moments(self._pdf, left, right, origin=right)
        up = np.zeros((3, n))
        lo = np.zeros((3, n))
        up[:, -1] = self._quad_tail(k[-1], +1)
        for i in range(n - 2, -1, -1):
            d = k[i + 1] - k[i]
            u0, u1, u2 = up[:, i + 1]
            up[0, i] = g_r[0][i] + u0
            up[1, i] = g_r[1][i] + u1 + d * u0
            up[2, i] = g_r[2][i] + u2 + 2.0 * d * u1 + d * d * u0
        lo[:, 0] = self._quad_tail(k[0], -1)
        for i in range(1, n):
            d = k[i] - k[i - 1]
            l0, l1, l2 = lo[:, i - 1]
            lo[0, i] = g_l[0][i - 1] + l0
            lo[1, i] = -g_l[1][i - 1] + l1 + d * l0
            lo[2, i] = g_l[2][i - 1] + l2 + 2.0 * d * l1 + d * d * l0
        self._knots = (k, up, lo)

    def _quad_tail(self, t, direction):
        """Tail moments beyond the outermost knot by adaptive quadrature.

        Runs once per distribution (table construction) or for a threshold
        beyond the last knot, never in the per-cell hot path. An infinite
        tail is integrated in ``u = log(x/t)``, where a power-law density
        decays exponentially.
        """
        out = np.zeros(3)
        edge = self._hi if direction > 0 else self._lo
        if t == edge:
            return out
        pdf = self._pdf
        for p in range(3):
            if math.isfinite(edge) or t * direction <= 0:
                a, b = (t, edge) if direction > 0 else (edge, t)
                val, _ = integrate.quad(
                    lambda x, p=p: (direction * (x - t)) ** p * float(pdf(x)),
                    a,
                    b,
                    limit=200,
                    epsabs=0.0,
                    epsrel=1e-13,
                )
            else:
                val, _ = integrate.quad(
                    lambda u, p=p: (
                        (abs(t) * math.expm1(u)) ** p
                        * float(pdf(t * math.exp(u)))
                        * abs(t)
                        * math.exp(u)
                    ),
                    # stop at |x| = 1e150 (x*x must not overflow in the pdf);
                    # a finite-variance tail beyond it is below 1e-150.
                    0.0,
                    max(0.0, math.log(1e150 / abs(t))),
                    limit=200,
                    epsabs=0.0,
                    epsrel=1e-13,
                )
            out[p] = val
        return out

    def _tail(self, tau, direction):
        if self._knots is None:
            self._build_knots()
        k, up, lo = self._knots
        tau = np.asarray(tau, dtype=np.float64)
        shape = tau.shape
        t = tau.ravel()
        res = np.zeros((3, t.size))
        if direction > 0:
            inside = t < k[-1]
            j = np.searchsorted(k, t, side="right")  # first knot > t
            jj = np.clip(j, 0, len(k) - 1)
            nxt = np.where(inside, k[jj], t)
            start = np.maximum(t, self._lo)
            g = _gl_panel_moments(self._pdf, start, np.maximum(nxt, start), origin=t)
            d = nxt - t
            u0, u1, u2 = up[:, jj]
            res[0] = g[0] + u0
            res[1] = g[1] + u1 + d * u0
            res[2] = g[2] + u2 + 2 * d * u1 + d * d * u0
            if (~inside).any():
                for i in np.flatnonzero(~inside):
                    res[:, i] = self._quad_tail(t[i], +1)
            res[0] = self._sf(t)
        else:
            inside = t > k[0]
            j = np.searchsorted(k, t, side="left") - 1  # last knot < t
            jj = np.clip(j, 0, len(k) - 1)
            prv = np.where(inside, k[jj], t)
            stop = np.minimum(t, self._hi)
            g = _gl_panel_moments(self._pdf, np.minimum(prv, stop), stop, origin=t)
            d = t - prv
            l0, l1, l2 = lo[:, jj]
            res[0] = g[0] + l0
            res[1] = -g[1] + l1 + d * l0
            res[2] = g[2] + l2 + 2 * d * l1 + d * d * l0
            if (~inside).any():
                for i in np.flatnonzero(~inside):
                    res[:, i] = self._quad_tail(t[i], -1)
            res[0] = self._cdf(t)
        return tuple(r.reshape(shape) for r in res)

    def _upper_tail(self, tau):
        return self._tail(tau, +1)

    def _lower_tail(self, tau):
        return self._tail(tau, -1)


_GL_PANEL_NODES = 20


def _gl_panel_moments(pdf, a, b, origin):
    r"""Moments :math:`\int_a^b (x-o)^p f(x)\,dx`, p = 0, 1, 2, per panel.

    Fixed-order (20-node) Gauss-Legendre on each panel ``[a, b]``; the panels
    must not contain a kink of ``f``.
    """
    from ._mse import _gauss_legendre

    xi, wi = _gauss_legendre(_GL_PANEL_NODES)
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    w = (b - a)[..., None]
    x = a[..., None] + w * xi
    fx = pdf(x) * (w * wi)
    t = x - np.asarray(origin, dtype=np.float64)[..., None]
    return fx.sum(-1), (fx * t).sum(-1), (fx * t * t).sum(-1)


def _describe(rv) -> str:
    """``scipy.stats.t(2)``-style text for a frozen distribution."""
    dist = getattr(rv, "dist", None)
    name = getattr(dist, "name", type(rv).__name__)
    args = [repr(a) for a in getattr(rv, "args", ())]
    args += [f"{k}={v!r}" for k, v in getattr(rv, "kwds", {}).items()]
    return f"scipy.stats.{name}({', '.join(args)})"


def from_scipy(rv, *, breakpoints=()) -> Distribution:
    r"""Wrap any frozen continuous scipy.stats distribution.

    The engine then integrates the density with fixed-order Gauss-Legendre per
    quantizer cell (panels no wider than a quarter of the standard deviation)
    and gets tail moments from a table of knots built once per distribution
    (quarter-scale spacing in the body, geometric in the tails, so power-law
    tails such as Student-t with 3 degrees of freedom keep full accuracy).

    Parameters
    ----------
    rv : scipy.stats frozen continuous distribution
        For example ``scipy.stats.t(3)`` or ``scipy.stats.lognorm(0.5)``.
        Asymmetric laws are fine. The variance must be finite.
    breakpoints : sequence of float, optional
        Points where the density or its derivative is not smooth (for
        example ``loc`` of ``scipy.stats.laplace``). Finite support edges are
        added automatically. Quadrature panels never straddle a breakpoint.

    Returns
    -------
    Distribution

    Raises
    ------
    InvalidArgument
        If ``rv`` is not a frozen continuous distribution, or its variance is
        infinite.

    Notes
    -----
    The density is assumed smooth on a quarter of the standard deviation
    between breakpoints. Derivatives of the MSE use integration by parts for
    the density's derivative (scipy does not expose it), which costs about
    :math:`(\sigma/\Delta)^2` ulps of relative accuracy in the second
    derivative.

    Examples
    --------
    >>> import scipy.stats as st
    >>> import quanttheory as qt
    >>> t3 = qt.from_scipy(st.t(3))
    >>> round(t3.variance, 12)
    3.0
    >>> g = qt.Gaussian(3**0.5)          # same variance, light tails
    >>> bool(qt.mse(t3, 0.5, 4) > qt.mse(g, 0.5, 4))   # clipping the t3 tail costs more
    True
    """
    dist = getattr(rv, "dist", None)
    try:
        from scipy.stats import rv_continuous
    except ImportError:  # pragma: no cover
        rv_continuous = object
    if not isinstance(dist, rv_continuous) or not hasattr(rv, "pdf"):
        raise InvalidArgument(
            f"from_scipy: rv={rv!r} is not a frozen continuous scipy.stats "
            "distribution; pass e.g. scipy.stats.t(3)"
        )
    return _ScipyDistribution(rv, breakpoints=breakpoints)


# ---------------------------------------------------------------------------
# Empirical
# ---------------------------------------------------------------------------
class Empirical(Distribution):
    r"""The empirical law of a finite array, such as a weight tensor.

    Each sample carries probability :math:`1/N`. The MSE of the exact model is
    :math:`\frac1N\sum_i (x_i - Q_\Delta(x_i))^2`, which is continuous and
    piecewise quadratic in :math:`\Delta`.

    Parameters
    ----------
    samples : array_like, numpy.memmap or dask.array.Array
        Finite real numbers, any shape (flattened). An in-memory array is
        copied in its own floating dtype (float32 stays float32; integers and
        float16 become float64/float32), so later changes to it do not leak
        in. A :class:`numpy.memmap` or a Dask array is kept as it is and read
        chunk by chunk, so data larger than memory works.
    copy : bool
        Copy in-memory input (default). ``copy=False`` keeps a reference (the
        caller must then not modify the array).

    Raises
    ------
    InvalidArgument
        If ``samples`` is empty or contains NaN or infinity.

    Notes
    -----
    Construction costs the copy and one pass for ``n``, ``min`` and ``max``
    (all that :func:`optimal_step` and :func:`mse` need). The moments are
    those of the empirical law (population moments, divisor :math:`N`),
    computed in float64 in chunks on first use and cached. ``pdf`` is a histogram
    estimate (Freedman-Diaconis bins) for plotting; the engine never uses it.

    Examples
    --------
    >>> import numpy as np
    >>> import quanttheory as qt
    >>> e = qt.Empirical(np.array([[-1.0, 0.0], [0.0, 1.0]]))
    >>> e.n, e.variance, e.kurtosis
    (4, 0.5, 2.0)
    """

    name = "empirical"
    _is_empirical = True

    def __init__(self, samples, *, copy: bool = True):
        from ._streaming import is_dask, range_stats

        if is_dask(samples):
            if samples.dtype.kind not in "iuf":
                raise InvalidArgument(
                    f"Empirical: samples has dtype {samples.dtype}; pass real numbers"
                )
            x = src = samples.ravel()
            copy_to = None
        else:
            arr = samples if isinstance(samples, np.ndarray) else None
            if arr is None:
                try:
                    arr = np.asarray(samples)
                except (TypeError, ValueError):
                    arr = None
            if arr is None or arr.dtype.kind not in "iufb" or arr.dtype.kind == "b":
                raise InvalidArgument(
                    f"Empirical: samples={_show(samples)} must be real numbers"
                )
            dtype = arr.dtype if arr.dtype.kind == "f" else np.dtype(np.float64)
            if dtype.itemsize < 4:
                dtype = np.dtype(np.float32)
            if isinstance(arr, np.memmap) or not copy:
                x = arr.reshape(-1) if arr.dtype == dtype else arr.astype(dtype)
                x = x.reshape(-1)
                src, copy_to = x, None
            else:
                # the copy is made tile by tile inside the range pass
                src = np.ravel(arr)
                x = copy_to = np.empty(src.size, dtype=dtype)
        n, lo, hi, bad = range_stats(src, copy_to) if x.size else (0, 0.0, 0.0, 0)
        if x.size == 0:
            raise InvalidArgument(
                "Empirical: samples is empty; pass at least one value"
            )
        if bad:
            from ._streaming import iter_chunks

            first = next(
                float(c[~np.isfinite(c)][0])
                for c in iter_chunks(x)
                if not np.isfinite(c).all()
            )
            raise InvalidArgument(
                f"Empirical: samples contain {bad} non-finite value(s) "
                f"(first: {first!r}); remove NaN/inf before analysis"
            )
        self.samples = x
        self.n = int(n)
        self.min, self.max = lo, hi
        self._stats = None
        self._sorted = None

    def _moments(self):
        """``(mean, variance, m4)``: one float64 pass, on first use only.

        The optimal step and the MSE need only ``n``, ``min`` and ``max``, so
        constructing an ``Empirical`` costs a copy and one range pass.
        """
        if self._stats is None:
            from ._streaming import moment_stats, sum_stats

            mean = sum_stats(self.samples) / self.n
            d1, d2, d4 = moment_stats(self.samples, mean)
            # one correction step of the mean (exact-sum refinement)
            m = float(mean + d1 / self.n)
            c = m - mean
            var = float(max(d2 / self.n - c * c, 0.0))
            self._stats = (m, var, float(d4 / self.n))
        return self._stats

    @property
    def mean(self) -> float:
        """Sample mean (float64)."""
        return self._moments()[0]

    @property
    def variance(self) -> float:
        """Population variance (divisor N)."""
        return self._moments()[1]

    @property
    def _m4(self) -> float:
        return self._moments()[2]

    @property
    def _scale(self) -> float:
        v = self.variance
        return math.sqrt(v) if v > 0 else 1.0

    def __repr__(self):
        return f"Empirical(n={self.n}, mean={self.mean:.6g}, std={self.std:.6g})"

    @property
    def kurtosis(self) -> float:
        if self.variance == 0:
            raise InvalidArgument(
                "Empirical.kurtosis: the samples are constant (variance 0), "
                "so the kurtosis is undefined"
            )
        return self._m4 / self.variance**2

    @property
    def sorted(self) -> np.ndarray:
        """The samples as float64, sorted ascending (computed once, cached)."""
        if self._sorted is None:
            from ._streaming import iter_chunks

            self._sorted = np.sort(np.concatenate(list(iter_chunks(self.samples))))
        return self._sorted

    def _in_memory(self) -> np.ndarray:
        from ._streaming import is_dask

        return np.asarray(
            self.samples.compute() if is_dask(self.samples) else self.samples
        )

    def _pdf(self, x):
        data = self._in_memory()
        edges = np.histogram_bin_edges(data, bins="fd")
        if edges.size < 2 or edges[-1] == edges[0]:
            return np.where(x == data[0], np.inf, 0.0)
        dens, edges = np.histogram(data, bins=edges, density=True)
        i = np.searchsorted(edges, x, side="right") - 1
        inside = (i >= 0) & (i < dens.size)
        i = np.clip(i, 0, dens.size - 1)
        # include the right edge in the last bin
        on_edge = x == edges[-1]
        return np.where(
            inside | on_edge, dens[np.where(on_edge, dens.size - 1, i)], 0.0
        )

    def _cdf(self, x):
        return np.searchsorted(self.sorted, x, side="right") / self.n

    def _sf(self, x):
        return 1.0 - self._cdf(x)

    def _sample(self, n, rng):
        idx = rng.integers(0, self.n, size=n)
        from ._streaming import is_dask

        if is_dask(self.samples):
            return np.asarray(self.samples[np.sort(idx)].compute(), dtype=np.float64)
        return np.asarray(self.samples[idx], dtype=np.float64)


def _check_distribution(func: str, dist) -> Distribution:
    if not isinstance(dist, Distribution):
        raise InvalidArgument(
            f"{func}: dist={dist!r} is not a quanttheory distribution; use "
            "Uniform, Gaussian, Laplace, from_scipy(...) or Empirical(...)"
        )
    return dist
