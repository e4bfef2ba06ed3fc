r"""A PyTorch Lightning callback wrapping :class:`KURE` and :class:`SensitivityMonitor`.

Importing this module never imports Lightning: the callback class is built
on first access of ``QuantTheoryCallback``, from ``lightning.pytorch`` or, if
that is absent, ``pytorch_lightning``; if neither is installed the access
raises :class:`ImportError` with the command to install it.
"""

from __future__ import annotations

import importlib

import torch

from ._kure import KURE
from ._monitor import SensitivityMonitor

__all__ = ["QuantTheoryCallback"]  # noqa: F822 - built by __getattr__

_INSTALL = (
    "QuantTheoryCallback needs PyTorch Lightning, which is not installed; install "
    "it with `pip install lightning` (or `pip install pytorch-lightning`), or use "
    "quanttheory.torch.KURE and SensitivityMonitor directly in your training loop"
)


def _lightning_callback_base():
    for mod in ("lightning.pytorch", "pytorch_lightning"):
        try:
            return importlib.import_module(mod).Callback
        except ImportError:
            continue
    raise ImportError(_INSTALL)


def _build(base):
    class QuantTheoryCallback(base):
        r"""Lightning callback: KURE gradients and a :class:`SensitivityMonitor`.

        Parameters
        ----------
        kure : KURE, optional
            If given, :math:`\lambda\nabla R` is added to the gradients after
            each backward pass (see Notes) and ``kure`` is logged.
        every : int, optional
            If given, a :class:`SensitivityMonitor` records every ``every``
            training batches; its history is ``callback.monitor.history`` and
            the mean kurtosis is logged as ``kurtosis_mean``.
        bits, scheme, eps, select
            Passed to the monitor.

        Notes
        -----
        Lightning's ``training_step`` owns the loss, so a callback cannot add
        to it. Instead, in ``on_after_backward`` the callback computes
        :math:`g = \partial(\lambda R)/\partial W` with
        :func:`torch.autograd.grad` (which fires no DDP hook) and adds it to
        ``W.grad``, scaled by the AMP grad scaler's scale when there is one
        and divided by ``accumulate_grad_batches``. Since :math:`R` depends
        only on the replicated weights, every DDP rank adds the same
        :math:`g`. Sharded strategies (FSDP, DeepSpeed ZeRO-3) are not
        supported: add ``kure(self)`` to the loss in ``training_step``.
        """

        def __init__(
            self,
            kure: KURE | None = None,
            *,
            every: int | None = None,
            bits: int = 4,
            scheme: str = "paper",
            eps: float = 0.05,
            select="all",
        ):
            super().__init__()
            self.kure = kure
            self.every = every
            self._monitor_kw = {
                "bits": bits,
                "scheme": scheme,
                "eps": eps,
                "select": select,
            }
            self.monitor: SensitivityMonitor | None = None
            self.last_penalty: float | None = None

        def on_fit_start(self, trainer, pl_module):
            if self.every is not None and self.monitor is None:
                self.monitor = SensitivityMonitor(
                    pl_module, every=self.every, **self._monitor_kw
                )

        def on_after_backward(self, trainer, pl_module):
            if self.kure is None:
                return
            weights = self.kure._weights(pl_module)
            with torch.enable_grad():
                r = self.kure(pl_module)
            params = [w for _, w in weights]
            grads = torch.autograd.grad(r, params, allow_unused=True)
            factor = 1.0 / max(1, int(getattr(trainer, "accumulate_grad_batches", 1)))
            scaler = _grad_scaler(trainer)
            if scaler is not None:
                factor *= float(scaler.get_scale())
            with torch.no_grad():
                for p, g in zip(params, grads, strict=True):
                    if g is None:
                        continue
                    g = g * factor
                    if p.grad is None:
                        p.grad = g.to(p.dtype)
                    else:
                        p.grad.add_(g.to(p.grad.dtype))
            self.last_penalty = float(r.detach())

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            logs = {}
            if self.last_penalty is not None:
                logs["kure"] = self.last_penalty
            if self.monitor is not None:
                step = int(getattr(trainer, "global_step", self.monitor.calls + 1))
                if self.monitor.step(step):
                    logs["kurtosis_mean"] = self.monitor.mean_kurtosis()
            if logs and hasattr(pl_module, "log_dict"):
                pl_module.log_dict(logs, on_step=True, on_epoch=False)

    QuantTheoryCallback.__module__ = __name__
    return QuantTheoryCallback


def _grad_scaler(trainer):
    for holder in (trainer, getattr(trainer, "strategy", None)):
        plugin = getattr(holder, "precision_plugin", None)
        scaler = getattr(plugin, "scaler", None)
        if scaler is not None:
            return scaler
    return None


_CLASS = None


def __getattr__(name):
    global _CLASS
    if name == "QuantTheoryCallback":
        if _CLASS is None:
            _CLASS = _build(_lightning_callback_base())
        return _CLASS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
