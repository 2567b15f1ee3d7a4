"""How one graded row or number is written: the one home of cell formatting.

The terminal report (``report.py``) and the HTML report (``html_report.py``)
both write cells through these functions, so a cell means the same thing in
both.  A *row cell* is two separate facts, never mixed:

* **digits** -- the smallest LRE (digits of agreement) of the row's
  parameters against its primary reference (the certified values where the
  case has them, else the lme4-tight store), followed by the verdict of the
  digit checks alone: ``PASS``/``FAIL`` for a gated engine, ``ok``/``low``
  for an informative one (same checks, cannot fail the run);
* **stationarity** -- the audit's verdict at the engine's answer
  (:func:`stationarity`), in its own column headed "stationary": ``yes`` or
  ``NO``.

Rows without a grade say why: ``unsupported`` (the engine declared it cannot
express the model), ``n/a`` (the engine is not installed here) or ``ERROR``
(the fit raised, timed out or returned an invalid answer).
"""

from __future__ import annotations

import math

__all__ = ["short", "digits", "digits_class", "stationarity", "stationarity_class", "number",
           "lre_text", "LEGEND"]

#: One line per symbol, shown under every table that uses them.
LEGEND = (
    ("PASS / FAIL", "gated engine: every counted digit check passed / one failed (sets the "
                    "exit status)"),
    ("ok / low", "informative engine: the same checks passed / one fell short (never fails "
                 "the run)"),
    ("unsupported", "the engine declared it cannot express this model (validation.Unsupported)"),
    ("n/a", "the engine is not installed on this machine"),
    ("ERROR", "the fit raised, timed out or returned an invalid answer (reason in the row)"),
    ("[b]", "certified optimum on the boundary (a zero variance): graded on the boundary, "
            "a zero scored by -log10(|x| / certified scale)"),
)


def short(engine: str) -> str:
    """Column header: ``refimpl_bfgs`` -> ``ri.bfgs``, ``statsmodels_lbfgs`` -> ``sm.lbfgs``."""
    for long_, abbrev in (("refimpl_", "ri."), ("statsmodels_", "sm.")):
        if engine.startswith(long_):
            return abbrev + engine[len(long_):]
    return engine


def lre_text(x: float | None) -> str:
    """An LRE with one decimal ('-' when there is none)."""
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.1f}"


def digits(v) -> str:
    """The digits cell of a RowVerdict (module docstring)."""
    if v.status == "unavailable":
        return "n/a"
    if v.status == "unsupported":
        return "unsupported"
    if v.status != "ok":
        return "ERROR"
    ok = v.digits_passed
    verdict = ("PASS" if ok else "FAIL") if v.gated else ("ok" if ok else "low")
    return f"{lre_text(v.min_param_lre)} {verdict}"


def digits_class(v) -> str:
    """CSS class of a digits cell: colour only where a verdict is given."""
    if v.status == "unavailable" or v.status == "unsupported":
        return "na"
    if v.status != "ok":
        return "err" if v.gated else "info-err"
    if v.digits_passed:
        return "pass" if v.gated else "info-ok"
    return "fail" if v.gated else "info-low"


def stationarity(v) -> str:
    """The audit's verdict, for a column headed "stationary": ``yes``, ``NO`` or '' (no audit)."""
    if v.stationary is None:
        return ""
    return "yes" if v.stationary else "NO"


def stationarity_class(v) -> str:
    if v.stationary is None:
        return "na"
    if v.stationary:
        return "pass" if v.gated else "info-ok"
    return "fail" if v.gated else "info-low"


def number(x, spec: str = ".3g") -> str:
    """A number for a table ('' for None)."""
    if x is None:
        return ""
    try:
        return format(x, spec)
    except (TypeError, ValueError):
        return str(x)
