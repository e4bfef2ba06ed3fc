r"""The globally optimal quantization step :math:`\tilde\Delta`.

Parametric laws
    A geometric grid over the clipping level locates every basin of
    :math:`D(\Delta)` (heavy tails can have several stationary points); each
    of the best basins is then refined by a safeguarded Newton iteration on
    the analytic derivatives :math:`D'`, :math:`D''` to machine precision,
    and the lowest minimum wins. For laws with series hooks the grid is the
    exact MSE's Euler-Maclaurin series and the derivatives are their series
    (:mod:`quanttheory._laws.series`), :math:`O(1)` in the number of levels;
    otherwise the grid is the cell sum up to 4 bits and the additive model
    above, and the derivatives are the cell sums.

Empirical data
    :math:`D(\Delta)=\frac1N\sum_i (x_i-(k_i+o)\Delta)^2` is continuous and
    piecewise quadratic in :math:`\Delta`: between kinks the level indices
    :math:`k_i` are fixed and :math:`D=(C-2B\Delta+A\Delta^2)/N` with
    :math:`A=\sum (k_i+o)^2`, :math:`B=\sum (k_i+o)x_i`. After sorting once,
    prefix sums give each evaluation in :math:`O(2^M\log N)`. Grid, then the
    monotone fixed point :math:`\Delta\leftarrow B/A` (each step the closed-form
    minimum of the current piece), then an exact sweep over every kink in a
    bracket around the best basin, which visits every piece there and takes
    the closed-form minimum of each.
"""

from __future__ import annotations

import math

import numpy as np

from ._core.checks import EMPIRICAL_MAX_BITS
from ._core.errors import InvalidArgument
from ._empirical.batched import batched_optimal
from ._empirical.empirical import Empirical
from ._empirical.optimum import empirical_optimal
from ._laws.optimum import law_optimal
from ._route import validate

__all__ = ["optimal_step"]


def optimal_step(dist, bits, *, scheme="paper", model="exact") -> float:
    r"""The global minimiser :math:`\tilde\Delta` of the MSE over the step.

    .. math::

        \tilde\Delta = \operatorname*{arg\,min}_{\Delta>0}
        \mathrm{MSE}(X, \Delta)

    For :class:`Uniform` with ``scheme="paper"`` this is Lemma 3's valid root
    :math:`2a/(2^M+1)` (the other root, :math:`2a/(2^M-1)`, puts the clipping
    level :math:`2^{M-1}\Delta` beyond :math:`a`, outside the domain of
    Lemma 2). For ``"midrise"`` it is :math:`2a/2^M` and for
    ``"symmetric"`` :math:`2a/(2^M-1)`: the cells then tile the support.

    Parameters
    ----------
    dist : Distribution or array_like
        :class:`Uniform`, :class:`Gaussian`, :class:`Laplace`,
        :func:`from_scipy` or :class:`Empirical`; an array, list or torch
        tensor of samples (a weight that requires grad included) is taken as
        its :class:`Empirical`.
    bits : int
        Bit-width :math:`M`, at most 64, and at most
        ``EMPIRICAL_MAX_BITS`` = 16 for samples.
    scheme : {'paper', 'midrise', 'signed', 'symmetric'}
        Level set, see :func:`levels`.
    model : {'exact', 'additive'}
        Minimise the true MSE or the additive-noise model.

    Returns
    -------
    float
        :math:`\tilde\Delta`.

    Raises
    ------
    InvalidArgument
        For invalid arguments; :class:`Empirical` data that are all zero
        (every step, or none, is optimal); more than 16 bits on samples (the
        exact search scores all :math:`2^M` thresholds: 16 bits on 1,000
        samples take about 6 s, and each bit doubles time and memory); or an
        optimum beyond float64's normal range (a law of scale below about
        1e-307 or near 1e308).

    See Also
    --------
    mse, sensitivity

    Notes
    -----
    Complexity. Parametric: a 96-point vectorised grid, then a safeguarded
    Newton iteration on :math:`D'` and :math:`D''`, started at the vertex of
    the parabola through the grid's minimum, with each step corrected by a
    secant estimate of :math:`D'''` (third order): typically 4-6 derivative
    evaluations.
    For :class:`Gaussian`, :class:`Laplace`, :class:`Uniform` and custom
    families with series hooks the grid and the derivatives are the
    Euler-Maclaurin series of :mod:`quanttheory._laws.series`, exact to
    rounding at :math:`O(N)` operations per call whatever the bit-width: a
    cold call takes a few milliseconds at 2 to 16 bits (it took 6 ms to
    0.6 s on the cell sums); steps the series cannot take (coarse steps at
    low bit-widths) and :func:`from_scipy` laws use :math:`O(2^M)` cell sums
    (the additive model for the grid above 4 bits). Results are cached per
    (family, parameters, bits, scheme, model), and a named family's search is
    shared by all its members (scale invariance). Empirical (exact model):
    one exact branch and bound for every N
    (:mod:`quanttheory._empirical.bound`). Up to 8,192 in-memory samples
    the atoms are the distinct values, from one :math:`O(N\log N)` sort
    (the measured break-even); otherwise one :math:`O(N)` pass (one thread
    per core, numba-compiled if installed) builds histogram bins cut on the
    float's bits with per-bin centred sums, about :math:`N/16` bins, so any
    dynamic range is binned exactly. Each round bounds the MSE on step
    intervals from prefix sums, :math:`O(2^M\log K)` per interval for
    :math:`K` atoms, and drops every interval whose lower bound exceeds the
    best upper bound (a bound, not a count of basins); where the bins limit
    the bounds, one more pass makes them 4 times finer. One more
    :math:`O(N)` pass gathers the samples of the bins that the surviving
    intervals sweep, then a sweep over their :math:`P` kinks (the sorted
    runs of each threshold merged, :math:`O(P\log 2^M)`) takes each
    quadratic piece's closed-form minimum, and the best candidates are
    rescored exactly (:math:`O(K)` once plus :math:`O(V)` per candidate for
    the :math:`V` atoms whose level moves between them). Memory: the bins,
    the atoms and the gathered samples; memory-mapped and Dask data are
    read in chunks, never copied whole. The additive model sorts the
    samples and sweeps every kink (:mod:`quanttheory._empirical.sorted`).

    Where several steps reach the same minimum (e.g. constant data), the
    largest of those found is returned (the search covers steps up to twice
    the one that clips nothing).

    References
    ----------
    .. [1] M. Shkolnik et al., "Robust Quantization: One Model to Rule Them
       All", NeurIPS 2020, arXiv:2002.07686, Lemma 3.
    .. [2] J. Max, "Quantizing for minimum distortion", IRE Trans. Inf.
       Theory 6(1), 1960, doi:10.1109/TIT.1960.1057548.

    Examples
    --------
    >>> import quanttheory as qt
    >>> round(qt.optimal_step(qt.Uniform(1.0), 4) * 17 / 2, 12)   # 2a/(2^M+1)
    1.0
    >>> round(qt.optimal_step(qt.Gaussian(), 3, scheme="midrise"), 4)  # Max 1960
    0.586
    >>> import numpy as np
    >>> w = np.random.default_rng(0).laplace(size=1000)   # plain data
    >>> qt.optimal_step(w, 4) == qt.optimal_step(qt.Empirical(w), 4)
    True
    """
    func = "optimal_step"
    dist, s, model = validate(func, dist, bits, scheme, model)
    if dist._is_empirical and dist._rows is not None:
        return _batched_optimal(func, dist, s, model)
    if (
        dist._is_empirical
        and model == "exact"
        and dist.n <= ROW_ENGINE_MAX
        and s.bits <= EMPIRICAL_MAX_BITS
    ):
        # the engine that a batch's rows of this size take: a slice gives the
        # same float alone as inside its batch (one engine per row size)
        return float(_batched_optimal(func, _as_batch(dist), s, model)[0])
    if dist._is_empirical:
        if s.bits > EMPIRICAL_MAX_BITS:
            raise InvalidArgument(
                f"{func}: bits={s.bits} is above {EMPIRICAL_MAX_BITS}, the most for "
                "Empirical data: the exact search scores all 2**bits thresholds "
                "at every step of its grid (16 bits on 1,000 samples take about "
                "6 s, and each bit doubles time and memory)"
            )
        step = empirical_optimal(dist, s, model)
    else:
        step = law_optimal(dist, s, model)
    if not _NORMAL_MIN <= step <= _NORMAL_MAX:
        _out_of_range(func, dist, s, model, step)
    return step


_NORMAL_MIN = float(np.finfo(np.float64).smallest_normal)


#: Rows of at most this many samples take the batched engine
#: (:mod:`quanttheory._empirical.batched`), whether they are one
#: :class:`Empirical` or a row of a batch; longer rows take the 1-D engine
#: (:mod:`quanttheory._empirical.bound`), one row at a time. So a batched
#: result equals the per-slice result bit for bit: each row size has one
#: engine. 2**16 covers the rows and groups of real weight matrices, for
#: which the batched engine is vectorised; above it, one row is enough work
#: for the 1-D engine's passes.
ROW_ENGINE_MAX = 1 << 16


def _as_batch(dist):
    """An unbatched Empirical as a batch of one row."""
    w = None if dist._weights is None else np.asarray(dist._weights)[None, :]
    return Empirical(np.asarray(dist.samples)[None, :], axis=0, weights=w, copy=False)


def _row_by_row(func: str, dist, s, model: str) -> np.ndarray:
    """Rows longer than :data:`ROW_ENGINE_MAX`: each by the 1-D engine, as
    :func:`optimal_step` of that slice alone would take it."""
    out = np.empty(dist._rows.shape[0])
    for i, row in enumerate(dist._rows):
        w = None if dist._wrows is None else dist._wrows[i]
        try:
            one = Empirical(row, weights=w, copy=False)
            out[i] = optimal_step(one, s.bits, scheme=s.name, model=model)
        except InvalidArgument as exc:
            j = tuple(int(k) for k in np.unravel_index(i, dist.batch_shape))
            raise InvalidArgument(f"{exc} (group {j} of {dist!r})") from None
    return out.reshape(dist.batch_shape)


def _batched_optimal(func: str, dist, s, model: str) -> np.ndarray:
    """The exact optimum of every group of a batched Empirical (an array of
    its ``batch_shape``), by :func:`quanttheory._empirical.batched.batched_optimal`."""
    if s.bits > EMPIRICAL_MAX_BITS:
        raise InvalidArgument(
            f"{func}: bits={s.bits} is above {EMPIRICAL_MAX_BITS}, the most for "
            "Empirical data"
        )
    if model != "exact":
        raise InvalidArgument(
            f"{func}: model={model!r} is not available for a batched Empirical; "
            "use model='exact'"
        )
    if dist._rows.shape[1] > ROW_ENGINE_MAX:
        return _row_by_row(func, dist, s, model)
    try:
        u = batched_optimal(dist._unit_rows(), dist._wrows, s)
    except InvalidArgument as exc:
        raise InvalidArgument(
            f"{exc} ({dist!r}, batch shape {dist.batch_shape})"
        ) from None
    with np.errstate(over="ignore", under="ignore"):
        step = np.ldexp(u, dist._exponent) if dist._exponent else u
    bad = ~((step >= _NORMAL_MIN) & (step <= _NORMAL_MAX))
    if bad.any():
        i = np.unravel_index(int(np.flatnonzero(bad)[0]), dist.batch_shape)
        raise InvalidArgument(
            f"{func}: the optimal step of group {tuple(int(j) for j in i)} of "
            f"{dist!r} at bits={s.bits} (scheme {s.name!r}) is beyond float64's "
            "normal range; rescale the data"
        )
    return step.reshape(dist.batch_shape)


_NORMAL_MAX = float(np.finfo(np.float64).max)


def _out_of_range(func: str, dist, s, model: str, step: float):
    """Raise: the optimum is beyond float64's normal range; say about where."""
    if dist._is_empirical:
        scaled = dist._scaled()
        lg = math.log10(empirical_optimal(scaled, s, model))
        lg += dist._exponent * math.log10(2.0)
    else:
        std = dist._standardized()
        if std is None:
            lg = math.log10(step) if step > 0 else -math.inf
        else:
            lg = math.log10(law_optimal(std[0], s, model)) + math.log10(std[1])
    where = "below" if lg < 0 else "above"
    exp = math.floor(lg) if math.isfinite(lg) else 0
    about = f"{10 ** (lg - exp):.3g}e{exp:+d}" if math.isfinite(lg) else "0"
    raise InvalidArgument(
        f"{func}: the optimal step of {dist!r} at bits={s.bits} (scheme "
        f"{s.name!r}) is about {about}, {where} float64's normal range "
        f"({_NORMAL_MIN:.4g} .. {_NORMAL_MAX:.4g}); rescale the law or the data "
        "(the optimal step of cX is c times that of X)"
    )
