"""The constrained fits behind each point of a profile (profile_ci.py).

max l(beta, theta, sigma2) subject to psi = v, for psi an sd, sigma, a
correlation or a fixed effect (chapter "Intervals and tests"). beta, and
sigma2 where the constraint allows, are maximised in closed form
(eq:constrained-gls, eq:profile-full); what is left is a smooth problem over
unconstrained coordinates x (phi, or (log d, w, s_vc) for a correlation:
profile_correlation.py, eq:cor-fixed-chol), solved
by quasi-Newton with the analytic gradient (eq:profile-gradient).
"""

import warnings
from dataclasses import dataclass

import numpy as np

from .newton import newton_direction
from .parameters import jacobian_sqrt_to_profile, profile_to_sqrt, profile_to_user, sqrt_to_profile
from .profile_correlation import CorrelationFixed

#: Inner quasi-Newton stops when max |grad_i| max(|x_i|, 1) < INNER_GTOL max(|f|, 1).
INNER_GTOL = 1e-9


# --------------------------------------------------------------------------
# The ML log-likelihood in (theta, sigma2) with beta profiled, and its gradient
# --------------------------------------------------------------------------

@dataclass
class _Pieces:
    """At theta: l_p, its score g_p, qf and its gradient g_q, the GLS beta_hat and Phi."""

    lp: float
    g_p: np.ndarray
    qf: float
    g_q: np.ndarray
    beta_hat: np.ndarray
    Phi: np.ndarray        # (X'V^{-1}X)^{-1}
    n: int


def _pieces(model, theta):
    """Everything the constrained objectives need, from the analytic score.

    The score of the full likelihood at sigma2 has the same -1/2 sum M_i part
    as the profiled score and weighs u'E_k u by 1/(2 sigma2) instead of n/(2 qf)
    (score.score_matrix). Taking sigma2 = qf/(2n) makes the difference
    n/(2 qf) u'E_k u, and dqf/dtheta_k = -u'E_k u                 (eq:profile-gradient)
    """
    pt = model.point(theta)
    n, p, K = pt.n_obs, pt.k_fe, len(theta)
    qf = pt.qf
    lp = float(model.loglike_profile(theta, reml=False))
    g_p = model.score_profile(theta, reml=False)
    s2 = qf / (2.0 * n)
    cov_re, vcomp = profile_to_user(theta, model.k_re, s2)
    sf = model.score_user(pt.beta_hat, cov_re, vcomp, s2, reml=False)
    s_theta = s2 * sf[p:p + K]
    g_q = -(2.0 * qf / n) * (s_theta - g_p)
    return _Pieces(lp, g_p, qf, g_q, pt.beta_hat.copy(), np.linalg.inv(pt.XtVinvX), n)


def full_ml(pc, sigma2, qf=None):
    """l(theta, sigma2) = l_p + n/2 log qf + c0 - n/2 log(2 pi sigma2) - qf/(2 sigma2) and its
    partial derivatives in theta (at fixed sigma2) and in sigma2          (eq:profile-full)."""
    n = pc.n
    c0 = 0.5 * n * (1.0 + np.log(2.0 * np.pi / n))
    l = pc.lp + 0.5 * n * np.log(pc.qf) + c0 - 0.5 * n * np.log(2 * np.pi * sigma2) - pc.qf / (2 * sigma2)
    d_theta = pc.g_p + (0.5 * n / pc.qf - 0.5 / sigma2) * pc.g_q
    d_sigma2 = -0.5 * n / sigma2 + pc.qf / (2.0 * sigma2 ** 2)
    return l, d_theta, d_sigma2


def constrained_llf(model, param, value, theta):
    """max of the ML llf over everything except theta, with param = value; and d/dtheta.

    sd (theta_k):  sigma2 = v^2 / theta_k
    sigma:         sigma2 = v^2
    beta_j:        beta = beta_hat - Phi e_j (beta_hat_j - v)/Phi_jj, qf -> qf + (v - beta_hat_j)^2/Phi_jj,
                   sigma2 = qf_j / n                                        (eq:constrained-gls)
    cor:           sigma2 = qf / n (theta already satisfies the constraint)
    """
    pc = _pieces(model, theta)
    if param.kind == "sd":
        s2 = value ** 2 / theta[param.k]
        l, d_th, d_s2 = full_ml(pc, s2)
        d_th = d_th.copy()
        d_th[param.k] -= d_s2 * value ** 2 / theta[param.k] ** 2
        return l, d_th
    if param.kind == "sigma":
        l, d_th, _ = full_ml(pc, value ** 2)
        return l, d_th
    if param.kind == "cor":
        return pc.lp, pc.g_p
    j, n = param.k, pc.n
    lam = (value - pc.beta_hat[j]) / pc.Phi[j, j]
    qf_j = pc.qf + lam ** 2 * pc.Phi[j, j]
    beta = pc.beta_hat + pc.Phi[:, j] * lam
    l = pc.lp + 0.5 * n * np.log(pc.qf / qf_j)
    # envelope theorem: beta and sigma2 are optimal, so d/dtheta is the partial at fixed (beta, sigma2)
    s2 = qf_j / n
    cov_re, vcomp = profile_to_user(theta, model.k_re, s2)
    p, K = len(beta), len(theta)
    sf = model.score_user(beta, cov_re, vcomp, s2, reml=False)
    return l, s2 * sf[p:p + K]


# --------------------------------------------------------------------------
# Unconstrained coordinates x for the inner problem
# --------------------------------------------------------------------------

class _Coords:
    """x -> theta with its Jacobian. phi (sqrt) for sd/sigma/beta; for a correlation
    rho_ab of a q x q block: x = (log d, w, s_vc) of (eq:cor-fixed-chol), any q >= 2."""

    def __init__(self, model, param, value):
        self.model, self.param, self.value = model, param, value
        self.k_re = model.k_re
        self.cor = (CorrelationFixed(self.k_re, param.a, param.b, value)
                    if param.kind == "cor" else None)

    def theta(self, x):
        return sqrt_to_profile(x, self.k_re) if self.cor is None else self.cor.theta(x)

    def jacobian(self, x):
        return jacobian_sqrt_to_profile(x, self.k_re) if self.cor is None else self.cor.jacobian(x)

    def from_theta(self, theta):
        return profile_to_sqrt(theta, self.k_re) if self.cor is None else self.cor.from_theta(theta)

    def f_grad(self, x):
        theta = self.theta(x)
        l, d_th = constrained_llf(self.model, self.param, self.value, theta)
        return l, self.jacobian(x).T @ d_th


def _fd_hessian(value, x):
    """Central differences of the analytic gradient (symmetrised)."""
    h = 1e-5 * np.maximum(np.abs(x), 1e-2)
    H = np.empty((len(x), len(x)))
    for i in range(len(x)):
        e = np.zeros(len(x))
        e[i] = h[i]
        H[:, i] = (value(x + e)[1] - value(x - e)[1]) / (2 * h[i])
    return 0.5 * (H + H.T)


def _maximise(coords, x0, H0=None, maxiter=100, gtol=INNER_GTOL):
    """Safeguarded quasi-Newton on f(x) with the analytic gradient.

    The first Hessian is central differences of the gradient (or H0, the last
    one at a neighbouring profile point); BFGS updates it after each step.
    Returns (x, f, H).
    """
    x = np.asarray(x0, float).copy()

    def value(z):
        try:
            return coords.f_grad(z)
        except (ValueError, np.linalg.LinAlgError):
            return -np.inf, None

    f, g = value(x)
    if not np.isfinite(f):
        raise ValueError(f"profile of {coords.param.name} at {coords.value!r}: the likelihood is "
                         "not defined at the start point")
    H = _fd_hessian(value, x) if H0 is None else H0.copy()
    for it in range(maxiter):
        if np.max(np.abs(g) * np.maximum(np.abs(x), 1.0), initial=0.0) < gtol * max(abs(f), 1.0):
            return x, f, H
        s, _ = newton_direction(g, H)
        t = 1.0
        while True:
            f_new, g_new = value(x + t * s)
            if f_new >= f + 1e-4 * t * float(g @ s):
                break
            t /= 2
            if t < 1e-10:
                if H0 is not None or it > 0:          # a stale Hessian: start again from differences
                    return _maximise(coords, x, None, maxiter, gtol)
                return x, f, H
        step, dg = t * s, g_new - g
        x, f, g = x + step, f_new, g_new
        if float(step @ -dg) > 1e-300:                # BFGS on B = -H, curvature condition
            Bs = -H @ step
            H = H + np.outer(Bs, Bs) / float(step @ Bs) + np.outer(dg, dg) / float(step @ dg)
        if np.max(np.abs(step) / np.maximum(np.abs(x), 1.0)) < 1e-14:
            return x, f, H
    warnings.warn(f"profile of {coords.param.name} at {coords.value!r}: inner quasi-Newton reached "
                  f"maxiter={maxiter}", RuntimeWarning, stacklevel=3)
    return x, f, H
