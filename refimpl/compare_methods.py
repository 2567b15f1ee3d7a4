"""Print every fitting method side by side for one case: llf, iterations, time, verdict.

    python -m refimpl.compare_methods dietox_slope [--ml]

Cases: the names in refimpl.cases (dietox_intercept, dietox_slope, sleepstudy,
dyestuff, dyestuff2, pastes, sim_vc) or sim:<preset> for any refimpl.simulate preset.
"""

import argparse
import time
import warnings

from .cases import build_case
from .fit import METHODS, ConvergenceWarning

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("case")
    ap.add_argument("--ml", action="store_true", help="maximum likelihood (default REML)")
    args = ap.parse_args(argv)
    model = build_case(args.case)
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
