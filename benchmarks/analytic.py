"""(b) The analytic MSE over 10^4 steps against per-cell adaptive quadrature.

The naive route is what a researcher would write: for each step, one
``scipy.integrate.quad`` per quantizer cell of :math:`(x-c_k)^2 f(x)`
(default tolerances; the outer cells run to infinity). It is timed on a
few steps and its per-step cost is extrapolated to 10^4 steps.
"""

from __future__ import annotations

import math
import time

import numpy as np
from scipy import integrate, stats

from . import engine_calls
from ._report import Section, Table, Target, fmt_ratio, fmt_time
from ._timing import measure

BITS = 8
N_STEPS = 10_000


def _naive_mse(step: float, bits: int, pdf) -> float:
    k = 1 << (bits - 1)
    lv = np.arange(-k, k) * step  # the signed level set
    edges = np.concatenate([[-np.inf], 0.5 * (lv[:-1] + lv[1:]), [np.inf]])
    total = 0.0
    for c, a, b in zip(lv, edges[:-1], edges[1:], strict=True):
        val, _ = integrate.quad(lambda x, c=c: (x - c) ** 2 * pdf(x), a, b)
        total += val
    return total


def _pdf_math(x):
    return math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def run(cfg, log) -> Section:
    sec = Section(
        "b",
        f"Analytic MSE over {N_STEPS:,} steps at {BITS} bits (Gaussian)",
        intro=(
            "`qt.mse(qt.Gaussian(), steps, 8, scheme='signed')` for 10^4 steps "
            "from 0.5 to 2 times the optimum, against `scipy.integrate.quad` "
            "per cell per step (256 cells, default tolerances). The quadrature "
            "is timed on a few steps and extrapolated (per-step cost x 10^4)."
        ),
    )
    d0 = engine_calls.gaussian_optimal_step(BITS)
    steps = np.linspace(0.5 * d0, 2.0 * d0, N_STEPS)
    log("(b) qt.mse over 1e4 steps")
    t_qt = measure(lambda: engine_calls.gaussian_mse(steps, BITS), cfg.budget)
    qt_vals = np.asarray(t_qt.result)
    probes = [0, N_STEPS // 2, N_STEPS - 1]
    rows = [["quanttheory `mse` (vectorised)", fmt_time(t_qt.median), "—", "1x", "—"]]
    rec = {"qt_time_s": t_qt.median, "qt_repeats": t_qt.repeats}
    best_naive = None
    for label, pdf, count in [
        ("quad per cell, `math.exp` density", _pdf_math, 3),
        (
            "quad per cell, `scipy.stats.norm.pdf`",
            stats.norm.pdf,
            1 if cfg.quick else 2,
        ),
    ]:
        log(f"(b) {label}")
        per, err = [], 0.0
        for i in probes[:count]:
            t0 = time.perf_counter()
            v = _naive_mse(float(steps[i]), BITS, pdf)
            per.append(time.perf_counter() - t0)
            err = max(err, abs(v / qt_vals[i] - 1.0))
        per_step = float(np.median(per))
        total = per_step * N_STEPS
        ratio = total / t_qt.median
        best_naive = total if best_naive is None else min(best_naive, total)
        rows.append(
            [
                label,
                f"{fmt_time(total)} (extrapolated)",
                fmt_time(per_step),
                fmt_ratio(ratio),
                f"{err:.1e}",
            ]
        )
        rec[label] = {"per_step_s": per_step, "total_s": total, "rel_diff": err}
    sec.tables.append(
        Table(
            [
                "route",
                f"time for {N_STEPS:,} steps",
                "per step",
                "slower by",
                "max rel. diff to qt",
            ],
            rows,
        )
    )
    sec.records.append(rec)
    sec.notes.append(
        "The speed-up target is judged against the faster quadrature variant."
    )
    sec.targets.append(
        Target(
            f"analytic `mse`, {N_STEPS:,} steps at 8 bits",
            "≤ 50 ms",
            fmt_time(t_qt.median),
            t_qt.median <= 0.05,
        )
    )
    sp = best_naive / t_qt.median
    sec.targets.append(
        Target(
            "speed-up over per-cell adaptive quadrature",
            "≥ 1000x",
            fmt_ratio(sp),
            sp >= 1000,
            "extrapolated from timed steps",
        )
    )
    return sec
