"""The benchmark's data: seeded, identical for every engine.

* grouped: ``y ~ x + (x | g)`` with 10 rows per group (:func:`simulate`), as
  numpy arrays for the array interfaces and as a DataFrame with string group
  labels for the formula interfaces (:func:`grouped_frame`);
* crossed: two factors with ``L1`` and ``L2`` levels, fully crossed, ``reps``
  rows per cell, ``y ~ x + (1 | a) + (1 | b)`` (:func:`crossed_frame`);
* nested: ``schools x 5 classrooms x 10 pupils``,
  ``y ~ x + (1 | school/classroom)`` (:func:`refimpl.case_data.schools`);
* InstEval (lme4's data, 73,421 rows).

Each frame comes with the statsmodels spec (through
:func:`refimpl.lme4_formula.from_lme4`, the translation ``refimpl.lmer`` uses)
and the lme4 formula.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

ROWS_PER_GROUP = 10
FE_PARAMS = (1.0, 0.5)
COV_RE = ((1.0, 0.3), (0.3, 0.5))
SCALE = 1.0
SEED = 0
CROSSED_SD = (1.0, 0.7)  # standard deviations of the a and b effects
CROSSED_REPS = 5
INSTEVAL_FORMULA = "y ~ 1 + (1 | s) + (1 | d) + (1 | dept)"


def simulate(n_groups, rows_per_group=ROWS_PER_GROUP, seed=SEED):
    """y = X beta + Z b_g + e with X = Z = [1, x]: the grouped benchmark's data (a dict of arrays).

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


def frame_bytes(df: pd.DataFrame) -> int:
    """Bytes of a DataFrame, strings included (the formula benchmarks' input)."""
    return int(df.memory_usage(index=True, deep=True).sum())


def grouped_frame(data) -> pd.DataFrame:
    """The grouped data as a user has it: a DataFrame with string group labels."""
    width = len(str(int(data["g"].max())))
    labels = np.array([f"g{i:0{width}d}" for i in range(int(data["g"].max()) + 1)], dtype=object)
    return pd.DataFrame({"y": data["y"], "x": data["x"], "g": labels[data["g"]]})


def crossed_frame(L1: int, L2: int, reps: int = CROSSED_REPS, seed: int = SEED) -> pd.DataFrame:
    """``L1 x L2`` crossed levels, ``reps`` rows per cell: y = 1 + 0.5 x + a_i + b_j + e."""
    rng = np.random.default_rng(seed)
    a = np.repeat(np.arange(L1), L2 * reps)
    b = np.tile(np.repeat(np.arange(L2), reps), L1)
    x = rng.standard_normal(a.size)
    ua, ub = rng.normal(0, CROSSED_SD[0], L1), rng.normal(0, CROSSED_SD[1], L2)
    y = FE_PARAMS[0] + FE_PARAMS[1] * x + ua[a] + ub[b] + rng.standard_normal(a.size)
    return pd.DataFrame({"y": y, "x": x, "a": [f"a{i}" for i in a], "b": [f"b{j}" for j in b]})


@dataclasses.dataclass
class FormulaCase:
    """One formula benchmark: the data, statsmodels' spec, lme4's formula."""

    label: str
    data: pd.DataFrame          # with the columns the spec needs (e.g. a constant group)
    spec: dict
    lme4_formula: str
    factors: tuple[str, ...]    # columns R gets as factors

    @property
    def n_rows(self) -> int:
        return len(self.data)

    def levels(self) -> int:
        return int(sum(self.data[f].nunique() for f in self.factors))


def formula_case(label: str, data: pd.DataFrame, lme4_formula: str) -> FormulaCase:
    from refimpl.lme4_formula import from_lme4

    t = from_lme4(lme4_formula, data)
    factors = tuple(dict.fromkeys(c for bar in t.terms for c in bar.factor))
    return FormulaCase(label, t.data, t.spec, lme4_formula, factors)


def crossed_case(L1: int, L2: int, reps: int = CROSSED_REPS) -> FormulaCase:
    return formula_case(f"{L1}x{L2}", crossed_frame(L1, L2, reps), "y ~ x + (1 | a) + (1 | b)")


def nested_case(n_schools: int) -> FormulaCase:
    from refimpl.case_data import schools

    return formula_case(f"{n_schools} schools", schools(n_schools),
                        "y ~ x + (1 | school/classroom)")


def insteval_case() -> FormulaCase:
    from refimpl import datasets

    return formula_case("InstEval", datasets.load("InstEval"), INSTEVAL_FORMULA)
