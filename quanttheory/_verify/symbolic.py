r"""The symbolic rows of ``quanttheory verify`` (imports sympy).

Two kinds of rows: symbolic identities (the sympy derivation from the seed's
integrals, compared with the formula printed in the seed, ``simplify(a - b)
== 0``), and the derived expressions evaluated with 40-digit mpmath
(``lambdify(modules='mpmath')``; float64 would lose digits to cancellation)
against the numeric engine at sampled points.
"""

from __future__ import annotations

import functools

import mpmath
import numpy as np
import sympy as sp

from .. import symbolic
from .._laws.gaussian import Gaussian
from .._laws.laplace import Laplace
from .._laws.uniform import Uniform
from .._mse import mse, mse_derivative
from .._optimal import optimal_step
from .._sensitivity import sensitivity
from .report import Check, check

__all__ = ["symbolic_checks"]

_DPS = 40


@functools.lru_cache(maxsize=256)
def _compiled(expr, syms):
    return sp.lambdify(syms, expr, modules="mpmath")


def _num(expr, syms, values) -> float:
    f = _compiled(expr, tuple(syms))
    args = [v if isinstance(v, int) else mpmath.mpf(v) for v in values]
    with mpmath.workdps(_DPS):
        return float(f(*args))


def _rel(a: float, b: float) -> float:
    return 0.0 if a == b else abs(a - b) / abs(b)


def _identity(name, lemma, diff, detail) -> Check:
    zero = sp.simplify(diff) == 0
    return check(name, lemma, "symbolic identity", 0.0 if zero else 1.0, 0.0, detail)


def symbolic_checks(bits, quick: bool) -> list[Check]:
    """Rows for the symbolic derivations of Lemmas 1-3 and the other laws."""
    sy = symbolic.symbols()
    a, d, m, eps = sy.a, sy.Delta, sy.M, sy.epsilon
    out: list[Check] = []
    k = 2 ** (m - 1)

    l2 = symbolic.uniform_mse()
    seed = (a - k * d) ** 3 / (3 * a) + 2**m * d**3 / (24 * a)
    out.append(
        _identity(
            "Lemma 2 derived from Eq. (6) = (a-2^(M-1)D)^3/(3a) + 2^M D^3/(24a)",
            "Lemma 2",
            l2.expr - seed,
            "three conditional expectations of the seed's Eq. (6), integrated by sympy",
        )
    )
    out.append(
        _identity(
            "Lemma 2: the exact cell sum equals the cubic for (2^(M-1)-1/2)D <= a",
            "Lemma 2 (domain)",
            l2.exact_cell_sum - seed,
            f"exact domain {l2.domain}, wider than the seed's {l2.seed_domain}",
        )
    )
    opt = symbolic.uniform_optimal_steps()
    roots = {sp.simplify(r.step) for r in opt.roots}
    want = {2 * a / (2**m + 1), 2 * a / (2**m - 1)}
    same = all(any(sp.simplify(r - w) == 0 for r in roots) for w in want)
    out.append(
        check(
            "Lemma 3: dD/dDelta = 0 has the roots 2a/(2^M+1) and 2a/(2^M-1)",
            "Lemma 3",
            "symbolic identity",
            0.0 if same else 1.0,
            0.0,
            "solved by sympy from the derivative of the derived cubic",
        )
    )
    out.append(
        _identity(
            "Lemma 3: D'' = 2^(M-1) > 0 at 2a/(2^M+1) (minimiser)",
            "Lemma 3",
            opt.minimiser.second_derivative - 2 ** (m - 1),
            opt.minimiser.text[:120],
        )
    )
    out.append(
        _identity(
            "Lemma 3: D'' = -2^(M-1) < 0 at 2a/(2^M-1) (spurious: local maximum)",
            "Lemma 3 (spurious root)",
            opt.spurious.second_derivative + 2 ** (m - 1),
            "the root sits on the edge of the cubic's exact domain",
        )
    )
    sens = symbolic.uniform_sensitivity()
    out.append(
        _identity(
            "Lemma 1: Gamma(X_U, eps) at the optimum = 2^(M-2) eps^2",
            "Lemma 1",
            sens.gamma - 2 ** (m - 2) * eps**2,
            "|D''(2a/(2^M+1))| eps^2 / 2, independent of a",
        )
    )
    out.append(
        _identity(
            "Lemma 1: validity radius = 4a/(4^M - 1) (distance to the kink)",
            "Lemma 1 (domain)",
            sens.radius - 4 * a / (4**m - 1),
            "2a/(2^M-1) - 2a/(2^M+1)",
        )
    )
    curv = symbolic.uniform_curvature()

    # numeric cross-checks at sampled points
    low = [b for b in bits if b <= 8]
    for mb in low:
        for av in (0.5, 1.0, 3.0):
            u = Uniform(av)
            steps = np.array([0.3, 0.8, 1.0]) * 2 * av / (2**mb - 1)
            got = mse(u, steps, mb)
            ref = [_num(l2.expr, (a, d, m), (av, float(s), mb)) for s in steps]
            c_got = mse_derivative(u, steps, mb, 2, side=-1)
            c_ref = [_num(curv.expr, (a, d, m), (av, float(s), mb)) for s in steps]
            err = max(max(map(_rel, got, ref)), max(map(_rel, c_got, c_ref)))
            out.append(
                check(
                    f"Lemma 2, M={mb}, a={av}: sympy (mpmath) vs engine, MSE and D''",
                    "Lemma 2",
                    "engine vs closed form",
                    err,
                    1e-12,
                    "lambdify at 40 digits, steps inside the exact domain",
                )
            )
        u = Uniform(1.0)
        d0 = optimal_step(u, mb)
        e_small = -0.25 * 4.0 / (4**mb - 1)
        got = sensitivity(u, mb, e_small, taylor=False)
        ref = -_num(sens.exact_change, (a, m, eps), (1.0, mb, e_small))
        ref = abs(ref)
        out.append(
            check(
                f"Lemma 1, M={mb}: exact MSE change (sympy cubic) vs engine",
                "Lemma 1",
                "engine vs closed form",
                _rel(got, ref),
                1e-9,
                f"eps = -radius/4 at D~ = {d0:.6g}; engine differences two MSEs, "
                "which costs ~1e-12 relative",
            )
        )
    lap_b = 0.7
    lap = Laplace(lap_b)
    gau = Gaussian(1.3)
    for mb in low if not quick else low[:4]:
        for scheme in ("paper", "midrise", "signed", "symmetric"):
            if scheme == "symmetric" and mb < 2:
                continue
            expr = symbolic.laplace_exact_mse(scheme)
            d0 = optimal_step(lap, mb, scheme=scheme)
            steps = d0 * np.array([0.25, 1.0, 4.0])
            got = mse(lap, steps, mb, scheme=scheme)
            ref = [_num(expr, (sy.b, d, m), (lap_b, float(s), mb)) for s in steps]
            out.append(
                check(
                    f"Laplace exact MSE (geometric sums), M={mb}, {scheme}: vs engine",
                    "MSE (all laws)",
                    "engine vs closed form",
                    max(map(_rel, got, ref)),
                    1e-12,
                    "sympy closed form for symbolic M, evaluated at 40 digits",
                )
            )
    for name, expr_fn, dist, par, pv in (
        ("Gaussian", symbolic.gaussian_additive_mse, gau, sy.sigma, 1.3),
        ("Laplace", symbolic.laplace_additive_mse, lap, sy.b, lap_b),
    ):
        expr = expr_fn("paper")
        for mb in low:
            d0 = optimal_step(dist, mb, model="additive")
            steps = d0 * np.array([0.5, 1.0, 2.0])
            got = mse(dist, steps, mb, model="additive")
            ref = [_num(expr, (par, d, m), (pv, float(s), mb)) for s in steps]
            out.append(
                check(
                    f"{name} additive model (closed form), M={mb}: vs engine",
                    "MSE (all laws)",
                    "engine vs closed form",
                    max(map(_rel, got, ref)),
                    1e-12,
                    "erf/exp closed form derived by sympy, 40-digit evaluation",
                )
            )
    for mb in [b for b in low if b <= (2 if quick else 3)]:
        for scheme in (
            ("paper", "midrise")
            if quick
            else ("paper", "midrise", "signed", "symmetric")
        ):
            if scheme == "symmetric" and mb < 2:
                continue
            expr = symbolic.gaussian_exact_mse(mb, scheme)
            d0 = optimal_step(gau, mb, scheme=scheme)
            steps = d0 * np.array([0.5, 1.0, 2.0])
            got = mse(gau, steps, mb, scheme=scheme)
            ref = [_num(expr, (sy.sigma, d), (1.3, float(s))) for s in steps]
            out.append(
                check(
                    f"Gaussian exact MSE (finite erf/exp sum), M={mb}, {scheme}: "
                    "vs engine",
                    "MSE (all laws)",
                    "engine vs closed form",
                    max(map(_rel, got, ref)),
                    1e-12,
                    "sympy sum over cells for this M, 40-digit evaluation",
                )
            )
    return out
