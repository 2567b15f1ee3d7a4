"""Group labels: from whatever the caller passed to codes 0..G-1 and the sorted labels.

statsmodels groups rows by ``np.asarray(groups)`` and sorts the distinct
labels; results are indexed by those labels in that order. This module does
the same without a Python object per row wherever the labels have a numpy
dtype (bool, integers, floats, datetimes: ``np.unique``) and uses one
pandas factorization otherwise (strings, mixed objects). Labels that cannot
be grouped (unhashable: lists, dicts, arrays; missing: None, NaN, NaT) are
refused with a ValueError that names the first offending row.
"""

import numpy as np
import pandas as pd


def sorted_labels(uniq):
    """Distinct labels sorted as statsmodels sorts them (mixed types by type name, then value)."""
    uniq = list(uniq)
    try:
        return sorted(uniq)
    except TypeError:
        return sorted(uniq, key=lambda v: (type(v).__name__, str(v)))


def encode_groups(groups, n):
    """(codes, labels): each row's group as an index 0..G-1 into the sorted distinct labels.

    groups is one label per row, (n,). Returns codes (n,) intp and a list of
    G labels (numpy scalars for numeric and datetime labels, the Python
    objects otherwise).
    """
    if isinstance(groups, (pd.Series, pd.Index)):
        groups = groups.to_numpy()
    groups = np.asarray(groups) if isinstance(groups, (list, tuple)) else groups
    if not isinstance(groups, np.ndarray):
        groups = np.asarray(groups)
    if groups.ndim != 1:
        raise ValueError(f"groups must be one-dimensional (one label per row), got shape {groups.shape}")
    if len(groups) != n:
        raise ValueError(f"groups has {len(groups)} entries but endog has {n} rows; "
                         "pass one group label per row")
    kind = groups.dtype.kind
    if kind == "c":
        raise ValueError("groups has complex labels; use integers or strings as group labels")
    if kind in "biufMm":
        return _encode_numpy_labels(groups)
    return _encode_object_labels(groups.astype(object, copy=False))


def _encode_numpy_labels(groups):
    """Labels with a numpy dtype, sorted by value; NaN / NaT count as missing."""
    if groups.dtype.kind in "fMm":
        refuse_missing_labels(np.isnan(groups))
    labels, codes = np.unique(groups, return_inverse=True)
    return codes.astype(np.intp, copy=False).ravel(), list(labels)


def _encode_object_labels(groups):
    """Labels of any type (mixed, objects), grouped as Python objects: one factorization.

    pd.factorize finds the distinct labels (missing ones get code -1); only
    the G distinct labels are then sorted, by numpy when they are all strings
    (the same order as Python's), else by Python.
    """
    try:
        codes, uniq = pd.factorize(groups, sort=False)
    except TypeError as err:
        first = next(i for i, v in enumerate(groups) if not _hashable(v))
        raise ValueError(f"groups must hold hashable labels (numbers, strings, tuples); row {first} "
                         f"holds {type(groups[first]).__name__} {groups[first]!r} ({err})") from None
    refuse_missing_labels(codes < 0)
    uniq = np.asarray(uniq)
    if pd.api.types.infer_dtype(uniq, skipna=False) == "string":
        order = np.argsort(uniq.astype(str), kind="stable")
    else:
        order = np.asarray(_sorted_positions(uniq), dtype=np.intp)
    rank = np.empty(len(uniq), dtype=np.intp)
    rank[order] = np.arange(len(uniq))
    return rank[codes], list(uniq[order])


def _sorted_positions(uniq):
    """Positions of the distinct labels in sorted_labels' order."""
    positions = range(len(uniq))
    try:
        return sorted(positions, key=lambda i: uniq[i])
    except TypeError:
        return sorted(positions, key=lambda i: (type(uniq[i]).__name__, str(uniq[i])))


def _hashable(v):
    try:
        hash(v)
        return True
    except TypeError:
        return False


def refuse_missing_labels(missing):
    missing = np.asarray(missing, dtype=bool)
    if missing.any():
        raise ValueError(f"groups has {int(missing.sum())} missing labels (None/NaN/NaT), first at row "
                         f"{np.flatnonzero(missing)[0]}; drop those rows (missing='drop') or give them "
                         "a label")


def missing_labels(groups):
    """(n,) True where a group label is missing (None, NaN, NaT), for any dtype."""
    groups = np.asarray(groups)
    if groups.dtype.kind in "fMm":
        return np.isnan(groups)
    if groups.dtype.kind in "biuUS":
        return np.zeros(len(groups), dtype=bool)
    return np.asarray(pd.isna(groups.astype(object, copy=False)), dtype=bool)
