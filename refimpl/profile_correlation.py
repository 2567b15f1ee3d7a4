"""A q x q covariance with one correlation held fixed, in unconstrained coordinates.

Profiling the correlation rho_ab = Psi_ab / sqrt(Psi_aa Psi_bb) of the random
effects (profile_ci.py) needs max l over every Psi with rho_ab = v, Psi
positive definite. This module writes that set as the image of an
unconstrained vector x, so the constrained refit is an unconstrained smooth
maximisation with no penalty and no bounds (chapter "Intervals and tests"):

    Psi = D R D,   D = diag(exp(x_d)),   R = P' L L' P                  (eq:cor-fixed-chol)

P is the permutation that moves a and b to positions 0 and 1 (then the other
random effects in their order), and L is lower triangular with unit rows,

    l_0 = e_0,   l_1 = (v, sqrt(1 - v^2), 0, ...),
    l_i = (w_i, 1, 0, ...) / sqrt(1 + |w_i|^2),   w_i in R^i,   i = 2, ..., q-1.

Then (P R P')_00 = 1 and (P R P')_01 = l_0'l_1 = v, so rho_ab = v; every
diagonal entry of R is |l_i|^2 = 1; and L has a positive diagonal, so R is
positive definite. Conversely every positive definite correlation matrix with
R_ab = v has a unique Cholesky factor with positive diagonal and unit rows, whose
rows 0 and 1 are those above, and whose row i >= 2 divided by its (positive)
diagonal gives w_i. So x = (x_d, w_2, ..., w_{q-1}, s_vc) runs over R^{K-1}
and reaches each admissible (Psi, psi_vc = s_vc^2) once (up to the sign of
s_vc): q + q(q-1)/2 - 1 + k_vc = K - 1 coordinates, one fewer than theta.

Its Jacobian: Psi_ij = d_i d_j R_ij, so d Psi_ij / d x_d[k] = Psi_ij (delta_ik
+ delta_jk); with n_i = sqrt(1 + |w_i|^2) and Rt = P R P' = L L',

    d l_i / d w_i[m] = (e_m - l_i l_i[m]) / n_i,
    d Rt_ic / d w_i[m] = (L_cm - Rt_ic L_im) / n_i   (c != i; 0 for c = i),   (eq:cor-fixed-jacobian)

and d Psi_ij = d_i d_j d R_ij. For q = 2 there is no w, and x = (log d_0,
log d_1, s_vc): Psi = D R(v) D, the 2 x 2 parameterization used before.
"""

import numpy as np

from .linalg import n_tril, tril_pack
from .parameters import pack_profile, unpack_profile


class CorrelationFixed:
    """x <-> theta for Psi_re with rho_ab = value (eq:cor-fixed-chol); a != b."""

    def __init__(self, k_re, a, b, value):
        if a == b or not (0 <= a < k_re and 0 <= b < k_re):
            raise ValueError(f"a correlation needs two different random effects in "
                             f"0..{k_re - 1}; got a={a!r}, b={b!r}")
        if not -1.0 < value < 1.0:
            raise ValueError(f"a correlation held fixed must lie in (-1, 1); got value={value!r}")
        self.k_re, self.value = k_re, float(value)
        self.order = [a, b] + [i for i in range(k_re) if i not in (a, b)]   # P: row r of Rt is order[r]
        self.n_w = n_tril(k_re) - k_re - 1                                   # sum_{i>=2} i

    # --- the rows of L -----------------------------------------------------
    def _L(self, w):
        q, v = self.k_re, self.value
        L = np.zeros((q, q))
        norms = np.ones(q)
        L[0, 0] = 1.0
        L[1, 0], L[1, 1] = v, np.sqrt(1.0 - v * v)
        pos = 0
        for i in range(2, q):
            u = np.append(w[pos:pos + i], 1.0)
            norms[i] = np.sqrt(u @ u)
            L[i, :i + 1] = u / norms[i]
            pos += i
        return L, norms

    def _split(self, x):
        q = self.k_re
        return x[:q], x[q:q + self.n_w], x[q + self.n_w:]

    def _unpermute(self, Rt):
        R = np.empty_like(Rt)
        o = self.order
        R[np.ix_(o, o)] = Rt
        return R

    # --- the map and its Jacobian -----------------------------------------
    def theta(self, x):
        """theta = [tril(D R D), s_vc^2]   (eq:cor-fixed-chol)."""
        x = np.asarray(x, float)
        x_d, w, s_vc = self._split(x)
        L, _ = self._L(w)
        d = np.exp(x_d)
        R = self._unpermute(L @ L.T)
        return pack_profile(d[:, None] * R * d[None, :], s_vc ** 2)

    def jacobian(self, x):
        """d theta / d x, K x (K - 1)   (eq:cor-fixed-jacobian)."""
        x = np.asarray(x, float)
        q = self.k_re
        x_d, w, s_vc = self._split(x)
        L, norms = self._L(w)
        Rt = L @ L.T
        d = np.exp(x_d)
        Psi = d[:, None] * self._unpermute(Rt) * d[None, :]
        m = n_tril(q)
        K = m + len(s_vc)
        J = np.zeros((K, K - 1))
        for k in range(q):                                 # the scales d_k
            E = np.zeros((q, q))
            E[k, :] += Psi[k, :]
            E[:, k] += Psi[:, k]
            J[:m, k] = tril_pack(E)
        col = q
        for i in range(2, q):                              # the free rows w_i of L
            for mm in range(i):
                dRt = np.zeros((q, q))
                dRt[i, :] = (L[:, mm] - Rt[i, :] * L[i, mm]) / norms[i]
                dRt[i, i] = 0.0
                dRt[:, i] = dRt[i, :]
                J[:m, col] = tril_pack(d[:, None] * self._unpermute(dRt) * d[None, :])
                col += 1
        J[m:, col:] = np.diag(2.0 * s_vc)
        return J

    def from_theta(self, theta):
        """An x whose theta keeps D and the correlations of a with the others (a start point).

        Rows i >= 2 of the Cholesky factor of the permuted correlation matrix,
        divided by their diagonal, are the w_i; rho_ab itself is replaced by v.
        """
        q = self.k_re
        Psi_re, psi_vc = unpack_profile(theta, q)
        d = np.sqrt(np.diag(Psi_re))
        R = Psi_re / np.outer(d, d)
        o = self.order
        Lhat = np.linalg.cholesky(R[np.ix_(o, o)])
        w = np.concatenate([Lhat[i, :i] / Lhat[i, i] for i in range(2, q)] + [np.zeros(0)])
        return np.concatenate([np.log(d), w, np.sqrt(psi_vc)])
