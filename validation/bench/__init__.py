"""Benchmark: refimpl, statsmodels and lme4 side by side, on the same data.

    python -m validation bench [--section grouped|crossed|nested|all] [--quick]
                               [--sizes 1000 10000 100000] [--refimpl-sizes 1000000]
                               [--crossed-sizes 100x60 200x100 1000x500] [--no-insteval]
                               [--nested-sizes 1000 10000]
                               [--engines refimpl statsmodels lme4] [--repeats 5]
                               [--budget 30] [--statsmodels-limit 60] [--no-dietox]
                               [--out reports/bench] [--quick]

The package is split by concept: ``data`` (seeded data), ``timers`` (one
run of one engine), ``sections`` (grouped, crossed, nested), ``report``
(ratios, targets, table, plot), ``main`` (the command).

Section ``grouped``. What is timed: full REML fits of a random intercept and a correlated random
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
* refimpl also through ``from_formula("y ~ x", df, groups="g", re_formula="~x")``
  with string group labels, as a user calls it, at 10,000 groups (or the
  largest ``--sizes``): row ``sim_formula``, compared with lme4's ``sim`` time.

Section ``crossed``: ``y ~ x + (1 | a) + (1 | b)`` on fully crossed ``L1 x L2``
levels with 5 rows per cell, and InstEval ``y ~ 1 + (1 | s) + (1 | d) +
(1 | dept)``.  Section ``nested``: ``y ~ x + (1 | school/classroom)`` with 5
classrooms of 10 pupils per school.  refimpl and statsmodels get the
statsmodels spec that :func:`refimpl.lme4_formula.from_lme4` makes of the lme4
formula (one group holding every row for crossed designs), through
``from_formula``; lme4 gets the lme4 formula.  statsmodels is skipped where
its projected time exceeds ``--statsmodels-limit`` (cubic in the number of
levels for crossed designs, which it fits as one dense group; it is not
attempted on InstEval).

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
engine). The targets (``report.py``) are checked and printed as PASS / MISS /
n/a; they never change the exit status (timings depend on the machine).
"""

from .data import ROWS_PER_GROUP, SEED, input_bytes, simulate
from .main import DEFAULT_OUT, ENGINES, QUICK, SECTIONS, add_parser, main
from .report import check_targets, comparisons, markdown, plot

__all__ = ["QUICK", "ENGINES", "SECTIONS", "DEFAULT_OUT", "ROWS_PER_GROUP", "SEED", "simulate",
           "input_bytes", "add_parser", "main", "comparisons", "check_targets", "markdown", "plot"]
