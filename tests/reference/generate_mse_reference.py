"""Independent 40-digit reference values for the exact uniform-quantization MSE.

This script does NOT import ``quanttheory``.  It computes

    MSE(X, step) = E[(X - Q(X))^2],

where Q maps x to the nearest level of the level set of the chosen scheme
(K = 2**(bits - 1)):

    "paper"      k*step,        k = -K .. K        (2**bits + 1 levels)
    "midrise"    (k + 1/2)*step, k = -K .. K - 1   (2**bits levels)
    "signed"     k*step,        k = -K .. K - 1    (2**bits levels)
    "symmetric"  k*step,        k = -(K-1) .. K-1  (2**bits - 1 levels, bits >= 2)

Decision boundaries are the midpoints of adjacent levels; the two outermost
cells extend to -inf and +inf (saturation).  Per cell [lo, hi] with level c,

    int_lo^hi (x - c)^2 f(x) dx = [I2 - 2 c I1 + c^2 I0]_lo^hi,

with I_k(x) = int_0^x t^k f(t) dt in CLOSED FORM, evaluated with mpmath at
``DPS`` decimal digits (default 60).  All four densities are even, so
I_k(-x) = (-1)**(k+1) I_k(x) and only x >= 0 needs a formula:

    Uniform(a)   I_k(x) = min(x, a)**(k+1) / ((k+1) * 2a)
    Gaussian(s)  I0 = erf(x/(s*sqrt2))/2,  I1 = s/sqrt(2 pi) (1 - exp(-x^2/(2 s^2))),
                 I2 = s^2 (I0 - x phi_s(x)),  phi_s the N(0, s^2) density
    Laplace(b)   I0 = (1 - e)/2,  I1 = b (1 - (1 + y) e)/2,
                 I2 = b^2 (2 - (y^2 + 2y + 2) e)/2,  y = x/b, e = exp(-y)
    Student t3   f = 2/(pi sqrt3) (1 + x^2/3)^-2,  u = x/sqrt3:
                 I0 = (atan u + u/(1+u^2))/pi,   I1 = (sqrt3/pi) x^2/(3 + x^2),
                 I2 = (3/pi)(atan u - u/(1+u^2))
                 (limits at +inf: 1/2, sqrt3/pi, 3/2 -> variance 3)

The closed forms are checked against ``mpmath.quad`` (antiderivatives at a few
points, and whole MSE values cell by cell for low bit widths); the script
asserts agreement before writing anything.

Rounding: every step is a double, so levels and boundaries (half-integer
multiples of the step) are exact in mpmath.  The only rounding is in the
special functions and the sum; the absolute error is bounded by
10**-DPS * sum over cells of (|I2(lo)|+|I2(hi)| + 2|c|(|I1(lo)|+|I1(hi)|)
+ c^2 (|I0(lo)|+|I0(hi)|)), and log10 of that sum over the MSE is stored per
case as ``digits_lost``.  This worst-case bound is at most 14.7 (16 bits; it
is <= 11.1 up to 12 bits), so DPS = 60 leaves >= 45 correct digits.  The six
cases with the largest bound are recomputed at DPS + 30 and must agree to 45
significant digits (they agree to about 52, i.e. ~8 digits are really lost).

Steps: a rough optimum step is found per (family, scheme, bits) with an
independent float64 implementation of the same formula (log-grid search +
bounded Brent refinement).  The tested steps are float(rough_opt * factor)
for factors 1/8, 1/2, 0.9, 1, 1.1, 2, 8 (only 1/8, 1, 8 at 12 and 16 bits).
``step`` is repr() of that double; ``step_exact`` is its exact decimal value.
``mse`` has 40 significant digits.

Regenerate (about 5-10 minutes on 2 cores) from the repository root with

    python tests/reference/generate_mse_reference.py

which rewrites ``tests/reference/mse_reference.json``.  ``--quick`` skips the
12- and 16-bit cases and writes nothing (for trying out changes).
"""

from __future__ import annotations

import argparse
import datetime
import decimal
import json
import math
import platform
import sys
import time
from pathlib import Path

import mpmath
import numpy as np
from mpmath import mp
from scipy import optimize, special

DPS = 60
MSE_DIGITS = 40
HERE = Path(__file__).resolve().parent
OUT_JSON = HERE / "mse_reference.json"

FAMILIES: dict[str, dict[str, float]] = {
    "uniform": {"a": 1.0},
    "gaussian": {"sigma": 1.0},
    "laplace": {"b": 1.0},
    "student_t": {"df": 3.0, "scale": 1.0},
}
SCHEMES = ("paper", "midrise", "signed", "symmetric")
BITS = (1, 2, 3, 4, 5, 6, 8, 10, 12, 16)
FACTORS_FULL = (0.125, 0.5, 0.9, 1.0, 1.1, 2.0, 8.0)
FACTORS_FEW = (0.125, 1.0, 8.0)


def factors_for(bits: int) -> tuple[float, ...]:
    return FACTORS_FEW if bits >= 12 else FACTORS_FULL


def level_range(scheme: str, bits: int) -> tuple[int, int, float]:
    """Levels are (k + offset) * step for k = kmin .. kmax (inclusive)."""
    if bits < 1:
        raise ValueError("bits must be >= 1")
    big_k = 2 ** (bits - 1)
    if scheme == "paper":
        return -big_k, big_k, 0.0
    if scheme == "midrise":
        return -big_k, big_k - 1, 0.5
    if scheme == "signed":
        return -big_k, big_k - 1, 0.0
    if scheme == "symmetric":
        if bits < 2:
            raise ValueError("symmetric needs bits >= 2")
        return -(big_k - 1), big_k - 1, 0.0
    raise ValueError(f"unknown scheme {scheme!r}")


def schemes_for(bits: int) -> tuple[str, ...]:
    return SCHEMES if bits >= 2 else tuple(s for s in SCHEMES if s != "symmetric")


# ---------------------------------------------------------------------------
# mpmath closed forms: I_k(x) = int_0^x t^k f(t) dt, k = 0, 1, 2
# ---------------------------------------------------------------------------


def _moments_pos_mp(family: str, params: dict[str, float], x):
    """(I0, I1, I2) at x >= 0 (mpf or +inf), in the current mp precision."""
    if family == "uniform":
        a = mp.mpf(params["a"])
        y = a if x >= a else x
        return y / (2 * a), y**2 / (4 * a), y**3 / (6 * a)
    if family == "gaussian":
        s = mp.mpf(params["sigma"])
        if mp.isinf(x):
            return mp.mpf(1) / 2, s / mp.sqrt(2 * mp.pi), s**2 / 2
        z = x / s
        i0 = mp.erf(z / mp.sqrt(2)) / 2
        e = mp.exp(-(z**2) / 2)
        i1 = s * (1 - e) / mp.sqrt(2 * mp.pi)
        i2 = s**2 * (i0 - z * e / mp.sqrt(2 * mp.pi))
        return i0, i1, i2
    if family == "laplace":
        b = mp.mpf(params["b"])
        if mp.isinf(x):
            return mp.mpf(1) / 2, b / 2, b**2
        y = x / b
        e = mp.exp(-y)
        return (
            (1 - e) / 2,
            b * (1 - (1 + y) * e) / 2,
            b**2 * (2 - (y**2 + 2 * y + 2) * e) / 2,
        )
    if family == "student_t":
        if params["df"] != 3.0:
            raise ValueError("only df = 3 has closed forms here")
        s = mp.mpf(params["scale"])
        r3 = mp.sqrt(3)
        if mp.isinf(x):
            return mp.mpf(1) / 2, s * r3 / mp.pi, s**2 * mp.mpf(3) / 2
        z = x / s
        u = z / r3
        at = mp.atan(u)
        q = u / (1 + u**2)
        i0 = (at + q) / mp.pi
        i1 = s * r3 / mp.pi * z**2 / (3 + z**2)
        i2 = s**2 * 3 / mp.pi * (at - q)
        return i0, i1, i2
    raise ValueError(f"unknown family {family!r}")


def moments_mp(family: str, params: dict[str, float], x):
    """(I0, I1, I2) at any x (mpf or +-inf); uses the evenness of f."""
    if x >= 0:
        return _moments_pos_mp(family, params, x)
    i0, i1, i2 = _moments_pos_mp(family, params, -x)
    return -i0, i1, -i2


def density_mp(family: str, params: dict[str, float], x):
    if family == "uniform":
        a = mp.mpf(params["a"])
        return 1 / (2 * a) if abs(x) <= a else mp.zero
    if family == "gaussian":
        s = mp.mpf(params["sigma"])
        return mp.exp(-((x / s) ** 2) / 2) / (s * mp.sqrt(2 * mp.pi))
    if family == "laplace":
        b = mp.mpf(params["b"])
        return mp.exp(-abs(x) / b) / (2 * b)
    if family == "student_t":
        nu = mp.mpf(params["df"])
        s = mp.mpf(params["scale"])
        z = x / s
        c = mp.gamma((nu + 1) / 2) / (mp.sqrt(nu * mp.pi) * mp.gamma(nu / 2))
        return c * (1 + z**2 / nu) ** (-(nu + 1) / 2) / s
    raise ValueError(f"unknown family {family!r}")


def mse_mp(family, params, scheme, bits, step, with_bound=False):
    """Exact MSE by closed-form antiderivatives at the CURRENT mp precision.

    ``step`` may be a float (converted exactly) or an mpf.  With
    ``with_bound`` also returns the rounding-amplification sum S such that
    |error| <~ 10**-dps * S.
    """
    step = mp.mpf(step)
    kmin, kmax, off = level_range(scheme, bits)
    off = mp.mpf(off)
    total = mp.zero
    bound = mp.zero
    lo_m = moments_mp(family, params, mp.ninf)
    for k in range(kmin, kmax + 1):
        c = (k + off) * step
        hi = mp.inf if k == kmax else (k + off + mp.mpf(1) / 2) * step
        hi_m = moments_mp(family, params, hi)
        d0 = hi_m[0] - lo_m[0]
        d1 = hi_m[1] - lo_m[1]
        d2 = hi_m[2] - lo_m[2]
        total += d2 - 2 * c * d1 + c * c * d0
        if with_bound:
            bound += (
                abs(hi_m[2])
                + abs(lo_m[2])
                + 2 * abs(c) * (abs(hi_m[1]) + abs(lo_m[1]))
                + c * c * (abs(hi_m[0]) + abs(lo_m[0]))
            )
        lo_m = hi_m
    if with_bound:
        return total, bound
    return total


def mse_quad(family, params, scheme, bits, step):
    """Brute force: mpmath.quad of (x - c)^2 f over every cell (slow)."""
    step = mp.mpf(step)
    kmin, kmax, off = level_range(scheme, bits)
    total = mp.zero
    for k in range(kmin, kmax + 1):
        c = (k + off) * step
        lo = mp.ninf if k == kmin else (k + off - mp.mpf(1) / 2) * step
        hi = mp.inf if k == kmax else (k + off + mp.mpf(1) / 2) * step
        pts = [lo, hi]
        if family == "uniform":
            a = mp.mpf(params["a"])
            lo, hi = max(lo, -a), min(hi, a)
            if lo >= hi:
                continue
            pts = [lo, hi]
        elif family == "laplace" and lo < 0 < hi:
            pts = [lo, 0, hi]
        elif lo < 0 < hi:
            pts = [lo, 0, hi]

        def integrand(x, c=c):
            return (x - c) ** 2 * density_mp(family, params, x)

        total += mp.quad(integrand, pts)
    return total


# ---------------------------------------------------------------------------
# float64 twin (only used to choose the steps; independent of quanttheory)
# ---------------------------------------------------------------------------


def _moments_pos_np(family, params, x):
    x = np.asarray(x, dtype=float)
    fin = np.isfinite(x)
    xf = np.where(fin, x, 0.0)
    if family == "uniform":
        a = params["a"]
        y = np.minimum(np.where(fin, x, a), a)
        return y / (2 * a), y**2 / (4 * a), y**3 / (6 * a)
    if family == "gaussian":
        s = params["sigma"]
        z = xf / s
        i0 = special.erf(z / math.sqrt(2)) / 2
        e = np.exp(-(z**2) / 2)
        i1 = s * (1 - e) / math.sqrt(2 * math.pi)
        i2 = s**2 * (i0 - z * e / math.sqrt(2 * math.pi))
        lim = (0.5, s / math.sqrt(2 * math.pi), s**2 / 2)
    elif family == "laplace":
        b = params["b"]
        y = xf / b
        e = np.exp(-y)
        i0 = (1 - e) / 2
        i1 = b * (1 - (1 + y) * e) / 2
        i2 = b**2 * (2 - (y**2 + 2 * y + 2) * e) / 2
        lim = (0.5, b / 2, b**2)
    elif family == "student_t":
        s = params["scale"]
        z = xf / s
        u = z / math.sqrt(3)
        at = np.arctan(u)
        q = u / (1 + u**2)
        i0 = (at + q) / math.pi
        i1 = s * math.sqrt(3) / math.pi * z**2 / (3 + z**2)
        i2 = s**2 * 3 / math.pi * (at - q)
        lim = (0.5, s * math.sqrt(3) / math.pi, 1.5 * s**2)
    else:
        raise ValueError(family)
    return tuple(np.where(fin, v, li) for v, li in zip((i0, i1, i2), lim, strict=True))


def mse_float(family, params, scheme, bits, step):
    kmin, kmax, off = level_range(scheme, bits)
    k = np.arange(kmin, kmax + 1, dtype=float)
    c = (k + off) * step
    edges = np.concatenate(([-np.inf], (k[:-1] + off + 0.5) * step, [np.inf]))
    i0, i1, i2 = _moments_pos_np(family, params, np.abs(edges))
    neg = edges < 0
    i0 = np.where(neg, -i0, i0)
    i2 = np.where(neg, -i2, i2)
    d0, d1, d2 = np.diff(i0), np.diff(i1), np.diff(i2)
    return float(np.sum(d2 - 2 * c * d1 + c * c * d0))


def rough_optimal_step(family, params, scheme, bits):
    """Global minimiser of mse_float over the step: log grid, then Brent."""
    lo, hi = math.log(1e-3 * 2.0**-bits), math.log(1e5 * 2.0**-bits)
    grid = np.linspace(lo, hi, 700)
    vals = np.array(
        [mse_float(family, params, scheme, bits, math.exp(g)) for g in grid]
    )
    i = int(np.argmin(vals))
    a, b = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    res = optimize.minimize_scalar(
        lambda g: mse_float(family, params, scheme, bits, math.exp(g)),
        bounds=(a, b),
        method="bounded",
        options={"xatol": 1e-10},
    )
    return math.exp(res.x) if res.fun <= vals[i] else math.exp(grid[i])


# ---------------------------------------------------------------------------
# self-checks
# ---------------------------------------------------------------------------


def check_antiderivatives() -> float:
    """I_k(x) against mpmath.quad of t^k f on [0, x]; returns max abs error."""
    worst = mp.zero
    with mp.workdps(DPS):
        for family, params in FAMILIES.items():
            for xv in ("0.3", "1.7", "-2.2", "5.25", "-13"):
                x = mp.mpf(xv)
                got = moments_mp(family, params, x)
                for kk in range(3):
                    pts = [0, x]
                    if family == "uniform" and abs(x) > params["a"]:
                        pts = [0, mp.sign(x) * params["a"]]
                    ref = mp.quad(
                        lambda t, kk=kk, fam=family, par=params: (
                            t**kk * density_mp(fam, par, t)
                        ),
                        pts,
                    )
                    err = abs(got[kk] - ref)
                    worst = max(worst, err)
                    assert err < mp.mpf(10) ** (-(DPS - 10)), (family, xv, kk, err)
            # limits at +inf against quad on [0, inf]
            if family != "uniform":
                got = moments_mp(family, params, mp.inf)
                for kk in range(3):
                    ref = mp.quad(
                        lambda t, kk=kk, fam=family, par=params: (
                            t**kk * density_mp(fam, par, t)
                        ),
                        [0, 1, mp.inf],
                    )
                    err = abs(got[kk] - ref)
                    worst = max(worst, err)
                    assert err < mp.mpf(10) ** (-30), (family, "inf", kk, err)
    return float(worst)


def check_against_quad() -> tuple[int, float]:
    """Whole-MSE cross-check against cell-by-cell mpmath.quad at low bits."""
    n = 0
    worst = 0.0
    with mp.workdps(40):
        for family, params in FAMILIES.items():
            for bits in (1, 2, 3):
                for scheme in schemes_for(bits):
                    base = 2.0 / 2**bits
                    for step in (0.37 * base, base, 2.9 * base):
                        closed = mse_mp(family, params, scheme, bits, step)
                        brute = mse_quad(family, params, scheme, bits, step)
                        rel = abs(closed - brute) / brute
                        worst = max(worst, float(rel))
                        assert rel < mp.mpf(10) ** -25, (
                            family,
                            scheme,
                            bits,
                            step,
                            rel,
                        )
                        n += 1
    return n, worst


def exact_decimal(x: float) -> str:
    return format(decimal.Decimal(x), "f")


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------


def generate(bits_list=BITS, verbose=True):
    cases = []
    timings: dict[str, float] = {}
    for family, params in FAMILIES.items():
        t_fam = time.perf_counter()
        for bits in bits_list:
            t_bits = time.perf_counter()
            for scheme in schemes_for(bits):
                opt = rough_optimal_step(family, params, scheme, bits)
                for fac in factors_for(bits):
                    step = float(opt * fac)
                    with mp.workdps(DPS):
                        val, bound = mse_mp(
                            family, params, scheme, bits, step, with_bound=True
                        )
                        lost = float(mp.log10(bound / val))
                        cases.append(
                            {
                                "family": family,
                                "params": dict(params),
                                "scheme": scheme,
                                "bits": bits,
                                "factor": fac,
                                "rough_opt_step": repr(opt),
                                "step": repr(step),
                                "step_exact": exact_decimal(step),
                                "mse": mp.nstr(val, MSE_DIGITS, strip_zeros=False),
                                "digits_lost": round(lost, 2),
                            }
                        )
            if verbose:
                print(
                    f"  {family:10s} bits={bits:2d}: "
                    f"{time.perf_counter() - t_bits:7.2f} s",
                    flush=True,
                )
        timings[family] = time.perf_counter() - t_fam
    return cases, timings


def recheck_worst(cases, n=6, extra=30):
    """Recompute the cases with the largest digits_lost at DPS + extra."""
    worst = sorted(cases, key=lambda c: -c["digits_lost"])[:n]
    agree = []
    for c in worst:
        with mp.workdps(DPS):
            lo = mse_mp(
                c["family"], c["params"], c["scheme"], c["bits"], float(c["step"])
            )
        with mp.workdps(DPS + extra):
            hi = mse_mp(
                c["family"], c["params"], c["scheme"], c["bits"], float(c["step"])
            )
            digits = float(-mp.log10(abs(lo - hi) / hi)) if lo != hi else float(DPS)
        assert digits > MSE_DIGITS + 5, (c, digits)
        agree.append(
            {k: c[k] for k in ("family", "scheme", "bits", "step", "digits_lost")}
            | {"agreeing_digits_dps60_vs_dps90": round(digits, 1)}
        )
    return agree


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--quick", action="store_true", help="skip 12/16 bits; write nothing"
    )
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    print(f"mpmath {mpmath.__version__}, dps = {DPS}")
    err = check_antiderivatives()
    print(f"antiderivatives vs mpmath.quad: max abs error {err:.2e}")
    n, worst = check_against_quad()
    print(
        f"closed form vs cell-by-cell mpmath.quad: {n} MSE values, "
        f"max rel diff {worst:.2e}"
    )
    t_checks = time.perf_counter() - t0

    bits_list = tuple(b for b in BITS if b < 12) if args.quick else BITS
    cases, timings = generate(bits_list)
    t_gen = time.perf_counter() - t0 - t_checks
    rechecks = recheck_worst(cases)
    for r in rechecks:
        print("  recheck:", r)
    total = time.perf_counter() - t0
    max_lost = max(c["digits_lost"] for c in cases)
    print(f"{len(cases)} cases; max digits lost {max_lost:.2f} (of {DPS})")
    print(
        f"timing: checks {t_checks:.1f} s, generation {t_gen:.1f} s, "
        f"total {total:.1f} s; "
        + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items())
    )
    if args.quick:
        return 0

    doc = {
        "provenance": {
            "script": "tests/reference/generate_mse_reference.py",
            "regenerate": "python tests/reference/generate_mse_reference.py",
            "mp_dps": DPS,
            "mse_significant_digits": MSE_DIGITS,
            "date": datetime.date.today().isoformat(),
            "mpmath": mpmath.__version__,
            "python": platform.python_version(),
            "method": (
                "closed-form antiderivatives of x^k f, k=0,1,2, per cell, in mpmath"
            ),
            "uses_quanttheory": False,
            "generation_seconds": round(total, 1),
            "max_digits_lost": max_lost,
            "crosscheck_quad": {"n_values": n, "max_rel_diff": worst},
            "crosscheck_antiderivatives_max_abs_err": err,
            "recheck_worst_at_higher_dps": rechecks,
        },
        "definition": (
            "MSE = E[(X - Q(X))^2], Q = nearest level; levels (K = 2^(bits-1)): "
            "paper k*step k=-K..K; midrise (k+1/2)*step k=-K..K-1; signed k*step "
            "k=-K..K-1; symmetric k*step k=-(K-1)..K-1; outer cells extend to +-inf. "
            "Families: uniform U[-a,a]; gaussian N(0,sigma^2); laplace "
            "exp(-|x|/b)/(2b); student_t df=3 scale=1."
        ),
        "cases": cases,
    }
    OUT_JSON.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {OUT_JSON} ({len(cases)} cases)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
