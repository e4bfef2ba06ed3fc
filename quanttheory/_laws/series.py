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

Step derivatives
----------------
The Leibniz rule over cells gives :math:`D'(\Delta) =
-\frac2\Delta\big(E[X\,e(X)] - \mathrm{MSE}\big)` with the error
:math:`e = \Delta\tilde B_1(u)`; integrating :math:`\tilde B_1(u)\,xf(x)`
by parts in the same way and combining with the series above term by term,

.. math::

    D' = -2K_+T_1^+ + 2K_-T_1^-
    + \sum_{j=1}^{N}(-1)^j\frac{2\Delta^j}{(j+1)!}\Big(
      B_{j+1}(\tfrac12)\big[G_j\big]_{\tau_-}^{\tau_+}
      - \sum_e\tilde B_{j+1}(u_e)\,J_{G_j}(e)\Big) + R'_N,
    \qquad G_j = xf^{(j-1)} + (j+1)f^{(j-2)},

(:math:`f^{(-1)}` the CDF, :math:`\tau_\pm = K_\pm\Delta`), and
:math:`D''` is its term-by-term derivative. Both remainders have rigorous
bounds of the same kind, with :math:`\int|x^pf^{(k)}|` in place of
:math:`\int|f^{(k)}|` (:func:`series_derivatives`,
:func:`derivative_remainder_bounds`). :math:`D'` vanishes at the optimum, so
the order is chosen against the sum of the magnitudes of the leading terms
(the additive model's derivative and the first breakpoint terms) rather
than against :math:`|D'|`.

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
    family on the cell-sum route);
``_derivative_moment_l1(k, p)`` (optional, for the step derivatives)
    a float upper bound of :math:`\int|x^p f^{(k)}(x)|\,dx`, ``p = 1, 2``,
    over the same pieces. Without it :func:`series_derivatives` returns
    None and the derivatives keep the cell sum.

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
>>> from quanttheory._core.scheme import get_scheme
>>> from quanttheory._laws.series import series_mse
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

from .._core.distribution import Distribution

__all__ = [
    "MAX_CANCELLATION",
    "N_MAX",
    "TRUNCATION_RTOL",
    "derivative_remainder_bounds",
    "remainder_bound",
    "series_derivatives",
    "series_hooks",
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
# Bernoulli constants are computed once up to this index (every order the
# series uses is below it); larger requests extend the table.
_BERNOULLI_TABLE = 48


def _bernoulli_numbers(n: int) -> tuple[Fraction, ...]:
    """Exact :math:`B_0..B_n` (:math:`B_1=-1/2`) by the standard recurrence."""
    return _bernoulli_table(max(n, _BERNOULLI_TABLE))[: n + 1]


@functools.cache
def _bernoulli_table(n: int) -> tuple[Fraction, ...]:
    r"""Exact :math:`B_0..B_n` from the tangent numbers :math:`T_k`.

    :math:`B_{2k} = (-1)^{k-1}\,2k\,T_k / (4^k(4^k-1))` with :math:`T_k`
    the tangent numbers (:math:`\tan x = \sum_k T_k x^{2k-1}/(2k-1)!`),
    :math:`B_1 = -1/2` and zero odd numbers beyond. The :math:`T_k` come
    from the integer recurrence of R. P. Brent and D. Harvey, "Fast
    computation of Bernoulli, tangent and secant numbers", 2011,
    arXiv:1108.0286 (Algorithm TangentNumbers), so only integers are
    added: a few hundred microseconds instead of the milliseconds of the
    Fraction recurrence :math:`\sum_{k\le m}\binom{m+1}{k}B_k = 0`, with the
    same exact values (tested).
    """
    kmax = n // 2
    t = [0] * (kmax + 1)
    if kmax >= 1:
        t[1] = 1
    for k in range(2, kmax + 1):
        t[k] = (k - 1) * t[k - 1]
    for k in range(2, kmax + 1):
        for j in range(k, kmax + 1):
            t[j] = (j - k) * t[j - 1] + (j - k + 2) * t[j]
    b = [Fraction(0)] * (n + 1)
    b[0] = Fraction(1)
    if n >= 1:
        b[1] = Fraction(-1, 2)
    for k in range(1, kmax + 1):
        b[2 * k] = Fraction((-1) ** (k - 1) * 2 * k * t[k], 4**k * (4**k - 1))
    return tuple(b)


def _beta(n: int) -> np.ndarray:
    r""":math:`\beta_i = B_i(1/2)/i!`, :math:`i = 0..n`, rounded once to float.

    :math:`B_i(1/2) = -(1-2^{1-i})B_i` (DLMF 24.4.27); zero for odd i.
    A read-only view of one cached table.
    """
    return _beta_table(max(n, _BERNOULLI_TABLE))[: n + 1]


@functools.cache
def _beta_table(n: int) -> np.ndarray:
    b = _bernoulli_numbers(n)
    out = np.array(
        [
            float(-(1 - Fraction(2) ** (1 - i)) * b[i] / math.factorial(i))
            for i in range(n + 1)
        ]
    )
    out.flags.writeable = False
    return out


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


def _scaled_bernoulli_all(m_max: int, v) -> np.ndarray:
    r""":math:`\tilde B_m(1/2+v)/m!` for :math:`m = 0..m_{\max}`, stacked on
    a new first axis: :func:`_scaled_bernoulli` for every m at once, with
    the same sums in the same order (so the same floats), in
    :math:`O(m_{\max})` array operations."""
    beta = _beta(m_max)
    acc = np.zeros((m_max + 1, *np.shape(v)))
    term = np.ones_like(v)  # v^j / j!
    tail = (1,) * np.ndim(v)
    # beta_i vanishes for every odd i, so term j only reaches m = j, j+2, ...
    even = beta[0::2]
    for j in range(m_max + 1):
        # acc[m] += beta[m - j] * v^j / j! for m >= j, m - j even
        rows = acc[j::2]
        rows += even[: rows.shape[0]].reshape(-1, *tail) * term
        term = term * v / (j + 1)
    return acc


def _tails(ds: Distribution, tp, tm):
    """Upper tail at ``tp`` and lower tail at ``tm`` (one call for symmetric
    laws, whose lower tail is the upper tail at ``-tm``)."""
    if ds._symmetric and type(ds)._lower_tail is Distribution._lower_tail:
        if np.array_equal(tp, -tm):  # a symmetric level set: one call
            up = ds._upper_tail(tp)
            return up, up
        both = ds._upper_tail(np.concatenate([tp, -tm]))
        n = tp.size
        return tuple(t[:n] for t in both), tuple(t[n:] for t in both)
    return ds._upper_tail(tp), ds._lower_tail(tm)


def _outer_derivatives(hooks: _Hooks, xp, xm, kmax: int):
    """f^(k), k <= kmax, at both outer levels, in one call of the hook."""
    g = hooks.derivatives(np.concatenate([xp, xm]), kmax)
    return g[:, : xp.size], g[:, xp.size :]


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
    # (k, p) -> upper bound of int |x^p f^(k)| (p = 1, 2) over the smooth
    # pieces, or None: the step derivatives then keep the cell sum
    moment_l1: object = None


def series_hooks(dist: Distribution) -> _Hooks | None:
    """Derivative and L1 hooks of ``dist``, or None if it has none.

    A family opts in by defining ``_pdf_derivatives(x, kmax)`` and
    ``_derivative_l1(k)`` (and, for the step derivatives,
    ``_derivative_moment_l1(k, p)``). A family with a standardised member
    (``_standardized()`` not None) is evaluated on that unit-scale member
    (derivatives of order 40 of a law of scale 1e-100 would overflow), so
    subclasses of the named families keep their hooks.
    """
    if dist._is_empirical:
        return None
    std = dist._standardized()
    unit, scale = (dist, 1.0) if std is None else std
    deriv = getattr(unit, "_pdf_derivatives", None)
    l1 = getattr(unit, "_derivative_l1", None)
    ml1 = getattr(unit, "_derivative_moment_l1", None)
    if callable(deriv) and callable(l1):
        return _Hooks(unit, float(scale), deriv, l1, ml1 if callable(ml1) else None)
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
    >>> from quanttheory._laws.series import remainder_bound
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
    # All orders n = 2..n_run at once, shape (L, S): the partial sums are the
    # running sums of the terms in the order n = 2, 3, ... (np.cumsum along
    # the first axis adds sequentially), and each step keeps the first order
    # whose bound qualifies.
    dd = step / hooks.scale
    ds = hooks.dist
    with np.errstate(all="ignore"):
        tp = scheme.top * dd
        tm = scheme.bottom * dd
        (su, _, t2u), (fl, _, t2l) = _tails(ds, tp, tm)
        base = t2u + t2l + dd * dd / 12.0 * (1.0 - su - fl)
        ell = np.log(dd / _TWO_PI)
        coef = np.array(
            [math.nan, math.nan]
            + [_log_bound_coefficient(n, hooks.l1(n - 1)) for n in range(2, n_max + 1)]
        )
        n_run = n_max
        if estimate and n_max > 2:
            # a priori order against the additive model (the test below is the
            # rigorous one), so that derivatives beyond it are never computed:
            # the largest order needed by a step that qualifies at n_max
            lam = np.log(0.5 * rtol * base)
            sel = coef[n_max] + (n_max + 1) * ell <= lam
            n_run = 2
            if sel.any():
                # the smallest order that fits each step, order by order on
                # the steps still open (O(S N) only where N is needed)
                ell_s, lam_s = ell[sel], lam[sel]
                for n in range(2, n_max + 1):
                    open_s = coef[n] + (n + 1) * ell_s > lam_s
                    if not open_s.any():
                        break
                    ell_s, lam_s = ell_s[open_s], lam_s[open_s]
                n_run = n
            n_run = min(n_max, n_run + 2)
        kmax = max(n_run - 2, 0)

        bps = np.asarray(ds._breakpoints, dtype=np.float64)
        # inner one-sided limits where an outer level sits on a breakpoint
        xp, xm = tp, tm
        if bps.size:
            xp = np.where(np.isin(tp, bps), np.nextafter(tp, -np.inf), tp)
            xm = np.where(np.isin(tm, bps), np.nextafter(tm, np.inf), tm)
        gp, gm = _outer_derivatives(hooks, xp, xm, kmax)
        gap = gp - gm
        bps, jump = _jumps_at_breakpoints(hooks, kmax)
        nn = np.arange(2, n_run + 1)
        beta = _beta(n_run + 1)
        term = beta[nn + 1][:, None] * gap[nn - 2]  # (L, S)
        if bps.size:
            inside = (bps[None, :] > tm[:, None]) & (bps[None, :] < tp[:, None])
            w = bps[None, :] / dd[:, None] - scheme.offset
            v = np.where(inside, w - np.rint(w), 0.0)  # offset from the level
            bern = np.where(inside, _scaled_bernoulli_all(n_run + 1, v), 0.0)
            term = term - np.einsum("lsb,lb->ls", bern[nn + 1], jump[nn - 2])
        # Delta^2 * 2 Delta^(n-1): 2 Delta^3 at n = 2, one more Delta per order
        power = np.empty(term.shape)
        power[0] = 2.0 * dd**3
        power[1:] = dd
        power = np.cumprod(power, axis=0)
        contribution = np.where((nn % 2 == 0)[:, None], power, -power) * term
        # sums of the magnitudes of everything summed, for the rounding test
        mag0 = t2u + t2l + dd * dd / 12.0 * np.abs(1.0 - su - fl)
        total = np.cumsum(np.concatenate([base[None], contribution]), axis=0)
        if fixed:
            return total[-1] * hooks.scale**2, np.full(step.shape, n_max, dtype=int)
        total = total[1:]
        mag = np.cumsum(np.concatenate([mag0[None], np.abs(contribution)]), axis=0)[1:]
        # the rigorous test bound <= rtol * (total - bound), i.e.
        # bound <= rtol / (1 + rtol) * total, in logs: no (L, S) exponential
        with np.errstate(divide="ignore", invalid="ignore"):
            log_bound = coef[nn][:, None] + (nn[:, None] + 1) * ell
            done = log_bound <= np.log(rtol / (1.0 + rtol) * total)
        done &= np.isfinite(total)
        settled = done.any(0)
        first = np.argmax(done, axis=0)
        cols = np.arange(step.size)
        # the truncation is settled; accept unless rounding is amplified
        low = total[first, cols] - np.exp(log_bound[first, cols])  # MSE >= low
        ok = settled & (mag[first, cols] <= MAX_CANCELLATION * low)
        value = np.where(ok, total[first, cols], np.nan)
        order = np.where(ok, nn[first], 0) if nn.size else np.zeros(step.shape, int)
        open_ = ~settled
    if open_.any() and n_run < n_max:
        idx = np.flatnonzero(open_)
        v2, o2 = _series(hooks, step[idx], scheme, n_max, rtol, fixed=False)  # all N
        value[idx], order[idx] = v2 / hooks.scale**2, o2
    return value * hooks.scale**2, order


# ---------------------------------------------------------------------------
# The step derivatives
# ---------------------------------------------------------------------------
# Per keyed unit member (``_key()`` not None): the derivative bound tables
# (c1, c2), with c_r[N] the log of the N-dependent factor of the remainder
# bound of D' (r = 1) and D'' (r = 2), and the jumps of f^(k) at the
# breakpoints.
_BOUND_TABLES: dict = {}


def _derivative_bound_table(hooks: _Hooks, n_max: int, bps, jump):
    r"""Logs of the remainder-bound coefficients of :math:`D'` and :math:`D''`.

    ``c1[N] = log(4 zeta(N+1) L'_N)`` and ``c2[N] = log(4 zeta(N+1) L''_N)``
    for :math:`N = 1..n_{\max}` (index 0 unused), with

    .. math::

        L'_N = \int|xf^{(N)}| + (N+2)\int|f^{(N-1)}|, \qquad
        L''_N = N L'_N + \int|x^2f^{(N+1)}| + (N+4)\int|xf^{(N)}|
        + (N+2)\int|f^{(N-1)}| + \sum_e |e\,J_{G_{N+1}}(e)|

    (see :func:`series_derivatives`); ``-inf`` where the factor is 0.
    """
    key = None
    if hooks.dist._key() is not None:
        key = ("bounds", type(hooks.dist), hooks.dist._key(), n_max)
        if key in _BOUND_TABLES:
            return _BOUND_TABLES[key]
    lz = _log_bound_constants(n_max)
    c1 = np.full(n_max + 1, np.nan)
    c2 = np.full(n_max + 1, np.nan)
    for n in range(1, n_max + 1):
        l1 = hooks.l1(n - 1)
        lam1 = hooks.moment_l1(n, 1) + (n + 2) * l1
        lam2 = (
            n * lam1
            + hooks.moment_l1(n + 1, 2)
            + (n + 4) * hooks.moment_l1(n, 1)
            + (n + 2) * l1
        )
        if bps.size:
            jg = bps * jump[n] + (n + 2) * jump[n - 1]  # J of G_(N+1)
            lam2 += float(np.sum(np.abs(bps * jg)))
        with np.errstate(divide="ignore"):
            c1[n] = lz[n] + math.log(lam1) if lam1 > 0 else -math.inf
            c2[n] = lz[n] + math.log(lam2) if lam2 > 0 else -math.inf
    if key is not None:
        _BOUND_TABLES[key] = (c1, c2)
    return c1, c2


def _jumps_at_breakpoints(hooks: _Hooks, kmax: int):
    """Breakpoints where some f^(k), k <= kmax, jumps, and the jumps there.

    Returns ``(bps, jump)`` with ``jump`` of shape ``(kmax + 1, B)``.
    Cached for the named families' unit members.
    """
    key = None
    if hooks.dist._key() is not None:
        key = ("jumps", type(hooks.dist), hooks.dist._key(), kmax)
        if key in _BOUND_TABLES:
            return _BOUND_TABLES[key]
    bps = np.asarray(hooks.dist._breakpoints, dtype=np.float64)
    if not bps.size:
        out = bps, np.zeros((kmax + 1, 0))
    else:
        jump = hooks.derivatives(np.nextafter(bps, np.inf), kmax) - hooks.derivatives(
            np.nextafter(bps, -np.inf), kmax
        )
        keep = np.any(jump != 0.0, axis=0)
        out = bps[keep], jump[:, keep]
    if key is not None:
        _BOUND_TABLES[key] = out
    return out


def derivative_remainder_bounds(dist: Distribution, step, order: int):
    r"""Upper bounds of the truncation errors of :func:`series_derivatives`.

    .. math::

        |R'_N| \le \frac{4\zeta(N+1)}{\Delta}\Big(\frac{\Delta}{2\pi}\Big)^{N+1}
        L'_N, \qquad
        \Big|\frac{\partial R'_N}{\partial\Delta}\Big| \le
        \frac{4\zeta(N+1)}{\Delta^2}\Big(\frac{\Delta}{2\pi}\Big)^{N+1} L''_N

    (:func:`series_derivatives` gives :math:`L'_N, L''_N`).

    Parameters
    ----------
    dist : Distribution
        A family with series hooks and moment bounds.
    step : ndarray
        Steps :math:`\Delta`.
    order : int
        Truncation order :math:`N \ge 1` (terms :math:`j = 1..N` summed).

    Returns
    -------
    tuple of ndarray
        The bounds of the errors of :math:`D'` and :math:`D''` (``inf`` where
        they overflow), or None if ``dist`` has no such hooks.

    Examples
    --------
    >>> import numpy as np
    >>> import quanttheory as qt
    >>> from quanttheory._laws.series import derivative_remainder_bounds
    >>> b1, b2 = derivative_remainder_bounds(qt.Uniform(1.0), np.array([0.1]), 2)
    >>> float(b1[0]), float(b2[0])  # f is piecewise constant: exact at N = 2
    (0.0, 0.0)
    """
    hooks = series_hooks(dist)
    if hooks is None or hooks.moment_l1 is None:
        return None
    dd = np.asarray(step, dtype=np.float64) / hooks.scale
    bps, jump = _jumps_at_breakpoints(hooks, order)
    c1, c2 = _derivative_bound_table(hooks, order, bps, jump)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        ell = (order + 1) * np.log(dd / _TWO_PI)
        b1 = np.exp(c1[order] + ell - np.log(dd)) * hooks.scale
        b2 = np.exp(c2[order] + ell - 2.0 * np.log(dd))
    return b1, b2


def series_derivatives(
    dist: Distribution,
    step: np.ndarray,
    scheme,
    order: int = 1,
    *,
    side: int = 1,
    n_max: int = N_MAX,
    rtol: float = TRUNCATION_RTOL,
    fixed_order: int | None = None,
):
    r"""Exact :math:`D'(\Delta)` (and :math:`D''`) by the Euler-Maclaurin series.

    With :math:`e(x) = x-Q(x) = \Delta\tilde B_1(u)` the error, the Leibniz
    rule over cells gives :math:`D' = -\frac2\Delta E[Q(X)\,e(X)]
    = -\frac2\Delta\big(E[X e(X)] - \mathrm{MSE}\big)`. The part of
    :math:`E[Xe]` between the outer levels is
    :math:`\Delta\int\tilde B_1(u)\,xf\,dx`, which the same repeated
    integration by parts as the MSE (module docstring) expands; combined
    with the MSE's series, term by term,

    .. math::

        D' = -2K_+T_1^+(\tau_+) + 2K_-T_1^-(\tau_-)
        + \sum_{j=1}^{N} (-1)^j\frac{2\Delta^j}{(j+1)!}\Big(
          B_{j+1}(\tfrac12)\big[G_j\big]_{\tau_-}^{\tau_+}
          - \sum_e \tilde B_{j+1}(u_e)\,J_{G_j}(e)\Big) + R'_N,

    .. math::

        G_j = x f^{(j-1)}(x) + (j+1) f^{(j-2)}(x), \qquad
        R'_N = (-1)^{N+1}\frac{2\Delta^N}{(N+1)!}
        \int_{\tau_-}^{\tau_+}\tilde B_{N+1}(u)\,G_{N+1}(x)\,dx,

    with :math:`f^{(-1)}` the CDF (so :math:`[G_1] = [xf] + 2P`), the
    :math:`T_1^\pm` first tail moments and :math:`\tau_\pm = K_\pm\Delta`.
    :math:`G_j' = G_{j+1}`, which makes the series self-similar: each term
    is one integration by parts of the previous remainder. The terms
    :math:`j = 1` with the tails are the additive model's :math:`D'` plus
    :math:`\Delta\sum_e e\,\tilde B_2(u_e) J_f(e)`; the same result follows
    from differentiating the MSE's series term by term
    (:math:`\partial\tau_\pm/\partial\Delta = K_\pm`,
    :math:`\partial u_e/\partial\Delta = -e/\Delta^2`,
    :math:`\tilde B_m' = m\tilde B_{m-1}`).

    :math:`D''` is the term-by-term derivative of that sum plus
    :math:`\partial R'_N/\partial\Delta`. In the cell coordinate
    :math:`y = x/\Delta` the limits :math:`K_\pm` and :math:`\tilde B(y-c)`
    do not move, so
    :math:`\frac{d}{d\Delta}\int_{\tau_-}^{\tau_+}\tilde B_m(u)\,h\,dx =
    \frac1\Delta\big(\int\tilde B_m(u)\,(xh)'\,dx
    + \sum_e e\,\tilde B_m(u_e)\,J_h(e)\big)` for :math:`m \ge 2`. With
    :math:`|\tilde B_m| \le 2\,m!\,\zeta(m)/(2\pi)^m`,

    .. math::

        |R'_N| \le \frac{4\zeta(N+1)}{\Delta}\Big(\frac{\Delta}{2\pi}\Big)^{N+1}
        \Big(\int|xf^{(N)}| + (N+2)\int|f^{(N-1)}|\Big),

    .. math::

        \Big|\frac{\partial R'_N}{\partial\Delta}\Big| \le
        \frac{4\zeta(N+1)}{\Delta^2}\Big(\frac{\Delta}{2\pi}\Big)^{N+1}
        \Big(N\!\int\!|G_{N+1}| + \int|x^2f^{(N+1)}| + (N+4)\!\int\!|xf^{(N)}|
        + (N+2)\!\int\!|f^{(N-1)}| + \sum_e|e\,J_{G_{N+1}}(e)|\Big),

    using :math:`(xG_{N+1})' = x^2f^{(N+1)} + (N+4)xf^{(N)} + (N+2)f^{(N-1)}`
    and the families' bounds of :math:`\int|x^pf^{(k)}|` (``moment_l1``).

    Scale of the tolerance. :math:`D'` vanishes at the optimum, so a bound
    relative to :math:`|D'|` could never be met there, and no route has
    relative accuracy there either: every evaluation of :math:`D'` sums
    terms of opposite signs and its rounding error is a few ulps of their
    magnitudes. :math:`N` is therefore the smallest order whose bound is at
    most ``rtol`` times :math:`S_1`, the sum of the absolute values of the
    leading terms (the tail terms :math:`2|K_\pm|T_1^\pm`, the additive
    model's :math:`\frac\Delta6P` and :math:`\frac{\Delta^2}{12}|K_\pm
    f(\tau_\pm)|`, and the :math:`j=1` breakpoint terms), all closed forms
    evaluated to rounding: the truncation is then below 1/16 ulp of the
    largest term that any route must add. Near the optimum
    :math:`S_1 \lesssim \Delta D''` (the granular :math:`\frac\Delta6 P`
    balances :math:`2K_+T_1^+`, and :math:`\Delta D'' \ge \frac\Delta6P +
    2K_+\tau_+P[X>\tau_+]`), so the error of the located zero of
    :math:`D'` is below :math:`2^{-56}\Delta` relative. For :math:`D''`,
    :math:`S_2` is the same sum for the leading terms of :math:`D''`
    (:math:`2K_\pm^2P_\pm`, :math:`P/6`, ... and the breakpoint terms, which
    for the uniform law make :math:`D''` of size :math:`2^{M-1}`). Steps
    where the later terms add up to more than :data:`MAX_CANCELLATION`
    times that scale (cells much wider than the law) are left to the cell
    sum, as for the MSE.

    Parameters
    ----------
    dist : Distribution
        A family with series hooks and moment bounds (``moment_l1`` of
        :func:`series_hooks`).
    step : ndarray, shape (S,)
        Positive finite steps.
    scheme : Scheme
        The level set.
    order : {1, 2}
        Return :math:`D'` (1) or :math:`D'` and :math:`D''` (2); with 2 the
        order :math:`N` meets both tolerances.
    side : {1, -1}
        Where a decision threshold sits on a jump of the density
        (:math:`u_e = 0`, within the cell route's relative ``1e-11``),
        :math:`\tilde B_1(u_e)` in :math:`D''` is taken as the limit for a
        growing (``+1``) or shrinking (``-1``) step,
        :math:`\operatorname{sgn}(e)\,\mathrm{side}/2`: the one-sided
        :math:`D''`. Steps whose outer level :math:`\tau_\pm \ne 0` sits on a
        breakpoint are left to the cell sum for :math:`D''`.
    n_max : int
        Largest order tried.
    rtol : float
        Tolerance relative to :math:`S_1` (:math:`S_2`).
    fixed_order : int, optional
        Sum exactly the terms :math:`j = 1..N` at every step (for tests).

    Returns
    -------
    values : list of ndarray, shape (S,)
        ``[D']`` or ``[D', D'']``, NaN where ``order == 0``.
    order : ndarray of int, shape (S,)
        The :math:`N` used, 0 where no :math:`N \le` ``n_max`` qualifies.

    ``None`` instead of the pair for a family without the hooks.

    Notes
    -----
    Cost: :math:`O(N)` array operations over the steps, none per cell. The
    order of a step depends only on that step: :math:`S_1, S_2` are closed
    forms, so :math:`N` is fixed before any term is summed.

    Accuracy: against 25-digit mpmath derivatives of the closed-form MSE
    within 6e-16 of :math:`S_1` (:math:`S_2`) for the Gaussian and Laplace
    laws (``tests/laws/test_mse_series_derivatives.py``). For the uniform law at
    many bits the problem itself is ill-conditioned (:math:`|\Delta D'''|`
    is about :math:`2(a/\Delta)^2`), and any float evaluation, this one and
    the cell sum alike, carries that many ulps.

    Examples
    --------
    >>> import numpy as np
    >>> import quanttheory as qt
    >>> from quanttheory._core.scheme import get_scheme
    >>> from quanttheory._laws.series import series_derivatives
    >>> (d1, d2), order = series_derivatives(
    ...     qt.Gaussian(), np.array([0.03, 3.0]), get_scheme("mse", "signed", 8), 2
    ... )
    >>> order.tolist()  # terms used; 0: left to the cell sum
    [10, 0]
    >>> round(float(d1[0]), 10), round(float(d2[0]), 6)
    (-0.0028139157, 4.422035)
    >>> float(d2[0]) == qt.mse_derivative(qt.Gaussian(), 0.03, 8, 2, scheme="signed")
    True

    References
    ----------
    .. [1] T. M. Apostol, "An elementary view of Euler's summation formula",
       Amer. Math. Monthly 106(5), 1999, doi:10.2307/2589145.
    .. [2] NIST DLMF 24.8 (bounds of the periodic Bernoulli functions),
       https://dlmf.nist.gov/24.8.
    """
    hooks = series_hooks(dist)
    if hooks is None or hooks.moment_l1 is None:
        return None
    step = np.asarray(step, dtype=np.float64)
    return _derivative_series(
        hooks, step, scheme, order, side, n_max, rtol, fixed_order
    )


def _derivative_series(hooks, step, scheme, order, side, n_max, rtol, fixed_order):
    dd = step / hooks.scale
    ds = hooks.dist
    kp, km = float(scheme.top), float(scheme.bottom)
    n_top = n_max if fixed_order is None else fixed_order
    second = order >= 2
    bps, jump = _jumps_at_breakpoints(hooks, n_top)
    c1, c2 = _derivative_bound_table(hooks, n_top, bps, jump)
    beta = _beta(n_top + 2)
    with np.errstate(all="ignore"):
        tp, tm = kp * dd, km * dd
        (su, t1u, _), (fl, t1l, _) = _tails(ds, tp, tm)
        prob = 1.0 - su - fl
        # inner one-sided limits where an outer level sits on a breakpoint
        allb = np.asarray(ds._breakpoints, dtype=np.float64)
        xp, xm = tp, tm
        if allb.size:
            xp = np.where(np.isin(tp, allb), np.nextafter(tp, -np.inf), tp)
            xm = np.where(np.isin(tm, allb), np.nextafter(tm, np.inf), tm)
        gp, gm = _outer_derivatives(hooks, xp, xm, 1)
        if bps.size:
            e = bps[None, :]
            inside = (e > tm[:, None]) & (e < tp[:, None])  # (S, B)
            w = e / dd[:, None] - scheme.offset
            v = np.where(inside, w - np.rint(w), 0.0)  # offset from the level
            # a threshold (k + o + 1/2) step on a breakpoint (within the cell
            # route's relative 1e-11): B~_1 jumps there
            on = inside & (np.abs(0.5 - np.abs(v)) * dd[:, None] <= 1e-11 * np.abs(e))
            b1 = np.where(inside, np.where(on, 0.5 * side * np.sign(e), v), 0.0)
            b2 = np.where(inside, _scaled_bernoulli(2, v), 0.0)
            jg1 = bps * jump[0]  # J of G_1 = x f + 2F

        # j = 1 and the tails: the leading terms, all closed forms
        abs_x1 = abs(beta[2]) * (np.abs(tp * gp[0]) + np.abs(tm * gm[0]) + 2.0 * prob)
        x1 = beta[2] * (tp * gp[0] - tm * gm[0] + 2.0 * prob)
        if bps.size:
            x1 = x1 - b2 @ jg1
            abs_x1 = abs_x1 + np.abs(b2) @ np.abs(jg1)
        d1 = -2.0 * kp * t1u + 2.0 * km * t1l - 2.0 * dd * x1
        s1 = 2.0 * abs(kp) * t1u + 2.0 * abs(km) * t1l + 2.0 * dd * abs_x1
        if second:
            kg2 = kp * (tp * gp[1] + 3.0 * gp[0]) - km * (tm * gm[1] + 3.0 * gm[0])
            abs_kg2 = abs(kp) * (np.abs(tp * gp[1]) + 3.0 * gp[0]) + abs(km) * (
                np.abs(tm * gm[1]) + 3.0 * gm[0]
            )
            tails2 = 2.0 * kp * kp * su + 2.0 * km * km * fl
            d2 = tails2 - 2.0 * (x1 + dd * beta[2] * kg2)
            s2 = tails2 + 2.0 * (abs_x1 + dd * abs(beta[2]) * abs_kg2)
            if bps.size:
                d2 = d2 - 2.0 / dd * ((b1 * bps) @ jg1)
                s2 = s2 + 2.0 / dd * (np.abs(b1 * bps) @ np.abs(jg1))

        # the order of each step, from the bounds against the closed-form scales
        if fixed_order is None:
            ell = np.log(dd / _TWO_PI)
            ld = np.log(dd)
            npow = np.arange(2.0, n_top + 2.0)[:, None]  # N + 1, N = 1..n_top
            ok = c1[1:, None] + npow * ell - ld <= np.log(rtol * s1)
            if second:
                ok &= c2[1:, None] + npow * ell - 2.0 * ld <= np.log(rtol * s2)
            n_step = np.where(ok.any(0), np.argmax(ok, axis=0) + 1, 0)
            if second and bps.size:
                # D'' with an outer level (not 0) on a breakpoint: cell sum
                for k, t in ((kp, tp), (km, tm)):
                    if k != 0.0:
                        near = np.abs(t[:, None] - bps) <= 1e-11 * np.abs(bps)
                        n_step = np.where(near.any(-1), 0, n_step)
        else:
            n_step = np.full(dd.shape, fixed_order, dtype=np.int64)
        n_run = int(n_step.max()) if n_step.size else 0

        mag1 = s1
        mag2 = s2 if second else None
        if n_run >= 2:
            # the terms j = 2..n_run for all steps at once, shape (L, S); each
            # step sums those with j <= its own order
            jj = np.arange(2, n_run + 1)
            jc = jj[:, None].astype(np.float64)
            use = jj[:, None] <= n_step[None, :]
            kmax = n_run - 1 + int(second)
            gp, gm = _outer_derivatives(hooks, xp, xm, kmax)
            bj = beta[jj + 1][:, None]
            x = bj * (
                tp * gp[jj - 1]
                - tm * gm[jj - 1]
                + (jc + 1.0) * (gp[jj - 2] - gm[jj - 2])
            )
            if bps.size:
                jg = bps * jump[jj - 1] + (jc + 1.0) * jump[jj - 2]  # J of G_j, (L, B)
                bern = _scaled_bernoulli_all(n_run + 1, v)  # (n_run + 2, S, B)
                bern = np.where(inside, bern, 0.0)
                x = x - np.einsum("lsb,lb->ls", bern[jj + 1], jg)
            sign = np.where(jj % 2 == 0, 2.0, -2.0)[:, None]
            pw = np.cumprod(np.broadcast_to(dd, (n_run - 1, dd.size)), axis=0)
            # pw[l] = Delta^(j-1) for j = jj[l]
            t = sign * pw * dd * x
            d1 = d1 + np.where(use, t, 0.0).sum(0)
            mag1 = mag1 + np.where(use, np.abs(t), 0.0).sum(0)
            if second:
                kg = kp * (tp * gp[jj] + (jc + 2.0) * gp[jj - 1]) - km * (
                    tm * gm[jj] + (jc + 2.0) * gm[jj - 1]
                )
                dt = jc * pw * x + pw * dd * bj * kg
                if bps.size:
                    dt = dt + pw / dd * np.einsum("lsb,lb->ls", bern[jj] * bps, jg)
                dt = sign * dt
                d2 = d2 + np.where(use, dt, 0.0).sum(0)
                mag2 = mag2 + np.where(use, np.abs(dt), 0.0).sum(0)

        if fixed_order is not None:
            return [d1 * hooks.scale] + ([d2] if second else []), n_step
        good = (n_step > 0) & np.isfinite(d1) & (mag1 <= MAX_CANCELLATION * s1)
        if second:
            good &= np.isfinite(d2) & (mag2 <= MAX_CANCELLATION * s2)
        n_step = np.where(good, n_step, 0)
        out = [np.where(good, d1 * hooks.scale, np.nan)]
        if second:
            out.append(np.where(good, d2, np.nan))
    return out, n_step
