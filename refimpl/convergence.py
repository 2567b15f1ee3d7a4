"""The convergence verdict: decided by us at the returned point, never by an optimizer's flag.

At the optimizer's answer phi (sqrt parameterization) we evaluate the analytic
score g and Hessian H of the profiled log-likelihood and ask:

1. Boundary? A diagonal entry of the Cholesky factor L, or a variance-component
   s_j, below BOUNDARY_TOL (1e-4, lme4's ``isSingular`` rule: phi is lme4's theta,
   the relative Cholesky factor).
2. Gradient test on the free (non-boundary) coordinates, scale-free: the
   predicted gain of a Newton step, g'(-H)^{-1}g / 2, is a log-likelihood
   difference and so does not depend on the units of y or of the covariates;
   we require it below GAIN_TOL. Where -H is not positive definite the Newton
   gain is not defined and we fall back on
   max_i |g_i| max(|phi_i|, 1) / max(|llf|, 1) < RELGRAD_TOL.
3. Curvature: on the free coordinates the Hessian must be negative definite
   (a maximum, not a saddle).
4. On the boundary, the Karush-Kuhn-Tucker conditions (eq:kkt-psd, eq:kkt-vc).
   In phi the llf is even in a zero column of L and in a zero s_j, so its
   gradient there is zero whatever the data: step 2 cannot see whether the
   likelihood rises off the boundary. We ask it in the profile
   parameterization theta = (Psi_re, psi_vc), where the boundary is a real
   edge: with G the gradient as a symmetric matrix (eq:kkt-G),
     (a) G Psi_re = 0            the nonzero part of Psi_re is optimal,
     (b) G restricted to the null space of Psi_re is negative semi-definite,
     (c) d llf / d psi_j <= 0    for every variance component at 0.
   Each violated condition gives a feasible path off the boundary; we walk it
   and *measure* the llf gain. A gain of GAIN_TOL or more fails the verdict and
   the reason says by how much, and along which direction.

At a boundary point the verdict judges the nearest point of the boundary face
(``face_point``: the smallest eigenvalues of Psi_re and the small vcomp set to
exactly 0, refactored with exactly-zero columns), so that the coordinates set
aside really are the ones in which the llf is even. Gains are measured against
the llf of the point given.
"""

from dataclasses import dataclass, field

import numpy as np

from .likelihood import LikelihoodError
from .linalg import n_tril, tril_pack, tril_unpack
from .parameters import pack_sqrt, profile_to_sqrt, sqrt_to_profile, unpack_sqrt

BOUNDARY_TOL = 1e-4
GAIN_TOL = 1e-8
RELGRAD_TOL = 1e-6

#: A pivot of the face factor below this fraction of max(diag Psi_re) is an exact zero.
FACE_PIVOT_RTOL = 1e-12


@dataclass
class BoundaryAscent:
    """A feasible path off the boundary along which the llf rises (one KKT violation)."""
    kind: str                   # "null" (eq:kkt-psd, b), "range" (eq:kkt-psd, a), "vcomp" (eq:kkt-vc)
    rate: float                 # d llf / dt at t = 0+ along the path
    direction: np.ndarray       # d theta / dt at t = 0 (profile units, packed like theta)
    step: float                 # the t of the best measured point
    gain: float                 # llf(theta(step)) - llf(point given): measured
    predicted_gain: float       # rate^2 / (2 |curvature|) from the quadratic model (inf if not concave)
    theta: np.ndarray           # the profile point theta(step): feasible, higher llf
    text: str                   # what moved, in words


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
    boundary_gain: float = 0.0          # the largest measured llf gain off the boundary (0: none)
    ascents: list = field(default_factory=list)   # BoundaryAscent for each violated KKT condition

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


# --------------------------------------------------------------------------
# The boundary face and the KKT conditions (book/boundary.md)
# --------------------------------------------------------------------------

def symmetric_gradient(g_theta, k_re):
    """G with d llf = tr(G dPsi_re) for symmetric dPsi_re  (eq:kkt-G).

    theta packs each off-diagonal entry once, and moving it moves Psi_ab and
    Psi_ba together, so d llf / d theta_ab = 2 G_ab off the diagonal.
    """
    T = tril_unpack(np.asarray(g_theta, float)[:n_tril(k_re)], k_re)
    return 0.5 * (T + T.T)


def face_point(phi, k_re):
    """The nearest point of the boundary face, as (phi_face, U_null, F_range).

    Psi_re loses its eigenvalues below BOUNDARY_TOL**2 (there is one at least
    when L has a zero pivot: lambda_min <= L_jj**2); U_null spans the null space of the
    result and F_range (k_re x r) is a factor of it, Psi_face = F F'. The face
    is refactored by a Cholesky loop that leaves an exactly-zero column at each
    zero pivot, so the llf is even in those columns. A small s_j becomes 0.
    """
    L, s_vc = unpack_sqrt(phi, k_re)
    zero_L, zero_vc = zero_pivots(phi, k_re)
    Psi = L @ L.T
    lam, U = np.linalg.eigh(Psi) if k_re else (np.zeros(0), np.zeros((0, 0)))
    lam = np.clip(lam, 0.0, None)
    # A zero pivot L_jj < tol means lambda_min <= L_jj^2 < tol^2, but L = [[0, 0], [b, 0]]
    # has two zero pivots and rank one: count the eigenvalues, not the pivots.
    n0 = int(np.sum(lam < BOUNDARY_TOL ** 2)) if zero_L.any() else 0
    lam[:n0] = 0.0
    F = U[:, n0:] * np.sqrt(lam[n0:])
    Psi_face = F @ F.T
    L_face = np.zeros_like(Psi_face)
    scale = max(float(np.max(np.diag(Psi_face), initial=0.0)), 1e-300)
    for j in range(k_re):
        d = Psi_face[j, j] - L_face[j, :j] @ L_face[j, :j]
        if d <= FACE_PIVOT_RTOL * scale:
            continue                                    # exactly-zero column
        L_face[j, j] = np.sqrt(d)
        L_face[j + 1:, j] = (Psi_face[j + 1:, j] - L_face[j + 1:, :j] @ L_face[j, :j]) / L_face[j, j]
    return pack_sqrt(L_face, np.where(zero_vc, 0.0, np.abs(s_vc))), U[:, :n0], F


def _llf_or_nan(model, theta, reml):
    try:
        return float(model.loglike_profile(theta, reml=reml))
    except (LikelihoodError, np.linalg.LinAlgError, ValueError):
        return np.nan


def _walk(model, reml, llf0, path, rate, curvature, gain_tol):
    """Best measured gain along theta = path(t), t > 0, and the quadratic model's prediction.

    Where the path is concave at 0 the model's maximiser t* = rate / |curvature|
    is tried first, then halved while the gain improves; where it predicts less
    than gain_tol / 1000, t* alone is measured. Where the path is not concave, a
    geometric grid from the step at which the first-order gain is 1e-6 llf units,
    while the gain improves. Each try is one likelihood evaluation.
    """
    if curvature < 0:
        t_star = rate / -curvature
        predicted = 0.5 * rate * t_star
        steps = [t_star] if predicted < 1e-3 * gain_tol else t_star * 0.5 ** np.arange(8)
    else:
        predicted = np.inf
        steps = (1.0 / rate) * 10.0 ** np.arange(-6, 4)
    best = (-np.inf, 0.0, path(0.0))
    for t in steps:
        theta = path(t)
        gain = _llf_or_nan(model, theta, reml) - llf0
        if gain > best[0]:
            best = (gain, float(t), theta)
        elif best[0] > 0:
            break                                   # past the best step along this path
    return best[0], best[1], best[2], predicted


def boundary_ascents(model, phi_face, U_null, F_range, reml, llf0, free=None, gain_tol=GAIN_TOL):
    """The KKT conditions at a boundary face point; one BoundaryAscent per violated one.

    Returned only where the measured gain is positive; the caller compares it
    with GAIN_TOL. ``free`` (mask over theta) skips conditions that move held
    parameters.
    """
    k, m = model.k_re, n_tril(model.k_re)
    theta0 = sqrt_to_profile(phi_face, k)
    g = model.score_profile(theta0, reml)                 # (eq:score-profile)
    H = model.hessian_profile(theta0, reml)         # (eq:hess-profile)
    G = symmetric_gradient(g, k)
    held = np.zeros(len(theta0), bool) if free is None else ~np.asarray(free, bool)
    re_free = not np.any(held[:m])
    names_re = list(getattr(model, "exog_re_names", None) or [f"re{i}" for i in range(k)])
    names_vc = list(getattr(model, "vc_names", None) or [f"vc{j}" for j in range(model.k_vc)])
    out = []

    def add(kind, rate, d, curvature, path, text):
        gain, t, theta, predicted = _walk(model, reml, llf0, path, rate, curvature, gain_tol)
        if gain > 0:
            out.append(BoundaryAscent(kind, float(rate), d, t, float(gain), float(predicted),
                                      theta, text))

    # (a) G Psi_re = 0: move the factor F of the nonzero part along the llf's
    #     gradient in F, 2 G F. The path (F + tW)(F + tW)' stays PSD.   (eq:kkt-psd)
    if re_free and F_range.shape[1]:
        W = G @ F_range
        rate = 2.0 * float(np.sum(W * W))
        if rate > 0:
            d = tril_pack(W @ F_range.T + F_range @ W.T)
            curvature = float(d @ H[:m, :m] @ d) + 2.0 * float(np.sum(G * (W @ W.T)))

            def path_a(t, W=W):
                Ft = F_range + t * W
                return np.concatenate([tril_pack(Ft @ Ft.T), theta0[m:]])
            add("range", rate, np.concatenate([d, np.zeros(len(theta0) - m)]), curvature, path_a,
                f"moving the nonzero part of cov_re along its gradient (|G Psi_re| = "
                f"{np.linalg.norm(G @ F_range @ F_range.T):.3g}, profile units)")

    # (b) v'Gv <= 0 for v in the null space of Psi_re: add t v v'.       (eq:kkt-psd)
    if re_free and U_null.shape[1]:
        mu, w = np.linalg.eigh(U_null.T @ G @ U_null)
        v = U_null @ w[:, -1]
        v = v * np.sign(v[np.argmax(np.abs(v))])
        if mu[-1] > 0:
            d = np.concatenate([tril_pack(np.outer(v, v)), np.zeros(len(theta0) - m)])
            i = int(np.argmax(np.abs(v)))
            if abs(v[i]) > 1 - 1e-12:
                text = f"raising the variance of {names_re[i]!r} (cov_re / scale) from 0"
            else:
                vtxt = ", ".join(f"{c:.3g} {n}" for c, n in zip(v, names_re))
                text = f"adding t v v' to the singular Psi_re = cov_re / scale, v = ({vtxt})"
            add("null", mu[-1], d, float(d @ H @ d), lambda t, d=d: theta0 + t * d, text)

    # (c) d llf / d psi_j <= 0 where psi_j = 0.                         (eq:kkt-vc)
    for j in range(model.k_vc):
        i = m + j
        if theta0[i] == 0.0 and not held[i] and g[i] > 0:
            d = np.zeros(len(theta0))
            d[i] = 1.0
            add("vcomp", g[i], d, float(H[i, i]), lambda t, d=d: theta0 + t * d,
                f"raising the variance component {names_vc[j]!r} (vcomp / scale) from 0")
    return out


def ascent_off_boundary(model, phi, reml):
    """A feasible sqrt point with a higher llf than the boundary point phi, or None.

    For an optimizer that stopped on the boundary: restart from here.
    """
    return best_ascent_phi(verdict(model, phi, reml), model.k_re)


def best_ascent_phi(conv, k_re):
    """The sqrt point of the verdict's best measured ascent off the boundary, or None."""
    rising = [a for a in conv.ascents if a.gain > 0]
    if not rising:
        return None
    return profile_to_sqrt(max(rising, key=lambda a: a.gain).theta, k_re)


# --------------------------------------------------------------------------
# The verdict
# --------------------------------------------------------------------------

def _interior_test(model, phi, reml, use, gain_tol, relgrad_tol):
    llf = model.loglike_sqrt(phi, reml)
    g = model.score_phi(phi, reml)
    H = model.hessian_phi(phi, reml)
    gi, Hi, pi = g[use], H[np.ix_(use, use)], phi[use]
    scaled = float(np.max(np.abs(gi) * np.maximum(np.abs(pi), 1.0)) / max(abs(llf), 1.0)) if gi.size else 0.0
    nd, gain = None, 0.0
    if gi.size:
        try:
            z = np.linalg.solve(np.linalg.cholesky(-Hi), gi)
            nd, gain = True, 0.5 * float(z @ z)
        except np.linalg.LinAlgError:
            nd, gain = False, np.nan
    if nd is not False:
        grad_ok = gain < gain_tol
        txt = f"predicted Newton gain {gain:.2e} {'<' if grad_ok else '>='} {gain_tol:g}"
    else:
        grad_ok = scaled < relgrad_tol
        txt = f"scaled gradient {scaled:.2e} {'<' if grad_ok else '>='} {relgrad_tol:g}"
    return g, scaled, gain, nd, grad_ok, txt


def verdict(model, phi, reml, free=None, gain_tol=GAIN_TOL, relgrad_tol=RELGRAD_TOL,
            stopped_reason=None):
    """Judge the point phi. ``free`` (bool mask over phi) excludes held parameters."""
    phi = np.asarray(phi, float)
    if not np.all(np.isfinite(phi)):
        return Convergence(False, False, f"not converged: non-finite parameters {phi}",
                           np.inf, np.inf, None, np.full_like(phi, np.nan), [])
    k = model.k_re
    on_bnd = boundary_coordinates(phi, k)
    ascents = []
    if on_bnd:
        llf0 = model.loglike_sqrt(phi, reml)
        phi, U_null, F_range = face_point(phi, k)
        on_bnd = boundary_coordinates(phi, k)
        ascents = boundary_ascents(model, phi, U_null, F_range, reml, llf0, free, gain_tol)
    use = np.ones(len(phi), bool) if free is None else np.asarray(free, bool).copy()
    use[on_bnd] = False
    g, scaled, gain, nd, grad_ok, grad_txt = _interior_test(model, phi, reml, use, gain_tol, relgrad_tol)
    curv_ok = nd is not False
    rising = [a for a in ascents if a.gain >= gain_tol]
    b_gain = max((a.gain for a in ascents), default=0.0)
    passed = bool(grad_ok and curv_ok and not rising)
    if passed and on_bnd:
        reason = (f"converged to a boundary (singular) fit: parameters {on_bnd} of phi are 0 "
                  f"(lme4 would say isSingular); the KKT conditions hold (largest llf gain off "
                  f"the boundary {b_gain:.1e} < {gain_tol:g}); {grad_txt} on the others")
    elif passed:
        reason = f"converged: {grad_txt}; Hessian negative definite"
    elif rising:
        a = max(rising, key=lambda a: a.gain)
        reason = (f"not converged: on the boundary (parameters {on_bnd} of phi are 0) but the "
                  f"likelihood rises off it: {a.text} raises the llf by {a.gain:.3g} at t = "
                  f"{a.step:.3g} (d llf/dt = {a.rate:.3g} > 0; KKT violated)")
        if not grad_ok:
            reason += f"; {grad_txt} on the other parameters"
    elif not grad_ok:
        reason = f"not converged: {grad_txt}"
    else:
        reason = f"not converged: {grad_txt} but the Hessian is not negative definite (saddle or flat direction)"
    if stopped_reason and not passed:
        reason += f" ({stopped_reason})"
    return Convergence(passed, bool(on_bnd), reason, scaled, gain, nd, g, on_bnd, b_gain, ascents)
