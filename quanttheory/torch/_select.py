r"""Which weights a tool acts on: presets, name patterns, module types, predicates.

:class:`~quanttheory.torch.KURE`, :func:`~quanttheory.torch.quantized`,
:func:`~quanttheory.torch.robustness_sweep` and
:class:`~quanttheory.torch.SensitivityMonitor` all pick their weights with
:func:`select_weights`, so one rule means the same thing everywhere.

A *candidate* is the ``weight`` parameter of a module when it is a floating
tensor with at least two dimensions (linear and convolution weights,
embeddings). Biases and normalisation scales are never candidates.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Sequence

import torch
from torch import nn

from .._core.errors import InvalidArgument

__all__ = ["PRESETS", "select_weights", "unwrap"]

#: Named selections; see :func:`select_weights`.
PRESETS = ("default", "all", "paper")

#: The layers that the ``'default'`` and ``'all'`` presets consider: every
#: linear layer and every convolution (1-, 2- and 3-d, transposed included).
CONV_LINEAR = (nn.Linear, nn.modules.conv._ConvNd)

_WRAPPERS = (nn.parallel.DistributedDataParallel, nn.DataParallel)


def unwrap(model: nn.Module) -> nn.Module:
    r"""The user's model inside a data-parallel or ``torch.compile`` wrapper.

    Unwraps :class:`~torch.nn.parallel.DistributedDataParallel`,
    :class:`~torch.nn.DataParallel`, the ``OptimizedModule`` that
    :func:`torch.compile` returns (attribute ``_orig_mod``) and any pure
    wrapper whose only child is an attribute named ``module`` and that holds
    no parameter of its own, so that layer names are those of the bare model
    (``conv1.weight``, never ``module.conv1.weight``).

    Parameters
    ----------
    model : torch.nn.Module
        A model, wrapped or not.

    Returns
    -------
    torch.nn.Module
        The innermost model (``model`` itself when it is not a wrapper).

    Examples
    --------
    >>> from torch import nn
    >>> from quanttheory.torch import unwrap
    >>> class Wrapper(nn.Module):
    ...     def __init__(self, module):
    ...         super().__init__()
    ...         self.module = module
    >>> net = nn.Linear(2, 2)
    >>> unwrap(Wrapper(Wrapper(net))) is net
    True
    """
    for _ in range(16):
        if isinstance(model, _WRAPPERS):
            model = model.module
            continue
        orig = getattr(model, "_orig_mod", None)
        if isinstance(orig, nn.Module):
            model = orig
            continue
        inner = getattr(model, "module", None)
        if (
            isinstance(inner, nn.Module)
            and [n for n, _ in model.named_children()] == ["module"]
            and not list(model.named_parameters(recurse=False))
        ):
            model = inner
            continue
        break
    return model


def _candidates(model: nn.Module) -> list[tuple[str, str, nn.Module, nn.Parameter]]:
    """``(param_name, module_name, module, weight)`` in module order, untied."""
    out = []
    seen = set()
    for mname, module in model.named_modules():
        w = module._parameters.get("weight")
        if w is None or not w.is_floating_point() or w.ndim < 2:
            continue
        if id(w) in seen:  # a weight tied to an earlier module
            continue
        seen.add(id(w))
        out.append((f"{mname}.weight" if mname else "weight", mname, module, w))
    return out


def _matches(spec, pname: str, mname: str, module: nn.Module) -> bool:
    if isinstance(spec, str):
        return fnmatch.fnmatchcase(mname, spec) or fnmatch.fnmatchcase(pname, spec)
    if isinstance(spec, type):
        return isinstance(module, spec)
    if callable(spec):
        return bool(spec(mname, module))
    if isinstance(spec, Sequence):
        return any(_matches(s, pname, mname, module) for s in spec)
    raise TypeError(spec)


def _check_spec(func: str, arg: str, spec) -> None:
    ok = isinstance(spec, (str, type)) or callable(spec)
    if not ok and isinstance(spec, Sequence):
        for s in spec:
            _check_spec(func, arg, s)
        return
    if not ok:
        raise InvalidArgument(
            f"{func}: {arg}={spec!r} must be a name pattern (str), a module type, "
            "a predicate f(module_name, module) -> bool, or a list of these"
        )


Spec = str | type | Callable[[str, nn.Module], bool] | Sequence


def select_weights(
    model: nn.Module,
    select: Spec = "default",
    *,
    include: Spec | None = None,
    exclude: Spec | None = None,
    func: str = "select_weights",
) -> list[tuple[str, nn.Parameter]]:
    r"""The weights that a selection rule picks, in module order.

    Parameters
    ----------
    model : torch.nn.Module
        The model; DDP, DataParallel and ``torch.compile`` wrappers are
        unwrapped first (:func:`unwrap`).
    select : {'default', 'all', 'paper'}, module type, predicate or list of patterns
        The base selection among the candidates (every floating ``weight``
        parameter with ``ndim >= 2``):

        * ``'default'``: every convolution and linear weight except the first
          and the last such layer in module order. This generalises the KURE
          paper's choice to models without convolutions.
        * ``'all'``: every convolution and linear weight.
        * ``'paper'``: what the paper's code regularises (KURE,
          arXiv:2002.07686, repository ``moranshkolnik/RobustQuantization``):
          every :class:`~torch.nn.Conv2d` weight except the first, and no
          linear layer.
        * a module type (or tuple of types): every candidate of that type;
        * a predicate ``f(module_name, module) -> bool``;
        * a list of name patterns (:func:`fnmatch.fnmatchcase` globs, matched
          against the module name ``'layer1.0.conv1'`` and the parameter name
          ``'layer1.0.conv1.weight'``).
    include, exclude : pattern, module type, predicate or list of these, optional
        Add candidates that match ``include`` (for example the first layer,
        or an embedding), then remove those that match ``exclude``.
    func : str
        Name of the calling function, for error messages.

    Returns
    -------
    list of (str, torch.nn.Parameter)
        Parameter names (``'conv2.weight'``) and the parameters. A weight
        shared by several modules appears once, under its first name.

    Raises
    ------
    InvalidArgument
        If the selection is empty (never a silent no-op), or a rule has the
        wrong type.

    Examples
    --------
    >>> from torch import nn
    >>> from quanttheory.torch import select_weights
    >>> net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3),
    ...                     nn.Flatten(), nn.Linear(16, 8), nn.Linear(8, 2))
    >>> [n for n, _ in select_weights(net)]
    ['2.weight', '4.weight']
    >>> [n for n, _ in select_weights(net, "paper")]
    ['2.weight']
    >>> [n for n, _ in select_weights(net, "all", exclude=nn.Linear)]
    ['0.weight', '2.weight']
    """
    model = unwrap(model)
    if not isinstance(model, nn.Module):
        raise InvalidArgument(f"{func}: model={model!r} must be a torch.nn.Module")
    cands = _candidates(model)
    conv_lin = [c for c in cands if isinstance(c[2], CONV_LINEAR)]
    if isinstance(select, str):
        if select == "default":
            base = conv_lin[1:-1]
        elif select == "all":
            base = conv_lin
        elif select == "paper":
            base = [c for c in cands if isinstance(c[2], nn.Conv2d)][1:]
        else:
            presets = ", ".join(repr(p) for p in PRESETS)
            raise InvalidArgument(
                f"{func}: select={select!r} is not one of {{{presets}}}; to select "
                f"by name pattern pass a list, select=[{select!r}], or use include="
            )
    else:
        _check_spec(func, "select", select)
        base = [c for c in cands if _matches(select, c[0], c[1], c[2])]
    chosen = {id(c[3]) for c in base}
    if include is not None:
        _check_spec(func, "include", include)
        chosen |= {id(c[3]) for c in cands if _matches(include, c[0], c[1], c[2])}
    if exclude is not None:
        _check_spec(func, "exclude", exclude)
        chosen -= {id(c[3]) for c in cands if _matches(exclude, c[0], c[1], c[2])}
    out = [(c[0], c[3]) for c in cands if id(c[3]) in chosen]
    if not out:
        raise InvalidArgument(
            f"{func}: select={_describe(select)} (include={_describe(include)}, "
            f"exclude={_describe(exclude)}) selects no weight; the model has "
            f"{len(cands)} candidate weight(s), {len(conv_lin)} of them in conv or "
            "linear layers ('default' drops the first and the last of those; "
            "try select='all')"
        )
    return out


def _describe(spec) -> str:
    if isinstance(spec, type):
        return spec.__name__
    if callable(spec) and not isinstance(spec, (str, Sequence)):
        return getattr(spec, "__name__", "<predicate>")
    return repr(spec)


def is_compiling() -> bool:
    """True while :func:`torch.compile` traces the code (no data-dependent checks)."""
    compiler = getattr(torch, "compiler", None)
    fn = getattr(compiler, "is_compiling", None)
    return bool(fn()) if fn is not None else False
