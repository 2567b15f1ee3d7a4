"""Benchmark: refimpl, statsmodels and lme4 side by side, on the same data (issue #8).

    python -m validation bench [--sizes 1000 10000 100000] [--refimpl-sizes 1000000]
                               [--engines refimpl statsmodels lme4] [--repeats 5]
                               [--budget 30] [--statsmodels-limit 60] [--no-dietox]
                               [--out reports/bench] [--quick]

What is timed: full REML fits of a random intercept and a correlated random
slope, ``y ~ x + (x | g)``, on simulated data with 10 rows per group
(:func:`simulate`, seeded: every engine sees the same numbers), for each size
in ``--sizes`` groups, plus refimpl alone at ``--refimpl-sizes``, plus dietox
(``Weight ~ Time + (Time | Pig)``).

* refimpl: ``refimpl.MixedLM(y, X, groups, exog_re=Z).fit()`` (the default
  method); the time is model build + fit, both also reported on their own.
* statsmodels: ``statsmodels.MixedLM(y, X, groups, exog_re=Z).fit()`` (its
  default), build + fit. A size is skipped when the previous size's time,
  scaled linearly, would exceed ``--statsmodels-limit`` seconds; the table says so.
* lme4: ``lmer(y ~ x + (x | g), REML = TRUE)`` with lme4's default control,
  timed by R's ``system.time`` once the data is already an R data.frame; the
  conversion from numpy (``conversion_s``) and R's start-up are not in it.

Each (engine, size) is run up to ``--repeats`` times, stopping early once the
runs so far took ``--budget`` seconds (at least one run); the table gives the
median and the number of runs. One untimed warm-up fit per engine comes first
(imports, R's lazy loading).

Peak memory. Python engines: the peak of memory allocated (numpy arrays
included) during model build + fit, from ``tracemalloc``, in one extra,
untimed run; it excludes the input arrays, which exist before the fit starts,
and it is compared with their size (y, X, Z and the group codes).
lme4: R's ``gc()`` "max used" minus "used" before the fit (R's heap only;
memory that lme4's C++ code allocates outside R's heap is not counted).

Output in ``--out``: ``bench.json`` (every number), ``bench.md`` (the tables,
also printed) and ``bench.png`` (log-log fit time against groups, one line per
engine). The targets of issue #8 are checked and printed as PASS / MISS /
n/a; they never change the exit status (timings depend on the machine).
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "reports" / "bench"

ROWS_PER_GROUP = 10
FE_PARAMS = (1.0, 0.5)
COV_RE = ((1.0, 0.3), (0.3, 0.5))
SCALE = 1.0
SEED = 0
ENGINES = ("refimpl", "statsmodels", "lme4")

# Targets of issue #8 (checked, printed, stored; never the exit status).
TARGET_SIZE = 10_000
TARGET_LME4_SPEEDUP = 4.0          # refimpl at least 4x faster than lme4 at TARGET_SIZE
TARGET_SM_SPEEDUP = 50.0           # ... and 50x faster than statsmodels' default fit
TARGET_LLF_SLACK = 1e-6            # refimpl's llf >= lme4's - 1e-6
TARGET_LINEAR = 12.0               # time(10 x TARGET_SIZE) / time(TARGET_SIZE) <= 12
TARGET_BIG = 1_000_000             # refimpl fits 1e6 groups ...
TARGET_MEMORY = 3.0                # ... with peak memory < 3 x the input arrays

QUICK = dict(sizes=[50, 200], refimpl_sizes=[1000], repeats=2, budget=10.0)


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------

def simulate(n_groups, rows_per_group=ROWS_PER_GROUP, seed=SEED):
    """y = X beta + Z b_g + e with X = Z = [1, x]: the benchmark's data (a dict of arrays).

    x ~ N(0, 1) per row, b_g ~ N(0, COV_RE) per group, e ~ N(0, SCALE); groups
    are the integer codes 0..G-1, rows ordered by group.
    """
    rng = np.random.default_rng(seed)
    n = n_groups * rows_per_group
    x = rng.standard_normal(n)
    b = rng.multivariate_normal(np.zeros(2), np.array(COV_RE), size=n_groups)
    g = np.repeat(np.arange(n_groups), rows_per_group)
    y = FE_PARAMS[0] + FE_PARAMS[1] * x + b[g, 0] + b[g, 1] * x + np.sqrt(SCALE) * rng.standard_normal(n)
    X = np.column_stack([np.ones(n), x])
    return dict(y=y, X=X, Z=X.copy(), g=g, x=x)


def input_bytes(data):
    """Bytes of the arrays every engine is given: y, X, Z and the group codes."""
    return int(sum(data[k].nbytes for k in ("y", "X", "Z", "g")))


# --------------------------------------------------------------------------
# Engines: each returns one run as a dict (time_s, llf, converged, ...)
# --------------------------------------------------------------------------

def timed_fit(build):
    """Time ``build()`` (returns a model) and its default ``fit()``: one run as a dict."""
    t0 = time.perf_counter()
    model = build()
    t1 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = model.fit()
    t2 = time.perf_counter()
    return dict(time_s=t2 - t0, build_s=t1 - t0, fit_s=t2 - t1, llf=float(res.llf),
                converged=bool(res.converged))


def run_refimpl(data):
    from refimpl.model import MixedLM

    return timed_fit(lambda: MixedLM(data["y"], data["X"], groups=data["g"], exog_re=data["Z"]))


def run_statsmodels(data):
    import statsmodels.api as sm

    return timed_fit(lambda: sm.MixedLM(data["y"], data["X"], data["g"], exog_re=data["Z"]))


_R_LMER = r"""
function(d, formula) {
  invisible(gc(reset = TRUE))
  before <- gc()
  tm <- system.time(fit <- lme4::lmer(stats::as.formula(formula), data = d, REML = TRUE),
                    gcFirst = FALSE)[["elapsed"]]
  after <- gc()
  # cells -> bytes: a cons cell (Ncells) is 56 bytes, a vector cell (Vcells) 8
  peak <- sum((after[, "max used"] - before[, "used"]) * c(56, 8))
  msgs <- as.character(fit@optinfo$conv$lme4$messages)
  list(time = tm, llf = as.numeric(stats::logLik(fit)), peak = peak,
       converged = length(msgs) == 0, messages = msgs)
}
"""


def _r_frame(data):
    """An R data.frame(y, x, g = factor(g)) straight from the numpy buffers."""
    import rpy2.rinterface as ri

    from . import rbridge

    ro = rbridge.require_r(["lme4"])
    y = ri.FloatSexpVector.from_memoryview(memoryview(np.ascontiguousarray(data["y"], float)))
    x = ri.FloatSexpVector.from_memoryview(memoryview(np.ascontiguousarray(data["x"], float)))
    g = ri.IntSexpVector.from_memoryview(memoryview(np.ascontiguousarray(data["g"], np.int32)))
    return ro.r("function(y, x, g) data.frame(y = y, x = x, g = factor(g))")(y, x, g)


def run_lme4(data, rdf=None, formula="y ~ x + (x | g)"):
    from . import rbridge

    conv = 0.0
    if rdf is None:
        t0 = time.perf_counter()
        rdf = _r_frame(data)
        conv = time.perf_counter() - t0
    out = rbridge.call(_R_LMER, rdf, formula).value
    return dict(time_s=float(out.rx2("time")[0]), llf=float(out.rx2("llf")[0]),
                converged=bool(out.rx2("converged")[0]), peak_bytes=float(out.rx2("peak")[0]),
                conversion_s=conv, messages=[str(m) for m in out.rx2("messages")])


def traced_peak(fn):
    """Peak bytes allocated while fn() runs (tracemalloc; numpy reports its arrays to it)."""
    tracemalloc.start()
    try:
        fn()
        return int(tracemalloc.get_traced_memory()[1])
    finally:
        tracemalloc.stop()


# --------------------------------------------------------------------------
# dietox: the same three engines on a real data set (formula interfaces)
# --------------------------------------------------------------------------

def dietox_runners():
    from refimpl import datasets

    df = datasets.load("dietox")

    def refimpl_fit():
        from refimpl.model import MixedLM

        return timed_fit(lambda: MixedLM.from_formula("Weight ~ Time", df, groups="Pig",
                                                      re_formula="~Time"))

    def statsmodels_fit():
        import statsmodels.formula.api as smf

        return timed_fit(lambda: smf.mixedlm("Weight ~ Time", df, groups="Pig", re_formula="~Time"))

    state = {}

    def lme4_fit():
        from . import rbridge

        conv = 0.0
        if "rdf" not in state:
            t0 = time.perf_counter()
            d = df[["Weight", "Time", "Pig"]].copy()
            d["Pig"] = d["Pig"].astype(str).astype("category")
            state["rdf"] = rbridge.to_r_dataframe(d)
            conv = time.perf_counter() - t0
        r = run_lme4(None, rdf=state["rdf"], formula="Weight ~ Time + (Time | Pig)")
        r["conversion_s"] = conv
        return r

    return df, {"refimpl": refimpl_fit, "statsmodels": statsmodels_fit, "lme4": lme4_fit}


# --------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------

def repeat_runs(fn, repeats, budget):
    """Up to ``repeats`` runs of fn, stopping once they took ``budget`` seconds (>= 1 run)."""
    runs, spent = [], 0.0
    while len(runs) < repeats:
        t0 = time.perf_counter()
        runs.append(fn())
        spent += time.perf_counter() - t0
        if spent >= budget:
            break
    return runs


def summarize(case, n_groups, n_rows, engine, runs, peak=None, in_bytes=None):
    times = [r["time_s"] for r in runs]
    row = dict(case=case, n_groups=n_groups, n_rows=n_rows, engine=engine, status="ok",
               runs=len(runs), times_s=times, median_s=statistics.median(times),
               llf=runs[-1]["llf"], converged=runs[-1]["converged"])
    for k in ("build_s", "fit_s", "conversion_s"):
        if k in runs[-1]:
            row[k] = statistics.median(r[k] for r in runs) if k != "conversion_s" else runs[0][k]
    row["peak_bytes"] = peak if peak is not None else runs[-1].get("peak_bytes")
    row["peak_what"] = ("R gc() max used - used before (R heap)" if engine == "lme4"
                        else "tracemalloc peak of build + fit (extra untimed run)")
    if in_bytes is not None:
        row["input_bytes"] = in_bytes
    if "messages" in runs[-1] and runs[-1]["messages"]:
        row["messages"] = runs[-1]["messages"]
    return row


def skipped(case, n_groups, n_rows, engine, reason):
    return dict(case=case, n_groups=n_groups, n_rows=n_rows, engine=engine, status="skipped",
                reason=reason)


def engine_available(engine):
    if engine != "lme4":
        return None
    from . import rbridge

    return rbridge.r_available(["lme4"])


def run_benchmark(sizes, refimpl_sizes, engines, repeats, budget, sm_limit, dietox=True,
                  log=print):
    rows = []
    unavailable = {e: engine_available(e) for e in engines}
    runners = {"refimpl": run_refimpl, "statsmodels": run_statsmodels, "lme4": run_lme4}
    live = [e for e in engines if unavailable[e] is None]

    warm = simulate(50)                        # imports, R's lazy loading: not timed
    for e in live:
        runners[e](warm)

    sm_last = None
    all_sizes = sorted(set(sizes) | set(refimpl_sizes))
    for G in all_sizes:
        data = simulate(G)
        n, in_b = len(data["y"]), input_bytes(data)
        for e in engines:
            if unavailable[e] is not None:
                rows.append(skipped("sim", G, n, e, f"unavailable: {unavailable[e]}"))
                continue
            if G not in sizes and e != "refimpl":
                continue
            if e == "statsmodels" and sm_last is not None:
                projected = sm_last[1] * G / sm_last[0]
                if projected > sm_limit:
                    rows.append(skipped("sim", G, n, e, f"projected {projected:.0f} s > "
                                                        f"{sm_limit:.0f} s (linear from "
                                                        f"{sm_last[0]} groups)"))
                    log(f"  {e:<12} {G:>9} groups: skipped (projected {projected:.0f} s)")
                    continue
            if e == "lme4":
                t0 = time.perf_counter()
                rdf = _r_frame(data)
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
        del data

    if dietox:
        df, fns = dietox_runners()
        for e in engines:
            if unavailable[e] is not None:
                rows.append(skipped("dietox", df["Pig"].nunique(), len(df), e,
                                    f"unavailable: {unavailable[e]}"))
                continue
            runs = repeat_runs(fns[e], repeats, budget)
            peak = None if e == "lme4" else traced_peak(fns[e])
            row = summarize("dietox", int(df["Pig"].nunique()), len(df), e, runs, peak=peak)
            rows.append(row)
            log(f"  {e:<12} dietox: median {row['median_s']:.3f} s, llf {row['llf']:.6f}")
    return rows


# --------------------------------------------------------------------------
# Ratios, targets, table, plot
# --------------------------------------------------------------------------

def _get(rows, case, G, engine):
    for r in rows:
        if r["case"] == case and r["n_groups"] == G and r["engine"] == engine and r["status"] == "ok":
            return r
    return None


def comparisons(rows):
    """Per (case, size): refimpl / lme4 and refimpl / statsmodels time ratios, llf differences."""
    out = []
    keys = sorted({(r["case"], r["n_groups"]) for r in rows}, key=lambda k: (k[0] != "sim", k[1]))
    for case, G in keys:
        ref, lme, sm = (_get(rows, case, G, e) for e in ("refimpl", "lme4", "statsmodels"))
        if ref is None:
            continue
        c = dict(case=case, n_groups=G, refimpl_s=ref["median_s"])
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


def check_targets(rows, comps):
    def comp(G):
        return next((c for c in comps if c["case"] == "sim" and c["n_groups"] == G), {})

    t = []

    def target(name, value, ok, need):
        t.append(dict(target=name, value=value, need=need,
                      status="n/a" if value is None else ("PASS" if ok else "MISS")))

    c = comp(TARGET_SIZE)
    r = c.get("refimpl_over_lme4")
    target(f"{TARGET_SIZE} groups: refimpl faster than lme4", None if r is None else 1 / r,
           r is not None and 1 / r >= TARGET_LME4_SPEEDUP, f">= {TARGET_LME4_SPEEDUP:g}x")
    r = c.get("refimpl_over_statsmodels")
    target(f"{TARGET_SIZE} groups: refimpl faster than statsmodels", None if r is None else 1 / r,
           r is not None and 1 / r >= TARGET_SM_SPEEDUP, f">= {TARGET_SM_SPEEDUP:g}x")
    d = c.get("llf_refimpl_minus_lme4")
    target(f"{TARGET_SIZE} groups: llf refimpl - lme4", d, d is not None and d >= -TARGET_LLF_SLACK,
           f">= -{TARGET_LLF_SLACK:g}")
    a, b = _get(rows, "sim", TARGET_SIZE, "refimpl"), _get(rows, "sim", 10 * TARGET_SIZE, "refimpl")
    ratio = b["median_s"] / a["median_s"] if a and b else None
    target(f"linear cost: time({10 * TARGET_SIZE}) / time({TARGET_SIZE})", ratio,
           ratio is not None and ratio <= TARGET_LINEAR, f"<= {TARGET_LINEAR:g}")
    big = _get(rows, "sim", TARGET_BIG, "refimpl")
    mem = big["peak_bytes"] / big["input_bytes"] if big and big.get("peak_bytes") else None
    target(f"{TARGET_BIG} groups fit: peak memory / input arrays", mem,
           mem is not None and big["converged"] and mem < TARGET_MEMORY, f"< {TARGET_MEMORY:g} (and converged)")
    return t


def _fmt_t(s):
    if s is None:
        return "-"
    return f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s"


def _fmt_mb(b):
    return "-" if b is None else f"{b / 2 ** 20:.1f} MB"


def _fmt_x(v):
    return "-" if v is None else f"{v:.3g}"


def markdown(result):
    rows, comps, targets = result["rows"], result["comparisons"], result["targets"]
    out = ["# Benchmark: refimpl vs statsmodels vs lme4", "",
           f"{result['meta']['date']}, {result['meta']['machine']}; REML, `y ~ x + (x | g)`, "
           f"{ROWS_PER_GROUP} rows per group (seed {SEED}), and dietox `Weight ~ Time + (Time | Pig)`.",
           "Time = median over the runs: refimpl and statsmodels build + fit (numpy arrays in); "
           "lme4 `lmer` inside R (`system.time`), the numpy -> R conversion shown apart.", "",
           "## Fit time and ratios", "",
           "| data | groups | refimpl | lme4 (in R) | statsmodels | refimpl / lme4 | refimpl / statsmodels "
           "| llf refimpl - lme4 | llf refimpl - statsmodels |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for c in comps:
        sm_row = next((r for r in rows if r["case"] == c["case"] and r["n_groups"] == c["n_groups"]
                       and r["engine"] == "statsmodels"), None)
        sm_txt = _fmt_t(c.get("statsmodels_s")) if sm_row is None or sm_row["status"] == "ok" else "skipped"
        lme_row = next((r for r in rows if r["case"] == c["case"] and r["n_groups"] == c["n_groups"]
                        and r["engine"] == "lme4"), None)
        lme_txt = _fmt_t(c.get("lme4_s")) if lme_row is None or lme_row["status"] == "ok" else "skipped"
        if lme_row is None:
            lme_txt = "not run"
        if sm_row is None:
            sm_txt = "not run"
        d1, d2 = c.get("llf_refimpl_minus_lme4"), c.get("llf_refimpl_minus_statsmodels")
        out.append(f"| {c['case']} | {c['n_groups']} | {_fmt_t(c['refimpl_s'])} | {lme_txt} | {sm_txt} "
                   f"| {_fmt_x(c.get('refimpl_over_lme4'))} | {_fmt_x(c.get('refimpl_over_statsmodels'))} "
                   f"| {'-' if d1 is None else f'{d1:.2e}'} | {'-' if d2 is None else f'{d2:.2e}'} |")
    out += ["", "## Every run", "",
            "| data | groups | rows | engine | runs | median | build | fit | R conversion | llf | converged "
            "| peak memory | peak / input |",
            "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---|---:|---:|"]
    for r in rows:
        if r["status"] != "ok":
            out.append(f"| {r['case']} | {r['n_groups']} | {r['n_rows']} | {r['engine']} | - | "
                       f"{r['status']}: {r['reason']} | | | | | | | |")
            continue
        ratio = (r["peak_bytes"] / r["input_bytes"]) if r.get("peak_bytes") and r.get("input_bytes") else None
        out.append(f"| {r['case']} | {r['n_groups']} | {r['n_rows']} | {r['engine']} | {r['runs']} "
                   f"| {_fmt_t(r['median_s'])} | {_fmt_t(r.get('build_s'))} | {_fmt_t(r.get('fit_s'))} "
                   f"| {_fmt_t(r.get('conversion_s'))} | {r['llf']:.6f} | {r['converged']} "
                   f"| {_fmt_mb(r.get('peak_bytes'))} | {_fmt_x(ratio)} |")
    out += ["", "Peak memory: refimpl and statsmodels, tracemalloc's peak during build + fit "
            "(numpy arrays included, the input arrays excluded: they exist before); 'peak / input' "
            "divides it by the bytes of y, X, Z and the group codes. lme4: R's gc() max used minus "
            "used before the fit (R's heap only).", "", "## Targets (issue #8)", "",
            "| target | value | needed | status |", "|---|---:|---|---|"]
    for t in targets:
        out.append(f"| {t['target']} | {_fmt_x(t['value'])} | {t['need']} | {t['status']} |")
    out += ["", f"Reproduce: `{result['meta']['command']}`", ""]
    return "\n".join(out)


def plot(result, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    styles = {"refimpl": "o-", "lme4": "s-", "statsmodels": "^-"}
    for e in ENGINES:
        pts = sorted((r["n_groups"], r["median_s"]) for r in result["rows"]
                     if r["case"] == "sim" and r["engine"] == e and r["status"] == "ok")
        if pts:
            label = {"lme4": "lme4 (time inside R)"}.get(e, e)
            ax.loglog(*zip(*pts), styles[e], label=label)
    ax.set_xlabel("groups (10 rows each)")
    ax.set_ylabel("median fit time (s)")
    ax.set_title("REML fit of y ~ x + (x | g)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def meta(args_line, engines=ENGINES):
    import scipy
    import statsmodels

    m = dict(date=datetime.datetime.now().isoformat(timespec="seconds"),
             machine=f"{platform.machine()} {platform.system()}, python {platform.python_version()}, "
                     f"numpy {np.__version__}, scipy {scipy.__version__}, statsmodels {statsmodels.__version__}",
             command=args_line, rows_per_group=ROWS_PER_GROUP, seed=SEED,
             fe_params=FE_PARAMS, cov_re=COV_RE, scale=SCALE)
    if "lme4" in engines:                      # starting R only when lme4 is benchmarked
        try:
            from .engines.lme4_engine import r_versions

            m["r"] = r_versions()
        except Exception as exc:  # R not available: say so, the rest still runs
            m["r"] = f"unavailable: {exc}"
    return m


def main(args):
    """The ``bench`` subcommand (see the module docstring)."""
    if args.quick:
        for k, v in QUICK.items():
            if getattr(args, k) is None:
                setattr(args, k, v)
    sizes = args.sizes if args.sizes is not None else [1_000, 10_000, 100_000]
    refimpl_sizes = args.refimpl_sizes if args.refimpl_sizes is not None else [1_000_000]
    repeats = args.repeats if args.repeats is not None else 5
    budget = args.budget if args.budget is not None else 30.0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    line = " ".join(["python -m validation bench"] + list(getattr(args, "argv_echo", [])))

    print(f"benchmark: sizes {sizes}, refimpl also at {refimpl_sizes}, engines {args.engines}, "
          f"up to {repeats} runs or {budget:g} s per cell")
    rows = run_benchmark(sizes, refimpl_sizes, args.engines, repeats, budget,
                         args.statsmodels_limit, dietox=args.dietox)
    result = dict(meta=meta(line, args.engines), rows=rows)
    result["comparisons"] = comparisons(rows)
    result["targets"] = check_targets(rows, result["comparisons"])

    (out / "bench.json").write_text(json.dumps(result, indent=1))
    md = markdown(result)
    (out / "bench.md").write_text(md)
    plot(result, out / "bench.png")
    print()
    print(md)
    for t in result["targets"]:
        print(f"{t['status']:<5} {t['target']}: {_fmt_x(t['value'])} (needed {t['need']})")
    print(f"wrote {out / 'bench.json'}, {out / 'bench.md'}, {out / 'bench.png'}")
    return 0


def add_parser(sub):
    p = sub.add_parser("bench", help="time refimpl, statsmodels and lme4 side by side (issue #8)")
    p.add_argument("--sizes", type=int, nargs="+", metavar="G",
                   help="groups for every engine (default 1000 10000 100000)")
    p.add_argument("--refimpl-sizes", dest="refimpl_sizes", type=int, nargs="*", metavar="G",
                   help="extra sizes for refimpl alone (default 1000000)")
    p.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    p.add_argument("--repeats", type=int, help="runs per cell at most (default 5)")
    p.add_argument("--budget", type=float, metavar="S",
                   help="stop repeating a cell once its runs took S seconds (default 30)")
    p.add_argument("--statsmodels-limit", dest="statsmodels_limit", type=float, default=60.0,
                   metavar="S", help="skip statsmodels where its projected time exceeds S (default 60)")
    p.add_argument("--no-dietox", dest="dietox", action="store_false")
    p.add_argument("--out", default=str(DEFAULT_OUT), metavar="DIR",
                   help="where bench.json/.md/.png go (default reports/bench/)")
    p.add_argument("--quick", action="store_true",
                   help=f"smoke test: sizes {QUICK['sizes']}, refimpl also {QUICK['refimpl_sizes']}, "
                        f"{QUICK['repeats']} runs")
    p.set_defaults(func=main)
    return p
