"""from_formula's statsmodels arguments: subset, use_sparse, missing, eval_env, positional order."""

import numpy as np
import pandas as pd
import pytest

from refimpl import MixedLM, mixedlm


def _df():
    rng = np.random.default_rng(4)
    g = np.repeat(np.arange(12), 5)
    return pd.DataFrame({"y": rng.normal(size=60) + rng.normal(size=12)[g],
                         "x": rng.normal(size=60), "g": g})


def test_subset_selects_rows_before_the_design():
    df = _df()
    keep = df["g"] < 8
    a = MixedLM.from_formula("y ~ x", df, subset=keep, groups="g").fit()
    b = MixedLM.from_formula("y ~ x", df[keep], groups="g").fit()
    assert a.llf == pytest.approx(b.llf, rel=1e-12)
    c = MixedLM.from_formula("y ~ x", df, subset=df.index[keep], groups=df["g"].to_numpy())
    assert c.n_totobs == int(keep.sum())
    with pytest.raises(ValueError, match="subset"):
        MixedLM.from_formula("y ~ x", df, subset=np.ones(3, bool), groups="g")


def test_positional_order_use_sparse_and_eval_env():
    df = _df()
    a = MixedLM.from_formula("y ~ x", df, "~x", None, None, True, groups="g")   # statsmodels' order
    assert a.k_re == 2
    assert mixedlm("y ~ x", df, re_formula="~x", groups="g").k_re == 2
    with pytest.raises(TypeError, match="use_sparse"):
        MixedLM.from_formula("y ~ x", df, groups="g", use_sparse="yes")
    with pytest.raises(ValueError, match="eval_env"):
        MixedLM.from_formula("y ~ x", df, groups="g", eval_env=2)
    with pytest.raises(TypeError, match="unexpected"):
        MixedLM.from_formula("y ~ x", df, groups="g", bogus=1)
    with pytest.raises(ValueError, match="groups"):
        MixedLM.from_formula("y ~ x", df)
