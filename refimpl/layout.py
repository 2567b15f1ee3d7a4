"""How the q random-effect columns of a group are laid out, and Psi / Lambda.

Each group's random-effects design Z_i has q columns (book: eq:psi, eq:vc-padding):

    [ k_re correlated columns | m_1 slots of component 1 | m_2 slots of ... ]

Variance component j may have a different number of columns in different
groups (Pastes: the casks present in a batch). We *pad*: every group gets
m_j = the largest count over groups, and a group with fewer columns gets zero
columns in the remaining slots. A zero column of Z_i adds an identity row and
column to C_i = I + Lambda' Z_i'Z_i Lambda and nothing else, so padding changes
no likelihood, score or Hessian value (eq:vc-padding; tests/test_padding.py).

With that layout Psi (the profile covariance of b_i, in units of sigma2) is
the same q x q matrix for every group:

    Psi = blockdiag(Psi_re, psi_vc[0] I_{m_1}, psi_vc[1] I_{m_2}, ...)   (eq:psi)
    Lambda = blockdiag(L, s_vc[0] I_{m_1}, ...),  Psi = Lambda Lambda'    (eq:lambda)
"""

from dataclasses import dataclass

import numpy as np

from .linalg import n_tril
from .parameters import unpack_profile, unpack_sqrt


@dataclass(frozen=True)
class Layout:
    """k_re correlated columns, then vc_sizes[j] slots per variance component."""

    k_re: int
    vc_sizes: tuple = ()

    @property
    def k_vc(self):
        return len(self.vc_sizes)

    @property
    def q(self):
        """Columns of each (padded) Z_i."""
        return self.k_re + sum(self.vc_sizes)

    @property
    def n_params(self):
        """Length of theta (and of phi): covariance parameters."""
        return n_tril(self.k_re) + self.k_vc

    def vc_slots(self, j):
        """Column slice of variance component j inside Z_i."""
        start = self.k_re + sum(self.vc_sizes[:j])
        return slice(start, start + self.vc_sizes[j])

    def _blockdiag(self, re_block, vc_values):
        M = np.zeros((self.q, self.q))
        M[:self.k_re, :self.k_re] = re_block
        for j, v in enumerate(vc_values):
            s = self.vc_slots(j)
            M[s, s] = v * np.eye(self.vc_sizes[j])
        return M

    def Psi(self, theta):
        """The q x q profile covariance of b_i from theta  (eq:psi)."""
        Psi_re, psi_vc = unpack_profile(theta, self.k_re)
        return self._blockdiag(Psi_re, psi_vc)

    def Lambda(self, phi):
        """The q x q lower-triangular factor of Psi from phi  (eq:lambda)."""
        L, s_vc = unpack_sqrt(phi, self.k_re)
        return self._blockdiag(L, s_vc)

    def dPsi_dtheta(self):
        """The basis E_k = d Psi / d theta_k, shape (n_params, q, q).

        An off-diagonal entry (a, b) of Psi_re appears twice in the symmetric
        Psi, so its E_k has ones at (a, b) and (b, a). A variance component's
        E_k is the identity on its slots. Psi is linear in theta, so
        Psi = sum_k theta_k E_k exactly.
        """
        E = np.zeros((self.n_params, self.q, self.q))
        rows, cols = np.tril_indices(self.k_re)
        for k, (a, b) in enumerate(zip(rows, cols)):
            E[k, a, b] = E[k, b, a] = 1.0
        m = len(rows)
        for j in range(self.k_vc):
            s = self.vc_slots(j)
            E[m + j, s, s] = np.eye(self.vc_sizes[j])
        return E
