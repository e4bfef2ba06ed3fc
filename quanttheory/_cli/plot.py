r"""``quanttheory plot``: draw the figures of :mod:`quanttheory.plotting` to a file.

::

    quanttheory plot {mse,sensitivity,bits,tensor} [--dist LAWS] [--bits SPEC]
                     [--scheme SCHEME] [--input FILE.npy] --out FILE.{png,svg,pdf}

The command line module wires this in with :func:`add_parser` (one
subparser ``plot`` with a sub-command per figure) and dispatches to
:func:`run`, which returns the exit status of :mod:`quanttheory._cli.args`:
0 on success, 2 for a usage error (a bad path, format or argument, one line
on standard error). matplotlib is imported only when a figure is drawn, so
``quanttheory table`` does not pay for it.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

from .. import plotting as qp
from .._core.errors import QuantTheoryError
from .._core.scheme import SCHEMES
from .._empirical.empirical import Empirical
from .._registry import FAMILIES
from ..plotting import style
from .args import (
    EXIT_OK,
    UsageError,
    output_file,
    parse_bits,
    usage_exit,
    write_bytes,
)

__all__ = ["FORMATS", "KINDS", "add_parser", "run"]

#: Output formats, from the suffix of ``--out``.
FORMATS = (".png", ".svg", ".pdf")
#: The figures, with a one-line help each.
KINDS = {
    "mse": "MSE against the step for several laws (exact, additive, Monte Carlo)",
    "sensitivity": "Lemma 1's step sensitivity Gamma(eps): Taylor, exact, Monte Carlo",
    "bits": "optimal MSE, SQNR and clipping level against the bit-width",
    "tensor": "histogram, fitted laws, levels and MSE curve of a tensor (.npy)",
}
_PROG = "quanttheory plot"


# ---------------------------------------------------------------------------
# argument types (argparse turns ArgumentTypeError into a usage error)
# ---------------------------------------------------------------------------
def _laws(spec: str) -> list[str]:
    """``uniform,gaussian`` -> ``['uniform', 'gaussian']`` (registry names)."""
    out: list[str] = []
    for raw in spec.split(","):
        name = raw.strip().lower()
        if name not in FAMILIES:
            names = ",".join(FAMILIES)
            raise argparse.ArgumentTypeError(
                f"dist={spec!r}: {raw.strip()!r} is not one of {names}"
            )
        if name not in out:
            out.append(name)
    return out


def _samples(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if n < 0 or n == 1:
        raise argparse.ArgumentTypeError(f"{n} must be 0 (none) or at least 2")
    return n


def _int_at_least(minimum: int):
    def parse(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if n < minimum:
            raise argparse.ArgumentTypeError(f"{n} must be an integer >= {minimum}")
        return n

    return parse


# ---------------------------------------------------------------------------
# parser
# ---------------------------------------------------------------------------
def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``plot`` command to ``subparsers``.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        What ``ArgumentParser.add_subparsers()`` returned.

    Returns
    -------
    argparse.ArgumentParser
        The ``plot`` parser. Every figure sub-command sets ``func`` to a
        callable ``func(args, out=None) -> int`` that calls :func:`run`.

    Examples
    --------
    >>> import argparse
    >>> from quanttheory._cli.plot import add_parser
    >>> parser = argparse.ArgumentParser(prog="quanttheory")
    >>> _ = add_parser(parser.add_subparsers(dest="command"))
    >>> args = parser.parse_args(["plot", "sensitivity", "--out", "s.png"])
    >>> args.kind, args.dist, args.bits, args.scheme
    ('sensitivity', ['uniform', 'gaussian', 'laplace'], [4], 'paper')
    """
    plot = subparsers.add_parser(
        "plot",
        help="draw a figure of the theory to a PNG, SVG or PDF file",
        description=(
            "Draw a figure of the theory to a file; the format follows the "
            "suffix of --out (.png, .svg or .pdf)."
        ),
    )
    kinds = plot.add_subparsers(dest="kind", metavar="KIND", required=True)
    for kind, text in KINDS.items():
        p = kinds.add_parser(kind, help=text, description=text + ".")
        default_dist = (
            "gaussian,laplace,uniform"
            if kind == "tensor"
            else (
                "uniform,gaussian,laplace,t3"
                if kind == "bits"
                else "uniform,gaussian,laplace"
            )
        )
        p.add_argument(
            "--out",
            required=True,
            metavar="FILE",
            help="output file: .png, .svg or .pdf (the directory must exist)",
        )
        p.add_argument(
            "--dist",
            type=_laws,
            default=_laws(default_dist),
            metavar="LAWS",
            help=(
                "comma-separated laws at unit variance, from "
                f"{','.join(FAMILIES)} (default {default_dist}"
                + ("; the laws fitted to the tensor)" if kind == "tensor" else ")")
            ),
        )
        if kind == "bits":
            p.add_argument(
                "--bits",
                type=parse_bits,
                default=parse_bits("2-8"),
                metavar="SPEC",
                help="bit-widths: 2-8 or 2,4,8 (default 2-8)",
            )
            p.add_argument(
                "--reference-bits",
                type=_int_at_least(0),
                default=4,
                metavar="M",
                help=(
                    "add the robustness panel for a clip calibrated at M bits "
                    "(default 4; 0 leaves it out)"
                ),
            )
        else:
            p.add_argument(
                "--bits",
                type=parse_bits,
                default=[4],
                metavar="M",
                help="bit-width (default 4)",
            )
        p.add_argument(
            "--scheme",
            choices=SCHEMES,
            default="paper",
            help="level set (default paper)",
        )
        if kind == "tensor":
            p.add_argument(
                "--input",
                required=True,
                metavar="FILE",
                help="the tensor: a .npy file, or a .npz file with one array",
            )
            p.add_argument("--key", default=None, help="array name inside a .npz file")
            p.add_argument(
                "--log", action="store_true", help="logarithmic density axis"
            )
        if kind in ("mse", "sensitivity"):
            default_mc = 100_000 if kind == "mse" else 200_000
            p.add_argument(
                "--mc",
                type=_samples,
                default=default_mc,
                metavar="N",
                help=f"Monte Carlo samples per point, 0 for none (default "
                f"{default_mc})",
            )
            p.add_argument(
                "--seed", type=int, default=0, help="Monte Carlo seed (default 0)"
            )
            p.add_argument(
                "--relative",
                action=argparse.BooleanOptionalAction,
                default=(kind == "mse"),
                help=(
                    "horizontal axis relative to the optimal step (default: "
                    + ("yes" if kind == "mse" else "no, absolute in sigma")
                    + ")"
                ),
            )
        p.add_argument(
            "--dpi",
            type=_int_at_least(1),
            default=150,
            help="resolution of a PNG (default 150)",
        )
        p.set_defaults(func=_dispatch, kind=kind)
    return plot


def _dispatch(args, out=None) -> int:
    """``func`` of the sub-commands, in the ``func(args, out)`` convention."""
    return run(args)


# ---------------------------------------------------------------------------
# running
# ---------------------------------------------------------------------------
def _load_tensor(text: str, key):
    import numpy as np

    path = Path(text)
    if not path.is_file():
        raise UsageError(f"--input {text}: no such file")
    suffix = path.suffix.lower()
    if suffix not in (".npy", ".npz"):
        raise UsageError(f"--input {text}: expected a .npy or .npz file")
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(
            f"--input {text}: cannot read it as {suffix} ({first})"
        ) from None
    if suffix == ".npz":
        with data:
            names = list(data.files)
            if key is None:
                if len(names) != 1:
                    raise UsageError(
                        f"--input {text}: holds {len(names)} arrays "
                        f"({', '.join(names) or 'none'}); choose one with --key"
                    )
                key = names[0]
            if key not in names:
                raise UsageError(
                    f"--input {text}: has no array {key!r} ({', '.join(names)})"
                )
            data = data[key]
    arr = np.asarray(data)
    if not (
        np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
    ):
        raise UsageError(f"--input {text}: dtype {arr.dtype} is not numeric")
    try:
        emp = Empirical(arr)
    except QuantTheoryError as exc:
        raise UsageError(f"--input {text}: {exc}") from None
    if emp.variance == 0:
        raise UsageError(
            f"--input {text}: all {emp.n} values are equal (constant data)"
        )
    return emp


def _draw(args):
    bits = args.bits
    if args.kind != "bits" and len(bits) != 1:
        raise UsageError(f"--bits: plot {args.kind} takes one bit-width, got {bits}")
    if args.kind == "mse":
        return qp.plot_mse_curves(
            args.dist,
            bits[0],
            scheme=args.scheme,
            relative=args.relative,
            monte_carlo=args.mc,
            rng=args.seed,
        )
    if args.kind == "sensitivity":
        return qp.plot_sensitivity(
            args.dist,
            bits[0],
            scheme=args.scheme,
            relative=args.relative,
            monte_carlo=args.mc,
            rng=args.seed,
        )
    if args.kind == "bits":
        if len(bits) < 2:
            raise UsageError(
                f"--bits: plot bits needs at least two bit-widths, got {bits}"
            )
        ref = args.reference_bits or None
        return qp.plot_bitwidth(args.dist, bits, scheme=args.scheme, reference_bits=ref)
    x = _load_tensor(args.input, args.key)
    return qp.plot_tensor(
        x,
        bits[0],
        scheme=args.scheme,
        fits=args.dist,
        log=args.log,
        name=Path(args.input).name,
    )


def run(args) -> int:
    """Draw the figure that ``args`` describe and write it to ``args.out``.

    Parameters
    ----------
    args : argparse.Namespace
        As parsed by the parser of :func:`add_parser`.

    Returns
    -------
    int
        0 on success; 2 (a usage error) for a bad output path or format, an
        output that is a special file or cannot be written, an unreadable
        ``--input`` or arguments that the engine rejects, after one line on
        standard error.
    """
    try:
        out = output_file("--out", args.out, FORMATS, atomic=True)
        fig = _draw(args)
        # rendered in memory, then written atomically (write_bytes): a failed
        # write leaves no partial figure, and a symbolic link is written
        # through to its target
        buf = io.BytesIO()
        with style():  # save-time settings too (reproducible SVG ids)
            fig.savefig(buf, format=out.suffix[1:].lower(), dpi=args.dpi)
        write_bytes("--out", args.out, buf.getvalue())
    except (UsageError, QuantTheoryError) as exc:
        return usage_exit(exc, f"{_PROG} {args.kind}")
    print(f"wrote {out}")
    return EXIT_OK
