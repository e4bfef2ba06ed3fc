r"""The ``quanttheory`` command line.

``main(argv)`` parses the arguments with one :mod:`argparse` subparser per
command and returns the exit status. Each command is a
``_cmd_<name>(args, out)`` function that writes to ``out``, so that commands
are easy to add and to test in-process.

Exit status
-----------
One policy for every command (:mod:`quanttheory._cli.args`): 0 on success;
1 when ``verify`` found a failed check; 2 for a usage error, reported in one
line on standard error: bad arguments (those the engine rejects included),
an input that cannot be read, an output file that cannot be written or that
is a special file (a directory, device, pipe or socket). Every usage error is
raised as :class:`~quanttheory._cli.args.UsageError` and printed by
:func:`~quanttheory._cli.args.usage_exit`.

Commands
--------
``table``
    For the uniform, Gaussian and Laplace laws at unit variance and each
    bit-width: the optimal step :math:`\tilde\Delta`, the clipping level, the
    MSE and SQNR at :math:`\tilde\Delta`, the curvature
    :math:`\partial^2\mathrm{MSE}/\partial\Delta^2` there, and the relative
    MSE rise for a step error of :math:`\pm 5\,\%`, and the validity
    radius of Lemma 1's Taylor value on each side
    (:func:`~quanttheory.taylor_radius`); a ``!`` marks the curvature of the
    rows where a 5 % step error lies beyond it.

Standard output
---------------
Every command writes its result to standard output through a guard: a write
that fails (``quanttheory table > /dev/full``) is a usage error, one line and
exit status 2; a reader that goes away (``quanttheory table | head``) ends
the command quietly with status 0.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import textwrap

from .. import __version__
from .._core.checks import MODELS
from .._core.errors import QuantTheoryError
from .._core.quantizer import clipping_level
from .._core.scheme import SCHEMES
from .._core.table import escape_markdown, format_table
from .._laws.gaussian import Gaussian
from .._laws.laplace import Laplace
from .._laws.uniform import Uniform
from .._mse import mse, mse_derivative
from .._optimal import optimal_step
from .._sensitivity import TAYLOR_RTOL, sqnr_db, taylor_radius
from . import plot
from .args import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_POLICY,
    MAX_BITS,
    UsageError,
    check_seed,
    output_file,
    parse_bits,
    usage_exit,
    write_text,
)

__all__ = ["main"]

PROG = "quanttheory"
#: Relative step error of the two "rise" columns.
STEP_ERROR = 0.05
#: Curvatures whose left and right values differ by more than this (relative)
#: are reported as a jump.
_JUMP_RTOL = 1e-6
FORMATS = ("text", "csv", "json", "md")
#: Characters escaped in the Markdown table: cell separators and emphasis.
_MD_ESCAPE = "|*"

#: Machine-readable columns of ``table`` (csv and json), with their meaning.
COLUMNS = {
    "law": "distribution family, unit variance",
    "bits": "bit-width M",
    "scheme": "level scheme",
    "model": "MSE model",
    "step": "optimal step (units of sigma)",
    "clip": "clipping level tau+ = largest level at the optimal step (sigma)",
    "mse": "MSE at the optimal step (sigma^2)",
    "sqnr_db": "10 log10(E[X^2] / MSE) (dB)",
    "curvature": "d2MSE/dstep2 at the optimal step, right-side value",
    "curvature_left": "d2MSE/dstep2 at the optimal step, left-side value",
    "rise_minus_5pct": "(MSE(0.95 step) - MSE(step)) / MSE(step)",
    "rise_plus_5pct": "(MSE(1.05 step) - MSE(step)) / MSE(step)",
    "taylor_radius_left": (
        "validity radius of Lemma 1's Taylor value |D''| eps^2/2 for eps < 0, "
        "relative to the step: within it the value is good to 10 % "
        "(quanttheory.taylor_radius)"
    ),
    "taylor_radius_right": (
        "the same for eps > 0 (at most 0.5: the radius is searched up to half the step)"
    ),
}


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises :class:`UsageError` instead of exiting."""

    def error(self, message):
        raise UsageError(f"{message} (see '{self.prog} --help')", prog=self.prog)


def unit_variance_laws():
    r"""The three laws of the table, each with variance 1.

    Returns
    -------
    list of Distribution
        ``Uniform(a=sqrt(3))``, ``Gaussian(sigma=1)``, ``Laplace(b=1/sqrt(2))``.

    Examples
    --------
    >>> from quanttheory._cli import unit_variance_laws
    >>> [(d.name, round(d.variance, 12)) for d in unit_variance_laws()]
    [('uniform', 1.0), ('gaussian', 1.0), ('laplace', 1.0)]
    """
    return [Uniform.with_variance(1.0), Gaussian(1.0), Laplace.with_variance(1.0)]


def table_rows(bits, scheme="paper", model="exact") -> list[dict]:
    r"""The rows of ``quanttheory table`` as dictionaries.

    For each law of :func:`unit_variance_laws` and each bit-width :math:`M`,

    .. math::

        \tilde\Delta = \operatorname*{arg\,min}_\Delta \mathrm{MSE}(X,\Delta),
        \quad \tau_+ = (k_{\max}+o)\tilde\Delta,
        \quad \mathrm{MSE}(X,\tilde\Delta),
        \quad \frac{\partial^2\mathrm{MSE}}{\partial\Delta^2}(\tilde\Delta),
        \quad \frac{\mathrm{MSE}(X,(1\pm0.05)\tilde\Delta)}
        {\mathrm{MSE}(X,\tilde\Delta)} - 1 .

    Parameters
    ----------
    bits : iterable of int
        Bit-widths (``>= 2`` for ``'symmetric'``).
    scheme : {'paper', 'midrise', 'signed', 'symmetric'}
        Level set, see :func:`quanttheory.levels`.
    model : {'exact', 'additive'}
        Every quantity (the optimum included) uses this MSE model.

    Returns
    -------
    list of dict
        One dict per (law, bits), law-major, with the keys of ``COLUMNS``.
        ``curvature`` is the right-side value (``side=+1``) and
        ``curvature_left`` the left-side one; they differ only where a
        decision threshold sits on a jump of the density.
        ``taylor_radius_left`` and ``taylor_radius_right`` are
        :func:`~quanttheory.taylor_radius` divided by the step.

    Raises
    ------
    InvalidArgument
        For an invalid scheme, model or bit-width.

    Examples
    --------
    >>> from quanttheory._cli import table_rows
    >>> r = table_rows([4])[0]
    >>> r["law"], r["bits"], r["scheme"]
    ('uniform', 4, 'paper')
    >>> a = 3 ** 0.5                          # unit variance: a = sqrt(3)
    >>> round(r["step"] / (2 * a / 17), 12)   # Lemma 3: 2a / (2^M + 1)
    1.0
    >>> round(r["mse"] / (r["step"] ** 2 / 12), 12)   # Lemma 3: step^2 / 12
    1.0
    """
    rows = []
    for dist in unit_variance_laws():
        for m in bits:
            step = optimal_step(dist, m, scheme=scheme, model=model)
            kw = {"scheme": scheme, "model": model}
            d0 = mse(dist, step, m, **kw)
            moved = mse(
                dist, [step * (1 - STEP_ERROR), step * (1 + STEP_ERROR)], m, **kw
            )
            left, right = taylor_radius(dist, m, step=step, **kw)
            rows.append(
                {
                    "law": dist.name,
                    "bits": int(m),
                    "scheme": scheme,
                    "model": model,
                    "step": step,
                    "clip": clipping_level(step, m, scheme),
                    "mse": d0,
                    "sqnr_db": sqnr_db(dist, step, m, **kw),
                    "curvature": mse_derivative(dist, step, m, 2, side=1, **kw),
                    "curvature_left": mse_derivative(dist, step, m, 2, side=-1, **kw),
                    "rise_minus_5pct": float((moved[0] - d0) / d0),
                    "rise_plus_5pct": float((moved[1] - d0) / d0),
                    "taylor_radius_left": left / step,
                    "taylor_radius_right": right / step,
                }
            )
    return rows


def _curvature_jumps(row) -> bool:
    right, left = row["curvature"], row["curvature_left"]
    return abs(right - left) > _JUMP_RTOL * max(abs(right), abs(left))


def _beyond_taylor(row) -> bool:
    """A 5 % step error lies beyond the Taylor radius on one side."""
    return min(row["taylor_radius_left"], row["taylor_radius_right"]) < STEP_ERROR


def _notes(rows, skipped) -> list[str]:
    notes = []
    if skipped:
        notes.append(
            f"bits {','.join(map(str, skipped))} skipped: scheme 'symmetric' "
            "needs at least 2 bits."
        )
    if any(r["law"] == "uniform" for r in rows):
        notes.append(
            "* The uniform density jumps at +-a, so d2MSE/dstep2 jumps wherever a "
            "decision threshold crosses +-a; the right-side value is shown. "
            "At the steps listed left and right values agree"
            + (" except where marked +." if any(map(_curvature_jumps, rows)) else ".")
        )
    beyond = [r for r in rows if _beyond_taylor(r)]
    if beyond:
        smallest = min(
            min(r["taylor_radius_left"], r["taylor_radius_right"]) for r in beyond
        )
        notes.append(
            f"! Lemma 1's Taylor value |D''| eps^2/2 is off by more than "
            f"{TAYLOR_RTOL:.0%} for a {STEP_ERROR:.0%} step error here: its validity "
            "radius (quanttheory.taylor_radius; the csv and json columns "
            f"taylor_radius_left/right) is below {STEP_ERROR:.0%} of the step, down "
            f"to {100 * smallest:.2g}% of it, because of a kink of the MSE or a "
            "large third-order term. The rise columns are exact."
        )
    return notes


def _header(scheme, model) -> list[str]:
    return [
        f"Optimal uniform quantization: scheme '{scheme}', model '{model}'.",
        "All laws at unit variance, E[X^2] = sigma^2 = 1: uniform on [-a, a] with",
        "a = sqrt(3), gaussian with sigma = 1, laplace with b = 1/sqrt(2).",
        "Units: step and clip (the largest level tau+) in sigma, MSE in sigma^2,",
        "SQNR in dB, D'' = d2MSE/dstep2 at the optimal step (dimensionless),",
        f"rise-/+5% = relative MSE increase at step*(1 -/+ {STEP_ERROR}).",
    ]


def _fixed_or_sci(values, decimals, sci_digits):
    """Format a column in fixed point if every value fits, else in e-notation.

    Fixed point keeps the decimal points of a column aligned; it is used while
    the smallest nonzero magnitude still shows three significant digits and
    the largest stays below 1e6.
    """
    mags = [abs(v) for v in values if v != 0]
    if mags and min(mags) >= 10.0 ** (2 - decimals) and max(mags) < 1e6:
        return [f"{v:.{decimals}f}" for v in values]
    return [f"{v:.{sci_digits}e}" for v in values]


def _display(rows) -> tuple[list[str], list[list[str]], list[str]]:
    """Column titles, formatted cells and alignment for text and Markdown."""
    titles = [
        "law",
        "M",
        "step",
        "clip",
        "MSE",
        "SQNR[dB]",
        "D''",
        "rise-5%",
        "rise+5%",
    ]
    align = ["<", ">", ">", ">", ">", ">", ">", ">", ">"]
    step = _fixed_or_sci([r["step"] for r in rows], 6, 5)
    clip = _fixed_or_sci([r["clip"] for r in rows], 6, 5)
    curv = _fixed_or_sci([r["curvature"] for r in rows], 4, 5)
    cells = []
    for i, r in enumerate(rows):
        # the marks follow the number, padded to two characters, so that
        # the numbers of the right-aligned column stay aligned
        mark = "!" if _beyond_taylor(r) else ""
        if r["law"] == "uniform":
            mark += "+" if _curvature_jumps(r) else "*"
        cells.append(
            [
                r["law"],
                str(r["bits"]),
                step[i],
                clip[i],
                f"{r['mse']:.4e}",
                f"{r['sqnr_db']:.3f}",
                (curv[i] + mark).ljust(len(curv[i]) + 2),
                f"{100 * r['rise_minus_5pct']:.3f}%",
                f"{100 * r['rise_plus_5pct']:.3f}%",
            ]
        )
    return titles, cells, align


def format_text(rows, scheme, model, notes) -> str:
    """Aligned plain-text table with a header and footnotes.

    An empty line separates the laws; the notes are wrapped at 88 columns.
    """
    titles, cells, align = _display(rows)
    breaks = [i for i in range(1, len(rows)) if rows[i]["law"] != rows[i - 1]["law"]]
    table = format_table(titles, cells, "text", align=align, breaks=breaks)
    text = "\n".join(_header(scheme, model)) + "\n\n" + table
    if notes:
        wrapped = [
            ln for n in notes for ln in textwrap.wrap(n, 88, subsequent_indent="  ")
        ]
        text += "\n" + "\n".join(wrapped) + "\n"
    return text


def format_md(rows, scheme, model, notes) -> str:
    """GitHub-flavoured Markdown table; ``|`` and ``*`` are escaped."""
    titles, cells, align = _display(rows)
    table = format_table(titles, cells, "md", align=align, escape=_MD_ESCAPE)
    text = " ".join(_header(scheme, model)) + "\n\n" + table
    if notes:
        text += "\n" + "\n".join(escape_markdown(n, _MD_ESCAPE) for n in notes) + "\n"
    return text


def format_csv(rows) -> str:
    """CSV with the keys of ``COLUMNS`` as header; floats at full precision."""
    return format_table(list(COLUMNS), _records(rows), "csv")


def format_json(rows, scheme, model, notes) -> str:
    """JSON object: settings, column meanings, rows and notes."""
    meta = {
        "quanttheory": __version__,
        "command": "table",
        "scheme": scheme,
        "model": model,
        "variance": 1.0,
        "columns": COLUMNS,
        "rows": None,  # the place of the rows in the object
        # the "*" and "!" mark text-table cells; JSON rows carry both
        # curvatures and both Taylor radii
        "notes": [n.removeprefix("* ").removeprefix("! ") for n in notes],
    }
    return format_table(list(COLUMNS), _records(rows), "json", meta=meta)


def _records(rows) -> list[list]:
    """The rows of :func:`table_rows` as lists, in the order of ``COLUMNS``."""
    return [[r[k] for k in COLUMNS] for r in rows]


def _cmd_table(args, out) -> int:
    bits = args.bits
    skipped = []
    if args.scheme == "symmetric":
        skipped = [b for b in bits if b < 2]
        bits = [b for b in bits if b >= 2]
        if not bits:
            given = ",".join(map(str, args.bits))
            raise UsageError(
                f"argument --bits: scheme 'symmetric' needs bits >= 2, got {given} "
                f"(see '{PROG} table --help')"
            )
    rows = table_rows(bits, args.scheme, args.model)
    notes = _notes(rows, skipped)
    if args.format == "text":
        text = format_text(rows, args.scheme, args.model, notes)
    elif args.format == "md":
        text = format_md(rows, args.scheme, args.model, notes)
    elif args.format == "json":
        text = format_json(rows, args.scheme, args.model, notes)
    else:
        text = format_csv(rows)
        if skipped:
            print(f"{PROG} table: note: {notes[0]}", file=sys.stderr)
    out.write(text)
    return EXIT_OK


def _cmd_verify(args, out) -> int:
    from .._verify import run, to_markdown, to_text

    if args.report is not None:
        output_file("--report", args.report, (".md", ".markdown"), atomic=True)
    progress = None if args.no_progress else sys.stderr
    rep = run(bits=args.bits, seed=args.seed, quick=args.quick, progress=progress)
    if args.json:
        out.write(json.dumps([c.to_dict() for c in rep.checks], indent=2) + "\n")
    else:
        out.write(to_text(rep) + "\n")
    if args.report is not None:
        write_text("--report", args.report, to_markdown(rep))
        if progress is not None:
            print(f"report written to {os.path.abspath(args.report)}", file=progress)
    return EXIT_OK if rep.passed else EXIT_FAILED


def build_parser(real_analyze: bool = False) -> argparse.ArgumentParser:
    """The argument parser, one subparser per command.

    ``real_analyze`` registers the torch-backed ``analyze`` parser (which
    imports torch); otherwise a light placeholder keeps ``--help`` fast.

    Examples
    --------
    >>> from quanttheory._cli import build_parser
    >>> args = build_parser().parse_args(["table", "--bits", "2,4"])
    >>> args.command, args.bits, args.scheme, args.model, args.format
    ('table', [2, 4], 'paper', 'exact', 'text')
    """
    parser = _Parser(
        prog=PROG,
        description="Analytical theory of uniform quantization (KURE lemmas).",
        epilog=EXIT_POLICY,
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    table = sub.add_parser(
        "table",
        help="optimal step, MSE, SQNR and step sensitivity at unit variance",
        description=(
            "For the uniform, Gaussian and Laplace laws at unit variance and each "
            "number of bits: the optimal step, the clipping level (largest level), "
            "MSE and SQNR at the optimum, the curvature d2MSE/dstep2 there, and "
            "the relative MSE rise for a -5% and a +5% step error."
        ),
    )
    table.add_argument(
        "--bits",
        type=parse_bits,
        default=parse_bits("1-8"),
        metavar="SPEC",
        help=(f"bit-widths: 4, 1-8 or 2,4,8 (1..{MAX_BITS}; default 1-8)."),
    )
    table.add_argument("--scheme", choices=SCHEMES, default="paper", help="level set")
    table.add_argument("--model", choices=MODELS, default="exact", help="MSE model")
    table.add_argument(
        "--format", choices=FORMATS, default="text", help="output format"
    )
    table.set_defaults(func=_cmd_table)

    verify = sub.add_parser(
        "verify",
        help="check Lemmas 1-3 symbolically, against mpmath and by Monte Carlo",
        description=(
            "Run every check of the seed's Lemmas 1-3 and of the same quantities "
            "for the Gaussian, Laplace and Student-t laws: symbolic identities, "
            "the engine against closed forms, 40-digit mpmath and published "
            "tables, and Monte Carlo. Prints one row per check and exits 0 only "
            "if every check passed (1 if one failed, 2 on bad usage)."
        ),
    )
    verify.add_argument(
        "--bits",
        type=parse_bits,
        default=parse_bits("1-8"),
        metavar="SPEC",
        help="bit-widths: 4, 1-8 or 2,4,8 (default 1-8)",
    )
    verify.add_argument(
        "--seed",
        type=check_seed,
        default=0,
        help="seed of the Monte Carlo checks (a non-negative integer)",
    )
    verify.add_argument(
        "--quick", action="store_true", help="fewer points (under 20 s on 2 cores)"
    )
    verify.add_argument(
        "--json", action="store_true", help="print the checks as a JSON list"
    )
    verify.add_argument(
        "--report", metavar="FILE.md", help="also write a Markdown report"
    )
    verify.add_argument(
        "--no-progress", action="store_true", help="no progress lines on stderr"
    )
    verify.set_defaults(func=_cmd_verify)

    plot.add_parser(sub)
    _add_analyze(sub, real=real_analyze)
    return parser


def _add_analyze(sub, real: bool) -> None:
    """Register ``analyze``; torch is imported only when it is the command."""
    if real:
        try:
            from . import analyze
        except ImportError as exc:
            reason = str(exc)
        else:
            analyze.add_parser(sub)
            return
    else:
        reason = ""
    p = sub.add_parser(
        "analyze",
        help="per-layer optimal step, MSE, SQNR and step sensitivity of a "
        "checkpoint (needs PyTorch)",
        add_help=False,
    )
    p.add_argument("rest", nargs=argparse.REMAINDER)

    def no_torch(args, out):
        raise UsageError(
            f"needs PyTorch ({reason}); install it with "
            "pip install 'quanttheory[torch]'"
        )

    p.set_defaults(func=no_torch)


def main(argv=None) -> int:
    """Run the ``quanttheory`` command line and return its exit code.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name; ``None`` means ``sys.argv[1:]``.

    Returns
    -------
    int
        The exit status: 0 on success, 1 if ``verify`` found a failed check,
        2 for a usage error (one line on standard error; see
        :mod:`quanttheory._cli.args`).

    Examples
    --------
    >>> import contextlib, io
    >>> from quanttheory._cli import main
    >>> buf = io.StringIO()
    >>> with contextlib.redirect_stdout(buf):
    ...     code = main(["table", "--bits", "3", "--format", "csv"])
    >>> code, buf.getvalue().splitlines()[0].split(",")[:5]
    (0, ['law', 'bits', 'scheme', 'model', 'step'])
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(real_analyze=bool(argv) and argv[0] == "analyze")
    prog = PROG
    guard = _Stdout(sys.stdout)
    try:
        with contextlib.redirect_stdout(guard):
            args = parser.parse_args(argv)
            prog = f"{PROG} {args.command}"
            code = args.func(args, guard)
            guard.flush()
        return code
    except (UsageError, QuantTheoryError) as exc:
        # a QuantTheoryError is an argument that the engine rejected
        return usage_exit(exc, prog)
    except SystemExit as exc:  # --help and --version exit through argparse
        with contextlib.suppress(_StdoutError, BrokenPipeError):
            guard.flush()
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    except BrokenPipeError:
        # the reader went away (`quanttheory table | head`): not an error of ours
        _silence_stdout()
        return EXIT_OK
    except _StdoutError as exc:
        # e.g. `quanttheory table > /dev/full`: one line, and nothing left in
        # the buffer for the interpreter's final flush to fail on again
        _silence_stdout()
        return usage_exit(UsageError(f"cannot write to standard output ({exc})"), prog)


class _StdoutError(Exception):
    """A write to standard output failed (other than a broken pipe)."""


class _Stdout:
    """Standard output with its write errors turned into :class:`_StdoutError`.

    Every command writes through it (``print`` included, by
    :func:`contextlib.redirect_stdout`); a broken pipe stays a
    :class:`BrokenPipeError`.
    """

    def __init__(self, stream):
        self._stream = stream

    def _call(self, name, *args):
        try:
            return getattr(self._stream, name)(*args)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise _StdoutError(exc.strerror or str(exc)) from None

    def write(self, text):
        return self._call("write", text)

    def writelines(self, lines):
        return self._call("writelines", lines)

    def flush(self):
        return self._call("flush")

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _silence_stdout():
    """Point standard output at the null device, so the final flush is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        pass  # not a real file (tests, embedding): nothing to silence


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
