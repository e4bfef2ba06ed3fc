"""Plotting tests draw with the non-interactive Agg backend.

The library itself never selects a backend (it draws on
``matplotlib.figure.Figure`` with an Agg canvas); selecting Agg here only
guards against a test that would open a window by accident.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
