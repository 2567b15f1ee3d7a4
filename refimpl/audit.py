"""Audit another engine's answer with our analytic score.

Given an engine's reported estimates (user parameterization: fe_params, cov_re,
vcomp, scale) we move to the profile point theta = (cov_re, vcomp) / scale, and
evaluate there our profiled llf, score and Hessian. The point is stationary
when the predicted gain of one Newton step from it, g'(-H)^{-1}g / 2, is below
convergence.GAIN_TOL: a log-likelihood difference, so the measure is
scale-free and reads as "how much llf this engine left on the table". On the
boundary (lme4's isSingular) the boundary coordinates are set aside, as in
the verdict for our own fits.
"""

from dataclasses import dataclass

import numpy as np

from .convergence import verdict
from .parameters import profile_to_sqrt, user_to_profile


@dataclass
class AuditResult:
    llf: float                    # our profiled llf at the engine's covariance point
    score: np.ndarray             # our profiled score (profile parameterization)
    scaled_gradient: float        # max_i |g_i| max(|phi_i|, 1) / max(|llf|, 1) (sqrt coords)
    newton_gain: float            # predicted llf gain of one Newton step (nan if H not ND)
    stationary: bool
    boundary: bool
    fe_params_gls: np.ndarray     # GLS beta at that covariance point
    scale_profiled: float         # profiled sigma2 at that point
    message: str


def audit_point(model, fe_params, cov_re, vcomp, scale, reml):
    """Is the engine's (cov_re, vcomp, scale) a stationary point of our profiled llf?"""
    cov_re = np.atleast_2d(np.asarray(cov_re, float)) if np.size(cov_re) else np.zeros((0, 0))
    theta = user_to_profile(cov_re, np.atleast_1d(np.asarray(vcomp, float)), float(scale))
    phi = profile_to_sqrt(theta, model.k_re)
    v = verdict(model, phi, reml)
    pt = model.point_sqrt(phi)
    llf = model.loglike_sqrt(phi, reml)
    g = model.score_profile(theta, reml)
    msg = v.reason.replace("converged", "stationary").replace("not stationary", "NOT stationary")
    beta_gap = np.max(np.abs(np.asarray(fe_params, float) - pt.beta_hat) /
                      np.maximum(np.abs(pt.beta_hat), 1e-12)) if fe_params is not None else 0.0
    if beta_gap > 1e-4:
        msg += f"; reported fe_params differ from the GLS beta at that point by {beta_gap:.1e} relative"
    return AuditResult(llf=float(llf), score=g, scaled_gradient=v.max_scaled_gradient,
                       newton_gain=v.newton_gain, stationary=v.passed, boundary=v.boundary,
                       fe_params_gls=pt.beta_hat.copy(), scale_profiled=pt.sigma2_hat(reml),
                       message=msg)
