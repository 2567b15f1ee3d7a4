"""Return types, tests, intervals, summary arguments and persistence, against statsmodels.

statsmodels is run at refimpl's optimum (started there, zero iterations, as in
test_results.py), so t_test / wald_test / f_test / conf_int agree at
SAME_POINT; the types are statsmodels' (arrays in, arrays out; formula in,
pandas out), checked on dietox built both ways.
"""

import io
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest

from refimpl.model import MixedLM
from refimpl.results import MixedLMResults
from refimpl.tolerances import SAME_POINT

from test_results import close, data, ours, phi_hat, theirs_same_point

sm = pytest.importorskip("statsmodels.regression.mixed_linear_model")

VALUE_ATTRS = ["params", "bse", "fe_params", "bse_fe", "bse_re", "tvalues", "pvalues", "resid",
               "fittedvalues", "cov_re", "cov_re_unscaled", "normalized_cov_params"]


def _array_pair(reml=True):
    """dietox's slope model given as arrays, fitted by refimpl and by statsmodels at the same point."""
    d = data("dietox")
    X = np.column_stack([np.ones(len(d)), d["Time"].to_numpy(float)])
    y, g = d["Weight"].to_numpy(), d["Pig"].to_numpy()
    m = MixedLM(y, X, g, exog_re=X)
    r = MixedLMResults(m, phi_hat("dietox_slope", reml), reml=reml,
                       convergence=ours("dietox_slope", reml).convergence)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = sm.MixedLM(y, X, g, exog_re=X).fit(start_params=phi_hat("dietox_slope", reml), reml=reml,
                                               method="bfgs", maxiter=0)
    return r, s


@pytest.mark.parametrize("attr", VALUE_ATTRS + ["cov_params", "conf_int"])
def test_types_and_labels_as_statsmodels(attr):
    pairs = {"formula": (ours("dietox_slope", True), theirs_same_point("dietox_slope", True)),
             "arrays": _array_pair()}
    for how, (r, s) in pairs.items():
        mine, theirs = getattr(r, attr), getattr(s, attr)
        if attr in ("cov_params", "conf_int"):
            mine, theirs = mine(), theirs()
        assert type(mine) is type(theirs), (how, attr, type(mine), type(theirs))
        if isinstance(theirs, (pd.Series, pd.DataFrame)):
            assert list(mine.index) == list(theirs.index), (how, attr)
        if isinstance(theirs, pd.DataFrame):
            assert list(mine.columns) == list(theirs.columns), (how, attr)
        close(np.asarray(mine), np.asarray(theirs), 1e-7)
    r, s = pairs["arrays"]
    for g in s.random_effects:                    # a dict of Series keyed by label, for arrays too
        assert list(r.random_effects[g].index) == list(s.random_effects[g].index)


def test_tests_agree_with_statsmodels():
    r, s = ours("dietox_slope", True), theirs_same_point("dietox_slope", True)
    R = np.array([[0.0, 1.0], [1.0, -2.0]])
    tr, ts = r.t_test(R), s.t_test(R)
    close(tr.effect, ts.effect, SAME_POINT)
    close(tr.sd, ts.sd, 1e-7)
    close(tr.tvalue, ts.tvalue, 1e-7)
    close(tr.conf_int(0.1), ts.conf_int(0.1), 1e-7)
    assert tr.distribution == ts.distribution == "norm"
    for hyp in ["Time = 7", "Intercept = 15, Time = 7"]:
        wr = r.wald_test(hyp)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ws = s.wald_test(hyp, scalar=True)
        close(wr.statistic, ws.statistic, 1e-7)
        close(wr.pvalue, ws.pvalue, 1e-6)
        assert wr.distribution == ws.distribution and wr.df_denom == ws.df_denom
        fr, fs = r.f_test(hyp), s.f_test(hyp)
        close(fr.fvalue, fs.fvalue, 1e-7)
        close(fr.pvalue, fs.pvalue, 1e-6)
        assert (fr.df_num, fr.df_denom) == (fs.df_num, fs.df_denom)
    # the t test of one coefficient is bse_fe's z, and its square the Wald chi2
    one = r.t_test(np.array([0.0, 1.0]))
    assert one.tvalue.shape == one.sd.shape == (1, 1) and np.ndim(one.pvalue) == 0   # statsmodels' shapes
    close(one.tvalue[0, 0], r.tvalues["Time"], SAME_POINT)
    close(r.wald_test(np.r_[0, 1.0, 0, 0, 0]).statistic, r.tvalues["Time"] ** 2, SAME_POINT)


def test_conf_int_arguments():
    r, s = ours("dietox_slope", True), theirs_same_point("dietox_slope", True)
    close(r.conf_int(alpha=0.1).to_numpy(), s.conf_int(alpha=0.1).to_numpy(), 1e-7)
    sub = r.conf_int(cols=["Time", 0])
    assert list(sub.index) == ["Time", "Intercept"]
    close(sub.to_numpy(), r.conf_int().to_numpy()[[1, 0]], 0.0)
    for bad in (95, 0.0, 1.0):
        with pytest.raises(ValueError, match="alpha"):
            r.conf_int(alpha=bad)
    with pytest.raises(TypeError, match="alpha"):
        r.conf_int(alpha="0.05")
    with pytest.raises(ValueError, match="cols"):
        r.conf_int(cols=["nope"])
    with pytest.raises(ValueError, match="r_matrix"):
        r.wald_test(np.ones((1, 3)))
    with pytest.raises(ValueError, match="r_matrix"):
        r.t_test("Nope = 0")


def test_summary_arguments_as_statsmodels():
    r = ours("dietox_slope", True)
    assert list(r.summary().tables[1].index) == r.param_names
    t = r.summary(xname_fe=["a", "b"], xname_re=["u", "v", "w"], title="T", alpha=0.1).tables[1]
    assert list(t.index) == ["a", "b", "u", "v", "w"] and "[0.05" in t.columns
    assert str(r.summary(title="My title")).lstrip().startswith("My title")
    with pytest.raises(ValueError, match="xname_fe"):
        r.summary(xname_fe=["a"])
    with pytest.raises(ValueError, match="alpha"):
        r.summary(alpha=5)


def test_aic_bic_nan_under_reml_as_statsmodels():
    r, s = ours("dietox_slope", True), theirs_same_point("dietox_slope", True)
    assert np.isnan(r.aic) and np.isnan(s.aic) and np.isnan(r.bic)
    r, s = ours("dietox_slope", False), theirs_same_point("dietox_slope", False)
    close([r.aic, r.bic], [s.aic, s.bic], 1e-9)
    assert (r.k_fe, r.k_re, r.k_vc, r.k_re2, r.method) == (s.k_fe, s.k_re, s.k_vc, s.k_re2, s.method)


@pytest.mark.parametrize("case", ["dietox_slope", "pastes_vc"])
def test_pickle_save_load(case, tmp_path):
    r = ours(case, True)
    r.random_effects, r.cov_params()                      # filled caches travel too
    back = pickle.loads(pickle.dumps(r))
    for attr in VALUE_ATTRS:
        close(np.asarray(getattr(back, attr)), np.asarray(getattr(r, attr)), 0.0)
    assert str(back.summary()) == str(r.summary())
    r.save(tmp_path / "res.pkl")
    close(MixedLMResults.load(tmp_path / "res.pkl").params.to_numpy(), r.params.to_numpy(), 0.0)
    buf = io.BytesIO()
    r.save(buf)
    buf.seek(0)
    assert MixedLMResults.load(buf).llf == r.llf


def test_remove_data_keeps_the_estimates():
    r = ours("dietox_slope", True)
    full = ours("dietox_slope", True)
    r.model = MixedLM.from_formula("Weight ~ Time", data("dietox"), groups="Pig", re_formula="~Time")
    r.remove_data()
    assert r.model.design.y.size == 0
    close(r.bse.to_numpy(), full.bse.to_numpy(), 0.0)
    close(r.random_effects["4601"].to_numpy(), full.random_effects["4601"].to_numpy(), 0.0)
    new = data("dietox").iloc[:5]
    close(r.predict(new, include_random=True).to_numpy(), full.predict(new, include_random=True).to_numpy(),
          1e-12)
    assert "Mixed Linear Model" in str(r.summary())
    with pytest.raises(ValueError, match="remove_data"):
        r.fittedvalues
    for name in ("_cov_params", "on_boundary", "_b_hat", "random_effects", "random_effects_cov"):
        getattr(full, name)                               # the caches remove_data fills
    full.__dict__.pop("_fitted", None)
    d = full.model.design
    dropped = d.y.nbytes + d.X.nbytes + d.Z.nbytes + d.group_index.nbytes
    assert len(pickle.dumps(full)) - len(pickle.dumps(r)) > 0.9 * dropped


def test_lrtest_refuses_what_it_cannot_check():
    from refimpl.lrtest import lrtest

    small, big = ours("dietox_intercept", False), ours("dietox_slope", False)
    assert lrtest(small, big).df == 2
    with pytest.raises(TypeError, match="res_small"):
        lrtest(theirs_same_point("dietox_intercept", False), big)
    cut = ours("dietox_slope", False)
    cut.model = MixedLM.from_formula("Weight ~ Time", data("dietox"), groups="Pig", re_formula="~Time")
    cut.remove_data()
    with pytest.raises(ValueError, match="remove_data"):
        lrtest(small, cut)


def test_profile_re_arguments_are_checked():
    r = ours("dietox_slope", True)
    with pytest.raises(ValueError, match="num_low"):
        r.profile_re(0, "re", num_low=-1)          # 0 is allowed: a one-sided profile
    with pytest.raises(ValueError, match="dist_high"):
        r.profile_re(0, "re", dist_high=float("nan"))
    with pytest.raises(ValueError, match="vtype"):
        r.profile_re(0, "xx")
