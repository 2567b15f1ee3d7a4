"""pytest plug-in for the conformance run: statsmodels' MixedLM names point at refimpl's.

The harness (harness.py) copies statsmodels' own ``test_lme.py`` unchanged into
a temporary package and writes a ``conftest.py`` there that does
``from rebind import *``. pytest imports a conftest before it imports any
test module, so by the time ``test_lme.py`` runs ``from
statsmodels.regression.mixed_linear_model import MixedLM, MixedLMParams`` those
names already are refimpl's classes. Only the public names are rebound;
statsmodels' private helpers (``_smw_solver``, ...) stay statsmodels' own.

The plug-in also applies the harness's explicit lists (expectations.py): the
tests that read a statsmodels private attribute are skipped as not applicable,
the documented disagreements are marked xfail, each with its reason. It records
every test's outcome in the JSON file named by ``REFIMPL_CONFORMANCE_OUT``.
"""

import json
import os

import pytest

import refimpl
import statsmodels.api as sm
import statsmodels.formula.api as smf
import statsmodels.regression.mixed_linear_model as mlm

from expectations import NOT_APPLICABLE, XFAIL

mlm.MixedLM = refimpl.MixedLM
mlm.MixedLMParams = refimpl.MixedLMParams
sm.MixedLM = refimpl.MixedLM
smf.mixedlm = refimpl.MixedLM.from_formula

_OUTCOMES = {}


def _short(nodeid):
    """'smsuite/test_lme.py::TestMixedLM::test_history' -> 'TestMixedLM::test_history'."""
    return nodeid.split("::", 1)[1] if "::" in nodeid else nodeid


def _lookup(table, nodeid):
    name = _short(nodeid)
    if name in table:
        return table[name]
    base = name.split("[", 1)[0]            # a whole parametrized family
    return table.get(base)


def pytest_collection_modifyitems(config, items):
    assert mlm.MixedLM is refimpl.MixedLM, "statsmodels' MixedLM was not rebound"
    for item in items:
        reason = _lookup(NOT_APPLICABLE, item.nodeid)
        if reason is not None:
            item.add_marker(pytest.mark.skip(reason=f"not applicable: {reason}"))
            continue
        reason = _lookup(XFAIL, item.nodeid)
        if reason is not None:
            item.add_marker(pytest.mark.xfail(reason=reason, strict=False))


def _record(report, outcome):
    message = None
    if outcome == "failed":
        lines = report.longreprtext.strip().splitlines()
        message = lines[-1][:400] if lines else ""
    _OUTCOMES[_short(report.nodeid)] = {"outcome": outcome, "message": message}


def pytest_runtest_logreport(report):
    if hasattr(report, "wasxfail"):
        _record(report, "xpassed" if report.passed else "xfailed")
    elif report.when == "setup" and report.skipped:
        _record(report, "not_applicable")
    elif report.failed:                      # in setup, call or teardown
        _record(report, "failed")
    elif report.when == "call":
        _record(report, "skipped" if report.skipped else "passed")


def pytest_sessionfinish(session, exitstatus):
    out = os.environ.get("REFIMPL_CONFORMANCE_OUT")
    if out:
        with open(out, "w") as f:
            json.dump(_OUTCOMES, f, indent=1, sort_keys=True)
