r"""Lemma 1 for any MSE expression: the second-order expansion in the step."""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ._symbols import in_powers_of_two, is_zero, symbols, tidy_powers

__all__ = ["SecondOrderExpansion", "second_order_expansion"]


@dataclass(frozen=True)
class SecondOrderExpansion:
    r"""Taylor expansion of :math:`D(\Delta)` to second order around a point.

    Returned by :func:`second_order_expansion`; the constructor parameters
    are also the attributes.

    Parameters
    ----------
    point : sympy.Expr
        Expansion point :math:`\Delta_0`.
    value, slope, curvature : sympy.Expr
        :math:`D(\Delta_0)`, :math:`D'(\Delta_0)` and :math:`D''(\Delta_0)`.
    taylor : sympy.Expr
        :math:`D(\Delta_0) + D'(\Delta_0)\varepsilon + D''(\Delta_0)\varepsilon^2/2`.
    gamma : sympy.Expr
        Lemma 1's sensitivity :math:`|D''(\Delta_0)|\,\varepsilon^2/2`.
    exact_change : sympy.Expr
        :math:`D(\Delta_0+\varepsilon) - D(\Delta_0)`.
    remainder : sympy.Expr
        ``exact_change`` minus the first- and second-order terms: what
        Lemma 1 neglects besides the first-order term (expanded when it is
        a polynomial in :math:`\varepsilon`).
    stationary : bool or None
        Whether :math:`D'(\Delta_0) = 0` (None: sympy could not decide).
    text : str
        What the first-order term does at this point.

    Examples
    --------
    >>> import sympy
    >>> from quanttheory import symbolic
    >>> s = symbolic.symbols()
    >>> d = (s.Delta - 1) ** 2 + s.Delta**3
    >>> t = symbolic.second_order_expansion(d, s.Delta, sympy.Integer(1))
    >>> isinstance(t, symbolic.SecondOrderExpansion), t.point, t.gamma
    (True, 1, 4*epsilon**2)
    >>> t.taylor
    4*epsilon**2 + 3*epsilon + 1
    """

    point: sp.Expr
    value: sp.Expr
    slope: sp.Expr
    curvature: sp.Expr
    taylor: sp.Expr
    gamma: sp.Expr
    exact_change: sp.Expr
    remainder: sp.Expr
    stationary: bool | None
    text: str


def _tidy(e: sp.Expr) -> sp.Expr:
    """Cheap canonical form: a rational function of 2**M, factored."""
    try:
        return in_powers_of_two(e, sp.factor)
    except (sp.PolynomialError, NotImplementedError):  # pragma: no cover
        return e


def second_order_expansion(expr, variable=None, point=None, eps=None):
    r"""Expand an MSE expression to second order in the step (Lemma 1).

    .. math::

        D(\Delta_0+\varepsilon) = D(\Delta_0) + D'(\Delta_0)\,\varepsilon
        + \tfrac12 D''(\Delta_0)\,\varepsilon^2 + O(\varepsilon^3),
        \qquad
        \Gamma(X,\varepsilon) = \left|D''(\Delta_0)\right|
        \frac{\varepsilon^2}{2}.

    Lemma 1 drops :math:`D'(\Delta_0)\varepsilon` because the expansion point
    is the optimal step, a stationary point. This function checks that
    claim symbolically (``stationary``) instead of assuming it, and keeps
    the exact change and the remainder so that the neglected terms can be
    inspected.

    Parameters
    ----------
    expr : sympy.Expr
        The MSE as a function of ``variable``.
    variable : sympy.Symbol, optional
        The step; default ``symbols().Delta``.
    point : sympy.Expr
        Expansion point :math:`\Delta_0` (for Lemma 1, the optimal step).
    eps : sympy.Symbol, optional
        The step error; default ``symbols().epsilon``.

    Returns
    -------
    SecondOrderExpansion
        Value, slope, curvature, Taylor polynomial, :math:`\Gamma`, the
        exact change and the remainder, whether the point is stationary,
        and a sentence about the first-order term.

    Raises
    ------
    ValueError
        If ``point`` is not given.

    See Also
    --------
    uniform_sensitivity : This expansion for Lemma 2 at Lemma 3's optimum.

    Notes
    -----
    The expansion is valid only where ``expr`` is the MSE on both sides of
    the point (a piecewise MSE has kinks; see :func:`uniform_exact_mse`).

    References
    ----------
    .. [1] M. Shkolnik et al., "Robust Quantization: One Model to Rule Them
       All", NeurIPS 2020, arXiv:2002.07686, supplementary Lemma 1.

    Examples
    --------
    >>> import sympy
    >>> from quanttheory import symbolic
    >>> s = symbolic.symbols()
    >>> d = (s.Delta - 1) ** 2 + s.Delta**3
    >>> t = symbolic.second_order_expansion(d, s.Delta, sympy.Integer(1))
    >>> t.slope, t.curvature, t.stationary
    (3, 8, False)
    >>> t.remainder
    epsilon**3
    """
    s = symbols()
    var = s.Delta if variable is None else variable
    e = s.epsilon if eps is None else eps
    if point is None:
        raise ValueError("second_order_expansion: pass the expansion point")
    expr = sp.sympify(expr)
    point = sp.sympify(point)
    value = _tidy(expr.subs(var, point))
    slope = _tidy(sp.diff(expr, var).subs(var, point))
    curvature = _tidy(sp.diff(expr, var, 2).subs(var, point))
    taylor = value + slope * e + curvature * e**2 / 2
    gamma = _tidy(sp.Abs(curvature) * e**2 / 2)
    exact_change = expr.subs(var, point + e) - expr.subs(var, point)
    remainder = exact_change - slope * e - curvature * e**2 / 2
    if remainder.is_polynomial(e):
        poly = sp.Poly(sp.expand(remainder), e)
        remainder = sum((_tidy(c) * e**k for (k,), c in poly.terms()), sp.Integer(0))
        exact_change = tidy_powers(
            sp.expand(slope * e + curvature * e**2 / 2) + remainder
        )
    stationary = is_zero(slope)
    if stationary:
        text = (
            "D'(point) = 0: the point is stationary, so the first-order term "
            "vanishes and Lemma 1's Gamma = |D''| eps^2/2 is the change of the "
            "MSE up to O(eps^3)."
        )
    elif stationary is False:
        text = (
            "D'(point) != 0: the point is not stationary, so the first-order "
            "term D'(point)*eps does not vanish and dominates Gamma for small eps."
        )
    else:  # pragma: no cover - depends on sympy's power to decide
        text = "sympy could not decide whether D'(point) = 0."
    return SecondOrderExpansion(
        point=point,
        value=value,
        slope=slope,
        curvature=curvature,
        taylor=taylor,
        gamma=gamma,
        exact_change=exact_change,
        remainder=remainder,
        stationary=stationary,
        text=text,
    )
