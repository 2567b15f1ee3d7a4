"""Fitting: every method reaches the same optimum, and it is lme4's; EM is monotone;
boundary fits are flagged; bad options are refused; maxiter gives a verdict, not a crash."""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from refimpl import MixedLM, MixedLMParams, datasets, simulate
from refimpl.em import em_step
from refimpl.fit import METHODS, ConvergenceWarning
from refimpl.tolerances import LLF_VS_LME4, OPTIMA_LLF, OPTIMA_PARAMS

REFS = json.loads((Path(__file__).parents[1] / "refimpl/data/references/lme4_tight.json").read_text())["cases"]

DIETOX = {
    "dietox_intercept": dict(formula="Weight ~ Time", groups="Pig"),
    "dietox_slope": dict(formula="Weight ~ Time", groups="Pig", re_formula="~Time"),
}


def _fit(model, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(**kw)


def _ref_key(case, reml):
    return f"{case}/{'reml' if reml else 'ml'}"


@pytest.fixture(scope="module")
def dietox():
    return datasets.load("dietox")


@pytest.mark.parametrize("case", sorted(DIETOX))
@pytest.mark.parametrize("reml", [True, False])
def test_every_method_reaches_the_lme4_optimum(dietox, case, reml):
    model = MixedLM.from_formula(data=dietox, **DIETOX[case])
    fits = {m: _fit(model, reml=reml, method=m) for m in METHODS}
    ref = REFS[_ref_key(case, reml)]["result"]
    base = fits["newton"]
    for method, res in fits.items():
        assert res.converged, (method, res.convergence.reason)
        assert abs(res.llf - base.llf) < OPTIMA_LLF, method
        theta, theta0 = res.theta, base.theta
        assert np.allclose(theta, theta0, rtol=OPTIMA_PARAMS, atol=0), (method, theta, theta0)
        # same optimum as lme4 with tight settings (llf absolute, stored reference)
        assert abs(res.llf - ref["llf"]) < LLF_VS_LME4, (method, res.llf, ref["llf"])
        assert res.llf >= ref["llf"] - LLF_VS_LME4
        for name, value in ref["fe_params"].items():
            assert res.fe_params[name] == pytest.approx(value, rel=1e-5)
        assert res.scale == pytest.approx(ref["scale"], rel=1e-5)


def test_statsmodels_default_stops_short_on_dietox_slope(dietox):
    """The known statsmodels failure, shown rather than hidden: its default fit
    is not a stationary point, and ours has a higher likelihood."""
    sm = pytest.importorskip("statsmodels.formula.api")
    from refimpl.audit import audit_point

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        smres = sm.mixedlm("Weight ~ Time", dietox, groups="Pig", re_formula="~Time").fit()
    model = MixedLM.from_formula("Weight ~ Time", dietox, groups="Pig", re_formula="~Time")
    ours = _fit(model)
    audit = audit_point(model, smres.fe_params, smres.cov_re, smres.vcomp, smres.scale, reml=True)
    assert not audit.stationary
    assert audit.llf == pytest.approx(smres.llf, abs=1e-8)     # same likelihood at its point
    assert ours.llf > smres.llf + 1.0


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), reml=st.booleans(),
       preset=st.sampled_from(["balanced", "unbalanced_singletons", "vc_slope", "slopes3"]))
def test_em_never_decreases_the_profiled_llf(seed, reml, preset):
    sim = simulate.preset(preset, seed=seed)
    model = MixedLM.from_formula(data=sim.data, **sim.spec)
    k = model.k_re
    rng = np.random.default_rng(seed)
    phi = np.concatenate([np.eye(k)[np.tril_indices(k)] * rng.uniform(0.2, 3.0),
                          rng.uniform(0.2, 3.0, model.k_vc)])
    llfs = []
    for _ in range(8):
        phi, llf = em_step(model, phi, reml)
        llfs.append(llf)
    steps = np.diff(llfs)
    assert np.all(steps >= -1e-9 * max(1.0, abs(llfs[0]))), steps


@pytest.mark.parametrize("reml", [True, False])
def test_dyestuff2_is_a_singular_fit_with_right_fixed_effects(reml):
    data = datasets.load("Dyestuff2")
    model = MixedLM.from_formula("Yield ~ 1", data, groups="Batch")
    with pytest.warns(ConvergenceWarning, match="boundary"):
        res = model.fit(reml=reml)
    assert res.convergence.boundary
    assert "singular" in res.convergence.reason
    assert res.cov_re.iloc[0, 0] == pytest.approx(0.0, abs=1e-8)
    # on the boundary the model is OLS: beta = mean(y), scale = RSS / n_eff
    y = data["Yield"].to_numpy()
    assert res.fe_params.iloc[0] == pytest.approx(y.mean(), rel=1e-10)
    n_eff = len(y) - 1 if reml else len(y)
    assert res.scale == pytest.approx(np.sum((y - y.mean()) ** 2) / n_eff, rel=1e-8)
    ref = REFS[_ref_key("dyestuff2", reml)]["result"] if _ref_key("dyestuff2", reml) in REFS else None
    if ref is not None:
        assert abs(res.llf - ref["llf"]) < LLF_VS_LME4


def test_maxiter_gives_a_result_marked_not_converged(dietox):
    model = MixedLM.from_formula("Weight ~ Time", dietox, groups="Pig", re_formula="~Time")
    with pytest.warns(ConvergenceWarning, match="not converged"):
        res = model.fit(method="steepest", maxiter=2)
    assert not res.converged
    assert "maxiter" in res.convergence.reason
    assert np.all(np.isfinite(res.fe_params))


def test_free_holds_parameters_fixed(dietox):
    """Independent random intercept and slope: hold the covariance at 0."""
    model = MixedLM.from_formula("Weight ~ Time", dietox, groups="Pig", re_formula="~Time")
    res = _fit(model, method="bfgs", start_params=np.array([1.0, 0.0, 1.0]), free=np.array([1, 0, 1]))
    assert res.cov_re.iloc[0, 1] == 0.0
    assert res.converged, res.convergence.reason
    full = _fit(model)
    assert res.llf < full.llf


@pytest.mark.parametrize("bad, match", [
    (dict(method="trust-ncg"), "method must be one of"),
    (dict(method=[]), "non-empty list"),
    (dict(method=["bfgs", "simplex"]), "method must be one of"),
    (dict(start_params=np.ones(7)), "covariance parameters"),
    (dict(start_params=MixedLMParams.from_components(cov_re=np.array([[1.0, 5.0], [5.0, 1.0]]))),
     "positive"),
    (dict(free=np.array([1, 0.5, 1])), "only 0"),
    (dict(free=np.array([1, np.nan, 1])), "only 0"),
    (dict(maxiter=2.5), "maxiter"),
    (dict(maxiter=-1), "maxiter"),
    (dict(gtol=0.0), "gtol"),
    (dict(niter_sa=-1), "niter_sa"),
    (dict(full_output="yes"), "full_output"),
    (dict(bogus=1), "unexpected keyword"),
    (dict(fe_pen="l2"), "penalty object"),
    (dict(start_params=np.array([1.0, np.nan, 1.0])), "finite"),
    (dict(free=np.ones(4)), "mask"),
    (dict(reml="yes"), "reml"),
    (dict(method="em", free=np.array([1, 0, 1])), "cannot hold"),
])
def test_bad_fit_options_are_refused(dietox, bad, match):
    model = MixedLM.from_formula("Weight ~ Time", dietox, groups="Pig", re_formula="~Time")
    with pytest.raises((TypeError, ValueError), match=match):
        model.fit(**bad)


def test_default_is_em_then_newton_with_a_fallback_when_newton_fails(dietox, monkeypatch):
    """The default runs EM then Newton; if Newton does not pass the verdict
    (here: a Newton that never moves), steepest ascent + BFGS from the EM point
    still reach the optimum."""
    import refimpl.fit as fit_module

    model = MixedLM.from_formula(data=dietox, **DIETOX["dietox_slope"])
    good = _fit(model, full_output=True)
    assert [s for s, _, _ in good.history][:1] == ["em"]
    assert {s for s, _, _ in good.history} == {"em", "newton"}

    def stalled_newton(obj, **kw):
        return obj.x0(), 0, [], "stalled (test double)"

    monkeypatch.setattr(fit_module, "fit_newton", stalled_newton)
    res = _fit(model, full_output=True)
    assert {"steepest", "bfgs"} <= {s for s, _, _ in res.history}
    assert res.converged, res.convergence.reason
    assert abs(res.llf - good.llf) < OPTIMA_LLF


def test_a_start_on_the_boundary_is_moved_inside():
    """start_params=[0.0] (a zero random-intercept variance) reaches the interior optimum.

    In phi the llf is even in s, so its gradient at s = 0 is zero: without the
    move off the boundary every gradient method would stay there.
    """
    rng = np.random.default_rng(11)
    g = np.repeat(np.arange(40), 6)
    y = 1.0 + np.sqrt(0.7) * rng.normal(size=40)[g] + rng.normal(size=240)
    model = MixedLM(y, np.ones((240, 1)), g)
    best = model.fit()
    for method in (None, "bfgs", "newton", "lbfgs"):
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)
            r = model.fit(start_params=[0.0], method=method)
        assert r.converged and not r.convergence.boundary, (method, r.convergence.reason)
        assert abs(r.llf - best.llf) < 1e-8, method
        assert np.asarray(r.cov_re)[0, 0] > 0.3
    held = model.fit(start_params=[0.0], free=np.array([0.0]), method="bfgs")   # asked for: stays
    assert np.asarray(held.cov_re)[0, 0] == 0.0


def test_maxiter_zero_evaluates_the_start():
    rng = np.random.default_rng(2)
    g = np.repeat(np.arange(30), 5)
    y = rng.normal(size=30)[g] + rng.normal(size=150)
    model = MixedLM(y, np.ones((150, 1)), g)
    with pytest.warns(ConvergenceWarning):
        r = model.fit(start_params=[1.0], maxiter=0)
    assert r.n_iter == 0
    assert r.llf == pytest.approx(model.loglike(np.array([1.0])), rel=1e-14)


def test_start_params_in_every_accepted_form_reach_the_same_optimum(dietox):
    """None, packed sqrt (use_sqrt=True), packed profile (use_sqrt=False), with fe_params in
    front, refimpl's MixedLMParams and statsmodels' own: one optimum."""
    from statsmodels.regression.mixed_linear_model import MixedLMParams as SMParams

    kw = dict(groups="Pig", re_formula="~Time")
    sqrt_model = MixedLM.from_formula("Weight ~ Time", dietox, **kw)
    prof_model = MixedLM.from_formula("Weight ~ Time", dietox, use_sqrt=False, **kw)
    best = _fit(sqrt_model).llf
    cov = np.array([[4.0, 0.1], [0.1, 0.04]])
    L = np.linalg.cholesky(cov)
    starts = [
        (sqrt_model, None),
        (sqrt_model, L[np.tril_indices(2)]),
        (sqrt_model, np.concatenate([[15.0, 7.0], L[np.tril_indices(2)]])),
        (prof_model, cov[np.tril_indices(2)]),
        (sqrt_model, MixedLMParams.from_components(np.zeros(2), cov_re=cov)),
        (prof_model, SMParams.from_components(np.zeros(2), cov_re=cov, vcomp=np.zeros(0))),
    ]
    for model, start in starts:
        r = _fit(model, start_params=start)
        assert r.converged, (start, r.convergence.reason)
        assert abs(r.llf - best) < 1e-8, start
