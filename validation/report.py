"""Reports of a run: a progress bar, the terminal table, JSON and HTML.

* :class:`Progress` -- a one-line text bar on stderr while fitting (redrawn in
  place on a terminal; a line per 10% otherwise).
* :func:`terminal` -- a case x engine table (each cell: the smallest parameter
  LRE and a verdict), then the details of every row that did not pass, then
  the scores against the certified values (:func:`certified_table`).
* :func:`write_json` -- ``validation.json`` with every number of the run.
* :func:`write_html` -- ``validation.html``, static, viewable offline (see
  ``html_report.py``).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from .record import EngineResult
from .suite import RunOutcome

__all__ = ["Progress", "terminal", "certified_table", "write_json", "write_html", "cell"]


class Progress:
    """``[#####.......]  12/182  statsmodels dietox_slope/reml`` on stderr."""

    def __init__(self, total: int, stream=sys.stderr, width: int = 30):
        self.total, self.stream, self.width = max(total, 1), stream, width
        self.done = 0
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self.t0 = time.monotonic()
        self._last_decile = -1

    def __call__(self, r: EngineResult) -> None:
        self.done += 1
        frac = self.done / self.total
        fill = int(round(frac * self.width))
        mark = {"ok": "", "failed": " FAILED", "unavailable": " n/a"}.get(r.status, "")
        line = (f"[{'#' * fill}{'.' * (self.width - fill)}] {self.done:>4}/{self.total}"
                f" {time.monotonic() - self.t0:6.1f}s  {r.engine} {r.case}{mark}")
        if self.tty:
            self.stream.write("\r" + line[:119].ljust(119))
            if self.done == self.total:
                self.stream.write("\n")
        else:
            decile = int(frac * 10)
            if decile != self._last_decile or self.done == self.total:
                self._last_decile = decile
                self.stream.write(line + "\n")
        self.stream.flush()


def short(engine: str) -> str:
    """Column header: ``refimpl_bfgs`` -> ``ri.bfgs``."""
    return "ri." + engine[len("refimpl_"):] if engine.startswith("refimpl_") else engine


def cell(v) -> str:
    """Table cell: smallest parameter LRE and a verdict.

    Gated rows say PASS/FAIL, informative rows ok/off (lower case: they cannot
    fail the run), ERR a failed fit, n/a an unavailable engine.
    """
    if v.status == "unavailable":
        return "n/a"
    if v.status != "ok":
        return "ERR!" if v.gated else "err"
    lre = f"{v.min_param_lre:4.1f}" if v.min_param_lre is not None else "  - "
    if v.gated:
        return f"{lre} {'PASS' if v.passed else 'FAIL'}"
    return f"{lre} {'ok' if v.passed else 'off'}"


def terminal(out: RunOutcome, stream=sys.stdout, details: bool = True) -> None:
    w = stream.write
    prov = out.reference_info.get("provenance", {})
    ver = prov.get("versions", {})
    w(f"\nLinear mixed model validation: {len(out.cases)} cases x {len(out.engines)} "
      f"engines in {out.meta['duration_s']:.1f} s\n")
    if prov:
        w(f"reference: {out.reference_info['path']} (lme4 {ver.get('lme4', '?')}, "
          f"R {ver.get('R', '?')}, generated {prov.get('generated_utc', '?')})\n")
    else:
        w(f"reference: {out.reference_info.get('missing')}\n")
    if not out.meta.get("audit_available"):
        w(f"audit: unavailable ({out.meta.get('audit_note')})\n")
    elif out.meta.get("reference_audit"):
        w(f"reference audit: {out.meta['reference_audit']}\n")
    w("cell = smallest parameter LRE (digits agreeing with the reference) + verdict; "
      "PASS/FAIL gated, ok/off informative (same checks, cannot fail the run)\n\n")

    grid = {(v.engine, v.case): v for v in out.rows}
    heads = [short(e) for e in out.engines]
    cw = max([10, *(len(h) for h in heads)]) + 1     # no engine with a row: still a table
    nw = max([4, *(len(c.name) for c in out.cases)]) + 1
    if any(e.startswith("refimpl_") for e in out.engines):
        w("columns ri.X = refimpl_X\n")
    w("case".ljust(nw) + "".join(h.rjust(cw) for h in heads) + "\n")
    w("-" * (nw + cw * len(out.engines)) + "\n")
    for c in out.cases:
        w(c.name.ljust(nw))
        for e in out.engines:
            v = grid.get((e, c.name))
            w((cell(v) if v else "").rjust(cw))
        w("\n")

    if details:
        notes = [v for v in out.rows if v.passed is False]
        notes.sort(key=lambda v: (not v.gated, v.engine, v.case))
        if notes:
            w("\nRows that did not pass (gated first):\n")
        for v in notes:
            tag = "GATED" if v.gated else "info"
            extra = []
            if v.dllf is not None:
                extra.append(f"llf - ref = {v.dllf:+.3g}")
            if v.converged is not None:
                extra.append(f"engine says converged={v.converged}"
                             + (f" ({v.n_warnings} warnings)" if v.n_warnings else ""))
            if v.stationary is not None:
                extra.append("audit: " + ("stationary" if v.stationary else
                                          f"NOT stationary (scaled gradient "
                                          f"{v.scaled_gradient:.3g})"))
            w(f"  [{tag}] {v.engine} {v.case}: {'; '.join(extra)}\n")
            keep = 6 if v.gated else 2
            for reason in v.reasons[:keep]:
                w(f"      - {reason}\n")
            if len(v.reasons) > keep:
                w(f"      - ... {len(v.reasons) - keep} more in the JSON/HTML report\n")
        unav = sorted({(v.engine, v.reasons[0] if v.reasons else "")
                       for v in out.rows if v.status == "unavailable"})
        if unav:
            w("\nUnavailable engines:\n")
            seen = set()
            for e, why in unav:
                if e not in seen:
                    seen.add(e)
                    w(f"  {e}: {why}\n")
    certified_table(out, stream)
    w(f"\nGATE {out.gate_summary}  (exit code {out.exit_code}; gated engines: "
      f"{', '.join(out.meta['gated_engines']) or 'none'})\n")
    stream.flush()


def certified_table(out: RunOutcome, stream=sys.stdout) -> None:
    """LRE against the certified values: case x engine (smallest over all quantities),
    then per engine and quantity kind the smallest over the non-boundary cases."""
    info = out.certified or {}
    w = stream.write
    if not info.get("available"):
        if info.get("note"):
            w(f"\ncertified values: {info['note']}\n")
        return
    cases = [c for c in (x.name for x in out.cases) if c in info["cases"]]
    if not cases:
        return
    table, lo = info["table"], info["lre_min"]
    engines = [e for e in out.engines if e in table]
    heads = [short(e) for e in engines]
    cw = max([10, *(len(h) for h in heads)]) + 1     # every engine failed: no column
    nw = max(len(c) for c in cases) + 4
    w(f"\nLRE against certified values ({len(cases)} cases, {info['store']}): smallest over "
      f"fe, bse, cov_re, vcomp, scale, llf; [b] = optimum on the boundary (not gated); "
      f"gate: {', '.join(info['gated_engines']) or 'none'} >= {lo:g}\n")
    w("case".ljust(nw) + "".join(h.rjust(cw) for h in heads) + "  cert. digits\n")
    w("-" * (nw + cw * len(engines) + 14) + "\n")
    for c in cases:
        ci = info["cases"][c]
        w((c + (" [b]" if ci["boundary"] else "")).ljust(nw))
        for e in engines:
            kinds = table.get(e, {}).get(c)
            w((f"{min(kinds.values()):4.1f}" if kinds else "").rjust(cw))
        extra = " STALE" if ci["stale"] else ""
        if ci.get("second_path_min_agreement") is not None:
            extra += f" (ANOVA: {ci['second_path_min_agreement']})"
        w(f"  {ci['min_digits']}{extra}\n")
    kinds = info["kinds"]
    w("\nsmallest LRE over the non-boundary certified cases, per quantity:\n")
    w("engine".ljust(18) + "".join(k.rjust(8) for k in kinds) + "     all\n")
    for e in engines:
        m = info["min_non_boundary"].get(e, {})
        w(e.ljust(18) + "".join((f"{m[k]:8.1f}" if k in m else "       -") for k in kinds)
          + (f"{min(m.values()):8.1f}" if m else "       -") + "\n")
    for k, why in (info.get("known_shortfalls") or {}).items():
        w(f"known shortfall, shown but not gated: {k}: {why}\n")


def write_json(out: RunOutcome, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out.to_dict(), indent=1) + "\n", encoding="utf-8")
    return path


def write_html(out: RunOutcome, path: Path) -> Path:
    from .html_report import render

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(out), encoding="utf-8")
    return path
