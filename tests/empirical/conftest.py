"""Fixtures of the empirical-engine tests."""

from __future__ import annotations

from unittest import mock

import pytest

from quanttheory import _optimal


@pytest.fixture(scope="module")
def one_d_engine():
    """Send every size to the 1-D engine (quanttheory._empirical.bound).

    Rows up to ``ROW_ENGINE_MAX`` samples otherwise take the batched engine
    (tests/empirical/test_batched.py); module scope, so hypothesis tests may
    use it."""
    with mock.patch.object(_optimal, "ROW_ENGINE_MAX", 0):
        yield
