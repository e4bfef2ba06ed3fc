"""Argument types shared by the subcommands of the command line."""

from __future__ import annotations

import argparse

__all__ = ["MAX_BITS", "parse_bits"]

#: Largest bit-width that ``--bits`` accepts.
MAX_BITS = 32


def parse_bits(spec: str) -> list[int]:
    r"""Parse a bit-width list such as ``"4"``, ``"1-8"`` or ``"2,4,8"``.

    Items are separated by commas; each is an integer or an ascending range
    ``lo-hi`` (both ends included). The result is sorted, without duplicates.

    Parameters
    ----------
    spec : str
        The ``--bits`` argument.

    Returns
    -------
    list of int
        Bit-widths, each in ``1..32``.

    Raises
    ------
    argparse.ArgumentTypeError
        For an empty item, a non-integer, a descending range, or a bit-width
        outside ``1..32``; the message names the offending item.

    Examples
    --------
    >>> from quanttheory._cli.args import parse_bits
    >>> parse_bits("1-4,8")
    [1, 2, 3, 4, 8]
    >>> parse_bits("8,2,2")
    [2, 8]
    >>> parse_bits("8-1")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: bits='8-1': range 8-1 is descending; write 1-8
    """
    out: set[int] = set()
    for raw in spec.split(","):
        item = raw.strip()
        lo_s, dash, hi_s = item.partition("-")
        try:
            lo = int(lo_s)
            hi = int(hi_s) if dash else lo
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"bits={spec!r}: {item!r} is not an integer or a range lo-hi "
                "(examples: 4, 1-8, 2,4,8)"
            ) from None
        if lo > hi:
            raise argparse.ArgumentTypeError(
                f"bits={spec!r}: range {item} is descending; write {hi}-{lo}"
            )
        for b in (lo, hi):
            if not 1 <= b <= MAX_BITS:
                raise argparse.ArgumentTypeError(
                    f"bits={spec!r}: {b} is outside 1..{MAX_BITS}"
                )
        out.update(range(lo, hi + 1))
    return sorted(out)
