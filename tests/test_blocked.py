"""Blocked algebra for crossed designs (blocked_*.py) against its dense twins.

Designs: one group holding every row, crossed factors as variance components
(statsmodels' way), some with an indicator times a covariate (`0 + C(f):x`),
with empty, singleton and one-factor-only levels, and a correlated k_re block.
The twin is the per-group path of suffstats/likelihood/score/hessian/em/blup
on the same design (one group, dense q x q), itself held to the textbook n x n
formulas of dense.py by tests/test_derivatives.py. At random points, ML and REML:

* statistics, factor, log-likelihood, beta_hat: IDENTITY;
* profiled score, Hessian, (beta, theta) Hessian, score_full: IDENTITY;
* score and Hessian (sqrt and profile) vs finite differences: FD, FD_HESSIAN;
* one EM step, BLUPs and their conditional covariances: IDENTITY;
* a full default fit: same llf as the dense path.

Every test runs twice: with the co-occurrence block A21 stored sparse and dense.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from refimpl import blocked_cholesky, blup, em, hessian, likelihood, score
from refimpl.blocked_stats import (BLOCKED_MIN_Q, BlockedStatistics, compute_blocked_statistics,
                                   disjoint_components)
from refimpl.design import design_from_arrays
from refimpl.gradcheck import check_gradient, check_hessian
from refimpl.model import MixedLM
from refimpl.parameters import sqrt_to_profile
from refimpl.suffstats import SufficientStatistics, compute_statistics
from refimpl.tolerances import FD, FD_HESSIAN, IDENTITY


@pytest.fixture(autouse=True, params=["sparse A21", "dense A21"])
def a21_storage(request, monkeypatch):
    """Every test runs with A21 kept sparse and kept dense (blocked_stats.DENSE_A21_FILL)."""
    from refimpl import blocked_stats
    monkeypatch.setattr(blocked_stats, "DENSE_A21_FILL", 2.0 if request.param == "sparse A21" else -1.0)
    return request.param


def rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def indicators(codes, n_levels):
    M = np.zeros((len(codes), n_levels))
    M[np.arange(len(codes)), codes] = 1.0
    return M


def crossed_design(seed=0, n=240, levels=(30, 12, 4), k_re=0, slope=False):
    """One group, crossed factors: every factor but the last has an empty level (its
    last) and singletons; the last factor's last level is seen in a single row."""
    rng = np.random.default_rng(seed)
    codes = [rng.integers(0, L - 1, n) for L in levels]      # the last level of each is empty ...
    codes[0][codes[0] == levels[0] - 2] = 0                  # factor 0's level L - 2 is a singleton
    codes[0][5] = levels[0] - 2
    codes[-1][-1] = levels[-1] - 1                           # ... except the last factor's: one row
    x = rng.standard_normal(n)
    X = np.column_stack([np.ones(n), x])
    y = 1.0 + 0.5 * x + sum(rng.standard_normal(L)[c] for L, c in zip(levels, codes)) + rng.standard_normal(n)
    vc = {}
    for j, (L, c) in enumerate(zip(levels, codes)):
        M = indicators(c, L)
        if slope and j == 1:
            M = M * x[:, None]                               # `0 + C(f):x`: still disjoint supports
        vc[f"f{j}"] = {0: M}
    exog_re = None
    if k_re == 2:
        exog_re = np.column_stack([np.ones(n), rng.standard_normal(n)])
    return design_from_arrays(y, X, np.zeros(n), exog_re=exog_re, exog_vc=vc)


CASES = [dict(k_re=0), dict(k_re=0, slope=True), dict(k_re=2, slope=True), dict(levels=(40,), n=150)]
IDS = ["vc-only", "vc-with-slope", "k_re=2", "one-factor (q2 = 0)"]


def pair(case):
    d = crossed_design(**case)
    return d, compute_statistics(d, blocked=True), compute_statistics(d, blocked=False)


def random_phi(rng, n, zero=None):
    phi = rng.uniform(0.2, 1.5, n) * rng.choice([-1.0, 1.0], n)
    if zero is not None:
        phi[zero] = 0.0
    return phi


# --------------------------------------------------------------------------
# Statistics and factor
# --------------------------------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_blocked_statistics_are_the_dense_ones_reordered(case, a21_storage):
    d, sb, sd = pair(case)
    assert isinstance(sb, BlockedStatistics) and isinstance(sd, SufficientStatistics)
    assert isinstance(sb.A21, np.ndarray) == (a21_storage == "dense A21") or sb.q2 == 0
    order = np.concatenate([sb.cols1, sb.cols2])
    assert rel(blocked_cholesky.dense_A(sb), sd.ZtZ[0][np.ix_(order, order)]) <= IDENTITY
    assert rel(np.concatenate([sb.B1, sb.B2]), sd.ZtXy0[0][order]) <= IDENTITY
    assert sb.m1 == max(d.layout.vc_sizes)                   # the factor with most levels is block 1
    assert 1.0 in sb.d1                                      # a singleton level ...
    assert 0.0 in sb.d1 or d.layout.k_vc == 1                # ... and an empty one
    assert rel(sb.ZtZ_diagonal, sd.ZtZ_diagonal) <= IDENTITY
    assert rel(sb.ZtX, sd.ZtX) <= IDENTITY


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_blocked_cholesky_factors_the_assembled_C(case):
    d, sb, _ = pair(case)
    phi = random_phi(np.random.default_rng(3), d.layout.n_params)
    F = blocked_cholesky.blocked_cholesky(sb, phi)
    C, _ = blocked_cholesky.dense_C(sb, phi)
    assert abs(F.logdet - np.linalg.slogdet(C)[1]) <= IDENTITY * abs(F.logdet)
    R = np.random.default_rng(4).standard_normal((sb.q, 3))
    X1, X2 = F.solve(R[:sb.m1], R[sb.m1:])
    assert rel(np.concatenate([X1, X2]), np.linalg.solve(C, R)) <= IDENTITY


def test_disjoint_supports_are_read_from_the_matrix():
    """Indicators (and indicator x covariate) qualify; a covariate column or overlapping supports do not."""
    from refimpl.layout import Layout
    codes = np.array([0, 1, 1, 2, 0])
    ind = indicators(codes, 3)
    overl = ind.copy()
    overl[0, 1] = 1.0
    Zvc = sp.csr_array(np.hstack([ind, ind * np.arange(1, 6)[:, None], overl, np.ones((5, 1))]))
    assert disjoint_components(Layout(0, (3, 3, 3, 1)), Zvc) == [0, 1, 3]
    wrong = disjoint_components(Layout(0, (3, 3, 3, 1)), Zvc)
    assert 2 not in wrong


def test_too_large_schur_block_is_refused_before_allocation():
    """q2 = 40,000 columns outside the largest factor: a 12.8 GB dense block, refused with its size."""
    from refimpl.layout import Layout
    n = 50_000
    rng = np.random.default_rng(0)
    c1, c2 = rng.integers(0, 45_000, n), rng.integers(0, 40_000, n)
    Zvc = sp.hstack([sp.csr_array((np.ones(n), (np.arange(n), c1)), shape=(n, 45_000)),
                     sp.csr_array((np.ones(n), (np.arange(n), c2)), shape=(n, 40_000))], format="csr")
    with pytest.raises(ValueError, match=r"q2 = 40000.* \d+\.\d GB .*reorder or recode"):
        compute_blocked_statistics(rng.standard_normal(n), np.ones((n, 1)), np.zeros((n, 0)), Zvc,
                                   Layout(0, (45_000, 40_000)))


def test_dispatch_picks_blocked_for_one_large_crossed_group_only():
    d = crossed_design(n=400, levels=(150, 60, 5))
    assert d.layout.q >= BLOCKED_MIN_Q
    assert isinstance(compute_statistics(d), BlockedStatistics)
    small = crossed_design()
    assert isinstance(compute_statistics(small), SufficientStatistics)
    with pytest.raises(ValueError, match="one group"):
        grouped = design_from_arrays(small.y, small.X, np.arange(len(small.y)) % 3)
        compute_statistics(grouped, blocked=True)


# --------------------------------------------------------------------------
# Likelihood, score, Hessian: dense twin
# --------------------------------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("reml", [True, False], ids=["REML", "ML"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_blocked_equals_dense_at_random_points(case, reml, seed):
    d, sb, sd = pair(case)
    rng = np.random.default_rng(seed)
    # seed 2 puts block 1's parameter (and one other) exactly on the boundary
    zero = [sb.param1, d.layout.n_params - 1] if seed == 2 else None
    phi = random_phi(rng, d.layout.n_params, zero)
    lay = d.layout
    pb, pd = likelihood.evaluate(sb, lay, phi), likelihood.evaluate(sd, lay, phi)
    assert rel(likelihood.profiled_loglike(pb, reml), likelihood.profiled_loglike(pd, reml)) <= IDENTITY
    assert rel(pb.beta_hat, pd.beta_hat) <= IDENTITY
    assert rel(score.profiled_score(sb, lay, pb, reml), score.profiled_score(sd, lay, pd, reml)) <= IDENTITY
    assert rel(hessian.profiled_hessian(sb, lay, pb, reml),
               hessian.profiled_hessian(sd, lay, pd, reml)) <= IDENTITY
    beta = pb.beta_hat + rng.standard_normal(len(pb.beta_hat))
    assert rel(hessian.hessian_beta_theta(sb, lay, pb, beta, reml),
               hessian.hessian_beta_theta(sd, lay, pd, beta, reml)) <= IDENTITY
    assert rel(score.full_score(sb, lay, pb, beta, 1.7, reml),
               score.full_score(sd, lay, pd, beta, 1.7, reml)) <= IDENTITY
    assert rel(score.scale_profiled_score(sb, lay, pb, beta, reml)[1],
               score.scale_profiled_score(sd, lay, pd, beta, reml)[1]) <= IDENTITY


# --------------------------------------------------------------------------
# Finite differences
# --------------------------------------------------------------------------

def blocked_model(case):
    d = crossed_design(**case)
    model = MixedLM(None, None, None, _design=d)
    model.stats = compute_statistics(d, blocked=True)
    return model


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("reml", [True, False], ids=["REML", "ML"])
def test_blocked_score_and_hessian_vs_finite_differences(case, reml):
    model = blocked_model(case)
    phi = random_phi(np.random.default_rng(5), model.layout.n_params)
    res = check_gradient(lambda p: model.loglike_sqrt(p, reml), lambda p: model.score_phi(p, reml), phi, tol=FD)
    assert res.passed, str(res)
    res = check_hessian(lambda p: model.score_phi(p, reml), lambda p: model.hessian_phi(p, reml), phi,
                        tol=FD_HESSIAN)
    assert res.passed, str(res)
    theta = sqrt_to_profile(phi, model.k_re)
    res = check_gradient(lambda t: model.loglike_profile(t, reml), lambda t: model.score_profile(t, reml), theta, tol=FD)
    assert res.passed, str(res)
    res = check_hessian(lambda t: model.score_profile(t, reml), lambda t: model.hessian_profile(t, reml), theta,
                        tol=FD_HESSIAN)
    assert res.passed, str(res)


# --------------------------------------------------------------------------
# EM, BLUPs, a full fit
# --------------------------------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("reml", [True, False], ids=["REML", "ML"])
def test_blocked_em_step_and_blups_equal_dense(case, reml):
    d = crossed_design(**case)
    mb, md = MixedLM(None, None, None, _design=d), MixedLM(None, None, None, _design=d)
    mb.stats = compute_statistics(d, blocked=True)
    phi = random_phi(np.random.default_rng(6), d.layout.n_params)
    assert rel(em.em_step(mb, phi, reml)[0], em.em_step(md, phi, reml)[0]) <= IDENTITY
    pb, pd = mb.point_sqrt(phi), md.point_sqrt(phi)
    assert rel(blup.blups(mb.stats, pb)[0], blup.blups(md.stats, pd)[0]) <= IDENTITY
    assert rel(blup.conditional_cov(mb.stats, pb, 1.3, reml),
               blup.conditional_cov(md.stats, pd, 1.3, reml)) <= IDENTITY


@pytest.mark.parametrize("reml", [True, False], ids=["REML", "ML"])
def test_blocked_default_fit_equals_dense_fit(reml):
    d = crossed_design(n=400, levels=(150, 60, 5), slope=True)
    mb, md = MixedLM(None, None, None, _design=d), MixedLM(None, None, None, _design=d)
    assert isinstance(mb.stats, BlockedStatistics)
    md.stats = compute_statistics(d, blocked=False)
    # checks.check_estimable (frontend's) still reads the dense stats.ZtZ; BlockedStatistics
    # offers ZtZ_diagonal and ZtX for it. Until it reads those, skip it on both models.
    mb._estimable = md._estimable = True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rb, rd = mb.fit(reml=reml), md.fit(reml=reml)
    assert rb.convergence.passed, rb.convergence.reason
    assert abs(rb.llf - rd.llf) <= 1e-9 * abs(rd.llf)
    assert rel(rb.vcomp, rd.vcomp) <= 1e-6
    assert rel(rb.fe_params, rd.fe_params) <= 1e-6


def test_dense_path_refuses_huge_stacks_instead_of_densifying():
    """One group with many columns and no factor-indicator component: refused with its size."""
    import types

    from refimpl import suffstats
    from refimpl.layout import Layout
    n, q = 50, 30_000
    Z_vc = sp.csr_array(sp.random(n, q, density=0.01, random_state=0) + sp.csr_array(
        (np.ones(n), (np.arange(n), np.zeros(n, int))), shape=(n, q)))   # rows overlap: not disjoint
    d = types.SimpleNamespace(layout=Layout(0, (q,)), n_groups=1, X=np.ones((n, 1)), y=np.zeros(n),
                              Z_re=np.zeros((n, 0)), Z_vc=Z_vc)
    with pytest.raises(ValueError, match=r"\d+\.\d GB .*q = 30000"):
        suffstats.compute_statistics(d)


def test_dense_statistics_chunk_small_for_large_q():
    """The one-pass construction keeps chunks under CHUNK_BYTES and still equals the one-chunk result."""
    from refimpl import suffstats
    d = crossed_design()
    full = suffstats.compute_sufficient_statistics(d.y, d.X, d.Z, d.group_index, d.n_groups, chunk_rows=10 ** 6)
    small = suffstats.compute_sufficient_statistics(d.y, d.X, d.Z, d.group_index, d.n_groups, chunk_rows=7)
    assert rel(small.ZtZ, full.ZtZ) <= IDENTITY and rel(small.ZtXy0, full.ZtXy0) <= IDENTITY


@pytest.mark.parametrize("case", CASES[:3], ids=IDS[:3])
@pytest.mark.parametrize("reml", [True, False], ids=["REML", "ML"])
def test_blocked_equals_textbook_n_by_n_formulas(case, reml):
    """The blocked path against dense.py's n x n V (no Woodbury, no factor at all)."""
    from refimpl import dense
    d = crossed_design(**case)
    model = blocked_model(case)
    theta = sqrt_to_profile(random_phi(np.random.default_rng(8), d.layout.n_params), d.layout.k_re)
    assert rel(model.loglike_profile(theta, reml), dense.dense_profiled_loglike(d, theta, reml)) <= IDENTITY
    assert rel(model.score_profile(theta, reml), dense.dense_profiled_score(d, theta, reml)) <= IDENTITY
    assert rel(model.hessian_profile(theta, reml), dense.dense_profiled_hessian(d, theta, reml)) <= IDENTITY


def test_diag_HtSH_in_chunks_equals_dense():
    from refimpl.blocked_derivatives import _diag_HtSH
    rng = np.random.default_rng(9)
    H = sp.random(20, 57, density=0.2, random_state=1, format="csr")
    S = rng.standard_normal((20, 20))
    S = S @ S.T
    want = np.diag(H.toarray().T @ S @ H.toarray())
    for Hx in (H, H.toarray()):
        assert rel(_diag_HtSH(Hx, S, chunk_bytes=8 * 20 * 5), want) <= IDENTITY   # chunks of 5 levels


@pytest.mark.slow
def test_insteval_shaped_evaluation_stays_blocked_and_small(a21_storage):
    """73,421 rows, 2,972 x 1,128 x 14 levels: one likelihood + score + Hessian in well under 1 GB."""
    import tracemalloc

    from benchmarks.core import CROSSED_SHAPES, crossed_design as shaped
    if a21_storage == "dense A21":
        pytest.skip("A21 is 3% full here: the sparse storage is the one used")
    d = shaped(**CROSSED_SHAPES["insteval"])
    tracemalloc.start()
    stats = compute_statistics(d)
    pt = likelihood.evaluate(stats, d.layout, np.array([0.3, 0.45, 0.1]))
    g = score.profiled_score(stats, d.layout, pt, True)
    H = hessian.profiled_hessian(stats, d.layout, pt, True)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert isinstance(stats, BlockedStatistics) and stats.m1 == 2972 and stats.q2 == 1142
    assert np.all(np.isfinite(g)) and np.all(np.isfinite(H))
    assert peak < 400 * 2 ** 20, f"peak {peak / 2 ** 20:.0f} MB"
