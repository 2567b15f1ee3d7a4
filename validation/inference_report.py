"""The "Inference" section of the reports: a Markdown table (terminal) and HTML.

Formats what ``inference_grading.section`` computed; no numbers are made here.
One row per case and engine, one column per quantity family
(``inference_cases.FAMILIES``), each cell the smallest LRE over the family's
quantities; then, per R row, the digits measured and why R cannot do better.
"""

from __future__ import annotations

import html

from .inference_cases import FAMILIES

__all__ = ["markdown", "html_parts"]

_HEAD = {"profile": "profile", "satt_df": "Satt df", "satt_p": "Satt p", "satt_F": "Satt F",
         "kr_df": "KR df", "kr_F": "KR F/p"}


def _cell(v) -> str:
    return "-" if v is None else f"{v:.1f}"


def _verdict(r: dict) -> str:
    if r["status"] != "ok":
        return f"{r['status']}"
    if r["passed"] is None:
        return "info"
    return ("PASS" if r["passed"] else "FAIL") + ("" if r["gated"] else " (not gated)")


def markdown(info: dict) -> str:
    """The section as Markdown text (also what the terminal shows)."""
    if not info.get("available"):
        return f"Inference: {info.get('note', 'not run')}\n"
    fams = list(FAMILIES)
    lines = [f"Inference: digits (LRE) against the stored references "
             f"({info['reference_dir']}), smallest per family; refimpl needs "
             f">= {info['gate']:g} on every quantity"
             + (" (gated)" if info["gated"] else " (not gated in this run)") + ".", "",
             "| case | engine | " + " | ".join(_HEAD[f] for f in fams) + " | min | verdict | s |",
             "|---|---|" + "---:|" * len(fams) + "---:|---|---:|"]
    for r in info["rows"]:
        fam = r.get("families", {})
        secs = "" if r.get("seconds") is None else f"{r['seconds']:.1f}"
        if r["status"] != "ok":
            why = (r.get("error") or "").replace("|", "/").replace("\n", " ")[:90]
            lines.append(f"| {r['case']} | {r['engine']} | " + " | ".join("" for _ in fams)
                         + f" | - | {r['status']}: {why} | {secs} |")
            continue
        lines.append(f"| {r['case']} | {r['engine']} | "
                     + " | ".join(_cell(fam.get(f)) for f in fams)
                     + f" | {_cell(r.get('min_lre'))} | {_verdict(r)} | {secs} |")
    lines.append("")
    if info.get("r_note"):
        lines.append(info["r_note"])
    for label, digits in info.get("r_digits", {}).items():
        got = ", ".join(f"{_HEAD[f]} {v:.1f}" for f, v in digits.items())
        lines.append(f"- {label}: {got} digits here. {info['r_numerics'].get(label, '')}.")
    for key, c in info["cases"].items():
        if c.get("problem"):
            lines.append(f"- {key}: {c['problem']}")
    lines.append(f"Inference: {info['summary']}" + (
        f" ({info['seconds']:.0f} s)" if info.get("seconds") is not None else ""))
    for f in info.get("failures", []):
        lines.append(f"  FAILED {f}")
    return "\n".join(lines) + "\n"


def html_parts(info: dict) -> list[str]:
    e = html.escape
    if not info.get("available"):
        return [f"<h2>Inference</h2><p>{e(info.get('note', 'not run'))}</p>"]
    fams = list(FAMILIES)
    parts = ["<h2>Inference: profile intervals, Satterthwaite and Kenward-Roger tests</h2>",
             f"<p>Digits (LRE) of each engine's value against stored references: refimpl's "
             f"analytic values at tight tolerances (<code>{e(info['reference_dir'])}</code>, "
             "confirmed independently as listed below). Each cell is the smallest LRE over the "
             f"quantities of the column. refimpl (default tolerances) must reach "
             f"{info['gate']:g} on every quantity"
             + ("" if info["gated"] else " (not gated in this run)") + "; the R rows are "
             "informative: their digits are limited by R's numerics.</p>",
             "<table><tr><th class='l'>case</th><th class='l'>engine</th>"
             + "".join(f"<th title='{e(FAMILIES[f])}'>{e(_HEAD[f])}</th>" for f in fams)
             + "<th>min</th><th>verdict</th><th>s</th></tr>"]
    for r in info["rows"]:
        fam = r.get("families", {})
        if r["status"] != "ok":
            parts.append(f"<tr><td class='l'>{e(r['case'])}</td><td class='l'>{e(r['engine'])}"
                         f"</td><td colspan={len(fams) + 1} class='wrap'>{e(str(r.get('error')))}"
                         f"</td><td>{e(r['status'])}</td><td></td></tr>")
            continue
        cells = []
        for f in fams:
            v = fam.get(f)
            if v is None:
                cells.append("<td class='na'>-</td>")
                continue
            ok = v >= info["gate"]
            cls = ("pass" if ok else "fail") if r["gated"] else ("info-ok" if ok else "info-low")
            cells.append(f"<td class='{cls}'>{v:.1f}</td>")
        worst = sorted(r["quantities"].items(), key=lambda kv: kv[1]["lre"])[:3]
        tip = e("; ".join(f"{q}: {v['value']!r} vs {v['reference']!r} ({v['lre']:.1f})"
                          for q, v in worst))
        secs = "" if r.get("seconds") is None else f"{r['seconds']:.1f}"
        parts.append(f"<tr title='{tip}'><td class='l'>{e(r['case'])}</td>"
                     f"<td class='l'>{e(r['engine'])}</td>" + "".join(cells)
                     + f"<td>{_cell(r.get('min_lre'))}</td><td>{e(_verdict(r))}</td>"
                       f"<td class='num'>{secs}</td></tr>")
    parts.append("</table><ul>")
    if info.get("r_note"):
        parts.append(f"<li>{e(info['r_note'])}</li>")
    for label, digits in info.get("r_digits", {}).items():
        got = ", ".join(f"{_HEAD[f]} {v:.1f}" for f, v in digits.items())
        parts.append(f"<li><b>{e(label)}</b>: {e(got)} digits here. "
                     f"{e(info['r_numerics'].get(label, ''))}.</li>")
    for key, c in info["cases"].items():
        parts.append(f"<li><b>{e(key)}</b>: {e(c['description'])}. Independent check: "
                     f"{e(str(c.get('independent_check')))}"
                     + (f". <b>{e(c['problem'])}</b>" if c.get("problem") else "") + "</li>")
    parts.append(f"</ul><p><b>{e(info['summary'])}</b></p>")
    return parts
