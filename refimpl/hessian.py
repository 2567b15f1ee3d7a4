"""Analytic Hessians: statsmodels' (beta, theta) Hessian, and the profiled one.

V is linear in theta (dV/dtheta_k = Z E_k Z', second derivative zero), so
every second derivative is a trace of products of E_k with the per-group
M_i, N_i, u_i of score.py (book chapter "Hessian"). Write

    P(A, B)[k, l] = sum_i tr(E_k A_i E_l B_i).

Pieces (Q = r'V^{-1}r at the given beta, a = X'V^{-1}r, m = n or n - p):

    d2 log|V| / dth_k dth_l = -P(M, M)                                (eq:hess-logdet)
    dQ/dth_k = -u'E_k u,   d2Q/dth_k dth_l = 2 P(M, u u'),
    dQ/dbeta = -2a,        d2Q/dbeta dth_k = 2 N'E_k u,   d2Q/dbeta2 = 2 X'V^{-1}X    (eq:hess-quad)
    REML: W = X'V^{-1}X, W_k = -sum N'E_k N, W_kl = sum N'(E_k M E_l + E_l M E_k)N,
          d2 log|W| = tr(W^{-1} W_kl) - tr(W^{-1} W_k W^{-1} W_l)

statsmodels' ``MixedLM.hessian`` is the Hessian of the sigma2-profiled
log-likelihood l(beta, theta) = -1/2 log|V| - m/2 log Q [- 1/2 log|W|] in
(beta, theta); :func:`hessian_beta_theta` is that, exactly, at any beta
(statsmodels drops terms that vanish at beta_hat)                  (eq:hess-full).

The Hessian of the profiled log-likelihood (beta and sigma2 profiled) is the
Schur complement  H_tt - H_tb H_bb^{-1} H_bt  at beta_hat          (eq:hess-profile)
and in the sqrt parameterization J' H J + sum_k g_k d2theta_k/dphi2  (eq:hess-sqrt).

Every P(A, B) and every other sum over i is taken a chunk of groups at a time
(group_chunks.py), so M_i, N_i, u_i and their products exist for one chunk only.
"""

import numpy as np

from . import batched
from .group_chunks import chunk_sums
from .likelihood import is_blocked, quad_form
from .parameters import hessian_sqrt_to_profile, jacobian_sqrt_to_profile
from .score import XtVinvX_inv, chunk_solves, profiled_score, u_at


PAIR_TRACE_MAX_Y = 8 * 10 ** 6   # entries of the q^4 sum in pair_traces (64 MB)


def pair_traces(E, A, B):
    """P(A, B)[k, l] = sum_i tr(E_k A_i E_l B_i), for stacks A, B of shape (G, q, q).

    Sum over the groups first: Y[b, c, d, a] = sum_i A_i[b, c] B_i[d, a] is ONE
    (q^2 x q^2) product of the stacks (G q^4 flops in a single BLAS call), and
    P[k, l] = sum E_k[a, b] Y[b, c, d, a] E_l[c, d]. The per-group products
    E_k A_i cost ~100x more for q >= 5 (1e4 groups, q = 5: 137 ms against about
    1 ms) and agree to rounding. Only when Y itself (q^4 numbers) would pass
    PAIR_TRACE_MAX_Y entries (q > 53: one group holding a crossed design densely)
    does the per-group twin, :func:`pair_traces_per_group`, take over.
    """
    G, q, _ = A.shape
    if q ** 4 > PAIR_TRACE_MAX_Y:
        return pair_traces_per_group(E, A, B)
    Y = (A.reshape(G, q * q).T @ B.reshape(G, q * q)).reshape(q, q, q, q)
    return np.einsum("kab,bcda,lcd->kl", E, Y, E, optimize=True)


def pair_traces_per_group(E, A, B):
    """Twin of :func:`pair_traces`: the per-group products E_k A_i and E_l B_i, then the traces."""
    EA = np.einsum("kab,gbc->gkac", E, A, optimize=True)
    EB = np.einsum("lab,gbc->glac", E, B, optimize=True)
    return np.einsum("gkac,glca->kl", EA, EB, optimize=True)


def hessian_beta_theta(stats, layout, point, beta, reml):
    """Hessian of the sigma2-profiled log-likelihood in (beta, theta)  (eq:hess-full).

    Square matrix of order p + n_params, beta first: statsmodels' ``hessian``.
    Blocked statistics of a crossed design go to blocked_derivatives.
    """
    if is_blocked(stats):
        from . import blocked_derivatives
        return blocked_derivatives.hessian_beta_theta(stats, point, beta, reml)
    E = layout.dPsi_dtheta()
    m = point.n_eff(reml)
    Q = quad_form(point, beta)
    W = point.XtVinvX
    a = W @ (point.beta_hat - np.asarray(beta, float))                  # X'V^{-1}r
    Winv = XtVinvX_inv(point) if reml else None

    def chunk(sl):
        # sums over the chunk's groups first (one product each), contracted with E_k later
        s, u = chunk_solves(stats, point, sl), u_at(stats, point, beta, sl)
        U = u[:, :, None] * u[:, None, :]                              # u_i u_i', (g, q, q)
        sums = (u.T @ u,                                               # sum_i u_i u_i'
                np.tensordot(s.N, u, axes=([0], [0])),                 # sum_i N_i[a, p] u_i[b], (q, p, q)
                pair_traces(E, s.M, s.M), pair_traces(E, s.M, U))
        if reml:
            Nt = batched.times_shared(s.N, Winv) @ np.swapaxes(s.N, 1, 2)   # N W^{-1} N', (g, q, q)
            sums += (np.tensordot(s.N, s.N, axes=([0], [0])),          # sum_i N_i[a, p] N_i[b, r]
                     pair_traces(E, s.M, Nt))
        return sums

    uu, Nu, P_MM, P_MU, *reml_sums = chunk_sums(stats.n_groups, chunk)
    uEu = np.einsum("kab,ab->k", E, uu)                            # sum_i u_i'E_k u_i = -dQ/dtheta_k
    NEu = np.einsum("kab,apb->kp", E, Nu)                          # 1/2 d2Q/dbeta dtheta

    # theta-theta block
    H_tt = 0.5 * P_MM - 0.5 * m * (2.0 * P_MU / Q - np.outer(uEu, uEu) / Q ** 2)
    if reml:
        NN, P_MN = reml_sums
        W_k = -np.einsum("kab,apbr->kpr", E, NN)
        tr_Winv_Wkl = P_MN + P_MN.T
        WiWk = Winv @ W_k                                               # (k, p, p)
        tr_WkWl = np.einsum("kpr,lrp->kl", WiWk, WiWk, optimize=True)
        H_tt = H_tt - 0.5 * (tr_Winv_Wkl - tr_WkWl)

    # beta blocks: dQ/dbeta = -2a, dQ/dtheta_k = -uEu_k
    H_bb = -0.5 * m * (2.0 * W / Q - 4.0 * np.outer(a, a) / Q ** 2)
    H_bt = -0.5 * m * (2.0 * NEu.T / Q - 2.0 * np.outer(a, uEu) / Q ** 2)

    return np.block([[H_bb, H_bt], [H_bt.T, H_tt]])


def profiled_hessian(stats, layout, point, reml):
    """Hessian of the profiled log-likelihood w.r.t. theta: a Schur complement (eq:hess-profile).

    beta_hat(theta) maximises l(beta, theta), so the curvature of
    max_beta l is H_tt - H_tb H_bb^{-1} H_bt evaluated at beta_hat.
    Kept on the Point, like the score (Newton and the verdict ask for it at the same point).
    """
    key = ("hessian", bool(reml))
    if key not in point.cache:
        H = hessian_beta_theta(stats, layout, point, point.beta_hat, reml)
        p = point.k_fe
        H_bb, H_bt, H_tt = H[:p, :p], H[:p, p:], H[p:, p:]
        point.cache[key] = H_tt - H_bt.T @ np.linalg.solve(H_bb, H_bt)
    return point.cache[key].copy()


def profiled_hessian_sqrt(stats, layout, point, reml):
    """Hessian w.r.t. phi: J' H J + sum_k score_k d2 theta_k / d phi2  (eq:hess-sqrt)."""
    J = jacobian_sqrt_to_profile(point.phi, layout.k_re)
    D2 = hessian_sqrt_to_profile(point.phi, layout.k_re)
    g = profiled_score(stats, layout, point, reml)
    H = profiled_hessian(stats, layout, point, reml)
    return J.T @ H @ J + np.einsum("k,kij->ij", g, D2, optimize=True)
