"""MixedLM on a Dask DataFrame: data larger than memory, or spread over a cluster, fitted exactly.

``MixedLM.from_formula(formula, data, groups=..., re_formula=..., vc_formula=...)``
with ``data`` a ``dask.dataframe.DataFrame`` comes here (model.py dispatches
on the type). The likelihood, score and Hessian see the data only through the
per-group statistics (eq:suffstats), so:

1. the design is learnt from the frame's metadata (dask_design.py);
2. one Dask reduction reads every partition once and returns the per-group
   stacks A_i, [B_i | c_i], n_i and the global X'X, R of [X | y | Z_re]
   (dask_stats.py), on whatever scheduler is active (a ``distributed.Client``
   to a cluster, a LocalCluster, or the synchronous scheduler);
3. the driver runs the build-time and pre-fit checks on those aggregates and
   builds a :class:`DaskMixedLM` around them; ``fit`` is then the in-memory
   fit, the same EM / Newton code on the same stacks.

The driver holds the stacks, (G, q, q + p + 1) floats, and the fit's
temporaries for one chunk of groups (group_chunks.py); nothing of size n. Results answer
everything from the stacks; ``fittedvalues`` and ``resid`` are lazy Dask
Series computed partition by partition from beta_hat and the BLUPs.

What the checks cannot do without the rows: the exact "y fitted exactly by X
and Z" check (estimable._check_within_residual) reads whole groups. When the
screen on the statistics (estimable.within_residual_clearly_positive) cannot
decide, it is skipped, as it is in memory for a group too large to read
densely, and decided after the fit instead (estimable.refuse_exact_fit_at:
a residual quadratic form within the rounding of the sums of y is refused
with the same message; without it such data "converged" at a sigma2 made of
rounding noise).

Crossed designs (statsmodels' form: one group, one variance component per
factor) and any design with variance components and q >=
blocked_stats.BLOCKED_MIN_Q take the sparse pass of dask_blocked.py instead
of step 2: Dask group-bys on (group, column, column) of the nonzero products,
in the same single pass. A crossed design is then fitted through the same
blocked statistics as in memory (blocked_stats.BlockedStatistics, chosen by
the same rule), with no limit on the number of levels beyond the blocked
path's own memory refusal; a nested design (components within groups) gets
its dense per-group stacks, as in memory. dask_blocked.py's docstring says
exactly which formulas are covered.
"""

import time

import numpy as np
import pandas as pd
import scipy.sparse as sp

from . import checks, dask_blocked, dask_stats, estimable
from .blocked_stats import BlockedStatistics
from .dask_design import learn
from .design import Design, _check_full_rank, _check_identifiable
from .groups import sorted_labels
from .layout import Layout
from .model import MixedLM
from .results import MixedLMResults

def is_dask_frame(data):
    """True for a dask.dataframe DataFrame (without importing dask when it is not loaded)."""
    mod = type(data).__module__
    if not (mod.startswith("dask") or mod.startswith("dask_expr")):
        return False
    import dask.dataframe as dd
    return isinstance(data, dd.DataFrame)


class _Rows(np.ndarray):
    """A column of R standing for an n-row column: same norm and inner products, len() = n.

    The checks read y only through |y|, y'y and len(y) (checks.check_response,
    estimable.within_residual_clearly_positive); R's column p has the same
    norm as y (W'W = R'R).
    """

    def __new__(cls, values, n):
        obj = np.asarray(values, float).view(cls)
        obj.n_rows = int(n)
        return obj

    def __array_finalize__(self, obj):
        self.n_rows = getattr(obj, "n_rows", 0)

    def __len__(self):
        return self.n_rows


class StatsDesign(Design):
    """A Design without rows: X, y, Z_re are the columns of R (same Gram matrix), n is stored."""

    def __init__(self, n_obs, **fields):
        super().__init__(**fields)
        self._n_obs = int(n_obs)
        self.data_removed = True

    @property
    def n_obs(self):
        return self._n_obs


def from_formula(cls, formula, data, re_formula=None, vc_formula=None, missing="none", groups=None,
                 use_sqrt=True, split_every=8):
    """A :class:`DaskMixedLM` from a Dask DataFrame (one pass over the data; see the module docstring)."""
    clock = [time.perf_counter()]
    spec, infos = learn(formula, data, groups, re_formula=re_formula, vc_formula=vc_formula,
                        missing=missing)
    (stats, keys, R, slot_max, n_dropped), _ = one_pass(data, spec, clock, split_every=split_every)
    if stats.n_obs == 0:
        raise ValueError("the data set is empty (no rows are left)" if n_dropped else
                         "the data set is empty (data has no rows)")
    if n_dropped:
        import warnings
        warnings.warn(f"missing='drop': dropped {n_dropped} of {n_dropped + stats.n_obs} rows with "
                      "NaN, inf or a missing label", UserWarning, stacklevel=3)
    # groups in statsmodels' order: sorted labels
    labels = (np.asarray(data._meta[groups].dtype.categories[keys]) if spec.group_kind == "category"
              else keys)
    order = _order(labels)
    if order is not None:
        stats.ZtZ, stats.ZtXy0 = stats.ZtZ[order], stats.ZtXy0[order]
        stats.group_sizes = stats.group_sizes[order]
        keys, labels = keys[order], labels[order]
    design = _design(spec, infos, stats, R, slot_max, list(labels), n_dropped, groups)
    model = cls(None, None, None, use_sqrt=use_sqrt, _design=design, _stats=stats)
    model.dask_data, model.dask_spec, model.dask_keys = data, spec, keys
    clock.append(time.perf_counter())
    # seconds: design + reference fit (the first partitions), the pass (reduction), statistics + checks
    model.dask_timings = dict(zip(("reference", "reduction", "driver"), np.diff(clock)))
    return model


def one_pass(data, spec, clock, extra=(), split_every=8):
    """The single read of the data: ((stats, keys, R, slot_max, n_dropped), extra values).

    Step 2 of the module docstring, shared by both constructors (this module's
    from_formula and dask_arrays.DaskArrayMixedLM): the reference beta from one
    partition, then one ``dask.compute`` of the reduction -- the per-group route
    (dask_stats.py) or, for crossed / large-q designs, the sparse pairs of the
    blocked statistics (dask_blocked.py) -- together with any ``extra`` Dask
    collections the caller needs from the same read; the statistics are then
    assembled on the driver. Appends to ``clock`` the time after the reference
    fit and after the reduction.
    """
    import dask

    b_ref = dask_stats.reference_beta(data, spec)
    clock.append(time.perf_counter())
    route = dask_blocked if dask_blocked.sparse_route(spec) else dask_stats
    groups_frame, glob, *extra_values = dask.compute(
        *route.reduction(data, spec, b_ref, split_every=split_every), *extra)
    clock.append(time.perf_counter())
    out = route.statistics(groups_frame, glob, spec, b_ref)
    del groups_frame
    return out, extra_values


def _order(labels):
    """Positions that sort the labels (an array) as statsmodels does; None when already sorted."""
    try:
        if len(labels) < 2 or bool(np.all(labels[1:] > labels[:-1])):
            return None
        return np.argsort(labels, kind="stable")
    except TypeError:                              # labels of mixed types: groups.sorted_labels' order
        ranked = {v: i for i, v in enumerate(sorted_labels(list(labels)))}
        return np.asarray(sorted(range(len(labels)), key=lambda i: ranked[labels[i]]), dtype=np.intp)


def _design(spec, infos, stats, R, slot_max, labels, n_dropped, group_name):
    """The StatsDesign, after the build-time checks design.finish runs in memory (on R instead of rows)."""
    lhs, rhs, re_info, vc_infos = infos
    p, k_re, n, G = stats.k_fe, spec.k_re, stats.n_obs, len(labels)
    exog_names = spec.names["exog"]
    re_names = [c.replace("Intercept", group_name) if re_info is not None else group_name
                for c in spec.names["exog_re"]]
    vc_sizes = tuple(len(v) for v in spec.names["vc"])
    Z_vc = sp.csr_array(slot_max[None, :]) if vc_sizes else sp.csr_array((1, 0))
    names = {"endog": [str(lhs.column_names[0])], "exog": exog_names, "exog_re": re_names}
    checks.check_magnitudes(names, R, Z_vc, spec.vc_names, vc_sizes)
    _check_full_rank(R[:, :p], n, exog_names)
    design = StatsDesign(
        n, y=_Rows(R[:, p], n), X=R[:, :p], Z_re=R[:, p + 1:], Z_vc=Z_vc, group_index=None,
        group_labels=labels, layout=Layout(k_re, vc_sizes), exog_names=list(exog_names),
        exog_re_names=re_names, vc_names=spec.vc_names,
        vc_column_names=[[list(v)] * G for v in spec.names["vc"]], n_dropped=n_dropped,
        endog_name=str(lhs.column_names[0]), R=R, row_labels=pd.RangeIndex(0),
        vc_counts=np.tile(np.array(vc_sizes, dtype=np.intp), (G, 1)),
        formula_info=dict(formula=spec.formula, re_formula=spec.re_formula,
                          vc_formula=spec.vc_formula, fe_info=rhs, re_info=re_info,
                          groups=group_name))
    _check_identifiable(design)
    return design


class DaskMixedLM(MixedLM):
    """A MixedLM built from per-group statistics reduced by Dask; the rows stay in the Dask DataFrame."""

    def fit(self, *args, **kwargs):
        if not self._estimable:
            # estimable.check_estimable without its last, row-reading step (module docstring)
            if isinstance(self.stats, BlockedStatistics):            # Z'Z from the blocks
                dask_blocked.check_n_random_effects(self.design, self.stats)
            else:
                estimable._check_n_random_effects(self.design, self.stats)
            estimable._check_confounded(self.design, self.stats)
            self._estimable = True
        res = super().fit(*args, **kwargs)
        res.__class__ = DaskMixedLMResults
        return res


class DaskMixedLMResults(MixedLMResults):
    """MixedLMResults whose row-wise answers are lazy Dask Series over the model's Dask DataFrame."""

    def _row_series(self, what):
        import dask
        model = self.model
        b = np.zeros((0, model.layout.q)) if model.dask_keys is None else self._b_hat
        table = dask.delayed((model.dask_keys, b, self._beta.copy()))
        return model.dask_data.map_partitions(_rows_of, model.dask_spec, table, what,
                                              meta=pd.Series(dtype=float, name=what))

    @property
    def fittedvalues(self):
        """X beta_hat + Z b_hat (eq:pred-conditional) as a lazy Dask Series (kept rows, data's index)."""
        return self._row_series("fittedvalues")

    @property
    def resid(self):
        """y - fittedvalues as a lazy Dask Series."""
        return self._row_series("resid")


def _rows_of(pdf, spec, table, what):
    """fittedvalues or resid of one partition's kept rows."""
    from .dask_design import partition_rows
    keys_all, b_hat, beta = table
    sparse = dask_blocked.sparse_route(spec)
    keys, y, X, Z, _ = partition_rows(pdf, spec, sparse_vc=sparse)
    g = np.searchsorted(keys_all, keys) if _sorted(keys_all) else _lookup(keys_all, keys)
    if sparse:                                     # Z = (Z_re, Z_vc csr): no n x q array
        Z_re, Z_vc = Z
        k = Z_re.shape[1]
        rows = np.repeat(np.arange(len(keys)), np.diff(Z_vc.indptr))
        fitted = X @ beta + np.einsum("nq,nq->n", Z_re, b_hat[g, :k])
        fitted += np.bincount(rows, weights=Z_vc.data * b_hat[g[rows], k + Z_vc.indices],
                              minlength=len(keys))
    else:
        fitted = X @ beta + np.einsum("nq,nq->n", Z, b_hat[g])
    values = fitted if what == "fittedvalues" else y - fitted
    index = pdf.index if len(keys) == len(pdf) else _kept_index(pdf, spec, len(keys))
    return pd.Series(values, index=index, name=what)


def _sorted(a):
    return bool(np.all(a[1:] >= a[:-1]))


def _lookup(keys_all, keys):
    order = np.argsort(keys_all, kind="stable")
    return order[np.searchsorted(keys_all[order], keys)]


def _kept_index(pdf, spec, n):
    """The index of the rows partition_rows kept (missing='drop')."""
    sub = pdf[spec.columns]
    ok = np.ones(len(sub), dtype=bool)
    for c in spec.columns:
        na = sub[c].isna().to_numpy()
        if sub[c].dtype.kind == "f":
            na |= ~np.isfinite(sub[c].to_numpy())
        ok &= ~na
    idx = pdf.index[ok]
    if len(idx) != n:
        raise ValueError("fittedvalues with missing='drop': a formula term made further rows "
                         "missing; clean the data first")
    return idx
