r"""``quanttheory analyze CHECKPOINT``: per-layer analysis of a checkpoint's weights.

The main command line (``quanttheory._cli``) registers this subcommand with
:func:`add_parser` and dispatches to :func:`run`. Exit status, as for every
command (:mod:`quanttheory._cli.args`): 0 on success, 2 for a usage error
(missing or unreadable file, a non-float weight, NaN weights, no weight at
all, bad options, an ``--out`` that cannot be written or is a special file),
each with one line on standard error. Nothing is written before the whole
analysis has succeeded, and ``--out`` goes through a temporary file that is
renamed into place, so a failed run leaves no partial file.
"""

from __future__ import annotations

import argparse
import inspect
import sys

from .._core.checks import EMPIRICAL_MAX_BITS
from .._core.errors import QuantTheoryError
from .._core.scheme import SCHEMES
from ..torch import NON_FLOAT, analyze
from .args import (
    EXIT_OK,
    UsageError,
    output_file,
    usage_exit,
    write_text,
)

__all__ = ["add_parser", "run"]

PROG = "quanttheory analyze"
FORMATS = ("table", "csv", "json", "md")
#: The default ``--scheme``: that of :func:`quanttheory.torch.analyze`, so
#: the command and the function give the same answer (one default scheme).
DEFAULT_SCHEME = inspect.signature(analyze).parameters["scheme"].default


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None


def _bits(text: str) -> int:
    b = _int(text)
    # the tensors are samples: the empirical engine's limit, the same as
    # optimal_step's for Empirical (one limit for the function and the command)
    if not 1 <= b <= EMPIRICAL_MAX_BITS:
        raise argparse.ArgumentTypeError(
            f"{b} is not in 1..{EMPIRICAL_MAX_BITS} (the most for sample data)"
        )
    return b


def _eps(text: str) -> float:
    try:
        e = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < e < 1:
        raise argparse.ArgumentTypeError(f"{e} is not in (0, 1)")
    return e


def _group_size(text: str) -> int:
    g = _int(text)
    if g < 1:
        raise argparse.ArgumentTypeError(f"{g} is not a positive integer")
    return g


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``analyze`` subcommand to an argparse ``subparsers`` object.

    Examples
    --------
    >>> import argparse
    >>> from quanttheory._cli.analyze import add_parser
    >>> parser = argparse.ArgumentParser(prog="quanttheory")
    >>> _ = add_parser(parser.add_subparsers(dest="command"))
    >>> args = parser.parse_args(["analyze", "model.safetensors", "--bits", "3"])
    >>> args.checkpoint, args.bits, args.scheme, args.format, args.out
    ('model.safetensors', 3, 'paper', 'table', None)
    """
    p = subparsers.add_parser(
        "analyze",
        help="per-layer optimal step, MSE, SQNR and step sensitivity of a checkpoint",
        description=(
            "For every weight tensor (floating, ndim >= 2) of a .safetensors, .pt or "
            ".pth checkpoint: kurtosis, the exact empirical optimal step, MSE and "
            "SQNR there, the step sensitivity Gamma (exact MSE rise for a relative "
            "step error eps), and the optimal steps of the Gaussian, Laplace and "
            "uniform laws of equal variance. Needs PyTorch."
        ),
    )
    p.add_argument("checkpoint", help="a .safetensors, .pt, .pth, .bin or .ckpt file")
    p.add_argument(
        "--bits",
        type=_bits,
        default=4,
        help=f"bit-width, 1..{EMPIRICAL_MAX_BITS} (default 4)",
    )
    p.add_argument(
        "--scheme",
        choices=SCHEMES,
        default=DEFAULT_SCHEME,
        help=f"level set (default {DEFAULT_SCHEME}, as in the Python API)",
    )
    p.add_argument(
        "--eps",
        type=_eps,
        default=0.05,
        help="relative step error of Gamma (default 0.05)",
    )
    p.add_argument("--format", choices=FORMATS, default="table", help="output format")
    p.add_argument("--out", metavar="FILE", help="write to FILE instead of stdout")
    p.add_argument(
        "--per-channel", action="store_true", help="one row per output channel"
    )
    p.add_argument(
        "--group-size",
        type=_group_size,
        default=None,
        metavar="G",
        help=(
            "one row per group of G consecutive values of each output channel "
            "(torchao's PerGroup); tensors whose channels do not split into "
            "whole groups are skipped"
        ),
    )
    p.add_argument(
        "--all-float",
        action="store_true",
        help="also analyse 1-d floating tensors (biases, norm scales)",
    )
    p.add_argument(
        "--non-float",
        choices=NON_FLOAT,
        default="auto",
        help=(
            "non-float tensors: auto (skip integer buffers, error on int8/uint8 "
            "matrices), skip, or error"
        ),
    )
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar (it is drawn on stderr when stderr is a terminal)",
    )
    p.set_defaults(func=run)
    return p


class _Bar:
    """A one-line progress bar on a text stream."""

    def __init__(self, stream, width: int = 30):
        self.stream = stream
        self.width = width
        self.drawn = False

    def __call__(self, i: float, total: int, name: str) -> None:
        # i: tensors done; a float within a tensor (its fraction of rows done)
        frac = i / total if total else 1.0
        fill = round(self.width * frac)
        label = name if len(name) <= 40 else "..." + name[-37:]
        whole = int(i)
        within = f" {round(100 * (i - whole)):>3d}%" if i != whole else "     "
        self.stream.write(
            f"\r{PROG}: [{'#' * fill}{'.' * (self.width - fill)}] "
            f"{whole}/{total}{within} {label:<40}"
        )
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()


def _render(res, fmt: str) -> str:
    if fmt == "csv":
        return res.to_csv()
    if fmt == "json":
        return res.to_json()
    what = "weight tensor(s)"
    if res.group_size is not None:
        what = f"row(s), one per group of {res.group_size} values of a channel"
    elif res.per_channel:
        what = "row(s), one per output channel"
    header = (
        f"{res.source}: {len(res)} {what}, {res.bits} bits, scheme "
        f"'{res.scheme}', Gamma at a relative step error of {res.eps:g}"
    )
    if fmt == "md":
        return f"{header}\n\n" + res.to_markdown(columns="brief")
    text = header + "\n\n" + res.to_text(columns="brief")
    if res.skipped:
        text += (
            f"\nskipped {len(res.skipped)} tensor(s): "
            + ", ".join(n for n, _ in res.skipped[:8])
            + (", ..." if len(res.skipped) > 8 else "")
            + "\n"
        )
    return text


def run(args, out=None) -> int:
    """Run ``quanttheory analyze`` with parsed ``args``; return the exit code.

    ``out`` is the stream for the result when ``--out`` is not given
    (default :data:`sys.stdout`). A usage error prints one line on standard
    error and returns 2.
    """
    out = sys.stdout if out is None else out
    err = sys.stderr
    bar = None
    if not getattr(args, "no_progress", False) and _isatty(err):
        bar = _Bar(err)
    try:
        if args.out is not None:
            output_file("--out", args.out, atomic=True)
        res = analyze(
            args.checkpoint,
            bits=args.bits,
            scheme=args.scheme,
            eps=args.eps,
            per_channel=args.per_channel,
            group_size=getattr(args, "group_size", None),
            all_float=args.all_float,
            non_float=args.non_float,
            progress=bar,
        )
    except (UsageError, QuantTheoryError) as exc:
        if bar is not None:
            bar.close()
        return usage_exit(UsageError(_strip(exc)), PROG)
    if bar is not None:
        bar.close()
    text = _render(res, args.format)
    if args.out is None:
        out.write(text)
        out.flush()
        return EXIT_OK
    try:
        write_text("--out", args.out, text)
    except UsageError as exc:
        return usage_exit(exc, PROG)
    print(f"{PROG}: wrote {len(res)} row(s) to {args.out}", file=err)
    return EXIT_OK


def _strip(exc: BaseException) -> str:
    """The message without the ``analyze:`` that the Python function adds."""
    return str(exc).removeprefix("analyze: ")


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
