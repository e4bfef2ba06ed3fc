"""Import behaviour and the public namespace of ``quanttheory.torch``."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import quanttheory.torch as qtt


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_import_quanttheory_does_not_import_torch():
    res = _run(
        """
        import sys
        import quanttheory
        assert "torch" not in sys.modules, "quanttheory imported torch"
        import quanttheory.torch
        assert "torch" in sys.modules
        assert not any(m.startswith(("lightning", "pytorch_lightning"))
                       for m in sys.modules)
        """
    )
    assert res.returncode == 0, res.stderr


def test_clear_import_error_without_torch():
    # ``sys.modules["torch"] = None`` makes ``import torch`` fail as if absent.
    res = _run(
        """
        import sys
        sys.modules["torch"] = None
        import quanttheory
        try:
            import quanttheory.torch
        except ImportError as exc:
            print(exc)
        else:
            raise SystemExit("no ImportError")
        """
    )
    assert res.returncode == 0, res.stderr
    assert "needs PyTorch" in res.stdout
    assert "pip install" in res.stdout


def test_all_lists_exactly_the_public_names():
    # the Hypothesis ``_check_exports`` pattern: every public-looking module
    # attribute is exported, and nothing private is
    public = {
        n
        for n in dir(qtt)
        if not n.startswith("_") and not isinstance(getattr(qtt, n), type(sys))
    }
    assert set(qtt.__all__) == public
    assert not [n for n in qtt.__all__ if n.startswith("_")]


def test_star_import_works_without_lightning():
    ns: dict = {}
    exec("from quanttheory.torch import *", ns)
    assert "KURE" in ns
    assert "QuantTheoryCallback" not in ns


def test_unknown_attribute():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        qtt.nope


def test_every_scheme_default_is_the_package_default():
    # issue 11: the core defaulted to 'paper', the bridge to 'signed', so
    # qt.optimal_step(qt.Empirical(w), 4) and qtt.optimal_step(w, 4) differed
    # (0.006372 against 0.006727 in the report). One default: 'paper'.
    import inspect

    import quanttheory as qt

    core = inspect.signature(qt.optimal_step).parameters["scheme"].default
    assert core == "paper"
    checked = []
    for name in qtt.__all__:
        obj = getattr(qtt, name)
        if not callable(obj):
            continue
        try:
            params = inspect.signature(obj).parameters
        except (TypeError, ValueError):  # pragma: no cover - builtins
            continue
        default = params["scheme"].default if "scheme" in params else None
        if default not in (None, inspect.Parameter.empty):  # a record's field
            assert default == core, name
            checked.append(name)
    assert {
        "analyze",
        "fake_quantize",
        "optimal_step",
        "quantized",
        "robustness_sweep",
        "SensitivityMonitor",
        "SweepResult",
    } <= set(checked)


def test_same_name_same_answer():
    import numpy as np
    import torch

    import quanttheory as qt

    g = torch.Generator().manual_seed(11)
    w = torch.randn(128, 64, generator=g) * 0.02
    emp = qt.Empirical(w.numpy())
    assert qtt.optimal_step(w, 4) == qt.optimal_step(emp, 4)
    assert qtt.optimal_step(w, 4, scheme="signed") == qt.optimal_step(
        emp, 4, scheme="signed"
    )
    assert qtt.optimal_step(w, 4) != qtt.optimal_step(w, 4, scheme="signed")
    d = qtt.optimal_step(w, 4)
    assert torch.equal(
        qtt.fake_quantize(w, d, 4), torch.from_numpy(qt.quantize(w.numpy(), d, 4))
    )
    assert qtt.analyze({"w": w})[0].mse == qt.mse(emp, d, 4)
    assert np.isfinite(qtt.analyze({"w": w})[0].mse)
