"""t and F tests of fixed effects with Satterthwaite or Kenward-Roger degrees of freedom.

Tables in lmerTest's layout (``contest``, ``anova``), computed by
satterthwaite.py (eq:satterthwaite, eq:satterthwaite-F) or kenward_roger.py
(eq:kr-vcov, eq:kr-F). Extensions of statsmodels' API (statsmodels has no ddf).
"""

import re

import numpy as np
import pandas as pd
from scipy import stats as sps

from . import arguments, kenward_roger, satterthwaite

DDF = ("satterthwaite", "kenward-roger")


def _contrast(results, L, rhs):
    p = results.k_fe
    L = np.atleast_2d(np.asarray(L, float)) if np.ndim(L) else None
    if L is None or L.shape[1] != p:
        raise ValueError(f"L must have {p} columns (one per fixed effect {results.exog_names}), "
                         f"got shape {np.shape(L)}")
    if not np.all(np.isfinite(L)):
        raise ValueError("L must be finite")
    rhs = np.broadcast_to(np.asarray(rhs, float), (L.shape[0],)).copy()
    return L, rhs


def t_test(results, L, rhs=0.0, ddf="satterthwaite", alpha=0.05):
    """One row per row of L: Estimate, Std. Error, df, t value, lower, upper, Pr(>|t|).

    Satterthwaite: se from C = sigma2 (X'V^{-1}X)^{-1}; Kenward-Roger: se from
    the adjusted Phi_A and pbkrtest's ddf (lmerTest's contest1D in both cases).
    """
    ddf = arguments.choice("ddf", str(ddf).lower(), DDF)
    alpha = arguments.probability("alpha", alpha)
    L, rhs = _contrast(results, L, rhs)
    beta = np.asarray(results.fe_params, float)
    est = L @ beta
    if ddf == "satterthwaite":
        var, df = satterthwaite.contrast_df(results, L)
    else:
        Phi_A, Phi, P, W = kenward_roger.vcov_adjusted(results)
        var = np.einsum("ra,ab,rb->r", L, Phi_A, L)
        df = np.array([kenward_roger.kr_df(row, Phi, P, W)[1] for row in L])
    se = np.sqrt(var)
    t = (est - rhs) / se
    half = sps.t.ppf(1 - alpha / 2, df) * se
    return pd.DataFrame({"Estimate": est, "Std. Error": se, "df": df, "t value": t,
                         "lower": est - half, "upper": est + half,
                         "Pr(>|t|)": 2 * sps.t.sf(np.abs(t), df)})


def f_test(results, L, rhs=0.0, ddf="satterthwaite"):
    """The joint test of L beta = rhs: NumDF, DenDF, F value, Pr(>F) (lmerTest's contestMD)."""
    ddf = arguments.choice("ddf", str(ddf).lower(), DDF)
    L, rhs = _contrast(results, L, rhs)
    beta = np.asarray(results.fe_params, float)
    beta0 = np.linalg.pinv(L) @ rhs
    diff = beta - beta0
    if ddf == "kenward-roger":
        Phi_A, Phi, P, W = kenward_roger.vcov_adjusted(results)
        q, den, lam = kenward_roger.kr_df(L, Phi, P, W)
        Lb = L @ diff
        F = lam * float(Lb @ np.linalg.solve(L @ Phi_A @ L.T, Lb)) / q
    else:
        q, den, PtL, d = satterthwaite.f_test_df(results, L)
        F = float(np.sum((PtL @ diff) ** 2 / d)) / q
    return pd.DataFrame({"NumDF": [q], "DenDF": [den], "F value": [F],
                         "Pr(>F)": [sps.f.sf(F, q, den)]})


def terms_from_names(exog_names):
    """patsy's column names grouped into terms: 'C(a)[T.x]' -> 'C(a)', 'x:C(a)[T.y]' -> 'x:C(a)'."""
    terms = {}
    for j, name in enumerate(exog_names):
        if name in ("Intercept", "const"):
            continue
        term = ":".join(re.sub(r"\[.*\]$", "", part) for part in name.split(":"))
        terms.setdefault(term, []).append(j)
    return terms


def anova(results, ddf="satterthwaite", terms=None):
    """One F test per fixed-effect term: all of its coefficients zero (the intercept left out).

    ``terms``: {name: [column indices or names]}; by default patsy's column
    names are grouped (terms_from_names). Each row is the marginal test of that
    term's coefficients, which is lmerTest's type III test when no other term
    contains it (no interactions with it); columns NumDF, DenDF, F value, Pr(>F).
    """
    names = list(results.exog_names)
    terms = terms_from_names(names) if terms is None else terms
    rows = {}
    for term, cols in terms.items():
        idx = [names.index(c) if isinstance(c, str) else int(c) for c in cols]
        L = np.zeros((len(idx), len(names)))
        L[np.arange(len(idx)), idx] = 1.0
        rows[term] = f_test(results, L, ddf=ddf).iloc[0]
    return pd.DataFrame(rows).T
