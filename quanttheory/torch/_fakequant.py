r"""Fake quantization of torch tensors, the optimal step of a weight, and
temporary quantization of a model that restores every weight bit-exactly.
"""

from __future__ import annotations

import contextlib
import math
import numbers
from collections.abc import Iterator, Mapping

import numpy as np
import torch
from torch import nn

from .._core.checks import check_positive_scalar, show
from .._core.errors import InvalidArgument
from .._core.quantizer import batch_layout, to_rows
from .._core.scheme import Scheme, get_scheme
from .._empirical.empirical import Empirical
from .._optimal import optimal_step as _engine_optimal_step
from ._io import engine_array
from ._select import Spec, is_compiling, select_weights

__all__ = ["fake_quantize", "optimal_step", "quantized"]


def _fake_quantize(x: torch.Tensor, step: torch.Tensor, s: Scheme) -> torch.Tensor:
    """Forward: the level of :func:`quanttheory.quantize`; backward: clipped STE."""
    xd = x.detach()
    # The same operations, in the same order and dtype, as
    # quanttheory._core.quantizer.quantize_unchecked, so results agree bit for
    # bit: x / step, - offset, round half to even, clamp, + offset, * step.
    r = xd / step
    if s.offset:
        r = r - s.offset
    r = torch.round(r)
    q = r.clamp(s.kmin, s.kmax)
    if s.offset:
        q = q + s.offset
    q = q * step
    if not x.requires_grad:
        return q
    # Straight-through gradient where the rounded index is not clipped (the
    # rule of torch.fake_quantize_per_tensor_affine). `xd - x` is +0.0 in the
    # forward pass and subtracting +0.0 changes no bit (not even of -0.0), so
    # the value stays exactly q; its gradient is 1 where `keep` holds. Plain
    # tensor operations, so torch.compile traces them without graph breaks.
    keep = (r >= s.kmin) & (r <= s.kmax)
    return q - torch.where(
        keep, xd - x, torch.zeros((), dtype=x.dtype, device=x.device)
    )


def _as_step(func: str, step, x: torch.Tensor) -> torch.Tensor:
    """``step`` as a tensor in ``x``'s dtype and device, its values checked.

    The values of a tensor step are checked unless :func:`torch.compile` is
    tracing (a data-dependent check would break the graph).
    """
    if isinstance(step, torch.Tensor):
        if step.numel() == 0:
            raise InvalidArgument(f"{func}: step is empty; pass at least one value")
        if step.dtype == torch.bool or step.is_complex():
            raise InvalidArgument(
                f"{func}: step has dtype {step.dtype}; pass positive real numbers"
            )
        if not is_compiling():
            bad = ~(torch.isfinite(step) & (step > 0))
            if bool(bad.any()):
                first = float(step.detach().reshape(-1)[bad.reshape(-1)][0])
                raise InvalidArgument(
                    f"{func}: step must be positive and finite (first bad value "
                    f"{first!r})"
                )
        return step.detach().to(dtype=x.dtype, device=x.device)
    if isinstance(step, np.ndarray):
        if step.dtype.kind not in "iuf":
            raise InvalidArgument(
                f"{func}: step has dtype {step.dtype}; pass positive real numbers"
            )
        arr = np.asarray(step, dtype=np.float64)
        if not (np.isfinite(arr).all() and (arr > 0).all()) or arr.size == 0:
            raise InvalidArgument(
                f"{func}: step={show(step)} must be positive finite number(s)"
            )
        return torch.from_numpy(arr).to(dtype=x.dtype, device=x.device)
    if isinstance(step, (int, float)) and not isinstance(step, bool):
        # plain Python check: torch.compile traces it (numpy would break the graph)
        if not (math.isfinite(step) and step > 0):
            raise InvalidArgument(
                f"{func}: step={step!r} must be a positive finite number"
            )
        d = float(step)
    else:
        d = check_positive_scalar(func, "step", step)
    return torch.tensor(d, dtype=x.dtype, device=x.device)


def _fit_step(func: str, d: torch.Tensor, x: torch.Tensor, axis) -> torch.Tensor:
    """The step shaped to broadcast against ``x`` without changing its shape."""
    if axis is None:
        if d.ndim == 1 and d.shape[0] > 1 and x.ndim >= 2:
            # a (C,) step would broadcast along the *last* dimension, silently
            # wrong for a square weight: say which axis it is for
            raise InvalidArgument(
                f"{func}: step has shape ({d.shape[0]},), one value per channel, "
                f"but axis=None; pass axis= the channel dimension of x of shape "
                f"{tuple(x.shape)} (axis=0 for output channels, as torch's "
                "ch_axis), or a step whose shape broadcasts against x"
            )
        try:
            shape = torch.broadcast_shapes(d.shape, x.shape)
        except RuntimeError:
            shape = None
        if shape != x.shape:
            raise InvalidArgument(
                f"{func}: step of shape {tuple(d.shape)} does not broadcast "
                f"against x of shape {tuple(x.shape)} (the result must keep x's "
                "shape); for one step per channel pass a 1-D step and axis="
            )
        return d
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise InvalidArgument(f"{func}: axis={axis!r} must be an integer or None")
    if not -x.ndim <= axis < x.ndim:
        raise InvalidArgument(
            f"{func}: axis={axis!r} is out of range for x of shape {tuple(x.shape)}"
        )
    axis = int(axis) % x.ndim
    n = x.shape[axis]
    if d.ndim != 1 or d.shape[0] != n:
        raise InvalidArgument(
            f"{func}: with axis={axis}, step must be 1-D with x.shape[{axis}] = "
            f"{n} values (one per channel), got shape {tuple(d.shape)}"
        )
    shape = [1] * x.ndim
    shape[axis] = n
    return d.reshape(shape)


def _check_values(func: str, x: torch.Tensor, d: torch.Tensor, s: Scheme) -> None:
    """NaN in ``x`` and steps that ``x``'s dtype cannot hold, as the core refuses.

    One device synchronisation for both checks; skipped by the caller while
    :func:`torch.compile` traces.
    """
    info = torch.finfo(x.dtype)
    top = float(max(abs(s.top), abs(s.bottom)))
    with torch.no_grad():
        flags = torch.stack(
            [
                torch.isnan(x).any(),
                ~((d >= info.tiny) & torch.isfinite(d * top)).all(),
            ]
        ).tolist()
    if flags[0]:
        n = int(torch.isnan(x).sum())
        raise InvalidArgument(
            f"{func}: x contains NaN ({n} of {x.numel()} values), which has no "
            "nearest level"
        )
    if flags[1]:
        shown = float(d.reshape(-1)[0]) if d.numel() == 1 else f"{d.numel()} values"
        raise InvalidArgument(
            f"{func}: step={shown!r} is not representable in x's dtype "
            f"{str(x.dtype).replace('torch.', '')} with {s.n_levels} levels "
            f"(normal range {info.tiny:.3g} .. {info.max:.3g}); pass x as a wider "
            "float type"
        )


def fake_quantize(
    x: torch.Tensor,
    step,
    bits: int,
    scheme: str = "paper",
    *,
    axis: int | None = None,
    group_size: int | None = None,
):
    r"""Quantize a tensor to the nearest level, keeping its dtype (fake quantization).

    .. math::

        Q_\Delta(x) = \Delta\left(\operatorname{clamp}\left(
        \left\lfloor \frac{x}{\Delta} - o \right\rceil,
        k_{\min}, k_{\max}\right) + o\right)

    with round half to even, exactly :func:`quanttheory.quantize`: the same
    operations in the same order and dtype, so both agree **bit for bit**
    (tested for float16, float32 and float64, per tensor and per channel).
    For the integer schemes this is torchao's
    ``clamp(round(x / scale) + zero_point, qmin, qmax)`` with
    ``zero_point = 0``:

    ============= ================================== ===============================
    scheme        levels :math:`k`                    torch ``quant_min/max``
    ============= ================================== ===============================
    ``paper``     :math:`-2^{M-1} \dots 2^{M-1}`     :math:`2^M+1` levels
    ``signed``    :math:`-2^{M-1} \dots 2^{M-1}-1`   :math:`-2^{M-1}, 2^{M-1}-1`
    ``symmetric`` :math:`\pm(2^{M-1}-1)`             narrow range
    ``midrise``   :math:`k + 1/2`                    not expressible
    ============= ================================== ===============================

    The default, ``'paper'``, is the package's one default level set (the
    one of the KURE paper's lemmas). To simulate the :math:`2^M` values of
    an M-bit two's-complement integer (torch's ``qint8`` range), pass
    ``scheme='signed'``.

    Parameters
    ----------
    x : torch.Tensor
        Floating tensor, any device, shape and floating dtype (bfloat16 and
        Parameters that require grad included).
    step : float, array_like or torch.Tensor
        :math:`\Delta > 0`: a number, a tensor that broadcasts against ``x``
        without changing its shape (per channel: ``(C, 1, ..., 1)``), or with
        ``axis`` a 1-D tensor of ``x.shape[axis]`` steps, such as
        ``optimal_step(w, bits, per_channel=True)`` returns. Converted to
        ``x.dtype`` first, as :func:`quanttheory.quantize` does.
    bits : int
        Bit-width :math:`M`.
    scheme : {'paper', 'signed', 'symmetric', 'midrise'}
        Level set; see :func:`quanttheory.levels`.
    axis : int, optional
        The channel dimension of a 1-D per-channel ``step`` (torch's
        ``ch_axis``); ``None`` (default) for one step, or a step that
        broadcasts.
    group_size : int, optional
        One step per contiguous group of ``group_size`` values (torchao's
        ``PerGroup``): ``step`` broadcasts to the batch shape of
        ``quanttheory.Empirical(x, axis=axis, group_size=group_size)``
        (``(R, C // g)`` for an ``(R, C)`` weight), such as
        ``optimal_step(x, bits, group_size=g)`` returns; bit for bit
        :func:`quanttheory.quantize` with the same ``group_size``.

    Returns
    -------
    torch.Tensor
        :math:`Q_\Delta(x)`, same shape, dtype and device as ``x``.

    Raises
    ------
    InvalidArgument
        For a non-floating ``x``, NaN in ``x`` (NaN has no nearest level, as
        in :func:`quanttheory.quantize`), a non-positive or non-finite step,
        a step that ``x``'s dtype cannot represent, a step whose shape does
        not fit ``x`` or ``axis`` (a 1-D step of several values on a tensor
        of two or more dimensions needs ``axis``), or an invalid ``bits`` or
        ``scheme``.

    Notes
    -----
    Gradient: the straight-through estimator of
    :func:`torch.fake_quantize_per_tensor_affine`, :math:`\partial Q/\partial x
    = 1` where the rounded index lies in :math:`[k_{\min}, k_{\max}]` and 0
    where it is clipped. The step gets no gradient. Infinite inputs are
    clipped to the outermost level, which is their nearest level.

    The checks of NaN in ``x`` and of the step's values cost one
    device-to-host synchronisation per call. While :func:`torch.compile`
    traces the function they are skipped (a data-dependent check would break
    the graph): compiled, NaN propagates as NaN.

    ``torch.fake_quantize_per_tensor_affine`` multiplies by ``1/scale``
    rounded to float32 instead of dividing by ``scale``. The two agree
    exactly when ``scale`` is a power of two; otherwise ``x * (1/scale)`` and
    ``x / scale`` can differ by one ulp, which changes the level only for
    inputs within about one ulp of a decision threshold (measured: none of
    :math:`10^6` Gaussian inputs at 2 to 8 bits, but about 30 % of inputs
    placed exactly on the half-way points; see ``docs/torch.md``).

    References
    ----------
    .. [1] torchao, ``torchao/quantization/quant_primitives.py``,
       ``fake_quantize_affine``.
    .. [2] M. Shkolnik et al., "Robust Quantization: One Model to Rule Them
       All", NeurIPS 2020, arXiv:2002.07686.

    Examples
    --------
    >>> import torch
    >>> from quanttheory.torch import fake_quantize, optimal_step
    >>> x = torch.tensor([-3.0, -0.26, 0.25, 0.75, 3.0])
    >>> fake_quantize(x, 0.5, 2).tolist()   # paper: levels -1, -0.5, 0, 0.5, 1
    [-1.0, -0.5, 0.0, 1.0, 1.0]
    >>> fake_quantize(x, 0.5, 2, scheme="signed").tolist()   # int2: -1 ... 0.5
    [-1.0, -0.5, 0.0, 0.5, 0.5]
    >>> w = torch.tensor([[0.3, -0.3], [3.0, -3.0]])
    >>> fake_quantize(w, torch.tensor([0.25, 2.0]), 3, axis=0).tolist()  # per row
    [[0.25, -0.25], [4.0, -4.0]]
    >>> s = optimal_step(w, 3, scheme="signed", per_channel=True)   # shape (2,)
    >>> q = fake_quantize(w, s, 3, scheme="signed", axis=0)
    >>> torch.equal(q, fake_quantize(w, s.reshape(2, 1), 3, scheme="signed"))
    True
    >>> g = optimal_step(w, 3, scheme="signed", group_size=1)   # one per value
    >>> fake_quantize(w, g, 3, scheme="signed", group_size=1).tolist() == w.tolist()
    True
    """
    func = "fake_quantize"
    s = get_scheme(func, scheme, bits)
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise InvalidArgument(
            f"{func}: x must be a floating torch.Tensor, got "
            f"{getattr(x, 'dtype', type(x).__name__)}"
        )
    if x.dtype.itemsize == 1:
        raise InvalidArgument(
            f"{func}: x has dtype {str(x.dtype).replace('torch.', '')}, which torch "
            "cannot divide; convert it to a wider float type first"
        )
    if group_size is not None:
        return _fake_quantize_groups(func, x, step, s, axis, group_size)
    d = _fit_step(func, _as_step(func, step, x), x, axis)
    if not is_compiling():
        _check_values(func, x, d, s)
    return _fake_quantize(x, d, s)


def _fake_quantize_groups(func: str, x, step, s: Scheme, axis, group_size):
    """Fake quantization with one step per group (the batched layout of
    :func:`quanttheory._core.quantizer.batch_layout`), by views of ``x``."""
    ax, g, bshape, _n = batch_layout(func, tuple(x.shape), axis, group_size)
    d = _as_step(func, step, x)
    try:
        d = d.broadcast_to(bshape).reshape(-1, 1)
    except RuntimeError:
        raise InvalidArgument(
            f"{func}: step of shape {tuple(d.shape)} does not broadcast to the batch "
            f"shape {bshape} of x of shape {tuple(x.shape)} with axis={axis}, "
            f"group_size={group_size} (one step per group)"
        ) from None
    moved = x.movedim(ax, 0) if ax is not None else x
    rows = (moved.reshape(moved.shape[0], -1) if ax is not None else moved).reshape(
        -1, g
    )
    if not is_compiling():
        _check_values(func, rows, d, s)
    q = _fake_quantize(rows, d, s)
    if ax is None:
        return q.reshape(x.shape)
    return q.reshape(moved.shape).movedim(0, ax)


def _channels(w: torch.Tensor, axis: int) -> np.ndarray:
    """The weight as an array of shape ``(C, rest)``, channel ``axis`` first."""
    return engine_array(w.movedim(axis, 0).reshape(w.shape[axis], -1))


def optimal_step(
    tensor: torch.Tensor,
    bits: int,
    *,
    scheme: str = "paper",
    per_channel: bool = False,
    axis: int = 0,
    group_size: int | None = None,
):
    r"""The exact empirical optimum :math:`\tilde\Delta` of a tensor's step.

    .. math::

        \tilde\Delta = \operatorname*{arg\,min}_{\Delta>0}
        \frac1N\sum_{i=1}^N \big(w_i - Q_\Delta(w_i)\big)^2

    computed by :func:`quanttheory.optimal_step` on
    ``quanttheory.Empirical(tensor)`` (the global minimiser of the piecewise
    quadratic empirical MSE).

    Parameters
    ----------
    tensor : torch.Tensor
        Floating tensor on any device, a Parameter that requires grad
        included; it is copied to the CPU (float16 and bfloat16 as float32,
        which is exact).
    bits : int
        Bit-width :math:`M`.
    scheme : {'paper', 'signed', 'symmetric', 'midrise'}
        Level set. The default, ``'paper'``, is the package's
        (:math:`2^M+1` levels :math:`k\Delta`, :math:`|k| \le 2^{M-1}`), so
        this equals ``quanttheory.optimal_step(quanttheory.Empirical(w),
        bits)``; pass ``'signed'`` (:math:`-2^{M-1} \dots 2^{M-1}-1`) to
        simulate M-bit two's-complement integers.
    per_channel : bool
        One step per slice along ``axis`` (output channels), for
        ``fake_quantize(tensor, steps, bits, axis=axis)``. A slice that is
        all zero gets the step of the whole tensor (any step quantizes it
        exactly for the integer schemes).
    axis : int
        Channel dimension for ``per_channel``.
    group_size : int, optional
        One step per contiguous group of ``group_size`` values of the last
        dimension (torchao's ``PerGroup``), or, with ``per_channel``, of each
        channel's values: the batch of ``quanttheory.Empirical(tensor,
        axis=axis if per_channel else None, group_size=group_size)``. An
        all-zero group gets the step of the whole tensor, as an all-zero
        channel does.

    Returns
    -------
    float or torch.Tensor
        A float, or a float64 CPU tensor of shape ``(C,)`` (per channel) or
        of the batch shape (per group).

    Raises
    ------
    InvalidArgument
        If the tensor is all zero (no step is optimal), non-finite, or not
        floating.

    Notes
    -----
    Per channel and per group, every slice's exact optimum comes from one
    vectorised call (:mod:`quanttheory._empirical.batched`), not a loop over
    the slices.

    Examples
    --------
    >>> import torch
    >>> from quanttheory.torch import optimal_step
    >>> w = torch.linspace(-1, 1, 10001)        # ~ uniform on [-1, 1]
    >>> round(optimal_step(w, 4) * 17 / 2, 3)  # paper levels, Lemma 3: 2a/17
    1.0
    >>> round(optimal_step(w, 4, scheme="signed"), 4)   # int4 levels -8 ... 7
    0.1322
    >>> optimal_step(w.reshape(1, -1).repeat(3, 1), 4, per_channel=True).shape
    torch.Size([3])
    """
    func = "optimal_step"
    s = get_scheme(func, scheme, bits)
    if not isinstance(tensor, torch.Tensor) or not tensor.is_floating_point():
        raise InvalidArgument(
            f"{func}: tensor must be a floating torch.Tensor, got "
            f"{getattr(tensor, 'dtype', type(tensor).__name__)}"
        )
    if not per_channel and group_size is None:
        return _empirical_step(func, engine_array(tensor), s)
    if per_channel and (tensor.ndim == 0 or not -tensor.ndim <= axis < tensor.ndim):
        raise InvalidArgument(
            f"{func}: axis={axis!r} is out of range for a tensor of shape "
            f"{tuple(tensor.shape)}"
        )
    arr = engine_array(tensor)
    ax, g, bshape, _n = batch_layout(
        func, arr.shape, axis if per_channel else None, group_size
    )
    rows = to_rows(arr, ax, g)
    zero = ~rows.any(axis=1)
    out = np.empty(rows.shape[0])
    if zero.any():
        # all-zero slices: the step of the whole tensor (any step quantizes
        # them exactly for the integer schemes)
        out[zero] = _empirical_step(func, arr, s)
    if not zero.all():
        live = rows if not zero.any() else rows[~zero]
        out[~zero] = _engine_optimal_step(
            Empirical(live, axis=0, copy=False), s.bits, scheme=s.name
        )
    return torch.from_numpy(out.reshape(bshape))


def _empirical_step(func: str, arr: np.ndarray, s: Scheme) -> float:
    if not arr.any():
        raise InvalidArgument(
            f"{func}: the tensor is all zero, so no step is optimal (every step "
            "quantizes it exactly); leave it out of the selection"
        )
    return _engine_optimal_step(Empirical(arr), s.bits, scheme=s.name)


def round_power_of_two(step, mode="nearest"):
    r"""Round a step to a power of two: :math:`2^{\operatorname{round}(\log_2\Delta)}`.

    ``mode='nearest'`` rounds :math:`\log_2\Delta` (so the cut between
    :math:`2^k` and :math:`2^{k+1}` is :math:`2^{k+1/2}` and the relative
    change is at most :math:`\sqrt2`); ``'floor'`` and ``'ceil'`` round down
    or up. Works on floats and tensors.

    Parameters
    ----------
    step : float or torch.Tensor
        Step(s) :math:`\Delta > 0`.
    mode : {'nearest', 'floor', 'ceil'}
        How to round :math:`\log_2\Delta` to an integer.

    Returns
    -------
    float or torch.Tensor
        :math:`2^k`, with the type (and for a tensor the shape) of ``step``.

    Examples
    --------
    >>> from quanttheory.torch import round_power_of_two
    >>> round_power_of_two(0.3), round_power_of_two(0.36)
    (0.25, 0.5)
    >>> round_power_of_two(0.3, "ceil"), round_power_of_two(0.3, "floor")
    (0.5, 0.25)
    """
    fn = {"nearest": round, "floor": math.floor, "ceil": math.ceil}[mode]
    if isinstance(step, torch.Tensor):
        tfn = {"nearest": torch.round, "floor": torch.floor, "ceil": torch.ceil}[mode]
        return torch.exp2(tfn(torch.log2(step)))
    return 2.0 ** fn(math.log2(step))


def _pow2_mode(func: str, power_of_two):
    if power_of_two is False or power_of_two is None:
        return None
    if power_of_two is True:
        return "nearest"
    if power_of_two in ("nearest", "floor", "ceil"):
        return power_of_two
    raise InvalidArgument(
        f"{func}: power_of_two={power_of_two!r} must be a bool or one of "
        "{'nearest', 'floor', 'ceil'}"
    )


def _check_names(func: str, arg: str, mapping: Mapping, names: list[str]) -> None:
    unknown = [k for k in mapping if k not in names]
    if unknown:
        shown = ", ".join(repr(n) for n in names[:6]) + (
            ", ..." if len(names) > 6 else ""
        )
        raise InvalidArgument(
            f"{func}: {arg} names {unknown[0]!r}, which is not a selected weight; "
            f"the selected weights are {shown}"
        )


def _scale_of(func: str, step_scale, name: str) -> float:
    v = step_scale.get(name, 1.0) if isinstance(step_scale, Mapping) else step_scale
    return check_positive_scalar(func, "step_scale", v)


def compute_steps(
    func: str,
    weights: list[tuple[str, torch.Tensor]],
    bits: int,
    scheme: str,
    per_channel: bool,
    axis: int,
    group_size: int | None = None,
) -> dict[str, float | torch.Tensor]:
    """:math:`\\tilde\\Delta` of each weight (float, or a float64 tensor per
    channel or per group)."""
    out = {}
    for name, w in weights:
        try:
            out[name] = optimal_step(
                w,
                bits,
                scheme=scheme,
                per_channel=per_channel,
                axis=axis,
                group_size=group_size,
            )
        except InvalidArgument as exc:
            raise InvalidArgument(f"{func}: weight {name!r}: {exc}") from None
    return out


@contextlib.contextmanager
def quantized(
    model: nn.Module,
    bits: int,
    scheme: str = "paper",
    step_scale: float | Mapping[str, float] = 1.0,
    per_channel: bool = False,
    power_of_two: bool | str = False,
    select: Spec = "all",
    *,
    include: Spec | None = None,
    exclude: Spec | None = None,
    steps: Mapping[str, float | torch.Tensor] | None = None,
    axis: int = 0,
    group_size: int | None = None,
) -> Iterator[dict[str, float | torch.Tensor]]:
    r"""Temporarily quantize a model's weights; restore them bit-exactly on exit.

    Inside the ``with`` block every selected weight :math:`W` holds

    .. math::

        Q_\Delta(W), \qquad \Delta = P\big(s \cdot \tilde\Delta(W)\big),

    with :math:`\tilde\Delta(W)` the exact empirical optimal step
    (:func:`optimal_step`), :math:`s` = ``step_scale`` and :math:`P` the
    rounding to a power of two when ``power_of_two`` is set (identity
    otherwise). On exit, normal or by an exception, each weight gets back
    its original bits (a clone taken before any change is copied back).

    Parameters
    ----------
    model : torch.nn.Module
        The model (DDP/compile wrappers are unwrapped).
    bits : int
        Bit-width :math:`M`.
    scheme : {'paper', 'signed', 'symmetric', 'midrise'}
        Level set: ``'paper'`` (default, the package's :math:`2^M+1` levels)
        or ``'signed'`` to simulate M-bit two's-complement integer weights
        (:math:`-2^{M-1} \dots 2^{M-1}-1`).
    step_scale : float or dict
        :math:`s = \Delta/\tilde\Delta`, one float for all layers or a dict
        ``{weight_name: s}`` (missing names get 1.0, unknown names are an
        error).
    per_channel : bool
        One step per output channel (dimension ``axis``).
    power_of_two : bool or {'nearest', 'floor', 'ceil'}
        Round :math:`s\tilde\Delta` to a power of two, as accelerators with
        shift-only rescaling need (KURE paper, supplementary Table 5).
        ``True`` means ``'nearest'`` in :math:`\log_2`.
    select : {'all', 'default', 'paper'}, type, predicate or patterns
        Which weights to quantize (see :func:`select_weights`); ``'all'``
        (default) is every conv and linear weight.
    include, exclude : optional
        Extra rules, see :func:`select_weights`.
    steps : dict, optional
        ``{weight_name: step}`` replacing :math:`\tilde\Delta` as the base
        step (a float, or a per-channel tensor of shape ``(C,)``), for
        example a step calibrated at another bit-width, or steps computed
        once and reused across many calls. Missing names get
        :math:`\tilde\Delta`.
    axis : int
        Channel dimension for ``per_channel``.
    group_size : int, optional
        One step per contiguous group of ``group_size`` values (torchao's
        ``PerGroup``; with ``per_channel``, groups within each channel along
        ``axis``), see :func:`optimal_step`.

    Yields
    ------
    dict
        ``{weight_name: step}``: the step :math:`\Delta` actually used (a
        float, or a float64 tensor of shape ``(C,)``).

    Raises
    ------
    InvalidArgument
        For an empty selection, unknown names in ``step_scale`` or
        ``steps``, a weight that is all zero or holds NaN, or bad arguments
        (the message names the weight). Nothing is modified when an error is
        raised before the block starts, and the weights are restored when
        one is raised while they are quantized.

    See Also
    --------
    robustness_sweep, fake_quantize, optimal_step

    Notes
    -----
    Restoration uses ``param.copy_(clone)`` under :func:`torch.no_grad`, so
    it is bit-exact for every dtype and device. The clones live on the
    weights' device and cost one copy of the selected weights. Any change
    made to those weights inside the block (e.g. an optimizer step) is
    discarded. Activations are not quantized.

    References
    ----------
    .. [1] M. Shkolnik et al., "Robust Quantization: One Model to Rule Them
       All", NeurIPS 2020, arXiv:2002.07686, Sec. 5.1 and Table 5.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from quanttheory.torch import quantized
    >>> _ = torch.manual_seed(0)
    >>> net = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> before = net[0].weight.clone()
    >>> with quantized(net, bits=2, scheme="signed") as used:   # int2 weights
    ...     print(len(torch.unique(net[0].weight)) <= 4, sorted(used))
    True ['0.weight', '2.weight']
    >>> torch.equal(net[0].weight, before)
    True
    """
    func = "quantized"
    s = get_scheme(func, scheme, bits)
    mode = _pow2_mode(func, power_of_two)
    weights = select_weights(model, select, include=include, exclude=exclude, func=func)
    names = [n for n, _ in weights]
    if isinstance(step_scale, Mapping):
        _check_names(func, "step_scale", step_scale, names)
    elif isinstance(step_scale, bool) or not isinstance(
        step_scale, (numbers.Real, np.floating)
    ):
        raise InvalidArgument(
            f"{func}: step_scale={step_scale!r} must be a positive number or a "
            "dict {weight_name: number}"
        )
    steps = dict(steps or {})
    _check_names(func, "steps", steps, names)
    missing = [(n, w) for n, w in weights if n not in steps]
    steps.update(
        compute_steps(func, missing, s.bits, s.name, per_channel, axis, group_size)
    )
    used = {}
    for name, _w in weights:
        base = steps[name]
        scale = _scale_of(func, step_scale, name)
        d = base * scale
        if mode is not None:
            d = round_power_of_two(d, mode)
        used[name] = float(d) if not isinstance(d, torch.Tensor) else d
    backups: list[tuple[torch.Tensor, torch.Tensor]] = []
    try:
        with torch.no_grad():
            for name, w in weights:
                backups.append((w, w.detach().clone()))
                d = used[name]
                per = isinstance(d, torch.Tensor) and d.ndim >= 1
                grouped = per and group_size is not None
                try:
                    q = fake_quantize(
                        w.detach(),
                        d,
                        s.bits,
                        s.name,
                        axis=(axis if per_channel else None)
                        if grouped
                        else (axis if per else None),
                        group_size=group_size if grouped else None,
                    )
                except InvalidArgument as exc:
                    raise InvalidArgument(f"{func}: weight {name!r}: {exc}") from None
                w.copy_(q)
        yield used
    finally:
        with torch.no_grad():
            for w, b in reversed(backups):
                w.copy_(b)
