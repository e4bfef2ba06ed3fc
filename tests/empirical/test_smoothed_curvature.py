"""Lemma 1 on empirical data: the curvature smoothed over one step."""

from __future__ import annotations

import numpy as np
import pytest

import quanttheory as qt
from quanttheory._sensitivity import smoothed_curvature


def _terms(x, step, bits):
    """Per-sample terms g_i of the estimator (2/N) sum g_i, written out
    independently with numpy for the 'paper' scheme (levels k*step,
    k = -K..K; thresholds (j + 1/2) step, j = -K..K-1)."""
    kk = 2 ** (bits - 1)
    k = np.clip(np.rint(x / step), -kk, kk)
    t = x / step - 0.5
    j = np.rint(t)
    near = (np.abs(t - j) < 0.125) & (j >= -kk) & (j <= kk - 1)
    m = j + 0.5
    return k * k - 4.0 * np.where(near, m * m, 0.0)


@pytest.mark.parametrize("bits", [2, 4, 6])
def test_uniform_samples_recover_the_law_curvature(bits):
    # U[-1, 1] at 2a/(2^M+1): D'' = 2^(M-1) (Lemma 2's cubic, closed form).
    x = qt.Uniform(1.0).sample(1_000_000, rng=bits)
    step = 2 / (2**bits + 1)
    got = smoothed_curvature(qt.Empirical(x), step, bits)
    g = _terms(x, step, bits)
    assert got == pytest.approx(2.0 * g.mean(), rel=1e-12)  # same sum, reordered
    se = 2.0 * g.std() / np.sqrt(x.size)
    # unbiased for a piecewise-constant density; 5 standard errors
    # (two-sided false alarm 6e-7 per case)
    assert abs(got - 2 ** (bits - 1)) < 5 * se


def test_gaussian_samples_recover_the_law_curvature():
    law = qt.Gaussian(1.0)
    d = qt.optimal_step(law, 4)
    x = law.sample(2_000_000, rng=1)
    got = smoothed_curvature(qt.Empirical(x), d, 4)
    # kernel bias O((step/4)^2 f'') ~ 0.5 % (see the docstring) plus 5
    # standard errors of the sample mean of the per-sample terms
    se = 2.0 * _terms(x, d, 4).std() / np.sqrt(x.size)
    law_c = qt.mse_derivative(law, d, 4, 2)
    assert abs(got - law_c) < 5 * se + 0.005 * law_c
    piece = qt.mse_derivative(qt.Empirical(x), d, 4, 2)
    assert piece > 2 * got  # the quantity this function exists to avoid


def test_empirical_taylor_matches_exact_change_for_smooth_data():
    x = np.random.default_rng(3).standard_normal(1_000_000)
    e = qt.Empirical(x)
    d = qt.optimal_step(e, 4)
    eps = np.array([-0.05, 0.05]) * d
    tay = qt.sensitivity(e, 4, eps, step=d)
    exact = qt.sensitivity(e, 4, eps, step=d, taylor=False)
    # third-order remainder at 5 % step error plus the kernel bias: < 15 %
    np.testing.assert_allclose(tay, exact, rtol=0.15)


def test_smoothed_curvature_needs_empirical():
    with pytest.raises(qt.InvalidArgument, match="must be Empirical"):
        smoothed_curvature(qt.Gaussian(), 0.3, 4)
