"""lme4's ``lmer`` through rpy2, mapped to statsmodels' names and units.

Two engines:

``lme4``
    ``lmer(formula, data, REML = reml)`` with lme4's default control, as an R
    user would call it.
``lme4_bobyqa``, ``lme4_Nelder_Mead``, ``lme4_nloptwrap``
    ``lmer`` with ``lmerControl(optimizer = ...)`` and that optimizer's
    default settings (:data:`LME4_OPTIMIZERS`): the same model, each optimizer
    graded on its own.
``lme4_tight``
    bobyqa with tight tolerances (:data:`TIGHT_BOBYQA`), then *verified*: the
    fit is restarted from its own optimum with a different optimizer
    (Nelder-Mead, :data:`TIGHT_RESTART`), and fitted once more by Nelder-Mead
    from lme4's default start (an independent optimizer path).  Whichever of
    the three has the lowest criterion (deviance or REML criterion) is kept;
    the criterion changes, the largest changes of theta and lme4's
    finite-difference gradient at the optimum are recorded in ``extra``.  This
    engine produces the reference store.

Units: lme4's ``VarCorr`` variances and covariances are on the data scale,
like statsmodels' ``cov_re``/``vcomp`` (statsmodels' ``cov_re`` is *not*
divided by the residual variance), so they are copied, not rescaled.
``scale`` is ``sigma(fit)^2``; ``llf`` is ``logLik(fit)`` (REML or ML as fitted);
``bse_fe`` is ``sqrt(diag(vcov(fit)))``.  Names: ``(Intercept)`` becomes
``Intercept`` for fixed effects and the group column's name for ``cov_re``;
VarCorr rows are mapped by the case's :class:`~validation.cases.Lme4Terms`.

Time: ``time_s`` is R's own ``system.time`` of ``lmer`` (for the tight engine:
both fits); data conversion and result extraction are timed separately as
``extra["conversion_s"]``.
"""

from __future__ import annotations

import re
import time
from typing import Any

import numpy as np

from refimpl.lme4_formula import factor_columns

from ..cases import Case
from ..record import EngineResult

#: bobyqa (minqa) control for the reference fits: tiny final trust radius and
#: an evaluation budget that is never the binding stop.
TIGHT_BOBYQA = {"rhoend": 1e-12, "maxfun": 1_000_000}
#: Nelder-Mead (lme4's own) control for the verifying restart.
TIGHT_RESTART = {"FtolAbs": 1e-15, "FtolRel": 1e-15, "XtolRel": 1e-13, "maxfun": 1_000_000}

#: lmer's optimizers, one engine each (``lme4_<optimizer>``).
LME4_OPTIMIZERS = ("bobyqa", "Nelder_Mead", "nloptwrap")

_R_FIT = r"""
function(d, formula, reml, tight, bobyqa, restart, optimizer) {
  ctrl <- if (tight) lme4::lmerControl(optimizer = "bobyqa", optCtrl = bobyqa)
          else if (nzchar(optimizer)) lme4::lmerControl(optimizer = optimizer)
          else lme4::lmerControl()
  tm <- system.time(fit <- lme4::lmer(stats::as.formula(formula), data = d,
                                      REML = reml, control = ctrl))[["elapsed"]]
  verify <- list()
  if (tight) {
    crit <- function(f) if (reml) lme4::REMLcrit(f) else stats::deviance(f)
    ctrl2 <- lme4::lmerControl(optimizer = "Nelder_Mead", optCtrl = restart)
    th1 <- lme4::getME(fit, "theta")
    tm2 <- system.time({
      fit2 <- stats::update(fit, start = list(theta = th1), control = ctrl2)
      fit3 <- stats::update(fit, control = ctrl2)
    })[["elapsed"]]
    tm <- tm + tm2
    fits <- list(bobyqa = fit, restart = fit2, independent = fit3)
    crits <- vapply(fits, crit, 0.0)
    thetas <- lapply(fits, function(f) lme4::getME(f, "theta"))
    best <- names(which.min(crits))
    verify <- list(criterion_bobyqa = crits[["bobyqa"]],
                   restart_criterion_change = crits[["restart"]] - crits[["bobyqa"]],
                   restart_max_abs_theta_change = max(abs(thetas$restart - th1)),
                   independent_criterion_change = crits[["independent"]] - crits[["bobyqa"]],
                   independent_max_abs_theta_change = max(abs(thetas$independent - th1)),
                   kept = best,
                   bobyqa_feval = fit@optinfo$feval, restart_feval = fit2@optinfo$feval,
                   independent_feval = fit3@optinfo$feval)
    fit <- fits[[best]]
  }
  list(fit = fit, time = tm, verify = verify)
}
"""

_R_EXTRACT = r"""
function(fit, groups) {
  vc <- as.data.frame(lme4::VarCorr(fit), order = "lower.tri")
  re <- lme4::ranef(fit, condVar = FALSE)
  rg <- if (groups %in% names(re)) re[[groups]] else NULL
  der <- fit@optinfo$derivs
  sgrad <- NA_real_
  if (!is.null(der)) {
    sgrad <- tryCatch(max(abs(solve(chol(der$Hessian), der$gradient))),
                      error = function(e) NA_real_)
  }
  nz <- function(x) ifelse(is.na(x), "", as.character(x))
  list(
    fixef = lme4::fixef(fit), fixef_names = names(lme4::fixef(fit)),
    se = sqrt(diag(as.matrix(stats::vcov(fit)))),
    vc_grp = nz(vc$grp), vc_var1 = nz(vc$var1), vc_var2 = nz(vc$var2),
    vc_vcov = vc$vcov,
    sigma2 = stats::sigma(fit)^2,
    llf = as.numeric(stats::logLik(fit)),
    reml = lme4::isREML(fit),
    singular = lme4::isSingular(fit),
    theta = as.numeric(lme4::getME(fit, "theta")),
    conv_messages = as.character(c(fit@optinfo$conv$lme4$messages,
                                   unlist(fit@optinfo$warnings))),
    optimizer = as.character(fit@optinfo$optimizer),
    feval = as.numeric(if (is.null(fit@optinfo$feval)) NA else fit@optinfo$feval),
    fd_gradient_max = if (is.null(der)) NA_real_ else max(abs(der$gradient)),
    scaled_gradient_max = sgrad,
    ranef_levels = if (is.null(rg)) character(0) else rownames(rg),
    ranef_names = if (is.null(rg)) character(0) else colnames(rg),
    ranef = if (is.null(rg)) numeric(0) else as.numeric(as.matrix(rg))
  )
}
"""

_cache: dict[str, Any] = {}


def _r_functions():
    from .. import rbridge

    if "fit" not in _cache:
        ro = rbridge.require_r(["lme4"])
        _cache["fit"] = ro.r(_R_FIT)
        _cache["extract"] = ro.r(_R_EXTRACT)
        _cache["ro"] = ro
    return _cache["ro"], _cache["fit"], _cache["extract"]


def r_versions() -> dict[str, str]:
    """R, lme4, Matrix and rpy2 versions (for provenance)."""
    from importlib.metadata import PackageNotFoundError, version

    from .. import rbridge

    out = {"R": rbridge.r_version(), "lme4": rbridge.package_version("lme4"),
           "Matrix": rbridge.package_version("Matrix")}
    for dist in ("rpy2", "rpy2-robjects", "rpy2-rinterface"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            pass
    return out


def _r_ready_frame(case: Case, data):
    """Grouping and factor columns as pandas Categoricals (R factors)."""
    df = data.copy()
    for c in factor_columns(case.spec):
        if c in df.columns:
            df[c] = df[c].astype(str).astype("category")
    return df


def _lst(v) -> list:
    return list(v) if v is not None else []


class Lme4Engine:
    kind = "lme4"

    def __init__(self, tight: bool = False, optimizer: str = ""):
        self.tight = tight
        self.optimizer = optimizer
        self.name = ("lme4_tight" if tight else
                     f"lme4_{optimizer}" if optimizer else "lme4")

    def fit(self, case: Case) -> EngineResult:
        from .. import rbridge

        ro, rfit, rextract = _r_functions()  # raises RUnavailable with the fix
        terms = case.lme4()
        groups = case.spec["groups"]

        t0 = time.perf_counter()
        rdf = rbridge.to_r_dataframe(_r_ready_frame(case, case.data()))
        conv = time.perf_counter() - t0
        out = rbridge.call(
            rfit, rdf, terms.formula, bool(case.reml), bool(self.tight),
            ro.ListVector({k: float(v) for k, v in TIGHT_BOBYQA.items()}),
            ro.ListVector({k: float(v) for k, v in TIGHT_RESTART.items()}),
            self.optimizer,
        )
        r_time = float(out.value.rx2("time")[0])
        verify = {str(k): _scalar(v) for k, v in out.value.rx2("verify").items()}
        t1 = time.perf_counter()
        ex = rbridge.call(rextract, out.value.rx2("fit"), groups).value
        get = {k: ex.rx2(k) for k in ex.names}
        result = self._to_record(case, terms, get)
        conv += time.perf_counter() - t1

        result.time_s = r_time
        said = ([f"R warning: {w}" for w in out.warnings]
                + [f"R message: {m.strip()}" for m in out.messages]
                + [f"lme4: {m}" for m in _lst(get["conv_messages"])
                   if m not in out.warnings and m.strip() not in
                   [x.strip() for x in out.messages]])
        result.warnings = list(dict.fromkeys(said))  # once each, in order
        result.converged = not any("converge" in w.lower() for w in result.warnings)
        result.extra.update({
            "bse_fe_definition": "conditional",  # sigma2 (X'V^-1X)^-1 via vcov()
            "r_fit_time_s": r_time, "conversion_s": conv,
            "lme4_formula": terms.formula,
            "singular": bool(get["singular"][0]),
            "theta": [float(x) for x in get["theta"]],
            "optimizer": " ".join(str(x) for x in get["optimizer"]),
            "feval": _scalar(get["feval"]),
            "fd_gradient_max": _scalar(get["fd_gradient_max"]),
            "scaled_gradient_max": _scalar(get["scaled_gradient_max"]),
        })
        if self.tight:
            result.extra["verification"] = verify
            result.extra["control"] = {"optimizer": "bobyqa", "optCtrl": TIGHT_BOBYQA,
                                       "restart_optimizer": "Nelder_Mead",
                                       "restart_optCtrl": TIGHT_RESTART}
        if bool(get["reml"][0]) != bool(case.reml):
            raise RuntimeError(f"lme4 fitted REML={bool(get['reml'][0])}, "
                               f"case asks {case.method}")
        return result

    def _to_record(self, case: Case, terms, get) -> EngineResult:
        fe = {("Intercept" if n == "(Intercept)" else str(n)): float(v)
              for n, v in zip(get["fixef_names"], get["fixef"])}
        se = {("Intercept" if n == "(Intercept)" else str(n)): float(v)
              for n, v in zip(get["fixef_names"], get["se"])}
        cov_re: dict[str, dict[str, float]] = {}
        vcomp: dict[str, float] = {}

        def target(grp: str, var: str) -> tuple[str, str]:
            for g in (grp, re.sub(r"\.\d+$", "", grp)):
                if (g, var) in terms.varcorr_map:
                    return terms.varcorr_map[(g, var)]
            raise KeyError(f"lme4 VarCorr row ({grp!r}, {var!r}) of case {case.name} "
                           f"has no statsmodels name; known: {sorted(terms.varcorr_map)}")

        scale = float(get["sigma2"][0])
        for grp, v1, v2, val in zip(get["vc_grp"], get["vc_var1"], get["vc_var2"],
                                    get["vc_vcov"]):
            if grp == "Residual":
                continue
            kind1, n1 = target(grp, v1)
            if v2 == "":
                if kind1 == "cov_re":
                    cov_re.setdefault(n1, {})[n1] = float(val)
                else:
                    vcomp[n1] = float(val)
            else:
                kind2, n2 = target(grp, v2)
                cov_re.setdefault(n1, {})[n2] = float(val)
                cov_re.setdefault(n2, {})[n1] = float(val)
        # fill the zero covariances of blocks lme4 holds as separate terms
        names = list(cov_re)
        for a in names:
            for b in names:
                cov_re[a].setdefault(b, 0.0)

        ranef: dict[str, dict[str, float]] = {}
        levels = [str(x) for x in _lst(get["ranef_levels"])]
        cols = [str(x) for x in _lst(get["ranef_names"])]
        if levels:
            mat = np.asarray(get["ranef"], dtype=float).reshape(len(cols), len(levels)).T
            keep = []
            for j, c in enumerate(cols):
                key = (case.spec["groups"], c)
                if terms.varcorr_map.get(key, ("", ""))[0] == "cov_re":
                    keep.append((j, terms.varcorr_map[key][1]))
            ranef = {lv: {n: float(mat[i, j]) for j, n in keep}
                     for i, lv in enumerate(levels)}
        return EngineResult(engine=self.name, case=case.name, fe_params=fe, bse_fe=se,
                            cov_re=cov_re, vcomp=vcomp, scale=scale,
                            llf=float(get["llf"][0]), random_effects=ranef)


def _scalar(v):
    """First element of an R vector as a Python scalar (None for NA)."""
    try:
        x = v[0]
    except (TypeError, IndexError):
        return None
    if isinstance(x, str):
        return x
    try:
        f = float(x)
    except (TypeError, ValueError):
        return str(x)
    if np.isnan(f):
        return None
    if float(f).is_integer() and abs(f) < 2**53 and not isinstance(x, float):
        return int(f)
    return f
