"""One validation run: fit, audit, compare, decide the exit status.

:func:`run` is what ``python -m validation run`` calls; it returns a
:class:`RunOutcome` holding every number (the report modules only format it).

Exit status (documented in ``compare.py``, "Gating"):

* 0 -- every gated check passed (and there was at least one);
* 1 -- a gated check failed (out of tolerance, engine failed, reference
  missing or stale for a gated row);
* 2 -- nothing was graded: no gated engine produced a row to compare (e.g.
  refimpl's fitter is not importable yet and no plug-in was given).  Use
  ``--gate none`` to run informative engines only and exit 0.

Grading: every case with certified values (``refimpl/data/certified/``) is
graded against them, per quantity, by the gate ``gate.CERTIFIED_GATE``
(refimpl's default fit also at CERTIFIED_LRE_MIN = 8 digits on non-boundary
cases); the lme4-tight store is a second opinion shown beside them, and the
grade for the few cases without certified values.  Comparison engines
(``engines.COMPARISON_ENGINES``) are fitted on the certified cases only.
:func:`certified_section` summarises the certified grading for the reports
(the ranking table: digits by engine and quantity).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import platform
import sys
import time
from typing import Any

from . import references
from .audit import Auditor
from .cases import Case, data_sha256
from .compare import (CERTIFIED_GATE, CERTIFIED_GATED, CERTIFIED_KINDS,
                      CERTIFIED_KNOWN_SHORTFALLS, Comparison, RowVerdict, compare_to_certified,
                      grade_row)
from .record import EngineResult
from .runner import check_answer, engine_label, run_tasks

__all__ = ["RunOutcome", "run", "default_gated", "cost_hint_from", "certified_section",
           "grade_result", "load_store"]


#: refimpl engines whose answer must match the references on every case. EM and
#: steepest ascent are first-order methods: at a boundary (Dyestuff2) or near one
#: their convergence is sublinear and they stop short, which the verdict and the
#: audit report honestly; they are shown, not gated.
GATED_REFIMPL = ("refimpl_default", "refimpl_bfgs", "refimpl_newton")


def default_gated(engine_specs: list[str]) -> list[str]:
    """refimpl's second-order engines and plug-ins are gated by default; the rest informative."""
    return [engine_label(e) for e in engine_specs
            if e in GATED_REFIMPL or ":" in e]


def cost_hint_from(report_json) -> dict[tuple[str, str], float]:
    """(engine, case) -> fit seconds from an earlier ``validation.json`` ({} if none)."""
    import json
    from pathlib import Path

    try:
        doc = json.loads(Path(report_json).read_text(encoding="utf-8"))
        return {(r["engine"], r["case"]): float(r.get("time_s") or 0.0)
                for r in doc.get("results", [])}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


@dataclasses.dataclass
class RunOutcome:
    meta: dict[str, Any]
    cases: list[Case]
    engines: list[str]                   # result labels, in column order
    results: list[EngineResult]
    audits: list[dict[str, Any]]
    comparisons: list[Comparison]
    rows: list[RowVerdict]
    reference_info: dict[str, Any]
    exit_code: int = 0
    gate_summary: str = ""
    certified: dict[str, Any] = dataclasses.field(default_factory=dict)
    certified_comparisons: list[Comparison] = dataclasses.field(default_factory=list)
    inference: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from .record import encode_floats

        return encode_floats({
            "run": self.meta,
            "gate": {"exit_code": self.exit_code, "summary": self.gate_summary,
                     "gated_engines": self.meta["gated_engines"],
                     "failures": [r.to_dict() for r in self.rows
                                  if r.gated and r.passed is False]},
            "reference": self.reference_info,
            "cases": [c.describe() for c in self.cases],
            "rows": [r.to_dict() for r in self.rows],
            "results": [r.to_dict() for r in self.results],
            "audits": self.audits,
            "comparisons": [c.to_dict() for c in self.comparisons],
            "certified": {**self.certified,
                          "comparisons": [c.to_dict() for c in self.certified_comparisons]},
            "inference": self.inference,
        })


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for dist in ("numpy", "scipy", "pandas", "statsmodels", "rpy2-robjects", "lmm-refimpl"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            pass
    return out


def run(cases: list[Case], engine_specs: list[str], gated: list[str] | None = None,
        jobs: int = 2, timeout: float = 120.0, store_path=references.STORE,
        progress=None, audit: bool = True,
        cost_hint: dict[tuple[str, str], float] | None = None,
        inference: bool = True) -> RunOutcome:
    """Fit every case with every engine, audit, compare with the store, grade.

    ``cost_hint`` ((engine label, case) -> seconds, e.g. the times of the last
    run) orders the fits longest first, so the workers finish together.
    ``inference``: also grade refimpl's profile intervals and ddf tests
    (inference_grading.py; the "Inference" section).
    """
    t0 = time.perf_counter()
    started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    gated = default_gated(engine_specs) if gated is None else gated
    labels = [engine_label(e) for e in engine_specs]
    store = load_store(store_path)          # a corrupt store is refused before any fit

    from .engines import COMPARISON_ENGINES

    certified = _has_certified(cases)
    tasks = [(e, c.name) for c in cases for e in engine_specs
             if e not in COMPARISON_ENGINES or c.name in certified]
    if progress is not None and hasattr(progress, "total"):
        progress.total = max(len(tasks), 1)
    if cost_hint:
        queue = sorted(tasks, key=lambda t: -cost_hint.get((engine_label(t[0]), t[1]), 1.0))
    else:
        queue = tasks
    results = run_tasks(queue, jobs=jobs, timeout=timeout, progress=progress)
    order = {(engine_label(e), c): i for i, (e, c) in enumerate(tasks)}
    results.sort(key=lambda r: order.get((r.engine, r.case), len(order)))
    results = [check_answer(r) for r in results]     # not a valid covariance: failed row
    fit_wall = time.perf_counter() - t0

    ref_info: dict[str, Any] = {"path": str(store_path)}
    if store is None:
        ref_info["missing"] = ("no reference store; create it with "
                               "`python -m validation regenerate-references`")
    else:
        ref_info["provenance"] = store.provenance

    auditor = Auditor() if audit else None
    audits: list[dict[str, Any]] = []
    comps: list[Comparison] = []
    rows: list[RowVerdict] = []
    by_case = {c.name: c for c in cases}
    ref_cache: dict[str, tuple[EngineResult | None, str | None]] = {}

    def reference_for(case: Case):
        if case.name not in ref_cache:
            if store is None:
                ref_cache[case.name] = (None, ref_info["missing"])
            else:
                try:
                    problem = store.check(case, data_sha256(case.data()))
                except Exception as exc:  # noqa: BLE001 -- e.g. simulator missing
                    problem = f"cannot load the case's data: {exc}"
                ref_cache[case.name] = (store.result(case.name), problem)
        return ref_cache[case.name]

    # audit the reference point itself as well: is the reference stationary?
    if auditor is not None and store is not None:
        for case in cases:
            ref, problem = reference_for(case)
            if ref is not None and not problem:
                a = auditor.audit(case, ref)
                a.engine = "reference"
                audits.append(a.to_dict())

    cert_entries, cert_problem = _certified_entries(cases)
    for r in results:
        case = by_case[r.case]
        ref, problem = reference_for(case)
        cert = _certified_comparisons(case, r, cert_entries)
        a, verdict, cs = grade_result(case, r, ref, problem, auditor, r.engine in gated, cert)
        if a is not None:
            audits.append(a.to_dict())
        rows.append(verdict)
        comps += cs

    cert_comps = [c for c in comps if c.against == "certified"]
    cert_info = certified_section(cases, cert_entries, cert_comps, rows, gated, cert_problem)

    inference_info: dict[str, Any] = {"available": False, "note": "not run (--no-inference)"}
    if inference:
        from .inference_grading import run_section
        from .cases import select as _select_cases

        inference_info = run_section([c.name for c in cases],
                                     {c.name for c in _select_cases()} <= {c.name for c in cases},
                                     labels, gated, jobs=jobs, timeout=2 * timeout)

    gated_rows = [v for v in rows if v.gated and v.passed is not None]
    failed = [v for v in gated_rows if not v.passed]
    n_checks = sum(1 for c in comps if c.gated)
    if failed:
        code = 1
        summary = (f"FAIL: {len(failed)} of {len(gated_rows)} gated rows failed "
                   f"({sum(1 for c in comps if c.gated and c.passed is False)} of "
                   f"{n_checks} gated checks)")
    elif not gated_rows:
        code = 2 if gated else 0
        summary = ("NOTHING GRADED: no gated engine produced a row "
                   f"(gated: {', '.join(gated) or 'none'})" if gated else
                   "no engine gated (--gate none): informative run")
    else:
        code = 0
        summary = f"PASS: {len(gated_rows)} gated rows, {n_checks} gated checks"
    if cert_info.get("gated_summary"):
        summary += f"; certified: {cert_info['gated_summary']}"
    if inference_info.get("available"):
        if inference_info["failures"] and code != 2:
            code = 1
            summary = f"FAIL: inference {inference_info['summary']}; fits: {summary}"
        else:
            summary += f"; inference: {inference_info['summary']}"
    ref_audits = [a for a in audits if a["engine"] == "reference" and a["available"]]
    ref_audit_summary = (
        f"{sum(1 for a in ref_audits if a['stationary'])} of {len(ref_audits)} reference "
        "points stationary under refimpl's analytic score"
        + "".join(f"; NOT {a['case']} ({a['message']})" for a in ref_audits
                  if not a["stationary"])) if ref_audits else ""
    meta = {
        "started_utc": started, "duration_s": time.perf_counter() - t0,
        "fit_wall_s": fit_wall, "argv": sys.argv, "jobs": jobs, "timeout_s": timeout,
        "engines": labels, "engine_specs": engine_specs, "gated_engines": gated,
        "cases": [c.name for c in cases], "versions": _versions(),
        "audit_available": bool(auditor and auditor.available),
        "reference_audit": ref_audit_summary,
        "audit_note": "" if auditor is None or auditor.available else
        (auditor._reason or ""),
    }
    return RunOutcome(meta, cases, labels, results, audits,
                      [c for c in comps if c.against != "certified"], rows, ref_info,
                      code, summary, cert_info, cert_comps, inference_info)


def load_store(store_path) -> "references.ReferenceStore | None":
    """The reference store, None if there is none, or ValueError saying what is wrong with it."""
    try:
        return references.load(store_path)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"reference store {store_path} cannot be read: "
                         f"{type(exc).__name__}: {exc}") from None


def grade_result(case: Case, r: EngineResult, ref: EngineResult | None,
                 ref_problem: str | None, auditor: Auditor | None,
                 gated: bool, certified: list[Comparison] | None = None
                 ) -> tuple[Any, RowVerdict, list[Comparison]]:
    """Audit and grade one row: (audit outcome or None, row verdict, comparisons).

    What :func:`run` does for every result, in one place, so that a test can
    grade an adapter's answer (after runner.normalise) without the command line.
    Never raises: a grading that fails is a failed gated row with the reason.
    """
    try:
        a = auditor.audit(case, r) if auditor is not None and r.status == "ok" else None
        verdict, cs = grade_row(case, r, ref, ref_problem, a, gated, certified)
        return a, verdict, cs
    except Exception as exc:  # noqa: BLE001 -- the report must survive any answer
        note = f"grading failed: {type(exc).__name__}: {exc}"
        c = Comparison(r.engine, case.name, "status", "grading", passed=False, gated=gated,
                       note=note)
        return None, RowVerdict(r.engine, case.name, "failed", gated, False, None, None, None,
                                None, None, None, [note]), [c]


def _has_certified(cases: list[Case]) -> set[str]:
    """Names of the cases with a certified file (comparison engines fit only these)."""
    try:
        from certified import store as cstore
    except ImportError:
        return set()
    return {c.name for c in cases if cstore.path_for(c.name).exists()}


def _certified_entries(cases: list[Case]) -> tuple[dict[str, dict], str | None]:
    """case name -> certified entry for the cases that have one (and a problem note)."""
    try:
        from certified import store as cstore
    except ImportError as exc:
        return {}, f"certified values unavailable: {exc}"
    entries = cstore.load_all()
    out = {}
    for case in cases:
        e = entries.get(case.name)
        if e is None:
            continue
        try:
            e["_stale"] = e["data_sha256"] != data_sha256(case.data())
        except Exception:  # noqa: BLE001 -- data not loadable: treat as stale
            e["_stale"] = True
        out[case.name] = e
    return out, None


def _certified_comparisons(case: Case, r: EngineResult,
                           entries: dict[str, dict]) -> list[Comparison] | None:
    """The row's comparisons with the certified values; None if the case has none."""
    entry = entries.get(case.name)
    if entry is None or r.status != "ok":
        return None
    if entry["_stale"]:
        return [Comparison(
            r.engine, case.name, "certified", "certified", passed=False, against="certified",
            note=f"stale certified values for {case.name}: the data changed; rebuild with "
                 f"`python -m certified build --force --cases {case.name}`")]
    try:
        return compare_to_certified(case, r, entry, True)
    except Exception as exc:  # noqa: BLE001 -- e.g. a name the store does not know
        return [Comparison(r.engine, case.name, "certified", "certified", passed=False,
                           against="certified",
                           note=f"cannot compare with the certified values: "
                                f"{type(exc).__name__}: {exc}")]


def certified_section(cases: list[Case], entries: dict[str, dict], comps: list[Comparison],
                      rows: list[RowVerdict], gated: list[str],
                      problem: str | None = None) -> dict[str, Any]:
    """Summary of the grading against the certified values, for the reports.

    ``table``: engine -> case -> kind -> smallest LRE; ``min_by_kind``:
    engine -> kind -> smallest LRE over every certified case the engine
    answered (boundary cases included: they are graded on the boundary);
    ``ranking``: one row per engine (smallest LRE per kind and overall,
    cases graded / unsupported / failed, stationary count), best first.
    """
    if problem:
        return {"available": False, "note": problem}
    from certified import CERTIFIED_LRE_MIN, store as cstore

    info: dict[str, Any] = {"available": True, "store": str(cstore.STORE_DIR),
                            "lre_min": CERTIFIED_LRE_MIN,
                            "gated_engines": [e for e in gated],
                            "strict_engines": [e for e in CERTIFIED_GATED if e in gated],
                            "gate": {k: v[0] for k, v in CERTIFIED_GATE.items()},
                            "kinds": list(CERTIFIED_KINDS), "cases": {}}
    for name, entry in entries.items():
        sp = entry.get("second_path") or {}
        info["cases"][name] = {
            "boundary": bool(entry.get("boundary")),
            "boundary_parameters": entry.get("boundary_parameters", []),
            "min_digits": entry.get("min_digits"), "stale": entry["_stale"],
            "method": entry["certification"]["method"],
            "second_path": sp.get("method"), "second_path_min_agreement": sp.get("min_agreement"),
        }
    table: dict[str, dict[str, dict[str, float]]] = {}
    for c in comps:
        if c.lre is not None and c.kind in CERTIFIED_KINDS:
            cell = table.setdefault(c.engine, {}).setdefault(c.case, {})
            cell[c.kind] = min(cell.get(c.kind, c.lre), c.lre)
    info["table"] = table
    mins: dict[str, dict[str, float]] = {}
    for e, cases_ in table.items():
        for kinds in cases_.values():
            for k, v in kinds.items():
                mins.setdefault(e, {})[k] = min(mins.get(e, {}).get(k, v), v)
    info["min_by_kind"] = mins
    ranking = []
    engines = list(dict.fromkeys(v.engine for v in rows))
    for e in engines:
        mine = [v for v in rows if v.engine == e and v.case in entries]
        m = mins.get(e, {})
        ranking.append({
            "engine": e, "gated": e in gated, "min": min(m.values()) if m else None,
            **{k: m.get(k) for k in CERTIFIED_KINDS},
            "graded": sum(1 for v in mine if v.status == "ok"),
            "unsupported": sum(1 for v in mine if v.status == "unsupported"),
            "unavailable": sum(1 for v in mine if v.status == "unavailable"),
            "failed": sum(1 for v in mine if v.status == "failed"),
            "stationary": sum(1 for v in mine if v.stationary),
            "audited": sum(1 for v in mine if v.stationary is not None),
            "passed": sum(1 for v in mine if v.passed),
        })
    # best first: no failed fits, then the smallest LRE, then stationary share
    ranking.sort(key=lambda x: (x["failed"] > 0 or x["graded"] == 0,
                                -(x["min"] if x["min"] is not None else -1),
                                -(x["stationary"] / x["audited"] if x["audited"] else 0)))
    info["ranking"] = ranking
    known = {f"{e} {c}": why for (e, c), why in CERTIFIED_KNOWN_SHORTFALLS.items()
             if e in table and c in info["cases"]}
    info["known_shortfalls"] = known
    parts = []
    for e in info["strict_engines"]:
        g = [c for c in comps if c.engine == e and c.lre is not None
             and not info["cases"][c.case]["boundary"]]
        if g:
            parts.append(f"{e} min LRE {min(c.lre for c in g):.1f} (>= {CERTIFIED_LRE_MIN:g} "
                         f"required) on {len({c.case for c in g})} non-boundary certified cases")
    info["gated_summary"] = "; ".join(parts)
    return info
