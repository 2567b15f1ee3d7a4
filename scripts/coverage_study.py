"""Coverage of 95% intervals over simulated data sets: Wald, profile, bootstrap percentile and basic.

    python scripts/coverage_study.py                       # 200 data sets x 99 refits (~20-40 min, 2 cores)
    python scripts/coverage_study.py --sets 20 --boot 19   # a quick look

The truth is a one-way random-intercept model, 12 groups of 6 rows,
y = 2 + 0.5 x + b_g + e with sd(b) = 1 and sigma = 1 (the template of
tests/test_bootstrap.py). For each data set (seeded: data set i is
SeedSequence(seed).spawn(sets)[i]) the REML fit is made and four 95%
intervals are computed for every parameter on lme4's scale (sd_g, sigma,
Intercept, x):

* Wald: beta_hat +- z se for the fixed effects (no Wald interval for sd_g and
  sigma, as lme4's ``confint(method="Wald")``);
* profile: refimpl's ``conf_int(method="profile")`` (none at a boundary fit,
  where the profile of sd_g is one-sided: counted separately);
* bootstrap percentile and basic: ``results.bootstrap(n=boot, seed=i)``.

Each data set's outcome is appended to ``<out>/coverage.jsonl`` as it is
finished, so an interrupted run resumes where it stopped. At the end the
coverage per method and parameter, with its Monte Carlo standard error
sqrt(p (1 - p) / N), is printed, written to ``coverage.json`` and drawn in
``coverage.png``.
"""

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from refimpl import MixedLM  # noqa: E402
from refimpl import bootstrap as boot  # noqa: E402
from refimpl.profile_ci import conf_int_profile  # noqa: E402

TRUTH = {"sd_g": 1.0, "sigma": 1.0, "Intercept": 2.0, "x": 0.5}
METHODS = ("wald", "profile", "boot_percentile", "boot_basic")


def template(n_groups=12, n_per=6):
    """The design (x fixed across data sets); only y is simulated."""
    rng = np.random.default_rng(0)
    d = pd.DataFrame({"g": np.repeat([f"g{i:02d}" for i in range(n_groups)], n_per),
                      "x": rng.standard_normal(n_groups * n_per)})
    d["y"] = rng.standard_normal(len(d))
    return MixedLM.from_formula("y ~ x", d, groups="g")


def simulated_fit(model, child):
    s2 = TRUTH["sigma"] ** 2
    theta = np.array([TRUTH["sd_g"] ** 2 / s2])
    beta = np.array([TRUTH["Intercept"], TRUTH["x"]])
    y = boot.simulate_response(model, theta, s2, beta, np.random.default_rng(child))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return boot.with_response(model, y).fit()


def covered(lower, upper):
    return {k: bool(lower[k] <= v <= upper[k]) for k, v in TRUTH.items()
            if k in lower and np.isfinite(lower[k]) and np.isfinite(upper[k])}


def one_data_set(model, i, child, n_boot, n_jobs):
    res = simulated_fit(model, child)
    out = {"i": i, "boundary": bool(res.singular)}
    w = res.conf_int()
    w = w.loc[["Intercept", "x"]]
    out["wald"] = covered(w.iloc[:, 0], w.iloc[:, 1])
    if not res.singular:
        p = conf_int_profile(res)
        out["profile"] = covered(p.lower, p.upper)
    b = boot.bootstrap(res, n=n_boot, seed=i, n_jobs=n_jobs)
    out["n_failed"] = int(b.n_failed)
    for kind in ("percentile", "basic"):
        ci = b.conf_int(method=kind)
        out[f"boot_{kind}"] = covered(ci.lower, ci.upper)
    return out


def summarise(rows):
    table = {}
    for m in METHODS:
        for k in TRUTH:
            hits = [r[m][k] for r in rows if m in r and k in r[m]]
            if hits:
                p = float(np.mean(hits))
                table.setdefault(m, {})[k] = {"coverage": p, "n": len(hits),
                                              "mc_se": float(np.sqrt(p * (1 - p) / len(hits)))}
    return table


def plot(ax, table, n_sets, n_boot):
    """Coverage by parameter and method, with the 95% Monte Carlo band of each estimate."""
    params = list(TRUTH)
    width = 0.2
    for j, m in enumerate(METHODS):
        xs, ys, es = [], [], []
        for i, k in enumerate(params):
            cell = table.get(m, {}).get(k)
            if cell:
                xs.append(i + (j - 1.5) * width)
                ys.append(cell["coverage"])
                es.append(1.96 * cell["mc_se"])
        ax.errorbar(xs, ys, yerr=es, fmt="o", capsize=3, label=m.replace("_", " "))
    ax.axhline(0.95, color="grey", lw=1, ls="--")
    ax.set_xticks(range(len(params)), params)
    ax.set_ylabel("coverage of the 95% interval")
    ax.set_ylim(0.8, 1.0)
    ax.set_title(f"{n_sets} simulated data sets, {n_boot} bootstrap refits each "
                 "(bars: 95% Monte Carlo band)", fontsize=9)
    ax.legend(fontsize=8, ncol=4, loc="lower center")


def draw(table, path, n_sets, n_boot):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    plot(ax, table, n_sets, n_boot)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def provenance(t0):
    """Where the numbers come from: the command, the code, the libraries, when."""
    import datetime
    import platform
    import subprocess

    import scipy

    try:
        rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True,
                             text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        rev = None
    return {"command": "python " + " ".join(sys.argv), "git_commit": rev,
            "finished_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "seconds_this_session": round(time.perf_counter() - t0, 1),
            "python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__,
            "pandas": pd.__version__}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sets", type=int, default=200)
    ap.add_argument("--boot", type=int, default=99)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "reports" / "coverage")
    a = ap.parse_args(argv)
    if a.sets < 1 or a.boot < 2:
        ap.error(f"--sets must be >= 1 and --boot >= 2 (got {a.sets}, {a.boot})")
    a.out.mkdir(parents=True, exist_ok=True)
    log = a.out / "coverage.jsonl"
    config = {"sets": a.sets, "boot": a.boot, "seed": a.seed}
    rows = []
    if log.exists():
        lines = [json.loads(s) for s in log.read_text().splitlines() if s.strip()]
        if lines and lines[0].get("config") == config:
            rows = lines[1:]
        else:
            sys.exit(f"{log} holds a run with another configuration ({lines[0] if lines else 'empty'}); "
                     f"move it away or choose another --out")
    else:
        log.write_text(json.dumps({"config": config}) + "\n")
    model = template()
    children = np.random.SeedSequence(a.seed).spawn(a.sets)
    t0 = time.perf_counter()
    with log.open("a") as f:
        for i in range(len(rows), a.sets):
            rows.append(one_data_set(model, i, children[i], a.boot, a.jobs))
            f.write(json.dumps(rows[-1]) + "\n")
            f.flush()
            if (i + 1) % 10 == 0:
                print(f"  {i + 1}/{a.sets} data sets, {time.perf_counter() - t0:.0f} s", flush=True)
    table = summarise(rows)
    n_boundary = sum(r["boundary"] for r in rows)
    n_failed = sum(r["n_failed"] for r in rows)
    doc = {"config": config, "n_boundary_fits": n_boundary, "bootstrap_refits_failed": n_failed,
           "bootstrap_refits": a.sets * a.boot, "coverage": table, "provenance": provenance(t0)}
    (a.out / "coverage.json").write_text(json.dumps(doc, indent=1))
    draw(table, a.out / "coverage.png", a.sets, a.boot)
    print(f"{a.sets} data sets ({n_boundary} boundary fits: no profile interval), "
          f"{a.boot} refits each ({n_failed} of {a.sets * a.boot} refits failed the verdict)")
    print(f"{'method':<16}" + "".join(f"{k:>16}" for k in TRUTH))
    for m in METHODS:
        cells = [table.get(m, {}).get(k) for k in TRUTH]
        print(f"{m:<16}" + "".join(f"{c['coverage']:>9.3f}+-{c['mc_se']:.3f}" if c else f"{'-':>16}"
                                    for c in cells))
    print(f"written: {a.out / 'coverage.json'}, {a.out / 'coverage.png'}")
    return doc


if __name__ == "__main__":
    main()
