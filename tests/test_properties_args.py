"""Generated *arguments* to MixedLM.fit: every outcome is checked, flagged or a clear error.

Hypothesis draws start values (in every accepted form, and wrong ones), free
masks, maxiter, method names and reml values on small seeded designs. Each
outcome must be one of:

* fitted, and then checked: the reported llf equals model.loglike at the
  answer, and an answer that passed the verdict (with nothing held) agrees
  with the default fit's llf to 1e-6;
* flagged: a ConvergenceWarning (not converged, or on the boundary);
* refused: TypeError/ValueError whose message names the argument.

Nothing silent. ROBUST_EXAMPLES sets the number of examples (default 200;
``make test-long`` sets 20000), as in tests/test_properties.py; the outcome
counts are printed by the last test.
"""

import os
import warnings
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from refimpl import MixedLM, MixedLMParams
from refimpl.fit import ConvergenceWarning

EXAMPLES = int(os.environ.get("ROBUST_EXAMPLES") or 200)
COUNTS = Counter()


def _design(seed, k_re):
    rng = np.random.default_rng(seed)
    G, n = 15, 6
    g = np.repeat(np.arange(G), n)
    X = np.column_stack([np.ones(G * n), rng.normal(size=G * n)])
    Z = np.column_stack([np.ones(G * n), rng.normal(size=G * n)])[:, :k_re]
    y = X @ [1.0, -0.5] + np.sum(Z * rng.normal(size=(G, k_re))[g], 1) + rng.normal(size=G * n)
    return MixedLM(y, X, g, exog_re=Z)


MODELS = {(s, k): _design(s, k) for s in range(3) for k in (1, 2)}
DEFAULT = {}


def _default_llf(key, reml):
    if (key, reml) not in DEFAULT:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            DEFAULT[key, reml] = MODELS[key].fit(reml=reml).llf
    return DEFAULT[key, reml]


def _start(draw, model, corrupt):
    K = model.layout.n_params
    kind = _pick(draw, corrupt, VALID["start"],
                 VALID["start"] + ["wrong_len", "nan", "string", "other_model", "indefinite"])
    if kind == "none":
        return None, None
    if kind == "sqrt":
        return np.array(draw(st.lists(st.floats(-3, 3), min_size=K, max_size=K))), None
    if kind == "with_fe":
        return np.array(draw(st.lists(st.floats(-3, 3), min_size=K + 2, max_size=K + 2))), None
    if kind == "params":
        L = np.tril(np.array(draw(st.lists(st.floats(-2, 2), min_size=model.k_re ** 2,
                                           max_size=model.k_re ** 2))).reshape(model.k_re, -1))
        return MixedLMParams.from_components(np.zeros(2), cov_re=L @ L.T), None
    if kind == "zero":
        return np.zeros(K), None
    if kind == "wrong_len":
        return np.ones(K + 1), "start_params"
    if kind == "nan":
        return np.full(K, np.nan), "start_params"
    if kind == "string":
        return "1.0", "start_params"
    if kind == "other_model":
        return MixedLMParams.from_components(np.zeros(2), cov_re=np.eye(model.k_re + 1)), "start_params"
    return MixedLMParams.from_components(np.zeros(2), cov_re=-np.eye(model.k_re)), "start_params"


VALID = {"reml": [True, False, None], "method": [None, "bfgs", "newton", "lbfgs", "cg", "nm",
                                                 "steepest", "em", ["lbfgs", "bfgs"]],
         "maxiter": [None, 0, 1, 5], "free": [None, "ones", "params"],
         "start": ["none", "sqrt", "with_fe", "params", "zero"]}


def _pick(draw, corrupt, valid, everything):
    """A valid value, or (when this call is the corrupt kind) any value."""
    return draw(st.sampled_from(everything if corrupt else valid))


@st.composite
def calls(draw):
    """About one call in three carries bad arguments; the others are all valid."""
    corrupt = draw(st.integers(0, 2)) == 0
    key = (draw(st.integers(0, 2)), draw(st.sampled_from([1, 2])))
    model = MODELS[key]
    K = model.layout.n_params
    kw, expect = {}, []
    start, bad = _start(draw, model, corrupt)
    if start is not None:
        kw["start_params"] = start
    expect.append(bad)
    reml = _pick(draw, corrupt, VALID["reml"], VALID["reml"] + ["no", 1])
    if reml is not None:
        kw["reml"] = reml
        expect.append(None if isinstance(reml, bool) else "reml")
    method = _pick(draw, corrupt, VALID["method"], VALID["method"] + ["simplex", []])
    if method is not None:
        kw["method"] = method
        expect.append("method" if method in ("simplex", []) else None)
    maxiter = _pick(draw, corrupt, VALID["maxiter"], VALID["maxiter"] + [2.5, -1, True])
    if maxiter is not None:
        kw["maxiter"] = maxiter
        expect.append(None if maxiter in (0, 1, 5) and not isinstance(maxiter, bool) else "maxiter")
    free = _pick(draw, corrupt, VALID["free"], VALID["free"] + ["half", "nan", "short"])
    if free == "ones":
        kw["free"] = np.ones(K)
    elif free == "params":
        kw["free"] = MixedLMParams.from_components(np.ones(2), cov_re=np.eye(model.k_re))
    elif free in ("half", "nan", "short"):
        kw["free"] = {"half": np.full(K, 0.5), "nan": np.full(K, np.nan), "short": np.ones(K + 3)}[free]
        expect.append("free")
    if free is not None and method == "em":
        expect.append("em")
    return key, kw, [e for e in expect if e]


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
          derandomize=True)
@given(calls())
def test_every_argument_outcome_is_checked_flagged_or_refused(call):
    key, kw, expected_errors = call
    model = MODELS[key]
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = model.fit(**kw)
    except (TypeError, ValueError) as exc:
        msg = str(exc)
        assert expected_errors, f"refused a valid call {kw}: {msg}"
        names = ["start_params", "reml", "method", "maxiter", "free", "em"]
        assert any(n in msg for n in names), f"error does not name the argument: {msg}"
        COUNTS["refused"] += 1
        return
    assert not expected_errors, f"accepted {kw} (expected an error about {expected_errors})"
    reml = kw.get("reml", True)
    # identity: the reported llf is the model's loglike at the answer
    assert res.llf == pytest.approx(model.loglike(res.params_object, reml=reml), rel=1e-10, abs=1e-10)
    flagged = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    assert flagged == (not res.converged or res.convergence.boundary), (kw, res.convergence.reason)
    if flagged:
        COUNTS["flagged"] += 1
        return
    held = "free" in kw and not np.all(np.asarray(kw["free"].get_packed(False) if
                                                  isinstance(kw["free"], MixedLMParams) else kw["free"]))
    if not held:
        assert res.llf == pytest.approx(_default_llf(key, reml), abs=1e-6), kw
    COUNTS["fitted and checked"] += 1


def test_outcome_counts_are_reported():
    print(f"\nargument outcomes over {EXAMPLES} generated calls: {dict(COUNTS)}")
    assert sum(COUNTS.values()) > 0
