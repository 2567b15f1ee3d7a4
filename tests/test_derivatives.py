"""Score and Hessian: against finite differences, dense twins and statsmodels.

Checked at random points, not only at an optimum (STYLE.md habit 5), on random
designs with singleton groups, variance components (unequal column counts) and
a near-singular Psi_re (eigenvalue 1e-4):

* analytic profiled score (profile and sqrt) vs refimpl.gradcheck: tier FD;
* analytic Hessians vs finite differences of the analytic score: tier
  FD_HESSIAN, and symmetric to IDENTITY;
* sqrt score == J' profile score (chain rule): IDENTITY;
* the Schur-complement profiled score/Hessian == the textbook n x n formulas
  (dense.dense_profiled_score / dense_profiled_hessian): IDENTITY;
* (beta, theta) Hessian and scale-profiled score == statsmodels' ``hessian``
  and ``score_full``: 1e-8 relative;
* the user-parameter score ``score_full`` vs finite differences of
  ``loglike_full``: FD.

Worst figures achieved when this file was written (relative; default profile
of 50 examples / ``HYPOTHESIS_PROFILE=long``, 2000 examples):

    score vs FD (profile, sqrt, (beta, theta), user)   1.3e-7  / 5.3e-7
    Hessians vs FD of the analytic score                3.4e-7  / 3.7e-6
    near-singular Psi_re (eigenvalue 1e-4), score vs FD 1.1e-7
    Schur complement vs textbook n x n formulas         2e-14   / 3.5e-13
    sqrt score vs J' profile score                      5e-15   / 8e-15
    hessian, score_full vs statsmodels                  3.2e-14

Finite differences with the eps^(1/3) step are rounding-limited, so those
figures are about the noise of the differences, not of the analytic code.
Run with ``-s`` to see the figures of this run.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refimpl import dense, likelihood, score, simulate
from refimpl.gradcheck import check_gradient, check_hessian
from refimpl.hessian import hessian_beta_theta
from refimpl.model import MixedLM
from refimpl.parameters import (MixedLMParams, jacobian_sqrt_to_profile, pack_profile,
                                profile_to_sqrt, sqrt_to_profile, unpack_profile)
from refimpl.tolerances import FD, FD_HESSIAN, IDENTITY

WORST = {}


def record(name, value):
    WORST[name] = max(WORST.get(name, 0.0), float(value))


@pytest.fixture(scope="module", autouse=True)
def report_worst():
    yield
    print("\nworst achieved figures in test_derivatives.py:")
    for k, v in sorted(WORST.items()):
        print(f"  {k:45s} {v:.2e}")


def normwise(a, b):
    """max |a - b| / max |b|: the relative error of a vector or matrix as a whole."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), np.finfo(float).tiny))


# --------------------------------------------------------------------------
# Random designs and points
# --------------------------------------------------------------------------

def random_model(seed, k_re, n_vc, G=10):
    """Random design: sizes 1..8 with singletons, p = 2, k_re correlated columns,
    n_vc components with 0..3 columns per group (unequal: padding exercised)."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 9, size=G)
    sizes[rng.integers(G)] = 1
    sizes[0] = max(sizes[0], 4)
    n = int(sizes.sum())
    groups = np.repeat(np.arange(G), sizes)[rng.permutation(n)]
    x = rng.standard_normal((n, 2))
    X = np.column_stack([np.ones(n), x[:, 0]])
    Zre = np.column_stack([np.ones(n), x])[:, :k_re]
    vc = {}
    for j in range(n_vc):
        counts = rng.integers(0, 4, size=G)
        counts[0] = 2
        vc[f"v{j}"] = {g: rng.standard_normal((sizes[g], counts[g])) for g in range(G)}
    y = X @ [1.0, -0.5] + 0.8 * rng.standard_normal(n)
    return MixedLM(y, X, groups, exog_re=Zre, exog_vc=vc or None)


def random_theta(rng, k_re, n_vc, min_eig=0.05):
    """A profile point with Psi_re's eigenvalues >= min_eig (so FD steps stay PSD)."""
    B = rng.standard_normal((k_re, k_re))
    Psi_re = B @ B.T / k_re + min_eig * np.eye(k_re)
    return pack_profile(Psi_re, rng.uniform(0.05, 2.0, n_vc))


def random_phi(rng, n_params):
    """A sqrt point with entries of random sign and size 0.2..1.5 (signs matter: L and -L)."""
    return rng.uniform(0.2, 1.5, n_params) * rng.choice([-1.0, 1.0], n_params)


def near_singular_theta(k_re, n_vc, eig=1e-4, seed=0):
    """Psi_re with eigenvalues (1.5, ..., eig): a point 1e-4 from the boundary."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((k_re, k_re)))
    ev = np.linspace(1.5, eig, k_re) if k_re > 1 else np.array([eig])
    return pack_profile(Q @ np.diag(ev) @ Q.T, np.linspace(0.5, 1e-4, n_vc))


designs = st.tuples(st.integers(0, 2 ** 32 - 1), st.integers(1, 3), st.integers(0, 2),
                    st.booleans())


def names(model, sym):
    return [f"{sym}{i}" for i in range(model.layout.n_params)]


# --------------------------------------------------------------------------
# Score vs finite differences
# --------------------------------------------------------------------------

@given(designs)
def test_profile_score_vs_finite_differences(d):
    seed, k_re, n_vc, reml = d
    model = random_model(seed, k_re, n_vc)
    theta = random_theta(np.random.default_rng(seed + 1), k_re, n_vc)
    res = check_gradient(lambda t: model.loglike_profile(t, reml), lambda t: model.score_profile(t, reml), theta,
                         seed=seed % 1000, tol=FD)
    record("score (profile) vs FD, rel", np.nan_to_num(res.worst_rel_err))
    assert res.passed, str(res)


@given(designs)
def test_sqrt_score_vs_finite_differences(d):
    seed, k_re, n_vc, reml = d
    model = random_model(seed, k_re, n_vc)
    rng = np.random.default_rng(seed + 2)
    phi = random_phi(rng, model.layout.n_params)
    res = check_gradient(lambda p: model.loglike_sqrt(p, reml), lambda p: model.score_phi(p, reml),
                         phi, seed=seed % 1000, tol=FD)
    record("score (sqrt) vs FD, rel", np.nan_to_num(res.worst_rel_err))
    assert res.passed, str(res)


@pytest.mark.parametrize("k_re, n_vc", [(1, 2), (2, 1), (3, 0)])
@pytest.mark.parametrize("reml", [True, False], ids=["REML", "ML"])
def test_scores_near_singular_psi(k_re, n_vc, reml):
    """Psi_re with an eigenvalue of 1e-4 (and a component of 1e-4): both parameterizations."""
    model = random_model(7, k_re, n_vc, G=15)
    theta = near_singular_theta(k_re, n_vc)
    res = check_gradient(lambda t: model.loglike_profile(t, reml), lambda t: model.score_profile(t, reml), theta)
    record("score near singular (profile) vs FD, rel", res.worst_rel_err)
    assert res.passed, str(res)
    phi = profile_to_sqrt(theta, k_re)
    res = check_gradient(lambda p: model.loglike_sqrt(p, reml), lambda p: model.score_phi(p, reml), phi)
    record("score near singular (sqrt) vs FD, rel", res.worst_rel_err)
    assert res.passed, str(res)


@pytest.mark.parametrize("reml", [True, False], ids=["REML", "ML"])
def test_sqrt_score_on_the_boundary(reml):
    """Exactly singular Psi (a zero column of L, a zero s_vc): phi is unconstrained, so FD works."""
    model = random_model(3, 2, 1, G=12)
    phi = np.array([0.9, 0.4, 0.0, 0.0])
    res = check_gradient(lambda p: model.loglike_sqrt(p, reml), lambda p: model.score_phi(p, reml), phi)
    assert res.passed, str(res)
    H = check_hessian(lambda p: model.score_phi(p, reml), lambda p: model.hessian_phi(p, reml), phi)
    assert H.passed, str(H)


# --------------------------------------------------------------------------
# Hessians vs finite differences of the analytic score
# --------------------------------------------------------------------------

@given(designs)
def test_profiled_hessians_vs_finite_differences_of_the_score(d):
    seed, k_re, n_vc, reml = d
    model = random_model(seed, k_re, n_vc)
    theta = random_theta(np.random.default_rng(seed + 3), k_re, n_vc)
    H = model.hessian_profile(theta, reml)
    assert normwise(H, H.T) <= IDENTITY
    res = check_hessian(lambda t: model.score_profile(t, reml), lambda t: model.hessian_profile(t, reml),
                        theta, seed=seed % 1000, tol=FD_HESSIAN)
    record("profiled_hessian vs FD of score, rel", np.nan_to_num(res.worst_rel_err))
    assert res.passed, str(res)

    phi = profile_to_sqrt(theta, k_re) * np.random.default_rng(seed).choice([-1.0, 1.0], len(theta))
    Hs = model.hessian_phi(phi, reml)
    assert normwise(Hs, Hs.T) <= IDENTITY
    res = check_hessian(lambda p: model.score_phi(p, reml), lambda p: model.hessian_phi(p, reml),
                        phi, seed=seed % 1000, tol=FD_HESSIAN)
    record("profiled_hessian_sqrt vs FD of score, rel", np.nan_to_num(res.worst_rel_err))
    assert res.passed, str(res)


def _beta_theta_functions(model, reml):
    """(grad, hess) of statsmodels' l(beta, theta), sigma2 profiled, as functions of x = (beta, theta)."""
    p = model.k_fe

    def grad(x):
        pt = likelihood.evaluate_profile(model.stats, model.layout, x[p:])
        return np.concatenate(score.scale_profiled_score(model.stats, model.layout, pt, x[:p], reml))

    def hess(x):
        pt = likelihood.evaluate_profile(model.stats, model.layout, x[p:])
        return hessian_beta_theta(model.stats, model.layout, pt, x[:p], reml)

    def loglike(x):
        pt = likelihood.evaluate_profile(model.stats, model.layout, x[p:])
        return likelihood.loglike_scale_profiled(pt, x[:p], reml)

    return loglike, grad, hess


@given(designs)
def test_beta_theta_score_and_hessian_vs_finite_differences(d):
    """At an arbitrary beta (not beta_hat): the (beta, theta) score, then its Hessian."""
    seed, k_re, n_vc, reml = d
    model = random_model(seed, k_re, n_vc)
    rng = np.random.default_rng(seed + 4)
    theta = random_theta(rng, k_re, n_vc)
    beta = model.fe_params_at(theta) + 0.3 * rng.standard_normal(model.k_fe)
    x = np.concatenate([beta, theta])
    f, g, H = _beta_theta_functions(model, reml)
    res = check_gradient(f, g, x, seed=seed % 1000)
    record("scale-profiled score (beta, theta) vs FD, rel", np.nan_to_num(res.worst_rel_err))
    assert res.passed, str(res)
    Hx = H(x)
    assert normwise(Hx, Hx.T) <= IDENTITY
    res = check_hessian(g, H, x, seed=seed % 1000, tol=FD_HESSIAN)
    record("hessian_beta_theta vs FD of score, rel", np.nan_to_num(res.worst_rel_err))
    assert res.passed, str(res)


# --------------------------------------------------------------------------
# Identities: chain rule, Schur complement == textbook formulas
# --------------------------------------------------------------------------

@given(designs)
def test_sqrt_score_is_J_transpose_profile_score(d):
    seed, k_re, n_vc, reml = d
    model = random_model(seed, k_re, n_vc)
    rng = np.random.default_rng(seed + 5)
    phi = random_phi(rng, model.layout.n_params)
    theta = sqrt_to_profile(phi, k_re)
    J = jacobian_sqrt_to_profile(phi, k_re)
    # model.score goes theta -> canonical phi (positive diagonal): a different phi, same theta
    expected = J.T @ model.score_profile(theta, reml)
    got = model.score_phi(phi, reml)
    record("sqrt score vs J' profile score", normwise(got, expected))
    assert normwise(got, expected) <= IDENTITY


@given(designs)
def test_schur_complement_equals_textbook_formulas(d):
    """Fast profiled score and Hessian == dense n x n textbook formulas (dense.py)."""
    seed, k_re, n_vc, reml = d
    model = random_model(seed, k_re, n_vc)
    theta = random_theta(np.random.default_rng(seed + 6), k_re, n_vc, min_eig=0.0)
    s_err = normwise(model.score_profile(theta, reml), dense.dense_profiled_score(model.design, theta, reml))
    h_err = normwise(model.hessian_profile(theta, reml),
                     dense.dense_profiled_hessian(model.design, theta, reml))
    record("score vs dense textbook", s_err)
    record("profiled_hessian (Schur) vs dense textbook", h_err)
    assert s_err <= IDENTITY and h_err <= IDENTITY


@pytest.mark.parametrize("reml", [True, False], ids=["REML", "ML"])
def test_schur_complement_equals_textbook_at_a_singular_psi(reml):
    model = random_model(11, 2, 2, G=12)
    theta = pack_profile(np.array([[1.0, 1.0], [1.0, 1.0]]), [0.0, 0.7])      # rank 1, a zero vc
    assert normwise(model.score_profile(theta, reml), dense.dense_profiled_score(model.design, theta, reml)) \
        <= IDENTITY
    assert normwise(model.hessian_profile(theta, reml),
                    dense.dense_profiled_hessian(model.design, theta, reml)) <= IDENTITY


# --------------------------------------------------------------------------
# Against statsmodels
# --------------------------------------------------------------------------

def _statsmodels_pair(name, reml):
    import statsmodels.api as sm

    from refimpl import datasets

    if name == "dietox_slope":
        spec = dict(formula="Weight ~ Time", data=datasets.load("dietox"), groups="Pig",
                    re_formula="~Time")
        thetas = [np.array([3.0, -0.1, 0.05]), np.array([0.7, 0.2, 0.9])]
    elif name == "sim_vc_slope":
        sim = simulate.preset("vc_slope", seed=2)
        spec = dict(data=sim.data, **sim.spec)
        thetas = [np.array([0.8, 0.5, 0.4]), np.array([0.05, 1.5, 0.01])]
    else:   # slopes3: a 3 x 3 Psi_re
        sim = simulate.preset("slopes3", seed=1)
        spec = dict(data=sim.data, **sim.spec)
        thetas = [np.array([2.0, 0.6, 1.2, -0.4, 0.2, 0.8])]
    ours = MixedLM.from_formula(**spec)
    theirs = sm.MixedLM.from_formula(**spec)
    theirs.reml, theirs.cov_pen, theirs.fe_pen, theirs._cov_sing = reml, None, None, 0
    return ours, theirs, thetas


def _sm_params(ours, theta, beta):
    from statsmodels.regression.mixed_linear_model import MixedLMParams as SMParams

    Psi_re, psi_vc = unpack_profile(theta, ours.k_re)
    return SMParams.from_components(fe_params=beta, cov_re=Psi_re, vcomp=psi_vc)


STATSMODELS_CASES = ["dietox_slope", "sim_vc_slope", "slopes3"]


@pytest.mark.parametrize("name", STATSMODELS_CASES)
@pytest.mark.parametrize("reml", [True, False], ids=["REML", "ML"])
def test_hessian_equals_statsmodels_at_gls_beta(name, reml):
    """statsmodels drops terms that vanish at beta_hat, so compare there."""
    ours, theirs, thetas = _statsmodels_pair(name, reml)
    for theta in thetas:
        beta_hat = ours.fe_params_at(theta)
        expected, _ = theirs.hessian(_sm_params(ours, theta, beta_hat))
        got = ours.hessian_beta_theta(theta, reml)
        record("hessian vs statsmodels (normwise)", normwise(got, expected))
        assert normwise(got, expected) <= 1e-8, (got, expected)


@pytest.mark.parametrize("name", STATSMODELS_CASES)
@pytest.mark.parametrize("reml", [True, False], ids=["REML", "ML"])
def test_scale_profiled_score_equals_statsmodels_score_full(name, reml):
    ours, theirs, thetas = _statsmodels_pair(name, reml)
    rng = np.random.default_rng(0)
    for theta in thetas:
        beta = ours.fe_params_at(theta) + rng.standard_normal(ours.k_fe)       # arbitrary beta
        expected = np.concatenate(theirs.score_full(_sm_params(ours, theta, beta), calc_fe=True))
        pt = ours.point(theta)
        got = np.concatenate(score.scale_profiled_score(ours.stats, ours.layout, pt, beta, reml))
        record("score_full vs statsmodels (normwise)", normwise(got, expected))
        assert normwise(got, expected) <= 1e-8, (got, expected)
        # and the loglike there, for the same point (guards the params hand-over)
        assert abs(ours.loglike_profile(MixedLMParams(*unpack_profile(theta, ours.k_re), fe_params=beta),
                                reml, profile_fe=False)
                   - theirs.loglike(_sm_params(ours, theta, beta), profile_fe=False)) \
            <= 1e-9 * abs(theirs.loglike(_sm_params(ours, theta, beta), profile_fe=False))


# --------------------------------------------------------------------------
# The full user-parameter score
# --------------------------------------------------------------------------

@pytest.mark.parametrize("k_re, n_vc", [(1, 0), (2, 1), (1, 2), (3, 1)])
@pytest.mark.parametrize("reml", [True, False], ids=["REML", "ML"])
def test_score_full_vs_finite_differences_of_loglike_full(k_re, n_vc, reml):
    """x = (beta, tril(cov_re), vcomp, scale) in user units, nothing profiled."""
    model = random_model(21 + k_re + 3 * n_vc, k_re, n_vc, G=12)
    rng = np.random.default_rng(5)
    p, m = model.k_fe, k_re * (k_re + 1) // 2
    theta = random_theta(rng, k_re, n_vc)
    scale = 0.7
    beta = model.fe_params_at(theta) + 0.2 * rng.standard_normal(p)
    x = np.concatenate([beta, scale * theta, [scale]])

    def split(x):
        Psi_re, vcomp = unpack_profile(x[p:p + m + n_vc], k_re)    # user units here
        return x[:p], Psi_re, vcomp, x[-1]

    res = check_gradient(lambda x: model.loglike_full(*split(x), reml=reml),
                         lambda x: model.score_user(*split(x), reml=reml), x)
    record("score_full (user) vs FD of loglike_full, rel", res.worst_rel_err)
    assert res.passed, str(res)
