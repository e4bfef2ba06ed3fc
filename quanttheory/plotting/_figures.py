r"""Figures of the theory: MSE curves, step sensitivity, bit-width, tensors.

Every public function draws on a fresh :class:`matplotlib.figure.Figure`
(with an Agg canvas, never through :mod:`matplotlib.pyplot`) or on the Axes
that the caller passes as ``ax``, and returns the Figure. Nothing global is
touched: the shared style is applied with :func:`matplotlib.rc_context` while
the artists are created, no figure is registered with pyplot, and nothing is
shown. matplotlib is imported when a function is first called, so
``import quanttheory`` does not load it.

Colours are the Okabe-Ito palette (distinguishable with colour-vision
deficiencies); one colour per law, one line style per route (exact, model,
Taylor), markers with error bars for Monte Carlo.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from .._core.checks import check_bits, check_positive_int, check_positive_scalar
from .._core.distribution import Distribution, check_distribution
from .._core.errors import HeavyTailWarning, InvalidArgument, TaylorRangeWarning
from .._core.quantizer import clipping_level, levels, quantize_unchecked
from .._core.scheme import get_scheme
from .._empirical.empirical import Empirical
from .._laws.uniform import Uniform
from .._montecarlo import monte_carlo_mse
from .._mse import mse
from .._optimal import optimal_step
from .._registry import FAMILIES, family
from .._sensitivity import sensitivity, sqnr_db

__all__ = [
    "plot_bitwidth",
    "plot_mse_curves",
    "plot_sensitivity",
    "plot_tensor",
    "style",
]

#: rcParams shared by every figure (applied with ``matplotlib.rc_context``).
_STYLE = {
    # also the resolution of a saved PNG (savefig's default dpi is the figure's)
    "figure.dpi": 120,
    "font.size": 10.0,
    "axes.titlesize": 10.5,
    "axes.titleweight": "bold",
    "axes.labelsize": 10.0,
    "axes.grid": True,
    "axes.axisbelow": True,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "grid.alpha": 0.35,
    "grid.linewidth": 0.6,
    "legend.fontsize": 8.5,
    "legend.frameon": True,
    "legend.framealpha": 0.9,
    "legend.edgecolor": "0.85",
    "lines.linewidth": 1.8,
    "lines.markersize": 5.0,
    "errorbar.capsize": 2.0,
    "mathtext.fontset": "dejavusans",
    # deterministic ids in SVG output, so that files are reproducible
    "svg.hashsalt": "quanttheory",
}

#: One colour per registered law (Okabe-Ito), others cycle through the rest.
_LAW_COLORS = {
    "uniform": "#0072B2",
    "gaussian": "#D55E00",
    "laplace": "#009E73",
    "t3": "#CC79A7",
}
_OTHER_COLORS = ("#E69F00", "#56B4E9", "#000000", "#999999")
_NEUTRAL = "0.35"


def style():
    """The shared plotting style, as a context manager.

    Every function of :mod:`quanttheory.plotting` draws inside it; use it to
    draw your own figures in the same style. Settings read when a file is
    written (such as the salt that makes SVG ids reproducible) apply when
    ``savefig`` is called inside it too.

    Returns
    -------
    contextlib.AbstractContextManager
        :func:`matplotlib.rc_context` with the package's rcParams; the global
        rcParams are restored on exit.

    Examples
    --------
    >>> import matplotlib
    >>> from quanttheory.plotting import style
    >>> with style():
    ...     inside = matplotlib.rcParams["axes.spines.top"]
    >>> inside
    False
    """
    import matplotlib

    return matplotlib.rc_context(_STYLE)


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
def _new_figure(figsize):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _axes(func: str, ax, n: int, figsize, grid=None):
    """The Figure and ``n`` Axes: new ones, or the caller's ``ax``."""
    if ax is None:
        fig = _new_figure(figsize)
        rows, cols = grid or (1, n)
        axs = list(np.ravel(fig.subplots(rows, cols, squeeze=False)))[:n]
        return fig, axs
    from matplotlib.axes import Axes

    axs = [ax] if isinstance(ax, Axes) else list(np.ravel(np.asarray(ax, object)))
    if len(axs) != n or not all(isinstance(a, Axes) for a in axs):
        what = "one Axes" if n == 1 else f"a sequence of {n} Axes"
        raise InvalidArgument(f"{func}: ax={ax!r} must be None or {what}")
    return axs[0].figure, axs


def _law_colors(laws) -> list[str]:
    """The registry colour for a registered name, the next free one otherwise."""
    others = iter(_OTHER_COLORS * (1 + len(laws) // len(_OTHER_COLORS)))
    return [_LAW_COLORS.get(name) or next(others) for name, _ in laws]


def _resolve_laws(func: str, dists, variance) -> list[tuple[str, Distribution]]:
    """``[(label, dist), ...]`` from registry names and/or Distributions."""
    if isinstance(dists, (str, Distribution)):
        dists = [dists]
    try:
        items = list(dists)
    except TypeError:
        raise InvalidArgument(
            f"{func}: dists={dists!r} must be a law name, a Distribution or a "
            "sequence of them"
        ) from None
    if not items:
        raise InvalidArgument(f"{func}: dists is empty; pass at least one law")
    var = check_positive_scalar(func, "variance", variance)
    out = []
    for d in items:
        if isinstance(d, str):
            if d not in FAMILIES:
                names = ", ".join(repr(k) for k in FAMILIES)
                raise InvalidArgument(
                    f"{func}: law {d!r} is not one of {{{names}}}; pass a "
                    "Distribution for any other law"
                )
            out.append((d, family(d).with_variance(var)))
        else:
            dist = check_distribution(func, d)
            out.append((dist.name, dist))
    return out


def _unit(laws) -> tuple[str, str]:
    """Axis units: sigma when every law has unit variance, else input units."""
    if all(abs(d.variance - 1.0) <= 1e-9 for _, d in laws):
        return r"$\sigma$", r"$\sigma^2$"
    return "input units", "input units$^2$"


def _var_note(laws) -> str:
    """', unit variance' / ', equal variance' for a title, or nothing."""
    v = [d.variance for _, d in laws]
    if not all(math.isclose(x, v[0], rel_tol=1e-9) for x in v):
        return ""
    if math.isclose(v[0], 1.0, rel_tol=1e-9):
        return ", unit variance"
    return ", equal variance"


def _kurtosis_label(dist: Distribution) -> str:
    try:
        k = float(dist.kurtosis)
    except (InvalidArgument, TypeError, ValueError):
        return ""
    if not math.isfinite(k):
        return r" ($\kappa=\infty$)"
    return rf" ($\kappa={k:.3g}$)"


def _check_span(func: str, span) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in span)
    except (TypeError, ValueError):
        raise InvalidArgument(
            f"{func}: span={span!r} must be a pair (low, high) of step ratios"
        ) from None
    if not (0 < lo < 1 < hi < math.inf):
        raise InvalidArgument(
            f"{func}: span={span!r} must satisfy 0 < low < 1 < high (ratios of "
            "the optimal step)"
        )
    return lo, hi


def _check_samples(func: str, value) -> int:
    """Monte Carlo sample count: 0 disables, otherwise at least 2."""
    if value in (0, None) and not isinstance(value, bool):
        return 0
    return check_positive_int(func, "monte_carlo", value, minimum=2)


def _style_handles(entries):
    """Legend proxies in a neutral colour: ``[(label, kwargs), ...]``."""
    from matplotlib.lines import Line2D

    return [Line2D([], [], color=_NEUTRAL, label=lab, **kw) for lab, kw in entries]


def _legend(a, handles, own_figure: bool):
    """Legend outside the plot on our own figure, inside ('best') otherwise."""
    if own_figure:
        a.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(1.02, 1.0),
            borderaxespad=0.0,
        )
    else:
        a.legend(handles=handles, loc="best")


def _legend_below(a, handles, own_figure: bool):
    """Legend under the plot on our own figure, inside ('best') otherwise."""
    if own_figure:
        a.legend(
            handles=handles,
            loc="upper center",
            bbox_to_anchor=(0.5, -0.17),
            ncols=2,
        )
    else:
        a.legend(handles=handles, loc="best")


def _law_handles(laws, colors):
    from matplotlib.lines import Line2D

    return [
        Line2D([], [], color=c, lw=3, label=name + _kurtosis_label(d))
        for (name, d), c in zip(laws, colors, strict=True)
    ]


def _paired_mc(dist, base_step, steps, bits, scheme, n, gen, chunk=1 << 20):
    r"""Monte Carlo of :math:`MSE(\Delta')-MSE(\tilde\Delta)` with common samples.

    The same draws are quantized at both steps, so most of the sampling noise
    cancels in the difference. Samples are drawn in chunks whose means and
    sums of squared deviations are merged with Chan's formula (as in
    :func:`quanttheory.monte_carlo_mse`), so memory does not grow with ``n``.
    Returns the means and standard errors.
    """
    s = get_scheme("plot_sensitivity", scheme, bits)
    d0 = np.float64(base_step)
    means, ses = [], []
    for step in np.atleast_1d(steps):
        d1 = np.float64(step)
        count, mean, m2 = 0, 0.0, 0.0
        while count < n:
            k = min(chunk, n - count)
            x = dist._sample(k, gen)
            e0 = x - quantize_unchecked(x, d0, s)
            e1 = x - quantize_unchecked(x, d1, s)
            diff = e1 * e1 - e0 * e0
            cm = float(diff.mean())
            cm2 = float(((diff - cm) ** 2).sum())
            tot = count + k
            delta = cm - mean
            mean += delta * k / tot
            m2 += cm2 + delta * delta * count * k / tot
            count = tot
        means.append(mean)
        ses.append(math.sqrt(m2 / (n - 1) / n))
    return np.asarray(means), np.asarray(ses)


def _kinks(dist: Distribution, bits: int, scheme: str) -> np.ndarray:
    r"""Steps at which a decision threshold sits on a jump of the density.

    There the MSE is only piecewise smooth and :math:`D''` jumps (for
    :class:`Uniform` with ``'paper'`` the first one above the optimum is
    :math:`2a/(2^M-1)`, where Lemma 2's cubic ends).
    """
    jumps = np.asarray(dist._jumps, dtype=np.float64)
    if dist._is_empirical or not jumps.any():
        return np.empty(0)
    e = np.asarray(dist._breakpoints, dtype=np.float64)[jumps != 0]
    s = get_scheme("plot_sensitivity", scheme, bits)
    thr = s.thresholds()
    thr = thr[thr != 0]
    cand = (e[:, None] / thr[None, :]).ravel()
    return np.unique(cand[cand > 0])


# ---------------------------------------------------------------------------
# MSE curves
# ---------------------------------------------------------------------------
def plot_mse_curves(
    dists=("uniform", "gaussian", "laplace"),
    bits=4,
    *,
    scheme="paper",
    variance=1.0,
    relative=True,
    span=(0.5, 2.0),
    num=200,
    additive=True,
    monte_carlo=0,
    mc_points=7,
    rng=None,
    ax=None,
):
    r"""MSE against the step for several laws at equal variance.

    Draws :math:`\mathrm{MSE}(X,\Delta)` (solid, :func:`quanttheory.mse`) and
    the additive-noise model of the seed's Lemma 2 proof (dashed) for each
    law, marks each law's optimal step :math:`\tilde\Delta` (filled dot) and
    the additive model's optimum (open diamond), and optionally adds Monte
    Carlo estimates with error bars of two standard errors.

    Parameters
    ----------
    dists : str, Distribution or sequence of them
        Registry names (``'uniform'``, ``'gaussian'``, ``'laplace'``,
        ``'t3'``), built with variance ``variance``, or Distribution objects
        (used as they are).
    bits : int
        Bit-width :math:`M`.
    scheme : {'paper', 'midrise', 'signed', 'symmetric'}
        Level set, see :func:`quanttheory.levels`.
    variance : float
        Variance of the laws given by name.
    relative : bool
        Horizontal axis :math:`\Delta/\tilde\Delta` (all optima at 1) or the
        step :math:`\Delta` itself.
    span : (float, float)
        Range of :math:`\Delta/\tilde\Delta`, ``0 < low < 1 < high``; the
        grid is geometric.
    num : int
        Grid points per curve.
    additive : bool
        Also draw the additive-noise model.
    monte_carlo : int
        Samples per Monte Carlo point; 0 draws none.
    mc_points : int
        Monte Carlo points per law.
    rng : None, int or numpy.random.Generator
        Seed or generator of the Monte Carlo samples.
    ax : matplotlib.axes.Axes, optional
        Draw here instead of on a new Figure.

    Returns
    -------
    matplotlib.figure.Figure
        The Figure of the curves (the one that holds ``ax`` when given).

    Raises
    ------
    InvalidArgument
        For an unknown law, a bad span or count, or arguments the engine
        rejects.

    See Also
    --------
    quanttheory.mse, quanttheory.optimal_step, quanttheory.monte_carlo_mse

    Notes
    -----
    The vertical axis is logarithmic: below the optimum the clipping error
    grows by orders of magnitude. Axis units are :math:`\sigma` and
    :math:`\sigma^2` when every law has unit variance, input units otherwise.
    The error bars are :math:`\pm 2` standard errors of the normal
    approximation, which is optimistic for heavy tails and not valid for
    Student-t with 3 degrees of freedom (infinite fourth moment).

    Examples
    --------
    >>> from quanttheory.plotting import plot_mse_curves
    >>> fig = plot_mse_curves(["uniform", "gaussian"], bits=3, num=20)
    >>> ax = fig.axes[0]
    >>> ax.get_xlabel()
    'step / optimal step  $\\Delta/\\tilde\\Delta$'
    >>> len(ax.get_lines()) >= 4      # exact and additive for each law
    True
    """
    func = "plot_mse_curves"
    laws = _resolve_laws(func, dists, variance)
    bits = check_bits(func, bits)
    lo, hi = _check_span(func, span)
    num = check_positive_int(func, "num", num, minimum=3)
    n_mc = _check_samples(func, monte_carlo)
    mc_points = check_positive_int(func, "mc_points", mc_points, minimum=1)
    gen = np.random.default_rng(rng)
    ux, uy = _unit(laws)
    ratios = np.unique(np.concatenate([np.geomspace(lo, hi, num), [1.0]]))
    colors = _law_colors(laws)
    with style():
        fig, (a,) = _axes(func, ax, 1, (8.6, 4.4))
        for (name, dist), c in zip(laws, colors, strict=True):
            d0 = optimal_step(dist, bits, scheme=scheme)
            steps = ratios * d0
            xs = ratios if relative else steps
            scale = 1.0 if relative else d0
            y = mse(dist, steps, bits, scheme=scheme)
            a.plot(xs, y, color=c, ls="-", label=f"_{name} exact")
            if additive:
                ya = mse(dist, steps, bits, scheme=scheme, model="additive")
                a.plot(xs, ya, color=c, ls="--", lw=1.3, label=f"_{name} additive")
                da = optimal_step(dist, bits, scheme=scheme, model="additive")
                yda = mse(dist, da, bits, scheme=scheme, model="additive")
                a.plot(
                    da / d0 * scale,
                    yda,
                    marker="D",
                    ms=5,
                    mfc="white",
                    mec=c,
                    mew=1.3,
                    ls="none",
                    label=f"_{name} additive optimum",
                    zorder=4,
                )
            a.plot(
                scale,
                mse(dist, d0, bits, scheme=scheme),
                marker="o",
                ms=6.5,
                color=c,
                mec="white",
                mew=1.0,
                ls="none",
                label=f"_{name} optimum",
                zorder=5,
            )
            if not relative:
                a.axvline(d0, color=c, ls=":", lw=0.9, zorder=1)
            if n_mc:
                mr = np.geomspace(lo, hi, mc_points + 2)[1:-1]
                # a law without a finite fourth moment (t3): the warning's
                # remedy is taken, the error bars come from ci() (subsample
                # interval) instead of 2 standard errors
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", HeavyTailWarning)
                    res = [
                        monte_carlo_mse(
                            dist, r * d0, bits, scheme=scheme, n=n_mc, rng=gen
                        )
                        for r in mr
                    ]
                a.errorbar(
                    mr * scale,
                    [r.mean for r in res],
                    yerr=[
                        r.ci(0.9545)[1] - r.mean if r.heavy_tail else 2.0 * r.stderr
                        for r in res
                    ],
                    fmt="o",
                    ms=4,
                    mfc="white",
                    mec=c,
                    ecolor=c,
                    elinewidth=1.0,
                    zorder=6,
                    label=f"_{name} Monte Carlo",
                )
        if relative:
            a.axvline(1.0, color=_NEUTRAL, ls=":", lw=1.0, zorder=1)
            if ax is None:  # on the caller's Axes the legend may sit here
                a.text(
                    1.0,
                    1.0,
                    r" $\tilde\Delta$",
                    transform=a.get_xaxis_transform(),
                    ha="left",
                    va="top",
                    color=_NEUTRAL,
                )
            a.set_xlabel(r"step / optimal step  $\Delta/\tilde\Delta$")
        else:
            a.set_xlabel(rf"step $\Delta$  [{ux}]")
        a.set_yscale("log")
        a.set_ylabel(rf"MSE  [{uy}]")
        a.set_title(
            f"MSE of a {bits}-bit quantizer, '{scheme}' levels{_var_note(laws)}"
        )
        entries = [("exact MSE", {"ls": "-"})]
        if additive:
            entries.append(("additive-noise model", {"ls": "--", "lw": 1.3}))
        entries.append(
            (r"optimum $\tilde\Delta$", {"ls": "none", "marker": "o", "ms": 6})
        )
        if additive:
            entries.append(
                (
                    "additive-model optimum",
                    {"ls": "none", "marker": "D", "mfc": "white", "ms": 5},
                )
            )
        if n_mc:
            entries.append(
                (
                    rf"Monte Carlo ($n$={n_mc:,}, $\pm$2 SE)",
                    {"ls": "none", "marker": "o", "mfc": "white", "ms": 4},
                )
            )
        _legend(a, _law_handles(laws, colors) + _style_handles(entries), ax is None)
    return fig


# ---------------------------------------------------------------------------
# sensitivity
# ---------------------------------------------------------------------------
def plot_sensitivity(
    dists=("uniform", "gaussian", "laplace"),
    bits=4,
    *,
    scheme="paper",
    variance=1.0,
    eps=None,
    relative=False,
    monte_carlo=200_000,
    mc_points=9,
    rng=None,
    ax=None,
):
    r"""Step sensitivity :math:`\Gamma(X,\varepsilon)` against the step error.

    For each law draws Lemma 1's second-order value
    :math:`|D''(\tilde\Delta)|\,\varepsilon^2/2` (dashed), the exact change
    :math:`|\mathrm{MSE}(\tilde\Delta+\varepsilon)-\mathrm{MSE}(\tilde\Delta)|`
    (solid) and, optionally, Monte Carlo estimates of the exact change with
    error bars of two standard errors. Where a decision threshold crosses a
    jump of the density inside the plotted range (the uniform law at
    :math:`\pm a`), the kink is marked with a dotted line: beyond it the MSE
    is a different smooth function, and for :class:`~quanttheory.Uniform`
    with ``'paper'`` levels it is where Lemma 2's cubic stops being the MSE,
    :math:`\tilde\Delta+\varepsilon = 2a/(2^M-1)`, i.e.
    :math:`\varepsilon = 4a/(4^M-1)`.

    Parameters
    ----------
    dists : str, Distribution or sequence of them
        Registry names (built with variance ``variance``) or Distributions.
    bits : int
        Bit-width :math:`M`.
    scheme : {'paper', 'midrise', 'signed', 'symmetric'}
        Level set.
    variance : float
        Variance of the laws given by name.
    eps : array_like, optional
        Signed step errors :math:`\varepsilon`, in units of the step when
        ``relative`` (fractions of :math:`\tilde\Delta`), absolute otherwise.
        Default: 241 points over :math:`\pm 0.3\tilde\Delta` (relative) or
        over :math:`\pm 0.25` times the smallest optimal step (absolute).
    relative : bool
        Horizontal axis :math:`\varepsilon/\tilde\Delta` per law, or the
        absolute :math:`\varepsilon` (the same for all laws, which is how
        Lemma 1 compares laws at equal variance).
    monte_carlo : int
        Samples per Monte Carlo point (common random numbers at
        :math:`\tilde\Delta` and :math:`\tilde\Delta+\varepsilon`); 0 draws
        none.
    mc_points : int
        Monte Carlo points per law.
    rng : None, int or numpy.random.Generator
        Seed or generator of the Monte Carlo samples.
    ax : matplotlib.axes.Axes, optional
        Draw here instead of on a new Figure.

    Returns
    -------
    matplotlib.figure.Figure
        The Figure of the curves (the one that holds ``ax`` when given).

    Raises
    ------
    InvalidArgument
        For an unknown law, non-finite ``eps``, a step error that makes the
        step non-positive, or arguments the engine rejects.

    See Also
    --------
    quanttheory.sensitivity, quanttheory.mse_derivative

    Notes
    -----
    Where the curvature jumps (the uniform law), the Taylor value uses the
    one-sided curvature on each side of :math:`\tilde\Delta`, as
    :func:`quanttheory.sensitivity` does. The Monte Carlo estimate quantizes
    the same samples at both steps and averages the difference of the squared
    errors, whose variance is far smaller than that of either MSE.

    Examples
    --------
    >>> from quanttheory.plotting import plot_sensitivity
    >>> fig = plot_sensitivity("uniform", bits=3, monte_carlo=0)
    >>> ax = fig.axes[0]
    >>> ax.get_ylabel()
    '$\\Gamma(X,\\varepsilon)$  [$\\sigma^2$]'
    >>> any("kink" in t.get_text() for t in ax.texts)   # 2a/(2^M - 1)
    True
    """
    func = "plot_sensitivity"
    laws = _resolve_laws(func, dists, variance)
    bits = check_bits(func, bits)
    n_mc = _check_samples(func, monte_carlo)
    mc_points = check_positive_int(func, "mc_points", mc_points, minimum=1)
    gen = np.random.default_rng(rng)
    ux, uy = _unit(laws)
    optima = [optimal_step(d, bits, scheme=scheme) for _, d in laws]
    if eps is None:
        if relative:
            half = 0.3
        else:
            # a quarter of the smallest optimum, widened to show a nearby kink
            base = min(optima)
            half = 0.25 * base
            near = [
                abs(k - d0)
                for (_, d), d0 in zip(laws, optima, strict=True)
                for k in _kinks(d, bits, scheme)
                if abs(k - d0) > 1e-12 * d0
            ]
            if near and min(near) < 0.75 * base:
                half = min(max(half, 1.3 * min(near)), 0.95 * base)
        e = np.linspace(-half, half, 241)
    else:
        e = np.asarray(eps, dtype=np.float64).ravel()
        if e.size < 2 or not np.isfinite(e).all():
            raise InvalidArgument(
                f"{func}: eps must hold at least two finite values, got {eps!r}"
            )
        e = np.sort(e)
    colors = _law_colors(laws)
    kink_drawn = False
    with style():
        fig, (a,) = _axes(func, ax, 1, (8.6, 4.4))
        for (name, dist), d0, c in zip(laws, optima, colors, strict=True):
            eps_abs = e * d0 if relative else e
            if (d0 + eps_abs <= 0).any():
                raise InvalidArgument(
                    f"{func}: eps reaches {eps_abs.min()!r}, which makes the step "
                    f"of {name} ({d0!r}) non-positive"
                )
            # the figure shows Lemma 1's value beyond its validity radius on
            # purpose, next to the exact change and the kinks
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", TaylorRangeWarning)
                taylor = sensitivity(dist, bits, eps_abs, scheme=scheme)
            exact = np.abs(
                mse(dist, d0 + eps_abs, bits, scheme=scheme)
                - mse(dist, d0, bits, scheme=scheme)
            )
            a.plot(e, exact, color=c, ls="-", label=f"_{name} exact")
            a.plot(e, taylor, color=c, ls="--", lw=1.3, label=f"_{name} Taylor")
            if n_mc:
                em = np.linspace(e[0], e[-1], mc_points + 2)[1:-1]
                em_abs = em * d0 if relative else em
                m, se = _paired_mc(dist, d0, d0 + em_abs, bits, scheme, n_mc, gen)
                a.errorbar(
                    em,
                    np.abs(m),
                    yerr=2.0 * se,
                    fmt="o",
                    ms=4,
                    mfc="white",
                    mec=c,
                    ecolor=c,
                    elinewidth=1.0,
                    zorder=6,
                    label=f"_{name} Monte Carlo",
                )
            for k in _kinks(dist, bits, scheme):
                ek = (k - d0) / d0 if relative else k - d0
                if not (e[0] < ek < e[-1]) or abs(k - d0) <= 1e-12 * d0:
                    continue
                a.axvline(ek, color=c, ls=":", lw=1.2, zorder=1)
                text = "kink"
                if (
                    isinstance(dist, Uniform)
                    and scheme == "paper"
                    and math.isclose(k, 2 * dist.a / (2**bits - 1), rel_tol=1e-12)
                ):
                    text = r"kink $\Delta=2a/(2^M-1)$"
                a.text(
                    ek,
                    0.97,
                    " " + text,
                    transform=a.get_xaxis_transform(),
                    rotation=90,
                    ha="right",
                    va="top",
                    color=c,
                    fontsize=8,
                )
                kink_drawn = True
        a.axvline(0.0, color=_NEUTRAL, ls="-", lw=0.6, zorder=1)
        a.set_ylim(bottom=0.0)
        a.set_xlim(e[0], e[-1])
        if relative:
            a.set_xlabel(r"relative step error  $\varepsilon/\tilde\Delta$")
        else:
            a.set_xlabel(rf"step error  $\varepsilon=\Delta-\tilde\Delta$  [{ux}]")
        a.set_ylabel(rf"$\Gamma(X,\varepsilon)$  [{uy}]")
        a.set_title(
            f"Step sensitivity at the optimum, {bits} bits, '{scheme}' levels"
            f"{_var_note(laws)}"
        )
        entries = [
            (
                r"exact $|\mathrm{MSE}(\tilde\Delta+\varepsilon)-"
                r"\mathrm{MSE}(\tilde\Delta)|$",
                {"ls": "-"},
            ),
            (r"Lemma 1: $|D''|\,\varepsilon^2/2$", {"ls": "--", "lw": 1.3}),
        ]
        if n_mc:
            entries.append(
                (
                    rf"Monte Carlo ($n$={n_mc:,}, $\pm$2 SE)",
                    {"ls": "none", "marker": "o", "mfc": "white", "ms": 4},
                )
            )
        if kink_drawn:
            entries.append(("threshold crosses a density jump", {"ls": ":"}))
        _legend(a, _law_handles(laws, colors) + _style_handles(entries), ax is None)
    return fig


# ---------------------------------------------------------------------------
# bit-width
# ---------------------------------------------------------------------------
def _check_bit_list(func: str, bits) -> list[int]:
    if isinstance(bits, (int, np.integer)) and not isinstance(bits, bool):
        bits = [bits]
    try:
        vals = sorted({check_bits(func, b) for b in bits})
    except TypeError:
        raise InvalidArgument(
            f"{func}: bits={bits!r} must be a sequence of bit-widths"
        ) from None
    if len(vals) < 2:
        raise InvalidArgument(
            f"{func}: bits={bits!r} needs at least two bit-widths to draw a curve"
        )
    return vals


def plot_bitwidth(
    dists=("uniform", "gaussian", "laplace", "t3"),
    bits=range(2, 9),
    *,
    scheme="paper",
    model="exact",
    variance=1.0,
    reference_bits=None,
    ax=None,
):
    r"""Optimal MSE, SQNR and optimal clipping level against the bit-width.

    Three panels, one curve per law: :math:`\mathrm{MSE}(\tilde\Delta)`,
    :math:`\mathrm{SQNR}=10\log_{10}(E[X^2]/\mathrm{MSE})` and the clipping
    level :math:`\tilde\tau` (largest level) at :math:`\tilde\Delta`. With
    ``reference_bits`` a fourth panel shows the bit-width robustness of a
    calibration: the relative MSE excess when the clipping level that is
    optimal at ``reference_bits`` is kept at every other bit-width.

    Parameters
    ----------
    dists : str, Distribution or sequence of them
        Registry names (built with variance ``variance``) or Distributions.
    bits : sequence of int
        At least two bit-widths.
    scheme : {'paper', 'midrise', 'signed', 'symmetric'}
        Level set.
    model : {'exact', 'additive'}
        MSE model, for the optimum and its MSE.
    variance : float
        Variance of the laws given by name.
    reference_bits : int, optional
        Add the robustness panel for a clip calibrated at this bit-width.
    ax : sequence of matplotlib.axes.Axes, optional
        Three Axes (four with ``reference_bits``) to draw on.

    Returns
    -------
    matplotlib.figure.Figure
        The Figure of the panels (the one that holds ``ax`` when given).

    Raises
    ------
    InvalidArgument
        For an unknown law, fewer than two bit-widths, a wrong number of Axes,
        or arguments the engine rejects.

    See Also
    --------
    quanttheory.optimal_step, quanttheory.sqnr_db, quanttheory.clipping_level

    Notes
    -----
    The kept clip :math:`\tau_0` becomes the step
    :math:`\tau_0/k_{\max}` at each bit-width (through the scheme's level
    set), and the excess is
    :math:`\mathrm{MSE}(\tau_0/k_{\max})/\mathrm{MSE}(\tilde\Delta)-1`.

    Examples
    --------
    >>> from quanttheory.plotting import plot_bitwidth
    >>> fig = plot_bitwidth(["uniform", "gaussian"], bits=[2, 3, 4])
    >>> for ax in fig.axes:
    ...     print(ax.get_ylabel())
    optimal MSE  [$\sigma^2$]
    SQNR  [dB]
    optimal clipping level $\tilde\tau$  [$\sigma$]
    """
    func = "plot_bitwidth"
    laws = _resolve_laws(func, dists, variance)
    ms = _check_bit_list(func, bits)
    ref = None if reference_bits is None else check_bits(func, reference_bits)
    ux, uy = _unit(laws)
    n_panels = 3 if ref is None else 4
    colors = _law_colors(laws)
    with style():
        grid = (1, 3) if n_panels == 3 else (2, 2)
        figsize = (11.5, 3.7) if n_panels == 3 else (9.5, 7.0)
        fig, axs = _axes(func, ax, n_panels, figsize, grid)
        for (name, dist), c in zip(laws, colors, strict=True):
            d0 = np.array(
                [optimal_step(dist, m, scheme=scheme, model=model) for m in ms]
            )
            m0 = np.array(
                [
                    mse(dist, d, m, scheme=scheme, model=model)
                    for d, m in zip(d0, ms, strict=True)
                ]
            )
            sq = np.array(
                [
                    sqnr_db(dist, d, m, scheme=scheme, model=model)
                    for d, m in zip(d0, ms, strict=True)
                ]
            )
            tau = np.array(
                [
                    clipping_level(d, m, scheme=scheme)
                    for d, m in zip(d0, ms, strict=True)
                ]
            )
            kw = {"color": c, "marker": "o", "ms": 4.5, "label": name}
            axs[0].plot(ms, m0, **kw)
            axs[1].plot(ms, sq, **kw)
            axs[2].plot(ms, tau, **kw)
            if ref is not None:
                d_ref = optimal_step(dist, ref, scheme=scheme, model=model)
                tau_ref = clipping_level(d_ref, ref, scheme=scheme)
                excess = []
                for m, opt in zip(ms, m0, strict=True):
                    top = get_scheme(func, scheme, m).top
                    kept = mse(dist, tau_ref / top, m, scheme=scheme, model=model)
                    excess.append(100.0 * (kept / opt - 1.0))
                # zero at the calibration width itself: a gap on the log axis
                excess = np.asarray(excess)
                axs[3].plot(ms, np.where(excess > 0, excess, np.nan), **kw)
        axs[0].set_yscale("log")
        axs[0].set_ylabel(rf"optimal MSE  [{uy}]")
        axs[0].set_title(r"MSE at the optimal step $\tilde\Delta$")
        axs[1].set_ylabel("SQNR  [dB]")
        axs[1].set_title("signal-to-quantization-noise ratio")
        axs[2].set_ylabel(rf"optimal clipping level $\tilde\tau$  [{ux}]")
        axs[2].set_title(r"clipping level $\tilde\tau$ (largest level)")
        if ref is not None:
            axs[3].set_yscale("log")
            axs[3].axvline(ref, color=_NEUTRAL, ls=":", lw=1.0)
            axs[3].text(
                ref,
                0.98,
                " calibration",
                transform=axs[3].get_xaxis_transform(),
                ha="left",
                va="top",
                color=_NEUTRAL,
                fontsize=8.5,
            )
            axs[3].set_ylabel("MSE excess  [%]")
            axs[3].set_title(f"clip calibrated at {ref} bits, kept at $M$ bits")
        for a in axs:
            a.set_xlabel(r"bit-width $M$  [bits]")
            a.set_xticks(ms)
        axs[0].legend(handles=_law_handles(laws, colors), loc="lower left")
        if ax is None:
            fig.suptitle(
                f"Optimal uniform quantization against the bit-width, '{scheme}' "
                f"levels, {model} MSE",
                fontweight="bold",
            )
    return fig


# ---------------------------------------------------------------------------
# tensors
# ---------------------------------------------------------------------------
def plot_tensor(
    x,
    bits=4,
    *,
    scheme="paper",
    fits=("gaussian", "laplace", "uniform"),
    bins=120,
    span=(0.25, 2.5),
    num=80,
    log=False,
    name="tensor",
    ax=None,
):
    r"""A real tensor: histogram, fitted laws, quantizer levels, MSE curve.

    Left panel: the histogram of the values (as a density) with the fitted
    laws of the same mean and variance, the levels of the quantizer at the
    tensor's optimal step :math:`\tilde\Delta` (thin vertical lines, or a
    rug when there are many) and the clipping levels (dashed). Right panel:
    the tensor's exact empirical MSE against the step, with the MSE that each
    fitted law predicts and each law's optimal step marked.

    Parameters
    ----------
    x : array_like or Empirical
        The values (any shape, flattened), e.g. a weight tensor loaded with
        :func:`numpy.load`.
    bits : int
        Bit-width :math:`M`.
    scheme : {'paper', 'midrise', 'signed', 'symmetric'}
        Level set.
    fits : sequence of str
        Registry names of the laws fitted by matching the variance; empty
        for none.
    bins : int
        Histogram bins.
    span : (float, float)
        Range of :math:`\Delta/\tilde\Delta` of the MSE curve.
    num : int
        Steps on the MSE curve (each costs one pass over the data).
    log : bool
        Logarithmic density axis (shows the tails).
    name : str
        What to call the tensor in the titles.
    ax : sequence of two matplotlib.axes.Axes, optional
        Where to draw.

    Returns
    -------
    matplotlib.figure.Figure
        The Figure of the two panels (the one that holds ``ax`` when given).

    Raises
    ------
    InvalidArgument
        For non-finite or empty data, constant data, an unknown law, or
        arguments the engine rejects.

    See Also
    --------
    quanttheory.Empirical, quanttheory.optimal_step

    Notes
    -----
    The fitted laws are centred at the sample mean in the histogram; their
    MSE is that of the centred law with the sample variance, which is the
    tensor's MSE model when the mean is small against the standard
    deviation (as for weights). The histogram's range is the 0.05 % to
    99.95 % quantiles, widened to show the clipping levels; the fraction of
    values beyond the clipping levels is given in the legend.

    Examples
    --------
    >>> import numpy as np
    >>> from quanttheory.plotting import plot_tensor
    >>> w = np.random.default_rng(0).laplace(size=2000)
    >>> fig = plot_tensor(w, bits=3, num=12)
    >>> [ax.get_xlabel() for ax in fig.axes]
    ['value  [input units]', 'step $\\Delta$  [input units]']
    """
    func = "plot_tensor"
    emp = x if isinstance(x, Empirical) else Empirical(x)
    if emp.variance == 0:
        raise InvalidArgument(
            f"{func}: the {emp.n} values are constant (variance 0); there is no "
            "distribution to plot"
        )
    bits = check_bits(func, bits)
    lo, hi = _check_span(func, span)
    num = check_positive_int(func, "num", num, minimum=3)
    bins = check_positive_int(func, "bins", bins, minimum=2)
    if isinstance(fits, str):
        fits = [fits]
    fitted = _resolve_laws(func, list(fits), emp.variance) if len(fits) else []
    d0 = optimal_step(emp, bits, scheme=scheme)
    lv = levels(d0, bits, scheme)
    tau_hi, tau_lo = lv[-1], lv[0]
    m_opt = mse(emp, d0, bits, scheme=scheme)
    snr = sqnr_db(emp, d0, bits, scheme=scheme)
    clipped = float(np.mean((emp.samples > tau_hi) | (emp.samples < tau_lo)))
    colors = _law_colors(fitted)
    with style():
        fig, (a, b) = _axes(func, ax, 2, (11.5, 5.4))
        # -- histogram ---------------------------------------------------------
        q_lo, q_hi = np.quantile(emp.samples, [0.0005, 0.9995])
        pad = 0.08 * (max(q_hi, tau_hi) - min(q_lo, tau_lo))
        x_lo, x_hi = min(q_lo, tau_lo) - pad, max(q_hi, tau_hi) + pad
        # density of the whole sample, drawn over the shown range
        counts, edges = np.histogram(emp.samples, bins=bins, range=(x_lo, x_hi))
        dens = counts / (emp.n * np.diff(edges))
        a.stairs(
            dens,
            edges,
            fill=True,
            color="0.82",
            label=f"{name} ({emp.n:,} values)",
        )
        a.stairs(dens, edges, color="0.55", lw=0.6)
        grid_x = np.linspace(x_lo, x_hi, 600)
        for (fname, dist), c in zip(fitted, colors, strict=True):
            a.plot(
                grid_x,
                dist.pdf(grid_x - emp.mean),
                color=c,
                lw=1.6,
                label=f"{fname} fit" + _kurtosis_label(dist),
            )
        if lv.size <= 33:
            for v in lv:
                a.axvline(v, color="0.15", lw=0.5, alpha=0.35, zorder=1)
        else:
            a.vlines(
                lv, 0.0, 0.04, transform=a.get_xaxis_transform(), color="0.15", lw=0.6
            )
        for t in (tau_lo, tau_hi):
            a.axvline(t, color="0.1", ls="--", lw=1.0, zorder=2)
        from matplotlib.lines import Line2D

        handles, _ = a.get_legend_handles_labels()
        handles += [
            Line2D(
                [],
                [],
                color="0.15",
                lw=0.8,
                alpha=0.6,
                label=rf"{lv.size} levels at $\tilde\Delta$={d0:.4g}",
            ),
            Line2D(
                [],
                [],
                color="0.1",
                ls="--",
                lw=1.0,
                label=f"clipping levels ({100 * clipped:.2g} % beyond)",
            ),
        ]
        _legend_below(a, handles, ax is None)
        if log:
            a.set_yscale("log")
            # the fitted densities decay far below the data: stop at the
            # smallest non-empty bin
            a.set_ylim(0.3 * dens[dens > 0].min(), 3.0 * dens.max())
        a.set_xlim(x_lo, x_hi)
        a.set_xlabel("value  [input units]")
        a.set_ylabel("density  [1/input units]")
        # the variance is positive (checked above), so the kurtosis exists
        kurt = f", kurtosis {emp.kurtosis:.3g}"
        a.set_title(f"{name}: mean {emp.mean:.3g}, std {emp.std:.3g}{kurt}")
        # -- MSE curve -----------------------------------------------------------
        ratios = np.unique(np.concatenate([np.geomspace(lo, hi, num), [1.0]]))
        steps = ratios * d0
        b.plot(
            steps,
            mse(emp, steps, bits, scheme=scheme),
            color="0.1",
            label=f"{name} (exact, empirical)",
        )
        for (fname, dist), c in zip(fitted, colors, strict=True):
            b.plot(
                steps,
                mse(dist, steps, bits, scheme=scheme),
                color=c,
                ls="--",
                lw=1.3,
                label=f"{fname} fit",
            )
            df = optimal_step(dist, bits, scheme=scheme)
            if steps[0] <= df <= steps[-1]:
                b.plot(
                    df,
                    mse(emp, df, bits, scheme=scheme),
                    marker="D",
                    ms=5,
                    mfc="white",
                    mec=c,
                    mew=1.3,
                    ls="none",
                    zorder=5,
                    label=f"_{fname} optimum on the data",
                )
        b.plot(
            d0,
            m_opt,
            marker="o",
            ms=7,
            color="0.1",
            mec="white",
            ls="none",
            zorder=6,
            label=rf"$\tilde\Delta$: MSE {m_opt:.3g}, SQNR {snr:.3g} dB",
        )
        b.axvline(d0, color=_NEUTRAL, ls=":", lw=1.0, zorder=1)
        handles, _ = b.get_legend_handles_labels()
        if fitted:
            handles += [
                Line2D(
                    [],
                    [],
                    ls="none",
                    marker="D",
                    mfc="white",
                    mec=_NEUTRAL,
                    label="fit's optimal step, on the data",
                )
            ]
        _legend_below(b, handles, ax is None)
        b.set_yscale("log")
        b.set_xlabel(r"step $\Delta$  [input units]")
        b.set_ylabel("MSE  [input units$^2$]")
        b.set_title(f"empirical MSE, {bits} bits, '{scheme}' levels")
    return fig
