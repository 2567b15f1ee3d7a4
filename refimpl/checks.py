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
    _check_n_random_effects(design)
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


def _check_n_random_effects(design):
    """lme4's check.nobs.vs.nRE: n <= (random effects of a term) is refused.

    With as many random effects as rows (every group of size 1 with a random
    intercept; k random slopes in groups of at most k rows) the term's
    variance and the residual variance are not separately identifiable.
    """
    n = design.n_obs
    for name, _, n_re in _terms(design):
        if n <= n_re:
            raise ValueError(
                f"number of observations ({n}) is not larger than the number of random effects "
                f"({n_re}) of {name} over {design.n_groups} groups: that term's variance and the "
                "residual variance cannot be told apart (e.g. every group has one row and a random "
                "intercept). Use fewer random effects, larger groups or fewer groups (lme4 refuses "
                "this too).")


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


def within_residual_R(design, chunk_rows=CHUNK_ROWS):
    """R factor of [X_w | y_w]: X and y with each group's span(Z_i) projected out.

    Group by group, U_i (an orthonormal basis of span(Z_i), from an SVD with
    numpy's matrix_rank rule: singular values below max(m, q) eps times the
    largest are zero) gives [X_i | y_i] - U_i U_i' [X_i | y_i]. The stacked
    rows are reduced chunk by chunk to their R (r_factor's identity), so the
    n-row [X_w | y_w] never exists at once.
    """
    X, y, Z = design.X, design.y, design.Z
    R = np.zeros((0, X.shape[1] + 1))
    for rows in group_batches(design.group_index, design.n_groups, chunk_rows):
        Zb = Z[rows]                                                     # (G_b, m, q)
        Wb = np.concatenate([X[rows], y[rows][:, :, None]], axis=2)      # [X_i | y_i], (G_b, m, p + 1)
        U, s, _ = np.linalg.svd(Zb, full_matrices=False)
        tol = s.max(axis=1, keepdims=True) * max(Zb.shape[1:]) * np.finfo(float).eps
        U = U * (s > tol)[:, None, :]                                    # span(Z_i) only
        Wb -= U @ (np.swapaxes(U, 1, 2) @ Wb)
        R = np.linalg.qr(np.vstack([R, Wb.reshape(-1, Wb.shape[2])]), mode="r")
    return R


def _check_within_residual(design):
    """y is not fitted exactly by the fixed and random effects together.

    The least-squares residual of y on X and every group's Z_i is that of y_w
    on X_w (Frisch-Waugh-Lovell), read from within_residual_R. It must be
    decided to EXACT_FIT_TOL |y| = 1e-12 |y|, that is, in squares, to 1e-24
    |y|^2: the per-group statistics cannot tell that (y_i'y_i - c_i'A_i^+c_i
    keeps nothing below eps |y|^2 ~ 1e-16 |y|^2), so this check reads the rows.
    """
    norm_y = np.linalg.norm(design.y)
    Rw = within_residual_R(design)
    p = design.X.shape[1]
    norm_r = _lstsq_residual_norm(Rw[:, :p], Rw[:, p], design.n_obs)
    if not norm_r > EXACT_FIT_TOL * norm_y:
        raise ValueError(
            f"endog is fitted exactly by the fixed and random effects (residual "
            f"{norm_r:.2e} relative to |endog| = {norm_y:.2e}, e.g. endog is constant "
            "within every group and there is a random intercept): the residual variance would be 0 "
            "and the likelihood unbounded. Check endog, or use fewer random effects.")
