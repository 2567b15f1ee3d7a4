"""From user input to the model matrices y, X, Z (padded), with every check.

This is the only module that looks at raw input. It turns either arrays
(``MixedLM(endog, exog, groups, exog_re, exog_vc)``) or formulas
(``MixedLM.from_formula``) into a :class:`Design`, with statsmodels' names
and meanings, and refuses bad input with a ValueError that names the input and
the fix. Everything downstream may assume a clean, full-rank design.

Design construction loops over groups only to place variance-component
columns (as statsmodels does, once); no likelihood evaluation ever does.
"""

import re
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import checks
from .layout import Layout


@dataclass
class Design:
    """The model matrices, the grouping, and the names results are indexed by."""

    y: np.ndarray                 # (n,)
    X: np.ndarray                 # (n, p)
    Z: np.ndarray                 # (n, q): [Z_re | padded vc slots]   (eq:vc-padding)
    group_index: np.ndarray       # (n,) codes 0..G-1 into group_labels
    group_labels: list            # sorted distinct labels (statsmodels' order)
    layout: Layout
    exog_names: list
    exog_re_names: list
    vc_names: list = field(default_factory=list)
    vc_column_names: list = field(default_factory=list)   # [vc][group] -> list of names
    n_dropped: int = 0
    endog_name: str = "y"
    vc_counts: np.ndarray = None  # (G, k_vc) real (unpadded) columns of each component per group
    R: np.ndarray = None          # R of [X | y | Z_re] = QR (checks.r_factor): what rank checks read
    # pandas Index of the kept rows when endog/exog or the formula data were pandas, else None:
    # results then answer in pandas (statsmodels' "pandas in, pandas out")
    row_labels: object = None
    # from_formula only: {formula, re_formula, vc_formula, groups, fe_info, re_info} (patsy
    # DesignInfo's), so results.predict can build X and Z for a new DataFrame
    formula_info: dict = None

    def __post_init__(self):
        if self.vc_counts is None:
            self.vc_counts = np.zeros((self.n_groups, len(self.vc_column_names)), dtype=int)
            for j, cols in enumerate(self.vc_column_names):
                self.vc_counts[:, j] = [len(names) for names in cols]

    def real_slot_mask(self):
        """(G, q) True where a column of the padded Z_i is real, False where it is padding."""
        mask = np.ones((self.n_groups, self.layout.q), dtype=bool)
        for j in range(self.layout.k_vc):
            s = self.layout.vc_slots(j)
            mask[:, s] = np.arange(self.layout.vc_sizes[j])[None, :] < self.vc_counts[:, j:j + 1]
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
# Checks shared by both entry points
# --------------------------------------------------------------------------

def _sorted_labels(labels):
    """Distinct group labels sorted as statsmodels sorts them (mixed types by type, then value)."""
    uniq = list(pd.unique(labels))
    try:
        return sorted(uniq)
    except TypeError:
        return sorted(uniq, key=lambda v: (type(v).__name__, str(v)))


def _encode_groups(groups, n):
    """(codes, labels): each row's group as an index 0..G-1 into the sorted distinct labels."""
    groups = np.asarray(groups, dtype=object) if not isinstance(groups, np.ndarray) else groups
    if groups.ndim != 1:
        raise ValueError(f"groups must be one-dimensional, got shape {groups.shape}")
    if len(groups) != n:
        raise ValueError(f"groups has {len(groups)} entries but endog has {n} rows; "
                         "pass one group label per row")
    if groups.dtype.kind in "biuf":
        return _encode_numeric_groups(groups)
    return _encode_any_groups(groups)


def _encode_any_groups(groups):
    """Labels of any type (mixed, objects, None), as statsmodels groups them: one Python object per row."""
    _refuse_missing_labels(pd.isna(pd.Series(groups, dtype=object)).to_numpy())
    labels = _sorted_labels(groups)
    codes = pd.Index(pd.Series(labels, dtype=object)).get_indexer(pd.Series(groups, dtype=object))
    return codes.astype(np.intp), labels


def _encode_numeric_groups(groups):
    """_encode_any_groups for bool, integer or float labels, without a Python object per row.

    The same answer (tests/test_checks_fast.py): the labels sorted by value,
    as numpy scalars of groups' dtype; NaN counts as a missing label.
    """
    if groups.dtype.kind == "f":
        _refuse_missing_labels(np.isnan(groups))
    labels, codes = np.unique(groups, return_inverse=True)
    return codes.astype(np.intp, copy=False), list(labels)


def _refuse_missing_labels(missing):
    if missing.any():
        raise ValueError(f"groups has {missing.sum()} missing labels (None/NaN), first at row "
                         f"{np.flatnonzero(missing)[0]}; drop those rows or give them a label")


def _nonfinite_rows(arr):
    """(n,) True where a row of arr (n,) or (n, k) holds NaN or inf."""
    finite = np.isfinite(arr)
    if finite.all():                  # the usual case, in one fast pass (a row-wise all() is slow)
        return np.zeros(len(arr), dtype=bool)
    return ~finite.reshape(len(arr), -1).all(axis=1)


def _check_finite(name, arr):
    """ValueError naming ``name`` if any row of arr holds NaN or inf."""
    bad_rows = _nonfinite_rows(arr)
    if bad_rows.any():
        raise ValueError(f"{name} has {bad_rows.sum()} rows with NaN or inf (first at row "
                         f"{np.flatnonzero(bad_rows)[0]}); clean the data or use missing='drop'")


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
    if lay.q == 0 or not np.any(design.Z):
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


def _as_float(name, a):
    """a as a float array, or a ValueError naming the input (not numpy's "could not convert")."""
    try:
        return np.asarray(a.to_numpy(dtype=float) if isinstance(a, (pd.Series, pd.DataFrame)) else a,
                          dtype=float)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be numeric ({err}); encode categories with a formula "
                         "(from_formula) or as dummy columns") from None


def _as_2d(name, a, n, default_prefix):
    if isinstance(a, pd.Series):
        a = a.to_frame()
    if isinstance(a, pd.DataFrame):
        names = [str(c) for c in a.columns]
        arr = _as_float(name, a)
    else:
        arr = _as_float(name, a)
        if arr.ndim == 1:
            arr = arr[:, None]
        names = None
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 1- or 2-dimensional, got shape {arr.shape}")
    if arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} rows but endog has {n}; they must match row for row")
    if names is None:
        names = [f"{default_prefix}{j + 1}" for j in range(arr.shape[1])]
    return arr.copy(), names


# --------------------------------------------------------------------------
# Array entry point
# --------------------------------------------------------------------------

def design_from_arrays(endog, exog, groups, exog_re=None, exog_vc=None, missing="none",
                       group_name="Group"):
    """statsmodels' ``MixedLM(endog, exog, groups, exog_re, exog_vc)`` meanings.

    exog_vc is a dict {vc_name: {group_label: matrix (n_i x m)}} whose matrix rows
    follow the order of that group's rows in the data (statsmodels' format).
    """
    if missing not in ("none", "drop"):
        raise ValueError(f"missing must be 'none' or 'drop', got {missing!r}")
    y = _as_float("endog", endog).copy()
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"endog must be one-dimensional, got shape {y.shape}")
    n = len(y)
    if n == 0:
        raise ValueError("the data set is empty (endog has no rows)")
    row_labels = next((a.index for a in (endog, exog) if isinstance(a, (pd.Series, pd.DataFrame))), None)
    X, exog_names = _as_2d("exog", exog, n, "x")
    if isinstance(exog, np.ndarray):
        # statsmodels' names: a constant column is "const", the others x1, x2, ... in order
        const = [bool(np.all(X[:, j] == 1)) for j in range(X.shape[1])]
        others = iter(range(1, X.shape[1] + 1))
        exog_names = ["const" if c else f"x{next(others)}" for c in const]
    if exog_re is None and exog_vc is None:
        Zre, re_names = np.ones((n, 1)), [group_name]
    elif exog_re is None:
        Zre, re_names = np.zeros((n, 0)), []
    else:
        Zre, re_names = _as_2d("exog_re", exog_re, n, "x_re")
    groups = np.asarray(groups)
    n_dropped = 0
    if groups.ndim == 1 and len(groups) == n and missing == "drop":
        # statsmodels drops rows whose group label is missing (as the formula entry point does)
        no_label = pd.isna(pd.Series(groups, dtype=object)).to_numpy()
        if no_label.any():
            keep = ~no_label
            if not keep.any():
                raise ValueError("no rows are left after dropping rows with missing values "
                                 "(every group label is missing)")
            warnings.warn(f"missing='drop': dropped {int(no_label.sum())} of {n} rows with a "
                          "missing group label", UserWarning, stacklevel=3)
            y, X, Zre, groups = y[keep], X[keep], Zre[keep], groups[keep]
            row_labels = None if row_labels is None else row_labels[keep]
            n_dropped, n = int(no_label.sum()), int(keep.sum())
    group_index, labels = _encode_groups(groups, n)

    vc_names, vc_blocks, vc_colnames = [], [], []
    if exog_vc:
        for name in sorted(exog_vc):
            per_group = exog_vc[name]
            mats, cols = [], []
            for lab in labels:
                m = per_group.get(lab)
                if m is None:
                    raise ValueError(f"exog_vc[{name!r}] has no matrix for group {lab}; give one "
                                     "(with zero columns if the component is absent there)")
                cols.append([str(c) for c in m.columns] if isinstance(m, pd.DataFrame)
                            else [str(j) for j in range(np.shape(m)[1] if np.ndim(m) == 2 else 1)])
                m = _as_float(f"exog_vc[{name!r}][{lab!r}]", m)
                mats.append(m[:, None] if m.ndim == 1 else m)
            vc_names.append(str(name))
            vc_blocks.append(mats)
            vc_colnames.append(cols)

    # missing values
    Zvc = _place_vc(vc_blocks, group_index, len(labels), n, vc_names, labels)
    bad_by_role = {"endog": _nonfinite_rows(y), "exog": _nonfinite_rows(X),
                   "exog_re": _nonfinite_rows(Zre), "exog_vc": _nonfinite_rows(Zvc)}
    rows_bad = np.logical_or.reduce(list(bad_by_role.values()))
    if rows_bad.any():
        if missing == "none":
            parts = [nm for nm, bad in bad_by_role.items() if bad.any()]
            raise ValueError(f"{rows_bad.sum()} rows have NaN or inf in {parts}; clean the data or "
                             "pass missing='drop' to drop those rows")
        keep = ~rows_bad
        n_dropped += int(rows_bad.sum())
        warnings.warn(f"missing='drop': dropped {int(rows_bad.sum())} of {n} rows with NaN or inf",
                      UserWarning, stacklevel=3)
        y, X, Zre, Zvc, groups = y[keep], X[keep], Zre[keep], Zvc[keep], groups[keep]
        row_labels = None if row_labels is None else row_labels[keep]
        if len(y) == 0:
            raise ValueError("no rows are left after dropping rows with missing values")
        old_position = {lab: g for g, lab in enumerate(labels)}
        group_index, labels = _encode_groups(groups, len(y))
        # a group whose rows were all dropped takes its variance-component columns with it
        vc_colnames = [[cols[old_position[lab]] for lab in labels] for cols in vc_colnames]
    endog_name = endog.name if isinstance(endog, pd.Series) and endog.name is not None else "y"
    return _finish(y, X, Zre, Zvc, group_index, labels, exog_names, re_names, vc_names,
                   _vc_sizes(vc_blocks), vc_colnames, n_dropped, endog_name=endog_name,
                   row_labels=row_labels)


def _vc_sizes(vc_blocks):
    return tuple(max((m.shape[1] for m in mats), default=0) for mats in vc_blocks)


def _place_vc(vc_blocks, group_index, n_groups, n, vc_names, labels=None):
    """Row-wise padded variance-component columns (eq:vc-padding)."""
    sizes = _vc_sizes(vc_blocks)
    Zvc = np.zeros((n, sum(sizes)))
    if not vc_blocks:
        return Zvc
    order = np.argsort(group_index, kind="stable")
    bounds = np.cumsum(np.bincount(group_index, minlength=n_groups))[:-1]
    rows_of = np.split(order, bounds)
    start = 0
    for j, mats in enumerate(vc_blocks):
        for g, m in enumerate(mats):
            if m.shape[0] != len(rows_of[g]):
                raise ValueError(f"variance component {vc_names[j]!r}: the matrix for group "
                                 f"{labels[g] if labels is not None else g} has "
                                 f"{m.shape[0]} rows but the group has {len(rows_of[g])}")
            Zvc[rows_of[g], start:start + m.shape[1]] = m
        start += sizes[j]
    return Zvc


def _finish(y, X, Zre, Zvc, group_index, labels, exog_names, re_names, vc_names, vc_sizes,
            vc_colnames, n_dropped, endog_name="y", row_labels=None, formula_info=None):
    # Every rank and conditioning check reads the small R of [X | y | Z_re] = QR,
    # not the n-row matrices (checks.r_factor says why that is exact and as accurate).
    R = checks.r_factor(X, y, Zre)
    _check_full_rank(R[:, :X.shape[1]], len(y), exog_names)
    design = Design(
        # Zre is already the model's own copy: no second one unless there are components
        y=y, X=X, Z=np.hstack([Zre, Zvc]) if Zvc.shape[1] else Zre, group_index=group_index,
        group_labels=labels, layout=Layout(Zre.shape[1], tuple(int(s) for s in vc_sizes)),
        exog_names=list(exog_names), exog_re_names=list(re_names), vc_names=list(vc_names),
        vc_column_names=vc_colnames, n_dropped=n_dropped, endog_name=str(endog_name), R=R,
        row_labels=row_labels, formula_info=formula_info,
    )
    _check_identifiable(design)
    return design


# --------------------------------------------------------------------------
# Formula entry point
# --------------------------------------------------------------------------

def _formula_variables(formulas, columns):
    """Data columns named anywhere in the formulas (as statsmodels' _handle_missing finds them)."""
    tokens = set()
    for f in formulas:
        tokens |= set(re.findall(r"[A-Za-z_][A-Za-z0-9_.]*", f))
    return [c for c in columns if str(c) in tokens]


def design_from_formula(formula, data, groups, re_formula=None, vc_formula=None, missing="none"):
    """statsmodels' ``MixedLM.from_formula`` meanings, names and group order."""
    import patsy

    if missing not in ("none", "drop"):
        raise ValueError(f"missing must be 'none' or 'drop', got {missing!r}")
    if not isinstance(data, pd.DataFrame):
        raise ValueError("from_formula needs data as a pandas DataFrame")
    if len(data) == 0:
        raise ValueError("the data set is empty (data has no rows)")
    if vc_formula is not None and not isinstance(vc_formula, dict):
        raise ValueError("vc_formula must be a dict {name: formula}, e.g. {'cask': '0 + C(cask)'}")

    group_name = "Group"
    groups_column = groups if isinstance(groups, str) else None
    if isinstance(groups, str):
        if groups not in data.columns:
            raise ValueError(f"groups={groups!r} is not a column of data; columns are {list(data.columns)}")
        group_name = groups
        groups = data[groups].to_numpy()
    else:
        groups = np.asarray(groups)
        if len(groups) != len(data):
            raise ValueError(f"groups has {len(groups)} entries but data has {len(data)} rows")

    forms = [formula] + ([re_formula] if re_formula else []) + list((vc_formula or {}).values())
    used = _formula_variables(forms, data.columns)
    na_rows = data[used].isna().any(axis=1).to_numpy() if used else np.zeros(len(data), bool)
    inf_rows = np.zeros(len(data), bool)
    for c in used:
        if pd.api.types.is_numeric_dtype(data[c]):
            inf_rows |= np.isinf(data[c].to_numpy(dtype=float))
    bad = na_rows | inf_rows
    if missing == "drop":
        # statsmodels drops rows whose group label is missing too
        bad |= pd.isna(pd.Series(groups, dtype=object)).to_numpy()
    n_dropped = 0
    if bad.any():
        if missing == "none":
            cols = [c for c in used if data[c].isna().any() or
                    (pd.api.types.is_numeric_dtype(data[c]) and np.isinf(data[c].to_numpy(float)).any())]
            raise ValueError(f"{bad.sum()} rows have NaN or inf in columns {cols}; clean the data or "
                             "pass missing='drop' to drop those rows")
        n_dropped = int(bad.sum())
        warnings.warn(f"missing='drop': dropped {n_dropped} of {len(data)} rows with NaN or inf in "
                      f"{used}", UserWarning, stacklevel=3)
        data = data.loc[~bad]
        groups = groups[~bad]
        if len(data) == 0:
            raise ValueError("no rows are left after dropping rows with missing values")

    na = patsy.NAAction(NA_types=[])
    y_mat, X_mat = patsy.dmatrices(formula, data, NA_action=na, return_type="dataframe",
                                   eval_env=patsy.EvalEnvironment.capture(2))
    y = y_mat.to_numpy(dtype=float)[:, 0].copy()
    X = X_mat.to_numpy(dtype=float).copy()
    exog_names = list(X_mat.columns)
    n = len(y)

    info = dict(formula=formula, re_formula=re_formula, vc_formula=vc_formula, fe_info=X_mat.design_info,
                re_info=None, groups=groups_column)
    if re_formula is not None:
        if re_formula.strip() == "1":
            Zre, re_names = np.ones((n, 1)), [group_name]
        else:
            Zre_df = patsy.dmatrix(re_formula, data, NA_action=na, return_type="dataframe")
            Zre = Zre_df.to_numpy(dtype=float).copy()
            info["re_info"] = Zre_df.design_info
            re_names = [c.replace("Intercept", group_name) for c in Zre_df.columns]
    elif vc_formula is None:
        Zre, re_names = np.ones((n, 1)), [group_name]
    else:
        Zre, re_names = np.zeros((n, 0)), []

    group_index, labels = _encode_groups(groups, n)
    vc_names, vc_blocks, vc_colnames = [], [], []
    if vc_formula:
        order = np.argsort(group_index, kind="stable")
        bounds = np.cumsum(np.bincount(group_index, minlength=len(labels)))[:-1]
        rows_of = np.split(order, bounds)
        for name in sorted(vc_formula):
            desc = patsy.ModelDesc.from_formula(vc_formula[name])
            mats, cols = [], []
            for rows in rows_of:
                m = patsy.dmatrix(desc, data.iloc[rows], NA_action=na, return_type="dataframe")
                mats.append(m.to_numpy(dtype=float))
                cols.append(list(m.columns))
            vc_names.append(name)
            vc_blocks.append(mats)
            vc_colnames.append(cols)
    Zvc = _place_vc(vc_blocks, group_index, len(labels), n, vc_names, labels)
    for name, arr in (("endog", y), ("exog", X), ("exog_re", Zre), ("exog_vc", Zvc)):
        _check_finite(name, arr)
    return _finish(y, X, Zre, Zvc, group_index, labels, exog_names, re_names, vc_names,
                   _vc_sizes(vc_blocks), vc_colnames, n_dropped, endog_name=y_mat.columns[0],
                   row_labels=data.index, formula_info=info)
