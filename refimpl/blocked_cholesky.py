"""The blocked Cholesky factor of C = I + Lambda' Z'Z Lambda for a crossed design.

Book chapter "Nested and crossed designs": (eq:crossed-blocks), (eq:crossed-chol),
(eq:crossed-logdet), (eq:crossed-solve); there D = C11, B = C21, S = L22 L22'.

In block order (blocked_stats.py) Lambda = blockdiag(s1 I, Lambda2), with s1
the sqrt parameter of block 1's factor and Lambda2 = blockdiag(L, s_j I, ...)
for block 2, so

    C = [[C11, C21'], [C21, C22]],  C11 = I + s1^2 diag(d1)       (diagonal)
                                    C21 = s1 Lambda2' A21          (sparse)
                                    C22 = I + Lambda2' A22 Lambda2 (dense)

and C = L L' with (MixedModels.jl's blocked factor, written out)

    L11 = diag(l11),  l11 = sqrt(1 + s1^2 d1)
    L21 = C21 L11^{-T}                                   sparse, column-scaled C21
    L22 L22' = C22 - L21 L21' = I + Lambda2' A22s Lambda2     the Schur complement, dense q2 x q2
               A22s = A22 - s1^2 A21 C11^{-1} A12       (a weighted co-occurrence sum)

The only dense factorisation is of order q2 (the columns outside the largest
factor). log|C| = 2 sum log l11 + 2 sum log diag L22  (eq:det-lemma).
Twin: np.linalg.cholesky of the assembled q x q C (tests/test_blocked.py).
"""

from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from .blocked_stats import as_dense
from .parameters import unpack_sqrt


@dataclass
class Lambda2:
    """Block 2's factor blockdiag(L, s_vc[0] I, ...) as (L, the diagonal of the rest)."""

    L: np.ndarray        # (k_re, k_re) lower triangular
    s: np.ndarray        # (q2 - k_re,) one entry per column of the other components

    @classmethod
    def from_phi(cls, stats, phi):
        L, s_vc = unpack_sqrt(np.asarray(phi, float)[stats.params2], stats.layout2.k_re)
        return cls(L, np.repeat(s_vc, stats.layout2.vc_sizes))

    @property
    def k(self):
        return self.L.shape[0]

    def t_times(self, M):
        """Lambda2' M for M with q2 rows (1-d or 2-d)."""
        out = np.array(M, dtype=float)
        k = self.k
        out[:k] = self.L.T @ out[:k]
        out[k:] = (self.s.reshape((-1,) + (1,) * (out.ndim - 1))) * out[k:]
        return out

    def times(self, M):
        """Lambda2 M."""
        out = np.array(M, dtype=float)
        k = self.k
        out[:k] = self.L @ out[:k]
        out[k:] = (self.s.reshape((-1,) + (1,) * (out.ndim - 1))) * out[k:]
        return out

    def dense(self):
        q2 = self.k + len(self.s)
        out = np.zeros((q2, q2))
        out[:self.k, :self.k] = self.L
        out[self.k:, self.k:] = np.diag(self.s)
        return out


@dataclass
class BlockedFactor:
    """L = [[diag(l11), 0], [L21, L22]] with C = L L' (module docstring), and Lambda."""

    s1: float
    Lam2: Lambda2
    c11: np.ndarray      # diag(C11) = l11^2, (m1,)
    l11: np.ndarray      # (m1,)
    L21: object          # (q2, m1), sparse like A21 (or dense)
    L22: np.ndarray      # (q2, q2) lower triangular
    A22s: np.ndarray     # A22 - s1^2 A21 C11^{-1} A12, (q2, q2): the Schur complement is I + Lambda2' A22s Lambda2

    @property
    def logdet(self):
        """log|C| = log|V|  (eq:det-lemma)."""
        return 2.0 * np.sum(np.log(self.l11)) + 2.0 * np.sum(np.log(np.diag(self.L22)))

    def forward(self, R1, R2):
        """L^{-1} [R1; R2] as (X1, X2): X1 = R1 / l11, X2 = L22^{-1} (R2 - L21 X1)."""
        X1 = R1 / (self.l11 if R1.ndim == 1 else self.l11[:, None])
        X2 = sla.solve_triangular(self.L22, R2 - self.L21 @ X1, lower=True, check_finite=False)
        return X1, X2

    def backward(self, X1, X2):
        """L^{-T} [X1; X2] as (Y1, Y2): Y2 = L22^{-T} X2, Y1 = (X1 - L21' Y2) / l11."""
        Y2 = sla.solve_triangular(self.L22, X2, lower=True, trans="T", check_finite=False)
        Y1 = (X1 - self.L21.T @ Y2) / (self.l11 if X1.ndim == 1 else self.l11[:, None])
        return Y1, Y2

    def solve(self, R1, R2):
        """C^{-1} [R1; R2]."""
        return self.backward(*self.forward(R1, R2))

    def Lambda_t(self, v1, v2):
        """Lambda' [v1; v2] in block order."""
        return self.s1 * np.asarray(v1, float), self.Lam2.t_times(v2)

    def Lambda(self, v1, v2):
        """Lambda [v1; v2] in block order."""
        return self.s1 * np.asarray(v1, float), self.Lam2.times(v2)


def Lambda2t_A21_scaled(stats, Lam2, col_scale):
    """Lambda2' A21 diag(col_scale), sparse (Lambda2' mixes only the k_re rows, which are dense anyway)."""
    k = Lam2.k
    if not k:
        return stats.A21_scaled(Lam2.s, col_scale)
    scaled = stats.A21_scaled(np.ones(stats.q2), col_scale)
    if isinstance(scaled, np.ndarray):
        return Lam2.t_times(scaled)
    top = sp.csr_array(Lam2.L.T @ scaled[:k].toarray())
    rest = sp.diags_array(Lam2.s) @ scaled[k:]
    return sp.vstack([top, rest], format="csr")


def blocked_cholesky(stats, phi):
    """The factor of the module docstring at sqrt parameters phi.

    Raises np.linalg.LinAlgError if the Schur complement is not positive
    definite (it is, in exact arithmetic, for every phi).
    """
    phi = np.asarray(phi, float)
    s1 = float(phi[stats.param1])
    Lam2 = Lambda2.from_phi(stats, phi)
    c11 = 1.0 + s1 * s1 * stats.d1
    l11 = np.sqrt(c11)
    L21 = Lambda2t_A21_scaled(stats, Lam2, s1 / l11)           # C21 L11^{-T} = s1 Lambda2' A21 / l11
    # Schur complement C22 - L21 L21' = I + Lambda2' A22s Lambda2 with
    # A22s = A22 - s1^2 A21 C11^{-1} A12  (eq:crossed-chol)
    A22s = stats.A22 - (s1 * s1) * stats.A21_weighted_A12(1.0 / c11)
    schur = Lam2.t_times(Lam2.t_times(A22s).T)                   # A22s symmetric
    schur = 0.5 * (schur + schur.T)
    schur[np.diag_indices_from(schur)] += 1.0
    L22 = np.linalg.cholesky(schur)
    return BlockedFactor(s1=s1, Lam2=Lam2, c11=c11, l11=l11, L21=L21, L22=L22, A22s=A22s)


def dense_C(stats, phi):
    """Twin: the assembled q x q C in block order (small designs only)."""
    phi = np.asarray(phi, float)
    s1 = phi[stats.param1]
    Lam = np.zeros((stats.q, stats.q))
    m1 = stats.m1
    Lam[:m1, :m1] = s1 * np.eye(m1)
    Lam[m1:, m1:] = Lambda2.from_phi(stats, phi).dense()
    A = dense_A(stats)
    return np.eye(stats.q) + Lam.T @ A @ Lam, Lam


def dense_A(stats):
    """Twin: the assembled q x q Z'Z in block order (small designs only)."""
    m1 = stats.m1
    A = np.zeros((stats.q, stats.q))
    A[:m1, :m1] = np.diag(stats.d1)
    A[m1:, :m1] = as_dense(stats.A21)
    A[:m1, m1:] = as_dense(stats.A21).T
    A[m1:, m1:] = stats.A22
    return A
