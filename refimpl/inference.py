"""Standard errors, Wald tests and confidence intervals of a fit.

Two conventions for the covariance of the estimates, both kept, named apart:

* ``cov_params()``, ``bse``, ``bse_fe``, ``bse_re`` follow statsmodels exactly:
  ``cov_params() = inv(-H)`` in (beta, theta), H the Hessian of the
  sigma2-profiled log-likelihood at (beta_hat, theta)  (eq:hess-full)
  (statsmodels stores inv(-H)/scale as ``normalized_cov_params`` and
  multiplies scale back in). ``bse_fe`` is the beta block: it accounts for
  the correlation between beta_hat and theta in the observed information.
  ``bse_re = sqrt(scale * diag(cov_params())[theta])`` is statsmodels'
  formula, reproduced for comparability; note it is *not* the delta-method
  error of ``cov_re = scale * theta`` (that would be ``scale * se(theta)``):
  multiplying y by c multiplies cov_re by c**2 but bse_re only by c.
* ``bse_fe_gls = sqrt(diag(sigma2 (X'V^{-1}X)^{-1}))`` is the GLS error lme4
  reports (``vcov(fit)``): theta treated as known.

Tests of linear hypotheses R params = q, with C = cov_params():

    t_test:     t_j = (R params - q)_j / sqrt((R C R')_jj)     each row, normal reference
    wald_test:  W = d' (R C R')^{-1} d,  d = R params - q      chi2(r) reference
    f_test:     F = W / r                                       F(r, df_resid) reference

statsmodels' MixedLM sets ``use_t = False``: references are the normal and
chi2 (large-sample), with no denominator degrees of freedom; ``use_t=True``
/ ``f_test`` use t and F with df_resid = n - rank(X), as statsmodels does,
which ignores the random effects (lmerTest's Satterthwaite df are not here).
``t_test`` takes R over the fixed effects only (statsmodels' MixedLM rule);
``wald_test`` and ``f_test`` take R over all parameters, or constraint strings
such as ``"Time = 0"`` over the parameter names (patsy's syntax).

Confidence intervals ``conf_int(alpha)`` are params -/+ z_{1-alpha/2} bse for
every parameter, as statsmodels; the theta rows are in profile units and
symmetric, so they are poor intervals for variances (use ``profile_re``).

A mixin of :class:`refimpl.results.MixedLMResults`.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from . import arguments
from .score import XtVinvX_inv


class Inference:
    """bse, tvalues, pvalues, conf_int and the Wald tests (needs _cov_params, params, names)."""

    # ------------------------------------------------------------------
    # Standard errors (module docstring: two conventions)
    # ------------------------------------------------------------------
    @property
    def _bse(self):
        with np.errstate(invalid="ignore"):
            return np.sqrt(np.diag(self._cov_params))

    @property
    def bse(self):
        """sqrt(diag(cov_params())): beta, then theta (profile units)."""
        return self._vector(self._bse, self.param_names)

    @property
    def bse_fe(self):
        """statsmodels' errors of fe_params: observed information in (beta, theta)."""
        return self._vector(self._bse[:self.k_fe], self.exog_names)

    @property
    def bse_fe_gls(self):
        """GLS errors sqrt(diag(sigma2 (X'V^{-1}X)^{-1})), theta taken as known (lme4's vcov)."""
        cov = self.scale * XtVinvX_inv(self.point)
        return self._vector(np.sqrt(np.diag(cov)), self.exog_names)

    @property
    def bse_re(self):
        """statsmodels' sqrt(scale * diag(cov_params())[theta]), by covariance name."""
        with np.errstate(invalid="ignore"):
            v = np.sqrt(self.scale * np.diag(self._cov_params)[self.k_fe:])
        return self._vector(v, self.cov_param_names)

    @property
    def _params(self):
        return np.concatenate([self._beta, self.theta])

    @property
    def tvalues(self):
        """params / bse, for all parameters (statsmodels); only the beta entries are meaningful z's."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return self._vector(self._params / self._bse, self.param_names)

    @property
    def pvalues(self):
        """Two-sided normal p-values of :attr:`tvalues` (statsmodels uses the normal, not t)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            z = self._params / self._bse
        return self._vector(2.0 * sps.norm.sf(np.abs(z)), self.param_names)

    def conf_int(self, alpha=0.05, cols=None, method="wald", **kwargs):
        """Wald intervals params -/+ z_{1-alpha/2} bse; columns 0 and 1 (statsmodels' layout).

        alpha in (0, 1) (alpha=95 is refused); cols: positions or names of the
        parameters wanted (default all). DataFrame for pandas input, (k, 2) array otherwise.
        Ours: method="profile" (lme4's profile-likelihood intervals on its sd/cor
        scale, refimpl/profile_ci.py) or "boot" (parametric bootstrap,
        refimpl/bootstrap.py); kwargs go to those.
        """
        method = arguments.choice("method", method, ("wald", "profile", "boot"))
        if method != "wald":
            if cols is not None:
                raise ValueError("cols= selects Wald intervals; with method='profile' or 'boot' "
                                 "pass params=[...] (lme4's parameter names) instead")
            from .intervals import conf_int
            return conf_int(self, alpha=alpha, method=method, **kwargs)
        if kwargs:
            raise TypeError(f"conf_int(method='wald') got unexpected arguments {sorted(kwargs)}")
        alpha = arguments.probability("alpha", alpha)
        idx = list(range(len(self.param_names))) if cols is None else self._param_positions("cols", cols)
        z = sps.norm.ppf(1.0 - alpha / 2.0)
        p, se = self._params[idx], self._bse[idx]
        ci = np.column_stack([p - z * se, p + z * se])
        if not self.use_pandas:
            return ci
        return pd.DataFrame(ci, index=[self.param_names[i] for i in idx], columns=[0, 1])

    # ------------------------------------------------------------------
    # Inference beyond statsmodels (ours): profiles, bootstrap, ddf tables
    # ------------------------------------------------------------------
    def profile(self, alpha=0.01, n_points=21, params=None):
        """lme4-style profile traces (param, value, zeta) for plots (refimpl/profile_ci.py)."""
        from .profile_ci import profile
        return profile(self, alpha=alpha, n_points=n_points, params=params)

    def bootstrap(self, n=1000, seed=None, n_jobs=None, progress=False):
        """Parametric bootstrap: simulate from the fit, refit, collect (refimpl/bootstrap.py)."""
        from .bootstrap import bootstrap
        return bootstrap(self, n=n, seed=seed, n_jobs=n_jobs, progress=progress)

    def anova(self, ddf="satterthwaite", terms=None):
        """F test of each fixed-effect term with Satterthwaite or Kenward-Roger ddf (a DataFrame)."""
        from .ddf_tests import anova
        return anova(self, ddf=ddf, terms=terms)

    # ------------------------------------------------------------------
    # Tests of R params = q (module docstring)
    # ------------------------------------------------------------------
    def t_test(self, r_matrix, use_t=None, df=None, alpha=0.05):
        """One test per row of R (over the fixed effects) of R beta = q; statsmodels' ContrastResults fields.

        r_matrix: (r, k_fe) array or 1-d row (q = 0), a (R, q) tuple, or
        constraint string(s) over the fixed-effect names, e.g. "Time = 0".
        Ours: df="satterthwaite" or "kenward-roger" gives small-sample t tests
        (lmerTest's and pbkrtest's definitions) as a DataFrame, one row per contrast.
        """
        if df is not None:
            from .ddf_tests import t_test
            R, q = self._constraints("r_matrix", r_matrix, self.exog_names)
            return t_test(self, R, rhs=q, ddf=df, alpha=alpha)
        use_t = self.use_t if use_t is None else arguments.boolean("use_t", use_t)
        R, q = self._constraints("r_matrix", r_matrix, self.exog_names)
        R = np.hstack([R, np.zeros((len(R), len(self.theta)))])    # statsmodels pads theta with 0
        C = R @ self._cov_params @ R.T
        effect = R @ self._params
        with np.errstate(invalid="ignore", divide="ignore"):
            sd = np.sqrt(np.diag(C))
            t = (effect - q) / sd
        df = self.df_resid if use_t else None
        dist = sps.t(df) if use_t else sps.norm
        # statsmodels' shapes: (1, 1) for one restriction, (r,) for several; p-values squeezed
        shape = (1, 1) if len(R) == 1 else (len(R),)
        return ContrastResults(effect=effect, sd=sd.reshape(shape), tvalue=t.reshape(shape),
                               statistic=t.reshape(shape),
                               pvalue=np.squeeze(2.0 * dist.sf(np.abs(t))), df_denom=df,
                               distribution="t" if use_t else "norm", q=q,
                               c_names=self._contrast_names(r_matrix, len(R)))

    def wald_test(self, r_matrix, cov_p=None, invcov=None, use_f=None, df_constraints=None,
                  scalar=None):
        """Joint Wald test of R params = q over all parameters (chi2, or F with use_f=True).

        r_matrix: (r, k_params) array, a (R, q) tuple, or constraint string(s)
        over param_names. cov_p: a covariance to use instead of cov_params().
        invcov: (R C R')^{-1} if already known. ``statistic`` is a float
        (statsmodels 0.14's ``scalar=True``, its announced future default).
        """
        use_f = self.use_t if use_f is None else arguments.boolean("use_f", use_f)
        if scalar is not None:
            arguments.boolean("scalar", scalar)
        R, q = self._constraints("r_matrix", r_matrix, self.param_names)
        C = self._cov_params if cov_p is None else arguments.float_matrix(
            "cov_p", cov_p, shape=self._cov_params.shape, finite=False)
        d = R @ self._params - q
        if invcov is None:
            if np.linalg.matrix_rank(R) < len(R):
                raise ValueError("r_matrix: the rows are linearly dependent; drop the redundant "
                                 "restrictions")
            W = float(d @ np.linalg.solve(R @ C @ R.T, d))
        else:
            W = float(d @ arguments.float_matrix("invcov", invcov, shape=(len(R), len(R))) @ d)
        r = len(R) if df_constraints is None else arguments.positive_int("df_constraints", df_constraints)
        if use_f:
            F = W / r
            return WaldTestResults(statistic=F, pvalue=float(sps.f.sf(F, r, self.df_resid)),
                                   df_num=r, df_denom=self.df_resid, distribution="F")
        return WaldTestResults(statistic=W, pvalue=float(sps.chi2.sf(W, r)), df_num=r, df_denom=r,
                               distribution="chi2")

    def f_test(self, r_matrix, cov_p=None, invcov=None):
        """``wald_test(..., use_f=True)``: F = W / r against F(r, df_resid)."""
        return self.wald_test(r_matrix, cov_p=cov_p, invcov=invcov, use_f=True)

    def wald_test_fe(self, R, q=None, cov="observed"):
        """Wald test of R beta = q on the fixed effects (refimpl's, kept).

        R: (r, k_fe) array, a 1-d row, or a fixed-effect name / list of names
        (testing those coefficients = 0). statistic = d'(R C R')^{-1} d with
        d = R beta_hat - q and C the covariance of beta_hat: ``cov="observed"``
        (the bse_fe convention) or ``"gls"`` (bse_fe_gls); referred to chi2 with
        r = rank(R) degrees of freedom (large-sample; no F / denominator df).
        """
        cov = arguments.choice("cov", cov, ("observed", "gls"))
        R = self._restriction_matrix(R)
        q = np.zeros(len(R)) if q is None else np.atleast_1d(np.asarray(q, float))
        if q.shape != (len(R),):
            raise ValueError(f"q must have one value per row of R ({len(R)}), got shape {q.shape}")
        if np.linalg.matrix_rank(R) < len(R):
            raise ValueError("the rows of R are linearly dependent; drop the redundant restrictions")
        C = (self._cov_params[:self.k_fe, :self.k_fe] if cov == "observed"
             else self.scale * XtVinvX_inv(self.point))
        d = R @ self._beta - q
        stat = float(d @ np.linalg.solve(R @ C @ R.T, d))
        return WaldTest(statistic=stat, df=len(R), pvalue=float(sps.chi2.sf(stat, len(R))),
                        estimate=R @ self._beta, q=q, cov=cov)

    def _restriction_matrix(self, R):
        if isinstance(R, str):
            R = [R]
        if isinstance(R, (list, tuple)) and R and all(isinstance(r, str) for r in R):
            unknown = [r for r in R if r not in self.exog_names]
            if unknown:
                raise ValueError(f"unknown fixed effects {unknown}; names are {self.exog_names}")
            return np.eye(self.k_fe)[[self.exog_names.index(r) for r in R]]
        R = np.atleast_2d(np.asarray(R, float))
        if R.ndim != 2 or R.shape[1] != self.k_fe:
            raise ValueError(f"R must have {self.k_fe} columns (one per fixed effect), got shape {R.shape}")
        return R

    def _constraints(self, argname, r_matrix, names):
        """(R, q) from an array, an (R, q) tuple, or patsy constraint strings over names."""
        if isinstance(r_matrix, str) or (isinstance(r_matrix, (list, tuple)) and r_matrix
                                         and all(isinstance(s, str) for s in r_matrix)):
            import patsy
            try:
                lc = patsy.DesignInfo(list(names)).linear_constraint(r_matrix)
            except patsy.PatsyError as err:
                raise ValueError(f"{argname}={r_matrix!r} is not a constraint over the names "
                                 f"{list(names)} ({err})") from None
            return np.asarray(lc.coefs, float), np.asarray(lc.constants, float).ravel()
        q = None
        if isinstance(r_matrix, tuple) and len(r_matrix) == 2:
            r_matrix, q = r_matrix
        R = arguments.float_matrix(argname, np.atleast_2d(np.asarray(r_matrix)))
        if R.shape[1] != len(names):
            raise ValueError(f"{argname} must have {len(names)} columns (one per {names}), "
                             f"got shape {R.shape}")
        q = np.zeros(len(R)) if q is None else arguments.float_vector("q", q, length=len(R))
        return R, q

    @staticmethod
    def _contrast_names(r_matrix, r):
        if isinstance(r_matrix, str):
            r_matrix = [s.strip() for s in r_matrix.split(",")]
        if isinstance(r_matrix, (list, tuple)) and len(r_matrix) == r and all(isinstance(s, str) for s in r_matrix):
            return list(r_matrix)
        return [f"c{j}" for j in range(r)]


@dataclass
class ContrastResults:
    """One test per row of R (``t_test``); statsmodels' attribute names and shapes."""

    effect: np.ndarray          # (r,) R params
    sd: np.ndarray              # sqrt(diag(R C R')): (1, 1) for one restriction, else (r,)
    tvalue: np.ndarray          # (effect - q) / sd, same shape
    statistic: np.ndarray       # = tvalue
    pvalue: np.ndarray          # two-sided, squeezed
    df_denom: object            # None for the normal reference
    distribution: str           # "norm" or "t"
    q: np.ndarray
    c_names: list

    def conf_int(self, alpha=0.05):
        """(r, 2) intervals effect -/+ quantile * sd."""
        alpha = arguments.probability("alpha", alpha)
        dist = sps.norm if self.distribution == "norm" else sps.t(self.df_denom)
        z = dist.ppf(1.0 - alpha / 2.0)
        sd = np.ravel(self.sd)
        return np.column_stack([self.effect - z * sd, self.effect + z * sd])

    def summary_frame(self, alpha=0.05):
        """statsmodels' columns: coef, std err, z (or t), P>|z|, Conf. Int. Low, Conf. Int. Upp."""
        ci = self.conf_int(alpha)
        stat = "z" if self.distribution == "norm" else "t"
        return pd.DataFrame({"coef": self.effect, "std err": np.ravel(self.sd), stat: np.ravel(self.tvalue),
                             f"P>|{stat}|": np.atleast_1d(self.pvalue), "Conf. Int. Low": ci[:, 0],
                             "Conf. Int. Upp.": ci[:, 1]}, index=self.c_names)

    def summary(self, alpha=0.05):
        return "Test for Constraints\n" + self.summary_frame(alpha).to_string(float_format="%.4f")

    def __str__(self):
        return self.summary()


@dataclass
class WaldTestResults:
    """A joint test (``wald_test``/``f_test``): statistic, p-value, degrees of freedom.

    As statsmodels: for chi2, df_denom holds the number of restrictions; for F
    it is df_resid. ``fvalue`` is the statistic of an F test.
    """

    statistic: float
    pvalue: float
    df_num: int
    df_denom: object
    distribution: str

    @property
    def fvalue(self):
        if self.distribution != "F":
            raise AttributeError("fvalue exists only for an F test (f_test or wald_test(use_f=True))")
        return self.statistic

    def __str__(self):
        if self.distribution == "F":
            return (f"<F test: F={self.statistic!r}, p={self.pvalue!r}, df_denom={self.df_denom}, "
                    f"df_num={self.df_num}>")
        return f"<Wald test (chi2): statistic={self.statistic!r}, p-value={self.pvalue!r}, df_denom={self.df_denom}>"


@dataclass
class WaldTest:
    """Result of :meth:`Inference.wald_test_fe`: chi2 statistic, df, p-value."""

    statistic: float
    df: int
    pvalue: float
    estimate: np.ndarray
    q: np.ndarray
    cov: str

    def __str__(self):
        return (f"Wald test of R beta = q ({self.cov} covariance): chi2({self.df}) = "
                f"{self.statistic:.4f}, p = {self.pvalue:.4g}")
