r"""The peers' step calibrators (public namespace: :mod:`quanttheory.baselines`).

Clip values become steps through :func:`_step_from_clip` only, by the rule
:math:`\Delta = \alpha / \max(|k_{\min}|, |k_{\max}|)` that the public
module's docstring tabulates per scheme.
"""

from __future__ import annotations

import math
import sys

import numpy as np
from scipy import optimize, special

from .._core.checks import (
    check_positive_int,
    check_positive_scalar,
    check_samples,
    show,
)
from .._core.errors import InvalidArgument
from .._core.quantizer import quantize
from .._core.scheme import Scheme, get_scheme
from .._empirical.empirical import Empirical
from .._mse import mse
from .._optimal import optimal_step

__all__ = [
    "ACIQ_GAUSSIAN_ALPHA",
    "ACIQ_LAPLACE_ALPHA",
    "aciq_alpha",
    "aciq_gaussian",
    "aciq_laplace",
    "excess_mse",
    "grid_search",
    "histogram_observer",
    "max_abs",
    "octav",
    "percentile",
]

#: ACIQ's published optimal clip per bit-width for the Gaussian law,
#: :math:`\alpha/\sigma` (``alpha_gaus`` in ``pytorch_quantizer/quantization/
#: qtypes/int_quantizer.py`` of ``submission2019/cnn-quantization``).
#: Printed to two decimals, mostly truncated; see :func:`aciq_alpha`.
ACIQ_GAUSSIAN_ALPHA = {
    1: 1.24,
    2: 1.71,
    3: 2.15,
    4: 2.55,
    5: 2.93,
    6: 3.28,
    7: 3.61,
    8: 3.92,
}
#: ACIQ's published optimal clip per bit-width for the Laplace law,
#: :math:`\alpha/b` (``alpha_laplace``, same file as
#: :data:`ACIQ_GAUSSIAN_ALPHA`).
ACIQ_LAPLACE_ALPHA = {
    0: 1.05,
    1: 1.86,
    2: 2.83,
    3: 3.89,
    4: 5.03,
    5: 6.2,
    6: 7.41,
    7: 8.64,
    8: 9.89,
}


# ---------------------------------------------------------------------------
# shared helpers
# ---------------------------------------------------------------------------
def _clip_index(s: Scheme) -> int:
    """:math:`K_\\alpha = \\max(|k_{\\min}|, |k_{\\max}|)` (see module notes)."""
    return max(-s.kmin, s.kmax)


def _step_from_clip(func: str, alpha: float, s: Scheme) -> float:
    if not (math.isfinite(alpha) and alpha > 0.0):
        raise InvalidArgument(
            f"{func}: the clip value came out as {alpha!r}; the samples are "
            "probably all zero, so no step can be derived"
        )
    return alpha / _clip_index(s)


def _from_torch(value):
    """A torch tensor as a NumPy array; anything else unchanged.

    Detached and on the CPU, so a Parameter that requires grad or a CUDA
    tensor is accepted; bfloat16 and the other floats NumPy lacks become
    float32, which holds each of their values exactly. torch is not
    imported: if it is not loaded, ``value`` cannot be a tensor.
    """
    torch = sys.modules.get("torch")
    if torch is None or not isinstance(value, torch.Tensor):
        return value
    t = value.detach()
    if t.is_floating_point() and t.dtype not in (torch.float32, torch.float64):
        t = t.to(torch.float32)
    return t.cpu().numpy()


def _as_samples(func: str, samples, name: str = "samples") -> np.ndarray:
    """Flattened real samples (no copy when possible), finite, non-empty.

    Float input keeps its dtype (float16 becomes float32); integer and bool
    input becomes float64. :class:`~quanttheory.Empirical` passes its
    samples through.
    """
    samples = _from_torch(samples)
    if isinstance(samples, Empirical):
        # already validated; a Dask array is computed here (the peers need
        # the data in memory), a memmap stays a memmap
        return np.asarray(samples.samples).reshape(-1)
    return check_samples(func, name, samples)


def _abs_max(x: np.ndarray) -> float:
    return float(max(abs(float(x.min())), abs(float(x.max()))))


def _check_nonzero(func: str, x: np.ndarray) -> float:
    m = _abs_max(x)
    if m == 0.0:
        raise InvalidArgument(
            f"{func}: the samples are all zero; every step (or none) is optimal"
        )
    return m


# ---------------------------------------------------------------------------
# ACIQ
# ---------------------------------------------------------------------------
def _aciq_laplace_ratio(bits: int) -> float:
    # E'(a) = -2 e^{-a} + 2a/(3*4^M) = 0  <=>  a e^a = 3*4^M  <=>  a = W0(3*4^M)
    return float(special.lambertw(3.0 * 4.0**bits).real)


def _aciq_gaussian_ratio(bits: int) -> float:
    # E'(a)/2 = a erfc(a/sqrt2) - sqrt(2/pi) e^{-a^2/2} + a/(3*4^M), written
    # with erfcx so that the tail factor e^{-a^2/2} is never formed from a
    # difference of numbers near 1 (no cancellation in 1 - erf).
    c = 1.0 / (3.0 * 4.0**bits)
    r2pi = math.sqrt(2.0 / math.pi)

    def g(a):
        return (
            math.exp(-0.5 * a * a) * (a * special.erfcx(a / math.sqrt(2.0)) - r2pi)
            + a * c
        )

    hi = 1.0
    while g(hi) <= 0.0:
        hi *= 2.0
    return float(optimize.brentq(g, 0.0, hi, xtol=1e-16, rtol=4 * np.finfo(float).eps))


def aciq_alpha(bits, law="gaussian"):
    r"""The ACIQ clip per unit scale, the minimiser of its noise model.

    ACIQ models the MSE of a :math:`2^M`-level grid clipped at
    :math:`\pm\alpha` (step :math:`\Delta = 2\alpha/2^M`) as clipping noise
    plus :math:`\Delta^2/12` on *all* the mass:

    .. math::

        E_{\mathrm{Laplace}}(\alpha) = 2b^2 e^{-\alpha/b}
            + \frac{\alpha^2}{3\cdot 4^M}, \qquad
        E_{\mathrm{Gauss}}(\alpha) = (\alpha^2+\sigma^2)
            \left[1-\operatorname{erf}\frac{\alpha}{\sqrt2\sigma}\right]
            - \sqrt{\frac{2}{\pi}}\,\alpha\sigma e^{-\alpha^2/2\sigma^2}
            + \frac{\alpha^2}{3\cdot 4^M}.

    Both are strictly convex in :math:`\alpha` (:math:`E''>0`), so the
    stationary point is the unique minimum. For Laplace it has a closed form,
    :math:`\alpha/b = W_0(3\cdot 4^M)` (Lambert W). For the Gaussian the root
    of :math:`E'(\alpha)/2 = \alpha\,\mathrm{erfc}(\alpha/\sqrt2\sigma) -
    \sqrt{2/\pi}\,\sigma e^{-\alpha^2/2\sigma^2} + \alpha/(3\cdot4^M)` is
    found by Brent's method to machine precision.

    Parameters
    ----------
    bits : int
        :math:`M \ge 0`, the model's bit-width.
    law : {'gaussian', 'laplace'}
        The prior.

    Returns
    -------
    float
        :math:`\alpha/\sigma` (Gaussian) or :math:`\alpha/b` (Laplace).

    Raises
    ------
    InvalidArgument
        For a negative or non-integer ``bits`` or an unknown ``law``.

    See Also
    --------
    aciq_gaussian, aciq_laplace

    Notes
    -----
    The repository's two-decimal tables (:data:`ACIQ_GAUSSIAN_ALPHA`,
    :data:`ACIQ_LAPLACE_ALPHA`) are these values truncated to two decimals,
    except three entries that are rounded (Gaussian :math:`M=1`, Laplace
    :math:`M=0` and :math:`M=4`); ``tests/baselines/test_baselines.py`` checks every
    entry against its rule.

    References
    ----------
    .. [1] R. Banner, Y. Nahshan and D. Soudry, "Post training 4-bit
       quantization of convolutional networks for rapid-deployment",
       NeurIPS 2019, arXiv:1810.05723.

    Examples
    --------
    >>> from quanttheory import baselines
    >>> round(baselines.aciq_alpha(4, "gaussian"), 6)
    2.559136
    >>> round(baselines.aciq_alpha(4, "laplace"), 6)
    5.02864
    """
    m = check_positive_int("aciq_alpha", "bits", bits, minimum=0)
    if law == "gaussian":
        return _aciq_gaussian_ratio(m)
    if law == "laplace":
        return _aciq_laplace_ratio(m)
    raise InvalidArgument(
        f"aciq_alpha: law={show(law)} is not one of {{'gaussian', 'laplace'}}"
    )


def _scale_or_samples(func: str, name: str, value, estimator) -> float:
    value = _from_torch(value)
    if np.ndim(value) == 0 and not isinstance(value, Empirical):
        return check_positive_scalar(func, name, value)
    x = _as_samples(func, value, name)
    if x.size < 2:
        raise InvalidArgument(
            f"{func}: {name} has {x.size} sample; pass a scale or at least 2 samples"
        )
    scale = float(estimator(x))
    if not (scale > 0.0 and math.isfinite(scale)):
        raise InvalidArgument(
            f"{func}: the samples in {name} are constant, so their scale is 0"
        )
    return scale


def _table_ratio(func: str, table: dict, bits: int) -> float:
    if bits not in table:
        raise InvalidArgument(
            f"{func}: the published table has no entry for bits={bits} "
            f"(it covers {min(table)}..{max(table)}); use table=False"
        )
    return table[bits]


def aciq_gaussian(sigma, bits, scheme="paper", *, table=False) -> float:
    r"""The ACIQ step for a Gaussian prior: the clip that minimises its model.

    .. math::

        \alpha^* = \sigma\cdot\operatorname*{arg\,min}_{a}\Big[(a^2+1)
        \operatorname{erfc}\frac{a}{\sqrt2} - \sqrt{\frac2\pi}\,a\,
        e^{-a^2/2} + \frac{a^2}{3\cdot 4^M}\Big], \qquad
        \Delta = \frac{\alpha^*}{K_\alpha}

    with :math:`K_\alpha` the scheme's clip index (module notes; for
    ``'signed'`` and ``'midrise'`` :math:`\Delta = 2\alpha^*/2^M`, ACIQ's own
    step).

    Parameters
    ----------
    sigma : float or array_like
        The standard deviation :math:`\sigma`, or samples, from which
        :math:`\sigma` is estimated as ACIQ does (the sample standard
        deviation, ``ddof=1``).
    bits : int
        Bit-width :math:`M`.
    scheme : {'paper', 'midrise', 'signed', 'symmetric'}
        Level set of the returned step.
    table : bool
        Use the published two-decimal :data:`ACIQ_GAUSSIAN_ALPHA` (as the
        reference implementation does) instead of the exact minimiser of the
        model.

    Returns
    -------
    float
        The step :math:`\Delta`.

    Raises
    ------
    InvalidArgument
        For a non-positive ``sigma``, constant or non-finite samples, invalid
        ``bits`` or ``scheme``, or ``table=True`` outside the table.

    See Also
    --------
    aciq_alpha, aciq_laplace, excess_mse

    Notes
    -----
    The model applies :math:`\Delta^2/12` to all the mass (the seed's
    Lemma 2 weights it by :math:`P(|X|\le\tau)`) and treats the clipped tail
    as if it met a continuum of levels, so at 2-4 bits its clip is below the
    exact optimum. ACIQ centres its range on the sample mean; quanttheory's
    grids are centred on 0 and the mean is not subtracted here. Cost:
    :math:`O(N)` for :math:`\sigma`, :math:`O(1)` for the clip.

    References
    ----------
    .. [1] R. Banner, Y. Nahshan and D. Soudry, "Post training 4-bit
       quantization of convolutional networks for rapid-deployment",
       NeurIPS 2019, arXiv:1810.05723; code: ``submission2019/cnn-quantization``.

    Examples
    --------
    >>> from quanttheory import baselines
    >>> round(baselines.aciq_gaussian(1.0, 4), 6)        # 2.559136 / 8
    0.319892
    >>> baselines.aciq_gaussian(1.0, 4, table=True)      # 2.55 / 8
    0.31875
    """
    func = "aciq_gaussian"
    scale = _scale_or_samples(func, "sigma", sigma, lambda x: np.std(x, ddof=1))
    s = get_scheme(func, scheme, bits)
    if table:
        ratio = _table_ratio(func, ACIQ_GAUSSIAN_ALPHA, s.bits)
    else:
        ratio = _aciq_gaussian_ratio(s.bits)
    return _step_from_clip(func, ratio * scale, s)


def aciq_laplace(b, bits, scheme="paper", *, table=False) -> float:
    r"""The ACIQ step for a Laplace prior: :math:`\alpha^* = b\,W_0(3\cdot4^M)`.

    .. math::

        \alpha^* = \operatorname*{arg\,min}_\alpha\Big[2b^2e^{-\alpha/b}
        + \frac{\alpha^2}{3\cdot4^M}\Big] = b\,W_0(3\cdot 4^M), \qquad
        \Delta = \frac{\alpha^*}{K_\alpha}

    (:math:`W_0` the principal Lambert W; :math:`K_\alpha` the scheme's clip
    index, see the module notes).

    Parameters
    ----------
    b : float or array_like
        The Laplace scale :math:`b`, or samples, from which it is estimated
        as ACIQ does, :math:`\hat b = \overline{|x-\bar x|}`.
    bits : int
        Bit-width :math:`M`.
    scheme : {'paper', 'midrise', 'signed', 'symmetric'}
        Level set of the returned step.
    table : bool
        Use the published two-decimal :data:`ACIQ_LAPLACE_ALPHA` instead of
        the exact minimiser.

    Returns
    -------
    float
        The step :math:`\Delta`.

    Raises
    ------
    InvalidArgument
        For a non-positive ``b``, constant or non-finite samples, invalid
        ``bits`` or ``scheme``, or ``table=True`` outside the table.

    See Also
    --------
    aciq_alpha, aciq_gaussian, excess_mse

    Notes
    -----
    Same model assumptions as :func:`aciq_gaussian`. Cost: two passes over
    the samples for :math:`\hat b`.

    References
    ----------
    .. [1] R. Banner, Y. Nahshan and D. Soudry, "Post training 4-bit
       quantization of convolutional networks for rapid-deployment",
       NeurIPS 2019, arXiv:1810.05723; code: ``submission2019/cnn-quantization``.

    Examples
    --------
    >>> from quanttheory import baselines
    >>> round(baselines.aciq_laplace(1.0, 4), 6)          # 5.028640 / 8
    0.62858
    >>> round(baselines.aciq_laplace(1.0, 4, scheme="symmetric"), 6)  # / 7
    0.718377
    """
    func = "aciq_laplace"
    scale = _scale_or_samples(
        func, "b", b, lambda x: np.mean(np.abs(x - np.mean(x, dtype=np.float64)))
    )
    s = get_scheme(func, scheme, bits)
    if table:
        ratio = _table_ratio(func, ACIQ_LAPLACE_ALPHA, s.bits)
    else:
        ratio = _aciq_laplace_ratio(s.bits)
    return _step_from_clip(func, ratio * scale, s)


# ---------------------------------------------------------------------------
# OCTAV
# ---------------------------------------------------------------------------
def _octav_update(absx: np.ndarray, s: float, bits: int) -> float:
    """One OCTAV step: E[|X|;|X|>s] / ((4^-B/3) P(|X|<=s) + P(|X|>s))."""
    n = absx.size
    over = absx > s
    cnt = int(np.count_nonzero(over))
    tail = float(np.sum(absx, where=over, dtype=np.float64))
    c = 4.0 ** (-bits) / 3.0
    return tail / (c * (n - cnt) + cnt)


def _octav_clip(absx: np.ndarray, bits: int, iters: int, init: float) -> float:
    s = init
    for _ in range(iters):
        nxt = _octav_update(absx, s, bits)
        if nxt == s:
            break
        s = nxt
    return s


def octav(samples, bits, scheme="paper", iters=10, init=None) -> float:
    r"""The OCTAV clip: the Newton fixed point of its MSE model.

    OCTAV models the MSE of a :math:`2^B`-level grid clipped at :math:`s` as

    .. math::

        J(s) = \frac{4^{-B}}{3}\, s^2\, P(|X|\le s)
        + E\big[(|X|-s)^2;\ |X|>s\big],

    and Newton's method on :math:`J'(s)=0` collapses to the fixed point

    .. math::

        s_{n+1} = \frac{E\big[|X|;\ |X|>s_n\big]}
        {\frac{4^{-B}}{3}P(|X|\le s_n) + P(|X|>s_n)},

    run for ``iters`` iterations (or until it stops moving). The step is
    :math:`\Delta = s/K_\alpha` (module notes).

    Parameters
    ----------
    samples : array_like or torch.Tensor
        The data (any shape; flattened). A tensor is detached and read on
        the CPU (bfloat16 as float32, exactly).
    bits : int
        Bit-width :math:`B`.
    scheme : {'paper', 'midrise', 'signed', 'symmetric'}
        Level set of the returned step.
    iters : int
        Fixed-point iterations (the paper uses about 10).
    init : float, optional
        Starting clip :math:`s_0 > 0`; default :math:`E|X|`.

    Returns
    -------
    float
        The step :math:`\Delta`.

    Raises
    ------
    InvalidArgument
        For empty, non-finite or all-zero samples, invalid ``bits``,
        ``scheme``, ``iters`` or ``init``.

    See Also
    --------
    aciq_gaussian, excess_mse

    Notes
    -----
    For the empirical law the update is piecewise smooth in :math:`s`; as
    :math:`s` crosses one sample it jumps by less than :math:`s/N`, and near
    the fixed point its slope is :math:`-s\,c\,p(s)/(c + (1-c)P(|X|>s))`
    with :math:`c = 4^{-B}/3`, far below 1 in magnitude, so 10 iterations
    reach the fixed point to within that jump from a start near it. From a
    small start (and from :math:`s_0 \ge \max|x|`, whose first update is 0)
    the iteration first creeps up like :math:`s \leftarrow E[|X|\,\big|\,
    |X|>s]`: at 8 bits, 10 iterations from :math:`E|X|` leave :math:`s`
    about 0.4-1.2 % short on Gaussian, Laplace and Student-t data (11-13
    are needed); pass ``iters=30`` to converge. Cost: :math:`O(N)` per
    iteration. Google's ai-edge-quantizer starts from
    :math:`s_0 = 1` and counts :math:`|x| \ge s` in the tail; the default
    here is scale-free.

    References
    ----------
    .. [1] C. Sakr, S. Dai, R. Venkatesan, B. Zimmer, W. J. Dally and
       B. Khailany, "Optimal Clipping and Magnitude-aware Differentiation for
       Improved Quantization-aware Training", ICML 2022, arXiv:2206.06501.

    Examples
    --------
    >>> import numpy as np
    >>> from quanttheory import baselines
    >>> x = np.random.default_rng(0).standard_normal(100_000)
    >>> step = baselines.octav(x, 4)
    >>> round(step * 8, 2)     # OCTAV's clip s, in units of sigma
    2.58
    """
    func = "octav"
    x = _as_samples(func, samples)
    s = get_scheme(func, scheme, bits)
    iters = check_positive_int(func, "iters", iters)
    _check_nonzero(func, x)
    absx = np.abs(x)
    if init is None:
        s0 = float(np.mean(absx, dtype=np.float64))
    else:
        s0 = check_positive_scalar(func, "init", init)
    clip = _octav_clip(absx, s.bits, iters, s0)
    return _step_from_clip(func, clip, s)


# ---------------------------------------------------------------------------
# max-abs and percentile
# ---------------------------------------------------------------------------
def max_abs(samples, bits, scheme="paper") -> float:
    r"""The max-abs (min/max observer) step: :math:`\alpha = \max_i |x_i|`.

    .. math::

        \Delta = \frac{\max_i |x_i|}{K_\alpha}

    Parameters
    ----------
    samples : array_like or torch.Tensor
        The data (any shape; flattened). A tensor is detached and read on
        the CPU (bfloat16 as float32, exactly).
    bits : int
        Bit-width :math:`M`.
    scheme : {'paper', 'midrise', 'signed', 'symmetric'}
        Level set of the returned step.

    Returns
    -------
    float
        The step :math:`\Delta`.

    Raises
    ------
    InvalidArgument
        For empty, non-finite or all-zero samples, or invalid ``bits`` or
        ``scheme``.

    See Also
    --------
    percentile, excess_mse

    Notes
    -----
    With the clip conventions of the module notes, ``'signed'`` clips the
    largest positive sample at :math:`\alpha-\Delta`. PyTorch's
    ``MinMaxObserver`` (``per_tensor_symmetric``) divides by
    :math:`K-\tfrac12` instead, which clips nothing. Cost: :math:`O(N)`.

    References
    ----------
    .. [1] B. Jacob et al., "Quantization and Training of Neural Networks for
       Efficient Integer-Arithmetic-Only Inference", CVPR 2018,
       arXiv:1712.05877.

    Examples
    --------
    >>> from quanttheory import baselines
    >>> baselines.max_abs([-2.0, 0.5, 1.0], 3)          # 2 / 4
    0.5
    >>> baselines.max_abs([-2.0, 0.5, 1.0], 3, "symmetric")   # 2 / 3
    0.6666666666666666
    """
    func = "max_abs"
    x = _as_samples(func, samples)
    s = get_scheme(func, scheme, bits)
    return _step_from_clip(func, _check_nonzero(func, x), s)


def percentile(samples, bits, q=99.99, scheme="paper") -> float:
    r"""The percentile-range step: the clip is a percentile of :math:`|x|`.

    .. math::

        \Delta = \frac{\operatorname{percentile}_q(|x|)}{K_\alpha}

    Parameters
    ----------
    samples : array_like or torch.Tensor
        The data (any shape; flattened). A tensor is detached and read on
        the CPU (bfloat16 as float32, exactly).
    bits : int
        Bit-width :math:`M`.
    q : float
        Percentile in (0, 100], linear interpolation
        (:func:`numpy.percentile`'s default).
    scheme : {'paper', 'midrise', 'signed', 'symmetric'}
        Level set of the returned step.

    Returns
    -------
    float
        The step :math:`\Delta`.

    Raises
    ------
    InvalidArgument
        For empty, non-finite samples, ``q`` outside (0, 100], a zero
        percentile, or invalid ``bits`` or ``scheme``.

    See Also
    --------
    max_abs, excess_mse

    Notes
    -----
    quanttheory's grids are symmetric about 0, so the percentile is taken of
    :math:`|x|`; calibrators for affine grids (PyTorch, NVIDIA) take the
    lower and upper percentiles separately. Cost: :math:`O(N)`
    (introselect).

    References
    ----------
    .. [1] H. Wu, P. Judd, X. Zhang, M. Isaev and P. Micikevicius, "Integer
       Quantization for Deep Learning Inference: Principles and Empirical
       Evaluation", 2020, arXiv:2004.09602.

    Examples
    --------
    >>> import numpy as np
    >>> from quanttheory import baselines
    >>> baselines.percentile(np.arange(101.0), 2, q=50)     # 50 / 2
    25.0
    """
    func = "percentile"
    x = _as_samples(func, samples)
    s = get_scheme(func, scheme, bits)
    try:
        qf = float(q)
    except (TypeError, ValueError):
        qf = math.nan
    if not (0.0 < qf <= 100.0):
        raise InvalidArgument(f"{func}: q={show(q)} must lie in (0, 100]")
    alpha = float(np.percentile(np.abs(x), qf))
    if alpha == 0.0:
        raise InvalidArgument(
            f"{func}: the {qf}th percentile of |samples| is 0; raise q or check "
            "the data"
        )
    return _step_from_clip(func, alpha, s)


# ---------------------------------------------------------------------------
# torchao-style exact grid
# ---------------------------------------------------------------------------
_GRID_CHUNK = 1 << 20


def _fake_quant_sse(x: np.ndarray, step: float, bits: int, scheme: str) -> float:
    """:math:`\\sum_i (x_i - Q(x_i))^2` through :func:`quantize`, in chunks.

    The quantizer runs in the samples' dtype (as a fake-quant kernel does);
    the squares are accumulated in float64.
    """
    total = 0.0
    for start in range(0, x.size, _GRID_CHUNK):
        xc = x[start : start + _GRID_CHUNK]
        e = (xc - quantize(xc, step, bits, scheme)).astype(np.float64)
        # einsum, not np.dot: a threaded BLAS dot costs ~15 ms of thread
        # wake-up per call on small machines, whatever the length
        total += float(np.einsum("i,i->", e, e))
    return total


def _grid_scores(x: np.ndarray, s: Scheme, n: int):
    """The grid's steps and their fake-quant sums of squared errors."""
    amax = _abs_max(x)
    steps = amax * np.arange(1, n + 1, dtype=np.float64) / n / _clip_index(s)
    sse = np.array([_fake_quant_sse(x, float(d), s.bits, s.name) for d in steps])
    return steps, sse


def grid_search(samples, bits, n=100, scheme="paper") -> float:
    r"""The search of torchao's ``AffineQuantizedMSEObserver``: best of ``n`` clips.

    .. math::

        \alpha_i = \max_j|x_j|\cdot\frac{i}{n},\quad i=1\dots n, \qquad
        \Delta = \frac{\alpha_{i^*}}{K_\alpha}, \quad
        i^* = \operatorname*{arg\,min}_i \sum_j \big(x_j - Q_{\alpha_i/K_\alpha}
        (x_j)\big)^2

    Each candidate is scored by the exact fake-quantization error of
    :func:`~quanttheory.quantize` (run in the samples' dtype, squares summed
    in float64). Ties go to the smallest clip.

    Parameters
    ----------
    samples : array_like or torch.Tensor
        The data (any shape; flattened). A tensor is detached and read on
        the CPU (bfloat16 as float32, exactly).
    bits : int
        Bit-width :math:`M`.
    n : int
        Number of candidate clips (torchao uses 100).
    scheme : {'paper', 'midrise', 'signed', 'symmetric'}
        Level set.

    Returns
    -------
    float
        The best step on the grid.

    Raises
    ------
    InvalidArgument
        For empty, non-finite or all-zero samples, or invalid ``bits``,
        ``n`` or ``scheme``.

    See Also
    --------
    excess_mse, quanttheory.optimal_step

    Notes
    -----
    Cost: :math:`n` passes over the data, :math:`O(nN)`. The result is a
    point of the grid, so its excess MSE over the exact optimum is of the
    order of :math:`D''\,(\alpha_{\max}/n)^2/2` relative to :math:`D`,
    never below the optimum. torchao maps the clip to its scale with
    :math:`(q_{\max}-q_{\min})/2` (module notes); that rescales the whole
    grid by a constant factor.

    References
    ----------
    .. [1] torchao, ``torchao/quantization/observer.py``,
       ``AffineQuantizedMSEObserver`` (PyTorch, 2024-2025).

    Examples
    --------
    >>> import numpy as np
    >>> from quanttheory import baselines
    >>> x = np.random.default_rng(0).standard_normal(20_000)
    >>> step = baselines.grid_search(x, 4)
    >>> bool(step * 8 <= np.abs(x).max())
    True
    """
    func = "grid_search"
    x = _as_samples(func, samples)
    s = get_scheme(func, scheme, bits)
    n = check_positive_int(func, "n", n)
    _check_nonzero(func, x)
    steps, sse = _grid_scores(x, s, n)
    return float(steps[int(np.argmin(sse))])


# ---------------------------------------------------------------------------
# PyTorch HistogramObserver
# ---------------------------------------------------------------------------
def histogram_observer(
    samples, bits, scheme="paper", *, bins=2048, dst_nbins=None, chunk=None
) -> float:
    r"""Adapter around PyTorch's ``HistogramObserver``: its scale as our step.

    The observer is built per tensor as

    ============= ==================================== ===================
    scheme        ``quant_min``, ``quant_max``          ``dtype``
    ============= ==================================== ===================
    ``signed``    :math:`-2^{M-1},\ 2^{M-1}-1`          ``torch.qint8``
    ``symmetric`` :math:`-(2^{M-1}-1),\ 2^{M-1}-1`      ``torch.qint8``
    ``paper``     :math:`-2^{M-1},\ 2^{M-1}`            ``torch.qint32``
    ============= ==================================== ===================

    with ``qscheme=torch.per_tensor_symmetric`` and ``zero_point = 0``, so
    torch's grid :math:`\{k\cdot\text{scale}: q_{\min}\le k\le q_{\max}\}` is
    exactly the scheme's level set and

    .. math::

        \Delta = \text{scale}
        = \frac{\max(|\beta_-|, |\beta_+|)}{(q_{\max}-q_{\min})/2},

    where :math:`[\beta_-, \beta_+]` is the range that the observer's greedy
    histogram search keeps.

    Parameters
    ----------
    samples : array_like or torch.Tensor
        The data (any shape; flattened). float32 stays float32 (no copy);
        other floats are observed in their dtype.
    bits : int
        Bit-width :math:`M \le 8` (``'paper'``: :math:`\le 30`).
    scheme : {'paper', 'signed', 'symmetric'}
        Level set. ``'midrise'`` has no integer grid with a zero point and is
        refused.
    bins : int
        Histogram bins (torch's default 2048).
    dst_nbins : int, optional
        Levels that the search's error model assumes. torch sets it to
        :math:`2^{8}` for ``qint8`` whatever ``quant_min``/``quant_max`` say;
        the default here, ``quant_max - quant_min + 1``, makes the search
        score the grid that is actually used. Pass 256 for torch's behaviour
        verbatim.
    chunk : int, optional
        Feed the observer ``chunk`` elements per ``forward`` call to bound
        torch's temporaries (the histogram is then re-binned as the running
        range grows, as in calibration over batches). Default: one call.

    Returns
    -------
    float
        The step :math:`\Delta` (torch's float32 scale, as a float).

    Raises
    ------
    ImportError
        If torch is not installed.
    InvalidArgument
        For empty, non-finite or all-zero samples, ``'midrise'``, ``bits``
        beyond the dtype, or invalid ``bins``, ``dst_nbins`` or ``chunk``.

    See Also
    --------
    grid_search, excess_mse

    Notes
    -----
    Caveats of the observer, kept as they are: the search narrows an
    *affine* range :math:`[\beta_-, \beta_+]` that need not be symmetric,
    scoring each candidate with a uniform density inside each source bin,
    and stops at the first increase of its error estimate (a local
    minimum); the symmetric scale then takes the larger side, so the range
    actually used is wider than the one scored. The scale is floored at
    float32's machine epsilon. The observer is per tensor only. Its search
    is a Python loop over up to :math:`10^5` quantile steps; the histogram
    pass is :math:`O(N)`.

    References
    ----------
    .. [1] PyTorch, ``torch/ao/quantization/observer.py``,
       ``HistogramObserver`` (after Caffe2's ``NormMinimization``).

    Examples
    --------
    >>> import numpy as np
    >>> from quanttheory import baselines
    >>> x = np.random.default_rng(0).standard_normal(100_000).astype(np.float32)
    >>> step = baselines.histogram_observer(x, 8, scheme="signed")   # qint8
    >>> 0.02 < step < 0.04
    True
    """
    func = "histogram_observer"
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - exercised without torch
        raise ImportError(
            "histogram_observer needs PyTorch; install it with "
            "`pip install 'quanttheory[torch]'`"
        ) from exc
    x = _as_samples(func, samples)
    s = get_scheme(func, scheme, bits)
    if s.name == "midrise":
        raise InvalidArgument(
            f"{func}: scheme='midrise' has a half-step offset, which no torch "
            "integer grid with a zero point represents; use 'signed', "
            "'symmetric' or 'paper'"
        )
    qmin, qmax = s.kmin, s.kmax
    dtype = torch.qint32 if s.name == "paper" else torch.qint8
    limit = torch.iinfo(dtype)
    if qmin < limit.min or qmax > limit.max:
        raise InvalidArgument(
            f"{func}: bits={s.bits} with scheme={s.name!r} needs levels "
            f"{qmin}..{qmax}, beyond torch's {dtype} range"
        )
    bins = check_positive_int(func, "bins", bins)
    nb = (qmax - qmin + 1) if dst_nbins is None else dst_nbins
    nb = check_positive_int(func, "dst_nbins", nb)
    _check_nonzero(func, x)
    obs = torch.ao.quantization.HistogramObserver(
        bins=bins,
        dtype=dtype,
        qscheme=torch.per_tensor_symmetric,
        quant_min=qmin,
        quant_max=qmax,
    )
    obs.dst_nbins = nb
    if chunk is None:
        obs(torch.from_numpy(x))
    else:
        chunk = check_positive_int(func, "chunk", chunk)
        for start in range(0, x.size, chunk):
            obs(torch.from_numpy(x[start : start + chunk]))
    scale, zero_point = obs.calculate_qparams()
    if int(zero_point.reshape(-1)[0]) != 0:  # pragma: no cover - torch invariant
        raise InvalidArgument(
            f"{func}: torch returned zero_point={int(zero_point.reshape(-1)[0])}; "
            "the symmetric signed grid needs 0"
        )
    return float(scale.reshape(-1)[0])


# ---------------------------------------------------------------------------
# scoring
# ---------------------------------------------------------------------------
def excess_mse(samples, step, bits, scheme="paper", *, reference=None):
    r"""Relative excess MSE of a step over the exact optimum on the same data.

    .. math::

        \frac{\mathrm{MSE}(\hat P, \Delta)}{\mathrm{MSE}(\hat P,
        \tilde\Delta)} - 1, \qquad
        \tilde\Delta = \operatorname*{arg\,min}_{\Delta>0}
        \mathrm{MSE}(\hat P, \Delta)

    with :math:`\hat P` the empirical law of ``samples``, both MSEs from
    ``quanttheory.mse(quanttheory.Empirical(samples), ...)`` and
    :math:`\tilde\Delta` from :func:`quanttheory.optimal_step`.

    Parameters
    ----------
    samples : array_like, torch.Tensor or Empirical
        The data; pass an :class:`~quanttheory.Empirical` to reuse its sort
        across calls.
    step : float or array_like
        The step(s) to score; arrays are scored elementwise.
    bits : int
        Bit-width :math:`M`.
    scheme : {'paper', 'midrise', 'signed', 'symmetric'}
        Level set.
    reference : float, optional
        The step to compare against instead of :func:`optimal_step` (for
        example a step found by another exact method).

    Returns
    -------
    float or ndarray
        The excess, :math:`\ge 0` when ``reference`` is the optimum; a float
        for a scalar ``step``.

    Raises
    ------
    InvalidArgument
        For invalid samples, steps, ``bits`` or ``scheme``.

    See Also
    --------
    quanttheory.optimal_step, quanttheory.mse

    Examples
    --------
    >>> import numpy as np
    >>> import quanttheory as qt
    >>> from quanttheory import baselines
    >>> x = qt.Empirical(np.random.default_rng(0).standard_normal(10_000))
    >>> best = qt.optimal_step(x, 4)               # the same default, 'paper'
    >>> baselines.excess_mse(x, best, 4)
    0.0
    >>> best = qt.optimal_step(x, 4, scheme="signed")   # int4 levels
    >>> baselines.excess_mse(x, best, 4, scheme="signed")
    0.0
    >>> bool(baselines.excess_mse(x, baselines.max_abs(x, 4), 4) > 0.5)
    True
    """
    samples, step = _from_torch(samples), _from_torch(step)
    emp = samples if isinstance(samples, Empirical) else Empirical(samples)
    if reference is None:
        ref = optimal_step(emp, bits, scheme=scheme)
    else:
        ref = check_positive_scalar("excess_mse", "reference", reference)
    best = mse(emp, ref, bits, scheme=scheme)
    val = np.asarray(mse(emp, step, bits, scheme=scheme)) / best - 1.0
    return float(val) if val.ndim == 0 else val
