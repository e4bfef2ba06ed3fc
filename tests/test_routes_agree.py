r"""Every route to the exact MSE, and to its step derivatives, agrees.

One table of cases (in the manner of properscoring's consistency tests):
family (Uniform, Gaussian, Laplace) x scheme ('paper', 'midrise', 'signed',
'symmetric') x bits (1, 2, 4, 8; 'symmetric' needs bits >= 2) x step (the
optimum times 0.5, 1 and 2). For each case:

* the MSE by the cell sum (``quanttheory._laws.cells.exact_cells``), by the
  Euler-Maclaurin series (``quanttheory._laws.series.series_mse``, where its
  remainder bound certifies the step), by Poisson summation over the level
  lattice (``quanttheory._laws.lattice.lattice_mse``, where its clipping and
  truncation bounds certify the step), by the public ``quanttheory.mse``
  and by the ``from_scipy`` twin of the law all equal a 40-digit mpmath
  value computed here, per cell, from closed-form antiderivatives of
  :math:`x^k f(x)` (:func:`mp_mse`; it does not import quanttheory, and
  :func:`test_mpmath_reference_matches_mpmath_quad` checks it against
  ``mpmath.quad``);
* :math:`D'` and :math:`D''` by the series
  (``quanttheory._laws.series.series_derivatives``), by the cell sum
  (``exact_cells(dist, d, s, 2)``), by the public ``mse_derivative`` and by
  central finite differences of the exact MSE agree;
* a large :class:`~quanttheory.Empirical` sample of the law (drawn with
  numpy, not with ``Distribution.sample``) has an MSE within k Monte Carlo
  standard errors of the law's.

The steps come from ``optimal_step``; they are only inputs, every expected
value is computed independently of them.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import scipy.stats
from mpmath import mp, mpf

import quanttheory as qt
from quanttheory._core.scheme import get_scheme
from quanttheory._laws.cells import exact_cells
from quanttheory._laws.lattice import lattice_mse
from quanttheory._laws.series import series_derivatives, series_mse

EPS = float(np.finfo(np.float64).eps)

#: Scale parameter of each law (not 1, so that a lost scale factor shows).
PARAM = {"uniform": 1.7, "gaussian": 0.8, "laplace": 1.3}
SCHEMES = ("paper", "midrise", "signed", "symmetric")
BITS = (1, 2, 4, 8)
FACTORS = (0.5, 1.0, 2.0)

CASES = [
    pytest.param(f, s, b, c, id=f"{f}-{s}-{b}bit-x{c}")
    for f in PARAM
    for s in SCHEMES
    for b in BITS
    if not (s == "symmetric" and b < 2)
    for c in FACTORS
]
CASE_VALUES = [p.values for p in CASES]


# ---------------------------------------------------------------------------
# the laws and their from_scipy twins
# ---------------------------------------------------------------------------


@functools.cache
def law(family: str) -> qt.Distribution:
    p = PARAM[family]
    return {"uniform": qt.Uniform, "gaussian": qt.Gaussian, "laplace": qt.Laplace}[
        family
    ](p)


@functools.cache
def twin(family: str) -> qt.Distribution:
    """The same law through the generic scipy route."""
    p = PARAM[family]
    if family == "uniform":
        # U[-a, a] is scipy's uniform on [loc, loc + scale]; its density
        # jumps at +-a, which the quadrature must know to be exact
        rv = scipy.stats.uniform(loc=-p, scale=2 * p)
        return qt.from_scipy(rv, breakpoints=(-p, p))
    if family == "gaussian":
        return qt.from_scipy(scipy.stats.norm(scale=p))
    # the Laplace density has a kink at 0
    return qt.from_scipy(scipy.stats.laplace(scale=p), breakpoints=(0.0,))


@functools.cache
def step_of(family: str, scheme: str, bits: int, factor: float) -> float:
    return factor * qt.optimal_step(law(family), bits, scheme=scheme)


# ---------------------------------------------------------------------------
# the independent reference: closed-form cells in mpmath (no quanttheory)
# ---------------------------------------------------------------------------


def design_table(scheme: str, bits: int):
    """``(kmin, kmax, offset)``: levels ``(k + offset) step``, K = 2^(bits-1)."""
    k = 2 ** (bits - 1)
    return {
        "paper": (-k, k, 0),
        "midrise": (-k, k - 1, mpf(1) / 2),
        "signed": (-k, k - 1, 0),
        "symmetric": (-(k - 1), k - 1, 0),
    }[scheme]


def _moments_from_zero(family: str, p, x):
    """``I_k(x) = int_0^x t^k f(t) dt`` for k = 0, 1, 2 and x >= 0 (or +inf)."""
    if family == "uniform":  # f = 1/(2a) on [-a, a]
        y = min(x, p)
        return y / (2 * p), y**2 / (4 * p), y**3 / (6 * p)
    if family == "gaussian":  # N(0, sigma^2)
        if x == mp.inf:
            return mpf(1) / 2, p / mp.sqrt(2 * mp.pi), p**2 / 2
        z = x / p
        i0 = mp.erf(z / mp.sqrt(2)) / 2
        phi = mp.exp(-z * z / 2) / mp.sqrt(2 * mp.pi)
        return i0, p * (1 / mp.sqrt(2 * mp.pi) - phi), p**2 * (i0 - z * phi)
    # Laplace, f = exp(-|x|/b)/(2b)
    if x == mp.inf:
        return mpf(1) / 2, p / 2, p**2
    y = x / p
    e = mp.exp(-y)
    return (
        (1 - e) / 2,
        p * (1 - (1 + y) * e) / 2,
        p**2 * (2 - (y * y + 2 * y + 2) * e) / 2,
    )


def _moments(family: str, p, x):
    # even densities: I_k(-x) = (-1)^(k+1) I_k(x)
    if x >= 0:
        return _moments_from_zero(family, p, x)
    i0, i1, i2 = _moments_from_zero(family, p, -x)
    return -i0, i1, -i2


def _cells(scheme: str, bits: int, step):
    """``(level, lo, hi)`` of every cell; thresholds are midpoints, the two
    outer cells reach +-inf (saturation)."""
    kmin, kmax, off = design_table(scheme, bits)
    levels = [(k + off) * step for k in range(kmin, kmax + 1)]
    edges = [-mp.inf]
    edges += [(levels[i] + levels[i + 1]) / 2 for i in range(len(levels) - 1)]
    edges += [mp.inf]
    return [(c, edges[i], edges[i + 1]) for i, c in enumerate(levels)]


def mp_mse(family: str, scheme: str, bits: int, step: float):
    """Exact MSE at 40 digits: sum over cells of [I2 - 2c I1 + c^2 I0]_lo^hi.

    The step is a double and every level and threshold a (half-)integer
    multiple of it, so they are exact at 40 digits. The per-cell
    differences cancel by at most ~ log10((K step)^2 / MSE) digits (about
    8 at 8 bits), which leaves more than 30 correct digits.
    """
    with mp.workdps(40):
        p = mpf(PARAM[family])
        total = mpf(0)
        for c, lo, hi in _cells(scheme, bits, mpf(step)):
            a, b = _moments(family, p, lo), _moments(family, p, hi)
            total += (b[2] - a[2]) - 2 * c * (b[1] - a[1]) + c * c * (b[0] - a[0])
        return total


def _rel(value: float, ref) -> float:
    with mp.workdps(40):
        return float(abs(mpf(float(value)) - ref) / ref)


# Relative tolerance against the 40-digit reference, for every route:
# 2e-14 is the worst case that the mse docstring states as measured against
# 40-digit references (the Gaussian's closed-form tail moments, ~z^2 ulps at
# z = tau/sigma); over this matrix every route measures <= 3 eps (6.3e-16).
# The from_scipy twin gets the same bound: scipy's pdf/cdf of these laws are
# good to a few ulps and the Gauss-Legendre panels (quarter-sigma, split at
# the breakpoints) integrate them to rounding.
RTOL_MP = 2e-14


def _mp_density(family: str, p):
    """The density at 40 digits and its breakpoints (for ``mpmath.quad``)."""
    if family == "uniform":
        return (lambda x: 1 / (2 * p) if abs(x) <= p else mpf(0)), [-p, p]
    if family == "gaussian":
        return (lambda x: mp.npdf(x, 0, p)), []
    return (lambda x: mp.exp(-abs(x) / p) / (2 * p)), [mpf(0)]


@pytest.mark.parametrize("family", PARAM)
def test_mpmath_reference_matches_mpmath_quad(family):
    # the oracle's closed forms against plain numerical integration of
    # (x - c)^2 f(x) over every cell (split at the density's breakpoints),
    # at 1 and 2 bits where cells are few; both at 40 digits, so 1e-30
    # relative is "equal" with a 1e-10 margin for quad's own error
    dens, cuts = _mp_density(family, mpf(PARAM[family]))  # exact doubles
    for scheme in SCHEMES:
        for bits in (1, 2):
            if scheme == "symmetric" and bits < 2:
                continue
            step = step_of(family, scheme, bits, 1.0)
            with mp.workdps(40):
                total = mpf(0)
                for c, lo, hi in _cells(scheme, bits, mpf(step)):
                    pts = [lo, *(x for x in cuts if lo < x < hi), hi]
                    total += mp.quad(lambda x, c=c: (x - c) ** 2 * dens(x), pts)
                ref = mp_mse(family, scheme, bits, step)
                assert abs(total - ref) <= mpf(10) ** -30 * ref, (scheme, bits)


# ---------------------------------------------------------------------------
# the MSE: cells, series, public, from_scipy twin, mpmath
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(("family", "scheme", "bits", "factor"), CASES)
def test_mse_routes_agree(family, scheme, bits, factor):
    dist = law(family)
    step = step_of(family, scheme, bits, factor)
    d = np.array([step])
    s = get_scheme("mse", scheme, bits)
    ref = mp_mse(family, scheme, bits, step)

    routes = {
        "cells": float(exact_cells(dist, d, s, 0)[0][0]),
        "public": qt.mse(dist, step, bits, scheme=scheme),
        "from_scipy": qt.mse(twin(family), step, bits, scheme=scheme),
    }
    values, order = series_mse(dist, d, s)
    if order[0] > 0:  # order 0: the bound does not certify this step
        routes["series"] = float(values[0])
    else:
        assert np.isnan(values[0])  # no uncertified value leaks out
    coarse = lattice_mse(dist, d, s)
    if coarse is not None:  # the uniform law has no lattice hook
        values, ok = coarse
        if ok[0]:
            routes["lattice"] = float(values[0])
        else:
            assert np.isnan(values[0])
    for name, value in routes.items():
        # RTOL_MP: any exact route vs the 40-digit reference (see above)
        assert _rel(value, ref) <= RTOL_MP, (name, value, float(ref))


def test_series_certifies_most_of_the_matrix():
    # The series is certified where its remainder bound allows: everywhere
    # except coarse steps (cells of the order of the law's scale, where the
    # later terms would cancel the granular one: the cell sum's job).
    # Measured: 109 of the 135 steps (81 %); the others are Gaussian and
    # Laplace steps at <= 4 bits and >= 1 x the optimum, plus the 1-bit
    # Gaussian midrise step at 0.5 x. The assertions state that shape, so
    # that a bound that stops certifying (a vacuous series check) shows up.
    certified = {}
    for family, scheme, bits, factor in CASE_VALUES:
        step = step_of(family, scheme, bits, factor)
        s = get_scheme("mse", scheme, bits)
        _, order = series_mse(law(family), np.array([step]), s)
        certified[family, scheme, bits, factor] = bool(order[0] > 0)
    assert sum(certified.values()) >= 0.75 * len(certified)
    assert all(v for (_, _, b, _), v in certified.items() if b == 8)
    assert all(v for (f, _, _, _), v in certified.items() if f == "uniform")
    assert all(v for (_, _, b, c), v in certified.items() if b >= 2 and c == 0.5)


@pytest.mark.parametrize("family", ["gaussian", "laplace"])
@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("bits", [2, 4, 8])
def test_lattice_matches_mpmath_on_coarse_steps(family, scheme, bits):
    # the coarse steps that the series leaves, 3 to 60 x the optimum, where
    # the lattice route certifies them (at 8 bits all of them: measured, it
    # starts at 2.3 x for the Gaussian and 4.5 x for the Laplace law; the
    # series covers up to 19 x and 30 x)
    dist = law(family)
    s = get_scheme("mse", scheme, bits)
    opt = step_of(family, scheme, bits, 1.0)
    steps = opt * np.geomspace(3.0, 60.0, 7)
    values, ok = lattice_mse(dist, steps, s)
    if bits == 8:
        assert ok[steps >= 5.0 * opt].all()
    for step, value in zip(steps[ok], values[ok], strict=True):
        # RTOL_MP: any exact route vs the 40-digit reference (see above)
        assert _rel(value, mp_mse(family, scheme, bits, step)) <= RTOL_MP
    assert np.isnan(values[~ok]).all()  # no uncertified value leaks out


@pytest.mark.parametrize("family", list(PARAM))
@pytest.mark.parametrize("scheme", SCHEMES)
def test_closed_routes_cover_every_8_bit_step_up_to_60_times_the_optimum(
    family, scheme
):
    # issue 11, section 9: at 8 bits every step from 1/8 to 60 x the optimum
    # is taken by the series or the lattice, none by the 256-cell sum (which
    # is what made 1e4 steps take a second)
    dist = law(family)
    s = get_scheme("mse", scheme, 8)
    steps = step_of(family, scheme, 8, 1.0) * np.geomspace(1 / 8, 60.0, 400)
    done = np.zeros(steps.shape, dtype=bool)
    coarse = lattice_mse(dist, steps, s)
    if coarse is not None:
        done |= coarse[1]
    done |= series_mse(dist, steps, s)[1] > 0
    assert done.all()


# ---------------------------------------------------------------------------
# D' and D'': series, cells, public, finite differences
# ---------------------------------------------------------------------------

#: FD step relative to the step. With h = step/256 the truncation of a
#: central difference, c h^2, measures (Richardson, in the test) <= 1.4e-5
#: of the scale of D'' and <= 5e-4 of that of D' (the uniform law at 8
#: bits, where D''' ~ (a/step)^2); rounding adds <= 2 R eps D/h to D' and
#: <= 16 R eps D/h^2 to D'', i.e. 7e-12 of D/step and 1.5e-8 of D/step^2.
H_REL = 2.0**-8
#: Rounding of one exact-MSE value in units of eps D (measured <= 3 eps
#: against mpmath over the matrix; 64 leaves a 20x margin).
R_ULPS = 64.0
#: Relative offset of the difference that estimates step |D'''|.
R3 = 2.0**-10


def uniform_kink_in(scheme: str, bits: int, lo: float, hi: float) -> bool:
    """True if a decision threshold of U[-a, a] crosses +-a for a step in
    [lo, hi]: D'' of the uniform law jumps there (design table, no engine)."""
    kmin, kmax, off = design_table(scheme, bits)
    a = PARAM["uniform"]
    for j in range(kmin, kmax):
        t = abs(float(j + off) + 0.5)
        if t > 0 and t * lo <= a <= t * hi:
            return True
    return False


@pytest.mark.parametrize(("family", "scheme", "bits", "factor"), CASES)
def test_derivative_routes_agree(family, scheme, bits, factor):
    dist = law(family)
    step = step_of(family, scheme, bits, factor)
    s = get_scheme("mse", scheme, bits)
    d = np.array([step])
    mse0, d1, d2 = (float(v[0]) for v in exact_cells(dist, d, s, 2))
    # step |D'''|, from the cells' D'' at step (1 +- R3): it sets how much
    # any float evaluation of D'' moves when the step (or a level computed
    # from it) is off by an ulp; large for the uniform law at many bits
    # (about 2 (a/step)^2, series_derivatives' docstring), of the order of
    # D'' for smooth laws. A kink inside the offsets only makes it larger.
    nb = exact_cells(dist, step * np.array([1 - R3, 1 + R3]), s, 2)[2]
    step_d3 = abs(float(nb[1] - nb[0])) / (2 * R3)
    # Natural scales of D' and D'': the sizes of the terms that every route
    # adds, D/step and D/step^2, with the one-ulp-of-step sensitivity
    # (step |D''| and step |D'''|). Two double routes differ by a few ulps
    # of those: 64 eps.
    scale1 = abs(d1) + mse0 / step + step * abs(d2)
    scale2 = abs(d2) + mse0 / step**2 + step_d3
    tol1, tol2 = 64 * EPS * scale1, 64 * EPS * scale2

    # the public mse_derivative (whatever route it picks), side=+1 as cells
    assert abs(qt.mse_derivative(dist, step, bits, 1, scheme=scheme) - d1) <= tol1
    assert abs(qt.mse_derivative(dist, step, bits, 2, scheme=scheme) - d2) <= tol2

    got = series_derivatives(dist, d, s, 2)
    assert got is not None  # the three named families have the hooks
    (sd1, sd2), order = got
    if order[0] > 0:  # order 0: not certified at this step, explicitly skipped
        assert abs(float(sd1[0]) - d1) <= tol1, (float(sd1[0]), d1)
        assert abs(float(sd2[0]) - d2) <= tol2, (float(sd2[0]), d2)

    # Central finite differences of the public exact MSE, at h and h/2.
    # F(h) = D^(k) + c h^2 + O(h^4), so F(h) - F(h/2) = (3/4) c h^2 is three
    # times the truncation error of F(h/2), the value compared: a measured
    # truncation bound with a factor-3 margin. Rounding: each D value is off
    # by <= R_ULPS eps D, so F1(h/2) by <= 2 R eps D / h and F2(h/2) by
    # <= 16 R eps D / h^2.
    h = H_REL * step
    if family == "uniform" and uniform_kink_in(scheme, bits, step - h, step + h):
        # D'' jumps inside the stencil (a threshold crosses +-a): no central
        # difference converges to the one-sided D'' there
        return
    offsets = np.array([-h, -h / 2, 0.0, h / 2, h])
    v = np.asarray(qt.mse(dist, step + offsets, bits, scheme=scheme))
    f1_h = (v[4] - v[0]) / (2 * h)
    f1_h2 = (v[3] - v[1]) / h
    f2_h = (v[4] - 2 * v[2] + v[0]) / h**2
    f2_h2 = (v[3] - 2 * v[2] + v[1]) / (h / 2) ** 2
    noise = R_ULPS * EPS * float(np.max(v))
    fd_tol1 = abs(f1_h - f1_h2) + 2 * noise / h
    fd_tol2 = abs(f2_h - f2_h2) + 16 * noise / h**2
    assert abs(f1_h2 - d1) <= fd_tol1 + tol1, (f1_h2, d1, fd_tol1)
    assert abs(f2_h2 - d2) <= fd_tol2 + tol2, (f2_h2, d2, fd_tol2)


def test_series_derivatives_certify_most_of_the_matrix():
    # as for the MSE: coarse steps are left to the cell sum. Measured: 102 of
    # the 135 steps (76 %): every 8-bit step, and at 4 bits every step below
    # 2 x the optimum.
    certified = {}
    for family, scheme, bits, factor in CASE_VALUES:
        step = step_of(family, scheme, bits, factor)
        s = get_scheme("mse", scheme, bits)
        _, order = series_derivatives(law(family), np.array([step]), s, 2)
        certified[family, scheme, bits, factor] = bool(order[0] > 0)
    assert sum(certified.values()) >= 0.7 * len(certified)
    assert all(v for (_, _, b, _), v in certified.items() if b == 8)
    assert all(v for (_, _, b, c), v in certified.items() if b == 4 and c < 2)


# ---------------------------------------------------------------------------
# a large Empirical sample against the law
# ---------------------------------------------------------------------------

# Every family and scheme at 1, 2 and 4 bits, at 0.5 x the optimum (33
# cases). Why these: the k-SE bound below needs the mean of the squared
# errors to be close to normal 5 SE out, and its skewness is that of one
# squared error over sqrt(n). Measured skewness of (X - Q(X))^2: <= 2 for
# the uniform law, <= 8.4 (Gaussian) and <= 22 (Laplace) here; at 8 bits
# (Laplace: 73) or at the optimum (4 bits: 40-76, 8 bits: 450-620) the
# outer cells are hit by 1e-3 to 1e-5 of the samples, the sum is dominated
# by a Poisson number of clipping errors and a 5-SE bound means nothing.
# (The Empirical route at every bit-width is checked exactly against plain
# numpy in tests/empirical/test_empirical.py.)
MC_CASES = [p for p in CASES if p.values[3] == 0.5 and p.values[2] <= 4]
#: Samples per case.
N_MC = 500_000
# k = 5 standard errors. A two-sided normal excursion beyond 5 SE has
# probability 5.7e-7; the one-term Edgeworth correction of the studentized
# mean, phi(5) (2 k^2 + 1)/6 * skew/sqrt(n) <= 1.49e-6 * 8.5 * 22/707 =
# 3.9e-7, keeps it below 1e-6 per case, so over the 33 cases the
# family-wise false-alarm rate is below 3.3e-5 < 1e-4 (Bonferroni). Seeds
# are fixed: the suite is deterministic, and the rate says how unlucky a
# seed would have to be to fail a correct engine.
K_SE = 5.0


def _numpy_sample(family: str, rng: np.random.Generator, n: int) -> np.ndarray:
    p = PARAM[family]
    if family == "uniform":
        return rng.uniform(-p, p, n)
    if family == "gaussian":
        return rng.normal(0.0, p, n)
    return rng.laplace(0.0, p, n)


@pytest.mark.parametrize(("family", "scheme", "bits", "factor"), MC_CASES)
def test_large_empirical_sample_agrees_within_k_standard_errors(
    family, scheme, bits, factor
):
    seed = 1000 + CASE_VALUES.index((family, scheme, bits, factor))
    x = _numpy_sample(family, np.random.default_rng(seed), N_MC)
    step = step_of(family, scheme, bits, factor)
    emp = qt.mse(qt.Empirical(x), step, bits, scheme=scheme)
    exact = float(mp_mse(family, scheme, bits, step))
    # the standard error of the mean of the n squared errors, from a
    # design-table quantizer in plain numpy
    kmin, kmax, off = design_table(scheme, bits)
    off = float(off)
    e2 = (x - (np.clip(np.rint(x / step - off), kmin, kmax) + off) * step) ** 2
    se = float(np.std(e2, ddof=1)) / math.sqrt(N_MC)
    # the Empirical route is the mean of exactly these squares (to rounding)
    # 2 n eps: two sums of n positive terms in different orders
    assert emp == pytest.approx(float(np.mean(e2)), rel=2 * N_MC * EPS)
    assert abs(emp - exact) <= K_SE * se, (emp, exact, se)
