"""``MixedLM.fit_regularized``: L1-penalised fixed effects by coordinate descent (statsmodels' semantics).

statsmodels' recipe, which this follows:

1. fit the unpenalised model (``fit(**fit_kwargs)``) to get the covariance
   structure cov_re, vcomp and scale; these stay fixed from here on;
2. with V = scale (I + Z Psi Z'), minimise over beta

       (y - X beta)' V^{-1} (y - X beta) + sum_j alpha_j |beta_j|

   one coordinate at a time ("shooting", Friedman, Hastie & Tibshirani 2008):
   with beta_j set to 0, a = x_j'V^{-1}x_j and b = -2 x_j'V^{-1} r, the
   minimiser of a t^2 + b t + alpha_j |t| is -(b - alpha_j)/(2a) when
   b > alpha_j, -(b + alpha_j)/(2a) when b < -alpha_j, and 0 otherwise;
   a coefficient already below ``ceps`` in magnitude is left at its value;
3. stop when no coefficient moved by ``ptol`` (sup norm) in a sweep, or after
   ``maxit`` sweeps.

Everything a sweep needs is W = X'V_p^{-1}X and c = X'V_p^{-1}y with V_p the
profile V (V = scale V_p), which the likelihood Point already holds:
x_j'V^{-1}(y - X beta) = (c_j - W_j. beta) / scale. No pass over the rows.

``method`` may instead be a smooth penalty object (statsmodels.base._penalties,
e.g. L2, PseudoHuber): then, as statsmodels does, its ``alpha`` is set to
``alpha`` (on a copy: the caller's object is not changed) and the model is fitted with
``fe_pen=`` that penalty.

One difference from statsmodels: the final scale is computed from the profile
variance components (statsmodels passes its user-scale vcomp where the profile
ones belong).
"""

import copy
import warnings

import numpy as np

from . import arguments


def fit_regularized(model, start_params=None, method="l1", alpha=0, ceps=1e-4, ptol=1e-6,
                    maxit=200, **fit_kwargs):
    """See the module docstring; returns a MixedLMResults."""
    if isinstance(method, str):
        if method.lower() != "l1":
            raise ValueError(f"method must be 'l1' or a penalty object (statsmodels.base._penalties), "
                             f"got {method!r}")
    elif hasattr(method, "func") and hasattr(method, "deriv"):
        pen = copy.copy(method)
        pen.alpha = alpha
        return model.fit(start_params=start_params, fe_pen=pen, **fit_kwargs)
    else:
        raise TypeError(f"method must be 'l1' or a penalty object, got {method!r}")
    ceps = arguments.real("ceps", ceps, minimum=0.0)
    ptol = arguments.real("ptol", ptol, minimum=0.0, open_interval=True)
    maxit = arguments.integer("maxit", maxit, minimum=0)
    if np.ndim(alpha) == 0:
        alpha = arguments.real("alpha", alpha, minimum=0.0) * np.ones(model.k_fe)
    else:
        alpha = arguments.float_vector("alpha", alpha, length=model.k_fe)
        if np.any(alpha < 0):
            raise ValueError(f"alpha must be >= 0, got {alpha.tolist()}")

    mdf = model.fit(start_params=start_params, **fit_kwargs)
    pt = model.point_sqrt(mdf.phi)
    beta, n_sweeps = coordinate_descent(pt.XtVinvX, pt.XtVinvX @ pt.beta_hat, mdf.scale,
                                        np.asarray(mdf.fe_params, float).copy(), alpha, ceps, ptol, maxit)
    if n_sweeps == maxit and maxit > 0:
        warnings.warn(f"fit_regularized: coordinate descent did not settle within maxit={maxit} "
                      f"sweeps (ptol={ptol})", RuntimeWarning, stacklevel=3)
    return _penalised_results(model, mdf, beta)


def coordinate_descent(W, c, scale, beta, alpha, ceps, ptol, maxit):
    """statsmodels' shooting algorithm on the GLS quadratic; returns (beta, sweeps used)."""
    for sweep in range(maxit):
        before = beta.copy()
        for j in range(len(beta)):
            if abs(beta[j]) < ceps:
                continue
            beta[j] = 0.0
            a = W[j, j] / scale
            b = -2.0 * (c[j] - W[j] @ beta) / scale
            if b > alpha[j]:
                beta[j] = -(b - alpha[j]) / (2.0 * a)
            elif b < -alpha[j]:
                beta[j] = -(b + alpha[j]) / (2.0 * a)
        if np.max(np.abs(before - beta), initial=0.0) < ptol:
            return beta, sweep + 1
    return beta, maxit


def _penalised_results(model, mdf, beta):
    """The unpenalised results with the penalised fixed effects put in (statsmodels' results)."""
    import pandas as pd

    theta = np.asarray(mdf.theta, float)
    p = model.k_fe
    res = copy.copy(mdf)
    names = list(model.exog_names)
    res.fe_params = pd.Series(beta.copy(), index=names)
    cov_re, vcomp = np.asarray(mdf.cov_re_unscaled, float), theta[model.k_re2:]
    res.scale = model.get_scale(beta, cov_re, vcomp, reml=mdf.reml)
    params = np.concatenate([beta, theta])
    res.params = pd.Series(params, index=list(mdf.params.index)) if hasattr(mdf.params, "index") else params
    res.regularized = True
    res.nonzero_fe = np.abs(beta) > 0
    return res
