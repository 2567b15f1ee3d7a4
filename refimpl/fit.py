"""``MixedLM.fit``: choose an optimizer (or the default pipeline), then judge the answer.

Arguments are statsmodels' (``start_params, reml, niter_sa, do_cg, fe_pen,
cov_pen, free, full_output, method, **fit_kwargs``), and mean what they mean
there; ``fit_kwargs`` takes ``maxiter``, ``gtol`` and refimpl's ``niter_em``
(plus statsmodels' scipy options ``eps, maxcor, ftol, tol, disp, maxls``, passed
to the scipy methods).

Methods (each in its own module):
    "em"        em.py        EM steps (Lindstrom & Bates 1988)
    "steepest"  steepest.py  steepest ascent with a backtracking line search
    "bfgs"      bfgs.py      scipy BFGS with the analytic score
    "newton"    newton.py    Newton with the analytic profiled Hessian, safeguarded
    None / "default"         ``niter_em`` EM steps, then safeguarded Newton.
    "lbfgs", "cg", "nm", "powell"   scipy.optimize.minimize with that method
                             (statsmodels' names); a list of names is tried in
                             order until the verdict passes, as statsmodels does.

The default: EM steps are cheap, never lower the likelihood, and carry the
start (Psi = I) into the region where the quadratic model is good; Newton
with the analytic Hessian (eq:hess-sqrt, eq:newton-step) then converges
quadratically, in about five steps on every case of the validation suite. Each
Newton step costs one likelihood evaluation, and the score and Hessian reuse
the Point it built (likelihood.Point), so a fit at 1e4 groups takes a few
dozen batched passes over the per-group stacks. If Newton does not pass the
verdict, the fit falls back on the path the statsmodels seed describes
(steepest-ascent steps, then BFGS, then a Newton polish) from the
EM point, and keeps the better of the two answers.

All of them climb the profiled log-likelihood over the sqrt parameters phi.
Whatever the optimizer says about itself, convergence.verdict decides.

Decisions (statsmodels leaves them open):
* ``maxiter=0`` is honoured: no optimizer step is taken (nor EM); the verdict
  judges the start point, as statsmodels evaluates its start with maxiter=0.
* ``do_cg=False`` runs no optimizer either: the start is judged as it is
  (statsmodels would fail there; it has no answer without its gradient method).
* ``niter_sa`` is the number of steepest-ascent steps of the default
  pipeline's fallback path (0 means the pipeline's own 5); statsmodels ignores
  it with a warning.
* With ``fe_pen`` / ``cov_pen`` the default method is BFGS on the penalised
  objective (llf minus the penalties, as statsmodels' loglike), and the fit
  is judged by the penalised objective's scaled gradient.
* The start is moved off the boundary: a zero pivot of the Cholesky factor or a
  zero variance component (convergence.zero_pivots) is set to
  INTERIOR_START, unless ``free`` holds that coordinate. In the sqrt
  parameterization the likelihood is even in such a coordinate, so its
  gradient there is zero and no gradient method could ever leave it.
  If the final point fails the verdict on the boundary, the fit is restarted
  once from the best point the verdict measured off the boundary (its
  ascents) and the better llf is kept.
"""

import warnings

import numpy as np

from . import arguments
from .convergence import best_ascent_phi, verdict, zero_pivots
from .em import fit_em
from .estimable import refuse_exact_fit_at
from .model_api import as_refimpl_params
from .bfgs import fit_bfgs
from .newton import fit_newton
from .objective import Objective
from .parameters import MixedLMParams
from .steepest import fit_steepest

METHODS = ("default", "em", "steepest", "bfgs", "newton")
#: statsmodels' scipy optimizer names refimpl runs through scipy.optimize.minimize.
SCIPY_METHODS = {"lbfgs": "L-BFGS-B", "cg": "CG", "nm": "Nelder-Mead", "powell": "Powell"}
#: statsmodels' fit_kwargs (scipy options), and refimpl's own.
SCIPY_KWARGS = ("eps", "maxcor", "ftol", "tol", "disp", "maxls")
OWN_KWARGS = ("maxiter", "gtol", "niter_em")
#: Where a start on the boundary is moved: a pivot of L or an s_vc (units of sigma).
INTERIOR_START = 0.1


class ConvergenceWarning(UserWarning):
    """The fit did not pass the convergence verdict, or ended on the boundary."""


def canonical_phi(phi, k_re):
    """The same Psi with a nonnegative diagonal of L and nonnegative s_vc.

    Psi = L L' does not change when a column of L changes sign, nor psi = s^2
    when s does; optimizers may end on either sign. We report the one with
    nonnegative signs (the Cholesky convention, and lme4's), so fits compare in phi.
    """
    from .parameters import pack_sqrt, unpack_sqrt

    L, s_vc = unpack_sqrt(phi, k_re)
    signs = np.where(np.diag(L) < 0, -1.0, 1.0) if k_re else np.ones(0)
    return pack_sqrt(L * signs[None, :], np.abs(s_vc))


def _start_phi(model, start_params):
    """phi from start_params: None (statsmodels' Psi = I, psi_vc = 1), a MixedLMParams, or packed."""
    if start_params is None:
        k = model.k_re
        return np.concatenate([np.eye(k)[np.tril_indices(k)], np.ones(model.k_vc)])
    if not isinstance(start_params, MixedLMParams) and isinstance(start_params, (str, bytes, dict)):
        raise TypeError(f"start_params must be a MixedLMParams or a packed array, got "
                        f"{type(start_params).__name__}")
    p = model._as_params(start_params, name="start_params")
    if not (np.all(np.isfinite(p.cov_re)) and np.all(np.isfinite(p.vcomp))):
        raise ValueError(f"start_params must be finite, got {p}")
    try:
        return p.sqrt()
    except ValueError as e:
        raise ValueError(f"start_params is not a valid covariance (cov_re must be positive "
                         f"semi-definite and variance components >= 0): {e}") from None


def _free_mask(model, free):
    """Bool mask over phi (= over theta) from statsmodels' MixedLMParams of 0/1 or a 0/1 array."""
    K = model.layout.n_params
    if free is None:
        return None, None
    free = as_refimpl_params(free)
    if isinstance(free, MixedLMParams):
        model._check_params_object(free, "free")
        mask = free.get_packed(use_sqrt=False, has_fe=False)
    else:
        mask = arguments.float_vector("free", free, finite=False)
        if mask.shape == (model.k_fe + K,):
            mask = mask[model.k_fe:]
    if mask.shape != (K,):
        raise ValueError(f"free must be a MixedLMParams or a 0/1 mask over the {K} covariance "
                         f"parameters (tril(cov_re) then vcomp), optionally with {model.k_fe} "
                         f"fe entries first; got length {mask.size}")
    if not np.all(np.isin(mask, (0.0, 1.0))):
        raise ValueError(f"free must hold only 0 (held at the start value) and 1 (estimated), "
                         f"got {mask.tolist()}")
    pat = MixedLMParams.from_profile(mask, model.k_re, fe_params=np.ones(model.k_fe))
    return mask != 0, pat


def _restart_point(model, phi, conv, free_mask):
    """Where to restart a fit that stopped on the boundary while the llf rises off it.

    The verdict has already walked each violated KKT direction and kept the best
    measured point of each (conv.ascents: feasible, with a higher llf;
    eq:kkt-psd, eq:kkt-vc). Restart from the best of them, with any remaining
    zero pivot moved inside as for a start; if the verdict measured no ascent
    (it failed for another reason), from statsmodels' start scale (1.0).
    """
    ascent = best_ascent_phi(conv, model.k_re)
    if ascent is None:
        return _off_boundary(phi, model.k_re, free_mask, value=1.0)[0]
    return _off_boundary(ascent, model.k_re, free_mask)[0]


def _off_boundary(phi, k_re, free_mask, value=INTERIOR_START):
    """phi with every zero pivot of L and zero s_vc that is free set to ``value``."""
    from .linalg import n_tril

    zero_L, zero_vc = zero_pivots(phi, k_re)
    phi = phi.copy()
    m = n_tril(k_re)
    diag_pos = [i for i, (r, c) in enumerate(zip(*np.tril_indices(k_re))) if r == c]
    moved = False
    for c in np.flatnonzero(zero_L):
        i = diag_pos[c]
        if free_mask is None or free_mask[i]:
            phi[i], moved = value, True
    for j in np.flatnonzero(zero_vc):
        if free_mask is None or free_mask[m + j]:
            phi[m + j], moved = value, True
    return phi, moved


def _check_method(method):
    """A list of lower-case method names (statsmodels accepts one name or a list)."""
    names = [method] if method is None or isinstance(method, str) else method
    if not isinstance(names, (list, tuple)) or not names:
        raise TypeError(f"method must be a name or a non-empty list of names, got {method!r}")
    out = []
    for m in names:
        m = "default" if m is None else m
        if not isinstance(m, str) or m.lower() not in METHODS + tuple(SCIPY_METHODS):
            raise ValueError(f"method must be one of {', '.join(METHODS + tuple(SCIPY_METHODS))} "
                             f"(or a list of them); got {m!r}")
        out.append(m.lower())
    return out


def _check_kwargs(fit_kwargs):
    bad = sorted(set(fit_kwargs) - set(SCIPY_KWARGS) - set(OWN_KWARGS))
    if bad:
        raise TypeError(f"fit got unexpected keyword arguments {bad}; it takes "
                        f"{', '.join(OWN_KWARGS)} and statsmodels' {', '.join(SCIPY_KWARGS)}")
    maxiter = arguments.integer("maxiter", fit_kwargs.get("maxiter"), minimum=0, allow_none=True)
    gtol = arguments.real("gtol", fit_kwargs.get("gtol"), minimum=0.0, open_interval=True,
                          allow_none=True)
    niter_em = arguments.integer("niter_em", fit_kwargs.get("niter_em", 5), minimum=0)
    scipy_opts = {k: fit_kwargs[k] for k in SCIPY_KWARGS if k in fit_kwargs and k != "disp"}
    return maxiter, gtol, niter_em, scipy_opts


def fit(model, start_params=None, reml=True, niter_sa=0, do_cg=True, fe_pen=None, cov_pen=None,
        free=None, full_output=False, method=None, **fit_kwargs):
    """Fit by ``method`` and return a results.MixedLMResults (see module docstring)."""
    from .results import MixedLMResults

    reml = arguments.boolean("reml", reml)
    do_cg = arguments.boolean("do_cg", do_cg)
    full_output = arguments.boolean("full_output", full_output)
    niter_sa = arguments.integer("niter_sa", niter_sa, minimum=0)
    methods = _check_method(method)
    maxiter, gtol, niter_em, scipy_opts = _check_kwargs(fit_kwargs)
    for name, pen in (("fe_pen", fe_pen), ("cov_pen", cov_pen)):
        if pen is not None and not (hasattr(pen, "func") and hasattr(pen, "deriv")):
            raise TypeError(f"{name} must be a penalty object with func and deriv "
                            f"(statsmodels.base._penalties), got {pen!r}")
    phi = _start_phi(model, start_params)
    free_mask, freepat = _free_mask(model, free)
    if free_mask is not None and "em" in methods:
        raise ValueError("method='em' cannot hold parameters fixed; use 'bfgs' or 'newton' with free=...")
    # statsmodels keeps these on the model: loglike/score/hessian read them
    model.reml, model.fe_pen, model.cov_pen, model._freepat = reml, fe_pen, cov_pen, freepat
    penalized = fe_pen is not None or cov_pen is not None
    if penalized and set(methods) - {"default", "bfgs", "lbfgs", "cg", "nm", "powell"}:
        raise ValueError("fe_pen / cov_pen need a gradient method on the penalised likelihood: "
                         "method None, 'bfgs', 'lbfgs', 'cg', 'nm' or 'powell'")

    run = _Runner(model, reml, free_mask, penalized, maxiter, gtol, niter_em, niter_sa, scipy_opts)
    phi, moved = _off_boundary(phi, model.k_re, free_mask)
    if moved:
        run.history.append(("start moved off the boundary", 0, model.loglike_sqrt(phi, reml)))
    if do_cg and maxiter != 0:
        for m in methods:
            phi = run.method(m, phi)
            if run.passes(phi):
                break
        conv = run.verdict(phi)
        if not conv.passed and conv.boundary and not penalized:
            # Stuck on the boundary where the likelihood still rises off it: try once
            # more from inside, keep the better llf.
            phi2 = run.method(methods[-1], _restart_point(model, phi, conv, free_mask))
            if run.llf(phi2) > run.llf(phi):
                phi = phi2
    phi = canonical_phi(phi, model.k_re)
    refuse_exact_fit_at(model, phi, reml)
    conv = run.verdict(phi, stopped_reason=run.stopped)
    if penalized:
        conv = _penalized_verdict(run, phi, conv)
    label = methods[0] if len(methods) == 1 else ",".join(methods)
    if not conv.passed or conv.boundary:
        warnings.warn(f"MixedLM fit ({label}): {conv.reason}", ConvergenceWarning, stacklevel=3)
    return MixedLMResults(model, phi, reml=reml, method=label, n_iter=run.n_iter, convergence=conv,
                          history=run.history if full_output else None, free=free_mask)


def _penalized_verdict(run, phi, conv):
    """A penalised fit is judged on the penalised objective, not on the likelihood.

    The analytic verdict (convergence.py) is about the likelihood's own
    stationary point, which a penalised optimum is not; here the scaled gradient
    of the penalised objective (llf minus the penalties) must be below
    RELGRAD_TOL instead. The verdict's object is kept, with passed and reason replaced.
    """
    import dataclasses

    from .convergence import RELGRAD_TOL

    obj = run.objective(phi)
    x = obj.x0()
    g, f = obj.grad(x), obj.llf(x)
    scaled = float(np.max(np.abs(g) * np.maximum(np.abs(x), 1.0), initial=0.0)) / max(abs(f), 1.0)
    passed = bool(np.isfinite(scaled) and scaled < RELGRAD_TOL)
    reason = (f"{'converged' if passed else 'not converged'} (penalised fit: fe_pen/cov_pen): scaled "
              f"gradient of the penalised objective {scaled:.2e} "
              f"{'<' if passed else '>='} {RELGRAD_TOL:g}")
    try:
        return dataclasses.replace(conv, passed=passed, reason=reason)
    except TypeError:              # the verdict's record is not a dataclass: set the two fields
        conv.passed, conv.reason = passed, reason
        return conv


class _Runner:
    """Runs one named method from a phi, collecting iterations and history."""

    def __init__(self, model, reml, free_mask, penalized, maxiter, gtol, niter_em, niter_sa,
                 scipy_opts):
        self.model, self.reml, self.free = model, reml, free_mask
        self.penalized = penalized
        self.maxiter, self.gtol, self.niter_em, self.niter_sa = maxiter, gtol, niter_em, niter_sa
        self.scipy_opts = scipy_opts
        self.history, self.n_iter, self.stopped = [], 0, None

    def objective(self, phi):
        cls = PenalizedObjective if self.penalized else Objective
        return cls(self.model, self.reml, phi, self.free)

    def llf(self, phi):
        return self.objective(phi).llf(self.objective(phi).x0())

    def verdict(self, phi, stopped_reason=None):
        return verdict(self.model, canonical_phi(phi, self.model.k_re), self.reml, self.free,
                       stopped_reason=stopped_reason)

    def passes(self, phi):
        return self.verdict(phi).passed

    def _run(self, stage, fn, phi, **kw):
        obj = self.objective(phi)
        x, it, hist, self.stopped = fn(obj, **kw)
        self.n_iter += it
        self.history.extend((stage, i, llf) for i, llf in hist)
        return obj.phi(x)

    def _em(self, phi, maxiter):
        phi, it, hist = fit_em(self.model, phi, self.reml, maxiter=maxiter, tol=0.0)
        self.n_iter += it
        self.history.extend(("em", i, llf) for i, llf in hist)
        return phi

    def method(self, name, phi):
        mi, gt = self.maxiter, self.gtol
        if self.free is not None and not np.any(self.free):
            self.stopped = "every covariance parameter is held by free: nothing to optimise"
            return phi
        if name == "em":
            phi = self._em(phi, mi or 1000)
            self.stopped = "maxiter reached" if self.n_iter >= (mi or 1000) else None
            return phi
        if name == "steepest":
            return self._run("steepest", fit_steepest, phi, maxiter=mi or 2000, gtol=gt or 1e-10)
        if name == "bfgs":
            return self._run("bfgs", fit_bfgs, phi, maxiter=mi or 500, gtol=gt or 1e-9)
        if name == "newton":
            return self._run("newton", fit_newton, phi, maxiter=mi or 100, gtol=gt or 1e-13)
        if name in SCIPY_METHODS:
            return self._run(name, fit_scipy, phi, method=SCIPY_METHODS[name], maxiter=mi or 2000,
                             gtol=gt, options=self.scipy_opts)
        return self._default(phi)

    def _default(self, phi):
        if self.penalized:
            return self._run("bfgs", fit_bfgs, phi, maxiter=self.maxiter or 500, gtol=self.gtol or 1e-9)
        if self.free is None and self.niter_em > 0:
            phi = self._em(phi, self.niter_em)
        phi_em = phi
        phi = self._run("newton", fit_newton, phi, maxiter=self.maxiter or 50, gtol=self.gtol or 1e-13)
        if not self.passes(phi):
            # Newton did not get there (it stalled near a saddle, say, or crept
            # along a flat boundary direction): restart from the EM point along
            # the slower Hessian-free path, polish with Newton once more, and
            # keep whichever answer has the higher llf.
            phi_newton, phi = phi, phi_em
            phi = self._run("steepest", fit_steepest, phi, maxiter=self.niter_sa or 5)
            phi = self._run("bfgs", fit_bfgs, phi, maxiter=self.maxiter or 500, gtol=self.gtol or 1e-9)
            if not self.passes(phi):
                phi = self._run("newton", fit_newton, phi, maxiter=50, gtol=1e-13)
            if self.llf(phi_newton) > self.llf(phi):
                phi = phi_newton
        return phi


class PenalizedObjective(Objective):
    """The profiled llf minus statsmodels' penalties (model.fe_pen, model.cov_pen) over phi.

    The penalties depend on phi through beta_hat(theta) and Psi_re; their
    gradient is taken by central differences (the llf's own score stays analytic).
    """

    def llf(self, x):
        phi = self.phi(x)
        base = super().llf(x)
        if not np.isfinite(base):
            return base
        return base - self.penalty(phi)

    def penalty(self, phi):
        p = MixedLMParams.from_sqrt(phi, self.model.k_re)
        return self.model._penalty_terms(self.model.point_sqrt(phi).beta_hat, p.cov_re)

    def grad(self, x):
        g = super().grad(x)
        h = 1e-6 * np.maximum(np.abs(x), 1.0)
        dp = np.array([(self.penalty(self.phi(x + h[i] * e)) - self.penalty(self.phi(x - h[i] * e)))
                       / (2 * h[i]) for i, e in enumerate(np.eye(len(x)))])
        return g - dp if len(x) else g


def fit_scipy(obj, method, maxiter, gtol=None, options=None):
    """scipy.optimize.minimize(method) on -llf over the free phi; returns (x, n_iter, history, reason)."""
    from scipy.optimize import minimize

    history = [(0, obj.llf(obj.x0()))]
    jac = None if method in ("Nelder-Mead", "Powell") else (lambda x: -obj.grad(x))
    opts = {"maxiter": maxiter}
    opts.update(options or {})
    if gtol is not None and method in ("CG", "L-BFGS-B"):
        opts["gtol"] = gtol

    def neg(x):
        f = obj.llf(x)
        return 1e300 if not np.isfinite(f) else -f

    def record(xk, *args):
        history.append((len(history), obj.llf(xk)))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        r = minimize(neg, obj.x0(), jac=jac, method=method, options=opts, callback=record)
    return r.x, int(getattr(r, "nit", len(history) - 1)), history, str(r.message)
