"""The array entry point: ``MixedLM(endog, exog, groups, exog_re, exog_vc, missing)``.

This is the only module that looks at raw arrays. It turns numpy or pandas
input into float matrices with statsmodels' names, pairs rows (by position,
and pandas inputs only when their indexes agree), drops or refuses rows with
NaN / inf, and hands the result to design.finish for the checks. Nothing the
caller passed is modified: every matrix is a fresh copy.
"""

import warnings

import numpy as np
import pandas as pd

from . import groups as grouping
from . import vc as vc_build
from .design import finish


def as_float(name, a):
    """a as a fresh float ndarray, or a ValueError naming the input.

    Refused: complex numbers (numpy would drop the imaginary part with only a
    warning), strings and other objects. pandas' nullable dtypes (Int64,
    Float64, boolean) convert with pd.NA as NaN, which the missing-value
    handling then sees.
    """
    if isinstance(a, (pd.Series, pd.DataFrame)):
        dtypes = [a.dtype] if isinstance(a, pd.Series) else list(a.dtypes)
        if any(pd.api.types.is_complex_dtype(t) for t in dtypes):
            raise ValueError(f"{name} has complex values; the model is for real data (pass the real "
                             "part explicitly if that is what you mean)")
        try:
            return np.array(a.to_numpy(dtype=float, na_value=np.nan), dtype=float)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{name} must be numeric ({err}); encode categories with a formula "
                             "(from_formula) or as dummy columns") from None
    arr = np.asarray(a)
    if arr.dtype.kind == "c":
        raise ValueError(f"{name} has complex values; the model is for real data (pass the real "
                         "part explicitly if that is what you mean)")
    if arr.dtype.kind not in "biuf":
        try:
            arr = np.array(arr, dtype=float)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{name} must be numeric ({err}); encode categories with a formula "
                             "(from_formula) or as dummy columns") from None
        return arr
    return np.array(arr, dtype=float)


def as_2d(name, a, n, default_prefix):
    """(matrix (n, k), column names) of a 1- or 2-d input."""
    if isinstance(a, pd.Series):
        a = a.to_frame()
    names = [str(c) for c in a.columns] if isinstance(a, pd.DataFrame) else None
    arr = as_float(name, a)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 1- or 2-dimensional, got shape {arr.shape}")
    if arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} rows but endog has {n}; they must match row for row")
    if names is None:
        names = [f"{default_prefix}{j + 1}" for j in range(arr.shape[1])]
    return arr, names


def check_indexes_aligned(**inputs):
    """pandas inputs are paired row by row: refuse when their indexes differ.

    statsmodels raises "The indices for endog and exog are not aligned"; pairing
    by position would silently attach one row's x to another row's y. Inputs
    without an index (numpy arrays, lists) are paired by position.
    """
    indexed = {k: v.index for k, v in inputs.items() if isinstance(v, (pd.Series, pd.DataFrame))}
    if len(indexed) < 2:
        return
    (first, idx0), *rest = indexed.items()
    for name, idx in rest:
        if len(idx) == len(idx0) and not idx.equals(idx0):
            raise ValueError(f"the pandas indexes of {first} and {name} differ (e.g. {first} starts "
                             f"{list(idx0[:3])}, {name} starts {list(idx[:3])}): rows would be paired "
                             "by position, not by label. Align them first (e.g. "
                             f"{name} = {name}.loc[{first}.index]) or pass numpy arrays.")


class VCSpec:
    """statsmodels' variance-component specification (same attributes, same meaning).

    names[k] is the name of component k; mats[k][i] the (n_i, m) design matrix
    of component k in group i (groups in sorted-label order, statsmodels'
    group order); colnames[k][i] the names of its columns.
    """

    def __init__(self, names, colnames, mats):
        self.names, self.colnames, self.mats = names, colnames, mats


class DeprecatedVCFormatWarning(UserWarning):
    """exog_vc given as a dict of dicts: the format statsmodels deprecates (it warns the same way)."""


def _is_vcspec(exog_vc):
    return all(hasattr(exog_vc, a) for a in ("names", "colnames", "mats"))


def _vcspec_to_dict(exog_vc, labels):
    """A VCSpec (statsmodels' or ours) as the dict-of-dicts form, checking its shape."""
    names, colnames, mats = list(exog_vc.names), list(exog_vc.colnames), list(exog_vc.mats)
    if not (len(names) == len(colnames) == len(mats)):
        raise ValueError(f"exog_vc (VCSpec) has {len(names)} names, {len(colnames)} colnames and "
                         f"{len(mats)} mats; give one of each per variance component")
    out = {}
    for k, name in enumerate(names):
        if len(mats[k]) != len(labels) or len(colnames[k]) != len(labels):
            raise ValueError(f"exog_vc.mats[{k}] ({name!r}) has {len(mats[k])} matrices and colnames "
                             f"{len(colnames[k])} lists, but there are {len(labels)} groups: give "
                             "one per group, in sorted group-label order")
        out[name] = {lab: pd.DataFrame(np.asarray(m), columns=[str(c) for c in cols])
                     if np.ndim(m) == 2 and len(cols) == np.shape(m)[1] else m
                     for lab, m, cols in zip(labels, mats[k], colnames[k])}
    return out


def _vc_blocks(exog_vc, labels):
    """statsmodels' exog_vc (a VCSpec, or the dict {name: {group label: (n_g, m) matrix}}
    that statsmodels deprecates) -> names, blocks, column names."""
    if _is_vcspec(exog_vc):
        exog_vc = _vcspec_to_dict(exog_vc, labels)
    elif isinstance(exog_vc, dict):
        warnings.warn("Using deprecated variance components format: exog_vc as a dict of dicts "
                      "(statsmodels warns the same way; refimpl accepts both). Pass a "
                      "refimpl.VCSpec(names, colnames, mats) to silence this.",
                      DeprecatedVCFormatWarning, stacklevel=5)
    if not isinstance(exog_vc, dict):
        raise ValueError(f"exog_vc must be a VCSpec(names, colnames, mats) or a dict "
                         f"{{vc_name: {{group_label: matrix}}}}, got {type(exog_vc).__name__}")
    keys = list(exog_vc)
    if not all(isinstance(k, str) for k in keys):
        raise ValueError(f"exog_vc's keys (variance component names) must be strings, got {keys!r}")
    vc_names, vc_blocks, vc_colnames = [], [], []
    for name in sorted(keys):
        per_group = exog_vc[name]
        if not isinstance(per_group, dict):
            raise ValueError(f"exog_vc[{name!r}] must be a dict {{group_label: matrix}}, got "
                             f"{type(per_group).__name__}")
        mats, cols = [], []
        for lab in labels:
            m = per_group.get(lab)
            lab = lab.item() if isinstance(lab, np.generic) else lab     # shown as 4, not np.int64(4)
            if m is None:
                raise ValueError(f"exog_vc[{name!r}] has no matrix for group {lab!r}; give one "
                                 "(with zero columns if the component is absent there)")
            cols.append([str(c) for c in m.columns] if isinstance(m, pd.DataFrame)
                        else [str(j) for j in range(np.shape(m)[1] if np.ndim(m) == 2 else 1)])
            m = as_float(f"exog_vc[{name!r}][{lab!r}]", m)
            if m.ndim == 1:
                m = m[:, None]
            if m.ndim != 2:
                raise ValueError(f"exog_vc[{name!r}][{lab!r}] must be a matrix (rows of that group x "
                                 f"columns), got shape {m.shape}")
            mats.append(m)
        vc_names.append(name)
        vc_blocks.append(mats)
        vc_colnames.append(cols)
    return vc_names, vc_blocks, vc_colnames


def design_from_arrays(endog, exog, groups, exog_re=None, exog_vc=None, missing="none",
                       group_name="Group"):
    """statsmodels' ``MixedLM(endog, exog, groups, exog_re, exog_vc)`` meanings.

    exog_vc is a dict {vc_name: {group_label: matrix (n_i x m)}} whose matrix rows
    follow the order of that group's rows in the data (statsmodels' format).
    """
    if missing not in ("none", "drop"):
        raise ValueError(f"missing must be 'none' or 'drop', got {missing!r}")
    check_indexes_aligned(endog=endog, exog=exog, groups=groups, exog_re=exog_re)
    y = as_float("endog", endog)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"endog must be one-dimensional, got shape {y.shape}")
    n = len(y)
    if n == 0:
        raise ValueError("the data set is empty (endog has no rows)")
    row_labels = next((a.index for a in (endog, exog) if isinstance(a, (pd.Series, pd.DataFrame))), None)
    X, exog_names = as_2d("exog", exog, n, "x")
    if not isinstance(exog, (pd.Series, pd.DataFrame)):
        # statsmodels' names: a constant column is "const", the others x1, x2, ... in order
        const = [bool(np.all(X[:, j] == 1)) for j in range(X.shape[1])]
        others = iter(range(1, X.shape[1] + 1))
        exog_names = ["const" if c else f"x{next(others)}" for c in const]
    if exog_re is None and exog_vc is None:
        Zre, re_names = np.ones((n, 1)), [group_name]
    elif exog_re is None:
        Zre, re_names = np.zeros((n, 0)), []
    else:
        Zre, re_names = as_2d("exog_re", exog_re, n, "x_re")
    groups = groups.to_numpy() if isinstance(groups, (pd.Series, pd.Index)) else np.asarray(groups)
    if groups.ndim != 1:
        raise ValueError(f"groups must be one-dimensional (one label per row), got shape {groups.shape}")
    if len(groups) != n:
        raise ValueError(f"groups has {len(groups)} entries but endog has {n} rows; "
                         "pass one group label per row")
    n_dropped = 0
    if missing == "drop":
        # statsmodels drops rows whose group label is missing (as the formula entry point does)
        no_label = grouping.missing_labels(groups)
        if no_label.any():
            keep = ~no_label
            if not keep.any():
                raise ValueError("no rows are left after dropping rows with missing values "
                                 "(every group label is missing)")
            warnings.warn(f"missing='drop': dropped {int(no_label.sum())} of {n} rows with a "
                          "missing group label", UserWarning, stacklevel=4)
            y, X, Zre, groups = y[keep], X[keep], Zre[keep], groups[keep]
            row_labels = None if row_labels is None else row_labels[keep]
            n_dropped, n = int(no_label.sum()), int(keep.sum())
    group_index, labels = grouping.encode_groups(groups, n)

    vc_names, vc_blocks, vc_colnames = _vc_blocks(exog_vc, labels) if exog_vc else ([], [], [])
    Zvc, vc_sizes, vc_counts = vc_build.from_group_blocks(vc_blocks, group_index, len(labels), n,
                                                          vc_names, labels)
    vc_bad = np.zeros(n, dtype=bool)
    if Zvc.nnz:
        bad_entries = ~np.isfinite(Zvc.data)
        if bad_entries.any():
            vc_bad[np.repeat(np.arange(n), np.diff(Zvc.indptr))[bad_entries]] = True
    bad_by_role = {"endog": _nonfinite_rows(y), "exog": _nonfinite_rows(X),
                   "exog_re": _nonfinite_rows(Zre), "exog_vc": vc_bad}
    rows_bad = np.logical_or.reduce(list(bad_by_role.values()))
    if rows_bad.any():
        if missing == "none":
            parts = [nm for nm, bad in bad_by_role.items() if bad.any()]
            raise ValueError(f"{rows_bad.sum()} rows have NaN or inf in {parts} (first at row "
                             f"{np.flatnonzero(rows_bad)[0]}); clean the data or pass "
                             "missing='drop' to drop those rows")
        keep = ~rows_bad
        n_dropped += int(rows_bad.sum())
        warnings.warn(f"missing='drop': dropped {int(rows_bad.sum())} of {n} rows with NaN or inf",
                      UserWarning, stacklevel=4)
        if not keep.any():
            raise ValueError("no rows are left after dropping rows with missing values")
        y, X, Zre, Zvc, groups = y[keep], X[keep], Zre[keep], Zvc[keep], groups[keep]
        row_labels = None if row_labels is None else row_labels[keep]
        kept_groups = np.unique(group_index[keep])
        group_index, labels = grouping.encode_groups(groups, len(y))
        # a group whose rows were all dropped takes its variance-component columns with it
        vc_colnames = [[cols[g] for g in kept_groups] for cols in vc_colnames]
        vc_counts = vc_counts[kept_groups]
    endog_name = endog.name if isinstance(endog, pd.Series) and endog.name is not None else "y"
    return finish(y, X, Zre, Zvc, group_index, labels, exog_names, re_names, vc_names,
                  vc_sizes, vc_colnames, n_dropped, vc_counts=vc_counts, endog_name=endog_name,
                  row_labels=row_labels)


def _nonfinite_rows(arr):
    """(n,) True where a row of arr (n,) or (n, k) holds NaN or inf."""
    finite = np.isfinite(arr)
    if finite.all():                  # the usual case, in one fast pass (a row-wise all() is slow)
        return np.zeros(len(arr), dtype=bool)
    return ~finite.reshape(len(arr), -1).all(axis=1)
