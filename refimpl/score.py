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

Every sum over i runs a chunk of groups at a time (group_chunks.py): M_i, N_i
and u_i exist for one chunk at once, computed from that chunk's factors
(likelihood.Point.factors) and kept with them.
"""

from dataclasses import dataclass

import numpy as np

from . import batched
from .group_chunks import chunk_sums, group_chunks
from .likelihood import is_blocked, quad_form
from .parameters import jacobian_sqrt_to_profile, sqrt_to_profile


@dataclass
class GroupSolves:
    """M_i, N_i and Z_i'V_i^{-1}y0_i for a chunk of groups (see the module docstring)."""

    M: np.ndarray      # (g, q, q)
    N: np.ndarray      # (g, q, p)
    h: np.ndarray      # (g, q)   Z_i'V_i^{-1} y0_i


def chunk_solves(stats, point, groups):
    """M_i, N_i, h_i of the groups in the slice ``groups``, kept with that chunk's factors."""
    f = point.factors(groups)
    if f.solves is None:
        st = stats.take(groups)
        LtA = np.swapaxes(batched.times_shared(st.ZtZ, point.Lambda), 1, 2)   # Lambda' A_i
        K = batched.solve_lower(f.R, LtA)                                      # (g, q, q)
        q, p = K.shape[1], point.k_fe
        KtKWw = np.swapaxes(K, 1, 2) @ np.concatenate([K, f.Wc], axis=2)      # K_i' [K_i | W_i | w_i]
        f.solves = GroupSolves(
            M=st.ZtZ - KtKWw[:, :, :q],
            N=st.ZtX - KtKWw[:, :, q:q + p],
            h=st.Zty0 - KtKWw[:, :, q + p],
        )
    return f.solves


def group_solves(stats, point):
    """M_i, N_i, h_i for every group at once, (G, ...): for the book and satterthwaite, O(G) memory."""
    parts = [chunk_solves(stats, point, sl) for sl in group_chunks(stats.n_groups)]
    if len(parts) == 1:
        return parts[0]
    return GroupSolves(*(np.concatenate([getattr(s, name) for s in parts]) for name in ("M", "N", "h")))


def u_at(stats, point, beta, groups):
    """u_i = Z_i'V_i^{-1}(y_i - X_i beta) for the groups in the slice ``groups``, (g, q)."""
    s = chunk_solves(stats, point, groups)
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
    m = point.n_eff(reml)
    if scale is None:
        weight = m / (2.0 * Q)
    else:
        weight = 1.0 / (2.0 * scale)
    Winv = XtVinvX_inv(point) if reml else None

    def chunk(sl):
        s, u = chunk_solves(stats, point, sl), u_at(stats, point, beta, sl)
        sums = (s.M.sum(axis=0), u.T @ u)                                # u'u = sum_i u_i u_i'
        if reml:
            NWi = batched.times_shared(s.N, Winv)                       # N_i W^{-1}, (g, q, p)
            sums += (np.tensordot(NWi, s.N, axes=([0, 2], [0, 2])),)    # sum_i N_i W^{-1} N_i'
        return sums

    sums = chunk_sums(stats.n_groups, chunk)
    G = -0.5 * sums[0] + weight * sums[1]
    if reml:
        G = G + 0.5 * sums[2]
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

