"""BFGS on the sqrt parameterization with the analytic score (scipy's implementation).

We minimise -llf(phi) with gradient -score(phi): scipy keeps an approximation
of the inverse Hessian, updates it from successive gradients (the BFGS
formula), and takes line-searched quasi-Newton steps. scipy's own success flag
is recorded but never trusted: the caller judges the answer (convergence.py).
"""

import numpy as np
from scipy import optimize


def fit_bfgs(obj, maxiter=200, gtol=1e-9):
    """Returns (x, n_iter, history, stopped_reason)."""
    history = []

    def neg_llf(x):
        return -obj.llf(x)

    def neg_score(x):
        return -obj.grad(x)

    def record(xk):
        history.append((len(history) + 1, obj.llf(xk)))

    x0 = obj.x0()
    history.append((0, obj.llf(x0)))
    res = optimize.minimize(neg_llf, x0, jac=neg_score, method="BFGS", callback=record,
                            options={"maxiter": maxiter, "gtol": gtol})
    return res.x, int(res.nit), history, f"scipy BFGS: {res.message}"
