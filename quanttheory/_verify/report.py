"""The rows of ``quanttheory verify`` and the report: text and Markdown."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

__all__ = ["Check", "Report", "check", "to_markdown", "to_text"]


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


# ---------------------------------------------------------------------------
# findings
# ---------------------------------------------------------------------------
def fmt_table(header: list[str], rows: list[list]) -> str:
    def fmt(v):
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    cells = [[fmt(v) for v in r] for r in rows]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in cells]
    return "\n".join(lines)


def to_text(rep: Report) -> str:
    """A readable table of all checks, then a summary line."""
    head = ["lemma", "check", "method", "error", "tolerance", "result"]
    rows = [
        [
            c.lemma,
            c.name,
            c.method,
            f"{c.error:.2e}",
            f"{c.tolerance:.1e}",
            "pass" if c.passed else "FAIL",
        ]
        for c in rep.checks
    ]
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
        for i, h in enumerate(head)
    ]
    widths[1] = min(widths[1], 70)

    def line(r):
        cells = [r[i][: widths[i]].ljust(widths[i]) for i in range(len(head))]
        return "  ".join(cells).rstrip()

    out = [line(head), line(["-" * w for w in widths])]
    out += [line(r) for r in rows]
    n_fail = sum(not c.passed for c in rep.checks)
    out.append("")
    out.append(
        f"{len(rep.checks) - n_fail} passed, {n_fail} failed "
        f"({rep.seconds:.1f} s, bits {','.join(map(str, rep.bits))}, seed {rep.seed}"
        f"{', quick' if rep.quick else ''})"
    )
    return "\n".join(out)


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
    lines.append("| lemma | check | method | error | tolerance | result |")
    lines.append("|---|---|---|---|---|---|")
    for c in rep.checks:
        lines.append(
            f"| {c.lemma} | {c.name} | {c.method} | {c.error:.2e} | "
            f"{c.tolerance:.1e} | {'pass' if c.passed else '**FAIL**'} |"
        )
    return "\n".join(lines) + "\n"
