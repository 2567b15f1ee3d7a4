"""BLUPs, their conditional covariances and one EM step, for a crossed design.

The general formulas are (eq:blup), (eq:blup-cov) and (eq:em-update); the
factor is that of (eq:crossed-chol).

em.py and blup.py need Lambda C^{-1} Lambda' (the conditional covariance of b
in units of sigma2, eq:blup-cov), but EM only its diagonal and its k_re x k_re
block: a *selected* inverse. From the blocked factor, in block order,

    diag(C^{-1}) on block 1 = 1/c11 + s1^2 ||K21 e_c||^2    (blocked_derivatives.m_blocks: colsq)
    C^{-1} on block 2       = S^{-1} = (L22 L22')^{-1}        (q2 x q2, LAPACK potri)

since L^{-1} e_c = [e_c / l11_c; -s1 K21 e_c] for a column c of block 1, and
[0; L22^{-1} e_c] for a column of block 2. So the selected inverse costs
S^{-1} and sparse products, which the score needs anyway;
the m1 x m1 block of C^{-1} is never formed.

Twins: blup.py and em.py on the dense one-group statistics (tests/test_blocked.py).
"""

import numpy as np

from .blocked_derivatives import A_times, m_blocks
from .linalg import psd_cholesky
from .parameters import pack_sqrt

#: conditional_cov forms the whole q x q matrix only up to this q.
DENSE_COV_MAX_Q = 6000


def blups_blocked(stats, point, beta=None):
    """b_hat = Lambda C^{-1} Lambda' Z'r (eq:blup), shape (1, q) in the layout's column order."""
    b = _b_hat_block_order(stats, point, beta)
    return stats.to_layout_order(b[:stats.m1], b[stats.m1:])[None, :], None


def _Ztr(stats, point, beta):
    beta = point.beta_hat if beta is None else np.asarray(beta, float)
    Bc = np.concatenate([stats.B1, stats.B2])
    return Bc[:, -1] - Bc[:, :-1] @ (beta - stats.beta_ols)


def _LCL_times(stats, point, V):
    """Lambda C^{-1} Lambda' V in block order."""
    F = point.factor
    Y1, Y2 = F.solve(*F.Lambda_t(V[:stats.m1], V[stats.m1:]))
    return np.concatenate(F.Lambda(Y1, Y2))


def _b_hat_block_order(stats, point, beta=None):
    return _LCL_times(stats, point, _Ztr(stats, point, beta))


def conditional_cov_blocked(stats, point, sigma2, reml=False):
    """Gamma = Var(b | y), (1, q, q) in layout order (eq:blup-cov); refused past DENSE_COV_MAX_Q."""
    q = stats.q
    if q > DENSE_COV_MAX_Q:
        raise ValueError(f"random_effects_cov of a crossed design with q = {q} random-effect columns "
                         f"would be a dense {q} x {q} matrix; refimpl forms it only up to q = "
                         f"{DENSE_COV_MAX_Q}. Use random_effects (the conditional means) instead")
    G = _LCL_times(stats, point, np.eye(q))
    if reml:
        PsiB = _LCL_times(stats, point, np.concatenate([stats.B1, stats.B2])[:, :-1])
        G = G + PsiB @ _XtVinvX_inv(point) @ PsiB.T
    order = np.concatenate([stats.cols1, stats.cols2])
    out = np.empty((q, q))
    out[np.ix_(order, order)] = sigma2 * 0.5 * (G + G.T)
    return out[None]


def _XtVinvX_inv(point):
    p = point.k_fe
    T11inv = np.linalg.inv(point.T[:p, :p])
    return T11inv.T @ T11inv


def em_step_blocked(model, phi, reml):
    """em.em_step for blocked statistics: the same E- and M-step (eq:em-update)."""
    stats, layout = model.stats, model.layout
    pt = model.point_sqrt(phi)
    llf = model.loglike_sqrt(phi, reml)
    sigma2, delta, F, m1 = pt.sigma2_hat(reml), pt.delta, pt.factor, stats.m1

    # E-step: b_hat and the selected inverse (module docstring)
    Ztr = _Ztr(stats, pt, None)
    b = _LCL_times(stats, pt, Ztr)
    mb = m_blocks(stats, pt, full=False, need_K22=False)
    colsq, Si = mb["colsq"], mb["Si"]                                       # ||K21 e_c||^2, S^{-1}
    G1 = F.s1 ** 2 * (1.0 / F.c11 + F.s1 ** 2 * colsq)                      # diag of Lambda C^{-1} Lambda', block 1
    k = layout.k_re
    G2 = np.concatenate([np.einsum("ab,bc,ac->a", F.Lam2.L, Si[:k, :k], F.Lam2.L),
                         F.Lam2.s ** 2 * np.diag(Si)[k:]])                   # ... block 2: diag(Lambda2 Si Lambda2')
    G_re = F.Lam2.L @ Si[:k, :k] @ F.Lam2.L.T
    # tr(A Lambda C^{-1} Lambda') = tr((C - I) C^{-1}) = q - tr(C^{-1}); on block 1
    # 1 - diag(C^{-1}) = s1^2 d1 / c11 - s1^2 ||K21 e_c||^2 without cancellation
    trA_LCL = (np.sum(F.s1 ** 2 * stats.d1 / F.c11 - F.s1 ** 2 * colsq)
               + stats.q2 - np.trace(Si))

    rtr = stats.y0ty0 - 2 * delta @ stats.Xty0 + delta @ stats.XtX @ delta
    resid_ss = rtr - 2 * b @ Ztr + b @ A_times(stats, b)
    diag = np.concatenate([G1, G2])
    trace_var = sigma2 * trA_LCL
    if reml:
        B = np.concatenate([stats.B1, stats.B2])[:, :-1]
        PsiB = _LCL_times(stats, pt, B)
        Winv = _XtVinvX_inv(pt)
        BtPsiB = B.T @ PsiB
        XmZPN = stats.XtX - BtPsiB - BtPsiB.T + PsiB.T @ A_times(stats, PsiB)
        trace_var += sigma2 * np.trace(Winv @ XmZPN)
        PWi = PsiB @ Winv
        diag = diag + np.einsum("ip,ip->i", PWi, PsiB)
        G_re = G_re + PWi[m1:m1 + k] @ PsiB[m1:m1 + k].T
    Eee = resid_ss + trace_var
    Eb2 = b ** 2 + sigma2 * diag                                             # E[b_c^2 | y]

    # M-step (eq:em-update); one group, so every slot is real
    sigma2_new = Eee / stats.n_obs
    if not sigma2_new > 0:
        raise ValueError(f"EM step: E[e'e] = {Eee:.3g} is not positive (rounding)")
    b_re = b[m1:m1 + k]
    cov_re_new = np.outer(b_re, b_re) + sigma2 * G_re
    cov_re_new = 0.5 * (cov_re_new + cov_re_new.T)
    Eb2_layout = stats.to_layout_order(Eb2[:m1], Eb2[m1:])
    vc_new = np.array([np.mean(Eb2_layout[layout.vc_slots(j)]) for j in range(layout.k_vc)])
    L_new = psd_cholesky(cov_re_new / sigma2_new) if k else np.zeros((0, 0))
    return pack_sqrt(L_new, np.sqrt(np.maximum(vc_new, 0.0) / sigma2_new)), llf
