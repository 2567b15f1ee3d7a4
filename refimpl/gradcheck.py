"""Finite-difference checks of a claimed gradient or Hessian, for any function.

An analytic derivative is only as trustworthy as the check that holds it to
the function it claims to differentiate. This module is that check, written to
be read in one sitting and used on anything: our profiled log-likelihood,
another engine's score, a student's exercise.

Central differences (eq:central-difference). Along a direction u,

    D(t) = ( f(x + t u) - f(x - t u) ) / (2 t)  =  g'u + c t^2 + O(t^4),

and the error has two parts: truncation, c t^2 with c the third derivative of f
along u over 6, and rounding, about eps |f| / t from the two values of f.

Richardson extrapolation (eq:richardson). D(t/2) has truncation c t^2 / 4, so

    D_R = ( 4 D(t/2) - D(t) ) / 3     cancels the t^2 term,
    |D(t/2) - D(t)| / 3               estimates the truncation error of D(t/2)

(the reported "est. truncation error"; the extrapolated D_R is better still).
What Richardson cannot remove is rounding: if one value of f carries a
rounding error of size sigma, D_R carries about 1.9 sigma / t (below). We
report that as "est. rounding error".

The step rule. Coordinate i is stepped by

    h_i = t * max(|x_i|, 1),   t = eps^(1/3)  (about 6.1e-6).

Why: balancing the truncation c h^2 against the rounding eps |f| / h of a
central difference gives h ~ (eps |f / c|)^(1/3); when x_i is the natural unit
of its own coordinate (f varies on the scale |x_i|) that is eps^(1/3) |x_i|,
and max(., 1) keeps the step from vanishing at x_i = 0. The step is small on
purpose: a parameter near the edge of its domain (a profile covariance with an
eigenvalue of 1e-4) must not be stepped outside it. With Richardson the t^2
truncation is gone, so this rule leaves accuracy on the table (rounding, not
truncation, dominates; a step near eps^(1/5) would balance the O(t^4)
remainder instead); pass ``rel_step`` to change it.

Random directions. Besides every coordinate, we difference along seeded random
directions u = D v (v a unit normal vector, D = diag(max(|x_i|, 1)), the same
scaling as the coordinate steps) and compare with g'u: one number that mixes
every coordinate. It is what JAX's ``check_grads`` relies on (cheap when there
are many coordinates); here it is a second, independent witness.

Measured rounding (eq:noise-estimate). The rounding error of a computed f is
rarely eps |f|: a likelihood sums terms larger than itself. So we measure it,
in the manner of More and Wild's ECnoise: f at 15 points x + j delta u (delta
a tenth of the step, along two seeded directions) varies smoothly by far less
than its rounding noise, and the 6th differences of those values are pure
noise with variance C(12, 6) sigma^2 = 924 sigma^2. With sigma the noise of
one value of f, D_R's rounding error has standard deviation
sqrt(32.5) / 3 * sigma / t = 1.9 sigma / t; for a row with step h we report

    est. rounding error = max(10 sigma, 3 eps |f(x)|) / h

(about five standard deviations, because sigma is itself estimated from 18
differences and rounding is not Gaussian; the eps term keeps a floor when the
probe happens to see no noise).

Verdict. A row passes when |analytic - numeric| <= tol * max(|analytic|,
|numeric|), or when the error is below the estimated rounding error (a
derivative smaller than the finite-difference noise cannot be checked
relatively: at an optimum the gradient is ~0). The worst relative error is
taken over the rows above that noise floor.

Command line: ``python -m refimpl.gradcheck CASE [--at random|optimum]
[--reml/--ml] [--param profile|sqrt] [--seed N]`` checks the score and the
Hessian of one named model (see :data:`CASES`).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import tolerances
from .cases import CASES, build_case
from .tolerances import FD, FD_HESSIAN

#: The base relative step t of the step rule (module docstring).
REL_STEP = np.finfo(float).eps ** (1.0 / 3.0)

#: Rounding error of D_R, in units of (noise of one value of f) / t: about five
#: standard deviations (module docstring, eq:noise-estimate).
_ROUNDING_FACTOR = 10.0

#: Points of the noise probe along each of two directions (eq:noise-estimate):
#: 15 give nine 6th differences each.
_NOISE_POINTS = 15

#: Variance of a 6th difference of independent noise, in units of sigma^2: C(12, 6).
_D6_VARIANCE = 924.0

COLUMNS = ["coordinate", "analytic", "numeric", "abs err", "rel err",
           "est. truncation error", "est. rounding error", "h", "ok"]


# --------------------------------------------------------------------------
# The result object
# --------------------------------------------------------------------------

@dataclass
class CheckResult:
    """Per-row table and verdict of one derivative check.

    ``table`` has the columns of :data:`COLUMNS`; ``passed``, ``worst_rel_err``
    (over rows above the rounding floor, nan if there are none) and ``tol`` are
    the verdict. ``what`` says what was checked.
    """

    what: str
    table: pd.DataFrame
    tol: float
    passed: bool
    worst_rel_err: float
    worst_row: str
    n_below_noise: int
    notes: list = field(default_factory=list)

    def __bool__(self):
        return self.passed

    def __str__(self):
        verdict = "PASSED" if self.passed else "FAILED"
        n_rel = len(self.table) - self.n_below_noise
        lines = [f"{self.what}: {verdict}"]
        if n_rel:
            lines.append(f"  worst relative error {self.worst_rel_err:.3g} at {self.worst_row} "
                         f"(tolerance {self.tol:g}{_tier(self.tol)}) over {n_rel} row(s)")
        if self.n_below_noise:
            lines.append(f"  {self.n_below_noise} row(s) with |derivative| below the rounding floor "
                         "(as at an optimum) checked absolutely: |err| <= est. rounding error")
        if not self.passed:
            bad = self.table.loc[~self.table["ok"], "coordinate"].tolist()
            lines.append(f"  failing rows: {', '.join(map(str, bad))}")
        lines += [f"  note: {n}" for n in self.notes]
        with pd.option_context("display.width", 200, "display.max_rows", 400,
                               "display.max_columns", 20):
            body = self.table.to_string(index=False, float_format=lambda v: f"{v: .6e}")
        return "\n".join(lines + [body])


def _tier(tol):
    """', the NAME tier' if tol is one of refimpl.tolerances' named constants."""
    for name in ("FD", "FD_HESSIAN", "IDENTITY", "SAME_POINT"):
        if tol == getattr(tolerances, name):
            return f", tier refimpl.tolerances.{name}"
    return ""


# --------------------------------------------------------------------------
# The differencing core
# --------------------------------------------------------------------------

def _require_finite_point(x, names):
    x = np.asarray(x, dtype=float)
    if x.ndim != 1:
        raise ValueError(f"the point x must be a 1-d vector, got shape {x.shape}")
    bad = np.flatnonzero(~np.isfinite(x))
    if bad.size:
        i = bad[0]
        raise ValueError(f"cannot check derivatives at a non-finite point: {names[i]} = {x[i]}"
                         f" ({bad.size} non-finite coordinate(s)); give a finite x")
    return x


def _names(names, k):
    if names is None:
        return [f"x[{i}]" for i in range(k)]
    names = [str(n) for n in names]
    if len(names) != k:
        raise ValueError(f"names has {len(names)} entries but x has {k} coordinates")
    return names


def _evaluate(fun, x, what, label):
    """fun(x) as a float array; ValueError naming the step if it fails or is non-finite."""
    try:
        val = np.asarray(fun(x), dtype=float)
    except Exception as exc:   # the checker reports, the caller fixes
        raise ValueError(f"{what} failed at {label}: {type(exc).__name__}: {exc}. If this is "
                         "a step outside the function's domain, check at a point further "
                         "from the boundary or pass a smaller rel_step") from exc
    if not np.all(np.isfinite(val)):
        raise ValueError(f"{what} is not finite at {label} (value {val}); the check needs a "
                         "function that is finite in a neighbourhood of x")
    return val


def _richardson(fun, x, u, t, what, label):
    """(D_R, truncation estimate) of the derivative of fun along u (eq:richardson)."""
    def D(s):
        hi = _evaluate(fun, x + s * u, what, f"x + {s:.3g} * ({label})")
        lo = _evaluate(fun, x - s * u, what, f"x - {s:.3g} * ({label})")
        return (hi - lo) / (2.0 * s)

    D1, D2 = D(t), D(t / 2.0)
    return (4.0 * D2 - D1) / 3.0, np.abs(D2 - D1) / 3.0


def _noise(fun, x, t, seed, what):
    """sigma, the rounding noise of one value of fun near x (eq:noise-estimate).

    Per component for a vector fun. Two seeded directions, 15 points each.
    """
    delta = t / 10.0
    d6 = []
    for u in _directions(x, 2, [seed, 1]):
        vals = np.array([_evaluate(fun, x + j * delta * u, what, f"noise probe point {j}")
                         for j in range(_NOISE_POINTS)])
        d6.append(np.diff(vals, n=6, axis=0))               # 9 values (per component)
    return np.sqrt(np.mean(np.concatenate(d6) ** 2, axis=0) / _D6_VARIANCE)


def _directions(x, directions, seed):
    """Seeded unit normal directions v, and the scaled directions u = D v."""
    rng = np.random.default_rng(seed)
    scale = np.maximum(np.abs(x), 1.0)
    out = []
    for _ in range(directions):
        v = rng.standard_normal(len(x))
        v /= np.linalg.norm(v)
        out.append(scale * v)
    return out


def _verdict(what, rows, R, tol, notes):
    """The table and verdict from rows [label, analytic, numeric, truncation, h].

    R is the rounding noise of one difference of function values (sigma
    times the factor of eq:noise-estimate); a row's rounding error is R / h.
    """
    table = pd.DataFrame(rows, columns=["coordinate", "analytic", "numeric",
                                        "est. truncation error", "h"])
    table["est. rounding error"] = max(R, np.finfo(float).tiny) / table["h"]
    a, n = table["analytic"].to_numpy(), table["numeric"].to_numpy()
    err = np.abs(a - n)
    denom = np.maximum(np.maximum(np.abs(a), np.abs(n)), np.finfo(float).tiny)
    rel = err / denom
    noise = table["est. rounding error"].to_numpy()
    below = np.maximum(np.abs(a), np.abs(n)) * tol <= noise
    ok = (rel <= tol) | (err <= noise)
    table["abs err"], table["rel err"], table["ok"] = err, rel, ok
    table = table[COLUMNS]
    ranked = np.where(below, -np.inf, rel)
    if np.all(below):
        worst, worst_row = float("nan"), "(none above the rounding floor)"
    else:
        j = int(np.argmax(ranked))
        worst, worst_row = float(rel[j]), str(table["coordinate"].iloc[j])
    return CheckResult(what=what, table=table, tol=tol, passed=bool(ok.all()),
                       worst_rel_err=worst, worst_row=worst_row,
                       n_below_noise=int(below.sum()), notes=list(notes))


# --------------------------------------------------------------------------
# Public checks
# --------------------------------------------------------------------------

def check_gradient(f, grad, x, *, directions=3, seed=0, tol=FD, rel_step=REL_STEP,
                   names=None, what="gradient"):
    """Check ``grad(x)`` against central differences of the scalar ``f`` at x.

    One row per coordinate (the partial derivative) and one per seeded random
    direction u (the directional derivative g'u). Returns a :class:`CheckResult`.
    Raises ValueError, naming the coordinate, if x is not finite, and naming the
    step if f or grad is not finite (or raises) where it is evaluated.
    """
    names = _names(names, np.size(x))
    x = _require_finite_point(x, names)
    f0 = float(_evaluate(f, x, "f", "x"))
    g = _evaluate(grad, x, "grad", "x")
    if g.shape != x.shape:
        raise ValueError(f"grad(x) has shape {g.shape} but x has shape {x.shape}")
    rows = []
    for i in range(len(x)):
        s = max(abs(x[i]), 1.0)
        u = np.zeros_like(x)
        u[i] = s
        num, trunc = _richardson(f, x, u, rel_step, "f", f"e_{i} * {s:.3g}")
        rows.append([names[i], g[i], float(num) / s, float(trunc) / s, rel_step * s])
    for k, u in enumerate(_directions(x, directions, seed)):
        num, trunc = _richardson(f, x, u, rel_step, "f", f"direction {k}")
        rows.append([f"direction {k}", float(g @ u), float(num), float(trunc), rel_step])
    # measured after the differences, so a step outside the domain is reported as such
    sigma = float(_noise(f, x, rel_step, seed, "f"))
    R = max(_ROUNDING_FACTOR * sigma, 3.0 * np.finfo(float).eps * abs(f0))
    return _verdict(what, rows, R, tol, [f"f(x) = {f0!r}; step h_i = {rel_step:.3g} * max(|x_i|, 1); "
                                      f"{directions} random directions, seed {seed}"])


def check_hessian(grad, hess, x, *, directions=3, seed=0, tol=FD_HESSIAN, rel_step=REL_STEP,
                  names=None, what="Hessian"):
    """Check ``hess(x)`` as the derivative (Jacobian) of the vector function ``grad``.

    Differencing grad along coordinate j gives column j of the Hessian: one row
    per entry H[i, j]. Along a random direction u it gives H u: one row per
    component. The rounding estimate is the largest over the components of
    grad (a computed gradient's rounding error is normwise, not componentwise).
    The result also carries the Hessian's relative asymmetry in its notes.
    """
    names = _names(names, np.size(x))
    x = _require_finite_point(x, names)
    g0 = _evaluate(grad, x, "grad", "x")
    H = _evaluate(hess, x, "hess", "x")
    K = len(x)
    if g0.shape != (K,) or H.shape != (K, K):
        raise ValueError(f"grad(x) has shape {g0.shape} and hess(x) {H.shape}; expected "
                         f"({K},) and ({K}, {K})")
    rows = []
    for j in range(K):
        s = max(abs(x[j]), 1.0)
        u = np.zeros_like(x)
        u[j] = s
        num, trunc = _richardson(grad, x, u, rel_step, "grad", f"e_{j} * {s:.3g}")
        for i in range(K):
            rows.append([f"d{names[i]}/d{names[j]}", H[i, j], num[i] / s, trunc[i] / s,
                         rel_step * s])
    for k, u in enumerate(_directions(x, directions, seed)):
        num, trunc = _richardson(grad, x, u, rel_step, "grad", f"direction {k}")
        Hu = H @ u
        for i in range(K):
            rows.append([f"(H u_{k})[{names[i]}]", Hu[i], num[i], trunc[i], rel_step])
    sigma = float(np.max(_noise(grad, x, rel_step, seed, "grad")))
    R = max(_ROUNDING_FACTOR * sigma, 3.0 * np.finfo(float).eps * np.max(np.abs(g0)))
    asym = np.max(np.abs(H - H.T)) / max(np.max(np.abs(H)), np.finfo(float).tiny)
    return _verdict(what, rows, R, tol, [f"max |H - H'| / max |H| = {asym:.3g}; step h_j = "
                                      f"{rel_step:.3g} * max(|x_j|, 1); {directions} random "
                                      f"directions, seed {seed}"])


# --------------------------------------------------------------------------
# Command line: named cases of the project
# --------------------------------------------------------------------------

def param_names(model, param):
    """Readable names of the covariance coordinates (tril order, then components)."""
    re = model.exog_re_names
    sym = "L" if param == "sqrt" else "Psi"
    rows, cols = np.tril_indices(model.k_re)
    out = [f"{sym}[{re[a]},{re[b]}]" for a, b in zip(rows, cols)]
    return out + [f"{'s' if param == 'sqrt' else 'psi'}[{v}]" for v in model.vc_names]


def random_point(model, seed):
    """A seeded random sqrt-parameter vector phi, well inside the parameter space.

    Diagonal entries of L and the s_vc in [0.3, 1.5], off-diagonals N(0, 0.3^2):
    an arbitrary point, deliberately not the optimum.
    """
    rng = np.random.default_rng([seed, 7])
    k = model.k_re
    rows, cols = np.tril_indices(k)
    phi = np.where(rows == cols, rng.uniform(0.3, 1.5, len(rows)), 0.3 * rng.standard_normal(len(rows)))
    return np.concatenate([phi, rng.uniform(0.3, 1.5, model.k_vc)])


def optimum_point(model, reml):
    """phi at the (RE)ML optimum, from MixedLM.fit."""
    return model.fit(reml=reml).phi


def run_case(name, at="random", reml=True, param="sqrt", seed=0, directions=3):
    """(score check, Hessian check, header lines) for one named case."""
    from .parameters import profile_to_sqrt, sqrt_to_profile

    model = build_case(name, seed=seed)
    header = [f"case {name}: k_fe={model.k_fe}, k_re={model.k_re}, vc={model.vc_names}, "
              f"groups={model.n_groups}, n={model.n_totobs}, {'REML' if reml else 'ML'}, "
              f"{param} parameterization, point: {at} (seed {seed})"]
    if at == "random":
        phi = random_point(model, seed)
    elif at == "optimum":
        phi = optimum_point(model, reml)
    else:
        raise ValueError(f"--at must be 'random' or 'optimum', got {at!r}")
    names = param_names(model, param)
    if param == "sqrt":
        x = phi
        f, g, H = (lambda p: model.loglike_sqrt(p, reml)), (lambda p: model.score_phi(p, reml)), \
            (lambda p: model.hessian_phi(p, reml))
    elif param == "profile":
        x = sqrt_to_profile(phi, model.k_re)
        f = lambda th: model.loglike_profile(th, reml=reml)                       # noqa: E731
        g = lambda th: model.score_profile(th, reml=reml)                         # noqa: E731
        H = lambda th: model.hessian_profile(th, reml=reml)               # noqa: E731
        profile_to_sqrt(x, model.k_re)   # refuses a non-PSD point early, with its message
    else:
        raise ValueError(f"--param must be 'profile' or 'sqrt', got {param!r}")
    header.append("point: " + ", ".join(f"{n}={v:.6g}" for n, v in zip(names, x)))
    sc = check_gradient(f, g, x, directions=directions, seed=seed, names=names,
                        what=f"score ({param}) vs finite differences of the profiled log-likelihood")
    he = check_hessian(g, H, x, directions=directions, seed=seed, names=names,
                       what=f"Hessian ({param}) vs finite differences of the analytic score")
    return sc, he, header


def main(argv=None):
    """Entry point of ``python -m refimpl.gradcheck`` (and the lmm-gradcheck script)."""
    ap = argparse.ArgumentParser(
        prog="python -m refimpl.gradcheck",
        description="Check the analytic score and Hessian of a named model against finite "
                    "differences (central, Richardson-extrapolated).")
    ap.add_argument("case", choices=sorted(CASES))
    ap.add_argument("--at", choices=["random", "optimum"], default="random",
                    help="a seeded random point (default) or the (RE)ML optimum")
    grp = ap.add_mutually_exclusive_group()
    grp.add_argument("--reml", dest="reml", action="store_true", default=True, help="REML (default)")
    grp.add_argument("--ml", dest="reml", action="store_false", help="ML")
    ap.add_argument("--param", choices=["profile", "sqrt"], default="sqrt",
                    help="differentiate w.r.t. theta (profile) or phi (sqrt, default)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the point and the directions")
    args = ap.parse_args(argv)

    sc, he, header = run_case(args.case, at=args.at, reml=args.reml, param=args.param,
                              seed=args.seed)
    print("\n".join(header))
    print()
    print(sc)
    print()
    print(he)
    ok = sc.passed and he.passed
    print()
    print("overall:", "PASSED" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
