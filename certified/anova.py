"""Closed-form ML and REML estimates of the balanced one-way random-effects model.

``y_ij = mu + a_i + e_ij`` with a groups of m rows each (n = a m),
``a_i ~ N(0, sigma_a^2)``, ``e_ij ~ N(0, sigma_e^2)``.  Derived in the book
chapter "The balanced one-way design" from the ANOVA sums of squares

    SSA = m sum_i (ybar_i - ybar)^2,   SSE = sum_ij (y_ij - ybar_i)^2,
    MSA = SSA / (a - 1),               MSE = SSE / (a (m - 1))           (eq:anova-ss)

REML (eq:anova-reml):  sigma_e^2 = MSE, sigma_a^2 = (MSA - MSE) / m        if MSA >= MSE,
                       else sigma_a^2 = 0, sigma_e^2 = (SSA + SSE) / (n - 1).
ML   (eq:anova-ml):    sigma_e^2 = MSE, sigma_a^2 = (SSA / a - MSE) / m    if SSA / a >= MSE,
                       else sigma_a^2 = 0, sigma_e^2 = (SSA + SSE) / n.

mu_hat is the grand mean ybar for every variance ratio (the design is
balanced); its conditional standard error is sqrt((sigma_e^2 + m sigma_a^2) / n);
the maximised log-likelihoods are (eq:anova-llf).

Everything is exact rational arithmetic on the double-precision data plus a
few logarithms, at the mpmath context's precision.  Only the data (y and the
group labels) are used: no likelihood is evaluated or maximised.
"""

from __future__ import annotations

from mpmath import mp

__all__ = ["is_balanced_oneway", "anova_estimates"]


def is_balanced_oneway(spec) -> bool:
    """Intercept-only fixed effects, one random intercept, no components, equal groups of >= 2."""
    if spec.p != 1 or spec.k_re != 1 or spec.k_vc != 0:
        return False
    sizes = {len(g.y) for g in spec.groups}
    ones = all(v == 1.0 for g in spec.groups for r in g.X for v in r) and \
        all(v == 1.0 for g in spec.groups for r in g.Z for v in r)
    return len(sizes) == 1 and sizes.pop() >= 2 and ones and len(spec.groups) >= 2


def anova_estimates(spec) -> dict:
    """The certified quantities in user units (keys as MpModel.estimates), plus the mean squares."""
    if not is_balanced_oneway(spec):
        raise ValueError("the ANOVA closed form needs a balanced one-way random-intercept design")
    a = len(spec.groups)
    m = len(spec.groups[0].y)
    n = a * m
    ys = [[mp.mpf(v) for v in g.y] for g in spec.groups]
    means = [mp.fsum(y) / m for y in ys]
    ybar = mp.fsum(means) / a
    SSA = m * mp.fsum((mi - ybar) ** 2 for mi in means)                   # (eq:anova-ss)
    SSE = mp.fsum((v - mi) ** 2 for y, mi in zip(ys, means) for v in y)
    MSA, MSE = SSA / (a - 1), SSE / (a * (m - 1))
    two_pi = 2 * mp.pi
    if spec.reml:                                                          # (eq:anova-reml)
        if MSA >= MSE:
            s2e, s2a = MSE, (MSA - MSE) / m
            llf = -(n - 1) * (1 + mp.log(two_pi)) / 2 \
                - (a * (m - 1) * mp.log(MSE) + (a - 1) * mp.log(MSA) + mp.log(n)) / 2
        else:
            s2e, s2a = (SSA + SSE) / (n - 1), mp.zero
            llf = -(n - 1) * (1 + mp.log(two_pi) + mp.log(s2e)) / 2 - mp.log(n) / 2
    else:                                                                  # (eq:anova-ml)
        if SSA / a >= MSE:
            s2e, s2a = MSE, (SSA / a - MSE) / m
            llf = -n * (1 + mp.log(two_pi)) / 2 \
                - (a * (m - 1) * mp.log(MSE) + a * mp.log(SSA / a)) / 2
        else:
            s2e, s2a = (SSA + SSE) / n, mp.zero
            llf = -n * (1 + mp.log(two_pi) + mp.log(s2e)) / 2
    fe, re = spec.fe_names[0], spec.re_names[0]
    return {
        "fe_params": {fe: ybar},
        "bse_fe_conditional": {fe: mp.sqrt((s2e + m * s2a) / n)},
        "cov_re": {re: {re: s2a}},
        "vcomp": {},
        "scale": s2e,
        "llf": llf,
        "mean_squares": {"SSA": SSA, "SSE": SSE, "MSA": MSA, "MSE": MSE, "a": a, "m": m},
        "boundary": s2a == 0,
    }
