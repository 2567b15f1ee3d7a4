"""Shared test configuration.

* Hypothesis profiles: ``default`` (50 examples, no deadline), ``ci`` (the same,
  derandomized so CI runs are reproducible) and ``long`` (2000 examples).
  Choose with ``HYPOTHESIS_PROFILE=long``; ``CI=true`` selects ``ci``.
* tests/test_properties.py runs ROBUST_EXAMPLES generated designs (default
  2000; ``make test-long`` runs 20,000) and writes the count of each outcome to
  reports/robustness_counts.json; the end of the pytest run prints them.
* Tests marked ``@pytest.mark.r`` need R + lme4 + rpy2.  Outside CI they are
  skipped, with the message saying what to install, when R is unavailable;
  in CI (``CI`` set) they fail instead, so a missing install cannot hide.
  The ``r`` fixture gives such a test the ``rpy2.robjects`` module.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from hypothesis import settings

settings.register_profile("default", max_examples=50, deadline=None)
settings.register_profile("ci", max_examples=50, deadline=None, derandomize=True)
settings.register_profile("long", max_examples=2000, deadline=None)


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if in_ci() else "default"))


def _r_unavailable() -> str | None:
    from validation import rbridge

    return rbridge.r_available(["lme4"])


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("r") is None:
        return
    reason = _r_unavailable()
    if reason is None:
        return
    if in_ci():
        pytest.fail(f"CI is set, so R tests must run, but: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def r():
    """The ``rpy2.robjects`` module with lme4 loaded (tests must be marked ``r``)."""
    from validation import rbridge

    return rbridge.require_r(["lme4"])


_SESSION_START = time.time()
_ROBUSTNESS_COUNTS = Path(__file__).parents[1] / "reports" / "robustness_counts.json"


def pytest_terminal_summary(terminalreporter):
    """Print the outcome counts of the property-based robustness run, if it ran."""
    path = _ROBUSTNESS_COUNTS
    if not path.exists() or path.stat().st_mtime < _SESSION_START:
        return
    counts = json.loads(path.read_text())
    outcomes = ", ".join(f"{k}: {v}" for k, v in counts["outcomes"].items())
    terminalreporter.write_sep("-", "robustness (tests/test_properties.py)")
    terminalreporter.write_line(f"{counts['examples']} generated designs: {outcomes}; "
                                f"slowest {counts['slowest_example_seconds']} s ({path})")
