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
few unconstrained coordinates x (for a correlation of a q x q block, any q:
Psi = D R D with R's Cholesky rows free except the two that fix rho_ab,
profile_correlation.py, eq:cor-fixed-chol), solved by safeguarded Newton (newton.py's
direction) with the *analytic* gradient (model.score_profile, model.score_user:
eq:profile-gradient), a first Hessian from central differences of that
gradient and BFGS updates (profile_constrained.py).
The roots zeta(v) = +-z are found by ``scipy.optimize.brentq`` to XTOL
relative.

Boundary behaviour (lme4's): when the profile of an sd does not reach
-z before sd = 0, the lower limit is 0; a correlation's limits are -1 and 1
when its profile does not cross inside (lme4's confint replaces its NA by the
bound, so it prints -1 / 1 too, not NaN). A fit that is itself on the boundary
(a zero variance) raises ValueError: use the parametric bootstrap.
"""

import copy
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize
from scipy import stats as sps

from . import arguments
from .parameters import MixedLMParams, unpack_profile
from .profile_constrained import INNER_GTOL, _Coords, _maximise, constrained_llf  # noqa: F401 (re-exported)

#: brentq's absolute tolerance on a limit, relative to the parameter's scale.
XTOL = 1e-9


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
# The profiler
# --------------------------------------------------------------------------

class Profiler:
    """zeta(v) for each parameter of an ML refit of ``results`` (see the module docstring)."""

    def __init__(self, results, xtol=XTOL, inner_gtol=INNER_GTOL):
        self.xtol, self.inner_gtol = float(xtol), float(inner_gtol)
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
                ml = _detached(model).fit(reml=False, start_params=_start(results.theta, model))
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
        self.estimates = lme4_scale(self.theta_hat, ml.scale, np.asarray(ml.fe_params, float), model)
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
        x, f, H = _maximise(coords, x0, H0, gtol=self.inner_gtol)
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
                return float(_detached(self.model).fit(
                    reml=False, start_params=_start(theta0, self.model), free=free.astype(float),
                    method="newton").llf)
            return float(self.model.loglike_profile(theta0, reml=False))

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
            return optimize.brentq(f, *sorted((prev, lo_or_hi)), xtol=self.xtol * se, rtol=1e-15)
        if param.kind == "cor":
            bound = float(side)
            inner = est
            for k in range(1, 40):
                v = est + side * (1 - 2.0 ** -k) * abs(bound - est)
                if np.sign(f(v)) == side:
                    return optimize.brentq(f, *sorted((inner, v)), xtol=self.xtol, rtol=1e-15)
                inner = v
            return bound
        # sd and sigma: positive
        if side > 0:
            prev, v = est, est * 1.5
            for _ in range(60):
                if f(v) > 0:
                    break
                prev, v = v, v * 2
            return optimize.brentq(f, prev, v, xtol=self.xtol * est, rtol=1e-15)
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
        return optimize.brentq(f, v, prev, xtol=self.xtol * est, rtol=1e-15)


def _detached(model):
    """A shallow copy of the model to refit: fit() records reml/free on the model it fits
    (statsmodels' habit), and the caller's model must not change under them."""
    return copy.copy(model)


def _start(theta, model):
    """start_params for fit() from a profile vector theta."""
    return MixedLMParams.from_profile(theta, model.k_re)


def _profiler(results, **tolerances):
    return results if isinstance(results, Profiler) else Profiler(results, **tolerances)


def conf_int_profile(results, alpha=0.05, params=None, *, xtol=XTOL, inner_gtol=INNER_GTOL):
    """Profile-likelihood intervals (lme4's confint(method="profile")) as a DataFrame.

    Rows in lme4's order (profile_params), named sd_<re>, cor_<a>.<b>, sd_<vc>, sigma,
    then the fixed effects; columns "estimate", "lower", "upper". The likelihood is ML
    (a REML fit is refitted by ML, as lme4 does). ``params``: a subset of row names.
    ``xtol`` (the root finder's, relative to the parameter's scale) and ``inner_gtol``
    (each constrained refit's) tighten or loosen the iterations; the stored references
    of validation/ use 1e-13.
    """
    alpha = arguments.probability("alpha", alpha)
    pr = _profiler(results, xtol=xtol, inner_gtol=inner_gtol)
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
