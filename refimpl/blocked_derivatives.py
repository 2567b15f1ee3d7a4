"""Score and Hessian of a crossed design through the blocked factor.

The formulas are those of score.py and hessian.py, (eq:score-psi) and
(eq:hess-full), with one group; the blocks are those of (eq:crossed-chol):

    d l / d theta_k = -1/2 tr(E_k M) + w u'E_k u  (+ 1/2 tr(E_k N W^{-1} N')  REML)
    P(A, B)[k, l]   = tr(E_k A E_l B)

with M = Z'V^{-1}Z (q x q), N = Z'V^{-1}X, u = Z'V^{-1}r. M is never formed
whole. In block order, with K = L^{-1} Lambda' A (A = Z'Z), M = A - K'K and the
blocked factor give (C11 = diag(c11), A12 = A21')

    K21 = L22^{-1} Hm,  Hm = Lambda2' A21 C11^{-1}            (Hm sparse, q2 x m1)
    A22s = A22 - s1^2 A21 C11^{-1} A12,  K22 = L22^{-1} Lambda2' A22s
    M11 = diag(d1 / c11) - K21'K21                            (never formed)
    M12 = C11^{-1} A12 - K21'K22,        M22 = A22s - K22'K22

so tr(M11) = sum d1/c11 - ||K21||_F^2 and ||M11||_F^2 = sum (d1/c11)^2
- 2 sum (d1/c11)_c ||K21 e_c||^2 + ||K21 K21'||_F^2. K21 itself (q2 x m1
dense) is never formed: with Si = S^{-1} = L22^{-T} L22^{-1} (the block-2
block of C^{-1}, a selected inverse), ||K21 e_c||^2 = (Hm' Si Hm)_cc,
K21 K21' = L22^{-1} Hm Hm' L22^{-T} so ||K21 K21'||_F^2 = tr(Si Hmm Si Hmm),
and K21'K22 = Hm' L22^{-T} K22, so M12 = C11^{-1} A12 (I - Lambda2 L22^{-T} K22)
and the Hessian needs only the q2 x q2 M12'M12. Every dense product is q2^3
or a sparse (nnz(A21) q2) one; none is q2^2 m1 or m1^2, and no m1 x q2
array is held. Products M v (for P(M, u u') and the
REML terms) are solves with the factor: M v = A v - A Lambda C^{-1} Lambda' A v.
No Lambda^{-1} appears, so a boundary point (s_j = 0) evaluates cleanly.

Each E_k is kept as its nonzero entries (rows, cols, vals) in block order:
an identity on a component's columns, or one or two entries of the L block.
Twins: score.py and hessian.py on the dense one-group statistics.
"""

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from .blocked_cholesky import Lambda2t_A21_scaled
from .blocked_stats import as_dense



# --------------------------------------------------------------------------
# The basis E_k as entries, and products with it
# --------------------------------------------------------------------------

def basis_entries(stats):
    """[(rows, cols, vals)] of E_k = d Psi / d theta_k, k in theta order, columns in block order."""
    m1 = stats.m1
    lay2 = stats.layout2
    out2 = []
    rr, cc = np.tril_indices(lay2.k_re)
    for a, b in zip(rr, cc):
        if a == b:
            out2.append((np.array([a]), np.array([a]), np.array([1.0])))
        else:
            out2.append((np.array([a, b]), np.array([b, a]), np.array([1.0, 1.0])))
    for j in range(lay2.k_vc):
        s = np.arange(lay2.vc_slots(j).start, lay2.vc_slots(j).stop)
        out2.append((s, s, np.ones(len(s))))
    entries = [None] * stats.layout.n_params
    entries[stats.param1] = (np.arange(m1), np.arange(m1), np.ones(m1))
    for k, (r, c, v) in zip(stats.params2, out2):
        entries[k] = (r + m1, c + m1, v)
    return entries


def E_times(entry, V):
    """E_k V for V with q rows (rows of E_k are distinct)."""
    r, c, v = entry
    out = np.zeros_like(V)
    out[r] = (v.reshape((-1,) + (1,) * (V.ndim - 1))) * V[c]
    return out


def trace_E(entry, Xfun):
    """tr(E_k X) = sum vals X[cols, rows], with X given by Xfun(cols, rows) -> entries."""
    r, c, v = entry
    return float(v @ Xfun(c, r))


# --------------------------------------------------------------------------
# A, M and Z'V^{-1}[X y0] in block order
# --------------------------------------------------------------------------

def _split(stats, V):
    return V[:stats.m1], V[stats.m1:]


def A_times(stats, V):
    """Z'Z V in block order, for V (q,) or (q, r)."""
    V1, V2 = _split(stats, V)
    d1 = stats.d1 if V.ndim == 1 else stats.d1[:, None]
    return np.concatenate([d1 * V1 + stats.A12 @ V2, stats.A21 @ V1 + stats.A22 @ V2])


def M_times(stats, point, V):
    """M V = A V - A Lambda C^{-1} Lambda' A V   (eq:woodbury), for V (q,) or (q, r)."""
    F = point.factor
    AV = A_times(stats, V)
    Y1, Y2 = F.solve(*F.Lambda_t(*_split(stats, AV)))
    return AV - A_times(stats, np.concatenate(F.Lambda(Y1, Y2)))


def ZtVinv_Xy0(stats, point):
    """Z'V^{-1}[X y0] = [B c] - A Lambda L^{-T} [W w], (q, p + 1) in block order."""
    if "blocked_NH" not in point.cache:
        F = point.factor
        Y1, Y2 = F.backward(point.Wc1, point.Wc2)
        Bc = np.concatenate([stats.B1, stats.B2])
        point.cache["blocked_NH"] = Bc - A_times(stats, np.concatenate(F.Lambda(Y1, Y2)))
    return point.cache["blocked_NH"]


def N_and_u(stats, point, beta):
    """N = Z'V^{-1}X (q, p) and u = Z'V^{-1}(y - X beta) (q,), block order."""
    NH = ZtVinv_Xy0(stats, point)
    N = NH[:, :-1]
    return N, NH[:, -1] - N @ (np.asarray(beta, float) - stats.beta_ols)


def m_blocks(stats, point, full, need_K22=True):
    """The pieces of M of the module docstring, cached on the point.

    Always: Si = S^{-1} = (L22 L22')^{-1} (the block-2 block of C^{-1}), the
    sparse Hm = Lambda2' A21 C11^{-1} (so K21 = L22^{-1} Hm), colsq_c =
    ||K21 e_c||^2 = (Hm' Si Hm)_cc, d1/c11.
    need_K22 adds K22 (the score needs it, EM does not); full=True adds M22,
    M12'M12 = U' A21 C11^{-2} A12 U (U = I - Lambda2 L22^{-T} K22, since
    M12 = C11^{-1} A12 U) and ||K21 K21'||_F^2 = tr(Si Hmm Si Hmm), Hmm = Hm Hm'.
    Nothing of order q2^2 m1 is computed and no m1 x q2 array is held: K21
    and M12 never are.
    """
    out = point.cache.get("blocked_M")
    F = point.factor
    if out is None:
        w1 = 1.0 / F.c11
        Hm = Lambda2t_A21_scaled(stats, F.Lam2, w1)
        Si = cho_inverse(F.L22)                                          # S^{-1}
        colsq = _diag_HtSH(Hm, Si)
        out = dict(Si=Si, colsq=colsq, Dm=stats.d1 * w1, w1=w1)
        point.cache["blocked_M"] = out
    if need_K22 and "K22" not in out:
        out["K22"] = sla.solve_triangular(F.L22, F.Lam2.t_times(F.A22s), lower=True, check_finite=False)
    if full and "M22" not in out:
        H0w2 = stats.A21_weighted_A12(out["w1"] ** 2)                   # A21 C11^{-2} A12
        Hmm = F.Lam2.t_times(F.Lam2.t_times(H0w2).T)                    # Hm Hm'
        Y = out["Si"] @ Hmm
        out["K21K21t_sq"] = float(np.sum(Y * Y.T))                      # tr(Si Hmm Si Hmm)
        T22 = sla.solve_triangular(F.L22, out["K22"], lower=True, trans="T", check_finite=False)
        U = np.eye(stats.q2) - F.Lam2.times(T22)                        # M12 = C11^{-1} A12 U
        out["M12tM12"] = U.T @ (H0w2 @ U)
        out["M22"] = F.A22s - out["K22"].T @ out["K22"]
    return out


def _diag_HtSH(H, S, chunk_bytes=64 * 2 ** 20):
    """diag(H' S H) for H (q2, m1) sparse or dense, in chunks of levels (no m1 x q2 array)."""
    q2, m1 = H.shape
    Ht = H.T if isinstance(H, np.ndarray) else sp.csr_array(H.T)        # csr: row-wise products
    step = max(1, chunk_bytes // (8 * max(q2, 1)))
    out = np.empty(m1)
    for start in range(0, m1, step):
        rows = Ht[start:start + step]
        HtS = np.asarray(rows @ S)                                      # (chunk, q2)
        if isinstance(rows, np.ndarray):
            out[start:start + step] = np.einsum("ci,ci->c", rows, HtS)
        else:
            r = np.repeat(np.arange(rows.shape[0]), np.diff(rows.indptr))
            out[start:start + step] = np.bincount(r, weights=rows.data * HtS[r, rows.indices],
                                                  minlength=rows.shape[0])
    return out


def cho_inverse(L):
    """(L L')^{-1} from the lower Cholesky factor L (LAPACK potri), symmetric."""
    if L.shape[0] == 0:
        return np.zeros((0, 0))
    Si, info = sla.lapack.dpotri(L, lower=1)
    if info:
        raise np.linalg.LinAlgError(f"potri failed (info = {info})")
    Si = np.tril(Si)
    return Si + np.tril(Si, -1).T


# --------------------------------------------------------------------------
# tr(E_k M) and P(M, M)
# --------------------------------------------------------------------------

def trace_M(stats, point):
    """tr(E_k M) for every k."""
    mb = m_blocks(stats, point, full=False)
    K22, A22s, m1 = mb["K22"], point.factor.A22s, stats.m1
    out = np.empty(stats.layout.n_params)
    for k, (r, c, v) in enumerate(basis_entries(stats)):
        if k == stats.param1:
            out[k] = np.sum(mb["Dm"]) - np.sum(mb["colsq"])
        else:
            r2, c2 = r - m1, c - m1
            M_cr = A22s[c2, r2] - np.einsum("ij,ij->j", K22[:, c2], K22[:, r2])
            out[k] = v @ M_cr
    return out


def pair_traces_MM(stats, point):
    """P(M, M)[k, l] = tr(E_k M E_l M) from the blocks (module docstring)."""
    mb = m_blocks(stats, point, full=True)
    Dm, Y12, M22, m1 = mb["Dm"], mb["M12tM12"], mb["M22"], stats.m1
    entries = basis_entries(stats)
    n = len(entries)
    P = np.empty((n, n))
    i1 = stats.param1
    P[i1, i1] = np.sum(Dm ** 2) - 2.0 * Dm @ mb["colsq"] + mb["K21K21t_sq"]   # ||M11||_F^2
    for l in stats.params2:
        r, c, v = entries[l]
        P[i1, l] = P[l, i1] = v @ Y12[c - m1, r - m1]                           # tr(E_l M12'M12)
    for k in stats.params2:
        a, b, v = entries[k][0] - m1, entries[k][1] - m1, entries[k][2]
        for l in stats.params2:
            c, d, w = entries[l][0] - m1, entries[l][1] - m1, entries[l][2]
            P[k, l] = v @ (M22[np.ix_(b, c)] * M22[np.ix_(d, a)].T) @ w
    return P


# --------------------------------------------------------------------------
# Score and (beta, theta) Hessian
# --------------------------------------------------------------------------

def _XtVinvX_inv(point):
    p = point.k_fe
    T11inv = np.linalg.inv(point.T[:p, :p])
    return T11inv.T @ T11inv


def score_traces(stats, point, beta, reml, Q=None, scale=None):
    """tr(E_k G) for every k: score.score_matrix's traces, blocked  (eq:score-psi)."""
    N, u = N_and_u(stats, point, beta)
    weight = point.n_eff(reml) / (2.0 * Q) if scale is None else 1.0 / (2.0 * scale)
    out = -0.5 * trace_M(stats, point)
    entries = basis_entries(stats)
    out += weight * np.array([u[r] * v @ u[c] for r, c, v in entries])
    if reml:
        NWi = N @ _XtVinvX_inv(point)
        out += 0.5 * np.array([v @ np.einsum("ip,ip->i", NWi[c], N[r]) for r, c, v in entries])
    return out


def hessian_beta_theta(stats, point, beta, reml):
    """hessian.hessian_beta_theta for blocked statistics  (eq:hess-full)."""
    from .likelihood import quad_form

    entries = basis_entries(stats)
    N, u = N_and_u(stats, point, beta)
    m = point.n_eff(reml)
    Q = quad_form(point, beta)
    W = point.XtVinvX
    a = W @ (point.beta_hat - np.asarray(beta, float))
    EU = np.column_stack([E_times(e, u) for e in entries])             # E_k u, (q, K)
    uEu = EU.T @ u
    NEu = EU.T @ N                                                     # (K, p)
    P_MU = EU.T @ M_times(stats, point, EU)                            # (E_k u)' M (E_l u)
    H_tt = 0.5 * pair_traces_MM(stats, point) - 0.5 * m * (2.0 * P_MU / Q - np.outer(uEu, uEu) / Q ** 2)
    if reml:
        Winv = _XtVinvX_inv(point)
        EN = [E_times(e, N) for e in entries]                          # E_k N, (q, p) each
        W_k = -np.array([N.T @ EN_k for EN_k in EN])                   # -N'E_k N
        MEN = M_times(stats, point, np.concatenate(EN, axis=1))        # [M E_l N]_l
        p = N.shape[1]
        P_MN = np.array([[np.trace(Winv @ EN[k].T @ MEN[:, l * p:(l + 1) * p])
                          for l in range(len(EN))] for k in range(len(EN))])
        WiWk = Winv @ W_k
        tr_WkWl = np.einsum("kpr,lrp->kl", WiWk, WiWk)
        H_tt = H_tt - 0.5 * (P_MN + P_MN.T - tr_WkWl)
    H_bb = -0.5 * m * (2.0 * W / Q - 4.0 * np.outer(a, a) / Q ** 2)
    H_bt = -0.5 * m * (2.0 * NEu.T / Q - 2.0 * np.outer(a, uEu) / Q ** 2)
    return np.block([[H_bb, H_bt], [H_bt.T, H_tt]])

