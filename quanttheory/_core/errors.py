"""The package's exception and warning classes."""

from __future__ import annotations

__all__ = [
    "HeavyTailWarning",
    "InvalidArgument",
    "QuantTheoryError",
    "QuantTheoryWarning",
    "TaylorRangeWarning",
]


class QuantTheoryError(Exception):
    """Base class of every error that quanttheory raises on purpose.

    Examples
    --------
    >>> import quanttheory as qt
    >>> try:
    ...     qt.Gaussian(-1.0)
    ... except qt.QuantTheoryError as err:
    ...     type(err).__name__
    'InvalidArgument'
    """


class InvalidArgument(QuantTheoryError, ValueError):
    """An argument has a value that the function cannot accept.

    A subclass of :class:`ValueError`, so ``except ValueError`` still works.

    Examples
    --------
    >>> import quanttheory as qt
    >>> issubclass(qt.InvalidArgument, ValueError)
    True
    >>> try:
    ...     qt.mse(qt.Gaussian(), -0.1, 4)
    ... except ValueError:
    ...     print("rejected")
    rejected
    """


class QuantTheoryWarning(UserWarning):
    """Base class of every warning that quanttheory issues.

    A result came back, but part of it is less reliable than the function
    promises in general; the message says which part and what to use
    instead. Filter the whole family with ``warnings.simplefilter("ignore",
    qt.QuantTheoryWarning)``, or one subclass.

    Examples
    --------
    >>> import quanttheory as qt
    >>> issubclass(qt.HeavyTailWarning, qt.QuantTheoryWarning)
    True
    >>> issubclass(qt.QuantTheoryWarning, UserWarning)
    True
    """


class HeavyTailWarning(QuantTheoryWarning):
    r"""The law has no finite fourth moment: no valid Monte Carlo stderr.

    Issued by :func:`~quanttheory.monte_carlo_mse` when :math:`E[X^4]` is
    infinite (a named family or a :func:`~quanttheory.from_scipy` law whose
    kurtosis is infinite or undefined) or, for
    :class:`~quanttheory.Empirical` samples, when the Hill estimate of the tail
    index is significantly below 4. Then :math:`(X-Q(X))^2` has an infinite
    variance, ``stderr`` estimates nothing and the normal interval
    undercovers; :meth:`~quanttheory.MonteCarloResult.ci` then uses the
    subsample interval.

    Examples
    --------
    >>> import warnings
    >>> import scipy.stats
    >>> import quanttheory as qt
    >>> with warnings.catch_warnings(record=True) as seen:
    ...     warnings.simplefilter("always")
    ...     r = qt.monte_carlo_mse(qt.from_scipy(scipy.stats.t(3)), 1.5, 1,
    ...                            n=10_000, rng=0)
    >>> [w.category.__name__ for w in seen]
    ['HeavyTailWarning']
    """


class TaylorRangeWarning(QuantTheoryWarning):
    r"""A step error lies outside the validity radius of Lemma 1's Taylor value.

    Issued by :func:`~quanttheory.sensitivity` with ``taylor=True`` when
    :math:`|\varepsilon|` exceeds :func:`~quanttheory.taylor_radius` on its
    side: there the second-order value :math:`|D''|\varepsilon^2/2` differs
    from the exact change by more than 10 % (a kink of the MSE, or a large
    third-order term). ``taylor=False`` gives the exact change.

    Examples
    --------
    >>> import warnings
    >>> import quanttheory as qt
    >>> with warnings.catch_warnings(record=True) as seen:
    ...     warnings.simplefilter("always")
    ...     g = qt.sensitivity(qt.Uniform(1.0), 4, 0.01)  # 8.5 % of the step
    >>> [w.category.__name__ for w in seen]
    ['TaylorRangeWarning']
    """
