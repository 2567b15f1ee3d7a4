"""MixedLM: the public model object, with statsmodels' constructor and names.

    y_i = X_i beta + Z_i b_i + e_i,  b_i ~ N(0, sigma2 Psi),  e_i ~ N(0, sigma2 I)   (eq:model)

``MixedLM(endog, exog, groups, exog_re=None, exog_vc=None, missing="none")`` and
``MixedLM.from_formula(formula, data, groups=..., re_formula=None,
vc_formula=None, missing="none")`` mean what they mean in statsmodels. The model
owns the design (design.py) and the per-group sufficient statistics
(suffstats.py); the likelihood, its derivatives and the optimizers are
functions of those, in their own modules. This class only wires them together.
"""

import warnings

import numpy as np

from . import hessian, likelihood, score
from .checks import ConditioningWarning, check_estimable
from .design import design_from_arrays, design_from_formula
from .parameters import MixedLMParams, profile_to_sqrt, user_to_profile
from .suffstats import compute_statistics


#: Warn when the llf's quadratic form has lost more than this many digits to cancellation.
CANCELLATION_DIGITS = 8


class MixedLM:
    """Linear mixed model with statsmodels' meaning of every argument."""

    def __init__(self, endog, exog, groups, exog_re=None, exog_vc=None, missing="none",
                 *, _design=None):
        self.design = _design if _design is not None else design_from_arrays(
            endog, exog, groups, exog_re=exog_re, exog_vc=exog_vc, missing=missing)
        d = self.design
        self.stats = compute_statistics(d)   # per-group stacks, or blocked for a crossed design
        self._cache = (None, None)
        self._estimable = False

    @classmethod
    def from_formula(cls, formula, data, groups=None, re_formula=None, vc_formula=None,
                     missing="none"):
        """Build from patsy formulas, exactly as ``statsmodels.formula.api.mixedlm``."""
        if groups is None:
            raise ValueError("from_formula needs groups=... (a column name or an array of labels)")
        design = design_from_formula(formula, data, groups, re_formula=re_formula,
                                     vc_formula=vc_formula, missing=missing)
        return cls(None, None, None, _design=design)

    # ------------------------------------------------------------------
    # statsmodels' attribute names
    # ------------------------------------------------------------------
    @property
    def layout(self):
        return self.design.layout

    @property
    def endog(self):
        return self.design.y

    @property
    def exog(self):
        return self.design.X

    @property
    def exog_re(self):
        return self.design.Z[:, :self.k_re]

    @property
    def k_fe(self):
        return self.design.X.shape[1]

    @property
    def k_re(self):
        return self.layout.k_re

    @property
    def k_vc(self):
        return self.layout.k_vc

    @property
    def n_groups(self):
        return self.design.n_groups

    @property
    def group_labels(self):
        return self.design.group_labels

    @property
    def endog_names(self):
        return self.design.endog_name

    @property
    def exog_names(self):
        return self.design.exog_names

    @property
    def exog_re_names(self):
        return self.design.exog_re_names

    @property
    def vc_names(self):
        return self.design.vc_names

    @property
    def n_totobs(self):
        return self.design.n_obs

    # ------------------------------------------------------------------
    # One evaluation per point, shared by likelihood, score and Hessian
    # ------------------------------------------------------------------
    def point_sqrt(self, phi):
        """The likelihood.Point at sqrt parameters phi (cached for the last phi)."""
        phi = np.asarray(phi, float)
        key = phi.tobytes()
        if self._cache[0] != key:
            self._cache = (key, likelihood.evaluate(self.stats, self.layout, phi))
        return self._cache[1]

    def point(self, params):
        """The likelihood.Point at a MixedLMParams or a profile vector theta."""
        return self.point_sqrt(self._phi(params))

    def _theta(self, params):
        if isinstance(params, MixedLMParams):
            return params.profile()
        theta = np.asarray(params, float)
        if theta.shape != (self.layout.n_params,):
            raise ValueError(f"expected {self.layout.n_params} profile covariance parameters "
                             f"(tril(Psi_re) then psi_vc), got shape {theta.shape}")
        return theta

    def _phi(self, params):
        return profile_to_sqrt(self._theta(params), self.k_re)

    # ------------------------------------------------------------------
    # Likelihood
    # ------------------------------------------------------------------
    def loglike(self, params, reml=True, profile_fe=True):
        """Log-likelihood with sigma2 profiled out, as statsmodels' ``MixedLM.loglike``.

        params: MixedLMParams or a profile vector theta. With profile_fe=True
        beta is profiled out too (GLS); otherwise params.fe_params is used.
        """
        pt = self.point(params)
        if profile_fe:
            return likelihood.profiled_loglike(pt, reml)
        if not isinstance(params, MixedLMParams) or params.fe_params is None:
            raise ValueError("profile_fe=False needs a MixedLMParams with fe_params")
        return likelihood.loglike_scale_profiled(pt, params.fe_params, reml)

    def loglike_full(self, fe_params, cov_re, vcomp, scale, reml=True):
        """Log-likelihood at user parameters, nothing profiled (eq:full-ml, eq:full-reml)."""
        theta = self._user_theta(cov_re, vcomp, scale)
        return likelihood.full_loglike(self.point(theta), fe_params, scale, reml)

    def get_fe_params(self, params):
        """GLS estimate of beta at the covariance point (eq:gls-beta)."""
        return self.point(params).beta_hat.copy()

    def get_scale(self, params, reml=True):
        """Profiled sigma2 at the covariance point (eq:profiled-sigma2)."""
        return self.point(params).sigma2_hat(reml)

    # ------------------------------------------------------------------
    # Derivatives (score.py, hessian.py)
    # ------------------------------------------------------------------
    def loglike_sqrt(self, phi, reml=True):
        """Profiled log-likelihood at sqrt parameters phi (what optimizers see)."""
        return likelihood.profiled_loglike(self.point_sqrt(phi), reml)

    def score(self, params, reml=True):
        """Score of the profiled log-likelihood w.r.t. theta  (eq:score-profile)."""
        return score.profiled_score(self.stats, self.layout, self.point(params), reml)

    def score_sqrt(self, phi, reml=True):
        """Score of the profiled log-likelihood w.r.t. phi  (eq:score-sqrt)."""
        return score.profiled_score_sqrt(self.stats, self.layout, self.point_sqrt(phi), reml)

    def score_full(self, fe_params, cov_re, vcomp, scale, reml=True):
        """Score of the full log-likelihood w.r.t. (beta, tril(cov_re), vcomp, scale)  (eq:score-full)."""
        theta = self._user_theta(cov_re, vcomp, scale)
        return score.full_score(self.stats, self.layout, self.point(theta), fe_params, scale, reml)

    def hessian(self, params, reml=True):
        """statsmodels' ``MixedLM.hessian``: (beta, theta) Hessian with sigma2 profiled  (eq:hess-full).

        Taken at params.fe_params when given, else at the GLS beta_hat.
        """
        pt = self.point(params)
        beta = pt.beta_hat
        if isinstance(params, MixedLMParams) and params.fe_params is not None:
            beta = params.fe_params
        return hessian.hessian_beta_theta(self.stats, self.layout, pt, beta, reml)

    def hessian_profile(self, params, reml=True):
        """Hessian of the profiled log-likelihood w.r.t. theta  (eq:hess-profile)."""
        return hessian.profiled_hessian(self.stats, self.layout, self.point(params), reml)

    def hessian_sqrt(self, phi, reml=True):
        """Hessian of the profiled log-likelihood w.r.t. phi  (eq:hess-sqrt)."""
        return hessian.profiled_hessian_sqrt(self.stats, self.layout, self.point_sqrt(phi), reml)

    def _user_theta(self, cov_re, vcomp, scale):
        cov_re = np.atleast_2d(np.asarray(cov_re, float)) if np.size(cov_re) else np.zeros((0, 0))
        return user_to_profile(cov_re, np.atleast_1d(np.asarray(vcomp, float)), scale)

    # ------------------------------------------------------------------
    # Fitting (fit.py)
    # ------------------------------------------------------------------
    def fit(self, reml=True, method=None, start_params=None, free=None, niter_em=5, niter_sa=5,
            maxiter=None, gtol=None, full_output=False):
        """Fit by maximum (restricted) likelihood; see refimpl.fit for the methods."""
        from .fit import fit

        if not self._estimable:
            check_estimable(self.design, self.stats)  # ValueError if the maximum is not unique and finite
            self._estimable = True
        try:
            res = fit(self, reml=reml, method=method, start_params=start_params, free=free,
                      niter_em=niter_em, niter_sa=niter_sa, maxiter=maxiter, gtol=gtol,
                      full_output=full_output)
        except (likelihood.LikelihoodError, np.linalg.LinAlgError) as err:
            # Optimizers back off from such points (their llf is -inf); reaching
            # one anyway means the region the fit must explore is numerically
            # degenerate: variances many orders of magnitude apart.
            raise ValueError(
                f"the fit reached covariance parameters where the likelihood cannot be evaluated in "
                f"double precision ({type(err).__name__}: {err}). The random-effect variances are "
                "probably many orders of magnitude larger or smaller than the residual variance: "
                "centre endog (or add an intercept), and centre and scale the columns of exog and "
                "exog_re; or give start_params") from err
        self._warn_if_cancelling(res)
        return res

    def _warn_if_cancelling(self, res):
        """ConditioningWarning when the likelihood has lost more than CANCELLATION_DIGITS digits.

        The quadratic form qf = y0'V^{-1}y0 is y0'y0 minus what the random
        effects explain (eq:quad-form), so when they explain all but a fraction
        f of it, qf and the llf keep only about 16 + log10(f) digits.
        """
        cancel = self.stats.y0ty0 / res.point.qf
        if cancel > 10.0 ** CANCELLATION_DIGITS:
            warnings.warn(
                f"the random effects explain all but a fraction {1 / cancel:.1e} of the residual sum "
                f"of squares of endog, so the log-likelihood keeps only about "
                f"{16 - np.log10(cancel):.0f} of its 16 digits, and the covariance estimates fewer: "
                "the random-effect variances are huge compared with the residual variance. Check "
                "the model (is a fixed effect missing, e.g. a group-level covariate?).",
                ConditioningWarning, stacklevel=3)
