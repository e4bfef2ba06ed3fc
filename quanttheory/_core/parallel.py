"""The thread pool, tiled passes and chunked map-reduce over samples.

In-memory and memory-mapped data are cut into one contiguous part per usable
core, each walked in cache-sized tiles of :data:`TILE` samples in their own
dtype on a thread of its own; Dask arrays are reduced over their blocks. The
parts are combined in a fixed order, so results do not depend on thread
timing.
"""

from __future__ import annotations

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = [
    "CHUNK",
    "TILE",
    "is_dask",
    "iter_chunks",
    "map_reduce",
    "moment_stats",
    "pool",
    "range_stats",
    "sum_stats",
    "workers",
]

#: Elements per chunk of :func:`iter_chunks` (float64 chunks).
CHUNK = 1 << 20

#: Elements per tile of a threaded pass (fits in a core's cache).
TILE = 1 << 18

#: Below this many samples a pass runs on the calling thread only.
_PARALLEL_MIN = 1 << 20

_POOL: ThreadPoolExecutor | None = None

_POOL_LOCK = threading.Lock()


def workers() -> int:
    """Usable cores (CPU affinity where the OS reports it), at most 8."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        n = os.cpu_count() or 1
    return max(1, min(n, 8))


def _forget_pool() -> None:
    """A forked child has none of the parent's threads: start a new pool."""
    global _POOL, _POOL_LOCK
    _POOL = None
    _POOL_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def pool() -> ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(workers(), thread_name_prefix="quanttheory")
        return _POOL


def is_dask(x) -> bool:
    """True for a Dask array (without importing dask)."""
    return type(x).__module__.startswith("dask.") and hasattr(x, "chunks")


def iter_chunks(x, size: int = CHUNK):
    """Yield float64 numpy chunks of the flattened samples ``x``."""
    if is_dask(x):
        for blk in x.ravel().to_delayed().ravel():
            yield np.asarray(blk.compute(), dtype=np.float64).ravel()
        return
    flat = x.reshape(-1)
    for start in range(0, flat.size, size):
        yield np.asarray(flat[start : start + size], dtype=np.float64)


def _native(c) -> np.ndarray:
    """A 1-D float32 or float64 view (or copy) of one chunk."""
    c = np.asarray(c).reshape(-1)
    if c.dtype not in (np.float32, np.float64):
        c = c.astype(np.float64)
    return c


def map_reduce(x, func, combine, copy_to=None):
    """``combine`` of ``func(tile)`` over the data, in a fixed order.

    ``func`` gets 1-D float32 or float64 arrays (the data's own dtype).
    Dask blocks run through ``dask.compute``; in-memory and memory-mapped
    data are split into one contiguous part per worker thread (numpy
    releases the GIL in the heavy loops), each walked in tiles of
    :data:`TILE` samples. With ``copy_to`` (a 1-D float array of the same
    size, numpy input only) each tile is first copied there (cast to its
    dtype) and ``func`` sees the copy, still in cache.
    """
    if is_dask(x):
        import dask

        parts = [
            dask.delayed(lambda b: func(_native(b)))(b)
            for b in x.ravel().to_delayed().ravel()
        ]
        results = list(dask.compute(*parts))
    else:
        flat = x.reshape(-1)
        n = flat.size
        nt = workers() if n >= _PARALLEL_MIN else 1
        cuts = [n * i // nt for i in range(nt + 1)]

        def part(a: int, b: int):
            out = None
            for s in range(a, b, TILE):
                e = min(s + TILE, b)
                if copy_to is None:
                    tile = _native(flat[s:e])
                else:
                    tile = copy_to[s:e]
                    np.copyto(tile, flat[s:e], casting="unsafe")
                r = func(tile)
                out = r if out is None else combine(out, r)
            return out

        if nt == 1:
            results = [part(0, n)]
        else:
            results = list(pool().map(part, cuts[:-1], cuts[1:]))
    results = [r for r in results if r is not None]
    out = results[0]
    for r in results[1:]:
        out = combine(out, r)
    return out


def range_stats(x, copy_to=None):
    """``(n, min, max, n_nonfinite)`` of the samples, one pass (copying them
    into ``copy_to`` on the way, see :func:`map_reduce`)."""

    def one(c):
        if c.size == 0:  # an empty Dask block
            return (0, math.inf, -math.inf, 0)
        lo, hi = c.min(), c.max()  # NaN propagates; inf shows as an end
        if np.isfinite(lo) and np.isfinite(hi):
            return (int(c.size), float(lo), float(hi), 0)
        fin = np.isfinite(c)
        good = c[fin]
        bad = int(c.size - good.size)
        if good.size == 0:
            return (0, math.inf, -math.inf, bad)
        return (int(good.size), float(good.min()), float(good.max()), bad)

    def comb(p, q):
        return (p[0] + q[0], min(p[1], q[1]), max(p[2], q[2]), p[3] + q[3])

    return map_reduce(x, one, comb, copy_to)


def moment_stats(x, mean: float):
    """``(sum (x-mean), sum (x-mean)^2, sum (x-mean)^4)``, one float64 pass."""

    def one(c):
        d = c.astype(np.float64) - mean
        d2 = d * d
        return np.array([d.sum(), d2.sum(), (d2 * d2).sum()])

    return map_reduce(x, one, lambda p, q: p + q)


def sum_stats(x):
    """The float64 sum of the samples, one pass."""
    return map_reduce(x, lambda c: float(c.sum(dtype=np.float64)), lambda p, q: p + q)
