"""The formula entry point: ``MixedLM.from_formula(formula, data, groups, re_formula, vc_formula)``.

patsy parses every formula once and evaluates each of its *factors* (``x``,
``np.log(x)``, ``C(g)``, ``Q('my x')``) once over all rows. What the formula
uses is then known from patsy itself, not guessed from the formula's text:

* missing values are the NaN / None / inf in the values the formulas
  evaluate (a NaN in a column no formula uses is ignored; a NaN in x makes
  ``np.log(x)`` missing too), reported by the factor's name;
* the response must be one numeric column: patsy would turn a bool or string
  response into dummy columns (``y[False]``, ``y[True]``) and keep the first,
  and a left-hand side ``y + x`` into two columns; both are refused.

Variance components (statsmodels evaluates ``vc_formula[name]`` "separately
for each group", one patsy call per group) are evaluated once over all rows
and split by group (:func:`_vc_by_group`): a group's columns are the columns
patsy would give that group's rows, in patsy's order and with patsy's names.
For a term with one categorical factor in full (indicator) coding, such as
``0 + C(classroom)`` or ``0 + C(a):x``, those are the levels present in the
group (all levels for a pandas Categorical, a bool, or ``C(g, levels=...)``,
which patsy does not re-sniff); numeric terms are in every group. Any other
formula (reduced coding, stateful transforms such as ``center(x)``) takes
statsmodels' own route, one patsy call per group (:func:`_vc_per_group`,
also the twin of the fast route in tests/test_padding.py).
"""

import numbers
import warnings

import numpy as np
import pandas as pd
import patsy
from patsy.build import _eval_factor

from . import groups as grouping
from .design import finish
from .formula_vc import _vc_by_group, _vc_terms

#: Missing values as patsy sees them (None in categorical data, NaN everywhere).
_NA = patsy.NAAction(NA_types=["None", "NaN"])
#: Evaluation after missing rows are gone: nothing left to drop.
_NO_NA = patsy.NAAction(NA_types=[])


def _parse(role, text, lhs):
    """patsy's ModelDesc of a formula string; lhs says whether a left-hand side is required."""
    if not isinstance(text, str):
        raise TypeError(f"{role} must be a formula string such as "
                        f"{'y ~ x' if lhs else '~ x'}, got {type(text).__name__} {text!r}")
    try:
        desc = patsy.ModelDesc.from_formula(text)
    except patsy.PatsyError as err:
        raise ValueError(f"{role} {text!r} is not a valid formula: {err}") from None
    if lhs and not desc.lhs_termlist:
        raise ValueError(f"formula {text!r} has no response: write it as 'y ~ x'")
    if not lhs and desc.lhs_termlist:
        raise ValueError(f"{role} {text!r} must not have a left-hand side (the response is given "
                         f"by formula); write it as '~ {text.split('~', 1)[1].strip()}'")
    return desc


def _caller_environment(depth):
    """patsy's namespace of the user's frame (for np, functions in formulas), ``depth`` frames up.

    When the stack is shallower (design_from_formula called from a module's
    top level), the outermost frame there is.
    """
    for d in range(depth, -1, -1):
        try:
            return patsy.EvalEnvironment.capture(d + 1)              # + 1: this function's frame
        except (AttributeError, ValueError):
            continue
    return patsy.EvalEnvironment.capture(0)


def _resolve_groups(groups, data):
    """(labels (n,), name) from a column name of data or one label per row."""
    if groups is None:
        raise ValueError("from_formula needs groups=... (a column name or an array of labels)")
    is_name = isinstance(groups, (str, numbers.Number, tuple)) and not isinstance(groups, bool)
    if is_name:
        if groups in data.columns:
            return data[groups].to_numpy(), str(groups)
        raise ValueError(f"groups={groups!r} is not a column of data; columns are {list(data.columns)}")
    if isinstance(groups, pd.Series) and len(groups) == len(data) and not groups.index.equals(data.index):
        raise ValueError("groups is a pandas Series whose index differs from data's index: rows "
                         "would be paired by position, not by label. Pass groups=<column name>, "
                         "or align it first (groups.loc[data.index]).")
    labels = groups.to_numpy() if isinstance(groups, (pd.Series, pd.Index)) else np.asarray(groups)
    if labels.ndim != 1:
        raise ValueError(f"groups must be a column name or one label per row of data, got shape "
                         f"{labels.shape}")
    if len(labels) != len(data):
        raise ValueError(f"groups has {len(labels)} entries but data has {len(data)} rows; pass one "
                         "label per row, or a column name")
    return labels, "Group"


def _plain_dtypes(data):
    """data with pandas' missing markers in a form patsy reads, as a shallow copy.

    patsy cannot read pd.NA ("boolean value of NA is ambiguous") and takes
    NaT for a level. So nullable numbers (Int64, Float64) become float64 with
    NaN; nullable booleans and strings, object columns holding pd.NA, and
    datetimes holding NaT become objects with None. Both are then missing
    values. The caller's frame is not touched.
    """
    def needs(col):
        dt = col.dtype
        if isinstance(dt, pd.CategoricalDtype):
            return False
        if isinstance(dt, pd.api.extensions.ExtensionDtype) and dt.kind in "iufbOSU":
            return True
        return dt.kind in "OMm" and bool(col.isna().any())
    nullable = [c for c in data.columns if needs(data[c])]
    if not nullable:
        return data
    data = data.copy(deep=False)
    for c in nullable:
        col = data[c]
        if col.dtype.kind in "iuf":
            data[c] = col.to_numpy(dtype=float, na_value=np.nan)
        else:
            data[c] = col.astype(object).where(col.notna(), None)
    return data


def _builders(descs, data, env):
    """patsy DesignInfos of [lhs, rhs] (formula), re_formula and each vc formula, from all rows."""
    termlists = []
    for desc in descs:
        termlists.extend([desc.lhs_termlist, desc.rhs_termlist] if desc.lhs_termlist else
                         [desc.rhs_termlist])
    try:
        with np.errstate(all="ignore"):
            return patsy.design_matrix_builders(termlists, lambda: iter([data]), env, _NA)
    except patsy.PatsyError as err:
        raise ValueError(f"a formula could not be evaluated on data: {err}") from None


def _evaluate(infos, data):
    """{factor: (values, bad rows)} for every factor of the DesignInfos; values are patsy's."""
    out = {}
    for info in infos:
        for factor, fi in info.factor_infos.items():
            if factor in out:
                continue
            try:
                with np.errstate(all="ignore"):            # log(0) and the like: reported below as missing
                    values, is_na = _eval_factor(fi, data, _NA)
            except patsy.PatsyError as err:
                raise ValueError(f"the term {factor.name()!r} could not be evaluated: {err}") from None
            bad = np.asarray(is_na, dtype=bool)
            if fi.type == "numerical":
                arr = np.asarray(values)
                if arr.dtype.kind == "c":
                    raise ValueError(f"the term {factor.name()!r} has complex values; the model is for "
                                     "real data")
                if arr.dtype.kind not in "biuf":
                    arr = arr.astype(float)
                bad = bad | ~np.isfinite(arr.reshape(len(arr), -1)).all(axis=1)
                values = arr
            out[factor] = (np.asarray(values), bad)
    return out


def _check_response(info, text):
    """The response (lhs DesignInfo) is one numeric column."""
    cats = [f.name() for f, fi in info.factor_infos.items() if fi.type == "categorical"]
    if cats:
        raise ValueError(f"the response {cats[0]!r} of formula {text!r} is not numeric (bool, "
                         "string or categorical); patsy would turn it into 0/1 dummy columns. "
                         "Convert it to numbers first (e.g. data['y'] = data['y'].astype(float)).")
    if len(info.column_names) != 1:
        raise ValueError(f"the left-hand side of formula {text!r} gives {len(info.column_names)} "
                         f"columns {info.column_names}; the response must be one numeric column "
                         "(did you mean 'y ~ x' instead of 'y + x ~ 1'?)")


def design_from_formula(formula, data, groups, re_formula=None, vc_formula=None, missing="none",
                        _depth=0):
    """statsmodels' ``MixedLM.from_formula`` meanings, names and group order."""
    if missing not in ("none", "drop"):
        raise ValueError(f"missing must be 'none' or 'drop', got {missing!r}")
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"from_formula needs data as a pandas DataFrame, got {type(data).__name__}")
    if len(data) == 0:
        raise ValueError("the data set is empty (data has no rows)")
    if vc_formula is not None:
        if not isinstance(vc_formula, dict):
            raise TypeError("vc_formula must be a dict {name: formula}, e.g. {'cask': '0 + C(cask)'}")
        if not all(isinstance(k, str) for k in vc_formula):
            raise ValueError(f"vc_formula's keys (variance component names) must be strings, got "
                             f"{list(vc_formula)!r}")
    desc = _parse("formula", formula, lhs=True)
    re_desc = _parse("re_formula", re_formula, lhs=False) if re_formula is not None else None
    vc_names = sorted(vc_formula) if vc_formula else []
    vc_descs = [_parse(f"vc_formula[{k!r}]", vc_formula[k], lhs=False) for k in vc_names]
    env = _caller_environment(2 + _depth)
    labels_raw, group_name = _resolve_groups(groups, data)
    data = _plain_dtypes(data)
    descs = [desc] + ([re_desc] if re_desc else [])

    infos, vc_evals, bad, culprits = _evaluate_all(descs, vc_descs, data, env)
    if missing == "drop":
        bad |= grouping.missing_labels(labels_raw)          # statsmodels drops these too
    n_dropped = 0
    if bad.any():
        if missing == "none":
            raise ValueError(f"{int(bad.sum())} rows have NaN or inf in columns {culprits} (first at row "
                             f"{np.flatnonzero(bad)[0]}); clean the data or pass missing='drop' to "
                             "drop those rows")
        n_dropped = int(bad.sum())
        if n_dropped == len(data):
            raise ValueError("no rows are left after dropping rows with missing values")
        warnings.warn(f"missing='drop': dropped {n_dropped} of {len(data)} rows with NaN or inf "
                      f"in {culprits or ['groups']}", UserWarning, stacklevel=3 + _depth)
        data, labels_raw = data.loc[~bad], labels_raw[~bad]
        # levels and stateful transforms are learnt anew from the rows that are left
        infos, vc_evals, _, _ = _evaluate_all(descs, vc_descs, data, env)

    lhs_info, rhs_info = infos[0], infos[1]
    _check_response(lhs_info, formula)
    y = _matrix(lhs_info, data)[:, 0].copy()
    X = _matrix(rhs_info, data)
    exog_names = list(rhs_info.column_names)
    n = len(y)
    if re_desc is not None:
        re_info = infos[2]
        Zre = _matrix(re_info, data)
        re_names = [c.replace("Intercept", group_name) for c in re_info.column_names]
    elif vc_formula is None:
        Zre, re_names = np.ones((n, 1)), [group_name]
    else:
        Zre, re_names = np.zeros((n, 0)), []

    group_index, labels = grouping.encode_groups(labels_raw, n)
    Zvc, vc_sizes, vc_counts, vc_colnames = _vc_by_group(vc_evals, vc_descs, vc_names, data,
                                                         group_index, labels, env)
    # what results.predict needs to build X and Z for a new DataFrame
    info = dict(formula=formula, re_formula=re_formula, vc_formula=vc_formula, fe_info=rhs_info,
                re_info=infos[2] if re_desc is not None else None,
                groups=groups if isinstance(groups, str) else None)
    return finish(y, X, Zre, Zvc, group_index, labels, exog_names, re_names, vc_names, vc_sizes,
                  vc_colnames, n_dropped, vc_counts=vc_counts, endog_name=lhs_info.column_names[0],
                  row_labels=data.index, formula_info=info)


def _evaluate_all(descs, vc_descs, data, env):
    """(infos, vc_evals, bad rows, names of the terms with bad values) of all the formulas.

    The formula and re_formula go through patsy's builders; each vc formula
    through _vc_terms (or, when it is not of that kind, patsy's builders too,
    only to find its missing values).
    """
    infos = _builders(descs, data, env)
    values = _evaluate(infos, data)
    bad = np.zeros(len(data), dtype=bool)
    culprits = []
    for factor, (v, b) in values.items():
        if b.any():
            bad |= b
            culprits.append(factor.name())
    vc_evals = []
    for vc_desc in vc_descs:
        evaluated = _vc_terms(vc_desc, data, env)
        if evaluated is None:
            vc_values = _evaluate(_builders([vc_desc], data, env), data)
            vc_bad = [(f.name(), b) for f, (v, b) in vc_values.items()]
        else:
            vc_bad = [("vc_formula " + repr(" + ".join(n for t in evaluated[0] for n in t[4][:1])),
                       evaluated[1])]
        for name, b in vc_bad:
            if b.any():
                bad |= b
                culprits.append(name)
        vc_evals.append(evaluated)
    return infos, vc_evals, bad, culprits


def _matrix(info, data):
    try:
        with np.errstate(all="ignore"):
            m = patsy.build_design_matrices([info], data, NA_action=_NO_NA)[0]
    except patsy.PatsyError as err:
        raise ValueError(f"a formula could not be evaluated on data: {err}") from None
    return np.array(m, dtype=float)
