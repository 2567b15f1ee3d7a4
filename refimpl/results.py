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

The object is split by concept: this file holds the estimates, their
covariance matrix, the BLUPs and fitted values, and persistence (pickle,
save/load, remove_data); inference.py the standard errors and tests
(bse, conf_int, t_test, wald_test, f_test); prediction.py ``predict`` and
``simulate``; profile.py ``profile_re``; summary.py the text table.

Return types are statsmodels': arrays in, arrays out; pandas or a formula in,
pandas out (Series/DataFrame labelled with statsmodels' names, row-indexed
by the data's index). ``random_effects`` is a dict of Series either way, as in
statsmodels. One difference: ``vcomp`` is a Series named by component for
pandas input (statsmodels gives a bare array even then).

Boundary (singular) fits, lme4's ``isSingular``: when the verdict says
``boundary``, every covariance parameter in the row or column of a zero
pivot of Psi_re (|L[j, j]| < BOUNDARY_TOL, L the Cholesky factor) and every
variance component with |s_vc| < BOUNDARY_TOL sits on the boundary. Those
parameters are dropped from -H before it is inverted (as statsmodels does
for parameters held fixed by ``free``), their standard errors are nan, and
the summary says "singular fit". Fixed effects, llf and BLUPs are reported.
"""

import copy
import functools
import pickle

import numpy as np
import pandas as pd

from . import hessian
from .blup import conditional_cov, conditional_means
# The boundary rule (lme4's isSingular) is the verdict's: convergence.zero_pivots.
from .convergence import zero_pivots
from .inference import ContrastResults, Inference, WaldTest  # noqa: F401  (WaldTest: old import path)
from .linalg import n_tril
from .parameters import MixedLMParams, sqrt_to_profile, unpack_profile
from .prediction import Prediction
from .profile import Profile, _held_start  # noqa: F401  (_held_start: old import path)
from .summary import build_summary


def covariance_param_names(exog_re_names, vc_names):
    """statsmodels' names of theta: 'a Var', 'a x b Cov' (tril order), then 'v Var'."""
    names = []
    for i, ni in enumerate(exog_re_names):
        for j in range(i + 1):
            names.append(f"{ni} Var" if i == j else f"{exog_re_names[j]} x {ni} Cov")
    return names + [f"{v} Var" for v in vc_names]


class MixedLMResults(Inference, Prediction, Profile):
    """A fitted linear mixed model, with statsmodels' attribute names.

    Built by ``model.fit`` as
    ``MixedLMResults(model, phi, reml=..., method="bfgs", n_iter=..., convergence=verdict,
    history=..., free=None)``. ``method`` there is the *optimizer*; it is
    stored as ``optimizer``, because statsmodels' ``results.method`` means
    "REML" or "ML", and so does ours. ``free`` is the 0/1 mask over theta of
    the parameters that were optimised (None: all); held parameters get a zero
    row in ``cov_params()`` and are not counted by aic/bic (statsmodels' rule).
    """

    use_t = False        # statsmodels: tests and intervals use the normal distribution
    use_sqrt = True      # the optimizers work in the sqrt parameterization

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
        self.row_labels = model.design.row_labels
        self.use_pandas = self.row_labels is not None

        # The point: beta and sigma2 profiled out (eq:gls-beta, eq:profiled-sigma2)
        self.point = model.point_sqrt(self.phi)
        self.theta = sqrt_to_profile(self.phi, self.k_re)
        self.scale = float(self.point.sigma2_hat(self.reml))
        self.llf = float(model.loglike_sqrt(self.phi, self.reml))
        self._beta = self.point.beta_hat.copy()
        self._Psi_re, self._psi_vc = unpack_profile(self.theta, self.k_re)
        re = list(model.exog_re_names)
        # each public value is its own copy: a caller editing one cannot change another
        self.fe_params = self._vector(self._beta, self.exog_names)
        self.cov_re_unscaled = self._matrix(self._Psi_re, re, re)
        self.cov_re = self._matrix(self._Psi_re * self.scale, re, re)
        self.vcomp = self._vector(self._psi_vc * self.scale, list(model.vc_names))
        self.params = self._vector(np.concatenate([self._beta, self.theta]), self.param_names)
        self.params_object = MixedLMParams(self._Psi_re.copy(), self._psi_vc.copy(),
                                           fe_params=self._beta.copy(), scale=self.scale)
        self.freepat = (None if self.free is None else
                        MixedLMParams.from_profile(self.free, self.k_re))

    # ------------------------------------------------------------------
    # Arrays in, arrays out; pandas in, pandas out
    # ------------------------------------------------------------------
    def _vector(self, values, names):
        values = np.array(values, dtype=float)
        return pd.Series(values, index=list(names), dtype=float) if self.use_pandas else values

    def _matrix(self, values, rows, cols):
        values = np.array(values, dtype=float)
        return pd.DataFrame(values, index=list(rows), columns=list(cols)) if self.use_pandas else values

    def _by_row(self, values):
        """An n-vector over the kept rows: a Series on the data's row index for pandas input."""
        return pd.Series(values, index=self.row_labels) if self.use_pandas else values

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
    # Covariance of the estimates (inference.py explains the two conventions)
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

    def cov_params(self, r_matrix=None, column=None):
        """statsmodels' ``cov_params()``: inv(-H) in (beta, theta), labelled by param_names.

        column: positions (or names) of a sub-block; r_matrix: R C R' for a
        (r, k_params) matrix R. Both as statsmodels' LikelihoodModelResults.
        """
        C = self._cov_params.copy()
        if r_matrix is not None:
            from . import arguments
            R = arguments.float_matrix("r_matrix", np.atleast_2d(r_matrix))
            if R.shape[1] != len(self.param_names):
                raise ValueError(f"r_matrix must have {len(self.param_names)} columns (one per "
                                 f"parameter: {self.param_names}), got shape {R.shape}")
            return R @ C @ R.T
        names = self.param_names
        if column is not None:
            idx = self._param_positions("column", column)
            C, names = C[np.ix_(idx, idx)], [names[i] for i in idx]
        return self._matrix(C, names, names)

    @property
    def normalized_cov_params(self):
        """statsmodels' cov_params() / scale."""
        return self._matrix(self._cov_params / self.scale, self.param_names, self.param_names)

    def _param_positions(self, argname, which):
        """Integer positions from a list of positions or parameter names (ValueError otherwise)."""
        items = [which] if isinstance(which, (str, int, np.integer)) else list(which)
        out = []
        for it in items:
            if isinstance(it, str):
                if it not in self.param_names:
                    raise ValueError(f"{argname}: unknown parameter {it!r}; names are {self.param_names}")
                out.append(self.param_names.index(it))
            elif isinstance(it, (int, np.integer)) and -len(self.param_names) <= it < len(self.param_names):
                out.append(int(it) % len(self.param_names))
            else:
                raise ValueError(f"{argname} must hold parameter positions 0..{len(self.param_names) - 1} "
                                 f"or names, got {it!r}")
        return out

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
        return conditional_means(self.model.stats, self.point)       # (eq:blup), (G, q)

    @functools.cached_property
    def random_effects(self):
        """{group label: Series} of conditional means b_hat_i (eq:blup), user scale.

        Index: exog_re_names, then 'vc[column]' for the columns variance component
        vc has in that group (statsmodels' names). A dict of Series for array
        input too, as statsmodels. Unlike statsmodels, defined at a singular cov_re.
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
    def _fitted(self):
        """X beta_hat + Z_i b_hat_i for each row, in the rows' original order  (eq:pred-conditional)."""
        d = self._design_with_data("fittedvalues")
        Zb = np.einsum("nq,nq->n", d.Z, self._b_hat[d.group_index])
        return d.X @ self._beta + Zb

    @property
    def fittedvalues(self):
        """Conditional fitted values X beta_hat + Z b_hat (ndarray, or Series on the data's rows)."""
        return self._by_row(self._fitted.copy())

    @property
    def resid(self):
        """y - fittedvalues (conditional residuals), same type as fittedvalues."""
        return self._by_row(self._design_with_data("resid").y - self._fitted)

    # ------------------------------------------------------------------
    # Summary
    # ------------------------------------------------------------------
    def summary(self, yname=None, xname_fe=None, xname_re=None, title=None, alpha=0.05):
        """A text table in statsmodels' layout (``print(res.summary())``); ``.tables[1]`` the estimates."""
        return build_summary(self, yname=yname, xname_fe=xname_fe, xname_re=xname_re,
                             title=title, alpha=alpha)

    # ------------------------------------------------------------------
    # Persistence: pickle, save/load, remove_data (statsmodels' names)
    # ------------------------------------------------------------------
    def __getstate__(self):
        """Pickle everything but patsy's DesignInfo objects (patsy cannot pickle them).

        After unpickling, ``predict`` on a new DataFrame rebuilds the design
        from the stored formula strings instead (prediction.py checks that the
        columns come out with the fitted names).
        """
        state = self.__dict__.copy()
        d = self.model.design
        if d.formula_info is not None and (d.formula_info.get("fe_info") is not None
                                           or d.formula_info.get("re_info") is not None):
            model = copy.copy(self.model)
            model._cache = (None, None)
            info = dict(d.formula_info, fe_info=None, re_info=None)
            model.design = copy.copy(d)
            model.design.formula_info = info
            state["model"] = model
        return state

    def save(self, fname, remove_data=False):
        """Pickle to a path or an open binary file, as statsmodels' ``results.save``."""
        from . import arguments
        arguments.boolean("remove_data", remove_data)
        if remove_data:
            self.remove_data()
        if hasattr(fname, "write"):
            pickle.dump(self, fname)
        else:
            with open(fname, "wb") as fh:
                pickle.dump(self, fh)

    @classmethod
    def load(cls, fname):
        """Load a pickled results object (statsmodels' ``MixedLMResults.load``); only load trusted files."""
        if hasattr(fname, "read"):
            obj = pickle.load(fname)
        else:
            with open(fname, "rb") as fh:
                obj = pickle.load(fh)
        if not isinstance(obj, cls):
            raise TypeError(f"{fname!r} holds a {type(obj).__name__}, not a {cls.__name__}")
        return obj

    def remove_data(self):
        """Drop the n-row arrays (y, X, Z) from the model, keeping every per-group summary.

        As statsmodels' ``remove_data``: the estimates, standard errors, BLUPs,
        summary and ``predict(exog=...)`` keep working (they need only the
        per-group statistics); ``fittedvalues``, ``resid``, in-sample
        ``predict()`` and ``simulate`` need the rows and raise ValueError after it.
        The covariance and BLUP caches are filled first. The model is changed
        in place, as in statsmodels.
        """
        for name in ("_cov_params", "on_boundary", "_b_hat", "random_effects", "random_effects_cov"):
            getattr(self, name)
        self.__dict__.pop("_fitted", None)
        d = copy.copy(self.model.design)
        empty = np.zeros(0)
        d.y, d.X, d.group_index = empty, np.zeros((0, self.k_fe)), None
        d.Z_re, d.Z_vc = np.zeros((0, d.Z_re.shape[1])), d.Z_vc[:0]
        d._Z = None
        d.row_labels = None if d.row_labels is None else d.row_labels[:0]
        d.data_removed = True
        self.model.design = d

    def _design_with_data(self, what):
        d = self.model.design
        if getattr(d, "data_removed", False):
            raise ValueError(f"{what} needs the data rows, which remove_data() dropped; "
                             "refit (or keep the data) to get it")
        return d


def _mask(free, n_params):
    """The 0/1 mask over theta from an array or a MixedLMParams of 0/1 entries."""
    m = free.profile() if isinstance(free, MixedLMParams) else np.asarray(free, float).ravel()
    if m.shape != (n_params,) or not np.all((m == 0) | (m == 1)):
        raise ValueError(f"free must be a 0/1 mask over the {n_params} covariance parameters "
                         f"theta = [tril(Psi_re), psi_vc], got {free!r}")
    return m
