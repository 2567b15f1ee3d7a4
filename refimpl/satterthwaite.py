"""Satterthwaite's degrees of freedom for a contrast of the fixed effects (lmerTest's definition).

For a contrast row L, the variance of L beta_hat is v(x) = L C(x) L' with

    C(theta, sigma2) = sigma2 (X'V^{-1}X)^{-1} = sigma2 Phi(theta),             (eq:vcov-beta)

x = (theta, sigma2) the variance parameters (profile theta, residual variance).
With A = cov(x_hat), the inverse of minus the Hessian of the (REML or ML)
log-likelihood in x, and g = dv/dx,

    nu = 2 v^2 / (g' A g)                                                    (eq:satterthwaite)

(Satterthwaite 1946; Kuznetsova, Brockhoff & Christensen 2017). nu does not
depend on how the variance parameters are written (g and A transform with the
Jacobian), so the (theta, sigma2) used here gives lmerTest's number, which
uses lme4's (Cholesky theta, sigma). lmerTest takes g and A by finite
differences (numDeriv); here both are analytic:

    dC/dsigma2  = Phi
    dC/dtheta_k = sigma2 Phi (sum_i N_i'E_k N_i) Phi,  N_i = Z_i'V_i^{-1}X_i   (eq:dvcov-dtheta)

and the Hessian in x from the profiled one (model.hessian_profile, sigma2
profiled out) by the Schur complement read backwards,

    H_tt = H_p - g_q g_q' / (2 m sigma2^2),  H_ts = g_q / (2 sigma2^2),  H_ss = -m / (2 sigma2^2)
                                                                           (eq:hess-varpar)
with qf = m sigma2 at the optimum, g_q = d qf / d theta and m = n (ML) or n - p (REML).

Multi-row hypotheses L beta = 0 (rank q): lmerTest's F approximation. With
L C L' = P D P', each row of P'L is a contrast with its own nu_m, and

    E = sum_m nu_m / (nu_m - 2),  ddf = 2 E / (E - q)  (2 when some nu_m <= 2)   (eq:satterthwaite-F)
"""

import numpy as np

from .parameters import profile_to_user
from .score import group_solves


def _check(results):
    if results.singular:
        raise ValueError(
            "degrees of freedom at a boundary fit: a variance is estimated as 0 "
            f"({results.convergence.reason}); the covariance of the variance parameters is not "
            "defined there. Refit without that random effect")
    if results.free is not None and not np.all(results.free):
        raise ValueError("degrees of freedom need every covariance parameter estimated; this fit "
                         "held some fixed (free=...)")


def qf_gradient(model, theta, reml):
    """g_q = d qf / d theta from the analytic scores (as profile_ci._pieces)       (eq:profile-gradient).

    model.score_user at sigma2 = qf/(2m) weighs u'E_k u by m/qf; the profiled
    score by m/(2 qf); their difference is m/(2 qf) u'E_k u = -m/(2 qf) g_q.
    """
    pt = model.point(theta)
    m, p, K = pt.n_eff(reml), pt.k_fe, len(theta)
    s2 = pt.qf / (2.0 * m)
    cov_re, vcomp = profile_to_user(theta, model.k_re, s2)
    sf = model.score_user(pt.beta_hat, cov_re, vcomp, s2, reml=reml)
    return -(2.0 * pt.qf / m) * (s2 * sf[p:p + K] - model.score_profile(theta, reml=reml))


def hessian_varpar(results):
    """Hessian of the log-likelihood in x = (theta, sigma2) at the fit  (eq:hess-varpar)."""
    model, theta, reml = results.model, results.theta, results.reml
    pt = model.point(theta)
    m, s2 = pt.n_eff(reml), pt.sigma2_hat(reml)
    H_p = model.hessian_profile(theta, reml=reml)
    g_q = qf_gradient(model, theta, reml)
    K = len(theta)
    H = np.empty((K + 1, K + 1))
    H[:K, :K] = H_p - np.outer(g_q, g_q) / (2.0 * m * s2 ** 2)
    H[:K, K] = H[K, :K] = g_q / (2.0 * s2 ** 2)
    H[K, K] = -m / (2.0 * s2 ** 2)
    return H


def varpar_covariance(results):
    """A = (-H)^{-1}: the asymptotic covariance of x_hat = (theta_hat, sigma2_hat)."""
    return np.linalg.inv(-hessian_varpar(results))


def dXtVinvX_dtheta(model, theta):
    """W_k = d (X'V^{-1}X) / d theta_k = -sum_i N_i'E_k N_i, shape (K, p, p)."""
    pt = model.point(theta)
    N = group_solves(model.stats, pt).N                           # (G, q, p)
    E = model.layout.dPsi_dtheta()                                # (K, q, q)
    NN = np.tensordot(N, N, axes=([0], [0]))                      # sum_i N_i[a, p] N_i[b, r]
    return -np.einsum("kab,apbr->kpr", E, NN)


def vcov_jacobian(results):
    """dC/dx for C = sigma2 Phi(theta): shape (K + 1, p, p), sigma2 last  (eq:dvcov-dtheta)."""
    model, theta = results.model, results.theta
    pt = model.point(theta)
    s2 = pt.sigma2_hat(results.reml)
    Phi = np.linalg.inv(pt.XtVinvX)
    W_k = dXtVinvX_dtheta(model, theta)
    dC = -s2 * np.einsum("ab,kbc,cd->kad", Phi, W_k, Phi)
    return np.concatenate([dC, Phi[None]], axis=0)


def vcov_beta(results):
    """C = sigma2 (X'V^{-1}X)^{-1} (lme4's vcov, theta treated as known)."""
    pt = results.model.point(results.theta)
    return pt.sigma2_hat(results.reml) * np.linalg.inv(pt.XtVinvX)


def contrast_df(results, L, A=None, dC=None):
    """nu for each row of L  (eq:satterthwaite). Returns (v, nu) arrays."""
    _check(results)
    L = np.atleast_2d(np.asarray(L, float))
    A = varpar_covariance(results) if A is None else A
    dC = vcov_jacobian(results) if dC is None else dC
    C = vcov_beta(results)
    v = np.einsum("ra,ab,rb->r", L, C, L)
    g = np.einsum("ra,kab,rb->rk", L, dC, L)
    return v, 2.0 * v ** 2 / np.einsum("rk,kl,rl->r", g, A, g)


def f_ddf(nu, tol=1e-8):
    """lmerTest's combination of the eigen-contrasts' nu_m into one ddf  (eq:satterthwaite-F)."""
    nu = np.asarray(nu, float)
    if nu.size == 1:
        return float(nu[0])
    if np.all(np.abs(np.diff(nu)) < tol):
        return float(nu.mean())
    if np.any(nu <= 2):
        return 2.0
    E = np.sum(nu / (nu - 2))
    return float(2 * E / (E - nu.size))


def f_test_df(results, L, eps=np.sqrt(np.finfo(float).eps)):
    """(q, ddf, P'L rows, eigenvalues) for the hypothesis L beta = rhs, as lmerTest's contestMD."""
    L = np.atleast_2d(np.asarray(L, float))
    C = vcov_beta(results)
    d, P = np.linalg.eigh(L @ C @ L.T)
    order = np.argsort(d)[::-1]
    d, P = d[order], P[:, order]
    q = int(np.sum(d > max(eps * d[0], 0)))
    PtL = (P.T @ L)[:q]
    _, nu = contrast_df(results, PtL)
    return q, f_ddf(nu), PtL, d[:q]
