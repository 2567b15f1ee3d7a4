"""Statistics of a crossed design, blocked by factor (eq:crossed-blocks).

statsmodels fits a crossed design as ONE group holding every row, with one
variance component per crossed factor. Its q random-effect columns are
thousands of level indicators, so the dense per-group stack of suffstats.py
(one q x q matrix A = Z'Z) stops being practical. But the indicators of one
factor have disjoint row supports (each row is in exactly one level), so that
factor's block of Z'Z is *diagonal*. We split the columns of Z in two:

    block 1: the variance component with the most columns among those whose
             columns have disjoint row supports (m1 columns)
    block 2: everything else: the correlated columns Z_re and the other
             components (q2 columns, kept dense)

and keep, from one pass over the rows (sparse products, no loop over levels):

    d1  = diag(Z_1'Z_1)               (m1,)      per-level sums of squares
    A21 = Z_2'Z_1                     (q2, m1)   sparse co-occurrence counts
    A22 = Z_2'Z_2                     (q2, q2)   dense
    B1  = Z_1'[X y0], B2 = Z_2'[X y0]             per-level sums
    X'X, X'y0, y0'y0, b_ols                       the dense totals

"Disjoint row supports" is read from the matrix itself (each row has at most one
nonzero among the component's columns), never from formula text, so `0 + C(f)`
and `0 + C(f):x` both qualify. blocked_cholesky.py factors
C = I + Lambda' Z'Z Lambda from these blocks.

Twin: suffstats.compute_sufficient_statistics on the same design (one group,
dense q x q); tests/test_blocked.py holds the two together.
"""

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from .layout import Layout
from .linalg import n_tril

#: A single group with at least this many random-effect columns goes the blocked way.
BLOCKED_MIN_Q = 50

#: Keep A21 dense when more than this fraction of its entries are nonzero.
DENSE_A21_FILL = 0.1

#: Refuse a crossed design whose dense q2 x q2 (and q2 x m1) work arrays pass this many bytes.
BLOCKED_MAX_BYTES = 3 * 2 ** 30


@dataclass
class BlockedStatistics:
    """The blocks of the module docstring plus the bookkeeping from layout order to block order."""

    layout: Layout          # the model's layout (parameter order)
    j1: int                 # the variance component in block 1
    cols1: np.ndarray       # its columns in the layout's Z order, (m1,)
    cols2: np.ndarray       # the other columns, (q2,)
    layout2: Layout         # block 2 as a layout of its own: k_re, then the other components
    d1: np.ndarray          # (m1,)
    A21: object             # (q2, m1): csr_array, or ndarray when dense (DENSE_A21_FILL)
    A22: np.ndarray         # (q2, q2)
    B1: np.ndarray          # (m1, p + 1): Z_1'[X y0]
    B2: np.ndarray          # (q2, p + 1)
    XtX: np.ndarray
    Xty0: np.ndarray
    y0ty0: float
    beta_ols: np.ndarray
    n_obs: int
    group_sizes: np.ndarray
    _cache: dict = field(default_factory=dict, repr=False)   # A12 and the row of each nonzero of A21

    @property
    def m1(self):
        return len(self.cols1)

    @property
    def q2(self):
        return len(self.cols2)

    @property
    def q(self):
        return self.m1 + self.q2

    @property
    def k_fe(self):
        return self.XtX.shape[0]

    @property
    def n_groups(self):
        return 1

    @property
    def param1(self):
        """Index in theta (and phi) of block 1's variance."""
        return n_tril(self.layout.k_re) + self.j1

    @property
    def params2(self):
        """Indices in theta of block 2's parameters, in layout2's order."""
        return np.array([k for k in range(self.layout.n_params) if k != self.param1], dtype=int)

    @property
    def ZtZ_diagonal(self):
        """diag(Z'Z) as a (1, q) stack in the layout's order (what checks.py reads; no dense Z'Z)."""
        return self.to_layout_order(self.d1, np.diag(self.A22))[None, :]

    @property
    def ZtX(self):
        """Z'X as a (1, q, p) stack in the layout's order."""
        return self.to_layout_order(self.B1[:, :-1], self.B2[:, :-1])[None]

    @property
    def Zty0(self):
        """Z'y0 as a (1, q) stack in the layout's order."""
        return self.to_layout_order(self.B1[:, -1], self.B2[:, -1])[None, :]

    @property
    def A12(self):
        """A21' (the co-occurrences seen from block 1), built once."""
        if "A12" not in self._cache:
            self._cache["A12"] = self.A21.T.copy() if isinstance(self.A21, np.ndarray) else sp.csr_array(self.A21.T)
        return self._cache["A12"]

    def A21_scaled(self, row_scale, col_scale):
        """diag(row_scale) A21 diag(col_scale), same storage: one multiply of the nonzeros."""
        A = self.A21
        if isinstance(A, np.ndarray):
            return row_scale[:, None] * A * col_scale[None, :]
        if "rows" not in self._cache:
            self._cache["rows"] = np.repeat(np.arange(A.shape[0]), np.diff(A.indptr))
        data = A.data * row_scale[self._cache["rows"]] * col_scale[A.indices]
        return sp.csr_array((data, A.indices, A.indptr), shape=A.shape)

    def A21_weighted_A12(self, w):
        """A21 diag(w) A21' as a dense (q2, q2) matrix, for a weight w per level of block 1."""
        return as_dense(self.A21_scaled(np.ones(self.q2), w) @ self.A12)

    def to_layout_order(self, v1, v2):
        """Put a block-1 part and a block-2 part (leading axis) back into the layout's column order."""
        out = np.empty((self.q,) + np.shape(v1)[1:])
        out[self.cols1] = v1
        out[self.cols2] = v2
        return out


def as_dense(A):
    """A as an ndarray (A21 is kept dense when most pairs of levels co-occur)."""
    return A if isinstance(A, np.ndarray) else A.toarray()


def z_parts(design):
    """(Z_re dense (n, k_re), Z_vc csr (n, sum vc_sizes)) of a design.

    Uses ``design.Z_re`` / ``design.Z_vc`` when the design carries them, else
    splits the dense ``design.Z`` at k_re.
    """
    k = design.layout.k_re
    if hasattr(design, "Z_vc") and hasattr(design, "Z_re"):
        return np.asarray(design.Z_re, float), sp.csr_array(design.Z_vc)
    Z = np.asarray(design.Z, float)
    return Z[:, :k], sp.csr_array(Z[:, k:])


def disjoint_components(layout, Z_vc):
    """Indices j of the variance components whose columns have disjoint row supports."""
    out = []
    for j in range(layout.k_vc):
        s = layout.vc_slots(j)
        sub = sp.csr_array(Z_vc[:, s.start - layout.k_re:s.stop - layout.k_re])
        sub.eliminate_zeros()
        if sub.shape[1] and np.all(np.diff(sub.indptr) <= 1):
            out.append(j)
    return out


def blocked_work_bytes(q2, m1):
    """Bytes of the dense work arrays of one Hessian: about 12 of q2 x q2 (none of q2 x m1)."""
    return 8 * 12 * q2 * q2


def blocked_plan(layout, Z_vc):
    """(j1, cols1, cols2) for a one-group design, or None if no component has disjoint supports."""
    return plan_from_components(layout, disjoint_components(layout, Z_vc))


def plan_from_components(layout, candidates):
    """blocked_plan given the disjoint components (dask_blocked.py reads them from per-row counts)."""
    if not candidates:
        return None
    j1 = max(candidates, key=lambda j: layout.vc_sizes[j])    # the factor with most levels
    s = layout.vc_slots(j1)
    cols1 = np.arange(s.start, s.stop)
    cols2 = np.array([c for c in range(layout.q) if not s.start <= c < s.stop], dtype=int)
    return j1, cols1, cols2


def refuse_if_too_big(layout, j1, q2, m1, max_bytes=BLOCKED_MAX_BYTES):
    """ValueError before any allocation when block 2 would not fit in memory."""
    need = blocked_work_bytes(q2, m1)
    if need > max_bytes:
        raise ValueError(
            f"crossed design too large for the blocked Cholesky factor: after the largest factor "
            f"(variance component {j1}, {m1} levels) the other random-effect columns number "
            f"q2 = {q2}, whose dense Schur complement and work arrays need {need / 2 ** 30:.1f} GB "
            f"(limit {max_bytes / 2 ** 30:.1f} GB). Drop a variance component with many levels, or "
            "make the factor with the most levels the one whose columns do not overlap in rows "
            "(reorder or recode the terms)")


def compute_blocked_statistics(y, X, Z_re, Z_vc, layout, max_bytes=BLOCKED_MAX_BYTES):
    """The blocks of the module docstring for ONE group holding every row.

    Z_re (n, k_re) dense, Z_vc (n, sum vc_sizes) sparse, in the layout's column order.
    Raises ValueError when no component qualifies for block 1, or when block 2
    would not fit in memory (refuse_if_too_big).
    """
    y = np.asarray(y, float)
    X = np.asarray(X, float)
    Z_vc = sp.csr_array(Z_vc, dtype=float)
    n, p = X.shape
    plan = blocked_plan(layout, Z_vc)
    if plan is None:
        raise ValueError("blocked statistics need a variance component whose columns have "
                         "disjoint row supports (the indicators of a factor); none has")
    j1, cols1, cols2 = plan
    refuse_if_too_big(layout, j1, len(cols2), len(cols1), max_bytes)

    # (eq:ols-centering), as in suffstats.py
    beta_ols = np.linalg.lstsq(X, y, rcond=None)[0]
    y0 = y - X @ beta_ols
    Xy0 = np.column_stack([X, y0])

    k = layout.k_re
    Z1 = sp.csc_array(Z_vc)[:, cols1 - k]
    Z2 = sp.hstack([sp.csr_array(Z_re), sp.csc_array(Z_vc)[:, cols2[cols2 >= k] - k]], format="csr")
    Z1 = sp.csr_array(Z1)
    d1 = np.asarray(Z1.multiply(Z1).sum(axis=0)).ravel()
    A21 = sp.csr_array(Z2.T @ Z1)
    A21.eliminate_zeros()
    if A21.nnz > DENSE_A21_FILL * A21.shape[0] * A21.shape[1]:
        A21 = A21.toarray()                 # a full cross: dense BLAS beats sparse loops
    A22 = np.asarray((Z2.T @ Z2).toarray())
    sizes2 = tuple(s for j, s in enumerate(layout.vc_sizes) if j != j1)
    return BlockedStatistics(
        layout=layout, j1=j1, cols1=cols1, cols2=cols2, layout2=Layout(k, sizes2),
        d1=d1, A21=A21, A22=A22,
        B1=np.asarray(Z1.T @ Xy0), B2=np.asarray(Z2.T @ Xy0),
        XtX=X.T @ X, Xty0=X.T @ y0, y0ty0=float(y0 @ y0), beta_ols=beta_ols, n_obs=n,
        group_sizes=np.array([n]),
    )


def use_blocked(design, Z_vc, min_q=BLOCKED_MIN_Q):
    """True for one group with >= min_q columns and a component with disjoint row supports."""
    lay = design.layout
    return (design.n_groups == 1 and lay.k_vc > 0 and lay.q >= min_q
            and blocked_plan(lay, Z_vc) is not None)
