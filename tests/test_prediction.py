"""results.predict and results.simulate (refimpl/prediction.py).

* marginal predictions are X beta_hat (statsmodels' ``results.predict``);
* conditional predictions equal X beta + Z b computed by hand from the BLUPs,
  on the fitted rows, on a DataFrame run through the formula, and with
  variance components (Pastes);
* rows of a group the fit has not seen get the marginal mean;
* lme4's ``predict(fit, re.form=NULL)`` (marked r), compared at lme4's own
  estimates: see test_conditional_predictions_match_lme4;
* simulate reproduces with a seed, has the model's mean and covariance.
"""

import pickle

import numpy as np
import pandas as pd
import pytest

from refimpl import datasets
from refimpl.model import MixedLM

#: Algebraic identities computed two ways (tolerance tier 1).
IDENTITY = 1e-10


def rel_err(a, b):
    """max |a - b| / max |b|: a relative error of the whole vector (no blow-up at zeros)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


@pytest.fixture(scope="module")
def dietox():
    data = datasets.load("dietox")
    res = MixedLM.from_formula("Weight ~ Time", data, groups="Pig", re_formula="~Time").fit()
    return data, res


def _by_hand(data, res):
    """X beta + Z b, with b looked up per row from results.random_effects."""
    X = np.column_stack([np.ones(len(data)), data["Time"].to_numpy(float)])
    b = np.array([res.random_effects[p].to_numpy() for p in data["Pig"]])
    return X @ res.fe_params.to_numpy() + np.einsum("nk,nk->n", X, b), X @ res.fe_params.to_numpy()


def test_marginal_and_conditional_on_the_fitted_rows(dietox):
    data, res = dietox
    cond, marg = _by_hand(data, res)
    assert isinstance(res.predict(), np.ndarray)                     # statsmodels: exog=None gives an array
    assert rel_err(res.predict(), marg) < IDENTITY
    assert rel_err(res.predict(include_random=True), cond) < IDENTITY
    assert rel_err(res.fittedvalues.to_numpy(), cond) < IDENTITY
    assert rel_err(res.resid.to_numpy(), data["Weight"].to_numpy() - cond) < IDENTITY


def test_dataframe_goes_through_the_formula(dietox):
    data, res = dietox
    new = data.iloc[::7].copy()
    new.index = pd.RangeIndex(1000, 1000 + len(new))
    cond, marg = _by_hand(new, res)
    p = res.predict(new, include_random=True)
    assert isinstance(p, pd.Series) and p.index.equals(new.index)
    assert rel_err(p.to_numpy(), cond) < IDENTITY
    assert rel_err(res.predict(new).to_numpy(), marg) < IDENTITY
    # arrays in, arrays out: the same rows given as arrays, with groups and exog_re
    X = np.column_stack([np.ones(len(new)), new["Time"].to_numpy(float)])
    pa = res.predict(X, groups=new["Pig"].to_numpy(), exog_re=X, include_random=True)
    assert isinstance(pa, np.ndarray) and rel_err(pa, cond) < IDENTITY


def test_new_groups_get_the_marginal_mean(dietox):
    data, res = dietox
    new = data.iloc[:6].copy()
    new["Pig"] = ["never-seen"] * 3 + [data["Pig"].iloc[0]] * 3
    p = res.predict(new, include_random=True).to_numpy()
    marg = res.predict(new).to_numpy()
    cond, _ = _by_hand(data.iloc[:6], res)
    assert np.array_equal(p[:3], marg[:3])
    assert rel_err(p[3:], cond[3:]) < IDENTITY
    assert not np.allclose(p[3:], marg[3:])                          # the BLUP does move the known pig


def test_variance_components_conditional_prediction():
    data = datasets.load("Pastes")
    res = MixedLM.from_formula("strength ~ 1", data, groups="batch", re_formula="1",
                               vc_formula={"cask": "0 + C(cask)"}).fit()
    by_hand = np.array([res.fe_params.iloc[0] + res.random_effects[b]["batch"]
                        + res.random_effects[b][f"cask[C(cask)[{c}]]"]
                        for b, c in zip(data["batch"], data["cask"])])
    assert rel_err(res.predict(include_random=True), by_hand) < IDENTITY
    assert rel_err(res.predict(data, include_random=True).to_numpy(), by_hand) < IDENTITY


def test_predict_after_pickling_rebuilds_the_design(dietox):
    data, res = dietox
    back = pickle.loads(pickle.dumps(res))
    new = data.iloc[:20]
    assert rel_err(back.predict(new, include_random=True).to_numpy(),
                   res.predict(new, include_random=True).to_numpy()) < IDENTITY


def test_predict_arguments_are_checked(dietox):
    data, res = dietox
    with pytest.raises(ValueError, match="exog must have 2 columns"):
        res.predict(np.ones((3, 3)))
    with pytest.raises(TypeError, match="include_random"):
        res.predict(include_random="yes")
    with pytest.raises(ValueError, match="groups"):
        res.predict(np.ones((3, 2)), include_random=True)
    with pytest.raises(ValueError, match="missing labels"):
        res.predict(data.iloc[:2].assign(Pig=[None, "4601"]), include_random=True)
    with pytest.raises(ValueError, match="groups is only used"):
        res.predict(groups=["4601"])


def test_simulate_is_reproducible_and_has_the_model_moments(dietox):
    data, res = dietox
    a, b = res.simulate(3, seed=11), res.simulate(3, seed=11)
    assert isinstance(a, pd.DataFrame) and a.shape == (len(data), 3) and a.index.equals(data.index)
    assert a.equals(b) and not a.equals(res.simulate(3, seed=12))
    # moments of one pig's rows over many draws: mean X beta, covariance sigma2 (Z Psi Z' + I)
    rows = np.flatnonzero(data["Pig"].to_numpy() == data["Pig"].iloc[0])
    sims = res.simulate(4000, seed=5).to_numpy()[rows]
    X = np.column_stack([np.ones(len(rows)), data["Time"].to_numpy(float)[rows]])
    V = X @ res.cov_re.to_numpy() @ X.T + res.scale * np.eye(len(rows))
    se_mean = np.sqrt(np.diag(V) / 4000)
    assert np.all(np.abs(sims.mean(axis=1) - X @ res.fe_params.to_numpy()) < 5 * se_mean)
    assert rel_err(np.cov(sims), V) < 0.15          # 4000 draws: relative error of a covariance ~ sqrt(2/4000) per entry
    # conditional draws centre on the fitted values
    c = res.simulate(2000, seed=6, conditional=True).to_numpy()
    assert np.abs(c.mean(axis=1) - res.fittedvalues.to_numpy()).max() < 5 * np.sqrt(res.scale / 2000) * 1.5
    with pytest.raises(ValueError, match="nsim"):
        res.simulate(0)


def test_simulate_arrays_in_arrays_out():
    rng = np.random.default_rng(3)
    g = np.repeat(np.arange(20), 5)
    X = np.column_stack([np.ones(100), rng.standard_normal(100)])
    y = X @ [1.0, 2.0] + rng.standard_normal(20)[g] + rng.standard_normal(100)
    res = MixedLM(y, X, g).fit()
    s = res.simulate(2, seed=0)
    assert isinstance(s, np.ndarray) and s.shape == (100, 2)
    assert isinstance(res.predict(X, groups=g, include_random=True), np.ndarray)
    assert rel_err(res.predict(X, groups=g, include_random=True), res.fittedvalues) < IDENTITY


@pytest.mark.r
def test_conditional_predictions_match_lme4(r, dietox):
    """refimpl's X beta + Z b evaluated at lme4's own estimates equals lme4's predict(re.form=NULL).

    Comparing at *one* parameter point is what makes a tight comparison
    meaningful: lme4's default optimizer stops near, not at, the REML optimum
    (llf differences ~1e-7 move beta and b by ~1e-5 relative), so refimpl's
    predictions at its own optimum would differ from lme4's by the optimizers'
    disagreement, not by the prediction formula. Here refimpl's BLUP formula
    (eq:blup) is evaluated at lme4's theta, and beta is lme4's (GLS beta at
    that theta: eq:gls-beta), so the two predictions must agree to rounding.
    """
    from validation import rbridge

    data, res = dietox
    r.globalenv["d"] = rbridge.to_r_dataframe(data[["Weight", "Time", "Pig"]])
    r.r('fit <- lme4::lmer(Weight ~ Time + (Time | Pig), data = d, REML = TRUE)')
    pred_r = np.array(r.r('unname(predict(fit, re.form = NULL))'))
    marg_r = np.array(r.r('unname(predict(fit, re.form = NA))'))
    theta_r = np.array(r.r('lme4::getME(fit, "theta")'))               # lower Cholesky of Psi_re, column-major
    beta_r = np.array(r.r('unname(lme4::fixef(fit))'))
    # lme4's theta = (L11, L21, L22); refimpl's phi = tril(L) row-major = (L11, L21, L22) for k_re = 2
    from refimpl.results import MixedLMResults
    from types import SimpleNamespace
    verdict = SimpleNamespace(passed=True, boundary=False, reason="lme4's point")
    at_r = MixedLMResults(res.model, theta_r, reml=True, convergence=verdict)
    assert rel_err(at_r.fe_params.to_numpy(), beta_r) < 1e-8
    mine = at_r.predict(include_random=True)
    err = rel_err(mine, pred_r)
    print(f"conditional prediction vs lme4 at lme4's estimates: max relative error {err:.2e}")
    assert err < 1e-8
    assert rel_err(at_r.predict(), marg_r) < 1e-8
    # and at refimpl's own optimum the difference is the optimizers' (a looser, honest bound)
    own = rel_err(res.predict(include_random=True), pred_r)
    print(f"at refimpl's own optimum vs lme4's default fit: max relative error {own:.2e}")
    assert own < 1e-4
