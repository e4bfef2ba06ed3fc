r"""The mean squared error of a uniform quantizer and its step derivatives.

Routes
------
``exact``, series (any bit-width)
    For :class:`Gaussian`, :class:`Laplace`, :class:`Uniform` and custom
    families with series hooks: the Euler-Maclaurin series of
    :mod:`quanttheory._laws.series` (exact tails, the granular term
    :math:`\frac{\Delta^2}{12}P[\tau_-\le X\le\tau_+]` and the
    Bernoulli-function corrections at the outer levels and at the density's
    breakpoints), truncated per step at the smallest order whose rigorous
    remainder bound is below :math:`2^{-56}` of the MSE. :math:`O(N)` array
    operations per call for :math:`N` terms, no work per cell. Steps where
    no order up to 40 qualifies (coarse steps at low bit-widths) take one of
    the next two routes.
``exact``, cell sum (bits <= 16)
    A sum over quantizer cells. Each level :math:`c_k=(k+o)\Delta` owns two
    half-cells, :math:`[c_k, c_k+h]` and :math:`[c_k-h, c_k]` with
    :math:`h=\Delta/2`; the outermost half-cells are the tails. On a half-cell
    we integrate :math:`t^p f(c_k+t)` in the local coordinate :math:`t=x-c_k`
    with fixed-order Gauss-Legendre (panels split at the density's
    breakpoints). The integrand is the *error* :math:`t^2`, never
    :math:`x^2`, so a cell of width :math:`10^{-5}\sigma` still has full
    relative accuracy: there is no difference of large partial moments.
    Tails come from each family's closed-form tail moments.
``exact``, order-3 expansion (bits > 16)
    The Euler-Maclaurin series truncated after its first two correction
    terms (:func:`_euler_maclaurin`), for families without series hooks
    and for the steps that the series leaves.
``additive``
    The model in the proof of the seed's Lemma 2.
``Empirical``
    :math:`\frac1N\sum_i (x_i-Q(x_i))^2` evaluated directly, in chunks.

Derivatives (:func:`mse_derivative`) take the same routes: the
Euler-Maclaurin series of :math:`D'` and :math:`D''`
(:func:`quanttheory._laws.series.series_derivatives`, rigorous remainder
bounds, :math:`O(N)` per call) from 3 bits on, wherever the family has the
hooks and the bounds allow; the cell sum below at the other steps up to 16
bits; above 16 bits the additive model's derivatives at those steps.

On the cell sum the derivatives follow from the Leibniz rule over cells
(the derivation is in :mod:`quanttheory._laws.cells`).
"""

from __future__ import annotations

from ._core.checks import as_float_result, check_positive_int, check_side
from ._core.errors import InvalidArgument
from ._route import evaluate

__all__ = ["mse", "mse_derivative"]


def mse(dist, step, bits, *, scheme="paper", model="exact"):
    r"""Mean squared error :math:`E[(X - Q_\Delta(X))^2]` of a uniform quantizer.

    .. math::

        \mathrm{MSE}(X,\Delta) = \sum_{k} \int_{\text{cell}_k}
        \big(x - (k+o)\Delta\big)^2 f(x)\,dx

    ``model="additive"`` is the model in the proof of the seed's Lemma 2,

    .. math::

        E[(X-\tau_+)^2; X>\tau_+] + E[(X-\tau_-)^2; X<\tau_-]
        + \frac{\Delta^2}{12} P[\tau_- \le X \le \tau_+],

    with :math:`\tau_\pm` the outermost levels. For :class:`Uniform` with
    ``scheme="paper"`` and :math:`2^{M-1}\Delta \le a` it is exactly Lemma 2,
    :math:`(a-2^{M-1}\Delta)^3/(3a) + 2^M\Delta^3/(24a)`. ACIQ and OCTAV build
    on models of this kind.

    Parameters
    ----------
    dist : Distribution or array_like
        :class:`Uniform`, :class:`Gaussian`, :class:`Laplace`,
        :func:`from_scipy` or :class:`Empirical`; an array, list or torch
        tensor of samples is taken as its :class:`Empirical`.
    step : float or array_like
        Quantization step(s) :math:`\Delta > 0`. Vectorised.
    bits : int
        Bit-width :math:`M`, 1 to 64.
    scheme : {'paper', 'midrise', 'signed', 'symmetric'}
        Level set, see :func:`levels`.
    model : {'exact', 'additive'}
        The true MSE or the additive-noise model.

    Returns
    -------
    float or ndarray
        A float for scalar ``step``, else an array of the shape of ``step``.

    Raises
    ------
    InvalidArgument
        For an invalid distribution, step, bits, scheme or model, or an MSE
        beyond float64's normal range (above 1.8e308, or positive and below
        2.2e-308: a law of scale beyond about 1e154 or below 1e-154 at an
        ordinary step); :func:`sqnr_db` is still exact there.

    See Also
    --------
    mse_derivative, optimal_step, monte_carlo_mse

    Notes
    -----
    Accuracy of ``model="exact"``: relative error below 1e-10 against
    40-digit mpmath quadrature for every family and scheme, bits 1 to 16 and
    steps :math:`\tilde\Delta/8` to :math:`8\tilde\Delta` (tested). Measured
    against those references it is at most 2e-14 for the Gaussian (the
    rounding of its closed-form tail moments, about :math:`z^2` ulps at
    :math:`z=\tau_+/\sigma`) and 1e-15 for the Laplace and uniform laws.

    Routes. For :class:`Gaussian`, :class:`Laplace`, :class:`Uniform` (and
    custom families with series hooks, see ``quanttheory._laws.series``) the
    MSE is the Euler-Maclaurin series of the periodic sawtooth,

    .. math::

        \mathrm{MSE} = T_2^+(\tau_+) + T_2^-(\tau_-)
        + \frac{\Delta^2}{12}P[\tau_-\le X\le\tau_+]
        + \Delta^2\sum_{n=2}^{N} (-1)^n\frac{2\Delta^{n-1}}{(n+1)!}
        \Big(B_{n+1}(\tfrac12)\big[f^{(n-2)}\big]_{\tau_-}^{\tau_+}
        - \sum_e \tilde B_{n+1}(u_e)\,J_{f^{(n-2)}}(e)\Big) + R_N,

    with :math:`T_2^\pm` the tail moments beyond the outer levels
    :math:`\tau_\pm`, :math:`\tilde B_n` the periodic Bernoulli functions,
    :math:`e` the density's breakpoints inside :math:`(\tau_-,\tau_+)` (at
    cell position :math:`u_e`, with jumps :math:`J`) and
    :math:`|R_N| \le 4\zeta(N+1)(\Delta/2\pi)^{N+1}\int|f^{(N-1)}|`. Per
    step, :math:`N` is the smallest order whose bound is below
    :math:`2^{-56}` of the MSE, so the series is exact up to rounding. The
    cost is :math:`O(N)` operations per step (:math:`N \approx 10` for the
    Gaussian at 8 bits near the optimum, 2 for the uniform law) and none per
    cell: :math:`10^4` steps take a few milliseconds at any bit-width.

    Coarse steps (a cell comparable to the law's width) are taken first
    by Poisson summation over the level lattice
    (``quanttheory._laws.lattice``) where the family has the hook and its
    clipping and truncation bounds certify the sum, at
    :math:`O(1)` per step: the MSE is the additive value plus a few Fourier
    terms :math:`\varphi_X(2\pi k/\Delta)` of the sawtooth.

    Steps where neither qualifies, and every step of :func:`from_scipy`
    laws, take the cell sum up to 16 bits: Gauss-Legendre per half-cell in
    the local error coordinate, so there is no cancellation of large partial
    moments, at :math:`O(2^M)` per step. A support edge where the density
    is infinite but integrable (``beta(0.5, 0.5)``, ``gamma(0.5)``,
    ``chi2(1)``) is detected from the law and the cells beside it are integrated by a
    graded Gauss-Jacobi rule with the edge's power-law weight, so those laws meet
    the same 1e-10 (tested against 40-digit mpmath in
    ``tests/reference/scipy_reference.json``). A density kink that
    :func:`from_scipy` is not told about (``breakpoints``) is found from
    the law (its ``loc``, the mode of piecewise laws); where none can be
    found but the density is not smooth, a
    :class:`~quanttheory.QuantTheoryWarning` says the result may miss the
    tolerance.

    Above 16 bits a coarse step meets only the few levels the law's mass
    reaches: where that is at most 4096 levels (laws whose tails end in
    float64), the cell sum runs over those levels only, and is exact. The
    remaining steps use the series truncated at :math:`N=3`,

    .. math::

        \mathrm{MSE} = D_{\text{add}} - \frac{7\Delta^4}{2880}
        \big(f'(\tau_+) - f'(\tau_-)\big) + \sum_e \ldots
        + O(\Delta^6 \max|f'''|),

    with breakpoint terms for densities that jump or kink (see
    ``_euler_maclaurin``). Its relative error is about
    :math:`\frac{12}{\pi^2}|\varphi_X(2\pi/\Delta)|` (the first Fourier
    term of the sawtooth, :math:`\varphi_X` the characteristic function)
    plus :math:`O((\Delta/\sigma)^4)`. Measured against the cell sum at 16
    bits over :math:`\tilde\Delta/8 \ldots 8\tilde\Delta` it is below 2.4e-7
    for Student-t(3) (at :math:`8\tilde\Delta`, where
    :math:`\Delta = 0.34\sigma`); each extra bit halves :math:`\Delta`, so
    at 17 bits and beyond it is below 1e-13.

    For :class:`Empirical` the exact route is the sample mean of
    :math:`(x_i-Q(x_i))^2` in float64, exact up to float rounding.

    Scales. The MSE is scale-covariant, :math:`D(cX, c\Delta) = c^2
    D(X,\Delta)`, so laws of any scale (and data of any magnitude) are
    evaluated on a unit-scale member and only the result is scaled back
    (``quanttheory._route``): steps from the smallest subnormal to the
    largest float are exact. Once every decision threshold lies beyond the
    law's mass, one cell holds it all and the MSE has a closed form:
    :math:`E[X^2]` with a level at 0, :math:`E[(|X|-\Delta/2)^2]` for
    ``'midrise'``.

    References
    ----------
    .. [1] M. Shkolnik et al., "Robust Quantization: One Model to Rule Them
       All", NeurIPS 2020, arXiv:2002.07686, Lemma 2.
    .. [2] R. M. Gray and D. L. Neuhoff, "Quantization", IEEE Trans. Inf.
       Theory 44(6), 1998, doi:10.1109/18.720541.
    .. [3] T. M. Apostol, "An elementary view of Euler's summation formula",
       Amer. Math. Monthly 106(5), 1999, doi:10.2307/2589145.

    Examples
    --------
    >>> import quanttheory as qt
    >>> u = qt.Uniform(1.0)
    >>> qt.mse(u, 0.2, 2)  # Lemma 2: (1-0.4)^3/3 + 4*0.008/24
    0.073333333333...
    >>> round(qt.mse(u, 2 / 5, 2) / ((2 / 5) ** 2 / 12), 12)  # Lemma 3: D^2/12
    1.0
    >>> qt.mse(qt.Gaussian(), [0.5, 0.586], 3, scheme="midrise").round(5).tolist()
    [0.04272, 0.03744]
    """
    return as_float_result(evaluate("mse", dist, step, bits, scheme, model, 0)[0])


def mse_derivative(dist, step, bits, order=1, *, scheme="paper", model="exact", side=1):
    r"""Analytic first or second derivative of the MSE with respect to the step.

    .. math::

        \frac{\partial\,\mathrm{MSE}}{\partial\Delta}
        = -2\sum_k (k+o)\int_{\text{cell}_k}(x-c_k) f(x)\,dx

    and the second derivative follows from the Leibniz rule over cells (see
    the module notes of ``quanttheory._mse``); neither uses finite
    differences.

    Parameters
    ----------
    dist : Distribution or array_like
        :class:`Uniform`, :class:`Gaussian`, :class:`Laplace`,
        :func:`from_scipy` or :class:`Empirical`; an array, list or torch
        tensor of samples is taken as its :class:`Empirical`.
    step : float or array_like
        Step(s) :math:`\Delta > 0`.
    bits : int
        Bit-width :math:`M`.
    order : {1, 2}
        Derivative order.
    scheme : {'paper', 'midrise', 'signed', 'symmetric'}
        Level set, see :func:`levels`.
    model : {'exact', 'additive'}
        Derivative of the true MSE or of the additive-noise model.
    side : {1, -1}
        Where the derivative jumps, return the right (+1) or left (-1)
        limit. Ignored where the derivative is continuous.

    Returns
    -------
    float or ndarray
        :math:`\partial^{k}\mathrm{MSE}/\partial\Delta^{k}` for ``k = order``:
        a float for scalar ``step``, else an array of the shape of ``step``.

    Raises
    ------
    InvalidArgument
        For invalid arguments, ``order`` not in {1, 2}, or a first
        derivative beyond float64's range (the second is scale-free).

    See Also
    --------
    mse, sensitivity

    Notes
    -----
    Routes of ``model="exact"``. For :class:`Gaussian`, :class:`Laplace`,
    :class:`Uniform` (and custom families with the series hooks, see
    ``quanttheory._laws.series``) both derivatives are the Euler-Maclaurin
    series of :math:`D' = -\frac2\Delta(E[X(X-Q(X))] - \mathrm{MSE})`,

    .. math::

        D' = -2K_+T_1^+ + 2K_-T_1^-
        + \sum_{j=1}^{N}(-1)^j\frac{2\Delta^j}{(j+1)!}\Big(
          B_{j+1}(\tfrac12)\big[xf^{(j-1)} + (j+1)f^{(j-2)}\big]_{\tau_-}^{\tau_+}
          - \sum_e\tilde B_{j+1}(u_e)\,J(e)\Big) + R'_N,

    and its term-by-term derivative for :math:`D''` (:math:`T_1^\pm` the
    first tail moments, :math:`f^{(-1)}` the CDF, :math:`e` the density's
    breakpoints). :math:`R'_N` and :math:`\partial R'_N/\partial\Delta`
    have rigorous bounds; per step :math:`N` is the smallest order whose
    bound is below :math:`2^{-56}` of the sum of the magnitudes of the
    leading terms (:math:`D'` itself vanishes at the optimum, so it cannot
    be the scale). The cost is :math:`O(N)` array operations per call, none
    per cell: :math:`10^4` steps at 8 bits take 5 to 25 ms. Steps where no
    order up to 40 qualifies (coarse steps at low bit-widths), the
    :math:`D''` of steps whose outer level sits on a jump of the density,
    one and two bits (at most five levels: the cells cost no more), and
    :func:`from_scipy` laws take the Leibniz rule over cells above
    (:math:`O(2^M)` per step) up to 16 bits, and the additive model's
    derivatives beyond (they differ from the exact ones by
    :math:`O(\Delta^2)` relative for smooth densities).

    * Continuous densities: the MSE is :math:`C^1` in the step. Where the
      density jumps (:class:`Uniform` at :math:`\pm a`), :math:`D''` jumps
      when a decision threshold crosses the jump; ``side`` picks the limit
      (on the series, the limit of :math:`\tilde B_1(u_e)` at the jump).
    * :class:`Empirical`: the MSE is continuous and piecewise quadratic;
      between kinks :math:`D''=\frac2N\sum_i (k_i+o)^2`. At a kink (a sample
      on a decision threshold) both derivatives are one-sided.
    * For ``model="additive"`` on :class:`Empirical` the probability term is
      a step function; its (zero) derivative between jumps is used.
    * :func:`from_scipy` laws get :math:`f'` through integration by parts,
      which costs about :math:`(\sigma/\Delta)^2` ulps in :math:`D''`.

    References
    ----------
    .. [1] T. M. Apostol, "An elementary view of Euler's summation formula",
       Amer. Math. Monthly 106(5), 1999, doi:10.2307/2589145.
    .. [2] NIST DLMF 24.8 (bounds of the periodic Bernoulli functions),
       https://dlmf.nist.gov/24.8.

    Examples
    --------
    >>> import quanttheory as qt
    >>> u = qt.Uniform(1.0)
    >>> # Lemma 2 branch: D' = (2^(M-3) D^2 - 2^(M-1) (a - 2^(M-1) D)^2) / a
    >>> round(qt.mse_derivative(u, 0.2, 2), 12), round(0.5*0.04 - 2*0.36, 12)
    (-0.7, -0.7)
    >>> # D'' = 2 4^(M-1) (a - t)/a + 2^M D/(4a) = 4.8 + 0.2
    >>> round(qt.mse_derivative(u, 0.2, 2, order=2), 12)
    5.0
    """
    order = check_positive_int("mse_derivative", "order", order)
    if order not in (1, 2):
        raise InvalidArgument(f"mse_derivative: order={order} must be 1 or 2")
    side = check_side("mse_derivative", side)
    res = evaluate("mse_derivative", dist, step, bits, scheme, model, order, side)
    return as_float_result(res[order])
