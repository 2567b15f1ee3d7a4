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
"""

import numpy as np

from . import batched
from .blocked_em import blups_blocked, conditional_cov_blocked
from .likelihood import is_blocked
from .score import XtVinvX_inv


def _Lambda_Cinv_Lambdat(point):
    """Lambda C_i^{-1} Lambda' for every group, (G, q, q)."""
    Rinv_Lt = batched.solve_lower(point.R, np.broadcast_to(point.Lambda.T, point.R.shape))
    return np.swapaxes(Rinv_Lt, 1, 2) @ Rinv_Lt


def blups(stats, point, beta=None):
    """(b_hat, LCL) with b_hat (G, q) from eq:blup, and Lambda C^{-1} Lambda' (G, q, q).

    Blocked statistics (one group, crossed): (b_hat (1, q), None) from blocked_em.
    """
    if is_blocked(stats):
        return blups_blocked(stats, point, beta)
    beta = point.beta_hat if beta is None else np.asarray(beta, float)
    Ztr = stats.Zty0 - stats.ZtX @ (beta - stats.beta_ols)             # (G, q)
    LCL = _Lambda_Cinv_Lambdat(point)
    return (LCL @ Ztr[:, :, None])[:, :, 0], LCL


def conditional_cov(stats, point, sigma2, reml=False, LCL=None):
    """Gamma_i = Var(b_i | y) for every group, (G, q, q)  (eq:blup-cov).

    LCL: Lambda C_i^{-1} Lambda' if the caller already has it from :func:`blups`.
    """
    if is_blocked(stats):
        return conditional_cov_blocked(stats, point, sigma2, reml)
    if LCL is None:
        LCL = _Lambda_Cinv_Lambdat(point)
    Gamma = sigma2 * LCL
    if reml:
        PsiN = LCL @ stats.ZtX                                          # Psi Z'V^{-1}X, (G, q, p)
        PsiNWi = batched.times_shared(PsiN, XtVinvX_inv(point))
        Gamma = Gamma + sigma2 * PsiNWi @ np.swapaxes(PsiN, 1, 2)
    return Gamma
