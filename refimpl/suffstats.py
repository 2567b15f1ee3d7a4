"""Per-group sufficient statistics: everything the likelihood needs from the data.

By Woodbury and the determinant lemma (book: eq:woodbury, eq:det-lemma) the
profiled log-likelihood, its score and its Hessian see the data only through

    A_i = Z_i'Z_i  (q x q),   B_i = Z_i'X_i  (q x p),   c_i = Z_i'y0_i  (q)
    X'X  (p x p),             X'y0  (p),                y0'y0             (eq:suffstats)

stacked over groups into arrays of shape (G, q, q), (G, q, p), (G, q). They are
computed once, in one pass over the rows, with ``np.bincount`` (a group sum
without a Python loop over groups).

OLS centering (eq:ols-centering). We store statistics of y0 = y - X b_ols, not
of y, where b_ols is the ordinary least-squares fit. The model is equivariant
under y -> y - X b (beta shifts by b, nothing else moves), so this is exact,
and it removes the cancellation that y'y - (...) suffers when y has a large
mean (y shifted by 1e8 would otherwise lose every digit of the quadratic form).
"""

from dataclasses import dataclass

import numpy as np


@dataclass
class SufficientStatistics:
    """The stacks of eq:suffstats plus the sizes they came from."""

    ZtZ: np.ndarray      # A_i, (G, q, q)
    ZtX: np.ndarray      # B_i, (G, q, p)
    Zty0: np.ndarray     # c_i, (G, q)
    XtX: np.ndarray      # (p, p)
    Xty0: np.ndarray     # (p,)   zero up to rounding: X'(y - X b_ols) = 0
    y0ty0: float         # residual sum of squares of the OLS fit
    beta_ols: np.ndarray  # b_ols, (p,)
    n_obs: int
    group_sizes: np.ndarray  # n_i, (G,)

    @property
    def n_groups(self):
        return self.ZtZ.shape[0]

    @property
    def k_fe(self):
        return self.XtX.shape[0]

    @property
    def q(self):
        return self.ZtZ.shape[1]


def group_sums(values, group_index, n_groups):
    """Sum the rows of ``values`` (n,) or (n, m) within each group: (G,) or (G, m)."""
    if values.ndim == 1:
        return np.bincount(group_index, weights=values, minlength=n_groups)
    if values.shape[1] == 0:
        return np.zeros((n_groups, 0))
    return np.stack([np.bincount(group_index, weights=values[:, j], minlength=n_groups)
                     for j in range(values.shape[1])], axis=-1).reshape(n_groups, values.shape[1])


def compute_sufficient_statistics(y, X, Z, group_index, n_groups):
    """Build the stacks of eq:suffstats in one pass over the rows.

    y (n,), X (n, p), Z (n, q) the padded random-effects design (layout.py),
    group_index (n,) integer codes 0..G-1.
    """
    y = np.asarray(y, float)
    X = np.asarray(X, float)
    Z = np.asarray(Z, float)
    n, p = X.shape
    q = Z.shape[1]

    # (eq:ols-centering) b_ols by a QR-based least-squares solve of the rows.
    beta_ols = np.linalg.lstsq(X, y, rcond=None)[0]
    y0 = y - X @ beta_ols

    ZtZ = np.zeros((n_groups, q, q))
    for a in range(q):
        for b in range(a + 1):
            ZtZ[:, a, b] = group_sums(Z[:, a] * Z[:, b], group_index, n_groups)
            ZtZ[:, b, a] = ZtZ[:, a, b]
    ZtX = np.zeros((n_groups, q, p))
    for a in range(q):
        ZtX[:, a, :] = group_sums(Z[:, a:a + 1] * X, group_index, n_groups)
    Zty0 = group_sums(Z * y0[:, None], group_index, n_groups)

    return SufficientStatistics(
        ZtZ=ZtZ, ZtX=ZtX, Zty0=Zty0,
        XtX=X.T @ X, Xty0=X.T @ y0, y0ty0=float(y0 @ y0),
        beta_ols=beta_ols, n_obs=n,
        group_sizes=np.bincount(group_index, minlength=n_groups),
    )
