r"""Lemmas 2 and 3 for the uniform law, derived by sympy from their integrals.

The source is :math:`X_U \sim \mathcal U[-a, a]` with density
:math:`1/(2a)`, the quantizer the seed's ``'paper'`` scheme: levels
:math:`k\Delta`, :math:`|k| \le K = 2^{M-1}`, nearest-level rounding, so the
decision thresholds are :math:`(k+\tfrac12)\Delta` and the outermost ones
:math:`\pm(K-\tfrac12)\Delta`.

Two routes are derived and compared:

* the seed's Eq. (6): tail, granular and probability integrals, with the
  rounding error uniform on :math:`[-\Delta/2, \Delta/2]`
  (:func:`uniform_mse`);
* the exact cell sum: the error integral :math:`\int (x-c_k)^2/(2a)\,dx`
  over every cell that meets :math:`[-a, a]` (:func:`uniform_exact_mse`).

They agree identically whenever the outermost threshold lies inside the
support, :math:`(K-\tfrac12)\Delta \le a`, which is a wider domain than the
seed's :math:`K\Delta \le a`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import sympy as sp

from .._core.checks import check_bits
from ._symbols import (
    Step,
    in_powers_of_two,
    is_zero,
    sign_for_bits,
    symbols,
    tidy_powers,
)
from ._taylor import SecondOrderExpansion, second_order_expansion

__all__ = [
    "StationaryPoint",
    "UniformCurvature",
    "UniformExactMSE",
    "UniformMSE",
    "UniformOptimalSteps",
    "UniformSensitivity",
    "uniform_curvature",
    "uniform_exact_mse",
    "uniform_mse",
    "uniform_optimal_steps",
    "uniform_sensitivity",
]


def _half_k():
    """:math:`K = 2^{M-1}`, the largest level index of the 'paper' scheme."""
    return 2 ** (symbols().M - 1)


def _f(e: sp.Expr) -> sp.Expr:
    """Factor as a rational function of :math:`2^M`."""
    return in_powers_of_two(e, sp.factor)


# ---------------------------------------------------------------------------
# Lemma 2 from the seed's Eq. (6)
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class UniformMSE:
    r"""Lemma 2, derived from the seed's Eq. (6). See :func:`uniform_mse`.

    The constructor parameters are also the attributes.

    Parameters
    ----------
    expr : sympy.Expr
        :math:`\mathrm{MSE}(X_U, \Delta)` in ``a``, ``Delta`` and ``M``.
    in_tau : sympy.Expr
        The same before substituting :math:`\tau = 2^{M-1}\Delta` (Eq. (12)).
    tau : sympy.Expr
        :math:`2^{M-1}\Delta`.
    steps : tuple of Step
        The integrals of Eqs. (7)-(12) and their values.
    seed_domain : sympy.Interval
        Steps for which the seed states the lemma, :math:`2^{M-1}\Delta\le a`.
    domain : sympy.Interval
        Steps for which ``expr`` is the exact MSE,
        :math:`\Delta \le 2a/(2^M-1)` (derived, see ``text``).
    exact_cell_sum : sympy.Expr
        The exact cell sum with every level occupied, for comparison.
    text : str
        The finding about the domain, in words.

    Examples
    --------
    >>> from quanttheory import symbolic
    >>> res = symbolic.uniform_mse()
    >>> isinstance(res, symbolic.UniformMSE), res.tau, res.seed_domain
    (True, 2**(M - 1)*Delta, Interval.Lopen(0, 2**(1 - M)*a))
    """

    expr: sp.Expr
    in_tau: sp.Expr
    tau: sp.Expr
    steps: tuple[Step, ...]
    seed_domain: sp.Interval
    domain: sp.Interval
    exact_cell_sum: sp.Expr
    text: str


@functools.lru_cache(maxsize=1)
def uniform_mse() -> UniformMSE:
    r"""Lemma 2: the MSE of the uniform law, built from the seed's Eq. (6).

    With :math:`\tau = 2^{M-1}\Delta` and :math:`X_U\sim\mathcal U[-a,a]`,

    .. math::

        \mathrm{MSE} = 2\,E[(x-\tau)^2 \mid x>\tau]\,P[x>\tau]
        + E[e^2]\,P[|x|\le\tau],

    where :math:`E[(x-\tau)^2\mid x>\tau] = \int_\tau^a
    \frac{(x-\tau)^2}{a-\tau}dx`, :math:`P[x>\tau] = \int_\tau^a
    \frac{dx}{2a}`, the rounding error :math:`e` is uniform on
    :math:`[-\Delta/2,\Delta/2]`, :math:`E[e^2] = \int e^2/\Delta\,de` and
    :math:`P[|x|\le\tau] = \int_{-\tau}^{\tau}\frac{dx}{2a}`. sympy evaluates
    each integral; the sum is

    .. math::

        \mathrm{MSE}(X_U,\Delta) = \frac{(a-2^{M-1}\Delta)^3}{3a}
        + \frac{2^{M}\Delta^3}{24a}.

    Returns
    -------
    UniformMSE
        The expression, its form in :math:`\tau`, the derivation steps, the
        seed's domain, the derived exact domain, the exact cell sum and a
        statement of the finding.

    See Also
    --------
    uniform_exact_mse : The exact MSE for every step.
    uniform_optimal_steps : Lemma 3.

    Notes
    -----
    Domain. The seed proves the lemma for :math:`2^{M-1}\Delta \le a` (the
    clipping level inside the support). The exact cell sum with all
    :math:`2^M+1` levels occupied equals this cubic *identically*; it only
    needs the outermost decision threshold :math:`(2^{M-1}-\tfrac12)\Delta`
    inside :math:`[-a,a]`, i.e. :math:`\Delta \le 2a/(2^M-1)`. For
    :math:`a/2^{M-1} < \Delta \le 2a/(2^M-1)` the top level lies beyond
    :math:`a`, Eq. (6)'s "probabilities" leave :math:`[0, 1]`
    (:math:`P[x>\tau] < 0`), yet the cubic is still exact: the top cell's
    partial integral :math:`\int_{(K-1/2)\Delta}^{a}(x-K\Delta)^2dx/(2a)`
    continues the same polynomial. The additive-noise model of
    :func:`quanttheory.mse` (``model='additive'``) clamps the probabilities
    instead and is *not* exact there.

    References
    ----------
    .. [1] M. Shkolnik et al., "Robust Quantization: One Model to Rule Them
       All", NeurIPS 2020, arXiv:2002.07686, supplementary Lemma 2,
       Eqs. (6)-(12).

    Examples
    --------
    >>> import sympy
    >>> from quanttheory import symbolic
    >>> res = symbolic.uniform_mse()
    >>> res.expr
    2**(M - 1)*Delta**3/(12*a) + (-2**(M - 1)*Delta + a)**3/(3*a)
    >>> res.domain
    Interval.Lopen(0, 2*a/(2**M - 1))
    >>> s = symbolic.symbols()
    >>> res.expr.subs({s.a: 1, s.M: 2, s.Delta: sympy.Rational(1, 5)})
    11/150
    """
    s = symbols()
    a, d, x, tau = s.a, s.Delta, s.x, s.tau
    e = sp.Symbol("e", real=True)
    # Eq. (7): conditional tail error, density 1/(a - tau) on [tau, a]
    cond_tail = sp.factor(sp.integrate((x - tau) ** 2 / (a - tau), (x, tau, a)))
    # Eq. (8): P[x > tau]
    p_tail = sp.factor(sp.integrate(1 / (2 * a), (x, tau, a)))
    # Eq. (10): rounding error uniform on [-Delta/2, Delta/2]
    granular = sp.integrate(e**2 / d, (e, -d / 2, d / 2))
    # Eq. (11): P[|x| <= tau]
    p_inner = sp.integrate(1 / (2 * a), (x, -tau, tau))
    tail = sp.factor(cond_tail * p_tail)  # Eq. (9)
    in_tau = 2 * tail + granular * p_inner  # Eq. (12), first form
    k = _half_k()
    expr = in_tau.subs(tau, k * d)

    exact = uniform_exact_mse()
    cell_sum = exact.branch.subs(s.n, k)
    if not is_zero(cell_sum - expr):  # pragma: no cover - a derivation check
        raise RuntimeError("uniform_mse: Eq. (6) and the cell sum disagree")
    edge = _f(exact.branch_upper.subs(s.n, k))  # 2a/(2^M - 1)
    seed_edge = _f(sp.solve(sp.Eq(k * d, a), d)[0])  # tau = a
    steps = (
        Step(
            "E[(x - tau)^2 | x > tau]",
            cond_tail,
            "Eq. (7): int_tau^a (x-tau)^2/(a-tau) dx",
        ),
        Step("P[x > tau]", p_tail, "Eq. (8): int_tau^a dx/(2a)"),
        Step("E[(x - tau)^2 | x > tau] P[x > tau]", tail, "Eq. (9)"),
        Step("E[e^2 | |x| <= tau]", granular, "Eq. (10): e uniform on [-D/2, D/2]"),
        Step("P[|x| <= tau]", p_inner, "Eq. (11): int_{-tau}^{tau} dx/(2a)"),
        Step("MSE(tau)", in_tau, "Eq. (12): 2 x Eq. (9) + Eq. (10) x Eq. (11)"),
        Step("MSE(Delta)", expr, "substitute tau = 2^(M-1) Delta"),
        Step(
            "exact cell sum, all levels occupied",
            cell_sum,
            "equal to MSE(Delta) identically (difference simplifies to 0)",
        ),
    )
    text = (
        "The seed states Lemma 2 for 2^(M-1)*Delta <= a (Delta <= "
        f"{seed_edge}). The exact cell sum with all 2^M + 1 levels occupied "
        "is the same cubic identically, and it only requires the outermost "
        "decision threshold (2^(M-1) - 1/2)*Delta <= a, i.e. Delta <= "
        f"{edge}. When the top level passes a, the top cell's partial "
        "integral int_{(K-1/2)Delta}^{a} (x - K Delta)^2 dx/(2a) continues the "
        "same cubic, although Eq. (6)'s P[x > tau] is then negative. Beyond "
        f"{edge} the outer levels lose their cells and the MSE follows other "
        "branches (uniform_exact_mse)."
    )
    return UniformMSE(
        expr=expr,
        in_tau=in_tau,
        tau=k * d,
        steps=steps,
        seed_domain=sp.Interval.Lopen(0, seed_edge),
        domain=sp.Interval.Lopen(0, edge),
        exact_cell_sum=cell_sum,
        text=text,
    )


# ---------------------------------------------------------------------------
# The exact MSE for every step: a branch per number of occupied levels
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class UniformExactMSE:
    r"""The exact MSE of the uniform law, piecewise in the step.

    See :func:`uniform_exact_mse`. The constructor parameters are also the
    attributes.

    Parameters
    ----------
    n : sympy.Symbol
        Number of occupied positive levels (levels :math:`1..n` meet
        :math:`(0, a]`); there are :math:`2n-1` full cells.
    full_cells : sympy.Expr
        :math:`j = 2n - 1`.
    branch : sympy.Expr
        The MSE on branch :math:`n`.
    branch_lower, branch_upper : sympy.Expr
        The branch holds for ``branch_lower < Delta <= branch_upper``
        (:math:`2a/(2n+1)` and :math:`2a/(2n-1)`); for :math:`n = 2^{M-1}`
        the lower end is 0.
    branch_derivative : sympy.Expr
        :math:`\partial D/\partial\Delta` on branch :math:`n`, factored.
    lemma2 : sympy.Expr
        Branch :math:`n = 2^{M-1}`, which is Lemma 2.
    lemma2_domain : sympy.Interval
        Where ``lemma2`` is the exact MSE, :math:`0 < \Delta \le 2a/(2^M-1)`.
    next_branch : sympy.Expr
        Branch :math:`n = 2^{M-1}-1`.
    next_domain : sympy.Interval
        :math:`2a/(2^M-1) < \Delta \le 2a/(2^M-3)` (for :math:`M \ge 2`;
        for :math:`M = 1` it is the beyond-range branch).
    beyond_range : sympy.Expr
        :math:`a^2/3`: every input in the zero cell.
    beyond_domain : sympy.Interval
        :math:`\Delta \ge 2a`.
    closed_form : sympy.Expr
        One expression for every :math:`\Delta>0`: ``branch`` with
        :math:`n = \min(2^{M-1}, \lfloor a/\Delta + 1/2\rfloor)`.
    steps : tuple of Step
        The cell integrals on branch :math:`n` (zero cell, full cells, cut
        cell), their sum, the beyond-range value and the derivative.
    text : str
        The branches and their domains, in words.

    Examples
    --------
    >>> from quanttheory import symbolic
    >>> ex = symbolic.uniform_exact_mse()
    >>> isinstance(ex, symbolic.UniformExactMSE), ex.full_cells, ex.lemma2_domain
    (True, 2*n - 1, Interval.Lopen(0, 2*a/(2**M - 1)))
    >>> [st.label for st in ex.steps][:2]
    ['zero cell', 'full cells 1..n-1 (one side)']
    """

    n: sp.Symbol
    full_cells: sp.Expr
    branch: sp.Expr
    branch_lower: sp.Expr
    branch_upper: sp.Expr
    branch_derivative: sp.Expr
    lemma2: sp.Expr
    lemma2_domain: sp.Interval
    next_branch: sp.Expr
    next_domain: sp.Interval
    beyond_range: sp.Expr
    beyond_domain: sp.Interval
    closed_form: sp.Expr
    steps: tuple[Step, ...]
    text: str

    def piecewise(self, bits: int) -> sp.Piecewise:
        r"""The exact MSE for a given bit-width as a sympy ``Piecewise``.

        Branches :math:`n = 2^{M-1}, 2^{M-1}-1, \dots, 1`, then
        :math:`a^2/3`; :math:`2^{M-1}+1` pieces.

        Parameters
        ----------
        bits : int
            Bit-width :math:`M \ge 1`.

        Returns
        -------
        sympy.Piecewise
            In ``a`` and ``Delta``.

        Examples
        --------
        >>> from quanttheory import symbolic
        >>> symbolic.uniform_exact_mse().piecewise(1)  # doctest: +NORMALIZE_WHITESPACE
        Piecewise((Delta**3/(12*a) + (-Delta + a)**3/(3*a), Delta <= 2*a),
        (a**2/3, True))
        """
        m = check_bits("uniform_exact_mse.piecewise", bits)
        return _piecewise(self, m)


@functools.lru_cache(maxsize=32)
def _piecewise(exact: UniformExactMSE, bits: int) -> sp.Piecewise:
    s = symbols()
    top = 2 ** (bits - 1)
    pieces = [
        (exact.branch.subs(s.n, j), s.Delta <= exact.branch_upper.subs(s.n, j))
        for j in range(top, 0, -1)
    ]
    pieces.append((exact.beyond_range, True))
    return sp.Piecewise(*pieces)


@functools.lru_cache(maxsize=1)
def uniform_exact_mse() -> UniformExactMSE:
    r"""The exact MSE of the uniform law for every step, by the cell sum.

    Let :math:`n` be the number of positive levels whose cell meets
    :math:`(0, a]`, i.e. of decision thresholds :math:`(j-\tfrac12)\Delta
    \le a`, :math:`1 \le j \le K = 2^{M-1}`. Then the zero cell and the
    cells of :math:`\pm1, \dots, \pm(n-1)` are full (:math:`2n-1` cells),
    the cells of :math:`\pm n` are cut by :math:`\pm a`, and

    .. math::

        \mathrm{MSE} = \int_{-\Delta/2}^{\Delta/2}\frac{t^2}{2a}dt
        + 2\sum_{k=1}^{n-1}\int_{-\Delta/2}^{\Delta/2}\frac{t^2}{2a}dt
        + 2\int_{-\Delta/2}^{a-n\Delta}\frac{t^2}{2a}dt
        = \frac{(a-n\Delta)^3}{3a} + \frac{n\Delta^3}{12a},

    valid for :math:`\frac{2a}{2n+1} < \Delta \le \frac{2a}{2n-1}` when
    :math:`n < K`, and for :math:`0 < \Delta \le \frac{2a}{2K-1}` when
    :math:`n = K` (Lemma 2). For :math:`\Delta \ge 2a` every input falls in
    the zero cell: :math:`a^2/3` (also the :math:`n=0` value of the
    formula). In one expression,
    :math:`n = \min(2^{M-1}, \lfloor a/\Delta+\tfrac12\rfloor)`.

    Returns
    -------
    UniformExactMSE
        The branch formula in :math:`n`, its interval and derivative,
        Lemma 2's branch, the next branch, the beyond-range branch, a
        closed form for every :math:`\Delta` and ``piecewise(bits)``.

    See Also
    --------
    uniform_mse : Lemma 2 from the seed's Eq. (6).

    Notes
    -----
    On branch :math:`n`,

    .. math::

        \frac{\partial\,\mathrm{MSE}}{\partial\Delta} = \frac{n}{4a}
        \big((2n+1)\Delta - 2a\big)\big(2a - (2n-1)\Delta\big),

    which vanishes at both ends of the branch and is positive inside it
    for :math:`n < K`. So the MSE is continuously differentiable, has a
    zero slope at every kink :math:`2a/(2n-1)` (where the second derivative
    jumps from :math:`-n` to :math:`n-1`: a stationary inflection, not an
    extremum), increases strictly from the minimiser :math:`2a/(2^M+1)` up
    to :math:`\Delta = 2a` and is constant beyond.

    References
    ----------
    .. [1] M. Shkolnik et al., "Robust Quantization: One Model to Rule Them
       All", NeurIPS 2020, arXiv:2002.07686, supplementary Lemma 2.

    Examples
    --------
    >>> from quanttheory import symbolic
    >>> ex = symbolic.uniform_exact_mse()
    >>> ex.branch
    Delta**3*n/(12*a) + (-Delta*n + a)**3/(3*a)
    >>> ex.next_domain
    Interval.Lopen(2*a/(2**M - 1), 2*a/(2**M - 3))
    >>> ex.beyond_range, ex.beyond_domain
    (a**2/3, Interval(2*a, oo))
    """
    s = symbols()
    a, d, n = s.a, s.Delta, s.n
    k = sp.Dummy("k", integer=True)
    t = sp.Symbol("t", real=True)  # error coordinate t = x - c_k, as in the engine

    def cell(lo, hi):
        return sp.integrate(t**2 / (2 * a), (t, lo, hi))

    zero_cell = cell(-d / 2, d / 2)
    full = sp.Sum(cell(-d / 2, d / 2), (k, 1, n - 1)).doit()
    top = cell(-d / 2, a - n * d)  # level n*Delta, cut by a
    total = zero_cell + 2 * (full + top)
    branch = sp.Add(
        *[sp.factor(term) for term in sp.Add.make_args(sp.expand_mul(total))]
    )
    # the branch holds while threshold (n - 1/2) Delta <= a < (n + 1/2) Delta
    upper = sp.solve(sp.Eq((n - sp.Rational(1, 2)) * d, a), d)[0]
    lower = sp.solve(sp.Eq((n + sp.Rational(1, 2)) * d, a), d)[0]
    x = s.x
    beyond = sp.integrate(x**2 / (2 * a), (x, -a, a))  # all of [-a, a] in cell 0
    beyond_edge = sp.solve(sp.Eq(d / 2, a), d)[0]
    kk = _half_k()
    lemma2 = branch.subs(n, kk)
    nxt = branch.subs(n, kk - 1)
    closed = branch.subs(n, sp.Min(kk, sp.floor(a / d + sp.Rational(1, 2))))
    deriv = sp.factor(sp.diff(branch, d))
    steps = (
        Step("zero cell", zero_cell, "int_{-D/2}^{D/2} t^2/(2a) dt"),
        Step("full cells 1..n-1 (one side)", full, "Sum over k of the same integral"),
        Step("cut cell of level n (one side)", top, "int_{-D/2}^{a - nD} t^2/(2a) dt"),
        Step("MSE on branch n", branch, "zero cell + 2 (full + cut)"),
        Step("beyond range", beyond, "Delta >= 2a: int_{-a}^{a} x^2/(2a) dx"),
        Step("dMSE/dDelta on branch n", deriv, "zero at both branch ends"),
    )
    text = (
        "Branch n (n occupied positive levels, 2n - 1 full cells): "
        f"MSE = {branch} for {lower} < Delta <= {upper} (n < 2^(M-1)); "
        "n = 2^(M-1) is Lemma 2, exact for 0 < Delta <= 2a/(2^M - 1); "
        "n = 2^(M-1) - 1 is the next branch, 2a/(2^M - 1) < Delta <= "
        "2a/(2^M - 3), with the outermost occupied levels +-(2^(M-1) - 1) "
        "Delta cut by +-a; Delta >= 2a gives a^2/3. The derivative "
        f"{deriv} vanishes at every kink 2a/(2n - 1) and is positive inside "
        "each branch n < 2^(M-1): the MSE increases from the minimiser "
        "2a/(2^M + 1) up to Delta = 2a."
    )
    return UniformExactMSE(
        n=n,
        full_cells=2 * n - 1,
        branch=branch,
        branch_lower=lower,
        branch_upper=upper,
        branch_derivative=deriv,
        lemma2=lemma2,
        lemma2_domain=sp.Interval.Lopen(0, _f(upper.subs(n, kk))),
        next_branch=nxt,
        next_domain=sp.Interval.Lopen(_f(upper.subs(n, kk)), _f(upper.subs(n, kk - 1))),
        beyond_range=beyond,
        beyond_domain=sp.Interval(beyond_edge, sp.oo),
        closed_form=closed,
        steps=steps,
        text=text,
    )


# ---------------------------------------------------------------------------
# Lemma 3: the stationary points of Lemma 2's cubic
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class StationaryPoint:
    r"""A root of :math:`\partial\,\mathrm{MSE}/\partial\Delta` for Lemma 2.

    The ``roots`` of :func:`uniform_optimal_steps`; the constructor
    parameters are also the attributes.

    Parameters
    ----------
    step : sympy.Expr
        The root :math:`\Delta`, in ``a`` and ``M``.
    kind : str
        ``'minimum'`` or ``'maximum'`` of Lemma 2's cubic (from the sign of
        the second derivative).
    second_derivative : sympy.Expr
        :math:`\partial^2\mathrm{MSE}/\partial\Delta^2` of the cubic at the
        root.
    mse : sympy.Expr
        The cubic at the root.
    in_seed_domain : bool
        :math:`2^{M-1}\Delta \le a`.
    in_exact_domain : bool
        :math:`\Delta \le 2a/(2^M-1)`, where the cubic is the exact MSE.
    on_domain_edge : bool
        :math:`\Delta = 2a/(2^M-1)`.
    mse_is_granular : bool
        Whether the MSE there equals :math:`\Delta^2/12`.
    text : str
        What the root is, in words.

    Examples
    --------
    >>> from quanttheory import symbolic
    >>> best = symbolic.uniform_optimal_steps().minimiser
    >>> isinstance(best, symbolic.StationaryPoint), best.step, best.kind
    (True, 2*a/(2**M + 1), 'minimum')
    >>> best.mse, best.mse_is_granular, best.in_seed_domain
    (a**2/(3*(2**M + 1)**2), True, True)
    """

    step: sp.Expr
    kind: str
    second_derivative: sp.Expr
    mse: sp.Expr
    in_seed_domain: bool
    in_exact_domain: bool
    on_domain_edge: bool
    mse_is_granular: bool
    text: str


@dataclass(frozen=True)
class UniformOptimalSteps:
    r"""Both roots of Lemma 3 and the approximation :math:`2a/2^M`.

    See :func:`uniform_optimal_steps`. The constructor parameters are also
    the attributes.

    Parameters
    ----------
    derivative : sympy.Expr
        :math:`\partial\,\mathrm{MSE}/\partial\Delta` of Lemma 2, factored.
    roots : tuple of StationaryPoint
        :math:`2a/(2^M+1)` then :math:`2a/(2^M-1)`.
    minimiser : StationaryPoint
        The optimum :math:`\tilde\Delta = 2a/(2^M+1)`.
    spurious : StationaryPoint
        :math:`2a/(2^M-1)`, the cubic's local maximum.
    approximation : sympy.Expr
        :math:`2a/2^M` (the seed's Eq. (13)).
    relative_error : sympy.Expr
        :math:`(2a/2^M - \tilde\Delta)/\tilde\Delta = 2^{-M}`.
    relative_error_vs_approximation : sympy.Expr
        :math:`(\tilde\Delta - 2a/2^M)/(2a/2^M) = -1/(2^M+1)`.
    mse_at_approximation : sympy.Expr
        :math:`\mathrm{MSE}(2a/2^M)` from Lemma 2.
    mse_excess : sympy.Expr
        :math:`\mathrm{MSE}(2a/2^M) - \mathrm{MSE}(\tilde\Delta)`.
    mse_excess_relative : sympy.Expr
        ``mse_excess`` over :math:`\mathrm{MSE}(\tilde\Delta)`.
    text : str
        The roots, which one is the optimum, and the approximation's cost, in
        words.

    Examples
    --------
    >>> from quanttheory import symbolic
    >>> opt = symbolic.uniform_optimal_steps()
    >>> isinstance(opt, symbolic.UniformOptimalSteps), opt.approximation
    (True, 2*a/2**M)
    >>> opt.mse_at_approximation
    a**2/(3*4**M)
    """

    derivative: sp.Expr
    roots: tuple[StationaryPoint, StationaryPoint]
    minimiser: StationaryPoint
    spurious: StationaryPoint
    approximation: sp.Expr
    relative_error: sp.Expr
    relative_error_vs_approximation: sp.Expr
    mse_at_approximation: sp.Expr
    mse_excess: sp.Expr
    mse_excess_relative: sp.Expr
    text: str


def _classify(step, d2, mse, edge, k) -> StationaryPoint:
    s = symbols()
    sign = sign_for_bits(d2)
    kind = {1: "minimum", -1: "maximum"}.get(sign)
    if kind is None:  # pragma: no cover - both roots are decided by sympy
        raise RuntimeError(f"uniform_optimal_steps: cannot classify {step}")
    in_seed = sign_for_bits((s.a - k * step) / s.a) in (0, 1)
    gap = sign_for_bits((edge - step) / s.a)
    in_exact = gap in (0, 1)
    on_edge = gap == 0
    granular = bool(is_zero(mse - step**2 / 12))
    if kind == "minimum":
        text = (
            f"Minimiser: D'' = {d2} > 0, inside the seed's domain (2^(M-1) "
            "Delta <= a) and the exact domain. There the cells of the 2^M + 1 "
            "levels tile [-a, a] exactly ((2^(M-1) + 1/2) Delta = a), nothing "
            f"is clipped, and MSE = {mse}" + (" = Delta^2/12." if granular else ".")
        )
    else:
        text = (
            f"Spurious: D'' = {d2} < 0, a local MAXIMUM of Lemma 2's cubic. It "
            "lies outside the seed's domain (2^(M-1) Delta > a) and exactly on "
            "the edge 2a/(2^M - 1) of the domain where the cubic is the exact "
            "MSE; beyond it the exact MSE leaves the cubic (next branch) and "
            "keeps increasing, so this root is a stationary inflection of the "
            "exact MSE, not an optimum."
        )
    return StationaryPoint(
        step=step,
        kind=kind,
        second_derivative=d2,
        mse=mse,
        in_seed_domain=in_seed,
        in_exact_domain=in_exact,
        on_domain_edge=on_edge,
        mse_is_granular=granular,
        text=text,
    )


@functools.lru_cache(maxsize=1)
def uniform_optimal_steps() -> UniformOptimalSteps:
    r"""Lemma 3: both roots of :math:`\partial_\Delta\mathrm{MSE}`, classified.

    Differentiating Lemma 2 and solving,

    .. math::

        \frac{\partial\,\mathrm{MSE}}{\partial\Delta}
        = \frac{2^{M-1}}{4a}\big((2^M+1)\Delta - 2a\big)
        \big(2a - (2^M-1)\Delta\big) = 0
        \iff \Delta = \frac{2a}{2^M \pm 1}.

    * :math:`\tilde\Delta = 2a/(2^M+1)`: :math:`D'' = 2^{M-1} > 0`, the
      minimiser; the :math:`2^M+1` cells tile :math:`[-a,a]` and
      :math:`\mathrm{MSE} = \tilde\Delta^2/12`.
    * :math:`2a/(2^M-1)`: :math:`D'' = -2^{M-1} < 0`, a local maximum of the
      cubic, exactly at the edge of the domain where the cubic is exact; it
      is spurious as an optimum.

    Returns
    -------
    UniformOptimalSteps
        The derivative, both roots with their classification, the
        approximation :math:`2a/2^M`, its relative error and its MSE
        excess.

    See Also
    --------
    uniform_mse, uniform_curvature, quanttheory.optimal_step

    Notes
    -----
    The approximation :math:`2a/2^M` (Eq. (13)) overshoots the optimum by the
    relative error :math:`2^{-M}` (equivalently, the optimum is
    :math:`-1/(2^M+1)` relative to the approximation), and costs

    .. math::

        \frac{\mathrm{MSE}(2a/2^M)}{\mathrm{MSE}(\tilde\Delta)} - 1
        = \frac{2^{M+1}+1}{4^M}.

    References
    ----------
    .. [1] M. Shkolnik et al., "Robust Quantization: One Model to Rule Them
       All", NeurIPS 2020, arXiv:2002.07686, supplementary Lemma 3.

    Examples
    --------
    >>> from quanttheory import symbolic
    >>> opt = symbolic.uniform_optimal_steps()
    >>> [(r.step, r.kind, r.second_derivative) for r in opt.roots]
    [(2*a/(2**M + 1), 'minimum', 2**(M - 1)), (2*a/(2**M - 1), 'maximum', -2**(M - 1))]
    >>> opt.relative_error, opt.mse_excess_relative
    (2**(-M), (2**(M + 1) + 1)/4**M)
    """
    s = symbols()
    a, d = s.a, s.Delta
    k = _half_k()
    d_mse = uniform_mse().expr
    d1 = sp.diff(d_mse, d)
    d2 = sp.diff(d_mse, d, 2)
    roots = sp.solve(d1, d)
    edge = uniform_mse().domain.end
    points = []
    for r in roots:
        r = _f(r)
        points.append(
            _classify(r, _powers(_f(d2.subs(d, r))), _f(d_mse.subs(d, r)), edge, k)
        )
    points.sort(key=lambda p: p.kind != "minimum")
    mini, spur = points
    approx = 2 * a / 2**s.M
    rel = _powers(_f((approx - mini.step) / mini.step))
    rel_vs = _f((mini.step - approx) / approx)
    mse_approx = _f(d_mse.subs(d, approx))
    excess = _f(mse_approx - mini.mse)
    text = (
        "Setting dMSE/dDelta = 0 gives Delta = 2a/(2^M +- 1). 2a/(2^M + 1) is "
        "the minimiser (D'' = 2^(M-1) > 0). 2a/(2^M - 1) is a local maximum of "
        "the cubic (D'' = -2^(M-1) < 0) at the very edge of the cubic's exact "
        "domain, outside the seed's domain: spurious as an optimum. The "
        f"approximation 2a/2^M has relative error {rel} (the optimum is "
        f"{rel_vs} relative to it) and raises the MSE by the factor "
        f"1 + {_f(excess / mini.mse)}."
    )
    return UniformOptimalSteps(
        derivative=_f(d1),
        roots=(mini, spur),
        minimiser=mini,
        spurious=spur,
        approximation=approx,
        relative_error=rel,
        relative_error_vs_approximation=rel_vs,
        mse_at_approximation=mse_approx,
        mse_excess=excess,
        mse_excess_relative=_f(excess / mini.mse),
        text=text,
    )


_powers = tidy_powers


# ---------------------------------------------------------------------------
# Curvature and the sensitivity of Lemma 1
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class UniformCurvature:
    r"""Second derivative of the uniform MSE. See :func:`uniform_curvature`.

    The constructor parameters are also the attributes.

    Parameters
    ----------
    expr : sympy.Expr
        :math:`\partial^2\mathrm{MSE}/\partial\Delta^2` on Lemma 2's branch.
    domain : sympy.Interval
        Where ``expr`` holds: :math:`0 < \Delta \le 2a/(2^M-1)` (the value
        at the right end is the left limit).
    at_optimum : sympy.Expr
        At :math:`2a/(2^M+1)`: :math:`2^{M-1}`.
    at_approximation : sympy.Expr
        At :math:`2a/2^M`: :math:`1/2`.
    at_kink_left, at_kink_right : sympy.Expr
        One-sided limits at :math:`2a/(2^M-1)`: :math:`-2^{M-1}` (the cubic)
        and :math:`2^{M-1}-1` (the next branch).
    branch : sympy.Expr
        :math:`D''` on branch :math:`n` of :func:`uniform_exact_mse`.
    third_derivative : sympy.Expr
        :math:`\partial^3\mathrm{MSE}/\partial\Delta^3` on Lemma 2's branch.

    Examples
    --------
    >>> from quanttheory import symbolic
    >>> c = symbolic.uniform_curvature()
    >>> isinstance(c, symbolic.UniformCurvature), c.domain
    (True, Interval.Lopen(0, 2*a/(2**M - 1)))
    >>> c.third_derivative
    -2**(M - 2)*(4**M - 1)/a
    """

    expr: sp.Expr
    domain: sp.Interval
    at_optimum: sp.Expr
    at_approximation: sp.Expr
    at_kink_left: sp.Expr
    at_kink_right: sp.Expr
    branch: sp.Expr
    third_derivative: sp.Expr


@functools.lru_cache(maxsize=1)
def uniform_curvature() -> UniformCurvature:
    r"""Curvature :math:`\partial^2\mathrm{MSE}/\partial\Delta^2` of the uniform MSE.

    On Lemma 2's branch (:math:`\Delta \le 2a/(2^M-1)`), with
    :math:`K = 2^{M-1}`,

    .. math::

        \frac{\partial^2\mathrm{MSE}}{\partial\Delta^2}
        = \frac{2K^2(a-K\Delta)}{a} + \frac{K\Delta}{2a},

    which is :math:`2^{M-1}` at the optimum :math:`2a/(2^M+1)` and
    :math:`1/2` at the approximation :math:`2a/2^M`; both are independent
    of :math:`a`.

    Returns
    -------
    UniformCurvature
        The expression, its values at the optimum, the approximation and
        both sides of the kink, the branch-:math:`n` form and the third
        derivative.

    See Also
    --------
    uniform_sensitivity, quanttheory.mse_derivative

    Notes
    -----
    At the kink :math:`2a/(2^M-1)` the curvature jumps from
    :math:`-2^{M-1}` to :math:`2^{M-1}-1`; on branch :math:`n` it runs from
    :math:`n` at :math:`2a/(2n+1)` down to :math:`-n` at :math:`2a/(2n-1)`.

    References
    ----------
    .. [1] M. Shkolnik et al., "Robust Quantization: One Model to Rule Them
       All", NeurIPS 2020, arXiv:2002.07686, supplementary Lemmas 1-3.

    Examples
    --------
    >>> from quanttheory import symbolic
    >>> c = symbolic.uniform_curvature()
    >>> c.at_optimum, c.at_approximation, c.at_kink_left, c.at_kink_right
    (2**(M - 1), 1/2, -2**(M - 1), 2**(M - 1) - 1)
    """
    s = symbols()
    d = s.Delta
    expr = uniform_mse().expr
    d2 = sp.diff(expr, d, 2)
    opt = uniform_optimal_steps()
    exact = uniform_exact_mse()
    edge = uniform_mse().domain.end
    branch_d2 = sp.factor(sp.diff(exact.branch, d, 2))
    right = _powers(_f(sp.diff(exact.next_branch, d, 2).subs(d, edge)))
    return UniformCurvature(
        expr=_powers(_f(d2)),
        domain=uniform_mse().domain,
        at_optimum=opt.minimiser.second_derivative,
        at_approximation=_f(d2.subs(d, opt.approximation)),
        at_kink_left=_powers(_f(d2.subs(d, edge))),
        at_kink_right=tidy_powers(sp.expand(right)),
        branch=branch_d2,
        third_derivative=_powers(_f(sp.diff(expr, d, 3))),
    )


@dataclass(frozen=True)
class UniformSensitivity:
    r"""Lemma 1 for the uniform law at Lemma 3's optimum.

    See :func:`uniform_sensitivity`. The constructor parameters are also the
    attributes.

    Parameters
    ----------
    step : sympy.Expr
        :math:`\tilde\Delta = 2a/(2^M+1)`.
    curvature : sympy.Expr
        :math:`D''(\tilde\Delta) = 2^{M-1}`.
    gamma : sympy.Expr
        :math:`\Gamma(X_U,\varepsilon) = |D''(\tilde\Delta)|\varepsilon^2/2
        = 2^{M-2}\varepsilon^2`.
    radius : sympy.Expr
        :math:`4a/(4^M-1)`: the distance from :math:`\tilde\Delta` to the
        kink :math:`2a/(2^M-1)`; for :math:`-\tilde\Delta < \varepsilon \le`
        ``radius`` the MSE is Lemma 2's cubic.
    exact_change : sympy.Expr
        :math:`\mathrm{MSE}(\tilde\Delta+\varepsilon) -
        \mathrm{MSE}(\tilde\Delta)` within the radius.
    cubic_term : sympy.Expr
        ``exact_change - gamma``: the only term Lemma 1 misses there.
    relative_miss : sympy.Expr
        ``cubic_term / gamma``.
    exact_change_next_branch : sympy.Expr
        The exact change for ``radius < epsilon <= next_radius``.
    next_radius : sympy.Expr
        Distance from :math:`\tilde\Delta` to :math:`2a/(2^M-3)` (:math:`M\ge2`).
    expansion : SecondOrderExpansion
        :func:`second_order_expansion` of Lemma 2 at :math:`\tilde\Delta`.
    text : str
        :math:`\Gamma`, the radius and what Lemma 1 misses, in words.

    Examples
    --------
    >>> from quanttheory import symbolic
    >>> sens = symbolic.uniform_sensitivity()
    >>> isinstance(sens, symbolic.UniformSensitivity), sens.step, sens.curvature
    (True, 2*a/(2**M + 1), 2**(M - 1))
    >>> sens.expansion.stationary
    True
    """

    step: sp.Expr
    curvature: sp.Expr
    gamma: sp.Expr
    radius: sp.Expr
    exact_change: sp.Expr
    cubic_term: sp.Expr
    relative_miss: sp.Expr
    exact_change_next_branch: sp.Expr
    next_radius: sp.Expr
    expansion: SecondOrderExpansion
    text: str


@functools.lru_cache(maxsize=1)
def uniform_sensitivity() -> UniformSensitivity:
    r"""Lemma 1's sensitivity :math:`\Gamma(X_U,\varepsilon)` in closed form.

    At the optimum :math:`\tilde\Delta = 2a/(2^M+1)`,

    .. math::

        \Gamma(X_U,\varepsilon) = \left|D''(\tilde\Delta)\right|
        \frac{\varepsilon^2}{2} = 2^{M-2}\varepsilon^2,

    independent of :math:`a`. Lemma 2's cubic is the exact MSE up to the
    kink :math:`2a/(2^M-1)`, so for :math:`-\tilde\Delta < \varepsilon \le
    4a/(4^M-1)` the exact change is the cubic's Taylor polynomial, and
    Lemma 1 misses only its :math:`\varepsilon^3` term:

    .. math::

        \mathrm{MSE}(\tilde\Delta+\varepsilon) - \mathrm{MSE}(\tilde\Delta)
        = 2^{M-2}\varepsilon^2 - \frac{2^{M-1}(4^M-1)}{12a}\varepsilon^3.

    Returns
    -------
    UniformSensitivity
        :math:`\Gamma`, the curvature, the validity radius, the exact change
        inside it and on the next branch, the cubic term and the full
        :class:`SecondOrderExpansion`.

    See Also
    --------
    second_order_expansion, uniform_curvature, quanttheory.sensitivity

    Notes
    -----
    Relative to :math:`\Gamma` the neglected term is
    :math:`-(4^M-1)\varepsilon/(6a)`: at the edge of the radius Lemma 1
    overstates the change threefold (:math:`\Gamma = 3\times` exact), and for
    :math:`\varepsilon<0` it understates it.

    References
    ----------
    .. [1] M. Shkolnik et al., "Robust Quantization: One Model to Rule Them
       All", NeurIPS 2020, arXiv:2002.07686, supplementary Lemma 1.

    Examples
    --------
    >>> from quanttheory import symbolic
    >>> sens = symbolic.uniform_sensitivity()
    >>> sens.gamma, sens.radius
    (2**(M - 2)*epsilon**2, 4*a/(4**M - 1))
    >>> sens.cubic_term
    -2**(M - 3)*epsilon**3*(4**M - 1)/(3*a)
    """
    s = symbols()
    d, e = s.Delta, s.epsilon
    opt = uniform_optimal_steps()
    exact = uniform_exact_mse()
    step = opt.minimiser.step
    expansion = second_order_expansion(uniform_mse().expr, d, step, e)
    if not expansion.stationary:  # pragma: no cover - a derivation check
        raise RuntimeError("uniform_sensitivity: the optimum is not stationary")
    edge = uniform_mse().domain.end
    radius = _f(edge - step)
    curvature = _powers(expansion.curvature)
    gamma = _powers(sp.factor(expansion.gamma))
    cubic = _powers(_f(expansion.remainder))
    exact_change = gamma + cubic
    nxt_edge = exact.next_domain.end
    nxt_change = exact.next_branch.subs(d, step + e) - opt.minimiser.mse
    text = (
        f"Gamma = |D''(opt)| eps^2/2 = {gamma} with D''(opt) = {curvature}. "
        f"Lemma 2's cubic is the exact MSE for -{step} < eps <= {radius} "
        "(the optimum to the kink 2a/(2^M - 1)); there the exact change is "
        f"{gamma} + ({cubic}): Lemma 1 misses only the eps^3 term, a relative "
        f"{_f(cubic / gamma)}."
    )
    return UniformSensitivity(
        step=step,
        curvature=curvature,
        gamma=gamma,
        radius=radius,
        exact_change=exact_change,
        cubic_term=cubic,
        relative_miss=_f(cubic / gamma),
        exact_change_next_branch=nxt_change,
        next_radius=_f(nxt_edge - step),
        expansion=expansion,
        text=text,
    )
