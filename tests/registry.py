"""One registry of distribution families and typical parameters for the tests.

The pattern is scipy's ``scipy/stats/_distr_params.py``: every test that runs
"for each family" draws from :data:`FAMILIES` (or one of the subsets below),
so adding a family here adds it to every route-consistency test at once. The
Hypothesis strategies are built from the same table (see ``family_ids``).

Each entry records what the tests need to know *without* asking the code
under test: the second moment :math:`E[X^2]` in closed form, whether the
fourth moment is finite (Monte Carlo standard errors need it), whether the
density jumps (then the MSE has kinks in the step), and how to build the
member with a given scale ``c`` (``X -> cX``), for scale-invariance tests.

Closed forms of ``second_moment`` at scale 1 (the scale-``c`` law has
``c**2`` times this):

* Uniform(a=1): :math:`a^2/3`.
* Gaussian(sigma=1): :math:`\\sigma^2 = 1`.
* Laplace(b=1): :math:`2b^2 = 2`.
* Student t, 3 degrees of freedom: :math:`\\nu/(\\nu-2) = 3`; its fourth moment
  is infinite (needs :math:`\\nu > 4`).
* Logistic(scale 1): :math:`\\pi^2/3`.
* Skew-normal, shape 4: :math:`X = \\delta|Z_0| + \\sqrt{1-\\delta^2}Z_1`, so
  :math:`E[X^2] = \\delta^2 + 1 - \\delta^2 = 1` whatever the shape (mean
  :math:`\\delta\\sqrt{2/\\pi}`, :math:`\\delta = 4/\\sqrt{17}`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.stats

import quanttheory as qt


@dataclass(frozen=True)
class Family:
    """A distribution family at a typical parameter, plus facts about it."""

    id: str
    #: ``make(c)`` builds the law of ``c * X`` (``c > 0``) for this family.
    make: Callable[[float], qt.Distribution]
    #: :math:`E[X^2]` at scale 1, from a closed form (see module docstring).
    second_moment: float
    #: Standard deviation at scale 1 (closed form); sets typical steps.
    std: float
    finite_fourth_moment: bool
    symmetric: bool
    #: True if the density jumps (Uniform): D'' then jumps in the step.
    has_jumps: bool
    #: True if the law goes through ``from_scipy`` (slower: scipy pdf calls).
    via_scipy: bool
    #: numpy sampler at scale 1 for building Empirical data independently of
    #: ``Distribution.sample``: ``sampler(rng, n)``.
    sampler: Callable[[np.random.Generator, int], np.ndarray]
    #: Upper bound on :math:`E[X^2; |X| > r]` at scale 1 (closed forms, see
    #: :func:`_x2_tail_*`); used to sandwich the MSE at huge steps.
    x2_tail_bound: Callable[[float], float]

    def __call__(self, c: float = 1.0) -> qt.Distribution:
        return self.make(c)

    def __repr__(self) -> str:  # shows up in test ids and Hypothesis output
        return f"Family({self.id})"


def _x2_tail_uniform(r: float) -> float:
    # X ~ U[-1, 1]: 2 * int_r^1 x^2 / 2 dx = (1 - r^3) / 3 for 0 <= r <= 1
    return 0.0 if r >= 1.0 else (1.0 - max(r, 0.0) ** 3) / 3.0


def _x2_tail_gauss(r: float) -> float:
    # int_r^inf x^2 phi(x) dx = r phi(r) + Q(r), both tails: twice that
    return 2.0 * float(r * scipy.stats.norm.pdf(r) + scipy.stats.norm.sf(r))


def _x2_tail_laplace(r: float) -> float:
    # density e^{-|x|}/2: 2 * int_r^inf x^2 e^{-x}/2 dx = (r^2 + 2r + 2) e^{-r}
    return (r * r + 2.0 * r + 2.0) * math.exp(-r)


def _x2_tail_t3(r: float) -> float:
    # f(x) = 6 sqrt3 / (pi (3 + x^2)^2); int_0^x t^2 f = (3/pi)(atan u -
    # u/(1+u^2)), u = x/sqrt3, limit 3/2. Both tails, written without
    # cancellation: (6/pi) (atan(1/u) + u/(1+u^2)) (= 3 at r = 0).
    u = r / math.sqrt(3.0)
    if u == 0.0:
        return 3.0
    return 6.0 / math.pi * (math.atan(1.0 / u) + u / (1.0 + u * u))


def _x2_tail_logistic(r: float) -> float:
    # f(x) = e^{-|x|} / (1 + e^{-|x|})^2 <= e^{-|x|}: bound by twice the
    # exponential tail, 2 (r^2 + 2r + 2) e^{-r}
    return 2.0 * (r * r + 2.0 * r + 2.0) * math.exp(-r)


def _x2_tail_skewnorm(r: float) -> float:
    # f(x) = 2 phi(x) Phi(4x) <= 2 phi(x): bound by twice the Gaussian value
    return 2.0 * _x2_tail_gauss(r)


_SKEW_SHAPE = 4.0
_SKEW_DELTA = _SKEW_SHAPE / math.sqrt(1.0 + _SKEW_SHAPE**2)
_SKEW_MEAN = _SKEW_DELTA * math.sqrt(2.0 / math.pi)


def _skewnorm_sampler(rng: np.random.Generator, n: int) -> np.ndarray:
    # X = delta |Z0| + sqrt(1 - delta^2) Z1 (Azzalini's representation)
    z0 = np.abs(rng.standard_normal(n))
    z1 = rng.standard_normal(n)
    return _SKEW_DELTA * z0 + math.sqrt(1.0 - _SKEW_DELTA**2) * z1


FAMILIES: tuple[Family, ...] = (
    Family(
        id="uniform",
        make=lambda c: qt.Uniform(c),
        second_moment=1.0 / 3.0,
        std=1.0 / math.sqrt(3.0),
        finite_fourth_moment=True,
        symmetric=True,
        has_jumps=True,
        via_scipy=False,
        sampler=lambda rng, n: rng.uniform(-1.0, 1.0, n),
        x2_tail_bound=_x2_tail_uniform,
    ),
    Family(
        id="gaussian",
        make=lambda c: qt.Gaussian(c),
        second_moment=1.0,
        std=1.0,
        finite_fourth_moment=True,
        symmetric=True,
        has_jumps=False,
        via_scipy=False,
        sampler=lambda rng, n: rng.standard_normal(n),
        x2_tail_bound=_x2_tail_gauss,
    ),
    Family(
        id="laplace",
        make=lambda c: qt.Laplace(c),
        second_moment=2.0,
        std=math.sqrt(2.0),
        finite_fourth_moment=True,
        symmetric=True,
        has_jumps=False,
        via_scipy=False,
        sampler=lambda rng, n: rng.laplace(0.0, 1.0, n),
        x2_tail_bound=_x2_tail_laplace,
    ),
    Family(
        id="t3",
        make=lambda c: qt.from_scipy(scipy.stats.t(3, scale=c)),
        second_moment=3.0,
        std=math.sqrt(3.0),
        finite_fourth_moment=False,
        symmetric=True,
        has_jumps=False,
        via_scipy=True,
        sampler=lambda rng, n: rng.standard_t(3, n),
        x2_tail_bound=_x2_tail_t3,
    ),
    Family(
        id="logistic",
        make=lambda c: qt.from_scipy(scipy.stats.logistic(scale=c)),
        second_moment=math.pi**2 / 3.0,
        std=math.pi / math.sqrt(3.0),
        finite_fourth_moment=True,
        symmetric=True,
        has_jumps=False,
        via_scipy=True,
        sampler=lambda rng, n: rng.logistic(0.0, 1.0, n),
        x2_tail_bound=_x2_tail_logistic,
    ),
    Family(
        id="skewnorm4",
        make=lambda c: qt.from_scipy(scipy.stats.skewnorm(_SKEW_SHAPE, scale=c)),
        second_moment=1.0,
        std=math.sqrt(1.0 - _SKEW_MEAN**2),
        finite_fourth_moment=True,
        symmetric=False,
        has_jumps=False,
        via_scipy=True,
        sampler=_skewnorm_sampler,
        x2_tail_bound=_x2_tail_skewnorm,
    ),
)

BY_ID: dict[str, Family] = {f.id: f for f in FAMILIES}
FAMILY_IDS: tuple[str, ...] = tuple(BY_ID)
#: Families whose formulas are closed forms (fast: use them for dense grids).
CLOSED_FORM: tuple[Family, ...] = tuple(f for f in FAMILIES if not f.via_scipy)
#: Families through scipy.stats (a knot table per law, slower pdf calls).
VIA_SCIPY: tuple[Family, ...] = tuple(f for f in FAMILIES if f.via_scipy)
#: Families for which a Monte Carlo standard error is meaningful.
FINITE_FOURTH: tuple[Family, ...] = tuple(f for f in FAMILIES if f.finite_fourth_moment)
#: Families with a smooth density (the MSE is C^2 in the step).
SMOOTH: tuple[Family, ...] = tuple(f for f in FAMILIES if not f.has_jumps)

SCHEMES: tuple[str, ...] = ("paper", "midrise", "signed", "symmetric")
#: Schemes whose level set contains 0 (then (x - Q(x))^2 <= x^2 pointwise).
ZERO_LEVEL_SCHEMES: tuple[str, ...] = ("paper", "signed", "symmetric")


@functools.cache
def law(family_id: str, c: float = 1.0) -> qt.Distribution:
    """The (cached) law of ``c * X`` for a registered family.

    Cached so that a ``from_scipy`` law builds its knot table once per test
    session rather than once per test or Hypothesis example.
    """
    return BY_ID[family_id].make(c)


def min_bits(scheme: str) -> int:
    """Smallest valid bit-width: 'symmetric' needs two levels besides 0."""
    return 2 if scheme == "symmetric" else 1


def scheme_table(scheme: str, bits: int) -> tuple[int, int, float]:
    """``(kmin, kmax, offset)`` of a level set, written from the design table.

    Independent of ``quanttheory._core.quantizer``: levels are ``(k + offset) *
    step`` for ``kmin <= k <= kmax`` with ``K = 2**(bits - 1)``:
    paper ``-K..K``, midrise ``-K..K-1`` offset 1/2, signed ``-K..K-1``,
    symmetric ``-(K-1)..K-1``.
    """
    big_k = 2 ** (bits - 1)
    return {
        "paper": (-big_k, big_k, 0.0),
        "midrise": (-big_k, big_k - 1, 0.5),
        "signed": (-big_k, big_k - 1, 0.0),
        "symmetric": (-(big_k - 1), big_k - 1, 0.0),
    }[scheme]


def top_index(scheme: str, bits: int) -> float:
    """Largest |k + offset| of a level set (the clipping level over the step)."""
    kmin, kmax, off = scheme_table(scheme, bits)
    return max(abs(kmin + off), abs(kmax + off))


def typical_steps(family: Family, scheme: str, bits: int, c: float = 1.0):
    """Steps whose clipping level sits at 1, 3 and 6 standard deviations."""
    top = top_index(scheme, bits)
    return [c * family.std * m / top for m in (1.0, 3.0, 6.0)]


def reference_quantize(x, step, bits, scheme):
    """Plain-numpy nearest-level quantizer (brute force over every level).

    Returns ``(q, idx)`` with ``q`` the nearest level (ties to the lower
    level) and ``idx`` its ``k + offset``; float64 throughout. Independent of
    the engine; only for small level sets (memory is ``x.size * levels``).
    """
    kmin, kmax, off = scheme_table(scheme, bits)
    idx = np.arange(kmin, kmax + 1, dtype=np.float64) + off
    lv = idx * step
    x = np.asarray(x, dtype=np.float64)
    j = np.argmin(np.abs(x[..., None] - lv), axis=-1)
    return lv[j], idx[j]


def direct_mse(x, step, bits, scheme):
    """:math:`\\frac1N\\sum (x_i - Q(x_i))^2` for many steps, in plain numpy.

    ``Q`` is ``clip(rint(x/step - o), kmin, kmax) + o`` written from the
    design table (not the engine's quantizer). ``step`` may be an array; the
    result has its shape.
    """
    kmin, kmax, off = scheme_table(scheme, bits)
    x = np.asarray(x, dtype=np.float64).ravel()
    steps = np.atleast_1d(np.asarray(step, dtype=np.float64))
    out = np.empty(steps.shape)
    for i, d in enumerate(steps.flat):
        k = np.clip(np.rint(x / d - off), kmin, kmax) + off
        e = x - k * d
        out.flat[i] = np.dot(e, e) / x.size
    return out if np.ndim(step) else float(out[0])


# ---------------------------------------------------------------------------
# Closed forms for the uniform law U[-a, a] with scheme 'paper'
# ---------------------------------------------------------------------------


def lemma2(a, step, bits):
    """The seed's Lemma 2 in plain Python floats.

    :math:`(a - 2^{M-1}\\Delta)^3/(3a) + 2^M\\Delta^3/(24a)`, stated for
    :math:`2^{M-1}\\Delta \\le a`.
    """
    tau = 2 ** (bits - 1) * step
    return (a - tau) ** 3 / (3 * a) + 2**bits * step**3 / (24 * a)


def uniform_paper_branch(a, step, bits):
    """Index j of the outermost level of U[-a, a] that receives mass.

    ``j = min(K, round(a / step))`` with ``K = 2**(bits - 1)``: the partial
    cell of level j is ``[(j - 1/2) step, a]``.
    """
    return min(2 ** (bits - 1), round(a / step))


def uniform_paper_mse(a, step, bits):
    r"""Exact MSE of U[-a, a], scheme 'paper', at *any* step (plain floats).

    Derivation. Let j be the outermost level that receives mass
    (:func:`uniform_paper_branch`): (j - 1/2) step < a < (j + 1/2) step
    unless the top level K = 2^(M-1) is reached. Levels |i| < j own full
    cells, each contributing step^3/(24 a); the two levels +-j own the
    partial cells [(j - 1/2) step, a] (and mirror), each contributing
    ((a - j step)^3 + step^3/8) / (6 a). Summing,

        D_j = (2j - 1) step^3/(24a) + (a - j step)^3/(3a) + step^3/(24a)
            = (a - j step)^3 / (3a) + j step^3 / (12a).

    For j = K this is Lemma 2, and it stays valid up to (K - 1/2) step = a:
    the top level may leave the support (tau > a) without any change of
    formula, because its cell's error integral is one polynomial on both
    sides of tau = a. D is continuous at the switch points step =
    2a/(2j + 1), where D'' jumps. Checked against ``mpmath.quad`` per cell in
    ``tests/api/test_properties.py::test_uniform_closed_form_against_quadrature``.
    """
    j = uniform_paper_branch(a, step, bits)
    return (a - j * step) ** 3 / (3 * a) + j * step**3 / (12 * a)
