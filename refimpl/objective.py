"""The function every optimizer climbs: the profiled llf over the free sqrt coordinates.

Optimizers see a vector x of the *free* entries of phi (the sqrt
parameterization, unconstrained: any phi gives a PSD Psi); held entries stay at
their start values (statsmodels' ``free``). A point where the likelihood is
undefined has llf -inf, so line searches simply back off from it.
"""

import numpy as np

from .likelihood import LikelihoodError


class Objective:
    def __init__(self, model, reml, phi0, free=None):
        self.model, self.reml = model, reml
        self.phi0 = np.asarray(phi0, float).copy()
        self.free = np.ones(len(self.phi0), bool) if free is None else np.asarray(free, bool)
        self.n_evals = 0

    def phi(self, x):
        phi = self.phi0.copy()
        phi[self.free] = x
        return phi

    def x0(self):
        return self.phi0[self.free].copy()

    def llf(self, x):
        self.n_evals += 1
        try:
            return float(self.model.loglike_sqrt(self.phi(x), self.reml))
        except (LikelihoodError, np.linalg.LinAlgError):
            return -np.inf

    def grad(self, x):
        return self.model.score_phi(self.phi(x), self.reml)[self.free]

    def hess(self, x):
        H = self.model.hessian_phi(self.phi(x), self.reml)
        return H[np.ix_(self.free, self.free)]


def small_gradient(g, x, f, tol):
    """Scale-free stopping rule: max_i |g_i| max(|x_i|, 1) / max(|f|, 1) < tol.

    |g_i| |x_i| is the llf change for a relative change of x_i, and dividing
    by |f| makes it relative to the llf: units of y and covariates drop out.
    Only a stopping rule: the verdict (convergence.py) is decided separately.
    """
    if len(g) == 0:
        return True
    return float(np.max(np.abs(g) * np.maximum(np.abs(x), 1.0))) / max(abs(f), 1.0) < tol
