"""Sensitivity curves for the uniform, Gaussian and Laplace laws (Lemma 1).

Left: Gamma(X, eps) at 4 bits and unit variance -- Lemma 1's Taylor value
|MSE''| eps^2 / 2, the exact change of the MSE and Monte Carlo -- with the
uniform law's kink at step 2a/(2^M - 1). Right: the curvature MSE'' that
decides Gamma, against the bit-width, at each law's exact optimum and at the
seed's approximate uniform optimum 2a/2^M (a = sqrt(3)).

At the exact optimum the uniform law is the *most* sensitive (curvature
2^(M-1)); only at the approximate point 2a/2^M is its curvature (1/2) the
smallest. The script prints both columns.

Usage::

    python examples/sensitivity_curves.py [--out FILE.png] [--bits 4]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path

import quanttheory as qt
from quanttheory import plotting

DEFAULT_DIR = Path(tempfile.gettempdir()) / "quanttheory-figures"
LAWS = {
    "uniform": qt.Uniform.with_variance(1.0),
    "gaussian": qt.Gaussian(1.0),
    "laplace": qt.Laplace.with_variance(1.0),
}
COLORS = {"uniform": "#0072B2", "gaussian": "#D55E00", "laplace": "#009E73"}


def curvatures(bits):
    """MSE'' (left limit) at each law's optimum and at 2a/2^M, per bit-width."""
    a = math.sqrt(3.0)
    at_opt = {name: [] for name in LAWS}
    at_approx = {name: [] for name in LAWS}
    for m in bits:
        for name, dist in LAWS.items():
            d0 = qt.optimal_step(dist, m)
            at_opt[name].append(qt.mse_derivative(dist, d0, m, 2, side=-1))
            at_approx[name].append(qt.mse_derivative(dist, 2 * a / 2**m, m, 2, side=-1))
    return at_opt, at_approx


def figure(bits=4, curvature_bits=range(2, 9), rng=0):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    at_opt, at_approx = curvatures(curvature_bits)
    with plotting.style():
        fig = Figure(figsize=(12.5, 4.6), layout="constrained")
        FigureCanvasAgg(fig)
        left, right = fig.subplots(1, 2, width_ratios=[1.25, 1])
        plotting.plot_sensitivity(list(LAWS), bits, rng=rng, ax=left)
        ms = list(curvature_bits)
        for name in LAWS:
            right.plot(
                ms,
                at_opt[name],
                "o-",
                color=COLORS[name],
                label=rf"{name}, at its optimum $\tilde\Delta$",
            )
            right.plot(
                ms,
                at_approx[name],
                "s--",
                color=COLORS[name],
                mfc="white",
                lw=1.3,
                label=rf"{name}, at $\Delta = 2a/2^M$",
            )
        right.set_yscale("log", base=2)
        right.set_xticks(ms)
        right.set_xlabel(r"bit-width $M$  [bits]")
        right.set_ylabel(
            r"curvature $\partial^2\mathrm{MSE}/\partial\Delta^2$"
            "  [dimensionless]"
        )
        right.set_title("Curvature at unit variance: where it is taken matters")
        right.legend(loc="upper left", fontsize=8)
    return fig


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--out", help="figure file (.png, .svg or .pdf)")
    parser.add_argument("--bits", type=int, default=4, help="bit-width of the curves")
    args = parser.parse_args(argv)
    bits = range(2, 9)
    at_opt, at_approx = curvatures(bits)
    print("MSE'' at unit variance (left limit), at each law's optimum | at 2a/2^M")
    print(
        f"{'M':>2}  "
        + "  ".join(f"{n:>9}" for n in LAWS)
        + "  |  "
        + "  ".join(f"{n:>9}" for n in LAWS)
    )
    for i, m in enumerate(bits):
        print(
            f"{m:>2}  "
            + "  ".join(f"{at_opt[n][i]:9.4f}" for n in LAWS)
            + "  |  "
            + "  ".join(f"{at_approx[n][i]:9.4f}" for n in LAWS)
        )
    most = all(
        at_opt["uniform"][i] > max(at_opt["gaussian"][i], at_opt["laplace"][i])
        for i in range(len(bits))
    )
    least = all(
        at_approx["uniform"][i] < min(at_approx["gaussian"][i], at_approx["laplace"][i])
        for i in range(len(bits))
    )
    print(
        f"uniform most curved at the exact optimum: {most}; "
        f"least curved at 2a/2^M: {least}"
    )
    print("\nRelative MSE rise for a -5 % / +5 % step error (exact, unit variance)")
    print(f"{'M':>2}  " + "  ".join(f"{n:>15}" for n in LAWS))
    for m in bits:
        cells = []
        for dist in LAWS.values():
            d0 = qt.optimal_step(dist, m)
            best = qt.mse(dist, d0, m)
            lo, hi = qt.mse(dist, [0.95 * d0, 1.05 * d0], m) / best - 1
            cells.append(f"{lo:7.1%} /{hi:6.1%}")
        print(f"{m:>2}  " + "  ".join(f"{c:>15}" for c in cells))
    d0 = qt.optimal_step(LAWS["uniform"], args.bits)
    radius = 4 * math.sqrt(3.0) / (4**args.bits - 1)
    print(
        f"uniform, M={args.bits}: optimum {d0:.6f}, kink radius 4a/(4^M-1) = "
        f"{radius:.6f} ({radius / d0:.1%} of the step)"
    )
    out = Path(args.out) if args.out else DEFAULT_DIR / "sensitivity_curves.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    figure(args.bits).savefig(out)
    print(f"wrote {out}")
    return 0 if (most and least) else 1


if __name__ == "__main__":
    sys.exit(main())
