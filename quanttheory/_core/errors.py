"""The package's exception classes."""

from __future__ import annotations

__all__ = ["InvalidArgument", "QuantTheoryError"]


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
