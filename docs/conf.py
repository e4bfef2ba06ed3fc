"""Sphinx configuration of the quanttheory documentation.

Build (warnings are errors)::

    python -m sphinx -W -b html docs docs/_build/html

The figures are drawn at build time by the scripts in ``examples/`` (see
``docs/_ext/quanttheory_docs.py``) into ``docs/_build/figures/``; the
derivations on the theory pages are produced by :mod:`quanttheory.symbolic`
while the pages are read.
"""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
# document the working tree, not an older installed copy
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(DOCS / "_ext"))

import quanttheory  # noqa: E402

project = "quanttheory"
author = "the quanttheory authors"
copyright = "the quanttheory authors, BSD-3-Clause"
release = quanttheory.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "quanttheory_docs",
]

# index.md (the user guide) is the root; the rest of the site hangs off the
# toctrees in contents.rst.
root_doc = "index"
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "_ext", "Thumbs.db", ".DS_Store"]
templates_path: list[str] = []

# -- autodoc / autosummary / numpydoc ----------------------------------------
autosummary_generate = False  # the reference pages are written by hand
autodoc_typehints = "none"  # the numpydoc Parameters sections carry the types
autodoc_member_order = "bysource"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
# Validate every docstring that autodoc renders (a warning, so an error under
# -W) with the codes of tests/api/test_docstrings.py: all but ES01, SA01 and
# SA04; that test also enforces EX01 for the names in an ``__all__``.
numpydoc_validation_checks = {"all", "ES01", "SA01", "SA04", "EX01"}

# -- MyST -----------------------------------------------------------------------
myst_heading_anchors = 3

# -- HTML ------------------------------------------------------------------------
html_theme = "alabaster"
html_title = f"quanttheory {release}"
html_theme_options = {
    "description": "Analytical theory of uniform quantization, proven numerically",
    "fixed_sidebar": True,
    "page_width": "1180px",
    "sidebar_width": "250px",
}
html_static_path: list[str] = []
html_show_sourcelink = False
