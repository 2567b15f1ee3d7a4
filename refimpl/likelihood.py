"""The ML and REML log-likelihood, evaluated from the per-group stacks.

One call to :func:`evaluate` does all the work at one covariance point phi (the
sqrt parameterization): every other function here reads from the
:class:`Point` it returns, and so do the score and the Hessian, so nothing is
computed twice at the same point. The steps, in the order of the book
(chapters "Woodbury" and "likelihood"):

Step 1. Lambda from phi; Psi = Lambda Lambda'                          (eq:lambda)
Step 2. C_i = I + Lambda' A_i Lambda and its Cholesky factor R_i       (eq:C)
        log|V_i| = log|C_i| = 2 sum log diag R_i                     (eq:det-lemma)
Step 3. [W_i | w_i] = R_i^{-1} Lambda' [B_i | c_i], so that
        (Lambda'B_i)' C_i^{-1} (Lambda'B_i) = W_i'W_i  etc.          (eq:woodbury)
Step 4. S = [X y0]' V^{-1} [X y0]
          = [[X'X, X'y0], [y0'X, y0'y0]] - sum_i [W_i w_i]'[W_i w_i]
        and its Cholesky factor T. Its leading p x p block is X'V^{-1}X,
        and T[p, p]^2 is the GLS residual quadratic form qf           (eq:quad-form)
Step 5. delta = (X'V^{-1}X)^{-1} X'V^{-1}y0, beta_hat = b_ols + delta   (eq:gls-beta)
Step 6. the profiled log-likelihood                    (eq:profiled-ml, eq:profiled-reml)

No Psi^{-1} appears anywhere: C_i is positive definite even when Psi is
singular, so a boundary point evaluates cleanly.

Steps 2-3 are per group and Step 4 sums over groups, so they run a chunk of
groups at a time (group_chunks.py): the Point keeps the sums, and the
per-group R_i, W_i, w_i of one chunk (:class:`GroupFactors`), recomputed from
the statistics for any other chunk the score, Hessian or BLUPs ask for.
"""

from dataclasses import dataclass, field

import numpy as np

from . import batched
from .group_chunks import chunk_sums, group_chunks
from .parameters import profile_to_sqrt


class LikelihoodError(ValueError):
    """The likelihood is undefined at this point (said why)."""


@dataclass
class GroupFactors:
    """Steps 2-3 for a chunk of groups: R_i, [W_i | w_i] and sum log|C_i|."""

    R: np.ndarray             # Cholesky factors of C_i, (g, q, q)
    Wc: np.ndarray            # [W_i | w_i] = R_i^{-1} Lambda' [B_i | c_i], (g, q, p+1)
    logdet_V: float           # sum over the chunk of log|V_i| = log|C_i|
    solves: object = None     # score.GroupSolves of the same chunk, once asked for

    @property
    def W(self):
        return self.Wc[:, :, :-1]

    @property
    def w(self):
        return self.Wc[:, :, -1]


def group_factors(stats, Lambda):
    """Steps 2 and 3 for the groups of ``stats`` (all of them, or a chunk: stats.take(sl))."""
    q = stats.q
    # (eq:lambda, eq:C, eq:det-lemma); batched.py does one operation over all groups at once.
    C = np.eye(q) + Lambda.T @ batched.times_shared(stats.ZtZ, Lambda)
    R = batched.cholesky(C)                                      # C_i = R_i R_i'
    logdet_V = 2.0 * np.sum(np.log(np.diagonal(R, axis1=1, axis2=2)))
    # (eq:woodbury)
    Wc = batched.solve_lower(R, Lambda.T @ stats.ZtXy0)          # R_i^{-1} Lambda' [B_i | c_i]
    return GroupFactors(R=R, Wc=Wc, logdet_V=logdet_V)


@dataclass
class Point:
    """Everything computed at one value of phi (see the module docstring).

    The sums over groups are fields; the per-group factors are had chunk by
    chunk from :meth:`factors` (the last chunk asked for is kept, so with one
    chunk nothing is computed twice at a point).
    """

    phi: np.ndarray
    Lambda: np.ndarray        # (q, q)
    logdet_V: float           # sum_i log|V_i|
    S: np.ndarray             # [X y0]' V^{-1} [X y0], (p+1, p+1)
    T: np.ndarray             # lower Cholesky factor of S
    delta: np.ndarray         # beta_hat - b_ols
    beta_hat: np.ndarray      # GLS estimate (eq:gls-beta)
    qf: float                 # (y - X beta_hat)' V^{-1} (y - X beta_hat)
    logdet_XtVinvX: float     # log|X' V^{-1} X|
    n_obs: int
    k_fe: int
    stats: object = None      # the statistics evaluated (read again for the per-group factors)
    cache: dict = field(default_factory=dict)   # the kept chunk's factors; score and Hessian

    def factors(self, groups):
        """:class:`GroupFactors` of the groups in the slice ``groups`` (one of group_chunks)."""
        key = (groups.start, groups.stop)
        kept = self.cache.get("chunk")
        if kept is None or kept[0] != key:
            kept = (key, group_factors(self.stats.take(groups), self.Lambda))
            self.cache["chunk"] = kept
        return kept[1]

    def _every_group(self, name):
        """A per-group factor for every group at once, (G, ...): for the book and tests, O(G) memory."""
        parts = [getattr(self.factors(sl), name) for sl in group_chunks(self.stats.n_groups)]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    @property
    def R(self):
        """R_i for every group, (G, q, q)  (eq:C)."""
        return self._every_group("R")

    @property
    def W(self):
        """W_i = R_i^{-1} Lambda' B_i for every group, (G, q, p); tilde B_i in the book."""
        return self._every_group("W")

    @property
    def w(self):
        """w_i = R_i^{-1} Lambda' c_i for every group, (G, q)."""
        return self._every_group("w")

    @property
    def XtVinvX(self):
        p = self.k_fe
        return self.S[:p, :p]

    def n_eff(self, reml):
        """n for ML, n - p for REML: the degrees of freedom sigma2 is estimated on."""
        return self.n_obs - self.k_fe if reml else self.n_obs

    def sigma2_hat(self, reml):
        """Profiled residual variance qf / n_eff  (eq:profiled-sigma2)."""
        return self.qf / self.n_eff(reml)


def evaluate(stats, layout, phi):
    """Steps 1-5 of the module docstring at the sqrt-parameter vector phi.

    Blocked statistics of a crossed design (blocked_stats.py) go to
    blocked_likelihood.evaluate, which returns a Point of the same shape.
    """
    phi = np.asarray(phi, float)
    if phi.shape != (layout.n_params,):
        raise ValueError(f"expected {layout.n_params} covariance parameters, got shape {phi.shape}")
    if not np.all(np.isfinite(phi)):
        raise LikelihoodError(f"covariance parameters must be finite, got {phi}")
    if is_blocked(stats):
        from . import blocked_likelihood
        return blocked_likelihood.evaluate(stats, layout, phi)
    # Step 1  (eq:lambda); Steps 2 and 3 chunk by chunk, summed into Step 4's cross products
    Lambda = layout.Lambda(phi)
    cache = {}

    def chunk(sl):
        f = group_factors(stats.take(sl), Lambda)
        cache["chunk"] = ((sl.start, sl.stop), f)                  # the Point keeps the last chunk's
        return f.logdet_V, batched.sum_crossprod(f.Wc, f.Wc)       # sum_i [W_i w_i]'[W_i w_i]

    logdet_V, cross = chunk_sums(stats.n_groups, chunk)
    return Point(phi=phi, Lambda=Lambda, logdet_V=logdet_V, n_obs=stats.n_obs, k_fe=stats.k_fe,
                 stats=stats, cache=cache, **finish_point(stats, cross))


def is_blocked(stats):
    """True for the blocked statistics of a crossed design (blocked_stats.py)."""
    return type(stats).__name__ == "BlockedStatistics"


def finish_point(stats, cross):
    """Steps 4 and 5 from cross = [W w]'[W w]: the fields S, T, qf, delta, beta_hat, log|X'V^{-1}X|."""
    p = stats.k_fe
    # Step 4  (eq:quad-form)
    S = np.empty((p + 1, p + 1))
    S[:p, :p] = stats.XtX
    S[:p, p] = S[p, :p] = stats.Xty0
    S[p, p] = stats.y0ty0
    S = S - cross
    try:
        T = np.linalg.cholesky(S)
    except np.linalg.LinAlgError:
        raise LikelihoodError(
            "X' V^{-1} X is singular or the GLS residual is exactly zero at this "
            "point: the fixed-effects design is rank deficient, or y is fitted "
            "exactly by the fixed effects") from None
    qf = T[p, p] ** 2
    if not qf > 0:
        raise LikelihoodError("the GLS residual quadratic form is zero: y is fitted "
                              "exactly, so sigma2 = 0 and the likelihood is unbounded")

    # Step 5  (eq:gls-beta): S_XX delta = S_Xy with S_XX = T11 T11', S_Xy = T11 t21
    T11, t21 = T[:p, :p], T[p, :p]
    delta = np.linalg.solve(T11.T, t21) if p else np.zeros(0)
    return dict(S=S, T=T, delta=delta, beta_hat=stats.beta_ols + delta, qf=qf,
                logdet_XtVinvX=2.0 * np.sum(np.log(np.diag(T11))))


def evaluate_profile(stats, layout, theta):
    """:func:`evaluate` at a profile-parameter vector theta (Psi must be PSD)."""
    return evaluate(stats, layout, profile_to_sqrt(theta, layout.k_re))


def profiled_loglike(point, reml):
    """Step 6: log-likelihood with beta and sigma2 profiled out.

    ML   (eq:profiled-ml):
        -1/2 sum log|V_i| - n/2 log qf - n/2 (1 + log(2 pi / n))
    REML (eq:profiled-reml): n -> n - p, and -1/2 log|X'V^{-1}X| more.
    These are statsmodels' constants, and -2 times them is lme4's deviance
    (ML) and REML criterion (REML).
    """
    m = point.n_eff(reml)
    llf = -0.5 * point.logdet_V - 0.5 * m * np.log(point.qf) - 0.5 * m * (1.0 + np.log(2.0 * np.pi / m))
    if reml:
        llf -= 0.5 * point.logdet_XtVinvX
    return llf


def quad_form(point, beta):
    """(y - X beta)' V^{-1} (y - X beta) = qf + (beta - beta_hat)' X'V^{-1}X (beta - beta_hat)  (eq:quad-form)."""
    d = np.asarray(beta, float) - point.beta_hat
    return point.qf + d @ point.XtVinvX @ d


def full_loglike(point, beta, sigma2, reml):
    """Log-likelihood at given (beta, Psi, sigma2), nothing profiled.

    ML   (eq:full-ml):   -n/2 log(2 pi sigma2) - 1/2 sum log|V_i| - Q(beta)/(2 sigma2)
    REML (eq:full-reml): -(n-p)/2 log(2 pi sigma2) - 1/2 sum log|V_i|
                         - 1/2 log|X'V^{-1}X| - Q(beta)/(2 sigma2)
    Q(beta) is :func:`quad_form`. Maximising over beta and sigma2 gives back
    :func:`profiled_loglike`. REML as a function of beta is statsmodels'
    convention (``loglike(..., profile_fe=False)``).
    """
    if not sigma2 > 0:
        raise LikelihoodError(f"sigma2 must be positive, got {sigma2}")
    m = point.n_eff(reml)
    llf = -0.5 * m * np.log(2.0 * np.pi * sigma2) - 0.5 * point.logdet_V - quad_form(point, beta) / (2.0 * sigma2)
    if reml:
        llf -= 0.5 * point.logdet_XtVinvX
    return llf


def loglike_scale_profiled(point, beta, reml):
    """statsmodels' ``loglike(params, profile_fe=False)``: beta given, sigma2 profiled.

    sigma2 = Q(beta) / n_eff maximises :func:`full_loglike` over sigma2.
    """
    return full_loglike(point, beta, quad_form(point, beta) / point.n_eff(reml), reml)
