"""(d) Monte Carlo: samples per second, and bounded memory at 10^8 samples."""

from __future__ import annotations

import contextlib
import io
import time

from . import engine_calls
from ._report import Section, Table, Target, fmt_bytes, fmt_time
from ._timing import measure, peak_memory

BITS = 4


def run(cfg, log) -> Section:
    sec = Section(
        "d",
        "Monte Carlo MSE",
        intro=(
            "`qt.monte_carlo_mse(qt.Gaussian(), step, 4, scheme='signed', n=…)`: "
            "samples drawn, quantized and reduced chunk by chunk (default chunk "
            "2^20)."
        ),
    )
    step = engine_calls.gaussian_optimal_step(BITS)
    n_rate = 10**6 if cfg.quick else 10**7
    log(f"(d) monte_carlo_mse n={n_rate:.0e}")
    t = measure(lambda: engine_calls.monte_carlo(step, BITS, n_rate), cfg.budget)
    rows = [[f"{n_rate:.0e}", fmt_time(t.median), f"{n_rate / t.median:.3g}", "—", "—"]]
    rec = {"n": n_rate, "time_s": t.median, "samples_per_s": n_rate / t.median}
    sizes = [2**21, 2**23] if cfg.quick else [10**7, 10**8]
    peaks = []
    for n in sizes:
        log(f"(d) peak memory with n={n:.0e} (progress bar on)")
        err = io.StringIO()
        t0 = time.perf_counter()
        with contextlib.redirect_stderr(err):
            peak, _ = peak_memory(
                lambda n=n: engine_calls.monte_carlo(step, BITS, n, progress=True)
            )
        wall = time.perf_counter() - t0
        updates = err.getvalue().count("\r")
        peaks.append(peak)
        rows.append(
            [
                f"{n:.0e}",
                fmt_time(wall),
                f"{n / wall:.3g}",
                fmt_bytes(peak),
                str(updates),
            ]
        )
        rec[f"peak_bytes_{n}"] = peak
        rec[f"progress_updates_{n}"] = updates
    sec.tables.append(
        Table(
            [
                "samples",
                "time",
                "samples / s",
                "peak extra memory",
                "progress-bar updates",
            ],
            rows,
            "(the memory rows run under tracemalloc, which slows them slightly)",
        )
    )
    growth = peaks[1] / peaks[0]
    sec.records.append(rec)
    sec.notes.append(
        f"Peak memory grows {growth:.2f}x while n grows "
        f"{sizes[1] / sizes[0]:.0f}x: bounded by the chunk, not by n."
    )
    big = sizes[1] == 10**8
    sec.targets.append(
        Target(
            "10^8 samples in bounded memory, with a progress bar",
            "bounded",
            f"peak {fmt_bytes(peaks[1])} at n = {sizes[1]:.0e} "
            f"({growth:.2f}x the peak at {sizes[0]:.0e})",
            (growth < 1.5) if big else None,
            "" if big else "quick run: 10^8 only without --quick",
        )
    )
    return sec
