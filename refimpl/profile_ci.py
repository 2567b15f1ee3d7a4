"""Profile-likelihood confidence intervals, lme4's ``confint(method="profile")``.

For one scalar parameter psi of the model (a fixed effect, the standard
deviation or correlation of a random effect, a variance component's sd, or
sigma), the profile deviance and its signed square root are

    d(v)    = -2 max { l(beta, theta, sigma2) : psi = v }
    zeta(v) = sign(v - psi_hat) sqrt(d(v) - d(psi_hat))                 (eq:profile-zeta)

and the level-(1 - alpha) interval is { v : |zeta(v)| <= z_{1-alpha/2} }
(chapter "Intervals and tests"). As in lme4 (R/profile.R, devfun2) the
likelihood is always the *ML* one: a REML fit is refitted by ML first, and
the parameters are on lme4's scale: sd and correlation of the random
effects, sd of each variance component, sigma, then the fixed effects.

Each profile point is a constrained refit. beta is always profiled in closed
form (GLS, or GLS with beta_j = v held: eq:constrained-gls), and so is
sigma2 when the constraint allows; what is left is a smooth problem over a
few unconstrained coordinates x, solved by safeguarded Newton (newton.py's
direction) with the *analytic* gradient (model.score, model.score_full:
eq:profile-gradient) and a Hessian from central differences of that gradient.
The roots zeta(v) = +-z are found by ``scipy.optimize.brentq`` to XTOL
relative.

Boundary behaviour (lme4's): when the profile of an sd does not reach
-z before sd = 0, the lower limit is 0; a correlation's limits are -1 and 1
when its profile does not cross inside. A fit that is itself on the boundary
(a zero variance) raises ValueError: use the parametric bootstrap.
"""

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize
from scipy import stats as sps

from . import arguments
from .newton import newton_direction
from .parameters import (jacobian_sqrt_to_profile, pack_profile, profile_to_sqrt,
                         profile_to_user, sqrt_to_profile, unpack_profile)

#: brentq's absolute tolerance on a limit, relative to the parameter's scale.
XTOL = 1e-9
#: Inner Newton stops when max |grad_i| max(|x_i|, 1) < INNER_GTOL.
INNER_GTOL = 1e-9


# --------------------------------------------------------------------------
# The parameters, on lme4's scale
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class ProfileParam:
    """One scalar parameter: kind in {"sd", "cor", "sigma", "beta"} and where it lives."""

    name: str
    kind: str
    k: int = -1          # sd: index of the variance in theta; beta: column of X
    a: int = -1          # cor: the two random effects
    b: int = -1


def _diag_index(a):
    """Position of Psi_re[a, a] in theta (row-wise lower triangle)."""
    return a * (a + 1) // 2 + a


def _tril_index(a, b):
    """Position of Psi_re[a, b], a >= b, in theta."""
    return a * (a + 1) // 2 + b


def profile_params(model):
    """lme4's order: per random-effect block sd_1, cor_12.., sd_2, ..; then sds of
    the variance components, sigma, the fixed effects."""
    k_re, re = model.k_re, list(model.exog_re_names)
    out = []
    for a in range(k_re):
        out.append(ProfileParam(f"sd_{re[a]}", "sd", k=_diag_index(a)))
        for b in range(a + 1, k_re):
            out.append(ProfileParam(f"cor_{re[a]}.{re[b]}", "cor", a=b, b=a))
    m = k_re * (k_re + 1) // 2
    for j, name in enumerate(model.vc_names):
        out.append(ProfileParam(f"sd_{name}", "sd", k=m + j))
    out.append(ProfileParam("sigma", "sigma"))
    for j, name in enumerate(model.exog_names):
        out.append(ProfileParam(name, "beta", k=j))
    return out


def lme4_scale(theta, sigma2, beta, model):
    """Values of every ProfileParam at (theta, sigma2, beta)."""
    Psi_re, psi_vc = unpack_profile(theta, model.k_re)
    vals = []
    for p in profile_params(model):
        if p.kind == "sd":
            vals.append(np.sqrt(sigma2 * theta[p.k]))
        elif p.kind == "cor":
            vals.append(Psi_re[p.a, p.b] / np.sqrt(Psi_re[p.a, p.a] * Psi_re[p.b, p.b]))
        elif p.kind == "sigma":
            vals.append(np.sqrt(sigma2))
        else:
            vals.append(beta[p.k])
    return np.array(vals)


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
    lp = float(model.loglike(theta, reml=False))
    g_p = model.score(theta, reml=False)
    s2 = qf / (2.0 * n)
    cov_re, vcomp = profile_to_user(theta, model.k_re, s2)
    sf = model.score_full(pt.beta_hat, cov_re, vcomp, s2, reml=False)
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
    sf = model.score_full(beta, cov_re, vcomp, s2, reml=False)
    return l, s2 * sf[p:p + K]


# --------------------------------------------------------------------------
# Unconstrained coordinates x for the inner problem
# --------------------------------------------------------------------------

class _Coords:
    """x -> theta with its Jacobian. phi (sqrt) for sd/sigma/beta; for a correlation
    rho of a 2 x 2 block: x = (log d_0, log d_1, s_vc), Psi_re = D R(rho) D."""

    def __init__(self, model, param, value):
        self.model, self.param, self.value = model, param, value
        self.k_re = model.k_re
        if param.kind == "cor" and self.k_re != 2:
            raise NotImplementedError(
                f"profiling a correlation is implemented for one 2 x 2 random-effects block; this "
                f"model has k_re = {self.k_re}: use conf_int(method='boot') for {param.name}")

    def theta(self, x):
        if self.param.kind != "cor":
            return sqrt_to_profile(x, self.k_re)
        d = np.exp(x[:2])
        rho = self.value
        Psi = np.array([[d[0] ** 2, rho * d[0] * d[1]], [rho * d[0] * d[1], d[1] ** 2]])
        return pack_profile(Psi, x[2:] ** 2)

    def jacobian(self, x):
        if self.param.kind != "cor":
            return jacobian_sqrt_to_profile(x, self.k_re)
        d = np.exp(x[:2])
        c = self.value * d[0] * d[1]
        K = len(x)
        J = np.zeros((K + 1, K))
        J[0, 0] = 2 * d[0] ** 2
        J[1, 0] = J[1, 1] = c
        J[2, 1] = 2 * d[1] ** 2
        J[3:, 2:] = np.diag(2 * x[2:])
        return J

    def from_theta(self, theta):
        if self.param.kind != "cor":
            return profile_to_sqrt(theta, self.k_re)
        Psi_re, psi_vc = unpack_profile(theta, 2)
        return np.concatenate([0.5 * np.log(np.diag(Psi_re)), np.sqrt(psi_vc)])

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


def _maximise(coords, x0, H0=None, maxiter=100):
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
        if np.max(np.abs(g) * np.maximum(np.abs(x), 1.0), initial=0.0) < INNER_GTOL * max(abs(f), 1.0):
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
                    return _maximise(coords, x, None, maxiter)
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


# --------------------------------------------------------------------------
# The profiler
# --------------------------------------------------------------------------

class Profiler:
    """zeta(v) for each parameter of an ML refit of ``results`` (see the module docstring)."""

    def __init__(self, results):
        model = results.model
        if results.free is not None and not np.all(results.free):
            held = [n for n, f in zip(results.cov_param_names, results.free) if not f]
            raise ValueError(f"profile intervals need every covariance parameter free; this fit "
                             f"held {held} fixed (free=...). Refit without free=, or use "
                             "conf_int(method='wald')")
        ml = results
        if results.reml:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ml = model.fit(reml=False, start_params=results.theta)
        if ml.singular or results.singular:
            raise ValueError(
                "profile intervals at a boundary fit: a random-effect variance is estimated as 0 "
                f"({ml.convergence.reason}), so its sd has no two-sided profile and the others' "
                "profiles start on the boundary. Use conf_int(method='boot') (parametric bootstrap), "
                "or drop the zero variance from the model")
        self.model, self.ml = model, ml
        self.params = profile_params(model)
        self.theta_hat = ml.theta.copy()
        self.base_llf = float(ml.llf)
        self.estimates = lme4_scale(self.theta_hat, ml.scale, ml.fe_params.to_numpy(), model)
        self._warm, self._warm_H = {}, {}

    def param(self, name):
        for p in self.params:
            if p.name == name:
                return p
        raise ValueError(f"unknown parameter {name!r}; the parameters are "
                         f"{[p.name for p in self.params]}")

    def estimate(self, param):
        return self.estimates[self.params.index(param)]

    def max_llf(self, param, value):
        """max l subject to param = value (ML)."""
        if param.kind == "sd" and value == 0.0:
            return self._zero_variance_llf(param)
        coords = _Coords(self.model, param, value)
        x0 = self._warm.get(param.name)
        # phi = 0 in a variance coordinate is a stationary point of every objective (it is
        # even there): never start on it. Start from the last profile point otherwise.
        if x0 is None or np.any(self._variances(coords.theta(x0)) < 1e-6 * self._variances(self.theta_hat)):
            x0 = coords.from_theta(self.theta_hat)
            H0 = None
        else:
            H0 = self._warm_H.get(param.name)
        x, f, H = _maximise(coords, x0, H0)
        self._warm[param.name], self._warm_H[param.name] = x, H
        return f

    def _variances(self, theta):
        k_re = self.model.k_re
        m = k_re * (k_re + 1) // 2
        return np.concatenate([[theta[_diag_index(a)] for a in range(k_re)], theta[m:]])

    def zeta(self, param, value):
        """Signed square root of the deviance difference (eq:profile-zeta)."""
        d = max(2.0 * (self.base_llf - self.max_llf(param, value)), 0.0)
        return float(np.sign(value - self.estimate(param)) * np.sqrt(d))

    def _zero_variance_llf(self, param):
        """The llf with variance theta_k = 0 (and its correlations): a refit holding them at 0."""
        K, k_re = len(self.theta_hat), self.model.k_re
        theta0 = self.theta_hat.copy()
        free = np.ones(K, bool)
        if param.k < k_re * (k_re + 1) // 2:
            a = next(i for i in range(k_re) if _diag_index(i) == param.k)
            for b in range(k_re):
                idx = _tril_index(max(a, b), min(a, b))
                theta0[idx], free[idx] = 0.0, False
        else:
            theta0[param.k], free[param.k] = 0.0, False
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if free.any():
                return float(self.model.fit(reml=False, start_params=theta0, free=free.astype(float),
                                            method="newton").llf)
            return float(self.model.loglike(theta0, reml=False))

    # ---------------------------------------------------------------
    def limit(self, param, z, side):
        """The v on one side (side = -1 or +1) with zeta(v) = side * z; a bound when none."""
        est = self.estimate(param)
        target = side * z
        f = lambda v: self.zeta(param, v) - target          # noqa: E731
        self._warm.pop(param.name, None)
        self._warm_H.pop(param.name, None)
        if param.kind == "beta":
            se = np.sqrt(self.ml.scale * np.linalg.inv(self.ml.point.XtVinvX)[param.k, param.k])
            step = se * z
            lo_or_hi = est + side * step
            prev = est
            for _ in range(60):
                if np.sign(f(lo_or_hi)) == side:
                    break
                prev, lo_or_hi = lo_or_hi, est + side * (abs(lo_or_hi - est) * 2)
            return optimize.brentq(f, *sorted((prev, lo_or_hi)), xtol=XTOL * se, rtol=1e-15)
        if param.kind == "cor":
            bound = float(side)
            inner = est
            for k in range(1, 40):
                v = est + side * (1 - 2.0 ** -k) * abs(bound - est)
                if np.sign(f(v)) == side:
                    return optimize.brentq(f, *sorted((inner, v)), xtol=XTOL, rtol=1e-15)
                inner = v
            return bound
        # sd and sigma: positive
        if side > 0:
            prev, v = est, est * 1.5
            for _ in range(60):
                if f(v) > 0:
                    break
                prev, v = v, v * 2
            return optimize.brentq(f, prev, v, xtol=XTOL * est, rtol=1e-15)
        if param.kind == "sd" and self.zeta(param, 0.0) >= -z:
            return 0.0                                     # lme4: no crossing above 0 -> 0
        prev, v = est, est / 1.5
        for _ in range(60):
            if f(v) < 0:
                break
            prev, v = v, v / 2
            if param.kind == "sd" and v < 1e-4 * est:
                v = 0.0                                    # zeta(0) < -z: bracket down to 0
                break
        return optimize.brentq(f, v, prev, xtol=XTOL * est, rtol=1e-15)


def _profiler(results):
    return results if isinstance(results, Profiler) else Profiler(results)


def conf_int_profile(results, alpha=0.05, params=None):
    """Profile-likelihood intervals (lme4's confint(method="profile")) as a DataFrame.

    Rows in lme4's order (profile_params), named sd_<re>, cor_<a>.<b>, sd_<vc>, sigma,
    then the fixed effects; columns "estimate", "lower", "upper". The likelihood is ML
    (a REML fit is refitted by ML, as lme4 does). ``params``: a subset of row names.
    """
    alpha = arguments.probability("alpha", alpha)
    pr = _profiler(results)
    chosen = pr.params if params is None else [pr.param(n) for n in params]
    z = sps.norm.ppf(1 - alpha / 2)
    rows = {}
    for p in chosen:
        rows[p.name] = (pr.estimate(p), pr.limit(p, z, -1), pr.limit(p, z, +1))
    return pd.DataFrame.from_dict(rows, orient="index", columns=["estimate", "lower", "upper"])


def profile(results, alpha=0.01, n_points=21, params=None):
    """Profile traces for plots: a DataFrame with columns param, value, zeta.

    For each parameter, zeta on n_points values spread evenly between the
    level-(1 - alpha) profile limits (so the default reaches |zeta| = 2.58).
    """
    alpha = arguments.probability("alpha", alpha)
    n_points = arguments.integer("n_points", n_points, minimum=3)
    pr = _profiler(results)
    chosen = pr.params if params is None else [pr.param(n) for n in params]
    z = sps.norm.ppf(1 - alpha / 2)
    out = []
    for p in chosen:
        lo, hi = pr.limit(p, z, -1), pr.limit(p, z, +1)
        for v in np.linspace(lo, hi, n_points):
            out.append((p.name, float(v), pr.zeta(p, float(v))))
    return pd.DataFrame(out, columns=["param", "value", "zeta"])
