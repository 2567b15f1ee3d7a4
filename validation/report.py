"""Reports of a run: a progress bar, the terminal table, JSON and HTML.

* :class:`Progress` -- a one-line text bar on stderr while fitting (redrawn in
  place on a terminal; a line per 10% otherwise).
* :func:`terminal` -- the certified ranking first (digits of agreement with
  certified values by engine and quantity), the case table of the gated
  engines, every gated failure in full, one line per informative engine
  (``-v``: everything).  Cells are written by ``cells.py``.
* :func:`write_json` -- ``validation.json`` with every number of the run.
* :func:`write_html` -- ``validation.html``, static, viewable offline (see
  ``html_report.py``);
* :func:`write_junit` -- ``validation.xml``: JUnit XML, one test per case and
  quantity kind of every gated engine (``junit.py``).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from .cells import digits, lre_text, number, short
from .record import EngineResult
from .suite import RunOutcome

__all__ = ["Progress", "terminal", "certified_ranking", "write_json", "write_html",
           "write_junit"]


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
        mark = {"ok": "", "failed": " FAILED", "unavailable": " n/a",
                "unsupported": " unsupported"}.get(r.status, "")
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


def certified_ranking(out: RunOutcome, stream=sys.stdout) -> None:
    """The first table: digits of agreement with certified values, by engine and quantity."""
    info = out.certified or {}
    w = stream.write
    if not info.get("available"):
        w(f"certified values: {info.get('note', 'unavailable')}\n")
        return
    kinds = info["kinds"]
    rank = info.get("ranking", [])
    n_cases = len(info["cases"])
    w(f"Digits of agreement with certified values, by engine and quantity ({n_cases} certified "
      f"cases; smallest LRE over the cases each engine answered; best first)\n")
    ew = max([8, *(len(x["engine"]) for x in rank)]) + 2
    w("engine".ljust(ew) + "".join(k.rjust(7) for k in kinds) + "    min  graded unsupp failed"
      "  stationary  gated\n")
    w("gate".ljust(ew) + "".join(f"{info['gate'][k]:7.1f}" for k in kinds) + "\n")
    w("-" * (ew + 7 * len(kinds) + 50) + "\n")
    for x in rank:
        st = f"{x['stationary']}/{x['audited']}" if x["audited"] else "-"
        w(x["engine"].ljust(ew) + "".join(lre_text(x[k]).rjust(7) for k in kinds)
          + lre_text(x["min"]).rjust(7) + f"{x['graded']:8d}{x['unsupported']:7d}"
          + f"{x['failed']:7d}{st:>12}  {'yes' if x['gated'] else 'no'}\n")
    if info.get("strict_engines"):
        w(f"refimpl's default fit is also held to LRE >= {info['lre_min']:g} on every quantity "
          "of every non-boundary certified case.\n")


def _case_table(out: RunOutcome, engines: list[str], w) -> None:
    grid = {(v.engine, v.case): v for v in out.rows}
    heads = [short(e) for e in engines]
    cw = max([13, *(len(h) + 1 for h in heads)])
    cert = (out.certified or {}).get("cases", {})
    names = [c.name + (" [b]" if cert.get(c.name, {}).get("boundary") else "")
             + ("" if c.name in cert else " *") for c in out.cases]
    nw = max([4, *(len(n) for n in names)]) + 1
    w("case".ljust(nw) + "".join(h.rjust(cw) for h in heads) + "\n")
    w("-" * (nw + cw * len(engines)) + "\n")
    for c, label in zip(out.cases, names):
        w(label.ljust(nw))
        for e in engines:
            v = grid.get((e, c.name))
            txt = "" if v is None else digits(v) + ("" if v.stationary is not False else "!")
            w(txt.rjust(cw))
        w("\n")
    w("cell: smallest parameter LRE against the certified values (cases marked * have none: "
      "against lme4-tight) and the digit verdict; ! = the audit says NOT stationary.\n")


def _row_detail(v, w, keep: int) -> None:
    tag = "GATED" if v.gated else "info"
    extra = []
    if v.converged is not None:
        extra.append(f"engine says converged={v.converged}"
                     + (f" ({v.n_warnings} warnings)" if v.n_warnings else ""))
    if v.stationary is not None:
        extra.append("audit: " + ("stationary" if v.stationary else
                                  f"NOT stationary (scaled gradient {number(v.scaled_gradient)}"
                                  f", Newton gain {number(v.newton_gain)})"))
    w(f"  [{tag}] {v.engine} {v.case}: {v.status}{'; ' if extra else ''}{'; '.join(extra)}\n")
    counted = [r for r in v.reasons if "[not graded" not in r]
    shown = [r for r in v.reasons if "[not graded" in r]
    for reason in counted[:keep]:
        w(f"      - {reason}\n")
    if len(counted) > keep:
        w(f"      - ... {len(counted) - keep} more in the JSON/HTML report\n")
    if shown:
        w(f"      ({len(shown)} further shortfalls not graded: second opinion or "
          "informative; see the HTML report)\n")


def terminal(out: RunOutcome, stream=sys.stdout, details: bool = True,
             verbose: bool = False) -> None:
    """The run in the terminal: summary first, gated failures in full.

    Default: the certified ranking, the case table of the gated engines, every
    gated row that did not pass (all its reasons), one line per informative
    engine.  ``verbose``: the case table of every engine and the details of
    every row that did not pass.
    """
    w = stream.write
    prov = out.reference_info.get("provenance", {})
    ver = prov.get("versions", {})
    w(f"\nLinear mixed model validation: {len(out.cases)} cases x {len(out.engines)} "
      f"engines in {out.meta['duration_s']:.1f} s "
      f"(gated: {', '.join(out.meta['gated_engines']) or 'none'})\n")
    if prov:
        w(f"second opinion: lme4-tight store (lme4 {ver.get('lme4', '?')}, R {ver.get('R', '?')}"
          f"); certified values: {(out.certified or {}).get('store', '-')}\n")
    else:
        w(f"reference: {out.reference_info.get('missing')}\n")
    if not out.meta.get("audit_available"):
        w(f"audit: unavailable ({out.meta.get('audit_note')})\n")
    w("\n")
    certified_ranking(out, stream)
    if out.inference:
        from .inference_report import markdown

        w("\n" + markdown(out.inference))

    gated = [e for e in out.engines if e in out.meta["gated_engines"]]
    shown = out.engines if verbose else gated
    if shown:
        w(f"\n{'All engines' if verbose else 'Gated engines'}, case by case:\n")
        _case_table(out, shown, w)

    if details:
        bad = [v for v in out.rows if v.gated and v.passed is False]
        if bad:
            w(f"\nGated rows that did not pass ({len(bad)}):\n")
            for v in bad:
                _row_detail(v, w, keep=len(v.reasons))
        info_engines = [e for e in out.engines if e not in gated]
        if info_engines:
            w("\nInformative engines (never fail the run; -v for every row):\n")
            for e in info_engines:
                mine = [v for v in out.rows if v.engine == e]
                w(f"  {e}: {_engine_line(mine)}\n")
                if verbose:
                    for v in mine:
                        if v.passed is False:
                            _row_detail(v, w, keep=3)
    w(f"\nGATE {out.gate_summary}  (exit code {out.exit_code})\n")
    stream.flush()


def _engine_line(rows) -> str:
    """One line for an informative engine: counts and its weakest row."""
    counts = {}
    for v in rows:
        key = {"ok": "ok" if v.passed else "short", "failed": "error"}.get(v.status, v.status)
        counts[key] = counts.get(key, 0) + 1
    parts = [f"{n} {k}" for k, n in counts.items()]
    lres = [v for v in rows if v.min_param_lre is not None]
    if lres:
        worst = min(lres, key=lambda v: v.min_param_lre)
        parts.append(f"weakest {worst.case} ({worst.worst_quantity} LRE "
                     f"{worst.min_param_lre:.1f})")
    ns = sum(1 for v in rows if v.stationary is False)
    if ns:
        parts.append(f"{ns} not stationary")
    errors = [v for v in rows if v.status == "failed"]
    if errors:
        parts.append(f"first error: {errors[0].case}: {(errors[0].reasons or [''])[0][:80]}")
    return "; ".join(parts)


def write_json(out: RunOutcome, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out.to_dict(), indent=1) + "\n", encoding="utf-8")
    return path


def write_html(out: RunOutcome, path: Path) -> Path:
    from .html_report import render

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(out), encoding="utf-8")
    return path


def write_junit(out: RunOutcome, path: Path) -> Path:
    from .junit import render

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(out), encoding="utf-8")
    return path
