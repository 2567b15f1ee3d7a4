"""statsmodels' MixedLM, fitted exactly as a user would: default settings.

``smf.mixedlm(formula, data, groups=..., re_formula=..., vc_formula=...)
.fit(reml=...)``: no start values, no method, no extra iterations.  Its
default optimizer chain (bfgs, then lbfgs, then cg) is what most users get,
so it is what the report shows -- including where it stops short (the
dietox random-slope model).  Every warning is recorded, ConvergenceWarning
included.

``statsmodels_<method>`` (:data:`STATSMODELS_METHODS`) is the same call with
``fit(reml=..., method=<method>)``: one optimizer each, with statsmodels'
own defaults for it, so the report shows what each choice gives.
"""

from __future__ import annotations

import time
import warnings

from ..cases import Case
from ..record import EngineResult


#: The optimizers MixedLM.fit accepts as ``method``, one engine each.
STATSMODELS_METHODS = ("bfgs", "lbfgs", "cg", "nm", "powell")


class StatsmodelsEngine:
    name = "statsmodels"
    kind = "statsmodels"

    def __init__(self, method: str = ""):
        self.method = method
        if method:
            self.name = f"statsmodels_{method}"

    def fit(self, case: Case) -> EngineResult:
        import statsmodels
        import statsmodels.formula.api as smf

        data, spec = case.data(), case.spec
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            t0 = time.perf_counter()
            model = smf.mixedlm(spec["formula"], data, groups=spec["groups"],
                                re_formula=spec["re_formula"],
                                vc_formula=spec["vc_formula"])
            res = (model.fit(reml=case.reml, method=self.method) if self.method
                   else model.fit(reml=case.reml))
            elapsed = time.perf_counter() - t0
        re_names = [str(n) for n in res.cov_re.index]
        vc_names = list(model.exog_vc.names) if model.k_vc else []
        ranef = {str(g): {n: float(s[n]) for n in re_names}
                 for g, s in res.random_effects.items()}
        return EngineResult(
            engine=self.name, case=case.name,
            fe_params={str(k): float(v) for k, v in res.fe_params.items()},
            bse_fe={str(k): float(v) for k, v in res.bse_fe.items()},
            cov_re={str(r): {str(c): float(res.cov_re.loc[r, c]) for c in res.cov_re.columns}
                    for r in res.cov_re.index},
            vcomp={n: float(v) for n, v in zip(vc_names, res.vcomp)},
            scale=float(res.scale), llf=float(res.llf),
            converged=bool(res.converged), random_effects=ranef,
            warnings=[f"{w.category.__name__}: {w.message}" for w in caught],
            time_s=elapsed,
            extra={"statsmodels_version": statsmodels.__version__,
                   "method": self.method or str(getattr(res, "method", "")),
                   "optimizer_retvals": _retvals(res)},
        )


def _retvals(res) -> dict:
    rv = getattr(res, "mle_retvals", None) or {}
    out = {}
    for k in ("converged", "iterations", "warnflag", "fopt"):
        if k in rv:
            v = rv[k]
            out[k] = v if isinstance(v, (bool, int, float, str)) else str(v)
    return out
