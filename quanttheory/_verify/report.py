"""The rows of ``quanttheory verify`` and the report: text and Markdown.

Both tables are :func:`quanttheory._core.table.format_table`'s.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from .._core.table import format_table

__all__ = ["Check", "Report", "check", "to_markdown", "to_text"]

#: Columns of the checks table.
_HEAD = ["lemma", "check", "method", "error", "tolerance", "result"]
#: Float formats of its columns: the error and the tolerance.
_FLOATS = [None, None, None, ".2e", ".1e", None]
#: The widest the check names may be in the text table.
_NAME_WIDTH = 70


@dataclass(frozen=True)
class Check:
    """One verification row."""

    name: str
    lemma: str
    method: str
    error: float
    tolerance: float
    passed: bool
    detail: str = ""

    def to_dict(self) -> dict:
        d = asdict(self)
        for k in ("error", "tolerance"):
            v = d[k]
            d[k] = v if math.isfinite(v) else str(v)
        return d


@dataclass
class Report:
    """All checks plus the findings (tables with numbers)."""

    checks: list[Check] = field(default_factory=list)
    findings: list[tuple[str, str]] = field(default_factory=list)
    bits: tuple[int, ...] = ()
    seed: int = 0
    quick: bool = False
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)


def check(name, lemma, method, error, tolerance, detail="") -> Check:
    error = float(error)
    ok = bool(math.isfinite(error) and error <= tolerance)
    return Check(name, lemma, method, error, float(tolerance), ok, detail)


def _rows(rep: Report, fail: str) -> list[list]:
    """The checks as table rows; ``fail`` is the result cell of a failure."""
    return [
        [c.lemma, c.name, c.method, c.error, c.tolerance, "pass" if c.passed else fail]
        for c in rep.checks
    ]


def to_text(rep: Report) -> str:
    """A readable table of all checks, then a summary line."""
    table = format_table(
        _HEAD,
        _rows(rep, "FAIL"),
        "text",
        align="<",
        floatfmt=_FLOATS,
        max_width=[None, _NAME_WIDTH, None, None, None, None],
    )
    n_fail = sum(not c.passed for c in rep.checks)
    return (
        f"{table}\n{len(rep.checks) - n_fail} passed, {n_fail} failed "
        f"({rep.seconds:.1f} s, bits {','.join(map(str, rep.bits))}, seed {rep.seed}"
        f"{', quick' if rep.quick else ''})"
    )


def to_markdown(rep: Report) -> str:
    """The Markdown report: checks table, then the findings with numbers."""
    lines = ["# quanttheory verify", ""]
    n_fail = sum(not c.passed for c in rep.checks)
    lines.append(
        f"**{len(rep.checks) - n_fail} passed, {n_fail} failed** "
        f"(bits {', '.join(map(str, rep.bits))}; seed {rep.seed}; "
        f"{'quick' if rep.quick else 'full'} run, {rep.seconds:.1f} s)."
    )
    lines += ["", "## Findings", ""]
    for title, body in rep.findings:
        lines += [f"### {title}", "", body, ""]
    lines += ["## Checks", ""]
    table = format_table(_HEAD, _rows(rep, "**FAIL**"), "md", floatfmt=_FLOATS)
    return "\n".join(lines) + "\n" + table
