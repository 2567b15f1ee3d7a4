"""Likelihood-ratio test between two nested fits of the same data.

    LR = 2 (llf_big - llf_small)  ~  chi2(df),  df = k_big - k_small          (eq:lrtest)

with k = k_fe + estimated covariance parameters + 1 (sigma2), the count aic
uses (results.MixedLMResults.df_modelwc).

Which fits may be compared:

* ML fits: any nested pair (fixed effects, covariance structure, or both).
* REML fits: only with the *same* fixed-effects design. The REML likelihood is
  the likelihood of the error contrasts of X; a different X is different data,
  so the difference of two REML llfs then means nothing. Refit with reml=False.

Nestedness cannot be proved from two results objects; this checks what it
can: the same response and observations, more parameters in the bigger model,
and the small model's fixed-effects columns inside the span of the big one's.

Boundary caveat. When the null hypothesis puts a variance on the boundary
(testing whether a random effect is needed: Psi_jj = 0), the chi2(df) reference
is wrong: the null distribution is a mixture of chi2's (chi-bar-square; Self &
Liang 1987, Stram & Lee 1994), e.g. 0.5 chi2(0) + 0.5 chi2(1) for one variance,
0.5 chi2(1) + 0.5 chi2(2) for adding a random slope with its covariance. The
chi2(df) p-value reported here is then conservative (too large): about twice
the right one in the single-variance case.
"""

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps


@dataclass
class LRTest:
    """statistic = 2 (llf_big - llf_small), df, p-value from chi2(df)."""

    statistic: float
    df: int
    pvalue: float
    llf_small: float
    llf_big: float
    reml: bool

    def __str__(self):
        kind = "REML" if self.reml else "ML"
        return (f"Likelihood-ratio test ({kind}): chi2({self.df}) = {self.statistic:.4f}, "
                f"p = {self.pvalue:.4g}  (llf {self.llf_small:.4f} -> {self.llf_big:.4f}; "
                "conservative if the null puts a variance at zero)")


def lrtest(res_small, res_big):
    """Likelihood-ratio test of res_small (the null) nested in res_big.

    Raises ValueError when the pair cannot be compared (see the module
    docstring); warns when the statistic is negative beyond rounding (the
    bigger fit has a lower likelihood: not nested, or a fit did not converge)
    or when either fit did not converge.
    """
    _check_comparable(res_small, res_big)
    df = res_big.df_modelwc - res_small.df_modelwc
    if df <= 0:
        raise ValueError(f"res_big has {res_big.df_modelwc} parameters and res_small "
                         f"{res_small.df_modelwc}; pass the smaller (null) model first and "
                         "the bigger model second")
    stat = 2.0 * (res_big.llf - res_small.llf)
    if stat < -1e-6 * max(1.0, abs(res_big.llf)):
        warnings.warn(f"the likelihood-ratio statistic is negative ({stat:.6g}): the bigger model "
                      "fits worse, so the models are not nested or a fit did not reach its "
                      "optimum; check both fits' convergence", RuntimeWarning, stacklevel=2)
    for name, r in (("res_small", res_small), ("res_big", res_big)):
        if not r.converged:
            warnings.warn(f"{name} did not pass the convergence check ({r.convergence.reason}); "
                          "the test is only as good as both optima", RuntimeWarning, stacklevel=2)
    return LRTest(statistic=stat, df=int(df), pvalue=float(sps.chi2.sf(stat, df)),
                  llf_small=res_small.llf, llf_big=res_big.llf, reml=res_big.reml)


def _check_comparable(small, big):
    from .results import MixedLMResults

    for name, r in (("res_small", small), ("res_big", big)):
        if not isinstance(r, MixedLMResults):
            raise TypeError(f"{name} must be a refimpl MixedLMResults (from model.fit), got "
                            f"{type(r).__name__}")
        if getattr(r.model.design, "data_removed", False):
            raise ValueError(f"{name} had remove_data() called, so nestedness (same rows, same "
                             "response) cannot be checked; run lrtest before removing the data")
    if small.reml != big.reml:
        raise ValueError("one fit is REML and the other ML; refit both with the same reml=")
    ms, mb = small.model, big.model
    if small.nobs != big.nobs or not np.array_equal(ms.endog, mb.endog):
        raise ValueError(f"the fits use different data ({small.nobs} and {big.nobs} observations, "
                         "or a different response); both must be fitted to the same rows")
    if not np.array_equal(ms.design.group_index, mb.design.group_index):
        raise ValueError("the fits group the observations differently; nested models share groups")
    same_X = ms.exog.shape == mb.exog.shape and np.array_equal(ms.exog, mb.exog)
    if small.reml and not same_X:
        raise ValueError("REML fits with different fixed effects cannot be compared by a "
                         "likelihood-ratio test (their REML likelihoods are of different data); "
                         "refit both with reml=False")
    if not same_X:
        coef, *_ = np.linalg.lstsq(mb.exog, ms.exog, rcond=None)
        gap = np.abs(mb.exog @ coef - ms.exog).max()
        if gap > 1e-8 * max(1.0, np.abs(ms.exog).max()):
            raise ValueError("the small model's fixed-effects columns are not in the span of the big "
                             "model's, so the fixed effects are not nested")
