"""Sphinx helpers of the quanttheory docs: figures from examples, live sympy.

* At ``builder-inited`` every script of ``examples/`` listed in
  :data:`EXAMPLES` runs in-process (its ``main(argv)``) and writes its figure
  to ``docs/_build/figures/<name>.png`` and what it prints to
  ``<name>.txt``; pages show them with ``.. figure::`` and
  ``.. literalinclude::``. A script runs again only when it, or a module of
  the package, is newer than its outputs. A script that fails (non-zero
  return or an exception) fails the build. The ``quanttheory plot`` help
  texts and the findings of ``quanttheory verify`` (as Markdown) are
  written there too.
* ``.. qt-derivation:: uniform_mse`` renders the ``steps`` of a
  :mod:`quanttheory.symbolic` result (label, remark, expression), and with
  ``:text:`` its statement in words; ``.. qt-math:: path`` renders one
  expression (``:lhs:`` puts a left-hand side in front), ``.. qt-text::
  path`` a statement in words, and the role
  ``:qt-expr:`path``` an inline one, where ``path`` is a function of
  :mod:`quanttheory.symbolic` followed by attributes, e.g.
  ``uniform_optimal_steps.minimiser.step``. The derivations are computed
  by sympy while the page is read, so the page always shows what the code
  derives.
* ``contents.rst`` gets a "More" toctree with the other top-level pages that
  exist (``theory-notes``, ``torch``) and that ``index.md`` does not list.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import runpy
from pathlib import Path
from typing import ClassVar

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.errors import ExtensionError
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

LOG = logging.getLogger(__name__)

DOCS = Path(__file__).resolve().parents[1]
ROOT = DOCS.parent
FIGURES = DOCS / "_build" / "figures"
#: example script stem -> extra command-line arguments
EXAMPLES = {
    "verify_lemmas": [],
    "sensitivity_curves": [],
    "bitwidth_robustness": [],
    "analyze_npy": [],
    "monte_carlo_vs_theory": [],
}
#: top-level pages owned elsewhere that join the navigation when they exist
OPTIONAL_PAGES = ("theory-notes",)


# ---------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------
def _newest_source(script: Path) -> float:
    sources = [script, *sorted((ROOT / "quanttheory").rglob("*.py"))]
    return max(p.stat().st_mtime for p in sources)


def _run_example(name: str, args: list[str]) -> None:
    script = ROOT / "examples" / f"{name}.py"
    png, txt = FIGURES / f"{name}.png", FIGURES / f"{name}.txt"
    if (
        png.exists()
        and txt.exists()
        and min(png.stat().st_mtime, txt.stat().st_mtime) >= _newest_source(script)
    ):
        return
    LOG.info(f"quanttheory_docs: running examples/{name}.py")
    ns = runpy.run_path(str(script), run_name=f"quanttheory_docs.{name}")
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            code = ns["main"]([*args, "--out", str(png)])
    except Exception as exc:  # a broken example must fail the build
        raise ExtensionError(f"examples/{name}.py failed: {exc!r}") from exc
    if code:
        raise ExtensionError(
            f"examples/{name}.py returned {code}; its output:\n{buf.getvalue()}"
        )
    text = buf.getvalue().replace(f"wrote {png}", f"wrote {png.name}")
    txt.write_text(text)


def _cli_help() -> None:
    from quanttheory._cli import plot as plot_command

    parser = argparse.ArgumentParser(prog="quanttheory")
    plot_command.add_parser(parser.add_subparsers(dest="command"))
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "88"
    try:
        for kind in ("", *plot_command.KINDS):
            buf = io.StringIO()
            argv = ["plot", kind, "--help"] if kind else ["plot", "--help"]
            with contextlib.redirect_stdout(buf), contextlib.suppress(SystemExit):
                parser.parse_args(argv)
            name = f"plot-{kind}-help.txt" if kind else "plot-help.txt"
            path = FIGURES / name
            if not path.exists() or path.read_text() != buf.getvalue():
                path.write_text(buf.getvalue())
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old


def _verify_findings() -> None:
    """The findings of ``quanttheory verify`` as Markdown (bits 2 to 8)."""
    path = FIGURES / "verify-findings.md"
    if path.exists() and path.stat().st_mtime >= max(
        p.stat().st_mtime for p in (ROOT / "quanttheory").rglob("*.py")
    ):
        return
    from quanttheory import _verify

    LOG.info("quanttheory_docs: computing the findings of quanttheory verify")
    parts = []
    for title, body in _verify.findings(list(range(2, 9))):
        parts += [f"# {title}", "", body, ""]
    path.write_text("\n".join(parts))


def make_figures(app) -> None:
    FIGURES.mkdir(parents=True, exist_ok=True)
    for name, args in EXAMPLES.items():
        _run_example(name, args)
    _cli_help()
    _verify_findings()


# ---------------------------------------------------------------------------
# live sympy
# ---------------------------------------------------------------------------
def _resolve(path: str):
    from quanttheory import symbolic

    func, *attrs = path.split(".")
    obj = getattr(symbolic, func)()
    for a in attrs:
        obj = getattr(obj, a)
    return obj


def _latex(expr) -> str:
    import sympy

    return sympy.latex(expr)


def _math_block(directive: SphinxDirective, latex: str) -> nodes.math_block:
    node = nodes.math_block(
        latex,
        latex,
        docname=directive.env.docname,
        number=None,
        label=None,
        nowrap=False,
    )
    directive.set_source_info(node)
    return node


def _said(text: str) -> nodes.admonition:
    """A statement in words from quanttheory.symbolic, marked as such."""
    box = nodes.admonition(classes=["note"])
    box += nodes.title(text="quanttheory.symbolic")
    box += nodes.paragraph(text=text)
    return box


class Derivation(SphinxDirective):
    """``.. qt-derivation:: uniform_mse`` with an optional ``:text:`` flag."""

    required_arguments = 1
    option_spec: ClassVar[dict] = {"text": directives.flag}

    def run(self):
        try:
            obj = _resolve(self.arguments[0])
        except Exception as exc:
            raise self.error(f"qt-derivation {self.arguments[0]}: {exc!r}") from exc
        out: list[nodes.Node] = []
        for i, step in enumerate(obj.steps, 1):
            para = nodes.paragraph()
            para += nodes.strong(text=f"{i}. {step.label}")
            if step.remark:
                para += nodes.Text(f" \N{EN DASH} {step.remark}")
            out.append(para)
            out.append(_math_block(self, _latex(step.expr)))
        if "text" in self.options:
            out.append(_said(obj.text))
        return out


class MathExpr(SphinxDirective):
    """``.. qt-math:: uniform_sensitivity.gamma`` with ``:lhs:`` and ``:op:``.

    ``:lhs:`` is put in front with ``:op:`` (default ``=``) in between.
    """

    required_arguments = 1
    option_spec: ClassVar[dict] = {
        "lhs": directives.unchanged,
        "op": directives.unchanged,
    }

    def run(self):
        try:
            latex = _latex(_resolve(self.arguments[0]))
        except Exception as exc:
            raise self.error(f"qt-math {self.arguments[0]}: {exc!r}") from exc
        lhs = self.options.get("lhs")
        op = self.options.get("op", "=")
        return [_math_block(self, f"{lhs} {op} {latex}" if lhs else latex)]


class Text(SphinxDirective):
    """``.. qt-text:: uniform_mse.text``: a statement in words, as a paragraph."""

    required_arguments = 1

    def run(self):
        try:
            text = str(_resolve(self.arguments[0]))
        except Exception as exc:
            raise self.error(f"qt-text {self.arguments[0]}: {exc!r}") from exc
        return [_said(text)]


def expr_role(name, rawtext, text, lineno, inliner, options=None, content=None):
    """``:qt-expr:`uniform_curvature.at_optimum``` as inline math."""
    try:
        latex = _latex(_resolve(text))
    except Exception as exc:
        msg = inliner.reporter.error(f"qt-expr {text}: {exc!r}", line=lineno)
        return [inliner.problematic(rawtext, rawtext, msg)], [msg]
    return [nodes.math(rawtext, latex)], []


# ---------------------------------------------------------------------------
# navigation
# ---------------------------------------------------------------------------
def _listed_in_index(page: str) -> bool:
    index = DOCS / "index.md"
    if not index.exists():
        return False
    text = index.read_text()
    return "{toctree}" in text and any(
        line.strip() == page for line in text.splitlines()
    )


def add_optional_pages(app, docname, source) -> None:
    if docname != "contents":
        return
    pages = [
        p
        for p in OPTIONAL_PAGES
        if any((DOCS / f"{p}{ext}").exists() for ext in (".md", ".rst"))
        and not _listed_in_index(p)
    ]
    if pages:
        entries = "\n".join(f"   {p}" for p in pages)
        source[0] += (
            f"\n\n.. toctree::\n   :caption: More\n   :maxdepth: 1\n\n{entries}\n"
        )


def setup(app):
    app.connect("builder-inited", make_figures)
    app.connect("source-read", add_optional_pages)
    app.add_directive("qt-derivation", Derivation)
    app.add_directive("qt-math", MathExpr)
    app.add_directive("qt-text", Text)
    app.add_role("qt-expr", expr_role)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
