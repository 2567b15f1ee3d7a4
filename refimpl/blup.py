"""BLUPs of the random effects and their conditional covariances.

Given y and the parameters, b_i | y ~ N(b_hat_i, Gamma_i) with

    b_hat_i = Psi Z_i'V_i^{-1} r_i = Lambda C_i^{-1} Lambda' Z_i' r_i           (eq:blup)
    Gamma_i = sigma2 (Psi - Psi M_i Psi) = sigma2 Lambda C_i^{-1} Lambda'      (eq:blup-cov)

(the second forms by the push-through identity, so no Psi^{-1} and no n_i x n_i
matrix). Under REML beta is integrated out with a flat prior; its uncertainty
adds sigma2 (Lambda C_i^{-1} Lambda' B_i) (X'V^{-1}X)^{-1} (...)' to Gamma_i
(eq:em-reml-gamma).
Z_i'r_i = c_i - B_i (beta - b_ols) comes straight from the stack.
statsmodels' ``random_effects_cov`` is the ML form (beta treated as known).

The outputs are per group, (G, q) and (G, q, q); they are filled a chunk of
groups at a time (group_chunks.py), so the temporaries are one chunk's. The
EM step (em.py) uses the chunk functions directly and keeps only sums.
"""

import numpy as np

from . import batched
from .blocked_em import blups_blocked, conditional_cov_blocked
from .group_chunks import group_chunks
from .likelihood import is_blocked
from .score import XtVinvX_inv


def chunk_Lambda_Cinv_Lambdat(point, groups):
    """Lambda C_i^{-1} Lambda' for the groups in the slice ``groups``, (g, q, q)."""
    R = point.factors(groups).R
    Rinv_Lt = batched.solve_lower(R, np.broadcast_to(point.Lambda.T, R.shape))
    return np.swapaxes(Rinv_Lt, 1, 2) @ Rinv_Lt


def chunk_blups(stats, point, beta, groups):
    """(b_hat, LCL) of eq:blup for the groups in the slice ``groups``; beta None means beta_hat."""
    beta = point.beta_hat if beta is None else np.asarray(beta, float)
    st = stats.take(groups)
    Ztr = st.Zty0 - st.ZtX @ (beta - stats.beta_ols)                   # (g, q)
    LCL = chunk_Lambda_Cinv_Lambdat(point, groups)
    return (LCL @ Ztr[:, :, None])[:, :, 0], LCL


def chunk_conditional_cov(stats, point, sigma2, reml, LCL, groups):
    """Gamma_i of eq:blup-cov for the groups in ``groups``, from their LCL = Lambda C_i^{-1} Lambda'."""
    Gamma = sigma2 * LCL
    if reml:
        PsiN = LCL @ stats.take(groups).ZtX                             # Psi Z'V^{-1}X, (g, q, p)
        PsiNWi = batched.times_shared(PsiN, XtVinvX_inv(point))
        Gamma = Gamma + sigma2 * PsiNWi @ np.swapaxes(PsiN, 1, 2)
    return Gamma


def blups(stats, point, beta=None):
    """(b_hat, LCL) with b_hat (G, q) from eq:blup, and Lambda C^{-1} Lambda' (G, q, q).

    Blocked statistics (one group, crossed): (b_hat (1, q), None) from blocked_em.
    """
    if is_blocked(stats):
        return blups_blocked(stats, point, beta)
    G, q = stats.n_groups, stats.q
    b_hat, LCL = np.empty((G, q)), np.empty((G, q, q))
    for sl in group_chunks(G):
        b_hat[sl], LCL[sl] = chunk_blups(stats, point, beta, sl)
    return b_hat, LCL


def conditional_means(stats, point, beta=None):
    """b_hat (G, q) of eq:blup alone (what results.random_effects reads), without keeping LCL."""
    if is_blocked(stats):
        return blups_blocked(stats, point, beta)[0]
    b_hat = np.empty((stats.n_groups, stats.q))
    for sl in group_chunks(stats.n_groups):
        b_hat[sl] = chunk_blups(stats, point, beta, sl)[0]
    return b_hat


def conditional_cov(stats, point, sigma2, reml=False, LCL=None):
    """Gamma_i = Var(b_i | y) for every group, (G, q, q)  (eq:blup-cov).

    LCL: Lambda C_i^{-1} Lambda' if the caller already has it from :func:`blups`.
    """
    if is_blocked(stats):
        return conditional_cov_blocked(stats, point, sigma2, reml)
    Gamma = np.empty((stats.n_groups, stats.q, stats.q))
    for sl in group_chunks(stats.n_groups):
        LCL_sl = chunk_Lambda_Cinv_Lambdat(point, sl) if LCL is None else LCL[sl]
        Gamma[sl] = chunk_conditional_cov(stats, point, sigma2, reml, LCL_sl, sl)
    return Gamma
