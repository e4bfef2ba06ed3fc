r"""Shared pieces of :mod:`quanttheory.symbolic`: symbols, level sets, helpers.

Everything symbolic is derived by sympy from integrals at call time (and
cached); no result is typed in. This module holds what the derivations share:

* the symbols, with assumptions (:math:`a, \Delta, \sigma, b > 0`, :math:`M`
  a positive integer, :math:`\varepsilon` real), so that sympy can decide
  signs and simplify :math:`2^{M}` powers;
* the level sets of the four schemes with a symbolic bit-width, written with
  :math:`K = 2^{M-1}` exactly as :func:`quanttheory.levels` tabulates them;
* :func:`in_powers_of_two`, which rewrites an expression in :math:`2^M` as a
  rational function of one positive symbol so that ``cancel``/``factor`` run
  in milliseconds instead of calling ``simplify`` on exponentials of ``M``;
* :class:`Step`, one line of a derivation (a label, an expression, a remark).

sympy is imported here at module level; :mod:`quanttheory` itself never
imports this module, so ``import quanttheory`` stays free of sympy.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp

from .._core.checks import check_choice
from .._core.scheme import SCHEMES

__all__ = ["Step", "Symbols", "symbols"]


@dataclass(frozen=True)
class Symbols:
    r"""The shared symbols of :mod:`quanttheory.symbolic`, with assumptions.

    Built once by :func:`symbols`; the constructor parameters are also the
    attributes.

    Parameters
    ----------
    a : sympy.Symbol
        Half-width of the uniform law on :math:`[-a, a]`, positive.
    Delta : sympy.Symbol
        Quantization step :math:`\Delta`, positive.
    M : sympy.Symbol
        Bit-width, a positive integer.
    epsilon : sympy.Symbol
        Signed step error :math:`\varepsilon = \Delta' - \tilde\Delta`, real.
    sigma : sympy.Symbol
        Standard deviation of the Gaussian law, positive.
    b : sympy.Symbol
        Scale of the Laplace law, positive.
    x : sympy.Symbol
        Integration variable (the input value), real.
    tau : sympy.Symbol
        Clipping level :math:`\tau`, positive.
    n : sympy.Symbol
        Number of occupied positive levels of the uniform law (a
        non-negative integer; see :func:`uniform_exact_mse`).

    Examples
    --------
    >>> from quanttheory import symbolic
    >>> s = symbolic.symbols()
    >>> isinstance(s, symbolic.Symbols), s.M, s.a.is_positive
    (True, M, True)
    """

    a: sp.Symbol
    Delta: sp.Symbol
    M: sp.Symbol
    epsilon: sp.Symbol
    sigma: sp.Symbol
    b: sp.Symbol
    x: sp.Symbol
    tau: sp.Symbol
    n: sp.Symbol


@functools.lru_cache(maxsize=1)
def symbols() -> Symbols:
    r"""The shared sympy symbols, each carrying its assumptions.

    Every expression of :mod:`quanttheory.symbolic` is written in these
    symbols, so results from different functions combine and cancel. sympy
    identifies a symbol by name *and* assumptions: ``sympy.Symbol("a")``
    (no assumptions) is a different symbol, so take them from here.

    Returns
    -------
    Symbols
        A frozen dataclass with ``a``, ``Delta``, ``M``, ``epsilon``,
        ``sigma``, ``b``, ``x``, ``tau`` and ``n``.

    See Also
    --------
    uniform_mse

    References
    ----------
    .. [1] M. Shkolnik et al., "Robust Quantization: One Model to Rule Them
       All", NeurIPS 2020, arXiv:2002.07686, supplementary Lemmas 1-3 (the
       notation :math:`a, \Delta, M, \varepsilon`).

    Examples
    --------
    >>> from quanttheory import symbolic
    >>> s = symbolic.symbols()
    >>> s.Delta.is_positive, s.M.is_integer, s.M.is_positive, s.epsilon.is_real
    (True, True, True, True)
    >>> import sympy
    >>> sympy.latex(s.Delta**2 / 12 + s.epsilon)
    '\\frac{\\Delta^{2}}{12} + \\epsilon'
    """
    return Symbols(
        a=sp.Symbol("a", positive=True),
        Delta=sp.Symbol("Delta", positive=True),
        M=sp.Symbol("M", integer=True, positive=True),
        epsilon=sp.Symbol("epsilon", real=True),
        sigma=sp.Symbol("sigma", positive=True),
        b=sp.Symbol("b", positive=True),
        x=sp.Symbol("x", real=True),
        tau=sp.Symbol("tau", positive=True),
        n=sp.Symbol("n", integer=True, nonnegative=True),
    )


@dataclass(frozen=True)
class Step:
    """One line of a derivation: what is computed, the result, and how.

    The ``steps`` of :func:`uniform_mse` and :func:`uniform_exact_mse` are
    tuples of these; the constructor parameters are also the attributes.

    Parameters
    ----------
    label : str
        What is computed, e.g. ``'E[(x - tau)^2 | x > tau]'``.
    expr : sympy.Expr
        The result.
    remark : str
        How it is obtained (the integral, the equation of the seed).

    Examples
    --------
    >>> from quanttheory import symbolic
    >>> first = symbolic.uniform_mse().steps[0]
    >>> first.label, first.expr
    ('E[(x - tau)^2 | x > tau]', (a - tau)**2/3)
    >>> first.remark
    'Eq. (7): int_tau^a (x-tau)^2/(a-tau) dx'
    """

    label: str
    expr: sp.Expr
    remark: str = ""


@dataclass(frozen=True)
class LevelSet:
    r"""A scheme's levels :math:`(k + o)\Delta`, :math:`k_{\min} \le k \le k_{\max}`.

    ``kmin`` and ``kmax`` are sympy expressions in :math:`K = 2^{M-1}` (or
    plain integers for a given bit-width); ``offset`` is 0 or 1/2.
    """

    name: str
    kmin: sp.Expr
    kmax: sp.Expr
    offset: sp.Rational

    @property
    def top(self) -> sp.Expr:
        """Largest level in units of the step."""
        return self.kmax + self.offset

    @property
    def bottom(self) -> sp.Expr:
        """Smallest level in units of the step."""
        return self.kmin + self.offset


def level_set(func: str, scheme, bits=None) -> LevelSet:
    r"""The level set of ``scheme`` for the symbol :math:`M` (or an integer).

    With :math:`K = 2^{M-1}` (the table of :func:`quanttheory.levels`):
    ``paper`` :math:`k=-K..K`, ``midrise`` :math:`k=-K..K-1` with offset
    1/2, ``signed`` :math:`k=-K..K-1`, ``symmetric`` :math:`k=-(K-1)..K-1`.
    """
    name = check_choice(func, "scheme", scheme, SCHEMES)
    m = symbols().M if bits is None else sp.Integer(bits)
    k = 2 ** (m - 1)
    zero, half = sp.Integer(0), sp.Rational(1, 2)
    table = {
        "paper": (-k, k, zero),
        "midrise": (-k, k - 1, half),
        "signed": (-k, k - 1, zero),
        "symmetric": (-(k - 1), k - 1, zero),
    }
    kmin, kmax, off = table[name]
    return LevelSet(name, kmin, kmax, off)


def _as_power_of_two(expr: sp.Expr) -> tuple[sp.Expr, sp.Dummy]:
    """``expr`` with every power of 2, 4, 8, ... in ``M`` written as ``X**p``."""
    big_x = sp.Dummy("X", positive=True)
    e = sp.sympify(expr).subs(symbols().M, sp.log(big_x) / sp.log(2))
    return sp.powsimp(sp.expand_power_exp(sp.expand_log(e, force=True))), big_x


def in_powers_of_two(
    expr: sp.Expr, fn: Callable[[sp.Expr], sp.Expr] = sp.factor
) -> sp.Expr:
    r"""Apply ``fn`` to ``expr`` seen as a function of :math:`X = 2^M`.

    Every power :math:`2^{pM+q}`, :math:`4^{pM+q}`, ... becomes a power of
    one positive symbol :math:`X`; the expression is then a rational
    function of :math:`X` and the other symbols, which ``factor`` or
    ``cancel`` handle quickly and canonically. On the way back,
    :math:`(X-1)(X+1)` is written :math:`X^2-1`, :math:`X^p` becomes
    :math:`(2^p)^M` (so :math:`4^M`, not :math:`2^{2M}`) and
    :math:`2^M/2^q` becomes :math:`2^{M-q}`.
    """
    e, big_x = _as_power_of_two(expr)
    e = fn(e).subs((big_x - 1) * (big_x + 1), big_x**2 - 1)
    return tidy_powers(e.subs(big_x, 2 ** symbols().M))


def tidy_powers(e: sp.Expr) -> sp.Expr:
    """Write ``2**M/2`` as ``2**(M - 1)`` and ``2**(2*M)`` as ``4**M``."""
    m = symbols().M
    e = sp.powsimp(sp.expand_power_base(e), combine="exp")

    def is_multiple(t):
        if not (t.is_Pow and t.base == 2):
            return False
        c = sp.expand(t.exp).coeff(m)
        return c.is_Integer and abs(c) > 1

    def split(t):
        ex = sp.expand(t.exp)
        c = ex.coeff(m)
        return sp.Pow(2 ** abs(c), sp.sign(c) * m) * 2 ** (ex - c * m)

    return e.replace(is_multiple, split)


def sign_for_bits(expr: sp.Expr) -> int | None:
    r"""The sign (+1, -1, 0) of ``expr`` for every bit-width :math:`M \ge 1`.

    Writes :math:`2^M = 2 + Y` with :math:`Y \ge 0`, so that sympy's
    assumption system can see, e.g., that :math:`2^M - 1 > 0`. Returns None
    when sympy cannot decide (the sign then depends on the other symbols).
    """
    e, big_x = _as_power_of_two(expr)
    y = sp.Dummy("Y", nonnegative=True)
    e = sp.factor(e.subs(big_x, y + 2))
    if e == 0:
        return 0
    if e.is_positive:
        return 1
    if e.is_negative:
        return -1
    return None


def is_zero(expr: sp.Expr) -> bool | None:
    """Decide ``expr == 0`` (True/False), or None if sympy cannot tell."""
    e = in_powers_of_two(sp.sympify(expr), sp.cancel)
    if e == 0:
        return True
    z = e.is_zero
    if z is not None:
        return z
    s = sp.simplify(e)
    return True if s == 0 else s.is_zero


def generic_branch(expr: sp.Expr, ratio: sp.Expr) -> sp.Expr:
    r"""Drop the ``Eq(ratio, 1)`` branch that ``Sum(...).doit()`` adds.

    A geometric sum :math:`\sum r^k` comes back as a ``Piecewise`` with a
    separate branch for :math:`r = 1`. Here :math:`r = e^{-\Delta/b} < 1`
    because :math:`\Delta, b > 0`, so the generic branch is the value.
    """

    def pick(pw):
        for e, cond in pw.args:
            if cond == sp.Eq(ratio, 1):
                continue
            if cond is sp.true:
                return e
            raise ValueError(f"unexpected branch condition {cond}")  # pragma: no cover
        raise ValueError("no generic branch")  # pragma: no cover

    return expr.replace(lambda e: isinstance(e, sp.Piecewise), pick)
