"""Bad input is refused with a ValueError that names the input and the problem.

Every check asserts on the message text (STYLE.md habit 9: say what happened,
to which input, and what to do), not only on the exception type.
"""

import re
import warnings

import numpy as np
import pandas as pd
import pytest

from refimpl.model import MixedLM

N, G = 30, 6


@pytest.fixture
def arrays():
    """(y, X, groups, Z_re, exog_vc): 6 groups of 5 rows, intercept + slope, one component."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(N)
    X = np.column_stack([np.ones(N), x])
    vc = {"a": {g: rng.standard_normal((5, 2)) for g in range(G)}}
    return rng.standard_normal(N), X, np.repeat(np.arange(G), 5), X.copy(), vc


@pytest.fixture
def frame():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(N)
    return pd.DataFrame(dict(y=rng.standard_normal(N), x=x, z=rng.standard_normal(N),
                             g=np.repeat([f"g{i}" for i in range(G)], 5)))


def _poison(arrays, role, value):
    y, X, groups, Zre, vc = (a.copy() if isinstance(a, np.ndarray) else a for a in arrays)
    vc = {"a": {g: m.copy() for g, m in vc["a"].items()}}
    if role == "endog":
        y[3] = value
    elif role == "exog":
        X[4, 1] = value
    elif role == "exog_re":
        Zre[5, 1] = value
    elif role == "exog_vc":
        vc["a"][2][1, 0] = value
    return y, X, groups, Zre, vc


# --------------------------------------------------------------------------
# Missing values
# --------------------------------------------------------------------------

@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("role", ["endog", "exog", "exog_re", "exog_vc"])
def test_non_finite_values_are_refused_naming_the_role(arrays, role, value):
    y, X, groups, Zre, vc = _poison(arrays, role, value)
    with pytest.raises(ValueError, match=rf"1 rows have NaN or inf in \['{role}'\].*missing='drop'"):
        MixedLM(y, X, groups, exog_re=Zre, exog_vc=vc)


@pytest.mark.parametrize("role", ["endog", "exog", "exog_re", "exog_vc"])
def test_missing_drop_drops_rows_and_says_how_many(arrays, role):
    y, X, groups, Zre, vc = _poison(arrays, role, np.nan)
    with pytest.warns(UserWarning, match=r"missing='drop': dropped 1 of 30 rows"):
        model = MixedLM(y, X, groups, exog_re=Zre, exog_vc=vc, missing="drop")
    assert model.design.n_dropped == 1
    assert model.n_totobs == N - 1
    assert np.isfinite(model.loglike_profile(np.array([1.0, 0.1, 0.5, 0.3])))


def test_formula_nan_and_inf_name_the_columns(frame):
    frame.loc[2, "x"] = np.nan
    frame.loc[5, "y"] = np.inf
    frame.loc[7, "z"] = np.nan          # not in the formula: must not count
    with pytest.raises(ValueError, match=r"2 rows have NaN or inf in columns \['y', 'x'\]"):
        MixedLM.from_formula("y ~ x", frame, groups="g")
    with pytest.warns(UserWarning, match=r"dropped 2 of 30 rows with NaN or inf in \['y', 'x'\]"):
        model = MixedLM.from_formula("y ~ x", frame, groups="g", missing="drop")
    assert model.design.n_dropped == 2 and model.n_totobs == 28


def test_no_rows_left_after_dropping(frame):
    frame["y"] = np.nan
    with pytest.raises(ValueError, match=r"no rows are left after dropping"), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        MixedLM.from_formula("y ~ x", frame, groups="g", missing="drop")


@pytest.mark.parametrize("missing", ["raise", "skip", None])
def test_unknown_missing_option(arrays, frame, missing):
    y, X, groups, _, _ = arrays
    with pytest.raises(ValueError, match=rf"missing must be 'none' or 'drop', got {re.escape(repr(missing))}"):
        MixedLM(y, X, groups, missing=missing)
    with pytest.raises(ValueError, match=r"missing must be 'none' or 'drop'"):
        MixedLM.from_formula("y ~ x", frame, groups="g", missing=missing)


@pytest.mark.parametrize("bad", [None, np.nan], ids=["None", "nan"])
def test_missing_group_labels(arrays, frame, bad):
    y, X, groups, _, _ = arrays
    groups = groups.astype(object)
    groups[7] = bad
    with pytest.raises(ValueError, match=r"groups has 1 missing labels \(None/NaN/NaT\), first at row 7"):
        MixedLM(y, X, groups)
    frame["g"] = frame["g"].astype(object)
    frame.loc[3, "g"] = bad
    with pytest.raises(ValueError, match=r"groups has 1 missing labels .* first at row 3"):
        MixedLM.from_formula("y ~ x", frame, groups="g")


# --------------------------------------------------------------------------
# Shapes
# --------------------------------------------------------------------------

def test_mismatched_lengths(arrays, frame):
    y, X, groups, Zre, _ = arrays
    with pytest.raises(ValueError, match=r"exog has 30 rows but endog has 29"):
        MixedLM(y[:-1], X, groups)
    with pytest.raises(ValueError, match=r"groups has 29 entries but endog has 30 rows"):
        MixedLM(y, X, groups[:-1])
    with pytest.raises(ValueError, match=r"exog_re has 28 rows but endog has 30"):
        MixedLM(y, X, groups, exog_re=Zre[:-2])
    vc = {"a": {g: np.ones((5, 1)) for g in range(G)}}
    vc["a"][4] = np.ones((4, 1))
    with pytest.raises(ValueError, match=r"variance component 'a': the matrix for group 4 .* has 4 rows "
                                         r"but the group has 5"):
        MixedLM(y, X, groups, exog_vc=vc)
    del vc["a"][4]
    # (the label is shown with repr: "np.int64(4)" under numpy 2)
    with pytest.raises(ValueError, match=r"exog_vc\['a'\] has no matrix for group .*4.*; give one"):
        MixedLM(y, X, groups, exog_vc=vc)
    with pytest.raises(ValueError, match=r"groups has 29 entries but data has 30 rows"):
        MixedLM.from_formula("y ~ x", frame, groups=frame["g"].to_numpy()[:-1])
    with pytest.raises(ValueError, match=r"groups='nope' is not a column of data"):
        MixedLM.from_formula("y ~ x", frame, groups="nope")


def test_empty_data(frame):
    with pytest.raises(ValueError, match=r"empty \(endog has no rows\)"):
        MixedLM(np.zeros(0), np.zeros((0, 2)), np.zeros(0))
    with pytest.raises(ValueError, match=r"empty \(data has no rows\)"):
        MixedLM.from_formula("y ~ x", frame.iloc[:0], groups="g")


# --------------------------------------------------------------------------
# Identifiability
# --------------------------------------------------------------------------

def test_rank_deficient_exog_names_the_dependent_columns(arrays, frame):
    y, X, groups, _, _ = arrays
    rng = np.random.default_rng(5)
    # statsmodels' names for arrays: const, x1, x2, x3 (the constant is not counted)
    X4 = np.column_stack([X, rng.standard_normal(N), X[:, 1] + 1.0])    # x3 = const + x1
    with pytest.raises(ValueError, match=r"rank deficient \(rank 3 < 4 columns\).*"
                                         r"\['const', 'x1', 'x3'\]"):
        MixedLM(y, X4, groups)
    frame["w"] = 2.0 * frame["x"] - frame["z"]
    with pytest.raises(ValueError, match=r"rank deficient.*\['x', 'z', 'w'\]. Drop one of them"):
        MixedLM.from_formula("y ~ x + z + w", frame, groups="g")
    # the independent column is not blamed
    frame["w"] = frame["x"] * 3.0
    with pytest.raises(ValueError, match=r"\['x', 'w'\]"):
        MixedLM.from_formula("y ~ x + z + w", frame, groups="g")


def test_more_parameters_than_data_can_identify(arrays):
    y, X, _, _, _ = arrays
    # 5 singleton groups, intercept + slope: 2 fixed effects + 3 covariance + sigma2 > 5 rows
    with pytest.raises(ValueError, match=r"2 fixed effects, 3 covariance parameters and a residual "
                                         r"variance but only 5 observations"):
        MixedLM(y[:5], X[:5], np.arange(5), exog_re=X[:5])


def test_linearly_dependent_random_effects_columns(arrays, frame):
    y, X, groups, _, _ = arrays
    with pytest.raises(ValueError, match=r"random-effects design has linearly dependent columns.*"
                                         r"cannot be identified"):
        MixedLM(y, X, groups, exog_re=np.column_stack([X, 2.0 * X[:, 1]]))
    frame["x2"] = -frame["x"]
    with pytest.raises(ValueError, match=r"linearly dependent columns \['g', 'x', 'x2'\]"):
        MixedLM.from_formula("y ~ x", frame, groups="g", re_formula="~ x + x2")


def test_a_clean_design_raises_nothing(arrays, frame):
    """The control: the fixtures themselves are valid (so the errors above come from the poison)."""
    y, X, groups, Zre, vc = arrays
    assert MixedLM(y, X, groups, exog_re=Zre, exog_vc=vc).design.n_dropped == 0
    assert MixedLM.from_formula("y ~ x + z", frame, groups="g").n_totobs == N


# --------------------------------------------------------------------------
# Trust on inputs nobody listed (each block: one class of hostile input)
# --------------------------------------------------------------------------

@pytest.fixture
def wide(frame):
    """frame plus awkward columns: a bool and a string response, quoted and non-ASCII names, ..."""
    f = frame.copy()
    f["x"] = f["x"].abs() + 0.5                        # positive, for np.log(x)
    f["yb"] = f["y"] > 0
    f["ys"] = np.where(f["y"] > 0, "up", "down")
    f["my x"] = f["x"] * 2.0
    f["größe"] = f["z"] + 1.0
    f["unused"] = 1.0
    return f


# ---- 3. the formula front end -------------------------------------------------------------

@pytest.mark.parametrize("response", ["yb", "ys"])
def test_non_numeric_response_is_refused(wide, response):
    """patsy turns a bool / string response into dummies; statsmodels would fit yb[False] (sign flipped)."""
    with pytest.raises(ValueError, match=rf"the response '{response}' .* is not numeric"):
        MixedLM.from_formula(f"{response} ~ x", wide, groups="g")


def test_multi_column_left_hand_side_is_refused(wide):
    with pytest.raises(ValueError, match=r"left-hand side of formula 'y \+ x ~ 1' gives 2 columns"):
        MixedLM.from_formula("y + x ~ 1", wide, groups="g")


@pytest.mark.parametrize("bad", [3, None, ["y ~ x"]], ids=["int", "None", "list"])
def test_formula_must_be_a_string(wide, bad):
    with pytest.raises(TypeError, match=r"formula must be a formula string"):
        MixedLM.from_formula(bad, wide, groups="g")


def test_re_formula_with_a_response_is_refused(wide):
    with pytest.raises(ValueError, match=r"re_formula 'y ~ x' must not have a left-hand side.*'~ x'"):
        MixedLM.from_formula("y ~ x", wide, groups="g", re_formula="y ~ x")
    with pytest.raises(TypeError, match=r"re_formula must be a formula string"):
        MixedLM.from_formula("y ~ x", wide, groups="g", re_formula=1)


def test_vc_formula_keys_must_be_strings(wide):
    with pytest.raises(ValueError, match=r"vc_formula's keys .* must be strings, got \['a', 1\]"):
        MixedLM.from_formula("y ~ x", wide, groups="g", vc_formula={"a": "0 + z", 1: "0 + x"})


@pytest.mark.parametrize("term,column", [("np.log(x)", "x"), ("Q('my x')", "my x"), ("größe", "größe")])
def test_missing_values_are_found_through_patsy(wide, term, column):
    """The variables a formula uses are patsy's factors, not words matched by an ASCII regex."""
    wide.loc[4, column] = np.nan
    with pytest.raises(ValueError, match=re.escape(f"1 rows have NaN or inf in columns [{term!r}]")):
        MixedLM.from_formula(f"y ~ {term}", wide, groups="g")
    with pytest.warns(UserWarning, match=r"dropped 1 of 30 rows"):
        model = MixedLM.from_formula(f"y ~ {term}", wide, groups="g", missing="drop")
    assert model.n_totobs == 29 and model.exog_names == ["Intercept", term]


def test_nan_in_an_unused_column_does_not_block(wide):
    wide.loc[2, "unused"] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert MixedLM.from_formula("y ~ x", wide, groups="g").n_totobs == N
        assert MixedLM.from_formula("y ~ x", wide, groups="g", missing="drop").n_totobs == N


def test_nullable_dtypes_with_pd_NA(wide):
    wide["xf"] = pd.array(wide["x"], dtype="Float64")
    wide.loc[6, "xf"] = pd.NA
    with pytest.raises(ValueError, match=r"1 rows have NaN or inf in columns \['xf'\]"):
        MixedLM.from_formula("y ~ xf", wide, groups="g")
    before = wide.copy()
    with pytest.warns(UserWarning, match=r"dropped 1 of 30 rows with NaN or inf in \['xf'\]"):
        model = MixedLM.from_formula("y ~ xf", wide, groups="g", missing="drop")
    assert model.n_totobs == N - 1
    pd.testing.assert_frame_equal(wide, before)              # the caller's frame is untouched


def test_nullable_integer_column_fits_like_float(wide):
    wide["k"] = pd.array(np.arange(N) % 4, dtype="Int64")
    wide["kf"] = (np.arange(N) % 4).astype(float)
    a = MixedLM.from_formula("y ~ k", wide, groups="g").design
    b = MixedLM.from_formula("y ~ kf", wide, groups="g").design
    assert np.array_equal(a.X, b.X)


# ---- 4. index alignment -------------------------------------------------------------------

def test_pandas_inputs_with_different_indexes_are_refused(frame):
    exog = pd.DataFrame({"const": 1.0, "x": frame["x"]})
    shuffled = exog.sample(frac=1.0, random_state=0)
    with pytest.raises(ValueError, match=r"pandas indexes of endog and exog differ"):
        MixedLM(frame["y"], shuffled, frame["g"])
    with pytest.raises(ValueError, match=r"pandas indexes of endog and groups differ"):
        MixedLM(frame["y"], exog, frame["g"].sample(frac=1.0, random_state=1))
    with pytest.raises(ValueError, match=r"groups is a pandas Series whose index differs"):
        MixedLM.from_formula("y ~ x", frame, groups=frame["g"].sample(frac=1.0, random_state=2))
    # the same index (even shuffled, even duplicated) on every input is fine
    dup = frame.set_index(np.repeat(np.arange(N // 2), 2))
    MixedLM(dup["y"], pd.DataFrame({"const": 1.0, "x": dup["x"]}), dup["g"])
    MixedLM.from_formula("y ~ x", frame.sample(frac=1.0, random_state=3), groups="g")


# ---- 5. numerical extremes ----------------------------------------------------------------

@pytest.mark.parametrize("role,value,kind", [("endog", 1e300, "overflow"), ("exog", 1e200, "overflow"),
                                             ("exog_re", 1e180, "overflow")])
def test_one_huge_value_is_named(arrays, role, value, kind):
    """Before: "fitted exactly" (y) or "linearly dependent" (x), far from the cause."""
    y, X, groups, Zre, _ = _poison(arrays, role, value)
    with pytest.raises(ValueError, match=rf"{role} column .* values of size .*{kind}"):
        MixedLM(y, X, groups, exog_re=Zre)


def test_tiny_scaled_covariate_is_named(arrays):
    y, X, groups, Zre, _ = arrays
    X = X.copy()
    X[:, 1] *= 1e-160
    with pytest.raises(ValueError, match=r"exog column 'x1' has values of size .* underflow"):
        MixedLM(y, X, groups)
    vc = {"a": {g: np.full((5, 1), 1e-170) for g in range(G)}}
    with pytest.raises(ValueError, match=r"variance component 'a' has values of size .* underflow"):
        MixedLM(y, arrays[1], groups, exog_vc=vc)


def test_complex_input_is_refused(arrays, frame):
    y, X, groups, _, _ = arrays
    with warnings.catch_warnings():
        warnings.simplefilter("error")                       # no ComplexWarning, no truncation
        with pytest.raises(ValueError, match=r"endog has complex values"):
            MixedLM(y + 1j, X, groups)
        with pytest.raises(ValueError, match=r"exog has complex values"):
            MixedLM(y, pd.DataFrame({"c": 1.0, "x": X[:, 1] + 0j}), groups)
        frame["xc"] = frame["x"] + 2j
        with pytest.raises(ValueError, match=r"the term 'xc' has complex values"):
            MixedLM.from_formula("y ~ xc", frame, groups="g")


# ---- 7. labels ----------------------------------------------------------------------------

def test_group_column_named_zero(frame):
    data = frame.rename(columns={"g": 0})
    assert MixedLM.from_formula("y ~ x", data, groups=0).n_groups == G
    with pytest.raises(ValueError, match=r"groups=7 is not a column of data"):
        MixedLM.from_formula("y ~ x", data, groups=7)


def test_unhashable_labels_are_refused(arrays):
    y, X, groups, _, _ = arrays
    labels = np.empty(N, dtype=object)
    labels[:] = [[int(g)] for g in groups]
    with pytest.raises(ValueError, match=r"groups must hold hashable labels.*row 0 holds list \[0\]"):
        MixedLM(y, X, labels)


def test_datetime_labels_work_cleanly(frame):
    frame["day"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(np.repeat(np.arange(G), 5), unit="D")
    with warnings.catch_warnings():
        warnings.simplefilter("error")                       # pandas' FutureWarning was raised inside refimpl
        model = MixedLM.from_formula("y ~ x", frame, groups="day")
        arrays_model = MixedLM(frame["y"], pd.DataFrame({"c": 1.0, "x": frame["x"]}), frame["day"])
    assert model.n_groups == arrays_model.n_groups == G
    assert model.group_labels == sorted(model.group_labels)
    frame.loc[3, "day"] = pd.NaT
    with pytest.raises(ValueError, match=r"groups has 1 missing labels \(None/NaN/NaT\), first at row 3"):
        MixedLM.from_formula("y ~ x", frame, groups="day")
