"""The benchmark runner's smoke run, ``python -m benchmarks --quick``.

It asserts no timings (those belong to docs/benchmarks.md), only that every
section produces results and that quanttheory's excess MSE over the true
optimum is never above any baseline's on the same data.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    md, js = out / "benchmarks.md", out / "benchmarks.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--quick",
            "--out",
            str(md),
            "--json",
            str(js),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,  # the run takes < 60 s on 2 cores; this only stops a hang
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc, md.read_text(encoding="utf-8"), json.loads(js.read_text())


@pytest.mark.slow
def test_every_section_produces_results(quick_run):
    _, _, res = quick_run
    assert res["quick"] is True
    assert set(res["sections"]) == set("abcde")
    for key in "abcd":
        assert res["sections"][key]["records"], key
    b = res["sections"]["b"]["records"][0]
    assert b["qt_time_s"] > 0
    c = res["sections"]["c"]["records"][0]
    assert c["qt_s"] > 0
    assert c["copy_s"] > 0


@pytest.mark.slow
def test_quanttheory_excess_is_never_above_a_baseline(quick_run):
    _, _, res = quick_run
    rows = res["sections"]["a"]["records"]
    laws = {r["data"] for r in rows}
    assert {"gaussian", "student-t3"} <= laws
    for r in rows:
        methods = r["methods"]
        assert len(methods) >= 7, sorted(methods)  # quanttheory + 6 peers
        qt_ex = methods["quanttheory"]["excess"]
        for name, m in methods.items():
            assert math.isfinite(m["excess"])
            assert m["step"] > 0
            # The reference optimum includes every method's step, so each
            # excess is >= 0 and quanttheory's must be the smallest. The
            # slack is the rounding of two float64 sums of N squares.
            assert m["excess"] >= -1e-12, (r["data"], r["n"], r["bits"], name)
            assert qt_ex <= m["excess"] + 1e-12, (r["data"], r["n"], r["bits"], name)


@pytest.mark.slow
def test_report_is_written_and_printed(quick_run):
    proc, md, _ = quick_run
    # the page is in the docs' "Performance" toctree: no orphan front matter
    assert md.startswith("# Benchmarks")
    body = md
    assert body.strip() in proc.stdout
    for heading in (
        "## Machine",
        "## Targets",
        "## (a)",
        "## (b)",
        "## (c)",
        "## (d)",
        "## (e)",
    ):
        assert heading in body
    assert "| CPU |" in body
    assert "**Excess MSE**" in body
