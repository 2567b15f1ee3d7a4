"""Per-group sufficient statistics: everything the likelihood needs from the data.

By Woodbury and the determinant lemma (book: eq:woodbury, eq:det-lemma) the
profiled log-likelihood, its score and its Hessian see the data only through

    A_i = Z_i'Z_i  (q x q),   B_i = Z_i'X_i  (q x p),   c_i = Z_i'y0_i  (q)
    X'X  (p x p),             X'y0  (p),                y0'y0             (eq:suffstats)

stacked over groups into arrays of shape (G, q, q), (G, q, p), (G, q). They are
computed once, in one pass over the rows: row r contributes the outer product
z_r' [z_r | x_r | y0_r] (q x (q + p + 1)), and with the rows ordered by group
each group's sum is one ``np.add.reduceat`` over a contiguous block. The pass
goes in chunks of CHUNK_ROWS rows (fewer when q is large: at most
CHUNK_BYTES of products per chunk), so the row-wise products never occupy more
than a few megabytes, whatever n is. ``ZtX`` and ``Zty0`` are views into one
(G, q, p + 1) stack ``ZtXy0`` (the likelihood uses them side by side).
dense.dense_sufficient_statistics is the naive twin (a Python loop over groups).

:func:`compute_statistics` is where the model chooses: these stacks, or, for
one group holding a crossed design, the blocked statistics of blocked_stats.py
(likelihood, score, hessian, em and blup dispatch on the type it returns).

OLS centering (eq:ols-centering). We store statistics of y0 = y - X b_ols, not
of y, where b_ols is the ordinary least-squares fit. The model is equivariant
under y -> y - X b (beta shifts by b, nothing else moves), so this is exact,
and it removes the cancellation that y'y - (...) suffers when y has a large
mean (y shifted by 1e8 would otherwise lose every digit of the quadratic form).
"""

from dataclasses import dataclass, replace

import numpy as np


@dataclass
class SufficientStatistics:
    """The stacks of eq:suffstats plus the sizes they came from."""

    ZtZ: np.ndarray      # A_i, (G, q, q)
    ZtXy0: np.ndarray    # [B_i | c_i], (G, q, p + 1)
    XtX: np.ndarray      # (p, p)
    Xty0: np.ndarray     # (p,)   zero up to rounding: X'(y - X b_ols) = 0
    y0ty0: float         # residual sum of squares of the OLS fit
    beta_ols: np.ndarray  # b_ols, (p,)
    n_obs: int
    group_sizes: np.ndarray  # n_i, (G,)

    @property
    def ZtX(self):
        """B_i = Z_i'X_i, (G, q, p): a view into ZtXy0."""
        return self.ZtXy0[:, :, :-1]

    @property
    def Zty0(self):
        """c_i = Z_i'y0_i, (G, q): a view into ZtXy0."""
        return self.ZtXy0[:, :, -1]

    @property
    def ZtZ_diagonal(self):
        """diag(A_i) for every group, (G, q): all that checks.py needs of A_i (blocked stats have it too)."""
        return np.diagonal(self.ZtZ, axis1=1, axis2=2)

    @property
    def n_groups(self):
        return self.ZtZ.shape[0]

    @property
    def k_fe(self):
        return self.XtX.shape[0]

    @property
    def q(self):
        return self.ZtZ.shape[1]

    def take(self, groups):
        """The statistics of the groups in a slice (views, no copy); totals unchanged (group_chunks.py)."""
        return replace(self, ZtZ=self.ZtZ[groups], ZtXy0=self.ZtXy0[groups],
                       group_sizes=self.group_sizes[groups])


CHUNK_ROWS = 1 << 14   # rows per chunk of the one-pass construction (~1.3 MB of products for q = p = 2)
CHUNK_BYTES = 64 * 2 ** 20   # ... and at most this many bytes of row-wise products per chunk

#: compute_statistics refuses per-group stacks larger than this (bytes).
MAX_STACK_BYTES = 3 * 2 ** 30


def group_sums(values, group_index, n_groups):
    """Sum the rows of ``values`` (n,) or (n, m) within each group: (G,) or (G, m)."""
    if values.ndim == 1:
        return np.bincount(group_index, weights=values, minlength=n_groups)
    if values.shape[1] == 0:
        return np.zeros((n_groups, 0))
    return np.stack([np.bincount(group_index, weights=values[:, j], minlength=n_groups)
                     for j in range(values.shape[1])], axis=-1).reshape(n_groups, values.shape[1])


def sorted_by_group(group_index):
    """Row order that makes every group a contiguous block (None if it already is)."""
    if np.all(group_index[1:] >= group_index[:-1]):
        return None
    return np.argsort(group_index, kind="stable")


def compute_sufficient_statistics(y, X, Z, group_index, n_groups, chunk_rows=CHUNK_ROWS):
    """Build the stacks of eq:suffstats in one pass over the rows.

    y (n,), X (n, p), Z (n, q) the padded random-effects design (layout.py),
    group_index (n,) integer codes 0..G-1.
    """
    y = np.asarray(y, float)
    X = np.asarray(X, float)
    Z = np.asarray(Z, float)
    group_index = np.asarray(group_index)
    n, p = X.shape
    q = Z.shape[1]

    # (eq:ols-centering) b_ols by a QR-based least-squares solve of the rows.
    beta_ols = np.linalg.lstsq(X, y, rcond=None)[0]
    y0 = y - X @ beta_ols

    # Row r adds z_r' [z_r | x_r | y0_r] to its group's (q, q + p + 1) block.
    chunk_rows = int(max(1, min(chunk_rows, CHUNK_BYTES // (8 * max(q * (q + p + 1), 1)))))
    order = sorted_by_group(group_index)
    sums = np.zeros((n_groups, q, q + p + 1))
    for start in range(0, n, chunk_rows):
        rows = slice(start, min(start + chunk_rows, n)) if order is None else order[start:start + chunk_rows]
        g, Zr = group_index[rows], Z[rows]
        D = np.concatenate([Zr, X[rows], y0[rows, None]], axis=1)        # [z_r | x_r | y0_r]
        outer = Zr[:, :, None] * D[:, None, :]                           # (rows, q, q + p + 1)
        first = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])              # where each group's block starts
        sums[g[first]] += np.add.reduceat(outer, first, axis=0)          # a group may span two chunks

    return SufficientStatistics(
        ZtZ=np.ascontiguousarray(sums[:, :, :q]), ZtXy0=np.ascontiguousarray(sums[:, :, q:]),
        XtX=X.T @ X, Xty0=X.T @ y0, y0ty0=float(y0 @ y0),
        beta_ols=beta_ols, n_obs=n,
        group_sizes=np.bincount(group_index, minlength=n_groups),
    )


def compute_statistics(design, blocked=None):
    """The statistics the likelihood reads, for this design: the dispatch point.

    One group holding a crossed design (a variance component whose columns are
    a factor's indicators, and at least blocked_stats.BLOCKED_MIN_Q columns)
    gets blocked_stats.BlockedStatistics; every other design gets the per-group
    stacks of :func:`compute_sufficient_statistics`. ``blocked=True`` / ``False``
    forces the choice (the tests hold the two together on small designs).
    likelihood.evaluate, score and hessian dispatch on the type returned.
    """
    from . import blocked_stats

    Z_re, Z_vc = blocked_stats.z_parts(design)
    if blocked is None:
        blocked = blocked_stats.use_blocked(design, Z_vc)
    if not blocked:
        lay, p = design.layout, design.X.shape[1]
        need = 8 * design.n_groups * lay.q * (lay.q + p + 1)
        if need > MAX_STACK_BYTES:
            raise ValueError(
                f"the per-group statistics of this design would need {need / 2 ** 30:.1f} GB "
                f"({design.n_groups} groups x q = {lay.q} random-effect columns): refimpl does not "
                "densify them. A crossed design goes the blocked way only when it is one group and "
                "one variance component is the indicators of a factor (each row in one level); "
                "recode a term that way, or drop a term with many levels")
    if blocked:
        if design.n_groups != 1:
            raise ValueError(f"blocked=True needs one group holding every row, got {design.n_groups} groups")
        return blocked_stats.compute_blocked_statistics(design.y, design.X, Z_re, Z_vc, design.layout)
    return compute_sufficient_statistics(design.y, design.X, design.Z, design.group_index,
                                         design.n_groups)
