"""MixedLM(endog, exog, groups, exog_re) with dask arrays (refimpl/dask_arrays.py) against the same numpy arrays.

The fits run on one LocalCluster with two worker processes (as tests/test_dask.py),
so blocks are read and statistics combined in other processes. Equality with
the in-memory array constructor is to 1e-10 relative; refusals name the argument.
"""

import numpy as np
import pandas as pd
import pytest

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

from refimpl import MixedLM, VCSpec                       # noqa: E402
from refimpl.dask_arrays import DaskArrayMixedLM          # noqa: E402
from refimpl.distributed import DaskMixedLM               # noqa: E402
from dask_cluster import local_client                   # noqa: E402

RTOL = 1e-10


@pytest.fixture(scope="module")
def client():
    with local_client() as c:
        yield c


def simulated(seed=0, G=40, m=6, shuffle=True):
    """(y, X = [1, x, w], Z = [1, x], g): random intercept and slope, y near 100."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(G), m)
    x, w = rng.normal(size=(2, G * m))
    y = (100 + 2 * x - w + rng.normal(size=G)[g] + 0.6 * rng.normal(size=G)[g] * x
         + rng.normal(size=G * m))
    X = np.column_stack([np.ones(G * m), x, w])
    if shuffle:                                   # every group spread over several blocks
        p = rng.permutation(G * m)
        y, X, g = y[p], X[p], g[p]
    return y, X, X[:, :2].copy(), g


def assert_same_fit(rd, rm):
    for name in ("fe_params", "params", "bse"):
        a, b = np.asarray(getattr(rd, name)), np.asarray(getattr(rm, name))
        assert type(getattr(rd, name)) is type(getattr(rm, name)) is np.ndarray   # arrays out
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=RTOL * np.abs(b).max(), err_msg=name)
    np.testing.assert_allclose(rd.llf, rm.llf, rtol=RTOL)
    np.testing.assert_allclose(rd.scale, rm.scale, rtol=RTOL)
    assert list(rd.random_effects) == list(rm.random_effects)
    b_d = np.concatenate([np.asarray(v) for v in rd.random_effects.values()])
    b_m = np.concatenate([np.asarray(v) for v in rm.random_effects.values()])
    np.testing.assert_allclose(b_d, b_m, rtol=RTOL, atol=RTOL * np.abs(b_m).max())
    assert rd.convergence.passed == rm.convergence.passed
    assert rd.convergence.boundary == rm.convergence.boundary
    assert rd.convergence.reason.split(":")[0] == rm.convergence.reason.split(":")[0]


def test_random_intercept_ml_and_reml(client):
    y, X, _, g = simulated()
    md = MixedLM(da.from_array(y, chunks=50), da.from_array(X, chunks=(50, 3)), da.from_array(g, chunks=50))
    assert isinstance(md, DaskArrayMixedLM) and isinstance(md, DaskMixedLM)
    mm = MixedLM(y, X, g)
    assert (md.exog_names, md.exog_re_names, md.endog_names) == (mm.exog_names, mm.exog_re_names,
                                                                 mm.endog_names)
    for reml in (True, False):
        rd, rm = md.fit(reml=reml), mm.fit(reml=reml)
        assert_same_fit(rd, rm)
        assert rd.nobs == rm.nobs and rd.df_resid == rm.df_resid


def test_random_slopes_string_labels_blocks_without_groups(client):
    """Sorted groups cut by uneven blocks: groups split across blocks, blocks without most groups,
    an empty block; exog_re chunked differently (rechunked to endog's), exog split along columns."""
    y, X, Z, g = simulated(seed=1, shuffle=False)
    labels = np.array([f"s{k:02d}" for k in g])[::-1].copy()       # reverse order: not sorted
    rows = (37, 0, 101, 55, len(y) - 193)
    ends = np.cumsum(rows)
    assert any(g[a] == g[a - 1] for a in ends[:-1])               # a group split by a block boundary
    assert len(set(g[ends[0]:ends[2]])) < len(set(g))              # a block without most groups
    dy = da.from_array(y[::-1].copy(), chunks=(rows,))
    dX = da.from_array(X[::-1].copy(), chunks=(rows, (1, 2)))
    dZ = da.from_array(Z[::-1].copy(), chunks=(60, 2))
    md = MixedLM(dy, dX, da.from_array(labels, chunks=(rows,)), exog_re=dZ)
    mm = MixedLM(y[::-1], X[::-1], labels, exog_re=Z[::-1])
    assert md.exog_re_names == mm.exog_re_names == ["x_re1", "x_re2"]
    for reml in (True, False):
        rd, rm = md.fit(reml=reml), mm.fit(reml=reml)
        assert_same_fit(rd, rm)
    fitted = rd.fittedvalues
    assert isinstance(fitted, da.Array) and fitted.chunks == (rows,)
    np.testing.assert_allclose(fitted.compute(), rm.fittedvalues, rtol=RTOL)
    np.testing.assert_allclose(rd.resid.compute(), rm.resid, rtol=1e-8,
                               atol=RTOL * np.abs(rm.resid).max())


def test_numpy_beside_dask_and_exog_names(client):
    """Numpy inputs are chunked like the dask ones; exog named as in memory (const wherever it is)."""
    y, X, _, g = simulated(seed=2)
    X = X[:, [1, 0, 2]].copy()
    X[5, 2] = 1.0                                   # a column with a 1 in it is not a constant
    md = MixedLM(da.from_array(y, chunks=70), X, g)
    mm = MixedLM(y, X, g)
    assert md.exog_names == mm.exog_names == ["x1", "const", "x2"]
    assert md.exog_re_names == mm.exog_re_names == ["Group"]
    assert_same_fit(md.fit(), mm.fit())


def test_float_labels_missing_drop(client):
    """Float labels (the label pass) with a NaN label and a NaN in exog dropped: fitted values of the
    kept rows, with unknown block sizes."""
    y, X, _, g = simulated(seed=3)
    gf = g.astype(float) / 2
    gf[7] = np.nan
    X[[11, 12], 1] = np.nan
    with pytest.warns(UserWarning, match="dropped 3"):
        md = MixedLM(da.from_array(y, chunks=60), da.from_array(X, chunks=(60, 3)),
                     da.from_array(gf, chunks=60), missing="drop")
    with pytest.warns(UserWarning):
        mm = MixedLM(y, X, gf, missing="drop")
    rd, rm = md.fit(), mm.fit()
    assert_same_fit(rd, rm)
    fitted = rd.fittedvalues
    assert np.isnan(fitted.shape[0])
    np.testing.assert_allclose(fitted.compute(), rm.fittedvalues, rtol=RTOL)


def test_one_pass(monkeypatch):
    """Every block is read once for the statistics and the names (plus, for b_ref, the first
    blocks until they hold dask_stats.REFERENCE_ROWS_PER_COLUMN rows per column of X)."""
    from refimpl import dask_arrays
    calls = []
    original = dask_arrays._partition

    def counting(y, *args):
        calls.append(len(y))
        return original(y, *args)

    monkeypatch.setattr(dask_arrays, "_partition", counting)
    y, X, _, g = simulated()
    with dask.config.set(scheduler="synchronous"):
        MixedLM(da.from_array(y, chunks=50), da.from_array(X, chunks=(50, 3)), da.from_array(g, chunks=50))
    from refimpl.dask_stats import REFERENCE_ROWS_PER_COLUMN
    read = [c for c in calls if c]                   # without the empty frame of the metadata
    n_ref = -(-REFERENCE_ROWS_PER_COLUMN * X.shape[1] // 50)          # blocks read for b_ref
    assert len(read) == 5 + n_ref and sum(read) == len(y) + 50 * n_ref


# ---------------------------------------------------------------------------
# Refused, naming the argument (no cluster needed: refused before any compute)
# ---------------------------------------------------------------------------

def _inputs():
    y, X, Z, g = simulated()
    return (da.from_array(y, chunks=50), da.from_array(X, chunks=(50, 3)), da.from_array(g, chunks=50),
            da.from_array(Z, chunks=(50, 2)))


def test_exog_vc_refused():
    y, X, g, Z = _inputs()
    vc = VCSpec(["a"], [[["c"]] * 40], [[np.ones((6, 1))] * 40])
    with pytest.raises(ValueError, match=r"exog_vc is not accepted with dask.array.*vc_formula"):
        MixedLM(y, X, g, exog_vc=vc)


def test_unknown_chunk_sizes_refused():
    y, X, g, Z = _inputs()
    with pytest.raises(ValueError, match=r"exog has unknown chunk sizes.*exog\.compute_chunk_sizes\(\)"):
        MixedLM(y, X[X[:, 0] == 1], g)


def test_lengths_refused():
    y, X, g, Z = _inputs()
    with pytest.raises(ValueError, match="exog_re has 239 rows but endog has 240"):
        MixedLM(y, X, g, exog_re=Z[1:])
    with pytest.raises(ValueError, match="groups has 200 rows but endog has 240"):
        MixedLM(y, X, np.zeros(200))
    with pytest.raises(ValueError, match="groups must be one-dimensional"):
        MixedLM(y, X, da.stack([g, g], axis=1))


def test_other_types_refused():
    y, X, g, Z = _inputs()
    with pytest.raises(TypeError, match=r"groups is a pandas Series.*to_numpy\(\)"):
        MixedLM(y, X, pd.Series(g.compute()))
    with pytest.raises(TypeError, match=r"exog is a DataFrame from Dask.*exog.to_dask_array"):
        MixedLM(y, dd.from_dask_array(X), g)
    with pytest.raises(ValueError, match="exog has complex values"):
        MixedLM(y, X + 1j, g)
    with pytest.raises(ValueError, match=r"endog must be numeric.*astype\(float\)"):
        MixedLM(y.astype(str), X, g)


def test_nan_under_missing_none_refused(client):
    y, X, g, Z = _inputs()
    with pytest.raises(ValueError, match=r"\['exog_1'\].*missing='drop'"):
        MixedLM(y, da.where((da.arange(240) == 7)[:, None] & (np.arange(3) == 1), np.nan, X), g)


def test_constructor_signature_is_statsmodels():
    """The dispatch in MixedLM.__new__ leaves the signature help() shows as statsmodels' __init__'s."""
    import inspect
    params = list(inspect.signature(MixedLM).parameters)
    assert params == ["endog", "exog", "groups", "exog_re", "exog_vc", "use_sqrt", "missing", "kwargs"]
