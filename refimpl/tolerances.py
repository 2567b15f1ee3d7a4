"""Tolerance tiers, named once for the whole project.

Every test, the validation suite and the book compare numbers through these
names, so a reader sees *why* a tolerance is what it is (docs/DESIGN.md, "Tolerance
tiers and why"). Relative tolerances are applied as ``|a - b| <= tol * max(|b|, floor)``
with the floor stated where it matters.
"""

#: Algebraic identities: fast kernel vs dense twin, round trips, chain rule.
IDENTITY = 1e-10

#: Our value vs statsmodels' value at the *same* parameter point.
SAME_POINT = 1e-9

#: Analytic vs central finite-difference derivatives (plain differences).
FD = 1e-6

#: Analytic Hessian vs finite differences of the analytic score.
FD_HESSIAN = 1e-5

#: Our optimum vs a tight lme4 optimum: log-likelihood, absolute.
LLF_VS_LME4 = 1e-6

#: Our optimum vs a tight lme4 optimum: parameters, log relative error.
PARAM_LRE_MIN = 5.0

#: Different optimizers of refimpl reaching the same optimum.
OPTIMA_LLF = 1e-7
OPTIMA_PARAMS = 1e-5

#: Largest LRE we report (float64 carries about 15.6 digits).
LRE_CAP = 15.0


def rel_err(a, b, floor=1e-300):
    """Elementwise |a - b| / max(|b|, floor), as a float array."""
    import numpy as np

    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    return np.abs(a - b) / np.maximum(np.abs(b), floor)
