"""Natural inputs (issue 11, section 5, core part): what users hold.

* ``Empirical`` of a torch ``Parameter`` that requires grad, and of any
  tensor, bfloat16 and float16 included;
* a plain array, list or tensor where a distribution is expected;
* ``quantize`` of a tensor returns a tensor of the same dtype and device;
* ``quantize(..., axis=k)``: one step per slice, as torch's ``ch_axis``.

Expected values: the same data as a numpy array through the documented
route (an invariant), and brute-force nearest-level search
(``registry.reference_quantize``, ``registry.direct_mse``).
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from registry import direct_mse, reference_quantize

import quanttheory as qt

torch = pytest.importorskip("torch")


@pytest.fixture
def weight():
    torch.manual_seed(0)
    return torch.nn.Linear(32, 16).weight  # a Parameter, requires grad


def test_empirical_of_a_parameter_that_requires_grad(weight):
    # before: RuntimeError "Can't call numpy() on Tensor that requires grad"
    assert weight.requires_grad
    e = qt.Empirical(weight)
    w = weight.detach().numpy()
    assert e.n == w.size
    assert e.samples.dtype == np.float32
    assert np.array_equal(e.samples, w.ravel())
    assert qt.optimal_step(e, 4) == qt.optimal_step(qt.Empirical(w), 4)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16", "float64", "int32"])
def test_empirical_of_any_tensor(dtype):
    # before: TypeError "Got unsupported ScalarType BFloat16"; bf16 and fp16
    # become float32 (exact: both are subsets of float32)
    t = (torch.arange(-6, 6) * 0.375).to(getattr(torch, dtype))
    e = qt.Empirical(t)
    want = t.double().numpy()
    assert np.array_equal(e.samples.astype(np.float64), want)
    expected = {"bfloat16": np.float32, "float16": np.float32, "int32": np.float64}
    assert e.samples.dtype == expected.get(dtype, np.float64)


@pytest.mark.parametrize("kind", ["list", "ndarray", "tensor", "parameter"])
def test_plain_data_where_a_distribution_is_expected(weight, kind):
    # optimal_step(w, 4) is a natural first call: w is wrapped as Empirical
    w = weight.detach().numpy().astype(np.float64).ravel()
    data = {
        "list": w.tolist(),
        "ndarray": w,
        "tensor": torch.from_numpy(w),
        "parameter": torch.nn.Parameter(torch.from_numpy(w)),
    }[kind]
    e = qt.Empirical(w)
    step = qt.optimal_step(data, 4)
    assert step == qt.optimal_step(e, 4)
    # MSE and SQNR by brute force: float64 sums over 512 samples, 1e-12
    want = direct_mse(w, step, 4, "paper")
    assert qt.mse(data, step, 4) == pytest.approx(want, rel=1e-12)
    sq = 10 * np.log10(np.mean(w * w) / want)
    assert qt.sqnr_db(data, step, 4) == pytest.approx(sq, abs=1e-10)
    assert qt.mse_derivative(data, step, 4, 2) == qt.mse_derivative(e, step, 4, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", qt.QuantTheoryWarning)
        assert qt.sensitivity(data, 4, 1e-4) == qt.sensitivity(e, 4, 1e-4)


@pytest.mark.parametrize("dtype", ["float32", "float16", "float64"])
def test_quantize_of_a_tensor_is_a_tensor(weight, dtype):
    # decision: the same type back, same dtype and device, detached
    t = weight.to(getattr(torch, dtype))
    q = qt.quantize(t, 0.0625, 4, "signed")
    assert isinstance(q, torch.Tensor)
    assert (q.dtype, q.device, q.requires_grad) == (t.dtype, t.device, False)
    # step 1/16: every level is exact in each dtype, so equality is exact
    want, _ = reference_quantize(t.detach().double().numpy(), 0.0625, 4, "signed")
    assert np.array_equal(q.double().numpy(), want)


def test_quantize_of_a_bfloat16_tensor():
    # float32 arithmetic with the step rounded to bfloat16, rounded back:
    # with step 1/8 and 4 bits every level k/8 is exact in bfloat16
    t = torch.tensor([0.3, -0.2, 5.0, -7.0]).to(torch.bfloat16)
    q = qt.quantize(t, 0.125, 4)
    assert q.dtype == torch.bfloat16
    want, _ = reference_quantize(t.float().numpy(), 0.125, 4, "paper")
    assert np.array_equal(q.float().numpy(), want)
    with pytest.raises(qt.InvalidArgument, match="quantize: step=1e-39"):
        qt.quantize(t, 1e-39, 4)  # subnormal in bfloat16


@pytest.mark.parametrize("axis", [0, 1, -1, -2])
@pytest.mark.parametrize("scheme", ["paper", "midrise"])
def test_quantize_per_slice_along_an_axis(axis, scheme):
    # slice i along `axis` uses step[i]: brute force slice by slice
    x = np.random.default_rng(3).normal(size=(3, 5))
    n = x.shape[axis]
    step = 0.1 * (1 + np.arange(n))
    got = qt.quantize(x, step, 3, scheme, axis=axis)
    want = np.empty_like(x)
    for i in range(n):
        sl = [slice(None)] * 2
        sl[axis] = i
        want[tuple(sl)] = reference_quantize(x[tuple(sl)], step[i], 3, scheme)[0]
    # nearest levels in float64: the brute force and the quantizer round the
    # same products (k + o) * step, so they agree to 1 ulp
    np.testing.assert_allclose(got, want, rtol=2.3e-16, atol=0)


def test_quantize_axis_with_a_tensor_step(weight):
    steps = torch.full((weight.shape[0],), 0.0625)
    q = qt.quantize(weight, steps, 4, axis=0)
    assert torch.equal(q, qt.quantize(weight, 0.0625, 4))


@pytest.mark.parametrize(
    ("step", "axis", "fragment"),
    [
        (np.full(5, 0.1), 0, "length x.shape[0] = 3"),
        (np.full((3, 1), 0.1), 0, "1-D"),
        (np.full(3, 0.1), 2, "axis=2 is out of range"),
        (np.full(3, 0.1), 1.0, "axis=1.0 must be an integer"),
        (np.full(3, 0.1), True, "axis=True must be an integer"),
    ],
)
def test_quantize_axis_mismatch(step, axis, fragment):
    with pytest.raises(qt.InvalidArgument, match=rf"quantize: .*{re.escape(fragment)}"):
        qt.quantize(np.ones((3, 4)), step, 4, axis=axis)
