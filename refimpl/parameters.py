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

from dataclasses import dataclass

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

@dataclass
class MixedLMParams:
    """One point of parameter space, viewable in each parameterization.

    Stored in the profile parameterization (Psi_re, psi_vc) plus, when known,
    the fixed effects and sigma2 that make up the user parameterization.
    """

    Psi_re: np.ndarray
    psi_vc: np.ndarray
    fe_params: np.ndarray = None
    scale: float = None

    def __post_init__(self):
        self.Psi_re = np.atleast_2d(np.asarray(self.Psi_re, float))
        if self.Psi_re.size == 0:
            self.Psi_re = np.zeros((0, 0))
        self.psi_vc = np.atleast_1d(np.asarray(self.psi_vc, float))
        if self.Psi_re.shape[0] != self.Psi_re.shape[1]:
            raise ValueError(f"Psi_re must be square, got shape {self.Psi_re.shape}")
        if self.fe_params is not None:
            self.fe_params = np.asarray(self.fe_params, float)

    @property
    def k_re(self):
        return self.Psi_re.shape[0]

    @property
    def k_vc(self):
        return len(self.psi_vc)

    # constructors, one per parameterization
    @classmethod
    def from_profile(cls, theta, k_re, fe_params=None, scale=None):
        Psi_re, psi_vc = unpack_profile(theta, k_re)
        return cls(Psi_re, psi_vc, fe_params, scale)

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

    # views
    def profile(self):
        """theta, the packed profile vector."""
        return pack_profile(self.Psi_re, self.psi_vc)

    def sqrt(self):
        """phi, the packed sqrt vector."""
        return profile_to_sqrt(self.profile(), self.k_re)

    @property
    def cov_re(self):
        """User-scale covariance of the correlated random effects."""
        self._need_scale()
        return self.Psi_re * self.scale

    @property
    def vcomp(self):
        """User-scale variance components."""
        self._need_scale()
        return self.psi_vc * self.scale

    def _need_scale(self):
        if self.scale is None:
            raise ValueError("this MixedLMParams has no scale (sigma2); "
                             "build it with from_user or pass scale=...")
