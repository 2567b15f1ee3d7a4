"""The Inference section of the validation suite (validation/inference_*.py).

* LRE arithmetic and the per-family minimum;
* the gate: a refimpl value wrong in its 7th digit fails the section and the
  run's exit status; a stale or missing reference fails it too;
* the stored references (refimpl/data/certified/inference/) are reproduced by
  the current code to their stated digits, and agree with the independent
  checks they cite: Dyestuff's closed-form profile (mpmath, 50 digits), a
  30-digit mpmath Satterthwaite df on sim_unbalanced_singletons, the
  integer df of the balanced designs, and the q = 3 correlation limits of
  sim_slopes3 by an equality-constrained fit in another parameterization;
* ``suite.run`` produces the section in validation.json, the terminal text
  and the HTML page;
* with R (marked ``r``): lme4's and lmerTest's rows are computed and graded.
"""

import copy
import io
import math

import numpy as np
import pytest

from validation import inference_grading as ig
from validation import inference_references as store
from validation.inference_cases import (INFERENCE_CASES, REFERENCE_DIR, ergostool_like_data,
                                        family_of, simulate_ergostool_like)
from validation.inference_values import refimpl_values


@pytest.fixture(scope="module")
def refs():
    return store.load_all()


# --------------------------------------------------------------------------
# LRE and grading
# --------------------------------------------------------------------------

def test_lre():
    assert ig.lre(1.0 + 1e-7, 1.0, 12) == pytest.approx(7.0, abs=1e-6)
    assert ig.lre(2.0, 2.0, 12) == 12.0                       # capped at the stated digits
    assert ig.lre(100.0 * (1 + 1e-20), 100.0, 30) == 15.0     # equal in float64: the cap 15
    assert ig.lre(1e-9, 0.0, 12, scale=10.0) == pytest.approx(10.0)   # zero: relative to scale
    assert ig.lre(float("nan"), 1.0, 12) == 0.0
    assert ig.lre(3.0, 1.0, 12) == 0.0                         # never negative


def test_family_of():
    assert family_of("profile:sd_Batch:lower") == "profile"
    assert family_of("satterthwaite:t:Days:df") == "satt_df"
    assert family_of("satterthwaite:t:Days:p") == "satt_p"
    assert family_of("satterthwaite:F:C(Type):DenDF") == "satt_F"
    assert family_of("kr:t:x1:df") == "kr_df"
    assert family_of("kr:t:x1:p") == "kr_F"
    assert family_of("kr:F:x1:F") == "kr_F"


def test_grade_values_minimum_per_family():
    ref = {"values": {"profile:a:lower": 1.0, "profile:a:upper": 2.0, "kr:t:x:df": 10.0},
           "digits": {"profile:a:lower": 12, "profile:a:upper": 12, "kr:t:x:df": 12},
           "scales": {}}
    g = ig.grade_values({"profile:a:lower": 1.0 + 1e-5, "profile:a:upper": 2.0,
                         "kr:t:x:df": 10.0 * (1 + 1e-9)}, ref)
    assert g["families"]["profile"] == pytest.approx(5.0, abs=1e-6)
    assert g["families"]["kr_df"] == pytest.approx(9.0, abs=1e-6)
    assert g["min_lre"] == pytest.approx(5.0, abs=1e-6)
    assert g["missing"] == []
    assert sorted(ig.grade_values({}, ref)["missing"]) == sorted(ref["values"])


# --------------------------------------------------------------------------
# The gate
# --------------------------------------------------------------------------

def _rows_from_refs(refs, keys, perturb=None):
    rows = {}
    for k in keys:
        values = dict(refs[k]["values"])
        if perturb and perturb[0] in values and k == perturb[2]:
            values[perturb[0]] *= 1 + perturb[1]
        rows[k] = {ig.REFIMPL_ROW: {"values": values, "seconds": 0.0}}
    return rows


def test_correct_values_pass_the_gate(refs):
    cases = [INFERENCE_CASES["dyestuff/reml"], INFERENCE_CASES["ergostool_like/reml"]]
    info = ig.section(cases, _rows_from_refs(refs, [c.key for c in cases]), gated=True,
                      references=refs)
    assert info["failures"] == []
    assert all(r["passed"] for r in info["rows"])
    assert info["summary"].startswith("2 gated inference rows >= LRE 7")


@pytest.mark.parametrize("quantity,case", [("profile:sigma:upper", "dyestuff/reml"),
                                           ("kr:F:C(Type):DenDF", "ergostool_like/reml")])
def test_a_value_wrong_in_its_seventh_digit_fails_the_gate(refs, quantity, case):
    cases = [INFERENCE_CASES["dyestuff/reml"], INFERENCE_CASES["ergostool_like/reml"]]
    rows = _rows_from_refs(refs, [c.key for c in cases], perturb=(quantity, 3e-7, case))
    info = ig.section(cases, rows, gated=True, references=refs)
    bad = [r for r in info["rows"] if r["passed"] is False]
    assert [r["case"] for r in bad] == [case]
    assert bad[0]["quantities"][quantity]["lre"] == pytest.approx(-math.log10(3e-7), abs=0.01)
    assert len(info["failures"]) == 1 and quantity in info["failures"][0]
    assert info["summary"].startswith("FAIL")
    # not gated: shown, never a failure
    info = ig.section(cases, rows, gated=False, references=refs)
    assert info["failures"] == [] and not info["summary"].startswith("FAIL")


def test_stale_or_missing_reference_fails(refs):
    case = INFERENCE_CASES["dyestuff/reml"]
    rows = _rows_from_refs(refs, [case.key])
    stale = copy.deepcopy(refs)
    stale[case.key]["data_sha256"] = "0" * 64
    info = ig.section([case], rows, gated=True, references=stale)
    assert info["rows"][0]["status"] == "failed" and "stale" in info["failures"][0]
    info = ig.section([case], rows, gated=True, references={})
    assert "no stored reference" in info["failures"][0]


def test_missing_quantity_fails(refs):
    case = INFERENCE_CASES["dyestuff/reml"]
    rows = _rows_from_refs(refs, [case.key])
    rows[case.key][ig.REFIMPL_ROW]["values"].pop("profile:sigma:lower")
    info = ig.section([case], rows, gated=True, references=refs)
    assert "missing quantities" in info["failures"][0]


# --------------------------------------------------------------------------
# The stored references
# --------------------------------------------------------------------------

def test_every_case_has_a_reference(refs):
    assert sorted(refs) == sorted(INFERENCE_CASES)
    for key, e in refs.items():
        assert set(e["values"]) == set(e["digits"]), key
        assert min(e["digits"].values()) >= 10, key
        assert e["independent_check"], key


def test_ergostool_csv_is_the_simulation():
    stored = ergostool_like_data()
    assert stored.equals(simulate_ergostool_like())
    assert (REFERENCE_DIR / "ergostool_like.csv").exists()


def _reproduce(key, refs):
    values, _ = refimpl_values(INFERENCE_CASES[key], tolerances=store.TIGHT)
    e = refs[key]
    assert set(values) == set(e["values"])
    short = {q: ig.lre(values[q], r, e["digits"][q], e["scales"].get(q))
             for q, r in e["values"].items()}
    bad = {q: s for q, s in short.items() if s < e["digits"][q]}
    assert not bad, bad


@pytest.mark.parametrize("key", ["dyestuff/reml", "ergostool_like/reml",
                                 "sim_unbalanced_singletons/reml"])
def test_references_reproduced(refs, key):
    _reproduce(key, refs)


@pytest.mark.slow
@pytest.mark.parametrize("key", ["sleepstudy_corr/reml", "pastes/reml", "penicillin/reml"])
def test_references_reproduced_slow(refs, key):
    _reproduce(key, refs)


def test_dyestuff_reference_against_the_closed_form(refs):
    """Independent check: the balanced one-way ML profile from ANOVA sums of squares (mpmath)."""
    from refimpl import datasets
    from tests.test_profile_ci import oneway_profile_limits

    d = datasets.load("Dyestuff")
    exact = oneway_profile_limits(d["Yield"].to_numpy(), d["Batch"].tolist(), 1.959963984540054)
    v = refs["dyestuff/reml"]["values"]
    for ours, theirs in (("sd_Batch", "sd"), ("sigma", "sigma"), ("Intercept", "mu")):
        for side, x in zip(("lower", "upper"), exact[theirs]):
            assert ig.lre(v[f"profile:{ours}:{side}"], x, 15) >= 10, (ours, side)


def test_satterthwaite_reference_against_mpmath(refs):
    """Independent check: 30-digit mpmath df of x1 on sim_unbalanced_singletons."""
    from refimpl.cases import REGISTRY
    from tests.test_ddf import mp_satterthwaite_df

    case = REGISTRY["sim_unbalanced_singletons/reml"]
    res = INFERENCE_CASES["sim_unbalanced_singletons/reml"].model().fit()
    exact = float(mp_satterthwaite_df(res, case.data(), case.spec, np.eye(res.k_fe)[1], dps=30))
    assert ig.lre(refs["sim_unbalanced_singletons/reml"]["values"]["satterthwaite:t:x1:df"],
                  exact, 15) >= 11


def test_balanced_designs_have_integer_df(refs):
    s = refs["sleepstudy_corr/reml"]["values"]
    for q in ("satterthwaite:t:Days:df", "kr:t:Days:df", "satterthwaite:F:Days:DenDF",
              "kr:F:Days:DenDF"):
        assert ig.lre(s[q], 17.0, 15) >= 11, q
    e = refs["ergostool_like/reml"]["values"]
    for q in [f"{t}:t:C(Type)[T.T{j}]:df" for t in ("satterthwaite", "kr") for j in (2, 3, 4)] \
            + ["satterthwaite:F:C(Type):DenDF", "kr:F:C(Type):DenDF"]:
        assert ig.lre(e[q], 24.0, 15) >= 11, q


# --------------------------------------------------------------------------
# The product
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def dyestuff_run():
    from validation.cases import select
    from validation.suite import run

    return run(select(["dyestuff/reml"]), ["refimpl_default"], jobs=0, audit=False)


def test_run_has_the_section(dyestuff_run):
    from validation.html_report import render
    from validation.report import terminal

    out = dyestuff_run
    info = out.inference
    assert info["available"] and [r["case"] for r in info["rows"]] == ["dyestuff/reml"]
    row = info["rows"][0]
    assert row["engine"] == ig.REFIMPL_ROW and row["passed"] and row["min_lre"] >= 7
    assert "R rows not computed" in info["r_note"]
    assert out.exit_code == 0 and "inference:" in out.gate_summary
    assert out.to_dict()["inference"]["rows"][0]["families"]["profile"] >= 7
    buf = io.StringIO()
    terminal(out, stream=buf)
    assert "| dyestuff/reml | refimpl_default |" in buf.getvalue()
    assert "Inference: profile intervals" in render(out)


def test_run_fails_when_the_inference_gate_fails(monkeypatch):
    """A refimpl value off in its 7th digit turns a passing run into exit status 1."""
    from validation import inference_values
    from validation.cases import select
    from validation.suite import run

    real = inference_values.refimpl_values

    def wrong(case, *a, **k):
        values, scales = real(case, *a, **k)
        values["profile:Intercept:upper"] *= 1 + 3e-7
        return values, scales

    monkeypatch.setattr(inference_values, "refimpl_values", wrong)
    out = run(select(["dyestuff/reml"]), ["refimpl_default"], jobs=0, audit=False)
    assert out.exit_code == 1 and out.gate_summary.startswith("FAIL: inference")
    assert "profile:Intercept:upper" in out.inference["failures"][0]
    # the JUnit XML carries it too: CI systems see the failing inference row
    import xml.etree.ElementTree as ET

    from validation.junit import render

    root = ET.fromstring(render(out))
    inf = [s for s in root.iter("testsuite") if s.get("name") == "inference"]
    assert len(inf) == 1 and inf[0].get("failures") == "1"
    tc = inf[0].find("testcase")
    assert tc.get("name") == "dyestuff/reml inference"
    assert "profile:Intercept:upper" in tc.find("failure").get("message")


def test_no_inference_and_no_case():
    from validation.inference_grading import run_section

    assert not run_section(["dietox_slope/reml"], False, ["refimpl_default"], [])["available"]
    assert not run_section(["dyestuff/reml"], False, ["statsmodels"], [])["available"]


# --------------------------------------------------------------------------
# R
# --------------------------------------------------------------------------

@pytest.mark.r
def test_r_rows(r, refs):
    cases = [INFERENCE_CASES["dyestuff/reml"], INFERENCE_CASES["ergostool_like/reml"]]
    rows = ig.compute(cases, with_r=True, jobs=0)
    info = ig.section(cases, rows, gated=True, references=refs)
    by = {(x["case"], x["engine"]): x for x in info["rows"]}
    lme4 = by[("dyestuff/reml", "lme4_profile")]
    assert lme4["status"] == "ok" and 3 <= lme4["min_lre"] <= 9      # spline interpolation
    lt = by[("ergostool_like/reml", "lmerTest")]
    assert lt["status"] == "ok" and lt["families"]["satt_df"] >= 6    # finite differences
    kr = by[("ergostool_like/reml", "pbkrtest")]
    assert kr["status"] == "ok" and kr["families"]["kr_df"] >= 8
    assert info["failures"] == [] and set(info["r_digits"]) == {"lme4_profile", "lmerTest",
                                                                 "pbkrtest"}


def test_command_line(tmp_path, capsys):
    """`inference-references` refuses to overwrite without --force; `run --no-inference` parses."""
    from validation.__main__ import build_parser, main

    assert main(["inference-references", "--cases", "dyestuff/reml"]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["inference-references", "--cases", "nope/reml", "--force"]) == 2
    assert build_parser().parse_args(["run", "--no-inference"]).no_inference
    assert not build_parser().parse_args(["run"]).no_inference


def test_write_to_another_directory(tmp_path):
    """The generator writes the CSV and a reference that loads back with the same numbers."""
    written = store.write(["ergostool_like/reml"], directory=tmp_path, log=lambda *_: None)
    assert [p.name for p in written] == ["ergostool_like.reml.json"]
    assert (tmp_path / "ergostool_like.csv").read_text() == \
        (REFERENCE_DIR / "ergostool_like.csv").read_text()
    new, old = store.load("ergostool_like/reml", tmp_path), store.load("ergostool_like/reml")
    assert new["data_sha256"] == old["data_sha256"] and set(new["values"]) == set(old["values"])
    for q, r in old["values"].items():
        assert ig.lre(new["values"][q], r, old["digits"][q]) >= old["digits"][q], q


def test_q3_correlation_limits_against_an_independent_constrained_fit(refs):
    """Independent check of the q = 3 correlation limits (sim_slopes3): at each stored limit
    v, maximise the ML profiled log-likelihood over the whole covariance (its Cholesky
    factor, 6 free entries) with the correlation held at v by SLSQP as an *equality
    constraint* -- not refimpl's unit-row parameterization (profile_correlation.py) and
    not its root finder. The deviance difference there must be z_{0.975}^2 (lme4's
    definition of the limit). Measured: within 1e-10 of it at all six limits; the gap
    moves by about 27 per unit of the correlation there, so this confirms each limit
    to about 1e-11 (a shift of 1e-5 in a limit fails it)."""
    import warnings

    from scipy import optimize, stats

    from refimpl.linalg import tril_pack

    model = INFERENCE_CASES["sim_slopes3/reml"].model()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ml = model.fit(reml=False)
    llf_hat = ml.llf                          # the ML maximum (lme4 profiles a REML fit by ML)
    names = list(ml.cov_re.index)
    rows, cols = np.tril_indices(3)

    def Psi_of(x):
        L = np.zeros((3, 3))
        L[rows, cols] = x
        return L @ L.T

    def llf(x):
        return model.loglike_profile(tril_pack(Psi_of(x)), reml=False)

    def cor(x, a, b):
        P = Psi_of(x)
        return P[a, b] / np.sqrt(P[a, a] * P[b, b])

    x_hat = np.linalg.cholesky(np.asarray(ml.cov_re) / ml.scale)[rows, cols]
    z2 = stats.norm.ppf(0.975) ** 2
    v = refs["sim_slopes3/reml"]["values"]
    checked = 0
    for a, b in ((0, 1), (0, 2), (1, 2)):
        for side in ("lower", "upper"):
            limit = v[f"profile:cor_{names[a]}.{names[b]}:{side}"]
            con = {"type": "eq", "fun": lambda x, a=a, b=b, limit=limit: cor(x, a, b) - limit}
            out = optimize.minimize(lambda x: -llf(x), x_hat, method="SLSQP", constraints=[con],
                                    options={"ftol": 1e-14, "maxiter": 500})
            assert out.success, out.message
            deviance_gap = 2 * (llf_hat + out.fun)
            assert abs(deviance_gap - z2) < 1e-9, (names[a], names[b], side, deviance_gap, z2)
            checked += 1
    assert checked == 6
