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
"""

import warnings

import numpy as np

from .suffstats import group_sums


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


def _scaled_condition(A):
    """Condition number of A with its columns scaled to unit length (1 for no columns)."""
    if A.shape[1] == 0:
        return 1.0
    norms = np.linalg.norm(A, axis=0)
    s = np.linalg.svd(A / np.where(norms > 0, norms, 1.0), compute_uv=False)
    return float(s.max() / s.min()) if s.min() > 0 else np.inf


def check_conditioning(design):
    """Warn (ConditioningWarning) or refuse when X or Z_re is too badly conditioned.

    Scaling a column is harmless (the scaled condition number ignores it);
    near-collinearity is not, e.g. x + 1e6 next to an intercept.
    """
    kappa = _scaled_condition(design.X)
    if kappa > KAPPA_MAX:
        raise ValueError(
            f"exog is too badly conditioned (condition number {kappa:.1e} with its columns scaled to "
            f"length 1, above {KAPPA_MAX:g}): X'V^{{-1}}X would have condition number above 1e14 and "
            f"the estimates at most 2 correct digits. Centre the columns {design.exog_names} that are not the intercept (or "
            "remove near-collinear ones).")
    for name, k, names in (("exog", kappa, design.exog_names),
                           ("exog_re", _scaled_condition(design.Z[:, :design.layout.k_re]),
                            design.exog_re_names)):
        if k > KAPPA_WARN:
            warnings.warn(
                f"{name} is badly conditioned (condition number {k:.1e} with its columns scaled to "
                f"length 1): estimates may lose about {2 * np.log10(k):.0f} of their 16 digits, and "
                f"the fit may not converge. Centre the columns {names} that are not the intercept.",
                ConditioningWarning, stacklevel=6)


def check_estimable(design):
    """The fit has a unique, finite maximum to find, or a ValueError says why.

    Checked before fitting, not when the model is built: the likelihood,
    its score and its Hessian are well defined at any point of these designs
    (and the tests of those identities use some), only their maximum is not.

    1. lme4's ``check.nobs.vs.nRE``: n must exceed the number of random
       effects of each term.
    2. No random-effect term is confounded with the fixed effects.
    3. y is not fitted exactly by X and Z together (then the likelihood grows
       without bound as sigma2 -> 0).
    """
    _check_n_random_effects(design)
    _check_confounded(design)
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


def _check_confounded(design):
    """A term all of whose columns Z_i (every group) lie in span(X) has a flat REML likelihood.

    Example: one group and a random intercept next to a fixed intercept (the
    random intercept *is* the fixed one), or group dummies in exog. Its
    variance cannot be estimated (REML is flat in it; ML puts it at 0).
    """
    X, Z = design.X, design.Z
    if X.shape[1] == 0:
        return
    Q = np.linalg.qr(X)[0]
    G = design.n_groups
    for name, cols, _ in _terms(design):
        confounded, any_real = True, False
        for c in cols:
            zz = group_sums(Z[:, c] ** 2, design.group_index, G)               # |z_cg|^2
            zQ = group_sums(Z[:, c:c + 1] * Q, design.group_index, G)          # Q' z_cg, (G, p)
            resid = zz - np.sum(zQ ** 2, axis=1)
            real = zz > 0
            any_real |= bool(real.any())
            if np.any(resid[real] > CONFOUNDED_TOL * zz[real]):
                confounded = False
                break
        if not any_real:
            raise ValueError(f"the random effects of {name} have only zero columns in every "
                             "group; drop that term")
        if confounded:
            raise ValueError(
                f"the random effects of {name} are confounded with the fixed effects: in every one "
                f"of the {G} groups their columns lie in the span of exog (e.g. a random intercept "
                "with a single group, or group dummies in exog), so their variance cannot be "
                "estimated. Drop them from exog_re / re_formula / vc_formula, or drop the "
                "corresponding columns of exog.")


def _within_residual(design):
    """y and X with each group's span(Z_i) projected out, rows in group order."""
    rows_of = design.group_rows()
    sizes = np.array([len(r) for r in rows_of])
    YX = np.column_stack([design.y, design.X])
    out = []
    for m in np.unique(sizes):                      # groups of equal size, batched
        idx = np.stack([rows_of[g] for g in np.flatnonzero(sizes == m)])     # (Gm, m)
        Zg, Wg = design.Z[idx], YX[idx]                                    # (Gm, m, q), (Gm, m, 1+p)
        U, s, _ = np.linalg.svd(Zg, full_matrices=False)
        tol = s.max(axis=1, keepdims=True) * max(m, Zg.shape[2]) * np.finfo(float).eps
        U = U * (s > tol)[:, None, :]                                      # span(Z_i) only
        Wg = Wg - U @ (np.swapaxes(U, 1, 2) @ Wg)
        out.append(Wg.reshape(-1, Wg.shape[2]))
    return np.concatenate(out)


def check_response(design):
    """y is neither fitted exactly by X, nor by X and the random effects; its scale is usable."""
    y, X = design.y, design.X
    norm_y = np.linalg.norm(y)
    resid = y - X @ np.linalg.lstsq(X, y, rcond=None)[0] if X.shape[1] else y
    norm_r = np.linalg.norm(resid)
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


def _check_within_residual(design):
    """y is not fitted exactly by the fixed and random effects together."""
    norm_y = np.linalg.norm(design.y)
    W = _within_residual(design)
    yw, Xw = W[:, 0], W[:, 1:]
    rw = yw - Xw @ np.linalg.lstsq(Xw, yw, rcond=None)[0] if Xw.shape[1] else yw
    if not np.linalg.norm(rw) > EXACT_FIT_TOL * norm_y:
        raise ValueError(
            f"endog is fitted exactly by the fixed and random effects (residual "
            f"{np.linalg.norm(rw):.2e} relative to |endog| = {norm_y:.2e}, e.g. endog is constant "
            "within every group and there is a random intercept): the residual variance would be 0 "
            "and the likelihood unbounded. Check endog, or use fewer random effects.")
