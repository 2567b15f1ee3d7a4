"""Deliberately broken engines must be flagged; a correct one must pass.

The adapters in ``validation.examples`` perturb the stored lme4-tight values
(no R, no refimpl fit): a wrong REML constant in the llf, variances 0.5% off,
an optimizer that stopped early.  Each is run through the whole suite
(``validation.suite.run``) like a user's plug-in and must come out failed, for
the right reason.  The audit checks (refimpl's analytic score) are asserted
when ``refimpl.audit`` is importable.
"""

import math

import pytest

from validation.audit import Auditor
from validation.cases import CASES
from validation.suite import run

MODELS = ["dietox_slope", "sleepstudy_corr", "pastes", "sim_vc_slope"]
CASE_LIST = [CASES[f"{m}/{k}"] for m in MODELS for k in ("reml", "ml")]
PLUGINS = {
    "good": "good=validation.examples:reference_values",
    "constant": "constant=validation.examples:wrong_reml_constant",
    "variances": "variances=validation.examples:variances_off",
    "early": "early=validation.examples:stopped_early",
}
AUDIT = Auditor().available


@pytest.fixture(scope="module")
def outcome():
    return run(CASE_LIST, list(PLUGINS.values()), jobs=0, audit=True)


def _rows(out, engine):
    rows = [v for v in out.rows if v.engine == engine]
    assert len(rows) == len(CASE_LIST)
    return rows


def _failed_kinds(out, engine, case):
    """Kinds of the gated checks that failed: against the certified values (the
    grade where a case has them) and the audit."""
    return {c.kind for c in out.comparisons + out.certified_comparisons
            if c.engine == engine and c.case == case and c.gated and c.passed is False}


def test_run_fails_overall(outcome):
    assert outcome.exit_code == 1
    assert set(outcome.meta["gated_engines"]) == set(PLUGINS)


def test_correct_engine_passes_everything(outcome):
    for v in _rows(outcome, "good"):
        assert v.passed, (v.case, v.reasons)
        if AUDIT:
            assert v.stationary, (v.case, "the reference itself must be stationary")


def test_wrong_reml_constant_is_caught_on_reml_only(outcome):
    for v in _rows(outcome, "constant"):
        kinds = _failed_kinds(outcome, "constant", v.case)
        if v.case.endswith("/reml"):
            assert not v.passed and "llf" in kinds, v.case
            p = len(next(r for r in outcome.results if r.case == v.case).fe_params)
            assert v.dllf == pytest.approx(-0.5 * p * math.log(2 * math.pi))
            if AUDIT:
                assert "llf_at_point" in kinds  # reported llf != llf at its own point
            assert not kinds & {"fe", "cov_re", "vcomp", "scale"}  # estimates are right
        else:
            assert v.passed, (v.case, v.reasons)


def test_variances_half_percent_off_are_caught(outcome):
    expected_lre = -math.log10(0.005)
    for v in _rows(outcome, "variances"):
        kinds = _failed_kinds(outcome, "variances", v.case)
        assert not v.passed and kinds & {"cov_re", "vcomp"}, v.case
        assert v.min_param_lre == pytest.approx(expected_lre, abs=0.01)
        assert "fe" not in kinds and "llf" not in kinds
        if AUDIT:
            assert "llf_at_point" in kinds  # the llf is not the llf at these variances


def test_stopped_early_is_caught(outcome):
    for v in _rows(outcome, "early"):
        kinds = _failed_kinds(outcome, "early", v.case)
        assert not v.passed and "llf" in kinds, v.case
        assert v.dllf < -1e-4  # below the optimum, by far more than LLF_VS_LME4
        assert v.min_param_lre < 2.0
        if AUDIT:
            assert "stationary" in kinds and v.stationary is False
            assert "llf_at_point" not in kinds  # its llf is honest: just not the max
