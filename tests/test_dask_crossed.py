"""Crossed and nested designs on a Dask DataFrame (refimpl/dask_blocked.py) against the in-memory fit.

One LocalCluster with two worker processes (module-scoped), as tests/test_dask.py.
A crossed design with q >= BLOCKED_MIN_Q must come out as the same
BlockedStatistics as in memory (the twin: blocked_stats.compute_blocked_statistics
on the rows) and fit to the same estimates, to 1e-10 relative.
"""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

dask = pytest.importorskip("dask")
dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

from refimpl import MixedLM                                   # noqa: E402
from refimpl.blocked_stats import BlockedStatistics, as_dense  # noqa: E402
from refimpl.suffstats import SufficientStatistics            # noqa: E402

from test_dask import assert_same_fit, pieces_frame          # noqa: E402
from dask_cluster import local_client                   # noqa: E402

CROSSED = dict(groups="one", vc_formula={"a": "0 + C(a)", "b": "0 + C(b)"})


@pytest.fixture(scope="module")
def client():
    with local_client() as c:
        yield c


def crossed(L1, L2, n, seed=0, extra_levels=(0, 0), slope=False):
    """y = 5 + x + u_a + v_b (+ w_a x) + e on n random (a, b) cells; categories 0..L-1 (+ unused ones)."""
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, L1, n), rng.integers(0, L2, n)
    x = rng.normal(size=n)
    y = (5 + x + rng.normal(size=L1)[a] + 0.7 * rng.normal(size=L2)[b] + rng.normal(size=n)
         + (0.5 * rng.normal(size=L1)[a] * x if slope else 0))
    return pd.DataFrame({"y": y, "x": x, "one": np.zeros(n, dtype=np.int64),
                         "a": pd.Categorical(a, categories=range(L1 + extra_levels[0])),
                         "b": pd.Categorical(b, categories=range(L2 + extra_levels[1]))})


def assert_same_blocks(s, t):
    """The Dask BlockedStatistics against compute_blocked_statistics on the rows."""
    assert isinstance(s, BlockedStatistics) and isinstance(t, BlockedStatistics)
    assert s.j1 == t.j1 and s.layout == t.layout and s.layout2 == t.layout2
    np.testing.assert_array_equal(s.cols1, t.cols1)
    np.testing.assert_array_equal(s.cols2, t.cols2)
    assert isinstance(s.A21, np.ndarray) == isinstance(t.A21, np.ndarray)
    if not isinstance(t.A21, np.ndarray):
        assert s.A21.nnz == t.A21.nnz
    np.testing.assert_allclose(as_dense(s.A21), as_dense(t.A21), rtol=1e-13, atol=1e-13)
    for f in ("d1", "A22", "XtX", "beta_ols"):
        np.testing.assert_allclose(getattr(s, f), getattr(t, f), rtol=1e-12, atol=1e-12)
    for f in ("B1", "B2"):
        np.testing.assert_allclose(getattr(s, f), getattr(t, f), rtol=1e-10,
                                   atol=1e-11 * np.abs(getattr(t, f)).max())
    np.testing.assert_allclose(s.y0ty0, t.y0ty0, rtol=1e-12)
    assert s.n_obs == t.n_obs


def test_small_crossed_levels_split_over_partitions(client):
    """30 x 20 levels (q = 50 = BLOCKED_MIN_Q): rows of every level spread over 17 partitions.

    17 partitions: the group-by has split_out = 2 outputs, the global tree a combine level.
    """
    df = crossed(30, 20, 3000, seed=1)
    md = MixedLM.from_formula("y ~ x", dd.from_pandas(df, npartitions=17), **CROSSED)
    mm = MixedLM.from_formula("y ~ x", df, **CROSSED)
    assert_same_blocks(md.stats, mm.stats)
    rd, rm = md.fit(), mm.fit()
    assert_same_fit(rd, rm)
    np.testing.assert_allclose(rd.fittedvalues.compute().sort_index().values, rm.fittedvalues.values,
                               rtol=1e-10)


def test_crossed_above_old_dense_limit(client):
    """1,500 x 800 levels (q = 2,300: the dense q x q route refused this); in memory also blocked."""
    df = crossed(1500, 800, 20_000, seed=2)
    md = MixedLM.from_formula("y ~ x", dd.from_pandas(df, npartitions=4), **CROSSED)
    mm = MixedLM.from_formula("y ~ x", df, **CROSSED)
    assert md.layout.q == 2300 and not isinstance(md.stats.A21, np.ndarray)    # sparse co-occurrence
    assert_same_blocks(md.stats, mm.stats)
    assert_same_fit(md.fit(), mm.fit())


def test_empty_partitions_and_absent_levels(client):
    """Empty partitions; levels absent from some partitions; categories absent from all the data."""
    df = crossed(40, 25, 2000, seed=3, extra_levels=(3, 2))
    first = df.iloc[:600]
    no_low = first[(first["a"].cat.codes >= 10) & (first["b"].cat.codes >= 5)]
    low = first.drop(no_low.index)
    pieces = [df.iloc[:0], no_low, df.iloc[:0], low, df.iloc[600:1500], df.iloc[1500:], df.iloc[:0]]
    md = MixedLM.from_formula("y ~ x", pieces_frame(pieces), **CROSSED)
    mm = MixedLM.from_formula("y ~ x", pd.concat(pieces), **CROSSED)
    assert md.layout.q == 70 and np.count_nonzero(md.stats.d1 == 0) == 3
    assert_same_blocks(md.stats, mm.stats)
    assert_same_fit(md.fit(), mm.fit())


def test_random_slopes_by_level(client):
    """vc 0 + C(a):x (disjoint row supports) is block 1 as in memory; b's indicators are block 2."""
    df = crossed(60, 15, 2500, seed=4, slope=True)
    kw = dict(groups="one", vc_formula={"a": "0 + C(a):x", "b": "0 + C(b)"})
    md = MixedLM.from_formula("y ~ x", dd.from_pandas(df, npartitions=3), **kw)
    mm = MixedLM.from_formula("y ~ x", df, **kw)
    assert md.stats.j1 == 0
    assert_same_blocks(md.stats, mm.stats)
    assert_same_fit(md.fit(), mm.fit())


def test_three_factors(client):
    """Block 2 holds two factors: A22 has their co-occurrences off the diagonal."""
    df = crossed(40, 15, 2500, seed=10)
    rng = np.random.default_rng(10)
    c = rng.integers(0, 8, len(df))
    df["c"] = pd.Categorical(c)
    df["y"] += 0.5 * rng.normal(size=8)[c]
    kw = dict(groups="one", vc_formula={"a": "0 + C(a)", "b": "0 + C(b)", "c": "0 + C(c)"})
    md = MixedLM.from_formula("y ~ x", dd.from_pandas(df, npartitions=3), **kw)
    mm = MixedLM.from_formula("y ~ x", df, **kw)
    assert md.stats.q2 == 23 and np.count_nonzero(md.stats.A22 - np.diag(np.diag(md.stats.A22)))
    assert_same_blocks(md.stats, mm.stats)
    assert_same_fit(md.fit(), mm.fit())


@pytest.mark.filterwarnings("ignore::refimpl.checks.IdentifiabilityWarning")
def test_nested_variance_component_dense_per_group(client):
    """Classes within schools, 60 class levels (q = 61): per-group stacks, as in memory."""
    rng = np.random.default_rng(5)
    S, per = 20, 3                                            # 20 schools x 3 classes, 15 pupils each
    school = np.repeat(np.arange(S), per * 15)
    klass = np.repeat(np.arange(S * per), 15)
    x = rng.normal(size=len(school))
    y = 2 + x + rng.normal(size=S)[school] + 0.8 * rng.normal(size=S * per)[klass] + rng.normal(size=len(x))
    df = pd.DataFrame({"y": y, "x": x, "school": school, "cls": pd.Categorical(klass)}).sample(
        frac=1, random_state=5).reset_index(drop=True)
    kw = dict(groups="school", re_formula="1", vc_formula={"cls": "0 + C(cls)"})
    md = MixedLM.from_formula("y ~ x", dd.from_pandas(df, npartitions=4), **kw)
    mm = MixedLM.from_formula("y ~ x", df, **kw)
    assert isinstance(md.stats, SufficientStatistics) and isinstance(mm.stats, SufficientStatistics)
    np.testing.assert_allclose(md.stats.ZtZ, mm.stats.ZtZ, rtol=1e-13)
    assert_same_fit(md.fit(), mm.fit())


def test_one_group_without_disjoint_component_is_dense(client):
    """One group, q >= 50, but no component with disjoint supports: dense stack, as in memory."""
    rng = np.random.default_rng(6)
    n = 600
    cols = {f"z{k}": rng.normal(size=n) for k in range(50)}
    df = pd.DataFrame({"y": rng.normal(size=n), "one": np.zeros(n, dtype=np.int64), **cols})
    kw = dict(groups="one", vc_formula={"z": "0 + " + " + ".join(cols)})
    md = MixedLM.from_formula("y ~ 1", dd.from_pandas(df, npartitions=3), **kw)
    mm = MixedLM.from_formula("y ~ 1", df, **kw)
    assert isinstance(md.stats, SufficientStatistics) and isinstance(mm.stats, SufficientStatistics)
    np.testing.assert_allclose(md.stats.ZtZ, mm.stats.ZtZ, rtol=1e-12)


def test_memory_refusal_is_the_blocked_one(client):
    """6,000 x 6,000 categories: refused by blocked_stats.refuse_if_too_big, in memory and on Dask alike."""
    df = crossed(6000, 6000, 300, seed=7)
    with pytest.raises(ValueError, match="too large for the blocked Cholesky") as on_dask:
        MixedLM.from_formula("y ~ x", dd.from_pandas(df, npartitions=2), **CROSSED)
    with pytest.raises(ValueError, match="too large for the blocked Cholesky") as in_memory:
        MixedLM.from_formula("y ~ x", df, **CROSSED)
    assert str(on_dask.value) == str(in_memory.value)


def test_one_pass(monkeypatch):
    """The sparse pairs and the global rows share one read of each partition."""
    from refimpl import dask_blocked
    calls = []
    original = dask_blocked.chunk

    def counting(pdf, spec, b_ref):
        calls.append(len(pdf))
        return original(pdf, spec, b_ref)

    monkeypatch.setattr(dask_blocked, "chunk", counting)
    df = crossed(30, 20, 1000, seed=8)
    ddf = dd.from_pandas(df, npartitions=5)
    with dask.config.set(scheduler="synchronous"):
        model = MixedLM.from_formula("y ~ x", ddf, **CROSSED)
    assert isinstance(model.stats, BlockedStatistics)
    assert len(calls) == ddf.npartitions and sum(calls) == len(df)


def test_sparse_partition_rows_match_dense():
    """dask_design.partition_rows(sparse_vc=True) against its dense twin, with a term patsy must build."""
    from refimpl.dask_design import learn, partition_rows
    df = crossed(12, 7, 200, seed=9)
    df["c"] = pd.Categorical(np.arange(200) % 3)
    vc = {"a": "0 + C(a):x", "b": "0 + C(b)", "c": "C(c)"}          # C(c): reduced coding, patsy's route
    spec, _ = learn("y ~ x", dd.from_pandas(df, npartitions=1), "one", vc_formula=vc)
    keys, y, X, Z, _ = partition_rows(df, spec)
    keys_s, y_s, X_s, (Z_re, Z_vc), _ = partition_rows(df, spec, sparse_vc=True)
    assert sp.issparse(Z_vc)
    np.testing.assert_array_equal(keys, keys_s)
    np.testing.assert_array_equal(np.hstack([Z_re, Z_vc.toarray()]), Z)


@pytest.mark.filterwarnings("ignore::refimpl.fit.ConvergenceWarning")         # a boundary fit, both ways
def test_more_levels_than_rows_checked_from_the_blocks(client):
    """A term with at least n random effects: the identifiability check reads Z'Z from the blocks."""
    from refimpl.checks import IdentifiabilityWarning
    from refimpl.dask_blocked import dense_ZtZ
    from refimpl.suffstats import compute_statistics
    df = crossed(60, 20, 55, seed=11)                            # 60 levels of a, 55 rows: warned, fitted
    md = MixedLM.from_formula("y ~ x", dd.from_pandas(df, npartitions=2), **CROSSED)
    mm = MixedLM.from_formula("y ~ x", df, **CROSSED)
    np.testing.assert_allclose(dense_ZtZ(md.stats), compute_statistics(mm.design, blocked=False).ZtZ[0],
                               rtol=1e-13)
    with pytest.warns(IdentifiabilityWarning):
        rd = md.fit()
    with pytest.warns(IdentifiabilityWarning):
        rm = mm.fit()
    assert_same_fit(rd, rm)
    one_each = crossed(60, 20, 60, seed=12)                      # every level of a in one row: Z_a Z_a' = I
    one_each["a"] = pd.Categorical(np.arange(60))
    for data in (dd.from_pandas(one_each, npartitions=2), one_each):
        with pytest.raises(ValueError, match="cannot be identified"):
            MixedLM.from_formula("y ~ x", data, **CROSSED).fit()


def test_missing_drop(client):
    df = crossed(30, 25, 1500, seed=13)
    df.loc[[4, 400, 401], "x"] = np.nan
    df["b"] = df["b"].astype(object).where(df.index != 900, None).astype(df["b"].dtype)
    with pytest.warns(UserWarning, match="dropped 4"):
        rd = MixedLM.from_formula("y ~ x", dd.from_pandas(df, npartitions=3), missing="drop", **CROSSED).fit()
    with pytest.warns(UserWarning):
        rm = MixedLM.from_formula("y ~ x", df, missing="drop", **CROSSED).fit()
    assert_same_fit(rd, rm)
