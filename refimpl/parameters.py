"""The three parameterizations of the covariance parameters, and their Jacobians.

The model has fixed effects beta, a k_re x k_re covariance of the correlated
random effects, k_vc variance components and the residual variance sigma2.
statsmodels names three ways of writing the covariance part (book chapter
"parameterizations"):

user     (eq:param-user)     cov_re,            vcomp,            scale = sigma2
profile  (eq:param-profile)  Psi_re = cov_re/sigma2,  psi_vc = vcomp/sigma2
sqrt     (eq:param-sqrt)     L = chol(Psi_re) (lower), s_vc = sqrt(psi_vc)

Packed vectors list the lower triangle of the k_re x k_re matrix row by row
(statsmodels' ``np.tril_indices`` order) and then the variance components in
the (sorted) order of their names:

    theta = [tril(Psi_re), psi_vc]        the profile vector
    phi   = [tril(L),      s_vc]          the sqrt vector

The profiled log-likelihood is a function of theta alone; beta and sigma2 are
profiled out (eq:gls-beta, eq:profiled-sigma2). Optimizers work on phi, which is
unconstrained: every phi gives a positive semi-definite Psi.
"""

import numbers

import numpy as np

from .linalg import n_tril, psd_cholesky, tril_pack, tril_unpack


# --------------------------------------------------------------------------
# Packing and unpacking, one pair per parameterization
# --------------------------------------------------------------------------

def pack_profile(Psi_re, psi_vc):
    """theta = [tril(Psi_re), psi_vc]  (eq:param-profile)."""
    return np.concatenate([tril_pack(np.asarray(Psi_re, float)),
                           np.asarray(psi_vc, float).ravel()])


def unpack_profile(theta, k_re):
    """(Psi_re, psi_vc) from theta; Psi_re is returned symmetric."""
    theta = np.asarray(theta, float)
    m = n_tril(k_re)
    T = tril_unpack(theta[:m], k_re)
    Psi_re = T + T.T - np.diag(np.diag(T))
    return Psi_re, theta[m:].copy()


def pack_sqrt(L, s_vc):
    """phi = [tril(L), s_vc]  (eq:param-sqrt)."""
    return np.concatenate([tril_pack(np.asarray(L, float)),
                           np.asarray(s_vc, float).ravel()])


def unpack_sqrt(phi, k_re):
    """(L, s_vc) from phi; L is lower triangular."""
    phi = np.asarray(phi, float)
    m = n_tril(k_re)
    return tril_unpack(phi[:m], k_re), phi[m:].copy()


# --------------------------------------------------------------------------
# Conversions
# --------------------------------------------------------------------------

def sqrt_to_profile(phi, k_re):
    """theta from phi: Psi_re = L L', psi_vc = s_vc**2  (eq:lambda)."""
    L, s_vc = unpack_sqrt(phi, k_re)
    return pack_profile(L @ L.T, s_vc ** 2)


def profile_to_sqrt(theta, k_re):
    """phi from theta: the lower Cholesky factor, and square roots.

    A singular (boundary) Psi_re gets a Cholesky factor with zero columns;
    a negative variance component or an indefinite Psi_re is an error.
    """
    Psi_re, psi_vc = unpack_profile(theta, k_re)
    if np.any(psi_vc < 0):
        raise ValueError(f"variance components must be >= 0, got {psi_vc}")
    return pack_sqrt(psd_cholesky(Psi_re), np.sqrt(psi_vc))


def user_to_profile(cov_re, vcomp, scale):
    """theta from the user parameterization: divide by sigma2  (eq:param-profile)."""
    if not scale > 0:
        raise ValueError(f"scale (sigma2) must be positive, got {scale}")
    return pack_profile(np.asarray(cov_re, float) / scale,
                        np.asarray(vcomp, float) / scale)


def profile_to_user(theta, k_re, scale):
    """(cov_re, vcomp) from theta and sigma2: multiply by sigma2."""
    Psi_re, psi_vc = unpack_profile(theta, k_re)
    return Psi_re * scale, psi_vc * scale


# --------------------------------------------------------------------------
# Jacobians
# --------------------------------------------------------------------------

def jacobian_sqrt_to_profile(phi, k_re):
    """J = d theta / d phi, shape (len(theta), len(phi))  (eq:jac-sqrt).

    With Psi = L L', a change dL gives dPsi = dL L' + L dL'. Entry (a, b) of
    the lower triangle of L moves Psi by e_a (L e_b)' + (L e_b) e_a'. A
    variance component s moves psi = s**2 by 2 s.
    """
    L, s_vc = unpack_sqrt(phi, k_re)
    rows, cols = np.tril_indices(k_re)
    m = len(rows)
    J = np.zeros((m + len(s_vc), m + len(s_vc)))
    for j, (a, b) in enumerate(zip(rows, cols)):
        dL = np.zeros((k_re, k_re))
        dL[a, b] = 1.0
        dPsi = dL @ L.T + L @ dL.T
        J[:m, j] = dPsi[rows, cols]
    J[m:, m:] = np.diag(2.0 * s_vc)
    return J


def hessian_sqrt_to_profile(phi, k_re):
    """Second derivatives d2 theta_k / d phi_i d phi_j, shape (K, K, K).

    Psi = L L' is quadratic in L, so d2 Psi / dL_i dL_j = dL_i dL_j' + dL_j dL_i'
    whatever L is; psi = s**2 has second derivative 2. Used by the chain rule
    for the Hessian in the sqrt parameterization (eq:hess-sqrt).
    """
    _, s_vc = unpack_sqrt(phi, k_re)
    rows, cols = np.tril_indices(k_re)
    m = len(rows)
    K = m + len(s_vc)
    D2 = np.zeros((K, K, K))
    units = []
    for a, b in zip(rows, cols):
        dL = np.zeros((k_re, k_re))
        dL[a, b] = 1.0
        units.append(dL)
    for i in range(m):
        for j in range(m):
            d2Psi = units[i] @ units[j].T + units[j] @ units[i].T
            D2[:m, i, j] = d2Psi[rows, cols]
    for v in range(len(s_vc)):
        D2[m + v, m + v, m + v] = 2.0
    return D2


def jacobian_profile_to_user(theta, scale):
    """d (cov_re, vcomp) / d (theta, sigma2): shape (K, K + 1).

    cov = sigma2 * theta, so the block for theta is sigma2 * I and the column
    for sigma2 is theta itself.
    """
    theta = np.asarray(theta, float)
    K = len(theta)
    return np.hstack([scale * np.eye(K), theta[:, None]])


# --------------------------------------------------------------------------
# The parameter object
# --------------------------------------------------------------------------

class MixedLMParams:
    """One point of parameter space: statsmodels' ``MixedLMParams``, same names and meanings.

    ``fe_params`` (beta), ``cov_re`` (= Psi_re, the *profile* covariance of the
    correlated random effects, i.e. the user's cov_re / scale) and ``vcomp``
    (= psi_vc, profile variance components): statsmodels' parameter state in
    which sigma2 has been profiled out. ``Psi_re`` and ``psi_vc`` are the
    book's names for the same two arrays.

    Two ways to build one:

    * statsmodels': ``MixedLMParams(k_fe, k_re, k_vc)`` and then assign
      ``fe_params``, ``cov_re``, ``vcomp``; or ``from_components``,
      ``from_packed`` (statsmodels' packing, with or without fe_params, in the
      profile or the sqrt parameterization);
    * refimpl's: ``MixedLMParams(Psi_re, psi_vc, fe_params=None, scale=None)``
      and ``from_profile``, ``from_sqrt``, ``from_user``. ``scale`` (sigma2), when
      known, is an extension: it gives the user-scale ``cov_re_user`` and ``vcomp_user``.
    """

    def __init__(self, k_fe, k_re, k_vc=None, fe_params=None, scale=None):
        self.scale = None if scale is None else float(scale)
        self._fe = self._cov = self._vc = None
        if _is_count(k_fe) and _is_count(k_re) and (k_vc is None or _is_count(k_vc)):
            # statsmodels' form: dimensions now, values assigned afterwards
            self.k_fe, self.k_re = int(k_fe), int(k_re)
            self.k_vc = 0 if k_vc is None else int(k_vc)
            if fe_params is not None:
                self.fe_params = fe_params
            return
        # refimpl's form: MixedLMParams(Psi_re, psi_vc, fe_params=None, scale=None)
        if k_vc is not None:
            raise TypeError("MixedLMParams takes (k_fe, k_re, k_vc) as integers, or "
                            "(Psi_re, psi_vc, fe_params=None, scale=None) as arrays; "
                            f"got {k_fe!r}, {k_re!r}, {k_vc!r}")
        self.cov_re = k_fe
        self.vcomp = k_re
        self.k_vc = len(self.vcomp)
        self.fe_params = fe_params
        self.k_fe = 0 if self._fe is None else len(self._fe)

    # --- the three components (statsmodels' attribute names) -------------
    @property
    def fe_params(self):
        return self._fe

    @fe_params.setter
    def fe_params(self, value):
        self._fe = None if value is None else np.atleast_1d(np.array(value, dtype=float))
        if self._fe is not None:
            self.k_fe = len(self._fe)

    @property
    def cov_re(self):
        """Psi_re: the random-effects covariance in profile units (statsmodels' meaning)."""
        return self._cov

    @cov_re.setter
    def cov_re(self, value):
        cov = np.atleast_2d(np.array(value, dtype=float))
        if cov.size == 0:
            cov = np.zeros((0, 0))
        if cov.ndim != 2 or cov.shape[0] != cov.shape[1]:
            raise ValueError(f"cov_re (Psi_re) must be a square matrix, got shape {cov.shape}")
        self._cov = cov
        self.k_re = cov.shape[0]

    @property
    def vcomp(self):
        """psi_vc: the variance components in profile units (statsmodels' meaning)."""
        return self._vc

    @vcomp.setter
    def vcomp(self, value):
        self._vc = np.atleast_1d(np.array(value, dtype=float)).ravel()
        self.k_vc = len(self._vc)

    Psi_re = cov_re
    psi_vc = vcomp

    @property
    def k_re2(self):
        return n_tril(self.k_re)

    @property
    def k_tot(self):
        return self.k_fe + self.k_re2 + self.k_vc

    @property
    def _ix(self):
        return np.tril_indices(self.k_re)

    # --- statsmodels' constructors and packing ---------------------------
    @staticmethod
    def from_packed(params, k_fe, k_re, use_sqrt, has_fe):
        """statsmodels' packing: [fe_params,] tril(cov_re or its Cholesky factor), vcomp or its sqrt."""
        params = np.asarray(params, dtype=float).ravel()
        m = n_tril(k_re)
        start = k_fe if has_fe else 0
        k_vc = len(params) - start - m
        if k_vc < 0:
            raise ValueError(f"a packed parameter vector for k_fe={k_fe}, k_re={k_re}, "
                             f"has_fe={has_fe} needs at least {start + m} entries, got {len(params)}")
        fe = params[:k_fe].copy() if has_fe else np.zeros(k_fe)
        cov = params[start:]
        theta = sqrt_to_profile(cov, k_re) if use_sqrt else cov
        Psi_re, psi_vc = unpack_profile(theta, k_re)
        return MixedLMParams(Psi_re, psi_vc, fe_params=fe)

    @staticmethod
    def from_components(fe_params=None, cov_re=None, cov_re_sqrt=None, vcomp=None):
        """statsmodels' ``from_components``: cov_re wins over cov_re_sqrt when both are given."""
        fe = np.empty(0) if fe_params is None else fe_params
        if cov_re is None:
            cov_re = np.empty((0, 0)) if cov_re_sqrt is None else \
                np.asarray(cov_re_sqrt, float) @ np.asarray(cov_re_sqrt, float).T
        return MixedLMParams(cov_re, np.empty(0) if vcomp is None else vcomp, fe_params=fe)

    def copy(self):
        out = MixedLMParams(self.k_fe, self.k_re, self.k_vc, scale=self.scale)
        out._fe = None if self._fe is None else self._fe.copy()
        out._cov = None if self._cov is None else self._cov.copy()
        out._vc = None if self._vc is None else self._vc.copy()
        return out

    def get_packed(self, use_sqrt, has_fe=False):
        """statsmodels' ``get_packed``: [fe_params,] tril(cov_re) or tril(L), vcomp or sqrt(vcomp)."""
        self._need_values()
        cov = self.sqrt() if use_sqrt else self.profile()
        if not has_fe:
            return cov
        fe = np.zeros(self.k_fe) if self._fe is None else self._fe
        return np.concatenate([fe, cov])

    # --- refimpl's views and constructors ---------------------------------
    def profile(self):
        """theta, the packed profile vector."""
        self._need_values()
        return pack_profile(self._cov, self._vc)

    def sqrt(self):
        """phi, the packed sqrt vector."""
        return profile_to_sqrt(self.profile(), self.k_re)

    @classmethod
    def from_profile(cls, theta, k_re, fe_params=None, scale=None):
        Psi_re, psi_vc = unpack_profile(theta, k_re)
        return cls(Psi_re, psi_vc, fe_params=fe_params, scale=scale)

    @classmethod
    def from_sqrt(cls, phi, k_re, fe_params=None, scale=None):
        return cls.from_profile(sqrt_to_profile(phi, k_re), k_re, fe_params, scale)

    @classmethod
    def from_user(cls, fe_params, cov_re, vcomp, scale):
        cov_re = np.atleast_2d(np.asarray(cov_re, float))
        if cov_re.size == 0:
            cov_re = np.zeros((0, 0))
        theta = user_to_profile(cov_re, np.atleast_1d(np.asarray(vcomp, float)), scale)
        return cls.from_profile(theta, cov_re.shape[0], fe_params, scale)

    @property
    def cov_re_user(self):
        """sigma2 Psi_re: the user-scale covariance (needs ``scale``)."""
        self._need_scale()
        return self._cov * self.scale

    @property
    def vcomp_user(self):
        """sigma2 psi_vc: the user-scale variance components (needs ``scale``)."""
        self._need_scale()
        return self._vc * self.scale

    def _need_values(self):
        if self._cov is None or self._vc is None:
            missing = [n for n, v in (("cov_re", self._cov), ("vcomp", self._vc)) if v is None]
            raise ValueError(f"this MixedLMParams has no {' or '.join(missing)} yet: assign "
                             "them (statsmodels' MixedLMParams(k_fe, k_re, k_vc) starts empty)")

    def _need_scale(self):
        if self.scale is None:
            raise ValueError("this MixedLMParams has no scale (sigma2); "
                             "build it with from_user or pass scale=...")

    def __repr__(self):
        return (f"MixedLMParams(fe_params={self._fe}, cov_re={None if self._cov is None else self._cov.tolist()}, "
                f"vcomp={self._vc})")


def _is_count(x):
    return isinstance(x, numbers.Integral) and not isinstance(x, (bool, np.bool_))
