r"""Kurtosis of tensors and the KURE regulariser (Shkolnik et al., NeurIPS 2020).

KURE pushes the kurtosis of the weights towards that of the uniform law,
:math:`K_T = 1.8`, which makes a uniformly quantized model less sensitive to
the choice of the quantization step and of the bit-width.
"""

from __future__ import annotations

import math
import numbers

import torch
from torch import nn

from .._core.errors import InvalidArgument
from ._select import Spec, select_weights

__all__ = ["KURE", "kurtosis"]


def _dims(func: str, x: torch.Tensor, dim) -> tuple[int, ...]:
    if dim is None:
        return tuple(range(x.ndim))
    dims = (dim,) if isinstance(dim, numbers.Integral) else tuple(dim)
    out = []
    for d in dims:
        if not isinstance(d, numbers.Integral) or not -x.ndim <= d < max(x.ndim, 1):
            raise InvalidArgument(
                f"{func}: dim={dim!r} is out of range for a tensor with "
                f"{x.ndim} dimension(s)"
            )
        out.append(int(d) % max(x.ndim, 1))
    if len(set(out)) != len(out):
        raise InvalidArgument(f"{func}: dim={dim!r} repeats a dimension")
    return tuple(out)


def _pow2_scale(x: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    """A detached power of two within a factor 2 of ``max|x|`` per slice (1 for 0)."""
    with torch.no_grad():
        a = x.abs().amax(dim=dims, keepdim=True)
        # 2**floor(log2 a): dividing by it is exact; a = 0 (all zero) keeps 1,
        # a = inf or NaN gives inf or NaN, which then propagates as NaN
        s = torch.exp2(torch.floor(torch.log2(a)))
        return torch.where(a > 0, s, torch.ones_like(s)).detach()


def kurtosis(
    tensor: torch.Tensor, dim=None, *, unbiased: bool = False, keepdim: bool = False
) -> torch.Tensor:
    r"""Pearson kurtosis of a tensor, differentiable, in float32 or wider.

    .. math::

        \operatorname{Kurt}[W] = \frac{m_4}{m_2^2}, \qquad
        m_k = \frac1N\sum_{i=1}^{N} (w_i - \bar w)^k

    (Pearson's kurtosis, not the excess: 3 for a Gaussian, 1.8 for a uniform
    law, 6 for a Laplace law). With ``unbiased=True`` it is the bias-corrected
    estimator of ``scipy.stats.kurtosis(fisher=False, bias=False)``,

    .. math::

        3 + \frac{N-1}{(N-2)(N-3)}\Big((N+1)\,\frac{m_4}{m_2^2} - 3(N-1)\Big).

    Parameters
    ----------
    tensor : torch.Tensor
        A floating tensor of any dtype (float16 and bfloat16 included) on any
        device. It is promoted to at least float32 before any arithmetic, so
        the fourth powers neither overflow nor lose their digits.
    dim : int or tuple of int, optional
        Dimensions to reduce; ``None`` (default) reduces over all of them. For
        one kurtosis per output channel of a weight use
        ``dim=tuple(range(1, w.ndim))``.
    unbiased : bool
        Use the bias-corrected estimator (needs :math:`N \ge 4` elements per
        reduction).
    keepdim : bool
        Keep the reduced dimensions with size 1.

    Returns
    -------
    torch.Tensor
        Float32 (float64 for float64 input); a 0-d tensor when ``dim=None``.

    Raises
    ------
    InvalidArgument
        For a non-floating or empty tensor, a bad ``dim``, or
        ``unbiased=True`` with fewer than 4 elements per reduction.

    Notes
    -----
    Moments are central and computed in two passes (mean first), which
    keeps relative accuracy for weights whose mean is large against their
    spread. The values are standardised before any power is taken: divided
    by a power of two near :math:`\max|w|` (exact), centred, and divided by
    a power of two near :math:`\max|w - \bar w|`. The kurtosis is scale
    invariant, so this changes nothing but the range: the fourth powers
    neither overflow (``torch.randn(N) * 1e20`` gives 3, not NaN) nor
    underflow (``* 1e-20`` gives 3, not 0), in any dtype.

    **Constant tensors.** The kurtosis of a constant tensor is
    :math:`0/0`. This function returns the defined value **0** for every
    slice whose elements are all equal (and finite), with a zero gradient,
    and never NaN or an error. Zero lies outside the attainable range
    :math:`[1, \infty)`, so it cannot be mistaken for a real kurtosis, and
    returning it needs no device-to-host synchronisation (this is used
    inside training loops and :func:`torch.compile`). A zero-initialised
    layer therefore adds the constant :math:`K_T^2` to KURE with no
    gradient until it moves.

    **NaN and infinite values propagate.** A slice that holds a NaN or an
    infinite value has kurtosis NaN (and NaN gradients), so a diverged
    layer turns :class:`KURE` and the loss into NaN, where a training loop
    or an AMP grad scaler sees it; it is never hidden as 0 or as a finite
    penalty. It is not raised: raising would need a device-to-host
    synchronisation at every call and cannot run inside
    :func:`torch.compile`.

    The KURE authors' code divides by ``torch.std`` (Bessel-corrected
    :math:`N-1`), which multiplies the result by :math:`((N-1)/N)^2`; for
    any real weight tensor the difference is below :math:`2/N` relative.

    References
    ----------
    .. [1] M. Shkolnik et al., "Robust Quantization: One Model to Rule Them
       All", NeurIPS 2020, arXiv:2002.07686, Eq. (5).

    Examples
    --------
    >>> import torch
    >>> from quanttheory.torch import kurtosis
    >>> float(kurtosis(torch.tensor([-1.0, 0.0, 0.0, 1.0])))
    2.0
    >>> float(kurtosis(torch.tensor([-1.0, 1.0]).to(torch.bfloat16)))
    1.0
    >>> kurtosis(torch.tensor([[1.0, 2.0], [3.0, 3.0]]), dim=1).tolist()
    [1.0, 0.0]
    >>> kurtosis(torch.tensor([1.0, float("nan"), 2.0])).isnan().item()
    True
    >>> g = torch.Generator().manual_seed(0)
    >>> round(float(kurtosis(torch.randn(10**6, generator=g))), 1)
    3.0
    """
    func = "kurtosis"
    if not isinstance(tensor, torch.Tensor):
        raise InvalidArgument(f"{func}: tensor={tensor!r} must be a torch.Tensor")
    if not tensor.is_floating_point():
        raise InvalidArgument(
            f"{func}: tensor has dtype {tensor.dtype}; pass a floating tensor"
        )
    if tensor.numel() == 0:
        raise InvalidArgument(f"{func}: tensor is empty; pass at least one value")
    dims = _dims(func, tensor, dim)
    n = 1
    for d in dims:  # a plain loop: torch.compile cannot trace math.prod(genexpr)
        n *= int(tensor.shape[d])
    if unbiased and n < 4:
        raise InvalidArgument(
            f"{func}: unbiased=True needs at least 4 elements per reduction, got {n}"
        )
    x = tensor.to(torch.promote_types(tensor.dtype, torch.float32))
    if x.ndim == 0:
        x = x.reshape(1)
        dims = (0,)
    # Standardise before any power: divide by a power of two near max|x|
    # (exact, so no digit is lost), centre, then divide the centred values by
    # a power of two near their own max. Every power is then in [0, 16), so
    # neither the fourth power overflows (|x| > 1e10 in float32) nor m2^2
    # underflows (|x - mean| < 1e-10). The scales are detached: the kurtosis
    # is scale invariant, so the gradient through them is exactly zero.
    x0 = x
    x = x / _pow2_scale(x, dims)
    mean = x.mean(dim=dims, keepdim=True)
    c = x - mean
    c = c / _pow2_scale(c, dims)
    c2 = c * c
    m2 = c2.mean(dim=dims, keepdim=keepdim)
    m4 = (c2 * c2).mean(dim=dims, keepdim=keepdim)
    den = m2 * m2
    # A constant slice (max == min, finite) has the defined value 0. A slice
    # with NaN or inf is not constant (NaN == NaN is false; inf needs the
    # isfinite), so its NaN propagates, as a diverged layer must show.
    hi = x0.amax(dim=dims, keepdim=keepdim)
    const = (hi == x0.amin(dim=dims, keepdim=keepdim)) & torch.isfinite(hi)
    # the denominator of a constant slice is replaced by 1 so that its
    # (discarded) branch has a finite gradient, not 0/0
    k = m4 / torch.where(const, torch.ones_like(den), den)
    if unbiased:
        k = 3.0 + (n - 1) / ((n - 2) * (n - 3)) * ((n + 1) * k - 3.0 * (n - 1))
    out = torch.where(const, torch.zeros_like(k), k)
    if tensor.ndim == 0 and not keepdim:
        out = out.reshape(())
    return out


class KURE(nn.Module):
    r"""Kurtosis regularisation :math:`\lambda R`, the KURE loss term.

    Call it on the model and add the result to the task loss::

        kure = KURE()                       # K_T = 1.8, lambda = 1
        loss = task_loss + kure(model)

    .. math::

        R = \frac{1}{L}\sum_{i=1}^{L}\big(\operatorname{Kurt}[W_i] - K_T\big)^2

    where :math:`W_1 \dots W_L` are the selected weights (see ``select``) and
    the average runs over them, whatever their number. With
    ``per_channel=True`` each term is itself the mean over the output
    channels :math:`c` of :math:`(\operatorname{Kurt}[W_{i,c}] - K_T)^2`.

    Parameters
    ----------
    target : float
        :math:`K_T \ge 1`, a Pearson kurtosis (not the excess); 1.8 is the
        kurtosis of the uniform law (the paper's choice). Values below 1
        are refused: no law has them.
    weight : float
        :math:`\lambda \ge 0`; the paper uses 1.0.
    select : {'default', 'all', 'paper'}, module type, predicate or list of patterns
        Which weights; see :func:`select_weights`. ``'default'``: every conv
        and linear weight except the first and the last such layer in module
        order. ``'paper'``: the paper's code, every ``Conv2d`` weight except
        the first, no linear layer.
    include, exclude : optional
        Name patterns, module types or predicates added to or removed from
        the selection.
    per_channel : bool
        Kurtosis per output channel (dimension 0 of the weight) instead of
        per tensor.
    unbiased : bool
        Passed to :func:`kurtosis`.

    Raises
    ------
    InvalidArgument
        At construction for a ``target`` below 1 or not finite, or a
        negative or non-finite ``weight``; at the call if the selection is
        empty (never a silent zero).

    Notes
    -----
    * Works on CPU and CUDA (the kurtosis runs on the weight's device in
      float32 or wider), on models wrapped in
      :class:`~torch.nn.parallel.DistributedDataParallel`,
      :class:`~torch.nn.DataParallel` or :func:`torch.compile` (names are those
      of the bare model), and inside :func:`torch.compile` with
      ``fullgraph=True`` (tested with the ``aot_eager`` backend; ``inductor``
      compiles it too, in about 20 s on CPU).
    * With DDP, call it on the wrapped or the bare model *inside* the forward
      pass of the training step, as the task loss: the regulariser depends on
      the replicated weights only, so every rank computes the same value.
    * The selection is resolved at each call (cheap: a walk over the module
      tree), so layers added later are picked up.
    * A selected weight that holds NaN or inf makes the penalty NaN (see
      :func:`kurtosis`): a diverged layer is never reported as a finite
      penalty.

    References
    ----------
    .. [1] M. Shkolnik et al., "Robust Quantization: One Model to Rule Them
       All", NeurIPS 2020, arXiv:2002.07686, Eq. (6).

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from quanttheory.torch import KURE
    >>> _ = torch.manual_seed(0)
    >>> net = nn.Sequential(nn.Linear(4, 64), nn.Linear(64, 64), nn.Linear(64, 2))
    >>> kure = KURE(weight=0.1)
    >>> kure.selected(net)
    ['1.weight']
    >>> r = kure(net)          # 0.1 * (Kurt[W_1] - 1.8)^2
    >>> r.backward()
    >>> net[1].weight.grad.shape, net[0].weight.grad is None
    (torch.Size([64, 64]), True)
    >>> k = float(kure.kurtosis(net)["1.weight"])  # default init is uniform: 1.8
    >>> abs(k - 1.8) < 4 * (2.24 / 4096) ** 0.5      # 4 standard errors
    True
    """

    def __init__(
        self,
        target: float = 1.8,
        weight: float = 1.0,
        select: Spec = "default",
        *,
        include: Spec | None = None,
        exclude: Spec | None = None,
        per_channel: bool = False,
        unbiased: bool = False,
    ):
        super().__init__()
        for name, v, low in (("target", target, 1.0), ("weight", weight, 0.0)):
            if isinstance(v, bool) or not isinstance(v, numbers.Real):
                raise InvalidArgument(f"KURE: {name}={v!r} must be a real number")
            if not math.isfinite(v) or v < low:
                raise InvalidArgument(
                    f"KURE: {name}={v!r} must be a finite number >= {low:g}"
                    + (
                        " (the Pearson kurtosis of any law is at least 1: 1.8 "
                        "for the uniform law, 3 for the Gaussian; the target is "
                        "not the excess kurtosis, which is 3 less)"
                        if name == "target"
                        else ""
                    )
                )
        self.target = float(target)
        self.weight = float(weight)
        self.select = select
        self.include = include
        self.exclude = exclude
        self.per_channel = bool(per_channel)
        self.unbiased = bool(unbiased)

    def extra_repr(self) -> str:
        """The settings shown in ``repr(kure)`` (a :class:`torch.nn.Module` hook).

        Returns
        -------
        str
            ``target``, ``weight``, ``select`` and ``per_channel``.
        """
        return (
            f"target={self.target}, weight={self.weight}, select={self.select!r}, "
            f"per_channel={self.per_channel}"
        )

    def _weights(self, model) -> list[tuple[str, torch.Tensor]]:
        return select_weights(
            model,
            self.select,
            include=self.include,
            exclude=self.exclude,
            func="KURE",
        )

    def _kurt(self, w: torch.Tensor) -> torch.Tensor:
        dim = tuple(range(1, w.ndim)) if self.per_channel else None
        return kurtosis(w, dim=dim, unbiased=self.unbiased)

    def selected(self, model: nn.Module) -> list[str]:
        """The names of the weights that the regulariser acts on, in module order.

        Parameters
        ----------
        model : torch.nn.Module
            The model (wrappers such as DDP are unwrapped).

        Returns
        -------
        list of str
            Parameter names, as in ``model.named_parameters()``.

        Raises
        ------
        InvalidArgument
            If the selection is empty.
        """
        return [n for n, _ in self._weights(model)]

    def penalty(self, model: nn.Module) -> torch.Tensor:
        r"""The unweighted :math:`R` (without :math:`\lambda`).

        Parameters
        ----------
        model : torch.nn.Module
            The model (wrappers such as DDP are unwrapped).

        Returns
        -------
        torch.Tensor
            A differentiable 0-d tensor on the device of the first weight.

        Raises
        ------
        InvalidArgument
            If the selection is empty.
        """
        weights = self._weights(model)
        device = weights[0][1].device
        terms = []
        for _, w in weights:
            d = self._kurt(w) - self.target
            terms.append((d * d).mean().to(device))
        return torch.stack(terms).mean()

    def forward(self, model: nn.Module) -> torch.Tensor:
        r""":math:`\lambda R` for ``model``, a differentiable 0-d tensor.

        Parameters
        ----------
        model : torch.nn.Module
            The model (wrappers such as DDP are unwrapped).

        Returns
        -------
        torch.Tensor
            ``weight * penalty(model)``, to add to the task loss.

        Raises
        ------
        InvalidArgument
            If the selection is empty.
        """
        return self.weight * self.penalty(model)

    @torch.no_grad()
    def kurtosis(self, model: nn.Module) -> dict[str, torch.Tensor]:
        """The kurtosis of each selected weight (per channel if configured), detached.

        Parameters
        ----------
        model : torch.nn.Module
            The model (wrappers such as DDP are unwrapped).

        Returns
        -------
        dict of str to torch.Tensor
            Weight name to its kurtosis: a 0-d tensor, or one value per output
            channel with ``per_channel=True``.

        Raises
        ------
        InvalidArgument
            If the selection is empty.
        """
        return {n: self._kurt(w).detach() for n, w in self._weights(model)}
