"""The inference layer reached through the results object (statsmodels' names, our extensions)."""

import warnings

import numpy as np
import pytest

from refimpl import MixedLM, datasets
from refimpl import ddf_tests, intervals


@pytest.fixture(scope="module")
def sleep():
    d = datasets.load("sleepstudy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return MixedLM.from_formula("Reaction ~ Days", d, groups="Subject", re_formula="~Days").fit()


def test_conf_int_methods_dispatch(sleep):
    prof = sleep.conf_int(method="profile")
    assert np.array_equal(prof.to_numpy(), intervals.conf_int(sleep, method="profile").to_numpy())
    wald = sleep.conf_int()
    # profile and Wald intervals of a fixed effect nearly agree on sleepstudy (both about 2 se wide)
    assert prof.loc["Days", "lower"] == pytest.approx(wald.loc["Days", 0], rel=0.02)
    with pytest.raises(ValueError, match="method"):
        sleep.conf_int(method="likelihood")
    with pytest.raises(ValueError, match="cols"):
        sleep.conf_int(cols=[0], method="profile")


def test_t_test_with_small_sample_df(sleep):
    ours = sleep.t_test("Days = 0", df="satterthwaite")
    direct = ddf_tests.t_test(sleep, np.array([[0.0, 1.0]]), ddf="satterthwaite")
    assert np.allclose(ours.to_numpy(dtype=float), direct.to_numpy(dtype=float))
    assert ours["df"].iloc[0] == pytest.approx(17.0, rel=1e-6)      # balanced: G - 1
    wald = sleep.t_test("Days = 0")                                 # statsmodels' ContrastResults
    assert float(np.ravel(wald.tvalue)[0]) == pytest.approx(ours["t value"].iloc[0], rel=1e-10)


def test_anova_and_bootstrap_methods(sleep):
    table = sleep.anova()
    assert list(table.index) == ["Days"]
    b1, b2 = sleep.bootstrap(8, seed=3, n_jobs=1), sleep.bootstrap(8, seed=3, n_jobs=1)
    assert np.array_equal(np.asarray(b1.conf_int()), np.asarray(b2.conf_int()))
