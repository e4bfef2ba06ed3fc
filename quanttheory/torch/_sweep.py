r"""Robustness sweeps of the KURE paper: a metric against the step and the bit-width."""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import nn

from .._core.checks import check_bits, check_positive_scalar
from .._core.errors import InvalidArgument
from .._core.scheme import get_scheme
from ._fakequant import _pow2_mode, compute_steps, quantized
from ._select import Spec, select_weights
from ._table import Table

__all__ = ["SweepResult", "SweepRow", "carry_over_step", "robustness_sweep"]

KINDS = ("float", "step_scale", "power_of_two", "carry_over")
DEFAULT_STEP_SCALES = (0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3)


def carry_over_step(step, calibration_bits: int, bits: int):
    r"""The step at ``bits`` that keeps the clipping range calibrated at another width.

    .. math::

        \Delta_M = \tilde\Delta_{M_c}\, 2^{M_c - M}

    keeps the half-range :math:`\alpha = 2^{M-1}\Delta` fixed while the
    number of levels changes (ACIQ's and the KURE paper's convention
    :math:`\Delta = 2\alpha/2^M`). For the ``'paper'`` scheme (the default)
    :math:`\alpha` is exactly the largest level :math:`2^{M-1}\Delta`; for
    ``'signed'`` it is the magnitude of the most negative level, and the
    largest positive level :math:`(2^{M-1}-1)\Delta` then moves by less than
    one step.

    Parameters
    ----------
    step : float or torch.Tensor
        :math:`\tilde\Delta_{M_c}`, the step calibrated at ``calibration_bits``.
    calibration_bits : int
        :math:`M_c`, the bit-width the step was calibrated at.
    bits : int
        :math:`M`, the bit-width to carry the step over to.

    Returns
    -------
    float or torch.Tensor
        :math:`\Delta_M`, with the type of ``step``.

    Examples
    --------
    >>> from quanttheory.torch import carry_over_step
    >>> carry_over_step(0.1, 4, 8), carry_over_step(0.1, 4, 2)
    (0.00625, 0.4)
    """
    return step * 2.0 ** (calibration_bits - bits)


@dataclass(frozen=True)
class SweepRow:
    r"""One evaluation of :func:`robustness_sweep`.

    The rows of :class:`SweepResult`; the constructor parameters are also the
    attributes.

    Parameters
    ----------
    kind : {'float', 'step_scale', 'power_of_two', 'carry_over'}
        Which experiment: the unquantized model; :math:`\Delta =
        s\tilde\Delta_M`; :math:`\Delta = 2^{\operatorname{round}\log_2
        \tilde\Delta_M}`; :math:`\Delta = \tilde\Delta_{M_c} 2^{M_c-M}`.
    bits : int or None
        Bit-width :math:`M` of the quantizer (``None`` for ``'float'``).
    step_scale : float
        :math:`\Delta/\tilde\Delta_M` requested (``'step_scale'``), or the
        geometric mean over the layers of the ratio that the rule produced
        (``'power_of_two'``, ``'carry_over'``); NaN for ``'float'``.
    calibration_bits : int or None
        :math:`M_c` for ``'carry_over'`` rows.
    metric : float
        What ``evaluate(model)`` returned.

    Examples
    --------
    >>> from quanttheory.torch import SweepRow
    >>> row = SweepRow("carry_over", 2, 1.0, 8, 0.71)
    >>> row.kind, row.bits, row.calibration_bits, row.metric
    ('carry_over', 2, 8, 0.71)
    """

    kind: str
    bits: int | None
    step_scale: float
    calibration_bits: int | None
    metric: float


@dataclass
class SweepResult(Table):
    """The rows of :func:`robustness_sweep`, with tables and a plot.

    The constructor parameters are also the attributes.

    Parameters
    ----------
    rows : list of SweepRow
        The evaluations, in the order they ran.
    scheme : str
        Level set of the sweep.
    per_channel : bool
        Whether the steps were per output channel.
    metric_name : str
        Axis label of :meth:`plot`.

    Examples
    --------
    >>> from quanttheory.torch import SweepResult, SweepRow
    >>> res = SweepResult([SweepRow("float", None, float("nan"), None, 0.9),
    ...                    SweepRow("step_scale", 4, 1.0, None, 0.8)])
    >>> res.baseline, [r.metric for r in res.select("step_scale")]
    (0.9, [0.8])
    >>> print(res.to_markdown(), end="")
    | kind | bits | step_scale | calibration_bits | metric |
    |---|---|---|---|---|
    | float |  | nan |  | 0.9 |
    | step_scale | 4 | 1 |  | 0.8 |
    """

    rows: list[SweepRow]
    scheme: str = "paper"
    per_channel: bool = False
    metric_name: str = "metric"

    columns = ("kind", "bits", "step_scale", "calibration_bits", "metric")

    @property
    def baseline(self) -> float:
        """The metric of the unquantized model (NaN if it was not evaluated)."""
        for r in self.rows:
            if r.kind == "float":
                return r.metric
        return math.nan

    def select(self, kind: str, bits: int | None = None) -> list[SweepRow]:
        """The rows of one experiment (and one bit-width).

        Parameters
        ----------
        kind : {'float', 'step_scale', 'power_of_two', 'carry_over'}
            The experiment.
        bits : int, optional
            Keep only the rows at this bit-width; default all.

        Returns
        -------
        list of SweepRow
            The matching rows, in the order they ran.
        """
        return [
            r for r in self.rows if r.kind == kind and (bits is None or r.bits == bits)
        ]

    def plot(self, ax=None, kind: str | None = None, label: str = "", **kwargs):
        r"""Plot one experiment with matplotlib (imported only here).

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional
            Axes to draw on; a new figure is made if ``None``.
        kind : {'step_scale', 'carry_over'}, optional
            ``'step_scale'``: metric against :math:`\Delta/\tilde\Delta`, one
            line per bit-width, power-of-two rows as markers at their
            (geometric-mean) step ratio. ``'carry_over'``: metric against the
            bit-width, for the carried-over step and, where present, the step
            calibrated at each width (``step_scale == 1`` rows). Default: the
            first of those present.
        label : str
            Prefix of the legend entries (e.g. ``'KURE'``), so that two models
            can share one axes.
        **kwargs
            Passed to ``ax.plot`` (e.g. ``linestyle``).

        Returns
        -------
        matplotlib.axes.Axes
            The Axes drawn on.

        Raises
        ------
        ValueError
            For another ``kind``.
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.5))
        kinds = {r.kind for r in self.rows}
        if kind is None:
            kind = "step_scale" if "step_scale" in kinds else "carry_over"
        pre = f"{label} " if label else ""
        if kind == "step_scale":
            for b in sorted({r.bits for r in self.select("step_scale")}):
                rs = sorted(self.select("step_scale", b), key=lambda r: r.step_scale)
                style = {"marker": "o", "label": f"{pre}{b} bits", **kwargs}
                (line,) = ax.plot(
                    [r.step_scale for r in rs], [r.metric for r in rs], **style
                )
                p2 = self.select("power_of_two", b)
                if p2:
                    ax.plot(
                        [r.step_scale for r in p2],
                        [r.metric for r in p2],
                        marker="*",
                        markersize=12,
                        linestyle="none",
                        color=line.get_color(),
                    )
            ax.set_xlabel(r"step scale $\Delta/\tilde\Delta$ (stars: power of 2)")
        elif kind == "carry_over":
            rs = sorted(self.select("carry_over"), key=lambda r: r.bits)
            if rs:
                cal = rs[0].calibration_bits
                style = {"marker": "o", "label": f"{pre}step from {cal} bits", **kwargs}
                ax.plot([r.bits for r in rs], [r.metric for r in rs], **style)
            cal_rows = sorted(
                (r for r in self.select("step_scale") if r.step_scale == 1.0),
                key=lambda r: r.bits,
            )
            if cal_rows:
                style = {
                    "marker": "s",
                    "label": f"{pre}step calibrated per width",
                    **kwargs,
                    "linestyle": ":",
                }
                ax.plot(
                    [r.bits for r in cal_rows], [r.metric for r in cal_rows], **style
                )
            ax.set_xlabel("bits")
        else:
            raise ValueError(
                f"plot: kind={kind!r} must be 'step_scale' or 'carry_over'"
            )
        if not math.isnan(self.baseline):
            ax.axhline(self.baseline, color="grey", linewidth=0.8, linestyle="--")
        ax.set_ylabel(self.metric_name)
        ax.legend(fontsize="small")
        return ax


def _bits_list(func: str, bits) -> list[int]:
    items = [bits] if isinstance(bits, numbers.Integral) else list(bits)
    if not items:
        raise InvalidArgument(f"{func}: bits is empty; pass at least one bit-width")
    return [check_bits(func, b) for b in items]


def _not_a_function(evaluate) -> str:
    """'generator function' etc. when calling ``evaluate`` gives no value."""
    call = None if inspect.isroutine(evaluate) else type(evaluate).__call__
    for f in (evaluate, call):
        if inspect.isasyncgenfunction(f):
            return "async generator function"
        if inspect.isgeneratorfunction(f):
            return "generator function"
        if inspect.iscoroutinefunction(f):
            return "coroutine function"
    return ""


def _metric(func: str, value) -> float:
    """``float(value)``, or an error that names ``evaluate`` and what it returned."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return float(value.detach().reshape(()))
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    try:
        out = float(value)
    except (TypeError, ValueError):
        out = None
    if out is None or isinstance(value, (bool, str, bytes)):
        raise InvalidArgument(
            f"{func}: evaluate returned {_describe(value)}, not a number; "
            "evaluate(model) must return the metric as a float"
        )
    return out


def _describe(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}" + ("..." if len(text) > 60 else "")


def _calibration_bits(func: str, value, scheme: str) -> int:
    """``calibration_bits`` checked like ``bits``, and named in the message."""
    try:
        b = check_bits(func, value)
        get_scheme(func, scheme, b)
    except InvalidArgument as exc:
        msg = str(exc).replace(f"{func}: bits=", f"{func}: calibration_bits=", 1)
        raise InvalidArgument(msg) from None
    return b


def _geo_ratio(used: dict, base: dict) -> float:
    logs = []
    for name, d in used.items():
        r = d / base[name]
        if isinstance(r, torch.Tensor):
            logs.append(float(torch.log(r).mean()))
        else:
            logs.append(math.log(r))
    return math.exp(sum(logs) / len(logs))


def robustness_sweep(
    model: nn.Module,
    evaluate: Callable[[nn.Module], float],
    bits: int | Iterable[int] = (4,),
    step_scales: Iterable[float] = DEFAULT_STEP_SCALES,
    power_of_two: bool | str = True,
    calibration_bits: int | None = None,
    *,
    scheme: str = "paper",
    per_channel: bool = False,
    select: Spec = "all",
    include: Spec | None = None,
    exclude: Spec | None = None,
    baseline: bool = True,
    metric_name: str = "metric",
) -> SweepResult:
    r"""Rerun the KURE paper's robustness experiments with weight-only quantization.

    For each bit-width :math:`M` in ``bits``, with :math:`\tilde\Delta_M` the
    exact empirical optimal step of each selected weight:

    * ``'step_scale'`` rows: ``evaluate(model)`` with :math:`\Delta =
      s\,\tilde\Delta_M` for each :math:`s` in ``step_scales`` (paper
      Sec. 5.1, accuracy against :math:`\Delta/\tilde\Delta`);
    * ``'power_of_two'`` rows (if ``power_of_two``): :math:`\Delta` rounded to
      the nearest power of two (supplementary Table 5);
    * ``'carry_over'`` rows (if ``calibration_bits`` :math:`M_c` is given):
      :math:`\Delta_M = \tilde\Delta_{M_c} 2^{M_c - M}`, the step calibrated at
      :math:`M_c` bits carried over by keeping the clipping range
      (:func:`carry_over_step`; paper Sec. 5.2, accuracy against bit-width);
    * one ``'float'`` row, the unquantized model (if ``baseline``).

    Each evaluation runs inside :func:`quantized`, so the weights are
    restored bit-exactly after each one, and also if ``evaluate`` raises.

    Parameters
    ----------
    model : torch.nn.Module
        The model (DDP/compile wrappers are unwrapped); its weights are
        restored after each evaluation.
    evaluate : callable
        ``evaluate(model) -> float`` (e.g. test accuracy): a plain function
        that returns a number (a 0-d tensor is fine), not a generator or a
        coroutine function. It should put the model in eval mode and disable
        gradients itself.
    bits : int or iterable of int
        Bit-widths :math:`M` of the ``'step_scale'``, ``'power_of_two'`` and
        ``'carry_over'`` rows.
    step_scales : iterable of float
        :math:`s = \Delta/\tilde\Delta`; may be empty.
    power_of_two : bool or {'nearest', 'floor', 'ceil'}
        Add the ``'power_of_two'`` rows, rounding as in
        :func:`round_power_of_two` (``True`` means ``'nearest'``).
    calibration_bits : int, optional
        :math:`M_c` of the ``'carry_over'`` rows; ``None`` for none.
    scheme : {'paper', 'signed', 'symmetric', 'midrise'}
        Level set, as in :func:`quantized`: ``'paper'`` (default, the
        package's :math:`2^M+1` levels) or ``'signed'`` to simulate M-bit
        two's-complement integer weights.
    per_channel : bool
        One step per output channel, as in :func:`quantized` (default: one
        step per tensor).
    select : {'all', 'default', 'paper'}, type, predicate or patterns
        Which weights, as in :func:`quantized` (default: every conv and
        linear weight).
    include, exclude : optional
        Extra rules, see :func:`select_weights`.
    baseline : bool
        Also evaluate the unquantized model.
    metric_name : str
        Axis label of :meth:`SweepResult.plot`.

    Returns
    -------
    SweepResult
        One :class:`SweepRow` per evaluation: the ``'float'`` row first, then
        per bit-width the ``'step_scale'`` and ``'power_of_two'`` rows, then
        the ``'carry_over'`` rows.

    Raises
    ------
    InvalidArgument
        For an ``evaluate`` that is not callable or is a generator or
        coroutine function (refused before any weight changes), an
        ``evaluate`` that returns something other than a number (the weights
        are restored first), invalid ``bits``, ``calibration_bits`` (named as
        such), ``step_scales``, ``power_of_two`` or ``scheme``, or an empty
        selection. An exception raised by ``evaluate`` itself propagates
        unchanged, after the weights are restored.

    Notes
    -----
    :math:`\tilde\Delta` is computed once per weight and bit-width, before
    any evaluation, and reused by every row.

    References
    ----------
    .. [1] M. Shkolnik et al., "Robust Quantization: One Model to Rule Them
       All", NeurIPS 2020, arXiv:2002.07686, Sec. 5 and supplementary
       Table 5.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from quanttheory.torch import robustness_sweep
    >>> _ = torch.manual_seed(0)
    >>> net = nn.Linear(64, 64)
    >>> x = torch.randn(256, 64)
    >>> ref = net(x).detach()
    >>> def fidelity(m):   # relative error of the outputs, in dB
    ...     with torch.no_grad():
    ...         err = (m(x) - ref).pow(2).mean() / ref.pow(2).mean()
    ...     return float(-10 * torch.log10(err))
    >>> res = robustness_sweep(net, fidelity, bits=[4], step_scales=[0.8, 1.0, 1.2],
    ...                        power_of_two=False, scheme="signed")   # int4 weights
    >>> [(r.kind, r.step_scale) for r in res]
    [('float', nan), ('step_scale', 0.8), ('step_scale', 1.0), ('step_scale', 1.2)]
    >>> best = max(res.select("step_scale"), key=lambda r: r.metric)
    >>> best.step_scale
    1.0
    """
    func = "robustness_sweep"
    if not callable(evaluate):
        raise InvalidArgument(f"{func}: evaluate={evaluate!r} must be callable")
    kind = _not_a_function(evaluate)
    if kind:
        raise InvalidArgument(
            f"{func}: evaluate={evaluate!r} is a {kind}: calling it returns a "
            f"{'generator' if 'generator' in kind else 'coroutine'}, not the "
            "metric; pass a plain function evaluate(model) -> float"
        )
    s = get_scheme(func, scheme, 2)
    bit_list = _bits_list(func, bits)
    for b in bit_list:
        get_scheme(func, s.name, b)
    scales = [check_positive_scalar(func, "step_scales", v) for v in step_scales]
    mode = _pow2_mode(func, power_of_two)
    if calibration_bits is not None:
        calibration_bits = _calibration_bits(func, calibration_bits, s.name)
    weights = select_weights(model, select, include=include, exclude=exclude, func=func)
    needed = sorted(set(bit_list) | ({calibration_bits} - {None}))
    base = {b: compute_steps(func, weights, b, s.name, per_channel, 0) for b in needed}
    kw = {
        "scheme": s.name,
        "per_channel": per_channel,
        "select": select,
        "include": include,
        "exclude": exclude,
    }

    def run(b, **extra) -> tuple[float, dict]:
        with quantized(model, b, **kw, **extra) as used:
            return _metric(func, evaluate(model)), used

    rows: list[SweepRow] = []
    if baseline:
        metric = _metric(func, evaluate(model))
        rows.append(SweepRow("float", None, math.nan, None, metric))
    for b in bit_list:
        for sc in scales:
            metric, _ = run(b, steps=base[b], step_scale=sc)
            rows.append(SweepRow("step_scale", b, sc, None, metric))
        if mode is not None:
            metric, used = run(b, steps=base[b], power_of_two=mode)
            rows.append(
                SweepRow("power_of_two", b, _geo_ratio(used, base[b]), None, metric)
            )
    if calibration_bits is not None:
        for b in bit_list:
            carried = {
                n: carry_over_step(d, calibration_bits, b)
                for n, d in base[calibration_bits].items()
            }
            metric, used = run(b, steps=carried)
            rows.append(
                SweepRow(
                    "carry_over", b, _geo_ratio(used, base[b]), calibration_bits, metric
                )
            )
    return SweepResult(
        rows, scheme=s.name, per_channel=bool(per_channel), metric_name=metric_name
    )
