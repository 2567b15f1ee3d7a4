"""Before the first fit: the maximum of the likelihood exists and identifies the parameters.

``MixedLM.fit`` calls :func:`check_estimable` (re-exported by checks.py).
Every refusal here is a *proof*: that the likelihood is unbounded, or that
distinct parameters give the same distribution of y. A weaker sign (lme4's
check.nobs.vs.nRE) is an :class:`~refimpl.checks.IdentifiabilityWarning`
and the fit goes on. Each function's docstring carries its argument (for the
book's chapter on identifiability).

Bounded time and memory: the checks read the per-group sufficient statistics
(A_i = Z_i'Z_i, B_i, c_i) and design.R; only when those cannot decide (a
singular or ill-conditioned Z_i'Z_i next to a small residual) does the exact
within-residual check read whole groups of rows, and a group too large for a
dense Z_i (a crossed design held as one group) is never densified.
"""

import warnings

import numpy as np

from .checks import (CONFOUNDED_TOL, EXACT_FIT_TOL, IDENTIFIABILITY_TOL, IdentifiabilityWarning,
                     _lstsq_residual_norm, group_batches)
from .group_chunks import group_chunks
from .suffstats import CHUNK_ROWS


def check_estimable(design, stats):
    """The fit has a unique, finite maximum to find, or a ValueError says why.

    Checked before fitting, not when the model is built: the likelihood,
    its score and its Hessian are well defined at any point of these designs
    (and the tests of those identities use some), only their maximum is not.
    stats are the model's sufficient statistics (suffstats.py) of this design.

    1. lme4's ``check.nobs.vs.nRE``: n must exceed the number of random
       effects of each term.
    2. No random-effect term is confounded with the fixed effects.
    3. y is not fitted exactly by X and Z together (then the likelihood grows
       without bound as sigma2 -> 0).
    """
    _check_n_random_effects(design, stats)
    _check_confounded(design, stats)
    if not within_residual_clearly_positive(design, stats):
        _check_within_residual(design)


#: The screen passes a design when its within residual sum of squares, from
#: the statistics, exceeds this fraction of |y|^2 ...
SCREEN_RSS_FRACTION = 1e-4
#: ... every group's Z_i'Z_i (padding aside) has condition number below this ...
SCREEN_KAPPA_MAX = 1e4
#: ... and every eigenvalue of X_w'X_w (columns scaled by |X_j|) is either
#: below the first bound (a direction of X inside span(Z), like the fixed
#: intercept next to a random one: dropped) or above the second.
SCREEN_NULL_BAND = (1e-10, 1e-4)


def within_residual_clearly_positive(design, stats):
    """True when the statistics alone show y is far from fitted exactly by X and Z.

    The within residual sum of squares (Frisch-Waugh-Lovell) is the Schur
    complement rss = M_yy - M_yx M_xx^+ M_xy of the (p + 1) x (p + 1) matrix

        M = [X | y0]'[X | y0] - sum_i [B_i | c_i]' A_i^{-1} [B_i | c_i],

    all of whose terms are sufficient statistics (eq:suffstats); M_xx =
    X_w'X_w. Computed so, each entry is right to about q eps kappa(A_i) times
    the norms involved, and M_xx^+ amplifies that by at most 1 / (its
    smallest kept eigenvalue, columns scaled to unit length). With
    kappa(A_i) < SCREEN_KAPPA_MAX = 1e4 and kept eigenvalues above 1e-4 the
    error is below ~1e-7 |y|^2, so rss above SCREEN_RSS_FRACTION |y|^2 = 1e-4
    |y|^2 proves the residual far above the exact-fit threshold (1e-24
    |y|^2). Anything else (a singular or ill-conditioned Z_i'Z_i, an
    eigenvalue of X_w'X_w in the ambiguous band, a small rss) returns False
    and the exact check reads the rows. Padding slots (zero columns) get a
    unit diagonal, which changes nothing: B_i and c_i are zero there.
    """
    A = getattr(stats, "ZtZ", None)
    p = design.X.shape[1]
    if A is None or p == 0:
        return False
    S = 0.0
    for sl in group_chunks(design.n_groups):                             # a chunk of groups at a time
        A_sl, real = stats.ZtZ[sl], design.real_slot_mask(sl)            # (g, q, q), (g, q)
        scale = np.maximum(np.einsum("gii->g", A_sl), np.finfo(float).tiny)   # trace: ~ the largest eigenvalue
        A_sl = A_sl + np.einsum("gi,ij->gij", ~real * scale[:, None], np.eye(A.shape[1]))
        lam, V = np.linalg.eigh(A_sl)
        if not np.all(lam[:, 0] > lam[:, -1] / SCREEN_KAPPA_MAX):
            return False
        W = np.swapaxes(V, 1, 2) @ stats.ZtXy0[sl]                       # V_i' [B_i | c_i]
        S = S + np.einsum("gkp,gk,gkr->pr", W, 1.0 / lam, W)
    M = np.empty((p + 1, p + 1))
    M[:p, :p], M[:p, p], M[p, p] = stats.XtX, stats.Xty0, stats.y0ty0
    M[p, :p] = M[:p, p]
    M -= S
    d = np.sqrt(np.diag(stats.XtX))
    if np.any(d == 0):
        return False
    mu, U = np.linalg.eigh(M[:p, :p] / np.outer(d, d))
    null, kept = mu < SCREEN_NULL_BAND[0], mu > SCREEN_NULL_BAND[1]
    if not np.all(null | kept):
        return False
    u = U[:, kept].T @ (M[:p, p] / d)
    rss = M[p, p] - np.sum(u ** 2 / mu[kept])
    return bool(rss > SCREEN_RSS_FRACTION * float(design.y @ design.y))


def _terms(design):
    """(name, column indices in Z, number of random effects) for each covariance term."""
    lay, G = design.layout, design.n_groups
    terms = []
    if lay.k_re:
        terms.append((f"exog_re {design.exog_re_names}", list(range(lay.k_re)), lay.k_re * G))
    for j, name in enumerate(design.vc_names):
        s = lay.vc_slots(j)
        terms.append((f"variance component {name!r}", list(range(s.start, s.stop)),
                      int(design.vc_counts[:, j].sum())))
    return terms


def _check_n_random_effects(design, stats=None):
    """lme4's check.nobs.vs.nRE, made a proof: refuse only what is provably not identifiable.

    lme4 refuses n <= (random effects of a term). That alone proves nothing:
    statsmodels and lme4 (with the check off) find a finite, unique optimum for
    many such designs (random slopes in groups of two rows, say). What *is* a
    proof: the covariance of y is linear in the parameters,

        cov(y) = sigma2 I + sum_k gamma_k Z E_k Z',     gamma = sigma2 theta,

    so if I, Z E_1 Z', ..., Z E_K Z' are linearly dependent, some line through
    every interior point of the parameter space gives the same cov(y), hence
    the same ML and REML likelihood: the parameters cannot be identified
    (one row per group with a random intercept: Z Z' = I). The matrices are
    dependent exactly when their Gram matrix (trace inner product) is
    singular. With block-diagonal Z (A_i = Z_i'Z_i) its entries are

        M_00 = n,   M_0k = sum_i tr(E_k A_i),   M_kl = sum_i tr(E_k A_i E_l A_i),

    small sums over the per-group statistics. So: when n <= n_RE for a term
    and M (scaled to unit diagonal) has an eigenvalue below
    IDENTIFIABILITY_TOL, refuse; when n <= n_RE but M is regular, warn
    (IdentifiabilityWarning) and fit.
    """
    n = design.n_obs
    crowded = [(name, n_re) for name, _, n_re in _terms(design) if n <= n_re]
    if not crowded:
        return
    name, n_re = crowded[0]
    what = (f"number of observations ({n}) is not larger than the number of random effects "
            f"({n_re}) of {name} over {design.n_groups} groups")
    smallest = covariance_gram_smallest_eigenvalue(design, stats)
    if smallest is not None and smallest < IDENTIFIABILITY_TOL:
        raise ValueError(
            f"{what}, and the covariance of endog is the same along a line of parameter values (its "
            "matrices I, Z E_k Z' are linearly dependent, e.g. every group has one row and a random "
            "intercept): the variance parameters cannot be identified. Use fewer random effects, "
            "larger groups or fewer groups.")
    warnings.warn(f"{what}. lme4 refuses this by default; here the covariance parameters are "
                  "identified (the fit goes on), but expect weakly determined variance estimates.",
                  IdentifiabilityWarning, stacklevel=4)


def covariance_gram_smallest_eigenvalue(design, stats=None):
    """Smallest eigenvalue of the unit-diagonal Gram matrix M of I, Z E_k Z' (see above).

    Read from the per-group A_i = Z_i'Z_i (stats.ZtZ, or computed from the
    design's rows a batch of groups at a time). None when A_i are not at hand
    (a design too large for dense per-group blocks).
    """
    E = design.layout.dPsi_dtheta()                                 # (K, q, q)
    K = E.shape[0]
    M = np.zeros((K + 1, K + 1))
    M[0, 0] = design.n_obs
    ZtZ = getattr(stats, "ZtZ", None) if stats is not None else None
    batches = [ZtZ] if ZtZ is not None else _ZtZ_batches(design)
    if batches is None:
        return None
    for A in batches:
        T = np.einsum("kab,gbc->gkac", E, A)                          # E_k A_i
        M[0, 1:] += np.einsum("gkaa->k", T)
        M[1:, 1:] += np.einsum("gkab,glba->kl", T, T)
    M[1:, 0] = M[0, 1:]
    d = np.sqrt(np.diag(M))
    if np.any(d == 0):
        return 0.0
    return float(np.linalg.eigvalsh(M / np.outer(d, d)).min())


def _ZtZ_batches(design, budget=1 << 26):
    """Per-group Z_i'Z_i, a batch of groups at a time; None if one group's rows would pass budget bytes."""
    q = design.layout.q
    sizes = np.bincount(design.group_index, minlength=design.n_groups)
    if sizes.max() * q * 8 > budget or q * q * 8 > budget:
        return None
    out = []
    for rows in group_batches(design.group_index, design.n_groups):
        Zb = design.Z_rows(rows)
        out.append(np.swapaxes(Zb, 1, 2) @ Zb)
    return out


def confounding_residuals(design, stats, groups=slice(None)):
    """(zz, resid), each (G, q): |z_cg|^2 and |z_cg - P_X z_cg|^2 for every column c of every Z_i.

    ``groups``: a slice of the groups (a chunk, group_chunks.py) to give only their rows.

    z_cg is column c of Z restricted to the rows of group g (zero elsewhere)
    and P_X the projection on span(X). With X'X = R_X'R_X (design.R) and
    b = X'z_cg = B_g[c, :], the projected part has squared norm

        z' X (X'X)^{-1} X' z = |R_X^{-T} b|^2,      zz = A_g[c, c],

    so both come from the sufficient statistics (the direct way forms the
    n x p Q of X = QR and sums (Q'z_cg)^2). Accuracy: b is summed to within
    about eps |X_j| |z| per column and R_X^{-T} amplifies that by at most the
    scaled condition number kappa of X (hence the solve with unit columns), so
    resid is right to kappa eps zz at worst; for a column of Z in span(X) it
    comes out below 3e-15 zz even at kappa = 2e6 (as it does the direct way),
    well within CONFOUNDED_TOL.
    """
    p = design.X.shape[1]
    R_X = design.R[:p, :p]
    norms = np.linalg.norm(R_X, axis=0)                       # |X_j|
    if stats is not None:                                     # per-group or blocked statistics
        zz, ZtX = stats.ZtZ_diagonal[groups], stats.ZtX[groups]   # A_g[c, c], (G, q); B_g
    else:
        zz, ZtX = (a[groups] for a in column_statistics(design))
    G, q = zz.shape
    b = (ZtX / norms).reshape(G * q, p).T                     # X'z_cg with unit columns, (p, G q)
    u = np.linalg.solve((R_X / norms).T, b)                   # R_X^{-T} b
    return zz, zz - np.sum(u ** 2, axis=0).reshape(G, q)


def column_statistics(design):
    """(zz (G, q), ZtX (G, q, p)): |z_cg|^2 and X'z_cg for every column of every Z_i, from Z_re and sparse Z_vc.

    The diagonal of A_i and B_i (eq:suffstats) without forming a dense Z_i:
    the dense columns by group sums, the sparse ones by summing each stored
    value into its (group, slot) key. Cost O(n (k_re + nnz per row) p).
    """
    G, q, p = design.n_groups, design.layout.q, design.X.shape[1]
    gi, X, k = design.group_index, design.X, design.layout.k_re
    zz, ZtX = np.zeros((G, q)), np.zeros((G, q, p))
    for c in range(k):
        z = design.Z_re[:, c]
        zz[:, c] = np.bincount(gi, weights=z * z, minlength=G)
        for j in range(p):
            ZtX[:, c, j] = np.bincount(gi, weights=z * X[:, j], minlength=G)
    Zvc = design.Z_vc.tocoo()
    if Zvc.nnz:
        m = q - k
        key = gi[Zvc.row].astype(np.int64) * m + Zvc.col
        zz[:, k:] = np.bincount(key, weights=Zvc.data ** 2, minlength=G * m).reshape(G, m)
        for j in range(p):
            ZtX[:, k:, j] = np.bincount(key, weights=Zvc.data * X[Zvc.row, j],
                                        minlength=G * m).reshape(G, m)
    return zz, ZtX


def _check_confounded(design, stats):
    """A term all of whose columns Z_i (every group) lie in span(X) has a flat REML likelihood.

    Example: one group and a random intercept next to a fixed intercept (the
    random intercept *is* the fixed one), or group dummies in exog. Its
    variance cannot be estimated (REML is flat in it; ML puts it at 0).
    Read a chunk of groups at a time (group_chunks.py).
    """
    if design.X.shape[1] == 0:
        return
    G, terms = design.n_groups, _terms(design)
    any_real, confounded = np.zeros(len(terms), bool), np.ones(len(terms), bool)
    for sl in (group_chunks(G) if stats is not None else [slice(None)]):
        zz_all, resid_all = confounding_residuals(design, stats, sl)
        for t, (_, cols, _) in enumerate(terms):
            zz, resid = zz_all[:, cols], resid_all[:, cols]
            real = zz > 0                                     # padding slots are zero columns
            any_real[t] |= real.any()
            confounded[t] &= np.all(resid[real] <= CONFOUNDED_TOL * zz[real])
    for (name, _, _), real, conf in zip(terms, any_real, confounded):
        if not real:
            raise ValueError(f"the random effects of {name} have only zero columns in every "
                             "group; drop that term")
        if conf:
            raise ValueError(
                f"the random effects of {name} are confounded with the fixed effects: in every one "
                f"of the {G} groups their columns lie in the span of exog (e.g. a random intercept "
                "with a single group, or group dummies in exog), so their variance cannot be "
                "estimated. Drop them from exog_re / re_formula / vc_formula, or drop the "
                "corresponding columns of exog.")


def within_residual_R(design, chunk_rows=CHUNK_ROWS, with_rank=False):
    """R factor of [X_w | y_w]: X and y with each group's span(Z_i) projected out.

    Group by group, U_i (an orthonormal basis of span(Z_i), from an SVD with
    numpy's matrix_rank rule: singular values below max(m, q) eps times the
    largest are zero) gives [X_i | y_i] - U_i U_i' [X_i | y_i]. The stacked
    rows are reduced chunk by chunk to their R (r_factor's identity), so the
    n-row [X_w | y_w] never exists at once. with_rank: also return
    sum_i rank(Z_i) = rank(Z) (Z is block diagonal).
    """
    X, y = design.X, design.y
    R = np.zeros((0, X.shape[1] + 1))
    rank_Z = 0
    for rows in group_batches(design.group_index, design.n_groups, chunk_rows):
        Zb = design.Z_rows(rows)                                         # (G_b, m, q)
        Wb = np.concatenate([X[rows], y[rows][:, :, None]], axis=2)      # [X_i | y_i], (G_b, m, p + 1)
        U, s, _ = np.linalg.svd(Zb, full_matrices=False)
        tol = s.max(axis=1, keepdims=True) * max(Zb.shape[1:]) * np.finfo(float).eps
        U = U * (s > tol)[:, None, :]                                    # span(Z_i) only
        rank_Z += int(np.sum(s > tol))
        Wb -= U @ (np.swapaxes(U, 1, 2) @ Wb)
        R = np.linalg.qr(np.vstack([R, Wb.reshape(-1, Wb.shape[2])]), mode="r")
    return (R, rank_Z) if with_rank else R


#: The dense per-group check reads at most this many bytes of one group's Z_i,
#: and spends at most about this many flops on its SVD (n_i q^2): a crossed
#: design held as one group (n_i rows, q = all levels) is left to the verdict.
WITHIN_DENSE_BUDGET = 1 << 28
WITHIN_DENSE_FLOPS = 3e8


#: refuse_exact_fit_at: a residual quadratic form within this many times the
#: rounding of the statistics, eps |y| |y0|, cannot be told from an exact fit.
EXACT_FIT_STATS_FACTOR = 64


def refuse_exact_fit_at(model, phi, reml):
    """After the fit: refuse y fitted exactly by X and Z where the rows were not read before it.

    The profiled quadratic form at any covariance point bounds the within
    residual from above (eq:profiled-sigma2: qf = min over beta, b of
    |y - X beta - Z b|^2 + b' Psi^{-1} b >= min |y - X beta - Z b|^2). The
    statistics themselves carry the rounding of y: each y_i is known to
    eps |y_i|, so every sum of products with y0 = y - X b_ols (y0'y0, c_i)
    is known to about 2 eps |y| |y0| (Cauchy-Schwarz), however it is summed.
    A qf below EXACT_FIT_STATS_FACTOR times that (or below the rows' own
    threshold EXACT_FIT_TOL |y|, squared) says the residual cannot be told
    from zero: y is fitted exactly to within its rounding, the residual
    variance is rounding noise, and the likelihood is unbounded (or beyond
    what these statistics resolve). Where _check_within_residual read the rows
    before the fit it has already refused such data; this fires where that
    check was left to the fit: Dask statistics (distributed.py) and groups too
    large to read densely, whose rounded sums otherwise give sigma2 a spurious
    positive floor (found by tests/test_properties_dask.py: y constant within
    groups, shifted by 1e8, "converged" through Dask at sigma2 ~ 1e-8).
    """
    d, stats = model.design, model.stats
    norm_y = float(np.linalg.norm(d.y))
    norm_y0 = float(np.sqrt(max(stats.y0ty0, 0.0)))
    qf = float(model.point_sqrt(phi).qf)
    floor = max((EXACT_FIT_TOL * norm_y) ** 2,
                EXACT_FIT_STATS_FACTOR * np.finfo(float).eps * norm_y * norm_y0)
    if norm_y > 0 and qf <= floor:
        raise ValueError(
            f"endog is fitted exactly by the fixed and random effects to within its rounding "
            f"(found at the fitted point: the residual quadratic form {qf:.2e} is below "
            f"{floor:.2e}, the rounding of the sums of endog, |endog| = {norm_y:.2e}; e.g. "
            "endog is constant within every group and there is a random intercept): the "
            "residual variance would be 0 and the likelihood unbounded. Check endog, subtract "
            "a constant near its mean if it has a large offset (each digit of offset costs a "
            "digit of the residual), or use fewer random effects.")


def _check_within_residual(design):
    """y is not fitted exactly by the fixed and random effects together, when that is a proof.

    The least-squares residual of y on X and every group's Z_i is that of y_w
    on X_w (Frisch-Waugh-Lovell), read from within_residual_R. It must be
    decided to EXACT_FIT_TOL |y| = 1e-12 |y|, that is, in squares, to 1e-24
    |y|^2: the per-group statistics cannot tell that (y_i'y_i - c_i'A_i^+c_i
    keeps nothing below eps |y|^2 ~ 1e-16 |y|^2), so this check reads the rows.

    Why an exact fit is refused only when rank [X | Z] < n: if y - X b = Z u,
    hold D = sigma2 Psi fixed and positive definite and let sigma2 -> 0. The
    quadratic form r'(sigma2 I + Z D Z')^{-1} r stays bounded (r is in the
    range of Z D Z'), while log det(sigma2 I + Z D Z') -> -inf through the
    n - rank(Z) eigenvalues equal to sigma2 (for REML, n - rank [X | Z] of
    them): the likelihood is unbounded. When [X | Z] has rank n every y is
    fitted exactly and nothing follows; that is the business of
    _check_n_random_effects. A group too large for a dense Z_i (a crossed
    design held as one group) is not decided here but after the fit, by
    refuse_exact_fit_at.
    """
    q = design.layout.q
    sizes = np.bincount(design.group_index, minlength=design.n_groups)
    if sizes.max() * q * 8 > WITHIN_DENSE_BUDGET or sizes.max() * q * q > WITHIN_DENSE_FLOPS:
        return
    norm_y = np.linalg.norm(design.y)
    Rw, rank_Z = within_residual_R(design, with_rank=True)
    p = design.X.shape[1]
    norm_r = _lstsq_residual_norm(Rw[:, :p], Rw[:, p], design.n_obs)
    if norm_r > EXACT_FIT_TOL * norm_y:
        return
    rank_XZ = rank_Z + (np.linalg.matrix_rank(Rw[:, :p]) if p else 0)
    if rank_XZ >= design.n_obs:
        return
    raise ValueError(
        f"endog is fitted exactly by the fixed and random effects (residual "
        f"{norm_r:.2e} relative to |endog| = {norm_y:.2e}, e.g. endog is constant "
        "within every group and there is a random intercept): the residual variance would be 0 "
        "and the likelihood unbounded. Check endog, or use fewer random effects.")
