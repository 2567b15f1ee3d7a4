"""The Design: the model matrices y, X, Z_re, Z_vc, the grouping and the names.

The two entry points build one:

* :func:`design_from_arrays` (``MixedLM(endog, exog, groups, exog_re, exog_vc)``,
  refimpl/inputs.py), and
* :func:`design_from_formula` (``MixedLM.from_formula``, refimpl/formula.py),

with statsmodels' names and meanings, refusing bad input with a ValueError or
TypeError that names the input and the fix. Both end in :func:`finish`, which
runs the checks that every design must pass (here and in checks.py).
Everything downstream may assume a clean, full-rank design.

The random-effects design of row r is [Z_re[r] | Z_vc[r]]: k_re dense columns
(exog_re / re_formula) and the variance-component slots (eq:vc-padding), kept
as a sparse matrix because a crossed design (one group, a component per
factor) would be a dense n x (levels) matrix. :attr:`Design.Z` gives the dense
[Z_re | Z_vc] for small designs (the dense twins, tests, the book).
"""

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from . import checks
from .layout import Layout

#: Design.Z refuses to build a dense Z larger than this many bytes.
DENSE_Z_MAX_BYTES = 1 << 30


@dataclass(eq=False, init=False)
class Design:
    """The model matrices, the grouping, and the names results are indexed by.

    Contract (read by suffstats / the blocked statistics):
      y            (n,) float ndarray
      X            (n, p) float ndarray
      Z_re         (n, k_re) float ndarray: the correlated random-effects columns
      Z_vc         scipy.sparse.csr_array (n, sum(layout.vc_sizes)), float, canonical
                   (sorted indices, no duplicates, no explicit zeros): column
                   layout.vc_slots(j)[k] of row r is the k-th column of component j
                   in row r's group (zero where that group has fewer columns)
      group_index  (n,) intp codes 0..G-1 into group_labels
      vc_counts    (G, k_vc) intp: how many real (unpadded) columns component j has in group g
    """

    y: np.ndarray
    X: np.ndarray
    Z_re: np.ndarray
    Z_vc: sp.csr_array
    group_index: np.ndarray
    group_labels: list            # sorted distinct labels (statsmodels' order)
    layout: Layout
    exog_names: list
    exog_re_names: list
    vc_names: list = field(default_factory=list)
    vc_column_names: list = field(default_factory=list)   # [vc][group] -> list of names
    n_dropped: int = 0
    endog_name: str = "y"
    vc_counts: np.ndarray = None
    R: np.ndarray = None          # R of [X | y | Z_re] = QR (checks.r_factor): what rank checks read
    # pandas Index of the kept rows when endog/exog or the formula data were pandas, else None:
    # results then answer in pandas (statsmodels' "pandas in, pandas out")
    row_labels: object = None
    # from_formula only: {formula, re_formula, vc_formula, groups, fe_info, re_info} (patsy
    # DesignInfo's), so results.predict can build X and Z for a new DataFrame
    formula_info: dict = None
    _Z: np.ndarray = field(default=None, init=False, repr=False)

    def __init__(self, y, X, Z_re=None, Z_vc=None, group_index=None, group_labels=None, layout=None,
                 exog_names=None, exog_re_names=None, vc_names=(), vc_column_names=(), n_dropped=0,
                 endog_name="y", vc_counts=None, R=None, Z=None, row_labels=None, formula_info=None):
        """The fields above; ``Z=`` (a dense [Z_re | Z_vc], the old constructor) is split into both."""
        if Z is not None:                      # dataclasses.replace(design, Z=...) of older callers
            Z = np.asarray(Z, dtype=float)
            Z_re, Z_vc = Z[:, :layout.k_re].copy(), sp.csr_array(Z[:, layout.k_re:])
        self.y, self.X, self.Z_re, self.Z_vc = y, X, Z_re, Z_vc
        self.group_index, self.group_labels, self.layout = group_index, group_labels, layout
        self.exog_names, self.exog_re_names = exog_names, exog_re_names
        self.vc_names, self.vc_column_names = list(vc_names), list(vc_column_names)
        self.n_dropped, self.endog_name, self.vc_counts, self.R = n_dropped, endog_name, vc_counts, R
        self.row_labels, self.formula_info = row_labels, formula_info
        self._Z = None
        if self.vc_counts is None:
            self.vc_counts = np.zeros((self.n_groups, len(self.vc_column_names)), dtype=np.intp)
            for j, cols in enumerate(self.vc_column_names):
                self.vc_counts[:, j] = [len(names) for names in cols]

    @property
    def Z(self):
        """The dense (n, q) [Z_re | Z_vc] (cached); a ValueError when it would pass ~1 GB."""
        if self._Z is None:
            n, q = self.n_obs, self.layout.q
            if n * q * 8 > DENSE_Z_MAX_BYTES:
                raise ValueError(
                    f"the design is large: a dense Z would be {n} x {q} ({n * q * 8 / 2**30:.1f} GiB). "
                    "Read design.Z_re (dense) and design.Z_vc (sparse) instead, or design.Z_rows(rows) "
                    "for a block of rows; the sufficient statistics are built from those.")
            self._Z = (np.hstack([self.Z_re, self.Z_vc.toarray()]) if self.Z_vc.shape[1]
                       else self.Z_re)
        return self._Z

    def Z_rows(self, rows):
        """Dense [Z_re | Z_vc] of the given rows (an index array of any shape, e.g. (G_b, m))."""
        rows = np.asarray(rows)
        flat = rows.ravel()
        Zr = self.Z_re[flat]
        if self.Z_vc.shape[1]:
            Zr = np.hstack([Zr, self.Z_vc[flat].toarray()])
        return Zr.reshape(rows.shape + (self.layout.q,))

    def real_slot_mask(self, groups=slice(None)):
        """(G, q) True where a column of the padded Z_i is real, False where it is padding.

        ``groups``: a slice of the groups (a chunk, group_chunks.py) to give only their rows.
        """
        mask = np.ones((len(range(self.n_groups)[groups]), self.layout.q), dtype=bool)
        for j in range(self.layout.k_vc):
            s = self.layout.vc_slots(j)
            mask[:, s] = np.arange(self.layout.vc_sizes[j])[None, :] < self.vc_counts[groups, j:j + 1]
        return mask

    @property
    def n_obs(self):
        return len(self.y)

    @property
    def n_groups(self):
        return len(self.group_labels)

    def group_rows(self):
        """Row indices of each group, in group order (used by dense twins and BLUPs)."""
        order = np.argsort(self.group_index, kind="stable")
        bounds = np.cumsum(np.bincount(self.group_index, minlength=self.n_groups))[:-1]
        return np.split(order, bounds)


# --------------------------------------------------------------------------
# The entry points (their code is in inputs.py and formula.py)
# --------------------------------------------------------------------------

def design_from_arrays(endog, exog, groups, exog_re=None, exog_vc=None, missing="none",
                       group_name="Group"):
    """statsmodels' ``MixedLM(endog, exog, groups, exog_re, exog_vc)``: see inputs.py."""
    from .inputs import design_from_arrays as build
    return build(endog, exog, groups, exog_re=exog_re, exog_vc=exog_vc, missing=missing,
                 group_name=group_name)


def design_from_formula(formula, data, groups, re_formula=None, vc_formula=None, missing="none"):
    """statsmodels' ``MixedLM.from_formula``: see formula.py."""
    from .formula import design_from_formula as build
    return build(formula, data, groups, re_formula=re_formula, vc_formula=vc_formula,
                 missing=missing, _depth=1)


# --------------------------------------------------------------------------
# Checks every design passes, whichever entry point built it
# --------------------------------------------------------------------------

def finish(y, X, Z_re, Z_vc, group_index, labels, exog_names, re_names, vc_names, vc_sizes,
           vc_colnames, n_dropped, vc_counts=None, endog_name="y", row_labels=None,
           formula_info=None):
    """Assemble the Design and run the build-time checks on it."""
    # Every rank and conditioning check reads the small R of [X | y | Z_re] = QR,
    # not the n-row matrices (checks.r_factor says why that is exact and as accurate).
    with np.errstate(all="ignore"):                       # huge columns: refused just below
        R = checks.r_factor(X, y, Z_re)
    names = {"endog": [str(endog_name)], "exog": list(exog_names), "exog_re": list(re_names)}
    checks.check_magnitudes(names, R, Z_vc, vc_names, vc_sizes)
    _check_full_rank(R[:, :X.shape[1]], len(y), exog_names)
    design = Design(
        y=y, X=X, Z_re=Z_re, Z_vc=Z_vc, group_index=group_index, group_labels=labels,
        layout=Layout(Z_re.shape[1], tuple(int(s) for s in vc_sizes)),
        exog_names=list(exog_names), exog_re_names=list(re_names), vc_names=list(vc_names),
        vc_column_names=vc_colnames, n_dropped=n_dropped, endog_name=str(endog_name), R=R,
        vc_counts=vc_counts, row_labels=row_labels, formula_info=formula_info,
    )
    _check_identifiable(design)
    return design


def _check_full_rank(R_X, n, names):
    """Raise naming the columns of X that are linear combinations of the others.

    "Linear combination" is judged to within rounding, after scaling every
    column to length 1 (so a column's units do not matter): a singular value
    below max(n, p) eps times the largest counts as zero (numpy's matrix_rank
    rule), so a column like x + 1e16 next to an intercept is refused here;
    milder near-collinearity is checks.check_conditioning's. lme4 drops such
    columns with a message; we refuse and say which, so nothing is dropped
    silently. R_X, the R of X = QR (checks.r_factor), has X's singular values
    and right singular vectors, and its columns have X's lengths.
    """
    p = R_X.shape[1]
    if p == 0:
        return
    if n < p:
        raise ValueError(f"exog has {p} columns but only {n} rows: the fixed effects "
                         f"{list(names)} cannot all be estimated; drop columns or add data")
    norms = np.linalg.norm(R_X, axis=0)
    Xs = R_X / np.where(norms > 0, norms, 1.0)       # unit columns: a column's units do not matter
    _, s, Vt = np.linalg.svd(Xs, full_matrices=False)
    tol = s.max() * max(n, p) * np.finfo(float).eps
    rank = int(np.sum(s > tol))
    if rank < p:
        null = Vt[rank:]
        involved = [names[j] for j in range(p) if np.any(np.abs(null[:, j]) > 1e-8)]
        cond = s.max() / s.min() if s.min() > 0 else np.inf
        raise ValueError(f"the fixed-effects design is rank deficient (rank {rank} < {p} columns); "
                         f"to within rounding (condition number {cond:.1e}) these columns are "
                         f"linearly dependent: {involved}. Drop one of them (or centre a column "
                         "with a large offset).")


def _check_identifiable(design):
    """The likelihood is defined for these data, or a ValueError says why.

    In order: there are random effects; enough rows for the parameters; the
    random-effects columns are linearly independent; y is not fitted exactly
    by X (then sigma2 = 0 at every point); and y's spread is within the range
    double precision can square. What only a *fit* needs (the maximum exists
    and is unique) is :func:`checks.check_estimable`, called by ``MixedLM.fit``.
    """
    lay = design.layout
    if lay.q == 0 or (not np.any(design.Z_re) and design.Z_vc.nnz == 0):
        raise ValueError("the model has no random effects (exog_re has no columns, or only zero "
                         "columns, and there is no variance component); give exog_re / re_formula "
                         "or fit an ordinary regression instead")
    n_cov = lay.n_params
    k_fe = design.X.shape[1]
    if k_fe + n_cov + 1 > design.n_obs:
        raise ValueError(f"the model has {k_fe} fixed effects, {n_cov} covariance parameters and a "
                         f"residual variance but only {design.n_obs} observations; simplify "
                         "re_formula / vc_formula or add data")
    if lay.k_re:
        p = design.X.shape[1]
        s = np.linalg.svd(design.R[:, p + 1:], compute_uv=False)     # Z_re's (checks.r_factor)
        if s.min() <= s.max() * max(design.n_obs, lay.k_re) * np.finfo(float).eps:
            raise ValueError(f"the random-effects design has linearly dependent columns "
                             f"{design.exog_re_names}; their covariance cannot be identified. "
                             "Drop a column from re_formula / exog_re.")
    checks.check_conditioning(design)
    checks.check_response(design)
