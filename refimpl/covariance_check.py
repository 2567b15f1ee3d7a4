"""Is an answer a valid covariance? One check, with a precise reason for each failure.

An answer (ours, or another engine's in the audit and the validation gate) is
a point of the parameter space only if

* ``cov_re`` is a square k_re x k_re array of finite numbers, symmetric to
  within rounding (SYM_RTOL relative to its largest entry) and positive
  semi-definite to within rounding (smallest eigenvalue >= -PSD_RTOL times its
  largest diagonal entry);
* every variance component is a finite number >= 0 (a rounding-size negative,
  within PSD_RTOL of the largest variance, is read as 0);
* ``scale`` is a finite number > 0.

``covariance_problems`` lists every violation as one sentence naming the key
and the rule ("cov_re is not positive semi-definite: ..."); it never raises.
``check_covariance`` raises ValueError with all of them, and otherwise returns
the answer cleaned of its rounding (symmetrised, eigenvalues clipped at 0,
rounding negatives set to 0), which is a point where the likelihood is defined.
"""

import numpy as np

#: cov_re may be asymmetric by this fraction of its largest |entry| (rounding).
SYM_RTOL = 1e-8

#: A rounding-size negative eigenvalue / variance, relative to the largest variance.
PSD_RTOL = 1e-10


def _names(x, n, default):
    idx = getattr(x, "index", None)          # a pandas Series / DataFrame, not list.index
    if idx is not None and not callable(idx) and len(idx) == n:
        return [str(v) for v in idx]
    return [f"{default}{i}" for i in range(n)]


def _as_float_array(x, what, problems):
    try:
        a = np.asarray(getattr(x, "values", x), dtype=float)
    except (TypeError, ValueError) as err:
        problems.append(f"{what} must hold numbers, got {type(x).__name__} ({err})")
        return None
    return a


def _one_float(x):
    """x as one float, or None if it is not one number."""
    try:
        return float(np.asarray(x, dtype=float).ravel()[0]) if np.size(x) == 1 else None
    except (TypeError, ValueError):
        return None


def covariance_problems(cov_re, vcomp=(), scale=1.0, k_re=None, k_vc=None):
    """Every reason (cov_re, vcomp, scale) is not a valid covariance; [] if it is."""
    problems = []
    C = _as_float_array(cov_re if cov_re is not None and np.size(cov_re) else np.zeros((0, 0)),
                        "cov_re", problems)
    if C is not None:
        if C.ndim == 0 or (C.ndim == 1 and C.size == 1):
            C = C.reshape(1, 1)
        if C.ndim != 2 or C.shape[0] != C.shape[1]:
            problems.append(f"cov_re must be a square matrix, got shape {C.shape}")
            C = None
        elif k_re is not None and C.shape[0] != k_re:
            problems.append(f"cov_re must be {k_re} x {k_re} (one row per random effect), "
                            f"got {C.shape[0]} x {C.shape[1]}")
            C = None
    if C is not None and C.size:
        names = _names(cov_re, C.shape[0], "re")
        bad = ~np.isfinite(C)
        if bad.any():
            i, j = np.argwhere(bad)[0]
            problems.append(f"cov_re[{names[i]},{names[j]}] is {C[i, j]}: entries must be finite")
        else:
            top = float(np.max(np.abs(C)))
            asym = np.abs(C - C.T)
            if asym.max() > SYM_RTOL * top:
                i, j = np.unravel_index(np.argmax(asym), asym.shape)
                problems.append(f"cov_re is not symmetric: cov_re[{names[i]},{names[j]}] = "
                                f"{C[i, j]:.6g} but cov_re[{names[j]},{names[i]}] = {C[j, i]:.6g}")
            else:
                diag = np.diag(C)
                lam, U = np.linalg.eigh(0.5 * C + 0.5 * C.T)
                tol = PSD_RTOL * max(float(np.max(np.abs(diag))), 1e-300)
                if np.any(diag < -tol):
                    i = int(np.argmin(diag))
                    problems.append(f"cov_re[{names[i]},{names[i]}] = {diag[i]:.6g} is a negative "
                                    "variance")
                elif lam[0] < -tol:
                    v = U[:, 0] * np.sign(U[np.argmax(np.abs(U[:, 0])), 0])
                    vt = ", ".join(f"{c:.3g} {n}" for c, n in zip(v, names))
                    problems.append(f"cov_re is not positive semi-definite: eigenvalue "
                                    f"{lam[0]:.6g} along ({vt}) (a correlation beyond +-1)")
    V = _as_float_array(vcomp if vcomp is not None else (), "vcomp", problems)
    if V is not None:
        V = np.atleast_1d(V)
        if V.ndim != 1:
            problems.append(f"vcomp must be a vector, got shape {V.shape}")
        elif k_vc is not None and V.size != k_vc:
            problems.append(f"vcomp must have {k_vc} entries (one per variance component), "
                            f"got {V.size}")
        else:
            names = _names(vcomp, V.size, "vc")
            top = [np.abs(V[np.isfinite(V)])]
            if C is not None and C.size:
                top.append(np.abs(np.diag(C))[np.isfinite(np.diag(C))])
            s = _one_float(scale)
            top.append(np.array([s if s is not None and np.isfinite(s) else 0.0]))
            top = max(float(np.max(np.concatenate(top), initial=0.0)), 1e-300)
            for i, v in enumerate(V):
                if not np.isfinite(v):
                    problems.append(f"vcomp[{names[i]}] is {v}: variances must be finite")
                elif v < -PSD_RTOL * top:
                    problems.append(f"vcomp[{names[i]}] = {v:.6g} is a negative variance")
    s = _one_float(scale)
    if s is None:
        problems.append(f"scale must be one number, got {scale!r:.60}")
    elif not (np.isfinite(s) and s > 0):
        problems.append(f"scale = {s} must be a finite number > 0 (the residual variance)")
    return problems


def check_covariance(cov_re, vcomp=(), scale=1.0, k_re=None, k_vc=None):
    """(cov_re, vcomp, scale) cleaned of rounding, or ValueError naming every problem."""
    problems = covariance_problems(cov_re, vcomp, scale, k_re, k_vc)
    if problems:
        raise ValueError("not a valid covariance: " + "; ".join(problems))
    C = np.asarray(getattr(cov_re, "values", cov_re) if cov_re is not None and np.size(cov_re)
                   else np.zeros((0, 0)), float)
    C = C.reshape(1, 1) if C.size == 1 else C
    if C.size:
        lam, U = np.linalg.eigh(0.5 * C + 0.5 * C.T)
        C = (U * np.clip(lam, 0.0, None)) @ U.T
        C = 0.5 * C + 0.5 * C.T                  # no overflow near the largest double
    V = np.clip(np.atleast_1d(np.asarray(getattr(vcomp, "values", vcomp)
                                         if vcomp is not None else (), float)), 0.0, None)
    return C, V, float(scale)
