"""Padding variance-component columns is exact (eq:vc-padding).

A variance component can have a different number of columns in different
groups (Pastes: the casks present in a batch). layout.py pads every group to
the largest count with zero columns. A zero column z of Z_i adds nothing to
V_i = I + Z_i Psi Z_i' (z psi z' = 0), so the likelihood, score and Hessian
must not move. Three independent witnesses:

1. the same model with the padding written out by hand as explicit all-zero
   columns in exog_vc (and padded further than needed);
2. V_i built here, from the *unpadded* per-group matrices, with the textbook
   profiled log-likelihood;
3. statsmodels, which never pads (it keeps one matrix per group).
"""

import numpy as np
import pytest

from refimpl import datasets
from refimpl.model import MixedLM
from refimpl.tolerances import IDENTITY, SAME_POINT, rel_err

THETA = np.array([0.7, 0.2, 0.5, 0.9, 0.3])    # tril(Psi_re) (k_re = 2), then 2 components


def unequal_design(seed=0):
    """12 groups, random intercept + slope, components 'a' (0..3 columns) and 'b' (1..2)."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 9, size=12)
    sizes[3] = 1                                               # a singleton group
    G, n = len(sizes), int(sizes.sum())
    groups = np.repeat(np.arange(G), sizes)[rng.permutation(n)]
    x = rng.standard_normal(n)
    X = np.column_stack([np.ones(n), x])
    Zre = np.column_stack([np.ones(n), x])
    counts_a = rng.integers(0, 4, size=G)
    counts_a[0] = 3
    counts_b = rng.integers(1, 3, size=G)
    vc = {"a": {g: rng.standard_normal((sizes[g], counts_a[g])) for g in range(G)},
          "b": {g: (rng.random((sizes[g], counts_b[g])) < 0.5).astype(float) for g in range(G)}}
    y = X @ [1.0, 0.5] + rng.standard_normal(n)
    assert len(set(counts_a)) > 1 and len(set(counts_b)) > 1   # really unequal
    return y, X, groups, Zre, vc


def padded(vc, extra=0):
    """The same exog_vc with every group's matrix padded by zero columns to max + extra."""
    out = {}
    for name, per_group in vc.items():
        width = max(m.shape[1] for m in per_group.values()) + extra
        out[name] = {g: np.hstack([m, np.zeros((m.shape[0], width - m.shape[1]))])
                     for g, m in per_group.items()}
    return out


def textbook_profiled_loglike(y, X, groups, Zre, vc, theta, reml):
    """Profiled llf with V_i built from the unpadded matrices (eq:marginal, eq:profiled-ml/-reml)."""
    Psi_re = np.array([[theta[0], theta[1]], [theta[1], theta[2]]])
    psi = dict(zip(sorted(vc), theta[3:]))
    n, p = X.shape
    logdet, XtVX, XtVy, Vinv = 0.0, np.zeros((p, p)), np.zeros(p), {}
    for g in np.unique(groups):
        rows = np.flatnonzero(groups == g)                     # statsmodels' row order in group
        V = np.eye(len(rows)) + Zre[rows] @ Psi_re @ Zre[rows].T
        for name in vc:
            Zg = vc[name][g]
            V += psi[name] * Zg @ Zg.T
        logdet += np.linalg.slogdet(V)[1]
        Vinv[g] = np.linalg.inv(V)
        XtVX += X[rows].T @ Vinv[g] @ X[rows]
        XtVy += X[rows].T @ Vinv[g] @ y[rows]
    beta = np.linalg.solve(XtVX, XtVy)
    qf = sum((y[r] - X[r] @ beta) @ Vinv[g] @ (y[r] - X[r] @ beta)
             for g in Vinv for r in [np.flatnonzero(groups == g)])
    m = n - p if reml else n
    llf = -0.5 * logdet - 0.5 * m * np.log(qf) - 0.5 * m * (1 + np.log(2 * np.pi / m))
    return llf - 0.5 * np.linalg.slogdet(XtVX)[1] if reml else llf


def close(a, b, tol=IDENTITY):
    return float(np.max(rel_err(a, b, floor=1.0))) <= tol


@pytest.mark.parametrize("reml", [True, False], ids=["REML", "ML"])
@pytest.mark.parametrize("extra", [0, 2])
def test_padding_by_hand_changes_nothing(reml, extra):
    y, X, groups, Zre, vc = unequal_design()
    auto = MixedLM(y, X, groups, exog_re=Zre, exog_vc=vc)
    by_hand = MixedLM(y, X, groups, exog_re=Zre, exog_vc=padded(vc, extra))
    assert by_hand.layout.vc_sizes == tuple(s + extra for s in auto.layout.vc_sizes)
    assert auto.layout.vc_sizes == (3, 2)
    assert close(by_hand.loglike_profile(THETA, reml), auto.loglike_profile(THETA, reml))
    assert close(by_hand.score_profile(THETA, reml), auto.score_profile(THETA, reml))
    assert close(by_hand.hessian_profile(THETA, reml), auto.hessian_profile(THETA, reml))
    assert close(by_hand.hessian_beta_theta(THETA, reml), auto.hessian_beta_theta(THETA, reml))


@pytest.mark.parametrize("reml", [True, False], ids=["REML", "ML"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_padded_kernel_equals_unpadded_textbook(reml, seed):
    y, X, groups, Zre, vc = unequal_design(seed)
    model = MixedLM(y, X, groups, exog_re=Zre, exog_vc=vc)
    expected = textbook_profiled_loglike(y, X, groups, Zre, vc, THETA, reml)
    assert close(model.loglike_profile(THETA, reml), expected), (model.loglike_profile(THETA, reml), expected)
    # a wrong variance (the padding put in the wrong slot would look like this) is caught
    wrong = THETA.copy()
    wrong[3] *= 1.001
    assert not close(textbook_profiled_loglike(y, X, groups, Zre, vc, wrong, reml), expected)


@pytest.mark.filterwarnings("ignore:Using deprecated variance components format")
@pytest.mark.parametrize("reml", [True, False], ids=["REML", "ML"])
def test_padded_kernel_equals_statsmodels_unpadded(reml):
    import statsmodels.api as sm
    from statsmodels.regression.mixed_linear_model import MixedLMParams as SMParams

    y, X, groups, Zre, vc = unequal_design(4)
    ours = MixedLM(y, X, groups, exog_re=Zre, exog_vc=vc)
    theirs = sm.MixedLM(y, X, groups, exog_re=Zre, exog_vc=vc)
    theirs.reml, theirs.cov_pen, theirs.fe_pen = reml, None, None
    Psi_re = np.array([[THETA[0], THETA[1]], [THETA[1], THETA[2]]])
    sm_p = SMParams.from_components(fe_params=ours.fe_params_at(THETA), cov_re=Psi_re,
                                    vcomp=THETA[3:])
    assert close(ours.loglike_profile(THETA, reml), theirs.loglike(sm_p, profile_fe=True), SAME_POINT)


@pytest.mark.parametrize("reml", [True, False], ids=["REML", "ML"])
def test_pastes_with_missing_casks(reml):
    """Pastes with some casks removed from some batches: unequal counts via the formula path."""
    import statsmodels.api as sm
    from statsmodels.regression.mixed_linear_model import MixedLMParams as SMParams

    pastes = datasets.load("Pastes")
    drop = ((pastes["batch"] == "A") & (pastes["cask"] == "c")) | \
           ((pastes["batch"] == "D") & (pastes["cask"] != "a"))
    data = pastes.loc[~drop].reset_index(drop=True)
    spec = dict(formula="strength ~ 1", groups="batch", re_formula="1",
                vc_formula={"cask": "0 + C(cask)"})
    ours = MixedLM.from_formula(data=data, **spec)
    counts = {lab: len(cols) for lab, cols in zip(ours.group_labels, ours.design.vc_column_names[0])}
    assert counts["A"] == 2 and counts["D"] == 1 and counts["B"] == 3
    theta = np.array([1.7, 8.0])
    theirs = sm.MixedLM.from_formula(data=data, **spec)
    theirs.reml, theirs.cov_pen, theirs.fe_pen = reml, None, None
    sm_p = SMParams.from_components(fe_params=ours.fe_params_at(theta), cov_re=np.array([[1.7]]),
                                    vcomp=np.array([8.0]))
    assert close(ours.loglike_profile(theta, reml), theirs.loglike(sm_p, profile_fe=True), SAME_POINT)


# --------------------------------------------------------------------------
# vc_formula evaluated once and split by group == one patsy call per group
# --------------------------------------------------------------------------

def _nested_frame(seed=0):
    """Schools with 1..4 classrooms each (labels shared across schools), unequal sizes."""
    import pandas as pd
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(9):
        rooms = rng.choice(list("pqrsu"), size=rng.integers(1, 5), replace=False)
        for c in rooms:
            for _ in range(rng.integers(1, 4)):
                rows.append((f"s{s}", c, rng.normal(), rng.random() < 0.5))
    d = pd.DataFrame(rows, columns=["school", "room", "x", "flag"])
    d["roomcat"] = pd.Categorical(d["room"])
    d["y"] = rng.normal(size=len(d))
    return d.sample(frac=1.0, random_state=seed).reset_index(drop=True)


VC_FORMULAS = [
    {"room": "0 + C(room)"},                          # fast: levels present in each school
    {"room": "0 + C(room):x"},                        # fast: indicator times a covariate
    {"room": "0 + C(room)", "slope": "0 + x"},        # fast: two components
    {"room": "0 + C(roomcat)"},                       # fast: a pandas Categorical keeps every level
    {"room": "0 + flag"},                             # fast: bool keeps both levels
    {"room": "0 + C(room, levels=['p', 'q', 'r', 's', 'u'])"},
    {"room": "1 + C(room)"},                          # per group: reduced coding
    {"room": "0 + C(room) + C(flag)"},                # per group: a second, reduced factor
    {"room": "0 + center(x)"},                        # per group: a stateful transform
]


@pytest.mark.parametrize("vc_formula", VC_FORMULAS, ids=lambda v: " | ".join(v.values()))
def test_vc_formula_once_equals_per_group_patsy(vc_formula, monkeypatch):
    """The vectorised build (formula._vc_terms) against its twin, statsmodels' per-group route."""
    from refimpl import formula as formula_module

    data = _nested_frame()
    spec = dict(formula="y ~ x", data=data, groups="school", vc_formula=vc_formula)
    fast = MixedLM.from_formula(**spec).design
    monkeypatch.setattr(formula_module, "_vc_terms", lambda *a, **k: None)
    slow = MixedLM.from_formula(**spec).design
    assert fast.layout == slow.layout
    assert fast.vc_column_names == slow.vc_column_names
    assert np.array_equal(fast.vc_counts, slow.vc_counts)
    assert np.array_equal(fast.Z, slow.Z)
    assert (fast.Z_vc != slow.Z_vc).nnz == 0


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("vc_formula", VC_FORMULAS[:3] + VC_FORMULAS[6:7],
                         ids=lambda v: " | ".join(v.values()))
def test_vc_columns_and_names_match_statsmodels(vc_formula):
    """Column names, order and values of each group's component matrices, as statsmodels has them."""
    import statsmodels.api as sm

    data = _nested_frame(1)
    spec = dict(formula="y ~ x", data=data, groups="school", vc_formula=vc_formula)
    ours = MixedLM.from_formula(**spec).design
    theirs = sm.MixedLM.from_formula(**spec)
    assert ours.vc_names == theirs.exog_vc.names
    rows = ours.group_rows()
    for j, name in enumerate(ours.vc_names):
        s = ours.layout.vc_slots(j)
        for g, lab in enumerate(ours.group_labels):
            assert ours.vc_column_names[j][g] == theirs.exog_vc.colnames[j][g]
            m = np.asarray(theirs.exog_vc.mats[j][g])
            ours_g = ours.Z[rows[g]][:, s]
            assert np.array_equal(ours_g[:, :m.shape[1]], m)
            assert not ours_g[:, m.shape[1]:].any()                 # padding
