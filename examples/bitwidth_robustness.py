"""Bit-width robustness: how the optimum moves with the number of bits.

For the uniform, Gaussian, Laplace and Student-t(3) laws at unit variance the
figure shows, against the bit-width M, the optimal MSE, the SQNR, the optimal
clipping level and the MSE excess when the clip calibrated at 4 bits is kept
at every other bit-width -- the distribution-level version of the KURE
paper's bit-width robustness experiment. The script also prints the worst
MSE excess when the optimal step is rounded to the nearest power of two (the
paper's Table 5 setting: accelerators that only support such steps). Where
the optimum falls between two powers of two depends on the scale, so the
worst case, a step off by a factor sqrt(2) either way, is the scale-free
number.

Usage::

    python examples/bitwidth_robustness.py [--out FILE.png] [--reference-bits 4]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import scipy.stats as st

import quanttheory as qt
from quanttheory import plotting

DEFAULT_DIR = Path(tempfile.gettempdir()) / "quanttheory-figures"
BITS = range(2, 9)


def laws():
    """The four laws at unit variance (t3 = Student-t with 3 degrees of freedom)."""
    return {
        "uniform": qt.Uniform.with_variance(1.0),
        "gaussian": qt.Gaussian(1.0),
        "laplace": qt.Laplace.with_variance(1.0),
        "t3": qt.from_scipy(st.t(3, scale=3**-0.5)),
    }


def table(dists, reference_bits):
    """Per law and M: optimal clip, excess with the kept clip, worst 2^k excess."""
    rows = []
    for name, dist in dists.items():
        d_ref = qt.optimal_step(dist, reference_bits)
        clip_ref = qt.clipping_level(d_ref, reference_bits)
        for m in BITS:
            d0 = qt.optimal_step(dist, m)
            best = qt.mse(dist, d0, m)
            kept = qt.mse(dist, clip_ref / 2 ** (m - 1), m)  # 'paper': top level K
            off = qt.mse(dist, [d0 / 2**0.5, d0 * 2**0.5], m).max()
            rows.append(
                (
                    name,
                    m,
                    qt.sqnr_db(dist, d0, m),
                    qt.clipping_level(d0, m),
                    kept / best - 1,
                    off / best - 1,
                )
            )
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--out", help="figure file (.png, .svg or .pdf)")
    parser.add_argument(
        "--reference-bits",
        type=int,
        default=4,
        help="bit-width at which the clip is calibrated",
    )
    args = parser.parse_args(argv)
    ref = args.reference_bits
    dists = laws()
    print("At the optimum, and the MSE excess over it when the clip calibrated at")
    print(f"{ref} bits is kept, or the step is off by a factor sqrt(2) (the worst")
    print("power-of-two rounding); unit variance, 'paper' levels.")
    print(
        f"{'law':<9}{'M':>2}  {'SQNR [dB]':>9}  {'clip [sigma]':>12}  "
        f"{ref}-bit clip kept  step off by sqrt(2)"
    )
    for name, m, sqnr, clip, kept, worst in table(dists, ref):
        print(
            f"{name:<9}{m:>2}  {sqnr:9.2f}  {clip:12.4f}  {kept:16.1%}  {worst:19.1%}"
        )
    out = Path(args.out) if args.out else DEFAULT_DIR / "bitwidth_robustness.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    # by name: the registry builds the same unit-variance laws, with fixed colours
    fig = plotting.plot_bitwidth(list(dists), BITS, reference_bits=ref)
    fig.savefig(out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
