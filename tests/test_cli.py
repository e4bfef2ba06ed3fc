"""The ``quanttheory`` command line (``quanttheory._cli``) and the examples in
README.md and docs/index.md.

Most tests run ``main([...])`` in-process and read stdout/stderr with capsys;
one runs ``python -m quanttheory`` as a subprocess. The uniform-law numbers
are checked against closed forms of the seed paper, M. Shkolnik et al.,
"Robust Quantization: One Model to Rule Them All", NeurIPS 2020,
arXiv:2002.07686 (supplementary Lemmas 2 and 3), evaluated here with plain
float arithmetic, not with the engine.
"""

from __future__ import annotations

import csv
import doctest
import io
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import quanttheory
from quanttheory._cli import COLUMNS, main

REPO = Path(__file__).resolve().parents[1]
# Unit variance: Var U(-a, a) = a^2 / 3 = 1.
A = math.sqrt(3.0)
LAWS = ("uniform", "gaussian", "laplace")
# a data row of the text table: law name, then the bit-width
ROW = re.compile(r"^(uniform|gaussian|laplace) +\d+ ")


def lemma2_mse(step: float, bits: int) -> float:
    """Seed Lemma 2, valid while the clipping level 2^(M-1) step <= a."""
    tau = 2 ** (bits - 1) * step
    assert tau <= A  # a guard on the test's own inputs, not on user input
    return (A - tau) ** 3 / (3 * A) + 2**bits * step**3 / (24 * A)


def lemma3_step(bits: int) -> float:
    """Seed Lemma 3: the valid root 2a / (2^M + 1)."""
    return 2 * A / (2**bits + 1)


def text_rows(out: str) -> list[list[str]]:
    """The data rows of a text table, split into cells."""
    return [ln.split() for ln in out.splitlines() if ROW.match(ln)]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def csv_rows(capsys, *argv):
    code, out, err = run(capsys, "table", "--format", "csv", *argv)
    assert code == 0, err
    return list(csv.DictReader(io.StringIO(out)))


# ---------------------------------------------------------------------------
# exit codes and usage errors
# ---------------------------------------------------------------------------
def test_default_table_text(capsys):
    code, out, err = run(capsys, "table")
    assert code == 0
    assert err == ""
    lines = out.splitlines()
    assert lines[0] == "Optimal uniform quantization: scheme 'paper', model 'exact'."
    # the header states the variance normalisation and the units
    head = "\n".join(lines[:6])
    assert "unit variance, E[X^2] = sigma^2 = 1" in head
    assert "in sigma" in head
    assert "sigma^2" in head
    titles = next(ln for ln in lines if ln.startswith("law "))
    assert titles.split() == [
        "law", "M", "step", "clip", "MSE", "SQNR[dB]", "D''", "rise-5%", "rise+5%",
    ]  # fmt: skip
    body = text_rows(out)
    assert [(r[0], int(r[1])) for r in body] == [
        (law, m) for law in LAWS for m in range(1, 9)
    ]
    # the uniform curvature carries the footnote marker, explained below
    assert all(r[6].endswith("*") for r in body if r[0] == "uniform")
    assert any(ln.startswith("* The uniform density jumps") for ln in lines)


def test_text_columns_are_aligned(capsys):
    code, out, _ = run(capsys, "table", "--bits", "1-3")
    assert code == 0
    lines = out.splitlines()
    rule = next(i for i, ln in enumerate(lines) if set(ln) <= {"-", " "} and ln)
    table = [ln for ln in lines if ROW.match(ln)]
    # right-aligned numeric columns end at the same position on every row
    ends = {len(lines[rule - 1])} | {len(ln) for ln in table}
    assert len(ends) == 1


@pytest.mark.parametrize(
    "argv",
    [
        ["table", "--bits", "0"],
        ["table", "--bits", "a-b"],
        ["table", "--bits", "8-1"],
        ["table", "--bits", "33"],
        ["table", "--bits", "1-40"],
        ["table", "--bits", "2,,4"],
        ["table", "--bits", "-3"],
        ["table", "--bits", "1.5"],
        ["table", "--bits"],
        ["table", "--scheme", "nearest"],
        ["table", "--model", "fancy"],
        ["table", "--format", "xml"],
        ["table", "--frobnicate"],
        ["table", "--bits", "1", "--scheme", "symmetric"],
        ["nonsense"],
        [],
    ],
)
def test_bad_usage_exits_2_with_one_line(capsys, argv):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("quanttheory")
    assert "error:" in err


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("0", "0 is outside 1..32"),
        ("a-b", "'a-b' is not an integer"),
        ("8-1", "descending; write 1-8"),
        ("33", "33 is outside 1..32"),
    ],
)
def test_bad_bits_message_names_argument_and_value(capsys, spec, fragment):
    code, _, err = run(capsys, "table", "--bits", spec)
    assert code == 2
    assert "--bits" in err
    assert fragment in err


def test_help_and_version_exit_0(capsys):
    code, out, _ = run(capsys, "--version")
    assert code == 0
    assert out.strip() == f"quanttheory {quanttheory.__version__}"
    code, out, _ = run(capsys, "table", "--help")
    assert code == 0
    assert "--bits" in out
    assert "--scheme" in out


def test_symmetric_skips_one_bit_with_a_note(capsys):
    code, out, err = run(capsys, "table", "--scheme", "symmetric", "--bits", "1-2")
    assert code == 0
    assert err == ""
    assert "bits 1 skipped: scheme 'symmetric' needs at least 2 bits." in out
    rows = csv_rows(capsys, "--scheme", "symmetric", "--bits", "1-2")
    assert [int(r["bits"]) for r in rows] == [2, 2, 2]


# ---------------------------------------------------------------------------
# numbers: the uniform law with scheme 'paper' against Lemmas 2 and 3
# ---------------------------------------------------------------------------
def test_uniform_paper_matches_lemma_3_full_precision(capsys):
    rows = [r for r in csv_rows(capsys, "--bits", "1-8") if r["law"] == "uniform"]
    assert [int(r["bits"]) for r in rows] == list(range(1, 9))
    for r in rows:
        m = int(r["bits"])
        step = lemma3_step(m)
        # The optimum is a root of D' found by Brent's method to ~4 ulp; 1e-12
        # leaves room for the conditioning of the root.
        assert float(r["step"]) == pytest.approx(step, rel=1e-12, abs=0)
        # clipping level = largest 'paper' level 2^(M-1) step (seed Eq. (5))
        assert float(r["clip"]) == pytest.approx(2 ** (m - 1) * step, rel=1e-12, abs=0)
        # Lemma 3: MSE(step~) = step~^2 / 12; the exact MSE is documented to
        # 1e-10 relative, and the step error above adds 2e-12.
        mse = step**2 / 12
        assert float(r["mse"]) == pytest.approx(mse, rel=1e-10, abs=0)
        # SQNR = 10 log10(E[X^2] / MSE) with E[X^2] = 1; 1e-10 relative in the
        # MSE is 4.3e-10 dB.
        assert float(r["sqnr_db"]) == pytest.approx(
            10 * math.log10(1 / mse), rel=0, abs=1e-8
        )


def test_uniform_paper_curvature_and_rise_match_lemma_2(capsys):
    rows = [r for r in csv_rows(capsys, "--bits", "1-8") if r["law"] == "uniform"]
    for r in rows:
        m = int(r["bits"])
        step = lemma3_step(m)
        # Differentiating Lemma 2 twice, D'' = 2 4^(M-1) (a - t)/a + 2^M D/(4a)
        # with t = 2^(M-1) D; at D = 2a/(2^M+1), a - t = a/(2^M+1) and
        # D'' = 2^(M-1). The analytic cell-sum curvature carries ~1e-13
        # relative rounding; 1e-9 is far below any modelling error.
        assert float(r["curvature"]) == pytest.approx(2 ** (m - 1), rel=1e-9, abs=0)
        # at the optimum of 'paper' no threshold sits on +-a: no jump
        assert float(r["curvature_left"]) == pytest.approx(
            float(r["curvature"]), rel=1e-9, abs=0
        )
        base = step**2 / 12
        # -5 %: the clipping level shrinks, Lemma 2 holds. Each MSE carries
        # <= 1e-10 relative error, so the rise (>= 0.0145) is good to ~1e-8.
        lo = (lemma2_mse(0.95 * step, m) - base) / base
        assert float(r["rise_minus_5pct"]) == pytest.approx(lo, rel=1e-8, abs=0)
        # +5 %: 1.05 * 2^(M-1) * 2a/(2^M+1) <= a only while 0.05 * 2^M <= 1,
        # i.e. M <= 4; beyond that Lemma 2 does not apply.
        if m <= 4:
            hi = (lemma2_mse(1.05 * step, m) - base) / base
            assert float(r["rise_plus_5pct"]) == pytest.approx(hi, rel=1e-8, abs=0)


@pytest.mark.parametrize("bits", [1, 4, 8])
def test_printed_text_matches_lemma_3(capsys, bits):
    # the text table rounds: step and clip to 6 decimals, MSE to 4 significant
    # digits in e-notation, SQNR to 3 decimals, D'' to 4 decimals
    code, out, _ = run(capsys, "table", "--bits", str(bits))
    assert code == 0
    row = text_rows(out)[0]
    assert row[0] == "uniform"
    step = lemma3_step(bits)
    mse = step**2 / 12
    assert row[1] == str(bits)
    assert row[2] == f"{step:.6f}"
    assert row[3] == f"{2 ** (bits - 1) * step:.6f}"
    assert row[4] == f"{mse:.4e}"
    assert row[5] == f"{10 * math.log10(1 / mse):.3f}"
    # "!": a 5 % step error lies beyond the Taylor radius, 3 * 0.1 / (2^M - 1)
    # of the step on Lemma 2's cubic (tests/api/test_sensitivity.py)
    beyond = "!" if 0.3 / (2**bits - 1) < 0.05 else ""
    assert row[6] == f"{2 ** (bits - 1):.4f}{beyond}*"
    lo = (lemma2_mse(0.95 * step, bits) - mse) / mse
    assert row[7] == f"{100 * lo:.3f}%"


def test_midrise_and_symmetric_uniform_tile_the_support(capsys):
    # For 'midrise' and 'symmetric' the optimal cells tile [-a, a] exactly
    # (optimal_step docstring, and the flat error density of the uniform law):
    # step = 2a/2^M and 2a/(2^M - 1), and MSE = step^2/12.
    for scheme, cells in (
        ("midrise", lambda m: 2**m),
        ("symmetric", lambda m: 2**m - 1),
    ):
        rows = csv_rows(capsys, "--scheme", scheme, "--bits", "2,3,6")
        for r in (r for r in rows if r["law"] == "uniform"):
            step = 2 * A / cells(int(r["bits"]))
            assert float(r["step"]) == pytest.approx(step, rel=1e-12, abs=0)
            assert float(r["mse"]) == pytest.approx(step**2 / 12, rel=1e-10, abs=0)


# ---------------------------------------------------------------------------
# machine-readable formats
# ---------------------------------------------------------------------------
def test_csv_parses(capsys):
    rows = csv_rows(capsys, "--bits", "2,4")
    assert list(rows[0]) == list(COLUMNS)
    assert [(r["law"], int(r["bits"])) for r in rows] == [
        (law, m) for law in LAWS for m in (2, 4)
    ]
    for r in rows:
        assert r["scheme"] == "paper"
        assert r["model"] == "exact"
        for key in COLUMNS:
            if key not in ("law", "bits", "scheme", "model"):
                assert math.isfinite(float(r[key]))
        assert float(r["mse"]) > 0
        assert float(r["curvature"]) > 0  # a minimum
        assert float(r["rise_minus_5pct"]) > 0
        assert float(r["rise_plus_5pct"]) > 0


def test_json_parses(capsys):
    code, out, _ = run(
        capsys, "table", "--format", "json", "--bits", "3", "--model", "additive"
    )
    assert code == 0
    doc = json.loads(out)
    assert doc["command"] == "table"
    assert doc["scheme"] == "paper"
    assert doc["model"] == "additive"
    assert doc["variance"] == 1.0
    assert set(doc["columns"]) == set(COLUMNS)
    assert [r["law"] for r in doc["rows"]] == list(LAWS)
    for r in doc["rows"]:
        assert set(r) == set(COLUMNS)
        assert r["bits"] == 3
    # for the uniform law with 'paper' the additive model is Lemma 2 itself
    u = doc["rows"][0]
    assert u["step"] == pytest.approx(lemma3_step(3), rel=1e-12, abs=0)
    assert isinstance(doc["notes"], list)


def test_json_and_csv_agree(capsys):
    rows = csv_rows(capsys, "--bits", "5", "--scheme", "signed")
    code, out, _ = run(
        capsys, "table", "--format", "json", "--bits", "5", "--scheme", "signed"
    )
    assert code == 0
    for c, j in zip(rows, json.loads(out)["rows"], strict=True):
        # csv writes repr(float), which round-trips exactly
        assert float(c["step"]) == j["step"]
        assert float(c["mse"]) == j["mse"]


def test_markdown_table(capsys):
    code, out, _ = run(capsys, "table", "--format", "md", "--bits", "2")
    assert code == 0
    lines = out.splitlines()
    assert "| law | M | step |" in out
    body = [ln for ln in lines if ln.startswith("| ") and not ln.startswith("| law")]
    assert len(body) == 3
    assert all(ln.count("|") == 10 for ln in body)


def test_csv_note_for_skipped_bits_goes_to_stderr(capsys):
    code, out, err = run(
        capsys, "table", "--format", "csv", "--scheme", "symmetric", "--bits", "1-2"
    )
    assert code == 0
    assert "skipped" in err
    assert "skipped" not in out
    assert len(list(csv.DictReader(io.StringIO(out)))) == 3


@pytest.mark.parametrize("bits", [17, 24, 32])
def test_above_16_bits_the_exact_table_matches_lemma_3(capsys, bits):
    # the exact route is the Euler-Maclaurin series with a remainder bound at
    # every bit-width: no caveat is printed, and the uniform row still has
    # step 2a/(2^M+1) and curvature 2^(M-1) (Lemmas 2 and 3)
    code, out, _ = run(capsys, "table", "--bits", str(bits))
    assert code == 0
    assert "Euler-Maclaurin" not in out
    assert "additive" not in out
    (r,) = [r for r in csv_rows(capsys, "--bits", str(bits)) if r["law"] == "uniform"]
    assert float(r["step"]) == pytest.approx(lemma3_step(bits), rel=1e-12, abs=0)
    assert float(r["curvature"]) == pytest.approx(2 ** (bits - 1), rel=1e-9, abs=0)


# ---------------------------------------------------------------------------
# the exit status: 0 success, 1 a failed check, 2 a usage error
# ---------------------------------------------------------------------------
def assert_usage_error(code, out, err, prog):
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1, err
    assert err.startswith(f"{prog}: error: ")


def test_help_states_the_exit_status(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0
    want = "Exit status: 0 on success, 1 if verify found a failed check, 2 for a usage"
    assert want in " ".join(out.split())


def test_an_argument_the_engine_rejects_exits_2(capsys, monkeypatch):
    from quanttheory import InvalidArgument

    def reject(*args, **kwargs):
        raise InvalidArgument("optimal_step: bits=40 must be\nat most 32")

    monkeypatch.setattr("quanttheory._cli.table_rows", reject)
    code, out, err = run(capsys, "table", "--bits", "4")
    assert_usage_error(code, out, err, "quanttheory table")
    assert err == "quanttheory table: error: optimal_step: bits=40 must be at most 32\n"


def test_analyze_without_torch_exits_2(capsys, monkeypatch):
    import quanttheory._cli as cli

    monkeypatch.delattr(cli, "analyze", raising=False)
    monkeypatch.setitem(sys.modules, "quanttheory._cli.analyze", None)
    code, out, err = run(capsys, "analyze", "model.safetensors")
    assert_usage_error(code, out, err, "quanttheory analyze")
    assert "needs PyTorch" in err
    assert "pip install 'quanttheory[torch]'" in err


@pytest.fixture
def fake_verify(monkeypatch):
    """``quanttheory verify`` in milliseconds: ``run`` returns a fixed report."""
    from quanttheory import _verify
    from quanttheory._verify.report import Report, check

    calls = []

    def fake(bits, seed, quick, progress):
        calls.append(bits)
        rep = Report(bits=tuple(bits), seed=seed, quick=quick)
        rep.checks = [check("x", "Lemma 2", "engine vs closed form", 0.0, 1e-12)]
        if fake.fail:
            rep.checks.append(check("y", "Lemma 3", "engine vs mpmath", 1.0, 1e-10))
        return rep

    fake.fail = False
    fake.calls = calls
    monkeypatch.setattr(_verify, "run", fake)
    return fake


def test_verify_exits_0_when_all_pass_and_1_when_a_check_fails(capsys, fake_verify):
    code, out, err = run(capsys, "verify", "--no-progress")
    assert (code, err) == (0, "")
    assert out.splitlines()[-1].startswith("1 passed, 0 failed")
    fake_verify.fail = True
    code, out, err = run(capsys, "verify", "--no-progress", "--json")
    assert (code, err) == (1, "")
    assert [r["passed"] for r in json.loads(out)] == [True, False]


@pytest.mark.parametrize(
    ("report", "match"),
    [
        ("adir.md", "is a directory; give a file name"),
        ("fifo.md", "is not a regular file (a device, pipe or socket)"),
        ("no/such/r.md", "directory '{tmp}/no/such' does not exist"),
        ("r.txt", "unsupported format ('.txt'); use a .md or .markdown file name"),
    ],
)
def test_verify_bad_report_exits_2_before_running(
    capsys, tmp_path, fake_verify, report, match
):
    (tmp_path / "adir.md").mkdir()
    os.mkfifo(tmp_path / "fifo.md")
    path = tmp_path / report
    code, out, err = run(capsys, "verify", "--no-progress", "--report", str(path))
    assert_usage_error(code, out, err, "quanttheory verify")
    assert err == (
        f"quanttheory verify: error: --report {path}: "
        + match.format(tmp=tmp_path)
        + "\n"
    )
    assert fake_verify.calls == []  # nothing ran


def test_verify_report_without_write_permission_exits_2(
    capsys, tmp_path, fake_verify, monkeypatch
):
    # os.access, because root may write anywhere
    monkeypatch.setattr("quanttheory._cli.args.os.access", lambda *a, **k: False)
    path = tmp_path / "r.md"
    code, out, err = run(capsys, "verify", "--no-progress", "--report", str(path))
    assert_usage_error(code, out, err, "quanttheory verify")
    assert err.endswith(": cannot write it (permission denied)\n")
    assert fake_verify.calls == []


def test_verify_report_write_failure_exits_2_and_leaves_nothing(
    capsys, tmp_path, fake_verify, monkeypatch
):
    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("quanttheory._cli.args.os.replace", full)
    path = tmp_path / "r.md"
    code, _, err = run(capsys, "verify", "--no-progress", "--report", str(path))
    assert code == 2
    assert err == (
        f"quanttheory verify: error: --report {path}: cannot write it "
        "(No space left on device)\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_verify_report_is_written(capsys, tmp_path, fake_verify):
    path = tmp_path / "r.md"
    code, _, err = run(capsys, "verify", "--report", str(path), "--bits", "2")
    assert code == 0
    assert path.read_text().startswith("# quanttheory verify")
    assert f"report written to {path}" in err
    assert list(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("fig.jpg", "unsupported format ('.jpg'); use a .png, .svg or .pdf file name"),
        ("adir.png", "is a directory; give a file name"),
        ("fifo.png", "is not a regular file (a device, pipe or socket)"),
    ],
)
def test_plot_bad_out_exits_2_through_main(capsys, tmp_path, name, match):
    (tmp_path / "adir.png").mkdir()
    os.mkfifo(tmp_path / "fifo.png")
    path = tmp_path / name
    code, out, err = run(capsys, "plot", "mse", "--mc", "0", "--out", str(path))
    assert_usage_error(code, out, err, "quanttheory plot mse")
    assert err == f"quanttheory plot mse: error: --out {path}: {match}\n"


# ---------------------------------------------------------------------------
# as a program
# ---------------------------------------------------------------------------
def test_python_dash_m_subprocess():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO), env.get("PYTHONPATH", "")) if p
    )
    proc = subprocess.run(
        [sys.executable, "-m", "quanttheory", "table", "--bits", "2"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    rows = text_rows(proc.stdout)
    assert [(r[0], r[1]) for r in rows] == [(law, "2") for law in LAWS]
    assert rows[0][2] == f"{lemma3_step(2):.6f}"

    bad = subprocess.run(
        [sys.executable, "-m", "quanttheory", "table", "--bits", "8-1"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=120,
        check=False,
    )
    assert bad.returncode == 2
    assert bad.stdout == ""
    assert bad.stderr.count("\n") == 1


# ---------------------------------------------------------------------------
# the examples in README.md and docs/*.md run as written
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["README.md", "docs/index.md"])
def test_docs_examples_run(name):
    # Code fences become blank lines so that a fence never reads as expected
    # output; every `>>>` line then runs as a doctest.
    text = (REPO / name).read_text(encoding="utf-8")
    text = "\n".join("" if ln.startswith("```") else ln for ln in text.splitlines())
    test = doctest.DocTestParser().get_doctest(text, {}, name, str(REPO / name), 0)
    assert test.examples, f"{name} has no >>> examples"
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    runner = doctest.DocTestRunner(optionflags=flags)
    out = io.StringIO()
    runner.run(test, out=out.write)
    assert runner.failures == 0, out.getvalue()


# ---------------------------------------------------------------------------
# Lemma 1's validity radius in the table (issue 11, section 7)
# ---------------------------------------------------------------------------
def signed_uniform(step: float, bits: int) -> tuple[float, float, float, float]:
    """D, D', D'', D''' of scheme 'signed' on U(-a, a), a = sqrt(3).

    Levels k step, k = -K .. K-1: for step <= a/(K - 1/2) (no threshold
    outside [-a, a]) the 2K - 2 inner cells hold step^3/12 each, the cell
    [-a, -(K - 1/2) step] goes to -K step and [(K - 3/2) step, a] to
    (K - 1) step; every term over the density 1/(2a). Written out and
    differentiated by hand (as in tests/api/test_sensitivity.py).
    """
    k = 2 ** (bits - 1)
    c3 = (2 * k - 2) / 12 + 1 / 12
    u, v = k * step - A, A - (k - 1) * step
    d0 = c3 * step**3 - u**3 / 3 + v**3 / 3
    d1 = 3 * c3 * step**2 - k * u**2 - (k - 1) * v**2
    d2 = 6 * c3 * step - 2 * k**2 * u + 2 * (k - 1) ** 2 * v
    d3 = 6 * c3 - 2 * k**3 - 2 * (k - 1) ** 3
    return tuple(x / (2 * A) for x in (d0, d1, d2, d3))


def test_signed_uniform_rows_are_marked_beyond_the_taylor_radius(capsys):
    # the case: scheme 'signed', 4 bits, uniform law
    from scipy.optimize import brentq

    bits, k = 4, 8
    kink = A / (k - 0.5)
    # D' < 0 at A/K; the cubic's other stationary point (a maximum) is the
    # kink itself, so the bracket stops just short of it
    step = brentq(
        lambda d: signed_uniform(d, bits)[1], A / k, kink * (1 - 1e-3), xtol=1e-15
    )
    assert (kink - step) / step == pytest.approx(0.0088, abs=1e-4)  # 0.9 % below
    d0, _, d2, d3 = signed_uniform(step, bits)
    # on the cubic the Taylor error is |D''' eps| / (3 |D''|): 10 % at
    radius = 0.3 * abs(d2) / abs(d3)
    assert radius < kink - step  # the third-order term, not the kink, binds
    (r,) = [
        r
        for r in csv_rows(capsys, "--scheme", "signed", "--bits", "4")
        if r["law"] == "uniform"
    ]
    # Brent's root to ~1e-15 and the engine's analytic D'' (1e-12): 1e-9
    assert float(r["step"]) == pytest.approx(step, rel=1e-9)
    assert float(r["curvature"]) == pytest.approx(d2, rel=1e-9)
    # the radius is a linear interpolation of an exactly linear error: the
    # engine's D'' rounding, 1e-9
    assert float(r["taylor_radius_left"]) == pytest.approx(radius / step, rel=1e-9)
    assert float(r["taylor_radius_right"]) == pytest.approx(radius / step, rel=1e-9)
    # the exact -5 % rise from the cubic (the +5 % step crosses the kink),
    # and Lemma 1's value, 4.75 times smaller: 3.50 % against 0.74 %
    lo = (signed_uniform(0.95 * step, bits)[0] - d0) / d0
    assert float(r["rise_minus_5pct"]) == pytest.approx(lo, rel=1e-8)
    taylor = abs(d2) * (0.05 * step) ** 2 / 2 / d0
    assert lo / taylor == pytest.approx(4.75, abs=0.01)
    code, out, _ = run(capsys, "table", "--scheme", "signed", "--bits", "4")
    assert code == 0
    row = text_rows(out)[0]
    assert row[0] == "uniform"
    assert row[6] == "0.5000!*"
    assert "! Lemma 1's Taylor value |D''| eps^2/2 is off by more than 10%" in " ".join(
        out.split()
    )


def test_paper_radius_columns_follow_lemma_2(capsys):
    # 'paper' on the uniform law: 3 * 0.1 / (2^M - 1) of the step on each
    # side (tests/api/test_sensitivity.py); marked once that is below 5 %
    rows = csv_rows(capsys, "--bits", "1-8")
    for r in (r for r in rows if r["law"] == "uniform"):
        m = int(r["bits"])
        # M = 1: 0.3 of the step; both sides are searched up to 0.5
        want = 0.3 / (2**m - 1)
        for side in ("taylor_radius_left", "taylor_radius_right"):
            assert float(r[side]) == pytest.approx(want, rel=1e-9), (m, side)
    code, out, _ = run(capsys, "table", "--bits", "1-8", "--format", "md")
    assert code == 0
    marked = [ln for ln in out.splitlines() if ln.startswith("| uniform")]
    assert [("!" in ln) for ln in marked] == [
        0.3 / (2**m - 1) < 0.05 for m in range(1, 9)
    ]
    assert any(ln.startswith("! Lemma 1's Taylor value") for ln in out.splitlines())


def test_json_has_the_radius_columns_and_the_note(capsys):
    code, out, _ = run(capsys, "table", "--format", "json", "--bits", "4")
    assert code == 0
    doc = json.loads(out)
    assert {"taylor_radius_left", "taylor_radius_right"} <= set(doc["columns"])
    for r in doc["rows"]:
        assert 0 < r["taylor_radius_left"] <= 0.5
        assert 0 < r["taylor_radius_right"] <= 0.5
    assert any(n.startswith("Lemma 1's Taylor value") for n in doc["notes"])


# ---------------------------------------------------------------------------
# arguments checked before any work; standard output that cannot be written
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("seed", "match"),
    [
        ("-1", "seed=-1 must be a non-negative integer"),
        ("1.5", "seed='1.5' is not an integer"),
        ("x", "seed='x' is not an integer"),
    ],
)
def test_verify_bad_seed_exits_2_before_running(capsys, fake_verify, seed, match):
    # before: --seed -1 ran 37 s of checks, then numpy's traceback
    code, out, err = run(capsys, "verify", "--no-progress", "--seed", seed)
    assert_usage_error(code, out, err, "quanttheory verify")
    assert "--seed" in err
    assert match in err
    assert fake_verify.calls == []  # nothing ran


def _subprocess_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO), env.get("PYTHONPATH", "")) if p
    )
    return env


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_table_to_a_full_disk_is_one_line_exit_2():
    # before: a traceback from the final flush
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [sys.executable, "-m", "quanttheory", "table", "--bits", "2"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env=_subprocess_env(),
            timeout=120,
            check=False,
        )
    assert proc.returncode == 2
    assert proc.stderr == (
        "quanttheory table: error: cannot write to standard output "
        "(No space left on device)\n"
    )


class _FailingStdout(io.StringIO):
    """A standard output whose writes fail with ``exc``."""

    def __init__(self, exc):
        super().__init__()
        self.exc = exc

    def write(self, text):
        raise self.exc

    def fileno(self):
        raise io.UnsupportedOperation("no file descriptor")


def test_stdout_errors_in_process(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdout", _FailingStdout(OSError(5, "Input/output error")))
    assert main(["table", "--bits", "2"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "quanttheory table: error: cannot write to standard output "
        "(Input/output error)\n"
    )
    # a reader that went away (`quanttheory table | head`): quiet, status 0
    monkeypatch.setattr(
        sys, "stdout", _FailingStdout(BrokenPipeError(32, "Broken pipe"))
    )
    assert main(["table", "--bits", "2"]) == 0
    assert capsys.readouterr().err == ""


def test_broken_pipe_subprocess_is_quiet():
    # a reader that closes after one line; the JSON of 32 bit-widths is
    # larger than a pipe buffer (64 KiB), so the writer meets the closed pipe
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "quanttheory",
            "table",
            "--bits",
            "1-32",
            "--format",
            "json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
        env=_subprocess_env(),
    )
    proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=120) == 0
    assert "Traceback" not in err
    assert err == ""


# ---------------------------------------------------------------------------
# output files: symbolic links are written through, special files refused
# ---------------------------------------------------------------------------
def test_report_through_a_symlink_writes_the_target(capsys, tmp_path, fake_verify):
    # before: the atomic rename replaced the link by a regular file
    (tmp_path / "real").mkdir()
    (tmp_path / "links").mkdir()
    target = tmp_path / "real" / "r.md"
    target.write_text("old\n")
    target.chmod(0o600)
    link = tmp_path / "links" / "r.md"
    link.symlink_to(target)
    code, _, err = run(capsys, "verify", "--no-progress", "--report", str(link))
    assert (code, err) == (0, "")
    assert link.is_symlink()
    assert os.readlink(link) == str(target)
    assert target.read_text().startswith("# quanttheory verify")
    assert (target.stat().st_mode & 0o777) == 0o600  # the file keeps its mode
    # nothing else was written, in either directory
    assert sorted(p.name for p in (tmp_path / "real").iterdir()) == ["r.md"]
    assert sorted(p.name for p in (tmp_path / "links").iterdir()) == ["r.md"]


def test_report_through_a_dangling_symlink_creates_the_target(
    capsys, tmp_path, fake_verify
):
    target = tmp_path / "new.md"
    link = tmp_path / "link.md"
    link.symlink_to(target)
    code, _, _ = run(capsys, "verify", "--no-progress", "--report", str(link))
    assert code == 0
    assert link.is_symlink()
    assert target.read_text().startswith("# quanttheory verify")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.md", "new.md"]
    # a link into a directory that does not exist: exit 2 before any work
    bad = tmp_path / "bad.md"
    bad.symlink_to(tmp_path / "no" / "such.md")
    code, out, err = run(capsys, "verify", "--no-progress", "--report", str(bad))
    assert_usage_error(code, out, err, "quanttheory verify")
    assert f"directory '{tmp_path / 'no'}' of the link's target" in err
    assert fake_verify.calls == [[1, 2, 3, 4, 5, 6, 7, 8]]  # only the first ran


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_report_symlink_to_a_device_is_refused(capsys, tmp_path, fake_verify):
    link = tmp_path / "r.md"
    link.symlink_to("/dev/full")
    code, out, err = run(capsys, "verify", "--no-progress", "--report", str(link))
    assert_usage_error(code, out, err, "quanttheory verify")
    assert err.endswith("is not a regular file (a device, pipe or socket)\n")
    assert link.is_symlink()  # the link and the device are untouched
    assert os.readlink(link) == "/dev/full"
    assert fake_verify.calls == []
