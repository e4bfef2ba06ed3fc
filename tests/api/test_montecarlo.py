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
right. It gets its own asymmetric, documented check, the HeavyTailWarning,
and the coverage check of the subsample interval of ``ci()``.

Coverage over seeds. Each seed's interval covers the exact value or not,
independently, so the count of covering seeds out of R is binomial with the
interval's true coverage p. "Within a binomial band" means within
z sqrt(R p (1 - p)) of R p, with z = 3.89 (two-sided false-alarm rate 1e-4)
or 3.72 (one-sided). The exact values come from closed forms evaluated with
mpmath here (``exact_mse``), not from the engine.
"""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
import scipy.stats
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
#: z of a two-sided and a one-sided false-alarm rate of 1e-4 (normal table)
Z_TWO, Z_ONE = 3.8906, 3.7190


def _moments_t3(x):
    """int_0^x t^k f(t) dt, k = 0, 1, 2, for Student t3: closed forms."""
    if x == mp.inf:  # the limits: 1/2, sqrt(3)/pi and half the variance 3
        return mp.mpf(1) / 2, mp.sqrt(3) / mp.pi, mp.mpf(3) / 2
    u = x / mp.sqrt(3)
    i0 = (mp.atan(u) + u / (1 + u * u)) / mp.pi
    i1 = mp.sqrt(3) / mp.pi * x * x / (3 + x * x)
    i2 = 3 / mp.pi * (mp.atan(u) - u / (1 + u * u))
    return i0, i1, i2


def _moments_gauss(x):
    """The same for N(0, 1): erf and the density."""
    if x == mp.inf:
        return mp.mpf(1) / 2, 1 / mp.sqrt(2 * mp.pi), mp.mpf(1) / 2
    i0 = mp.erf(x / mp.sqrt(2)) / 2
    phi = mp.exp(-x * x / 2) / mp.sqrt(2 * mp.pi)
    return i0, 1 / mp.sqrt(2 * mp.pi) - phi, i0 - x * phi


def exact_mse(moments, step, bits):
    """MSE of the 'paper' quantizer for a symmetric law, cell by cell.

    Levels k step, k = -K .. K, thresholds half-way; by symmetry twice the
    positive half: [0, step/2] to level 0, [(k - 1/2) step, (k + 1/2) step]
    to k step, and [(K - 1/2) step, inf) to K step. Per cell with level c,
    int (x - c)^2 f = [I2 - 2c I1 + c^2 I0] between the ends.
    """
    with mp.workdps(30):
        d = mp.mpf(step)
        k = 2 ** (bits - 1)
        total = moments(d / 2)[2]
        for j in range(1, k + 1):
            lo = moments((j - mp.mpf(1) / 2) * d)
            hi = moments((j + mp.mpf(1) / 2) * d) if j < k else moments(mp.inf)
            c = j * d
            total += (hi[2] - lo[2]) - 2 * c * (hi[1] - lo[1]) + c * c * (hi[0] - lo[0])
        return float(2 * total)


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
    exact = exact_mse(_moments_t3, 1.5, 1)
    with pytest.warns(qt.HeavyTailWarning, match="no finite|not finite"):
        r = qt.monte_carlo_mse(d, 1.5, 1, n=2_000_000, rng=2024)
    assert 0.85 * exact <= r.mean <= 3.0 * exact, (r, exact)
    assert math.isfinite(r.stderr)
    assert r.stderr > 0
    assert r.heavy_tail


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
        with pytest.warns(qt.HeavyTailWarning):
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


# ---------------------------------------------------------------------------
# heavy tails: the warning, and the coverage of ci() over seeds
# ---------------------------------------------------------------------------
def test_exact_mse_helper_agrees_with_the_engine():
    # the two closed forms above, cross-checked against the engine (which
    # tests/test_routes_agree.py checks against 40-digit mpmath): 1e-10 is
    # the engine's documented accuracy
    for moments, dist in ((_moments_t3, law("t3")), (_moments_gauss, law("gaussian"))):
        for step, bits in ((1.5, 1), (0.8429862405184559, 2), (0.4, 4)):
            assert exact_mse(moments, step, bits) == pytest.approx(
                qt.mse(dist, step, bits), rel=1e-10
            )


@pytest.mark.parametrize(
    ("make", "heavy"),
    [
        (lambda: law("t3"), True),  # E[X^4] = inf (scipy kurtosis inf)
        (lambda: qt.from_scipy(scipy.stats.t(4)), True),  # inf at nu = 4
        (lambda: qt.from_scipy(scipy.stats.pareto(3.5, loc=-1)), True),  # nan
        (lambda: qt.from_scipy(scipy.stats.t(5)), False),  # kurtosis 9
        (lambda: law("uniform"), False),
        (lambda: law("gaussian"), False),
        (lambda: law("laplace"), False),
        (lambda: law("logistic"), False),
    ],
)
def test_heavy_tail_warning_for_laws(make, heavy):
    d = make()
    if heavy:
        with pytest.warns(qt.HeavyTailWarning) as seen:
            r = qt.monte_carlo_mse(d, 0.5, 3, n=2_000, rng=0)
        (w,) = seen
        msg = str(w.message)
        assert msg.startswith(f"monte_carlo_mse: {d!r}: its kurtosis is ")
        assert "infinite variance" in msg
    else:
        # filterwarnings = error: any warning here fails the test
        r = qt.monte_carlo_mse(d, 0.5, 3, n=2_000, rng=0)
    assert r.heavy_tail is heavy
    assert issubclass(qt.HeavyTailWarning, qt.QuantTheoryWarning)
    assert issubclass(qt.QuantTheoryWarning, UserWarning)


def test_heavy_tail_warning_for_samples_from_the_hill_estimate():
    # 1e5 samples: the Hill estimate from the k = 317 largest |x| has a
    # relative standard error 1/sqrt(k) = 5.6 %; warned when alpha < 4 /
    # (1 + 2/sqrt(k)) = 3.60. t3 (alpha = 3) lies 3.5 standard errors
    # below that, t5 (alpha = 5, estimated 4.5 at this k for its
    # second-order bias) and the Gaussian (alpha = inf) far above
    rng = np.random.default_rng(7)
    heavy = qt.Empirical(rng.standard_t(3, 100_000))
    with pytest.warns(
        qt.HeavyTailWarning, match=r"Hill tail index of 2\.|Hill tail index of 3\."
    ):
        r = qt.monte_carlo_mse(heavy, 0.5, 3, n=2_000, rng=0)
    assert r.heavy_tail
    for light in (rng.standard_t(5, 100_000), rng.standard_normal(100_000)):
        r = qt.monte_carlo_mse(qt.Empirical(light), 0.5, 3, n=2_000, rng=0)
        assert not r.heavy_tail


def test_heavy_tail_warning_says_when_too_few_samples_are_clipped():
    # 8 bits, step 0.3: levels up to 38.4, beyond which t3 puts 3.7e-5 of
    # its mass: about 0.07 of 2 000 samples
    with pytest.warns(qt.HeavyTailWarning, match="no interval from these samples"):
        qt.monte_carlo_mse(law("t3"), 0.3, 8, n=2_000, rng=0)
    with pytest.warns(qt.HeavyTailWarning, match="too small for the subsample"):
        qt.monte_carlo_mse(law("t3"), 0.3, 8, n=500, rng=0)


def test_normal_interval_coverage_for_a_light_tailed_law():
    # Gaussian, 2 bits, the optimal 'paper' step (9 % of the samples beyond
    # the outermost levels), n = 4000, 400 seeds. The count of covering
    # seeds lies within Z_TWO binomial standard deviations of 0.95 * 400
    # (module docstring): 380 +- 17. The normal approximation of the skewed
    # squared error loses about 1 % at this n (measured), well inside.
    d, step, r_seeds = law("gaussian"), 0.8429862405184559, 400
    exact = exact_mse(_moments_gauss, step, 2)
    hits_normal = hits_sub = 0
    for seed in range(r_seeds):
        r = qt.monte_carlo_mse(d, step, 2, n=4_000, rng=seed)
        lo, hi = r.ci(0.95)  # 'auto' is 'normal' for a light tail
        assert (lo, hi) == r.ci(0.95, method="normal")
        hits_normal += lo <= exact <= hi
        lo, hi = r.ci(0.95, method="subsample")
        hits_sub += lo <= exact <= hi
    band = Z_TWO * math.sqrt(r_seeds * 0.95 * 0.05)
    assert abs(hits_normal - 0.95 * r_seeds) <= band, hits_normal
    # the subsample interval is documented to cover at least the nominal
    # level here too (measured 99 %): one-sided band below 0.95
    assert hits_sub >= 0.95 * r_seeds - Z_ONE * math.sqrt(r_seeds * 0.95 * 0.05)


def test_subsample_interval_coverage_for_t3():
    # Student t3, 1 bit, step 1.5: 23 % of the samples lie beyond the
    # outermost levels (about 1150 of n = 5000, above MIN_CLIPPED). The
    # docstring of MonteCarloResult.ci documents coverage >= 95 % there; the
    # count of 200 seeds must then reach 190 - Z_ONE sqrt(200 0.95 0.05) =
    # 178.5 (one-sided band). The normal interval is documented to
    # undercover (measured 73 %): it must stay below 90 %, which 0.73 would
    # exceed with probability below 1e-9 (binomial, sd 6.3 of 200).
    d, r_seeds = law("t3"), 200
    exact = exact_mse(_moments_t3, 1.5, 1)
    hits_normal = hits_sub = 0
    for seed in range(r_seeds):
        with pytest.warns(qt.HeavyTailWarning, match="ci\\(\\) uses the subsample"):
            r = qt.monte_carlo_mse(d, 1.5, 1, n=5_000, rng=seed)
        lo, hi = r.ci(0.95)  # 'auto': the subsample interval
        assert (lo, hi) == r.ci(0.95, method="subsample")
        hits_sub += lo <= exact <= hi
        lo, hi = r.ci(0.95, method="normal")
        hits_normal += lo <= exact <= hi
    assert hits_sub >= 0.95 * r_seeds - Z_ONE * math.sqrt(r_seeds * 0.95 * 0.05)
    assert hits_normal < 0.90 * r_seeds


def test_batches_match_plain_numpy_on_the_same_samples():
    # 200 consecutive batches of the draws (n // 200 = 60 samples each): the
    # batch means and standard deviations recomputed with numpy, across
    # chunk boundaries that cut batches (chunk 1000 is not a multiple of 60)
    d = qt.Gaussian(1.3)
    n, seed, step, bits = 12_000, 5, 0.4, 3
    x = d.sample(n, rng=seed)
    k = 2 ** (bits - 1)
    e2 = (x - np.clip(np.rint(x / step), -k, k) * step) ** 2
    r = qt.monte_carlo_mse(d, step, bits, n=n, rng=seed, chunk=1_000)
    batches = e2.reshape(200, 60)
    # sums of 60 positive terms merged by Chan's formula: 60 eps relative,
    # with a factor 10 for the merged variance's own rounding
    rtol = 600 * np.finfo(float).eps
    np.testing.assert_allclose(r.batch_means, batches.mean(axis=1), rtol=rtol)
    np.testing.assert_allclose(r.batch_stds, batches.std(axis=1, ddof=1), rtol=rtol)
    assert r.clipped == int(np.count_nonzero(np.abs(x) > k * step))


def test_subsample_interval_by_hand():
    # 20 batches of b = 100: |T_i| = sqrt(b) |m_i - m| / s_i, the level
    # quantile taken as the next larger order statistic
    means = tuple(1.0 + 0.01 * i for i in range(-10, 10))
    stds = (0.5,) * 20
    r = qt.MonteCarloResult(
        mean=1.0, stderr=0.01, n=2_000, std=0.5, batch_means=means, batch_stds=stds
    )
    t = sorted(math.sqrt(100) * abs(m - 1.0) / 0.5 for m in means)
    q = t[math.ceil(0.9 * 19)]  # numpy's 'higher': index ceil(level (k - 1))
    lo, hi = r.ci(0.9, method="subsample")
    # one multiply-add each: 1e-15 relative
    assert hi == pytest.approx(1.0 + q * 0.01, rel=1e-15)
    assert lo == pytest.approx(1.0 - q * 0.01, rel=1e-15)
    # not heavy: 'auto' is the normal interval
    assert r.ci(0.9) == r.ci(0.9, method="normal")


def test_ci_bad_method_and_missing_batches_raise():
    r = qt.MonteCarloResult(mean=1.0, stderr=0.1, n=100, std=1.0)
    with pytest.raises(qt.InvalidArgument, match=r"MonteCarloResult\.ci: method="):
        r.ci(0.95, method="bootstrap")
    with pytest.raises(qt.InvalidArgument, match="needs at least 20 batches"):
        r.ci(0.95, method="subsample")
    with pytest.raises(qt.InvalidArgument, match=r"MonteCarloResult\.ci: level="):
        r.ci("0.95")
