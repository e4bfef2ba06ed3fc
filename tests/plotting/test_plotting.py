"""``quanttheory.plotting``: smoke tests of the figures, no pixel snapshots.

Each test checks what a figure is made of -- the number and kind of artists,
their labels and units, and that the plotted data are the theory's numbers
(compared with the engine at a stated tolerance) -- and that saving works
for PNG, SVG and PDF (recognised by their magic bytes). Drawing must leave
global state alone: rcParams, pyplot's figure list and the random state.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure

import quanttheory as qt
from quanttheory import plotting
from quanttheory._registry import unit_variance

ROOT = Path(__file__).resolve().parents[2]
MAGIC = {
    "png": lambda b: b.startswith(b"\x89PNG\r\n\x1a\n"),
    "pdf": lambda b: b.startswith(b"%PDF-"),
    "svg": lambda b: b.lstrip().startswith(b"<?xml") and b"<svg" in b[:2000],
}


def labelled_lines(ax):
    """Lines with a visible label (leading '_' hides one from legends)."""
    return [ln for ln in ax.get_lines() if not ln.get_label().startswith("_")]


def legend_texts(ax) -> list[str]:
    leg = ax.get_legend()
    return [] if leg is None else [t.get_text() for t in leg.get_texts()]


def lines_labelled(ax, suffix: str):
    return [ln for ln in ax.get_lines() if ln.get_label().endswith(suffix)]


# ---------------------------------------------------------------------------
# the public namespace
# ---------------------------------------------------------------------------
def test_exports_follow_all():
    tree = ast.parse((ROOT / "quanttheory" / "plotting" / "__init__.py").read_text())
    bound = {
        (a.asname or a.name)
        for node in tree.body
        if isinstance(node, ast.ImportFrom)
        for a in node.names
    }
    assert set(plotting.__all__) == bound
    assert all(callable(getattr(plotting, n)) for n in plotting.__all__)
    assert not [n for n in plotting.__all__ if n.startswith("_")]


def test_import_does_not_load_matplotlib():
    code = (
        "import sys, quanttheory, quanttheory.plotting, quanttheory._cli.plot\n"
        "print('matplotlib' in sys.modules)"
    )
    res = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    assert res.stdout.strip() == "False"


# ---------------------------------------------------------------------------
# global state
# ---------------------------------------------------------------------------
def _pyplot_fignums():
    plt = sys.modules.get("matplotlib.pyplot")
    return None if plt is None else list(plt.get_fignums())


@pytest.mark.parametrize(
    "draw",
    [
        lambda: plotting.plot_mse_curves(
            "gaussian", 2, num=5, monte_carlo=100, mc_points=2, rng=0
        ),
        lambda: plotting.plot_sensitivity(
            "uniform", 2, monte_carlo=100, mc_points=2, rng=0
        ),
        lambda: plotting.plot_bitwidth("gaussian", [2, 3], reference_bits=2),
        lambda: plotting.plot_tensor(np.arange(50.0), 2, num=4, fits=["gaussian"]),
    ],
    ids=["mse", "sensitivity", "bitwidth", "tensor"],
)
def test_no_global_state_is_touched(draw):
    rc_before = dict(matplotlib.rcParams)
    figs_before = _pyplot_fignums()
    # the legacy global generator must not be touched: read it the legacy way
    np_state = np.random.get_state()[1].copy()  # noqa: NPY002
    fig = draw()
    assert isinstance(fig, Figure)
    assert dict(matplotlib.rcParams) == rc_before
    assert _pyplot_fignums() == figs_before  # None: pyplot never imported
    np.testing.assert_array_equal(np.random.get_state()[1], np_state)  # noqa: NPY002


def test_style_is_a_context():
    before = matplotlib.rcParams["axes.spines.top"]
    with plotting.style():
        assert matplotlib.rcParams["axes.spines.top"] is False
    assert matplotlib.rcParams["axes.spines.top"] == before


# ---------------------------------------------------------------------------
# plot_mse_curves
# ---------------------------------------------------------------------------
def test_mse_curves_artists_and_data():
    fig = plotting.plot_mse_curves(
        ["uniform", "gaussian", "laplace"],
        3,
        num=30,
        monte_carlo=20_000,
        mc_points=3,
        rng=1,
    )
    (ax,) = fig.axes
    assert ax.get_yscale() == "log"
    assert ax.get_xlabel() == r"step / optimal step  $\Delta/\tilde\Delta$"
    assert ax.get_ylabel() == r"MSE  [$\sigma^2$]"
    assert "3-bit" in ax.get_title()
    assert "unit variance" in ax.get_title()
    exact = lines_labelled(ax, " exact")
    additive = lines_labelled(ax, " additive")
    assert len(exact) == len(additive) == 3
    bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert len(bars) == 3
    texts = legend_texts(ax)
    assert texts[:3] == [
        r"uniform ($\kappa=1.8$)",
        r"gaussian ($\kappa=3$)",
        r"laplace ($\kappa=6$)",
    ]
    assert "additive-noise model" in texts
    assert any(t.startswith("Monte Carlo") for t in texts)
    # the curves are the engine's numbers (same call: equal to rounding)
    for line, law in zip(exact, ["uniform", "gaussian", "laplace"], strict=True):
        x, y = line.get_data()
        dist = unit_variance(law)
        d0 = qt.optimal_step(dist, 3)
        np.testing.assert_allclose(y, qt.mse(dist, x * d0, 3), rtol=1e-12)
        # the optimum sits at x = 1, where the curve is lowest
        assert x[np.argmin(y)] == 1.0


def test_mse_curves_absolute_axis_and_distribution_objects():
    dist = qt.Gaussian(2.0)
    fig = plotting.plot_mse_curves([dist], 4, relative=False, num=10, additive=False)
    (ax,) = fig.axes
    assert ax.get_xlabel() == r"step $\Delta$  [input units]"
    assert ax.get_ylabel() == r"MSE  [input units$^2$]"
    assert lines_labelled(ax, " additive") == []
    (line,) = lines_labelled(ax, " exact")
    x, _ = line.get_data()
    d0 = qt.optimal_step(dist, 4)
    # geometric grid over span (0.5, 2): the ends are 0.5 and 2 optimal steps
    np.testing.assert_allclose([x[0], x[-1]], [0.5 * d0, 2.0 * d0], rtol=1e-12)


def test_mse_curves_monte_carlo_is_reproducible():
    def points(seed):
        fig = plotting.plot_mse_curves(
            "laplace", 2, num=5, monte_carlo=5_000, mc_points=2, rng=seed
        )
        (c,) = fig.axes[0].containers
        return c.lines[0].get_ydata()

    np.testing.assert_array_equal(points(3), points(3))
    assert not np.array_equal(points(3), points(4))


def test_mse_curves_draws_on_given_axes():
    fig = Figure()
    ax = fig.add_subplot()
    assert plotting.plot_mse_curves("uniform", 2, num=5, ax=ax) is fig
    assert len(fig.axes) == 1
    assert len(ax.get_lines()) > 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dists": "cauchy"}, "law 'cauchy' is not one of"),
        ({"dists": []}, "dists is empty"),
        ({"span": (1.2, 2.0)}, "0 < low < 1 < high"),
        ({"span": 3}, "must be a pair"),
        ({"num": 1}, "num=1 must be an integer >= 3"),
        ({"monte_carlo": 1}, "monte_carlo=1"),
        ({"bits": 0}, "bits=0"),
        ({"variance": -1.0}, "variance=-1.0"),
        ({"dists": [object()]}, "is not a quanttheory distribution"),
    ],
)
def test_mse_curves_rejects_bad_arguments(kwargs, match):
    with pytest.raises(qt.InvalidArgument, match=match):
        plotting.plot_mse_curves(**{"dists": "gaussian", "num": 5, **kwargs})


# ---------------------------------------------------------------------------
# plot_sensitivity
# ---------------------------------------------------------------------------
# the figure and this test evaluate Lemma 1's value over the whole plotted
# range, beyond its validity radius on purpose (the warning is tested in
# tests/api/test_sensitivity.py)
@pytest.mark.filterwarnings("ignore::quanttheory.TaylorRangeWarning")
def test_sensitivity_curves_are_lemma1_and_exact():
    laws = ["uniform", "gaussian", "laplace"]
    fig = plotting.plot_sensitivity(laws, 4, monte_carlo=20_000, mc_points=4, rng=0)
    (ax,) = fig.axes
    assert ax.get_xlabel() == (
        r"step error  $\varepsilon=\Delta-\tilde\Delta$  [$\sigma$]"
    )
    assert ax.get_ylabel() == r"$\Gamma(X,\varepsilon)$  [$\sigma^2$]"
    assert ax.get_ylim()[0] == 0.0
    for law in laws:
        dist = unit_variance(law)
        d0 = qt.optimal_step(dist, 4)
        (taylor,) = lines_labelled(ax, f"{law} Taylor")
        (exact,) = lines_labelled(ax, f"{law} exact")
        e, g = taylor.get_data()
        # Lemma 1 line: |D''| eps^2 / 2, one-sided for the uniform law
        np.testing.assert_allclose(g, qt.sensitivity(dist, 4, e), rtol=1e-12)
        e, g = exact.get_data()
        np.testing.assert_allclose(
            g, qt.sensitivity(dist, 4, e, taylor=False), rtol=1e-9, atol=1e-17
        )
        assert min(abs(e)) < 1e-12
        assert e[0] == -e[-1]
        assert 0.5 * d0 > e[-1] > 0
    bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert len(bars) == 3
    # the paired Monte Carlo agrees with the exact change (6 SE: 12 points)
    for bar, law in zip(bars, laws, strict=True):
        dist = unit_variance(law)
        x, y = bar.lines[0].get_data()
        seg = bar.lines[2][0].get_segments()
        se = np.array([(s[1][1] - s[0][1]) / 4.0 for s in seg])
        exact = qt.sensitivity(dist, 4, x, taylor=False)
        assert np.all(np.abs(y - exact) <= 6 * se + 1e-15)


def test_sensitivity_marks_the_uniform_kink():
    # 4 bits: optimum 2a/17, kink 2a/15, eps = 4a/255 (seed Lemmas 2-3)
    a = 3**0.5
    fig = plotting.plot_sensitivity("uniform", 4, monte_carlo=0)
    (ax,) = fig.axes
    (text,) = [t for t in ax.texts if "kink" in t.get_text()]
    assert text.get_text() == r" kink $\Delta=2a/(2^M-1)$"
    assert text.get_position()[0] == pytest.approx(4 * a / 255, rel=1e-12)
    assert "threshold crosses a density jump" in legend_texts(ax)
    # no kink for smooth laws, none in a range that excludes it
    fig = plotting.plot_sensitivity("gaussian", 4, monte_carlo=0)
    assert not [t for t in fig.axes[0].texts if "kink" in t.get_text()]
    fig = plotting.plot_sensitivity("uniform", 4, eps=[-0.01, 0.01], monte_carlo=0)
    assert not [t for t in fig.axes[0].texts if "kink" in t.get_text()]


def test_sensitivity_relative_axis():
    fig = plotting.plot_sensitivity("uniform", 3, relative=True, monte_carlo=0)
    (ax,) = fig.axes
    assert ax.get_xlabel() == r"relative step error  $\varepsilon/\tilde\Delta$"
    assert ax.get_xlim() == pytest.approx((-0.3, 0.3))
    # kink at 2a/(2^M-1) is 2/(2^M-1) of the optimum 2a/(2^M+1) away
    (text,) = [t for t in ax.texts if "kink" in t.get_text()]
    assert text.get_position()[0] == pytest.approx(2 / 7, rel=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"eps": [0.1]}, "at least two finite values"),
        ({"eps": [0.0, np.nan]}, "at least two finite values"),
        ({"eps": [-10.0, 0.1]}, "non-positive"),
        ({"mc_points": 0}, "mc_points=0"),
    ],
)
def test_sensitivity_rejects_bad_arguments(kwargs, match):
    with pytest.raises(qt.InvalidArgument, match=match):
        plotting.plot_sensitivity("gaussian", 3, **{"monte_carlo": 0, **kwargs})


# ---------------------------------------------------------------------------
# plot_bitwidth
# ---------------------------------------------------------------------------
def test_bitwidth_panels_and_data():
    fig = plotting.plot_bitwidth(["uniform", "laplace"], [2, 3, 4])
    assert len(fig.axes) == 3
    assert [ax.get_xlabel() for ax in fig.axes] == [r"bit-width $M$  [bits]"] * 3
    mse_ax, sqnr_ax, clip_ax = fig.axes
    assert mse_ax.get_yscale() == "log"
    assert sqnr_ax.get_ylabel() == "SQNR  [dB]"
    assert legend_texts(mse_ax) == [r"uniform ($\kappa=1.8$)", r"laplace ($\kappa=6$)"]
    u = unit_variance("uniform")
    (line,) = [ln for ln in clip_ax.get_lines() if ln.get_label() == "uniform"]
    # Lemma 3: the clip 2^(M-1) * 2a/(2^M+1) = a 2^M/(2^M+1), a = sqrt(3)
    m = np.array([2, 3, 4])
    np.testing.assert_allclose(line.get_ydata(), 3**0.5 * 2**m / (2**m + 1), rtol=1e-12)
    (line,) = [ln for ln in sqnr_ax.get_lines() if ln.get_label() == "uniform"]
    # SQNR at the optimum: 10 log10(E[X^2] / (D^2/12)), D = 2a/(2^M+1)
    d = 2 * u.a / (2**m + 1)
    np.testing.assert_allclose(line.get_ydata(), 10 * np.log10(12 / d**2), rtol=1e-12)


def test_bitwidth_reference_panel():
    fig = plotting.plot_bitwidth("gaussian", range(2, 6), reference_bits=3)
    assert len(fig.axes) == 4
    ax = fig.axes[3]
    assert ax.get_ylabel() == "MSE excess  [%]"
    (line,) = [ln for ln in ax.get_lines() if ln.get_label() == "gaussian"]
    y = line.get_ydata()
    # zero excess at the calibration width itself: left out of the log axis
    assert np.isnan(y[1])
    assert np.all(y[[0, 2, 3]] > 0)


def test_bitwidth_on_given_axes_and_errors():
    fig = Figure()
    axs = fig.subplots(1, 3)
    assert plotting.plot_bitwidth("uniform", [1, 2], ax=axs) is fig
    with pytest.raises(qt.InvalidArgument, match="a sequence of 4 Axes"):
        plotting.plot_bitwidth("uniform", [1, 2], reference_bits=1, ax=axs)
    with pytest.raises(qt.InvalidArgument, match="at least two bit-widths"):
        plotting.plot_bitwidth("uniform", [4])


# ---------------------------------------------------------------------------
# plot_tensor
# ---------------------------------------------------------------------------
def test_tensor_panels():
    w = np.random.default_rng(5).laplace(scale=0.05, size=(64, 32))
    fig = plotting.plot_tensor(w, 3, num=15, name="w")
    hist_ax, mse_ax = fig.axes
    assert hist_ax.get_xlabel() == "value  [input units]"
    assert hist_ax.get_ylabel() == "density  [1/input units]"
    assert hist_ax.get_title().startswith("w: mean")
    texts = legend_texts(hist_ax)
    assert texts[0] == "w (2,048 values)"
    assert [t for t in texts if "fit" in t] == [
        r"gaussian fit ($\kappa=3$)",
        r"laplace fit ($\kappa=6$)",
        r"uniform fit ($\kappa=1.8$)",
    ]
    d0 = qt.optimal_step(qt.Empirical(w), 3)
    assert any(t.startswith("9 levels") and f"{d0:.4g}" in t for t in texts)
    assert mse_ax.get_yscale() == "log"
    (emp,) = [ln for ln in mse_ax.get_lines() if "empirical" in ln.get_label()]
    x, y = emp.get_data()
    np.testing.assert_allclose(y, qt.mse(qt.Empirical(w), x, 3), rtol=1e-12)
    assert x[np.argmin(y)] == d0


def test_tensor_log_axis_and_no_fits():
    w = np.random.default_rng(1).standard_t(4, size=3000)
    fig = plotting.plot_tensor(w, 8, fits=(), log=True, num=5)
    hist_ax, mse_ax = fig.axes
    assert hist_ax.get_yscale() == "log"
    assert hist_ax.get_ylim()[0] > 0
    assert not [t for t in legend_texts(hist_ax) if "fit" in t]
    assert len(mse_ax.get_lines()) == 3  # curve, optimum, its vertical line


@pytest.mark.parametrize(
    ("x", "kwargs", "match"),
    [
        (np.ones(10), {}, "constant"),
        ([1.0, np.nan], {}, "non-finite"),
        (np.arange(10.0), {"fits": ["cauchy"]}, "law 'cauchy'"),
        (np.arange(10.0), {"bins": 1}, "bins=1"),
    ],
)
def test_tensor_rejects_bad_input(x, kwargs, match):
    with pytest.raises(qt.InvalidArgument, match=match):
        plotting.plot_tensor(x, 3, **kwargs)


# ---------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["png", "svg", "pdf"])
def test_figures_save_as_valid_files(tmp_path, fmt):
    fig = plotting.plot_mse_curves("gaussian", 2, num=5)
    path = tmp_path / f"f.{fmt}"
    fig.savefig(path)
    data = path.read_bytes()
    assert len(data) > 1000
    assert MAGIC[fmt](data)
