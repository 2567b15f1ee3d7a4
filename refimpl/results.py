"""The results of a fit: every number a user reads, computed from (model, phi, reml).

An optimizer (fit.py) ends at phi, a point of the sqrt parameterization, and
hands it here with its convergence verdict. Everything else follows from the
model at that point (book chapter "results"):

    quantity             symbol                      code                 statsmodels
    -------------------  --------------------------  -------------------  ------------------
    covariance point     theta = [tril(Psi_re), psi_vc]  theta            params[k_fe:]
    fixed effects        beta_hat (eq:gls-beta)      fe_params            fe_params
    residual variance    sigma2_hat (eq:profiled-sigma2)  scale           scale
    user covariances     sigma2 Psi_re, sigma2 psi_vc     cov_re, vcomp   cov_re, vcomp
    log-likelihood       l_p(theta) (eq:profiled-ml/-reml) llf            llf
    observed information -H, H = d2 l / d(beta, theta)2 (eq:hess-full)   -hessian
    BLUPs                b_hat_i (eq:blup)           random_effects       random_effects
    their covariances    Gamma_i (eq:blup-cov)       random_effects_cov   random_effects_cov

Standard errors (two conventions, both kept, named apart):

* ``cov_params()``, ``bse``, ``bse_fe``, ``bse_re`` follow statsmodels exactly:
  ``cov_params() = inv(-H)`` in (beta, theta), H the Hessian of the
  sigma2-profiled log-likelihood at (beta_hat, theta) (statsmodels stores
  inv(-H)/scale and multiplies scale back in). ``bse_fe`` is the beta block:
  it accounts for the correlation between beta_hat and theta in the observed
  information. ``bse_re = sqrt(scale * diag(cov_params())[theta])`` is
  statsmodels' formula, reproduced for comparability; note it is *not* the
  delta-method error of ``cov_re = scale * theta`` (that would be
  ``scale * se(theta)``): multiplying y by c multiplies cov_re by c**2 but
  bse_re only by c.
* ``bse_fe_gls = sqrt(diag(sigma2 (X'V^{-1}X)^{-1}))`` is the GLS error lme4
  reports (``vcov(fit)``): theta treated as known.

Boundary (singular) fits, lme4's ``isSingular``: when the verdict says
``boundary``, every covariance parameter in the row or column of a zero
pivot of Psi_re (|L[j, j]| < BOUNDARY_TOL, L the Cholesky factor) and every
variance component with |s_vc| < BOUNDARY_TOL sits on the boundary. Those
parameters are dropped from -H before it is inverted (as statsmodels does
for parameters held fixed by ``free``), their standard errors are nan, and
the summary says "singular fit". Fixed effects, llf and BLUPs are reported.
"""

import functools
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy import stats as sps

from . import hessian
from .blup import blups, conditional_cov
# The boundary rule (lme4's isSingular) is the verdict's: convergence.zero_pivots.
from .convergence import zero_pivots
from .linalg import n_tril
from .parameters import MixedLMParams, pack_profile, sqrt_to_profile, unpack_profile
from .score import XtVinvX_inv
from .summary import build_summary


def covariance_param_names(exog_re_names, vc_names):
    """statsmodels' names of theta: 'a Var', 'a x b Cov' (tril order), then 'v Var'."""
    names = []
    for i, ni in enumerate(exog_re_names):
        for j in range(i + 1):
            names.append(f"{ni} Var" if i == j else f"{exog_re_names[j]} x {ni} Cov")
    return names + [f"{v} Var" for v in vc_names]


class MixedLMResults:
    """A fitted linear mixed model, with statsmodels' attribute names.

    Built by ``model.fit`` as
    ``MixedLMResults(model, phi, reml=..., method="bfgs", n_iter=..., convergence=verdict,
    history=..., free=None)``. ``method`` there is the *optimizer*; it is
    stored as ``optimizer``, because statsmodels' ``results.method`` means
    "REML" or "ML", and so does ours. ``free`` is the 0/1 mask over theta of
    the parameters that were optimised (None: all); held parameters get a zero
    row in ``cov_params()`` and are not counted by aic/bic (statsmodels' rule).
    """

    def __init__(self, model, phi, reml=True, method=None, n_iter=None, convergence=None,
                 history=None, free=None):
        if convergence is None:
            raise ValueError("MixedLMResults needs the convergence verdict (an object with "
                             ".passed, .boundary, .reason, ...); fit.py passes it")
        self.model = model
        self.phi = np.asarray(phi, float).copy()
        self.reml = bool(reml)
        self.method = "REML" if self.reml else "ML"
        self.optimizer = method
        self.n_iter = n_iter
        self.convergence = convergence
        self.converged = bool(convergence.passed)
        self.history = self.hist = history
        lay = model.layout
        self.free = None if free is None else _mask(free, lay.n_params)

        self.k_fe, self.k_re, self.k_vc = model.k_fe, model.k_re, model.k_vc
        self.k_re2 = n_tril(self.k_re)
        self.nobs = model.n_totobs
        self.ngroups = model.n_groups
        self.df_resid = self.nobs - (np.linalg.matrix_rank(model.exog) if self.k_fe else 0)
        self.exog_names = list(model.exog_names)
        self.cov_param_names = covariance_param_names(model.exog_re_names, model.vc_names)
        self.param_names = self.exog_names + self.cov_param_names

        # The point: beta and sigma2 profiled out (eq:gls-beta, eq:profiled-sigma2)
        self.point = model.point_sqrt(self.phi)
        self.theta = sqrt_to_profile(self.phi, self.k_re)
        self.scale = float(self.point.sigma2_hat(self.reml))
        self.llf = float(model.loglike_sqrt(self.phi, self.reml))
        beta = self.point.beta_hat.copy()
        Psi_re, psi_vc = unpack_profile(self.theta, self.k_re)
        re = list(model.exog_re_names)
        self.fe_params = pd.Series(beta.copy(), index=self.exog_names)   # no array shared with params_object
        self.cov_re_unscaled = pd.DataFrame(Psi_re, index=re, columns=re)
        self.cov_re = pd.DataFrame(Psi_re * self.scale, index=re, columns=re)
        self.vcomp = pd.Series(psi_vc * self.scale, index=list(model.vc_names), dtype=float)
        self.params = pd.Series(np.concatenate([beta, self.theta]), index=self.param_names)
        self.params_object = MixedLMParams(Psi_re, psi_vc, fe_params=beta, scale=self.scale)

    # ------------------------------------------------------------------
    # Boundary and information criteria
    # ------------------------------------------------------------------
    @property
    def singular(self):
        """True when the verdict puts the optimum on the boundary (lme4's isSingular)."""
        return bool(self.convergence.boundary)

    @functools.cached_property
    def on_boundary(self):
        """Boolean mask over theta: parameters at a zero pivot (see the module docstring)."""
        mask = np.zeros(len(self.theta), bool)
        if not self.singular:
            return mask
        zero_L, zero_vc = zero_pivots(self.phi, self.k_re)
        rows, cols = np.tril_indices(self.k_re)
        mask[:self.k_re2] = zero_L[rows] | zero_L[cols]
        mask[self.k_re2:] = zero_vc
        return mask

    @property
    def df_modelwc(self):
        """Parameters counted by aic/bic: free fixed effects and theta, plus sigma2."""
        n_theta = len(self.theta) if self.free is None else int(self.free.sum())
        return self.k_fe + n_theta + 1

    @property
    def aic(self):
        """-2 llf + 2 k, k = k_fe + free covariance parameters + 1 (sigma2); nan under REML.

        statsmodels' rule, kept: a REML log-likelihood depends on the fixed-effects
        design (through log|X'V^{-1}X|), so REML criteria of models with different
        fixed effects are not comparable, and statsmodels reports nan rather than
        a number that invites that comparison. (lme4 reports REML AIC anyway.)
        """
        return np.nan if self.reml else -2.0 * self.llf + 2.0 * self.df_modelwc

    @property
    def bic(self):
        """-2 llf + log(nobs) k, k as for :attr:`aic`; nan under REML (same reason)."""
        return np.nan if self.reml else -2.0 * self.llf + np.log(self.nobs) * self.df_modelwc

    # ------------------------------------------------------------------
    # Standard errors (module docstring: two conventions)
    # ------------------------------------------------------------------
    @functools.cached_property
    def _cov_params(self):
        """inv(-H) over the estimated, off-boundary parameters; 0 rows for held ones, nan for boundary."""
        # (eq:hess-full) at beta_hat, from the Point at phi itself: going back
        # through theta -> phi would re-factor Psi, which near the boundary or at
        # extreme scales can land on a slightly different (even unevaluable) point.
        H = hessian.hessian_beta_theta(self.model.stats, self.model.layout, self.point,
                                       self.point.beta_hat, self.reml)
        p = self.k_fe
        held = np.zeros(p + len(self.theta), bool)
        if self.free is not None:
            held[p:] = self.free == 0
        boundary = np.concatenate([np.zeros(p, bool), self.on_boundary & ~held[p:]])
        keep = ~held & ~boundary
        cov = np.zeros_like(H)
        try:
            cov[np.ix_(keep, keep)] = np.linalg.inv(-H[np.ix_(keep, keep)])
        except (np.linalg.LinAlgError, ValueError):       # singular, or H not finite
            cov[np.ix_(keep, keep)] = np.nan
        cov[boundary, :] = np.nan
        cov[:, boundary] = np.nan
        return cov

    def cov_params(self):
        """statsmodels' ``cov_params()``: inv(-H) in (beta, theta), DataFrame by param_names."""
        return pd.DataFrame(self._cov_params.copy(), index=self.param_names, columns=self.param_names)

    @property
    def bse(self):
        """sqrt(diag(cov_params())): beta, then theta (profile units)."""
        with np.errstate(invalid="ignore"):
            return pd.Series(np.sqrt(np.diag(self._cov_params)), index=self.param_names)

    @property
    def bse_fe(self):
        """statsmodels' errors of fe_params: observed information in (beta, theta)."""
        return self.bse.iloc[:self.k_fe]

    @property
    def bse_fe_gls(self):
        """GLS errors sqrt(diag(sigma2 (X'V^{-1}X)^{-1})), theta taken as known (lme4's vcov)."""
        cov = self.scale * XtVinvX_inv(self.point)
        return pd.Series(np.sqrt(np.diag(cov)), index=self.exog_names)

    @property
    def bse_re(self):
        """statsmodels' sqrt(scale * diag(cov_params())[theta]), by covariance name (see module docstring)."""
        with np.errstate(invalid="ignore"):
            v = np.sqrt(self.scale * np.diag(self._cov_params)[self.k_fe:])
        return pd.Series(v, index=self.cov_param_names)

    @property
    def tvalues(self):
        """params / bse, for all parameters (statsmodels); only the beta entries are meaningful z's."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.params / self.bse

    @property
    def pvalues(self):
        """Two-sided normal p-values of :attr:`tvalues` (statsmodels uses the normal, not t)."""
        return pd.Series(2.0 * sps.norm.sf(np.abs(self.tvalues.to_numpy())), index=self.param_names)

    def conf_int(self, alpha=0.05):
        """Wald intervals params -/+ z_{1-alpha/2} bse for all parameters, columns 0 and 1.

        As statsmodels: the theta rows are in profile units and symmetric, so
        they are poor intervals for variances; use :meth:`profile_re` for those.
        """
        z = sps.norm.ppf(1.0 - alpha / 2.0)
        lo, hi = self.params - z * self.bse, self.params + z * self.bse
        return pd.DataFrame({0: lo, 1: hi})

    def wald_test_fe(self, R, q=None, cov="observed"):
        """Wald test of R beta = q on the fixed effects.

        R: (r, k_fe) array, a 1-d row, or a fixed-effect name / list of names
        (testing those coefficients = 0). statistic = d'(R C R')^{-1} d with
        d = R beta_hat - q and C the covariance of beta_hat: ``cov="observed"``
        (the bse_fe convention) or ``"gls"`` (bse_fe_gls); referred to chi2 with
        r = rank(R) degrees of freedom (large-sample; no F / denominator df).
        """
        R = self._restriction_matrix(R)
        q = np.zeros(len(R)) if q is None else np.atleast_1d(np.asarray(q, float))
        if q.shape != (len(R),):
            raise ValueError(f"q must have one value per row of R ({len(R)}), got shape {q.shape}")
        if np.linalg.matrix_rank(R) < len(R):
            raise ValueError("the rows of R are linearly dependent; drop the redundant restrictions")
        if cov == "observed":
            C = self._cov_params[:self.k_fe, :self.k_fe]
        elif cov == "gls":
            C = self.scale * XtVinvX_inv(self.point)
        else:
            raise ValueError(f"cov must be 'observed' or 'gls', got {cov!r}")
        d = R @ self.fe_params.to_numpy() - q
        stat = float(d @ np.linalg.solve(R @ C @ R.T, d))
        return WaldTest(statistic=stat, df=len(R), pvalue=float(sps.chi2.sf(stat, len(R))),
                        estimate=R @ self.fe_params.to_numpy(), q=q, cov=cov)

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

    # ------------------------------------------------------------------
    # Random effects (blup.py), fitted values
    # ------------------------------------------------------------------
    def _real_slots(self, g):
        """Column indices of group g's b_i without padding, and statsmodels' names for them."""
        d = self.model.design
        idx, names = list(range(self.k_re)), list(self.model.exog_re_names)
        for j, v in enumerate(self.model.vc_names):
            cols = d.vc_column_names[j][g]
            start = self.model.layout.vc_slots(j).start
            idx += range(start, start + len(cols))
            names += [f"{v}[{c}]" for c in cols]
        return idx, names

    @functools.cached_property
    def _b_hat(self):
        return blups(self.model.stats, self.point)[0]                 # (eq:blup), (G, q)

    @functools.cached_property
    def random_effects(self):
        """{group label: Series} of conditional means b_hat_i (eq:blup), user scale.

        Index: exog_re_names, then 'vc[column]' for the columns variance component
        vc has in that group (statsmodels' names). Unlike statsmodels, defined
        at a singular cov_re too.
        """
        out = {}
        for g, label in enumerate(self.model.group_labels):
            idx, names = self._real_slots(g)
            out[label] = pd.Series(self._b_hat[g, idx], index=names)
        return out

    @functools.cached_property
    def random_effects_cov(self):
        """{group label: DataFrame} of Var(b_i | y) = sigma2 Lambda C_i^{-1} Lambda' (eq:blup-cov).

        statsmodels' convention: beta treated as known (no REML correction),
        under REML as well as ML.
        """
        Gamma = conditional_cov(self.model.stats, self.point, self.scale, reml=False)
        out = {}
        for g, label in enumerate(self.model.group_labels):
            idx, names = self._real_slots(g)
            out[label] = pd.DataFrame(Gamma[g][np.ix_(idx, idx)], index=names, columns=names)
        return out

    @functools.cached_property
    def fittedvalues(self):
        """X beta_hat + Z_i b_hat_i for each row, in the rows' original order (ndarray)."""
        d = self.model.design
        Zb = np.einsum("nq,nq->n", d.Z, self._b_hat[d.group_index])
        return d.X @ self.fe_params.to_numpy() + Zb

    @property
    def resid(self):
        """y - fittedvalues (conditional residuals)."""
        return self.model.design.y - self.fittedvalues

    # ------------------------------------------------------------------
    # Summary and profile likelihood
    # ------------------------------------------------------------------
    def summary(self, yname=None, alpha=0.05):
        """A text table in statsmodels' layout (``print(res.summary())``)."""
        return build_summary(self, yname, alpha)

    def profile_re(self, re_ix, vtype="re", num_low=5, dist_low=1.0, num_high=5, dist_high=1.0,
                   **fit_kwargs):
        """Profile likelihood of one variance: rows (value, llf), as statsmodels' ``profile_re``.

        vtype "re": the variance of random effect re_ix (index or name in
        exog_re_names); vtype "vc": variance component re_ix (name or index).
        The variance is held on a grid of num_low + 1 + num_high profile values
        from (v - dist_low)/scale to (v + dist_high)/scale (v the user-scale
        estimate), and the log-likelihood maximised over the rest with
        ``model.fit(free=mask, start_params=...)``. The first column is
        statsmodels' x * scale, with the scale of *that* refit.

        As statsmodels does, a random effect re_ix > 0 is moved to column 0 of
        a copy of the model first: Psi_re[0, 0] = L[0, 0]**2, so holding it
        is holding one sqrt parameter. Start values keep the estimated
        correlations (statsmodels keeps covariances, which can leave Psi_re
        indefinite); the refit optimum does not depend on them.
        """
        model, theta, j = self._profile_target(re_ix, vtype)
        mask = np.ones(len(theta)) if self.free is None else self.free.copy()
        if vtype == "re" and self.free is not None:
            mask = self._permuted_mask(re_ix)
        mask[j] = 0.0
        v = theta[j] * self.scale
        low, high = (v - dist_low) / self.scale, (v + dist_high) / self.scale
        if low <= 0:
            raise ValueError(f"dist_low={dist_low} reaches below zero from the estimate {v:.6g}; "
                             "use a smaller dist_low")
        grid = np.concatenate([np.linspace(low, theta[j], num_low + 1),
                               np.linspace(theta[j], high, num_high + 1)[1:]])
        rows = []
        for x in grid:
            start = MixedLMParams.from_profile(_held_start(theta, j, x, self.k_re), self.k_re)
            r = model.fit(reml=self.reml, start_params=start, free=mask, **fit_kwargs)
            rows.append([x * r.scale, r.llf])
        return np.asarray(rows)

    def _profile_target(self, re_ix, vtype):
        """(model, theta, index of the held parameter in theta) for profile_re."""
        if vtype == "vc":
            names = list(self.model.vc_names)
            k = _position(re_ix, names)
            if not 0 <= k < self.k_vc:
                raise ValueError(f"no variance component {re_ix!r}; components are {names}")
            return self.model, self.theta, self.k_re2 + k
        if vtype != "re":
            raise ValueError(f"vtype must be 're' or 'vc', got {vtype!r}")
        perm = self._re_permutation(re_ix)
        Psi_re, psi_vc = unpack_profile(self.theta, self.k_re)
        theta = pack_profile(Psi_re[np.ix_(perm, perm)], psi_vc)
        if perm[0] == 0:
            return self.model, theta, 0
        d = self.model.design
        Z = d.Z.copy()
        Z[:, :self.k_re] = d.Z[:, perm]
        design = replace(d, Z=Z, exog_re_names=[d.exog_re_names[i] for i in perm])
        return type(self.model)(None, None, None, _design=design), theta, 0

    def _re_permutation(self, re_ix):
        names = list(self.model.exog_re_names)
        k = _position(re_ix, names)
        if not 0 <= k < self.k_re:
            raise ValueError(f"no random effect {re_ix!r}; random effects are {names}")
        perm = np.arange(self.k_re)
        perm[[0, k]] = perm[[k, 0]]
        return perm

    def _permuted_mask(self, re_ix):
        perm = self._re_permutation(re_ix)
        M, m_vc = unpack_profile(self.free, self.k_re)
        return pack_profile(M[np.ix_(perm, perm)], m_vc)


def _mask(free, n_params):
    """The 0/1 mask over theta from an array or a MixedLMParams of 0/1 entries."""
    m = free.profile() if isinstance(free, MixedLMParams) else np.asarray(free, float).ravel()
    if m.shape != (n_params,) or not np.all((m == 0) | (m == 1)):
        raise ValueError(f"free must be a 0/1 mask over the {n_params} covariance parameters "
                         f"theta = [tril(Psi_re), psi_vc], got {free!r}")
    return m


def _position(ix, names):
    """Index of ix in names if ix is a name (-1 if absent), else int(ix)."""
    if isinstance(ix, str):
        return names.index(ix) if ix in names else -1
    return int(ix)


def _held_start(theta, j, x, k_re):
    """theta with entry j set to x; for Psi_re[0, 0] (j = 0), row 0 rescaled to keep correlations."""
    theta = theta.copy()
    if j >= n_tril(k_re):
        theta[j] = x
        return theta
    Psi_re, psi_vc = unpack_profile(theta, k_re)
    old = Psi_re[0, 0]
    f = np.sqrt(x / old) if old > 0 else 0.0
    Psi_re[0, :] *= f
    Psi_re[:, 0] *= f
    Psi_re[0, 0] = x
    return pack_profile(Psi_re, psi_vc)


@dataclass
class WaldTest:
    """Result of :meth:`MixedLMResults.wald_test_fe`: chi2 statistic, df, p-value."""

    statistic: float
    df: int
    pvalue: float
    estimate: np.ndarray
    q: np.ndarray
    cov: str

    def __str__(self):
        return (f"Wald test of R beta = q ({self.cov} covariance): chi2({self.df}) = "
                f"{self.statistic:.4f}, p = {self.pvalue:.4g}")
