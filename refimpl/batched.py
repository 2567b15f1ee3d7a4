"""Batched small-matrix kernels: one operation on the q x m block of every group at once.

The per-group stacks (suffstats.py) have shape (G, q, m) with G large (1e3 to
1e6 groups) and q small (2 for a random intercept and slope). numpy.linalg
applies LAPACK to a stack one matrix at a time and pays a fixed cost per
matrix that dwarfs the q^3 flops of a 2 x 2 problem. Written instead as the
textbook loop over the q columns, with every step one vectorised operation
over all G groups, that fixed cost is paid once per column, not once per
group. For a larger q (many variance-component slots, or a crossed design fitted
as one big group) LAPACK wins again, so above SMALL_Q the stack goes to numpy.linalg.

A product A_i M with a matrix M shared by every group (Lambda) becomes ONE
matrix product by stacking the groups' rows: (G, r, q) -> (G r, q). Other
per-group products are plain ``@`` on the stacks (numpy's batched matmul is
already as fast as anything written here).

Dense twins: np.linalg.cholesky, np.linalg.solve, np.matmul and a Python sum
over groups; tests/test_batched.py holds each kernel to its twin.
"""

import numpy as np

SMALL_Q = 4   # up to this order the column loop beats LAPACK's per-matrix call (benchmarks)


def cholesky(C):
    """Lower-triangular R_i with C_i = R_i R_i' for every group, (G, q, q)  (eq:C).

    Column j:  R_jj = sqrt(C_jj - sum_{k<j} R_jk^2),
               R_ij = (C_ij - sum_{k<j} R_ik R_jk) / R_jj   for i > j.
    Raises np.linalg.LinAlgError, as np.linalg.cholesky does, if some C_i is
    not positive definite.
    """
    G, q, _ = C.shape
    if q > SMALL_Q:
        return np.linalg.cholesky(C)
    R = np.zeros_like(C)
    for j in range(q):
        Rj = R[:, j, :j]                                        # row j left of the diagonal
        d = C[:, j, j] - np.sum(Rj * Rj, axis=1)
        if not np.all(d > 0):                                   # also catches NaN
            raise np.linalg.LinAlgError("Matrix is not positive definite")
        R[:, j, j] = np.sqrt(d)
        below = C[:, j + 1:, j] - np.sum(R[:, j + 1:, :j] * Rj[:, None, :], axis=2)
        R[:, j + 1:, j] = below / R[:, j, j, None]
    return R


def solve_lower(R, B):
    """R_i^{-1} B_i for lower-triangular R_i (G, q, q) and B_i (G, q, m): forward substitution.

    Row a:  X_a = (B_a - sum_{k<a} R_ak X_k) / R_aa.
    """
    G, q, _ = R.shape
    if q > SMALL_Q:
        return np.linalg.solve(R, B)
    X = np.array(B, dtype=float)                                # a copy we overwrite row by row
    for a in range(q):
        X[:, a] /= R[:, a, a, None]
        X[:, a + 1:] -= R[:, a + 1:, a, None] * X[:, a, None, :]
    return X


def times_shared(A, M):
    """A_i M for every group: A (G, r, q), M (q, m) shared -> (G, r, m), as one product."""
    G, r, q = A.shape
    return (A.reshape(G * r, q) @ M).reshape(G, r, M.shape[1])


def sum_crossprod(A, B):
    """sum_i A_i' B_i: A (G, q, r), B (G, q, m) -> (r, m), as one product of stacked rows."""
    G, q = A.shape[:2]
    return A.reshape(G * q, A.shape[2]).T @ B.reshape(G * q, B.shape[2])   # (-1 fails for r = 0)
