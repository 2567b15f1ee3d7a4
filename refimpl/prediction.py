"""Prediction and simulation from a fitted model (book chapter "prediction").

For rows with fixed-effects design x and random-effects design z in group g:

    marginal     E[y]         = x' beta_hat                                  (eq:pred-marginal)
    conditional  E[y | b_g]   = x' beta_hat + z' b_hat_g                     (eq:pred-conditional)

with b_hat_g the BLUP (eq:blup). A group the fit has not seen has b_hat = 0
(its prior mean), so its conditional prediction is the marginal one, as lme4's
``predict(..., re.form=NULL, allow.new.levels=TRUE)``; a variance-component
column the group did not have at fit time (a new level) also gets 0.

``predict(exog=None)`` is statsmodels' ``results.predict``: the marginal
mean X beta_hat. ``include_random=True`` is lme4's default conditional
prediction (refimpl's extension). A DataFrame ``exog`` for a model built with
a formula goes through the fitted patsy design (categorical levels and
stateful transforms as at fit time), and the groups are read from its groups
column when ``groups`` is not given.

``simulate`` draws new responses from the fitted model, conditional on the
design (lme4's ``simulate``):

    y* = X beta_hat + Z b* + e*,  b*_g = sigma_hat Lambda u_g,  e* = sigma_hat eps   (eq:simulate)

u_g, eps standard normal, so b*_g ~ N(0, sigma2_hat Psi) (Psi = Lambda Lambda');
``conditional=True`` keeps b* = b_hat (lme4's ``use.u=TRUE``).

A mixin of :class:`refimpl.results.MixedLMResults`.
"""

import numpy as np
import pandas as pd

from . import arguments


class Prediction:
    """predict and simulate (needs model, _beta, _b_hat, point, scale)."""

    def predict(self, exog=None, groups=None, exog_re=None, include_random=False, transform=True):
        """Marginal (default, statsmodels) or conditional (include_random=True) predictions.

        exog: None (the fitted rows), an (n, k_fe) array, or a DataFrame (run
        through the formula for formula models). groups: group labels of the
        rows (needed with include_random for new rows; a formula model reads
        its groups column from the DataFrame). exog_re: (n, k_re) random-effects
        design of the rows (formula models build it; the default random
        intercept is a column of ones). Returns a Series on exog's index when
        exog is a DataFrame, else an ndarray (statsmodels' rule).
        """
        include_random = arguments.boolean("include_random", include_random)
        arguments.boolean("transform", transform)
        if exog is None:
            for name, value in (("groups", groups), ("exog_re", exog_re)):
                if value is not None:
                    raise ValueError(f"{name} is only used with a new exog; with exog=None the "
                                     "fitted rows are predicted")
            d = self._design_with_data("predict() on the fitted rows")
            return self._fitted.copy() if include_random else d.X @ self._beta
        index = exog.index if isinstance(exog, (pd.Series, pd.DataFrame)) else None
        info = self.model.design.formula_info
        if isinstance(exog, pd.DataFrame) and info is not None and transform:
            X = self._formula_X(exog, info)
        else:
            X = self._array_X(exog)
        mu = X @ self._beta                                            # (eq:pred-marginal)
        if include_random:
            mu = mu + self._Zb_new(exog, X.shape[0], groups, exog_re, info)   # (eq:pred-conditional)
        return pd.Series(mu, index=index) if index is not None else mu

    def simulate(self, nsim=1, seed=None, conditional=False):
        """nsim new response vectors y* from the fitted model (eq:simulate), columns of an (n, nsim) result.

        seed: None, an int, or a numpy Generator (draw order: all u, then all
        eps, per replicate). conditional=True keeps the BLUPs (lme4's use.u=TRUE).
        A DataFrame with columns sim_1..sim_nsim on the data's rows for pandas input.
        """
        nsim = arguments.positive_int("nsim", nsim)
        conditional = arguments.boolean("conditional", conditional)
        if not (seed is None or isinstance(seed, np.random.Generator)):
            seed = arguments.integer("seed", seed, minimum=0)
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        d = self._design_with_data("simulate")
        sigma = np.sqrt(self.scale)
        G, q, n = self.model.n_groups, self.model.layout.q, len(d.y)
        out = np.empty((n, nsim))
        for k in range(nsim):
            if conditional:
                b = self._b_hat
            else:
                u = rng.standard_normal((G, q))
                b = sigma * u @ self.point.Lambda.T                    # rows b_g = sigma Lambda u_g
            eps = rng.standard_normal(n)
            out[:, k] = d.X @ self._beta + np.einsum("nq,nq->n", d.Z, b[d.group_index]) + sigma * eps
        if self.use_pandas:
            return pd.DataFrame(out, index=self.row_labels, columns=[f"sim_{k + 1}" for k in range(nsim)])
        return out

    # ------------------------------------------------------------------
    # Designs of new rows
    # ------------------------------------------------------------------
    def _array_X(self, exog):
        arr = np.asarray(exog)
        if arr.ndim == 1 and self.k_fe == 1:
            arr = arr[:, None]
        X = arguments.float_matrix("exog", arr)
        if X.shape[1] != self.k_fe:
            raise ValueError(f"exog must have {self.k_fe} columns ({self.exog_names}), got shape {X.shape}")
        return X

    def _formula_X(self, data, info):
        """X for new rows through the fitted patsy design (or the formula again after unpickling)."""
        import patsy
        if info.get("fe_info") is not None:
            (X,) = patsy.build_design_matrices([info["fe_info"]], data, NA_action="raise",
                                               return_type="dataframe")
        else:
            X = patsy.dmatrix(info["formula"].split("~", 1)[1], data, NA_action="raise",
                              return_type="dataframe")
        if list(X.columns) != self.exog_names:
            raise ValueError(f"exog builds the columns {list(X.columns)}, but the model was fitted "
                             f"with {self.exog_names}; give exog as an array with those columns")
        return X.to_numpy(dtype=float)

    def _new_groups(self, exog, n, groups, info):
        if groups is None and info is not None and info.get("groups") and isinstance(exog, pd.DataFrame) \
                and info["groups"] in exog.columns:
            groups = exog[info["groups"]]
        if isinstance(groups, str) and isinstance(exog, pd.DataFrame) and groups in exog.columns:
            groups = exog[groups]
        if groups is None:
            raise ValueError("include_random=True for new rows needs groups=... (the group label of "
                             "each row; a formula model reads its groups column from exog)")
        groups = np.asarray(groups)
        if groups.shape != (n,):
            raise ValueError(f"groups must have one label per row of exog ({n}), got shape {groups.shape}")
        if pd.isna(pd.Series(groups, dtype=object)).any():
            raise ValueError("groups has missing labels (NaN/None); give every row its group label "
                             "(a label the fit has not seen predicts the marginal mean)")
        position = {lab: g for g, lab in enumerate(self.model.group_labels)}
        by_str = {str(lab): g for lab, g in position.items()}
        return np.array([position.get(lab, by_str.get(str(lab), -1)) for lab in groups])

    def _Zb_new(self, exog, n, groups, exog_re, info):
        """z' b_hat_g per row; 0 for groups (and component levels) the fit has not seen."""
        g = self._new_groups(exog, n, groups, info)
        known = g >= 0
        out = np.zeros(n)
        if not known.any():
            return out
        Zre = self._new_exog_re(exog, n, exog_re, info)
        b = self._b_hat[np.where(known, g, 0)]                          # (n, q), rows of new groups unused
        out += np.where(known, np.einsum("nk,nk->n", Zre, b[:, :self.k_re]), 0.0)
        if self.k_vc:
            out += self._vc_part(exog, g, info)
        return out

    def _new_exog_re(self, exog, n, exog_re, info):
        names = list(self.model.exog_re_names)
        if self.k_re == 0:
            return np.zeros((n, 0))
        if exog_re is not None:
            Z = arguments.float_matrix("exog_re", np.asarray(exog_re).reshape(n, -1))
            if Z.shape[1] != self.k_re:
                raise ValueError(f"exog_re must have {self.k_re} columns ({names}), got shape {Z.shape}")
            return Z
        if info is not None and info.get("re_info") is not None and isinstance(exog, pd.DataFrame):
            import patsy
            (Z,) = patsy.build_design_matrices([info["re_info"]], exog, NA_action="raise")
            return np.asarray(Z, float)
        if info is not None and info.get("re_formula") not in (None, "1") and isinstance(exog, pd.DataFrame):
            import patsy
            return np.asarray(patsy.dmatrix(info["re_formula"], exog, NA_action="raise"), float)
        d = self.model.design
        if self.k_re == 1 and (info is not None or np.all(d.Z[:, 0] == 1.0)):
            return np.ones((n, 1))                                     # the default random intercept
        raise ValueError(f"include_random=True for new rows needs exog_re=... ({self.k_re} columns: {names})")

    def _vc_part(self, exog, g, info):
        """Variance-component terms z_vc' b_hat for formula models (per-group patsy designs)."""
        if info is None or not isinstance(exog, pd.DataFrame):
            raise ValueError("include_random=True with variance components needs a formula model and "
                             "exog as a DataFrame (the component designs are built per group)")
        import patsy
        out = np.zeros(len(g))
        lay, d = self.model.layout, self.model.design
        for j, name in enumerate(self.model.vc_names):
            start = lay.vc_slots(j).start
            for gg in np.unique(g[g >= 0]):
                rows = np.flatnonzero(g == gg)
                M = patsy.dmatrix(info["vc_formula"][name], exog.iloc[rows], NA_action="raise",
                                  return_type="dataframe")
                for k, col in enumerate(d.vc_column_names[j][gg]):
                    if col in M.columns:
                        out[rows] += M[col].to_numpy(float) * self._b_hat[gg, start + k]
        return out
