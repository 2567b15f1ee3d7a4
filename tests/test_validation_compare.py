"""LRE arithmetic, tolerance gating and the exit status of the validation suite.

Everything here works on the stored reference (refimpl/data/references/lme4_tight.json)
and on synthetic results: no R, no refimpl fit.
"""

import math

import pytest

from refimpl.tolerances import LLF_VS_LME4, LRE_CAP, PARAM_LRE_MIN
from validation import references
from validation.cases import CASES, data_sha256
from validation.compare import grade_row, lre
from validation.record import EngineResult, from_any, nonfinite_fields
from validation.suite import default_gated, run

STORE = references.load()


def _ref(name):
    return STORE.result(name)


# -- LRE ----------------------------------------------------------------------

def test_lre_relative_error_digits():
    assert lre(1.0 + 1e-6, 1.0) == pytest.approx(6.0, abs=1e-6)
    assert lre(-2.0 * (1 + 1e-9), -2.0) == pytest.approx(9.0, abs=1e-5)
    assert lre(123.0, 100.0) == pytest.approx(-math.log10(0.23))


def test_lre_exact_and_cap():
    assert lre(0.1, 0.1) == LRE_CAP
    assert lre(1.0 + 1e-17, 1.0) == LRE_CAP  # same double
    assert lre(1.0 + 2.3e-16, 1.0) == LRE_CAP  # capped, not 15.6


def test_lre_zero_reference_uses_absolute_error():
    # NIST StRD convention: c == 0 -> -log10|x|, the correct decimal places
    assert lre(1e-9, 0.0) == pytest.approx(9.0)
    assert lre(-1e-4, 0.0) == pytest.approx(4.0)
    assert lre(0.0, 0.0) == LRE_CAP


def test_lre_floor_and_nonfinite():
    assert lre(10.0, 1.0) == 0.0      # more than 100% off: no digit right
    assert lre(float("nan"), 1.0) == 0.0
    assert lre(float("inf"), 1.0) == 0.0


# -- grading one row -------------------------------------------------------------

def _perturbed(name, **changes):
    r = _ref(name)
    r.engine = "mine"
    for k, v in changes.items():
        setattr(r, k, v)
    return r


def test_reference_itself_passes_every_check():
    case = CASES["dietox_slope/reml"]
    v, comps = grade_row(case, _perturbed(case.name), _ref(case.name), None, None, True)
    assert v.passed and v.min_param_lre == LRE_CAP and v.dllf == 0.0
    assert all(c.passed for c in comps if c.counts)
    kinds = {c.kind for c in comps}
    assert {"fe", "bse", "cov_re", "scale", "llf"} <= kinds


def test_llf_gate_is_two_sided_at_the_named_tolerance():
    case = CASES["pastes/ml"]
    ref = _ref(case.name)
    for shift, ok in ((0.5 * LLF_VS_LME4, True), (-0.5 * LLF_VS_LME4, True),
                      (3 * LLF_VS_LME4, False), (-3 * LLF_VS_LME4, False)):
        v, _ = grade_row(case, _perturbed(case.name, llf=ref.llf + shift), ref, None, None, True)
        assert v.passed is ok, shift


def test_param_gate_at_param_lre_min():
    case = CASES["sleepstudy_corr/reml"]
    ref = _ref(case.name)
    for rel, ok in ((10 ** -(PARAM_LRE_MIN + 0.5), True), (10 ** -(PARAM_LRE_MIN - 0.5), False)):
        fe = {k: v * (1 + rel) for k, v in ref.fe_params.items()}
        v, comps = grade_row(case, _perturbed(case.name, fe_params=fe), ref, None, None, True)
        assert v.passed is ok
        assert any(c.kind == "fe" and c.passed is ok for c in comps)


def test_informative_engine_never_gates_but_gets_a_verdict():
    case = CASES["dyestuff/reml"]
    ref = _ref(case.name)
    bad = _perturbed(case.name, llf=ref.llf - 1.0)
    v, comps = grade_row(case, bad, ref, None, None, gated=False)
    assert v.passed is False and not v.gated
    assert not any(c.gated for c in comps)
    v, comps = grade_row(case, bad, ref, None, None, gated=True)
    assert v.passed is False and any(c.gated and not c.passed for c in comps)


def test_ill_conditioned_case_gates_llf_only():
    case = CASES["sim_near_singular/reml"]
    assert not case.well_conditioned
    ref = _ref(case.name)
    cov = {a: {b: x * 1.01 for b, x in row.items()} for a, row in ref.cov_re.items()}
    v, comps = grade_row(case, _perturbed(case.name, cov_re=cov), ref, None, None, True)
    assert v.passed  # parameters shown, not counted
    assert any(c.kind == "cov_re" and c.passed is False and not c.gated for c in comps)


def test_bse_counts_only_with_the_reference_definition():
    case = CASES["dyestuff/ml"]
    ref = _ref(case.name)
    bse = {k: x * 1.01 for k, x in ref.bse_fe.items()}
    v, _ = grade_row(case, _perturbed(case.name, bse_fe=bse, extra={}), ref, None, None, True)
    assert v.passed  # statsmodels-style definition: shown only
    v, _ = grade_row(case, _perturbed(case.name, bse_fe=bse,
                                      extra={"bse_fe_definition": "conditional"}),
                     ref, None, None, True)
    assert not v.passed


def test_name_mismatch_fails():
    case = CASES["dietox_intercept/ml"]
    ref = _ref(case.name)
    fe = {("(Intercept)" if k == "Intercept" else k): x for k, x in ref.fe_params.items()}
    v, comps = grade_row(case, _perturbed(case.name, fe_params=fe), ref, None, None, True)
    assert not v.passed and any(c.kind == "names" for c in comps)


def test_failed_and_unavailable_rows():
    case = CASES["dyestuff/ml"]
    ref = _ref(case.name)
    v, _ = grade_row(case, EngineResult.failed("mine", case.name, "boom"), ref, None, None, True)
    assert v.passed is False and "boom" in v.reasons[0]
    v, _ = grade_row(case, EngineResult.unavailable("mine", case.name, "no R"), ref, None,
                     None, True)
    assert v.passed is None  # shown, never gated


def test_stale_or_missing_reference_fails_gated_rows():
    case = CASES["dyestuff/reml"]
    assert STORE.check(case) is None  # the committed store is current
    problem = STORE.check(case, current_sha="0" * 64)
    assert "stale" in problem and "regenerate" in problem
    v, _ = grade_row(case, _perturbed(case.name), _ref(case.name), problem, None, True)
    assert v.passed is False and "stale" in v.reasons[0]


# -- records ---------------------------------------------------------------------

def test_record_json_round_trip_full_precision():
    r = _ref("dietox_slope/ml")
    r.llf = -2215.752793056497 + 1e-12
    r.extra["x"] = [float("nan"), float("inf")]
    back = EngineResult.from_json(r.to_json())
    assert back.llf == r.llf and back.cov_re == r.cov_re and back.fe_params == r.fe_params
    assert math.isnan(back.extra["x"][0]) and back.extra["x"][1] == math.inf
    assert "NaN" not in r.to_json().replace('"NaN"', "")  # standard JSON only


def test_from_any_and_nonfinite():
    import pandas as pd

    r = from_any({"fe_params": pd.Series({"Intercept": 1.0}), "scale": 2, "llf": -3,
                  "cov_re": pd.DataFrame([[1.0]], index=["g"], columns=["g"])}, "e", "c")
    assert r.cov_re == {"g": {"g": 1.0}} and r.status == "ok" and nonfinite_fields(r) == []
    r.llf = float("nan")
    assert nonfinite_fields(r) == ["llf"]
    with pytest.raises(ValueError, match="unknown result keys"):
        from_any({"fe_param": {}}, "e", "c")


def test_store_has_every_case_with_provenance():
    prov = STORE.provenance
    assert {"R", "lme4", "rpy2-robjects"} <= set(prov["versions"])
    assert prov["optimizer"]["optCtrl"]["rhoend"] <= 1e-10
    for name, case in CASES.items():
        entry = STORE.cases[name]
        assert entry["data_sha256"] == data_sha256(case.data()), name
        assert entry["result"]["status"] == "ok"


# -- exit status -------------------------------------------------------------------

GOOD = "validation.examples:reference_values"
BAD = "validation.examples:wrong_reml_constant"


def test_default_gating():
    assert default_gated(["statsmodels", "lme4", "refimpl_em", "refimpl_default", "x=pkg.mod:f"]) == \
        ["refimpl_default", "x"]


@pytest.mark.parametrize("engines,gate,code", [
    ([GOOD], None, 0),
    ([GOOD, BAD], None, 1),
    ([BAD], [], 0),          # --gate none: informative run
    ([BAD], ["nobody"], 2),  # nothing graded
])
def test_exit_status(engines, gate, code):
    cases = [CASES["dyestuff/reml"], CASES["pastes/reml"]]
    out = run(cases, engines, gated=gate, jobs=0, audit=False)
    assert out.exit_code == code, out.gate_summary
