"""``robustness_sweep``, ``SensitivityMonitor`` and the Lightning callback."""

from __future__ import annotations

import math
import sys
import types

import pytest
import torch

import quanttheory as qt
from quanttheory.torch import (
    KURE,
    SensitivityMonitor,
    carry_over_step,
    fake_quantize,
    optimal_step,
    robustness_sweep,
)


def snapshot(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


# -- robustness_sweep ---------------------------------------------------------------
def test_rows_steps_and_restore(cnn):
    snap = snapshot(cnn)
    seen = []

    def evaluate(m):
        # record the step that the quantizer used for fc1: w is on its grid
        w = m.fc1.weight.detach()
        seen.append(w.clone())
        return float(len(seen))

    res = robustness_sweep(
        cnn,
        evaluate,
        bits=[4, 3],
        step_scales=[0.5, 1.0],
        power_of_two=True,
        calibration_bits=4,
    )
    kinds = [(r.kind, r.bits, r.step_scale) for r in res]
    assert kinds[0][0] == "float"
    assert [k for k in kinds if k[0] == "step_scale"] == [
        ("step_scale", 4, 0.5),
        ("step_scale", 4, 1.0),
        ("step_scale", 3, 0.5),
        ("step_scale", 3, 1.0),
    ]
    assert [r.bits for r in res.select("power_of_two")] == [4, 3]
    assert [r.bits for r in res.select("carry_over")] == [4, 3]
    assert all(r.calibration_bits == 4 for r in res.select("carry_over"))
    assert [r.metric for r in res] == [float(i) for i in range(1, len(res) + 1)]
    w0 = snap["fc1.weight"]
    d4, d3 = optimal_step(w0, 4), optimal_step(w0, 3)
    assert torch.equal(seen[0], w0)  # the float row
    assert torch.equal(seen[1], fake_quantize(w0, 0.5 * d4, 4))
    assert torch.equal(seen[2], fake_quantize(w0, d4, 4))
    # carry-over at 3 bits: the 4-bit step doubled (clipping range kept)
    assert torch.equal(seen[-1], fake_quantize(w0, 2 * d4, 3))
    # rows: float, 4b x0.5, 4b x1, 4b pow2, 3b x0.5, 3b x1, 3b pow2, carry...
    assert res.select("step_scale", 3)[1].metric == 6.0
    assert torch.equal(seen[5], fake_quantize(w0, d3, 3))
    p2 = 2.0 ** round(math.log2(d4))
    assert torch.equal(seen[3], fake_quantize(w0, p2, 4))
    for k, v in cnn.state_dict().items():
        assert torch.equal(v, snap[k]), k


def test_carry_over_ratio_is_reported(mlp):
    res = robustness_sweep(
        mlp,
        lambda m: 0.0,
        bits=[2, 4],
        step_scales=[],
        power_of_two=False,
        calibration_bits=4,
        baseline=False,
    )
    r2, r4 = res.select("carry_over")
    assert r4.step_scale == pytest.approx(1.0, rel=1e-15)  # same step
    ratios = [
        carry_over_step(optimal_step(w, 4), 4, 2) / optimal_step(w, 2)
        for w in (mlp[0].weight, mlp[2].weight, mlp[4].weight)
    ]
    assert r2.step_scale == pytest.approx(math.prod(ratios) ** (1 / 3), rel=1e-12)


def test_restore_when_evaluate_raises(cnn):
    snap = snapshot(cnn)
    calls = []

    def evaluate(m):
        calls.append(1)
        if len(calls) == 2:
            raise ValueError("metric failed")
        return 1.0

    with pytest.raises(ValueError, match="metric failed"):
        robustness_sweep(cnn, evaluate, bits=3)
    for k, v in cnn.state_dict().items():
        assert torch.equal(v, snap[k]), k


def test_tables_and_plot(cnn):
    res = robustness_sweep(cnn, lambda m: 0.5, bits=3, step_scales=[0.9, 1.1])
    assert res.baseline == 0.5
    csv_text = res.to_csv()
    assert csv_text.splitlines()[0] == "kind,bits,step_scale,calibration_bits,metric"
    assert res.to_markdown().count("\n") == 2 + len(res)
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = res.plot(label="net")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["net 3 bits"]
    res2 = robustness_sweep(
        cnn,
        lambda m: 0.5,
        bits=[2, 3],
        step_scales=[1.0],
        calibration_bits=3,
        power_of_two=False,
    )
    ax = res2.plot(kind="carry_over", color="k", linestyle="-")
    assert len(ax.get_lines()) == 3  # carried, calibrated, baseline
    with pytest.raises(ValueError, match="kind='bits'"):
        res2.plot(kind="bits")
    plt.close("all")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"evaluate": 3}, "evaluate=3 must be callable"),
        ({"bits": []}, "bits is empty"),
        ({"bits": [4, 0]}, "bits=0"),
        ({"step_scales": [0.0]}, "step_scales=0.0"),
        # issue 11: the message named `bits`; it names calibration_bits
        ({"calibration_bits": 1.5}, "robustness_sweep: calibration_bits=1.5 must"),
        ({"calibration_bits": 0}, "robustness_sweep: calibration_bits=0 must be"),
        (
            {"calibration_bits": 1, "scheme": "symmetric"},
            "robustness_sweep: calibration_bits=1 must be an integer",
        ),
        ({"scheme": "affine"}, "scheme='affine'"),
        ({"select": "paper"}, "selects no weight"),
    ],
)
def test_sweep_errors(mlp, kwargs, match):
    kw = {"evaluate": lambda m: 0.0, **kwargs}
    with pytest.raises(qt.InvalidArgument, match=match):
        robustness_sweep(mlp, **kw)


def _generator(m):
    yield 1.0


async def _coroutine(m):
    return 1.0


class _GeneratorCall:
    def __call__(self, m):
        yield 1.0


@pytest.mark.parametrize(
    ("evaluate", "kind"),
    [
        (_generator, "generator function"),
        (_coroutine, "coroutine function"),
        (_GeneratorCall(), "generator function"),
    ],
)
def test_evaluate_that_returns_no_value_is_refused_up_front(mlp, evaluate, kind):
    # issue 11: a generator-function evaluate raised a raw TypeError from
    # float(generator); it is refused before any weight is touched
    snap = snapshot(mlp)
    with pytest.raises(qt.InvalidArgument, match=f"evaluate=.* is a {kind}"):
        robustness_sweep(mlp, evaluate, bits=3)
    for k, v in mlp.state_dict().items():
        assert torch.equal(v, snap[k]), k


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, "NoneType None"),
        ("0.9", "str '0.9'"),
        (torch.ones(2), r"a tensor of shape \(2,\)"),
    ],
)
def test_evaluate_must_return_a_number(cnn, value, shown):
    snap = snapshot(cnn)
    calls = []

    def evaluate(m):
        calls.append(1)
        return 1.0 if len(calls) == 1 else value  # fails inside `quantized`

    with pytest.raises(qt.InvalidArgument, match=f"evaluate returned {shown}, not a"):
        robustness_sweep(cnn, evaluate, bits=3)
    assert len(calls) == 2
    for k, v in cnn.state_dict().items():  # restored after the refusal
        assert torch.equal(v, snap[k]), k


def test_evaluate_may_return_a_0d_tensor(mlp):
    res = robustness_sweep(mlp, lambda m: torch.tensor(0.5), bits=3, step_scales=[1])
    assert [r.metric for r in res] == [0.5, 0.5, 0.5]


# -- SensitivityMonitor ---------------------------------------------------------------
def test_monitor_records_every_k_and_equals_analyze(mlp):
    mon = SensitivityMonitor(mlp, every=3, bits=3, eps=0.1)
    opt = torch.optim.SGD(mlp.parameters(), lr=0.1)
    x = torch.randn(16, 8)
    flags = []
    for _ in range(6):
        opt.zero_grad()
        mlp(x).square().mean().backward()
        opt.step()
        flags.append(mon.step())
    assert flags == [False, False, True, False, False, True]
    hist = mon.history
    assert hist.names == ["0.weight", "2.weight", "4.weight"]
    steps, _ = hist.series("2.weight")
    assert steps == [3, 6]
    last = mon.latest()["2.weight"]
    w = mlp[2].weight.detach()
    emp = qt.Empirical(w.double().numpy())
    # weights unchanged since step 6: the record is the engine on them now
    assert last.kurtosis == emp.kurtosis
    assert last.optimal_step == qt.optimal_step(emp, 3)  # the same default
    assert len(hist.to_dict()) == 6
    assert hist.to_csv().splitlines()[0].startswith("step,name,kurtosis")
    assert mon.mean_kurtosis() == pytest.approx(
        sum(r.kurtosis for r in mon.latest().values()) / 3, rel=1e-15
    )


def test_monitor_explicit_step_and_plot(mlp):
    mon = SensitivityMonitor(mlp, every=1, select=["2"])
    mon.step(step=100)
    mon.record(step=250)
    assert mon.history.series("2.weight", "gamma_rel")[0] == [100, 250]
    with pytest.raises(KeyError, match="unknown quantity"):
        mon.history.series("2.weight", "nope")
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = mon.history.plot("optimal_step")
    assert ax.get_ylabel() == "optimal_step"
    plt.close("all")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"every": 0}, "every=0"),
        ({"bits": 0}, "bits=0"),
        ({"eps": 2.0}, "eps=2.0"),
        ({"select": "paper"}, "selects no weight"),
    ],
)
def test_monitor_errors(mlp, kwargs, match):
    with pytest.raises(qt.InvalidArgument, match=match):
        SensitivityMonitor(mlp, **kwargs)


# -- Lightning callback ------------------------------------------------------------
def _lightning_installed() -> bool:
    import importlib.util

    return any(
        importlib.util.find_spec(m) is not None
        for m in ("lightning", "pytorch_lightning")
    )


@pytest.mark.skipif(_lightning_installed(), reason="Lightning is installed")
def test_callback_without_lightning_is_a_clear_import_error():
    import quanttheory.torch as qtt

    with pytest.raises(ImportError, match="pip install lightning"):
        qtt.QuantTheoryCallback
    with pytest.raises(ImportError, match="needs PyTorch Lightning"):
        from quanttheory.torch import QuantTheoryCallback  # noqa: F401


@pytest.fixture
def fake_lightning(monkeypatch):
    """A stand-in ``lightning.pytorch`` with only a ``Callback`` base class."""
    import quanttheory.torch._lightning as lmod

    pkg = types.ModuleType("lightning")
    sub = types.ModuleType("lightning.pytorch")

    class Callback:
        pass

    sub.Callback = Callback
    pkg.pytorch = sub
    monkeypatch.setitem(sys.modules, "lightning", pkg)
    monkeypatch.setitem(sys.modules, "lightning.pytorch", sub)
    monkeypatch.setattr(lmod, "_CLASS", None)
    yield Callback
    lmod._CLASS = None


def test_callback_scheme_default_is_the_package_default(fake_lightning, mlp):
    import inspect

    from quanttheory.torch import QuantTheoryCallback

    sig = inspect.signature(QuantTheoryCallback)
    assert sig.parameters["scheme"].default == "paper"
    cb = QuantTheoryCallback(every=1)
    cb.on_fit_start(types.SimpleNamespace(), mlp)
    assert cb.monitor.scheme == "paper"


def test_callback_adds_the_kure_gradient(fake_lightning, mlp):
    from quanttheory.torch import QuantTheoryCallback

    assert issubclass(QuantTheoryCallback, fake_lightning)
    kure = KURE(weight=0.5)
    cb = QuantTheoryCallback(kure, every=2, bits=4)
    trainer = types.SimpleNamespace(accumulate_grad_batches=2, global_step=0)
    logged = {}
    mlp.log_dict = lambda d, **kw: logged.update(d)
    cb.on_fit_start(trainer, mlp)
    x = torch.randn(4, 8)
    mlp(x).sum().backward()
    task_grad = mlp[2].weight.grad.clone()
    cb.on_after_backward(trainer, mlp)
    # reference: the gradient of kure(model), divided by the 2 accumulated
    # batches (autograd.grad leaves .grad alone)
    g = torch.autograd.grad(kure(mlp), [mlp[2].weight])[0]
    torch.testing.assert_close(mlp[2].weight.grad, task_grad + g / 2)
    assert mlp[0].weight.grad is not None  # untouched first layer keeps its grad
    for step in (1, 2):
        trainer.global_step = step
        cb.on_train_batch_end(trainer, mlp, None, None, step)
    assert logged["kure"] == pytest.approx(float(kure(mlp).detach()))
    assert "kurtosis_mean" in logged
    assert cb.monitor.history.names == ["0.weight", "2.weight", "4.weight"]
