"""Example adapters: one good, several deliberately broken.

They show the plug-in contract (``validation/CONTRACT.md``) and let the
tests prove that the suite catches real mistakes.  Use them from the command
line like any plug-in, e.g.::

    python -m validation run --cases dyestuff --engines statsmodels \\
        --plugin validation.examples:statsmodels_lbfgs \\
        --plugin broken=validation.examples:stopped_early

The two worked adapters of CONTRACT.md live in their own modules and pass
the gate as shipped: :mod:`validation.examples.statsmodels_adapter` (a
Python engine) and :mod:`validation.examples.nlme_adapter` (an R package
through rpy2; also the built-in engine ``nlme``).

Good adapters here
    :func:`statsmodels_lbfgs` -- statsmodels with L-BFGS and default
    tolerances (an older, weaker version of the statsmodels example: it
    stops 3-4 digits short on the covariance parameters);
    :func:`reference_values` -- returns the reference store's own values (a
    perfect engine; the suite must pass it).

Broken adapters (built by perturbing the reference values, so they need
neither R nor refimpl's fitter)
    :func:`wrong_reml_constant` -- REML log-likelihood with the constant
    ``-(n/2) log(2 pi)`` instead of ``-((n - p)/2) log(2 pi)``;
    :func:`variances_off` -- every variance and covariance reported 0.5% too
    large (a units slip after a correct optimization);
    :func:`stopped_early` -- an optimizer that stopped before the optimum:
    the covariance ratios 3% short of the optimum, with the fixed effects,
    scale and log-likelihood that go with that point (from statsmodels'
    profile likelihood), so it is internally consistent -- only its place
    on the likelihood surface is wrong.

Failing adapters (the run must survive them)
    :func:`raises`, :func:`hangs`, :func:`crashes`, :func:`returns_nan`,
    :func:`lme4_names`.
"""

from __future__ import annotations

import math
import time

import numpy as np

from ..cases import Case
from ..record import EngineResult

# --------------------------------------------------------------------------
# Good adapters
# --------------------------------------------------------------------------


def statsmodels_lbfgs(case: Case) -> dict:
    """statsmodels with L-BFGS and more iterations, default tolerances."""
    import statsmodels.formula.api as smf

    s = case.spec
    model = smf.mixedlm(s["formula"], case.data(), groups=s["groups"],
                        re_formula=s["re_formula"], vc_formula=s["vc_formula"])
    res = model.fit(reml=case.reml, method="lbfgs", maxiter=2000)
    return {
        "fe_params": res.fe_params,                     # Series: Intercept, Time, ...
        "bse_fe": res.bse_fe,
        "cov_re": res.cov_re,                           # DataFrame, data scale
        "vcomp": dict(zip(model.exog_vc.names, res.vcomp)) if model.k_vc else {},
        "scale": res.scale,
        "llf": res.llf,
        "converged": res.converged,
    }


def _reference(case: Case) -> EngineResult:
    from .. import references

    store = references.load()
    ref = store.result(case.name) if store is not None else None
    if ref is None:
        raise LookupError(f"no reference for {case.name}")
    return ref


def _as_dict(r: EngineResult) -> dict:
    return {"fe_params": dict(r.fe_params), "bse_fe": dict(r.bse_fe or {}),
            "cov_re": {a: dict(row) for a, row in r.cov_re.items()},
            "vcomp": dict(r.vcomp), "scale": r.scale, "llf": r.llf, "converged": True,
            "extra": {"bse_fe_definition": r.extra.get("bse_fe_definition")}}


def reference_values(case: Case) -> dict:
    """The reference store's values, returned as an engine would (must pass)."""
    return _as_dict(_reference(case))


# --------------------------------------------------------------------------
# Broken adapters
# --------------------------------------------------------------------------


def wrong_reml_constant(case: Case) -> dict:
    """REML llf with -(n/2)log(2pi) instead of -((n-p)/2)log(2pi); ML is right."""
    out = _as_dict(_reference(case))
    if case.reml:
        p = len(out["fe_params"])
        out["llf"] = out["llf"] - 0.5 * p * math.log(2 * math.pi)
    return out


def variances_off(case: Case) -> dict:
    """cov_re and vcomp 0.5% too large; the llf is the (correct) optimum's."""
    out = _as_dict(_reference(case))
    out["cov_re"] = {a: {b: 1.005 * v for b, v in row.items()}
                     for a, row in out["cov_re"].items()}
    out["vcomp"] = {k: 1.005 * v for k, v in out["vcomp"].items()}
    return out


def stopped_early(case: Case, shortfall: float = 0.03) -> dict:
    """A consistent point 3% short of the optimum in the covariance ratios."""
    import pandas as pd
    import statsmodels.formula.api as smf
    from statsmodels.regression.mixed_linear_model import MixedLMParams

    ref = _reference(case)
    s = case.spec
    model = smf.mixedlm(s["formula"], case.data(), groups=s["groups"],
                        re_formula=s["re_formula"], vc_formula=s["vc_formula"])
    model.reml = case.reml          # what fit() would set before calling loglike
    model.cov_pen = model.fe_pen = None
    names = list(ref.cov_re)
    cov = np.array([[ref.cov_re[a][b] for b in names] for a in names]).reshape(
        len(names), len(names))
    vc = np.array([ref.vcomp[n] for n in model.exog_vc.names]) if model.k_vc else np.zeros(0)
    # ratios (profile parameterization), moved toward zero as an early stop would
    Psi = (1 - shortfall) * cov / ref.scale
    psi_vc = (1 - shortfall) * vc / ref.scale
    fe, _ = model.get_fe_params(Psi, psi_vc)
    scale = model.get_scale(fe, Psi, psi_vc)
    llf = model.loglike(MixedLMParams.from_components(fe, cov_re=Psi, vcomp=psi_vc),
                        profile_fe=False)
    return {"fe_params": dict(zip(model.exog_names, map(float, fe))),
            "cov_re": pd.DataFrame(Psi * scale, index=names, columns=names),
            "vcomp": dict(zip(model.exog_vc.names, map(float, psi_vc * scale))),
            "scale": float(scale), "llf": float(llf), "converged": True}


# --------------------------------------------------------------------------
# Failing adapters
# --------------------------------------------------------------------------


def raises(case: Case) -> dict:
    raise ValueError(f"this adapter always fails (case {case.name})")


def hangs(case: Case) -> dict:
    while True:  # stopped by the per-fit timeout
        time.sleep(0.1)


def crashes(case: Case) -> dict:
    """Kills its own process, as a segfaulting extension would."""
    import os

    os._exit(3)


def returns_nan(case: Case) -> dict:
    out = _as_dict(_reference(case))
    out["llf"] = float("nan")
    return out


def lme4_names(case: Case) -> dict:
    """lme4's spelling of the intercept: the suite must report a name mismatch."""
    out = _as_dict(_reference(case))
    out["fe_params"] = {("(Intercept)" if k == "Intercept" else k): v
                        for k, v in out["fe_params"].items()}
    return out


# --------------------------------------------------------------------------
# Invalid answers (not a point of the model): each must be a gated failure
# naming the key and the rule, never PASS
# --------------------------------------------------------------------------


def negative_variance(case: Case) -> dict:
    """The first variance reported negative (its llf the reference's: only the audit could tell)."""
    out = _as_dict(_reference(case))
    if out["cov_re"]:
        a = next(iter(out["cov_re"]))
        out["cov_re"][a][a] = -abs(out["cov_re"][a][a]) - 1.0
    else:
        k = next(iter(out["vcomp"]))
        out["vcomp"][k] = -abs(out["vcomp"][k]) - 1.0
    return out


def asymmetric_cov_re(case: Case) -> dict:
    """cov_re[a, b] != cov_re[b, a] (needs two random effects)."""
    out = _as_dict(_reference(case))
    names = list(out["cov_re"])
    if len(names) > 1:
        a, b = names[:2]
        out["cov_re"][a][b] = out["cov_re"][a][b] + 0.5 * math.sqrt(
            abs(out["cov_re"][a][a] * out["cov_re"][b][b])) + 1.0
    return out


def correlation_above_one(case: Case) -> dict:
    """A symmetric cov_re with correlation 1.5: not positive semi-definite."""
    out = _as_dict(_reference(case))
    names = list(out["cov_re"])
    if len(names) > 1:
        a, b = names[:2]
        c = 1.5 * math.sqrt(out["cov_re"][a][a] * out["cov_re"][b][b])
        out["cov_re"][a][b] = out["cov_re"][b][a] = c
    return out


def string_scale(case: Case) -> dict:
    out = _as_dict(_reference(case))
    out["scale"] = "about 3"
    return out
