"""``quanttheory verify``: every check of the seed's lemmas, and the report.

Layer 5: :mod:`.numeric` (engine against closed forms, mpmath, published
tables and Monte Carlo) and :mod:`.symbolic` (sympy) produce
:class:`~.report.Check` rows; :func:`run` collects them into a
:class:`~.report.Report`, which :mod:`.report` renders.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .numeric import (
    findings,
    lemma1_checks,
    lemma2_checks,
    lemma3_checks,
    monte_carlo_checks,
    mpmath_checks,
    table_checks,
)
from .report import Check, Report, to_markdown, to_text
from .symbolic import symbolic_checks

__all__ = ["Check", "Report", "findings", "run", "to_markdown", "to_text"]


# ---------------------------------------------------------------------------
# driver
# ---------------------------------------------------------------------------
def _stages(bits, seed, quick) -> list[tuple[str, Callable[[], list[Check]]]]:
    low = [m for m in bits if m <= 8]
    return [
        ("symbolic", lambda: symbolic_checks(bits, quick)),
        ("Lemma 2", lambda: lemma2_checks(bits, quick)),
        ("Lemma 3", lambda: lemma3_checks(bits)),
        ("Lemma 1", lambda: lemma1_checks(low if not quick else low[:3])),
        ("mpmath", lambda: mpmath_checks(bits, quick)),
        ("tables", table_checks),
        (
            "Monte Carlo",
            lambda: monte_carlo_checks(low[:3] if quick else low, seed, quick),
        ),
    ]


def run(bits=(1, 2, 3, 4, 5, 6, 7, 8), seed=0, quick=False, progress=None) -> Report:
    """Run every check and compute the findings.

    Parameters
    ----------
    bits : iterable of int
        Bit-widths to check.
    seed : int
        Seed of the Monte Carlo checks.
    quick : bool
        Fewer points and samples (under 20 s on 2 cores).
    progress : file-like or None
        Where to print progress lines (standard error in the CLI).

    Returns
    -------
    Report
    """
    t0 = time.perf_counter()
    bits = sorted(set(int(b) for b in bits))
    rep = Report(bits=tuple(bits), seed=seed, quick=quick)
    stages = _stages(bits, seed, quick)
    for i, (name, fn) in enumerate(stages, 1):
        if progress is not None:
            print(f"[{i}/{len(stages) + 1}] {name} ...", file=progress, flush=True)
        rep.checks.extend(fn())
    if progress is not None:
        print(
            f"[{len(stages) + 1}/{len(stages) + 1}] findings ...",
            file=progress,
            flush=True,
        )
    rep.findings = findings(bits if not quick else [m for m in bits if m <= 6])
    rep.seconds = time.perf_counter() - t0
    return rep
