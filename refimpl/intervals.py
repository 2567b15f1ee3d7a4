"""One entry point for the intervals of chapter "Intervals and tests" (non-Wald methods).

``conf_int(results, alpha, method="profile" | "boot", ...)`` returns a DataFrame
with columns estimate, lower, upper, one row per parameter on lme4's scale
(sd_<re>, cor_<a>.<b>, sd_<vc>, sigma, fixed effects). Wald intervals are the
results object's own ``conf_int(alpha)`` (statsmodels' convention).
"""

from . import arguments
from .bootstrap import bootstrap
from .profile_ci import conf_int_profile

METHODS = ("profile", "boot")


def conf_int(results, alpha=0.05, method="profile", *, params=None, n=1000, seed=None,
             n_jobs=None, progress=False, boot_type="percentile"):
    """Profile-likelihood (lme4's definition, ML) or parametric-bootstrap intervals.

    method="boot" refits ``n`` simulated data sets (``seed``, ``n_jobs``,
    ``progress`` as refimpl.bootstrap.bootstrap) and returns the ``boot_type``
    ("percentile" or "basic") intervals.
    """
    alpha = arguments.probability("alpha", alpha)
    method = arguments.choice("method", method, METHODS)
    if method == "profile":
        return conf_int_profile(results, alpha=alpha, params=params)
    boot = bootstrap(results, n=n, seed=seed, n_jobs=n_jobs, progress=progress)
    ci = boot.conf_int(alpha=alpha, method=boot_type)
    return ci if params is None else ci.loc[list(params)]
