"""refimpl.simulate: reproducibility, shapes, designs, and that the data follow the model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refimpl.simulate import PRESETS, preset, simulate


@pytest.mark.parametrize("name", list(PRESETS))
def test_seeded_reproducibility(name):
    a, b = preset(name, seed=7), preset(name, seed=7)
    pd.testing.assert_frame_equal(a.data, b.data, check_exact=True)
    assert not np.array_equal(a.data["y"], preset(name, seed=8).data["y"])


@pytest.mark.parametrize("name", list(PRESETS))
def test_shapes_and_columns(name):
    sim = preset(name, seed=3)
    d, t = sim.data, sim.truth
    k = t["cov_re"].shape[0]
    n_x = max(len(t["fe_params"]) - 1, k - 1)
    assert list(d.columns) == ["y"] + [f"x{j}" for j in range(1, n_x + 1)] + ["g"] + list(t["vcomp"])
    assert d["g"].map(type).eq(str).all()
    assert np.isfinite(d["y"]).all()
    assert sim.effects["re"].shape == (d["g"].nunique(), k)
    assert set(sim.spec) == {"formula", "groups", "re_formula", "vc_formula"}


@pytest.mark.parametrize("name", list(PRESETS))
def test_spec_builds_the_intended_statsmodels_model(name):
    from statsmodels.regression.mixed_linear_model import MixedLM

    sim = preset(name, seed=0)
    model = MixedLM.from_formula(**sim.spec, data=sim.data)
    assert model.k_fe == len(sim.truth["fe_params"])
    assert model.k_re == sim.truth["cov_re"].shape[0]
    assert model.k_vc == len(sim.truth["vcomp"])
    assert model.n_groups == sim.data["g"].nunique()
    assert list(model.exog_names) == sim.truth["fe_names"]


def test_unbalanced_preset_has_singletons():
    sizes = preset("unbalanced_singletons", seed=0).data.groupby("g").size()
    assert (sizes == 1).sum() >= 5 and sizes.max() > 1


def test_group_size_forms():
    assert simulate(4, group_sizes=3).data.groupby("g").size().tolist() == [3] * 4
    assert simulate(3, group_sizes=[1, 2, 5]).data.groupby("g").size().tolist() == [1, 2, 5]
    sizes = simulate(200, group_sizes=(1, 4), seed=1).data.groupby("g").size()
    assert set(sizes) == {1, 2, 3, 4}


def test_crossed_design_is_one_group_fully_crossed():
    sim = preset("crossed", seed=0)
    d = sim.data
    assert d["g"].nunique() == 1 and sim.spec["re_formula"] == "0"
    counts = d.groupby(["a", "b"]).size()
    assert len(counts) == 10 * 8 and (counts == 2).all()
    assert sim.spec["vc_formula"] == {"a": "0 + C(a)", "b": "0 + C(b)"}


def test_vc_slope_formulas():
    sim = preset("vc_slope", seed=0)
    assert sim.spec["vc_formula"] == {"a": "0 + C(a)", "s": "0 + C(s):x1"}
    assert sim.lme4_formula == "y ~ 1 + x1 + (1 | g) + (1 | g:a) + (0 + x1 | g:s)"


def _residual(sim):
    """y minus every simulated component: should be the N(0, scale) noise."""
    d, t, eff = sim.data, sim.truth, sim.effects
    gi = pd.factorize(d["g"], sort=True)[0]
    k = t["cov_re"].shape[0]
    design = np.column_stack([np.ones(len(d))] + [d[f"x{j}"] for j in range(1, len(t["fe_params"]) + k)
                                                  if f"x{j}" in d])
    mean = design[:, : len(t["fe_params"])] @ t["fe_params"]
    mean += np.einsum("nk,nk->n", design[:, :k], eff["re"][gi])
    for name, vc in sim.spec["vc_formula"].items() if sim.spec["vc_formula"] else []:
        mult = d[vc.split(":")[1]].to_numpy() if ":" in vc else 1.0
        mean += eff[name][gi, d[name].to_numpy()] * mult
    return d["y"].to_numpy() - mean


def test_empirical_moments_match_truth():
    cov = np.array([[1.0, 0.3, -0.2], [0.3, 0.6, 0.1], [-0.2, 0.1, 0.4]])
    sim = simulate(4000, group_sizes=5, fe_params=(1.0, 0.5, -0.3), cov_re=cov,
                   vcomp={"a": (0.7, 2), "s": (0.4, 3, "x2")}, scale=0.5, seed=11)
    # Realized random effects have the requested covariance (4000 draws:
    # standard error of an entry <= about sqrt(2/4000) * 1.0 = 0.022).
    np.testing.assert_allclose(np.cov(sim.effects["re"].T), cov, atol=0.08)
    assert abs(sim.effects["a"].var() - 0.7) < 0.05
    assert abs(sim.effects["s"].var() - 0.4) < 0.03
    e = _residual(sim)
    assert abs(e.mean()) < 0.03 and abs(e.var() - 0.5) < 0.03
    # Covariates are standard normal.
    assert abs(sim.data["x1"].std() - 1) < 0.02


def test_residual_check_can_fail():
    """The reconstruction above really depends on the slope multiplier."""
    sim = preset("vc_slope", seed=0)
    bad = sim.data.copy()
    bad["x1"] = 0.0
    broken = type(sim)(data=bad, truth=sim.truth, spec=sim.spec,
                       lme4_formula=sim.lme4_formula, effects=sim.effects)
    assert abs(np.var(_residual(broken)) - np.var(_residual(sim))) > 0.1


def test_near_singular_truth():
    c = preset("near_singular", seed=0).truth["cov_re"]
    corr = c[0, 1] / np.sqrt(c[0, 0] * c[1, 1])
    assert corr == pytest.approx(0.999, abs=1e-12)


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="symmetric"):
        simulate(3, cov_re=[[1.0, 0.2], [0.3, 1.0]])
    with pytest.raises(ValueError, match="at least one row"):
        simulate(2, group_sizes=[0, 3])
    with pytest.raises(ValueError, match="positive semi-definite"):
        simulate(2, cov_re=[[1.0, 2.0], [2.0, 1.0]])
    with pytest.raises(ValueError, match="slope covariate"):
        simulate(2, fe_params=(1.0, 0.5), vcomp={"a": (1.0, 2, "x9")})
    with pytest.raises(ValueError, match="unknown preset"):
        preset("nope")


@given(n_groups=st.integers(1, 12), lo=st.integers(1, 4), extra=st.integers(0, 5),
       k=st.integers(0, 3), seed=st.integers(0, 2**32 - 1))
def test_shape_invariants(n_groups, lo, extra, k, seed):
    sim = simulate(n_groups, group_sizes=(lo, lo + extra), fe_params=(0.0, 1.0),
                   cov_re=np.eye(k) if k else None, seed=seed)
    sizes = sim.data.groupby("g").size()
    assert len(sizes) == n_groups and sizes.between(lo, lo + extra).all()
    assert sim.effects["re"].shape == (n_groups, k)
