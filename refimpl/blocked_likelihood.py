"""The ML / REML likelihood of a crossed design from the blocked factor (eq:crossed-chol).

The same steps as likelihood.py, with the per-group stack replaced by the
blocked factor of blocked_cholesky.py:

Step 1-2. L with C = L L'; log|V| = log|C|                           (eq:det-lemma)
Step 3.   [W | w] = L^{-1} Lambda' Z'[X y0]  (a forward solve)       (eq:woodbury)
Step 4.   S = [X y0]'[X y0] - [W w]'[W w], its Cholesky factor T     (eq:quad-form)
Step 5.   beta_hat = b_ols + delta                                   (eq:gls-beta)

The result is a :class:`BlockedPoint`: a likelihood.Point (so profiled_loglike,
full_loglike, sigma2_hat and everything reading beta_hat, qf, S, T works
unchanged) that carries the blocked factor instead of a per-group stack.
Twin: likelihood.evaluate on the dense one-group statistics of the same design.
"""

from dataclasses import dataclass

import numpy as np

from .blocked_cholesky import BlockedFactor, blocked_cholesky
from .likelihood import LikelihoodError, Point, finish_point


@dataclass
class BlockedPoint(Point):
    """A Point whose factor is blocked: no per-group factors, the factor is ``factor``."""

    factor: BlockedFactor = None
    Wc1: np.ndarray = None    # block-1 rows of L^{-1} Lambda' Z'[X y0], (m1, p + 1)
    Wc2: np.ndarray = None    # block-2 rows, (q2, p + 1)


def evaluate(stats, layout, phi):
    """Steps 1-5 of the module docstring at sqrt parameters phi (already checked by likelihood.evaluate)."""
    try:
        F = blocked_cholesky(stats, phi)
    except np.linalg.LinAlgError:
        raise LikelihoodError("the Schur complement of the blocked factor is not positive "
                              "definite at this point (rounding: variances far apart)") from None
    Wc1, Wc2 = F.forward(*F.Lambda_t(stats.B1, stats.B2))            # (eq:woodbury)
    cross = Wc1.T @ Wc1 + Wc2.T @ Wc2                                # [W w]'[W w]
    fields = finish_point(stats, cross)
    return BlockedPoint(phi=np.asarray(phi, float), Lambda=None, logdet_V=F.logdet,
                        n_obs=stats.n_obs, k_fe=stats.k_fe, **fields,
                        factor=F, Wc1=Wc1, Wc2=Wc2)
