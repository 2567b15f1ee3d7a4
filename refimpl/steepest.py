"""Steepest ascent with a backtracking (Armijo) line search (book: "optimizers").

From x, step along the score g: x + t g, halving t until the llf rises by at
least c t |g|^2 (Armijo's sufficient increase), so every accepted step is an
honest ascent step. The first trial length is the Barzilai-Borwein step
t = s's / (-s'y) from the last move s and gradient change y: a secant estimate
of the inverse curvature along the path. Plain doubling/halving of t also
works but needs tens of thousands of steps on a badly scaled problem such as
dietox; BB cuts that to hundreds without changing the direction of any step.
"""

import numpy as np

from .objective import small_gradient


def fit_steepest(obj, maxiter=20, gtol=1e-10, c=1e-4, t0=1e-3):
    """Returns (x, n_iter, history, stopped_reason)."""
    x = obj.x0()
    f = obj.llf(x)
    g = obj.grad(x)
    history, t = [(0, f)], t0
    for it in range(1, maxiter + 1):
        if small_gradient(g, x, f, gtol):
            return x, it - 1, history, "scaled gradient below gtol"
        gg = float(g @ g)
        while True:
            x_new = x + t * g
            f_new = obj.llf(x_new)
            if f_new >= f + c * t * gg:
                break
            t /= 2
            if t < 1e-20:
                return x, it - 1, history, "line search found no ascent step (at machine precision)"
        g_new = obj.grad(x_new)
        s, y = x_new - x, g_new - g
        x, f, g = x_new, f_new, g_new
        history.append((it, f))
        curv = -float(s @ y)
        t = float(s @ s) / curv if curv > 0 else 2 * t     # Barzilai-Borwein
    return x, maxiter, history, "maxiter reached"
