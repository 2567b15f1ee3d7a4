"""The ``bench`` subcommand: parse arguments, run the sections, write the report."""

from __future__ import annotations

import argparse
import datetime
import json
import platform
from pathlib import Path

import numpy as np

from . import data as D
from .report import _fmt_x, check_targets, comparisons, markdown, plot
from .sections import run_crossed, run_grouped, run_nested

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = ROOT / "reports" / "bench"
ENGINES = ("refimpl", "statsmodels", "lme4")
SECTIONS = ("grouped", "crossed", "nested")
DEFAULT_CROSSED = [(100, 60), (200, 100), (1000, 500)]
DEFAULT_NESTED = [1_000, 10_000]

QUICK = dict(sizes=[50, 200], refimpl_sizes=[1000], repeats=2, budget=10.0,
             crossed_sizes=[(20, 10), (30, 15)], nested_sizes=[50, 100], insteval=False)


def meta(args_line, engines=ENGINES, sections=SECTIONS):
    import scipy
    import statsmodels

    m = dict(date=datetime.datetime.now().isoformat(timespec="seconds"),
             machine=f"{platform.machine()} {platform.system()}, python {platform.python_version()}, "
                     f"numpy {np.__version__}, scipy {scipy.__version__}, statsmodels {statsmodels.__version__}",
             command=args_line, sections=list(sections), rows_per_group=D.ROWS_PER_GROUP,
             seed=D.SEED, fe_params=D.FE_PARAMS, cov_re=D.COV_RE, scale=D.SCALE,
             crossed_sd=D.CROSSED_SD, crossed_reps=D.CROSSED_REPS)
    if "lme4" in engines:                      # starting R only when lme4 is benchmarked
        try:
            from ..engines.lme4_engine import r_versions

            m["r"] = r_versions()
        except Exception as exc:  # R not available: say so, the rest still runs
            m["r"] = f"unavailable: {exc}"
    return m


def main(args):
    """The ``bench`` subcommand (see ``validation/bench/__init__.py``)."""
    if getattr(args, "distributed", False):          # refimpl through Dask on Parquet (distributed.py)
        from .distributed import run
        return run(args)
    if args.quick:
        for k, v in QUICK.items():
            if getattr(args, k, None) is None:
                setattr(args, k, v)
    sizes = args.sizes if args.sizes is not None else [1_000, 10_000, 100_000]
    refimpl_sizes = args.refimpl_sizes if args.refimpl_sizes is not None else [1_000_000]
    crossed_sizes = args.crossed_sizes if args.crossed_sizes is not None else DEFAULT_CROSSED
    nested_sizes = args.nested_sizes if args.nested_sizes is not None else DEFAULT_NESTED
    insteval = args.insteval if args.insteval is not None else True
    repeats = args.repeats if args.repeats is not None else 5
    budget = args.budget if args.budget is not None else 30.0
    sections = SECTIONS if args.section == "all" else (args.section,)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    line = " ".join(["python -m validation bench"] + list(getattr(args, "argv_echo", [])))

    print(f"benchmark: sections {', '.join(sections)}; engines {args.engines}; "
          f"up to {repeats} runs or {budget:g} s per cell")
    rows = []
    if "grouped" in sections:
        print(f"grouped: sizes {sizes}, refimpl also at {refimpl_sizes}")
        rows += run_grouped(sizes, refimpl_sizes, args.engines, repeats, budget,
                            args.statsmodels_limit, dietox=args.dietox)
    if "crossed" in sections:
        print(f"crossed: {', '.join(f'{a}x{b}' for a, b in crossed_sizes)}"
              f"{', InstEval' if insteval else ''}")
        rows += run_crossed(crossed_sizes, args.engines, repeats, budget,
                            args.statsmodels_limit, insteval=insteval)
    if "nested" in sections:
        print(f"nested: {nested_sizes} schools")
        rows += run_nested(nested_sizes, args.engines, repeats, budget, args.statsmodels_limit)
    result = dict(meta=meta(line, args.engines, sections), rows=rows)
    result["comparisons"] = comparisons(rows)
    result["targets"] = check_targets(rows, result["comparisons"], sections)

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


def _levels(text):
    try:
        a, b = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected L1xL2 such as 100x60, got {text!r}") from None
    return a, b


def add_parser(sub):
    p = sub.add_parser("bench", help="time refimpl, statsmodels and lme4 side by side")
    p.add_argument("--section", choices=SECTIONS + ("all",), default="all",
                   help="grouped (y ~ x + (x | g), dietox), crossed (synthetic, InstEval), "
                        "nested (schools/classrooms), or all (default)")
    p.add_argument("--sizes", type=int, nargs="+", metavar="G",
                   help="grouped: groups for every engine (default 1000 10000 100000)")
    p.add_argument("--refimpl-sizes", dest="refimpl_sizes", type=int, nargs="*", metavar="G",
                   help="grouped: extra sizes for refimpl alone (default 1000000)")
    p.add_argument("--crossed-sizes", dest="crossed_sizes", type=_levels, nargs="+",
                   metavar="L1xL2", help="crossed: levels (default 100x60 200x100 1000x500)")
    p.add_argument("--nested-sizes", dest="nested_sizes", type=int, nargs="+", metavar="S",
                   help="nested: schools (default 1000 10000)")
    p.add_argument("--no-insteval", dest="insteval", action="store_false", default=None,
                   help="crossed: leave InstEval out (--quick leaves it out)")
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
                   help=f"smoke test: grouped {QUICK['sizes']} (refimpl also "
                        f"{QUICK['refimpl_sizes']}), crossed "
                        f"{' '.join(f'{a}x{b}' for a, b in QUICK['crossed_sizes'])}, nested "
                        f"{QUICK['nested_sizes']} schools, no InstEval, {QUICK['repeats']} runs")
    from .distributed import add_arguments
    add_arguments(p)                                 # --distributed --rows --groups ...
    p.set_defaults(func=main)
    return p
