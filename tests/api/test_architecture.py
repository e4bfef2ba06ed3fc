"""The package's structure: no import cycles and no private names across
sub-packages (docs/architecture.rst).

``lint-imports`` (``[tool.importlinter]`` in pyproject.toml, run in CI)
checks the layers. Two rules are not expressible as its contracts, so they
are checked here from the source with :mod:`ast`, function-local imports
included: the module graph of ``quanttheory`` has no cycle at all (siblings
of one layer included), and no module imports a private name (or a private
module) of another sub-package.
"""

from __future__ import annotations

import ast
from pathlib import Path

import quanttheory

PKG = Path(quanttheory.__file__).parent
#: Optional heavy dependencies: the only imports allowed inside functions.
LAZY_OK = {"torch", "matplotlib", "sympy", "dask", "lightning", "pytorch_lightning"}


def _modules():
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG.parent).with_suffix("")
        parts = list(rel.parts)
        is_pkg = parts[-1] == "__init__"
        if is_pkg:
            parts = parts[:-1]
        yield ".".join(parts), is_pkg, path


def _imports(name: str, is_pkg: bool, path: Path):
    """``(target module, imported names, line, inside a function)``."""
    tree = ast.parse(path.read_text(), str(path))
    package = name if is_pkg else name.rpartition(".")[0]
    funcs = [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
    ]
    local = {id(n) for f in funcs for n in ast.walk(f) if n is not f}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield target, [a.name for a in node.names], node.lineno, id(node) in local
        elif isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, [], node.lineno, id(node) in local


def _graph():
    names = {m for m, _, _ in _modules()}
    edges = {}
    for m, is_pkg, path in _modules():
        out = set()
        for target, imported, _, _ in _imports(m, is_pkg, path):
            if not target.startswith("quanttheory"):
                continue
            for n in imported or [None]:
                sub = f"{target}.{n}" if n else target
                out.add(sub if sub in names else target)
        out.discard(m)
        edges[m] = {t for t in out if t in names}
    return edges


def _cycle(edges):
    """One cycle of the graph as a list of modules, or None."""
    state = {}

    def visit(u, stack):
        state[u] = 1
        stack.append(u)
        for v in sorted(edges[u]):
            if state.get(v) == 1:
                return [*stack[stack.index(v) :], v]
            if v not in state:
                found = visit(v, stack)
                if found:
                    return found
        stack.pop()
        state[u] = 2
        return None

    for u in sorted(edges):
        if u not in state:
            found = visit(u, [])
            if found:
                return found
    return None


def test_the_module_graph_has_no_cycle():
    edges = _graph()
    # a package importing its own sub-modules is not a cycle of the layers
    for m in edges:
        edges[m] = {t for t in edges[m] if not t.startswith(m + ".")}
    assert _cycle(edges) is None


def test_cycle_finder_finds_a_planted_cycle():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycle(edges) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def _top(module: str) -> str:
    """The sub-package (or top-level module) a module belongs to."""
    parts = module.split(".")
    return ".".join(parts[:2])


def test_no_private_name_crosses_a_sub_package():
    bad = []
    for m, is_pkg, path in _modules():
        for target, imported, line, _ in _imports(m, is_pkg, path):
            if not target.startswith("quanttheory") or _top(target) == _top(m):
                continue
            below = target.split(".")[2:]
            private = [p for p in below if p.startswith("_")]
            private += [n for n in imported if n.startswith("_") and n != "__version__"]
            if private:
                bad.append(f"{path.relative_to(PKG.parent)}:{line} {target} {private}")
    assert bad == []


def _heavy_modules() -> set[str]:
    """Modules that import an optional heavy dependency at load time, directly
    or through another module of the package."""
    names = {m for m, _, _ in _modules()}
    direct, edges = set(), {}
    for m, is_pkg, path in _modules():
        edges[m] = set()
        for target, imported, _, inside in _imports(m, is_pkg, path):
            if inside:
                continue
            if target.split(".")[0] in LAZY_OK:
                direct.add(m)
            elif target.startswith("quanttheory"):
                subs = {f"{target}.{n}" for n in imported} & names
                edges[m] |= subs or ({target} & names)
    heavy, grew = set(direct), True
    while grew:
        new = {m for m, out in edges.items() if out & heavy} - heavy
        heavy |= new
        grew = bool(new)
    return heavy


def test_only_optional_heavy_dependencies_are_imported_lazily():
    # a function-local import of the package's own code is allowed only where
    # the module imported carries torch, matplotlib, sympy, dask or lightning
    names = {m for m, _, _ in _modules()}
    heavy = _heavy_modules()
    bad = []
    for m, is_pkg, path in _modules():
        for target, imported, line, inside in _imports(m, is_pkg, path):
            if not (inside and target.startswith("quanttheory")):
                continue
            subs = {f"{target}.{n}" for n in imported} & names or {target}
            if not subs <= heavy:
                bad.append(f"{path.relative_to(PKG.parent)}:{line} {target} {imported}")
    assert bad == []
