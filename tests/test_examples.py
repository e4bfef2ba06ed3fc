"""The runnable scripts in ``examples/``: each runs, writes its figure, and is fast.

Every script is run as a user would run it, ``python examples/NAME.py --out
FILE``, in a subprocess with warnings turned into errors and the Agg
backend. The issue asks for under 30 s each on 2 cores; they take a few
seconds, so the limit is asserted as it is stated.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
#: the scripts this test owns, with a line that each must print
SCRIPTS = {
    "verify_lemmas": "40 passed, 0 failed",
    "sensitivity_curves": "uniform most curved at the exact optimum: True",
    "bitwidth_robustness": "4-bit clip kept",
    "analyze_npy": "4-bit optimum per scheme",
    "monte_carlo_vs_theory": "largest |z| against the exact MSE",
}
LIMIT_S = 30.0


def run_script(name, *args, env_extra=None, cwd=None):
    env = dict(os.environ)
    # run against this checkout, installed or not
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), *filter(None, [env.get("PYTHONPATH")])]
    )
    env["MPLBACKEND"] = "Agg"
    env.update(env_extra or {})
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-W", "error", str(EXAMPLES / f"{name}.py"), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd or ROOT,
        timeout=300,
    )
    return proc, time.perf_counter() - t0


def is_png(path: Path) -> bool:
    return path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_every_example_is_listed():
    assert sorted(p.stem for p in EXAMPLES.glob("*.py") if p.stem in SCRIPTS) == (
        sorted(SCRIPTS)
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SCRIPTS))
def test_example_runs_and_writes_its_figure(tmp_path, name):
    out = tmp_path / f"{name}.png"
    proc, seconds = run_script(name, "--out", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr == ""
    assert SCRIPTS[name] in proc.stdout
    assert proc.stdout.rstrip().endswith(f"wrote {out}")
    assert is_png(out)
    assert seconds < LIMIT_S, f"{name} took {seconds:.1f} s"


@pytest.mark.slow
def test_example_default_output_directory(tmp_path):
    # no --out: the figure goes to <tempdir>/quanttheory-figures/
    proc, _ = run_script("verify_lemmas", env_extra={"TMPDIR": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "quanttheory-figures" / "verify_lemmas.png"
    assert is_png(out)
    assert f"wrote {out}" in proc.stdout


@pytest.mark.slow
def test_analyze_npy_reads_a_given_file(tmp_path):
    w = np.random.default_rng(0).laplace(0.0, 0.03, size=(64, 48)).astype(np.float32)
    np.save(tmp_path / "layer.npy", w)
    out = tmp_path / "layer.svg"
    proc, _ = run_script(
        "analyze_npy", str(tmp_path / "layer.npy"), "--bits", "3", "--out", str(out)
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("layer.npy: shape (64, 48), float32, 3072 values")
    assert "3-bit optimum per scheme" in proc.stdout
    data = out.read_bytes()
    assert data.startswith(b"<?xml")
    assert b"<svg" in data[:2000]
