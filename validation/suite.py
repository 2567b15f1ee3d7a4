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

The certified values (``refimpl/data/certified/``) add a second, independent grading
(:func:`certified_section`): every engine's answer is scored by LRE against
them, and refimpl's default fit (when gated) must reach CERTIFIED_LRE_MIN on
every non-boundary certified case, or the run exits 1.
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
from .compare import (CERTIFIED_GATED, CERTIFIED_KINDS, CERTIFIED_KNOWN_SHORTFALLS,
                      Comparison, RowVerdict, compare_to_certified, grade_row)
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
        cost_hint: dict[tuple[str, str], float] | None = None) -> RunOutcome:
    """Fit every case with every engine, audit, compare with the store, grade.

    ``cost_hint`` ((engine label, case) -> seconds, e.g. the times of the last
    run) orders the fits longest first, so the workers finish together.
    """
    t0 = time.perf_counter()
    started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    gated = default_gated(engine_specs) if gated is None else gated
    labels = [engine_label(e) for e in engine_specs]
    store = load_store(store_path)          # a corrupt store is refused before any fit

    tasks = [(e, c.name) for c in cases for e in engine_specs]
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

    for r in results:
        case = by_case[r.case]
        ref, problem = reference_for(case)
        a, verdict, cs = grade_result(case, r, ref, problem, auditor, r.engine in gated)
        if a is not None:
            audits.append(a.to_dict())
        rows.append(verdict)
        comps += cs

    cert_info, cert_comps = certified_section(cases, results, gated)
    cert_failed = [c for c in cert_comps if c.gated and c.passed is False]

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
    if cert_failed:
        code = 1
        rows_failed = sorted({f"{c.engine} {c.case}" for c in cert_failed})
        summary = (f"FAIL: certified values: {len(cert_failed)} gated quantities below LRE "
                   f"{cert_info['lre_min']:g} ({', '.join(rows_failed)}); "
                   f"reference gate: {summary}")
    elif cert_info.get("gated_summary"):
        summary += f"; certified: {cert_info['gated_summary']}"
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
    return RunOutcome(meta, cases, labels, results, audits, comps, rows, ref_info,
                      code, summary, cert_info, cert_comps)


def load_store(store_path) -> "references.ReferenceStore | None":
    """The reference store, None if there is none, or ValueError saying what is wrong with it."""
    try:
        return references.load(store_path)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"reference store {store_path} cannot be read: "
                         f"{type(exc).__name__}: {exc}") from None


def grade_result(case: Case, r: EngineResult, ref: EngineResult | None,
                 ref_problem: str | None, auditor: Auditor | None,
                 gated: bool) -> tuple[Any, RowVerdict, list[Comparison]]:
    """Audit and grade one row: (audit outcome or None, row verdict, comparisons).

    What :func:`run` does for every result, in one place, so that a test can
    grade an adapter's answer (after runner.normalise) without the command line.
    Never raises: a grading that fails is a failed gated row with the reason.
    """
    try:
        a = auditor.audit(case, r) if auditor is not None and r.status == "ok" else None
        verdict, cs = grade_row(case, r, ref, ref_problem, a, gated)
        return a, verdict, cs
    except Exception as exc:  # noqa: BLE001 -- the report must survive any answer
        note = f"grading failed: {type(exc).__name__}: {exc}"
        c = Comparison(r.engine, case.name, "status", "grading", passed=False, gated=gated,
                       note=note)
        return None, RowVerdict(r.engine, case.name, "failed", gated, False, None, None, None,
                                None, None, None, [note]), [c]


def certified_section(cases: list[Case], results: list[EngineResult],
                      gated: list[str]) -> tuple[dict[str, Any], list[Comparison]]:
    """Score every ``ok`` result on a certified case (compare.compare_to_certified).

    Returns (summary for the report, comparisons).  The summary holds, per
    certified case, its boundary flag and digits; per engine and case the
    smallest LRE of each quantity kind (``table``); per engine and kind the
    smallest LRE over the non-boundary cases (``min_non_boundary``).
    """
    try:
        from certified import CERTIFIED_LRE_MIN
        from certified import store as cstore
    except ImportError as exc:
        return {"available": False, "note": f"certified values unavailable: {exc}"}, []
    entries = cstore.load_all()
    gated_here = [e for e in CERTIFIED_GATED if e in gated]
    info: dict[str, Any] = {"available": True, "store": str(cstore.STORE_DIR),
                            "lre_min": CERTIFIED_LRE_MIN, "gated_engines": gated_here,
                            "kinds": list(CERTIFIED_KINDS), "cases": {}}
    comps: list[Comparison] = []
    by_case: dict[str, list[EngineResult]] = {}
    for r in results:
        by_case.setdefault(r.case, []).append(r)
    for case in cases:
        entry = entries.get(case.name)
        if entry is None:
            continue
        try:
            stale = entry["data_sha256"] != data_sha256(case.data())
        except Exception:  # noqa: BLE001 -- data not loadable: treat as stale
            stale = True
        sp = entry.get("second_path") or {}
        info["cases"][case.name] = {
            "boundary": bool(entry.get("boundary")),
            "boundary_parameters": entry.get("boundary_parameters", []),
            "min_digits": entry.get("min_digits"), "stale": stale,
            "method": entry["certification"]["method"],
            "second_path": sp.get("method"), "second_path_min_agreement": sp.get("min_agreement"),
        }
        for r in by_case.get(case.name, []):
            if r.status != "ok":
                continue
            g = r.engine in gated_here
            if stale:
                comps.append(Comparison(
                    r.engine, case.name, "certified", "certified", passed=False if g else None,
                    gated=g, counts=g,
                    note=f"stale certified values for {case.name}: the data changed; rebuild "
                         f"with `python -m certified build --force --cases {case.name}`"))
                continue
            comps += compare_to_certified(case, r, entry, g)
    table: dict[str, dict[str, dict[str, float]]] = {}
    for c in comps:
        if c.lre is not None:
            cell = table.setdefault(c.engine, {}).setdefault(c.case, {})
            cell[c.kind] = min(cell.get(c.kind, c.lre), c.lre)
    mins: dict[str, dict[str, float]] = {}
    for e, cases_ in table.items():
        for cname, kinds in cases_.items():
            if info["cases"][cname]["boundary"]:
                continue
            for k, v in kinds.items():
                mins.setdefault(e, {})[k] = min(mins.get(e, {}).get(k, v), v)
    info["table"] = table
    info["min_non_boundary"] = mins
    known = {f"{e} {c}": why for (e, c), why in CERTIFIED_KNOWN_SHORTFALLS.items()
             if e in table and c in info["cases"]}
    info["known_shortfalls"] = known
    parts = []
    for e in gated_here:
        g = [c for c in comps if c.engine == e and c.gated and c.lre is not None]
        if g:
            n_g = len({c.case for c in g})
            parts.append(f"{e} min LRE {min(c.lre for c in g):.1f} (>= {CERTIFIED_LRE_MIN:g} "
                         f"required) on {n_g} non-boundary certified cases")
        short = [k.split(" ", 1)[1] for k in known if k.startswith(e + " ")]
        if short:
            lows = {c: min((x.lre for x in comps if x.engine == e and x.case == c
                            and x.lre is not None), default=None) for c in short}
            parts.append("known shortfall, not gated: " + ", ".join(
                f"{c} (min LRE {v:.1f})" if v is not None else c for c, v in lows.items())
                + " (compare.CERTIFIED_KNOWN_SHORTFALLS)")
    info["gated_summary"] = "; ".join(parts)
    return info, comps
