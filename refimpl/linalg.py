"""Small dense linear-algebra helpers used by several modules."""

import numpy as np


def psd_cholesky(A, tol=1e-13):
    """Lower-triangular L with nonnegative diagonal and L @ L.T == A.

    Works for positive *semi*-definite A (a boundary fit, where Psi is
    singular): a pivot that is zero to within ``tol * max(diag(A))`` gives a
    zero column, as in lme4's use of a Cholesky factor with zero diagonal
    entries. Raises ValueError if A is not symmetric PSD.
    """
    A = np.asarray(A, dtype=float)
    k = A.shape[0]
    if A.shape != (k, k):
        raise ValueError(f"psd_cholesky needs a square matrix, got shape {A.shape}")
    if k == 0:
        return np.zeros((0, 0))
    # Symmetric to within rounding (a product like B W B' of computed factors is
    # symmetric only to about cond(W) eps): use the symmetric part.
    asym = np.max(np.abs(A - A.T))
    if not asym <= 1e-8 * max(np.max(np.abs(A)), 1e-300):
        raise ValueError(f"psd_cholesky: matrix is not symmetric (max |A - A'| = {asym:.2e})")
    A = 0.5 * (A + A.T)
    try:
        return np.linalg.cholesky(A)
    except np.linalg.LinAlgError:
        pass
    scale = max(np.max(np.abs(np.diag(A))), 1e-300)
    L = np.zeros_like(A)
    for j in range(k):
        d = A[j, j] - L[j, :j] @ L[j, :j]
        if d < -tol * scale * 1e3:
            raise ValueError("psd_cholesky: matrix is not positive semi-definite "
                             f"(pivot {j} is {d:.3g})")
        if d <= tol * scale:
            # Zero pivot: the rest of this column must vanish too, unless the
            # pivot is a tiny positive variance perfectly correlated with a
            # later one (|rest_i| up to sqrt(d A_ii), Cauchy-Schwarz): then the
            # column is computed as usual and reproduces A.
            rest = A[j + 1:, j] - L[j + 1:, :j] @ L[j, :j]
            if np.any(np.abs(rest) > 1e-8 * scale):
                bound = np.sqrt(max(d, 0.0) * np.maximum(np.diag(A)[j + 1:], 0.0))
                if not (d > 0 and np.all(np.abs(rest) <= bound * (1 + 1e-6) + 1e-8 * scale)):
                    raise ValueError("psd_cholesky: matrix is not positive semi-definite")
                L[j, j] = np.sqrt(d)
                L[j + 1:, j] = rest / L[j, j]
            continue
        L[j, j] = np.sqrt(d)
        L[j + 1:, j] = (A[j + 1:, j] - L[j + 1:, :j] @ L[j, :j]) / L[j, j]
    return L


def tril_pack(A):
    """Lower triangle of A, row by row: (0,0), (1,0), (1,1), (2,0), ...

    This is statsmodels' order (``np.tril_indices``), so packed vectors line up.
    """
    return A[np.tril_indices(A.shape[0])]


def tril_unpack(v, k):
    """Inverse of :func:`tril_pack`: a k x k lower-triangular matrix."""
    L = np.zeros((k, k))
    L[np.tril_indices(k)] = v
    return L


def n_tril(k):
    """Number of entries in the lower triangle of a k x k matrix."""
    return k * (k + 1) // 2
