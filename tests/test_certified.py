"""Certified values (package ``certified``, ``refimpl/data/certified/``): are they right, and used right?

* the mpmath evaluator is an independent cross-check of refimpl's likelihood
  (random points, 1e-12 relative) and of its own dense twin (1e-35);
* the ANOVA closed form and the Newton path agree to the digits claimed;
* stored files match their data (SHA-256) and are stationary points
  (re-verified at 40 digits without rerunning Newton);
* refimpl's default fit reaches CERTIFIED_LRE_MIN on every non-boundary case;
* a deliberately perturbed answer scores a low LRE and fails.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from mpmath import mp

from certified import CERTIFIED_LRE_MIN, designs, store
from certified.anova import anova_estimates, is_balanced_oneway
from certified.certify import _flatten, agreement_digits
from certified.mp_likelihood import MpModel
from certified.newton import second_derivative
from certified.spec import build_spec
from refimpl import tolerances
from refimpl.model import MixedLM
from validation.cases import CASES, data_sha256
from validation.compare import CERTIFIED_KNOWN_SHORTFALLS, compare_to_certified
from validation.record import EngineResult

ENTRIES = store.load_all()
NON_BOUNDARY = sorted(n for n, e in ENTRIES.items() if not e["boundary"])


def _models(name):
    c = CASES[name]
    s = c.spec
    spec = build_spec(c.data(), s, c.reml)
    ref = MixedLM.from_formula(s["formula"], c.data(), groups=s["groups"],
                               re_formula=s["re_formula"], vc_formula=s["vc_formula"])
    return c, spec, MpModel(spec), ref


def test_store_covers_the_promised_cases():
    wanted = {f"{m}/{r}" for m in store.DEFAULT_CASES for r in ("reml", "ml")}
    assert wanted <= set(ENTRIES), sorted(wanted - set(ENTRIES))
    for name, e in ENTRIES.items():
        assert e["min_digits"] >= 12, (name, e["min_digits"])
        assert e["certification"]["dps"] == [50, 80]
        assert e["boundary"] == CASES[name].boundary or name == "sim_near_singular/ml", name


@pytest.mark.parametrize("name", ["sleepstudy_corr/reml", "pastes/ml", "sim_vc_slope/ml",
                                  "dietox_slope/reml", "penicillin/reml"])
def test_mp_likelihood_matches_refimpl_at_random_points(name):
    """Independent code, same number: the two agree to ~1e-12 away from the optimum too."""
    c, spec, mm, ref = _models(name)
    rng = np.random.default_rng(7)
    phi0 = np.array([float(s) for s in ENTRIES[name]["certification"]["phi"]])
    mp.dps = 30
    for _ in range(3):
        phi = phi0 * (1 + 0.5 * rng.standard_normal(len(phi0)))
        ours = float(mm.profiled_loglike(phi.tolist()))
        theirs = ref.loglike_sqrt(phi, c.reml)
        assert abs(ours - theirs) <= 1e-12 * abs(theirs), (phi, ours, theirs)


@pytest.mark.parametrize("name", ["pastes/reml", "sleepstudy_uncorr/ml", "dyestuff2/ml"])
def test_push_through_evaluator_matches_its_dense_twin(name):
    _, spec, mm, _ = _models(name)
    mp.dps = 45
    rng = np.random.default_rng(3)
    phi = (np.abs(rng.standard_normal(spec.n_phi)) + 0.1).tolist()
    fast, dense = mm.profiled_loglike(phi), mm.profiled_loglike(phi, dense=True)
    assert abs(fast - dense) <= mp.mpf("1e-35") * abs(dense)


@pytest.mark.parametrize("name", sorted(n for n in ENTRIES if ENTRIES[n]["second_path"]))
def test_anova_closed_form_agrees_with_newton_to_the_claimed_digits(name):
    e = ENTRIES[name]
    c = CASES[name]
    spec = build_spec(c.data(), c.spec, c.reml)
    assert is_balanced_oneway(spec)
    mp.dps = 60
    flat = _flatten(anova_estimates(spec))
    stored = store.flat_values(e)
    for q, v in flat.items():
        key = q.replace("fe_params[", "fe[").replace("bse_fe.", "bse.")
        text, digits = stored[key]
        assert agreement_digits(v, mp.mpf(text)) >= digits, (q, v, text, digits)
    assert e["second_path"]["min_agreement"] >= e["min_digits"]


def test_stored_data_checksums_match_and_designs_regenerate():
    for name, e in ENTRIES.items():
        assert e["data_sha256"] == data_sha256(CASES[name].data()), name
    for d in designs.DESIGNS:
        assert designs.load(d).equals(designs.generate(d)), d


@pytest.mark.parametrize("name", ["dyestuff/reml", "pastes/ml", "sim_near_singular/ml",
                                  "dyestuff2/reml", "oneway_tiny/reml"])
def test_stored_values_are_stationary_and_reproduced(name):
    problems = store.check_entry(CASES[name], ENTRIES[name], dps=30)
    assert not problems, problems


def test_check_catches_a_tampered_value_and_a_moved_point():
    e = json.loads(json.dumps(ENTRIES["dyestuff/reml"]))
    e["values"]["scale"] = "2451.250001"
    assert any("scale" in p for p in store.check_entry(CASES["dyestuff/reml"], e, dps=30))
    e = json.loads(json.dumps(ENTRIES["dyestuff/reml"]))
    e["certification"]["phi"] = [str(float(e["certification"]["phi"][0]) * (1 + 1e-9))]
    assert any("not stationary" in p for p in store.check_entry(CASES["dyestuff/reml"], e,
                                                                 dps=30))


def test_kkt_sign_distinguishes_boundary_from_interior():
    """At phi = 0 the likelihood curves down for Dyestuff2 (boundary) and up for Dyestuff."""
    mp.dps = 30
    for name, sign in (("dyestuff2/reml", -1), ("dyestuff/reml", 1)):
        _, _, mm, _ = _models(name)
        assert sign * second_derivative(mm.profiled_loglike, [0], 0, 30) > 0, name


@pytest.fixture(scope="module")
def refimpl_default_results():
    from validation.engines.refimpl_engine import RefimplEngine

    eng = RefimplEngine("default")
    return {n: eng.fit(CASES[n]) for n in ENTRIES}


def test_refimpl_default_reaches_the_certified_gate(refimpl_default_results):
    worst = {}
    for name in NON_BOUNDARY:
        comps = compare_to_certified(CASES[name], refimpl_default_results[name],
                                     ENTRIES[name], gated=True)
        assert comps and all(x.lre is not None for x in comps), name
        worst[name] = min(x.lre for x in comps)
    short = {c for (e, c) in CERTIFIED_KNOWN_SHORTFALLS if e == "refimpl_default"}
    failing = {n: v for n, v in worst.items() if v < CERTIFIED_LRE_MIN}
    assert set(failing) == short, (
        f"below LRE {CERTIFIED_LRE_MIN}: {failing}; known shortfalls {sorted(short)} "
        "(a fixed shortfall must be removed from compare.CERTIFIED_KNOWN_SHORTFALLS)")


@pytest.mark.parametrize("name", ["penicillin/reml", "penicillin/ml"])
def test_crossed_penicillin_is_certified_and_refimpl_reaches_the_gate(name):
    """A crossed design (24 plates x 6 samples, one group, two variance components),
    fitted through the lme4-syntax front end: every quantity at LRE >= CERTIFIED_LRE_MIN."""
    import refimpl
    from refimpl import datasets
    from validation.engines.refimpl_engine import RefimplEngine

    e, case = ENTRIES[name], CASES[name]
    assert e["min_digits"] >= 25 and not e["boundary"]
    assert set(e["values"]["vcomp"]) == {"plate", "sample"}
    r = RefimplEngine("default").fit(case)
    comps = compare_to_certified(case, r, e, gated=True)
    assert comps and min(x.lre for x in comps) >= CERTIFIED_LRE_MIN, \
        [(x.quantity, x.lre) for x in comps]
    res = refimpl.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)", datasets.load("Penicillin"),
                       REML=case.reml)
    for k, v in e["values"]["vcomp"].items():
        assert -np.log10(abs(res.vcomp[k] - float(v)) / abs(float(v)) + 1e-300) >= CERTIFIED_LRE_MIN
    assert -np.log10(abs(res.llf - float(e["values"]["llf"])) / abs(float(e["values"]["llf"]))
                     + 1e-300) >= CERTIFIED_LRE_MIN


def test_boundary_cases_score_too(refimpl_default_results):
    for name in sorted(set(ENTRIES) - set(NON_BOUNDARY)):
        comps = compare_to_certified(CASES[name], refimpl_default_results[name],
                                     ENTRIES[name], gated=True)
        assert all(not x.gated for x in comps), name
        assert min(x.lre for x in comps if x.lre is not None) >= 5, name


def test_a_perturbed_answer_scores_low_and_fails():
    name = "sleepstudy_corr/reml"
    e, case = ENTRIES[name], CASES[name]
    v = e["values"]
    exact = EngineResult(
        "fake", name, fe_params={k: float(x) for k, x in v["fe_params"].items()},
        bse_fe={k: float(x) for k, x in v["bse_fe"]["conditional"].items()},
        cov_re={a: {b: float(x) for b, x in row.items()} for a, row in v["cov_re"].items()},
        vcomp={}, scale=float(v["scale"]), llf=float(v["llf"]),
        extra={"bse_fe_definition": "conditional"})
    comps = compare_to_certified(case, exact, e, gated=True)
    assert min(x.lre for x in comps) >= tolerances.LRE_CAP - 1 and all(x.passed for x in comps)
    exact.fe_params["Days"] *= 1 + 3e-5       # 4.5 digits: below the fe gate of 5
    bad = {x.quantity: x for x in compare_to_certified(case, exact, e, gated=True)}
    assert 4 <= bad["fe[Days]"].lre <= 5 and bad["fe[Days]"].passed is False
    assert bad["fe[Days]"].counts
    # an engine without the conditional definition is scored against the observed one
    exact.extra = {}
    assert any(q.startswith("bse.observed") for q in
               (x.quantity for x in compare_to_certified(case, exact, e, gated=True)))


def test_build_refuses_to_overwrite(tmp_path):
    e = ENTRIES["dyestuff/reml"]
    store.save(e, store_dir=tmp_path)
    with pytest.raises(store.RefusedOverwrite):
        store.save(e, store_dir=tmp_path)
    store.save(e, force=True, store_dir=tmp_path)
    assert store.load("dyestuff/reml", tmp_path) == e
