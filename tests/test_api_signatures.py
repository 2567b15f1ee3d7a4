"""refimpl.MixedLM has statsmodels' public model methods, with statsmodels' signatures.

For every method statsmodels 0.14's MixedLM has, statsmodels' parameters come
first, in the same order, with the same kinds and defaults; refimpl may add
keyword-only parameters after them (extensions are additive). Methods that
statsmodels removed (EM, Estep, steepest_ascent, hessian_full, hessian_sqrt,
starting_values) keep the 2014 seed's signatures, recorded here.
"""

import inspect

import numpy as np
import pytest

from refimpl import MixedLM, MixedLMParams

sm_mlm = pytest.importorskip("statsmodels.regression.mixed_linear_model")

IN_STATSMODELS = ["fit", "fit_regularized", "from_formula", "get_scale", "get_fe_params",
                  "group_list", "hessian", "loglike", "score", "score_full", "score_sqrt",
                  "get_distribution", "predict", "information", "__init__"]

#: The 2014 statsmodels seed's signatures (statsmodels/regression/mixed_linear_model.py, 2014).
SEED = {
    "EM": ["self", "fe_params", "cov_re", "scale", "niter_em=10", "hist=None"],
    "Estep": ["self", "fe_params", "cov_re", "scale"],
    "steepest_ascent": ["self", "params", "n_iter"],
    "hessian_full": ["self", "params"],
    "hessian_sqrt": ["self", "params"],
    "starting_values": ["self", "start_params"],
}


def _positional_prefix(sig):
    """Parameters other than refimpl's keyword-only additions, as 'name=default' strings."""
    out = []
    for p in sig.parameters.values():
        if p.kind is p.KEYWORD_ONLY:
            continue
        out.append(p.name if p.default is p.empty else f"{p.name}={p.default!r}")
    return out


@pytest.mark.parametrize("name", IN_STATSMODELS)
def test_signature_matches_statsmodels(name):
    theirs = inspect.signature(getattr(sm_mlm.MixedLM, name))
    ours = inspect.signature(getattr(MixedLM, name))
    t = list(theirs.parameters.values())
    o = list(ours.parameters.values())
    assert [(p.name, p.kind, p.default) for p in o[:len(t)]] == \
        [(p.name, p.kind, p.default) for p in t], f"{name}: ours {ours}, statsmodels {theirs}"
    assert all(p.kind is p.KEYWORD_ONLY for p in o[len(t):]), f"{name}: additions must be keyword-only"


@pytest.mark.parametrize("name", sorted(SEED))
def test_signature_matches_the_seed(name):
    prefix = _positional_prefix(inspect.signature(getattr(MixedLM, name)))
    assert prefix[:len(SEED[name])] == SEED[name]
    assert len(prefix) <= len(SEED[name]) + 1, f"{name}: {prefix}"   # hessian_sqrt's reml


def test_mixedlmparams_api_matches_statsmodels():
    for name in ("from_packed", "from_components", "get_packed", "copy"):
        theirs = inspect.signature(getattr(sm_mlm.MixedLMParams, name))
        ours = inspect.signature(getattr(MixedLMParams, name))
        assert list(ours.parameters) == list(theirs.parameters), name


def _small_model(**kw):
    rng = np.random.default_rng(5)
    g = np.repeat(np.arange(20), 4)
    X = np.column_stack([np.ones(80), rng.normal(size=80)])
    Z = np.column_stack([np.ones(80), rng.normal(size=80)])
    y = X @ [1.0, 0.5] + np.sum(Z * rng.normal(size=(20, 2))[g], 1) + rng.normal(size=80)
    return MixedLM(y, X, g, exog_re=Z, **kw), sm_mlm.MixedLM(y, X, g, exog_re=Z, **kw)


@pytest.mark.parametrize("use_sqrt", [True, False])
@pytest.mark.parametrize("reml", [True, False])
def test_return_values_match_statsmodels_at_the_same_point(use_sqrt, reml):
    ours, theirs = _small_model(use_sqrt=use_sqrt)
    theirs.reml, theirs.fe_pen, theirs.cov_pen, theirs._freepat = reml, None, None, None
    ours.reml = reml
    cov = np.array([[0.8, 0.1], [0.1, 0.5]])
    fe = np.array([0.9, 0.4])
    p_sm = sm_mlm.MixedLMParams.from_components(fe_params=fe, cov_re=cov, vcomp=np.zeros(0))
    p_us = MixedLMParams.from_components(fe_params=fe, cov_re=cov)
    for profile_fe in (True, False):
        np.testing.assert_allclose(ours.loglike(p_us, profile_fe), theirs.loglike(p_sm, profile_fe),
                                   rtol=1e-9)
        np.testing.assert_allclose(ours.score(p_us, profile_fe=profile_fe),
                                   theirs.score(p_sm.copy(), profile_fe=profile_fe), rtol=1e-7, atol=1e-9)
    packed = p_sm.get_packed(use_sqrt=use_sqrt, has_fe=False)
    np.testing.assert_allclose(ours.loglike(packed), theirs.loglike(packed), rtol=1e-9)
    # statsmodels' Hessian drops the a a'/Q^2 terms (a = X'V^{-1}r), exact only where a = 0:
    # at the GLS beta. refimpl's is exact everywhere, so compare there.
    beta_gls, _ = ours.get_fe_params(cov, np.zeros(0))
    p_sm.fe_params, p_us.fe_params = beta_gls, beta_gls
    H_us, sing_us = ours.hessian(p_us)
    H_sm, sing_sm = theirs.hessian(p_sm)
    np.testing.assert_allclose(H_us, H_sm, rtol=1e-7, atol=1e-9)
    assert sing_us == sing_sm
    fe_us, s_us = ours.get_fe_params(cov, np.zeros(0))
    fe_sm, s_sm = theirs.get_fe_params(cov, np.zeros(0))
    np.testing.assert_allclose(fe_us, fe_sm, rtol=1e-9)
    np.testing.assert_allclose(ours.get_scale(fe, cov, np.zeros(0)), theirs.get_scale(fe, cov, np.zeros(0)),
                               rtol=1e-9)
    np.testing.assert_allclose(ours.predict(p_us), theirs.predict(p_sm), rtol=1e-12)
    for a, b in zip(ours.group_list(ours.endog), theirs.group_list(theirs.endog)):
        np.testing.assert_array_equal(a, b)


def test_loglike_uses_the_reml_flag_of_the_last_fit():
    ours, _ = _small_model()
    r = ours.fit(reml=False)
    assert ours.reml is False
    assert ours.loglike(r.params_object) == pytest.approx(r.llf, rel=1e-12)
    r = ours.fit(reml=True)
    assert ours.loglike(r.params_object) == pytest.approx(r.llf, rel=1e-12)


def test_model_data_names_match_statsmodels():
    ours, theirs = _small_model()
    for attr in ("xnames", "exog_re_names", "exog_re_names_full", "param_names"):
        assert list(getattr(ours.data, attr)) == list(getattr(theirs.data, attr)), attr
    assert list(ours.group_labels) == list(theirs.group_labels)
    for k in theirs.row_indices:
        np.testing.assert_array_equal(ours.row_indices[k], theirs.row_indices[k])


def test_em_estep_steepest_ascent_faces():
    ours, _ = _small_model()
    hist = []
    fe, cov, scale = ours.EM(np.zeros(2), np.eye(2), 1.0, niter_em=3, hist=hist)
    assert len(hist) == 3 and hist[0][0] == "EM"
    p = MixedLMParams.from_components(fe, cov_re=cov / scale)
    llf0 = ours.loglike(p)
    m1x, m1y, m2, m2xx = ours.Estep(fe, cov, scale)
    assert m1x.shape == (2,) and np.isscalar(m1y) and m2.shape == (2, 2) and m2xx.shape == (2, 2)
    steps = []
    p2 = ours.steepest_ascent(p, 5, hist=steps)
    assert ours.loglike(p2) >= llf0 and len(steps) >= 1


def test_estep_equals_its_dense_twin():
    """Estep from the per-group stacks vs explicit V_i = scale I + Z_i cov_re Z_i' per group."""
    ours, _ = _small_model()
    fe, cov, scale = np.array([0.8, 0.3]), np.array([[0.9, 0.2], [0.2, 0.4]]), 1.3
    m1x, m1y, m2, m2xx = ours.Estep(fe, cov, scale)
    X, Z, y = ours.exog, ours.exog_re, ours.endog
    e = [0.0, 0.0, 0.0, 0.0]
    for rows in ours.row_indices.values():
        Xi, Zi, yi = X[rows], Z[rows], y[rows]
        V = scale * np.eye(len(rows)) + Zi @ cov @ Zi.T
        b = cov @ Zi.T @ np.linalg.solve(V, yi - Xi @ fe)
        Ebb = cov - cov @ Zi.T @ np.linalg.solve(V, Zi @ cov) + np.outer(b, b)
        e = [e[0] + Xi.T @ Zi @ b, e[1] + yi @ Zi @ b, e[2] + Ebb, e[3] + Zi.T @ Zi @ Ebb]
    for got, want in zip((m1x, m1y, m2, m2xx), e):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
