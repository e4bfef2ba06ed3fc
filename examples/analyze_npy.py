"""Analyse an array of weights loaded from a .npy file.

Loads the array, treats its values as an empirical law
(``quanttheory.Empirical``) and reports its moments, the exact optimal step
for each level scheme with the MSE and SQNR there, the step sensitivity, and
how much MSE is lost by taking the step from a fitted Gaussian, Laplace or
uniform law instead of from the data. The figure shows the histogram with
the fitted laws and the quantizer levels, and the empirical MSE curve.

Without an input file the script makes a stand-in: a 256 x 256 matrix with
Student-t(5) rows of different scales (kurtosis about 9), saved to a
temporary .npy file and loaded back like any other.

Usage::

    python examples/analyze_npy.py [weights.npy] [--bits 4] [--out FILE.png]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

import quanttheory as qt
from quanttheory import plotting

DEFAULT_DIR = Path(tempfile.gettempdir()) / "quanttheory-figures"
FITS = {
    "gaussian": qt.Gaussian.with_variance,
    "laplace": qt.Laplace.with_variance,
    "uniform": qt.Uniform.with_variance,
}


def stand_in(path: Path, rng=0) -> Path:
    """Write a heavy-tailed 256 x 256 'weight matrix' to ``path`` (.npy)."""
    gen = np.random.default_rng(rng)
    rows = gen.standard_t(5, size=(256, 256)) * gen.uniform(0.5, 1.5, (256, 1))
    np.save(path, (0.02 * rows).astype(np.float32))
    return path


def analyse(w: np.ndarray, bits: int) -> dict:
    """The numbers the script prints, as a dict (used by the docs too)."""
    x = qt.Empirical(w)
    out = {
        "shape": w.shape,
        "dtype": str(w.dtype),
        "n": x.n,
        "mean": x.mean,
        "std": x.std,
        "kurtosis": x.kurtosis,
        "schemes": {},
        "fits": {},
    }
    for scheme in qt.SCHEMES:
        d0 = qt.optimal_step(x, bits, scheme=scheme)
        out["schemes"][scheme] = {
            "step": d0,
            "clip": qt.clipping_level(d0, bits, scheme),
            "mse": qt.mse(x, d0, bits, scheme=scheme),
            "sqnr_db": qt.sqnr_db(x, d0, bits, scheme=scheme),
        }
    d0 = out["schemes"]["paper"]["step"]
    best = out["schemes"]["paper"]["mse"]
    out["rise_5pct"] = [qt.mse(x, d0 * f, bits) / best - 1 for f in (0.95, 1.05)]
    for name, make in FITS.items():
        d_fit = qt.optimal_step(make(x.variance), bits)
        out["fits"][name] = {"step": d_fit, "excess": qt.mse(x, d_fit, bits) / best - 1}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", nargs="?", help=".npy file (default: a stand-in)")
    parser.add_argument("--bits", type=int, default=4, help="bit-width (default 4)")
    parser.add_argument("-o", "--out", help="figure file (.png, .svg or .pdf)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.input) if args.input else stand_in(Path(tmp) / "stand-in.npy")
        w = np.load(path, allow_pickle=False)
    r = analyse(w, args.bits)
    print(f"{path.name}: shape {r['shape']}, {r['dtype']}, {r['n']} values")
    print(
        f"mean {r['mean']:.4g}, std {r['std']:.4g}, kurtosis {r['kurtosis']:.3f} "
        "(Gaussian 3, Laplace 6, uniform 1.8)"
    )
    print(f"\n{args.bits}-bit optimum per scheme (exact, on the data):")
    print(f"{'scheme':<10} {'step':>10} {'clip':>10} {'MSE':>11} {'SQNR [dB]':>9}")
    for scheme, s in r["schemes"].items():
        print(
            f"{scheme:<10} {s['step']:10.4g} {s['clip']:10.4g} {s['mse']:11.4e} "
            f"{s['sqnr_db']:9.2f}"
        )
    lo, hi = r["rise_5pct"]
    print(f"\nMSE rise for a -5 % / +5 % step error: {lo:.1%} / {hi:.1%}")
    print("\nstep from a fitted law (same variance), scored on the data:")
    for name, f in r["fits"].items():
        print(
            f"  {name:<9} step {f['step']:.4g}: MSE {f['excess']:+.1%} over the optimum"
        )
    out = Path(args.out) if args.out else DEFAULT_DIR / "analyze_npy.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    plotting.plot_tensor(w, args.bits, name=path.name, log=True).savefig(out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
