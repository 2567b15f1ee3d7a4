"""Satterthwaite and Kenward-Roger degrees of freedom (satterthwaite.py, kenward_roger.py, ddf_tests.py).

* the analytic pieces against central differences at random points
  (dX'V^{-1}X/dtheta, dqf/dtheta, the Hessian in (theta, sigma2));
* lmerTest (Satterthwaite: summary, contest, anova) and pbkrtest (through
  lmerTest's ddf = "Kenward-Roger") on sleepstudy and a simulated unbalanced
  design with a factor: df, p-values and F statistics to 1e-4 relative (the
  achieved digits are printed; lmerTest differentiates numerically, so ~6-8
  digits is what agreement can be);
* one case in high precision (mpmath): the Satterthwaite df of the slope on the
  unbalanced design, with C(x) and the Hessian by mpmath differentiation of
  an mpmath REML likelihood, says which of lmerTest and refimpl is closer.
"""

import warnings

import numpy as np
import pandas as pd
import pytest

from refimpl import ddf_tests, kenward_roger, satterthwaite
from refimpl.cases import build_case
from refimpl.model import MixedLM
from refimpl.parameters import profile_to_user


def unbalanced_data(seed=1, n_groups=12):
    """Random intercept and slope, group sizes 3..11, a 3-level factor: df not integers."""
    rng = np.random.default_rng(seed)
    rows = []
    for g in range(n_groups):
        n_i = int(rng.integers(3, 12))
        b = rng.multivariate_normal([0, 0], [[4.0, 0.5], [0.5, 1.0]])
        for _ in range(n_i):
            x = rng.normal()
            f = "abc"[int(rng.integers(0, 3))]
            y = 1 + 0.5 * x + {"a": 0, "b": 0.3, "c": -0.2}[f] + b[0] + b[1] * x + rng.normal()
            rows.append((f"g{g:02d}", x, f, y))
    return pd.DataFrame(rows, columns=["g", "x", "f", "y"])


@pytest.fixture(scope="module")
def unbalanced_fit():
    d = unbalanced_data()
    return MixedLM.from_formula("y ~ x + C(f)", d, groups="g", re_formula="~x").fit()


@pytest.fixture(scope="module")
def sleep_fit():
    return build_case("sleepstudy").fit()


# --------------------------------------------------------------------------
# Analytic pieces against central differences, at random points
# --------------------------------------------------------------------------

def test_dXtVinvX_dtheta_against_differences(unbalanced_fit):
    model = unbalanced_fit.model
    rng = np.random.default_rng(0)
    theta = unbalanced_fit.theta * np.exp(0.3 * rng.standard_normal(3))
    W_k = satterthwaite.dXtVinvX_dtheta(model, theta)
    for k in range(3):
        h = 1e-6 * max(abs(theta[k]), 1e-2)
        e = np.zeros(3)
        e[k] = h
        fd = (model.point(theta + e).XtVinvX - model.point(theta - e).XtVinvX) / (2 * h)
        np.testing.assert_allclose(W_k[k], fd, rtol=1e-6, atol=1e-8 * np.abs(fd).max())


@pytest.mark.parametrize("reml", [True, False])
def test_qf_gradient_against_differences(unbalanced_fit, reml):
    model = unbalanced_fit.model
    theta = unbalanced_fit.theta * np.array([1.3, 0.7, 0.9])
    g = satterthwaite.qf_gradient(model, theta, reml)
    for k in range(3):
        h = 1e-6 * max(abs(theta[k]), 1e-2)
        e = np.zeros(3)
        e[k] = h
        fd = (model.point(theta + e).qf - model.point(theta - e).qf) / (2 * h)
        assert g[k] == pytest.approx(fd, rel=1e-6)


@pytest.mark.parametrize("reml", [True, False])
def test_hessian_varpar_against_differences(reml):
    model = MixedLM.from_formula("y ~ x + C(f)", unbalanced_data(), groups="g", re_formula="~x")
    res = model.fit(reml=reml)
    H = satterthwaite.hessian_varpar(res)
    x0 = np.concatenate([res.theta, [res.scale]])

    def llf(x):
        theta, s2 = x[:-1], x[-1]
        beta = model.point(theta).beta_hat
        cov_re, vcomp = profile_to_user(theta, model.k_re, s2)
        return model.loglike_full(beta, cov_re, vcomp, s2, reml=reml)

    K = len(x0)
    fd = np.empty((K, K))
    h = 1e-4 * np.abs(x0)
    for i in range(K):
        for j in range(K):
            ei, ej = np.zeros(K), np.zeros(K)
            ei[i], ej[j] = h[i], h[j]
            fd[i, j] = (llf(x0 + ei + ej) - llf(x0 + ei - ej) - llf(x0 - ei + ej)
                        + llf(x0 - ei - ej)) / (4 * h[i] * h[j])
    np.testing.assert_allclose(H, fd, rtol=1e-4, atol=1e-6 * np.abs(fd).max())


def test_vcov_jacobian_against_differences(unbalanced_fit):
    res = unbalanced_fit
    model = res.model
    dC = satterthwaite.vcov_jacobian(res)
    theta, s2 = res.theta, res.scale

    def C(theta, s2):
        return s2 * np.linalg.inv(model.point(theta).XtVinvX)

    for k in range(3):
        h = 1e-6 * abs(theta[k])
        e = np.zeros(3)
        e[k] = h
        np.testing.assert_allclose(dC[k], (C(theta + e, s2) - C(theta - e, s2)) / (2 * h), rtol=1e-6,
                                   atol=1e-9 * np.abs(dC[k]).max())
    np.testing.assert_allclose(dC[3], C(theta, 1.0), rtol=1e-12)


def test_kr_equals_satterthwaite_df_when_balanced(sleep_fit):
    """sleepstudy is balanced: the df of each coefficient is (about) groups - 1 = 17 for both."""
    s = ddf_tests.t_test(sleep_fit, np.eye(2))
    assert s.df.to_numpy() == pytest.approx([17, 17], rel=1e-8)


def test_bad_input(sleep_fit):
    with pytest.raises(ValueError, match="ddf"):
        ddf_tests.t_test(sleep_fit, [0, 1], ddf="containment")
    with pytest.raises(ValueError, match="L must have 2 columns"):
        ddf_tests.t_test(sleep_fit, [0, 1, 0])
    with pytest.raises(ValueError, match="alpha"):
        ddf_tests.t_test(sleep_fit, [0, 1], alpha=2.0)
    ml = sleep_fit.model.fit(reml=False)
    with pytest.raises(ValueError, match="REML"):
        ddf_tests.t_test(ml, [0, 1], ddf="kenward-roger")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b = build_case("dyestuff2").fit()
    with pytest.raises(ValueError, match="boundary"):
        ddf_tests.t_test(b, [1])


# --------------------------------------------------------------------------
# lmerTest and pbkrtest
# --------------------------------------------------------------------------

R_DDF = """
function(d, formula, Lj) {
  fm <- lmerTest::lmer(as.formula(formula), data = d, REML = TRUE,
                       control = lme4::lmerControl(optimizer = "bobyqa",
                                                   optCtrl = list(rhobeg = 2e-4, rhoend = 2e-10)))
  s <- summary(fm)$coefficients
  k <- summary(fm, ddf = "Kenward-Roger")$coefficients
  L <- diag(length(lme4::fixef(fm)))[Lj, , drop = FALSE]
  fs <- lmerTest::contest(fm, L, joint = TRUE)
  fk <- lmerTest::contest(fm, L, joint = TRUE, ddf = "Kenward-Roger")
  list(df = s[, "df"], p = s[, "Pr(>|t|)"], dfkr = k[, "df"], sekr = k[, "Std. Error"],
       pkr = k[, "Pr(>|t|)"],
       F = c(fs[["F value"]], fs[["DenDF"]], fs[["Pr(>F)"]]),
       Fkr = c(fk[["F value"]], fk[["DenDF"]], fk[["Pr(>F)"]]))
}
"""


def lmertest(data, formula, rows):
    from validation import rbridge

    out = rbridge.call(R_DDF, rbridge.to_r_dataframe(data), formula,
                       rbridge.require_r(()).IntVector([r + 1 for r in rows])).value
    return {k: np.array(list(out.rx2(k))) for k in ("df", "p", "dfkr", "sekr", "pkr", "F", "Fkr")}


def digits(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return -np.log10(np.maximum(np.abs(a - b) / np.abs(b), 1e-16))


DDF_CASES = {
    "sleepstudy": lambda: (build_case("sleepstudy"), __import__("refimpl").datasets.load("sleepstudy"),
                           "Reaction ~ Days + (Days | Subject)", [0, 1]),
    "unbalanced": lambda: (MixedLM.from_formula("y ~ x + C(f)", unbalanced_data(), groups="g",
                                                re_formula="~x"),
                           unbalanced_data(), "y ~ f + x + (x | g)", [1, 2]),
}


@pytest.mark.r
@pytest.mark.parametrize("case", sorted(DDF_CASES))
def test_ddf_match_lmertest_and_pbkrtest(r, case):
    model, data, formula, rows = DDF_CASES[case]()
    res = model.fit()
    R = lmertest(data, formula, rows)
    p = res.k_fe
    s = ddf_tests.t_test(res, np.eye(p))
    k = ddf_tests.t_test(res, np.eye(p), ddf="kenward-roger")
    L = np.eye(p)[rows]
    fs = ddf_tests.f_test(res, L).iloc[0]
    fk = ddf_tests.f_test(res, L, ddf="kenward-roger").iloc[0]
    table = pd.DataFrame({
        "satterthwaite df": digits(s.df, R["df"]), "satterthwaite p": digits(s["Pr(>|t|)"], R["p"]),
        "KR df": digits(k.df, R["dfkr"]), "KR se": digits(k["Std. Error"], R["sekr"]),
        "KR p": digits(k["Pr(>|t|)"], R["pkr"])}, index=res.exog_names)
    F = pd.DataFrame({"satterthwaite": digits([fs["F value"], fs.DenDF, fs["Pr(>F)"]], R["F"]),
                      "KR": digits([fk["F value"], fk.DenDF, fk["Pr(>F)"]], R["Fkr"])},
                     index=["F", "DenDF", "p"])
    print(f"\n{case}: agreeing digits with lmerTest / pbkrtest\n{table.round(1)}\n{F.round(1)}")
    print("refimpl df:", s.df.to_numpy(), "KR df:", k.df.to_numpy(), "F ddf:", fs.DenDF, fk.DenDF)
    assert np.all(table.to_numpy() >= 4), table
    assert np.all(F.to_numpy() >= 4), F


@pytest.mark.r
def test_anova_matches_lmertest(r):
    from validation import rbridge

    data = unbalanced_data()
    res = MixedLM.from_formula("y ~ x + C(f)", data, groups="g", re_formula="~x").fit()
    ours = ddf_tests.anova(res)
    out = rbridge.call("function(d) { fm <- lmerTest::lmer(y ~ f + x + (x | g), d, "
                       "control = lme4::lmerControl(optimizer = 'bobyqa', optCtrl = "
                       "list(rhobeg = 2e-4, rhoend = 2e-10))); a <- anova(fm, type = 3); "
                       "list(F = a[['F value']], ddf = a[['DenDF']], p = a[['Pr(>F)']]) }",
                       rbridge.to_r_dataframe(data)).value
    np.testing.assert_allclose(ours["F value"].astype(float), list(out.rx2("F")), rtol=1e-4)
    np.testing.assert_allclose(ours["DenDF"].astype(float), list(out.rx2("ddf")), rtol=1e-4)
    np.testing.assert_allclose(ours["Pr(>F)"].astype(float), list(out.rx2("p")), rtol=1e-4)


# --------------------------------------------------------------------------
# High precision: which of lmerTest and refimpl is right
# --------------------------------------------------------------------------

def mp_satterthwaite_df(res, data, spec, L, dps=40):
    """nu of (eq:satterthwaite) at refimpl's optimum, every derivative by mpmath differentiation
    of an independent mpmath REML likelihood (certified/mp_likelihood.py) at 40 digits."""
    from mpmath import mp

    from certified.mp_likelihood import MpModel
    from certified.spec import build_spec

    mp.dps = dps
    mm = MpModel(build_spec(data, spec, reml=True))
    p = mm.spec.p
    m = mm.n_eff()
    Lmp = [mp.mpf(float(v)) for v in L]

    def pieces(t0, t1, t2):
        L00 = mp.sqrt(t0)
        L10 = t1 / L00
        phi = [L00, L10, mp.sqrt(t2 - L10 ** 2)]
        t = mm.terms(phi)
        W = mp.matrix([row[:p] for row in t.S[:p]])
        w = mp.matrix([row[p] for row in t.S[:p]])
        Winv = W ** -1
        qf = t.S[p][p] - (w.T * Winv * w)[0]
        return t.logdetV, mp.log(mp.det(W)), qf, Winv

    def llf(t0, t1, t2, s2):
        ldV, ldW, qf, _ = pieces(t0, t1, t2)
        return -ldV / 2 - ldW / 2 - m * mp.log(2 * mp.pi * s2) / 2 - qf / (2 * s2)

    def var(t0, t1, t2, s2):
        Winv = pieces(t0, t1, t2)[3]
        Lv = mp.matrix(Lmp)
        return s2 * (Lv.T * Winv * Lv)[0]

    x = [mp.mpf(float(v)) for v in res.theta]
    x.append(pieces(*x)[2] / m)                       # sigma2_hat(theta) in high precision
    K = len(x)
    H = mp.matrix(K, K)
    for i in range(K):
        for j in range(i, K):
            order = [0] * K
            order[i] += 1
            order[j] += 1
            H[i, j] = H[j, i] = mp.diff(llf, x, tuple(order))
    g = mp.matrix([mp.diff(var, x, tuple(int(k == i) for k in range(K))) for i in range(K)])
    A = (-H) ** -1
    v = var(*x)
    return 2 * v ** 2 / (g.T * A * g)[0]


@pytest.mark.r
def test_satterthwaite_df_high_precision(r):
    """refimpl's analytic df against a 40-digit evaluation at the same point; lmerTest's beside."""
    data = unbalanced_data()
    spec = dict(formula="y ~ C(f) + x", groups="g", re_formula="~x")
    res = MixedLM.from_formula(data=data, **spec).fit()
    L = np.eye(res.k_fe)[3]                                  # the slope of x
    exact = float(mp_satterthwaite_df(res, data, spec, L))
    ours = ddf_tests.t_test(res, L).df.iloc[0]
    theirs = lmertest(data, "y ~ f + x + (x | g)", [1, 2])["df"][3]
    d_ours, d_theirs = digits(ours, exact), digits(theirs, exact)
    print(f"\nSatterthwaite df of x: exact (mpmath, at refimpl's optimum) {exact!r}\n"
          f"  refimpl {ours!r} ({d_ours:.1f} digits), lmerTest {theirs!r} ({d_theirs:.1f} digits)")
    assert d_ours >= 10
    assert d_ours > d_theirs
