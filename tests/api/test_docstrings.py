"""numpydoc validation of every public docstring.

Every callable listed in the ``__all__`` of a public module (functions and
classes; data constants such as ``MODELS`` or ``ACIQ_GAUSSIAN_ALPHA`` are
skipped), and every public method and property of those classes (inherited
ones included, as long as quanttheory defines them), goes through
:func:`numpydoc.validate.validate`. The test fails on any error code of
:data:`ENFORCED`, and names the callable.

``quanttheory.torch`` needs the optional ``torch`` dependency: its part is
skipped (``pytest.importorskip``) where torch is not installed.
"""

from __future__ import annotations

import ast
import functools
import importlib
import importlib.util
import inspect
from pathlib import Path

import pytest
from numpydoc.validate import ERROR_MSGS, Validator, get_doc_object, validate

#: Modules whose ``__all__`` (or public functions) make the public API.
PUBLIC_MODULES = (
    "quanttheory",
    "quanttheory.symbolic",
    "quanttheory.baselines",
    "quanttheory.plotting",
    "quanttheory.strategies",
)
TORCH_MODULE = "quanttheory.torch"

#: numpydoc codes that are not enforced, each with its reason.
EXCLUDED = {
    # An extended summary is noise on a short method or property whose
    # one-line summary already says everything.
    "ES01",
    # A See Also section is added where a cross-reference helps, not on every
    # method and property.
    "SA01",
    # The numpydoc format allows a bare name in See Also; the package lists
    # related functions by name only (their summaries are one click away).
    "SA04",
    # Examples are enforced for every name in an ``__all__`` (EX01 is added
    # back below for them); a method or property is shown by the Examples of
    # its class or of the function that returns the object.
    "EX01",
}
#: Every other numpydoc code is enforced (GL07, GL08, PR01, PR02, PR07,
#: RT03, SS02 among them).
ENFORCED = frozenset(ERROR_MSGS) - EXCLUDED
#: What the names listed in an ``__all__`` must satisfy on top.
ENFORCED_TOP_LEVEL = ENFORCED | {"EX01"}


def _members(cls) -> list[tuple[str, str]]:
    """Public methods and properties of ``cls``, as (name, import path).

    Walks the MRO so that members inherited from a private quanttheory base
    (e.g. ``Table.to_csv``) are checked under the public class; members of
    non-quanttheory bases (``object``, ``Exception``, ``torch.nn.Module``) are
    not ours to document.
    """
    out = []
    seen = set()
    for base in cls.__mro__:
        if not base.__module__.startswith("quanttheory"):
            continue
        for attr, value in vars(base).items():
            if attr.startswith("_") or attr in seen:
                continue
            if isinstance(value, (staticmethod, classmethod)):
                value = value.__func__
            if not (
                inspect.isfunction(value)
                or isinstance(value, (property, functools.cached_property))
            ):
                continue  # class-level data (``name``, ``columns``, ...)
            seen.add(attr)
            out.append(
                (attr, f"{base.__module__}.{base.__qualname__}.{attr}"),
            )
    return out


def _public_objects(module_name: str) -> list[tuple[str, str, bool]]:
    """``(public id, import path, listed in __all__)`` for one public module."""
    mod = importlib.import_module(module_name)
    names = getattr(mod, "__all__", None)
    if names is None:
        names = [
            n
            for n, v in vars(mod).items()
            if not n.startswith("_")
            and inspect.isfunction(v)
            and v.__module__ == module_name
        ]
    out = []
    for name in names:
        obj = getattr(mod, name)
        if not callable(obj):
            continue  # a data constant (tuple, dict, str)
        path = f"{obj.__module__}.{obj.__qualname__}"
        out.append((f"{module_name}.{name}", path, True))
        if inspect.isclass(obj):
            for attr, member_path in _members(obj):
                out.append((f"{module_name}.{name}.{attr}", member_path, False))
    return out


def _params(objects):
    seen = set()
    params = []
    for public, path, top in objects:
        if path in seen:
            continue  # the same object exported twice
        seen.add(path)
        params.append(pytest.param(path, top, id=public))
    return params


def _set_typed_without_description(path: str) -> list[tuple[str, str]]:
    """PR07 for ``name : {'a', 'b'}`` parameters without a description.

    For a parameter whose type is a set of options, numpydoc 1.11 skips the
    description checks (PR07-PR09: ``if "{" in type: continue``), so a bare
    ``scheme : {'paper', 'midrise'}`` would pass; this closes that hole.
    """
    doc = Validator(get_doc_object(Validator._load_obj(path)))
    return [
        ("PR07", ERROR_MSGS["PR07"].format(param_name=name))
        for name, (type_, desc) in doc.doc_all_parameters.items()
        if "{" in type_ and not "".join(desc).strip()
    ]


def _errors(path: str, codes) -> list[tuple[str, str]]:
    """The errors of ``codes`` that numpydoc reports for ``path``."""
    errors = validate(path)["errors"]
    if "PR07" in codes:
        errors = errors + [
            e for e in _set_typed_without_description(path) if e not in errors
        ]
    return [(c, msg) for c, msg in errors if c in codes]


def _check(path: str, top: bool) -> None:
    errors = _errors(path, ENFORCED_TOP_LEVEL if top else ENFORCED)
    assert errors == [], f"{path}:\n" + "\n".join(f"  {c}: {m}" for c, m in errors)


CORE = _params(obj for m in PUBLIC_MODULES for obj in _public_objects(m))


def _torch_installed() -> bool:
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):  # e.g. a broken or blocked install
        return False


if _torch_installed():
    TORCH = _params(_public_objects(TORCH_MODULE))
else:  # one placeholder, skipped by importorskip in the test
    TORCH = [pytest.param(TORCH_MODULE, True, id="torch-not-installed")]


@pytest.mark.parametrize(("path", "top"), CORE)
def test_numpydoc(path, top):
    _check(path, top)


@pytest.mark.parametrize(("path", "top"), TORCH)
def test_numpydoc_torch(path, top):
    pytest.importorskip("torch")
    _check(path, top)


# ---------------------------------------------------------------------------
# the check itself can fail
# ---------------------------------------------------------------------------


def _bad(x, y, w="a"):
    """computes something
    over two lines.

    Examples
    --------
    >>> _bad(1, 2)

    Parameters
    ----------
    x : float
    w : {'a', 'b'}
    z : float
        Not a parameter.

    Returns
    -------
    float
    """


def _undocumented(x):
    pass


def _good(x):
    """Return ``x``.

    Parameters
    ----------
    x : float
        Any number.

    Returns
    -------
    float
        The same number.

    Examples
    --------
    >>> _good(1.0)
    1.0
    """
    return x


def test_check_fails_on_a_bad_docstring():
    here = f"{__name__}._bad"
    codes = {c for c, _ in _errors(here, ENFORCED_TOP_LEVEL)}
    # sections out of order, y undocumented, z unknown, x without a
    # description, a Returns type without description, lower-case summary
    # on two lines
    assert {"GL07", "PR01", "PR02", "PR07", "RT03", "SS02", "SS06"} <= codes
    # numpydoc alone misses the set-typed ``w``; the supplementary check does not
    missing = {m for c, m in _errors(here, {"PR07"})}
    assert 'Parameter "w" has no description' in missing
    assert 'Parameter "x" has no description' in missing
    with pytest.raises(AssertionError, match="GL07"):
        _check(here, True)
    with pytest.raises(AssertionError, match="GL08"):
        _check(f"{__name__}._undocumented", True)
    _check(f"{__name__}._good", True)


def test_required_codes_are_enforced():
    assert {"GL07", "GL08", "PR01", "PR02", "PR07", "RT03", "SS02"} <= ENFORCED
    assert EXCLUDED <= set(ERROR_MSGS)


def test_collection_finds_functions_classes_methods_and_properties():
    ids = {p.id for p in CORE}
    assert len(CORE) >= 70, len(CORE)
    expected = {
        "quanttheory.mse",
        "quanttheory.Distribution",
        "quanttheory.Distribution.pdf",
        "quanttheory.Distribution.std",  # a property
        "quanttheory.MonteCarloResult.ci",
        "quanttheory.Empirical.sorted",
        "quanttheory.Gaussian.with_variance",  # a classmethod
        "quanttheory.symbolic.uniform_mse",
        "quanttheory.baselines.octav",
        "quanttheory.plotting.plot_mse_curves",
        "quanttheory.strategies.distributions",
    }
    assert expected <= ids, expected - ids
    # data constants are not callables
    assert not ids & {"quanttheory.MODELS", "quanttheory.baselines.ACIQ_GAUSSIAN_ALPHA"}


def test_docs_build_validates_the_same_codes():
    # docs/conf.py sets numpydoc_validation_checks, so the Sphinx build (-W)
    # warns on the same codes; keep the two in step
    conf = Path(__file__).resolve().parents[2] / "docs" / "conf.py"
    for node in ast.parse(conf.read_text()).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "numpydoc_validation_checks"
            for t in node.targets
        ):
            checks = ast.literal_eval(node.value)
            break
    else:
        pytest.fail("docs/conf.py does not set numpydoc_validation_checks")
    assert checks == {"all"} | EXCLUDED
