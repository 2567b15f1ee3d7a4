"""MixedLM: the public model object, with statsmodels' constructor and names.

    y_i = X_i beta + Z_i b_i + e_i,  b_i ~ N(0, sigma2 Psi),  e_i ~ N(0, sigma2 I)   (eq:model)

``MixedLM(endog, exog, groups, exog_re=None, exog_vc=None, use_sqrt=True,
missing="none")`` and ``MixedLM.from_formula(formula, data, re_formula=None,
vc_formula=None, subset=None, use_sparse=False, missing="none", groups=...)``
mean what they mean in statsmodels. The model owns the design (design.py) and
the per-group sufficient statistics (suffstats.py); the likelihood, its
derivatives and the optimizers are functions of those, in their own modules.

This file holds the core: construction, attribute names, and refimpl's own
evaluators in its two vectors (``theta`` profile, ``phi`` sqrt), which the
optimizers, the verdict and the book use. statsmodels' model methods
(``loglike(params, profile_fe)``, ``score``, ``hessian`` -> (hess, sing),
``get_fe_params``, ``EM``, ...) are in model_api.py, with statsmodels'
signatures and return types.
"""

import inspect
import warnings

import numpy as np

from . import arguments, hessian, likelihood, score
from .checks import ConditioningWarning, check_estimable
from .design import design_from_arrays, design_from_formula
from .lmer import from_lme4_formula as _from_lme4_formula
from .model_api import StatsmodelsMethods
from .model_data import ModelData
from .parameters import MixedLMParams, profile_to_sqrt, user_to_profile
from .suffstats import compute_statistics


#: Warn when the llf's quadratic form has lost more than this many digits to cancellation.
CANCELLATION_DIGITS = 8


class MixedLM(StatsmodelsMethods):
    """Linear mixed model with statsmodels' meaning of every argument.

    ``use_sqrt`` (statsmodels'): packed parameter vectors given to ``loglike``,
    ``score``, ``hessian`` and ``fit(start_params=...)`` hold the Cholesky
    factor of cov_re and square roots of vcomp (True) or cov_re's lower
    triangle and vcomp themselves (False). refimpl's optimizers always work in
    the sqrt parameterization; use_sqrt only says how arrays are read and
    which coordinates ``score`` differentiates in.
    """

    def __new__(cls, endog=None, exog=None, groups=None, exog_re=None, *args, **kwargs):
        # dask.array inputs: a DaskArrayMixedLM, statistics reduced by Dask (refimpl/dask_arrays.py)
        if cls is MixedLM and any(type(a).__module__.startswith("dask")
                                  for a in (endog, exog, groups, exog_re)):
            from .dask_arrays import DaskArrayMixedLM, has_dask_array
            if has_dask_array(endog, exog, groups, exog_re):
                cls = DaskArrayMixedLM
        return super().__new__(cls)

    def __init__(self, endog, exog, groups, exog_re=None, exog_vc=None, use_sqrt=True,
                 missing="none", **kwargs):
        _design = kwargs.pop("_design", None)
        _stats = kwargs.pop("_stats", None)   # refimpl/distributed.py: statistics reduced by Dask, no rows
        if kwargs:
            raise TypeError(f"MixedLM got unexpected keyword arguments {sorted(kwargs)}; it takes "
                            "endog, exog, groups, exog_re, exog_vc, use_sqrt, missing")
        self.use_sqrt = arguments.boolean("use_sqrt", use_sqrt)
        self.design = _design if _design is not None else design_from_arrays(
            endog, exog, groups, exog_re=exog_re, exog_vc=exog_vc, missing=missing)
        d = self.design
        # per-group stacks, or blocked for a crossed design
        self.stats = compute_statistics(d) if _stats is None else _stats
        self._cache = (None, None)
        self._estimable = False
        # statsmodels keeps the REML flag, the penalties and the free mask of
        # the last fit on the model; loglike/score/hessian read them.
        self.reml = True
        self.fe_pen = self.cov_pen = self._freepat = None

    # inspect.signature(MixedLM) and help() show __init__'s (statsmodels') signature, not __new__'s
    __new__.__signature__ = inspect.signature(__init__)

    #: ``MixedLM.from_lme4_formula("y ~ x + (1 | s) + (1 | d)", data)``: lme4 syntax
    #: translated to groups / re_formula / vc_formula (refimpl/lme4_formula.py). Ours.
    from_lme4_formula = classmethod(_from_lme4_formula)

    @classmethod
    def from_formula(cls, formula, data, re_formula=None, vc_formula=None, subset=None,
                     use_sparse=False, missing="none", *args, **kwargs):
        """Build from patsy formulas, as ``statsmodels.formula.api.mixedlm``.

        ``groups`` (required, keyword) is a column name or an array of labels.
        ``subset`` selects rows of ``data`` first (a boolean mask, or index
        labels). ``use_sparse`` is accepted for statsmodels' sake and changes
        nothing: refimpl never forms an n x n (or n x levels) matrix, so there is
        nothing to make sparse. Formulas are evaluated in ``data`` only: an
        ``eval_env`` other than None/0 is refused (refimpl's formula front end
        does not look names up in the caller's namespace). Extra positional
        arguments are refused.
        """
        # ---- Dask DataFrame: one pass of a Dask reduction, then this fit (refimpl/distributed.py)
        from . import distributed
        if distributed.is_dask_frame(data):
            if cls is MixedLM:
                cls = distributed.DaskMixedLM
            if subset is not None or args or kwargs.get("eval_env") not in (None, 0):
                raise ValueError("with a Dask DataFrame, select rows on the frame (not subset=) "
                                 "and pass no eval_env or extra positional arguments")
            kwargs.pop("eval_env", None)
            return distributed.from_formula(cls, formula, data, re_formula=re_formula,
                                            vc_formula=vc_formula, missing=missing, **kwargs)
        # ---- end of the Dask dispatch
        groups = kwargs.pop("groups", None)
        use_sqrt = kwargs.pop("use_sqrt", True)
        eval_env = kwargs.pop("eval_env", None)
        if args or kwargs:
            raise TypeError(f"from_formula got unexpected arguments {list(args) + sorted(kwargs)}; "
                            "it takes formula, data, re_formula, vc_formula, subset, use_sparse, "
                            "missing, groups=..., use_sqrt, eval_env")
        if groups is None:
            raise ValueError("from_formula needs groups=... (a column name or an array of labels)")
        arguments.boolean("use_sparse", use_sparse)
        if eval_env not in (None, 0):
            raise ValueError(f"eval_env={eval_env!r}: refimpl evaluates formulas in data only; "
                             "put the variables in data and pass eval_env=None")
        if subset is not None:
            data, groups = _take_subset(data, groups, subset)
        design = design_from_formula(formula, data, groups, re_formula=re_formula,
                                     vc_formula=vc_formula, missing=missing)
        return cls(None, None, None, use_sqrt=use_sqrt, _design=design)

    # ------------------------------------------------------------------
    # statsmodels' attribute names
    # ------------------------------------------------------------------
    @property
    def layout(self):
        return self.design.layout

    @property
    def data(self):
        """statsmodels' ``model.data`` names, read from the design (a view, so never stale or pickled)."""
        return ModelData(self)

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

    @property
    def nobs(self):
        return self.design.n_obs

    @property
    def k_re2(self):
        return self.k_re * (self.k_re + 1) // 2

    @property
    def k_params(self):
        return self.k_fe + self.k_re2 + self.k_vc

    @property
    def param_names(self):
        return list(self.data.param_names)

    @property
    def row_indices(self):
        """statsmodels' ``row_indices``: group label -> positions of its rows (after missing rows are dropped)."""
        return dict(zip(self.group_labels, self.design.group_rows()))

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
            self._check_params_object(params)
            return params.profile()
        theta = np.asarray(params, float)
        if theta.shape != (self.layout.n_params,):
            raise ValueError(f"expected {self.layout.n_params} profile covariance parameters "
                             f"(tril(Psi_re) then psi_vc), got shape {theta.shape}")
        return theta

    def _phi(self, params):
        return profile_to_sqrt(self._theta(params), self.k_re)

    def _check_params_object(self, params, name="params"):
        """A MixedLMParams must have this model's k_re and k_vc (and k_fe, when it has fe_params)."""
        want = (self.k_re, self.k_vc)
        got = (params.k_re, params.k_vc)
        fe_bad = params.fe_params is not None and params.k_fe not in (0, self.k_fe)
        if got != want or fe_bad:
            raise ValueError(f"{name} is a MixedLMParams for another model: k_fe={params.k_fe}, "
                             f"k_re={params.k_re}, k_vc={params.k_vc}; this model has "
                             f"k_fe={self.k_fe}, k_re={self.k_re}, k_vc={self.k_vc}")

    # ------------------------------------------------------------------
    # refimpl's evaluators: profile vector theta (or a MixedLMParams), explicit reml
    # ------------------------------------------------------------------
    def loglike_profile(self, params, reml=True, profile_fe=True):
        """Log-likelihood with sigma2 profiled out, at theta or a MixedLMParams.

        With profile_fe=True beta is profiled out too (GLS); otherwise
        params.fe_params is used (statsmodels' ``loglike(..., profile_fe=False)``).
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

    def fe_params_at(self, params):
        """GLS estimate of beta at the covariance point (eq:gls-beta)."""
        return self.point(params).beta_hat.copy()

    def scale_at(self, params, reml=True):
        """Profiled sigma2 at the covariance point (eq:profiled-sigma2)."""
        return self.point(params).sigma2_hat(reml)

    def loglike_sqrt(self, phi, reml=True):
        """Profiled log-likelihood at sqrt parameters phi (what optimizers see)."""
        return likelihood.profiled_loglike(self.point_sqrt(phi), reml)

    def score_profile(self, params, reml=True):
        """Score of the profiled log-likelihood w.r.t. theta  (eq:score-profile)."""
        return score.profiled_score(self.stats, self.layout, self.point(params), reml)

    def score_phi(self, phi, reml=True):
        """Score of the profiled log-likelihood w.r.t. phi  (eq:score-sqrt)."""
        return score.profiled_score_sqrt(self.stats, self.layout, self.point_sqrt(phi), reml)

    def score_user(self, fe_params, cov_re, vcomp, scale, reml=True):
        """Score of the full log-likelihood w.r.t. (beta, tril(cov_re), vcomp, scale)  (eq:score-full)."""
        theta = self._user_theta(cov_re, vcomp, scale)
        return score.full_score(self.stats, self.layout, self.point(theta), fe_params, scale, reml)

    def hessian_beta_theta(self, params, reml=True):
        """(beta, theta) Hessian with sigma2 profiled  (eq:hess-full).

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

    def hessian_phi(self, phi, reml=True):
        """Hessian of the profiled log-likelihood w.r.t. phi  (eq:hess-sqrt)."""
        return hessian.profiled_hessian_sqrt(self.stats, self.layout, self.point_sqrt(phi), reml)

    def _user_theta(self, cov_re, vcomp, scale):
        cov_re = np.atleast_2d(np.asarray(cov_re, float)) if np.size(cov_re) else np.zeros((0, 0))
        return user_to_profile(cov_re, np.atleast_1d(np.asarray(vcomp, float)), scale)

    # ------------------------------------------------------------------
    # Fitting (fit.py)
    # ------------------------------------------------------------------
    def fit(self, start_params=None, reml=True, niter_sa=0, do_cg=True, fe_pen=None, cov_pen=None,
            free=None, full_output=False, method=None, **fit_kwargs):
        """Fit by maximum (restricted) likelihood, with statsmodels' arguments; see refimpl.fit."""
        from .fit import fit

        if not self._estimable:
            check_estimable(self.design, self.stats)  # ValueError if the maximum is not unique and finite
            self._estimable = True
        try:
            res = fit(self, start_params=start_params, reml=reml, niter_sa=niter_sa, do_cg=do_cg,
                      fe_pen=fe_pen, cov_pen=cov_pen, free=free, full_output=full_output,
                      method=method, **fit_kwargs)
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

    def fit_regularized(self, start_params=None, method="l1", alpha=0, ceps=1e-4, ptol=1e-6,
                        maxit=200, **fit_kwargs):
        """L1-penalised fixed effects (statsmodels' coordinate descent); see refimpl.fit_regularized."""
        from .fit_regularized import fit_regularized

        return fit_regularized(self, start_params=start_params, method=method, alpha=alpha,
                               ceps=ceps, ptol=ptol, maxit=maxit, **fit_kwargs)

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


def _take_subset(data, groups, subset):
    """Rows of data (and of an array of group labels) selected by ``subset``."""
    import pandas as pd

    if not isinstance(data, pd.DataFrame):
        data = pd.DataFrame(data)
    mask = np.asarray(subset)
    if mask.dtype == bool:
        if mask.shape != (len(data),):
            raise ValueError(f"subset: a boolean mask must have one entry per row of data "
                             f"({len(data)}), got shape {mask.shape}")
        rows = np.flatnonzero(mask)
    else:
        try:
            rows = data.index.get_indexer(pd.Index(mask))
        except Exception as exc:      # noqa: BLE001 - unhashable labels
            raise ValueError(f"subset must be a boolean mask or index labels of data: {exc}") from None
        if np.any(rows < 0):
            raise ValueError(f"subset: labels not in data's index: {list(mask[rows < 0])[:5]}")
    if not isinstance(groups, str):
        groups = np.asarray(groups)[rows]
    return data.iloc[rows], groups
