"""statsmodels' MixedLM model methods, with statsmodels' signatures and return types.

MixedLM (model.py) inherits these. Each is a thin face over refimpl's own
evaluators (``loglike_profile``, ``score_profile``, ``hessian_beta_theta``, ...,
which take a profile vector theta or a MixedLMParams and an explicit ``reml``).
What statsmodels' versions mean, and so what these mean:

* ``params`` is a MixedLMParams (profile units: cov_re = Psi_re, vcomp = psi_vc)
  or a packed vector in the model's ``use_sqrt`` parameterization, with or
  without fe_params in front (told apart by its length);
* the REML flag is the model's ``reml``, set by the last ``fit`` (as statsmodels
  keeps ``self.reml``); a keyword-only ``reml=`` overrides it (refimpl's addition);
* ``fe_pen`` / ``cov_pen`` set by ``fit`` are subtracted from ``loglike`` and
  their derivatives from ``score`` (statsmodels.base._penalties semantics);
* ``hessian`` returns ``(hess, sing)`` in (beta, tril(cov_re), vcomp), whatever use_sqrt.

``EM``, ``Estep``, ``steepest_ascent``, ``hessian_full``, ``hessian_sqrt`` and
``starting_values`` are gone from statsmodels; they keep the 2014 seed's
signatures and meanings and run refimpl's em.py / steepest.py.
"""

import numpy as np

from . import arguments, batched, likelihood
from .blup import blups, conditional_cov
from .objective import Objective
from .parameters import (MixedLMParams, hessian_sqrt_to_profile, jacobian_sqrt_to_profile,
                         pack_profile)
from .score import scale_profiled_score

#: statsmodels' tolerance for calling cov_re singular (get_fe_params' ``tol``).
SINGULAR_TOL = 1e-10


def as_refimpl_params(params):
    """statsmodels' own MixedLMParams object (duck-typed) as refimpl's; anything else unchanged."""
    if isinstance(params, MixedLMParams) or not all(
            hasattr(params, a) for a in ("cov_re", "vcomp", "fe_params", "get_packed")):
        return params
    return MixedLMParams.from_components(getattr(params, "fe_params", None),
                                         cov_re=np.asarray(params.cov_re, float),
                                         vcomp=np.asarray(params.vcomp, float))


class StatsmodelsMethods:
    """Mixin: the statsmodels-named methods of MixedLM."""

    # ------------------------------------------------------------------
    # Reading params
    # ------------------------------------------------------------------
    def _as_params(self, params, name="params", need_fe=False):
        """A MixedLMParams of this model from a MixedLMParams or a packed vector."""
        params = as_refimpl_params(params)
        if isinstance(params, MixedLMParams):
            self._check_params_object(params, name)
            out = params
        else:
            K = self.layout.n_params
            arr = arguments.float_vector(name, params)
            if arr.size not in (K, self.k_fe + K):
                raise ValueError(
                    f"{name} must be a MixedLMParams or a packed vector of {K} covariance parameters "
                    f"(use_sqrt={self.use_sqrt}: {'Cholesky factor of' if self.use_sqrt else ''} "
                    f"tril(cov_re), then {'sqrt ' if self.use_sqrt else ''}vcomp), or {self.k_fe + K} "
                    f"with fe_params first; got length {arr.size}")
            has_fe = arr.size == self.k_fe + K and (self.k_fe > 0 or K == 0)
            out = MixedLMParams.from_packed(arr, self.k_fe, self.k_re, self.use_sqrt, has_fe)
            if not has_fe:
                out.fe_params = None
            if self.k_re and np.linalg.eigvalsh(out.cov_re).min() < -1e-12 * max(1.0, np.abs(out.cov_re).max()):
                raise ValueError(f"{name}: cov_re must be positive semi-definite, got {out.cov_re}")
            if np.any(out.vcomp < 0):
                raise ValueError(f"{name}: variance components must be >= 0, got {out.vcomp}")
        if need_fe and out.fe_params is None:
            raise ValueError(f"{name} has no fe_params; profile_fe=False needs them "
                             f"(a MixedLMParams with fe_params, or a packed vector with the "
                             f"{self.k_fe} fe_params first)")
        return out

    def _reml(self, reml):
        return self.reml if reml is None else arguments.boolean("reml", reml)

    def _penalty_terms(self, beta, Psi_re, with_fe=True):
        """statsmodels subtracts fe_pen.func(beta) and cov_pen.func(cov_re, cov_re_inv)."""
        pen = 0.0
        if with_fe and self.fe_pen is not None:
            pen += float(self.fe_pen.func(beta))
        if self.cov_pen is not None and self.k_re > 0:
            pen += float(self.cov_pen.func(Psi_re, np.linalg.pinv(Psi_re)))
        return pen

    # ------------------------------------------------------------------
    # Likelihood and derivatives
    # ------------------------------------------------------------------
    def loglike(self, params, profile_fe=True, *, reml=None):
        """Profile log-likelihood (sigma2 profiled; beta too when profile_fe), statsmodels' ``loglike``."""
        profile_fe = arguments.boolean("profile_fe", profile_fe)
        p = self._as_params(params, need_fe=not profile_fe)
        reml = self._reml(reml)
        pt = self.point(p)
        if profile_fe:
            beta, llf = pt.beta_hat, likelihood.profiled_loglike(pt, reml)
        else:
            beta, llf = p.fe_params, likelihood.loglike_scale_profiled(pt, p.fe_params, reml)
        return llf - self._penalty_terms(beta, p.cov_re)

    def _score_theta(self, p, profile_fe, reml):
        """(score_beta, score_theta) of loglike, penalties included."""
        pt = self.point(p)
        beta = pt.beta_hat if profile_fe else p.fe_params
        s_beta, s_theta = scale_profiled_score(self.stats, self.layout, pt, beta, reml)
        if not profile_fe and self.fe_pen is not None:
            s_beta = s_beta - self.fe_pen.deriv(beta)
        if self.cov_pen is not None and self.k_re > 0:
            s_theta = s_theta.copy()
            s_theta[:self.k_re2] -= self.cov_pen.deriv(p.cov_re, np.linalg.pinv(p.cov_re))
        return s_beta, s_theta

    def score(self, params, profile_fe=True, *, reml=None):
        """Score of ``loglike``: w.r.t. the covariance parameters (and beta first when not profile_fe).

        Coordinates: the sqrt parameterization when use_sqrt, else tril(cov_re), vcomp.
        The mask of the last fit's ``free`` multiplies it, as in statsmodels.
        """
        profile_fe = arguments.boolean("profile_fe", profile_fe)
        p = self._as_params(params, need_fe=not profile_fe)
        s_beta, s_cov = self._score_theta(p, profile_fe, self._reml(reml))
        if self.use_sqrt:
            s_cov = jacobian_sqrt_to_profile(p.sqrt(), self.k_re).T @ s_cov
        out = s_cov if profile_fe else np.concatenate([s_beta, s_cov])
        if self._freepat is not None:
            mask = self._freepat.get_packed(use_sqrt=False, has_fe=True)
            out = out * (mask[self.k_fe:] if profile_fe else mask)
        return out

    def score_full(self, params, calc_fe, *, reml=None):
        """(score_fe, score_re, score_vc) at params.fe_params, w.r.t. (beta, tril(cov_re), vcomp)."""
        calc_fe = arguments.boolean("calc_fe", calc_fe)
        p = self._as_params(params, need_fe=True)
        s_beta, s_theta = self._score_theta(p, False, self._reml(reml))
        if not calc_fe:
            s_beta = np.zeros(self.k_fe)
        return s_beta, s_theta[:self.k_re2], s_theta[self.k_re2:]

    def score_sqrt(self, params, calc_fe=True, *, reml=None):
        """(score_fe, score_re, score_vc) w.r.t. (beta, tril(L), sqrt(vcomp)), statsmodels' ``score_sqrt``.

        refimpl's own profiled score in phi is ``score_phi(phi, reml)``.
        """
        params = self._as_params(params)
        s_fe, s_re, s_vc = self.score_full(params, calc_fe, reml=reml)
        s_cov = jacobian_sqrt_to_profile(params.sqrt(), self.k_re).T @ np.concatenate([s_re, s_vc])
        return s_fe, s_cov[:self.k_re2], s_cov[self.k_re2:]

    def hessian(self, params, *, reml=None):
        """(hess, sing): Hessian of loglike(profile_fe=False) in (beta, tril(cov_re), vcomp).

        Taken at params.fe_params (at the GLS beta when params has none).
        ``sing`` is True when cov_re is singular, as statsmodels flags it.
        """
        p = self._as_params(params)
        H = self.hessian_beta_theta(p, self._reml(reml))
        if self.fe_pen is not None and p.fe_params is not None and hasattr(self.fe_pen, "deriv2"):
            H[:self.k_fe, :self.k_fe] -= np.diag(np.atleast_1d(self.fe_pen.deriv2(p.fe_params)))
        sing = bool(self.k_re and np.linalg.eigvalsh(p.cov_re).min() < SINGULAR_TOL)
        return H, sing

    def hessian_full(self, params, *, reml=None):
        """The 2014 seed's ``hessian_full``: the Hessian of ``hessian`` without the flag."""
        return self.hessian(params, reml=reml)[0]

    def hessian_sqrt(self, params, reml=None):
        """The seed's ``hessian_sqrt``: Hessian in (beta, tril(L), sqrt(vcomp)), at params.fe_params.

        refimpl's own profiled Hessian in phi is ``hessian_phi(phi, reml)``.
        """
        reml = self._reml(reml)
        p = self._as_params(params)
        if p.fe_params is None:
            p = p.copy()
            p.fe_params = self.point(p).beta_hat
        H = self.hessian_beta_theta(p, reml)
        phi = p.sqrt()
        k = self.k_fe
        J = np.eye(k + len(phi))
        J[k:, k:] = jacobian_sqrt_to_profile(phi, self.k_re)
        _, s_theta = scale_profiled_score(self.stats, self.layout, self.point(p), p.fe_params, reml)
        out = J.T @ H @ J
        out[k:, k:] += np.einsum("k,kij->ij", s_theta, hessian_sqrt_to_profile(phi, self.k_re))
        return out

    def information(self, params, *, reml=None):
        """Observed information -hessian (statsmodels raises NotImplementedError; refimpl's addition)."""
        return -self.hessian(params, reml=reml)[0]

    # ------------------------------------------------------------------
    # Profiled quantities
    # ------------------------------------------------------------------
    def get_fe_params(self, cov_re, vcomp, tol=1e-10):
        """(fe_params, sing): the GLS beta at profile (cov_re, vcomp)  (eq:gls-beta)."""
        tol = arguments.real("tol", tol, minimum=0.0)
        theta = self._theta_from(cov_re, vcomp)
        cov = np.atleast_2d(np.asarray(cov_re, float)) if self.k_re else np.zeros((0, 0))
        vc = np.atleast_1d(np.asarray(vcomp, float)) if self.k_vc else np.zeros(0)
        sing = bool((self.k_re and np.linalg.eigvalsh(cov).min() < tol) or (vc.size and vc.min() < tol))
        return self.fe_params_at(theta), sing

    def get_scale(self, fe_params, cov_re, vcomp, *, reml=None):
        """sigma2 = (y - X fe_params)'V^{-1}(y - X fe_params) / (n or n - p), at profile (cov_re, vcomp)."""
        fe = arguments.float_vector("fe_params", fe_params, length=self.k_fe)
        pt = self.point(self._theta_from(cov_re, vcomp))
        return float(likelihood.quad_form(pt, fe) / pt.n_eff(self._reml(reml)))

    def _theta_from(self, cov_re, vcomp):
        cov = np.atleast_2d(np.asarray(cov_re, float)) if self.k_re else np.zeros((0, 0))
        vc = np.atleast_1d(np.asarray(vcomp if vcomp is not None else [], float)).ravel()
        if cov.shape != (self.k_re, self.k_re) or vc.shape != (self.k_vc,):
            raise ValueError(f"cov_re must be {self.k_re} x {self.k_re} and vcomp of length "
                             f"{self.k_vc}; got shapes {cov.shape} and {vc.shape}")
        return self._theta(pack_profile(cov, vc))

    def group_list(self, array):
        """``array`` split by group, in the order of group_labels (None stays None)."""
        if array is None:
            return None
        array = np.asarray(array)
        if array.shape[0] != self.n_totobs:
            raise ValueError(f"array must have one row per observation ({self.n_totobs}), "
                             f"got shape {array.shape}")
        return [np.array(array[rows]) for rows in self.design.group_rows()]

    def predict(self, params, exog=None):
        """Fixed-effects mean exog @ fe_params (statsmodels' model-level ``predict``)."""
        if isinstance(params, MixedLMParams):
            fe = params.fe_params
        else:
            fe = arguments.float_vector("params", params)
            if fe.size < self.k_fe:
                raise ValueError(f"params must start with the {self.k_fe} fe_params, got length {fe.size}")
            fe = fe[:self.k_fe]
        X = self.exog if exog is None else arguments.float_matrix(
            "exog", np.asarray(exog, float).reshape(-1, self.k_fe) if np.ndim(exog) == 1 else exog)
        if X.shape[1] != self.k_fe:
            raise ValueError(f"exog must have {self.k_fe} columns, got {X.shape[1]}")
        return X @ fe

    def get_distribution(self, params, scale, exog):
        """The model's distribution at params (packed [fe, tril(cov_re), vcomp] / scale) and scale.

        As statsmodels: params has fe_params first and the covariance part in
        profile units (divided by scale); the returned object's ``rvs(n)``
        draws one vector of endog (n is ignored, as statsmodels does).
        """
        return MixedLMDistribution(self, params, scale, exog)

    # ------------------------------------------------------------------
    # The seed's EM, Estep, steepest ascent and starting values
    # ------------------------------------------------------------------
    def starting_values(self, start_params):
        """A MixedLMParams from start_params (None: fe 0, cov_re = I, vcomp = 1: statsmodels' start)."""
        if start_params is None:
            return MixedLMParams.from_components(np.zeros(self.k_fe), cov_re=np.eye(self.k_re),
                                                 vcomp=np.ones(self.k_vc))
        return self._as_params(start_params, name="start_params")

    def Estep(self, fe_params, cov_re, scale, *, vcomp=None):
        """The E-step at (fe_params, cov_re, scale) in user units: sums over groups of

        m1x = X_i'Z_i E[b_i|y],  m1y = y_i'Z_i E[b_i|y],  m2 = E[b_i b_i'|y],  m2xx = Z_i'Z_i E[b_i b_i'|y].
        (Variance-component slots that a group does not have are zero.)
        """
        fe = arguments.float_vector("fe_params", fe_params, length=self.k_fe)
        scale = arguments.real("scale", scale, minimum=0.0, open_interval=True)
        vc = np.zeros(0) if vcomp is None else np.asarray(vcomp, float)
        pt = self.point(self._theta_from(np.asarray(cov_re, float) / scale, vc / scale))
        b, LCL = blups(self.stats, pt, beta=fe)
        Ebb = b[:, :, None] * b[:, None, :] + conditional_cov(self.stats, pt, scale, False, LCL=LCL)
        real = self.design.real_slot_mask().astype(float)
        b, Ebb = b * real, Ebb * real[:, :, None] * real[:, None, :]
        st = self.stats
        Zty = st.Zty0 + batched.times_shared(st.ZtX, st.beta_ols[:, None])[:, :, 0]
        m1x = np.einsum("gqp,gq->p", st.ZtX, b)
        m1y = float(np.sum(Zty * b))
        return m1x, m1y, Ebb.sum(axis=0), (st.ZtZ @ Ebb).sum(axis=0)

    def EM(self, fe_params, cov_re, scale, niter_em=10, hist=None, *, vcomp=None, reml=None):
        """``niter_em`` EM steps (em.py) from cov_re / scale; returns (fe_params, cov_re, scale).

        refimpl's EM is the profiled one (eq:em-update): each E-step is taken at
        beta_hat(theta) and sigma2_hat(theta), so fe_params and scale enter only
        through theta = cov_re / scale. With variance components pass ``vcomp``;
        then (fe_params, cov_re, scale, vcomp) is returned. ``hist`` (a list)
        gets ["EM", fe_params, cov_re, scale] after each step, as in the seed.
        """
        from .em import fit_em

        arguments.float_vector("fe_params", fe_params, length=self.k_fe)
        niter_em = arguments.integer("niter_em", niter_em, minimum=0)
        scale = arguments.real("scale", scale, minimum=0.0, open_interval=True)
        reml = self._reml(reml)
        if self.k_vc and vcomp is None:
            raise ValueError(f"this model has {self.k_vc} variance components: pass vcomp=...")
        vc = np.zeros(0) if vcomp is None else np.asarray(vcomp, float)
        phi = self._phi(self._theta_from(np.asarray(cov_re, float) / scale, vc / scale))

        def user(phi):
            pt = self.point_sqrt(phi)
            s2 = pt.sigma2_hat(reml)
            Psi_re, psi_vc = MixedLMParams.from_sqrt(phi, self.k_re).cov_re, \
                MixedLMParams.from_sqrt(phi, self.k_re).vcomp
            return pt.beta_hat.copy(), Psi_re * s2, s2, psi_vc * s2

        def record(phi_step, llf):
            if hist is not None:
                fe, cov, s2, v = user(phi_step)
                hist.append(["EM", fe, cov, s2] + ([v] if self.k_vc else []))

        if niter_em > 0:
            phi, _, _ = fit_em(self, phi, reml, maxiter=niter_em, tol=0.0, callback=record)
        fe, cov, s2, v = user(phi)
        return (fe, cov, s2, v) if self.k_vc else (fe, cov, s2)

    def steepest_ascent(self, params, n_iter, *, hist=None, reml=None):
        """``n_iter`` steepest-ascent steps (steepest.py) in phi; returns a MixedLMParams.

        ``hist`` (a list) gets ("steepest", iteration, llf) for each step.
        """
        from .steepest import fit_steepest

        n_iter = arguments.integer("n_iter", n_iter, minimum=0)
        reml = self._reml(reml)
        phi = self._as_params(params).sqrt()
        if n_iter > 0:
            obj = Objective(self, reml, phi)
            x, _, steps, _ = fit_steepest(obj, maxiter=n_iter, gtol=0.0)
            phi = obj.phi(x)
            if hist is not None:
                hist.extend(("steepest", i, llf) for i, llf in steps)
        out = MixedLMParams.from_sqrt(phi, self.k_re)
        out.fe_params = self.point_sqrt(phi).beta_hat.copy()
        return out


class MixedLMDistribution:
    """The marginal distribution of endog at given parameters; ``rvs`` draws from it."""

    def __init__(self, model, params, scale, exog):
        self.model = model
        self.scale = arguments.real("scale", scale, minimum=0.0, open_interval=True)
        k = model.k_fe + model.layout.n_params
        pa = arguments.float_vector("params", params, length=k)
        po = MixedLMParams.from_packed(pa, model.k_fe, model.k_re, False, True)
        model._theta(po)                         # the covariance must be a valid point
        self.fe_params = po.fe_params
        self.cov_re, self.vcomp = self.scale * po.cov_re, self.scale * po.vcomp
        self.exog = model.exog if exog is None else arguments.float_matrix("exog", exog)
        if self.exog.shape != (model.n_totobs, model.k_fe):
            raise ValueError(f"exog must have shape {(model.n_totobs, model.k_fe)} (one row per "
                             f"observation of the model), got {self.exog.shape}")
        self._Lambda = model.layout.Lambda(po.sqrt()) * np.sqrt(self.scale)

    def rvs(self, n=None):
        """One draw of endog from numpy's global generator; ``n`` is ignored (as statsmodels).

        The draws are taken in statsmodels' order (all groups' correlated random
        effects, then each variance component group by group, then the
        residuals), so a seeded draw is the same vector statsmodels gives.
        """
        d, lay = self.model.design, self.model.layout
        k = lay.k_re
        y = self.exog @ self.fe_params
        if k:
            u = np.random.normal(size=(d.n_groups, k)) @ self._Lambda[:k, :k].T    # b_i ~ N(0, cov_re)
            y = y + np.sum(d.Z[:, :k] * u[d.group_index], axis=1)
        for j in range(lay.k_vc):
            cols = lay.vc_slots(j)
            sd = np.sqrt(self.vcomp[j])
            for g in range(d.n_groups):
                m = int(d.vc_counts[g, j])
                rows = d.group_index == g
                c = np.arange(cols.start, cols.start + m)
                y[rows] += sd * (d.Z[np.ix_(rows, c)] @ np.random.normal(size=m))
        return y + np.sqrt(self.scale) * np.random.normal(size=len(y))
