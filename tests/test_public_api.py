"""The public namespace: exports and import side effects.

The docstrings are validated with numpydoc in ``tests/api/test_docstrings.py``.

The export checks follow Hypothesis' ``_check_exports`` (in
``hypothesis/strategies/__init__.py``): every public-looking name bound in
``quanttheory/__init__.py`` is listed in ``__all__``, no ``_private`` name is,
and everything listed exists.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import types
from pathlib import Path

import quanttheory as qt

ROOT = Path(__file__).resolve().parents[1]
INIT = ROOT / "quanttheory" / "__init__.py"


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _names_bound_in_init() -> set[str]:
    """Names that ``quanttheory/__init__.py`` binds at module level."""
    tree = ast.parse(INIT.read_text())
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if isinstance(node, ast.ImportFrom) and node.module == "__future__":
                continue
            for alias in node.names:
                names.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Name):
                    names.add(t.id)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
    return names


def test_every_name_in_all_exists():
    assert len(qt.__all__) == len(set(qt.__all__)), "duplicates in __all__"
    missing = [n for n in qt.__all__ if not hasattr(qt, n)]
    assert missing == []


def test_no_private_name_in_all():
    assert [n for n in qt.__all__ if _is_private(n)] == []


def test_every_public_name_defined_in_init_is_in_all():
    bound = _names_bound_in_init()
    public = {n for n in bound if not n.startswith("_")} - {"__all__"}
    assert public - set(qt.__all__) == set()


def test_every_public_attribute_is_in_all():
    # the runtime view too: anything public-looking on the package (other than
    # submodules, which are not re-exports) must be listed
    public = {
        n
        for n in dir(qt)
        if not n.startswith("_") and not isinstance(getattr(qt, n), types.ModuleType)
    }
    assert public - set(qt.__all__) == set()


def test_version_matches_pyproject():
    # tomllib is 3.11+, and the package supports 3.10: read the line
    text = (ROOT / "pyproject.toml").read_text()
    version = re.search(r'^version\s*=\s*"([^"]+)"', text, re.MULTILINE).group(1)
    assert qt.__version__ == version


def test_ships_py_typed():
    assert (ROOT / "quanttheory" / "py.typed").is_file()


# ---------------------------------------------------------------------------
# import side effects
# ---------------------------------------------------------------------------


def test_import_does_not_load_heavy_optional_modules():
    code = (
        "import sys, quanttheory\n"
        "heavy = [m for m in ('torch', 'matplotlib', 'sympy') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert res.stdout.strip() == "", f"imported eagerly: {res.stdout.strip()}"
