r"""Validate once, then route to the law engines or the empirical ones.

Every public function of layer 3 (:mod:`._mse`, :mod:`._optimal`,
:mod:`._sensitivity`) checks its arguments here, then calls :func:`curve`,
which assumes valid input: the refinement loops of the engines call their
own layer directly and never re-validate.

Scaled coordinates
------------------
The MSE is scale-covariant: for :math:`c > 0`,

.. math::

    D(cX, c\Delta) = c^2 D(X, \Delta), \qquad
    D'(cX, c\Delta) = c\,D'(X, \Delta), \qquad
    D''(cX, c\Delta) = D''(X, \Delta).

So every evaluation happens once, here, in coordinates where the engines
are exact: on the unit member of a scale family (``_standardized()``
returns ``(unit, c)``) whose scale lies beyond :math:`2^{\pm100}` (within,
on the law itself, bit for bit as the engines compute it), and for
:class:`~quanttheory.Empirical` data of extreme magnitude on the samples
divided by a power of two (``_exponent``, exact). The engines then only see
steps of order one relative to the law, whatever the scale: a law of scale
1e-300 or 1e300 is as exact as a standard one. Only the final values are
scaled back, and a value that float64 cannot hold raises
:class:`InvalidArgument` instead of becoming ``inf``, 0 or NaN.

Relative to the unit member's reach :math:`R` (its ``_scale`` plus
``|_centre|``; the largest magnitude for data), two regimes have closed
forms:

* :math:`u = \Delta/c < 2^{-256}R`: every level lies within
  :math:`2^{63}\cdot 2^{-256}R` of 0, so the MSE and its derivatives have
  reached their :math:`\Delta\to0` limits to far below float64 rounding
  (they change by :math:`O(2^{-190})` relative); they are evaluated at
  :math:`u = 2^{-256}R`.
* Wide cells (used beyond :math:`2^{64}R`, and for a law above 16 bits,
  where the engines' expansions assume cells narrower than the law): once
  the innermost decision threshold (:math:`u/2` with a
  level at 0, :math:`u` for ``'midrise'``, the clipping level for the
  additive model) lies beyond the point :math:`\tau^*` past which the law
  has no mass in float64 (its own tail moments are exactly 0 there and at
  every larger power of two; for data, the largest magnitude), one cell
  holds everything: a level at 0 gives :math:`D = E[X^2]`,
  :math:`D' = D'' = 0`; ``'midrise'`` gives :math:`D = E[(|X| - \Delta/2)^2]`,
  :math:`D' = \Delta/2 - E|X|`, :math:`D'' = 1/2`; and the additive model
  :math:`D = \frac{\Delta^2}{12}` (plus :math:`E[X^2; X>0]` and minus that
  probability for one-bit ``'signed'``), all exact. :math:`\tau^*` is 1 for
  the uniform law, 64 for the Gaussian and 1024 for the Laplace law. A law
  without such a point (heavy tails) is refused at :math:`u \ge 2^{64}R`,
  where the engines have no exact route.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from ._core.checks import (
    check_model,
    check_no_nan,
    check_positive_array,
    is_torch,
    show,
)
from ._core.distribution import Distribution
from ._core.errors import InvalidArgument
from ._core.parallel import is_dask
from ._core.scheme import Scheme, get_scheme
from ._empirical import batched as empirical_batched
from ._empirical import values as empirical_values
from ._empirical.empirical import as_empirical
from ._laws import routes as law_routes

__all__ = [
    "COARSE",
    "FINE",
    "as_distribution",
    "batch_steps",
    "batched_curve",
    "curve",
    "evaluate",
    "is_batched",
    "scaled_curve",
    "sqnr",
    "validate",
]

#: Scales at which a law is evaluated in its own coordinates (the engines
#: are exact there); beyond, on its unit member.
_MODERATE = (2.0**-100, 2.0**100)

#: Relative steps below this are evaluated at it (the limit of small steps).
FINE = 2.0**-256

#: The least relative floor of the steps of weighted data (see
#: ``batched_curve``): ``x / step`` stays below 2**1000.
_FLOOR_MIN = 2.0**-1000

#: Relative steps from this on need the closed forms of one wide cell (a law
#: whose tails reach beyond is refused there).
COARSE = 2.0**64

_FMAX = float(np.finfo(np.float64).max)

_FMIN = float(np.finfo(np.float64).smallest_normal)


def as_distribution(func: str, dist) -> Distribution:
    """``dist`` itself, or an array of samples as :class:`Empirical`.

    An array, a list, a tuple, a torch tensor (a Parameter that requires
    grad included), a memory map or a Dask array of at least one dimension
    is wrapped (see :func:`quanttheory._empirical.empirical.as_empirical`);
    anything else that is not a :class:`Distribution` raises
    :class:`InvalidArgument`.
    """
    if isinstance(dist, Distribution):
        return dist
    if isinstance(dist, list | tuple) or (
        (isinstance(dist, np.ndarray) or is_torch(dist) or is_dask(dist))
        and len(getattr(dist, "shape", ())) >= 1
    ):
        return as_empirical(func, "dist", dist)
    raise InvalidArgument(
        f"{func}: dist={show(dist)} is not a quanttheory distribution; use "
        "Uniform, Gaussian, Laplace, from_scipy(...), Empirical(...) or an array "
        "of samples"
    )


def validate(func: str, dist, bits, scheme, model) -> tuple[Distribution, Scheme, str]:
    """The checked ``(dist, scheme, model)`` of a public call (data wrapped)."""
    dist = as_distribution(func, dist)
    s = get_scheme(func, scheme, bits)
    return dist, s, check_model(func, model)


def _coordinates(dist: Distribution):
    """``(unit, c)`` with ``dist`` equal in law to ``c * unit``."""
    std = dist._standardized()
    if std is None:
        return dist, 1.0
    return std[0], float(std[1])


def scaled_curve(
    dist: Distribution,
    d: np.ndarray,
    s: Scheme,
    model: str,
    order: int,
    side: int = 1,
    func: str = "quanttheory",
):
    r"""``([v0, v1, ...], c)`` at the 1-D steps ``d``: no checks.

    The values are those of a unit-scale member in its coordinates (or of
    the law itself where ``c`` is 1), ``c`` (an array like ``d``) the scale,
    so that :math:`D = c^2 v_0`,
    :math:`D' = c\,v_1` and :math:`D'' = v_2`; every ``v`` and ``c`` is a
    finite float. ``v0`` is None on the exact route of a law when
    ``order >= 1`` and some step goes to the engine.
    """
    if dist._is_empirical:
        e = dist._exponent
        c = 2.0**e
        reach = max(abs(dist.min), abs(dist.max)) / c
        with np.errstate(over="ignore", under="ignore"):
            u = np.ldexp(d, -e)

        def engine(reg):
            uu = np.maximum(u[reg], FINE * reach)
            return empirical_values.curve(dist, uu, s, order, model, side, shift=e)

        def empty_beyond():  # no sample lies beyond the largest magnitude
            return reach

        def stats():
            return dist._coarse_stats()

    else:
        law, c = _coordinates(dist)
        reach = float(law._scale) + abs(float(law._centre))
        with np.errstate(over="ignore", under="ignore"):
            u = d / c

        def engine(reg):
            if _MODERATE[0] <= c <= _MODERATE[1]:
                # an ordinary scale: the engines on the law itself, in its own
                # coordinates (scale 1), bit for bit as they compute it
                scale[reg] = 1.0
                dd = np.maximum(d[reg], FINE * reach * c)
                return law_routes.curve(dist, dd, s, model, order, side)
            uu = np.maximum(u[reg], FINE * reach)
            return law_routes.curve(law, uu, s, model, order, side)

        def empty_beyond():
            return _empty_beyond(law, reach)

        def stats():
            return _law_moments(law)

    scale = np.full(d.shape, c)
    # the innermost decision threshold (or clipping level) in units of the
    # step: where a wide cell starts to hold all the mass
    if model == "exact":
        first = 1.0 if s.offset else 0.5
    else:
        first = min(s.top if s.top > 0 else math.inf, -s.bottom)
    with np.errstate(over="ignore"):
        reached = u * first
    # strictly beyond: a sample on the threshold itself is a kink of D. The
    # closed forms are needed where the engines have no exact route: beyond
    # 2**64 reaches, and for a law above 16 bits (the order-3 expansion and
    # the additive derivatives there assume cells narrower than the law)
    needed = u >= COARSE * reach
    if not dist._is_empirical and s.bits > law_routes.EXACT_CELL_SUM_MAX_BITS:
        needed = np.ones(d.shape, dtype=bool)
    coarse = needed & (reached > reach)
    if coarse.any():
        tau = empty_beyond()
        coarse = needed & (reached > (math.inf if tau is None else tau))
        beyond = (u >= COARSE * reach) & ~coarse
        if beyond.any():
            raise InvalidArgument(
                f"{func}: step={float(d[beyond][0])!r} is more than 2**64 times "
                f"the scale of {dist!r}, whose tails still hold mass 2**62 scales "
                "out; the engine has no exact route there (use a smaller step)"
            )
    if coarse.all():
        return _coarse(stats(), d, c, s, model, order, scale), scale
    reg = ~coarse
    res = engine(reg)
    if not coarse.any():
        return res, scale
    out = [None if r is None else np.empty(d.shape) for r in res]
    for o, r in zip(out, res, strict=True):
        if o is not None:
            o[reg] = r
    sub = np.full(int(coarse.sum()), c)
    closed = _coarse(stats(), d[coarse], c, s, model, order, sub)
    for o, v in zip(out, closed, strict=True):
        if o is not None:
            o[coarse] = v
    scale[coarse] = sub
    return out, scale


#: ``_empty_beyond`` per keyed unit member
_EMPTY_BEYOND: dict = {}


def _empty_beyond(law, reach: float):
    """The smallest ``tau = reach * 2**k`` (``k`` in 0..62) beyond which the
    law has no mass in float64: its tail moments ``P``, ``E[X - tau]`` and
    ``E[(X - tau)^2]`` on both sides are exactly 0 at ``tau`` and at every
    larger ``2**k``; None if there is none (heavy tails)."""
    key = None if law._key() is None else (type(law), law._key())
    if key is not None and key in _EMPTY_BEYOND:
        return _EMPTY_BEYOND[key]
    taus = reach * 2.0 ** np.arange(63.0)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        parts = [*law._upper_tail(taus), *law._lower_tail(-taus)]
    zero = np.all([np.asarray(p, dtype=np.float64) == 0.0 for p in parts], axis=0)
    # from the last nonzero one on
    nonzero = np.flatnonzero(~zero)
    k = 0 if nonzero.size == 0 else int(nonzero[-1]) + 1
    out = float(taus[k]) if k < taus.size else None
    if key is not None:
        _EMPTY_BEYOND[key] = out
    return out


def _law_moments(law):
    """``(E|X|, E[X^2], E[X^2; X>0], P[X>0])`` of the unit member."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        up = law._upper_tail(np.zeros(1))
        down = law._lower_tail(np.zeros(1))
    m1 = float(np.asarray(up[1]).item() + np.asarray(down[1]).item())
    return (
        m1,
        float(law.second_moment),
        float(np.asarray(up[2]).item()),
        float(np.asarray(up[0]).item()),
    )


def _coarse(stats, d, c: float, s: Scheme, model: str, order: int, scale):
    r"""The closed forms of :data:`COARSE` steps ``d`` (module notes), as
    unit values; ``scale`` (filled with ``c``) is set to their scales.

    ``'midrise'`` and the additive model are written on the scale ``d``:
    :math:`D/\Delta^2 = (1/2 - cm_1/\Delta)^2 + (c/\Delta)^2 v`, whose
    terms are all finite (:math:`c/\Delta \le 2/R`, and terms whose moment
    is 0 are dropped: all-zero data have :math:`R = 0`).
    """
    m1, m2, t2pos, ppos = stats
    one = np.ones(d.shape)

    def times(coef, r):  # coef * r, 0 where the coefficient is 0 (r may be inf)
        return coef * r if coef else np.zeros(np.shape(r))

    with np.errstate(over="ignore", under="ignore", divide="ignore"):
        r = c / d
        if model == "exact" and not s.offset:
            return [m2 * one, 0.0 * one, 0.0 * one][: order + 1]
        scale[:] = d
        if model == "exact":
            spread = max(m2 - m1 * m1, 0.0)
            half = 0.5 - times(m1, r)
            vals = [half * half + times(spread, r * r)]
            vals += [half, 0.5 * one]
        else:
            p0, t0 = (ppos, t2pos) if s.top == 0 else (0.0, 0.0)
            inside = 1.0 - p0
            vals = [inside / 12.0 + times(t0, r * r), inside / 6.0 * one]
            vals.append(inside / 6.0 * one)
    return vals[: order + 1]


def curve(
    dist: Distribution,
    d: np.ndarray,
    s: Scheme,
    model: str,
    order: int,
    side: int = 1,
    func: str = "quanttheory",
):
    """``[D, D', ...]`` up to ``order`` at the 1-D steps ``d``; no checks.

    In the caller's coordinates (:func:`scaled_curve` scaled back); a value
    beyond float64 is ``inf`` or 0 here. ``D`` is None on the exact route of
    a law when ``order >= 1``.
    """
    vals, c = scaled_curve(dist, d, s, model, order, side, func)
    return [_back(v, c, i) for i, v in enumerate(vals)]


def _back(v, c, i: int):
    """Unit value ``v`` of order ``i`` in the caller's coordinates."""
    if v is None or i >= 2:
        return v
    with np.errstate(over="ignore", under="ignore"):
        return v * c * c if i == 0 else v * c


def is_batched(dist) -> bool:
    """Whether ``dist`` is a batched or a weighted :class:`Empirical` (the
    routes of :mod:`quanttheory._empirical.batched`)."""
    return bool(getattr(dist, "_is_empirical", False)) and (
        dist._rows is not None or dist._weights is not None
    )


def _rows_of(dist):
    """``(unit rows (B, n), weights or None)`` of a batched/weighted Empirical."""
    if dist._rows is not None:
        return dist._unit_rows(), dist._wrows
    x = np.asarray(dist.samples, dtype=np.float64)
    if dist._exponent:
        x = np.ldexp(x, -dist._exponent)
    return x[None, :], dist._weights[None, :]


def batch_steps(func: str, dist, name: str, step) -> np.ndarray:
    """``step`` (checked positive) as ``(B, m)``: for a batch, broadcast to the
    batch shape (``m = 1``); for one weighted distribution, its ``m`` steps."""
    d = check_positive_array(func, name, step)
    if dist._rows is None:
        return d.reshape(1, -1)
    try:
        return np.broadcast_to(d, dist.batch_shape).reshape(-1, 1)
    except ValueError:
        raise InvalidArgument(
            f"{func}: {name} of shape {d.shape} does not broadcast to the batch "
            f"shape {dist.batch_shape} of {dist!r}"
        ) from None


def _batch_model(func: str, model: str) -> None:
    if model != "exact":
        raise InvalidArgument(
            f"{func}: model={model!r} is not available for a batched or weighted "
            "Empirical; use model='exact'"
        )


def batched_curve(func: str, dist, d: np.ndarray, s: Scheme, order: int, side: int):
    """``([v0, v1, ...], c)`` per row of a batched/weighted Empirical at the
    ``(B, m)`` steps ``d``, in scaled coordinates (``D = c**2 v0``, ``D' = c v1``,
    ``D'' = v2``); ``c = 2**_exponent``. Exact direct sums over each row."""
    xs, ws = _rows_of(dist)
    e = dist._exponent
    c = 2.0**e
    reach = np.maximum(np.abs(xs.min(axis=1)), np.abs(xs.max(axis=1)))
    with np.errstate(over="ignore", under="ignore"):
        u = np.ldexp(d, -e) if e else d
    # the limit of small steps, FINE * reach, holds where every sample's
    # weight is within a few powers of two of the others; with weights as
    # far apart as 1e-220 the squared error of a sample near 0 at that
    # floor would outweigh a far sample's whole share, so the floor shrinks
    # by the smallest weight ratio (bounded, so that x / step stays finite)
    floor = np.full(reach.shape, FINE)
    if ws is not None:
        with np.errstate(under="ignore"):
            pos = np.where(ws > 0, ws, np.inf).min(axis=1) / ws.max(axis=1)
            floor = np.maximum(FINE * pos, _FLOOR_MIN)
    u = np.maximum(u, (floor * reach)[:, None])
    # a step beyond float64 in scaled coordinates is as good as the largest
    u = np.minimum(u, _FMAX / max(abs(s.top), abs(s.bottom), 1.0))
    return empirical_batched.batched_values(xs, ws, u, s, order, side), c


def _batched_result(func, dist, step, d, bits_s, model, order, side):
    _batch_model(func, model)
    vals, c = batched_curve(func, dist, d, bits_s, order, side)
    shape = dist.batch_shape if dist._rows is not None else np.shape(step)
    return _checked(func, vals, c, d, order, shape)


def _checked(func: str, vals, c, d: np.ndarray, order: int, shape) -> list:
    """The unit values ``vals`` at the steps ``d`` in the caller's
    coordinates (scale ``c``, a float or an array like ``d``), reshaped to
    ``shape``: None where not computed, or where beyond float64's range but
    not asked for (``i < order``); a value asked for beyond it raises."""
    cc = np.broadcast_to(c, d.shape)
    out = []
    for i, v in enumerate(vals):
        if v is None:
            out.append(None)
            continue
        check_no_nan(func, "the result", v)
        r = _back(v, c, i)
        bad = ~np.isfinite(r)
        if i == 0:
            bad |= (r < _FMIN) & (v > 0)
        if bad.any() and i < order:
            out.append(None)  # not asked for: no reason to refuse the call
            continue
        if bad.any():
            j = np.unravel_index(int(np.flatnonzero(bad)[0]), bad.shape)
            what = ("the MSE", "D'")[i]
            _range_error(func, what, d[j], v[j], cc[j], 2 - i)
        out.append(r.reshape(shape))
    return out


def evaluate(func: str, dist, step, bits, scheme, model, order: int, side: int = 1):
    """Validate, route, return ``[D, D', ...]`` as arrays of the shape of ``step``.

    On the exact route of a law ``D`` is None when ``order >= 1`` (and so is
    a lower-order value beyond float64's range). A value of ``order``
    beyond float64's range raises :class:`InvalidArgument` (and so does an
    MSE that is positive but below the normal range, where it would have
    lost its precision); a derivative below it rounds, as it must near a
    zero.
    """
    dist, s, model = validate(func, dist, bits, scheme, model)
    if is_batched(dist):
        d = batch_steps(func, dist, "step", step)
        return _batched_result(func, dist, step, d, s, model, order, side)
    d = check_positive_array(func, "step", step)
    flat = d.ravel()
    vals, c = scaled_curve(dist, flat, s, model, order, side, func)
    return _checked(func, vals, c, flat, order, d.shape)


def _range_error(func: str, what: str, step, v, c, power: int):
    """Raise: ``what`` at ``step`` is ``v * c**power``, beyond float64."""
    lg = math.log10(abs(v)) + power * math.log10(c)
    where = "above" if lg > 0 else "below"
    limit = _FMAX if lg > 0 else _FMIN
    exp = math.floor(lg)
    raise InvalidArgument(
        f"{func}: {what} at step={float(step)!r} is about "
        f"{'-' if v < 0 else ''}{10 ** (lg - exp):.3g}e{exp:+d}, {where} the range "
        f"of float64 (|x| {'<=' if lg > 0 else '>='} {limit:.4g}); rescale the data "
        "or the law (the MSE of cX at step c*step is c**2 times that of X at step)"
    )


def sqnr(func: str, dist, step, bits, scheme, model):
    r"""The SQNR in dB, :math:`10\log_{10}(E[X^2]/D)`, scale-free.

    Both powers are taken in the same coordinates (:func:`scaled_curve`),
    so the ratio is exact at any scale, even where :math:`E[X^2]` or the
    MSE alone is beyond float64. ``inf`` where the MSE is exactly zero
    (data on the level grid). Samples that are all zero have no signal
    power: :class:`InvalidArgument`.
    """
    dist, s, model = validate(func, dist, bits, scheme, model)
    if is_batched(dist):
        return _batched_sqnr(func, dist, step, s, model)
    d = check_positive_array(func, "step", step)
    flat = d.ravel()
    vals, c = scaled_curve(dist, flat, s, model, 0, 1, func)
    m = check_no_nan(func, "the MSE", vals[0])
    if dist._is_empirical:
        power = dist._unit_power()
        cp = 2.0**dist._exponent
        if power == 0:
            raise InvalidArgument(
                f"{func}: dist={dist!r} has samples that are all zero, so the "
                "signal power E[X^2] is 0 and the SQNR (0 over the MSE) is undefined"
            )
    else:
        law, cp = _coordinates(dist)
        power = float(law.second_moment)
    # the power in the coordinates of each step's values: the unit member's
    # (scale cp) or, for a law of ordinary scale, its own (scale 1)
    own = cp if dist._is_empirical or not _MODERATE[0] <= cp <= _MODERATE[1] else 1.0
    power_own = power if own == cp else float(dist.second_moment)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        direct = np.where(c == own, power_own / m, power / m)
        same = (c == cp) | (c == own)
        out = np.where(
            same & (np.isfinite(direct) | (m == 0)),
            10.0 * np.log10(direct),
            10.0 * (math.log10(power) - np.log10(m))
            + 20.0 * (math.log10(cp) - np.log10(c)),
        )
    return out.reshape(d.shape)


def _batched_sqnr(func: str, dist, step, s: Scheme, model: str):
    """The SQNR of each row of a batched/weighted Empirical (scale-free)."""
    _batch_model(func, model)
    d = batch_steps(func, dist, "step", step)
    vals, _c = batched_curve(func, dist, d, s, 0, 1)
    m = check_no_nan(func, "the MSE", vals[0])
    power = np.asarray(dist._unit_power(), dtype=np.float64).reshape(-1, 1)
    if (power == 0).any():
        i = int(np.flatnonzero(power.reshape(-1) == 0)[0])
        where = (
            f"group {tuple(int(j) for j in np.unravel_index(i, dist.batch_shape))} of "
            if dist._rows is not None
            else ""
        )
        raise InvalidArgument(
            f"{func}: {where}dist={dist!r} has samples that are all zero, so the "
            "signal power E[X^2] is 0 and the SQNR (0 over the MSE) is undefined"
        )
    with np.errstate(divide="ignore"):
        out = 10.0 * np.log10(power / m)
    return out.reshape(dist.batch_shape if dist._rows is not None else np.shape(step))
