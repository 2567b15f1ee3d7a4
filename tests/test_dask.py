"""MixedLM on a Dask DataFrame (refimpl/distributed.py) against the in-memory fit of the same rows.

Everything runs on one LocalCluster with two worker processes, so the
statistics really are reduced across processes (pickled specs, partitions
read in workers, combines in other workers). Equality is to 1e-10 relative.
"""

import os

import numpy as np
import pandas as pd
import pytest

dask = pytest.importorskip("dask")
dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

from refimpl import MixedLM                       # noqa: E402
from refimpl.distributed import DaskMixedLM       # noqa: E402
from dask_cluster import local_client                   # noqa: E402

RTOL = 1e-10


@pytest.fixture(scope="module")
def client():
    # allowed-failures=0: a worker that dies fails its task at once (test_worker_death)
    with local_client(**{"distributed.scheduler.allowed-failures": 0}) as c:
        yield c


def simulated(seed=0, G=60, m=7, shuffle=True):
    """Grouped data: random intercept and slope, a categorical fixed effect, a cask factor, y near 100."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(G), m)
    x = rng.normal(size=G * m)
    cask = rng.choice(["c1", "c2", "c3"], G * m)
    y = (100 + 2 * x + rng.normal(size=G)[g] + 0.6 * rng.normal(size=G)[g] * x
         + 0.7 * rng.normal(size=(G, 3))[g, pd.Categorical(cask).codes] + rng.normal(size=G * m))
    df = pd.DataFrame({"y": y, "x": x, "g": g,
                       "t": pd.Categorical(rng.choice(["a", "b", "c"], G * m)),
                       "cask": pd.Categorical(cask)})
    if shuffle:                                   # every group spread over several partitions
        df = df.sample(frac=1, random_state=seed).reset_index(drop=True)
    return df


def pieces_frame(pieces):
    """A Dask DataFrame whose partitions are exactly ``pieces`` (pandas frames, some may be empty)."""
    return dd.from_map(lambda piece: piece, pieces, meta=pieces[0].iloc[:0], enforce_metadata=False)


def assert_same_fit(rd, rm):
    np.testing.assert_allclose(rd.fe_params.values, rm.fe_params.values, rtol=RTOL)
    np.testing.assert_allclose(rd.params.values, rm.params.values, rtol=RTOL, atol=RTOL * np.abs(rm.params.values).max())
    np.testing.assert_allclose(rd.bse.values, rm.bse.values, rtol=RTOL)
    np.testing.assert_allclose(rd.llf, rm.llf, rtol=RTOL)
    np.testing.assert_allclose(rd.scale, rm.scale, rtol=RTOL)
    assert list(rd.random_effects) == list(rm.random_effects)
    b_d = np.concatenate([v.values for v in rd.random_effects.values()])
    b_m = np.concatenate([v.values for v in rm.random_effects.values()])
    np.testing.assert_allclose(b_d, b_m, rtol=RTOL, atol=RTOL * np.abs(b_m).max())
    assert rd.convergence.passed == rm.convergence.passed
    assert rd.convergence.boundary == rm.convergence.boundary
    assert rd.convergence.reason.split(":")[0] == rm.convergence.reason.split(":")[0]


def test_grouped_random_slopes_split_groups(client):
    df = simulated()
    ddf = dd.from_pandas(df, npartitions=5)
    md = MixedLM.from_formula("y ~ x + C(t)", ddf, groups="g", re_formula="~x")
    assert isinstance(md, DaskMixedLM)
    rd = md.fit()
    rm = MixedLM.from_formula("y ~ x + C(t)", df, groups="g", re_formula="~x").fit()
    assert_same_fit(rd, rm)
    assert rd.nobs == rm.nobs and rd.df_resid == rm.df_resid
    fitted = rd.fittedvalues.compute().sort_index()
    np.testing.assert_allclose(fitted.values, rm.fittedvalues.values, rtol=RTOL)
    np.testing.assert_allclose(rd.resid.compute().sort_index().values, rm.resid.values,
                               rtol=1e-8, atol=1e-10 * np.abs(rm.resid.values).max())


def test_statistics_match_in_memory(client):
    """The reduced stacks themselves (after re-centring at b_ols), not only the fit."""
    df = simulated(seed=3)
    md = MixedLM.from_formula("y ~ x", dd.from_pandas(df, npartitions=4), groups="g", re_formula="~x")
    mm = MixedLM.from_formula("y ~ x", df, groups="g", re_formula="~x")
    s, t = md.stats, mm.stats
    np.testing.assert_allclose(s.ZtZ, t.ZtZ, rtol=1e-13)
    np.testing.assert_allclose(s.ZtXy0, t.ZtXy0, rtol=1e-9, atol=1e-11 * np.abs(t.ZtXy0).max())
    np.testing.assert_allclose(s.beta_ols, t.beta_ols, rtol=1e-13)
    np.testing.assert_allclose(s.y0ty0, t.y0ty0, rtol=1e-13)
    np.testing.assert_array_equal(s.group_sizes, t.group_sizes)
    np.testing.assert_allclose(np.abs(md.design.R), np.abs(mm.design.R), rtol=1e-10, atol=1e-10)


def test_variance_components_empty_partitions_absent_levels(client):
    df = simulated(seed=1, shuffle=False)
    # partitions: an empty one, one without level 'c3' of cask nor 'c' of t, the rest
    first = df.iloc[:70]
    mask = (first["cask"] != "c3") & (first["t"] != "c")
    pieces = [df.iloc[:0], first[mask], first[~mask], df.iloc[:0], df.iloc[70:250], df.iloc[250:]]
    ddf = pieces_frame(pieces)
    kw = dict(groups="g", re_formula="1", vc_formula={"cask": "0 + C(cask)"})
    rd = MixedLM.from_formula("y ~ x + C(t)", ddf, **kw).fit()
    rm = MixedLM.from_formula("y ~ x + C(t)", pd.concat(pieces), **kw).fit()
    assert_same_fit(rd, rm)
    assert list(rd.vcomp.index if hasattr(rd.vcomp, "index") else []) == list(
        rm.vcomp.index if hasattr(rm.vcomp, "index") else [])


def test_crossed_one_group(client):
    rng = np.random.default_rng(5)
    n = 400
    a, b = rng.integers(0, 12, n), rng.integers(0, 9, n)
    y = 3 + rng.normal(size=12)[a] + 0.5 * rng.normal(size=9)[b] + rng.normal(size=n)
    df = pd.DataFrame({"y": y, "one": np.zeros(n, dtype=np.int64),
                       "a": pd.Categorical(a), "b": pd.Categorical(b)})
    kw = dict(groups="one", vc_formula={"a": "0 + C(a)", "b": "0 + C(b)"})
    rd = MixedLM.from_formula("y ~ 1", dd.from_pandas(df, npartitions=3), **kw).fit()
    rm = MixedLM.from_formula("y ~ 1", df, **kw).fit()
    assert_same_fit(rd, rm)


def test_missing_drop_matches_in_memory(client):
    df = simulated(seed=2)
    df.loc[[3, 50, 51], "x"] = np.nan
    with pytest.warns(UserWarning, match="dropped 3"):
        rd = MixedLM.from_formula("y ~ x", dd.from_pandas(df, npartitions=3), groups="g",
                                  missing="drop").fit()
    with pytest.warns(UserWarning):
        rm = MixedLM.from_formula("y ~ x", df, groups="g", missing="drop").fit()
    assert_same_fit(rd, rm)
    fitted = rd.fittedvalues.compute().sort_index()
    np.testing.assert_allclose(fitted.values, rm.fittedvalues.values, rtol=RTOL)


# ---------------------------------------------------------------------------
# Bad input: a clear error naming the column and the fix
# ---------------------------------------------------------------------------

def test_string_column_needs_categorize(client):
    df = simulated()
    df["s"] = np.where(df["x"] > 0, "hi", "lo")
    ddf = dd.from_pandas(df, npartitions=2)
    with pytest.raises(ValueError, match=r"'s'.*categorize\(columns=\['s'\]\)"):
        MixedLM.from_formula("y ~ x + s", ddf, groups="g")
    unknown = ddf.astype({"s": "category"})                 # categories not known yet
    with pytest.raises(ValueError, match=r"'s'.*unknown categories.*categorize"):
        MixedLM.from_formula("y ~ x + s", unknown, groups="g")
    fixed = unknown.categorize(columns=["s"])
    MixedLM.from_formula("y ~ x + s", fixed, groups="g")   # builds


def test_dtypes_differ_between_partitions(client):
    df = simulated()
    other = df.iloc[200:].copy()
    other["x"] = (other["x"] * 10).round().astype(np.int64)
    ddf = pieces_frame([df.iloc[:200], other])
    with pytest.raises(ValueError, match=r"column 'x' has dtype int64 .* float64.*astype"):
        MixedLM.from_formula("y ~ x", ddf, groups="g")


def test_nan_under_missing_none(client):
    df = simulated()
    df.loc[7, "x"] = np.nan
    with pytest.raises(ValueError, match=r"\['x'\].*missing='drop'"):
        MixedLM.from_formula("y ~ x", dd.from_pandas(df, npartitions=3), groups="g")


def test_stateful_transform_refused(client):
    ddf = dd.from_pandas(simulated(), npartitions=2)
    with pytest.raises(ValueError, match="stateful transform center"):
        MixedLM.from_formula("y ~ center(x)", ddf, groups="g")


# ---------------------------------------------------------------------------
# Failures: never statistics of part of the data
# ---------------------------------------------------------------------------

class PartitionError(RuntimeError):
    pass


def _explode(pdf, target):
    if len(pdf) and pdf["g"].iloc[0] == target:
        raise PartitionError("cannot read this partition")
    return pdf


def _die(pdf, target):
    if len(pdf) and pdf["g"].iloc[0] == target:
        os._exit(1)                               # the worker process dies mid-pass
    return pdf


def _failing_frame(fn):
    """6 partitions of 70 rows (10 groups each); ``fn`` fails on the fourth (group 30 first)."""
    df = simulated(shuffle=False)
    ddf = dd.from_pandas(df, npartitions=6)
    assert ddf.npartitions == 6 and df["g"].iloc[ddf.divisions[3]] == 30
    return ddf.map_partitions(fn, 30, meta=df.iloc[:0])


def test_partition_that_fails_fails_the_fit(client):
    with pytest.raises(PartitionError, match="cannot read"):
        MixedLM.from_formula("y ~ x", _failing_frame(_explode), groups="g")


def test_worker_death_fails_the_fit(client):
    """allowed-failures=0 (the fixture): the death is reported, no partial statistics are returned.

    With Dask's default (3) the task is retried on a restarted worker, and fails
    the same way after the retries, since this partition always kills its worker.
    """
    with pytest.raises(distributed.KilledWorker):
        MixedLM.from_formula("y ~ x", _failing_frame(_die), groups="g")


def test_one_pass(monkeypatch):
    """Both outputs of the reduction (per-group sums, global rows) share one read of each partition."""
    from refimpl import dask_stats
    calls = []
    original = dask_stats.chunk

    def counting(pdf, spec, b_ref):
        calls.append(len(pdf))
        return original(pdf, spec, b_ref)

    monkeypatch.setattr(dask_stats, "chunk", counting)
    ddf = dd.from_pandas(simulated(), npartitions=5)
    with dask.config.set(scheduler="synchronous"):
        MixedLM.from_formula("y ~ x", ddf, groups="g")
    assert len(calls) == ddf.npartitions and sum(calls) == len(simulated())


def test_categorical_group_labels_in_statsmodels_order(client):
    """Categories in reverse order, some unused: groups come out sorted by label, as in memory."""
    df = simulated(seed=4, G=30)
    names = [f"s{k:02d}" for k in range(40)]
    df["gs"] = pd.Categorical([names[k] for k in df["g"]], categories=names[::-1])
    rd = MixedLM.from_formula("y ~ x", dd.from_pandas(df, npartitions=3), groups="gs").fit()
    rm = MixedLM.from_formula("y ~ x", df, groups="gs").fit()
    assert list(rd.random_effects) == list(rm.random_effects) == sorted(set(df["gs"].astype(str)))
    assert_same_fit(rd, rm)


def test_bench_generator_is_chunked_and_seeded():
    from validation.bench.distributed import generate
    chunks = list(generate(10_050, 1_000, chunk_rows=1_000))
    assert all(len(c) <= 1_000 for c in chunks) and sum(len(c) for c in chunks) == 10_050
    allrows = pd.concat(chunks)
    assert allrows["g"].nunique() == 1_000 and allrows["g"].is_monotonic_increasing
    again = pd.concat(list(generate(10_050, 1_000, chunk_rows=1_000)))
    pd.testing.assert_frame_equal(allrows, again)


def test_bench_distributed_smoke(tmp_path, capsys):
    """The --distributed command end to end at a tiny size (its own LocalCluster)."""
    import argparse

    from validation.bench.distributed import add_arguments, run
    p = argparse.ArgumentParser()
    add_arguments(p)
    args = p.parse_args(["--distributed", "--rows", "3000", "--groups", "300", "--memory-limit", "1GiB",
                         "--compare-rows", "3000", "--data-dir", str(tmp_path)])
    assert run(args) == 0
    out = capsys.readouterr().out
    assert "one-pass statistics" in out and "worker" in out
    import json
    o = json.loads((tmp_path / "distributed.json").read_text())
    assert o["converged"] and o["driver_peak_bytes"] > 0 and len(o["worker_peak_bytes"]) == 2
