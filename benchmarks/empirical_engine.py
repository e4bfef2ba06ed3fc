"""Speed, exactness and memory of the exact empirical engine (issue 12, §1).

Run from the repository root::

    python -m benchmarks.empirical_engine            # N = 1e4 .. 1e7
    python -m benchmarks.empirical_engine --quick    # N = 1e4 .. 1e6, fewer laws
    python -m benchmarks.empirical_engine --big      # adds N = 1e8
    python -m benchmarks.empirical_engine --quick --memmap 5e7  # + a memmap

Side by side in one process, on the same float32 array: quanttheory's exact
optimum (``optimal_step(Empirical(x, copy=False))``, the route a caller of
an existing tensor takes; ``Empirical(x)`` with its copy is timed too), torch's
``HistogramObserver`` (through :func:`quanttheory.baselines.histogram_observer`)
and one pass ``np.abs(x).max()``. Targets: time <= 1.0x HistogramObserver for
N >= 1e5, <= 10x one pass for N >= 1e6; excess MSE <= 1e-12 relative to the
exact optimum, here the sort route (point atoms of every distinct value, an
exact route that shares only the final sweep; the brute force of
``tests/empirical/brute_force.py`` checks both at small N in the test suite).
Peak extra memory (tracemalloc) at the largest N, as a multiple of the
tensor's size. The compiled passes are used if numba is installed; the
report says which, and times the first (JIT/cache-load) call separately.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import quanttheory as qt
from quanttheory._core.scheme import get_scheme
from quanttheory._empirical import bound, kernels

from ._report import Table, fmt_ratio, fmt_time
from ._timing import Budget, measure, peak_memory

SCHEME = "signed"
BITS = (2, 3, 4, 8)


def _data(law: str, n: int) -> np.ndarray:
    rng = np.random.default_rng(n % 9973)
    if law == "normal":
        x = rng.standard_normal(n, dtype=np.float32)
    elif law == "laplace":
        x = rng.laplace(size=n)
    else:
        x = rng.standard_t(3, n)
    return np.asarray(x, dtype=np.float32)


def _excess(x, step, bits) -> float:
    """MSE excess of ``step`` over the sort route's optimum, exact sums."""
    s = get_scheme("bench", SCHEME, bits)
    at = bound.sorted_atoms(x)
    ref, _ = bound.exact_optimum(at, s)
    v = at.exact([step, ref], s)
    return float(v[0] / v[1] - 1.0)


def _hist_obs():
    try:
        import torch  # noqa: F401

        from quanttheory import baselines

        return baselines.histogram_observer
    except ImportError:  # pragma: no cover - torch missing
        return None


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--big", action="store_true", help="add N = 1e8")
    ap.add_argument("--no-excess", action="store_true", help="skip the sort route")
    ap.add_argument(
        "--memmap",
        type=float,
        default=0,
        help="also the peak memory on a memory-mapped .npy of this many samples",
    )
    args = ap.parse_args(argv)
    sizes = [10**4, 10**5, 10**6] if args.quick else [10**4, 10**5, 10**6, 10**7]
    if args.big:
        sizes.append(10**8)
    laws = ["normal", "t3"] if args.quick else ["normal", "laplace", "t3"]
    budget = Budget(min_time=0.3, min_repeats=3, max_repeats=7, max_time=5.0)
    hobs = _hist_obs()
    x0 = _data("normal", 10**5)
    t0 = time.perf_counter()
    qt.optimal_step(qt.Empirical(x0), 4, scheme=SCHEME)
    first = time.perf_counter() - t0
    print(
        f"numba: {'on' if kernels.USE_NUMBA else 'off'}; first call "
        f"(JIT or cache load, N=1e5, 4 bits): {fmt_time(first)}\n"
    )
    tab = Table(
        [
            "law",
            "N",
            "bits",
            "qt",
            "qt+copy",
            "HistObs",
            "1 pass",
            "qt/HistObs",
            "qt/pass",
            "excess",
        ],
        [],
    )
    for n in sizes:
        for law in laws:
            x = _data(law, n)
            one = measure(lambda x=x: float(np.abs(x).max()), budget).median
            for bits in BITS:
                qf = measure(
                    lambda x=x, b=bits: qt.optimal_step(
                        qt.Empirical(x, copy=False), b, scheme=SCHEME
                    ),
                    budget,
                )
                qc = measure(
                    lambda x=x, b=bits: qt.optimal_step(
                        qt.Empirical(x), b, scheme=SCHEME
                    ),
                    budget,
                ).median
                th = (
                    measure(lambda x=x, b=bits: hobs(x, b, SCHEME), budget).median
                    if hobs
                    else float("nan")
                )
                ex = float("nan")
                if not args.no_excess and n <= 10**7:
                    ex = _excess(x, qf.result, bits)
                tab.rows.append(
                    [
                        law,
                        f"{n:.0e}",
                        str(bits),
                        fmt_time(qf.median),
                        fmt_time(qc),
                        fmt_time(th),
                        fmt_time(one),
                        fmt_ratio(qf.median / th),
                        fmt_ratio(qf.median / one),
                        f"{ex:.1e}",
                    ]
                )
                print(" | ".join(tab.rows[-1]), flush=True)
    print()
    print(tab.markdown())
    n = sizes[-1]
    x = _data("normal", n)
    peak, _ = peak_memory(
        lambda: qt.optimal_step(qt.Empirical(x, copy=False), 8, scheme=SCHEME)
    )
    print(
        f"\npeak extra memory, N={n:.0e} float32, 8 bits: {peak / 2**20:.1f} MiB "
        f"= {peak / x.nbytes:.3f} x the tensor ({x.nbytes / 2**20:.0f} MiB)"
    )
    if args.memmap:
        _memmap_peak(int(args.memmap))


def _memmap_peak(n: int) -> None:
    """Peak memory of the exact optimum on a memory-mapped float32 .npy."""
    import os
    import tempfile

    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "x.npy")
        mm = np.lib.format.open_memmap(path, "w+", np.float32, (n,))
        for i in range(0, n, 1 << 24):
            e = min(n, i + (1 << 24))
            mm[i:e] = rng.standard_normal(e - i, dtype=np.float32)
        mm.flush()
        del mm
        x = np.load(path, mmap_mode="r")
        for bits in (4, 8):
            t0 = time.perf_counter()
            peak, _ = peak_memory(
                lambda b=bits, x=x: qt.optimal_step(
                    qt.Empirical(x, copy=False), b, scheme=SCHEME
                )
            )
            dt = time.perf_counter() - t0
            print(
                f"memmap N={n:.0e} float32, {bits} bits: {fmt_time(dt)}, peak "
                f"{peak / 2**20:.1f} MiB = {peak / x.nbytes:.3f} x the file"
            )


if __name__ == "__main__":
    main()
