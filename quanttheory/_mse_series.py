r"""The exact MSE as an Euler-Maclaurin series with a rigorous remainder bound.

Between the outermost levels :math:`\tau_\pm` the quantization error is the
periodic sawtooth. With :math:`u` the position of :math:`x` inside its cell
measured from a decision threshold (so every level sits at :math:`u=1/2`),

.. math::

    (x-Q(x))^2 = \Delta^2\Big(\tilde B_2(u) + \tfrac1{12}\Big),

where :math:`\tilde B_n` are the periodic Bernoulli functions. Since
:math:`\tilde B_n = \frac{\Delta}{n+1}\frac{d}{dx}\tilde B_{n+1}(u(x))`,
repeated integration by parts over :math:`(\tau_-,\tau_+)` gives, for any
:math:`N \ge 2`,

.. math::

    \mathrm{MSE} = T_2^+(\tau_+) + T_2^-(\tau_-)
    + \frac{\Delta^2}{12}P[\tau_-\le X\le\tau_+]
    + \Delta^2\sum_{n=2}^{N} (-1)^n\,\frac{2\Delta^{n-1}}{(n+1)!}
      \Big(B_{n+1}(\tfrac12)\,\big[f^{(n-2)}\big]_{\tau_-}^{\tau_+}
      - \sum_e \tilde B_{n+1}(u_e)\,J_{f^{(n-2)}}(e)\Big) + R_N,

with :math:`T_2^\pm` the closed-form tail moments of each family,
:math:`e` the density's breakpoints strictly inside
:math:`(\tau_-,\tau_+)`, :math:`J_g(e)=g(e^+)-g(e^-)` and one-sided (inner)
limits of :math:`f^{(k)}` at :math:`\tau_\pm`. :math:`B_{n+1}(1/2)=0` for odd
:math:`n+1`. The remainder is
:math:`R_N=(-1)^{N+1}\frac{2\Delta^{N+1}}{(N+1)!}\int_{\tau_-}^{\tau_+}
\tilde B_{N+1}(u)\,f^{(N-1)}(x)\,dx`, and with
:math:`|\tilde B_m|\le 2\,m!\,\zeta(m)/(2\pi)^m`,

.. math::

    |R_N| \le 4\,\zeta(N+1)\Big(\frac{\Delta}{2\pi}\Big)^{N+1}
    \int_{\tau_-}^{\tau_+}\big|f^{(N-1)}\big|\,dx .

``N = 3`` is the truncation of ``quanttheory._mse._euler_maclaurin``.

Per step, :func:`series_mse` takes the smallest :math:`N \le` :data:`N_MAX`
whose bound is at most :data:`TRUNCATION_RTOL` times a rigorous lower bound
of the MSE (the partial sum minus the bound); steps where no :math:`N`
qualifies (coarse steps at low bit-widths) are left to the caller's other
routes. Where it is used, the series is therefore exact up to float
rounding, at :math:`O(N)` array operations per call and no work per cell.

Family hooks
------------
The series needs :math:`f^{(k)}` at the outer levels and on both sides of
each breakpoint, and an upper bound of :math:`\int|f^{(k)}|` over the smooth
pieces. :class:`~quanttheory.Gaussian`, :class:`~quanttheory.Laplace` and
:class:`~quanttheory.Uniform` get them here (on their unit-scale member, the
result rescaled by :math:`s^2`). A custom family opts in by defining

``_pdf_derivatives(x, kmax)``
    an array of shape ``(kmax + 1, *x.shape)`` with :math:`f^{(k)}(x)`,
    :math:`k = 0..k_{\max}`, at points that are not breakpoints (the engine
    evaluates one float away from a breakpoint for one-sided limits);
``_derivative_l1(k)``
    a float upper bound of :math:`\int|f^{(k)}(x)|\,dx` over the open
    pieces between breakpoints (``math.inf`` where unknown, which keeps the
    family on the cell-sum route).

The jumps :math:`J_{f^{(k)}}(e)` are then taken at ``_breakpoints``. Other
families (:func:`~quanttheory.from_scipy`, custom ones without the hooks)
keep the cell sum.

References
----------
.. [1] T. M. Apostol, "An elementary view of Euler's summation formula",
   Amer. Math. Monthly 106(5), 1999, doi:10.2307/2589145.
.. [2] NIST DLMF, section 24.8 (Fourier series of the periodic Bernoulli
   functions) and 24.4.27 (:math:`B_n(1/2)=-(1-2^{1-n})B_n`),
   https://dlmf.nist.gov/24.
.. [3] W. R. Bennett, "Spectra of quantized signals", Bell Syst. Tech. J.
   27, 1948 (the granular noise :math:`\Delta^2/12`).

Examples
--------
>>> import numpy as np
>>> import quanttheory as qt
>>> from quanttheory._quantizer import get_scheme
>>> from quanttheory._mse_series import series_mse
>>> value, order = series_mse(qt.Gaussian(), np.array([0.03, 3.0]),
...                           get_scheme("mse", "signed", 8))
>>> order.tolist()  # terms used; 0: left to the cell sum
[10, 0]
>>> float(value[0]) == qt.mse(qt.Gaussian(), 0.03, 8, scheme="signed")
True
>>> round(float(value[0]), 12)  # tails and granular noise 0.03^2/12 (7.5e-5)
8.8715601e-05
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction
from typing import NamedTuple

import numpy as np
from scipy import special

from ._distributions import Distribution, Gaussian, Laplace, Uniform

__all__ = [
    "MAX_CANCELLATION",
    "N_MAX",
    "TRUNCATION_RTOL",
    "remainder_bound",
    "series_mse",
]

#: Largest truncation order :math:`N` tried before a step is left to the
#: cell sum. The Gaussian needs about 12 at 8 bits near the optimum; beyond
#: ~40 the bound of a Gaussian at :math:`\Delta\approx\sigma` stops shrinking.
N_MAX = 40
#: The remainder bound must be below this fraction of the MSE: 1/16 of the
#: float64 epsilon, so the truncation is invisible after rounding.
TRUNCATION_RTOL = 2.0**-56
#: Largest ratio of the sum of the magnitudes of the summed terms to the MSE.
#: Above it (a cell much wider than the law, where the granular term
#: :math:`\Delta^2/12` nearly cancels against the corrections) rounding would
#: be amplified, and the step is left to the cell sum. At 8 at most 3 bits are
#: lost.
MAX_CANCELLATION = 8.0
_TWO_PI = 2.0 * math.pi


# ---------------------------------------------------------------------------
# Bernoulli constants
# ---------------------------------------------------------------------------
@functools.cache
def _bernoulli_numbers(n: int) -> tuple[Fraction, ...]:
    """Exact :math:`B_0..B_n` (:math:`B_1=-1/2`) by the standard recurrence."""
    b = [Fraction(1)]
    for m in range(1, n + 1):
        b.append(-sum(math.comb(m + 1, k) * b[k] for k in range(m)) / (m + 1))
    return tuple(b)


@functools.cache
def _beta(n: int) -> np.ndarray:
    r""":math:`\beta_i = B_i(1/2)/i!`, :math:`i = 0..n`, rounded once to float.

    :math:`B_i(1/2) = -(1-2^{1-i})B_i` (DLMF 24.4.27); zero for odd i.
    """
    b = _bernoulli_numbers(n)
    out = [
        float(-(1 - Fraction(2) ** (1 - i)) * b[i] / math.factorial(i))
        for i in range(n + 1)
    ]
    return np.array(out)


def _scaled_bernoulli(m: int, v):
    r""":math:`\tilde B_m(1/2+v)/m!` for :math:`|v|\le 1/2`.

    Taylor expansion about the level, :math:`\sum_j \beta_{m-j} v^j/j!`: the
    terms are bounded by :math:`\pi^j/j!` times :math:`2/(2\pi)^m`, so the
    sum loses at most a factor :math:`e^\pi` to cancellation at any degree
    (the plain power basis of :math:`B_m` loses :math:`\sim m!/(2\pi)^m`).
    """
    beta = _beta(m)
    acc = np.zeros_like(v)
    term = np.ones_like(v)  # v^j / j!
    for j in range(m + 1):
        if beta[m - j] != 0.0:
            acc = acc + beta[m - j] * term
        term = term * v / (j + 1)
    return acc


@functools.cache
def _log_bound_constants(n_max: int) -> np.ndarray:
    r""":math:`\log(4\zeta(N+1))` for :math:`N = 0..n_{\max}` (N < 1 unused)."""
    n = np.arange(n_max + 1, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.log(4.0 * special.zeta(np.maximum(n + 1.0, 2.0)))


# ---------------------------------------------------------------------------
# Family hooks
# ---------------------------------------------------------------------------
class _Hooks(NamedTuple):
    dist: Distribution  # the member the series is evaluated on
    scale: float  # MSE(dist_original, step) = scale**2 * MSE(dist, step/scale)
    derivatives: object  # (x, kmax) -> (kmax+1, *x.shape)
    l1: object  # k -> upper bound of int |f^(k)| over the smooth pieces


def _gaussian_derivatives(dist: Gaussian, x, kmax: int):
    r""":math:`f^{(k)}(x) = (-1)^k He_k(z)\varphi(z)/\sigma^{k+1}`.

    By the recurrence :math:`He_{k+1} = z He_k - k He_{k-1}` applied to
    :math:`f^{(k)}` directly, so that no :math:`He_k` overflows where
    :math:`\varphi` underflows.
    """
    s = dist.sigma
    z = x / s
    out = np.empty((kmax + 1, *np.shape(x)))
    out[0] = dist._pdf(x)
    if kmax >= 1:
        out[1] = -z / s * out[0]
    for k in range(1, kmax):
        out[k + 1] = -(z * out[k] + k / s * out[k - 1]) / s
    return out


def _gaussian_l1(dist: Gaussian, k: int) -> float:
    r""":math:`\int|f^{(k)}| \le \sqrt{k!}/\sigma^k` (Cauchy-Schwarz on
    :math:`He_k`, :math:`\int He_k^2\varphi = k!`)."""
    return math.exp(0.5 * math.lgamma(k + 1.0) - k * math.log(dist.sigma))


def _laplace_derivatives(dist: Laplace, x, kmax: int):
    r""":math:`f^{(k)}(x) = (-\operatorname{sgn}(x)/b)^k f(x)`, :math:`x \ne 0`."""
    f = dist._pdf(x)
    r = -np.where(x > 0, 1.0, -1.0) / dist.b
    out = np.empty((kmax + 1, *np.shape(x)))
    out[0] = f
    for k in range(kmax):
        out[k + 1] = out[k] * r
    return out


def _laplace_l1(dist: Laplace, k: int) -> float:
    r""":math:`\int|f^{(k)}| = b^{-k}` off the kink (the jump terms carry it)."""
    return dist.b ** (-k)


def _uniform_derivatives(dist: Uniform, x, kmax: int):
    """f and zero derivatives (the jumps at +-a are breakpoints)."""
    out = np.zeros((kmax + 1, *np.shape(x)))
    out[0] = dist._pdf(x)
    return out


def _uniform_l1(dist: Uniform, k: int) -> float:
    return 1.0 if k == 0 else 0.0


_NAMED = {
    Gaussian: (_gaussian_derivatives, _gaussian_l1),
    Laplace: (_laplace_derivatives, _laplace_l1),
    Uniform: (_uniform_derivatives, _uniform_l1),
}


def series_hooks(dist: Distribution) -> _Hooks | None:
    """Derivative and L1 hooks of ``dist``, or None if it has none.

    Named families are evaluated on their unit-scale member (derivatives of
    order 40 of a law of scale 1e-100 would overflow); a custom family is
    used as it is, through its ``_pdf_derivatives`` and ``_derivative_l1``.
    """
    named = _NAMED.get(type(dist))
    if named is not None:
        unit, scale = dist._standardized()
        deriv, l1 = named
        return _Hooks(
            unit,
            float(scale),
            functools.partial(deriv, unit),
            functools.partial(l1, unit),
        )
    deriv = getattr(dist, "_pdf_derivatives", None)
    l1 = getattr(dist, "_derivative_l1", None)
    if callable(deriv) and callable(l1) and not dist._is_empirical:
        return _Hooks(dist, 1.0, deriv, l1)
    return None


# ---------------------------------------------------------------------------
# The series
# ---------------------------------------------------------------------------
def _log_bound_coefficient(order: int, l1: float) -> float:
    r""":math:`\log(4\zeta(N+1)\,L_1)`; ``-inf`` where ``l1 == 0``."""
    if l1 == 0.0:
        return -math.inf
    return float(_log_bound_constants(order)[order]) + math.log(l1)


def remainder_bound(step, order: int, l1: float):
    r"""Upper bound of the remainder :math:`|R_N|` of the series.

    .. math::

        |R_N| \le 4\,\zeta(N+1)\Big(\frac{\Delta}{2\pi}\Big)^{N+1}
        \int\big|f^{(N-1)}\big|

    Parameters
    ----------
    step : ndarray
        Steps :math:`\Delta`.
    order : int
        Truncation order :math:`N \ge 2` (terms :math:`n = 2..N` summed).
    l1 : float
        An upper bound of :math:`\int|f^{(N-1)}|` over the smooth pieces.

    Returns
    -------
    ndarray
        The bound, ``inf`` where it overflows.

    Notes
    -----
    From :math:`|\tilde B_m(u)| \le 2\,m!\,\zeta(m)/(2\pi)^m` (the Fourier
    series of :math:`\tilde B_m`, DLMF 24.8.1-2) applied to
    :math:`R_N = (-1)^{N+1}\frac{2\Delta^{N+1}}{(N+1)!}
    \int \tilde B_{N+1}(u)\,f^{(N-1)}`.

    Examples
    --------
    >>> import numpy as np
    >>> from quanttheory._mse_series import remainder_bound
    >>> float(remainder_bound(np.array([2 * np.pi]), 3, 1.0)[0])  # 4 zeta(4)
    4.329...
    """
    a = _log_bound_coefficient(order, l1)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        return np.exp(a + (order + 1) * np.log(np.asarray(step) / _TWO_PI))


def series_mse(
    dist: Distribution,
    step: np.ndarray,
    scheme,
    *,
    n_max: int = N_MAX,
    rtol: float = TRUNCATION_RTOL,
    fixed_order: int | None = None,
):
    r"""Exact MSE by the Euler-Maclaurin series, where its bound allows.

    .. math::

        \mathrm{MSE} = T_2^+ + T_2^- + \frac{\Delta^2}{12}P
        + \Delta^2\sum_{n=2}^{N}(-1)^n\frac{2\Delta^{n-1}}{(n+1)!}
        \Big(B_{n+1}(\tfrac12)[f^{(n-2)}]_{\tau_-}^{\tau_+}
        - \sum_e \tilde B_{n+1}(u_e)J_{f^{(n-2)}}(e)\Big) + R_N

    (module docstring). Per step, :math:`N` is the smallest order with
    :math:`|R_N| \le` ``rtol`` :math:`\times(\text{partial sum} - |R_N|)`,
    a rigorous bound of the relative truncation error.

    Parameters
    ----------
    dist : Distribution
        A family with series hooks (see :func:`series_hooks`).
    step : ndarray, shape (S,)
        Positive finite steps.
    scheme : Scheme
        The level set.
    n_max : int
        Largest order tried.
    rtol : float
        Relative truncation tolerance.
    fixed_order : int, optional
        Sum exactly the terms :math:`n = 2..N` for this :math:`N` at every
        step, with no selection (for tests of the bound).

    Returns
    -------
    value : ndarray, shape (S,)
        The MSE where ``order > 0``, NaN elsewhere.
    order : ndarray of int, shape (S,)
        The order :math:`N` used, 0 where no order up to ``n_max`` meets
        the tolerance (the caller must use another route there).

    ``None`` instead of the pair if ``dist`` has no series hooks.

    Notes
    -----
    Cost: :math:`O(N)` array operations over the steps (plus
    :math:`O(N^2)` per breakpoint inside the clipping range), none per
    cell; the tails and the probability are the family's closed forms.
    Which order a step gets does not depend on the other steps of the call:
    derivatives are first evaluated up to the order that the bound predicts
    against the additive model, and steps still open are redone up to
    ``n_max``.

    References
    ----------
    .. [1] T. M. Apostol, "An elementary view of Euler's summation formula",
       Amer. Math. Monthly 106(5), 1999, doi:10.2307/2589145.
    """
    hooks = series_hooks(dist)
    if hooks is None:
        return None
    step = np.asarray(step, dtype=np.float64)
    if fixed_order is not None:
        return _series(hooks, step, scheme, fixed_order, rtol, fixed=True)
    return _series(hooks, step, scheme, n_max, rtol, fixed=False, estimate=True)


def _series(
    hooks: _Hooks,
    step,
    scheme,
    n_max: int,
    rtol: float,
    fixed: bool,
    estimate: bool = False,
):
    dd = step / hooks.scale
    ds = hooks.dist
    with np.errstate(all="ignore"):
        tp = scheme.top * dd
        tm = scheme.bottom * dd
        su, _, t2u = ds._upper_tail(tp)
        fl, _, t2l = ds._lower_tail(tm)
        base = t2u + t2l + dd * dd / 12.0 * (1.0 - su - fl)
        ell = np.log(dd / _TWO_PI)
        coef = [math.nan, math.nan] + [
            _log_bound_coefficient(n, hooks.l1(n - 1)) for n in range(2, n_max + 1)
        ]
        n_run = n_max
        if estimate and n_max > 2:
            # a priori order against the additive model (the test below is the
            # rigorous one), so that derivatives beyond it are never computed:
            # the largest order needed by a step that qualifies at n_max
            lam = np.log(0.5 * rtol * base)
            sel = coef[n_max] + (n_max + 1) * ell <= lam
            ell_c, lam_c = ell[sel], lam[sel]
            n_run = 2
            for n in range(2, n_max + 1):
                if not ell_c.size:
                    break
                n_run = n
                keep = coef[n] + (n + 1) * ell_c > lam_c
                ell_c, lam_c = ell_c[keep], lam_c[keep]
            n_run = min(n_max, n_run + 2)
        kmax = max(n_run - 2, 0)

        bps = np.asarray(ds._breakpoints, dtype=np.float64)
        # inner one-sided limits where an outer level sits on a breakpoint
        xp = np.where(np.isin(tp, bps), np.nextafter(tp, -np.inf), tp)
        xm = np.where(np.isin(tm, bps), np.nextafter(tm, np.inf), tm)
        gap = hooks.derivatives(xp, kmax) - hooks.derivatives(xm, kmax)
        if bps.size:
            jump = hooks.derivatives(
                np.nextafter(bps, np.inf), kmax
            ) - hooks.derivatives(np.nextafter(bps, -np.inf), kmax)
            keep = np.any(jump != 0.0, axis=0)
            bps, jump = bps[keep], jump[:, keep]
        if bps.size:
            inside = (bps[None, :] > tm[:, None]) & (bps[None, :] < tp[:, None])
            w = bps[None, :] / dd[:, None] - scheme.offset
            v = np.where(inside, w - np.rint(w), 0.0)  # offset from the level
        beta = _beta(n_run + 1)

        total = base
        # sum of the magnitudes of everything summed, for the rounding test
        mag = t2u + t2l + dd * dd / 12.0 * np.abs(1.0 - su - fl)
        order = np.zeros(step.shape, dtype=np.int64)
        value = np.full(step.shape, np.nan)
        open_ = np.ones(step.shape, dtype=bool)
        power = 2.0 * dd**3  # Delta^2 * 2 Delta^(n-1) at n = 2
        for n in range(2, n_run + 1):
            k, m = n - 2, n + 1
            term = beta[m] * gap[k] if beta[m] != 0.0 else 0.0
            if bps.size and np.any(jump[k] != 0.0):
                bm = _scaled_bernoulli(m, v)
                term = term - np.where(inside, bm * jump[k], 0.0).sum(-1)
            if not np.isscalar(term):
                contribution = (power if n % 2 == 0 else -power) * term
                total = total + contribution
                mag = mag + np.abs(contribution)
            power = power * dd
            if fixed:
                continue
            bound = np.exp(coef[n] + (n + 1) * ell)
            low = total - bound  # a lower bound of the MSE
            done = open_ & (bound <= rtol * low) & np.isfinite(total)
            # the truncation is settled; accept unless rounding is amplified
            ok = done & (mag <= MAX_CANCELLATION * low)
            value = np.where(ok, total, value)
            order = np.where(ok, n, order)
            open_ &= ~done
            if not open_.any():
                break
    if fixed:
        return total * hooks.scale**2, np.full(step.shape, n_max, dtype=np.int64)
    if open_.any() and n_run < n_max:
        idx = np.flatnonzero(open_)
        v2, o2 = _series(hooks, step[idx], scheme, n_max, rtol, fixed=False)  # all N
        value[idx], order[idx] = v2 / hooks.scale**2, o2
    return value * hooks.scale**2, order
