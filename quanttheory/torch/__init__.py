r"""The PyTorch bridge of quanttheory: KURE, weight analysis and fake quantization.

``import quanttheory`` never imports torch; ``import quanttheory.torch`` does
(install it with ``pip install 'quanttheory[torch]'``).

* :func:`kurtosis` and :class:`KURE`: the kurtosis regulariser of Shkolnik et
  al. (NeurIPS 2020, arXiv:2002.07686), ``loss = task_loss + kure(model)``;
* :func:`analyze`: per-layer kurtosis, exact optimal step, MSE, SQNR and step
  sensitivity of a model, a state dict or a checkpoint file, computed by the
  core engine;
* :func:`fake_quantize`, :func:`optimal_step`, :func:`quantized` and
  :func:`robustness_sweep`: weight quantization that is bit-exact with
  :func:`quanttheory.quantize` and always restores the weights, and the
  paper's robustness experiments;
* :class:`SensitivityMonitor`: per-layer statistics during training;
  ``QuantTheoryCallback`` (needs Lightning) wraps it and KURE for
  PyTorch Lightning.
"""

try:
    import torch as _torch
except ImportError as _exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "quanttheory.torch needs PyTorch, which is not installed; install it with "
        "`pip install 'quanttheory[torch]'` or `pip install torch` (the rest of "
        "quanttheory works without it)"
    ) from _exc

from ._analyze import NON_FLOAT, AnalysisResult, TensorReport, analyze
from ._fakequant import fake_quantize, optimal_step, quantized, round_power_of_two
from ._kure import KURE, kurtosis
from ._monitor import MonitorHistory, MonitorRecord, SensitivityMonitor
from ._select import PRESETS, select_weights, unwrap
from ._sweep import SweepResult, SweepRow, carry_over_step, robustness_sweep

del _torch

# ``QuantTheoryCallback`` is resolved lazily by ``__getattr__`` (it needs
# Lightning) and is therefore not in ``__all__``: ``from quanttheory.torch
# import *`` must work without Lightning.
__all__ = [
    "KURE",
    "NON_FLOAT",
    "PRESETS",
    "AnalysisResult",
    "MonitorHistory",
    "MonitorRecord",
    "SensitivityMonitor",
    "SweepResult",
    "SweepRow",
    "TensorReport",
    "analyze",
    "carry_over_step",
    "fake_quantize",
    "kurtosis",
    "optimal_step",
    "quantized",
    "robustness_sweep",
    "round_power_of_two",
    "select_weights",
    "unwrap",
]


def __getattr__(name):
    if name == "QuantTheoryCallback":
        from . import _lightning

        return _lightning.QuantTheoryCallback
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
