"""(c) Quantizer throughput: ``qt.quantize`` against torch's fake-quant and
``np.copy`` (the memory-bandwidth limit: one read and one write)."""

from __future__ import annotations

import numpy as np

from . import _data, engine_calls
from ._report import Section, Table, Target, fmt_ratio, fmt_time
from ._timing import Budget, measure

N = 10**7
BITS = 4


def run(cfg, log) -> Section:
    sec = Section(
        "c",
        f"`quantize` throughput (float32, N = {N:.0e}, {BITS} bits)",
        intro=(
            "Same array, same step (the Gaussian optimum), `signed` grid "
            "(-8 … 7): `qt.quantize`, `torch.fake_quantize_per_tensor_affine"
            "(x, scale, 0, -8, 7)` and `np.copy`. Throughput counts one read "
            "and one write of the array."
        ),
    )
    x = _data.samples("gaussian", N, seed=3)
    step = engine_calls.gaussian_optimal_step(BITS)
    budget = Budget(
        min_time=cfg.budget.min_time,
        min_repeats=5,
        max_repeats=9,
        max_time=cfg.budget.max_time,
    )
    log("(c) np.copy")
    t_copy = measure(lambda: np.copy(x), budget)
    log("(c) qt.quantize")
    t_qt = measure(lambda: engine_calls.quantize(x, step, BITS), budget)
    rows = []
    nbytes = 2 * x.nbytes
    entries = [("`np.copy`", t_copy), ("`qt.quantize`", t_qt)]
    mismatch = None
    try:
        import torch

        t = torch.from_numpy(x)
        log("(c) torch.fake_quantize_per_tensor_affine")
        t_torch = measure(
            lambda: torch.fake_quantize_per_tensor_affine(t, step, 0, -8, 7), budget
        )
        entries.append(
            (
                f"`torch.fake_quantize_per_tensor_affine` "
                f"({torch.get_num_threads()} threads)",
                t_torch,
            )
        )
        mismatch = int(np.count_nonzero(t_qt.result != t_torch.result.numpy()))
    except ImportError:
        sec.notes.append("torch is not installed: no torch row.")
    for label, tm in entries:
        rows.append(
            [
                label,
                fmt_time(tm.median),
                f"{nbytes / tm.median / 1e9:.2f} GB/s",
                fmt_ratio(tm.median / t_copy.median),
                str(tm.repeats),
            ]
        )
    sec.tables.append(
        Table(["operation", "median time", "throughput", "x np.copy", "repeats"], rows)
    )
    if mismatch is not None:
        sec.notes.append(
            f"`qt.quantize` and torch's fake-quant differ on {mismatch} of "
            f"{N:.0e} elements (torch multiplies by 1/scale in float32, quanttheory "
            "divides; ties at a half step can round differently)."
        )
    sec.notes.append("numpy runs single-threaded; torch uses its intra-op thread pool.")
    ratio = t_qt.median / t_copy.median
    sec.records.append(
        {
            "copy_s": t_copy.median,
            "qt_s": t_qt.median,
            "ratio": ratio,
            "mismatch": mismatch,
        }
    )
    sec.targets.append(
        Target("`quantize` time / `np.copy` time", "≤ 3", f"{ratio:.2f}", ratio <= 3)
    )
    return sec
