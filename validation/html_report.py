"""The static HTML report: one file, inline CSS, plots as base64 PNG.

Nothing is fetched when the page is viewed (no scripts, fonts or styles from
a network).  In order:

1. the gate and how the run was made;
2. **digits of agreement with certified values, by engine and quantity**
   (the ranking table; the gate row on top);
3. a legend of every symbol;
4. the case table: for each case and engine the digits cell and, in its own
   column, the audit's stationarity verdict (cells written by ``cells.py``;
   colour only where a verdict is given: gated green/red, informative
   pale green/amber, no colour for rows without a grade);
5. a heat map of the smallest certified LRE per case, engine and quantity
   (one panel per engine, labels at a readable size);
6. the log-likelihood differences from the lme4-tight second opinion;
7. per-case drill-down (``<details>``): every engine's quantities with their
   certified LRE, the lme4-tight LRE beside it, the audit's Newton gain and
   stationarity verdict, and the reasons.
"""

from __future__ import annotations

import base64
import html
import io
import math

from refimpl.tolerances import LLF_VS_LME4, LRE_CAP

from .cells import (LEGEND, digits, digits_class, lre_text, number, short,
                    stationarity, stationarity_class)
from .suite import RunOutcome

KINDS = ("fe", "bse", "cov_re", "vcomp", "scale", "llf")

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em;
color:#222;max-width:1500px;font-size:15px}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:.9em;margin:.5em 0}
td,th{border:1px solid #ddd;padding:3px 7px;text-align:right;vertical-align:top}
th{background:#f3f3f3}td.l,th.l{text-align:left}
td.wrap{max-width:38em;white-space:normal;overflow-wrap:anywhere;text-align:left}
td.num{font-variant-numeric:tabular-nums;overflow-wrap:anywhere;max-width:12em}
td.d{white-space:nowrap}
.pass{background:#bfe8bf}.fail{background:#f4b6b6;font-weight:bold}
.info-ok{background:#eaf6ea}.info-low{background:#fbeccb}.info-err{background:#fbeccb}
.err{background:#f4b6b6;font-weight:bold}.na{color:#777}
.gate{font-size:1.1em;padding:.6em 1em;display:inline-block;border-radius:4px}
.gate.ok{background:#bfe8bf}.gate.bad{background:#f4b6b6}.gate.none{background:#eee}
code{background:#f6f6f6;padding:0 3px}img{max-width:100%}
small{color:#555}details{margin:.3em 0}summary{cursor:pointer}
dl.legend{display:grid;grid-template-columns:max-content auto;gap:.2em 1em;font-size:.9em}
dl.legend dt{font-weight:bold}dl.legend dd{margin:0}
"""


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def certified_heatmap_png(out: RunOutcome) -> str | None:
    """Smallest certified LRE per (case, engine, quantity): one panel per engine.

    Colour is the LRE on a fixed scale (0 red .. 15 green); a cell is grey
    where there is no number.  The numbers are written in each cell.
    """
    info = out.certified or {}
    table = info.get("table") or {}
    if not table:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    engines = [e for e in out.engines if e in table]
    cases = [c.name for c in out.cases if c.name in info["cases"]]
    labels = [c + (" [b]" if info["cases"][c]["boundary"] else "") for c in cases]
    ncol = 4
    nrow = math.ceil(len(engines) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, (0.3 * len(cases) + 1.4) * nrow),
                             squeeze=False)
    cmap = matplotlib.colormaps["RdYlGn"].with_extremes(bad="#eeeeee")
    for ax in axes.ravel()[len(engines):]:
        ax.axis("off")
    for idx, e in enumerate(engines):
        ax = axes.ravel()[idx]
        M = np.array([[table[e].get(c, {}).get(k, np.nan) for k in KINDS] for c in cases])
        ax.imshow(np.ma.masked_invalid(M), cmap=cmap, vmin=0, vmax=LRE_CAP, aspect="auto")
        for i in range(M.shape[0]):
            for j in range(M.shape[1]):
                if not math.isnan(M[i, j]):
                    ax.text(j, i, f"{math.floor(M[i, j]):d}", ha="center", va="center",
                            fontsize=8, color="black" if 3 < M[i, j] < 13 else "white")
        ax.set_xticks(range(len(KINDS)), KINDS, fontsize=9, rotation=30)
        ax.set_yticks(range(len(cases)), labels if idx % ncol == 0 else [], fontsize=8)
        ax.set_title(e, fontsize=11)
    fig.suptitle("Smallest LRE against the certified values (digits; [b] = boundary case)",
                 fontsize=12)
    fig.tight_layout()
    s = _png(fig)
    plt.close(fig)
    return s


def llf_png(out: RunOutcome) -> str | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    d = {(v.engine, v.case): v.dllf for v in out.rows if v.dllf is not None}
    if not d:
        return None
    engines = [e for e in out.engines if any(k[0] == e for k in d)]
    cases = [c.name for c in out.cases if any(k[1] == c.name for k in d)]
    fig, ax = plt.subplots(figsize=(9, 0.28 * len(cases) + 2))
    colors = matplotlib.colormaps["tab10"]
    markers = "os^vD<>pXh"
    dy = 0.7 / max(len(engines), 1)
    for i in range(0, len(cases), 2):
        ax.axhspan(i - 0.5, i + 0.5, color="#f4f4f4", zorder=0)
    for j, e in enumerate(engines):
        ys = [i + (j - (len(engines) - 1) / 2) * dy for i in range(len(cases))]
        xs = [d.get((e, c), np.nan) for c in cases]
        ax.scatter(xs, ys, s=22, marker=markers[j % len(markers)], color=colors(j % 10),
                   label=e, zorder=3)
    ax.axvspan(-LLF_VS_LME4, LLF_VS_LME4, color="green", alpha=0.15, zorder=1,
               label=f"|dllf| <= {LLF_VS_LME4:g}")
    ax.set_xscale("symlog", linthresh=1e-10)
    ax.set_yticks(range(len(cases)), cases, fontsize=7)
    ax.set_ylim(len(cases) - 0.5, -0.5)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel("engine llf - reference llf (symlog, linear below 1e-10; left = worse)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.set_title("Log-likelihood differences from the reference")
    s = _png(fig)
    plt.close(fig)
    return s


def _legend() -> str:
    e = html.escape
    return ("<dl class='legend'>" + "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in LEGEND)
            + "</dl>")


def _ranking_html(out: RunOutcome) -> list[str]:
    e = html.escape
    info = out.certified or {}
    if not info.get("available"):
        return [f"<p>{e(info.get('note', 'certified values unavailable'))}</p>"]
    kinds = info["kinds"]
    parts = ["<h2>Digits of agreement with certified values, by engine and quantity</h2>",
             f"<p>Smallest LRE (number of correct significant digits) over the "
             f"{len(info['cases'])} certified cases each engine answered; best first. The "
             "certified values have 30 correct digits (an independent mpmath evaluation, "
             "Newton-refined at two precisions). The gate row is what a gated engine needs "
             "on every case (<code>validation/gate.py</code>, CERTIFIED_GATE; reasons in "
             "<code>CONTRACT.md</code>, section 4). Stationary: cases where refimpl's analytic audit "
             "calls the engine's answer a stationary point.</p>",
             "<table><tr><th class='l'>engine</th>" + "".join(f"<th>{e(k)}</th>" for k in kinds)
             + "<th>min</th><th>graded</th><th>unsupported</th><th>failed</th>"
               "<th>stationary</th><th>gated</th></tr>",
             "<tr><td class='l'><i>gate</i></td>" + "".join(
                 f"<td>{info['gate'][k]:g}</td>" for k in kinds) + "<td colspan=6></td></tr>"]
    for x in info.get("ranking", []):
        cells = []
        for k in kinds:
            v = x[k]
            if v is None:
                cells.append("<td class='na'>-</td>")
            else:
                ok = v >= info["gate"][k]
                cls = ("pass" if ok else "fail") if x["gated"] else ("info-ok" if ok else
                                                                    "info-low")
                cells.append(f"<td class='{cls}'>{v:.1f}</td>")
        st = f"{x['stationary']}/{x['audited']}" if x["audited"] else "-"
        parts.append(f"<tr><td class='l'>{e(x['engine'])}</td>" + "".join(cells)
                     + f"<td>{lre_text(x['min'])}</td><td>{x['graded']}</td>"
                       f"<td>{x['unsupported']}</td><td>{x['failed']}</td><td>{st}</td>"
                       f"<td>{'yes' if x['gated'] else 'no'}</td></tr>")
    parts.append("</table>")
    return parts


def _case_table_html(out: RunOutcome) -> list[str]:
    e = html.escape
    grid = {(v.engine, v.case): v for v in out.rows}
    cert = (out.certified or {}).get("cases", {})
    parts = ["<h2>Case by case</h2><p><small>For each engine two columns: the digits "
             "cell (smallest parameter LRE against the certified values, or against "
             "lme4-tight for cases marked *, and the verdict of the digit checks) and the "
             "audit's stationarity verdict. Hover a cell for its reasons.</small></p>",
             "<table><tr><th class='l' rowspan=2>case</th>"
             + "".join(f"<th colspan=2>{e(short(x))}</th>" for x in out.engines) + "</tr><tr>"
             + "<th>digits</th><th>stationary</th>" * len(out.engines) + "</tr>"]
    for c in out.cases:
        label = c.name + (" [b]" if cert.get(c.name, {}).get("boundary") else "") + \
            ("" if c.name in cert else " *")
        row = [f"<tr><td class='l'><a href='#case-{e(c.name)}'>{e(label)}</a></td>"]
        for x in out.engines:
            v = grid.get((x, c.name))
            if v is None:
                row.append("<td></td><td></td>")
                continue
            tip = e("; ".join(v.reasons))
            row.append(f"<td class='d {digits_class(v)}' title='{tip}'>{e(digits(v))}</td>"
                       f"<td class='{stationarity_class(v)}'>{e(stationarity(v))}</td>")
        parts.append("".join(row) + "</tr>")
    parts.append("</table>")
    return parts


def _drilldown_html(out: RunOutcome) -> list[str]:
    e = html.escape
    cert_by = {}
    for c in out.certified_comparisons:
        cert_by.setdefault((c.engine, c.case), []).append(c)
    lme4_by = {}
    for c in out.comparisons:
        if c.against == "lme4" and c.lre is not None:
            lme4_by[(c.engine, c.case, c.quantity)] = c
    grid = {(v.engine, v.case): v for v in out.rows}
    parts = ["<h2>Per case</h2>"]
    for case in out.cases:
        d = case.describe()
        spec = d.get("spec", {})
        parts.append(f"<details id='case-{e(case.name)}'><summary><b>{e(case.name)}</b> "
                     f"&mdash; <code>{e(str(d.get('lme4_formula', '')))}</code></summary>")
        parts.append(f"<p>statsmodels: <code>{e(str(spec.get('formula')))}</code>, groups="
                     f"<code>{e(str(spec.get('groups')))}</code>, re_formula=<code>"
                     f"{e(str(spec.get('re_formula')))}</code>, vc_formula=<code>"
                     f"{e(str(spec.get('vc_formula')))}</code>. {e(case.description)}</p>")
        parts.append("<table><tr><th class='l'>engine</th><th>status</th><th>digits</th>"
                     "<th>stationary</th><th>Newton gain</th><th>scaled gradient</th>"
                     "<th>time s</th><th class='l'>quantity: certified LRE (lme4-tight LRE)"
                     "</th><th class='l'>reasons</th></tr>")
        for x in out.engines:
            v = grid.get((x, case.name))
            if v is None:
                continue
            qs = []
            for c in cert_by.get((x, case.name), []):
                if c.lre is None:
                    continue
                q2 = c.quantity.replace("bse.conditional", "bse").replace("bse.observed", "bse")
                second = lme4_by.get((x, case.name, q2))
                qs.append(f"{e(c.quantity)}: {c.lre:.1f}"
                          + (f" ({second.lre:.1f})" if second else ""))
            parts.append(
                f"<tr><td class='l'>{e(x)}{' (gated)' if v.gated else ''}</td>"
                f"<td>{e(v.status)}</td><td class='{digits_class(v)}'>{e(digits(v))}</td>"
                f"<td class='{stationarity_class(v)}'>{e(stationarity(v))}</td>"
                f"<td class='num'>{number(v.newton_gain)}</td>"
                f"<td class='num'>{number(v.scaled_gradient)}</td>"
                f"<td class='num'>{number(v.time_s, '.2f')}</td>"
                f"<td class='wrap'>{'<br>'.join(qs)}</td>"
                f"<td class='wrap'>{'<br>'.join(e(r) for r in v.reasons)}</td></tr>")
        parts.append("</table></details>")
    return parts


def render(out: RunOutcome) -> str:
    e = html.escape
    gate_cls = {0: "ok", 1: "bad"}.get(out.exit_code, "none")
    prov = out.reference_info.get("provenance", {})
    parts = [f"<!doctype html><html><head><meta charset='utf-8'>"
             f"<title>LMM validation report</title><style>{CSS}</style></head><body>",
             "<h1>Linear mixed model validation report</h1>",
             f"<p><span class='gate {gate_cls}'>GATE {e(out.gate_summary)} "
             f"(exit code {out.exit_code})</span></p>",
             f"<p>{len(out.cases)} cases &times; {len(out.engines)} engines, run "
             f"{e(out.meta['started_utc'])} in {out.meta['duration_s']:.1f} s. Gated engines: "
             f"<code>{e(', '.join(out.meta['gated_engines']) or 'none')}</code>; the others "
             "are informative (graded the same way, never failing the run). Primary "
             "reference: the certified values; second opinion: the lme4-tight store "
             f"<code>{e(str(out.reference_info.get('path')))}</code>"
             + (f" (lme4 {e(str(prov.get('versions', {}).get('lme4')))}, R "
                f"{e(str(prov.get('versions', {}).get('R')))})" if prov else
                f" &mdash; {e(str(out.reference_info.get('missing')))}") + ".</p>"]
    if not out.meta.get("audit_available"):
        parts.append(f"<p><b>Audit unavailable:</b> {e(out.meta.get('audit_note', ''))}</p>")
    elif out.meta.get("reference_audit"):
        parts.append(f"<p>Audit of the lme4-tight points: "
                     f"{e(out.meta['reference_audit'])}.</p>")
    parts += _ranking_html(out)
    if out.inference:
        from .inference_report import html_parts

        parts += html_parts(out.inference)
    parts.append("<h2>Legend</h2>" + _legend())
    parts += _case_table_html(out)
    for title, png in (("Certified LRE heat map", certified_heatmap_png(out)),
                       ("Log-likelihood differences from lme4-tight", llf_png(out))):
        if png:
            parts.append(f"<h2>{title}</h2><img alt='{title}' "
                         f"src='data:image/png;base64,{png}'>")
    parts += _drilldown_html(out)
    parts.append("<p><small>Every number is in <code>validation.json</code> next to this "
                 "page. LRE = &minus;log10(|x&minus;c|/|c|); for a zero certified "
                 "variance &minus;log10(|x|/certified scale); capped at the certified digits "
                 f"and at {LRE_CAP:g}.</small></p></body></html>")
    return "\n".join(parts)
