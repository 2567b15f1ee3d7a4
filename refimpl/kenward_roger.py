"""Kenward-Roger: the adjusted covariance of beta_hat and the F approximation (pbkrtest's definition).

The covariance of y is linear in the user-scale variance parameters
gamma = (tril(cov_re), vcomp, sigma2):

    Sigma = sum_r gamma_r G_r,   G_r = Z E_r Z' (E_r = layout.dPsi_dtheta()), G_sigma2 = I   (eq:kr-linear)

so the second derivatives of Sigma vanish and Kenward and Roger's R_ij term
drops out (pbkrtest's choice). With Phi = (X'Sigma^{-1}X)^{-1},

    P_r  = -X'Sigma^{-1} G_r Sigma^{-1} X
    Q_rs =  X'Sigma^{-1} G_r Sigma^{-1} G_s Sigma^{-1} X
    I_rs =  tr(Sigma^{-1} G_r Sigma^{-1} G_s) - 2 tr(Phi Q_rs) + tr(Phi P_r Phi P_s)   (2 x the
            expected REML information),   W = 2 I^{-1} = cov(gamma_hat)
    Phi_A = Phi + 2 Phi [sum_rs W_rs (Q_rs - P_r Phi P_s)] Phi                          (eq:kr-vcov)

and for L beta = 0 of rank q, with Theta = L'(L Phi L')^{-1} L,

    A1 = sum_rs W_rs tr(Theta Phi P_r Phi) tr(Theta Phi P_s Phi)
    A2 = sum_rs W_rs tr(Theta Phi P_r Phi Theta Phi P_s Phi)
    B = (A1 + 6 A2) / (2q),  g = ((q+1) A1 - (q+4) A2) / ((q+2) A2)
    c1 = g / (3q + 2(1-g)),  c2 = (q-g) / (3q + 2(1-g)),  c3 = (q+2-g) / (3q + 2(1-g))
    rho = (1/q) ((1 - A2/q) / (1 - c2 B))^2 (1 + c1 B) / (1 - c3 B)
    ddf = 4 + (q + 2) / (q rho - 1),   lambda = ddf (1 - A2/q) / (ddf - 2)
    F = lambda (L beta_hat)'(L Phi_A L')^{-1}(L beta_hat) / q  ~  F(q, ddf)          (eq:kr-F)

Each sum over the n x n matrices is a sum over groups (Sigma is block diagonal):
this module forms Sigma_i densely per group (n_i x n_i). That is the naive
form, clear and exact, and fine for groups of a few hundred rows; a crossed
design fitted as one group of n rows costs O(n^3).
"""

import numpy as np



def _groups(model):
    d = model.design
    order = np.argsort(d.group_index, kind="stable")
    bounds = np.searchsorted(d.group_index[order], np.arange(d.n_groups + 1))
    for g in range(d.n_groups):
        rows = order[bounds[g]:bounds[g + 1]]
        yield d.X[rows], d.Z[rows]


def kr_pieces(results):
    """Phi, P (list), Q (r, s, p, p) and the information I of (eq:kr-vcov), at a REML fit."""
    if not results.reml:
        raise ValueError("Kenward-Roger is defined for REML fits (as pbkrtest and lmerTest); "
                         "refit with reml=True")
    if results.singular:
        raise ValueError("Kenward-Roger at a boundary fit (a variance estimated as 0): the "
                         "information of the variance parameters is singular; refit without it")
    model = results.model
    s2 = results.scale
    Psi = model.layout.Psi(results.theta)
    E = model.layout.dPsi_dtheta()
    K = E.shape[0]
    p = model.k_fe
    R = K + 1
    XSX = np.zeros((p, p))
    P = np.zeros((R, p, p))
    Q = np.zeros((R, R, p, p))
    Ktr = np.zeros((R, R))
    for X_i, Z_i in _groups(model):
        n_i = len(X_i)
        Sigma = s2 * (np.eye(n_i) + Z_i @ Psi @ Z_i.T)
        Si = np.linalg.inv(Sigma)
        G = [Z_i @ E[k] @ Z_i.T for k in range(K)] + [np.eye(n_i)]   # (eq:kr-linear)
        H = [Gr @ Si for Gr in G]                                    # G_r Sigma^{-1}
        SX = Si @ X_i
        O = [Hr @ X_i for Hr in H]                                   # G_r Sigma^{-1} X
        XSX += X_i.T @ SX
        for r in range(R):
            P[r] -= O[r].T @ SX
            for s in range(R):
                Q[r, s] += O[r].T @ Si @ O[s]
                Ktr[r, s] += np.sum(H[r].T * H[s])
    Phi = np.linalg.inv(XSX)
    I = np.empty((R, R))
    for r in range(R):
        for s in range(R):
            I[r, s] = Ktr[r, s] - 2 * np.sum(Phi * Q[r, s]) + np.sum((Phi @ P[r]) * (P[s] @ Phi))
    return Phi, P, Q, I


def vcov_adjusted(results):
    """pbkrtest's vcovAdj: (Phi_A, Phi, P, W)  (eq:kr-vcov)."""
    Phi, P, Q, I = kr_pieces(results)
    W = 2.0 * np.linalg.inv(I)
    R = len(P)
    U = sum(W[r, s] * (Q[r, s] - P[r] @ Phi @ P[s]) for r in range(R) for s in range(R))
    Phi_A = Phi + 2.0 * Phi @ U @ Phi
    return Phi_A, Phi, P, W


def kr_df(L, Phi, P, W):
    """ddf and the F scaling lambda for L beta = 0  (eq:kr-F). Returns (q, ddf, lambda)."""
    L = np.atleast_2d(np.asarray(L, float))
    q = int(np.linalg.matrix_rank(L))
    Theta = L.T @ np.linalg.solve(L @ Phi @ L.T, L)
    U = [Theta @ Phi @ Pr @ Phi for Pr in P]
    tr = np.array([np.trace(u) for u in U])
    A1 = tr @ W @ tr
    A2 = sum(W[r, s] * np.sum(U[r] * U[s].T) for r in range(len(P)) for s in range(len(P)))
    B = (A1 + 6 * A2) / (2 * q)
    g = ((q + 1) * A1 - (q + 4) * A2) / ((q + 2) * A2)
    den = 3 * q + 2 * (1 - g)
    c1, c2, c3 = g / den, (q - g) / den, (q + 2 - g) / den
    V0 = 1 + c1 * B
    V0 = 0.0 if abs(V0) < 1e-10 else V0
    rho = (1 / q) * ((1 - A2 / q) / (1 - c2 * B)) ** 2 * V0 / (1 - c3 * B)
    ddf = 4 + (q + 2) / (q * rho - 1)
    lam = 1.0 if abs(ddf - 2) < 1e-2 else ddf * (1 - A2 / q) / (ddf - 2)
    return q, float(ddf), float(lam)
