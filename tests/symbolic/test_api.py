"""Public surface of quanttheory.symbolic: exports, lazy import, LaTeX."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest
import sympy

from quanttheory import symbolic


def test_exports_are_complete_and_public():
    # the Hypothesis _check_exports pattern
    public = {
        name
        for name, obj in vars(symbolic).items()
        if not name.startswith("_")
        and getattr(obj, "__module__", "").startswith("quanttheory.symbolic")
    }
    assert public == set(symbolic.__all__)
    assert not [n for n in symbolic.__all__ if n.startswith("_")]


def test_importing_quanttheory_does_not_import_sympy():
    code = (
        "import sys, quanttheory\n"
        "assert 'sympy' not in sys.modules, 'sympy imported eagerly'\n"
        "from quanttheory import symbolic\n"
        "assert 'sympy' in sys.modules\n"
        "print(symbolic.symbols().Delta)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "Delta"


def test_symbols_carry_assumptions():
    s = symbolic.symbols()
    assert [s.a.name, s.Delta.name, s.M.name, s.epsilon.name] == [
        "a",
        "Delta",
        "M",
        "epsilon",
    ]
    for positive in (s.a, s.Delta, s.M, s.sigma, s.b, s.tau):
        assert positive.is_positive, positive
    assert s.M.is_integer
    assert s.n.is_integer
    assert s.n.is_nonnegative
    assert s.epsilon.is_real
    assert s.epsilon.is_positive is None  # a signed step error
    assert symbolic.symbols() is s  # one shared set
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.a = sympy.Symbol("a")


def _expressions(obj):
    if isinstance(obj, sympy.Basic):
        yield obj
    elif dataclasses.is_dataclass(obj):
        for f in dataclasses.fields(obj):
            yield from _expressions(getattr(obj, f.name))
    elif isinstance(obj, tuple):
        for item in obj:
            yield from _expressions(item)


def _overwrite(obj):
    obj.expr = None


@pytest.mark.parametrize(
    "make",
    [
        symbolic.uniform_mse,
        symbolic.uniform_exact_mse,
        symbolic.uniform_optimal_steps,
        symbolic.uniform_curvature,
        symbolic.uniform_sensitivity,
        symbolic.gaussian_additive_mse,
        symbolic.laplace_additive_mse,
        lambda: symbolic.laplace_exact_mse("midrise"),
        lambda: symbolic.gaussian_exact_mse(2, "signed"),
    ],
)
def test_everything_renders_latex(make):
    res = make()
    exprs = list(_expressions(res))
    assert exprs
    for e in exprs:
        tex = sympy.latex(e)
        assert isinstance(tex, str)
        assert tex
    if dataclasses.is_dataclass(res):
        assert dataclasses.fields(res)
        with pytest.raises(dataclasses.FrozenInstanceError):
            _overwrite(res)


def test_latex_of_key_results():
    opt = symbolic.uniform_optimal_steps()
    assert sympy.latex(opt.minimiser.step) == r"\frac{2 a}{2^{M} + 1}"
    assert r"\Delta" in sympy.latex(symbolic.uniform_mse().expr)
    assert r"\epsilon^{2}" in sympy.latex(symbolic.uniform_sensitivity().gamma)


def test_results_are_cached():
    assert symbolic.uniform_mse() is symbolic.uniform_mse()
    assert symbolic.laplace_exact_mse("paper") is symbolic.laplace_exact_mse("paper")
