"""The sufficient statistics of a Dask DataFrame, in one pass over the data, by Dask's own reductions.

Every partition is reduced, where it lives, to a small pandas frame
(:func:`chunk`): one row per group present in the partition (index: the
group key) holding that group's [A_i | B_i | c_i] and n_i (eq:suffstats),
and a few rows with negative keys for the global pieces. From that one
``map_partitions`` two Dask collections are computed together, so each
partition is read once (tests/test_dask.py counts the reads):

* the group rows, summed by Dask's group-by (``groupby("key").sum(split_out=...)``):
  a group spread over several partitions is added up there, and with
  split_out > 1 no worker holds every group;
* the global rows, combined by Dask's tree ``reduction`` (:func:`combine_global`):

  - R_KEY rows: the R factor of [X | y | Z_re] (checks.r_factor). Stacking two
    partitions' R and factoring again is a QR of all their rows (TSQR, the
    algorithm of ``dask.array.linalg.tsqr``, here in the same pass so that
    the data are read once). We keep R, not the Gram matrix of [X|y|Z_re]:
    R carries the columns' singular values to within rounding of the data,
    where a Gram matrix squares the condition number. R gives b_ols and the
    OLS residual sum of squares y0'y0 = |r|^2 without cancellation;
  - SUM_KEY: X'X, X'(y - X b_ref), n, rows dropped (sums);
  - MAX_KEY: the largest |value| of every variance-component slot (for
    checks.check_magnitudes).

A task that fails (an exception, a worker that dies more often than Dask's
``distributed.scheduler.allowed-failures``) fails the whole computation: a
reduction either has every partition's frame or raises.

Centring (eq:ols-centering). The in-memory statistics are those of
y0 = y - X b_ols, which needs b_ols before the pass. Here a common reference
b_ref is known before the pass (the OLS fit of the first partitions' rows,
read on the driver until there are REFERENCE_ROWS_PER_COLUMN rows per column
of X); each partition subtracts X b_ref from y, centres that at its own
least-squares fit d_k (suffstats.compute_sufficient_statistics; b_k = b_ref + d_k),
and moves back exactly to b_ref,

    c_i(b_ref) = c_i(b_k) + B_i (b_k - b_ref),                         (eq:recentre)

summed, and moved once more to b_ols on the driver. The moves are by
differences of estimates of the same beta, so they are small and lose no
digits, whatever the mean of y. Two things keep them small: b_ref is fitted
on enough rows to be a fair estimate, and a partition's own fit is of
y - X b_ref, so a partition with fewer rows than columns (whose exact fit b_k
of y itself could be anywhere) moves by a small d_k. What is left is the
rounding of y itself, as in memory: every sum with y0 is known to about
2 eps |y| |y0|, however it is summed (tests/test_properties_dask.py holds the
Dask and in-memory llf together to that bound).
"""

import numpy as np
import pandas as pd

from . import checks
from .dask_design import partition_rows
from .suffstats import SufficientStatistics, compute_sufficient_statistics

#: Keys of the global rows (group keys are category codes or integer labels above these).
R_KEY, SUM_KEY, MAX_KEY = -(2 ** 62), -(2 ** 62) - 1, -(2 ** 62) - 2
LOWEST_GROUP_KEY = -(2 ** 61)


def widths(spec):
    """(p, q, k): fixed effects, random-effect columns, columns of R = [X | y | Z_re]."""
    p, q = len(spec.names["exog"]), spec.q
    return p, q, p + 1 + spec.k_re


def n_columns(spec):
    p, q, k = widths(spec)
    return max(q * (q + p + 1) + 1, k, p * p + p + 2, q - spec.k_re, 1)


def empty_frame(spec):
    return pd.DataFrame(np.zeros((0, n_columns(spec))), index=pd.Index([], dtype=np.int64, name="key"),
                        columns=[f"v{j}" for j in range(n_columns(spec))])


def chunk(pdf, spec, b_ref):
    """One partition -> its per-group and global rows (the module docstring's frame)."""
    keys, y, X, Z, n_dropped = partition_rows(pdf, spec)
    p, q, k = widths(spec)
    W = n_columns(spec)
    if len(keys) and keys.min() < LOWEST_GROUP_KEY:
        raise ValueError(f"groups column {spec.groups!r} has labels below {LOWEST_GROUP_KEY}; "
                         "recode the labels")
    rows, index = [], []
    if len(keys):
        uniq, local = np.unique(keys, return_inverse=True)
        # y - X b_ref first: the partition's own fit is then of small numbers, d_k = b_k - b_ref,
        # and the move below adds small terms (a partition with fewer rows than columns has a
        # wild b_k; moving from it directly cancelled digits when y has a large offset)
        st = compute_sufficient_statistics(y - X @ b_ref, X, Z, local.ravel(), len(uniq))
        d_k = st.beta_ols                                                       # b_k - b_ref
        ZtXy0 = st.ZtXy0.copy()
        ZtXy0[:, :, -1] += st.ZtX @ d_k                                         # (eq:recentre)
        sums = np.concatenate([st.ZtZ, ZtXy0], axis=2).reshape(len(uniq), -1)
        block = np.zeros((len(uniq), W))
        block[:, :sums.shape[1]] = sums
        block[:, q * (q + p + 1)] = st.group_sizes
        rows.append(block)
        index.append(uniq)
        R = checks.r_factor(X, y, Z[:, :spec.k_re])
        rows.append(_pad(R, W))
        index.append(np.full(len(R), R_KEY))
        Xty_ref = st.Xty0 + st.XtX @ d_k                                        # X'(y - X b_ref)
        slot_max = np.abs(Z[:, spec.k_re:]).max(axis=0, initial=0.0)
    else:
        Xty_ref, slot_max = np.zeros(p), np.zeros(q - spec.k_re)
        st = None
    glob = np.zeros(W)
    glob[:p * p] = (X.T @ X).ravel() if st is None else st.XtX.ravel()
    glob[p * p:p * p + p] = Xty_ref
    glob[p * p + p], glob[p * p + p + 1] = len(keys), n_dropped
    rows += [glob[None, :], _pad(slot_max[None, :], W)]
    index += [[SUM_KEY], [MAX_KEY]]
    return pd.DataFrame(np.vstack(rows), index=pd.Index(np.concatenate(index).astype(np.int64), name="key"),
                        columns=[f"v{j}" for j in range(W)])


def _pad(block, W):
    out = np.zeros((block.shape[0], W))
    out[:, :block.shape[1]] = block
    return out


def combine_global(frame, spec):
    """Concatenated global rows of several partitions -> one set: R stacked and refactored (TSQR), sums, maxima."""
    p, q, k = widths(spec)
    key = frame.index.to_numpy()
    Rs = frame.to_numpy()[key == R_KEY, :k]
    R = np.linalg.qr(Rs, mode="r") if len(Rs) else np.zeros((0, k))
    glob = frame[key == SUM_KEY].sum(axis=0).to_numpy()[None, :]
    top = frame[key == MAX_KEY].max(axis=0).to_numpy()[None, :]
    W = frame.shape[1]
    index = np.concatenate([np.full(len(R), R_KEY), [SUM_KEY, MAX_KEY]]).astype(np.int64)
    return pd.DataFrame(np.vstack([_pad(R, W), glob, top]), index=pd.Index(index, name="key"),
                        columns=frame.columns)


def _group_rows(frame):
    return frame[frame.index > LOWEST_GROUP_KEY].reset_index()       # the key as a column, to group by


def _global_rows(frame):
    return frame[frame.index <= LOWEST_GROUP_KEY]


def reduction(data, spec, b_ref, split_every=8, split_out=None):
    """(per-group sums, global rows): two lazy Dask collections over ONE map_partitions of :func:`chunk`.

    Computed together (``dask.compute(*reduction(...))``) the partitions are
    read once: both collections share the chunk tasks. The per-group rows are
    summed by Dask's group-by (``split_out`` output partitions, by default one
    per 8 input partitions, so no worker holds every group); the global rows
    by a tree reduction of :func:`combine_global`.
    """
    parts = data.map_partitions(chunk, spec, b_ref, meta=empty_frame(spec), align_dataframes=False)
    if split_out is None:
        split_out = max(1, data.npartitions // 8)
    groups = parts.map_partitions(_group_rows, meta=empty_frame(spec).reset_index()).groupby(
        "key").sum(split_out=split_out)
    glob = parts.map_partitions(_global_rows, meta=empty_frame(spec)).reduction(
        lambda f: f, aggregate=combine_global, combine=combine_global, meta=empty_frame(spec),
        combine_kwargs=dict(spec=spec), aggregate_kwargs=dict(spec=spec), split_every=split_every)
    return groups, glob


#: reference_beta reads partitions until it has this many rows per fixed effect (or
#: REFERENCE_MAX_PARTITIONS partitions): b_ref must be a fair estimate of beta, not an
#: exact fit of a few rows, for the moves of (eq:recentre) to be small.
REFERENCE_ROWS_PER_COLUMN = 20
REFERENCE_MAX_PARTITIONS = 16


def reference_beta(data, spec, max_partitions=REFERENCE_MAX_PARTITIONS):
    """b_ref: the least-squares fit of the first partitions' rows (zeros if they have none).

    Partitions are read in order until there are REFERENCE_ROWS_PER_COLUMN rows
    per column of X (the first partition of any real data set is enough).
    """
    p = len(spec.names["exog"])
    ys, Xs, n = [], [], 0
    for i in range(min(max_partitions, data.npartitions)):
        keys, y, X, Z, _ = partition_rows(data.get_partition(i).compute(), spec, sparse_vc=True)
        ys.append(y)
        Xs.append(X)
        n += len(y)
        if n >= REFERENCE_ROWS_PER_COLUMN * max(p, 1):
            break
    if n == 0 or p == 0:
        return np.zeros(p)
    return np.linalg.lstsq(np.concatenate(Xs), np.concatenate(ys), rcond=None)[0]


def statistics(groups, glob, spec, b_ref):
    """(stats, keys, R, slot_max, n_dropped) from the reduced frames; groups in key order.

    The per-group stacks are moved from b_ref to b_ols (eq:recentre); b_ols and
    y0'y0 come from R (no cancellation: y0'y0 = |R_y - R_X b_ols|^2).
    """
    p, q, k = widths(spec)
    key = glob.index.to_numpy()
    keys = groups.index.to_numpy()
    order = np.argsort(keys, kind="stable")        # key order, gathered below without a sorted copy of the frame
    R = glob.to_numpy()[key == R_KEY, :k]
    slot_max = glob.to_numpy()[key == MAX_KEY][0, :q - spec.k_re]
    glob = glob.to_numpy()[key == SUM_KEY][0]
    XtX = glob[:p * p].reshape(p, p)
    Xty_ref = glob[p * p:p * p + p]
    n, n_dropped = int(round(glob[p * p + p])), int(round(glob[p * p + p + 1]))
    vals = groups.to_numpy()
    G = len(vals)
    sums = vals[:, :q * (q + p + 1)].reshape(G, q, q + p + 1)
    ZtZ, ZtXy0 = sums[order, :, :q], sums[order, :, q:]
    beta_ols = np.linalg.lstsq(R[:, :p], R[:, p], rcond=None)[0] if p else np.zeros(0)
    d = b_ref - beta_ols
    ZtXy0[:, :, -1] += ZtXy0[:, :, :-1] @ d                                      # (eq:recentre)
    stats = SufficientStatistics(
        ZtZ=ZtZ, ZtXy0=ZtXy0, XtX=XtX, Xty0=Xty_ref + XtX @ d,
        y0ty0=float(np.sum((R[:, p] - R[:, :p] @ beta_ols) ** 2)), beta_ols=beta_ols, n_obs=n,
        group_sizes=np.rint(vals[order, q * (q + p + 1)]).astype(np.intp))
    return stats, keys[order], R, slot_max, n_dropped
