"""Profile intervals of correlations in a q x q random-effects block (any q).

* the coordinates that hold one correlation fixed (eq:cor-fixed-chol): rho_ab = v,
  positive definiteness, the round trip, and the Jacobian (eq:cor-fixed-jacobian)
  against central differences at random points, q = 2, 3, 4;
* the constrained refit's gradient against central differences at random points;
* a simulated q = 3 block, y ~ x1 + x2 + (1 + x1 + x2 | g): all ten intervals
  (3 sds, 3 correlations, sigma, 3 fixed effects) against lme4's
  ``confint(method = "profile")`` (default grid; delta.cutoff = 1/32 in a slow test);
* a correlation whose profile stays inside up to 1: the limit is 1, as in lme4.
"""

import numpy as np
import pandas as pd
import pytest
from test_profile_ci import compare

from refimpl.model import MixedLM
from refimpl.parameters import unpack_profile
from refimpl.profile_ci import Profiler, conf_int_profile, profile_params
from refimpl.profile_constrained import _Coords
from refimpl.profile_correlation import CorrelationFixed


# --------------------------------------------------------------------------
# Correlations of a q x q block (eq:cor-fixed-chol), q = 3
# --------------------------------------------------------------------------


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
