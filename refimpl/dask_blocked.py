"""Crossed (and large nested) designs on a Dask DataFrame: sparse statistics in one pass.

dask_stats.py reduces every partition to dense per-group blocks
[A_i | B_i | c_i] (eq:suffstats), q x (q + p + 1) floats a group. A crossed
design is one group whose q columns are the levels of every factor, so that
block is q^2 floats: too large once the factors have thousands of levels.
In memory such a design takes the blocked statistics of blocked_stats.py
(eq:crossed-blocks). Every one of them is a sum over rows of products of
two columns of Z = [Z_re | Z_vc] (or of a column of Z and one of [X | y0]),
so each is a group-by sum:

    A_g[i, j] = sum over rows r of group g of Z[r, i] Z[r, j]      key (g, i, j), i <= j
    [B_g | c_g][i] = sum over rows of g of Z[r, i] [X_r | y_r - X_r b_ref]   key (g, i, -1)
    n_g                                                          key (g, -1, -1)

Each partition emits only the nonzero products (:func:`chunk`): a row with
k nonzeros in Z gives k(k+1)/2 pairs, so a crossed a x b design gives the
diagonal of each factor and the (level_a, level_b) co-occurrences, never a
dense q x q array. Dask's group-by on (g, i, j) adds the pieces of a
level, or of a pair of levels, spread over partitions. The global pieces
(the R factor of [X | y | Z_re] by TSQR, X'X, X'(y - X b_ref), n, and the
maxima read by the checks) go up a tree reduction as in dask_stats.py; both
collections share the partition tasks, so the data are read once. Centring
is that of dask_stats.py (eq:recentre).

The route, decided as in memory (suffstats.compute_statistics):

* from the metadata: this sparse pass when the design has variance
  components and q >= blocked_stats.BLOCKED_MIN_Q (the levels are the
  known categories, so q is known before the pass). Otherwise dask_stats.py;
* after the pass, :func:`statistics` mirrors blocked_stats.use_blocked: one
  group present and a component whose columns have disjoint row supports
  (read, as in memory, from the matrix: the pass records each component's
  largest number of nonzeros in a row) give blocked_stats.BlockedStatistics,
  built from the same blocks (plan, A21's dense-or-sparse rule, the memory
  refusal refuse_if_too_big); anything else gives the dense per-group stacks
  suffstats.SufficientStatistics, under the same memory limit as in memory
  (suffstats.MAX_STACK_BYTES).

The checks before the fit read the statistics, as in memory. The one that
reads a dense Z'Z from the rows in memory (identifiability when a term has
at least n random effects) reads it here from the blocks, under the same
size limit (:func:`check_n_random_effects`).

What is covered: crossed designs in statsmodels' form (one group,
``vc_formula={"a": "0 + C(a)", "b": "0 + C(b)"}``, any number of factors,
with ``re_formula`` columns beside them); random slopes by level
(``"0 + C(a):x"``, disjoint row supports like an indicator, so it can be
block 1 as in memory); nested designs (variance components within groups,
``groups="school", vc_formula={"class": "0 + C(class)"}``), which are
per-group statistics: with q >= BLOCKED_MIN_Q they are densified per group
on the driver from the sparse pairs, as in memory. A component formula that
is not a product of one categorical and numeric factors (formula_vc's
one-pass rules) is built densely by patsy per partition (n_k x its columns).
"""

import numpy as np
import pandas as pd
import scipy.sparse as sp

from . import checks
from .blocked_stats import (BLOCKED_MIN_Q, DENSE_A21_FILL, BlockedStatistics, as_dense,
                            plan_from_components, refuse_if_too_big)
from .dask_design import partition_rows
from .dask_stats import LOWEST_GROUP_KEY, MAX_KEY, R_KEY, SUM_KEY
from .layout import Layout
from .suffstats import MAX_STACK_BYTES, SufficientStatistics

#: j of a column row (key (g, i, COLUMN)) and i, j of a group-size row.
COLUMN, SIZE = -1, -1
#: MAX_KEY rows: j = 0 for a slot's largest |value|, j = 1 for a component's most nonzeros in a row.
SLOT_MAX, ROW_NNZ = 0, 1


def sparse_route(spec):
    """True when the pass is this module's (the metadata part of blocked_stats.use_blocked)."""
    return len(spec.names["vc"]) > 0 and spec.q >= BLOCKED_MIN_Q


def layout_of(spec):
    return Layout(spec.k_re, tuple(len(v) for v in spec.names["vc"]))


def width(spec):
    """Value columns: [B_g | c_g] has p + 1, an R row p + 1 + k_re."""
    p = len(spec.names["exog"])
    return max(p + 1 + spec.k_re, 2)


def empty_frame(spec):
    W = width(spec)
    cols = {"g": np.zeros(0, np.int64), "i": np.zeros(0, np.int64), "j": np.zeros(0, np.int64)}
    cols.update({f"v{k}": np.zeros(0) for k in range(W)})
    return pd.DataFrame(cols)


def _frame(g, i, j, values, W):
    out = np.zeros((len(g), W))
    values = np.asarray(values, float).reshape(len(g), -1)
    out[:, :values.shape[1]] = values
    cols = {"g": np.asarray(g, np.int64), "i": np.asarray(i, np.int64), "j": np.asarray(j, np.int64)}
    cols.update({f"v{k}": out[:, k] for k in range(W)})
    return pd.DataFrame(cols)


def chunk(pdf, spec, b_ref):
    """One partition -> its rows of the long frame (the module docstring's keys)."""
    keys, y, X, (Z_re, Z_vc), n_dropped = partition_rows(pdf, spec, sparse_vc=True)
    p, q, k_re, W = X.shape[1], spec.q, spec.k_re, width(spec)
    lay = layout_of(spec)
    n = len(keys)
    if n and keys.min() < LOWEST_GROUP_KEY:
        raise ValueError(f"groups column {spec.groups!r} has labels below {LOWEST_GROUP_KEY}; "
                         "recode the labels")
    frames = []
    if n:
        uniq, local = np.unique(keys, return_inverse=True)
        local = local.ravel()
        Z = sp.hstack([sp.csr_array(Z_re), Z_vc], format="csr")
        Z.eliminate_zeros()
        rows = np.repeat(np.arange(n), np.diff(Z.indptr))
        # Z spread by group: column local_g * q + c, so W'W holds every group's A_g
        Wg = sp.csc_array((Z.data, (rows, local[rows] * q + Z.indices)), shape=(n, len(uniq) * q))
        AtA = sp.triu(Wg.T @ Wg, format="coo")
        g_of, i_of = np.divmod(AtA.row, q)
        frames.append(_frame(uniq[g_of], i_of, AtA.col % q, AtA.data, W))
        present = np.flatnonzero(np.diff(Wg.indptr))
        Xy_ref = np.column_stack([X, y - X @ b_ref])
        ZtXy = Wg[:, present].T @ Xy_ref                              # [B_g | c_g(b_ref)] rows
        g_of, i_of = np.divmod(present, q)
        frames.append(_frame(uniq[g_of], i_of, np.full(len(present), COLUMN), ZtXy, W))
        sizes = np.bincount(local, minlength=len(uniq))
        frames.append(_frame(uniq, np.full(len(uniq), SIZE), np.full(len(uniq), SIZE), sizes, W))
        R = checks.r_factor(X, y, Z_re)
        frames.append(_frame(np.full(len(R), R_KEY), np.arange(len(R)), np.zeros(len(R)), R, W))
        nnz = np.zeros((n, lay.k_vc), np.int64)
        cols_vc = Z_vc.indices
        comp = np.searchsorted(np.cumsum(lay.vc_sizes), cols_vc, side="right")
        nonzero = Z_vc.data != 0
        np.add.at(nnz, (np.repeat(np.arange(n), np.diff(Z_vc.indptr))[nonzero], comp[nonzero]), 1)
        slot_max = np.zeros(q - k_re)
        np.maximum.at(slot_max, cols_vc, np.abs(Z_vc.data))
        XtX, Xty_ref = X.T @ X, Xy_ref[:, :p].T @ Xy_ref[:, p]
        row_nnz = nnz.max(axis=0)
    else:
        XtX, Xty_ref = np.zeros((p, p)), np.zeros(p)
        slot_max, row_nnz = np.zeros(q - k_re), np.zeros(lay.k_vc)
    sums = np.zeros((p + 2, W))
    sums[:p, :p], sums[p, :p], sums[p + 1, :2] = XtX, Xty_ref, (n, n_dropped)
    frames.append(_frame(np.full(p + 2, SUM_KEY), np.arange(p + 2), np.zeros(p + 2), sums, W))
    frames.append(_frame(np.full(len(slot_max), MAX_KEY), np.arange(len(slot_max)),
                         np.full(len(slot_max), SLOT_MAX), slot_max, W))
    frames.append(_frame(np.full(lay.k_vc, MAX_KEY), np.arange(lay.k_vc), np.full(lay.k_vc, ROW_NNZ),
                         row_nnz, W))
    return pd.concat(frames, ignore_index=True)


def combine_global(frame, spec):
    """Global rows of several partitions -> one set: R stacked and refactored (TSQR), sums, maxima."""
    k = len(spec.names["exog"]) + 1 + spec.k_re
    W = width(spec)
    g = frame["g"].to_numpy()
    vals = frame[[f"v{c}" for c in range(W)]].to_numpy()
    Rs = vals[g == R_KEY, :k]
    R = np.linalg.qr(Rs, mode="r") if len(Rs) else np.zeros((0, k))
    sums = frame[g == SUM_KEY].groupby(["i", "j"], as_index=False).sum()
    top = frame[g == MAX_KEY].groupby(["i", "j"], as_index=False).max()
    return pd.concat([_frame(np.full(len(R), R_KEY), np.arange(len(R)), np.zeros(len(R)), R, W),
                      sums.assign(g=SUM_KEY)[frame.columns], top.assign(g=MAX_KEY)[frame.columns]],
                     ignore_index=True)


def _group_rows(frame):
    return frame[frame["g"] > LOWEST_GROUP_KEY]


def _global_rows(frame):
    return frame[frame["g"] <= LOWEST_GROUP_KEY]


def reduction(data, spec, b_ref, split_every=8, split_out=None):
    """(summed group entries, global rows): two lazy collections over ONE map_partitions of :func:`chunk`."""
    meta = empty_frame(spec)
    parts = data.map_partitions(chunk, spec, b_ref, meta=meta, align_dataframes=False)
    if split_out is None:
        split_out = max(1, data.npartitions // 8)
    groups = parts.map_partitions(_group_rows, meta=meta).groupby(["g", "i", "j"]).sum(split_out=split_out)
    glob = parts.map_partitions(_global_rows, meta=meta).reduction(
        lambda f: f, aggregate=combine_global, combine=combine_global, meta=meta,
        combine_kwargs=dict(spec=spec), aggregate_kwargs=dict(spec=spec), split_every=split_every)
    return groups, glob


def statistics(groups, glob, spec, b_ref):
    """(stats, keys, R, slot_max, n_dropped): BlockedStatistics or the per-group stacks (module docstring)."""
    p, q, k_re, W = len(spec.names["exog"]), spec.q, spec.k_re, width(spec)
    lay = layout_of(spec)
    k = p + 1 + k_re
    g = glob["g"].to_numpy()
    gi, gj = glob["i"].to_numpy(), glob["j"].to_numpy()
    gv = glob[[f"v{c}" for c in range(W)]].to_numpy()
    R = gv[g == R_KEY, :k]
    sums = np.zeros((p + 2, W))
    sums[gi[g == SUM_KEY]] = gv[g == SUM_KEY]
    XtX, Xty_ref = sums[:p, :p], sums[p, :p]
    n, n_dropped = int(round(sums[p + 1, 0])), int(round(sums[p + 1, 1]))
    slot_max, row_nnz = np.zeros(q - k_re), np.zeros(lay.k_vc)
    at = (g == MAX_KEY) & (gj == SLOT_MAX)
    slot_max[gi[at]] = gv[at, 0]
    at = (g == MAX_KEY) & (gj == ROW_NNZ)
    row_nnz[gi[at]] = gv[at, 0]

    groups = groups.reset_index()
    eg, ei, ej = (groups[c].to_numpy() for c in ("g", "i", "j"))
    ev = groups[[f"v{c}" for c in range(W)]].to_numpy()
    size = (ei == SIZE) & (ej == SIZE)
    keys = np.sort(eg[size])
    group_sizes = np.zeros(len(keys), np.intp)
    group_sizes[np.searchsorted(keys, eg[size])] = np.rint(ev[size, 0]).astype(np.intp)
    pair, column = (ei >= 0) & (ej >= 0), (ei >= 0) & (ej == COLUMN)

    beta_ols = np.linalg.lstsq(R[:, :p], R[:, p], rcond=None)[0] if p else np.zeros(0)
    d = b_ref - beta_ols
    common = dict(XtX=XtX, Xty0=Xty_ref + XtX @ d, beta_ols=beta_ols, n_obs=n,
                  y0ty0=float(np.sum((R[:, p] - R[:, :p] @ beta_ols) ** 2)))

    def moved(C):                                                             # (eq:recentre)
        C[..., -1] += C[..., :-1] @ d
        return C

    # blocked_stats.use_blocked, with disjoint supports read from the per-row counts
    candidates = [j for j in range(lay.k_vc) if lay.vc_sizes[j] and row_nnz[j] <= 1]
    plan = plan_from_components(lay, candidates)
    if len(keys) == 1 and lay.k_vc > 0 and lay.q >= BLOCKED_MIN_Q and plan is not None:
        j1, cols1, cols2 = plan
        refuse_if_too_big(lay, j1, len(cols2), len(cols1))
        C = np.zeros((q, p + 1))
        C[ei[column]] = ev[column, :p + 1]
        C = moved(C)
        stats = _blocked(lay, plan, ei[pair], ej[pair], ev[pair, 0], C, common, group_sizes)
    else:
        need = 8 * len(keys) * q * (q + p + 1)
        if need > MAX_STACK_BYTES:
            raise ValueError(
                f"the per-group statistics of this design would need {need / 2 ** 30:.1f} GB "
                f"({len(keys)} groups x q = {q} random-effect columns): refimpl does not densify "
                "them. A crossed design goes the blocked way only when it is one group and one "
                "variance component is the indicators of a factor (each row in one level)")
        G_of = np.searchsorted(keys, eg)
        ZtZ = np.zeros((len(keys), q, q))
        ZtZ[G_of[pair], ei[pair], ej[pair]] = ev[pair, 0]
        ZtZ[G_of[pair], ej[pair], ei[pair]] = ev[pair, 0]
        ZtXy0 = np.zeros((len(keys), q, p + 1))
        ZtXy0[G_of[column], ei[column]] = ev[column, :p + 1]
        stats = SufficientStatistics(ZtZ=ZtZ, ZtXy0=moved(ZtXy0), group_sizes=group_sizes, **common)
    return stats, keys, R, slot_max, n_dropped


def _blocked(lay, plan, i, j, v, C, common, group_sizes):
    """BlockedStatistics from the summed pairs (i <= j) of one group, as compute_blocked_statistics builds them."""
    j1, cols1, cols2 = plan
    q = lay.q
    pos1, pos2 = np.full(q, -1), np.full(q, -1)
    pos1[cols1], pos2[cols2] = np.arange(len(cols1)), np.arange(len(cols2))
    in1_i, in1_j = pos1[i] >= 0, pos1[j] >= 0
    both1 = in1_i & in1_j
    if np.any(i[both1] != j[both1]):
        raise AssertionError("block 1's columns overlap in rows; the plan said they do not")
    d1 = np.zeros(len(cols1))
    d1[pos1[i[both1]]] = v[both1]
    # A21 = Z_2'Z_1: each cross pair once, as (row in block 2, column in block 1)
    cross = in1_i ^ in1_j
    r2 = np.where(in1_i, pos2[j], pos2[i])[cross]
    c1 = np.where(in1_i, pos1[i], pos1[j])[cross]
    A21 = sp.csr_array((v[cross], (r2, c1)), shape=(len(cols2), len(cols1)))
    A21.sum_duplicates()
    A21.eliminate_zeros()
    if A21.nnz > DENSE_A21_FILL * A21.shape[0] * A21.shape[1]:
        A21 = A21.toarray()
    both2 = ~in1_i & ~in1_j
    A22 = np.zeros((len(cols2), len(cols2)))
    A22[pos2[i[both2]], pos2[j[both2]]] = v[both2]
    A22[pos2[j[both2]], pos2[i[both2]]] = v[both2]
    sizes2 = tuple(s for jj, s in enumerate(lay.vc_sizes) if jj != j1)
    return BlockedStatistics(layout=lay, j1=j1, cols1=cols1, cols2=cols2,
                             layout2=Layout(lay.k_re, sizes2), d1=d1, A21=A21, A22=A22,
                             B1=C[cols1], B2=C[cols2], group_sizes=np.array([common["n_obs"]]),
                             **common)


#: estimable._ZtZ_batches' budget: in memory the identifiability check forms a dense Z'Z only up to this.
GRAM_BUDGET = 1 << 26


def dense_ZtZ(stats):
    """A = Z'Z (q, q) in the layout's order from the blocks (d1, A21, A22)."""
    A = np.zeros((stats.q, stats.q))
    c1, c2 = stats.cols1, stats.cols2
    A[c1, c1] = stats.d1
    A21 = as_dense(stats.A21)
    A[np.ix_(c2, c1)], A[np.ix_(c1, c2)] = A21, A21.T
    A[np.ix_(c2, c2)] = stats.A22
    return A


class _OneRow:
    """A design seen by estimable._ZtZ_batches as one group of one row (it then declines at large q)."""

    def __init__(self, design):
        self._design = design
        self.group_index = np.zeros(1, np.intp)

    def __getattr__(self, name):
        return getattr(self._design, name)


def check_n_random_effects(design, stats):
    """estimable._check_n_random_effects on blocked statistics, without rows.

    In memory the check reads Z'Z densely from the rows when a term has at
    least n random effects, unless q^2 doubles pass GRAM_BUDGET; then it
    only warns. Here Z'Z comes from the blocks under the same rule (a term
    with n random effects has q >= n, so the rows' budget is the same).
    """
    from types import SimpleNamespace
    from . import estimable
    if 8 * stats.q * stats.q <= GRAM_BUDGET:
        return estimable._check_n_random_effects(design, SimpleNamespace(ZtZ=dense_ZtZ(stats)[None]))
    return estimable._check_n_random_effects(_OneRow(design), None)
