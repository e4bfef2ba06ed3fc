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
