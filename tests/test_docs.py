"""The documentation: the Sphinx build passes with warnings as errors, and
every ``>>>`` example on the pages runs.

The build is the command of ``docs/conf.py``,
``python -m sphinx -W -b html docs OUT``, in a subprocess (``--keep-going``
only makes it report every warning before failing). It also runs the
scripts of ``examples/`` that draw the figures (into ``docs/_build/figures``,
ignored by git), so a broken example breaks the docs. The package's own
docstring examples run through ``pytest --doctest-modules``; the examples
in ``docs/index.md`` are run by ``tests/test_cli.py``.
"""

from __future__ import annotations

import doctest
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
#: pages with doctested examples (Markdown pages owned elsewhere excluded)
PAGES = sorted(
    p.relative_to(DOCS).as_posix()
    for p in DOCS.rglob("*.rst")
    if "_build" not in p.parts
)
FIGURES = [
    "verify_lemmas.png",
    "sensitivity_curves.png",
    "bitwidth_robustness.png",
    "analyze_npy.png",
    "monte_carlo_vs_theory.png",
]


@pytest.mark.slow
def test_sphinx_build_has_no_warnings(tmp_path):
    # in the test extra; skipped only where the docs requirements are absent
    for module in ("sphinx", "numpydoc", "myst_parser"):
        pytest.importorskip(module, reason="the docs build needs the 'docs' extra")
    out = tmp_path / "html"
    env = dict(os.environ)
    env["MPLBACKEND"] = "Agg"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-q",
            "-b",
            "html",
            str(DOCS),
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr == "", proc.stderr
    for page in PAGES:
        assert (out / page).with_suffix(".html").is_file(), page
    assert (out / "index.html").is_file()
    images = {p.name for p in (out / "_images").iterdir()}
    assert set(FIGURES) <= images
    for name in FIGURES:
        assert (out / "_images" / name).read_bytes().startswith(b"\x89PNG")
    # the derivations are rendered by quanttheory.symbolic at build time
    lemma3 = (out / "theory" / "lemma3.html").read_text()
    assert r"\frac{2 a}{2^{M} + 1}" in lemma3
    lemma1 = (out / "theory" / "lemma1.html").read_text()
    assert r"\frac{4 a}{4^{M} - 1}" in lemma1


@pytest.mark.parametrize("page", PAGES)
def test_page_examples_run(page):
    result = doctest.testfile(
        str(DOCS / page),
        module_relative=False,
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
        raise_on_error=False,
        verbose=False,
        report=True,
    )
    assert result.failed == 0, f"{result.failed} of {result.attempted} failed"


def test_getting_started_quotes_the_readme_commands():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"```bash\n(.*?)```", readme, flags=re.S)
    assert len(commands) >= 2
    page = (DOCS / "getting-started.rst").read_text()
    quoted = {ln.strip() for ln in page.splitlines()}
    for block in commands:
        for line in block.strip().splitlines():
            assert line.strip() in quoted, f"README command not quoted: {line}"


def test_every_figure_comes_from_an_example():
    ext = (DOCS / "_ext" / "quanttheory_docs.py").read_text()
    for name in FIGURES:
        assert (ROOT / "examples" / name.replace(".png", ".py")).is_file()
        assert f'"{name.removesuffix(".png")}"' in ext
    referenced = set()
    for page in PAGES:
        referenced |= set(
            re.findall(r"/_build/figures/(\w+\.png)", (DOCS / page).read_text())
        )
    assert referenced == set(FIGURES)
