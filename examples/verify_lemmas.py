"""Verify the seed's Lemmas 1-3 for the uniform law, and draw where they hold.

For X ~ U[-a, a] and the paper's M-bit quantizer (levels k*step, |k| <= 2^(M-1)):

* Lemma 2: MSE = (a - 2^(M-1) step)^3 / (3a) + 2^M step^3 / (24a). The seed
  states it for 2^(M-1) step <= a; it is in fact exact up to the kink
  step = 2a/(2^M - 1), where the outermost decision threshold reaches a.
* Lemma 3: the roots of dMSE/dstep are 2a/(2^M + 1) (the optimum, where
  MSE = step^2/12) and 2a/(2^M - 1), a local maximum of the cubic sitting
  exactly at the kink: the spurious root.
* Lemma 1: Gamma = |MSE''| eps^2 / 2 with MSE'' = 2^(M-1) at the optimum.

Each claim is checked against the engine (exact cell sums) and Monte Carlo;
the script prints a table and exits with status 1 if a check fails. The
figure shows the exact MSE, Lemma 2's cubic and their curvatures for M = 3.
The full report is ``quanttheory verify``.

Usage::

    python examples/verify_lemmas.py [--out FILE.png] [--bits 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

import quanttheory as qt
from quanttheory.plotting import style

DEFAULT_DIR = Path(tempfile.gettempdir()) / "quanttheory-figures"


def lemma2(a, step, bits):
    """The seed's closed form (typed in from the paper, not from the engine)."""
    step = np.asarray(step, dtype=float)
    return (a - 2 ** (bits - 1) * step) ** 3 / (3 * a) + 2**bits * step**3 / (24 * a)


def lemma2_curvature(a, step, bits):
    """Second step derivative of Lemma 2's cubic."""
    step = np.asarray(step, dtype=float)
    tau = 2 ** (bits - 1) * step
    return 2 * 4 ** (bits - 1) * (a - tau) / a + 2**bits * step / (4 * a)


def checks(a=1.0, bits=range(2, 7), rng=0):
    """Rows ``(claim, measured error, tolerance, passed)``."""
    u = qt.Uniform(a)
    gen = np.random.default_rng(rng)
    rows = []

    def row(claim, err, tol):
        rows.append((claim, float(err), tol, bool(err <= tol)))

    def rel(x, y):
        return float(np.max(np.abs(np.asarray(x) / np.asarray(y) - 1)))

    for m in bits:
        opt, kink = 2 * a / (2**m + 1), 2 * a / (2**m - 1)
        # Lemma 2 on its true domain, up to and including the kink
        steps = np.linspace(0.02, 1.0, 50) * kink
        row(
            f"M={m} Lemma 2 exact for step <= 2a/(2^M-1)",
            rel(qt.mse(u, steps, m), lemma2(a, steps, m)),
            1e-12,
        )
        past = 1.05 * kink
        gap = rel(lemma2(a, past, m), qt.mse(u, past, m))
        row(f"M={m} Lemma 2 fails past the kink (gap {gap:.2f})", 1e-3 / gap, 1.0)
        # Lemma 3: the optimum, and the other root
        row(f"M={m} Lemma 3 optimum 2a/(2^M+1)", rel(qt.optimal_step(u, m), opt), 1e-12)
        row(
            f"M={m} MSE at optimum = step^2/12",
            rel(qt.mse(u, opt, m), opt**2 / 12),
            1e-12,
        )
        slope = qt.mse_derivative(u, kink, m, side=-1)
        left = qt.mse_derivative(u, kink, m, 2, side=-1)
        row(
            f"M={m} 2a/(2^M-1): slope 0, left curvature -2^(M-1)",
            abs(slope) + rel(left, -(2 ** (m - 1))),
            1e-9,
        )
        # Lemma 1: the curvature, and what Taylor misses
        curv = qt.mse_derivative(u, opt, m, 2)
        row(
            f"M={m} curvature at optimum = 2^(M-1) = {2 ** (m - 1)}",
            rel(curv, 2 ** (m - 1)),
            1e-10,
        )
        # Inside the kink the MSE is a cubic, so Taylor misses exactly the
        # third-order term d3 eps^3 / 6, with d3 = (2^M / 4 - 2 K^3) / a.
        d3 = (2**m / 4 - 2 * (2 ** (m - 1)) ** 3) / a
        eps = np.array([-0.01, 0.01]) * opt
        with warnings.catch_warnings():
            # deliberately beyond the radius where the second-order value is
            # good to 10 % (qt.taylor_radius): this row shows that the cubic
            # term is exactly what Lemma 1 misses there
            warnings.simplefilter("ignore", qt.TaylorRangeWarning)
            tay = qt.sensitivity(u, m, eps)
        exact = qt.sensitivity(u, m, eps, taylor=False)
        row(
            f"M={m} Lemma 1 + cubic term = exact at eps = -/+1% step",
            rel(tay + d3 * eps**3 / 6, exact),
            1e-8,
        )
        # Monte Carlo at the optimum: |MC - step^2/12| in standard errors
        r = qt.monte_carlo_mse(u, opt, m, n=400_000, rng=gen)
        row(
            f"M={m} Monte Carlo = step^2/12 (in SE)",
            abs(r.mean - opt**2 / 12) / r.stderr,
            4.5,
        )
    return rows


def figure(a=1.0, bits=3):
    """Exact MSE and Lemma 2's cubic, and their curvatures, against the step."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    u = qt.Uniform(a)
    opt, kink, seed_end = (
        2 * a / (2**bits + 1),
        2 * a / (2**bits - 1),
        a / 2 ** (bits - 1),
    )
    steps = np.linspace(0.35 * opt, 1.8 * kink, 600)
    with style():
        fig = Figure(figsize=(11, 4.2), layout="constrained")
        FigureCanvasAgg(fig)
        ax1, ax2 = fig.subplots(1, 2)
        ax1.plot(steps / a, qt.mse(u, steps, bits), color="#0072B2", label="exact MSE")
        ax1.plot(
            steps / a,
            lemma2(a, steps, bits),
            color="#D55E00",
            ls="--",
            label="Lemma 2 cubic",
        )
        ax2.plot(
            steps / a,
            qt.mse_derivative(u, steps, bits, 2, side=-1),
            color="#0072B2",
            label="exact MSE'' (left limit)",
        )
        ax2.plot(
            steps / a,
            lemma2_curvature(a, steps, bits),
            color="#D55E00",
            ls="--",
            label="cubic's second derivative",
        )
        for ax in (ax1, ax2):
            ax.axvspan(
                steps[0] / a,
                seed_end / a,
                color="0.9",
                zorder=0,
                label=r"seed's domain $2^{M-1}\Delta\leq a$",
            )
            ax.axvline(kink / a, color="0.3", ls=":", lw=1.2)
            ax.text(
                kink / a,
                0.98,
                r" kink $2a/(2^M-1)$: Lemma 2 ends",
                transform=ax.get_xaxis_transform(),
                va="top",
                fontsize=8.5,
            )
            ax.set_xlabel(r"step $\Delta$  [$a$]")
        ax1.plot(
            opt / a,
            qt.mse(u, opt, bits),
            "o",
            color="#0072B2",
            mec="white",
            ms=8,
            label=r"optimum $2a/(2^M+1)$, MSE $=\Delta^2/12$",
        )
        ax1.plot(
            kink / a,
            lemma2(a, kink, bits),
            "s",
            color="#D55E00",
            mfc="white",
            ms=7,
            label=r"spurious root $2a/(2^M-1)$ (local max)",
        )
        ax1.set_ylim(0, 1.6 * float(qt.mse(u, steps[-1], bits)))
        ax1.set_ylabel(r"MSE  [$a^2$]")
        ax1.set_title(f"Lemmas 2 and 3, uniform law, M = {bits}")
        ax1.legend(loc="upper right", bbox_to_anchor=(1.0, 0.92))
        c_opt = 2 ** (bits - 1)
        ax2.plot(
            opt / a,
            c_opt,
            "o",
            color="#0072B2",
            mec="white",
            ms=8,
            label=rf"curvature $2^{{M-1}}={c_opt}$ at the optimum",
        )
        ax2.plot(
            kink / a,
            -c_opt,
            "s",
            color="#D55E00",
            mfc="white",
            ms=7,
            label=rf"$-2^{{M-1}}={-c_opt}$ at the spurious root",
        )
        ax2.axhline(0, color="0.3", lw=0.6)
        ax2.set_ylabel(r"$\partial^2\mathrm{MSE}/\partial\Delta^2$  [dimensionless]")
        ax2.set_title("Lemma 1's curvature")
        ax2.legend(loc="lower left")
    return fig


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--out", help="figure file (.png, .svg or .pdf)")
    parser.add_argument("--bits", type=int, default=3, help="bit-width of the figure")
    args = parser.parse_args(argv)
    rows = checks()
    width = max(len(r[0]) for r in rows)
    print(f"{'claim':<{width}}  {'error':>9}  {'tolerance':>9}  result")
    for claim, err, tol, ok in rows:
        print(f"{claim:<{width}}  {err:9.2e}  {tol:9.1e}  {'pass' if ok else 'FAIL'}")
    failed = sum(not r[3] for r in rows)
    print(f"{len(rows) - failed} passed, {failed} failed")
    out = Path(args.out) if args.out else DEFAULT_DIR / "verify_lemmas.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    figure(bits=args.bits).savefig(out)
    print(f"wrote {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
