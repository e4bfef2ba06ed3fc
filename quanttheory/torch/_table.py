"""Result tables: dataclass rows rendered as dicts, CSV, Markdown, text or JSON.

No pandas. Every result class of the torch bridge derives from
:class:`Table`, which needs only ``rows`` (a list of dataclass instances) and
the class attribute ``columns`` (the column names in display order). The
text, Markdown, CSV and JSON views are those of
:func:`quanttheory._core.table.format_table`, the formatter of every table of
the package.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Sequence

from .._core.table import format_table

__all__ = ["Table"]


def _cell(v):
    """A cell for text, Markdown and CSV: a shape tuple as ``4x3`` or ``scalar``."""
    if isinstance(v, tuple):
        return "x".join(str(int(i)) for i in v) if v else "scalar"
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
        """One dict per row, keys in column order.

        Returns
        -------
        list of dict
            The rows as dicts (:func:`dataclasses.asdict`).
        """
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

    def _cells(self, cols) -> list[list]:
        return [[_cell(d[c]) for c in cols] for d in self.to_dict()]

    def to_csv(self, path: str | os.PathLike | None = None, columns=None) -> str:
        """CSV text (full precision, shapes as ``4x3``); also written to ``path``.

        Parameters
        ----------
        path : str or os.PathLike, optional
            File to write the text to as well.
        columns : 'brief' or sequence of str, optional
            Columns to write, in this order; default all, ``'brief'`` for the
            compact view.

        Returns
        -------
        str
            The CSV text, a header line then one line per row.

        Raises
        ------
        KeyError
            For a column that the table does not have.
        """
        cols = self._cols(columns)
        text = format_table(cols, self._cells(cols), "csv")
        if path is not None:
            with open(path, "w", encoding="utf-8", newline="") as fh:
                fh.write(text)
        return text

    def to_markdown(self, columns=None, digits: int = 4) -> str:
        """A Markdown table (``columns='brief'`` for the compact view).

        Parameters
        ----------
        columns : 'brief' or sequence of str, optional
            Columns to show, in this order; default all.
        digits : int
            Significant digits of the floats.

        Returns
        -------
        str
            The table, one line per row after the header.

        Raises
        ------
        KeyError
            For a column that the table does not have.
        """
        cols = self._cols(columns)
        return format_table(cols, self._cells(cols), "md", floatfmt=f".{digits}g")

    def to_text(self, columns="brief", digits: int = 4) -> str:
        """An aligned plain-text table (numbers right-aligned).

        Parameters
        ----------
        columns : 'brief' or sequence of str, optional
            Columns to show, in this order; default the compact view, ``None``
            for all.
        digits : int
            Significant digits of the floats.

        Returns
        -------
        str
            The table, one line per row after the header and a rule.

        Raises
        ------
        KeyError
            For a column that the table does not have.
        """
        cols = self._cols(columns)
        return format_table(cols, self._cells(cols), "text", floatfmt=f".{digits}g")

    def to_json(self, **meta) -> str:
        """JSON text: ``meta`` fields, then ``rows`` (NaN as null).

        Parameters
        ----------
        **meta
            Extra top-level fields, written before ``rows``.

        Returns
        -------
        str
            An indented JSON object.
        """
        dicts = self.to_dict()
        header = list(dicts[0]) if dicts else list(self.columns)
        rows = [list(d.values()) for d in dicts]
        return format_table(header, rows, "json", meta=meta)
