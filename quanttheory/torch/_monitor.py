r"""Per-layer kurtosis, optimal step and step sensitivity recorded during training."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from torch import nn

from .._core.checks import check_positive_int
from .._core.errors import InvalidArgument
from .._core.scheme import get_scheme
from ._analyze import tensor_report
from ._select import Spec, select_weights
from ._table import Table

__all__ = ["MonitorHistory", "MonitorRecord", "SensitivityMonitor"]


@dataclass(frozen=True)
class MonitorRecord:
    r"""One weight at one training step.

    The rows of :class:`MonitorHistory`; the constructor parameters are also
    the attributes.

    Parameters
    ----------
    step : int
        Training step (the monitor's own call count unless given).
    name : str
        Weight name.
    kurtosis : float
        Pearson kurtosis (NaN for a constant weight).
    optimal_step : float
        :math:`\tilde\Delta`, the exact empirical optimum.
    mse : float
        MSE at :math:`\tilde\Delta`.
    gamma : float
        :math:`\max_\pm|\mathrm{MSE}(\tilde\Delta(1\pm\varepsilon)) -
        \mathrm{MSE}(\tilde\Delta)|`, as in :func:`analyze`.
    gamma_rel : float
        ``gamma / mse``.

    Examples
    --------
    >>> from torch import nn
    >>> from quanttheory.torch import MonitorRecord, SensitivityMonitor
    >>> rec = SensitivityMonitor(nn.Linear(8, 4)).record(step=7)[0]
    >>> isinstance(rec, MonitorRecord), rec.step, rec.name
    (True, 7, 'weight')
    >>> bool(rec.gamma_rel == rec.gamma / rec.mse)
    True
    """

    step: int
    name: str
    kurtosis: float
    optimal_step: float
    mse: float
    gamma: float
    gamma_rel: float


@dataclass
class MonitorHistory(Table):
    """All records of a :class:`SensitivityMonitor`, as a table that can be plotted.

    Parameters
    ----------
    rows : list of MonitorRecord
        The records, oldest first (also the attribute ``rows``).

    Examples
    --------
    >>> from torch import nn
    >>> from quanttheory.torch import SensitivityMonitor
    >>> mon = SensitivityMonitor(nn.Linear(8, 4), every=1)
    >>> [mon.step() for _ in range(3)]
    [True, True, True]
    >>> hist = mon.history
    >>> len(hist), hist.names, hist.series("weight", "mse")[0]
    (3, ['weight'], [1, 2, 3])
    >>> print(hist.to_csv(columns=["step", "name"]), end="")
    step,name
    1,weight
    2,weight
    3,weight
    """

    rows: list[MonitorRecord] = field(default_factory=list)
    columns = ("step", "name", "kurtosis", "optimal_step", "mse", "gamma", "gamma_rel")

    @property
    def names(self) -> list[str]:
        """Weight names in first-seen order."""
        return list(dict.fromkeys(r.name for r in self.rows))

    def series(self, name: str, quantity: str = "kurtosis") -> tuple[list, list]:
        """``(steps, values)`` of one quantity of one weight.

        Parameters
        ----------
        name : str
            Weight name.
        quantity : str
            A column after ``step`` and ``name``: ``'kurtosis'``,
            ``'optimal_step'``, ``'mse'``, ``'gamma'`` or ``'gamma_rel'``.

        Returns
        -------
        tuple of list
            The training steps of the weight's records and the values there
            (two empty lists for an unknown name).

        Raises
        ------
        KeyError
            For an unknown ``quantity``.
        """
        if quantity not in self.columns[2:]:
            raise KeyError(
                f"unknown quantity {quantity!r}; use one of {self.columns[2:]}"
            )
        rs = [r for r in self.rows if r.name == name]
        return [r.step for r in rs], [getattr(r, quantity) for r in rs]

    def plot(self, quantity: str = "kurtosis", ax=None, names=None):
        """One line per weight: ``quantity`` against the training step (matplotlib).

        Parameters
        ----------
        quantity : str
            What to plot, as in :meth:`series`; the kurtosis gets a dashed
            line at 1.8 (the uniform law).
        ax : matplotlib.axes.Axes, optional
            Draw here instead of on a new Figure.
        names : sequence of str, optional
            Weights to draw; default all, in first-seen order.

        Returns
        -------
        matplotlib.axes.Axes
            The Axes drawn on.
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.5))
        for n in names or self.names:
            x, y = self.series(n, quantity)
            ax.plot(x, y, marker=".", label=n)
        ax.set_xlabel("training step")
        ax.set_ylabel(quantity)
        if quantity == "kurtosis":
            ax.axhline(1.8, color="grey", linewidth=0.8, linestyle="--")
        ax.legend(fontsize="small")
        return ax


class SensitivityMonitor:
    r"""Record per-layer kurtosis, optimal step and step sensitivity during training.

    Call :meth:`step` once per training step (or call the monitor itself);
    every ``every``-th call records, for each selected weight, the values
    that :func:`analyze` computes (kurtosis, exact empirical
    :math:`\tilde\Delta`, the MSE there and :math:`\Gamma` at a relative step
    error ``eps``). The weights are read, never modified.

    Parameters
    ----------
    model : torch.nn.Module
        The model whose weights are recorded (read, never modified).
    every : int
        Record at calls ``every, 2*every, ...`` (and whenever :meth:`record`
        is called).
    bits : int
        Bit-width :math:`M`.
    scheme : {'paper', 'signed', 'symmetric', 'midrise'}
        Level set, as in :func:`analyze` (default ``'paper'``; ``'signed'``
        for M-bit integer weights).
    eps : float
        Relative step error of :math:`\Gamma`.
    select : {'all', 'default', 'paper'}, type, predicate or patterns
        Which weights (default: every conv and linear weight).
    include, exclude : optional
        See :func:`select_weights`.

    Notes
    -----
    Each record copies the weight to the CPU and costs :math:`O(N\log N)`
    per weight; choose ``every`` so that this stays small against training.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from quanttheory.torch import SensitivityMonitor
    >>> _ = torch.manual_seed(0)
    >>> net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
    >>> mon = SensitivityMonitor(net, every=2, bits=4)
    >>> recorded = [mon.step() for _ in range(4)]
    >>> recorded
    [False, True, False, True]
    >>> steps, kurt = mon.history.series("0.weight")
    >>> steps, [round(k, 2) for k in kurt]
    ([2, 4], [1.76, 1.76])
    """

    def __init__(
        self,
        model: nn.Module,
        every: int = 100,
        bits: int = 4,
        *,
        scheme: str = "paper",
        eps: float = 0.05,
        select: Spec = "all",
        include: Spec | None = None,
        exclude: Spec | None = None,
    ):
        func = "SensitivityMonitor"
        self.every = check_positive_int(func, "every", every)
        self._scheme = get_scheme(func, scheme, bits)
        if not (isinstance(eps, (int, float)) and 0 < eps < 1):
            raise InvalidArgument(f"{func}: eps={eps!r} must be a number in (0, 1)")
        self.eps = float(eps)
        self.model = model
        self._sel = (select, include, exclude)
        # fail now, not at the first record, if the selection is empty
        select_weights(model, select, include=include, exclude=exclude, func=func)
        self.calls = 0
        self.history = MonitorHistory()

    @property
    def bits(self) -> int:
        """Bit-width :math:`M` of the records."""
        return self._scheme.bits

    @property
    def scheme(self) -> str:
        """Level set of the records."""
        return self._scheme.name

    def step(self, step: int | None = None) -> bool:
        """Count one training step; record if it is an ``every``-th one.

        Calling the monitor itself is the same.

        Parameters
        ----------
        step : int, optional
            Training step to store in the records; default the monitor's
            call count.

        Returns
        -------
        bool
            True when a record was taken.
        """
        self.calls += 1
        if self.calls % self.every:
            return False
        self.record(self.calls if step is None else step)
        return True

    __call__ = step

    def record(self, step: int | None = None) -> list[MonitorRecord]:
        """Record every selected weight now and return the new records.

        Parameters
        ----------
        step : int, optional
            Training step to store in the records; default the monitor's
            call count.

        Returns
        -------
        list of MonitorRecord
            One record per selected weight, also appended to ``history``.

        Raises
        ------
        InvalidArgument
            If the selection has become empty.
        """
        select, include, exclude = self._sel
        weights = select_weights(
            self.model,
            select,
            include=include,
            exclude=exclude,
            func="SensitivityMonitor",
        )
        at = self.calls if step is None else int(step)
        new = []
        for name, w in weights:
            r = tensor_report(
                name,
                w,
                self._scheme,
                self.eps,
                models=False,
                func="SensitivityMonitor",
            )
            new.append(
                MonitorRecord(
                    at, name, r.kurtosis, r.optimal_step, r.mse, r.gamma, r.gamma_rel
                )
            )
        self.history.rows.extend(new)
        return new

    def latest(self) -> dict[str, MonitorRecord]:
        """The last record of each weight.

        Returns
        -------
        dict of str to MonitorRecord
            Weight name to its most recent record (empty before any record).
        """
        return {r.name: r for r in self.history.rows}

    def mean_kurtosis(self) -> float:
        """Mean kurtosis over the weights in the last record (NaN if none).

        Returns
        -------
        float
            The mean of the kurtosis of :meth:`latest` over the weights.
        """
        vals = [r.kurtosis for r in self.latest().values()]
        return sum(vals) / len(vals) if vals else math.nan
