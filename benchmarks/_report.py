"""Markdown tables and the report."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]
    caption: str = ""

    def markdown(self) -> str:
        out = []
        if self.caption:
            out += [self.caption, ""]
        out.append("| " + " | ".join(self.headers) + " |")
        out.append("|" + "|".join("---" for _ in self.headers) + "|")
        out += ["| " + " | ".join(r) + " |" for r in self.rows]
        return "\n".join(out)


@dataclass
class Target:
    what: str
    goal: str
    measured: str
    met: bool | None  # None: not measured in this run
    note: str = ""


@dataclass
class Section:
    key: str
    title: str
    intro: str = ""
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    records: list[dict] = field(default_factory=list)

    def markdown(self) -> str:
        out = [f"## ({self.key}) {self.title}", ""]
        if self.intro:
            out += [self.intro, ""]
        for t in self.tables:
            out += [t.markdown(), ""]
        if self.notes:
            out += [f"- {n}" for n in self.notes] + [""]
        return "\n".join(out)


def fmt_time(sec: float) -> str:
    if sec >= 100:
        return f"{sec:.0f} s"
    if sec >= 1:
        return f"{sec:.2f} s"
    if sec >= 1e-3:
        return f"{sec * 1e3:.3g} ms"
    return f"{sec * 1e6:.3g} µs"


def fmt_ratio(r: float) -> str:
    if r >= 100:
        return f"{r:.0f}x"
    if r >= 10:
        return f"{r:.1f}x"
    return f"{r:.2f}x"


def fmt_excess(e: float) -> str:
    if e == 0.0:
        return "0"
    if abs(e) < 1e-14:
        return f"{e:.0e} (≈0)"
    return f"{e:.2e}"


def fmt_bytes(b: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(b) < 1024 or unit == "GiB":
            return f"{b:.3g} {unit}" if unit != "B" else f"{b:.0f} B"
        b /= 1024
    return f"{b:.3g} GiB"  # pragma: no cover


def targets_table(sections: list[Section]) -> Table:
    rows = []
    for s in sections:
        for t in s.targets:
            verdict = {True: "met", False: "**missed**", None: "not measured"}[t.met]
            rows.append([f"({s.key}) {t.what}", t.goal, t.measured, verdict, t.note])
    return Table(["target", "goal", "measured", "verdict", "note"], rows)
