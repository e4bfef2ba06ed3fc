"""The table formatter of every table the package prints.

:func:`format_table` renders a header and rows of cells as aligned plain
text, a GitHub-flavoured Markdown table, CSV or a JSON object. The command
line (``quanttheory table``, ``quanttheory verify``) and the result tables of
:mod:`quanttheory.torch` all go through it.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from .checks import check_choice
from .errors import InvalidArgument

__all__ = ["FORMATS", "escape_markdown", "format_table"]

#: The output formats of :func:`format_table`.
FORMATS = ("text", "md", "csv", "json")
#: Space between two columns of the text format.
_GAP = "  "


def escape_markdown(text: str, chars: str = "|") -> str:
    r"""``text`` with a backslash before each character of ``chars``.

    Parameters
    ----------
    text : str
        Cell or line of Markdown.
    chars : str
        The characters to escape: ``"|"`` keeps a cell inside its column,
        ``"|*"`` also keeps a ``*`` from starting emphasis.

    Returns
    -------
    str

    Examples
    --------
    >>> from quanttheory._core.table import escape_markdown
    >>> print(escape_markdown("|x| * 2", "|*"))
    \|x\| \* 2
    """
    for ch in chars:
        text = text.replace(ch, "\\" + ch)
    return text


def _per_column(func: str, name: str, value, n: int) -> list:
    """One entry of a per-column option for each of ``n`` columns."""
    values = list(value)
    if len(values) != n:
        raise InvalidArgument(
            f"{func}: {name} has {len(values)} entries for {n} columns"
        )
    return values


def _text(v, spec: str) -> str:
    """A cell as text: floats with ``spec``, None as ''."""
    if v is None:
        return ""
    if isinstance(v, float | np.floating):
        return format(float(v), spec)
    return str(v)


def _csv_text(v) -> str:
    """A cell for CSV: floats at full precision (``repr``), None as ''."""
    if v is None:
        return ""
    if isinstance(v, float | np.floating):
        return repr(float(v))
    return str(v)


def _json_value(v):
    """A cell for JSON: NaN as null, infinities as "inf" and "-inf"."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None if math.isnan(v) else ("inf" if v > 0 else "-inf")
    if isinstance(v, tuple):
        return list(v)
    return v


def _is_number(s: str) -> bool:
    """Whether a text cell reads as a number (empty, nan and inf included)."""
    if s in ("", "nan", "inf", "-inf"):
        return True
    try:
        float(s)
    except ValueError:
        return False
    return True


def format_table(
    header: Sequence[str],
    rows: Iterable[Sequence],
    fmt: str = "text",
    *,
    align: str | Sequence[str | None] | None = None,
    floatfmt: str | Sequence[str | None] = "g",
    max_width: int | Sequence[int | None] | None = None,
    breaks: Iterable[int] = (),
    escape: str = "|",
    meta: Mapping | None = None,
) -> str:
    r"""Render a table as plain text, Markdown, CSV or JSON.

    Cells may be strings (written as they are), ``None`` (an empty cell, or
    ``null`` in JSON), floats (formatted with ``floatfmt``; full precision in
    CSV and JSON) or anything else (``str(value)``; JSON keeps ints, bools
    and lists as they are).

    Parameters
    ----------
    header : sequence of str
        Column titles (the keys of each row object in JSON).
    rows : iterable of sequence
        One sequence of ``len(header)`` cells per row.
    fmt : {'text', 'md', 'csv', 'json'}
        ``'text'``: columns padded to their widest cell and separated by two
        spaces, a rule of dashes under the titles, trailing spaces removed.
        ``'md'``: a GitHub-flavoured Markdown table, cells stripped and
        escaped. ``'csv'``: a header line, then one line per row, ``\n`` line
        ends. ``'json'``: an object, indented by 2, with the rows as objects
        under ``"rows"``.
    align : str or sequence of {'<', '>', None}, optional
        ``'<'`` (left) or ``'>'`` (right): one character for every column,
        or one per column (a sequence, or a string such as ``'<>>'``).
        ``None`` (default, also per column) right-aligns a text column whose
        cells all read as numbers and left-aligns the others, and writes no
        alignment marker (``---``) in Markdown.
    floatfmt : str or sequence of str or None
        Format specification of float cells in text and Markdown, for every
        column or one per column (``None`` for the default ``'g'``).
    max_width : int or sequence of int or None, optional
        Text only: the widest a column may be; longer cells (titles
        included) are cut to it. One for every column or one per column
        (``None``: no limit).
    breaks : iterable of int
        Text only: indices of the rows that an empty line precedes (to
        separate groups of rows).
    escape : str
        Markdown only: characters that get a backslash in titles and cells;
        ``'|'`` keeps each cell in its column.
    meta : mapping, optional
        JSON only: the other fields of the object, in order. The rows go
        under ``"rows"``: at the place of a ``"rows"`` key of ``meta`` (its
        value is replaced), else last.

    Returns
    -------
    str
        The table, ending with a newline.

    Raises
    ------
    InvalidArgument
        For an unknown ``fmt``, a row whose length differs from the header's,
        or a per-column option with the wrong number of entries.

    Examples
    --------
    >>> from quanttheory._core.table import format_table
    >>> header = ["law", "M", "step"]
    >>> rows = [["uniform", 4, 0.2037662], ["gaussian", 4, 0.3352], ["t3", 8, None]]
    >>> print(format_table(header, rows, floatfmt=".4f", breaks=[2]), end="")
    law       M    step
    --------  -  ------
    uniform   4  0.2038
    gaussian  4  0.3352
    <BLANKLINE>
    t3        8
    >>> print(format_table(header, rows, "md", align="<>>", floatfmt=".4f"), end="")
    | law | M | step |
    |:---|---:|---:|
    | uniform | 4 | 0.2038 |
    | gaussian | 4 | 0.3352 |
    | t3 | 8 |  |
    >>> print(format_table(header, rows, "csv"), end="")
    law,M,step
    uniform,4,0.2037662
    gaussian,4,0.3352
    t3,8,
    >>> print(format_table(["x", "y"], [[1.0, float("nan")]], "json",
    ...                    meta={"what": "demo"}), end="")
    {
      "what": "demo",
      "rows": [
        {
          "x": 1.0,
          "y": null
        }
      ]
    }

    Per-column options: a width cap cuts long cells, a float format per
    column, ``None`` where the default applies.

    >>> rows = [["a-very-long-name", 1.5e-14, 1e-12], ["b", 3.0, 1.0]]
    >>> print(format_table(["check", "error", "tol"], rows, max_width=[8, None, None],
    ...                    floatfmt=[None, ".2e", ".1e"], align="<"), end="")
    check     error     tol
    --------  --------  -------
    a-very-l  1.50e-14  1.0e-12
    b         3.00e+00  1.0e+00
    """
    func = "format_table"
    check_choice(func, "fmt", fmt, FORMATS)
    header = [str(h) for h in header]
    n = len(header)
    rows = [list(r) for r in rows]
    for i, r in enumerate(rows):
        if len(r) != n:
            raise InvalidArgument(f"{func}: row {i} has {len(r)} cells for {n} columns")
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(header)
        writer.writerows([_csv_text(v) for v in r] for r in rows)
        return buf.getvalue()
    if fmt == "json":
        records = [
            {h: _json_value(v) for h, v in zip(header, r, strict=True)} for r in rows
        ]
        doc = {**(meta or {}), "rows": records}
        return json.dumps(doc, indent=2, allow_nan=False) + "\n"
    if align is None or len(align) == 1:
        aligns = [align or None] * n
    else:
        aligns = _per_column(func, "align", align, n)
    if any(a not in ("<", ">", None) for a in aligns):
        raise InvalidArgument(f"{func}: align={align!r}: use '<', '>' or None")
    specs = [floatfmt] * n if isinstance(floatfmt, str) else floatfmt
    specs = ["g" if s is None else s for s in _per_column(func, "floatfmt", specs, n)]
    cells = [[_text(v, s) for v, s in zip(r, specs, strict=True)] for r in rows]
    if fmt == "md":
        marks = {None: "---", "<": ":---", ">": "---:"}
        lines = ["| " + " | ".join(escape_markdown(h, escape) for h in header) + " |"]
        lines.append("|" + "|".join(marks[a] for a in aligns) + "|")
        lines += [
            "| " + " | ".join(escape_markdown(c.strip(), escape) for c in r) + " |"
            for r in cells
        ]
        return "\n".join(lines) + "\n"
    if max_width is None or isinstance(max_width, int):
        caps = [max_width] * n
    else:
        caps = _per_column(func, "max_width", max_width, n)
    widths = [max([len(h), *(len(r[j]) for r in cells)]) for j, h in enumerate(header)]
    widths = [
        w if cap is None else min(w, cap) for w, cap in zip(widths, caps, strict=True)
    ]
    right = [
        a == ">" or (a is None and bool(cells) and all(_is_number(r[j]) for r in cells))
        for j, a in enumerate(aligns)
    ]

    def line(values):
        return _GAP.join(
            v[:w].rjust(w) if r else v[:w].ljust(w)
            for v, w, r in zip(values, widths, right, strict=True)
        ).rstrip()

    lines = [line(header), line(["-" * w for w in widths])]
    gaps = set(breaks)
    for i, r in enumerate(cells):
        if i in gaps:
            lines.append("")
        lines.append(line(r))
    return "\n".join(lines) + "\n"
