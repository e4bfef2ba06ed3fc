r"""Second-order step sensitivity :math:`\Gamma(X,\varepsilon)` (Lemma 1) and SQNR."""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

from ._core.checks import (
    as_float_result,
    check_finite_array,
    check_positive_scalar,
    check_representable,
)
from ._core.errors import InvalidArgument, TaylorRangeWarning
from ._core.scheme import Scheme, get_scheme
from ._empirical import curvature
from ._empirical.batched import smoothed_curvature_rows
from ._optimal import optimal_step
from ._route import (
    batch_steps,
    batched_curve,
    curve,
    evaluate,
    is_batched,
    scaled_curve,
    sqnr,
    validate,
)

__all__ = [
    "TAYLOR_RTOL",
    "sensitivity",
    "smoothed_curvature",
    "sqnr_db",
    "taylor_radius",
]

#: Relative accuracy that defines the validity radius of Lemma 1's value.
TAYLOR_RTOL = 0.1
#: Points of the geometric grid per side, from 1e-6 of the range to all of it.
_GRID = 33
#: Kinks of the MSE taken into the scan per density jump and side.
_KINKS = 16
#: Points of the grid for Empirical data, from 1 % of the range to all of it.
_GRID_EMPIRICAL = 17


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

    Warns
    -----
    TaylorRangeWarning
        With ``taylor=True``, when an :math:`|\varepsilon|` exceeds
        :func:`taylor_radius` on its side: there the second-order value is
        off by more than 10 % (a kink of the MSE, or a large third-order
        term). The value is still returned; ``taylor=False`` gives the exact
        change.

    See Also
    --------
    mse_derivative, optimal_step, taylor_radius

    Notes
    -----
    A batched or weighted :class:`Empirical` takes the exact model only;
    its values are per group, ``step`` may be an array of its
    ``batch_shape``, and no :class:`TaylorRangeWarning` is checked there
    (use :func:`taylor_radius` on one group).

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
    4a/(4^M-1)`. Inside, Taylor misses only the cubic term, which reaches
    10 % of the value already at :math:`|\varepsilon| \approx
    0.15\,a/4^{M-1}` (:func:`taylor_radius`). With ``'signed'`` the
    optimum of the uniform law lies next to a kink, where the curvature is
    small and changes fast: at 4 bits the Taylor value of a 5 % step error
    is 5 to 8 times too small, and the warning says so.

    References
    ----------
    .. [1] M. Shkolnik et al., "Robust Quantization: One Model to Rule Them
       All", NeurIPS 2020, arXiv:2002.07686, Lemma 1.

    Examples
    --------
    >>> import quanttheory as qt
    >>> u = qt.Uniform(1.0)
    >>> # curvature at 2a/(2^M+1) is 2^(M-1) = 8 for M=4: 8 * 0.001^2 / 2
    >>> [round(v, 12) for v in qt.sensitivity(u, 4, [-0.001, 0.001]).tolist()]
    [4e-06, 4e-06]
    >>> # Lemma 2 is cubic: + |D'''| 0.001^3 / 6, |D'''| = 2K^3 - K/2 = 1020
    >>> round(qt.sensitivity(u, 4, -0.001, taylor=False), 12)
    4.17e-06

    At ten times that step error (8.5 % of the step) the cubic term is 42 %
    of the value, beyond the radius of :func:`taylor_radius`:

    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as seen:
    ...     warnings.simplefilter("always")
    ...     g = qt.sensitivity(u, 4, -0.01)
    >>> round(g, 12), round(qt.sensitivity(u, 4, -0.01, taylor=False), 12)
    (0.0004, 0.00057)
    >>> seen[0].category.__name__
    'TaylorRangeWarning'

    A batched :class:`Empirical` (per channel or per group) gives one value
    per group (``eps`` and ``step`` broadcast to its ``batch_shape``):

    >>> import numpy as np
    >>> w = np.random.default_rng(0).standard_normal((3, 20_000))
    >>> qt.sensitivity(qt.Empirical(w, axis=0), 4, 0.01, taylor=False).shape
    (3,)
    """
    dist, s, model = validate("sensitivity", dist, bits, scheme, model)
    e = check_finite_array("sensitivity", "eps", eps)
    if is_batched(dist):
        return _batched_sensitivity(dist, s, model, e, step, taylor)
    if step is None:
        d0 = optimal_step(dist, bits, scheme=scheme, model=model)
    else:
        d0 = check_positive_scalar("sensitivity", "step", step)
    if taylor:
        out = np.zeros_like(e)
        c2s = {}
        if dist._is_empirical and model == "exact":
            c2 = smoothed_curvature(dist, d0, bits, scheme=scheme)
            with np.errstate(over="ignore"):
                out = abs(c2) * e * e / 2.0
            c2s = {1: c2, -1: c2}
        else:
            for side in (1, -1):
                mask = (e > 0) if side == 1 else (e < 0)
                if mask.any():
                    c2 = evaluate("sensitivity", dist, d0, bits, scheme, model, 2, side)
                    c2s[side] = float(c2[2])
                    with np.errstate(over="ignore"):
                        out = np.where(mask, abs(c2s[side]) * e * e / 2.0, out)
        out = check_representable(
            "sensitivity",
            "the Taylor value |D''| eps^2 / 2",
            out,
            hint="pass a smaller eps",
        )
        _warn_outside_radius(dist, d0, s, model, e, c2s)
        return as_float_result(out)
    with np.errstate(over="ignore"):
        target = d0 + e
    if not np.isfinite(target).all():
        bad = float(e[~np.isfinite(target)].flat[0])
        raise InvalidArgument(
            f"sensitivity: eps={bad!r} makes the step {d0!r} + eps overflow "
            "float64; pass a smaller eps"
        )
    if (target <= 0).any():
        bad = float(e[target <= 0].flat[0])
        raise InvalidArgument(
            f"sensitivity: eps={bad!r} makes the step {d0!r} + eps non-positive"
        )
    base = evaluate("sensitivity", dist, d0, bits, scheme, model, 0)[0]
    moved = evaluate("sensitivity", dist, target, bits, scheme, model, 0)[0]
    return as_float_result(np.abs(moved - base))


def _batched_sensitivity(dist, s, model, e, step, taylor):
    """:func:`sensitivity` of a batched/weighted Empirical, per group."""
    func = "sensitivity"
    if model != "exact":
        raise InvalidArgument(
            f"{func}: model={model!r} is not available for a batched or weighted "
            "Empirical; use model='exact'"
        )
    if step is None:
        if dist._rows is None:  # one weighted distribution
            d0 = np.asarray(optimal_step(dist, s.bits, scheme=s.name), dtype=float)
        else:
            d0 = optimal_step(dist, s.bits, scheme=s.name)
    else:
        d0 = step
    d = batch_steps(func, dist, "step", d0)  # (B, 1) for a batch
    shape = dist.batch_shape
    if dist._rows is None:
        d = d[:, :1]
    try:
        eb = (
            np.broadcast_to(e, shape).reshape(d.shape)
            if dist._rows is not None
            else (e.reshape(1, -1))
        )
    except ValueError:
        raise InvalidArgument(
            f"{func}: eps of shape {e.shape} does not broadcast to the batch shape "
            f"{shape}"
        ) from None
    if taylor:
        xs = dist._unit_rows() if dist._rows is not None else None
        if xs is None:
            x = np.asarray(dist.samples, dtype=np.float64)
            xs = (np.ldexp(x, -dist._exponent) if dist._exponent else x)[None, :]
            ws = dist._weights[None, :]
        else:
            ws = dist._wrows
        u = np.ldexp(d[:, 0], -dist._exponent) if dist._exponent else d[:, 0]
        c2 = smoothed_curvature_rows(xs, ws, u, s)[:, None]
        with np.errstate(over="ignore"):
            out = abs(c2) * eb * eb / 2.0
        out = check_representable(
            func, "the Taylor value |D''| eps^2 / 2", out, hint="pass a smaller eps"
        )
    else:
        target = d + eb
        if (target <= 0).any():
            bad = float(eb[target <= 0].flat[0])
            raise InvalidArgument(
                f"{func}: eps={bad!r} makes the step + eps non-positive"
            )
        v0, c = batched_curve(func, dist, np.broadcast_to(d, target.shape), s, 0, 1)
        v1, _ = batched_curve(func, dist, target, s, 0, 1)
        with np.errstate(over="ignore"):
            out = np.abs(v1[0] - v0[0]) * c * c
        out = check_representable(func, "the change of the MSE", out)
    out = out.reshape(shape) if dist._rows is not None else out.reshape(e.shape)
    return as_float_result(out)


def _warn_outside_radius(dist, d0, s, model, e, c2s) -> None:
    """Warn once if an ``eps`` lies beyond the Taylor radius on its side."""
    for side, name in ((1, "right"), (-1, "left")):
        part = e[e > 0] if side == 1 else -e[e < 0]
        if part.size == 0:
            continue
        far = float(part.max())
        cap = min(far, 0.5 * d0)
        if dist._is_empirical and model == "exact":
            # data: the Taylor value against the exact change at the largest
            # step error itself (below it the exact change of a tensor can
            # follow its quadratic pieces instead, see taylor_radius)
            r = _empirical_radius(dist, d0, s, side, cap, TAYLOR_RTOL, c2s[side], 1)
        else:
            # a coarser grid than taylor_radius's (13 points from 1e-3 of
            # |eps| on): this runs on every call; the kinks are exact anyway
            r = _radius(dist, d0, s, model, side, cap, TAYLOR_RTOL, c2s, (-3.0, 13))
        if far > r:
            warnings.warn(
                f"sensitivity: eps={side * far!r} lies beyond the {name} validity "
                f"radius {r:.3g} of Lemma 1's Taylor value at step {d0!r} "
                f"({r / d0:.3g} of the step; see taylor_radius): the second-order "
                f"value is off by more than {TAYLOR_RTOL:.0%} there (a kink of the "
                "MSE or a large third-order term); taylor=False gives the exact "
                "change",
                TaylorRangeWarning,
                stacklevel=3,
            )
            return


def taylor_radius(
    dist, bits, *, scheme="paper", model="exact", step=None, rtol=TAYLOR_RTOL
) -> tuple[float, float]:
    r"""Validity radius of Lemma 1's Taylor value, on each side of the step.

    The Taylor value :math:`|D''(\Delta)|\varepsilon^2/2` of
    :func:`sensitivity` stands for the exact change
    :math:`D(\Delta+\varepsilon) - D(\Delta) - D'(\Delta)\varepsilon =
    \int_0^\varepsilon (\varepsilon-t)\,D''(\Delta+t)\,dt` (at the optimum
    :math:`D'=0`). The radius on a side is the largest :math:`|\varepsilon|`
    up to which the relative error

    .. math::

        \frac{\big|\int_0^\varepsilon (\varepsilon-t)\,
        (D''(\Delta+t)-D''(\Delta))\,dt\big|}{|D''(\Delta)|\,\varepsilon^2/2}

    stays within ``rtol``. It ends either at a kink of the MSE, a step where
    :math:`D''` jumps because a decision threshold (for ``model='exact'``)
    or an outermost level (``'additive'``) crosses a jump of the density,
    such as :math:`\pm a` for :class:`Uniform`, or where the third-order
    term reaches ``rtol`` of the value, :math:`|\varepsilon| \approx
    3\,\mathrm{rtol}\,|D''|/|D'''|` for a smooth MSE.

    Parameters
    ----------
    dist : Distribution
        :class:`Uniform`, :class:`Gaussian`, :class:`Laplace`,
        :func:`from_scipy` or :class:`Empirical`.
    bits : int
        Bit-width :math:`M`.
    scheme : {'paper', 'midrise', 'signed', 'symmetric'}
        Level set, see :func:`levels`.
    model : {'exact', 'additive'}
        The true MSE or the additive-noise model.
    step : float, optional
        Expansion point; ``None`` means :math:`\tilde\Delta` from
        :func:`optimal_step` (same scheme and model).
    rtol : float
        Relative accuracy in (0, 1) that defines validity (default 0.1,
        the level at which :func:`sensitivity` warns).

    Returns
    -------
    tuple of float
        ``(left, right)``: the radius for :math:`\varepsilon < 0` and for
        :math:`\varepsilon > 0`, as absolute step errors, each at most
        ``step / 2``.

    Raises
    ------
    InvalidArgument
        For an invalid distribution, bit-width, scheme, model, step or
        ``rtol``.

    See Also
    --------
    sensitivity

    Notes
    -----
    :math:`D''` is evaluated analytically on a geometric grid of 33 points
    per side, on both sides of the nearest kinks and at 7 more points
    where the error crosses ``rtol``; the integral is exact for :math:`D''`
    linear between them (as it is for :class:`Uniform`). The radius concerns the
    second-order term only: away from the optimum the Taylor value also
    omits :math:`D'(\Delta)\varepsilon`. For :class:`Empirical` data
    (exact model) the Taylor value uses :func:`smoothed_curvature`, and the
    radius compares it with the exact change :math:`|D(\Delta+\varepsilon)
    - D(\Delta)|` on 17 geometric points from 1 % of ``step / 2`` on: it is
    the largest of them at which they agree within ``rtol``, and
    :func:`sensitivity` checks its largest :math:`|\varepsilon|` the same
    way. At smaller step errors, below about the width of the quadratic
    pieces of the empirical MSE, the exact change follows the piece's own
    curvature instead and can differ by more (for :math:`10^6` Gaussian
    samples at 4 bits, 20-30 % at 0.1-0.3 % of the step); a tensor too
    small for the smoothed curvature gets a radius of 0.

    Examples
    --------
    >>> import quanttheory as qt
    >>> u = qt.Uniform(1.0)
    >>> s = qt.optimal_step(u, 4)                  # 2a/17
    >>> # Lemma 2's cubic: D''' eps / (3 D'') = 0.1 at eps = 0.3 K / (2K^3 - K/2)
    >>> left, right = qt.taylor_radius(u, 4)
    >>> round(left / s, 4), round(right / s, 4)
    (0.02, 0.02)
    >>> # 'signed' 4 bits: the optimum sits 0.9 % of the step below a kink
    >>> s = qt.optimal_step(u, 4, scheme="signed")
    >>> [round(r / s, 5) for r in qt.taylor_radius(u, 4, scheme="signed")]
    [0.00133, 0.00133]
    """
    func = "taylor_radius"
    dist, s, model = validate(func, dist, bits, scheme, model)
    if is_batched(dist):
        raise InvalidArgument(
            f"{func}: dist={dist!r} is batched or weighted; taylor_radius takes one "
            "unweighted distribution (build an Empirical of one group)"
        )
    if (
        isinstance(rtol, bool)
        or not isinstance(rtol, numbers.Real)
        or not 0.0 < rtol < 1.0
    ):
        raise InvalidArgument(f"{func}: rtol={rtol!r} must lie in (0, 1)")
    if step is None:
        d0 = optimal_step(dist, bits, scheme=scheme, model=model)
    else:
        d0 = check_positive_scalar(func, "step", step)
    c2s = {}
    if dist._is_empirical and model == "exact":
        c2 = smoothed_curvature(dist, d0, bits, scheme=scheme)
        c2s = {1: c2, -1: c2}
    return tuple(
        _radius(dist, d0, s, model, side, 0.5 * d0, float(rtol), c2s)
        for side in (-1, 1)
    )


def _kink_steps(dist, s: Scheme, model: str, lo: float, hi: float, near: float):
    r"""Steps in ``(lo, hi)`` at which :math:`D''` jumps, and whether all are.

    A density jump at :math:`e` makes :math:`D''` jump at every step
    :math:`e/m` where :math:`m` is a decision threshold in units of the step
    (``model='exact'``) or an outermost level (``'additive'``). Per jump at
    most :data:`_KINKS` on each side of ``near`` are returned, ascending;
    the flag says that some were left out (then all those nearer to
    ``near`` than the farthest returned one are there).
    """
    jumps = np.asarray(dist._jumps, dtype=np.float64)
    if dist._is_empirical or not jumps.any():
        return np.empty(0), False
    points = np.asarray(dist._breakpoints, dtype=np.float64)[jumps != 0]
    points = points[points != 0]
    if model == "additive":
        m = np.array([s.bottom, s.top], dtype=np.float64)
        m = m[m != 0]
        c = (points[:, None] / m[None, :]).ravel()
        return np.unique(c[(c > lo) & (c < hi)]), False
    out = []
    truncated = False
    # thresholds j + offset + 1/2, j = kmin .. kmax - 1; per sign an
    # arithmetic progression of magnitudes p0 + i, i = 0 .. count - 1
    c0 = s.offset + 0.5
    for sign in (1.0, -1.0):
        if sign > 0:
            j0 = max(s.kmin, math.floor(-c0) + 1)  # smallest j with j + c0 > 0
            count = s.kmax - j0
            p0 = j0 + c0
        else:
            j1 = min(s.kmax - 1, math.ceil(-c0) - 1)  # largest j with j + c0 < 0
            count = j1 - s.kmin + 1
            p0 = -(j1 + c0)
        if count <= 0:
            continue
        end = p0 + count  # beyond the largest threshold magnitude
        for e in np.abs(points[np.sign(points) == sign]).tolist():
            # the step e/p lies in (lo, hi) for p in (e/hi, e/lo); the
            # comparisons come first so that no quotient overflows
            if e >= hi * end:
                continue  # every kink is below lo..hi's top: none in range
            first = max(0, math.floor(e / hi - p0))
            last = count - 1
            if lo > 0 and e < lo * end:
                last = min(last, math.ceil(e / lo - p0))
            if last < first:
                continue
            mid = e / near if e < near * end else end
            centre = min(max(round(mid - p0), first), last)
            a, b = max(first, centre - _KINKS), min(last, centre + _KINKS)
            truncated |= a > first or b < last
            i = np.arange(a, b + 1, dtype=np.float64)
            c = e / (p0 + i)
            out.append(c[(c > lo) & (c < hi)])
    if not out:
        return np.empty(0), truncated
    return np.unique(np.concatenate(out)), truncated


def _radius(dist, d0, s, model, side, cap, rtol, c2s, grid=(-6.0, _GRID)) -> float:
    """The radius on ``side`` (+1 right, -1 left), at most ``cap``.

    ``grid``: the geometric grid, from ``10**grid[0]`` of ``cap`` to ``cap``
    in ``grid[1]`` points (besides the kinks and the second pass).
    """
    if dist._is_empirical and model == "exact":
        return _empirical_radius(dist, d0, s, side, cap, rtol, c2s[side])
    lo, hi = (d0, d0 + cap) if side == 1 else (d0 - cap, d0)
    kinks, truncated = _kink_steps(dist, s, model, lo, hi, d0)
    tk = side * (kinks - d0)
    tk = tk[(tk > 1e-12 * d0) & (tk < cap)]
    if truncated and tk.size:
        # more kinks than taken (many bits): search no farther than the
        # farthest one taken, up to which all are known
        cap = float(tk.max())
        tk = tk[tk < cap]
    t = cap * np.logspace(grid[0], 0.0, grid[1])
    # the points, ascending in t; at a kink D'' from both sides of it: first
    # the value reached from the step (side -side), then the one beyond
    pts = np.concatenate([[0.0], t, tk, tk])
    toward = np.concatenate(
        [[side], np.full(t.size, side), np.full(tk.size, -side), np.full(tk.size, side)]
    )
    rank = np.concatenate([[0], np.zeros(t.size), np.zeros(tk.size), np.ones(tk.size)])
    g = _curvatures(dist, d0, s, model, side, pts, toward)
    c0 = c2s.get(side, float(g[0]))
    if c0 == 0.0 or not np.isfinite(g).all():
        return 0.0
    order = np.lexsort((rank, pts))
    pts, toward, rank, g = pts[order], toward[order], rank[order], g[order]
    found = _crossing(pts, g - c0, c0, rtol)
    if found is None:
        return float(cap)
    x0, x1, r = found
    if x1 <= x0:
        return r
    # a second pass inside the bracket: 7 more points, so that the linear
    # model of D'' between points errs by a fraction of a per cent
    fine = np.linspace(x0, x1, 9)[1:-1]
    gf = _curvatures(dist, d0, s, model, side, fine, np.full(fine.size, side))
    keep = pts <= x1
    pts = np.concatenate([pts[keep], fine])
    rank = np.concatenate([rank[keep], np.zeros(fine.size)])
    g = np.concatenate([g[keep], gf])
    order = np.lexsort((rank, pts))
    found = _crossing(pts[order], g[order] - c0, c0, rtol)
    return float(x1) if found is None else found[2]


def _curvatures(dist, d0, s, model, side, pts, toward) -> np.ndarray:
    """:math:`D''` at ``d0 + side * pts``, one-sided toward ``toward``."""
    g = np.empty(pts.size)
    for sd in (1, -1):
        mask = toward == sd
        if mask.any():
            g[mask] = curve(dist, d0 + side * pts[mask], s, model, 2, sd)[2]
    return g


def _crossing(pts, g, c0, rtol):
    r"""Where the Taylor error first exceeds ``rtol``: ``(t0, t1, radius)``.

    ``g`` is :math:`D''(\Delta + t) - D''(\Delta)` at the ascending ``pts``
    (from 0), linear in between; the relative error at :math:`t_n` is
    :math:`|\int_0^{t_n}(t_n-u)\,g(u)\,du| / (|c_0| t_n^2/2)`. None if it
    never exceeds ``rtol``.
    """
    h = np.diff(pts)
    ga, gb = g[:-1], g[1:]
    first = np.cumsum(h * (ga + gb) / 2.0)
    second = np.cumsum(h * (pts[:-1] * (ga + gb) / 2.0 + h * (ga / 6.0 + gb / 3.0)))
    tn = pts[1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.abs(tn * first - second) / (abs(c0) * tn * tn / 2.0)
    rel = np.where(tn > 0, rel, 0.0)
    bad = np.flatnonzero(rel > rtol)
    if bad.size == 0:
        return None
    j = int(bad[0])
    x0, x1 = float(pts[j]), float(pts[j + 1])
    r0 = float(rel[j - 1]) if j > 0 else 0.0
    if x1 <= x0 or not r0 < rtol:
        return x0, x0, x0
    # the error inside the segment, with g linear on it: the sums up to its
    # start plus the part of it up to t; bisection for where it reaches rtol
    f0 = float(first[j - 1]) if j > 0 else 0.0
    s0 = float(second[j - 1]) if j > 0 else 0.0
    g0, slope = float(g[j]), (float(g[j + 1]) - float(g[j])) / (x1 - x0)

    def err(t):
        hp = t - x0
        gt = g0 + slope * hp
        f = f0 + hp * (g0 + gt) / 2.0
        sec = s0 + hp * (x0 * (g0 + gt) / 2.0 + hp * (g0 / 6.0 + gt / 3.0))
        return abs(t * f - sec) / (abs(c0) * t * t / 2.0)

    lo, hi = x0, x1
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if mid <= lo or mid >= hi:
            break
        if err(mid) > rtol:
            hi = mid
        else:
            lo = mid
    return x0, x1, lo


def _empirical_radius(dist, d0, s, side, cap, rtol, c2, points=_GRID_EMPIRICAL):
    """Radius of the smoothed Taylor value of data, against the exact change.

    The largest step error on a geometric grid from 1 % of ``cap`` to
    ``cap`` (``points`` of them; 1 means ``cap`` alone) at which the Taylor
    value is within ``rtol`` of the exact change, interpolated to the next
    point; 0 if there is none.
    """
    if c2 == 0.0:
        return 0.0
    t = cap * np.logspace(-2.0, 0.0, points) if points > 1 else np.array([cap])
    # in the data's scaled coordinates (D = c^2 v), so that neither the MSE
    # of large data nor the Taylor value of tiny ones leaves float64
    v, c = scaled_curve(dist, np.concatenate([[d0], d0 + side * t]), s, "exact", 0)
    c = float(np.asarray(c).flat[0])
    exact = np.abs(v[0][1:] - v[0][0])
    tc = t / c
    with np.errstate(over="ignore", under="ignore"):
        taylor = abs(c2) * tc * tc / 2.0
    # where either value under- or overflows the comparison means nothing:
    # such points count as outside the radius
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        rel = np.abs(exact - taylor) / taylor
    rel = np.where((taylor > 0) & np.isfinite(taylor) & np.isfinite(exact), rel, np.inf)
    good = np.flatnonzero(rel <= rtol)
    if good.size == 0:
        return 0.0
    j = int(good[-1])
    if j == t.size - 1:
        return float(cap)
    x0, x1 = float(t[j]), float(t[j + 1])
    r0, r1 = float(rel[j]), float(rel[j + 1])
    return x0 + (x1 - x0) * (rtol - r0) / (r1 - r0)


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
    float or ndarray
        :math:`\bar D''(\Delta)`; per group (an array of its
        ``batch_shape``, ``step`` broadcast to it) for a batched
        :class:`Empirical`, weighted for a weighted one.

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
    if getattr(dist, "_is_empirical", False) and is_batched(dist):
        return _batched_curvature(dist, step, s)
    d = check_positive_scalar("smoothed_curvature", "step", step)
    if not getattr(dist, "_is_empirical", False):
        raise InvalidArgument(
            f"smoothed_curvature: dist={dist!r} must be Empirical; for a law use "
            "mse_derivative(..., order=2)"
        )
    return curvature.smoothed_curvature(dist, d, s)


def _batched_curvature(dist, step, s: Scheme):
    """:func:`smoothed_curvature` per group of a batched/weighted Empirical."""
    d = batch_steps("smoothed_curvature", dist, "step", step)[:, 0]
    if dist._rows is not None:
        xs, ws = dist._unit_rows(), dist._wrows
    else:
        x = np.asarray(dist.samples, dtype=np.float64)
        xs = (np.ldexp(x, -dist._exponent) if dist._exponent else x)[None, :]
        ws = dist._weights[None, :]
        d = d[:1]
    u = np.ldexp(d, -dist._exponent) if dist._exponent else d
    out = smoothed_curvature_rows(xs, ws, u, s)
    return out.reshape(dist.batch_shape) if dist._rows is not None else float(out[0])


def sqnr_db(dist, step, bits, *, scheme="paper", model="exact"):
    r"""Signal-to-quantization-noise ratio in decibels.

    .. math::

        \mathrm{SQNR} = 10\log_{10}\frac{E[X^2]}{\mathrm{MSE}(X,\Delta)}

    Parameters
    ----------
    dist : Distribution or array_like
        :class:`Uniform`, :class:`Gaussian`, :class:`Laplace`,
        :func:`from_scipy` or :class:`Empirical`; an array or tensor of
        samples is taken as its :class:`Empirical`.
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
        exactly zero (e.g. data on the grid). Both powers are taken in the
        law's (or the data's) scaled coordinates, so the ratio is exact at
        any scale, also where :math:`E[X^2]` or the MSE alone is beyond
        float64.

    Raises
    ------
    InvalidArgument
        For invalid arguments, or samples that are all zero: their signal
        power :math:`E[X^2]` is 0, and the SQNR (0 over the MSE, which is 0
        or :math:`\Delta^2/4`) is undefined.

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
    return as_float_result(sqnr("sqnr_db", dist, step, bits, scheme, model))
