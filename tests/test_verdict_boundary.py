"""The convergence verdict at the boundary: KKT conditions, not a sqrt gradient that is zero anyway.

In phi the llf is even in a zero column of L and in a zero s_j, so a point on
the boundary always has a zero sqrt gradient there. The verdict checks the KKT
conditions in the profile parameterization (book/boundary.md, eq:kkt-psd,
eq:kkt-vc): a boundary point where the likelihood still rises off it must
fail, with the direction and the gain; a true boundary optimum must pass.
"""

import warnings

import numpy as np
import pytest

from refimpl import MixedLM, tolerances
from refimpl.audit import audit_point
from refimpl.cases import build_case
from refimpl.convergence import (BOUNDARY_TOL, GAIN_TOL, ascent_off_boundary, symmetric_gradient, verdict)
from refimpl.covariance_check import check_covariance, covariance_problems
from refimpl.fit import ConvergenceWarning
from refimpl.linalg import tril_pack
from refimpl.parameters import profile_to_sqrt, sqrt_to_profile


def _intercept_model(seed=0, groups=40, n=8, var=0.7):
    """Random intercepts with variance ratio `var`: the optimum is interior, far from 0."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(groups), n)
    X = np.column_stack([np.ones(groups * n), rng.standard_normal(groups * n)])
    y = X @ [1.0, 2.0] + np.sqrt(var) * rng.standard_normal(groups)[g] + rng.standard_normal(groups * n)
    return MixedLM(y, X, g)


def _quiet_fit(model, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(**kw)


@pytest.fixture(scope="module")
def sleep():
    m = build_case("sleepstudy")
    return m, _quiet_fit(m, reml=True)


def _certified(name):
    from certified import store
    from validation.cases import CASES

    c = CASES[name]
    s = c.spec
    m = MixedLM.from_formula(s["formula"], c.data(), groups=s["groups"], re_formula=s["re_formula"],
                             vc_formula=s["vc_formula"])
    e = store.load_all()[name]
    return m, np.array([float(x) for x in e["certification"]["phi"]]), c.reml, e


# --------------------------------------------------------------------------
# Points on the boundary where the likelihood rises off it: not converged
# --------------------------------------------------------------------------

@pytest.mark.parametrize("reml", [True, False])
def test_random_intercept_at_zero_is_not_converged(reml):
    """start_params=[0.0]: psi = 0 is stationary in phi, but d llf/d psi > 0 there."""
    m = _intercept_model()
    v = verdict(m, np.array([0.0]), reml)
    assert v.boundary and not v.passed, v.reason
    assert "rises off" in v.reason and "'Group'" in v.reason, v.reason
    assert v.boundary_gain > 1.0                      # the optimum is ~16 llf units higher
    a = v.ascents[0]
    assert a.kind == "null" and a.rate > 0 and a.gain == v.boundary_gain
    assert m.loglike_profile(a.theta, reml=reml) - m.loglike_profile(np.zeros(1), reml=reml) == pytest.approx(a.gain)


def test_fit_started_on_the_boundary_never_reports_a_converged_boundary_fit():
    m = _intercept_model()
    best = _quiet_fit(m, reml=True)
    assert best.converged and not best.convergence.boundary
    r = _quiet_fit(m, reml=True, start_params=[0.0])
    # Either the fit got off the boundary (fit.py retries) or it says it did not converge.
    assert not (r.converged and r.convergence.boundary), r.convergence.reason
    if r.converged:
        assert r.llf == pytest.approx(best.llf, abs=tolerances.OPTIMA_LLF)


def test_rank_one_correlated_slopes_is_not_converged(sleep):
    """sleepstudy's optimum has full rank; its best rank-1 approximation is not optimal."""
    m, best = sleep
    Psi = best.cov_re.to_numpy() / best.scale
    lam, U = np.linalg.eigh(Psi)
    l = np.sqrt(lam[-1]) * U[:, -1]
    phi = profile_to_sqrt(tril_pack(np.outer(l, l)), 2)
    v = verdict(m, phi, True)
    assert v.boundary and not v.passed, v.reason
    null = [a for a in v.ascents if a.kind == "null"]
    assert null and "v = (" in null[0].text and null[0].gain > GAIN_TOL
    assert v.boundary_gain >= null[0].gain


def test_zero_intercept_variance_with_a_slope_is_not_converged(sleep):
    """L = [[0, 0], [b, 0]]: the old rule set aside every coordinate and passed it."""
    m, best = sleep
    b = 3 * np.sqrt(best.cov_re.iloc[1, 1] / best.scale)
    v = verdict(m, np.array([0.0, b, 0.0]), True)
    assert v.boundary and not v.passed, v.reason
    assert v.boundary_gain > 1.0 or v.newton_gain > 1.0


def test_variance_component_at_zero_is_not_converged():
    m = build_case("pastes")
    best = _quiet_fit(m, reml=True)
    phi = best.phi.copy()
    phi[-1] = 0.0                                     # the cask variance component
    v = verdict(m, phi, True)
    assert v.boundary and not v.passed, v.reason
    vc = [a for a in v.ascents if a.kind == "vcomp"]
    assert vc and "'cask'" in vc[0].text and vc[0].gain > 1.0, v.reason


def test_rank_one_optimum_with_its_range_part_moved_is_not_converged():
    m, phi, reml, _ = _certified("sim_near_singular/ml")
    v = verdict(m, 1.5 * phi, reml)                   # same null space, wrong scale
    assert v.boundary and not v.passed, v.reason


# --------------------------------------------------------------------------
# True boundary optima pass
# --------------------------------------------------------------------------

@pytest.mark.parametrize("reml", [True, False])
def test_dyestuff2_boundary_optimum_passes(reml):
    m = build_case("dyestuff2")
    v = verdict(m, np.array([0.0]), reml)
    assert v.passed and v.boundary and v.boundary_gain == 0.0, v.reason
    assert "KKT conditions hold" in v.reason
    assert ascent_off_boundary(m, np.array([0.0]), reml) is None


def test_dyestuff2_as_a_variance_component_passes_at_zero():
    from refimpl import datasets

    d = datasets.load("Dyestuff2").assign(all=1)
    m = MixedLM.from_formula("Yield ~ 1", d, groups="all", re_formula="0",
                             vc_formula={"Batch": "0 + C(Batch)"})
    v = verdict(m, np.array([0.0]), True)
    assert v.passed and v.boundary, v.reason


def test_rank_one_boundary_optimum_passes():
    m, phi, reml, e = _certified("sim_near_singular/ml")
    assert e["boundary"] and phi[2] == 0.0
    v = verdict(m, phi, reml)
    assert v.passed and v.boundary, v.reason


def _certified_names():
    from certified import store

    return sorted(store.load_all())


@pytest.mark.parametrize("name", _certified_names())
def test_every_certified_optimum_passes(name):
    m, phi, reml, e = _certified(name)
    v = verdict(m, phi, reml)
    assert v.passed, (name, v.reason)
    if e["boundary"]:
        assert v.boundary, (name, v.reason)


# --------------------------------------------------------------------------
# The pieces
# --------------------------------------------------------------------------

def test_symmetric_gradient_is_the_directional_derivative(sleep):
    """d llf(Psi + h D)/dh = tr(G D) for a random symmetric D (eq:kkt-G)."""
    m, _ = sleep
    rng = np.random.default_rng(11)
    theta = np.array([0.8, 0.05, 0.04])
    G = symmetric_gradient(m.score_profile(theta, True), 2)
    A = rng.standard_normal((2, 2))
    D = A + A.T
    h = 1e-5
    fd = (m.loglike_profile(theta + h * tril_pack(D)) - m.loglike_profile(theta - h * tril_pack(D))) / (2 * h)
    assert abs(fd - np.sum(G * D)) <= tolerances.FD * max(abs(fd), 1.0)


def test_ascent_off_boundary_gives_a_higher_feasible_point():
    m = _intercept_model()
    phi = ascent_off_boundary(m, np.array([0.0]), True)
    assert phi is not None and phi[0] > 0
    assert m.loglike_sqrt(phi, True) > m.loglike_sqrt(np.zeros(1), True) + 1.0


def test_held_boundary_parameter_is_not_judged():
    """free=[False]: the variance is held at 0 by the caller, so no KKT condition applies to it."""
    m = _intercept_model()
    v = verdict(m, np.array([0.0]), True, free=np.array([False]))
    assert v.passed, v.reason


# --------------------------------------------------------------------------
# The audit of another engine's answer
# --------------------------------------------------------------------------

def test_audit_flags_an_engine_answer_on_the_boundary():
    m = _intercept_model()
    best = _quiet_fit(m, reml=True)
    a = audit_point(m, best.fe_params, np.zeros((1, 1)), [], 1.7, True)
    assert a.boundary and not a.stationary, a.message
    assert "rises off" in a.message and a.boundary_gain > 1.0
    ok = audit_point(m, best.fe_params, best.cov_re, [], best.scale, True)
    assert ok.stationary and not ok.boundary, ok.message


def test_audit_of_a_correlated_rank_one_answer(sleep):
    m, best = sleep
    C = best.cov_re.to_numpy()
    lam, U = np.linalg.eigh(C)
    C1 = lam[-1] * np.outer(U[:, -1], U[:, -1])
    a = audit_point(m, best.fe_params, C1, [], best.scale, True)
    assert a.boundary and not a.stationary, a.message


@pytest.mark.parametrize("cov_re, vcomp, scale, words", [
    (np.array([[-1.0]]), [], 1.0, "negative variance"),
    (np.array([[1.0, 0.5], [0.2, 1.0]]), [], 1.0, "not symmetric"),
    (np.array([[1.0, 2.0], [2.0, 1.0]]), [], 1.0, "not positive semi-definite"),
    (np.array([[np.nan]]), [], 1.0, "must be finite"),
    (np.array([[1.0, 0.0]]), [], 1.0, "square"),
    (np.eye(2), [], 1.0, "must be 1 x 1"),
    (np.array([[1.0]]), [-0.5], 1.0, "vcomp[vc0] = -0.5 is a negative variance"),
    (np.array([[1.0]]), [], 0.0, "scale = 0.0 must be"),
    (np.array([["a"]]), [], 1.0, "must hold numbers"),
])
def test_covariance_check_names_the_key_and_the_rule(cov_re, vcomp, scale, words):
    problems = covariance_problems(cov_re, vcomp, scale, k_re=1 if words == "must be 1 x 1" else None)
    assert any(words in p for p in problems), problems
    with pytest.raises(ValueError, match="not a valid covariance"):
        check_covariance(cov_re, vcomp, scale, k_re=1 if words == "must be 1 x 1" else None)


def test_covariance_check_accepts_rounding_and_returns_a_valid_point():
    C = np.array([[1.0, 1.0], [1.0, 1.0 - 1e-14]])       # correlation 1, a rounding negative eigenvalue
    assert covariance_problems(C, [-1e-20], 2.0) == []
    C2, V, s = check_covariance(C, [-1e-20], 2.0)
    assert np.min(np.linalg.eigvalsh(C2)) >= -1e-15 and V[0] == 0.0 and s == 2.0
    assert sqrt_to_profile(profile_to_sqrt(tril_pack(C2), 2), 2) == pytest.approx(tril_pack(C2))


def test_audit_refuses_an_invalid_covariance():
    m = _intercept_model()
    with pytest.raises(ValueError, match=r"cov_re\[Group,Group\] = -0.5 is a negative variance|"
                                         r"cov_re\[re0,re0\] = -0.5 is a negative variance"):
        audit_point(m, None, np.array([[-0.5]]), [], 1.0, True)


# --------------------------------------------------------------------------
# Fits started on the boundary (BFGS and Newton cannot leave it: the sqrt
# gradient is zero there). Before the KKT check the verdict called these
# converged: sleepstudy 4.8 llf units short, Pastes 27 short.
# --------------------------------------------------------------------------

def _rank_one_start(best):
    Psi = best.cov_re.to_numpy() / best.scale
    lam, U = np.linalg.eigh(Psi)
    l = np.sqrt(lam[-1]) * U[:, -1]
    return tril_pack(np.outer(l, l))


@pytest.mark.parametrize("method", ["bfgs", "newton", None])
def test_correlated_slopes_fit_started_at_rank_one_is_not_a_converged_boundary_fit(sleep, method):
    m, best = sleep
    r = _quiet_fit(m, reml=True, method=method, start_params=_rank_one_start(best))
    assert not (r.converged and r.convergence.boundary), r.convergence.reason
    if r.converged:
        assert r.llf == pytest.approx(best.llf, abs=tolerances.OPTIMA_LLF)


@pytest.mark.parametrize("method", ["bfgs", "newton", None])
def test_variance_component_fit_started_at_zero_is_not_a_converged_boundary_fit(method):
    m = build_case("pastes")
    best = _quiet_fit(m, reml=True)
    start = best.theta.copy()
    start[-1] = 0.0
    r = _quiet_fit(m, reml=True, method=method, start_params=start)
    assert not (r.converged and r.convergence.boundary), r.convergence.reason
    if r.converged:
        assert r.llf == pytest.approx(best.llf, abs=tolerances.OPTIMA_LLF)


def test_a_fit_stuck_on_the_boundary_restarts_from_the_verdicts_ascent(sleep, monkeypatch):
    """fit.py: when the optimizer stops on a boundary point the verdict rejects, the one
    restart begins at the best point the verdict measured off the boundary (conv.ascents),
    not at a fixed interior guess, and the fit ends at the interior optimum."""
    from refimpl import fit as fit_mod

    m, best = sleep
    Psi = best.cov_re.to_numpy() / best.scale
    lam, U = np.linalg.eigh(Psi)
    l = np.sqrt(lam[-1]) * U[:, -1]
    stuck = profile_to_sqrt(tril_pack(np.outer(l, l)), 2)     # rank 1: the llf rises off it
    starts, real_method = [], fit_mod._Runner.method

    def method(self, name, phi):
        starts.append(np.array(phi, float))
        return stuck.copy() if len(starts) == 1 else real_method(self, name, phi)

    monkeypatch.setattr(fit_mod._Runner, "method", method)
    r = _quiet_fit(m, reml=True, method="bfgs")
    v = verdict(m, stuck, True)
    a = max(v.ascents, key=lambda x: x.gain)
    assert len(starts) == 2
    want = profile_to_sqrt(a.theta, 2)          # its zero pivot moved inside as for a start
    want[2] = fit_mod.INTERIOR_START if abs(want[2]) < BOUNDARY_TOL else want[2]
    np.testing.assert_allclose(starts[1], want, rtol=1e-12, atol=1e-14)
    assert r.converged and not r.convergence.boundary
    assert r.llf == pytest.approx(best.llf, abs=tolerances.OPTIMA_LLF)
