"""Small dense linear algebra on lists of mpmath numbers, at the context's precision.

Matrices are lists of rows.  The certified path needs only: a product, an LU
solve with partial pivoting (returning the log of |det| too), a Cholesky
factor and its solve.  All matrices are small (q x q per group, p x p for
the fixed effects, n_i x n_i in the dense twin), so plain loops are enough.
"""

from __future__ import annotations

from mpmath import mp

__all__ = ["matmul", "transpose", "lu_solve", "cholesky", "chol_solve", "inverse_spd",
           "eye", "zeros"]


def zeros(r: int, c: int) -> list[list]:
    return [[mp.zero] * c for _ in range(r)]


def eye(n: int) -> list[list]:
    return [[mp.one if i == j else mp.zero for j in range(n)] for i in range(n)]


def transpose(A: list[list]) -> list[list]:
    return [list(col) for col in zip(*A)] if A else []


def matmul(A: list[list], B: list[list]) -> list[list]:
    Bt = transpose(B)
    return [[mp.fdot(a, b) for b in Bt] for a in A]


def lu_solve(A: list[list], B: list[list]) -> tuple[list[list], object, int]:
    """Solve A X = B by Gaussian elimination with partial pivoting.

    Returns (X, log|det A|, sign of det A).  A is n x n, B is n x m.
    """
    n = len(A)
    M = [list(A[i]) + list(B[i]) for i in range(n)]
    logdet, sign = mp.zero, 1
    for k in range(n):
        piv = max(range(k, n), key=lambda i: abs(M[i][k]))
        if M[piv][k] == 0:
            raise ZeroDivisionError("singular matrix in lu_solve")
        if piv != k:
            M[k], M[piv] = M[piv], M[k]
            sign = -sign
        d = M[k][k]
        if d < 0:
            sign = -sign
        logdet += mp.log(abs(d))
        rk = M[k]
        for i in range(k + 1, n):
            f = M[i][k] / d
            if f:
                ri = M[i]
                for j in range(k, len(ri)):
                    ri[j] -= f * rk[j]
    m = len(M[0]) - n
    X = zeros(n, m)
    for c in range(m):
        for i in range(n - 1, -1, -1):
            s = M[i][n + c] - mp.fdot((M[i][j] for j in range(i + 1, n)),
                                      (X[j][c] for j in range(i + 1, n)))
            X[i][c] = s / M[i][i]
    return X, logdet, sign


def cholesky(A: list[list]) -> list[list]:
    """Lower-triangular R with R R' = A (A symmetric positive definite)."""
    n = len(A)
    R = zeros(n, n)
    for j in range(n):
        s = A[j][j] - mp.fdot(R[j][:j], R[j][:j])
        if s <= 0:
            raise ValueError("matrix is not positive definite")
        R[j][j] = mp.sqrt(s)
        for i in range(j + 1, n):
            R[i][j] = (A[i][j] - mp.fdot(R[i][:j], R[j][:j])) / R[j][j]
    return R


def chol_solve(R: list[list], B: list[list]) -> list[list]:
    """Solve (R R') X = B for lower-triangular R."""
    n, m = len(R), len(B[0])
    Y = zeros(n, m)
    for c in range(m):
        for i in range(n):
            Y[i][c] = (B[i][c] - mp.fdot((R[i][j] for j in range(i)),
                                         (Y[j][c] for j in range(i)))) / R[i][i]
        for i in range(n - 1, -1, -1):
            Y[i][c] = (Y[i][c] - mp.fdot((R[j][i] for j in range(i + 1, n)),
                                         (Y[j][c] for j in range(i + 1, n)))) / R[i][i]
    return Y


def inverse_spd(A: list[list]) -> list[list]:
    return chol_solve(cholesky(A), eye(len(A)))
