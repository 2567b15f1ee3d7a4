"""The batched small-matrix kernels (batched.py) and the one-pass sufficient
statistics (suffstats.py) against their naive twins: np.linalg one matrix at a
time, and a Python loop over groups (dense.dense_sufficient_statistics)."""

from __future__ import annotations

import numpy as np
import pytest

from refimpl import batched, dense, simulate
from refimpl.model import MixedLM
from refimpl.suffstats import compute_sufficient_statistics
from refimpl.tolerances import IDENTITY


def rel(a, b):
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def spd_stack(rng, G, q):
    A = rng.standard_normal((G, q, q + 2))
    return A @ np.swapaxes(A, 1, 2) + 0.1 * np.eye(q)


@pytest.mark.parametrize("q", [1, 2, 3, batched.SMALL_Q, batched.SMALL_Q + 2])
def test_cholesky_and_forward_solve_equal_lapack_one_matrix_at_a_time(q):
    rng = np.random.default_rng(q)
    C = spd_stack(rng, 7, q)
    B = rng.standard_normal((7, q, 3))
    R = batched.cholesky(C)
    X = batched.solve_lower(R, B)
    for i in range(7):
        assert rel(R[i], np.linalg.cholesky(C[i])) <= IDENTITY
        assert rel(X[i], np.linalg.solve(R[i], B[i])) <= IDENTITY
        assert np.all(np.triu(R[i], 1) == 0)


def test_cholesky_refuses_an_indefinite_matrix_like_numpy():
    C = spd_stack(np.random.default_rng(0), 4, 2)
    C[2] = [[1.0, 2.0], [2.0, 1.0]]
    with pytest.raises(np.linalg.LinAlgError):
        batched.cholesky(C)


def test_shared_products_and_group_sums():
    rng = np.random.default_rng(1)
    A, B, M = rng.standard_normal((6, 3, 2)), rng.standard_normal((6, 3, 4)), rng.standard_normal((2, 5))
    AM = batched.times_shared(A, M)
    assert all(rel(AM[i], A[i] @ M) <= IDENTITY for i in range(6))
    assert rel(batched.sum_crossprod(A, B), sum(A[i].T @ B[i] for i in range(6))) <= IDENTITY


@pytest.mark.parametrize("preset", ["balanced", "unbalanced_singletons", "vc_slope"])
def test_one_pass_sufficient_statistics_equal_the_group_loop(preset):
    sim = simulate.preset(preset, seed=3)
    model = MixedLM.from_formula(data=sim.data, **sim.spec)
    ZtZ, ZtX, Zty0 = dense.dense_sufficient_statistics(model.design)
    s = model.stats
    assert rel(s.ZtZ, ZtZ) <= IDENTITY and rel(s.ZtX, ZtX) <= IDENTITY
    # Z'y0 is a sum of cancelling terms (X'y0 = 0): compare on the scale of |Z||y0|
    assert np.max(np.abs(s.Zty0 - Zty0)) <= IDENTITY * np.max(np.abs(ZtX)) * np.sqrt(s.y0ty0)


def test_chunks_and_row_order_do_not_change_the_statistics():
    """Groups spanning chunk boundaries, and rows not sorted by group, give the same stacks."""
    sim = simulate.preset("unbalanced_singletons", seed=5)
    d = MixedLM.from_formula(data=sim.data, **sim.spec).design
    one = compute_sufficient_statistics(d.y, d.X, d.Z, d.group_index, d.n_groups)
    perm = np.random.default_rng(0).permutation(len(d.y))
    for chunk in (1, 3, 17):
        other = compute_sufficient_statistics(d.y[perm], d.X[perm], d.Z[perm], d.group_index[perm],
                                              d.n_groups, chunk_rows=chunk)
        assert rel(other.ZtZ, one.ZtZ) <= IDENTITY and rel(other.ZtX, one.ZtX) <= IDENTITY
        assert np.max(np.abs(other.Zty0 - one.Zty0)) <= 1e-9 * np.max(np.abs(one.ZtX))


@pytest.mark.parametrize("q", [1, 2, 4, 5, 8])
def test_pair_traces_sum_first_equals_per_group(q):
    """hessian.pair_traces (sum over groups, then contract with E_k) == its per-group twin, q <= and > 4."""
    from refimpl.hessian import pair_traces, pair_traces_per_group
    from refimpl.layout import Layout

    rng = np.random.default_rng(q)
    k_re = min(q, 3)
    E = Layout(k_re, (q - k_re,) if q > k_re else ()).dPsi_dtheta()
    A = rng.standard_normal((50, q, q))
    B = rng.standard_normal((50, q, q))
    A, B = A + np.swapaxes(A, 1, 2), B + np.swapaxes(B, 1, 2)
    fast, slow = pair_traces(E, A, B), pair_traces_per_group(E, A, B)
    assert np.max(np.abs(fast - slow)) <= IDENTITY * np.max(np.abs(slow))
