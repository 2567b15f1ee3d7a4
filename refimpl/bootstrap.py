"""Parametric bootstrap: simulate from the fitted model, refit, and read intervals off the refits.

Replicate r draws, with its own generator,

    b_i* ~ N(0, sigma2_hat Psi_hat),  e* ~ N(0, sigma2_hat I),
    y*   = X beta_hat + Z b* + e*                                            (eq:boot-draw)

and refits the same model (REML or ML, as the original fit) from the original
estimate. Each replicate's generator is ``default_rng(child_r)`` with
``child_r = SeedSequence(seed).spawn(n)[r]``, so replicate r is the same number
whichever worker computes it and however many workers there are: with a
fixed seed the result is reproducible bit for bit.

From the replicates t*_r of a parameter (on lme4's scale, as profile_ci:
sd, cor, sigma, fixed effects), with q_a the a-quantile of the t*,

    percentile:  [q_{alpha/2}, q_{1-alpha/2}]
    basic:       [2 t_hat - q_{1-alpha/2}, 2 t_hat - q_{alpha/2}]            (eq:boot-intervals)

A replicate whose refit does not pass the convergence verdict (or raises) is
counted, reported (``n_failed``, ``failures``, a RuntimeWarning) and left out
of the intervals; it is never dropped silently. Refits that end on the
boundary (a zero variance) are valid maximum-likelihood estimates and are kept.
"""

import dataclasses
import os
import sys
import warnings
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd

from . import arguments
from .checks import r_factor
from .parameters import MixedLMParams
from .profile_ci import lme4_scale, profile_params

_WORKER = {}


def with_response(model, y):
    """A MixedLM with the same design and grouping as ``model`` and response y."""
    from .model import MixedLM

    d = model.design
    design = dataclasses.replace(d, y=np.asarray(y, float).copy(),
                                 R=r_factor(d.X, y, d.Z[:, :d.layout.k_re]))
    return MixedLM(None, None, None, _design=design)


def simulate_response(model, theta, sigma2, beta, rng):
    """y* of (eq:boot-draw): one N(0, sigma2 Psi) vector per group, then the residuals."""
    d = model.design
    Psi = model.layout.Psi(theta)
    q = Psi.shape[0]
    # a PSD square root (eigen): Psi may be singular after a boundary fit
    w, U = np.linalg.eigh(Psi)
    root = U * np.sqrt(np.clip(w, 0, None))
    b = rng.standard_normal((d.n_groups, q)) @ root.T * np.sqrt(sigma2)
    e = rng.standard_normal(d.n_obs) * np.sqrt(sigma2)
    return d.X @ beta + np.einsum("nq,nq->n", d.Z, b[d.group_index]) + e


def _init(model, theta, sigma2, beta, reml):
    _WORKER.update(model=model, theta=theta, sigma2=sigma2, beta=beta, reml=reml)


def _replicate(seed_seq):
    """(lme4-scale estimates, None) or (nan row, reason) for one replicate."""
    w = _WORKER
    model = w["model"]
    rng = np.random.default_rng(seed_seq)
    y = simulate_response(model, w["theta"], w["sigma2"], w["beta"], rng)
    n_par = len(profile_params(model))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = MixedLMParams.from_profile(w["theta"], model.k_re)
            res = with_response(model, y).fit(reml=w["reml"], start_params=start)
    except (ValueError, np.linalg.LinAlgError) as err:
        return np.full(n_par, np.nan), f"fit raised {type(err).__name__}: {err}"
    values = lme4_scale(res.theta, res.scale, np.asarray(res.fe_params, float), model)
    if not res.converged:
        return values, f"did not pass the convergence verdict: {res.convergence.reason}"
    return values, None


@dataclasses.dataclass
class BootstrapResults:
    """Replicates (one row each, lme4-scale columns), which failed and why, and the intervals."""

    estimates: pd.Series
    replicates: pd.DataFrame
    failures: dict            # replicate index -> reason
    seed: object

    @property
    def n(self):
        return len(self.replicates)

    @property
    def n_failed(self):
        return len(self.failures)

    def good(self):
        ok = np.ones(self.n, bool)
        ok[list(self.failures)] = False
        return self.replicates[ok]

    def conf_int(self, alpha=0.05, method="percentile"):
        """Percentile or basic intervals (eq:boot-intervals) from the converged replicates."""
        alpha = arguments.probability("alpha", alpha)
        method = arguments.choice("method", method, ("percentile", "basic"))
        good = self.good()
        if len(good) < 2:
            raise ValueError(f"only {len(good)} of {self.n} replicates converged; no interval")
        lo = good.quantile(alpha / 2)
        hi = good.quantile(1 - alpha / 2)
        if method == "basic":
            lo, hi = 2 * self.estimates - hi, 2 * self.estimates - lo
        return pd.DataFrame({"estimate": self.estimates, "lower": lo, "upper": hi})


def bootstrap(results, n=1000, seed=None, n_jobs=None, progress=False):
    """Parametric bootstrap of ``results``: n simulated data sets refitted (module docstring).

    seed: anything numpy.random.SeedSequence takes (None: fresh entropy, recorded in
    the result's ``seed`` so the run can be repeated). n_jobs: worker processes
    (default: the number of cores, at most n); 1 runs in this process.
    progress: print a counter to stderr.
    """
    n = arguments.positive_int("n", n)
    progress = arguments.boolean("progress", progress)
    n_jobs = arguments.positive_int("n_jobs", n_jobs, allow_none=True)
    if n_jobs is None:
        n_jobs = max(1, min(os.cpu_count() or 1, n))
    if results.free is not None and not np.all(results.free):
        raise ValueError("bootstrap of a fit with parameters held fixed (free=...) is not "
                         "supported: refit without free=")
    model = results.model
    ss = np.random.SeedSequence(seed)
    children = ss.spawn(n)
    beta = np.asarray(results.fe_params, float)
    args = (model, results.theta.copy(), float(results.scale), beta, results.reml)
    out = [None] * n

    def report(done):
        if progress:
            print(f"\rbootstrap: {done}/{n} refits", end="" if done < n else "\n",
                  file=sys.stderr, flush=True)

    if n_jobs == 1:
        _init(*args)
        for r, child in enumerate(children):
            out[r] = _replicate(child)
            report(r + 1)
    else:
        with ProcessPoolExecutor(n_jobs, initializer=_init, initargs=args) as pool:
            chunk = max(1, n // (8 * n_jobs))
            for r, value in enumerate(pool.map(_replicate, children, chunksize=chunk)):
                out[r] = value
                report(r + 1)
    names = [p.name for p in profile_params(model)]
    reps = pd.DataFrame(np.array([v for v, _ in out]), columns=names)
    failures = {r: why for r, (_, why) in enumerate(out) if why is not None}
    if failures:
        warnings.warn(f"bootstrap: {len(failures)} of {n} refits failed and are left out of the "
                      f"intervals (see .failures); first: {next(iter(failures.values()))}",
                      RuntimeWarning, stacklevel=2)
    est = pd.Series(lme4_scale(results.theta, results.scale, beta, model), index=names)
    return BootstrapResults(est, reps, failures, seed=ss.entropy)
