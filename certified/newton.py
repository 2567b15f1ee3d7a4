"""Derivatives by central differences at raised precision, and Newton refinement.

**Derivatives** (book chapter "Certified values", (eq:cert-fd)).  To get the
gradient and Hessian of f at x good to about D digits, evaluate f at working
precision ``3 D + 10`` digits with steps ``h_k = 10^-(D+5) max(1, |x_k|)``:

* gradient ``(f(x + h e_k) - f(x - h e_k)) / 2 h``: truncation ``h^2 f''' / 6``
  (about 10^-(2D+10)), rounding ``10^-(3D+10) |f| / h`` (about 10^-(2D+5) |f|);
* Hessian: the 3- and 4-point second differences, truncation ``O(h^2)``,
  rounding ``10^-(3D+10) |f| / h^2``, about 10^-D |f|.

So both are good to about D digits relative to |f| -- far more than the
double precision of the numbers being certified -- and the digits claimed
for the certified values come from comparing two complete runs anyway.

**Newton refinement** (eq:newton-step).  From refimpl's optimum (double
precision, good to ~1e-8), iterate ``x <- x - H^{-1} g`` on the free
coordinates of phi until the largest relative step is below ``10^-(D-5)``.
Convergence is quadratic, so this takes 3-5 steps.  Coordinates of phi that
sit on the boundary (a zero pivot of L, a zero s_vc) are held at 0; the
second derivative along each of them is returned so the caller can check
the Karush-Kuhn-Tucker sign (the likelihood must not rise when the held
coordinate moves off 0; the first derivative there is 0 by symmetry, since
the likelihood depends on it only through its square).
"""

from __future__ import annotations

import dataclasses

from mpmath import mp

from .mp_linalg import lu_solve

__all__ = ["gradient_hessian", "NewtonResult", "newton_refine", "second_derivative"]


def _steps(x, dps):
    return [mp.mpf(10) ** (-(dps + 5)) * max(mp.one, abs(v)) for v in x]


def gradient_hessian(f, x, dps: int, hessian: bool = True):
    """(f(x), gradient, Hessian) of f at x, good to ~dps digits (module docstring)."""
    with mp.workdps(3 * dps + 10):
        x = [mp.mpf(v) for v in x]
        k = len(x)
        h = _steps(x, dps)

        def at(*moves):
            y = list(x)
            for i, s in moves:
                y[i] += s * h[i]
            return f(y)

        f0 = f(x)
        fp = [at((i, 1)) for i in range(k)]
        fm = [at((i, -1)) for i in range(k)]
        g = [(fp[i] - fm[i]) / (2 * h[i]) for i in range(k)]
        H = None
        if hessian:
            H = [[mp.zero] * k for _ in range(k)]
            for i in range(k):
                H[i][i] = (fp[i] - 2 * f0 + fm[i]) / h[i] ** 2
                for j in range(i):
                    v = (at((i, 1), (j, 1)) - at((i, 1), (j, -1)) - at((i, -1), (j, 1))
                         + at((i, -1), (j, -1))) / (4 * h[i] * h[j])
                    H[i][j] = H[j][i] = v
    return +f0, [+v for v in g], None if H is None else [[+v for v in r] for r in H]


def second_derivative(f, x, i: int, dps: int):
    """d^2 f / dx_i^2 at x, good to ~dps digits relative to |f|."""
    with mp.workdps(3 * dps + 10):
        x = [mp.mpf(v) for v in x]
        h = _steps(x, dps)[i]
        up, dn = list(x), list(x)
        up[i] += h
        dn[i] -= h
        return +((f(up) - 2 * f(x) + f(dn)) / h ** 2)


@dataclasses.dataclass
class NewtonResult:
    x: list                  # the full phi, held coordinates included
    free: list[int]          # indices of phi Newton moved
    steps: list              # max relative step per iteration (mpf)
    gradient: list           # at the final x, free coordinates
    hessian: list[list]      # at the final x, free coordinates
    converged: bool
    dps: int


def newton_refine(f, x0, free: list[int], dps: int, maxiter: int = 40) -> NewtonResult:
    """Maximise f over the coordinates ``free`` of x, from x0, at ``dps`` digits (eq:newton-step)."""
    mp.dps = dps
    x = [mp.mpf(v) for v in x0]
    tol = mp.mpf(10) ** (-(dps - 5))
    steps: list = []

    def fr(z):
        y = list(x)
        for i, v in zip(free, z):
            y[i] = v
        return f(y)

    converged = not free
    for _ in range(maxiter if free else 0):
        _, g, H = gradient_hessian(fr, [x[i] for i in free], dps)
        d, _, _ = lu_solve(H, [[-v] for v in g])
        rel = max(abs(d[j][0]) / max(mp.one, abs(x[i])) for j, i in enumerate(free))
        for j, i in enumerate(free):
            x[i] += d[j][0]
        steps.append(rel)
        if rel < tol:
            converged = True
            break
    g, H = [], []
    if free:
        _, g, H = gradient_hessian(fr, [x[i] for i in free], dps)
    return NewtonResult(x, list(free), steps, g, H, converged, dps)
