"""glmmTMB through rpy2: the same lme4-syntax model, fitted by TMB's Laplace machinery.

``glmmTMB(formula, data, REML = reml)`` with its default control; for a
linear mixed model the Laplace approximation is exact, so the optimum is
the one lme4 and refimpl find.  Names are mapped like lme4's
(``VarCorr(fit)$cond`` rows through the case's
:class:`~validation.cases.Lme4Terms`; glmmTMB numbers repeated grouping
terms ``g``, ``g.1``, ... as lme4 does).  Standard errors come from TMB's
joint Hessian, so no ``bse_fe_definition`` is declared (shown, not graded).
"""

from __future__ import annotations

import time

from ..cases import Case
from ..record import EngineResult
from .lme4_engine import _r_ready_frame

_R_FIT = r"""
function(d, formula, reml) {
  tm <- system.time(fit <- glmmTMB::glmmTMB(stats::as.formula(formula), data = d,
                                              REML = reml))[["elapsed"]]
  vc <- glmmTMB::VarCorr(fit)$cond
  grp <- character(0); v1 <- character(0); v2 <- character(0); val <- numeric(0)
  for (nm in names(vc)) {
    m <- vc[[nm]]; vars <- rownames(m)
    for (i in seq_along(vars)) for (j in seq_len(i)) {
      grp <- c(grp, nm); v1 <- c(v1, vars[j])
      v2 <- c(v2, if (i == j) "" else vars[i]); val <- c(val, m[i, j])
    }
  }
  fe <- glmmTMB::fixef(fit)$cond
  conv <- fit$fit$convergence
  list(fixef = fe, fixef_names = names(fe),
       se = sqrt(diag(as.matrix(stats::vcov(fit)$cond))),
       vc_grp = grp, vc_var1 = v1, vc_var2 = v2, vc_vcov = val,
       sigma2 = stats::sigma(fit)^2, llf = as.numeric(stats::logLik(fit)),
       convergence = as.numeric(conv), message = as.character(fit$fit$message),
       pdHess = isTRUE(fit$sdr$pdHess), time = tm)
}
"""

_cache: dict = {}


class GlmmTMBEngine:
    kind = "glmmTMB"
    name = "glmmTMB"

    def fit(self, case: Case) -> EngineResult:
        from .. import rbridge
        from .lme4_engine import Lme4Engine

        if "fit" not in _cache:
            ro = rbridge.require_r(["glmmTMB"])
            _cache["fit"] = ro.r(_R_FIT)
        terms = case.lme4()
        t0 = time.perf_counter()
        rdf = rbridge.to_r_dataframe(_r_ready_frame(case, case.data()))
        out = rbridge.call(_cache["fit"], rdf, terms.formula, bool(case.reml))
        conv = time.perf_counter() - t0
        v = out.value
        get = {k: v.rx2(k) for k in v.names}
        get.update(ranef_levels=None, ranef_names=None, ranef=None)
        result = Lme4Engine()._to_record(case, terms, get)
        result.engine = self.name
        result.time_s = float(get["time"][0])
        result.warnings = [f"R warning: {w}" for w in out.warnings] + \
            [f"R message: {m}" for m in out.messages]
        result.converged = int(get["convergence"][0]) == 0 and bool(get["pdHess"][0])
        result.extra.update({"lme4_formula": terms.formula, "conversion_s": conv,
                             "optimizer_message": " ".join(str(x) for x in get["message"]),
                             "pdHess": bool(get["pdHess"][0])})
        return result
