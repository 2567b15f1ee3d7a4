"""The profiled ML/REML log-likelihood in arbitrary precision (mpmath).

Written from the model, not from refimpl's code.  Parameterization (book
chapter "Certified values", (eq:cert-phi)): the sqrt vector

    phi = [L[0,0], L[1,0], L[1,1], L[2,0], ...  (tril of L, row by row),  s_1, ..., s_kvc]

with Psi_re = L L' and psi_vc = s**2 (profile units: divided by sigma2).
Group i has ``V_i = I + Z_i Psi_i Z_i'`` (so cov(y_i) = sigma2 V_i), Psi_i the
block-diagonal matrix holding Psi_re on the correlated columns and psi_vc on
each variance-component column.

The evaluator never forms V_i.  Two identities for a q x q matrix
``A_i = Z_i'Z_i`` (no Cholesky factor of Psi, no inverse of Psi: both hold
for singular Psi, so the boundary is covered):

    V_i^{-1} = I - Z_i (I + Psi_i A_i)^{-1} Psi_i Z_i'        (push-through)   (eq:cert-push)
    |V_i|    = |I + Psi_i A_i|                                 (Sylvester)

give ``S = [X y]' V^{-1} [X y] = T - sum_i B_i' (I + Psi_i A_i)^{-1} Psi_i B_i``
with ``T = [X y]'[X y]`` and ``B_i = Z_i'[X_i y_i]`` (exact products of the
double-precision data, formed once per working precision).  From S:
``W = X'V^{-1}X``, ``beta_hat = W^{-1} X'V^{-1}y``, ``qf = y'V^{-1}y - beta_hat' X'V^{-1}y``
and (eq:profiled-ml), (eq:profiled-reml) of the book.

:func:`dense_terms` is the twin that forms every V_i and factors it
(Cholesky): slow, used by tests to hold the identities to 1e-40.
"""

from __future__ import annotations

import dataclasses

from mpmath import mp

from .mp_linalg import cholesky, chol_solve, inverse_spd, lu_solve, matmul, transpose, zeros
from .spec import ModelSpec

__all__ = ["MpModel", "Terms", "unpack_phi"]


def unpack_phi(phi, k_re: int, k_vc: int):
    """(L as a k_re x k_re list, s_vc list) from phi (eq:cert-phi)."""
    phi = list(phi)
    L = zeros(k_re, k_re)
    pos = 0
    for i in range(k_re):
        for j in range(i + 1):
            L[i][j] = mp.mpf(phi[pos])
            pos += 1
    return L, [mp.mpf(s) for s in phi[pos:pos + k_vc]]


@dataclasses.dataclass
class Terms:
    """What the likelihood needs at one Psi: log|V|, S = [X y]'V^{-1}[X y]."""

    logdetV: object
    S: list[list]


class MpModel:
    """The likelihood of one :class:`~certified.spec.ModelSpec` at mpmath precision."""

    def __init__(self, spec: ModelSpec):
        self.spec = spec
        self._prec = None

    # -- data products, formed once per working precision -------------------
    def _products(self):
        if self._prec == mp.prec:
            return
        self._prec = mp.prec
        p = self.spec.p
        self.A, self.B = [], []
        T = zeros(p + 1, p + 1)
        for g in self.spec.groups:
            Z = [[mp.mpf(v) for v in row] for row in g.Z]
            Xy = [[mp.mpf(v) for v in row] + [mp.mpf(yv)] for row, yv in zip(g.X, g.y)]
            Zt = transpose(Z)
            self.A.append(matmul(Zt, Z))
            self.B.append(matmul(Zt, Xy))
            G = matmul(transpose(Xy), Xy)
            for a in range(p + 1):
                for b in range(p + 1):
                    T[a][b] += G[a][b]
        self.T = T

    def Psi_group(self, g, L, s):
        """Psi_i for group g: Psi_re on 're' slots, psi_vc on 'vc' slots (block diagonal)."""
        slot = self.spec.groups[g].slot
        k = len(L)
        Psi_re = [[mp.fdot(L[i][:k], L[j][:k]) for j in range(k)] for i in range(k)]
        q = len(slot)
        P = zeros(q, q)
        for a, (ka, ia) in enumerate(slot):
            for b, (kb, ib) in enumerate(slot):
                if ka == kb == "re":
                    P[a][b] = Psi_re[ia][ib]
                elif a == b:
                    P[a][b] = s[ia] ** 2
        return P

    # -- the two evaluators ----------------------------------------------------
    def terms(self, phi) -> Terms:
        """log|V| and S by the push-through and Sylvester identities (eq:cert-push)."""
        self._products()
        spec = self.spec
        L, s = unpack_phi(phi, spec.k_re, spec.k_vc)
        S = [list(r) for r in self.T]
        logdet = mp.zero
        for g in range(len(spec.groups)):
            P = self.Psi_group(g, L, s)
            A, B = self.A[g], self.B[g]
            q = len(P)
            if q == 0:
                continue
            PA = matmul(P, A)
            for i in range(q):
                PA[i][i] += 1
            K, ld, sign = lu_solve(PA, matmul(P, B))     # (I + Psi A)^{-1} Psi B
            if sign <= 0:
                raise ValueError("I + Psi_i A_i has a non-positive determinant: "
                                 "Psi is not positive semi-definite")
            logdet += ld
            BtK = matmul(transpose(B), K)
            for a in range(len(S)):
                for b in range(len(S)):
                    S[a][b] -= BtK[a][b]
        return Terms(logdet, S)

    def dense_terms(self, phi) -> Terms:
        """The twin of :meth:`terms`: form V_i = I + Z_i Psi_i Z_i', factor it, solve."""
        spec = self.spec
        L, s = unpack_phi(phi, spec.k_re, spec.k_vc)
        p = spec.p
        S = zeros(p + 1, p + 1)
        logdet = mp.zero
        for gi, g in enumerate(spec.groups):
            Z = [[mp.mpf(v) for v in row] for row in g.Z]
            Xy = [[mp.mpf(v) for v in row] + [mp.mpf(yv)] for row, yv in zip(g.X, g.y)]
            V = matmul(matmul(Z, self.Psi_group(gi, L, s)), transpose(Z)) if Z[0] else \
                zeros(len(Z), len(Z))
            for i in range(len(V)):
                V[i][i] += 1
            R = cholesky(V)
            logdet += 2 * mp.fsum(mp.log(R[i][i]) for i in range(len(R)))
            G = matmul(transpose(Xy), chol_solve(R, Xy))
            for a in range(p + 1):
                for b in range(p + 1):
                    S[a][b] += G[a][b]
        return Terms(logdet, S)

    # -- the log-likelihoods ---------------------------------------------------
    def n_eff(self) -> int:
        """m = n (ML) or n - p (REML)."""
        return self.spec.n - (self.spec.p if self.spec.reml else 0)

    def _split(self, S):
        p = self.spec.p
        W = [row[:p] for row in S[:p]]
        w = [row[p] for row in S[:p]]
        return W, w, S[p][p]

    def profiled_loglike(self, phi, dense: bool = False):
        """l_p(phi): beta and sigma2 profiled out, (eq:profiled-ml) / (eq:profiled-reml)."""
        t = self.dense_terms(phi) if dense else self.terms(phi)
        W, w, syy = self._split(t.S)
        R = cholesky(W)
        beta = [r[0] for r in chol_solve(R, [[v] for v in w])]
        qf = syy - mp.fdot(w, beta)
        m = self.n_eff()
        out = -t.logdetV / 2 - m * mp.log(qf) / 2 - m * (1 + mp.log(2 * mp.pi / m)) / 2
        if self.spec.reml:
            out -= mp.fsum(mp.log(R[i][i]) for i in range(len(R)))    # 1/2 log|W|
        return out

    def loglike_beta(self, beta, phi):
        """statsmodels' sigma2-profiled l(beta, theta) at any beta (eq:full-ml), (eq:full-reml).

        -1/2 log|V| - m/2 log Q(beta) [- 1/2 log|W|] - m/2 (1 + log(2 pi / m)), with
        Q(beta) = (y - X beta)' V^{-1} (y - X beta): equal to :meth:`profiled_loglike`
        at beta_hat.  Its Hessian in (beta, phi) gives statsmodels' ``bse_fe``.
        """
        t = self.terms(phi)
        W, w, syy = self._split(t.S)
        beta = [mp.mpf(b) for b in beta]
        Q = syy - 2 * mp.fdot(beta, w) + mp.fdot(beta, [mp.fdot(r, beta) for r in W])
        m = self.n_eff()
        out = -t.logdetV / 2 - m * mp.log(Q) / 2 - m * (1 + mp.log(2 * mp.pi / m)) / 2
        if self.spec.reml:
            R = cholesky(W)
            out -= mp.fsum(mp.log(R[i][i]) for i in range(len(R)))
        return out

    def estimates(self, phi) -> dict:
        """Every certified quantity at phi, in user units (statsmodels' names and scale).

        fe_params = beta_hat (eq:gls-beta); scale = qf / m (eq:profiled-sigma2);
        cov_re = scale Psi_re; vcomp = scale psi_vc; llf; bse_fe (conditional) =
        sqrt(diag(scale W^{-1})), lme4's ``vcov``.
        """
        spec = self.spec
        t = self.terms(phi)
        W, w, syy = self._split(t.S)
        Winv = inverse_spd(W)
        beta = [mp.fdot(r, w) for r in Winv]
        qf = syy - mp.fdot(w, beta)
        scale = qf / self.n_eff()
        L, s = unpack_phi(phi, spec.k_re, spec.k_vc)
        k = spec.k_re
        cov = [[scale * mp.fdot(L[i], L[j]) for j in range(k)] for i in range(k)]
        return {
            "fe_params": dict(zip(spec.fe_names, beta)),
            "bse_fe_conditional": {n: mp.sqrt(scale * Winv[i][i])
                                   for i, n in enumerate(spec.fe_names)},
            "cov_re": {a: {b: cov[i][j] for j, b in enumerate(spec.re_names)}
                       for i, a in enumerate(spec.re_names)},
            "vcomp": {n: scale * s[v] ** 2 for v, n in enumerate(spec.vc_names)},
            "scale": scale,
            "llf": self.profiled_loglike(phi),
            "beta": beta,
        }
