"""Result tables: dataclass rows rendered as dicts, CSV, Markdown, text or JSON.

No pandas. Every result class of the torch bridge derives from
:class:`Table`, which needs only ``rows`` (a list of dataclass instances) and
the class attribute ``columns`` (the column names in display order).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
from collections.abc import Iterator, Sequence

__all__ = ["Table"]


def format_value(v, digits: int = 6) -> str:
    """Short text for a cell: ``%.{digits}g`` floats, ``4x3`` shapes, '' for None."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        return f"{v:.{digits}g}"
    if isinstance(v, tuple):
        return "x".join(str(int(i)) for i in v) if v else "scalar"
    return str(v)


def _json_value(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None if math.isnan(v) else ("inf" if v > 0 else "-inf")
    if isinstance(v, tuple):
        return list(v)
    return v


class Table:
    """Mixin: ``rows`` of dataclasses plus the column order in ``columns``."""

    rows: list
    columns: tuple[str, ...] = ()
    #: Columns of the compact text and Markdown views (default: all).
    brief_columns: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator:
        return iter(self.rows)

    def __getitem__(self, i):
        return self.rows[i]

    def to_dict(self) -> list[dict]:
        """One dict per row, keys in column order (a list of row dicts)."""
        return [dataclasses.asdict(r) for r in self.rows]

    def _cols(self, columns) -> Sequence[str]:
        if columns is None:
            return self.columns
        if columns == "brief":
            return self.brief_columns or self.columns
        unknown = [c for c in columns if c not in self.columns]
        if unknown:
            raise KeyError(
                f"unknown column {unknown[0]!r}; the columns are {list(self.columns)}"
            )
        return columns

    def to_csv(self, path: str | os.PathLike | None = None, columns=None) -> str:
        """CSV text (full precision, shapes as ``4x3``); also written to ``path``."""
        cols = self._cols(columns)
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(cols)
        for d in self.to_dict():
            w.writerow(
                [
                    repr(d[c]) if isinstance(d[c], float) else format_value(d[c])
                    for c in cols
                ]
            )
        text = buf.getvalue()
        if path is not None:
            with open(path, "w", encoding="utf-8", newline="") as fh:
                fh.write(text)
        return text

    def to_markdown(self, columns=None, digits: int = 4) -> str:
        """A Markdown table (``columns='brief'`` for the compact view)."""
        cols = self._cols(columns)
        lines = ["| " + " | ".join(cols) + " |"]
        lines.append("|" + "|".join("---" for _ in cols) + "|")
        for d in self.to_dict():
            cells = [format_value(d[c], digits).replace("|", "\\|") for c in cols]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"

    def to_text(self, columns="brief", digits: int = 4) -> str:
        """An aligned plain-text table (numbers right-aligned)."""
        cols = self._cols(columns)
        body = [[format_value(d[c], digits) for c in cols] for d in self.to_dict()]
        widths = [max([len(c)] + [len(r[i]) for r in body]) for i, c in enumerate(cols)]
        numeric = [
            all(_is_number(r[i]) for r in body) if body else False
            for i in range(len(cols))
        ]

        def line(cells):
            return "  ".join(
                c.rjust(w) if num else c.ljust(w)
                for c, w, num in zip(cells, widths, numeric, strict=True)
            ).rstrip()

        out = [line(cols), line(["-" * w for w in widths])]
        out += [line(r) for r in body]
        return "\n".join(out) + "\n"

    def to_json(self, **meta) -> str:
        """JSON text: ``meta`` fields, then ``rows`` (NaN as null)."""
        rows = [{k: _json_value(v) for k, v in d.items()} for d in self.to_dict()]
        doc = {**meta, "rows": rows}
        return json.dumps(doc, indent=2, allow_nan=False) + "\n"


def _is_number(s: str) -> bool:
    if s in ("", "nan", "inf", "-inf"):
        return True
    try:
        float(s)
    except ValueError:
        return False
    return True
