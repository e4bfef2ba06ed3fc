r"""Second-order step sensitivity :math:`\Gamma(X,\varepsilon)` (Lemma 1) and SQNR."""

from __future__ import annotations

import numpy as np

from ._distributions import _check_distribution
from ._mse import _evaluate
from ._optimal import optimal_step
from ._quantizer import get_scheme
from ._validation import (
    InvalidArgument,
    as_float_result,
    check_finite_array,
    check_model,
    check_positive_scalar,
)

__all__ = ["sensitivity", "sqnr_db"]


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
    bits : int
    eps : float or array_like
        Signed absolute step error(s) :math:`\varepsilon = \Delta' - \tilde\Delta`.
        Vectorised.
    scheme : {'paper', 'midrise', 'signed', 'symmetric'}
    model : {'exact', 'additive'}
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

    Notes
    -----
    Where the curvature jumps (a density with a jump such as
    :class:`Uniform`, or :class:`Empirical` data), the Taylor value uses the
    one-sided curvature on the side of ``eps``. Lemma 1 drops the first-order
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

    See Also
    --------
    mse_derivative, optimal_step

    Examples
    --------
    >>> import quanttheory as qt
    >>> u = qt.Uniform(1.0)
    >>> # curvature at 2a/(2^M+1) is 2^(M+1)(2^M+2)/(2^M+1)... = 8 for M=4
    >>> [round(v, 12) for v in qt.sensitivity(u, 4, [-0.01, 0.01]).tolist()]
    [0.0004, 0.0004]
    >>> round(qt.sensitivity(u, 4, -0.01, taylor=False), 12)  # Lemma 2 is cubic
    0.00057
    """
    dist = _check_distribution("sensitivity", dist)
    get_scheme("sensitivity", scheme, bits)
    check_model("sensitivity", model)
    e = check_finite_array("sensitivity", "eps", eps)
    if step is None:
        d0 = optimal_step(dist, bits, scheme=scheme, model=model)
    else:
        d0 = check_positive_scalar("sensitivity", "step", step)
    if taylor:
        out = np.zeros_like(e)
        for side in (1, -1):
            mask = (e > 0) if side == 1 else (e < 0)
            if mask.any():
                c2 = _evaluate("sensitivity", dist, d0, bits, scheme, model, 2, side)[2]
                out = np.where(mask, abs(float(c2)) * e * e / 2.0, out)
        return as_float_result(out)
    target = d0 + e
    if (target <= 0).any():
        bad = float(e[target <= 0].flat[0])
        raise InvalidArgument(
            f"sensitivity: eps={bad!r} makes the step {d0!r} + eps non-positive"
        )
    base = _evaluate("sensitivity", dist, d0, bits, scheme, model, 0)[0]
    moved = _evaluate("sensitivity", dist, target, bits, scheme, model, 0)[0]
    return as_float_result(np.abs(moved - base))


def sqnr_db(dist, step, bits, *, scheme="paper", model="exact"):
    r"""Signal-to-quantization-noise ratio in decibels.

    .. math::

        \mathrm{SQNR} = 10\log_{10}\frac{E[X^2]}{\mathrm{MSE}(X,\Delta)}

    Parameters
    ----------
    dist : Distribution
    step : float or array_like
    bits : int
    scheme : {'paper', 'midrise', 'signed', 'symmetric'}
    model : {'exact', 'additive'}

    Returns
    -------
    float or ndarray
        ``inf`` where the MSE is exactly zero (e.g. data on the grid).

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
    dist = _check_distribution("sqnr_db", dist)
    m = _evaluate("sqnr_db", dist, step, bits, scheme, model, 0)[0]
    with np.errstate(divide="ignore"):
        out = 10.0 * np.log10(dist.second_moment / m)
    return as_float_result(out)
