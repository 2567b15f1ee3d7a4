"""Profile-likelihood intervals (refimpl/profile_ci.py): identities, a closed form, lme4.

* the constrained log-likelihood and its analytic gradient (eq:profile-gradient)
  against the plain likelihood and central differences, at random points;
* the balanced one-way design (Dyestuff): every limit against an independent
  mpmath computation from the ANOVA sums of squares (50 digits);
* lme4's ``confint(method = "profile")`` on Dyestuff, sleepstudy, Pastes and
  Penicillin (tests marked ``r``). lme4 interpolates zeta with a spline through
  the points it profiled, so it agrees with our root-found limits to about
  4-8 significant digits; with ``delta.cutoff = 1/64`` (a finer grid, slow
  tests) to 6-12, which says the remaining difference is lme4's interpolation
  (the closed-form test says which side is right);
* a simulated q = 3 block (3 sds, 3 correlations): the coordinates that hold one
  correlation fixed (eq:cor-fixed-chol) and their Jacobian at random points, all
  ten intervals against lme4 (default grid, and 1/32 in a slow test), and a
  correlation whose profile stays inside up to 1 (the limit is 1, as in lme4).
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from mpmath import mp

from refimpl import datasets
from refimpl.cases import build_case
from refimpl.model import MixedLM
from refimpl.parameters import profile_to_user, unpack_profile
from refimpl.profile_ci import (Profiler, conf_int_profile, constrained_llf, profile,
                                profile_params)


@pytest.fixture(scope="module")
def dyestuff_fit():
    return build_case("dyestuff").fit()


@pytest.fixture(scope="module")
def sleep_fit():
    return build_case("sleepstudy").fit()


# --------------------------------------------------------------------------
# Identities and derivatives
# --------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["sleepstudy", "pastes"])
def test_constrained_llf_value_and_gradient(name):
    model = build_case(name)
    rng = np.random.default_rng(3)
    res = model.fit(reml=False)
    for param in profile_params(model):
        if param.kind == "cor":
            continue          # the cor objective is l_p itself (model.score is tested elsewhere)
        theta = res.theta * np.exp(0.2 * rng.standard_normal(len(res.theta)))
        if model.k_re == 2:
            theta[1] = 0.3 * np.sqrt(theta[0] * theta[2])
        value = {"sd": 0.8, "sigma": 1.1, "beta": 1.0}[param.kind] * (
            np.sqrt(res.scale * theta[param.k]) if param.kind == "sd" else
            np.sqrt(res.scale) if param.kind == "sigma" else res.fe_params.iloc[param.k] + 1.0)
        l, g = constrained_llf(model, param, value, theta)
        # the value against model.loglike_full at the implied (beta, sigma2)
        pt = model.point(theta)
        if param.kind == "sd":
            s2, beta = value ** 2 / theta[param.k], pt.beta_hat
        elif param.kind == "sigma":
            s2, beta = value ** 2, pt.beta_hat
        else:
            Phi = np.linalg.inv(pt.XtVinvX)
            j = param.k
            beta = pt.beta_hat + Phi[:, j] * (value - pt.beta_hat[j]) / Phi[j, j]
            r = beta - pt.beta_hat
            s2 = (pt.qf + r @ pt.XtVinvX @ r) / pt.n_obs
        cov_re, vcomp = profile_to_user(theta, model.k_re, s2)
        assert l == pytest.approx(model.loglike_full(beta, cov_re, vcomp, s2, reml=False), rel=1e-12)
        # the gradient against central differences in theta
        for k in range(len(theta)):
            h = 1e-6 * theta[k] if theta[k] != 0 else 1e-6
            e = np.zeros(len(theta))
            e[k] = h
            fd = (constrained_llf(model, param, value, theta + e)[0]
                  - constrained_llf(model, param, value, theta - e)[0]) / (2 * h)
            assert g[k] == pytest.approx(fd, rel=1e-5, abs=1e-6 * max(1.0, abs(l)) / max(theta[k], 1e-3))


def test_zeta_is_zero_at_the_estimate_and_signed(sleep_fit):
    pr = Profiler(sleep_fit)
    for p in pr.params:
        est = pr.estimate(p)
        assert abs(pr.zeta(p, est)) < 1e-5
        step = 0.05 * abs(est) if p.kind != "cor" else 0.05
        assert pr.zeta(p, est + step) > 0 > pr.zeta(p, est - step)


def test_limits_are_roots(dyestuff_fit):
    ci = conf_int_profile(dyestuff_fit, alpha=0.1)
    pr = Profiler(dyestuff_fit)
    z = 1.6448536269514722
    for name, row in ci.iterrows():
        p = pr.param(name)
        assert pr.zeta(p, row.lower) == pytest.approx(-z, abs=1e-7)
        assert pr.zeta(p, row.upper) == pytest.approx(z, abs=1e-7)


def test_profile_traces(dyestuff_fit):
    tr = profile(dyestuff_fit, n_points=7)
    assert set(tr.param) == {"sd_Batch", "sigma", "Intercept"}
    for _, g in tr.groupby("param"):
        assert np.all(np.diff(g.zeta.to_numpy()) > 0)       # monotone increasing profiles
        if g.value.iloc[0] == 0.0:
            assert g.zeta.iloc[0] > -2.5758293035489      # the profile of sd_Batch stops at 0
        else:
            assert g.zeta.iloc[0] == pytest.approx(-2.5758293035489, abs=1e-6)
        assert g.zeta.iloc[-1] == pytest.approx(2.5758293035489, abs=1e-6)


# --------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------

def test_bad_alpha(dyestuff_fit):
    for alpha in (0, 1, 1.5, -0.1):
        with pytest.raises(ValueError, match="alpha"):
            conf_int_profile(dyestuff_fit, alpha=alpha)
    with pytest.raises(TypeError, match="alpha"):
        conf_int_profile(dyestuff_fit, alpha="0.05")


def test_boundary_fit_refused():
    model = build_case("dyestuff2")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = model.fit()
    with pytest.raises(ValueError, match="boundary"):
        conf_int_profile(res)


def test_held_parameter_refused():
    model = build_case("sleepstudy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = model.fit(start_params=[1.0, 0.0, 0.05], free=[1, 0, 1], method="newton")
    with pytest.raises(ValueError, match="free"):
        conf_int_profile(res)


def test_unknown_parameter(dyestuff_fit):
    with pytest.raises(ValueError, match="unknown parameter"):
        conf_int_profile(dyestuff_fit, params=["sd_Nope"])


# --------------------------------------------------------------------------
# The balanced one-way design in closed form (mpmath, 50 digits)
# --------------------------------------------------------------------------

def oneway_profile_limits(y, groups, z):
    """ML profile limits of sd_a, sigma and mu from the ANOVA sums of squares.

    l = -n/2 log 2pi - a(m-1)/2 log s2e - a/2 log lam - SSE/(2 s2e) - (SSA + n d^2)/(2 lam),
    lam = s2e + m s2a, d = ybar - mu (certified/anova.py's eq:anova-ss). Each profile
    maximises over the rest in closed form, except sd_a's (a 1-d root in s2e).
    """
    mp.dps = 50
    labels = sorted(set(groups))
    ys = [[mp.mpf(float(v)) for v, g in zip(y, groups) if g == lab] for lab in labels]
    a, m = len(ys), len(ys[0])
    n = a * m
    means = [mp.fsum(r) / m for r in ys]
    ybar = mp.fsum(means) / a
    SSA = m * mp.fsum((mi - ybar) ** 2 for mi in means)
    SSE = mp.fsum((v - mi) ** 2 for r, mi in zip(ys, means) for v in r)

    def l(s2e, lam, d=0):
        return (-n * mp.log(2 * mp.pi) / 2 - a * (m - 1) * mp.log(s2e) / 2 - a * mp.log(lam) / 2
                - SSE / (2 * s2e) - (SSA + n * d ** 2) / (2 * lam))

    s2e_hat, lam_hat = SSE / (a * (m - 1)), SSA / a
    assert lam_hat > s2e_hat
    lmax = l(s2e_hat, lam_hat)

    def zeta(lv, est, v):
        return mp.sign(v - est) * mp.sqrt(max(2 * (lmax - lv), 0))

    def prof_sigma(v):                      # lam = max(v^2, SSA/a) maximises over lam >= s2e
        return l(v ** 2, max(v ** 2, SSA / a))

    def prof_mu(d):
        return l(s2e_hat, max(s2e_hat, (SSA + n * d ** 2) / a), d)

    def prof_sda(v):                        # d l / d s2e = 0 with lam = s2e + m v^2
        dl = lambda s: (-a * (m - 1) / (2 * s) - a / (2 * (s + m * v ** 2)) + SSE / (2 * s ** 2)
                        + SSA / (2 * (s + m * v ** 2) ** 2))
        s = mp.findroot(dl, s2e_hat)
        return l(s, s + m * v ** 2)

    sda_hat, sig_hat = mp.sqrt((lam_hat - s2e_hat) / m), mp.sqrt(s2e_hat)
    out = {}
    for name, prof, est in (("sd", prof_sda, sda_hat), ("sigma", prof_sigma, sig_hat),
                            ("mu", prof_mu, mp.mpf(0))):
        lims = []
        for side, guess in ((-1, 0.5), (1, 1.8)):
            start = est * guess if est != 0 else side * 2 * mp.sqrt(lam_hat / n) * z
            lims.append(mp.findroot(lambda v: zeta(prof(v), est, v) - side * z, start))
        out[name] = lims
    out["mu"] = [ybar - out["mu"][1], ybar - out["mu"][0]]   # d = ybar - mu flips the sides
    return {k: [float(v) for v in lim] for k, lim in out.items()}


def test_balanced_oneway_closed_form(dyestuff_fit):
    data = datasets.load("Dyestuff")
    z = 1.959963984540054
    exact = oneway_profile_limits(data["Yield"].to_numpy(), data["Batch"].tolist(), z)
    ci = conf_int_profile(dyestuff_fit)
    for ours, ref in (("sd_Batch", "sd"), ("sigma", "sigma"), ("Intercept", "mu")):
        np.testing.assert_allclose(ci.loc[ours, ["lower", "upper"]].to_numpy(float), exact[ref],
                                   rtol=1e-8)


# --------------------------------------------------------------------------
# lme4
# --------------------------------------------------------------------------

R_CONFINT = """
function(d, formula, cutoff) {
  fm <- lme4::lmer(as.formula(formula), data = d, REML = TRUE,
                   control = lme4::lmerControl(optimizer = "bobyqa"))
  pr <- profile(fm, signames = FALSE, delta.cutoff = cutoff)
  ci <- confint(pr, level = 0.95)
  list(names = rownames(ci), lower = ci[, 1], upper = ci[, 2])
}
"""

LME4_CASES = {
    "dyestuff": ("Dyestuff", "Yield ~ 1 + (1 | Batch)",
                 {"sd_(Intercept)|Batch": "sd_Batch", "sigma": "sigma", "(Intercept)": "Intercept"}),
    "sleepstudy": ("sleepstudy", "Reaction ~ Days + (Days | Subject)",
                   {"sd_(Intercept)|Subject": "sd_Subject", "cor_Days.(Intercept)|Subject":
                    "cor_Subject.Days", "sd_Days|Subject": "sd_Days", "sigma": "sigma",
                    "(Intercept)": "Intercept", "Days": "Days"}),
    "pastes": ("Pastes", "strength ~ 1 + (1 | batch) + (1 | batch:cask)",
               {"sd_(Intercept)|batch:cask": "sd_cask", "sd_(Intercept)|batch": "sd_batch",
                "sigma": "sigma", "(Intercept)": "Intercept"}),
}


def lme4_confint(r, data, formula, cutoff=1 / 8):
    from validation import rbridge

    out = rbridge.call(R_CONFINT, rbridge.to_r_dataframe(data), formula, cutoff).value
    names = list(out.rx2("names"))
    return pd.DataFrame({"lower": list(out.rx2("lower")), "upper": list(out.rx2("upper"))},
                        index=names)


def digits(a, b):
    """Agreeing significant digits (log relative error), capped at 15; 0 vs 0 is 15."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    err = np.abs(a - b) / np.maximum(np.abs(b), 1e-300)
    return np.where((a == b), 15.0, np.minimum(15.0, -np.log10(np.maximum(err, 1e-300))))


def compare(ours, theirs, mapping):
    rows = []
    for rname, oname in mapping.items():
        for side in ("lower", "upper"):
            rows.append((oname, side, ours.loc[oname, side], theirs.loc[rname, side]))
    df = pd.DataFrame(rows, columns=["param", "side", "refimpl", "lme4"])
    df["digits"] = digits(df.refimpl, df.lme4)
    return df


def check_against_lme4(case, cutoff, min_digits):
    dname, formula, mapping = LME4_CASES[case]
    ours = conf_int_profile(build_case(case).fit())
    theirs = lme4_confint(None, datasets.load(dname), formula, cutoff=cutoff)
    df = compare(ours, theirs, mapping)
    print(f"\n{case} (lme4 delta.cutoff = {cutoff})\n", df.to_string())
    assert np.all(df.digits >= min_digits), df.to_string()


@pytest.mark.r
def test_profile_ci_matches_lme4_dyestuff_fine_grid(r):
    """With lme4's grid refined (delta.cutoff = 1/64) its spline error drops to ~1e-6."""
    check_against_lme4("dyestuff", 1 / 64, 6)


@pytest.mark.r
@pytest.mark.parametrize("case", ["pastes", "sleepstudy"])
def test_profile_ci_matches_lme4_default_grid(r, case):
    """lme4's default confint(method = "profile") (delta.cutoff = 1/8): 1e-4 relative or better."""
    check_against_lme4(case, 1 / 8, 4)


@pytest.mark.r
@pytest.mark.slow
@pytest.mark.parametrize("case", ["pastes", "sleepstudy"])
def test_profile_ci_matches_lme4_fine_grid(r, case):
    """delta.cutoff = 1/64: 1e-5 relative or better (measured: 8.9 to 12 digits)."""
    check_against_lme4(case, 1 / 64, 5)


@pytest.mark.r
def test_profile_ci_penicillin_matches_lme4(r):
    """Crossed plate x sample, fitted as one group with two variance components."""
    from validation import rbridge

    if "Penicillin" in datasets.available():
        data = datasets.load("Penicillin")
    else:
        pen = rbridge.call("function() { data('Penicillin', package = 'lme4'); "
                           "d <- get('Penicillin'); d$plate <- as.character(d$plate); "
                           "d$sample <- as.character(d$sample); d }").value
        data = pd.DataFrame({n: list(pen.rx2(n)) for n in ("diameter", "plate", "sample")})
    data = data.assign(one=1)
    model = MixedLM.from_formula("diameter ~ 1", data, groups="one", re_formula="0",
                                 vc_formula={"plate": "0 + C(plate)", "sample": "0 + C(sample)"})
    ours = conf_int_profile(model.fit())
    theirs = lme4_confint(r, data[["diameter", "plate", "sample"]],
                          "diameter ~ 1 + (1 | plate) + (1 | sample)", cutoff=1 / 8)
    mapping = {"sd_(Intercept)|plate": "sd_plate", "sd_(Intercept)|sample": "sd_sample",
               "sigma": "sigma", "(Intercept)": "Intercept"}
    df = compare(ours, theirs, mapping)
    print("\npenicillin (lme4 delta.cutoff = 1/8)\n", df.to_string())
    assert np.all(df.digits >= 4), df.to_string()


@pytest.mark.r
@pytest.mark.slow
def test_timing_against_lme4(r):
    """Profile CIs for every parameter of sleepstudy (random slopes), refimpl and lme4, one run."""
    import time

    from validation import rbridge

    d = rbridge.to_r_dataframe(datasets.load("sleepstudy"))
    fm = r.r("function(d) lme4::lmer(Reaction ~ Days + (Days | Subject), d)")(d)
    t_r = r.r("function(fm) system.time(confint(fm, method = 'profile'))[['elapsed']]")(fm)[0]
    res = build_case("sleepstudy").fit()
    t0 = time.perf_counter()
    conf_int_profile(res)
    t_py = time.perf_counter() - t0
    print(f"\nsleepstudy profile CIs: refimpl {t_py:.2f} s, lme4 confint(method = 'profile') {t_r:.2f} s")
    assert t_py < 10 * t_r


def test_callers_model_is_not_changed():
    """The ML refits run on a copy: fit() records reml on the model it fits (statsmodels' habit)."""
    model = build_case("dyestuff")
    res = model.fit()
    conf_int_profile(res, params=["sigma"])
    assert model.reml is True and res.reml is True


# --------------------------------------------------------------------------
# Correlations of a q x q block (eq:cor-fixed-chol), q = 3
# --------------------------------------------------------------------------

from refimpl.profile_constrained import _Coords  # noqa: E402
from refimpl.profile_correlation import CorrelationFixed  # noqa: E402

#: The q = 3 case: y ~ x1 + x2 + (1 + x1 + x2 | g), 40 groups of 8, seeded.
Q3_FORMULA = "y ~ x1 + x2 + (1 + x1 + x2 | g)"
Q3_MAPPING = {"sd_(Intercept)|g": "sd_g", "cor_x1.(Intercept)|g": "cor_g.x1",
              "cor_x2.(Intercept)|g": "cor_g.x2", "sd_x1|g": "sd_x1", "cor_x2.x1|g": "cor_x1.x2",
              "sd_x2|g": "sd_x2", "sigma": "sigma", "(Intercept)": "Intercept", "x1": "x1",
              "x2": "x2"}


def simulated_q3(seed=20261130, G=40, n=8):
    """Random intercept and two random slopes, sds (1, 0.7, 0.5), correlations (0.4, -0.3, 0.2)."""
    rng = np.random.default_rng(seed)
    sd = np.array([1.0, 0.7, 0.5])
    C = np.array([[1, .4, -.3], [.4, 1, .2], [-.3, .2, 1]])
    b = rng.multivariate_normal(np.zeros(3), sd[:, None] * C * sd[None, :], size=G)
    g = np.repeat(np.arange(G), n)
    x1, x2 = rng.standard_normal(G * n), rng.standard_normal(G * n)
    y = (2 + 0.5 * x1 - 0.3 * x2 + b[g, 0] + b[g, 1] * x1 + b[g, 2] * x2
         + 0.8 * rng.standard_normal(G * n))
    return pd.DataFrame({"y": y, "x1": x1, "x2": x2, "g": [f"g{i:02d}" for i in g]})


def simulated_near_one(seed=2, G=10, n=6, rho=0.95):
    """Random intercept and slope correlated 0.95, 10 groups: the profile of the
    correlation stays below z_0.975 all the way to 1."""
    rng = np.random.default_rng(seed)
    b = rng.multivariate_normal(np.zeros(2), [[1, rho * 0.8], [rho * 0.8, 0.64]], size=G)
    g = np.repeat(np.arange(G), n)
    x = rng.standard_normal(G * n)
    y = 1 + 0.5 * x + b[g, 0] + b[g, 1] * x + 0.5 * rng.standard_normal(G * n)
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{i:02d}" for i in g]})


@pytest.fixture(scope="module")
def q3_model():
    return MixedLM.from_formula("y ~ x1 + x2", simulated_q3(), groups="g", re_formula="1 + x1 + x2")


@pytest.fixture(scope="module")
def q3_ci(q3_model):
    return conf_int_profile(q3_model.fit())


@pytest.mark.parametrize("q", [2, 3, 4])
def test_correlation_coordinates(q):
    """rho_ab = v, unit diagonal of R, positive definite, x -> theta -> x, and the
    Jacobian (eq:cor-fixed-jacobian) against central differences, at random points."""
    rng = np.random.default_rng(q)
    for a in range(q):
        for b in range(a):
            v = rng.uniform(-0.95, 0.95)
            c = CorrelationFixed(q, a, b, v)
            K = q * (q + 1) // 2 + 2                       # two variance components
            for _ in range(3):
                x = rng.standard_normal(K - 1)
                x[-2:] = np.abs(x[-2:]) + 0.1              # s_vc > 0, so x round-trips
                theta = c.theta(x)
                Psi = unpack_profile(theta, q)[0]
                d = np.sqrt(np.diag(Psi))
                R = Psi / np.outer(d, d)
                assert R[a, b] == pytest.approx(v, abs=1e-14)
                np.testing.assert_allclose(d, np.exp(x[:q]), rtol=1e-14)
                assert np.linalg.eigvalsh(R).min() > 0
                np.testing.assert_allclose(c.from_theta(theta), x, rtol=1e-10, atol=1e-12)
                J = c.jacobian(x)
                assert J.shape == (K, K - 1)
                h = 1e-6
                fd = np.column_stack([(c.theta(x + h * e) - c.theta(x - h * e)) / (2 * h)
                                      for e in np.eye(K - 1)])
                np.testing.assert_allclose(J, fd, rtol=1e-7, atol=1e-8 * np.abs(J).max())


def test_correlation_coordinates_q2_are_D_R_D():
    """For q = 2 the coordinates are (log d_0, log d_1, s_vc): Psi = D R(v) D exactly."""
    c = CorrelationFixed(2, 1, 0, -0.3)
    x = np.array([0.2, -0.5, 1.5])
    d0, d1 = np.exp(x[:2])
    np.testing.assert_allclose(c.theta(x), [d0 ** 2, -0.3 * d0 * d1, d1 ** 2, 2.25], rtol=1e-15)


def test_correlation_coordinates_bad_input():
    with pytest.raises(ValueError, match="value=1.0"):
        CorrelationFixed(3, 1, 0, 1.0)
    with pytest.raises(ValueError, match="a=1, b=1"):
        CorrelationFixed(3, 1, 1, 0.2)


def test_constrained_correlation_gradient_q3(q3_model):
    """The objective of a correlation's constrained refit, f(x) = l_p(theta(x)), and its
    gradient J'(d l_p / d theta) against central differences at random x, each correlation."""
    rng = np.random.default_rng(18)
    res = q3_model.fit(reml=False)
    for p in profile_params(q3_model):
        if p.kind != "cor":
            continue
        coords = _Coords(q3_model, p, rng.uniform(-0.6, 0.6))
        x0 = coords.from_theta(res.theta)
        for _ in range(2):
            x = x0 + 0.2 * rng.standard_normal(len(x0))
            f, g = coords.f_grad(x)
            h = 1e-6
            fd = np.array([(coords.f_grad(x + h * e)[0] - coords.f_grad(x - h * e)[0]) / (2 * h)
                           for e in np.eye(len(x))])
            np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-6 * max(1.0, abs(f)))


def test_q3_zeta_signed_and_limits_are_roots(q3_model, q3_ci):
    pr = Profiler(q3_model.fit())
    z = 1.959963984540054
    for p in pr.params:
        if p.kind != "cor":
            continue
        est = pr.estimate(p)
        assert abs(pr.zeta(p, est)) < 1e-5
        assert pr.zeta(p, est + 0.05) > 0 > pr.zeta(p, est - 0.05)
        lo, hi = q3_ci.loc[p.name, ["lower", "upper"]]
        assert -1 < lo < est < hi < 1
        assert pr.zeta(p, lo) == pytest.approx(-z, abs=1e-7)
        assert pr.zeta(p, hi) == pytest.approx(z, abs=1e-7)


def test_correlation_profile_that_stays_inside_reports_the_bound():
    """lme4's rule: a correlation whose |zeta| stays below z up to +-1 gets the bound."""
    model = MixedLM.from_formula("y ~ x", simulated_near_one(), groups="g", re_formula="1 + x")
    res = model.fit()
    ci = conf_int_profile(res, params=["cor_g.x"])
    pr = Profiler(res)
    p = pr.param("cor_g.x")
    assert ci.loc["cor_g.x", "upper"] == 1.0
    assert 0 < pr.zeta(p, 1 - 1e-6) < 1.959963984540054     # no crossing before 1
    assert pr.zeta(p, ci.loc["cor_g.x", "lower"]) == pytest.approx(-1.959963984540054, abs=1e-7)


def check_q3_against_lme4(ours, data, formula, mapping, cutoff, min_digits, which=None):
    from validation import rbridge

    R = """
    function(d, formula, cutoff, which) {
      fm <- lme4::lmer(as.formula(formula), data = d, REML = TRUE,
                       control = lme4::lmerControl(optimizer = "bobyqa"))
      pr <- if (which == "") profile(fm, signames = FALSE, delta.cutoff = cutoff) else
            profile(fm, which = which, signames = FALSE, delta.cutoff = cutoff)
      ci <- confint(pr, level = 0.95)
      list(names = rownames(ci), lower = ci[, 1], upper = ci[, 2])
    }"""
    out = rbridge.call(R, rbridge.to_r_dataframe(data), formula, cutoff, which or "").value
    theirs = pd.DataFrame({"lower": list(out.rx2("lower")), "upper": list(out.rx2("upper"))},
                          index=list(out.rx2("names")))
    mapping = {k: v for k, v in mapping.items() if k in theirs.index}
    df = compare(ours, theirs, mapping)
    print(f"\n{formula} (lme4 delta.cutoff = {cutoff})\n", df.to_string())
    assert np.all(df.digits >= min_digits), df.to_string()
    return df


@pytest.mark.r
def test_profile_ci_q3_matches_lme4_default_grid(r, q3_ci):
    """3 sds, 3 correlations, sigma and 3 fixed effects against lme4's default
    confint(method = "profile"): 1e-4 relative or better (measured 4.26 to 8.7 digits;
    the correlations' limits are the least accurate, lme4's spline)."""
    check_q3_against_lme4(q3_ci, simulated_q3(), Q3_FORMULA, Q3_MAPPING, 1 / 8, 4)


@pytest.mark.r
@pytest.mark.slow
def test_profile_ci_q3_matches_lme4_fine_grid(r, q3_ci):
    """lme4's grid refined to delta.cutoff = 1/32 (covariance parameters only, ~2 min of
    lme4): 1e-7 relative or better (measured 7.6 to 10.9 digits)."""
    check_q3_against_lme4(q3_ci, simulated_q3(), Q3_FORMULA, Q3_MAPPING, 1 / 32, 7, which="theta_")


@pytest.mark.r
def test_correlation_bound_matches_lme4(r):
    """lme4 also reports 1 for the correlation whose profile stays inside; with
    delta.cutoff = 1/64 every other limit agrees too (measured 7.6 to 11 digits)."""
    data = simulated_near_one()
    model = MixedLM.from_formula("y ~ x", data, groups="g", re_formula="1 + x")
    ours = conf_int_profile(model.fit())
    mapping = {"sd_(Intercept)|g": "sd_g", "cor_x.(Intercept)|g": "cor_g.x", "sd_x|g": "sd_x",
               "sigma": "sigma", "(Intercept)": "Intercept", "x": "x"}
    df = check_q3_against_lme4(ours, data, "y ~ x + (1 + x | g)", mapping, 1 / 64, 7)
    up = df[(df.param == "cor_g.x") & (df.side == "upper")]
    assert up.refimpl.iloc[0] == up.lme4.iloc[0] == 1.0


@pytest.mark.r
@pytest.mark.slow
def test_timing_q3_against_lme4(r, q3_model):
    """Profile CIs for all 10 parameters of the q = 3 case, refimpl and lme4, same process."""
    import time

    from validation import rbridge

    d = rbridge.to_r_dataframe(simulated_q3())
    fm = r.r(f"function(d) lme4::lmer({Q3_FORMULA}, d)")(d)
    t_r = r.r("function(fm) system.time(confint(fm, method = 'profile'))[['elapsed']]")(fm)[0]
    res = q3_model.fit()
    t0 = time.perf_counter()
    conf_int_profile(res)
    t_py = time.perf_counter() - t0
    print(f"\nq = 3 profile CIs (10 parameters): refimpl {t_py:.2f} s, "
          f"lme4 confint(method = 'profile') {t_r:.2f} s")
    assert t_py < 10 * t_r
