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
  (the closed-form test says which side is right). Correlations of a q x q
  block, q >= 3: tests/test_profile_correlation.py.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from mpmath import mp

from refimpl import datasets
from refimpl.cases import build_case
from refimpl.model import MixedLM
from refimpl.parameters import profile_to_user
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
