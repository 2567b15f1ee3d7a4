"""Engine timers: one run of one engine on one data set, as a dict.

* refimpl and statsmodels: model build + default ``fit()``, timed with
  ``perf_counter`` (both parts also reported on their own); peak memory by
  ``tracemalloc`` in one extra, untimed run (numpy reports its arrays to it).
* lme4: ``lmer`` timed inside R by ``system.time`` once the data is already
  an R ``data.frame`` (the conversion is timed apart); peak memory is R's
  ``gc()`` "max used" minus "used" before the fit (R's heap only).
"""

from __future__ import annotations

import statistics
import time
import tracemalloc
import warnings

import numpy as np


def timed_fit(build):
    """Time ``build()`` (returns a model) and its default ``fit()``: one run as a dict."""
    t0 = time.perf_counter()
    model = build()
    t1 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = model.fit()
    t2 = time.perf_counter()
    return dict(time_s=t2 - t0, build_s=t1 - t0, fit_s=t2 - t1, llf=float(res.llf),
                converged=bool(res.converged))


def run_refimpl(data):
    from refimpl.model import MixedLM

    return timed_fit(lambda: MixedLM(data["y"], data["X"], groups=data["g"], exog_re=data["Z"]))


def run_statsmodels(data):
    import statsmodels.api as sm

    return timed_fit(lambda: sm.MixedLM(data["y"], data["X"], data["g"], exog_re=data["Z"]))


def refimpl_formula(fc):
    """refimpl through ``MixedLM.from_formula`` on a :class:`~.data.FormulaCase`."""
    from refimpl.model import MixedLM

    return timed_fit(lambda: MixedLM.from_formula(data=fc.data, **fc.spec))


def statsmodels_formula(fc):
    import statsmodels.formula.api as smf

    s = fc.spec
    return timed_fit(lambda: smf.mixedlm(s["formula"], fc.data, groups=s["groups"],
                                         re_formula=s["re_formula"], vc_formula=s["vc_formula"]))


_R_LMER = r"""
function(d, formula) {
  invisible(gc(reset = TRUE))
  before <- gc()
  tm <- system.time(fit <- lme4::lmer(stats::as.formula(formula), data = d, REML = TRUE),
                    gcFirst = FALSE)[["elapsed"]]
  after <- gc()
  # cells -> bytes: a cons cell (Ncells) is 56 bytes, a vector cell (Vcells) 8
  peak <- sum((after[, "max used"] - before[, "used"]) * c(56, 8))
  msgs <- as.character(fit@optinfo$conv$lme4$messages)
  list(time = tm, llf = as.numeric(stats::logLik(fit)), peak = peak,
       converged = length(msgs) == 0, messages = msgs)
}
"""


def r_frame(data):
    """An R data.frame(y, x, g = factor(g)) straight from the numpy buffers."""
    import rpy2.rinterface as ri

    from .. import rbridge

    ro = rbridge.require_r(["lme4"])
    y = ri.FloatSexpVector.from_memoryview(memoryview(np.ascontiguousarray(data["y"], float)))
    x = ri.FloatSexpVector.from_memoryview(memoryview(np.ascontiguousarray(data["x"], float)))
    g = ri.IntSexpVector.from_memoryview(memoryview(np.ascontiguousarray(data["g"], np.int32)))
    return ro.r("function(y, x, g) data.frame(y = y, x = x, g = factor(g))")(y, x, g)


def r_frame_of(fc):
    """An R data.frame of a FormulaCase: its factors as R factors, ``(seconds, frame)``."""
    from .. import rbridge

    rbridge.require_r(["lme4"])
    t0 = time.perf_counter()
    cols = ["y", "x"] if "x" in fc.data else ["y"]
    d = fc.data[cols + list(fc.factors)].copy()
    for f in fc.factors:
        d[f] = d[f].astype(str).astype("category")
    rdf = rbridge.to_r_dataframe(d)
    return time.perf_counter() - t0, rdf


def run_lme4(data, rdf=None, formula="y ~ x + (x | g)"):
    from .. import rbridge

    conv = 0.0
    if rdf is None:
        t0 = time.perf_counter()
        rdf = r_frame(data)
        conv = time.perf_counter() - t0
    out = rbridge.call(_R_LMER, rdf, formula).value
    return dict(time_s=float(out.rx2("time")[0]), llf=float(out.rx2("llf")[0]),
                converged=bool(out.rx2("converged")[0]), peak_bytes=float(out.rx2("peak")[0]),
                conversion_s=conv, messages=[str(m) for m in out.rx2("messages")])


def traced_peak(fn):
    """Peak bytes allocated while fn() runs (tracemalloc; numpy reports its arrays to it)."""
    tracemalloc.start()
    try:
        fn()
        return int(tracemalloc.get_traced_memory()[1])
    finally:
        tracemalloc.stop()


def repeat_runs(fn, repeats, budget):
    """Up to ``repeats`` runs of fn, stopping once they took ``budget`` seconds (>= 1 run)."""
    runs, spent = [], 0.0
    while len(runs) < repeats:
        t0 = time.perf_counter()
        runs.append(fn())
        spent += time.perf_counter() - t0
        if spent >= budget:
            break
    return runs


def summarize(case, n_groups, n_rows, engine, runs, peak=None, in_bytes=None, label=None):
    times = [r["time_s"] for r in runs]
    row = dict(case=case, n_groups=n_groups, n_rows=n_rows, engine=engine, status="ok",
               runs=len(runs), times_s=times, median_s=statistics.median(times),
               llf=runs[-1]["llf"], converged=runs[-1]["converged"])
    if label is not None:
        row["label"] = label
    for k in ("build_s", "fit_s", "conversion_s"):
        if k in runs[-1]:
            row[k] = statistics.median(r[k] for r in runs) if k != "conversion_s" else runs[0][k]
    row["peak_bytes"] = peak if peak is not None else runs[-1].get("peak_bytes")
    row["peak_what"] = ("R gc() max used - used before (R heap)" if engine == "lme4"
                        else "tracemalloc peak of build + fit (extra untimed run)")
    if in_bytes is not None:
        row["input_bytes"] = in_bytes
    if "messages" in runs[-1] and runs[-1]["messages"]:
        row["messages"] = runs[-1]["messages"]
    return row


def skipped(case, n_groups, n_rows, engine, reason, label=None):
    row = dict(case=case, n_groups=n_groups, n_rows=n_rows, engine=engine, status="skipped",
               reason=reason)
    if label is not None:
        row["label"] = label
    return row


def engine_available(engine):
    if engine != "lme4":
        return None
    from .. import rbridge

    return rbridge.r_available(["lme4"])
