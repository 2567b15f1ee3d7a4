"""The naive dense twin: build every V_i and use solve / slogdet.

Nothing here is clever. Each group's marginal covariance (in units of sigma2)
is formed explicitly, V_i = I + Z_i Psi Z_i'  (eq:marginal), and every quantity
is computed the way the textbook writes it, from the raw y (no OLS centering)
and with a Python loop over groups. It is slow on purpose: tests hold the fast
kernels (likelihood.py, score.py, hessian.py) to these values.
"""

import numpy as np


def _groups(design):
    """Yield (y_i, X_i, Z_i) for each group of a :class:`refimpl.model.Design`."""
    for rows in design.group_rows():
        yield design.y[rows], design.X[rows], design.Z[rows]


def dense_sufficient_statistics(design):
    """(Z_i'Z_i, Z_i'X_i, Z_i'y0_i) stacked over groups, one group at a time (eq:suffstats).

    The twin of suffstats.compute_sufficient_statistics, with y0 = y - X b_ols
    taken from the same b_ols (eq:ols-centering).
    """
    beta_ols = np.linalg.lstsq(design.X, design.y, rcond=None)[0]
    ZtZ, ZtX, Zty0 = [], [], []
    for y_i, X_i, Z_i in _groups(design):
        ZtZ.append(Z_i.T @ Z_i)
        ZtX.append(Z_i.T @ X_i)
        Zty0.append(Z_i.T @ (y_i - X_i @ beta_ols))
    return np.array(ZtZ), np.array(ZtX), np.array(Zty0)


def dense_pieces(design, theta):
    """sum log|V_i|, X'V^{-1}X, X'V^{-1}y, and per-group V_i^{-1} (as a list)."""
    Psi = design.layout.Psi(theta)
    p = design.X.shape[1]
    logdet_V, XtVinvX, XtVinvy, Vinv = 0.0, np.zeros((p, p)), np.zeros(p), []
    for y_i, X_i, Z_i in _groups(design):
        V_i = np.eye(len(y_i)) + Z_i @ Psi @ Z_i.T
        sign, ld = np.linalg.slogdet(V_i)
        assert sign > 0
        logdet_V += ld
        Vi_inv = np.linalg.inv(V_i)
        Vinv.append(Vi_inv)
        XtVinvX += X_i.T @ Vi_inv @ X_i
        XtVinvy += X_i.T @ Vi_inv @ y_i
    return logdet_V, XtVinvX, XtVinvy, Vinv


def dense_gls(design, theta):
    """(beta_hat, qf): GLS estimate and residual quadratic form, densely."""
    _, XtVinvX, XtVinvy, Vinv = dense_pieces(design, theta)
    beta_hat = np.linalg.solve(XtVinvX, XtVinvy)
    qf = 0.0
    for (y_i, X_i, _), Vi_inv in zip(_groups(design), Vinv):
        r_i = y_i - X_i @ beta_hat
        qf += r_i @ Vi_inv @ r_i
    return beta_hat, qf


def dense_profiled_loglike(design, theta, reml):
    """Profiled log-likelihood, textbook form (eq:profiled-ml, eq:profiled-reml)."""
    logdet_V, XtVinvX, _, _ = dense_pieces(design, theta)
    _, qf = dense_gls(design, theta)
    n, p = design.X.shape
    m = n - p if reml else n
    llf = -0.5 * logdet_V - 0.5 * m * np.log(qf) - 0.5 * m * (1 + np.log(2 * np.pi / m))
    if reml:
        llf -= 0.5 * np.linalg.slogdet(XtVinvX)[1]
    return llf


def dense_full_loglike(design, beta, theta, sigma2, reml):
    """Full log-likelihood at (beta, theta, sigma2) with Sigma_i = sigma2 V_i (eq:full-ml, eq:full-reml)."""
    Psi = design.layout.Psi(theta)
    n, p = design.X.shape
    llf = 0.0
    XtSinvX = np.zeros((p, p))
    for y_i, X_i, Z_i in _groups(design):
        Sigma_i = sigma2 * (np.eye(len(y_i)) + Z_i @ Psi @ Z_i.T)
        r_i = y_i - X_i @ beta
        llf -= 0.5 * (np.linalg.slogdet(Sigma_i)[1] + r_i @ np.linalg.solve(Sigma_i, r_i))
        XtSinvX += X_i.T @ np.linalg.solve(Sigma_i, X_i)
    if reml:
        # The textbook restricted likelihood: -1/2 log|X' Sigma^{-1} X| and 2 pi
        # counted n - p times (Patterson & Thompson 1971).
        llf -= 0.5 * np.linalg.slogdet(XtSinvX)[1]
        llf -= 0.5 * (n - p) * np.log(2 * np.pi)
    else:
        llf -= 0.5 * n * np.log(2 * np.pi)
    return llf


# --------------------------------------------------------------------------
# Derivatives, textbook form: n x n matrices, no Woodbury, no Schur complement
# --------------------------------------------------------------------------

def _dense_V_and_derivatives(design, theta):
    """The n x n V = blockdiag(V_i) and V_k = dV/dtheta_k, built group by group.

    Psi is linear in theta, so dPsi/dtheta_k is Psi at the k-th unit vector, and
    V_k = blockdiag(Z_i (dPsi/dtheta_k) Z_i')                     (eq:marginal)
    """
    layout = design.layout
    n, K = len(design.y), layout.n_params
    Psi = layout.Psi(theta)
    dPsi = [layout.Psi(np.eye(K)[k]) for k in range(K)]
    V, Vk = np.zeros((n, n)), np.zeros((K, n, n))
    for rows in design.group_rows():
        Z_i = design.Z[rows]
        V[np.ix_(rows, rows)] = np.eye(len(rows)) + Z_i @ Psi @ Z_i.T
        for k in range(K):
            Vk[k][np.ix_(rows, rows)] = Z_i @ dPsi[k] @ Z_i.T
    return V, Vk


def _dense_projection(design, V):
    """V^{-1} and the REML projection P = V^{-1} - V^{-1}X (X'V^{-1}X)^{-1} X'V^{-1}."""
    X = design.X
    Vinv = np.linalg.inv(V)
    VinvX = Vinv @ X
    P = Vinv - VinvX @ np.linalg.solve(X.T @ VinvX, VinvX.T)
    return Vinv, P


def _dense_profile_terms(design, theta, reml):
    """(V_k, T, P, Py, qf, m) shared by the dense score and Hessian.

    T = P under REML and V^{-1} under ML: the matrix whose trace against V_k
    differentiates the log-determinant part; m = n - p or n.
    """
    V, Vk = _dense_V_and_derivatives(design, theta)
    Vinv, P = _dense_projection(design, V)
    n, p = design.X.shape
    Py = P @ design.y
    return Vk, (P if reml else Vinv), P, Py, design.y @ Py, (n - p if reml else n)


def dense_profiled_score(design, theta, reml):
    """Score of the profiled log-likelihood w.r.t. theta, textbook form.

    qf = y'Py with P the projection above, and dP/dtheta_k = -P V_k P, so
    dqf/dtheta_k = -a_k with a_k = y'P V_k P y. Then (m = n or n - p)

        ML:   d l / d theta_k = -1/2 tr(V^{-1} V_k) + m a_k / (2 qf)
        REML: d l / d theta_k = -1/2 tr(P V_k)      + m a_k / (2 qf)

    the REML trace because d(log|V| + log|X'V^{-1}X|) = tr(P dV)  (Harville 1977).
    """
    Vk, T, _, Py, qf, m = _dense_profile_terms(design, theta, reml)
    return np.array([-0.5 * np.trace(T @ Vk[k]) + m * (Py @ Vk[k] @ Py) / (2.0 * qf)
                     for k in range(len(Vk))])


def dense_profiled_hessian(design, theta, reml):
    """Hessian of the profiled log-likelihood w.r.t. theta, textbook form.

    V is linear in theta (second derivatives of V vanish). With T = P (REML)
    or V^{-1} (ML), dT/dtheta_l = -T V_l T in both cases, and

        H_kl = 1/2 tr(T V_l T V_k) + m a_k a_l / (2 qf^2) - m (y'P V_l P V_k P y) / qf.
    """
    Vk, T, P, Py, qf, m = _dense_profile_terms(design, theta, reml)
    K = len(Vk)
    a = np.array([Py @ Vk[k] @ Py for k in range(K)])
    H = np.zeros((K, K))
    for k in range(K):
        for l in range(K):
            H[k, l] = (0.5 * np.trace(T @ Vk[l] @ T @ Vk[k]) + m * a[k] * a[l] / (2.0 * qf ** 2)
                       - m * (Py @ Vk[l] @ P @ Vk[k] @ Py) / qf)
    return H
