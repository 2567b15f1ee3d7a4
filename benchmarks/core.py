"""How the cost of one likelihood evaluation grows, and what the score and Hessian cost.

    python -m benchmarks.core [--sizes 1000 10000 100000] [--repeat 5] [--no-statsmodels]

Data: random intercept + slope, 10 rows per group, simulated with
``refimpl.simulate.simulate(seed=0)``, for 1e3, 1e4 and 1e5 groups. For each
size we report

* the time of building the per-group sufficient statistics (once per model);
* the time of ONE likelihood evaluation: ``likelihood.evaluate`` +
  ``profiled_loglike`` called directly (the model object caches the last point,
  so calling ``model.loglike`` twice at one point would time a dictionary
  lookup); best of ``--repeat`` runs;
* statsmodels' ``MixedLM.loglike`` on the same data at the same point, when
  one evaluation takes under ~30 s (otherwise "skipped"; nothing is
  extrapolated), the ratio of the two, and the relative difference of the
  values (a guard that both timed the same thing);
* the peak memory one likelihood evaluation allocates (tracemalloc, measured
  in a separate untimed run) and the process's peak resident set size.

At the middle size (1e4 groups) it also reports one score and one Hessian
evaluation relative to one likelihood evaluation, both from scratch (a fresh
Point: evaluate + derivative) and given the Point the likelihood already built
(the marginal cost; score.py reuses the Cholesky factors of the Point). The
design target is a score within 3x the likelihood.

Times are wall-clock (``time.perf_counter``) on whatever machine runs this;
only the ratios travel.

Crossed designs (``--crossed``): one group holding every row, one variance
component per crossed factor, which goes the blocked way (blocked_stats.py,
blocked_cholesky.py). Seeded synthetic data: an InstEval-shaped design
(73,421 rows; 2,972 x 1,128 x 14 levels, the 1,128 nested in the 14, y ~ 1 +
three variance components) and full crosses of 100x60, 200x100, 1000x500
levels with 5 rows per cell. For each: the statistics build, one likelihood +
score + Hessian evaluation from scratch, the default REML fit (EM then
Newton), wall and CPU time, and the fit's peak traced allocation (tracemalloc)
and the process's peak RSS. The design is built directly from sparse
indicators (no dense Z), and the pre-fit checks (checks.check_estimable) are
skipped: they still read a dense Z'Z.
"""

from __future__ import annotations

import argparse
import platform
import resource
import sys
import time
import tracemalloc

import numpy as np

from refimpl import hessian, likelihood, score, simulate
from refimpl.model import MixedLM
from refimpl.parameters import pack_profile, profile_to_sqrt
from refimpl.suffstats import compute_sufficient_statistics

COV_RE = np.array([[1.0, 0.3], [0.3, 0.5]])
THETA = pack_profile(np.array([[0.9, 0.2], [0.2, 0.6]]), [])   # the point every engine is timed at
STATSMODELS_LIMIT_S = 30.0


def best_time(fn, repeat):
    """Smallest wall-clock time of ``repeat`` calls (the least disturbed run)."""
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def traced_peak(fn):
    """Peak bytes allocated (numpy included) while fn runs, via tracemalloc."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def max_rss_mb():
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 1024.0 if sys.platform != "darwin" else r / 2 ** 20


def fmt_s(t):
    if t is None:
        return "skipped"
    return f"{t * 1e3:10.2f} ms" if t < 1 else f"{t:10.2f} s "


def make_data(n_groups):
    sim = simulate.simulate(n_groups=n_groups, group_sizes=10, fe_params=(1.0, 0.5), cov_re=COV_RE,
                            scale=1.0, seed=0)
    d = sim.data
    x = d["x1"].to_numpy()
    X = np.column_stack([np.ones(len(d)), x])
    return d["y"].to_numpy(), X, d["g"].to_numpy(), X.copy()


def statsmodels_loglike_time(y, X, groups, Z, reml, repeat):
    """(seconds per evaluation, llf) of statsmodels' loglike at THETA."""
    import statsmodels.api as sm
    from statsmodels.regression.mixed_linear_model import MixedLMParams

    m = sm.MixedLM(y, X, groups, exog_re=Z)
    m.reml, m.cov_pen, m.fe_pen = reml, None, None
    ours = MixedLM(y, X, groups, exog_re=Z)
    params = MixedLMParams.from_components(fe_params=ours.fe_params_at(THETA),
                                           cov_re=np.array([[0.9, 0.2], [0.2, 0.6]]))
    val = m.loglike(params, profile_fe=True)
    return best_time(lambda: m.loglike(params, profile_fe=True), repeat), val


def run(sizes, repeat, with_statsmodels, reml=True):
    print(f"python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}, "
          f"{'REML' if reml else 'ML'}, random intercept + slope, 10 rows per group, best of {repeat}")
    header = (f"{'groups':>8} {'rows':>9} | {'suffstats':>12} {'loglike':>12} | "
              f"{'statsmodels':>12} {'ratio sm/ours':>13} {'rel diff':>9} | "
              f"{'peak alloc/eval':>15} {'max RSS':>9}")
    print(header)
    print("-" * len(header))
    sm_last = None
    mid = None
    for G in sizes:
        y, X, groups, Z = make_data(G)
        model = MixedLM(y, X, groups, exog_re=Z)
        d = model.design
        t_stats = best_time(lambda: compute_sufficient_statistics(d.y, d.X, d.Z, d.group_index,
                                                                  d.n_groups), max(1, repeat // 2))
        stats, layout = model.stats, model.layout
        phi = profile_to_sqrt(THETA, layout.k_re)

        def one_loglike():
            return likelihood.profiled_loglike(likelihood.evaluate(stats, layout, phi), reml)

        llf = one_loglike()
        t_ll = best_time(one_loglike, repeat)
        peak = traced_peak(one_loglike)

        t_sm, rel = None, None
        if with_statsmodels and (sm_last is None or sm_last[1] * G / sm_last[0] < STATSMODELS_LIMIT_S):
            t_sm, llf_sm = statsmodels_loglike_time(y, X, groups, Z, reml, max(1, min(repeat, 3)))
            rel = abs(llf - llf_sm) / abs(llf_sm)
            sm_last = (G, t_sm)
        ratio = f"{t_sm / t_ll:13.1f}" if t_sm is not None else f"{'-':>13}"
        reld = f"{rel:9.1e}" if rel is not None else f"{'-':>9}"
        print(f"{G:8d} {len(y):9d} | {fmt_s(t_stats):>12} {fmt_s(t_ll):>12} | {fmt_s(t_sm):>12} "
              f"{ratio} {reld} | {peak / 2 ** 20:12.1f} MB {max_rss_mb():6.0f} MB")
        if mid is None and G >= 10_000 or G == sizes[-1] and mid is None:
            mid = (G, stats, layout, phi, t_ll, t_stats)
    if with_statsmodels and sm_last is not None and sm_last[0] != sizes[-1]:
        print(f"(statsmodels skipped above {sm_last[0]} groups: one evaluation would exceed "
              f"~{STATSMODELS_LIMIT_S:.0f} s)")
    return mid


def derivative_costs(mid, repeat, reml=True):
    G, stats, layout, phi, t_ll, t_stats = mid

    def fresh_score():
        pt = likelihood.evaluate(stats, layout, phi)
        return score.profiled_score(stats, layout, pt, reml)

    def fresh_hessian():
        pt = likelihood.evaluate(stats, layout, phi)
        return hessian.profiled_hessian(stats, layout, pt, reml)

    def marginal(fn):
        def run_once():
            pt = likelihood.evaluate(stats, layout, phi)
            likelihood.profiled_loglike(pt, reml)
            t0 = time.perf_counter()
            fn(stats, layout, pt, reml)
            return time.perf_counter() - t0
        return min(run_once() for _ in range(repeat))

    t_score = best_time(fresh_score, repeat)
    t_hess = best_time(fresh_hessian, repeat)
    m_score = marginal(score.profiled_score)
    m_hess = marginal(hessian.profiled_hessian)
    print()
    print(f"at {G} groups (one likelihood evaluation = {t_ll * 1e3:.2f} ms = 1.00):")
    print(f"  sufficient statistics (once per model) {t_stats * 1e3:9.2f} ms  = {t_stats / t_ll:6.2f} x loglike")
    print(f"  score   from scratch (evaluate + score) {t_score * 1e3:9.2f} ms  = {t_score / t_ll:6.2f} x loglike"
          f"   (target <= 3)  {'OK' if t_score <= 3 * t_ll else 'ABOVE TARGET'}")
    print(f"  score   given the Point                 {m_score * 1e3:9.2f} ms  = {m_score / t_ll:6.2f} x loglike")
    print(f"  Hessian from scratch (evaluate + hess.) {t_hess * 1e3:9.2f} ms  = {t_hess / t_ll:6.2f} x loglike")
    print(f"  Hessian given the Point                 {m_hess * 1e3:9.2f} ms  = {m_hess / t_ll:6.2f} x loglike")


CROSSED_SHAPES = {
    "insteval": dict(levels=(2972, 1128, 14), n=73_421),
    "100x60": dict(levels=(100, 60), reps=5),
    "200x100": dict(levels=(200, 100), reps=5),
    "1000x500": dict(levels=(1000, 500), reps=5),
}


def crossed_design(levels, n=None, reps=None, seed=0):
    """A design-like object for one group and crossed factors, with sparse indicators Z_vc.

    reps: every cell of the full cross gets ``reps`` rows; n: ``n`` rows at
    random cells, and for three factors the last is a coarsening of the second
    (InstEval's d nested in dept).
    """
    import types

    import scipy.sparse as sp

    from refimpl.layout import Layout

    rng = np.random.default_rng(seed)
    if reps is not None:
        grid = np.meshgrid(*[np.arange(L) for L in levels], indexing="ij")
        codes = [np.repeat(g.ravel(), reps) for g in grid]
    else:
        codes = [rng.integers(0, L, n) for L in levels[:2]]
        if len(levels) == 3:
            dept_of = np.sort(rng.integers(0, levels[2], levels[1]))
            codes.append(dept_of[codes[1]])
    n = len(codes[0])
    sds = (0.33, 0.52, 0.07)
    y = 3.2 + sum(sd * rng.standard_normal(L)[c] for sd, L, c in zip(sds, levels, codes)) \
        + 1.18 * rng.standard_normal(n)
    offsets = np.concatenate([[0], np.cumsum(levels)[:-1]])
    cols = np.column_stack([c + o for c, o in zip(codes, offsets)]).ravel()
    Z_vc = sp.csr_array((np.ones(n * len(levels)), (np.repeat(np.arange(n), len(levels)), cols)),
                        shape=(n, int(sum(levels))))
    return types.SimpleNamespace(
        y=y, X=np.ones((n, 1)), Z_re=np.zeros((n, 0)), Z_vc=Z_vc, layout=Layout(0, tuple(levels)),
        n_groups=1, group_index=np.zeros(n, dtype=int), group_labels=[1], n_obs=n,
        exog_names=["Intercept"], exog_re_names=[], vc_names=[f"f{j}" for j in range(len(levels))])


def run_crossed(name, reml=True):
    import warnings

    from refimpl.fit import fit
    from refimpl.suffstats import compute_statistics

    d = crossed_design(**CROSSED_SHAPES[name])
    t0, c0 = time.perf_counter(), time.process_time()
    stats = compute_statistics(d)
    t_build, c_build = time.perf_counter() - t0, time.process_time() - c0
    phi = np.full(d.layout.n_params, 0.3)
    t0, c0 = time.perf_counter(), time.process_time()
    pt = likelihood.evaluate(stats, d.layout, phi)
    likelihood.profiled_loglike(pt, reml)
    score.profiled_score(stats, d.layout, pt, reml)
    hessian.profiled_hessian(stats, d.layout, pt, reml)
    t_eval, c_eval = time.perf_counter() - t0, time.process_time() - c0

    model = MixedLM(None, None, None, _design=d)
    model._estimable = True            # checks.check_estimable reads a dense Z'Z (see docstring)
    res = {}

    def one_fit():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res["r"] = fit(model, reml=reml)

    t0, c0 = time.perf_counter(), time.process_time()
    one_fit()
    t_fit, c_fit = time.perf_counter() - t0, time.process_time() - c0
    model = MixedLM(None, None, None, _design=d)
    model._estimable = True
    peak = traced_peak(one_fit)
    r = res["r"]
    print(f"{name:>9} {d.n_obs:9d} {str(d.layout.vc_sizes):>18} {type(stats).__name__:>20} | "
          f"{t_build:7.3f} s ({c_build:6.3f}) | {t_eval:7.3f} s ({c_eval:6.3f}) | "
          f"{t_fit:7.2f} s ({c_fit:6.2f}) | {peak / 2 ** 20:7.0f} MB {max_rss_mb():7.0f} MB | "
          f"llf {r.llf:.6f}, {r.n_iter} it., {r.convergence.reason.split(':')[0]}")


def crossed(names, reml=True):
    print(f"crossed designs, one group, {'REML' if reml else 'ML'}: wall time (CPU time in parentheses)")
    print(f"{'design':>9} {'rows':>9} {'levels':>18} {'statistics':>20} | {'build':>18} | "
          f"{'llf+score+Hessian':>18} | {'default fit':>18} | {'fit peak / max RSS':>18} |")
    for name in names:
        run_crossed(name, reml)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks.core", description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-statsmodels", dest="statsmodels", action="store_false")
    ap.add_argument("--ml", dest="reml", action="store_false", help="ML instead of REML")
    ap.add_argument("--crossed", nargs="*", choices=list(CROSSED_SHAPES), default=None,
                    help="crossed designs through the blocked path instead (default: all shapes)")
    args = ap.parse_args(argv)
    if args.crossed is not None:
        crossed(args.crossed or list(CROSSED_SHAPES), args.reml)
        return 0
    mid = run(args.sizes, args.repeat, args.statsmodels, args.reml)
    derivative_costs(mid, args.repeat, args.reml)
    return 0


if __name__ == "__main__":
    sys.exit(main())
