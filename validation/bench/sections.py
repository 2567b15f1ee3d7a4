"""The benchmark's sections: each runs the engines on its data and returns rows.

* ``grouped`` -- ``y ~ x + (x | g)`` at ``--sizes`` groups through the array
  interfaces (refimpl also at ``--refimpl-sizes``), the same model through
  ``from_formula`` with string group labels (as a user calls it) at the target
  size, and dietox;
* ``crossed`` -- synthetic ``L1 x L2`` crossed designs, 5 rows per cell, and
  InstEval;
* ``nested`` -- schools x 5 classrooms x 10 pupils.

statsmodels is skipped at a size when its time at the previous size, scaled
by the section's cost model (linear in rows for grouped and nested designs;
cubic in the number of levels for crossed ones, which statsmodels fits as
one dense group), would exceed ``--statsmodels-limit`` seconds.
"""

from __future__ import annotations

import time

from . import data as D
from .timers import (engine_available, r_frame, r_frame_of, refimpl_formula, repeat_runs,
                     run_lme4, run_refimpl, run_statsmodels, skipped, statsmodels_formula,
                     summarize, traced_peak)

TARGET_SIZE = 10_000


def _projection(last, size, cost):
    """Projected statsmodels seconds at ``size`` from ``last = (size, seconds)``."""
    return None if last is None else last[1] * cost(size) / cost(last[0])


# --------------------------------------------------------------------------
# grouped
# --------------------------------------------------------------------------

def run_grouped(sizes, refimpl_sizes, engines, repeats, budget, sm_limit, dietox=True,
                log=print):
    rows = []
    unavailable = {e: engine_available(e) for e in engines}
    runners = {"refimpl": run_refimpl, "statsmodels": run_statsmodels, "lme4": run_lme4}
    live = [e for e in engines if unavailable[e] is None]

    warm = D.simulate(50)                        # imports, R's lazy loading: not timed
    for e in live:
        runners[e](warm)

    sm_last = None
    for G in sorted(set(sizes) | set(refimpl_sizes)):
        data = D.simulate(G)
        n, in_b = len(data["y"]), D.input_bytes(data)
        for e in engines:
            if unavailable[e] is not None:
                rows.append(skipped("sim", G, n, e, f"unavailable: {unavailable[e]}"))
                continue
            if G not in sizes and e != "refimpl":
                continue
            if e == "statsmodels":
                projected = _projection(sm_last, G, float)
                if projected is not None and projected > sm_limit:
                    rows.append(skipped("sim", G, n, e, f"projected {projected:.0f} s > "
                                                        f"{sm_limit:.0f} s (linear from "
                                                        f"{sm_last[0]} groups)"))
                    log(f"  {e:<12} {G:>9} groups: skipped (projected {projected:.0f} s)")
                    continue
            if e == "lme4":
                t0 = time.perf_counter()
                rdf = r_frame(data)
                conv = time.perf_counter() - t0
                runs = repeat_runs(lambda: run_lme4(data, rdf=rdf), repeats, budget)
                for r in runs:
                    r["conversion_s"] = conv
                row = summarize("sim", G, n, e, runs, in_bytes=in_b)
                del rdf
            else:
                runs = repeat_runs(lambda: runners[e](data), repeats, budget)
                peak = traced_peak(lambda: runners[e](data))
                row = summarize("sim", G, n, e, runs, peak=peak, in_bytes=in_b)
            if e == "statsmodels":
                sm_last = (G, row["median_s"])
            rows.append(row)
            log(f"  {e:<12} {G:>9} groups: median {row['median_s']:.3f} s over {row['runs']} "
                f"run(s), llf {row['llf']:.6f}")
        if G in sizes and G == (TARGET_SIZE if TARGET_SIZE in sizes else max(sizes)):
            if "refimpl" in live:  # lme4's time is the sim row's: same data, same model
                rows += _grouped_formula(data, G, ["refimpl"], repeats, budget, log)
        del data

    if dietox:
        rows += _dietox(engines, unavailable, repeats, budget, log)
    return rows


def _grouped_formula(data, G, engines, repeats, budget, log):
    """``from_formula("y ~ x", df, groups="g", re_formula="~x")`` with string labels."""
    df = D.grouped_frame(data)
    fc = D.FormulaCase("from_formula, string labels", df,
                       dict(formula="y ~ x", groups="g", re_formula="~x", vc_formula=None),
                       "y ~ x + (x | g)", ("g",))
    return _run_formula_cells("sim_formula", G, fc, engines, repeats, budget, None, None, log)


def _dietox(engines, unavailable, repeats, budget, log):
    from refimpl import datasets

    df = datasets.load("dietox")
    fc = D.FormulaCase("dietox", df, dict(formula="Weight ~ Time", groups="Pig",
                                          re_formula="~Time", vc_formula=None),
                       "Weight ~ Time + (Time | Pig)", ("Pig",))
    rows = []
    for e in engines:
        if unavailable[e] is not None:
            rows.append(skipped("dietox", int(df["Pig"].nunique()), len(df), e,
                                f"unavailable: {unavailable[e]}"))
            continue
        rows += _run_formula_cells("dietox", int(df["Pig"].nunique()), fc, [e], repeats,
                                   budget, None, None, log, lme4_cols=["Weight", "Time"])
    return rows


# --------------------------------------------------------------------------
# formula designs: crossed and nested
# --------------------------------------------------------------------------

def _run_formula_cells(case, key, fc, engines, repeats, budget, sm_skip, in_bytes, log,
                       lme4_cols=None):
    """Rows of the engines on one FormulaCase (statsmodels skipped with ``sm_skip`` as reason)."""
    rows = []
    in_b = in_bytes if in_bytes is not None else D.frame_bytes(fc.data)
    for e in engines:
        if e == "statsmodels" and sm_skip:
            rows.append(skipped(case, key, fc.n_rows, e, sm_skip, label=fc.label))
            log(f"  {e:<12} {fc.label}: skipped ({sm_skip})")
            continue
        if e == "lme4":
            if lme4_cols is not None:  # dietox: its own columns
                from .. import rbridge

                t0 = time.perf_counter()
                d = fc.data[lme4_cols + list(fc.factors)].copy()
                for f in fc.factors:
                    d[f] = d[f].astype(str).astype("category")
                rdf = rbridge.to_r_dataframe(d)
                conv = time.perf_counter() - t0
            else:
                conv, rdf = r_frame_of(fc)
            runs = repeat_runs(lambda: run_lme4(None, rdf=rdf, formula=fc.lme4_formula),
                               repeats, budget)
            for r in runs:
                r["conversion_s"] = conv
            row = summarize(case, key, fc.n_rows, e, runs, in_bytes=in_b, label=fc.label)
            del rdf
        else:
            fn = {"refimpl": refimpl_formula, "statsmodels": statsmodels_formula}[e]
            runs = repeat_runs(lambda: fn(fc), repeats, budget)
            peak = traced_peak(lambda: fn(fc))
            row = summarize(case, key, fc.n_rows, e, runs, peak=peak, in_bytes=in_b,
                            label=fc.label)
        rows.append(row)
        log(f"  {e:<12} {fc.label}: median {row['median_s']:.3f} s over {row['runs']} run(s), "
            f"llf {row['llf']:.6f}")
    return rows


def _warm_up(fc, engines, unavailable):
    """One untimed fit per engine on a tiny design of the section (imports, lazy loading)."""
    for e in engines:
        if unavailable[e] is None:
            _run_formula_cells("warm-up", 0, fc, [e], 1, 0.0, None, None, lambda *a: None)


def _run_designs(case, designs, engines, repeats, budget, sm_limit, cost, log, warm=None):
    """Every engine on each ``(key, make FormulaCase)`` of a section, statsmodels projected."""
    rows, sm_last = [], None
    unavailable = {e: engine_available(e) for e in engines}
    if warm is not None:
        _warm_up(warm(), engines, unavailable)
    for key, make in designs:
        fc = make()
        live = []
        for e in engines:
            if unavailable[e] is not None:
                rows.append(skipped(case, key, fc.n_rows, e, f"unavailable: {unavailable[e]}",
                                    label=fc.label))
            else:
                live.append(e)
        projected = _projection(sm_last, key, cost)
        sm_skip = (f"projected {projected:.0f} s > {sm_limit:.0f} s (from {sm_last[0]})"
                   if projected is not None and projected > sm_limit else None)
        new = _run_formula_cells(case, key, fc, live, repeats, budget, sm_skip, None, log)
        for r in new:
            if r["engine"] == "statsmodels" and r["status"] == "ok":
                sm_last = (key, r["median_s"])
        rows += new
        del fc
    return rows


def run_crossed(sizes, engines, repeats, budget, sm_limit, insteval=True, log=print):
    """Synthetic ``L1 x L2`` crossed designs (key: total levels L1 + L2), then InstEval."""
    designs = [(L1 + L2, (lambda L1=L1, L2=L2: D.crossed_case(L1, L2))) for L1, L2 in sizes]
    rows = _run_designs("crossed", designs, engines, repeats, budget, sm_limit,
                        lambda levels: float(levels) ** 3, log, warm=lambda: D.crossed_case(6, 4))
    if insteval:
        # statsmodels on 4,114 levels in one dense group: hours; not attempted
        ie = [e for e in engines if e != "statsmodels"]
        rows += _run_designs("InstEval", [(4114, D.insteval_case)], ie, repeats, budget,
                             sm_limit, float, log)
        if "statsmodels" in engines:
            rows.append(skipped("InstEval", 4114, 73421, "statsmodels",
                                "not attempted: one dense group of 4,114 levels", "InstEval"))
    return rows


def run_nested(sizes, engines, repeats, budget, sm_limit, log=print):
    """Schools x 5 classrooms x 10 pupils (key: schools)."""
    designs = [(S, (lambda S=S: D.nested_case(S))) for S in sizes]
    return _run_designs("nested", designs, engines, repeats, budget, sm_limit, float, log,
                        warm=lambda: D.nested_case(5))
