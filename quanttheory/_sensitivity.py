r"""Second-order step sensitivity :math:`\Gamma(X,\varepsilon)` (Lemma 1) and SQNR."""

from __future__ import annotations

import numpy as np

from ._core.checks import (
    as_float_result,
    check_finite_array,
    check_positive_scalar,
)
from ._core.distribution import check_distribution
from ._core.errors import InvalidArgument
from ._core.scheme import get_scheme
from ._empirical import curvature
from ._optimal import optimal_step
from ._route import evaluate, validate

__all__ = ["sensitivity", "smoothed_curvature", "sqnr_db"]


def sensitivity(
    dist, bits, eps, *, scheme="paper", model="exact", step=None, taylor=True
):
    r"""Quantization sensitivity :math:`\Gamma(X, \varepsilon)` of the seed's Lemma 1.

    .. math::

        \Gamma(X,\varepsilon) = \left|\frac{\partial^2 \mathrm{MSE}(X,
        \Delta=\tilde\Delta)}{\partial\Delta^2}\right| \frac{\varepsilon^2}{2}
        \quad (\texttt{taylor=True}), \qquad
        \Gamma(X,\varepsilon) = \big|\mathrm{MSE}(X,\tilde\Delta+\varepsilon)
        - \mathrm{MSE}(X,\tilde\Delta)\big| \quad (\texttt{taylor=False}).

    Parameters
    ----------
    dist : Distribution
        :class:`Uniform`, :class:`Gaussian`, :class:`Laplace`,
        :func:`from_scipy` or :class:`Empirical`.
    bits : int
        Bit-width :math:`M`.
    eps : float or array_like
        Signed absolute step error(s) :math:`\varepsilon = \Delta' - \tilde\Delta`.
        Vectorised.
    scheme : {'paper', 'midrise', 'signed', 'symmetric'}
        Level set, see :func:`levels`.
    model : {'exact', 'additive'}
        The true MSE or the additive-noise model.
    step : float, optional
        Expansion point; ``None`` means :math:`\tilde\Delta` from
        :func:`optimal_step` (same scheme and model).
    taylor : bool
        Lemma 1's second-order value, or the exact change of the MSE.

    Returns
    -------
    float or ndarray
        :math:`\Gamma` with the shape of ``eps``.

    Raises
    ------
    InvalidArgument
        For non-finite ``eps``, or ``step + eps <= 0`` with ``taylor=False``.

    See Also
    --------
    mse_derivative, optimal_step

    Notes
    -----
    Where the curvature jumps (a density with a jump such as
    :class:`Uniform`), the Taylor value uses the one-sided curvature on the
    side of ``eps``. For :class:`Empirical` data (exact model) it uses
    :func:`smoothed_curvature`: the curvature of a single quadratic piece of
    the empirical MSE would describe only a vanishing step change. Use
    ``taylor=False`` for the exact change on real tensors. Lemma 1 drops the first-order
    term because :math:`D'(\tilde\Delta)=0`; at another ``step`` the Taylor
    value still omits it. For :class:`Uniform` with ``'paper'`` the exact MSE
    is Lemma 2's cubic for every step up to the kink
    :math:`2a/(2^M-1)`, where the outermost threshold
    :math:`(2^{M-1}-\tfrac12)\Delta` reaches :math:`a`; from
    :math:`\tilde\Delta=2a/(2^M+1)` that is :math:`\varepsilon \le
    4a/(4^M-1)`. Inside, Taylor misses only the cubic term.

    References
    ----------
    .. [1] M. Shkolnik et al., "Robust Quantization: One Model to Rule Them
       All", NeurIPS 2020, arXiv:2002.07686, Lemma 1.

    Examples
    --------
    >>> import quanttheory as qt
    >>> u = qt.Uniform(1.0)
    >>> # curvature at 2a/(2^M+1) is 2^(M-1) = 8 for M=4: 8 * 0.01^2 / 2
    >>> [round(v, 12) for v in qt.sensitivity(u, 4, [-0.01, 0.01]).tolist()]
    [0.0004, 0.0004]
    >>> round(qt.sensitivity(u, 4, -0.01, taylor=False), 12)  # Lemma 2 is cubic
    0.00057
    """
    dist, _, model = validate("sensitivity", dist, bits, scheme, model)
    e = check_finite_array("sensitivity", "eps", eps)
    if step is None:
        d0 = optimal_step(dist, bits, scheme=scheme, model=model)
    else:
        d0 = check_positive_scalar("sensitivity", "step", step)
    if taylor:
        out = np.zeros_like(e)
        if dist._is_empirical and model == "exact":
            c2 = smoothed_curvature(dist, d0, bits, scheme=scheme)
            return as_float_result(abs(c2) * e * e / 2.0)
        for side in (1, -1):
            mask = (e > 0) if side == 1 else (e < 0)
            if mask.any():
                c2 = evaluate("sensitivity", dist, d0, bits, scheme, model, 2, side)[2]
                out = np.where(mask, abs(float(c2)) * e * e / 2.0, out)
        return as_float_result(out)
    target = d0 + e
    if (target <= 0).any():
        bad = float(e[target <= 0].flat[0])
        raise InvalidArgument(
            f"sensitivity: eps={bad!r} makes the step {d0!r} + eps non-positive"
        )
    base = evaluate("sensitivity", dist, d0, bits, scheme, model, 0)[0]
    moved = evaluate("sensitivity", dist, target, bits, scheme, model, 0)[0]
    return as_float_result(np.abs(moved - base))


def smoothed_curvature(dist, step, bits, *, scheme="paper") -> float:
    r"""Curvature of the empirical MSE smoothed over one step (for Lemma 1).

    For a density, :math:`D''(\Delta) = 2\sum_k (k+o)^2 P_k
    - 2\Delta\sum_b m_b^2 f(m_b\Delta)`, the second term coming from the
    decision thresholds :math:`m_b\Delta`. The empirical MSE is piecewise
    quadratic: between two kinks its curvature is the first term alone,
    :math:`\frac2N\sum_i (k_i+o)^2`, which describes the MSE only over one
    piece (often a relative step change of 1e-6 or less) and overstates the
    rise for a realistic step error several-fold. Here the threshold density
    is estimated from the counts :math:`W_b` of samples within
    :math:`\Delta/8` of each threshold (:math:`\Delta f(b)\approx 4W_b/N`):

    .. math::

        \bar D''(\Delta) = \frac2N\Big[\sum_i (k_i+o)^2
        - 4\sum_b m_b^2 W_b\Big].

    For samples from a smooth law it converges to the law's :math:`D''`;
    the kernel's bias is :math:`O((\Delta/4)^2 f'')`, which the near
    cancellation of the two sums amplifies to about 0.5 % at 4 bits for
    Gaussian data, hence the narrow window.

    Parameters
    ----------
    dist : Empirical
        The data.
    step : float
        Step :math:`\Delta > 0` at which the curvature is estimated.
    bits : int
        Bit-width :math:`M`.
    scheme : {'paper', 'midrise', 'signed', 'symmetric'}
        Level set, see :func:`quanttheory.levels`.

    Returns
    -------
    float
        :math:`\bar D''(\Delta)`.

    Examples
    --------
    >>> import numpy as np
    >>> import quanttheory as qt
    >>> from quanttheory._sensitivity import smoothed_curvature
    >>> x = qt.Uniform(1.0).sample(400_000, rng=0)
    >>> # the law's curvature at 2a/(2^M+1) is 2^(M-1) = 8 (sampling noise ~0.2)
    >>> bool(abs(smoothed_curvature(qt.Empirical(x), 2 / 17, 4) - 8.0) < 0.5)
    True
    """
    s = get_scheme("smoothed_curvature", scheme, bits)
    d = check_positive_scalar("smoothed_curvature", "step", step)
    if not getattr(dist, "_is_empirical", False):
        raise InvalidArgument(
            f"smoothed_curvature: dist={dist!r} must be Empirical; for a law use "
            "mse_derivative(..., order=2)"
        )
    return curvature.smoothed_curvature(dist, d, s)


def sqnr_db(dist, step, bits, *, scheme="paper", model="exact"):
    r"""Signal-to-quantization-noise ratio in decibels.

    .. math::

        \mathrm{SQNR} = 10\log_{10}\frac{E[X^2]}{\mathrm{MSE}(X,\Delta)}

    Parameters
    ----------
    dist : Distribution
        :class:`Uniform`, :class:`Gaussian`, :class:`Laplace`,
        :func:`from_scipy` or :class:`Empirical`.
    step : float or array_like
        Quantization step(s) :math:`\Delta > 0`. Vectorised.
    bits : int
        Bit-width :math:`M`.
    scheme : {'paper', 'midrise', 'signed', 'symmetric'}
        Level set, see :func:`levels`.
    model : {'exact', 'additive'}
        The true MSE or the additive-noise model.

    Returns
    -------
    float or ndarray
        The SQNR in dB, with the shape of ``step``; ``inf`` where the MSE is
        exactly zero (e.g. data on the grid).

    See Also
    --------
    mse

    Examples
    --------
    >>> import quanttheory as qt
    >>> u = qt.Uniform(1.0)
    >>> # 10 log10((1/3) / (D^2/12)) = 10 log10(289)
    >>> round(qt.sqnr_db(u, 2 / 17, 4), 4)
    24.609
    """
    dist = check_distribution("sqnr_db", dist)
    m = evaluate("sqnr_db", dist, step, bits, scheme, model, 0)[0]
    with np.errstate(divide="ignore"):
        out = 10.0 * np.log10(dist.second_moment / m)
    return as_float_result(out)
