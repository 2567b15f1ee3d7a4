"""The robustness catalogue: awkward and bad inputs, each with its expected behaviour.

Every entry of CATALOGUE is one awkward input and exactly one of

* ``Value(check)``    : a fit with no warning, whose answer ``check`` verifies by
                        an identity or an equivariance (not by a stored number);
* ``Warns(cls, match, check)``: the documented warning class, and a finite
                        answer that ``check`` verifies;
* ``Raises(match)``   : a ValueError whose message names the offending input
                        and says what to do.

The same table, in words, is tests/robustness_catalogue.md (the test
``test_catalogue_document_is_current`` keeps the two in step; regenerate it
with ``python tests/test_robustness.py > tests/robustness_catalogue.md``).
The equivariance, invariance and no-aliasing tests follow the catalogue.
tests/test_properties.py throws random designs of the same kinds at the fit.
"""

import copy
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pytest

from refimpl import MixedLM, checks, model, simulate
import catalogue_other_rows as other_rows  # noqa: E402  (rows checked in other test files)
from refimpl.checks import ConditioningWarning
from refimpl.fit import ConvergenceWarning
from refimpl.tolerances import IDENTITY

#: Two fits of the same problem (y scaled, rows permuted, groups relabelled)
#: agree to the identity tier: the optimizer sees the same numbers up to
#: rounding (phi and the verdict are scale-free) and Newton ends at machine
#: precision, so they agree to about 1e-15 in practice.
EQUIVARIANT = IDENTITY
#: ... and their llf, absolutely.
EQUIVARIANT_LLF = 1e-9
#: After y + 1e8 every y is rounded to a multiple of ulp(1e8) = 1.5e-8: a
#: relative change of about 1e-8 in the data's spread, hence in the estimates
#: (observed ~1e-8), and of up to n * 7.5e-9 / sigma in the llf (observed 5e-8).
EQUIVARIANT_SHIFT = 1e-7
EQUIVARIANT_SHIFT_LLF = 1e-6


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------

def _sim(seed=3):
    """14 groups of 5..10 rows: intercept + slope (correlated) and a variance component."""
    return simulate.simulate(n_groups=14, group_sizes=(5, 10), fe_params=(1.0, 0.5, -0.3),
                             cov_re=[[1.0, 0.3], [0.3, 0.5]], vcomp={"a": (0.6, 2)},
                             scale=1.0, seed=seed)


SIM = _sim()
SPEC = dict(formula="y ~ x1 + x2", groups="g", re_formula="~x1", vc_formula={"a": "0 + C(a)"})


def _frame():
    return SIM.data.copy()


def _arrays(seed=0, G=8, m=5):
    """(y, X, groups, Z): G groups of m rows, intercept + one covariate, random intercept + slope."""
    rng = np.random.default_rng(seed)
    n = G * m
    x = rng.standard_normal(n)
    X = np.column_stack([np.ones(n), x])
    g = np.repeat(np.arange(G), m)
    b = rng.standard_normal((G, 2)) * [1.0, 0.5]
    y = X @ [1.0, 0.5] + np.einsum("nk,nk->n", X, b[g]) + rng.standard_normal(n)
    return y, X, g, X.copy()


def _formula_fit(data, reml=True, **spec):
    spec = {**SPEC, **spec}
    return MixedLM.from_formula(data=data, **spec).fit(reml=reml)


def _quiet_fit(model, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(**kw)


def _assert_same_fit(a, b, tol=EQUIVARIANT, what=""):
    """Two results of the same problem agree (fe_params, cov_re, vcomp, scale, llf)."""
    for name in ("fe_params", "cov_re", "vcomp"):
        x, y = np.asarray(getattr(a, name), float), np.asarray(getattr(b, name), float)
        scale = max(np.max(np.abs(y), initial=0.0), 1e-300)
        assert np.allclose(x, y, rtol=tol, atol=tol * scale), (what, name, x, y)
    assert a.scale == pytest.approx(b.scale, rel=tol), what
    assert a.llf == pytest.approx(b.llf, rel=EQUIVARIANT_LLF, abs=EQUIVARIANT_LLF), what


# --------------------------------------------------------------------------
# Expectations
# --------------------------------------------------------------------------

@dataclass
class Value:
    """A fit with no warning; ``check(result)`` verifies it by an identity."""
    check: Callable
    kind: str = "value"


@dataclass
class Warns:
    """The warning ``cls`` matching ``match``; ``check(result)`` verifies the answer."""
    cls: type
    match: str
    check: Callable = lambda res: None
    kind: str = "warning"


@dataclass
class Raises:
    """A ValueError (or ``cls``) whose message matches ``match`` (it names the input and the fix)."""
    match: str
    kind: str = "error"
    cls: type = ValueError


@dataclass
class Entry:
    id: str
    what: str                    # the awkward input, in words
    run: Callable                # () -> results (building the model counts)
    expect: object
    behaviour: str               # the expected behaviour, in words (for the document)


def _finite(res):
    for v in (res.fe_params, res.cov_re, res.vcomp):
        assert np.all(np.isfinite(np.asarray(v, float)))
    assert np.isfinite(res.llf) and res.scale > 0


# ---- value checks (identities) -------------------------------------------------

def _drop_equals_clean(role, value):
    """missing='drop' gives exactly the fit of the data without the poisoned row."""
    def run():
        y, X, g, Z = _arrays()
        y, X, Z = y.copy(), X.copy(), Z.copy()
        {"endog": y, "exog": X[:, 1], "exog_re": Z[:, 1]}[role][7] = value
        res = MixedLM(y, X, g, exog_re=Z, missing="drop").fit()
        return res, role
    return run


def _check_drop(out):
    res, _ = out
    y, X, g, Z = _arrays()
    keep = np.arange(len(y)) != 7
    clean = MixedLM(y[keep], X[keep], g[keep], exog_re=Z[keep]).fit()
    _assert_same_fit(res, clean, tol=1e-12)
    assert res.model.design.n_dropped == 1


def _check_zero_variance_boundary(reml):
    def check(res):
        # on the boundary the model is OLS: beta = OLS, scale = RSS / n_eff
        y, X = res.model.endog, res.model.exog
        b = np.linalg.lstsq(X, y, rcond=None)[0]
        rss = float(np.sum((y - X @ b) ** 2))
        assert res.singular and np.asarray(res.cov_re)[0, 0] == pytest.approx(0.0, abs=1e-10 * rss)
        assert np.allclose(res.fe_params, b, rtol=1e-10)
        n_eff = len(y) - X.shape[1] if reml else len(y)
        assert res.scale == pytest.approx(rss / n_eff, rel=1e-8)
    return check


def _zero_variance_data():
    """Random intercept whose between-group spread is exactly zero: every group mean is 0."""
    rng = np.random.default_rng(4)
    G, m = 10, 6
    e = rng.standard_normal((G, m))
    e -= e.mean(axis=1, keepdims=True)
    return e.ravel(), np.ones((G * m, 1)), np.repeat(np.arange(G), m)


def _perfectly_correlated_data():
    """Random slope = 2 x random intercept in every group: correlation exactly 1."""
    rng = np.random.default_rng(1)        # with |corr| = 1 the estimate lands on the boundary for this seed
    G, m = 25, 8
    x = np.tile(np.linspace(-1, 1, m), G)
    g = np.repeat(np.arange(G), m)
    b0 = rng.standard_normal(G)
    y = 1.0 + 0.5 * x + b0[g] * (1.0 + 2.0 * x) + 0.3 * rng.standard_normal(G * m)
    X = np.column_stack([np.ones(G * m), x])
    return y, X, g


def _check_perfect_correlation(res):
    c = np.asarray(res.cov_re)
    assert res.singular
    assert abs(c[0, 1] / np.sqrt(c[0, 0] * c[1, 1])) == pytest.approx(1.0, abs=1e-6)
    assert np.linalg.eigvalsh(c).min() >= -1e-10 * np.abs(c).max()


def _mixed_labels(codes):
    """Group labels of mixed types: ints, strings and a tuple."""
    out = np.empty(len(codes), dtype=object)
    for i, c in enumerate(codes):
        out[i] = c if c % 3 == 0 else (f"s{c}" if c % 3 == 1 else (c, "t"))
    return out


def _check_same_as_int_labels(res):
    y, X, g, Z = _arrays()
    base = MixedLM(y, X, g, exog_re=Z).fit()
    # group order differs (labels sort by type name, then value), the fit does not
    _assert_same_fit(res, base, tol=1e-10)
    labels = set(map(repr, res.random_effects))
    assert labels == set(map(repr, _mixed_labels(np.unique(g))))
    for code, lab in zip(np.unique(g), _mixed_labels(np.unique(g))):
        assert np.allclose(res.random_effects[lab], base.random_effects[code], rtol=1e-8, atol=1e-10)


def _check_scaled_column(res):
    """X[:, 1] * 1e6: beta_1 / 1e6, covariances unchanged, REML llf - log(1e6)."""
    y, X, g, Z = _arrays()
    base = MixedLM(y, X, g, exog_re=Z).fit()
    assert res.fe_params[1] == pytest.approx(base.fe_params[1] / 1e6, rel=EQUIVARIANT)   # arrays in, arrays out
    assert res.fe_params[0] == pytest.approx(base.fe_params[0], rel=EQUIVARIANT)
    assert np.allclose(res.cov_re, base.cov_re, rtol=EQUIVARIANT)
    assert res.llf == pytest.approx(base.llf - np.log(1e6), abs=1e-8)


def _check_no_fixed_effects(res):
    assert res.k_fe == 0 and len(res.fe_params) == 0
    m = res.model
    ml = MixedLM(m.endog, np.zeros((res.nobs, 0)), m.design.group_index).fit(reml=False)
    _assert_same_fit(res, ml, tol=1e-10, what="REML = ML without fixed effects")


def _check_crossed_single_group(res):
    assert res.converged and res.ngroups == 1
    _finite(res)


# --------------------------------------------------------------------------
# The catalogue
# --------------------------------------------------------------------------

def _poisoned(role, value, missing="none"):
    def run():
        y, X, g, Z = _arrays()
        y, X, Z = y.copy(), X.copy(), Z.copy()
        vc = {"a": {k: np.ones((5, 1)) for k in range(8)}}
        if role == "endog":
            y[3] = value
        elif role == "exog":
            X[4, 1] = value
        elif role == "exog_re":
            Z[5, 1] = value
        elif role == "exog_vc":
            vc["a"][2][1, 0] = value
        return MixedLM(y, X, g, exog_re=Z, exog_vc=vc, missing=missing).fit()
    return run


def _frame_run(mutate, formula="y ~ x1 + x2", **kw):
    def run():
        data = _frame()
        mutate(data)
        spec = {**SPEC, "formula": formula, **kw}
        return MixedLM.from_formula(data=data, **spec).fit()
    return run


def _arrays_run(mutate=None, fit_kw=None, **kw):
    def run():
        y, X, g, Z = _arrays()
        args = dict(endog=y, exog=X, groups=g, exog_re=Z)
        args.update(kw)
        if mutate:
            mutate(args)
        return MixedLM(**args).fit(**(fit_kw or {}))
    return run


def _set(key, fn):
    def mutate(args):
        args[key] = fn(args)
    return mutate


# --------------------------------------------------------------------------
# Inputs nobody listed: the formula front end, indexes, extremes, labels
# --------------------------------------------------------------------------

def _wide_frame():
    """SIM's data plus awkward columns: bool / string responses, quoted and non-ASCII names."""
    data = _frame()
    data["yb"] = data["y"] > data["y"].median()
    data["ys"] = np.where(data["yb"], "up", "down")
    data["x pos"] = data["x1"].abs() + 0.5
    data["größe"] = data["x2"]
    data["unused"] = 1.0
    return data


def _wide_run(formula, mutate=None, **kw):
    def run():
        data = _wide_frame()
        if mutate:
            mutate(data)
        return MixedLM.from_formula(data=data, **{**SPEC, "formula": formula, **kw}).fit()
    return run


def _nan_at(column, row=5):
    def mutate(data):
        data.loc[row, column] = np.nan
    return mutate


def _check_equals_clean(formula, column, row=5):
    def check(res):
        data = _wide_frame().drop(index=row)
        clean = _quiet_fit(MixedLM.from_formula(data=data, **{**SPEC, "formula": formula}))
        _assert_same_fit(res, clean, tol=1e-10, what=f"drop NaN in {column}")
    return check


def _check_like_sim(res):
    _assert_same_fit(res, _formula_fit(_frame()), tol=1e-10)


def _pairs_arrays():
    rng = np.random.default_rng(5)
    G = 30
    g = np.repeat(np.arange(G), 2)
    x = rng.standard_normal(2 * G)
    X = np.column_stack([np.ones(2 * G), x])
    b = rng.standard_normal((G, 2))
    y = X @ [1.0, 2.0] + b[g, 0] + 0.5 * b[g, 1] * x + 0.5 * rng.standard_normal(2 * G)
    return dict(endog=y, exog=X, groups=g, exog_re=X)


def _datetime_labels(a):
    return pd.Timestamp("2024-01-01") + pd.to_timedelta(a["groups"], unit="D")


def _check_same_as_arrays(res):
    _assert_same_fit(res, _arrays_run()(), tol=1e-10)


def _unhashable(a):
    out = np.empty(len(a["groups"]), dtype=object)
    out[:] = [[int(v)] for v in a["groups"]]
    return out


FRONT_END = [
    # ---- the formula front end ----------------------------------------------------------
    Entry("bool-response", "a bool response column (formula)", _wide_run("yb ~ x1 + x2"),
          Raises(r"the response 'yb' .* is not numeric"),
          "ValueError: patsy would make 0/1 dummies (statsmodels fits yb[False], sign flipped)"),
    Entry("string-response", "a string response column (formula)", _wide_run("ys ~ x1 + x2"),
          Raises(r"the response 'ys' .* is not numeric"), "ValueError naming the response"),
    Entry("two-column-lhs", "'y + x1 ~ 1': two columns on the left", _wide_run("y + x1 ~ 1"),
          Raises(r"left-hand side of formula 'y \+ x1 ~ 1' gives 2 columns"),
          "ValueError (statsmodels keeps the first column and silently drops x1)"),
    Entry("non-string-formula", "formula=3", _wide_run(3),
          Raises(r"formula must be a formula string", cls=TypeError), "TypeError naming formula"),
    Entry("re-formula-with-lhs", "re_formula='y ~ x1'", _wide_run("y ~ x1 + x2", re_formula="y ~ x1"),
          Raises(r"re_formula 'y ~ x1' must not have a left-hand side"), "ValueError showing the fix"),
    Entry("vc-formula-mixed-keys", "vc_formula with keys 'a' and 1",
          _wide_run("y ~ x1 + x2", vc_formula={"a": "0 + C(a)", 1: "0 + x2"}),
          Raises(r"vc_formula's keys .* must be strings"), "ValueError naming the keys"),
    Entry("nan-under-transform", "NaN in x pos, formula uses np.log(Q('x pos'))",
          _wide_run("y ~ np.log(Q('x pos')) + x2", _nan_at("x pos")),
          Raises(r"1 rows have NaN or inf in columns \[\"np.log\(Q\('x pos'\)\)\"\]"),
          "ValueError naming the term as patsy evaluates it"),
    Entry("nan-in-non-ascii-column-drop", "NaN in größe, missing='drop'",
          _wide_run("y ~ x1 + größe", _nan_at("größe"), missing="drop"),
          Warns(UserWarning, r"dropped 1 of \d+ rows .* \['größe'\]",
                _check_equals_clean("y ~ x1 + größe", "größe")),
          "UserWarning; the fit equals the fit of the clean rows"),
    Entry("nan-in-unused-column", "NaN in a column no formula uses", _wide_run("y ~ x1 + x2", _nan_at("unused")),
          Value(_check_like_sim), "fits, as if the column were not there"),
    Entry("nullable-float-with-NA", "a Float64 column holding pd.NA",
          _wide_run("y ~ x1 + xf", lambda d: d.__setitem__(
              "xf", pd.array(d["x2"].where(d.index != 4), dtype="Float64"))),
          Raises(r"1 rows have NaN or inf in columns \['xf'\]"), "ValueError naming the column"),
    # ---- pandas indexes -----------------------------------------------------------------
    Entry("shuffled-pandas-index", "endog and exog as pandas with differently ordered indexes",
          _arrays_run(lambda a: a.update(endog=pd.Series(a["endog"]),
                                         exog=pd.DataFrame(a["exog"]).sample(frac=1.0, random_state=0))),
          Raises(r"pandas indexes of endog and exog differ"),
          "ValueError (statsmodels: 'indices not aligned'); never paired by position"),
    Entry("misaligned-groups-series", "groups a Series whose index differs from data's",
          (lambda: MixedLM.from_formula("y ~ x1 + x2", _frame(), groups=_frame()["g"].sample(
              frac=1.0, random_state=1)).fit()),
          Raises(r"groups is a pandas Series whose index differs"), "ValueError"),
    # ---- numerical extremes -------------------------------------------------------------
    Entry("one-endog-1e300", "one y of 1e300",
          _arrays_run(_set("endog", lambda a: np.where(np.arange(40) == 3, 1e300, a["endog"]))),
          Raises(r"endog column 'y' has values of size 1.0e\+300.*overflow"),
          "ValueError naming the column (was: 'fitted exactly')"),
    Entry("one-exog-1e200", "one x of 1e200",
          _arrays_run(_set("exog", lambda a: np.column_stack(
              [a["exog"][:, 0], np.where(np.arange(40) == 3, 1e200, a["exog"][:, 1])]))),
          Raises(r"exog column 'x1' has values of size 1.0e\+200.*overflow"),
          "ValueError naming the column (was: 'linearly dependent')"),
    Entry("covariate-times-1e-160", "a covariate scaled by 1e-160",
          _arrays_run(_set("exog", lambda a: a["exog"] * [1.0, 1e-160])),
          Raises(r"exog column 'x1' has values of size .*underflow"),
          "ValueError naming the column (was: a failed Cholesky)"),
    Entry("complex-endog", "complex endog", _arrays_run(_set("endog", lambda a: a["endog"] + 1j)),
          Raises(r"endog has complex values"), "ValueError (numpy would drop the imaginary part)"),
    # ---- labels -------------------------------------------------------------------------
    Entry("group-column-named-0", "groups=0, a column named 0",
          lambda: MixedLM.from_formula("y ~ x1 + x2", _frame().rename(columns={"g": 0}), groups=0,
                                       re_formula="~x1", vc_formula={"a": "0 + C(a)"}).fit(),
          Value(_check_like_sim), "fits, the same as the column named g"),
    Entry("unhashable-labels", "group labels that are lists", _arrays_run(_set("groups", _unhashable)),
          Raises(r"groups must hold hashable labels.*row 0 holds list"), "ValueError naming the row"),
    Entry("datetime-labels", "datetime64 group labels", _arrays_run(_set("groups", _datetime_labels)),
          Value(_check_same_as_arrays), "fits with no pandas warning; the same as integer labels"),
    # ---- designs statsmodels and lme4 fit (refused before; only proofs are refused now) ---
    Entry("as-many-random-effects-as-rows", "groups of 2 rows, random intercept and slope",
          lambda: MixedLM(**_pairs_arrays()).fit(),
          Warns(checks.IdentifiabilityWarning, r"not larger than the number of random effects", _finite),
          "IdentifiabilityWarning (lme4 refuses); the parameters are identified, the fit goes on"),
]


CATALOGUE = [
    # ---- missing and non-finite values --------------------------------------------------
    *[Entry(f"{bad}-in-{role}", f"one {bad} in {role}", _poisoned(role, value),
            Raises(rf"1 rows have NaN or inf in \['{role}'\].*missing='drop'"),
            "ValueError naming the role, suggesting missing='drop'")
      for role in ("endog", "exog", "exog_re", "exog_vc")
      for bad, value in (("nan", np.nan), ("inf", np.inf))],
    *[Entry(f"nan-in-{role}-drop", f"one NaN in {role}, missing='drop'",
            _drop_equals_clean(role, np.nan),
            Warns(UserWarning, r"missing='drop': dropped 1 of 40 rows", _check_drop),
            "UserWarning saying how many rows were dropped; the fit equals the fit of the clean rows")
      for role in ("endog", "exog", "exog_re")],
    Entry("nan-in-formula-column", "NaN in a column the formula uses",
          _frame_run(lambda d: d.__setitem__("x2", d["x2"].where(d.index != 3))),
          Raises(r"1 rows have NaN or inf in columns \['x2'\]"),
          "ValueError naming the column"),
    Entry("missing-group-label", "a missing (None/NaN) group label",
          _arrays_run(_set("groups", lambda a: np.where(np.arange(40) == 6, None, a["groups"]))),
          Raises(r"groups has 1 missing labels \(None/NaN/NaT\), first at row 6"),
          "ValueError naming the row"),
    Entry("missing-group-label-drop", "a missing group label, missing='drop'",
          _arrays_run(_set("groups", lambda a: np.where(np.arange(40) == 7, None, a["groups"])),
                      missing="drop"),
          Warns(UserWarning, r"dropped 1 of 40 rows with a missing group label",
                lambda out: _check_drop((out, None))),
          "UserWarning; the fit equals the fit without that row"),
    # ---- shapes -----------------------------------------------------------------------
    Entry("length-mismatch", "exog one row shorter than endog",
          _arrays_run(_set("exog", lambda a: a["exog"][:-1])),
          Raises(r"exog has 39 rows but endog has 40"), "ValueError naming both lengths"),
    Entry("groups-length-mismatch", "groups one entry short",
          _arrays_run(_set("groups", lambda a: a["groups"][:-1])),
          Raises(r"groups has 39 entries but endog has 40 rows"), "ValueError naming both lengths"),
    Entry("empty-data", "no rows",
          lambda: MixedLM(np.zeros(0), np.zeros((0, 2)), np.zeros(0)).fit(),
          Raises(r"the data set is empty"), "ValueError"),
    Entry("fewer-rows-than-columns", "2 rows, 3 fixed effects",
          lambda: MixedLM(np.array([1.0, 2.0]), np.eye(2, 3) + 1, [0, 1]).fit(),
          Raises(r"exog has 3 columns but only 2 rows"), "ValueError naming the columns"),
    Entry("non-numeric-endog", "endog of strings",
          _arrays_run(_set("endog", lambda a: a["endog"].astype(str).astype(object) + "kg")),
          Raises(r"endog must be numeric"), "ValueError naming endog"),
    # ---- group structure ----------------------------------------------------------------
    Entry("single-group-random-intercept", "one group, random intercept next to a fixed intercept",
          _arrays_run(_set("groups", lambda a: np.zeros(40)), exog_re=None),
          Raises(r"random effects of exog_re \['Group'\] are confounded with the fixed effects"),
          "ValueError: the random intercept is the fixed one (REML is flat in its variance)"),
    Entry("single-group-crossed", "one group holding crossed variance components (statsmodels' way)",
          lambda: MixedLM.from_formula(data=simulate.preset("crossed", seed=1).data,
                                       **simulate.preset("crossed", seed=1).spec).fit(),
          Value(_check_crossed_single_group), "fits; converged"),
    Entry("all-groups-size-1", "every group has one row, random intercept",
          _arrays_run(_set("groups", lambda a: np.arange(40)), exog_re=None),
          Raises(r"number of observations \(40\) is not larger than the number of random effects "
                 r"\(40\).*cannot be identified"),
          "ValueError: Z Z' = I, so intercept and residual variance move together (a proof, "
          "not only lme4's check.nobs.vs.nRE)"),
    Entry("re-dimension-above-group-sizes", "3 random effects, groups of 2 rows",
          _arrays_run(_set("groups", lambda a: np.repeat(np.arange(20), 2)),
                      exog_re=np.column_stack([np.ones(40), np.linspace(-1, 1, 40),
                                               np.linspace(-1, 1, 40) ** 2])),
          Raises(r"number of observations \(40\) is not larger than the number of random effects "
                 r"\(60\).*cannot be identified"),
          "ValueError: I and the Z E_k Z' are linearly dependent (a proof of non-identifiability)"),
    Entry("mixed-type-group-labels", "group labels of mixed types (int, str, tuple)",
          _arrays_run(_set("groups", lambda a: _mixed_labels(a["groups"]))),
          Value(_check_same_as_int_labels),
          "fits; identical to integer labels; labels sort by type name, then value"),
    # ---- fixed-effects design -------------------------------------------------------------
    Entry("duplicated-exog-column", "a column of exog repeated",
          _arrays_run(_set("exog", lambda a: np.column_stack([a["exog"], a["exog"][:, 1]]))),
          Raises(r"rank deficient \(rank 2 < 3 columns\).*\['x1', 'x2'\]. Drop one of them"),
          "ValueError naming the dependent columns (lme4 would drop one with a message)"),
    Entry("constant-exog-column", "a second constant column next to the intercept",
          _arrays_run(_set("exog", lambda a: np.column_stack([a["exog"], np.full(40, 3.0)]))),
          Raises(r"rank deficient.*\['const', 'x2'\]"), "ValueError naming both constant columns"),
    Entry("rank-deficient-exog", "x3 = 2 x1 - x2 (formula)",
          _frame_run(lambda d: d.__setitem__("x3", 2 * d["x1"] - d["x2"]), formula="y ~ x1 + x2 + x3"),
          Raises(r"rank deficient \(rank 3 < 4 columns\).*\['x1', 'x2', 'x3'\]"),
          "ValueError naming exactly the dependent columns, not the intercept"),
    Entry("no-fixed-effects", "exog with no columns",
          _arrays_run(_set("exog", lambda a: np.zeros((40, 0))), exog_re=None),
          Value(_check_no_fixed_effects), "fits; REML equals ML (no fixed effects to integrate out)"),
    Entry("scaled-exog-column", "a covariate multiplied by 1e6",
          _arrays_run(_set("exog", lambda a: a["exog"] * [1.0, 1e6])),
          Value(_check_scaled_column), "fits; beta_1 / 1e6, covariances unchanged, REML llf - log 1e6"),
    Entry("badly-conditioned-exog", "a covariate shifted by 1e5 next to the intercept",
          _arrays_run(_set("exog", lambda a: a["exog"] + [0.0, 1e5])),
          Warns(ConditioningWarning, r"exog is badly conditioned \(condition number .*\).*Centre",
                _finite),
          "ConditioningWarning with the digits lost; finite estimates"),
    Entry("hopelessly-conditioned-exog", "a covariate shifted by 1e8 next to the intercept",
          _arrays_run(_set("exog", lambda a: a["exog"] + [0.0, 1e8])),
          Raises(r"exog is too badly conditioned.*Centre the columns"),
          "ValueError: no correct digits would be left; centre the column"),
    Entry("collinear-to-rounding-exog", "a covariate shifted by 1e17 next to the intercept (constant to rounding)",
          _arrays_run(_set("exog", lambda a: a["exog"] + [0.0, 1e17])),
          Raises(r"rank deficient.*to within rounding.*\['const', 'x1'\]"),
          "ValueError: rank deficient to within rounding"),
    # ---- random-effects design ------------------------------------------------------------
    Entry("duplicated-exog_re-column", "a column of exog_re repeated",
          _arrays_run(_set("exog_re", lambda a: np.column_stack([a["exog_re"], a["exog_re"][:, 1]]))),
          Raises(r"random-effects design has linearly dependent columns"), "ValueError"),
    Entry("zero-exog_re-column", "an all-zero column in exog_re",
          _arrays_run(_set("exog_re", lambda a: np.column_stack([a["exog_re"], np.zeros(40)]))),
          Raises(r"random-effects design has linearly dependent columns"), "ValueError"),
    Entry("no-random-effects", "exog_re with no columns and no variance components",
          _arrays_run(_set("exog_re", lambda a: np.zeros((40, 0)))),
          Raises(r"the model has no random effects"), "ValueError: fit an ordinary regression"),
    # ---- the response -------------------------------------------------------------------
    Entry("constant-endog", "y constant",
          _arrays_run(_set("endog", lambda a: np.full(40, 2.5))),
          Raises(r"endog is fitted exactly by the fixed effects"), "ValueError: sigma2 would be 0"),
    Entry("endog-constant-within-groups", "y constant within every group (random intercept)",
          _arrays_run(_set("endog", lambda a: a["groups"] * 0.7 + 1.0), exog_re=None),
          Raises(r"endog is fitted exactly by the fixed and random effects"),
          "ValueError: the likelihood is unbounded as sigma2 -> 0"),
    Entry("endog-signal-below-rounding", "y * 1e-8 + 1e8 (the signal is below the offset's rounding)",
          _arrays_run(_set("endog", lambda a: a["endog"] * 1e-8 + 1e8)),
          Raises(r"endog is fitted exactly by the fixed effects"),
          "ValueError: no digits of the signal are left"),
    Entry("endog-scale-1e-150", "y multiplied by 1e-150",
          _arrays_run(_set("endog", lambda a: a["endog"] * 1e-150)),
          Raises(r"endog column .* has values of size .* outside.*Rescale"),
          "ValueError: rescale y (the model is equivariant)"),
    Entry("endog-scale-1e150", "y multiplied by 1e150",
          _arrays_run(_set("endog", lambda a: a["endog"] * 1e150)),
          Raises(r"endog column .* has values of size .* outside"), "ValueError: rescale y"),
    # ---- boundary fits ------------------------------------------------------------------
    *[Entry(f"zero-variance-random-effect-{'reml' if reml else 'ml'}",
            "random intercept whose between-group variance is exactly 0",
            (lambda reml=reml: MixedLM(*_zero_variance_data()).fit(reml=reml)),
            Warns(ConvergenceWarning, r"boundary \(singular\) fit", _check_zero_variance_boundary(reml)),
            "ConvergenceWarning (boundary); cov_re = 0, fe_params = OLS, scale = RSS / n_eff")
      for reml in (True, False)],
    Entry("perfectly-correlated-random-effects", "random slope = 2 x random intercept in every group",
          lambda: MixedLM(*_perfectly_correlated_data(), exog_re=_perfectly_correlated_data()[1]).fit(),
          Warns(ConvergenceWarning, r"boundary \(singular\) fit", _check_perfect_correlation),
          "ConvergenceWarning (boundary); correlation = 1 exactly, cov_re PSD"),
    Entry("huge-variance-ratio", "random-intercept variance 1e10 times the residual variance",
          _arrays_run(_set("endog", lambda a: a["endog"] + 1e5 * np.repeat(np.arange(8.0) - 3.5, 5)),
                      exog_re=None),
          Warns(ConditioningWarning, r"explain all but a fraction .* keeps only about \d+ of its 16 digits",
                _finite),
          "ConditioningWarning saying how many digits the llf keeps; finite estimates"),
    Entry("maxiter-1", "maxiter=1 for Newton",
          _arrays_run(fit_kw=dict(method="newton", maxiter=1)),
          Warns(ConvergenceWarning, r"not converged.*maxiter", _finite),
          "ConvergenceWarning; converged=False, finite estimates"),
    *FRONT_END,
]


@pytest.mark.parametrize("entry", CATALOGUE, ids=[e.id for e in CATALOGUE])
def test_catalogue(entry):
    exp = entry.expect
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if isinstance(exp, Raises):
            with pytest.raises(exp.cls, match=exp.match) as info:
                entry.run()
            assert type(info.value) is exp.cls
            return
        out = entry.run()
    messages = [f"{w.category.__name__}: {w.message}" for w in caught]
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)], messages
    if isinstance(exp, Value):
        assert not caught, messages
    else:
        assert any(issubclass(w.category, exp.cls) and re.search(exp.match, str(w.message))
                   for w in caught), messages
    exp.check(out)


def test_catalogue_ids_are_unique():
    ids = [e.id for e in CATALOGUE]
    assert len(ids) == len(set(ids))


def catalogue_markdown():
    """The catalogue as a markdown table (tests/robustness_catalogue.md)."""
    lines = [
        "# Robustness catalogue",
        "",
        "Awkward and bad inputs and what refimpl does with each. Generated from",
        "`CATALOGUE` in `tests/test_robustness.py` (which checks every row):",
        "`python tests/test_robustness.py > tests/robustness_catalogue.md`.",
        "",
        "*value*: a fit with no warning, checked by an identity or equivariance;",
        "*warning*: the named warning and a finite, checked answer; *error*: a",
        "`ValueError` whose message names the input and the fix.",
        "",
        "| id | input | outcome | behaviour |",
        "|---|---|---|---|",
    ]
    for e in CATALOGUE:
        kind = e.expect.kind
        if isinstance(e.expect, Warns):
            kind = f"warning: `{e.expect.cls.__name__}`"
        lines.append(f"| `{e.id}` | {e.what} | {kind} | {e.behaviour} |")
    lines += other_rows.markdown_rows()
    lines += [
        "",
        "## Thresholds",
        "",
        "Named once, in `refimpl/checks.py` and `refimpl/model.py`:",
        "",
        f"- y is *fitted exactly* when its residual (after X, or after X and every group's Z_i)"
        f" is below `EXACT_FIT_TOL` = {checks.EXACT_FIT_TOL:g} of |y|.",
        f"- the spread of y (rms OLS residual) must lie in `Y_SCALE_RANGE` = {checks.Y_SCALE_RANGE}.",
        f"- exog's condition number with unit columns: `ConditioningWarning` above `KAPPA_WARN` ="
        f" {checks.KAPPA_WARN:.0e}, `ValueError` above `KAPPA_MAX` = {checks.KAPPA_MAX:.0e} (the likelihood"
        " sees X'V^-1 X, whose condition number is the square); exog_re only warns.",
        f"- a random-effect column lies in span(X) when its relative squared residual is below"
        f" `CONFOUNDED_TOL` = {checks.CONFOUNDED_TOL:g}.",
        f"- after a fit, `ConditioningWarning` when y0'y0 / qf exceeds 1e{model.CANCELLATION_DIGITS}:"
        " the quadratic form is a difference of sums of squares, so it keeps only"
        " 16 - log10(y0'y0 / qf) digits (variance ratios of about 1e8 and more).",
        f"- every column's length (root sum of squares) must lie in `MAGNITUDE_RANGE` = {checks.MAGNITUDE_RANGE}:"
        " beyond it its squares overflow or underflow, and the damage would surface far away.",
        f"- the covariance matrices I, Z E_k Z' count as linearly dependent (the variance parameters"
        f" are not identifiable: a refusal) when their unit-diagonal Gram matrix has an eigenvalue"
        f" below `IDENTIFIABILITY_TOL` = {checks.IDENTIFIABILITY_TOL:g}.",
        "",
        "## Decisions",
        "",
        "- A refusal is a proof. A design is refused only when the likelihood is provably"
        " unbounded (y fitted exactly by X and Z while rank [X | Z] < n) or the parameters"
        " provably not identifiable (I and the Z E_k Z' linearly dependent). lme4's"
        " check.nobs.vs.nRE alone (n <= random effects of a term) is an"
        " `IdentifiabilityWarning`, and the fit goes on (statsmodels' own test designs with"
        " square Z_i or groups of two rows with a random slope are fitted).",
        "- The formula front end reads patsy's own parse: missing values are those of the"
        " terms as evaluated (np.log(x), Q('my x'), non-ASCII names), a NaN in a column no"
        " formula uses is ignored, and the response must be one numeric column.",
        "- pandas inputs are paired by index only when their indexes are equal; otherwise a"
        " ValueError (never pairing by position). Complex numbers are refused, not truncated.",
        "- Group labels: any hashable value (datetimes included, sorted as numpy sorts them);"
        " a column of any name (0 too) via groups=name; lists and other unhashables are refused.",
        "",
        "Also tested in `tests/test_robustness.py`: equivariance of every estimate under",
        "y -> a y + X c (a = 1e-8, 1e8, -3; an intercept shift of 1e8), invariance under",
        "row permutation and group relabelling, and that no result aliases or modifies",
        "the caller's arrays or data frame. `tests/test_properties.py` fits random",
        "hostile designs (2,000 in `make test` and CI, 20,000 with `make test-long`) and classifies",
        "each as fitted, flagged or clear error; the counts are written to",
        "`reports/robustness_counts.json`. Its siblings draw hostile arguments",
        "(`test_properties_args.py`), formulas, dtypes and indexes (`test_properties_formula.py`)",
        "and plug-in answers for the validation gate (`test_properties_gate.py`).",
        "",
    ]
    return "\n".join(lines)


def test_catalogue_document_is_current():
    doc = Path(__file__).with_name("robustness_catalogue.md")
    assert doc.read_text() == catalogue_markdown(), (
        "tests/robustness_catalogue.md is out of date: "
        "python tests/test_robustness.py > tests/robustness_catalogue.md")


# --------------------------------------------------------------------------
# Equivariance and invariance
# --------------------------------------------------------------------------

@pytest.fixture(scope="module", params=[True, False], ids=["REML", "ML"])
def base(request):
    res = _formula_fit(_frame(), reml=request.param)
    assert res.converged and not res.singular, res.convergence.reason
    return res


@pytest.mark.parametrize("a, shift", [(1e-8, 0.0), (1e8, 0.0), (-3.0, 0.0), (1.0, 1e8), (1e8, 1e8)],
                         ids=["a=1e-8", "a=1e8", "a=-3", "shift=1e8", "a=1e8,shift=1e8"])
def test_estimates_scale_exactly_as_the_model_says(base, a, shift):
    """y -> a y + X c: fe -> a fe + c, cov_re, vcomp, scale -> a^2, llf -> llf - n_eff log|a|.

    c = (shift, 2, -1) moves the intercept by 1e8 and the slopes by O(1).
    Scaling is exact up to rounding. Adding 1e8 rounds every y to a multiple of
    ulp(1e8) = 1.5e-8, a relative change of about 1e-8 in the data's spread,
    so the shifted fit can only agree to about that (EQUIVARIANT_SHIFT).
    (y * 1e-8 + 1e8 keeps no digits of the signal: a catalogue entry.)
    """
    X = base.model.exog
    c = np.array([shift, 2.0, -1.0]) if shift else np.zeros(3)
    data = _frame()
    data["y"] = a * data["y"] + X @ c
    res = _formula_fit(data, reml=base.reml)
    assert res.converged, res.convergence.reason
    shifted = shift and abs(a) < 1e3            # (1e8 y + 1e8 is exact to the same rounding as 1e8 y)
    tol = EQUIVARIANT_SHIFT if shifted else EQUIVARIANT
    expect_fe = a * base.fe_params.to_numpy() + c
    assert np.allclose(res.fe_params, expect_fe, rtol=tol, atol=tol * abs(a) * np.abs(base.fe_params).max()), \
        (res.fe_params.to_numpy(), expect_fe)
    assert np.allclose(res.cov_re, a**2 * base.cov_re, rtol=tol), (res.cov_re, base.cov_re)
    assert np.allclose(res.vcomp, a**2 * base.vcomp, rtol=tol)
    assert res.scale == pytest.approx(a**2 * base.scale, rel=tol)
    n_eff = base.nobs - base.k_fe if base.reml else base.nobs
    assert res.llf == pytest.approx(base.llf - n_eff * np.log(abs(a)),
                                    abs=EQUIVARIANT_SHIFT_LLF if shifted else EQUIVARIANT_LLF)
    # BLUPs scale with a (the shift moves only fixed effects)
    g = next(iter(base.random_effects))
    assert np.allclose(res.random_effects[g], a * base.random_effects[g], rtol=tol,
                       atol=tol * abs(a) * np.abs(base.random_effects[g]).max())


def test_row_permutation_changes_nothing(base):
    data = _frame().sample(frac=1.0, random_state=11)
    res = _formula_fit(data, reml=base.reml)
    _assert_same_fit(res, base)
    for g in base.random_effects:
        assert np.allclose(res.random_effects[g], base.random_effects[g], rtol=1e-7, atol=1e-9)
    # fitted values follow the rows, in the caller's (permuted) order
    assert np.allclose(res.fittedvalues, pd.Series(base.fittedvalues, index=_frame().index)[data.index],
                       rtol=1e-8)


def test_group_relabelling_changes_nothing(base):
    data = _frame()
    codes = {g: f"Z{(5 * i) % 14:02d}" for i, g in enumerate(sorted(data["g"].unique()))}
    data["g"] = data["g"].map(codes)            # a different sort order of the same groups
    res = _formula_fit(data, reml=base.reml)
    _assert_same_fit(res, base)
    for old, new in codes.items():
        assert np.allclose(res.random_effects[new], base.random_effects[old], rtol=1e-7, atol=1e-9)


def test_integer_and_string_labels_give_the_same_fit():
    y, X, g, Z = _arrays()
    a = MixedLM(y, X, g, exog_re=Z).fit()
    b = MixedLM(y, X, np.array([f"grp{k}" for k in g]), exog_re=Z).fit()
    c = MixedLM(y, X, pd.Categorical(g * 10), exog_re=Z).fit()
    _assert_same_fit(a, b, tol=1e-12)
    _assert_same_fit(a, c, tol=1e-12)


def test_labels_equal_in_python_are_one_group():
    """1, 1.0 and True are the same dict key, so the same group (statsmodels' set() does the same)."""
    y, X, g, Z = _arrays()
    labels = np.array([[1, 1.0, True][i % 3] if k == 1 else k for i, k in enumerate(g)], dtype=object)
    res = MixedLM(y, X, labels, exog_re=Z).fit()
    assert res.ngroups == 8
    _assert_same_fit(res, MixedLM(y, X, g, exog_re=Z).fit(), tol=1e-12)


# --------------------------------------------------------------------------
# No aliasing: results never share memory with, or modify, the caller's data
# --------------------------------------------------------------------------

def _exercise(res):
    """Call every reader of a results object; return the arrays it hands out."""
    # np.asarray: array input gives ndarrays, formula input pandas objects (statsmodels' rule)
    out = [np.asarray(v) for v in (
        res.fe_params, res.cov_re, res.vcomp, res.params, res.bse, res.bse_fe, res.bse_re, res.bse_fe_gls,
        res.cov_params(), res.tvalues, res.pvalues, res.conf_int(), res.fittedvalues, res.resid,
        res.predict(), res.predict(include_random=True), res.simulate(seed=0),
        res.theta, res.phi, res.cov_re_unscaled, res.params_object.fe_params, res.params_object.cov_re)]
    out += [v.to_numpy() for v in res.random_effects.values()]
    out += [v.to_numpy() for v in res.random_effects_cov.values()]
    str(res.summary())
    res.aic, res.bic, res.llf, res.scale, res.converged, res.singular
    res.wald_test_fe(res.exog_names[-1])
    m = res.model
    out += [m.endog, m.exog, m.exog_re, m.design.Z, m.design.y, m.design.X]
    return out


def _assert_no_shared_memory(outputs, inputs):
    for a in outputs:
        for b in inputs:
            assert not np.shares_memory(np.asarray(a), np.asarray(b)), "a result aliases the caller's data"


def test_array_inputs_are_neither_aliased_nor_modified():
    y, X, g, Z = _arrays()
    rng = np.random.default_rng(8)
    vc = {"a": {k: rng.standard_normal((5, 2)) for k in range(8)}}
    inputs = [y, X, g, Z] + list(vc["a"].values())
    before = copy.deepcopy(inputs)
    res = _quiet_fit(MixedLM(y, X, g, exog_re=Z, exog_vc=vc))
    outputs = _exercise(res)
    for a, b in zip(inputs, before):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    _assert_no_shared_memory(outputs, inputs)
    # mutating what a result hands out changes neither the model nor the inputs
    llf, endog = res.llf, res.model.endog.copy()
    for arr in outputs[:-6]:
        if arr.size and arr.flags.writeable:
            arr[...] = 12345.0
    assert np.array_equal(res.model.endog, endog)
    for a, b in zip(inputs, before):
        assert np.array_equal(a, b)
    again = _quiet_fit(res.model)
    assert again.llf == pytest.approx(llf, abs=1e-10)


def test_data_frame_is_neither_aliased_nor_modified():
    data = _frame()
    data.index = pd.RangeIndex(100, 100 + len(data))         # a non-default index
    data["g"] = data["g"].astype("category")
    before = data.copy(deep=True)
    model = MixedLM.from_formula(data=data, **SPEC)
    res = model.fit()
    outputs = _exercise(res)
    pd.testing.assert_frame_equal(data, before, check_exact=True)
    assert data.index.equals(before.index) and (data.dtypes == before.dtypes).all()
    columns = [data[c].to_numpy() for c in data.columns if data[c].dtype != "category"]
    _assert_no_shared_memory(outputs, columns)
    res.fe_params.iloc[0] = 1e9
    res.cov_re.iloc[0, 0] = -1.0
    pd.testing.assert_frame_equal(data, before, check_exact=True)
    assert model.fit().fe_params.iloc[0] != 1e9


def test_missing_drop_does_not_modify_the_frame():
    data = _frame()
    data.loc[data.index[4], "x1"] = np.nan
    before = data.copy(deep=True)
    with pytest.warns(UserWarning, match="dropped 1 of"):
        MixedLM.from_formula(data=data, missing="drop", **SPEC).fit()
    pd.testing.assert_frame_equal(data, before, check_exact=True)


if __name__ == "__main__":
    print(catalogue_markdown(), end="")
