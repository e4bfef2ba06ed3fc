r"""Closed forms beyond the uniform law: Gaussian and Laplace sources.

Both routes of the numeric engine are derived symbolically:

``additive``
    The model in the proof of the seed's Lemma 2,
    :math:`E[(X-\tau_+)^2;X>\tau_+] + E[(\tau_- - X)^2;X<\tau_-]
    + \frac{\Delta^2}{12}P[\tau_-\le X\le\tau_+]`, with the tail integrals
    evaluated by sympy (erf/exp for the Gaussian, exp for the Laplace law).
``exact``
    The cell sum :math:`\sum_k\int_{\text{cell}_k}(x-c_k)^2 f(x)\,dx`. For
    the Laplace law the cells of a half-line form a geometric series in
    :math:`e^{-\Delta/b}`, which ``Sum(...).doit()`` sums for a *symbolic*
    bit-width; for the Gaussian law the sum is finite for a given bit-width.

The numeric counterparts are :func:`quanttheory.mse` with
``model='additive'`` and ``model='exact'``.
"""

from __future__ import annotations

import functools
import itertools

import sympy as sp

from .._core.scheme import get_scheme
from ._symbols import generic_branch, level_set, symbols

__all__ = [
    "gaussian_additive_mse",
    "gaussian_exact_mse",
    "laplace_additive_mse",
    "laplace_exact_mse",
]


# ---------------------------------------------------------------------------
# Densities and the antiderivative of the cell integrand
# ---------------------------------------------------------------------------
def _pdf(law: str) -> sp.Expr:
    """Density on :math:`x \\ge 0` (Laplace) or everywhere (Gaussian)."""
    s = symbols()
    if law == "gaussian":
        return sp.exp(-(s.x**2) / (2 * s.sigma**2)) / (s.sigma * sp.sqrt(2 * sp.pi))
    return sp.exp(-s.x / s.b) / (2 * s.b)


@functools.cache
def _moment_antiderivatives(law: str) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    r""":math:`\int x^p f(x)\,dx` for :math:`p = 0, 1, 2`."""
    x = symbols().x
    return tuple(sp.integrate(x**p * _pdf(law), x) for p in range(3))


@functools.cache
def _antiderivative(law: str) -> tuple[sp.Expr, sp.Symbol]:
    r""":math:`F(x; c) = \int (x-c)^2 f(x)\,dx` and the symbol :math:`c`."""
    c = sp.Symbol("c", real=True)
    f0, f1, f2 = _moment_antiderivatives(law)
    return f2 - 2 * c * f1 + c**2 * f0, c


@functools.cache
def _limits(law: str) -> tuple[sp.Expr, sp.Expr]:
    r""":math:`F(+\infty; c)` and :math:`F(-\infty; c)` (the latter Gaussian only)."""
    f, _ = _antiderivative(law)
    x = symbols().x
    upper = sp.limit(f, x, sp.oo)
    lower = sp.limit(f, x, -sp.oo) if law == "gaussian" else sp.nan
    return upper, lower


def _cell(law: str, lo, hi, centre) -> sp.Expr:
    r""":math:`\int_{lo}^{hi} (x - c)^2 f(x)\,dx` by the antiderivative."""
    f, c = _antiderivative(law)
    x = symbols().x
    up_inf, lo_inf = _limits(law)
    upper = up_inf.subs(c, centre) if hi == sp.oo else f.subs({c: centre, x: hi})
    lower = lo_inf.subs(c, centre) if lo == -sp.oo else f.subs({c: centre, x: lo})
    return upper - lower


@functools.cache
def _tails(law: str) -> tuple[sp.Expr, sp.Expr]:
    r"""Upper-tail moments at :math:`\tau \ge 0`: :math:`P[X>\tau]` and
    :math:`E[(X-\tau)^2; X>\tau]`."""
    s = symbols()
    x, tau = s.x, s.tau
    erf = sp.erf(tau / (s.sigma * sp.sqrt(2)))
    f0 = _moment_antiderivatives(law)[0]
    surv = sp.limit(f0, x, sp.oo) - f0.subs(x, tau)
    second = sp.expand(_cell(law, tau, sp.oo, tau))
    if law == "gaussian":
        # group as (1 - erf) terms: ((sigma^2 + tau^2)/2) erfc - ...
        surv = sp.factor(surv).subs(1 - erf, sp.erfc(erf.args[0]))
        second = sp.collect(second, erf)
        second = second.subs(erf, 1 - sp.erfc(erf.args[0]))
        erfc = sp.erfc(erf.args[0])
        parts = sp.collect(sp.expand(second), erfc, evaluate=False)
        second = sum((sp.factor(v) * k for k, v in parts.items()), start=sp.Integer(0))
    return surv, second


def _additive(func: str, law: str, scheme) -> sp.Expr:
    ls = level_set(func, scheme)
    s = symbols()
    surv, second = _tails(law)
    # symmetric laws: the lower tail at tau_- < 0 is the upper tail at -tau_-
    t_up = ls.top * s.Delta
    t_lo = -ls.bottom * s.Delta
    tails = second.subs(s.tau, t_up) + second.subs(s.tau, t_lo)
    inner = 1 - surv.subs(s.tau, t_up) - surv.subs(s.tau, t_lo)
    if law == "gaussian":
        inner = inner.rewrite(sp.erf)  # 1 - erfc(z) = erf(z)
    return tails + s.Delta**2 / 12 * inner


def gaussian_additive_mse(scheme="paper") -> sp.Expr:
    r"""Additive-noise MSE of the Gaussian law :math:`\mathcal N(0,\sigma^2)`.

    .. math::

        D_{\text{add}} = 2\,E[(X-\tau)^2;X>\tau] + \frac{\Delta^2}{12}
        P[|X|\le\tau], \qquad \tau = 2^{M-1}\Delta \quad (\texttt{'paper'}),

    with :math:`E[(X-\tau)^2;X>\tau] = \int_\tau^\infty (x-\tau)^2
    \varphi_\sigma(x)\,dx = \frac{\sigma^2+\tau^2}{2}
    \operatorname{erfc}\frac{\tau}{\sigma\sqrt2}
    - \frac{\sigma\tau}{\sqrt{2\pi}}e^{-\tau^2/(2\sigma^2)}`, derived by sympy.
    Other schemes use their outermost levels :math:`\tau_\pm` (see
    :func:`quanttheory.levels`).

    Parameters
    ----------
    scheme : {'paper', 'midrise', 'signed', 'symmetric'}
        Level set; the bit-width stays the symbol :math:`M`.

    Returns
    -------
    sympy.Expr
        In ``sigma``, ``Delta`` and ``M``.

    Raises
    ------
    InvalidArgument
        For an unknown scheme.

    See Also
    --------
    gaussian_exact_mse, quanttheory.mse

    Notes
    -----
    This is the model, not the MSE: it treats the rounding error inside the
    clipping range as uniform. The exact MSE is :func:`gaussian_exact_mse`.

    References
    ----------
    .. [1] M. Shkolnik et al., "Robust Quantization: One Model to Rule Them
       All", NeurIPS 2020, arXiv:2002.07686, supplementary Eq. (6).
    .. [2] R. Banner, Y. Nahshan, D. Soudry, "Post training 4-bit
       quantization of convolutional networks for rapid-deployment",
       NeurIPS 2019, arXiv:1810.05723.

    Examples
    --------
    >>> from quanttheory import symbolic
    >>> s = symbolic.symbols()
    >>> d = symbolic.gaussian_additive_mse()
    >>> round(float(d.subs({s.sigma: 1, s.Delta: 0.5, s.M: 2})), 10)
    0.1649022644
    """
    return _additive("gaussian_additive_mse", "gaussian", scheme)


def laplace_additive_mse(scheme="paper") -> sp.Expr:
    r"""Additive-noise MSE of the Laplace law with scale :math:`b`.

    .. math::

        D_{\text{add}} = 2b^2e^{-\tau/b} + \frac{\Delta^2}{12}
        \left(1 - e^{-\tau/b}\right), \qquad \tau = 2^{M-1}\Delta
        \quad (\texttt{'paper'}),

    from :math:`\int_\tau^\infty (x-\tau)^2 \frac{e^{-x/b}}{2b}dx =
    b^2e^{-\tau/b}` and :math:`P[X>\tau] = e^{-\tau/b}/2`, derived by sympy.

    Parameters
    ----------
    scheme : {'paper', 'midrise', 'signed', 'symmetric'}
        Level set; the bit-width stays the symbol :math:`M`.

    Returns
    -------
    sympy.Expr
        In ``b``, ``Delta`` and ``M``.

    Raises
    ------
    InvalidArgument
        For an unknown scheme.

    See Also
    --------
    laplace_exact_mse, quanttheory.mse

    References
    ----------
    .. [1] M. Shkolnik et al., "Robust Quantization: One Model to Rule Them
       All", NeurIPS 2020, arXiv:2002.07686, supplementary Eq. (6).

    Examples
    --------
    >>> from quanttheory import symbolic
    >>> symbolic.laplace_additive_mse()
    Delta**2*(1 - exp(-2**(M - 1)*Delta/b))/12 + 2*b**2*exp(-2**(M - 1)*Delta/b)
    """
    return _additive("laplace_additive_mse", "laplace", scheme)


# ---------------------------------------------------------------------------
# Laplace: exact cell sum for a symbolic bit-width
# ---------------------------------------------------------------------------
def _laplace_half_line(offset) -> sp.Expr:
    r"""Error on :math:`x \ge 0` with :math:`n` positive levels, symbolic n.

    Offset 0: levels :math:`0, \Delta, \dots, n\Delta` (level 0 owns
    :math:`[0, \Delta/2]`). Offset 1/2: levels :math:`\Delta/2, \dots,
    (n-\tfrac12)\Delta` (the first owns :math:`[0, \Delta]`). The top level
    owns everything above its lower threshold. The middle cells are a
    geometric series in :math:`e^{-\Delta/b}`.
    """
    s = symbols()
    d, n = s.Delta, s.n
    k = sp.Dummy("k", integer=True)
    h = d / 2
    if offset == 0:
        first = _cell("laplace", 0, h, 0)
        middle = sp.Sum(_cell("laplace", k * d - h, k * d + h, k * d), (k, 1, n - 1))
        top = _cell("laplace", n * d - h, sp.oo, n * d)
    else:
        first = _cell("laplace", 0, d, h)
        middle = sp.Sum(_cell("laplace", k * d, (k + 1) * d, k * d + h), (k, 1, n - 2))
        top = _cell("laplace", (n - 1) * d, sp.oo, n * d - h)
    return first + generic_branch(middle.doit(), sp.exp(-d / s.b)) + top


def _hyperbolic(g: sp.Expr, q: sp.Symbol, w: sp.Expr) -> sp.Expr | None:
    r"""Write a rational function of :math:`q = e^{-w}` as
    :math:`\alpha + \beta\coth w + \gamma\operatorname{csch} w`, if possible.

    :math:`\coth w = (1+q^2)/(1-q^2)` and
    :math:`\operatorname{csch} w = 2q/(1-q^2)`, so
    :math:`g(1-q^2) = \alpha(1-q^2) + \beta(1+q^2) + 2\gamma q` must be a
    polynomial of degree at most 2 in :math:`q`; its coefficients give
    :math:`\alpha, \beta, \gamma`.
    """
    num = sp.cancel(g * (1 - q**2))
    if not num.is_polynomial(q) or sp.degree(num, q) > 2:
        return None
    c0, c1, c2 = (sp.expand(num).coeff(q, j) for j in range(3))
    # alpha + beta = c0, gamma = c1 / 2, beta - alpha = c2
    alpha, beta, gamma = (c0 - c2) / 2, (c0 + c2) / 2, c1 / 2
    return alpha + beta * sp.coth(w) + gamma * sp.csch(w)


@functools.cache
def _laplace_exact(scheme: str) -> sp.Expr:
    s = symbols()
    d, b, n = s.Delta, s.b, s.n
    ls = level_set("laplace_exact_mse", scheme)
    big_k = 2 ** (s.M - 1)
    # K = 2^(M-1) stays a plain symbol until the end, so that n^2 = K^2
    # does not turn into 4^(M-1) and cancels against the other K^2 terms.
    kk = sp.Dummy("K", positive=True, integer=True)
    half = _laplace_half_line(ls.offset)
    # positive side: levels up to kmax (+ offset); negative side: by symmetry
    if ls.offset == 0:
        n_up, n_down = ls.kmax, -ls.kmin
    else:
        n_up, n_down = ls.kmax + 1, -ls.kmin
    n_up, n_down = (v.subs(big_k, kk) for v in (n_up, n_down))
    total = half.subs(n, n_up) + half.subs(n, n_down)
    # Every exponent is (alpha + beta K) Delta/b: write e^{-Delta/(2b)} = q
    # and e^{-K Delta/b} = p; the sum is then a rational function of q,
    # linear in p, that factor() simplifies.
    q = sp.Dummy("q", positive=True)
    p = sp.Dummy("p", positive=True)

    def to_qp(t):
        u = sp.expand(t.args[0] * b / d)
        beta = u.coeff(kk)
        alpha = sp.expand(u - beta * kk)
        if not alpha.is_number:  # pragma: no cover - a derivation check
            raise RuntimeError(f"laplace_exact_mse: unexpected exponent {t}")
        return q ** (-2 * alpha) * p ** (-beta)

    rational = sp.factor(
        sp.cancel(total.replace(lambda t: isinstance(t, sp.exp), to_qp))
    )
    w = d / (2 * b)
    poly_p = sp.Poly(sp.expand(sp.numer(rational)), p)
    den = sp.denom(rational)
    out = sp.Integer(0)
    for (j,), coeff in poly_p.terms():
        g = coeff / den
        # g p^j = h(q) q^m p^j = h(q) exp(-(j K + m/2) Delta/b): look for the
        # shift m that makes h a combination of 1, coth w and csch w.
        for m in (0, -1, 1, -2, 2):
            hyp = _hyperbolic(g * q ** (-m), q, w)
            if hyp is not None:
                break
        else:  # pragma: no cover - every scheme decomposes
            hyp, m = g.subs(q, sp.exp(-w)), 0
        decay = sp.exp(-(j * kk + sp.Rational(m, 2)) * d / b)
        out += sp.Add(*[sp.factor(t) * decay for t in sp.Add.make_args(hyp)])
    return out.subs(kk, big_k)


def laplace_exact_mse(scheme="paper") -> sp.Expr:
    r"""Exact MSE of the Laplace law for a symbolic bit-width :math:`M`.

    The cell sum over the level set of ``scheme``. On :math:`x\ge0`, with
    :math:`f(x) = e^{-x/b}/(2b)` and a level :math:`c` whose cell is
    :math:`[c-\Delta/2, c+\Delta/2]`,

    .. math::

        \int_{c-\Delta/2}^{c+\Delta/2} (x-c)^2 f(x)\,dx
        = e^{-c/b}\int_{-\Delta/2}^{\Delta/2} t^2 \frac{e^{-t/b}}{2b}dt,

    so the full cells form a geometric series that ``Sum(...).doit()`` sums
    in closed form; the cell at the origin and the unbounded top cell are
    added by their own integrals, and the negative half-line follows by
    symmetry. With :math:`K = 2^{M-1}` and :math:`w = \Delta/(2b)`, e.g.

    .. math::

        D_{\texttt{paper}} = 2b^2 - b\Delta\operatorname{csch}(w)
        \left(1 - e^{-K\Delta/b}\right), \qquad
        D_{\texttt{midrise}} = 2b^2 + \frac{\Delta^2}{4}
        - b\Delta\coth w + b\Delta\,(1+\coth w)\,e^{-K\Delta/b}.

    Parameters
    ----------
    scheme : {'paper', 'midrise', 'signed', 'symmetric'}
        Level set (:math:`K = 2^{M-1}`): ``paper`` :math:`k\Delta`,
        :math:`k=-K..K`; ``midrise`` :math:`(k+\tfrac12)\Delta`,
        :math:`k=-K..K-1`; ``signed`` :math:`k\Delta`, :math:`k=-K..K-1`;
        ``symmetric`` :math:`k\Delta`, :math:`k=-(K-1)..K-1`.

    Returns
    -------
    sympy.Expr
        In ``b``, ``Delta`` and ``M``; valid for every :math:`M \ge 1`
        (:math:`M \ge 2` for ``'symmetric'``).

    Raises
    ------
    InvalidArgument
        For an unknown scheme.

    See Also
    --------
    laplace_additive_mse, quanttheory.mse

    Notes
    -----
    The geometric sum has a separate branch for ratio 1; it is dropped
    because :math:`e^{-\Delta/b} < 1`. Evaluating the closed form in floating
    point loses relative accuracy for :math:`\Delta \ll b` (the terms
    :math:`2b^2` and :math:`b\Delta\operatorname{csch} w` nearly cancel);
    evaluate it with mpmath (``sympy.lambdify(..., modules='mpmath')``) there.

    References
    ----------
    .. [1] M. Shkolnik et al., "Robust Quantization: One Model to Rule Them
       All", NeurIPS 2020, arXiv:2002.07686, supplementary Lemma 2.

    Examples
    --------
    >>> from quanttheory import symbolic
    >>> symbolic.laplace_exact_mse("paper")  # doctest: +NORMALIZE_WHITESPACE
    -Delta*b*csch(Delta/(2*b)) + Delta*b*exp(-2**(M - 1)*Delta/b)*csch(Delta/(2*b))
    + 2*b**2
    """
    return _laplace_exact(scheme)


# ---------------------------------------------------------------------------
# Gaussian: exact finite sum for a given bit-width
# ---------------------------------------------------------------------------
@functools.cache
def _gaussian_exact(bits: int, scheme: str) -> sp.Expr:
    s = symbols()
    d = s.Delta
    ls = get_scheme("gaussian_exact_mse", scheme, bits)
    f, c = _antiderivative("gaussian")
    up_inf, lo_inf = _limits("gaussian")
    idx = [sp.Integer(k) + sp.Rational(ls.offset) for k in range(ls.kmin, ls.kmax + 1)]
    # sum_k [F(t_k; c_k) - F(t_{k-1}; c_k)], grouped by threshold: t_k is
    # the upper limit of cell k and the lower limit of cell k + 1, so it
    # contributes F(t_k; c_k) - F(t_k; c_{k+1}); the unbounded ends add
    # F(+oo; c_top) - F(-oo; c_bottom). Collecting each threshold on its own
    # keeps the work linear in the number of levels.
    total = up_inf.subs(c, idx[-1] * d) - lo_inf.subs(c, idx[0] * d)
    total = sp.expand(total)
    for lo_k, hi_k in itertools.pairwise(idx):
        t = (lo_k + hi_k) / 2 * d
        term = sp.expand(f.subs({c: lo_k * d, s.x: t}) - f.subs({c: hi_k * d, s.x: t}))
        total += sp.collect(term, sorted(term.atoms(sp.erf, sp.exp), key=str))
    return total


def gaussian_exact_mse(M, scheme="paper") -> sp.Expr:
    r"""Exact MSE of the Gaussian law for a given bit-width, as an erf/exp sum.

    .. math::

        \mathrm{MSE} = \sum_k \int_{t_{k-1}}^{t_k}(x-c_k)^2
        \frac{e^{-x^2/(2\sigma^2)}}{\sigma\sqrt{2\pi}}dx,

    with levels :math:`c_k` of ``scheme``, thresholds :math:`t_k` at their
    midpoints and :math:`t_{-1} = -\infty`, :math:`t_{\max} = +\infty`. The
    antiderivative
    :math:`F(x;c) = \frac{\sigma^2+c^2}{2}\operatorname{erf}\frac{x}{\sigma\sqrt2}
    - \frac{\sigma(x-2c)}{\sqrt{2\pi}}e^{-x^2/(2\sigma^2)}` is derived once
    by sympy; the result collects the terms of each threshold.

    Parameters
    ----------
    M : int
        Bit-width (``>= 2`` for ``'symmetric'``); the sum has
        :math:`O(2^M)` terms.
    scheme : {'paper', 'midrise', 'signed', 'symmetric'}
        Level set.

    Returns
    -------
    sympy.Expr
        In ``sigma`` and ``Delta``.

    Raises
    ------
    InvalidArgument
        For an invalid bit-width or scheme.

    See Also
    --------
    gaussian_additive_mse, quanttheory.mse

    Notes
    -----
    Neighbouring cells nearly cancel in floating point when
    :math:`\Delta \ll \sigma`: evaluate with mpmath
    (``sympy.lambdify(..., modules='mpmath')``) for full accuracy.

    References
    ----------
    .. [1] J. Max, "Quantizing for minimum distortion", IRE Trans. Inf.
       Theory 6(1), 1960, doi:10.1109/TIT.1960.1057548.

    Examples
    --------
    >>> from quanttheory import symbolic
    >>> s = symbolic.symbols()
    >>> d = symbolic.gaussian_exact_mse(1, "midrise")
    >>> d
    Delta**2/4 - sqrt(2)*Delta*sigma/sqrt(pi) + sigma**2
    >>> import sympy
    >>> opt = sympy.solve(sympy.diff(d, s.Delta), s.Delta)[0]  # Max (1960), 1 bit
    >>> opt, sympy.simplify(d.subs(s.Delta, opt))
    (2*sqrt(2)*sigma/sqrt(pi), sigma**2*(-2 + pi)/pi)
    """
    s = get_scheme("gaussian_exact_mse", scheme, M)
    return _gaussian_exact(s.bits, s.name)
