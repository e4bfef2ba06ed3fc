"""The exact MSE engine against independent 40-digit mpmath reference values.

The reference values live in ``tests/reference/mse_reference.json``; they were
produced by ``tests/reference/generate_mse_reference.py`` (closed-form
antiderivatives per cell, mpmath at 60 digits, cross-checked against
``mpmath.quad``), which does not use any ``quanttheory`` code.  See the JSON's
``provenance`` block for the date, precision and self-check results.
"""

from __future__ import annotations

import functools
import importlib.util
import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
import scipy.stats
from mpmath import mp

import quanttheory as qt

REFERENCE_DIR = Path(__file__).resolve().parents[1] / "reference"
REFERENCE = json.loads((REFERENCE_DIR / "mse_reference.json").read_text())
CASES = REFERENCE["cases"]

# Exact engine vs 40-digit mpmath (issue requirement).
RTOL_EXACT = 1e-10


def _load_generator():
    """The generator module, for its mpmath MSE (used for the Lemma-3 check)."""
    path = REFERENCE_DIR / "generate_mse_reference.py"
    spec = importlib.util.spec_from_file_location("_mse_reference_generator", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_dist(family: str, params: dict[str, float]):
    return _make_dist_cached(family, tuple(sorted(params.items())))


@functools.cache
def _make_dist_cached(family: str, items: tuple[tuple[str, float], ...]):
    # One instance per family for the whole module: the generic (scipy) route
    # does a one-off ~0.5 s setup per instance, which would otherwise dominate.
    params = dict(items)
    if family == "uniform":
        return qt.Uniform(params["a"])
    if family == "gaussian":
        return qt.Gaussian(sigma=params["sigma"])
    if family == "laplace":
        return qt.Laplace(b=params["b"])
    if family == "student_t":
        # Student-t goes through the generic scipy route on purpose.
        return qt.from_scipy(scipy.stats.t(params["df"], scale=params["scale"]))
    raise ValueError(family)


def _group_cases():
    groups: dict[tuple[str, str, int], list[dict]] = defaultdict(list)
    for case in CASES:
        groups[(case["family"], case["scheme"], case["bits"])].append(case)
    return groups


GROUPS = _group_cases()


def _group_param(key):
    family, scheme, bits = key
    return pytest.param(key, id=f"{family}-{scheme}-{bits}bit")


# ---------------------------------------------------------------------------
# the reference file itself
# ---------------------------------------------------------------------------


def test_reference_file_is_complete_and_well_formed():
    prov = REFERENCE["provenance"]
    assert prov["uses_quanttheory"] is False
    assert prov["mp_dps"] >= 60
    families = {"uniform", "gaussian", "laplace", "student_t"}
    schemes = {"paper", "midrise", "signed", "symmetric"}
    bits_all = {1, 2, 3, 4, 5, 6, 8, 10, 12, 16}
    expected_keys = {
        (f, s, b)
        for f in families
        for s in schemes
        for b in bits_all
        if not (s == "symmetric" and b == 1)
    }
    assert set(GROUPS) == expected_keys
    for case in CASES:
        step = float(case["step"])
        # The stored step is a double; its exact decimal expansion must agree.
        assert Decimal(step) == Decimal(case["step_exact"])
        assert step > 0
        digits = case["mse"].split("e")[0].replace(".", "").replace("-", "").lstrip("0")
        assert len(digits) >= 40, case
    for key, group in GROUPS.items():
        steps = sorted(float(c["step"]) for c in group)
        # Steps span rough_opt/8 .. 8*rough_opt (issue requirement).
        assert steps[-1] / steps[0] == pytest.approx(64.0, rel=1e-12), key


# ---------------------------------------------------------------------------
# engine vs reference
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("key", [_group_param(k) for k in sorted(GROUPS)])
def test_mse_matches_mpmath_reference(key):
    family, scheme, bits = key
    group = GROUPS[key]
    dist = make_dist(family, group[0]["params"])
    steps = np.array([float(c["step"]) for c in group])
    expected = np.array([float(c["mse"]) for c in group])
    got = np.asarray(qt.mse(dist, steps, bits, scheme=scheme))
    assert got.shape == steps.shape
    # rtol 1e-10: exact engine vs 40-digit mpmath (issue requirement).
    np.testing.assert_allclose(got, expected, rtol=RTOL_EXACT, atol=0)


@pytest.mark.parametrize(
    ("family", "scheme", "bits"),
    [
        ("gaussian", "paper", 4),
        ("laplace", "midrise", 3),
        ("uniform", "signed", 5),
        ("student_t", "symmetric", 2),
    ],
)
def test_scalar_step_returns_float(family, scheme, bits):
    case = next(c for c in GROUPS[(family, scheme, bits)] if c["factor"] == 1.0)
    got = qt.mse(
        make_dist(family, case["params"]), float(case["step"]), bits, scheme=scheme
    )
    assert isinstance(got, float)
    # rtol 1e-10: exact engine vs 40-digit mpmath (issue requirement).
    assert got == pytest.approx(float(case["mse"]), rel=RTOL_EXACT, abs=0)


# ---------------------------------------------------------------------------
# Uniform(1), "paper": the optimum is 2 / (2^M + 1) and the MSE there is step^2/12
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("bits", range(1, 13))
def test_uniform_paper_optimal_step_is_2_over_2m_plus_1(bits):
    exact = 2.0 / (2**bits + 1)
    step = qt.optimal_step(qt.Uniform(1.0), bits, scheme="paper")
    # rtol 1e-12: Newton converges to machine precision; Lemma 3's valid root.
    assert step == pytest.approx(exact, rel=1e-12, abs=0)
    # The MSE is stationary at the optimum (checked in mpmath: both one-sided
    # slopes vanish), so a 1e-12 step error moves it by ~1e-24 only; rtol 1e-10
    # is the exact-engine-vs-mpmath requirement.
    got = qt.mse(qt.Uniform(1.0), step, bits, scheme="paper")
    assert got == pytest.approx(exact**2 / 12, rel=RTOL_EXACT, abs=0)


@pytest.mark.parametrize("bits", range(1, 13))
def test_uniform_paper_mse_at_optimum_is_step_squared_over_12_in_mpmath(bits):
    gen = _load_generator()
    with mp.workdps(60):
        step = mp.mpf(2) / (2**bits + 1)
        value = gen.mse_mp("uniform", {"a": 1.0}, "paper", bits, step)
        rel = abs(value - step**2 / 12) / (step**2 / 12)
        # 60-digit arithmetic, at most ~7 digits lost to cancellation at 12 bits
        # (the generator's digits_lost bound), so 1e-45 is a safe "exactly".
        assert rel < mp.mpf(10) ** -45
