"""vc_formula evaluated once over all rows and split by group (statsmodels: one patsy call per group).

statsmodels evaluates ``vc_formula[name]`` on each group's rows. A group's
columns are then the columns patsy gives those rows. For the usual formulas
(``0 + C(classroom)``, ``0 + C(a):x``, ``0 + x``) they are the all-rows
columns restricted to the group, minus the indicator columns of levels absent
from it; :func:`_vc_terms` evaluates such a formula once, following patsy's
rules for order, coding and names, and :func:`_vc_split` splits it, with array
operations only. Any other formula takes statsmodels' route,
:func:`_vc_per_group` (also the twin of the fast route in tests/test_padding.py).
No L x L contrast matrix and no dense n x (levels) matrix is ever formed.
"""

import numpy as np
import pandas as pd
import patsy
import scipy.sparse as sp
from patsy.categorical import _CategoricalBox, guess_categorical
from patsy.contrasts import _name_levels
from patsy.util import safe_is_pandas_categorical

from . import groups as grouping
from . import vc as vc_build

#: Evaluation after missing rows are gone: nothing left to drop.
_NO_NA = patsy.NAAction(NA_types=[])


def _vc_by_group(vc_evals, vc_descs, vc_names, data, group_index, labels, env):
    """Z_vc (sparse, padded slots), vc_sizes, vc_counts (G, k_vc) and vc_column_names."""
    n, G = len(group_index), len(labels)
    entries, sizes, counts, colnames = [], [], np.zeros((G, len(vc_descs)), np.intp), []
    for j, evaluated in enumerate(vc_evals):
        if evaluated is None:
            rows, local, vals, cnt, names = _vc_per_group(vc_descs[j], vc_names[j], data, group_index,
                                                          labels, env)
        else:
            rows, local, vals, cnt, names = _vc_split(evaluated[0], group_index, G)
        counts[:, j] = cnt
        sizes.append(int(cnt.max(initial=0)))
        entries.append((rows, local, vals))
        colnames.append(names)
    if not entries:
        return sp.csr_array((n, 0)), (), counts, []
    starts = np.cumsum([0] + sizes[:-1])
    Z = vc_build.from_entries(n, np.concatenate([e[0] for e in entries]),
                              np.concatenate([e[1] + s0 for e, s0 in zip(entries, starts)]),
                              np.concatenate([e[2] for e in entries]).astype(float), sizes)
    return Z, tuple(sizes), counts, colnames


def _vc_split(terms, group_index, G):
    """Entries (rows, local column, value), counts (G,) and names of one component, from _vc_terms."""
    n = len(group_index)
    all_rows = np.arange(n)
    rows_l, cols_l, vals_l, always, names = [], [], [], [], []
    offset = 0
    for codes, levels, all_levels, v, term_names in terms:
        if codes is None:
            cols = np.full(n, offset, dtype=np.int64)
            always.append(offset)
        else:
            cols = offset + codes.astype(np.int64)
            if all_levels:
                always.extend(range(offset, offset + len(levels)))
        rows_l.append(all_rows)
        cols_l.append(cols)
        vals_l.append(v)
        names.extend(term_names)
        offset += len(term_names)
    rows = np.concatenate(rows_l)
    local, cnt, kept, C = vc_build.local_columns(group_index[rows], np.concatenate(cols_l), G,
                                                 np.asarray(always, dtype=np.int64))
    split = np.split(np.asarray(names, dtype=object)[kept % C], np.cumsum(cnt)[:-1])
    return rows, local, np.concatenate(vals_l), cnt, [list(part) for part in split]


class _NotIndicators(Exception):
    """This vc formula is not of the one-pass kind: take the per-group route."""


def _vc_terms(desc, data, env):
    """A vc formula evaluated once over all rows, as indicator terms, or None.

    Returns (terms, bad): terms is a list, in patsy's column order, of
    (codes or None, levels or None, all_levels, v, names): for a term with a
    categorical factor, each row's level code (n,), its levels, whether every
    group gets every level, the product v (n,) of its numeric factors, and
    the column names; bad (n,) marks rows with a missing value. None when the
    formula is not of that kind (reduced coding, a stateful transform, a
    multi-column numeric factor): then the per-group route is exact.

    patsy's rules followed here (patsy/build.py, contrasts.py): terms are
    ordered in buckets of equal numeric factors, the bucket without numeric
    factors first, then by first appearance; a categorical factor gets full
    (indicator) coding when no other term has its numeric factors; levels are
    sorted distinct values, or the given ones (pandas Categorical, bool,
    ``C(x, levels=...)``); column names are factor names joined by ':', a
    categorical factor's suffixed by ``[level]``.
    """
    try:
        return _vc_terms_or_raise(desc, data, env)
    except _NotIndicators:
        return None


def _vc_terms_or_raise(desc, data, env):
    n = len(data)
    bad = np.zeros(n, dtype=bool)
    cache, keyed = {}, []
    for position, term in enumerate(desc.rhs_termlist):
        cats, nums = [], []
        for factor in term.factors:
            if factor not in cache:
                cache[factor] = _eval_vc_factor(factor, data, env)
                bad |= cache[factor][-1]
            (cats if cache[factor][0] == "categorical" else nums).append(factor)
        if len(cats) > 1:
            raise _NotIndicators
        keyed.append((frozenset(nums), position, term, cats, nums))
    keys = [k[0] for k in keyed]
    if len(set(keys)) != len(keys):                # two terms share numeric factors: reduced coding
        raise _NotIndicators
    keyed.sort(key=lambda k: (k[0] != frozenset(), k[1]))
    terms = []
    for _, _, term, cats, nums in keyed:
        v = np.ones(n)
        for f in nums:
            v = v * cache[f][1]
        pieces = []
        codes = levels = None
        all_levels = True
        for factor in term.factors:
            if factor in cats:
                _, codes, levels, all_levels, _ = cache[factor]
                pieces.append([factor.name() + suffix for suffix in _name_levels("", levels)])
            else:
                pieces.append([factor.name()])
        names = [":".join(parts) for parts in _product(pieces)]
        terms.append((codes, levels, all_levels, v, names))
    return terms, bad


def _product(pieces):
    out = [[]]
    for options in pieces:
        out = [prev + [o] for prev in out for o in options]
    return out


def _eval_vc_factor(factor, data, env):
    """("numerical", values (n,), bad) or ("categorical", codes, levels, all_levels, bad)."""
    state = {}
    if factor.memorize_passes_needed(state, env):           # a stateful transform (center, ...)
        raise _NotIndicators
    try:
        with np.errstate(all="ignore"):                    # log(0) and the like: reported as missing
            value = factor.eval(state, data)
    except patsy.PatsyError as err:
        raise ValueError(f"the term {factor.name()!r} could not be evaluated: {err}") from None
    n = len(data)
    if not guess_categorical(value):
        if isinstance(value, (pd.Series, pd.DataFrame)):
            if any(pd.api.types.is_complex_dtype(t) for t in np.atleast_1d(getattr(value, "dtypes", value.dtype))):
                raise ValueError(f"the term {factor.name()!r} has complex values; the model is for real data")
            value = value.to_numpy(dtype=float, na_value=np.nan)
        arr = np.asarray(value)
        if arr.dtype.kind == "c":
            raise ValueError(f"the term {factor.name()!r} has complex values; the model is for real data")
        arr = arr.astype(float)
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
        if arr.shape != (n,):
            raise _NotIndicators
        return "numerical", arr, ~np.isfinite(arr)
    levels, contrast = None, None
    if isinstance(value, _CategoricalBox):
        value, levels, contrast = value.data, value.levels, value.contrast
    if contrast is not None:
        raise _NotIndicators
    given = levels is not None
    if levels is None and safe_is_pandas_categorical(value):
        levels, given = tuple(pd.Categorical(value).categories), True
    if safe_is_pandas_categorical(value):
        obj = np.asarray(pd.Series(value).astype(object), dtype=object)
    else:
        raw = value.to_numpy() if isinstance(value, pd.Series) else np.asarray(value)
        if levels is None and raw.dtype.kind == "b":
            levels, given = (False, True), True
        obj = raw.astype(object, copy=False)
    missing = np.asarray(pd.isna(obj), dtype=bool)
    if levels is None:
        levels = tuple(grouping.sorted_labels(pd.unique(obj[~missing])))
    codes = pd.Index(list(levels), dtype=object).get_indexer(obj)
    unknown = (codes < 0) & ~missing
    if unknown.any():
        raise ValueError(f"the term {factor.name()!r} has a value {obj[np.flatnonzero(unknown)[0]]!r} "
                         f"that is not among its levels {list(levels)[:10]}")
    return "categorical", codes, tuple(levels), given, missing


def _vc_per_group(desc, name, data, group_index, labels, env):
    """statsmodels' route: one patsy call per group. Returns (rows, local cols, values, counts, names)."""
    order = np.argsort(group_index, kind="stable")
    bounds = np.cumsum(np.bincount(group_index, minlength=len(labels)))[:-1]
    rows_l, local_l, vals_l, counts, names = [], [], [], [], []
    for g, rows in enumerate(np.split(order, bounds)):
        try:
            m = patsy.dmatrix(desc, data.iloc[rows], NA_action=_NO_NA, eval_env=env,
                              return_type="dataframe")
        except patsy.PatsyError as err:
            raise ValueError(f"vc_formula[{name!r}] could not be evaluated in group {labels[g]!r}: "
                             f"{err}") from None
        a = m.to_numpy(dtype=float)
        r, c = np.nonzero(a)
        rows_l.append(rows[r])
        local_l.append(c)
        vals_l.append(a[r, c])
        counts.append(a.shape[1])
        names.append(list(m.columns))
    return (np.concatenate(rows_l), np.concatenate(local_l), np.concatenate(vals_l),
            np.asarray(counts, dtype=np.intp), names)
