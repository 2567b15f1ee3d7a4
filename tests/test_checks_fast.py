"""The checks' fast paths (checks.py, design.py) against their naive twins.

The checks read small summaries instead of the n-row matrices (issue #8):
the chunked R factor of [X | y | Z_re] (checks.r_factor), the per-group
statistics, and whole groups a chunk at a time. The twins below are the direct
computations they replace: SVDs and least squares on the full matrices, the
n x p Q of X, every group's projection at once, and group labels encoded
through Python objects. Small chunks make the chunked paths take many steps.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from refimpl import checks, groups as grouping, simulate
from refimpl.model import MixedLM
from refimpl.tolerances import IDENTITY

EPS = np.finfo(float).eps


def rel(a, b):
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))) / max(np.max(np.abs(b)), 1e-300))


# --------------------------------------------------------------------------
# Naive twins: the direct computations on the n-row matrices
# --------------------------------------------------------------------------

def naive_scaled_singular_values(A):
    """Singular values of A with unit columns (an SVD of the whole scaled matrix)."""
    norms = np.linalg.norm(A, axis=0)
    return np.linalg.svd(A / np.where(norms > 0, norms, 1.0), compute_uv=False)


def naive_response_residual(design):
    """|y - X b_ols| by lstsq on the whole X."""
    X, y = design.X, design.y
    return float(np.linalg.norm(y - X @ np.linalg.lstsq(X, y, rcond=None)[0]))


def naive_confounding_residuals(design):
    """(zz, resid) as (G, q): |z_cg|^2 - |Q'z_cg|^2 with the n x p Q of X = QR."""
    Q = np.linalg.qr(design.X)[0]
    G, q = design.n_groups, design.Z.shape[1]
    zz, resid = np.zeros((G, q)), np.zeros((G, q))
    for g, rows in enumerate(design.group_rows()):
        for c in range(q):
            z = design.Z[rows, c]
            zz[g, c] = z @ z
            resid[g, c] = z @ z - np.sum((Q[rows].T @ z) ** 2)
    return zz, resid


def naive_within_residual(design):
    """|y_w - X_w b| at the least-squares b: every group's span(Z_i) projected out, one group at a time."""
    yw, Xw = [], []
    for rows in design.group_rows():
        Zi, Wi = design.Z[rows], np.column_stack([design.y[rows], design.X[rows]])
        U, s, _ = np.linalg.svd(Zi, full_matrices=False)
        U = U[:, s > s.max() * max(Zi.shape) * EPS]
        Wi = Wi - U @ (U.T @ Wi)
        yw.append(Wi[:, 0])
        Xw.append(Wi[:, 1:])
    yw, Xw = np.concatenate(yw), np.concatenate(Xw)
    return float(np.linalg.norm(yw - Xw @ np.linalg.lstsq(Xw, yw, rcond=None)[0]))


# --------------------------------------------------------------------------
# Designs
# --------------------------------------------------------------------------

def _random_design(seed, shuffle=True, exact_within=False, confounded=False):
    """Unbalanced groups (1..9 rows), intercept + 2 covariates, random intercept + slope."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 10, size=30)
    g = np.repeat(np.arange(30), sizes) * 7 - 40            # labels neither 0..G-1 nor sorted by code
    n = len(g)
    X = np.column_stack([np.ones(n), rng.standard_normal(n), rng.standard_normal(n) * 1e3 + 5e3])
    Z = X[:, :2].copy()
    if confounded:                                         # group dummies in X: the random intercept
        X = np.column_stack([np.repeat(np.eye(30), sizes, axis=0), X[:, 1]])
    y = Z @ [1.0, 0.5] + rng.standard_normal(n)
    if exact_within:
        y = 3.0 + 0.5 * X[:, 1] + (g / 7.0) ** 2             # a group intercept and slope fit it exactly
    if shuffle:
        perm = rng.permutation(n)
        y, X, Z, g = y[perm], X[perm], Z[perm], g[perm]
    return y, X, Z, g


def _model(y, X, Z, g):
    return MixedLM(y, X, g, exog_re=Z)


def _designs():
    out = [(f"random-{s}", _model(*_random_design(s)).design) for s in range(4)]
    out.append(("sorted-rows", _model(*_random_design(9, shuffle=False)).design))
    for name in ("balanced", "unbalanced_singletons", "vc_slope", "crossed"):
        sim = simulate.preset(name, seed=2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out.append((name, MixedLM.from_formula(data=sim.data, **sim.spec).design))
    return out


DESIGNS = _designs()


@pytest.fixture(params=DESIGNS, ids=[name for name, _ in DESIGNS])
def design(request):
    return request.param[1]


# --------------------------------------------------------------------------
# The R factor and the group batches
# --------------------------------------------------------------------------

@pytest.mark.parametrize("chunk_rows", [1, 3, 7, 1000])
def test_chunked_r_factor_is_a_qr_of_the_whole_matrix(chunk_rows):
    rng = np.random.default_rng(chunk_rows)
    X, y, Z = rng.standard_normal((50, 3)) * [1.0, 1e4, 1e-3], rng.standard_normal(50), rng.standard_normal((50, 2))
    W = np.column_stack([X, y, Z])
    R = checks.r_factor(X, y, Z, chunk_rows=chunk_rows)
    assert R.shape == (6, 6) and np.all(np.tril(R, -1) == 0)
    # R is unique up to the sign of each row: compare |R| with numpy's QR of the whole W
    assert rel(np.abs(R), np.abs(np.linalg.qr(W, mode="r"))) <= IDENTITY
    for cols in ([0, 1, 2], [4, 5], [0, 3, 5]):            # any columns: the same singular values
        assert rel(naive_scaled_singular_values(R[:, cols]), naive_scaled_singular_values(W[:, cols])) <= IDENTITY


def test_r_factor_with_fewer_rows_than_columns():
    W = np.random.default_rng(0).standard_normal((3, 5))
    R = checks.r_factor(W, chunk_rows=2)
    assert R.shape == (3, 5)
    assert rel(R.T @ R, W.T @ W) <= IDENTITY


@pytest.mark.parametrize("chunk_rows", [1, 4, 10, 10_000])
def test_group_batches_hold_every_group_whole_and_every_row_once(chunk_rows):
    rng = np.random.default_rng(chunk_rows)
    group_index = rng.permutation(np.repeat(np.arange(12), rng.integers(1, 6, size=12)))
    seen = []
    for rows in checks.group_batches(group_index, 12, chunk_rows):
        assert rows.ndim == 2 and rows.shape[0] * rows.shape[1] <= max(chunk_rows, rows.shape[1])
        for r in rows:
            g = group_index[r[0]]
            assert np.array_equal(np.sort(r), np.flatnonzero(group_index == g))
        seen.append(rows.ravel())
    assert np.array_equal(np.sort(np.concatenate(seen)), np.arange(len(group_index)))


# --------------------------------------------------------------------------
# Each check against its twin, on designs that pass the checks
# --------------------------------------------------------------------------

def test_rank_and_conditioning_read_from_R(design):
    p, k = design.X.shape[1], design.layout.k_re
    assert rel(naive_scaled_singular_values(design.R[:, :p]), naive_scaled_singular_values(design.X)) <= IDENTITY
    if k:
        assert rel(np.linalg.svd(design.R[:, p + 1:], compute_uv=False),
                   np.linalg.svd(design.Z[:, :k], compute_uv=False)) <= IDENTITY


def test_response_residual(design):
    p = design.X.shape[1]
    fast = checks._lstsq_residual_norm(design.R[:p + 1, :p], design.R[:p + 1, p], design.n_obs)
    assert fast == pytest.approx(naive_response_residual(design), rel=IDENTITY)


def test_confounding_residuals(design):
    stats = MixedLM(None, None, None, _design=design).stats
    zz, resid = checks.confounding_residuals(design, stats)
    zz_naive, resid_naive = naive_confounding_residuals(design)
    assert rel(zz, zz_naive) <= IDENTITY
    # a difference of squares: compare on the scale of zz
    assert np.all(np.abs(resid - resid_naive) <= IDENTITY * np.maximum(zz, 1e-300))


@pytest.mark.parametrize("chunk_rows", [1, 5, 10_000])
def test_within_residual(design, chunk_rows):
    p = design.X.shape[1]
    Rw = checks.within_residual_R(design, chunk_rows=chunk_rows)
    fast = checks._lstsq_residual_norm(Rw[:, :p], Rw[:, p], design.n_obs)
    assert fast == pytest.approx(naive_within_residual(design), rel=IDENTITY)


def test_the_twins_agree_on_the_refusals():
    """Confounded, and fitted exactly by X and Z: both ways say so (the values are rounding)."""
    y, X, Z, g = _random_design(5, confounded=True)
    model = MixedLM(y, X, g, exog_re=Z[:, :1])
    zz, resid = checks.confounding_residuals(model.design, model.stats)
    zz_naive, resid_naive = naive_confounding_residuals(model.design)
    assert np.all(np.abs(resid[:, 0]) <= 1e-13 * zz[:, 0])
    assert np.all(np.abs(resid_naive[:, 0]) <= 1e-13 * zz_naive[:, 0])
    with pytest.raises(ValueError, match="confounded with the fixed effects"):
        model.fit()

    model = _model(*_random_design(5, exact_within=True))
    norm_y = np.linalg.norm(model.design.y)
    assert naive_within_residual(model.design) <= 1e-14 * norm_y
    Rw = checks.within_residual_R(model.design, chunk_rows=4)
    assert checks._lstsq_residual_norm(Rw[:, :3], Rw[:, 3], model.design.n_obs) <= 1e-14 * norm_y
    with pytest.raises(ValueError, match="fitted exactly by the fixed and random effects"):
        model.fit()


# --------------------------------------------------------------------------
# Group labels: np.unique for numeric labels, Python objects for the rest
# --------------------------------------------------------------------------

NUMERIC_LABELS = [
    np.array([3, -1, 2, -1, 3, 3]),
    np.array([3, 1, 2, 1], dtype=np.int32),
    np.array([7, 1, 7], dtype=np.uint8),
    np.array([2.5, -0.5, 2.5, 1e300, -np.inf]),
    np.array([True, False, False]),
]


@pytest.mark.parametrize("groups", NUMERIC_LABELS, ids=lambda g: str(g.dtype))
def test_numeric_labels_encode_as_through_python_objects(groups):
    codes, labels = grouping._encode_numpy_labels(groups)
    codes_naive, labels_naive = grouping._encode_object_labels(groups)
    assert np.array_equal(codes, codes_naive) and codes.dtype == codes_naive.dtype
    assert labels == labels_naive
    assert [type(v) for v in labels] == [type(v) for v in labels_naive]


def test_numeric_labels_refuse_nan_as_through_python_objects():
    groups = np.array([1.0, np.nan, 2.0, np.nan])
    messages = []
    for encode in (grouping._encode_numpy_labels, grouping._encode_object_labels):
        with pytest.raises(ValueError, match=r"2 missing labels \(None/NaN/NaT\), first at row 1") as err:
            encode(groups)
        messages.append(str(err.value))
    assert messages[0] == messages[1]


# --------------------------------------------------------------------------
# A refusal is a proof (issue "Drop-in", item 6): what statsmodels and lme4 fit is fitted
# --------------------------------------------------------------------------

def naive_covariance_gram_smallest_eigenvalue(design):
    """The Gram matrix of I, Z E_k Z' (n x n matrices, trace inner product), the long way."""
    n = design.n_obs
    Z = np.zeros((n, design.n_groups * design.layout.q))           # block-diagonal Z over groups
    q = design.layout.q
    for g, rows in enumerate(design.group_rows()):
        Z[np.ix_(rows, np.arange(g * q, (g + 1) * q))] = design.Z[rows]
    mats = [np.eye(n)] + [Z @ np.kron(np.eye(design.n_groups), E) @ Z.T
                          for E in design.layout.dPsi_dtheta()]
    M = np.array([[np.sum(A * B) for B in mats] for A in mats])
    d = np.sqrt(np.diag(M))
    return float(np.linalg.eigvalsh(M / np.outer(d, d)).min())


def _pairs_design(seed=0):
    """Groups of two rows with a random intercept and slope: n = number of random effects."""
    rng = np.random.default_rng(seed)
    G = 40
    g = np.repeat(np.arange(G), 2)
    x = rng.standard_normal(2 * G)
    X = np.column_stack([np.ones(2 * G), x])
    b = rng.standard_normal((G, 2)) * [1.0, 0.5]
    y = X @ [1.0, 2.0] + b[g, 0] + b[g, 1] * x + 0.5 * rng.standard_normal(2 * G)
    return y, X, g


def _square_groups_design(seed=0):
    """Groups of 3 rows, random intercept + slope and a one-column component: every Z_i is square."""
    rng = np.random.default_rng(seed)
    G = 60
    g = np.repeat(np.arange(G), 3)
    n = 3 * G
    x, w = rng.standard_normal(n), rng.standard_normal(n)
    X = np.column_stack([np.ones(n), x])
    y = X @ [1.0, -1.0] + rng.standard_normal(G)[g] + rng.standard_normal(G)[g] * x \
        + rng.standard_normal(G)[g] * w + 0.3 * rng.standard_normal(n)
    vc = {"a": {k: w[g == k][:, None] for k in range(G)}}
    return y, X, g, vc


@pytest.mark.filterwarnings("ignore::refimpl.fit.ConvergenceWarning")
def test_as_many_random_effects_as_rows_is_fitted_with_a_warning():
    """lme4's check.nobs.vs.nRE refuses this; the likelihood is bounded and identified: fit, warn."""
    import statsmodels.api as sm

    y, X, g = _pairs_design()
    model = MixedLM(y, X, g, exog_re=X)
    smallest = checks.covariance_gram_smallest_eigenvalue(model.design, model.stats)
    assert smallest > 1e-3
    assert smallest == pytest.approx(naive_covariance_gram_smallest_eigenvalue(model.design), rel=1e-10)
    with pytest.warns(checks.IdentifiabilityWarning, match=r"number of observations \(80\) is not larger"):
        result = model.fit()
    assert np.isfinite(result.llf)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = sm.MixedLM(y, X, g, exog_re=X).fit()
    assert result.llf >= theirs.llf - 1e-6                   # a finite optimum, at least statsmodels'


def test_square_group_designs_are_fitted():
    """Every Z_i square: y is "fitted exactly" by X and Z, but [X | Z] has rank n: nothing follows.

    (statsmodels' own test_compare_numdiff and test_vcomp_formula are of this kind.)
    """
    import statsmodels.api as sm

    y, X, g, vc = _square_groups_design()
    model = MixedLM(y, X, g, exog_re=X, exog_vc=vc)
    with warnings.catch_warnings():
        warnings.simplefilter("error", checks.IdentifiabilityWarning)
        result = model.fit()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = sm.MixedLM(y, X, g, exog_re=X, exog_vc=vc).fit()
    assert result.llf >= theirs.llf - 1e-6


def test_one_row_per_group_random_intercept_is_still_refused():
    """Z Z' = I: sigma2 and the random-intercept variance move together; a proof, so a refusal."""
    rng = np.random.default_rng(3)
    n = 25
    X = np.column_stack([np.ones(n), rng.standard_normal(n)])
    model = MixedLM(rng.standard_normal(n), X, np.arange(n))
    assert checks.covariance_gram_smallest_eigenvalue(model.design, model.stats) < 1e-12
    assert naive_covariance_gram_smallest_eigenvalue(model.design) < 1e-12
    with pytest.raises(ValueError, match=r"variance parameters cannot be identified"):
        model.fit()


def test_covariance_gram_from_rows_equals_from_statistics(design):
    stats = MixedLM(None, None, None, _design=design).stats
    a = checks.covariance_gram_smallest_eigenvalue(design, stats)
    b = checks.covariance_gram_smallest_eigenvalue(design, None)      # per-group Z_i'Z_i from the rows
    assert a == pytest.approx(b, rel=1e-9, abs=1e-12)


def test_within_residual_screen_agrees_with_the_rows(design):
    """The statistics-only screen passes only designs whose exact within residual is large."""
    stats = MixedLM(None, None, None, _design=design).stats
    exact = naive_within_residual(design) ** 2 / float(design.y @ design.y)
    if checks.within_residual_clearly_positive(design, stats):
        assert exact > checks.SCREEN_RSS_FRACTION * 0.99


def test_within_residual_screen_passes_ordinary_designs_and_not_exact_fits():
    ordinary = _model(*_random_design(0)).design
    stats = MixedLM(None, None, None, _design=ordinary).stats
    # groups of one row make Z_i'Z_i singular for a random slope: those go to the exact check
    sizes = np.bincount(ordinary.group_index)
    assert checks.within_residual_clearly_positive(ordinary, stats) == bool(sizes.min() >= 2)
    y, X, Z, g = _random_design(5, exact_within=True)
    keep = np.isin(g, g[np.bincount(np.unique(g, return_inverse=True)[1])[np.unique(g, return_inverse=True)[1]] >= 3])
    exact = _model(y[keep], X[keep], Z[keep], g[keep])
    assert not checks.within_residual_clearly_positive(exact.design, exact.stats)


def test_within_residual_screen_does_not_pass_y_constant_within_groups():
    """The fixed intercept lies in span(Z): X_w'X_w is singular; that direction must be dropped."""
    y, X, Z, g = _random_design(2)
    keep = np.isin(g, np.unique(g)[np.bincount(np.unique(g, return_inverse=True)[1]) >= 2])
    y, X, g = y[keep], X[keep], g[keep]
    y_const = (g - g.min()) * 0.7 + 1.0
    model = MixedLM(y_const, X, g)                          # random intercept only
    assert not checks.within_residual_clearly_positive(model.design, model.stats)
    with pytest.raises(ValueError, match="fitted exactly by the fixed and random effects"):
        model.fit()
    noisy = MixedLM(y, X, g)
    assert checks.within_residual_clearly_positive(noisy.design, noisy.stats)


def test_column_statistics_equal_the_sufficient_statistics(design):
    """The sparse route for diag(A_i) and B_i (used when the statistics are blocked) against suffstats."""
    from refimpl import estimable

    stats = MixedLM(None, None, None, _design=design).stats
    zz, ZtX = estimable.column_statistics(design)
    assert rel(zz, np.diagonal(stats.ZtZ, axis1=1, axis2=2)) <= IDENTITY
    assert rel(ZtX, stats.ZtX) <= IDENTITY


# --------------------------------------------------------------------------
# Crossed designs at scale: built and checked without a dense n x q Z
# --------------------------------------------------------------------------

def test_insteval_shaped_design_is_built_and_checked_in_bounded_memory():
    """73k rows, one group, three crossed components (2,972 x 1,128 x 14 levels): q = 4,114.

    A dense Z would be 2.4 GB; the build and the pre-fit checks (with no
    per-group statistics at hand, as with blocked statistics) stay far below.
    """
    import tracemalloc

    import pandas as pd

    from refimpl.design import design_from_formula

    rng = np.random.default_rng(0)
    n = 73_421
    data = pd.DataFrame({"s": rng.integers(0, 2972, n), "d": rng.integers(0, 1128, n),
                         "dept": rng.integers(0, 14, n), "one": 1, "x": rng.standard_normal(n)})
    data["y"] = rng.standard_normal(n)
    tracemalloc.start()
    try:
        design = design_from_formula("y ~ x", data, "one", vc_formula={
            "s": "0 + C(s)", "d": "0 + C(d)", "dept": "0 + C(dept)"})
        checks.check_estimable(design, None)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert design.layout.vc_sizes == (1128, 14, 2972) and design.Z_vc.nnz == 3 * n
    assert peak < 300 * 2**20, peak / 2**20
    with pytest.raises(ValueError, match=r"the design is large: a dense Z would be 73421 x 4114"):
        design.Z
    assert design.Z_rows(np.arange(5)).shape == (5, 4114)
