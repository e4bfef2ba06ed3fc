r"""An independent brute force of the exact empirical optimum (issue 12).

This module shares no code with :mod:`quanttheory`: it imports only numpy
and the standard library, and every definition is written from the level-set
specification, not from the package.

Definitions
-----------
With :math:`M` bits and :math:`K = 2^{M-1}` the levels are
:math:`(k + o)\Delta` for the integers :math:`k_{\min} \le k \le k_{\max}`:

============= ==================== =====
scheme        k range              o
============= ==================== =====
``paper``     -K .. K              0
``midrise``   -K .. K-1            1/2
``signed``    -K .. K-1            0
``symmetric`` -(K-1) .. K-1        0 (M >= 2)
============= ==================== =====

:math:`Q(x)` is the nearest level (the outer levels absorb everything
beyond them). The decision thresholds are :math:`(j + o + 1/2)\Delta` for
:math:`k_{\min} \le j < k_{\max}`; a sample exactly on one may go to either
side, the squared error is the same. The (weighted) MSE is

.. math:: D(\Delta) = \frac{\sum_i w_i (x_i - Q(x_i))^2}{\sum_i w_i}.

Method
------
:math:`D` is continuous and piecewise quadratic in :math:`\Delta`. Its kinks
are the steps where a sample sits on a threshold,
:math:`\Delta = x_i / (j + o + 1/2)` for every threshold of the sample's
sign. Between two consecutive kinks the level indices :math:`k_i` are fixed,
:math:`W D = C - 2 B \Delta + A \Delta^2` with :math:`A = \sum w_i (k_i+o)^2`,
:math:`B = \sum w_i x_i (k_i + o)`, :math:`C = \sum w_i x_i^2`, and the
piece's minimum is at the stationary point :math:`B/A` clamped to the piece.
Every kink of every sample is enumerated and sorted; on every piece (the
unbounded first and last included) the clamped stationary point is scored,
and so is every kink; the global minimum is the least of them all.

All arithmetic is exact (:class:`fractions.Fraction`: a float64 converts to
a Fraction exactly), so the answer is the true optimum of the given float64
data, with no rounding at all, for any magnitude (subnormals to 1e308).
Equal sample values are grouped first, their weights summed (a multiplicity
is a weight), so 5,000 equal samples cost as much as one.

Two equivalent ways to fix each piece's assignment are provided:

* ``method="direct"``: the nearest level of each sample at the piece's
  midpoint, recomputed from scratch, and each kink scored by a fresh
  nearest-level evaluation; :math:`O(P \cdot U)` Fraction operations for
  :math:`P` kinks and :math:`U` distinct values. Slow, obviously right.
* ``method="sweep"`` (default): the assignment at :math:`\Delta \to 0^+`
  (every sample on its outermost level), then updated by one level at each
  kink, in increasing order; :math:`O(P \log P)`. The test-suite checks it
  against ``"direct"`` (exact equality).

:math:`P \le U \cdot k_{\max}` (at most :math:`2^{M-1}` kinks per distinct
value).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

__all__ = [
    "SCHEMES",
    "Optimum",
    "brute_force_optimum",
    "exact_mse",
    "exact_mse_exhaustive",
    "float_mse",
    "float_neighbours",
    "group",
    "kinks",
    "optimum",
    "rounding_excess",
    "scheme_table",
]

SCHEMES = ("paper", "midrise", "signed", "symmetric")
HALF = Fraction(1, 2)


def scheme_table(scheme: str, bits: int) -> tuple[int, int, Fraction]:
    """``(kmin, kmax, o)`` of the level set, from the table above."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown scheme {scheme!r}")
    if not (isinstance(bits, int) and bits >= 1) or (
        scheme == "symmetric" and bits < 2
    ):
        raise ValueError(f"bits={bits!r} invalid for scheme {scheme!r}")
    big_k = 2 ** (bits - 1)
    if scheme == "paper":
        return -big_k, big_k, Fraction(0)
    if scheme == "midrise":
        return -big_k, big_k - 1, HALF
    if scheme == "signed":
        return -big_k, big_k - 1, Fraction(0)
    return -(big_k - 1), big_k - 1, Fraction(0)


def group(x, weights=None) -> list[tuple[Fraction, Fraction]]:
    """Distinct sample values with their summed weights, as exact Fractions.

    Zero weights are dropped (a zero weight is an absent sample). A float64
    (or float32, promoted exactly) converts to a Fraction exactly.
    """
    xs = np.asarray(x, dtype=np.float64).ravel()
    if weights is None:
        ws = np.ones_like(xs)
    else:
        ws = np.asarray(weights, dtype=np.float64).ravel()
        if ws.shape != xs.shape:
            raise ValueError("weights must have the shape of x")
    if not (np.isfinite(xs).all() and np.isfinite(ws).all()) or (ws < 0).any():
        raise ValueError("finite x and finite non-negative weights only")
    acc: dict[float, Fraction] = {}
    for xi, wi in zip(xs.tolist(), ws.tolist(), strict=True):
        if wi == 0.0:
            continue
        xi = 0.0 if xi == 0.0 else xi  # -0.0 and 0.0 are one value
        acc[xi] = acc.get(xi, Fraction(0)) + Fraction(wi)
    if not acc:
        raise ValueError("no sample with a positive weight")
    return sorted((Fraction(v), w) for v, w in acc.items())


def _nearest_index(u: Fraction, kmin: int, kmax: int, o: Fraction) -> int:
    """k of the level nearest to u (in units of the step); ties go down."""
    k = math.ceil(u - o - HALF)
    return min(max(k, kmin), kmax)


def _totals(pts, step: Fraction, table) -> tuple[Fraction, Fraction, Fraction]:
    """(W, A, B) of the assignment at ``step`` (nearest level, from scratch)."""
    kmin, kmax, o = table
    wsum = a = b = Fraction(0)
    for xi, wi in pts:
        c = _nearest_index(xi / step, kmin, kmax, o) + o
        wsum += wi
        a += wi * c * c
        b += wi * xi * c
    return wsum, a, b


def exact_mse(x, step, bits: int, scheme: str = "paper", weights=None) -> Fraction:
    """The exact MSE at one step (a float or Fraction > 0), as a Fraction.

    Nearest level from ``ceil(x/step - o - 1/2)`` clamped to the k range.
    """
    table = scheme_table(scheme, bits)
    pts = x if _is_grouped(x) else group(x, weights)
    step = Fraction(step)
    if step <= 0:
        raise ValueError("step must be positive")
    kmin, kmax, o = table
    num = den = Fraction(0)
    for xi, wi in pts:
        e = xi - (_nearest_index(xi / step, kmin, kmax, o) + o) * step
        num += wi * e * e
        den += wi
    return num / den


def exact_mse_exhaustive(x, step, bits, scheme="paper", weights=None) -> Fraction:
    """As :func:`exact_mse`, but each sample's error is the minimum over
    every level (no index formula at all): ``O(2^M)`` per sample."""
    kmin, kmax, o = scheme_table(scheme, bits)
    pts = x if _is_grouped(x) else group(x, weights)
    step = Fraction(step)
    lv = [(k + o) * step for k in range(kmin, kmax + 1)]
    num = den = Fraction(0)
    for xi, wi in pts:
        num += wi * min((xi - v) ** 2 for v in lv)
        den += wi
    return num / den


def float_mse(x, steps, bits, scheme="paper", weights=None) -> np.ndarray:
    """Plain float64 MSE on a vector of steps (for dense grids): nearest
    level by ``rint``, clamped; relative error about ``2 N eps``."""
    kmin, kmax, o = scheme_table(scheme, bits)
    xs = np.asarray(x, dtype=np.float64).ravel()
    ws = np.ones_like(xs) if weights is None else np.asarray(weights, float).ravel()
    steps = np.asarray(steps, dtype=np.float64)
    out = np.empty(steps.shape)
    of = float(o)
    for i0 in range(0, steps.size, 2048):
        d = steps[i0 : i0 + 2048, None]
        k = np.clip(np.rint(xs[None, :] / d - of), kmin, kmax) + of
        e = xs[None, :] - k * d
        out[i0 : i0 + 2048] = (e * e) @ ws / ws.sum()
    return out


def _is_grouped(x) -> bool:
    return isinstance(x, list) and (not x or isinstance(x[0], tuple))


def kinks(pts, table) -> list[tuple[Fraction, int, int]]:
    """Every kink ``(step, sample index, direction)``, sorted by step.

    For ``x > 0`` the positive thresholds are ``j + o + 1/2`` for
    ``0 <= j < kmax``: above ``x/(j+o+1/2)`` the sample drops from level
    ``j+1`` to ``j`` (direction -1). For ``x < 0`` the negative thresholds
    are ``j + o + 1/2 < 0`` for ``kmin <= j``: above ``x/(j+o+1/2)`` it rises
    from ``j`` to ``j+1`` (direction +1). Zeros have none.
    """
    kmin, kmax, o = table
    out = []
    for i, (xi, _) in enumerate(pts):
        if xi > 0:
            for j in range(0, kmax):
                out.append((xi / (j + o + HALF), i, -1))
        elif xi < 0:
            for j in range(kmin, kmax):
                t = j + o + HALF
                if t < 0:
                    out.append((xi / t, i, +1))
    out.sort(key=lambda r: r[0])
    return out


@dataclass
class Optimum:
    r"""The brute-force answer.

    ``mse`` is the exact global minimum of :math:`D` over :math:`\Delta>0`;
    ``step`` one minimiser (``None`` when :math:`D` does not depend on the
    step); ``minimisers`` every scored candidate that attains ``mse`` (a
    piece that is flat at the minimum is represented by an interior point);
    ``depends_on_step`` is False when :math:`D` is constant (all samples at
    zero, or every sample on one side of the only level it can reach).
    """

    step: Fraction | None
    mse: Fraction
    minimisers: list[Fraction] = field(default_factory=list)
    depends_on_step: bool = True
    n_kinks: int = 0


def _candidates(lo, hi, a, b, c):
    """Candidates of one piece ``(lo, hi)`` (``hi`` None: unbounded) whose
    quadratic is ``c - 2 b d + a d^2``: the clamped stationary point, or an
    interior point when the piece is flat (``a == 0``)."""
    if a == 0:  # then b == 0 too: every level index is 0 (o = 0)
        return [lo + 1 if hi is None else (lo + hi) / 2]
    d = b / a
    if d < lo:
        d = lo
    elif hi is not None and d > hi:
        d = hi
    return [d]


def _value(d, a, b, c):
    return c - 2 * b * d + a * d * d


def optimum(x, bits: int, scheme: str = "paper", weights=None, *, method="sweep"):
    """The exact global minimum of the empirical MSE over the step.

    Parameters: ``x`` array-like of finite floats; ``weights`` None (all 1)
    or non-negative floats of the shape of ``x``; ``method`` ``"sweep"`` or
    ``"direct"`` (see the module docstring). Returns an :class:`Optimum`.
    """
    table = scheme_table(scheme, bits)
    pts = group(x, weights)
    wsum = sum(w for _, w in pts)
    c = sum(w * xi * xi for xi, w in pts)
    if all(xi == 0 for xi, _ in pts):
        # D = (o step)^2: constant (o = 0) or with infimum 0 at step -> 0+
        # (midrise), never attained: no optimal step either way
        return Optimum(None, Fraction(0), [], False, 0)
    if method == "direct":
        best, mins, flat, n_kinks = _direct(pts, table, c)
    elif method == "sweep":
        best, mins, flat, n_kinks = _sweep(pts, table)
    else:
        raise ValueError(f"unknown method {method!r}")
    if flat:
        return Optimum(None, best / wsum, [], False, 0)
    return Optimum(min(mins), best / wsum, sorted(set(mins)), True, n_kinks)


def _direct(pts, table, c):
    """``(W min D, minimisers, flat, number of distinct kinks)``: every piece
    and every kink scored, each piece's assignment from its midpoint, each
    kink's value from a fresh nearest-level evaluation."""
    ks = kinks(pts, table)
    steps = sorted({k[0] for k in ks})
    bounds = [Fraction(0), *steps, None]
    found = []
    for lo, hi in itertools.pairwise(bounds):
        if hi is None:
            mid = 2 * lo if lo > 0 else Fraction(1)
        else:
            mid = (lo + hi) / 2
        _, a, b = _totals(pts, mid, table)
        found += [(_value(d, a, b, c), d, a) for d in _candidates(lo, hi, a, b, c)]
    for d in steps:
        _, a, b = _totals(pts, d, table)
        found.append((_value(d, a, b, c), d, a))
    # constant D: no kink, and the only piece has A == 0
    flat = not steps and found[0][2] == 0
    # a candidate at lo == 0 cannot be taken (step > 0); it is never the
    # minimum anyway (B > 0 on the first piece when any sample is nonzero)
    found = [f for f in found if f[1] > 0] or found
    best = min(v for v, _, _ in found)
    return best, [d for v, d, _ in found if v == best], flat, len(steps)


def _sweep(pts, table):
    """As :func:`_direct`, the assignment updated by one level per kink.

    Integer arithmetic throughout (exact, and much faster than Fractions):
    with ``x_i = X_i / 2^E``, ``w_i = V_i / 2^F`` (integers ``X_i, V_i``), the
    doubled level index ``kappa = 2(k + o)`` (an integer) and the scaled step
    ``t = step * 2^(E-1)``, a level is ``kappa t`` and
    ``4^E 2^F W D = C - 2 B t + A t^2`` with the integers
    ``A = sum V kappa^2``, ``B = sum V X kappa``, ``C = sum V X^2``. A kink is
    ``t = X / tau`` for the odd or even integer ``tau = 2(j + o) + 1`` of the
    threshold; kinks are ordered by the integer ``X * (L / tau)`` for the
    common multiple ``L`` of every ``tau``. Values and steps are kept as
    integer ratios and compared by cross-multiplication.
    """
    kmin, kmax, o = table
    two_o = int(2 * o)
    e_x = max(xi.denominator for xi, _ in pts).bit_length() - 1
    e_w = max(wi.denominator for _, wi in pts).bit_length() - 1
    big_x = [int(xi * 2**e_x) for xi, _ in pts]
    big_v = [int(wi * 2**e_w) for _, wi in pts]
    # thresholds * 2; midrise's threshold at 0 is crossed by no sample
    taus = [2 * j + two_o + 1 for j in range(kmin, kmax) if 2 * j + two_o + 1]
    lcm = 1
    for tau in taus:
        lcm = math.lcm(lcm, abs(tau))
    kinks_int = []  # (key, |X|, |tau|, sample, direction)
    for i, xx in enumerate(big_x):
        for tau in taus:
            if (xx > 0 and tau > 0) or (xx < 0 and tau < 0):
                kinks_int.append(
                    (xx * (lcm // tau), abs(xx), abs(tau), i, -1 if xx > 0 else 1)
                )
    kinks_int.sort(key=lambda r: r[0])
    kap = []  # doubled level index at t -> 0+: outermost level of the side
    for xx in big_x:
        k = kmax if xx > 0 else kmin if xx < 0 else 0
        kap.append(2 * k + two_o)
    a = sum(v * q * q for v, q in zip(big_v, kap, strict=True))
    flat = not kinks_int and a == 0
    b = sum(v * xx * q for v, xx, q in zip(big_v, big_x, kap, strict=True))
    cc = sum(v * xx * xx for v, xx in zip(big_v, big_x, strict=True))
    best = None  # (value num, value den)
    arg = []  # minimisers as (num, den) of t
    lo = (0, 1)
    pos = 0

    def offer(vn, vd, tn, td):
        nonlocal best, arg
        if best is None or vn * best[1] < best[0] * vd:
            best, arg = (vn, vd), [(tn, td)]
        elif vn * best[1] == best[0] * vd:
            arg.append((tn, td))

    while True:
        hi = (kinks_int[pos][1], kinks_int[pos][2]) if pos < len(kinks_int) else None
        if a == 0:  # flat piece (b == 0 too): value C, any interior point
            if hi is None:
                offer(cc, 1, lo[0] + lo[1], lo[1])
            else:
                offer(cc, 1, lo[0] * hi[1] + hi[0] * lo[1], 2 * lo[1] * hi[1])
        elif b * lo[1] <= lo[0] * a:  # stationary point at or below lo
            if lo[0] > 0:
                tn, td = lo
                offer(cc * td * td - 2 * b * tn * td + a * tn * tn, td * td, tn, td)
        elif hi is not None and b * hi[1] >= hi[0] * a:  # at or above hi
            tn, td = hi
            offer(cc * td * td - 2 * b * tn * td + a * tn * tn, td * td, tn, td)
        else:  # inside: C - B^2/A
            offer(a * cc - b * b, a, b, a)
        if hi is None:
            break
        tn, td = hi  # the kink's value, from the piece below it
        offer(cc * td * td - 2 * b * tn * td + a * tn * tn, td * td, tn, td)
        key = kinks_int[pos][0]
        while pos < len(kinks_int) and kinks_int[pos][0] == key:
            _, _, _, i, step_dir = kinks_int[pos]
            q0 = kap[i]
            q1 = q0 + 2 * step_dir
            a += big_v[i] * (q1 * q1 - q0 * q0)
            b += big_v[i] * big_x[i] * (q1 - q0)
            kap[i] = q1
            pos += 1
        lo = hi
    # back to the data's units: step = t / 2^(E-1), W D = value / (4^E 2^F)
    scale_t = Fraction(2) ** (e_x - 1)
    scale_v = Fraction(4) ** e_x * Fraction(2) ** e_w
    value = Fraction(best[0], best[1]) / scale_v
    mins = [Fraction(tn, td) / scale_t for tn, td in arg]
    n_kinks = len({Fraction(r[1], r[2]) for r in kinks_int})
    return value, mins, flat, n_kinks


def brute_force_optimum(x, bits, scheme="paper", weights=None):
    """``(step, mse)`` of the exact optimum, as Fractions (``step`` None when
    the MSE does not depend on the step). See :func:`optimum`."""
    r = optimum(x, bits, scheme, weights)
    return r.step, r.mse


def float_neighbours(d: Fraction) -> tuple[float, float]:
    """The two float64 that bracket ``d`` (equal when ``d`` is a float64)."""
    f = float(d)  # correctly rounded
    if Fraction(f) == d:
        return f, f
    if Fraction(f) > d:
        return math.nextafter(f, 0.0), f
    return f, math.nextafter(f, math.inf)


def rounding_excess(
    x, r: Optimum, bits, scheme="paper", weights=None, ulps=0
) -> Fraction:
    """How far above the exact minimum a float64 step may be, at worst, if it
    is one of the two float64 that bracket an exact minimiser (``ulps=0``),
    or within ``ulps`` more float64 of them: the max of ``D(f) - min`` over
    those floats and every minimiser (0 where a minimiser is a float64)."""
    pts = group(x, weights)
    worst = Fraction(0)
    for d in r.minimisers:
        lo, hi = float_neighbours(d)
        fs = {lo, hi}
        for _ in range(ulps):
            lo, hi = math.nextafter(lo, 0.0), math.nextafter(hi, math.inf)
            fs |= {lo, hi}
        for f in fs:
            if f > 0:
                worst = max(worst, exact_mse(pts, f, bits, scheme) - r.mse)
    return worst
