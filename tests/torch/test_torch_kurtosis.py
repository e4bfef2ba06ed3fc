"""``quanttheory.torch.kurtosis``: values, dtypes, gradients, constant tensors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
import torch

import quanttheory as qt
from quanttheory.torch import kurtosis


def _asymptotic_se(m2, m4, m6, m8, n):
    r"""Standard error of the sample kurtosis b2 = m4/m2^2 of a symmetric law.

    Delta method (Kendall & Stuart, Vol. 1, Sec. 10.5, odd moments zero):
    n Var(b2) -> mu8/mu2^4 - 4 mu6 mu4/mu2^5 + 4 mu4^3/mu2^6 - mu4^2/mu2^4.
    Gaussian: 24 (the classical 24/n).
    """
    v = m8 / m2**4 - 4 * m6 * m4 / m2**5 + 4 * m4**3 / m2**6 - m4**2 / m2**4
    return math.sqrt(v / n)


N = 2**22
# Population moments mu2, mu4, mu6, mu8 and the law's kurtosis:
#   uniform on [-1, 1]: 1/3, 1/5, 1/7, 1/9, kurtosis 1.8;
#   standard Gaussian: 1, 3, 15, 105, kurtosis 3;
#   Laplace(b = 1): (2k)! -> 2, 24, 720, 40320, kurtosis 6.
LAWS = {
    "uniform": (lambda r: r.uniform(-1, 1, N), (1 / 3, 1 / 5, 1 / 7, 1 / 9), 1.8),
    "gaussian": (lambda r: r.standard_normal(N), (1.0, 3.0, 15.0, 105.0), 3.0),
    "laplace": (lambda r: r.laplace(0, 1, N), (2.0, 24.0, 720.0, 40320.0), 6.0),
}


@pytest.mark.parametrize("law", list(LAWS))
def test_kurtosis_of_known_laws(law):
    draw, moments, expected = LAWS[law]
    x = torch.from_numpy(draw(np.random.default_rng(20200))).float()
    se = _asymptotic_se(*moments, N)
    # Tolerance: k = 5 asymptotic standard errors (a two-sided normal tail of
    # 6e-7), so a correct estimator does not fail by chance for any seed,
    # while the excess kurtosis (off by 3) or a float32 accumulation error
    # would. SE is 0.0006 (uniform), 0.0024 (Gaussian) and 0.017 (Laplace).
    assert abs(float(kurtosis(x)) - expected) < 5 * se


def test_matches_core_engine_and_scipy():
    rng = np.random.default_rng(1)
    w = rng.standard_t(5, size=(64, 27))
    t = torch.from_numpy(w)
    # float64 throughout: both are m4/m2^2 with the same centring; agreement
    # to 1e-12 relative is rounding in the two sums.
    expected = qt.Empirical(w).kurtosis
    assert float(kurtosis(t)) == pytest.approx(expected, rel=1e-12)
    assert float(kurtosis(t)) == pytest.approx(
        scipy.stats.kurtosis(w, axis=None, fisher=False), rel=1e-12
    )
    ub = scipy.stats.kurtosis(w, axis=None, fisher=False, bias=False)
    assert float(kurtosis(t, unbiased=True)) == pytest.approx(ub, rel=1e-12)


def test_dim_reduces_per_channel():
    rng = np.random.default_rng(2)
    w = rng.standard_normal((5, 3, 4, 4))
    got = kurtosis(torch.from_numpy(w), dim=(1, 2, 3))
    want = scipy.stats.kurtosis(w.reshape(5, -1), axis=1, fisher=False)
    # same arithmetic in float64, relative 1e-12 for rounding
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)
    assert kurtosis(torch.from_numpy(w), dim=0, keepdim=True).shape == (1, 3, 4, 4)
    assert kurtosis(torch.from_numpy(w), dim=-1).shape == (5, 3, 4)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision_input_is_computed_in_float32(dtype):
    rng = np.random.default_rng(3)
    # values near 300: (x - mean)^4 reaches 1e10, beyond the float16 range
    # (65504), so a kurtosis computed in float16 would be inf or NaN.
    x = torch.from_numpy(300 + 100 * rng.standard_normal(100_000)).to(dtype)
    k = kurtosis(x)
    assert k.dtype == torch.float32
    exact = qt.Empirical(x.double().numpy()).kurtosis
    # float32 accumulation over 1e5 terms: relative error well below 1e-4
    assert float(k) == pytest.approx(exact, rel=1e-4)


def test_float64_stays_float64():
    assert kurtosis(torch.randn(10, dtype=torch.float64)).dtype == torch.float64


def test_large_mean_keeps_precision():
    # two-pass central moments: a mean 1e4 times the spread costs nothing
    rng = np.random.default_rng(4)
    w = 1e4 + rng.uniform(-1, 1, 100_000)
    assert float(kurtosis(torch.from_numpy(w))) == pytest.approx(
        qt.Empirical(w).kurtosis, rel=1e-9
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_constant_tensor_has_defined_value_zero_and_zero_gradient(dtype):
    # documented choice: 0 (outside the attainable range [1, inf)), never NaN
    x = torch.full((7, 3), 0.1, dtype=dtype, requires_grad=True)
    k = kurtosis(x)
    assert float(k.detach()) == 0.0
    k.backward()
    assert torch.equal(x.grad, torch.zeros_like(x.grad))
    per_row = kurtosis(torch.tensor([[1.0, 1.0, 1.0], [0.0, 1.0, 2.0]]), dim=1)
    assert per_row[0] == 0.0
    assert float(per_row[1]) == pytest.approx(1.5, rel=1e-6)  # (2/3) / (2/3)^2
    assert float(kurtosis(torch.tensor(2.0))) == 0.0


def test_underflowing_variance_is_the_real_kurtosis():
    # m2^2 = (1e-30^2 / 2)^2 = 2.5e-121 underflows float32; standardised
    # first, the values are {0, 1, 0, -1} and m4 / m2^2 = (1/2) / (1/2)^2 = 2
    # (before issue 11: the defined value 0, as if the tensor were constant)
    x = torch.tensor([0.0, 1e-30, 0.0, -1e-30], requires_grad=True)
    k = kurtosis(x)
    assert float(k.detach()) == 2.0
    k.backward()
    assert torch.isfinite(x.grad).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("scale", [1e20, 1e-20, 1e30, 1e-30])
def test_extreme_scales_neither_overflow_nor_underflow(dtype, scale):
    # issue 11: kurtosis(torch.randn(N) * 1e20) was NaN (the float32 fourth
    # power overflows at |x| > 1.8e9) and * 1e-20 gave 0 (it underflows).
    # Expected: scipy on the same values in float64, at scale 1 (the
    # kurtosis is scale invariant; the values are exact multiples in float64
    # only up to rounding, hence rel 1e-4 for float32 and bfloat16 input)
    rng = np.random.default_rng(8)
    x = torch.from_numpy(rng.standard_normal(50_000) * scale).to(dtype)
    want = scipy.stats.kurtosis(x.double().numpy() / scale, fisher=False)
    got = float(kurtosis(x))
    assert got == pytest.approx(want, rel=1e-4 if dtype != torch.float64 else 1e-12)


def test_gradient_at_an_extreme_scale():
    # the gradient of a scale-invariant function at s*x is grad(x) / s; the
    # fourth powers of 1e150 overflow float64 without standardisation
    g = torch.Generator().manual_seed(9)
    x = torch.randn(200, dtype=torch.float64, generator=g, requires_grad=True)
    y = (x.detach() * 1e150).requires_grad_()
    (gx,) = torch.autograd.grad(kurtosis(x), x)
    (gy,) = torch.autograd.grad(kurtosis(y), y)
    assert torch.isfinite(gy).all()
    torch.testing.assert_close(gy * 1e150, gx, rtol=1e-12, atol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
@pytest.mark.parametrize(
    "bad", [math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"]
)
def test_nan_and_inf_propagate_never_zero(dtype, bad):
    # issue 11: a tensor holding NaN or inf had kurtosis 0, so KURE turned a
    # diverged layer into a finite penalty. Decision: NaN, per slice
    x = torch.tensor([[1.0, bad, 2.0, 4.0], [1.0, 2.0, 2.0, 3.0], [5.0] * 4])
    x = x.to(dtype)
    assert torch.isnan(kurtosis(x))
    rows = kurtosis(x, dim=1)
    assert torch.isnan(rows[0])
    # the healthy row is untouched: m2 = 1/2, m4 = 1/2 -> 2; constant -> 0
    assert float(rows[1]) == 2.0
    assert float(rows[2]) == 0.0
    assert torch.isnan(kurtosis(torch.full((3,), bad, dtype=dtype)))
    assert torch.isnan(kurtosis(x[0], unbiased=True))


@pytest.mark.parametrize("unbiased", [False, True])
@pytest.mark.parametrize("dim", [None, 1, (0, 2)])
def test_gradcheck_float64(dim, unbiased):
    g = torch.Generator().manual_seed(5)
    x = torch.randn(4, 5, 6, dtype=torch.float64, generator=g, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda t: kurtosis(t, dim=dim, unbiased=unbiased), (x,)
    )
    assert torch.autograd.gradgradcheck(lambda t: kurtosis(t, dim=dim), (x,))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"tensor": [1.0, 2.0]}, "must be a torch.Tensor"),
        ({"tensor": torch.arange(5)}, "dtype torch.int64"),
        ({"tensor": torch.empty(0)}, "empty"),
        ({"tensor": torch.randn(3, 4), "dim": 2}, "dim=2 is out of range"),
        ({"tensor": torch.randn(3, 4), "dim": (1, 1)}, "repeats"),
        ({"tensor": torch.randn(3), "unbiased": True}, "at least 4"),
    ],
)
def test_errors(kwargs, match):
    with pytest.raises(qt.InvalidArgument, match=match):
        kurtosis(**kwargs)
