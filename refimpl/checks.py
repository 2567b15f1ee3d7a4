"""What data must satisfy before a model can be fitted, beyond being well formed.

design.py refuses malformed input (shapes, NaN, a rank-deficient X). The
checks here are about *numbers*: whether double precision can carry the
likelihood, and whether its maximum exists and is unique. Each one either
passes, warns (:class:`ConditioningWarning`) or raises a ValueError that names
the input and the fix. tests/robustness_catalogue.md lists every case.

When the model is built (design.py calls them):
    check_conditioning   X near-collinear (warn, or refuse beyond KAPPA_MAX)
    check_response       y fitted exactly by X; y's scale out of range
Before each fit (``MixedLM.fit`` calls check_estimable):
    n <= random effects of a term (lme4's check.nobs.vs.nRE)
    a random-effect term confounded with the fixed effects
    y fitted exactly by X and Z together (the likelihood is unbounded)
The second group waits for the fit because the likelihood and its derivatives
are well defined at every point of those designs; only their maximum is not.

No check copies the n-row matrices (issue #8: a fit must stay within a few
times the memory of its input). They read, instead:

* ``design.R``, the R of a QR factorization of [X | y | Z_re] computed in
  chunks of rows (:func:`r_factor`): ranks, condition numbers, and the
  residual of y given X;
* the per-group statistics A_i = Z_i'Z_i and B_i = Z_i'X_i (suffstats.py):
  whether a term is confounded with X;
* whole groups of rows, a chunk at a time (:func:`group_batches`): the
  residual of y given X and every Z_i, which needs the rows themselves.

tests/test_checks_fast.py holds each of these to the direct computation on
the full matrices (SVDs, a Q of X, every group's projection).
"""

import warnings

import numpy as np

from .suffstats import CHUNK_ROWS, sorted_by_group


class IdentifiabilityWarning(UserWarning):
    """Weakly determined variance parameters: as many random effects as rows, say (lme4 refuses)."""


class ConditioningWarning(UserWarning):
    """The numbers are badly conditioned for double precision: estimates lose digits.

    Issued for a near-collinear exog or exog_re (here) and, after a fit, when the
    random effects explain nearly all of y's variation (model.py); the message
    says how many of the 16 digits are left, and what to do.
    """


#: Scaled condition number of exog (columns of unit length) above which we warn,
#: and above which we refuse. The likelihood sees X through X'V^{-1}X, whose
#: condition number is the square: estimates lose about 2 log10(kappa) digits.
#: A column with a large offset next to an intercept is the usual cause.
KAPPA_WARN = 1e5
KAPPA_MAX = 1e7

#: y counts as fitted exactly when its residual is below this fraction of |y|:
#: its rounding error (relative eps ~ 2e-16), amplified a little by the fit.
EXACT_FIT_TOL = 1e-12

#: A column of Z in span(X) to within this relative residual (squared norm).
CONFOUNDED_TOL = 1e-10

#: The covariance matrices I, Z E_k Z' count as linearly dependent when their
#: unit-diagonal Gram matrix has an eigenvalue below this (it is computed from
#: sums of squares, so to about eps times its largest eigenvalue, K + 1 at most).
IDENTIFIABILITY_TOL = 1e-10

#: Every column's largest |value| must lie in this range: sums of n squares
#: must neither overflow (1e154 squared is inf) nor underflow to subnormals.
MAGNITUDE_RANGE = (1e-140, 1e140)

#: The spread of y must lie within these bounds: sums of squares of y (and
#: derivatives with powers of sigma2) must neither overflow nor underflow.
Y_SCALE_RANGE = (1e-100, 1e100)


# --------------------------------------------------------------------------
# The summaries the checks read instead of the n-row matrices
# --------------------------------------------------------------------------

def r_factor(*blocks, chunk_rows=CHUNK_ROWS):
    """R of a QR factorization W = QR, W = the blocks side by side, without forming W.

    Each block is (n,) or (n, k). The rows go in chunks (TSQR): the R of the
    rows so far, stacked on the next chunk, is factored again, which is a QR
    of all the rows seen, since [W_1; W_2] = blockdiag(Q_1, I) [R_1; W_2].

    Why R can stand in for W: W'W = R'R, so for any set S of columns W_S and
    R_S = R[:, S] have the same singular values and right singular vectors
    (rank, condition number, also with columns scaled to unit length), and a
    least-squares fit among columns of W has the same residual norm among
    those of R. Accuracy: Householder QR is backward stable column by column
    (Higham, Accuracy and Stability of Numerical Algorithms, Thm 19.4): R is
    the exact factor of W + dW with |dW_j| <= c eps |W_j| for every column j,
    a perturbation of the size of W's own rounding; so a rank or condition
    number judged on R is judged to within rounding, as an SVD of W would. (The
    Gram matrix W'W would not do: it squares the condition number.)
    """
    n = len(blocks[0])
    R = np.zeros((0, sum(1 if b.ndim == 1 else b.shape[1] for b in blocks)))
    for start in range(0, n, chunk_rows):
        rows = np.column_stack([b[start:start + chunk_rows] for b in blocks])
        R = np.linalg.qr(np.vstack([R, rows]), mode="r")
    return R


def _lstsq_residual_norm(Ra, rb, n_rows):
    """|b - A x| at the least-squares x, from the R factor [Ra | rb] of [A | b].

    A = Q Ra and b = Q rb, so b - A x = Q (rb - Ra x), of the same norm.
    numpy's default rank rule for A (n_rows x p), singular values below
    eps max(n_rows, p) times the largest count as zero, is kept by giving
    lstsq that rcond (its default would use R's few rows).
    """
    if Ra.shape[1] == 0:
        return float(np.linalg.norm(rb))
    rcond = np.finfo(float).eps * max(n_rows, Ra.shape[1])
    x = np.linalg.lstsq(Ra, rb, rcond=rcond)[0]
    return float(np.linalg.norm(rb - Ra @ x))


def group_batches(group_index, n_groups, chunk_rows=CHUNK_ROWS):
    """Yield the row indices of whole groups as (G_b, m) arrays: G_b groups of m rows each.

    Groups are visited by size, so equal-sized groups come together (one
    batched call of np.linalg per batch), about chunk_rows rows at a time (a
    larger group comes alone). Every row appears in exactly one batch.
    """
    sizes = np.bincount(group_index, minlength=n_groups)
    order = sorted_by_group(group_index)                # rows grouped (None: they already are)
    first = np.cumsum(sizes) - sizes                    # where each group starts in that order
    by_size = np.argsort(sizes, kind="stable")
    sorted_sizes = sizes[by_size]
    start = 0
    while start < n_groups:
        m = sorted_sizes[start]
        stop = min(np.searchsorted(sorted_sizes, m, side="right"), start + max(1, chunk_rows // m))
        positions = first[by_size[start:stop], None] + np.arange(m)
        yield positions if order is None else order[positions]
        start = stop


def _scaled_condition(A):
    """Condition number of A with its columns scaled to unit length (1 for no columns).

    A may be a block of ``design.R`` standing for columns of the data (r_factor).
    """
    if A.shape[1] == 0:
        return 1.0
    norms = np.linalg.norm(A, axis=0)
    s = np.linalg.svd(A / np.where(norms > 0, norms, 1.0), compute_uv=False)
    return float(s.max() / s.min()) if s.min() > 0 else np.inf


# --------------------------------------------------------------------------
# At build
# --------------------------------------------------------------------------

def check_magnitudes(names, y, X, Z_re, Z_vc, vc_names, vc_sizes):
    """Refuse a column whose squares overflow or underflow double precision, naming it.

    Every later step sums squares of columns (Z'Z, X'X, QR norms). A value
    above ~1e154 squares to inf and one below ~1e-154 to a subnormal or 0, and
    the damage then shows up far away ("fitted exactly", "linearly dependent",
    a failed Cholesky). So each column's largest |value| must lie in
    MAGNITUDE_RANGE (a zero column is judged elsewhere). names maps "endog",
    "exog", "exog_re" to their column names.
    """
    lo, hi = MAGNITUDE_RANGE
    blocks = [("endog", names["endog"], np.abs(y)[:, None]), ("exog", names["exog"], np.abs(X)),
              ("exog_re", names["exog_re"], np.abs(Z_re))]
    for role, cols, A in blocks:
        if A.shape[1] == 0:
            continue
        big = A.max(axis=0)
        for j, m in enumerate(big):
            _refuse_magnitude(f"{role} column {cols[j]!r}", m, lo, hi)
    if Z_vc.shape[1]:
        slot_max = abs(Z_vc).max(axis=0).toarray().ravel()
        start = 0
        for name, m in zip(vc_names, vc_sizes):
            _refuse_magnitude(f"variance component {name!r}", slot_max[start:start + m].max(initial=0.0),
                              lo, hi)
            start += m


def _refuse_magnitude(what, m, lo, hi):
    if m == 0 or lo <= m <= hi:
        return
    kind = "overflow" if m > hi else "underflow"
    raise ValueError(
        f"{what} has values of size {m:.1e}, outside [{lo:g}, {hi:g}]: its squares would {kind} "
        "in double precision and every later step (QR, Z'Z, the likelihood) would be wrong. "
        "Rescale that column (multiply by a power of 10; estimates rescale exactly).")


def check_conditioning(design):
    """Warn (ConditioningWarning) or refuse when X or Z_re is too badly conditioned.

    Scaling a column is harmless (the scaled condition number ignores it);
    near-collinearity is not, e.g. x + 1e6 next to an intercept. Both numbers
    are read from design.R (r_factor: the same singular values as X, Z_re).
    """
    p = design.X.shape[1]
    kappa = _scaled_condition(design.R[:, :p])
    if kappa > KAPPA_MAX:
        raise ValueError(
            f"exog is too badly conditioned (condition number {kappa:.1e} with its columns scaled to "
            f"length 1, above {KAPPA_MAX:g}): X'V^{{-1}}X would have condition number above 1e14 and "
            f"the estimates at most 2 correct digits. Centre the columns {design.exog_names} that are not the intercept (or "
            "remove near-collinear ones).")
    for name, k, names in (("exog", kappa, design.exog_names),
                           ("exog_re", _scaled_condition(design.R[:, p + 1:]), design.exog_re_names)):
        if k > KAPPA_WARN:
            warnings.warn(
                f"{name} is badly conditioned (condition number {k:.1e} with its columns scaled to "
                f"length 1): estimates may lose about {2 * np.log10(k):.0f} of their 16 digits, and "
                f"the fit may not converge. Centre the columns {names} that are not the intercept.",
                ConditioningWarning, stacklevel=6)


def check_response(design):
    """y is neither fitted exactly by X, nor by X and the random effects; its scale is usable."""
    y, p = design.y, design.X.shape[1]
    norm_y = np.linalg.norm(y)
    # |y - X b_ols| from the R of [X | y], the leading p + 1 columns of design.R
    norm_r = _lstsq_residual_norm(design.R[:p + 1, :p], design.R[:p + 1, p], len(y))
    if not norm_r > EXACT_FIT_TOL * norm_y:
        raise ValueError(
            f"endog is fitted exactly by the fixed effects (residual {norm_r:.2e} relative to "
            f"|endog| = {norm_y:.2e}, e.g. endog is constant and exog has an intercept): the "
            "residual variance would be 0 and the likelihood unbounded. Check endog.")
    spread = norm_r / np.sqrt(len(y))
    lo, hi = Y_SCALE_RANGE
    if not lo <= spread <= hi:
        raise ValueError(
            f"endog has a scale (residual root mean square {spread:.1e}) outside the range "
            f"[{lo:g}, {hi:g}] where its sums of squares are safe in double precision; multiply "
            "endog by a power of 10 (estimates scale with it exactly: fe_params by a, cov_re, "
            "vcomp and scale by a**2).")


# --------------------------------------------------------------------------
# Before the first fit
# --------------------------------------------------------------------------

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
    _check_within_residual(design)


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


def confounding_residuals(design, stats):
    """(zz, resid), each (G, q): |z_cg|^2 and |z_cg - P_X z_cg|^2 for every column c of every Z_i.

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
    G, q = stats.ZtZ.shape[:2]
    zz = np.diagonal(stats.ZtZ, axis1=1, axis2=2)             # A_g[c, c], (G, q)
    b = (stats.ZtX / norms).reshape(G * q, p).T               # X'z_cg with unit columns, (p, G q)
    u = np.linalg.solve((R_X / norms).T, b)                   # R_X^{-T} b
    return zz, zz - np.sum(u ** 2, axis=0).reshape(G, q)


def _check_confounded(design, stats):
    """A term all of whose columns Z_i (every group) lie in span(X) has a flat REML likelihood.

    Example: one group and a random intercept next to a fixed intercept (the
    random intercept *is* the fixed one), or group dummies in exog. Its
    variance cannot be estimated (REML is flat in it; ML puts it at 0).
    """
    if design.X.shape[1] == 0:
        return
    zz_all, resid_all = confounding_residuals(design, stats)
    G = design.n_groups
    for name, cols, _ in _terms(design):
        zz, resid = zz_all[:, cols], resid_all[:, cols]
        real = zz > 0                                         # padding slots are zero columns
        if not real.any():
            raise ValueError(f"the random effects of {name} have only zero columns in every "
                             "group; drop that term")
        if np.all(resid[real] <= CONFOUNDED_TOL * zz[real]):
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


#: The dense per-group check reads at most this many bytes of one group's Z_i.
WITHIN_DENSE_BUDGET = 1 << 28


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
    design held as one group) is not decided here: the fit's own verdict
    sees sigma2 -> 0.
    """
    q = design.layout.q
    sizes = np.bincount(design.group_index, minlength=design.n_groups)
    if sizes.max() * q * 8 > WITHIN_DENSE_BUDGET:
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
