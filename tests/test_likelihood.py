"""The log-likelihood: fast kernel vs dense twin vs statsmodels, and its symmetries.

* fast (likelihood.py, through C_i = I + Lambda'Z_i'Z_i Lambda) == dense twin
  (dense.py, explicit V_i) on random designs: tier IDENTITY;
* == statsmodels' ``MixedLM.loglike`` at the same point: tier SAME_POINT;
* invariances (row order, group labels) and equivariances (y -> c y,
  y -> y + X b) that hold exactly in exact arithmetic;
* the full likelihood, maximised over beta and sigma2, is the profiled one.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refimpl import datasets, dense, likelihood, simulate
from refimpl.model import MixedLM
from refimpl.parameters import MixedLMParams, pack_profile, sqrt_to_profile
from refimpl.tolerances import IDENTITY, SAME_POINT, rel_err


# --------------------------------------------------------------------------
# Random designs (array constructor, statsmodels' exog_vc format)
# --------------------------------------------------------------------------

@st.composite
def random_models(draw):
    """(model, theta, reml): a random design and a random, possibly singular, Psi.

    Group sizes 1..6 (singletons included), p = 1..3 fixed effects, k_re = 1..3
    correlated random effects, 0..2 variance components whose column count
    differs from group to group (0..3, so padding is exercised), Psi_re of full
    or deficient rank, variance components possibly zero.
    """
    seed = draw(st.integers(0, 2 ** 32 - 1))
    rng = np.random.default_rng(seed)
    p = draw(st.integers(1, 3))
    k_re = draw(st.integers(1, 3))
    n_vc = draw(st.integers(0, 2))
    G = draw(st.integers(1, 8))
    sizes = draw(st.lists(st.integers(1, 6), min_size=G, max_size=G))
    n_params = k_re * (k_re + 1) // 2 + n_vc
    extra = max(0, p + n_params + 2 - sum(sizes))     # enough rows to identify everything
    sizes[0] += extra
    n = sum(sizes)
    groups = np.repeat(np.arange(G), sizes)
    order = rng.permutation(n)                        # groups interleaved in the rows
    groups = groups[order]
    X = np.column_stack([np.ones(n), rng.standard_normal((n, p - 1))])
    Zre = np.column_stack([np.ones(n), rng.standard_normal((n, k_re - 1))])
    exog_vc = {}
    for j in range(n_vc):
        counts = draw(st.lists(st.integers(0, 3), min_size=G, max_size=G))
        counts[0] = max(counts[0], 1)
        exog_vc[f"v{j}"] = {g: rng.standard_normal((sizes[g], counts[g])) for g in range(G)}
    y = X @ rng.standard_normal(p) + rng.standard_normal(n)
    model = MixedLM(y, X, groups, exog_re=Zre, exog_vc=exog_vc or None)

    rank = draw(st.integers(0, k_re))                 # rank of Psi_re: 0 .. k_re
    B = rng.standard_normal((k_re, rank))
    Psi_re = B @ B.T
    psi_vc = rng.uniform(0.0, 2.0, n_vc) * np.array(draw(st.lists(st.sampled_from([0.0, 1.0]),
                                                                 min_size=n_vc, max_size=n_vc)))
    return model, pack_profile(Psi_re, psi_vc), draw(st.booleans())


def rel(a, b):
    return float(np.max(rel_err(a, b)))


@given(random_models())
def test_fast_equals_dense_profiled(mtr):
    model, theta, reml = mtr
    fast = model.loglike_profile(theta, reml=reml)
    slow = dense.dense_profiled_loglike(model.design, theta, reml)
    assert rel(fast, slow) <= IDENTITY, (fast, slow)
    # beta_hat and sigma2_hat, the things profiled out, agree too
    beta_d, qf_d = dense.dense_gls(model.design, theta)
    pt = model.point(theta)
    assert np.max(np.abs(pt.beta_hat - beta_d)) <= IDENTITY * max(1.0, np.max(np.abs(beta_d)))
    assert rel(pt.qf, qf_d) <= IDENTITY


@given(random_models(), st.floats(0.1, 10.0))
def test_fast_equals_dense_full(mtr, sigma2):
    model, theta, reml = mtr
    rng = np.random.default_rng(1)
    beta = rng.standard_normal(model.k_fe)
    pt = model.point(theta)
    fast = likelihood.full_loglike(pt, beta, sigma2, reml)
    slow = dense.dense_full_loglike(model.design, beta, theta, sigma2, reml)
    assert rel(fast, slow) <= IDENTITY, (fast, slow)
    # sigma2 profiled, beta given (statsmodels' profile_fe=False)
    Q = likelihood.quad_form(pt, beta)
    slow = dense.dense_full_loglike(model.design, beta, theta, Q / pt.n_eff(reml), reml)
    assert rel(likelihood.loglike_scale_profiled(pt, beta, reml), slow) <= IDENTITY


def test_dense_twin_is_really_different_code():
    """A guard for the guard: perturbing Psi changes the dense value (it can fail)."""
    sim = simulate.preset("vc_slope", seed=1)
    model = MixedLM.from_formula(data=sim.data, **sim.spec)
    theta = np.array([0.8, 0.5, 0.4])
    a = dense.dense_profiled_loglike(model.design, theta, True)
    b = dense.dense_profiled_loglike(model.design, theta * (1 + 1e-4), True)
    assert rel(a, model.loglike_profile(theta)) <= IDENTITY
    assert rel(b, model.loglike_profile(theta)) > 1000 * IDENTITY


# --------------------------------------------------------------------------
# Against statsmodels at the same point
# --------------------------------------------------------------------------

def _statsmodels_cases():
    dietox = datasets.load("dietox")
    sim = simulate.preset("vc_slope", seed=2)
    uns = simulate.preset("unbalanced_singletons", seed=4)
    crossed = simulate.preset("crossed", seed=5)
    return {
        "dietox_intercept": (dict(formula="Weight ~ Time", data=dietox, groups="Pig"),
                             [np.array([[3.3]])], []),
        "dietox_slope": (dict(formula="Weight ~ Time", data=dietox, groups="Pig", re_formula="~Time"),
                         [np.array([[3.0, -0.1], [-0.1, 0.05]]), np.array([[0.7, 0.2], [0.2, 0.9]])], []),
        "sim_vc_slope": (dict(data=sim.data, **sim.spec), [np.array([[0.8]]), np.array([[0.05]])],
                         [np.array([0.5, 0.4]), np.array([0.01, 1.3])]),
        "sim_singletons": (dict(data=uns.data, **uns.spec), [np.array([[1.0, 0.3], [0.3, 0.5]])], []),
        "sim_crossed": (dict(data=crossed.data, **crossed.spec), [np.zeros((0, 0))],
                        [np.array([1.0, 0.5]), np.array([2.0, 0.1])]),
    }


STATSMODELS_CASES = _statsmodels_cases()


@pytest.mark.parametrize("name", list(STATSMODELS_CASES))
@pytest.mark.parametrize("reml", [True, False], ids=["REML", "ML"])
def test_loglike_equals_statsmodels(name, reml):
    import statsmodels.api as sm
    from statsmodels.regression.mixed_linear_model import MixedLMParams as SMParams

    spec, Psis, vcs = STATSMODELS_CASES[name]
    ours = MixedLM.from_formula(**spec)
    theirs = sm.MixedLM.from_formula(**spec)
    theirs.reml = reml
    theirs.cov_pen = None
    theirs.fe_pen = None
    rng = np.random.default_rng(0)
    worst = 0.0
    for Psi_re in Psis:
        for psi_vc in (vcs or [np.zeros(0)]):
            theta = pack_profile(Psi_re, psi_vc)
            beta_hat = ours.fe_params_at(theta)
            for profile_fe, beta in ((True, beta_hat),
                                     (False, beta_hat + rng.standard_normal(len(beta_hat)))):
                # regular points only: statsmodels inverts cov_re (inf / nan at the boundary)
                sm_p = SMParams.from_components(fe_params=beta, cov_re=Psi_re, vcomp=psi_vc)
                expected = theirs.loglike(sm_p, profile_fe=profile_fe)
                got = ours.loglike_profile(MixedLMParams(Psi_re, psi_vc, fe_params=beta), reml=reml,
                                   profile_fe=profile_fe)
                worst = max(worst, rel(got, expected))
                assert rel(got, expected) <= SAME_POINT, (theta, profile_fe, got, expected)
    print(f"{name} {'REML' if reml else 'ML'}: worst relative difference vs statsmodels {worst:.2e}")


def test_loglike_at_a_singular_psi_where_statsmodels_cannot_go():
    """A zero random-intercept variance: statsmodels inverts cov_re and returns inf
    (0.14.6); we need no Psi^{-1}, and agree with the dense twin there."""
    sim = simulate.preset("vc_slope", seed=2)
    model = MixedLM.from_formula(data=sim.data, **sim.spec)
    theta = np.array([0.0, 0.5, 0.4])
    assert rel(model.loglike_profile(theta), dense.dense_profiled_loglike(model.design, theta, True)) <= IDENTITY
    # ... and the boundary is the limit from inside
    near = model.loglike_profile(np.array([1e-12, 0.5, 0.4]))
    assert abs(near - model.loglike_profile(theta)) <= 1e-9


# --------------------------------------------------------------------------
# Invariance and equivariance
# --------------------------------------------------------------------------

def _sim_model(data, spec):
    return MixedLM.from_formula(data=data, **spec)


@pytest.mark.parametrize("preset, theta", [("vc_slope", [0.8, 0.5, 0.4]),
                                           ("unbalanced_singletons", [1.0, 0.3, 0.5])])
@pytest.mark.parametrize("reml", [True, False], ids=["REML", "ML"])
def test_invariant_to_row_order_and_group_labels(preset, theta, reml):
    sim = simulate.preset(preset, seed=3)
    base = _sim_model(sim.data, sim.spec)
    rng = np.random.default_rng(11)
    shuffled = sim.data.iloc[rng.permutation(len(sim.data))].reset_index(drop=True)
    labels = sorted(shuffled["g"].unique())
    relabel = dict(zip(labels, [f"h{n:03d}" for n in rng.permutation(len(labels))]))
    shuffled["g"] = shuffled["g"].map(relabel)       # a new label order too
    other = _sim_model(shuffled, sim.spec)
    theta = np.asarray(theta)
    assert rel(other.loglike_profile(theta, reml), base.loglike_profile(theta, reml)) <= IDENTITY
    assert np.allclose(other.score_profile(theta, reml), base.score_profile(theta, reml), rtol=1e-8, atol=1e-8)
    assert np.allclose(other.fe_params_at(theta), base.fe_params_at(theta), rtol=IDENTITY, atol=0)
    # and a wrong relabelling (two groups merged) does change it: the test can fail
    merged = shuffled.copy()
    merged.loc[merged["g"] == relabel[labels[1]], "g"] = relabel[labels[0]]
    assert rel(_sim_model(merged, sim.spec).loglike_profile(theta, reml), base.loglike_profile(theta, reml)) > 1e-6


@pytest.mark.parametrize("c", [3.0, -0.01, 1e5])
@pytest.mark.parametrize("reml", [True, False], ids=["REML", "ML"])
def test_equivariant_to_scaling_y(c, reml):
    """y -> c y: beta_hat -> c beta_hat, qf -> c^2 qf, so the profiled llf moves by -m log|c|.

    (m = n for ML, n - p for REML; log|V| and log|X'V^{-1}X| do not involve y.)
    """
    sim = simulate.preset("vc_slope", seed=6)
    data = sim.data.copy()
    theta = np.array([0.8, 0.5, 0.4])
    base = _sim_model(data, sim.spec)
    data["y"] = c * data["y"]
    scaled = _sim_model(data, sim.spec)
    m = base.n_totobs - (base.k_fe if reml else 0)
    expected = base.loglike_profile(theta, reml) - m * np.log(abs(c))
    assert rel(scaled.loglike_profile(theta, reml), expected) <= IDENTITY
    assert np.allclose(scaled.fe_params_at(theta), c * base.fe_params_at(theta), rtol=IDENTITY,
                       atol=0)
    assert rel(scaled.scale_at(theta, reml), c ** 2 * base.scale_at(theta, reml)) <= IDENTITY


@pytest.mark.parametrize("shift", [1.0, 1e3, 1e8])
@pytest.mark.parametrize("reml", [True, False], ids=["REML", "ML"])
def test_equivariant_to_shifting_y_by_X_b(shift, reml):
    """y -> y + X b: beta_hat -> beta_hat + b and nothing else moves.

    With b of size 1e8, y'y - (...) would lose every digit; OLS centering
    (eq:ols-centering) keeps the llf to about 1e-9 relative. That is close to
    the floor: the shifted y are stored with an error of about 1e8 * eps
    = 2e-8 each, against residuals of order 1.
    """
    sim = simulate.preset("vc_slope", seed=6)
    data = sim.data.copy()
    theta = np.array([0.8, 0.5, 0.4])
    base = _sim_model(data, sim.spec)
    b = shift * np.array([1.0, -0.7])
    data["y"] = data["y"] + b[0] + b[1] * data["x1"]
    moved = _sim_model(data, sim.spec)
    llf0, llf1 = base.loglike_profile(theta, reml), moved.loglike_profile(theta, reml)
    print(f"shift {shift:g}: relative llf change {rel(llf1, llf0):.2e}")
    assert rel(llf1, llf0) <= (IDENTITY if shift < 1e4 else 1e-9)
    # beta_hat moves by b, to the precision b itself is stored with
    d = moved.fe_params_at(theta) - b - base.fe_params_at(theta)
    assert np.max(np.abs(d)) <= 1e-14 * shift + 1e-12


# --------------------------------------------------------------------------
# Profiling is maximisation
# --------------------------------------------------------------------------

@pytest.mark.parametrize("reml", [True, False], ids=["REML", "ML"])
def test_full_loglike_maximised_over_beta_and_sigma2_is_the_profiled_loglike(reml):
    from scipy.optimize import minimize

    sim = simulate.preset("unbalanced_singletons", seed=2)
    model = _sim_model(sim.data, sim.spec)
    theta = np.array([1.2, -0.2, 0.6])
    pt = model.point(theta)
    prof = likelihood.profiled_loglike(pt, reml)
    # exactly, at the argmax (beta_hat, qf / m)
    assert rel(likelihood.full_loglike(pt, pt.beta_hat, pt.sigma2_hat(reml), reml), prof) <= IDENTITY
    # and numerically: nothing in (beta, log sigma2) does better
    p = model.k_fe

    def negll(z):
        return -likelihood.full_loglike(pt, z[:p], np.exp(z[p]), reml)

    res = minimize(negll, np.zeros(p + 1), method="BFGS", options=dict(gtol=1e-10))
    assert -res.fun <= prof + 1e-12 * abs(prof)
    assert rel(-res.fun, prof) <= SAME_POINT
    # a point off the argmax is strictly lower
    assert likelihood.full_loglike(pt, pt.beta_hat + 0.01, pt.sigma2_hat(reml), reml) < prof
    assert likelihood.full_loglike(pt, pt.beta_hat, 1.01 * pt.sigma2_hat(reml), reml) < prof


def test_sqrt_and_profile_evaluations_agree():
    sim = simulate.preset("vc_slope", seed=2)
    model = _sim_model(sim.data, sim.spec)
    phi = np.array([-0.9, 0.7, -0.6])                 # signs do not matter
    theta = sqrt_to_profile(phi, model.k_re)
    assert rel(model.loglike_sqrt(phi), model.loglike_profile(theta)) <= IDENTITY
