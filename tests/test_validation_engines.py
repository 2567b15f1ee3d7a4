"""Engines of the validation suite: statsmodels, lme4 (live, marked r), and the
safety net (a raising, hanging or NaN adapter becomes a failed row; the run
goes on)."""

import json
import shutil

import pytest

from refimpl.tolerances import LLF_VS_LME4
from validation import references
from validation.__main__ import main
from validation.cases import CASES, derive_lme4
from validation.runner import fit_safely, run_tasks

STORE = references.load()


def test_statsmodels_engine_on_dietox_names_and_values():
    r = fit_safely("statsmodels", "dietox_intercept/reml")
    assert r.status == "ok", r.error
    ref = STORE.result("dietox_intercept/reml")
    assert set(r.fe_params) == {"Intercept", "Time"} == set(ref.fe_params)
    assert list(r.cov_re) == ["Pig"] == list(ref.cov_re)
    assert abs(r.llf - ref.llf) < LLF_VS_LME4
    assert r.converged is True and r.time_s > 0
    assert set(r.random_effects) == set(CASES["dietox_intercept/reml"].data()["Pig"])


def test_statsmodels_dietox_slope_falls_short_and_says_so():
    r = fit_safely("statsmodels", "dietox_slope/reml")
    ref = STORE.result("dietox_slope/reml")
    assert r.status == "ok" and r.converged is False
    assert ref.llf - r.llf > 1.0  # stops > 1 log-likelihood unit short
    assert any("ConvergenceWarning" in w for w in r.warnings)


def test_lme4_formula_derivation():
    spec = CASES["sim_vc_slope/reml"].spec
    t = derive_lme4(spec)
    assert t.formula == "y ~ 1 + x1 + (1 | g) + (1 | g:a) + (0 + x1 | g:s)"
    assert t.varcorr_map[("g:s", "x1")] == ("vcomp", "s")
    crossed = CASES["crossed/ml"]
    assert crossed.lme4().formula == "y ~ 1 + x1 + (1 | a) + (1 | b)"
    # the simulator's own lme4 formula is the same model
    from refimpl.simulate import preset
    from validation.cases import SIM_SEED
    assert preset("vc_slope", SIM_SEED).lme4_formula == t.formula


@pytest.mark.r
def test_lme4_live_reproduces_the_store():
    """One live R fit: lme4_tight on Pastes (REML) equals the stored reference."""
    r = fit_safely("lme4_tight", "pastes/reml")
    assert r.status == "ok", r.error
    ref = STORE.result("pastes/reml")
    assert r.llf == pytest.approx(ref.llf, rel=1e-12)
    assert r.vcomp["cask"] == pytest.approx(ref.vcomp["cask"], rel=1e-8)
    assert r.cov_re["batch"]["batch"] == pytest.approx(ref.cov_re["batch"]["batch"], rel=1e-8)
    assert r.extra["r_fit_time_s"] >= 0 and "conversion_s" in r.extra
    v = r.extra["verification"]
    assert v["kept"] in ("bobyqa", "restart", "independent")
    assert abs(v["independent_criterion_change"]) < 1e-6


def test_failed_timeout_and_nan_rows_and_the_run_goes_on():
    tasks = [("validation.examples:raises", "dyestuff/ml"),
             ("slow=validation.examples:hangs", "dyestuff/ml"),
             ("validation.examples:returns_nan", "dyestuff/ml"),
             ("validation.examples:crashes", "dyestuff/ml"),
             ("validation.examples:reference_values", "dyestuff/ml"),
             ("validation.examples:reference_values", "dyestuff/reml")]
    rows = run_tasks(tasks, jobs=2, timeout=4.0)
    by = {(r.engine, r.case): r for r in rows}
    assert len(rows) == 6
    r = by[("validation.examples:raises", "dyestuff/ml")]
    assert r.status == "failed" and "ValueError: this adapter always fails" in r.error
    r = by[("slow", "dyestuff/ml")]
    assert r.status == "failed" and "timeout" in r.error
    r = by[("validation.examples:returns_nan", "dyestuff/ml")]
    assert r.status == "failed" and "llf" in r.error
    r = by[("validation.examples:crashes", "dyestuff/ml")]
    assert r.status == "failed" and "worker process died" in r.error
    assert by[("validation.examples:reference_values", "dyestuff/ml")].status == "ok"
    assert by[("validation.examples:reference_values", "dyestuff/reml")].status == "ok"


def test_unknown_plugin_and_missing_refimpl_fit_are_rows_not_crashes():
    r = fit_safely("nosuchpkg.mod:fit", "dyestuff/ml")
    assert r.status == "failed" and "cannot import plug-in module" in r.error
    r = fit_safely("refimpl_bfgs", "dyestuff/ml")
    assert r.status in ("ok", "unavailable"), r.error


def test_cli_run_writes_json_and_offline_html(tmp_path):
    code = main(["run", "--cases", "dyestuff/reml", "pastes/ml", "--engines", "statsmodels",
                 "--plugin", "validation.examples:reference_values", "--jobs", "0",
                 "--out", str(tmp_path), "--quiet"])
    assert code == 0
    doc = json.loads((tmp_path / "validation.json").read_text())
    assert doc["gate"]["exit_code"] == 0
    assert doc["gate"]["gated_engines"] == ["validation.examples:reference_values"]
    assert {r["engine"] for r in doc["results"]} == {"statsmodels",
                                                     "validation.examples:reference_values"}
    html = (tmp_path / "validation.html").read_text()
    assert "data:image/png;base64," in html
    assert "http://" not in html and "https://" not in html and "<script" not in html


def test_cli_list_and_bad_pattern(capsys):
    assert main(["list"]) == 0
    assert "dietox_slope/reml" in capsys.readouterr().out
    assert main(["run", "--cases", "no_such_case"]) == 2


def test_regenerate_refuses_without_force(tmp_path, capsys):
    target = tmp_path / "lme4_tight.json"
    shutil.copy(references.STORE, target)
    before = target.read_bytes()
    assert main(["regenerate-references", "--reference", str(target)]) == 2
    assert "--force" in capsys.readouterr().err
    assert target.read_bytes() == before


@pytest.mark.r
def test_regenerate_with_force_keeps_a_backup(tmp_path):
    target = tmp_path / "lme4_tight.json"
    shutil.copy(references.STORE, target)
    before = json.loads(target.read_text())
    assert main(["regenerate-references", "--force", "--cases", "dyestuff/ml",
                 "--reference", str(target)]) == 0
    backups = list((tmp_path / "backup").glob("lme4_tight-*.json"))
    assert len(backups) == 1 and json.loads(backups[0].read_text()) == before
    after = json.loads(target.read_text())
    assert set(after["cases"]) == set(before["cases"])  # merged, nothing lost
    assert after["cases"]["dyestuff/ml"]["result"]["llf"] == \
        pytest.approx(before["cases"]["dyestuff/ml"]["result"]["llf"], rel=1e-12)


def test_missing_r_makes_lme4_rows_unavailable_with_the_install_hint(monkeypatch):
    from validation import rbridge
    from validation.engines import lme4_engine

    def no_r(packages=("lme4",)):
        raise rbridge.RUnavailable(f"R is not installed. Install it with `{rbridge.INSTALL_R}`.")

    monkeypatch.setattr(lme4_engine, "_cache", {})
    monkeypatch.setattr(rbridge, "require_r", no_r)
    for engine in ("lme4", "lme4_tight"):
        r = fit_safely(engine, "dyestuff/ml")
        assert r.status == "unavailable" and rbridge.INSTALL_R in r.error


def test_registry_has_every_model_in_reml_and_ml():
    models = {"dietox_intercept", "dietox_slope", "sleepstudy_corr", "sleepstudy_uncorr",
              "dyestuff", "dyestuff2", "pastes", "crossed", "sim_balanced",
              "sim_unbalanced_singletons", "sim_slopes3", "sim_near_singular", "sim_vc_slope",
              "oneway_offset", "oneway_tiny", "penicillin", "subjects_items", "schools_nested"}
    assert set(CASES) == {f"{m}/{k}" for m in models for k in ("reml", "ml")} | {"insteval/reml"}
    assert CASES["dyestuff2/ml"].boundary and not CASES["sim_near_singular/ml"].well_conditioned
    # a boundary flag can hold for one criterion only
    assert CASES["oneway_tiny/ml"].boundary and not CASES["oneway_tiny/reml"].boundary
    assert CASES["pastes/reml"].lme4().formula == "strength ~ 1 + (1 | batch) + (1 | batch:cask)"
