"""JUnit XML of a run: what CI systems read (``lmm-validate run --junit FILE``).

One ``<testsuite>`` per gated engine (informative engines are left out: they
cannot fail the run); in it one ``<testcase>`` per case and graded quantity
kind, named ``<case> <kind>`` with classname ``<engine>``:

* ``fe``, ``bse``, ``cov_re``, ``vcomp``, ``scale``, ``llf`` -- the digit
  checks against the case's primary reference (certified values where they
  exist, else lme4-tight); a ``<failure>`` lists each quantity, its LRE and
  what it needed;
* ``stationary``, ``llf_at_point`` -- the audit's two checks;
* ``fit`` -- only for a row that did not produce an answer: a ``<failure>``
  with the engine's message (raised, timed out, invalid answer), or
  ``<skipped>`` for an unsupported model or an engine not installed.

Checks that are shown but not graded (second opinions, informative
parameters) are not test cases.

The Inference section (inference_grading.py), when it ran, adds a
``<testsuite name="inference">`` with one ``<testcase>`` per gated row,
named ``<case> inference`` with classname the engine (refimpl_default): a
``<failure>`` when a quantity is below INFERENCE_LRE_MIN digits, missing, or
the row failed to compute (the same text as the report's failure line).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from .compare import PARAM_KINDS
from .suite import RunOutcome

__all__ = ["render"]

KINDS = PARAM_KINDS + ("llf", "stationary", "llf_at_point", "audit", "names", "reference",
                       "certified")


def render(out: RunOutcome) -> str:
    comps = list(out.comparisons) + list(out.certified_comparisons)
    root = ET.Element("testsuites", name="lmm-validate", tests="0", failures="0", skipped="0")
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    for engine in out.meta["gated_engines"]:
        suite = ET.SubElement(root, "testsuite", name=engine)
        n = {"tests": 0, "failures": 0, "skipped": 0}
        for v in (v for v in out.rows if v.engine == engine):
            if v.status != "ok":
                tc = ET.SubElement(suite, "testcase", classname=engine, name=f"{v.case} fit",
                                   time=f"{v.time_s or 0:.3f}")
                n["tests"] += 1
                if v.status in ("unsupported", "unavailable"):
                    ET.SubElement(tc, "skipped", message=f"{v.status}: {' '.join(v.reasons)}")
                    n["skipped"] += 1
                else:
                    ET.SubElement(tc, "failure", message=" ".join(v.reasons)[:500],
                                  type="fit").text = "\n".join(v.reasons)
                    n["failures"] += 1
                continue
            mine = [c for c in comps if c.engine == engine and c.case == v.case and c.counts]
            for kind in KINDS:
                checks = [c for c in mine if c.kind == kind]
                if not checks:
                    continue
                tc = ET.SubElement(suite, "testcase", classname=engine, name=f"{v.case} {kind}")
                n["tests"] += 1
                bad = [c for c in checks if c.passed is False]
                if bad:
                    lines = [f"{c.quantity}: " + (f"LRE {c.lre:.2f}, needs {c.tolerance}"
                                                  if c.lre is not None else c.note)
                             + (f" ({c.against})" if c.against != "audit" else "")
                             for c in bad]
                    ET.SubElement(tc, "failure", message=lines[0][:500],
                                  type=kind).text = "\n".join(lines)
                    n["failures"] += 1
        for k, x in n.items():
            suite.set(k, str(x))
            totals[k] += x
    n = _inference_suite(root, getattr(out, "inference", None) or {})
    for k, x in n.items():
        totals[k] += x
    for k, x in totals.items():
        root.set(k, str(x))
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _inference_suite(root, info: dict) -> dict[str, int]:
    """The gated rows of the Inference section as one testsuite (none if it did not run)."""
    from .inference_grading import _failure_text

    n = {"tests": 0, "failures": 0, "skipped": 0}
    rows = [r for r in info.get("rows", []) if r.get("gated")]
    if not info.get("available") or not rows:
        return n
    suite = ET.SubElement(root, "testsuite", name="inference")
    for row in rows:
        tc = ET.SubElement(suite, "testcase", classname=row["engine"],
                           name=f"{row['case']} inference", time=f"{row.get('seconds') or 0:.3f}")
        n["tests"] += 1
        if not row.get("passed"):
            text = _failure_text(row)
            ET.SubElement(tc, "failure", message=text[:500], type="inference").text = text
            n["failures"] += 1
    for k, x in n.items():
        suite.set(k, str(x))
    return n
