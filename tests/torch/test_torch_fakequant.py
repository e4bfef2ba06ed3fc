"""Fake quantization in torch: bit-exact with the numpy quantizer, agreement
with ``torch.fake_quantize_per_*_affine``, and ``quantized`` restoring the
weights bit for bit.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import quanttheory as qt
from quanttheory.torch import (
    fake_quantize,
    optimal_step,
    quantized,
    round_power_of_two,
)

requires_cuda = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device"
)


SCHEMES = ("signed", "symmetric", "paper", "midrise")


def torch_range(scheme: str, bits: int) -> tuple[int, int]:
    """``quant_min, quant_max`` of torch's affine fake quantization (zp = 0)."""
    half = 2 ** (bits - 1)
    return {
        "signed": (-half, half - 1),
        "symmetric": (-(half - 1), half - 1),
        "paper": (-half, half),
    }[scheme]


def sample(n=20_000, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, generator=g, dtype=torch.float64)
    return torch.cat([x, x * 0.01, x * 100.0]).to(dtype)


# -- bit-exact against quanttheory.quantize -----------------------------------
@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("bits", [2, 3, 4, 8])
@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64])
def test_equals_numpy_quantizer_bit_exactly(scheme, bits, dtype):
    x = sample(dtype=dtype)
    step = qt.optimal_step(qt.Gaussian(1.0), bits, scheme=scheme)
    got = fake_quantize(x, step, bits, scheme)
    want = qt.quantize(x.numpy(), step, bits, scheme)
    assert got.dtype == dtype
    assert want.dtype == x.numpy().dtype
    # bit-exact: the same IEEE operations in the same order and dtype
    assert torch.equal(got, torch.from_numpy(want))


def test_values_on_half_way_points_round_to_even():
    step = 0.5
    x = torch.tensor([-0.75, -0.25, 0.25, 0.75, 1.25])
    got = fake_quantize(x, step, 4, "signed")
    assert got.tolist() == [-1.0, -0.0, 0.0, 1.0, 1.0]
    assert torch.equal(got, torch.from_numpy(qt.quantize(x.numpy(), step, 4, "signed")))


@pytest.mark.parametrize("scheme", SCHEMES)
def test_per_channel_steps_broadcast_bit_exactly(scheme):
    g = torch.Generator().manual_seed(1)
    w = torch.randn(6, 3, 3, 3, generator=g) * torch.logspace(-2, 1, 6).reshape(
        6, 1, 1, 1
    )
    steps = optimal_step(w, 4, scheme=scheme, per_channel=True)
    assert steps.shape == (6,)
    got = fake_quantize(w, steps.reshape(6, 1, 1, 1), 4, scheme)
    want = qt.quantize(w.numpy(), steps.numpy().reshape(6, 1, 1, 1), 4, scheme)
    assert torch.equal(got, torch.from_numpy(want))


# -- torch.fake_quantize_per_tensor_affine on the shared schemes ------------------
@pytest.mark.parametrize("scheme", ["signed", "symmetric", "paper"])
@pytest.mark.parametrize("bits", [2, 4, 8])
def test_equals_torch_fake_quantize_with_power_of_two_scale(scheme, bits):
    # a power-of-two scale makes torch's x * (1/scale) equal to x / scale, so
    # the two kernels must agree bit for bit on every input, ties included
    x = sample()
    x = torch.cat([x, (torch.arange(-300, 300) + 0.5) * 0.125])
    qmin, qmax = torch_range(scheme, bits)
    got = fake_quantize(x, 0.125, bits, scheme)
    ref = torch.fake_quantize_per_tensor_affine(x, 0.125, 0, qmin, qmax)
    assert torch.equal(got, ref)


@pytest.mark.parametrize("scheme", ["signed", "symmetric", "paper"])
def test_torch_fake_quantize_agreement_rate_at_optimal_steps(scheme):
    # Optimal steps are not powers of two: torch multiplies by fl(1/scale),
    # which differs from dividing by one ulp for some x, and changes the level
    # only within about one ulp of a decision threshold. Measured over 1e6
    # Gaussian inputs and bits 2..8 x 3 schemes: 2 differing elements in
    # 2.1e7. Allow 1e-5 (10x the measured worst per call) and check that each
    # difference is one step at an input within 1e-6 relative of a threshold.
    x = sample(n=200_000)
    for bits in range(2, 9):
        step = float(np.float32(qt.optimal_step(qt.Gaussian(1.0), bits, scheme=scheme)))
        qmin, qmax = torch_range(scheme, bits)
        got = fake_quantize(x, step, bits, scheme)
        ref = torch.fake_quantize_per_tensor_affine(x, step, 0, qmin, qmax)
        diff = got != ref
        assert diff.float().mean() <= 1e-5
        if diff.any():
            u = x[diff].double() / step
            assert torch.all(torch.abs(u - torch.round(u - 0.5) - 0.5) < 1e-6 * u.abs())
            assert torch.allclose((got - ref)[diff].abs(), torch.tensor(step))


def test_torch_fake_quantize_on_exact_ties_differs_often():
    # Documented discrepancy: inputs on the half-way points (k + 1/2) * step
    # round on either side depending on the last ulp of x/step versus
    # x * fl(1/step). This only pins down that ours equals the numpy quantizer
    # there; the measured rate of disagreement with torch is 0-37 %.
    step = float(np.float32(qt.optimal_step(qt.Gaussian(1.0), 6)))
    k = torch.arange(-32, 31, dtype=torch.float32)
    x = (k + 0.5) * step
    got = fake_quantize(x, step, 6, "signed")
    assert torch.equal(got, torch.from_numpy(qt.quantize(x.numpy(), step, 6, "signed")))
    ref = torch.fake_quantize_per_tensor_affine(x, step, 0, -32, 31)
    diff = got != ref
    # each disagreement is one step (levels k*step and (k+1)*step, each rounded
    # to float32, so compare the difference to 1e-5 relative)
    gap = (got - ref)[diff].abs()
    assert torch.allclose(gap, torch.full_like(gap, step), rtol=1e-5, atol=0)
    assert 0 < diff.float().mean() < 0.5


def test_equals_torch_per_channel_fake_quantize():
    g = torch.Generator().manual_seed(2)
    w = torch.randn(4, 50, generator=g)
    scale = torch.tensor([0.125, 0.25, 0.0625, 0.5])  # powers of two: exact
    ref = torch.fake_quantize_per_channel_affine(
        w, scale, torch.zeros(4, dtype=torch.int32), 0, -8, 7
    )
    # torch's (scale, ch_axis) is (step, axis); a broadcasting step is the same
    assert torch.equal(fake_quantize(w, scale, 4, "signed", axis=0), ref)
    assert torch.equal(fake_quantize(w, scale.reshape(4, 1), 4, "signed"), ref)
    ref1 = torch.fake_quantize_per_channel_affine(
        w.T.contiguous(), scale, torch.zeros(4, dtype=torch.int32), 1, -8, 7
    )
    assert torch.equal(fake_quantize(w.T, scale, 4, "signed", axis=1), ref1)
    assert torch.equal(fake_quantize(w.T, scale, 4, "signed", axis=-1), ref1)


def test_straight_through_gradient_equals_torch():
    x = sample(n=1000).requires_grad_()
    x2 = x.detach().clone().requires_grad_()
    out = fake_quantize(x, 0.25, 3, "signed")
    # with autograd on, the value is still bit-exact (-0.0 included)
    want = torch.from_numpy(qt.quantize(x.detach().numpy(), 0.25, 3, "signed"))
    assert torch.equal(out.detach().view(torch.int32), want.view(torch.int32))
    assert (torch.signbit(want) & (want == 0)).any()  # the case is exercised
    out.sum().backward()
    torch.fake_quantize_per_tensor_affine(x2, 0.25, 0, -4, 3).sum().backward()
    assert torch.equal(x.grad, x2.grad)
    assert 0 < x.grad.sum() < x.numel()  # some inputs are clipped


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((torch.arange(3), 0.1, 4), "floating torch.Tensor"),
        ((torch.ones(3), -0.1, 4), "step=-0.1 must be a positive"),
        ((torch.ones(3), torch.tensor([0.1, 0.0, 0.1]), 4), "first bad value 0.0"),
        ((torch.ones(3), torch.tensor([True]), 4), "dtype torch.bool"),
        ((torch.ones(3), 0.1, 0), "bits=0"),
        ((torch.ones(3), 0.1, 4, "affine"), "scheme='affine'"),
        (
            (torch.ones(3).to(torch.float8_e4m3fn), 0.5, 4),
            "float8_e4m3fn, which torch cannot divide",
        ),
    ],
)
def test_fake_quantize_errors(args, match):
    with pytest.raises(qt.InvalidArgument, match="fake_quantize: .*" + match):
        fake_quantize(*args)


# -- NaN and unrepresentable steps: refused, as by quanttheory.quantize ----------------
@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64])
def test_nan_is_refused_as_by_the_core_quantizer(dtype):
    # issue 11: fake_quantize passed NaN through silently while quantize
    # raised; both raise now (NaN has no nearest level)
    x = torch.tensor([0.5, float("nan"), -0.25], dtype=dtype)
    with pytest.raises(qt.InvalidArgument, match="quantize: x contains NaN"):
        qt.quantize(x.numpy(), 0.25, 4)
    with pytest.raises(
        qt.InvalidArgument, match=r"fake_quantize: x contains NaN \(1 of 3 values\)"
    ):
        fake_quantize(x, 0.25, 4)
    with pytest.raises(qt.InvalidArgument, match="x contains NaN"):
        fake_quantize(x.requires_grad_(), torch.tensor(0.25), 4, "signed")


def test_infinite_inputs_go_to_the_outermost_level_as_in_the_core():
    x = torch.tensor([-math.inf, 0.3, math.inf])
    got = fake_quantize(x, 0.25, 3, "signed")
    assert got.tolist() == [-1.0, 0.25, 0.75]  # levels -4..3 times 0.25
    assert torch.equal(got, torch.from_numpy(qt.quantize(x.numpy(), 0.25, 3, "signed")))


@pytest.mark.parametrize(
    ("dtype", "step", "bits"),
    [
        (torch.float16, 1e-8, 4),  # rounds to 0 in float16
        (torch.float16, 1e4, 8),  # the outer level 128e4 overflows float16
        (torch.float32, 1e-40, 4),  # subnormal in float32
    ],
)
def test_unrepresentable_step_is_refused_as_by_the_core(dtype, step, bits):
    x = torch.ones(3, dtype=dtype)
    with pytest.raises(qt.InvalidArgument, match="not representable"):
        qt.quantize(x.numpy(), step, bits)
    with pytest.raises(qt.InvalidArgument, match=r"fake_quantize: .*not representable"):
        fake_quantize(x, step, bits)
    with pytest.raises(qt.InvalidArgument, match="not representable"):
        fake_quantize(x, torch.tensor([step, 0.5, 0.5], dtype=torch.float64), bits)


# -- per-channel steps and axis ----------------------------------------------------
def _conv_weight():
    g = torch.Generator().manual_seed(3)
    scale = torch.logspace(-2, 1, 6).reshape(6, 1, 1, 1)
    return torch.randn(6, 4, 3, 3, generator=g) * scale


@pytest.mark.parametrize("scheme", SCHEMES)
def test_per_channel_steps_fit_fake_quantize_with_axis(scheme):
    # issue 11: optimal_step(w, 4, per_channel=True) has shape (C,) and
    # fake_quantize(w, s, 4) failed with a raw broadcast error
    w = _conv_weight()
    s = optimal_step(w, 4, scheme=scheme, per_channel=True)
    assert s.shape == (6,)
    got = fake_quantize(w, s, 4, scheme, axis=0)
    # expected: the numpy quantizer with the step reshaped by hand
    want = qt.quantize(w.numpy(), s.numpy().reshape(6, 1, 1, 1), 4, scheme)
    assert torch.equal(got, torch.from_numpy(want))
    assert torch.equal(fake_quantize(w, s, 4, scheme, axis=-4), got)


def test_axis_on_another_dimension():
    w = _conv_weight()
    s = optimal_step(w, 3, per_channel=True, axis=1)
    assert s.shape == (4,)
    want = qt.quantize(w.numpy(), s.numpy().reshape(1, 4, 1, 1), 3)
    assert torch.equal(fake_quantize(w, s, 3, axis=1), torch.from_numpy(want))


def test_issue_example_now_says_which_axis():
    w = _conv_weight()
    s = optimal_step(w, 4, per_channel=True)
    with pytest.raises(qt.InvalidArgument, match=r"shape \(6,\).*pass axis="):
        fake_quantize(w, s, 4)
    # a square matrix: a (C,) step would broadcast silently along the columns
    sq = torch.randn(5, 5)
    with pytest.raises(qt.InvalidArgument, match="axis=None"):
        fake_quantize(sq, optimal_step(sq, 4, per_channel=True), 4)


@pytest.mark.parametrize(
    ("step", "kwargs", "match"),
    [
        (torch.full((5,), 0.1), {"axis": 0}, r"x.shape\[0\] = 6 values.*\(5,\)"),
        (torch.full((6, 1), 0.1), {"axis": 0}, r"got shape \(6, 1\)"),
        (0.1, {"axis": 0}, r"got shape \(\)"),
        (torch.full((6,), 0.1), {"axis": 4}, "axis=4 is out of range"),
        (torch.full((6,), 0.1), {"axis": True}, "axis=True must be an integer"),
        (torch.full((2, 1, 1, 1), 0.1), {}, r"shape \(2, 1, 1, 1\) does not broadcast"),
        (torch.full((1, 6, 1, 1, 1), 0.1), {}, "does not broadcast"),
        (np.full(3, 0.1), {}, r"shape \(3,\), one value per channel"),
    ],
)
def test_step_shape_errors(step, kwargs, match):
    with pytest.raises(qt.InvalidArgument, match="fake_quantize: .*" + match):
        fake_quantize(_conv_weight(), step, 4, **kwargs)


def test_broadcasting_steps_still_work():
    w = _conv_weight()
    one = torch.tensor([0.125])  # one value: no ambiguity
    assert torch.equal(fake_quantize(w, one, 4), fake_quantize(w, 0.125, 4))
    cols = torch.full((3,), 0.125)  # a 1-D x takes elementwise steps
    x = torch.tensor([0.3, -0.3, 2.0])
    assert fake_quantize(x, cols, 2).tolist() == [0.25, -0.25, 0.25]


# -- what users hold: Parameters that require grad, bfloat16 -------------------------
def test_bfloat16_parameter_that_requires_grad():
    p = nn.Parameter(_conv_weight().to(torch.bfloat16))
    assert p.requires_grad
    # a power-of-two step and levels k/8, |k| <= 8: exact in bfloat16, so the
    # expected value is the float32 numpy quantizer rounded to bfloat16
    q = fake_quantize(p, 0.125, 4)
    assert q.dtype == torch.bfloat16
    want = qt.quantize(p.detach().float().numpy(), 0.125, 4)
    assert torch.equal(q, torch.from_numpy(want).to(torch.bfloat16))
    q.float().sum().backward()
    assert p.grad is not None
    assert p.grad.dtype == torch.bfloat16
    emp = qt.Empirical(p.detach().float().numpy())  # bf16 -> f32 is exact
    assert optimal_step(p, 4) == qt.optimal_step(emp, 4)
    s = optimal_step(p, 4, per_channel=True)
    assert fake_quantize(p, s, 4, axis=0).shape == p.shape


def test_quantized_with_nan_names_the_weight_and_restores(mlp):
    with torch.no_grad():
        mlp[4].weight[0, 0] = math.nan
    snap = {k: bits_of(v) for k, v in mlp.state_dict().items()}
    steps = {"0.weight": 0.1, "2.weight": 0.1, "4.weight": 0.1}
    with (
        pytest.raises(qt.InvalidArgument, match=r"quantized: weight '4\.weight'.*NaN"),
        quantized(mlp, 4, steps=steps),
    ):
        pass  # pragma: no cover
    # the first two weights were quantized before the third raised: all three
    # are back, bit for bit (NaN included, hence bits, not torch.equal)
    for k, v in mlp.state_dict().items():
        assert torch.equal(bits_of(v), snap[k]), k
    with pytest.raises(qt.InvalidArgument, match=r"weight '4\.weight'"):
        quantized(mlp, 4).__enter__()  # through optimal_step: the engine refuses


# -- optimal_step of a tensor ---------------------------------------------------------
def test_optimal_step_is_the_engine_on_the_tensor():
    w = sample(n=5000)
    emp = qt.Empirical(w.double().numpy())
    for scheme in SCHEMES:
        assert optimal_step(w, 3, scheme=scheme) == qt.optimal_step(
            emp, 3, scheme=scheme
        )


def test_per_channel_all_zero_channel_gets_the_tensor_step():
    w = torch.randn(3, 40)
    w[1] = 0
    steps = optimal_step(w, 4, per_channel=True)
    assert steps[1] == optimal_step(w, 4)
    assert steps[0] == optimal_step(w[0], 4)
    with pytest.raises(qt.InvalidArgument, match="all zero"):
        optimal_step(torch.zeros(3, 4), 4)


def test_round_power_of_two():
    assert round_power_of_two(0.3) == 0.25
    assert round_power_of_two(0.75) == 1.0  # log2(0.75) = -0.415 -> 2^0
    assert round_power_of_two(0.7) == 0.5  # log2(0.7) = -0.515 -> 2^-1
    t = round_power_of_two(torch.tensor([0.3, 3.0]), "floor")
    assert t.tolist() == [0.25, 2.0]


# -- quantized(): temporary quantization with bit-exact restore -----------------------
def snapshot(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def bits_of(t):
    return t.detach().reshape(-1).contiguous().view(torch.uint8)


def assert_bit_exact(model, snap):
    for k, v in model.state_dict().items():
        assert torch.equal(v, snap[k]), k
        # torch.equal treats -0.0 == 0.0; compare the bits too
        assert torch.equal(bits_of(v), bits_of(snap[k])), k


# scheme None: every call at its default, so the bridge's default must be
# the core's ('paper'); 'signed': the int-M simulation, passed explicitly
@pytest.mark.parametrize("scheme", [None, "signed"])
def test_weights_inside_are_the_quantized_weights(cnn, scheme):
    kw = {} if scheme is None else {"scheme": scheme}
    snap = snapshot(cnn)
    with quantized(cnn, 4, **kw) as used:
        for name in ("conv1.weight", "fc2.weight"):
            w0 = snap[name]
            d = used[name]
            assert d == optimal_step(w0, 4, **kw)
            assert d == qt.optimal_step(qt.Empirical(w0.numpy()), 4, **kw)
            assert torch.equal(
                cnn.state_dict()[name],
                torch.from_numpy(qt.quantize(w0.numpy(), d, 4, **kw)),
            )
        assert torch.equal(cnn.state_dict()["fc2.bias"], snap["fc2.bias"])
    assert_bit_exact(cnn, snap)


def test_restored_after_an_exception(cnn):
    snap = snapshot(cnn)
    inside = []

    def body():
        with quantized(cnn, 2, power_of_two=True):
            inside.append(torch.equal(cnn.conv2.weight, snap["conv2.weight"]))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        body()
    assert inside == [False]
    assert_bit_exact(cnn, snap)


def test_restored_after_changes_inside_the_block(cnn):
    snap = snapshot(cnn)
    opt = torch.optim.SGD(cnn.parameters(), lr=0.1)
    with quantized(cnn, 3):
        cnn(torch.randn(2, 1, 8, 8)).sum().backward()
        opt.step()
    # quantized weights are restored; the bias (not quantized) keeps the step
    for name in ("conv1.weight", "conv2.weight", "fc1.weight"):
        assert torch.equal(cnn.state_dict()[name], snap[name])
    assert not torch.equal(cnn.state_dict()["fc1.bias"], snap["fc1.bias"])


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_restore_in_low_and_high_precision(dtype, mlp):
    mlp = mlp.to(dtype)
    snap = snapshot(mlp)
    with quantized(mlp, 2, per_channel=True, step_scale=0.7):
        pass
    assert_bit_exact(mlp, snap)


def test_step_scale_dict_power_of_two_and_steps(cnn):
    base = optimal_step(cnn.fc1.weight, 4)
    base_conv1 = optimal_step(cnn.conv1.weight, 4)
    w0 = cnn.fc1.weight.detach().clone()
    with quantized(cnn, 4, step_scale={"fc1.weight": 1.3}) as used:
        assert used["fc1.weight"] == base * 1.3
        assert used["conv1.weight"] == base_conv1  # missing names: scale 1
    with quantized(cnn, 4, power_of_two=True, select=["fc1"]) as used:
        assert list(used) == ["fc1.weight"]
        assert used["fc1.weight"] == 2.0 ** round(np.log2(base))
    with quantized(cnn, 4, steps={"fc1.weight": 0.01}, select=["fc1"]) as used:
        assert used["fc1.weight"] == 0.01
        assert torch.equal(cnn.fc1.weight.detach(), fake_quantize(w0, 0.01, 4))
    with quantized(cnn, 4, steps={"fc1.weight": 0.01}, step_scale=2.0) as used:
        assert used["fc1.weight"] == 0.02  # steps are scaled too


@pytest.mark.parametrize("scheme", [None, "signed"])
def test_per_channel_steps_are_used(cnn, scheme):
    kw = {} if scheme is None else {"scheme": scheme}
    snap = snapshot(cnn)
    with quantized(cnn, 4, per_channel=True, select=["conv2"], **kw) as used:
        d = used["conv2.weight"]
        assert d.shape == (8,)
        want = qt.quantize(
            snap["conv2.weight"].numpy(), d.numpy().reshape(8, 1, 1, 1), 4, **kw
        )
        assert torch.equal(cnn.conv2.weight.detach(), torch.from_numpy(want))
    assert_bit_exact(cnn, snap)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"step_scale": {"fc9.weight": 1.0}}, "names 'fc9.weight'"),
        ({"steps": {"nope": 1.0}}, "names 'nope'"),
        ({"step_scale": -1.0}, "step_scale=-1.0"),
        ({"step_scale": "1"}, "step_scale='1'"),
        ({"power_of_two": "round"}, "power_of_two='round'"),
        ({"select": "paper", "exclude": nn.Conv2d}, "selects no weight"),
    ],
)
def test_quantized_errors_leave_the_model_untouched(cnn, kwargs, match):
    snap = snapshot(cnn)
    with pytest.raises(qt.InvalidArgument, match=match), quantized(cnn, 4, **kwargs):
        pass  # pragma: no cover
    assert_bit_exact(cnn, snap)


def test_all_zero_weight_is_a_clear_error(mlp):
    with torch.no_grad():
        mlp[2].weight.zero_()
    with pytest.raises(qt.InvalidArgument, match=r"'2\.weight'.*all zero"):
        quantized(mlp, 4).__enter__()


@requires_cuda
def test_cuda_quantized_and_restore(cnn):
    cnn = cnn.cuda()
    snap = snapshot(cnn)
    with quantized(cnn, 4, per_channel=True, scheme="signed") as used:
        w = cnn.conv2.weight.detach().cpu()
        d = used["conv2.weight"].numpy().reshape(-1, 1, 1, 1)
        want = qt.quantize(snap["conv2.weight"].cpu().numpy(), d, 4, "signed")
        assert torch.equal(w, torch.from_numpy(want))
    assert_bit_exact(cnn, snap)


def test_quantized_on_a_wrapped_model_uses_bare_names(cnn):
    class Wrapper(nn.Module):
        def __init__(self, module):
            super().__init__()
            self.module = module

    snap = snapshot(cnn)
    with quantized(Wrapper(cnn), 4, select=["conv2"]) as used:
        assert list(used) == ["conv2.weight"]
        assert not torch.equal(cnn.conv2.weight, snap["conv2.weight"])
    assert_bit_exact(cnn, snap)


def test_fake_quantize_inside_torch_compile():
    x = sample(n=1000)
    step = torch.tensor(0.3)
    compiled = torch.compile(
        lambda t, d: fake_quantize(t, d, 4), backend="aot_eager", fullgraph=True
    )
    # the same float32 operations, traced: bit-exact
    assert torch.equal(compiled(x, step), fake_quantize(x, step, 4))
    with_float = torch.compile(
        lambda t: fake_quantize(t, 0.3, 4), backend="aot_eager", fullgraph=True
    )
    assert torch.equal(with_float(x), fake_quantize(x, 0.3, 4))
    # per channel with axis (shape checks trace; the value checks are skipped)
    w = _conv_weight()
    s = optimal_step(w, 4, per_channel=True)
    per_channel = torch.compile(
        lambda t, d: fake_quantize(t, d, 4, axis=0), backend="aot_eager", fullgraph=True
    )
    assert torch.equal(per_channel(w, s), fake_quantize(w, s, 4, axis=0))
    # documented: compiled, the NaN check is skipped and NaN propagates
    nan_x = torch.tensor([0.5, float("nan")])
    assert torch.isnan(compiled(nan_x, step)[1])
    torch._dynamo.reset()


# -- per group (issue 12) ------------------------------------------------------
@pytest.mark.parametrize("scheme", SCHEMES)
def test_per_group_steps_are_the_batched_engine(scheme):
    w = torch.randn(6, 64, generator=torch.Generator().manual_seed(3))
    s = optimal_step(w, 4, scheme=scheme, group_size=16)
    assert s.shape == (6, 4)
    assert s.dtype == torch.float64
    ref = qt.optimal_step(
        qt.Empirical(w.double().numpy(), group_size=16), 4, scheme=scheme
    )
    assert torch.equal(s, torch.from_numpy(ref))
    # per channel and per group: groups within each channel along axis
    sc = optimal_step(w, 4, scheme=scheme, per_channel=True, axis=1, group_size=3)
    assert sc.shape == (64, 2)


def test_per_group_steps_reach_the_exact_optimum_of_each_group():
    w = torch.randn(2, 96, generator=torch.Generator().manual_seed(4))
    s = optimal_step(w, 3, group_size=32)
    for i in range(2):
        for j in range(3):
            g = w[i, 32 * j : 32 * j + 32].double().numpy()
            d1 = qt.optimal_step(g, 3)
            m, m1 = qt.mse(g, [float(s[i, j]), d1], 3)
            assert abs(m - m1) <= 1e-12 * m1  # the issue's exactness target


def test_per_group_all_zero_group_gets_the_tensor_step():
    w = torch.randn(2, 32, generator=torch.Generator().manual_seed(5))
    w[1, 16:] = 0
    s = optimal_step(w, 4, group_size=16)
    assert s[1, 1] == optimal_step(w, 4)


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64])
@pytest.mark.parametrize("scheme", SCHEMES)
def test_fake_quantize_per_group_equals_numpy_bit_exactly(dtype, scheme):
    w = torch.randn(4, 48, generator=torch.Generator().manual_seed(6)).to(dtype)
    s = optimal_step(w, 4, scheme=scheme, group_size=12)
    q = fake_quantize(w, s, 4, scheme, group_size=12)
    ref = qt.quantize(w, s.numpy(), 4, scheme, group_size=12)
    assert q.dtype == dtype
    assert torch.equal(q, ref)
    # groups within each column (axis=1): batch (48, 2)
    sa = (
        torch.rand(
            48, 2, generator=torch.Generator().manual_seed(7), dtype=torch.float64
        )
        + 0.1
    )
    qa = fake_quantize(w, sa, 4, scheme, axis=1, group_size=2)
    assert torch.equal(qa, qt.quantize(w, sa.numpy(), 4, scheme, axis=1, group_size=2))


def test_fake_quantize_per_group_errors():
    w = torch.randn(4, 48)
    with pytest.raises(qt.InvalidArgument, match="does not broadcast to the batch"):
        fake_quantize(w, torch.ones(5), 4, group_size=12)
    with pytest.raises(qt.InvalidArgument, match="does not divide"):
        fake_quantize(w, 0.1, 4, group_size=7)
    with pytest.raises(qt.InvalidArgument, match="group_size=0"):
        optimal_step(w, 4, group_size=0)


def test_quantized_per_group_uses_group_steps_and_restores(mlp):
    before = {n: p.detach().clone() for n, p in mlp.named_parameters()}
    with quantized(mlp, 4, scheme="signed", group_size=8) as used:
        w = mlp[0].weight
        d = used["0.weight"]
        assert d.shape == (32, 1)
        ref = qt.quantize(before["0.weight"], d.numpy(), 4, "signed", group_size=8)
        assert torch.equal(w, ref)
    for n, p in mlp.named_parameters():
        assert torch.equal(p, before[n])
