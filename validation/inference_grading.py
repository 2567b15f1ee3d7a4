"""The "Inference" section of a run: profile limits and ddf tests graded by LRE.

For each inference case (``inference_cases.py``) the section computes
refimpl's values at its *default* tolerances and, when an R engine is part
of the run, lme4's ``confint(method = "profile")``, lmerTest's Satterthwaite
tests and pbkrtest's Kenward-Roger tests (``inference_values.py``), and
grades every quantity by its LRE against the stored references
(``inference_references.py``: refimpl's analytic values at tight
tolerances, confirmed independently on one case of each kind):

    LRE = -log10(|x - r| / |r|)       (for r = 0: -log10(|x| / estimate))

capped at the reference's stated digits (at most 12).

The gate: refimpl >= INFERENCE_LRE_MIN = 7 digits on every quantity
    refimpl's default profile stops its root finder at XTOL = 1e-9 of the
    parameter's scale and each constrained fit at a relative gradient of
    1e-9, so its limits carry about 9 digits; its Satterthwaite and
    Kenward-Roger numbers are closed-form functions of a fit that Newton
    takes to a relative gradient of 1e-13, so they carry 12 or more (the
    measured minimum is in the report). 7 leaves two digits of margin below
    the weakest (the profile limits) and is still far above what any use of
    an interval or a p-value needs (2-3 digits) -- a fall below 7 means a
    changed algorithm, not rounding. The refimpl row is gated when
    ``refimpl_default`` is; a missing or stale reference fails it too.

R's rows are informative, and the digits they can reach are limited by R's
numerics, not by the references (:data:`R_NUMERICS` says why, the table
shows the measured digits):

* lme4 evaluates zeta on a grid of points and interpolates the limits with a
  spline through them: 4-8 digits at the default grid (``delta.cutoff = 1/8``),
  9-13 at 1/64 (tests/test_profile_ci.py; the finer grid costs 60 s a run, so
  it is not run here). refimpl solves zeta(v) = +-z for v directly; on
  Dyestuff an independent closed form agrees with refimpl to 10+ digits, so
  where the two differ, the interpolation is what is off.
* lmerTest differentiates vcov(beta) and the REML deviance numerically
  (numDeriv's Jacobian and Hessian); refimpl's derivatives are analytic. A
  30-digit mpmath evaluation on sim_unbalanced_singletons agrees with refimpl
  to 14+ digits; lmerTest's df reach about 7-8. Its p-values carry, besides the df's
  error, the error of t = estimate / se at lme4's optimum, amplified in the
  tail: the relative error of p is |d log p / d log t| = t^2 (df + 1) /
  (df + t^2) times that of t (13 for sleepstudy's Days, p = 3e-6), so a t
  right to 7 digits gives a p right to 6.
* pbkrtest's Kenward-Roger algebra is closed form; its df carry the digits
  of lme4's optimum (bobyqa, rhoend = 2e-10), its p-values fewer, as above.
"""

from __future__ import annotations

import concurrent.futures as cf
import math
import multiprocessing as mp
import os
import time
from typing import Any

from .gate import INFERENCE_LRE_MIN  # 7: the digits refimpl needs (why: above)
from .inference_cases import FAMILIES, INFERENCE_CASES, InferenceCase, family_of

__all__ = ["INFERENCE_LRE_MIN", "R_NUMERICS", "lre", "grade_values", "compute", "section",
           "REFIMPL_ROW", "R_ENGINE_NAMES"]

#: The row label of refimpl's values in the section.
REFIMPL_ROW = "refimpl_default"

#: Engines of a run that switch the R rows on (any R engine).
R_ENGINE_NAMES = ("lme4", "lme4_bobyqa", "lme4_Nelder_Mead", "lme4_nloptwrap", "lme4_tight",
                  "nlme", "glmmTMB")

#: What R's numerics support, per R row (shown beside the measured digits).
R_NUMERICS = {
    "lme4_profile": "lme4 interpolates each limit with a spline through a grid of profile "
                    "points (delta.cutoff = 1/8): 4-8 digits per limit, the weakest limit of a "
                    "case about 4; refimpl root-finds zeta itself, confirmed by a 50-digit "
                    "closed form on Dyestuff",
    "lmerTest": "lmerTest differentiates vcov(beta) and the deviance by finite differences "
                "(numDeriv): about 7-8 digits in df; refimpl's analytic df agrees with a "
                "30-digit mpmath evaluation to 14+. p-values also carry the error of lme4's "
                "optimum in t, amplified in the tail by |d log p / d log t| (13 for a p of 3e-6 "
                "at 17 df), so fewer digits",
    "pbkrtest": "pbkrtest's Kenward-Roger algebra is closed form: df to 9-12 digits, limited "
                "by lme4's optimum (bobyqa rhoend 2e-10); its p-values lose digits in the tail "
                "as lmerTest's do",
}


def lre(x: float, r: float, digits: float, scale: float | None = None) -> float:
    """LRE of ``x`` against reference ``r``, capped at ``digits`` (and 15)."""
    cap = min(15.0, float(digits))
    if x == r:
        return cap
    if not (math.isfinite(x) and math.isfinite(r)):
        return 0.0
    err = abs(x - r) / (abs(r) if r != 0 else (scale or 1.0))
    if err == 0:
        return cap
    return min(cap, max(0.0, -math.log10(err)))


def grade_values(values: dict[str, float], ref: dict) -> dict[str, Any]:
    """Per-quantity LRE of one row against a reference entry; min per family."""
    quantities, families, missing = {}, {}, []
    for q, r in ref["values"].items():
        if q not in values:
            missing.append(q)
            continue
        score = lre(values[q], r, ref["digits"][q], ref["scales"].get(q))
        quantities[q] = {"value": values[q], "reference": r, "lre": score,
                         "digits": ref["digits"][q]}
        fam = family_of(q)
        families[fam] = min(families.get(fam, score), score)
    return {"quantities": quantities, "families": families, "missing": missing,
            "min_lre": min(families.values()) if families else None}


# --------------------------------------------------------------------------
# Computing the rows in worker processes
# --------------------------------------------------------------------------

def _refimpl_task(key: str) -> dict:
    from .inference_values import refimpl_values

    t0 = time.perf_counter()
    values, _ = refimpl_values(INFERENCE_CASES[key])
    return {REFIMPL_ROW: {"values": values, "seconds": time.perf_counter() - t0}}


def _r_task(key: str) -> dict:
    from refimpl.ddf_tests import terms_from_names

    from .inference_values import R_ENGINES, r_values
    from .rbridge import RUnavailable

    case = INFERENCE_CASES[key]
    labels = [lab for lab, on in (("lme4_profile", case.profile), ("lmerTest", case.ddf),
                                  ("pbkrtest", case.ddf)) if on]
    names = list(case.model().exog_names)
    try:
        return r_values(case, names, list(terms_from_names(names)))
    except RUnavailable as exc:
        return {lab: {"unavailable": str(exc)} for lab in labels}
    except Exception as exc:  # noqa: BLE001 -- an R error is this row's result
        return {lab: {"error": f"{type(exc).__name__}: {exc}"} for lab in labels
                if lab in R_ENGINES}


def _init_worker() -> None:
    import warnings

    warnings.simplefilter("ignore")
    for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(v, "1")


def compute(cases: list[InferenceCase], with_r: bool, jobs: int = 2,
            timeout: float = 240.0) -> dict[str, dict[str, dict]]:
    """case key -> row label -> {"values", "seconds"} | {"error"} | {"unavailable"}.

    Runs in ``jobs`` spawned worker processes (embedded R is not fork-safe);
    ``jobs = 0`` runs here. Past ``timeout`` seconds the workers still running
    are stopped (our own children, by pid) and their rows say so.
    """
    tasks = []
    if with_r:                                   # the long R calls first
        tasks += [(_r_task, c.key) for c in sorted(cases, key=lambda c: -(c.profile + c.ddf))]
    tasks += [(_refimpl_task, c.key) for c in cases]
    out: dict[str, dict[str, dict]] = {c.key: {} for c in cases}
    if jobs == 0:
        for fn, key in tasks:
            out[key].update(fn(key))
        return out
    ex = cf.ProcessPoolExecutor(max_workers=max(1, jobs), mp_context=mp.get_context("spawn"),
                                initializer=_init_worker)
    futures = {ex.submit(fn, key): (fn, key) for fn, key in tasks}
    done, pending = cf.wait(futures, timeout=timeout)
    for f in done:
        fn, key = futures[f]
        try:
            out[key].update(f.result())
        except Exception as exc:  # noqa: BLE001 -- a worker that died
            label = REFIMPL_ROW if fn is _refimpl_task else "R"
            out[key][label] = {"error": f"{type(exc).__name__}: {exc}"}
    for f in pending:
        fn, key = futures[f]
        label = REFIMPL_ROW if fn is _refimpl_task else "R"
        out[key][label] = {"error": f"timeout: no answer after {timeout:g} s"}
    if pending:
        for p in list(getattr(ex, "_processes", {}).values()):
            if p.is_alive():
                p.kill()
    ex.shutdown(wait=not pending, cancel_futures=True)
    return out


# --------------------------------------------------------------------------
# The section
# --------------------------------------------------------------------------

def section(cases: list[InferenceCase], rows: dict[str, dict[str, dict]], gated: bool,
            references: dict[str, dict] | None = None, r_note: str = "") -> dict[str, Any]:
    """Grade the computed rows; the JSON-ready section (the reports format it).

    ``gated``: refimpl's row fails the run below INFERENCE_LRE_MIN (or with no
    usable reference). Keys: ``gate``, ``families``, ``cases``, ``rows`` (one per
    case and engine), ``r_digits`` (smallest LRE per R row and family),
    ``failures``, ``summary``.
    """
    from refimpl.cases import data_sha256

    from . import inference_references as store

    refs = store.load_all() if references is None else references
    info: dict[str, Any] = {"available": True, "gate": INFERENCE_LRE_MIN,
                            "gated": gated, "families": dict(FAMILIES),
                            "r_numerics": dict(R_NUMERICS), "r_note": r_note,
                            "reference_dir": str(store.REFERENCE_DIR), "cases": {}, "rows": [],
                            "failures": []}
    for case in cases:
        ref = refs.get(case.key)
        problem = None
        if ref is None:
            problem = (f"no stored reference for {case.key}: run "
                       "`python -m validation inference-references`")
        else:
            try:
                if ref["data_sha256"] != data_sha256(case.data()):
                    problem = (f"stale reference for {case.key}: the data changed; rebuild with "
                               f"`python -m validation inference-references --force --cases "
                               f"{case.key}`")
            except Exception as exc:  # noqa: BLE001
                problem = f"cannot load the data of {case.key}: {exc}"
        info["cases"][case.key] = {
            "description": case.description, "problem": problem,
            "independent_check": (ref or {}).get("independent_check"),
            "reference_min_digits": min(ref["digits"].values()) if ref else None,
            "n_quantities": len(ref["values"]) if ref else 0}
        got_rows = rows.get(case.key, {})
        order = [REFIMPL_ROW, "lme4_profile", "lmerTest", "pbkrtest"]
        for label in sorted(got_rows, key=lambda x: order.index(x) if x in order else 9):
            got = got_rows[label]
            is_refimpl = label == REFIMPL_ROW
            row = {"engine": label, "case": case.key, "gated": gated and is_refimpl,
                   "seconds": got.get("seconds"), "status": "ok", "passed": None,
                   "note": R_NUMERICS.get(label, "")}
            if "values" not in got:
                row["status"] = "unavailable" if "unavailable" in got else "failed"
                row["error"] = got.get("unavailable") or got.get("error")
            elif problem:
                row["status"], row["error"] = "failed", problem
            else:
                row.update(grade_values(got["values"], _restricted(ref, got["values"], label)))
            if is_refimpl:
                ok = (row["status"] == "ok" and not row.get("missing")
                      and row.get("min_lre") is not None
                      and row["min_lre"] >= INFERENCE_LRE_MIN)
                row["passed"] = ok
                if not ok and row["gated"]:
                    info["failures"].append(_failure_text(row))
            info["rows"].append(row)
    info["r_digits"] = _r_digits(info["rows"])
    n = sum(1 for r in info["rows"] if r["gated"])
    lres = [r["min_lre"] for r in info["rows"] if r["engine"] == REFIMPL_ROW
            and r.get("min_lre") is not None]
    worst = f", refimpl min LRE {min(lres):.1f}" if lres else ""
    if info["failures"]:
        info["summary"] = (f"FAIL: {len(info['failures'])} of {n} gated inference rows below "
                           f"LRE {INFERENCE_LRE_MIN:g}{worst}")
    else:
        info["summary"] = (f"{n} gated inference rows >= LRE {INFERENCE_LRE_MIN:g}{worst}"
                           if gated else f"inference informative{worst}")
    return info


def _restricted(ref: dict, values: dict, label: str) -> dict:
    """The reference restricted to what a row answers: R rows answer one family each."""
    if label == REFIMPL_ROW:
        return ref
    prefix = {"lme4_profile": "profile:", "lmerTest": "satterthwaite:", "pbkrtest": "kr:"}[label]
    keep = {q for q in ref["values"] if q.startswith(prefix)}
    return {**ref, "values": {q: v for q, v in ref["values"].items() if q in keep}}


def _failure_text(row: dict) -> str:
    if row["status"] != "ok":
        return f"{row['engine']} {row['case']}: {row['status']}: {row.get('error')}"
    if row.get("missing"):
        return f"{row['engine']} {row['case']}: missing quantities {row['missing']}"
    worst = sorted(row["quantities"].items(), key=lambda kv: kv[1]["lre"])[:3]
    return (f"{row['engine']} {row['case']}: min LRE {row['min_lre']:.1f} < "
            f"{INFERENCE_LRE_MIN:g}: " + "; ".join(
                f"{q} = {v['value']!r} (reference {v['reference']!r}, LRE {v['lre']:.1f})"
                for q, v in worst))


def _r_digits(rows: list[dict]) -> dict[str, dict[str, float]]:
    """R row label -> family -> smallest LRE over the cases (the digits R supports here)."""
    out: dict[str, dict[str, float]] = {}
    for r in rows:
        if r["engine"] == REFIMPL_ROW or r["status"] != "ok":
            continue
        for fam, v in r.get("families", {}).items():
            cell = out.setdefault(r["engine"], {})
            cell[fam] = min(cell.get(fam, v), v)
    return out


def run_section(case_names: list[str], full_selection: bool, engines: list[str],
                gated: list[str], jobs: int = 2, timeout: float = 240.0) -> dict[str, Any]:
    """What suite.run calls: choose the cases, compute, grade (or say why not)."""
    from .inference_cases import select_inference

    cases = select_inference(case_names, full_selection)
    if not cases:
        return {"available": False, "note": "no inference case among the selected cases"}
    if REFIMPL_ROW not in engines:
        return {"available": False, "note": f"{REFIMPL_ROW} is not an engine of this run"}
    from . import inference_references as store

    refs = store.load_all()
    if not refs:                      # e.g. an installation without the data files
        return {"available": False, "note": f"no inference references in {store.REFERENCE_DIR}"
                                            " (rebuild: python -m validation inference-references)"}
    with_r = any(e in R_ENGINE_NAMES for e in engines)
    t0 = time.perf_counter()
    rows = compute(cases, with_r, jobs=jobs, timeout=timeout)
    note = "" if with_r else "R rows not computed: no R engine among --engines"
    info = section(cases, rows, REFIMPL_ROW in gated, references=refs, r_note=note)
    info["seconds"] = time.perf_counter() - t0
    return info
