"""The inference quantities of one case, from refimpl and from R (lme4, lmerTest, pbkrtest).

Each function returns ``{quantity name: float}`` in the names of
``inference_cases.py`` (``profile:sd_Batch:lower``, ``satterthwaite:t:Days:df``,
...), plus, for the profile, each parameter's estimate as the scale of a
limit that is exactly 0 (an sd whose profile does not reach -z above 0).

refimpl
    :func:`refimpl_values` fits by REML and calls ``conf_int_profile``,
    ``ddf_tests.t_test`` and ``ddf_tests.anova``. ``tolerances`` ({"xtol",
    "inner_gtol"}, conf_int_profile's arguments) tightens the profile's root
    finder and inner quasi-Newton for the stored references; the fit
    itself always ends with Newton at a relative gradient of 1e-13.
R
    :func:`r_values`: one R call per case. The REML fit uses bobyqa with
    rhoend = 2e-10 (tests/test_ddf.py's control), so that what differs from
    refimpl is R's numerics for the inference step, not its optimum. lme4's
    ``confint(method = "profile")`` at its default grid (``delta.cutoff = 1/8``);
    lmerTest's ``summary`` and type III ``anova`` with Satterthwaite's and with
    Kenward-Roger's df (pbkrtest). Fixed effects and terms are matched by position
    (patsy and R's model.matrix order them alike for these formulas; checked by count).
"""

from __future__ import annotations

import warnings

import numpy as np

from .inference_cases import InferenceCase

__all__ = ["refimpl_values", "r_values", "R_ENGINES", "R_INFERENCE"]

#: The R rows of the section: label -> what it is.
R_ENGINES = {
    "lme4_profile": "lme4 confint(method = 'profile'), default grid (delta.cutoff = 1/8)",
    "lmerTest": "lmerTest: Satterthwaite df (finite-difference Jacobian of vcov(beta))",
    "pbkrtest": "pbkrtest through lmerTest's ddf = 'Kenward-Roger'",
}


def refimpl_values(case: InferenceCase, tolerances: dict | None = None,
                   start_scale: float | None = None) -> tuple[dict[str, float], dict[str, float]]:
    """(values, scales) of refimpl on one case; ``tolerances``: {"xtol", "inner_gtol"}.

    ``start_scale`` starts the fit from the default start's theta times that
    factor (the references' second path: another way to the same optimum).
    """
    from refimpl import ddf_tests
    from refimpl.profile_ci import conf_int_profile

    model = case.model()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = model.fit(reml=True)
        if start_scale is not None:
            from refimpl.parameters import MixedLMParams

            res = model.fit(reml=True, start_params=MixedLMParams.from_profile(
                res.theta * start_scale, model.k_re))
    values: dict[str, float] = {}
    scales: dict[str, float] = {}
    if case.profile:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ci = conf_int_profile(res, alpha=0.05, **(tolerances or {}))
        for name, row in ci.iterrows():
            for side in ("lower", "upper"):
                q = f"profile:{name}:{side}"
                values[q], scales[q] = float(row[side]), abs(float(row["estimate"]))
    if case.ddf:
        names = list(res.exog_names)
        eye = np.eye(len(names))
        for ddf, tag in (("satterthwaite", "satterthwaite"), ("kenward-roger", "kr")):
            t = ddf_tests.t_test(res, eye, ddf=ddf)
            for j, name in enumerate(names):
                values[f"{tag}:t:{name}:df"] = float(t["df"].iloc[j])
                values[f"{tag}:t:{name}:p"] = float(t["Pr(>|t|)"].iloc[j])
            a = ddf_tests.anova(res, ddf=ddf)
            for term, row in a.iterrows():
                values[f"{tag}:F:{term}:DenDF"] = float(row["DenDF"])
                values[f"{tag}:F:{term}:F"] = float(row["F value"])
                values[f"{tag}:F:{term}:p"] = float(row["Pr(>F)"])
    return values, scales


# --------------------------------------------------------------------------
# R
# --------------------------------------------------------------------------

R_INFERENCE = """
function(d, formula, do_profile, do_ddf) {
  ctl <- lme4::lmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 2e-4, rhoend = 2e-10))
  out <- list()
  if (do_profile) {
    t0 <- proc.time()[["elapsed"]]
    fm <- lme4::lmer(as.formula(formula), data = d, REML = TRUE, control = ctl)
    ci <- confint(profile(fm, signames = FALSE), level = 0.95)
    out$profile <- list(names = rownames(ci), lower = unname(ci[, 1]), upper = unname(ci[, 2]),
                        seconds = proc.time()[["elapsed"]] - t0)
  }
  if (do_ddf) {
    t0 <- proc.time()[["elapsed"]]
    fm <- lmerTest::lmer(as.formula(formula), data = d, REML = TRUE, control = ctl)
    s <- summary(fm)$coefficients
    a <- anova(fm, type = 3)
    out$satterthwaite <- list(coef = rownames(s), df = unname(s[, "df"]),
                              p = unname(s[, "Pr(>|t|)"]), terms = rownames(a),
                              F = a[["F value"]], DenDF = a[["DenDF"]], Fp = a[["Pr(>F)"]],
                              seconds = proc.time()[["elapsed"]] - t0)
    t0 <- proc.time()[["elapsed"]]
    k <- summary(fm, ddf = "Kenward-Roger")$coefficients
    ak <- anova(fm, type = 3, ddf = "Kenward-Roger")
    out$kr <- list(coef = rownames(k), df = unname(k[, "df"]), p = unname(k[, "Pr(>|t|)"]),
                   terms = rownames(ak), F = ak[["F value"]], DenDF = ak[["DenDF"]],
                   Fp = ak[["Pr(>F)"]], seconds = proc.time()[["elapsed"]] - t0)
  }
  out
}
"""


def _vec(x) -> list:
    return list(x)


def r_values(case: InferenceCase, fe_names: list[str], terms: list[str]
             ) -> dict[str, dict]:
    """engine label -> {"values": {...}, "seconds": s} (or {"error": ...}) for one case.

    ``fe_names`` and ``terms`` are refimpl's names, matched to R's by position.
    Raises rbridge.RUnavailable when R or a package is missing.
    """
    from . import rbridge

    packages = ["lme4"] + (["lmerTest", "pbkrtest"] if case.ddf else [])
    rbridge.require_r(packages)
    out = rbridge.call(R_INFERENCE, rbridge.to_r_dataframe(case.data()), case.lme4_formula,
                       bool(case.profile), bool(case.ddf)).value
    names = set(out.names) if out.names is not None else set()
    rows: dict[str, dict] = {}
    if "profile" in names:
        p = out.rx2("profile")
        lme4_rows = _vec(p.rx2("names"))
        lower, upper = _vec(p.rx2("lower")), _vec(p.rx2("upper"))
        values = {}
        for ours, theirs in case.lme4_profile_names:
            i = lme4_rows.index(theirs)
            values[f"profile:{ours}:lower"] = float(lower[i])
            values[f"profile:{ours}:upper"] = float(upper[i])
        rows["lme4_profile"] = {"values": values, "seconds": float(p.rx2("seconds")[0])}
    for tag, label in (("satterthwaite", "lmerTest"), ("kr", "pbkrtest")):
        if tag not in names:
            continue
        r = out.rx2(tag)
        coef, r_terms = _vec(r.rx2("coef")), _vec(r.rx2("terms"))
        if len(coef) != len(fe_names) or len(r_terms) != len(terms):
            rows[label] = {"error": f"R's coefficients {coef} / terms {r_terms} do not match "
                                    f"refimpl's {fe_names} / {terms} by count"}
            continue
        values = {}
        for j, name in enumerate(fe_names):
            values[f"{tag}:t:{name}:df"] = float(r.rx2("df")[j])
            values[f"{tag}:t:{name}:p"] = float(r.rx2("p")[j])
        for j, term in enumerate(terms):
            values[f"{tag}:F:{term}:DenDF"] = float(r.rx2("DenDF")[j])
            values[f"{tag}:F:{term}:F"] = float(r.rx2("F")[j])
            values[f"{tag}:F:{term}:p"] = float(r.rx2("Fp")[j])
        rows[label] = {"values": values, "seconds": float(r.rx2("seconds")[0])}
    return rows
