"""The binned exact optimum: in-memory, memory-mapped and Dask data.

The histogram route of :mod:`quanttheory._empirical.bound` (a pass of
per-bin sufficient statistics, branch and bound on step intervals, one pass
gathering the samples that a threshold can cross, then an exact sweep) must
reach the same minimum as the sort route (point atoms of every distinct
value) -- two exact routes that share only the final sweep.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import quanttheory as qt
import quanttheory._core.parallel as parallel
import quanttheory._empirical.bound as bd

# these tests are about the 1-D engine (tests/empirical/conftest.py)
pytestmark = pytest.mark.usefixtures("one_d_engine")


def _data(law: str, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if law == "gaussian":
        return rng.standard_normal(n)
    if law == "laplace":
        return rng.laplace(size=n)
    return rng.standard_t(3, size=n)


def _direct(x, step, bits, scheme):
    return float(np.mean((x - qt.quantize(x, step, bits, scheme)) ** 2))


@pytest.fixture
def force_streaming(monkeypatch):
    """Every size goes through the histogram route."""
    monkeypatch.setattr(bd, "SORT_MAX", 0)


def _sort_route(monkeypatch):
    monkeypatch.setattr(bd, "_HISTOGRAM", False)


def _hist_route(monkeypatch):
    monkeypatch.setattr(bd, "_HISTOGRAM", True)
    monkeypatch.setattr(bd, "SORT_MAX", 0)


@pytest.mark.parametrize("law", ["gaussian", "laplace", "t3"])
@pytest.mark.parametrize(
    ("bits", "scheme"), [(2, "signed"), (4, "paper"), (8, "midrise")]
)
def test_streaming_equals_sort_based_exact_route(law, bits, scheme, monkeypatch):
    x = _data(law, 200_000).astype(np.float32)
    _sort_route(monkeypatch)
    sorted_step = qt.optimal_step(qt.Empirical(x), bits, scheme=scheme)
    _hist_route(monkeypatch)
    stream_step = qt.optimal_step(qt.Empirical(x), bits, scheme=scheme)
    xs = x.astype(np.float64)
    a = _direct(xs, sorted_step, bits, scheme)
    b = _direct(xs, stream_step, bits, scheme)
    # both are exact global minimisers of the same piecewise quadratic; their
    # MSEs agree to the rounding of two float64 means (1e-12 relative)
    assert b == pytest.approx(a, rel=1e-12)


def test_memmap_input_is_streamed_without_copy(tmp_path, force_streaming):
    x = _data("gaussian", 300_000, seed=3).astype(np.float32)
    path = tmp_path / "w.npy"
    np.save(path, x)
    mm = np.load(path, mmap_mode="r")
    emp = qt.Empirical(mm)
    assert isinstance(emp.samples, np.memmap)  # kept, not copied
    step = qt.optimal_step(emp, 4, scheme="signed")
    ref = qt.optimal_step(qt.Empirical(x), 4, scheme="signed")
    # same data, same exact route: identical step
    assert step == ref
    # MSE by chunks equals the in-memory mean: 1e-12 (summation order only)
    assert qt.mse(emp, step, 4, scheme="signed") == pytest.approx(
        _direct(x.astype(np.float64), step, 4, "signed"), rel=1e-12
    )


def test_moments_in_chunks_match_numpy():
    x = _data("laplace", 2_500_000, seed=5).astype(np.float32)
    emp = qt.Empirical(x)
    xd = x.astype(np.float64)
    # float64 chunked sums vs numpy's pairwise sums: 1e-12 relative
    assert emp.mean == pytest.approx(xd.mean(), rel=1e-9, abs=1e-12)
    assert emp.variance == pytest.approx(xd.var(), rel=1e-12)
    c = xd - xd.mean()
    assert emp.kurtosis == pytest.approx(np.mean(c**4) / xd.var() ** 2, rel=1e-10)


def test_dask_array_map_reduce_matches_in_memory():
    da = pytest.importorskip("dask.array")
    x = _data("t3", 400_000, seed=7)
    dx = da.from_array(x, chunks=50_000)
    emp = qt.Empirical(dx)
    assert emp.n == x.size
    for bits in (2, 4):
        step = qt.optimal_step(emp, bits, scheme="signed")
        ref = qt.optimal_step(qt.Empirical(x), bits, scheme="signed")
        a = _direct(x, ref, bits, "signed")
        b = _direct(x, step, bits, "signed")
        # exact minimisers of the same function: equal MSE to rounding
        assert b == pytest.approx(a, rel=1e-12)
        assert qt.mse(emp, step, bits, scheme="signed") == pytest.approx(b, rel=1e-12)


def test_streaming_rejects_flat_mse(force_streaming):
    # positive data with the 1-bit signed grid {-D, 0}: MSE = E[X^2] for all D
    x = np.abs(_data("gaussian", 10_000)) + 1.0
    with pytest.raises(qt.InvalidArgument, match="does not depend on the step"):
        qt.optimal_step(qt.Empirical(x), 1, scheme="signed")


def test_heavy_tails_binned_bulk_equals_sort_based_route(monkeypatch):
    # a few huge outliers: bins on the float's bits keep every magnitude
    # (no range to guess); one histogram pass and one gather pass
    x = _data("t3", 300_000, seed=11)
    x[:5] = [100.0, -120.0, 150.0, -90.0, 110.0]
    x = x.astype(np.float32)
    calls = []
    orig_h, orig_g = bd.histogram_atoms, bd._gather
    monkeypatch.setattr(
        bd, "histogram_atoms", lambda *a: calls.append("h") or orig_h(*a)
    )
    monkeypatch.setattr(bd, "_gather", lambda *a: calls.append("g") or orig_g(*a))
    for bits in (2, 3, 4):
        _sort_route(monkeypatch)
        ref = qt.optimal_step(qt.Empirical(x), bits, scheme="signed")
        _hist_route(monkeypatch)
        calls.clear()
        step = qt.optimal_step(qt.Empirical(x), bits, scheme="signed")
        assert calls == ["h", "g"]  # one pass each
        xs = x.astype(np.float64)
        # two exact global minimisers: equal MSE to float64 rounding
        assert _direct(xs, step, bits, "signed") == pytest.approx(
            _direct(xs, ref, bits, "signed"), rel=1e-12
        )


@pytest.mark.parametrize("refine", [False, True])
@pytest.mark.parametrize("gather_max", [0.0, 1e300])
def test_gather_at_any_round_gives_the_same_minimum(monkeypatch, gather_max, refine):
    # the gather may come at the first round (everything swept) or only when
    # the bounds stop shrinking, after finer histograms or without them: the
    # exact minimum must not depend on it
    x = _data("laplace", 400_000, seed=2).astype(np.float32)
    _sort_route(monkeypatch)
    ref = qt.optimal_step(qt.Empirical(x), 4, scheme="midrise")
    _hist_route(monkeypatch)
    orig = bd.exact_optimum

    def forced(atoms, s, regather=None, gmax=0.0, width=0.0, fine=None):
        return orig(atoms, s, regather, gather_max, 0.0, fine if refine else None)

    monkeypatch.setattr(bd, "exact_optimum", forced)
    step = qt.optimal_step(qt.Empirical(x), 4, scheme="midrise")
    xs = x.astype(np.float64)
    assert _direct(xs, step, 4, "midrise") == pytest.approx(
        _direct(xs, ref, 4, "midrise"), rel=1e-12
    )


def test_threads_do_not_change_the_result(monkeypatch, force_streaming):
    x = _data("gaussian", 1_500_000, seed=4).astype(np.float32)
    monkeypatch.setattr(parallel, "_PARALLEL_MIN", 1)
    monkeypatch.setattr(parallel, "workers", lambda: 1)
    one = qt.optimal_step(qt.Empirical(x), 4, scheme="signed")
    monkeypatch.setattr(parallel, "workers", lambda: 3)
    three = qt.optimal_step(qt.Empirical(x), 4, scheme="signed")
    xs = x.astype(np.float64)
    # the parts' sums are combined in another order: equal MSE to rounding
    assert _direct(xs, three, 4, "signed") == pytest.approx(
        _direct(xs, one, 4, "signed"), rel=1e-12
    )


def test_moments_are_computed_on_first_use_only(force_streaming):
    x = _data("gaussian", 50_000, seed=9)
    emp = qt.Empirical(x)
    qt.optimal_step(emp, 4, scheme="signed")
    assert emp._stats is None  # the optimum needs n, min and max only
    assert emp.variance == pytest.approx(x.var(), rel=1e-12)  # float64 sums
    assert emp._stats is not None


def test_dask_local_cluster_matches_in_memory():
    # the map-reduce on a real (in-process) dask.distributed cluster: every
    # per-block statistic is shipped through the scheduler
    da = pytest.importorskip("dask.array")
    distributed = pytest.importorskip("distributed")
    x = _data("laplace", 300_000, seed=13).astype(np.float32)
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    )
    with cluster, distributed.Client(cluster):
        emp = qt.Empirical(da.from_array(x, chunks=40_000))
        step = qt.optimal_step(emp, 4, scheme="signed")
        value = qt.mse(emp, step, 4, scheme="signed")
    ref = qt.optimal_step(qt.Empirical(x), 4, scheme="signed")
    xs = x.astype(np.float64)
    # exact minimisers of the same function: equal MSE to float64 rounding
    assert _direct(xs, step, 4, "signed") == pytest.approx(
        _direct(xs, ref, 4, "signed"), rel=1e-12
    )
    assert value == pytest.approx(_direct(xs, step, 4, "signed"), rel=1e-12)


def _sorted_route_mse(x, bits, scheme, monkeypatch):
    _sort_route(monkeypatch)
    step = qt.optimal_step(qt.Empirical(x), bits, scheme=scheme)
    _hist_route(monkeypatch)
    return _direct(x.astype(np.float64), step, bits, scheme)


@pytest.mark.parametrize("scheme", ["paper", "midrise", "signed", "symmetric"])
def test_repeated_values_go_to_the_sort(scheme, monkeypatch, force_streaming):
    # constant data (MSE 0 is reachable) and already-quantized weights (the
    # MSE is a sawtooth on the scale of the value grid): the streaming route
    # must not answer from its histogram
    rng = np.random.default_rng(5)
    grid = np.clip(np.rint(rng.standard_normal(300_000) / 0.03), -127, 127) * 0.03
    for x in (np.full(300_000, -7.0), grid.astype(np.float32)):
        ref = _sorted_route_mse(x, 4, scheme, monkeypatch)
        step = qt.optimal_step(qt.Empirical(x), 4, scheme=scheme)
        got = _direct(x.astype(np.float64), step, 4, scheme)
        # the same exact route in the end: equal MSE up to rounding
        assert got == pytest.approx(ref, rel=1e-12, abs=1e-300)


def test_midrise_zero_threshold_bin_is_gathered(monkeypatch, force_streaming):
    # midrise has a fixed threshold at 0; the histogram bin holding it has
    # samples on two levels, so it must be swept exactly. Here the bulk of
    # the data sits in that bin, and the 1-bit optimum is 2 E|X| exactly.
    rng = np.random.default_rng(0)
    n, nf = 600_000, 3_000
    far = rng.choice([-1.0, 1.0], nf) * rng.uniform(900, 1000, nf)
    far[:2] = -1000.0, 1300.0
    w = 2300.0 / 65536
    x = np.concatenate([far, rng.uniform(-0.4 * w, 0.6 * w, n - nf)])
    step = qt.optimal_step(qt.Empirical(x), 1, scheme="midrise")
    # closed form: levels +-D/2, both sides used, minimiser D = 2 mean|x|
    assert step == pytest.approx(2 * np.mean(np.abs(x)), rel=1e-13)
    ref = _sorted_route_mse(x, 2, "midrise", monkeypatch)
    step2 = qt.optimal_step(qt.Empirical(x), 2, scheme="midrise")
    assert _direct(x, step2, 2, "midrise") == pytest.approx(ref, rel=1e-12)


def test_float32_near_its_largest_values(monkeypatch, force_streaming):
    x = np.random.default_rng(1).uniform(-3e38, 3e38, 200_000).astype(np.float32)
    ref = _sorted_route_mse(x, 4, "signed", monkeypatch)
    step = qt.optimal_step(qt.Empirical(x), 4, scheme="signed")  # no overflow
    assert _direct(x.astype(np.float64), step, 4, "signed") == pytest.approx(
        ref, rel=1e-12
    )


def test_dask_array_with_an_empty_block():
    da = pytest.importorskip("dask.array")
    x = _data("gaussian", 100_000, seed=2)
    emp = qt.Empirical(da.from_array(x, chunks=((50_000, 0, 50_000),)))
    assert emp.n == x.size
    assert emp.min == x.min()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_thread_pool_survives_fork():

    # in a forked child the parent's pool threads do not exist; the pool is
    # rebuilt there (a fresh interpreter, so that the test's threads are not
    # forked along)
    code = (
        "import os, numpy as np, quanttheory as qt\n"
        "x = np.random.default_rng(0).standard_normal(1 << 21)\n"
        "qt.Empirical(x)\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    qt.Empirical(x); os._exit(0)\n"
        "_, st = os.waitpid(pid, 0)\n"
        "raise SystemExit(os.waitstatus_to_exitcode(st))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], timeout=120, check=False)
    assert done.returncode == 0


def test_finer_histograms_give_the_sort_route_minimum(monkeypatch):
    # 8 bits on normal data: a flat basin that the first bins cannot resolve,
    # so the bounds go on with finer histograms (more passes) before the
    # gather; the exact minimum is that of the sort route
    x = _data("gaussian", 100_000, seed=5).astype(np.float32)
    _sort_route(monkeypatch)
    ref = qt.optimal_step(qt.Empirical(x), 8, scheme="signed")
    _hist_route(monkeypatch)
    seen = []
    orig = bd.histogram_atoms

    def spy(*args):
        out = orig(*args)
        seen.append(out[0].m)
        return out

    monkeypatch.setattr(bd, "histogram_atoms", spy)
    step = qt.optimal_step(qt.Empirical(x), 8, scheme="signed")
    assert len(seen) > 1  # refined at least once
    assert seen == sorted(seen)
    xs = x.astype(np.float64)
    # same minimum, both evaluated directly in float64: equal to rounding
    assert _direct(xs, step, 8, "signed") == pytest.approx(
        _direct(xs, ref, 8, "signed"), rel=1e-12
    )
