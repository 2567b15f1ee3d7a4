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
