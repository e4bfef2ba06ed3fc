r"""Per-tensor quantization analysis of real network weights.

For each weight tensor :math:`W` (or each output channel) the exact
empirical law :math:`\hat P_W` goes through the core engine:
:math:`\tilde\Delta`, the MSE and SQNR there, the step sensitivity
:math:`\Gamma` and what the equal-variance Gaussian, Laplace and uniform
laws predict.
"""

from __future__ import annotations

import fnmatch
import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from .._core.errors import InvalidArgument
from .._core.scheme import Scheme, get_scheme
from .._empirical.empirical import Empirical
from .._laws.gaussian import Gaussian
from .._laws.laplace import Laplace
from .._laws.uniform import Uniform
from .._mse import mse
from .._optimal import optimal_step as engine_optimal_step
from .._sensitivity import sensitivity, sqnr_db
from ._io import engine_array, open_source, packed_params
from ._table import Table

__all__ = ["AnalysisResult", "TensorReport", "analyze"]

#: The choices of ``analyze(non_float=...)``: what to do with a tensor that is
#: not floating point (analyse its values, skip it, or raise).
NON_FLOAT = ("auto", "skip", "error")

#: Meaning of each column of :class:`TensorReport` (used by the CLI's JSON).
COLUMNS = {
    "name": "tensor name in the state dict",
    "channel": "output channel (per-channel analysis), else empty",
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
        Output channel of a per-channel row, ``None`` per tensor.
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

    columns = tuple(COLUMNS)
    brief_columns = (
        "name",
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


def tensor_report(
    name: str,
    tensor: torch.Tensor,
    s: Scheme,
    eps: float,
    *,
    channel: int | None = None,
    shape: tuple[int, ...] | None = None,
    models: bool = True,
    func: str = "analyze",
) -> TensorReport:
    """Analyse one tensor (or channel) with the core engine; see :func:`analyze`."""
    arr = engine_array(tensor)
    finite = np.isfinite(arr)
    if not finite.all():
        n_nan = int(np.isnan(arr).sum())
        n_inf = int(arr.size - finite.sum()) - n_nan
        raise InvalidArgument(
            f"{func}: tensor {name!r} contains {n_nan} NaN and {n_inf} infinite "
            "value(s); a weight must be finite"
        )
    del finite
    # copy=False: the array is this function's own (or a read-only view that
    # is used before anything can change it), so no second copy is made
    emp = Empirical(arr, copy=False)
    note = []
    kurt = emp.kurtosis if emp.variance > 0 else _nan()
    if emp.variance == 0:
        note.append("constant tensor: kurtosis undefined")
    nan = _nan()
    d = m = sq = clip = gm = gp = nan
    if emp.second_moment > 0:
        d = engine_optimal_step(emp, s.bits, scheme=s.name)
        m = mse(emp, d, s.bits, scheme=s.name)
        sq = sqnr_db(emp, d, s.bits, scheme=s.name)
        clip = s.top * d
        gm, gp = (
            float(v)
            for v in sensitivity(
                emp, s.bits, [-eps * d, eps * d], step=d, scheme=s.name, taylor=False
            )
        )
    else:
        note.append("all zero: no optimal step")
    gamma = max(gm, gp) if not (math.isnan(gm) or math.isnan(gp)) else nan
    if m > 0:
        gamma_rel = gamma / m
    elif m == 0:
        gamma_rel = math.inf if gamma > 0 else 0.0
        note.append(
            "MSE 0 at the optimal step (every value on a level)"
            + (": gamma_rel is infinite" if gamma > 0 else "")
        )
    else:
        gamma_rel = nan
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
        Called as ``progress(i, total, name)`` after each tensor.

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
    src = open_source(func, source)
    rows: list[TensorReport] = []
    skipped: list[tuple[str, str]] = []
    seen: dict[tuple, str] = {}
    total = len(src)
    for i, (name, t) in enumerate(src):
        if packed_params(name, t):
            if non_float != "skip":
                raise InvalidArgument(_already_quantized(func, src.label, name, t))
            skipped.append((name, QUANTIZED_SKIP))
        elif not isinstance(t, torch.Tensor):
            skipped.append((name, f"not a tensor ({type(t).__name__})"))
        elif not _selected(name, include, exclude):
            skipped.append((name, "excluded by name"))
        elif not t.is_floating_point():
            if (t.ndim >= 2 or all_float) and _non_float_action(
                t, non_float, all_float
            ) == "error":
                raise InvalidArgument(
                    f"{func}: tensor {name!r} has dtype "
                    f"{str(t.dtype).replace('torch.', '')}, not a floating type; "
                    "analyze needs the float weights (is this checkpoint already "
                    "quantized?)"
                )
            skipped.append((name, f"not floating ({t.dtype})"))
        elif t.ndim < 2 and not all_float:
            skipped.append((name, f"ndim {t.ndim} < 2 (pass all_float=True)"))
        elif t.numel() == 0:
            skipped.append((name, "empty"))
        else:
            key = _storage_key(t) if src.stable else None
            if key is not None and key in seen:
                skipped.append((name, f"shares its data with {seen[key]!r}"))
            else:
                if key is not None:
                    seen[key] = name
                rows.extend(_rows_for(name, t, s, eps, per_channel, models, func))
        if progress is not None:
            progress(i + 1, total, name)
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


def _rows_for(name, t, s, eps, per_channel, models, func) -> list[TensorReport]:
    if not per_channel or t.ndim == 0:
        return [tensor_report(name, t, s, eps, models=models, func=func)]
    return [
        tensor_report(
            name,
            t[c],
            s,
            eps,
            channel=c,
            shape=tuple(t.shape),
            models=models,
            func=func,
        )
        for c in range(t.shape[0])
    ]
