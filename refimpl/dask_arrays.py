"""MixedLM(endog, exog, groups, exog_re) with dask.array inputs: the array constructor on Dask.

``MixedLM(endog, exog, groups, exog_re=None, ...)`` where any of endog, exog,
groups, exog_re is a ``dask.array.Array`` returns a :class:`DaskArrayMixedLM`
(a ``distributed.DaskMixedLM``): the per-group statistics (eq:suffstats) are
reduced in one Dask pass and the fit is the in-memory fit, with the estimates
the in-memory constructor gives on the same numpy arrays (to rounding).
model.py dispatches on the type in ``MixedLM.__new__`` without importing dask
when no input comes from it.

One mechanism. The arrays are wrapped, block by block, as a Dask DataFrame
with one column per input column (``endog``, ``exog_0``, ..., ``exog_re_0``,
..., ``groups``), and the formula ``endog ~ 0 + exog_0 + ...`` (and
``0 + exog_re_0 + ...``) reproduces y, X and Z_re value for value. The
statistics are then those of a Dask DataFrame: the same learn, chunk,
reduction and driver checks as ``from_formula`` (distributed.py,
dask_stats.py). Only the names differ: exog is named as refimpl names a numpy
exog (``const`` for a column of ones, else ``x1``, ``x2``, ...), exog_re
``x_re1``, ..., the random intercept ``Group``. Whether a column is all ones
is read in the same pass.

Where it makes sense, and what is refused (a ValueError or TypeError naming
the argument and the alternative):

* endog, exog, exog_re, groups: dask arrays, chunked along rows. They take
  endog's row chunks (the first dask input's if endog is numpy): an input
  with other row chunks is rechunked to those, a 2-d input split along
  columns is rechunked to one column block. Numpy arrays (and lists) are
  accepted beside dask arrays and chunked the same way; pandas and Dask
  DataFrames/Series are refused (their names and index would be lost; use
  ``from_formula`` on a Dask DataFrame, or ``.to_dask_array(lengths=True)``).
* Unknown chunk sizes (nan, e.g. after boolean indexing) are refused; call
  ``x.compute_chunk_sizes()`` first. Lengths that differ are refused naming
  both arguments. Non-numeric or complex endog / exog / exog_re are refused.
* groups of integers are used as they are (no extra pass). Any other labels
  (strings, objects, floats, datetimes) must be known before the pass, as a
  categorical's categories are, so refimpl reads groups alone once more to
  collect its distinct labels (what ``df.categorize`` does for a frame).
  Labels sort as in memory (groups.encode_groups).
* exog_vc (a VCSpec or a dict of per-group matrices) is refused: its matrices
  follow each group's rows, which are spread over the chunks. Use
  ``MixedLM.from_formula(..., vc_formula={...})`` on a Dask DataFrame.

Arrays in, arrays out: params, bse, ... are numpy arrays, as for numpy
input, and ``fittedvalues`` / ``resid`` are lazy 1-d dask arrays with the
input's row chunks (unknown chunk sizes when missing='drop' dropped rows),
each block computed from the input blocks by the pass's own row builder
(``_partition`` then ``partition_rows``). ``predict()`` on the fitted rows
is refused, as for a Dask DataFrame (the model holds no rows).
"""

import dataclasses
import time
import warnings

import numpy as np
import pandas as pd

from . import groups as grouping
from .dask_design import learn
from .distributed import DaskMixedLM, DaskMixedLMResults, _design, _rows_of, one_pass

#: The four inputs that may be dask arrays, in the order their row chunks are taken from.
INPUTS = ("endog", "exog", "groups", "exog_re")


def is_dask_array(a):
    """True for a dask.array.Array (without importing dask when it is not loaded)."""
    if not type(a).__module__.startswith("dask"):
        return False
    import dask.array as da
    return isinstance(a, da.Array)


def has_dask_array(*inputs):
    return any(is_dask_array(a) for a in inputs)


class DaskArrayMixedLM(DaskMixedLM):
    """A DaskMixedLM built by the array constructor from dask arrays (module docstring)."""

    def __init__(self, endog, exog, groups, exog_re=None, exog_vc=None, use_sqrt=True,
                 missing="none", **kwargs):
        if "_design" in kwargs:                       # built from statistics (pickling, copies)
            super().__init__(endog, exog, groups, exog_re, exog_vc, use_sqrt, missing, **kwargs)
            return
        if kwargs:
            raise TypeError(f"MixedLM got unexpected keyword arguments {sorted(kwargs)}; it takes "
                            "endog, exog, groups, exog_re, exog_vc, use_sqrt, missing")
        built = _build(endog, exog, groups, exog_re, exog_vc, missing)
        super().__init__(None, None, None, use_sqrt=use_sqrt, _design=built["design"],
                         _stats=built["stats"])
        self.dask_data, self.dask_spec, self.dask_keys = built["data"], built["spec"], built["keys"]
        self.dask_arrays, self.dask_labels = built["arrays"], built["labels"]
        self.dask_timings = built["timings"]

    def fit(self, *args, **kwargs):
        res = super().fit(*args, **kwargs)
        res.__class__ = DaskArrayMixedLMResults
        return res


class DaskArrayMixedLMResults(DaskMixedLMResults):
    """Results of a DaskArrayMixedLM: fittedvalues and resid are lazy dask arrays, not Series."""

    def _row_array(self, what):
        """One block of the answer per row block of the inputs: the same rows the pass read.

        Built with ``da.blockwise`` over the input arrays (each block made a pandas
        frame by :func:`_partition`, then distributed._rows_of), not with
        ``to_dask_array`` of the frame's Series: with dask 2026.8 that conversion
        of a ``from_delayed`` frame fails ("Missing dependency").
        """
        import dask
        import dask.array as da
        model = self.model
        a = model.dask_arrays
        b = np.zeros((0, model.layout.q)) if model.dask_keys is None else self._b_hat
        table = dask.delayed((model.dask_keys, b, self._beta.copy()), traverse=False)
        args = [a["endog"], "i", a["exog"], "ij", a["groups"], "i"]
        args += [] if a["exog_re"] is None else [a["exog_re"], "ik"]
        # every block keeps its rows unless missing='drop' dropped some: then sizes are unknown
        adjust = None if model.design.n_dropped == 0 else {"i": lambda size: np.nan}
        return da.blockwise(_rows_of_block, "i", *args, concatenate=True, dtype=float,
                            adjust_chunks=adjust, spec=model.dask_spec, table=table, what=what,
                            labels=model.dask_labels)

    @property
    def fittedvalues(self):
        """X beta_hat + Z b_hat (eq:pred-conditional) as a lazy 1-d dask array over the kept rows."""
        return self._row_array("fittedvalues")

    @property
    def resid(self):
        """endog - fittedvalues as a lazy 1-d dask array."""
        return self._row_array("resid")


def _rows_of_block(y, X, g, Z=None, *, spec, table, what, labels):
    """fittedvalues or resid of one row block (the pass's rows: _partition, then partition_rows)."""
    frame = _partition(y, X, g, Z, 0, _columns(X.shape[1], 0 if Z is None else Z.shape[1]),
                       _categories(labels))
    return _rows_of(frame, spec, table, what).to_numpy()


# ---------------------------------------------------------------------------
# Inputs: checked and chunked alike
# ---------------------------------------------------------------------------

def _build(endog, exog, groups, exog_re, exog_vc, missing):
    """The statistics pass (distributed.one_pass).

    Returns {design, stats, data, spec, keys, arrays, labels, timings}.
    """
    clock = [time.perf_counter()]
    if exog_vc is not None:
        raise ValueError(
            "exog_vc is not accepted with dask.array inputs: its per-group matrices follow each "
            "group's rows, which are spread over the chunks. Put the variance components' columns "
            "in a Dask DataFrame and use MixedLM.from_formula(formula, data, groups=..., "
            "vc_formula={...}), or compute() the arrays and fit in memory")
    arrays = _chunked(dict(endog=endog, exog=exog, groups=groups, exog_re=exog_re))
    n = arrays["endog"].shape[0]
    if n == 0:
        raise ValueError("the data set is empty (endog has no rows)")
    labels = None if _integer_labels(arrays["groups"]) else _distinct_labels(arrays["groups"])
    data, formula, re_formula = _frame(arrays, labels)
    spec, infos = learn(formula, data, "groups", re_formula=re_formula, missing=missing)
    x_cols = spec.names["exog"]
    ones = (data[x_cols] == 1).all() if x_cols else None        # in the same pass: shared partitions
    (stats, keys, R, slot_max, n_dropped), (ones,) = one_pass(data, spec, clock, extra=(ones,))
    if stats.n_obs == 0:
        raise ValueError("no rows are left after dropping rows with missing values")
    if n_dropped:
        warnings.warn(f"missing='drop': dropped {n_dropped} of {n} rows with NaN, inf or a missing "
                      "group label", UserWarning, stacklevel=4)
    # statistics() returns the keys ascending: integer labels sorted, or codes into the sorted
    # labels; either way statsmodels' group order, as encode_groups gives it in memory
    group_labels = (list(keys.astype(arrays["groups"].dtype)) if labels is None
                    else [labels[k] for k in keys])
    design = _design(_named(spec, ones, re_formula), infos, stats, R, slot_max, group_labels,
                     n_dropped, "Group")
    design.endog_name, design.row_labels, design.formula_info = "y", None, None
    clock.append(time.perf_counter())
    return dict(design=design, stats=stats, data=data, spec=spec, keys=keys, arrays=arrays,
                labels=labels, timings=dict(zip(("reference", "reduction", "driver"), np.diff(clock))))


def _named(spec, ones, re_formula):
    """spec with the names inputs.design_from_arrays gives numpy arrays: const / x1, x2, ...; x_re1, ..."""
    const = [] if ones is None else [bool(v) for v in ones.to_numpy()]
    others = iter(range(1, len(const) + 1))
    exog_names = ["const" if c else f"x{next(others)}" for c in const]
    re_names = ([f"x_re{j + 1}" for j in range(spec.k_re)] if re_formula is not None
                else spec.names["exog_re"])                      # ["Intercept"]: _design says "Group"
    return dataclasses.replace(spec, names={**spec.names, "exog": exog_names, "exog_re": re_names})


def _chunked(inputs):
    """The inputs as dask arrays with endog's row chunks (module docstring), after the checks."""
    import dask.array as da
    for name, a in inputs.items():
        if a is None and name == "exog_re":
            continue
        if type(a).__module__.startswith("dask") and not is_dask_array(a):
            raise TypeError(
                f"{name} is a {type(a).__name__} from Dask; with dask.array inputs every input must "
                f"be a dask array or a numpy array. Use {name}.to_dask_array(lengths=True), or pass "
                "the whole Dask DataFrame to MixedLM.from_formula")
        if isinstance(a, (pd.Series, pd.DataFrame, pd.Index)):
            raise TypeError(
                f"{name} is a pandas {type(a).__name__} beside dask arrays: its names and index "
                f"would be lost. Pass {name}.to_numpy() (chunked like the dask inputs), or put "
                "every input in a Dask DataFrame and use MixedLM.from_formula")
        if a is None:
            raise TypeError(f"{name} is None; MixedLM needs endog, exog and groups")
        if is_dask_array(a) and any(np.isnan(c) for c in a.chunks[0]):
            raise ValueError(
                f"{name} has unknown chunk sizes along its rows (nan, e.g. after boolean "
                f"indexing); call {name} = {name}.compute_chunk_sizes() first")
    arrays = {k: (a if a is None or is_dask_array(a) else np.asarray(a)) for k, a in inputs.items()}
    _check_shapes(arrays)
    reference = next(k for k in INPUTS if is_dask_array(arrays[k]))
    rows = arrays[reference].chunks[0]
    out = {}
    for name, a in arrays.items():
        if a is None:
            out[name] = None
            continue
        if name == "endog" and a.ndim == 2:
            a = a[:, 0]
        if name in ("exog", "exog_re") and a.ndim == 1:
            a = a[:, None]
        if not is_dask_array(a):
            a = da.from_array(a, chunks=(rows,) + a.shape[1:])
        if a.ndim == 2 and a.numblocks[1] > 1:
            a = a.rechunk({1: -1})                  # one column block: a block is a set of rows
        if a.chunks[0] != rows:
            a = a.rechunk({0: rows})                # the rule: the reference input's row chunks
        out[name] = a
    return out


def _check_shapes(arrays):
    """Dimensions, lengths and dtypes, naming the argument (as inputs.py does in memory)."""
    y = arrays["endog"]
    if not (y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1)):
        raise ValueError(f"endog must be one-dimensional, got shape {y.shape}")
    n = y.shape[0]
    for name in ("exog", "exog_re"):
        a = arrays[name]
        if a is not None and a.ndim not in (1, 2):
            raise ValueError(f"{name} must be 1- or 2-dimensional, got shape {a.shape}")
    if arrays["groups"].ndim != 1:
        raise ValueError(f"groups must be one-dimensional (one label per row), got shape "
                         f"{arrays['groups'].shape}")
    for name in ("exog", "groups", "exog_re"):
        a = arrays[name]
        if a is not None and a.shape[0] != n:
            raise ValueError(f"{name} has {a.shape[0]} rows but endog has {n}; they must match "
                             "row for row")
    for name in ("endog", "exog", "exog_re"):
        a = arrays[name]
        if a is None:
            continue
        if a.dtype.kind == "c":
            raise ValueError(f"{name} has complex values; the model is for real data (pass the real "
                             "part explicitly if that is what you mean)")
        if a.dtype.kind not in "biuf":
            raise ValueError(f"{name} must be numeric, got dtype {a.dtype}; with dask arrays cast "
                             f"it first ({name}.astype(float)) or encode categories with a formula "
                             "(from_formula on a Dask DataFrame)")
    if arrays["groups"].dtype.kind == "c":
        raise ValueError("groups has complex labels; use integers or strings as group labels")


# ---------------------------------------------------------------------------
# Group labels and the Dask DataFrame the statistics pass reads
# ---------------------------------------------------------------------------

def _integer_labels(groups):
    """Integer labels that fit int64 are used as keys directly (group_kind 'integer')."""
    kind, size = groups.dtype.kind, groups.dtype.itemsize
    return kind == "i" or (kind == "u" and size < 8)


def _distinct_labels(groups):
    """The sorted distinct labels of groups (the extra pass over groups alone), as in memory."""
    import dask
    parts = dask.compute(*[dask.delayed(_block_labels)(b) for b in groups.to_delayed().ravel()])
    found = np.concatenate([np.asarray(p, dtype=object) for p in parts]) if parts else np.zeros(0)
    if groups.dtype.kind in "biufMm" and len(found):
        found = found.astype(groups.dtype)
    if len(found) == 0:
        return []
    return grouping.encode_groups(found, len(found))[1]


def _block_labels(block):
    """One block's distinct non-missing labels (missing ones are the pass's to refuse or drop)."""
    block = np.asarray(block)
    kept = block[~grouping.missing_labels(block)]
    return grouping.encode_groups(kept, len(kept))[1] if len(kept) else []


def _frame(arrays, labels):
    """(Dask DataFrame, formula, re_formula): one partition per row block, one column per input column."""
    import dask
    import dask.dataframe as dd
    p = arrays["exog"].shape[1]
    k = 0 if arrays["exog_re"] is None else arrays["exog_re"].shape[1]
    columns, categories = _columns(p, k), _categories(labels)
    offsets = np.concatenate([[0], np.cumsum(arrays["endog"].chunks[0])[:-1]]).astype(np.int64)
    # optimize_graph=False: inputs computed from one source keep its keys, so it is read once
    blocks = {name: (None if a is None else a.to_delayed(optimize_graph=False).ravel())
              for name, a in arrays.items()}
    parts = [dask.delayed(_partition)(blocks["endog"][i], blocks["exog"][i], blocks["groups"][i],
                                      None if k == 0 else blocks["exog_re"][i], int(offsets[i]),
                                      columns, categories)
             for i in range(len(offsets))]
    empty = _partition(np.zeros(0), np.zeros((0, p)), np.zeros(0, dtype=arrays["groups"].dtype),
                       None if k == 0 else np.zeros((0, k)), 0, columns, categories)
    data = dd.from_delayed(parts, meta=empty, verify_meta=False)
    formula = "endog ~ 0" + "".join(f" + {c}" for c in columns["exog"])
    re_formula = None if arrays["exog_re"] is None else "0" + "".join(f" + {c}" for c in columns["exog_re"])
    return data, formula, re_formula


def _columns(p, k):
    return dict(exog=[f"exog_{j}" for j in range(p)], exog_re=[f"exog_re_{j}" for j in range(k)])


def _categories(labels):
    """The groups column's categories: the sorted labels (None: integer labels, used as keys)."""
    return None if labels is None else pd.Index(labels, dtype=object if _mixed(labels) else None)


def _mixed(labels):
    return len({type(v) for v in labels}) > 1


def _partition(y, X, g, Z, offset, columns, categories):
    """One row block as a pandas DataFrame (float columns, integer or categorical groups)."""
    frame = {"endog": np.asarray(y, dtype=float)}
    frame.update(zip(columns["exog"], np.asarray(X, dtype=float).T))
    if Z is not None:
        frame.update(zip(columns["exog_re"], np.asarray(Z, dtype=float).T))
    g = np.asarray(g)
    frame["groups"] = (g.astype(np.int64) if categories is None
                       else pd.Categorical(g.astype(object) if g.dtype.kind in "OSU" else g,
                                           categories=categories))
    return pd.DataFrame(frame, index=pd.RangeIndex(offset, offset + len(y)))
