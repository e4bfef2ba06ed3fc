"""``quanttheory verify``: exit codes, JSON schema, report, and a check that fails."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from quanttheory import _verify
from quanttheory._cli import main
from quanttheory._verify import numeric

KEYS = {"name", "lemma", "method", "error", "tolerance", "passed"}


def test_quick_json_subprocess_schema_and_exit_code():
    proc = subprocess.run(
        [sys.executable, "-m", "quanttheory", "verify", "--quick", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    rows = json.loads(proc.stdout)
    assert isinstance(rows, list)
    assert len(rows) > 50
    for row in rows:
        assert KEYS <= set(row)
        assert isinstance(row["passed"], bool)
        assert isinstance(row["name"], str)
        assert isinstance(row["error"], (int, float, str))
    assert all(r["passed"] for r in rows)
    methods = {r["method"] for r in rows}
    # every method of verification is exercised, and no other
    assert methods == {
        "symbolic identity",
        "engine vs closed form",
        "engine vs mpmath",
        "Monte Carlo",
        "engine vs published table",
        "analytic vs finite difference",
        "engine vs engine",
    }
    # Lemma 1's O(eps^3) rows compare the engine with itself and say so
    order = [r for r in rows if r["name"].endswith("Taylor error is O(eps^3)")]
    assert order
    assert {r["method"] for r in order} == {"engine vs engine"}
    lemmas = {r["lemma"].split(" ")[0] + " " + r["lemma"].split(" ")[1] for r in rows}
    assert {"Lemma 1", "Lemma 2", "Lemma 3"} <= lemmas
    # progress goes to stderr, not into the JSON
    assert "[1/" in proc.stderr


def test_injected_wrong_formula_makes_verify_fail(monkeypatch, capsys):
    # Lemma 2 with 12a instead of 24a in the granular term: a wrong formula
    # that the engine (which never uses it) must contradict.
    def wrong_lemma2(a, step, bits):
        tau = 2.0 ** (bits - 1) * step
        return (a - tau) ** 3 / (3 * a) + 2.0**bits * step**3 / (12 * a)

    monkeypatch.setattr(numeric, "lemma2", wrong_lemma2)
    code = main(["verify", "--quick", "--bits", "2", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 1
    failed = [ln for ln in out.splitlines() if ln.rstrip().endswith("FAIL")]
    assert failed
    assert all("Lemma 2" in ln for ln in failed)
    assert "failed" in out.splitlines()[-1]


@pytest.mark.parametrize(
    "argv",
    [
        ["verify", "--bits", "0"],
        ["verify", "--bits", "x"],
        ["verify", "--seed", "one"],
        ["verify", "--seed", "-1"],  # before: 37 s of checks, then a traceback
        ["verify", "--seed", "2.5"],
        ["verify", "--report", "/nonexistent-dir/r.md"],
        ["verify", "--report", "report.txt"],
        ["verify", "--frobnicate"],
    ],
)
def test_bad_usage_exits_2_with_one_line(argv, capsys):
    t0 = time.perf_counter()
    assert main(argv) == 2
    # checked before any work: the parser alone, far below a second (the
    # quick verify takes about 15 s)
    assert time.perf_counter() - t0 < 5.0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "error" in err


def test_report_has_checks_and_findings(tmp_path, capsys):
    path = tmp_path / "verify.md"
    code = main(
        ["verify", "--quick", "--bits", "2,3", "--no-progress", "--report", str(path)]
    )
    assert code == 0
    text = path.read_text()
    assert text.startswith("# quanttheory verify")
    for heading in (
        "Where Lemma 2 holds",
        "Which root of Lemma 3 is spurious",
        "Sensitivity: uniform vs Gaussian vs Laplace",
        "Bit-width robustness",
        "## Checks",
    ):
        assert heading in text
    # the report states the spurious root's numbers: M=2 -> 2/(2^2-1) = 0.6667
    assert "0.6667" in text
    assert not (tmp_path / "verify.md.tmp").exists()
    capsys.readouterr()


def test_findings_numbers_follow_the_closed_forms():
    # Uniform curvature at the exact optimum is 2^(M-1) (derived in
    # quanttheory.symbolic and docs/theory-notes.md), and 1/2 at 2a/2^M.
    findings = dict(_verify.findings([2, 3, 4]))
    table = findings["Sensitivity: uniform vs Gaussian vs Laplace at unit variance"]
    rows = [ln for ln in table.splitlines() if ln.startswith("| ") and ln[2].isdigit()]
    assert len(rows) == 3
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        m = int(cells[0])
        assert float(cells[1]) == pytest.approx(2 ** (m - 1), rel=1e-3)  # 4 digits
        assert float(cells[4]) == pytest.approx(0.5, rel=1e-3)  # printed 4 digits
