"""Shared test configuration: Hypothesis profiles.

Choose a profile with the environment variable ``HYPOTHESIS_PROFILE``:

* ``dev`` (default): few examples, for a fast edit-test loop;
* ``ci``: many more examples, for the CI job.

Both profiles disable Hypothesis' per-example deadline: the first call for a
``from_scipy`` law builds its knot table (about half a second, once per law
and process), which a deadline would report as a flaky slow example. Run time
is bounded by the example counts instead. The example database lives in
``.hypothesis/`` (git-ignored).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "dev",
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "ci",
    max_examples=150,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def pytest_configure(config):
    # Justified exception to ``filterwarnings = ["error"]``: when a Hypothesis
    # test fails, Hypothesis writes a ``git apply`` patch of the failing
    # example with libcst, whose import of mypy_extensions.TypedDict emits a
    # DeprecationWarning. Under "error" that turns a test failure into a
    # pytest INTERNALERROR that hides the falsifying example. The warning
    # comes from third-party tooling, never from quanttheory.
    config.addinivalue_line(
        "filterwarnings",
        "ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning",
    )
