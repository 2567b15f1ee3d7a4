"""Audit another engine's answer with our analytic score.

Given an engine's reported estimates (user parameterization: fe_params, cov_re,
vcomp, scale) we first check that they are a valid covariance at all
(covariance_check: symmetric, positive semi-definite, variances >= 0, finite,
right shapes; ValueError with the reason otherwise). Then we move to the
profile point theta = (cov_re, vcomp) / scale, and evaluate there our
profiled llf, score and Hessian, and the same verdict as for our own fits
(convergence.verdict). In the interior the point is stationary when the
predicted gain of one Newton step from it, g'(-H)^{-1}g / 2, is below
convergence.GAIN_TOL: a log-likelihood difference, so the measure is
scale-free and reads as "how much llf this engine left on the table". On the
boundary (lme4's isSingular) the verdict checks the KKT conditions
(eq:kkt-psd, eq:kkt-vc): an answer on the boundary where the likelihood still
rises off it is NOT stationary, and the message says along which direction
and by how much.
"""

from dataclasses import dataclass

import numpy as np

from .convergence import verdict
from .covariance_check import check_covariance
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
    boundary_gain: float = 0.0    # measured llf gain off the boundary (0 in the interior)


def audit_point(model, fe_params, cov_re, vcomp, scale, reml):
    """Is the engine's (cov_re, vcomp, scale) a stationary point of our profiled llf?

    Raises ValueError (naming the key and the rule) when the answer is not a
    valid covariance: such an answer is not a point of the model at all.
    """
    cov_re, vcomp, scale = check_covariance(cov_re, vcomp, scale, k_re=model.k_re,
                                            k_vc=model.k_vc)
    if fe_params is not None:
        fe = np.asarray(getattr(fe_params, "values", fe_params), float).ravel()
        if fe.shape != (model.k_fe,) or not np.all(np.isfinite(fe)):
            raise ValueError(f"fe_params must be {model.k_fe} finite numbers, got {fe}")
    with np.errstate(over="ignore"):
        theta = user_to_profile(cov_re, vcomp, scale)
    if not np.all(np.isfinite(theta)):
        raise ValueError(f"cov_re / scale or vcomp / scale overflows double precision (scale = "
                         f"{scale:.3g}): not a point where the likelihood can be evaluated")
    phi = profile_to_sqrt(theta, model.k_re)
    v = verdict(model, phi, reml)
    llf = model.loglike_sqrt(phi, reml)
    pt = model.point_sqrt(phi)
    g = model.score_profile(theta, reml)
    msg = v.reason
    for ours, theirs in (("not converged", "NOT stationary"),
                         ("converged to a boundary (singular) fit", "stationary on the boundary"),
                         ("converged", "stationary")):
        if msg.startswith(ours):
            msg = theirs + msg[len(ours):]
            break
    beta_gap = np.max(np.abs(fe - pt.beta_hat) /
                      np.maximum(np.abs(pt.beta_hat), 1e-12)) if fe_params is not None else 0.0
    if beta_gap > 1e-4:
        msg += f"; reported fe_params differ from the GLS beta at that point by {beta_gap:.1e} relative"
    return AuditResult(llf=float(llf), score=g, scaled_gradient=v.max_scaled_gradient,
                       newton_gain=v.newton_gain, stationary=v.passed, boundary=v.boundary,
                       fe_params_gls=pt.beta_hat.copy(), scale_profiled=pt.sigma2_hat(reml),
                       message=msg, boundary_gain=v.boundary_gain)
