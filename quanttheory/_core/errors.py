"""The package's exception classes."""

from __future__ import annotations

__all__ = ["InvalidArgument", "QuantTheoryError"]


class QuantTheoryError(Exception):
    """Base class of every error that quanttheory raises on purpose."""


class InvalidArgument(QuantTheoryError, ValueError):
    """An argument has a value that the function cannot accept.

    A subclass of :class:`ValueError`, so ``except ValueError`` still works.
    """
