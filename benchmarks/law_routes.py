"""Speed of the law routes (issue 11, section 9), side by side.

Run from the repository root::

    python -m benchmarks.law_routes            # prints a Markdown report
    python -m benchmarks.law_routes --json r.json

Two measurements, each in the form the issue states its target in:

(1) **Cold** ``optimal_step(from_scipy(scipy.stats.t(3)), 4)``: a fresh
    Python process imports quanttheory and scipy.stats, then times
    ``from_scipy`` plus ``optimal_step`` (the first call builds the knot
    table). Side by side, in one process: the tail moments beyond the last
    knot by the fixed rule in ``u = log(x/t)`` that the table now uses, and
    by the former route, ``scipy.integrate.quad`` on scalar pdf calls
    (re-implemented here as it was). Target: <= 100 ms cold.
(2) ``mse`` over 10^4 steps at 8 bits, from a fresh process (the first call
    after ``import quanttheory``; the median of later calls is shown too):
    the issue's grid ``geomspace(0.01, 1)``, the grid ``optimum/8 .. 60 x
    optimum`` and its coarse part ``8 .. 60 x optimum`` for the Gaussian,
    Laplace and uniform laws, every scheme. Side by side, in one process,
    the former route of the coarse steps (the 256-cell sum,
    ``exact_cells``) on 50 of them, extrapolated per step. Target: <= 50 ms.

Timings are wall-clock; the report also gives the process CPU time of the
fresh-process calls, which a loaded machine inflates less.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

from . import engine_calls
from ._report import Table, fmt_ratio, fmt_time
from ._timing import Budget, measure

ROOT = Path(__file__).resolve().parents[1]
N_STEPS = 10_000
BITS = 8
REPEATS = 5  # fresh processes per cold measurement (the median is reported)

_COLD_T3 = textwrap.dedent(
    """
    import json, time
    import scipy.stats as st
    from benchmarks import engine_calls
    rv = st.t(3)
    w0, c0 = time.perf_counter(), time.process_time()
    step = engine_calls.scipy_optimal_step(rv, 4)
    w1, c1 = time.perf_counter(), time.process_time()
    print(json.dumps({"wall": w1 - w0, "cpu": c1 - c0, "step": step}))
    """
)

_COLD_MSE = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np
    from benchmarks import engine_calls
    family, scheme, lo, hi = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
    if lo == "issue":
        steps = np.geomspace(0.01, 1.0, 10_000)
    else:
        opt = float(sys.argv[5])
        steps = opt * np.geomspace(float(lo), float(hi), 10_000)
    w0, c0 = time.perf_counter(), time.process_time()
    engine_calls.family_mse(family, steps, 8, scheme)
    w1, c1 = time.perf_counter(), time.process_time()
    later = []
    for _ in range(5):
        t = time.perf_counter()
        engine_calls.family_mse(family, steps * (1 + 1e-9), 8, scheme)
        later.append(time.perf_counter() - t)
    print(json.dumps({"wall": w1 - w0, "cpu": c1 - c0, "warm": sorted(later)[2]}))
    """
)


def _fresh(code: str, *args: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _median(rows: list[dict], key: str) -> float:
    return float(np.median([r[key] for r in rows]))


def _quad_tail(dist, t: float) -> np.ndarray:
    """The former upper tail beyond the last knot: integrate.quad in
    u = log(x/t) with scalar pdf calls (as in quanttheory before issue 11)."""
    from scipy import integrate

    out = np.zeros(3)
    for p in range(3):
        out[p] = integrate.quad(
            lambda u, p=p: (
                (abs(t) * math.expm1(u)) ** p
                * float(dist.pdf(t * math.exp(u)))
                * abs(t)
                * math.exp(u)
            ),
            0.0,
            max(0.0, math.log(1e150 / abs(t))),
            limit=200,
            epsabs=0.0,
            epsrel=1e-13,
        )[0]
    return out


def cold_t3(log) -> dict:
    log("(1) cold optimal_step(from_scipy(t(3)), 4), fresh processes")
    runs = [_fresh(_COLD_T3) for _ in range(REPEATS)]
    wall, cpu = _median(runs, "wall"), _median(runs, "cpu")
    # side by side in this process: the tail beyond the last knot
    import scipy.stats as st

    dist = engine_calls.scipy_law(st.t(3))
    last = float(dist._knots[0][-1])
    budget = Budget(min_time=0.5, min_repeats=3, max_repeats=7, max_time=5.0)
    new = measure(lambda: dist._far_tail(np.array([last]), +1)[:, 0], budget)
    old = measure(lambda: _quad_tail(dist, last), budget)
    rel = float(np.max(np.abs(new.result / old.result - 1.0)))
    return {
        "cold_wall_s": wall,
        "cold_cpu_s": cpu,
        "runs": runs,
        "tail_new_s": new.median,
        "tail_quad_s": old.median,
        "tail_speedup": old.median / new.median,
        "tail_rel_diff": rel,
        "met": wall <= 0.100,
    }


GRIDS = (("issue", None, None), ("full", 1 / 8, 60.0), ("coarse", 8.0, 60.0))


def mse_grids(log, schemes) -> list[dict]:
    rows = []
    for family in ("gaussian", "laplace", "uniform"):
        for scheme in schemes:
            opt = engine_calls.family_optimal_step(family, BITS, scheme)
            for name, lo, hi in GRIDS:
                log(f"(2) mse {family} {scheme} {name}")
                args = ["issue", "0"] if name == "issue" else [repr(lo), repr(hi)]
                runs = [
                    _fresh(_COLD_MSE, family, scheme, *args, repr(opt))
                    for _ in range(3)
                ]
                rows.append(
                    {
                        "family": family,
                        "scheme": scheme,
                        "grid": name,
                        "cold_wall_s": _median(runs, "wall"),
                        "cold_cpu_s": _median(runs, "cpu"),
                        "warm_s": _median(runs, "warm"),
                    }
                )
    return rows


def former_coarse_route(log) -> list[dict]:
    """The 256-cell sum on the coarse steps, per step, extrapolated."""
    out = []
    for family in ("gaussian", "laplace"):
        opt = engine_calls.family_optimal_step(family, BITS, "paper")
        steps = opt * np.geomspace(8.0, 60.0, 50)
        log(f"(2) former route (cells) {family}")
        t0 = time.perf_counter()
        cells = engine_calls.family_cell_sum(family, steps, BITS, "paper")
        per = (time.perf_counter() - t0) / steps.size
        new = engine_calls.family_mse(family, steps, BITS, "paper")
        out.append(
            {
                "family": family,
                "cells_per_step_s": per,
                "cells_1e4_s": per * N_STEPS,
                "max_rel_diff": float(np.max(np.abs(new / cells - 1.0))),
            }
        )
    return out


def report(t3: dict, grids: list[dict], former: list[dict]) -> str:
    lines = ["# Speed of the law routes (issue 11, section 9)", ""]
    lines += [
        "## (1) Cold `optimal_step(from_scipy(scipy.stats.t(3)), 4)`",
        "",
        Table(
            ["measure", "value"],
            [
                ["fresh process, wall (median of 5)", fmt_time(t3["cold_wall_s"])],
                ["fresh process, CPU (median of 5)", fmt_time(t3["cold_cpu_s"])],
                ["tail beyond the last knot, fixed rule", fmt_time(t3["tail_new_s"])],
                [
                    "tail beyond the last knot, former quad",
                    fmt_time(t3["tail_quad_s"]),
                ],
                ["tail speed-up", fmt_ratio(t3["tail_speedup"])],
                ["tail: max rel. diff (3 moments)", f"{t3['tail_rel_diff']:.1e}"],
                ["target <= 100 ms", "met" if t3["met"] else "MISSED"],
            ],
        ).markdown(),
        "",
        "## (2) `mse` over 10^4 steps at 8 bits, fresh process",
        "",
    ]
    rows = [
        [
            r["family"],
            r["scheme"],
            r["grid"],
            fmt_time(r["cold_wall_s"]),
            fmt_time(r["cold_cpu_s"]),
            fmt_time(r["warm_s"]),
            "met" if r["cold_wall_s"] <= 0.05 else "MISSED",
        ]
        for r in grids
    ]
    lines += [
        Table(
            ["law", "scheme", "grid", "first call", "CPU", "later calls", "<= 50 ms"],
            rows,
        ).markdown(),
        "",
        "Former route of the coarse steps (the 256-cell sum), same process:",
        "",
        Table(
            ["law", "per step", "10^4 steps (extrapolated)", "max rel. diff"],
            [
                [
                    f["family"],
                    fmt_time(f["cells_per_step_s"]),
                    fmt_time(f["cells_1e4_s"]),
                    f"{f['max_rel_diff']:.1e}",
                ]
                for f in former
            ],
        ).markdown(),
        "",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.law_routes")
    p.add_argument("--json", type=Path, default=None)
    p.add_argument(
        "--schemes", default="paper,signed", help="schemes of (2), comma-separated"
    )
    args = p.parse_args(argv)

    def log(msg):
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    t3 = cold_t3(log)
    grids = mse_grids(log, args.schemes.split(","))
    former = former_coarse_route(log)
    print(report(t3, grids, former))
    if args.json is not None:
        payload = {"t3": t3, "grids": grids, "former": former}
        args.json.write_text(json.dumps(payload, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
