"""Repeated wall-clock timing (median) and peak numpy memory."""

from __future__ import annotations

import gc
import statistics
import time
import tracemalloc
from dataclasses import dataclass
from typing import Any


@dataclass
class Budget:
    """How long to repeat one measurement.

    Repeat until ``max_repeats`` runs, or until at least ``min_repeats``
    runs took ``min_time`` seconds in total, or as soon as ``max_time``
    seconds have been spent (at least one run always happens).
    """

    min_time: float = 1.0
    min_repeats: int = 3
    max_repeats: int = 7
    max_time: float = 20.0


@dataclass
class Timing:
    median: float
    times: list[float]
    result: Any

    @property
    def repeats(self) -> int:
        return len(self.times)


def measure(fn, budget: Budget) -> Timing:
    """Median wall time of ``fn()``; ``result`` is the first call's value."""
    times: list[float] = []
    result = None
    gc.collect()  # once: a full collection costs ~0.1 s with torch loaded
    while True:
        enabled = gc.isenabled()
        gc.disable()  # as timeit does: no collection pauses inside a run
        try:
            t0 = time.perf_counter()
            out = fn()
            times.append(time.perf_counter() - t0)
        finally:
            if enabled:
                gc.enable()
        if result is None:
            result = out
        total = sum(times)
        n = len(times)
        if n >= budget.max_repeats or total >= budget.max_time:
            break
        if n >= budget.min_repeats and total >= budget.min_time:
            break
    return Timing(statistics.median(times), times, result)


def peak_memory(fn) -> tuple[int, Any]:
    """Peak bytes newly allocated (tracemalloc: numpy buffers included)."""
    gc.collect()
    was = tracemalloc.is_tracing()
    if not was:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    out = fn()
    peak = tracemalloc.get_traced_memory()[1]
    if not was:
        tracemalloc.stop()
    return peak - base, out
