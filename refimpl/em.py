"""EM for the covariance parameters (Laird & Ware 1982; Lindstrom & Bates 1988).

The random effects b_i (and, for REML, beta with a flat prior) are the missing
data. One EM step from theta (book chapter "EM", eq:em-update):

E-step, at beta_hat(theta) and sigma2_hat(theta):
    b_hat_i, Gamma_i = Var(b_i | y)                        (eq:blup, eq:blup-cov)
    E[b_i b_i' | y] = b_hat_i b_hat_i' + Gamma_i
    E[e'e | y] = sum_i ||r_i - Z_i b_hat_i||^2 + tr Var(X beta + Z b | y)
M-step:
    sigma2' = E[e'e | y] / n
    cov_re' = mean_i E[b_i b_i' | y][re block]
    vcomp_j' = sum_i sum_{real slots} E[b^2 | y] / (number of real slots)
    theta'  = (cov_re', vcomp') / sigma2'

Why the profiled log-likelihood never decreases: EM does not decrease the full
(REML) likelihood, which at the old point equals the profiled one (beta_hat and
sigma2_hat maximise it), and the profiled likelihood at theta' is at least the
full one at (theta', sigma2'). tests/test_fit.py checks this at every step.
Everything comes from the per-group stack: no Python loop over groups. The
E-step's sums over groups run a chunk of groups at a time (group_chunks.py).
"""

import numpy as np

from . import batched
from .blocked_em import em_step_blocked
from .blup import chunk_blups, chunk_conditional_cov
from .group_chunks import chunk_sums
from .likelihood import is_blocked
from .linalg import psd_cholesky
from .parameters import pack_sqrt
from .score import XtVinvX_inv


def em_step(model, phi, reml):
    """One EM step: phi -> phi'. Returns (phi', llf at phi).

    Blocked statistics of a crossed design go to blocked_em.em_step_blocked.
    """
    stats, layout, design = model.stats, model.layout, model.design
    if is_blocked(stats):
        return em_step_blocked(model, phi, reml)
    pt = model.point_sqrt(phi)
    llf = model.loglike_sqrt(phi, reml)
    sigma2 = pt.sigma2_hat(reml)
    delta = pt.delta

    k = layout.k_re
    vc_slots = [layout.vc_slots(j) for j in range(layout.k_vc)]

    def chunk(sl):
        # E-step  (eq:blup, eq:blup-cov) for the chunk's groups, reduced to sums over them
        st = stats.take(sl)
        b_hat, LCL = chunk_blups(stats, pt, None, sl)
        Gamma = chunk_conditional_cov(stats, pt, sigma2, reml, LCL, sl)
        Ebb = b_hat[:, :, None] * b_hat[:, None, :] + Gamma
        Ztr = st.Zty0 - batched.times_shared(st.ZtX, delta[:, None])[:, :, 0]   # Z_i' r_i
        Ab = (st.ZtZ @ b_hat[:, :, None])[:, :, 0]                    # A_i b_i
        sums = (np.sum(b_hat * Ztr), np.sum(b_hat * Ab),
                np.sum(st.ZtZ * LCL),                                 # tr(Z_i Gamma_i Z_i') / sigma2, b given beta
                Ebb[:, :k, :k].sum(axis=0))
        real = design.real_slot_mask(sl)
        for s in vc_slots:
            diag = np.diagonal(Ebb[:, s, s], axis1=1, axis2=2)
            sums += (np.sum(diag * real[:, s]), np.sum(real[:, s]))
        if reml:
            PsiN = LCL @ st.ZtX
            BtPsiN = batched.sum_crossprod(st.ZtX, PsiN)              # sum_i B_i' Psi N_i
            sums += (BtPsiN, batched.sum_crossprod(PsiN, st.ZtZ @ PsiN))
        return sums

    bZtr, bAb, trace_ZLCLZ, Ebb_re, *rest = chunk_sums(stats.n_groups, chunk)
    rtr = stats.y0ty0 - 2 * delta @ stats.Xty0 + delta @ stats.XtX @ delta
    resid_ss = rtr - 2 * bZtr + bAb
    trace_var = sigma2 * trace_ZLCLZ                              # tr(Z_i Gamma_i Z_i'), b given beta
    if reml:
        # beta is random too: X_i beta + Z_i b_i moves with beta through (X_i - Z_i Psi N_i)
        # (eq:em-reml-trace)
        BtPsiN, PsiNtAPsiN = rest[2 * layout.k_vc:]
        XmZPN = stats.XtX - BtPsiN - BtPsiN.T + PsiNtAPsiN
        trace_var += sigma2 * np.trace(XtVinvX_inv(pt) @ XmZPN)
    Eee = resid_ss + trace_var

    # M-step  (eq:em-update)
    sigma2_new = Eee / stats.n_obs
    cov_re_new = Ebb_re / stats.n_groups                # mean over groups
    cov_re_new = 0.5 * (cov_re_new + cov_re_new.T)      # symmetric, also after rounding
    vc_new = np.zeros(layout.k_vc)
    for j in range(layout.k_vc):
        diag_sum, n_real = rest[2 * j], rest[2 * j + 1]
        vc_new[j] = diag_sum / max(n_real, 1)
    if not sigma2_new > 0:
        # E[e'e] > 0 in exact arithmetic; a value <= 0 means rounding has taken
        # over (a variance ~1e20 times sigma2): fit_em stops at the last point.
        raise EMRoundingError(f"EM step: E[e'e] = {Eee:.3g} is not positive (rounding)")
    L_new = psd_cholesky(cov_re_new / sigma2_new) if k else np.zeros((0, 0))
    # E[b_j^2] = b_hat_j^2 + Gamma_jj >= 0; a negative mean is rounding only.
    return pack_sqrt(L_new, np.sqrt(np.maximum(vc_new, 0.0) / sigma2_new)), llf


class EMRoundingError(ValueError):
    """The M-step's E[e'e] came out <= 0: rounding has taken over (it is > 0 in exact arithmetic)."""


def fit_em(model, phi0, reml, maxiter=50, tol=1e-10, callback=None):
    """Run EM steps from phi0 until the llf gain is below tol or maxiter.

    Returns (phi, n_iter, history) with history a list of (iteration, llf).
    """
    phi, history = np.asarray(phi0, float), []
    llf_old = -np.inf
    for it in range(maxiter):
        try:
            phi_new, llf = em_step(model, phi, reml)
        except (ValueError, np.linalg.LinAlgError) as err:
            if not history:
                if isinstance(err, EMRoundingError):
                    # the very first M-step is lost to rounding: EM cannot move from
                    # phi0, so hand it on unchanged (the next optimizer or the verdict
                    # judges it); a start where the llf itself fails still raises
                    return np.asarray(phi0, float), 0, history
                raise
            # The last step left the region where the likelihood can be evaluated
            # in double precision (Psi grew without bound), or rounding made the
            # M-step covariance indefinite: stop at the last point whose llf is
            # known. The caller's verdict judges it.
            return phi_good, it, history
        phi_good = phi
        history.append((it, llf))
        if callback:
            callback(phi, llf)
        if llf - llf_old < tol * max(1.0, abs(llf)) and it > 0:
            return phi, it, history
        phi, llf_old = phi_new, llf
    history.append((maxiter, model.loglike_sqrt(phi, reml)))
    return phi, maxiter, history

