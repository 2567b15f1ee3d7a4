"""The convergence verdict: decided by us at the returned point, never by an optimizer's flag.

At the optimizer's answer phi (sqrt parameterization) we evaluate the analytic
score g and Hessian H of the profiled log-likelihood and ask:

1. Boundary? A diagonal entry of the Cholesky factor L, or a variance-component
   s_j, below BOUNDARY_TOL (1e-4, lme4's ``isSingular`` rule: phi is lme4's theta,
   the relative Cholesky factor). The coordinates on the boundary are set aside:
   there the llf is flat to first order (it is even in s_j, and in a zero column of L).
2. Gradient test on the remaining free coordinates, scale-free: the predicted
   gain of a Newton step, g'(-H)^{-1}g / 2, is a log-likelihood difference and so
   does not depend on the units of y or of the covariates; we require it below
   GAIN_TOL. Where -H is not positive definite the Newton gain is not defined and
   we fall back on max_i |g_i| max(|phi_i|, 1) / max(|llf|, 1) < RELGRAD_TOL.
3. Curvature: away from the boundary the Hessian must be negative definite
   (a maximum, not a saddle).

The verdict names the test that decided it and by how much.
"""

from dataclasses import dataclass

import numpy as np

from .linalg import n_tril
from .parameters import unpack_sqrt

BOUNDARY_TOL = 1e-4
GAIN_TOL = 1e-8
RELGRAD_TOL = 1e-6


@dataclass
class Convergence:
    passed: bool
    boundary: bool
    reason: str
    max_scaled_gradient: float
    newton_gain: float
    hessian_negative_definite: object   # True / False / None (not evaluated)
    gradient: np.ndarray
    boundary_params: list

    def __str__(self):
        return self.reason


def zero_pivots(phi, k_re):
    """(zero diagonal entries of L, zero s_vc): the boundary rule, as boolean masks.

    A pivot below BOUNDARY_TOL (in units of sigma) counts as zero: lme4's
    isSingular(tol = 1e-4). The verdict and the results both read it from here.
    """
    L, s_vc = unpack_sqrt(phi, k_re)
    return np.abs(np.diag(L)) < BOUNDARY_TOL, np.abs(s_vc) < BOUNDARY_TOL


def boundary_coordinates(phi, k_re):
    """Indices of phi on the boundary: a zero pivot of L takes its whole column with it."""
    zero_L, zero_vc = zero_pivots(phi, k_re)
    rows, cols = np.tril_indices(k_re)
    m = n_tril(k_re)
    on_L = [i for i, c in enumerate(cols) if zero_L[c]]
    return on_L + [int(m + j) for j in np.flatnonzero(zero_vc)]


def verdict(model, phi, reml, free=None, gain_tol=GAIN_TOL, relgrad_tol=RELGRAD_TOL,
            stopped_reason=None):
    """Judge the point phi. ``free`` (bool mask over phi) excludes held parameters."""
    phi = np.asarray(phi, float)
    if not np.all(np.isfinite(phi)):
        return Convergence(False, False, f"not converged: non-finite parameters {phi}",
                           np.inf, np.inf, None, np.full_like(phi, np.nan), [])
    llf = model.loglike_sqrt(phi, reml)
    g = model.score_sqrt(phi, reml)
    H = model.hessian_sqrt(phi, reml)
    on_bnd = boundary_coordinates(phi, model.k_re)
    use = np.ones(len(phi), bool) if free is None else np.asarray(free, bool).copy()
    use[on_bnd] = False
    gi, Hi, pi = g[use], H[np.ix_(use, use)], phi[use]
    scaled = float(np.max(np.abs(gi) * np.maximum(np.abs(pi), 1.0)) / max(abs(llf), 1.0)) if gi.size else 0.0
    nd = None
    gain = np.nan
    if gi.size:
        try:
            Lh = np.linalg.cholesky(-Hi)
            nd = True
            z = np.linalg.solve(Lh, gi)
            gain = 0.5 * float(z @ z)
        except np.linalg.LinAlgError:
            nd = False
    else:
        gain = 0.0
    if nd:
        grad_ok = gain < gain_tol
        grad_txt = f"predicted Newton gain {gain:.2e} {'<' if grad_ok else '>='} {gain_tol:g}"
    else:
        grad_ok = scaled < relgrad_tol
        grad_txt = f"scaled gradient {scaled:.2e} {'<' if grad_ok else '>='} {relgrad_tol:g}"
    curv_ok = nd is not False
    passed = bool(grad_ok and curv_ok)
    if passed and on_bnd:
        reason = (f"converged to a boundary (singular) fit: parameters {on_bnd} of phi are 0 "
                  f"(lme4 would say isSingular); {grad_txt} on the others")
    elif passed:
        reason = f"converged: {grad_txt}; Hessian negative definite"
    elif not grad_ok:
        reason = f"not converged: {grad_txt}"
    else:
        reason = f"not converged: {grad_txt} but the Hessian is not negative definite (saddle or flat direction)"
    if stopped_reason and not passed:
        reason += f" ({stopped_reason})"
    return Convergence(passed, bool(on_bnd), reason, scaled, gain, nd, g, on_bnd)
