"""Ratios, the PASS/MISS targets, the markdown table and the log-log plot."""

from __future__ import annotations

from .data import ROWS_PER_GROUP, SEED

# Targets (checked, printed, stored; never the exit status: timings depend on the machine).
TARGET_SIZE = 10_000
TARGET_LME4_SPEEDUP = 4.0          # refimpl at least 4x faster than lme4 at TARGET_SIZE
TARGET_SM_SPEEDUP = 50.0           # ... and 50x faster than statsmodels' default fit
TARGET_LLF_SLACK = 1e-6            # refimpl's llf >= lme4's - 1e-6
TARGET_LINEAR = 12.0               # time(10 x TARGET_SIZE) / time(TARGET_SIZE) <= 12
TARGET_BIG = 1_000_000             # refimpl fits 1e6 groups ...
TARGET_MEMORY = 3.0                # ... with peak memory < 3 x the input arrays
TARGET_FORMULA_SPEEDUP = 10.0      # from_formula, string labels, TARGET_SIZE groups, vs lme4
TARGET_CROSSED = ((100, 60), (200, 100), (1000, 500))
TARGET_CROSSED_SPEEDUP = 4.0       # at each TARGET_CROSSED size
TARGET_INSTEVAL_SPEEDUP = 5.0
TARGET_INSTEVAL_MEMORY = 2 ** 30   # bytes (1 GB)
TARGET_NESTED = 10_000             # schools
TARGET_NESTED_SPEEDUP = 5.0

SECTION_CASES = {"grouped": ("sim", "sim_formula", "dietox"), "crossed": ("crossed", "InstEval"),
                 "nested": ("nested",)}
CASE_ORDER = [c for cases in SECTION_CASES.values() for c in cases]


def _get(rows, case, G, engine):
    for r in rows:
        if r["case"] == case and r["n_groups"] == G and r["engine"] == engine and r["status"] == "ok":
            return r
    return None


def comparisons(rows):
    """Per (case, size): refimpl / lme4 and refimpl / statsmodels time ratios, llf differences.

    ``sim_formula`` (refimpl's from_formula) is compared with lme4's fit of the
    same data in the ``sim`` rows.
    """
    out = []
    keys = sorted({(r["case"], r["n_groups"]) for r in rows},
                  key=lambda k: (CASE_ORDER.index(k[0]) if k[0] in CASE_ORDER else 99, k[1]))
    for case, G in keys:
        ref = _get(rows, case, G, "refimpl")
        if ref is None:
            continue
        lme = _get(rows, case, G, "lme4") or (_get(rows, "sim", G, "lme4")
                                              if case == "sim_formula" else None)
        sm = _get(rows, case, G, "statsmodels")
        c = dict(case=case, n_groups=G, refimpl_s=ref["median_s"])
        if "label" in ref:
            c["label"] = ref["label"]
        if lme:
            c.update(lme4_s=lme["median_s"], refimpl_over_lme4=ref["median_s"] / lme["median_s"],
                     llf_refimpl_minus_lme4=ref["llf"] - lme["llf"])
        if sm:
            c.update(statsmodels_s=sm["median_s"],
                     refimpl_over_statsmodels=ref["median_s"] / sm["median_s"],
                     llf_refimpl_minus_statsmodels=ref["llf"] - sm["llf"])
        if ref.get("peak_bytes") and ref.get("input_bytes"):
            c["refimpl_peak_over_input"] = ref["peak_bytes"] / ref["input_bytes"]
        out.append(c)
    return out


def check_targets(rows, comps, sections=("grouped",)):
    def comp(case, G):
        return next((c for c in comps if c["case"] == case and c["n_groups"] == G), {})

    t = []

    def target(name, value, ok, need):
        t.append(dict(target=name, value=value, need=need,
                      status="n/a" if value is None else ("PASS" if ok else "MISS")))

    def speedup(name, c, need):
        r = c.get("refimpl_over_lme4")
        target(name, None if r is None else 1 / r, r is not None and 1 / r >= need,
               f">= {need:g}x")

    if "grouped" in sections:
        c = comp("sim", TARGET_SIZE)
        speedup(f"{TARGET_SIZE} groups: refimpl faster than lme4", c, TARGET_LME4_SPEEDUP)
        r = c.get("refimpl_over_statsmodels")
        target(f"{TARGET_SIZE} groups: refimpl faster than statsmodels",
               None if r is None else 1 / r,
               r is not None and 1 / r >= TARGET_SM_SPEEDUP, f">= {TARGET_SM_SPEEDUP:g}x")
        d = c.get("llf_refimpl_minus_lme4")
        target(f"{TARGET_SIZE} groups: llf refimpl - lme4", d,
               d is not None and d >= -TARGET_LLF_SLACK, f">= -{TARGET_LLF_SLACK:g}")
        a, b = _get(rows, "sim", TARGET_SIZE, "refimpl"), _get(rows, "sim", 10 * TARGET_SIZE, "refimpl")
        ratio = b["median_s"] / a["median_s"] if a and b else None
        target(f"linear cost: time({10 * TARGET_SIZE}) / time({TARGET_SIZE})", ratio,
               ratio is not None and ratio <= TARGET_LINEAR, f"<= {TARGET_LINEAR:g}")
        big = _get(rows, "sim", TARGET_BIG, "refimpl")
        mem = big["peak_bytes"] / big["input_bytes"] if big and big.get("peak_bytes") else None
        target(f"{TARGET_BIG} groups fit: peak memory / input arrays", mem,
               mem is not None and big["converged"] and mem < TARGET_MEMORY,
               f"< {TARGET_MEMORY:g} (and converged)")
        speedup(f"{TARGET_SIZE} groups, from_formula with string labels: refimpl faster than lme4",
                comp("sim_formula", TARGET_SIZE), TARGET_FORMULA_SPEEDUP)
    if "crossed" in sections:
        for L1, L2 in TARGET_CROSSED:
            speedup(f"crossed {L1}x{L2}: refimpl faster than lme4", comp("crossed", L1 + L2),
                    TARGET_CROSSED_SPEEDUP)
        c = comp("InstEval", 4114)
        speedup("InstEval REML: refimpl faster than lme4", c, TARGET_INSTEVAL_SPEEDUP)
        d = c.get("llf_refimpl_minus_lme4")
        target("InstEval: llf refimpl - lme4", d, d is not None and d >= -TARGET_LLF_SLACK,
               f">= -{TARGET_LLF_SLACK:g}")
        ie = _get(rows, "InstEval", 4114, "refimpl")
        peak = ie.get("peak_bytes") if ie else None
        target("InstEval: refimpl peak memory (GB)", None if peak is None else peak / 2 ** 30,
               peak is not None and peak < TARGET_INSTEVAL_MEMORY, "< 1")
    if "nested" in sections:
        speedup(f"nested {TARGET_NESTED} schools: refimpl faster than lme4",
                comp("nested", TARGET_NESTED), TARGET_NESTED_SPEEDUP)
    return t


def _fmt_t(s):
    if s is None:
        return "-"
    return f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s"


def _fmt_mb(b):
    return "-" if b is None else f"{b / 2 ** 20:.1f} MB"


def _fmt_x(v):
    return "-" if v is None else f"{v:.3g}"


def _cell(rows, c, engine, key):
    row = next((r for r in rows if r["case"] == c["case"] and r["n_groups"] == c["n_groups"]
                and r["engine"] == engine), None)
    if row is None:
        return "not run" if c.get(key) is None else _fmt_t(c.get(key))
    return _fmt_t(c.get(key)) if row["status"] == "ok" else "skipped"


def markdown(result):
    rows, comps, targets = result["rows"], result["comparisons"], result["targets"]
    out = ["# Benchmark: refimpl vs statsmodels vs lme4", "",
           f"{result['meta']['date']}, {result['meta']['machine']}; REML throughout. Sections: "
           f"{', '.join(result['meta'].get('sections', ['grouped']))}.",
           f"grouped: `y ~ x + (x | g)`, {ROWS_PER_GROUP} rows per group (seed {SEED}), through "
           "the array interfaces (`sim`) and through `from_formula` with string group labels "
           "(`sim_formula`, compared with lme4's `sim` time), and dietox `Weight ~ Time + (Time | Pig)`; "
           "crossed: `y ~ x + (1 | a) + (1 | b)` on L1 x L2 levels with 5 rows per cell, and "
           "InstEval `y ~ 1 + (1 | s) + (1 | d) + (1 | dept)`; nested: "
           "`y ~ x + (1 | school/classroom)`, 5 classrooms of 10 pupils per school.",
           "Time = median over the runs: refimpl and statsmodels build + fit; "
           "lme4 `lmer` inside R (`system.time`), the conversion to R shown apart.", "",
           "## Fit time and ratios", "",
           "| data | size | refimpl | lme4 (in R) | statsmodels | refimpl / lme4 | refimpl / statsmodels "
           "| llf refimpl - lme4 | llf refimpl - statsmodels |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for c in comps:
        d1, d2 = c.get("llf_refimpl_minus_lme4"), c.get("llf_refimpl_minus_statsmodels")
        out.append(f"| {c['case']} | {c.get('label', c['n_groups'])} | {_fmt_t(c['refimpl_s'])} "
                   f"| {_cell(rows, c, 'lme4', 'lme4_s')} | {_cell(rows, c, 'statsmodels', 'statsmodels_s')} "
                   f"| {_fmt_x(c.get('refimpl_over_lme4'))} | {_fmt_x(c.get('refimpl_over_statsmodels'))} "
                   f"| {'-' if d1 is None else f'{d1:.2e}'} | {'-' if d2 is None else f'{d2:.2e}'} |")
    out += ["", "## Every run", "",
            "| data | size | rows | engine | runs | median | build | fit | R conversion | llf | converged "
            "| peak memory | peak / input |",
            "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---|---:|---:|"]
    for r in rows:
        size = r.get("label", r["n_groups"])
        if r["status"] != "ok":
            out.append(f"| {r['case']} | {size} | {r['n_rows']} | {r['engine']} | - | "
                       f"{r['status']}: {r['reason']} | | | | | | | |")
            continue
        ratio = (r["peak_bytes"] / r["input_bytes"]) if r.get("peak_bytes") and r.get("input_bytes") else None
        out.append(f"| {r['case']} | {size} | {r['n_rows']} | {r['engine']} | {r['runs']} "
                   f"| {_fmt_t(r['median_s'])} | {_fmt_t(r.get('build_s'))} | {_fmt_t(r.get('fit_s'))} "
                   f"| {_fmt_t(r.get('conversion_s'))} | {r['llf']:.6f} | {r['converged']} "
                   f"| {_fmt_mb(r.get('peak_bytes'))} | {_fmt_x(ratio)} |")
    out += ["", "Peak memory: refimpl and statsmodels, tracemalloc's peak during build + fit "
            "(numpy arrays included, the input excluded: it exists before); 'peak / input' "
            "divides it by the bytes of the input (y, X, Z and the group codes; or the "
            "DataFrame, strings included). lme4: R's gc() max used minus used before the fit "
            "(R's heap only).", "", "## Targets", "",
            "| target | value | needed | status |", "|---|---:|---|---|"]
    for t in targets:
        out.append(f"| {t['target']} | {_fmt_x(t['value'])} | {t['need']} | {t['status']} |")
    out += ["", f"Reproduce: `{result['meta']['command']}`", ""]
    return "\n".join(out)


def plot(result, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(case, title, xlabel) for case, title, xlabel in (
        ("sim", "grouped: y ~ x + (x | g)", "groups (10 rows each)"),
        ("crossed", "crossed: (1 | a) + (1 | b)", "levels L1 + L2 (5 rows per cell)"),
        ("nested", "nested: (1 | school/classroom)", "schools (50 rows each)"))
        if any(r["case"] == case and r["status"] == "ok" for r in result["rows"])] or [
        ("sim", "grouped: y ~ x + (x | g)", "groups (10 rows each)")]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.2), squeeze=False)
    styles = {"refimpl": "o-", "lme4": "s-", "statsmodels": "^-"}
    for ax, (case, title, xlabel) in zip(axes[0], panels):
        for e in ("refimpl", "statsmodels", "lme4"):
            pts = sorted((r["n_groups"], r["median_s"]) for r in result["rows"]
                         if r["case"] == case and r["engine"] == e and r["status"] == "ok")
            if pts:
                ax.loglog(*zip(*pts), styles[e], label={"lme4": "lme4 (time inside R)"}.get(e, e))
        ax.set_xlabel(xlabel)
        ax.set_ylabel("median build + fit time (s)")
        ax.set_title(f"REML fit, {title}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
