"""Hypothesis strategies for property-testing quantizers against the theory.

Requires `hypothesis <https://hypothesis.readthedocs.io>`_ (the ``test``
extra). Every strategy draws from the same registry of families that the
package's own tests use.

Examples
--------
>>> from hypothesis import given, settings
>>> import quanttheory as qt
>>> from quanttheory import strategies as qst
>>> @settings(max_examples=5, deadline=None)
... @given(qst.distributions(), qst.bit_widths(max_value=4), qst.schemes())
... def test_optimum_beats_a_coarser_step(dist, bits, scheme):
...     if scheme == "symmetric" and bits < 2:
...         bits = 2
...     d = qt.optimal_step(dist, bits, scheme=scheme)
...     assert qt.mse(dist, d, bits, scheme=scheme) <= qt.mse(
...         dist, 1.5 * d, bits, scheme=scheme)
>>> test_optimum_beats_a_coarser_step()
"""

from __future__ import annotations

try:
    from hypothesis import strategies as st
except ImportError as exc:  # pragma: no cover - exercised without hypothesis
    raise ImportError(
        "quanttheory.strategies needs hypothesis: pip install 'quanttheory[test]'"
    ) from exc

import numpy as np

from ._core.distribution import Distribution
from ._core.errors import InvalidArgument
from ._core.scheme import SCHEMES
from ._empirical.empirical import Empirical
from ._optimal import optimal_step
from ._registry import FAMILIES, family

__all__ = ["bit_widths", "distributions", "empirical", "schemes", "steps", "tensors"]


def bit_widths(min_value: int = 1, max_value: int = 8) -> st.SearchStrategy[int]:
    """Draw bit-widths in ``[min_value, max_value]``.

    Parameters
    ----------
    min_value, max_value : int
        Inclusive bounds, ``1 <= min_value <= max_value``.

    Returns
    -------
    SearchStrategy[int]
        Integers, shrinking towards ``min_value``.

    Examples
    --------
    >>> from hypothesis import find
    >>> from quanttheory import strategies as qst
    >>> find(qst.bit_widths(2, 4), lambda b: b > 2)   # the minimal example
    3
    """
    if not (1 <= min_value <= max_value):
        raise InvalidArgument(
            f"bit_widths: min_value={min_value!r}, max_value={max_value!r} must "
            "satisfy 1 <= min_value <= max_value"
        )
    return st.integers(min_value=min_value, max_value=max_value)


def schemes(exclude=()) -> st.SearchStrategy[str]:
    """Level-set names (see :func:`quanttheory.levels`).

    Parameters
    ----------
    exclude : iterable of str
        Schemes to leave out.

    Returns
    -------
    SearchStrategy[str]
        Names from :data:`quanttheory.SCHEMES`, shrinking towards the first.

    Examples
    --------
    >>> from hypothesis import find
    >>> from quanttheory import strategies as qst
    >>> find(qst.schemes(exclude=["paper"]), lambda s: True)
    'midrise'
    """
    names = [s for s in SCHEMES if s not in set(exclude)]
    if not names:
        raise InvalidArgument(f"schemes: exclude={list(exclude)!r} leaves nothing")
    return st.sampled_from(names)


def distributions(
    families=None, min_variance: float = 1e-2, max_variance: float = 1e2
) -> st.SearchStrategy[Distribution]:
    """Registered families at a drawn variance.

    Parameters
    ----------
    families : sequence of str, optional
        Names from the registry (``'uniform'``, ``'gaussian'``, ``'laplace'``,
        ``'t3'``); default all.
    min_variance, max_variance : float
        Range of the (log-uniformly drawn) variance.

    Returns
    -------
    SearchStrategy[Distribution]
        Members of the families built with ``with_variance``.

    Examples
    --------
    >>> from hypothesis import find
    >>> from quanttheory import strategies as qst
    >>> d = find(qst.distributions(["laplace"], 1.0, 4.0), lambda d: True)
    >>> d, round(d.variance, 12)
    (Laplace(b=0.7071067811865476), 1.0)
    """
    names = list(FAMILIES) if families is None else [family(f).name for f in families]
    if not (0 < min_variance <= max_variance < np.inf):
        raise InvalidArgument(
            f"distributions: min_variance={min_variance!r}, "
            f"max_variance={max_variance!r} must satisfy 0 < min <= max < inf"
        )
    lo, hi = np.log(min_variance), np.log(max_variance)
    log_var = st.floats(min_value=lo, max_value=hi) if hi > lo else st.just(lo)
    return st.builds(
        lambda name, lv: FAMILIES[name].with_variance(float(np.exp(lv))),
        st.sampled_from(names),
        log_var,
    )


def steps(
    dist: Distribution,
    bits: int,
    scheme: str = "paper",
    *,
    min_ratio: float = 0.125,
    max_ratio: float = 8.0,
) -> st.SearchStrategy[float]:
    r"""Draw steps around the optimum: :math:`r\,\tilde\Delta`, ``r`` log-uniform.

    Parameters
    ----------
    dist : Distribution
        The law whose optimal step :math:`\tilde\Delta` is the centre.
    bits : int
        Bit-width :math:`M`.
    scheme : str
        Level set (see :func:`quanttheory.levels`).
    min_ratio, max_ratio : float
        Range of :math:`\Delta/\tilde\Delta`.

    Returns
    -------
    SearchStrategy[float]
        Steps :math:`\Delta > 0`, computed once from
        :func:`quanttheory.optimal_step`.

    Examples
    --------
    >>> from hypothesis import find
    >>> import quanttheory as qt
    >>> from quanttheory import strategies as qst
    >>> s = find(qst.steps(qt.Uniform(1.0), 4, min_ratio=0.5), lambda s: s > 0.2)
    >>> 0.2 < s <= 8 * 2 / 17      # 2/17 = 2a/(2^M+1), Lemma 3
    True
    """
    if not (0 < min_ratio <= max_ratio < np.inf):
        raise InvalidArgument(
            f"steps: min_ratio={min_ratio!r}, max_ratio={max_ratio!r} must "
            "satisfy 0 < min_ratio <= max_ratio < inf"
        )
    d0 = optimal_step(dist, bits, scheme=scheme)
    lo, hi = np.log(min_ratio), np.log(max_ratio)
    if hi == lo:
        return st.just(d0 * min_ratio)
    return st.floats(min_value=lo, max_value=hi).map(lambda r: float(d0 * np.exp(r)))


def tensors(
    dist: Distribution | None = None,
    shape=None,
    dtype=np.float32,
    max_size: int = 4096,
) -> st.SearchStrategy[np.ndarray]:
    """Draw arrays of samples from a distribution, as a weight tensor would be.

    The array is a function of a drawn seed, so hypothesis can replay and
    shrink it (towards seed 0 and smaller shapes).

    Parameters
    ----------
    dist : Distribution, optional
        Source law; default a drawn one from :func:`distributions`.
    shape : tuple of int, optional
        Fixed shape; default a drawn 1-D or 2-D shape with at most
        ``max_size`` elements.
    dtype : numpy dtype
        Floating dtype of the result.
    max_size : int
        Largest number of elements when the shape is drawn.

    Returns
    -------
    SearchStrategy[numpy.ndarray]
        Arrays of the given ``dtype`` and shape.

    Examples
    --------
    >>> from hypothesis import find
    >>> import quanttheory as qt
    >>> from quanttheory import strategies as qst
    >>> x = find(qst.tensors(qt.Gaussian(), shape=(4, 3)), lambda x: True)
    >>> x.shape, x.dtype
    ((4, 3), dtype('float32'))
    >>> qt.Empirical(x).n
    12
    """
    dist_s = st.just(dist) if dist is not None else distributions()
    if shape is not None:
        shape_s = st.just(tuple(int(v) for v in shape))
    else:
        side = max(1, int(np.sqrt(max_size)))
        shape_s = st.one_of(
            st.tuples(st.integers(1, max_size)),
            st.tuples(st.integers(1, side), st.integers(1, side)),
        )

    def build(d, shp, seed):
        n = int(np.prod(shp))
        return d.sample(n, rng=seed).reshape(shp).astype(dtype)

    return st.builds(build, dist_s, shape_s, st.integers(0, 2**32 - 1))


def empirical(dist: Distribution | None = None, max_size: int = 4096):
    """:class:`Empirical` laws of drawn tensors (see :func:`tensors`).

    Parameters
    ----------
    dist : Distribution, optional
        Source law; default a drawn one from :func:`distributions`.
    max_size : int
        Largest number of samples.

    Returns
    -------
    SearchStrategy[Empirical]
        Empirical laws of float64 arrays of a drawn shape.

    Examples
    --------
    >>> from hypothesis import find
    >>> from quanttheory import strategies as qst
    >>> find(qst.empirical(max_size=50), lambda e: e.n >= 3).n
    3
    """
    return tensors(dist, max_size=max_size, dtype=np.float64).map(Empirical)
