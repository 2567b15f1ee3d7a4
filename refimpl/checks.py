"""What data must satisfy before a model can be fitted, beyond being well formed.

design.py refuses malformed input (shapes, NaN, a rank-deficient X). The
checks here are about *numbers*: whether double precision can carry the
likelihood, and whether its maximum exists and is unique. Each one either
passes, warns (:class:`ConditioningWarning`) or raises a ValueError that names
the input and the fix. tests/robustness_catalogue.md lists every case.

When the model is built (design.py calls them):
    check_magnitudes     a column whose squares overflow or underflow
    check_conditioning   X near-collinear (warn, or refuse beyond KAPPA_MAX)
    check_response       y fitted exactly by X; y's scale out of range
Before each fit (``MixedLM.fit`` calls check_estimable, in estimable.py):
    the covariance parameters not identifiable (refuse; n <= random effects
        of a term, lme4's check.nobs.vs.nRE, only warns)
    a random-effect term confounded with the fixed effects
    y fitted exactly by X and Z with rank [X | Z] < n (the likelihood is unbounded)
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

#: Every column's length (root sum of squares) must lie in this range: its sum of squares
#: must neither overflow (1e155 squared is inf) nor underflow to subnormals.
MAGNITUDE_RANGE = (1e-140, 1e150)

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

def check_magnitudes(names, R, Z_vc, vc_names, vc_sizes):
    """Refuse a column whose squares overflow or underflow double precision, naming it.

    Every later step sums squares of columns (Z'Z, X'X, the likelihood). A
    value above ~1e154 squares to inf and one below ~1e-154 to a subnormal or
    0, and the damage then shows up far away ("fitted exactly", "linearly
    dependent", a failed Cholesky). So each column's length |w_j| (root sum of
    squares) must lie in MAGNITUDE_RANGE; a zero column is judged elsewhere.
    The lengths of X, y and Z_re are those of the columns of design.R
    (r_factor: W'W = R'R; LAPACK's Householder norms are computed without
    overflow); Z_vc's come from its stored values. names maps "endog",
    "exog", "exog_re" to their column names, in the order of R's columns
    [X | y | Z_re].
    """
    lo, hi = MAGNITUDE_RANGE
    labels = ([f"exog column {c!r}" for c in names["exog"]] + [f"endog column {names['endog'][0]!r}"]
              + [f"exog_re column {c!r}" for c in names["exog_re"]])
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        top = np.abs(R).max(axis=0, initial=0.0)
        unit = R / np.where(top > 0, top, 1.0)                       # scaled: squares neither over- nor underflow
        lengths = top * np.sqrt(np.einsum("ij,ij->j", unit, unit))
    for what, m in zip(labels, lengths):
        _refuse_magnitude(what, m, lo, hi)
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
    m = np.inf if np.isnan(m) else m
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


# The pre-fit checks live in estimable.py; their names are kept here too.
from .estimable import (SCREEN_KAPPA_MAX, SCREEN_NULL_BAND, SCREEN_RSS_FRACTION, WITHIN_DENSE_BUDGET,  # noqa: E402,F401
                        _check_confounded, _check_n_random_effects, _check_within_residual,
                        check_estimable, confounding_residuals, covariance_gram_smallest_eigenvalue,
                        within_residual_clearly_positive, within_residual_R)
