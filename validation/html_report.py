"""The static HTML report: one file, inline CSS, plots as base64 PNG.

Nothing is fetched when the page is viewed (no scripts, fonts or styles from
a network).  Plots are drawn with matplotlib's Agg backend:

* an LRE heat map -- rows are cases, columns are (engine, quantity kind); each
  cell is the smallest LRE over that kind's quantities (fe, bse, cov_re,
  vcomp, scale, llf) against the reference store, written rounded down (the
  number of correct digits, so a 4 is below the gate of 5);
* llf differences -- engine llf minus reference llf per case and engine (one
  marker each), on a symmetric-log axis, with the LLF_VS_LME4 band shaded;
* the same heat map against the certified values (``refimpl/data/certified``), with
  a table of the smallest LRE per engine and quantity over the non-boundary
  certified cases (refimpl_default is gated there at CERTIFIED_LRE_MIN).
"""

from __future__ import annotations

import base64
import html
import io
import math

from refimpl.tolerances import LLF_VS_LME4, LRE_CAP, PARAM_LRE_MIN

from .suite import RunOutcome

KINDS = ("fe", "bse", "cov_re", "vcomp", "scale", "llf")

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em;
color:#222;max-width:1400px}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:.85em}
td,th{border:1px solid #ddd;padding:3px 6px;text-align:right;vertical-align:top}
th{background:#f3f3f3}td.l,th.l{text-align:left}
.pass{background:#d9f2d9}.fail{background:#f8d0d0;font-weight:bold}
.off{background:#fdf0c8}.na{color:#888}.err{background:#f8d0d0}
.gate{font-size:1.1em;padding:.6em 1em;display:inline-block;border-radius:4px}
.gate.ok{background:#d9f2d9}.gate.bad{background:#f8d0d0}.gate.none{background:#eee}
code{background:#f6f6f6;padding:0 3px}img{max-width:100%}
small{color:#555}
"""


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _min_lre_table(out: RunOutcome):
    """{(engine, case, kind): min LRE} over the comparisons."""
    t: dict[tuple[str, str, str], float] = {}
    for c in out.comparisons:
        if c.kind in KINDS and c.lre is not None:
            key = (c.engine, c.case, c.kind)
            t[key] = min(t.get(key, LRE_CAP), c.lre)
    return t


def heatmap_png(out: RunOutcome) -> str | None:
    t = _min_lre_table(out)
    if not t:
        return None
    return _heatmap(t, [e for e in out.engines if any(k[0] == e for k in t)],
                    [c.name for c in out.cases], PARAM_LRE_MIN,
                    "Log relative error against the reference (lme4 tight)")


def certified_heatmap_png(out: RunOutcome) -> str | None:
    """Heat map of the smallest LRE per (case, engine, kind) against the certified values."""
    info = out.certified or {}
    if not info.get("table"):
        return None
    t = {(e, c, k): v for e, cs in info["table"].items() for c, ks in cs.items()
         for k, v in ks.items()}
    cases = [c.name + (" [b]" if info["cases"][c.name]["boundary"] else "")
             for c in out.cases if c.name in info["cases"]]
    t = {(e, c + (" [b]" if info["cases"][c]["boundary"] else ""), k): v
         for (e, c, k), v in t.items()}
    return _heatmap(t, [e for e in out.engines if e in info["table"]], cases,
                    info["lre_min"], "Log relative error against the certified values "
                    "(30 digits; [b] = boundary, not gated)")


def _heatmap(t, engines, cases, gate, title) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    M = np.full((len(cases), len(engines) * len(KINDS)), np.nan)
    for i, c in enumerate(cases):
        for j, e in enumerate(engines):
            for k, kind in enumerate(KINDS):
                M[i, j * len(KINDS) + k] = t.get((e, c, kind), np.nan)
    fig, ax = plt.subplots(figsize=(max(8, 0.33 * M.shape[1] + 3), 0.3 * len(cases) + 2.5))
    cmap = matplotlib.colormaps["RdYlGn"].with_extremes(bad="#eeeeee")
    im = ax.imshow(np.ma.masked_invalid(M), cmap=cmap, vmin=0, vmax=LRE_CAP, aspect="auto")
    for i in range(M.shape[0]):
        for j in range(M.shape[1]):
            if not math.isnan(M[i, j]):
                ax.text(j, i, f"{math.floor(M[i, j]):d}", ha="center", va="center", fontsize=6,
                        color="black" if 3 < M[i, j] < 13 else "white")
    ax.set_yticks(range(len(cases)), cases, fontsize=7)
    ax.set_xticks(range(M.shape[1]), [k for _ in engines for k in KINDS],
                  rotation=90, fontsize=6)
    for j, e in enumerate(engines):
        ax.axvline(j * len(KINDS) - 0.5, color="black", lw=1)
        ax.text(j * len(KINDS) + len(KINDS) / 2 - 0.5, -1, e, ha="center", va="bottom",
                fontsize=7, rotation=20)
    cb = fig.colorbar(im, ax=ax, fraction=0.02)
    cb.set_label(f"min LRE (gate: >= {gate:g})")
    ax.set_title(title, pad=40)
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


def _cls(v) -> str:
    if v.status == "unavailable":
        return "na"
    if v.status != "ok":
        return "err"
    if v.passed:
        return "pass"
    return "fail" if v.gated else "off"


def _fmt(x, spec=".3g") -> str:
    return "" if x is None else format(x, spec)


def _certified_html(out: RunOutcome) -> list[str]:
    """The section "Against certified values": summary table, heat map, per-case table."""
    e = html.escape
    info = out.certified or {}
    if not info.get("available") or not info.get("cases"):
        return [f"<p>{e(info.get('note', ''))}</p>"] if info.get("note") else []
    lo, kinds = info["lre_min"], info["kinds"]
    engines = [x for x in out.engines if x in info["table"]]
    parts = ["<h2>Against certified values</h2>",
             f"<p>{len(info['cases'])} cases have certified values in "
             f"<code>{e(info['store'])}</code>: 30 correct significant digits from an "
             "independent mpmath Newton refinement (two precisions), and for balanced one-way "
             "designs from the ANOVA closed form too (see the book, &ldquo;Certified "
             "values&rdquo;). Each cell: the smallest LRE, i.e. the number of correct digits "
             f"of the engine&rsquo;s answer. Gate: <code>{e(', '.join(info['gated_engines']) or 'none')}"
             f"</code> &ge; {lo:g} on every non-boundary case; the rest informative.</p>",
             "<p><b>Smallest LRE over the non-boundary certified cases</b></p>"
             "<table><tr><th class='l'>engine</th>"
             + "".join(f"<th>{e(k)}</th>" for k in kinds) + "<th>all</th></tr>"]
    for x in engines:
        m = info["min_non_boundary"].get(x, {})
        gated = x in info["gated_engines"]
        cells = []
        for k in list(kinds) + ["all"]:
            v = min(m.values()) if k == "all" and m else m.get(k)
            cls = "" if v is None else ("pass" if v >= lo else ("fail" if gated else "off"))
            cells.append(f"<td class='{cls}'>{_fmt(v, '.1f')}</td>")
        parts.append(f"<tr><td class='l'>{e(x)}{' (gated)' if gated else ''}</td>"
                     + "".join(cells) + "</tr>")
    parts.append("</table>")
    for k, why in (info.get("known_shortfalls") or {}).items():
        parts.append(f"<p><b>Known shortfall, shown but not gated:</b> {e(k)}: {e(why)}</p>")
    png = certified_heatmap_png(out)
    if png:
        parts.append("<img alt='certified LRE heat map' "
                     f"src='data:image/png;base64,{png}'>")
    parts.append("<p><b>Per case</b> (smallest LRE over all quantities)</p><table><tr>"
                 "<th class='l'>case</th><th>boundary</th><th>certified digits</th>"
                 "<th class='l'>second path</th>"
                 + "".join(f"<th>{e(x)}</th>" for x in engines) + "</tr>")
    for c in out.cases:
        ci = info["cases"].get(c.name)
        if ci is None:
            continue
        sp = (f"ANOVA closed form, agrees to {ci['second_path_min_agreement']} digits"
              if ci.get("second_path") else "")
        row = [f"<tr><td class='l'>{e(c.name)}</td>"
               f"<td>{'yes: ' + e(', '.join(ci['boundary_parameters'])) if ci['boundary'] else ''}</td>"
               f"<td>{ci['min_digits']}{' STALE' if ci['stale'] else ''}</td>"
               f"<td class='l'>{e(sp)}</td>"]
        for x in engines:
            ks = info["table"].get(x, {}).get(c.name)
            v = min(ks.values()) if ks else None
            gated = x in info["gated_engines"] and not ci["boundary"]
            cls = "" if v is None else ("pass" if v >= lo else ("fail" if gated else "off"))
            tip = e("; ".join(f"{k} {ks[k]:.1f}" for k in kinds if ks and k in ks))
            row.append(f"<td class='{cls}' title='{tip}'>{_fmt(v, '.1f')}</td>")
        parts.append("".join(row) + "</tr>")
    parts.append("</table>")
    return parts


def render(out: RunOutcome) -> str:
    from .report import cell

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
             "are informative (shown, never failing the run). Reference: "
             f"<code>{e(str(out.reference_info.get('path')))}</code>"
             + (f", lme4 {e(str(prov.get('versions', {}).get('lme4')))}, R "
                f"{e(str(prov.get('versions', {}).get('R')))}, generated "
                f"{e(str(prov.get('generated_utc')))}" if prov else
                f" &mdash; {e(str(out.reference_info.get('missing')))}") + ".</p>"]
    if not out.meta.get("audit_available"):
        parts.append(f"<p><b>Audit unavailable:</b> {e(out.meta.get('audit_note', ''))}</p>")
    elif out.meta.get("reference_audit"):
        parts.append(f"<p>Reference audit: {e(out.meta['reference_audit'])}.</p>")

    grid = {(v.engine, v.case): v for v in out.rows}
    parts.append("<h2>Summary</h2><p><small>Cell: smallest parameter LRE "
                 "(digits agreeing with the reference) and verdict. PASS/FAIL: gated; "
                 "ok/off: informative; n/a: engine unavailable; ERR: the fit failed."
                 "</small></p><table><tr><th class='l'>case</th>"
                 + "".join(f"<th>{e(x)}</th>" for x in out.engines) + "</tr>")
    for c in out.cases:
        parts.append(f"<tr><td class='l'>{e(c.name)}</td>")
        for x in out.engines:
            v = grid.get((x, c.name))
            if v is None:
                parts.append("<td></td>")
            else:
                tip = e("; ".join(v.reasons))
                parts.append(f"<td class='{_cls(v)}' title='{tip}'>{e(cell(v))}</td>")
        parts.append("</tr>")
    parts.append("</table>")

    for title, png in (("LRE heat map", heatmap_png(out)),
                       ("Log-likelihood differences", llf_png(out))):
        if png:
            parts.append(f"<h2>{title}</h2><img alt='{title}' "
                         f"src='data:image/png;base64,{png}'>")

    parts += _certified_html(out)

    parts.append("<h2>Rows</h2><table><tr><th class='l'>engine</th><th class='l'>case</th>"
                 "<th>status</th><th>gated</th><th>min LRE</th><th class='l'>worst</th>"
                 "<th>llf &minus; ref</th><th>audit stationary</th><th>scaled grad</th>"
                 "<th>time s</th><th class='l'>notes</th></tr>")
    for v in out.rows:
        parts.append(
            f"<tr class='{_cls(v)}'><td class='l'>{e(v.engine)}</td>"
            f"<td class='l'>{e(v.case)}</td><td>{e(v.status)}</td>"
            f"<td>{'yes' if v.gated else 'no'}</td><td>{_fmt(v.min_param_lre, '.1f')}</td>"
            f"<td class='l'>{e(v.worst_quantity or '')}</td><td>{_fmt(v.dllf, '+.3g')}</td>"
            f"<td>{'' if v.stationary is None else ('yes' if v.stationary else 'NO')}</td>"
            f"<td>{_fmt(v.scaled_gradient)}</td><td>{_fmt(v.time_s, '.2f')}</td>"
            f"<td class='l'>{'<br>'.join(e(r) for r in v.reasons)}</td></tr>")
    parts.append("</table>")

    parts.append("<h2>Cases</h2><table><tr><th class='l'>case</th><th class='l'>model "
                 "(statsmodels)</th><th class='l'>lme4</th><th class='l'>notes</th></tr>")
    for c in out.cases:
        d = c.describe()
        spec = d.get("spec", {})
        model = (f"{spec.get('formula')}; groups={spec.get('groups')}; re={spec.get('re_formula')}"
                 f"; vc={spec.get('vc_formula')}" if spec else d.get("unavailable", ""))
        flags = ", ".join(x for x, on in (("boundary", c.boundary),
                                          ("ill-conditioned: params informative",
                                           not c.well_conditioned)) if on)
        parts.append(f"<tr><td class='l'>{e(c.name)}</td><td class='l'><code>{e(model)}"
                     f"</code></td><td class='l'><code>{e(str(d.get('lme4_formula', '')))}"
                     f"</code></td><td class='l'>{e(c.description)} {e(flags)}</td></tr>")
    parts.append("</table>")
    parts.append("<p><small>Every number is in <code>validation.json</code> next to this "
                 "page. LRE = &minus;log10(|x&minus;c|/|c|), or &minus;log10|x&minus;c| "
                 f"when the reference c is 0; capped at {LRE_CAP:g}.</small></p>"
                 "</body></html>")
    return "\n".join(parts)
