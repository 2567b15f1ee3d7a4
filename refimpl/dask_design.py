"""The formula design of a Dask DataFrame: learnt once from its metadata, applied to each partition.

``MixedLM.from_formula(formula, data=<dask DataFrame>, groups=...)`` (refimpl/
distributed.py) never holds the rows. patsy learns the design (column names,
coding, levels) from the frame's *metadata*, an empty pandas frame with the
columns' dtypes; every partition is then turned into its rows of y, X and
[Z_re | Z_vc] by :func:`partition_rows`, on whichever worker holds it.

That is exact only when the design does not depend on the values, so this
module refuses, naming the column and the fix, whatever would make it so:

* a string or object column used by a formula or as ``groups`` (its levels
  are the values it holds): ``df = df.categorize(columns=[...])``;
* a categorical column with unknown categories (the same fix);
* a categorical factor of a numeric column (``C(x)``): make x categorical;
* a stateful transform (``center``, ``standardize``, ``scale``): it would
  learn its mean from the empty metadata; transform the column first;
* a partition whose dtypes differ from the metadata's (Parquet files written
  with different schemas): cast with ``df.astype({...})``.

The rows of one partition: group key (a categorical's code, or an integer
label), y, X, and the dense random-effects rows [Z_re | Z_vc]. A variance
component of a categorical factor gets one slot per category in every group
(levels absent from a group are zero columns), exactly what the in-memory
formula front end does for a pandas Categorical (formula_vc.py), so the
per-group statistics of the two routes agree.

Formulas see the data's columns, ``np`` and patsy's built-ins only: the
partitions are evaluated in worker processes, where the caller's namespace
does not exist.
"""

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import patsy

from .formula import _builders, _check_response, _parse

#: patsy's stateful transforms: their state would be learnt from the empty metadata.
STATEFUL = ("center", "standardize", "scale")
#: Formulas are evaluated with these names besides the data's columns.
ENV_NAMES = {"np": np, "numpy": np}
_NO_NA = patsy.NAAction(NA_types=[])


def eval_env():
    """The patsy namespace used on the driver and on every worker (picklable by construction)."""
    return patsy.EvalEnvironment([dict(ENV_NAMES)])


@dataclass
class DesignSpec:
    """Everything a worker needs to build a partition's rows; no patsy objects (they do not pickle)."""

    formula: str
    re_formula: str
    vc_formula: dict
    vc_names: list
    groups: str
    group_kind: str          # "category" (keys are codes) or "integer" (keys are the labels)
    columns: list            # data columns the formulas and groups use
    dtypes: dict             # their dtypes in the metadata
    missing: str
    names: dict              # column names patsy gave on the driver: exog, exog_re, each vc
    k_re: int
    q: int


def learn(formula, data, groups, re_formula=None, vc_formula=None, missing="none"):
    """(spec, infos) from the metadata of the Dask DataFrame ``data``; infos are patsy's DesignInfos."""
    if missing not in ("none", "drop"):
        raise ValueError(f"missing must be 'none' or 'drop', got {missing!r}")
    if not isinstance(groups, str):
        raise TypeError(f"with a Dask DataFrame, groups must be a column name, got "
                        f"{type(groups).__name__}; put the labels in a column of data")
    if groups not in data.columns:
        raise ValueError(f"groups={groups!r} is not a column of data; columns are {list(data.columns)}")
    if vc_formula is not None and not isinstance(vc_formula, dict):
        raise TypeError("vc_formula must be a dict {name: formula}, e.g. {'cask': '0 + C(cask)'}")
    texts = [formula] + ([re_formula] if re_formula else []) + list((vc_formula or {}).values())
    for text in texts:
        for name in STATEFUL:
            if isinstance(text, str) and re.search(rf"\b{name}\s*\(", text):
                raise ValueError(
                    f"the formula {text!r} uses the stateful transform {name}(): with a Dask "
                    "DataFrame it would learn its state from the empty metadata, not from the data. "
                    "Transform the column first (e.g. df['x_c'] = df['x'] - mean) and use that")
    columns = _used_columns(texts, data.columns) | {groups}
    meta = data._meta
    _check_columns(data, meta, sorted(columns, key=str), groups)
    infos = _infos(formula, re_formula, vc_formula, meta[sorted(columns, key=str)])
    lhs, rhs, re_info, vc_infos = infos
    _check_response(lhs, formula)
    for info in [rhs, re_info] + vc_infos:
        if info is None:
            continue
        for factor, fi in info.factor_infos.items():
            if fi.type == "categorical" and not fi.categories:
                raise ValueError(
                    f"the term {factor.name()!r} is categorical but its column is not: with a Dask "
                    "DataFrame its levels would have to be read from the data. Make the column "
                    "categorical first: df[col] = df[col].astype('category'); df = df.categorize(columns=[col])")
    vc_names = sorted(vc_formula) if vc_formula else []
    names = dict(exog=list(rhs.column_names),
                 exog_re=(list(re_info.column_names) if re_info is not None else
                          ([] if vc_formula else ["Intercept"])),
                 vc=[list(v.column_names) for v in vc_infos])
    k_re = len(names["exog_re"])
    spec = DesignSpec(formula=formula, re_formula=re_formula, vc_formula=vc_formula,
                      vc_names=vc_names, groups=groups,
                      group_kind="category" if isinstance(meta[groups].dtype, pd.CategoricalDtype)
                      else "integer",
                      columns=sorted(columns, key=str), dtypes={c: meta[c].dtype for c in columns},
                      missing=missing, names=names, k_re=k_re,
                      q=k_re + sum(len(v) for v in names["vc"]))
    return spec, infos


def _used_columns(texts, columns):
    """Columns of data named in the formula strings (identifiers and Q('...') names)."""
    words = set()
    for text in texts:
        if isinstance(text, str):
            words |= set(re.findall(r"[A-Za-z_][A-Za-z0-9_.]*", text))
            words |= set(re.findall(r"Q\(\s*['\"](.+?)['\"]\s*\)", text))
    return {c for c in columns if c in words}


def _check_columns(data, meta, columns, groups):
    """Refuse string, object and unknown-category columns, and a non-integer groups column."""
    for c in columns:
        dt = meta[c].dtype
        fix = f"df = df.categorize(columns=[{c!r}])"
        if isinstance(dt, pd.CategoricalDtype):
            if not data[c].cat.known:
                raise ValueError(f"column {c!r} is categorical with unknown categories, so its "
                                 f"levels (and the design's columns) are not known before reading "
                                 f"every partition; call {fix} first")
        elif dt.kind in "OSU" or pd.api.types.is_string_dtype(dt):
            raise ValueError(f"column {c!r} holds strings (dtype {dt}); its levels are not known "
                             f"without reading every partition. Call {fix} first")
    gdt = meta[groups].dtype
    if not isinstance(gdt, pd.CategoricalDtype) and gdt.kind not in "iu":
        raise ValueError(f"groups column {groups!r} has dtype {gdt}; with a Dask DataFrame the group "
                         f"labels must be integers or a categorical with known categories "
                         f"(df = df.categorize(columns=[{groups!r}]))")


def _infos(formula, re_formula, vc_formula, frame):
    """patsy DesignInfos [lhs, rhs, re or None, [vc ...]] learnt from ``frame`` (empty is enough)."""
    desc = _parse("formula", formula, lhs=True)
    descs = [desc] + ([_parse("re_formula", re_formula, lhs=False)] if re_formula else [])
    env = eval_env()
    try:
        infos = _builders(descs, frame, env)
        vc_infos = [_builders([_parse(f"vc_formula[{k!r}]", vc_formula[k], lhs=False)], frame, env)[0]
                    for k in sorted(vc_formula or {})]
    except (ValueError, TypeError) as err:
        raise ValueError(f"the formulas could not be learnt from the Dask DataFrame's metadata "
                         f"({err}); a categorical term needs a categorical column with known "
                         "categories (df.categorize(columns=[...]))") from None
    return infos[0], infos[1], (infos[2] if re_formula else None), vc_infos


def partition_rows(pdf, spec, sparse_vc=False):
    """(keys (n,), y (n,), X (n, p), Z (n, q), n_dropped) of one partition (a pandas DataFrame).

    sparse_vc=True (dask_blocked.py): Z is the pair (Z_re dense (n, k_re), Z_vc csr
    (n, q - k_re)), Z_vc built from level codes without an n x (levels) array.
    """
    pdf = pdf[spec.columns]
    for c in spec.columns:
        if pdf[c].dtype != spec.dtypes[c]:
            raise ValueError(
                f"column {c!r} has dtype {pdf[c].dtype} in one partition but {spec.dtypes[c]} in the "
                f"Dask DataFrame's metadata (files written with different schemas?); cast it "
                f"everywhere first: df = df.astype({{{c!r}: ...}})")
    bad = np.zeros(len(pdf), dtype=bool)
    culprits = []
    for c in spec.columns:
        na = pdf[c].isna().to_numpy()
        if pdf[c].dtype.kind == "f":
            na = na | ~np.isfinite(pdf[c].to_numpy())
        if na.any():
            bad |= na
            culprits.append(c)
    lhs, rhs, re_info, vc_infos = _infos(spec.formula, spec.re_formula, spec.vc_formula, pdf.iloc[:0])
    got = dict(exog=list(rhs.column_names), vc=[list(v.column_names) for v in vc_infos])
    if got["exog"] != spec.names["exog"] or got["vc"] != spec.names["vc"]:
        raise ValueError(f"a partition gives the design columns {got} instead of {spec.names}: "
                         "its dtypes differ from the metadata's")
    if bad.any() and spec.missing == "none":
        _refuse_missing(culprits, int(bad.sum()))
    keep = pdf if not bad.any() else pdf.loc[~bad]
    y, X = _matrix(lhs, keep)[:, 0], _matrix(rhs, keep)
    n = len(keep)
    parts = [_matrix(re_info, keep) if re_info is not None else np.ones((n, spec.k_re))]
    if sparse_vc:
        Z_vc = _sparse_vc(spec, vc_infos, keep)
        rowbad = ~(np.isfinite(y) & np.isfinite(X).all(axis=1) & np.isfinite(parts[0]).all(axis=1))
        rowbad[np.repeat(np.arange(n), np.diff(Z_vc.indptr))[~np.isfinite(Z_vc.data)]] = True
        Z = [parts[0], Z_vc]
    else:
        parts += [_matrix(v, keep) for v in vc_infos]
        Z = np.hstack(parts) if parts else np.zeros((n, 0))
        rowbad = ~(np.isfinite(y) & np.isfinite(X).all(axis=1) & np.isfinite(Z).all(axis=1))
    if rowbad.any():                                       # np.log(0) and the like
        if spec.missing == "none":
            _refuse_missing(["the values a formula term computes (e.g. np.log of 0)"], int(rowbad.sum()))
        y, X, keep = y[~rowbad], X[~rowbad], keep.loc[~rowbad]
        Z = [Z[0][~rowbad], Z[1][np.flatnonzero(~rowbad)]] if sparse_vc else Z[~rowbad]
    col = keep[spec.groups]
    keys = (col.cat.codes.to_numpy() if spec.group_kind == "category" else col.to_numpy()).astype(np.int64)
    return keys, y, X, Z, int(len(pdf) - len(keys))


def _sparse_vc(spec, vc_infos, frame):
    """[Z_vc] of the kept rows as a csr array: each indicator term from its level codes (formula_vc._vc_terms).

    A component whose formula is not of that kind (formula_vc's one-pass
    rules), or whose columns would come out in another order than patsy's on
    the driver, is built densely by patsy and then made sparse.
    """
    import scipy.sparse as sp
    from .formula import _parse
    from .formula_vc import _vc_terms
    n = len(frame)
    blocks = []
    for name, info, names in zip(spec.vc_names, vc_infos, spec.names["vc"]):
        desc = _parse(f"vc_formula[{name!r}]", spec.vc_formula[name], lhs=False)
        evaluated = _vc_terms(desc, frame, eval_env())
        terms = evaluated[0] if evaluated is not None else None
        if terms is None or [c for t in terms for c in t[4]] != list(names) or any(
                t[0] is not None and not t[2] for t in terms):
            blocks.append(sp.csr_array(_matrix(info, frame)))
            continue
        rows, cols, vals, offset = [], [], [], 0
        for codes, levels, _, v, term_names in terms:
            rows.append(np.arange(n))
            cols.append(np.full(n, offset, dtype=np.int64) if codes is None else offset + codes)
            vals.append(v)
            offset += len(term_names)
        blocks.append(sp.csr_array((np.concatenate(vals).astype(float),
                                    (np.concatenate(rows), np.concatenate(cols))), shape=(n, len(names))))
    return sp.hstack(blocks, format="csr") if blocks else sp.csr_array((n, 0))


def _refuse_missing(culprits, count):
    raise ValueError(f"{count} rows of a partition have NaN, inf or a missing label in columns "
                     f"{culprits}; clean the data or pass missing='drop' to drop those rows")


def _matrix(info, frame):
    with np.errstate(all="ignore"):
        return np.array(patsy.build_design_matrices([info], frame, NA_action=_NO_NA)[0], dtype=float)
