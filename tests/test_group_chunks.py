"""The chunked evaluators (group_chunks.py) against their unchunked twin.

Every per-group quantity of the fit is a sum over groups, so the likelihood,
score, Hessian, EM step and BLUPs walk the stacks a chunk of groups at a time.
With one chunk (G <= CHUNK_GROUPS, every fit up to
1,048,576 groups) the code is the whole-stack expression itself; here
CHUNK_GROUPS is set to 7 so that dietox's 72 pigs split into 11 chunks, the last one short,
and every quantity is held to the one-chunk evaluation at a random point,
under ML and REML: tier IDENTITY (only the order of the additions differs).
The pre-fit checks of estimable.py that read the statistics go by chunks too.
Worst relative difference when this file was written: 2e-12 (Gamma under REML, through
(X'V^{-1}X)^{-1}; an entry of S that is a difference of nearly equal sums).  Run with -s.
"""

import numpy as np
import pytest

from refimpl import MixedLM, blup, datasets, group_chunks, likelihood
from refimpl.em import em_step
from refimpl.hessian import hessian_beta_theta, profiled_hessian_sqrt
from refimpl.score import group_solves, profiled_score_sqrt, score_traces
from refimpl.tolerances import IDENTITY, rel_err

SMALL_CHUNK = 7


def _dietox_slope():
    return MixedLM.from_formula("Weight ~ Time", datasets.load("dietox"), groups="Pig",
                                re_formula="~Time")


def _dietox_vc():
    """A random intercept and a variance component (the copper level's three indicator columns)."""
    return MixedLM.from_formula("Weight ~ Time", datasets.load("dietox"), groups="Pig",
                                re_formula="~1", vc_formula={"cu": "0 + C(Cu)"})


MODELS = {"dietox slope": _dietox_slope, "dietox vc": _dietox_vc}


def _everything(model, phi, reml):
    """Every chunked quantity at phi, from a fresh Point (the model's cache is not used)."""
    stats, layout = model.stats, model.layout
    pt = likelihood.evaluate(stats, layout, phi)
    model._cache = (phi.tobytes(), pt)                 # em_step reads model.point_sqrt(phi)
    b_hat, LCL = blup.blups(stats, pt)
    s = group_solves(stats, pt)
    beta = pt.beta_hat + 0.1                           # a beta other than beta_hat, for the (beta, theta) Hessian
    return dict(
        llf=likelihood.profiled_loglike(pt, reml), logdet_V=pt.logdet_V, S=pt.S,
        score=profiled_score_sqrt(stats, layout, pt, reml),
        score_full=score_traces(stats, layout, pt, beta, reml, scale=2.0),
        hessian=profiled_hessian_sqrt(stats, layout, pt, reml),
        hessian_beta_theta=hessian_beta_theta(stats, layout, pt, beta, reml),
        em=em_step(model, phi, reml)[0],
        b_hat=b_hat, LCL=LCL, means=blup.conditional_means(stats, pt),
        Gamma=blup.conditional_cov(stats, pt, 2.0, reml),
        R=pt.R, W=pt.W, M=s.M, N=s.N, h=s.h,
    )


@pytest.mark.parametrize("reml", [True, False], ids=["REML", "ML"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_chunked_equals_unchunked(name, reml, monkeypatch):
    model = MODELS[name]()
    rng = np.random.default_rng(11)
    phi = 0.5 + 0.2 * rng.standard_normal(model.layout.n_params)        # a random point, not an optimum
    one = _everything(model, phi, reml)
    monkeypatch.setattr(group_chunks, "CHUNK_GROUPS", SMALL_CHUNK)
    chunks = list(group_chunks.group_chunks(model.n_groups))
    assert len(chunks) > 2 and chunks[-1].stop - chunks[-1].start < SMALL_CHUNK   # a short last chunk
    many = _everything(model, phi, reml)
    worst = (0.0, "")
    for key, value in one.items():
        err = float(np.max(rel_err(many[key], value, floor=1e-8 * max(np.max(np.abs(value)), 1e-300))))
        assert err <= IDENTITY, f"{name} {key}: chunked differs from unchunked by {err:.2e}"
        worst = max(worst, (err, key))
    print(f"{name} reml={reml}: worst relative difference {worst[0]:.1e} ({worst[1]})")


def test_one_chunk_is_bitwise_unchunked(monkeypatch):
    """With G <= CHUNK_GROUPS the chunk is the whole stack: the answers are bitwise equal."""
    model = _dietox_slope()
    phi = np.array([1.3, 0.2, 0.4])
    a = _everything(model, phi, True)
    monkeypatch.setattr(group_chunks, "CHUNK_GROUPS", model.n_groups)
    b = _everything(model, phi, True)
    for key in a:
        assert np.array_equal(a[key], b[key]), key


def test_point_keeps_one_chunk(monkeypatch):
    """The Point keeps the sums and one chunk's factors: no stack of all G groups survives an evaluation."""
    monkeypatch.setattr(group_chunks, "CHUNK_GROUPS", SMALL_CHUNK)
    model = _dietox_slope()
    res = model.fit()
    pt = res.point
    arrays = [v for v in vars(pt).values() if isinstance(v, np.ndarray)]
    assert all(a.shape[:1] != (model.n_groups,) for a in arrays)
    (start, stop), factors = pt.cache["chunk"]
    assert stop - start <= SMALL_CHUNK and factors.R.shape[0] == stop - start
    for value in pt.cache.values():
        if isinstance(value, np.ndarray):
            assert value.shape[:1] != (model.n_groups,)


def test_group_chunks_cover_every_group_once(monkeypatch):
    for size, G in [(7, 72), (7, 7), (7, 1), (1, 3), (2 ** 18, 10)]:
        monkeypatch.setattr(group_chunks, "CHUNK_GROUPS", size)
        covered = np.concatenate([np.arange(G)[sl] for sl in group_chunks.group_chunks(G)])
        assert np.array_equal(covered, np.arange(G))
        assert all(sl.stop - sl.start <= size for sl in group_chunks.group_chunks(G))


def test_fit_with_small_chunks(monkeypatch):
    """A whole default fit (EM, Newton, verdict, BLUPs) through 11 chunks lands on the one-chunk optimum."""
    one = _dietox_slope().fit()
    monkeypatch.setattr(group_chunks, "CHUNK_GROUPS", SMALL_CHUNK)
    many = _dietox_slope().fit()
    assert many.converged
    assert abs(many.llf - one.llf) <= IDENTITY * abs(one.llf)
    assert np.max(rel_err(many.params, one.params)) <= 1e-8
    b1 = np.array([v.to_numpy() for v in one.random_effects.values()])
    b2 = np.array([v.to_numpy() for v in many.random_effects.values()])
    assert np.max(np.abs(b2 - b1)) <= 1e-8 * np.max(np.abs(b1))


def test_pre_fit_checks_read_chunks(monkeypatch):
    """estimable's checks on the statistics decide the same through 11 chunks as through one."""
    from refimpl import estimable

    model = _dietox_slope()
    one = estimable.within_residual_clearly_positive(model.design, model.stats)
    zz1, resid1 = estimable.confounding_residuals(model.design, model.stats)
    monkeypatch.setattr(group_chunks, "CHUNK_GROUPS", SMALL_CHUNK)
    assert estimable.within_residual_clearly_positive(model.design, model.stats) == one
    estimable._check_confounded(model.design, model.stats)          # not confounded: no error
    sl = slice(14, 21)
    zz, resid = estimable.confounding_residuals(model.design, model.stats, sl)
    assert np.array_equal(zz, zz1[sl]) and np.array_equal(resid, resid1[sl])

    # group dummies in exog: the random intercept lies in span(X) in every group, every chunk
    data = datasets.load("dietox")
    dummies = MixedLM.from_formula("Weight ~ 0 + C(Pig)", data, groups="Pig")
    with pytest.raises(ValueError, match="confounded with the fixed effects"):
        estimable._check_confounded(dummies.design, dummies.stats)
    # ... but not when the groups of one chunk (the first) are left out of the dummies
    codes = np.unique(data["Pig"], return_inverse=True)[1]
    X = (codes[:, None] == np.arange(SMALL_CHUNK, codes.max() + 1)[None, :]).astype(float)
    X = np.column_stack([X, data["Time"].to_numpy()])
    partly = MixedLM(data["Weight"].to_numpy(), X, data["Pig"].to_numpy())
    estimable._check_confounded(partly.design, partly.stats)
