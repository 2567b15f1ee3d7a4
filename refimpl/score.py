"""The analytic score, from the same per-group stack as the likelihood.

Differentiating V_i = I + Z_i Psi Z_i' along theta_k gives Z_i E_k Z_i', with
E_k = d Psi / d theta_k (layout.dPsi_dtheta). Every derivative is then a trace
against three per-group quantities (book chapter "score"):

    M_i = Z_i'V_i^{-1}Z_i   (q x q)     N_i = Z_i'V_i^{-1}X_i   (q x p)
    u_i = Z_i'V_i^{-1}r_i   (q),        r_i = y_i - X_i beta

and Woodbury gives them from the Cholesky factors already in the Point:
with K_i = R_i^{-1} Lambda' A_i,

    M_i = A_i - K_i'K_i,  N_i = B_i - K_i'W_i,  Z_i'V_i^{-1}y0_i = c_i - K_i'w_i.

The score of the profiled log-likelihood (m = n for ML, n - p for REML):

    d l / d theta_k = tr(E_k G),  G = sum_i [ -1/2 M_i + m/(2 qf) u_i u_i'
                                              (+ 1/2 N_i (X'V^{-1}X)^{-1} N_i'  REML) ]
                                                                  (eq:score-psi, eq:score-profile)
where u_i is taken at beta_hat (envelope theorem: beta_hat maximises, so its
own derivative drops out).
"""

from dataclasses import dataclass

import numpy as np

from . import batched
from .likelihood import is_blocked, quad_form
from .parameters import jacobian_sqrt_to_profile, sqrt_to_profile


@dataclass
class GroupSolves:
    """M_i, N_i and Z_i'V_i^{-1}y0_i for every group (see the module docstring)."""

    M: np.ndarray      # (G, q, q)
    N: np.ndarray      # (G, q, p)
    h: np.ndarray      # (G, q)   Z_i'V_i^{-1} y0_i


def group_solves(stats, point):
    """M_i, N_i, h_i at a Point, computed once and kept on the Point."""
    if "solves" not in point.cache:
        LtA = np.swapaxes(batched.times_shared(stats.ZtZ, point.Lambda), 1, 2)   # Lambda' A_i
        K = batched.solve_lower(point.R, LtA)                                   # (G, q, q)
        p = point.k_fe
        # K_i' [K_i | W_i | w_i] in one batched product; Wc = [W | w] as the Point holds it
        KtKWw = np.swapaxes(K, 1, 2) @ np.concatenate([K, point.W, point.w[:, :, None]], axis=2)
        q = K.shape[1]
        point.cache["solves"] = GroupSolves(
            M=stats.ZtZ - KtKWw[:, :, :q],
            N=stats.ZtX - KtKWw[:, :, q:q + p],
            h=stats.Zty0 - KtKWw[:, :, q + p],
        )
    return point.cache["solves"]


def u_at(stats, point, beta):
    """u_i = Z_i'V_i^{-1}(y_i - X_i beta), (G, q)."""
    s = group_solves(stats, point)
    d = np.asarray(beta, float) - stats.beta_ols
    return s.h - batched.times_shared(s.N, d[:, None])[:, :, 0]


def XtVinvX_inv(point):
    """(X'V^{-1}X)^{-1} from the Cholesky factor of S."""
    p = point.k_fe
    T11inv = np.linalg.inv(point.T[:p, :p])
    return T11inv.T @ T11inv


def score_matrix(stats, point, beta, reml, Q=None, scale=None):
    """The q x q score matrix G (F in the book) with d l / d theta_k = tr(E_k G)   (eq:score-psi).

    With scale=None, sigma2 is profiled: the factor on u u' is m/(2 Q). With a
    given sigma2 (the full likelihood) it is 1/(2 sigma2).
    """
    s = group_solves(stats, point)
    u = u_at(stats, point, beta)
    m = point.n_eff(reml)
    if scale is None:
        weight = m / (2.0 * Q)
    else:
        weight = 1.0 / (2.0 * scale)
    G = -0.5 * s.M.sum(axis=0) + weight * (u.T @ u)                     # u'u = sum_i u_i u_i'
    if reml:
        NWi = batched.times_shared(s.N, XtVinvX_inv(point))             # N_i W^{-1}, (G, q, p)
        G = G + 0.5 * np.tensordot(NWi, s.N, axes=([0, 2], [0, 2]))     # sum_i N_i W^{-1} N_i'
    return G


def score_traces(stats, layout, point, beta, reml, Q=None, scale=None):
    """tr(E_k G) for every k, G = :func:`score_matrix`; blocked statistics go to blocked_derivatives."""
    if is_blocked(stats):
        from . import blocked_derivatives
        return blocked_derivatives.score_traces(stats, point, beta, reml, Q=Q, scale=scale)
    return trace_with_basis(layout.dPsi_dtheta(), score_matrix(stats, point, beta, reml, Q=Q, scale=scale))


def trace_with_basis(E, G):
    """Vector tr(E_k G) over the basis E (n_params, q, q)."""
    return np.einsum("kab,ba->k", E, G)


def profiled_score(stats, layout, point, reml):
    """Score of the profiled log-likelihood w.r.t. theta  (eq:score-profile).

    Kept on the Point: the optimizer, the Hessian (eq:hess-sqrt) and the verdict
    all ask for it at the same point.
    """
    key = ("score", bool(reml))
    if key not in point.cache:
        point.cache[key] = score_traces(stats, layout, point, point.beta_hat, reml, Q=point.qf)
    return point.cache[key].copy()


def profiled_score_sqrt(stats, layout, point, reml):
    """Score w.r.t. phi by the chain rule: J' score_theta  (eq:score-sqrt)."""
    J = jacobian_sqrt_to_profile(point.phi, layout.k_re)
    return J.T @ profiled_score(stats, layout, point, reml)


def scale_profiled_score(stats, layout, point, beta, reml):
    """statsmodels' ``score_full``: sigma2 profiled, beta given.

    Returns (score_beta, score_theta) of
        l(beta, theta) = -1/2 log|V| - m/2 log Q(beta) [- 1/2 log|X'V^{-1}X|] + const
    with d l / d beta = m X'V^{-1} r / Q.
    """
    Q = quad_form(point, beta)
    a = point.XtVinvX @ (point.beta_hat - np.asarray(beta, float))     # X'V^{-1} r
    return point.n_eff(reml) * a / Q, score_traces(stats, layout, point, beta, reml, Q=Q)


def full_score(stats, layout, point, beta, sigma2, reml):
    """Score of the full log-likelihood w.r.t. (beta, cov_re tril, vcomp, sigma2)  (eq:score-full).

    First in (beta, theta, sigma2), where
        d/d beta   = X'V^{-1}r / sigma2,
        d/d theta  = tr(E_k G) with G at the given sigma2,
        d/d sigma2 = -m/(2 sigma2) + Q/(2 sigma2^2);
    then to the user coordinates gamma = sigma2 theta: d/d gamma = (d/d theta)/sigma2
    and d/d sigma2 at fixed gamma subtracts theta . (d/d theta) / sigma2.
    """
    theta = sqrt_to_profile(point.phi, layout.k_re)
    Q = quad_form(point, beta)
    m = point.n_eff(reml)
    s_beta = point.XtVinvX @ (point.beta_hat - np.asarray(beta, float)) / sigma2
    s_theta = score_traces(stats, layout, point, beta, reml, scale=sigma2)
    s_sigma2 = -m / (2.0 * sigma2) + Q / (2.0 * sigma2 ** 2)
    return np.concatenate([s_beta, s_theta / sigma2, [s_sigma2 - theta @ s_theta / sigma2]])

