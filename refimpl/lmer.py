"""Fitting from lme4's syntax: ``refimpl.lmer`` and ``MixedLM.from_lme4_formula``.

The translation itself (lme4 bar terms <-> statsmodels' groups, re_formula and
vc_formula) is refimpl/lme4_formula.py; these two functions only hand its
answer to :class:`MixedLM`.
"""

from __future__ import annotations

import pandas as pd

from .lme4_formula import from_lme4

__all__ = ["from_lme4_formula", "lmer"]


def from_lme4_formula(cls, formula: str, data: pd.DataFrame, missing: str = "none"):
    """``MixedLM`` from an lme4 formula (bind as ``MixedLM.from_lme4_formula``).

    ``cls`` is the model class; called as a plain function, pass ``MixedLM``.
    """
    t = from_lme4(formula, data)
    model = cls.from_formula(t.formula, t.data, groups=t.groups, re_formula=t.re_formula,
                             vc_formula=t.vc_formula, missing=missing)
    model.lme4_translation = t
    return model


def lmer(formula: str, data: pd.DataFrame, REML: bool = True, **fit_kwargs):
    """Fit an lme4 formula with refimpl: ``lmer("y ~ x + (1 | s) + (1 | d)", data)``.

    ``REML`` as in lme4; other keywords go to :meth:`MixedLM.fit`.  Returns
    refimpl's usual results (statsmodels' names: ``cov_re`` for the correlated
    block on the groups factor, ``vcomp`` for the variance components).
    """
    from .model import MixedLM

    if not isinstance(REML, bool):
        raise TypeError(f"REML must be True or False, got {REML!r}")
    model = from_lme4_formula(MixedLM, formula, data)
    return model.fit(reml=REML, **fit_kwargs)
