"""Exact per-row and per-group steps of a weight matrix (issue 12, section 2).

Run from the repository root::

    python -m benchmarks.per_group            # 4096 x 4096, prints Markdown
    python -m benchmarks.per_group --quick    # 512 x 4096
    python -m benchmarks.per_group --json r.json

A float32 matrix ``t(5) * 0.02`` (seed 0) at 4 bits, int4 levels
(``scheme='signed'``, -8 .. 7, as torchao's symmetric int4). Per row
(``Empirical(w, axis=0)``) and per group of 128 (``Empirical(w,
group_size=128)``), side by side in one process:

* quanttheory's exact optimum, ``optimal_step`` on the batched
  ``Empirical`` (construction included);
* torchao 0.18's ``AffineQuantizedMSEObserver`` with ``PerAxis(0)`` /
  ``PerGroup(128)`` (a 100-point fake-quant line search), an optional peer:
  skipped when torchao cannot be imported;
* a vectorised numpy 100-point grid of clipping ratios ``0.01 .. 1`` of the
  symmetric max step (the same search, written here): each candidate
  quantizes the whole matrix at once.

Times are medians of up to three runs in one process (torchao's run once
when it takes over 15 s). Targets: exact steps in <= 0.1x torchao's time
and <= 0.5x the numpy grid's. The report also gives the excess MSE of
torchao's and the grid's steps over the exact ones (median and max over
the rows/groups, relative).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import warnings
from pathlib import Path

import numpy as np

from ._report import Table, fmt_ratio, fmt_time
from ._timing import Budget, measure

#: Up to three runs each, fewer once 15 s are spent (torchao runs once).
BUDGET = Budget(min_time=0.0, min_repeats=1, max_repeats=3, max_time=15.0)

BITS = 4
SCHEME = "signed"
QMIN, QMAX = -(1 << (BITS - 1)), (1 << (BITS - 1)) - 1
GRID = 100
GROUP = 128


def matrix(rows: int, cols: int = 4096) -> np.ndarray:
    """The benchmark's float32 weight matrix, t(5) * 0.02 (seed 0)."""
    rng = np.random.default_rng(0)
    return (rng.standard_t(5, size=(rows, cols)) * 0.02).astype(np.float32)


def exact_steps(w: np.ndarray, group: int | None) -> np.ndarray:
    import quanttheory as qt

    e = qt.Empirical(w, axis=0) if group is None else qt.Empirical(w, group_size=group)
    return np.asarray(qt.optimal_step(e, BITS, scheme=SCHEME)).reshape(-1)


def grid_steps(w: np.ndarray, group: int | None) -> np.ndarray:
    """A vectorised numpy 100-point grid: ratios 0.01 .. 1 of max|x| / 7.5."""
    rows = w.reshape(-1, group) if group else w
    top = np.abs(rows).max(axis=1, keepdims=True) / ((QMAX - QMIN) / 2)
    best = np.full(rows.shape[0], np.inf, dtype=np.float32)
    step = np.empty(rows.shape[0], dtype=np.float32)
    q = np.empty_like(rows)
    for r in np.linspace(0.01, 1.0, GRID, dtype=np.float32):  # grid points
        d = (top * r).astype(np.float32)
        np.divide(rows, d, out=q)
        np.rint(q, out=q)
        np.clip(q, QMIN, QMAX, out=q)
        q *= d
        q -= rows
        np.square(q, out=q)
        m = q.mean(axis=1)
        better = m < best
        best = np.where(better, m, best)
        step = np.where(better, d[:, 0], step)
    return step.astype(np.float64)


@contextlib.contextmanager
def _quiet():
    """Silence exactly torchao's messages about its missing CUDA libraries."""
    buf = io.StringIO()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*_C_cutlass.*")
        warnings.filterwarnings("ignore", message=".*Could not load this library.*")
        warnings.filterwarnings("ignore", message=".*KernelPreference.*")
        with contextlib.redirect_stderr(buf):
            yield
    for line in buf.getvalue().splitlines():
        if not any(
            k in line
            for k in ("_C_cutlass", "Could not load this library", "KernelPreference")
        ):
            print(line, file=os.sys.stderr)


def torchao_peer():
    """``steps(w, group)`` from torchao's MSE observer, or None if missing."""
    logging.getLogger("torchao").setLevel(logging.ERROR)
    try:
        with _quiet():
            import torch
            from torchao.quantization.granularity import PerAxis, PerGroup
            from torchao.quantization.observer import AffineQuantizedMSEObserver
            from torchao.quantization.quant_primitives import MappingType
    except Exception:  # not installed, or not loadable on this build
        return None

    def steps(w: np.ndarray, group: int | None) -> np.ndarray:
        gran = PerAxis(0) if group is None else PerGroup(group)
        obs = AffineQuantizedMSEObserver(
            MappingType.SYMMETRIC,
            torch.int8,
            granularity=gran,
            quant_min=QMIN,
            quant_max=QMAX,
            eps=float(np.finfo(np.float32).eps),
            steps=GRID,
        )
        with torch.no_grad():
            obs(torch.from_numpy(w))
            scale, _zp = obs.calculate_qparams()
        return scale.double().numpy().reshape(-1)

    return steps


def excess(w: np.ndarray, group: int | None, steps, exact) -> tuple[float, float]:
    """Median and max relative excess MSE of ``steps`` over the exact ones."""
    import quanttheory as qt

    e = qt.Empirical(w, axis=0) if group is None else qt.Empirical(w, group_size=group)
    shape = e.batch_shape
    m = qt.mse(e, np.asarray(steps).reshape(shape), BITS, scheme=SCHEME).reshape(-1)
    m0 = qt.mse(e, np.asarray(exact).reshape(shape), BITS, scheme=SCHEME).reshape(-1)
    rel = (m - m0) / m0
    return float(np.median(rel)), float(rel.max())


def timed(fn, *args):
    """Median wall time of ``fn(*args)`` (:data:`BUDGET`) and its result."""
    m = measure(lambda: fn(*args), BUDGET)
    return m.median, m.result


def run(rows: int) -> tuple[Table, list[dict]]:
    w = matrix(rows)
    peer = torchao_peer()
    out_rows, records = [], []
    for label, group in (("per row", None), (f"per group of {GROUP}", GROUP)):
        t_exact, d_exact = timed(exact_steps, w, group)
        t_grid, d_grid = timed(grid_steps, w, group)
        g_med, g_max = excess(w, group, d_grid, d_exact)
        rec = {
            "granularity": label,
            "shape": list(w.shape),
            "exact_s": t_exact,
            "grid_s": t_grid,
            "ratio_grid": t_exact / t_grid,
            "grid_excess_median": g_med,
            "grid_excess_max": g_max,
        }
        if peer is not None:
            with _quiet():
                t_ao, d_ao = timed(peer, w, group)
            a_med, a_max = excess(w, group, d_ao, d_exact)
            rec.update(
                torchao_s=t_ao,
                ratio_torchao=t_exact / t_ao,
                torchao_excess_median=a_med,
                torchao_excess_max=a_max,
            )
        records.append(rec)
        ao = (
            [fmt_time(rec["torchao_s"]), fmt_ratio(rec["ratio_torchao"])]
            if peer is not None
            else ["skipped (no torchao)", "-"]
        )
        out_rows.append(
            [
                label,
                fmt_time(t_exact),
                *ao,
                fmt_time(t_grid),
                fmt_ratio(rec["ratio_grid"]),
            ]
            + (
                [
                    f"{rec['torchao_excess_median']:.2e} / "
                    f"{rec['torchao_excess_max']:.2e}"
                ]
                if peer is not None
                else ["-"]
            )
            + [f"{g_med:.2e} / {g_max:.2e}"]
        )
    table = Table(
        [
            "granularity",
            "exact",
            "torchao MSE observer",
            "exact / torchao (<= 0.1)",
            "numpy grid",
            "exact / grid (<= 0.5)",
            "torchao excess (median / max)",
            "grid excess (median / max)",
        ],
        out_rows,
        caption=f"{w.shape[0]} x {w.shape[1]} float32 t(5)*0.02, {BITS} bits, "
        f"scheme {SCHEME!r} (int4 -8..7)",
    )
    return table, records


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--quick", action="store_true", help="512 x 4096 instead of 4096 x 4096"
    )
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    table, records = run(512 if args.quick else 4096)
    print(table.markdown())
    if args.json:
        args.json.write_text(json.dumps(records, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
