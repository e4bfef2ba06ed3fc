r"""Per-tensor quantization analysis of real network weights.

For each weight tensor :math:`W` (or each output channel) the exact
empirical law :math:`\hat P_W` goes through the core engine:
:math:`\tilde\Delta`, the MSE and SQNR there, the step sensitivity
:math:`\Gamma` and what the equal-variance Gaussian, Laplace and uniform
laws predict.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import math
import numbers
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from .._core.errors import InvalidArgument
from .._core.scheme import Scheme, get_scheme
from .._empirical.empirical import Empirical, scale_exponent
from .._laws.gaussian import Gaussian
from .._laws.laplace import Laplace
from .._laws.uniform import Uniform
from .._mse import mse
from .._optimal import optimal_step as engine_optimal_step
from .._sensitivity import sqnr_db
from ._io import engine_array, open_source, packed_params
from ._table import Table

__all__ = ["AnalysisResult", "TensorReport", "analyze"]

#: The choices of ``analyze(non_float=...)``: what to do with a tensor that is
#: not floating point (analyse its values, skip it, or raise).
NON_FLOAT = ("auto", "skip", "error")

#: Meaning of each column of :class:`TensorReport` (used by the CLI's JSON).
COLUMNS = {
    "name": "tensor name in the state dict",
    "channel": "output channel (per-channel or per-group analysis), else empty",
    "group": "group within the channel (per-group analysis), else empty",
    "shape": "tensor shape",
    "numel": "number of elements analysed",
    "dtype": "stored dtype",
    "mean": "mean of the elements",
    "std": "standard deviation (divisor N)",
    "kurtosis": "Pearson kurtosis m4/m2^2 (uniform 1.8, Gaussian 3, Laplace 6)",
    "optimal_step": "exact empirical optimal step (global minimiser of the MSE)",
    "clip": "largest level tau+ at the optimal step",
    "mse": "MSE at the optimal step",
    "sqnr_db": "10 log10(E[w^2] / MSE) at the optimal step (dB)",
    "gamma": "step sensitivity: max over the sides of |MSE(step(1 -/+ eps)) - MSE|",
    "gamma_minus": "|MSE(step (1 - eps)) - MSE(step)|",
    "gamma_plus": "|MSE(step (1 + eps)) - MSE(step)|",
    "gamma_rel": "gamma / MSE: relative MSE rise for a relative step error eps",
    "gaussian_step": "optimal step of the Gaussian of equal variance",
    "gaussian_mse": "MSE that the Gaussian model predicts at its optimal step",
    "laplace_step": "optimal step of the Laplace law of equal variance",
    "laplace_mse": "MSE that the Laplace model predicts at its optimal step",
    "uniform_step": "optimal step of the uniform law of equal variance",
    "uniform_mse": "MSE that the uniform model predicts at its optimal step",
    "note": "why values are NaN or inf (constant, all-zero or exactly quantized)",
}


@dataclass(frozen=True)
class TensorReport:
    r"""One row of :func:`analyze`: a weight tensor, or one output channel of it.

    The constructor parameters are also the attributes; ``COLUMNS`` of
    ``quanttheory.torch._analyze`` describes each in one line.

    Parameters
    ----------
    name : str
        Tensor name in the state dict.
    channel : int or None
        Output channel (index along dimension 0) of a per-channel or
        per-group row, ``None`` per tensor.
    shape : tuple of int
        Shape of the tensor.
    numel : int
        Number of elements analysed.
    dtype : str
        Stored dtype.
    mean, std, kurtosis : float
        Moments of the elements (population, divisor :math:`N`; Pearson
        kurtosis). ``kurtosis`` is NaN for a constant tensor.
    optimal_step, clip, mse, sqnr_db : float
        :math:`\tilde\Delta`, :math:`\tau_+ = (k_{\max}+o)\tilde\Delta`, the
        MSE and the SQNR at :math:`\tilde\Delta`.
    gamma, gamma_minus, gamma_plus, gamma_rel : float
        :math:`\Gamma` at a relative step error :math:`\varepsilon`: the
        maximum of the exact MSE rises at :math:`\tilde\Delta(1\mp\varepsilon)`,
        the two rises, and the maximum divided by the MSE.
    gaussian_step, gaussian_mse, laplace_step, laplace_mse : float
        Optimal step and MSE of the centred Gaussian and Laplace laws of the
        same variance.
    uniform_step, uniform_mse : float
        The same for the uniform law.
    note : str
        Why values are NaN or infinite, if they are.
    group : int or None
        Keyword only (the column after ``channel``). Group of a per-group
        row: the elements ``[group * g, (group + 1) * g)`` of the channel's
        values in storage order, for ``group_size=g``; ``None`` otherwise.

    Examples
    --------
    >>> import torch
    >>> from quanttheory.torch import TensorReport, analyze
    >>> g = torch.Generator().manual_seed(0)
    >>> row = analyze({"w": torch.randn(64, 64, generator=g)}, bits=4)[0]
    >>> isinstance(row, TensorReport), row.name, row.channel, row.shape
    (True, 'w', None, (64, 64))
    >>> bool(row.gamma == max(row.gamma_minus, row.gamma_plus))
    True
    """

    name: str
    channel: int | None
    group: int | None = field(default=None, kw_only=True)
    shape: tuple[int, ...]
    numel: int
    dtype: str
    mean: float
    std: float
    kurtosis: float
    optimal_step: float
    clip: float
    mse: float
    sqnr_db: float
    gamma: float
    gamma_minus: float
    gamma_plus: float
    gamma_rel: float
    gaussian_step: float
    gaussian_mse: float
    laplace_step: float
    laplace_mse: float
    uniform_step: float
    uniform_mse: float
    note: str = ""


@dataclass
class AnalysisResult(Table):
    r"""The rows of :func:`analyze` and the settings that produced them.

    ``to_dict()`` gives a list of row dicts; ``to_csv()``, ``to_markdown()``,
    ``to_text()`` and ``to_json()`` render them (``columns='brief'`` for the
    compact view). ``skipped`` lists ``(name, reason)`` for tensors that were
    not analysed. The constructor parameters are also the attributes.

    Parameters
    ----------
    rows : list of TensorReport
        One row per weight (or channel), in checkpoint order.
    bits : int
        Bit-width :math:`M` of the analysis.
    scheme : str
        Level set of the analysis.
    eps : float
        Relative step error of :math:`\Gamma`.
    per_channel : bool
        Whether the rows are output channels.
    source : str
        What was analysed (a path, or empty for an in-memory model).
    skipped : list of (str, str)
        ``(name, reason)`` of the tensors that were not analysed.
    group_size : int or None
        The group size of a per-group analysis, else ``None``.

    Examples
    --------
    >>> import torch
    >>> from quanttheory.torch import analyze
    >>> g = torch.Generator().manual_seed(0)
    >>> res = analyze({"w": torch.randn(64, 64, generator=g)}, bits=4)
    >>> row = res.to_dict()[0]
    >>> row["name"], row["shape"], row["numel"], round(row["kurtosis"], 2)
    ('w', (64, 64), 4096, 3.19)
    >>> print(res.to_csv(columns=["name", "numel"]), end="")
    name,numel
    w,4096
    """

    rows: list[TensorReport]
    bits: int
    scheme: str
    eps: float
    per_channel: bool
    source: str = ""
    skipped: list[tuple[str, str]] = field(default_factory=list)
    group_size: int | None = None

    columns = tuple(COLUMNS)

    @property
    def brief_columns(self) -> tuple[str, ...]:
        """The compact view's columns.

        With ``channel`` for per-channel rows, and ``group`` too per group.
        """
        where = ("channel",) if self.per_channel or self.group_size else ()
        where += ("group",) if self.group_size else ()
        return (
            "name",
            *where,
            "shape",
            "kurtosis",
            "optimal_step",
            "mse",
            "sqnr_db",
            "gamma",
            "gamma_rel",
            "gaussian_step",
            "laplace_step",
            "uniform_step",
        )

    def most_sensitive(self, k: int = 5, by: str = "gamma_rel") -> list[TensorReport]:
        r"""The ``k`` rows with the largest ``by``; degenerate rows last.

        A row is degenerate when its value of ``by`` is NaN or infinite, or
        when the optimal step quantizes it exactly (MSE 0): constant tensors
        such as BatchNorm's ``running_var``, all-zero tensors, or values
        that already lie on the levels. Their :math:`\Gamma` is not a
        sensitivity to compare (``gamma_rel`` is ``gamma / 0 = inf``), so
        they come after every other row, in table order; their ``note``
        says why.

        Parameters
        ----------
        k : int
            Number of rows.
        by : str
            Column to rank by.

        Returns
        -------
        list of TensorReport
            At most ``k`` rows, largest first, degenerate rows last.

        Raises
        ------
        KeyError
            For a column that the table does not have.

        Examples
        --------
        >>> import torch
        >>> from quanttheory.torch import analyze
        >>> g = torch.Generator().manual_seed(0)
        >>> w = {"a": torch.randn(32, 32, generator=g), "b": torch.rand(32, 32)}
        >>> [r.name for r in analyze(w, bits=4).most_sensitive(1, by="kurtosis")]
        ['a']
        >>> w["bn.running_var"] = torch.ones(32)          # constant: MSE 0
        >>> res = analyze(w, bits=4, all_float=True)
        >>> [r.name for r in res.most_sensitive(3)][-1]     # last, not first
        'bn.running_var'
        >>> "MSE 0" in res[2].note
        True
        """
        if by not in self.columns:
            raise KeyError(f"unknown column {by!r}")

        def degenerate(r) -> bool:
            v = getattr(r, by)
            if v is None:
                return True
            if not isinstance(v, numbers.Real) or isinstance(v, bool):
                return False  # a text column: ranked as text
            return not math.isfinite(v) or not r.mse > 0

        live = [r for r in self.rows if not degenerate(r)]
        dead = [r for r in self.rows if degenerate(r)]
        return (sorted(live, key=lambda r: getattr(r, by), reverse=True) + dead)[:k]

    def to_json(self, **meta) -> str:
        """JSON text: the settings, ``columns`` and ``skipped``, then ``rows``.

        Parameters
        ----------
        **meta
            Extra top-level fields; they override the settings of the same
            name.

        Returns
        -------
        str
            An indented JSON object (NaN as null).
        """
        base = {
            "source": self.source,
            "bits": self.bits,
            "scheme": self.scheme,
            "eps": self.eps,
            "per_channel": self.per_channel,
            "group_size": self.group_size,
            "columns": COLUMNS,
            "skipped": [list(s) for s in self.skipped],
        }
        return super().to_json(**{**base, **meta})


def _non_float_action(t: torch.Tensor, policy: str, all_float: bool) -> str:
    """'skip' or 'error' for a tensor that is not floating."""
    if policy != "auto":
        return policy
    if t.is_quantized or t.is_complex():
        return "error"
    if t.dtype in (torch.int8, torch.uint8) and t.ndim >= 2:
        return "error"  # an already-quantized weight matrix or kernel
    return "skip"  # index and counter buffers: position_ids, num_batches_tracked


def _selected(name: str, include, exclude) -> bool:
    if include is not None and not any(
        fnmatch.fnmatchcase(name, p) for p in _patterns(include)
    ):
        return False
    return exclude is None or not any(
        fnmatch.fnmatchcase(name, p) for p in _patterns(exclude)
    )


def _patterns(spec) -> list[str]:
    return [spec] if isinstance(spec, str) else list(spec)


def _nan() -> float:
    return math.nan


def batched_engine() -> bool:
    """Whether per-channel and per-group rows go through the batched engine
    (:data:`BATCHED`): in blocks of rows through ``Empirical(x, axis=0)``,
    or else one row at a time. Both give the same floats (a batched law
    gives the per-slice results bit for bit; the tests run both paths).
    """
    return bool(BATCHED)


#: True (default): the rows go to the batched engine; False: one row at a
#: time (the tests run both). The core takes every row of up to
#: ``quanttheory._optimal.ROW_ENGINE_MAX`` samples by the batched engine,
#: alone or in a batch, and longer rows one by one by the 1-D engine.
BATCHED: bool = True

#: Rows per call of the batched engine (and per progress report).
_BLOCK_ROWS = 4096

#: Rows of one tensor from which progress is also reported within it.
_PROGRESS_ROWS = 256


def _empirical(func: str, name: str, arr: np.ndarray) -> Empirical:
    """``Empirical(arr)`` (no copy: the array is only read during the call);
    non-finite values raise with their counts and the tensor's name."""
    try:
        return Empirical(arr, copy=False)
    except InvalidArgument:
        _check_finite(func, name, arr)
        raise


def _check_finite(func: str, name: str, arr: np.ndarray) -> None:
    finite = np.isfinite(arr)
    if finite.all():
        return
    n_nan = int(np.isnan(arr).sum())
    n_inf = int(arr.size - finite.sum()) - n_nan
    raise InvalidArgument(
        f"{func}: tensor {name!r} contains {n_nan} NaN and {n_inf} infinite "
        "value(s); a weight must be finite"
    )


def _three_mse(emp, d, s: Scheme, eps: float):
    """``(MSE(d), |MSE(d - eps d) - MSE(d)|, |MSE(d + eps d) - MSE(d)|)``.

    One call of :func:`quanttheory.mse` at the three steps: one pass over
    the samples, and the same floats as ``qt.mse(emp, d)`` and
    ``qt.sensitivity(emp, bits, [-eps*d, eps*d], step=d, taylor=False)``
    (each step's sum is accumulated on its own, chunk by chunk, and the
    sensitivity subtracts the same two values).
    """
    m, lo, hi = (
        float(v)
        for v in mse(
            emp, np.array([d, d + -eps * d, d + eps * d]), s.bits, scheme=s.name
        )
    )
    return m, abs(lo - m), abs(hi - m)


def _sqnr(emp, d: float, m: float, s: Scheme) -> float:
    """:func:`quanttheory.sqnr_db` at ``d`` from the MSE ``m`` already there.

    For data of ordinary magnitude (no scaled coordinates) the engine's SQNR
    is ``10 log10(E[X^2] / MSE)`` with these two floats, so that is computed
    here without another pass; otherwise the engine's own call.
    """
    if scale_exponent(emp.min, emp.max):
        return float(sqnr_db(emp, d, s.bits, scheme=s.name))
    with np.errstate(divide="ignore"):
        return float(10.0 * np.log10(np.array([emp.second_moment]) / m)[0])


def _gamma_rel(gm: float, gp: float, m: float, note: list[str]):
    """``(gamma, gamma_rel)``; the note says why ``gamma_rel`` is infinite."""
    nan = math.nan
    gamma = max(gm, gp) if not (math.isnan(gm) or math.isnan(gp)) else nan
    if m > 0:
        return gamma, gamma / m
    if m == 0:
        note.append(
            "MSE 0 at the optimal step (every value on a level)"
            + (": gamma_rel is infinite" if gamma > 0 else "")
        )
        return gamma, math.inf if gamma > 0 else 0.0
    return gamma, nan


def tensor_report(
    name: str,
    tensor: torch.Tensor,
    s: Scheme,
    eps: float,
    *,
    channel: int | None = None,
    group: int | None = None,
    shape: tuple[int, ...] | None = None,
    models: bool = True,
    func: str = "analyze",
) -> TensorReport:
    """Analyse one tensor (or slice) with the core engine; see :func:`analyze`.

    Passes over the data: the range (and finiteness) when the
    :class:`Empirical` is built, its cached moments (one float64 pass), the
    optimum, and one MSE pass at :math:`\\tilde\\Delta` and
    :math:`\\tilde\\Delta(1\\mp\\varepsilon)` together.
    """
    arr = engine_array(tensor)
    emp = _empirical(func, name, arr)
    note = []
    kurt = emp.kurtosis if emp.variance > 0 else _nan()
    if emp.variance == 0:
        note.append("constant tensor: kurtosis undefined")
    nan = _nan()
    d = m = sq = clip = gm = gp = nan
    if emp.second_moment > 0:
        d = engine_optimal_step(emp, s.bits, scheme=s.name)
        m, gm, gp = _three_mse(emp, d, s, eps)
        sq = _sqnr(emp, d, m, s)
        clip = s.top * d
    else:
        note.append("all zero: no optimal step")
    gamma, gamma_rel = _gamma_rel(gm, gp, m, note)
    preds = [nan] * 6
    if models and emp.variance > 0:
        preds = []
        for law in (Gaussian, Laplace, Uniform):
            dist = law.with_variance(emp.variance)
            ds = engine_optimal_step(dist, s.bits, scheme=s.name)
            preds += [ds, mse(dist, ds, s.bits, scheme=s.name)]
    return TensorReport(
        name=name,
        channel=channel,
        group=group,
        shape=tuple(int(i) for i in (shape if shape is not None else tensor.shape)),
        numel=int(emp.n),
        dtype=str(tensor.dtype).replace("torch.", ""),
        mean=float(emp.mean),
        std=float(emp.std),
        kurtosis=float(kurt),
        optimal_step=float(d),
        clip=float(clip),
        mse=float(m),
        sqnr_db=float(sq),
        gamma=float(gamma),
        gamma_minus=float(gm),
        gamma_plus=float(gp),
        gamma_rel=float(gamma_rel),
        gaussian_step=float(preds[0]),
        gaussian_mse=float(preds[1]),
        laplace_step=float(preds[2]),
        laplace_mse=float(preds[3]),
        uniform_step=float(preds[4]),
        uniform_mse=float(preds[5]),
        note="; ".join(note),
    )


def row_moments(rows: np.ndarray):
    """``(mean, variance, m4)`` of each row of a 2-D array, vectorised.

    The algorithm of :class:`Empirical`'s moments on each row (a float64
    sum for the mean, then the centred sums and one correction of the
    mean), so each row's values are those of ``Empirical(row)`` bit for bit
    for rows of at most 2**18 elements of ordinary magnitude (one tile of
    its pass; numpy sums each contiguous row pairwise, as it sums a 1-D
    array). Two float64 passes over the rows.
    """
    x = rows.astype(np.float64)
    n = x.shape[1]
    mean = x.sum(axis=1, dtype=np.float64) / n
    dev = x - mean[:, None]
    d1 = dev.sum(axis=1)
    dev *= dev
    d2 = dev.sum(axis=1)
    dev *= dev
    d4 = dev.sum(axis=1)
    m = mean + d1 / n
    c = m - mean
    var = np.maximum(d2 / n - c * c, 0.0)
    return m, var, d4 / n


@functools.lru_cache(maxsize=64)
def _unit_laws(scheme: str, bits: int):
    """``[(step, mse)]`` of the unit-variance Gaussian, Laplace and uniform
    laws at their optima."""
    out = []
    for law in (Gaussian, Laplace, Uniform):
        dist = law.with_variance(1.0)
        d1 = engine_optimal_step(dist, bits, scheme=scheme)
        out.append((d1, float(mse(dist, d1, bits, scheme=scheme))))
    return tuple(out)


#: Rows whose largest magnitude lies outside [2**-128, 2**128) take the
#: engine's scaled coordinates: such rows go through :func:`tensor_report`.
_ORDINARY = (2.0**-128, 2.0**128)


def slice_reports(
    name: str,
    tensor: torch.Tensor,
    s: Scheme,
    eps: float,
    *,
    group_size: int | None = None,
    models: bool = True,
    func: str = "analyze",
    tick: Callable[[float], None] | None = None,
) -> list[TensorReport]:
    r"""Rows per output channel (or per group within it) of one tensor.

    The tensor is read once as a matrix of rows: its output channels
    (dimension 0, each flattened in storage order), or, with
    ``group_size=g``, the contiguous groups of ``g`` values of each channel
    (a 0-d or 1-d tensor is one channel). The moments of every row come
    from one vectorised pass (:func:`row_moments`, equal to each row's
    :class:`Empirical`), the optimum and the MSE at :math:`\tilde\Delta`
    and :math:`\tilde\Delta(1\mp\varepsilon)` from the engine, batched when
    it is (:func:`batched_engine`), and the SQNR from those. The model columns
    scale the unit-variance law's step and MSE by :math:`\sigma` and
    :math:`\sigma^2` (scale covariance: equal to the per-row calls to a
    few rounding errors). ``tick(fraction)`` is called as the rows advance.
    """
    arr = engine_array(tensor)
    per_group = group_size is not None
    if per_group:
        rows = arr.reshape(-1, group_size)
        per_channel = arr.size // group_size // (arr.shape[0] if arr.ndim > 1 else 1)
    else:
        rows = arr.reshape(arr.shape[0], -1) if arr.ndim else arr.reshape(1, 1)
    n_rows, width = rows.shape
    nan = math.nan
    mean = np.full(n_rows, nan)
    var = np.full(n_rows, nan)
    m4 = np.full(n_rows, nan)
    step = np.full(n_rows, nan)
    m0 = np.full(n_rows, nan)
    g_lo = np.full(n_rows, nan)
    g_hi = np.full(n_rows, nan)
    # the largest magnitude of each row, without a copy of the data; NaN or
    # inf in a row shows in its max or min
    hi, lo = rows.max(axis=1), rows.min(axis=1)
    if not (np.isfinite(hi).all() and np.isfinite(lo).all()):
        _check_finite(func, name, arr)
    amax = np.maximum(np.abs(hi), np.abs(lo)).astype(np.float64)
    ordinary = (amax == 0) | ((amax >= _ORDINARY[0]) & (amax < _ORDINARY[1]))
    if width > 1 << 18:
        ordinary[:] = False  # more than one tile of Empirical's passes
    special: dict[int, TensorReport] = {}
    report = tick is not None and n_rows >= _PROGRESS_ROWS
    batched = batched_engine()
    # blocks of rows: progress about every 5 %, at most _BLOCK_ROWS at a time
    block = min(_BLOCK_ROWS, max(64, n_rows // 20))
    for a in range(0, n_rows, block):
        b = min(a + block, n_rows)
        idx = np.arange(a, b)[ordinary[a:b]]
        if idx.size:
            mu, v, k4 = row_moments(rows[idx])
            mean[idx], var[idx], m4[idx] = mu, v, k4
            live = idx[amax[idx] > 0]
            if live.size:
                d, m, lo, hi = _engine_rows(rows[live], s, eps, batched)
                step[live], m0[live], g_lo[live], g_hi[live] = d, m, lo, hi
        for i in np.arange(a, b)[~ordinary[a:b]]:
            special[int(i)] = tensor_report(
                name, torch.from_numpy(rows[i]), s, eps, models=models, func=func
            )
        if report and b < n_rows:
            tick(b / n_rows)
    power = var + mean * mean
    with np.errstate(divide="ignore", invalid="ignore"):
        sq = 10.0 * np.log10(power / m0)
        kurt = np.where(var > 0, m4 / (var * var), nan)
    laws = _unit_laws(s.name, s.bits) if models else None
    sigma = np.sqrt(var)
    shape = tuple(int(i) for i in tensor.shape)
    dtype = str(tensor.dtype).replace("torch.", "")
    # Python floats once for all rows (float() of each numpy scalar is slow)
    amax, var, sigma, mean, kurt = (a.tolist() for a in (amax, var, sigma, mean, kurt))
    step, clip, sq = step.tolist(), (s.top * step).tolist(), sq.tolist()
    m0, g_lo, g_hi = m0.tolist(), g_lo.tolist(), g_hi.tolist()
    out = []
    for i in range(n_rows):
        if per_group:
            ch, grp = divmod(i, per_channel)
            ch = ch if arr.ndim > 1 else None
        else:
            ch, grp = (i if arr.ndim else None), None
        r = special.get(i)
        if r is not None:
            out.append(_relabel(r, ch, grp, shape, dtype))
            continue
        note = []
        v = var[i]
        if v == 0:
            note.append("constant tensor: kurtosis undefined")
        if not amax[i] > 0:
            note.append("all zero: no optimal step")
        m, gm, gp = m0[i], g_lo[i], g_hi[i]
        gamma, gamma_rel = _gamma_rel(gm, gp, m, note)
        preds = [nan] * 6
        if laws is not None and v > 0:
            sd = sigma[i]
            preds = [x for d1, e1 in laws for x in (sd * d1, v * e1)]
        out.append(
            TensorReport(
                name=name,
                channel=ch,
                group=grp,
                shape=shape,
                numel=int(width),
                dtype=dtype,
                mean=mean[i],
                std=sigma[i],
                kurtosis=kurt[i],
                optimal_step=step[i],
                clip=clip[i],
                mse=m,
                sqnr_db=sq[i],
                gamma=float(gamma),
                gamma_minus=gm,
                gamma_plus=gp,
                gamma_rel=float(gamma_rel),
                gaussian_step=preds[0],
                gaussian_mse=preds[1],
                laplace_step=preds[2],
                laplace_mse=preds[3],
                uniform_step=preds[4],
                uniform_mse=preds[5],
                note="; ".join(note),
            )
        )
    return out


def _relabel(r: TensorReport, channel, group, shape, dtype) -> TensorReport:
    return dataclasses.replace(
        r, channel=channel, group=group, shape=shape, dtype=dtype
    )


def _engine_rows(rows: np.ndarray, s: Scheme, eps: float, batched: bool):
    """Optimal step, MSE and the two Gamma sides of each row (none all zero)."""
    if batched:  # one call per quantity for the whole block
        emp = Empirical(rows, axis=0, copy=False)
        d = np.asarray(engine_optimal_step(emp, s.bits, scheme=s.name))
        m = np.asarray(mse(emp, d, s.bits, scheme=s.name))
        lo = np.asarray(mse(emp, d + -eps * d, s.bits, scheme=s.name))
        hi = np.asarray(mse(emp, d + eps * d, s.bits, scheme=s.name))
        return d, m, np.abs(lo - m), np.abs(hi - m)
    out = np.empty((4, rows.shape[0]))
    for j, row in enumerate(rows):
        emp = Empirical(row, copy=False)
        d = engine_optimal_step(emp, s.bits, scheme=s.name)
        out[:, j] = (d, *_three_mse(emp, d, s, eps))
    return out


def analyze(
    source,
    bits: int = 4,
    scheme: str = "paper",
    eps: float = 0.05,
    per_channel: bool = False,
    *,
    all_float: bool = False,
    include: str | Sequence[str] | None = None,
    exclude: str | Sequence[str] | None = None,
    non_float: str = "auto",
    models: bool = True,
    progress: Callable[[int, int, str], None] | None = None,
    group_size: int | None = None,
    client=None,
) -> AnalysisResult:
    r"""Per-layer quantization analysis of a model's weights with the exact engine.

    For every weight tensor :math:`W` with empirical law :math:`\hat P_W`
    (each element has mass :math:`1/N`) this reports the moments and
    Pearson kurtosis, and

    .. math::

        \tilde\Delta = \operatorname*{arg\,min}_\Delta
        \mathrm{MSE}(\hat P_W, \Delta), \quad
        \mathrm{SQNR} = 10\log_{10}\frac{E[w^2]}{\mathrm{MSE}(\hat P_W,
        \tilde\Delta)}, \quad
        \Gamma = \max_\pm \big|\mathrm{MSE}(\hat P_W, \tilde\Delta(1\pm
        \varepsilon)) - \mathrm{MSE}(\hat P_W, \tilde\Delta)\big|,

    all computed by the core engine: ``qt.optimal_step(qt.Empirical(w),
    bits, scheme=scheme)``, ``qt.mse``, ``qt.sqnr_db`` and
    ``qt.sensitivity(emp, bits, [-eps*step, eps*step], step=step,
    taylor=False)``; the results are identical to those calls. The
    Gaussian, Laplace and uniform columns are
    ``qt.optimal_step(Law.with_variance(var), ...)`` and the MSE that law
    predicts there.

    Parameters
    ----------
    source : torch.nn.Module, mapping or path
        A model (its ``state_dict()``, wrappers unwrapped), a state dict, or
        a path to a ``.safetensors`` file (memory-mapped), a ``.pt``,
        ``.pth``, ``.bin`` or ``.ckpt`` file (``torch.load(mmap=True,
        weights_only=True)``), or a directory of ``.safetensors`` shards.
    bits : int
        Bit-width :math:`M`.
    scheme : {'paper', 'signed', 'symmetric', 'midrise'}
        Level set: ``'paper'`` (default, the package's :math:`2^M+1` levels,
        as in :func:`quanttheory.optimal_step`) or ``'signed'`` for M-bit
        two's-complement integer weights.
    eps : float
        Relative step error :math:`\varepsilon \in (0, 1)` of :math:`\Gamma`.
    per_channel : bool
        One row per output channel (slice along dimension 0) instead of per
        tensor.
    all_float : bool
        By default only floating tensors with ``ndim >= 2`` count as
        weights (linear and conv weights, embeddings); ``True`` analyses
        every floating tensor (biases, normalisation parameters, running
        statistics) too.
    include, exclude : str or list of str, optional
        :func:`fnmatch.fnmatchcase` patterns on tensor names.
    non_float : {'auto', 'skip', 'error'}
        What to do with tensors that are not floating. ``'auto'``: integer
        buffers (``num_batches_tracked``, ``position_ids``, 16 bits and
        wider, or fewer than 2 dimensions) are skipped and listed in
        ``skipped``; int8/uint8 matrices, quantized and complex tensors and
        the packed weights of torch.ao quantized modules (weights that
        cannot be read as real numbers; the checkpoint is already quantized)
        raise. ``'skip'`` skips them all.
    models : bool
        Also compute the Gaussian/Laplace/uniform predictions.
    progress : callable, optional
        Called as ``progress(i, total, name)`` after each of the ``total``
        tensors (``i`` an int, 1 to ``total``). Per channel or per group, a
        tensor of at least 256 rows also reports while it is analysed, with
        a float ``i`` between the tensor's index and the next (the fraction
        of its rows done).
    group_size : int, optional
        One row per group of ``group_size`` consecutive values of each
        output channel (the channel's values in storage order, as torchao's
        ``PerGroup``: for an ``(R, C)`` weight, ``R * C / group_size``
        rows with ``channel`` and ``group``). A tensor whose channels do
        not split into whole groups is skipped (listed in ``skipped``);
        a 0-d or 1-d tensor is one channel.
    client : dask.distributed.Client, optional
        Map the tensors over the cluster's workers: each task reads its own
        tensor from the file (``source`` must then be a path that every
        worker can read at the same location) and returns its rows. The
        result is the serial one, in the same order.

    Returns
    -------
    AnalysisResult
        One :class:`TensorReport` per weight (or channel), in checkpoint
        order.

    Raises
    ------
    InvalidArgument
        For a missing or unreadable file, a tensor with NaN or infinite
        values, a non-float weight (see ``non_float``), a model or checkpoint
        that torch.ao has already quantized (its packed weights; the message
        says so), no weight at all, or bad arguments. Messages name the
        tensor.

    See Also
    --------
    quanttheory.optimal_step, quanttheory.sensitivity, quantized

    Notes
    -----
    **Memory.** Tensors are read one at a time and handed to the engine in
    their own dtype (float16 and bfloat16 as float32, exactly); the peak is a
    few copies of the largest tensor (measured: 169 MB of numpy buffers and
    2 s for the 11.7 M-element float32 word embedding of all-MiniLM-L6-v2).

    **Passes.** Per tensor: the range and finiteness pass that builds the
    :class:`~quanttheory.Empirical`, its moments (one float64 pass, cached),
    the optimum, and one MSE pass at the three steps
    :math:`\tilde\Delta` and :math:`\tilde\Delta(1\mp\varepsilon)`
    (the SQNR is :math:`10\log_{10}(E[w^2]/\mathrm{MSE})` from those floats).
    Per channel or per group the moments of all rows come from one
    vectorised pass, and the model columns scale the unit-variance law's
    optimum (step times :math:`\sigma`, MSE times :math:`\sigma^2`; equal
    to the direct calls to a few rounding errors).

    **Why** :math:`\Gamma` **is not Lemma 1's Taylor value here.** The MSE of
    an empirical law is piecewise quadratic in :math:`\Delta` with a kink
    wherever an element crosses a decision threshold, i.e. every
    :math:`\sim\Delta/N` for large :math:`N`. The curvature between kinks,
    :math:`\frac2N\sum_i k_i^2`, ignores those kinks, and the Taylor value
    :math:`|D''|\varepsilon^2/2` built on it overstates the actual MSE rise
    by a factor of about 5 to 8 on real weight tensors (measured on
    :math:`10^6` uniform samples at 4 bits: Taylor 8.3e-4, exact 1.0e-4
    and 1.7e-4 at :math:`\mp 5\%`). The exact difference is what Lemma 1
    approximates, so it is reported instead, for both signs of the error.

    Constant tensors get NaN kurtosis and model columns; all-zero tensors
    also get NaN step, MSE and :math:`\Gamma` (with a ``note``).

    References
    ----------
    .. [1] M. Shkolnik et al., "Robust Quantization: One Model to Rule Them
       All", NeurIPS 2020, arXiv:2002.07686, Lemma 1.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> import quanttheory as qt
    >>> from quanttheory.torch import analyze
    >>> _ = torch.manual_seed(0)
    >>> net = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
    >>> res = analyze(net, bits=4)
    >>> [r.name for r in res]                 # biases have ndim 1: skipped
    ['0.weight', '2.weight']
    >>> r = res[0]
    >>> emp = qt.Empirical(net[0].weight.detach().double().numpy())
    >>> r.optimal_step == qt.optimal_step(emp, 4)   # the same default scheme
    True
    >>> signed = analyze(net, bits=4, scheme="signed")   # int4 weights
    >>> signed[0].optimal_step == qt.optimal_step(emp, 4, scheme="signed")
    True
    >>> round(r.kurtosis, 2), r.sqnr_db > 15
    (1.74, True)

    Per group of 8 values of each output channel (32 x 16 and 4 x 32
    weights: 64 + 16 rows):

    >>> per_group = analyze(net, bits=4, group_size=8)
    >>> len(per_group), [(r.channel, r.group) for r in per_group[:3]]
    (80, [(0, 0), (0, 1), (1, 0)])
    >>> w = net[0].weight.detach().double().numpy()
    >>> per_group[1].optimal_step == qt.optimal_step(w[0, 8:16], 4)
    True
    """
    func = "analyze"
    s = get_scheme(func, scheme, bits)
    if (
        isinstance(eps, bool)
        or not isinstance(eps, numbers.Real)
        or not 0 < float(eps) < 1
    ):
        raise InvalidArgument(f"{func}: eps={eps!r} must be a number in (0, 1)")
    eps = float(eps)
    if non_float not in NON_FLOAT:
        raise InvalidArgument(
            f"{func}: non_float={non_float!r} is not one of {{'auto', 'skip', 'error'}}"
        )
    group_size = _check_group_size(func, group_size)
    client = _check_client(func, client, source)
    src = open_source(func, source)
    rows: list[TensorReport] = []
    skipped: list[tuple[str, str]] = []
    seen: dict[tuple, str] = {}
    total = len(src)
    opts = (s.bits, s.name, eps, bool(per_channel), group_size, bool(models))
    tasks: list[str] = []
    for i, name in enumerate(src.names):
        t = src.peek(name)
        reason = _skip_reason(
            func,
            src,
            name,
            t,
            include,
            exclude,
            all_float,
            non_float,
            group_size,
            seen,
        )
        if reason is not None:
            skipped.append((name, reason))
        elif client is not None:
            tasks.append(name)
            continue
        else:
            tick = None
            if progress is not None:

                def tick(f, i=i, name=name):
                    progress(i + f, total, name)

            rows.extend(_rows_for(name, src.get(name), opts, func, tick))
        if progress is not None:
            progress(i + 1 if client is None else len(skipped), total, name)
    if tasks:
        rows = _on_cluster(client, source, tasks, opts, progress, len(skipped), total)
    if not rows:
        if any(reason == QUANTIZED_SKIP for _, reason in skipped):
            raise InvalidArgument(
                f"{func}: {src.label} has no float weight to analyse: its weights "
                "are already quantized (torch.ao packed params); analyze the "
                "float model from before quantization"
            )
        raise InvalidArgument(
            f"{func}: {src.label} has no weight tensor to analyse ({total} "
            "tensor(s); weights are floating tensors with ndim >= 2"
            + ("" if all_float else ", or any floating tensor with all_float=True")
            + ")"
        )
    return AnalysisResult(
        rows=rows,
        bits=s.bits,
        scheme=s.name,
        eps=eps,
        per_channel=bool(per_channel),
        source=src.label,
        skipped=skipped,
        group_size=group_size,
    )


QUANTIZED_SKIP = "already quantized (torch.ao packed params)"


def _already_quantized(func: str, label: str, name: str, value) -> str:
    q = [v for v in value if isinstance(v, torch.Tensor) and v.is_quantized]
    dtype = f" {str(q[0].dtype).replace('torch.', '')}" if q else ""
    return (
        f"{func}: {label} is already quantized: {name!r} holds the packed{dtype} "
        "weights of a torch.ao quantized module (torch.ao.quantization."
        "quantize_dynamic or convert), not float weights; analyze the float "
        "model or checkpoint from before quantization (non_float='skip' skips "
        "such entries)"
    )


def _storage_key(t: torch.Tensor):
    try:
        return (
            t.untyped_storage().data_ptr(),
            t.storage_offset(),
            tuple(t.shape),
            tuple(t.stride()),
            t.device.type,
        )
    except (RuntimeError, NotImplementedError):  # pragma: no cover - exotic tensors
        return None


def _skip_reason(
    func, src, name, t, include, exclude, all_float, non_float, group_size, seen
):
    """Why ``name`` is not analysed (None if it is); raises for what may not
    be skipped. ``t`` may be a ``'meta'`` tensor (dtype and shape only)."""
    if packed_params(name, t):
        if non_float != "skip":
            raise InvalidArgument(_already_quantized(func, src.label, name, t))
        return QUANTIZED_SKIP
    if not isinstance(t, torch.Tensor):
        return f"not a tensor ({type(t).__name__})"
    if not _selected(name, include, exclude):
        return "excluded by name"
    if not t.is_floating_point():
        if (t.ndim >= 2 or all_float) and _non_float_action(
            t, non_float, all_float
        ) == "error":
            raise InvalidArgument(
                f"{func}: tensor {name!r} has dtype "
                f"{str(t.dtype).replace('torch.', '')}, not a floating type; "
                "analyze needs the float weights (is this checkpoint already "
                "quantized?)"
            )
        return f"not floating ({t.dtype})"
    if t.ndim < 2 and not all_float:
        return f"ndim {t.ndim} < 2 (pass all_float=True)"
    if t.numel() == 0:
        return "empty"
    if group_size is not None:
        width = t.numel() // t.shape[0] if t.ndim > 1 else t.numel()
        if width % group_size:
            return (
                f"{width} values per channel, not a multiple of group_size={group_size}"
            )
    key = _storage_key(t) if src.stable else None
    if key is not None and key in seen:
        return f"shares its data with {seen[key]!r}"
    if key is not None:
        seen[key] = name
    return None


def _check_group_size(func: str, group_size):
    if group_size is None:
        return None
    if isinstance(group_size, bool) or not isinstance(group_size, numbers.Integral):
        raise InvalidArgument(
            f"{func}: group_size={group_size!r} must be a positive integer or None"
        )
    if group_size < 1:
        raise InvalidArgument(f"{func}: group_size={group_size!r} must be >= 1")
    return int(group_size)


def _check_client(func: str, client, source):
    """The dask.distributed client, checked; None for a serial analysis."""
    if client is None:
        return None
    try:
        from distributed import Client
    except ImportError:  # pragma: no cover - depends on the environment
        raise InvalidArgument(
            f"{func}: client={type(client).__name__} needs dask.distributed "
            "(pip install 'dask[distributed]')"
        ) from None
    if not isinstance(client, Client):
        raise InvalidArgument(
            f"{func}: client={type(client).__name__} must be a "
            "dask.distributed.Client (or None for a serial analysis)"
        )
    if client.status != "running":
        raise InvalidArgument(
            f"{func}: client={client!r} is {client.status!r}, not running"
        )
    if not isinstance(source, (str, os.PathLike)):
        raise InvalidArgument(
            f"{func}: with client=, source must be the path of a checkpoint that "
            f"the workers read their tensors from, not a {type(source).__name__}"
        )
    return client


def _rows_for(name, t, opts, func, tick=None) -> list[TensorReport]:
    """The rows of one tensor under the settings ``opts`` of :func:`analyze`."""
    bits, scheme, eps, per_channel, group_size, models = opts
    s = get_scheme(func, scheme, bits)
    if group_size is None and (not per_channel or t.ndim == 0):
        return [tensor_report(name, t, s, eps, models=models, func=func)]
    return slice_reports(
        name, t, s, eps, group_size=group_size, models=models, func=func, tick=tick
    )


def _on_cluster(client, source, names, opts, progress, done, total):
    """The rows of ``names``, one task each on ``client``'s workers, in order."""
    from distributed import as_completed

    path = os.path.abspath(os.fspath(source))
    futures = [
        client.submit(_remote_rows, path, name, opts, pure=False) for name in names
    ]
    if progress is not None:
        which = {f.key: name for f, name in zip(futures, names, strict=True)}
        for f in as_completed(futures):
            done += 1
            progress(done, total, which[f.key])
    rows: list[TensorReport] = []
    for f in futures:  # in checkpoint order: the first failed tensor raises
        rows.extend(f.result())
    return rows


def _remote_rows(path: str, name: str, opts) -> list[TensorReport]:
    """A worker's task: read tensor ``name`` from ``path``, return its rows."""
    src, lock = _worker_source(path)
    with lock:
        t = src.get(name)
    return _rows_for(name, t, opts, "analyze")


_SOURCES: dict[tuple, tuple] = {}
_SOURCES_LOCK = threading.Lock()


def _worker_source(path: str):
    """The open :class:`~._io.TensorSource` of ``path`` in this worker, kept
    while the file is unchanged, and a lock for reading from it."""
    st = os.stat(path)
    key = (path, st.st_mtime_ns, st.st_size)
    with _SOURCES_LOCK:
        hit = _SOURCES.get(key)
        if hit is None:
            for old in [k for k in _SOURCES if k[0] == path]:
                del _SOURCES[old]
            hit = _SOURCES[key] = (open_source("analyze", path), threading.Lock())
        return hit
