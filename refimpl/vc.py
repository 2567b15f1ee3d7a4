"""The variance-component columns Z_vc, built sparse in the padded slot layout (eq:vc-padding).

Component j has vc_sizes[j] = m_j slots (the most columns it has in any
group, layout.py). Row r of group g holds, in slot k of component j, the value
of the k-th column that component has in group g; slots past that group's
count are zero (padding). Z_vc is a ``scipy.sparse.csr_array`` of shape
(n, sum_j m_j) in exactly that layout: column ``layout.vc_slots(j)[k]`` of row
r is the k-th column of component j in row r's group. A crossed design (one
group, a component per factor) has m_j = the factor's number of levels and one
nonzero per row and component, so Z_vc holds n k_vc numbers where the dense
padded matrix would hold n sum_j m_j.

Everything here builds the COO triplets (row, slot, value) with array
operations; the only Python loops run over components, or over groups where
the caller handed one matrix per group (statsmodels' exog_vc format).
"""

import numpy as np
import scipy.sparse as sp


def from_entries(n, rows, slots, values, vc_sizes):
    """csr_array (n, sum(vc_sizes)) from COO triplets; explicit zeros dropped, duplicates summed."""
    keep = values != 0
    Z = sp.coo_array((values[keep], (rows[keep], slots[keep])),
                     shape=(n, int(sum(vc_sizes)))).tocsr()
    Z.sum_duplicates()
    Z.sort_indices()
    return Z


def from_group_blocks(vc_blocks, group_index, n_groups, n, vc_names, labels):
    """Z_vc and vc_counts (G, k_vc) from one dense matrix per component and group.

    vc_blocks[j][g] is (n_g, m_jg): the columns of component j in group g, its
    rows in the order of that group's rows in the data (statsmodels' exog_vc).
    """
    sizes = tuple(max((m.shape[1] for m in mats), default=0) for mats in vc_blocks)
    counts = np.zeros((n_groups, len(vc_blocks)), dtype=np.intp)
    if not vc_blocks:
        return sp.csr_array((n, 0)), sizes, counts
    order = np.argsort(group_index, kind="stable")
    group_sizes = np.bincount(group_index, minlength=n_groups)
    bounds = np.cumsum(group_sizes)[:-1]
    rows_of = np.split(order, bounds)
    rows_all, slots_all, vals_all = [], [], []
    start = 0
    for j, mats in enumerate(vc_blocks):
        for g, m in enumerate(mats):
            if m.shape[0] != group_sizes[g]:
                lab = labels[g].item() if isinstance(labels[g], np.generic) else labels[g]
                raise ValueError(f"variance component {vc_names[j]!r}: the matrix for group {lab!r} "
                                 f"(exog_vc[{vc_names[j]!r}][{lab!r}]) has {m.shape[0]} rows but the "
                                 f"group has {group_sizes[g]}; give one matrix row per row of the "
                                 "group, in data order")
            counts[g, j] = m.shape[1]
            r, c = np.nonzero(m)
            rows_all.append(rows_of[g][r])
            slots_all.append(start + c)
            vals_all.append(m[r, c])
        start += sizes[j]
    cat = (lambda parts, dt: np.concatenate(parts).astype(dt, copy=False) if parts else np.zeros(0, dt))
    Z = from_entries(n, cat(rows_all, np.intp), cat(slots_all, np.intp), cat(vals_all, float), sizes)
    return Z, sizes, counts


def local_columns(group_index, global_cols, n_groups, always=None):
    """Which columns each group has, and each entry's local (within-group) column number.

    global_cols (N,) is the column (of the formula evaluated over all rows)
    of each entry, group_index (N,) its group. A group has the columns that
    occur among its entries, plus ``always`` (columns every group has), in
    increasing global order. Returns (local (N,), counts (G,), kept_keys):
    kept_keys = g * C + c for every (group g, column c) kept, sorted.
    """
    C = int(max(global_cols.max(initial=-1), -1 if always is None else max(always, default=-1))) + 1
    keys = group_index.astype(np.int64) * C + global_cols
    parts = [keys]
    if always is not None and len(always):
        parts.append((np.arange(n_groups, dtype=np.int64)[:, None] * C
                      + np.asarray(always, dtype=np.int64)[None, :]).ravel())
    kept = np.unique(np.concatenate(parts))
    counts = np.bincount(kept // C, minlength=n_groups) if C else np.zeros(n_groups, np.intp)
    first = np.cumsum(counts) - counts                          # where each group's columns start in kept
    local = np.searchsorted(kept, keys) - first[group_index]
    return local, counts, kept, max(C, 1)
