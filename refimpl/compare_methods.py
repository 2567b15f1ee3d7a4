"""Print every fitting method side by side for one case: llf, iterations, time, verdict.

    python -m refimpl.compare_methods dietox_slope [--ml]

Cases: dietox_intercept, dietox_slope, sleepstudy, dyestuff, dyestuff2, pastes,
or any refimpl.simulate preset name (sim:balanced, sim:vc_slope, ...).
"""

import argparse
import time
import warnings

from . import MixedLM, datasets, simulate
from .fit import METHODS, ConvergenceWarning

CASES = {
    "dietox_intercept": ("dietox", dict(formula="Weight ~ Time", groups="Pig")),
    "dietox_slope": ("dietox", dict(formula="Weight ~ Time", groups="Pig", re_formula="~Time")),
    "sleepstudy": ("sleepstudy", dict(formula="Reaction ~ Days", groups="Subject", re_formula="~Days")),
    "dyestuff": ("Dyestuff", dict(formula="Yield ~ 1", groups="Batch")),
    "dyestuff2": ("Dyestuff2", dict(formula="Yield ~ 1", groups="Batch")),
    "pastes": ("Pastes", dict(formula="strength ~ 1", groups="batch", re_formula="1",
                              vc_formula={"cask": "0 + C(cask)"})),
}


def build(case):
    if case.startswith("sim:"):
        sim = simulate.preset(case[4:], seed=0)
        return MixedLM.from_formula(data=sim.data, **sim.spec)
    if case not in CASES:
        raise SystemExit(f"unknown case {case!r}; choose from {sorted(CASES)} or sim:<preset>")
    name, spec = CASES[case]
    return MixedLM.from_formula(data=datasets.load(name), **spec)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("case")
    ap.add_argument("--ml", action="store_true", help="maximum likelihood (default REML)")
    args = ap.parse_args(argv)
    model = build(args.case)
    reml = not args.ml
    print(f"{args.case} ({'REML' if reml else 'ML'}): {model.n_totobs} rows, {model.n_groups} groups")
    print(f"{'method':10s} {'llf':>22s} {'iter':>6s} {'time s':>8s}  verdict")
    for method in METHODS:
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            res = model.fit(reml=reml, method=method)
        dt = time.perf_counter() - t0
        print(f"{method:10s} {res.llf:22.12f} {res.n_iter:6d} {dt:8.3f}  {res.convergence.reason}")


if __name__ == "__main__":
    main()
