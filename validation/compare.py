"""Comparisons: every engine's answer against the certified values and the
lme4-tight store, graded.

Where a case has certified values they are the grade
(:func:`compare_to_certified`, gate :data:`CERTIFIED_GATE`); the lme4-tight
comparisons below are then a second opinion (shown, ``counts=False``).
Where it has none, the lme4-tight comparisons are the grade.

Per quantity (each fixed effect, each ``bse_fe``, each ``cov_re`` entry of
the lower triangle, each variance component, ``scale``, ``llf``) we record the
absolute error, the relative error and the log relative error

    LRE = -log10(|x - c| / |c|)                     (c != 0)
    LRE = -log10(|x - c|)   = -log10(|x|)           (c == 0)

capped to [0, LRE_CAP] (LRE_CAP = 15: float64 carries ~15.6 digits), and 15
when x == c.  For a zero reference -- a variance on the boundary (Dyestuff2)
-- a relative error does not exist; following NIST's StRD convention the LRE
is then the number of correct *decimal places* in the data's units (an
engine reporting 1e-9 for a true 0 scores 9).

Grading, with the tiers of ``refimpl/tolerances.py`` (nowhere else):

* parameters (fe, bse, cov_re, vcomp, scale): LRE >= the per-quantity gate
  :data:`CERTIFIED_GATE` (the same table as against certified values).  They
  count toward a row's verdict only where the case is well conditioned
  (``Case.well_conditioned``); elsewhere they are shown only.  ``bse_fe``
  counts only for engines declaring the reference's definition
  (:data:`BSE_REFERENCE_DEFINITION`);
* ``llf``: |engine llf - reference llf| <= LLF_VS_LME4 (absolute, two-sided:
  an llf *above* the optimum is as wrong as one below -- e.g. a wrong REML
  constant -- and the audit says which it is);
* audit ``llf_at_point``: the llf an engine reports vs refimpl's llf at the
  point the engine reports, relative SAME_POINT (catches a wrong constant
  without any reference);
* audit ``stationary``: refimpl's analytic score says the engine's answer is a
  stationary point (catches an optimizer that stopped early); on the boundary,
  that the likelihood does not rise off it (the KKT conditions);
* audit ``audit``: the audit could not run on an ``ok`` row (the answer is not
  a valid covariance, or the likelihood is undefined there): a failure, never
  "unavailable".  Answers that are not valid covariances (negative variance,
  asymmetric or non-PSD ``cov_re``, NaN, strings, wrong shapes) are already
  ``failed`` rows with the key and the rule (runner.normalise).

**Gating.**  The exit status depends only on *gated* engines: the refimpl
engines and every plug-in the user asks to grade (``--plugin``), or exactly
those named by ``--gate``.  statsmodels' and lme4's default fits are
*informative*: their rows are compared and audited the same way and shown in
the report (statsmodels' dietox random-slope fit falls short: its llf is below
the reference and the audit calls the point non-stationary), but they cannot
fail the run -- the project validates its own engine and the engines it is
asked to grade, not third-party defaults it cannot change.  A gated engine's
row also fails when the engine failed (raised, timed out, NaN), when a
reported name does not match the reference's, or when the case has no current
reference (missing or stale).  ``unavailable`` rows are shown, never gated.
Informative rows get the same verdict a gated row would get (``ok``/``off``
in the table), it just does not reach the exit status.

**Certified values** (``refimpl/data/certified/``, package ``certified``; book chapter
"Certified values").  Where a case has certified values -- 30 correct digits,
from an independent mpmath Newton refinement -- :func:`compare_to_certified`
scores every engine's answer by LRE per quantity, in the same way.  These
comparisons are separate from the lme4 ones: they measure how many digits of
each engine's answer are *right*, not how many agree with lme4.  ``bse_fe``
is scored against the certified value of the definition the engine declares
(``conditional``) or else statsmodels' observed-information definition
(``observed``, certified at interior optima only).  The gate:
``refimpl_default`` (when it is gated) must reach LRE >= CERTIFIED_LRE_MIN on
every quantity of every certified case whose optimum is not on the boundary;
every other engine, and boundary cases, are informative.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from refimpl.tolerances import LLF_VS_LME4, LRE_CAP, SAME_POINT

from .audit import AuditOutcome
from .cases import Case
from .gate import (CERTIFIED_GATE, CERTIFIED_GATED, CERTIFIED_KINDS, CERTIFIED_KNOWN_SHORTFALLS,
                   ZERO_REFERENCE_NOTE, gate_for, lre_certified)
from .record import EngineResult

__all__ = ["lre", "Comparison", "RowVerdict", "compare_to_reference", "grade_row",
           "PARAM_KINDS", "compare_to_certified", "CERTIFIED_GATED", "CERTIFIED_KINDS",
           "CERTIFIED_KNOWN_SHORTFALLS"]

PARAM_KINDS = ("fe", "bse", "cov_re", "vcomp", "scale")

#: lme4's ``vcov``: sigma2 (X' V^-1 X)^-1 at the optimum, i.e. conditional on
#: the covariance parameters.  statsmodels instead inverts the observed
#: information of all parameters together, which differs at O(1/n) (LRE 2-4 on
#: the registry's cases), so standard errors are gated only for engines that
#: declare ``extra["bse_fe_definition"] == "conditional"``.
BSE_REFERENCE_DEFINITION = "conditional"


def lre(value: float, reference: float) -> float:
    """Log relative error of ``value`` against ``reference`` (module docstring)."""
    if value == reference:
        return LRE_CAP
    if not (math.isfinite(value) and math.isfinite(reference)):
        return 0.0
    err = abs(value - reference) if reference == 0 else \
        abs(value - reference) / abs(reference)
    return min(LRE_CAP, max(0.0, -math.log10(err)))


@dataclasses.dataclass
class Comparison:
    """One graded quantity of one engine on one case."""

    engine: str
    case: str
    kind: str            # fe, bse, cov_re, vcomp, scale, llf, llf_at_point, stationary, audit, status, names, reference
    quantity: str        # e.g. "fe[Time]", "cov_re[Pig,Time]", "llf"
    value: float | None = None
    reference: float | None = None
    abs_err: float | None = None
    rel_err: float | None = None
    lre: float | None = None
    tolerance: str = ""  # the tier's name, e.g. "PARAM_LRE_MIN=5"
    passed: bool | None = None
    gated: bool = False  # counts AND the engine is gated: can fail the run
    note: str = ""
    counts: bool = True  # part of the row's verdict (False: shown only)
    against: str = "lme4"  # "certified", "lme4" (lme4-tight store) or "audit"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _param(engine, case, kind, q, x, c, counts) -> Comparison:
    abs_err = abs(x - c)
    rel = abs_err / abs(c) if c != 0 else None
    score = lre(x, c)
    need = CERTIFIED_GATE[kind][0]       # one gate, whichever reference grades the case
    return Comparison(engine, case, kind, q, x, c, abs_err, rel, score,
                      f"LRE>={need:g}",
                      passed=score >= need, counts=counts,
                      note="" if c != 0 else "zero reference: LRE from absolute error")


def _names(engine, case, kind, got: set, want: set) -> list[Comparison]:
    if got == want:
        return []
    return [Comparison(engine, case, "names", kind, passed=False,
                       note=f"{kind} names differ from the reference: missing "
                            f"{sorted(want - got)}, unexpected {sorted(got - want)} "
                            "(use statsmodels' names, see CONTRACT.md)")]


def compare_to_reference(case: Case, r: EngineResult,
                         ref: EngineResult) -> list[Comparison]:
    """All quantity comparisons of an ``ok`` result against the reference.

    ``gated`` is left False here; :func:`grade_row` sets it for gated engines.
    """
    e, c = r.engine, case.name
    pg = case.well_conditioned
    out: list[Comparison] = []
    out += _names(e, c, "fe_params", set(r.fe_params), set(ref.fe_params))
    for k, v in ref.fe_params.items():
        if k in r.fe_params:
            out.append(_param(e, c, "fe", f"fe[{k}]", r.fe_params[k], v, pg))
    if r.bse_fe is None:
        out.append(Comparison(e, c, "bse", "bse_fe", note="not reported", counts=False))
    else:
        same_def = r.extra.get("bse_fe_definition") == BSE_REFERENCE_DEFINITION
        for k, v in (ref.bse_fe or {}).items():
            if k in r.bse_fe:
                x = _param(e, c, "bse", f"bse[{k}]", r.bse_fe[k], v, pg and same_def)
                if not same_def:
                    x.note = ("informative: the engine does not declare "
                              f"bse_fe_definition={BSE_REFERENCE_DEFINITION!r}")
                out.append(x)
    out += _names(e, c, "cov_re", set(r.cov_re), set(ref.cov_re))
    names = list(ref.cov_re)
    for i, a in enumerate(names):
        for b in names[: i + 1]:
            if a in r.cov_re and b in r.cov_re.get(a, {}):
                out.append(_param(e, c, "cov_re", f"cov_re[{a},{b}]",
                                  r.cov_re[a][b], ref.cov_re[a][b], pg))
    out += _names(e, c, "vcomp", set(r.vcomp), set(ref.vcomp))
    for k, v in ref.vcomp.items():
        if k in r.vcomp:
            out.append(_param(e, c, "vcomp", f"vcomp[{k}]", r.vcomp[k], v, pg))
    out.append(_param(e, c, "scale", "scale", r.scale, ref.scale, pg))

    d = r.llf - ref.llf
    if abs(d) <= LLF_VS_LME4:
        note = "same optimum"
    elif d > 0:
        note = (f"llf ABOVE the reference by {d:.3g}: a wrong llf constant, or a "
                "better optimum than the reference (see llf_at_point and the audit)")
    else:
        note = f"llf below the reference by {-d:.3g}: stopped short of the optimum?"
    out.append(Comparison(e, c, "llf", "llf", r.llf, ref.llf, abs(d), abs(d) / abs(ref.llf),
                          lre(r.llf, ref.llf), f"|dllf|<=LLF_VS_LME4={LLF_VS_LME4:g}",
                          passed=abs(d) <= LLF_VS_LME4, note=note))
    return out


def compare_audit(case: Case, r: EngineResult, a: AuditOutcome) -> list[Comparison]:
    """The audit's two checks: reported llf at the reported point; stationarity.

    An audit that was attempted and could not run (``a.failed``: not a valid
    covariance, likelihood undefined there) is one failed check with its reason.
    """
    e, c = r.engine, case.name
    if a.failed:
        return [Comparison(e, c, "audit", "audit (refimpl analytic score)", passed=False,
                           tolerance="a valid covariance where the likelihood is defined",
                           note=a.message, against="audit")]
    if not a.available:
        return []
    out: list[Comparison] = []
    if a.llf is not None:
        d = abs(r.llf - a.llf)
        tol = SAME_POINT * max(abs(a.llf), 1.0)
        out.append(Comparison(e, c, "llf_at_point", "llf vs refimpl llf at this point",
                              r.llf, a.llf, d, d / max(abs(a.llf), 1e-300),
                              lre(r.llf, a.llf), f"rel<=SAME_POINT={SAME_POINT:g}",
                              passed=d <= tol,
                              note="" if d <= tol else
                              "the reported llf is not the llf at the reported estimates",
                              against="audit"))
    if a.stationary is not None:
        out.append(Comparison(e, c, "stationary", "stationary (refimpl analytic score)",
                              a.scaled_gradient, 0.0, passed=bool(a.stationary),
                              tolerance="refimpl.audit verdict",
                              note=a.message, against="audit"))
    return out


@dataclasses.dataclass
class RowVerdict:
    """The summary of one (engine, case) row."""

    engine: str
    case: str
    status: str
    gated: bool
    passed: bool | None          # None: nothing to grade (unavailable)
    min_param_lre: float | None
    worst_quantity: str | None
    dllf: float | None           # engine llf - reference llf
    stationary: bool | None
    scaled_gradient: float | None
    time_s: float | None
    reasons: list[str]
    converged: bool | None = None   # the engine's own flag (informative)
    n_warnings: int = 0
    digits_passed: bool | None = None   # every counted digit check (certified or lme4) passed
    audit_passed: bool | None = None    # every counted audit check passed (None: no audit)
    newton_gain: float | None = None    # the audit's predicted llf gain of one Newton step
    graded_against: str = ""            # "certified" or "lme4-tight"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def grade_row(case: Case, r: EngineResult, ref: EngineResult | None,
              ref_problem: str | None, audit: AuditOutcome | None,
              gated: bool, certified: list[Comparison] | None = None
              ) -> tuple[RowVerdict, list[Comparison]]:
    """Compare one result, and summarise it (see the module docstring on gating).

    ``certified`` holds the row's comparisons with the certified values
    (:func:`compare_to_certified`; None when the case has none).  Where they
    exist they are the grade; the lme4-tight comparisons are then a second
    opinion, shown and never counted.
    """
    comps: list[Comparison] = []
    reasons: list[str] = []
    if r.status in ("unavailable", "unsupported"):
        return RowVerdict(r.engine, case.name, r.status, gated, None, None, None, None,
                          None, None, r.time_s, [r.error or ""], None, 0), comps
    if r.status != "ok":
        comps.append(Comparison(r.engine, case.name, "status", "status", passed=False,
                                note=r.error or r.status))
    else:
        if certified:
            comps += certified
        if ref is None or ref_problem:
            if not certified:
                comps.append(Comparison(r.engine, case.name, "reference", "reference",
                                        passed=False, note=ref_problem or "no reference"))
        else:
            second = compare_to_reference(case, r, ref)
            if certified:
                for x in second:
                    if x.kind != "names":
                        x.counts = False
                        x.note = (x.note + "; " if x.note else "") + "second opinion"
            comps += second
    if audit is not None and r.status == "ok":
        comps += compare_audit(case, r, audit)
    for x in comps:
        x.gated = gated and x.counts

    primary = "certified" if certified else "lme4"
    params = [x for x in comps if x.kind in PARAM_KINDS and x.lre is not None
              and x.against == primary and (x.counts or x.kind != "bse")]
    worst = min(params, key=lambda x: x.lre) if params else None
    dllf = next((x.value - x.reference for x in comps
                 if x.kind == "llf" and x.against == "lme4" and x.value is not None), None)
    failed = [x for x in comps if x.passed is False]
    failed.sort(key=lambda x: (not x.counts, x.kind in PARAM_KINDS))  # counted first
    for x in failed:
        tag = "" if x.counts else f" [not graded: {_why_not_counted(x)}]"
        where = ({"certified": " vs certified", "lme4": " vs lme4-tight"}.get(x.against, "")
                 if x.kind in PARAM_KINDS + ("llf",) else "")
        detail = (f"LRE {x.lre:.1f}, needs {x.tolerance.split('=')[-1]}"
                  if x.lre is not None and x.kind in PARAM_KINDS + ("llf",)
                  and x.against == "certified" else
                  f"LRE {x.lre:.1f}" if x.lre is not None and x.kind in PARAM_KINDS else x.note)
        reasons.append(f"{x.quantity}{where}: {detail}{tag}")
    passed = not any(x.counts for x in failed)
    digit_checks = [x for x in comps if x.counts and x.against != "audit"]
    audit_checks = [x for x in comps if x.counts and x.against == "audit"]
    return RowVerdict(
        r.engine, case.name, r.status, gated, passed,
        worst.lre if worst else None, worst.quantity if worst else None, dllf,
        audit.stationary if audit is not None and audit.available else None,
        audit.scaled_gradient if audit is not None and audit.available else None,
        r.time_s, reasons, r.converged, len(r.warnings),
        digits_passed=(None if r.status != "ok" else
                       not any(x.passed is False for x in digit_checks)),
        audit_passed=(None if not audit_checks else
                      not any(x.passed is False for x in audit_checks)),
        newton_gain=audit.newton_gain if audit is not None else None,
        graded_against="certified" if certified else "lme4-tight"), comps


def _why_not_counted(x: Comparison) -> str:
    """Why a comparison is shown but not part of the verdict (one phrase)."""
    if x.against == "lme4" and "second opinion" in x.note:
        return "lme4-tight is the second opinion where certified values exist"
    if x.kind == "bse":
        return "standard-error definition not declared"
    return "ill-conditioned case: parameters are informative, llf and stationarity graded"


# --------------------------------------------------------------------------
# Certified values (module docstring, "Certified values")
# --------------------------------------------------------------------------

def compare_to_certified(case: Case, r: EngineResult, entry: dict,
                         gated: bool) -> list[Comparison]:
    """LRE of every quantity of an ``ok`` result against a certified entry.

    ``entry`` is a certified record (``certified.store``).  Each comparison
    needs :func:`gate_for` digits.  It counts toward the row's verdict
    (``counts``) unless: the case is ill-conditioned and it is a parameter
    (only ``llf`` counts there; refimpl_default is held to every quantity), the
    standard errors' definition was not declared, or the pair is a known
    shortfall.  ``gated`` is set later by :func:`grade_row`.
    """
    from certified.store import flat_values

    e, c = r.engine, case.name
    boundary = bool(entry.get("boundary", False))
    known = CERTIFIED_KNOWN_SHORTFALLS.get((e, c))
    strict = e in CERTIFIED_GATED
    declared = r.extra.get("bse_fe_definition")
    bse_def = declared if declared in ("conditional", "observed") else "observed"
    mine = {f"fe[{k}]": v for k, v in r.fe_params.items()}
    mine.update({f"bse.{bse_def}[{k}]": v for k, v in (r.bse_fe or {}).items()})
    names = list(r.cov_re)
    for a in names:
        for b in names:
            if b in r.cov_re.get(a, {}):
                mine[f"cov_re[{a},{b}]"] = r.cov_re[a][b]
    mine.update({f"vcomp[{k}]": v for k, v in r.vcomp.items()})
    mine["scale"], mine["llf"] = r.scale, r.llf
    zero_scale = float(entry["values"]["scale"])
    out: list[Comparison] = []
    for q, (text, digits) in flat_values(entry).items():
        kind = q.split("[", 1)[0].split(".", 1)[0]
        if kind == "bse" and not q.startswith(f"bse.{bse_def}["):
            continue
        need = gate_for(e, kind, boundary)
        tol = f"LRE>={need:g}"
        counts = known is None and (
            kind == "llf" or strict or case.well_conditioned) and (
            kind != "bse" or declared in ("conditional", "observed") or strict)
        x = mine.get(q)
        if x is None and kind == "cov_re":           # the engine gave the upper triangle
            a, b = q[len("cov_re["):-1].split(",")
            x = mine.get(f"cov_re[{b},{a}]")
        if x is None:
            note = (f"not reported (bse_fe_definition={bse_def!r})" if kind == "bse"
                    else "not reported")
            out.append(Comparison(e, c, kind, q, reference=float(text), note=note,
                                  tolerance=tol, passed=False, counts=counts and kind != "bse",
                                  against="certified"))
            continue
        ref = float(text)
        score = lre_certified(x, ref, digits, zero_scale if kind in ("cov_re", "vcomp")
                              else None)
        abs_err = abs(x - ref)
        out.append(Comparison(
            e, c, kind, q, x, ref, abs_err, abs_err / abs(ref) if ref else None, score,
            tol, passed=score >= need, counts=counts, against="certified",
            note=f"certified to {digits} digits" + ("" if ref else "; " + ZERO_REFERENCE_NOTE)
            + (f"; known shortfall, not gated: {known}" if known and score < need else "")))
    return out
