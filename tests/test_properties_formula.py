"""Property-based robustness of the formula front end: hostile data frames never fail silently.

The sibling of tests/test_properties.py (same outcomes, same classifier), for
``MixedLM.from_formula``. Each example draws a data frame and formulas:

* the covariate's name plain, quoted (``Q('my x')``) or non-ASCII (``größe``),
  under a transform (``np.log``, ``I(x**2)``, ``C(x)``, ``np.exp``);
* a dtype for each role: the response (float, nullable Float64 / Int64,
  bool, string), the covariate (float, Float64, Int64, bool, categorical,
  complex, datetime), the group column (int, string, categorical, datetime,
  float) named ``g``, ``school`` or ``0``;
* a random intercept or slope, and a nested variance component
  (``0 + C(c)``, ``0 + C(c):z``) or none;
* the index: a range, shuffled, duplicated, or strings;
* a NaN (or pd.NA) in a used column, an unused one, or the group column,
  with missing='none' or 'drop'.

Every example is fitted and checked by an identity, flagged, or refused
with a known, explanatory error (classify in test_properties.py); and what
the generator knows is held to: a non-numeric response and complex data are
refused; a NaN in a column no formula uses changes nothing; missing='drop'
removes exactly the rows whose used values are missing.

Number of examples: ROBUST_EXAMPLES / 8 (250 by default, 2,500 in
``make test-long``).
"""

import os
import time
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from refimpl import MixedLM
from test_properties import Case, SilentFailure, classify

EXAMPLE_TIME_LIMIT = 60.0


def _n_examples():
    return max(1, int(os.environ.get("ROBUST_EXAMPLES") or 2000) // 8)


def _column(rng, kind, values):
    """values (float, n) as a column of the given dtype."""
    if kind == "float":
        return values
    if kind == "Float64":
        return pd.array(values, dtype="Float64")
    if kind == "Int64":
        return pd.array(np.round(values * 2).astype(int), dtype="Int64")
    if kind == "bool":
        return values > np.median(values)
    if kind == "str":
        return np.where(values > np.median(values), "hi", "lo").astype(object)
    if kind == "category":
        return pd.Categorical(np.where(values > 0, "pos", "neg"))
    if kind == "complex":
        return values + 1j
    if kind == "datetime":
        return pd.Timestamp("2024-01-01") + pd.to_timedelta(np.round(values).astype(int) % 4, unit="D")
    raise AssertionError(kind)


def _group_column(kind, codes):
    if kind == "int":
        return codes * 3 - 7
    if kind == "str":
        return np.asarray([f"s{c}" for c in codes], dtype=object)
    if kind == "category":
        return pd.Categorical([f"s{c}" for c in codes])
    if kind == "datetime":
        return pd.Timestamp("2020-02-28") + pd.to_timedelta(codes, unit="D")
    if kind == "float":
        return codes + 0.25
    raise AssertionError(kind)


def make_formula_case(seed):
    """The example for one seed (every choice from numpy's generator seeded with it)."""
    rng = np.random.default_rng(seed)

    def draw(options):
        return options[rng.integers(len(options))]

    G = int(rng.integers(2, 16))
    sizes = rng.integers(1, 8, size=G)
    n = int(sizes.sum())
    codes = np.repeat(np.arange(G), sizes)
    x = rng.standard_normal(n)
    z = rng.standard_normal(n)
    classroom = rng.integers(0, 3, size=n)
    y = 1.0 + 0.5 * x + rng.standard_normal(G)[codes] + rng.standard_normal(n)

    x_name = draw(["x", "my x", "größe"])
    x_ref = f"Q('{x_name}')" if x_name == "my x" else x_name
    x_kind = draw(["float"] * 4 + ["Float64", "Int64", "bool", "category", "complex", "datetime"])
    transform = draw(["{}"] * 3 + ["np.log({})", "I({}**2)", "C({})", "np.exp({})"])
    y_kind = draw(["float"] * 8 + ["Float64", "Int64", "bool", "str"])
    g_name = draw(["g", "school", 0])
    g_kind = draw(["int", "str", "category", "datetime", "float"])

    data = pd.DataFrame({"y": _column(rng, y_kind, y), x_name: _column(rng, x_kind, x), "z": z,
                         "c": np.asarray([f"c{v}" for v in classroom], dtype=object),
                         "unused": rng.standard_normal(n)})
    data[g_name] = _group_column(g_kind, codes)
    formula = f"y ~ {transform.format(x_ref)}"
    kwargs = dict(formula=formula, groups=g_name,
                  re_formula=draw([None, None, "1", "~z", f"~{x_ref}"]),
                  vc_formula=draw([None, None, {"c": "0 + C(c)"}, {"c": "0 + C(c):z"}]),
                  missing=draw(["none", "drop"]))
    index = draw(["range", "shuffled", "duplicated", "strings"])
    if index == "shuffled":
        data.index = rng.permutation(n)
    elif index == "duplicated":
        data.index = np.arange(n) // 2
    elif index == "strings":
        data.index = [f"r{i}" for i in range(n)]
    nan = draw(["none", "none", "used", "unused", "groups"])
    row = int(rng.integers(n))
    if nan == "used":
        column = draw(["y", x_name])
        if data[column].dtype.kind == "b":                # a bool column holding a missing value
            data[column] = data[column].astype(object)
        nullable = isinstance(data[column].dtype, pd.api.extensions.ExtensionDtype)
        data.iloc[row, data.columns.get_loc(column)] = pd.NA if nullable else None if \
            data[column].dtype.kind == "O" else np.nan
    elif nan == "unused":
        data.iloc[row, data.columns.get_loc("unused")] = np.nan
    elif nan == "groups":
        data[g_name] = pd.Series(data[g_name]).astype(object).where(np.arange(n) != row, None).to_numpy()
    if kwargs["re_formula"] is None and kwargs["vc_formula"] is None:
        del kwargs["re_formula"], kwargs["vc_formula"]

    must_fail = ""
    if y_kind in ("bool", "str"):
        must_fail = "non-numeric response"
    elif x_kind == "complex":
        must_fail = "complex covariate"
    notes = dict(seed=seed, x_kind=x_kind, y_kind=y_kind, g_kind=g_kind, nan=nan, row=row, index=index,
                 formula=formula, n=n)
    return Case(kwargs={**kwargs, "data": data}, formula=True,
                fit_kwargs=draw([dict(maxiter=None)] * 2 + [dict(method="newton", maxiter=None),
                                                             dict(method="em", maxiter=None)]),
                must_fail=must_fail, notes=notes)


def _check_missing_rows(case, outcome, detail):
    """What the generator knows about missing values, held to."""
    nan, missing = case.notes["nan"], case.kwargs["missing"]
    own_nan = "log" in case.notes["formula"]        # np.log of a negative x: the formula's own NaN
    if outcome == "clear error" and detail == "non-finite values" and nan in ("none", "unused") \
            and not own_nan:
        raise SilentFailure(f"a NaN in an unused column (or none) blocked the fit: {case.notes}")
    if outcome != "clear error" and missing == "drop" and nan in ("used", "groups") and not own_nan:
        kw = dict(case.kwargs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = MixedLM.from_formula(kw.pop("formula"), kw.pop("data"), **kw)
        if model.n_totobs != case.notes["n"] - 1:
            raise SilentFailure(f"missing='drop' kept {model.n_totobs} of {case.notes['n']} rows, "
                                f"one of which has a missing value: {case.notes}")


@settings(max_examples=_n_examples(), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.filter_too_much])
@given(seed=st.integers(0, 2**63 - 1))
@example(seed=0)
def test_every_formula_example_is_fitted_flagged_or_a_clear_error(seed):
    """Reproduce a failure with ``classify(make_formula_case(seed))``."""
    case = make_formula_case(seed)
    t0 = time.perf_counter()
    outcome, detail = classify(case)
    assert time.perf_counter() - t0 < EXAMPLE_TIME_LIMIT, case.notes
    _check_missing_rows(case, outcome, detail)


@pytest.mark.parametrize("seed", range(40))
def test_generator_covers_every_role(seed):
    """The generator builds a frame for every seed (no example is lost to the generator itself)."""
    case = make_formula_case(seed)
    assert isinstance(case.kwargs["data"], pd.DataFrame) and case.kwargs["formula"].startswith("y ~ ")
