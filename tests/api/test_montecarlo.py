r"""Monte Carlo estimates against the exact MSE, and the estimator's mechanics.

Statistical tolerance. ``monte_carlo_mse`` returns the mean of n squared
errors and its standard error s/sqrt(n). When the squared error has a finite
variance (X has a finite fourth moment) the mean is asymptotically normal,
and |mean - exact| <= k SE fails with probability 2 (1 - Phi(k)). With
N = ``len(AGREEMENT_CASES)`` cases and a family-wise false-alarm rate of
1e-4, Bonferroni gives a per-case two-sided level 1e-4/N, i.e.
k = Phi^-1(1 - 5e-5/N), computed from N below (4.56 for the present 20
cases: 5 families x 4 scheme/bit pairs), so it follows the table. Seeds are
fixed, so the suite is deterministic; the rate says how unlucky a seed would
have to be to fail a correct engine. n = 200 000 keeps the normal
approximation good at that depth for these light- to moderate-tailed laws.

Student t with 3 degrees of freedom has E[X^4] = inf, so Var[(X - Q(X))^2]
is infinite: the standard error means nothing and the error of the mean
follows a stable law of index 3/2 (scale ~ n^(-1/3)), heavily skewed to the
right. It gets its own asymmetric, documented check.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from registry import BY_ID, FINITE_FOURTH, law, typical_steps
from scipy import special

import quanttheory as qt

_PAIRS = [("paper", 2), ("midrise", 3), ("signed", 4), ("symmetric", 8)]
AGREEMENT_CASES = [
    (f.id, s, b, i)
    for i, (f, (s, b)) in enumerate((f, p) for f in FINITE_FOURTH for p in _PAIRS)
]
FAMILY_WISE_RATE = 1e-4
K_SE = float(special.ndtri(1.0 - FAMILY_WISE_RATE / len(AGREEMENT_CASES) / 2.0))
N_MC = 200_000


@pytest.mark.parametrize(("family_id", "scheme", "bits", "seed"), AGREEMENT_CASES)
def test_monte_carlo_agrees_with_exact_mse(family_id, scheme, bits, seed):
    d = law(family_id)
    step = typical_steps(BY_ID[family_id], scheme, bits)[1]
    exact = qt.mse(d, step, bits, scheme=scheme)
    r = qt.monte_carlo_mse(d, step, bits, scheme=scheme, n=N_MC, rng=1000 + seed)
    assert r.n == N_MC
    # k standard errors, k from Bonferroni (module docstring)
    assert abs(r.mean - exact) <= K_SE * r.stderr, (r, exact)


def test_t3_monte_carlo_documented_loose_check():
    # E[X^4] = inf for t3: no valid standard error. Measured over 200 seeds
    # at n = 1e5 (paper, 1 bit, step 1.5; exact MSE 1.357): relative error
    # quantiles 0.5 % -> -15 %, 99.5 % -> +97 %, max +221 %. The stable law
    # of index 3/2 scales as n^(-1/3), a factor 20^(1/3) = 2.7 smaller at
    # n = 2e6: the 0.5 % quantile moves to about -6 %, and the left tail of
    # a right-skewed stable law decays like exp(-c|x|^3), so the lower bound
    # -15 % is safe; the right tail decays only like x^(-3/2), so the upper
    # bound is loose (+200 %, exceeded with probability ~ 4e-4). This checks
    # the scale, sign and scheme of the estimate, not its accuracy.
    d = law("t3")
    exact = qt.mse(d, 1.5, 1)
    r = qt.monte_carlo_mse(d, 1.5, 1, n=2_000_000, rng=2024)
    assert 0.85 * exact <= r.mean <= 3.0 * exact, (r, exact)
    assert math.isfinite(r.stderr)
    assert r.stderr > 0


# ---------------------------------------------------------------------------
# mechanics
# ---------------------------------------------------------------------------


def test_matches_plain_numpy_on_the_same_samples():
    # one chunk: monte_carlo_mse draws exactly dist.sample(n, rng=seed) and
    # quantizes it; recompute mean and std with numpy on the same draw, with
    # the 'paper' quantizer written from the design table (levels k step,
    # k = -4..4 at 3 bits), not the engine's
    d = qt.Gaussian(1.3)
    n, seed, step, bits = 50_000, 5, 0.4, 3
    x = d.sample(n, rng=seed)
    k = 2 ** (bits - 1)
    e2 = (x - np.clip(np.rint(x / step), -k, k) * step) ** 2
    r = qt.monte_carlo_mse(d, step, bits, n=n, rng=seed, chunk=n)
    # the same n numbers summed in a different order: 2 n eps relative
    rtol = 2 * n * np.finfo(float).eps
    assert r.mean == pytest.approx(float(np.mean(e2)), rel=rtol)
    assert r.std == pytest.approx(float(np.std(e2, ddof=1)), rel=rtol)
    assert r.stderr == pytest.approx(r.std / math.sqrt(n), rel=1e-15)


@pytest.mark.parametrize("family_id", ["uniform", "gaussian"])
def test_chunking_changes_nothing_but_rounding(family_id):
    d = law(family_id)
    n, seed = 100_000, 17
    # premise: numpy's Generator draws these laws element by element, so
    # chunked draws concatenate to the single draw (checked, not assumed)
    g = np.random.default_rng(seed)
    parts = np.concatenate([d.sample(30_000, rng=g), d.sample(70_000, rng=g)])
    assert np.array_equal(parts, d.sample(n, rng=seed))
    step = typical_steps(BY_ID[family_id], "paper", 4)[1]
    ref = qt.monte_carlo_mse(d, step, 4, n=n, rng=seed, chunk=n)
    for chunk in (2**16, 12_345, 999):
        r = qt.monte_carlo_mse(d, step, 4, n=n, rng=seed, chunk=chunk)
        assert r.n == n
        # same samples, merged with Chan's formula instead of one pass:
        # rounding only. The mean is a sum of n positive terms (n eps
        # relative); Chan's update of the sum of squared deviations is as
        # stable as two-pass (observed: identical to the last bit here), so
        # the same n eps bound applies to the variance, halved for the std
        rtol = n * np.finfo(float).eps
        assert r.mean == pytest.approx(ref.mean, rel=rtol)
        assert r.std == pytest.approx(ref.std, rel=rtol)


def test_chunking_statistically_consistent_for_scipy_law():
    # from_scipy laws draw through scipy; whatever the stream does, two chunk
    # sizes with the same seed must give estimates of the same MSE within
    # k combined standard errors (k = 4.56 as above)
    d = law("logistic")
    step = typical_steps(BY_ID["logistic"], "midrise", 3)[1]
    a = qt.monte_carlo_mse(d, step, 3, scheme="midrise", n=100_000, rng=3, chunk=2**20)
    b = qt.monte_carlo_mse(d, step, 3, scheme="midrise", n=100_000, rng=3, chunk=4_096)
    assert a.n == b.n == 100_000
    assert abs(a.mean - b.mean) <= K_SE * math.hypot(a.stderr, b.stderr)


def test_large_n_with_small_chunks():
    # memory is bounded by `chunk`; not measurable cheaply, so check that a
    # 3e6-sample run in 2^18-sample chunks completes and is right
    d = law("gaussian")
    step = typical_steps(BY_ID["gaussian"], "paper", 4)[1]
    r = qt.monte_carlo_mse(d, step, 4, n=3_000_000, rng=99, chunk=2**18)
    assert r.n == 3_000_000
    # k standard errors (one more case at the same per-case level)
    assert abs(r.mean - qt.mse(d, step, 4)) <= K_SE * r.stderr


def test_confidence_interval():
    r = qt.monte_carlo_mse(law("laplace"), 0.3, 4, n=20_000, rng=1)
    lo, hi = r.ci(0.95)
    # z_0.975 = 1.959963984540054 (standard normal table); the interval is
    # symmetric: rounding of one multiply-add, 1e-14 relative
    assert lo < r.mean < hi
    assert hi - r.mean == pytest.approx(1.959963984540054 * r.stderr, rel=1e-14)
    assert r.mean - lo == pytest.approx(1.959963984540054 * r.stderr, rel=1e-14)
    lo90, hi90 = r.ci(0.90)
    lo99, hi99 = r.ci(0.99)
    assert lo99 < lo < lo90 < r.mean < hi90 < hi < hi99
    assert r.ci() == (lo, hi)  # default level 0.95, exactly the same numbers


@pytest.mark.parametrize("level", [0.0, 1.0, -0.5, 1.5, float("nan")])
def test_confidence_level_outside_unit_interval_raises(level):
    r = qt.MonteCarloResult(mean=1.0, stderr=0.1, n=100, std=1.0)
    with pytest.raises(qt.InvalidArgument, match=r"MonteCarloResult\.ci: level="):
        r.ci(level)


def test_int_seed_reproducible_and_generator_equivalent():
    d = law("gaussian")
    a = qt.monte_carlo_mse(d, 0.5, 3, n=10_000, rng=123)
    b = qt.monte_carlo_mse(d, 0.5, 3, n=10_000, rng=123)
    assert a == b  # same seed: bit-identical result
    c = qt.monte_carlo_mse(d, 0.5, 3, n=10_000, rng=np.random.default_rng(123))
    assert c == a  # an int seed means default_rng(seed)
    g = np.random.default_rng(7)
    first = qt.monte_carlo_mse(d, 0.5, 3, n=10_000, rng=g)
    second = qt.monte_carlo_mse(d, 0.5, 3, n=10_000, rng=g)
    assert first != second  # a Generator is consumed, not reset


def test_global_random_state_untouched():
    # the legacy global generator is what "global state" means here, so this
    # test has to use the legacy API (NPY002 is about new code using it)
    state = np.random.get_state()  # noqa: NPY002
    try:
        np.random.seed(0)  # noqa: NPY002
        expected = np.random.random(3)  # noqa: NPY002
        np.random.seed(0)  # noqa: NPY002
        qt.monte_carlo_mse(law("uniform"), 0.1, 4, n=1_000)  # rng=None
        qt.monte_carlo_mse(law("t3"), 0.1, 4, n=1_000, rng=5)  # via scipy
        assert np.array_equal(np.random.random(3), expected)  # noqa: NPY002
    finally:
        np.random.set_state(state)  # noqa: NPY002


def test_progress_goes_to_stderr(capsys):
    qt.monte_carlo_mse(
        law("uniform"), 0.1, 4, n=10_000, chunk=2_500, rng=0, progress=True
    )
    out, err = capsys.readouterr()
    assert out == ""
    assert "100%" in err
